/* test_train.c: the trainer's core loop (cn_train) on a tiny separable 3-class
 * dataset: it learns (>= 0.95 validation accuracy), is bit-identical for one seed,
 * writes one metrics line per epoch with every key, keeps best.safetensors,
 * stops early on a plateau, stops (or skips) on a NaN, and a cancel from the
 * progress callback writes a checkpoint. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convnet/checkpoint.h"
#include "convnet/data.h"
#include "convnet/model.h"
#include "convnet/train.h"
#include "support.h"
#include "support_model.h"

#define CLASSES 3
#define BATCH 16

static char dir[512];

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(dir, sizeof dir, "train"), 0);
}

static void teardown(void)
{
    tst_tmpdir_remove(dir);
}

TestSuite(train, .init = setup, .fini = teardown);

/* input (2, 4, 4) -> flatten -> linear (CLASSES) -> cross entropy. */
static cn_model *build(int dropout)
{
    cn_error err = {0};
    cn_model *m = cn_model_new(&err);
    cr_assert_not_null(m);
    int x = cn_model_input(m, 2, 4, 4, &err);
    x = cn_model_flatten(m, x, &err);
    if (dropout) x = cn_model_dropout(m, x, 0.2, &err);
    x = cn_model_linear(m, x, CLASSES, &err);
    x = cn_model_unary(m, CN_OP_CROSS_ENTROPY, x, &err);
    cr_assert_geq(x, 0, "%s", err.msg);
    cn_compile_opts o = {.batch = BATCH, .training = 1, .input_grad = 0};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 11, 7);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    return m;
}

static cn_train_config config(int epochs)
{
    cn_train_config c = cn_train_config_default();
    c.epochs = epochs;
    c.batch = BATCH;
    c.seed = 42;
    c.optim = cn_optim_config_default(CN_OPTIM_MOMENTUM);
    c.optim.lr = 0.05;
    c.sched = cn_sched_config_default(CN_SCHED_CONSTANT);
    c.sched.base_lr = 0.05;
    c.sched.unit = CN_SCHED_PER_EPOCH;
    return c;
}

static int exists(const char *name)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

Test(train, learns_and_writes_metrics)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(100, 1), *va = tst_blobs(45, 2); /* 100: a short last batch */
    cn_model *m = build(0);
    cn_train_config c = config(4);
    c.run_dir = dir;
    c.checkpoint_every = 5;
    cn_train_report rep;
    cr_assert_eq(cn_train(m, tr, va, &c, &rep, NULL, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(rep.epochs_run, 4);
    cr_assert_eq(rep.steps, 4 * 7);
    cr_assert_geq(rep.final_val_acc, 0.95, "val acc %g", rep.final_val_acc);
    cr_assert_geq(rep.best_val_acc, rep.final_val_acc);
    cr_assert_geq(rep.best_epoch, 1);
    cr_assert_gt(rep.final_train_acc, 0.9, "train acc %g", rep.final_train_acc);
    cr_assert_eq(rep.stopped_early, 0);
    cr_assert(exists("best.safetensors"));
    cr_assert(exists("checkpoint.safetensors"));

    char p[700];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f);
    char line[2048];
    int lines = 0;
    static const char *keys[] = {"epoch",     "step",     "loss",      "lr",
                                 "train_acc", "val_acc",  "val_loss",  "grad_norm",
                                 "images_per_s", "seconds"};
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        cr_assert_not_null(o, "line %d: %s", lines + 1, je.text);
        cr_assert(json_is_object(o));
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            cr_assert(json_is_number(json_object_get(o, keys[k])), "line %d: key %s",
                      lines + 1, keys[k]);
        cr_assert_eq(json_integer_value(json_object_get(o, "epoch")), lines + 1);
        cr_assert_eq(json_integer_value(json_object_get(o, "step")), (lines + 1) * 7);
        cr_assert_float_eq(json_number_value(json_object_get(o, "lr")), 0.05, 1e-12);
        json_decref(o);
        lines++;
    }
    fclose(f);
    cr_assert_eq(lines, 4);

    /* the best weights load back into the model */
    snprintf(p, sizeof p, "%s/best.safetensors", dir);
    cn_model *b = build(0);
    cr_assert_eq(cn_model_load_weights(b, p, 0, &err), CN_OK, "%s", err.msg);
    cn_model_free(b);
    cn_model_free(m);
    cn_dataset_free(tr);
    cn_dataset_free(va);
}

Test(train, same_seed_bit_identical)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(50, 1), *va = tst_blobs(15, 2);
    cn_model *a = build(1), *b = build(1);
    cn_train_config c = config(2);
    c.sched.unit = CN_SCHED_PER_STEP;
    cr_assert_eq(cn_train(a, tr, va, &c, NULL, NULL, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_train(b, tr, va, &c, NULL, NULL, &err), CN_OK, "%s", err.msg);
    cn_params *pa = cn_model_params(a), *pb = cn_model_params(b);
    cr_assert_eq(memcmp(pa->values, pb->values, pa->count * sizeof(cn_real)), 0);
    /* another seed gives another result */
    cn_model *d = build(1);
    c.seed = 43;
    cr_assert_eq(cn_train(d, tr, va, &c, NULL, NULL, &err), CN_OK, "%s", err.msg);
    cr_assert_neq(memcmp(pa->values, cn_model_params(d)->values, pa->count * sizeof(cn_real)),
                  0);
    cn_model_free(a);
    cn_model_free(b);
    cn_model_free(d);
    cn_dataset_free(tr);
    cn_dataset_free(va);
}

