/* test_knn.c: k-nearest neighbours: metric/vote names, neighbour order and
 * tie-breaking on constructed data, a multi-block search against brute force,
 * progress and cancellation, vote tie-breaking and the zero-distance rule,
 * argument errors, cross-validation on separable Gaussian blobs, accuracy, and
 * a real-data check on Fashion-MNIST (skipped when the folder is missing). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convnet.h"

/* ------------------------------------------------------------------ names */

Test(knn, names_round_trip)
{
    cn_error err;
    for (int m = 0; m < CN_METRIC_COUNT; m++) {
        cn_metric got;
        cr_assert_eq(cn_metric_parse(cn_metric_name((cn_metric)m), &got, &err), CN_OK);
        cr_assert_eq((int)got, m);
    }
    for (int v = 0; v < CN_VOTE_COUNT; v++) {
        cn_vote got;
        cr_assert_eq(cn_vote_parse(cn_vote_name((cn_vote)v), &got, &err), CN_OK);
        cr_assert_eq((int)got, v);
    }
    cr_assert_str_eq(cn_metric_name(CN_METRIC_L2), "l2");
    cr_assert_str_eq(cn_metric_name(CN_METRIC_L1), "l1");
    cr_assert_str_eq(cn_vote_name(CN_VOTE_UNIFORM), "uniform");
    cr_assert_str_eq(cn_vote_name(CN_VOTE_DISTANCE), "distance");
    cn_metric m;
    cn_vote v;
    cr_assert_eq(cn_metric_parse("L3", &m, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "L3") != NULL, "%s", err.msg);
    cr_assert_eq(cn_vote_parse("majority", &v, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "majority") != NULL, "%s", err.msg);
    cr_assert_eq(cn_metric_parse(NULL, &m, &err), CN_ERR_ARG);
}

Test(knn, accuracy)
{
    int pred[5] = {1, 2, 3, 4, 5}, y[5] = {1, 0, 3, 0, 5};
    cr_assert_float_eq(cn_accuracy(pred, y, 5), 0.6, 1e-15);
    cr_assert_float_eq(cn_accuracy(pred, y, 0), 0.0, 0.0);
}

/* ------------------------------------------------------------------ neighbours */

/* One-dimensional references; the query 2 is at distance 1 from indices 1, 2, 3
 * and 5 and at distance 3 from 0 and 4, so ties decide the order. */
static const cn_real REF1D[6] = {5, 1, 3, 1, -1, 3};

Test(knn, neighbour_order_and_ties)
{
    const cn_real q[1] = {2};
    const int want[6] = {1, 2, 3, 5, 0, 4};
    const double wantd[6] = {1, 1, 1, 1, 3, 3};
    for (int m = 0; m < CN_METRIC_COUNT; m++) {
        for (int kmax = 1; kmax <= 6; kmax++) {
            int idx[6] = {-1, -1, -1, -1, -1, -1};
            cn_real dist[6];
            cn_error err;
            cr_assert_eq(cn_knn_neighbors(REF1D, 6, q, 1, 1, (cn_metric)m, kmax, idx, dist,
                                          NULL, &err),
                         CN_OK, "%s", err.msg);
            for (int j = 0; j < kmax; j++) {
                cr_assert_eq(idx[j], want[j], "%s kmax %d: position %d is %d",
                             cn_metric_name((cn_metric)m), kmax, j, idx[j]);
                cr_assert_float_eq((double)dist[j], wantd[j], 1e-6);
            }
        }
    }
}

Test(knn, true_l2_distances_and_l1)
{
    // A 3-4-5 triangle: L2 gives 5 (the square root), L1 gives 7.
    const cn_real R[4] = {0, 0, 3, 4};
    const cn_real Q[2] = {0, 0};
    int idx[2];
    cn_real dist[2];
    cn_error err;
    cr_assert_eq(cn_knn_neighbors(R, 2, Q, 1, 2, CN_METRIC_L2, 2, idx, dist, NULL, &err), CN_OK);
    cr_assert_eq(idx[0], 0);
    cr_assert_eq(idx[1], 1);
    cr_assert_float_eq((double)dist[0], 0.0, 1e-6);
    cr_assert_float_eq((double)dist[1], 5.0, 1e-5);
    cr_assert_eq(cn_knn_neighbors(R, 2, Q, 1, 2, CN_METRIC_L1, 2, idx, dist, NULL, &err), CN_OK);
    cr_assert_float_eq((double)dist[1], 7.0, 1e-5);
}

