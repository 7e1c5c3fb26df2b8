/* src/kernels/groupnorm.c: the normalisations whose statistics are taken per
 * sample: layer norm (per row of (rows, d), elementwise affine), group norm (per
 * image and group of channels, per-channel affine) and instance norm (group norm
 * with one channel per group, optionally with running statistics as PyTorch's
 * InstanceNorm*d(track_running_stats=True)), forward and backward. Statistics are
 * accumulated in double, two passes; each statistic and each parameter gradient
 * is reduced by one thread in a fixed order, so results never depend on the
 * thread count. Formulas: docs/kernels/norm.md; backward derivation:
 * docs/derivations/batchnorm.md (the same algebra with other index sets). */
#include "convnet/norm_kernels.h"

#include <limits.h>
#include <math.h>

/* LN_BLOCK: columns per block in layer norm's parameter gradients; each block's
 * sums live in double on the stack while the rows are walked in order. */
#define LN_BLOCK 64

/* check_common: sizes >= 1 (named by what), their product fits in size_t, eps
 * finite and >= 0, the affine pair and the saved-statistics pair given together. */
static cn_status check_common(const char *what, int a, int b, int cc, double eps,
                              const cn_real *gamma, const cn_real *beta,
                              const cn_real *save_mean, const cn_real *save_invstd,
                              cn_error *err)
{
    if (a < 1 || b < 1 || cc < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "%s: sizes (%d, %d, %d) must be >= 1", what,
                            a, b, cc);
    size_t ab, total;
    if (cn_mul_overflow((size_t)a, (size_t)b, &ab) ||
        cn_mul_overflow(ab, (size_t)cc, &total))
        return cn_error_set(err, CN_ERR_RANGE, "%s: element count %d * %d * %d overflows",
                            what, a, b, cc);
    if (!(eps >= 0.0) || !isfinite(eps))
        return cn_error_set(err, CN_ERR_ARG, "%s: eps %g must be finite and >= 0", what, eps);
    if ((gamma == NULL) != (beta == NULL))
        return cn_error_set(err, CN_ERR_ARG,
                            "%s: gamma and beta must both be given or both be NULL", what);
    if ((save_mean == NULL) != (save_invstd == NULL))
        return cn_error_set(err, CN_ERR_ARG,
                            "%s: save_mean and save_invstd must both be given or both be "
                            "NULL", what);
    return CN_OK;
}

/* seg_stats: mean and sum of squared deviations of v (m), in double. */
static void seg_stats(const cn_real *v, size_t m, double *mean, double *ss)
{
    double s = 0.0;
    for (size_t j = 0; j < m; j++) s += (double)v[j];
    double mu = s / (double)m, q = 0.0;
    for (size_t j = 0; j < m; j++) {
        double d = (double)v[j] - mu;
        q += d * d;
    }
    *mean = mu;
    *ss = q;
}

/* ================================================================ layer norm */

cn_status cn_layernorm_forward(int rows, int d, const cn_real *x, const cn_real *gamma,
                               const cn_real *beta, double eps, cn_real *y,
                               cn_real *save_mean, cn_real *save_invstd, cn_error *err)
{
    cn_status st = check_common("layernorm", rows, d, 1, eps, gamma, beta, save_mean,
                                save_invstd, err);
    if (st != CN_OK) return st;
    CN_ASSERT(x != NULL && y != NULL);
    const size_t ds = (size_t)d;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int r = 0; r < rows; r++) {
        const cn_real *xr = x + (size_t)r * ds;  // row (d)
        cn_real *yr = y + (size_t)r * ds;        // row (d)
        double mean, ss;
        seg_stats(xr, ds, &mean, &ss);
        double invstd = 1.0 / sqrt(ss / (double)d + eps);
        if (save_mean) {
            save_mean[r] = (cn_real)mean;
            save_invstd[r] = (cn_real)invstd;
        }
        if (gamma) {
            for (size_t j = 0; j < ds; j++)
                yr[j] = (cn_real)(((double)xr[j] - mean) * invstd * (double)gamma[j] +
                                  (double)beta[j]);
        } else {
            for (size_t j = 0; j < ds; j++)
                yr[j] = (cn_real)(((double)xr[j] - mean) * invstd);
        }
    }
    return CN_OK;
}

