/* test_train_resume.c: the trainer's long-run features: a run cancelled at any
 * step and resumed from its checkpoint ends bit-identical to the uninterrupted
 * run (with dropout, a per-step cosine schedule, a momentum ramp and EMA
 * weights); resuming is refused when the data or configuration fingerprint
 * differs unless forced; the NaN guard names the step and the first non-finite
 * node, for a NaN in the data and for one injected into a weight mid-run; a
 * checkpoint with a non-finite value is never written; snapshot ensembles; the
 * update-to-weight ratios and monitors in metrics.jsonl. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convnet.h"
#include "support.h"
#include "support_model.h"

#define CLASSES 3
#define BATCH 16

static char dir[512];

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(dir, sizeof dir, "resume"), 0);
}

static void teardown(void)
{
    tst_tmpdir_remove(dir);
}

TestSuite(resume, .init = setup, .fini = teardown);

/* input (2, 4, 4) -> flatten -> linear 8 -> relu -> dropout -> linear -> CE.
 * init_seed changes the starting weights (a resumed model must not depend on
 * them). */
static cn_model *build(uint64_t init_seed)
{
    cn_error err = {0};
    cn_model *m = cn_model_new(&err);
    cr_assert_not_null(m);
    int x = cn_model_input(m, 2, 4, 4, &err);
    x = cn_model_flatten(m, x, &err);
    x = cn_model_linear(m, x, 8, &err);
    x = cn_model_unary(m, CN_OP_RELU, x, &err);
    x = cn_model_dropout(m, x, 0.2, &err);
    x = cn_model_linear(m, x, CLASSES, &err);
    x = cn_model_unary(m, CN_OP_CROSS_ENTROPY, x, &err);
    cr_assert_geq(x, 0, "%s", err.msg);
    cn_compile_opts o = {.batch = BATCH, .training = 1, .input_grad = 0};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, init_seed, 7);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    return m;
}

/* Everything that must survive a resume: dropout, a per-step cosine schedule
 * with warm-up, a momentum ramp, EMA, early-stopping state, per-epoch sums. */
static cn_train_config config(int epochs)
{
    cn_train_config c = cn_train_config_default();
    c.epochs = epochs;
    c.batch = BATCH;
    c.seed = 42;
    c.optim = cn_optim_config_default(CN_OPTIM_NESTEROV);
    c.sched = cn_sched_config_default(CN_SCHED_COSINE);
    c.sched.base_lr = 0.05;
    c.sched.t_max = 7 * epochs;
    c.sched.warmup_steps = 3;
    c.sched.warmup_start_factor = 0.1;
    c.sched.unit = CN_SCHED_PER_STEP;
    c.momentum_schedule = 1;
    c.momentum_sched = cn_sched_config_default(CN_SCHED_MOMENTUM);
    c.momentum_sched.base_lr = 0.5;
    c.momentum_sched.final_value = 0.9;
    c.momentum_sched.total = 10;
    c.momentum_sched.unit = CN_SCHED_PER_STEP;
    c.ema_decay = 0.9;
    c.patience = 5;
    return c;
}

typedef struct stopper {
    int at, calls;
} stopper;

static int stop_at(void *ctx, const char *stage, size_t done, size_t total)
{
    (void)stage;
    (void)done;
    (void)total;
    stopper *s = ctx;
    return ++s->calls == s->at;
}

static void ckpt_path(char *p, size_t n)
{
    snprintf(p, n, "%s/checkpoint.safetensors", dir);
}

/* Train 3 epochs of 100 images (7 steps each, the last short) without a stop,
 * then with a cancel at step k and a resume into a differently initialised
 * model: both end with the same bits, EMA weights and best accuracy. */
