/* conv2d_phase.c: strided 2-D convolutions (stride_h or stride_w > 1) by the
 * register tiles of conv2d_tile.c on phase grids, for the float build with
 * AVX-512 where the output and input channels per group are multiples of 16
 * (conv2d_grid.c's plan decides; the other strided convolutions run im2col +
 * GEMM in conv2d.c).
 *
 * Phase grids. Split the zero-padded input xp (hp = h + 2 pad_h rows, wp
 * columns) into stride_h x stride_w phases: phase (a, b) holds P_ab[u][v] =
 * xp[u * sh + a][v * sw + b] on pu = ceil(hp / sh) rows of pv = ceil(wp / sw).
 * Tap (i, j) reads xp[r * sh + i * dh][q * sw + j * dw] for output (r, q): that
 * is P_ab[r + oi][q + oj] with a = i * dh % sh, oi = i * dh / sh (likewise b,
 * oj). So on the phase grids a strided convolution is a stride-1 one: every tap
 * reads its own phase, shifted by oi * pv + oj, and the output (r, q) of image
 * t is grid column t * pu * pv + r * pv + q. The forward and the weight
 * gradient are then cn_conv2d_tile_off / cn_conv2d_tile_dw_off with those
 * shifts (no im2col, no zero taps). The blocks: phase p = a * sw + b of input
 * channel ci at xs + (p * cg_in + ci) * cs; each block holds k images' phase
 * grids one after another, then pi * pv + pj zeros (the columns read past the
 * last image by dropped outputs).
 *
 * The input gradient. dx at padded position (u * sh + a, v * sw + b) sums the
 * taps of phase (a, b) only: dxP_ab[u][v] = sum over those taps and co of
 * w[co][ci][tap] dy[co][u - oi][v - oj]. With dy laid on a grid of pu + pi rows
 * of pv + pj, dy[r][q] at (r + pi, q + pj) and zeros around, that is for each
 * phase a stride-1 convolution of the dy grid with the phase's taps, shifted by
 * (pi - oi) * qv + (pj - oj): one cn_conv2d_tile_off call per phase (its taps'
 * kernel matrices consecutive), whose transposed output is scattered into dx.
 * Positions of a phase with no taps (stride larger than the kernel) get zeros.
 *
 * The batch runs in the same slots as the other paths (image i in slot i %
 * slots, each slot a fixed run of images and its own workspace; the weight
 * gradient is summed per slot, then the slots in order), so every result is
 * independent of the thread count. */
#include "conv2d_grid.h"
#include "conv2d_tile.h"

#include "conv_common.h"

#include <string.h>

/* The layout of one call's phase grids (p's fields, derived per geometry). */
typedef struct phase_dims {
    int sh, sw, nph;   /* strides, phases sh * sw */
    size_t u, v, uv;   /* phase grid rows, pitch, reals per image */
    size_t qu, qv, qa; /* the input gradient's dy grid: rows pu + pi, pitch pv + pj, area */
    size_t slack;      /* zeros after a block's last image: pi * pv + pj */
} phase_dims;

static phase_dims phase_dims_of(const cn_conv2d_geom *g, const cn_conv2d_plan *p)
{
    phase_dims d = {.sh = g->stride_h, .sw = g->stride_w, .nph = g->stride_h * g->stride_w,
                    .u = (size_t)p->pu, .v = (size_t)p->pv};
    d.uv = d.u * d.v;
    d.qu = d.u + (size_t)p->pi;
    d.qv = d.v + (size_t)p->pj;
    d.qa = d.qu * d.qv;
    d.slack = (size_t)p->pi * d.v + (size_t)p->pj;
    return d;
}

/* tap_phase: tap t = i * kw + j of g: its phase (a * sw + b) and its shift on
 * the phase grid (*oi rows, *oj columns). */
static int tap_phase(const cn_conv2d_geom *g, int t, int *oi, int *oj)
{
    const int di = t / g->kw * g->dil_h, dj = t % g->kw * g->dil_w;
    *oi = di / g->stride_h;
    *oj = dj / g->stride_w;
    return di % g->stride_h * g->stride_w + dj % g->stride_w;
}

