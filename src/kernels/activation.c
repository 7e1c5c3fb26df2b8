/* activation.c: the element-wise activations (sigmoid, tanh, ReLU, leaky ReLU,
 * PReLU, ELU, SELU, RReLU, softplus, GELU) forward and backward behind one enum,
 * their names and parameter checks, and maxout over channel groups. Formulas and
 * kink conventions follow PyTorch 1.13 (docs/kernels/activation.md). Element-wise
 * loops run under OpenMP; PReLU's dalpha sums each channel in a fixed order and
 * RReLU's draws are serial, so nothing depends on the thread count. The
 * piecewise-linear kinds (and sigmoid / tanh backward) run in blocks of BLK
 * elements with fixed-count inner loops, which the compiler vectorises at -O2,
 * each thread taking one contiguous range inside a single parallel region. */
#include "convnet/activation_kernels.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Below this many elements a loop stays serial (thread start-up would dominate). */
#define PAR_MIN 32768

/* PAR_MIN_LINEAR: the same for the memory-bound piecewise-linear loops, which
 * stream ~1 element per cycle: splitting less than this costs more in waking
 * and joining a team (much more on a loaded machine) than it saves. */
#define PAR_MIN_LINEAR ((size_t)1 << 17)

/* BLK: elements per block of the blocked loops (a multiple of every vector
 * width: 16 floats or 8 doubles per AVX-512 register). */
#define BLK 16

#ifdef _OPENMP
#define PAR_FOR _Pragma("omp parallel for schedule(static) if (count >= PAR_MIN)")
#else
#define PAR_FOR
#endif

#define SQRT1_2 0.70710678118654752440084436210485       /* 1 / sqrt(2) */
#define INV_SQRT_2PI 0.39894228040143267793994605993438  /* 1 / sqrt(2 pi) */
#define SQRT_2_PI 0.79788456080286535587989211986876     /* sqrt(2 / pi) */
#define GELU_KAPPA 0.044715

static const char *const act_names[CN_ACT_COUNT] = {
    [CN_ACT_SIGMOID] = "sigmoid", [CN_ACT_TANH] = "tanh",
    [CN_ACT_RELU] = "relu",       [CN_ACT_LEAKY_RELU] = "leaky_relu",
    [CN_ACT_PRELU] = "prelu",     [CN_ACT_ELU] = "elu",
    [CN_ACT_SELU] = "selu",       [CN_ACT_RRELU] = "rrelu",
    [CN_ACT_SOFTPLUS] = "softplus", [CN_ACT_GELU] = "gelu",
};

cn_act_params cn_act_params_default(void)
{
    cn_act_params p = {.slope = 0.01, .alpha = 1.0, .lower = 1.0 / 8.0, .upper = 1.0 / 3.0,
                       .beta = 1.0, .threshold = 20.0, .prelu_channels = 0, .gelu_tanh = 0};
    return p;
}

const char *cn_act_name(cn_act_kind kind)
{
    if ((int)kind < 0 || kind >= CN_ACT_COUNT) return "?";
    return act_names[kind];
}

cn_status cn_act_parse(const char *name, cn_act_kind *out, cn_error *err)
{
    if (!name || !out) return cn_error_set(err, CN_ERR_ARG, "activation: NULL argument");
    for (int k = 0; k < CN_ACT_COUNT; k++) {
        if (strcmp(name, act_names[k]) == 0) {
            *out = (cn_act_kind)k;
            return CN_OK;
        }
    }
    return cn_error_set(err, CN_ERR_ARG,
                        "activation: unknown name '%.64s' (valid: sigmoid, tanh, relu, "
                        "leaky_relu, prelu, elu, selu, rrelu, softplus, gelu)",
                        name);
}

