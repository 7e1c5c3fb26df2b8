/* test_loss_metric.c: center, triplet and contrastive loss kernels: hand-computed
 * values, the subgradient at kinks and zero distances, finite-difference
 * gradient checks (away from the hinge kinks) for every input and the centres,
 * and parity with PyTorch 1.13 (tests/fixtures/loss/metric.safetensors from
 * tools/fixtures/loss.py: TripletMarginLoss, and the contrastive and center
 * losses written out in torch). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/classic.h"
#include "convnet/loss_kernels.h"
#include "support.h"
#include "convnet/safetensors.h"

#define FIXTURE "tests/fixtures/loss/metric.safetensors"

/* Gradient checks: center loss is quadratic; the triplet and contrastive losses
 * are smooth except at their hinge (and at a zero distance), so inputs are
 * drawn with every hinge argument KINK_GAP away from 0 and every distance well
 * above 0, beyond the step. In double 1e-7; in float the inputs move by float
 * steps and dx is rounded to float: 1e-3. Parity: as test_loss_ce.c. */
#ifdef CN_DOUBLE
#define GC_H 1e-4
#define GC_TOL 1e-7
#define PARITY_TOL 1e-12
#else
#define GC_H 1e-3
#define GC_TOL 1e-3
#define PARITY_TOL 1e-5
#endif
#define KINK_GAP 0.05

/* ------------------------------------------------------------------ helpers */

static double grad_err(double (*fn)(void *), void *arg, double scale, cn_real *x, size_t n,
                       const cn_real *analytic)
{
    return tst_grad_err(fn, arg, scale, x, n, analytic, GC_H);
}

static double check_parity(const char *what, double l, double ref, const cn_real *dx,
                           const cn_real *rdx, size_t n)
{
    double el = fabs(l - ref), ed = tst_max_abs_diff(dx, rdx, n);
    cr_log_info("%s (%s): |loss diff| %.3g, max |grad diff| %.3g", what, CN_REAL_NAME, el, ed);
    cr_expect_leq(el, PARITY_TOL, "%s: loss %.17g, PyTorch %.17g", what, l, ref);
    cr_expect_leq(ed, PARITY_TOL, "%s: gradient max diff %g", what, ed);
    return ed;
}

static double l2(const cn_real *u, const cn_real *v, int d, double eps)
{
    double s = 0;
    for (int k = 0; k < d; k++) {
        double r = (double)u[k] - (double)v[k] + eps;
        s += r * r;
    }
    return sqrt(s);
}

/* ------------------------------------------------------------------ center loss */

typedef struct mt_args {
    int n, d, c;
    cn_real *x, *x2, *x3, *cen;
    int *y;
    double margin;
} mt_args;

static double center_fn(void *p)
{
    mt_args *a = p;
    return cn_center_loss_forward(a->n, a->d, a->c, a->x, a->y, a->cen);
}

static double triplet_fn(void *p)
{
    mt_args *a = p;
    return cn_triplet_forward(a->n, a->d, a->x, a->x2, a->x3, a->margin);
}

static double contrastive_fn(void *p)
{
    mt_args *a = p;
    return cn_contrastive_forward(a->n, a->d, a->x, a->x2, a->y, a->margin);
}

Test(loss_metric, center_hand_computed)
{
    cn_real x[4] = {1, 2, 3, 4}, cen[6] = {0, 0, 1, 1, 9, 9}, dx[4];
    cn_real dc[6] = {1, 1, 1, 1, 1, 1};
    int y[2] = {0, 1};
    /* 0.5 * ((1 + 4) + (4 + 9)) / 2 */
    cr_expect(fabs(cn_center_loss_forward(2, 2, 3, x, y, cen) - 4.5) < 1e-12);
    cn_center_loss_backward(2, 2, 3, x, y, cen, 2.0, dx, dc);
    cr_expect(dx[0] == 1 && dx[1] == 2 && dx[2] == 2 && dx[3] == 3);
    /* accumulated: 1 - (x_i - c) for the used centres; the unused one untouched */
    cr_expect(dc[0] == 0 && dc[1] == -1 && dc[2] == -1 && dc[3] == -2 && dc[4] == 1 &&
              dc[5] == 1, "%g %g %g %g %g %g", dc[0], dc[1], dc[2], dc[3], dc[4], dc[5]);
    /* x at its centre: zero loss and gradient */
    cn_real xc[2] = {1, 1};
    int y1 = 1;
    cr_expect(cn_center_loss_forward(1, 2, 3, xc, &y1, cen) == 0.0);
}

