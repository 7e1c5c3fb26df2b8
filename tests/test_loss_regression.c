/* test_loss_regression.c: sigmoid BCE with logits (pos_weight), MSE, L1, smooth
 * L1 and Huber kernels: reference loops and closed forms, the subgradient at
 * kinks, finite-difference gradient checks (kinked losses away from their
 * kinks) and parity with PyTorch 1.13 (tests/fixtures/loss/regression.safetensors
 * from tools/fixtures/loss.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/classic.h"
#include "convnet/loss_kernels.h"
#include "support.h"
#include "convnet/safetensors.h"

#define FIXTURE "tests/fixtures/loss/regression.safetensors"

/* Gradient checks: BCE and MSE are smooth; L1, smooth L1 and Huber are checked
 * with every residual at least KINK_GAP away from 0 and from beta / delta, far
 * beyond the step, where they are polynomials of degree <= 2, so the centred
 * difference is exact up to roundoff. In double 1e-7; in float the inputs move
 * by float steps and dx is rounded to float: 1e-3. Parity: as test_loss_ce.c. */
#ifdef CN_DOUBLE
#define GC_H 1e-4
#define GC_TOL 1e-7
#define PARITY_TOL 1e-12
#else
#define GC_H 1e-3
#define GC_TOL 1e-3
#define PARITY_TOL 1e-5
#endif
#define KINK_GAP 0.02

/* ------------------------------------------------------------------ helpers */

static double grad_err(double (*fn)(void *), void *arg, double scale, cn_real *x, size_t n,
                       const cn_real *analytic)
{
    return tst_grad_err(fn, arg, scale, x, n, analytic, GC_H);
}

/* ------------------------------------------------------------------ cases */

enum { K_BCE, K_BCE_PW, K_MSE, K_L1, K_SMOOTH, K_SMOOTH0, K_HUBER, K_COUNT };
static const char *const case_names[K_COUNT] = {"bce", "bce_pw", "mse", "l1", "smooth_l1",
                                                "smooth_l1_b0", "huber"};
#define BETA 0.5
#define DELTA 0.7

typedef struct rg_args {
    int kind, n, c;
    cn_real *x, *t, *pw;
} rg_args;

static double rg_forward(const rg_args *a)
{
    size_t k = (size_t)a->n * a->c;
    switch (a->kind) {
    case K_BCE: return cn_bce_logits_forward(a->n, a->c, a->x, a->t, NULL);
    case K_BCE_PW: return cn_bce_logits_forward(a->n, a->c, a->x, a->t, a->pw);
    case K_MSE: return cn_mse_forward(k, a->x, a->t);
    case K_L1: return cn_l1_forward(k, a->x, a->t);
    case K_SMOOTH: return cn_smooth_l1_forward(k, a->x, a->t, BETA);
    case K_SMOOTH0: return cn_smooth_l1_forward(k, a->x, a->t, 0.0);
    default: return cn_huber_forward(k, a->x, a->t, DELTA);
    }
}

static void rg_backward(const rg_args *a, double dloss, cn_real *dx)
{
    size_t k = (size_t)a->n * a->c;
    switch (a->kind) {
    case K_BCE: cn_bce_logits_backward(a->n, a->c, a->x, a->t, NULL, dloss, dx); break;
    case K_BCE_PW: cn_bce_logits_backward(a->n, a->c, a->x, a->t, a->pw, dloss, dx); break;
    case K_MSE: cn_mse_backward(k, a->x, a->t, dloss, dx); break;
    case K_L1: cn_l1_backward(k, a->x, a->t, dloss, dx); break;
    case K_SMOOTH: cn_smooth_l1_backward(k, a->x, a->t, BETA, dloss, dx); break;
    case K_SMOOTH0: cn_smooth_l1_backward(k, a->x, a->t, 0.0, dloss, dx); break;
    default: cn_huber_backward(k, a->x, a->t, DELTA, dloss, dx); break;
    }
}

static double rg_fn(void *p)
{
    return rg_forward(p);
}

