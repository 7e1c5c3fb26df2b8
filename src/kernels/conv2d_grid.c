/* conv2d_grid.c: the plan of a 2-D convolution (path and workspace layout) and the
 * padded-grid path for stride-1 convolutions (conv2d_grid.h explains the grid):
 * pad each image group once, unfold it with one memcpy per im2col row, put
 * several images side by side in one GEMM, then copy the valid outputs out. The
 * input gradient is the flipped convolution of dy on the same kind of grid. The
 * batch runs in the same slots as the general path (image i in slot i % slots,
 * each slot a fixed run of images and its own workspace), so every result is
 * independent of the thread count. */
#include "conv2d_grid.h"

#include "convnet/kernels.h"
#include "conv_common.h"

#include <limits.h>
#include <string.h>

/* ------------------------------------------------------------------ plan */

/* mul_ov / add_ov: *out = a * b or a + b, setting *ov on overflow. */
static size_t mul_ov(size_t a, size_t b, int *ov)
{
    size_t r = 0;
    if (cn_mul_overflow(a, b, &r)) *ov = 1;
    return r;
}

static size_t add_ov(size_t a, size_t b, int *ov)
{
    if (a > SIZE_MAX - b) *ov = 1;
    return a + b;
}

/* plan_grid: the grid fields of p for g (p->grid already decided possible). */
static void plan_grid(const cn_conv2d_geom *g, cn_conv2d_plan *p, int *ov)
{
    const size_t kdim = (size_t)g->kdim, ew = (size_t)g->dil_w * (size_t)(g->kw - 1);
    const size_t taps = (size_t)g->kh * (size_t)g->kw;
    p->pad_f = add_ov(mul_ov((size_t)g->cg_in, (size_t)p->hp * (size_t)p->wp, ov), ew, ov);
    size_t f = add_ov(p->pad_f, mul_ov(kdim + (size_t)g->cg_out, (size_t)p->k * p->lf, ov), ov);
    size_t b = 0;
    if (p->grid_dx) {
        p->pad_b = add_ov(mul_ov((size_t)g->cg_out, (size_t)p->hq * (size_t)p->wq, ov), ew, ov);
        size_t rows = mul_ov((size_t)g->cg_out, taps, ov) + (size_t)g->cg_in;
        b = add_ov(p->pad_b, mul_ov(rows, mul_ov((size_t)p->k, (size_t)p->lb, ov), ov), ov);
    }
    p->slot = add_ov(p->part, f > b ? f : b, ov);
}

int cn_conv2d_plan_make(const cn_conv2d_geom *g, cn_conv2d_plan *p)
{
    cn_conv2d_plan z = {0};
    *p = z;
    if (g->depthwise) return 0;
    int ov = 0;
    const long long eh = (long long)g->dil_h * (g->kh - 1), ew = (long long)g->dil_w * (g->kw - 1);
    const long long hp = g->h + 2LL * g->pad_h, wp = g->w + 2LL * g->pad_w;
    const long long lf = (long long)g->h_out * wp, hq = g->h + eh, wq = g->w + ew;
    const long long lb = (long long)g->h * wq;
    p->part = mul_ov((size_t)g->c_out, (size_t)g->kdim, &ov);
    /* the grid: stride 1, not a direct 1x1, more than one input channel per
     * group (with one, im2col is cheap and the grid measured slower), at most as
     * many dropped columns as kept ones, and every GEMM size an int */
    p->grid = !g->direct_1x1 && g->cg_in > 1 && g->stride_h == 1 && g->stride_w == 1 && ew <= g->w_out &&
              hp <= INT_MAX && wp <= INT_MAX && lf <= INT_MAX;
    if (p->grid) {
        /* the flipped convolution's im2col has cg_out * kh * kw rows: a win over
         * col2im's cg_in * kh * kw only when cg_out <= cg_in (measured) */
        p->grid_dx = g->cg_out <= g->cg_in && g->pad_h <= eh && g->pad_w <= ew && ew <= g->w &&
                     hq <= INT_MAX &&
                     wq <= INT_MAX && lb <= INT_MAX;
        const long long per_slot = (g->n + g->slots - 1) / g->slots;
        long long k = (CN_CONV2D_GRID_COLS + lf - 1) / lf;
        const long long fit = CN_CONV2D_GRID_REALS / ((long long)g->kdim * lf);
        if (k > fit) k = fit;
        if (k > per_slot) k = per_slot;
        const long long lmax = p->grid_dx && lb > lf ? lb : lf;
        if (k > INT_MAX / lmax) k = INT_MAX / lmax;
        p->k = (int)(k < 1 ? 1 : k);
        p->hp = (int)hp;
        p->wp = (int)wp;
        p->lf = (int)lf;
        if (p->grid_dx) {
            p->hq = (int)hq;
            p->wq = (int)wq;
            p->lb = (int)lb;
        }
        plan_grid(g, p, &ov);
    } else {
        size_t cols = g->direct_1x1 ? 0 : mul_ov((size_t)g->kdim, (size_t)g->hw_out, &ov);
        p->slot = add_ov(cols, p->part, &ov);
    }
    p->total = mul_ov(p->slot, (size_t)g->slots, &ov);
    if (p->grid_dx) p->total = add_ov(p->total, p->part, &ov);
    return ov;
}

