/* test_groupnorm.c: layer norm, group norm and instance norm kernels
 * (convnet/norm_kernels.h): forward against reference loops on awkward shapes,
 * instance norm's running statistics, backward checked by centred differences
 * for every input and parameter, gradient accumulation, argument errors,
 * thread-count independence, and parity with PyTorch (tests/fixtures/norm/ from
 * tools/fixtures/norm.py). */
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
    cn_real *v = malloc((len ? len : 1) * sizeof *v);
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

/* ref_seg: mean, biased and unbiased variance of v (m) in long double. */
static void ref_seg(const cn_real *v, size_t m, double *mean, double *var, double *uvar)
{
    long double s = 0, q = 0;
    for (size_t i = 0; i < m; i++) s += v[i];
    long double mu = s / m;
    for (size_t i = 0; i < m; i++) q += (v[i] - mu) * (v[i] - mu);
    *mean = (double)mu;
    *var = (double)(q / m);
    *uvar = m > 1 ? (double)(q / (m - 1)) : NAN;
}

/* ------------------------------------------------------------------ forward */

Test(layernorm, forward_reference)
{
    const int rows = 5, d = 13;
    size_t len = (size_t)rows * d;
    cn_rng r;
    cn_rng_seed(&r, 1, 1);
    cn_real *x = rnd(&r, len, 2.0, 3.0), *y = tst_zeros(len), *g = rnd(&r, d, 1, 0.5);
    cn_real *b = rnd(&r, d, 0, 0.5), *sm = tst_zeros(rows), *si = tst_zeros(rows);
    cn_error err;
    cr_assert_eq(cn_layernorm_forward(rows, d, x, g, b, EPS, y, sm, si, &err), CN_OK, "%s",
                 err.msg);
    for (int i = 0; i < rows; i++) {
        double mean, var, uvar;
        ref_seg(x + (size_t)i * d, d, &mean, &var, &uvar);
        double is = 1.0 / sqrt(var + EPS);
        expect_close("save_mean", sm + i, &mean, 1, FWD_TOL);
        expect_close("save_invstd", si + i, &is, 1, FWD_TOL);
        for (int j = 0; j < d; j++) {
            double w = ((double)x[i * d + j] - mean) * is * g[j] + b[j];
            expect_close("y", y + i * d + j, &w, 1, FWD_TOL);
        }
    }
    // no affine, in place, no saved statistics
    cn_real *y2 = tst_zeros(len);
    cr_assert_eq(cn_layernorm_forward(rows, d, x, NULL, NULL, EPS, y2, NULL, NULL, &err), CN_OK);
    cr_assert_eq(cn_layernorm_forward(rows, d, x, NULL, NULL, EPS, x, NULL, NULL, &err), CN_OK);
    cr_assert(memcmp(x, y2, len * sizeof *x) == 0);
    free(x); free(y); free(g); free(b); free(sm); free(si); free(y2);
}

static void check_groupnorm_forward(int n, int c, int inner, int groups, int affine)
{
    size_t len = (size_t)n * c * inner;
    cn_rng r;
    cn_rng_seed(&r, 2, (uint64_t)groups);
    cn_real *x = rnd(&r, len, -1.0, 2.0), *y = tst_zeros(len);
    cn_real *g = affine ? rnd(&r, c, 1, 0.5) : NULL, *b = affine ? rnd(&r, c, 0, 0.5) : NULL;
    cn_real *sm = tst_zeros((size_t)n * groups), *si = tst_zeros((size_t)n * groups);
    cn_error err;
    cr_assert_eq(cn_groupnorm_forward(n, c, inner, groups, x, g, b, EPS, y, sm, si, &err),
                 CN_OK, "%s", err.msg);
    int cg = c / groups;
    size_t m = (size_t)cg * inner;
    for (int i = 0; i < n; i++)
        for (int gi = 0; gi < groups; gi++) {
            double mean, var, uvar;
            const size_t off = ((size_t)i * groups + gi) * m;
            ref_seg(x + off, m, &mean, &var, &uvar);
            double is = 1.0 / sqrt(var + EPS);
            expect_close("save_mean", sm + i * groups + gi, &mean, 1, FWD_TOL);
            expect_close("save_invstd", si + i * groups + gi, &is, 1, FWD_TOL);
            for (size_t j = 0; j < m; j++) {
                int ch = gi * cg + (int)(j / inner);
                double w = ((double)x[off + j] - mean) * is;
                if (affine) w = w * g[ch] + b[ch];
                expect_close("y", y + off + j, &w, 1, FWD_TOL);
            }
        }
    free(x); free(y); free(g); free(b); free(sm); free(si);
}

