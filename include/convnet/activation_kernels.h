/* convnet/activation_kernels.h: pure compute kernels for activations and dropout
 * on raw arrays (no tensors, no graph): the element-wise activations behind one
 * enum (sigmoid, tanh, ReLU, leaky ReLU, PReLU, ELU, SELU, RReLU, softplus, GELU),
 * maxout over channel groups, softmax and log-softmax over one axis, and inverted
 * dropout, spatial dropout (Dropout2d) and DropConnect. docs/kernels/activation.md
 * gives every formula and the backward derivations.
 *
 * Conventions shared by every kernel here:
 *  - Arrays are contiguous, outermost-first; a shape comment names each one. A
 *    layout (n, c, inner) means batch, channels, then everything after the
 *    channels flattened (h * w for images, 1 for (n, c) data).
 *  - Kernels never allocate and never fail: parameters are validated once by the
 *    _check functions (an op checks its attributes when the model is compiled);
 *    invalid parameters reaching a kernel are a programmer error (CN_ASSERT).
 *  - Gradients: an input gradient (dx) is OVERWRITTEN with this op's dL/dx (the
 *    graph sums several consumers itself); parameter gradients (dalpha, dw) are
 *    ACCUMULATED (+=), cleared by cn_zero_grad.
 *  - Training vs evaluation is an explicit argument. Randomness comes only from an
 *    explicit cn_rng. Every random kernel writes what it drew into a caller-owned
 *    buffer (RReLU slopes, dropout masks); passing rng == NULL in training reuses
 *    the buffer's contents instead of drawing, so a gradient check (or a replay)
 *    can hold the randomness fixed.
 *  - Reductions (PReLU's dalpha, softmax's sums) accumulate in double, each over
 *    a fixed order: results never depend on the thread count.
 *  - Transcendental functions are evaluated in double and rounded to cn_real.
 */
#ifndef CONVNET_ACTIVATION_KERNELS_H
#define CONVNET_ACTIVATION_KERNELS_H

#include "convnet/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ element-wise */

/* cn_act_kind: the element-wise activations. Names (cn_act_name) are PyTorch's
 * lower-case functional names. */
typedef enum cn_act_kind {
    CN_ACT_SIGMOID = 0, /* "sigmoid"    1 / (1 + e^-x) */
    CN_ACT_TANH,        /* "tanh" */
    CN_ACT_RELU,        /* "relu"       max(x, 0) */
    CN_ACT_LEAKY_RELU,  /* "leaky_relu" x > 0 ? x : slope x */
    CN_ACT_PRELU,       /* "prelu"      x > 0 ? x : a x, a learnable (1 or c of them) */
    CN_ACT_ELU,         /* "elu"        x > 0 ? x : alpha (e^x - 1) */
    CN_ACT_SELU,        /* "selu"       CN_SELU_SCALE * elu(x) with alpha CN_SELU_ALPHA */
    CN_ACT_RRELU,       /* "rrelu"      x >= 0 ? x : r x, r ~ U[lower, upper] (training) */
    CN_ACT_SOFTPLUS,    /* "softplus"   log(1 + e^(beta x)) / beta, linear above threshold */
    CN_ACT_GELU,        /* "gelu"       x Phi(x), or the tanh approximation */
    CN_ACT_COUNT
} cn_act_kind;

/* SELU's constants, as PyTorch (Klambauer et al. 2017). */
#define CN_SELU_ALPHA 1.6732632423543772848170429916717
#define CN_SELU_SCALE 1.0507009873554804934193349852946

/* cn_act_params: the scalar parameters of every kind (each kind reads its own).
 * cn_act_params_default gives PyTorch's defaults. */
typedef struct cn_act_params {
    double slope;       /* leaky_relu: negative slope (0.01) */
    double alpha;       /* elu: alpha (1.0) */
    double lower;       /* rrelu: lowest slope (1/8) */
    double upper;       /* rrelu: highest slope (1/3) */
    double beta;        /* softplus: beta (1.0), > 0 */
    double threshold;   /* softplus: linear where beta x > threshold (20.0) */
    int prelu_channels; /* prelu: 0 one shared a; 1 one a per channel (c of them) (0) */
    int gelu_tanh;      /* gelu: 0 exact erf form; 1 approximate='tanh' (0) */
} cn_act_params;

/* cn_act_params_default: PyTorch's default parameters (listed above). */
cn_act_params cn_act_params_default(void);

/* cn_act_name: the kind's name ("relu"), or "?" for an invalid value. */
const char *cn_act_name(cn_act_kind kind);

/* cn_act_parse: name -> kind. CN_ERR_ARG listing the valid names for an unknown
 * one. */
cn_status cn_act_parse(const char *name, cn_act_kind *out, cn_error *err);