static void check_resume_at(int k)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(100, 1), *va = tst_blobs(30, 2);
    cn_train_config c = config(3);
    cn_train_report ra, rb, rc;
    cn_model *a = build(11);
    cr_assert_eq(cn_train(a, tr, va, &c, &ra, NULL, &err), CN_OK, "%s", err.msg);

    cn_model *b = build(11);
    c.run_dir = dir;
    stopper s = {k, 0};
    cn_progress prog = {stop_at, &s};
    cr_assert_eq(cn_train(b, tr, va, &c, &rb, &prog, &err), CN_ERR_ARG, "k %d: %s", k, err.msg);
    cr_assert_eq(rb.steps, (uint64_t)k);

    char p[700];
    ckpt_path(p, sizeof p);
    cn_model *r = build(99);
    c.resume = p;
    cr_assert_eq(cn_train(r, tr, va, &c, &rc, NULL, &err), CN_OK, "k %d: %s", k, err.msg);
    cr_assert_eq(rc.resumed, 1);
    cr_assert_eq(rc.resumed_step, (uint64_t)k);
    cr_assert_eq(rc.steps, ra.steps);
    cn_params *pa = cn_model_params(a), *pr = cn_model_params(r);
    cr_assert_eq(memcmp(pa->values, pr->values, pa->count * sizeof(cn_real)), 0,
                 "resumed at step %d: parameters differ", k);
    cr_assert_eq(memcmp(pa->buffers, pr->buffers, pa->buffer_count * sizeof(cn_real)), 0);
    cr_assert_eq(rc.best_val_acc, ra.best_val_acc);
    cr_assert_eq(rc.best_epoch, ra.best_epoch);
    cr_assert_eq(rc.final_loss, ra.final_loss, "k %d: epoch sums differ", k);
    cr_assert_eq(rc.ema_val_acc, ra.ema_val_acc);
    cn_model_free(a);
    cn_model_free(b);
    cn_model_free(r);
    cn_dataset_free(tr);
    cn_dataset_free(va);
}

Test(resume, bit_identical_at_every_kind_of_step)
{
    /* first step, mid-epoch, the last (short) batch of epoch 1, start of epoch 2,
     * inside the warm-up and after it, the last step of the run */
    int ks[] = {1, 2, 6, 7, 8, 13, 20, 21};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) check_resume_at(ks[i]);
}

static int stop_after_epoch_1(void *ud, const cn_train_epoch *e)
{
    (void)ud;
    return e->epoch == 1;
}

Test(resume, bit_identical_after_an_epoch_callback_stop)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(100, 1), *va = tst_blobs(30, 2);
    cn_train_config c = config(3);
    cn_model *a = build(11), *b = build(11), *r = build(5);
    cr_assert_eq(cn_train(a, tr, va, &c, NULL, NULL, &err), CN_OK, "%s", err.msg);
    c.run_dir = dir;
    c.on_epoch = stop_after_epoch_1;
    cr_assert_eq(cn_train(b, tr, va, &c, NULL, NULL, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "cancelled at step 7") != NULL, "%s", err.msg);
    char p[700];
    ckpt_path(p, sizeof p);
    c.on_epoch = NULL;
    c.resume = p;
    cr_assert_eq(cn_train(r, tr, va, &c, NULL, NULL, &err), CN_OK, "%s", err.msg);
    cn_params *pa = cn_model_params(a), *pr = cn_model_params(r);
    cr_assert_eq(memcmp(pa->values, pr->values, pa->count * sizeof(cn_real)), 0);
    /* metrics.jsonl: one line per epoch across both runs */
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f);
    char line[65536];
    int lines = 0;
    while (fgets(line, sizeof line, f)) lines++;
    fclose(f);
    cr_assert_eq(lines, 3);
    cn_model_free(a);
    cn_model_free(b);
    cn_model_free(r);
    cn_dataset_free(tr);
    cn_dataset_free(va);
}

