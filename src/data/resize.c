/* resize.c: antialiased bilinear resampling of planar images, separable: rows
 * first into a (c, h, ow) scratch buffer, then columns. Each output pixel's
 * centre maps into a window of the input (the whole image for "stretch", the
 * centred covering window for "crop"); a triangle filter of radius max(1, scale)
 * input pixels around it gives the weights, so upscaling is ordinary bilinear
 * interpolation and downscaling averages every input pixel (no aliasing). Taps
 * outside the image are dropped and the rest renormalised (edge clamp). This is
 * the filter of PIL's BILINEAR and torch's interpolate(antialias=True). */
#include "convnet/image.h"

#include <math.h>
#include <string.h>

/* Filter taps of one axis: output i reads count[i] inputs from start[i] with
 * weights wt[i * maxtaps + k]. */
typedef struct axis_taps {
    int *start;   /* (out_len) */
    int *count;   /* (out_len) */
    double *wt;   /* (out_len, maxtaps) */
    int maxtaps;
} axis_taps;

static void taps_free(axis_taps *t)
{
    cn_free(t->start);
    cn_free(t->count);
    cn_free(t->wt);
    memset(t, 0, sizeof *t);
}

/* Weights mapping in_len inputs to out_len outputs, where the outputs cover the
 * input interval [x0, x0 + span) (pixel j covers [j, j + 1)). */
static int taps_make(axis_taps *t, int in_len, double x0, double span, int out_len)
{
    memset(t, 0, sizeof *t);
    const double scale = span / out_len;
    const double radius = scale > 1.0 ? scale : 1.0;
    t->maxtaps = (int)ceil(2.0 * radius) + 2;
    if (t->maxtaps > in_len + 1) t->maxtaps = in_len + 1;
    t->start = cn_malloc((size_t)out_len * sizeof *t->start);
    t->count = cn_malloc((size_t)out_len * sizeof *t->count);
    t->wt = cn_calloc((size_t)out_len * (size_t)t->maxtaps, sizeof *t->wt);
    if (!t->start || !t->count || !t->wt) {
        taps_free(t);
        return -1;
    }
    for (int i = 0; i < out_len; i++) {
        const double centre = x0 + (i + 0.5) * scale;
        int lo = (int)floor(centre - radius);
        int hi = (int)ceil(centre + radius);
        if (lo < 0) lo = 0;
        if (hi > in_len) hi = in_len;
        if (hi - lo > t->maxtaps) hi = lo + t->maxtaps;
        double *w = t->wt + (size_t)i * (size_t)t->maxtaps, sum = 0.0;
        for (int j = lo; j < hi; j++) {
            double d = fabs((j + 0.5 - centre) / radius);
            double v = d < 1.0 ? 1.0 - d : 0.0;
            w[j - lo] = v;
            sum += v;
        }
        if (sum <= 0.0) {
            /* No input within the filter's reach (cannot happen for windows inside
             * the image; kept for safety): take the nearest pixel. */
            int j = (int)floor(centre);
            lo = j < 0 ? 0 : (j >= in_len ? in_len - 1 : j);
            hi = lo + 1;
            memset(w, 0, (size_t)t->maxtaps * sizeof *w);
            w[0] = 1.0;
            sum = 1.0;
        }
        for (int k = 0; k < hi - lo; k++) w[k] /= sum;
        t->start[i] = lo;
        t->count[i] = hi - lo;
    }
    return 0;
}

cn_status cn_image_resize(const cn_real *in, int c, int h, int w, cn_real *out, int oh,
                          int ow, cn_image_fit fit, cn_error *err)
{
    if (c < 1 || h < 1 || w < 1 || oh < 1 || ow < 1)
        return cn_error_set(err, CN_ERR_ARG, "resize: bad sizes (%d, %d, %d) -> (%d, %d)", c,
                            h, w, oh, ow);
    if ((unsigned)fit >= CN_IMAGE_FIT_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "resize: fit %d unknown", (int)fit);
    CN_ASSERT(in != NULL && out != NULL);
    if (oh == h && ow == w) {
        memcpy(out, in, (size_t)c * (size_t)h * (size_t)w * sizeof *out);
        return CN_OK;
    }
    /* The input window the output covers. */
    double x0 = 0.0, y0 = 0.0, span_w = w, span_h = h;
    if (fit == CN_IMAGE_FIT_CROP) {
        /* ow / w >= oh / h: the width fits exactly and rows are cut; else columns. */
        if ((double)ow * h >= (double)oh * w) {
            span_h = (double)oh * w / ow;
            y0 = (h - span_h) / 2.0;
        } else {
            span_w = (double)ow * h / oh;
            x0 = (w - span_w) / 2.0;
        }
    }
    axis_taps tx, ty;
    size_t tmp_bytes = 0, out_n = 0;
    if (cn_mul_overflow((size_t)c * (size_t)h, (size_t)ow, &tmp_bytes) ||
        cn_mul_overflow(tmp_bytes, sizeof(cn_real), &tmp_bytes) ||
        cn_mul_overflow((size_t)c * (size_t)oh, (size_t)ow, &out_n)) /* out's size */
        return cn_error_set(err, CN_ERR_RANGE, "resize: sizes (%d, %d, %d) -> (%d, %d) overflow",
                            c, h, w, oh, ow);
    cn_real *tmp = cn_malloc(tmp_bytes); // (c, h, ow)
    if (!tmp || taps_make(&tx, w, x0, span_w, ow) != 0) {
        cn_free(tmp);
        return cn_error_set(err, CN_ERR_NOMEM, "resize: out of memory for (%d, %d, %d)", c, h,
                            ow);
    }
    if (taps_make(&ty, h, y0, span_h, oh) != 0) {
        taps_free(&tx);
        cn_free(tmp);
        return cn_error_set(err, CN_ERR_NOMEM, "resize: out of memory for (%d, %d, %d)", c,
                            oh, ow);
    }
    /* Rows: in (c, h, w) -> tmp (c, h, ow). */
    for (size_t r = 0; r < (size_t)c * (size_t)h; r++) {
        const cn_real *src = in + r * (size_t)w;
        cn_real *dst = tmp + r * (size_t)ow;
        for (int i = 0; i < ow; i++) {
            const double *wt = tx.wt + (size_t)i * (size_t)tx.maxtaps;
            const cn_real *s = src + tx.start[i];
            double acc = 0.0;
            for (int k = 0; k < tx.count[i]; k++) acc += wt[k] * s[k];
            dst[i] = (cn_real)acc;
        }
    }
    /* Columns: tmp (c, h, ow) -> out (c, oh, ow). */
    for (int ch = 0; ch < c; ch++) {
        const cn_real *src = tmp + (size_t)ch * (size_t)h * (size_t)ow;
        cn_real *dst = out + (size_t)ch * (size_t)oh * (size_t)ow;
        for (int i = 0; i < oh; i++) {
            const double *wt = ty.wt + (size_t)i * (size_t)ty.maxtaps;
            cn_real *d = dst + (size_t)i * (size_t)ow;
            for (int x = 0; x < ow; x++) {
                double acc = 0.0;
                for (int k = 0; k < ty.count[i]; k++)
                    acc += wt[k] * src[(size_t)(ty.start[i] + k) * (size_t)ow + (size_t)x];
                d[x] = (cn_real)acc;
            }
        }
    }
    taps_free(&tx);
    taps_free(&ty);
    cn_free(tmp);
    return CN_OK;
}