void cn_layernorm_backward(int rows, int d, const cn_real *x, const cn_real *gamma,
                           const cn_real *save_mean, const cn_real *save_invstd,
                           const cn_real *dy, cn_real *dx, cn_real *dgamma,
                           cn_real *dbeta)
{
    CN_ASSERT(rows >= 1 && d >= 1);
    CN_ASSERT(x != NULL && save_mean != NULL && save_invstd != NULL && dy != NULL);
    const size_t ds = (size_t)d;
    if (dx) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
        for (int r = 0; r < rows; r++) {
            const size_t off = (size_t)r * ds;
            const cn_real *xr = x + off, *dyr = dy + off;  // rows (d)
            cn_real *dxr = dx + off;                       // row (d)
            const double mean = (double)save_mean[r], invstd = (double)save_invstd[r];
            double sg = 0.0, sgx = 0.0;
            for (size_t j = 0; j < ds; j++) {
                double g = (double)dyr[j] * (gamma ? (double)gamma[j] : 1.0);
                sg += g;
                sgx += g * ((double)xr[j] - mean) * invstd;
            }
            // dx = invstd / d * (d * g - sum(g) - xhat * sum(g * xhat))
            const double a = sg / (double)d, b = sgx / (double)d;
            for (size_t j = 0; j < ds; j++) {
                double g = (double)dyr[j] * (gamma ? (double)gamma[j] : 1.0);
                double xhat = ((double)xr[j] - mean) * invstd;
                dxr[j] = (cn_real)(invstd * (g - a - xhat * b));
            }
        }
    }
    if (!dgamma && !dbeta) return;
    const int nblocks = (d + LN_BLOCK - 1) / LN_BLOCK;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int blk = 0; blk < nblocks; blk++) {
        const size_t j0 = (size_t)blk * LN_BLOCK;
        const size_t len = ds - j0 < LN_BLOCK ? ds - j0 : LN_BLOCK;
        double sgam[LN_BLOCK] = {0}, sbet[LN_BLOCK] = {0};
        for (int r = 0; r < rows; r++) {
            const size_t off = (size_t)r * ds + j0;
            const cn_real *xr = x + off, *dyr = dy + off;  // (len)
            const double mean = (double)save_mean[r], invstd = (double)save_invstd[r];
            for (size_t j = 0; j < len; j++) {
                double g = (double)dyr[j];
                sgam[j] += g * ((double)xr[j] - mean) * invstd;
                sbet[j] += g;
            }
        }
        for (size_t j = 0; j < len; j++) {
            if (dgamma) dgamma[j0 + j] += (cn_real)sgam[j];
            if (dbeta) dbeta[j0 + j] += (cn_real)sbet[j];
        }
    }
}

/* ================================================================ group norm */

/* gn_normalise: y = (x - mean) * invstd * gamma_ch + beta_ch over one group's cg
 * channels of one image. xg, yg (cg, inner); gamma, beta (c) or NULL; ch0 the
 * group's first channel. */
static void gn_normalise(const cn_real *xg, cn_real *yg, size_t cg, size_t inner,
                         size_t ch0, const cn_real *gamma, const cn_real *beta,
                         double mean, double invstd)
{
    for (size_t k = 0; k < cg; k++) {
        double scale = gamma ? (double)gamma[ch0 + k] * invstd : invstd;
        double shift = beta ? (double)beta[ch0 + k] : 0.0;
        const cn_real *xr = xg + k * inner;  // (inner)
        cn_real *yr = yg + k * inner;        // (inner)
        for (size_t j = 0; j < inner; j++)
            yr[j] = (cn_real)(((double)xr[j] - mean) * scale + shift);
    }
}

