/* test_loss_ce.c: softmax cross-entropy (class weights, label smoothing) and KL
 * divergence kernels: reference loops and closed forms, finite-difference
 * gradient checks, the label check, and parity with PyTorch 1.13
 * (tests/fixtures/loss/ce.safetensors from tools/fixtures/loss.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/classic.h"
#include "convnet/loss_kernels.h"
#include "support.h"
#include "convnet/safetensors.h"

#define FIXTURE "tests/fixtures/loss/ce.safetensors"

/* Gradient checks: centred differences with step GC_H; the losses are smooth, so
 * in double the absolute error is truncation (h^2 f''' / 6, ~1e-10) plus
 * roundoff (1e-16 |f| / h, ~1e-12); logits of scale 0.5 keep every probability
 * near 1/c, so no gradient coordinate is tiny and the relative error stays
 * below 1e-7. In float the inputs move by float steps and dx is rounded to
 * float; the forward still sums in double, so 1e-3 holds. Parity: fixtures are
 * float64; in double the kernels match autograd to rounding (1e-12); in float
 * inputs and outputs are rounded to float (relative 6e-8), a loss of O(1) and
 * gradients of O(0.1) then differ by ~1e-7, so 1e-5 leaves a wide margin. */
#ifdef CN_DOUBLE
#define GC_H 1e-4
#define GC_TOL 1e-7
#define PARITY_TOL 1e-12
#else
#define GC_H 1e-3
#define GC_TOL 1e-3
#define PARITY_TOL 1e-5
#endif

/* ------------------------------------------------------------------ helpers */

static double grad_err(double (*fn)(void *), void *arg, double scale, cn_real *x, size_t n,
                       const cn_real *analytic)
{
    return tst_grad_err(fn, arg, scale, x, n, analytic, GC_H);
}

/* ------------------------------------------------------------------ references */

/* ref_ce: the PyTorch 1.13 formula written out: -log p via an unshifted
 * log-sum-exp (inputs here are moderate), weights as documented. */
static double ref_ce(int n, int c, const cn_real *x, const int *y, const cn_real *w,
                     double eps)
{
    double num = 0.0, den = 0.0;
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int j = 0; j < c; j++) s += exp((double)x[i * c + j]);
        double wy = w ? (double)w[y[i]] : 1.0;
        num += (1.0 - eps) * wy * (log(s) - (double)x[i * c + y[i]]);
        for (int j = 0; j < c; j++)
            num += eps / c * (w ? (double)w[j] : 1.0) * (log(s) - (double)x[i * c + j]);
        den += wy;
    }
    return num / den;
}

static double ref_kl(int n, int c, const cn_real *x, const cn_real *t)
{
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int j = 0; j < c; j++) s += exp((double)x[i * c + j]);
        for (int j = 0; j < c; j++) {
            double tj = (double)t[i * c + j];
            if (tj > 0) total += tj * (log(tj) - ((double)x[i * c + j] - log(s)));
        }
    }
    return total / n;
}

/* ------------------------------------------------------------------ CE */

typedef struct ce_args {
    int n, c;
    cn_real *x, *w, *t;
    int *y;
    double eps;
} ce_args;

static double ce_fn(void *a)
{
    ce_args *p = a;
    return cn_softmax_ce_forward(p->n, p->c, p->x, p->y, p->w, p->eps);
}

static double kl_fn(void *a)
{
    ce_args *p = a;
    return cn_kl_div_forward(p->n, p->c, p->x, p->t);
}

