/* common.c: helpers shared by the ops: shapes (element counts, printing,
 * comparison), declaring parameters and buffers in infer, and the shape checks
 * most ops start with. */
#include "op.h"

#include <stdio.h>
#include <string.h>

size_t cn_mul_size(size_t a, size_t b)
{
    size_t r;
    return cn_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}

size_t cn_shape_numel(const cn_shape *s)
{
    size_t n = 1;
    for (int i = 0; i < s->ndim; i++) n = cn_mul_size(n, (size_t)(s->d[i] > 0 ? s->d[i] : 0));
    return n;
}

char *cn_shape_str(const cn_shape *s, char *buf, size_t size)
{
    if (!buf || size == 0) return buf;
    size_t k = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < s->ndim && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%d", i ? ", " : "", s->d[i]);
    if (k < size) snprintf(buf + k, size - k, ")");
    return buf;
}

int cn_shape_eq(const cn_shape *a, const cn_shape *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->d[i] != b->d[i]) return 0;
    return 1;
}

cn_init cn_init_of(cn_init_kind k) { return cn_init_make(k); }

/* decl: fill one declaration. */
static void decl(cn_param_decl *d, const char *what, cn_param_role role, int ndim,
                 const int *shape, cn_init init)
{
    CN_ASSERT(ndim >= 0 && ndim <= CN_MAX_DIMS);
    memset(d, 0, sizeof *d);
    d->what = what;
    d->role = role;
    d->ndim = ndim;
    for (int i = 0; i < ndim; i++) d->shape[i] = shape[i];
    d->init = init;
}

void cn_infer_param(cn_infer *inf, const char *what, cn_param_role role, int ndim,
                    const int *shape, cn_init init)
{
    CN_ASSERT(inf->n_params < CN_OP_MAX_PARAMS);
    decl(&inf->params[inf->n_params++], what, role, ndim, shape, init);
}

void cn_infer_buffer(cn_infer *inf, const char *what, int ndim, const int *shape, double value)
{
    CN_ASSERT(inf->n_buffers < CN_OP_MAX_PARAMS);
    cn_init init = cn_init_make(CN_INIT_CONSTANT);
    init.value = value;
    decl(&inf->buffers[inf->n_buffers++], what, CN_PARAM_BUFFER, ndim, shape, init);
}

cn_status cn_infer_same_shape(const cn_infer *inf, cn_error *err)
{
    for (int j = 1; j < inf->n_in; j++) {
        if (!cn_shape_eq(inf->in[0], inf->in[j])) {
            char a[96], b[96];
            return cn_error_set(err, CN_ERR_SHAPE,
                                "node '%s': input %d has shape %s but input 0 has %s",
                                inf->node, j, cn_shape_str(inf->in[j], a, sizeof a),
                                cn_shape_str(inf->in[0], b, sizeof b));
        }
    }
    return CN_OK;
}

cn_status cn_infer_rank(const cn_infer *inf, int j, int lo, int hi, cn_error *err)
{
    int r = inf->in[j]->ndim;
    if (r < lo || r > hi) {
        char a[96];
        if (lo == hi)
            return cn_error_set(err, CN_ERR_SHAPE,
                                "node '%s': input %d has shape %s, expected %d dims per sample",
                                inf->node, j, cn_shape_str(inf->in[j], a, sizeof a), lo);
        return cn_error_set(err, CN_ERR_SHAPE,
                            "node '%s': input %d has shape %s, expected %d to %d dims per "
                            "sample",
                            inf->node, j, cn_shape_str(inf->in[j], a, sizeof a), lo, hi);
    }
    return CN_OK;
}

cn_status cn_infer_inner(const cn_infer *inf, int j, int *inner, cn_error *err)
{
    size_t p = 1;
    for (int i = 1; i < inf->in[j]->ndim; i++) p = cn_mul_size(p, (size_t)inf->in[j]->d[i]);
    if (p > (size_t)INT32_MAX) {
        char a[96];
        return cn_error_set(err, CN_ERR_RANGE, "node '%s': input %d shape %s too large",
                            inf->node, j, cn_shape_str(inf->in[j], a, sizeof a));
    }
    *inner = (int)p;
    return CN_OK;
}

size_t cn_ctx_inner(const cn_op_ctx *c, int j)
{
    size_t p = 1;
    for (int i = 1; i < c->in[j]->ndim; i++) p *= (size_t)c->in[j]->d[i];
    return p;
}
