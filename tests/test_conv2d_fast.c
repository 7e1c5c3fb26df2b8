/* test_conv2d_fast.c: the fast 2-D convolution paths (the padded grid for stride
 * 1 with several images per GEMM and the flipped-kernel input gradient, the
 * col2im fallback, strided im2col, 1x1 and depthwise) against the naive direct
 * oracle (tests/conv_oracle.h) on random shapes: odd sizes, strides 1-3,
 * dilations 1-2, groups, padding up to beyond the kernel, batch 1..9. Forward
 * with and without bias, dx overwritten, dw and db accumulated onto nonzero
 * values; the workspace starts as NaN so any read of an unwritten entry shows.
 * Tolerance relative to the magnitude of the values compared. Also 1 vs 2
 * threads bit-identical on random grid shapes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_nd_oracle.h"
#include "convnet.h"
#include "support.h"

#ifdef CN_DOUBLE
#define REL_TOL 1e-12 /* double sums of <= ~2000 O(1) products, compared to their scale */
#else
#define REL_TOL 2e-5  /* float: ~ sqrt(terms) ulp of the largest value, with margin */
#endif

/* rel_err: max |a - b| / (1 + max |b|) over n entries (NaN propagates). */
static double rel_err(const cn_real *a, const cn_real *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double v = fabs((double)b[i]);
        if (v > m) m = v;
    }
    return oracle_max_abs_diff(a, b, n) / (1 + m);
}

/* pick: uniform integer in [lo, hi]. */
static int pick(cn_rng *r, int lo, int hi)
{
    return lo + (int)cn_rng_below(r, (uint32_t)(hi - lo + 1));
}

/* random_geom: a valid geometry; every fourth one has stride 1 and padding
 * within dil * (k - 1) (the full grid path), the others anything. */
static cn_conv2d_geom random_geom(cn_rng *r, int q)
{
    for (;;) {
        const int groups = pick(r, 1, 3);
        cn_conv2d_geom g = {.n = pick(r, 1, 9), .groups = groups};
        g.c_in = groups * pick(r, 1, 4);
        g.c_out = groups * pick(r, 1, 4);
        g.h = pick(r, 1, 13);
        g.w = pick(r, 1, 13);
        g.kh = pick(r, 1, 5);
        g.kw = pick(r, 1, 5);
        const int grid = q % 4 == 0;
        g.stride_h = grid ? 1 : pick(r, 1, 3);
        g.stride_w = grid ? 1 : pick(r, 1, 3);
        g.dil_h = pick(r, 1, 2);
        g.dil_w = pick(r, 1, 2);
        g.pad_h = pick(r, 0, grid ? g.dil_h * (g.kh - 1) : g.kh + 1);
        g.pad_w = pick(r, 0, grid ? g.dil_w * (g.kw - 1) : g.kw + 1);
        cn_error err;
        if (cn_conv2d_geom_init(&g, &err) == CN_OK) return g;
    }
}

