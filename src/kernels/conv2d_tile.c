/* conv2d_tile.c: the padded grid's convolution (conv2d_grid.h) as register
 * tiles, for the float build on CPUs with AVX-512 and output channels in
 * multiples of 16: a tile of P grid columns by V x 16 output channels stays in
 * P * V vector registers while the loop runs over every tap and input channel,
 * each step one vector of the rearranged kernel and P broadcast input values.
 * With few channels (ResNet-20's 16 to 64) one OpenBLAS GEMM per tap spends its
 * time packing and updating the output per tap; the tile loads and stores each
 * output once. The weight gradient's tiles hold rows (input channel, tap) by
 * output channels and sum over the grid columns, reading dy transposed onto
 * the grid in L1-sized runs. The transposes around them (dy onto the grid, the
 * outputs off it, the kernel into per-tap matrices) are 16-lane gathers.
 * Elsewhere (double build, other CPUs, other channel counts) every function
 * returns 0 and the caller runs its portable loops or the GEMMs. */
#include "conv2d_tile.h"

#if defined(__AVX512F__) && !defined(CN_DOUBLE)
#include <immintrin.h>
#include <limits.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* The loop bodies of one tile: acc[q * V + v] += x[q] * w[v], over the taps t
 * (offsets off[t] into each channel's block) and input channels ci (blocks cs
 * apart); the kernel wt (taps, c, m) from channel group v0 on. */
#if defined(__clang__)
#define TILE_UNROLL _Pragma("unroll")
#else
#define TILE_UNROLL _Pragma("GCC unroll 32")
#endif

