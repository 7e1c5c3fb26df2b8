/* conv2d_tile.h (internal): the padded grid's per-tap convolution as register
 * tiles (conv2d_tile.c), used by conv2d_grid.c where the CPU and the channel
 * count allow it. Not part of the public API. */
#ifndef CONVNET_SRC_KERNELS_CONV2D_TILE_H
#define CONVNET_SRC_KERNELS_CONV2D_TILE_H

#include "convnet/conv.h"

#include <stddef.h>

/* CN_CONV2D_TILE_MAX_TAPS: the largest kernel (kh * kw) the tiles take. */
#define CN_CONV2D_TILE_MAX_TAPS 64

/* cn_conv2d_tile: outT (ncols, m) = sum over the taps (i, j) of g's kernel and
 * the c input channels of view_ij^T wt_t, where view_ij is xs (c rows of
 * stride cs) shifted by i * dil_h * wp + j * dil_w and wt (taps, c, m) the
 * rearranged kernel: the same result as one GEMM per tap (summed in another
 * order). Reads xs up to column ncols - 1 plus the largest shift of each row.
 * Returns 1 when it ran, 0 when this build or CPU has no tile for it (no
 * AVX-512, the double build, m not a multiple of 16, more than
 * CN_CONV2D_TILE_MAX_TAPS taps): then outT is untouched. */
int cn_conv2d_tile(const cn_conv2d_geom *g, const cn_real *wt, int c, int m, int wp,
                   const cn_real *xs, size_t cs, int ncols, cn_real *outT);

/* cn_conv2d_tile_off: cn_conv2d_tile with the taps' shifts given: tap t reads
 * each channel's block at off[t] (+ column), t < taps (1..CN_CONV2D_TILE_MAX_TAPS),
 * and wt is (taps, c, m). Returns 1 when it ran, else 0 (outT untouched). */
int cn_conv2d_tile_off(const size_t *off, int taps, const cn_real *wt, int c, int m,
                       const cn_real *xs, size_t cs, int ncols, cn_real *outT);

/* CN_CONV2D_TILE_PAR_MIN: called outside a parallel region (batch 1),
 * cn_conv2d_tile splits its tiles across the threads from this many
 * multiply-adds on. */
#define CN_CONV2D_TILE_PAR_MIN (1 << 20)

/* CN_CONV2D_TILE_DW_BYTES: the weight gradient's tiles read dy's transpose in
 * runs of columns of at most this many bytes (kept in the L1 cache). */
#define CN_CONV2D_TILE_DW_BYTES (24 * 1024)

/* cn_conv2d_tile_dw: dwT (c * taps, m) = (add ? dwT : 0) + sum over the grid
 * columns col < ncols of view_r[col] dyT[col], where row r = ci * taps + t of
 * dwT pairs input channel ci (xs's block at ci * cs, blocks of stride cs) with
 * tap t = i * kw + j (its view shifted by i * dil_h * wp + j * dil_w), and dyT
 * (ncols, m) is dy on the grid, transposed, with zeros on the dropped columns.
 * Returns 1 when it ran, 0 (dwT untouched) where cn_conv2d_tile_ok(m, taps) is 0. */
int cn_conv2d_tile_dw(const cn_conv2d_geom *g, int c, int m, int wp, const cn_real *xs,
                      size_t cs, const cn_real *dyT, int ncols, int add, cn_real *dwT);

/* cn_conv2d_tile_dw_off: cn_conv2d_tile_dw with the taps' shifts given: row r =
 * ci * taps + t reads xs at ci * cs + off[t] (+ column), t < taps (1..
 * CN_CONV2D_TILE_MAX_TAPS). Returns 1 when it ran, else 0 (dwT untouched). */
int cn_conv2d_tile_dw_off(const size_t *off, int taps, int c, int m, const cn_real *xs,
                          size_t cs, const cn_real *dyT, int ncols, int add, cn_real *dwT);

/* cn_conv2d_tile_transpose: dst[j * ds + i] = src[i * ss + j * sj] (+ add[j]
 * when add is not NULL) for i < rows, j < cols, 16 rows at a time by vector
 * gathers. Returns 1 when it ran, 0 (dst untouched) in builds without the
 * tiles or when rows * ss passes INT_MAX. */
int cn_conv2d_tile_transpose(const cn_real *src, size_t ss, size_t sj, int rows, int cols,
                             const cn_real *add, cn_real *dst, size_t ds);

/* cn_conv2d_tile_deinterleave2: even[v] = src[2 v], odd[v] = src[2 v + 1] for v <
 * n (reads src[0 .. 2 n)) by vector permutes. Returns 1 when it ran, 0
 * (nothing written) in builds without the tiles. */
int cn_conv2d_tile_deinterleave2(const cn_real *src, int n, cn_real *even, cn_real *odd);

/* cn_conv2d_tile_copy_rows: dst row r (ds reals apart) = the w reals of src row
 * r (rows contiguous, w apart) followed by pad zeros, for r < rows, by masked
 * vector moves (a 32-real row is two; memcpy + memset calls cost more than the
 * copy at that size). Returns 1 when it ran, 0 (nothing written) in builds
 * without the tiles. */
int cn_conv2d_tile_copy_rows(const cn_real *src, int rows, int w, int pad, cn_real *dst,
                             size_t ds);

/* cn_conv2d_tile_ok: 1 when cn_conv2d_tile runs for m output channels and
 * taps = kh * kw (this build and CPU have tiles for them), else 0. */
int cn_conv2d_tile_ok(int m, int taps);

#endif /* CONVNET_SRC_KERNELS_CONV2D_TILE_H */
