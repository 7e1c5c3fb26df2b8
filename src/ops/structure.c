/* structure.c: the structural ops of the graph: element-wise add (residual
 * connections, 2+ inputs) and mul, channel_scale (squeeze-and-excitation's
 * per-channel scaling), concat along a per-sample axis and slice (one part of a
 * split), flatten, reshape, constant padding of the last two dims, and
 * identity. Pure data movement or one multiply per element, written as direct
 * loops (padding through the cn_pad2d kernels). docs/ops.md lists shapes, attributes and tests. */
#include "op.h"
#include "convnet/resample.h"

#include <float.h>
#include <math.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef CN_DOUBLE
#define REAL_MAX DBL_MAX
#else
#define REAL_MAX FLT_MAX
#endif

/* ------------------------------------------------------------------ helpers */

/* same_shape: CN_ERR_SHAPE unless every input has input 0's shape. */
static cn_status same_shape(const cn_infer *inf, const char *on, cn_error *err)
{
    for (int j = 1; j < inf->n_in; j++) {
        if (!cn_shape_eq(inf->in[0], inf->in[j])) {
            char a[96], b[96];
            return cn_error_set(err, CN_ERR_SHAPE,
                                "node '%s' (%s): input %d has shape %s but input 0 has %s",
                                inf->node, on, j, cn_shape_str(inf->in[j], a, sizeof a),
                                cn_shape_str(inf->in[0], b, sizeof b));
        }
    }
    return CN_OK;
}

/* check_axis: CN_ERR_SHAPE unless 0 <= axis < rank of input 0. */
static cn_status check_axis(const cn_infer *inf, const char *on, cn_error *err)
{
    int axis = inf->a->axis, r = inf->in[0]->ndim;
    if (axis < 0 || axis >= r) {
        char b[96];
        return cn_error_set(err, CN_ERR_SHAPE,
                            "node '%s' (%s): axis %d outside [0, %d) of input shape %s",
                            inf->node, on, axis, r, cn_shape_str(inf->in[0], b, sizeof b));
    }
    return CN_OK;
}

/* axis_view: for a batch of n samples of shape s split at axis: pre = n times
 * the dims before axis, post = the product of the dims after it. */
static void axis_view(const cn_shape *s, int axis, int n, size_t *pre, size_t *post)
{
    *pre = (size_t)n;
    *post = 1;
    for (int i = 0; i < axis; i++) *pre *= (size_t)s->d[i];
    for (int i = axis + 1; i < s->ndim; i++) *post *= (size_t)s->d[i];
}

/* batch_count: reals in a batch of c->n outputs. */
static size_t batch_count(const cn_op_ctx *c) { return (size_t)c->n * cn_shape_numel(c->out); }

/* copy_infer: identity's: y has x's shape. */
static cn_status copy_infer(cn_infer *inf, cn_error *err)
{
    (void)err;
    inf->out = *inf->in[0];
    inf->flops = 0;
    return CN_OK;
}

/* copy_forward / copy_backward: y = x and dx = dy, element for element (identity,
 * flatten and reshape: the layout is the same contiguous row-major order). */
static cn_status copy_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    memcpy(c->y, c->x[0], sizeof(cn_real) * batch_count(c));
    return CN_OK;
}

static void copy_backward(cn_op_ctx *c)
{
    if (c->dx[0]) memcpy(c->dx[0], c->dy, sizeof(cn_real) * batch_count(c));
}

/* ------------------------------------------------------------------ add, mul */

/* add_infer: 2+ inputs of one shape -> that shape. */
static cn_status add_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = same_shape(inf, "add", err);
    if (st != CN_OK) return st;
    inf->out = *inf->in[0];
    inf->flops = (double)(inf->n_in - 1) * (double)cn_shape_numel(inf->in[0]);
    return CN_OK;
}

/* ADD_BLK: elements per block of add's loop (fixed-count inner loops vectorise);
 * ADD_PAR_MIN: below this many elements add runs on one thread (it streams
 * memory: a team costs more than it saves on small tensors). */