/* cn_act_params_check: validate p for kind. CN_ERR_ARG for an invalid kind, a
 * non-finite parameter the kind reads, rrelu with lower > upper, softplus with
 * beta <= 0, prelu_channels or gelu_tanh not 0 or 1. */
cn_status cn_act_params_check(cn_act_kind kind, const cn_act_params *p, cn_error *err);

/* cn_act_weight_count: learnable parameters the activation has on c channels:
 * prelu 1 or c, every other kind 0. */
size_t cn_act_weight_count(cn_act_kind kind, const cn_act_params *p, int c);

/* cn_act_noise_count: reals of the RReLU slope buffer for count elements: count
 * for rrelu, 0 for every other kind. */
size_t cn_act_noise_count(cn_act_kind kind, size_t count);

/* cn_act_forward: y = f(x) element by element.
 *   n, c, inner  layout of x and y (n, c, inner); only PReLU with one a per
 *                channel uses c, every other kind only the product n*c*inner.
 *   x      (n, c, inner)
 *   y      (n, c, inner) OVERWRITTEN; may be x itself (in place)
 *   weight PReLU's a: (c) if p->prelu_channels else (1); NULL for other kinds
 *   noise  RReLU's slopes (n, c, inner): in training written with the slope used
 *          for each element (1 where x > 0, r ~ U[lower, upper) where x <= 0),
 *          or, when rng is NULL, read as given; unused in evaluation (may be
 *          NULL then) and for other kinds
 *   training  1 training, 0 evaluation (only RReLU differs: evaluation uses the
 *          fixed slope (lower + upper) / 2, as PyTorch)
 *   rng    RReLU training draws from it (in element order, one draw per x <= 0);
 *          NULL to reuse noise; ignored otherwise */
void cn_act_forward(cn_act_kind kind, const cn_act_params *p, int n, int c, size_t inner,
                    const cn_real *x, cn_real *y, const cn_real *weight, cn_real *noise,
                    int training, cn_rng *rng);

/* cn_act_backward: dx = f'(x) * dy, and PReLU's dalpha.
 *   x   (n, c, inner) the forward input: read by every kind except sigmoid and
 *       tanh (may be NULL for those)
 *   y   (n, c, inner) the forward output: read by sigmoid (dx = dy y (1 - y)),
 *       tanh (dx = dy (1 - y^2)) and, when not NULL, ReLU (y > 0 exactly when
 *       x > 0, NaN included, so ReLU's backward needs only its output and the
 *       engine can drop its input); may be NULL for the others
 *   dy  (n, c, inner)
 *   dx  (n, c, inner) OVERWRITTEN with dL/dx; may be dy itself (in place)
 *   weight  PReLU's a as in forward; NULL for other kinds
 *   dweight PReLU: ACCUMULATED dL/da, (c) or (1) like weight; NULL skips it
 *   noise   RReLU in training: the slopes the forward wrote; NULL otherwise
 *   training as in the forward call
 * Subgradients at kinks follow PyTorch: relu, leaky_relu and prelu use x > 0
 * (slope 1) else the negative slope, so x == 0 gets 0, slope and a respectively. */
void cn_act_backward(cn_act_kind kind, const cn_act_params *p, int n, int c, size_t inner,
                     const cn_real *x, const cn_real *y, const cn_real *dy, cn_real *dx,
                     const cn_real *weight, cn_real *dweight, const cn_real *noise,
                     int training);

/* ================================================================ maxout */

/* cn_maxout_forward: maxout with k pieces over channels: output channel j is the
 * maximum of input channels j*k .. j*k + k - 1 (k consecutive channels).
 *   x   (n, k*c, inner)
 *   y   (n, c, inner)   OVERWRITTEN
 *   arg (n, c, inner)   OVERWRITTEN: the winning piece 0..k-1 of each output;
 *                       ties go to the first piece, a NaN wins (and propagates)
 * k >= 1. */
void cn_maxout_forward(int n, int c, int k, size_t inner, const cn_real *x, cn_real *y,
                       int32_t *arg);

/* cn_maxout_backward: dx OVERWRITTEN: dy routed to the winning piece, 0 elsewhere.
 *   dy  (n, c, inner), arg (n, c, inner) from forward, dx (n, k*c, inner) */
void cn_maxout_backward(int n, int c, int k, size_t inner, const cn_real *dy,
                        const int32_t *arg, cn_real *dx);

/* ================================================================ softmax */

/* Softmax and log-softmax over the middle axis of an (outer, dim, inner) view: for
 * a tensor of shape (d0, ..., dk) and axis a, outer = d0 * ... * d(a-1), dim = da,
 * inner = d(a+1) * ... * dk. Numerically stable (the maximum along the axis is
 * subtracted first); sums in double. A row holding +inf gives NaN, as PyTorch.
 * dim >= 1. y may not alias x; dx may be dy itself.
 *   x, y, dy, dx (outer, dim, inner) */