Test(groupnorm, forward_reference)
{
    check_groupnorm_forward(3, 6, 5, 3, 1);
    check_groupnorm_forward(2, 6, 7, 1, 1);  // one group: layer norm over (c, h, w)
    check_groupnorm_forward(2, 4, 9, 4, 0);  // groups == c: instance norm
    check_groupnorm_forward(1, 5, 1, 5, 1);  // one value per group: output is beta
}

Test(instancenorm, forward_running_stats)
{
    const int n = 3, c = 4, inner = 6;
    size_t len = (size_t)n * c * inner;
    cn_rng r;
    cn_rng_seed(&r, 3, 1);
    cn_real *x = rnd(&r, len, 0.5, 1.5), *y = tst_zeros(len), *g = rnd(&r, c, 1, 0.3);
    cn_real *b = rnd(&r, c, 0, 0.3), *rm = rnd(&r, c, 0.1, 0.2), *rv = rnd(&r, c, 1.2, 0.1);
    cn_real rm0[4], rv0[4];
    memcpy(rm0, rm, sizeof rm0);
    memcpy(rv0, rv, sizeof rv0);
    cn_real *sm = tst_zeros((size_t)n * c), *si = tst_zeros((size_t)n * c);
    cn_error err;
    cr_assert_eq(cn_instancenorm_forward(n, c, inner, x, g, b, y, 1, MOMENTUM, EPS, rm, rv, sm,
                                         si, &err),
                 CN_OK, "%s", err.msg);
    // training: the same as group norm with groups == c; running stats averaged over n
    cn_real *y2 = tst_zeros(len);
    cr_assert_eq(cn_groupnorm_forward(n, c, inner, c, x, g, b, EPS, y2, NULL, NULL, &err),
                 CN_OK);
    cr_assert(memcmp(y, y2, len * sizeof *y) == 0);
    for (int ch = 0; ch < c; ch++) {
        double sm_ = 0, sv = 0;
        for (int i = 0; i < n; i++) {
            double mean, var, uvar;
            ref_seg(x + ((size_t)i * c + ch) * inner, inner, &mean, &var, &uvar);
            sm_ += mean;
            sv += uvar;
        }
        double wm = 0.9 * rm0[ch] + 0.1 * sm_ / n, wv = 0.9 * rv0[ch] + 0.1 * sv / n;
        expect_close("running_mean", rm + ch, &wm, 1, FWD_TOL);
        expect_close("running_var", rv + ch, &wv, 1, FWD_TOL);
    }
    // evaluation with running statistics: a per-channel affine map, stats unchanged
    memcpy(rm0, rm, sizeof rm0);
    memcpy(rv0, rv, sizeof rv0);
    cr_assert_eq(cn_instancenorm_forward(n, c, inner, x, g, b, y, 0, MOMENTUM, EPS, rm, rv, sm,
                                         si, &err),
                 CN_OK);
    cr_assert(memcmp(rm0, rm, sizeof rm0) == 0 && memcmp(rv0, rv, sizeof rv0) == 0);
    for (size_t o = 0; o < len; o++) {
        int ch = (int)((o / inner) % c);
        double w = ((double)x[o] - rm[ch]) / sqrt((double)rv[ch] + EPS) * g[ch] + b[ch];
        expect_close("y eval", y + o, &w, 1, FWD_TOL);
    }
    // evaluation without running statistics: instance statistics, as in training
    cr_assert_eq(cn_instancenorm_forward(n, c, inner, x, g, b, y, 0, MOMENTUM, EPS, NULL, NULL,
                                         NULL, NULL, &err),
                 CN_OK);
    cr_assert(memcmp(y, y2, len * sizeof *y) == 0);
    free(x); free(y); free(y2); free(g); free(b); free(rm); free(rv); free(sm); free(si);
}

/* ------------------------------------------------------------------ gradients */

enum kind { LAYER, GROUP, INSTANCE };

typedef struct nctx {
    enum kind kind;
    int n, c, inner, groups, batch_stats;  // LAYER: rows n, d = c * inner
    cn_real *x, *gamma, *beta, *rm, *rv, *R, *y;
} nctx;

