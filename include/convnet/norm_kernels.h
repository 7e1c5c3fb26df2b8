/* convnet/norm_kernels.h: pure compute kernels for the normalisation layers on raw
 * arrays (no tensors, no graph): batch normalisation (BatchNorm1d / BatchNorm2d),
 * layer normalisation, group normalisation, instance normalisation
 * (InstanceNorm1d / 2d) and local response normalisation across channels, each
 * forward and backward with PyTorch's exact semantics. docs/kernels/norm.md
 * describes every formula; docs/derivations/batchnorm.md derives the backward
 * pass shared by batch, layer, group and instance norm.
 *
 * Conventions shared by every kernel here:
 *  - Arrays are contiguous, outermost-first. Channel-wise layers see their input
 *    as x (n, c, inner) where inner is the product of the trailing dims: 1 for
 *    (n, c) features (BatchNorm1d), h*w for (n, c, h, w) images (BatchNorm2d),
 *    l for (n, c, l) sequences.
 *  - Kernels never allocate. Statistics that backward needs (mean, inverse
 *    standard deviation, LRN's scale) go to caller-owned buffers whose shapes
 *    are given with each function.
 *  - Forward functions validate their sizes and scalars and return cn_status
 *    (CN_ERR_SHAPE for a size < 1, CN_ERR_RANGE for an element count that
 *    overflows size_t, CN_ERR_ARG for a bad scalar or a half-given pair of
 *    buffers), touching no output on error. Backward functions trust sizes
 *    that their forward accepted; they CN_ASSERT on impossible ones
 *    (programmer errors).
 *  - Gradients: the input gradient dx is OVERWRITTEN (it is this op's dL/dx; the
 *    graph sums several consumers itself); parameter gradients (dgamma, dbeta)
 *    are ACCUMULATED (+=), the project's convention.
 *  - Training vs evaluation is an explicit argument. As in PyTorch, a layer
 *    without running statistics (running_mean == NULL, PyTorch's
 *    track_running_stats=False) normalises with the batch's statistics in both
 *    modes; the backward functions take the mode forward used as batch_stats:
 *    training || running_mean == NULL.
 *  - Means and variances are accumulated in double (two passes: the mean, then
 *    the sum of squared deviations); variances used to normalise are biased
 *    (divide by the count m), running variances take the unbiased one (m - 1).
 *  - OpenMP parallel loops over channels, groups or rows; every reduction is
 *    computed by one thread in a fixed order, so every result is bit-identical
 *    for any thread count. Built OPENMP=0 everything is serial.
 *  - Outputs must not alias inputs, except that y may be x in the forward
 *    functions marked "in place allowed".
 */
#ifndef CONVNET_NORM_KERNELS_H
#define CONVNET_NORM_KERNELS_H

#include "convnet/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ batch norm */

/* cn_batchnorm_forward: y = gamma * (x - mean_c) * invstd_c + beta, statistics
 * per channel c over the n * inner values of that channel (m = n * inner).
 *   x             (n, c, inner)
 *   gamma, beta   (c) each, or both NULL (no affine: gamma 1, beta 0; one NULL
 *                 and the other not is CN_ERR_ARG)
 *   y             (n, c, inner), overwritten
 *   running_mean, running_var   (c) each, or both NULL (no running statistics)
 *   save_mean, save_invstd      (c) each, or both NULL: overwritten with the
 *                 mean and 1/sqrt(var + eps) that normalised x (the batch's in
 *                 batch-statistics mode, the running ones otherwise); backward
 *                 needs them.
 * Batch-statistics mode (training, or running_mean == NULL): mean and biased
 * variance of the batch; in training with running statistics these are updated
 * with PyTorch's rule
 *   running_mean = (1 - momentum) * running_mean + momentum * mean
 *   running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)
 * (PyTorch's momentum=None, a cumulative average, is momentum = 1 / t at the
 * t-th step: the caller counts steps). Evaluation with running statistics:
 * mean = running_mean, var = running_var.
 * Errors: CN_ERR_SHAPE for n, c or inner < 1, or m == 1 in batch-statistics
 * mode ("expected more than 1 value per channel", PyTorch's rule; the unbiased
 * variance needs m >= 2); CN_ERR_RANGE for an element count overflowing size_t;
 * CN_ERR_ARG for eps < 0 or not finite, momentum outside [0, 1] or NaN, one of
 * a pair NULL. In place allowed (y == x). */
