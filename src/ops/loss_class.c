/* loss_class.c: the classification losses reading class labels
 * (cn_target.labels): softmax cross-entropy (class weights, label smoothing),
 * multiclass hinge and squared hinge, the ramp (truncated hinge) loss,
 * large-margin softmax (L-Softmax, owning its weight W (d, classes)) and the
 * center loss (owning its centres (classes, d)). Inputs are (c) scores or (d)
 * features per sample; each outputs the batch's mean loss in y[0]. */
#include "op.h"

/* labels_ok: every label in [0, classes), else CN_ERR_RANGE naming the node. */
static cn_status labels_ok(const cn_op_ctx *c, int classes, cn_error *err)
{
    cn_status st = cn_loss_check_labels(c->target->labels, c->n, classes, err);
    if (st != CN_OK) return cn_error_prefix(err, "node '%s': target ", c->node);
    return CN_OK;
}

/* scores_infer: (c) scores -> scalar; which checks which attributes it reads:
 * CE_ATTRS class weights and smoothing, MARGIN the margin, CAP the cap. */
enum { CE_ATTRS = 1, MARGIN = 2, CAP = 4 };
static cn_status scores_infer(cn_infer *inf, int reads, cn_error *err)
{
    cn_status st = cn_infer_rank(inf, 0, 1, 1, err);
    if (st != CN_OK)
        return cn_error_prefix(err, "(flatten the scores first) ");
    int c = inf->in[0]->d[0];
    if ((reads & CE_ATTRS) && inf->a->n_class_weights != 0 && inf->a->n_class_weights != c)
        return cn_error_set(err, CN_ERR_SHAPE, "node '%s': %d class weights for %d classes",
                            inf->node, inf->a->n_class_weights, c);
    if ((reads & CE_ATTRS) && !(inf->a->smoothing >= 0.0 && inf->a->smoothing <= 1.0))
        return cn_error_set(err, CN_ERR_ARG, "node '%s': smoothing %g outside [0, 1]",
                            inf->node, inf->a->smoothing);
    if ((reads & MARGIN) && (!(inf->a->margin > 0.0) || inf->a->margin > 1e300))
        return cn_error_set(err, CN_ERR_ARG, "node '%s': margin %g must be finite and > 0",
                            inf->node, inf->a->margin);
    if ((reads & CAP) && (!(inf->a->cap > 0.0) || inf->a->cap > 1e300))
        return cn_error_set(err, CN_ERR_ARG, "node '%s': cap %g must be finite and > 0",
                            inf->node, inf->a->cap);
    inf->out.ndim = 0;
    inf->flops = 10.0 * c;
    return CN_OK;
}
static cn_status ce_infer(cn_infer *inf, cn_error *err) { return scores_infer(inf, CE_ATTRS, err); }
static cn_status hinge_infer(cn_infer *inf, cn_error *err) { return scores_infer(inf, MARGIN, err); }
static cn_status ramp_infer(cn_infer *inf, cn_error *err)
{
    return scores_infer(inf, MARGIN | CAP, err);
}

static cn_status ce_forward(cn_op_ctx *c, cn_error *err)
{
    int k = c->in[0]->d[0];
    cn_status st = labels_ok(c, k, err);
    if (st != CN_OK) return st;
    const cn_real *w = c->a->n_class_weights ? c->a->class_weights : NULL;
    if (w) {
        double s = 0;
        for (int i = 0; i < c->n; i++) s += (double)w[c->target->labels[i]];
        if (!(s > 0))
            return cn_error_set(err, CN_ERR_NUMERIC,
                                "node '%s' (cross_entropy): the batch's class weights sum to 0",
                                c->node);
    }
    c->y[0] = (cn_real)cn_softmax_ce_forward(c->n, k, c->x[0], c->target->labels, w,
                                             c->a->smoothing);
    return CN_OK;
}
static void ce_backward(cn_op_ctx *c)
{
    if (!c->dx[0]) return;
    cn_softmax_ce_backward(c->n, c->in[0]->d[0], c->x[0], c->target->labels,
                           c->a->n_class_weights ? c->a->class_weights : NULL,
                           c->a->smoothing, c->dloss, c->dx[0]);
}

static cn_status hinge_forward(cn_op_ctx *c, cn_error *err)
{
    int k = c->in[0]->d[0];
    cn_status st = labels_ok(c, k, err);
    if (st != CN_OK) return st;
    c->y[0] = (cn_real)cn_multi_hinge_forward(c->n, k, c->x[0], c->target->labels,
                                              c->a->margin, c->a->squared);
    return CN_OK;
}
static void hinge_backward(cn_op_ctx *c)
{
    if (!c->dx[0]) return;
    cn_multi_hinge_backward(c->n, c->in[0]->d[0], c->x[0], c->target->labels, c->a->margin,
                            c->a->squared, c->dloss, c->dx[0]);
}

