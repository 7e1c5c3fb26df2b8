/* norm.c: the normalisation ops over the pure kernels of norm_kernels.h:
 * batchnorm (BatchNorm1d / 2d / 3d: statistics per channel over batch and
 * positions, running statistics), layernorm (LayerNorm over the whole
 * per-sample shape), groupnorm, instancenorm (optional running statistics) and
 * lrn (LocalResponseNorm across channels). Per-sample inputs are (c, ...): c is
 * axis 0 and inner the product of the dims after it. docs/ops.md lists
 * shapes, attributes and tests. */
#include "op.h"

#include <math.h>

/* ------------------------------------------------------------------ shared */

/* one_plus_rank: CN_ERR_SHAPE unless input 0 has at least one dim per sample. */
static cn_status one_plus_rank(const cn_infer *inf, cn_error *err)
{
    return cn_infer_rank(inf, 0, 1, CN_MAX_DIMS, err);
}

/* norm_affine: declare weight (gamma, ones) and bias (beta, zeros) of shape
 * (ndim, shape) when the node is affine. */
static void norm_affine(cn_infer *inf, int ndim, const int *shape)
{
    if (!inf->a->affine) return;
    cn_infer_param(inf, "weight", CN_PARAM_NORM, ndim, shape, cn_init_of(CN_INIT_ONES));
    cn_infer_param(inf, "bias", CN_PARAM_NORM, ndim, shape, cn_init_of(CN_INIT_ZEROS));
}

/* norm_running: declare running_mean (0) and running_var (1), each (c), when the
 * node tracks statistics. */
static void norm_running(cn_infer *inf, int c)
{
    if (!inf->a->track_stats) return;
    cn_infer_buffer(inf, "running_mean", 1, &c, 0.0);
    cn_infer_buffer(inf, "running_var", 1, &c, 1.0);
}

/* saved_reals: count reals in bytes for the saved area, with overflow checks. */
static cn_status saved_reals(cn_infer *inf, const char *op, size_t count, cn_error *err)
{
    size_t b;
    if (count == SIZE_MAX || cn_mul_overflow(count, sizeof(cn_real), &b))
        return cn_error_set(err, CN_ERR_RANGE, "node '%s' (%s): saved statistics too large",
                            inf->node, op);
    inf->saved_bytes = b;
    return CN_OK;
}

/* kernel_fail: prefix a kernel's error with the node and op; returns st (even
 * when err is NULL). */
static cn_status kernel_fail(cn_status st, cn_error *err, const char *node, const char *op)
{
    cn_error_prefix(err, "node '%s' (%s): ", node, op);
    return st;
}

/* gamma_of / beta_of / dgamma_of / dbeta_of: the affine parameters or NULL. */
static const cn_real *gamma_of(const cn_op_ctx *c) { return c->a->affine ? c->param[0] : NULL; }
static const cn_real *beta_of(const cn_op_ctx *c) { return c->a->affine ? c->param[1] : NULL; }
static cn_real *dgamma_of(const cn_op_ctx *c) { return c->a->affine ? c->grad[0] : NULL; }
static cn_real *dbeta_of(const cn_op_ctx *c) { return c->a->affine ? c->grad[1] : NULL; }

/* ------------------------------------------------------------------ batchnorm */

/* batchnorm saved area: save_mean (c), save_invstd (c), then one real holding 1
 * when forward used batch statistics (training, or no running statistics). */

static cn_status batchnorm_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = one_plus_rank(inf, err);
    int inner;
    if (st == CN_OK) st = cn_infer_inner(inf, 0, &inner, err);
    if (st != CN_OK) return st;
    int c = inf->in[0]->d[0];
    inf->out = *inf->in[0];
    norm_affine(inf, 1, &c);
    norm_running(inf, c);
    st = saved_reals(inf, "batchnorm", 2 * (size_t)c + 1, err);
    /* mean, variance, normalise, affine: about 8 per value */
    inf->flops = 8.0 * (double)c * inner;
    return st;
}

