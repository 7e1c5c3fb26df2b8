/* convnet/conv_nd.h: pure compute kernels for 3-D convolution (PyTorch's
 * nn.Conv3d) and transposed 2-D convolution (nn.ConvTranspose2d) on raw
 * contiguous arrays: geometry validation, vol2col / col2vol, forward and
 * backward through im2col-style unfolding + GEMM. 1-D convolution needs no
 * kernel of its own: it is a 2-D convolution with h == 1 (include/convnet/conv.h).
 *
 * The conventions are those of convnet/conv.h:
 *  - Arrays are contiguous, outermost-first: x (n, c, d, h, w) for 3-D,
 *    x (n, c, h, w) for the transposed convolution. Sizes come from a geometry
 *    struct validated once by its _init function; kernels then trust it.
 *  - Kernels never allocate: they take a caller-allocated workspace of
 *    cn_conv3d_workspace_size(g) / cn_convt2d_workspace_size(g) reals.
 *  - dx is OVERWRITTEN; dw and db are ACCUMULATED (+=); NULL skips an output.
 *  - The batch is split into min(n, CN_CONV2D_SLOTS) slots (image i in slot
 *    i % slots), each with its own workspace slice and partial weight gradient;
 *    partials are added in slot order, so every result is bit-identical for any
 *    thread count. OpenMP runs the slots in parallel.
 * Derivations: docs/kernels/conv3d.md and docs/kernels/conv-transpose2d.md.
 */
#ifndef CONVNET_CONV_ND_H
#define CONVNET_CONV_ND_H

#include "convnet/conv.h"
#include "convnet/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ 3-D convolution */

/* cn_conv3d_geom: the geometry of one 3-D convolution (nn.Conv3d, padding_mode
 * "zeros"). Fill the input fields (stride and dilation >= 1, padding >= 0,
 * groups >= 1 dividing c_in and c_out), then call cn_conv3d_geom_init. Example:
 *   cn_conv3d_geom g = {.n = 2, .c_in = 3, .d = 8, .h = 16, .w = 16, .c_out = 8,
 *                       .kd = 3, .kh = 3, .kw = 3, .stride_d = 1, .stride_h = 1,
 *                       .stride_w = 1, .pad_d = 1, .pad_h = 1, .pad_w = 1,
 *                       .dil_d = 1, .dil_h = 1, .dil_w = 1, .groups = 1};
 *   if (cn_conv3d_geom_init(&g, &err) != CN_OK) ...
 * Shapes: x (n, c_in, d, h, w), w (c_out, c_in/groups, kd, kh, kw), b (c_out),
 *         y (n, c_out, d_out, h_out, w_out). */
typedef struct cn_conv3d_geom {
    /* inputs */
    int n, c_in, d, h, w;               /* batch, input channels, depth, height, width */
    int c_out, kd, kh, kw;              /* output channels, kernel depth, height, width */
    int stride_d, stride_h, stride_w;   /* >= 1 */
    int pad_d, pad_h, pad_w;            /* >= 0, zeros on both sides */
    int dil_d, dil_h, dil_w;            /* >= 1 */
    int groups;                         /* >= 1, divides c_in and c_out */
    /* derived by cn_conv3d_geom_init */
    int d_out, h_out, w_out;            /* floor((in + 2p - dil*(k-1) - 1) / s) + 1 */
    int cg_in, cg_out;                  /* c_in / groups, c_out / groups */
    int kdim;                           /* cg_in*kd*kh*kw: rows of one group's vol2col matrix */
    int out_sp;                         /* d_out*h_out*w_out: its columns */
    int slots;                          /* min(n, CN_CONV2D_SLOTS) */
    int direct_1x1;                     /* 1: 1x1x1 kernel, stride 1, no padding: no vol2col */
} cn_conv3d_geom;

/* cn_conv3d_geom_init: validate g's input fields and fill the derived ones.
 * Errors (g's derived fields then undefined):
 *   CN_ERR_ARG    g is NULL;
 *   CN_ERR_SHAPE  a size < 1 (n, channels, d, h, w, kernel), stride or
 *                 dilation < 1, padding < 0, groups < 1 or not dividing c_in
 *                 and c_out, "conv kernel larger than padded input along
 *                 <axis>" (naming the dilated kernel, the input and the padding);
 *   CN_ERR_RANGE  a buffer (x, w, y, vol2col, workspace) whose byte count
 *                 overflows size_t, or a GEMM dimension or volume that overflows
 *                 int. */
