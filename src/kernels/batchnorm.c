/* src/kernels/batchnorm.c: batch normalisation (PyTorch's BatchNorm1d / BatchNorm2d)
 * on x (n, c, inner), forward in training and evaluation mode with running
 * statistics, and backward in both modes. Statistics per channel are accumulated
 * in double, two passes (mean, then squared deviations); one thread owns each
 * channel, so results never depend on the thread count. Formulas:
 * docs/kernels/norm.md; backward derivation: docs/derivations/batchnorm.md. */
#include "convnet/norm_kernels.h"

#include <math.h>

/* check_sizes: n, c, inner >= 1 and n * c * inner fits in size_t. */
static cn_status check_sizes(int n, int c, int inner, cn_error *err)
{
    if (n < 1 || c < 1 || inner < 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "batchnorm: sizes (n %d, c %d, inner %d) must be >= 1", n, c,
                            inner);
    size_t nc, total;
    if (cn_mul_overflow((size_t)n, (size_t)c, &nc) ||
        cn_mul_overflow(nc, (size_t)inner, &total))
        return cn_error_set(err, CN_ERR_RANGE,
                            "batchnorm: element count n %d * c %d * inner %d overflows",
                            n, c, inner);
    return CN_OK;
}

cn_status cn_batchnorm_forward(int n, int c, int inner, const cn_real *x,
                               const cn_real *gamma, const cn_real *beta, cn_real *y,
                               int training, double momentum, double eps,
                               cn_real *running_mean, cn_real *running_var,
                               cn_real *save_mean, cn_real *save_invstd, cn_error *err)
{
    cn_status st = check_sizes(n, c, inner, err);
    if (st != CN_OK) return st;
    if ((gamma == NULL) != (beta == NULL))
        return cn_error_set(err, CN_ERR_ARG, "batchnorm: gamma and beta must both be given "
                                             "or both be NULL");
    if ((running_mean == NULL) != (running_var == NULL))
        return cn_error_set(err, CN_ERR_ARG, "batchnorm: running_mean and running_var "
                                             "must both be given or both be NULL");
    if ((save_mean == NULL) != (save_invstd == NULL))
        return cn_error_set(err, CN_ERR_ARG, "batchnorm: save_mean and save_invstd must "
                                             "both be given or both be NULL");
    if (!(eps >= 0.0) || !isfinite(eps))
        return cn_error_set(err, CN_ERR_ARG, "batchnorm: eps %g must be finite and >= 0",
                            eps);
    if (!(momentum >= 0.0 && momentum <= 1.0))
        return cn_error_set(err, CN_ERR_ARG, "batchnorm: momentum %g must be in [0, 1]",
                            momentum);
    const int batch_stats = training || running_mean == NULL;
    const size_t m = (size_t)n * (size_t)inner;
    if (batch_stats && m < 2)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "batchnorm: expected more than 1 value per channel when "
                            "normalising with batch statistics, got input (n %d, c %d, "
                            "inner %d)", n, c, inner);
    CN_ASSERT(x != NULL && y != NULL);

    const size_t cs = (size_t)c, is = (size_t)inner;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int ch = 0; ch < c; ch++) {
        double mean, var;
        if (batch_stats) {
            double s = 0.0;
            for (size_t i = 0; i < (size_t)n; i++) {
                const cn_real *xr = x + (i * cs + (size_t)ch) * is;  // row (inner)
                for (size_t j = 0; j < is; j++) s += (double)xr[j];
            }
            mean = s / (double)m;
            double ss = 0.0;
            for (size_t i = 0; i < (size_t)n; i++) {
                const cn_real *xr = x + (i * cs + (size_t)ch) * is;
                for (size_t j = 0; j < is; j++) {
                    double d = (double)xr[j] - mean;
                    ss += d * d;
                }
            }
            var = ss / (double)m;
            if (training && running_mean) {
                double unbiased = ss / (double)(m - 1);
                running_mean[ch] = (cn_real)((1.0 - momentum) * (double)running_mean[ch] +
                                             momentum * mean);
                running_var[ch] = (cn_real)((1.0 - momentum) * (double)running_var[ch] +
                                            momentum * unbiased);
            }
        } else {
            mean = (double)running_mean[ch];
            var = (double)running_var[ch];
        }
        double invstd = 1.0 / sqrt(var + eps);
        if (save_mean) {
            save_mean[ch] = (cn_real)mean;
            save_invstd[ch] = (cn_real)invstd;
        }
        double scale = gamma ? (double)gamma[ch] * invstd : invstd;
        double shift = beta ? (double)beta[ch] : 0.0;
        for (size_t i = 0; i < (size_t)n; i++) {
            size_t off = (i * cs + (size_t)ch) * is;
            const cn_real *xr = x + off;  // row (inner)
            cn_real *yr = y + off;        // row (inner)
            for (size_t j = 0; j < is; j++)
                yr[j] = (cn_real)(((double)xr[j] - mean) * scale + shift);
        }
    }
    return CN_OK;
}

void cn_batchnorm_backward(int n, int c, int inner, int batch_stats, const cn_real *x,
                           const cn_real *gamma, const cn_real *save_mean,
                           const cn_real *save_invstd, const cn_real *dy, cn_real *dx,
                           cn_real *dgamma, cn_real *dbeta)
{
    CN_ASSERT(n >= 1 && c >= 1 && inner >= 1);
    CN_ASSERT(x != NULL && save_mean != NULL && save_invstd != NULL && dy != NULL);
    const size_t cs = (size_t)c, is = (size_t)inner;
    const double m = (double)n * (double)inner;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int ch = 0; ch < c; ch++) {
        const double mean = (double)save_mean[ch], invstd = (double)save_invstd[ch];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (size_t i = 0; i < (size_t)n; i++) {
            size_t off = (i * cs + (size_t)ch) * is;
            const cn_real *xr = x + off;    // row (inner)
            const cn_real *dyr = dy + off;  // row (inner)
            for (size_t j = 0; j < is; j++) {
                double g = (double)dyr[j];
                sum_dy += g;
                sum_dy_xhat += g * ((double)xr[j] - mean) * invstd;
            }
        }
        if (dgamma) dgamma[ch] += (cn_real)sum_dy_xhat;
        if (dbeta) dbeta[ch] += (cn_real)sum_dy;
        if (!dx) continue;
        const double gi = (gamma ? (double)gamma[ch] : 1.0) * invstd;
        if (batch_stats) {
            // dx = gamma * invstd / m * (m * dy - sum(dy) - xhat * sum(dy * xhat))
            const double a = sum_dy / m, b = sum_dy_xhat / m;
            for (size_t i = 0; i < (size_t)n; i++) {
                size_t off = (i * cs + (size_t)ch) * is;
                const cn_real *xr = x + off;
                const cn_real *dyr = dy + off;
                cn_real *dxr = dx + off;  // row (inner)
                for (size_t j = 0; j < is; j++) {
                    double xhat = ((double)xr[j] - mean) * invstd;
                    dxr[j] = (cn_real)(gi * ((double)dyr[j] - a - xhat * b));
                }
            }
        } else {
            for (size_t i = 0; i < (size_t)n; i++) {
                size_t off = (i * cs + (size_t)ch) * is;
                const cn_real *dyr = dy + off;
                cn_real *dxr = dx + off;
                for (size_t j = 0; j < is; j++) dxr[j] = (cn_real)(gi * (double)dyr[j]);
            }
        }
    }
}
