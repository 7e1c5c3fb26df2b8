/* loss_metric.c: metric-learning losses on embeddings, forward and backward side
 * by side: center loss with learnable centres (Wen et al. 2016), the triplet
 * margin loss (PyTorch's TripletMarginLoss, p = 2) and the contrastive loss for
 * Siamese pairs (Hadsell, Chopra, LeCun 2006). Formulas: docs/kernels/loss.md. */
#include "convnet/loss_kernels.h"

#include <math.h>

/* ------------------------------------------------------------------ center loss */

double cn_center_loss_forward(int n, int d, int c, const cn_real *x, const int *y,
                              const cn_real *centres)
{
    CN_ASSERT(n >= 1 && d >= 1 && c >= 1 && x && y && centres);
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        CN_ASSERT(y[i] >= 0 && y[i] < c);
        const cn_real *xi = x + (size_t)i * d;              // xi (d)
        const cn_real *ci = centres + (size_t)y[i] * d;     // ci (d)
        for (int k = 0; k < d; k++) {
            double r = (double)xi[k] - (double)ci[k];
            total += r * r;
        }
    }
    return 0.5 * total / n;
}

void cn_center_loss_backward(int n, int d, int c, const cn_real *x, const int *y,
                             const cn_real *centres, double dloss, cn_real *dx,
                             cn_real *dcentres)
{
    CN_ASSERT(n >= 1 && d >= 1 && c >= 1 && x && y && centres);
    double s = dloss / n;
    if (dx) {
        for (int i = 0; i < n; i++) {
            CN_ASSERT(y[i] >= 0 && y[i] < c);
            const cn_real *xi = x + (size_t)i * d;              // xi (d)
            const cn_real *ci = centres + (size_t)y[i] * d;     // ci (d)
            cn_real *gi = dx + (size_t)i * d;                   // gi (d)
            for (int k = 0; k < d; k++) gi[k] = (cn_real)(s * ((double)xi[k] - (double)ci[k]));
        }
    }
    if (dcentres) {
        /* per class and coordinate, a double sum over the class's samples in
         * increasing i, then one += into the accumulated gradient */
        for (int j = 0; j < c; j++) {
            const cn_real *cj = centres + (size_t)j * d;  // cj (d)
            cn_real *gj = dcentres + (size_t)j * d;       // gj (d)
            for (int k = 0; k < d; k++) {
                double acc = 0.0;
                int any = 0;
                for (int i = 0; i < n; i++) {
                    CN_ASSERT(y[i] >= 0 && y[i] < c);
                    if (y[i] != j) continue;
                    acc += (double)x[(size_t)i * d + k] - (double)cj[k];
                    any = 1;
                }
                if (any) gj[k] = (cn_real)((double)gj[k] - s * acc);
            }
        }
    }
}

/* ------------------------------------------------------------------ triplet */

/* pair_dist: |u - v + eps|_2 over d coordinates (PyTorch's pairwise_distance). */
static double pair_dist(int d, const cn_real *u, const cn_real *v)
{
    double acc = 0.0;
    for (int k = 0; k < d; k++) {
        double r = (double)u[k] - (double)v[k] + CN_TRIPLET_EPS;
        acc += r * r;
    }
    return sqrt(acc);
}

double cn_triplet_forward(int n, int d, const cn_real *a, const cn_real *p,
                          const cn_real *ng, double margin)
{
    CN_ASSERT(n >= 1 && d >= 1 && a && p && ng && margin >= 0.0);
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        size_t o = (size_t)i * d;
        double h = pair_dist(d, a + o, p + o) - pair_dist(d, a + o, ng + o) + margin;
        if (h > 0.0) total += h;
    }
    return total / n;
}

void cn_triplet_backward(int n, int d, const cn_real *a, const cn_real *p,
                         const cn_real *ng, double margin, double dloss, cn_real *da,
                         cn_real *dp, cn_real *dn)
{
    CN_ASSERT(n >= 1 && d >= 1 && a && p && ng && margin >= 0.0);
    double s = dloss / n;
    for (int i = 0; i < n; i++) {
        size_t o = (size_t)i * d;
        double dap = pair_dist(d, a + o, p + o), dan = pair_dist(d, a + o, ng + o);
        int active = dap - dan + margin > 0.0;
        double su = active && dap > 0.0 ? s / dap : 0.0;
        double sv = active && dan > 0.0 ? s / dan : 0.0;
        for (int k = 0; k < d; k++) {
            double u = (double)a[o + k] - (double)p[o + k] + CN_TRIPLET_EPS;
            double v = (double)a[o + k] - (double)ng[o + k] + CN_TRIPLET_EPS;
            if (da) da[o + k] = (cn_real)(su * u - sv * v);
            if (dp) dp[o + k] = (cn_real)(-su * u);
            if (dn) dn[o + k] = (cn_real)(sv * v);
        }
    }
}

/* ------------------------------------------------------------------ contrastive */

/* l2_diff: |u - v|_2 over d coordinates. */
static double l2_diff(int d, const cn_real *u, const cn_real *v)
{
    double acc = 0.0;
    for (int k = 0; k < d; k++) {
        double r = (double)u[k] - (double)v[k];
        acc += r * r;
    }
    return sqrt(acc);
}

double cn_contrastive_forward(int n, int d, const cn_real *x1, const cn_real *x2,
                              const int *y, double margin)
{
    CN_ASSERT(n >= 1 && d >= 1 && x1 && x2 && y && margin > 0.0);
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        CN_ASSERT(y[i] == 0 || y[i] == 1);
        size_t o = (size_t)i * d;
        double D = l2_diff(d, x1 + o, x2 + o);
        if (y[i]) {
            total += 0.5 * D * D;
        } else if (D < margin) {
            total += 0.5 * (margin - D) * (margin - D);
        }
    }
    return total / n;
}

void cn_contrastive_backward(int n, int d, const cn_real *x1, const cn_real *x2,
                             const int *y, double margin, double dloss, cn_real *dx1,
                             cn_real *dx2)
{
    CN_ASSERT(n >= 1 && d >= 1 && x1 && x2 && y && margin > 0.0);
    double s = dloss / n;
    for (int i = 0; i < n; i++) {
        CN_ASSERT(y[i] == 0 || y[i] == 1);
        size_t o = (size_t)i * d;
        double coef; /* dx1 = coef * (x1 - x2) */
        if (y[i]) {
            coef = s;
        } else {
            double D = l2_diff(d, x1 + o, x2 + o);
            coef = D > 0.0 && D < margin ? -s * (margin - D) / D : 0.0;
        }
        for (int k = 0; k < d; k++) {
            double g = coef * ((double)x1[o + k] - (double)x2[o + k]);
            if (dx1) dx1[o + k] = (cn_real)g;
            if (dx2) dx2[o + k] = (cn_real)(-g);
        }
    }
}