/* phase_offsets: off[t] = tap t's place in the forward's blocks (cs reals each,
 * cg_in per phase): its phase's first block plus its shift; used[p] = 1 for
 * the phases some tap reads. */
static void phase_offsets(const cn_conv2d_geom *g, const phase_dims *d, size_t cs, size_t *off,
                          unsigned char *used)
{
    memset(used, 0, (size_t)d->nph);
    for (int t = 0; t < g->kh * g->kw; t++) {
        int oi, oj;
        const int ph = tap_phase(g, t, &oi, &oj);
        off[t] = (size_t)ph * g->cg_in * cs + (size_t)oi * d->v + (size_t)oj;
        used[ph] = 1;
    }
}

/* PHASE_ROW_MAX: the widest phase row load_pairs splits on the stack (pv). */
#define PHASE_ROW_MAX 1024

/* load_pairs: phase_load for stride_w 2 (the same values): each input row,
 * padded into a local buffer, is split into its two phase rows by vector
 * permutes. Returns 0 (nothing written) in builds without them. */
static int load_pairs(const cn_conv2d_geom *g, const phase_dims *d, const unsigned char *used,
                      const cn_real *base, const size_t *imgs, size_t stride, int kk, size_t cs,
                      cn_real *xs)
{
    cn_real buf[2 * PHASE_ROW_MAX], spare[PHASE_ROW_MAX]; // a padded row; an unused phase's
    const size_t body = (size_t)kk * d->uv, v = d->v, w = (size_t)g->w, pw = (size_t)g->pad_w;
    const size_t right = 2 * v - pw - w; /* zeros after the row (2 pv >= w + 2 pad_w) */
    for (size_t j = 0; j < pw; j++) buf[j] = 0;
    for (size_t j = 0; j < right; j++) buf[pw + w + j] = 0;
    for (int a = 0; a < d->sh; a++) {
        if (!used[2 * a] && !used[2 * a + 1]) continue;
        for (int ch = 0; ch < g->cg_in; ch++) {
            cn_real *o0 = xs + ((size_t)(2 * a) * g->cg_in + ch) * cs;     // phase (a, 0)
            cn_real *o1 = xs + ((size_t)(2 * a + 1) * g->cg_in + ch) * cs; // phase (a, 1)
            for (int t = 0; t < kk; t++) {
                const cn_real *xc = base + imgs[t] * stride + (size_t)ch * g->h * w; // (h, w)
                for (size_t u = 0; u < d->u; u++) {
                    const size_t at = (size_t)t * d->uv + u * v;
                    cn_real *r0 = used[2 * a] ? o0 + at : spare;
                    cn_real *r1 = used[2 * a + 1] ? o1 + at : spare;
                    const long y = (long)u * d->sh + a - g->pad_h;
                    if (y < 0 || y >= g->h) {
                        memset(r0, 0, v * sizeof *r0);
                        memset(r1, 0, v * sizeof *r1);
                        continue;
                    }
                    memcpy(buf + pw, xc + (size_t)y * w, w * sizeof *buf);
                    if (!cn_conv2d_tile_deinterleave2(buf, (int)v, r0, r1)) return 0;
                }
            }
            if (used[2 * a]) memset(o0 + body, 0, (cs - body) * sizeof *o0);
            if (used[2 * a + 1]) memset(o1 + body, 0, (cs - body) * sizeof *o1);
        }
    }
    return 1;
}

/* phase_load: the used phases' blocks of xs (cs reals each, phase p's cg_in
 * channels from block p * cg_in) for the kk images base + imgs[t] * stride,
 * each (cg_in, h, w), every value written (zeros for the padding and after the
 * last image). */
