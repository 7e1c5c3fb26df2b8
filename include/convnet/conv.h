/* convnet/conv.h: pure compute kernels for 2-D convolution and 2-D pooling on raw
 * NCHW arrays (no tensors, no graph): geometry validation, im2col / col2im,
 * convolution forward and backward (im2col + GEMM, 1x1 as one GEMM, depthwise as
 * direct loops), max / average pooling with PyTorch's exact semantics, adaptive
 * average pooling, and global pooling. The graph's ops call these; they can be
 * tested and benchmarked alone.
 *
 * Conventions shared by every kernel here:
 *  - Arrays are contiguous, outermost-first: x (n, c, h, w). Sizes come from a
 *    geometry struct validated once by its _init function; kernels then trust it
 *    (a geometry that was not initialised successfully is a programmer error).
 *  - Kernels never allocate. Convolution takes a caller-allocated workspace of
 *    cn_conv2d_workspace_size(g) reals.
 *  - Gradients: an input gradient (dx) is OVERWRITTEN (it is this op's dL/dx; the
 *    graph sums several consumers itself); parameter gradients (dw, db) are
 *    ACCUMULATED (+=), the project's convention: parameters' gradients are
 *    cleared by cn_zero_grad.
 *  - OpenMP parallel loops over images or planes. Every result is bit-identical
 *    for any thread count (reductions over the batch use a fixed partition and a
 *    fixed order; see cn_conv2d_backward). Built OPENMP=0 everything is serial.
 *  - The derivation of the backward pass is docs/derivations/conv2d-im2col.md.
 */
#ifndef CONVNET_CONV_H
#define CONVNET_CONV_H

#include "convnet/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ convolution */

/* CN_CONV2D_SLOTS: the most images a convolution processes concurrently. The
 * batch is split into min(n, CN_CONV2D_SLOTS) slots, image i going to slot
 * i % slots; each slot has its own slice of the workspace (an im2col matrix and
 * a partial weight gradient), so the workspace size and every result depend on
 * the batch size only, never on the thread count. */
#define CN_CONV2D_SLOTS 8

/* cn_conv2d_geom: the geometry of one 2-D convolution (PyTorch's nn.Conv2d with
 * padding_mode "zeros"). Fill the input fields (all ints; stride and dilation
 * must be >= 1, padding >= 0, groups >= 1), then call cn_conv2d_geom_init, which
 * checks them and fills the derived fields. Example:
 *   cn_conv2d_geom g = {.n = 8, .c_in = 3, .h = 32, .w = 32, .c_out = 16, .kh = 3,
 *                       .kw = 3, .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1,
 *                       .dil_h = 1, .dil_w = 1, .groups = 1};
 *   if (cn_conv2d_geom_init(&g, &err) != CN_OK) ...
 * Shapes: x (n, c_in, h, w), w (c_out, c_in/groups, kh, kw), b (c_out),
 *         y (n, c_out, h_out, w_out). */
typedef struct cn_conv2d_geom {
    /* inputs */
    int n, c_in, h, w;          /* batch, input channels, input height, width */
    int c_out, kh, kw;          /* output channels, kernel height, width */
    int stride_h, stride_w;     /* >= 1 */
    int pad_h, pad_w;           /* >= 0, zeros on both sides */
    int dil_h, dil_w;           /* >= 1 */
    int groups;                 /* >= 1, divides c_in and c_out */
    /* derived by cn_conv2d_geom_init */
    int h_out, w_out;           /* floor((h + 2p - dil*(k-1) - 1) / s) + 1 */
    int cg_in, cg_out;          /* c_in / groups, c_out / groups */
    int kdim;                   /* cg_in * kh * kw: rows of one group's im2col matrix */
    int hw_out;                 /* h_out * w_out: columns of the im2col matrix */
    int slots;                  /* min(n, CN_CONV2D_SLOTS) */
    int direct_1x1;             /* 1: 1x1, stride 1, no padding: GEMM on x, no im2col */
    int depthwise;              /* 1: groups == c_in > 1 (cg_in 1): direct loops */
} cn_conv2d_geom;

/* cn_conv2d_geom_init: validate g's input fields and fill the derived ones.
 * Errors (g's derived fields then undefined):
 *   CN_ERR_SHAPE  a size < 1 (n, channels, h, w, kernel), stride or dilation
 *                 < 1, padding < 0, groups < 1 or not dividing c_in and c_out,
 *                 "conv kernel larger than padded input" (naming the dilated
 *                 kernel, the input and the padding);
 *   CN_ERR_RANGE  a buffer (x, w, y, im2col, workspace) whose element count
 *                 overflows size_t, or a GEMM dimension or plane that overflows int.
 * Every size, the batch n included, must be >= 1. */
cn_status cn_conv2d_geom_init(cn_conv2d_geom *g, cn_error *err);

