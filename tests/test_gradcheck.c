/* test_gradcheck.c: cn_gradcheck on functions with known gradients (right and
 * deliberately wrong), its argument checks and exact restoration of x, and the
 * analytic gradients of the three linear losses checked against centred
 * differences (strict in the double build, loose in float). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"

#ifdef CN_DOUBLE
#define LOSS_H 1e-5
#define LOSS_TOL 1e-7
#define FN_TOL 1e-8
#else
#define LOSS_H 1e-3
#define LOSS_TOL 1e-2
#define FN_TOL 1e-2
#endif

/* ------------------------------------------------------------------ a known function */

/* f(x) = sum_i (i + 1) x_i^2 / 2 + sin(x_0) * x_1, gradient:
 * df/dx_i = (i + 1) x_i, plus cos(x_0) x_1 for i = 0 and sin(x_0) for i = 1. */
typedef struct quad_ctx {
    size_t n;
    int calls;
} quad_ctx;

static double quad_f(void *ctx, const cn_real *x)
{
    quad_ctx *q = ctx;
    q->calls++;
    double s = sin((double)x[0]) * (double)x[1];
    for (size_t i = 0; i < q->n; i++) s += (double)(i + 1) * (double)x[i] * (double)x[i] / 2;
    return s;
}

static void quad_grad(const cn_real *x, size_t n, cn_real *g)
{
    for (size_t i = 0; i < n; i++) g[i] = (cn_real)((double)(i + 1) * (double)x[i]);
    g[0] = (cn_real)((double)g[0] + cos((double)x[0]) * (double)x[1]);
    g[1] = (cn_real)((double)g[1] + sin((double)x[0]));
}

enum { QN = 8 };

static void quad_point(cn_real *x)
{
    for (size_t i = 0; i < QN; i++) x[i] = (cn_real)(0.37 * (double)i - 1.13);
}

Test(gradcheck, known_gradient_passes)
{
    cn_real x[QN], g[QN];
    quad_point(x);
    quad_grad(x, QN, g);
    quad_ctx q = {QN, 0};
    size_t coords[QN];
    for (size_t i = 0; i < QN; i++) coords[i] = i;
    cn_gradcheck_result res;
    cn_error err;
    cr_assert_eq(cn_gradcheck(quad_f, &q, x, QN, g, coords, QN, 0, NULL, LOSS_H, &res, &err),
                 CN_OK, "%s", err.msg);
    cr_expect_eq(res.checked, QN);
    cr_expect_eq(q.calls, 2 * QN, "two evaluations per coordinate");
    cr_expect_lt(res.max_rel_err, FN_TOL, "max rel err %g at %zu (a %g, n %g)", res.max_rel_err,
                 res.worst_index, res.worst_analytic, res.worst_numeric);
}

Test(gradcheck, wrong_gradient_is_caught)
{
    cn_real x[QN], g[QN];
    quad_point(x);
    quad_grad(x, QN, g);
    g[5] = (cn_real)(1.5 * (double)g[5]);
    quad_ctx q = {QN, 0};
    cn_rng r;
    cn_rng_seed(&r, 3, 0);
    size_t coords[1] = {5};
    cn_gradcheck_result res;
    cn_error err;
    cr_assert_eq(cn_gradcheck(quad_f, &q, x, QN, g, coords, 1, 20, &r, LOSS_H, &res, &err),
                 CN_OK, "%s", err.msg);
    cr_expect_eq(res.checked, 21);
    cr_expect_eq(res.worst_index, 5);
    /* |1.5a - a| / |1.5a| = 1/3 */
    cr_expect_float_eq(res.max_rel_err, 1.0 / 3.0, 1e-2, "%g", res.max_rel_err);
    cr_expect_float_eq(res.worst_analytic, (double)g[5], 1e-12);
    cr_expect_float_eq(res.worst_numeric, (double)g[5] / 1.5, 1e-2 * fabs((double)g[5]));
}

