/* src/data/norm.c: normalisation statistics fitted on the training split only
 * (per-pixel and per-channel mean and standard deviation, accumulated in double)
 * and their application, in place, to any split of the same image shape. */
#include "convnet/data.h"

#include <math.h>
#include <string.h>

/* Added to the per-pixel std in CN_NORM_PIXEL, so pixels that are (nearly)
 * constant in the training data (image borders) are not blown up. */
#define NORM_PIXEL_EPS 1e-2
/* A per-channel std below this is treated as 1 in CN_NORM_CHANNEL (constant data). */
#define NORM_CHANNEL_MIN_STD 1e-12

static const char *const mode_names[CN_NORM_MODE_COUNT] = {"none", "mean-image", "channel",
                                                           "pixel"};

const char *cn_norm_mode_name(cn_norm_mode m) {
    if ((int)m < 0 || m >= CN_NORM_MODE_COUNT) return "unknown";
    return mode_names[m];
}

cn_status cn_norm_mode_parse(const char *s, cn_norm_mode *out, cn_error *err) {
    CN_ASSERT(out != NULL);
    for (int m = 0; m < CN_NORM_MODE_COUNT; m++)
        if (s && strcmp(s, mode_names[m]) == 0) {
            *out = (cn_norm_mode)m;
            return CN_OK;
        }
    return cn_error_set(err, CN_ERR_ARG,
                        "unknown normalisation mode '%s' (expected none, mean-image, channel "
                        "or pixel)", s ? s : "(null)");
}

void cn_norm_free(cn_norm *norm) {
    if (!norm) return;
    cn_free(norm->mean_image);
    cn_free(norm->std_image);
    cn_free(norm->mean);
    cn_free(norm->std);
    memset(norm, 0, sizeof *norm);
}

/* The three inner loops below run over one record's d values. They work in
 * blocks of 16 with a fixed inner trip count so that GCC vectorises them at -O2
 * (its default cost model there skips loops that need a scalar epilogue). */

/* acc_sum: s[p] += x[p]. */
static void acc_sum(double *restrict s, const cn_real *restrict x, size_t d) {
    // s (d), x (d)
    size_t p = 0;
    for (; p + 16 <= d; p += 16)
        for (size_t j = 0; j < 16; j++) s[p + j] += (double)x[p + j];
    for (; p < d; p++) s[p] += (double)x[p];
}

/* acc_sq: q[p] += (x[p] - m[p])^2. */
static void acc_sq(double *restrict q, const cn_real *restrict x, const double *restrict m,
                   size_t d) {
    // q (d), x (d), m (d)
    size_t p = 0;
    for (; p + 16 <= d; p += 16)
        for (size_t j = 0; j < 16; j++) {
            double dv = (double)x[p + j] - m[p + j];
            q[p + j] += dv * dv;
        }
    for (; p < d; p++) {
        double dv = (double)x[p] - m[p];
        q[p] += dv * dv;
    }
}

/* shift_scale: x[p] = (x[p] - a[p]) * b[p]. */
static void shift_scale(cn_real *restrict x, const cn_real *restrict a,
                        const cn_real *restrict b, size_t d) {
    // x (d), a (d), b (d)
    size_t p = 0;
    for (; p + 16 <= d; p += 16)
        for (size_t j = 0; j < 16; j++) x[p + j] = (x[p + j] - a[p + j]) * b[p + j];
    for (; p < d; p++) x[p] = (x[p] - a[p]) * b[p];
}

