/* loss_regression.c: elementwise losses, forward and backward side by side:
 * sigmoid binary cross-entropy with logits (multi-label, optional pos_weight),
 * MSE, L1, smooth L1 and Huber, each a mean as PyTorch's reduction 'mean'.
 * Formulas: docs/kernels/loss.md. */
#include "convnet/loss_kernels.h"

#include <math.h>

/* softplus: log(1 + exp(z)) without overflow or loss of precision. */
static double softplus(double z)
{
    return z > 0.0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

/* sigmoid: 1 / (1 + exp(-z)), stable for either sign. */
static double sigmoid(double z)
{
    if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

/* ------------------------------------------------------------------ BCE */

double cn_bce_logits_forward(int n, int c, const cn_real *x, const cn_real *t,
                             const cn_real *pw)
{
    CN_ASSERT(n >= 1 && c >= 1 && x && t);
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < c; j++) {
            size_t at = (size_t)i * c + j;
            double z = (double)x[at], tt = (double)t[at];
            double p = pw ? (double)pw[j] : 1.0;
            total += p * tt * softplus(-z) + (1.0 - tt) * softplus(z);
        }
    }
    return total / ((double)n * c);
}

void cn_bce_logits_backward(int n, int c, const cn_real *x, const cn_real *t,
                            const cn_real *pw, double dloss, cn_real *dx)
{
    CN_ASSERT(n >= 1 && c >= 1 && x && t && dx);
    double s = dloss / ((double)n * c);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < c; j++) {
            size_t at = (size_t)i * c + j;
            double z = (double)x[at], tt = (double)t[at];
            double p = pw ? (double)pw[j] : 1.0;
            dx[at] = (cn_real)(s * (sigmoid(z) * (p * tt + 1.0 - tt) - p * tt));
        }
    }
}

/* ------------------------------------------------------------------ elementwise */

enum { REG_MSE = 0, REG_L1, REG_SMOOTH_L1, REG_HUBER };

/* reg_term: the loss of one residual r and its derivative in *g; par is beta
 * (smooth L1) or delta (Huber). */
static double reg_term(int kind, double r, double par, double *g)
{
    double a = fabs(r);
    double sg = r > 0.0 ? 1.0 : (r < 0.0 ? -1.0 : 0.0);
    switch (kind) {
    case REG_MSE: *g = 2.0 * r; return r * r;
    case REG_L1: *g = sg; return a;
    case REG_SMOOTH_L1:
        if (a < par) {
            *g = r / par;
            return 0.5 * r * r / par;
        }
        *g = sg;
        return a - 0.5 * par;
    default:
        if (a <= par) {
            *g = r;
            return 0.5 * r * r;
        }
        *g = par * sg;
        return par * (a - 0.5 * par);
    }
}

static double reg_forward(int kind, size_t count, const cn_real *x, const cn_real *t,
                          double par)
{
    CN_ASSERT(count >= 1 && x && t);
    double total = 0.0, g;
    for (size_t k = 0; k < count; k++)
        total += reg_term(kind, (double)x[k] - (double)t[k], par, &g);
    return total / (double)count;
}

static void reg_backward(int kind, size_t count, const cn_real *x, const cn_real *t,
                         double par, double dloss, cn_real *dx)
{
    CN_ASSERT(count >= 1 && x && t && dx);
    double s = dloss / (double)count, g;
    for (size_t k = 0; k < count; k++) {
        reg_term(kind, (double)x[k] - (double)t[k], par, &g);
        dx[k] = (cn_real)(s * g);
    }
}

double cn_mse_forward(size_t count, const cn_real *x, const cn_real *t)
{
    return reg_forward(REG_MSE, count, x, t, 0.0);
}

void cn_mse_backward(size_t count, const cn_real *x, const cn_real *t, double dloss,
                     cn_real *dx)
{
    reg_backward(REG_MSE, count, x, t, 0.0, dloss, dx);
}

double cn_l1_forward(size_t count, const cn_real *x, const cn_real *t)
{
    return reg_forward(REG_L1, count, x, t, 0.0);
}

void cn_l1_backward(size_t count, const cn_real *x, const cn_real *t, double dloss,
                    cn_real *dx)
{
    reg_backward(REG_L1, count, x, t, 0.0, dloss, dx);
}

double cn_smooth_l1_forward(size_t count, const cn_real *x, const cn_real *t, double beta)
{
    CN_ASSERT(beta >= 0.0);
    return reg_forward(REG_SMOOTH_L1, count, x, t, beta);
}

void cn_smooth_l1_backward(size_t count, const cn_real *x, const cn_real *t, double beta,
                           double dloss, cn_real *dx)
{
    CN_ASSERT(beta >= 0.0);
    reg_backward(REG_SMOOTH_L1, count, x, t, beta, dloss, dx);
}

double cn_huber_forward(size_t count, const cn_real *x, const cn_real *t, double delta)
{
    CN_ASSERT(delta > 0.0);
    return reg_forward(REG_HUBER, count, x, t, delta);
}

void cn_huber_backward(size_t count, const cn_real *x, const cn_real *t, double delta,
                       double dloss, cn_real *dx)
{
    CN_ASSERT(delta > 0.0);
    reg_backward(REG_HUBER, count, x, t, delta, dloss, dx);
}