cn_status cn_groupnorm_forward(int n, int c, int inner, int groups, const cn_real *x,
                               const cn_real *gamma, const cn_real *beta, double eps,
                               cn_real *y, cn_real *save_mean, cn_real *save_invstd,
                               cn_error *err)
{
    cn_status st = check_common("groupnorm", n, c, inner, eps, gamma, beta, save_mean,
                                save_invstd, err);
    if (st != CN_OK) return st;
    if (groups < 1 || c % groups != 0)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "groupnorm: groups %d must be >= 1 and divide channels %d",
                            groups, c);
    if (n > INT_MAX / groups)
        return cn_error_set(err, CN_ERR_RANGE, "groupnorm: n %d * groups %d overflows int",
                            n, groups);
    CN_ASSERT(x != NULL && y != NULL);
    const size_t cg = (size_t)(c / groups), is = (size_t)inner, m = cg * is;
    const int ng = n * groups;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int ig = 0; ig < ng; ig++) {
        const size_t off = (size_t)ig * m;  // (i, g) group is contiguous: (cg, inner)
        const size_t ch0 = (size_t)(ig % groups) * cg;
        double mean, ss;
        seg_stats(x + off, m, &mean, &ss);
        double invstd = 1.0 / sqrt(ss / (double)m + eps);
        if (save_mean) {
            save_mean[ig] = (cn_real)mean;
            save_invstd[ig] = (cn_real)invstd;
        }
        gn_normalise(x + off, y + off, cg, is, ch0, gamma, beta, mean, invstd);
    }
    return CN_OK;
}

/* gn_backward: group norm's backward, shared with instance norm (groups == c).
 * batch_stats 0: the statistics were constants (instance norm evaluated with
 * running statistics), dx = gamma * invstd * dy. Shapes as cn_groupnorm_backward. */
static void gn_backward(int n, int c, int inner, int groups, int batch_stats,
                        const cn_real *x, const cn_real *gamma, const cn_real *save_mean,
                        const cn_real *save_invstd, const cn_real *dy, cn_real *dx,
                        cn_real *dgamma, cn_real *dbeta)
{
    CN_ASSERT(n >= 1 && c >= 1 && inner >= 1 && groups >= 1 && c % groups == 0);
    CN_ASSERT(x != NULL && save_mean != NULL && save_invstd != NULL && dy != NULL);
    CN_ASSERT(n <= INT_MAX / groups);
    const size_t cg = (size_t)(c / groups), is = (size_t)inner, m = cg * is;
    if (dx) {
        const int ng = n * groups;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
        for (int ig = 0; ig < ng; ig++) {
            const size_t off = (size_t)ig * m;
            const size_t ch0 = (size_t)(ig % groups) * cg;
            const double mean = (double)save_mean[ig], invstd = (double)save_invstd[ig];
            double a = 0.0, b = 0.0;
            if (batch_stats) {
                double sg = 0.0, sgx = 0.0;
                for (size_t k = 0; k < cg; k++) {
                    const double gam = gamma ? (double)gamma[ch0 + k] : 1.0;
                    const cn_real *xr = x + off + k * is, *dyr = dy + off + k * is;
                    for (size_t j = 0; j < is; j++) {
                        double g = (double)dyr[j] * gam;
                        sg += g;
                        sgx += g * ((double)xr[j] - mean) * invstd;
                    }
                }
                a = sg / (double)m;
                b = sgx / (double)m;
            }
            // dx = invstd * (g - mean(g) - xhat * mean(g * xhat)); a = b = 0 when
            // the statistics were constants
            for (size_t k = 0; k < cg; k++) {
                const double gam = gamma ? (double)gamma[ch0 + k] : 1.0;
                const cn_real *xr = x + off + k * is, *dyr = dy + off + k * is;
                cn_real *dxr = dx + off + k * is;  // (inner)
                for (size_t j = 0; j < is; j++) {
                    double xhat = ((double)xr[j] - mean) * invstd;
                    dxr[j] = (cn_real)(invstd * ((double)dyr[j] * gam - a - xhat * b));
                }
            }
        }
    }
    if (!dgamma && !dbeta) return;
    const size_t cs = (size_t)c;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int ch = 0; ch < c; ch++) {
        const size_t g = (size_t)ch / cg;
        double sgam = 0.0, sbet = 0.0;
        for (size_t i = 0; i < (size_t)n; i++) {
            const size_t off = (i * cs + (size_t)ch) * is;
            const cn_real *xr = x + off, *dyr = dy + off;  // (inner)
            const size_t sidx = i * (size_t)groups + g;
            const double mean = (double)save_mean[sidx], invstd = (double)save_invstd[sidx];
            for (size_t j = 0; j < is; j++) {
                double d = (double)dyr[j];
                sgam += d * ((double)xr[j] - mean) * invstd;
                sbet += d;
            }
        }
        if (dgamma) dgamma[ch] += (cn_real)sgam;
        if (dbeta) dbeta[ch] += (cn_real)sbet;
    }
}

