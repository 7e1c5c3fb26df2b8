/* test_batchnorm.c: batch normalisation kernels (convnet/norm_kernels.h): forward
 * against reference loops (training, evaluation, running statistics, no affine,
 * in place), backward checked by centred differences in both modes, accumulation
 * of parameter gradients, argument errors, thread-count independence, and parity
 * with PyTorch (tests/fixtures/norm/ from tools/fixtures/norm.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/classic.h"
#include "convnet/core.h"
#include "convnet/norm_kernels.h"
#include "convnet/safetensors.h"
#include "support.h"

#ifdef CN_DOUBLE
#define FWD_TOL 1e-12
#define GC_H 1e-5
#define GC_TOL 1e-7
#else
#define FWD_TOL 2e-5
#define GC_H 1e-2
#define GC_TOL 2e-2
#endif

#define EPS 1e-5
#define MOMENTUM 0.1

static cn_real *rnd(cn_rng *r, size_t len, double shift, double sd)
{
    cn_real *v = malloc(len * sizeof *v);
    cr_assert(v);
    for (size_t i = 0; i < len; i++) v[i] = (cn_real)(shift + sd * cn_rng_normal(r));
    return v;
}

static void expect_close(const char *what, const cn_real *got, const double *want, size_t len,
                         double tol)
{
    for (size_t i = 0; i < len; i++) {
        double d = fabs((double)got[i] - want[i]);
        cr_assert(d <= tol * (1.0 + fabs(want[i])), "%s[%zu]: %.17g vs %.17g", what, i,
                  (double)got[i], want[i]);
    }
}

/* Reference statistics of channel ch of x (n, c, inner): mean, biased and unbiased
 * variance, in long double. */
static void ref_stats(const cn_real *x, int n, int c, int inner, int ch, double *mean,
                      double *var, double *uvar)
{
    long double s = 0, q = 0;
    size_t m = (size_t)n * (size_t)inner;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < inner; j++) s += x[((size_t)i * c + ch) * inner + j];
    long double mu = s / m;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < inner; j++) {
            long double d = x[((size_t)i * c + ch) * inner + j] - mu;
            q += d * d;
        }
    *mean = (double)mu;
    *var = (double)(q / m);
    *uvar = (double)(q / (m - 1));
}

static void check_train_forward(int n, int c, int inner, int affine)
{
    cn_rng r;
    cn_rng_seed(&r, 7, (uint64_t)(n * 100 + c * 10 + inner));
    size_t len = (size_t)n * c * inner;
    cn_real *x = rnd(&r, len, 0.7, 1.9), *y = tst_zeros(len);
    cn_real *gamma = affine ? rnd(&r, c, 1.0, 0.5) : NULL;
    cn_real *beta = affine ? rnd(&r, c, 0.0, 0.5) : NULL;
    cn_real *rm = rnd(&r, c, 0.2, 0.3), *rv = rnd(&r, c, 1.5, 0.2);
    cn_real *rm0 = tst_zeros(c), *rv0 = tst_zeros(c), *sm = tst_zeros(c), *si = tst_zeros(c);
    memcpy(rm0, rm, c * sizeof *rm);
    memcpy(rv0, rv, c * sizeof *rv);
    cn_error err;
    cr_assert_eq(cn_batchnorm_forward(n, c, inner, x, gamma, beta, y, 1, MOMENTUM, EPS, rm,
                                      rv, sm, si, &err),
                 CN_OK, "%s", err.msg);
    double *want = malloc(len * sizeof *want);
    for (int ch = 0; ch < c; ch++) {
        double mean, var, uvar;
        ref_stats(x, n, c, inner, ch, &mean, &var, &uvar);
        double invstd = 1.0 / sqrt(var + EPS);
        expect_close("save_mean", sm + ch, &mean, 1, FWD_TOL);
        expect_close("save_invstd", si + ch, &invstd, 1, FWD_TOL);
        double wrm = 0.9 * (double)rm0[ch] + 0.1 * mean;
        double wrv = 0.9 * (double)rv0[ch] + 0.1 * uvar;
        expect_close("running_mean", rm + ch, &wrm, 1, FWD_TOL);
        expect_close("running_var", rv + ch, &wrv, 1, FWD_TOL);
        double g = affine ? (double)gamma[ch] : 1.0, b = affine ? (double)beta[ch] : 0.0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < inner; j++) {
                size_t o = ((size_t)i * c + ch) * inner + j;
                want[o] = ((double)x[o] - mean) * invstd * g + b;
            }
    }
    expect_close("y", y, want, len, FWD_TOL);
    free(want);
    free(x); free(y); free(gamma); free(beta); free(rm); free(rv); free(rm0); free(rv0);
    free(sm); free(si);
}