static void phase_load(const cn_conv2d_geom *g, const phase_dims *d, const unsigned char *used,
                       const cn_real *base, const size_t *imgs, size_t stride, int kk,
                       size_t cs, cn_real *xs)
{
    const size_t body = (size_t)kk * d->uv;
    if (d->sw == 2 && d->v <= PHASE_ROW_MAX && load_pairs(g, d, used, base, imgs, stride, kk,
                                                          cs, xs))
        return;
    for (int ph = 0; ph < d->nph; ph++) {
        if (!used[ph]) continue;
        const int a = ph / d->sw, b = ph % d->sw;
        /* the columns v whose input column v * sw + b - pad_w lies in [0, w) */
        int v0 = 0, v1 = (int)d->v;
        while (v0 < v1 && v0 * d->sw + b - g->pad_w < 0) v0++;
        while (v1 > v0 && (v1 - 1) * d->sw + b - g->pad_w >= g->w) v1--;
        for (int ch = 0; ch < g->cg_in; ch++) {
            cn_real *o = xs + ((size_t)ph * g->cg_in + ch) * cs;
            for (int t = 0; t < kk; t++) {
                const cn_real *xc = base + imgs[t] * stride + (size_t)ch * g->h * g->w; // (h, w)
                for (size_t u = 0; u < d->u; u++) {
                    cn_real *row = o + (size_t)t * d->uv + u * d->v; // (pv)
                    const long y = (long)u * d->sh + a - g->pad_h;
                    if (y < 0 || y >= g->h || v0 >= v1) {
                        memset(row, 0, d->v * sizeof *row);
                        continue;
                    }
                    const long at = y * g->w + b - g->pad_w; /* column v at at + v * sw */
                    for (int v = 0; v < v0; v++) row[v] = 0;
                    for (int v = v0; v < v1; v++) row[v] = xc[at + (long)v * d->sw];
                    for (size_t v = (size_t)v1; v < d->v; v++) row[v] = 0;
                }
            }
            memset(o + body, 0, (cs - body) * sizeof *o);
        }
    }
}

/* The arguments of the phase path's slots (cn_conv_run_slots). */
typedef struct phase_ctx {
    const cn_conv2d_geom *g;
    const cn_conv2d_plan *p;
    const cn_real *x, *w, *b, *dy, *wt;
    cn_real *y, *dx, *ws;
    int want_dw;
} phase_ctx;

/* images: imgs[t] = slot s's images m0 .. m0 + kk - 1; returns kk. */
static int images(const cn_conv2d_geom *g, const cn_conv2d_plan *p, int s, int m0, size_t *imgs)
{
    const int S = g->slots, cnt = (g->n - s + S - 1) / S;
    const int kk = cnt - m0 < p->k ? cnt - m0 : p->k;
    for (int t = 0; t < kk; t++) imgs[t] = (size_t)s + (size_t)S * (m0 + t);
    return kk;
}

/* phase_forward_slot: y of slot s's images, k at a time: onto their phase
 * grids, the tiles, the valid outputs out with the bias. */
static void phase_forward_slot(void *ctx, int s)
{
    const phase_ctx *c = ctx;
    const cn_conv2d_geom *g = c->g;
    const cn_conv2d_plan *p = c->p;
    const cn_conv2d_strides st = cn_conv2d_strides_of(g);
    const phase_dims d = phase_dims_of(g, p);
    const int taps = g->kh * g->kw, cnt = (g->n - s + g->slots - 1) / g->slots;
    size_t off[CN_CONV2D_TILE_MAX_TAPS], imgs[CN_CONV2D_PHASE_COLS];
    unsigned char used[CN_CONV2D_TILE_MAX_TAPS]; /* per phase */
    cn_real *xs = c->ws + (size_t)s * p->slot + p->part;
    for (int m0 = 0; m0 < cnt; m0 += p->k) {
        const int kk = images(g, p, s, m0, imgs);
        const size_t cs = (size_t)kk * d.uv + d.slack;
        const int ncols = (int)((size_t)(kk - 1) * d.uv + (size_t)g->h_out * d.v);
        cn_real *outT = xs + (size_t)d.nph * g->cg_in * cs; // (ncols, cg_out)
        phase_offsets(g, &d, cs, off, used);
        for (int grp = 0; grp < g->groups; grp++) {
            phase_load(g, &d, used, c->x + grp * st.x_grp, imgs, st.x_img, kk, cs, xs);
            cn_conv2d_tile_off(off, taps, c->wt + grp * st.w_grp, g->cg_in, g->cg_out, xs, cs,
                               ncols, outT);
            for (int t = 0; t < kk; t++)
                cn_conv2d_extract_t(g->cg_out, g->h_out, g->w_out, p->pv,
                                    outT + (size_t)t * d.uv * g->cg_out,
                                    c->b ? c->b + (size_t)grp * g->cg_out : NULL,
                                    c->y + imgs[t] * st.y_img + grp * st.y_grp);
        }
    }
}

