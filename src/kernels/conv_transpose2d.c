/* conv_transpose2d.c: transposed 2-D convolution (nn.ConvTranspose2d) on raw
 * NCHW arrays: geometry validation with PyTorch's rules, and forward / backward
 * as GEMMs around an unfolding of the output-sized image: forward is
 * col2im(w_g^T x_g) (the adjoint of a 2-D convolution's input gradient),
 * backward unfolds dy with im2col and multiplies by w_g. The unfolding pair is
 * local because the "convolution input" here is y, whose size need not match a
 * conv2d geometry's output-size formula when output padding >= stride. The batch
 * is split into slots run in parallel; weight-gradient partials are added in
 * slot order, so every result is independent of the thread count.
 * Derivation: docs/kernels/conv-transpose2d.md.
 * Helpers shared with the other convolutions (bias, slot reduction, clipping,
 * sizes): conv_common.h. */
#include "convnet/conv_nd.h"
#include "convnet/kernels.h"
#include "conv_common.h"

#include <limits.h>
#include <string.h>

/* ------------------------------------------------------------------ geometry */

/* check_inputs: the CN_ERR_SHAPE checks on g's input fields. */
static cn_status check_inputs(const cn_convt2d_geom *g, cn_error *err)
{
    if (g->n < 1 || g->c_in < 1 || g->h < 1 || g->w < 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "conv_transpose2d: input shape (%d, %d, %d, %d) must have every "
                            "size >= 1",
                            g->n, g->c_in, g->h, g->w);
    if (g->c_out < 1 || g->kh < 1 || g->kw < 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "conv_transpose2d: %d output channels and kernel %dx%d must all "
                            "be >= 1",
                            g->c_out, g->kh, g->kw);
    if (g->stride_h < 1 || g->stride_w < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "conv_transpose2d: stride (%d, %d) must be >= 1",
                            g->stride_h, g->stride_w);
    if (g->dil_h < 1 || g->dil_w < 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "conv_transpose2d: dilation (%d, %d) must be >= 1", g->dil_h,
                            g->dil_w);
    if (g->pad_h < 0 || g->pad_w < 0)
        return cn_error_set(err, CN_ERR_SHAPE, "conv_transpose2d: padding (%d, %d) must be >= 0",
                            g->pad_h, g->pad_w);
    if (g->out_pad_h < 0 || g->out_pad_w < 0)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "conv_transpose2d: output padding (%d, %d) must be >= 0",
                            g->out_pad_h, g->out_pad_w);
    if ((g->out_pad_h >= g->stride_h && g->out_pad_h >= g->dil_h) ||
        (g->out_pad_w >= g->stride_w && g->out_pad_w >= g->dil_w))
        return cn_error_set(err, CN_ERR_SHAPE,
                            "conv_transpose2d: output padding must be smaller than either "
                            "stride or dilation, but got output padding (%d, %d), stride "
                            "(%d, %d), dilation (%d, %d)",
                            g->out_pad_h, g->out_pad_w, g->stride_h, g->stride_w, g->dil_h,
                            g->dil_w);
    if (g->groups < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "conv_transpose2d: groups %d must be >= 1",
                            g->groups);
    if (g->c_in % g->groups || g->c_out % g->groups)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "conv_transpose2d: groups %d must divide input channels %d and "
                            "output channels %d",
                            g->groups, g->c_in, g->c_out);
    return CN_OK;
}

