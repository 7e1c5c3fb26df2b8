/* test_train_augment.c: the trainer's per-step extras: augmentation of training
 * batches (a certain flip equals training on flipped data; random crops are
 * reproducible across a cancel + resume; the normalisation runs after the
 * augmentation; shape mismatches are refused), the on_step callback (once per
 * step, with running epoch figures) and run_dir/steps.csv (one line per step,
 * the same after a cancel + resume as in an uninterrupted run). */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"
#include "support.h"
#include "support_cli.h"
#include "support_model.h"

#define CLASSES 3
#define BATCH 16

static char dir[512];

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(dir, sizeof dir, "train_aug"), 0);
}

static void teardown(void)
{
    tst_tmpdir_remove(dir);
}

TestSuite(train_aug, .init = setup, .fini = teardown);

/* input (2, 4, 4) -> conv 3x3 (4) -> relu -> flatten -> linear -> CE. */
static cn_model *build(void)
{
    cn_error err = {0};
    cn_model *m = cn_model_new(&err);
    cr_assert_not_null(m);
    int x = cn_model_input(m, 2, 4, 4, &err);
    x = cn_model_conv2d(m, x, 4, 3, 1, 1, &err);
    x = cn_model_unary(m, CN_OP_RELU, x, &err);
    x = cn_model_flatten(m, x, &err);
    x = cn_model_linear(m, x, CLASSES, &err);
    x = cn_model_unary(m, CN_OP_CROSS_ENTROPY, x, &err);
    cr_assert_geq(x, 0, "%s", err.msg);
    cn_compile_opts o = {.batch = BATCH, .training = 1, .input_grad = 0};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 5, 7);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    return m;
}

static cn_train_config config(int epochs)
{
    cn_train_config c = cn_train_config_default();
    c.epochs = epochs;
    c.batch = BATCH;
    c.seed = 3;
    c.sched.base_lr = 0.05;
    return c;
}

static void same_params(cn_model *a, cn_model *b, const char *what)
{
    cn_params *pa = cn_model_params(a), *pb = cn_model_params(b);
    cr_assert_eq(pa->count, pb->count);
    cr_assert_eq(memcmp(pa->values, pb->values, pa->count * sizeof(cn_real)), 0,
                 "%s: parameters differ", what);
}

Test(train_aug, certain_flip_equals_training_on_flipped_data)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(50, 1), *flipped = tst_blobs(50, 1);
    size_t d = 2 * 4 * 4;
    cn_real *x = (cn_real *)cn_dataset_flat(flipped), tmp[32];
    for (int i = 0; i < flipped->n; i++) {
        cn_aug_hflip(x + i * d, 2, 4, 4, tmp);
        memcpy(x + i * d, tmp, sizeof tmp);
    }
    cn_augment aug;
    cr_assert_eq(cn_augment_parse("hflip=1", &aug, &err), CN_OK, "%s", err.msg);
    cn_sample_transform tf;
    cr_assert_eq(cn_augment_transform(&aug, 2, 4, 4, &tf, &err), CN_OK, "%s", err.msg);
    cn_train_config c = config(2);
    cn_model *a = build(), *b = build();
    c.augment = &tf;
    cr_assert_eq(cn_train(a, tr, NULL, &c, NULL, NULL, &err), CN_OK, "%s", err.msg);
    c.augment = NULL;
    cr_assert_eq(cn_train(b, flipped, NULL, &c, NULL, NULL, &err), CN_OK, "%s", err.msg);
    same_params(a, b, "hflip=1 vs pre-flipped data");
    /* the normalisation after the augmentation: the same as normalising first
     * (a flip commutes with per-channel statistics) */
    cn_norm norm;
    cr_assert_eq(cn_norm_fit(tr, CN_NORM_CHANNEL, &norm, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_norm_apply(&norm, flipped, &err), CN_OK, "%s", err.msg);
    cn_model *e = build(), *f = build();
    c.augment = &tf;
    c.augment_norm = &norm;
    cr_assert_eq(cn_train(e, tr, NULL, &c, NULL, NULL, &err), CN_OK, "%s", err.msg);
    c.augment = NULL;
    c.augment_norm = NULL;
    cr_assert_eq(cn_train(f, flipped, NULL, &c, NULL, NULL, &err), CN_OK, "%s", err.msg);
    same_params(e, f, "hflip=1 + channel norm vs pre-flipped, normalised data");
    cn_norm_free(&norm);
    cn_model_free(a);
    cn_model_free(b);
    cn_model_free(e);
    cn_model_free(f);
    cn_dataset_free(tr);
    cn_dataset_free(flipped);
}

