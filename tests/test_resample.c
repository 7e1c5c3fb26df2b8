/* test_resample.c: the resampling kernels (convnet/resample.h): max unpooling,
 * nearest and bilinear upsampling, constant padding. Output sizes, hand-computed
 * small cases, straightforward reference loops (upsampling as interpolation
 * matrices y = A_h x A_w^T built from the textbook formulas), the adjoint
 * identity <f(x), r> = <x, f^T(r)> for every backward, finite-difference
 * gradient checks, dx overwritten, unpooling after cn_maxpool2d_forward,
 * duplicate indices, every error path of the _check functions, thread-count
 * invariance, and parity with PyTorch fixtures (tests/fixtures/resample/ from
 * tools/fixtures/resample.py). */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"
#include "convnet/resample.h"
#include "support.h"

#ifdef CN_DOUBLE
#define REF_TOL 1e-13
#define ADJ_TOL 1e-13 /* relative */
#define GC_H 1e-3
#define GC_TOL 1e-7   /* the course's bound for the double build */
#define PARITY_TOL 1e-12
#else
#define REF_TOL 1e-5
#define ADJ_TOL 1e-5
#define GC_H 1e-2
#define GC_TOL 1e-2
#define PARITY_TOL 1e-5
#endif

#define FIXTURE_DIR "tests/fixtures/resample/"

static size_t numel4(int n, int c, int h, int w) { return (size_t)n * c * h * w; }

static void fill(cn_real *a, size_t n, uint64_t seed)
{
    cn_rng r;
    cn_rng_seed(&r, seed, 11);
    tst_fill_normal(&r, a, n, 1.0);
}

static double dot(const cn_real *a, const cn_real *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

/* expect: status code and a message part from a _check call. */
#define expect(call, code, part)                                                          \
    do {                                                                                  \
        cn_error err_;                                                                    \
        cn_error_clear(&err_);                                                            \
        cn_status s_ = (call);                                                            \
        cr_assert_eq(s_, (code), "%s: expected %s, got %s: %s", #call,                   \
                     cn_status_name(code), cn_status_name(s_), err_.msg);                 \
        cr_assert(strstr(err_.msg, (part)), "%s: message '%s' lacks '%s'", #call,         \
                  err_.msg, (part));                                                      \
    } while (0)
#define ERR (&err_)

/* grad_check: finite differences of L(x) = fn(ctx) (which reads x through ctx)
 * against analytic (n). The double build checks every coordinate with the
 * shared helper; the float build only those with a gradient of at least 5% of
 * the largest, where a float difference quotient's relative error means
 * something. */
static double grad_check(double (*fn)(void *), double (*fn2)(void *, const cn_real *),
                         void *ctx, cn_real *x, size_t n, const cn_real *analytic)
{
#ifdef CN_DOUBLE
    (void)fn2;
    return tst_grad_err(fn, ctx, 1.0, x, n, analytic, GC_H);
#else
    (void)fn;
    double gmax = 0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs((double)analytic[i]));
    size_t *coords = malloc((n ? n : 1) * sizeof *coords), nc = 0;
    cr_assert(coords);
    for (size_t i = 0; i < n; i++)
        if (fabs((double)analytic[i]) >= 0.05 * gmax) coords[nc++] = i;
    cn_gradcheck_result res;
    cn_error err;
    cr_assert_eq(cn_gradcheck(fn2, ctx, x, n, analytic, coords, nc, 0, NULL, GC_H, &res, &err),
                 CN_OK, "%s", err.msg);
    free(coords);
    return res.max_rel_err;
#endif
}

/* ================================================================ max unpooling */

Test(resample, unpool_out_size)
{
    cr_assert_eq(cn_maxunpool2d_out_size(3, 2, 2, 0), 6);
    cr_assert_eq(cn_maxunpool2d_out_size(4, 3, 2, 1), 7);
    cr_assert_eq(cn_maxunpool2d_out_size(3, 3, 3, 1), 7);
    cr_assert_eq(cn_maxunpool2d_out_size(1, 1, 5, 0), 1);
    cr_assert_eq(cn_maxunpool2d_out_size(1, 2, 1, 1), -1); /* 0 */
    cr_assert_eq(cn_maxunpool2d_out_size(0, 2, 2, 0), -1);
    cr_assert_eq(cn_maxunpool2d_out_size(3, 0, 2, 0), -1);
    cr_assert_eq(cn_maxunpool2d_out_size(3, 2, 0, 0), -1);
    cr_assert_eq(cn_maxunpool2d_out_size(3, 2, 2, -1), -1);
    cr_assert_eq(cn_maxunpool2d_out_size(INT_MAX, 2, 2, 0), -1);
}

/* A hand case: a 2x2 input scattered into a 4x4 plane, and its gather back. */
Test(resample, unpool_hand_case)
{
    const cn_real x[8] = {5, 6, 7, 8, -1, -2, -3, -4}; // (1, 2, 2, 2)
    const int32_t idx[8] = {0, 3, 9, 15, 5, 6, 10, 11};
    cn_real y[32];                                     // (1, 2, 4, 4)
    tst_fill_nan(y, 32);
    cn_error err;
    cr_assert_eq(cn_maxunpool2d_check(1, 2, 2, 2, 4, 4, idx, &err), CN_OK, "%s", err.msg);
    cn_maxunpool2d_forward(1, 2, 2, 2, 4, 4, x, idx, y);
    const cn_real want[32] = {5, 0, 0, 6, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 8,
                              0, 0, 0, 0, 0, -1, -2, 0, 0, 0, -3, -4, 0, 0, 0, 0};
    cr_assert(memcmp(y, want, sizeof y) == 0);
    cn_real dy[32], dx[8];
    for (int i = 0; i < 32; i++) dy[i] = (cn_real)(i + 1);
    tst_fill_nan(dx, 8);
    cn_maxunpool2d_backward(1, 2, 2, 2, 4, 4, dy, idx, dx);
    const cn_real dwant[8] = {1, 4, 10, 16, 22, 23, 27, 28};
    cr_assert(memcmp(dx, dwant, sizeof dx) == 0);
}

