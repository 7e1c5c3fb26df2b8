/* tensor.c: cn_tensor creation, reshaping and printing of shapes. */
#include "convnet/core.h"

#include <string.h>

static cn_status shape_numel(int ndim, const int *shape, size_t *numel, cn_error *err)
{
    if (ndim < 1 || ndim > CN_MAX_DIMS)
        return cn_error_set(err, CN_ERR_SHAPE, "tensor: rank %d outside 1..%d", ndim,
                            CN_MAX_DIMS);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return cn_error_set(err, CN_ERR_SHAPE, "tensor: dimension %d is negative (%d)", i,
                                shape[i]);
        if (cn_mul_overflow(n, (size_t)shape[i], &n))
            return cn_error_set(err, CN_ERR_RANGE, "tensor: element count overflows at dim %d",
                                i);
    }
    size_t bytes;
    if (cn_mul_overflow(n, sizeof(cn_real), &bytes))
        return cn_error_set(err, CN_ERR_RANGE, "tensor: byte size overflows");
    *numel = n;
    return CN_OK;
}

cn_tensor *cn_tensor_new(int ndim, const int *shape, cn_error *err)
{
    size_t numel;
    if (!shape) {
        cn_error_set(err, CN_ERR_ARG, "tensor: shape is NULL");
        return NULL;
    }
    if (shape_numel(ndim, shape, &numel, err) != CN_OK) return NULL;
    cn_tensor *t = cn_calloc(1, sizeof *t);
    if (!t) {
        cn_error_set(err, CN_ERR_NOMEM, "tensor: out of memory");
        return NULL;
    }
    t->data = cn_aligned_alloc(numel * sizeof(cn_real));
    if (!t->data) {
        cn_free(t);
        cn_error_set(err, CN_ERR_NOMEM, "tensor: out of memory for %zu elements", numel);
        return NULL;
    }
    memset(t->data, 0, numel * sizeof(cn_real));
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    return t;
}

cn_tensor *cn_tensor_new4(int n, int c, int h, int w, cn_error *err)
{
    int shape[4] = {n, c, h, w};
    return cn_tensor_new(4, shape, err);
}

void cn_tensor_free(cn_tensor *t)
{
    if (!t) return;
    cn_aligned_free(t->data);
    cn_free(t);
}

cn_status cn_tensor_reshape(cn_tensor *t, int ndim, const int *shape, cn_error *err)
{
    CN_ASSERT(t != NULL && shape != NULL);
    size_t numel;
    cn_status s = shape_numel(ndim, shape, &numel, err);
    if (s != CN_OK) return s;
    if (numel != t->numel) {
        char a[128];
        cn_tensor_shape_str(t, a, sizeof a);
        cn_tensor tmp = {0};
        tmp.ndim = ndim;
        for (int i = 0; i < ndim; i++) tmp.shape[i] = shape[i];
        char b[128];
        cn_tensor_shape_str(&tmp, b, sizeof b);
        return cn_error_set(err, CN_ERR_SHAPE,
                            "tensor: cannot reshape %s (%zu elements) to %s (%zu elements)", a,
                            t->numel, b, numel);
    }
    t->ndim = ndim;
    for (int i = 0; i < CN_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 0;
    return CN_OK;
}

char *cn_tensor_shape_str(const cn_tensor *t, char *buf, size_t size)
{
    if (!buf || size == 0) return buf;
    size_t used = 0;
    buf[0] = '\0';
    int n = snprintf(buf, size, "(");
    used = n > 0 ? (size_t)n : 0;
    for (int i = 0; t && i < t->ndim && used < size; i++) {
        n = snprintf(buf + used, size - used, i ? ", %d" : "%d", t->shape[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
    if (used < size) snprintf(buf + used, size - used, ")");
    return buf;
}