static size_t nlen(const nctx *t) { return (size_t)t->n * t->c * t->inner; }
static size_t plen(const nctx *t)
{
    return t->kind == LAYER ? (size_t)t->c * t->inner : (size_t)t->c;
}

static cn_status nforward(nctx *t, cn_real *sm, cn_real *si)
{
    switch (t->kind) {
    case LAYER:
        return cn_layernorm_forward(t->n, t->c * t->inner, t->x, t->gamma, t->beta, EPS, t->y,
                                    sm, si, NULL);
    case GROUP:
        return cn_groupnorm_forward(t->n, t->c, t->inner, t->groups, t->x, t->gamma, t->beta,
                                    EPS, t->y, sm, si, NULL);
    default:
        return cn_instancenorm_forward(t->n, t->c, t->inner, t->x, t->gamma, t->beta, t->y,
                                       0, MOMENTUM, EPS, t->batch_stats ? NULL : t->rm,
                                       t->batch_stats ? NULL : t->rv, sm, si, NULL);
    }
}

static void nbackward(nctx *t, const cn_real *sm, const cn_real *si, cn_real *dx, cn_real *dg,
                      cn_real *db)
{
    switch (t->kind) {
    case LAYER:
        cn_layernorm_backward(t->n, t->c * t->inner, t->x, t->gamma, sm, si, t->R, dx, dg, db);
        break;
    case GROUP:
        cn_groupnorm_backward(t->n, t->c, t->inner, t->groups, t->x, t->gamma, sm, si, t->R, dx,
                              dg, db);
        break;
    default:
        cn_instancenorm_backward(t->n, t->c, t->inner, t->batch_stats, t->x, t->gamma, sm, si,
                                 t->R, dx, dg, db);
    }
}

static double nloss(void *vctx, const cn_real *unused)
{
    (void)unused;
    nctx *t = vctx;
    cr_assert_eq(nforward(t, NULL, NULL), CN_OK);
    double L = 0.0;
    for (size_t i = 0; i < nlen(t); i++) L += (double)t->y[i] * (double)t->R[i];
    return L;
}

static void gradcheck_all(const char *what, nctx *t, cn_real *v, size_t len,
                          const cn_real *analytic)
{
    static const char *names[] = {"layernorm", "groupnorm", "instancenorm"};
    size_t *coords = malloc(len * sizeof *coords);
    for (size_t i = 0; i < len; i++) coords[i] = i;
    cn_gradcheck_result res;
    cn_error err;
    cr_assert_eq(cn_gradcheck(nloss, t, v, len, analytic, coords, len, 0, NULL, GC_H, &res,
                              &err),
                 CN_OK, "%s", err.msg);
    cr_log_info("%s %s: max rel err %.3g at %zu (%.9g vs %.9g)", names[t->kind], what,
                res.max_rel_err, res.worst_index, res.worst_analytic, res.worst_numeric);
    cr_expect(res.max_rel_err < GC_TOL, "%s %s: max rel err %g at %zu (%.12g vs %.12g)",
              names[t->kind], what, res.max_rel_err, res.worst_index, res.worst_analytic,
              res.worst_numeric);
    free(coords);
}

/* Every normalisation here is smooth (eps > 0), so every coordinate is checked
 * (check_dx 0 skips dx, see gradients_wide). */
