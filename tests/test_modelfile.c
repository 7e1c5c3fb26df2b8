/* test_modelfile.c: the trained-model file: save/load round trip with bit-exact
 * predictions (batch-norm buffers and dropout included), UTF-8 class names,
 * normalisation statistics (fitted and none), caller metadata; every malformed
 * file (missing keys, another format or version, bad class list or description,
 * missing / extra / reshaped tensors, truncated file) is CN_ERR_FORMAT or
 * CN_ERR_UNSUPPORTED with a message naming the file and the key or tensor;
 * save-side argument errors; cn_model_predict's probabilities. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convnet/checkpoint.h"
#include "convnet/data.h"
#include "convnet/modelfile.h"
#include "convnet/safetensors.h"
#include "support.h"
#include "support_model.h"

#define BATCH 4
#define N_DATA 11

static char dir[512];

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(dir, sizeof dir, "modelfile"), 0);
}

static void teardown(void)
{
    tst_tmpdir_remove(dir);
}

TestSuite(modelfile, .init = setup, .fini = teardown);

static void in_dir(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

static const char *const NAMES[3] = {"T-shirt/top", "Röcke \"quoted\"", "日本語 ✓"};

/* A small dataset (N_DATA, 2, 6, 6) of raw pixels in [0, 1], labels i % 3. */
static cn_dataset *make_data(uint64_t seed)
{
    cn_error err;
    cn_dataset *ds = cn_dataset_new(N_DATA, 2, 6, 6, 3, &err);
    cr_assert_not_null(ds, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, seed, 0);
    for (size_t i = 0; i < ds->images->numel; i++)
        ds->images->data[i] = (cn_real)cn_rng_uniform(&r);
    for (int i = 0; i < N_DATA; i++) ds->labels[i] = i % 3;
    return ds;
}

/* three-layer-convnet on 2x6x6, 3 classes, batch norm and dropout, trained for
 * two steps so the running statistics differ from their initial values. */
static cn_model *make_model(cn_builtin_spec *s)
{
    cn_error err;
    cr_assert_eq(cn_builtin_parse("three-layer-convnet input=2x6x6 classes=3 filters=3 kernel=3 "
                                  "hidden=5 dropout=0.25 batchnorm=1", s, &err), CN_OK, "%s",
                 err.msg);
    cn_model *m = cn_builtin_build(s, &err);
    cr_assert_not_null(m, "%s", err.msg);
    tst_train_steps(m, BATCH, 72, 3, 3, 2);
    return m;
}

/* Save m with fitted pixel normalisation, the UTF-8 names and two meta pairs. */
static void save_full(const char *path, cn_model *m, const cn_builtin_spec *s, cn_norm *norm)
{
    cn_error err;
    cn_dataset *train = make_data(1);
    cr_assert_eq(cn_norm_fit(train, CN_NORM_PIXEL, norm, &err), CN_OK, "%s", err.msg);
    cn_dataset_free(train);
    cn_model_info info = {.spec = *s, .class_names = (char **)NAMES, .norm = *norm};
    cn_meta_pair meta[2] = {{"epoch", "7"}, {"val_accuracy", "0.875"}};
    cr_assert_eq(cn_model_file_save(path, m, &info, meta, 2, &err), CN_OK, "%s", err.msg);
}

/* Probabilities of m on a normalised copy of data. */
static cn_real *predict(cn_model *m, const cn_norm *norm, uint64_t seed)
{
    cn_error err;
    cn_dataset *ds = make_data(seed);
    cr_assert_eq(cn_norm_apply(norm, ds, &err), CN_OK, "%s", err.msg);
    cn_real *p = tst_reals((size_t)N_DATA * 3);
    cr_assert_eq(cn_model_predict(m, ds, p, &err), CN_OK, "%s", err.msg);
    cn_dataset_free(ds);
    return p;
}