void cn_conv2d_phase_forward(const cn_conv2d_geom *g, const cn_conv2d_plan *p, const cn_real *x,
                             const cn_real *w, const cn_real *b, cn_real *y, cn_real *ws)
{
    CN_ASSERT(p->phase && ws && p->k <= CN_CONV2D_PHASE_COLS);
    CN_ASSERT(g->stride_h * g->stride_w <= CN_CONV2D_TILE_MAX_TAPS);
    cn_real *wt = ws + (size_t)g->slots * p->slot; // (groups, kh * kw, cg_in, cg_out)
    cn_conv2d_rearrange(g, w, 0, wt);
    phase_ctx c = {.g = g, .p = p, .x = x, .w = w, .b = b, .wt = wt, .y = y, .ws = ws};
    cn_conv_run_slots(g->slots, cn_conv_parallel((double)g->n * g->c_out * g->hw_out * g->kdim),
                      phase_forward_slot, &c);
}

/* dx_kernel: the input gradient's kernel, the taps grouped by phase: wt (groups,
 * taps, cg_out, cg_in), wt[grp][pos] = w[grp's co][ci][tap] for the taps in
 * phase order (within a phase in tap order); first[ph] .. first[ph + 1] - 1
 * are phase ph's positions, order[pos] the tap there. */
static void dx_kernel(const cn_conv2d_geom *g, const cn_real *w, int nph, int *first, int *order,
                      cn_real *wt)
{
    const int taps = g->kh * g->kw, cgi = g->cg_in, cgo = g->cg_out;
    int pos = 0;
    for (int ph = 0; ph < nph; ph++) {
        first[ph] = pos;
        for (int t = 0; t < taps; t++) {
            int oi, oj;
            if (tap_phase(g, t, &oi, &oj) == ph) order[pos++] = t;
        }
    }
    first[nph] = pos;
    for (int grp = 0; grp < g->groups; grp++) {
        const cn_real *wg = w + (size_t)grp * cgo * cgi * taps; // (cgo, cgi, taps)
        for (int q = 0; q < taps; q++) {
            cn_real *dst = wt + ((size_t)grp * taps + q) * cgo * cgi; // (cgo, cgi)
            const int t = order[q];
            if (cn_conv2d_tile_transpose(wg + t, (size_t)taps, (size_t)cgi * taps, cgi, cgo, NULL,
                                         dst, (size_t)cgi))
                continue;
            for (int co = 0; co < cgo; co++)
                for (int ci = 0; ci < cgi; ci++)
                    dst[(size_t)co * cgi + ci] = wg[((size_t)co * cgi + ci) * taps + t];
        }
    }
}

/* dy_load: the dy grids of the kk images (cg_out blocks of kk * qa reals at
 * dys, block stride cs): image t's dy (cg_out, h_out, w_out at base + imgs[t] *
 * stride) at rows pi.., columns pj.. of its qu x qv region, zeros elsewhere. */
static void dy_load(const cn_conv2d_geom *g, const cn_conv2d_plan *p, const phase_dims *d,
                    const cn_real *base, const size_t *imgs, size_t stride, int kk, size_t cs,
                    cn_real *dys)
{
    const size_t wo = (size_t)g->w_out, ho = (size_t)g->h_out, pi = (size_t)p->pi;
    const size_t pj = (size_t)p->pj;
    for (int ch = 0; ch < g->cg_out; ch++)
        for (int t = 0; t < kk; t++) {
            cn_real *o = dys + (size_t)ch * cs + (size_t)t * d->qa; // (qu, qv)
            const cn_real *src = base + imgs[t] * stride + (size_t)ch * ho * wo; // (ho, wo)
            memset(o, 0, (pi * d->qv + pj) * sizeof *o);
            for (size_t r = 0; r < ho; r++) {
                cn_real *row = o + (pi + r) * d->qv + pj;
                memcpy(row, src + r * wo, wo * sizeof *row);
                /* the rest of this row and the next row's first pj columns */
                memset(row + wo, 0, (d->qv - wo) * sizeof *row);
            }
            const size_t done = (pi + ho) * d->qv + pj;
            memset(o + done, 0, (d->qa - done) * sizeof *o);
        }
}

