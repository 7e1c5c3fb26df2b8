/* pool2d.c: 2-D max, average and adaptive average pooling and global pooling on
 * raw NCHW arrays, forward and backward, with PyTorch 1.13's CPU semantics to the
 * letter: output size with ceil_mode and its "last window starts inside" rule,
 * max windows that skip padding by whole dilation steps, first-maximum ties, NaN
 * propagation, flat per-plane argmax indices, the average divisor clipped to the
 * padded input (count_include_pad) or the input, and adaptive pooling's bins
 * [floor(i h / oh), ceil((i + 1) h / oh)). Direct loops, OpenMP over planes;
 * each plane is computed alone, so results never depend on the thread count.
 * Max and average pooling with 2x2 windows, stride 2, no padding and every
 * window inside the input (the common downsampling layer) take a fast path of
 * fixed-count blocks that vectorise (max backward keeps the zero-then-scatter
 * loop, already fast), with bit-identical results. */
#include "convnet/conv.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#ifdef _OPENMP
/* PAR_MIN_WORK: below this many element visits pooling runs on one thread
 * (waking a thread team costs more than it saves; results are identical). */
#define PAR_MIN_WORK ((size_t)1 << 15)

/* pool_parallel: 1 when g's window visits reach PAR_MIN_WORK. */
static int pool_parallel(const cn_pool2d_geom *g)
{
    return (double)g->n * g->c * g->h_out * g->w_out * g->kh * g->kw >= (double)PAR_MIN_WORK;
}
#endif

/* floor_div: floor(a / b) for b > 0 (PyTorch's div_rtn). */
static long long floor_div(long long a, long long b)
{
    long long q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* pool_out: PyTorch's pooling_output_shape for one axis (may be < 1). */
static long long pool_out(int in, int k, int s, int p, int d, int ceil_mode)
{
    long long o = floor_div((long long)in + 2LL * p - (long long)d * (k - 1) - 1 +
                                (ceil_mode ? s - 1 : 0),
                            s) + 1;
    if (ceil_mode && (o - 1) * s >= (long long)in + p) o--;
    return o;
}

cn_status cn_pool2d_geom_init(cn_pool2d_geom *g, cn_error *err)
{
    if (!g) return cn_error_set(err, CN_ERR_ARG, "pool2d: NULL geometry");
    if (g->kind != CN_POOL_MAX && g->kind != CN_POOL_AVG)
        return cn_error_set(err, CN_ERR_ARG, "pool2d: unknown pooling kind %d", (int)g->kind);
    if (g->n < 1 || g->c < 1 || g->h < 1 || g->w < 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "pool2d: input shape (%d, %d, %d, %d) must have every size >= 1",
                            g->n, g->c, g->h, g->w);
    if (g->kh < 1 || g->kw < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "pool2d: kernel %dx%d must be >= 1", g->kh,
                            g->kw);
    if (g->stride_h < 1 || g->stride_w < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "pool2d: stride (%d, %d) must be >= 1",
                            g->stride_h, g->stride_w);
    if (g->dil_h < 1 || g->dil_w < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "pool2d: dilation (%d, %d) must be >= 1",
                            g->dil_h, g->dil_w);
    if (g->kind == CN_POOL_AVG && (g->dil_h != 1 || g->dil_w != 1))
        return cn_error_set(err, CN_ERR_SHAPE,
                            "pool2d: average pooling has no dilation, got (%d, %d)", g->dil_h,
                            g->dil_w);
    if (g->pad_h < 0 || g->pad_w < 0 || g->pad_h > g->kh / 2 || g->pad_w > g->kw / 2)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "pool2d: padding (%d, %d) must be >= 0 and at most half the "
                            "kernel %dx%d",
                            g->pad_h, g->pad_w, g->kh, g->kw);
    long long ho = pool_out(g->h, g->kh, g->stride_h, g->pad_h, g->dil_h, g->ceil_mode != 0);
    long long wo = pool_out(g->w, g->kw, g->stride_w, g->pad_w, g->dil_w, g->ceil_mode != 0);
    if (ho < 1 || wo < 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "pool2d: pool window larger than padded input: kernel %dx%d "
                            "(dilation %d, %d) over input %dx%d with padding (%d, %d) gives "
                            "output %lldx%lld",
                            g->kh, g->kw, g->dil_h, g->dil_w, g->h, g->w, g->pad_h, g->pad_w,
                            ho, wo);
    g->h_out = (int)ho;
    g->w_out = (int)wo;
    size_t plane, planes, t;
    if (cn_mul_overflow((size_t)g->h, (size_t)g->w, &plane) || plane > INT32_MAX ||
        cn_mul_overflow((size_t)g->n, (size_t)g->c, &planes) ||
        cn_mul_overflow(planes, plane, &t) || cn_mul_overflow(t, sizeof(cn_real), &t) ||
        cn_mul_overflow(planes, (size_t)ho * (size_t)wo, &t) ||
        cn_mul_overflow(t, sizeof(cn_real), &t))
        return cn_error_set(err, CN_ERR_RANGE,
                            "pool2d: input (%d, %d, %d, %d) overflows its buffer or int32 "
                            "plane indices",
                            g->n, g->c, g->h, g->w);
    return CN_OK;
}

