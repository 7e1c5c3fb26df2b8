/* pad.c: constant 2-D padding of raw NCHW arrays (PyTorch 1.13's F.pad with
 * mode 'constant' and non-negative pads), forward (copy into the middle of a
 * value-filled plane) and backward (crop). Direct loops, OpenMP over planes;
 * results never depend on the thread count (nothing is summed). */
#include "convnet/resample.h"

#include <limits.h>
#include <string.h>

#ifdef _OPENMP
/* PAR_MIN_WORK: below this many output elements padding runs on one thread
 * (waking a thread team costs more than it saves; results are identical). */
#define PAR_MIN_WORK ((size_t)1 << 15)
#endif

cn_status cn_pad2d_check(int n, int c, int h, int w, int top, int bottom, int left,
                         int right, cn_error *err)
{
    if (n < 1 || c < 1 || h < 1 || w < 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "pad2d: input shape (%d, %d, %d, %d) must have every size >= 1", n,
                            c, h, w);
    if (top < 0 || bottom < 0 || left < 0 || right < 0)
        return cn_error_set(err, CN_ERR_ARG,
                            "pad2d: padding (top %d, bottom %d, left %d, right %d) must be >= 0 "
                            "(negative padding would crop)",
                            top, bottom, left, right);
    const long long ho = (long long)h + top + bottom, wo = (long long)w + left + right;
    size_t planes, t;
    if (ho > INT_MAX || wo > INT_MAX || cn_mul_overflow((size_t)n, (size_t)c, &planes) ||
        cn_mul_overflow(planes, (size_t)h * (size_t)w, &t) ||
        cn_mul_overflow(t, sizeof(cn_real), &t) ||
        cn_mul_overflow((size_t)ho, (size_t)wo, &t) || cn_mul_overflow(planes, t, &t) ||
        cn_mul_overflow(t, sizeof(cn_real), &t))
        return cn_error_set(err, CN_ERR_RANGE,
                            "pad2d: input (%d, %d, %d, %d) padded to %lldx%lld overflows int "
                            "or its buffer",
                            n, c, h, w, ho, wo);
    return CN_OK;
}

void cn_pad2d_forward(int n, int c, int h, int w, int top, int bottom, int left, int right,
                      cn_real value, const cn_real *x, cn_real *y)
{
    CN_ASSERT(n >= 1 && c >= 1 && h >= 1 && w >= 1 && x && y);
    CN_ASSERT(top >= 0 && bottom >= 0 && left >= 0 && right >= 0);
    const long planes = (long)n * c;
    const int ho = h + top + bottom, wo = w + left + right;
    const size_t plane_in = (size_t)h * w, plane_out = (size_t)ho * wo;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) \
    if ((double)planes * (double)plane_out >= (double)PAR_MIN_WORK)
#endif
    for (long p = 0; p < planes; p++) {
        const cn_real *xp = x + (size_t)p * plane_in; // (h, w)
        cn_real *yp = y + (size_t)p * plane_out;      // (ho, wo)
        for (int i = 0; i < ho; i++) {
            cn_real *yr = yp + (size_t)i * wo; // (wo)
            if (i < top || i >= top + h) {
                for (int j = 0; j < wo; j++) yr[j] = value;
                continue;
            }
            for (int j = 0; j < left; j++) yr[j] = value;
            memcpy(yr + left, xp + (size_t)(i - top) * w, (size_t)w * sizeof *yr);
            for (int j = left + w; j < wo; j++) yr[j] = value;
        }
    }
}

void cn_pad2d_backward(int n, int c, int h, int w, int top, int bottom, int left, int right,
                       const cn_real *dy, cn_real *dx)
{
    CN_ASSERT(n >= 1 && c >= 1 && h >= 1 && w >= 1 && dy && dx);
    CN_ASSERT(top >= 0 && bottom >= 0 && left >= 0 && right >= 0);
    const long planes = (long)n * c;
    const int ho = h + top + bottom, wo = w + left + right;
    const size_t plane_in = (size_t)h * w, plane_out = (size_t)ho * wo;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) \
    if ((double)planes * (double)plane_in >= (double)PAR_MIN_WORK)
#endif
    for (long p = 0; p < planes; p++) {
        const cn_real *dyp = dy + (size_t)p * plane_out; // (ho, wo)
        cn_real *dxp = dx + (size_t)p * plane_in;        // (h, w)
        for (int i = 0; i < h; i++)
            memcpy(dxp + (size_t)i * w, dyp + (size_t)(i + top) * wo + left,
                   (size_t)w * sizeof *dxp);
    }
}