static ce_args ce_make(int n, int c, double scale, uint64_t seed)
{
    cn_rng r;
    cn_rng_seed(&r, seed, 0);
    ce_args a = {n, c, tst_reals((size_t)n * c), tst_reals((size_t)c), tst_reals((size_t)n * c),
                 malloc((size_t)n * sizeof(int)), 0.0};
    cr_assert(a.y);
    tst_fill_normal(&r, a.x, (size_t)n * c, scale);
    for (int j = 0; j < c; j++) a.w[j] = (cn_real)(0.2 + 2.0 * cn_rng_uniform(&r));
    for (int i = 0; i < n; i++) a.y[i] = (int)cn_rng_below(&r, (uint32_t)c);
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int j = 0; j < c; j++) s += (a.t[i * c + j] = (cn_real)cn_rng_uniform(&r));
        for (int j = 0; j < c; j++) a.t[i * c + j] = (cn_real)((double)a.t[i * c + j] / s);
    }
    if (n * c > 2) a.t[2] = 0;  // one exact zero in the target (0 log 0 = 0)
    return a;
}

static void ce_free(ce_args *a)
{
    free(a->x);
    free(a->w);
    free(a->t);
    free(a->y);
}

Test(loss_ce, forward_matches_reference_awkward_shapes)
{
    const int shapes[][2] = {{1, 1}, {1, 2}, {7, 13}, {3, 1}, {17, 3}};
    const double epss[] = {0.0, 0.1, 0.37, 1.0};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        ce_args a = ce_make(shapes[s][0], shapes[s][1], 1.5, 10 + s);
        for (size_t e = 0; e < 4; e++) {
            for (int wt = 0; wt < 2; wt++) {
                cn_real *w = wt ? a.w : NULL;
                double got = cn_softmax_ce_forward(a.n, a.c, a.x, a.y, w, epss[e]);
                double ref = ref_ce(a.n, a.c, a.x, a.y, w, epss[e]);
                cr_expect(fabs(got - ref) <= 1e-12 * fmax(1.0, fabs(ref)),
                          "n %d c %d eps %g w %d: %.17g vs %.17g", a.n, a.c, epss[e], wt, got,
                          ref);
            }
        }
        double kl = cn_kl_div_forward(a.n, a.c, a.x, a.t);
        double klr = ref_kl(a.n, a.c, a.x, a.t);
        cr_expect(fabs(kl - klr) <= 1e-12 * fmax(1.0, fabs(klr)), "kl %.17g vs %.17g", kl, klr);
        ce_free(&a);
    }
}

Test(loss_ce, closed_forms)
{
    /* x = (0, ln 3): p = (1/4, 3/4) */
    cn_real x[2] = {0, (cn_real)log(3.0)};
    int y1 = 1, y0 = 0;
    cr_expect(fabs(cn_softmax_ce_forward(1, 2, x, &y1, NULL, 0.0) - log(4.0 / 3.0)) < 1e-6);
    cr_expect(fabs(cn_softmax_ce_forward(1, 2, x, &y0, NULL, 0.0) - log(4.0)) < 1e-6);
    /* eps = 1: the uniform mixture, -(log 1/4 + log 3/4) / 2 */
    double u = -0.5 * (log(0.25) + log(0.75));
    cr_expect(fabs(cn_softmax_ce_forward(1, 2, x, &y0, NULL, 1.0) - u) < 1e-6);
    /* equal logits: log c whatever the labels and smoothing, and whatever the
     * weights without smoothing; with both, PyTorch's normalisation gives
     * log c ((1 - eps) + eps mean_j(w_j) n / sum_i w_{y_i}) */
    cn_real z[12] = {0};
    int yz[3] = {0, 3, 2};
    cn_real w[4] = {0.5, 1, 2, 3};
    for (int e = 0; e < 3; e++)
        cr_expect(fabs(cn_softmax_ce_forward(3, 4, z, yz, NULL, 0.3 * e) - log(4.0)) < 1e-6);
    cr_expect(fabs(cn_softmax_ce_forward(3, 4, z, yz, w, 0.0) - log(4.0)) < 1e-6);
    double wz = log(4.0) * (0.7 + 0.3 * (6.5 / 4) * 3 / 5.5);
    cr_expect(fabs(cn_softmax_ce_forward(3, 4, z, yz, w, 0.3) - wz) < 1e-6);
    /* weighted mean: sum w_y l / sum w_y (two samples, classes 0 and 1) */
    cn_real x2[4] = {0, (cn_real)log(3.0), 0, (cn_real)log(3.0)};
    int y2[2] = {0, 1};
    cn_real w2[2] = {1, 3};
    double want = (1 * log(4.0) + 3 * log(4.0 / 3.0)) / 4;
    cr_expect(fabs(cn_softmax_ce_forward(2, 2, x2, y2, w2, 0.0) - want) < 1e-6);
    /* gradient of the plain CE is (p - onehot) / n */
    cn_real dx[2];
    cn_softmax_ce_backward(1, 2, x, &y1, NULL, 0.0, 2.0, dx);
    cr_expect(fabs((double)dx[0] - 0.5) < 1e-6 && fabs((double)dx[1] + 0.5) < 1e-6);
    /* KL to softmax(x) itself is 0, and so is its gradient */
    cn_real t[2] = {0.25, 0.75};
    cr_expect(fabs(cn_kl_div_forward(1, 2, x, t)) < 1e-7);
    cn_kl_div_backward(1, 2, x, t, 1.0, dx);
    cr_expect(fabs((double)dx[0]) < 1e-7 && fabs((double)dx[1]) < 1e-7);
}