cn_status cn_act_params_check(cn_act_kind kind, const cn_act_params *p, cn_error *err)
{
    if ((int)kind < 0 || kind >= CN_ACT_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "activation: invalid kind %d", (int)kind);
    if (!p) return cn_error_set(err, CN_ERR_ARG, "%s: NULL parameters", act_names[kind]);
    const char *nm = act_names[kind];
    switch (kind) {
    case CN_ACT_LEAKY_RELU:
        if (!isfinite(p->slope))
            return cn_error_set(err, CN_ERR_ARG, "%s: slope %g is not finite", nm, p->slope);
        break;
    case CN_ACT_PRELU:
        if (p->prelu_channels != 0 && p->prelu_channels != 1)
            return cn_error_set(err, CN_ERR_ARG, "%s: prelu_channels %d is not 0 or 1", nm,
                                p->prelu_channels);
        break;
    case CN_ACT_ELU:
        if (!isfinite(p->alpha))
            return cn_error_set(err, CN_ERR_ARG, "%s: alpha %g is not finite", nm, p->alpha);
        break;
    case CN_ACT_RRELU:
        if (!isfinite(p->lower) || !isfinite(p->upper))
            return cn_error_set(err, CN_ERR_ARG, "%s: lower %g or upper %g is not finite", nm,
                                p->lower, p->upper);
        if (p->lower > p->upper)
            return cn_error_set(err, CN_ERR_ARG, "%s: lower %g > upper %g", nm, p->lower,
                                p->upper);
        break;
    case CN_ACT_SOFTPLUS:
        if (!isfinite(p->beta) || p->beta <= 0)
            return cn_error_set(err, CN_ERR_ARG, "%s: beta %g is not a positive number", nm,
                                p->beta);
        if (isnan(p->threshold))
            return cn_error_set(err, CN_ERR_ARG, "%s: threshold is NaN", nm);
        break;
    case CN_ACT_GELU:
        if (p->gelu_tanh != 0 && p->gelu_tanh != 1)
            return cn_error_set(err, CN_ERR_ARG, "%s: gelu_tanh %d is not 0 or 1", nm,
                                p->gelu_tanh);
        break;
    default:
        break;
    }
    return CN_OK;
}

size_t cn_act_weight_count(cn_act_kind kind, const cn_act_params *p, int c)
{
    if (kind != CN_ACT_PRELU) return 0;
    return (p && p->prelu_channels) ? (size_t)(c > 0 ? c : 0) : 1;
}

size_t cn_act_noise_count(cn_act_kind kind, size_t count)
{
    return kind == CN_ACT_RRELU ? count : 0;
}

/* ------------------------------------------------------------------ blocked loops */

/* BLOCKED: out[k] = EXPR for k in [lo, hi): whole blocks of BLK through a local
 * buffer (fixed-count loops that vectorise even when out is one of the inputs,
 * the in-place case), then the tail one by one. EXPR reads index k. */
#define BLOCKED(out, lo, hi, EXPR)                                                          \
    do {                                                                                    \
        size_t i_ = (lo);                                                                   \
        for (; i_ + BLK <= (hi); i_ += BLK) {                                               \
            cn_real t_[BLK];                                                                \
            for (size_t j_ = 0; j_ < BLK; j_++) {                                           \
                size_t k = i_ + j_;                                                         \
                t_[j_] = (EXPR);                                                            \
            }                                                                               \
            for (size_t j_ = 0; j_ < BLK; j_++) (out)[i_ + j_] = t_[j_];                    \
        }                                                                                   \
        for (size_t k = i_; k < (hi); k++) (out)[k] = (EXPR);                               \
    } while (0)

/* pick: c ? a : b with both evaluated (unconditional loads let the blocks
 * vectorise into a compare and a blend). */
static inline cn_real pick(int c, cn_real a, cn_real b)
{
    return c ? a : b;
}

/* thread_range: the calling thread's share [lo, hi) of count elements, cut at
 * multiples of BLK; the whole range outside a parallel region. */
static void thread_range(size_t count, size_t *lo, size_t *hi)
{
#ifdef _OPENMP
    size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
#else
    size_t nt = 1, t = 0;
#endif
    size_t blocks = (count + BLK - 1) / BLK, per = blocks / nt, extra = blocks % nt;
    size_t b0 = t * per + (t < extra ? t : extra), b1 = b0 + per + (t < extra ? 1 : 0);
    *lo = b0 * BLK < count ? b0 * BLK : count;
    *hi = b1 * BLK < count ? b1 * BLK : count;
}