/* dx_scatter: dx of image (cg_in, h, w) at the positions of phase (a, b) =
 * the transposed phase output outT (rows u * qv + v of cg_in), or zeros when
 * outT is NULL; row is scratch for cg_in * pv reals. */
static void dx_scatter(const cn_conv2d_geom *g, const phase_dims *d, int a, int b,
                       const cn_real *outT, cn_real *row, cn_real *dx)
{
    const int cgi = g->cg_in;
    int v0 = 0, v1 = (int)d->v;
    while (v0 < v1 && v0 * d->sw + b - g->pad_w < 0) v0++;
    while (v1 > v0 && (v1 - 1) * d->sw + b - g->pad_w >= g->w) v1--;
    for (size_t u = 0; u < d->u; u++) {
        const long y = (long)u * d->sh + a - g->pad_h;
        if (y < 0 || y >= g->h || v0 >= v1) continue;
        if (outT) {
            const cn_real *src = outT + u * d->qv * cgi; // (pv, cg_in)
            if (!cn_conv2d_tile_transpose(src, (size_t)cgi, 1, (int)d->v, cgi, NULL, row, d->v))
                for (int ci = 0; ci < cgi; ci++)
                    for (size_t v = 0; v < d->v; v++)
                        row[(size_t)ci * d->v + v] = src[v * cgi + ci];
        }
        for (int ci = 0; ci < cgi; ci++) {
            cn_real *dst = dx + ((size_t)ci * g->h + (size_t)y) * g->w; // (w)
            const long at = b - g->pad_w; /* column v at at + v * sw */
            const cn_real *r = row + (size_t)ci * d->v;
            for (int v = v0; v < v1; v++) dst[at + (long)v * d->sw] = outT ? r[v] : 0;
        }
    }
}

/* phase_dw: slot part partg (group grp's partial weight gradient, transposed
 * (kdim, cg_out)) (+)= the kk images' sum by the weight-gradient tiles on
 * their phase grids; add 0 starts the slot's sum. */
static void phase_dw(const phase_ctx *c, const phase_dims *d, const size_t *imgs, int kk,
                     int grp, int add, cn_real *partg, cn_real *region)
{
    const cn_conv2d_geom *g = c->g;
    const cn_conv2d_strides st = cn_conv2d_strides_of(g);
    const size_t cs = (size_t)kk * d->uv + d->slack;
    const int ncols = (int)((size_t)(kk - 1) * d->uv + (size_t)g->h_out * d->v);
    size_t off[CN_CONV2D_TILE_MAX_TAPS];
    unsigned char used[CN_CONV2D_TILE_MAX_TAPS]; /* per phase */
    cn_real *xs = region;                               // the phase blocks
    cn_real *dyT = xs + (size_t)d->nph * g->cg_in * cs; // (ncols, cg_out)
    phase_offsets(g, d, cs, off, used);
    phase_load(g, d, used, c->x + grp * st.x_grp, imgs, st.x_img, kk, cs, xs);
    cn_conv2d_spread_t(g->cg_out, g->h_out, g->w_out, d->v, d->uv, c->dy + grp * st.y_grp, imgs,
                       st.y_img, kk, dyT);
    cn_conv2d_tile_dw_off(off, g->kh * g->kw, g->cg_in, g->cg_out, xs, cs, dyT, ncols, add,
                          partg);
}

/* phase_dx: dx of the kk images, group grp: dy onto its grids, then per phase
 * the tiles with that phase's taps and the scatter into dx. */