static cn_status ramp_forward(cn_op_ctx *c, cn_error *err)
{
    int k = c->in[0]->d[0];
    cn_status st = labels_ok(c, k, err);
    if (st != CN_OK) return st;
    c->y[0] = (cn_real)cn_ramp_forward(c->n, k, c->x[0], c->target->labels, c->a->margin,
                                       c->a->cap);
    return CN_OK;
}
static void ramp_backward(cn_op_ctx *c)
{
    if (!c->dx[0]) return;
    cn_ramp_backward(c->n, c->in[0]->d[0], c->x[0], c->target->labels, c->a->margin,
                     c->a->cap, c->dloss, c->dx[0]);
}

/* feature_infer: lsoftmax and center: (d) features and a->out classes. */
static cn_status feature_infer(cn_infer *inf, int lsoftmax, cn_error *err)
{
    cn_status st = cn_infer_rank(inf, 0, 1, 1, err);
    if (st != CN_OK) return cn_error_prefix(err, "(flatten the features first) ");
    const cn_attrs *a = inf->a;
    int d = inf->in[0]->d[0];
    if (a->out < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "node '%s': out (classes) %d must be >= 1",
                            inf->node, a->out);
    inf->out.ndim = 0;
    if (lsoftmax) {
        if (a->m < 1 || a->m > CN_LSOFTMAX_MAX_M)
            return cn_error_set(err, CN_ERR_ARG, "node '%s' (lsoftmax): m %d outside 1..%d",
                                inf->node, a->m, CN_LSOFTMAX_MAX_M);
        if (!(a->lambda >= 0.0) || a->lambda > 1e300)
            return cn_error_set(err, CN_ERR_ARG, "node '%s' (lsoftmax): lambda %g must be >= 0",
                                inf->node, a->lambda);
        int ws[2] = {d, a->out};
        cn_infer_param(inf, "weight", CN_PARAM_WEIGHT, 2, ws, cn_init_of(CN_INIT_XAVIER_NORMAL));
        /* kernel scratch, then a dummy dx when the input needs no gradient */
        inf->ws_reals = cn_lsoftmax_workspace_size(inf->batch, a->out) +
                        (size_t)inf->batch * (size_t)d;
        inf->flops = 2.0 * d * a->out + 20.0 * a->out;
    } else {
        int ws[2] = {a->out, d};
        cn_infer_param(inf, "centres", CN_PARAM_WEIGHT, 2, ws, cn_init_of(CN_INIT_NORMAL));
        inf->flops = 3.0 * d;
    }
    return CN_OK;
}
static cn_status lsoftmax_infer(cn_infer *inf, cn_error *err) { return feature_infer(inf, 1, err); }
static cn_status center_infer(cn_infer *inf, cn_error *err) { return feature_infer(inf, 0, err); }

static cn_status lsoftmax_forward(cn_op_ctx *c, cn_error *err)
{
    cn_status st = labels_ok(c, c->a->out, err);
    if (st != CN_OK) return st;
    c->y[0] = (cn_real)cn_lsoftmax_forward(c->n, c->in[0]->d[0], c->a->out, c->x[0],
                                           c->param[0], c->target->labels, c->a->m,
                                           c->a->lambda, c->ws);
    return CN_OK;
}
static void lsoftmax_backward(cn_op_ctx *c)
{
    int d = c->in[0]->d[0];
    cn_real *dx = c->dx[0];
    if (!dx) dx = c->ws + cn_lsoftmax_workspace_size(c->n, c->a->out); /* (n, d) discarded */
    if (!c->dx[0] && !c->grad[0]) return;
    cn_real *dW = c->grad[0];
    cn_lsoftmax_backward(c->n, d, c->a->out, c->x[0], c->param[0], c->target->labels, c->a->m,
                         c->a->lambda, c->dloss, dx, dW, c->ws);
}

static cn_status center_forward(cn_op_ctx *c, cn_error *err)
{
    cn_status st = labels_ok(c, c->a->out, err);
    if (st != CN_OK) return st;
    c->y[0] = (cn_real)cn_center_loss_forward(c->n, c->in[0]->d[0], c->a->out, c->x[0],
                                              c->target->labels, c->param[0]);
    return CN_OK;
}
static void center_backward(cn_op_ctx *c)
{
    cn_center_loss_backward(c->n, c->in[0]->d[0], c->a->out, c->x[0], c->target->labels,
                            c->param[0], c->dloss, c->dx[0], c->grad[0]);
}

const cn_op_vtable cn_op_vt_cross_entropy = {CN_OP_CROSS_ENTROPY, "cross_entropy", 1, 1, 1,
                                             ce_infer, ce_forward, ce_backward};
const cn_op_vtable cn_op_vt_hinge = {CN_OP_HINGE, "hinge", 1, 1, 1, hinge_infer, hinge_forward,
                                     hinge_backward};
const cn_op_vtable cn_op_vt_ramp = {CN_OP_RAMP, "ramp", 1, 1, 1, ramp_infer, ramp_forward,
                                    ramp_backward};
const cn_op_vtable cn_op_vt_lsoftmax = {CN_OP_LSOFTMAX, "lsoftmax", 1, 1, 1, lsoftmax_infer,
                                        lsoftmax_forward, lsoftmax_backward};
const cn_op_vtable cn_op_vt_center = {CN_OP_CENTER, "center", 1, 1, 1, center_infer,
                                      center_forward, center_backward};
