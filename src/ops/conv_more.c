/* conv_more.c: the 3-D convolution op (vol2col + GEMM; weights (out, c/groups,
 * kd, kh, kw)) and the transposed 2-D convolution op (PyTorch's
 * ConvTranspose2d: weights (c_in, out/groups, kh, kw), output padding). */
#include "op.h"
#include "convnet/conv_nd.h"

/* geom3d: the kernel geometry for input (c, d, h, w) and batch n. */
static cn_status geom3d(const char *node, const cn_attrs *a, const cn_shape *in, int n,
                        cn_conv3d_geom *g, cn_error *err)
{
    cn_conv3d_geom z = {0};
    *g = z;
    g->n = n;
    g->c_in = in->d[0];
    g->d = in->d[1];
    g->h = in->d[2];
    g->w = in->d[3];
    g->c_out = a->out;
    g->kd = a->k[0];
    g->kh = a->k[1];
    g->kw = a->k[2];
    g->stride_d = a->stride[0];
    g->stride_h = a->stride[1];
    g->stride_w = a->stride[2];
    g->pad_d = a->pad[0];
    g->pad_h = a->pad[1];
    g->pad_w = a->pad[2];
    g->dil_d = a->dil[0];
    g->dil_h = a->dil[1];
    g->dil_w = a->dil[2];
    g->groups = a->groups;
    cn_status st = cn_conv3d_geom_init(g, err);
    if (st != CN_OK) return cn_error_prefix(err, "node '%s': ", node);
    return CN_OK;
}

static cn_status conv3d_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = cn_infer_rank(inf, 0, 4, 4, err);
    if (st != CN_OK) return st;
    if (inf->a->out < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "node '%s': out %d must be >= 1", inf->node,
                            inf->a->out);
    cn_conv3d_geom g;
    st = geom3d(inf->node, inf->a, inf->in[0], inf->batch, &g, err);
    if (st != CN_OK) return st;
    inf->out.ndim = 4;
    inf->out.d[0] = g.c_out;
    inf->out.d[1] = g.d_out;
    inf->out.d[2] = g.h_out;
    inf->out.d[3] = g.w_out;
    int ws[5] = {g.c_out, g.cg_in, g.kd, g.kh, g.kw};
    cn_infer_param(inf, "weight", CN_PARAM_WEIGHT, 5, ws, cn_init_of(CN_INIT_KAIMING_NORMAL));
    if (inf->a->bias)
        cn_infer_param(inf, "bias", CN_PARAM_BIAS, 1, &inf->a->out, cn_init_of(CN_INIT_ZEROS));
    inf->ws_reals = cn_conv3d_workspace_size(&g);
    inf->flops = 2.0 * (double)g.c_out * g.out_sp * g.kdim;
    return CN_OK;
}

static cn_status conv3d_forward(cn_op_ctx *c, cn_error *err)
{
    cn_conv3d_geom g;
    cn_status st = geom3d(c->node, c->a, c->in[0], c->n, &g, err);
    if (st != CN_OK) return st;
    cn_conv3d_forward(&g, c->x[0], c->param[0], c->a->bias ? c->param[1] : NULL, c->y, c->ws);
    return CN_OK;
}

static void conv3d_backward(cn_op_ctx *c)
{
    cn_conv3d_geom g;
    cn_status st = geom3d(c->node, c->a, c->in[0], c->n, &g, NULL);
    CN_ASSERT(st == CN_OK);
    cn_conv3d_backward(&g, c->x[0], c->param[0], c->dy, c->dx[0], c->grad[0],
                       c->a->bias ? c->grad[1] : NULL, c->ws);
}

/* geomt: the transposed-convolution geometry for input (c, h, w), batch n. */
static cn_status geomt(const char *node, const cn_attrs *a, const cn_shape *in, int n,
                       cn_convt2d_geom *g, cn_error *err)
{
    cn_convt2d_geom z = {0};
    *g = z;
    g->n = n;
    g->c_in = in->d[0];
    g->h = in->d[1];
    g->w = in->d[2];
    g->c_out = a->out;
    g->kh = a->k[0];
    g->kw = a->k[1];
    g->stride_h = a->stride[0];
    g->stride_w = a->stride[1];
    g->pad_h = a->pad[0];
    g->pad_w = a->pad[1];
    g->out_pad_h = a->out_pad[0];
    g->out_pad_w = a->out_pad[1];
    g->dil_h = a->dil[0];
    g->dil_w = a->dil[1];
    g->groups = a->groups;
    cn_status st = cn_convt2d_geom_init(g, err);
    if (st != CN_OK) return cn_error_prefix(err, "node '%s': ", node);
    return CN_OK;
}

static cn_status convt_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = cn_infer_rank(inf, 0, 3, 3, err);
    if (st != CN_OK) return st;
    if (inf->a->out < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "node '%s': out %d must be >= 1", inf->node,
                            inf->a->out);
    cn_convt2d_geom g;
    st = geomt(inf->node, inf->a, inf->in[0], inf->batch, &g, err);
    if (st != CN_OK) return st;
    inf->out.ndim = 3;
    inf->out.d[0] = g.c_out;
    inf->out.d[1] = g.h_out;
    inf->out.d[2] = g.w_out;
    int ws[4] = {g.c_in, g.cg_out, g.kh, g.kw};
    cn_infer_param(inf, "weight", CN_PARAM_WEIGHT, 4, ws, cn_init_of(CN_INIT_KAIMING_NORMAL));
    if (inf->a->bias)
        cn_infer_param(inf, "bias", CN_PARAM_BIAS, 1, &inf->a->out, cn_init_of(CN_INIT_ZEROS));
    inf->ws_reals = cn_convt2d_workspace_size(&g);
    inf->flops = 2.0 * (double)g.c_in * g.hw_in * g.kdim;
    return CN_OK;
}

static cn_status convt_forward(cn_op_ctx *c, cn_error *err)
{
    cn_convt2d_geom g;
    cn_status st = geomt(c->node, c->a, c->in[0], c->n, &g, err);
    if (st != CN_OK) return st;
    cn_convt2d_forward(&g, c->x[0], c->param[0], c->a->bias ? c->param[1] : NULL, c->y, c->ws);
    return CN_OK;
}

static void convt_backward(cn_op_ctx *c)
{
    cn_convt2d_geom g;
    cn_status st = geomt(c->node, c->a, c->in[0], c->n, &g, NULL);
    CN_ASSERT(st == CN_OK);
    cn_convt2d_backward(&g, c->x[0], c->param[0], c->dy, c->dx[0], c->grad[0],
                        c->a->bias ? c->grad[1] : NULL, c->ws);
}

const cn_op_vtable cn_op_vt_conv3d = {CN_OP_CONV3D, "conv3d", 1, 1, 0,
                                      conv3d_infer, conv3d_forward, conv3d_backward};
const cn_op_vtable cn_op_vt_conv_transpose2d = {CN_OP_CONV_TRANSPOSE2D, "conv_transpose2d", 1,
                                                1, 0, convt_infer, convt_forward,
                                                convt_backward};