Test(modelfile, round_trip)
{
    char path[600];
    in_dir(path, sizeof path, "model.safetensors");
    cn_builtin_spec s;
    cn_model *m = make_model(&s);
    cn_norm norm;
    save_full(path, m, &s, &norm);

    cn_model_info info;
    cn_error err;
    cn_model *l = cn_model_file_load(path, BATCH, &info, &err);
    cr_assert_not_null(l, "%s", err.msg);
    char a[256], b[256];
    cn_builtin_describe(&s, a, sizeof a);
    cn_builtin_describe(&info.spec, b, sizeof b);
    cr_expect_str_eq(a, b);
    for (int k = 0; k < 3; k++) cr_expect_str_eq(info.class_names[k], NAMES[k]);
    cr_expect_eq(info.norm.mode, CN_NORM_PIXEL);
    cr_expect(info.norm.c == 2 && info.norm.h == 6 && info.norm.w == 6);
    cr_expect(memcmp(info.norm.mean_image, norm.mean_image, 72 * sizeof(cn_real)) == 0);
    cr_expect(memcmp(info.norm.std_image, norm.std_image, 72 * sizeof(cn_real)) == 0);
    cr_expect(memcmp(info.norm.mean, norm.mean, 2 * sizeof(cn_real)) == 0);
    cr_expect(memcmp(info.norm.std, norm.std, 2 * sizeof(cn_real)) == 0);

    /* every parameter and buffer bit-exact */
    cn_params *p0 = cn_model_params(m), *p1 = cn_model_params(l);
    cr_assert_eq(p0->n, p1->n);
    for (int k = 0; k < p0->n; k++) {
        cr_expect_str_eq(p0->p[k].name, p1->p[k].name);
        cr_expect(memcmp(p0->p[k].value, p1->p[k].value, p0->p[k].numel * sizeof(cn_real)) == 0,
                  "%s differs", p0->p[k].name);
    }
    cn_param *rv = cn_params_find(p1, "batchnorm1.running_var");
    cr_assert_not_null(rv);
    cr_expect_neq(rv->value[0], 1, "running statistics were not trained");

    /* the same predictions, bit for bit */
    cn_real *q0 = predict(m, &norm, 5), *q1 = predict(l, &info.norm, 5);
    cr_expect(memcmp(q0, q1, (size_t)N_DATA * 3 * sizeof(cn_real)) == 0);
    free(q0);
    free(q1);

    char v[32];
    cr_expect_eq(cn_model_file_meta(path, "epoch", v, sizeof v, &err), CN_OK, "%s", err.msg);
    cr_expect_str_eq(v, "7");
    cr_expect_eq(cn_model_file_meta(path, "format", v, sizeof v, &err), CN_OK);
    cr_expect_str_eq(v, CN_MODEL_FORMAT);
    cr_expect_eq(cn_model_file_meta(path, "nothing", v, sizeof v, &err), CN_OK);
    cr_expect_str_eq(v, "");
    cr_expect_eq(cn_model_file_meta(path, "model", v, 8, &err), CN_ERR_RANGE);
    cr_expect(strstr(err.msg, "model"), "%s", err.msg);
    char missing[600];
    in_dir(missing, sizeof missing, "absent.safetensors");
    cr_expect_eq(cn_model_file_meta(missing, "epoch", v, sizeof v, &err), CN_ERR_IO);

    /* the file is a safetensors file of every parameter plus the four norm tensors */
    cn_safetensors *st = NULL;
    cr_assert_eq(cn_safetensors_read(path, &st, &err), CN_OK, "%s", err.msg);
    cr_expect_eq(st->ntensors, p0->n + 4);
    cr_expect_not_null(cn_safetensors_find(st, "norm/mean_image"));
    cr_expect_str_eq(cn_safetensors_meta(st, "norm/mode"), "pixel");
    cr_expect_str_eq(cn_safetensors_meta(st, "model"), a);
    cn_safetensors_free(st);

    cn_model_info_free(&info);
    cr_expect_null(info.class_names);
    cn_model_info_free(NULL);
    cn_norm_free(&norm);
    cn_model_free(m);
    cn_model_free(l);
}

Test(modelfile, no_normalisation_and_default_names)
{
    char path[600];
    in_dir(path, sizeof path, "plain.safetensors");
    cn_builtin_spec s;
    cn_model *m = make_model(&s);
    cn_model_info info = {.spec = s};
    cn_error err;
    cr_assert_eq(cn_model_file_save(path, m, &info, NULL, 0, &err), CN_OK, "%s", err.msg);
    cn_model_info li;
    cn_model *l = cn_model_file_load(path, 1, &li, &err);
    cr_assert_not_null(l, "%s", err.msg);
    cr_expect_eq(li.norm.mode, CN_NORM_NONE);
    cr_expect(li.norm.c == 2 && li.norm.h == 6 && li.norm.w == 6);
    cr_expect_str_eq(li.class_names[0], "0");
    cr_expect_str_eq(li.class_names[2], "2");
    /* a model compiled for batch 1 predicts the same as the original at batch 4 */
    cn_real *q0 = predict(m, &li.norm, 9), *q1 = predict(l, &li.norm, 9);
    cr_expect_lt(tst_max_abs_diff(q0, q1, (size_t)N_DATA * 3), 1e-5);
    free(q0);
    free(q1);
    cn_model_info_free(&li);
    cn_model_free(m);
    cn_model_free(l);
}

