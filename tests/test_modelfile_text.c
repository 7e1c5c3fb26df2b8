/* test_modelfile_text.c: model files are self-describing: every file embeds the
 * network in the model text format ("model_text"); a network given as text (not
 * a built-in model: a residual block here) saves as "text NAME" and loads back
 * from that text alone with bit-exact predictions; a built-in model's embedded
 * text parses to the same network; a bad, missing or oversized embedded text is
 * CN_ERR_FORMAT naming the file, the key and the line:col, refused before the
 * weights are allocated; save-side argument errors. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/builtin.h"
#include "convnet/data.h"
#include "convnet/model_text.h"
#include "convnet/modelfile.h"
#include "convnet/safetensors.h"
#include "support.h"
#include "support_model.h"

#define BATCH 4
#define N_DATA 9

static char dir[512];

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(dir, sizeof dir, "modelfile_text"), 0);
}

static void teardown(void)
{
    tst_tmpdir_remove(dir);
}

TestSuite(modelfile_text, .init = setup, .fini = teardown);

/* A residual network on 2x6x6 with 3 classes: no built-in model has this shape. */
static const char NET[] =
    "# a tiny residual network\n"
    "model tiny\n"
    "param classes = 3\n"
    "x    = input shape=(2, 6, 6)\n"
    "c1   = conv2d x out=4 k=3 pad=1\n"
    "b1   = batchnorm c1\n"
    "r1   = relu b1\n"
    "c2   = conv2d r1 out=4 k=3 pad=1 bias=0\n"
    "sk   = conv2d x out=4 k=1 bias=0\n"
    "s    = add c2, sk\n"
    "p    = global_avgpool s\n"
    "d    = dropout p p=0.25\n"
    "fc   = linear d out=classes\n"
    "loss = cross_entropy fc\n"
    "output fc\n";

/* NET compiled for training, initialised and run for two steps (so batch-norm
 * statistics moved). */
static cn_model *make_net(void)
{
    cn_error err;
    cn_model *m = cn_model_parse(NET, strlen(NET), "net.cnm", NULL, &err);
    cr_assert_not_null(m, "%s", err.msg);
    tst_train_steps(m, BATCH, 72, 3, 11, 2);
    return m;
}

static cn_model_info text_info(void)
{
    cn_model_info info;
    memset(&info, 0, sizeof info);
    info.from_text = 1;
    snprintf(info.spec.name, sizeof info.spec.name, "tiny");
    info.spec.c = 2;
    info.spec.h = 6;
    info.spec.w = 6;
    info.spec.classes = 3;
    info.norm.mode = CN_NORM_NONE;
    return info;
}

/* Probabilities of m on N_DATA random images (seed). */
static cn_real *predict(cn_model *m, uint64_t seed)
{
    cn_error err;
    cn_dataset *ds = cn_dataset_new(N_DATA, 2, 6, 6, 3, &err);
    cr_assert_not_null(ds, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, seed, 0);
    tst_fill_normal(&r, ds->images->data, ds->images->numel, 1.0);
    cn_real *p = tst_reals((size_t)N_DATA * 3);
    cr_assert_eq(cn_model_predict(m, ds, p, &err), CN_OK, "%s", err.msg);
    cn_dataset_free(ds);
    return p;
}

