/* conv2d_grid.c: the plan of a 2-D convolution (path and workspace layout) and the
 * padded-grid path for stride-1 convolutions (conv2d_grid.h explains the grid):
 * the forward lays k images channel-major on the grid and runs one GEMM per
 * kernel tap on shifted views of them (no unfolding; register tiles instead of
 * the GEMMs where conv2d_tile.c has them), computing the transposed output,
 * then copies the valid outputs out with the bias. The input gradient is the
 * flipped convolution of dy on the same kind of grid. The weight gradient runs
 * register tiles over dy transposed onto the grid where conv2d_tile.c has them,
 * else one GEMM per tap with at most CN_CONV2D_DW_SHIFT_MAX channels, else the
 * unfolded im2col columns (one memcpy per row) times the spread dy. The batch
 * runs in the same slots as the general path (image i in slot i % slots, each
 * slot a fixed run of images and its own workspace), so every result is
 * independent of the thread count. */
#include "conv2d_grid.h"
#include "conv2d_tile.h"

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

/* block_len: reals of one channel's block of k images on a grid of rows of pitch
 * wp, hp rows per image, padding (ph, pw) shared between neighbours and reach ew
 * (the layout is explained above grid_dims). */
static size_t block_len(size_t k, size_t hp, size_t wp, size_t ph, size_t ew, int *ov)
{
    return add_ov(add_ov(mul_ov(k, mul_ov(hp, wp, ov), ov), mul_ov(ph, wp, ov), ov), ew, ov);
}

/* plan_grid: the grid fields of p for g (p->grid already decided possible). A
 * slot holds its partial weight gradient, then the largest of: the forward's k
 * channel-major images and transposed output, the weight gradient's padded
 * image, columns and spread dy, the input gradient's k padded dy and
 * transposed output. */
static void plan_grid(const cn_conv2d_geom *g, cn_conv2d_plan *p, int *ov)
{
    const size_t kdim = (size_t)g->kdim, ew = (size_t)g->dil_w * (size_t)(g->kw - 1);
    const size_t k = (size_t)p->k, hp = (size_t)p->hp, wp = (size_t)p->wp;
    const size_t kf = mul_ov(k, mul_ov(hp, wp, ov), ov);
    p->pad_f = mul_ov((size_t)g->cg_in, block_len(1, hp, wp, (size_t)g->pad_h, ew, ov), ov);
    size_t f = add_ov(mul_ov((size_t)g->cg_in, block_len(k, hp, wp, (size_t)g->pad_h, ew, ov), ov),
                      mul_ov(kf, (size_t)g->cg_out, ov), ov);
    size_t dwr = add_ov(p->pad_f, mul_ov(kdim + (size_t)g->cg_out, k * (size_t)p->lf, ov), ov);
    if (dwr > f) f = dwr;
    if (p->grid_dx) {
        const size_t hq = (size_t)p->hq, wq = (size_t)p->wq;
        const size_t qh = (size_t)(g->dil_h * (g->kh - 1) - g->pad_h);
        const size_t kb = mul_ov(k, mul_ov(hq, wq, ov), ov);
        size_t b = add_ov(mul_ov((size_t)g->cg_out, block_len(k, hq, wq, qh, ew, ov), ov),
                          mul_ov(kb, (size_t)g->cg_in, ov), ov);
        if (b > f) f = b;
    }
    p->slot = add_ov(p->part, f, ov);
}

/* plan_phase: for a strided g whose output and input channels per group both
 * take register tiles, set p->phase and its fields and return 1, else 0. A
 * slot holds its partial weight gradient, then the larger of: the forward's
 * (and weight gradient's) stride_h * stride_w phase grids of cg_in channels of
 * k images plus the transposed output (or dy); the input gradient's cg_out
 * padded dy grids, its transposed output and one row of cg_in channels
 * (conv2d_phase.c describes the layouts). */
