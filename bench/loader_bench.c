/* loader_bench.c: loader throughput in images per second on Fashion-MNIST
 * (60000 training images, 1 x 28 x 28) through cn_loader with the augmentation
 * pipeline of convnet/augment.h (default spec: horizontal flip, 4-pixel padding +
 * 28x28 random crop, colour jitter, random erasing), batch 64, shuffled. The
 * consumer only sums each batch (so every pixel is read once), standing in for a
 * trainer that never waits. One warm-up epoch, then --epochs timed epochs; prints
 * "RESULT loader <workers> <images/s>" (bench/loader.sh reads this line) and a
 * checksum that must not depend on --workers.
 * Usage: loader_bench [--workers N] [--epochs E] [--batch B] [--spec SPEC]
 *                     [--data DIR] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"
#include "convnet/augment.h"
#include "convnet/loader.h"

#define DEFAULT_SPEC "hflip,crop=28:4,jitter=0.4:0.4:0.4:0.1,erase=0.5"

/* run_epoch: pull every batch of epoch e; returns the samples seen (-1 on error)
 * and adds the pixel sum to *sum. */
static long run_epoch(cn_loader *l, int e, size_t sample, double *sum) {
    cn_error err;
    if (cn_loader_start_epoch(l, e, &err) != CN_OK) {
        fprintf(stderr, "loader_bench: %s\n", err.msg);
        return -1;
    }
    long n = 0;
    for (;;) {
        cn_real *x;
        int *y, b;
        if (cn_loader_next(l, &x, &y, &b, &err) != CN_OK) {
            fprintf(stderr, "loader_bench: %s\n", err.msg);
            return -1;
        }
        if (b == 0) break;
        double s = 0;
        for (size_t i = 0; i < (size_t)b * sample; i++) s += x[i];
        for (int i = 0; i < b; i++) s += y[i];
        *sum += s;
        n += b;
    }
    return n;
}

int main(int argc, char **argv) {
    int workers = 2, epochs = 2, batch = 64;
    const char *spec = DEFAULT_SPEC, *dir = CN_FASHION_MNIST_DIR;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--workers") == 0)
            workers = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--epochs") == 0)
            epochs = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--batch") == 0)
            batch = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--spec") == 0)
            spec = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--data") == 0)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--workers N] [--epochs E] [--batch B] [--spec SPEC] "
                            "[--data DIR]\n  defaults: --workers 2 --epochs 2 --batch 64 "
                            "--spec '%s' --data %s\n", argv[0], DEFAULT_SPEC,
                    CN_FASHION_MNIST_DIR);
            return 2;
        }
    }
    if (epochs < 1 || epochs > 1000) {
        fprintf(stderr, "loader_bench: --epochs must be in 1..1000\n");
        return 2;
    }
    cn_error err;
    cn_error_clear(&err);
    cn_dataset *ds = NULL;
    cn_augment aug;
    cn_sample_transform tf;
    cn_loader *l = NULL;
    if (cn_dataset_load_idx(dir, "train", 1, &ds, &err) != CN_OK ||
        cn_augment_parse(spec, &aug, &err) != CN_OK ||
        cn_augment_transform(&aug, ds->c, ds->h, ds->w, &tf, &err) != CN_OK) {
        fprintf(stderr, "loader_bench: %s\n", err.msg);
        cn_dataset_free(ds);
        return 1;
    }
    cn_loader_opts o = cn_loader_opts_default();
    o.batch = batch;
    o.workers = workers;
    o.seed = 1;
    if (cn_loader_new(ds, &o, &tf, &l, &err) != CN_OK) {
        fprintf(stderr, "loader_bench: %s\n", err.msg);
        cn_dataset_free(ds);
        return 1;
    }
    size_t sample = (size_t)tf.oc * tf.oh * tf.ow;
    double sum = 0;
    int rc = 0;
    if (run_epoch(l, 0, sample, &sum) < 0) rc = 1; /* warm-up */
    double t0 = cn_time_now();
    long seen = 0;
    for (int e = 1; rc == 0 && e <= epochs; e++) {
        long n = run_epoch(l, e, sample, &sum);
        if (n < 0) rc = 1;
        seen += n;
    }
    double dt = cn_time_now() - t0;
    if (rc == 0) {
        printf("spec %s\n", spec);
        printf("images %ld seconds %.3f checksum %.6e\n", seen, dt, sum);
        printf("RESULT loader %d %.0f\n", workers, (double)seen / dt);
    }
    cn_loader_free(l);
    cn_dataset_free(ds);
    return rc;
}