/* cn_conv2d_workspace_size: the exact scratch, in reals, that cn_conv2d_forward
 * and cn_conv2d_backward need for g (one allocation serves both): per slot a
 * partial weight gradient (c_out, cg_in, kh, kw) and an im2col matrix (kdim,
 * hw_out) (none for direct_1x1); a stride-1 convolution (not direct_1x1) runs on
 * the zero-padded input's grid instead, with per slot a padded image group, the
 * im2col matrix and output of several images side by side, the same for the
 * input gradient (computed as the convolution of dy with the flipped kernel,
 * when pad <= dil * (k - 1)), and one flipped kernel; a strided convolution
 * whose channels take the float build's register tiles runs on phase grids
 * instead, with per slot the phase grids of several images and their output,
 * or dy laid on its grids and the input gradient's output, and one rearranged
 * kernel. Depends on g only (the batch included), never on the thread count.
 * Depthwise needs none: 0, and the kernels then accept ws == NULL. */
size_t cn_conv2d_workspace_size(const cn_conv2d_geom *g);

/* cn_im2col: unfold one image's channel group into columns.
 *   x    (cg_in, h, w): the group's input channels of one image
 *   cols (kdim, hw_out): row (c*kh + i)*kw + j, column oh*w_out + ow holds
 *        x[c, oh*stride_h - pad_h + i*dil_h, ow*stride_w - pad_w + j*dil_w], or 0
 *        where that falls in the padding. Overwritten. */
void cn_im2col(const cn_conv2d_geom *g, const cn_real *x, cn_real *cols);

/* cn_col2im: the adjoint of cn_im2col: x (cg_in, h, w) is OVERWRITTEN with the
 * sum, over every column entry, of that entry added at the input position it was
 * read from (entries that came from padding are dropped).
 *   cols (kdim, hw_out), x (cg_in, h, w) */
void cn_col2im(const cn_conv2d_geom *g, const cn_real *cols, cn_real *x);

/* cn_conv2d_forward: y = conv(x, w) + b.
 *   x  (n, c_in, h, w)
 *   w  (c_out, cg_in, kh, kw)
 *   b  (c_out) or NULL (no bias)
 *   y  (n, c_out, h_out, w_out), overwritten
 *   ws (cn_conv2d_workspace_size(g)) scratch
 * Per image and group: y_g (cg_out, hw_out) = w_g (cg_out, kdim) cols (kdim,
 * hw_out) with one GEMM; direct_1x1 uses x_g (cg_in, h*w) as cols; stride 1
 * does several images per GEMM on the padded grid; depthwise runs a direct
 * loop. y must not alias x, w or ws. */
void cn_conv2d_forward(const cn_conv2d_geom *g, const cn_real *x, const cn_real *w,
                       const cn_real *b, cn_real *y, cn_real *ws);

/* cn_conv2d_backward: gradients of L given dy = dL/dy.
 *   x  (n, c_in, h, w)            the forward input
 *   w  (c_out, cg_in, kh, kw)     the weights
 *   dy (n, c_out, h_out, w_out)
 *   dx (n, c_in, h, w) or NULL    OVERWRITTEN with dL/dx
 *   dw (c_out, cg_in, kh, kw) or NULL   ACCUMULATED: dw += dL/dw
 *   db (c_out) or NULL            ACCUMULATED: db += dL/db
 *   ws (cn_conv2d_workspace_size(g)) scratch
 * dx = col2im(w_g^T dy_g) per image and group (stride 1 with pad <= dil *
 * (k - 1): the convolution of dy, padded by dil * (k - 1) - pad, with the kernel
 * transposed and rotated by 180 degrees); dw_g += sum over images of dy_g
 * cols^T: each slot sums its images (one GEMM per image, or per run of images
 * on the grid) in increasing order into its own partial (GEMMs with beta 1),
 * then the partials are added to dw in slot order; db sums each channel over images then positions in a fixed order. So
 * the results do not depend on the thread count. Outputs must not alias inputs. */
void cn_conv2d_backward(const cn_conv2d_geom *g, const cn_real *x, const cn_real *w,
                        const cn_real *dy, cn_real *dx, cn_real *dw, cn_real *db,
                        cn_real *ws);

/* ================================================================ pooling */

typedef enum cn_pool_kind { CN_POOL_MAX = 0, CN_POOL_AVG = 1 } cn_pool_kind;

/* cn_pool2d_geom: the geometry of a 2-D max pooling (nn.MaxPool2d) or average
 * pooling (nn.AvgPool2d, divisor_override None). Fill the inputs, then call
 * cn_pool2d_geom_init. Unlike PyTorch there is no default stride: give it. */
typedef struct cn_pool2d_geom {
    /* inputs */
    cn_pool_kind kind;
    int n, c, h, w;             /* x (n, c, h, w) */
    int kh, kw;                 /* window, >= 1 */
    int stride_h, stride_w;     /* >= 1 */
    int pad_h, pad_w;           /* 0 <= pad <= kernel / 2 (PyTorch's rule) */
    int dil_h, dil_w;           /* >= 1; must be 1 for CN_POOL_AVG */
    int ceil_mode;              /* 1: ceil instead of floor in the output size */
    int count_include_pad;      /* CN_POOL_AVG: padding counts in the divisor */
    /* derived by cn_pool2d_geom_init */
    int h_out, w_out;           /* y (n, c, h_out, w_out) */
} cn_pool2d_geom;