static cn_status batchnorm_forward(cn_op_ctx *c, cn_error *err)
{
    int ch = c->in[0]->d[0], inner = (int)cn_ctx_inner(c, 0);
    cn_real *save_mean = (cn_real *)c->saved; /* (c) */
    cn_real *save_invstd = save_mean + ch;    /* (c) */
    cn_real *rm = c->a->track_stats ? c->buffer[0] : NULL, *rv = c->a->track_stats ? c->buffer[1] : NULL;
    if (c->fuse_relu && !c->training && rm) { /* batch norm + ReLU in one pass */
        cn_status st = cn_batchnorm_eval_relu(c->n, ch, inner, c->x[0], gamma_of(c), beta_of(c),
                                              c->y, rm, rv, c->a->eps, save_mean, save_invstd,
                                              err);
        if (st != CN_OK) return kernel_fail(st, err, c->node, "batchnorm");
        save_invstd[ch] = 0;
        return CN_OK;
    }
    cn_status st = cn_batchnorm_forward(c->n, ch, inner, c->x[0], gamma_of(c), beta_of(c), c->y,
                                        c->training, c->a->momentum, c->a->eps, rm, rv,
                                        save_mean, save_invstd, err);
    if (st != CN_OK) return kernel_fail(st, err, c->node, "batchnorm");
    save_invstd[ch] = (cn_real)(c->training || !rm);
    return CN_OK;
}

static void batchnorm_backward(cn_op_ctx *c)
{
    int ch = c->in[0]->d[0], inner = (int)cn_ctx_inner(c, 0);
    const cn_real *save_mean = (const cn_real *)c->saved; /* (c) */
    const cn_real *save_invstd = save_mean + ch;          /* (c) */
    int batch_stats = save_invstd[ch] != 0;
    cn_batchnorm_backward(c->n, ch, inner, batch_stats, c->x[0], gamma_of(c), save_mean,
                          save_invstd, c->dy, c->dx[0], dgamma_of(c), dbeta_of(c));
}

/* ------------------------------------------------------------------ layernorm */

/* layernorm saved area: save_mean (n), save_invstd (n): one row per sample. */

static cn_status layernorm_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = one_plus_rank(inf, err);
    if (st != CN_OK) return st;
    size_t d = cn_shape_numel(inf->in[0]);
    if (d > (size_t)INT32_MAX) {
        char s[96];
        return cn_error_set(err, CN_ERR_RANGE, "node '%s' (layernorm): input %s too large",
                            inf->node, cn_shape_str(inf->in[0], s, sizeof s));
    }
    inf->out = *inf->in[0];
    norm_affine(inf, inf->in[0]->ndim, inf->in[0]->d);
    st = saved_reals(inf, "layernorm", 2 * (size_t)inf->batch, err);
    inf->flops = 8.0 * (double)d;
    return st;
}

static cn_status layernorm_forward(cn_op_ctx *c, cn_error *err)
{
    int d = (int)cn_shape_numel(c->in[0]);
    cn_real *save_mean = (cn_real *)c->saved; /* (n) */
    cn_real *save_invstd = save_mean + c->n;  /* (n) */
    cn_status st = cn_layernorm_forward(c->n, d, c->x[0], gamma_of(c), beta_of(c), c->a->eps,
                                        c->y, save_mean, save_invstd, err);
    if (st != CN_OK) return kernel_fail(st, err, c->node, "layernorm");
    return CN_OK;
}

static void layernorm_backward(cn_op_ctx *c)
{
    int d = (int)cn_shape_numel(c->in[0]);
    const cn_real *save_mean = (const cn_real *)c->saved; /* (n) */
    const cn_real *save_invstd = save_mean + c->n;        /* (n) */
    cn_layernorm_backward(c->n, d, c->x[0], gamma_of(c), save_mean, save_invstd, c->dy,
                          c->dx[0], dgamma_of(c), dbeta_of(c));
}

/* ------------------------------------------------------------------ groupnorm */

/* groupnorm saved area: save_mean (n, groups), save_invstd (n, groups). */