#define TILE_FN(NAME, P, V)                                                                    \
    static void NAME(const float *xs, size_t cs, int c, const size_t *off, int taps,            \
                     const float *wt, int m, int v0, size_t col, float *outT)                  \
    {                                                                                          \
        __m512 acc[(P) * (V)];                                                                 \
        TILE_UNROLL                                                                            \
        for (int k = 0; k < (P) * (V); k++) acc[k] = _mm512_setzero_ps();                      \
        for (int t = 0; t < taps; t++) {                                                       \
            const float *xt = xs + off[t] + col;                  /* column col of tap t */   \
            const float *wtt = wt + (size_t)t * c * m + (size_t)v0 * 16; /* (c, m) */         \
            for (int ci = 0; ci < c; ci++) {                                                   \
                const float *xr = xt + (size_t)ci * cs;                                        \
                const float *wr = wtt + (size_t)ci * m;                                        \
                __m512 w[V];                                                                   \
                TILE_UNROLL                                                                    \
                for (int v = 0; v < (V); v++) w[v] = _mm512_loadu_ps(wr + 16 * v);             \
                TILE_UNROLL                                                                    \
                for (int q = 0; q < (P); q++) {                                                \
                    const __m512 xv = _mm512_set1_ps(xr[q]);                                   \
                    TILE_UNROLL                                                                \
                    for (int v = 0; v < (V); v++)                                              \
                        acc[q * (V) + v] = _mm512_fmadd_ps(xv, w[v], acc[q * (V) + v]);        \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
        TILE_UNROLL                                                                            \
        for (int q = 0; q < (P); q++) {                                                        \
            TILE_UNROLL                                                                        \
            for (int v = 0; v < (V); v++)                                                      \
                _mm512_storeu_ps(outT + (col + (size_t)q) * m + (size_t)(v0 + v) * 16,        \
                                 acc[q * (V) + v]);                                            \
        }                                                                                      \
    }

/* 24 accumulators each: the rest of the 32 registers hold the kernel's row */
TILE_FN(tile_24x1, 24, 1)
TILE_FN(tile_12x2, 12, 2)
TILE_FN(tile_6x4, 6, 4)
TILE_FN(tile_1x1, 1, 1)
TILE_FN(tile_1x2, 1, 2)
TILE_FN(tile_1x4, 1, 4)

typedef void (*tile_fn)(const float *, size_t, int, const size_t *, int, const float *, int,
                        int, size_t, float *);

int cn_conv2d_tile_ok(int m, int taps)
{
    return m % 16 == 0 && taps <= CN_CONV2D_TILE_MAX_TAPS;
}

/* tap_offsets: off[t] = i * dil_h * wp + j * dil_w for tap t = i * kw + j of g. */
static void tap_offsets(const cn_conv2d_geom *g, int wp, size_t *off)
{
    for (int i = 0; i < g->kh; i++)
        for (int j = 0; j < g->kw; j++)
            off[i * g->kw + j] = (size_t)i * g->dil_h * wp + (size_t)j * g->dil_w;
}

int cn_conv2d_tile(const cn_conv2d_geom *g, const cn_real *wt, int c, int m, int wp,
                   const cn_real *xs, size_t cs, int ncols, cn_real *outT)
{
    const int taps = g->kh * g->kw;
    if (!cn_conv2d_tile_ok(m, taps)) return 0;
    size_t off[CN_CONV2D_TILE_MAX_TAPS];
    tap_offsets(g, wp, off);
    return cn_conv2d_tile_off(off, taps, wt, c, m, xs, cs, ncols, outT);
}

int cn_conv2d_tile_off(const size_t *off, int taps, const cn_real *wt, int c, int m,
                       const cn_real *xs, size_t cs, int ncols, cn_real *outT)
{
    if (!cn_conv2d_tile_ok(m, taps) || taps < 1) return 0;
    const int groups16 = m / 16;
    const int V = groups16 % 4 == 0 ? 4 : groups16 % 2 == 0 ? 2 : 1;
    const int P = 24 / V;
    const tile_fn full = V == 4 ? tile_6x4 : V == 2 ? tile_12x2 : tile_24x1;
    const tile_fn one = V == 4 ? tile_1x4 : V == 2 ? tile_1x2 : tile_1x1;
    const size_t n = (size_t)ncols, body = n - n % (size_t)P;
    /* outside a parallel region (a lone slot: batch 1) the full tiles split
     * across the threads; each tile's values never depend on who computes it */
    const long per = (long)(body / (size_t)P), tiles = per * (groups16 / V);
    int par = 0;
#ifdef _OPENMP
    par = !omp_in_parallel() && omp_get_max_threads() > 1 &&
          (double)n * m * c * taps >= (double)CN_CONV2D_TILE_PAR_MIN;
#pragma omp parallel for schedule(static) if (par)
#endif
    for (long it = 0; it < tiles; it++)
        full(xs, cs, c, off, taps, wt, m, (int)(it / per) * V, (size_t)(it % per) * P, outT);
    (void)par;
    for (int v0 = 0; v0 < groups16 && body < n; v0 += V) {
        if (body > 0) /* the last P columns again: stores the same values twice */
            full(xs, cs, c, off, taps, wt, m, v0, n - (size_t)P, outT);
        else
            for (size_t col = 0; col < n; col++) one(xs, cs, c, off, taps, wt, m, v0, col, outT);
    }
    return 1;
}

/* The weight gradient's tiles: rows R of dwT (kdim, m) (row ci * taps + t reads
 * channel ci's block shifted by tap t) by V x 16 columns, summed over the grid
 * columns [c0, c1): acc[r * V + v] += x_r[col] * dyT[col][v]. acc starts at 0
 * or (add) at dwT's values. */
#define DW_FN(NAME, R, V)                                                                      \
    static void NAME(const float *const *xr, const float *dyT, int m, int v0, size_t c0,       \
                     size_t c1, int add, float *const *dst)                                    \
    {                                                                                          \
        __m512 acc[(R) * (V)];                                                                 \
        TILE_UNROLL                                                                            \
        for (int r = 0; r < (R); r++) {                                                        \
            TILE_UNROLL                                                                        \
            for (int v = 0; v < (V); v++)                                                      \
                acc[r * (V) + v] = add ? _mm512_loadu_ps(dst[r] + (size_t)(v0 + v) * 16)       \
                                       : _mm512_setzero_ps();                                  \
        }                                                                                      \
        const float *xq[R];                                                                    \
        TILE_UNROLL                                                                            \
        for (int r = 0; r < (R); r++) xq[r] = xr[r];                                           \
        for (size_t col = c0; col < c1; col++) {                                               \
            const float *d = dyT + col * (size_t)m + (size_t)v0 * 16;                          \
            __m512 dv[V];                                                                      \
            TILE_UNROLL                                                                        \
            for (int v = 0; v < (V); v++) dv[v] = _mm512_loadu_ps(d + 16 * v);                 \
            TILE_UNROLL                                                                        \
            for (int r = 0; r < (R); r++) {                                                    \
                const __m512 xv = _mm512_set1_ps(xq[r][col]);                                  \
                TILE_UNROLL                                                                    \
                for (int v = 0; v < (V); v++)                                                  \
                    acc[r * (V) + v] = _mm512_fmadd_ps(xv, dv[v], acc[r * (V) + v]);           \
            }                                                                                  \
        }                                                                                      \
        TILE_UNROLL                                                                            \
        for (int r = 0; r < (R); r++) {                                                        \
            TILE_UNROLL                                                                        \
            for (int v = 0; v < (V); v++)                                                      \
                _mm512_storeu_ps(dst[r] + (size_t)(v0 + v) * 16, acc[r * (V) + v]);            \
        }                                                                                      \
    }

/* 8 rows at 16 output channels: 24 rows' pointers did not fit in the registers
 * (84-100 against 140-149 GFLOP/s, 16 -> 16 channels on 32x32, 1 thread) */
DW_FN(dw_8x1, 8, 1)
DW_FN(dw_12x2, 12, 2)
DW_FN(dw_6x4, 6, 4)
DW_FN(dw_1x1, 1, 1)
DW_FN(dw_1x2, 1, 2)
DW_FN(dw_1x4, 1, 4)

int cn_conv2d_tile_transpose(const cn_real *src, size_t ss, size_t sj, int rows, int cols,
                             const cn_real *add, cn_real *dst, size_t ds)
{
    if ((size_t)rows * ss > INT_MAX) return 0;
    /* lanes: 16 consecutive rows of one column, gathered ss apart */
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7,
                                                            6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32((int)ss));
    for (int i0 = 0; i0 < rows; i0 += 16) {
        const int n = rows - i0 < 16 ? rows - i0 : 16;
        const __mmask16 k = (__mmask16)(n == 16 ? 0xffff : (1u << n) - 1);
        const float *s0 = src + (size_t)i0 * ss;
        for (int j = 0; j < cols; j++) {
            __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, idx, s0 + j * sj, 4);
            if (add) v = _mm512_add_ps(v, _mm512_set1_ps(add[j]));
            _mm512_mask_storeu_ps(dst + (size_t)j * ds + i0, k, v);
        }
    }
    return 1;
}

int cn_conv2d_tile_deinterleave2(const cn_real *src, int n, cn_real *even, cn_real *odd)
{
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    int v = 0;
    for (; v + 16 <= n; v += 16) {
        const __m512 lo = _mm512_loadu_ps(src + 2 * v), hi = _mm512_loadu_ps(src + 2 * v + 16);
        _mm512_storeu_ps(even + v, _mm512_permutex2var_ps(lo, ie, hi));
        _mm512_storeu_ps(odd + v, _mm512_permutex2var_ps(lo, io, hi));
    }
    for (; v < n; v++) {
        even[v] = src[2 * v];
        odd[v] = src[2 * v + 1];
    }
    return 1;
}

int cn_conv2d_tile_copy_rows(const cn_real *src, int rows, int w, int pad, cn_real *dst,
                             size_t ds)
{
    const int len = w + pad;
    for (int r = 0; r < rows; r++, src += w, dst += ds)
        for (int k = 0; k < len; k += 16) {
            /* lanes < w - k come from src (the rest load as zeros), lanes < len - k store */
            const int nl = w - k >= 16 ? 16 : w - k > 0 ? w - k : 0;
            const int ns = len - k >= 16 ? 16 : len - k;
            const __mmask16 lm = (__mmask16)((1u << nl) - 1u), sm = (__mmask16)((1u << ns) - 1u);
            _mm512_mask_storeu_ps(dst + k, sm, _mm512_maskz_loadu_ps(lm, src + k));
        }
    return 1;
}

typedef void (*dw_fn)(const float *const *, const float *, int, int, size_t, size_t, int,
                      float *const *);

int cn_conv2d_tile_dw(const cn_conv2d_geom *g, int c, int m, int wp, const cn_real *xs,
                      size_t cs, const cn_real *dyT, int ncols, int add, cn_real *dwT)
{
    const int taps = g->kh * g->kw;
    if (!cn_conv2d_tile_ok(m, taps)) return 0;
    size_t off[CN_CONV2D_TILE_MAX_TAPS];
    tap_offsets(g, wp, off);
    return cn_conv2d_tile_dw_off(off, taps, c, m, xs, cs, dyT, ncols, add, dwT);
}

int cn_conv2d_tile_dw_off(const size_t *off, int taps, int c, int m, const cn_real *xs,
                          size_t cs, const cn_real *dyT, int ncols, int add, cn_real *dwT)
{
    if (!cn_conv2d_tile_ok(m, taps) || taps < 1) return 0;
    const int groups16 = m / 16;
    const int V = groups16 % 4 == 0 ? 4 : groups16 % 2 == 0 ? 2 : 1;
    const int R = V == 1 ? 8 : 24 / V, rows = c * taps;
    const dw_fn full = V == 4 ? dw_6x4 : V == 2 ? dw_12x2 : dw_8x1;
    const dw_fn one = V == 4 ? dw_1x4 : V == 2 ? dw_1x2 : dw_1x1;
    /* columns in chunks whose dyT rows (m reals each) stay in the L1 cache while
     * every row tile reads them */
    const size_t chunk = (size_t)(CN_CONV2D_TILE_DW_BYTES / (m * (int)sizeof(float)));
    const float *xr[24]; /* R rows at most */
    float *dst[24];
    for (size_t c0 = 0; c0 < (size_t)ncols; c0 += chunk) {
        const size_t c1 = c0 + chunk < (size_t)ncols ? c0 + chunk : (size_t)ncols;
        const int acc = add || c0 > 0;
        for (int r0 = 0; r0 < rows; r0 += R) {
            const int rr = rows - r0 < R ? rows - r0 : R;
            for (int r = 0; r < rr; r++) {
                const int ci = (r0 + r) / taps, t = (r0 + r) % taps;
                xr[r] = xs + (size_t)ci * cs + off[t];
                dst[r] = dwT + (size_t)(r0 + r) * m;
            }
            for (int v0 = 0; v0 < groups16; v0 += V) {
                if (rr == R)
                    full(xr, dyT, m, v0, c0, c1, acc, dst);
                else
                    for (int r = 0; r < rr; r++) one(xr + r, dyT, m, v0, c0, c1, acc, dst + r);
            }
        }
    }
    return 1;
}

#else

int cn_conv2d_tile_ok(int m, int taps)
{
    (void)m, (void)taps;
    return 0;
}

int cn_conv2d_tile(const cn_conv2d_geom *g, const cn_real *wt, int c, int m, int wp,
                   const cn_real *xs, size_t cs, int ncols, cn_real *outT)
{
    (void)g, (void)wt, (void)c, (void)m, (void)wp, (void)xs, (void)cs, (void)ncols, (void)outT;
    return 0;
}

int cn_conv2d_tile_transpose(const cn_real *src, size_t ss, size_t sj, int rows, int cols,
                             const cn_real *add, cn_real *dst, size_t ds)
{
    (void)src, (void)ss, (void)sj, (void)rows, (void)cols, (void)add, (void)dst, (void)ds;
    return 0;
}

int cn_conv2d_tile_off(const size_t *off, int taps, const cn_real *wt, int c, int m,
                       const cn_real *xs, size_t cs, int ncols, cn_real *outT)
{
    (void)off, (void)taps, (void)wt, (void)c, (void)m, (void)xs, (void)cs, (void)ncols;
    (void)outT;
    return 0;
}

int cn_conv2d_tile_dw_off(const size_t *off, int taps, int c, int m, const cn_real *xs,
                          size_t cs, const cn_real *dyT, int ncols, int add, cn_real *dwT)
{
    (void)off, (void)taps, (void)c, (void)m, (void)xs, (void)cs, (void)dyT, (void)ncols;
    (void)add, (void)dwT;
    return 0;
}

int cn_conv2d_tile_copy_rows(const cn_real *src, int rows, int w, int pad, cn_real *dst,
                             size_t ds)
{
    (void)src, (void)rows, (void)w, (void)pad, (void)dst, (void)ds;
    return 0;
}

int cn_conv2d_tile_deinterleave2(const cn_real *src, int n, cn_real *even, cn_real *odd)
{
    (void)src, (void)n, (void)even, (void)odd;
    return 0;
}

int cn_conv2d_tile_dw(const cn_conv2d_geom *g, int c, int m, int wp, const cn_real *xs,
                      size_t cs, const cn_real *dyT, int ncols, int add, cn_real *dwT)
{
    (void)g, (void)c, (void)m, (void)wp, (void)xs, (void)cs, (void)dyT, (void)ncols, (void)add;
    (void)dwT;
    return 0;
}

#endif