Test(batchnorm, train_forward_2d) { check_train_forward(3, 5, 7, 1); }
Test(batchnorm, train_forward_1d) { check_train_forward(6, 4, 1, 1); }
Test(batchnorm, train_forward_no_affine) { check_train_forward(2, 3, 10, 0); }
Test(batchnorm, train_forward_m2) { check_train_forward(2, 1, 1, 1); }

Test(batchnorm, eval_forward_uses_running_stats)
{
    const int n = 2, c = 3, inner = 5;
    size_t len = (size_t)n * c * inner;
    cn_rng r;
    cn_rng_seed(&r, 11, 1);
    cn_real *x = rnd(&r, len, 0.0, 1.0), *y = tst_zeros(len), *gamma = rnd(&r, c, 1, 0.5);
    cn_real *beta = rnd(&r, c, 0, 0.5), *rm = rnd(&r, c, 0.3, 0.2), *rv = rnd(&r, c, 2, 0.3);
    cn_real *sm = tst_zeros(c), *si = tst_zeros(c);
    cn_real rm0[3], rv0[3];
    memcpy(rm0, rm, sizeof rm0);
    memcpy(rv0, rv, sizeof rv0);
    cr_assert_eq(cn_batchnorm_forward(n, c, inner, x, gamma, beta, y, 0, MOMENTUM, EPS, rm,
                                      rv, sm, si, NULL),
                 CN_OK);
    cr_assert(memcmp(rm0, rm, sizeof rm0) == 0 && memcmp(rv0, rv, sizeof rv0) == 0,
              "evaluation must not update running statistics");
    for (size_t o = 0; o < len; o++) {
        int ch = (int)((o / inner) % c);
        double want = ((double)x[o] - rm[ch]) / sqrt((double)rv[ch] + EPS) * gamma[ch] +
                      beta[ch];
        expect_close("y", y + o, &want, 1, FWD_TOL);
    }
    for (int ch = 0; ch < c; ch++) {
        double m = rm[ch], is = 1.0 / sqrt((double)rv[ch] + EPS);
        expect_close("save_mean", sm + ch, &m, 1, FWD_TOL);
        expect_close("save_invstd", si + ch, &is, 1, FWD_TOL);
    }
    free(x); free(y); free(gamma); free(beta); free(rm); free(rv); free(sm); free(si);
}

/* Without running statistics evaluation normalises with the batch's (PyTorch's
 * track_running_stats=False), so it equals training mode. In place too. */