Test(gradcheck, x_restored_bit_exactly)
{
    /* values where x + h - h does not round back to x */
    cn_real x[QN], before[QN], g[QN];
    for (size_t i = 0; i < QN; i++) x[i] = (cn_real)(0.1 + 1e-3 * (double)i / 3.0);
    x[3] = (cn_real)1e-30;
    x[4] = (cn_real)-12345.678;
    memcpy(before, x, sizeof x);
    quad_grad(x, QN, g);
    quad_ctx q = {QN, 0};
    cn_rng r;
    cn_rng_seed(&r, 4, 0);
    size_t coords[3] = {0, 3, 4};
    cn_gradcheck_result res;
    cn_error err;
    cr_assert_eq(cn_gradcheck(quad_f, &q, x, QN, g, coords, 3, 50, &r, 0.0123, &res, &err),
                 CN_OK);
    cr_expect_eq(memcmp(x, before, sizeof x), 0, "x changed");
}

Test(gradcheck, bad_arguments)
{
    cn_real x[QN], before[QN], g[QN];
    quad_point(x);
    memcpy(before, x, sizeof x);
    quad_grad(x, QN, g);
    quad_ctx q = {QN, 0};
    cn_gradcheck_result res;
    cn_error err;
    size_t coords[3] = {0, QN, 1};
    cr_expect_eq(cn_gradcheck(quad_f, &q, x, QN, g, coords, 3, 0, NULL, 1e-3, &res, &err),
                 CN_ERR_RANGE);
    cr_expect(strstr(err.msg, "coords[1]"), "%s", err.msg);
    cr_expect_eq(q.calls, 0, "nothing evaluated before the range check");
    cr_expect_eq(memcmp(x, before, sizeof x), 0);
    cr_expect_eq(cn_gradcheck(quad_f, &q, x, QN, g, NULL, 0, 3, NULL, 1e-3, &res, &err),
                 CN_ERR_ARG, "random coordinates need an rng");
    cr_expect_eq(cn_gradcheck(quad_f, &q, x, QN, g, coords, 1, 0, NULL, 0.0, &res, &err),
                 CN_ERR_ARG, "h = 0");
    cr_expect_eq(cn_gradcheck(quad_f, &q, x, QN, g, coords, 1, 0, NULL, NAN, &res, &err),
                 CN_ERR_ARG, "h = nan");
    cr_expect_eq(cn_gradcheck(NULL, &q, x, QN, g, coords, 1, 0, NULL, 1e-3, &res, &err),
                 CN_ERR_ARG);
    cn_rng r;
    cn_rng_seed(&r, 1, 0);
    cr_expect_eq(cn_gradcheck(quad_f, &q, x, 0, g, NULL, 0, 2, &r, 1e-3, &res, &err),
                 CN_ERR_RANGE, "random coordinates of nothing");
    /* nothing to check is fine */
    cr_expect_eq(cn_gradcheck(quad_f, &q, x, QN, g, NULL, 0, 0, NULL, 1e-3, &res, &err), CN_OK);
    cr_expect_eq(res.checked, 0);
    cr_expect_eq(res.max_rel_err, 0.0);
}

static double nan_f(void *ctx, const cn_real *x)
{
    (void)ctx;
    return x[0] > 0 ? NAN : 0.0;
}

Test(gradcheck, nan_is_never_hidden)
{
    cn_real x[1] = {0}, g[1] = {0};
    size_t coords[1] = {0};
    cn_gradcheck_result res;
    cn_error err;
    cr_assert_eq(cn_gradcheck(nan_f, NULL, x, 1, g, coords, 1, 0, NULL, 1e-3, &res, &err),
                 CN_OK);
    cr_expect(isinf(res.max_rel_err), "%g", res.max_rel_err);
}

/* ------------------------------------------------------------------ linear losses */

enum { LN = 7, LD = 11, LC = 5, LP = LD * LC + LC };
#define LREG 0.1

/* Parameters theta = [W (d, c) flattened; b (c)] as one vector. */
typedef struct loss_ctx {
    cn_linear_loss loss;
    cn_real X[LN * LD];  /* (n, d) */
    int y[LN];
    cn_real work[LN * LC];
} loss_ctx;