/* ------------------------------------------------------------------ grid pieces */

/* pad_image: xp (c, h + 2ph, w + 2pw) then tail zeros = x (c, h, w) framed by
 * zeros. */
static void pad_image(int c, int h, int w, int ph, int pw, size_t tail, const cn_real *x,
                      cn_real *xp)
{
    const size_t wp = (size_t)w + 2 * (size_t)pw, wr = (size_t)w * sizeof *x;
    const size_t edge = (size_t)ph * wp + (size_t)pw; /* zeros before the first row */
    cn_real *o = xp;
    for (int ch = 0; ch < c; ch++) {
        const cn_real *xc = x + (size_t)ch * h * w; // (h, w)
        memset(o, 0, edge * sizeof *o);
        o += edge;
        for (int r = 0; r < h; r++) {
            memcpy(o, xc + (size_t)r * w, wr);
            o += w;
            if (r + 1 < h) {
                memset(o, 0, 2 * (size_t)pw * sizeof *o);
                o += 2 * (size_t)pw;
            }
        }
        memset(o, 0, edge * sizeof *o);
        o += edge;
    }
    memset(o, 0, tail * sizeof *o);
}

/* unfold: cols rows (c*kh + i)*kw + j (row stride ld) = the run of len reals of
 * the padded image xp (c, hp, wp) that starts at tap (i*dh, j*dw). */
static void unfold(int c, int kh, int kw, int dh, int dw, int hp, int wp, int len,
                   const cn_real *xp, cn_real *cols, size_t ld)
{
    const size_t plane = (size_t)hp * wp, bytes = (size_t)len * sizeof *xp;
    cn_real *row = cols;
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                memcpy(row, xp + ch * plane + (size_t)i * dh * wp + (size_t)j * dw, bytes);
                row += ld;
            }
}

/* extract: y (c, ho, wo) = the valid columns of the grid rows out (c rows of
 * stride ld, each ho runs of wp) plus b[ch] when b is not NULL. */
static void extract(int c, int ho, int wo, int wp, const cn_real *out, size_t ld,
                    const cn_real *b, cn_real *y)
{
    for (int ch = 0; ch < c; ch++) {
        const cn_real bv = b ? b[ch] : 0;
        for (int r = 0; r < ho; r++) {
            const cn_real *src = out + ch * ld + (size_t)r * wp;
            cn_real *dst = y + ((size_t)ch * ho + r) * wo;
            if (b)
                for (int q = 0; q < wo; q++) dst[q] = src[q] + bv;
            else
                memcpy(dst, src, (size_t)wo * sizeof *dst);
        }
    }
}

/* spread: the grid rows d (c rows of stride ld, ho runs of wp) = dy (c, ho, wo)
 * with zeros in the wp - wo extra columns. */
static void spread(int c, int ho, int wo, int wp, const cn_real *dy, cn_real *d, size_t ld)
{
    for (int ch = 0; ch < c; ch++)
        for (int r = 0; r < ho; r++) {
            cn_real *dst = d + ch * ld + (size_t)r * wp;
            memcpy(dst, dy + ((size_t)ch * ho + r) * wo, (size_t)wo * sizeof *dst);
            memset(dst + wo, 0, (size_t)(wp - wo) * sizeof *dst);
        }
}

/* ------------------------------------------------------------------ kernels */

/* grid_fill: pad image group xg (cg_in, h, w) into xp and unfold it into the
 * grid columns cols (kdim, ld). */
static void grid_fill(const cn_conv2d_geom *g, const cn_conv2d_plan *p, const cn_real *xg,
                      cn_real *xp, cn_real *cols, size_t ld)
{
    pad_image(g->cg_in, g->h, g->w, g->pad_h, g->pad_w, (size_t)g->dil_w * (g->kw - 1), xg, xp);
    unfold(g->cg_in, g->kh, g->kw, g->dil_h, g->dil_w, p->hp, p->wp, p->lf, xp, cols, ld);
}

