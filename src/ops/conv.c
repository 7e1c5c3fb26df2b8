/* conv.c: the convolution ops over the pure kernels: conv1d (a conv2d of
 * height 1), conv2d (im2col + GEMM, 1x1 as one GEMM, depthwise direct),
 * weights (out, c/groups, k...) and bias (out) as PyTorch. */
#include "op.h"

#include <stdio.h>

/* geom2d: the conv2d geometry of node attributes a on input (c, h, w) for batch
 * n; conv1d inputs (c, w) become (c, 1, w). */
static cn_status geom2d(const char *node, const cn_attrs *a, const cn_shape *in, int n,
                        int one_d, cn_conv2d_geom *g, cn_error *err)
{
    cn_conv2d_geom z = {0};
    *g = z;
    g->n = n;
    g->c_in = in->d[0];
    g->c_out = a->out;
    g->groups = a->groups;
    if (one_d) {
        g->h = 1;
        g->w = in->d[1];
        g->kh = 1;
        g->kw = a->k[0];
        g->stride_h = 1;
        g->stride_w = a->stride[0];
        g->pad_h = 0;
        g->pad_w = a->pad[0];
        g->dil_h = 1;
        g->dil_w = a->dil[0];
    } else {
        g->h = in->d[1];
        g->w = in->d[2];
        g->kh = a->k[0];
        g->kw = a->k[1];
        g->stride_h = a->stride[0];
        g->stride_w = a->stride[1];
        g->pad_h = a->pad[0];
        g->pad_w = a->pad[1];
        g->dil_h = a->dil[0];
        g->dil_w = a->dil[1];
    }
    cn_status st = cn_conv2d_geom_init(g, err);
    if (st != CN_OK) return cn_error_prefix(err, "node '%s': ", node);
    return CN_OK;
}

/* conv_infer: shared by conv1d (one_d) and conv2d. */
static cn_status conv_infer(cn_infer *inf, int one_d, cn_error *err)
{
    const cn_attrs *a = inf->a;
    cn_status st = cn_infer_rank(inf, 0, one_d ? 2 : 3, one_d ? 2 : 3, err);
    if (st != CN_OK) return st;
    if (a->out < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "node '%s': out %d must be >= 1", inf->node,
                            a->out);
    cn_conv2d_geom g;
    st = geom2d(inf->node, a, inf->in[0], inf->batch, one_d, &g, err);
    if (st != CN_OK) return st;
    if (one_d) {
        inf->out.ndim = 2;
        inf->out.d[0] = g.c_out;
        inf->out.d[1] = g.w_out;
        int ws[3] = {g.c_out, g.cg_in, g.kw};
        cn_infer_param(inf, "weight", CN_PARAM_WEIGHT, 3, ws, cn_init_of(CN_INIT_KAIMING_NORMAL));
    } else {
        inf->out.ndim = 3;
        inf->out.d[0] = g.c_out;
        inf->out.d[1] = g.h_out;
        inf->out.d[2] = g.w_out;
        int ws[4] = {g.c_out, g.cg_in, g.kh, g.kw};
        cn_infer_param(inf, "weight", CN_PARAM_WEIGHT, 4, ws, cn_init_of(CN_INIT_KAIMING_NORMAL));
    }
    if (a->bias) cn_infer_param(inf, "bias", CN_PARAM_BIAS, 1, &a->out, cn_init_of(CN_INIT_ZEROS));
    inf->ws_reals = cn_conv2d_workspace_size(&g);
    inf->flops = 2.0 * (double)g.c_out * g.hw_out * g.kdim;
    return CN_OK;
}

static cn_status conv1d_infer(cn_infer *inf, cn_error *err) { return conv_infer(inf, 1, err); }
static cn_status conv2d_infer(cn_infer *inf, cn_error *err) { return conv_infer(inf, 0, err); }

/* conv_forward / conv_backward: the geometry for this batch, then the kernel. */
static cn_status conv_forward(cn_op_ctx *c, int one_d, cn_error *err)
{
    cn_conv2d_geom g;
    cn_status st = geom2d(c->node, c->a, c->in[0], c->n, one_d, &g, err);
    if (st != CN_OK) return st;
    cn_conv2d_forward(&g, c->x[0], c->param[0], c->a->bias ? c->param[1] : NULL, c->y, c->ws);
    return CN_OK;
}

static void conv_backward(cn_op_ctx *c, int one_d)
{
    cn_conv2d_geom g;
    cn_status st = geom2d(c->node, c->a, c->in[0], c->n, one_d, &g, NULL);
    CN_ASSERT(st == CN_OK); /* the same geometry passed at forward */
    cn_conv2d_backward(&g, c->x[0], c->param[0], c->dy, c->dx[0], c->grad[0],
                       c->a->bias ? c->grad[1] : NULL, c->ws);
}

static cn_status conv1d_forward(cn_op_ctx *c, cn_error *err) { return conv_forward(c, 1, err); }
static cn_status conv2d_forward(cn_op_ctx *c, cn_error *err) { return conv_forward(c, 0, err); }
static void conv1d_backward(cn_op_ctx *c) { conv_backward(c, 1); }
static void conv2d_backward(cn_op_ctx *c) { conv_backward(c, 0); }

const cn_op_vtable cn_op_vt_conv1d = {CN_OP_CONV1D, "conv1d", 1, 1, 0,
                                      conv1d_infer, conv1d_forward, conv1d_backward};
const cn_op_vtable cn_op_vt_conv2d = {CN_OP_CONV2D, "conv2d", 1, 1, 0,
                                      conv2d_infer, conv2d_forward, conv2d_backward};