typedef struct steps_seen {
    int calls, bad;
    uint64_t last;
} steps_seen;

static void on_step(void *ud, const cn_train_step *s)
{
    steps_seen *k = ud;
    k->calls++;
    if (s->step != k->last + 1 || s->epochs != 2 || s->batches != 4 || s->batch < 1 ||
        s->batch > 4 || !isfinite(s->loss) || !(s->epoch_acc >= 0 && s->epoch_acc <= 1) ||
        !(s->images_per_s >= 0) || !(s->lr > 0))
        k->bad++;
    k->last = s->step;
}

static int stop_at(void *ctx, const char *stage, size_t done, size_t total)
{
    (void)stage;
    (void)done;
    (void)total;
    int *left = ctx;
    return --*left == 0;
}

static char *slurp(const char *name)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return tst_read_file(p, NULL);
}

Test(train_aug, random_crops_and_steps_log_survive_a_resume)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(50, 1), *va = tst_blobs(20, 2);
    cn_augment aug;
    cr_assert_eq(cn_augment_parse("hflip,crop=4:1,noise=0.1", &aug, &err), CN_OK, "%s",
                 err.msg);
    cn_sample_transform tf;
    cr_assert_eq(cn_augment_transform(&aug, 2, 4, 4, &tf, &err), CN_OK, "%s", err.msg);
    cn_train_config c = config(2);
    c.augment = &tf;
    c.run_dir = dir;
    steps_seen seen = {0, 0, 0};
    c.on_step = on_step;
    c.on_step_ud = &seen;
    cn_model *a = build();
    cr_assert_eq(cn_train(a, tr, va, &c, NULL, NULL, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(seen.calls, 8, "4 steps per epoch, 2 epochs");
    cr_assert_eq(seen.bad, 0);
    char *full = slurp("steps.csv");
    cr_assert_not_null(full);
    cr_assert(strncmp(full, "step,epoch,loss,lr\n1,1,", 23) == 0, "%s", full);
    int lines = 0;
    for (const char *q = full; *q; q++) lines += *q == '\n';
    cr_assert_eq(lines, 9, "%s", full);

    /* cancelled after step 3 (mid-epoch 1), resumed: same bits, same log */
    c.on_step = NULL;
    int left = 3;
    cn_progress prog = {stop_at, &left};
    cn_model *b = build();
    cr_assert_eq(cn_train(b, tr, va, &c, NULL, &prog, &err), CN_ERR_ARG, "%s", err.msg);
    char ck[700];
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", dir);
    c.resume = ck;
    cn_model *r = build();
    cr_assert_eq(cn_train(r, tr, va, &c, NULL, NULL, &err), CN_OK, "%s", err.msg);
    same_params(a, r, "augmented run resumed at step 3");
    char *resumed = slurp("steps.csv");
    cr_assert_not_null(resumed);
    cr_assert_str_eq(resumed, full);
    free(full);
    free(resumed);

    /* a different seed gives different crops, hence different weights */
    c.resume = NULL;
    c.seed = 4;
    cn_model *o = build();
    cr_assert_eq(cn_train(o, tr, va, &c, NULL, NULL, &err), CN_OK, "%s", err.msg);
    cn_params *pa = cn_model_params(a), *po = cn_model_params(o);
    cr_assert_neq(memcmp(pa->values, po->values, pa->count * sizeof(cn_real)), 0);
    cn_model_free(a);
    cn_model_free(b);
    cn_model_free(r);
    cn_model_free(o);
    cn_dataset_free(tr);
    cn_dataset_free(va);
}

Test(train_aug, shape_changes_are_refused)
{
    cn_error err = {0};
    cn_dataset *tr = tst_blobs(20, 1);
    cn_augment aug;
    cr_assert_eq(cn_augment_parse("crop=3", &aug, &err), CN_OK, "%s", err.msg);
    cn_sample_transform tf;
    cr_assert_eq(cn_augment_transform(&aug, 2, 4, 4, &tf, &err), CN_OK, "%s", err.msg);
    cn_train_config c = config(1);
    c.augment = &tf;
    cn_model *m = build();
    cr_assert_eq(cn_train(m, tr, NULL, &c, NULL, NULL, &err), CN_ERR_SHAPE);
    cr_assert(strstr(err.msg, "(2, 4, 4) to (2, 3, 3)") != NULL, "%s", err.msg);
    cn_model_free(m);
    cn_dataset_free(tr);
}
