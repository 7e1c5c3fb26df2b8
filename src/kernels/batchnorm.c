/* src/kernels/batchnorm.c: batch normalisation (PyTorch's BatchNorm1d / BatchNorm2d)
 * on x (n, c, inner), forward in training and evaluation mode with running
 * statistics, the fused evaluation batch norm + ReLU, and backward in both modes.
 *
 * Memory order: a row is one image's plane of one channel, (inner) values; the
 * passes walk rows in memory order (row r = image r / c, channel r % c), split
 * across threads by rows. Walking a channel's rows instead (64 KB apart in
 * ResNet-20) restarts the hardware prefetcher at every 4 KB row: 2x slower.
 * Statistics: one pass reads x once and sums, per row in double, x - k and
 * (x - k)^2 with k the channel's first value (a shift that keeps the one-pass
 * variance exact to double rounding); the backward pass sums dy and
 * dy * (x - mean) per row, then writes dx. Row sums keep LANES partial sums
 * (element j goes to lane j % LANES) combined in a fixed order, and a channel's
 * total adds its rows in image order, so results never depend on the thread
 * count. The rows' sums live in a heap buffer of (n * c) x 2 doubles; when it
 * cannot be had, each channel sums its rows itself in the same order (the same
 * numbers, slower). Formulas: docs/kernels/norm.md; backward derivation:
 * docs/derivations/batchnorm.md. */
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

/* row_moments: over one row of is values, *s1 = sum(x - k), *s2 = sum((x - k)^2). */
static void row_moments(const cn_real *xr, size_t is, double k, double *s1, double *s2)
{
    // xr (inner)
    double a1[LANES] = {0}, a2[LANES] = {0};
    size_t j = 0;
    for (; j + LANES <= is; j += LANES)
        for (size_t l = 0; l < LANES; l++) {
            double d = (double)xr[j + l] - k;
            a1[l] += d;
            a2[l] += d * d;
        }
    for (size_t l = 0; j < is; j++, l++) {
        double d = (double)xr[j] - k;
        a1[l] += d;
        a2[l] += d * d;
    }
    *s1 = lanes_total(a1);
    *s2 = lanes_total(a2);
}

/* row_dy_sums: over one row, *sdy = sum(dy), *sdyx = sum(dy * (x - mean)). */
static void row_dy_sums(const cn_real *xr, const cn_real *dyr, size_t is, double mean,
                        double *sdy, double *sdyx)
{
    // xr, dyr (inner)
    double a1[LANES] = {0}, a2[LANES] = {0};
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
    *sdy = lanes_total(a1);
    *sdyx = lanes_total(a2);
}

/* affine_row: yr = (xr - mf) * sf + bf, then ReLU when relu (PyTorch's
 * clamp_min: v < 0 ? 0 : v); blocks go through a local buffer, so yr may be xr. */
