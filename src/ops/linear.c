/* linear.c: the affine (fully connected) op of CS231n's affine_forward: each
 * sample is flattened to d values, y = x W^T + b with W (out, d) as PyTorch's
 * nn.Linear; optional DropConnect (attribute p > 0) masks W in training. */
#include "op.h"

#include <string.h>

/* linear_infer: x (any shape, flattened to d) -> (out). */
static cn_status linear_infer(cn_infer *inf, cn_error *err)
{
    const cn_attrs *a = inf->a;
    size_t d = cn_shape_numel(inf->in[0]);
    if (a->out < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "node '%s' (linear): out %d must be >= 1",
                            inf->node, a->out);
    size_t wn;
    if (d > (size_t)INT32_MAX || cn_mul_overflow(d, (size_t)a->out, &wn) || wn > (size_t)INT32_MAX)
        return cn_error_set(err, CN_ERR_RANGE, "node '%s' (linear): weight %d x %zu too large",
                            inf->node, a->out, d);
    inf->out.ndim = 1;
    inf->out.d[0] = a->out;
    int ws[2] = {a->out, (int)d};
    cn_infer_param(inf, "weight", CN_PARAM_WEIGHT, 2, ws, cn_init_of(CN_INIT_KAIMING_NORMAL));
    if (a->bias) cn_infer_param(inf, "bias", CN_PARAM_BIAS, 1, &a->out, cn_init_of(CN_INIT_ZEROS));
    if (a->p > 0) {
        inf->saved_bytes = wn * sizeof(cn_real); /* mask (out, d) */
        inf->ws_reals = 2 * wn;                  /* w_eff, dw_eff (out, d) each */
    }
    inf->flops = 2.0 * (double)d * a->out;
    return CN_OK;
}

/* weights: the weights this call computes with: W itself, or W * mask (drawn
 * from rng in training forward, or replayed from the saved mask). */
static const cn_real *weights(cn_op_ctx *c, size_t wn, int draw)
{
    if (!(c->a->p > 0) || !c->training) return c->param[0];
    cn_real *w_eff = c->ws; /* (out, d) */
    cn_dropconnect_forward(c->a->p, 1, draw ? c->rng : NULL, wn, c->param[0], w_eff,
                           (cn_real *)c->saved);
    return w_eff;
}

static cn_status linear_forward(cn_op_ctx *c, cn_error *err)
{
    (void)err;
    int d = (int)cn_shape_numel(c->in[0]), out = c->a->out;
    const cn_real *w = weights(c, (size_t)d * out, 1); /* (out, d) */
    const cn_real *x = c->x[0];                           /* (n, d) */
    cn_real *y = c->y;                                    /* (n, out) */
    cn_gemm(CN_NO_TRANS, CN_TRANS, c->n, out, d, 1, x, d, w, d, 0, y, out);
    if (c->a->bias) {
        const cn_real *b = c->param[1];
        for (int i = 0; i < c->n; i++)
            for (int j = 0; j < out; j++) y[(size_t)i * out + j] += b[j];
    }
    return CN_OK;
}

static void linear_backward(cn_op_ctx *c)
{
    int d = (int)cn_shape_numel(c->in[0]), out = c->a->out;
    size_t wn = (size_t)d * out;
    int dc = c->a->p > 0 && c->training;
    const cn_real *w = weights(c, wn, 0); /* (out, d) */
    const cn_real *dy = c->dy;            /* (n, out) */
    if (c->dx[0]) cn_gemm(CN_NO_TRANS, CN_NO_TRANS, c->n, d, out, 1, dy, out, w, d, 0, c->dx[0], d);
    if (c->grad[0]) {
        if (dc) {
            cn_real *dw_eff = c->ws + wn; /* (out, d) */
            cn_gemm(CN_TRANS, CN_NO_TRANS, out, d, c->n, 1, dy, out, c->x[0], d, 0, dw_eff, d);
            cn_dropconnect_backward(1, wn, dw_eff, (const cn_real *)c->saved, c->grad[0]);
        } else {
            cn_gemm(CN_TRANS, CN_NO_TRANS, out, d, c->n, 1, dy, out, c->x[0], d, 1, c->grad[0], d);
        }
    }
    if (c->a->bias && c->grad[1]) {
        for (int j = 0; j < out; j++) {
            double s = 0;
            for (int i = 0; i < c->n; i++) s += (double)dy[(size_t)i * out + j];
            c->grad[1][j] += (cn_real)s;
        }
    }
}

const cn_op_vtable cn_op_vt_linear = {CN_OP_LINEAR, "linear", 1, 1, 0,
                                      linear_infer, linear_forward, linear_backward};