Test(loss_metric, center_gradcheck)
{
    const int n = 7, d = 3, c = 4;
    cn_real x[21], cen[12], dx[21], dc[12], acc[12];
    int y[7] = {0, 2, 2, 1, 0, 2, 0};  // class 3 unused
    cn_rng r;
    cn_rng_seed(&r, 50, 0);
    tst_fill_normal(&r, x, 21, 1.0);
    tst_fill_normal(&r, cen, 12, 1.0);
    mt_args a = {n, d, c, x, NULL, NULL, cen, y, 0};
    tst_fill_nan(dx, 21);
    for (int k = 0; k < 12; k++) dc[k] = acc[k] = (cn_real)(0.5 * k);
    cn_center_loss_backward(n, d, c, x, y, cen, 0.8, dx, dc);
    for (int k = 0; k < 12; k++) dc[k] -= acc[k];
    double ex = grad_err(center_fn, &a, 0.8, x, 21, dx);
    double ec = grad_err(center_fn, &a, 0.8, cen, 12, dc);
    cr_log_info("center (%s): max rel err dx %.3g dcentres %.3g", CN_REAL_NAME, ex, ec);
    cr_expect_leq(ex, GC_TOL);
    cr_expect_leq(ec, GC_TOL);
}

/* ------------------------------------------------------------------ triplet */

Test(loss_metric, triplet_hand_computed)
{
    /* d(a, p) = 3, d(a, n) = 1 (up to eps), margin 1: 3 - 1 + 1 = 3; a second
     * triplet already satisfied: 0 */
    cn_real a[4] = {0, 0, 0, 0}, p[4] = {3, 0, 1, 0}, ng[4] = {0, 1, 0, 5};
    double l = cn_triplet_forward(2, 2, a, p, ng, 1.0);
    cr_expect(fabs(l - 1.5) < 1e-5, "%.10g", l);
    cn_real da[4], dp[4], dn[4];
    cn_triplet_backward(2, 2, a, p, ng, 1.0, 2.0, da, dp, dn);
    /* da = (u/|u| - v/|v|) = (-1, 0) - (0, -1) = (-1, 1); dp = (1, 0); dn = (0, -1) */
    cr_expect(fabs((double)da[0] + 1) < 1e-5 && fabs((double)da[1] - 1) < 1e-5);
    cr_expect(fabs((double)dp[0] - 1) < 1e-5 && fabs((double)dp[1]) < 1e-5);
    cr_expect(fabs((double)dn[0]) < 1e-5 && fabs((double)dn[1] + 1) < 1e-5);
    for (int k = 2; k < 4; k++) cr_expect(da[k] == 0 && dp[k] == 0 && dn[k] == 0);
    /* NULL gradients are skipped */
    cn_triplet_backward(2, 2, a, p, ng, 1.0, 1.0, NULL, dp, NULL);
}

