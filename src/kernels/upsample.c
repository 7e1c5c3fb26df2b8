/* upsample.c: 2-D upsampling (and downsampling) of raw NCHW arrays by nearest
 * neighbour or bilinear interpolation, forward and backward, with PyTorch 1.13's
 * F.interpolate semantics to the letter: the scale 1 / scale_factor when called
 * with a scale factor and in / out when called with a size
 * (compute_scales_value), the align_corners ratio (area_pixel_compute_scale),
 * the half-pixel source index clamped at 0 (area_pixel_compute_source_index),
 * the out == in copy and out == 2 in halving shortcuts, nearest's
 * single-precision index arithmetic (nearest_idx), and bilinear weights rounded
 * to cn_real as PyTorch rounds them to the tensor's type. Direct loops, OpenMP
 * over planes only; the backward scatters within its own plane in a fixed order,
 * so results never depend on the thread count. */
#include "convnet/resample.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#ifdef _OPENMP
/* PAR_MIN_WORK: below this many output elements upsampling runs on one thread
 * (waking a thread team costs more than it saves; results are identical). */
#define PAR_MIN_WORK ((size_t)1 << 15)
#endif

const char *cn_upsample_mode_name(cn_upsample_mode mode)
{
    switch (mode) {
    case CN_UPSAMPLE_NEAREST: return "nearest";
    case CN_UPSAMPLE_BILINEAR: return "bilinear";
    default: return "unknown";
    }
}

int cn_upsample2d_out_size(int in, double scale)
{
    if (in < 1 || !isfinite(scale) || !(scale > 0)) return -1;
    const double o = floor((double)in * scale);
    return (o < 1 || o > (double)INT_MAX) ? -1 : (int)o;
}

/* check_axis: one axis's scale and output size against F.interpolate's rules. */
static cn_status check_axis(const char *axis, int in, int out, double scale, cn_error *err)
{
    if (!isfinite(scale) || scale < 0)
        return cn_error_set(err, CN_ERR_ARG,
                            "upsample2d: %s scale %g must be a finite number > 0 (scale "
                            "factor) or 0 (explicit size)",
                            axis, scale);
    if (scale > 0) {
        const int want = cn_upsample2d_out_size(in, scale);
        if (want != out)
            return cn_error_set(err, CN_ERR_SHAPE,
                                "upsample2d: output %s %d does not match floor(%d * %.17g) = "
                                "%d (F.interpolate's size for a scale factor)",
                                axis, out, in, scale, want);
    }
    return CN_OK;
}

cn_status cn_upsample2d_check(cn_upsample_mode mode, int align_corners, int n, int c, int h,
                              int w, int h_out, int w_out, double scale_h, double scale_w,
                              cn_error *err)
{
    if (mode != CN_UPSAMPLE_NEAREST && mode != CN_UPSAMPLE_BILINEAR)
        return cn_error_set(err, CN_ERR_ARG, "upsample2d: unknown mode %d", (int)mode);
    if (mode == CN_UPSAMPLE_NEAREST && align_corners)
        return cn_error_set(err, CN_ERR_ARG,
                            "upsample2d: align_corners only applies to mode bilinear, not "
                            "nearest");
    if (n < 1 || c < 1 || h < 1 || w < 1 || h_out < 1 || w_out < 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "upsample2d: input (%d, %d, %d, %d) and output plane %dx%d must "
                            "have every size >= 1",
                            n, c, h, w, h_out, w_out);
    cn_status s = check_axis("height", h, h_out, scale_h, err);
    if (s != CN_OK) return s;
    s = check_axis("width", w, w_out, scale_w, err);
    if (s != CN_OK) return s;
    size_t planes, t;
    if (cn_mul_overflow((size_t)n, (size_t)c, &planes) ||
        cn_mul_overflow(planes, (size_t)h * (size_t)w, &t) ||
        cn_mul_overflow(t, sizeof(cn_real), &t) ||
        cn_mul_overflow(planes, (size_t)h_out * (size_t)w_out, &t) ||
        cn_mul_overflow(t, sizeof(cn_real), &t))
        return cn_error_set(err, CN_ERR_RANGE,
                            "upsample2d: input (%d, %d, %d, %d) or output plane %dx%d "
                            "overflows its buffer",
                            n, c, h, w, h_out, w_out);
    return CN_OK;
}

/* ------------------------------------------------------------------ nearest */

/* nearest_src: PyTorch's nearest_idx: the input index output o reads. */
static int nearest_src(int o, int in, int out, double scale)
{
    if (out == in) return o;
    if ((long long)out == 2LL * in) return o >> 1;
    const float r = scale > 0 ? (float)(1.0 / scale) : (float)in / (float)out;
    const float f = floorf((float)o * r);
    return f < (float)(in - 1) ? (int)f : in - 1;
}

/* ------------------------------------------------------------------ bilinear */

/* lin_tap: one axis's two source indices and weights for one output. */
typedef struct lin_tap {
    int i0, i1;
    cn_real l0, l1;
} lin_tap;

/* lin_ratio: area_pixel_compute_scale, in cn_real as PyTorch computes it in the
 * tensor's type. */
static cn_real lin_ratio(int in, int out, int align_corners, double scale)
{
    if (align_corners) return out > 1 ? (cn_real)(in - 1) / (cn_real)(out - 1) : (cn_real)0;
    return scale > 0 ? (cn_real)(1.0 / scale) : (cn_real)in / (cn_real)out;
}

