/* conv2d.c: 2-D convolution forward and backward on raw NCHW arrays. A stride-1
 * convolution runs on the padded grid (conv2d_grid.c: one GEMM per kernel tap on
 * the padded images read in place, several images per GEMM, the input gradient
 * as a flipped convolution); a strided one with register tiles on phase grids
 * (conv2d_phase.c); otherwise im2col + one GEMM per image and group (a
 * 1x1 stride-1 unpadded convolution uses the input itself as the im2col matrix);
 * depthwise convolution (groups == c_in) runs direct loops. The batch runs in
 * slots (image i in slot i % slots; cn_conv_run_slots: in parallel, or one after
 * another outside any parallel region), each with its own workspace slice; the
 * weight gradient is summed per slot in image order and the slots are added in
 * slot order, so every result is independent of the thread count.
 * Derivation: docs/derivations/conv2d-im2col.md.
 * Helpers shared with the other convolutions (bias, slot reduction, clipping,
 * sizes): conv_common.h. */
#include "convnet/conv.h"
#include "convnet/kernels.h"
#include "conv2d_grid.h"
#include "conv_common.h"

#include <string.h>

/* ------------------------------------------------------------------ shared pieces */

/* conv_parallel: 1 when g's forward multiply-adds reach CN_CONV_PAR_MIN_WORK. */
static int conv_parallel(const cn_conv2d_geom *g)
{
    return cn_conv_parallel((double)g->n * g->c_out * g->hw_out * g->kdim);
}

/* ------------------------------------------------------------------ depthwise */

/* dw_forward: y[i, co] = sum_{ki,kj} w[co, 0, ki, kj] x[i, co / cg_out, ...]:
 * one output plane per iteration, kernel taps outermost so the innermost loop
 * runs over a contiguous (or strided) input row. */
static void dw_forward(const cn_conv2d_geom *g, const cn_real *x, const cn_real *w,
                       cn_real *y)
{
    const long planes = (long)g->n * g->c_out;
    const size_t plane_in = (size_t)g->h * g->w, plane_out = (size_t)g->hw_out;
    const int WO = g->w_out, sh = g->stride_h, sw = g->stride_w;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (conv_parallel(g))
#endif
    for (long p = 0; p < planes; p++) {
        const int i = (int)(p / g->c_out), co = (int)(p % g->c_out);
        const int ci = co / g->cg_out;
        const cn_real *xp = x + ((size_t)i * g->c_in + ci) * plane_in; // (h, w)
        const cn_real *wk = w + (size_t)co * g->kh * g->kw;           // (kh, kw)
        cn_real *yp = y + (size_t)p * plane_out;                       // (h_out, w_out)
        memset(yp, 0, plane_out * sizeof *yp);
        for (int ki = 0; ki < g->kh; ki++) {
            int oh_lo, oh_hi;
            cn_conv_clip_range(g->h, g->h_out, sh, g->pad_h, ki, g->dil_h, &oh_lo, &oh_hi);
            for (int kj = 0; kj < g->kw; kj++) {
                int ow_lo, ow_hi;
                cn_conv_clip_range(g->w, WO, sw, g->pad_w, kj, g->dil_w, &ow_lo, &ow_hi);
                const cn_real wv = wk[ki * g->kw + kj];
                const long long coff = (long long)kj * g->dil_w - g->pad_w;
                for (int oh = oh_lo; oh < oh_hi; oh++) {
                    const long long ih = (long long)oh * sh - g->pad_h + (long long)ki * g->dil_h;
                    const cn_real *xr = xp + (size_t)ih * g->w; // (w)
                    cn_real *yr = yp + (size_t)oh * WO;         // (w_out)
                    for (int ow = ow_lo; ow < ow_hi; ow++)
                        yr[ow] += wv * xr[(long long)ow * sw + coff];
                }
            }
        }
    }
}

/* dw_backward_data: dx[i, ci] = sum over its cg_out output channels co and taps
 * of w[co, 0, ki, kj] dy[i, co, ...] scattered back (overwritten). */