Test(loss_metric, triplet_gradcheck)
{
    const int n = 6, d = 4;
    cn_real a[24], p[24], ng[24], da[24], dp[24], dn[24];
    cn_rng r;
    cn_rng_seed(&r, 60, 0);
    mt_args m = {n, d, 0, a, p, ng, NULL, NULL, 1.0};
    int ok, tries = 0, active = 0;
    do { /* every hinge argument away from 0, both signs present */
        tst_fill_normal(&r, a, 24, 1.0);
        tst_fill_normal(&r, p, 24, 1.0);
        tst_fill_normal(&r, ng, 24, 1.0);
        ok = 1;
        active = 0;
        for (int i = 0; i < n; i++) {
            double h = l2(a + i * d, p + i * d, d, CN_TRIPLET_EPS) -
                       l2(a + i * d, ng + i * d, d, CN_TRIPLET_EPS) + 1.0;
            if (fabs(h) < KINK_GAP) ok = 0;
            active += h > 0;
        }
        cr_assert(++tries < 1000);
    } while (!ok || active == 0 || active == n);
    tst_fill_nan(da, 24);
    tst_fill_nan(dp, 24);
    tst_fill_nan(dn, 24);
    cn_triplet_backward(n, d, a, p, ng, 1.0, 0.9, da, dp, dn);
    double ea = grad_err(triplet_fn, &m, 0.9, a, 24, da);
    double ep = grad_err(triplet_fn, &m, 0.9, p, 24, dp);
    double en = grad_err(triplet_fn, &m, 0.9, ng, 24, dn);
    cr_log_info("triplet (%s): max rel err da %.3g dp %.3g dn %.3g", CN_REAL_NAME, ea, ep, en);
    cr_expect_leq(ea, GC_TOL);
    cr_expect_leq(ep, GC_TOL);
    cr_expect_leq(en, GC_TOL);
}

/* ------------------------------------------------------------------ contrastive */

Test(loss_metric, contrastive_hand_computed)
{
    /* similar at distance 5: 12.5; dissimilar at 1 with margin 2: 0.5;
     * dissimilar at 3: 0; dissimilar at distance 0: 0.5 margin^2 = 2 */
    cn_real x1[8] = {3, 4, 1, 0, 0, 3, 7, 7}, x2[8] = {0, 0, 0, 0, 0, 0, 7, 7};
    int y[4] = {1, 0, 0, 0};
    double l = cn_contrastive_forward(4, 2, x1, x2, y, 2.0);
    cr_expect(fabs(l - (12.5 + 0.5 + 0 + 2) / 4) < 1e-12, "%.17g", l);
    cn_real g1[8], g2[8];
    cn_contrastive_backward(4, 2, x1, x2, y, 2.0, 4.0, g1, g2);
    /* similar: r = (3, 4); dissimilar at 1: -(2 - 1) (1, 0) / 1; others 0 (at
     * D = 0 the subgradient 0) */
    const double want[8] = {3, 4, -1, 0, 0, 0, 0, 0};
    for (int k = 0; k < 8; k++) {
        cr_expect(fabs((double)g1[k] - want[k]) < 1e-6, "g1[%d] %g", k, (double)g1[k]);
        cr_expect(g2[k] == -g1[k]);
    }
    cn_contrastive_backward(4, 2, x1, x2, y, 2.0, 1.0, NULL, g2);
}

Test(loss_metric, contrastive_gradcheck)
{
    const int n = 8, d = 3;
    cn_real x1[24], x2[24], g1[24], g2[24];
    int y[8] = {1, 0, 0, 1, 0, 0, 1, 0};
    cn_rng r;
    cn_rng_seed(&r, 70, 0);
    mt_args m = {n, d, 0, x1, x2, NULL, NULL, y, 1.8};
    int ok, tries = 0;
    do { /* distances away from 0 and from the margin */
        tst_fill_normal(&r, x1, 24, 1.0);
        tst_fill_normal(&r, x2, 24, 1.0);
        ok = 1;
        for (int i = 0; i < n; i++) {
            double D = l2(x1 + i * d, x2 + i * d, d, 0.0);
            if (D < KINK_GAP || fabs(D - m.margin) < KINK_GAP) ok = 0;
        }
        cr_assert(++tries < 1000);
    } while (!ok);
    tst_fill_nan(g1, 24);
    tst_fill_nan(g2, 24);
    cn_contrastive_backward(n, d, x1, x2, y, m.margin, 1.1, g1, g2);
    double e1 = grad_err(contrastive_fn, &m, 1.1, x1, 24, g1);
    double e2 = grad_err(contrastive_fn, &m, 1.1, x2, 24, g2);
    cr_log_info("contrastive (%s): max rel err dx1 %.3g dx2 %.3g", CN_REAL_NAME, e1, e2);
    cr_expect_leq(e1, GC_TOL);
    cr_expect_leq(e2, GC_TOL);
}