#define ADD_BLK 16
#define ADD_PAR_MIN ((size_t)1 << 17)

/* add_range: y[k] = ((x0[k] + x1[k]) + x2[k]) + ... for k in [lo, hi), in one
 * pass, blocks through a local buffer (y may be one of the inputs). */
static void add_range(const cn_real *const *x, int n_in, cn_real *y, size_t lo, size_t hi)
{
    // x[j] (count) each, y (count)
    const cn_real *x0 = x[0], *x1 = x[1];
    size_t i = lo;
    for (; i + ADD_BLK <= hi; i += ADD_BLK) {
        cn_real t[ADD_BLK];
        for (size_t l = 0; l < ADD_BLK; l++) t[l] = x0[i + l] + x1[i + l];
        for (int j = 2; j < n_in; j++) {
            const cn_real *xj = x[j];
            for (size_t l = 0; l < ADD_BLK; l++) t[l] += xj[i + l];
        }
        for (size_t l = 0; l < ADD_BLK; l++) y[i + l] = t[l];
    }
    for (; i < hi; i++) {
        cn_real v = x0[i] + x1[i];
        for (int j = 2; j < n_in; j++) v += x[j][i];
        y[i] = v;
    }
}

/* add_forward: y = x0 + x1 + ... (the same node may appear more than once);
 * OpenMP threads take contiguous ranges (each element's sum is the same). */
static cn_status add_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    const size_t cnt = batch_count(c);
#ifdef _OPENMP
#pragma omp parallel if (cnt >= ADD_PAR_MIN)
    {
        size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
        size_t blocks = (cnt + ADD_BLK - 1) / ADD_BLK;
        size_t b0 = blocks * t / nt, b1 = blocks * (t + 1) / nt;
        size_t lo = b0 * ADD_BLK, hi = b1 * ADD_BLK < cnt ? b1 * ADD_BLK : cnt;
        if (lo < hi) add_range(c->x, c->n_in, c->y, lo, hi);
    }
#else
    add_range(c->x, c->n_in, c->y, 0, cnt);
#endif
    return CN_OK;
}

/* add_backward: dL/dx_j = dy for every input (the graph sums an input that
 * appears twice). */
static void add_backward(cn_op_ctx *c)
{
    size_t cnt = batch_count(c);
    for (int j = 0; j < c->n_in; j++)
        if (c->dx[j]) memcpy(c->dx[j], c->dy, sizeof(cn_real) * cnt);
}

/* mul_infer: 2 inputs of one shape -> that shape. */
static cn_status mul_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = same_shape(inf, "mul", err);
    if (st != CN_OK) return st;
    inf->out = *inf->in[0];
    inf->flops = (double)cn_shape_numel(inf->in[0]);
    return CN_OK;
}

static cn_status mul_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    size_t cnt = batch_count(c);
    const cn_real *a = c->x[0], *b = c->x[1]; // (n, shape) each
    cn_real *y = c->y;                        // (n, shape)
    for (size_t k = 0; k < cnt; k++) y[k] = a[k] * b[k];
    return CN_OK;
}

/* mul_backward: dL/da = dy b, dL/db = dy a. */
static void mul_backward(cn_op_ctx *c)
{
    size_t cnt = batch_count(c);
    const cn_real *dy = c->dy;
    for (int j = 0; j < 2; j++) {
        cn_real *dx = c->dx[j];
        if (!dx) continue;
        const cn_real *other = c->x[1 - j];
        for (size_t k = 0; k < cnt; k++) dx[k] = dy[k] * other[k];
    }
}

/* ------------------------------------------------------------------ channel_scale */

