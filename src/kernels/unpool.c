/* unpool.c: 2-D max unpooling (PyTorch 1.13's nn.MaxUnpool2d) on raw NCHW arrays:
 * the default output size, validation of the index array (every index inside its
 * output plane, naming the first one that is not), the forward scatter (later
 * inputs win on duplicate positions) and the backward gather. Direct loops,
 * OpenMP over planes; each plane is scanned alone in row-major order, so results
 * never depend on the thread count. */
#include "convnet/resample.h"

#include <limits.h>
#include <string.h>

#ifdef _OPENMP
/* PAR_MIN_WORK: below this many elements touched unpooling runs on one thread
 * (waking a thread team costs more than it saves; results are identical). */
#define PAR_MIN_WORK ((size_t)1 << 15)
#endif

int cn_maxunpool2d_out_size(int in, int k, int s, int p)
{
    if (in < 1 || k < 1 || s < 1 || p < 0) return -1;
    const long long o = ((long long)in - 1) * s - 2LL * p + k;
    return (o < 1 || o > INT_MAX) ? -1 : (int)o;
}

cn_status cn_maxunpool2d_check(int n, int c, int h, int w, int h_out, int w_out,
                               const int32_t *idx, cn_error *err)
{
    if (n < 1 || c < 1 || h < 1 || w < 1 || h_out < 1 || w_out < 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "maxunpool2d: input (%d, %d, %d, %d) and output plane %dx%d must "
                            "have every size >= 1",
                            n, c, h, w, h_out, w_out);
    if (!idx) return cn_error_set(err, CN_ERR_ARG, "maxunpool2d: NULL index array");
    size_t planes, plane_in, plane_out, t;
    if (cn_mul_overflow((size_t)n, (size_t)c, &planes) ||
        cn_mul_overflow((size_t)h, (size_t)w, &plane_in) ||
        cn_mul_overflow((size_t)h_out, (size_t)w_out, &plane_out) || plane_out > INT32_MAX ||
        cn_mul_overflow(planes, plane_in, &t) || cn_mul_overflow(t, sizeof(cn_real), &t) ||
        cn_mul_overflow(planes, plane_out, &t) || cn_mul_overflow(t, sizeof(cn_real), &t))
        return cn_error_set(err, CN_ERR_RANGE,
                            "maxunpool2d: input (%d, %d, %d, %d) or output plane %dx%d "
                            "overflows its buffer or int32 plane indices",
                            n, c, h, w, h_out, w_out);
    const size_t total = planes * plane_in;
    for (size_t e = 0; e < total; e++) {
        const int32_t v = idx[e];
        if (v >= 0 && (size_t)v < plane_out) continue;
        const size_t p = e / plane_in, k = e % plane_in;
        return cn_error_set(err, CN_ERR_RANGE,
                            "maxunpool2d: index %ld at element (%zu, %zu, %zu, %zu) is outside "
                            "the output plane [0, %zu) of %dx%d",
                            (long)v, p / (size_t)c, p % (size_t)c, k / (size_t)w,
                            k % (size_t)w, plane_out, h_out, w_out);
    }
    return CN_OK;
}

void cn_maxunpool2d_forward(int n, int c, int h, int w, int h_out, int w_out,
                            const cn_real *x, const int32_t *idx, cn_real *y)
{
    CN_ASSERT(n >= 1 && c >= 1 && h >= 1 && w >= 1 && h_out >= 1 && w_out >= 1);
    CN_ASSERT(x && idx && y);
    const long planes = (long)n * c;
    const size_t plane_in = (size_t)h * w, plane_out = (size_t)h_out * w_out;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) \
    if ((double)planes * (double)(plane_in + plane_out) >= (double)PAR_MIN_WORK)
#endif
    for (long p = 0; p < planes; p++) {
        const cn_real *xp = x + (size_t)p * plane_in;    // (h, w)
        const int32_t *ip = idx + (size_t)p * plane_in;  // (h, w)
        cn_real *yp = y + (size_t)p * plane_out;         // (h_out, w_out)
        memset(yp, 0, plane_out * sizeof *yp);
        for (size_t k = 0; k < plane_in; k++) {
            CN_ASSERT(ip[k] >= 0 && (size_t)ip[k] < plane_out);
            yp[ip[k]] = xp[k];
        }
    }
}

void cn_maxunpool2d_backward(int n, int c, int h, int w, int h_out, int w_out,
                             const cn_real *dy, const int32_t *idx, cn_real *dx)
{
    CN_ASSERT(n >= 1 && c >= 1 && h >= 1 && w >= 1 && h_out >= 1 && w_out >= 1);
    CN_ASSERT(dy && idx && dx);
    const long planes = (long)n * c;
    const size_t plane_in = (size_t)h * w, plane_out = (size_t)h_out * w_out;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) \
    if ((double)planes * (double)plane_in >= (double)PAR_MIN_WORK)
#endif
    for (long p = 0; p < planes; p++) {
        const cn_real *dyp = dy + (size_t)p * plane_out; // (h_out, w_out)
        const int32_t *ip = idx + (size_t)p * plane_in;  // (h, w)
        cn_real *dxp = dx + (size_t)p * plane_in;        // (h, w)
        for (size_t k = 0; k < plane_in; k++) {
            CN_ASSERT(ip[k] >= 0 && (size_t)ip[k] < plane_out);
            dxp[k] = dyp[ip[k]];
        }
    }
}