/* ref_loss: each loss written out naively (moderate inputs only). */
static double ref_loss(const rg_args *a)
{
    double total = 0.0;
    for (int i = 0; i < a->n; i++) {
        for (int j = 0; j < a->c; j++) {
            double x = (double)a->x[i * a->c + j], t = (double)a->t[i * a->c + j];
            double r = x - t, ar = fabs(r), sg = 1.0 / (1.0 + exp(-x));
            double pw = a->kind == K_BCE_PW ? (double)a->pw[j] : 1.0;
            switch (a->kind) {
            case K_BCE:
            case K_BCE_PW: total += -(pw * t * log(sg) + (1 - t) * log(1 - sg)); break;
            case K_MSE: total += r * r; break;
            case K_L1:
            case K_SMOOTH0: total += ar; break;
            case K_SMOOTH: total += ar < BETA ? 0.5 * r * r / BETA : ar - 0.5 * BETA; break;
            default: total += ar <= DELTA ? 0.5 * r * r : DELTA * (ar - 0.5 * DELTA); break;
            }
        }
    }
    return total / ((double)a->n * a->c);
}

static rg_args rg_make(int n, int c, uint64_t seed)
{
    cn_rng r;
    cn_rng_seed(&r, seed, 0);
    rg_args a = {0, n, c, tst_reals((size_t)n * c), tst_reals((size_t)n * c), tst_reals((size_t)c)};
    tst_fill_normal(&r, a.x, (size_t)n * c, 1.5);
    for (int k = 0; k < n * c; k++) a.t[k] = (cn_real)cn_rng_uniform(&r);
    a.t[0] = 1;
    if (n * c > 1) a.t[1] = 0;
    for (int j = 0; j < c; j++) a.pw[j] = (cn_real)(0.5 + 2.0 * cn_rng_uniform(&r));
    return a;
}

static void rg_free(rg_args *a)
{
    free(a->x);
    free(a->t);
    free(a->pw);
}

