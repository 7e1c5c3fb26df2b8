/* test_pool2d.c: the 2-D pooling kernels: output sizes checked against values
 * PyTorch 1.13 gives (ceil_mode and its last-window rule included), geometry
 * errors, max pooling values and argmax indices (ties, NaN) and average pooling
 * (count_include_pad, ceil_mode) against the naive oracle (tests/conv_oracle.h),
 * finite-difference gradient checks of dx, dx overwritten, global pooling, and
 * parity with PyTorch fixtures (tests/fixtures/pool2d.safetensors from
 * tools/fixtures/pool2d.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_oracle.h"
#include "convnet.h"
#include "support.h"

#ifdef CN_DOUBLE
#define ORACLE_TOL 1e-13
#define GC_H 1e-4   /* distinct values are >= 1e-2 apart: no step crosses a kink */
#define GC_TOL 1e-7 /* the course's bound for the double build */
#else
#define ORACLE_TOL 1e-5
#define GC_H 1e-3
#define GC_TOL 1e-2
#endif

static cn_pool2d_geom pgeom(cn_pool_kind kind, int n, int c, int h, int w, int k, int s, int p,
                            int d, int ceil_mode, int cip)
{
    cn_pool2d_geom g = {.kind = kind, .n = n, .c = c, .h = h, .w = w, .kh = k, .kw = k,
                        .stride_h = s, .stride_w = s, .pad_h = p, .pad_w = p, .dil_h = d,
                        .dil_w = d, .ceil_mode = ceil_mode, .count_include_pad = cip};
    return g;
}

/* fill_distinct: a (n) a random permutation of {0, 1, ..., n-1} * 0.01 - offset,
 * so every value is distinct and no two are closer than 0.01. */
static void fill_distinct(cn_real *a, size_t n, uint64_t seed)
{
    int *perm = malloc(n * sizeof *perm);
    cr_assert(perm);
    for (size_t i = 0; i < n; i++) perm[i] = (int)i;
    cn_rng r;
    cn_rng_seed(&r, seed, 3);
    cn_rng_shuffle(&r, perm, n);
    for (size_t i = 0; i < n; i++) a[i] = (cn_real)(0.01 * perm[i] - 0.005 * (double)n);
    free(perm);
}

/* ------------------------------------------------------------------ geometry */

