/* test_conv_transpose2d.c: the transposed 2-D convolution kernels: geometry
 * validation with PyTorch's rules and output sizes, the exact workspace, forward
 * and backward against the naive 7-loop oracle (tests/conv_nd_oracle.h) on
 * awkward shapes (output padding, dilation, groups, depthwise, 1x1, heavy
 * cropping), forward as the adjoint of its own dx and as the input gradient of
 * the matching cn_conv2d, finite-difference gradient checks of dx, dw and db,
 * the dx-overwritten / dw-db-accumulated convention, results bit-identical for 1
 * and 2 threads, and parity with PyTorch fixtures
 * (tests/fixtures/conv_transpose2d/parity.safetensors from
 * tools/fixtures/conv_transpose2d.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_nd_oracle.h"
#include "convnet.h"
#include "convnet/conv_nd.h"
#include "support.h"

#ifdef CN_DOUBLE
#define ORACLE_TOL 1e-12 /* double sums of <= 100 O(1) products */
#define GC_H 1e-3        /* L is linear in each argument: only rounding matters */
#define GC_TOL 1e-7      /* the course's bound for the double build */
#else
#define ORACLE_TOL 3e-5  /* float sums of <= 100 O(1) products, ~ 100 ulp of O(5) */
#define GC_H 5e-2
#define GC_TOL 1e-3      /* float rounding of L over a 0.1 step */
#endif

/* ------------------------------------------------------------------ helpers */

/* A transposed convolution problem: geometry and every buffer, malloc'd to the
 * exact size so ASan sees any overrun (the workspace included). */
typedef struct prob {
    cn_convt2d_geom g;
    size_t nx, nw, ny, nws;
    cn_real *x, *w, *b, *y, *dy, *ws;
} prob;

/* The geometry's input fields in declaration order, for the case table. */
typedef struct spec {
    const char *name;
    int n, c_in, h, w, c_out, kh, kw, sh, sw, ph, pw, oph, opw, dh, dw, groups;
} spec;

static cn_convt2d_geom geom(spec s)
{
    cn_convt2d_geom g = {.n = s.n, .c_in = s.c_in, .h = s.h, .w = s.w, .c_out = s.c_out,
                         .kh = s.kh, .kw = s.kw, .stride_h = s.sh, .stride_w = s.sw,
                         .pad_h = s.ph, .pad_w = s.pw, .out_pad_h = s.oph, .out_pad_w = s.opw,
                         .dil_h = s.dh, .dil_w = s.dw, .groups = s.groups};
    return g;
}

