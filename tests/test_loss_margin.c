/* test_loss_margin.c: multiclass hinge, squared hinge, ramp and L-Softmax
 * kernels: hand-computed cases and reference loops, the subgradient at kinks,
 * finite-difference gradient checks away from kinks, and parity with PyTorch
 * 1.13's multi_margin_loss * C (tests/fixtures/loss/margin.safetensors from
 * tools/fixtures/loss.py). L-Softmax and the ramp have no PyTorch counterpart:
 * they are checked by hand-computed values and gradient checks. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/classic.h"
#include "convnet/loss_kernels.h"
#include "support.h"
#include "convnet/safetensors.h"

#define FIXTURE "tests/fixtures/loss/margin.safetensors"

/* Gradient checks: the hinge losses are piecewise polynomial; inputs are drawn
 * so that every margin is at least KINK_GAP from a kink, far beyond the step
 * GC_H, so the centred difference never straddles one. Then the hinge is exact
 * up to roundoff and the squared hinge up to roundoff too (its third derivative
 * is 0); in double 1e-7 holds. L-Softmax is smooth (psi is C^1 in theta with
 * zero slope at the piece boundaries; the test keeps theta 0.02 away from them
 * so the step never crosses one); its third derivatives are large (psi is a
 * degree-m polynomial in cos theta, times |W||x|), so in double a smaller step
 * GC_H_LS keeps the h^2 truncation below 1e-7. In float the inputs move by float steps and
 * dx is rounded to float; the L-Softmax logits also come from a float GEMM, an
 * error of ~1e-7 |f| that the step of 1e-3 magnifies to ~1e-4 of a gradient of
 * ~0.05: hence 2e-2 there. Parity: as test_loss_ce.c. */
#ifdef CN_DOUBLE
#define GC_H 1e-4
#define GC_TOL 1e-7
#define GC_TOL_LS 1e-7
#define GC_H_LS 1e-5
#define PARITY_TOL 1e-12
#else
#define GC_H 1e-3
#define GC_TOL 1e-3
#define GC_TOL_LS 2e-2
#define GC_H_LS 1e-3
#define PARITY_TOL 1e-5
#endif
#define KINK_GAP 0.02

/* ------------------------------------------------------------------ helpers */

static double grad_err(double (*fn)(void *), void *arg, double scale, cn_real *x, size_t n,
                       const cn_real *analytic)
{
    return tst_grad_err(fn, arg, scale, x, n, analytic, GC_H);
}

/* ------------------------------------------------------------------ hinge & ramp */

/* ref_margin: the per-sample sum over j != y of the penalty, mean over rows.
 * kind 0 hinge, 1 squared, 2 ramp (cap). */
static double ref_margin(int kind, int n, int c, const cn_real *x, const int *y,
                         double margin, double cap)
{
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < c; j++) {
            if (j == y[i]) continue;
            double m = fmax(0.0, (double)x[i * c + j] - (double)x[i * c + y[i]] + margin);
            total += kind == 0 ? m : (kind == 1 ? m * m : fmin(m, cap));
        }
    }
    return total / n;
}

typedef struct mg_args {
    int kind, n, c;
    cn_real *x;
    int *y;
    double margin, cap;
} mg_args;

static double mg_forward(const mg_args *a)
{
    if (a->kind == 2) return cn_ramp_forward(a->n, a->c, a->x, a->y, a->margin, a->cap);
    return cn_multi_hinge_forward(a->n, a->c, a->x, a->y, a->margin, a->kind == 1);
}

static void mg_backward(const mg_args *a, double dloss, cn_real *dx)
{
    if (a->kind == 2)
        cn_ramp_backward(a->n, a->c, a->x, a->y, a->margin, a->cap, dloss, dx);
    else
        cn_multi_hinge_backward(a->n, a->c, a->x, a->y, a->margin, a->kind == 1, dloss, dx);
}

static double mg_fn(void *p)
{
    return mg_forward(p);
}

/* away_from_kinks: 1 when every margin is KINK_GAP away from 0 and from cap. */
static int away_from_kinks(const mg_args *a)
{
    for (int i = 0; i < a->n; i++)
        for (int j = 0; j < a->c; j++) {
            if (j == a->y[i]) continue;
            double m = (double)a->x[i * a->c + j] - (double)a->x[i * a->c + a->y[i]] + a->margin;
            if (fabs(m) < KINK_GAP || fabs(m - a->cap) < KINK_GAP) return 0;
        }
    return 1;
}

