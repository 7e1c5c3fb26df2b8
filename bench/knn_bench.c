/* knn_bench.c: times the full Fashion-MNIST distance matrices of k-nearest
 * neighbours in convnet: the test set (10000) against the train set (60000),
 * d = 784, as one (10000, 60000) matrix (2.4 GB of floats).
 *   l2: cn_sq_norms of both sets + cn_dist_l2sq (one GEMM, clamp at 0),
 *   l1: cn_dist_l1 (the blocked kernel).
 * Each workload runs once to warm up, then --repeats times; the median is printed
 * as "RESULT <workload> <threads> <seconds>" (bench/knn.sh reads these lines).
 * Usage: knn_bench [--threads N] [--repeats R] [--data DIR] [--only l2|l1] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* run_l2: squared norms of both sets and the whole squared-distance matrix. */
static void run_l2(const cn_real *te, int nte, const cn_real *tr, int ntr, int d, cn_real *qn,
                   cn_real *rn, cn_real *out)
{
    cn_sq_norms(te, nte, d, qn);
    cn_sq_norms(tr, ntr, d, rn);
    cn_dist_l2sq(te, qn, nte, tr, rn, ntr, d, out, ntr);
}

int main(int argc, char **argv)
{
    int threads = 0, repeats = 3;
    const char *dir = CN_FASHION_MNIST_DIR, *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--repeats") == 0)
            repeats = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--data") == 0)
            dir = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--only") == 0)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--threads N] [--repeats R] [--data DIR] "
                            "[--only l2|l1]\n", argv[0]);
            return 2;
        }
    }
    if (repeats < 1 || repeats > 100) {
        fprintf(stderr, "knn_bench: --repeats must be in 1..100\n");
        return 2;
    }
    cn_set_num_threads(threads);

    cn_error err;
    cn_error_clear(&err);
    cn_dataset *train = NULL, *test = NULL;
    if (cn_dataset_load_idx(dir, "train", 1, &train, &err) != CN_OK ||
        cn_dataset_load_idx(dir, "test", 1, &test, &err) != CN_OK) {
        fprintf(stderr, "knn_bench: %s\n", err.msg);
        cn_dataset_free(train);
        return 1;
    }
    const int d = train->c * train->h * train->w, ntr = train->n, nte = test->n;
    const cn_real *tr = cn_dataset_flat(train), *te = cn_dataset_flat(test);
    cn_real *out = cn_aligned_alloc((size_t)nte * (size_t)ntr * sizeof(cn_real)); // (nte, ntr)
    cn_real *qn = cn_malloc((size_t)nte * sizeof(cn_real));                       // (nte)
    cn_real *rn = cn_malloc((size_t)ntr * sizeof(cn_real));                       // (ntr)
    double *t = cn_malloc((size_t)repeats * sizeof(double));
    if (!out || !qn || !rn || !t) {
        fprintf(stderr, "knn_bench: out of memory for a %d x %d matrix\n", nte, ntr);
        return 1;
    }
    fprintf(stderr, "knn_bench: %s, %d threads, %d test x %d train, d %d\n", cn_build_info(),
            cn_get_num_threads(), nte, ntr, d);

    for (int w = 0; w < 2; w++) {
        const char *name = w == 0 ? "l2" : "l1";
        if (only && strcmp(only, name) != 0)
            continue;
        // Warm-up: the whole l2 matrix (it also faults in the output pages); for
        // l1 the first 1000 queries (the full matrix takes many seconds).
        if (w == 0)
            run_l2(te, nte, tr, ntr, d, qn, rn, out);
        else
            cn_dist_l1(te, 1000 < nte ? 1000 : nte, tr, ntr, d, out, ntr);
        for (int r = 0; r < repeats; r++) {
            double t0 = cn_time_now();
            if (w == 0)
                run_l2(te, nte, tr, ntr, d, qn, rn, out);
            else
                cn_dist_l1(te, nte, tr, ntr, d, out, ntr);
            t[r] = cn_time_now() - t0;
            fprintf(stderr, "knn_bench: %s run %d: %.3f s (out[0] = %g)\n", name, r + 1, t[r],
                    (double)out[0]);
        }
        qsort(t, (size_t)repeats, sizeof *t, cmp_double);
        printf("RESULT %s %d %.4f\n", name, cn_get_num_threads(), t[repeats / 2]);
        fflush(stdout);
    }
    cn_free(t);
    cn_free(rn);
    cn_free(qn);
    cn_aligned_free(out);
    cn_dataset_free(train);
    cn_dataset_free(test);
    return 0;
}
