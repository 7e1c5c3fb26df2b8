/* src/kernels/batchnorm.c: batch normalisation (PyTorch's BatchNorm1d / BatchNorm2d)
 * on x (n, c, inner), forward in training and evaluation mode with running
 * statistics, the fused evaluation batch norm + ReLU, and backward in both modes.
 * Statistics per channel are accumulated in double, two passes (mean, then
 * squared deviations); the backward pass reads x and dy twice (one reduction of
 * sum(dy) and sum(dy * (x - mean)), one output pass). Reductions keep LANES
 * partial sums (element j of a row goes to lane j % LANES) combined in a fixed
 * order, so the loops vectorise and the order never changes; one thread owns
 * each channel, so results never depend on the thread count. Formulas:
 * docs/kernels/norm.md; backward derivation: docs/derivations/batchnorm.md. */
#include "convnet/norm_kernels.h"

#include <math.h>

/* LANES: partial sums per reduction (two AVX-512 registers of doubles); also
 * the block length of the output passes. */
#define LANES 16

/* PAR_MIN_WORK: below this many elements (n * c * inner) the channels run on
 * one thread: the passes stream ~1 element per cycle, and waking a team costs
 * more than that (much more on a loaded machine). Results are identical. */
#define PAR_MIN_WORK ((size_t)1 << 16)

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

/* lanes_total: the sum of the LANES partial sums, always in the same order. */
static double lanes_total(const double *acc)
{
    double s = 0.0;
    for (int l = 0; l < LANES; l++) s += acc[l];
    return s;
}

/* chan_sum: sum of one channel's values: n rows of is elements, stride apart. */
static double chan_sum(const cn_real *x, size_t n, size_t stride, size_t is)
{
    double acc[LANES] = {0};
    for (size_t i = 0; i < n; i++) {
        const cn_real *xr = x + i * stride; // row (inner)
        size_t j = 0;
        for (; j + LANES <= is; j += LANES)
            for (size_t l = 0; l < LANES; l++) acc[l] += (double)xr[j + l];
        for (size_t l = 0; j < is; j++, l++) acc[l] += (double)xr[j];
    }
    return lanes_total(acc);
}

/* chan_sqdev: sum of (x - mean)^2 over one channel (rows as chan_sum). */
static double chan_sqdev(const cn_real *x, size_t n, size_t stride, size_t is, double mean)
{
    double acc[LANES] = {0};
    for (size_t i = 0; i < n; i++) {
        const cn_real *xr = x + i * stride; // row (inner)
        size_t j = 0;
        for (; j + LANES <= is; j += LANES)
            for (size_t l = 0; l < LANES; l++) {
                double d = (double)xr[j + l] - mean;
                acc[l] += d * d;
            }
        for (size_t l = 0; j < is; j++, l++) {
            double d = (double)xr[j] - mean;
            acc[l] += d * d;
        }
    }
    return lanes_total(acc);
}

/* chan_dy_sums: *sdy = sum(dy), *sdyx = sum(dy * (x - mean)) over one channel. */
static void chan_dy_sums(const cn_real *x, const cn_real *dy, size_t n, size_t stride,
                         size_t is, double mean, double *sdy, double *sdyx)
{
    double a1[LANES] = {0}, a2[LANES] = {0};
    for (size_t i = 0; i < n; i++) {
        const cn_real *xr = x + i * stride;   // row (inner)
        const cn_real *dyr = dy + i * stride; // row (inner)
        size_t j = 0;
        for (; j + LANES <= is; j += LANES)
            for (size_t l = 0; l < LANES; l++) {
                double g = (double)dyr[j + l];
                a1[l] += g;
                a2[l] += g * ((double)xr[j + l] - mean);
            }
        for (size_t l = 0; j < is; j++, l++) {
            double g = (double)dyr[j];
            a1[l] += g;
            a2[l] += g * ((double)xr[j] - mean);
        }
    }
    *sdy = lanes_total(a1);
    *sdyx = lanes_total(a2);
}

/* affine_row: yr = (xr - mean) * scale + shift in double, then ReLU when relu
 * (PyTorch's clamp_min: v < 0 ? 0 : v); blocks go through a local buffer, so
 * yr may be xr. */
static void affine_row(const cn_real *xr, cn_real *yr, size_t is, double mean, double scale,
                       double shift, int relu)
{
    // xr, yr (inner); in cn_real (float lanes vectorise twice as wide as double)
    const cn_real mf = (cn_real)mean, sf = (cn_real)scale, bf = (cn_real)shift;
    size_t j = 0;
    for (; j + LANES <= is; j += LANES) {
        cn_real t[LANES];
        for (size_t l = 0; l < LANES; l++) t[l] = (xr[j + l] - mf) * sf + bf;
        if (relu)
            for (size_t l = 0; l < LANES; l++) t[l] = t[l] < 0 ? 0 : t[l];
        for (size_t l = 0; l < LANES; l++) yr[j + l] = t[l];
    }
    for (; j < is; j++) {
        cn_real v = (xr[j] - mf) * sf + bf;
        yr[j] = relu && v < 0 ? 0 : v;
    }
}

static void scale_row(const cn_real *dyr, cn_real *dxr, size_t is, double gi)
{
    // dyr, dxr (inner)
    size_t j = 0;
    for (; j + LANES <= is; j += LANES) {
        cn_real t[LANES];
        for (size_t l = 0; l < LANES; l++) t[l] = (cn_real)(gi * (double)dyr[j + l]);
        for (size_t l = 0; l < LANES; l++) dxr[j + l] = t[l];
    }
    for (; j < is; j++) dxr[j] = (cn_real)(gi * (double)dyr[j]);
}