Test(modelfile, predict_probabilities)
{
    cn_builtin_spec s;
    cn_model *m = make_model(&s);
    cn_norm none = {.mode = CN_NORM_NONE, .c = 2, .h = 6, .w = 6};
    cn_real *p = predict(m, &none, 4);
    cn_error err;
    cn_dataset *ds = make_data(4);
    for (int i = 0; i < N_DATA; i++) {
        double sum = 0;
        for (int j = 0; j < 3; j++) {
            cr_expect(p[i * 3 + j] > 0 && p[i * 3 + j] < 1);
            sum += (double)p[i * 3 + j];
        }
        cr_expect(fabs(sum - 1) < 1e-5, "row %d sums to %.9g", i, sum);
    }
    /* the probabilities are the softmax of the prediction node's logits */
    cr_assert_eq(cn_model_forward(m, BATCH, ds->images->data, NULL, CN_EVAL, NULL, NULL, &err),
                 CN_OK, "%s", err.msg);
    const cn_real *z = cn_model_node_value(m, cn_model_output(m));
    for (int i = 0; i < BATCH; i++) {
        double mx = fmax(fmax(z[i * 3], z[i * 3 + 1]), z[i * 3 + 2]), e[3], se = 0;
        for (int j = 0; j < 3; j++) se += e[j] = exp((double)z[i * 3 + j] - mx);
        for (int j = 0; j < 3; j++) cr_expect(fabs(e[j] / se - (double)p[i * 3 + j]) < 1e-6);
    }
    free(p);
    /* shapes that do not match: named */
    cn_dataset *bad = cn_dataset_new(2, 1, 6, 6, 3, &err);
    cn_real q[6];
    cr_expect_eq(cn_model_predict(m, bad, q, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "2x6x6") && strstr(err.msg, "1x6x6"), "%s", err.msg);
    cn_dataset_free(bad);
    bad = cn_dataset_new(2, 2, 6, 6, 4, &err);
    cr_expect_eq(cn_model_predict(m, bad, q, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "3 classes") && strstr(err.msg, "4"), "%s", err.msg);
    cn_dataset_free(bad);
    cr_expect_eq(cn_model_predict(m, NULL, q, &err), CN_ERR_ARG);
    cn_dataset_free(ds);
    cn_model_free(m);
}

/* ---------------------------------------------------------------- bad files */

/* Rewrite src into dst: drop the tensor or metadata key `drop`, set metadata key
 * set_key to set_val (added when absent), add a 1-element tensor `extra`. */
static void rewrite(const char *src, const char *dst, const char *drop, const char *set_key,
                    const char *set_val, const char *extra)
{
    cn_error err;
    cn_safetensors *st = NULL;
    cr_assert_eq(cn_safetensors_read(src, &st, &err), CN_OK, "%s", err.msg);
    cn_st_writer *w = cn_st_writer_new(&err);
    cr_assert_not_null(w);
    for (int i = 0; i < st->ntensors; i++) {
        const cn_st_tensor *t = &st->tensors[i];
        if (drop && !strcmp(t->name, drop)) continue;
        cr_assert_eq(cn_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data, &err),
                     CN_OK, "%s", err.msg);
    }
    int set_done = 0;
    for (int i = 0; i < st->nmeta; i++) {
        const char *k = st->meta_keys[i], *v = st->meta_values[i];
        if (drop && !strcmp(k, drop)) continue;
        if (set_key && !strcmp(k, set_key)) {
            v = set_val;
            set_done = 1;
        }
        cr_assert_eq(cn_st_writer_meta(w, k, v, &err), CN_OK, "%s", err.msg);
    }
    if (set_key && !set_done) cr_assert_eq(cn_st_writer_meta(w, set_key, set_val, &err), CN_OK);
    if (extra) {
        float one = 1;
        uint64_t shape[1] = {1};
        cr_assert_eq(cn_st_writer_add(w, extra, CN_DTYPE_F32, 1, shape, &one, &err), CN_OK);
    }
    cr_assert_eq(cn_st_writer_save(w, dst, &err), CN_OK, "%s", err.msg);
    cn_st_writer_free(w);
    cn_safetensors_free(st);
}