cn_status cn_convt2d_geom_init(cn_convt2d_geom *g, cn_error *err)
{
    if (!g) return cn_error_set(err, CN_ERR_ARG, "conv_transpose2d: NULL geometry");
    cn_status st = check_inputs(g, err);
    if (st) return st;
    /* (in-1)*s - 2p + d*(k-1) + op + 1: every term fits long long from ints */
    const long long ho = ((long long)g->h - 1) * g->stride_h - 2LL * g->pad_h +
                         (long long)g->dil_h * (g->kh - 1) + g->out_pad_h + 1;
    const long long wo = ((long long)g->w - 1) * g->stride_w - 2LL * g->pad_w +
                         (long long)g->dil_w * (g->kw - 1) + g->out_pad_w + 1;
    if (ho < 1 || wo < 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "conv_transpose2d: output size is too small: input %d x %d gives "
                            "output %lld x %lld (kernel %dx%d, stride (%d, %d), padding (%d, "
                            "%d), dilation (%d, %d))",
                            g->h, g->w, ho, wo, g->kh, g->kw, g->stride_h, g->stride_w,
                            g->pad_h, g->pad_w, g->dil_h, g->dil_w);
    if (ho > INT_MAX || wo > INT_MAX)
        return cn_error_set(err, CN_ERR_RANGE,
                            "conv_transpose2d: output size %lld x %lld overflows int", ho, wo);
    g->h_out = (int)ho;
    g->w_out = (int)wo;
    g->cg_in = g->c_in / g->groups;
    g->cg_out = g->c_out / g->groups;
    size_t kdim = 0, hw_in = 0, hw_out = 0, xs = 0, ys = 0, wsz = 0;
    if (cn_conv_mul3((size_t)g->cg_out, (size_t)g->kh, (size_t)g->kw, &kdim) || kdim > INT_MAX)
        return cn_error_set(err, CN_ERR_RANGE,
                            "conv_transpose2d: column rows %d x %d x %d overflow int",
                            g->cg_out, g->kh, g->kw);
    if (cn_conv_mul3((size_t)g->h, (size_t)g->w, 1, &hw_in) || hw_in > INT_MAX ||
        cn_conv_mul3((size_t)g->h_out, (size_t)g->w_out, 1, &hw_out) || hw_out > INT_MAX)
        return cn_error_set(err, CN_ERR_RANGE,
                            "conv_transpose2d: a plane (%d x %d in, %d x %d out) overflows int",
                            g->h, g->w, g->h_out, g->w_out);
    g->kdim = (int)kdim;
    g->hw_in = (int)hw_in;
    int ov = cn_conv_mul3((size_t)g->n, (size_t)g->c_in, hw_in, &xs);
    if ((st = cn_conv_check_bytes("conv_transpose2d", xs, ov, "input", err))) return st;
    ov = cn_conv_mul3((size_t)g->n, (size_t)g->c_out, hw_out, &ys);
    if ((st = cn_conv_check_bytes("conv_transpose2d", ys, ov, "output", err))) return st;
    ov = cn_mul_overflow((size_t)g->c_in, kdim, &wsz);
    if ((st = cn_conv_check_bytes("conv_transpose2d", wsz, ov, "weight", err))) return st;
    g->slots = g->n < CN_CONV2D_SLOTS ? g->n : CN_CONV2D_SLOTS;
    g->direct_1x1 = g->kh == 1 && g->kw == 1 && g->stride_h == 1 && g->stride_w == 1 &&
                    g->pad_h == 0 && g->pad_w == 0 && g->out_pad_h == 0 && g->out_pad_w == 0;
    size_t cols = 0, slot, total = 0;
    ov = cn_mul_overflow(kdim, hw_in, &cols);
    if ((st = cn_conv_check_bytes("conv_transpose2d", cols, ov, "column", err))) return st;
    if (g->direct_1x1) cols = 0;
    ov = cols > SIZE_MAX - wsz;
    slot = ov ? 0 : cols + wsz;
    ov = ov || cn_mul_overflow(slot, (size_t)g->slots, &total);
    if ((st = cn_conv_check_bytes("conv_transpose2d", total, ov, "workspace", err))) return st;
    return CN_OK;
}

/* cols_reals: the reals of one slot's column matrix (0 for direct_1x1). */
static size_t cols_reals(const cn_convt2d_geom *g)
{
    return g->direct_1x1 ? 0 : (size_t)g->kdim * (size_t)g->hw_in;
}

size_t cn_convt2d_workspace_size(const cn_convt2d_geom *g)
{
    CN_ASSERT(g && g->slots >= 1);
    return (cols_reals(g) + (size_t)g->c_in * (size_t)g->kdim) * (size_t)g->slots;
}

/* ------------------------------------------------------------------ unfolding */

/* unfold: cols (kdim, hw_in) row (c*kh + i)*kw + j, column ih*w + iw =
 * y[c, ih*s_h - p_h + i*d_h, iw*s_w - p_w + j*d_w], 0 outside y: the im2col of a
 * 2-D convolution whose input is y (cg_out, h_out, w_out) and output x-sized. */