Test(loss_margin, hand_computed)
{
    /* x = (1, 2, 3), y = 0, margin 1: margins 2 and 3 */
    cn_real x[3] = {1, 2, 3};
    int y = 0;
    cn_real dx[3];
    cr_expect(fabs(cn_multi_hinge_forward(1, 3, x, &y, 1.0, 0) - 5.0) < 1e-12);
    cr_expect(fabs(cn_multi_hinge_forward(1, 3, x, &y, 1.0, 1) - 13.0) < 1e-12);
    cn_multi_hinge_backward(1, 3, x, &y, 1.0, 1, 1.0, dx);
    cr_expect(dx[0] == -10 && dx[1] == 4 && dx[2] == 6, "%g %g %g", dx[0], dx[1], dx[2]);
    /* ramp with the default cap 2: both margins capped, no gradient */
    cr_expect(fabs(cn_ramp_forward(1, 3, x, &y, 1.0, CN_RAMP_CAP_DEFAULT) - 4.0) < 1e-12);
    cn_ramp_backward(1, 3, x, &y, 1.0, CN_RAMP_CAP_DEFAULT, 1.0, dx);
    cr_expect(dx[0] == 0 && dx[1] == 0 && dx[2] == 0);
    /* cap 2.5: 2 + 2.5, only the first margin pulls */
    cr_expect(fabs(cn_ramp_forward(1, 3, x, &y, 1.0, 2.5) - 4.5) < 1e-12);
    cn_ramp_backward(1, 3, x, &y, 1.0, 2.5, 3.0, dx);
    cr_expect(dx[0] == -3 && dx[1] == 3 && dx[2] == 0, "%g %g %g", dx[0], dx[1], dx[2]);
    /* a margin of exactly 0 is inactive: loss 0, subgradient 0 (PyTorch's) */
    cn_real z[2] = {0, -1};
    cr_expect(cn_multi_hinge_forward(1, 2, z, &y, 1.0, 0) == 0.0);
    cn_multi_hinge_backward(1, 2, z, &y, 1.0, 0, 1.0, dx);
    cr_expect(dx[0] == 0 && dx[1] == 0);
    /* correct with room to spare: every loss 0 */
    cn_real ok[3] = {5, 1, 2};
    cr_expect(cn_multi_hinge_forward(1, 3, ok, &y, 1.0, 1) == 0.0);
    cr_expect(cn_ramp_forward(1, 3, ok, &y, 1.0, 2.0) == 0.0);
}

Test(loss_margin, forward_matches_reference)
{
    const int shapes[][2] = {{1, 1}, {1, 2}, {9, 7}, {4, 1}, {13, 3}};
    cn_rng r;
    cn_rng_seed(&r, 5, 0);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int n = shapes[s][0], c = shapes[s][1];
        cn_real *x = tst_reals((size_t)n * c);
        int *y = malloc((size_t)n * sizeof *y);
        cr_assert(y);
        tst_fill_normal(&r, x, (size_t)n * c, 1.0);
        for (int i = 0; i < n; i++) y[i] = (int)cn_rng_below(&r, (uint32_t)c);
        for (int kind = 0; kind < 3; kind++) {
            mg_args a = {kind, n, c, x, y, 0.7, 1.3};
            double got = mg_forward(&a), ref = ref_margin(kind, n, c, x, y, 0.7, 1.3);
            cr_expect(fabs(got - ref) <= 1e-12 * fmax(1.0, ref), "kind %d n %d c %d", kind, n,
                      c);
        }
        free(x);
        free(y);
    }
}

Test(loss_margin, gradcheck_away_from_kinks)
{
    const int n = 6, c = 5;
    size_t nx = (size_t)n * c;
    cn_real *x = tst_reals(nx), *dx = tst_reals(nx);
    int y[6];
    cn_rng r;
    cn_rng_seed(&r, 11, 0);
    for (int kind = 0; kind < 3; kind++) {
        mg_args a = {kind, n, c, x, y, 1.0, kind == 2 ? 1.5 : 1.0};
        int tries = 0;
        do {
            tst_fill_normal(&r, x, nx, 1.0);
            for (int i = 0; i < n; i++) y[i] = (int)cn_rng_below(&r, (uint32_t)c);
            cr_assert(++tries < 1000);
        } while (!away_from_kinks(&a));
        tst_fill_nan(dx, nx);
        mg_backward(&a, 0.6, dx);
        double e = grad_err(mg_fn, &a, 0.6, x, nx, dx);
        cr_log_info("margin kind %d (%s): max rel err %.3g", kind, CN_REAL_NAME, e);
        cr_expect_leq(e, GC_TOL, "kind %d: %g", kind, e);
    }
    free(x);
    free(dx);
}