static int plan_phase(const cn_conv2d_geom *g, cn_conv2d_plan *p, int tiles, int *ov)
{
    const long long sh = g->stride_h, sw = g->stride_w;
    const long long u = (g->h + 2LL * g->pad_h + sh - 1) / sh;
    const long long v = (g->w + 2LL * g->pad_w + sw - 1) / sw;
    const long long ei = (long long)g->dil_h * (g->kh - 1) / sh;
    const long long ej = (long long)g->dil_w * (g->kw - 1) / sw;
    const long long lq = (u + ei) * (v + ej); /* the input gradient's dy grid per image */
    /* (a strided 1x1 kernel reads one phase: im2col is a cheap subsampling there,
     * and it measured faster than the phase path's input gradient) */
    if (!tiles || (sh == 1 && sw == 1) || g->kh * g->kw == 1 || g->depthwise ||
        sh * sw > CN_CONV2D_TILE_MAX_TAPS ||
        !cn_conv2d_tile_ok(g->cg_in, g->kh * g->kw) || lq > INT_MAX / 4)
        return 0;
    const long long per_slot = (g->n + g->slots - 1) / g->slots;
    long long k = (CN_CONV2D_PHASE_COLS + u * v - 1) / (u * v);
    if (k > per_slot) k = per_slot;
    if (k > INT_MAX / lq - 2) k = INT_MAX / lq - 2;
    p->phase = 1;
    p->k = (int)(k < 1 ? 1 : k);
    p->pu = (int)u;
    p->pv = (int)v;
    p->pi = (int)ei;
    p->pj = (int)ej;
    const size_t kl = mul_ov((size_t)p->k, (size_t)(u * v), ov);
    const size_t cs = add_ov(kl, (size_t)(ei * v + ej), ov); /* one phase channel's block */
    size_t f = add_ov(mul_ov(mul_ov((size_t)(sh * sw), (size_t)g->cg_in, ov), cs, ov),
                      mul_ov(kl, (size_t)g->cg_out, ov), ov);
    const size_t klq = mul_ov((size_t)p->k, (size_t)lq, ov);
    size_t b = add_ov(mul_ov(klq, (size_t)(g->cg_out + g->cg_in), ov),
                      mul_ov((size_t)g->cg_in, (size_t)v, ov), ov);
    p->slot = add_ov(p->part, f > b ? f : b, ov);
    return 1;
}

int cn_conv2d_plan_make(const cn_conv2d_geom *g, cn_conv2d_plan *p)
{
    cn_conv2d_plan z = {0};
    *p = z;
    if (g->depthwise) return 0;
    int ov = 0;
    const long long eh = (long long)g->dil_h * (g->kh - 1), ew = (long long)g->dil_w * (g->kw - 1);
    /* the shared-padding grid (above grid_dims): rows of pitch w + pad_w, h + pad_h
     * rows per image; the input gradient's dy padded by dil * (k - 1) - pad */
    const long long hp = g->h + (long long)g->pad_h, wp = g->w + (long long)g->pad_w;
    const long long lf = (long long)g->h_out * wp;
    const long long hq = g->h_out + eh - g->pad_h, wq = g->w_out + ew - g->pad_w;
    const long long lb = (long long)g->h * wq;
    p->part = mul_ov((size_t)g->c_out, (size_t)g->kdim, &ov);
    const int tiles = cn_conv2d_tile_ok(g->cg_out, g->kh * g->kw); /* register tiles */
    /* the grid: stride 1, not a direct 1x1, more than one input channel per
     * group or register tiles for the output channels (with one channel and
     * GEMMs, im2col is cheap and the grid measured slower; the tiles measured
     * 1.5x faster on the small CNN's first layer), padding within the kernel's
     * reach (so neighbours can share it), at most as many dropped columns as
     * kept ones, and every GEMM size an int (a block of k images is at most
     * (k + 2) * hp * wp reals) */
    p->grid = !g->direct_1x1 && (g->cg_in > 1 || tiles) &&
              g->stride_h == 1 && g->stride_w == 1 && g->pad_h <= eh && g->pad_w <= ew &&
              ew <= g->w_out && hp * wp <= INT_MAX / 3;
    if (p->grid) {
        /* the flipped convolution reads padded dy in place (no col2im scatter) */
        p->grid_dx = ew <= g->w && hq * wq <= INT_MAX / 3;
        p->dw_tile = tiles;
        p->dw_shift = g->cg_in <= CN_CONV2D_DW_SHIFT_MAX && g->cg_out <= CN_CONV2D_DW_SHIFT_MAX;
        const long long per_slot = (g->n + g->slots - 1) / g->slots;
        long long k = (CN_CONV2D_GRID_COLS + lf - 1) / lf;
        const long long fit = CN_CONV2D_GRID_REALS / ((long long)g->kdim * lf);
        if (k > fit) k = fit;
        if (k > per_slot) k = per_slot;
        const long long lmax = p->grid_dx && hq * wq > hp * wp ? hq * wq : hp * wp;
        if (k > INT_MAX / lmax - 2) k = INT_MAX / lmax - 2;
        p->k = (int)(k < 1 ? 1 : k);
        /* register tiles need no unfolding and run at any column count */
        p->fwd_shift = tiles || (p->k - 1) * hp * wp + lf >= CN_CONV2D_SHIFT_MIN_COLS;
        p->hp = (int)hp;
        p->wp = (int)wp;
        p->lf = (int)lf;
        if (p->grid_dx) {
            p->hq = (int)hq;
            p->wq = (int)wq;
            p->lb = (int)lb;
        }
        plan_grid(g, p, &ov);
    } else if (plan_phase(g, p, tiles, &ov)) {
        /* the phase grids' slots are sized */
    } else {
        size_t cols = g->direct_1x1 ? 0 : mul_ov((size_t)g->kdim, (size_t)g->hw_out, &ov);
        p->slot = add_ov(cols, p->part, &ov);
    }
    p->total = mul_ov(p->slot, (size_t)g->slots, &ov);
    if (p->grid || p->phase) /* the rearranged kernel */
        p->total = add_ov(p->total, p->part, &ov);
    return ov;
}

