/* activation.c: the activation ops of the graph over the pure kernels of
 * activation_kernels.h: the element-wise activations (sigmoid, tanh, relu,
 * leaky_relu, prelu, elu, selu, rrelu, softplus, gelu) on any per-sample shape
 * with the channels on axis 0, maxout over groups of consecutive channels, and
 * softmax / log-softmax along one per-sample axis. docs/ops.md lists
 * shapes, attributes and tests. */
#include "op.h"

#include <stdint.h>

/* ------------------------------------------------------------------ element-wise */

/* act_flops: rough forward FLOPs per element: 1 for the piecewise-linear kinds,
 * a small count for those evaluating a transcendental (exp, tanh, erf ~ 4). */
static double act_flops(cn_act_kind kind)
{
    switch (kind) {
    case CN_ACT_RELU: case CN_ACT_LEAKY_RELU: case CN_ACT_PRELU: case CN_ACT_RRELU:
        return 1.0;
    case CN_ACT_SIGMOID: case CN_ACT_TANH: case CN_ACT_ELU: case CN_ACT_SOFTPLUS:
        return 4.0;
    case CN_ACT_SELU: return 5.0;
    case CN_ACT_GELU: return 8.0;
    default: return 1.0;
    }
}

/* act_layout: the (channels, inner) view of per-sample shape s: channels on
 * axis 0 (1 for a scalar), inner the product of the other dims. */
static void act_layout(const cn_shape *s, int *ch, size_t *inner)
{
    size_t numel = cn_shape_numel(s);
    *ch = s->ndim >= 1 ? s->d[0] : 1;
    *inner = *ch > 0 ? numel / (size_t)*ch : 0;
}

/* act_infer: y has x's shape. prelu declares its slopes a ((1) or (c), PyTorch's
 * 0.25) and scratch for dL/dx when its input needs none; rrelu keeps its slopes
 * (batch, shape) from forward to backward. */
static cn_status act_infer(cn_act_kind kind, cn_infer *inf, cn_error *err)
{
    const cn_attrs *a = inf->a;
    const char *on = cn_act_name(kind);
    cn_status st = cn_act_params_check(kind, &a->act, err);
    if (st != CN_OK) return cn_error_prefix(err, "node '%s' (%s): ", inf->node, on);
    const cn_shape *s = inf->in[0];
    size_t numel = cn_shape_numel(s);
    size_t all = cn_mul_size(numel, (size_t)inf->batch);
    if (kind == CN_ACT_PRELU) {
        if (s->ndim < 1) {
            char b[96];
            return cn_error_set(err, CN_ERR_SHAPE,
                                "node '%s' (%s): input shape %s has no channel axis",
                                inf->node, on, cn_shape_str(s, b, sizeof b));
        }
        int cnt = a->act.prelu_channels ? s->d[0] : 1;
        cn_init init = cn_init_of(CN_INIT_CONSTANT);
        init.value = 0.25;
        cn_infer_param(inf, "weight", CN_PARAM_NORM, 1, &cnt, init);
        inf->ws_reals = all; /* dx (batch, shape) when the input needs no gradient */
    }
    if (kind == CN_ACT_RRELU)
        inf->saved_bytes = cn_mul_size(cn_act_noise_count(kind, all), sizeof(cn_real));
    inf->out = *s;
    inf->flops = act_flops(kind) * (double)numel;
    return CN_OK;
}

/* act_forward: y = f(x); rrelu draws its slopes from c->rng into the saved area
 * in training (rng NULL: replays them). */
static cn_status act_forward(cn_act_kind kind, cn_op_ctx *c, cn_error *err)
{
    (void)err;
    int ch;
    size_t inner;
    act_layout(c->in[0], &ch, &inner);
    const cn_real *x = c->x[0];                                  // x (n, ch, inner)
    cn_real *y = c->y;                                           // y (n, ch, inner)
    const cn_real *w = kind == CN_ACT_PRELU ? c->param[0] : NULL; // w (ch) or (1)
    cn_real *noise = kind == CN_ACT_RRELU ? (cn_real *)c->saved : NULL; // (n, ch, inner)
    cn_act_forward(kind, &c->a->act, c->n, ch, inner, x, y, w, noise, c->training, c->rng);
    return CN_OK;
}