/* check_case: forward and backward of g against the oracle. */
static void check_case(const cn_conv2d_geom *g, uint64_t seed, int q)
{
    const size_t nx = (size_t)g->n * g->c_in * g->h * g->w;
    const size_t nw = (size_t)g->c_out * g->cg_in * g->kh * g->kw;
    const size_t ny = (size_t)g->n * g->c_out * g->hw_out, nb = (size_t)g->c_out;
    const size_t nws = cn_conv2d_workspace_size(g);
    cn_real *x = tst_reals(nx), *w = tst_reals(nw), *b = tst_reals(nb), *dy = tst_reals(ny);
    cn_real *y = tst_reals(ny), *yr = tst_reals(ny), *dx = tst_reals(nx), *dxr = tst_reals(nx);
    cn_real *dw = tst_reals(nw), *dwr = tst_reals(nw), *db = tst_reals(nb), *dbr = tst_reals(nb);
    cn_real *dw0 = tst_reals(nw), *db0 = tst_reals(nb);
    cn_real *ws = nws ? malloc(nws * sizeof *ws) : NULL;
    cr_assert(!nws || ws);
    oracle_fill_normal(x, nx, 1.0, seed);
    oracle_fill_normal(w, nw, 1.0, seed + 1);
    oracle_fill_normal(b, nb, 1.0, seed + 2);
    oracle_fill_normal(dy, ny, 1.0, seed + 3);
    oracle_fill_normal(dw0, nw, 1.0, seed + 4);
    oracle_fill_normal(db0, nb, 1.0, seed + 5);
    for (int bias = 0; bias < 2; bias++) {
        if (ws) tst_fill_nan(ws, nws);
        tst_fill_nan(y, ny);
        cn_conv2d_forward(g, x, w, bias ? b : NULL, y, ws);
        oracle_conv2d_forward(g, x, w, bias ? b : NULL, yr);
        double e = rel_err(y, yr, ny);
        cr_assert(e <= REL_TOL, "case %d bias %d: forward rel err %.3g", q, bias, e);
    }
    if (ws) tst_fill_nan(ws, nws);
    tst_fill_nan(dx, nx);
    memcpy(dw, dw0, nw * sizeof *dw);
    memcpy(db, db0, nb * sizeof *db);
    cn_conv2d_backward(g, x, w, dy, dx, dw, db, ws);
    oracle_conv2d_backward(g, x, w, dy, dxr, dwr, dbr);
    for (size_t k = 0; k < nw; k++) dwr[k] += dw0[k];
    for (size_t k = 0; k < nb; k++) dbr[k] += db0[k];
    double ex = rel_err(dx, dxr, nx), ew = rel_err(dw, dwr, nw), eb = rel_err(db, dbr, nb);
    cr_assert(ex <= REL_TOL, "case %d: dx rel err %.3g", q, ex);
    cr_assert(ew <= REL_TOL, "case %d: dw rel err %.3g", q, ew);
    cr_assert(eb <= REL_TOL, "case %d: db rel err %.3g", q, eb);
    /* dx alone and dw alone give the same values */
    if (ws) tst_fill_nan(ws, nws);
    tst_fill_nan(dx, nx);
    cn_conv2d_backward(g, x, w, dy, dx, NULL, NULL, ws);
    cr_assert(rel_err(dx, dxr, nx) <= REL_TOL, "case %d: dx alone", q);
    memcpy(dw, dw0, nw * sizeof *dw);
    cn_conv2d_backward(g, x, w, dy, NULL, dw, NULL, ws);
    cr_assert(rel_err(dw, dwr, nw) <= REL_TOL, "case %d: dw alone", q);
    cn_real *bufs[] = {x, w, b, dy, y, yr, dx, dxr, dw, dwr, db, dbr, dw0, db0, ws};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) free(bufs[k]);
}

Test(conv2d_fast, random_shapes_match_oracle)
{
    cn_rng r;
    cn_rng_seed(&r, 2024, 11);
    for (int q = 0; q < 160; q++) {
        cn_conv2d_geom g = random_geom(&r, q);
        check_case(&g, 9000 + 10 * (uint64_t)q, q);
    }
}

/* Shapes where the grid path puts several images in one GEMM (small maps, a
 * batch larger than the slots), one whose slots need several GEMMs (summed into
 * the slot's partial weight gradient), ResNet-like layers, the 1x1 and depthwise
 * paths, a padding beyond dil * (k - 1) (the col2im fallback for dx), and more
 * than CN_CONV2D_DW_SHIFT_MAX (16) channels (the unfolded weight gradient; the
 * others take the per-tap one), and channels in multiples of 16 (the register
 * tiles, conv2d_tile.c). */