static void in_dir(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

Test(modelfile_text, text_network_round_trip)
{
    char path[600];
    in_dir(path, sizeof path, "tiny.safetensors");
    cn_model *m = make_net();
    cn_model_info info = text_info();
    cn_meta_pair meta[1] = {{"epoch", "3"}};
    cn_error err;
    cr_assert_eq(cn_model_file_save(path, m, &info, meta, 1, &err), CN_OK, "%s", err.msg);

    char v[64];
    cr_assert_eq(cn_model_file_meta(path, "model", v, sizeof v, &err), CN_OK, "%s", err.msg);
    cr_expect_str_eq(v, "text tiny");

    cn_model_info li;
    cn_model *l = cn_model_file_load(path, BATCH, &li, &err);
    cr_assert_not_null(l, "%s", err.msg);
    cr_expect_eq(li.from_text, 1);
    cr_expect_str_eq(li.spec.name, "tiny");
    cr_expect(li.spec.c == 2 && li.spec.h == 6 && li.spec.w == 6 && li.spec.classes == 3);
    cr_expect_str_eq(li.class_names[2], "2");
    char *printed = cn_model_print(m, &err);
    cr_assert_not_null(printed, "%s", err.msg);
    cr_assert_not_null(li.text);
    cr_expect_str_eq(li.text, printed);
    cn_free(printed);

    /* node names, parameters and buffers bit-exact; the same predictions */
    cn_params *p0 = cn_model_params(m), *p1 = cn_model_params(l);
    cr_assert_eq(p0->n, p1->n);
    for (int k = 0; k < p0->n; k++) {
        cr_expect_str_eq(p0->p[k].name, p1->p[k].name);
        cr_expect(memcmp(p0->p[k].value, p1->p[k].value, p0->p[k].numel * sizeof(cn_real)) == 0,
                  "%s differs", p0->p[k].name);
    }
    cr_expect_not_null(cn_params_find(p1, "b1.running_var"));
    cn_real *q0 = predict(m, 5), *q1 = predict(l, 5);
    cr_expect(memcmp(q0, q1, (size_t)N_DATA * 3 * sizeof(cn_real)) == 0);
    free(q0);
    free(q1);
    cn_model_info_free(&li);
    cr_expect_null(li.text);
    cn_model_free(l);
    cn_model_free(m);
}

Test(modelfile_text, builtin_files_embed_their_text)
{
    char path[600];
    in_dir(path, sizeof path, "builtin.safetensors");
    cn_error err;
    cn_builtin_spec s;
    cr_assert_eq(cn_builtin_parse("mlp input=2x6x6 classes=3 hidden=7,5 batchnorm=1", &s, &err),
                 CN_OK, "%s", err.msg);
    cn_model *m = cn_builtin_build(&s, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cn_compile_opts o = {.batch = BATCH, .training = 1};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 2, 0);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    cn_model_info info = {.spec = s};
    cr_assert_eq(cn_model_file_save(path, m, &info, NULL, 0, &err), CN_OK, "%s", err.msg);

    cn_model_info li;
    cn_model *l = cn_model_file_load(path, 2, &li, &err);
    cr_assert_not_null(l, "%s", err.msg);
    cr_expect_eq(li.from_text, 0);
    cr_assert_not_null(li.text);
    /* the embedded text alone rebuilds the same network */
    cn_model *t = cn_model_parse(li.text, strlen(li.text), "embedded", NULL, &err);
    cr_assert_not_null(t, "%s", err.msg);
    char *a = cn_model_print(m, &err), *b = cn_model_print(t, &err);
    cr_assert(a && b);
    cr_expect_str_eq(a, b);
    cn_free(a);
    cn_free(b);
    cn_model_free(t);
    cn_model_info_free(&li);
    cn_model_free(l);
    cn_model_free(m);
}

/* Copy src to dst with metadata key set to val (added when absent; NULL: removed). */
static void set_meta(const char *src, const char *dst, const char *key, const char *val)
{
    cn_error err;
    cn_safetensors *st = NULL;
    cr_assert_eq(cn_safetensors_read(src, &st, &err), CN_OK, "%s", err.msg);
    cn_st_writer *w = cn_st_writer_new(&err);
    cr_assert_not_null(w);
    for (int i = 0; i < st->ntensors; i++) {
        const cn_st_tensor *t = &st->tensors[i];
        cr_assert_eq(cn_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data, &err),
                     CN_OK, "%s", err.msg);
    }
    for (int i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta_keys[i], key) != 0)
            cr_assert_eq(cn_st_writer_meta(w, st->meta_keys[i], st->meta_values[i], &err), CN_OK);
    if (val) cr_assert_eq(cn_st_writer_meta(w, key, val, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_st_writer_save(w, dst, &err), CN_OK, "%s", err.msg);
    cn_st_writer_free(w);
    cn_safetensors_free(st);
}

static void expect_load_error(const char *path, const char *n1, const char *n2)
{
    cn_model_info info;
    cn_error err;
    cn_model *m = cn_model_file_load(path, 2, &info, &err);
    cr_expect_null(m, "%s loaded", path);
    cn_model_free(m);
    cr_expect_eq(err.code, CN_ERR_FORMAT, "code %s: %s", cn_status_name(err.code), err.msg);
    cr_expect(strstr(err.msg, path) != NULL, "message lacks the path: %s", err.msg);
    cr_expect(!n1 || strstr(err.msg, n1), "message lacks '%s': %s", n1, err.msg);
    cr_expect(!n2 || strstr(err.msg, n2), "message lacks '%s': %s", n2, err.msg);
}

