/* test_checkpoint.c: model weights and training checkpoints: bit-exact round
 * trips, errors naming the file and tensor (missing, wrong shape, extra,
 * truncated, corrupted, not a checkpoint, another optimiser), resuming a
 * momentum-SGD run with dropout and a schedule bit-identically, the kept
 * <path>.prev, no temporary files left behind, FNV-1a test vectors. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/checkpoint.h"
#include "convnet/model.h"
#include "convnet/optim.h"
#include "convnet/safetensors.h"
#include "convnet/schedule.h"
#include "support.h"

#define BATCH 4
#define CLASSES 3

static char dir[512];

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(dir, sizeof dir, "checkpoint"), 0);
}

static void teardown(void)
{
    tst_tmpdir_remove(dir);
}

TestSuite(checkpoint, .init = setup, .fini = teardown);

static void in_dir(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

/* input (2, 5, 5) -> conv 3x3 (4) -> batchnorm -> relu -> dropout -> flatten ->
 * linear (CLASSES) -> cross entropy; compiled for training, initialised from seed
 * (seed 0: left uninitialised). */
static cn_model *build(uint64_t seed)
{
    cn_error err = {0};
    cn_model *m = cn_model_new(&err);
    cr_assert_not_null(m);
    int x = cn_model_input(m, 2, 5, 5, &err);
    x = cn_model_conv2d(m, x, 4, 3, 1, 1, &err);
    x = cn_model_batchnorm(m, x, &err);
    x = cn_model_unary(m, CN_OP_RELU, x, &err);
    x = cn_model_dropout(m, x, 0.25, &err);
    x = cn_model_flatten(m, x, &err);
    x = cn_model_linear(m, x, CLASSES, &err);
    x = cn_model_unary(m, CN_OP_CROSS_ENTROPY, x, &err);
    cr_assert_geq(x, 0, "%s", err.msg);
    cn_compile_opts o = {.batch = BATCH, .training = 1, .input_grad = 0};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    if (seed == 0) return m;
    cn_rng r;
    cn_rng_seed(&r, seed, 7);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    return m;
}

/* A fixed batch. */
typedef struct batch {
    cn_real x[BATCH * 2 * 5 * 5];
    int labels[BATCH];
} batch;

static void make_batch(batch *b)
{
    cn_rng r;
    cn_rng_seed(&r, 99, 1);
    tst_fill_normal(&r, b->x, sizeof b->x / sizeof b->x[0], 1.0);
    for (int i = 0; i < BATCH; i++) b->labels[i] = i % CLASSES;
}