typedef struct prog_log {
    int calls;
    size_t last_done, total;
    int cancel_at; // cancel on this call (1-based); 0: never
} prog_log;

static int prog_fn(void *ctx, const char *stage, size_t done, size_t total)
{
    prog_log *p = ctx;
    cr_assert_str_eq(stage, "distances");
    cr_assert(done > p->last_done && done <= total);
    p->calls++;
    p->last_done = done;
    p->total = total;
    return p->cancel_at != 0 && p->calls == p->cancel_at;
}

/* brute: exact squared-L2 or L1 distances on integer data in int64, then the
 * kmax smallest by (distance, index). */
static void brute(const cn_real *R, int nr, const cn_real *q, int d, int l1, int kmax,
                  int *idx, long long *dist)
{
    for (int j = 0; j < kmax; j++)
        dist[j] = -1;
    for (int r = 0; r < nr; r++) {
        long long s = 0;
        for (int k = 0; k < d; k++) {
            long long v = (long long)q[k] - (long long)R[(size_t)r * d + k];
            s += l1 ? llabs(v) : v * v;
        }
        int pos = kmax;
        while (pos > 0 && (dist[pos - 1] < 0 || s < dist[pos - 1]))
            pos--;
        if (pos == kmax)
            continue;
        memmove(idx + pos + 1, idx + pos, (size_t)(kmax - pos - 1) * sizeof *idx);
        memmove(dist + pos + 1, dist + pos, (size_t)(kmax - pos - 1) * sizeof *dist);
        idx[pos] = r;
        dist[pos] = s;
    }
}

Test(knn, several_blocks_match_brute_force)
{
    // 40000 reference rows: a 128 MiB distance block holds fewer than 1000 rows
    // of them, so the 1000 queries take two (float) or three (double) blocks.
    // Integer coordinates keep every distance exact, ties included.
    const int nr = 40000, nq = 1000, d = 3, kmax = 4;
    cn_rng r;
    cn_rng_seed(&r, 11, 4);
    cn_real *R = malloc((size_t)nr * d * sizeof *R), *Q = malloc((size_t)nq * d * sizeof *Q);
    int *idx = malloc((size_t)nq * kmax * sizeof *idx);
    cn_real *dist = malloc((size_t)nq * kmax * sizeof *dist);
    cr_assert(R && Q && idx && dist);
    for (int t = 0; t < nr * d; t++)
        R[t] = (cn_real)cn_rng_below(&r, 60);
    for (int t = 0; t < nq * d; t++)
        Q[t] = (cn_real)cn_rng_below(&r, 60);
    for (int m = 0; m < CN_METRIC_COUNT; m++) {
        prog_log pl = {0, 0, 0, 0};
        cn_progress prog = {prog_fn, &pl};
        cn_error err;
        cr_assert_eq(cn_knn_neighbors(R, nr, Q, nq, d, (cn_metric)m, kmax, idx, dist, &prog,
                                      &err),
                     CN_OK, "%s", err.msg);
        cr_assert(pl.calls >= 2, "expected several blocks, got %d", pl.calls);
        cr_assert_eq(pl.last_done, (size_t)nq);
        cr_assert_eq(pl.total, (size_t)nq);
        for (int i = 0; i < nq; i += 37) {
            int bi[4];
            long long bd[4];
            brute(R, nr, Q + (size_t)i * d, d, m == CN_METRIC_L1, kmax, bi, bd);
            for (int j = 0; j < kmax; j++) {
                cr_assert_eq(idx[(size_t)i * kmax + j], bi[j], "%s query %d position %d",
                             cn_metric_name((cn_metric)m), i, j);
                double want = m == CN_METRIC_L1 ? (double)bd[j] : sqrt((double)bd[j]);
                cr_assert_float_eq((double)dist[(size_t)i * kmax + j], want, 1e-4 * (1 + want));
            }
        }
    }
    // Cancelling on the first report stops the search with "cancelled".
    prog_log pl = {0, 0, 0, 1};
    cn_progress prog = {prog_fn, &pl};
    cn_error err;
    cr_assert_eq(cn_knn_neighbors(R, nr, Q, nq, d, CN_METRIC_L2, kmax, idx, dist, &prog, &err),
                 CN_ERR_ARG);
    cr_assert_str_eq(err.msg, "cancelled");
    cr_assert_eq(pl.calls, 1);
    free(R);
    free(Q);
    free(idx);
    free(dist);
}