/* ------------------------------------------------------------------ 2x2 stride 2 */

/* is_2x2s2: 1 when g pools 2x2 windows at stride 2 without padding or dilation
 * and every window lies inside the input (ceil_mode may add a partial one). */
static int is_2x2s2(const cn_pool2d_geom *g)
{
    return g->kh == 2 && g->kw == 2 && g->stride_h == 2 && g->stride_w == 2 && g->pad_h == 0 &&
           g->pad_w == 0 && g->dil_h == 1 && g->dil_w == 1 && 2 * g->h_out <= g->h &&
           2 * g->w_out <= g->w;
}

/* max4: the general loop's result on the window a b / c d whose top-left input
 * is k (row length w): first maximum in row-major order, a NaN wins and the
 * last NaN is kept (v > m || isnan(v) replaces). The 2x2 path calls it in
 * vector loops, where the selects are blends: after ReLU half the values are
 * zeros in random places, and a branch per comparison mispredicted often (the
 * small CNN's first pooling at batch 64: 2.5 ms with branches, 0.9 ms without,
 * both with the input out of cache). */
static inline void max4(cn_real a, cn_real b, cn_real c, cn_real d, int32_t k, int32_t w,
                        cn_real *my, int32_t *mi)
{
    cn_real m = a;
    int32_t bi = k;
    int t = (b > m) | (b != b);
    m = t ? b : m;
    bi = t ? k + 1 : bi;
    t = (c > m) | (c != c);
    m = t ? c : m;
    bi = t ? k + w : bi;
    t = (d > m) | (d != d);
    m = t ? d : m;
    bi = t ? k + w + 1 : bi;
    *my = m;
    *mi = bi;
}

/* PB: outputs per block of the 2x2 average path's fixed-count loops. */
#define PB 8

/* MAX2X2_BLOCKS: one output row of 2x2 stride-2 max pooling (wo >= B), B
 * outputs at a time in one vector; the row's last block overlaps the one before
 * it instead of leaving a scalar tail (a 28x28 map pools to 14 outputs a row,
 * a 14x14 one to 7). */
#ifdef _OPENMP
#define MAX2X2_SIMD _Pragma("omp simd")
#else
#define MAX2X2_SIMD
#endif
#define MAX2X2_BLOCKS(B)                                                                   \
    for (int b0 = 0; b0 < wo; b0 += (B)) {                                                 \
        const int ow = b0 + (B) <= wo ? b0 : wo - (B);                                     \
        MAX2X2_SIMD                                                                        \
        for (int l = 0; l < (B); l++) {                                                    \
            const int q = 2 * (ow + l);                                                    \
            max4(r0[q], r0[q + 1], r1[q], r1[q + 1], k0 + q, w, &y[ow + l], &ix[ow + l]);  \
        }                                                                                  \
    }

/* max2x2_plane: 2x2 stride-2 max pooling of one plane, in vector blocks of 8
 * or 4 outputs (MAX2X2_BLOCKS), rows narrower than 4 one output at a time. */