Test(train, early_stopping_on_plateau)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(60, 1), *va = tst_blobs(30, 2);
    cn_model *m = build(0);
    cn_train_config c = config(10);
    c.optim = cn_optim_config_default(CN_OPTIM_SGD);
    /* polynomial, total 1: lr 0.05 in epoch 1, exactly 0 from epoch 2 on */
    c.sched = cn_sched_config_default(CN_SCHED_POLYNOMIAL);
    c.sched.base_lr = 0.05;
    c.sched.total = 1;
    c.sched.power = 1;
    c.sched.unit = CN_SCHED_PER_EPOCH;
    c.patience = 1;
    cn_train_report rep;
    cr_assert_eq(cn_train(m, tr, va, &c, &rep, NULL, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(rep.stopped_early, 1);
    cr_assert_eq(rep.epochs_run, 2);
    cr_assert_eq(rep.best_epoch, 1);
    cr_assert_eq(rep.final_val_acc, rep.best_val_acc);
    cn_model_free(m);
    cn_dataset_free(tr);
    cn_dataset_free(va);
}

Test(train, nan_stops_or_skips)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(48, 1);
    tr->images->data[5 * 32 + 3] = (cn_real)NAN;
    cn_model *m = build(0);
    cn_train_config c = config(2);
    cn_train_report rep;
    cr_assert_eq(cn_train(m, tr, NULL, &c, &rep, NULL, &err), CN_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "step ") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "nan") != NULL, "%s", err.msg);
    cr_assert_lt(rep.steps, 3);

    /* skip: one batch per epoch is dropped, the parameters stay finite */
    cn_model *s = build(0);
    c.nan_policy = CN_NAN_SKIP;
    cr_assert_eq(cn_train(s, tr, NULL, &c, &rep, NULL, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(rep.steps, 6);
    cr_assert_eq(rep.skipped_steps, 2);
    cn_params *ps = cn_model_params(s);
    for (size_t i = 0; i < ps->count; i++) cr_assert(isfinite(ps->values[i]));

    /* huge inputs and a huge learning rate overflow the logits after one step */
    cn_dataset_free(tr);
    tr = tst_blobs(48, 1);
#ifdef CN_DOUBLE
    const double scale = 1e100, lr = 1e120;
#else
    const double scale = 1e10, lr = 1e20;
#endif
    for (size_t i = 0; i < tr->images->numel; i++) tr->images->data[i] *= (cn_real)scale;
    cn_model *h = build(0);
    c = config(20);
    c.optim = cn_optim_config_default(CN_OPTIM_SGD);
    c.sched.base_lr = lr;
    cn_status st = cn_train(h, tr, NULL, &c, &rep, NULL, &err);
    cr_assert_eq(st, CN_ERR_NUMERIC, "status %d: %s", (int)st, err.msg);
    cr_assert(strstr(err.msg, "step ") != NULL, "%s", err.msg);
    cn_model_free(m);
    cn_model_free(s);
    cn_model_free(h);
    cn_dataset_free(tr);
}

static int cancel_at_3(void *ctx, const char *stage, size_t done, size_t total)
{
    (void)stage;
    (void)done;
    (void)total;
    int *calls = ctx;
    return ++*calls == 3;
}

Test(train, cancel_writes_checkpoint)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(64, 1);
    cn_model *m = build(0);
    cn_train_config c = config(3);
    c.run_dir = dir;
    int calls = 0;
    cn_progress prog = {cancel_at_3, &calls};
    cn_train_report rep;
    cr_assert_eq(cn_train(m, tr, NULL, &c, &rep, &prog, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "cancelled") != NULL, "%s", err.msg);
    cr_assert_eq(calls, 3);
    cr_assert_eq(rep.steps, 3);

    char p[700];
    snprintf(p, sizeof p, "%s/checkpoint.safetensors", dir);
    cn_model *r = build(0);
    cn_train_state ts;
    memset(&ts, 0, sizeof ts);
    cr_assert_eq(cn_checkpoint_load(p, r, NULL, NULL, &ts, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(ts.step, 3);
    cr_assert_eq(ts.n_order, 64);
    cn_params *pa = cn_model_params(m), *pr = cn_model_params(r);
    cr_assert_eq(memcmp(pa->values, pr->values, pa->count * sizeof(cn_real)), 0);
    cn_train_state_release(&ts);
    cn_model_free(m);
    cn_model_free(r);
    cn_dataset_free(tr);
}

Test(train, bad_arguments)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(12, 1);
    cn_model *m = build(0);
    cn_train_config c = config(1);
    c.batch = 0;
    cr_assert_eq(cn_train(m, tr, NULL, &c, NULL, NULL, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "batch") != NULL, "%s", err.msg);
    c = config(1);
    char missing[700];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    c.run_dir = missing;
    cr_assert_eq(cn_train(m, tr, NULL, &c, NULL, NULL, &err), CN_ERR_IO);
    cr_assert(strstr(err.msg, missing) != NULL, "%s", err.msg);
    cn_dataset *wrong = cn_dataset_new(4, 1, 4, 4, CLASSES, &err);
    c = config(1);
    cr_assert_eq(cn_train(m, wrong, NULL, &c, NULL, NULL, &err), CN_ERR_ARG);
    cn_dataset_free(wrong);
    cn_model_free(m);
    cn_dataset_free(tr);
}
