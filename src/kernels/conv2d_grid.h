/* conv2d_grid.h (internal): the plan of a 2-D convolution (which path runs it and
 * how its workspace is laid out) and the padded-grid path for stride-1
 * convolutions, shared by im2col.c (geometry, workspace size) and conv2d.c (the
 * public kernels). Not part of the public API.
 *
 * The padded grid: a stride-1 convolution computes its outputs on the grid of
 * the zero-padded input instead of (h_out, w_out). The images lie on rows of
 * pitch wp = w + pad_w, h + pad_h rows an image: the pad_w zeros after a row
 * are its right padding and the next row's left padding, the pad_h zero rows
 * after an image its bottom padding and the next image's top padding (this
 * needs pad <= dil * (k - 1), the kernel's reach). Output (r, q) of image t is
 * grid column (t * hp + r) * wp + q, hp = h + pad_h; the columns q >= w_out
 * and the rows r >= h_out are computed and dropped (the forward) or meet zeros
 * (the weight gradient: dy is spread onto the grid with zeros there). Sharing
 * the padding keeps those extra columns few: 16 x 16 grid columns per 14 x 14
 * outputs for a 5 x 5 kernel with padding 2, where padding each image on its
 * own would take 18 x 18. On that grid the im2col row of channel c and tap
 * (i, j) is one contiguous run of the image's grid, so the unfolding is one
 * memcpy per row, and several images share one GEMM: (kdim, k * h_out * wp).
 * The input gradient of a stride-1 convolution is the stride-1 convolution of
 * dy, padded by dil * (k - 1) - pad, with the flipped and transposed kernel,
 * so it runs on the grid too (no col2im).
 *
 * The forward and that input gradient unfold nothing: the k images' grids lie
 * channel-major, (c, k * hp * wp) plus the zeros before and after, so the
 * im2col row of tap (i, j) is the whole buffer shifted by i * dil_h * wp + j *
 * dil_w, a strided view a GEMM reads in place. The convolution is then one GEMM
 * per tap, accumulated, computing the transposed output (k * hp * wp, c_out):
 * out^T += view^T W_tap^T, the shape OpenBLAS runs fastest for few channels
 * (measured 1.3-1.8x the unfolded GEMM at 16-64 channels). The weight gradient
 * keeps the unfolded columns above CN_CONV2D_DW_SHIFT_MAX channels and also
 * computes its transpose, (kdim, c_out). Where conv2d_tile.h has register tiles
 * (float build, AVX-512, output channels in multiples of 16) they replace the
 * per-tap GEMMs of all three (the forward at any column count; the weight
 * gradient over dy transposed onto the grid), and the grid also takes
 * convolutions with one input channel.
 */
#ifndef CONVNET_SRC_KERNELS_CONV2D_GRID_H
#define CONVNET_SRC_KERNELS_CONV2D_GRID_H

#include "convnet/conv.h"

#include <stddef.h>

/* CN_CONV2D_GRID_COLS, CN_CONV2D_GRID_REALS: the padded-grid path puts
 * ceil(CN_CONV2D_GRID_COLS / (h_out * wp)) images into one GEMM, fewer when their
 * im2col matrix would pass CN_CONV2D_GRID_REALS (so it stays in cache), at most
 * a slot's images and at least one. */
#ifndef CN_CONV2D_GRID_COLS
#define CN_CONV2D_GRID_COLS 1024
#endif
#ifndef CN_CONV2D_GRID_REALS
#define CN_CONV2D_GRID_REALS (1 << 18)
#endif

/* CN_CONV2D_DW_SHIFT_MAX: with at most this many input and output channels per
 * group the weight gradient also reads the padded images in place (one GEMM per
 * tap) instead of unfolding them; with more, the unfolded GEMM is faster. */
#ifndef CN_CONV2D_DW_SHIFT_MAX
#define CN_CONV2D_DW_SHIFT_MAX 16
#endif

/* CN_CONV2D_SHIFT_MIN_COLS: the forward runs one GEMM per tap when a GEMM has at
 * least this many grid columns (k images); below (batch 1 on small maps) the
 * per-tap GEMMs are too small for their call cost, and it unfolds instead. */
#ifndef CN_CONV2D_SHIFT_MIN_COLS
#define CN_CONV2D_SHIFT_MIN_COLS 512
#endif

/* cn_conv2d_plan: derived from a geometry by cn_conv2d_plan_make, the same for
 * every thread count. */
typedef struct cn_conv2d_plan {
    int grid;            /* 1: forward and weight gradient on the padded grid */
    int grid_dx;         /* 1: input gradient as the flipped convolution on the grid */
    int dw_tile;         /* 1: weight gradient by register tiles on the padded images */
    int dw_shift;        /* 1: weight gradient by one GEMM per tap on the padded images */
    int fwd_shift;       /* 1: forward by one GEMM per tap; 0: unfolded columns, one GEMM */
    int k;               /* images per GEMM on the grid path */
    int hp, wp, lf;      /* forward: rows per image h + pad_h, row pitch w + pad_w; grid
                          * columns per image h_out * wp */
    int hq, wq, lb;      /* input gradient: the same for dy padded by dil * (k - 1) - pad
                          * (hq = h_out + that, wq likewise); columns per image h * wq */
    int phase;           /* 1: stride > 1 on phase grids by register tiles (conv2d_phase.c) */
    int pu, pv;          /* phase grids: rows ceil((h + 2 pad_h) / stride_h) and pitch
                          * ceil((w + 2 pad_w) / stride_w) per image */
    int pi, pj;          /* the largest tap shift on a phase grid: dil * (k - 1) / stride */
    size_t pad_f;        /* reals of one image group on its grid (cg_in channel blocks) */
    size_t part;         /* reals of one slot's partial weight gradient (c_out * kdim) */
    size_t slot;         /* workspace reals per slot */
    size_t total;        /* workspace reals in all (slots, then the rearranged kernel) */
} cn_conv2d_plan;