static void unfold(const cn_convt2d_geom *g, const cn_real *y, cn_real *cols)
{
    const int HO = g->h_out, WO = g->w_out, H = g->h, W = g->w;
    const size_t plane_y = (size_t)HO * WO, hw = (size_t)g->hw_in;
    for (int c = 0; c < g->cg_out; c++) {
        const cn_real *yc = y + (size_t)c * plane_y; // (h_out, w_out)
        for (int i = 0; i < g->kh; i++) {
            int ih_lo, ih_hi;
            cn_conv_clip_range(HO, H, g->stride_h, g->pad_h, i, g->dil_h, &ih_lo, &ih_hi);
            for (int j = 0; j < g->kw; j++) {
                int iw_lo, iw_hi;
                cn_conv_clip_range(WO, W, g->stride_w, g->pad_w, j, g->dil_w, &iw_lo, &iw_hi);
                cn_real *row = cols + ((size_t)(c * g->kh + i) * g->kw + j) * hw; // (h, w)
                const long long col_off = (long long)j * g->dil_w - g->pad_w;
                for (int ih = 0; ih < H; ih++) {
                    cn_real *r = row + (size_t)ih * W;
                    if (ih < ih_lo || ih >= ih_hi || iw_lo >= iw_hi) {
                        memset(r, 0, (size_t)W * sizeof *r);
                        continue;
                    }
                    const long long oh = (long long)ih * g->stride_h - g->pad_h +
                                         (long long)i * g->dil_h;
                    const cn_real *yr = yc + (size_t)oh * WO; // (w_out)
                    cn_conv_unfold_row(r, yr, W, iw_lo, iw_hi, g->stride_w, col_off);
                }
            }
        }
    }
}

/* fold: the adjoint of unfold: y (cg_out, h_out, w_out) is OVERWRITTEN with every
 * column entry added at the y position unfold reads it from (entries whose
 * position falls outside y are dropped). cols (kdim, hw_in). */
static void fold(const cn_convt2d_geom *g, const cn_real *cols, cn_real *y)
{
    const int HO = g->h_out, WO = g->w_out, H = g->h, W = g->w;
    const size_t plane_y = (size_t)HO * WO, hw = (size_t)g->hw_in;
    memset(y, 0, (size_t)g->cg_out * plane_y * sizeof *y);
    for (int c = 0; c < g->cg_out; c++) {
        cn_real *yc = y + (size_t)c * plane_y; // (h_out, w_out)
        for (int i = 0; i < g->kh; i++) {
            int ih_lo, ih_hi;
            cn_conv_clip_range(HO, H, g->stride_h, g->pad_h, i, g->dil_h, &ih_lo, &ih_hi);
            for (int j = 0; j < g->kw; j++) {
                int iw_lo, iw_hi;
                cn_conv_clip_range(WO, W, g->stride_w, g->pad_w, j, g->dil_w, &iw_lo, &iw_hi);
                const cn_real *row = cols + ((size_t)(c * g->kh + i) * g->kw + j) * hw;
                const long long col_off = (long long)j * g->dil_w - g->pad_w;
                for (int ih = ih_lo; ih < ih_hi; ih++) {
                    const cn_real *r = row + (size_t)ih * W; // (w)
                    const long long oh = (long long)ih * g->stride_h - g->pad_h +
                                         (long long)i * g->dil_h;
                    cn_real *yr = yc + (size_t)oh * WO; // (w_out)
                    for (int iw = iw_lo; iw < iw_hi; iw++)
                        yr[(long long)iw * g->stride_w + col_off] += r[iw];
                }
            }
        }
    }
}

/* ------------------------------------------------------------------ forward, backward */

/* convt_parallel: 1 when g's forward multiply-adds reach CN_CONV_PAR_MIN_WORK. */
static int convt_parallel(const cn_convt2d_geom *g)
{
    return cn_conv_parallel((double)g->n * g->c_in * g->hw_in * g->kdim);
}

/* ct_ctx: the arguments of the slot functions (cn_conv_run_slots) with the
 * strides: reals per slot (of them the columns' cols_sz), between images and
 * groups of x and y, between groups of w. */
typedef struct ct_ctx {
    const cn_convt2d_geom *g;
    const cn_real *x, *w, *dy;
    cn_real *y, *dx, *ws;
    int want_dw;
    size_t slot, cols_sz, x_img, x_grp, y_img, y_grp, w_grp;
} ct_ctx;

static ct_ctx ct_ctx_of(const cn_convt2d_geom *g)
{
    const size_t hw = (size_t)g->hw_in, hw_out = (size_t)g->h_out * g->w_out;
    const size_t cols_sz = cols_reals(g);
    ct_ctx c = {.g = g, .cols_sz = cols_sz, .slot = cols_sz + (size_t)g->kdim * g->c_in,
                .x_img = (size_t)g->c_in * hw, .x_grp = (size_t)g->cg_in * hw,
                .y_img = (size_t)g->c_out * hw_out, .y_grp = (size_t)g->cg_out * hw_out,
                .w_grp = (size_t)g->cg_in * g->kdim};
    return c;
}