static void phase_dx(const phase_ctx *c, const phase_dims *d, const int *first, const int *order,
                     const size_t *imgs, int kk, int grp, cn_real *region)
{
    const cn_conv2d_geom *g = c->g;
    const cn_conv2d_plan *p = c->p;
    const cn_conv2d_strides st = cn_conv2d_strides_of(g);
    const int taps = g->kh * g->kw, cgi = g->cg_in, cgo = g->cg_out;
    const size_t cs = (size_t)kk * d->qa;
    const int ncols = (int)((size_t)(kk - 1) * d->qa + d->u * d->qv);
    cn_real *dys = region;                     // cg_out blocks of kk dy grids
    cn_real *outT = dys + (size_t)cgo * cs;    // (ncols, cg_in)
    cn_real *row = outT + (size_t)ncols * cgi; // (cg_in, pv)
    dy_load(g, p, d, c->dy + grp * st.y_grp, imgs, st.y_img, kk, cs, dys);
    const cn_real *wtg = c->wt + (size_t)grp * taps * cgo * cgi; // (taps, cg_out, cg_in)
    for (int ph = 0; ph < d->nph; ph++) {
        const int n = first[ph + 1] - first[ph];
        size_t off[CN_CONV2D_TILE_MAX_TAPS];
        for (int q = 0; q < n; q++) {
            int oi, oj;
            tap_phase(g, order[first[ph] + q], &oi, &oj);
            off[q] = (size_t)(p->pi - oi) * d->qv + (size_t)(p->pj - oj);
        }
        if (n > 0)
            cn_conv2d_tile_off(off, n, wtg + (size_t)first[ph] * cgo * cgi, cgo, cgi, dys, cs,
                               ncols, outT);
        for (int t = 0; t < kk; t++)
            dx_scatter(g, d, ph / d->sw, ph % d->sw, n > 0 ? outT + (size_t)t * d->qa * cgi : NULL,
                       row, c->dx + imgs[t] * st.x_img + grp * st.x_grp);
    }
}

/* The input gradient's tap order per phase (dx_kernel), shared by the slots. */
typedef struct phase_bwd {
    phase_ctx c;
    int first[CN_CONV2D_TILE_MAX_TAPS + 1];
    int order[CN_CONV2D_TILE_MAX_TAPS];
} phase_bwd;

/* phase_backward_slot: slot s's partial weight gradient (transposed, per group
 * (kdim, cg_out)) and dx of its images. */
static void phase_backward_slot(void *ctx, int s)
{
    const phase_bwd *bw = ctx;
    const phase_ctx *c = &bw->c;
    const cn_conv2d_geom *g = c->g;
    const cn_conv2d_plan *p = c->p;
    const cn_conv2d_strides st = cn_conv2d_strides_of(g);
    const phase_dims d = phase_dims_of(g, p);
    const int cnt = (g->n - s + g->slots - 1) / g->slots;
    cn_real *part = c->ws + (size_t)s * p->slot; // groups x (kdim, cg_out)
    cn_real *region = part + p->part;
    size_t imgs[CN_CONV2D_PHASE_COLS];
    for (int m0 = 0; m0 < cnt; m0 += p->k) {
        const int kk = images(g, p, s, m0, imgs);
        for (int grp = 0; grp < g->groups; grp++) {
            if (c->want_dw) phase_dw(c, &d, imgs, kk, grp, m0 > 0, part + grp * st.w_grp, region);
            if (c->dx) phase_dx(c, &d, bw->first, bw->order, imgs, kk, grp, region);
        }
    }
}

void cn_conv2d_phase_backward(const cn_conv2d_geom *g, const cn_conv2d_plan *p,
                              const cn_real *x, const cn_real *w, const cn_real *dy,
                              cn_real *dx, cn_real *dw, cn_real *ws)
{
    CN_ASSERT(p->phase && ws && p->k <= CN_CONV2D_PHASE_COLS);
    CN_ASSERT(g->stride_h * g->stride_w <= CN_CONV2D_TILE_MAX_TAPS);
    if (!dx && !dw) return;
    const int par = cn_conv_parallel((double)g->n * g->c_out * g->hw_out * g->kdim);
    phase_bwd bw = {.c = {.g = g, .p = p, .x = x, .w = w, .dy = dy, .dx = dx, .ws = ws,
                          .want_dw = dw != NULL}};
    cn_real *wt = ws + (size_t)g->slots * p->slot; // (groups, taps, cg_out, cg_in)
    if (dx) dx_kernel(g, w, g->stride_h * g->stride_w, bw.first, bw.order, wt);
    bw.c.wt = wt;
    cn_conv_run_slots(g->slots, par, phase_backward_slot, &bw);
    if (dw) cn_conv2d_reduce_slots_t(g, p, ws, dw, par);
}