/* ------------------------------------------------------------------ grid pieces */

/* The shared-padding grid. k images of c channels lie channel-major: channel
 * ch's block at xs + ch * cs, cs = block_len(k, hp, wp, ph, ew), holds lead =
 * ph * wp + pw zeros, then image t's region of hp * wp reals at lead + t * hp *
 * wp (its h rows of w values, each followed by pw zeros, then ph rows of
 * zeros), then ew - pw zeros. Pixel (r, q) of image t lies at lead + (t * hp +
 * r) * wp + q. The zeros after a row are its right padding and the next row's
 * left padding; the zero rows after an image are its bottom padding and the
 * next image's top padding. So output (r, q) of image t of a stride-1
 * convolution padded by (ph, pw) (at most its reach) is grid column (t * hp +
 * r) * wp + q, and tap (i, j) reads it at that column + i * dil_h * wp + j *
 * dil_w, inside the block. */
typedef struct grid_dims {
    int h, w, ph, pw; /* image (h, w) and padding */
    size_t wp, hwp;   /* row pitch w + pw, region (h + ph) * wp */
    size_t lead;      /* zeros before the first region: ph * wp + pw */
    size_t ew;        /* the kernel's reach along w, dil_w * (kw - 1) */
} grid_dims;

static grid_dims grid_dims_of(int h, int w, int ph, int pw, const cn_conv2d_geom *g)
{
    const size_t wp = (size_t)w + (size_t)pw;
    grid_dims d = {.h = h, .w = w, .ph = ph, .pw = pw, .wp = wp,
                   .hwp = ((size_t)h + (size_t)ph) * wp, .lead = (size_t)ph * wp + (size_t)pw,
                   .ew = (size_t)g->dil_w * (size_t)(g->kw - 1)};
    return d;
}

/* grid_cs: reals per channel block of kk images (block_len). */
static size_t grid_cs(const grid_dims *d, int kk)
{
    int ov = 0; /* the plan checked every size */
    return block_len((size_t)kk, d->hwp / d->wp, d->wp, (size_t)d->ph, d->ew, &ov);
}

/* grid_load: the block xs (c channels of grid_cs(d, kk) reals) of the kk images
 * base + imgs[t] * stride, each (c, h, w), with every zero written. */
static void grid_load(const grid_dims *d, int c, const cn_real *base, const size_t *imgs,
                      size_t stride, int kk, cn_real *xs)
{
    const size_t cs = grid_cs(d, kk), body = (size_t)kk * d->hwp;
    const size_t wr = (size_t)d->w * sizeof *xs, pr = (size_t)d->pw * sizeof *xs;
    for (int ch = 0; ch < c; ch++) {
        cn_real *o = xs + (size_t)ch * cs;
        memset(o, 0, d->lead * sizeof *o);
        memset(o + d->lead + body, 0, (cs - d->lead - body) * sizeof *o);
        for (int t = 0; t < kk; t++) {
            const cn_real *xc = base + imgs[t] * stride + (size_t)ch * d->h * d->w; // (h, w)
            cn_real *r = o + d->lead + (size_t)t * d->hwp;
            if (cn_conv2d_tile_copy_rows(xc, d->h, d->w, d->pw, r, d->wp))
                r += (size_t)d->h * d->wp;
            else
                for (int row = 0; row < d->h; row++, r += d->wp) {
                    memcpy(r, xc + (size_t)row * d->w, wr);
                    memset(r + d->w, 0, pr);
                }
            memset(r, 0, (size_t)d->ph * d->wp * sizeof *r);
        }
    }
}

/* unfold: cols rows (c*kh + i)*kw + j (row stride ld) = the run of len reals of
 * the one-image grid block xp (c channels of stride cs) from tap (i*dh, j*dw). */