/* Write the first n bytes of buf to path. */
static void write_prefix(const char *path, const unsigned char *buf, long n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    if (n > 0) cr_assert_eq(fwrite(buf, 1, (size_t)n, f), (size_t)n);
    cr_assert_eq(fclose(f), 0);
}

/* Loading path fails with code and a message naming path and every needle. */
static void expect_load_error(const char *path, cn_status code, const char *n1, const char *n2)
{
    cn_model_info info;
    memset(&info, 0x33, sizeof info);
    cn_error err;
    cn_model *m = cn_model_file_load(path, 2, &info, &err);
    cr_expect_null(m, "%s loaded", path);
    cn_model_free(m);
    cr_expect_eq(err.code, code, "%s: code %s, message %s", path, cn_status_name(err.code),
                 err.msg);
    cr_expect(strstr(err.msg, path) != NULL, "message lacks the path: %s", err.msg);
    cr_expect(!n1 || strstr(err.msg, n1), "message lacks '%s': %s", n1, err.msg);
    cr_expect(!n2 || strstr(err.msg, n2), "message lacks '%s': %s", n2, err.msg);
    cr_expect_null(info.class_names);
}

Test(modelfile, bad_files)
{
    char good[600], bad[600];
    in_dir(good, sizeof good, "good.safetensors");
    in_dir(bad, sizeof bad, "bad.safetensors");
    cn_builtin_spec s;
    cn_model *m = make_model(&s);
    cn_norm norm;
    save_full(good, m, &s, &norm);
    cn_norm_free(&norm);

    rewrite(good, bad, "format", NULL, NULL, NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "'format'", "not a model file");
    rewrite(good, bad, "model", NULL, NULL, NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "missing metadata key 'model'", NULL);
    rewrite(good, bad, "classes", NULL, NULL, NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "missing metadata key 'classes'", NULL);
    rewrite(good, bad, "norm/mode", NULL, NULL, NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "norm/mode", NULL);
    rewrite(good, bad, NULL, "format", "convnet-model-2", NULL);
    expect_load_error(bad, CN_ERR_UNSUPPORTED, "convnet-model-2", "'format'");
    rewrite(good, bad, NULL, "format", CN_WEIGHTS_FORMAT, NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "not a model file", CN_WEIGHTS_FORMAT);
    rewrite(good, bad, NULL, "classes", "[\"a\",\"b\"]", NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "'classes'", "3 strings");
    rewrite(good, bad, NULL, "classes", "{\"a\":1}", NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "'classes'", NULL);
    rewrite(good, bad, NULL, "classes", "[\"a\",2,\"c\"]", NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "'classes'", "entry 1");
    rewrite(good, bad, NULL, "classes", "not json", NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "'classes'", NULL);
    rewrite(good, bad, NULL, "model", "three-layer-convnet input=2x6x6 clases=3", NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "'model'", "column 33");
    rewrite(good, bad, NULL, "model", "mlp input=64x512x512 hidden=16777216,16777216", NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "'model'", "parameters");
    rewrite(good, bad, NULL, "model", "lenet", NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "'model'", "lenet");
    /* the description disagrees with the weights: a shape error names the tensor */
    rewrite(good, bad, NULL, "model", "three-layer-convnet input=2x6x6 classes=3 filters=4 "
            "kernel=3 hidden=5 dropout=0.25 batchnorm=1", NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "conv2d1.weight", "shape");
    rewrite(good, bad, "linear2.bias", NULL, NULL, NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "missing tensor 'linear2.bias'", NULL);
    rewrite(good, bad, "batchnorm1.running_mean", NULL, NULL, NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "batchnorm1.running_mean", NULL);
    rewrite(good, bad, NULL, NULL, NULL, "linear9.weight");
    expect_load_error(bad, CN_ERR_FORMAT, "unexpected tensor 'linear9.weight'", NULL);
    rewrite(good, bad, NULL, NULL, NULL, "norm/extra");
    expect_load_error(bad, CN_ERR_FORMAT, "unexpected tensor 'norm/extra'", NULL);
    rewrite(good, bad, "norm/std_image", NULL, NULL, NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "norm/std_image", NULL);
    rewrite(good, bad, NULL, "norm/mode", "zca", NULL);
    expect_load_error(bad, CN_ERR_FORMAT, "norm/mode", NULL);

    /* a weights file is not a model file */
    cn_error err;
    cr_assert_eq(cn_model_save_weights(m, bad, NULL, 0, &err), CN_OK, "%s", err.msg);
    expect_load_error(bad, CN_ERR_FORMAT, "not a model file", NULL);

    /* truncated: every cut is an error naming the file */
    FILE *f = fopen(good, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    /* every cut inside the 8-byte length and the start of the header, then a
     * dense sample of the rest, then the last byte missing */
    long step = len / 150 > 0 ? len / 150 : 1;
    for (long cut = 0; cut < len; cut = cut < 64 ? cut + 1 : cut + step) {
        write_prefix(bad, buf, cut);
        expect_load_error(bad, CN_ERR_FORMAT, NULL, NULL);
    }
    write_prefix(bad, buf, len - 1);
    expect_load_error(bad, CN_ERR_FORMAT, NULL, NULL);
    free(buf);

    char missing[600];
    in_dir(missing, sizeof missing, "missing.safetensors");
    expect_load_error(missing, CN_ERR_IO, NULL, NULL);
    cn_model_info info;
    cr_expect_null(cn_model_file_load(good, 0, &info, &err));
    cr_expect_eq(err.code, CN_ERR_ARG);
    cr_expect_null(cn_model_file_load(NULL, 1, &info, &err));
    cr_expect_eq(err.code, CN_ERR_ARG);
    cn_model_free(m);
}

Test(modelfile, save_errors)
{
    char path[600];
    in_dir(path, sizeof path, "s.safetensors");
    cn_builtin_spec s;
    cn_model *m = make_model(&s);
    cn_model_info info = {.spec = s};
    cn_error err;
    cn_meta_pair reserved[1] = {{"classes", "x"}};
    cr_expect_eq(cn_model_file_save(path, m, &info, reserved, 1, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "'classes'") && strstr(err.msg, "reserved"), "%s", err.msg);
    cn_meta_pair norm_key[1] = {{"norm/mode", "x"}};
    cr_expect_eq(cn_model_file_save(path, m, &info, norm_key, 1, &err), CN_ERR_ARG);
    cn_meta_pair rep[2] = {{"epoch", "1"}, {"epoch", "2"}};
    cr_expect_eq(cn_model_file_save(path, m, &info, rep, 2, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "'epoch'") && strstr(err.msg, "repeated"), "%s", err.msg);
    char bad_utf8[] = {'a', (char)0xff, 'b', 0};
    char *names[3] = {"a", bad_utf8, "c"};
    cn_model_info bad = {.spec = s, .class_names = names};
    cr_expect_eq(cn_model_file_save(path, m, &bad, NULL, 0, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "class name 1") && strstr(err.msg, "UTF-8"), "%s", err.msg);
    cn_model_info unfitted = {.spec = s, .norm = {.mode = CN_NORM_CHANNEL}};
    cr_expect_eq(cn_model_file_save(path, m, &unfitted, NULL, 0, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "channel"), "%s", err.msg);
    cr_expect_eq(cn_model_file_save(NULL, m, &info, NULL, 0, &err), CN_ERR_ARG);
    cr_expect_eq(cn_model_file_save(path, m, &info, NULL, -1, &err), CN_ERR_ARG);
    /* an uncompiled model */
    cn_model *raw = cn_builtin_build(&s, &err);
    cr_expect_eq(cn_model_file_save(path, raw, &info, NULL, 0, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "not compiled"), "%s", err.msg);
    cn_model_free(raw);
    cr_expect_neq(access(path, F_OK), 0, "a failed save left %s", path);
    char nodir[600];
    in_dir(nodir, sizeof nodir, "no/such/dir/m.safetensors");
    cr_expect_eq(cn_model_file_save(nodir, m, &info, NULL, 0, &err), CN_ERR_IO);
    cr_expect(strstr(err.msg, nodir), "%s", err.msg);
    cn_model_free(m);
}
