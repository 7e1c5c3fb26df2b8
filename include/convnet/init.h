/* convnet/init.h: weight initialisers (torch.nn.init and the CS231n notes' "Weight
 * initialization"): constants, normal and uniform draws, Xavier/Glorot, Kaiming/He,
 * LeCun, orthogonal and sparse initialisation, with PyTorch's calculate_gain and
 * fan-in / fan-out rules. A spec (cn_init) is a plain value; cn_init_fill writes one
 * weight array from it.
 *
 * Conventions:
 *  - Shapes are PyTorch's weight layouts, outermost first: a linear weight is
 *    (out, in), a convolution weight (c_out, c_in / groups, kh, kw). fan_in is
 *    shape[1] * receptive, fan_out shape[0] * receptive, receptive the product of
 *    shape[2..] (1 for 2-D), exactly torch.nn.init._calculate_fan_in_and_fan_out.
 *  - All randomness comes from the explicit cn_rng passed in, drawn serially: the
 *    same seed and the same spec give bit-identical weights (in a given precision).
 *    Normal and uniform draws are taken in element order (row-major), one
 *    cn_rng_normal / cn_rng_uniform per element; values are computed in double and
 *    rounded once to cn_real.
 *  - Biases: the notes' advice (and every op's default here) is zeros; use
 *    CN_INIT_ZEROS for them.
 *  - The formulas, PyTorch equivalents and the notes' advice: docs/init.md.
 */
#ifndef CONVNET_INIT_H
#define CONVNET_INIT_H