/* One training step: forward (dropout from rng), backward, optimiser, schedule. */
static void train_step(cn_model *m, cn_optimizer *opt, cn_schedule *sched, cn_rng *rng,
                       const batch *b)
{
    cn_error err = {0};
    cn_target t = {.labels = b->labels, .values = NULL};
    double loss;
    cn_zero_grad(m);
    cr_assert_eq(cn_model_forward(m, BATCH, b->x, &t, CN_TRAIN, rng, &loss, &err), CN_OK, "%s",
                 err.msg);
    cr_assert_eq(cn_model_backward(m, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_optim_step(opt, cn_sched_lr(sched), NULL, &err), CN_OK, "%s", err.msg);
    cn_sched_step(sched);
}

static cn_optimizer *make_opt(cn_model *m, cn_optim_kind kind)
{
    cn_error err = {0};
    cn_optim_config c = cn_optim_config_default(kind);
    c.lr = 0.05;
    cn_optimizer *o = cn_optim_new(&c, cn_model_params(m), &err);
    cr_assert_not_null(o, "%s", err.msg);
    return o;
}

static cn_schedule make_sched(void)
{
    cn_error err = {0};
    cn_sched_config c = cn_sched_config_default(CN_SCHED_STEP);
    c.base_lr = 0.05;
    c.unit = CN_SCHED_PER_STEP;
    c.step_size = 2;
    c.gamma = 0.5;
    cn_schedule s;
    cr_assert_eq(cn_sched_init(&s, &c, &err), CN_OK, "%s", err.msg);
    return s;
}

/* values and buffers of two models with the same layout are bit-identical */
static int same_params(cn_model *a, cn_model *b)
{
    cn_params *pa = cn_model_params(a), *pb = cn_model_params(b);
    return pa->count == pb->count && pa->buffer_count == pb->buffer_count &&
           !memcmp(pa->values, pb->values, pa->count * sizeof(cn_real)) &&
           !memcmp(pa->buffers, pb->buffers, pa->buffer_count * sizeof(cn_real));
}

static cn_real *copy_values(cn_model *m)
{
    cn_params *ps = cn_model_params(m);
    cn_real *v = tst_reals(ps->count);
    memcpy(v, ps->values, ps->count * sizeof *v);
    return v;
}

/* ---------------------------------------------------------------- weights */

Test(checkpoint, weights_round_trip_bit_exact)
{
    cn_error err = {0};
    batch b;
    make_batch(&b);
    cn_model *a = build(1);
    cn_optimizer *opt = make_opt(a, CN_OPTIM_MOMENTUM);
    cn_schedule s = make_sched();
    cn_rng r;
    cn_rng_seed(&r, 5, 1);
    train_step(a, opt, &s, &r, &b); /* running statistics move off their start */
    char path[600];
    in_dir(path, sizeof path, "w.safetensors");
    cn_meta_pair meta[2] = {{"classes", "a,b,c"}, {"description", "tiny net"}};
    cr_assert_eq(cn_model_save_weights(a, path, meta, 2, &err), CN_OK, "%s", err.msg);

    cn_model *c = build(2);
    cr_assert_not(same_params(a, c));
    cr_assert_eq(cn_model_load_weights(c, path, 0, &err), CN_OK, "%s", err.msg);
    cr_assert(same_params(a, c));

    cn_safetensors *st = NULL;
    cr_assert_eq(cn_safetensors_read(path, &st, &err), CN_OK, "%s", err.msg);
    cr_assert_str_eq(cn_safetensors_meta(st, "format"), CN_WEIGHTS_FORMAT);
    cr_assert_str_eq(cn_safetensors_meta(st, "classes"), "a,b,c");
    cr_assert_eq(st->ntensors, cn_model_params(a)->n);
    const cn_st_tensor *t = cn_safetensors_find(st, "conv2d1.weight");
    cr_assert_not_null(t);
    cr_assert_eq(t->ndim, 4);
    cr_assert_eq(t->shape[0], 4);
    cr_assert_not_null(cn_safetensors_find(st, "batchnorm1.running_var"));
    cn_safetensors_free(st);

    cn_meta_pair bad = {"format", "x"};
    cr_assert_eq(cn_model_save_weights(a, path, &bad, 1, &err), CN_ERR_ARG);

    /* a model never initialised runs once its weights are loaded */
    cn_model *u = build(0);
    cr_assert_eq(cn_model_forward(u, BATCH, b.x, NULL, CN_EVAL, NULL, NULL, &err), CN_ERR_ARG);
    cr_assert_eq(cn_model_load_weights(u, path, 0, &err), CN_OK, "%s", err.msg);
    cr_assert(same_params(a, u));
    cr_assert_eq(cn_model_forward(u, BATCH, b.x, NULL, CN_EVAL, NULL, NULL, &err), CN_OK, "%s",
                 err.msg);
    cn_model_free(u);
    cn_optim_free(opt);
    cn_model_free(a);
    cn_model_free(c);
}

/* A weights file of model m's parameters where parameter skip is left out,
 * parameter reshape gets shape (numel), and extra (if not NULL) is added. */
static void write_variant(cn_model *m, const char *path, const char *skip, const char *reshape,
                          const char *extra)
{
    cn_error err = {0};
    cn_params *ps = cn_model_params(m);
    cn_st_writer *w = cn_st_writer_new(&err);
    cr_assert_not_null(w);
#ifdef CN_DOUBLE
    cn_dtype dt = CN_DTYPE_F64;
#else
    cn_dtype dt = CN_DTYPE_F32;
#endif
    for (int k = 0; k < ps->n; k++) {
        cn_param *p = &ps->p[k];
        if (skip && !strcmp(p->name, skip)) continue;
        uint64_t shape[CN_MAX_DIMS];
        int nd = p->ndim;
        for (int d = 0; d < nd; d++) shape[d] = (uint64_t)p->shape[d];
        if (reshape && !strcmp(p->name, reshape)) nd = 1, shape[0] = p->numel;
        cr_assert_eq(cn_st_writer_add(w, p->name, dt, nd, shape, p->value, &err), CN_OK, "%s",
                     err.msg);
    }
    if (extra) {
        uint64_t shape[1] = {2};
        double v[2] = {1, 2};
        cr_assert_eq(cn_st_writer_add(w, extra, CN_DTYPE_F64, 1, shape, v, &err), CN_OK);
    }
    cr_assert_eq(cn_st_writer_save(w, path, &err), CN_OK, "%s", err.msg);
    cn_st_writer_free(w);
}

static void expect_load_error(cn_model *m, const char *path, unsigned flags, cn_status code,
                              const char *needle)
{
    cn_error err = {0};
    cn_real *before = copy_values(m);
    cr_assert_eq(cn_model_load_weights(m, path, flags, &err), code, "%s", err.msg);
    cr_assert(strstr(err.msg, path) != NULL, "message names the file: %s", err.msg);
    cr_assert(strstr(err.msg, needle) != NULL, "message names '%s': %s", needle, err.msg);
    cr_assert_eq(memcmp(before, cn_model_params(m)->values,
                        cn_model_params(m)->count * sizeof(cn_real)), 0, "model unchanged");
    free(before);
}

Test(checkpoint, weights_errors_name_file_and_tensor)
{
    cn_error err = {0};
    cn_model *a = build(1), *c = build(2);
    char path[600];
    in_dir(path, sizeof path, "v.safetensors");

    write_variant(a, path, "linear1.bias", NULL, NULL);
    expect_load_error(c, path, 0, CN_ERR_FORMAT, "missing tensor 'linear1.bias'");

    write_variant(a, path, NULL, "conv2d1.weight", NULL);
    expect_load_error(c, path, 0, CN_ERR_FORMAT,
                      "'conv2d1.weight': shape (72), expected (4, 2, 3, 3)");

    write_variant(a, path, NULL, NULL, "extra.weight");
    expect_load_error(c, path, 0, CN_ERR_FORMAT, "unexpected tensor 'extra.weight'");
    cr_assert_eq(cn_model_load_weights(c, path, CN_WEIGHTS_ALLOW_EXTRA, &err), CN_OK, "%s",
                 err.msg);
    cr_assert(same_params(a, c));

    /* truncated: every length from 0 to the full size minus one is rejected */
    cn_model *d = build(3);
    cr_assert_eq(cn_model_save_weights(a, path, NULL, 0, &err), CN_OK, "%s", err.msg);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static unsigned char img[1 << 16];
    size_t len = fread(img, 1, sizeof img, f);
    fclose(f);
    cr_assert_gt(len, 100);
    cr_assert_lt(len, sizeof img);
    for (size_t cut = 0; cut < len; cut += (cut < 200 ? 1 : 97)) {
        f = fopen(path, "wb");
        cr_assert_eq(fwrite(img, 1, cut, f), cut);
        fclose(f);
        cn_error e2 = {0};
        cr_assert_neq(cn_model_load_weights(d, path, 0, &e2), CN_OK, "cut %zu loaded", cut);
        cr_assert(strstr(e2.msg, path) != NULL, "cut %zu: %s", cut, e2.msg);
    }
    cr_assert_not(same_params(a, d));
    cn_model_free(a);
    cn_model_free(c);
    cn_model_free(d);
}

/* ---------------------------------------------------------------- checkpoints */

static int order_a[6] = {5, 0, 3, 1, 4, 2};

/* The reference run: 3 steps, checkpoint at path, 3 more steps. Returns the model. */
static cn_model *reference_run(const char *path, const batch *b)
{
    cn_error err = {0};
    cn_model *m = build(1);
    cn_optimizer *opt = make_opt(m, CN_OPTIM_MOMENTUM);
    cn_schedule s = make_sched();
    cn_rng r;
    cn_rng_seed(&r, 5, 1);
    for (int i = 0; i < 3; i++) train_step(m, opt, &s, &r, b);
    cn_train_state ts = {.step = 3, .epoch = 1, .n_rngs = 1, .order = order_a, .n_order = 6};
    ts.rngs[0] = r;
    ts.data_fingerprint = cn_fingerprint64("data", 4, 0);
    ts.config_fingerprint = cn_fingerprint64("config", 6, 0);
    cr_assert_eq(cn_checkpoint_save(path, m, opt, &s, &ts, &err), CN_OK, "%s", err.msg);
    for (int i = 0; i < 3; i++) train_step(m, opt, &s, &r, b);
    cn_optim_free(opt);
    return m;
}

Test(checkpoint, resume_is_bit_identical)
{
    cn_error err = {0};
    batch b;
    make_batch(&b);
    char path[600];
    in_dir(path, sizeof path, "ck.safetensors");
    cn_model *a = reference_run(path, &b);

    cn_model *m = build(77); /* different init: everything must come from the file */
    cn_optimizer *opt = make_opt(m, CN_OPTIM_MOMENTUM);
    cn_schedule s = make_sched();
    cn_train_state ts;
    memset(&ts, 0, sizeof ts);
    cr_assert_eq(cn_checkpoint_load(path, m, opt, &s, &ts, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(ts.step, 3);
    cr_assert_eq(ts.epoch, 1);
    cr_assert_eq(ts.n_rngs, 1);
    cr_assert_eq(ts.n_order, 6);
    cr_assert_eq(memcmp(ts.order, order_a, sizeof order_a), 0);
    cr_assert_eq(ts.data_fingerprint, cn_fingerprint64("data", 4, 0));
    cr_assert_eq(ts.config_fingerprint, cn_fingerprint64("config", 6, 0));
    cr_assert_eq(cn_optim_get_step(opt), 3);
    cr_assert_eq(s.t, 3);
    cn_rng r = ts.rngs[0];
    for (int i = 0; i < 3; i++) train_step(m, opt, &s, &r, &b);
    cr_assert(same_params(a, m), "resumed run differs from the uninterrupted one");
    cn_train_state_release(&ts);
    cr_assert_null(ts.order);

    /* only parameters (opt, sched, ts NULL) is allowed too */
    cn_model *w = build(8);
    cr_assert_eq(cn_checkpoint_load(path, w, NULL, NULL, NULL, &err), CN_OK, "%s", err.msg);
    /* a checkpoint is accepted as weights */
    cn_model *w2 = build(9);
    cr_assert_eq(cn_model_load_weights(w2, path, 0, &err), CN_OK, "%s", err.msg);
    cr_assert(same_params(w, w2));
    cn_optim_free(opt);
    cn_model_free(a);
    cn_model_free(m);
    cn_model_free(w);
    cn_model_free(w2);
}

/* names in dir, sorted, joined by ' ' */
static void list_dir(char *out, size_t size)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    char names[16][256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        cr_assert_lt(n, 16);
        snprintf(names[n++], 256, "%s", e->d_name);
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char t[256];
                memcpy(t, names[i], 256);
                memcpy(names[i], names[j], 256);
                memcpy(names[j], t, 256);
            }
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i) strncat(out, " ", size - strlen(out) - 1);
        strncat(out, names[i], size - strlen(out) - 1);
    }
}