cn_status cn_norm_fit(const cn_dataset *train, cn_norm_mode mode, cn_norm *out, cn_error *err) {
    CN_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    if (!train) return cn_error_set(err, CN_ERR_ARG, "cn_norm_fit: NULL dataset");
    if ((int)mode < 0 || mode >= CN_NORM_MODE_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "cn_norm_fit: bad mode %d", (int)mode);
    if (train->n < 1)
        return cn_error_set(err, CN_ERR_ARG, "cn_norm_fit: the training set is empty");
    const int c = train->c;
    const size_t hw = (size_t)train->h * (size_t)train->w;
    const size_t d = (size_t)c * hw; // values per record
    const size_t n = (size_t)train->n;
    out->mode = mode;
    out->c = c;
    out->h = train->h;
    out->w = train->w;
    out->mean_image = cn_malloc(d * sizeof *out->mean_image); // (c, h, w)
    out->std_image = cn_malloc(d * sizeof *out->std_image);   // (c, h, w)
    out->mean = cn_malloc((size_t)c * sizeof *out->mean);     // (c)
    out->std = cn_malloc((size_t)c * sizeof *out->std);       // (c)
    double *sum = cn_calloc(d, sizeof *sum);                  // (c, h, w)
    double *sq = cn_calloc(d, sizeof *sq);                    // (c, h, w)
    if (!out->mean_image || !out->std_image || !out->mean || !out->std || !sum || !sq) {
        cn_free(sum);
        cn_free(sq);
        cn_norm_free(out);
        return cn_error_set(err, CN_ERR_NOMEM, "cn_norm_fit: out of memory");
    }
    const cn_real *x = cn_dataset_flat(train); // (n, d)
    /* Two passes: the mean, then squared deviations from it (no cancellation). */
    for (size_t i = 0; i < n; i++) acc_sum(sum, x + i * d, d);
    for (size_t p = 0; p < d; p++) sum[p] /= (double)n; // now the per-pixel mean
    for (size_t i = 0; i < n; i++) acc_sq(sq, x + i * d, sum, d);
    for (size_t p = 0; p < d; p++) sq[p] /= (double)n; // now the per-pixel variance
    for (int ch = 0; ch < c; ch++) {
        /* Channel statistics from the per-pixel ones (law of total variance). */
        const double *m = sum + (size_t)ch * hw, *v = sq + (size_t)ch * hw;
        double mc = 0.0;
        for (size_t p = 0; p < hw; p++) mc += m[p];
        mc /= (double)hw;
        double vc = 0.0;
        for (size_t p = 0; p < hw; p++) vc += v[p] + (m[p] - mc) * (m[p] - mc);
        vc /= (double)hw;
        out->mean[ch] = (cn_real)mc;
        out->std[ch] = (cn_real)sqrt(vc);
    }
    for (size_t p = 0; p < d; p++) {
        out->mean_image[p] = (cn_real)sum[p];
        out->std_image[p] = (cn_real)sqrt(sq[p]);
    }
    cn_free(sum);
    cn_free(sq);
    return CN_OK;
}

cn_status cn_norm_apply_samples(const cn_norm *norm, cn_real *x, size_t n, int c, int h,
                                int w, cn_error *err) {
    if (!norm || (!x && n > 0))
        return cn_error_set(err, CN_ERR_ARG, "cn_norm_apply: NULL argument");
    if (c != norm->c || h != norm->h || w != norm->w)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "cn_norm_apply: images are (%d, %d, %d) but the statistics were "
                            "fitted on (%d, %d, %d)", c, h, w, norm->c, norm->h, norm->w);
    if (norm->mode == CN_NORM_NONE) return CN_OK;
    if ((int)norm->mode < 0 || norm->mode >= CN_NORM_MODE_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "cn_norm_apply: bad mode %d", (int)norm->mode);
    const size_t hw = (size_t)h * (size_t)w;
    const size_t d = (size_t)c * hw;
    cn_real *shift = cn_malloc(d * sizeof *shift); // (c, h, w) subtracted
    cn_real *scale = cn_malloc(d * sizeof *scale); // (c, h, w) then multiplied
    if (!shift || !scale) {
        cn_free(shift);
        cn_free(scale);
        return cn_error_set(err, CN_ERR_NOMEM, "cn_norm_apply: out of memory");
    }
    for (size_t p = 0; p < d; p++) {
        size_t ch = p / hw;
        switch (norm->mode) {
        case CN_NORM_MEAN_IMAGE:
            shift[p] = norm->mean_image[p];
            scale[p] = 1;
            break;
        case CN_NORM_CHANNEL: {
            double s = (double)norm->std[ch];
            shift[p] = norm->mean[ch];
            scale[p] = (cn_real)(s < NORM_CHANNEL_MIN_STD ? 1.0 : 1.0 / s);
            break;
        }
        default: /* CN_NORM_PIXEL */
            shift[p] = norm->mean_image[p];
            scale[p] = (cn_real)(1.0 / ((double)norm->std_image[p] + NORM_PIXEL_EPS));
            break;
        }
    }
    for (size_t i = 0; i < n; i++) shift_scale(x + i * d, shift, scale, d); // x (n, d)
    cn_free(shift);
    cn_free(scale);
    return CN_OK;
}

cn_status cn_norm_apply(const cn_norm *norm, cn_dataset *ds, cn_error *err) {
    if (!norm || !ds) return cn_error_set(err, CN_ERR_ARG, "cn_norm_apply: NULL argument");
    return cn_norm_apply_samples(norm, ds->images ? ds->images->data : NULL, (size_t)ds->n,
                                 ds->c, ds->h, ds->w, err);
}