static prob prob_new(cn_convt2d_geom g, uint64_t seed)
{
    prob P = {.g = g};
    cn_error err;
    cr_assert_eq(cn_convt2d_geom_init(&P.g, &err), CN_OK, "%s", err.msg);
    P.nx = (size_t)g.n * g.c_in * g.h * g.w;
    P.nw = (size_t)g.c_in * (g.c_out / g.groups) * g.kh * g.kw;
    P.ny = (size_t)g.n * g.c_out * P.g.h_out * P.g.w_out;
    P.nws = cn_convt2d_workspace_size(&P.g);
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

/* The awkward shapes every correctness test runs over:
 * name, n, c_in, h, w, c_out, kh, kw, stride (h, w), pad (h, w), out_pad (h, w),
 * dilation (h, w), groups. */
static const spec CASES[] = {
    {"3x3 stride 1 pad 1", 3, 3, 5, 4, 4, 3, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1},
    {"4x4 stride 2 upsample", 1, 2, 4, 5, 3, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1},
    {"stride 2 output padding", 3, 2, 5, 3, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},
    {"stride 3x2 kernel 2x4 out_pad 2/1", 1, 2, 4, 5, 2, 2, 4, 3, 2, 0, 1, 2, 1, 1, 1, 1},
    {"dilation 2, out_pad < dil only", 2, 3, 5, 6, 2, 3, 3, 1, 1, 2, 1, 1, 1, 2, 2, 1},
    {"groups 2 stride 2 dil 2", 2, 4, 4, 5, 6, 3, 3, 2, 2, 1, 1, 1, 0, 2, 2, 2},
    {"depthwise", 2, 4, 5, 5, 4, 3, 3, 1, 1, 1, 1, 0, 0, 1, 1, 4},
    {"depthwise x2 stride 2", 1, 3, 4, 4, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3},
    {"1x1", 3, 5, 4, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},
    {"1x1 stride 2 out_pad 1", 1, 3, 3, 4, 2, 1, 1, 2, 2, 0, 0, 1, 1, 1, 1, 1},
    {"padding crops to 1x1", 2, 2, 3, 3, 2, 3, 3, 1, 1, 2, 2, 0, 0, 1, 1, 1},
    {"batch 10 > slots", 10, 2, 3, 4, 3, 3, 3, 2, 1, 1, 0, 0, 0, 1, 1, 1},
};
#define NCASES (sizeof CASES / sizeof CASES[0])

/* ------------------------------------------------------------------ geometry */

Test(conv_transpose2d, geometry_output_size_and_workspace)
{
    cn_error err;
    /* h_out = (h-1)*s - 2p + d*(k-1) + op + 1 */
    cn_convt2d_geom g = geom((spec){"", 2, 4, 5, 7, 6, 3, 4, 2, 3, 1, 2, 1, 2, 2, 1, 2});
    cr_assert_eq(cn_convt2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(g.h_out, 4 * 2 - 2 + 2 * 2 + 1 + 1);
    cr_assert_eq(g.w_out, 6 * 3 - 4 + 1 * 3 + 2 + 1);
    cr_assert_eq(g.cg_in, 2);
    cr_assert_eq(g.cg_out, 3);
    cr_assert_eq(g.kdim, 3 * 3 * 4);
    cr_assert_eq(g.hw_in, 35);
    cr_assert_eq(g.slots, 2);
    cr_assert(!g.direct_1x1);
    cr_assert_eq(cn_convt2d_workspace_size(&g), (size_t)2 * (36 * 35 + 4 * 36));
    /* 1x1 stride 1 without padding is one GEMM into y: only the partial dw */
    g = geom((spec){"", 20, 4, 3, 3, 6, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 2});
    cr_assert_eq(cn_convt2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    cr_assert(g.direct_1x1);
    cr_assert_eq(g.h_out, 3);
    cr_assert_eq(g.slots, CN_CONV2D_SLOTS);
    cr_assert_eq(cn_convt2d_workspace_size(&g), (size_t)CN_CONV2D_SLOTS * 4 * 3);
    /* output padding allowed by the dilation alone (stride 1): h_out grows by it */
    g = geom((spec){"", 1, 1, 4, 4, 1, 1, 1, 1, 1, 0, 0, 1, 1, 2, 2, 1});
    cr_assert_eq(cn_convt2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    cr_assert(!g.direct_1x1);
    cr_assert_eq(g.h_out, 5);
}

/* expect_error: init fails with code and a message containing part. */
static void expect_error(spec s, cn_status code, const char *part)
{
    cn_convt2d_geom g = geom(s);
    cn_error err;
    cn_error_clear(&err);
    cr_assert_eq(cn_convt2d_geom_init(&g, &err), code, "expected %s, got %s: %s",
                 cn_status_name(code), cn_status_name(err.code), err.msg);
    cr_assert(strstr(err.msg, part), "message '%s' lacks '%s'", err.msg, part);
    cr_assert(strstr(err.msg, "conv_transpose2d"), "message '%s' does not name the op",
              err.msg);
}

Test(conv_transpose2d, geometry_errors)
{
    /*                   n  cin h  w  cout kh kw sh sw ph pw oph opw dh dw g */
    expect_error((spec){"", 1, 1, 4, 4, 1, 3, 3, 2, 2, 0, 0, 2, 0, 1, 1, 1}, CN_ERR_SHAPE,
                 "output padding must be smaller than either stride or dilation");
    expect_error((spec){"", 1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 0, 2, 2, 2, 1}, CN_ERR_SHAPE,
                 "output padding must be smaller");
    expect_error((spec){"", 1, 1, 1, 4, 1, 1, 3, 1, 1, 1, 0, 0, 0, 1, 1, 1}, CN_ERR_SHAPE,
                 "output size is too small");
    expect_error((spec){"", 1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, -1, 0, 1, 1, 1}, CN_ERR_SHAPE,
                 "output padding");
    expect_error((spec){"", 0, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1}, CN_ERR_SHAPE,
                 "input shape");
    expect_error((spec){"", 1, 1, 4, 0, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1}, CN_ERR_SHAPE,
                 "input shape");
    expect_error((spec){"", 1, 1, 4, 4, 0, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1}, CN_ERR_SHAPE,
                 "output channels");
    expect_error((spec){"", 1, 1, 4, 4, 1, 3, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1}, CN_ERR_SHAPE,
                 "kernel");
    expect_error((spec){"", 1, 1, 4, 4, 1, 3, 3, 0, 1, 0, 0, 0, 0, 1, 1, 1}, CN_ERR_SHAPE,
                 "stride");
    expect_error((spec){"", 1, 1, 4, 4, 1, 3, 3, 1, 1, 0, -1, 0, 0, 1, 1, 1}, CN_ERR_SHAPE,
                 "padding");
    expect_error((spec){"", 1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1, 0, 1}, CN_ERR_SHAPE,
                 "dilation");
    expect_error((spec){"", 1, 4, 4, 4, 4, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 0}, CN_ERR_SHAPE,
                 "groups");
    expect_error((spec){"", 1, 4, 4, 4, 6, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 4}, CN_ERR_SHAPE,
                 "must divide");
    expect_error((spec){"", 1, 6, 4, 4, 4, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 4}, CN_ERR_SHAPE,
                 "must divide");
    /* an output size, GEMM dimension or buffer that overflows */
    expect_error((spec){"", 1, 1, 1 << 20, 4, 1, 3, 3, 1 << 12, 1, 0, 0, 0, 0, 1, 1, 1},
                 CN_ERR_RANGE, "overflows int");
    expect_error((spec){"", 1, 1, 4, 4, 1 << 20, 1 << 10, 1 << 10, 1, 1, 0, 0, 0, 0, 1, 1, 1},
                 CN_ERR_RANGE, "overflow");
    expect_error((spec){"", 1 << 30, 1 << 30, 1 << 15, 1 << 15, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1,
                        1},
                 CN_ERR_RANGE, "overflow");
    expect_error((spec){"", 1, 1, 1 << 16, 1 << 16, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},
                 CN_ERR_RANGE, "overflow");
    cn_error err;
    cr_assert_eq(cn_convt2d_geom_init(NULL, &err), CN_ERR_ARG);
}

/* ------------------------------------------------------------------ adjoints */

/* Forward (without bias) is linear in x and its dx is the adjoint map:
 * <convt(x), Y> == <x, dx(Y)> for random x and Y. */
Test(conv_transpose2d, forward_and_dx_are_adjoint)
{
    for (size_t k = 0; k < NCASES; k++) {
        prob P = prob_new(geom(CASES[k]), 100 + k);
        cn_real *dx = tst_reals(P.nx);
        cn_convt2d_forward(&P.g, P.x, P.w, NULL, P.y, P.ws);
        cn_convt2d_backward(&P.g, P.x, P.w, P.dy, dx, NULL, NULL, P.ws);
        double a = 0, b = 0;
        for (size_t i = 0; i < P.ny; i++) a += (double)P.y[i] * (double)P.dy[i];
        for (size_t i = 0; i < P.nx; i++) b += (double)P.x[i] * (double)dx[i];
        cr_assert(fabs(a - b) <= ORACLE_TOL * 100 * (1 + fabs(a)),
                  "%s: <convt x, Y> %.17g vs <x, dx Y> %.17g", CASES[k].name, a, b);
        free(dx);
        prob_free(&P);
    }
}

/* With output padding below the stride, the transposed convolution is exactly
 * the input gradient of cn_conv2d whose input has y's size: same kernel, stride,
 * padding, dilation and groups, weight (c_in, cg_out, kh, kw) read as conv2d's
 * (c_out', cg_in', kh, kw), dy = x. */
Test(conv_transpose2d, forward_is_conv2d_input_gradient)
{
    for (size_t k = 0; k < NCASES; k++) {
        const spec s = CASES[k];
        if (s.oph >= s.sh || s.opw >= s.sw) continue;
        prob P = prob_new(geom(s), 200 + k);
        cn_conv2d_geom c = {.n = s.n, .c_in = s.c_out, .h = P.g.h_out, .w = P.g.w_out,
                            .c_out = s.c_in, .kh = s.kh, .kw = s.kw, .stride_h = s.sh,
                            .stride_w = s.sw, .pad_h = s.ph, .pad_w = s.pw, .dil_h = s.dh,
                            .dil_w = s.dw, .groups = s.groups};
        cn_error err;
        cr_assert_eq(cn_conv2d_geom_init(&c, &err), CN_OK, "%s: %s", s.name, err.msg);
        cr_assert(c.h_out == s.h && c.w_out == s.w, "%s: conv2d maps %dx%d to %dx%d", s.name,
                  c.h, c.w, c.h_out, c.w_out);
        const size_t nws = cn_conv2d_workspace_size(&c);
        cn_real *ws = nws ? tst_reals(nws) : NULL, *yc = tst_reals(P.ny);
        cn_convt2d_forward(&P.g, P.x, P.w, NULL, P.y, P.ws);
        /* conv2d's backward reads its forward input only for dw: y's buffer will do */
        cn_conv2d_backward(&c, P.dy, P.w, P.x, yc, NULL, NULL, ws);
        const double e = oracle_max_abs_diff(P.y, yc, P.ny);
        cr_assert(e <= ORACLE_TOL, "%s: convt2d vs conv2d dx max abs diff %.3g", s.name, e);
        free(ws);
        free(yc);
        prob_free(&P);
    }
}

/* ------------------------------------------------------------------ oracle */

Test(conv_transpose2d, forward_backward_match_oracle)
{
    for (size_t k = 0; k < NCASES; k++) {
        prob P = prob_new(geom(CASES[k]), 10 + 10 * k);
        const cn_convt2d_geom *g = &P.g;
        cn_real *yr = tst_reals(P.ny), *dxr = tst_reals(P.nx), *dwr = tst_reals(P.nw);
        cn_real *dbr = tst_reals((size_t)g->c_out), *dx = tst_reals(P.nx);
        cn_real *dw = tst_zeros(P.nw), *db = tst_zeros((size_t)g->c_out);
        for (int bias = 0; bias < 2; bias++) {
            cn_convt2d_forward(g, P.x, P.w, bias ? P.b : NULL, P.y, P.ws);
            oracle_convt2d_forward(g, P.x, P.w, bias ? P.b : NULL, yr);
            double e = oracle_max_abs_diff(P.y, yr, P.ny);
            cr_assert(e <= ORACLE_TOL, "%s (bias %d): forward max abs diff %.3g", CASES[k].name,
                      bias, e);
        }
        cn_convt2d_backward(g, P.x, P.w, P.dy, dx, dw, db, P.ws);
        oracle_convt2d_backward(g, P.x, P.w, P.dy, dxr, dwr, dbr);
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

/* L(x, w, b) = sum(convt(x, w, b) * R): dL/dy = R, so backward with dy = R gives
 * the analytic gradient. The perturbed array is one of P's own buffers. */
typedef struct loss_ctx {
    prob *P;
    const cn_real *R; /* (n, c_out, h_out, w_out) */
} loss_ctx;

static double convt_loss(void *ctx, const cn_real *unused)
{
    (void)unused;
    loss_ctx *c = ctx;
    prob *P = c->P;
    cn_convt2d_forward(&P->g, P->x, P->w, P->b, P->y, P->ws);
    double s = 0;
    for (size_t i = 0; i < P->ny; i++) s += (double)P->y[i] * (double)c->R[i];
    return s;
}

Test(conv_transpose2d, gradcheck_dx_dw_db)
{
    static const size_t picks[] = {0, 2, 3, 4, 5, 7, 8, 10};
    for (size_t q = 0; q < sizeof picks / sizeof picks[0]; q++) {
        const size_t k = picks[q];
        prob P = prob_new(geom(CASES[k]), 500 + k);
        cn_real *R = P.dy; /* fixed random R = dL/dy */
        cn_real *dx = tst_reals(P.nx);
        cn_real *dw = tst_zeros(P.nw), *db = tst_zeros((size_t)P.g.c_out);
        cn_convt2d_backward(&P.g, P.x, P.w, R, dx, dw, db, P.ws);
        loss_ctx c = {&P, R};
        oracle_gradcheck(convt_loss, &c, "dx", CASES[k].name, P.x, P.nx, dx, GC_H, GC_TOL);
        oracle_gradcheck(convt_loss, &c, "dw", CASES[k].name, P.w, P.nw, dw, GC_H, GC_TOL);
        oracle_gradcheck(convt_loss, &c, "db", CASES[k].name, P.b, (size_t)P.g.c_out, db, GC_H,
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
Test(conv_transpose2d, dx_overwritten_dw_db_accumulated)
{
    static const size_t picks[] = {0, 6, 8, 11};
    for (size_t q = 0; q < sizeof picks / sizeof picks[0]; q++) {
        prob P = prob_new(geom(CASES[picks[q]]), 900 + q);
        const size_t nb = (size_t)P.g.c_out;
        cn_real *dx1 = tst_reals(P.nx), *dx2 = tst_reals(P.nx), *dx3 = tst_reals(P.nx);
        cn_real *g_w = tst_zeros(P.nw), *g_b = tst_zeros(nb);
        cn_real *dw = tst_reals(P.nw), *db = tst_reals(nb);
        cn_real *ew = tst_reals(P.nw), *eb = tst_reals(nb);
        cn_convt2d_backward(&P.g, P.x, P.w, P.dy, dx1, g_w, g_b, P.ws);
        oracle_fill_normal(dw, P.nw, 1.0, 77);
        oracle_fill_normal(db, nb, 1.0, 78);
        for (size_t i = 0; i < P.nw; i++) ew[i] = (dw[i] + g_w[i]) + g_w[i];
        for (size_t i = 0; i < nb; i++) eb[i] = (db[i] + g_b[i]) + g_b[i];
        tst_fill_nan(dx2, P.nx);
        cn_convt2d_backward(&P.g, P.x, P.w, P.dy, dx2, dw, db, P.ws);
        cn_convt2d_backward(&P.g, P.x, P.w, P.dy, NULL, dw, db, P.ws);
        cr_assert(memcmp(dx1, dx2, P.nx * sizeof *dx1) == 0, "%s: dx not overwritten",
                  CASES[picks[q]].name);
        cr_assert(memcmp(dw, ew, P.nw * sizeof *dw) == 0, "%s: dw not accumulated",
                  CASES[picks[q]].name);
        cr_assert(memcmp(db, eb, nb * sizeof *db) == 0, "%s: db not accumulated",
                  CASES[picks[q]].name);
        /* dx only: nothing else touched; all NULL: a no-op */
        cn_convt2d_backward(&P.g, P.x, P.w, P.dy, dx3, NULL, NULL, P.ws);
        cr_assert(memcmp(dx1, dx3, P.nx * sizeof *dx1) == 0);
        cn_convt2d_backward(&P.g, P.x, P.w, P.dy, NULL, NULL, NULL, P.ws);
        /* y is overwritten too: stale NaN contents never leak into it */
        cn_real *y1 = tst_reals(P.ny);
        cn_convt2d_forward(&P.g, P.x, P.w, P.b, y1, P.ws);
        tst_fill_nan(P.y, P.ny);
        cn_convt2d_forward(&P.g, P.x, P.w, P.b, P.y, P.ws);
        cr_assert(memcmp(y1, P.y, P.ny * sizeof *y1) == 0, "%s: y not overwritten",
                  CASES[picks[q]].name);
        free(y1);
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
    cn_convt2d_forward(&P->g, P->x, P->w, P->b, y, P->ws);
    cn_convt2d_backward(&P->g, P->x, P->w, P->dy, dx, dw, db, P->ws);
}

/* Every output and gradient is bit-identical with 1 and 2 threads. The shapes
 * are large enough to pass the kernels' threshold for going parallel: more
 * images than slots, a grouped strided one with output padding, 1x1, and
 * batch 1. */
Test(conv_transpose2d, thread_count_invariance)
{
    const spec shapes[] = {
        {"", 11, 8, 8, 8, 16, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1},
        {"", 3, 8, 9, 7, 12, 3, 3, 2, 2, 1, 1, 1, 1, 2, 2, 2},
        {"", 9, 16, 8, 8, 16, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},
        /* one image: one slot, its GEMMs split across the threads instead */
        {"", 1, 48, 16, 16, 32, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1},
    };
    for (size_t q = 0; q < sizeof shapes / sizeof shapes[0]; q++) {
        prob P = prob_new(geom(shapes[q]), 1300 + q);
        oracle_thread_invariance(run_once, &P, q, P.ny, P.nx, P.nw, (size_t)P.g.c_out);
        prob_free(&P);
    }
}

/* ------------------------------------------------------------------ PyTorch parity */

#define CONVT_FIXTURE "tests/fixtures/conv_transpose2d/parity.safetensors"

/* Parity tolerance on max |convnet - PyTorch|. Double: float64 fixtures are
 * reproduced up to the summation order of <= ~100 products of O(1) values
 * (about 1e-14), so 1e-11 leaves room and still catches any wrong term. Float:
 * inputs rounded to float and float sums with magnitudes up to ~20: a few 1e-6,
 * bound 1e-4, far below the O(0.1) error of any indexing mistake. */
#ifdef CN_DOUBLE
#define PARITY_TOL 1e-11
#else
#define PARITY_TOL 1e-4
#endif

Test(conv_transpose2d, pytorch_parity)
{
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(CONVT_FIXTURE, &st, &err), CN_OK, "%s", err.msg);
    const int count = (int)tst_fx_meta_num(st, "configs");
    cr_assert(count >= 1);
    for (int i = 0; i < count; i++) {
        char name[64];
        snprintf(name, sizeof name, "c%d.geom", i);
        cn_tensor *gt = tst_fx_tensor(st, name, 17);
        int f[17];
        for (int j = 0; j < 17; j++) f[j] = (int)gt->data[j];
        cn_convt2d_geom g = geom((spec){"", f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7],
                                        f[8], f[9], f[10], f[11], f[12], f[13], f[14], f[15]});
        const int bias = f[16] != 0;
        cr_assert_eq(cn_convt2d_geom_init(&g, &err), CN_OK, "config %d: %s", i, err.msg);
        const size_t nx = (size_t)g.n * g.c_in * g.h * g.w;
        const size_t nw = (size_t)g.c_in * g.kdim;
        const size_t ny = (size_t)g.n * g.c_out * g.h_out * g.w_out, nb = (size_t)g.c_out;
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
        cn_real *ws = tst_reals(cn_convt2d_workspace_size(&g));
        cn_real *y = tst_reals(ny), *dx = tst_reals(nx), *dw = tst_zeros(nw), *db = tst_zeros(nb);
        cn_convt2d_forward(&g, x->data, w->data, b ? b->data : NULL, y, ws);
        cn_convt2d_backward(&g, x->data, w->data, dy->data, dx, dw, bias ? db : NULL, ws);
        const double ey = oracle_max_abs_diff(y, y_ref->data, ny);
        const double ex = oracle_max_abs_diff(dx, dx_ref->data, nx);
        const double ew = oracle_max_abs_diff(dw, dw_ref->data, nw);
        const double eb = bias ? oracle_max_abs_diff(db, db_ref->data, nb) : 0.0;
        cr_log_info("conv_transpose2d parity config %d (groups %d, %dx%d kernel, out_pad "
                    "%dx%d): max abs diff y %.3g dx %.3g dw %.3g db %.3g",
                    i, g.groups, g.kh, g.kw, g.out_pad_h, g.out_pad_w, ey, ex, ew, eb);
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