Test(checkpoint, prev_kept_and_no_temp_files)
{
    cn_error err = {0};
    batch b;
    make_batch(&b);
    char path[600], prev[700], names[1024];
    in_dir(path, sizeof path, "ck.safetensors");
    snprintf(prev, sizeof prev, "%s.prev", path);
    cn_model *m = build(1);
    cn_optimizer *opt = make_opt(m, CN_OPTIM_MOMENTUM);
    cn_schedule s = make_sched();
    cn_rng r;
    cn_rng_seed(&r, 5, 1);
    cn_train_state ts = {.step = 1, .n_rngs = 1};
    ts.rngs[0] = r;
    cr_assert_eq(cn_checkpoint_save(path, m, opt, &s, &ts, &err), CN_OK, "%s", err.msg);
    list_dir(names, sizeof names);
    cr_assert_str_eq(names, "ck.safetensors");
    train_step(m, opt, &s, &r, &b);
    ts.step = 2;
    cr_assert_eq(cn_checkpoint_save(path, m, opt, &s, &ts, &err), CN_OK, "%s", err.msg);
    list_dir(names, sizeof names);
    cr_assert_str_eq(names, "ck.safetensors ck.safetensors.prev");
    ts.step = 3;
    cr_assert_eq(cn_checkpoint_save(path, m, opt, &s, &ts, &err), CN_OK, "%s", err.msg);
    list_dir(names, sizeof names);
    cr_assert_str_eq(names, "ck.safetensors ck.safetensors.prev");

    cn_train_state got;
    memset(&got, 0, sizeof got);
    cr_assert_eq(cn_checkpoint_load(prev, m, opt, &s, &got, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(got.step, 2);
    cr_assert_eq(cn_checkpoint_load(path, m, opt, &s, &got, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(got.step, 3);

    /* a failed save (folder missing) leaves no temporary file and changes nothing */
    char bad[700];
    snprintf(bad, sizeof bad, "%s/missing/ck.safetensors", dir);
    cr_assert_eq(cn_checkpoint_save(bad, m, opt, &s, &ts, &err), CN_ERR_IO);
    cr_assert(strstr(err.msg, bad) != NULL, "%s", err.msg);
    list_dir(names, sizeof names);
    cr_assert_str_eq(names, "ck.safetensors ck.safetensors.prev");
    cn_optim_free(opt);
    cn_model_free(m);
}

static size_t read_file(const char *path, unsigned char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, size, f);
    fclose(f);
    cr_assert_lt(n, size);
    return n;
}

static void write_file(const char *path, const unsigned char *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
}

Test(checkpoint, corruption_rejected)
{
    cn_error err = {0};
    batch b;
    make_batch(&b);
    char path[600], bad[600];
    in_dir(path, sizeof path, "ck.safetensors");
    in_dir(bad, sizeof bad, "bad.safetensors");
    cn_model *a = reference_run(path, &b);
    cn_model *m = build(3);
    cn_optimizer *opt = make_opt(m, CN_OPTIM_MOMENTUM);
    cn_schedule s = make_sched();
    cn_train_state ts;
    memset(&ts, 0, sizeof ts);
    cn_real *before = copy_values(m);

    static unsigned char img[1 << 16], mod[1 << 16];
    size_t len = read_file(path, img, sizeof img);
    size_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (size_t)img[i] << (8 * i);
    /* one flipped bit at sampled positions of the data section */
    for (size_t pos = 8 + hlen; pos < len; pos += 37) {
        memcpy(mod, img, len);
        mod[pos] ^= (unsigned char)(1u << (pos % 8));
        write_file(bad, mod, len);
        cr_assert_eq(cn_checkpoint_load(bad, m, opt, &s, &ts, &err), CN_ERR_FORMAT,
                     "byte %zu: %s", pos, err.msg);
        cr_assert(strstr(err.msg, "checksum mismatch") != NULL, "byte %zu: %s", pos, err.msg);
        cr_assert(strstr(err.msg, bad) != NULL, "%s", err.msg);
    }
    /* bits flipped in the header are rejected too (by the parser or the checksum) */
    for (size_t pos = 0; pos < 8 + hlen; pos += 11) {
        memcpy(mod, img, len);
        mod[pos] ^= 0x04;
        write_file(bad, mod, len);
        cr_assert_neq(cn_checkpoint_load(bad, m, opt, &s, &ts, &err), CN_OK, "byte %zu", pos);
    }
    cr_assert_eq(memcmp(before, cn_model_params(m)->values,
                        cn_model_params(m)->count * sizeof(cn_real)), 0);
    cr_assert_eq(cn_optim_get_step(opt), 0);
    cr_assert_eq(s.t, 0);
    cr_assert_null(ts.order);

    /* not a checkpoint: a weights file, random bytes */
    cr_assert_eq(cn_model_save_weights(a, bad, NULL, 0, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_checkpoint_load(bad, m, opt, &s, &ts, &err), CN_ERR_FORMAT);
    cr_assert(strstr(err.msg, "not a checkpoint") != NULL, "%s", err.msg);
    write_file(bad, (const unsigned char *)"\x89PNG\r\n\x1a\n0000000000000000", 24);
    cr_assert_eq(cn_checkpoint_load(bad, m, opt, &s, &ts, &err), CN_ERR_FORMAT);
    cr_assert(strstr(err.msg, "not a checkpoint") != NULL, "%s", err.msg);

    /* another optimiser */
    cn_optimizer *adam = make_opt(m, CN_OPTIM_ADAM);
    cr_assert_eq(cn_checkpoint_load(path, m, adam, &s, &ts, &err), CN_ERR_FORMAT);
    cr_assert(strstr(err.msg, "optimizer section") != NULL, "%s", err.msg);
    cn_optim_free(adam);
    free(before);
    cn_optim_free(opt);
    cn_model_free(a);
    cn_model_free(m);
}

Test(checkpoint, fingerprint_vectors)
{
    cr_assert_eq(cn_fingerprint64(NULL, 0, 0), 0xcbf29ce484222325ull);
    cr_assert_eq(cn_fingerprint64("a", 1, 0), 0xaf63dc4c8601ec8cull);
    cr_assert_eq(cn_fingerprint64("foobar", 6, 0), 0x85944171f73967e8ull);
    uint64_t h = cn_fingerprint64("foo", 3, 0);
    cr_assert_eq(cn_fingerprint64("bar", 3, h), 0x85944171f73967e8ull);
}
