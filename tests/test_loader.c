/* tests/test_loader.c: the batch loader, by its properties: the same seed gives
 * bit-identical batches with 0, 1 and 2 worker threads, also with a transform
 * slowed unevenly so workers finish out of order, and with a queue of depth 1;
 * every epoch is a permutation, different epochs differ and epoch e is the same
 * whenever it is started; drop_last; index subsets; each sample's transform RNG
 * is cn_loader_sample_rng(seed, epoch, position); transforms that change the
 * shape; class samplers through the loader; a failing transform reported by
 * next (naming the record) and sticky; cancellation mid-epoch (restart, free)
 * without hangs or leaks; and argument errors. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "convnet/loader.h"

/* make_ds: n images (c, h, w) with distinct pixel patterns; labels i % k, or
 * i itself when k == 0 (then num_classes = n, so labels name the record). */
static cn_dataset *make_ds(int n, int c, int h, int w, int k) {
    cn_dataset *ds = cn_dataset_new(n, c, h, w, k > 0 ? k : n, NULL);
    cr_assert_not_null(ds);
    size_t d = (size_t)c * h * w;
    for (int i = 0; i < n; i++) {
        ds->labels[i] = k > 0 ? i % k : i;
        for (size_t j = 0; j < d; j++)
            ds->images->data[(size_t)i * d + j] = (cn_real)((i * 31 + (int)j * 7) % 253) / 253;
    }
    return ds;
}

/* noise transform: out = in + 0.25 * normal(rng). The context can poison one
 * record (apply fails when given that record's image) and slow samples down. */
typedef struct fail_ctx {
    const cn_real *fail_in; /* input image that makes apply fail, or NULL */
    int slow;               /* sleep unevenly per sample */
    size_t numel;
} fail_ctx;

static cn_status noise_apply(const void *ctx, const cn_real *in, cn_real *out, cn_rng *rng,
                             cn_error *err) {
    const fail_ctx *fc = ctx;
    if (fc->fail_in && in == fc->fail_in)
        return cn_error_set(err, CN_ERR_NUMERIC, "test transform: poisoned sample");
    if (fc->slow) {
        /* uneven delays from the input address (not the rng), 0..300 us, so
         * neighbouring batches finish out of order across workers */
        unsigned h = (unsigned)(((uintptr_t)in >> 4) * 2654435761u);
        struct timespec ts = {0, (long)(h % 4) * 100000L};
        nanosleep(&ts, NULL);
    }
    for (size_t j = 0; j < fc->numel; j++) out[j] = in[j] + (cn_real)(0.25 * cn_rng_normal(rng));
    return CN_OK;
}

static cn_sample_transform noise_tf(const cn_dataset *ds, fail_ctx *fc) {
    fc->numel = (size_t)ds->c * ds->h * ds->w;
    cn_sample_transform tf = {noise_apply, fc, ds->c, ds->h, ds->w, ds->c, ds->h, ds->w};
    return tf;
}

/* crop transform: the top-left (c, h - 2, w - 2) window plus rng-chosen offset 0/1. */
typedef struct crop_ctx {
    int c, h, w;
} crop_ctx;

