/* convnet/loss_kernels.h: pure compute kernels for training losses on raw arrays
 * (no tensors, no graph): softmax cross-entropy (class weights, label smoothing),
 * KL divergence to a target distribution, multiclass hinge / squared hinge /
 * ramp, large-margin softmax (L-Softmax), sigmoid binary cross-entropy with
 * logits, MSE, L1, smooth L1, Huber, center loss, triplet and contrastive losses.
 * The formulas, gradients and PyTorch counterparts are in docs/kernels/loss.md.
 *
 * Conventions shared by every kernel here:
 *  - A forward returns the scalar loss as a double, reduced as documented per
 *    loss (a mean over the batch or over all elements). Sums are accumulated in
 *    double, serially in a fixed order, so results never depend on the thread
 *    count.
 *  - A backward takes dloss = dL/dloss (1.0 when the loss is the objective) and
 *    OVERWRITES the input gradient dx (this loss's dL/dx; the graph sums several
 *    consumers itself). Parameter gradients (L-Softmax's dW, center loss's
 *    dcentres) are ACCUMULATED (+=), the project's convention: they are cleared
 *    by cn_zero_grad. Targets (labels, distributions) are constants and get no
 *    gradient. A gradient pointer may be NULL to skip it.
 *  - Kernels never allocate. L-Softmax takes a caller-owned workspace of
 *    cn_lsoftmax_workspace_size(n, c) reals. Backward passes recompute what they
 *    need from the forward inputs, so no statistics are saved between the two.
 *  - Integer class labels y (n) must lie in [0, c): check labels that come from
 *    data with cn_loss_check_labels first; a kernel given a label outside the
 *    range is a programmer error (CN_ASSERT). Every size must be >= 1 unless
 *    stated; hyper-parameters are asserted in their documented range.
 *  - Kinks (a hinge at 0, |d| at 0, a distance of 0) take the subgradient that
 *    PyTorch's autograd takes there, stated per loss.
 *  - Outputs must not alias inputs.
 */
#ifndef CONVNET_LOSS_KERNELS_H
#define CONVNET_LOSS_KERNELS_H

#include "convnet/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cn_loss_check_labels: CN_OK when every y[i] (n) lies in [0, c); otherwise
 * CN_ERR_RANGE "labels: index i: label v outside [0, c)". n may be 0. */
cn_status cn_loss_check_labels(const int *y, int n, int c, cn_error *err);

/* ================================================================ cross-entropy */

/* cn_softmax_ce_forward: softmax cross-entropy with optional class weights and
 * label smoothing eps, exactly PyTorch 1.13's
 *   F.cross_entropy(x, y, weight=weight, label_smoothing=eps, reduction='mean'):
 *   logp_ij = log_softmax(x_i)_j,  a_ij = (1 - eps) w_{y_i} [j == y_i] + (eps / c) w_j,
 *   loss = sum_i sum_j a_ij (-logp_ij) / sum_i w_{y_i}
 * (w_j = 1 without weights, so the denominator is n).
 *   x      (n, c) logits
 *   y      (n) labels in [0, c)
 *   weight (c) class weights >= 0, or NULL; sum_i w_{y_i} must be > 0
 *   eps    label smoothing in [0, 1] */
double cn_softmax_ce_forward(int n, int c, const cn_real *x, const int *y,
                             const cn_real *weight, double eps);

/* cn_softmax_ce_backward: dx (n, c) OVERWRITTEN with
 *   dloss * (A_i p_ij - a_ij) / sum_i w_{y_i},   A_i = sum_j a_ij,  p = softmax(x).
 * Arguments as cn_softmax_ce_forward. */
void cn_softmax_ce_backward(int n, int c, const cn_real *x, const int *y,
                            const cn_real *weight, double eps, double dloss, cn_real *dx);

/* cn_kl_div_forward: KL divergence from the model's distribution softmax(x) to a
 * target distribution t, averaged over the batch, as PyTorch's
 *   F.kl_div(F.log_softmax(x, 1), t, reduction='batchmean'):
 *   loss = (1/n) sum_ij t_ij (log t_ij - logp_ij), with 0 log 0 = 0.
 *   x (n, c) logits
 *   t (n, c) target probabilities >= 0 (rows usually sum to 1; not required) */
double cn_kl_div_forward(int n, int c, const cn_real *x, const cn_real *t);

