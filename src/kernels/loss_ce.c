/* loss_ce.c: softmax cross-entropy (PyTorch's class weights and label smoothing)
 * and the KL divergence from softmax(x) to a target distribution, forward and
 * backward side by side; plus the label check every classification loss shares.
 * Formulas and gradients: docs/kernels/loss.md. */
#include "convnet/loss_kernels.h"

#include <math.h>

cn_status cn_loss_check_labels(const int *y, int n, int c, cn_error *err)
{
    if (n < 0 || c < 1)
        return cn_error_set(err, CN_ERR_ARG, "labels: bad sizes n %d, c %d", n, c);
    if (n > 0 && !y) return cn_error_set(err, CN_ERR_ARG, "labels: missing label array");
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= c)
            return cn_error_set(err, CN_ERR_RANGE,
                                "labels: index %d: label %d outside [0, %d)", i, y[i], c);
    return CN_OK;
}

/* row_lse: max and log-sum-exp of the row x (c): lse = log sum_j exp(x_j - mx),
 * so log_softmax(x)_j = x_j - mx - lse. */
static void row_lse(const cn_real *x, int c, double *mx_out, double *lse_out)
{
    double mx = (double)x[0];
    for (int j = 1; j < c; j++)
        if ((double)x[j] > mx) mx = (double)x[j];
    double sum = 0.0;
    for (int j = 0; j < c; j++) sum += exp((double)x[j] - mx);
    *mx_out = mx;
    *lse_out = log(sum);
}

/* ce_weights: the smoothing row coefficient (eps/c) sum_j w_j, and the
 * normaliser sum_i w_{y_i} (n without weights). */
static void ce_weights(int n, int c, const int *y, const cn_real *weight, double eps,
                       double *smooth_total, double *denom)
{
    double wsum = 0.0, den = 0.0;
    for (int j = 0; j < c; j++) wsum += weight ? (double)weight[j] : 1.0;
    for (int i = 0; i < n; i++) {
        CN_ASSERT(y[i] >= 0 && y[i] < c);
        den += weight ? (double)weight[y[i]] : 1.0;
    }
    *smooth_total = eps / c * wsum;
    *denom = den;
}

/* --------------------------------------------------------------- cross-entropy */

double cn_softmax_ce_forward(int n, int c, const cn_real *x, const int *y,
                             const cn_real *weight, double eps)
{
    CN_ASSERT(n >= 1 && c >= 1 && x && y);
    CN_ASSERT(eps >= 0.0 && eps <= 1.0);
    double smooth_total, denom;
    ce_weights(n, c, y, weight, eps, &smooth_total, &denom);
    CN_ASSERT(denom > 0.0);
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const cn_real *xi = x + (size_t)i * c;  // xi (c)
        double mx, lse;
        row_lse(xi, c, &mx, &lse);
        int yi = y[i];
        double wy = weight ? (double)weight[yi] : 1.0;
        double nll = lse - ((double)xi[yi] - mx);
        double row = (1.0 - eps) * wy * nll;
        if (eps > 0.0) {
            double sm = 0.0;
            for (int j = 0; j < c; j++) {
                double wj = weight ? (double)weight[j] : 1.0;
                sm += wj * (lse - ((double)xi[j] - mx));
            }
            row += eps / c * sm;
        }
        total += row;
    }
    return total / denom;
}

void cn_softmax_ce_backward(int n, int c, const cn_real *x, const int *y,
                            const cn_real *weight, double eps, double dloss, cn_real *dx)
{
    CN_ASSERT(n >= 1 && c >= 1 && x && y && dx);
    CN_ASSERT(eps >= 0.0 && eps <= 1.0);
    double smooth_total, denom;
    ce_weights(n, c, y, weight, eps, &smooth_total, &denom);
    CN_ASSERT(denom > 0.0);
    double s = dloss / denom;
    for (int i = 0; i < n; i++) {
        const cn_real *xi = x + (size_t)i * c;  // xi (c)
        cn_real *gi = dx + (size_t)i * c;       // gi (c)
        double mx, lse;
        row_lse(xi, c, &mx, &lse);
        int yi = y[i];
        double wy = weight ? (double)weight[yi] : 1.0;
        double A = (1.0 - eps) * wy + smooth_total;  // sum_j a_ij
        for (int j = 0; j < c; j++) {
            double p = exp((double)xi[j] - mx - lse);
            double wj = weight ? (double)weight[j] : 1.0;
            double a = eps / c * wj + (j == yi ? (1.0 - eps) * wy : 0.0);
            gi[j] = (cn_real)(s * (A * p - a));
        }
    }
}

/* --------------------------------------------------------------- KL divergence */

double cn_kl_div_forward(int n, int c, const cn_real *x, const cn_real *t)
{
    CN_ASSERT(n >= 1 && c >= 1 && x && t);
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const cn_real *xi = x + (size_t)i * c;  // xi (c)
        const cn_real *ti = t + (size_t)i * c;  // ti (c)
        double mx, lse;
        row_lse(xi, c, &mx, &lse);
        for (int j = 0; j < c; j++) {
            double tj = (double)ti[j];
            double logp = (double)xi[j] - mx - lse;
            /* xlogy(t, t) - t logp: the entropy term is 0 where t is 0 */
            double ent = tj > 0.0 ? tj * log(tj) : 0.0;
            total += ent - tj * logp;
        }
    }
    return total / n;
}

void cn_kl_div_backward(int n, int c, const cn_real *x, const cn_real *t, double dloss,
                        cn_real *dx)
{
    CN_ASSERT(n >= 1 && c >= 1 && x && t && dx);
    double s = dloss / n;
    for (int i = 0; i < n; i++) {
        const cn_real *xi = x + (size_t)i * c;  // xi (c)
        const cn_real *ti = t + (size_t)i * c;  // ti (c)
        cn_real *gi = dx + (size_t)i * c;       // gi (c)
        double mx, lse, T = 0.0;
        row_lse(xi, c, &mx, &lse);
        for (int j = 0; j < c; j++) T += (double)ti[j];
        for (int j = 0; j < c; j++) {
            double p = exp((double)xi[j] - mx - lse);
            gi[j] = (cn_real)(s * (T * p - (double)ti[j]));
        }
    }
}
