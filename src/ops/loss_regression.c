/* loss_regression.c: the losses that compare the input with target values of
 * the same shape (cn_target.values): mse (L2), l1, smooth_l1, huber, sigmoid
 * binary cross-entropy with logits (multi-label) and KL divergence to a label
 * distribution. Each outputs the batch's mean loss in y[0]. */
#include "op.h"

/* count: elements of the input for this call. */
static size_t count(const cn_op_ctx *c) { return (size_t)c->n * cn_shape_numel(c->in[0]); }

/* elem_infer: the common infer of the element-wise losses. */
static cn_status elem_infer(cn_infer *inf, cn_error *err)
{
    (void)err;
    inf->out.ndim = 0;
    inf->flops = 3.0 * (double)cn_shape_numel(inf->in[0]);
    return CN_OK;
}

/* rows_infer: bce_logits and kl_div read (c) rows; class_weights (bce: the
 * positive weights) must match c. */
static cn_status rows_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = cn_infer_rank(inf, 0, 1, 1, err);
    if (st != CN_OK) return st;
    int c = inf->in[0]->d[0];
    if (inf->a->n_class_weights != 0 && inf->a->n_class_weights != c)
        return cn_error_set(err, CN_ERR_SHAPE, "node '%s': %d class weights for %d classes",
                            inf->node, inf->a->n_class_weights, c);
    inf->out.ndim = 0;
    inf->flops = 10.0 * c;
    return CN_OK;
}

static cn_status mse_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    c->y[0] = (cn_real)cn_mse_forward(count(c), c->x[0], c->target->values);
    return CN_OK;
}
static void mse_backward(cn_op_ctx *c)
{
    if (c->dx[0]) cn_mse_backward(count(c), c->x[0], c->target->values, c->dloss, c->dx[0]);
}

static cn_status l1_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    c->y[0] = (cn_real)cn_l1_forward(count(c), c->x[0], c->target->values);
    return CN_OK;
}
static void l1_backward(cn_op_ctx *c)
{
    if (c->dx[0]) cn_l1_backward(count(c), c->x[0], c->target->values, c->dloss, c->dx[0]);
}

/* smooth_l1 reads a->delta as PyTorch's beta (>= 0); huber a->delta (> 0). */
static cn_status smooth_infer(cn_infer *inf, cn_error *err)
{
    double dl = inf->a->delta;
    if (!(dl >= 0.0) || dl > 1e300)
        return cn_error_set(err, CN_ERR_ARG, "node '%s': delta %g must be finite and >= 0",
                            inf->node, dl);
    return elem_infer(inf, err);
}
static cn_status huber_infer(cn_infer *inf, cn_error *err)
{
    if (!(inf->a->delta > 0.0) || inf->a->delta > 1e300)
        return cn_error_set(err, CN_ERR_ARG, "node '%s': delta %g must be finite and > 0",
                            inf->node, inf->a->delta);
    return elem_infer(inf, err);
}

static cn_status smooth_l1_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    c->y[0] = (cn_real)cn_smooth_l1_forward(count(c), c->x[0], c->target->values, c->a->delta);
    return CN_OK;
}
static void smooth_l1_backward(cn_op_ctx *c)
{
    if (c->dx[0])
        cn_smooth_l1_backward(count(c), c->x[0], c->target->values, c->a->delta, c->dloss,
                              c->dx[0]);
}

static cn_status huber_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    c->y[0] = (cn_real)cn_huber_forward(count(c), c->x[0], c->target->values, c->a->delta);
    return CN_OK;
}
static void huber_backward(cn_op_ctx *c)
{
    if (c->dx[0])
        cn_huber_backward(count(c), c->x[0], c->target->values, c->a->delta, c->dloss, c->dx[0]);
}

static cn_status bce_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    int k = c->in[0]->d[0];
    c->y[0] = (cn_real)cn_bce_logits_forward(c->n, k, c->x[0], c->target->values,
                                             c->a->n_class_weights ? c->a->class_weights : NULL);
    return CN_OK;
}
static void bce_backward(cn_op_ctx *c)
{
    if (!c->dx[0]) return;
    cn_bce_logits_backward(c->n, c->in[0]->d[0], c->x[0], c->target->values,
                           c->a->n_class_weights ? c->a->class_weights : NULL, c->dloss,
                           c->dx[0]);
}

static cn_status kl_forward(cn_op_ctx *c, cn_error *err)
{
    size_t cnt = count(c);
    const cn_real *t = c->target->values; /* t (n, c) */
    for (size_t i = 0; i < cnt; i++)
        if (!(t[i] >= 0) || t[i] > 1e30)
            return cn_error_set(err, CN_ERR_RANGE,
                                "node '%s' (kl_div): target value %g at sample %zu, class %zu "
                                "is not a probability (finite, >= 0)",
                                c->node, (double)t[i], i / (size_t)c->in[0]->d[0],
                                i % (size_t)c->in[0]->d[0]);
    c->y[0] = (cn_real)cn_kl_div_forward(c->n, c->in[0]->d[0], c->x[0], c->target->values);
    return CN_OK;
}
static void kl_backward(cn_op_ctx *c)
{
    if (c->dx[0])
        cn_kl_div_backward(c->n, c->in[0]->d[0], c->x[0], c->target->values, c->dloss, c->dx[0]);
}

const cn_op_vtable cn_op_vt_mse = {CN_OP_MSE, "mse", 1, 1, 1, elem_infer, mse_forward,
                                   mse_backward};
const cn_op_vtable cn_op_vt_l1 = {CN_OP_L1, "l1", 1, 1, 1, elem_infer, l1_forward, l1_backward};
const cn_op_vtable cn_op_vt_smooth_l1 = {CN_OP_SMOOTH_L1, "smooth_l1", 1, 1, 1, smooth_infer,
                                         smooth_l1_forward, smooth_l1_backward};
const cn_op_vtable cn_op_vt_huber = {CN_OP_HUBER, "huber", 1, 1, 1, huber_infer, huber_forward,
                                     huber_backward};
const cn_op_vtable cn_op_vt_bce_logits = {CN_OP_BCE_LOGITS, "bce_logits", 1, 1, 1, rows_infer,
                                          bce_forward, bce_backward};
const cn_op_vtable cn_op_vt_kl_div = {CN_OP_KL_DIV, "kl_div", 1, 1, 1, rows_infer, kl_forward,
                                      kl_backward};