/* cs_infer: x (c, ...) and s (c) or (c, 1, ..., 1) -> x's shape. */
static cn_status cs_infer(cn_infer *inf, cn_error *err)
{
    const cn_shape *x = inf->in[0], *s = inf->in[1];
    char a[96], b[96];
    if (x->ndim < 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "node '%s' (channel_scale): input shape %s has no channel axis",
                            inf->node, cn_shape_str(x, a, sizeof a));
    int ok = s->ndim >= 1 && s->d[0] == x->d[0];
    for (int i = 1; i < s->ndim && ok; i++) ok = s->d[i] == 1;
    if (!ok)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "node '%s' (channel_scale): scale shape %s does not fit input "
                            "shape %s: expected (%d) or (%d, 1, 1)",
                            inf->node, cn_shape_str(s, a, sizeof a),
                            cn_shape_str(x, b, sizeof b), x->d[0], x->d[0]);
    inf->out = *x;
    inf->flops = (double)cn_shape_numel(x);
    return CN_OK;
}

/* cs_forward: y[i, k, :] = x[i, k, :] * s[i, k]. */
static cn_status cs_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    int ch = c->in[0]->d[0];
    size_t inner = cn_ctx_inner(c, 0);
    const cn_real *x = c->x[0]; // (n, ch, inner)
    const cn_real *s = c->x[1]; // (n, ch)
    cn_real *y = c->y;          // (n, ch, inner)
    size_t planes = (size_t)c->n * (size_t)ch;
    for (size_t p = 0; p < planes; p++) {
        cn_real sv = s[p];
        const cn_real *xp = x + p * inner;
        cn_real *yp = y + p * inner;
        for (size_t q = 0; q < inner; q++) yp[q] = xp[q] * sv;
    }
    return CN_OK;
}

/* cs_backward: dL/dx[i, k, :] = dy s[i, k]; dL/ds[i, k] = sum_q dy x (in double). */
static void cs_backward(cn_op_ctx *c)
{
    int ch = c->in[0]->d[0];
    size_t inner = cn_ctx_inner(c, 0);
    size_t planes = (size_t)c->n * (size_t)ch;
    const cn_real *x = c->x[0], *s = c->x[1], *dy = c->dy;
    cn_real *dx = c->dx[0], *ds = c->dx[1]; // dx (n, ch, inner), ds (n, ch)
    for (size_t p = 0; p < planes; p++) {
        const cn_real *dyp = dy + p * inner;
        if (dx) {
            cn_real sv = s[p];
            cn_real *dxp = dx + p * inner;
            for (size_t q = 0; q < inner; q++) dxp[q] = dyp[q] * sv;
        }
        if (ds) {
            const cn_real *xp = x + p * inner;
            double acc = 0.0;
            for (size_t q = 0; q < inner; q++) acc += (double)dyp[q] * (double)xp[q];
            ds[p] = (cn_real)acc;
        }
    }
}

/* ------------------------------------------------------------------ concat, slice */

/* concat_infer: inputs of one rank, equal except along axis -> their sizes along
 * axis summed. */
static cn_status concat_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = check_axis(inf, "concat", err);
    if (st != CN_OK) return st;
    int axis = inf->a->axis;
    const cn_shape *s0 = inf->in[0];
    size_t total = 0;
    for (int j = 0; j < inf->n_in; j++) {
        const cn_shape *s = inf->in[j];
        int ok = s->ndim == s0->ndim;
        for (int i = 0; i < s0->ndim && ok; i++) ok = i == axis || s->d[i] == s0->d[i];
        if (!ok) {
            char a[96], b[96];
            return cn_error_set(err, CN_ERR_SHAPE,
                                "node '%s' (concat): input %d has shape %s but input 0 has "
                                "%s (only dim %d, the axis, may differ)",
                                inf->node, j, cn_shape_str(s, a, sizeof a),
                                cn_shape_str(s0, b, sizeof b), axis);
        }
        total += (size_t)s->d[axis];
    }
    if (total > (size_t)INT32_MAX)
        return cn_error_set(err, CN_ERR_RANGE, "node '%s' (concat): %zu along axis %d is too many",
                            inf->node, total, axis);
    inf->out = *s0;
    inf->out.d[axis] = (int)total;
    inf->flops = 0;
    return CN_OK;
}