/* ct_forward_slot: y of slot s's images (image i in slot i % slots). */
static void ct_forward_slot(void *ctx, int s)
{
    const ct_ctx *c = ctx;
    const cn_convt2d_geom *g = c->g;
    const int hw = g->hw_in, kdim = g->kdim;
    cn_real *cols = c->ws + (size_t)s * c->slot; // (kdim, hw_in)
    for (int i = s; i < g->n; i += g->slots) {
        for (int grp = 0; grp < g->groups; grp++) {
            const cn_real *xg = c->x + i * c->x_img + grp * c->x_grp; // (cg_in, h, w)
            cn_real *yg = c->y + i * c->y_img + grp * c->y_grp; // (cg_out, h_out, w_out)
            cn_real *C = g->direct_1x1 ? yg : cols;
            // C (kdim, hw_in) = w_g^T (kdim, cg_in) x_g (cg_in, hw_in)
            cn_gemm(CN_TRANS, CN_NO_TRANS, kdim, hw, g->cg_in, 1, c->w + grp * c->w_grp, kdim, xg,
                    hw, 0, C, hw);
            if (!g->direct_1x1) fold(g, cols, yg);
        }
    }
}

void cn_convt2d_forward(const cn_convt2d_geom *g, const cn_real *x, const cn_real *w,
                        const cn_real *b, cn_real *y, cn_real *ws)
{
    CN_ASSERT(g && g->slots >= 1 && x && w && y && ws);
    ct_ctx c = ct_ctx_of(g);
    c.x = x, c.w = w, c.y = y, c.ws = ws;
    cn_conv_run_slots(g->slots, convt_parallel(g), ct_forward_slot, &c);
    if (b) cn_conv_add_bias(g->n, g->c_out, (size_t)g->h_out * g->w_out, b, y, convt_parallel(g));
}

/* ct_backward_slot: dx of slot s's images and the slot's partial weight
 * gradient (summed over its images in order). */
static void ct_backward_slot(void *ctx, int s)
{
    const ct_ctx *c = ctx;
    const cn_convt2d_geom *g = c->g;
    const int hw = g->hw_in, kdim = g->kdim;
    cn_real *cols = c->ws + (size_t)s * c->slot; // (kdim, hw_in)
    cn_real *part = cols + c->cols_sz;           // (c_in, cg_out, kh, kw)
    for (int i = s; i < g->n; i += g->slots) {
        const cn_real beta = i == s ? 0 : 1; // the slot's first image starts its sum
        for (int grp = 0; grp < g->groups; grp++) {
            const cn_real *xg = c->x + i * c->x_img + grp * c->x_grp;   // (cg_in, h, w)
            const cn_real *dyg = c->dy + i * c->y_img + grp * c->y_grp; // (cg_out, h_out, w_out)
            const cn_real *wg = c->w + grp * c->w_grp;                  // (cg_in, kdim)
            const cn_real *B = dyg;                                     // (kdim, hw_in)
            if (!g->direct_1x1) {
                unfold(g, dyg, cols);
                B = cols;
            }
            if (c->want_dw) // part_g (cg_in, kdim) (+)= x_g (cg_in, hw_in) B^T (hw_in, kdim)
                cn_gemm(CN_NO_TRANS, CN_TRANS, g->cg_in, kdim, hw, 1, xg, hw, B, hw, beta,
                        part + grp * c->w_grp, kdim);
            if (c->dx) // dx_g (cg_in, hw_in) = w_g (cg_in, kdim) B (kdim, hw_in)
                cn_gemm(CN_NO_TRANS, CN_NO_TRANS, g->cg_in, hw, kdim, 1, wg, kdim, B, hw, 0,
                        c->dx + i * c->x_img + grp * c->x_grp, hw);
        }
    }
}

void cn_convt2d_backward(const cn_convt2d_geom *g, const cn_real *x, const cn_real *w,
                         const cn_real *dy, cn_real *dx, cn_real *dw, cn_real *db,
                         cn_real *ws)
{
    CN_ASSERT(g && g->slots >= 1 && x && w && dy);
    if (db)
        cn_conv_bias_grad(g->n, g->c_out, (size_t)g->h_out * g->w_out, dy, db, convt_parallel(g));
    if (!dx && !dw) return;
    CN_ASSERT(ws);
    ct_ctx c = ct_ctx_of(g);
    c.x = x, c.w = w, c.dy = dy, c.dx = dx, c.ws = ws, c.want_dw = dw != NULL;
    cn_conv_run_slots(g->slots, convt_parallel(g), ct_backward_slot, &c);
    // dw (c_in, cg_out, kh, kw) += the slots' partials, in slot order
    if (dw)
        cn_conv_reduce_slots((size_t)g->kdim * g->c_in, g->slots, c.slot, ws + c.cols_sz, dw,
                             convt_parallel(g));
}
