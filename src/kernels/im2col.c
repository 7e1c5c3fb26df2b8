/* im2col.c: the geometry of a 2-D convolution (validation, output size, the
 * exact workspace size) and the im2col / col2im pair that turns a convolution
 * into a GEMM: im2col unfolds every receptive field of one image's channel group
 * into a column, col2im is its adjoint (scatter-add back). Padding, stride and
 * dilation are handled by clipping each kernel row's output range once, so the
 * inner loops have no bounds tests. The arithmetic shared with the other
 * convolutions (clipping, sizes, one unfolded row) is in conv_common.h. */
#include "convnet/conv.h"
#include "conv2d_grid.h"
#include "conv_common.h"

#include <limits.h>
#include <string.h>

cn_status cn_conv2d_geom_init(cn_conv2d_geom *g, cn_error *err)
{
    if (!g) return cn_error_set(err, CN_ERR_ARG, "conv2d: NULL geometry");
    if (g->n < 1 || g->c_in < 1 || g->h < 1 || g->w < 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "conv2d: input shape (%d, %d, %d, %d) must have every size >= 1",
                            g->n, g->c_in, g->h, g->w);
    if (g->c_out < 1 || g->kh < 1 || g->kw < 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "conv2d: %d output channels and kernel %dx%d must all be >= 1",
                            g->c_out, g->kh, g->kw);
    if (g->stride_h < 1 || g->stride_w < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "conv2d: stride (%d, %d) must be >= 1",
                            g->stride_h, g->stride_w);
    if (g->dil_h < 1 || g->dil_w < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "conv2d: dilation (%d, %d) must be >= 1",
                            g->dil_h, g->dil_w);
    if (g->pad_h < 0 || g->pad_w < 0)
        return cn_error_set(err, CN_ERR_SHAPE, "conv2d: padding (%d, %d) must be >= 0",
                            g->pad_h, g->pad_w);
    if (g->groups < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "conv2d: groups %d must be >= 1", g->groups);
    if (g->c_in % g->groups || g->c_out % g->groups)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "conv2d: groups %d must divide input channels %d and output "
                            "channels %d",
                            g->groups, g->c_in, g->c_out);
    cn_status st = cn_conv_out_size("conv2d", "height", g->h, g->kh, g->stride_h, g->pad_h,
                                    g->dil_h, &g->h_out, err);
    if (st) return st;
    st = cn_conv_out_size("conv2d", "width", g->w, g->kw, g->stride_w, g->pad_w, g->dil_w,
                          &g->w_out, err);
    if (st) return st;

    g->cg_in = g->c_in / g->groups;
    g->cg_out = g->c_out / g->groups;
    size_t kdim = 0, hw_out = 0, plane = 0, xs = 0, ys = 0, wsz = 0;
    int ov = cn_conv_mul3((size_t)g->cg_in, (size_t)g->kh, (size_t)g->kw, &kdim);
    if (ov || kdim > INT_MAX)
        return cn_error_set(err, CN_ERR_RANGE,
                            "conv2d: im2col rows %d x %d x %d overflow int", g->cg_in, g->kh,
                            g->kw);
    if (cn_mul_overflow((size_t)g->h_out, (size_t)g->w_out, &hw_out) || hw_out > INT_MAX ||
        cn_mul_overflow((size_t)g->h, (size_t)g->w, &plane) || plane > INT_MAX)
        return cn_error_set(err, CN_ERR_RANGE,
                            "conv2d: a plane (%d x %d in, %d x %d out) overflows int", g->h,
                            g->w, g->h_out, g->w_out);
    g->kdim = (int)kdim;
    g->hw_out = (int)hw_out;
    ov = cn_conv_mul3((size_t)g->n, (size_t)g->c_in, plane, &xs);
    if ((st = cn_conv_check_bytes("conv2d", xs, ov, "input", err))) return st;
    ov = cn_conv_mul3((size_t)g->n, (size_t)g->c_out, hw_out, &ys);
    if ((st = cn_conv_check_bytes("conv2d", ys, ov, "output", err))) return st;
    ov = cn_mul_overflow((size_t)g->c_out, kdim, &wsz);
    if ((st = cn_conv_check_bytes("conv2d", wsz, ov, "weight", err))) return st;
    g->slots = g->n < CN_CONV2D_SLOTS ? g->n : CN_CONV2D_SLOTS;
    g->direct_1x1 = g->kh == 1 && g->kw == 1 && g->stride_h == 1 && g->stride_w == 1 &&
                    g->pad_h == 0 && g->pad_w == 0;
    g->depthwise = g->groups == g->c_in && g->groups > 1;
    /* one image's im2col matrix, then the workspace of the path that runs g
     * (conv2d_grid.h) */
    size_t cols = 0;
    ov = cn_mul_overflow(kdim, hw_out, &cols);
    if ((st = cn_conv_check_bytes("conv2d", cols, ov, "im2col", err))) return st;
    cn_conv2d_plan plan;
    ov = cn_conv2d_plan_make(g, &plan);
    if ((st = cn_conv_check_bytes("conv2d", plan.total, ov, "workspace", err))) return st;
    return CN_OK;
}