/* linear_kind: the kinds whose forward is piecewise linear with one fixed
 * negative slope (relu 0, leaky_relu slope, rrelu in evaluation (lower +
 * upper) / 2); 0 for the others. *s receives the slope. */
static int linear_kind(cn_act_kind kind, const cn_act_params *p, int training, cn_real *s)
{
    switch (kind) {
    case CN_ACT_RELU: *s = 0; return 1;
    case CN_ACT_LEAKY_RELU: *s = (cn_real)p->slope; return 1;
    case CN_ACT_RRELU:
        *s = (cn_real)((p->lower + p->upper) / 2);
        return !training;
    default: return 0;
    }
}

/* linear_forward_range: on [lo, hi), relu as PyTorch's clamp_min (y = x < 0 ?
 * 0 : x: NaN and -0 pass through) when relu, else y = x > 0 ? x : s x. y may be x. */
static void linear_forward_range(int relu, cn_real s, const cn_real *x, cn_real *y,
                                 size_t lo, size_t hi)
{
    // x, y (count)
    if (relu)
        BLOCKED(y, lo, hi, x[k] < 0 ? 0 : x[k]);
    else
        BLOCKED(y, lo, hi, pick(x[k] > 0, x[k], s * x[k]));
}

/* bwd_form: the element-wise backward formulas of the blocked path. */
typedef enum bwd_form { BWD_RELU, BWD_SLOPE, BWD_SIGMOID, BWD_TANH, BWD_NOISE } bwd_form;

/* simple_backward_range: dx on [lo, hi) by form f (s the negative slope of
 * BWD_SLOPE; v the array read besides dy: x, y or noise). dx may be dy. */
static void simple_backward_range(bwd_form f, cn_real s, const cn_real *v, const cn_real *dy,
                                  cn_real *dx, size_t lo, size_t hi)
{
    // v, dy, dx (count)
    switch (f) {
    case BWD_RELU: BLOCKED(dx, lo, hi, pick(v[k] > 0, dy[k], 0)); break;
    case BWD_SLOPE: BLOCKED(dx, lo, hi, pick(v[k] > 0, dy[k], s * dy[k])); break;
    case BWD_SIGMOID: BLOCKED(dx, lo, hi, dy[k] * v[k] * (1 - v[k])); break;
    case BWD_TANH: BLOCKED(dx, lo, hi, dy[k] * (1 - v[k] * v[k])); break;
    case BWD_NOISE: BLOCKED(dx, lo, hi, dy[k] * v[k]); break;
    }
}

/* ------------------------------------------------------------------ forward */

/* prelu_forward: y = x > 0 ? x : a x, a = weight[0] or weight[channel]. */
static void prelu_forward(int per_channel, int n, int c, size_t inner, const cn_real *x,
                          cn_real *y, const cn_real *weight)
{
    // x, y (n, c, inner); weight (c) or (1)
    ptrdiff_t planes = (ptrdiff_t)n * c;
    size_t count = (size_t)planes * inner;
    (void)count;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
#endif
    for (ptrdiff_t pl = 0; pl < planes; pl++) {
        cn_real a = weight[per_channel ? pl % c : 0];
        size_t off = (size_t)pl * inner;
        linear_forward_range(0, a, x + off, y + off, 0, inner);
    }
}

/* rrelu_train_forward: PyTorch's rrelu_with_noise in training: for x <= 0 draw
 * r ~ U[lower, upper), y = r x, noise = r; otherwise noise = 1, y = x. With
 * rng NULL the slopes in noise are reused: y = noise * x. Serial (the draws are). */