static void max2x2_plane(const cn_real *xp, cn_real *yp, int32_t *ip, int w, int ho, int wo)
{
    // xp (h, w), yp, ip (h_out, w_out)
    for (int oh = 0; oh < ho; oh++) {
        const int32_t k0 = (int32_t)(2 * oh) * w;
        const cn_real *r0 = xp + k0, *r1 = r0 + w; // the window's two input rows
        cn_real *y = yp + (size_t)oh * wo;
        int32_t *ix = ip + (size_t)oh * wo;
        if (wo >= 8) {
            MAX2X2_BLOCKS(8)
        } else if (wo >= 4) {
            MAX2X2_BLOCKS(4)
        } else {
            for (int ow = 0; ow < wo; ow++) {
                const int q = 2 * ow;
                max4(r0[q], r0[q + 1], r1[q], r1[q + 1], k0 + q, w, &y[ow], &ix[ow]);
            }
        }
    }
}

/* avg2x2_plane: 2x2 stride-2 average pooling of one plane, summed in the
 * general loop's order (0 + a + b + c + d) / 4. */
static void avg2x2_plane(const cn_real *xp, cn_real *yp, int W, int HO, int WO)
{
    // xp (h, w), yp (h_out, w_out)
    for (int oh = 0; oh < HO; oh++) {
        const cn_real *r0 = xp + (size_t)(2 * oh) * W, *r1 = r0 + W;
        cn_real *y = yp + (size_t)oh * WO;
        int ow = 0;
        for (; ow + PB <= WO; ow += PB) {
            cn_real t[PB];
            for (int l = 0; l < PB; l++) {
                const int q = 2 * (ow + l);
                t[l] = ((((cn_real)0 + r0[q]) + r0[q + 1]) + r1[q] + r1[q + 1]) / (cn_real)4;
            }
            for (int l = 0; l < PB; l++) y[ow + l] = t[l];
        }
        for (; ow < WO; ow++) {
            const int q = 2 * ow;
            y[ow] = ((((cn_real)0 + r0[q]) + r0[q + 1]) + r1[q] + r1[q + 1]) / (cn_real)4;
        }
    }
}

/* avg2x2_backward_plane: the backward of 2x2 stride-2 average pooling on one
 * plane: every input of window o gets 0 + dy[o] / 4 (the windows do not
 * overlap, so each input is written once, as the general path's zero-then-add
 * leaves it); inputs outside every window are zeroed. */
static void avg2x2_backward_plane(const cn_real *dyp, cn_real *dxp, int H, int W, int HO,
                                  int WO)
{
    // dyp (h_out, w_out); dxp (h, w)
    if (2 * HO < H || 2 * WO < W) memset(dxp, 0, (size_t)H * W * sizeof *dxp);
    for (int oh = 0; oh < HO; oh++) {
        cn_real *r0 = dxp + (size_t)(2 * oh) * W, *r1 = r0 + W;
        const cn_real *dy = dyp + (size_t)oh * WO;
        int ow = 0;
        for (; ow + PB <= WO; ow += PB) {
            cn_real t[2 * PB];
            for (int l = 0; l < 2 * PB; l++) t[l] = (cn_real)0 + dy[ow + l / 2] / (cn_real)4;
            for (int l = 0; l < 2 * PB; l++) r0[2 * ow + l] = t[l];
            for (int l = 0; l < 2 * PB; l++) r1[2 * ow + l] = t[l];
        }
        for (; ow < WO; ow++) {
            const cn_real v = (cn_real)0 + dy[ow] / (cn_real)4;
            r0[2 * ow] = r0[2 * ow + 1] = r1[2 * ow] = r1[2 * ow + 1] = v;
        }
    }
}

/* ------------------------------------------------------------------ max */

