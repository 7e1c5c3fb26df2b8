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
    size_t pad_f;        /* reals of one image group on its grid (cg_in channel blocks) */
    size_t part;         /* reals of one slot's partial weight gradient (c_out * kdim) */
    size_t slot;         /* workspace reals per slot */
    size_t total;        /* workspace reals in all (slots, then the rearranged kernel) */
} cn_conv2d_plan;

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

#endif /* CONVNET_SRC_KERNELS_CONV2D_GRID_H */