static cn_status groupnorm_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = one_plus_rank(inf, err);
    int inner;
    if (st == CN_OK) st = cn_infer_inner(inf, 0, &inner, err);
    if (st != CN_OK) return st;
    int c = inf->in[0]->d[0], g = inf->a->groups;
    if (g < 1 || c % g != 0) {
        char s[96];
        return cn_error_set(err, CN_ERR_SHAPE,
                            "node '%s' (groupnorm): groups %d does not divide the %d channels "
                            "of input %s",
                            inf->node, g, c, cn_shape_str(inf->in[0], s, sizeof s));
    }
    if ((size_t)inf->batch * (size_t)g > (size_t)INT32_MAX)
        return cn_error_set(err, CN_ERR_RANGE,
                            "node '%s' (groupnorm): batch %d x groups %d too large", inf->node,
                            inf->batch, g);
    inf->out = *inf->in[0];
    norm_affine(inf, 1, &c);
    st = saved_reals(inf, "groupnorm", 2 * (size_t)inf->batch * (size_t)g, err);
    inf->flops = 8.0 * (double)c * inner;
    return st;
}

static cn_status groupnorm_forward(cn_op_ctx *c, cn_error *err)
{
    int ch = c->in[0]->d[0], inner = (int)cn_ctx_inner(c, 0), g = c->a->groups;
    cn_real *save_mean = (cn_real *)c->saved;           /* (n, groups) */
    cn_real *save_invstd = save_mean + (size_t)c->n * g; /* (n, groups) */
    cn_status st = cn_groupnorm_forward(c->n, ch, inner, g, c->x[0], gamma_of(c), beta_of(c),
                                        c->a->eps, c->y, save_mean, save_invstd, err);
    if (st != CN_OK) return kernel_fail(st, err, c->node, "groupnorm");
    return CN_OK;
}

static void groupnorm_backward(cn_op_ctx *c)
{
    int ch = c->in[0]->d[0], inner = (int)cn_ctx_inner(c, 0), g = c->a->groups;
    const cn_real *save_mean = (const cn_real *)c->saved;     /* (n, groups) */
    const cn_real *save_invstd = save_mean + (size_t)c->n * g; /* (n, groups) */
    cn_groupnorm_backward(c->n, ch, inner, g, c->x[0], gamma_of(c), save_mean, save_invstd,
                          c->dy, c->dx[0], dgamma_of(c), dbeta_of(c));
}

/* ------------------------------------------------------------------ instancenorm */

/* instancenorm saved area: save_mean (n, c), save_invstd (n, c), then one real
 * holding 1 when forward used instance statistics (training, or no running
 * statistics). */

static cn_status instancenorm_infer(cn_infer *inf, cn_error *err)
{
    cn_status st = one_plus_rank(inf, err);
    int inner;
    if (st == CN_OK) st = cn_infer_inner(inf, 0, &inner, err);
    if (st != CN_OK) return st;
    int c = inf->in[0]->d[0];
    if (inner < 2) {
        /* instance statistics over one value are undefined: every training forward
         * would fail (PyTorch: "expected more than 1 spatial element") */
        char s[96];
        return cn_error_set(err, CN_ERR_SHAPE,
                            "node '%s' (instancenorm): input %s has %d value per channel; "
                            "instance statistics need more than 1",
                            inf->node, cn_shape_str(inf->in[0], s, sizeof s), inner);
    }
    inf->out = *inf->in[0];
    norm_affine(inf, 1, &c);
    norm_running(inf, c);
    st = saved_reals(inf, "instancenorm", cn_mul_size(2 * (size_t)inf->batch, (size_t)c) + 1,
                     err);
    inf->flops = 8.0 * (double)c * inner;
    return st;
}

static cn_status instancenorm_forward(cn_op_ctx *c, cn_error *err)
{
    int ch = c->in[0]->d[0], inner = (int)cn_ctx_inner(c, 0);
    size_t nc = (size_t)c->n * ch;
    cn_real *save_mean = (cn_real *)c->saved; /* (n, c) */
    cn_real *save_invstd = save_mean + nc;    /* (n, c) */
    cn_real *rm = c->a->track_stats ? c->buffer[0] : NULL, *rv = c->a->track_stats ? c->buffer[1] : NULL;
    cn_status st = cn_instancenorm_forward(c->n, ch, inner, c->x[0], gamma_of(c), beta_of(c),
                                           c->y, c->training, c->a->momentum, c->a->eps, rm, rv,
                                           save_mean, save_invstd, err);
    if (st != CN_OK) return kernel_fail(st, err, c->node, "instancenorm");
    save_invstd[nc] = (cn_real)(c->training || !rm);
    return CN_OK;
}