void cn_maxpool2d_forward(const cn_pool2d_geom *g, const cn_real *x, cn_real *y,
                          int32_t *idx)
{
    CN_ASSERT(g && g->kind == CN_POOL_MAX && g->h_out >= 1 && x && y && idx);
    const long planes = (long)g->n * g->c;
    const int H = g->h, W = g->w, HO = g->h_out, WO = g->w_out;
    const size_t plane_in = (size_t)H * W, plane_out = (size_t)HO * WO;
    const int fast = is_2x2s2(g);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (pool_parallel(g))
#endif
    for (long p = 0; p < planes; p++) {
        const cn_real *xp = x + (size_t)p * plane_in; // (h, w)
        cn_real *yp = y + (size_t)p * plane_out;      // (h_out, w_out)
        int32_t *ip = idx + (size_t)p * plane_out;    // (h_out, w_out)
        if (fast) {
            max2x2_plane(xp, yp, ip, W, HO, WO);
            continue;
        }
        for (int oh = 0; oh < HO; oh++) {
            long long h0 = (long long)oh * g->stride_h - g->pad_h;
            long long h1 = h0 + (long long)(g->kh - 1) * g->dil_h + 1;
            if (h1 > H) h1 = H;
            while (h0 < 0) h0 += g->dil_h;
            for (int ow = 0; ow < WO; ow++) {
                long long w0 = (long long)ow * g->stride_w - g->pad_w;
                long long w1 = w0 + (long long)(g->kw - 1) * g->dil_w + 1;
                if (w1 > W) w1 = W;
                while (w0 < 0) w0 += g->dil_w;
                const size_t o = (size_t)oh * WO + ow;
                if (h0 >= h1 || w0 >= w1) {
                    yp[o] = (cn_real)-INFINITY;
                    ip[o] = -1;
                    continue;
                }
                long long best = h0 * W + w0;
                cn_real m = (cn_real)-INFINITY;
                for (long long ih = h0; ih < h1; ih += g->dil_h)
                    for (long long iw = w0; iw < w1; iw += g->dil_w) {
                        const long long k = ih * W + iw;
                        const cn_real v = xp[k];
                        if (v > m || isnan(v)) {
                            m = v;
                            best = k;
                        }
                    }
                yp[o] = m;
                ip[o] = (int32_t)best;
            }
        }
    }
}

void cn_maxpool2d_backward(const cn_pool2d_geom *g, const cn_real *dy, const int32_t *idx,
                           cn_real *dx)
{
    CN_ASSERT(g && g->kind == CN_POOL_MAX && dy && idx && dx);
    const long planes = (long)g->n * g->c;
    const size_t plane_in = (size_t)g->h * g->w, plane_out = (size_t)g->h_out * g->w_out;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (pool_parallel(g))
#endif
    for (long p = 0; p < planes; p++) {
        cn_real *dxp = dx + (size_t)p * plane_in;       // (h, w)
        const cn_real *dyp = dy + (size_t)p * plane_out; // (h_out, w_out)
        const int32_t *ip = idx + (size_t)p * plane_out; // (h_out, w_out)
        memset(dxp, 0, plane_in * sizeof *dxp);
        for (size_t o = 0; o < plane_out; o++) {
            CN_ASSERT(ip[o] < (int64_t)plane_in);
            if (ip[o] >= 0) dxp[ip[o]] += dyp[o];
        }
    }
}

/* ------------------------------------------------------------------ average */

/* avg_window: PyTorch's clipped window [h0, h1) x [w0, w1) of output (oh, ow)
 * and its divisor; returns 0 when the clipped window is empty. */
static int avg_window(const cn_pool2d_geom *g, int oh, int ow, int *h0, int *h1, int *w0,
                      int *w1, cn_real *div)
{
    long long a = (long long)oh * g->stride_h - g->pad_h;
    long long b = (long long)ow * g->stride_w - g->pad_w;
    long long a1 = a + g->kh, b1 = b + g->kw;
    if (a1 > (long long)g->h + g->pad_h) a1 = (long long)g->h + g->pad_h;
    if (b1 > (long long)g->w + g->pad_w) b1 = (long long)g->w + g->pad_w;
    const long long pool_size = (a1 - a) * (b1 - b);
    if (a < 0) a = 0;
    if (b < 0) b = 0;
    if (a1 > g->h) a1 = g->h;
    if (b1 > g->w) b1 = g->w;
    if (a >= a1 || b >= b1) return 0;
    *h0 = (int)a;
    *h1 = (int)a1;
    *w0 = (int)b;
    *w1 = (int)b1;
    *div = (cn_real)(g->count_include_pad ? pool_size : (a1 - a) * (b1 - b));
    return 1;
}

