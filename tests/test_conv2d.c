/* test_conv2d.c: the 2-D convolution kernels: geometry validation and output
 * sizes, the exact workspace, im2col / col2im as an adjoint pair, forward and
 * backward against the naive 7-loop oracle (tests/conv_oracle.h) on awkward
 * shapes, finite-difference gradient checks of dx, dw and db through the public
 * cn_gradcheck, the dx-overwritten / dw-db-accumulated convention, results
 * bit-identical for 1 and 2 threads, and parity with PyTorch fixtures
 * (tests/fixtures/conv2d.safetensors from tools/fixtures/conv2d.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_nd_oracle.h"
#include "convnet.h"
#include "support.h"

#ifdef CN_DOUBLE
#define ORACLE_TOL 1e-12 /* double sums of <= 100 O(1) products */
#define GC_H 1e-3        /* L is linear in each argument: only rounding matters */
#define GC_TOL 1e-7      /* the course's bound for the double build */
#else
#define ORACLE_TOL 2e-5  /* float sums of <= 100 O(1) products, ~ 100 ulp of O(5) */
#define GC_H 5e-2
#define GC_TOL 1e-3      /* float rounding of L over a 0.1 step (seen: 4e-5) */
#endif

/* ------------------------------------------------------------------ helpers */

/* A convolution problem: geometry and every buffer, malloc'd to the exact size
 * so ASan sees any overrun (the workspace included). */
typedef struct prob {
    cn_conv2d_geom g;
    size_t nx, nw, ny, nws;
    cn_real *x, *w, *b, *y, *dy, *ws;
} prob;

static cn_conv2d_geom geom(int n, int c_in, int h, int w, int c_out, int kh, int kw, int s,
                           int p, int d, int groups)
{
    cn_conv2d_geom g = {.n = n, .c_in = c_in, .h = h, .w = w, .c_out = c_out, .kh = kh,
                        .kw = kw, .stride_h = s, .stride_w = s, .pad_h = p, .pad_w = p,
                        .dil_h = d, .dil_w = d, .groups = groups};
    return g;
}

static prob prob_new(cn_conv2d_geom g, uint64_t seed)
{
    prob P = {.g = g};
    cn_error err;
    cr_assert_eq(cn_conv2d_geom_init(&P.g, &err), CN_OK, "%s", err.msg);
    P.nx = (size_t)g.n * g.c_in * g.h * g.w;
    P.nw = (size_t)g.c_out * (g.c_in / g.groups) * g.kh * g.kw;
    P.ny = (size_t)g.n * g.c_out * P.g.h_out * P.g.w_out;
    P.nws = cn_conv2d_workspace_size(&P.g);
    P.x = tst_reals(P.nx);
    P.w = tst_reals(P.nw);
    P.b = tst_reals((size_t)g.c_out);
    P.y = tst_reals(P.ny);
    P.dy = tst_reals(P.ny);
    P.ws = P.nws ? malloc(P.nws * sizeof(cn_real)) : NULL;
    cr_assert(P.nws == 0 || P.ws);
    oracle_fill_normal(P.x, P.nx, 1.0, seed);
    oracle_fill_normal(P.w, P.nw, 0.5, seed + 1);
    oracle_fill_normal(P.b, (size_t)g.c_out, 0.5, seed + 2);
    oracle_fill_normal(P.dy, P.ny, 1.0, seed + 3);
    return P;
}

static void prob_free(prob *P)
{
    free(P->x);
    free(P->w);
    free(P->b);
    free(P->y);
    free(P->dy);
    free(P->ws);
}