/* Several inputs naming one position: the later one in scan order wins the
 * forward; the backward is PyTorch's gather (every one receives dy there). */
Test(resample, unpool_duplicates_later_wins)
{
    const cn_real x[4] = {1, 2, 3, 4}; // (1, 1, 2, 2)
    const int32_t idx[4] = {0, 0, 1, 0};
    cn_real y[4], dx[4];
    const cn_real dy[4] = {10, 20, 30, 40};
    cn_maxunpool2d_forward(1, 1, 2, 2, 2, 2, x, idx, y);
    cr_assert_eq(y[0], 4);
    cr_assert_eq(y[1], 3);
    cr_assert_eq(y[2], 0);
    cr_assert_eq(y[3], 0);
    cn_maxunpool2d_backward(1, 1, 2, 2, 2, 2, dy, idx, dx);
    cr_assert_eq(dx[0], 10);
    cr_assert_eq(dx[1], 10);
    cr_assert_eq(dx[2], 20);
    cr_assert_eq(dx[3], 10);
}

/* pool_then_indices: max pool p (n, c, H, W) with window k, stride s, padding pd;
 * returns the geometry, fills *pooled and *idx (newly allocated). */
static cn_pool2d_geom pool_then_indices(int n, int c, int H, int W, int k, int s, int pd,
                                        const cn_real *p, cn_real **pooled, int32_t **idx)
{
    cn_pool2d_geom g = {.kind = CN_POOL_MAX, .n = n, .c = c, .h = H, .w = W, .kh = k, .kw = k,
                        .stride_h = s, .stride_w = s, .pad_h = pd, .pad_w = pd, .dil_h = 1,
                        .dil_w = 1};
    cn_error err;
    cr_assert_eq(cn_pool2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    const size_t ny = numel4(n, c, g.h_out, g.w_out);
    *pooled = tst_reals(ny);
    *idx = malloc(ny * sizeof **idx);
    cr_assert(*idx);
    cn_maxpool2d_forward(&g, p, *pooled, *idx);
    return g;
}

/* Unpooling max pooling's output puts every maximum back where it was and zeros
 * elsewhere (distinct inputs; windows that do not overlap). */
Test(resample, unpool_after_maxpool)
{
    static const int C[][7] = {{2, 3, 6, 8, 2, 2, 0}, {1, 2, 7, 9, 3, 3, 1}, {2, 2, 5, 5, 2, 2, 1}};
    for (size_t t = 0; t < sizeof C / sizeof C[0]; t++) {
        const int n = C[t][0], c = C[t][1], H = C[t][2], W = C[t][3];
        const size_t np = numel4(n, c, H, W);
        cn_real *p = tst_reals(np), *pooled, *y = tst_reals(np);
        int32_t *idx;
        fill(p, np, 100 + t);
        cn_pool2d_geom g = pool_then_indices(n, c, H, W, C[t][4], C[t][5], C[t][6], p, &pooled,
                                             &idx);
        cn_error err;
        cr_assert_eq(cn_maxunpool2d_check(n, c, g.h_out, g.w_out, H, W, idx, &err), CN_OK,
                     "%s", err.msg);
        cn_maxunpool2d_forward(n, c, g.h_out, g.w_out, H, W, pooled, idx, y);
        const size_t hw = (size_t)H * W, ho = (size_t)g.h_out * g.w_out;
        char *hit = calloc(np, 1);
        cr_assert(hit);
        for (size_t q = 0; q < (size_t)n * c; q++)
            for (size_t k = 0; k < ho; k++) hit[q * hw + (size_t)idx[q * ho + k]] = 1;
        for (size_t i = 0; i < np; i++)
            cr_assert_eq(y[i], hit[i] ? p[i] : 0, "case %zu element %zu", t, i);
        free(hit);
        free(p);
        free(pooled);
        free(y);
        free(idx);
    }
}

typedef struct unpool_ctx {
    int n, c, h, w, ho, wo;
    const int32_t *idx;
    cn_real *x;       /* (n, c, h, w) */
    cn_real *y;       /* (n, c, ho, wo) */
    const cn_real *R; /* (n, c, ho, wo) */
} unpool_ctx;

static double unpool_loss2(void *arg, const cn_real *x)
{
    unpool_ctx *u = arg;
    cn_maxunpool2d_forward(u->n, u->c, u->h, u->w, u->ho, u->wo, x, u->idx, u->y);
    return dot(u->y, u->R, numel4(u->n, u->c, u->ho, u->wo));
}

static double unpool_loss(void *arg) { return unpool_loss2(arg, ((unpool_ctx *)arg)->x); }

/* Gradient check and adjoint identity of unpooling with the indices of a 3x3
 * stride-3 max pooling (no duplicates: the op is then exactly linear with
 * gradient dy[idx]). */
Test(resample, unpool_gradcheck_and_adjoint)
{
    const int n = 2, c = 2, H = 9, W = 8;
    const size_t np = numel4(n, c, H, W);
    cn_real *p = tst_reals(np), *pooled;
    int32_t *idx;
    fill(p, np, 7);
    cn_pool2d_geom g = pool_then_indices(n, c, H, W, 3, 3, 1, p, &pooled, &idx);
    const size_t nx = numel4(n, c, g.h_out, g.w_out);
    cn_real *R = tst_reals(np), *y = tst_reals(np), *dx = tst_reals(nx);
    fill(R, np, 8);
    tst_fill_nan(dx, nx);
    cn_maxunpool2d_backward(n, c, g.h_out, g.w_out, H, W, R, idx, dx);
    unpool_ctx u = {n, c, g.h_out, g.w_out, H, W, idx, pooled, y, R};
    const double lhs = unpool_loss(&u), rhs = dot(pooled, dx, nx);
    cr_assert(fabs(lhs - rhs) <= ADJ_TOL * (fabs(lhs) + 1), "adjoint %.17g vs %.17g", lhs, rhs);
    const double e = grad_check(unpool_loss, unpool_loss2, &u, pooled, nx, dx);
    cr_log_info("maxunpool2d gradcheck: max rel err %.3g", e);
    cr_assert(e < GC_TOL, "maxunpool2d gradcheck: rel err %.3g", e);
    free(p);
    free(pooled);
    free(idx);
    free(R);
    free(y);
    free(dx);
}

Test(resample, unpool_check_errors)
{
    const int32_t ok[4] = {0, 1, 2, 3};
    const int32_t big[8] = {0, 1, 2, 3, 0, 9, 2, 3};  /* (1, 2, 2, 2): 9 outside 3x3 */
    const int32_t neg[8] = {0, 1, 2, 3, 0, 1, 2, -1}; /* an empty dilated window's -1 */
    expect(cn_maxunpool2d_check(1, 2, 2, 2, 3, 3, big, ERR), CN_ERR_RANGE,
           "index 9 at element (0, 1, 0, 1)");
    expect(cn_maxunpool2d_check(1, 2, 2, 2, 3, 3, neg, ERR), CN_ERR_RANGE,
           "index -1 at element (0, 1, 1, 1)");
    expect(cn_maxunpool2d_check(1, 1, 2, 2, 2, 1, ok, ERR), CN_ERR_RANGE, "[0, 2)");
    expect(cn_maxunpool2d_check(1, 1, 2, 2, 4, 4, NULL, ERR), CN_ERR_ARG, "NULL");
    expect(cn_maxunpool2d_check(0, 1, 2, 2, 4, 4, ok, ERR), CN_ERR_SHAPE, ">= 1");
    expect(cn_maxunpool2d_check(1, 1, 2, 2, 4, 0, ok, ERR), CN_ERR_SHAPE, ">= 1");
    expect(cn_maxunpool2d_check(1, 1, 2, 2, 1 << 16, 1 << 16, ok, ERR), CN_ERR_RANGE,
           "overflow");
    expect(cn_maxunpool2d_check(1 << 30, 1 << 30, 1 << 10, 1 << 10, 2, 2, ok, ERR),
           CN_ERR_RANGE, "overflow");
    cn_error err;
    cr_assert_eq(cn_maxunpool2d_check(1, 1, 2, 2, 2, 2, ok, &err), CN_OK, "%s", err.msg);
}

/* ================================================================ upsampling */

Test(resample, upsample_out_size)
{
    cr_assert_eq(cn_upsample2d_out_size(5, 1.5), 7);
    cr_assert_eq(cn_upsample2d_out_size(4, 2.0), 8);
    cr_assert_eq(cn_upsample2d_out_size(9, 0.5), 4);
    cr_assert_eq(cn_upsample2d_out_size(7, 1.7), 11);
    cr_assert_eq(cn_upsample2d_out_size(3, 0.1), -1);
    cr_assert_eq(cn_upsample2d_out_size(3, 0.0), -1);
    cr_assert_eq(cn_upsample2d_out_size(3, -2.0), -1);
    cr_assert_eq(cn_upsample2d_out_size(3, NAN), -1);
    cr_assert_eq(cn_upsample2d_out_size(3, INFINITY), -1);
    cr_assert_eq(cn_upsample2d_out_size(0, 2.0), -1);
    cr_assert_eq(cn_upsample2d_out_size(1 << 30, 4.0), -1);
    cr_assert_str_eq(cn_upsample_mode_name(CN_UPSAMPLE_NEAREST), "nearest");
    cr_assert_str_eq(cn_upsample_mode_name(CN_UPSAMPLE_BILINEAR), "bilinear");
    cr_assert_str_eq(cn_upsample_mode_name(CN_UPSAMPLE_MODE_COUNT), "unknown");
}

/* up: forward of one plane (1, 1, h, w) into y, after checking the arguments. */
static void up(cn_upsample_mode m, int ac, int h, int w, int ho, int wo, double sh, double sw,
               const cn_real *x, cn_real *y)
{
    cn_error err;
    cr_assert_eq(cn_upsample2d_check(m, ac, 1, 1, h, w, ho, wo, sh, sw, &err), CN_OK, "%s",
                 err.msg);
    tst_fill_nan(y, (size_t)ho * wo);
    cn_upsample2d_forward(m, ac, 1, 1, h, w, ho, wo, sh, sw, x, y);
}

static void expect_reals(const cn_real *got, const double *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs((double)got[i] - want[i]) <= 1e-6, "%s: element %zu is %.9g, not %.9g",
                  what, i, (double)got[i], want[i]);
}