Test(batchnorm, eval_without_running_stats_and_in_place)
{
    const int n = 4, c = 2, inner = 3;
    size_t len = (size_t)n * c * inner;
    cn_rng r;
    cn_rng_seed(&r, 12, 1);
    cn_real *x = rnd(&r, len, 1.0, 2.0), *y1 = tst_zeros(len), *y2 = tst_zeros(len);
    cr_assert_eq(cn_batchnorm_forward(n, c, inner, x, NULL, NULL, y1, 1, MOMENTUM, EPS, NULL,
                                      NULL, NULL, NULL, NULL),
                 CN_OK);
    cr_assert_eq(cn_batchnorm_forward(n, c, inner, x, NULL, NULL, y2, 0, MOMENTUM, EPS, NULL,
                                      NULL, NULL, NULL, NULL),
                 CN_OK);
    cr_assert(memcmp(y1, y2, len * sizeof *y1) == 0);
    cr_assert_eq(cn_batchnorm_forward(n, c, inner, x, NULL, NULL, x, 1, MOMENTUM, EPS, NULL,
                                      NULL, NULL, NULL, NULL),
                 CN_OK);
    cr_assert(memcmp(y1, x, len * sizeof *y1) == 0, "in place differs");
    free(x); free(y1); free(y2);
}

/* ------------------------------------------------------------------ gradients */

typedef struct bn_ctx {
    int n, c, inner, training;
    cn_real *x, *gamma, *beta, *rm, *rv, *R, *y;
} bn_ctx;

/* L = sum(y * R); training uses batch statistics without running ones (so the
 * loss does not change state), evaluation the fixed running statistics. */
static double bn_loss(void *vctx, const cn_real *unused)
{
    (void)unused;
    bn_ctx *t = vctx;
    size_t len = (size_t)t->n * t->c * t->inner;
    cn_status st = cn_batchnorm_forward(t->n, t->c, t->inner, t->x, t->gamma, t->beta, t->y,
                                        t->training, MOMENTUM, EPS,
                                        t->training ? NULL : t->rm,
                                        t->training ? NULL : t->rv, NULL, NULL, NULL);
    cr_assert_eq(st, CN_OK);
    double L = 0.0;
    for (size_t i = 0; i < len; i++) L += (double)t->y[i] * (double)t->R[i];
    return L;
}

static void gradcheck_all(const char *what, bn_ctx *t, cn_real *v, size_t len,
                          const cn_real *analytic)
{
    size_t *coords = malloc(len * sizeof *coords);
    for (size_t i = 0; i < len; i++) coords[i] = i;
    cn_gradcheck_result res;
    cn_error err;
    cr_assert_eq(cn_gradcheck(bn_loss, t, v, len, analytic, coords, len, 0, NULL, GC_H, &res,
                              &err),
                 CN_OK, "%s", err.msg);
    cr_log_info("batchnorm %s (%s): max rel err %.3g at %zu (%.9g vs %.9g)", what,
                t->training ? "train" : "eval", res.max_rel_err, res.worst_index,
                res.worst_analytic, res.worst_numeric);
    cr_expect(res.max_rel_err < GC_TOL, "%s: max rel err %g at %zu (%.12g vs %.12g)", what,
              res.max_rel_err, res.worst_index, res.worst_analytic, res.worst_numeric);
    free(coords);
}

/* Batch norm is smooth (eps > 0 keeps the square root away from 0), so every
 * coordinate is checked. */
