/* conv3d.c: 3-D convolution (nn.Conv3d) on raw NCDHW arrays: geometry validation
 * and the exact workspace, vol2col / col2vol (the 3-D im2col pair, with each
 * kernel tap's valid output range clipped once per axis so the inner loops carry
 * no bounds tests), and forward / backward as one GEMM per image and group. The
 * batch is split into slots run in parallel, each with its own workspace slice;
 * weight-gradient partials are added in slot order, so every result is
 * independent of the thread count. Derivation: docs/kernels/conv3d.md.
 * Helpers shared with the other convolutions (bias, slot reduction, clipping,
 * sizes): conv_common.h. */
#include "convnet/conv_nd.h"
#include "convnet/kernels.h"
#include "conv_common.h"

#include <limits.h>
#include <string.h>

/* ------------------------------------------------------------------ geometry */

/* check_inputs: the CN_ERR_SHAPE checks on g's input fields. */
static cn_status check_inputs(const cn_conv3d_geom *g, cn_error *err)
{
    if (g->n < 1 || g->c_in < 1 || g->d < 1 || g->h < 1 || g->w < 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "conv3d: input shape (%d, %d, %d, %d, %d) must have every size >= 1",
                            g->n, g->c_in, g->d, g->h, g->w);
    if (g->c_out < 1 || g->kd < 1 || g->kh < 1 || g->kw < 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "conv3d: %d output channels and kernel %dx%dx%d must all be >= 1",
                            g->c_out, g->kd, g->kh, g->kw);
    if (g->stride_d < 1 || g->stride_h < 1 || g->stride_w < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "conv3d: stride (%d, %d, %d) must be >= 1",
                            g->stride_d, g->stride_h, g->stride_w);
    if (g->dil_d < 1 || g->dil_h < 1 || g->dil_w < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "conv3d: dilation (%d, %d, %d) must be >= 1",
                            g->dil_d, g->dil_h, g->dil_w);
    if (g->pad_d < 0 || g->pad_h < 0 || g->pad_w < 0)
        return cn_error_set(err, CN_ERR_SHAPE, "conv3d: padding (%d, %d, %d) must be >= 0",
                            g->pad_d, g->pad_h, g->pad_w);
    if (g->groups < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "conv3d: groups %d must be >= 1", g->groups);
    if (g->c_in % g->groups || g->c_out % g->groups)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "conv3d: groups %d must divide input channels %d and output "
                            "channels %d",
                            g->groups, g->c_in, g->c_out);
    return CN_OK;
}

cn_status cn_conv3d_geom_init(cn_conv3d_geom *g, cn_error *err)
{
    if (!g) return cn_error_set(err, CN_ERR_ARG, "conv3d: NULL geometry");
    cn_status st = check_inputs(g, err);
    if (st) return st;
    if ((st = cn_conv_out_size("conv3d", "depth", g->d, g->kd, g->stride_d, g->pad_d, g->dil_d,
                               &g->d_out, err)) ||
        (st = cn_conv_out_size("conv3d", "height", g->h, g->kh, g->stride_h, g->pad_h, g->dil_h,
                               &g->h_out, err)) ||
        (st = cn_conv_out_size("conv3d", "width", g->w, g->kw, g->stride_w, g->pad_w, g->dil_w,
                               &g->w_out, err)))
        return st;

    g->cg_in = g->c_in / g->groups;
    g->cg_out = g->c_out / g->groups;
    size_t kvol = 0, kdim = 0, out_sp = 0, vol = 0, xs = 0, ys = 0, wsz = 0;
    int ov = cn_conv_mul3((size_t)g->kd, (size_t)g->kh, (size_t)g->kw, &kvol) ||
             cn_mul_overflow(kvol, (size_t)g->cg_in, &kdim);
    if (ov || kdim > INT_MAX)
        return cn_error_set(err, CN_ERR_RANGE,
                            "conv3d: vol2col rows %d x %d x %d x %d overflow int", g->cg_in,
                            g->kd, g->kh, g->kw);
    if (cn_conv_mul3((size_t)g->d_out, (size_t)g->h_out, (size_t)g->w_out, &out_sp) ||
        out_sp > INT_MAX ||
        cn_conv_mul3((size_t)g->d, (size_t)g->h, (size_t)g->w, &vol) || vol > INT_MAX)
        return cn_error_set(err, CN_ERR_RANGE,
                            "conv3d: a volume (%d x %d x %d in, %d x %d x %d out) overflows int",
                            g->d, g->h, g->w, g->d_out, g->h_out, g->w_out);
    g->kdim = (int)kdim;
    g->out_sp = (int)out_sp;
    ov = cn_conv_mul3((size_t)g->n, (size_t)g->c_in, vol, &xs);
    if ((st = cn_conv_check_bytes("conv3d", xs, ov, "input", err))) return st;
    ov = cn_conv_mul3((size_t)g->n, (size_t)g->c_out, out_sp, &ys);
    if ((st = cn_conv_check_bytes("conv3d", ys, ov, "output", err))) return st;
    ov = cn_mul_overflow((size_t)g->c_out, kdim, &wsz);
    if ((st = cn_conv_check_bytes("conv3d", wsz, ov, "weight", err))) return st;
    g->slots = g->n < CN_CONV2D_SLOTS ? g->n : CN_CONV2D_SLOTS;
    g->direct_1x1 = g->kd == 1 && g->kh == 1 && g->kw == 1 && g->stride_d == 1 &&
                    g->stride_h == 1 && g->stride_w == 1 && g->pad_d == 0 && g->pad_h == 0 &&
                    g->pad_w == 0;
    /* the vol2col matrix of one slot, then the workspace as a whole */
    size_t cols = 0, slot, total = 0;
    ov = cn_mul_overflow(kdim, out_sp, &cols);
    if ((st = cn_conv_check_bytes("conv3d", cols, ov, "vol2col", err))) return st;
    if (g->direct_1x1) cols = 0;
    ov = cols > SIZE_MAX - wsz;
    slot = ov ? 0 : cols + wsz;
    ov = ov || cn_mul_overflow(slot, (size_t)g->slots, &total);
    if ((st = cn_conv_check_bytes("conv3d", total, ov, "workspace", err))) return st;
    return CN_OK;
}