Test(pool2d, output_size_matches_pytorch)
{
    /* (h, k, s, p, d, ceil) -> F.max_pool2d(...).shape[-1] in PyTorch 1.13 */
    static const int T[][7] = {
        {5, 2, 2, 0, 1, 1, 3}, {5, 2, 2, 0, 1, 0, 2}, {6, 3, 2, 1, 1, 1, 4},
        {5, 3, 3, 1, 1, 1, 2}, {7, 3, 2, 1, 2, 1, 3}, {1, 1, 2, 0, 1, 1, 1},
        {4, 2, 3, 1, 1, 1, 2}, /* the last window would start in the right padding */
        {10, 4, 3, 2, 1, 1, 4},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        cn_pool2d_geom g = pgeom(CN_POOL_MAX, 1, 1, T[i][0], T[i][0], T[i][1], T[i][2], T[i][3],
                                 T[i][4], T[i][5], 0);
        cn_error err;
        cr_assert_eq(cn_pool2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
        cr_assert_eq(g.h_out, T[i][6], "case %zu: %d, PyTorch %d", i, g.h_out, T[i][6]);
        cr_assert_eq(g.w_out, T[i][6]);
    }
}

static void expect_perror(cn_pool2d_geom g, cn_status code, const char *part)
{
    cn_error err;
    cn_error_clear(&err);
    cr_assert_eq(cn_pool2d_geom_init(&g, &err), code, "expected %s: %s",
                 cn_status_name(code), err.msg);
    cr_assert(strstr(err.msg, part), "message '%s' lacks '%s'", err.msg, part);
}

Test(pool2d, geometry_errors)
{
    expect_perror(pgeom(CN_POOL_MAX, 1, 1, 3, 3, 5, 1, 0, 1, 0, 0), CN_ERR_SHAPE,
                  "pool window larger than padded input");
    expect_perror(pgeom(CN_POOL_MAX, 1, 1, 3, 3, 2, 1, 0, 3, 0, 0), CN_ERR_SHAPE,
                  "pool window larger than padded input");
    expect_perror(pgeom(CN_POOL_MAX, 1, 1, 8, 8, 3, 1, 2, 1, 0, 0), CN_ERR_SHAPE,
                  "at most half the kernel");
    expect_perror(pgeom(CN_POOL_AVG, 1, 1, 8, 8, 3, 1, 1, 2, 0, 0), CN_ERR_SHAPE,
                  "no dilation");
    expect_perror(pgeom(CN_POOL_MAX, 1, 1, 8, 8, 3, 0, 1, 1, 0, 0), CN_ERR_SHAPE, "stride");
    expect_perror(pgeom(CN_POOL_MAX, 0, 1, 8, 8, 3, 1, 1, 1, 0, 0), CN_ERR_SHAPE, "input shape");
    expect_perror(pgeom(CN_POOL_MAX, 1, 1, 8, 8, 0, 1, 0, 1, 0, 0), CN_ERR_SHAPE, "kernel");
    expect_perror(pgeom(CN_POOL_MAX, 1, 1, 8, 8, 2, 1, -1, 1, 0, 0), CN_ERR_SHAPE, "padding");
    expect_perror(pgeom(CN_POOL_MAX, 1, 1, 8, 8, 2, 1, 0, 0, 0, 0), CN_ERR_SHAPE, "dilation");
    expect_perror(pgeom((cn_pool_kind)7, 1, 1, 8, 8, 2, 1, 0, 1, 0, 0), CN_ERR_ARG, "kind");
    expect_perror(pgeom(CN_POOL_MAX, 1, 1, 1 << 16, 1 << 16, 2, 2, 0, 1, 0, 0), CN_ERR_RANGE,
                  "overflow");
    expect_perror(pgeom(CN_POOL_MAX, 1 << 30, 1 << 30, 1 << 10, 1 << 10, 2, 2, 0, 1, 0, 0),
                  CN_ERR_RANGE, "overflow");
}

/* ------------------------------------------------------------------ oracle */

static const struct {
    const char *name;
    int n, c, h, w, k, s, p, d, ceil_mode, cip;
} CASES[] = {
    {"2x2 stride 2", 2, 3, 6, 6, 2, 2, 0, 1, 0, 1},
    {"3x3 stride 2 pad 1", 1, 2, 7, 9, 3, 2, 1, 1, 0, 1},
    {"3x3 stride 2 pad 1 no pad count", 2, 2, 7, 9, 3, 2, 1, 1, 0, 0},
    {"ceil 2x2 stride 2 odd", 2, 2, 5, 7, 2, 2, 0, 1, 1, 1},
    {"ceil 3x3 stride 2 pad 1", 1, 3, 6, 8, 3, 2, 1, 1, 1, 1},
    {"ceil 3x3 stride 2 pad 1 no pad count", 1, 3, 6, 8, 3, 2, 1, 1, 1, 0},
    {"ceil last-window rule", 1, 2, 4, 4, 2, 3, 1, 1, 1, 1},
    {"ceil 4x4 stride 3 pad 2", 2, 1, 10, 11, 4, 3, 2, 1, 1, 0},
    {"stride 1 overlap", 1, 2, 5, 6, 3, 1, 1, 1, 0, 1},
    {"dilation 2 (max)", 2, 2, 9, 8, 3, 2, 1, 2, 0, 1},
    {"dilation 2 ceil (max)", 1, 2, 7, 7, 3, 2, 1, 2, 1, 1},
    {"window == input", 2, 2, 4, 4, 4, 4, 0, 1, 0, 1},
    /* the 2x2 fast path's vector blocks of 8 or 4 outputs: exactly one, one
     * plus an overlapping last block (14 = a 28x28 map's, 7, 5), three with
     * an odd input width */
    {"2x2 stride 2, 8 a row", 2, 2, 4, 16, 2, 2, 0, 1, 0, 1},
    {"2x2 stride 2, 7 a row", 2, 2, 4, 14, 2, 2, 0, 1, 0, 1},
    {"2x2 stride 2, 5 a row", 1, 2, 4, 11, 2, 2, 0, 1, 0, 1},
    {"2x2 stride 2, 14 a row", 2, 3, 6, 28, 2, 2, 0, 1, 0, 1},
    {"2x2 stride 2, 17 a row", 1, 2, 5, 35, 2, 2, 0, 1, 0, 1},
};
#define NCASES (sizeof CASES / sizeof CASES[0])

static cn_pool2d_geom case_geom(size_t k, cn_pool_kind kind)
{
    cn_pool2d_geom g = pgeom(kind, CASES[k].n, CASES[k].c, CASES[k].h, CASES[k].w, CASES[k].k,
                             CASES[k].s, CASES[k].p, CASES[k].d, CASES[k].ceil_mode,
                             CASES[k].cip);
    cn_error err;
    cr_assert_eq(cn_pool2d_geom_init(&g, &err), CN_OK, "%s: %s", CASES[k].name, err.msg);
    return g;
}

static size_t in_size(const cn_pool2d_geom *g) { return (size_t)g->n * g->c * g->h * g->w; }
static size_t out_size(const cn_pool2d_geom *g)
{
    return (size_t)g->n * g->c * g->h_out * g->w_out;
}

/* max_vs_oracle: every case's max pooling against the oracle, bit for bit
 * (values and the first maximum's index), on values from {-2..2} (many ties)
 * or, with specials, from {-3..2} with NaN, +Inf and -Inf among them. */
static void max_vs_oracle(uint64_t seed, int specials)
{
    const cn_real special[3] = {(cn_real)NAN, (cn_real)INFINITY, -(cn_real)INFINITY};
    for (size_t k = 0; k < NCASES; k++) {
        cn_pool2d_geom g = case_geom(k, CN_POOL_MAX);
        const size_t nx = in_size(&g), ny = out_size(&g);
        cn_real *x = tst_reals(nx), *y = tst_reals(ny), *yr = tst_reals(ny);
        int32_t *idx = malloc(ny * sizeof *idx), *ir = malloc(ny * sizeof *ir);
        cr_assert(idx && ir);
        cn_rng r;
        cn_rng_seed(&r, seed + k, 1);
        for (size_t i = 0; i < nx; i++) {
            const uint32_t v = cn_rng_below(&r, specials ? 8 : 5);
            x[i] = specials && v < 3 ? special[v] : (cn_real)((int)v - (specials ? 5 : 2));
        }
        cn_maxpool2d_forward(&g, x, y, idx);
        oracle_maxpool2d_forward(&g, x, yr, ir);
        cr_assert(memcmp(y, yr, ny * sizeof *y) == 0, "%s: max values differ", CASES[k].name);
        cr_assert(memcmp(idx, ir, ny * sizeof *idx) == 0, "%s: argmax differs", CASES[k].name);
        free(x);
        free(y);
        free(yr);
        free(idx);
        free(ir);
    }
}

Test(pool2d, max_forward_matches_oracle_with_ties) { max_vs_oracle(40, 0); }

Test(pool2d, max_forward_matches_oracle_with_nans) { max_vs_oracle(70, 1); }

/* NaN propagates (PyTorch: the last NaN of the window wins), -Inf is a value. */
Test(pool2d, max_nan_and_inf)
{
    cn_pool2d_geom g = pgeom(CN_POOL_MAX, 1, 1, 2, 4, 2, 2, 0, 1, 0, 0);
    cn_error err;
    cr_assert_eq(cn_pool2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    const cn_real inf = (cn_real)INFINITY;
    cn_real x[8] = {1, (cn_real)NAN, -inf, -inf, 5, 2, -inf, -inf}; // (2, 4)
    cn_real y[2];
    int32_t idx[2];
    cn_maxpool2d_forward(&g, x, y, idx);
    cr_assert(isnan(y[0]));
    cr_assert_eq(idx[0], 1);
    cr_assert(isinf(y[1]) && y[1] < 0);
    cr_assert_eq(idx[1], 2); /* all -Inf: the first element of the window */
}

Test(pool2d, avg_forward_matches_oracle)
{
    for (size_t k = 0; k < NCASES; k++) {
        if (CASES[k].d != 1) continue;
        cn_pool2d_geom g = case_geom(k, CN_POOL_AVG);
        const size_t nx = in_size(&g), ny = out_size(&g);
        cn_real *x = tst_reals(nx), *y = tst_reals(ny), *yr = tst_reals(ny);
        oracle_fill_normal(x, nx, 1.0, 60 + k);
        cn_avgpool2d_forward(&g, x, y);
        oracle_avgpool2d_forward(&g, x, yr);
        double e = oracle_max_abs_diff(y, yr, ny);
        cr_assert(e <= ORACLE_TOL, "%s: avg max abs diff %.3g", CASES[k].name, e);
        free(x);
        free(y);
        free(yr);
    }
}

/* ------------------------------------------------------------------ gradcheck */

typedef struct loss_ctx {
    const cn_pool2d_geom *g;
    const cn_real *R; /* (n, c, h_out, w_out) */
    cn_real *y;       /* (n, c, h_out, w_out) */
    int32_t *idx;     /* (n, c, h_out, w_out) */
} loss_ctx;

static double pool_loss(void *ctx, const cn_real *x)
{
    loss_ctx *c = ctx;
    if (c->g->kind == CN_POOL_MAX)
        cn_maxpool2d_forward(c->g, x, c->y, c->idx);
    else
        cn_avgpool2d_forward(c->g, x, c->y);
    double s = 0;
    for (size_t i = 0; i < out_size(c->g); i++) s += (double)c->y[i] * (double)c->R[i];
    return s;
}

/* Every input coordinate (float: every one with a sizeable gradient) of every
 * case, both kinds: dx from backward with dy = R against centred differences
 * of L = sum(pool(x) * R). Max pooling runs on distinct values 0.01 apart, so
 * no step of GC_H changes any argmax. Also checks that dx is overwritten (it
 * starts as NaN). */
Test(pool2d, gradcheck_dx)
{
    for (int kind = 0; kind < 2; kind++)
        for (size_t k = 0; k < NCASES; k++) {
            if (kind == CN_POOL_AVG && CASES[k].d != 1) continue;
            cn_pool2d_geom g = case_geom(k, (cn_pool_kind)kind);
            const size_t nx = in_size(&g), ny = out_size(&g);
            cn_real *x = tst_reals(nx), *dx = tst_reals(nx), *R = tst_reals(ny);
            cn_real *y = tst_reals(ny);
            int32_t *idx = malloc(ny * sizeof *idx);
            size_t *coords = malloc(nx * sizeof *coords);
            cr_assert(idx && coords);
            fill_distinct(x, nx, 70 + k);
            oracle_fill_normal(R, ny, 1.0, 80 + k);
            for (size_t i = 0; i < nx; i++) dx[i] = (cn_real)NAN;
            if (kind == CN_POOL_MAX) {
                cn_maxpool2d_forward(&g, x, y, idx);
                cn_maxpool2d_backward(&g, R, idx, dx);
            } else {
                cn_avgpool2d_forward(&g, x, y);
                cn_avgpool2d_backward(&g, R, dx);
            }
            /* the float build skips gradients below 5% of the largest, where a float
             * difference quotient's relative error says nothing */
            double gmax = 0;
            size_t nc = 0;
            for (size_t i = 0; i < nx; i++) gmax = fmax(gmax, fabs((double)dx[i]));
            for (size_t i = 0; i < nx; i++) {
#ifndef CN_DOUBLE
                if (fabs((double)dx[i]) < 0.05 * gmax) continue;
#endif
                coords[nc++] = i;
            }
            loss_ctx c = {&g, R, y, idx};
            cn_gradcheck_result res;
            cn_error err;
            cr_assert_eq(cn_gradcheck(pool_loss, &c, x, nx, dx, coords, nc, 0, NULL, GC_H, &res,
                                      &err),
                         CN_OK, "%s", err.msg);
            cr_log_info("gradcheck %s pool %s: %zu coordinates, max rel err %.3g",
                        kind == CN_POOL_MAX ? "max" : "avg", CASES[k].name, res.checked,
                        res.max_rel_err);
            cr_assert(res.max_rel_err < GC_TOL, "%s %s: rel err %.3g at %zu (%.10g vs %.10g)",
                      kind == CN_POOL_MAX ? "max" : "avg", CASES[k].name, res.max_rel_err,
                      res.worst_index, res.worst_analytic, res.worst_numeric);
            free(x);
            free(dx);
            free(R);
            free(y);
            free(idx);
            free(coords);
        }
}

/* ------------------------------------------------------------------ global */

Test(pool2d, global_pooling)
{
    const size_t nc = 6, hw = 35;
    cn_real *x = tst_reals(nc * hw), *dx = tst_reals(nc * hw);
    cn_real y[6], R[6], ref[6];
    int32_t idx[6];
    fill_distinct(x, nc * hw, 5);
    oracle_fill_normal(R, nc, 1.0, 6);
    /* global pooling is pooling with the window equal to the plane */
    cn_pool2d_geom g = pgeom(CN_POOL_AVG, 2, 3, 5, 7, 1, 1, 0, 1, 0, 1);
    g.kh = 5;
    g.kw = 7;
    cn_error err;
    cr_assert_eq(cn_pool2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    cn_global_avgpool_forward(nc, hw, x, y);
    oracle_avgpool2d_forward(&g, x, ref);
    cr_assert(oracle_max_abs_diff(y, ref, nc) <= ORACLE_TOL);
    cn_global_avgpool_backward(nc, hw, R, dx);
    for (size_t p = 0; p < nc; p++)
        for (size_t k = 0; k < hw; k++) cr_assert_eq(dx[p * hw + k], R[p] / (cn_real)hw);

    g.kind = CN_POOL_MAX;
    int32_t iref[6];
    cn_global_maxpool_forward(nc, hw, x, y, idx);
    oracle_maxpool2d_forward(&g, x, ref, iref);
    cr_assert(memcmp(y, ref, sizeof y) == 0);
    cr_assert(memcmp(idx, iref, sizeof idx) == 0);
    for (size_t i = 0; i < nc * hw; i++) dx[i] = (cn_real)NAN;
    cn_global_maxpool_backward(nc, hw, R, idx, dx);
    for (size_t p = 0; p < nc; p++)
        for (size_t k = 0; k < hw; k++)
            cr_assert_eq(dx[p * hw + k], (int32_t)k == idx[p] ? R[p] : 0);
    free(x);
    free(dx);
}

/* Pooling computes every plane alone: 1 and 2 threads agree bit for bit (a
 * shape large enough to pass the kernels' threshold for going parallel). */
Test(pool2d, thread_count_invariance)
{
    cn_pool2d_geom g = pgeom(CN_POOL_AVG, 8, 8, 17, 17, 3, 2, 1, 1, 1, 0);
    cn_error err;
    cr_assert_eq(cn_pool2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    const size_t nx = in_size(&g), ny = out_size(&g);
    cn_real *x = tst_reals(nx), *R = tst_reals(ny);
    oracle_fill_normal(x, nx, 1.0, 9);
    oracle_fill_normal(R, ny, 1.0, 10);
    cn_real *y[2], *dx[2];
    for (int t = 0; t < 2; t++) {
        cn_set_num_threads(t + 1);
        y[t] = tst_reals(ny);
        dx[t] = tst_reals(nx);
        cn_avgpool2d_forward(&g, x, y[t]);
        cn_avgpool2d_backward(&g, R, dx[t]);
    }
    cn_set_num_threads(0);
    cr_assert(memcmp(y[0], y[1], ny * sizeof(cn_real)) == 0);
    cr_assert(memcmp(dx[0], dx[1], nx * sizeof(cn_real)) == 0);
    for (int t = 0; t < 2; t++) {
        free(y[t]);
        free(dx[t]);
    }
    free(x);
    free(R);
}

/* ------------------------------------------------------------------ PyTorch parity */

#define POOL_FIXTURE "tests/fixtures/pool2d.safetensors"

/* Parity tolerance on max |convnet - PyTorch|. Max pooling copies values and
 * routes gradients without arithmetic, so it is exact up to the fixture's
 * rounding to cn_real; averages sum <= 16 values of magnitude <= ~3: double
 * observed <= 1e-15 (bound 1e-12), float <= 1e-6 (bound 1e-5). Indices must be
 * identical. */
#ifdef CN_DOUBLE
#define PARITY_TOL 1e-12
#else
#define PARITY_TOL 1e-5
#endif

Test(pool2d, pytorch_parity)
{
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(POOL_FIXTURE, &st, &err), CN_OK, "%s", err.msg);
    const char *nc = cn_safetensors_meta(st, "configs");
    cr_assert(nc, "fixture lacks the configs metadata");
    const int count = atoi(nc);
    cr_assert(count >= 1);
    for (int i = 0; i < count; i++) {
        char name[64];
        snprintf(name, sizeof name, "p%d.geom", i);
        cn_tensor *gt = tst_fx_tensor(st, name, 15);
        const cn_real *v = gt->data;
        const int kind = (int)v[0];
        cn_pool2d_geom g = {.kind = kind == 0 || kind == 3 ? CN_POOL_MAX : CN_POOL_AVG,
                            .n = (int)v[1], .c = (int)v[2], .h = (int)v[3], .w = (int)v[4],
                            .kh = (int)v[5], .kw = (int)v[6], .stride_h = (int)v[7],
                            .stride_w = (int)v[8], .pad_h = (int)v[9], .pad_w = (int)v[10],
                            .dil_h = (int)v[11], .dil_w = (int)v[12], .ceil_mode = (int)v[13],
                            .count_include_pad = (int)v[14]};
        cr_assert_eq(cn_pool2d_geom_init(&g, &err), CN_OK, "config %d: %s", i, err.msg);
        const size_t nx = in_size(&g), ny = out_size(&g);
        const size_t planes = (size_t)g.n * g.c, hw = (size_t)g.h * g.w;
        snprintf(name, sizeof name, "p%d.x", i);
        cn_tensor *x = tst_fx_tensor(st, name, nx);
        snprintf(name, sizeof name, "p%d.y", i);
        cn_tensor *y_ref = tst_fx_tensor(st, name, ny);
        snprintf(name, sizeof name, "p%d.dy", i);
        cn_tensor *dy = tst_fx_tensor(st, name, ny);
        snprintf(name, sizeof name, "p%d.dx", i);
        cn_tensor *dx_ref = tst_fx_tensor(st, name, nx);
        cn_real *y = tst_reals(ny), *dx = tst_reals(nx);
        int32_t *idx = malloc(ny * sizeof *idx);
        cr_assert(idx);
        size_t idx_bad = 0;
        switch (kind) {
        case 0:
            cn_maxpool2d_forward(&g, x->data, y, idx);
            cn_maxpool2d_backward(&g, dy->data, idx, dx);
            break;
        case 1:
            cn_avgpool2d_forward(&g, x->data, y);
            cn_avgpool2d_backward(&g, dy->data, dx);
            break;
        case 2:
            cn_global_avgpool_forward(planes, hw, x->data, y);
            cn_global_avgpool_backward(planes, hw, dy->data, dx);
            break;
        default:
            cn_global_maxpool_forward(planes, hw, x->data, y, idx);
            cn_global_maxpool_backward(planes, hw, dy->data, idx, dx);
        }
        if (kind == 0 || kind == 3) {
            snprintf(name, sizeof name, "p%d.idx", i);
            cn_tensor *ir = tst_fx_tensor(st, name, ny);
            for (size_t k = 0; k < ny; k++) idx_bad += (double)idx[k] != (double)ir->data[k];
            cn_tensor_free(ir);
        }
        const double ey = oracle_max_abs_diff(y, y_ref->data, ny);
        const double ex = oracle_max_abs_diff(dx, dx_ref->data, nx);
        cr_log_info("pool2d parity config %d (kind %d, %dx%d -> %dx%d): max abs diff y %.3g "
                    "dx %.3g, %zu indices differ",
                    i, kind, g.h, g.w, g.h_out, g.w_out, ey, ex, idx_bad);
        cr_assert(ey <= PARITY_TOL && ex <= PARITY_TOL && idx_bad == 0,
                  "config %d: max abs diff y %.3g dx %.3g, %zu indices differ", i, ey, ex,
                  idx_bad);
        free(y);
        free(dx);
        free(idx);
        cn_tensor_free(gt);
        cn_tensor_free(x);
        cn_tensor_free(y_ref);
        cn_tensor_free(dy);
        cn_tensor_free(dx_ref);
    }
    cn_safetensors_free(st);
}