void cn_avgpool2d_forward(const cn_pool2d_geom *g, const cn_real *x, cn_real *y)
{
    CN_ASSERT(g && g->kind == CN_POOL_AVG && g->h_out >= 1 && x && y);
    const long planes = (long)g->n * g->c;
    const int W = g->w, HO = g->h_out, WO = g->w_out;
    const size_t plane_in = (size_t)g->h * W, plane_out = (size_t)HO * WO;
    const int fast = is_2x2s2(g);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (pool_parallel(g))
#endif
    for (long p = 0; p < planes; p++) {
        const cn_real *xp = x + (size_t)p * plane_in; // (h, w)
        cn_real *yp = y + (size_t)p * plane_out;      // (h_out, w_out)
        if (fast) {
            avg2x2_plane(xp, yp, W, HO, WO);
            continue;
        }
        for (int oh = 0; oh < HO; oh++)
            for (int ow = 0; ow < WO; ow++) {
                int h0, h1, w0, w1;
                cn_real div;
                cn_real *o = yp + (size_t)oh * WO + ow;
                if (!avg_window(g, oh, ow, &h0, &h1, &w0, &w1, &div)) {
                    *o = 0;
                    continue;
                }
                cn_real s = 0;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) s += xp[(size_t)ih * W + iw];
                *o = s / div;
            }
    }
}

void cn_avgpool2d_backward(const cn_pool2d_geom *g, const cn_real *dy, cn_real *dx)
{
    CN_ASSERT(g && g->kind == CN_POOL_AVG && dy && dx);
    const long planes = (long)g->n * g->c;
    const int W = g->w, HO = g->h_out, WO = g->w_out;
    const size_t plane_in = (size_t)g->h * W, plane_out = (size_t)HO * WO;
    const int fast = is_2x2s2(g);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (pool_parallel(g))
#endif
    for (long p = 0; p < planes; p++) {
        cn_real *dxp = dx + (size_t)p * plane_in;       // (h, w)
        const cn_real *dyp = dy + (size_t)p * plane_out; // (h_out, w_out)
        if (fast) {
            avg2x2_backward_plane(dyp, dxp, g->h, W, HO, WO);
            continue;
        }
        memset(dxp, 0, plane_in * sizeof *dxp);
        for (int oh = 0; oh < HO; oh++)
            for (int ow = 0; ow < WO; ow++) {
                int h0, h1, w0, w1;
                cn_real div;
                if (!avg_window(g, oh, ow, &h0, &h1, &w0, &w1, &div)) continue;
                const cn_real v = dyp[(size_t)oh * WO + ow] / div;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) dxp[(size_t)ih * W + iw] += v;
            }
    }
}

/* ------------------------------------------------------------------ adaptive */

/* bin_start / bin_end: PyTorch's adaptive bin [floor(i in / out), ceil((i + 1) in / out))
 * along one axis, in integers. */
static int bin_start(int i, int in, int out)
{
    return (int)(((long long)i * in) / out);
}
static int bin_end(int i, int in, int out)
{
    return (int)(((long long)(i + 1) * in + out - 1) / out);
}

#ifdef _OPENMP
/* adaptive_parallel: 1 when the element visits (at least every input and every
 * output once per plane) reach PAR_MIN_WORK. */
static int adaptive_parallel(size_t nc, int h, int w, int oh, int ow)
{
    return (double)nc * (h > oh ? h : oh) * (w > ow ? w : ow) >= (double)PAR_MIN_WORK;
}
#endif

void cn_adaptive_avgpool2d_forward(size_t nc, int h, int w, int oh, int ow, const cn_real *x,
                                   cn_real *y)
{
    CN_ASSERT(h >= 1 && w >= 1 && oh >= 1 && ow >= 1 && x && y);
    const long planes = (long)nc;
    const size_t plane_in = (size_t)h * w, plane_out = (size_t)oh * ow;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (adaptive_parallel(nc, h, w, oh, ow))
#endif
    for (long p = 0; p < planes; p++) {
        const cn_real *xp = x + (size_t)p * plane_in; // (h, w)
        cn_real *yp = y + (size_t)p * plane_out;      // (oh, ow)
        for (int i = 0; i < oh; i++) {
            const int h0 = bin_start(i, h, oh), h1 = bin_end(i, h, oh);
            for (int j = 0; j < ow; j++) {
                const int w0 = bin_start(j, w, ow), w1 = bin_end(j, w, ow);
                cn_real s = 0;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) s += xp[(size_t)ih * w + iw];
                yp[(size_t)i * ow + j] = s / (cn_real)(h1 - h0) / (cn_real)(w1 - w0);
            }
        }
    }
}