static void rrelu_train_forward(const cn_act_params *p, size_t count, const cn_real *x,
                                cn_real *y, cn_real *noise, cn_rng *rng)
{
    // x, y, noise (count)
    if (!rng) {
        for (size_t i = 0; i < count; i++) y[i] = x[i] * noise[i];
        return;
    }
    double span = p->upper - p->lower;
    for (size_t i = 0; i < count; i++) {
        if (x[i] <= 0) {
            cn_real r = (cn_real)(p->lower + span * cn_rng_uniform(rng));
            noise[i] = r;
            y[i] = x[i] * r;
        } else {
            noise[i] = 1;
            y[i] = x[i];
        }
    }
}

void cn_act_forward(cn_act_kind kind, const cn_act_params *p, int n, int c, size_t inner,
                    const cn_real *x, cn_real *y, const cn_real *weight, cn_real *noise,
                    int training, cn_rng *rng)
{
    CN_ASSERT(p && x && y && n >= 0 && c >= 0);
    CN_ASSERT(cn_act_params_check(kind, p, NULL) == CN_OK);
    size_t count = (size_t)n * (size_t)c * inner;
    ptrdiff_t cnt = (ptrdiff_t)count;
    cn_real slope;
    if (linear_kind(kind, p, training, &slope)) {
        const int relu = kind == CN_ACT_RELU;
#ifdef _OPENMP
#pragma omp parallel if (count >= PAR_MIN_LINEAR)
#endif
        {
            size_t lo, hi;
            thread_range(count, &lo, &hi);
            linear_forward_range(relu, slope, x, y, lo, hi);
        }
        return;
    }
    switch (kind) {
    case CN_ACT_SIGMOID:
        PAR_FOR
        for (ptrdiff_t i = 0; i < cnt; i++) y[i] = (cn_real)(1.0 / (1.0 + exp(-(double)x[i])));
        break;
    case CN_ACT_TANH:
        PAR_FOR
        for (ptrdiff_t i = 0; i < cnt; i++) y[i] = (cn_real)tanh((double)x[i]);
        break;
    case CN_ACT_PRELU:
        CN_ASSERT(weight != NULL);
        prelu_forward(p->prelu_channels, n, c, inner, x, y, weight);
        break;
    case CN_ACT_ELU:
    case CN_ACT_SELU: {
        double a = kind == CN_ACT_ELU ? p->alpha : CN_SELU_ALPHA;
        double sc = kind == CN_ACT_ELU ? 1.0 : CN_SELU_SCALE;
        PAR_FOR
        for (ptrdiff_t i = 0; i < cnt; i++) {
            double v = x[i];
            y[i] = (cn_real)(sc * (v > 0 ? v : a * expm1(v)));
        }
        break;
    }
    case CN_ACT_RRELU: /* training (evaluation is linear_kind's) */
        CN_ASSERT(noise != NULL);
        rrelu_train_forward(p, count, x, y, noise, rng);
        break;
    case CN_ACT_SOFTPLUS: {
        double b = p->beta, t = p->threshold;
        PAR_FOR
        for (ptrdiff_t i = 0; i < cnt; i++) {
            double bx = b * (double)x[i];
            y[i] = bx > t ? x[i] : (cn_real)(log1p(exp(bx)) / b);
        }
        break;
    }
    case CN_ACT_GELU:
        if (p->gelu_tanh) {
            PAR_FOR
            for (ptrdiff_t i = 0; i < cnt; i++) {
                double v = x[i];
                double in = SQRT_2_PI * (v + GELU_KAPPA * v * v * v);
                y[i] = (cn_real)(0.5 * v * (1.0 + tanh(in)));
            }
        } else {
            PAR_FOR
            for (ptrdiff_t i = 0; i < cnt; i++) {
                double v = x[i];
                y[i] = (cn_real)(0.5 * v * (1.0 + erf(v * SQRT1_2)));
            }
        }
        break;
    default:
        CN_ASSERT(!"invalid activation kind");
    }
}

/* ------------------------------------------------------------------ backward */

/* prelu_backward: dx = x > 0 ? dy : a dy; dweight += sum over x <= 0 of x dy,
 * per channel (each channel's sum over n then inner, in double) or over all. */
