/* summary.c: the per-node summary of a compiled model (cn_model_summarize):
 * output shapes, parameters per node, activation memory per image (forward and
 * training), forward FLOPs and the receptive field of every spatial map on the
 * input image (the CS231n notes' r / j / start recurrences, docs/summary.md). */
#include "convnet/summary.h"
#include "model_internal.h"

#include <string.h>

/* rf: one node's receptive field along (h, w). */
typedef struct rf {
    int valid;
    double r[2], j[2], start[2];
} rf;

/* rf_conv: a sliding window (k, stride s, pad p, dilation d) along each axis. */
static rf rf_conv(rf in, const int *k, const int *s, const int *p, const int *d)
{
    rf o = in;
    for (int a = 0; a < 2; a++) {
        double keff = (double)d[a] * (k[a] - 1) + 1;
        o.j[a] = in.j[a] * s[a];
        o.r[a] = in.r[a] + (keff - 1) * in.j[a];
        o.start[a] = in.start[a] + ((keff - 1) / 2 - p[a]) * in.j[a];
    }
    return o;
}

/* rf_transposed: the zero-stuffing view of conv_transpose2d / maxunpool2d:
 * upsample by s, then a stride-1 window of k_eff on the finer grid. */
static rf rf_transposed(rf in, const int *k, const int *s, const int *p, const int *d)
{
    rf o = in;
    for (int a = 0; a < 2; a++) {
        double keff = (double)d[a] * (k[a] - 1) + 1;
        o.j[a] = in.j[a] / s[a];
        o.r[a] = in.r[a] + (keff - 1) * o.j[a];
        o.start[a] = in.start[a] + (p[a] - (keff - 1) / 2) * o.j[a];
    }
    return o;
}

/* rf_upsample: resampling from size in_hw to out_hw (scale factors when given). */
static rf rf_upsample(rf in, const cn_attrs *a, const int *in_hw, const int *out_hw)
{
    rf o = in;
    int by_scale = a->scale[0] > 0 && a->scale[1] > 0;
    for (int x = 0; x < 2; x++) {
        if (a->mode == CN_UPSAMPLE_BILINEAR) o.r[x] = in.r[x] + in.j[x];
        if (a->mode == CN_UPSAMPLE_BILINEAR && a->align_corners) {
            o.j[x] = out_hw[x] > 1 ? in.j[x] * (in_hw[x] - 1) / (out_hw[x] - 1) : in.j[x];
            continue;
        }
        double f = by_scale ? a->scale[x] : (double)out_hw[x] / in_hw[x];
        o.j[x] = in.j[x] / f;
        o.start[x] = in.start[x] - in.j[x] / 2 + o.j[x] / 2;
    }
    return o;
}

/* is_spatial: 1 when shape (ndim, d) is an image map (c, h, w). */
static int is_spatial(const cn_shape *s)
{
    return s->ndim == 3;
}

/* node_rf: the receptive field of node i from its inputs' (rfs[0..i)). */
static rf node_rf(const cn_model *m, int i, const rf *rfs)
{
    const cn_node *nd = &m->nodes[i];
    const cn_attrs *a = &nd->a;
    rf none;
    memset(&none, 0, sizeof none);
    if (nd->op == CN_OP_INPUT) {
        if (!is_spatial(&nd->out)) return none;
        rf o;
        o.valid = 1;
        for (int x = 0; x < 2; x++) {
            o.r[x] = 1;
            o.j[x] = 1;
            o.start[x] = 0.5;
        }
        return o;
    }
    if (!is_spatial(&nd->out) || nd->n_in < 1) return none;
    for (int t = 0; t < nd->n_in; t++)
        if (!rfs[nd->in[t]].valid) return none;
    rf in = rfs[nd->in[0]];
    const cn_shape *s0 = &m->nodes[nd->in[0]].out;
    static const int ones[3] = {1, 1, 1};
    switch (nd->op) {
    case CN_OP_CONV2D:
    case CN_OP_MAXPOOL2D:
        return rf_conv(in, a->k, a->stride, a->pad, a->dil);
    case CN_OP_AVGPOOL2D:
        return rf_conv(in, a->k, a->stride, a->pad, ones);
    case CN_OP_ADAPTIVE_AVGPOOL2D: {
        /* a sliding window k = s = in / out when out divides in; otherwise the bins
         * differ in size and overlap: no single grid, rf_valid 0 */
        int kk[2], zero[2] = {0, 0};
        for (int x = 0; x < 2; x++) {
            if (s0->d[x + 1] % nd->out.d[x + 1] != 0) return none;
            kk[x] = s0->d[x + 1] / nd->out.d[x + 1];
        }
        return rf_conv(in, kk, kk, zero, ones);
    }
    case CN_OP_CONV_TRANSPOSE2D:
        return rf_transposed(in, a->k, a->stride, a->pad, a->dil);
    case CN_OP_MAXUNPOOL2D:
        return rf_transposed(in, a->k, a->stride, a->pad, ones);
    case CN_OP_UPSAMPLE: {
        int ihw[2] = {s0->d[1], s0->d[2]}, ohw[2] = {nd->out.d[1], nd->out.d[2]};
        return rf_upsample(in, a, ihw, ohw);
    }
    case CN_OP_PAD:
        in.start[0] -= a->pads[0] * in.j[0];
        in.start[1] -= a->pads[2] * in.j[1];
        return in;
    case CN_OP_SLICE:
        if (a->axis == 1 || a->axis == 2) in.start[a->axis - 1] += a->start * in.j[a->axis - 1];
        return in;
    case CN_OP_ADD:
    case CN_OP_MUL:
    case CN_OP_CONCAT:
        for (int t = 1; t < nd->n_in; t++)
            for (int x = 0; x < 2; x++)
                if (rfs[nd->in[t]].r[x] > in.r[x]) in.r[x] = rfs[nd->in[t]].r[x];
        return in;
    case CN_OP_BATCHNORM: case CN_OP_LAYERNORM: case CN_OP_GROUPNORM:
    case CN_OP_INSTANCENORM: case CN_OP_LRN: case CN_OP_DROPOUT: case CN_OP_DROPOUT2D:
    case CN_OP_DROP_PATH:
    case CN_OP_SIGMOID: case CN_OP_TANH: case CN_OP_RELU: case CN_OP_LEAKY_RELU:
    case CN_OP_PRELU: case CN_OP_ELU: case CN_OP_SELU: case CN_OP_RRELU:
    case CN_OP_SOFTPLUS: case CN_OP_GELU: case CN_OP_MAXOUT: case CN_OP_SOFTMAX:
    case CN_OP_LOG_SOFTMAX: case CN_OP_IDENTITY:
        return in;
    default:
        return none;
    }
}

