/* pool.c: the pooling ops over the pure kernels: maxpool2d (indices saved for
 * backward and for maxunpool2d), avgpool2d, adaptive_avgpool2d (PyTorch's
 * AdaptiveAvgPool2d to the output size size_hw), and global average / max
 * pooling ((c, ...) -> (c) over every position). */
#include "op.h"

#include <stdint.h>

/* pool_geom: the kernel geometry of node attributes a on input (c, h, w). */
static cn_status pool_geom(const char *node, cn_pool_kind kind, const cn_attrs *a,
                           const cn_shape *in, int n, cn_pool2d_geom *g, cn_error *err)
{
    cn_pool2d_geom z = {0};
    *g = z;
    g->kind = kind;
    g->n = n;
    g->c = in->d[0];
    g->h = in->d[1];
    g->w = in->d[2];
    g->kh = a->k[0];
    g->kw = a->k[1];
    g->stride_h = a->stride[0];
    g->stride_w = a->stride[1];
    g->pad_h = a->pad[0];
    g->pad_w = a->pad[1];
    g->dil_h = kind == CN_POOL_MAX ? a->dil[0] : 1;
    g->dil_w = kind == CN_POOL_MAX ? a->dil[1] : 1;
    g->ceil_mode = a->ceil_mode;
    g->count_include_pad = a->count_include_pad;
    if (kind == CN_POOL_AVG && (a->dil[0] != 1 || a->dil[1] != 1))
        return cn_error_set(err, CN_ERR_ARG, "node '%s' (avgpool2d): dil must be 1", node);
    cn_status st = cn_pool2d_geom_init(g, err);
    if (st != CN_OK) return cn_error_prefix(err, "node '%s': ", node);
    return CN_OK;
}

static cn_status pool_infer(cn_infer *inf, cn_pool_kind kind, cn_error *err)
{
    cn_status st = cn_infer_rank(inf, 0, 3, 3, err);
    if (st != CN_OK) return st;
    cn_pool2d_geom g;
    st = pool_geom(inf->node, kind, inf->a, inf->in[0], inf->batch, &g, err);
    if (st != CN_OK) return st;
    inf->out.ndim = 3;
    inf->out.d[0] = g.c;
    inf->out.d[1] = g.h_out;
    inf->out.d[2] = g.w_out;
    size_t outs = (size_t)inf->batch * g.c * g.h_out * g.w_out;
    if (kind == CN_POOL_MAX) inf->saved_bytes = outs * sizeof(int32_t); /* idx (n, c, ho, wo) */
    inf->flops = (double)g.c * g.h_out * g.w_out * g.kh * g.kw;
    return CN_OK;
}

static cn_status maxpool_infer(cn_infer *inf, cn_error *err) { return pool_infer(inf, CN_POOL_MAX, err); }
static cn_status avgpool_infer(cn_infer *inf, cn_error *err) { return pool_infer(inf, CN_POOL_AVG, err); }

static cn_status maxpool_forward(cn_op_ctx *c, cn_error *err)
{
    cn_pool2d_geom g;
    cn_status st = pool_geom(c->node, CN_POOL_MAX, c->a, c->in[0], c->n, &g, err);
    if (st != CN_OK) return st;
    cn_maxpool2d_forward(&g, c->x[0], c->y, (int32_t *)c->saved);
    return CN_OK;
}
static void maxpool_backward(cn_op_ctx *c)
{
    if (!c->dx[0]) return;
    cn_pool2d_geom g;
    cn_status st = pool_geom(c->node, CN_POOL_MAX, c->a, c->in[0], c->n, &g, NULL);
    CN_ASSERT(st == CN_OK);
    cn_maxpool2d_backward(&g, c->dy, (const int32_t *)c->saved, c->dx[0]);
}

static cn_status avgpool_forward(cn_op_ctx *c, cn_error *err)
{
    cn_pool2d_geom g;
    cn_status st = pool_geom(c->node, CN_POOL_AVG, c->a, c->in[0], c->n, &g, err);
    if (st != CN_OK) return st;
    cn_avgpool2d_forward(&g, c->x[0], c->y);
    return CN_OK;
}
static void avgpool_backward(cn_op_ctx *c)
{
    if (!c->dx[0]) return;
    cn_pool2d_geom g;
    cn_status st = pool_geom(c->node, CN_POOL_AVG, c->a, c->in[0], c->n, &g, NULL);
    CN_ASSERT(st == CN_OK);
    cn_avgpool2d_backward(&g, c->dy, c->dx[0]);
}