/* cols_reals: the reals of one slot's vol2col matrix (0 for direct_1x1). */
static size_t cols_reals(const cn_conv3d_geom *g)
{
    return g->direct_1x1 ? 0 : (size_t)g->kdim * (size_t)g->out_sp;
}

size_t cn_conv3d_workspace_size(const cn_conv3d_geom *g)
{
    CN_ASSERT(g && g->slots >= 1);
    return (cols_reals(g) + (size_t)g->c_out * (size_t)g->kdim) * (size_t)g->slots;
}

/* ------------------------------------------------------------------ vol2col */

void cn_vol2col(const cn_conv3d_geom *g, const cn_real *x, cn_real *cols)
{
    const int D = g->d, H = g->h, W = g->w, DO = g->d_out, HO = g->h_out, WO = g->w_out;
    const size_t plane = (size_t)H * W, vol = (size_t)D * plane, out_sp = (size_t)g->out_sp;
    const size_t plane_out = (size_t)HO * WO;
    size_t r = 0; /* row ((c*kd + a)*kh + i)*kw + j */
    for (int c = 0; c < g->cg_in; c++) {
        const cn_real *xc = x + (size_t)c * vol; // (d, h, w)
        for (int a = 0; a < g->kd; a++) {
            int od_lo, od_hi;
            cn_conv_clip_range(D, DO, g->stride_d, g->pad_d, a, g->dil_d, &od_lo, &od_hi);
            for (int i = 0; i < g->kh; i++) {
                int oh_lo, oh_hi;
                cn_conv_clip_range(H, HO, g->stride_h, g->pad_h, i, g->dil_h, &oh_lo, &oh_hi);
                for (int j = 0; j < g->kw; j++, r++) {
                    int ow_lo, ow_hi;
                    cn_conv_clip_range(W, WO, g->stride_w, g->pad_w, j, g->dil_w, &ow_lo, &ow_hi);
                    cn_real *row = cols + r * out_sp; // (d_out, h_out, w_out)
                    const long long col_off = (long long)j * g->dil_w - g->pad_w;
                    for (int od = 0; od < DO; od++) {
                        cn_real *rp = row + (size_t)od * plane_out; // (h_out, w_out)
                        if (od < od_lo || od >= od_hi || oh_lo >= oh_hi || ow_lo >= ow_hi) {
                            memset(rp, 0, plane_out * sizeof *rp);
                            continue;
                        }
                        const long long id = (long long)od * g->stride_d - g->pad_d +
                                             (long long)a * g->dil_d;
                        const cn_real *xp = xc + (size_t)id * plane; // (h, w)
                        if (oh_lo > 0) memset(rp, 0, (size_t)oh_lo * WO * sizeof *rp);
                        for (int oh = oh_lo; oh < oh_hi; oh++) {
                            cn_real *o = rp + (size_t)oh * WO; // (w_out)
                            const long long ih = (long long)oh * g->stride_h - g->pad_h +
                                                 (long long)i * g->dil_h;
                            const cn_real *xr = xp + (size_t)ih * W; // (w)
                            cn_conv_unfold_row(o, xr, WO, ow_lo, ow_hi, g->stride_w, col_off);
                        }
                        if (oh_hi < HO)
                            memset(rp + (size_t)oh_hi * WO, 0,
                                   (size_t)(HO - oh_hi) * WO * sizeof *rp);
                    }
                }
            }
        }
    }
}