/* cn_kl_div_backward: dx (n, c) OVERWRITTEN with dloss * (T_i p_ij - t_ij) / n,
 * T_i = sum_j t_ij. x (n, c), t (n, c) as in the forward. */
void cn_kl_div_backward(int n, int c, const cn_real *x, const cn_real *t, double dloss,
                        cn_real *dx);

/* ================================================================ margin losses */

/* cn_multi_hinge_forward: the Weston-Watkins multiclass hinge of CS231n (the
 * convention of cn_linear_loss_grad): with margins m_ij = x_ij - x_iy + margin,
 *   loss = (1/n) sum_i sum_{j != y_i} max(0, m_ij)^p,  p = 2 when squared, else 1.
 * PyTorch: F.multi_margin_loss(x, y, p=1 or 2, margin=margin) * c.
 *   x (n, c) scores, y (n) labels; margin > 0 (CS231n's delta, usually 1). */
double cn_multi_hinge_forward(int n, int c, const cn_real *x, const int *y, double margin,
                              int squared);

/* cn_multi_hinge_backward: dx (n, c) OVERWRITTEN: g_ij = dloss/n * (1 or 2 m_ij)
 * for j != y_i with m_ij > 0 (a margin of exactly 0 is inactive, as PyTorch),
 * and dx_iy = -sum_{j != y} g_ij. */
void cn_multi_hinge_backward(int n, int c, const cn_real *x, const int *y, double margin,
                             int squared, double dloss, cn_real *dx);

/* CN_RAMP_CAP_DEFAULT: the ramp's cap 1 - s with s = -1, the value Collobert,
 * Sinz, Weston and Bottou use ("Trading convexity for scalability", ICML 2006). */
#define CN_RAMP_CAP_DEFAULT 2.0

/* cn_ramp_forward: the ramp (truncated hinge) loss of Collobert et al. 2006,
 * R_s(z) = H_1(z) - H_s(z) with H_a(z) = max(0, a - z), s < 1, applied to every
 * margin of the multiclass hinge (z = x_y - x_j when margin = 1):
 *   loss = (1/n) sum_i sum_{j != y_i} min(max(0, m_ij), cap),
 *   m_ij = x_ij - x_iy + margin,  cap = 1 - s > 0 (CN_RAMP_CAP_DEFAULT = 2).
 * A badly misclassified sample costs at most (c - 1) cap: outliers stop pulling.
 *   x (n, c) scores, y (n) labels; margin > 0, cap > 0. No PyTorch counterpart. */
double cn_ramp_forward(int n, int c, const cn_real *x, const int *y, double margin,
                       double cap);

/* cn_ramp_backward: dx (n, c) OVERWRITTEN: g_ij = dloss/n for j != y_i with
 * 0 < m_ij < cap (both kinks count as flat), dx_iy = -sum_{j != y} g_ij. */
void cn_ramp_backward(int n, int c, const cn_real *x, const int *y, double margin,
                      double cap, double dloss, cn_real *dx);

/* ================================================================ L-Softmax */

#define CN_LSOFTMAX_MAX_M 4

/* cn_lsoftmax_workspace_size: reals of scratch cn_lsoftmax_forward and
 * cn_lsoftmax_backward need: n * (c + 2) (the logits, then their gradient, and
 * two per-row coefficients). */
size_t cn_lsoftmax_workspace_size(int n, int c);

/* cn_lsoftmax_forward: large-margin softmax loss (Liu, Wen, Yu, Yang, "Large-
 * Margin Softmax Loss for Convolutional Neural Networks", ICML 2016) on the last
 * linear layer (no bias) x W: logits f_ij = W_j . x_i for j != y_i and, for the
 * target, f_iy = (lambda W_y . x_i + |W_y| |x_i| psi(theta)) / (1 + lambda),
 *   cos theta = W_y . x_i / (|W_y| |x_i|),
 *   psi(theta) = (-1)^k cos(m theta) - 2k,  theta in [k pi/m, (k+1) pi/m], k = 0..m-1,
 * then loss = (1/n) sum_i CE(f_i, y_i). m = 1 is the plain softmax loss; lambda
 * >= 0 is the paper's annealing weight (0: the pure L-Softmax). When x_i or W_y
 * is zero, theta is undefined and f_iy = W_y . x_i (= 0).
 *   x  (n, d) features, W (d, c) weights (column j is W_j), y (n) labels
 *   m  margin in 1..CN_LSOFTMAX_MAX_M
 *   ws (cn_lsoftmax_workspace_size(n, c)) scratch */