static void affine_row(const cn_real *xr, cn_real *yr, size_t is, cn_real mf, cn_real sf,
                       cn_real bf, int relu)
{
    // xr, yr (inner); in cn_real (float lanes vectorise twice as wide as double)
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

/* bn_fwd: what the forward pass needs besides the tensors. */
typedef struct bn_fwd {
    int n, c;
    size_t is, m;                   /* inner; values per channel (n * inner) */
    const cn_real *x, *gamma, *beta;
    cn_real *y;
    int training, relu;
    double momentum, eps;
    cn_real *running_mean, *running_var, *save_mean, *save_invstd;
} bn_fwd;

/* fwd_coef: channel ch's normalisation from its sums over the batch (t1 =
 * sum(x - k), t2 = sum((x - k)^2), k its first value; batch statistics) or the
 * running statistics (t1, t2 unused); updates the running statistics in
 * training and the saved ones; *mf, *sf, *bf: affine_row's coefficients. */
static void fwd_coef(const bn_fwd *f, int ch, int batch_stats, double t1, double t2,
                     cn_real *mf, cn_real *sf, cn_real *bf)
{
    double mean, var;
    if (batch_stats) {
        const double m = (double)f->m, k = (double)f->x[(size_t)ch * f->is];
        double ss = t2 - t1 * (t1 / m); /* sum of squared deviations from the mean */
        if (ss < 0) ss = 0;
        mean = k + t1 / m;
        var = ss / m;
        if (f->training && f->running_mean) {
            double unbiased = ss / (m - 1);
            f->running_mean[ch] = (cn_real)((1.0 - f->momentum) * (double)f->running_mean[ch] +
                                            f->momentum * mean);
            f->running_var[ch] = (cn_real)((1.0 - f->momentum) * (double)f->running_var[ch] +
                                           f->momentum * unbiased);
        }
    } else {
        mean = (double)f->running_mean[ch];
        var = (double)f->running_var[ch];
    }
    double invstd = 1.0 / sqrt(var + f->eps);
    if (f->save_mean) {
        f->save_mean[ch] = (cn_real)mean;
        f->save_invstd[ch] = (cn_real)invstd;
    }
    *mf = (cn_real)mean;
    *sf = (cn_real)(f->gamma ? (double)f->gamma[ch] * invstd : invstd);
    *bf = (cn_real)(f->beta ? (double)f->beta[ch] : 0.0);
}

/* fwd_rows: the batch-statistics forward in memory order; 0 when its buffer
 * could not be allocated (nothing written then). */
static int fwd_rows(const bn_fwd *f, int par)
{
    const size_t rows = (size_t)f->n * (size_t)f->c, cs = (size_t)f->c, is = f->is;
    /* rs (rows, 2): each row's sums; coef (c, 3): mf, sf, bf per channel */
    size_t nb;
    double *rs = cn_mul_overflow(rows, 2 * sizeof(double), &nb) ? NULL : cn_malloc(nb);
    cn_real *coef = cn_malloc(cs * 3 * sizeof *coef);
    if (!rs || !coef) {
        cn_free(rs);
        cn_free(coef);
        return 0;
    }
    (void)par;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#endif
    for (size_t r = 0; r < rows; r++)
        row_moments(f->x + r * is, is, (double)f->x[(r % cs) * is], &rs[2 * r], &rs[2 * r + 1]);
    for (size_t ch = 0; ch < cs; ch++) {
        double t1 = 0, t2 = 0;
        for (size_t i = 0; i < (size_t)f->n; i++) {
            t1 += rs[2 * (i * cs + ch)];
            t2 += rs[2 * (i * cs + ch) + 1];
        }
        fwd_coef(f, (int)ch, 1, t1, t2, &coef[3 * ch], &coef[3 * ch + 1], &coef[3 * ch + 2]);
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#endif
    for (size_t r = 0; r < rows; r++) {
        const cn_real *cf = coef + 3 * (r % cs);
        affine_row(f->x + r * is, f->y + r * is, is, cf[0], cf[1], cf[2], f->relu);
    }
    cn_free(rs);
    cn_free(coef);
    return 1;
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
    const bn_fwd f = {n,        c,       is,           m,           x,        gamma,
                      beta,     y,       training,     relu,        momentum, eps,
                      running_mean, running_var, save_mean, save_invstd};
    const int par = m * cs >= PAR_MIN_WORK;
    if (!batch_stats) {
        /* evaluation: a fixed affine map per channel, one pass in memory order */
        if (save_mean)
            for (int ch = 0; ch < c; ch++) {
                cn_real mf, sf, bf;
                fwd_coef(&f, ch, 0, 0, 0, &mf, &sf, &bf);
            }
        const size_t rows = (size_t)n * cs;
        (void)par;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#endif
        for (size_t r = 0; r < rows; r++) {
            const size_t ch = r % cs;
            const double invstd = 1.0 / sqrt((double)running_var[ch] + eps);
            const double scale = gamma ? (double)gamma[ch] * invstd : invstd;
            affine_row(x + r * is, y + r * is, is, running_mean[ch], (cn_real)scale,
                       beta ? beta[ch] : 0, relu);
        }
        return CN_OK;
    }
    if (fwd_rows(&f, par)) return CN_OK;
    /* no buffer: each channel sums its rows (the same numbers, channel order) */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#endif
    for (int ch = 0; ch < c; ch++) {
        const cn_real *xc = x + (size_t)ch * is; // channel ch of image 0 (rows stride apart)
        const double k = (double)xc[0];
        double t1 = 0, t2 = 0;
        for (size_t i = 0; i < (size_t)n; i++) {
            double s1, s2;
            row_moments(xc + i * stride, is, k, &s1, &s2);
            t1 += s1;
            t2 += s2;
        }
        cn_real mf, sf, bf;
        fwd_coef(&f, ch, 1, t1, t2, &mf, &sf, &bf);
        for (size_t i = 0; i < (size_t)n; i++)
            affine_row(xc + i * stride, y + (size_t)ch * is + i * stride, is, mf, sf, bf, relu);
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

/* bwd_k: one channel's input-gradient coefficients. */
typedef struct bwd_k {
    double gi;                /* gamma * invstd (evaluation: dx = gi * dy) */
    cn_real kdy, k0, kx, mf;  /* batch statistics: dx = kdy dy - (k0 + kx (x - mf)) */
} bwd_k;

/* bwd_coef: from channel ch's sums (sum_dy, sum_dyxm = sum(dy * (x - mean))),
 * accumulates its dgamma / dbeta and returns dx's coefficients. */
static bwd_k bwd_coef(int ch, int batch_stats, double m, const cn_real *gamma,
                      const cn_real *save_mean, const cn_real *save_invstd, double sum_dy,
                      double sum_dyxm, cn_real *dgamma, cn_real *dbeta)
{
    const double mean = (double)save_mean[ch], invstd = (double)save_invstd[ch];
    bwd_k k = {(gamma ? (double)gamma[ch] : 1.0) * invstd, 0, 0, 0, 0};
    const double sum_dy_xhat = sum_dyxm * invstd;
    if (dgamma) dgamma[ch] += (cn_real)sum_dy_xhat;
    if (dbeta) dbeta[ch] += (cn_real)sum_dy;
    if (batch_stats) {
        // dx = gamma * invstd / m * (m * dy - sum(dy) - xhat * sum(dy * xhat))
        //    = gi * dy - gi * a - (x - mean) * gi * invstd * b, in cn_real
        const double a = sum_dy / m, b = sum_dy_xhat / m;
        k.kdy = (cn_real)k.gi;
        k.k0 = (cn_real)(k.gi * a);
        k.kx = (cn_real)(k.gi * invstd * b);
        k.mf = (cn_real)mean;
    }
    return k;
}

/* dx_row: one row of the input gradient from bwd_coef's coefficients. */
static void dx_row(const cn_real *xr, const cn_real *dyr, cn_real *dxr, size_t is,
                   const bwd_k *k, int batch_stats)
{
    // xr, dyr, dxr (inner)
    if (!batch_stats) {
        scale_row(dyr, dxr, is, k->gi);
        return;
    }
    const cn_real kdy = k->kdy, k0 = k->k0, kx = k->kx, mf = k->mf;
    size_t j = 0;
    for (; j + LANES <= is; j += LANES) {
        cn_real t[LANES];
        for (size_t l = 0; l < LANES; l++) t[l] = kdy * dyr[j + l] - (k0 + kx * (xr[j + l] - mf));
        for (size_t l = 0; l < LANES; l++) dxr[j + l] = t[l];
    }
    for (; j < is; j++) dxr[j] = kdy * dyr[j] - (k0 + kx * (xr[j] - mf));
}

/* bwd_rows: the backward pass in memory order (see the file comment); 0 when
 * its buffers could not be allocated (nothing written then). */
static int bwd_rows(int n, int c, size_t is, int batch_stats, const cn_real *x,
                    const cn_real *gamma, const cn_real *save_mean, const cn_real *save_invstd,
                    const cn_real *dy, cn_real *dx, cn_real *dgamma, cn_real *dbeta, int par)
{
    const size_t cs = (size_t)c, rows = (size_t)n * cs;
    size_t nb; // rs (rows, 2): sum(dy), sum(dy (x - mean)); k (c)
    double *rs = cn_mul_overflow(rows, 2 * sizeof(double), &nb) ? NULL : cn_malloc(nb);
    bwd_k *k = cn_malloc(cs * sizeof *k);
    if (!rs || !k) {
        cn_free(rs);
        cn_free(k);
        return 0;
    }
    (void)par;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#endif
    for (size_t r = 0; r < rows; r++)
        row_dy_sums(x + r * is, dy + r * is, is, (double)save_mean[r % cs], &rs[2 * r],
                    &rs[2 * r + 1]);
    for (size_t ch = 0; ch < cs; ch++) {
        double t1 = 0, t2 = 0;
        for (size_t i = 0; i < (size_t)n; i++) {
            t1 += rs[2 * (i * cs + ch)];
            t2 += rs[2 * (i * cs + ch) + 1];
        }
        k[ch] = bwd_coef((int)ch, batch_stats, (double)n * (double)is, gamma, save_mean,
                         save_invstd, t1, t2, dgamma, dbeta);
    }
    if (dx) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#endif
        for (size_t r = 0; r < rows; r++)
            dx_row(x + r * is, dy + r * is, dx + r * is, is, &k[r % cs], batch_stats);
    }
    cn_free(rs);
    cn_free(k);
    return 1;
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
    if (!batch_stats && !dgamma && !dbeta) {
        /* the fixed affine map: one pass in memory order */
        if (!dx) return;
        const size_t rows = (size_t)n * cs;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#endif
        for (size_t r = 0; r < rows; r++) {
            const size_t ch = r % cs;
            const double gi = (gamma ? (double)gamma[ch] : 1.0) * (double)save_invstd[ch];
            scale_row(dy + r * is, dx + r * is, is, gi);
        }
        return;
    }
    if (bwd_rows(n, c, is, batch_stats, x, gamma, save_mean, save_invstd, dy, dx, dgamma,
                 dbeta, par))
        return;
    /* no buffer: each channel sums its rows (the same numbers, channel order) */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#endif
    for (int ch = 0; ch < c; ch++) {
        const size_t off = (size_t)ch * is; // channel ch of image 0 (rows stride apart)
        double t1 = 0, t2 = 0;
        for (size_t i = 0; i < (size_t)n; i++) {
            double s1, s2;
            row_dy_sums(x + off + i * stride, dy + off + i * stride, is,
                        (double)save_mean[ch], &s1, &s2);
            t1 += s1;
            t2 += s2;
        }
        bwd_k k = bwd_coef(ch, batch_stats, m, gamma, save_mean, save_invstd, t1, t2, dgamma,
                           dbeta);
        if (dx)
            for (size_t i = 0; i < (size_t)n; i++)
                dx_row(x + off + i * stride, dy + off + i * stride, dx + off + i * stride, is,
                       &k, batch_stats);
    }
}