void cn_groupnorm_backward(int n, int c, int inner, int groups, const cn_real *x,
                           const cn_real *gamma, const cn_real *save_mean,
                           const cn_real *save_invstd, const cn_real *dy, cn_real *dx,
                           cn_real *dgamma, cn_real *dbeta)
{
    gn_backward(n, c, inner, groups, 1, x, gamma, save_mean, save_invstd, dy, dx, dgamma,
                dbeta);
}

/* ================================================================ instance norm */

cn_status cn_instancenorm_forward(int n, int c, int inner, const cn_real *x,
                                  const cn_real *gamma, const cn_real *beta, cn_real *y,
                                  int training, double momentum, double eps,
                                  cn_real *running_mean, cn_real *running_var,
                                  cn_real *save_mean, cn_real *save_invstd,
                                  cn_error *err)
{
    cn_status st = check_common("instancenorm", n, c, inner, eps, gamma, beta, save_mean,
                                save_invstd, err);
    if (st != CN_OK) return st;
    if ((running_mean == NULL) != (running_var == NULL))
        return cn_error_set(err, CN_ERR_ARG, "instancenorm: running_mean and running_var "
                                             "must both be given or both be NULL");
    if (!(momentum >= 0.0 && momentum <= 1.0))
        return cn_error_set(err, CN_ERR_ARG, "instancenorm: momentum %g must be in [0, 1]",
                            momentum);
    const int batch_stats = training || running_mean == NULL;
    if (batch_stats && inner < 2)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "instancenorm: expected more than 1 spatial element when "
                            "normalising with instance statistics, got input (n %d, c %d, "
                            "inner %d)", n, c, inner);
    CN_ASSERT(x != NULL && y != NULL);
    const size_t cs = (size_t)c, is = (size_t)inner;
    // One thread per channel walks the images in order, so the running-statistics
    // averages over the batch are summed in a fixed order.
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int ch = 0; ch < c; ch++) {
        double sum_mean = 0.0, sum_var = 0.0;
        for (size_t i = 0; i < (size_t)n; i++) {
            const size_t off = (i * cs + (size_t)ch) * is;  // instance (inner)
            double mean, var;
            if (batch_stats) {
                double ss;
                seg_stats(x + off, is, &mean, &ss);
                var = ss / (double)inner;
                sum_mean += mean;
                sum_var += ss / (double)(inner - 1);
            } else {
                mean = (double)running_mean[ch];
                var = (double)running_var[ch];
            }
            double invstd = 1.0 / sqrt(var + eps);
            if (save_mean) {
                save_mean[i * cs + (size_t)ch] = (cn_real)mean;
                save_invstd[i * cs + (size_t)ch] = (cn_real)invstd;
            }
            gn_normalise(x + off, y + off, 1, is, (size_t)ch, gamma, beta, mean, invstd);
        }
        if (training && running_mean) {
            running_mean[ch] = (cn_real)((1.0 - momentum) * (double)running_mean[ch] +
                                         momentum * sum_mean / (double)n);
            running_var[ch] = (cn_real)((1.0 - momentum) * (double)running_var[ch] +
                                        momentum * sum_var / (double)n);
        }
    }
    return CN_OK;
}

void cn_instancenorm_backward(int n, int c, int inner, int batch_stats,
                              const cn_real *x, const cn_real *gamma,
                              const cn_real *save_mean, const cn_real *save_invstd,
                              const cn_real *dy, cn_real *dx, cn_real *dgamma,
                              cn_real *dbeta)
{
    gn_backward(n, c, inner, c, batch_stats, x, gamma, save_mean, save_invstd, dy, dx,
                dgamma, dbeta);
}