static void prelu_backward(int per_channel, int n, int c, size_t inner, const cn_real *x,
                           const cn_real *dy, cn_real *dx, const cn_real *weight,
                           cn_real *dweight)
{
    // x, dy, dx (n, c, inner); weight, dweight (c) or (1)
    size_t count = (size_t)n * (size_t)c * inner;
    (void)count;
    if (dweight) {
        if (per_channel) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
#endif
            for (int ch = 0; ch < c; ch++) {
                double s = 0;
                for (int b = 0; b < n; b++) {
                    size_t off = ((size_t)b * c + (size_t)ch) * inner;
                    for (size_t i = 0; i < inner; i++)
                        if (!(x[off + i] > 0)) s += (double)x[off + i] * (double)dy[off + i];
                }
                dweight[ch] = (cn_real)((double)dweight[ch] + s);
            }
        } else {
            double s = 0;
            for (size_t i = 0; i < count; i++)
                if (!(x[i] > 0)) s += (double)x[i] * (double)dy[i];
            dweight[0] = (cn_real)((double)dweight[0] + s);
        }
    }
    ptrdiff_t planes = (ptrdiff_t)n * c;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
#endif
    for (ptrdiff_t pl = 0; pl < planes; pl++) {
        cn_real a = weight[per_channel ? pl % c : 0];
        size_t off = (size_t)pl * inner;
        simple_backward_range(BWD_SLOPE, a, x + off, dy + off, dx + off, 0, inner);
    }
}

void cn_act_backward(cn_act_kind kind, const cn_act_params *p, int n, int c, size_t inner,
                     const cn_real *x, const cn_real *y, const cn_real *dy, cn_real *dx,
                     const cn_real *weight, cn_real *dweight, const cn_real *noise,
                     int training)
{
    CN_ASSERT(p && dy && dx && n >= 0 && c >= 0);
    CN_ASSERT(cn_act_params_check(kind, p, NULL) == CN_OK);
    CN_ASSERT((kind == CN_ACT_SIGMOID || kind == CN_ACT_TANH) ? y != NULL : x != NULL);
    size_t count = (size_t)n * (size_t)c * inner;
    ptrdiff_t cnt = (ptrdiff_t)count;
    bwd_form form = BWD_RELU;
    cn_real slope = 0;
    const cn_real *v = NULL; /* the array the simple formula reads besides dy */
    switch (kind) {
    case CN_ACT_SIGMOID: form = BWD_SIGMOID, v = y; break;
    case CN_ACT_TANH: form = BWD_TANH, v = y; break;
    case CN_ACT_RELU: form = BWD_RELU, v = y ? y : x; break; /* y > 0 exactly when x > 0 */
    case CN_ACT_LEAKY_RELU: form = BWD_SLOPE, v = x, slope = (cn_real)p->slope; break;
    case CN_ACT_RRELU:
        if (training) {
            CN_ASSERT(noise != NULL);
            form = BWD_NOISE, v = noise;
        } else {
            form = BWD_SLOPE, v = x, slope = (cn_real)((p->lower + p->upper) / 2);
        }
        break;
    default: break;
    }
    if (v) {
#ifdef _OPENMP
#pragma omp parallel if (count >= PAR_MIN_LINEAR)
#endif
        {
            size_t lo, hi;
            thread_range(count, &lo, &hi);
            simple_backward_range(form, slope, v, dy, dx, lo, hi);
        }
        return;
    }
    switch (kind) {
    case CN_ACT_PRELU:
        CN_ASSERT(weight != NULL);
        prelu_backward(p->prelu_channels, n, c, inner, x, dy, dx, weight, dweight);
        break;
    case CN_ACT_ELU:
    case CN_ACT_SELU: {
        double a = kind == CN_ACT_ELU ? p->alpha : CN_SELU_ALPHA;
        double sc = kind == CN_ACT_ELU ? 1.0 : CN_SELU_SCALE;
        PAR_FOR
        for (ptrdiff_t i = 0; i < cnt; i++) {
            double v = x[i];
            dx[i] = (cn_real)((double)dy[i] * sc * (v > 0 ? 1.0 : a * exp(v)));
        }
        break;
    }
    case CN_ACT_SOFTPLUS: {
        double b = p->beta, t = p->threshold;
        PAR_FOR
        for (ptrdiff_t i = 0; i < cnt; i++) {
            double bx = b * (double)x[i];
            /* d/dx log1p(e^(bx)) / b = e^(bx) / (1 + e^(bx)) = sigmoid(bx) */
            dx[i] = bx > t ? dy[i] : (cn_real)((double)dy[i] / (1.0 + exp(-bx)));
        }
        break;
    }
    case CN_ACT_GELU:
        if (p->gelu_tanh) {
            PAR_FOR
            for (ptrdiff_t i = 0; i < cnt; i++) {
                double v = x[i];
                double th = tanh(SQRT_2_PI * (v + GELU_KAPPA * v * v * v));
                double d = 0.5 * (1.0 + th) + 0.5 * v * (1.0 - th * th) * SQRT_2_PI *
                                                  (1.0 + 3.0 * GELU_KAPPA * v * v);
                dx[i] = (cn_real)((double)dy[i] * d);
            }
        } else {
            PAR_FOR
            for (ptrdiff_t i = 0; i < cnt; i++) {
                double v = x[i];
                double d = 0.5 * (1.0 + erf(v * SQRT1_2)) + v * INV_SQRT_2PI * exp(-0.5 * v * v);
                dx[i] = (cn_real)((double)dy[i] * d);
            }
        }
        break;
    default:
        CN_ASSERT(!"invalid activation kind");
    }
}