/* away_from_kinks: every residual KINK_GAP away from 0, BETA and DELTA. */
static int away_from_kinks(const rg_args *a)
{
    for (int k = 0; k < a->n * a->c; k++) {
        double r = fabs((double)a->x[k] - (double)a->t[k]);
        if (r < KINK_GAP || fabs(r - BETA) < KINK_GAP || fabs(r - DELTA) < KINK_GAP) return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ tests */

Test(loss_regression, forward_matches_reference)
{
    const int shapes[][2] = {{1, 1}, {3, 7}, {11, 2}, {1, 9}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        rg_args a = rg_make(shapes[s][0], shapes[s][1], 30 + s);
        for (int k = 0; k < K_COUNT; k++) {
            a.kind = k;
            double got = rg_forward(&a), ref = ref_loss(&a);
            cr_expect(fabs(got - ref) <= 1e-12 * fmax(1.0, ref), "%s n %d c %d: %.17g vs %.17g",
                      case_names[k], a.n, a.c, got, ref);
        }
        rg_free(&a);
    }
}

Test(loss_regression, closed_forms_and_kinks)
{
    cn_real z[4] = {0, 0, 0, 0}, t[4] = {1, 0, 0.5, 1}, pw[2] = {3, 1}, dx[4];
    /* BCE at logit 0 is log 2 per element for any target; pos_weight scales the
     * positive part: (3 log 2 + log 2 + (1.5 + 0.5) log 2 + log 2) / 4 */
    cr_expect(fabs(cn_bce_logits_forward(2, 2, z, t, NULL) - log(2.0)) < 1e-7);
    cr_expect(fabs(cn_bce_logits_forward(2, 2, z, t, pw) - 7.0 / 4.0 * log(2.0)) < 1e-7);
    /* huge logits stay finite: softplus, not log(sigmoid) */
    cn_real big[4] = {1000, -1000, 1000, -1000}, tb[4] = {0, 1, 1, 0};
    double l = cn_bce_logits_forward(2, 2, big, tb, NULL);
    cr_expect(fabs(l - 500.0) < 1e-3, "%g", l);
    cn_bce_logits_backward(2, 2, big, tb, NULL, 1.0, dx);
    cr_expect(dx[0] == (cn_real)0.25 && dx[1] == (cn_real)-0.25 && dx[2] == 0 && dx[3] == 0);
    /* residuals -2, 0, 0.3, 1 */
    cn_real x[4] = {-2, 0, 0.8f, 2}, tt[4] = {0, 0, 0.5f, 1};
    cr_expect(fabs(cn_mse_forward(4, x, tt) - (4 + 0 + 0.09 + 1) / 4) < 1e-6);
    cr_expect(fabs(cn_l1_forward(4, x, tt) - (2 + 0 + 0.3 + 1) / 4) < 1e-6);
    cn_l1_backward(4, x, tt, 4.0, dx);  /* sign, and 0 at a zero residual */
    cr_expect(dx[0] == -1 && dx[1] == 0 && dx[2] == 1 && dx[3] == 1);
    /* smooth L1, beta 0.5: 1.75, 0, 0.09, 0.75; Huber, delta 0.5 = beta * that */
    double sl = (1.75 + 0 + 0.09 + 0.75) / 4;
    cr_expect(fabs(cn_smooth_l1_forward(4, x, tt, 0.5) - sl) < 1e-6);
    cr_expect(fabs(cn_huber_forward(4, x, tt, 0.5) - 0.5 * sl) < 1e-6);
    cr_expect(fabs(cn_smooth_l1_forward(4, x, tt, 0.0) - cn_l1_forward(4, x, tt)) < 1e-12);
    cn_smooth_l1_backward(4, x, tt, 0.5, 4.0, dx);
    cr_expect(dx[0] == -1 && dx[1] == 0 && fabs((double)dx[2] - 0.6) < 1e-6 && dx[3] == 1);
    cn_huber_backward(4, x, tt, 0.5, 4.0, dx);
    cr_expect(dx[0] == (cn_real)-0.5 && dx[1] == 0 && fabs((double)dx[2] - 0.3) < 1e-6 &&
              dx[3] == (cn_real)0.5);
    /* at |r| = delta both Huber pieces agree: value and slope */
    cn_real xd[1] = {0.5f}, td[1] = {0};
    cr_expect(fabs(cn_huber_forward(1, xd, td, 0.5) - 0.125) < 1e-7);
    cn_huber_backward(1, xd, td, 0.5, 1.0, dx);
    cr_expect(fabs((double)dx[0] - 0.5) < 1e-7);
}

Test(loss_regression, gradcheck)
{
    const int n = 4, c = 6;
    size_t nx = (size_t)n * c;
    cn_real *dx = tst_reals(nx);
    for (int k = 0; k < K_COUNT; k++) {
        rg_args a;
        uint64_t seed = 40;
        for (;;) { /* inputs with no residual near a kink */
            a = rg_make(n, c, seed++);
            if (away_from_kinks(&a)) break;
            rg_free(&a);
            cr_assert(seed < 1000);
        }
        a.kind = k;
        tst_fill_nan(dx, nx);
        rg_backward(&a, 1.3, dx);
        double e = grad_err(rg_fn, &a, 1.3, a.x, nx, dx);
        cr_log_info("%s (%s): max rel err %.3g", case_names[k], CN_REAL_NAME, e);
        cr_expect_leq(e, GC_TOL, "%s: %g", case_names[k], e);
        rg_free(&a);
    }
    free(dx);
}

Test(loss_regression, pytorch_parity)
{
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(FIXTURE, &st, &err), CN_OK, "%s", err.msg);
    const int n = 4, c = 5;
    size_t nx = (size_t)n * c;
    rg_args a = {0, n, c, tst_fx_reals(st, "reg.x", nx), tst_fx_reals(st, "reg.t", nx),
                 tst_fx_reals(st, "bce.pos_weight", (size_t)c)};
    double dloss = tst_fx_scalar(st, "dloss");
    cn_real *dx = tst_reals(nx);
    char key[64];
    for (int k = 0; k < K_COUNT; k++) {
        a.kind = k;
        snprintf(key, sizeof key, "%s.loss", case_names[k]);
        double ref = tst_fx_scalar(st, key);
        snprintf(key, sizeof key, "%s.dx", case_names[k]);
        cn_real *rdx = tst_fx_reals(st, key, nx);
        double l = rg_forward(&a);
        tst_fill_nan(dx, nx);
        rg_backward(&a, dloss, dx);
        double el = fabs(l - ref), ed = tst_max_abs_diff(dx, rdx, nx);
        cr_log_info("%s (%s): |loss diff| %.3g, max |dx diff| %.3g", case_names[k],
                    CN_REAL_NAME, el, ed);
        cr_expect_leq(el, PARITY_TOL, "%s: loss %.17g, PyTorch %.17g", case_names[k], l, ref);
        cr_expect_leq(ed, PARITY_TOL, "%s: dx max diff %g", case_names[k], ed);
        free(rdx);
    }
    rg_free(&a);
    free(dx);
    cn_safetensors_free(st);
}