/* act_backward: dx = f'(x) dy; prelu accumulates dL/da. */
static void act_backward(cn_act_kind kind, cn_op_ctx *c)
{
    int ch;
    size_t inner;
    act_layout(c->in[0], &ch, &inner);
    cn_real *dw = kind == CN_ACT_PRELU ? c->grad[0] : NULL; // (ch) or (1), or NULL
    cn_real *dx = c->dx[0];                                 // dx (n, ch, inner)
    if (!dx) {
        if (!dw) return;
        dx = c->ws; /* prelu's slopes need a gradient but its input does not */
    }
    const cn_real *w = kind == CN_ACT_PRELU ? c->param[0] : NULL;
    const cn_real *noise =
        kind == CN_ACT_RRELU && c->training ? (const cn_real *)c->saved : NULL;
    cn_act_backward(kind, &c->a->act, c->n, ch, inner, c->x[0], c->y, c->dy, dx, w, dw, noise,
                    c->training);
}

/* ACT_OP: the three entry points and the vtable of one element-wise kind. */
#define ACT_OP(nm, KIND, OPKIND)                                                              \
    static cn_status nm##_infer(cn_infer *inf, cn_error *err)                                 \
    {                                                                                         \
        return act_infer(KIND, inf, err);                                                     \
    }                                                                                         \
    static cn_status nm##_forward(cn_op_ctx *c, cn_error *err)                                \
    {                                                                                         \
        return act_forward(KIND, c, err);                                                     \
    }                                                                                         \
    static void nm##_backward(cn_op_ctx *c) { act_backward(KIND, c); }                        \
    const cn_op_vtable cn_op_vt_##nm = {OPKIND, #nm, 1, 1, 0,                                 \
                                        nm##_infer, nm##_forward, nm##_backward};

ACT_OP(sigmoid, CN_ACT_SIGMOID, CN_OP_SIGMOID)
ACT_OP(tanh, CN_ACT_TANH, CN_OP_TANH)
ACT_OP(relu, CN_ACT_RELU, CN_OP_RELU)
ACT_OP(leaky_relu, CN_ACT_LEAKY_RELU, CN_OP_LEAKY_RELU)
ACT_OP(prelu, CN_ACT_PRELU, CN_OP_PRELU)
ACT_OP(elu, CN_ACT_ELU, CN_OP_ELU)
ACT_OP(selu, CN_ACT_SELU, CN_OP_SELU)
ACT_OP(rrelu, CN_ACT_RRELU, CN_OP_RRELU)
ACT_OP(softplus, CN_ACT_SOFTPLUS, CN_OP_SOFTPLUS)
ACT_OP(gelu, CN_ACT_GELU, CN_OP_GELU)

/* ------------------------------------------------------------------ maxout */

/* maxout_infer: (c, ...) -> (c / k, ...) with k = pieces; the winning piece of
 * every output is saved (int32, batch outputs) for backward. */
static cn_status maxout_infer(cn_infer *inf, cn_error *err)
{
    const cn_attrs *a = inf->a;
    const cn_shape *s = inf->in[0];
    char b[96];
    if (a->pieces < 1)
        return cn_error_set(err, CN_ERR_ARG, "node '%s' (maxout): pieces %d must be >= 1",
                            inf->node, a->pieces);
    if (s->ndim < 1 || s->d[0] % a->pieces != 0)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "node '%s' (maxout): input shape %s: channels not divisible by "
                            "pieces %d",
                            inf->node, cn_shape_str(s, b, sizeof b), a->pieces);
    inf->out = *s;
    inf->out.d[0] = s->d[0] / a->pieces;
    size_t numel = cn_shape_numel(&inf->out);
    inf->saved_bytes = cn_mul_size(cn_mul_size(numel, (size_t)inf->batch), sizeof(int32_t));
    inf->flops = (double)(a->pieces - 1) * (double)numel;
    return CN_OK;
}

static cn_status maxout_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    int k = c->a->pieces;
    int ch = c->out->d[0];
    size_t inner = cn_ctx_inner(c, 0);
    // x (n, ch * k, inner), y (n, ch, inner), arg (n, ch, inner)
    cn_maxout_forward(c->n, ch, k, inner, c->x[0], c->y, (int32_t *)c->saved);
    return CN_OK;
}