Test(loss_ce, large_logits_stay_finite)
{
    cn_real x[6] = {1000, -1000, 500, 80, 89, -3000};
    int y[2] = {1, 2};
    cn_real dx[6];
    double l = cn_softmax_ce_forward(2, 3, x, y, NULL, 0.1);
    cr_assert(isfinite(l), "loss %g", l);
    cr_expect(fabs(l - ((0.9 * 2000 + 0.1 / 3 * (2000 + 0 + 500)) +
                        (0.9 * 3089 + 0.1 / 3 * (9 + 0 + 3089))) / 2) < 1e-3 * l);
    cn_softmax_ce_backward(2, 3, x, y, NULL, 0.1, 1.0, dx);
    for (int i = 0; i < 6; i++) cr_expect(isfinite((double)dx[i]));
    cn_real t[6] = {0, 1, 0, 0.5, 0.5, 0};
    cr_expect(isfinite(cn_kl_div_forward(2, 3, x, t)));
}

Test(loss_ce, gradcheck)
{
    const double epss[] = {0.0, 0.15, 1.0};
    ce_args a = ce_make(5, 6, 0.5, 3);
    size_t nx = (size_t)a.n * a.c;
    cn_real *dx = tst_reals(nx);
    for (int e = 0; e < 3; e++) {
        for (int wt = 0; wt < 2; wt++) {
            a.eps = epss[e];
            cn_real *w = a.w;
            if (!wt) a.w = NULL;
            tst_fill_nan(dx, nx);  // the backward overwrites
            cn_softmax_ce_backward(a.n, a.c, a.x, a.y, a.w, a.eps, 0.7, dx);
            double e1 = grad_err(ce_fn, &a, 0.7, a.x, nx, dx);
            cr_log_info("ce eps %g weights %d (%s): max rel err %.3g", a.eps, wt,
                        CN_REAL_NAME, e1);
            cr_expect_leq(e1, GC_TOL, "ce eps %g weights %d: %g", a.eps, wt, e1);
            a.w = w;
        }
    }
    tst_fill_nan(dx, nx);
    cn_kl_div_backward(a.n, a.c, a.x, a.t, 0.7, dx);
    double e2 = grad_err(kl_fn, &a, 0.7, a.x, nx, dx);
    cr_log_info("kl (%s): max rel err %.3g", CN_REAL_NAME, e2);
    cr_expect_leq(e2, GC_TOL, "kl: %g", e2);
    free(dx);
    ce_free(&a);
}