static void dw_backward_data(const cn_conv2d_geom *g, const cn_real *w, const cn_real *dy,
                             cn_real *dx)
{
    const long planes = (long)g->n * g->c_in;
    const size_t plane_in = (size_t)g->h * g->w, plane_out = (size_t)g->hw_out;
    const int WO = g->w_out, sh = g->stride_h, sw = g->stride_w;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (conv_parallel(g))
#endif
    for (long p = 0; p < planes; p++) {
        const int i = (int)(p / g->c_in), ci = (int)(p % g->c_in);
        cn_real *dxp = dx + (size_t)p * plane_in; // (h, w)
        memset(dxp, 0, plane_in * sizeof *dxp);
        for (int m = 0; m < g->cg_out; m++) {
            const int co = ci * g->cg_out + m;
            const cn_real *dyp = dy + ((size_t)i * g->c_out + co) * plane_out; // (h_out, w_out)
            const cn_real *wk = w + (size_t)co * g->kh * g->kw;               // (kh, kw)
            for (int ki = 0; ki < g->kh; ki++) {
                int oh_lo, oh_hi;
                cn_conv_clip_range(g->h, g->h_out, sh, g->pad_h, ki, g->dil_h, &oh_lo, &oh_hi);
                for (int kj = 0; kj < g->kw; kj++) {
                    int ow_lo, ow_hi;
                    cn_conv_clip_range(g->w, WO, sw, g->pad_w, kj, g->dil_w, &ow_lo, &ow_hi);
                    const cn_real wv = wk[ki * g->kw + kj];
                    const long long coff = (long long)kj * g->dil_w - g->pad_w;
                    for (int oh = oh_lo; oh < oh_hi; oh++) {
                        const long long ih =
                            (long long)oh * sh - g->pad_h + (long long)ki * g->dil_h;
                        cn_real *xr = dxp + (size_t)ih * g->w;       // (w)
                        const cn_real *dr = dyp + (size_t)oh * WO;   // (w_out)
                        for (int ow = ow_lo; ow < ow_hi; ow++)
                            xr[(long long)ow * sw + coff] += wv * dr[ow];
                    }
                }
            }
        }
    }
}

/* dw_backward_weight: dw[co, 0, ki, kj] += sum over images and outputs of
 * dy[i, co, oh, ow] x[i, ci, ih, iw]; one output channel per iteration, images
 * in order, so the sum's order is fixed. */
static void dw_backward_weight(const cn_conv2d_geom *g, const cn_real *x, const cn_real *dy,
                               cn_real *dw)
{
    const size_t plane_in = (size_t)g->h * g->w, plane_out = (size_t)g->hw_out;
    const int WO = g->w_out, sh = g->stride_h, sw = g->stride_w;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (conv_parallel(g))
#endif
    for (int co = 0; co < g->c_out; co++) {
        const int ci = co / g->cg_out;
        for (int ki = 0; ki < g->kh; ki++) {
            int oh_lo, oh_hi;
            cn_conv_clip_range(g->h, g->h_out, sh, g->pad_h, ki, g->dil_h, &oh_lo, &oh_hi);
            for (int kj = 0; kj < g->kw; kj++) {
                int ow_lo, ow_hi;
                cn_conv_clip_range(g->w, WO, sw, g->pad_w, kj, g->dil_w, &ow_lo, &ow_hi);
                const long long coff = (long long)kj * g->dil_w - g->pad_w;
                cn_real acc = 0;
                for (int i = 0; i < g->n; i++) {
                    const cn_real *xp = x + ((size_t)i * g->c_in + ci) * plane_in;    // (h, w)
                    // dyp (h_out, w_out)
                    const cn_real *dyp = dy + ((size_t)i * g->c_out + co) * plane_out;
                    for (int oh = oh_lo; oh < oh_hi; oh++) {
                        const long long ih =
                            (long long)oh * sh - g->pad_h + (long long)ki * g->dil_h;
                        const cn_real *xr = xp + (size_t)ih * g->w;
                        const cn_real *dr = dyp + (size_t)oh * WO;
                        for (int ow = ow_lo; ow < ow_hi; ow++)
                            acc += dr[ow] * xr[(long long)ow * sw + coff];
                    }
                }
                dw[((size_t)co * g->kh + ki) * g->kw + kj] += acc;
            }
        }
    }
}

/* ------------------------------------------------------------------ im2col + GEMM */

/* The arguments of the general path's slots (cn_conv_run_slots). */
typedef struct gen_ctx {
    const cn_conv2d_geom *g;
    const cn_real *x, *w, *dy;
    cn_real *y, *dx, *ws;
    int want_dw;
    size_t slot, cols_sz; /* reals per slot; of them im2col's (kdim, hw_out) */
} gen_ctx;

/* gen_forward_slot: y of slot s's images (image i in slot i % slots). */
static void gen_forward_slot(void *ctx, int s)
{
    const gen_ctx *c = ctx;
    const cn_conv2d_geom *g = c->g;
    const int S = g->slots, hw = g->hw_out, kdim = g->kdim;
    const cn_conv2d_strides st = cn_conv2d_strides_of(g);
    cn_real *cols = c->ws + (size_t)s * c->slot; // (kdim, hw_out)
    for (int i = s; i < g->n; i += S) {
        for (int grp = 0; grp < g->groups; grp++) {
            const cn_real *xg = c->x + i * st.x_img + grp * st.x_grp; // (cg_in, h, w)
            const cn_real *B = xg;
            if (!g->direct_1x1) {
                cn_im2col(g, xg, cols);
                B = cols;
            }
            // y_g (cg_out, hw_out) = w_g (cg_out, kdim) B (kdim, hw_out)
            cn_gemm(CN_NO_TRANS, CN_NO_TRANS, g->cg_out, hw, kdim, 1, c->w + grp * st.w_grp, kdim,
                    B, hw, 0, c->y + i * st.y_img + grp * st.y_grp, hw);
        }
    }
}

/* gen_backward_slot: dx of slot s's images and the slot's partial weight
 * gradient (summed over its images in order). */