void cn_col2vol(const cn_conv3d_geom *g, const cn_real *cols, cn_real *x)
{
    const int D = g->d, H = g->h, W = g->w, DO = g->d_out, HO = g->h_out, WO = g->w_out;
    const size_t plane = (size_t)H * W, vol = (size_t)D * plane, out_sp = (size_t)g->out_sp;
    const size_t plane_out = (size_t)HO * WO;
    memset(x, 0, (size_t)g->cg_in * vol * sizeof *x);
    size_t r = 0;
    for (int c = 0; c < g->cg_in; c++) {
        cn_real *xc = x + (size_t)c * vol; // (d, h, w)
        for (int a = 0; a < g->kd; a++) {
            int od_lo, od_hi;
            cn_conv_clip_range(D, DO, g->stride_d, g->pad_d, a, g->dil_d, &od_lo, &od_hi);
            for (int i = 0; i < g->kh; i++) {
                int oh_lo, oh_hi;
                cn_conv_clip_range(H, HO, g->stride_h, g->pad_h, i, g->dil_h, &oh_lo, &oh_hi);
                for (int j = 0; j < g->kw; j++, r++) {
                    int ow_lo, ow_hi;
                    cn_conv_clip_range(W, WO, g->stride_w, g->pad_w, j, g->dil_w, &ow_lo, &ow_hi);
                    const cn_real *row = cols + r * out_sp; // (d_out, h_out, w_out)
                    const long long col_off = (long long)j * g->dil_w - g->pad_w;
                    for (int od = od_lo; od < od_hi; od++) {
                        const long long id = (long long)od * g->stride_d - g->pad_d +
                                             (long long)a * g->dil_d;
                        cn_real *xp = xc + (size_t)id * plane; // (h, w)
                        for (int oh = oh_lo; oh < oh_hi; oh++) {
                            const cn_real *o = row + (size_t)od * plane_out + (size_t)oh * WO;
                            const long long ih = (long long)oh * g->stride_h - g->pad_h +
                                                 (long long)i * g->dil_h;
                            cn_real *xr = xp + (size_t)ih * W; // (w)
                            for (int ow = ow_lo; ow < ow_hi; ow++)
                                xr[(long long)ow * g->stride_w + col_off] += o[ow];
                        }
                    }
                }
            }
        }
    }
}

/* ------------------------------------------------------------------ forward, backward */

/* conv_parallel: 1 when g's forward multiply-adds reach CN_CONV_PAR_MIN_WORK. */
static int conv_parallel(const cn_conv3d_geom *g)
{
    return cn_conv_parallel((double)g->n * g->c_out * g->out_sp * g->kdim);
}

/* c3_ctx: the arguments of the slot functions (cn_conv_run_slots) with the
 * strides: reals per slot (of them the columns' cols_sz), between images and
 * groups of x and y, between groups of w. */
typedef struct c3_ctx {
    const cn_conv3d_geom *g;
    const cn_real *x, *w, *dy;
    cn_real *y, *dx, *ws;
    int want_dw;
    size_t slot, cols_sz, x_img, x_grp, y_img, y_grp, w_grp;
} c3_ctx;

static c3_ctx c3_ctx_of(const cn_conv3d_geom *g)
{
    const size_t vol = (size_t)g->d * g->h * g->w, sp = (size_t)g->out_sp;
    const size_t cols_sz = cols_reals(g);
    c3_ctx c = {.g = g, .cols_sz = cols_sz, .slot = cols_sz + (size_t)g->kdim * g->c_out,
                .x_img = (size_t)g->c_in * vol, .x_grp = (size_t)g->cg_in * vol,
                .y_img = (size_t)g->c_out * sp, .y_grp = (size_t)g->cg_out * sp,
                .w_grp = (size_t)g->cg_out * g->kdim};
    return c;
}