/* The awkward shapes every correctness test runs over. */
static const struct {
    const char *name;
    int n, c_in, h, w, c_out, kh, kw, s, p, d, groups;
} CASES[] = {
    {"3x3 pad 1", 3, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1},
    {"odd 5x5 stride 2", 1, 2, 9, 11, 3, 5, 5, 2, 2, 1, 1},
    {"stride 3 kernel 2x4", 3, 2, 10, 13, 2, 2, 4, 3, 0, 1, 1},
    {"dilation 2 pad 2", 3, 3, 8, 9, 5, 3, 3, 1, 2, 2, 1},
    {"dilation 2 stride 2", 1, 2, 11, 7, 2, 3, 2, 2, 1, 2, 1},
    {"groups 2", 3, 4, 6, 7, 6, 3, 3, 1, 1, 1, 2},
    {"groups 2 stride 2 dil 2", 1, 6, 9, 9, 4, 3, 3, 2, 1, 2, 2},
    {"depthwise", 3, 4, 7, 6, 4, 3, 3, 1, 1, 1, 4},
    {"depthwise x2 stride 2", 1, 3, 8, 9, 6, 3, 3, 2, 1, 1, 3},
    {"depthwise dil 2 stride 3", 3, 2, 10, 11, 2, 3, 3, 3, 2, 2, 2},
    {"1x1", 3, 5, 4, 6, 3, 1, 1, 1, 0, 1, 1},
    {"1x1 groups 2", 1, 4, 5, 3, 6, 1, 1, 1, 0, 1, 2},
    {"1x1 stride 2", 3, 3, 5, 5, 2, 1, 1, 2, 0, 1, 1},
    {"1x1 pad 1", 1, 2, 3, 4, 2, 1, 1, 1, 1, 1, 1},
    {"kernel == padded input", 3, 2, 3, 4, 3, 5, 6, 1, 1, 1, 1},
    {"kernel == input, stride 2", 1, 3, 4, 4, 2, 4, 4, 2, 0, 1, 1},
    {"1 channel in", 3, 1, 6, 6, 4, 3, 3, 1, 0, 1, 1},
    {"batch 11 > slots", 11, 2, 5, 4, 3, 3, 3, 1, 1, 1, 1},
};
#define NCASES (sizeof CASES / sizeof CASES[0])

static cn_conv2d_geom case_geom(size_t k)
{
    return geom(CASES[k].n, CASES[k].c_in, CASES[k].h, CASES[k].w, CASES[k].c_out, CASES[k].kh,
                CASES[k].kw, CASES[k].s, CASES[k].p, CASES[k].d, CASES[k].groups);
}

/* ------------------------------------------------------------------ geometry */