cn_status cn_batchnorm_forward(int n, int c, int inner, const cn_real *x,
                               const cn_real *gamma, const cn_real *beta, cn_real *y,
                               int training, double momentum, double eps,
                               cn_real *running_mean, cn_real *running_var,
                               cn_real *save_mean, cn_real *save_invstd, cn_error *err);

/* cn_batchnorm_eval_relu: batch norm in evaluation mode with running statistics
 * followed by ReLU in one pass: y = relu(gamma * (x - running_mean) * invstd +
 * beta), invstd = 1/sqrt(running_var + eps), bit-identical to
 * cn_batchnorm_forward(training 0) then cn_act_forward(CN_ACT_RELU) (the engine
 * may use it when a batch norm's only consumer is a ReLU, in evaluation).
 *   x             (n, c, inner)
 *   gamma, beta   (c) each, or both NULL
 *   y             (n, c, inner), overwritten
 *   running_mean, running_var   (c) each, required (read only)
 *   save_mean, save_invstd      (c) each, or both NULL: as cn_batchnorm_forward
 * Errors: as cn_batchnorm_forward; CN_ERR_ARG when running_mean or running_var is
 * NULL. In place allowed (y == x). */
cn_status cn_batchnorm_eval_relu(int n, int c, int inner, const cn_real *x,
                                 const cn_real *gamma, const cn_real *beta, cn_real *y,
                                 const cn_real *running_mean, const cn_real *running_var,
                                 double eps, cn_real *save_mean, cn_real *save_invstd,
                                 cn_error *err);

/* cn_batchnorm_backward: gradients of L given dy = dL/dy, with xhat =
 * (x - save_mean) * save_invstd and m = n * inner.
 *   x             (n, c, inner)   the forward input (not overwritten by it)
 *   gamma         (c) or NULL (no affine)
 *   save_mean, save_invstd (c)    from cn_batchnorm_forward
 *   dy            (n, c, inner)
 *   dx            (n, c, inner) or NULL   OVERWRITTEN with dL/dx
 *   dgamma, dbeta (c) or NULL             ACCUMULATED: += sum(dy * xhat), sum(dy)
 * batch_stats (training || running_mean == NULL at forward): the statistics
 * depend on x, and per channel
 *   dx = gamma * invstd / m * (m * dy - sum(dy) - xhat * sum(dy * xhat));
 * otherwise (evaluation with running statistics) y is a fixed affine map of x:
 *   dx = gamma * invstd * dy.
 * docs/derivations/batchnorm.md derives the first. */
void cn_batchnorm_backward(int n, int c, int inner, int batch_stats, const cn_real *x,
                           const cn_real *gamma, const cn_real *save_mean,
                           const cn_real *save_invstd, const cn_real *dy, cn_real *dx,
                           cn_real *dgamma, cn_real *dbeta);

/* ================================================================ layer norm */

/* cn_layernorm_forward: PyTorch's LayerNorm(normalized_shape) on x seen as
 * (rows, d), d the product of normalized_shape and rows the product of the
 * leading dims: per row, y = (x - mean) * invstd * gamma + beta with the mean
 * and biased variance of the row's d values, invstd = 1/sqrt(var + eps).
 *   x             (rows, d)
 *   gamma, beta   (d) each (elementwise affine), or both NULL
 *   y             (rows, d), overwritten
 *   save_mean, save_invstd (rows) each, or both NULL: overwritten
 * Errors: CN_ERR_SHAPE for rows or d < 1; CN_ERR_RANGE on overflow; CN_ERR_ARG
 * for a bad eps or one of a pair NULL. In place allowed (y == x). */