/* ------------------------------------------------------------------ maxout */

void cn_maxout_forward(int n, int c, int k, size_t inner, const cn_real *x, cn_real *y,
                       int32_t *arg)
{
    // x (n, k*c, inner); y, arg (n, c, inner)
    CN_ASSERT(x && y && arg && n >= 0 && c >= 0 && k >= 1);
    ptrdiff_t planes = (ptrdiff_t)n * c;
    size_t count = (size_t)planes * inner * (size_t)k;
    (void)count;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
#endif
    for (ptrdiff_t pl = 0; pl < planes; pl++) {
        /* output plane pl = (b, j) reads input planes (b, j*k + q) = pl*k + q */
        const cn_real *xp = x + (size_t)pl * (size_t)k * inner;
        cn_real *yp = y + (size_t)pl * inner;
        int32_t *ap = arg + (size_t)pl * inner;
        for (size_t i = 0; i < inner; i++) {
            cn_real best = xp[i];
            int32_t bq = 0;
            for (int q = 1; q < k && !isnan(best); q++) {
                cn_real v = xp[(size_t)q * inner + i];
                if (v > best || isnan(v)) {
                    best = v;
                    bq = q;
                }
            }
            yp[i] = best;
            ap[i] = bq;
        }
    }
}

void cn_maxout_backward(int n, int c, int k, size_t inner, const cn_real *dy,
                        const int32_t *arg, cn_real *dx)
{
    // dy, arg (n, c, inner); dx (n, k*c, inner)
    CN_ASSERT(dy && arg && dx && n >= 0 && c >= 0 && k >= 1);
    ptrdiff_t planes = (ptrdiff_t)n * c;
    size_t count = (size_t)planes * inner * (size_t)k;
    (void)count;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
#endif
    for (ptrdiff_t pl = 0; pl < planes; pl++) {
        cn_real *dxp = dx + (size_t)pl * (size_t)k * inner;
        const cn_real *dyp = dy + (size_t)pl * inner;
        const int32_t *ap = arg + (size_t)pl * inner;
        memset(dxp, 0, (size_t)k * inner * sizeof *dxp);
        for (size_t i = 0; i < inner; i++) {
            CN_ASSERT(ap[i] >= 0 && ap[i] < k);
            dxp[(size_t)ap[i] * inner + i] = dyp[i];
        }
    }
}
