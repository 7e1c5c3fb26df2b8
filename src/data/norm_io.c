/* norm_io.c: saving fitted normalisation statistics (cn_norm) into a safetensors
 * writer and loading them back, so a model file carries its preprocessing. */
#include "convnet/data.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { NAME_MAX_LEN = 256 };

static cn_status join(char *buf, const char *prefix, const char *name, cn_error *err)
{
    int n = snprintf(buf, NAME_MAX_LEN, "%s%s", prefix ? prefix : "", name);
    if (n < 0 || n >= NAME_MAX_LEN)
        return cn_error_set(err, CN_ERR_ARG, "normalisation: tensor name prefix too long");
    return CN_OK;
}

/* Add data (ndim, shape) under prefix + name. */
static cn_status add(cn_st_writer *w, const char *prefix, const char *name, const cn_real *data,
                     int ndim, const int *shape, cn_error *err)
{
    char key[NAME_MAX_LEN];
    cn_status st = join(key, prefix, name, err);
    if (st != CN_OK) return st;
    cn_tensor t = {0};
    t.data = (cn_real *)data; /* read only: cn_st_writer_add_real copies */
    t.ndim = ndim;
    t.numel = 1;
    for (int i = 0; i < ndim; i++) {
        t.shape[i] = shape[i];
        t.numel *= (size_t)shape[i];
    }
    return cn_st_writer_add_real(w, key, &t, err);
}

cn_status cn_norm_save(const cn_norm *norm, cn_st_writer *w, const char *prefix,
                       cn_error *err)
{
    if (!norm || !w) return cn_error_set(err, CN_ERR_ARG, "cn_norm_save: NULL argument");
    if (!norm->mean_image || !norm->std_image || !norm->mean || !norm->std)
        return cn_error_set(err, CN_ERR_ARG, "cn_norm_save: statistics not fitted");
    int img[3] = {norm->c, norm->h, norm->w};
    int ch[1] = {norm->c};
    char key[NAME_MAX_LEN];
    cn_status st;
    if ((st = add(w, prefix, "mean_image", norm->mean_image, 3, img, err)) != CN_OK ||
        (st = add(w, prefix, "std_image", norm->std_image, 3, img, err)) != CN_OK ||
        (st = add(w, prefix, "mean", norm->mean, 1, ch, err)) != CN_OK ||
        (st = add(w, prefix, "std", norm->std, 1, ch, err)) != CN_OK ||
        (st = join(key, prefix, "mode", err)) != CN_OK)
        return st;
    return cn_st_writer_meta(w, key, cn_norm_mode_name(norm->mode), err);
}

/* Read prefix + name into a new tensor of rank ndim whose shape must be want. */
static cn_status get(const cn_safetensors *st, const char *prefix, const char *name, int ndim,
                     const int *want, int nonneg, cn_real **out, cn_error *err)
{
    char key[NAME_MAX_LEN];
    cn_status s = join(key, prefix, name, err);
    if (s != CN_OK) return s;
    cn_tensor *t = NULL;
    if ((s = cn_safetensors_get_real(st, key, &t, err)) != CN_OK) return s;
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == want[i];
    if (!ok) {
        char got[128];
        cn_tensor_shape_str(t, got, sizeof got);
        cn_tensor_free(t);
        return cn_error_set(err, CN_ERR_FORMAT, "tensor '%s': shape %s does not match the "
                            "normalisation statistics", key, got);
    }
    for (size_t i = 0; i < t->numel; i++) {
        double v = (double)t->data[i];
        if (!isfinite(v) || (nonneg && v < 0)) {
            cn_tensor_free(t);
            return cn_error_set(err, CN_ERR_FORMAT, "tensor '%s': element %zu is %g", key, i,
                                v);
        }
    }
    *out = cn_malloc(t->numel * sizeof **out);
    if (!*out) {
        cn_tensor_free(t);
        return cn_error_set(err, CN_ERR_NOMEM, "tensor '%s': out of memory", key);
    }
    memcpy(*out, t->data, t->numel * sizeof **out);
    cn_tensor_free(t);
    return CN_OK;
}

cn_status cn_norm_load(const cn_safetensors *st, const char *prefix, cn_norm *out,
                       cn_error *err)
{
    if (!st || !out) return cn_error_set(err, CN_ERR_ARG, "cn_norm_load: NULL argument");
    memset(out, 0, sizeof *out);
    char key[NAME_MAX_LEN];
    cn_status s = join(key, prefix, "mode", err);
    if (s != CN_OK) return s;
    const char *mode = cn_safetensors_meta(st, key);
    if (!mode)
        return cn_error_set(err, CN_ERR_FORMAT, "metadata '%s' missing", key);
    cn_norm n = {0};
    if (cn_norm_mode_parse(mode, &n.mode, NULL) != CN_OK)
        return cn_error_set(err, CN_ERR_FORMAT, "metadata '%s': unknown normalisation mode "
                            "'%.64s'", key, mode);
    /* The shape comes from the mean image; the others must agree with it. */
    if ((s = join(key, prefix, "mean_image", err)) != CN_OK) return s;
    const cn_st_tensor *mi = cn_safetensors_find(st, key);
    if (!mi) return cn_error_set(err, CN_ERR_ARG, "tensor '%s' not found", key);
    if (mi->ndim != 3 || mi->shape[0] < 1 || mi->shape[1] < 1 || mi->shape[2] < 1 ||
        mi->shape[0] > 65536 || mi->shape[1] > 65536 || mi->shape[2] > 65536)
        return cn_error_set(err, CN_ERR_FORMAT, "tensor '%s': expected a (c, h, w) shape", key);
    n.c = (int)mi->shape[0];
    n.h = (int)mi->shape[1];
    n.w = (int)mi->shape[2];
    int img[3] = {n.c, n.h, n.w};
    int ch[1] = {n.c};
    if ((s = get(st, prefix, "mean_image", 3, img, 0, &n.mean_image, err)) != CN_OK ||
        (s = get(st, prefix, "std_image", 3, img, 1, &n.std_image, err)) != CN_OK ||
        (s = get(st, prefix, "mean", 1, ch, 0, &n.mean, err)) != CN_OK ||
        (s = get(st, prefix, "std", 1, ch, 1, &n.std, err)) != CN_OK) {
        cn_norm_free(&n);
        return s;
    }
    *out = n;
    return CN_OK;
}