cn_status cn_layernorm_forward(int rows, int d, const cn_real *x, const cn_real *gamma,
                               const cn_real *beta, double eps, cn_real *y,
                               cn_real *save_mean, cn_real *save_invstd, cn_error *err);

/* cn_layernorm_backward: with g = dy * gamma and xhat = (x - mean) * invstd,
 * per row dx = invstd / d * (d * g - sum(g) - xhat * sum(g * xhat)); per column
 * dgamma += sum over rows of dy * xhat, dbeta += sum over rows of dy.
 *   x (rows, d), gamma (d) or NULL, save_mean, save_invstd (rows),
 *   dy (rows, d), dx (rows, d) or NULL OVERWRITTEN,
 *   dgamma, dbeta (d) or NULL ACCUMULATED */
void cn_layernorm_backward(int rows, int d, const cn_real *x, const cn_real *gamma,
                           const cn_real *save_mean, const cn_real *save_invstd,
                           const cn_real *dy, cn_real *dx, cn_real *dgamma,
                           cn_real *dbeta);

/* ================================================================ group norm */

/* cn_groupnorm_forward: PyTorch's GroupNorm(groups, c): the c channels split
 * into groups of c / groups consecutive channels; statistics per (image, group)
 * over its m = (c / groups) * inner values (biased variance); affine per channel:
 * y = (x - mean) * invstd * gamma_c + beta_c.
 *   x             (n, c, inner)
 *   gamma, beta   (c) each, or both NULL
 *   y             (n, c, inner), overwritten
 *   save_mean, save_invstd (n, groups) each, or both NULL: overwritten
 * Errors: CN_ERR_SHAPE for a size < 1 or groups not dividing c;
 * CN_ERR_RANGE on overflow (n * groups must also fit in int); CN_ERR_ARG for a
 * bad eps or one of a pair NULL. In place allowed (y == x). */
cn_status cn_groupnorm_forward(int n, int c, int inner, int groups, const cn_real *x,
                               const cn_real *gamma, const cn_real *beta, double eps,
                               cn_real *y, cn_real *save_mean, cn_real *save_invstd,
                               cn_error *err);

/* cn_groupnorm_backward: per (image, group), with g = dy * gamma_c and m its
 * count, dx = invstd / m * (m * g - sum(g) - xhat * sum(g * xhat)); per channel
 * dgamma += sum over images and positions of dy * xhat, dbeta += sum of dy.
 *   x (n, c, inner), gamma (c) or NULL, save_mean, save_invstd (n, groups),
 *   dy (n, c, inner), dx (n, c, inner) or NULL OVERWRITTEN,
 *   dgamma, dbeta (c) or NULL ACCUMULATED */
void cn_groupnorm_backward(int n, int c, int inner, int groups, const cn_real *x,
                           const cn_real *gamma, const cn_real *save_mean,
                           const cn_real *save_invstd, const cn_real *dy, cn_real *dx,
                           cn_real *dgamma, cn_real *dbeta);

/* ================================================================ instance norm */