/* bn_forward: cn_batchnorm_forward, with the output passed through ReLU when relu. */
static cn_status bn_forward(int n, int c, int inner, const cn_real *x, const cn_real *gamma,
                            const cn_real *beta, cn_real *y, int training, double momentum,
                            double eps, cn_real *running_mean, cn_real *running_var,
                            cn_real *save_mean, cn_real *save_invstd, int relu, cn_error *err)
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

    const size_t cs = (size_t)c, is = (size_t)inner, stride = cs * is;
    const int par = m * cs >= PAR_MIN_WORK;
    (void)par;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#endif
    for (int ch = 0; ch < c; ch++) {
        const cn_real *xc = x + (size_t)ch * is; // channel ch of image 0 (rows stride apart)
        cn_real *yc = y + (size_t)ch * is;
        double mean, var;
        if (batch_stats) {
            mean = chan_sum(xc, (size_t)n, stride, is) / (double)m;
            double ss = chan_sqdev(xc, (size_t)n, stride, is, mean);
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
        for (size_t i = 0; i < (size_t)n; i++)
            affine_row(xc + i * stride, yc + i * stride, is, mean, scale, shift, relu);
    }
    return CN_OK;
}

cn_status cn_batchnorm_forward(int n, int c, int inner, const cn_real *x,
                               const cn_real *gamma, const cn_real *beta, cn_real *y,
                               int training, double momentum, double eps,
                               cn_real *running_mean, cn_real *running_var,
                               cn_real *save_mean, cn_real *save_invstd, cn_error *err)
{
    return bn_forward(n, c, inner, x, gamma, beta, y, training, momentum, eps, running_mean,
                      running_var, save_mean, save_invstd, 0, err);
}

cn_status cn_batchnorm_eval_relu(int n, int c, int inner, const cn_real *x,
                                 const cn_real *gamma, const cn_real *beta, cn_real *y,
                                 const cn_real *running_mean, const cn_real *running_var,
                                 double eps, cn_real *save_mean, cn_real *save_invstd,
                                 cn_error *err)
{
    if (!running_mean || !running_var)
        return cn_error_set(err, CN_ERR_ARG, "batchnorm_eval_relu: running_mean and "
                                             "running_var are required");
    /* evaluation never writes the running statistics: the casts only share code */
    return bn_forward(n, c, inner, x, gamma, beta, y, 0, 0.0, eps, (cn_real *)running_mean,
                      (cn_real *)running_var, save_mean, save_invstd, 1, err);
}

void cn_batchnorm_backward(int n, int c, int inner, int batch_stats, const cn_real *x,
                           const cn_real *gamma, const cn_real *save_mean,
                           const cn_real *save_invstd, const cn_real *dy, cn_real *dx,
                           cn_real *dgamma, cn_real *dbeta)
{
    CN_ASSERT(n >= 1 && c >= 1 && inner >= 1);
    CN_ASSERT(x != NULL && save_mean != NULL && save_invstd != NULL && dy != NULL);
    const size_t cs = (size_t)c, is = (size_t)inner, stride = cs * is;
    const double m = (double)n * (double)inner;
    const int par = (size_t)n * stride >= PAR_MIN_WORK;
    (void)par;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#endif
    for (int ch = 0; ch < c; ch++) {
        const double mean = (double)save_mean[ch], invstd = (double)save_invstd[ch];
        const size_t off = (size_t)ch * is; // channel ch of image 0 (rows stride apart)
        const double gi = (gamma ? (double)gamma[ch] : 1.0) * invstd;
        if (!batch_stats && !dgamma && !dbeta) {
            /* the fixed affine map: one pass */
            if (dx)
                for (size_t i = 0; i < (size_t)n; i++)
                    scale_row(dy + off + i * stride, dx + off + i * stride, is, gi);
            continue;
        }
        double sum_dy, sum_dyxm;
        chan_dy_sums(x + off, dy + off, (size_t)n, stride, is, mean, &sum_dy, &sum_dyxm);
        const double sum_dy_xhat = sum_dyxm * invstd;
        if (dgamma) dgamma[ch] += (cn_real)sum_dy_xhat;
        if (dbeta) dbeta[ch] += (cn_real)sum_dy;
        if (!dx) continue;
        if (batch_stats) {
            // dx = gamma * invstd / m * (m * dy - sum(dy) - xhat * sum(dy * xhat))
            //    = gi * dy - gi * a - (x - mean) * gi * invstd * b, in cn_real
            const double a = sum_dy / m, b = sum_dy_xhat / m;
            const cn_real kdy = (cn_real)gi, k0 = (cn_real)(gi * a),
                          kx = (cn_real)(gi * invstd * b), mf = (cn_real)mean;
            for (size_t i = 0; i < (size_t)n; i++) {
                const cn_real *xr = x + off + i * stride;   // row (inner)
                const cn_real *dyr = dy + off + i * stride; // row (inner)
                cn_real *dxr = dx + off + i * stride;       // row (inner)
                size_t j = 0;
                for (; j + LANES <= is; j += LANES) {
                    cn_real t[LANES];
                    for (size_t l = 0; l < LANES; l++)
                        t[l] = kdy * dyr[j + l] - (k0 + kx * (xr[j + l] - mf));
                    for (size_t l = 0; l < LANES; l++) dxr[j + l] = t[l];
                }
                for (; j < is; j++) dxr[j] = kdy * dyr[j] - (k0 + kx * (xr[j] - mf));
            }
        } else {
            for (size_t i = 0; i < (size_t)n; i++)
                scale_row(dy + off + i * stride, dx + off + i * stride, is, gi);
        }
    }
}