/* ------------------------------------------------------------------ L-Softmax */

#define LS_PI 3.14159265358979323846

typedef struct ls_args {
    int n, d, c, m;
    cn_real *x, *W, *ws;
    int *y;
    double lambda;
} ls_args;

static double ls_fn(void *p)
{
    ls_args *a = p;
    return cn_lsoftmax_forward(a->n, a->d, a->c, a->x, a->W, a->y, a->m, a->lambda, a->ws);
}

/* ls_theta: the angle between x_i and W's column y_i. */
static double ls_theta(const ls_args *a, int i)
{
    double dot = 0, sx = 0, sw = 0;
    for (int k = 0; k < a->d; k++) {
        double u = (double)a->x[i * a->d + k], v = (double)a->W[k * a->c + a->y[i]];
        dot += u * v;
        sx += u * u;
        sw += v * v;
    }
    return acos(fmax(-1.0, fmin(1.0, dot / sqrt(sx * sw))));
}

Test(loss_margin, lsoftmax_hand_computed)
{
    /* x = (1, 0); W_0 = 2 (cos t, sin t), W_1 = 0: f_1 = 0, f_0 = 2 psi(t) */
    const struct { int m; double t, psi; } cases[] = {
        {1, LS_PI / 3, 0.5},                  /* cos t */
        {2, LS_PI / 3, -0.5},                 /* k 0: cos(2 pi/3) */
        {2, 2 * LS_PI / 3, -1.5},             /* k 1: -cos(4 pi/3) - 2 */
        {3, LS_PI / 2, -2.0},                 /* k 1: -cos(3 pi/2) - 2 */
        {4, LS_PI, -7.0},                     /* k 3: -cos(4 pi) - 6 = 1 - 2m */
        {4, 0.1, 0.0},                        /* k 0: cos(0.4), filled below */
    };
    cn_real x[2] = {1, 0}, ws[2 * 3];
    int y = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        double t = cases[k].t, psi = k == 5 ? cos(0.4) : cases[k].psi;
        cn_real W[4] = {(cn_real)(2 * cos(t)), 0, (cn_real)(2 * sin(t)), 0};  // W (2, 2)
        double f0 = 2 * psi, want = log(1.0 + exp(-f0));
        double got = cn_lsoftmax_forward(1, 2, 2, x, W, &y, cases[k].m, 0.0, ws);
        cr_expect(fabs(got - want) < 1e-5, "m %d t %g: %.10g vs %.10g", cases[k].m, t, got,
                  want);
        /* lambda 1: f_0 = (W.x + 2 psi) / 2 */
        double fl = (2 * cos(t) + 2 * psi) / 2;
        got = cn_lsoftmax_forward(1, 2, 2, x, W, &y, cases[k].m, 1.0, ws);
        cr_expect(fabs(got - log(1.0 + exp(-fl))) < 1e-5, "lambda 1, m %d", cases[k].m);
    }
    /* m = 1 is the plain softmax loss of x W */
    cn_rng r;
    cn_rng_seed(&r, 8, 0);
    cn_real xs[3 * 4], Ws[4 * 5], F[3 * 5], wsb[3 * 7];
    int ys[3] = {4, 0, 2};
    tst_fill_normal(&r, xs, 12, 1.0);
    tst_fill_normal(&r, Ws, 20, 1.0);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++) {
            double s = 0;
            for (int k = 0; k < 4; k++) s += (double)xs[i * 4 + k] * (double)Ws[k * 5 + j];
            F[i * 5 + j] = (cn_real)s;
        }
    double l1 = cn_lsoftmax_forward(3, 4, 5, xs, Ws, ys, 1, 0.0, wsb);
    double ce = cn_softmax_ce_forward(3, 5, F, ys, NULL, 0.0);
    cr_expect(fabs(l1 - ce) < 1e-5, "m 1: %.10g vs softmax %.10g", l1, ce);
    /* the margin makes the loss larger (psi(t) <= cos t): m = 2..4 >= m = 1 */
    for (int m = 2; m <= 4; m++)
        cr_expect_geq(cn_lsoftmax_forward(3, 4, 5, xs, Ws, ys, m, 0.0, wsb), l1 - 1e-6);
    /* a zero feature: theta undefined, f_y = 0, finite gradient */
    cn_real z[4] = {0}, dz[4], dW[20] = {0};
    int y0 = 1;
    double lz = cn_lsoftmax_forward(1, 4, 5, z, Ws, &y0, 3, 0.0, wsb);
    cr_expect(fabs(lz - log(5.0)) < 1e-6);
    cn_lsoftmax_backward(1, 4, 5, z, Ws, &y0, 3, 0.0, 1.0, dz, dW, wsb);
    for (int k = 0; k < 4; k++) cr_expect(isfinite((double)dz[k]));
    cr_expect_eq(cn_lsoftmax_workspace_size(3, 5), (size_t)21);
}