size_t cn_conv2d_workspace_size(const cn_conv2d_geom *g)
{
    CN_ASSERT(g && g->slots >= 1);
    cn_conv2d_plan plan;
    int ov = cn_conv2d_plan_make(g, &plan);
    CN_ASSERT(!ov); /* checked by cn_conv2d_geom_init */
    return plan.total;
}

void cn_im2col(const cn_conv2d_geom *g, const cn_real *x, cn_real *cols)
{
    const int H = g->h, W = g->w, HO = g->h_out, WO = g->w_out;
    const size_t plane = (size_t)H * W, hw_out = (size_t)g->hw_out;
    for (int c = 0; c < g->cg_in; c++) {
        const cn_real *xc = x + (size_t)c * plane; // (h, w)
        for (int i = 0; i < g->kh; i++) {
            int oh_lo, oh_hi;
            cn_conv_clip_range(H, HO, g->stride_h, g->pad_h, i, g->dil_h, &oh_lo, &oh_hi);
            for (int j = 0; j < g->kw; j++) {
                int ow_lo, ow_hi;
                cn_conv_clip_range(W, WO, g->stride_w, g->pad_w, j, g->dil_w, &ow_lo, &ow_hi);
                // row (h_out, w_out)
                cn_real *row = cols + ((size_t)(c * g->kh + i) * g->kw + j) * hw_out;
                const long long col_off = (long long)j * g->dil_w - g->pad_w;
                for (int oh = 0; oh < HO; oh++) {
                    cn_real *r = row + (size_t)oh * WO;
                    if (oh < oh_lo || oh >= oh_hi || ow_lo >= ow_hi) {
                        memset(r, 0, (size_t)WO * sizeof *r);
                        continue;
                    }
                    const long long ih = (long long)oh * g->stride_h - g->pad_h +
                                         (long long)i * g->dil_h;
                    const cn_real *xr = xc + (size_t)ih * W; // (w)
                    cn_conv_unfold_row(r, xr, WO, ow_lo, ow_hi, g->stride_w, col_off);
                }
            }
        }
    }
}

void cn_col2im(const cn_conv2d_geom *g, const cn_real *cols, cn_real *x)
{
    const int H = g->h, W = g->w, WO = g->w_out;
    const size_t plane = (size_t)H * W, hw_out = (size_t)g->hw_out;
    memset(x, 0, (size_t)g->cg_in * plane * sizeof *x);
    for (int c = 0; c < g->cg_in; c++) {
        cn_real *xc = x + (size_t)c * plane; // (h, w)
        for (int i = 0; i < g->kh; i++) {
            int oh_lo, oh_hi;
            cn_conv_clip_range(H, g->h_out, g->stride_h, g->pad_h, i, g->dil_h, &oh_lo, &oh_hi);
            for (int j = 0; j < g->kw; j++) {
                int ow_lo, ow_hi;
                cn_conv_clip_range(W, WO, g->stride_w, g->pad_w, j, g->dil_w, &ow_lo, &ow_hi);
                const cn_real *row = cols + ((size_t)(c * g->kh + i) * g->kw + j) * hw_out;
                const long long col_off = (long long)j * g->dil_w - g->pad_w;
                for (int oh = oh_lo; oh < oh_hi; oh++) {
                    const cn_real *r = row + (size_t)oh * WO; // (w_out)
                    const long long ih = (long long)oh * g->stride_h - g->pad_h +
                                         (long long)i * g->dil_h;
                    cn_real *xr = xc + (size_t)ih * W; // (w)
                    for (int ow = ow_lo; ow < ow_hi; ow++)
                        xr[(long long)ow * g->stride_w + col_off] += r[ow];
                }
            }
        }
    }
}