Test(modelfile_text, bad_embedded_text)
{
    char good[600], bad[600];
    in_dir(good, sizeof good, "good.safetensors");
    in_dir(bad, sizeof bad, "bad.safetensors");
    cn_model *m = make_net();
    cn_model_info info = text_info();
    cn_error err;
    cr_assert_eq(cn_model_file_save(good, m, &info, NULL, 0, &err), CN_OK, "%s", err.msg);
    cn_model_free(m);

    set_meta(good, bad, "model_text", NULL);
    expect_load_error(bad, "missing metadata key 'model_text'", NULL);
    set_meta(good, bad, "model_text", "x = input shape=(2, 6, 6)\nfc = lineer x out=3\n");
    expect_load_error(bad, "metadata 'model_text':2:", "linear");
    set_meta(good, bad, "model", "text two words");
    expect_load_error(bad, "bad name", NULL);
    /* a network far larger than the file: refused before its weights are allocated */
    set_meta(good, bad, "model_text",
             "x = input shape=(2, 6, 6)\nf = flatten x\nfc = linear f out=1000000\n"
             "o = linear fc out=3\n");
    expect_load_error(bad, "limit", NULL);
    /* a sensible network whose weights are not the file's */
    set_meta(good, bad, "model_text",
             "x = input shape=(2, 6, 6)\nf = flatten x\nfc = linear f out=3\n");
    expect_load_error(bad, "fc.weight", NULL);
    set_meta(good, bad, "model_text",
             "x = input shape=(2, 6, 6)\nf = flatten x\nfc = linear f out=1\n");
    expect_load_error(bad, "prediction node", NULL);
    set_meta(good, bad, "model_text", "x = input shape=(2, 6, 6)\nfc = relu x\n");
    expect_load_error(bad, "72 strings", NULL);
}

Test(modelfile_text, save_errors)
{
    char path[600];
    in_dir(path, sizeof path, "e.safetensors");
    cn_model *m = make_net();
    cn_error err;
    cn_model_info info = text_info();
    info.spec.classes = 4;
    cr_expect_eq(cn_model_file_save(path, m, &info, NULL, 0, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "4 classes"), "%s", err.msg);
    info = text_info();
    info.spec.h = 7;
    cr_expect_eq(cn_model_file_save(path, m, &info, NULL, 0, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "2x7x6"), "%s", err.msg);
    info = text_info();
    snprintf(info.spec.name, sizeof info.spec.name, "a b");
    cr_expect_eq(cn_model_file_save(path, m, &info, NULL, 0, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "blanks"), "%s", err.msg);
    info = text_info();
    cn_meta_pair meta[1] = {{"model_text", "x"}};
    cr_expect_eq(cn_model_file_save(path, m, &info, meta, 1, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "reserved"), "%s", err.msg);
    cn_model_free(m);
}

/* cn_model_text_opts.defaults: applied before the overrides, ignored where the
 * file declares no such param (how `convnet train` passes the data's shape). */
Test(modelfile_text, parse_defaults)
{
    cn_error err;
    const char *defs[] = {"classes=5", "h=9", "nothere=1"};
    const char *ovr[] = {"classes=7"};
    cn_model_text_opts o = {.defaults = defs, .n_defaults = 3};
    cn_model *m = cn_model_parse(NET, strlen(NET), "net.cnm", &o, &err);
    cr_assert_not_null(m, "%s", err.msg);
    const cn_attrs *a = cn_model_node_attrs(m, cn_model_find(m, "fc"));
    cr_assert_not_null(a);
    cr_expect_eq(a->out, 5);
    cn_model_free(m);
    o.overrides = ovr;
    o.n_overrides = 1;
    m = cn_model_parse(NET, strlen(NET), "net.cnm", &o, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_expect_eq(cn_model_node_attrs(m, cn_model_find(m, "fc"))->out, 7);
    cn_model_free(m);
    const char *bad[] = {"classes"};
    o.defaults = bad;
    o.n_defaults = 1;
    cr_expect_null(cn_model_parse(NET, strlen(NET), "net.cnm", &o, &err));
    cr_expect_eq(err.code, CN_ERR_ARG);
    cr_expect(strstr(err.msg, "default 'classes' is not NAME=VALUE"), "%s", err.msg);
}
