/* test_conv3d.c: the 3-D convolution kernels: geometry validation and output
 * sizes, the exact workspace, vol2col / col2vol as an adjoint pair, forward and
 * backward against the naive 9-loop oracle (tests/conv_nd_oracle.h) on awkward
 * shapes, finite-difference gradient checks of dx, dw and db through the public
 * cn_gradcheck, the dx-overwritten / dw-db-accumulated convention, results
 * bit-identical for 1 and 2 threads, and parity with PyTorch fixtures
 * (tests/fixtures/conv3d/parity.safetensors from tools/fixtures/conv3d.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_nd_oracle.h"
#include "convnet.h"
#include "convnet/conv_nd.h"
#include "support.h"

#ifdef CN_DOUBLE
#define ORACLE_TOL 1e-12 /* double sums of <= 300 O(1) products */
#define GC_H 1e-3        /* L is linear in each argument: only rounding matters */
#define GC_TOL 1e-7      /* the course's bound for the double build */
#else
#define ORACLE_TOL 5e-5  /* float sums of <= 300 O(1) products, ~ 100 ulp of O(10) */
#define GC_H 5e-2
#define GC_TOL 1e-3      /* float rounding of L over a 0.1 step */
#endif

/* ------------------------------------------------------------------ helpers */

/* A convolution problem: geometry and every buffer, malloc'd to the exact size
 * so ASan sees any overrun (the workspace included). */
typedef struct prob {
    cn_conv3d_geom g;
    size_t nx, nw, ny, nws;
    cn_real *x, *w, *b, *y, *dy, *ws;
} prob;

/* geom: a geometry from sizes, kernel k[3], stride s[3], padding p[3] and
 * dilation dl[3], each (depth, height, width). */
static cn_conv3d_geom geom(int n, int c_in, int d, int h, int w, int c_out, const int k[3],
                           const int s[3], const int p[3], const int dl[3], int groups)
{
    cn_conv3d_geom g = {.n = n, .c_in = c_in, .d = d, .h = h, .w = w, .c_out = c_out,
                        .kd = k[0], .kh = k[1], .kw = k[2], .stride_d = s[0], .stride_h = s[1],
                        .stride_w = s[2], .pad_d = p[0], .pad_h = p[1], .pad_w = p[2],
                        .dil_d = dl[0], .dil_h = dl[1], .dil_w = dl[2], .groups = groups};
    return g;
}

/* geom_u: geom with the same kernel, stride, padding and dilation on every axis. */
static cn_conv3d_geom geom_u(int n, int c_in, int d, int h, int w, int c_out, int k, int s,
                             int p, int dl, int groups)
{
    const int K[3] = {k, k, k}, S[3] = {s, s, s}, P[3] = {p, p, p}, D[3] = {dl, dl, dl};
    return geom(n, c_in, d, h, w, c_out, K, S, P, D, groups);
}