cn_status cn_conv3d_geom_init(cn_conv3d_geom *g, cn_error *err);

/* cn_conv3d_workspace_size: the exact scratch, in reals, that cn_conv3d_forward
 * and cn_conv3d_backward need (one allocation serves both): per slot a vol2col
 * matrix (kdim, out_sp) (none when direct_1x1) and a partial weight gradient
 * (c_out, cg_in, kd, kh, kw). */
size_t cn_conv3d_workspace_size(const cn_conv3d_geom *g);

/* cn_vol2col: unfold one image's channel group into columns.
 *   x    (cg_in, d, h, w): the group's input channels of one image
 *   cols (kdim, out_sp): row ((c*kd + a)*kh + i)*kw + j, column
 *        (od*h_out + oh)*w_out + ow holds x[c, od*stride_d - pad_d + a*dil_d,
 *        oh*stride_h - pad_h + i*dil_h, ow*stride_w - pad_w + j*dil_w], or 0
 *        where that falls in the padding. Overwritten. */
void cn_vol2col(const cn_conv3d_geom *g, const cn_real *x, cn_real *cols);

/* cn_col2vol: the adjoint of cn_vol2col: x (cg_in, d, h, w) is OVERWRITTEN with
 * the sum, over every column entry, of that entry added at the input position it
 * was read from (entries that came from padding are dropped).
 *   cols (kdim, out_sp), x (cg_in, d, h, w) */
void cn_col2vol(const cn_conv3d_geom *g, const cn_real *cols, cn_real *x);

/* cn_conv3d_forward: y = conv3d(x, w) + b.
 *   x  (n, c_in, d, h, w)
 *   w  (c_out, cg_in, kd, kh, kw)
 *   b  (c_out) or NULL (no bias)
 *   y  (n, c_out, d_out, h_out, w_out), overwritten
 *   ws (cn_conv3d_workspace_size(g)) scratch
 * Per image and group: y_g (cg_out, out_sp) = w_g (cg_out, kdim) cols (kdim,
 * out_sp) with one GEMM. y must not alias x, w or ws. */
void cn_conv3d_forward(const cn_conv3d_geom *g, const cn_real *x, const cn_real *w,
                       const cn_real *b, cn_real *y, cn_real *ws);

/* cn_conv3d_backward: gradients of L given dy = dL/dy.
 *   x  (n, c_in, d, h, w)                the forward input
 *   w  (c_out, cg_in, kd, kh, kw)        the weights
 *   dy (n, c_out, d_out, h_out, w_out)
 *   dx (n, c_in, d, h, w) or NULL        OVERWRITTEN with dL/dx
 *   dw (c_out, cg_in, kd, kh, kw) or NULL ACCUMULATED: dw += dL/dw
 *   db (c_out) or NULL                   ACCUMULATED: db += dL/db
 *   ws (cn_conv3d_workspace_size(g)) scratch
 * dx = col2vol(w_g^T dy_g) per image and group; dw_g += sum over images of
 * dy_g cols^T, per slot in image order, slots added in slot order; db sums each
 * channel over images then positions. Outputs must not alias inputs. */
void cn_conv3d_backward(const cn_conv3d_geom *g, const cn_real *x, const cn_real *w,
                        const cn_real *dy, cn_real *dx, cn_real *dw, cn_real *db,
                        cn_real *ws);

/* ================================================================ transposed 2-D */

/* cn_convt2d_geom: the geometry of one transposed 2-D convolution
 * (nn.ConvTranspose2d): the adjoint, with respect to its input, of the 2-D
 * convolution with the same kernel, stride, padding, dilation and groups that
 * maps an image of y's size to one of x's size. Fill the input fields, then call
 * cn_convt2d_geom_init. Example (2x upsampling):
 *   cn_convt2d_geom g = {.n = 4, .c_in = 16, .h = 8, .w = 8, .c_out = 8, .kh = 4,
 *                        .kw = 4, .stride_h = 2, .stride_w = 2, .pad_h = 1,
 *                        .pad_w = 1, .out_pad_h = 0, .out_pad_w = 0, .dil_h = 1,
 *                        .dil_w = 1, .groups = 1};
 * Shapes (PyTorch's layout): x (n, c_in, h, w), w (c_in, c_out/groups, kh, kw),
 *         b (c_out), y (n, c_out, h_out, w_out). */