void cn_adaptive_avgpool2d_backward(size_t nc, int h, int w, int oh, int ow,
                                    const cn_real *dy, cn_real *dx)
{
    CN_ASSERT(h >= 1 && w >= 1 && oh >= 1 && ow >= 1 && dy && dx);
    const long planes = (long)nc;
    const size_t plane_in = (size_t)h * w, plane_out = (size_t)oh * ow;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (adaptive_parallel(nc, h, w, oh, ow))
#endif
    for (long p = 0; p < planes; p++) {
        cn_real *dxp = dx + (size_t)p * plane_in;        // (h, w)
        const cn_real *dyp = dy + (size_t)p * plane_out; // (oh, ow)
        memset(dxp, 0, plane_in * sizeof *dxp);
        for (int i = 0; i < oh; i++) {
            const int h0 = bin_start(i, h, oh), h1 = bin_end(i, h, oh);
            for (int j = 0; j < ow; j++) {
                const int w0 = bin_start(j, w, ow), w1 = bin_end(j, w, ow);
                const cn_real v =
                    dyp[(size_t)i * ow + j] / (cn_real)(h1 - h0) / (cn_real)(w1 - w0);
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) dxp[(size_t)ih * w + iw] += v;
            }
        }
    }
}

/* ------------------------------------------------------------------ global */

void cn_global_avgpool_forward(size_t nc, size_t hw, const cn_real *x, cn_real *y)
{
    CN_ASSERT(hw >= 1 && x && y);
    const long planes = (long)nc;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((double)nc * hw >= (double)PAR_MIN_WORK)
#endif
    for (long p = 0; p < planes; p++) {
        const cn_real *xp = x + (size_t)p * hw; // (hw)
        cn_real s = 0;
        for (size_t k = 0; k < hw; k++) s += xp[k];
        y[p] = s / (cn_real)hw;
    }
}

void cn_global_avgpool_backward(size_t nc, size_t hw, const cn_real *dy, cn_real *dx)
{
    CN_ASSERT(hw >= 1 && dy && dx);
    const long planes = (long)nc;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((double)nc * hw >= (double)PAR_MIN_WORK)
#endif
    for (long p = 0; p < planes; p++) {
        const cn_real v = dy[p] / (cn_real)hw;
        cn_real *dxp = dx + (size_t)p * hw; // (hw)
        for (size_t k = 0; k < hw; k++) dxp[k] = v;
    }
}

void cn_global_maxpool_forward(size_t nc, size_t hw, const cn_real *x, cn_real *y,
                               int32_t *idx)
{
    CN_ASSERT(hw >= 1 && hw <= INT32_MAX && x && y && idx);
    const long planes = (long)nc;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((double)nc * hw >= (double)PAR_MIN_WORK)
#endif
    for (long p = 0; p < planes; p++) {
        const cn_real *xp = x + (size_t)p * hw; // (hw)
        cn_real m = (cn_real)-INFINITY;
        size_t best = 0;
        for (size_t k = 0; k < hw; k++)
            if (xp[k] > m || isnan(xp[k])) {
                m = xp[k];
                best = k;
            }
        y[p] = m;
        idx[p] = (int32_t)best;
    }
}

void cn_global_maxpool_backward(size_t nc, size_t hw, const cn_real *dy, const int32_t *idx,
                                cn_real *dx)
{
    CN_ASSERT(hw >= 1 && dy && idx && dx);
    const long planes = (long)nc;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((double)nc * hw >= (double)PAR_MIN_WORK)
#endif
    for (long p = 0; p < planes; p++) {
        cn_real *dxp = dx + (size_t)p * hw; // (hw)
        memset(dxp, 0, hw * sizeof *dxp);
        CN_ASSERT(idx[p] >= 0 && (size_t)idx[p] < hw);
        dxp[idx[p]] = dy[p];
    }
}