static cn_status crop_apply(const void *ctx, const cn_real *in, cn_real *out, cn_rng *rng,
                            cn_error *err) {
    (void)err;
    const crop_ctx *cc = ctx;
    int oy = (int)cn_rng_below(rng, 2), ox = (int)cn_rng_below(rng, 2);
    int oh = cc->h - 2, ow = cc->w - 2;
    for (int ch = 0; ch < cc->c; ch++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
                out[(ch * oh + y) * ow + x] = in[(ch * cc->h + y + oy) * cc->w + x + ox];
    return CN_OK;
}

/* run_epochs: every batch of epochs 0..n_epochs-1 concatenated: x into *xs
 * (total, sample) and labels into *ys; returns total samples. */
static int run_epochs(const cn_dataset *ds, const cn_loader_opts *o,
                      const cn_sample_transform *tf, int n_epochs, cn_real **xs, int **ys) {
    cn_loader *l = NULL;
    cn_error err;
    cr_assert_eq(cn_loader_new(ds, o, tf, &l, &err), CN_OK, "%s", err.msg);
    size_t sample = tf ? (size_t)tf->oc * tf->oh * tf->ow : (size_t)ds->c * ds->h * ds->w;
    size_t cap = 0, total = 0;
    *xs = NULL;
    *ys = NULL;
    for (int e = 0; e < n_epochs; e++) {
        cr_assert_eq(cn_loader_start_epoch(l, e, &err), CN_OK, "%s", err.msg);
        int nb = 0;
        for (;;) {
            cn_real *x;
            int *y, b;
            cr_assert_eq(cn_loader_next(l, &x, &y, &b, &err), CN_OK, "%s", err.msg);
            if (b == 0) break;
            nb++;
            cr_assert(b <= o->batch);
            if (total + (size_t)b > cap) {
                cap = 2 * (total + (size_t)b);
                *xs = realloc(*xs, cap * sample * sizeof **xs);
                *ys = realloc(*ys, cap * sizeof **ys);
                cr_assert(*xs && *ys);
            }
            memcpy(*xs + total * sample, x, (size_t)b * sample * sizeof *x);
            memcpy(*ys + total, y, (size_t)b * sizeof *y);
            total += (size_t)b;
        }
        cr_assert_eq(nb, cn_loader_num_batches(l));
    }
    cn_loader_free(l);
    return (int)total;
}

Test(loader, same_batches_whatever_the_workers) {
    cn_dataset *ds = make_ds(203, 2, 5, 4, 7);
    fail_ctx fc = {NULL, 0, 0};
    cn_sample_transform tf = noise_tf(ds, &fc);
    cn_loader_opts o = cn_loader_opts_default();
    o.batch = 16;
    o.seed = 1234;
    cn_real *ref_x;
    int *ref_y;
    int n_ref = run_epochs(ds, &o, &tf, 3, &ref_x, &ref_y);
    cr_assert_eq(n_ref, 3 * 203);
    size_t sample = (size_t)2 * 5 * 4;
    struct {
        int workers, depth, slow;
    } cfg[] = {{1, 0, 0}, {2, 0, 0}, {2, 1, 0}, {2, 0, 1}, {1, 3, 1}, {3, 5, 1}};
    for (size_t t = 0; t < sizeof cfg / sizeof cfg[0]; t++) {
        o.workers = cfg[t].workers;
        o.queue_depth = cfg[t].depth;
        fc.slow = cfg[t].slow;
        cn_real *x;
        int *y;
        int n = run_epochs(ds, &o, &tf, 3, &x, &y);
        cr_assert_eq(n, n_ref);
        cr_assert_eq(memcmp(x, ref_x, (size_t)n * sample * sizeof *x), 0,
                     "config %zu: batches differ", t);
        cr_assert_eq(memcmp(y, ref_y, (size_t)n * sizeof *y), 0, "config %zu: labels differ", t);
        free(x);
        free(y);
    }
    free(ref_x);
    free(ref_y);
    cn_dataset_free(ds);
}

Test(loader, epochs_are_permutations) {
    int n = 97;
    cn_dataset *ds = make_ds(n, 1, 3, 3, 0); /* label = record */
    cn_loader_opts o = cn_loader_opts_default();
    o.batch = 10;
    o.seed = 5;
    o.workers = 2;
    cn_real *x;
    int *y;
    int total = run_epochs(ds, &o, NULL, 4, &x, &y);
    cr_assert_eq(total, 4 * n);
    for (int e = 0; e < 4; e++) {
        int seen[97] = {0};
        for (int i = 0; i < n; i++) seen[y[e * n + i]]++;
        for (int i = 0; i < n; i++) cr_assert_eq(seen[i], 1, "epoch %d: record %d", e, i);
        /* identity transform: the images are the records' images */
        for (int i = 0; i < n; i++)
            cr_assert_eq(memcmp(x + (size_t)(e * n + i) * 9,
                                ds->images->data + (size_t)y[e * n + i] * 9, 9 * sizeof *x),
                         0);
        if (e > 0)
            cr_assert_neq(memcmp(y + e * n, y + (e - 1) * n, (size_t)n * sizeof *y), 0,
                          "epochs %d and %d in the same order", e - 1, e);
    }
    /* another seed gives another order */
    o.seed = 6;
    cn_real *x2;
    int *y2;
    run_epochs(ds, &o, NULL, 1, &x2, &y2);
    cr_assert_neq(memcmp(y, y2, (size_t)n * sizeof *y), 0);
    free(x2);
    free(y2);
    free(x);
    free(y);
    cn_dataset_free(ds);
}

Test(loader, no_shuffle_keeps_order_and_epoch_is_repeatable) {
    cn_dataset *ds = make_ds(23, 1, 2, 2, 0);
    cn_loader_opts o = cn_loader_opts_default();
    o.batch = 5;
    o.shuffle = 0;
    cn_real *x;
    int *y;
    cr_assert_eq(run_epochs(ds, &o, NULL, 2, &x, &y), 46);
    for (int i = 0; i < 46; i++) cr_assert_eq(y[i], i % 23);
    free(x);
    free(y);
    /* starting epoch 3 twice, and after other epochs, gives the same order */
    o.shuffle = 1;
    o.workers = 1;
    cn_loader *l;
    cr_assert_eq(cn_loader_new(ds, &o, NULL, &l, NULL), CN_OK);
    int a[23], b[23];
    cr_assert_eq(cn_loader_start_epoch(l, 3, NULL), CN_OK);
    memcpy(a, cn_loader_epoch_order(l), sizeof a);
    cr_assert_eq(cn_loader_start_epoch(l, 0, NULL), CN_OK);
    cr_assert_eq(cn_loader_start_epoch(l, 3, NULL), CN_OK);
    memcpy(b, cn_loader_epoch_order(l), sizeof b);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    cn_loader_free(l);
    cn_dataset_free(ds);
}

Test(loader, drop_last) {
    cn_dataset *ds = make_ds(10, 1, 2, 2, 2);
    cn_loader_opts o = cn_loader_opts_default();
    o.batch = 4;
    for (int workers = 0; workers <= 2; workers += 2) {
        o.workers = workers;
        int expect_keep[] = {4, 4, 2}, expect_drop[] = {4, 4};
        for (int drop = 0; drop <= 1; drop++) {
            o.drop_last = drop;
            cn_loader *l;
            cr_assert_eq(cn_loader_new(ds, &o, NULL, &l, NULL), CN_OK);
            cr_assert_eq(cn_loader_num_batches(l), 0);
            cr_assert_eq(cn_loader_start_epoch(l, 0, NULL), CN_OK);
            cr_assert_eq(cn_loader_num_batches(l), drop ? 2 : 3);
            cr_assert_eq(cn_loader_epoch_samples(l), 10);
            int nb = 0, b;
            for (;;) {
                cr_assert_eq(cn_loader_next(l, NULL, NULL, &b, NULL), CN_OK);
                if (b == 0) break;
                cr_assert_eq(b, drop ? expect_drop[nb] : expect_keep[nb]);
                nb++;
            }
            cr_assert_eq(nb, drop ? 2 : 3);
            /* the end is repeated */
            cn_real *x = (cn_real *)1;
            cr_assert_eq(cn_loader_next(l, &x, NULL, &b, NULL), CN_OK);
            cr_assert_eq(b, 0);
            cr_assert_null(x);
            cn_loader_free(l);
        }
    }
    /* fewer samples than one batch with drop_last: an empty epoch */
    o.batch = 11;
    o.drop_last = 1;
    cn_loader *l;
    cr_assert_eq(cn_loader_new(ds, &o, NULL, &l, NULL), CN_OK);
    cr_assert_eq(cn_loader_start_epoch(l, 0, NULL), CN_OK);
    int b = -1;
    cr_assert_eq(cn_loader_next(l, NULL, NULL, &b, NULL), CN_OK);
    cr_assert_eq(b, 0);
    cn_loader_free(l);
    cn_dataset_free(ds);
}

Test(loader, sample_rng_is_derived_from_seed_epoch_position) {
    cn_dataset *ds = make_ds(30, 1, 3, 2, 0);
    fail_ctx fc = {NULL, 0, 0};
    cn_sample_transform tf = noise_tf(ds, &fc);
    cn_loader_opts o = cn_loader_opts_default();
    o.batch = 7;
    o.seed = 99;
    o.workers = 2;
    cn_real *x;
    int *y;
    cr_assert_eq(run_epochs(ds, &o, &tf, 2, &x, &y), 60);
    for (int e = 0; e < 2; e++)
        for (int p = 0; p < 30; p++) {
            cn_rng rng;
            cn_loader_sample_rng(99, e, p, &rng);
            const cn_real *in = ds->images->data + (size_t)y[e * 30 + p] * 6;
            for (int j = 0; j < 6; j++) {
                cn_real want = in[j] + (cn_real)(0.25 * cn_rng_normal(&rng));
                cr_assert_eq(x[(size_t)(e * 30 + p) * 6 + j], want, "epoch %d pos %d", e, p);
            }
        }
    free(x);
    free(y);
    cn_dataset_free(ds);
}

Test(loader, indices_subset_and_shape_changing_transform) {
    cn_dataset *ds = make_ds(50, 2, 6, 5, 0);
    int idx[] = {3, 7, 7, 49, 0, 12};
    crop_ctx cc = {2, 6, 5};
    cn_sample_transform tf = {crop_apply, &cc, 2, 6, 5, 2, 4, 3};
    cn_loader_opts o = cn_loader_opts_default();
    o.batch = 4;
    o.indices = idx;
    o.n_indices = 6;
    o.seed = 3;
    cn_real *x0, *x2;
    int *y0, *y2;
    cr_assert_eq(run_epochs(ds, &o, &tf, 2, &x0, &y0), 12);
    o.workers = 2;
    cr_assert_eq(run_epochs(ds, &o, &tf, 2, &x2, &y2), 12);
    cr_assert_eq(memcmp(x0, x2, 12 * 24 * sizeof *x0), 0);
    cr_assert_eq(memcmp(y0, y2, 12 * sizeof *y0), 0);
    int cnt[50] = {0};
    for (int i = 0; i < 6; i++) cnt[y0[i]]++;
    cr_assert(cnt[3] == 1 && cnt[7] == 2 && cnt[49] == 1 && cnt[0] == 1 && cnt[12] == 1);
    /* each output is one of the four crops of its record */
    for (int i = 0; i < 12; i++) {
        const cn_real *in = ds->images->data + (size_t)y0[i] * 60;
        int found = 0;
        for (int oy = 0; oy < 2; oy++)
            for (int ox = 0; ox < 2; ox++) {
                int ok = 1;
                for (int ch = 0; ch < 2; ch++)
                    for (int r = 0; r < 4; r++)
                        for (int q = 0; q < 3; q++)
                            ok &= x0[(size_t)i * 24 + (ch * 4 + r) * 3 + q] ==
                                  in[(ch * 6 + r + oy) * 5 + q + ox];
                found |= ok;
            }
        cr_assert(found, "sample %d is no crop of record %d", i, y0[i]);
    }
    free(x0);
    free(y0);
    free(x2);
    free(y2);
    cn_dataset_free(ds);
}

Test(loader, class_samplers_through_the_loader) {
    /* 1:10 imbalance: 20 of class 0, 200 of class 1 */
    cn_dataset *ds = make_ds(220, 1, 2, 2, 2);
    for (int i = 0; i < 220; i++) ds->labels[i] = i % 11 == 0 ? 0 : 1;
    cn_loader_opts o = cn_loader_opts_default();
    o.batch = 32;
    o.seed = 8;
    o.workers = 2;
    cn_real *x;
    int *y;
    o.sampler = CN_SAMPLER_OVERSAMPLE;
    int n = run_epochs(ds, &o, NULL, 2, &x, &y);
    cr_assert_eq(n, 2 * 400);
    int c0 = 0;
    for (int i = 0; i < n; i++) c0 += y[i] == 0;
    cr_assert_eq(c0, 400);
    free(x);
    free(y);
    o.sampler = CN_SAMPLER_UNDERSAMPLE;
    n = run_epochs(ds, &o, NULL, 1, &x, &y);
    cr_assert_eq(n, 40);
    c0 = 0;
    for (int i = 0; i < n; i++) c0 += y[i] == 0;
    cr_assert_eq(c0, 20);
    free(x);
    free(y);
    /* balanced: 20000 draws per epoch; sigma = 71, 5 sigma */
    o.sampler = CN_SAMPLER_BALANCED;
    o.epoch_size = 20000;
    o.batch = 500;
    n = run_epochs(ds, &o, NULL, 1, &x, &y);
    cr_assert_eq(n, 20000);
    c0 = 0;
    for (int i = 0; i < n; i++) c0 += y[i] == 0;
    cr_assert(abs(c0 - 10000) < 5 * 71, "class 0 drawn %d of 20000", c0);
    free(x);
    free(y);
    /* a label out of range is caught when the loader is made */
    ds->labels[5] = 2;
    cn_loader *l = (cn_loader *)ds;
    cn_error err;
    cr_assert_eq(cn_loader_new(ds, &o, NULL, &l, &err), CN_ERR_RANGE);
    cr_assert_null(l);
    cr_assert(strstr(err.msg, "record 5") != NULL, "%s", err.msg);
    cn_dataset_free(ds);
}

Test(loader, transform_failure_is_reported_and_sticky) {
    cn_dataset *ds = make_ds(40, 1, 2, 2, 0);
    fail_ctx fc = {NULL, 0, 0};
    cn_sample_transform tf = noise_tf(ds, &fc);
    fc.fail_in = ds->images->data + 13 * 4; /* record 13 */
    cn_loader_opts o = cn_loader_opts_default();
    o.batch = 4;
    o.shuffle = 0;
    for (int workers = 0; workers <= 2; workers++) {
        o.workers = workers;
        cn_loader *l;
        cn_error err;
        cr_assert_eq(cn_loader_new(ds, &o, &tf, &l, &err), CN_OK);
        for (int round = 0; round < 2; round++) {
            cr_assert_eq(cn_loader_start_epoch(l, round, &err), CN_OK);
            int b;
            for (int k = 0; k < 3; k++) { /* batches 0..2 hold records 0..11 */
                cr_assert_eq(cn_loader_next(l, NULL, NULL, &b, &err), CN_OK, "%s", err.msg);
                cr_assert_eq(b, 4);
            }
            cr_assert_eq(cn_loader_next(l, NULL, NULL, &b, &err), CN_ERR_NUMERIC);
            cr_assert_eq(b, 0);
            cr_assert(strstr(err.msg, "record 13") && strstr(err.msg, "poisoned"), "%s",
                      err.msg);
            cn_error err2;
            cr_assert_eq(cn_loader_next(l, NULL, NULL, &b, &err2), CN_ERR_NUMERIC);
            cr_assert_str_eq(err2.msg, err.msg);
        }
        cn_loader_free(l);
    }
    cn_dataset_free(ds);
}

Test(loader, cancel_mid_epoch) {
    cn_dataset *ds = make_ds(120, 1, 4, 4, 5);
    fail_ctx fc = {NULL, 1, 0};
    cn_sample_transform tf = noise_tf(ds, &fc);
    cn_loader_opts o = cn_loader_opts_default();
    o.batch = 8;
    o.seed = 77;
    cn_real *ref_x;
    int *ref_y;
    fc.slow = 0;
    int n = run_epochs(ds, &o, &tf, 2, &ref_x, &ref_y);
    fc.slow = 1;
    o.workers = 2;
    o.queue_depth = 3;
    cn_loader *l;
    cr_assert_eq(cn_loader_new(ds, &o, &tf, &l, NULL), CN_OK);
    /* abandon epoch 1 after two batches, then run epochs 0 and 1 in full */
    int b;
    cr_assert_eq(cn_loader_start_epoch(l, 1, NULL), CN_OK);
    cr_assert_eq(cn_loader_next(l, NULL, NULL, &b, NULL), CN_OK);
    cr_assert_eq(cn_loader_next(l, NULL, NULL, &b, NULL), CN_OK);
    size_t total = 0;
    for (int e = 0; e < 2; e++) {
        cr_assert_eq(cn_loader_start_epoch(l, e, NULL), CN_OK);
        cn_real *x;
        int *y;
        while (cn_loader_next(l, &x, &y, &b, NULL) == CN_OK && b > 0) {
            cr_assert_eq(memcmp(x, ref_x + total * 16, (size_t)b * 16 * sizeof *x), 0);
            cr_assert_eq(memcmp(y, ref_y + total, (size_t)b * sizeof *y), 0);
            total += (size_t)b;
        }
    }
    cr_assert_eq((int)total, n);
    /* free in the middle of an epoch, with batches still being made */
    cr_assert_eq(cn_loader_start_epoch(l, 2, NULL), CN_OK);
    cr_assert_eq(cn_loader_next(l, NULL, NULL, &b, NULL), CN_OK);
    cn_loader_free(l);
    /* free right after start, before any next */
    cr_assert_eq(cn_loader_new(ds, &o, &tf, &l, NULL), CN_OK);
    cr_assert_eq(cn_loader_start_epoch(l, 0, NULL), CN_OK);
    cn_loader_free(l);
    /* free without any epoch */
    cr_assert_eq(cn_loader_new(ds, &o, &tf, &l, NULL), CN_OK);
    cn_loader_free(l);
    cn_loader_free(NULL);
    free(ref_x);
    free(ref_y);
    cn_dataset_free(ds);
}

Test(loader, argument_errors) {
    cn_dataset *ds = make_ds(10, 1, 3, 3, 2);
    cn_loader *l = (cn_loader *)ds;
    cn_error err;
    cn_loader_opts o = cn_loader_opts_default();
    o.batch = 0;
    cr_assert_eq(cn_loader_new(ds, &o, NULL, &l, &err), CN_ERR_ARG);
    cr_assert_null(l);
    o = cn_loader_opts_default();
    o.workers = -1;
    cr_assert_eq(cn_loader_new(ds, &o, NULL, &l, &err), CN_ERR_ARG);
    o = cn_loader_opts_default();
    o.epoch_size = 5; /* only for the balanced sampler */
    cr_assert_eq(cn_loader_new(ds, &o, NULL, &l, &err), CN_ERR_ARG);
    o = cn_loader_opts_default();
    int idx[] = {1, 10};
    o.indices = idx;
    o.n_indices = 2;
    cr_assert_eq(cn_loader_new(ds, &o, NULL, &l, &err), CN_ERR_RANGE);
    cr_assert(strstr(err.msg, "indices[1]") != NULL, "%s", err.msg);
    cn_sample_transform tf = {NULL, NULL, 1, 3, 4, 1, 3, 4};
    cr_assert_eq(cn_loader_new(ds, NULL, &tf, &l, &err), CN_ERR_SHAPE);
    cn_sample_transform tf2 = {NULL, NULL, 1, 3, 3, 1, 2, 2};
    cr_assert_eq(cn_loader_new(ds, NULL, &tf2, &l, &err), CN_ERR_SHAPE);
    cr_assert_eq(cn_loader_new(NULL, NULL, NULL, &l, &err), CN_ERR_ARG);
    cr_assert_null(l);
    /* next before an epoch; negative epoch */
    cr_assert_eq(cn_loader_new(ds, NULL, NULL, &l, &err), CN_OK);
    int b = 7;
    cr_assert_eq(cn_loader_next(l, NULL, NULL, &b, &err), CN_ERR_ARG);
    cr_assert_eq(b, 0);
    cr_assert_eq(cn_loader_start_epoch(l, -1, &err), CN_ERR_ARG);
    cr_assert_null(cn_loader_epoch_order(l));
    cn_loader_free(l);
    cn_dataset_free(ds);
}