static void check_gradients(int n, int c, int inner, int training)
{
    cn_rng r;
    cn_rng_seed(&r, 21, (uint64_t)training);
    size_t len = (size_t)n * c * inner;
    bn_ctx t = {n, c, inner, training, rnd(&r, len, 0.4, 1.3), rnd(&r, c, 1.0, 0.4),
                rnd(&r, c, 0.1, 0.4), rnd(&r, c, 0.2, 0.3), rnd(&r, c, 1.2, 0.2),
                rnd(&r, len, 0.0, 1.0), tst_zeros(len)};
    cn_real *sm = tst_zeros(c), *si = tst_zeros(c), *dx = tst_zeros(len), *dg = tst_zeros(c), *db = tst_zeros(c);
    cr_assert_eq(cn_batchnorm_forward(n, c, inner, t.x, t.gamma, t.beta, t.y, training,
                                      MOMENTUM, EPS, training ? NULL : t.rm,
                                      training ? NULL : t.rv, sm, si, NULL),
                 CN_OK);
    cn_batchnorm_backward(n, c, inner, training, t.x, t.gamma, sm, si, t.R, dx, dg, db);
    gradcheck_all("dx", &t, t.x, len, dx);
    gradcheck_all("dgamma", &t, t.gamma, c, dg);
    gradcheck_all("dbeta", &t, t.beta, c, db);

    // parameter gradients accumulate, dx is overwritten
    cn_real *dx2 = tst_zeros(len), *dg2 = tst_zeros(c), *db2 = tst_zeros(c);
    for (size_t i = 0; i < len; i++) dx2[i] = (cn_real)99;
    for (int i = 0; i < c; i++) dg2[i] = dg[i], db2[i] = db[i];
    cn_batchnorm_backward(n, c, inner, training, t.x, t.gamma, sm, si, t.R, dx2, dg2, db2);
    cr_assert(memcmp(dx, dx2, len * sizeof *dx) == 0, "dx must be overwritten");
    for (int i = 0; i < c; i++) {
        double w1 = 2.0 * dg[i], w2 = 2.0 * db[i];
        expect_close("dgamma accumulated", dg2 + i, &w1, 1, FWD_TOL);
        expect_close("dbeta accumulated", db2 + i, &w2, 1, FWD_TOL);
    }
    // NULL outputs are skipped
    cn_batchnorm_backward(n, c, inner, training, t.x, t.gamma, sm, si, t.R, NULL, NULL, NULL);
    free(dx2); free(dg2); free(db2);
    free(t.x); free(t.gamma); free(t.beta); free(t.rm); free(t.rv); free(t.R); free(t.y);
    free(sm); free(si); free(dx); free(dg); free(db);
}

Test(batchnorm, gradients_train_2d) { check_gradients(3, 4, 5, 1); }
Test(batchnorm, gradients_train_1d) { check_gradients(5, 3, 1, 1); }
Test(batchnorm, gradients_eval_2d) { check_gradients(2, 3, 6, 0); }

/* ------------------------------------------------------------------ errors, threads */