/* Small cases worked out by hand from PyTorch's definitions. */
Test(resample, upsample_hand_cases)
{
    const cn_real x4[4] = {1, 2, 3, 4}; // (2, 2)
    cn_real y[16];
    up(CN_UPSAMPLE_NEAREST, 0, 2, 2, 4, 4, 2.0, 2.0, x4, y);
    const double n2[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    expect_reals(y, n2, 16, "nearest x2");

    /* align_corners: the corners stay, the middle is the average */
    up(CN_UPSAMPLE_BILINEAR, 1, 2, 2, 3, 3, 0, 0, x4, y);
    const double a3[9] = {1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4};
    expect_reals(y, a3, 9, "bilinear align_corners 2x2 -> 3x3");

    /* half-pixel: 1x2 -> 1x4 reads 0, 0.25, 0.75, 1.25 (the last clamps to 1) */
    const cn_real x2[2] = {0, 4};
    up(CN_UPSAMPLE_BILINEAR, 0, 1, 2, 1, 4, 0, 0, x2, y);
    const double h4[4] = {0, 1, 3, 4};
    expect_reals(y, h4, 4, "bilinear half-pixel 1x2 -> 1x4");

    /* scale 2 given as a factor: source (o + 0.5) / 2 - 0.5, clamped at 0 */
    up(CN_UPSAMPLE_BILINEAR, 0, 1, 2, 2, 4, 2.0, 2.0, x2, y);
    const double s4[8] = {0, 1, 3, 4, 0, 1, 3, 4};
    expect_reals(y, s4, 8, "bilinear scale 2 1x2 -> 2x4");

    /* nearest 3 -> 5 by size: floor(o * 0.6) = 0, 0, 1, 1, 2 */
    const cn_real x3[3] = {10, 20, 30};
    up(CN_UPSAMPLE_NEAREST, 0, 1, 3, 1, 5, 0, 0, x3, y);
    const double n5[5] = {10, 10, 20, 20, 30};
    expect_reals(y, n5, 5, "nearest 3 -> 5");

    /* nearest 9 -> 4 by size: floor(o * 2.25) = 0, 2, 4, 6 */
    const cn_real x9[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    up(CN_UPSAMPLE_NEAREST, 0, 1, 9, 1, 4, 0, 0, x9, y);
    const double d4[4] = {0, 2, 4, 6};
    expect_reals(y, d4, 4, "nearest 9 -> 4");

    /* nearest with scale 1.5 on 3 -> 4: floor(o / 1.5) = 0, 0, 1, 2 */
    up(CN_UPSAMPLE_NEAREST, 0, 1, 3, 1, 4, 0, 1.5, x3, y);
    const double s15[4] = {10, 10, 20, 30};
    expect_reals(y, s15, 4, "nearest scale 1.5");

    /* bilinear to one output: align_corners reads the first input, half-pixel the
     * centre 0.5 * (in / 1) - 0.5 */
    up(CN_UPSAMPLE_BILINEAR, 1, 1, 3, 1, 1, 0, 0, x3, y);
    cr_assert_eq(y[0], 10);
    up(CN_UPSAMPLE_BILINEAR, 0, 1, 3, 1, 1, 0, 0, x3, y);
    cr_assert(fabs((double)y[0] - 20) < 1e-6);
}

/* ref_matrix: the interpolation matrix A (out, in) of one axis, from the
 * definitions written out plainly in double (nearest's index in float, as
 * PyTorch computes it): row o holds the weights output o gives each input.
 * Only PyTorch's out == in copy rule is taken over; its other shortcut
 * (out == 2 in) is left out, so it is checked here. */
static double *ref_matrix(cn_upsample_mode m, int ac, int in, int out, double scale)
{
    double *A = calloc((size_t)in * out, sizeof *A);
    cr_assert(A);
    for (int o = 0; o < out; o++) {
        double *row = A + (size_t)o * in;
        if (out == in) {
            row[o] = 1;
            continue;
        }
        if (m == CN_UPSAMPLE_NEAREST) {
            const float r = scale > 0 ? (float)(1.0 / scale) : (float)in / (float)out;
            int k = (int)floorf((float)o * r);
            row[k < in - 1 ? k : in - 1] = 1;
            continue;
        }
        double src;
        if (ac)
            src = out > 1 ? (double)o * (in - 1) / (out - 1) : 0;
        else
            src = fmax(((double)o + 0.5) * (scale > 0 ? 1.0 / scale : (double)in / out) - 0.5, 0);
        const int i0 = (int)floor(src), i1 = i0 + 1 < in ? i0 + 1 : in - 1;
        row[i0] += 1 - (src - i0);
        row[i1] += src - i0;
    }
    return A;
}

typedef struct up_case {
    cn_upsample_mode m;
    int ac, n, c, h, w, ho, wo;
    double sh, sw;
} up_case;

static const up_case UP[] = {
    {CN_UPSAMPLE_NEAREST, 0, 2, 3, 4, 5, 8, 10, 2.0, 2.0},
    {CN_UPSAMPLE_NEAREST, 0, 1, 2, 5, 7, 12, 9, 0, 0},
    {CN_UPSAMPLE_NEAREST, 0, 1, 2, 9, 9, 4, 4, 0, 0},
    {CN_UPSAMPLE_NEAREST, 0, 2, 1, 5, 6, 7, 9, 1.5, 1.5},
    {CN_UPSAMPLE_NEAREST, 0, 1, 2, 7, 5, 11, 3, 1.7, 0.6},
    {CN_UPSAMPLE_NEAREST, 0, 1, 1, 6, 6, 13, 6, 0, 0},
    {CN_UPSAMPLE_BILINEAR, 0, 2, 3, 4, 5, 8, 10, 2.0, 2.0},
    {CN_UPSAMPLE_BILINEAR, 1, 2, 3, 4, 5, 8, 10, 2.0, 2.0},
    {CN_UPSAMPLE_BILINEAR, 0, 1, 2, 5, 6, 7, 9, 1.5, 1.5},
    {CN_UPSAMPLE_BILINEAR, 1, 1, 2, 5, 6, 7, 9, 1.5, 1.5},
    {CN_UPSAMPLE_BILINEAR, 0, 1, 2, 5, 7, 12, 9, 0, 0},
    {CN_UPSAMPLE_BILINEAR, 1, 1, 2, 5, 7, 12, 9, 0, 0},
    {CN_UPSAMPLE_BILINEAR, 0, 1, 2, 9, 8, 4, 5, 0, 0},
    {CN_UPSAMPLE_BILINEAR, 1, 1, 2, 9, 8, 4, 5, 0, 0},
    {CN_UPSAMPLE_BILINEAR, 0, 1, 2, 4, 5, 10, 3, 2.5, 0.7},
    {CN_UPSAMPLE_BILINEAR, 1, 1, 1, 4, 6, 1, 6, 0, 0},
    {CN_UPSAMPLE_BILINEAR, 0, 1, 1, 1, 1, 3, 2, 0, 0},
};
#define NUP (sizeof UP / sizeof UP[0])

/* ref_up: y (n, c, ho, wo) = A_h x A_w^T per plane, or (transpose) dx = A_h^T dy A_w. */
static void ref_up(const up_case *u, int transpose, const cn_real *in, cn_real *out)
{
    double *Ah = ref_matrix(u->m, u->ac, u->h, u->ho, u->sh);
    double *Aw = ref_matrix(u->m, u->ac, u->w, u->wo, u->sw);
    const size_t pin = (size_t)u->h * u->w, pout = (size_t)u->ho * u->wo;
    for (size_t p = 0; p < (size_t)u->n * u->c; p++)
        if (!transpose) {
            for (int oh = 0; oh < u->ho; oh++)
                for (int ow = 0; ow < u->wo; ow++) {
                    double s = 0;
                    for (int ih = 0; ih < u->h; ih++)
                        for (int iw = 0; iw < u->w; iw++)
                            s += Ah[(size_t)oh * u->h + ih] * Aw[(size_t)ow * u->w + iw] *
                                 (double)in[p * pin + (size_t)ih * u->w + iw];
                    out[p * pout + (size_t)oh * u->wo + ow] = (cn_real)s;
                }
        } else {
            for (int ih = 0; ih < u->h; ih++)
                for (int iw = 0; iw < u->w; iw++) {
                    double s = 0;
                    for (int oh = 0; oh < u->ho; oh++)
                        for (int ow = 0; ow < u->wo; ow++)
                            s += Ah[(size_t)oh * u->h + ih] * Aw[(size_t)ow * u->w + iw] *
                                 (double)in[p * pout + (size_t)oh * u->wo + ow];
                    out[p * pin + (size_t)ih * u->w + iw] = (cn_real)s;
                }
        }
    free(Ah);
    free(Aw);
}

Test(resample, upsample_matches_reference)
{
    for (size_t k = 0; k < NUP; k++) {
        const up_case *u = &UP[k];
        cn_error err;
        cr_assert_eq(cn_upsample2d_check(u->m, u->ac, u->n, u->c, u->h, u->w, u->ho, u->wo,
                                         u->sh, u->sw, &err),
                     CN_OK, "case %zu: %s", k, err.msg);
        const size_t nx = numel4(u->n, u->c, u->h, u->w), ny = numel4(u->n, u->c, u->ho, u->wo);
        cn_real *x = tst_reals(nx), *y = tst_reals(ny), *yr = tst_reals(ny);
        cn_real *dy = tst_reals(ny), *dx = tst_reals(nx), *dxr = tst_reals(nx);
        fill(x, nx, 200 + k);
        fill(dy, ny, 300 + k);
        tst_fill_nan(y, ny);
        tst_fill_nan(dx, nx);
        cn_upsample2d_forward(u->m, u->ac, u->n, u->c, u->h, u->w, u->ho, u->wo, u->sh, u->sw,
                              x, y);
        cn_upsample2d_backward(u->m, u->ac, u->n, u->c, u->h, u->w, u->ho, u->wo, u->sh, u->sw,
                               dy, dx);
        ref_up(u, 0, x, yr);
        ref_up(u, 1, dy, dxr);
        const double ey = tst_max_abs_diff(y, yr, ny), ex = tst_max_abs_diff(dx, dxr, nx);
        cr_assert(ey <= REF_TOL && ex <= REF_TOL, "case %zu (%s ac %d %dx%d -> %dx%d): y %.3g "
                  "dx %.3g", k, cn_upsample_mode_name(u->m), u->ac, u->h, u->w, u->ho, u->wo,
                  ey, ex);
        /* the adjoint identity <up(x), dy> = <x, up^T(dy)> */
        const double lhs = dot(y, dy, ny), rhs = dot(x, dx, nx);
        cr_assert(fabs(lhs - rhs) <= ADJ_TOL * (fabs(lhs) + 1), "case %zu: adjoint %.17g vs "
                  "%.17g", k, lhs, rhs);
        free(x);
        free(y);
        free(yr);
        free(dy);
        free(dx);
        free(dxr);
    }
}

typedef struct up_ctx {
    const up_case *u;
    cn_real *x;       /* (n, c, h, w) */
    cn_real *y;       /* (n, c, ho, wo) */
    const cn_real *R; /* (n, c, ho, wo) */
} up_ctx;

static double up_loss2(void *arg, const cn_real *x)
{
    up_ctx *c = arg;
    const up_case *u = c->u;
    cn_upsample2d_forward(u->m, u->ac, u->n, u->c, u->h, u->w, u->ho, u->wo, u->sh, u->sw, x,
                          c->y);
    return dot(c->y, c->R, numel4(u->n, u->c, u->ho, u->wo));
}

static double up_loss(void *arg) { return up_loss2(arg, ((up_ctx *)arg)->x); }

Test(resample, upsample_gradcheck)
{
    for (size_t k = 0; k < NUP; k++) {
        const up_case *u = &UP[k];
        const size_t nx = numel4(u->n, u->c, u->h, u->w), ny = numel4(u->n, u->c, u->ho, u->wo);
        cn_real *x = tst_reals(nx), *y = tst_reals(ny), *R = tst_reals(ny), *dx = tst_reals(nx);
        fill(x, nx, 400 + k);
        fill(R, ny, 500 + k);
        cn_upsample2d_backward(u->m, u->ac, u->n, u->c, u->h, u->w, u->ho, u->wo, u->sh, u->sw,
                               R, dx);
        up_ctx c = {u, x, y, R};
        const double e = grad_check(up_loss, up_loss2, &c, x, nx, dx);
        cr_log_info("upsample2d gradcheck case %zu (%s ac %d): max rel err %.3g", k,
                    cn_upsample_mode_name(u->m), u->ac, e);
        cr_assert(e < GC_TOL, "case %zu: rel err %.3g", k, e);
        free(x);
        free(y);
        free(R);
        free(dx);
    }
}

Test(resample, upsample_check_errors)
{
    const cn_upsample_mode N = CN_UPSAMPLE_NEAREST, B = CN_UPSAMPLE_BILINEAR;
    expect(cn_upsample2d_check((cn_upsample_mode)5, 0, 1, 1, 2, 2, 4, 4, 0, 0, ERR),
           CN_ERR_ARG, "unknown mode 5");
    expect(cn_upsample2d_check(N, 1, 1, 1, 2, 2, 4, 4, 0, 0, ERR), CN_ERR_ARG,
           "align_corners");
    expect(cn_upsample2d_check(B, 0, 1, 0, 2, 2, 4, 4, 0, 0, ERR), CN_ERR_SHAPE, ">= 1");
    expect(cn_upsample2d_check(B, 0, 1, 1, 2, 2, 4, 0, 0, 0, ERR), CN_ERR_SHAPE, ">= 1");
    expect(cn_upsample2d_check(B, 0, 1, 1, 2, 2, 4, 4, -2.0, 0, ERR), CN_ERR_ARG,
           "height scale");
    expect(cn_upsample2d_check(B, 0, 1, 1, 2, 2, 4, 4, 0, NAN, ERR), CN_ERR_ARG, "width scale");
    expect(cn_upsample2d_check(B, 0, 1, 1, 2, 2, 4, 4, INFINITY, 0, ERR), CN_ERR_ARG,
           "finite");
    expect(cn_upsample2d_check(N, 0, 1, 1, 5, 5, 8, 7, 1.5, 1.5, ERR), CN_ERR_SHAPE,
           "output height 8 does not match floor(5 * 1.5) = 7");
    expect(cn_upsample2d_check(N, 0, 1, 1, 5, 5, 7, 7, 1.5, 0.1, ERR), CN_ERR_SHAPE,
           "output width 7");
    expect(cn_upsample2d_check(B, 0, 1 << 30, 1 << 30, 4, 4, 8, 8, 0, 0, ERR), CN_ERR_RANGE,
           "overflow");
    cn_error err;
    cr_assert_eq(cn_upsample2d_check(B, 1, 1, 1, 5, 5, 7, 12, 1.5, 0, &err), CN_OK, "%s",
                 err.msg);
}

/* ================================================================ padding */

Test(resample, pad_hand_case)
{
    const cn_real x[4] = {1, 2, 3, 4}; // (1, 1, 2, 2)
    cn_real y[12];                     // (1, 1, 3, 4)
    cn_error err;
    cr_assert_eq(cn_pad2d_check(1, 1, 2, 2, 1, 0, 0, 2, &err), CN_OK, "%s", err.msg);
    cn_pad2d_forward(1, 1, 2, 2, 1, 0, 0, 2, 9, x, y);
    const cn_real want[12] = {9, 9, 9, 9, 1, 2, 9, 9, 3, 4, 9, 9};
    cr_assert(memcmp(y, want, sizeof y) == 0);
    cn_real dy[12], dx[4];
    for (int i = 0; i < 12; i++) dy[i] = (cn_real)i;
    tst_fill_nan(dx, 4);
    cn_pad2d_backward(1, 1, 2, 2, 1, 0, 0, 2, dy, dx);
    const cn_real dwant[4] = {4, 5, 8, 9};
    cr_assert(memcmp(dx, dwant, sizeof dx) == 0);
}

typedef struct pad_ctx {
    int n, c, h, w, t, b, l, r;
    cn_real v;
    cn_real *x, *y;
    const cn_real *R;
} pad_ctx;

static size_t pad_out(const pad_ctx *p) { return numel4(p->n, p->c, p->h + p->t + p->b, p->w + p->l + p->r); }

static double pad_loss2(void *arg, const cn_real *x)
{
    pad_ctx *p = arg;
    cn_pad2d_forward(p->n, p->c, p->h, p->w, p->t, p->b, p->l, p->r, p->v, x, p->y);
    return dot(p->y, p->R, pad_out(p));
}

static double pad_loss(void *arg) { return pad_loss2(arg, ((pad_ctx *)arg)->x); }

/* Against the plain definition, the adjoint identity (the constant part of the
 * output taken out) and finite differences, for several asymmetric pads. */
Test(resample, pad_reference_and_gradcheck)
{
    static const int P[][8] = {{2, 3, 4, 5, 1, 2, 0, 3}, {1, 2, 3, 3, 0, 0, 2, 1},
                               {1, 1, 1, 1, 3, 1, 1, 4}, {2, 1, 3, 2, 0, 0, 0, 0}};
    for (size_t k = 0; k < sizeof P / sizeof P[0]; k++) {
        pad_ctx p = {P[k][0], P[k][1], P[k][2], P[k][3], P[k][4], P[k][5], P[k][6], P[k][7],
                     (cn_real)-0.75, NULL, NULL, NULL};
        cn_error err;
        cr_assert_eq(cn_pad2d_check(p.n, p.c, p.h, p.w, p.t, p.b, p.l, p.r, &err), CN_OK, "%s",
                     err.msg);
        const int ho = p.h + p.t + p.b, wo = p.w + p.l + p.r;
        const size_t nx = numel4(p.n, p.c, p.h, p.w), ny = pad_out(&p);
        cn_real *x = tst_reals(nx), *y = tst_reals(ny), *R = tst_reals(ny), *dx = tst_reals(nx);
        fill(x, nx, 600 + k);
        fill(R, ny, 700 + k);
        tst_fill_nan(y, ny);
        cn_pad2d_forward(p.n, p.c, p.h, p.w, p.t, p.b, p.l, p.r, p.v, x, y);
        double pad_part = 0;
        for (size_t q = 0; q < (size_t)p.n * p.c; q++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++) {
                    const int si = i - p.t, sj = j - p.l;
                    const size_t o = (q * ho + i) * wo + j;
                    const int inside = si >= 0 && si < p.h && sj >= 0 && sj < p.w;
                    const cn_real want = inside ? x[(q * p.h + si) * p.w + sj] : p.v;
                    cr_assert_eq(y[o], want, "case %zu element %zu", k, o);
                    if (!inside) pad_part += (double)p.v * (double)R[o];
                }
        tst_fill_nan(dx, nx);
        cn_pad2d_backward(p.n, p.c, p.h, p.w, p.t, p.b, p.l, p.r, R, dx);
        const double lhs = dot(y, R, ny) - pad_part, rhs = dot(x, dx, nx);
        cr_assert(fabs(lhs - rhs) <= ADJ_TOL * (fabs(lhs) + 1), "case %zu: adjoint %.17g vs "
                  "%.17g", k, lhs, rhs);
        p.x = x;
        p.y = y;
        p.R = R;
        const double e = grad_check(pad_loss, pad_loss2, &p, x, nx, dx);
        cr_log_info("pad2d gradcheck case %zu: max rel err %.3g", k, e);
        cr_assert(e < GC_TOL, "case %zu: rel err %.3g", k, e);
        free(x);
        free(y);
        free(R);
        free(dx);
    }
}

Test(resample, pad_check_errors)
{
    expect(cn_pad2d_check(1, 1, 2, 2, -1, 0, 0, 0, ERR), CN_ERR_ARG, "top -1");
    expect(cn_pad2d_check(1, 1, 2, 2, 0, 0, 0, -3, ERR), CN_ERR_ARG, "right -3");
    expect(cn_pad2d_check(1, 1, 0, 2, 0, 0, 0, 0, ERR), CN_ERR_SHAPE, ">= 1");
    expect(cn_pad2d_check(1, 1, INT_MAX, 1, 1, 0, 0, 0, ERR), CN_ERR_RANGE, "overflow");
    expect(cn_pad2d_check(1, 1, 1, 1, 0, 0, INT_MAX, INT_MAX, ERR), CN_ERR_RANGE, "overflow");
    expect(cn_pad2d_check(1 << 30, 1 << 30, 1 << 10, 1 << 10, 1, 1, 1, 1, ERR), CN_ERR_RANGE,
           "overflow");
    expect(cn_pad2d_check(16, 1, 1 << 30, 1 << 30, 1, 1, 1, 1, ERR), CN_ERR_RANGE, "overflow");
}

/* ================================================================ threads */

/* Every kernel computes each plane alone: 1 and 2 threads agree bit for bit
 * (shapes large enough to pass the kernels' threshold for going parallel). */
Test(resample, thread_count_invariance)
{
    const int n = 4, c = 8, h = 32, w = 32;
    const size_t nx = numel4(n, c, h, w), nbig = numel4(n, c, 2 * h + 3, 2 * w + 1);
    cn_real *x = tst_reals(nx), *R = tst_reals(nbig);
    fill(x, nx, 900);
    fill(R, nbig, 901);
    /* unpooling indices: random positions in each 67x65 plane (with repeats) */
    const int H = 2 * h + 3, W = 2 * w + 1;
    int32_t *idx = malloc(nx * sizeof *idx);
    cr_assert(idx);
    cn_rng r;
    cn_rng_seed(&r, 902, 1);
    for (size_t i = 0; i < nx; i++) idx[i] = (int32_t)cn_rng_below(&r, (uint32_t)(H * W));
    for (int op = 0; op < 5; op++) {
        cn_real *y[2], *dx[2];
        for (int t = 0; t < 2; t++) {
            cn_set_num_threads(t + 1);
            y[t] = tst_reals(nbig);
            dx[t] = tst_reals(nx);
            switch (op) {
            case 0:
                cn_upsample2d_forward(CN_UPSAMPLE_BILINEAR, 0, n, c, h, w, H, W, 0, 0, x, y[t]);
                cn_upsample2d_backward(CN_UPSAMPLE_BILINEAR, 0, n, c, h, w, H, W, 0, 0, R, dx[t]);
                break;
            case 1:
                cn_upsample2d_forward(CN_UPSAMPLE_BILINEAR, 1, n, c, h, w, H, W, 0, 0, x, y[t]);
                cn_upsample2d_backward(CN_UPSAMPLE_BILINEAR, 1, n, c, h, w, H, W, 0, 0, R, dx[t]);
                break;
            case 2:
                cn_upsample2d_forward(CN_UPSAMPLE_NEAREST, 0, n, c, h, w, H, W, 0, 0, x, y[t]);
                cn_upsample2d_backward(CN_UPSAMPLE_NEAREST, 0, n, c, h, w, H, W, 0, 0, R, dx[t]);
                break;
            case 3:
                cn_maxunpool2d_forward(n, c, h, w, H, W, x, idx, y[t]);
                cn_maxunpool2d_backward(n, c, h, w, H, W, R, idx, dx[t]);
                break;
            default:
                cn_pad2d_forward(n, c, h, w, 2, 17, 0, 17, 1, x, y[t]);
                cn_pad2d_backward(n, c, h, w, 2, 17, 0, 17, R, dx[t]);
            }
        }
        cn_set_num_threads(0);
        cr_assert(memcmp(y[0], y[1], nbig * sizeof(cn_real)) == 0, "op %d: y differs", op);
        cr_assert(memcmp(dx[0], dx[1], nx * sizeof(cn_real)) == 0, "op %d: dx differs", op);
        for (int t = 0; t < 2; t++) {
            free(y[t]);
            free(dx[t]);
        }
    }
    free(x);
    free(R);
    free(idx);
}

/* ================================================================ PyTorch parity */

/* fx_geom: tensor r<i>.geom of count values, as doubles. */
static void fx_geom(const cn_safetensors *st, int i, double *g, size_t count)
{
    char name[32];
    snprintf(name, sizeof name, "r%d.geom", i);
    cn_tensor *t = tst_fx_tensor(st, name, count);
    for (size_t k = 0; k < count; k++) g[k] = (double)t->data[k];
    cn_tensor_free(t);
}

static cn_real *fx(const cn_safetensors *st, int i, const char *what, size_t numel)
{
    char name[32];
    snprintf(name, sizeof name, "r%d.%s", i, what);
    return tst_fx_reals(st, name, numel);
}

static cn_safetensors *fx_open(const char *file, int *count)
{
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(file, &st, &err), CN_OK, "%s", err.msg);
    *count = (int)tst_fx_meta_num(st, "configs");
    cr_assert(*count >= 1);
    return st;
}

/* Parity tolerance: max |convnet - PyTorch| over y and dx. Unpooling, nearest and
 * padding copy values (exact up to the fixture's rounding to cn_real); bilinear
 * sums a few products of values of magnitude <= ~4: double observed <= 9e-16
 * (bound 1e-12), float <= 6e-7 (bound 1e-5; the float build's nearest backward
 * sums too). */
Test(resample, pytorch_parity_unpool)
{
    int count;
    cn_safetensors *st = fx_open(FIXTURE_DIR "unpool.safetensors", &count);
    for (int i = 0; i < count; i++) {
        double g[10];
        fx_geom(st, i, g, 10);
        const int n = (int)g[0], c = (int)g[1], h = (int)g[2], w = (int)g[3];
        const int ho = (int)g[7], wo = (int)g[8];
        if (!(int)g[9])
            cr_assert(cn_maxunpool2d_out_size(h, (int)g[4], (int)g[5], (int)g[6]) == ho &&
                          cn_maxunpool2d_out_size(w, (int)g[4], (int)g[5], (int)g[6]) == wo,
                      "config %d: default output size differs from PyTorch's %dx%d", i, ho, wo);
        const size_t nx = numel4(n, c, h, w), ny = numel4(n, c, ho, wo);
        cn_real *x = fx(st, i, "x", nx), *fi = fx(st, i, "idx", nx), *yr = fx(st, i, "y", ny);
        cn_real *dy = fx(st, i, "dy", ny), *dxr = fx(st, i, "dx", nx);
        int32_t *idx = malloc(nx * sizeof *idx);
        cr_assert(idx);
        for (size_t k = 0; k < nx; k++) idx[k] = (int32_t)fi[k];
        cn_error err;
        cr_assert_eq(cn_maxunpool2d_check(n, c, h, w, ho, wo, idx, &err), CN_OK, "%s", err.msg);
        cn_real *y = tst_reals(ny), *dx = tst_reals(nx);
        cn_maxunpool2d_forward(n, c, h, w, ho, wo, x, idx, y);
        cn_maxunpool2d_backward(n, c, h, w, ho, wo, dy, idx, dx);
        const double ey = tst_max_abs_diff(y, yr, ny), ex = tst_max_abs_diff(dx, dxr, nx);
        cr_log_info("maxunpool2d parity config %d (%dx%d -> %dx%d): y %.3g dx %.3g", i, h, w,
                    ho, wo, ey, ex);
        cr_assert(ey <= PARITY_TOL && ex <= PARITY_TOL, "config %d: y %.3g dx %.3g", i, ey, ex);
        free(x);
        free(fi);
        free(yr);
        free(dy);
        free(dxr);
        free(idx);
        free(y);
        free(dx);
    }
    cn_safetensors_free(st);
}

Test(resample, pytorch_parity_upsample)
{
    int count;
    cn_safetensors *st = fx_open(FIXTURE_DIR "upsample.safetensors", &count);
    for (int i = 0; i < count; i++) {
        double g[10];
        fx_geom(st, i, g, 10);
        const cn_upsample_mode m = g[0] == 0 ? CN_UPSAMPLE_NEAREST : CN_UPSAMPLE_BILINEAR;
        const int ac = (int)g[1], n = (int)g[2], c = (int)g[3], h = (int)g[4], w = (int)g[5];
        const int ho = (int)g[6], wo = (int)g[7];
        const double sh = g[8], sw = g[9];
        cn_error err;
        cr_assert_eq(cn_upsample2d_check(m, ac, n, c, h, w, ho, wo, sh, sw, &err), CN_OK,
                     "config %d: %s", i, err.msg);
        const size_t nx = numel4(n, c, h, w), ny = numel4(n, c, ho, wo);
        cn_real *x = fx(st, i, "x", nx), *yr = fx(st, i, "y", ny), *dy = fx(st, i, "dy", ny);
        cn_real *dxr = fx(st, i, "dx", nx), *y = tst_reals(ny), *dx = tst_reals(nx);
        cn_upsample2d_forward(m, ac, n, c, h, w, ho, wo, sh, sw, x, y);
        cn_upsample2d_backward(m, ac, n, c, h, w, ho, wo, sh, sw, dy, dx);
        const double ey = tst_max_abs_diff(y, yr, ny), ex = tst_max_abs_diff(dx, dxr, nx);
        cr_log_info("upsample2d parity config %d (%s ac %d, %dx%d -> %dx%d, scale %g %g): y "
                    "%.3g dx %.3g",
                    i, cn_upsample_mode_name(m), ac, h, w, ho, wo, sh, sw, ey, ex);
        cr_assert(ey <= PARITY_TOL && ex <= PARITY_TOL, "config %d: y %.3g dx %.3g", i, ey, ex);
        free(x);
        free(yr);
        free(dy);
        free(dxr);
        free(y);
        free(dx);
    }
    cn_safetensors_free(st);
}

Test(resample, pytorch_parity_pad)
{
    int count;
    cn_safetensors *st = fx_open(FIXTURE_DIR "pad.safetensors", &count);
    for (int i = 0; i < count; i++) {
        double g[9];
        fx_geom(st, i, g, 9);
        const int n = (int)g[0], c = (int)g[1], h = (int)g[2], w = (int)g[3];
        const int t = (int)g[4], b = (int)g[5], l = (int)g[6], r = (int)g[7];
        cn_error err;
        cr_assert_eq(cn_pad2d_check(n, c, h, w, t, b, l, r, &err), CN_OK, "%s", err.msg);
        const size_t nx = numel4(n, c, h, w), ny = numel4(n, c, h + t + b, w + l + r);
        cn_real *x = fx(st, i, "x", nx), *yr = fx(st, i, "y", ny), *dy = fx(st, i, "dy", ny);
        cn_real *dxr = fx(st, i, "dx", nx), *y = tst_reals(ny), *dx = tst_reals(nx);
        cn_pad2d_forward(n, c, h, w, t, b, l, r, (cn_real)g[8], x, y);
        cn_pad2d_backward(n, c, h, w, t, b, l, r, dy, dx);
        const double ey = tst_max_abs_diff(y, yr, ny), ex = tst_max_abs_diff(dx, dxr, nx);
        cr_log_info("pad2d parity config %d: y %.3g dx %.3g", i, ey, ex);
        cr_assert(ey <= PARITY_TOL && ex <= PARITY_TOL, "config %d: y %.3g dx %.3g", i, ey, ex);
        free(x);
        free(yr);
        free(dy);
        free(dxr);
        free(y);
        free(dx);
    }
    cn_safetensors_free(st);
}