Test(conv2d_fast, chosen_shapes_match_oracle)
{
    const cn_conv2d_geom shapes[] = {
        {.n = 24, .c_in = 2, .h = 30, .w = 29, .c_out = 3, .kh = 3, .kw = 3, .stride_h = 1,
         .stride_w = 1, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1},
        {.n = 19, .c_in = 3, .h = 4, .w = 5, .c_out = 5, .kh = 3, .kw = 3, .stride_h = 1,
         .stride_w = 1, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1},
        {.n = 9, .c_in = 8, .h = 8, .w = 8, .c_out = 8, .kh = 3, .kw = 3, .stride_h = 1,
         .stride_w = 1, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1},
        {.n = 3, .c_in = 4, .h = 9, .w = 7, .c_out = 6, .kh = 3, .kw = 3, .stride_h = 1,
         .stride_w = 1, .pad_h = 3, .pad_w = 2, .dil_h = 1, .dil_w = 1, .groups = 2},
        {.n = 2, .c_in = 6, .h = 11, .w = 9, .c_out = 4, .kh = 5, .kw = 5, .stride_h = 1,
         .stride_w = 1, .pad_h = 2, .pad_w = 2, .dil_h = 1, .dil_w = 1, .groups = 1},
        {.n = 5, .c_in = 4, .h = 7, .w = 7, .c_out = 8, .kh = 1, .kw = 1, .stride_h = 1,
         .stride_w = 1, .pad_h = 0, .pad_w = 0, .dil_h = 1, .dil_w = 1, .groups = 1},
        {.n = 4, .c_in = 6, .h = 9, .w = 9, .c_out = 6, .kh = 3, .kw = 3, .stride_h = 2,
         .stride_w = 1, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 2, .groups = 6},
        {.n = 5, .c_in = 20, .h = 6, .w = 7, .c_out = 24, .kh = 3, .kw = 3, .stride_h = 1,
         .stride_w = 1, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1},
        {.n = 3, .c_in = 34, .h = 5, .w = 5, .c_out = 18, .kh = 3, .kw = 3, .stride_h = 1,
         .stride_w = 1, .pad_h = 1, .pad_w = 2, .dil_h = 1, .dil_w = 2, .groups = 2},
        /* multiples of 16 channels: the register tiles of the float build with
         * AVX-512 (16, 32 and 64 outputs a tile; columns left over) */
        {.n = 3, .c_in = 16, .h = 9, .w = 7, .c_out = 32, .kh = 3, .kw = 3, .stride_h = 1,
         .stride_w = 1, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1},
        {.n = 2, .c_in = 32, .h = 6, .w = 5, .c_out = 64, .kh = 5, .kw = 5, .stride_h = 1,
         .stride_w = 1, .pad_h = 2, .pad_w = 2, .dil_h = 1, .dil_w = 1, .groups = 1},
        {.n = 2, .c_in = 48, .h = 7, .w = 6, .c_out = 48, .kh = 3, .kw = 3, .stride_h = 1,
         .stride_w = 1, .pad_h = 2, .pad_w = 1, .dil_h = 2, .dil_w = 1, .groups = 3},
        {.n = 1, .c_in = 16, .h = 5, .w = 5, .c_out = 16, .kh = 3, .kw = 3, .stride_h = 1,
         .stride_w = 1, .pad_h = 0, .pad_w = 0, .dil_h = 1, .dil_w = 1, .groups = 1},
        /* one input channel (the grid only with tiles), and a batch of several
         * images per slot (tiles across images, weight-gradient runs summed) */
        {.n = 3, .c_in = 1, .h = 11, .w = 10, .c_out = 32, .kh = 5, .kw = 5, .stride_h = 1,
         .stride_w = 1, .pad_h = 2, .pad_w = 2, .dil_h = 1, .dil_w = 1, .groups = 1},
        {.n = 20, .c_in = 17, .h = 7, .w = 9, .c_out = 16, .kh = 3, .kw = 3, .stride_h = 1,
         .stride_w = 1, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1},
        /* strided, multiples of 16 channels: the phase grids (conv2d_phase.c):
         * ResNet's 3x3 stride-2 and 1x1 projection (im2col: one phase), odd
         * sizes, unequal strides with dilation, stride 3 with a 5x5 kernel and
         * groups, several images per slot */
        {.n = 5, .c_in = 16, .h = 9, .w = 11, .c_out = 32, .kh = 3, .kw = 3, .stride_h = 2,
         .stride_w = 2, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1},
        {.n = 4, .c_in = 32, .h = 8, .w = 7, .c_out = 64, .kh = 1, .kw = 1, .stride_h = 2,
         .stride_w = 2, .pad_h = 0, .pad_w = 0, .dil_h = 1, .dil_w = 1, .groups = 1},
        {.n = 3, .c_in = 16, .h = 10, .w = 9, .c_out = 16, .kh = 3, .kw = 2, .stride_h = 2,
         .stride_w = 3, .pad_h = 2, .pad_w = 0, .dil_h = 2, .dil_w = 1, .groups = 1},
        {.n = 2, .c_in = 32, .h = 13, .w = 12, .c_out = 32, .kh = 5, .kw = 5, .stride_h = 3,
         .stride_w = 3, .pad_h = 2, .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 2},
        {.n = 21, .c_in = 16, .h = 6, .w = 6, .c_out = 48, .kh = 3, .kw = 3, .stride_h = 2,
         .stride_w = 2, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1},
    };
    for (size_t q = 0; q < sizeof shapes / sizeof shapes[0]; q++) {
        cn_conv2d_geom g = shapes[q];
        cn_error err;
        cr_assert_eq(cn_conv2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
        check_case(&g, 500 + 10 * (uint64_t)q, (int)q);
    }
}

/* ------------------------------------------------------------------ threads */

typedef struct run_ctx {
    const cn_conv2d_geom *g;
    const cn_real *x, *w, *b, *dy;
    cn_real *ws;
} run_ctx;

static void run_once(void *ctx, cn_real *y, cn_real *dx, cn_real *dw, cn_real *db)
{
    const run_ctx *c = ctx;
    cn_conv2d_forward(c->g, c->x, c->w, c->b, y, c->ws);
    cn_conv2d_backward(c->g, c->x, c->w, c->dy, dx, dw, db, c->ws);
}

/* Random stride-1 shapes large enough to run in parallel: bit-identical for 1
 * and 2 threads. */
Test(conv2d_fast, thread_count_invariance)
{
    cn_rng r;
    cn_rng_seed(&r, 77, 3);
    for (int q = 0; q < 6; q++) {
        cn_conv2d_geom g = {.n = pick(&r, 2, 13), .c_in = pick(&r, 4, 12), .h = pick(&r, 6, 14),
                            .w = pick(&r, 6, 14), .c_out = pick(&r, 8, 16), .kh = 3, .kw = 3,
                            .stride_h = 1, .stride_w = 1, .pad_h = pick(&r, 0, 2),
                            .pad_w = pick(&r, 0, 2), .dil_h = 1, .dil_w = pick(&r, 1, 2),
                            .groups = 1};
        cn_error err;
        cr_assert_eq(cn_conv2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
        const size_t nx = (size_t)g.n * g.c_in * g.h * g.w, nw = (size_t)g.c_out * g.kdim;
        const size_t ny = (size_t)g.n * g.c_out * g.hw_out, nws = cn_conv2d_workspace_size(&g);
        cn_real *x = tst_reals(nx), *w = tst_reals(nw), *b = tst_reals((size_t)g.c_out);
        cn_real *dy = tst_reals(ny), *ws = tst_reals(nws);
        oracle_fill_normal(x, nx, 1.0, 40 + (uint64_t)q);
        oracle_fill_normal(w, nw, 1.0, 50 + (uint64_t)q);
        oracle_fill_normal(b, (size_t)g.c_out, 1.0, 60 + (uint64_t)q);
        oracle_fill_normal(dy, ny, 1.0, 70 + (uint64_t)q);
        run_ctx c = {&g, x, w, b, dy, ws};
        oracle_thread_invariance(run_once, &c, (size_t)q, ny, nx, nw, (size_t)g.c_out);
        free(x);
        free(w);
        free(b);
        free(dy);
        free(ws);
    }
}
