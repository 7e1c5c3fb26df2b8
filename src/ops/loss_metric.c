/* loss_metric.c: metric-learning losses on embeddings (d) per sample:
 * triplet (margin) and contrastive (Siamese pairs). Either one input whose
 * batch stacks the blocks (triplet: anchors | positives | negatives, n = 3B;
 * contrastive: first | second, n = 2B) so one network computes every embedding
 * with the same weights, or separate inputs (3 and 2). Contrastive reads one
 * label per pair (1 similar, 0 dissimilar) from cn_target.labels. */
#include "op.h"

/* metric_infer: every input (d), one shape. */
static cn_status metric_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = cn_infer_rank(inf, 0, 1, 1, err);
    if (st == CN_OK) st = cn_infer_same_shape(inf, err);
    if (st != CN_OK) return st;
    if (!(inf->a->margin >= 0.0) || inf->a->margin > 1e300)
        return cn_error_set(err, CN_ERR_ARG, "node '%s': margin %g must be finite and >= 0",
                            inf->node, inf->a->margin);
    inf->out.ndim = 0;
    inf->flops = 6.0 * inf->in[0]->d[0];
    return CN_OK;
}

/* blocks: the k blocks' pointers (x and dx) and their row count for this call;
 * CN_ERR_SHAPE when a single stacked input's batch is not divisible by k. */
static cn_status blocks(const cn_op_ctx *c, int k, const cn_real **x, cn_real **dx, int *rows,
                        cn_error *err)
{
    int d = c->in[0]->d[0];
    if (c->n_in == 1) {
        if (c->n % k != 0)
            return cn_error_set(err, CN_ERR_SHAPE,
                                "node '%s': batch %d is not %d equal blocks of the stacked "
                                "input",
                                c->node, c->n, k);
        *rows = c->n / k;
        for (int j = 0; j < k; j++) {
            x[j] = c->x[0] + (size_t)j * (size_t)*rows * (size_t)d;
            if (dx) dx[j] = c->dx[0] ? c->dx[0] + (size_t)j * (size_t)*rows * (size_t)d : NULL;
        }
    } else {
        *rows = c->n;
        for (int j = 0; j < k; j++) {
            x[j] = c->x[j];
            if (dx) dx[j] = c->dx[j];
        }
    }
    return CN_OK;
}

static cn_status triplet_forward(cn_op_ctx *c, cn_error *err)
{
    const cn_real *x[3];
    int rows;
    cn_status st = blocks(c, 3, x, NULL, &rows, err);
    if (st != CN_OK) return st;
    c->y[0] = (cn_real)cn_triplet_forward(rows, c->in[0]->d[0], x[0], x[1], x[2], c->a->margin);
    return CN_OK;
}
static void triplet_backward(cn_op_ctx *c)
{
    const cn_real *x[3];
    cn_real *dx[3];
    int rows;
    cn_status st = blocks(c, 3, x, dx, &rows, NULL);
    CN_ASSERT(st == CN_OK);
    cn_triplet_backward(rows, c->in[0]->d[0], x[0], x[1], x[2], c->a->margin, c->dloss, dx[0],
                        dx[1], dx[2]);
}

static cn_status contrastive_forward(cn_op_ctx *c, cn_error *err)
{
    const cn_real *x[2];
    int rows;
    cn_status st = blocks(c, 2, x, NULL, &rows, err);
    if (st != CN_OK) return st;
    for (int i = 0; i < rows; i++)
        if (c->target->labels[i] != 0 && c->target->labels[i] != 1)
            return cn_error_set(err, CN_ERR_RANGE,
                                "node '%s' (contrastive): pair %d has label %d (1 similar, 0 "
                                "dissimilar)",
                                c->node, i, c->target->labels[i]);
    c->y[0] = (cn_real)cn_contrastive_forward(rows, c->in[0]->d[0], x[0], x[1],
                                              c->target->labels, c->a->margin);
    return CN_OK;
}
static void contrastive_backward(cn_op_ctx *c)
{
    const cn_real *x[2];
    cn_real *dx[2];
    int rows;
    cn_status st = blocks(c, 2, x, dx, &rows, NULL);
    CN_ASSERT(st == CN_OK);
    cn_contrastive_backward(rows, c->in[0]->d[0], x[0], x[1], c->target->labels, c->a->margin,
                            c->dloss, dx[0], dx[1]);
}

/* one or all: triplet takes 1 or 3 inputs, contrastive 1 or 2 (checked here
 * since the vtable gives a range). */
static cn_status triplet_infer(cn_infer *inf, cn_error *err)
{
    if (inf->n_in == 2)
        return cn_error_set(err, CN_ERR_ARG,
                            "node '%s' (triplet): takes 1 stacked input or 3 (a, p, n), got 2",
                            inf->node);
    return metric_infer(inf, err);
}

/* contrastive_infer: the margin of the contrastive loss must be > 0. */
static cn_status contrastive_infer(cn_infer *inf, cn_error *err)
{
    if (!(inf->a->margin > 0.0))
        return cn_error_set(err, CN_ERR_ARG, "node '%s' (contrastive): margin %g must be > 0",
                            inf->node, inf->a->margin);
    return metric_infer(inf, err);
}

const cn_op_vtable cn_op_vt_triplet = {CN_OP_TRIPLET, "triplet", 1, 3, 1, triplet_infer,
                                       triplet_forward, triplet_backward};
const cn_op_vtable cn_op_vt_contrastive = {CN_OP_CONTRASTIVE, "contrastive", 1, 2, 1,
                                           contrastive_infer, contrastive_forward,
                                           contrastive_backward};