static void unfold(int c, int kh, int kw, int dh, int dw, size_t wp, size_t cs, int len,
                   const cn_real *xp, cn_real *cols, size_t ld)
{
    const size_t bytes = (size_t)len * sizeof *xp;
    cn_real *row = cols;
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                memcpy(row, xp + ch * cs + (size_t)i * dh * wp + (size_t)j * dw, bytes);
                row += ld;
            }
}

/* extract_t: y (c, ho, wo) = the valid rows of a transposed grid output outT
 * (ho * wp rows of c: row r * wp + q is output (r, q) of every channel), plus
 * b[ch] when b is not NULL. */
void cn_conv2d_extract_t(int c, int ho, int wo, int wp, const cn_real *outT, const cn_real *b,
                         cn_real *y)
{
    for (int r = 0; r < ho; r++) {
        const size_t plane = (size_t)ho * wo;
        if (cn_conv2d_tile_transpose(outT + (size_t)r * wp * c, (size_t)c, 1, wo, c, b,
                                     y + (size_t)r * wo, plane))
            continue;
        for (int ch = 0; ch < c; ch++) {
            const cn_real *src = outT + (size_t)r * wp * c + ch;
            cn_real *dst = y + ((size_t)ch * ho + r) * wo;
            if (b)
                for (int q = 0; q < wo; q++) dst[q] = src[(size_t)q * c] + b[ch];
            else
                for (int q = 0; q < wo; q++) dst[q] = src[(size_t)q * c];
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

/* spread_t: the transposed grid dyT (ncols, c) of kk images = dy of image t
 * (c, ho, wo, at base + imgs[t] * stride) at rows t * hwp + r * wp + q, zeros on
 * the other rows up to ncols = (kk - 1) * hwp + ho * wp. */
void cn_conv2d_spread_t(int c, int ho, int wo, size_t wp, size_t hwp, const cn_real *base,
                        const size_t *imgs, size_t stride, int kk, cn_real *dyT)
{
    const size_t lf = (size_t)ho * wp;
    for (int t = 0; t < kk; t++) {
        cn_real *img = dyT + (size_t)t * hwp * c; // (hwp, c), the last image (lf, c)
        for (int r = 0; r < ho; r++) {
            cn_real *row = img + (size_t)r * wp * c; // (wp, c)
            const cn_real *src = base + imgs[t] * stride + (size_t)r * wo; // ch at ch*ho*wo
            if (!cn_conv2d_tile_transpose(src, (size_t)ho * wo, 1, c, wo, NULL, row, (size_t)c))
                for (int ch = 0; ch < c; ch++)
                    for (int q = 0; q < wo; q++)
                        row[(size_t)q * c + ch] = src[(size_t)ch * ho * wo + q];
            memset(row + (size_t)wo * c, 0, (wp - (size_t)wo) * c * sizeof *row);
        }
        if (t + 1 < kk) memset(img + lf * c, 0, (hwp - lf) * c * sizeof *img);
    }
}

/* ------------------------------------------------------------------ kernels */

/* grid_fill: image group base + img * stride (cg_in, h, w) onto its one-image
 * grid xp and unfolded into the grid columns cols (kdim, ld). */
static void grid_fill(const cn_conv2d_geom *g, const cn_conv2d_plan *p, const cn_real *base,
                      size_t img, size_t stride, cn_real *xp, cn_real *cols, size_t ld)
{
    const grid_dims d = grid_dims_of(g->h, g->w, g->pad_h, g->pad_w, g);
    grid_load(&d, g->cg_in, base, &img, stride, 1, xp);
    unfold(g->cg_in, g->kh, g->kw, g->dil_h, g->dil_w, d.wp, grid_cs(&d, 1), p->lf, xp, cols, ld);
}

/* rearrange: the kernel w (c_out, cg_in, kh, kw) as one (a, b) matrix per group
 * and tap, wt (groups, kh * kw, a, b). Forward (flip 0): wt[grp][t] (cg_in,
 * cg_out) = w[grp's co][ci][t]. Input gradient (flip 1): wt[grp][t] (cg_out,
 * cg_in) = w[grp's co][ci][taps - 1 - t], the kernel rotated by 180 degrees. */
void cn_conv2d_rearrange(const cn_conv2d_geom *g, const cn_real *w, int flip, cn_real *wt)
{
    const int taps = g->kh * g->kw, cgi = g->cg_in, cgo = g->cg_out;
    /* by gathers where the build has them: tap t's matrix at a time */
    int done = 1;
    for (int grp = 0; grp < g->groups && done; grp++) {
        const cn_real *wg = w + (size_t)grp * cgo * cgi * taps; // (cgo, cgi, taps)
        for (int t = 0; t < taps && done; t++) {
            cn_real *dst = wt + ((size_t)grp * taps + (flip ? taps - 1 - t : t)) * cgi * cgo;
            done = flip ? cn_conv2d_tile_transpose(wg + t, (size_t)taps, (size_t)cgi * taps, cgi,
                                                   cgo, NULL, dst, (size_t)cgi)
                        : cn_conv2d_tile_transpose(wg + t, (size_t)cgi * taps, (size_t)taps, cgo,
                                                   cgi, NULL, dst, (size_t)cgo);
        }
    }
    if (done) return;
    for (int grp = 0; grp < g->groups; grp++)
        for (int co = 0; co < cgo; co++)
            for (int ci = 0; ci < cgi; ci++) {
                const cn_real *src = w + ((size_t)(grp * cgo + co) * cgi + ci) * taps;
                for (int t = 0; t < taps; t++) {
                    if (flip)
                        wt[(((size_t)grp * taps + (taps - 1 - t)) * cgo + co) * cgi + ci] = src[t];
                    else
                        wt[(((size_t)grp * taps + t) * cgi + ci) * cgo + co] = src[t];
                }
            }
}

/* shift_conv: outT (ncols, m) = sum over the taps (i, j) of view_ij^T wt_t, where
 * view_ij is xs (c rows of stride cs) shifted by i * dil_h * wp + j * dil_w
 * (ncols columns) and wt_t the tap's (c, m) matrix: one GEMM per tap, reading
 * the padded images in place. */
static void shift_conv(const cn_conv2d_geom *g, const cn_real *wt, int c, int m, int wp,
                       const cn_real *xs, size_t cs, int ncols, cn_real *outT)
{
    if (cn_conv2d_tile(g, wt, c, m, wp, xs, cs, ncols, outT)) return; /* register tiles */
    for (int i = 0; i < g->kh; i++)
        for (int j = 0; j < g->kw; j++) {
            const int t = i * g->kw + j;
            const cn_real *view = xs + (size_t)i * g->dil_h * wp + (size_t)j * g->dil_w;
            // outT (ncols, m) (+)= view^T (ncols, c) wt_t (c, m)
            cn_gemm(CN_TRANS, CN_NO_TRANS, ncols, m, c, 1, view, (int)cs,
                    wt + (size_t)t * c * m, m, t ? 1 : 0, outT, m);
        }
}

/* The arguments of the grid path's slots (cn_conv_run_slots). */
typedef struct grid_ctx {
    const cn_conv2d_geom *g;
    const cn_conv2d_plan *p;
    const cn_real *x, *w, *b, *dy, *wt;
    cn_real *y, *dx, *ws;
    int want_dw;
} grid_ctx;

/* grid_forward_unfold: the forward of the kk images imgs, group grp, the
 * unfolded way (p->fwd_shift 0): each image onto its grid and unfolded into the
 * columns (kdim, kk * lf), then outT (kk * lf, cg_out) = cols^T w_g^T. */
static void grid_forward_unfold(const grid_ctx *c, int s, const size_t *imgs, int kk, int grp)
{
    const cn_conv2d_geom *g = c->g;
    const cn_conv2d_plan *p = c->p;
    const cn_conv2d_strides st = cn_conv2d_strides_of(g);
    const int lf = p->lf, ld = kk * lf;
    cn_real *xp = c->ws + (size_t)s * p->slot + p->part; // one-image grid (cg_in blocks)
    cn_real *cols = xp + p->pad_f;                       // (kdim, kk * lf)
    cn_real *outT = cols + (size_t)g->kdim * ld;         // (kk * lf, cg_out)
    for (int t = 0; t < kk; t++)
        grid_fill(g, p, c->x + grp * st.x_grp, imgs[t], st.x_img, xp, cols + (size_t)t * lf,
                  (size_t)ld);
    // outT (kk * lf, cg_out) = cols^T (kk * lf, kdim) w_g^T (kdim, cg_out)
    cn_gemm(CN_TRANS, CN_TRANS, ld, g->cg_out, g->kdim, 1, cols, ld, c->w + grp * st.w_grp,
            g->kdim, 0, outT, g->cg_out);
    for (int t = 0; t < kk; t++)
        cn_conv2d_extract_t(g->cg_out, g->h_out, g->w_out, p->wp,
                            outT + (size_t)t * lf * g->cg_out,
                            c->b ? c->b + (size_t)grp * g->cg_out : NULL,
                            c->y + imgs[t] * st.y_img + grp * st.y_grp);
}

/* grid_forward_slot: y of slot s's images, k at a time: onto their grid block,
 * one GEMM per tap, copy the valid outputs out (or grid_forward_unfold). */
static void grid_forward_slot(void *ctx, int s)
{
    const grid_ctx *c = ctx;
    const cn_conv2d_geom *g = c->g;
    const cn_conv2d_plan *p = c->p;
    const int S = g->slots, K = p->k;
    const cn_conv2d_strides st = cn_conv2d_strides_of(g);
    const grid_dims d = grid_dims_of(g->h, g->w, g->pad_h, g->pad_w, g);
    cn_real *xs = c->ws + (size_t)s * p->slot + p->part; // cg_in blocks of kk images
    const int cnt = (g->n - s + S - 1) / S;
    size_t imgs[CN_CONV2D_GRID_COLS];
    for (int m0 = 0; m0 < cnt; m0 += K) {
        const int kk = cnt - m0 < K ? cnt - m0 : K;
        const size_t cs = grid_cs(&d, kk);
        const int ncols = (int)((size_t)(kk - 1) * d.hwp + (size_t)p->lf);
        cn_real *outT = xs + (size_t)g->cg_in * cs; // (kk * hp * wp, cg_out)
        for (int t = 0; t < kk; t++) imgs[t] = (size_t)s + (size_t)S * (m0 + t);
        for (int grp = 0; grp < g->groups; grp++) {
            if (!p->fwd_shift) {
                grid_forward_unfold(c, s, imgs, kk, grp);
                continue;
            }
            grid_load(&d, g->cg_in, c->x + grp * st.x_grp, imgs, st.x_img, kk, xs);
            shift_conv(g, c->wt + grp * st.w_grp, g->cg_in, g->cg_out, p->wp, xs, cs, ncols, outT);
            for (int t = 0; t < kk; t++)
                cn_conv2d_extract_t(g->cg_out, g->h_out, g->w_out, p->wp,
                                    outT + (size_t)t * d.hwp * g->cg_out,
                                    c->b ? c->b + (size_t)grp * g->cg_out : NULL,
                                    c->y + imgs[t] * st.y_img + grp * st.y_grp);
        }
    }
}

void cn_conv2d_grid_forward(const cn_conv2d_geom *g, const cn_conv2d_plan *p, const cn_real *x,
                            const cn_real *w, const cn_real *b, cn_real *y, cn_real *ws)
{
    CN_ASSERT(p->grid && ws);
    cn_real *wt = ws + (size_t)g->slots * p->slot; // (groups, kh * kw, cg_in, cg_out)
    if (p->fwd_shift) cn_conv2d_rearrange(g, w, 0, wt);
    grid_ctx c = {.g = g, .p = p, .x = x, .w = w, .b = b, .wt = wt, .y = y, .ws = ws};
    cn_conv_run_slots(g->slots, cn_conv_parallel((double)g->n * g->c_out * g->hw_out * g->kdim),
                      grid_forward_slot, &c);
}

/* grid_dx_chunk: dx of the kk images imgs of one slot chunk and group grp as the
 * flipped convolution of dy padded by dil * (k - 1) - pad: pad them
 * channel-major into region, one GEMM per tap with the rotated kernel wt_g
 * (taps, cg_out, cg_in), copy the valid outputs into dx. */
static void grid_dx_chunk(const cn_conv2d_geom *g, const cn_conv2d_plan *p, const cn_real *wtg,
                          const cn_real *dy, cn_real *dx, const size_t *imgs, int kk, int grp,
                          cn_real *region)
{
    const cn_conv2d_strides st = cn_conv2d_strides_of(g);
    const int qh = g->dil_h * (g->kh - 1) - g->pad_h, qw = g->dil_w * (g->kw - 1) - g->pad_w;
    const grid_dims d = grid_dims_of(g->h_out, g->w_out, qh, qw, g); // wp = p->wq
    const size_t cs = grid_cs(&d, kk);
    const int ncols = (int)((size_t)(kk - 1) * d.hwp + (size_t)p->lb);
    cn_real *dys = region;                        // cg_out blocks of kk padded dy
    cn_real *outT = dys + (size_t)g->cg_out * cs; // (kk * hq * wq, cg_in)
    grid_load(&d, g->cg_out, dy + grp * st.y_grp, imgs, st.y_img, kk, dys);
    shift_conv(g, wtg, g->cg_out, g->cg_in, p->wq, dys, cs, ncols, outT);
    for (int t = 0; t < kk; t++)
        cn_conv2d_extract_t(g->cg_in, g->h, g->w, p->wq, outT + (size_t)t * d.hwp * g->cg_in,
                            NULL, dx + imgs[t] * st.x_img + grp * st.x_grp);
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

/* grid_dw_shift: slot part of group grp's partial weight gradient, transposed
 * (kdim, cg_out), over the kk images imgs, one GEMM per tap: the tap's rows
 * (ci * taps + t) (+)= view_t (cg_in, ncols) dy_grid^T (ncols, cg_out), where
 * dy_grid is dy spread onto the images' padded grids (zeros between them).
 * beta 0 starts the slot's sum. */
static void grid_dw_shift(const cn_conv2d_geom *g, const cn_conv2d_plan *p, const cn_real *x,
                          const cn_real *dy, const size_t *imgs, int kk, int grp, cn_real beta,
                          cn_real *partg, cn_real *region)
{
    const cn_conv2d_strides st = cn_conv2d_strides_of(g);
    const grid_dims d = grid_dims_of(g->h, g->w, g->pad_h, g->pad_w, g);
    const size_t hwp = d.hwp, cs = grid_cs(&d, kk), gap = hwp - (size_t)p->lf;
    const int taps = g->kh * g->kw, ncols = (int)((size_t)(kk - 1) * hwp + (size_t)p->lf);
    cn_real *xs = region;                        // cg_in blocks of kk images
    cn_real *dgs = xs + (size_t)g->cg_in * cs;   // (cg_out, ncols)
    grid_load(&d, g->cg_in, x + grp * st.x_grp, imgs, st.x_img, kk, xs);
    for (int t = 0; t < kk; t++) {
        spread(g->cg_out, g->h_out, g->w_out, p->wp, dy + imgs[t] * st.y_img + grp * st.y_grp,
               dgs + (size_t)t * hwp, (size_t)ncols);
        if (t + 1 < kk) /* the padding rows up to the next image's grid */
            for (int ch = 0; ch < g->cg_out; ch++)
                memset(dgs + (size_t)ch * ncols + (size_t)t * hwp + p->lf, 0, gap * sizeof *dgs);
    }
    for (int i = 0; i < g->kh; i++)
        for (int j = 0; j < g->kw; j++) {
            const int t = i * g->kw + j;
            const cn_real *view = xs + (size_t)i * g->dil_h * p->wp + (size_t)j * g->dil_w;
            // rows ci*taps + t of part_g^T: (cg_in, cg_out) (+)= view (cg_in, ncols) dgs^T
            cn_gemm(CN_NO_TRANS, CN_TRANS, g->cg_in, g->cg_out, ncols, 1, view, (int)cs, dgs,
                    ncols, beta, partg + (size_t)t * g->cg_out, taps * g->cg_out);
        }
}

/* grid_dw_tile: slot part of group grp's partial weight gradient, transposed
 * (kdim, cg_out), over the kk images imgs by register tiles (conv2d_tile.h):
 * the images onto their grid, dy transposed onto it, then every row (ci, tap)
 * (+)= view (ncols) dyT. add 0 starts the slot's sum. */
static void grid_dw_tile(const cn_conv2d_geom *g, const cn_conv2d_plan *p, const cn_real *x,
                         const cn_real *dy, const size_t *imgs, int kk, int grp, int add,
                         cn_real *partg, cn_real *region)
{
    const cn_conv2d_strides st = cn_conv2d_strides_of(g);
    const grid_dims d = grid_dims_of(g->h, g->w, g->pad_h, g->pad_w, g);
    const size_t cs = grid_cs(&d, kk);
    const int ncols = (int)((size_t)(kk - 1) * d.hwp + (size_t)p->lf);
    cn_real *xs = region;                      // cg_in blocks of kk images
    cn_real *dyT = xs + (size_t)g->cg_in * cs; // (ncols, cg_out)
    grid_load(&d, g->cg_in, x + grp * st.x_grp, imgs, st.x_img, kk, xs);
    cn_conv2d_spread_t(g->cg_out, g->h_out, g->w_out, d.wp, d.hwp, dy + grp * st.y_grp, imgs,
                       st.y_img, kk, dyT);
    cn_conv2d_tile_dw(g, g->cg_in, g->cg_out, p->wp, xs, cs, dyT, ncols, add, partg);
}

/* grid_backward_slot: slot s's partial weight gradient, transposed (per group
 * (kdim, cg_out)), and dx of its images. */
static void grid_backward_slot(void *ctx, int s)
{
    const grid_ctx *c = ctx;
    const cn_conv2d_geom *g = c->g;
    const cn_conv2d_plan *p = c->p;
    const int S = g->slots, K = p->k, kdim = g->kdim, lf = p->lf;
    const cn_conv2d_strides st = cn_conv2d_strides_of(g);
    cn_real *part = c->ws + (size_t)s * p->slot; // groups x (kdim, cg_out)
    cn_real *region = part + p->part;
    cn_real *xp = region;                        // one-image grid (cg_in blocks)
    cn_real *cols = xp + p->pad_f;               // (kdim, k * lf)
    cn_real *dyg = cols + (size_t)kdim * K * lf; // (cg_out, k * lf)
    const int cnt = (g->n - s + S - 1) / S;
    size_t imgs[CN_CONV2D_GRID_COLS];
    for (int m0 = 0; m0 < cnt; m0 += K) {
        const int kk = cnt - m0 < K ? cnt - m0 : K, ld = kk * lf;
        for (int t = 0; t < kk; t++) imgs[t] = (size_t)s + (size_t)S * (m0 + t);
        for (int grp = 0; grp < g->groups; grp++) {
            if (c->want_dw && p->dw_tile) {
                grid_dw_tile(g, p, c->x, c->dy, imgs, kk, grp, m0 > 0, part + grp * st.w_grp,
                             region);
            } else if (c->want_dw && p->dw_shift) {
                grid_dw_shift(g, p, c->x, c->dy, imgs, kk, grp, m0 == 0 ? 0 : 1,
                              part + grp * st.w_grp, region);
            } else if (c->want_dw) {
                for (int t = 0; t < kk; t++) {
                    grid_fill(g, p, c->x + grp * st.x_grp, imgs[t], st.x_img, xp,
                              cols + (size_t)t * lf, ld);
                    spread(g->cg_out, g->h_out, g->w_out, p->wp,
                           c->dy + imgs[t] * st.y_img + grp * st.y_grp, dyg + (size_t)t * lf, ld);
                }
                // part_g^T (kdim, cg_out) (+)= cols (kdim, kk*lf) dy grid^T (kk*lf, cg_out);
                // the slot's first chunk starts its sum
                cn_gemm(CN_NO_TRANS, CN_TRANS, kdim, g->cg_out, ld, 1, cols, ld, dyg, ld,
                        m0 == 0 ? 0 : 1, part + grp * st.w_grp, g->cg_out);
            }
            if (!c->dx) continue;
            if (p->grid_dx) {
                grid_dx_chunk(g, p, c->wt + grp * st.w_grp, c->dy, c->dx, imgs, kk, grp, region);
            } else {
                for (int t = 0; t < kk; t++)
                    col2im_dx_image(g, c->w + grp * st.w_grp,
                                    c->dy + imgs[t] * st.y_img + grp * st.y_grp,
                                    c->dx + imgs[t] * st.x_img + grp * st.x_grp, cols);
            }
        }
    }
}

/* reduce_slots_t: dw (c_out, cg_in, kh, kw) += the slots' transposed partials
 * (per group (kdim, cg_out), slot s's at ws + s * p->slot) added in slot order. */
void cn_conv2d_reduce_slots_t(const cn_conv2d_geom *g, const cn_conv2d_plan *p,
                              const cn_real *ws, cn_real *dw, int par)
{
    const long kdim = g->kdim, cgo = g->cg_out, n = (long)g->c_out * kdim;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (par)
#else
    (void)par;
#endif
    for (long e = 0; e < n; e++) {
        const long grp = e / (cgo * kdim), r = e % (cgo * kdim);
        const size_t off = (size_t)(grp * cgo * kdim + (r % kdim) * cgo + r / kdim);
        cn_real acc = ws[off]; // slot 0's partial starts the sum
        for (int s = 1; s < g->slots; s++) acc += ws[(size_t)s * p->slot + off];
        dw[e] += acc;
    }
}

void cn_conv2d_grid_backward(const cn_conv2d_geom *g, const cn_conv2d_plan *p, const cn_real *x,
                             const cn_real *w, const cn_real *dy, cn_real *dx, cn_real *dw,
                             cn_real *ws)
{
    CN_ASSERT(p->grid && ws && p->k <= CN_CONV2D_GRID_COLS);
    if (!dx && !dw) return;
    const int par = cn_conv_parallel((double)g->n * g->c_out * g->hw_out * g->kdim);
    cn_real *wt = ws + (size_t)g->slots * p->slot; // (groups, kh * kw, cg_out, cg_in)
    if (dx && p->grid_dx) cn_conv2d_rearrange(g, w, 1, wt);
    grid_ctx c = {.g = g, .p = p, .x = x, .w = w, .dy = dy, .wt = wt, .dx = dx, .ws = ws,
                  .want_dw = dw != NULL};
    cn_conv_run_slots(g->slots, par, grid_backward_slot, &c);
    if (dw) cn_conv2d_reduce_slots_t(g, p, ws, dw, par);
}