Test(resume, refused_when_fingerprints_differ_unless_forced)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(64, 1);
    cn_train_config c = config(2);
    c.run_dir = dir;
    stopper s = {3, 0};
    cn_progress prog = {stop_at, &s};
    cn_model *m = build(11);
    cr_assert_eq(cn_train(m, tr, NULL, &c, NULL, &prog, &err), CN_ERR_ARG);
    char p[700];
    ckpt_path(p, sizeof p);

    /* another configuration: both fingerprints in the message */
    cn_train_config d = c;
    d.resume = p;
    d.seed = 43;
    cn_model *r = build(11);
    cr_assert_eq(cn_train(r, tr, NULL, &d, NULL, NULL, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "configuration fingerprint differs") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "checkpoint ") != NULL && strstr(err.msg, "this run ") != NULL,
              "%s", err.msg);
    cr_assert(strstr(err.msg, p) != NULL, "%s", err.msg);

    /* other data */
    cn_dataset *other = tst_blobs(64, 9);
    d = c;
    d.resume = p;
    cr_assert_eq(cn_train(r, other, NULL, &d, NULL, NULL, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "data fingerprint differs") != NULL, "%s", err.msg);

    /* forced: it goes on */
    d.force_resume = 1;
    cn_train_report rep;
    cr_assert_eq(cn_train(r, other, NULL, &d, &rep, NULL, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(rep.resumed, 1);
    cr_assert_eq(rep.steps, 8);
    cn_model_free(m);
    cn_model_free(r);
    cn_dataset_free(tr);
    cn_dataset_free(other);
}

Test(resume, nan_in_data_names_the_step_and_the_input_node)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(48, 1);
    cn_model *m = build(11);
    cn_train_config c = config(1);
    c.seed = 1;
    /* find the batch of record 5 in epoch 1's order (stream 1 of the seed) */
    int order[48];
    for (int i = 0; i < 48; i++) order[i] = i;
    cn_rng r;
    cn_rng_seed(&r, c.seed, 1);
    cn_rng_shuffle(&r, order, 48);
    int pos = 0;
    while (order[pos] != 5) pos++;
    tr->images->data[5 * 32 + 3] = (cn_real)NAN;
    cn_train_report rep;
    cr_assert_eq(cn_train(m, tr, NULL, &c, &rep, NULL, &err), CN_ERR_NUMERIC);
    char want[64];
    snprintf(want, sizeof want, "step %d (epoch 1, batch %d): loss is nan", pos / BATCH + 1,
             pos / BATCH + 1);
    cr_assert(strstr(err.msg, want) != NULL, "want '%s' in: %s", want, err.msg);
    cr_assert(strstr(err.msg, "first non-finite output: node 'input1' (input)") != NULL, "%s",
              err.msg);
    cn_model_free(m);
    cn_dataset_free(tr);
}

typedef struct injector {
    cn_model *m;
    int at, calls;
} injector;

/* After step `at`, put a NaN into linear2's weight. */
static int inject_nan(void *ctx, const char *stage, size_t done, size_t total)
{
    (void)stage;
    (void)done;
    (void)total;
    injector *in = ctx;
    if (++in->calls == in->at) {
        cn_param *w = cn_params_find(cn_model_params(in->m), "linear2.weight");
        cr_assert_not_null(w);
        w->value[4] = (cn_real)NAN;
    }
    return 0;
}

Test(resume, nan_injected_into_a_weight_is_caught_at_the_next_step)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(64, 1);
    cn_model *m = build(11);
    cn_train_config c = config(2);
    c.run_dir = dir;
    c.checkpoint_every = 1;
    injector in = {m, 3, 0};
    cn_progress prog = {inject_nan, &in};
    cn_train_report rep;
    cr_assert_eq(cn_train(m, tr, NULL, &c, &rep, &prog, &err), CN_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "step 4 (epoch 1, batch 4): loss is nan") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "node 'linear2' (linear)") != NULL, "%s", err.msg);
    cr_assert_eq(rep.steps, 3);
    /* the checkpoint on disk is the one of step 3, written before the NaN */
    char p[700];
    ckpt_path(p, sizeof p);
    cn_model *r = build(5);
    cn_train_state ts;
    memset(&ts, 0, sizeof ts);
    cr_assert_eq(cn_checkpoint_load(p, r, NULL, NULL, &ts, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(ts.step, 3);
    cn_params *pr = cn_model_params(r);
    for (size_t i = 0; i < pr->count; i++) cr_assert(isfinite(pr->values[i]));
    /* and saving the poisoned model is refused, leaving that checkpoint */
    cr_assert_eq(cn_checkpoint_save(p, m, NULL, NULL, &ts, &err), CN_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "linear2.weight") != NULL, "%s", err.msg);
    cn_train_state ts2;
    memset(&ts2, 0, sizeof ts2);
    cr_assert_eq(cn_checkpoint_load(p, r, NULL, NULL, &ts2, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(ts2.step, 3);
    cn_train_state_release(&ts);
    cn_train_state_release(&ts2);
    cn_model_free(m);
    cn_model_free(r);
    cn_dataset_free(tr);
}

Test(resume, inf_weight_names_its_layer)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(32, 1);
    cn_model *m = build(11);
    cn_train_config c = config(1);
    c.run_dir = NULL;
    /* an infinite weight makes linear1's output infinite, the loss nan: the guard
     * names the first node whose output is not finite */
    cn_param *w = cn_params_find(cn_model_params(m), "linear1.weight");
    w->value[0] = (cn_real)INFINITY;
    cr_assert_eq(cn_train(m, tr, NULL, &c, NULL, NULL, &err), CN_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "step 1 ") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "node 'linear1' (linear)") != NULL, "%s", err.msg);
    cn_model_free(m);
    cn_dataset_free(tr);
}