/* cn_pool2d_geom_init: validate g and compute the output size as PyTorch does:
 *   out = floor_or_ceil((in + 2p - dil*(k-1) - 1) / s) + 1, and with ceil_mode,
 *   out -= 1 when the last window would start at or beyond in + p (it must start
 *   inside the input or the left padding).
 * Errors: CN_ERR_SHAPE for sizes < 1, stride or dilation < 1, padding < 0 or
 * above half the kernel, dilation != 1 for average pooling, and an output size
 * below 1 ("pool window larger than padded input"); CN_ERR_RANGE when a buffer's
 * element count overflows size_t or a plane (h*w) does not fit int32 indices. */
cn_status cn_pool2d_geom_init(cn_pool2d_geom *g, cn_error *err);

/* cn_maxpool2d_forward: y = max over each window; idx records where.
 *   x   (n, c, h, w)
 *   y   (n, c, h_out, w_out), overwritten
 *   idx (n, c, h_out, w_out), overwritten: flat index ih*w + iw of the maximum
 *       within its input plane (PyTorch's return_indices). Ties: the first
 *       maximum in row-major scan order; a NaN wins (and propagates). A window
 *       that holds no input element (possible only with dilation) gives -Inf and
 *       index -1. */
void cn_maxpool2d_forward(const cn_pool2d_geom *g, const cn_real *x, cn_real *y,
                          int32_t *idx);

/* cn_maxpool2d_backward: dx OVERWRITTEN: zero, then dx[plane][idx] += dy for
 * every output (windows that overlap may route several outputs to one input).
 *   dy (n, c, h_out, w_out), idx (n, c, h_out, w_out), dx (n, c, h, w) */
void cn_maxpool2d_backward(const cn_pool2d_geom *g, const cn_real *dy,
                           const int32_t *idx, cn_real *dx);

/* cn_avgpool2d_forward: y = mean over each window, PyTorch's divisor: the window
 * clipped to the padded input (in + pad) when count_include_pad, else clipped to
 * the input; an empty clipped window gives 0.
 *   x (n, c, h, w), y (n, c, h_out, w_out) overwritten */
void cn_avgpool2d_forward(const cn_pool2d_geom *g, const cn_real *x, cn_real *y);

/* cn_avgpool2d_backward: dx OVERWRITTEN: every input in a window receives
 * dy / divisor of that window.
 *   dy (n, c, h_out, w_out), dx (n, c, h, w) */
void cn_avgpool2d_backward(const cn_pool2d_geom *g, const cn_real *dy, cn_real *dx);

/* cn_global_avgpool_forward: y[p] = mean of plane p of x, over nc planes of hw
 * elements each (nc = n * c, hw = h * w, both >= 1).
 *   x (nc, hw), y (nc) overwritten */
void cn_global_avgpool_forward(size_t nc, size_t hw, const cn_real *x, cn_real *y);

/* cn_global_avgpool_backward: dx (nc, hw) OVERWRITTEN with dy[p] / hw.
 *   dy (nc), dx (nc, hw) */
void cn_global_avgpool_backward(size_t nc, size_t hw, const cn_real *dy, cn_real *dx);

/* cn_global_maxpool_forward: y[p] = max of plane p, idx[p] its first position
 * (a NaN wins). hw must fit int32.
 *   x (nc, hw), y (nc) overwritten, idx (nc) overwritten */
void cn_global_maxpool_forward(size_t nc, size_t hw, const cn_real *x, cn_real *y,
                               int32_t *idx);

/* cn_global_maxpool_backward: dx (nc, hw) OVERWRITTEN: zero except
 * dx[p][idx[p]] = dy[p].
 *   dy (nc), idx (nc), dx (nc, hw) */
void cn_global_maxpool_backward(size_t nc, size_t hw, const cn_real *dy,
                                const int32_t *idx, cn_real *dx);

/* cn_adaptive_avgpool2d_forward: PyTorch's nn.AdaptiveAvgPool2d((oh, ow)) over nc
 * planes (nc = n * c) of h x w: output (i, j) is the mean of input rows
 * [floor(i h / oh), ceil((i + 1) h / oh)) and columns [floor(j w / ow),
 * ceil((j + 1) w / ow)) (every bin holds at least one element; bins overlap
 * when h is not a multiple of oh, and oh > h repeats rows). The sum is divided
 * by the bin height, then by its width, as PyTorch's CPU kernel. Every size >= 1.
 *   x (nc, h, w), y (nc, oh, ow) overwritten */
void cn_adaptive_avgpool2d_forward(size_t nc, int h, int w, int oh, int ow, const cn_real *x,
                                   cn_real *y);

/* cn_adaptive_avgpool2d_backward: dx OVERWRITTEN: zero, then every input of bin
 * (i, j) receives dy[i, j] / (bin height) / (bin width) (summed over the bins
 * that hold it).
 *   dy (nc, oh, ow), dx (nc, h, w) */
void cn_adaptive_avgpool2d_backward(size_t nc, int h, int w, int oh, int ow,
                                    const cn_real *dy, cn_real *dx);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_CONV_H */