/* cn_softmax_forward: y = exp(x - max) / sum exp(x - max) along the axis. */
void cn_softmax_forward(int outer, int dim, size_t inner, const cn_real *x, cn_real *y);

/* cn_softmax_backward: dx OVERWRITTEN with y * (dy - sum_axis(dy * y)); reads the
 * forward output y only. */
void cn_softmax_backward(int outer, int dim, size_t inner, const cn_real *y,
                         const cn_real *dy, cn_real *dx);

/* cn_log_softmax_forward: y = x - max - log(sum exp(x - max)) along the axis. */
void cn_log_softmax_forward(int outer, int dim, size_t inner, const cn_real *x, cn_real *y);

/* cn_log_softmax_backward: dx OVERWRITTEN with dy - exp(y) * sum_axis(dy); reads
 * the forward output y only. */
void cn_log_softmax_backward(int outer, int dim, size_t inner, const cn_real *y,
                             const cn_real *dy, cn_real *dx);

/* ================================================================ dropout */

/* All three dropouts are inverted: a kept unit (or weight) is scaled by
 * 1 / (1 - p) in training, so evaluation is the identity. A mask is an array of
 * cn_real holding, per unit, 0 (dropped) or 1 / (1 - p) (kept): applying it is
 * one multiplication, forward and backward. Each unit is dropped with probability
 * p: one draw u = cn_rng_uniform(rng) per mask entry, in order, dropped when
 * u < p. p = 1 drops everything (mask all 0, as PyTorch's zeros). */

/* cn_dropout_check: CN_ERR_ARG unless 0 <= p <= 1 (and finite). */
cn_status cn_dropout_check(double p, cn_error *err);

/* cn_dropout_mask: draw count mask entries from rng.
 *   mask (count) OVERWRITTEN with 0 or 1 / (1 - p) */
void cn_dropout_mask(cn_rng *rng, double p, size_t count, cn_real *mask);

/* cn_dropout_forward: inverted dropout, one Bernoulli per element.
 *   x    (count)
 *   y    (count) OVERWRITTEN: x * mask in training, x in evaluation; may be x
 *   mask (count) training: drawn from rng (OVERWRITTEN), or read as given when
 *        rng is NULL; unused in evaluation (may be NULL then) */
void cn_dropout_forward(double p, int training, cn_rng *rng, size_t count,
                        const cn_real *x, cn_real *y, cn_real *mask);

/* cn_dropout_backward: dx OVERWRITTEN with dy * mask in training, dy in
 * evaluation (mask may be NULL then). dy, mask, dx (count); dx may be dy. */
void cn_dropout_backward(int training, size_t count, const cn_real *dy,
                         const cn_real *mask, cn_real *dx);

/* cn_dropout2d_forward: spatial dropout (PyTorch's Dropout2d): one Bernoulli per
 * (image, channel), the whole plane kept or dropped.
 *   x    (n, c, inner)
 *   y    (n, c, inner) OVERWRITTEN; may be x
 *   mask (n, c) as in cn_dropout_forward (n*c draws) */
void cn_dropout2d_forward(double p, int training, cn_rng *rng, int n, int c, size_t inner,
                          const cn_real *x, cn_real *y, cn_real *mask);

/* cn_dropout2d_backward: dx = dy * mask[n, c] per plane in training, dy in
 * evaluation. dy, dx (n, c, inner), mask (n, c); dx may be dy. */
void cn_dropout2d_backward(int training, int n, int c, size_t inner, const cn_real *dy,
                           const cn_real *mask, cn_real *dx);

/* cn_dropconnect_forward: DropConnect (Wan et al. 2013) on a weight array of any
 * shape: the weights a layer uses this step are w_eff = w * mask in training,
 * w in evaluation (the inverted scaling keeps E[w_eff] = w).
 *   w     (count) the parameters
 *   w_eff (count) OVERWRITTEN, the weights to compute with
 *   mask  (count) as in cn_dropout_forward */
void cn_dropconnect_forward(double p, int training, cn_rng *rng, size_t count,
                            const cn_real *w, cn_real *w_eff, cn_real *mask);

/* cn_dropconnect_backward: dw ACCUMULATED with dw_eff * mask in training (dw_eff
 * in evaluation): dw is the parameter gradient, dw_eff the gradient the layer
 * computed for w_eff. dw_eff, mask, dw (count). */
void cn_dropconnect_backward(int training, size_t count, const cn_real *dw_eff,
                             const cn_real *mask, cn_real *dw);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_ACTIVATION_KERNELS_H */