Test(resume, snapshots_before_each_restart)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(48, 1), *va = tst_blobs(15, 2);
    cn_model *m = build(11);
    cn_train_config c = cn_train_config_default();
    c.epochs = 6;
    c.batch = BATCH;
    c.sched = cn_sched_config_default(CN_SCHED_COSINE_RESTARTS);
    c.sched.base_lr = 0.05;
    c.sched.t0 = 2;
    c.sched.t_mult = 1;
    c.sched.unit = CN_SCHED_PER_EPOCH;
    c.snapshots = 1;
    c.run_dir = dir;
    cn_train_report rep;
    cr_assert_eq(cn_train(m, tr, va, &c, &rep, NULL, &err), CN_OK, "%s", err.msg);
    /* cycles of two epochs: restarts after epochs 2 and 4; the end of the third
     * cycle is the end of the run (model.safetensors) */
    cr_assert_eq(rep.snapshots, 2);
    char p[700];
    for (int k = 1; k <= 2; k++) {
        snprintf(p, sizeof p, "%s/snapshot-%d.safetensors", dir, k);
        cr_assert_eq(access(p, F_OK), 0, "%s missing", p);
        cn_model *r = build(5);
        cr_assert_eq(cn_model_load_weights(r, p, 0, &err), CN_OK, "%s", err.msg);
        cn_model_free(r);
    }
    snprintf(p, sizeof p, "%s/snapshot-3.safetensors", dir);
    cr_assert_neq(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    cr_assert_eq(access(p, F_OK), 0);
    cn_model_free(m);
    cn_dataset_free(tr);
    cn_dataset_free(va);
}

Test(resume, metrics_hold_update_ratios_and_monitors)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(48, 1), *va = tst_blobs(15, 2);
    cn_model *m = build(11);
    cn_train_config c = config(2);
    c.run_dir = dir;
    c.monitor = 1;
    cr_assert_eq(cn_train(m, tr, va, &c, NULL, NULL, &err), CN_OK, "%s", err.msg);
    char p[700];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f);
    static char line[1 << 16];
    cr_assert_not_null(fgets(line, sizeof line, f));
    fclose(f);
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    cr_assert_not_null(o, "%s", je.text);
    json_t *ur = json_object_get(o, "update_ratio");
    cr_assert(json_is_object(ur));
    const char *names[] = {"linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"};
    for (int i = 0; i < 4; i++) {
        json_t *v = json_object_get(ur, names[i]);
        cr_assert(json_is_number(v), "update_ratio lacks %s", names[i]);
        cr_assert_gt(json_number_value(v), 0);
        if (i % 2 == 0) cr_assert_lt(json_number_value(v), 1); /* weights */
    }
    cr_assert(json_is_number(json_object_get(o, "ema_val_acc")));
    json_t *layers = json_object_get(o, "layers");
    cr_assert(json_is_array(layers));
    cr_assert_geq(json_array_size(layers), 5);
    json_decref(o);
    cn_model_free(m);
    cn_dataset_free(tr);
    cn_dataset_free(va);
}