Test(batchnorm, argument_errors)
{
    cn_real x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8] = {0}, g[2] = {1, 1}, rm[2] = {0},
            rv[2] = {1, 1};
    cn_error err;
    cr_assert_eq(cn_batchnorm_forward(0, 2, 1, x, NULL, NULL, y, 1, 0.1, EPS, NULL, NULL, NULL,
                                      NULL, &err),
                 CN_ERR_SHAPE);
    cr_assert_eq(cn_batchnorm_forward(2, 2, -1, x, NULL, NULL, y, 1, 0.1, EPS, NULL, NULL,
                                      NULL, NULL, &err),
                 CN_ERR_SHAPE);
    // one value per channel: training refuses, evaluation with running stats works
    cr_assert_eq(cn_batchnorm_forward(1, 2, 1, x, NULL, NULL, y, 1, 0.1, EPS, rm, rv, NULL,
                                      NULL, &err),
                 CN_ERR_SHAPE);
    cr_assert(strstr(err.msg, "more than 1 value per channel"), "%s", err.msg);
    cr_assert(y[0] == 0 && rm[0] == 0 && rv[0] == 1, "outputs touched on error");
    cr_assert_eq(cn_batchnorm_forward(1, 2, 1, x, NULL, NULL, y, 0, 0.1, EPS, rm, rv, NULL,
                                      NULL, &err),
                 CN_OK);
    cr_assert_eq(cn_batchnorm_forward(2, 2, 2, x, g, NULL, y, 1, 0.1, EPS, NULL, NULL, NULL,
                                      NULL, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_batchnorm_forward(2, 2, 2, x, NULL, NULL, y, 1, 0.1, EPS, rm, NULL, NULL,
                                      NULL, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_batchnorm_forward(2, 2, 2, x, NULL, NULL, y, 1, 0.1, EPS, NULL, NULL, rm,
                                      NULL, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_batchnorm_forward(2, 2, 2, x, NULL, NULL, y, 1, 0.1, -1e-3, NULL, NULL,
                                      NULL, NULL, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_batchnorm_forward(2, 2, 2, x, NULL, NULL, y, 1, 0.1, NAN, NULL, NULL,
                                      NULL, NULL, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_batchnorm_forward(2, 2, 2, x, NULL, NULL, y, 1, 1.5, EPS, NULL, NULL,
                                      NULL, NULL, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_batchnorm_forward(2, 2, 2, x, NULL, NULL, y, 1, NAN, EPS, NULL, NULL,
                                      NULL, NULL, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_batchnorm_forward(1 << 30, 1 << 30, 1 << 30, x, NULL, NULL, y, 1, 0.1,
                                      EPS, NULL, NULL, NULL, NULL, &err),
                 CN_ERR_RANGE);
    // eps 0 and a constant channel: invstd is Inf and y NaN, as in PyTorch; no crash
    cn_real cst[4] = {1, 1, 1, 1};
    cr_assert_eq(cn_batchnorm_forward(4, 1, 1, cst, NULL, NULL, y, 1, 0.1, 0.0, NULL, NULL,
                                      NULL, NULL, &err),
                 CN_OK);
    cr_assert(isnan(y[0]));
}

Test(batchnorm, same_result_for_any_thread_count)
{
    const int n = 5, c = 9, inner = 33;
    size_t len = (size_t)n * c * inner;
    cn_rng r;
    cn_rng_seed(&r, 5, 5);
    cn_real *x = rnd(&r, len, 0.3, 2.0), *dy = rnd(&r, len, 0, 1), *g = rnd(&r, c, 1, 0.3);
    cn_real *b = rnd(&r, c, 0, 0.3);
    cn_real *out[2][4];
    for (int k = 0; k < 2; k++) {
        cn_set_num_threads(k + 1);
        cn_real *y = tst_zeros(len), *sm = tst_zeros(c), *si = tst_zeros(c), *dx = tst_zeros(len);
        cn_real *dg = tst_zeros(c);
        cr_assert_eq(cn_batchnorm_forward(n, c, inner, x, g, b, y, 1, 0.1, EPS, NULL, NULL, sm,
                                          si, NULL),
                     CN_OK);
        cn_batchnorm_backward(n, c, inner, 1, x, g, sm, si, dy, dx, dg, NULL);
        out[k][0] = y, out[k][1] = dx, out[k][2] = dg;
        free(sm), free(si);
    }
    cr_assert(memcmp(out[0][0], out[1][0], len * sizeof(cn_real)) == 0);
    cr_assert(memcmp(out[0][1], out[1][1], len * sizeof(cn_real)) == 0);
    cr_assert(memcmp(out[0][2], out[1][2], c * sizeof(cn_real)) == 0);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 3; i++) free(out[k][i]);
    free(x); free(dy); free(g); free(b);
}

/* ------------------------------------------------------------------ PyTorch parity */

#define FIX_DIR "tests/fixtures/norm/"

/* Fixtures are float64. In double the kernels agree with torch to ~1e-14 (the
 * same formulas, summed in another order); 1e-10 leaves room. The float build
 * rounds inputs to float (relative 6e-8) and normalises values of size <= ~5
 * with invstd <= ~1.5, then rounds the result: outputs and dx differ by a few
 * float ulps (measured <= 5e-7); dgamma and dbeta are summed in double from those
 * float inputs, so they too differ by a few ulps of their size (<= ~10). 1e-5
 * bounds all of them with a 20x margin. */
#ifdef CN_DOUBLE
#define PAR_TOL 1e-10
#else
#define PAR_TOL 1e-5
#endif

/* parity_case: <file>.safetensors holds x (n, c, ...), gamma, beta, running_mean0,
 * running_var0, dy, y, dx, dgamma, dbeta, running_mean, running_var; metadata
 * training, eps, momentum. One forward (updating the running statistics in
 * training) and one backward, compared tensor by tensor. */
static void parity_case(const char *file)
{
    char path[256];
    snprintf(path, sizeof path, FIX_DIR "%s.safetensors", file);
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(path, &st, &err), CN_OK, "%s", err.msg);
    int training = (int)tst_fx_meta_num(st, "training");
    double eps = tst_fx_meta_num(st, "eps"), momentum = tst_fx_meta_num(st, "momentum");
    cn_tensor *x = tst_fx_tensor(st, "x", 0), *g = tst_fx_tensor(st, "gamma", 0), *b = tst_fx_tensor(st, "beta", 0);
    cn_tensor *rm = tst_fx_tensor(st, "running_mean0", 0), *rv = tst_fx_tensor(st, "running_var0", 0);
    cn_tensor *dy = tst_fx_tensor(st, "dy", 0), *yr = tst_fx_tensor(st, "y", 0), *dxr = tst_fx_tensor(st, "dx", 0);
    cn_tensor *dgr = tst_fx_tensor(st, "dgamma", 0), *dbr = tst_fx_tensor(st, "dbeta", 0);
    cn_tensor *rmr = tst_fx_tensor(st, "running_mean", 0), *rvr = tst_fx_tensor(st, "running_var", 0);
    cr_assert(x->ndim >= 2);
    int n = x->shape[0], c = x->shape[1], inner = (int)(x->numel / ((size_t)n * c));
    size_t len = x->numel;
    cn_real *y = calloc(len, sizeof *y), *dx = calloc(len, sizeof *dx);
    cn_real *sm = calloc(c, sizeof *sm), *si = calloc(c, sizeof *si);
    cn_real *dg = calloc(c, sizeof *dg), *db = calloc(c, sizeof *db);
    cr_assert_eq(cn_batchnorm_forward(n, c, inner, x->data, g->data, b->data, y, training,
                                      momentum, eps, rm->data, rv->data, sm, si, &err),
                 CN_OK, "%s", err.msg);
    cn_batchnorm_backward(n, c, inner, training, x->data, g->data, sm, si, dy->data, dx, dg,
                          db);
    double e[6] = {tst_max_abs_diff(y, yr->data, len),          tst_max_abs_diff(dx, dxr->data, len),
                   tst_max_abs_diff(dg, dgr->data, c),          tst_max_abs_diff(db, dbr->data, c),
                   tst_max_abs_diff(rm->data, rmr->data, c),    tst_max_abs_diff(rv->data, rvr->data, c)};
    static const char *names[6] = {"y", "dx", "dgamma", "dbeta", "running_mean", "running_var"};
    cr_log_info("parity %s (%s): max abs diff y %.3g, dx %.3g, dgamma %.3g, dbeta %.3g, "
                "running_mean %.3g, running_var %.3g",
                file, CN_REAL_NAME, e[0], e[1], e[2], e[3], e[4], e[5]);
    for (int i = 0; i < 6; i++) cr_expect_lt(e[i], PAR_TOL, "%s %s: %g", file, names[i], e[i]);
    free(y); free(dx); free(sm); free(si); free(dg); free(db);
    cn_tensor *all[] = {x, g, b, rm, rv, dy, yr, dxr, dgr, dbr, rmr, rvr};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) cn_tensor_free(all[i]);
    cn_safetensors_free(st);
}

Test(batchnorm, pytorch_parity_2d_train) { parity_case("batchnorm2d_train"); }
Test(batchnorm, pytorch_parity_2d_eval) { parity_case("batchnorm2d_eval"); }
Test(batchnorm, pytorch_parity_1d_train) { parity_case("batchnorm1d_train"); }
Test(batchnorm, pytorch_parity_1d_eval) { parity_case("batchnorm1d_eval"); }