Test(conv2d, geometry_output_size_and_paths)
{
    cn_error err;
    cn_conv2d_geom g = geom(2, 3, 32, 31, 8, 3, 3, 2, 1, 1, 1);
    cr_assert_eq(cn_conv2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(g.h_out, 16);
    cr_assert_eq(g.w_out, 16);
    cr_assert_eq(g.kdim, 27);
    cr_assert_eq(g.slots, 2);
    cr_assert(!g.direct_1x1 && !g.depthwise);
    /* dilation: effective kernel 5 over 7 + 2*0 -> 3 outputs */
    g = geom(1, 1, 7, 7, 1, 3, 3, 1, 0, 2, 1);
    cr_assert_eq(cn_conv2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(g.h_out, 3);
    /* 1x1 stride 1 unpadded skips im2col; padded or strided 1x1 does not */
    g = geom(20, 4, 5, 5, 6, 1, 1, 1, 0, 3, 2);
    cr_assert_eq(cn_conv2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    cr_assert(g.direct_1x1);
    cr_assert_eq(g.slots, CN_CONV2D_SLOTS);
    cr_assert_eq(cn_conv2d_workspace_size(&g), (size_t)CN_CONV2D_SLOTS * 6 * 2);
    g = geom(1, 4, 5, 5, 6, 1, 1, 2, 0, 1, 1);
    cr_assert_eq(cn_conv2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    cr_assert(!g.direct_1x1);
    cr_assert_eq(cn_conv2d_workspace_size(&g), (size_t)(4 * 9 + 6 * 4));
    /* depthwise needs no workspace; groups == c_in == 1 is an ordinary conv */
    g = geom(4, 8, 6, 6, 16, 3, 3, 1, 1, 1, 8);
    cr_assert_eq(cn_conv2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    cr_assert(g.depthwise);
    cr_assert_eq(cn_conv2d_workspace_size(&g), 0);
    /* (6 outputs: with one input channel, 16 would take the grid in builds
     * with register tiles) */
    g = geom(1, 1, 6, 6, 6, 3, 3, 1, 1, 1, 1);
    cr_assert_eq(cn_conv2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    cr_assert(!g.depthwise);
    cr_assert_eq(cn_conv2d_workspace_size(&g), (size_t)(9 * 36 + 6 * 9));
    /* stride 1 with 2 input channels: the shared-padding grid (rows of pitch
     * 6 + 1, 7 rows an image, 6 output rows of 7 = 42 grid columns, a one-image
     * channel block of 1 * 7 + 7 * 7 + 2 = 58 reals): per slot the partial dw
     * 16*18, then the largest of the forward region (2 blocks of 58,
     * transposed output 49*16), the weight-gradient one (2 blocks of 58, im2col
     * 18*42, dy grid 16*42) and the input-gradient one (16 blocks of 58,
     * transposed output 49*2); after the slot, the rearranged kernel 16*18 */
    g = geom(1, 2, 6, 6, 16, 3, 3, 1, 1, 1, 1);
    cr_assert_eq(cn_conv2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_conv2d_workspace_size(&g),
                 (size_t)(16 * 18 + 2 * 58 + (18 + 16) * 42 + 16 * 18));
}

/* expect_error: init fails with code and a message containing part. */
static void expect_error(cn_conv2d_geom g, cn_status code, const char *part)
{
    cn_error err;
    cn_error_clear(&err);
    cr_assert_eq(cn_conv2d_geom_init(&g, &err), code, "expected %s, got %s: %s",
                 cn_status_name(code), cn_status_name(err.code), err.msg);
    cr_assert(strstr(err.msg, part), "message '%s' lacks '%s'", err.msg, part);
}

Test(conv2d, geometry_errors)
{
    expect_error(geom(1, 1, 4, 4, 1, 7, 3, 1, 1, 1, 1), CN_ERR_SHAPE,
                 "conv kernel larger than padded input along height");
    expect_error(geom(1, 1, 4, 4, 1, 3, 3, 1, 0, 2, 1), CN_ERR_SHAPE,
                 "conv kernel larger than padded input");
    expect_error(geom(0, 1, 4, 4, 1, 3, 3, 1, 0, 1, 1), CN_ERR_SHAPE, "input shape");
    expect_error(geom(1, 1, 0, 4, 1, 3, 3, 1, 0, 1, 1), CN_ERR_SHAPE, "input shape");
    expect_error(geom(1, 1, 4, 4, 0, 3, 3, 1, 0, 1, 1), CN_ERR_SHAPE, "output channels");
    expect_error(geom(1, 1, 4, 4, 1, 0, 3, 1, 0, 1, 1), CN_ERR_SHAPE, "kernel");
    expect_error(geom(1, 1, 4, 4, 1, 3, 3, 0, 0, 1, 1), CN_ERR_SHAPE, "stride");
    expect_error(geom(1, 1, 4, 4, 1, 3, 3, 1, -1, 1, 1), CN_ERR_SHAPE, "padding");
    expect_error(geom(1, 1, 4, 4, 1, 3, 3, 1, 0, 0, 1), CN_ERR_SHAPE, "dilation");
    expect_error(geom(1, 4, 4, 4, 4, 3, 3, 1, 0, 1, 0), CN_ERR_SHAPE, "groups");
    expect_error(geom(1, 4, 4, 4, 6, 3, 3, 1, 0, 1, 4), CN_ERR_SHAPE, "must divide");
    expect_error(geom(1, 6, 4, 4, 4, 3, 3, 1, 0, 1, 4), CN_ERR_SHAPE, "must divide");
    /* sizes whose buffers overflow size_t or whose GEMM dims overflow int */
    expect_error(geom(1 << 30, 1 << 30, 1 << 15, 1 << 15, 1, 1, 1, 1, 0, 1, 1), CN_ERR_RANGE,
                 "overflow");
    expect_error(geom(1, 1 << 20, 4, 4, 1, 1 << 10, 1 << 10, 1, 1 << 9, 1, 1), CN_ERR_RANGE,
                 "overflow");
    expect_error(geom(1, 1, 1 << 20, 1 << 20, 1, 1, 1, 1, 0, 1, 1), CN_ERR_RANGE, "overflow");
    /* padding so large the padded size overflows int is still handled */
    expect_error(geom(1, 1, 4, 4, 1, 3, 3, 1, 2000000000, 1, 1), CN_ERR_RANGE, "overflow");
}

/* ------------------------------------------------------------------ im2col */

/* col2im is the adjoint of im2col: <im2col(X), C> == <X, col2im(C)>. */
Test(conv2d, im2col_col2im_adjoint)
{
    for (size_t k = 0; k < NCASES; k++) {
        prob P = prob_new(case_geom(k), 100 + k);
        const cn_conv2d_geom *g = &P.g;
        const size_t nx = (size_t)g->cg_in * g->h * g->w, nc = (size_t)g->kdim * g->hw_out;
        cn_real *cols = tst_reals(nc), *C = tst_reals(nc), *xb = tst_reals(nx);
        oracle_fill_normal(C, nc, 1.0, 5);
        cn_im2col(g, P.x, cols);
        cn_col2im(g, C, xb);
        double a = 0, b = 0;
        for (size_t i = 0; i < nc; i++) a += (double)cols[i] * (double)C[i];
        for (size_t i = 0; i < nx; i++) b += (double)P.x[i] * (double)xb[i];
        cr_assert(fabs(a - b) <= ORACLE_TOL * 10 * (1 + fabs(a)), "%s: <im2col x, C> %.17g vs "
                  "<x, col2im C> %.17g", CASES[k].name, a, b);
        free(cols);
        free(C);
        free(xb);
        prob_free(&P);
    }
}

/* ------------------------------------------------------------------ oracle */

Test(conv2d, forward_backward_match_oracle)
{
    for (size_t k = 0; k < NCASES; k++) {
        prob P = prob_new(case_geom(k), 10 + 10 * k);
        const cn_conv2d_geom *g = &P.g;
        cn_real *yr = tst_reals(P.ny), *dxr = tst_reals(P.nx), *dwr = tst_reals(P.nw);
        cn_real *dbr = tst_reals((size_t)g->c_out), *dx = tst_reals(P.nx);
        cn_real *dw = calloc(P.nw, sizeof *dw), *db = calloc((size_t)g->c_out, sizeof *db);
        cr_assert(dw && db);
        for (int bias = 0; bias < 2; bias++) {
            cn_conv2d_forward(g, P.x, P.w, bias ? P.b : NULL, P.y, P.ws);
            oracle_conv2d_forward(g, P.x, P.w, bias ? P.b : NULL, yr);
            double e = oracle_max_abs_diff(P.y, yr, P.ny);
            cr_assert(e <= ORACLE_TOL, "%s (bias %d): forward max abs diff %.3g", CASES[k].name,
                      bias, e);
        }
        cn_conv2d_backward(g, P.x, P.w, P.dy, dx, dw, db, P.ws);
        oracle_conv2d_backward(g, P.x, P.w, P.dy, dxr, dwr, dbr);
        double ex = oracle_max_abs_diff(dx, dxr, P.nx);
        double ew = oracle_max_abs_diff(dw, dwr, P.nw);
        double eb = oracle_max_abs_diff(db, dbr, (size_t)g->c_out);
        /* dw and db sum over the batch and the positions: a looser bound in float */
        cr_assert(ex <= ORACLE_TOL && ew <= 10 * ORACLE_TOL && eb <= 10 * ORACLE_TOL,
                  "%s: backward max abs diff dx %.3g dw %.3g db %.3g", CASES[k].name, ex, ew, eb);
        free(yr);
        free(dxr);
        free(dwr);
        free(dbr);
        free(dx);
        free(dw);
        free(db);
        prob_free(&P);
    }
}

/* ------------------------------------------------------------------ gradcheck */

/* L(x, w, b) = sum(conv(x, w, b) * R): dL/dy = R, so backward with dy = R gives
 * the analytic gradient. The perturbed array is one of ctx's own buffers. */
typedef struct loss_ctx {
    prob *P;
    const cn_real *R; /* (n, c_out, h_out, w_out) */
} loss_ctx;

static double conv_loss(void *ctx, const cn_real *unused)
{
    (void)unused;
    loss_ctx *c = ctx;
    prob *P = c->P;
    cn_conv2d_forward(&P->g, P->x, P->w, P->b, P->y, P->ws);
    double s = 0;
    for (size_t i = 0; i < P->ny; i++) s += (double)P->y[i] * (double)c->R[i];
    return s;
}

Test(conv2d, gradcheck_dx_dw_db)
{
    static const size_t picks[] = {0, 3, 4, 6, 9, 12, 14};
    for (size_t q = 0; q < sizeof picks / sizeof picks[0]; q++) {
        const size_t k = picks[q];
        prob P = prob_new(case_geom(k), 500 + k);
        cn_real *R = P.dy; /* fixed random R = dL/dy */
        cn_real *dx = tst_reals(P.nx);
        cn_real *dw = calloc(P.nw, sizeof *dw), *db = calloc((size_t)P.g.c_out, sizeof *db);
        cr_assert(dw && db);
        cn_conv2d_backward(&P.g, P.x, P.w, R, dx, dw, db, P.ws);
        loss_ctx c = {&P, R};
        oracle_gradcheck(conv_loss, &c, "dx", CASES[k].name, P.x, P.nx, dx, GC_H, GC_TOL);
        oracle_gradcheck(conv_loss, &c, "dw", CASES[k].name, P.w, P.nw, dw, GC_H, GC_TOL);
        oracle_gradcheck(conv_loss, &c, "db", CASES[k].name, P.b, (size_t)P.g.c_out, db, GC_H,
                         GC_TOL);
        free(dx);
        free(dw);
        free(db);
        prob_free(&P);
    }
}

/* ------------------------------------------------------------------ conventions */

/* dx is overwritten (stale contents ignored), dw and db accumulate: two calls on
 * dw0 give exactly (dw0 + g) + g, and NULL outputs are skipped. */
Test(conv2d, dx_overwritten_dw_db_accumulated)
{
    static const size_t picks[] = {0, 7, 10};
    for (size_t q = 0; q < sizeof picks / sizeof picks[0]; q++) {
        prob P = prob_new(case_geom(picks[q]), 900 + q);
        const size_t nb = (size_t)P.g.c_out;
        cn_real *dx1 = tst_reals(P.nx), *dx2 = tst_reals(P.nx);
        cn_real *g_w = calloc(P.nw, sizeof(cn_real)), *g_b = calloc(nb, sizeof(cn_real));
        cn_real *dw = tst_reals(P.nw), *db = tst_reals(nb);
        cr_assert(g_w && g_b);
        cn_conv2d_backward(&P.g, P.x, P.w, P.dy, dx1, g_w, g_b, P.ws);
        oracle_fill_normal(dw, P.nw, 1.0, 77);
        oracle_fill_normal(db, nb, 1.0, 78);
        cn_real *ew = tst_reals(P.nw), *eb = tst_reals(nb);
        for (size_t i = 0; i < P.nw; i++) ew[i] = (dw[i] + g_w[i]) + g_w[i];
        for (size_t i = 0; i < nb; i++) eb[i] = (db[i] + g_b[i]) + g_b[i];
        for (size_t i = 0; i < P.nx; i++) dx2[i] = (cn_real)NAN;
        cn_conv2d_backward(&P.g, P.x, P.w, P.dy, dx2, dw, db, P.ws);
        cn_conv2d_backward(&P.g, P.x, P.w, P.dy, NULL, dw, db, P.ws);
        cr_assert(memcmp(dx1, dx2, P.nx * sizeof *dx1) == 0, "%s: dx not overwritten",
                  CASES[picks[q]].name);
        cr_assert(memcmp(dw, ew, P.nw * sizeof *dw) == 0, "%s: dw not accumulated",
                  CASES[picks[q]].name);
        cr_assert(memcmp(db, eb, nb * sizeof *db) == 0, "%s: db not accumulated",
                  CASES[picks[q]].name);
        /* dx only: nothing else touched */
        cn_real *dx3 = tst_reals(P.nx);
        cn_conv2d_backward(&P.g, P.x, P.w, P.dy, dx3, NULL, NULL, P.ws);
        cr_assert(memcmp(dx1, dx3, P.nx * sizeof *dx1) == 0);
        free(dx1);
        free(dx2);
        free(dx3);
        free(g_w);
        free(g_b);
        free(dw);
        free(db);
        free(ew);
        free(eb);
        prob_free(&P);
    }
}

/* run_once: forward and backward of the problem ctx (a prob) into the given
 * outputs (oracle_run_fn). */
static void run_once(void *ctx, cn_real *y, cn_real *dx, cn_real *dw, cn_real *db)
{
    prob *P = ctx;
    cn_conv2d_forward(&P->g, P->x, P->w, P->b, y, P->ws);
    cn_conv2d_backward(&P->g, P->x, P->w, P->dy, dx, dw, db, P->ws);
}

/* Every output and gradient is bit-identical with 1 and 2 threads. The shapes
 * are large enough to pass the kernels' threshold for going parallel: the GEMM
 * path with more images than slots, a grouped strided one, depthwise and 1x1. */
Test(conv2d, thread_count_invariance)
{
    const cn_conv2d_geom shapes[] = {
        geom(11, 8, 12, 12, 16, 3, 3, 1, 1, 1, 1),
        geom(3, 8, 15, 13, 12, 3, 3, 2, 1, 2, 2),
        geom(4, 16, 16, 16, 32, 3, 3, 1, 1, 1, 16),
        geom(9, 16, 8, 8, 16, 1, 1, 1, 0, 1, 1),
    };
    for (size_t q = 0; q < sizeof shapes / sizeof shapes[0]; q++) {
        prob P = prob_new(shapes[q], 1300 + q);
        oracle_thread_invariance(run_once, &P, q, P.ny, P.nx, P.nw, (size_t)P.g.c_out);
        prob_free(&P);
    }
}

/* ------------------------------------------------------------------ PyTorch parity */

#define CONV_FIXTURE "tests/fixtures/conv2d.safetensors"

/* Parity tolerance on max |convnet - PyTorch|. Double: the float64 fixtures are
 * reproduced up to the summation order of <= 105 products of O(1) values (about
 * 1e-14; observed <= 6e-15), so 1e-11 leaves room and still catches any wrong
 * term. Float: inputs rounded to float (relative 6e-8) and float sums of <= 105
 * terms with magnitudes up to ~10 (dw sums over the batch too): observed <= 4e-6,
 * bound 1e-4, far below the O(0.1) error of any indexing mistake. */
#ifdef CN_DOUBLE
#define PARITY_TOL 1e-11
#else
#define PARITY_TOL 1e-4
#endif

Test(conv2d, pytorch_parity)
{
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(CONV_FIXTURE, &st, &err), CN_OK, "%s", err.msg);
    const char *nc = cn_safetensors_meta(st, "configs");
    cr_assert(nc, "fixture lacks the configs metadata");
    const int count = atoi(nc);
    cr_assert(count >= 1);
    for (int i = 0; i < count; i++) {
        char name[64];
        snprintf(name, sizeof name, "c%d.geom", i);
        cn_tensor *gt = tst_fx_tensor(st, name, 15);
        const cn_real *v = gt->data;
        cn_conv2d_geom g = {.n = (int)v[0], .c_in = (int)v[1], .h = (int)v[2], .w = (int)v[3],
                            .c_out = (int)v[4], .kh = (int)v[5], .kw = (int)v[6],
                            .stride_h = (int)v[7], .stride_w = (int)v[8], .pad_h = (int)v[9],
                            .pad_w = (int)v[10], .dil_h = (int)v[11], .dil_w = (int)v[12],
                            .groups = (int)v[13]};
        const int bias = v[14] != 0;
        cr_assert_eq(cn_conv2d_geom_init(&g, &err), CN_OK, "config %d: %s", i, err.msg);
        const size_t nx = (size_t)g.n * g.c_in * g.h * g.w;
        const size_t nw = (size_t)g.c_out * g.cg_in * g.kh * g.kw;
        const size_t ny = (size_t)g.n * g.c_out * g.hw_out, nb = (size_t)g.c_out;
#define GET(var, key, count)                                                                  \
    snprintf(name, sizeof name, "c%d." key, i);                                                \
    cn_tensor *var = tst_fx_tensor(st, name, count)
        GET(x, "x", nx);
        GET(w, "w", nw);
        GET(y_ref, "y", ny);
        GET(dy, "dy", ny);
        GET(dx_ref, "dx", nx);
        GET(dw_ref, "dw", nw);
        cn_tensor *b = NULL, *db_ref = NULL;
        if (bias) {
            GET(bt, "b", nb);
            GET(dbt, "db", nb);
            b = bt;
            db_ref = dbt;
        }
#undef GET
        const size_t nws = cn_conv2d_workspace_size(&g);
        cn_real *ws = nws ? malloc(nws * sizeof *ws) : NULL;
        cn_real *y = tst_reals(ny), *dx = tst_reals(nx);
        cn_real *dw = calloc(nw, sizeof *dw), *db = calloc(nb, sizeof *db);
        cr_assert((ws || !nws) && dw && db);
        cn_conv2d_forward(&g, x->data, w->data, b ? b->data : NULL, y, ws);
        cn_conv2d_backward(&g, x->data, w->data, dy->data, dx, dw, bias ? db : NULL, ws);
        const double ey = oracle_max_abs_diff(y, y_ref->data, ny);
        const double ex = oracle_max_abs_diff(dx, dx_ref->data, nx);
        const double ew = oracle_max_abs_diff(dw, dw_ref->data, nw);
        const double eb = bias ? oracle_max_abs_diff(db, db_ref->data, nb) : 0.0;
        cr_log_info("conv2d parity config %d (groups %d, %dx%d kernel): max abs diff y %.3g "
                    "dx %.3g dw %.3g db %.3g",
                    i, g.groups, g.kh, g.kw, ey, ex, ew, eb);
        cr_assert(ey <= PARITY_TOL && ex <= PARITY_TOL && ew <= PARITY_TOL && eb <= PARITY_TOL,
                  "config %d: max abs diff y %.3g dx %.3g dw %.3g db %.3g", i, ey, ex, ew, eb);
        free(ws);
        free(y);
        free(dx);
        free(dw);
        free(db);
        cn_tensor_free(gt);
        cn_tensor_free(x);
        cn_tensor_free(w);
        cn_tensor_free(y_ref);
        cn_tensor_free(dy);
        cn_tensor_free(dx_ref);
        cn_tensor_free(dw_ref);
        cn_tensor_free(b);
        cn_tensor_free(db_ref);
    }
    cn_safetensors_free(st);
}