/* cn_instancenorm_forward: PyTorch's InstanceNorm1d / InstanceNorm2d (affine and
 * track_running_stats both optional): statistics per (image, channel) over its
 * m = inner positions (group norm with groups == c), affine per channel.
 *   x             (n, c, inner)
 *   gamma, beta   (c) each, or both NULL
 *   y             (n, c, inner), overwritten
 *   running_mean, running_var (c) each, or both NULL (track_running_stats=False)
 *   save_mean, save_invstd (n, c) each, or both NULL: overwritten with the
 *                 statistics that normalised each (image, channel)
 * Batch-statistics mode (training, or running_mean == NULL): each instance's own
 * mean and biased variance; in training with running statistics they are
 * updated as PyTorch does (it runs batch norm on the (1, n*c, inner) view and
 * averages the n copies):
 *   running_mean = (1 - momentum) * running_mean + momentum * mean_i(mean_ic)
 *   running_var  = (1 - momentum) * running_var
 *                  + momentum * mean_i(var_ic * m / (m - 1))
 * Evaluation with running statistics normalises channel c of every image with
 * running_mean[c] and running_var[c].
 * Errors: as cn_batchnorm_forward, m == inner == 1 in batch-statistics mode being
 * CN_ERR_SHAPE. In place allowed (y == x). */
cn_status cn_instancenorm_forward(int n, int c, int inner, const cn_real *x,
                                  const cn_real *gamma, const cn_real *beta, cn_real *y,
                                  int training, double momentum, double eps,
                                  cn_real *running_mean, cn_real *running_var,
                                  cn_real *save_mean, cn_real *save_invstd,
                                  cn_error *err);

/* cn_instancenorm_backward: batch_stats (training || running_mean == NULL at
 * forward): cn_groupnorm_backward with groups == c; otherwise the fixed affine
 * map dx = gamma_c * invstd_c * dy. dgamma, dbeta ACCUMULATED as group norm.
 *   x (n, c, inner), gamma (c) or NULL, save_mean, save_invstd (n, c),
 *   dy (n, c, inner), dx (n, c, inner) or NULL OVERWRITTEN,
 *   dgamma, dbeta (c) or NULL ACCUMULATED */
void cn_instancenorm_backward(int n, int c, int inner, int batch_stats,
                              const cn_real *x, const cn_real *gamma,
                              const cn_real *save_mean, const cn_real *save_invstd,
                              const cn_real *dy, cn_real *dx, cn_real *dgamma,
                              cn_real *dbeta);

/* ================================================================ LRN */

/* cn_lrn_forward: PyTorch's LocalResponseNorm(size, alpha, beta, k) across
 * channels: with the window W(c) = [c - size/2, c + (size-1)/2] (integer
 * division; channels outside 0..c-1 count as zeros, PyTorch's padding),
 *   scale_c = k + alpha / size * sum_{c' in W(c)} x_{c'}^2
 *   y_c     = x_c * scale_c^(-beta)
 * at every image and position.
 *   x      (n, c, inner)
 *   y      (n, c, inner), overwritten (must not alias x)
 *   scale  (n, c, inner) or NULL: overwritten with scale_c (backward needs it)
 * Errors: CN_ERR_SHAPE for a size < 1; CN_ERR_RANGE on overflow (n * c must
 * also fit in int); CN_ERR_ARG for alpha, beta or k not finite. (As in PyTorch,
 * nothing stops k <= 0 from giving a scale <= 0, which yields Inf or NaN.) */
cn_status cn_lrn_forward(int n, int c, int inner, int size, double alpha, double beta,
                         double k, const cn_real *x, cn_real *y, cn_real *scale,
                         cn_error *err);

/* cn_lrn_backward: with t_c = dy_c * y_c / scale_c (= dy_c x_c scale_c^(-beta-1)),
 *   dx_j = dy_j * scale_j^(-beta)
 *          - 2 * beta * alpha / size * x_j * sum_{c : j in W(c)} t_c,
 * the sum running over c in [j - (size-1)/2, j + size/2] inside 0..c-1.
 *   x, y, scale (n, c, inner)   from cn_lrn_forward
 *   dy          (n, c, inner)
 *   dx          (n, c, inner)   OVERWRITTEN (must not alias the others) */
void cn_lrn_backward(int n, int c, int inner, int size, double alpha, double beta,
                     const cn_real *x, const cn_real *y, const cn_real *scale,
                     const cn_real *dy, cn_real *dx);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_NORM_KERNELS_H */
