/* resample.c: the resampling ops: maxunpool2d (inputs: the values to place and
 * the maxpool2d node whose recorded indices say where) and upsample (nearest;
 * bilinear with or without aligned corners; by a scale factor or to a size). */
#include "op.h"

#include <stdint.h>

/* unpool_out: output (h, w) of maxunpool2d: size_hw when given, else the
 * inverse of the pooling arithmetic, (in - 1) s - 2p + k per axis. */
static void unpool_out(const cn_attrs *a, const cn_shape *in, int *ho, int *wo)
{
    if (a->size_hw[0] > 0 && a->size_hw[1] > 0) {
        *ho = a->size_hw[0];
        *wo = a->size_hw[1];
    } else {
        *ho = cn_maxunpool2d_out_size(in->d[1], a->k[0], a->stride[0], a->pad[0]);
        *wo = cn_maxunpool2d_out_size(in->d[2], a->k[1], a->stride[1], a->pad[1]);
    }
}

static cn_status unpool_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = cn_infer_rank(inf, 0, 3, 3, err);
    if (st != CN_OK) return st;
    if (!cn_shape_eq(inf->in[0], inf->in[1])) {
        char a[96], b[96];
        return cn_error_set(err, CN_ERR_SHAPE,
                            "node '%s' (maxunpool2d): values %s must have the shape of the "
                            "max pooling's output %s (input 1)",
                            inf->node, cn_shape_str(inf->in[0], a, sizeof a),
                            cn_shape_str(inf->in[1], b, sizeof b));
    }
    int ho, wo;
    unpool_out(inf->a, inf->in[0], &ho, &wo);
    if (ho < 1 || wo < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "node '%s' (maxunpool2d): output size %d x %d",
                            inf->node, ho, wo);
    inf->out.ndim = 3;
    inf->out.d[0] = inf->in[0]->d[0];
    inf->out.d[1] = ho;
    inf->out.d[2] = wo;
    inf->flops = (double)cn_shape_numel(inf->in[0]);
    return CN_OK;
}

static cn_status unpool_forward(cn_op_ctx *c, cn_error *err)
{
    const cn_shape *in = c->in[0];
    const int32_t *idx = c->in_saved[1];
    if (!idx)
        return cn_error_set(err, CN_ERR_ARG,
                            "node '%s' (maxunpool2d): input 1 records no indices (it must be "
                            "a maxpool2d node)",
                            c->node);
    cn_status st = cn_maxunpool2d_check(c->n, in->d[0], in->d[1], in->d[2], c->out->d[1],
                                        c->out->d[2], idx, err);
    if (st != CN_OK) return cn_error_prefix(err, "node '%s': ", c->node);
    cn_maxunpool2d_forward(c->n, in->d[0], in->d[1], in->d[2], c->out->d[1], c->out->d[2],
                           c->x[0], idx, c->y);
    return CN_OK;
}

static void unpool_backward(cn_op_ctx *c)
{
    const cn_shape *in = c->in[0];
    size_t cnt = (size_t)c->n * cn_shape_numel(in);
    if (c->dx[0])
        cn_maxunpool2d_backward(c->n, in->d[0], in->d[1], in->d[2], c->out->d[1], c->out->d[2],
                                c->dy, (const int32_t *)c->in_saved[1], c->dx[0]);
    /* the pooling output only lends its indices: no gradient flows to it */
    if (c->dx[1])
        for (size_t i = 0; i < cnt; i++) c->dx[1][i] = 0;
}

/* upsample_out: output size from the scale factors or size_hw. */
static void upsample_out(const cn_attrs *a, const cn_shape *in, int *ho, int *wo)
{
    if (a->scale[0] > 0 && a->scale[1] > 0) {
        *ho = cn_upsample2d_out_size(in->d[1], a->scale[0]);
        *wo = cn_upsample2d_out_size(in->d[2], a->scale[1]);
    } else {
        *ho = a->size_hw[0];
        *wo = a->size_hw[1];
    }
}

static cn_status upsample_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = cn_infer_rank(inf, 0, 3, 3, err);
    if (st != CN_OK) return st;
    const cn_attrs *a = inf->a;
    int ho, wo;
    upsample_out(a, inf->in[0], &ho, &wo);
    double sh = a->scale[0] > 0 && a->scale[1] > 0 ? a->scale[0] : 0;
    double sw = a->scale[0] > 0 && a->scale[1] > 0 ? a->scale[1] : 0;
    st = cn_upsample2d_check(a->mode, a->align_corners, inf->batch, inf->in[0]->d[0],
                             inf->in[0]->d[1], inf->in[0]->d[2], ho, wo, sh, sw, err);
    if (st != CN_OK) return cn_error_prefix(err, "node '%s': ", inf->node);
    inf->out.ndim = 3;
    inf->out.d[0] = inf->in[0]->d[0];
    inf->out.d[1] = ho;
    inf->out.d[2] = wo;
    inf->flops = (a->mode == CN_UPSAMPLE_BILINEAR ? 8.0 : 1.0) * inf->in[0]->d[0] * ho * wo;
    return CN_OK;
}

/* scales: the scale factors passed to the kernels (0 when sized explicitly). */
static void scales(const cn_attrs *a, double *sh, double *sw)
{
    int by_scale = a->scale[0] > 0 && a->scale[1] > 0;
    *sh = by_scale ? a->scale[0] : 0;
    *sw = by_scale ? a->scale[1] : 0;
}

static cn_status upsample_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    double sh, sw;
    scales(c->a, &sh, &sw);
    const cn_shape *in = c->in[0];
    cn_upsample2d_forward(c->a->mode, c->a->align_corners, c->n, in->d[0], in->d[1], in->d[2],
                          c->out->d[1], c->out->d[2], sh, sw, c->x[0], c->y);
    return CN_OK;
}

static void upsample_backward(cn_op_ctx *c)
{
    if (!c->dx[0]) return;
    double sh, sw;
    scales(c->a, &sh, &sw);
    const cn_shape *in = c->in[0];
    cn_upsample2d_backward(c->a->mode, c->a->align_corners, c->n, in->d[0], in->d[1], in->d[2],
                           c->out->d[1], c->out->d[2], sh, sw, c->dy, c->dx[0]);
}

const cn_op_vtable cn_op_vt_maxunpool2d = {CN_OP_MAXUNPOOL2D, "maxunpool2d", 2, 2, 0,
                                           unpool_infer, unpool_forward, unpool_backward};
const cn_op_vtable cn_op_vt_upsample = {CN_OP_UPSAMPLE, "upsample", 1, 1, 0, upsample_infer,
                                        upsample_forward, upsample_backward};