Test(loss_ce, check_labels)
{
    int y[4] = {0, 2, 3, 1};
    cn_error err;
    cr_expect_eq(cn_loss_check_labels(y, 4, 4, &err), CN_OK);
    cr_expect_eq(cn_loss_check_labels(y, 0, 4, &err), CN_OK);
    cr_expect_eq(cn_loss_check_labels(y, 4, 3, &err), CN_ERR_RANGE);
    cr_expect(strstr(err.msg, "index 2") && strstr(err.msg, "label 3"), "%s", err.msg);
    y[1] = -1;
    cr_expect_eq(cn_loss_check_labels(y, 4, 4, &err), CN_ERR_RANGE);
    cr_expect(strstr(err.msg, "index 1"), "%s", err.msg);
    cr_expect_eq(cn_loss_check_labels(NULL, 2, 4, &err), CN_ERR_ARG);
    cr_expect_eq(cn_loss_check_labels(y, 2, 0, NULL), CN_ERR_ARG);
}

/* ------------------------------------------------------------------ parity */

Test(loss_ce, pytorch_parity)
{
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(FIXTURE, &st, &err), CN_OK, "%s", err.msg);
    const int n = 6, c = 5;
    size_t nx = (size_t)n * c;
    double dloss = tst_fx_scalar(st, "dloss");
    cn_real *x = tst_fx_reals(st, "ce.x", nx);
    cn_real *w = tst_fx_reals(st, "ce.weight", (size_t)c);
    int *y = tst_fx_labels(st, "ce.y", (size_t)n);
    cn_real *dx = tst_reals(nx);
    const char *cases[] = {"ce_plain", "ce_w", "ce_ls", "ce_w_ls"};
    char key[64];
    for (int k = 0; k < 4; k++) {
        const cn_real *wk = (k == 1 || k == 3) ? w : NULL;
        snprintf(key, sizeof key, "%s.eps", cases[k]);
        double eps = tst_fx_scalar(st, key);
        snprintf(key, sizeof key, "%s.loss", cases[k]);
        double ref = tst_fx_scalar(st, key);
        snprintf(key, sizeof key, "%s.dx", cases[k]);
        cn_real *rdx = tst_fx_reals(st, key, nx);
        double l = cn_softmax_ce_forward(n, c, x, y, wk, eps);
        tst_fill_nan(dx, nx);
        cn_softmax_ce_backward(n, c, x, y, wk, eps, dloss, dx);
        double el = fabs(l - ref), ed = tst_max_abs_diff(dx, rdx, nx);
        cr_log_info("%s (%s): |loss diff| %.3g, max |dx diff| %.3g", cases[k], CN_REAL_NAME,
                    el, ed);
        cr_expect_leq(el, PARITY_TOL, "%s: loss %.17g, PyTorch %.17g", cases[k], l, ref);
        cr_expect_leq(ed, PARITY_TOL, "%s: dx max diff %g", cases[k], ed);
        free(rdx);
    }
    cn_real *t = tst_fx_reals(st, "kl.t", nx);
    cn_real *rdx = tst_fx_reals(st, "kl.dx", nx);
    double ref = tst_fx_scalar(st, "kl.loss");
    double l = cn_kl_div_forward(n, c, x, t);
    tst_fill_nan(dx, nx);
    cn_kl_div_backward(n, c, x, t, dloss, dx);
    double el = fabs(l - ref), ed = tst_max_abs_diff(dx, rdx, nx);
    cr_log_info("kl (%s): |loss diff| %.3g, max |dx diff| %.3g", CN_REAL_NAME, el, ed);
    cr_expect_leq(el, PARITY_TOL, "kl: loss %.17g, PyTorch %.17g", l, ref);
    cr_expect_leq(ed, PARITY_TOL, "kl: dx max diff %g", ed);
    free(t);
    free(rdx);
    free(x);
    free(w);
    free(y);
    free(dx);
    cn_safetensors_free(st);
}