/* CN_CONV2D_PHASE_COLS: the phase-grid path puts ceil(CN_CONV2D_PHASE_COLS /
 * (pu * pv)) images into one tile call, at most a slot's images. */
#ifndef CN_CONV2D_PHASE_COLS
#define CN_CONV2D_PHASE_COLS 1024
#endif

/* cn_conv2d_strides: reals between images and between groups of x (n, c_in, h,
 * w) and y (n, c_out, h_out, w_out), and between groups of w (c_out, cg_in, kh,
 * kw). */
typedef struct cn_conv2d_strides {
    size_t x_img, x_grp, y_img, y_grp, w_grp;
} cn_conv2d_strides;

static inline cn_conv2d_strides cn_conv2d_strides_of(const cn_conv2d_geom *g)
{
    const size_t hw = (size_t)g->h * g->w, hwo = (size_t)g->hw_out;
    cn_conv2d_strides st = {.x_img = (size_t)g->c_in * hw, .x_grp = (size_t)g->cg_in * hw,
                            .y_img = (size_t)g->c_out * hwo, .y_grp = (size_t)g->cg_out * hwo,
                            .w_grp = (size_t)g->cg_out * g->kdim};
    return st;
}

/* cn_conv2d_plan_make: fill p from an initialised g (its derived fields
 * set, slots included). Returns 1 when the workspace size overflows size_t
 * (p->total then undefined), else 0. Depthwise: total 0. */
int cn_conv2d_plan_make(const cn_conv2d_geom *g, cn_conv2d_plan *p);

/* cn_conv2d_grid_forward / cn_conv2d_grid_backward: cn_conv2d_forward and
 * cn_conv2d_backward (without the bias gradient) for a plan with grid set; same
 * arguments and contracts. */
void cn_conv2d_grid_forward(const cn_conv2d_geom *g, const cn_conv2d_plan *p, const cn_real *x,
                            const cn_real *w, const cn_real *b, cn_real *y, cn_real *ws);
void cn_conv2d_grid_backward(const cn_conv2d_geom *g, const cn_conv2d_plan *p, const cn_real *x,
                             const cn_real *w, const cn_real *dy, cn_real *dx, cn_real *dw,
                             cn_real *ws);

/* cn_conv2d_phase_forward / cn_conv2d_phase_backward (conv2d_phase.c): the same
 * for a plan with phase set (strided convolutions on phase grids). */
void cn_conv2d_phase_forward(const cn_conv2d_geom *g, const cn_conv2d_plan *p, const cn_real *x,
                             const cn_real *w, const cn_real *b, cn_real *y, cn_real *ws);
void cn_conv2d_phase_backward(const cn_conv2d_geom *g, const cn_conv2d_plan *p,
                              const cn_real *x, const cn_real *w, const cn_real *dy,
                              cn_real *dx, cn_real *dw, cn_real *ws);

/* Pieces of the grid path that the phase path shares (conv2d_grid.c). */

/* cn_conv2d_extract_t: y (c, ho, wo) = the valid rows of a transposed grid output
 * outT (ho * wp rows of c: row r * wp + q is output (r, q) of every channel),
 * plus b[ch] when b is not NULL. */
void cn_conv2d_extract_t(int c, int ho, int wo, int wp, const cn_real *outT, const cn_real *b,
                         cn_real *y);

/* cn_conv2d_spread_t: the transposed grid dyT (ncols, c) of kk images = dy of
 * image t (c, ho, wo, at base + imgs[t] * stride) at rows t * hwp + r * wp + q,
 * zeros on the other rows up to ncols = (kk - 1) * hwp + ho * wp. */
void cn_conv2d_spread_t(int c, int ho, int wo, size_t wp, size_t hwp, const cn_real *base,
                        const size_t *imgs, size_t stride, int kk, cn_real *dyT);

/* cn_conv2d_rearrange: the kernel w (c_out, cg_in, kh, kw) as one matrix per
 * group and tap, wt (groups, kh * kw, a, b). flip 0: wt[grp][t] (cg_in, cg_out)
 * = w[grp's co][ci][t]. flip 1: wt[grp][t] (cg_out, cg_in) = w[grp's
 * co][ci][taps - 1 - t], the kernel rotated by 180 degrees. */
void cn_conv2d_rearrange(const cn_conv2d_geom *g, const cn_real *w, int flip, cn_real *wt);

/* cn_conv2d_reduce_slots_t: dw (c_out, cg_in, kh, kw) += the slots' transposed
 * partials (per group (kdim, cg_out), slot s's at ws + s * p->slot) added in
 * slot order; on the threads when par. */
void cn_conv2d_reduce_slots_t(const cn_conv2d_geom *g, const cn_conv2d_plan *p,
                              const cn_real *ws, cn_real *dw, int par);

#endif /* CONVNET_SRC_KERNELS_CONV2D_GRID_H */