static prob prob_new(cn_conv3d_geom g, uint64_t seed)
{
    prob P = {.g = g};
    cn_error err;
    cr_assert_eq(cn_conv3d_geom_init(&P.g, &err), CN_OK, "%s", err.msg);
    P.nx = (size_t)g.n * g.c_in * g.d * g.h * g.w;
    P.nw = (size_t)g.c_out * (g.c_in / g.groups) * g.kd * g.kh * g.kw;
    P.ny = (size_t)g.n * g.c_out * P.g.out_sp;
    P.nws = cn_conv3d_workspace_size(&P.g);
    P.x = tst_reals(P.nx);
    P.w = tst_reals(P.nw);
    P.b = tst_reals((size_t)g.c_out);
    P.y = tst_reals(P.ny);
    P.dy = tst_reals(P.ny);
    P.ws = tst_reals(P.nws);
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

/* The awkward shapes every correctness test runs over: (depth, height, width)
 * triples for kernel, stride, padding and dilation. */
static const struct {
    const char *name;
    int n, c_in, d, h, w, c_out;
    int k[3], s[3], p[3], dl[3];
    int groups;
} CASES[] = {
    {"3x3x3 pad 1", 3, 2, 4, 5, 6, 3, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1},
    {"stride 2 non-cubic", 1, 2, 7, 6, 9, 3, {3, 2, 3}, {2, 1, 2}, {1, 0, 1}, {1, 1, 1}, 1},
    {"dilation 2", 2, 2, 6, 7, 5, 2, {2, 3, 2}, {1, 1, 1}, {1, 2, 1}, {2, 2, 2}, 1},
    {"groups 2 stride 2 dil 2", 2, 4, 7, 7, 6, 6, {3, 3, 2}, {2, 2, 1}, {1, 1, 0}, {2, 1, 2}, 2},
    {"depthwise", 2, 3, 5, 4, 6, 3, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 3},
    {"depthwise x2 stride 3", 1, 2, 7, 8, 7, 4, {2, 3, 3}, {3, 2, 3}, {0, 1, 2}, {1, 1, 1}, 2},
    {"1x1x1", 3, 4, 3, 4, 5, 3, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 1},
    {"1x1x1 stride 2", 1, 3, 5, 5, 4, 2, {1, 1, 1}, {2, 2, 2}, {0, 0, 0}, {1, 1, 1}, 1},
    {"kernel == padded input", 2, 2, 3, 2, 4, 2, {5, 4, 6}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1},
    {"batch 10 > slots", 10, 2, 4, 4, 3, 3, {3, 3, 2}, {1, 1, 1}, {1, 1, 0}, {1, 1, 1}, 1},
};
#define NCASES (sizeof CASES / sizeof CASES[0])

static cn_conv3d_geom case_geom(size_t k)
{
    return geom(CASES[k].n, CASES[k].c_in, CASES[k].d, CASES[k].h, CASES[k].w, CASES[k].c_out,
                CASES[k].k, CASES[k].s, CASES[k].p, CASES[k].dl, CASES[k].groups);
}

/* ------------------------------------------------------------------ geometry */

Test(conv3d, geometry_output_size_and_workspace)
{
    cn_error err;
    const int k[3] = {3, 3, 5}, s[3] = {2, 1, 2}, p[3] = {1, 0, 2}, dl[3] = {1, 2, 1};
    cn_conv3d_geom g = geom(2, 4, 8, 9, 10, 6, k, s, p, dl, 2);
    cr_assert_eq(cn_conv3d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(g.d_out, 4); /* (8 + 2 - 3) / 2 + 1 */
    cr_assert_eq(g.h_out, 5); /* (9 - 5) / 1 + 1 */
    cr_assert_eq(g.w_out, 5); /* (10 + 4 - 5) / 2 + 1 */
    cr_assert_eq(g.cg_in, 2);
    cr_assert_eq(g.cg_out, 3);
    cr_assert_eq(g.kdim, 2 * 3 * 3 * 5);
    cr_assert_eq(g.out_sp, 4 * 5 * 5);
    cr_assert_eq(g.slots, 2);
    cr_assert(!g.direct_1x1);
    cr_assert_eq(cn_conv3d_workspace_size(&g), (size_t)2 * (90 * 100 + 6 * 90));
    /* 1x1x1 stride 1 unpadded skips vol2col: only the partial dw per slot */
    g = geom_u(20, 4, 3, 3, 3, 6, 1, 1, 0, 3, 2);
    cr_assert_eq(cn_conv3d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    cr_assert(g.direct_1x1);
    cr_assert_eq(g.slots, CN_CONV2D_SLOTS);
    cr_assert_eq(cn_conv3d_workspace_size(&g), (size_t)CN_CONV2D_SLOTS * 6 * 2);
}

/* expect_error: init fails with code and a message containing part. */
static void expect_error(cn_conv3d_geom g, cn_status code, const char *part)
{
    cn_error err;
    cn_error_clear(&err);
    cr_assert_eq(cn_conv3d_geom_init(&g, &err), code, "expected %s, got %s: %s",
                 cn_status_name(code), cn_status_name(err.code), err.msg);
    cr_assert(strstr(err.msg, part), "message '%s' lacks '%s'", err.msg, part);
    cr_assert(strstr(err.msg, "conv3d"), "message '%s' does not name conv3d", err.msg);
}

Test(conv3d, geometry_errors)
{
    const int k[3] = {3, 3, 7}, s1[3] = {1, 1, 1}, p1[3] = {1, 1, 1}, d1[3] = {1, 1, 1};
    expect_error(geom(1, 1, 4, 4, 4, 1, k, s1, p1, d1, 1), CN_ERR_SHAPE,
                 "conv kernel larger than padded input along width");
    const int kd[3] = {4, 1, 1}, p0[3] = {0, 0, 0}, d2[3] = {2, 1, 1};
    expect_error(geom(1, 1, 6, 4, 4, 1, kd, s1, p0, d2, 1), CN_ERR_SHAPE,
                 "conv kernel larger than padded input along depth");
    expect_error(geom_u(0, 1, 4, 4, 4, 1, 3, 1, 0, 1, 1), CN_ERR_SHAPE, "input shape");
    expect_error(geom_u(1, 1, 0, 4, 4, 1, 3, 1, 0, 1, 1), CN_ERR_SHAPE, "input shape");
    expect_error(geom_u(1, 1, 4, 4, 4, 0, 3, 1, 0, 1, 1), CN_ERR_SHAPE, "output channels");
    expect_error(geom_u(1, 1, 4, 4, 4, 1, 0, 1, 0, 1, 1), CN_ERR_SHAPE, "kernel");
    expect_error(geom_u(1, 1, 4, 4, 4, 1, 3, 0, 0, 1, 1), CN_ERR_SHAPE, "stride");
    expect_error(geom_u(1, 1, 4, 4, 4, 1, 3, 1, -1, 1, 1), CN_ERR_SHAPE, "padding");
    expect_error(geom_u(1, 1, 4, 4, 4, 1, 3, 1, 0, 0, 1), CN_ERR_SHAPE, "dilation");
    expect_error(geom_u(1, 4, 4, 4, 4, 4, 3, 1, 0, 1, 0), CN_ERR_SHAPE, "groups");
    expect_error(geom_u(1, 4, 4, 4, 4, 6, 3, 1, 0, 1, 4), CN_ERR_SHAPE, "must divide");
    expect_error(geom_u(1, 6, 4, 4, 4, 4, 3, 1, 0, 1, 4), CN_ERR_SHAPE, "must divide");
    /* sizes whose buffers overflow size_t or whose GEMM dimensions overflow int */
    expect_error(geom_u(1 << 30, 1 << 30, 1 << 10, 1 << 10, 1 << 10, 1, 1, 1, 0, 1, 1),
                 CN_ERR_RANGE, "overflow");
    expect_error(geom_u(1, 1 << 20, 2, 2, 2, 1, 1 << 5, 1, 1 << 4, 1, 1), CN_ERR_RANGE,
                 "overflow");
    expect_error(geom_u(1, 1, 1 << 11, 1 << 11, 1 << 11, 1, 1, 1, 0, 1, 1), CN_ERR_RANGE,
                 "overflow");
    expect_error(geom_u(1, 1, 4, 4, 4, 1, 3, 1, 2000000000, 1, 1), CN_ERR_RANGE, "overflow");
    cn_error err;
    cr_assert_eq(cn_conv3d_geom_init(NULL, &err), CN_ERR_ARG);
}

/* ------------------------------------------------------------------ vol2col */

/* col2vol is the adjoint of vol2col: <vol2col(X), C> == <X, col2vol(C)>. */
Test(conv3d, vol2col_col2vol_adjoint)
{
    for (size_t k = 0; k < NCASES; k++) {
        prob P = prob_new(case_geom(k), 100 + k);
        const cn_conv3d_geom *g = &P.g;
        const size_t nx = (size_t)g->cg_in * g->d * g->h * g->w;
        const size_t nc = (size_t)g->kdim * g->out_sp;
        cn_real *cols = tst_reals(nc), *C = tst_reals(nc), *xb = tst_reals(nx);
        oracle_fill_normal(C, nc, 1.0, 5);
        cn_vol2col(g, P.x, cols);
        cn_col2vol(g, C, xb);
        double a = 0, b = 0;
        for (size_t i = 0; i < nc; i++) a += (double)cols[i] * (double)C[i];
        for (size_t i = 0; i < nx; i++) b += (double)P.x[i] * (double)xb[i];
        cr_assert(fabs(a - b) <= ORACLE_TOL * 10 * (1 + fabs(a)),
                  "%s: <vol2col x, C> %.17g vs <x, col2vol C> %.17g", CASES[k].name, a, b);
        free(cols);
        free(C);
        free(xb);
        prob_free(&P);
    }
}

/* ------------------------------------------------------------------ oracle */

Test(conv3d, forward_backward_match_oracle)
{
    for (size_t k = 0; k < NCASES; k++) {
        prob P = prob_new(case_geom(k), 10 + 10 * k);
        const cn_conv3d_geom *g = &P.g;
        cn_real *yr = tst_reals(P.ny), *dxr = tst_reals(P.nx), *dwr = tst_reals(P.nw);
        cn_real *dbr = tst_reals((size_t)g->c_out), *dx = tst_reals(P.nx);
        cn_real *dw = tst_zeros(P.nw), *db = tst_zeros((size_t)g->c_out);
        for (int bias = 0; bias < 2; bias++) {
            cn_conv3d_forward(g, P.x, P.w, bias ? P.b : NULL, P.y, P.ws);
            oracle_conv3d_forward(g, P.x, P.w, bias ? P.b : NULL, yr);
            double e = oracle_max_abs_diff(P.y, yr, P.ny);
            cr_assert(e <= ORACLE_TOL, "%s (bias %d): forward max abs diff %.3g", CASES[k].name,
                      bias, e);
        }
        cn_conv3d_backward(g, P.x, P.w, P.dy, dx, dw, db, P.ws);
        oracle_conv3d_backward(g, P.x, P.w, P.dy, dxr, dwr, dbr);
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

/* L(x, w, b) = sum(conv3d(x, w, b) * R): dL/dy = R, so backward with dy = R
 * gives the analytic gradient. The perturbed array is one of P's own buffers. */
typedef struct loss_ctx {
    prob *P;
    const cn_real *R; /* (n, c_out, d_out, h_out, w_out) */
} loss_ctx;

static double conv_loss(void *ctx, const cn_real *unused)
{
    (void)unused;
    loss_ctx *c = ctx;
    prob *P = c->P;
    cn_conv3d_forward(&P->g, P->x, P->w, P->b, P->y, P->ws);
    double s = 0;
    for (size_t i = 0; i < P->ny; i++) s += (double)P->y[i] * (double)c->R[i];
    return s;
}

Test(conv3d, gradcheck_dx_dw_db)
{
    static const size_t picks[] = {0, 1, 3, 5, 6, 8};
    for (size_t q = 0; q < sizeof picks / sizeof picks[0]; q++) {
        const size_t k = picks[q];
        prob P = prob_new(case_geom(k), 500 + k);
        cn_real *R = P.dy; /* fixed random R = dL/dy */
        cn_real *dx = tst_reals(P.nx);
        cn_real *dw = tst_zeros(P.nw), *db = tst_zeros((size_t)P.g.c_out);
        cn_conv3d_backward(&P.g, P.x, P.w, R, dx, dw, db, P.ws);
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
Test(conv3d, dx_overwritten_dw_db_accumulated)
{
    static const size_t picks[] = {0, 4, 6};
    for (size_t q = 0; q < sizeof picks / sizeof picks[0]; q++) {
        prob P = prob_new(case_geom(picks[q]), 900 + q);
        const size_t nb = (size_t)P.g.c_out;
        cn_real *dx1 = tst_reals(P.nx), *dx2 = tst_reals(P.nx), *dx3 = tst_reals(P.nx);
        cn_real *g_w = tst_zeros(P.nw), *g_b = tst_zeros(nb);
        cn_real *dw = tst_reals(P.nw), *db = tst_reals(nb);
        cn_real *ew = tst_reals(P.nw), *eb = tst_reals(nb);
        cn_conv3d_backward(&P.g, P.x, P.w, P.dy, dx1, g_w, g_b, P.ws);
        oracle_fill_normal(dw, P.nw, 1.0, 77);
        oracle_fill_normal(db, nb, 1.0, 78);
        for (size_t i = 0; i < P.nw; i++) ew[i] = (dw[i] + g_w[i]) + g_w[i];
        for (size_t i = 0; i < nb; i++) eb[i] = (db[i] + g_b[i]) + g_b[i];
        tst_fill_nan(dx2, P.nx);
        cn_conv3d_backward(&P.g, P.x, P.w, P.dy, dx2, dw, db, P.ws);
        cn_conv3d_backward(&P.g, P.x, P.w, P.dy, NULL, dw, db, P.ws);
        cr_assert(memcmp(dx1, dx2, P.nx * sizeof *dx1) == 0, "%s: dx not overwritten",
                  CASES[picks[q]].name);
        cr_assert(memcmp(dw, ew, P.nw * sizeof *dw) == 0, "%s: dw not accumulated",
                  CASES[picks[q]].name);
        cr_assert(memcmp(db, eb, nb * sizeof *db) == 0, "%s: db not accumulated",
                  CASES[picks[q]].name);
        /* dx only: nothing else touched; all NULL: a no-op */
        cn_conv3d_backward(&P.g, P.x, P.w, P.dy, dx3, NULL, NULL, P.ws);
        cr_assert(memcmp(dx1, dx3, P.nx * sizeof *dx1) == 0);
        cn_conv3d_backward(&P.g, P.x, P.w, P.dy, NULL, NULL, NULL, P.ws);
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
    cn_conv3d_forward(&P->g, P->x, P->w, P->b, y, P->ws);
    cn_conv3d_backward(&P->g, P->x, P->w, P->dy, dx, dw, db, P->ws);
}

/* Every output and gradient is bit-identical with 1 and 2 threads. The shapes
 * are large enough to pass the kernels' threshold for going parallel: more
 * images than slots, a grouped strided dilated one, 1x1x1, and batch 1. */
Test(conv3d, thread_count_invariance)
{
    const int k[3] = {3, 3, 2}, s[3] = {2, 1, 2}, p[3] = {1, 2, 0}, dl[3] = {1, 2, 1};
    const cn_conv3d_geom shapes[] = {
        geom_u(11, 4, 6, 6, 6, 8, 3, 1, 1, 1, 1),
        geom(3, 6, 8, 7, 9, 4, k, s, p, dl, 2),
        geom_u(9, 8, 4, 5, 6, 8, 1, 1, 0, 1, 1),
        /* one image: one slot, its GEMMs split across the threads instead */
        geom_u(1, 16, 8, 8, 8, 32, 3, 1, 1, 1, 1),
    };
    for (size_t q = 0; q < sizeof shapes / sizeof shapes[0]; q++) {
        prob P = prob_new(shapes[q], 1300 + q);
        oracle_thread_invariance(run_once, &P, q, P.ny, P.nx, P.nw, (size_t)P.g.c_out);
        prob_free(&P);
    }
}

/* ------------------------------------------------------------------ PyTorch parity */

#define CONV3D_FIXTURE "tests/fixtures/conv3d/parity.safetensors"

/* Parity tolerance on max |convnet - PyTorch|. Double: float64 fixtures are
 * reproduced up to the summation order of <= ~150 products of O(1) values
 * (about 1e-14), so 1e-11 leaves room and still catches any wrong term. Float:
 * inputs rounded to float and float sums with magnitudes up to ~20 (dw sums over
 * the batch too): a few 1e-6, bound 1e-4, far below the O(0.1) error of any
 * indexing mistake. */
#ifdef CN_DOUBLE
#define PARITY_TOL 1e-11
#else
#define PARITY_TOL 1e-4
#endif

Test(conv3d, pytorch_parity)
{
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(CONV3D_FIXTURE, &st, &err), CN_OK, "%s", err.msg);
    const int count = (int)tst_fx_meta_num(st, "configs");
    cr_assert(count >= 1);
    for (int i = 0; i < count; i++) {
        char name[64];
        snprintf(name, sizeof name, "c%d.geom", i);
        cn_tensor *gt = tst_fx_tensor(st, name, 20);
        const cn_real *v = gt->data;
        int f[20];
        for (int j = 0; j < 20; j++) f[j] = (int)v[j];
        cn_conv3d_geom g = geom(f[0], f[1], f[2], f[3], f[4], f[5], f + 6, f + 9, f + 12,
                                f + 15, f[18]);
        const int bias = f[19] != 0;
        cr_assert_eq(cn_conv3d_geom_init(&g, &err), CN_OK, "config %d: %s", i, err.msg);
        const size_t nx = (size_t)g.n * g.c_in * g.d * g.h * g.w;
        const size_t nw = (size_t)g.c_out * g.kdim;
        const size_t ny = (size_t)g.n * g.c_out * g.out_sp, nb = (size_t)g.c_out;
#define GET(var, key, numel)                                                                  \
    snprintf(name, sizeof name, "c%d." key, i);                                                \
    cn_tensor *var = tst_fx_tensor(st, name, numel)
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
        cn_real *ws = tst_reals(cn_conv3d_workspace_size(&g));
        cn_real *y = tst_reals(ny), *dx = tst_reals(nx), *dw = tst_zeros(nw), *db = tst_zeros(nb);
        cn_conv3d_forward(&g, x->data, w->data, b ? b->data : NULL, y, ws);
        cn_conv3d_backward(&g, x->data, w->data, dy->data, dx, dw, bias ? db : NULL, ws);
        const double ey = oracle_max_abs_diff(y, y_ref->data, ny);
        const double ex = oracle_max_abs_diff(dx, dx_ref->data, nx);
        const double ew = oracle_max_abs_diff(dw, dw_ref->data, nw);
        const double eb = bias ? oracle_max_abs_diff(db, db_ref->data, nb) : 0.0;
        cr_log_info("conv3d parity config %d (groups %d, %dx%dx%d kernel): max abs diff y %.3g "
                    "dx %.3g dw %.3g db %.3g",
                    i, g.groups, g.kd, g.kh, g.kw, ey, ex, ew, eb);
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
