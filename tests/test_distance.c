/* test_distance.c: cn_sq_norms, cn_dist_l2sq and cn_dist_l1 against a naive
 * double loop in double precision, on awkward sizes (1x1, 7x13 with d = 5,
 * d = 785 across several cache tiles), with a padded output stride whose
 * padding must stay untouched, and the clamp at 0 for identical rows. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "convnet.h"

#ifdef CN_DOUBLE
#define TOL 1e-11
#else
#define TOL 2e-6
#endif

#define PAD 3
#define SENTINEL ((cn_real)-12345)

static cn_real *random_rows(cn_rng *r, int n, int d)
{
    cn_real *x = malloc(((size_t)n * (size_t)d + 1) * sizeof *x);
    cr_assert_not_null(x);
    for (size_t i = 0; i < (size_t)n * (size_t)d; i++)
        x[i] = (cn_real)(2.0 * cn_rng_uniform(r) - 1.0);
    return x;
}

static double naive(const cn_real *Q, int i, const cn_real *R, int j, int d, int l1)
{
    double s = 0.0;
    for (int k = 0; k < d; k++) {
        double v = (double)Q[(size_t)i * d + k] - (double)R[(size_t)j * d + k];
        s += l1 ? fabs(v) : v * v;
    }
    return s;
}

/* check: both metrics for (nq, d) queries against (nr, d) references, output
 * stride nr + PAD; the tolerance is relative to the sizes of the terms. */
static void check(int nq, int nr, int d)
{
    cn_rng r;
    cn_rng_seed(&r, (uint64_t)(nq * 1000 + nr * 10 + d), 7);
    cn_real *Q = random_rows(&r, nq, d), *R = random_rows(&r, nr, d);
    const int ldo = nr + PAD;
    cn_real *out = malloc((size_t)nq * ldo * sizeof *out);
    cn_real *qn = malloc((size_t)nq * sizeof *qn), *rn = malloc((size_t)nr * sizeof *rn);
    cr_assert(out && qn && rn);

    cn_sq_norms(Q, nq, d, qn);
    cn_sq_norms(R, nr, d, rn);
    for (int i = 0; i < nq; i++) {
        double want = 0.0;
        for (int k = 0; k < d; k++)
            want += (double)Q[(size_t)i * d + k] * (double)Q[(size_t)i * d + k];
        cr_assert(fabs(qn[i] - want) <= TOL * (1.0 + want), "norm %d: %g vs %g", i,
                  (double)qn[i], want);
    }

    for (int l1 = 0; l1 <= 1; l1++) {
        for (size_t t = 0; t < (size_t)nq * ldo; t++)
            out[t] = SENTINEL;
        if (l1)
            cn_dist_l1(Q, nq, R, nr, d, out, ldo);
        else
            cn_dist_l2sq(Q, qn, nq, R, rn, nr, d, out, ldo);
        double worst = 0.0;
        for (int i = 0; i < nq; i++) {
            for (int j = 0; j < nr; j++) {
                double want = naive(Q, i, R, j, d, l1);
                double scale = l1 ? 1.0 + want : 1.0 + (double)qn[i] + (double)rn[j];
                double e = fabs((double)out[(size_t)i * ldo + j] - want) / scale;
                if (e > worst)
                    worst = e;
                cr_assert(e <= TOL * sqrt((double)d + 1.0),
                          "%s (%d x %d, d %d) at (%d, %d): %.9g vs %.9g", l1 ? "l1" : "l2", nq,
                          nr, d, i, j, (double)out[(size_t)i * ldo + j], want);
            }
            for (int j = nr; j < ldo; j++)
                cr_assert(out[(size_t)i * ldo + j] == SENTINEL, "padding written at (%d, %d)",
                          i, j);
        }
        cr_log_info("%s %dx%d d=%d: max scaled error %.3g", l1 ? "l1" : "l2", nq, nr, d, worst);
    }
    free(Q);
    free(R);
    free(out);
    free(qn);
    free(rn);
}

Test(distance, one_by_one) { check(1, 1, 3); }
Test(distance, one_by_one_d1) { check(1, 1, 1); }
Test(distance, seven_by_thirteen_d5) { check(7, 13, 5); }
Test(distance, d785_across_tiles) { check(21, 261, 785); }
Test(distance, d16_exact_lanes) { check(9, 130, 16); }

Test(distance, identical_rows_clamped_to_zero)
{
    cn_rng r;
    cn_rng_seed(&r, 99, 1);
    const int n = 17, d = 300;
    cn_real *X = random_rows(&r, n, d);
    for (size_t t = 0; t < (size_t)n * d; t++)
        X[t] *= (cn_real)37.3; // large norms: the expansion rounds noticeably
    cn_real *nx = malloc(n * sizeof *nx), *out = malloc((size_t)n * n * sizeof *out);
    cr_assert(nx && out);
    cn_sq_norms(X, n, d, nx);
    cn_dist_l2sq(X, nx, n, X, nx, n, d, out, n);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++)
            cr_assert(out[(size_t)i * n + j] >= 0, "negative squared distance at (%d, %d)", i,
                      j);
        cr_assert(out[(size_t)i * n + i] <= TOL * 10 * nx[i], "self distance %g",
                  (double)out[(size_t)i * n + i]);
    }
    cn_dist_l1(X, n, X, n, d, out, n);
    for (int i = 0; i < n; i++)
        cr_assert(out[(size_t)i * n + i] == 0, "l1 self distance %g",
                  (double)out[(size_t)i * n + i]);
    free(X);
    free(nx);
    free(out);
}

Test(distance, l1_symmetric_and_position_independent)
{
    // The same pair gives the same bits whether it sits in a 4x2 micro-tile or
    // on the edge of a tile: the lane-wise sums are added in one fixed order.
    cn_rng r;
    cn_rng_seed(&r, 5, 2);
    const int n = 23, d = 77;
    cn_real *X = random_rows(&r, n, d);
    cn_real *out = malloc((size_t)n * n * sizeof *out);
    cr_assert_not_null(out);
    cn_dist_l1(X, n, X, n, d, out, n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            cr_assert(out[(size_t)i * n + j] == out[(size_t)j * n + i], "(%d, %d)", i, j);
    free(X);
    free(out);
}

Test(distance, empty_sizes_are_no_ops)
{
    cn_real q[2] = {1, 2}, out[1] = {SENTINEL}, n1[1] = {5};
    cn_dist_l1(q, 0, q, 1, 2, out, 1);
    cn_dist_l2sq(q, n1, 1, q, n1, 0, 2, out, 0);
    cn_sq_norms(q, 0, 2, out);
    cr_assert(out[0] == SENTINEL);
}