static void check_gradients(enum kind kind, int n, int c, int inner, int groups,
                            int batch_stats, int affine, int check_dx)
{
    cn_rng r;
    cn_rng_seed(&r, 31, (uint64_t)(kind * 10 + groups));
    nctx t = {kind, n, c, inner, groups, batch_stats, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    size_t len = nlen(&t), pl = plen(&t);
    size_t ns = kind == LAYER ? (size_t)n : kind == GROUP ? (size_t)n * groups : (size_t)n * c;
    t.x = rnd(&r, len, 0.4, 1.3);
    t.gamma = affine ? rnd(&r, pl, 1.0, 0.4) : NULL;
    t.beta = affine ? rnd(&r, pl, 0.1, 0.4) : NULL;
    t.rm = rnd(&r, c, 0.2, 0.3);
    t.rv = rnd(&r, c, 1.2, 0.2);
    t.R = rnd(&r, len, 0.0, 1.0);
    t.y = tst_zeros(len);
    cn_real *sm = tst_zeros(ns), *si = tst_zeros(ns), *dx = tst_zeros(len), *dg = tst_zeros(pl), *db = tst_zeros(pl);
    cr_assert_eq(nforward(&t, sm, si), CN_OK);
    nbackward(&t, sm, si, dx, affine ? dg : NULL, affine ? db : NULL);
    if (check_dx) gradcheck_all("dx", &t, t.x, len, dx);
    if (affine) {
        gradcheck_all("dgamma", &t, t.gamma, pl, dg);
        gradcheck_all("dbeta", &t, t.beta, pl, db);
        // parameter gradients accumulate, dx is overwritten
        cn_real *dx2 = tst_zeros(len), *dg2 = tst_zeros(pl), *db2 = tst_zeros(pl);
        for (size_t i = 0; i < len; i++) dx2[i] = (cn_real)-7;
        memcpy(dg2, dg, pl * sizeof *dg);
        memcpy(db2, db, pl * sizeof *db);
        nbackward(&t, sm, si, dx2, dg2, db2);
        cr_assert(memcmp(dx, dx2, len * sizeof *dx) == 0, "dx must be overwritten");
        for (size_t i = 0; i < pl; i++) {
            double w1 = 2.0 * dg[i], w2 = 2.0 * db[i];
            expect_close("dgamma accumulated", dg2 + i, &w1, 1, FWD_TOL);
            expect_close("dbeta accumulated", db2 + i, &w2, 1, FWD_TOL);
        }
        free(dx2); free(dg2); free(db2);
    }
    free(t.x); free(t.gamma); free(t.beta); free(t.rm); free(t.rv); free(t.R); free(t.y);
    free(sm); free(si); free(dx); free(dg); free(db);
}

Test(layernorm, gradients) { check_gradients(LAYER, 3, 2, 5, 0, 1, 1, 1); }
/* d = 66 crosses LN_BLOCK (64 columns), which only the parameter gradients use.
 * L is linear in gamma and beta, so their centred differences are exact up to
 * roundoff and every coordinate meets 1e-7. dx (checked at the other shapes) is
 * not checked here: centred differences in double carry ~1e-10 absolute error
 * (roundoff of |L| ~ 10 over h = 1e-5, plus h^2 truncation), so with 132
 * coordinates some gradient is small enough (~2e-3) to sit at ~1e-7 relative,
 * on one side or the other of the bound depending on the compiler. */
Test(layernorm, gradients_wide) { check_gradients(LAYER, 2, 3, 22, 0, 1, 1, 0); }
Test(layernorm, gradients_no_affine) { check_gradients(LAYER, 4, 1, 6, 0, 1, 0, 1); }
Test(groupnorm, gradients) { check_gradients(GROUP, 2, 6, 5, 3, 1, 1, 1); }
Test(groupnorm, gradients_one_group) { check_gradients(GROUP, 2, 4, 3, 1, 1, 1, 1); }
Test(groupnorm, gradients_no_affine) { check_gradients(GROUP, 3, 4, 2, 2, 1, 0, 1); }
Test(instancenorm, gradients) { check_gradients(INSTANCE, 3, 3, 7, 0, 1, 1, 1); }
Test(instancenorm, gradients_eval_running) { check_gradients(INSTANCE, 2, 3, 5, 0, 0, 1, 1); }

/* ------------------------------------------------------------------ errors, threads */

Test(groupnorm, argument_errors)
{
    cn_real x[12] = {0}, y[12] = {0}, g[4] = {1, 1, 1, 1}, rm[4] = {0}, rv[4] = {1, 1, 1, 1};
    cn_error err;
    cr_assert_eq(cn_layernorm_forward(0, 3, x, NULL, NULL, EPS, y, NULL, NULL, &err),
                 CN_ERR_SHAPE);
    cr_assert_eq(cn_layernorm_forward(2, 3, x, g, NULL, EPS, y, NULL, NULL, &err), CN_ERR_ARG);
    cr_assert_eq(cn_layernorm_forward(2, 3, x, NULL, NULL, -1, y, NULL, NULL, &err), CN_ERR_ARG);
    cr_assert_eq(cn_layernorm_forward(2, 3, x, NULL, NULL, EPS, y, g, NULL, &err), CN_ERR_ARG);
    cr_assert_eq(cn_groupnorm_forward(1, 4, 3, 3, x, NULL, NULL, EPS, y, NULL, NULL, &err),
                 CN_ERR_SHAPE);
    cr_assert(strstr(err.msg, "divide"), "%s", err.msg);
    cr_assert_eq(cn_groupnorm_forward(1, 4, 3, 0, x, NULL, NULL, EPS, y, NULL, NULL, &err),
                 CN_ERR_SHAPE);
    cr_assert_eq(cn_groupnorm_forward(1 << 30, 1 << 30, 1 << 30, 1, x, NULL, NULL, EPS, y, NULL,
                                      NULL, &err),
                 CN_ERR_RANGE);
    cr_assert_eq(cn_groupnorm_forward(1, 4, 3, 2, x, NULL, NULL, INFINITY, y, NULL, NULL, &err),
                 CN_ERR_ARG);
    // instance norm with one position: training refuses, evaluation with stats works
    cr_assert_eq(cn_instancenorm_forward(3, 4, 1, x, NULL, NULL, y, 1, 0.1, EPS, rm, rv, NULL,
                                         NULL, &err),
                 CN_ERR_SHAPE);
    cr_assert(strstr(err.msg, "more than 1 spatial element"), "%s", err.msg);
    cr_assert_eq(cn_instancenorm_forward(3, 4, 1, x, NULL, NULL, y, 0, 0.1, EPS, NULL, NULL,
                                         NULL, NULL, &err),
                 CN_ERR_SHAPE);
    cr_assert_eq(cn_instancenorm_forward(3, 4, 1, x, NULL, NULL, y, 0, 0.1, EPS, rm, rv, NULL,
                                         NULL, &err),
                 CN_OK);
    cr_assert_eq(cn_instancenorm_forward(1, 4, 3, x, NULL, NULL, y, 1, 0.1, EPS, rm, NULL, NULL,
                                         NULL, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_instancenorm_forward(1, 4, 3, x, NULL, NULL, y, 1, -0.5, EPS, rm, rv, NULL,
                                         NULL, &err),
                 CN_ERR_ARG);
}

Test(groupnorm, same_result_for_any_thread_count)
{
    const int n = 3, c = 8, inner = 21, groups = 4;
    size_t len = (size_t)n * c * inner;
    cn_rng r;
    cn_rng_seed(&r, 9, 9);
    cn_real *x = rnd(&r, len, 0.3, 2.0), *dy = rnd(&r, len, 0, 1), *g = rnd(&r, len, 1, 0.3);
    cn_real *b = rnd(&r, len, 0, 0.3);
    cn_real *res[2][6];
    for (int k = 0; k < 2; k++) {
        cn_set_num_threads(k + 1);
        cn_real *y = tst_zeros(len), *dx = tst_zeros(len), *dg = tst_zeros(len), *ly = tst_zeros(len);
        cn_real *ldx = tst_zeros(len), *ldg = tst_zeros(len);
        cn_real sm[24], si[24];
        cr_assert_eq(cn_groupnorm_forward(n, c, inner, groups, x, g, b, EPS, y, sm, si, NULL),
                     CN_OK);
        cn_groupnorm_backward(n, c, inner, groups, x, g, sm, si, dy, dx, dg, NULL);
        cr_assert_eq(cn_layernorm_forward(n, c * inner, x, g, b, EPS, ly, sm, si, NULL), CN_OK);
        cn_layernorm_backward(n, c * inner, x, g, sm, si, dy, ldx, ldg, NULL);
        res[k][0] = y, res[k][1] = dx, res[k][2] = dg, res[k][3] = ly, res[k][4] = ldx;
        res[k][5] = ldg;
    }
    for (int i = 0; i < 6; i++)
        cr_assert(memcmp(res[0][i], res[1][i], (i == 2 ? (size_t)c : len) * sizeof(cn_real)) == 0,
                  "output %d differs", i);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 6; i++) free(res[k][i]);
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


/* parity_case: <file>.safetensors holds x (n, c, h, w), gamma, beta, dy, y, dx,
 * dgamma, dbeta (and running_mean0 / running_var0 / running_mean / running_var for
 * instance norm with running statistics); metadata gives eps and the layer's
 * other parameters. kind picks the kernel. */
static void parity_case(const char *file, enum kind kind)
{
    char path[256];
    snprintf(path, sizeof path, FIX_DIR "%s.safetensors", file);
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(path, &st, &err), CN_OK, "%s", err.msg);
    int training = (int)tst_fx_meta_num(st, "training");
    double eps = tst_fx_meta_num(st, "eps");
    cn_tensor *x = tst_fx_tensor(st, "x", 0), *g = tst_fx_tensor(st, "gamma", 0), *b = tst_fx_tensor(st, "beta", 0);
    cn_tensor *dy = tst_fx_tensor(st, "dy", 0), *yr = tst_fx_tensor(st, "y", 0), *dxr = tst_fx_tensor(st, "dx", 0);
    cn_tensor *dgr = tst_fx_tensor(st, "dgamma", 0), *dbr = tst_fx_tensor(st, "dbeta", 0);
    cn_tensor *rm = NULL, *rv = NULL, *rmr = NULL, *rvr = NULL;
    if (cn_safetensors_find(st, "running_mean0")) {
        rm = tst_fx_tensor(st, "running_mean0", 0), rv = tst_fx_tensor(st, "running_var0", 0);
        rmr = tst_fx_tensor(st, "running_mean", 0), rvr = tst_fx_tensor(st, "running_var", 0);
    }
    cr_assert_eq(x->ndim, 4);
    int n = x->shape[0], c = x->shape[1], inner = x->shape[2] * x->shape[3];
    size_t len = x->numel, pl = g->numel, ns = (size_t)n * c;
    cn_real *y = calloc(len, sizeof *y), *dx = calloc(len, sizeof *dx);
    cn_real *sm = calloc(ns, sizeof *sm), *si = calloc(ns, sizeof *si);
    cn_real *dg = calloc(pl, sizeof *dg), *db = calloc(pl, sizeof *db);
    if (kind == LAYER) {
        int d = (int)tst_fx_meta_num(st, "d"), rows = (int)(len / (size_t)d);
        cr_assert_eq(cn_layernorm_forward(rows, d, x->data, g->data, b->data, eps, y, sm, si,
                                          &err),
                     CN_OK, "%s", err.msg);
        cn_layernorm_backward(rows, d, x->data, g->data, sm, si, dy->data, dx, dg, db);
    } else if (kind == GROUP) {
        int groups = (int)tst_fx_meta_num(st, "groups");
        cr_assert_eq(cn_groupnorm_forward(n, c, inner, groups, x->data, g->data, b->data, eps,
                                          y, sm, si, &err),
                     CN_OK, "%s", err.msg);
        cn_groupnorm_backward(n, c, inner, groups, x->data, g->data, sm, si, dy->data, dx, dg,
                              db);
    } else {
        double momentum = tst_fx_meta_num(st, "momentum");
        cr_assert_eq(cn_instancenorm_forward(n, c, inner, x->data, g->data, b->data, y,
                                             training, momentum, eps, rm ? rm->data : NULL,
                                             rv ? rv->data : NULL, sm, si, &err),
                     CN_OK, "%s", err.msg);
        cn_instancenorm_backward(n, c, inner, training || !rm, x->data, g->data, sm, si,
                                 dy->data, dx, dg, db);
    }
    double e[6] = {tst_max_abs_diff(y, yr->data, len), tst_max_abs_diff(dx, dxr->data, len),
                   tst_max_abs_diff(dg, dgr->data, pl), tst_max_abs_diff(db, dbr->data, pl),
                   rm ? tst_max_abs_diff(rm->data, rmr->data, c) : 0,
                   rv ? tst_max_abs_diff(rv->data, rvr->data, c) : 0};
    static const char *names[6] = {"y", "dx", "dgamma", "dbeta", "running_mean", "running_var"};
    cr_log_info("parity %s (%s): max abs diff y %.3g, dx %.3g, dgamma %.3g, dbeta %.3g, "
                "running_mean %.3g, running_var %.3g",
                file, CN_REAL_NAME, e[0], e[1], e[2], e[3], e[4], e[5]);
    for (int i = 0; i < 6; i++) cr_expect_lt(e[i], PAR_TOL, "%s %s: %g", file, names[i], e[i]);
    free(y); free(dx); free(sm); free(si); free(dg); free(db);
    cn_tensor *all[] = {x, g, b, dy, yr, dxr, dgr, dbr, rm, rv, rmr, rvr};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) cn_tensor_free(all[i]);
    cn_safetensors_free(st);
}

Test(layernorm, pytorch_parity) { parity_case("layernorm", LAYER); }
Test(groupnorm, pytorch_parity) { parity_case("groupnorm", GROUP); }
Test(instancenorm, pytorch_parity) { parity_case("instancenorm2d", INSTANCE); }
Test(instancenorm, pytorch_parity_running_train)
{
    parity_case("instancenorm2d_running_train", INSTANCE);
}
Test(instancenorm, pytorch_parity_running_eval)
{
    parity_case("instancenorm2d_running_eval", INSTANCE);
}