double cn_lsoftmax_forward(int n, int d, int c, const cn_real *x, const cn_real *W,
                           const int *y, int m, double lambda, cn_real *ws);

/* cn_lsoftmax_backward: with dF_ij = dloss (softmax(f_i)_j - [j == y_i]) / n,
 *   dx (n, d) OVERWRITTEN: dx_i = sum_{j != y} dF_ij W_j + dF_iy df_iy/dx_i
 *   dW (d, c) ACCUMULATED: dW_j += sum_{i: y_i != j} dF_ij x_i + sum_{i: y_i = j} dF_ij df_iy/dW_j
 * where, for psi'(c) = (-1)^k m U_{m-1}(cos theta) (U the Chebyshev polynomial of
 * the second kind) and r = |W_y| |x_i|,
 *   d(r psi)/dx_i = |W_y| (psi - cos theta psi') x_i / |x_i| + psi' W_y,
 *   d(r psi)/dW_y = |x_i| (psi - cos theta psi') W_y / |W_y| + psi' x_i
 * (docs/kernels/loss.md derives them). Other arguments as the forward. */
void cn_lsoftmax_backward(int n, int d, int c, const cn_real *x, const cn_real *W,
                          const int *y, int m, double lambda, double dloss, cn_real *dx,
                          cn_real *dW, cn_real *ws);

/* ================================================================ regression */

/* cn_bce_logits_forward: sigmoid binary cross-entropy on logits for multi-label
 * targets, PyTorch's F.binary_cross_entropy_with_logits(x, t, pos_weight=pw)
 * with reduction 'mean' (over all n * c elements):
 *   l_ij = pw_j t_ij softplus(-x_ij) + (1 - t_ij) softplus(x_ij)
 * (= -[pw t log sigma(x) + (1 - t) log(1 - sigma(x))], computed stably).
 *   x  (n, c) logits, t (n, c) targets in [0, 1]
 *   pw (c) positive-class weights, or NULL (all 1) */
double cn_bce_logits_forward(int n, int c, const cn_real *x, const cn_real *t,
                             const cn_real *pw);

/* cn_bce_logits_backward: dx (n, c) OVERWRITTEN with
 *   dloss * (sigma(x)(pw t + 1 - t) - pw t) / (n c). */
void cn_bce_logits_backward(int n, int c, const cn_real *x, const cn_real *t,
                            const cn_real *pw, double dloss, cn_real *dx);

/* Elementwise regression losses over count >= 1 elements, mean reduction, as
 * PyTorch's F.mse_loss, F.l1_loss, F.smooth_l1_loss(beta) and F.huber_loss(delta)
 * with reduction 'mean'. x (count) predictions, t (count) targets; dx (count)
 * OVERWRITTEN with dloss * dl/dx / count. With r = x - t:
 *   MSE        l = r^2                                     dl/dx = 2 r
 *   L1         l = |r|                                     dl/dx = sign(r) (0 at 0)
 *   smooth L1  l = 0.5 r^2 / beta if |r| < beta,           dl/dx = r / beta, or sign(r)
 *                  |r| - 0.5 beta otherwise (beta >= 0; beta = 0 is L1)
 *   Huber      l = 0.5 r^2 if |r| <= delta,                dl/dx = r, or delta sign(r)
 *                  delta (|r| - 0.5 delta) otherwise (delta > 0)
 * (smooth L1 with beta = Huber with delta = beta, divided by beta). */
double cn_mse_forward(size_t count, const cn_real *x, const cn_real *t);
void cn_mse_backward(size_t count, const cn_real *x, const cn_real *t, double dloss,
                     cn_real *dx);
double cn_l1_forward(size_t count, const cn_real *x, const cn_real *t);
void cn_l1_backward(size_t count, const cn_real *x, const cn_real *t, double dloss,
                    cn_real *dx);
double cn_smooth_l1_forward(size_t count, const cn_real *x, const cn_real *t, double beta);
void cn_smooth_l1_backward(size_t count, const cn_real *x, const cn_real *t, double beta,
                           double dloss, cn_real *dx);
