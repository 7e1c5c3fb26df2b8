/* loss_margin.c: margin-based classification losses, forward and backward side
 * by side: the Weston-Watkins multiclass hinge and squared hinge (CS231n), the
 * ramp (truncated hinge) of Collobert et al. 2006, and the large-margin softmax
 * (L-Softmax) of Liu et al. 2016 on the last linear layer. Derivations:
 * docs/kernels/loss.md. */
#include "convnet/kernels.h"
#include "convnet/loss_kernels.h"

#include <math.h>

#define LS_PI 3.14159265358979323846

/* MARGIN_HINGE, MARGIN_SQUARED, MARGIN_RAMP: the per-margin penalty. */
enum { MARGIN_HINGE = 0, MARGIN_SQUARED = 1, MARGIN_RAMP = 2 };

/* margin_term: penalty of one margin m and its derivative in *g. A margin of
 * exactly 0 (and, for the ramp, exactly cap) counts as flat. */
static double margin_term(int kind, double m, double cap, double *g)
{
    *g = 0.0;
    if (m <= 0.0) return 0.0;
    switch (kind) {
    case MARGIN_SQUARED: *g = 2.0 * m; return m * m;
    case MARGIN_RAMP:
        if (m >= cap) return cap;
        *g = 1.0;
        return m;
    default: *g = 1.0; return m;
    }
}

static double margin_forward(int kind, int n, int c, const cn_real *x, const int *y,
                             double margin, double cap)
{
    CN_ASSERT(n >= 1 && c >= 1 && x && y);
    CN_ASSERT(margin > 0.0 && cap > 0.0);
    double total = 0.0, g;
    for (int i = 0; i < n; i++) {
        const cn_real *xi = x + (size_t)i * c;  // xi (c)
        CN_ASSERT(y[i] >= 0 && y[i] < c);
        double sy = (double)xi[y[i]];
        for (int j = 0; j < c; j++)
            if (j != y[i]) total += margin_term(kind, (double)xi[j] - sy + margin, cap, &g);
    }
    return total / n;
}

static void margin_backward(int kind, int n, int c, const cn_real *x, const int *y,
                            double margin, double cap, double dloss, cn_real *dx)
{
    CN_ASSERT(n >= 1 && c >= 1 && x && y && dx);
    CN_ASSERT(margin > 0.0 && cap > 0.0);
    double s = dloss / n;
    for (int i = 0; i < n; i++) {
        const cn_real *xi = x + (size_t)i * c;  // xi (c)
        cn_real *gi = dx + (size_t)i * c;       // gi (c)
        int yi = y[i];
        CN_ASSERT(yi >= 0 && yi < c);
        double sy = (double)xi[yi], gy = 0.0, g;
        for (int j = 0; j < c; j++) {
            if (j == yi) continue;
            margin_term(kind, (double)xi[j] - sy + margin, cap, &g);
            gi[j] = (cn_real)(s * g);
            gy -= g;
        }
        gi[yi] = (cn_real)(s * gy);
    }
}

double cn_multi_hinge_forward(int n, int c, const cn_real *x, const int *y, double margin,
                              int squared)
{
    return margin_forward(squared ? MARGIN_SQUARED : MARGIN_HINGE, n, c, x, y, margin, 1.0);
}

void cn_multi_hinge_backward(int n, int c, const cn_real *x, const int *y, double margin,
                             int squared, double dloss, cn_real *dx)
{
    margin_backward(squared ? MARGIN_SQUARED : MARGIN_HINGE, n, c, x, y, margin, 1.0, dloss,
                    dx);
}

double cn_ramp_forward(int n, int c, const cn_real *x, const int *y, double margin,
                       double cap)
{
    return margin_forward(MARGIN_RAMP, n, c, x, y, margin, cap);
}

void cn_ramp_backward(int n, int c, const cn_real *x, const int *y, double margin,
                      double cap, double dloss, cn_real *dx)
{
    margin_backward(MARGIN_RAMP, n, c, x, y, margin, cap, dloss, dx);
}

/* ------------------------------------------------------------------ L-Softmax */

size_t cn_lsoftmax_workspace_size(int n, int c)
{
    CN_ASSERT(n >= 1 && c >= 1);
    return (size_t)n * ((size_t)c + 2);
}