static void instancenorm_backward(cn_op_ctx *c)
{
    int ch = c->in[0]->d[0], inner = (int)cn_ctx_inner(c, 0);
    size_t nc = (size_t)c->n * ch;
    const cn_real *save_mean = (const cn_real *)c->saved; /* (n, c) */
    const cn_real *save_invstd = save_mean + nc;          /* (n, c) */
    int batch_stats = save_invstd[nc] != 0;
    cn_instancenorm_backward(c->n, ch, inner, batch_stats, c->x[0], gamma_of(c), save_mean,
                             save_invstd, c->dy, c->dx[0], dgamma_of(c), dbeta_of(c));
}

/* ------------------------------------------------------------------ lrn */

/* lrn saved area: scale (n, c, inner), the per-value denominators' base. */

static cn_status lrn_infer(cn_infer *inf, cn_error *err)
{
    const cn_attrs *a = inf->a;
    cn_status st = one_plus_rank(inf, err);
    int inner;
    if (st == CN_OK) st = cn_infer_inner(inf, 0, &inner, err);
    if (st != CN_OK) return st;
    if (a->size < 1)
        return cn_error_set(err, CN_ERR_ARG, "node '%s' (lrn): size %d must be >= 1", inf->node,
                            a->size);
    if (!isfinite(a->alpha) || !isfinite(a->beta) || !isfinite(a->lrn_k))
        return cn_error_set(err, CN_ERR_ARG,
                            "node '%s' (lrn): alpha %g, beta %g and lrn_k %g must be finite",
                            inf->node, a->alpha, a->beta, a->lrn_k);
    int c = inf->in[0]->d[0];
    if ((size_t)inf->batch * (size_t)c > (size_t)INT32_MAX)
        return cn_error_set(err, CN_ERR_RANGE, "node '%s' (lrn): batch %d x channels %d too large",
                            inf->node, inf->batch, c);
    inf->out = *inf->in[0];
    st = saved_reals(inf, "lrn", cn_mul_size((size_t)inf->batch, cn_shape_numel(inf->in[0])),
                     err);
    /* the window's sum of squares (2 per channel in it), then the power and product */
    inf->flops = (2.0 * a->size + 6.0) * (double)c * inner;
    return st;
}

static cn_status lrn_forward(cn_op_ctx *c, cn_error *err)
{
    const cn_attrs *a = c->a;
    int ch = c->in[0]->d[0], inner = (int)cn_ctx_inner(c, 0);
    cn_real *scale = (cn_real *)c->saved; /* (n, c, inner) */
    cn_status st = cn_lrn_forward(c->n, ch, inner, a->size, a->alpha, a->beta, a->lrn_k, c->x[0],
                                  c->y, scale, err);
    if (st != CN_OK) return kernel_fail(st, err, c->node, "lrn");
    return CN_OK;
}

static void lrn_backward(cn_op_ctx *c)
{
    if (!c->dx[0]) return;
    const cn_attrs *a = c->a;
    int ch = c->in[0]->d[0], inner = (int)cn_ctx_inner(c, 0);
    const cn_real *scale = (const cn_real *)c->saved; /* (n, c, inner) */
    cn_lrn_backward(c->n, ch, inner, a->size, a->alpha, a->beta, c->x[0], c->y, scale, c->dy,
                    c->dx[0]);
}

/* ------------------------------------------------------------------ vtables */

const cn_op_vtable cn_op_vt_batchnorm = {CN_OP_BATCHNORM, "batchnorm", 1, 1, 0,
                                         batchnorm_infer, batchnorm_forward,
                                         batchnorm_backward};
const cn_op_vtable cn_op_vt_layernorm = {CN_OP_LAYERNORM, "layernorm", 1, 1, 0,
                                         layernorm_infer, layernorm_forward,
                                         layernorm_backward};
const cn_op_vtable cn_op_vt_groupnorm = {CN_OP_GROUPNORM, "groupnorm", 1, 1, 0,
                                         groupnorm_infer, groupnorm_forward,
                                         groupnorm_backward};
const cn_op_vtable cn_op_vt_instancenorm = {CN_OP_INSTANCENORM, "instancenorm", 1, 1, 0,
                                            instancenorm_infer, instancenorm_forward,
                                            instancenorm_backward};
const cn_op_vtable cn_op_vt_lrn = {CN_OP_LRN, "lrn", 1, 1, 0, lrn_infer, lrn_forward, lrn_backward};