double cn_huber_forward(size_t count, const cn_real *x, const cn_real *t, double delta);
void cn_huber_backward(size_t count, const cn_real *x, const cn_real *t, double delta,
                       double dloss, cn_real *dx);

/* ================================================================ metric losses */

/* cn_center_loss_forward: the center loss of Wen, Zhang, Li, Qiao ("A
 * Discriminative Feature Learning Approach for Deep Face Recognition", ECCV
 * 2016), averaged over the batch:
 *   loss = (1/n) sum_i 0.5 |x_i - centres_{y_i}|^2.
 * The centres are a learnable parameter with the true gradient; the paper's
 * separate update rule c_j -= alpha * delta_j is left to the optimiser (its
 * learning rate on the centres plays alpha's role; see docs/kernels/loss.md).
 *   x (n, d) features, y (n) labels in [0, c), centres (c, d) */
double cn_center_loss_forward(int n, int d, int c, const cn_real *x, const int *y,
                              const cn_real *centres);

/* cn_center_loss_backward:
 *   dx (n, d) OVERWRITTEN: dx_i = dloss (x_i - centres_{y_i}) / n
 *   dcentres (c, d) ACCUMULATED: dcentres_j += -dloss sum_{i: y_i = j} (x_i - centres_j) / n */
void cn_center_loss_backward(int n, int d, int c, const cn_real *x, const int *y,
                             const cn_real *centres, double dloss, cn_real *dx,
                             cn_real *dcentres);

/* CN_TRIPLET_EPS: the eps PyTorch's pairwise_distance adds to the difference. */
#define CN_TRIPLET_EPS 1e-6

/* cn_triplet_forward: torch.nn.TripletMarginLoss(margin, p=2, eps=1e-6,
 * swap=False), mean over the n triplets:
 *   d(u, v) = |u - v + eps|_2 (eps added to every coordinate, as PyTorch 1.13),
 *   loss = (1/n) sum_i max(0, d(a_i, p_i) - d(a_i, n_i) + margin).
 *   a, p, ng (n, d) anchors, positives, negatives; margin >= 0 */
double cn_triplet_forward(int n, int d, const cn_real *a, const cn_real *p,
                          const cn_real *ng, double margin);

/* cn_triplet_backward: da, dp, dn (n, d) OVERWRITTEN (each may be NULL). For an
 * active triplet (hinge argument > 0; 0 counts as inactive, as PyTorch), with
 * u = a - p + eps and v = a - ng + eps:
 *   da = s (u / |u| - v / |v|),  dp = -s u / |u|,  dn = s v / |v|,  s = dloss / n;
 * a zero-length difference contributes 0. Inactive triplets get 0. */
void cn_triplet_backward(int n, int d, const cn_real *a, const cn_real *p,
                         const cn_real *ng, double margin, double dloss, cn_real *da,
                         cn_real *dp, cn_real *dn);

/* cn_contrastive_forward: the contrastive loss of Hadsell, Chopra, LeCun
 * ("Dimensionality Reduction by Learning an Invariant Mapping", CVPR 2006) for
 * Siamese pairs, mean over the pairs, with y = 1 for a similar pair (the
 * paper's Y = 0) and y = 0 for a dissimilar one (the paper's Y = 1):
 *   D_i = |x1_i - x2_i|_2,
 *   loss = (1/n) sum_i [ y_i 0.5 D_i^2 + (1 - y_i) 0.5 max(0, margin - D_i)^2 ].
 *   x1, x2 (n, d) embeddings, y (n) in {0, 1}, margin > 0 */
double cn_contrastive_forward(int n, int d, const cn_real *x1, const cn_real *x2,
                              const int *y, double margin);

/* cn_contrastive_backward: dx1, dx2 (n, d) OVERWRITTEN (each may be NULL),
 * dx2 = -dx1 and, with s = dloss / n and r = x1_i - x2_i:
 *   similar:     dx1_i = s r
 *   dissimilar:  dx1_i = -s (margin - D_i) r / D_i when 0 < D_i < margin, else 0
 * (at D_i = 0 the direction is undefined: the subgradient 0 is taken). */
void cn_contrastive_backward(int n, int d, const cn_real *x1, const cn_real *x2,
                             const int *y, double margin, double dloss, cn_real *dx1,
                             cn_real *dx2);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_LOSS_KERNELS_H */