/* concat_move: forward (to_y 1) copies each input's block into y; backward
 * (to_y 0) copies y's (dy's) blocks back into each non-NULL dx[j].
 *   y (pre, total, post), input j (pre, d_j, post) */
static void concat_move(cn_op_ctx *c, cn_real *y, const cn_real *dy, int to_y)
{
    int axis = c->a->axis;
    size_t pre, post;
    axis_view(c->out, axis, c->n, &pre, &post);
    size_t row = (size_t)c->out->d[axis] * post;
    size_t off = 0;
    for (int j = 0; j < c->n_in; j++) {
        size_t blk = (size_t)c->in[j]->d[axis] * post;
        if (to_y) {
            const cn_real *x = c->x[j];
            for (size_t o = 0; o < pre; o++)
                memcpy(y + o * row + off, x + o * blk, sizeof(cn_real) * blk);
        } else if (c->dx[j]) {
            cn_real *dx = c->dx[j];
            for (size_t o = 0; o < pre; o++)
                memcpy(dx + o * blk, dy + o * row + off, sizeof(cn_real) * blk);
        }
        off += blk;
    }
}

static cn_status concat_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    concat_move(c, c->y, NULL, 1);
    return CN_OK;
}

static void concat_backward(cn_op_ctx *c) { concat_move(c, NULL, c->dy, 0); }

/* slice_infer: x with d[axis] = D -> count along axis, from start; needs
 * 0 <= start, 1 <= count, start + count <= D. */
static cn_status slice_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = check_axis(inf, "slice", err);
    if (st != CN_OK) return st;
    const cn_attrs *a = inf->a;
    const cn_shape *s = inf->in[0];
    int dim = s->d[a->axis];
    if (a->start < 0 || a->count < 1 || a->start > dim - a->count) {
        char b[96];
        return cn_error_set(err, CN_ERR_SHAPE,
                            "node '%s' (slice): start %d, count %d do not fit the %d entries of "
                            "axis %d of input shape %s",
                            inf->node, a->start, a->count, dim, a->axis,
                            cn_shape_str(s, b, sizeof b));
    }
    inf->out = *s;
    inf->out.d[a->axis] = a->count;
    inf->flops = 0;
    return CN_OK;
}

static cn_status slice_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    const cn_attrs *a = c->a;
    size_t pre, post;
    axis_view(c->in[0], a->axis, c->n, &pre, &post);
    size_t in_row = (size_t)c->in[0]->d[a->axis] * post; // x (pre, D, post)
    size_t out_row = (size_t)a->count * post;           // y (pre, count, post)
    size_t skip = (size_t)a->start * post;
    for (size_t o = 0; o < pre; o++)
        memcpy(c->y + o * out_row, c->x[0] + o * in_row + skip, sizeof(cn_real) * out_row);
    return CN_OK;
}

/* slice_backward: dx is dy inside the slice and 0 outside it. */
static void slice_backward(cn_op_ctx *c)
{
    cn_real *dx = c->dx[0];
    if (!dx) return;
    const cn_attrs *a = c->a;
    size_t pre, post;
    axis_view(c->in[0], a->axis, c->n, &pre, &post);
    size_t in_row = (size_t)c->in[0]->d[a->axis] * post;
    size_t out_row = (size_t)a->count * post;
    size_t skip = (size_t)a->start * post;
    memset(dx, 0, sizeof(cn_real) * pre * in_row);
    for (size_t o = 0; o < pre; o++)
        memcpy(dx + o * in_row + skip, c->dy + o * out_row, sizeof(cn_real) * out_row);
}

/* ------------------------------------------------------------------ flatten, reshape */

/* flatten_infer: (d1, d2, ...) -> (d1 * d2 * ...). */
static cn_status flatten_infer(cn_infer *inf, cn_error *err)
{
    size_t numel = cn_shape_numel(inf->in[0]);
    if (numel > (size_t)INT32_MAX) {
        char b[96];
        return cn_error_set(err, CN_ERR_RANGE, "node '%s' (flatten): input shape %s too large",
                            inf->node, cn_shape_str(inf->in[0], b, sizeof b));
    }
    inf->out.ndim = 1;
    inf->out.d[0] = (int)numel;
    inf->flops = 0;
    return CN_OK;
}