Test(loss_margin, lsoftmax_gradcheck)
{
    const int n = 5, d = 4, c = 3;
    cn_real x[5 * 4], W[4 * 3], dx[5 * 4], dW[4 * 3], acc[4 * 3];
    int y[5];
    cn_real *ws = tst_reals(cn_lsoftmax_workspace_size(n, c));
    cn_rng r;
    cn_rng_seed(&r, 21, 0);
    for (int m = 1; m <= CN_LSOFTMAX_MAX_M; m++) {
        for (int li = 0; li < 2; li++) {
            ls_args a = {n, d, c, m, x, W, ws, y, li ? 0.5 : 0.0};
            int ok, tries = 0;
            do { /* theta 0.02 away from every piece boundary k pi / m */
                tst_fill_normal(&r, x, (size_t)n * d, 1.0);
                tst_fill_normal(&r, W, (size_t)d * c, 0.7);
                for (int i = 0; i < n; i++) y[i] = (int)cn_rng_below(&r, (uint32_t)c);
                ok = 1;
                for (int i = 0; i < n; i++) {
                    double t = ls_theta(&a, i) * m / LS_PI;
                    if (fabs(t - round(t)) * LS_PI / m < 0.02) ok = 0;
                }
                cr_assert(++tries < 1000);
            } while (!ok);
            tst_fill_nan(dx, (size_t)n * d);
            for (int k = 0; k < d * c; k++) dW[k] = acc[k] = (cn_real)(0.25 * k);
            cn_lsoftmax_backward(n, d, c, x, W, y, m, a.lambda, 0.9, dx, dW, ws);
            for (int k = 0; k < d * c; k++) dW[k] -= acc[k];  // accumulated on top
            double ex = tst_grad_err(ls_fn, &a, 0.9, x, (size_t)n * d, dx, GC_H_LS);
            double ew = tst_grad_err(ls_fn, &a, 0.9, W, (size_t)d * c, dW, GC_H_LS);
            cr_log_info("lsoftmax m %d lambda %g (%s): max rel err dx %.3g dW %.3g", m,
                        a.lambda, CN_REAL_NAME, ex, ew);
            cr_expect_leq(ex, GC_TOL_LS, "m %d lambda %g: dx %g", m, a.lambda, ex);
            cr_expect_leq(ew, GC_TOL_LS, "m %d lambda %g: dW %g", m, a.lambda, ew);
        }
    }
    free(ws);
}

/* ------------------------------------------------------------------ parity */

Test(loss_margin, pytorch_parity)
{
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(FIXTURE, &st, &err), CN_OK, "%s", err.msg);
    const int n = 7, c = 4;
    size_t nx = (size_t)n * c;
    double dloss = tst_fx_scalar(st, "dloss");
    cn_real *x = tst_fx_reals(st, "hinge.x", nx);
    int *y = tst_fx_labels(st, "hinge.y", (size_t)n);
    cn_real *dx = tst_reals(nx);
    const char *cases[] = {"hinge_p1", "hinge_p2", "hinge_p1_m05", "hinge_p2_m05"};
    char key[64];
    for (int k = 0; k < 4; k++) {
        int squared = k % 2;
        snprintf(key, sizeof key, "%s.margin", cases[k]);
        double margin = tst_fx_scalar(st, key);
        snprintf(key, sizeof key, "%s.loss", cases[k]);
        double ref = tst_fx_scalar(st, key);
        snprintf(key, sizeof key, "%s.dx", cases[k]);
        cn_real *rdx = tst_fx_reals(st, key, nx);
        double l = cn_multi_hinge_forward(n, c, x, y, margin, squared);
        tst_fill_nan(dx, nx);
        cn_multi_hinge_backward(n, c, x, y, margin, squared, dloss, dx);
        double el = fabs(l - ref), ed = tst_max_abs_diff(dx, rdx, nx);
        cr_log_info("%s (%s): |loss diff| %.3g, max |dx diff| %.3g", cases[k], CN_REAL_NAME,
                    el, ed);
        cr_expect_leq(el, PARITY_TOL, "%s: loss %.17g, PyTorch %.17g", cases[k], l, ref);
        cr_expect_leq(ed, PARITY_TOL, "%s: dx max diff %g", cases[k], ed);
        free(rdx);
    }
    free(x);
    free(y);
    free(dx);
    cn_safetensors_free(st);
}