/* lin_tap_at: compute_source_index_and_lambda: the source position in double
 * (PyTorch's CPU accumulate type for both float and double), weights rounded to
 * cn_real. i0 is kept below in for memory safety (never needed for sizes that
 * cn_upsample2d_check accepts). */
static lin_tap lin_tap_at(cn_real ratio, int o, int in, int out, int align_corners)
{
    lin_tap t;
    if (out == in) {
        t.i0 = t.i1 = o;
        t.l0 = 1;
        t.l1 = 0;
        return t;
    }
    double src = align_corners ? (double)ratio * o : (double)ratio * (o + 0.5) - 0.5;
    if (!align_corners && src < 0) src = 0;
    int i0 = (int)src;
    if (i0 > in - 1) i0 = in - 1;
    t.i0 = i0;
    t.i1 = i0 + (i0 < in - 1 ? 1 : 0);
    t.l1 = (cn_real)(src - i0);
    t.l0 = (cn_real)1 - t.l1;
    return t;
}

/* ------------------------------------------------------------------ kernels */

void cn_upsample2d_forward(cn_upsample_mode mode, int align_corners, int n, int c, int h,
                           int w, int h_out, int w_out, double scale_h, double scale_w,
                           const cn_real *x, cn_real *y)
{
    CN_ASSERT(mode == CN_UPSAMPLE_NEAREST || mode == CN_UPSAMPLE_BILINEAR);
    CN_ASSERT(n >= 1 && c >= 1 && h >= 1 && w >= 1 && h_out >= 1 && w_out >= 1 && x && y);
    const long planes = (long)n * c;
    const size_t plane_in = (size_t)h * w, plane_out = (size_t)h_out * w_out;
    const cn_real rh = lin_ratio(h, h_out, align_corners, scale_h);
    const cn_real rw = lin_ratio(w, w_out, align_corners, scale_w);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) \
    if ((double)planes * (double)plane_out >= (double)PAR_MIN_WORK)
#endif
    for (long p = 0; p < planes; p++) {
        const cn_real *xp = x + (size_t)p * plane_in; // (h, w)
        cn_real *yp = y + (size_t)p * plane_out;      // (h_out, w_out)
        for (int oh = 0; oh < h_out; oh++) {
            cn_real *yr = yp + (size_t)oh * w_out; // (w_out)
            if (mode == CN_UPSAMPLE_NEAREST) {
                const cn_real *xr = xp + (size_t)nearest_src(oh, h, h_out, scale_h) * w;
                for (int ow = 0; ow < w_out; ow++) yr[ow] = xr[nearest_src(ow, w, w_out, scale_w)];
                continue;
            }
            const lin_tap th = lin_tap_at(rh, oh, h, h_out, align_corners);
            const cn_real *x0 = xp + (size_t)th.i0 * w, *x1 = xp + (size_t)th.i1 * w;
            for (int ow = 0; ow < w_out; ow++) {
                const lin_tap tw = lin_tap_at(rw, ow, w, w_out, align_corners);
                const cn_real t0 = x0[tw.i0] * tw.l0 + x0[tw.i1] * tw.l1;
                const cn_real t1 = x1[tw.i0] * tw.l0 + x1[tw.i1] * tw.l1;
                yr[ow] = t0 * th.l0 + t1 * th.l1;
            }
        }
    }
}

void cn_upsample2d_backward(cn_upsample_mode mode, int align_corners, int n, int c, int h,
                            int w, int h_out, int w_out, double scale_h, double scale_w,
                            const cn_real *dy, cn_real *dx)
{
    CN_ASSERT(mode == CN_UPSAMPLE_NEAREST || mode == CN_UPSAMPLE_BILINEAR);
    CN_ASSERT(n >= 1 && c >= 1 && h >= 1 && w >= 1 && h_out >= 1 && w_out >= 1 && dy && dx);
    const long planes = (long)n * c;
    const size_t plane_in = (size_t)h * w, plane_out = (size_t)h_out * w_out;
    const cn_real rh = lin_ratio(h, h_out, align_corners, scale_h);
    const cn_real rw = lin_ratio(w, w_out, align_corners, scale_w);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) \
    if ((double)planes * (double)plane_out >= (double)PAR_MIN_WORK)
#endif
    for (long p = 0; p < planes; p++) {
        const cn_real *dyp = dy + (size_t)p * plane_out; // (h_out, w_out)
        cn_real *dxp = dx + (size_t)p * plane_in;        // (h, w)
        memset(dxp, 0, plane_in * sizeof *dxp);
        for (int oh = 0; oh < h_out; oh++) {
            const cn_real *dyr = dyp + (size_t)oh * w_out; // (w_out)
            if (mode == CN_UPSAMPLE_NEAREST) {
                cn_real *dxr = dxp + (size_t)nearest_src(oh, h, h_out, scale_h) * w;
                for (int ow = 0; ow < w_out; ow++)
                    dxr[nearest_src(ow, w, w_out, scale_w)] += dyr[ow];
                continue;
            }
            const lin_tap th = lin_tap_at(rh, oh, h, h_out, align_corners);
            cn_real *d0 = dxp + (size_t)th.i0 * w, *d1 = dxp + (size_t)th.i1 * w;
            for (int ow = 0; ow < w_out; ow++) {
                const lin_tap tw = lin_tap_at(rw, ow, w, w_out, align_corners);
                const cn_real g = dyr[ow];
                d0[tw.i0] += th.l0 * tw.l0 * g;
                d0[tw.i1] += th.l0 * tw.l1 * g;
                d1[tw.i0] += th.l1 * tw.l0 * g;
                d1[tw.i1] += th.l1 * tw.l1 * g;
            }
        }
    }
}