/* c3_forward_slot: y of slot s's images (image i in slot i % slots). */
static void c3_forward_slot(void *ctx, int s)
{
    const c3_ctx *c = ctx;
    const cn_conv3d_geom *g = c->g;
    const int sp = g->out_sp, kdim = g->kdim;
    cn_real *cols = c->ws + (size_t)s * c->slot; // (kdim, out_sp)
    for (int i = s; i < g->n; i += g->slots) {
        for (int grp = 0; grp < g->groups; grp++) {
            const cn_real *xg = c->x + i * c->x_img + grp * c->x_grp; // (cg_in, d, h, w)
            const cn_real *B = xg;
            if (!g->direct_1x1) {
                cn_vol2col(g, xg, cols);
                B = cols;
            }
            // y_g (cg_out, out_sp) = w_g (cg_out, kdim) B (kdim, out_sp)
            cn_gemm(CN_NO_TRANS, CN_NO_TRANS, g->cg_out, sp, kdim, 1, c->w + grp * c->w_grp, kdim,
                    B, sp, 0, c->y + i * c->y_img + grp * c->y_grp, sp);
        }
    }
}

void cn_conv3d_forward(const cn_conv3d_geom *g, const cn_real *x, const cn_real *w,
                       const cn_real *b, cn_real *y, cn_real *ws)
{
    CN_ASSERT(g && g->slots >= 1 && x && w && y && ws);
    c3_ctx c = c3_ctx_of(g);
    c.x = x, c.w = w, c.y = y, c.ws = ws;
    cn_conv_run_slots(g->slots, conv_parallel(g), c3_forward_slot, &c);
    if (b) cn_conv_add_bias(g->n, g->c_out, (size_t)g->out_sp, b, y, conv_parallel(g));
}

/* c3_backward_slot: dx of slot s's images and the slot's partial weight
 * gradient (summed over its images in order). */
static void c3_backward_slot(void *ctx, int s)
{
    const c3_ctx *c = ctx;
    const cn_conv3d_geom *g = c->g;
    const int sp = g->out_sp, kdim = g->kdim;
    cn_real *cols = c->ws + (size_t)s * c->slot; // (kdim, out_sp)
    cn_real *part = cols + c->cols_sz;           // (c_out, cg_in, kd, kh, kw)
    for (int i = s; i < g->n; i += g->slots) {
        const cn_real beta = i == s ? 0 : 1; // the slot's first image starts its sum
        for (int grp = 0; grp < g->groups; grp++) {
            const cn_real *xg = c->x + i * c->x_img + grp * c->x_grp;   // (cg_in, d, h, w)
            const cn_real *dyg = c->dy + i * c->y_img + grp * c->y_grp; // (cg_out, out_sp)
            const cn_real *wg = c->w + grp * c->w_grp;                  // (cg_out, kdim)
            if (c->want_dw) {
                const cn_real *B = xg;
                if (!g->direct_1x1) {
                    cn_vol2col(g, xg, cols);
                    B = cols;
                }
                // part_g (cg_out, kdim) (+)= dy_g (cg_out, out_sp) B^T (out_sp, kdim)
                cn_gemm(CN_NO_TRANS, CN_TRANS, g->cg_out, kdim, sp, 1, dyg, sp, B, sp, beta,
                        part + grp * c->w_grp, kdim);
            }
            if (c->dx) {
                cn_real *dxg = c->dx + i * c->x_img + grp * c->x_grp; // (cg_in, d, h, w)
                // dcols (kdim, out_sp) = w_g^T (kdim, cg_out) dy_g (cg_out, out_sp)
                cn_real *dcols = g->direct_1x1 ? dxg : cols;
                cn_gemm(CN_TRANS, CN_NO_TRANS, kdim, sp, g->cg_out, 1, wg, kdim, dyg, sp, 0, dcols,
                        sp);
                if (!g->direct_1x1) cn_col2vol(g, cols, dxg);
            }
        }
    }
}

void cn_conv3d_backward(const cn_conv3d_geom *g, const cn_real *x, const cn_real *w,
                        const cn_real *dy, cn_real *dx, cn_real *dw, cn_real *db,
                        cn_real *ws)
{
    CN_ASSERT(g && g->slots >= 1 && x && w && dy);
    if (db) cn_conv_bias_grad(g->n, g->c_out, (size_t)g->out_sp, dy, db, conv_parallel(g));
    if (!dx && !dw) return;
    CN_ASSERT(ws);
    c3_ctx c = c3_ctx_of(g);
    c.x = x, c.w = w, c.dy = dy, c.dx = dx, c.ws = ws, c.want_dw = dw != NULL;
    cn_conv_run_slots(g->slots, conv_parallel(g), c3_backward_slot, &c);
    // dw (c_out, cg_in, kd, kh, kw) += the slots' partials, in slot order
    if (dw)
        cn_conv_reduce_slots((size_t)g->kdim * g->c_out, g->slots, c.slot, ws + c.cols_sz, dw,
                             conv_parallel(g));
}