void cn_conv2d_grid_forward(const cn_conv2d_geom *g, const cn_conv2d_plan *p, const cn_real *x,
                            const cn_real *w, const cn_real *b, cn_real *y, cn_real *ws)
{
    CN_ASSERT(p->grid && ws);
    const int S = g->slots, K = p->k, kdim = g->kdim, lf = p->lf;
    const size_t x_img = (size_t)g->c_in * g->h * g->w, x_grp = (size_t)g->cg_in * g->h * g->w;
    const size_t y_img = (size_t)g->c_out * g->hw_out, y_grp = (size_t)g->cg_out * g->hw_out;
    const size_t w_grp = (size_t)g->cg_out * kdim;
    const int par = cn_conv_parallel((double)g->n * g->c_out * g->hw_out * kdim);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par && S > 1)
#else
    (void)par;
#endif
    for (int s = 0; s < S; s++) {
        cn_real *xp = ws + (size_t)s * p->slot + p->part; // (cg_in, hp, wp) + tail
        cn_real *cols = xp + p->pad_f;                    // (kdim, k * lf)
        cn_real *out = cols + (size_t)kdim * K * lf;      // (cg_out, k * lf)
        const int cnt = (g->n - s + S - 1) / S;
        for (int m0 = 0; m0 < cnt; m0 += K) {
            const int kk = cnt - m0 < K ? cnt - m0 : K, ld = kk * lf;
            for (int grp = 0; grp < g->groups; grp++) {
                for (int t = 0; t < kk; t++) {
                    const size_t i = (size_t)s + (size_t)S * (m0 + t);
                    grid_fill(g, p, x + i * x_img + grp * x_grp, xp, cols + (size_t)t * lf, ld);
                }
                // out (cg_out, kk * lf) = w_g (cg_out, kdim) cols (kdim, kk * lf)
                cn_gemm(CN_NO_TRANS, CN_NO_TRANS, g->cg_out, ld, kdim, 1, w + grp * w_grp, kdim,
                        cols, ld, 0, out, ld);
                for (int t = 0; t < kk; t++) {
                    const size_t i = (size_t)s + (size_t)S * (m0 + t);
                    extract(g->cg_out, g->h_out, g->w_out, p->wp, out + (size_t)t * lf, ld,
                            b ? b + (size_t)grp * g->cg_out : NULL, y + i * y_img + grp * y_grp);
                }
            }
        }
    }
}

/* flip_weights: wf (groups, cg_in, cg_out, kh, kw) = w (c_out, cg_in, kh, kw)
 * transposed within each group and rotated by 180 degrees: the kernel of the
 * input gradient as a convolution of dy. */
static void flip_weights(const cn_conv2d_geom *g, const cn_real *w, cn_real *wf)
{
    const int kh = g->kh, kw = g->kw, taps = kh * kw;
    for (int grp = 0; grp < g->groups; grp++)
        for (int ci = 0; ci < g->cg_in; ci++)
            for (int co = 0; co < g->cg_out; co++) {
                const cn_real *src = w + ((size_t)(grp * g->cg_out + co) * g->cg_in + ci) * taps;
                cn_real *dst = wf + (((size_t)grp * g->cg_in + ci) * g->cg_out + co) * taps;
                for (int t = 0; t < taps; t++) dst[t] = src[taps - 1 - t];
            }
}

/* grid_dx_chunk: dx of the kk images of one slot chunk and group grp on the
 * grid: pad dy by dil * (k - 1) - pad, unfold, one GEMM with the flipped
 * kernel wf_g (cg_in, cg_out*kh*kw), copy the valid outputs into dx. */
static void grid_dx_chunk(const cn_conv2d_geom *g, const cn_conv2d_plan *p, const cn_real *wfg,
                          const cn_real *dy, cn_real *dx, const size_t *imgs, int kk, int grp,
                          cn_real *region)
{
    const size_t x_img = (size_t)g->c_in * g->h * g->w, x_grp = (size_t)g->cg_in * g->h * g->w;
    const size_t y_img = (size_t)g->c_out * g->hw_out, y_grp = (size_t)g->cg_out * g->hw_out;
    const int rows = g->cg_out * g->kh * g->kw, lb = p->lb, ld = kk * lb;
    const int qh = g->dil_h * (g->kh - 1) - g->pad_h, qw = g->dil_w * (g->kw - 1) - g->pad_w;
    cn_real *dyp = region;                              // (cg_out, hq, wq) + tail
    cn_real *cols = dyp + p->pad_b;                     // (cg_out*kh*kw, kk * lb)
    cn_real *out = cols + (size_t)rows * p->k * lb;     // (cg_in, kk * lb)
    for (int t = 0; t < kk; t++) {
        pad_image(g->cg_out, g->h_out, g->w_out, qh, qw, (size_t)g->dil_w * (g->kw - 1),
                  dy + imgs[t] * y_img + grp * y_grp, dyp);
        unfold(g->cg_out, g->kh, g->kw, g->dil_h, g->dil_w, p->hq, p->wq, lb, dyp,
               cols + (size_t)t * lb, ld);
    }
    // out (cg_in, kk * lb) = wf_g (cg_in, rows) cols (rows, kk * lb)
    cn_gemm(CN_NO_TRANS, CN_NO_TRANS, g->cg_in, ld, rows, 1, wfg, rows, cols, ld, 0, out, ld);
    for (int t = 0; t < kk; t++)
        extract(g->cg_in, g->h, g->w, p->wq, out + (size_t)t * lb, ld, NULL,
                dx + imgs[t] * x_img + grp * x_grp);
}