static void maxout_backward(cn_op_ctx *c)
{
    if (!c->dx[0]) return;
    int ch = c->out->d[0];
    size_t inner = cn_ctx_inner(c, 0);
    cn_maxout_backward(c->n, ch, c->a->pieces, inner, c->dy, (const int32_t *)c->saved,
                       c->dx[0]);
}

const cn_op_vtable cn_op_vt_maxout = {CN_OP_MAXOUT, "maxout", 1, 1, 0,
                                      maxout_infer, maxout_forward, maxout_backward};

/* ------------------------------------------------------------------ softmax */

/* sm_view: the (outer, dim, inner) view of a batch of n samples of shape s along
 * per-sample axis: outer = n * d0 * ... * d(axis-1). */
static void sm_view(const cn_shape *s, int axis, int n, int *outer, int *dim, size_t *inner)
{
    size_t pre = (size_t)n, post = 1;
    for (int i = 0; i < axis; i++) pre *= (size_t)s->d[i];
    for (int i = axis + 1; i < s->ndim; i++) post *= (size_t)s->d[i];
    *outer = (int)pre;
    *dim = s->d[axis];
    *inner = post;
}

/* sm_infer: shared by softmax and log_softmax: axis in [0, rank); y has x's
 * shape; the outer count for the compiled batch must fit int. */
static cn_status sm_infer(cn_infer *inf, const char *on, cn_error *err)
{
    const cn_shape *s = inf->in[0];
    int axis = inf->a->axis;
    char b[96];
    if (axis < 0 || axis >= s->ndim)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "node '%s' (%s): axis %d outside [0, %d) of input shape %s",
                            inf->node, on, axis, s->ndim, cn_shape_str(s, b, sizeof b));
    size_t pre = (size_t)inf->batch;
    for (int i = 0; i < axis; i++) pre = cn_mul_size(pre, (size_t)s->d[i]);
    if (pre > (size_t)INT32_MAX)
        return cn_error_set(err, CN_ERR_RANGE,
                            "node '%s' (%s): batch %d times the dims before axis %d of %s "
                            "is too large",
                            inf->node, on, inf->batch, axis, cn_shape_str(s, b, sizeof b));
    inf->out = *s;
    /* max, subtract, exp, sum, scale (or log and subtract) per element */
    inf->flops = 5.0 * (double)cn_shape_numel(s);
    return CN_OK;
}

static cn_status softmax_infer(cn_infer *inf, cn_error *err)
{
    return sm_infer(inf, "softmax", err);
}

static cn_status log_softmax_infer(cn_infer *inf, cn_error *err)
{
    return sm_infer(inf, "log_softmax", err);
}

static cn_status softmax_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    int outer, dim;
    size_t inner;
    sm_view(c->in[0], c->a->axis, c->n, &outer, &dim, &inner);
    cn_softmax_forward(outer, dim, inner, c->x[0], c->y); // x, y (outer, dim, inner)
    return CN_OK;
}

static void softmax_backward(cn_op_ctx *c)
{
    if (!c->dx[0]) return;
    int outer, dim;
    size_t inner;
    sm_view(c->in[0], c->a->axis, c->n, &outer, &dim, &inner);
    cn_softmax_backward(outer, dim, inner, c->y, c->dy, c->dx[0]);
}

static cn_status log_softmax_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    int outer, dim;
    size_t inner;
    sm_view(c->in[0], c->a->axis, c->n, &outer, &dim, &inner);
    cn_log_softmax_forward(outer, dim, inner, c->x[0], c->y); // x, y (outer, dim, inner)
    return CN_OK;
}

static void log_softmax_backward(cn_op_ctx *c)
{
    if (!c->dx[0]) return;
    int outer, dim;
    size_t inner;
    sm_view(c->in[0], c->a->axis, c->n, &outer, &dim, &inner);
    cn_log_softmax_backward(outer, dim, inner, c->y, c->dy, c->dx[0]);
}

const cn_op_vtable cn_op_vt_softmax = {CN_OP_SOFTMAX, "softmax", 1, 1, 0,
                                       softmax_infer, softmax_forward, softmax_backward};
const cn_op_vtable cn_op_vt_log_softmax = {CN_OP_LOG_SOFTMAX, "log_softmax", 1, 1, 0,
                                           log_softmax_infer, log_softmax_forward,
                                           log_softmax_backward};