/* global pooling: (c, ...) with at least one dim after the channels. */
static cn_status global_infer(cn_infer *inf, int max, cn_error *err)
{
    cn_status st = cn_infer_rank(inf, 0, 2, CN_MAX_DIMS - 1, err);
    if (st != CN_OK) return st;
    int inner;
    st = cn_infer_inner(inf, 0, &inner, err);
    if (st != CN_OK) return st;
    inf->out.ndim = 1;
    inf->out.d[0] = inf->in[0]->d[0];
    if (max) inf->saved_bytes = (size_t)inf->batch * inf->in[0]->d[0] * sizeof(int32_t);
    inf->flops = (double)inf->in[0]->d[0] * inner;
    return CN_OK;
}
static cn_status gavg_infer(cn_infer *inf, cn_error *err) { return global_infer(inf, 0, err); }
static cn_status gmax_infer(cn_infer *inf, cn_error *err) { return global_infer(inf, 1, err); }

static cn_status gavg_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    cn_global_avgpool_forward((size_t)c->n * c->in[0]->d[0], cn_ctx_inner(c, 0), c->x[0], c->y);
    return CN_OK;
}
static void gavg_backward(cn_op_ctx *c)
{
    if (c->dx[0])
        cn_global_avgpool_backward((size_t)c->n * c->in[0]->d[0], cn_ctx_inner(c, 0), c->dy,
                                   c->dx[0]);
}
static cn_status gmax_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    cn_global_maxpool_forward((size_t)c->n * c->in[0]->d[0], cn_ctx_inner(c, 0), c->x[0], c->y,
                              (int32_t *)c->saved);
    return CN_OK;
}
static void gmax_backward(cn_op_ctx *c)
{
    if (c->dx[0])
        cn_global_maxpool_backward((size_t)c->n * c->in[0]->d[0], cn_ctx_inner(c, 0), c->dy,
                                   (const int32_t *)c->saved, c->dx[0]);
}

/* adaptive average pooling: (c, h, w) -> (c, size_hw[0], size_hw[1]). */
static cn_status adaptive_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = cn_infer_rank(inf, 0, 3, 3, err);
    if (st != CN_OK) return st;
    const int *o = inf->a->size_hw;
    if (o[0] < 1 || o[1] < 1)
        return cn_error_set(err, CN_ERR_ARG,
                            "node '%s' (adaptive_avgpool2d): output size (%d, %d) must be >= 1 "
                            "(attribute size_hw; text key out)",
                            inf->node, o[0], o[1]);
    const cn_shape *in = inf->in[0];
    inf->out.ndim = 3;
    inf->out.d[0] = in->d[0];
    inf->out.d[1] = o[0];
    inf->out.d[2] = o[1];
    /* one add per input visit: the bins' heights times their widths, summed */
    double rows = 0, cols = 0;
    for (int i = 0; i < o[0]; i++)
        rows += (double)(((long long)(i + 1) * in->d[1] + o[0] - 1) / o[0] -
                         ((long long)i * in->d[1]) / o[0]);
    for (int j = 0; j < o[1]; j++)
        cols += (double)(((long long)(j + 1) * in->d[2] + o[1] - 1) / o[1] -
                         ((long long)j * in->d[2]) / o[1]);
    inf->flops = (double)in->d[0] * rows * cols;
    return CN_OK;
}

static cn_status adaptive_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    const cn_shape *in = c->in[0];
    cn_adaptive_avgpool2d_forward((size_t)c->n * in->d[0], in->d[1], in->d[2], c->out->d[1],
                                  c->out->d[2], c->x[0], c->y);
    return CN_OK;
}
static void adaptive_backward(cn_op_ctx *c)
{
    if (!c->dx[0]) return;
    const cn_shape *in = c->in[0];
    cn_adaptive_avgpool2d_backward((size_t)c->n * in->d[0], in->d[1], in->d[2], c->out->d[1],
                                   c->out->d[2], c->dy, c->dx[0]);
}

const cn_op_vtable cn_op_vt_maxpool2d = {CN_OP_MAXPOOL2D, "maxpool2d", 1, 1, 0, maxpool_infer,
                                         maxpool_forward, maxpool_backward};
const cn_op_vtable cn_op_vt_avgpool2d = {CN_OP_AVGPOOL2D, "avgpool2d", 1, 1, 0, avgpool_infer,
                                         avgpool_forward, avgpool_backward};
const cn_op_vtable cn_op_vt_global_avgpool = {CN_OP_GLOBAL_AVGPOOL, "global_avgpool", 1, 1, 0,
                                              gavg_infer, gavg_forward, gavg_backward};
const cn_op_vtable cn_op_vt_global_maxpool = {CN_OP_GLOBAL_MAXPOOL, "global_maxpool", 1, 1, 0,
                                              gmax_infer, gmax_forward, gmax_backward};
const cn_op_vtable cn_op_vt_adaptive_avgpool2d = {CN_OP_ADAPTIVE_AVGPOOL2D, "adaptive_avgpool2d",
                                                  1, 1, 0, adaptive_infer, adaptive_forward,
                                                  adaptive_backward};