/* psi_of_cos: psi(theta) = (-1)^k cos(m theta) - 2k for cos theta = cs in
 * [-1, 1], theta in [k pi/m, (k+1) pi/m], and its derivative with respect to
 * cs, (-1)^k m U_{m-1}(cs), in *dpsi. cos(m theta) = T_m(cs) (Chebyshev). k is
 * the number of boundaries j pi/m (j = 1..m-1) that theta has reached; at a
 * boundary both pieces agree in value and slope, so the choice there is moot. */
static double psi_of_cos(int m, double cs, double *dpsi)
{
    int k = 0;
    for (int j = 1; j < m; j++)
        if (cs <= cos(j * LS_PI / m)) k = j;
    double T, U; /* T_m(cs), U_{m-1}(cs) */
    double c2 = cs * cs;
    switch (m) {
    case 1: T = cs; U = 1.0; break;
    case 2: T = 2.0 * c2 - 1.0; U = 2.0 * cs; break;
    case 3: T = (4.0 * c2 - 3.0) * cs; U = 4.0 * c2 - 1.0; break;
    default: T = 8.0 * c2 * c2 - 8.0 * c2 + 1.0; U = (8.0 * c2 - 4.0) * cs; break;
    }
    double sign = (k & 1) ? -1.0 : 1.0;
    *dpsi = sign * m * U;
    return sign * T - 2.0 * k;
}

/* dot_x_wcol: x_i . W_j for xi (d) and column j of W (d, c), with |x_i| in *nx
 * and |W_j| in *nw, all in double. */
static double dot_x_wcol(int d, int c, const cn_real *xi, const cn_real *W, int j,
                         double *nx, double *nw)
{
    double dot = 0.0, sx = 0.0, sw = 0.0;
    for (int k = 0; k < d; k++) {
        double a = (double)xi[k], b = (double)W[(size_t)k * c + j];
        dot += a * b;
        sx += a * a;
        sw += b * b;
    }
    *nx = sqrt(sx);
    *nw = sqrt(sw);
    return dot;
}

/* lsoftmax_logits: F (n, c) = x W with each target logit replaced by the
 * L-Softmax f_iy. When g1 and hq (both (n)) are not NULL, also the backward's
 * per-row coefficients of docs/kernels/loss.md: g1[i] = (lambda + psi')/(1 +
 * lambda) - 1 and hq[i] = (psi - cos theta psi')/(1 + lambda), both 0 when x_i
 * or W_y is zero. */
static void lsoftmax_logits(int n, int d, int c, const cn_real *x, const cn_real *W,
                            const int *y, int m, double lambda, cn_real *F, cn_real *g1,
                            cn_real *hq)
{
    cn_gemm(CN_NO_TRANS, CN_NO_TRANS, n, c, d, 1, x, d, W, c, 0, F, c);
    for (int i = 0; i < n; i++) {
        const cn_real *xi = x + (size_t)i * d;  // xi (d)
        int yi = y[i];
        CN_ASSERT(yi >= 0 && yi < c);
        double nx, nw;
        double dot = dot_x_wcol(d, c, xi, W, yi, &nx, &nw);
        double r = nx * nw;
        double fy = dot, a = 0.0, h = 0.0;
        if (r > 0.0) {
            double cs = dot / r;
            if (cs > 1.0) cs = 1.0;
            if (cs < -1.0) cs = -1.0;
            double dpsi, psi = psi_of_cos(m, cs, &dpsi);
            fy = (lambda * dot + r * psi) / (1.0 + lambda);
            a = (lambda + dpsi) / (1.0 + lambda) - 1.0;
            h = (psi - cs * dpsi) / (1.0 + lambda);
        }
        F[(size_t)i * c + yi] = (cn_real)fy;
        if (g1) g1[i] = (cn_real)a;
        if (hq) hq[i] = (cn_real)h;
    }
}