Test(knn, neighbour_argument_errors)
{
    const cn_real x[4] = {0, 1, 2, 3};
    int idx[4];
    cn_real dist[4];
    cn_error err;
    cr_assert_eq(cn_knn_neighbors(x, 4, x, 1, 1, CN_METRIC_L2, 0, idx, dist, NULL, &err),
                 CN_ERR_ARG);
    cr_assert(strstr(err.msg, "kmax") != NULL, "%s", err.msg);
    cr_assert_eq(cn_knn_neighbors(x, 4, x, 1, 1, CN_METRIC_L1, 5, idx, dist, NULL, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_knn_neighbors(x, 4, x, 0, 1, CN_METRIC_L2, 1, idx, dist, NULL, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_knn_neighbors(x, 0, x, 1, 1, CN_METRIC_L2, 1, idx, dist, NULL, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_knn_neighbors(x, 4, x, 1, 0, CN_METRIC_L2, 1, idx, dist, NULL, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_knn_neighbors(NULL, 4, x, 1, 1, CN_METRIC_L2, 1, idx, dist, NULL, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_knn_neighbors(x, 4, x, 1, 1, CN_METRIC_L2, 1, NULL, dist, NULL, NULL),
                 CN_ERR_ARG);
    cr_assert_eq(cn_knn_neighbors(x, 4, x, 1, 1, CN_METRIC_COUNT, 1, idx, dist, NULL, &err),
                 CN_ERR_ARG);
}

/* ------------------------------------------------------------------ vote */

static int vote1(const int *idx, const cn_real *dist, int kmax, int k, const int *labels,
                 cn_vote v)
{
    int pred = -1;
    cn_error err;
    cr_assert_eq(cn_knn_vote(idx, dist, 1, kmax, k, labels, 6, v, &pred, &err), CN_OK, "%s",
                 err.msg);
    return pred;
}

Test(knn, vote_uniform_and_ties)
{
    const int labels[4] = {2, 1, 1, 2};
    const int idx[4] = {0, 1, 2, 3};
    const cn_real dist[4] = {1, 2, 2, 4};
    cr_assert_eq(vote1(idx, dist, 4, 1, labels, CN_VOTE_UNIFORM), 2);
    cr_assert_eq(vote1(idx, dist, 4, 3, labels, CN_VOTE_UNIFORM), 1);     // 2 votes to 1
    cr_assert_eq(vote1(idx, dist, 4, 4, labels, CN_VOTE_UNIFORM), 2);     // 2-2: nearest
    cr_assert_eq(vote1(idx, dist, 4, 2, labels, CN_VOTE_UNIFORM), 2);     // 1-1: nearest
    // Distance weights 1, 0.5, 0.5, 0.25: class 2 has 1.25, class 1 has 1.
    cr_assert_eq(vote1(idx, dist, 4, 4, labels, CN_VOTE_DISTANCE), 2);
    cr_assert_eq(vote1(idx, dist, 4, 3, labels, CN_VOTE_DISTANCE), 2);    // 1 vs 1: nearest
    // Neighbour order decides ties, not the class number.
    const int idx2[2] = {1, 0};
    const cn_real d2[2] = {3, 3};
    cr_assert_eq(vote1(idx2, d2, 2, 2, labels, CN_VOTE_UNIFORM), 1);
    cr_assert_eq(vote1(idx2, d2, 2, 2, labels, CN_VOTE_DISTANCE), 1);
}

Test(knn, vote_distance_zero_rule)
{
    const int labels[5] = {3, 1, 1, 5, 5};
    const int idx[5] = {0, 1, 2, 3, 4};
    // Without the zero: weights 1/0.1 + 1/0.1 = 20 for class 1 beat class 3's.
    const cn_real d0[3] = {0, (cn_real)0.1, (cn_real)0.1};
    cr_assert_eq(vote1(idx, d0, 3, 3, labels, CN_VOTE_DISTANCE), 3);
    cr_assert_eq(vote1(idx, d0, 3, 3, labels, CN_VOTE_UNIFORM), 1);
    // Only the neighbours at distance 0 vote: class 5 has two of the three.
    const int idx3[4] = {0, 3, 4, 1};
    const cn_real d3[4] = {0, 0, 0, 1};
    cr_assert_eq(vote1(idx3, d3, 4, 4, labels, CN_VOTE_DISTANCE), 5);
    // Zero-distance tie: the first listed wins.
    const int idx4[3] = {3, 0, 1};
    const cn_real d4[3] = {0, 0, 2};
    cr_assert_eq(vote1(idx4, d4, 3, 3, labels, CN_VOTE_DISTANCE), 5);
    // A zero beyond k does not count.
    const cn_real d5[3] = {1, 2, 0};
    cr_assert_eq(vote1(idx, d5, 3, 2, labels, CN_VOTE_DISTANCE), 3);
}

Test(knn, vote_uses_the_row_stride)
{
    // Two queries with kmax 3; k 2 must read row 1 from position 3, not 2.
    const int labels[4] = {0, 1, 2, 3};
    const int idx[6] = {0, 0, 1, 2, 2, 3};
    const cn_real dist[6] = {1, 1, 2, 1, 1, 2};
    int pred[2];
    cn_error err;
    cr_assert_eq(cn_knn_vote(idx, dist, 2, 3, 2, labels, 4, CN_VOTE_UNIFORM, pred, &err), CN_OK);
    cr_assert_eq(pred[0], 0);
    cr_assert_eq(pred[1], 2);
}

Test(knn, vote_errors)
{
    const int labels[2] = {0, 7};
    const int idx[2] = {0, 1};
    const cn_real dist[2] = {1, 2};
    int pred[1];
    cn_error err;
    cr_assert_eq(cn_knn_vote(idx, dist, 1, 2, 2, labels, 3, CN_VOTE_UNIFORM, pred, &err),
                 CN_ERR_RANGE);
    cr_assert(strstr(err.msg, "label 7") != NULL, "%s", err.msg);
    cr_assert_eq(cn_knn_vote(idx, dist, 1, 2, 3, labels, 8, CN_VOTE_UNIFORM, pred, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_knn_vote(idx, dist, 1, 2, 0, labels, 8, CN_VOTE_UNIFORM, pred, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_knn_vote(idx, dist, 0, 2, 1, labels, 8, CN_VOTE_UNIFORM, pred, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_knn_vote(idx, NULL, 1, 2, 1, labels, 8, CN_VOTE_DISTANCE, pred, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_knn_vote(idx, NULL, 1, 2, 1, labels, 8, CN_VOTE_UNIFORM, pred, &err), CN_OK);
    const int neg[1] = {-1};
    cr_assert_eq(cn_knn_vote(neg, dist, 1, 1, 1, labels, 8, CN_VOTE_UNIFORM, pred, &err),
                 CN_ERR_RANGE);
}

/* ------------------------------------------------------------------ cross-validation */

/* blobs: n points in d dimensions, class c centred at 6 e_c with unit noise. */
static void blobs(int n, int d, int classes, cn_real *X, int *y)
{
    cn_rng r;
    cn_rng_seed(&r, 2024, 9);
    for (int i = 0; i < n; i++) {
        y[i] = i % classes;
        for (int k = 0; k < d; k++)
            X[(size_t)i * d + k] = (cn_real)(cn_rng_normal(&r) + (k == y[i] ? 6.0 : 0.0));
    }
}

Test(knn, cross_validation_on_blobs)
{
    enum { N = 151, D = 6, C = 3, FOLDS = 5 };
    cn_real *X = malloc((size_t)N * D * sizeof *X);
    int *y = malloc(N * sizeof *y);
    cr_assert(X && y);
    blobs(N, D, C, X, y);
    const cn_metric metrics[2] = {CN_METRIC_L1, CN_METRIC_L2};
    const cn_vote votes[2] = {CN_VOTE_UNIFORM, CN_VOTE_DISTANCE};
    const int ks[3] = {1, 5, 9};
    cn_knn_cv_result res[12], again[12];
    cn_error err;
    cr_assert_eq(cn_knn_cross_validate(X, y, N, D, C, FOLDS, 42, metrics, 2, votes, 2, ks, 3,
                                       res, NULL, &err),
                 CN_OK, "%s", err.msg);
    for (int m = 0; m < 2; m++)
        for (int v = 0; v < 2; v++)
            for (int j = 0; j < 3; j++) {
                const cn_knn_cv_result *c = &res[(m * 2 + v) * 3 + j];
                cr_assert_eq(c->metric, metrics[m]);
                cr_assert_eq(c->vote, votes[v]);
                cr_assert_eq(c->k, ks[j]);
                cr_assert(c->mean_acc >= 0.95 && c->mean_acc <= 1.0, "%s %s k %d: %g",
                          cn_metric_name(c->metric), cn_vote_name(c->vote), c->k, c->mean_acc);
                cr_assert(c->std_acc >= 0.0 && c->std_acc <= 0.1, "std %g", c->std_acc);
            }
    // The same seed gives the same grid; another seed another permutation.
    cr_assert_eq(cn_knn_cross_validate(X, y, N, D, C, FOLDS, 42, metrics, 2, votes, 2, ks, 3,
                                       again, NULL, &err),
                 CN_OK);
    for (int c = 0; c < 12; c++) {
        cr_assert_eq(res[c].mean_acc, again[c].mean_acc);
        cr_assert_eq(res[c].std_acc, again[c].std_acc);
    }
    free(X);
    free(y);
}

Test(knn, cross_validation_std_is_population)
{
    // 19 points of class 0 at 0, 20 of class 1 at 1000, and one point labelled 1
    // at 400 (nearer class 0). With 2 folds of 20 and k = 1 it is misclassified
    // in the fold that validates it and misleads nobody in the other (its fold
    // always keeps class-0 points at distance 0 from theirs), so the fold
    // accuracies are 0.95 and 1: mean 0.975, population std 0.025.
    enum { N = 40 };
    cn_real X[N];
    int y[N];
    for (int i = 0; i < N; i++) {
        X[i] = (cn_real)(i < N / 2 ? 0 : 1000);
        y[i] = i < N / 2 ? 0 : 1;
    }
    X[3] = 400;
    y[3] = 1;
    const cn_metric metrics[2] = {CN_METRIC_L1, CN_METRIC_L2};
    const cn_vote votes[1] = {CN_VOTE_UNIFORM};
    const int ks[1] = {1};
    cn_knn_cv_result res[2];
    cn_error err;
    for (uint64_t seed = 0; seed < 4; seed++) {
        cr_assert_eq(cn_knn_cross_validate(X, y, N, 1, 2, 2, seed, metrics, 2, votes, 1, ks, 1,
                                           res, NULL, &err),
                     CN_OK, "%s", err.msg);
        for (int m = 0; m < 2; m++) {
            cr_assert_float_eq(res[m].mean_acc, 0.975, 1e-12, "seed %d", (int)seed);
            cr_assert_float_eq(res[m].std_acc, 0.025, 1e-12, "seed %d", (int)seed);
        }
    }
}

Test(knn, cross_validation_errors)
{
    cn_real X[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int y[8] = {0, 0, 0, 0, 1, 1, 1, 1};
    const cn_metric metrics[1] = {CN_METRIC_L2};
    const cn_vote votes[1] = {CN_VOTE_UNIFORM};
    int ks[1] = {1};
    cn_knn_cv_result res[1];
    cn_error err;
    cr_assert_eq(cn_knn_cross_validate(X, y, 8, 1, 2, 1, 0, metrics, 1, votes, 1, ks, 1, res,
                                       NULL, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_knn_cross_validate(X, y, 8, 1, 2, 9, 0, metrics, 1, votes, 1, ks, 1, res,
                                       NULL, &err),
                 CN_ERR_ARG);
    ks[0] = 7; // 3 folds of 8: the smallest training part has 5 rows
    cr_assert_eq(cn_knn_cross_validate(X, y, 8, 1, 2, 3, 0, metrics, 1, votes, 1, ks, 1, res,
                                       NULL, &err),
                 CN_ERR_ARG);
    cr_assert(strstr(err.msg, "ks[0]") != NULL, "%s", err.msg);
    ks[0] = 5;
    cr_assert_eq(cn_knn_cross_validate(X, y, 8, 1, 2, 3, 0, metrics, 1, votes, 1, ks, 1, res,
                                       NULL, &err),
                 CN_OK, "%s", err.msg);
    y[6] = 2;
    cr_assert_eq(cn_knn_cross_validate(X, y, 8, 1, 2, 3, 0, metrics, 1, votes, 1, ks, 1, res,
                                       NULL, &err),
                 CN_ERR_RANGE);
    cr_assert(strstr(err.msg, "record 6") != NULL, "%s", err.msg);
    cr_assert_eq(cn_knn_cross_validate(X, y, 8, 1, 3, 3, 0, metrics, 0, votes, 1, ks, 1, res,
                                       NULL, &err),
                 CN_ERR_ARG);
}

static int cancel_fn(void *ctx, const char *stage, size_t done, size_t total)
{
    (void)done;
    cr_assert_str_eq(stage, "cross-validation");
    cr_assert(done <= total);
    return ++*(int *)ctx >= 2;
}

Test(knn, cross_validation_cancel)
{
    enum { N = 40 };
    cn_real X[N];
    int y[N];
    for (int i = 0; i < N; i++) {
        X[i] = (cn_real)i;
        y[i] = i % 2;
    }
    const cn_metric metrics[1] = {CN_METRIC_L2};
    const cn_vote votes[1] = {CN_VOTE_UNIFORM};
    const int ks[1] = {1};
    cn_knn_cv_result res[1];
    int calls = 0;
    cn_progress prog = {cancel_fn, &calls};
    cn_error err;
    cr_assert_eq(cn_knn_cross_validate(X, y, N, 1, 2, 4, 0, metrics, 1, votes, 1, ks, 1, res,
                                       &prog, &err),
                 CN_ERR_ARG);
    cr_assert_str_eq(err.msg, "cancelled");
    cr_assert_eq(calls, 2);
}

/* ------------------------------------------------------------------ real data */

Test(knn, fashion_mnist_5000_vs_1000)
{
    struct stat sb;
    if (stat(CN_FASHION_MNIST_DIR, &sb) != 0)
        cr_skip_test("%s is missing", CN_FASHION_MNIST_DIR);
    cn_dataset *train = NULL, *test = NULL;
    cn_error err;
    cr_assert_eq(cn_dataset_load_idx(CN_FASHION_MNIST_DIR, "train", 1, &train, &err), CN_OK,
                 "%s", err.msg);
    cr_assert_eq(cn_dataset_load_idx(CN_FASHION_MNIST_DIR, "test", 1, &test, &err), CN_OK, "%s",
                 err.msg);
    const int nr = 5000, nq = 1000, d = 784, k = 5;
    int *idx = malloc((size_t)nq * k * sizeof *idx), *pred = malloc(nq * sizeof *pred);
    cn_real *dist = malloc((size_t)nq * k * sizeof *dist);
    cr_assert(idx && pred && dist);
    cr_assert_eq(cn_knn_neighbors(cn_dataset_flat(train), nr, cn_dataset_flat(test), nq, d,
                                  CN_METRIC_L2, k, idx, dist, NULL, &err),
                 CN_OK, "%s", err.msg);
    cr_assert_eq(cn_knn_vote(idx, dist, nq, k, k, train->labels, train->num_classes,
                             CN_VOTE_DISTANCE, pred, &err),
                 CN_OK, "%s", err.msg);
    double acc = cn_accuracy(pred, test->labels, nq);
    cr_log_info("fashion-mnist 5000 train vs 1000 test, k=5 l2 distance: accuracy %.4f", acc);
    cr_assert(acc >= 0.78, "accuracy %.4f", acc);
    free(idx);
    free(pred);
    free(dist);
    cn_dataset_free(train);
    cn_dataset_free(test);
}