/* col2im_dx_image: dx of image i, group grp the general way (the grid needs
 * pad <= dil * (k - 1)): dcols = w_g^T dy_g, then col2im. */
static void col2im_dx_image(const cn_conv2d_geom *g, const cn_real *wg, const cn_real *dyg,
                            cn_real *dxg, cn_real *cols)
{
    const int hw = g->hw_out, kdim = g->kdim;
    // cols (kdim, hw_out) = w_g^T (kdim, cg_out) dy_g (cg_out, hw_out)
    cn_gemm(CN_TRANS, CN_NO_TRANS, kdim, hw, g->cg_out, 1, wg, kdim, dyg, hw, 0, cols, hw);
    cn_col2im(g, cols, dxg);
}

void cn_conv2d_grid_backward(const cn_conv2d_geom *g, const cn_conv2d_plan *p, const cn_real *x,
                             const cn_real *w, const cn_real *dy, cn_real *dx, cn_real *dw,
                             cn_real *ws)
{
    CN_ASSERT(p->grid && ws && p->k <= CN_CONV2D_GRID_COLS);
    if (!dx && !dw) return;
    const int S = g->slots, K = p->k, kdim = g->kdim, lf = p->lf;
    const size_t x_img = (size_t)g->c_in * g->h * g->w, x_grp = (size_t)g->cg_in * g->h * g->w;
    const size_t y_img = (size_t)g->c_out * g->hw_out, y_grp = (size_t)g->cg_out * g->hw_out;
    const size_t w_grp = (size_t)g->cg_out * kdim;
    const int par = cn_conv_parallel((double)g->n * g->c_out * g->hw_out * kdim);
    cn_real *wf = ws + (size_t)S * p->slot; // (groups, cg_in, cg_out, kh, kw)
    if (dx && p->grid_dx) flip_weights(g, w, wf);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par && S > 1)
#else
    (void)par;
#endif
    for (int s = 0; s < S; s++) {
        cn_real *part = ws + (size_t)s * p->slot; // (c_out, cg_in, kh, kw)
        cn_real *region = part + p->part;
        cn_real *xp = region;                          // (cg_in, hp, wp) + tail
        cn_real *cols = xp + p->pad_f;                 // (kdim, k * lf)
        cn_real *dyg = cols + (size_t)kdim * K * lf;   // (cg_out, k * lf)
        const int cnt = (g->n - s + S - 1) / S;
        size_t imgs[CN_CONV2D_GRID_COLS];
        for (int m0 = 0; m0 < cnt; m0 += K) {
            const int kk = cnt - m0 < K ? cnt - m0 : K, ld = kk * lf;
            for (int t = 0; t < kk; t++) imgs[t] = (size_t)s + (size_t)S * (m0 + t);
            for (int grp = 0; grp < g->groups; grp++) {
                if (dw) {
                    for (int t = 0; t < kk; t++) {
                        grid_fill(g, p, x + imgs[t] * x_img + grp * x_grp, xp,
                                  cols + (size_t)t * lf, ld);
                        spread(g->cg_out, g->h_out, g->w_out, p->wp,
                               dy + imgs[t] * y_img + grp * y_grp, dyg + (size_t)t * lf, ld);
                    }
                    // part_g (cg_out, kdim) (+)= dy grid (cg_out, kk*lf) cols^T (kk*lf, kdim);
                    // the slot's first chunk starts its sum
                    cn_gemm(CN_NO_TRANS, CN_TRANS, g->cg_out, kdim, ld, 1, dyg, ld, cols, ld,
                            m0 == 0 ? 0 : 1, part + grp * w_grp, kdim);
                }
                if (!dx) continue;
                if (p->grid_dx) {
                    const size_t wf_grp = (size_t)g->cg_in * g->cg_out * g->kh * g->kw;
                    grid_dx_chunk(g, p, wf + grp * wf_grp, dy, dx, imgs, kk, grp, region);
                } else {
                    for (int t = 0; t < kk; t++)
                        col2im_dx_image(g, w + grp * w_grp, dy + imgs[t] * y_img + grp * y_grp,
                                        dx + imgs[t] * x_img + grp * x_grp, cols);
                }
            }
        }
    }
    // dw (c_out, cg_in, kh, kw) += the slots' partials, in slot order
    if (dw) cn_conv_reduce_slots(p->part, S, p->slot, ws, dw, par);
}