/* reshape_infer: the attribute shape (ndim dims, at most one -1, the others
 * >= 1); the element count must equal the input's. */
static cn_status reshape_infer(cn_infer *inf, cn_error *err)
{
    const cn_attrs *a = inf->a;
    if (a->ndim < 1 || a->ndim > CN_MAX_DIMS - 1)
        return cn_error_set(err, CN_ERR_ARG, "node '%s' (reshape): ndim %d outside 1..%d",
                            inf->node, a->ndim, CN_MAX_DIMS - 1);
    cn_shape want;
    memset(&want, 0, sizeof want);
    want.ndim = a->ndim;
    int free_dim = -1;
    size_t known = 1;
    for (int i = 0; i < a->ndim; i++) {
        want.d[i] = a->shape[i];
        if (a->shape[i] == -1 && free_dim < 0) {
            free_dim = i;
        } else if (a->shape[i] >= 1) {
            known = cn_mul_size(known, (size_t)a->shape[i]);
        } else {
            return cn_error_set(err, CN_ERR_ARG,
                                "node '%s' (reshape): dim %d is %d (dims must be >= 1, one "
                                "may be -1)",
                                inf->node, i, a->shape[i]);
        }
    }
    size_t numel = cn_shape_numel(inf->in[0]);
    char b[96], w[96];
    if (free_dim >= 0) {
        if (numel % known != 0 || numel / known > (size_t)INT32_MAX)
            return cn_error_set(err, CN_ERR_SHAPE,
                                "node '%s' (reshape): cannot reshape input shape %s (%zu "
                                "elements) to %s: %zu is not a multiple of %zu",
                                inf->node, cn_shape_str(inf->in[0], b, sizeof b), numel,
                                cn_shape_str(&want, w, sizeof w), numel, known);
        want.d[free_dim] = (int)(numel / known);
    } else if (known != numel) {
        return cn_error_set(err, CN_ERR_SHAPE,
                            "node '%s' (reshape): cannot reshape input shape %s (%zu elements) "
                            "to %s (%zu elements)",
                            inf->node, cn_shape_str(inf->in[0], b, sizeof b), numel,
                            cn_shape_str(&want, w, sizeof w), known);
    }
    inf->out = want;
    inf->flops = 0;
    return CN_OK;
}

/* ------------------------------------------------------------------ pad */

/* pad_infer: (..., h, w) -> (..., top + h + bottom, left + w + right). */
static cn_status pad_infer(cn_infer *inf, cn_error *err)
{
    const cn_attrs *a = inf->a;
    const cn_shape *s = inf->in[0];
    char b[96];
    if (s->ndim < 2)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "node '%s' (pad): input shape %s: needs at least 2 dims (h, w)",
                            inf->node, cn_shape_str(s, b, sizeof b));
    for (int i = 0; i < 4; i++)
        if (a->pads[i] < 0)
            return cn_error_set(err, CN_ERR_ARG,
                                "node '%s' (pad): pads (%d, %d, %d, %d) must be >= 0", inf->node,
                                a->pads[0], a->pads[1], a->pads[2], a->pads[3]);
    if (!isfinite(a->value) || fabs(a->value) > REAL_MAX)
        return cn_error_set(err, CN_ERR_ARG, "node '%s' (pad): value %g is not a finite real",
                            inf->node, a->value);
    int r = s->ndim;
    size_t h = (size_t)s->d[r - 2] + (size_t)a->pads[0] + (size_t)a->pads[1];
    size_t w = (size_t)s->d[r - 1] + (size_t)a->pads[2] + (size_t)a->pads[3];
    if (h > (size_t)INT32_MAX || w > (size_t)INT32_MAX)
        return cn_error_set(err, CN_ERR_RANGE, "node '%s' (pad): padded %s is too large",
                            inf->node, cn_shape_str(s, b, sizeof b));
    /* the kernel sees (batch * planes, 1, h, w): that count must fit int */
    size_t planes = (size_t)inf->batch * (cn_shape_numel(s) / ((size_t)s->d[r - 2] * s->d[r - 1]));
    if (planes > (size_t)INT32_MAX)
        return cn_error_set(err, CN_ERR_RANGE, "node '%s' (pad): %s times batch %d is too large",
                            inf->node, cn_shape_str(s, b, sizeof b), inf->batch);
    cn_status st = cn_pad2d_check((int)planes, 1, s->d[r - 2], s->d[r - 1], a->pads[0],
                                  a->pads[1], a->pads[2], a->pads[3], err);
    if (st != CN_OK) return cn_error_prefix(err, "node '%s' (pad): ", inf->node);
    inf->out = *s;
    inf->out.d[r - 2] = (int)h;
    inf->out.d[r - 1] = (int)w;
    inf->flops = 0;
    return CN_OK;
}