/* ------------------------------------------------------------------ parity */

Test(loss_metric, pytorch_parity)
{
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(FIXTURE, &st, &err), CN_OK, "%s", err.msg);
    double dloss = tst_fx_scalar(st, "dloss");
    {   /* triplet: n 6, d 5 */
        const size_t k = 30;
        cn_real *a = tst_fx_reals(st, "triplet.a", k), *p = tst_fx_reals(st, "triplet.p", k);
        cn_real *ng = tst_fx_reals(st, "triplet.n", k);
        cn_real *rda = tst_fx_reals(st, "triplet.da", k), *rdp = tst_fx_reals(st, "triplet.dp", k);
        cn_real *rdn = tst_fx_reals(st, "triplet.dn", k);
        cn_real *da = tst_reals(k), *dp = tst_reals(k), *dn = tst_reals(k);
        double margin = tst_fx_scalar(st, "triplet.margin"), ref = tst_fx_scalar(st, "triplet.loss");
        double l = cn_triplet_forward(6, 5, a, p, ng, margin);
        cn_triplet_backward(6, 5, a, p, ng, margin, dloss, da, dp, dn);
        check_parity("triplet da", l, ref, da, rda, k);
        check_parity("triplet dp", l, ref, dp, rdp, k);
        check_parity("triplet dn", l, ref, dn, rdn, k);
        cn_real *bufs[] = {a, p, ng, rda, rdp, rdn, da, dp, dn};
        for (size_t i = 0; i < 9; i++) free(bufs[i]);
    }
    {   /* contrastive: n 8, d 3 */
        const size_t k = 24;
        cn_real *x1 = tst_fx_reals(st, "contrastive.x1", k), *x2 = tst_fx_reals(st, "contrastive.x2", k);
        cn_real *r1 = tst_fx_reals(st, "contrastive.dx1", k), *r2 = tst_fx_reals(st, "contrastive.dx2", k);
        int *y = tst_fx_labels(st, "contrastive.y", 8);
        cn_real *g1 = tst_reals(k), *g2 = tst_reals(k);
        double margin = tst_fx_scalar(st, "contrastive.margin");
        double ref = tst_fx_scalar(st, "contrastive.loss");
        double l = cn_contrastive_forward(8, 3, x1, x2, y, margin);
        cn_contrastive_backward(8, 3, x1, x2, y, margin, dloss, g1, g2);
        check_parity("contrastive dx1", l, ref, g1, r1, k);
        check_parity("contrastive dx2", l, ref, g2, r2, k);
        cn_real *bufs[] = {x1, x2, r1, r2, g1, g2};
        for (size_t i = 0; i < 6; i++) free(bufs[i]);
        free(y);
    }
    {   /* center: n 7, d 4, c 3 */
        cn_real *x = tst_fx_reals(st, "center.x", 28), *cen = tst_fx_reals(st, "center.centres", 12);
        cn_real *rdx = tst_fx_reals(st, "center.dx", 28);
        cn_real *rdc = tst_fx_reals(st, "center.dcentres", 12);
        int *y = tst_fx_labels(st, "center.y", 7);
        cn_real *dx = tst_reals(28), *dc = tst_reals(12);
        memset(dc, 0, 12 * sizeof *dc);
        double ref = tst_fx_scalar(st, "center.loss");
        double l = cn_center_loss_forward(7, 4, 3, x, y, cen);
        cn_center_loss_backward(7, 4, 3, x, y, cen, dloss, dx, dc);
        check_parity("center dx", l, ref, dx, rdx, 28);
        check_parity("center dcentres", l, ref, dc, rdc, 12);
        cn_real *bufs[] = {x, cen, rdx, rdc, dx, dc};
        for (size_t i = 0; i < 6; i++) free(bufs[i]);
        free(y);
    }
    cn_safetensors_free(st);
}
