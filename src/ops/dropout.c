/* dropout.c: the regularisation ops over the dropout kernels of
 * activation_kernels.h: dropout (inverted: one Bernoulli per value, kept values
 * scaled by 1 / (1 - p)), dropout2d (spatial dropout, PyTorch's Dropout2d:
 * one draw per (sample, channel), the whole channel kept or dropped) and
 * drop_path (stochastic depth, timm's DropPath: one draw per sample, the whole
 * sample kept and scaled by 1 / (1 - p), or zeroed). Masks are
 * drawn from the forward's rng into the node's saved area; rng NULL in
 * training replays them; evaluation is the identity. */
#include "op.h"

/* dropout_check: rank >= 1 and p in [0, 1]; the output has the input's shape. */
static cn_status dropout_check(cn_infer *inf, const char *op, cn_error *err)
{
    cn_status st = cn_infer_rank(inf, 0, 1, CN_MAX_DIMS, err);
    if (st != CN_OK) return st;
    st = cn_dropout_check(inf->a->p, err);
    if (st != CN_OK) {
        cn_error_prefix(err, "node '%s' (%s): ", inf->node, op);
        return st;
    }
    inf->out = *inf->in[0];
    inf->flops = (double)cn_shape_numel(inf->in[0]); /* one multiply per value */
    return CN_OK;
}

/* mask_bytes: the saved area for count mask entries per sample. */
static cn_status mask_bytes(cn_infer *inf, const char *op, size_t count, cn_error *err)
{
    size_t b;
    if (count == SIZE_MAX || cn_mul_overflow(cn_mul_size(count, (size_t)inf->batch),
                                             sizeof(cn_real), &b))
        return cn_error_set(err, CN_ERR_RANGE, "node '%s' (%s): mask too large", inf->node, op);
    inf->saved_bytes = b;
    return CN_OK;
}

/* ------------------------------------------------------------------ dropout */

/* dropout saved area: mask (n, shape), 0 or 1 / (1 - p) per value. */

static cn_status dropout_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = dropout_check(inf, "dropout", err);
    if (st != CN_OK) return st;
    return mask_bytes(inf, "dropout", cn_shape_numel(inf->in[0]), err);
}

static cn_status dropout_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    size_t count = (size_t)c->n * cn_shape_numel(c->in[0]);
    cn_dropout_forward(c->a->p, c->training, c->rng, count, c->x[0], c->y, (cn_real *)c->saved);
    return CN_OK;
}

static void dropout_backward(cn_op_ctx *c)
{
    if (!c->dx[0]) return;
    size_t count = (size_t)c->n * cn_shape_numel(c->in[0]);
    cn_dropout_backward(c->training, count, c->dy, (const cn_real *)c->saved, c->dx[0]);
}

/* ------------------------------------------------------------------ dropout2d */

/* dropout2d saved area: mask (n, c), one entry per (sample, channel). */

static cn_status dropout2d_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = dropout_check(inf, "dropout2d", err);
    if (st != CN_OK) return st;
    int inner;
    st = cn_infer_inner(inf, 0, &inner, err);
    if (st != CN_OK) return st;
    if ((size_t)inf->batch * (size_t)inf->in[0]->d[0] > (size_t)INT32_MAX)
        return cn_error_set(err, CN_ERR_RANGE,
                            "node '%s' (dropout2d): batch %d x channels %d too large", inf->node,
                            inf->batch, inf->in[0]->d[0]);
    return mask_bytes(inf, "dropout2d", (size_t)inf->in[0]->d[0], err);
}

static cn_status dropout2d_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    cn_dropout2d_forward(c->a->p, c->training, c->rng, c->n, c->in[0]->d[0], cn_ctx_inner(c, 0),
                         c->x[0], c->y, (cn_real *)c->saved);
    return CN_OK;
}

static void dropout2d_backward(cn_op_ctx *c)
{
    if (!c->dx[0]) return;
    cn_dropout2d_backward(c->training, c->n, c->in[0]->d[0], cn_ctx_inner(c, 0), c->dy,
                          (const cn_real *)c->saved, c->dx[0]);
}

/* ------------------------------------------------------------------ drop_path */

/* drop_path (stochastic depth): dropout2d with one "channel" holding the whole
 * sample: one draw per sample, mask (n, 1) of 0 or 1 / (1 - p). p must be < 1
 * (a branch that is always dropped is no branch). */

static cn_status drop_path_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = dropout_check(inf, "drop_path", err);
    if (st != CN_OK) return st;
    if (!(inf->a->p < 1.0))
        return cn_error_set(err, CN_ERR_ARG, "node '%s' (drop_path): p %g must be < 1",
                            inf->node, inf->a->p);
    if (cn_shape_numel(inf->in[0]) == SIZE_MAX)
        return cn_error_set(err, CN_ERR_RANGE, "node '%s' (drop_path): sample too large",
                            inf->node);
    return mask_bytes(inf, "drop_path", 1, err);
}

static cn_status drop_path_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    cn_dropout2d_forward(c->a->p, c->training, c->rng, c->n, 1, cn_shape_numel(c->in[0]),
                         c->x[0], c->y, (cn_real *)c->saved);
    return CN_OK;
}

static void drop_path_backward(cn_op_ctx *c)
{
    if (!c->dx[0]) return;
    cn_dropout2d_backward(c->training, c->n, 1, cn_shape_numel(c->in[0]), c->dy,
                          (const cn_real *)c->saved, c->dx[0]);
}

/* ------------------------------------------------------------------ vtables */

const cn_op_vtable cn_op_vt_dropout = {CN_OP_DROPOUT, "dropout", 1, 1, 0,
                                       dropout_infer, dropout_forward, dropout_backward};
const cn_op_vtable cn_op_vt_dropout2d = {CN_OP_DROPOUT2D, "dropout2d", 1, 1, 0,
                                         dropout2d_infer, dropout2d_forward, dropout2d_backward};
const cn_op_vtable cn_op_vt_drop_path = {CN_OP_DROP_PATH, "drop_path", 1, 1, 0,
                                         drop_path_infer, drop_path_forward, drop_path_backward};