/* pad_forward: every (h, w) plane copied into the middle of a (ho, wo) plane
 * filled with value. */
static cn_status pad_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    const cn_attrs *a = c->a;
    int r = c->in[0]->ndim, h = c->in[0]->d[r - 2], w = c->in[0]->d[r - 1];
    /* every dim before the last two is a plane: (planes, 1, h, w) for the kernel;
     * compile checked that the element count fits int */
    int planes = c->n * (int)(cn_shape_numel(c->in[0]) / ((size_t)h * (size_t)w));
    cn_pad2d_forward(planes, 1, h, w, a->pads[0], a->pads[1], a->pads[2], a->pads[3],
                     (cn_real)a->value, c->x[0], c->y);
    return CN_OK;
}

/* pad_backward: dx is the middle of dy (the padding got a constant, no gradient). */
static void pad_backward(cn_op_ctx *c)
{
    if (!c->dx[0]) return;
    const cn_attrs *a = c->a;
    int r = c->in[0]->ndim, h = c->in[0]->d[r - 2], w = c->in[0]->d[r - 1];
    int planes = c->n * (int)(cn_shape_numel(c->in[0]) / ((size_t)h * (size_t)w));
    cn_pad2d_backward(planes, 1, h, w, a->pads[0], a->pads[1], a->pads[2], a->pads[3], c->dy,
                      c->dx[0]);
}

/* ------------------------------------------------------------------ vtables */

const cn_op_vtable cn_op_vt_add = {CN_OP_ADD, "add", 2, 0, 0,
                                   add_infer, add_forward, add_backward};
const cn_op_vtable cn_op_vt_mul = {CN_OP_MUL, "mul", 2, 2, 0,
                                   mul_infer, mul_forward, mul_backward};
const cn_op_vtable cn_op_vt_channel_scale = {CN_OP_CHANNEL_SCALE, "channel_scale", 2, 2, 0,
                                             cs_infer, cs_forward, cs_backward};
const cn_op_vtable cn_op_vt_concat = {CN_OP_CONCAT, "concat", 1, 0, 0,
                                      concat_infer, concat_forward, concat_backward};
const cn_op_vtable cn_op_vt_slice = {CN_OP_SLICE, "slice", 1, 1, 0,
                                     slice_infer, slice_forward, slice_backward};
const cn_op_vtable cn_op_vt_flatten = {CN_OP_FLATTEN, "flatten", 1, 1, 0,
                                       flatten_infer, copy_forward, copy_backward};
const cn_op_vtable cn_op_vt_reshape = {CN_OP_RESHAPE, "reshape", 1, 1, 0,
                                       reshape_infer, copy_forward, copy_backward};
const cn_op_vtable cn_op_vt_pad = {CN_OP_PAD, "pad", 1, 1, 0,
                                   pad_infer, pad_forward, pad_backward};
const cn_op_vtable cn_op_vt_identity = {CN_OP_IDENTITY, "identity", 1, 1, 0,
                                        copy_infer, copy_forward, copy_backward};