static void gen_backward_slot(void *ctx, int s)
{
    const gen_ctx *c = ctx;
    const cn_conv2d_geom *g = c->g;
    const int S = g->slots, hw = g->hw_out, kdim = g->kdim;
    const cn_conv2d_strides st = cn_conv2d_strides_of(g);
    cn_real *cols = c->ws + (size_t)s * c->slot; // (kdim, hw_out)
    cn_real *part = cols + c->cols_sz;           // (c_out, cg_in, kh, kw)
    for (int i = s; i < g->n; i += S) {
        const cn_real beta = i == s ? 0 : 1; // the slot's first image starts its sum
        for (int grp = 0; grp < g->groups; grp++) {
            const cn_real *xg = c->x + i * st.x_img + grp * st.x_grp;   // (cg_in, h, w)
            const cn_real *dyg = c->dy + i * st.y_img + grp * st.y_grp; // (cg_out, hw_out)
            const cn_real *wg = c->w + grp * st.w_grp;               // (cg_out, kdim)
            if (c->want_dw) {
                const cn_real *B = xg;
                if (!g->direct_1x1) {
                    cn_im2col(g, xg, cols);
                    B = cols;
                }
                // part_g (cg_out, kdim) (+)= dy_g (cg_out, hw_out) B^T (hw_out, kdim)
                cn_gemm(CN_NO_TRANS, CN_TRANS, g->cg_out, kdim, hw, 1, dyg, hw, B, hw, beta,
                        part + grp * st.w_grp, kdim);
            }
            if (c->dx) {
                cn_real *dxg = c->dx + i * st.x_img + grp * st.x_grp; // (cg_in, h, w)
                // dcols (kdim, hw_out) = w_g^T (kdim, cg_out) dy_g (cg_out, hw_out)
                cn_real *dcols = g->direct_1x1 ? dxg : cols;
                cn_gemm(CN_TRANS, CN_NO_TRANS, kdim, hw, g->cg_out, 1, wg, kdim, dyg, hw, 0,
                        dcols, hw);
                if (!g->direct_1x1) cn_col2im(g, cols, dxg);
            }
        }
    }
}

/* ------------------------------------------------------------------ public */

void cn_conv2d_forward(const cn_conv2d_geom *g, const cn_real *x, const cn_real *w,
                       const cn_real *b, cn_real *y, cn_real *ws)
{
    CN_ASSERT(g && g->slots >= 1 && x && w && y);
    if (g->depthwise) {
        dw_forward(g, x, w, y);
        if (b) cn_conv_add_bias(g->n, g->c_out, (size_t)g->hw_out, b, y, conv_parallel(g));
        return;
    }
    CN_ASSERT(ws);
    cn_conv2d_plan plan;
    cn_conv2d_plan_make(g, &plan);
    if (plan.grid) {
        cn_conv2d_grid_forward(g, &plan, x, w, b, y, ws);
        return;
    }
    if (plan.phase) {
        cn_conv2d_phase_forward(g, &plan, x, w, b, y, ws);
        return;
    }
    gen_ctx c = {.g = g, .x = x, .w = w, .y = y, .ws = ws, .slot = plan.slot};
    cn_conv_run_slots(g->slots, conv_parallel(g), gen_forward_slot, &c);
    if (b) cn_conv_add_bias(g->n, g->c_out, (size_t)g->hw_out, b, y, conv_parallel(g));
}

void cn_conv2d_backward(const cn_conv2d_geom *g, const cn_real *x, const cn_real *w,
                        const cn_real *dy, cn_real *dx, cn_real *dw, cn_real *db,
                        cn_real *ws)
{
    CN_ASSERT(g && g->slots >= 1 && x && w && dy);
    if (db) cn_conv_bias_grad(g->n, g->c_out, (size_t)g->hw_out, dy, db, conv_parallel(g));
    if (g->depthwise) {
        if (dx) dw_backward_data(g, w, dy, dx);
        if (dw) dw_backward_weight(g, x, dy, dw);
        return;
    }
    if (!dx && !dw) return;
    CN_ASSERT(ws);
    cn_conv2d_plan plan;
    cn_conv2d_plan_make(g, &plan);
    if (plan.grid) {
        cn_conv2d_grid_backward(g, &plan, x, w, dy, dx, dw, ws);
        return;
    }
    if (plan.phase) {
        cn_conv2d_phase_backward(g, &plan, x, w, dy, dx, dw, ws);
        return;
    }
    const size_t cols_sz = g->direct_1x1 ? 0 : (size_t)g->kdim * g->hw_out;
    gen_ctx c = {.g = g, .x = x, .w = w, .dy = dy, .dx = dx, .ws = ws, .want_dw = dw != NULL,
                 .slot = plan.slot, .cols_sz = cols_sz};
    cn_conv_run_slots(g->slots, conv_parallel(g), gen_backward_slot, &c);
    // dw (c_out, cg_in, kh, kw) += the slots' partials, in slot order
    if (dw)
        cn_conv_reduce_slots((size_t)g->kdim * g->c_out, g->slots, plan.slot, ws + cols_sz, dw,
                             conv_parallel(g));
}