static double loss_f(void *ctx, const cn_real *theta)
{
    loss_ctx *L = ctx;
    return cn_linear_loss_grad(L->loss, theta, theta + LD * LC, LD, LC, L->X, L->y, LN, LREG,
                               NULL, NULL, L->work);
}

/* min_abs_margin: the smallest |s_j - s_y + 1| over j != y (distance to a kink). */
static double min_abs_margin(loss_ctx *L, const cn_real *theta)
{
    const cn_real *W = theta, *b = theta + LD * LC;
    double best = INFINITY;
    for (int i = 0; i < LN; i++) {
        double s[LC];
        for (int j = 0; j < LC; j++) {
            s[j] = (double)b[j];
            for (int k = 0; k < LD; k++) s[j] += (double)L->X[i * LD + k] * (double)W[k * LC + j];
        }
        for (int j = 0; j < LC; j++)
            if (j != L->y[i]) best = fmin(best, fabs(s[j] - s[L->y[i]] + 1.0));
    }
    return best;
}

/* The hinge losses have kinks where a margin is 0; a centred difference across
 * a kink mixes the two one-sided slopes and is not a valid check (course notes,
 * "Kinks in the objective"). With |X| <= 3 a perturbation of h moves every
 * score by at most 3h (W entries) or h (b entries), so data whose margins all
 * keep 1e-2 away from 0 never crosses a kink: we draw seeds until that holds
 * (the first few seeds always do on this problem). */
#define KINK_CLEARANCE 1e-2

static void make_problem(loss_ctx *L, cn_real *theta, uint64_t seed)
{
    cn_rng r;
    cn_rng_seed(&r, seed, 0);
    for (int k = 0; k < LN * LD; k++) {
        double v = cn_rng_normal(&r);
        L->X[k] = (cn_real)fmax(-3.0, fmin(3.0, v));
    }
    for (int i = 0; i < LN; i++) L->y[i] = (int)cn_rng_below(&r, LC);
    for (int k = 0; k < LP; k++) theta[k] = (cn_real)(0.3 * cn_rng_normal(&r));
}

static void check_loss(cn_linear_loss loss)
{
    loss_ctx L;
    L.loss = loss;
    cn_real theta[LP], grad[LP];
    uint64_t seed = 1;
    for (;; seed++) {
        make_problem(&L, theta, seed);
        if (loss == CN_LINEAR_SOFTMAX || min_abs_margin(&L, theta) > KINK_CLEARANCE) break;
        cr_assert_lt(seed, 1000, "no kink-free problem found");
    }
    cn_linear_loss_grad(loss, theta, theta + LD * LC, LD, LC, L.X, L.y, LN, LREG, grad,
                        grad + LD * LC, L.work);
    size_t coords[LP];
    for (size_t k = 0; k < LP; k++) coords[k] = k;
    cn_gradcheck_result res;
    cn_error err;
    cr_assert_eq(cn_gradcheck(loss_f, &L, theta, LP, grad, coords, LP, 0, NULL, LOSS_H, &res,
                              &err),
                 CN_OK, "%s", err.msg);
    cr_log_info("%s (%s, seed %llu): max rel err %.3g at %zu (analytic %.6g, numeric %.6g)",
                cn_linear_loss_name(loss), CN_REAL_NAME, (unsigned long long)seed,
                res.max_rel_err, res.worst_index, res.worst_analytic, res.worst_numeric);
    cr_expect_eq(res.checked, LP);
    cr_expect_lt(res.max_rel_err, LOSS_TOL, "%s: max rel err %g at %zu (a %g, n %g)",
                 cn_linear_loss_name(loss), res.max_rel_err, res.worst_index,
                 res.worst_analytic, res.worst_numeric);
}

Test(gradcheck, svm_gradient)
{
    check_loss(CN_LINEAR_SVM);
}

Test(gradcheck, svm_squared_gradient)
{
    check_loss(CN_LINEAR_SVM_SQUARED);
}

Test(gradcheck, softmax_gradient)
{
    check_loss(CN_LINEAR_SOFTMAX);
}