double cn_lsoftmax_forward(int n, int d, int c, const cn_real *x, const cn_real *W,
                           const int *y, int m, double lambda, cn_real *ws)
{
    CN_ASSERT(n >= 1 && d >= 1 && c >= 1 && x && W && y && ws);
    CN_ASSERT(m >= 1 && m <= CN_LSOFTMAX_MAX_M && lambda >= 0.0);
    cn_real *F = ws;  // F (n, c)
    lsoftmax_logits(n, d, c, x, W, y, m, lambda, F, NULL, NULL);
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const cn_real *fi = F + (size_t)i * c;  // fi (c)
        double mx = (double)fi[0];
        for (int j = 1; j < c; j++)
            if ((double)fi[j] > mx) mx = (double)fi[j];
        double sum = 0.0;
        for (int j = 0; j < c; j++) sum += exp((double)fi[j] - mx);
        total += log(sum) - ((double)fi[y[i]] - mx);
    }
    return total / n;
}

void cn_lsoftmax_backward(int n, int d, int c, const cn_real *x, const cn_real *W,
                          const int *y, int m, double lambda, double dloss, cn_real *dx,
                          cn_real *dW, cn_real *ws)
{
    CN_ASSERT(n >= 1 && d >= 1 && c >= 1 && x && W && y && ws);
    CN_ASSERT(m >= 1 && m <= CN_LSOFTMAX_MAX_M && lambda >= 0.0);
    cn_real *G = ws;                        // G (n, c): logits, then their gradient
    cn_real *g1 = ws + (size_t)n * c;       // g1 (n)
    cn_real *hq = g1 + n;                   // hq (n)
    lsoftmax_logits(n, d, c, x, W, y, m, lambda, G, g1, hq);

    /* dF = dloss (softmax - onehot) / n; then G_iy = dF_iy (1 + g1_i) so that
     * G W^T and x^T G carry the terms of df_y along W_y and x_i; the remaining
     * terms (along x_i for dx, along W_y for dW) use q_i = dF_iy h_i. */
    double s = dloss / n;
    for (int i = 0; i < n; i++) {
        cn_real *gi = G + (size_t)i * c;  // gi (c)
        double mx = (double)gi[0];
        for (int j = 1; j < c; j++)
            if ((double)gi[j] > mx) mx = (double)gi[j];
        double sum = 0.0;
        for (int j = 0; j < c; j++) sum += exp((double)gi[j] - mx);
        double lse = log(sum);
        for (int j = 0; j < c; j++) {
            double p = exp((double)gi[j] - mx - lse);
            gi[j] = (cn_real)(s * (j == y[i] ? p - 1.0 : p));
        }
        double dfy = (double)gi[y[i]];
        gi[y[i]] = (cn_real)(dfy * (1.0 + (double)g1[i]));
        hq[i] = (cn_real)(dfy * (double)hq[i]);
    }

    if (dx) {
        /* dx (n, d) = G (n, c) W^T (c, d) + q_i (|W_y| / |x_i|) x_i */
        cn_gemm(CN_NO_TRANS, CN_TRANS, n, d, c, 1, G, c, W, c, 0, dx, d);
        for (int i = 0; i < n; i++) {
            const cn_real *xi = x + (size_t)i * d;  // xi (d)
            cn_real *dxi = dx + (size_t)i * d;      // dxi (d)
            double nx, nw;
            dot_x_wcol(d, c, xi, W, y[i], &nx, &nw);
            if (nx * nw == 0.0) continue;
            double coef = (double)hq[i] * nw / nx;
            for (int k = 0; k < d; k++) dxi[k] = (cn_real)((double)dxi[k] + coef * (double)xi[k]);
        }
    }
    if (dW) {
        /* dW (d, c) += x^T (d, n) G (n, c) + q_i (|x_i| / |W_y|) W_y in column y_i,
         * the rows' terms added in increasing i */
        cn_gemm(CN_TRANS, CN_NO_TRANS, d, c, n, 1, x, d, G, c, 1, dW, c);
        for (int i = 0; i < n; i++) {
            const cn_real *xi = x + (size_t)i * d;  // xi (d)
            int yi = y[i];
            double nx, nw;
            dot_x_wcol(d, c, xi, W, yi, &nx, &nw);
            if (nx * nw == 0.0) continue;
            double coef = (double)hq[i] * nx / nw;
            for (int k = 0; k < d; k++) {
                size_t at = (size_t)k * c + yi;
                dW[at] = (cn_real)((double)dW[at] + coef * (double)W[at]);
            }
        }
    }
}