/* add_size: *acc += v; 1 on overflow. */
static int add_size(size_t *acc, size_t v)
{
    if (*acc > SIZE_MAX - v) return 1;
    *acc += v;
    return 0;
}

void cn_summary_free(cn_summary *s)
{
    if (!s) return;
    cn_free(s->rows);
    memset(s, 0, sizeof *s);
}

cn_status cn_model_summarize(const cn_model *m, cn_summary *out, cn_error *err)
{
    if (!out) return cn_error_set(err, CN_ERR_ARG, "model: summary: NULL output");
    memset(out, 0, sizeof *out);
    if (!m) return cn_error_set(err, CN_ERR_ARG, "model: summary: NULL model");
    if (!m->compiled || !m->params)
        return cn_error_set(err, CN_ERR_ARG, "model: summary: the model is not compiled");
    int n = m->n_nodes;
    size_t cnt = (size_t)(n > 0 ? n : 1);
    cn_summary_row *rows = cn_calloc(cnt, sizeof *rows); // (n)
    rf *rfs = cn_calloc(cnt, sizeof *rfs);               // (n)
    int *grad = cn_calloc(cnt, sizeof *grad);            // (n) 1: gets a gradient in training
    if (!rows || !rfs || !grad) {
        cn_free(rows);
        cn_free(rfs);
        cn_free(grad);
        return cn_error_set(err, CN_ERR_NOMEM, "model: summary: out of memory for %d rows", n);
    }
    const cn_params *ps = m->params;
    for (int k = 0; k < ps->n; k++) {
        const cn_param *p = &ps->p[k];
        if (p->role == CN_PARAM_BUFFER || p->node < 0 || p->node >= n) continue;
        rows[p->node].params += p->numel;
    }
    size_t batch = (size_t)m->opts.batch;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        const cn_node *nd = &m->nodes[i];
        cn_summary_row *r = &rows[i];
        int g = nd->n_params > 0;
        for (int t = 0; t < nd->n_in && !g; t++) g = grad[nd->in[t]];
        grad[i] = g;
        r->node = i;
        r->name = nd->name;
        r->op = nd->op;
        r->ndim = nd->out.ndim;
        for (int d = 0; d < CN_MAX_DIMS; d++) r->shape[d] = d < nd->out.ndim ? nd->out.d[d] : 0;
        size_t y = nd->is_loss ? 0 : nd->numel * sizeof(cn_real);
        r->act_bytes_fwd = y;
        size_t train = y;
        if (g) bad |= add_size(&train, y);
        bad |= add_size(&train, (nd->saved_bytes + batch - 1) / batch);
        r->act_bytes_train = train;
        r->flops = nd->flops;
        rfs[i] = node_rf(m, i, rfs);
        r->rf_valid = rfs[i].valid;
        if (rfs[i].valid)
            for (int x = 0; x < 2; x++) {
                r->rf_size[x] = rfs[i].r[x];
                r->rf_jump[x] = rfs[i].j[x];
                r->rf_start[x] = rfs[i].start[x];
            }
        bad |= add_size(&out->params, r->params);
        bad |= add_size(&out->act_bytes_fwd, r->act_bytes_fwd);
        bad |= add_size(&out->act_bytes_train, r->act_bytes_train);
        out->flops += r->flops;
    }
    cn_free(rfs);
    cn_free(grad);
    if (bad) {
        cn_free(rows);
        memset(out, 0, sizeof *out);
        return cn_error_set(err, CN_ERR_RANGE, "model: summary: byte counts overflow size_t");
    }
    out->n = n;
    out->rows = rows;
    out->buffers = ps->buffer_count;
    out->batch = m->opts.batch;
    return CN_OK;
}