#include "convnet/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cn_init_kind: the initialisers. Names (cn_init_name) follow torch.nn.init without
 * the trailing underscore; lecun_* are kaiming_* with the linear gain and fan_in
 * (Keras' names). CN_INIT_DEFAULT means "the op's own choice": a valid spec value
 * that cn_init_fill never fills (CN_ERR_ARG); the op replaces it with its default. */
typedef enum cn_init_kind {
    CN_INIT_DEFAULT = 0,
    CN_INIT_ZEROS,          /* w = 0 */
    CN_INIT_ONES,           /* w = 1 */
    CN_INIT_CONSTANT,       /* w = value */
    CN_INIT_NORMAL,         /* w ~ N(mean, std^2) */
    CN_INIT_UNIFORM,        /* w ~ U[low, high) */
    CN_INIT_XAVIER_NORMAL,  /* N(0, s^2), s = gain sqrt(2 / (fan_in + fan_out)) */
    CN_INIT_XAVIER_UNIFORM, /* U[-b, b), b = gain sqrt(6 / (fan_in + fan_out)) */
    CN_INIT_KAIMING_NORMAL, /* N(0, s^2), s = gain(nonlinearity, neg_slope) / sqrt(fan) */
    CN_INIT_KAIMING_UNIFORM,/* U[-b, b), b = sqrt(3) gain / sqrt(fan) */
    CN_INIT_LECUN_NORMAL,   /* N(0, s^2), s = 1 / sqrt(fan_in) */
    CN_INIT_LECUN_UNIFORM,  /* U[-b, b), b = sqrt(3 / fan_in) */
    CN_INIT_ORTHOGONAL,     /* gain * the Q of a normal matrix's QR (torch's signs) */
    CN_INIT_SPARSE,         /* 2-D: N(0, sparse_std^2) with zeros per column or row */
    CN_INIT_COUNT
} cn_init_kind;

/* cn_gain_kind: torch.nn.init.calculate_gain's nonlinearities. Convolutions and
 * linear layers count as linear (cn_gain_parse accepts "conv1d", "conv2d",
 * "conv3d", "conv_transpose1d/2d/3d" as "linear"). */
typedef enum cn_gain_kind {
    CN_GAIN_LINEAR = 0,     /* 1 */
    CN_GAIN_SIGMOID,        /* 1 */
    CN_GAIN_TANH,           /* 5/3 */
    CN_GAIN_RELU,           /* sqrt(2) */
    CN_GAIN_LEAKY_RELU,     /* sqrt(2 / (1 + a^2)), a the negative slope */
    CN_GAIN_SELU,           /* 3/4 */
    CN_GAIN_COUNT
} cn_gain_kind;

/* cn_init: one initialiser and its arguments (a plain value: copy it freely). Only
 * the fields the kind uses are read (and checked); cn_init_make fills every field
 * with PyTorch's default, shown in brackets. */
typedef struct cn_init {
    cn_init_kind kind;
    double value;              /* constant: the value [0] */
    double mean, std;          /* normal: mean and standard deviation [0, 1] */
    double low, high;          /* uniform: [low, high) [0, 1] */
    double gain;               /* xavier_*, orthogonal: multiplier [1] */
    cn_gain_kind nonlinearity; /* kaiming_*: the gain's nonlinearity [leaky_relu] */
    double neg_slope;          /* kaiming_* with leaky_relu: the slope a [0]. PyTorch's
                                * kaiming default (a = 0, nonlinearity 'leaky_relu')
                                * is therefore the relu gain sqrt(2). */
    int fan_out;               /* kaiming_*: 0 divide by fan_in, 1 by fan_out [0] */
    double sparsity;           /* sparse: fraction of zeros per column, as
                                * torch.nn.init.sparse_ (ceil(sparsity * rows) zeros in
                                * every column) [0.9] */
    int nonzero;               /* sparse: if > 0, the notes' form instead: every output
                                * unit (row) connected to exactly `nonzero` inputs
                                * (columns), the rest zero [0] */
    double sparse_std;         /* sparse: std of the nonzero weights [0.01] */
} cn_init;

/* cn_init_make: a spec of the given kind with PyTorch's default arguments (every
 * field filled, see cn_init). An invalid kind is kept as given (cn_init_check then
 * rejects it). */
cn_init cn_init_make(cn_init_kind kind);

/* cn_init_name: the kind's name ("zeros", "ones", "constant", "normal", "uniform",
 * "xavier_normal", "xavier_uniform", "kaiming_normal", "kaiming_uniform",
 * "lecun_normal", "lecun_uniform", "orthogonal", "sparse", "default"), or "?" for an
 * invalid value. */
const char *cn_init_name(cn_init_kind kind);

/* cn_init_parse: name -> kind. Names are those of cn_init_name (exact, lower case);
 * "glorot_normal", "glorot_uniform", "he_normal", "he_uniform" are accepted as
 * aliases of xavier_* / kaiming_*. Errors: CN_ERR_ARG for NULL arguments or an
 * unknown name; the message quotes the name, lists the valid ones and names the
 * nearest by edit distance ("did you mean 'xavier_normal'?"). *out is untouched on
 * error. */
cn_status cn_init_parse(const char *name, cn_init_kind *out, cn_error *err);

/* cn_gain_name: "linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu", or "?"
 * for an invalid value. */
const char *cn_gain_name(cn_gain_kind k);

/* cn_gain_parse: name -> nonlinearity (the names of cn_gain_name, plus the
 * convolution names of calculate_gain as aliases of "linear"). CN_ERR_ARG for NULL
 * arguments or an unknown name, listing the valid names and the nearest. */
cn_status cn_gain_parse(const char *name, cn_gain_kind *out, cn_error *err);

/* cn_init_gain: torch.nn.init.calculate_gain: linear 1, sigmoid 1, tanh 5/3, relu
 * sqrt(2), leaky_relu sqrt(2 / (1 + param^2)) with param the negative slope, selu
 * 3/4. param is read for leaky_relu only and is used as given (PyTorch substitutes
 * 0.01 when its param is None; pass 0.01 for that). An invalid k returns NaN. */
double cn_init_gain(cn_gain_kind k, double param);

/* cn_init_fans: PyTorch's _calculate_fan_in_and_fan_out for a weight of shape
 * (ndim dims): fan_in = shape[1] * receptive, fan_out = shape[0] * receptive, with
 * receptive = shape[2] * ... * shape[ndim-1] (1 for ndim 2), computed in double.
 * fan_in / fan_out may be NULL. Errors: CN_ERR_SHAPE for ndim < 2 (PyTorch raises
 * too; no fan is defined for a vector), ndim > CN_MAX_DIMS or a negative dim;
 * CN_ERR_ARG for a NULL shape. */
cn_status cn_init_fans(int ndim, const int *shape, double *fan_in, double *fan_out,
                       cn_error *err);

/* cn_init_check: validate spec's fields that its kind uses. CN_ERR_ARG for a NULL
 * spec, an invalid kind, a non-finite value (value, mean, std, low, high, high - low,
 * gain, neg_slope, sparsity, sparse_std), std < 0, sparse_std < 0, low > high,
 * sparsity outside [0, 1], nonzero < 0, fan_out not 0 or 1, or an invalid
 * nonlinearity; CN_ERR_RANGE for a value, mean, std, low or high that does not fit
 * in cn_real (e.g. 1e300 in the float build). CN_INIT_DEFAULT passes (it is a valid
 * spec; only cn_init_fill rejects it). */
cn_status cn_init_check(const cn_init *spec, cn_error *err);

/* cn_init_fill: overwrite w (prod(shape) reals, the caller's) with spec's
 * initialisation of a weight of shape (shape[0], ..., shape[ndim-1]), drawing from
 * rng (advanced; may be NULL for zeros, ones and constant only). The kinds:
 *  - zeros / ones / constant: exact; no draws.
 *  - normal: mean + std * N(0, 1); uniform: low + (high - low) * U[0, 1); one draw
 *    per element in element order. xavier_* / kaiming_* / lecun_* likewise with the
 *    std or bound of cn_init_kind, from cn_init_fans (ndim >= 2).
 *  - orthogonal: the weight viewed as (shape[0], rest), rest the product of the
 *    other dims; a (shape[0], rest) matrix of N(0, 1) draws in element order is
 *    factored A = QR in double (Householder; transposed first when shape[0] < rest,
 *    as torch), Q's columns multiplied by sign(diag(R)) (a zero diagonal counts as
 *    +1), transposed back, times gain. Then W W^T = gain^2 I when shape[0] <= rest,
 *    else W^T W = gain^2 I. Allocates two double copies of the matrix (cn_malloc,
 *    freed before returning); costs O(m n^2) for the tall (m, n) view.
 *  - sparse (ndim 2, (rows, cols)): nonzero == 0: torch.nn.init.sparse_: all
 *    elements N(0, sparse_std^2) in element order, then for each column in order the
 *    first ceil(sparsity * rows) rows of a random permutation (cn_rng_below,
 *    Fisher-Yates) set to 0. nonzero > 0 (the notes' form): each row in order gets
 *    exactly `nonzero` distinct random columns (requires nonzero <= cols), whose
 *    weights are N(0, sparse_std^2) drawn in column order; the rest 0.
 * A weight with zero elements is left alone (CN_OK, no draws), as PyTorch does.
 * Errors (w is untouched on every error): those of cn_init_check;
 * CN_ERR_ARG for the kind CN_INIT_DEFAULT, a NULL shape (ndim > 0), NULL w with
 * elements to fill, or NULL rng for a random kind; CN_ERR_SHAPE for ndim outside
 * 1..CN_MAX_DIMS, a negative dim, ndim < 2 for the fan-based kinds (xavier_*,
 * kaiming_*, lecun_*, orthogonal), ndim != 2 for sparse, or nonzero > cols;
 * CN_ERR_RANGE when the element count overflows size_t (or, for orthogonal, the
 * double copy's size); CN_ERR_NOMEM when the orthogonal matrix or the sparse index
 * scratch cannot be allocated. Every message starts "init <name>: " and names the
 * shape. */
cn_status cn_init_fill(const cn_init *spec, int ndim, const int *shape, cn_real *w,
                       cn_rng *rng, cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_INIT_H */