typedef struct cn_convt2d_geom {
    /* inputs */
    int n, c_in, h, w;          /* batch, input channels, input height, width */
    int c_out, kh, kw;          /* output channels, kernel height, width */
    int stride_h, stride_w;     /* >= 1 */
    int pad_h, pad_w;           /* >= 0: removed from both sides of the output */
    int out_pad_h, out_pad_w;   /* >= 0, below the stride or the dilation of its axis */
    int dil_h, dil_w;           /* >= 1 */
    int groups;                 /* >= 1, divides c_in and c_out */
    /* derived by cn_convt2d_geom_init */
    int h_out, w_out;           /* (in-1)*s - 2p + dil*(k-1) + out_pad + 1 */
    int cg_in, cg_out;          /* c_in / groups, c_out / groups */
    int kdim;                   /* cg_out*kh*kw: rows of one group's column matrix */
    int hw_in;                  /* h*w: its columns */
    int slots;                  /* min(n, CN_CONV2D_SLOTS) */
    int direct_1x1;             /* 1: 1x1 kernel, stride 1, no padding or output
                                   padding: the column matrix is y itself */
} cn_convt2d_geom;

/* cn_convt2d_geom_init: validate g's input fields and fill the derived ones,
 * with PyTorch's rules. Errors (derived fields then undefined):
 *   CN_ERR_ARG    g is NULL;
 *   CN_ERR_SHAPE  a size < 1, stride or dilation < 1, padding or output padding
 *                 < 0, groups < 1 or not dividing c_in and c_out, an output
 *                 padding not below the stride or the dilation of its axis
 *                 ("output padding must be smaller than either stride or
 *                 dilation"), an output size below 1 ("output size is too
 *                 small", naming the input and the computed output size);
 *   CN_ERR_RANGE  an output size or GEMM dimension that overflows int, or a
 *                 buffer (x, w, y, columns, workspace) whose byte count
 *                 overflows size_t. */
cn_status cn_convt2d_geom_init(cn_convt2d_geom *g, cn_error *err);

/* cn_convt2d_workspace_size: the exact scratch, in reals, that
 * cn_convt2d_forward and cn_convt2d_backward need: per slot a column matrix
 * (kdim, hw_in) (none when direct_1x1) and a partial weight gradient
 * (c_in, cg_out, kh, kw). */
size_t cn_convt2d_workspace_size(const cn_convt2d_geom *g);

/* cn_convt2d_forward: y = conv_transpose2d(x, w) + b.
 *   x  (n, c_in, h, w)
 *   w  (c_in, cg_out, kh, kw)
 *   b  (c_out) or NULL (no bias)
 *   y  (n, c_out, h_out, w_out), overwritten
 *   ws (cn_convt2d_workspace_size(g)) scratch
 * Per image and group: cols (kdim, hw_in) = w_g^T (kdim, cg_in) x_g (cg_in,
 * hw_in), then scatter-added (col2im) into y_g (cg_out, h_out, w_out): y position
 * (ih*stride - pad + i*dil, ...) receives row (c*kh + i)*kw + j, column
 * ih*w + iw; positions beyond the output are dropped. y must not alias x, w, ws. */
void cn_convt2d_forward(const cn_convt2d_geom *g, const cn_real *x, const cn_real *w,
                        const cn_real *b, cn_real *y, cn_real *ws);

/* cn_convt2d_backward: gradients of L given dy = dL/dy.
 *   x  (n, c_in, h, w)                 the forward input
 *   w  (c_in, cg_out, kh, kw)          the weights
 *   dy (n, c_out, h_out, w_out)
 *   dx (n, c_in, h, w) or NULL         OVERWRITTEN with dL/dx
 *   dw (c_in, cg_out, kh, kw) or NULL  ACCUMULATED: dw += dL/dw
 *   db (c_out) or NULL                 ACCUMULATED: db += dL/db
 *   ws (cn_convt2d_workspace_size(g)) scratch
 * Per image and group: dcols (kdim, hw_in) = im2col(dy_g) (a 2-D convolution's
 * unfolding of dy), dx_g = w_g (cg_in, kdim) dcols, dw_g += x_g dcols^T (per
 * slot in image order, slots added in slot order); db sums each channel over
 * images then positions. Outputs must not alias inputs. */
void cn_convt2d_backward(const cn_convt2d_geom *g, const cn_real *x, const cn_real *w,
                         const cn_real *dy, cn_real *dx, cn_real *dw, cn_real *db,
                         cn_real *ws);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_CONV_ND_H */
