/* test_fast_kernels.c: the vectorised paths of the element-wise and
 * normalisation kernels, bit for bit against plain reference loops: the blocked
 * ReLU / leaky ReLU / RReLU / sigmoid / tanh loops (lengths off the block size,
 * in place, NaN, infinities and signed zeros), batch norm's lane reductions
 * against long double references at row lengths off the lane count, its
 * thread-count independence above the parallel threshold, the fused evaluation
 * batch norm + ReLU against the unfused pair, and the 2x2 stride-2 pooling fast
 * path (ties, NaN, -inf, odd sizes) against the general loops' semantics. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/activation_kernels.h"
#include "convnet/conv.h"
#include "convnet/core.h"
#include "convnet/norm_kernels.h"
#include "support.h"

#ifdef CN_DOUBLE
#define REF_TOL 1e-12
#else
#define REF_TOL 2e-6
#endif

#define EPS 1e-5

/* specials: a few awkward values planted among the random ones. */
static void plant_specials(cn_real *x, size_t len)
{
    const double sp[] = {0.0, -0.0, INFINITY, -INFINITY, 1e-30, -1e-30};
    for (size_t i = 0; i < len; i += 7) x[i] = (cn_real)sp[(i / 7) % 6];
    if (len > 11) tst_fill_nan(x + 11, 1);
}

static void expect_same_bits(const char *what, const cn_real *a, const cn_real *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        cr_assert(memcmp(&a[i], &b[i], sizeof a[i]) == 0, "%s[%zu]: %.9g vs %.9g", what, i,
                  (double)a[i], (double)b[i]);
}

/* ------------------------------------------------------------------ activations */

/* check_linear: forward and backward of kind on len elements against the
 * scalar formulas, out of place and in place. */
static void check_linear(cn_act_kind kind, size_t len)
{
    cn_act_params p = cn_act_params_default();
    cn_rng r;
    cn_rng_seed(&r, 11, (uint64_t)len);
    cn_real *x = tst_reals(len), *dy = tst_reals(len), *y = tst_reals(len);
    cn_real *want = tst_reals(len), *dx = tst_reals(len), *io = tst_reals(len);
    tst_fill_normal(&r, x, len, 1.0);
    tst_fill_normal(&r, dy, len, 1.0);
    plant_specials(x, len);
    if (len > 3) plant_specials(dy + 3, len - 3);
    cn_real s = kind == CN_ACT_RELU         ? 0
                : kind == CN_ACT_LEAKY_RELU ? (cn_real)p.slope
                                            : (cn_real)((p.lower + p.upper) / 2);
    for (size_t i = 0; i < len; i++)
        want[i] = kind == CN_ACT_RELU ? (x[i] < 0 ? 0 : x[i]) : (x[i] > 0 ? x[i] : s * x[i]);
    cn_act_forward(kind, &p, 1, 1, len, x, y, NULL, NULL, 0, NULL);
    expect_same_bits("forward", y, want, len);
    memcpy(io, x, len * sizeof *io);
    cn_act_forward(kind, &p, 1, 1, len, io, io, NULL, NULL, 0, NULL);
    expect_same_bits("forward in place", io, want, len);

    for (size_t i = 0; i < len; i++)
        want[i] = kind == CN_ACT_RELU ? (x[i] > 0 ? dy[i] : 0) : (x[i] > 0 ? dy[i] : s * dy[i]);
    cn_act_backward(kind, &p, 1, 1, len, x, NULL, dy, dx, NULL, NULL, NULL, 0);
    expect_same_bits("backward", dx, want, len);
    memcpy(io, dy, len * sizeof *io);
    cn_act_backward(kind, &p, 1, 1, len, x, NULL, io, io, NULL, NULL, NULL, 0);
    expect_same_bits("backward in place", io, want, len);
    free(x), free(dy), free(y), free(want), free(dx), free(io);
}

Test(fast_kernels, relu_blocks_match_scalar)
{
    static const size_t lens[] = {1, 15, 16, 17, 555, 200003};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        check_linear(CN_ACT_RELU, lens[i]);
        check_linear(CN_ACT_LEAKY_RELU, lens[i]);
        check_linear(CN_ACT_RRELU, lens[i]);
    }
}

Test(fast_kernels, sigmoid_tanh_rrelu_backward_blocks)
{
    const size_t len = 1000;
    cn_act_params p = cn_act_params_default();
    cn_rng r;
    cn_rng_seed(&r, 12, 1);
    cn_real *v = tst_reals(len), *dy = tst_reals(len), *dx = tst_reals(len);
    cn_real *want = tst_reals(len);
    tst_fill_normal(&r, v, len, 1.0);
    tst_fill_normal(&r, dy, len, 1.0);
    cn_act_backward(CN_ACT_SIGMOID, &p, 2, 5, 100, NULL, v, dy, dx, NULL, NULL, NULL, 1);
    for (size_t i = 0; i < len; i++) want[i] = dy[i] * v[i] * (1 - v[i]);
    expect_same_bits("sigmoid", dx, want, len);
    cn_act_backward(CN_ACT_TANH, &p, 2, 5, 100, NULL, v, dy, dx, NULL, NULL, NULL, 1);
    for (size_t i = 0; i < len; i++) want[i] = dy[i] * (1 - v[i] * v[i]);
    expect_same_bits("tanh", dx, want, len);
    cn_act_backward(CN_ACT_RRELU, &p, 2, 5, 100, v, NULL, dy, dx, NULL, NULL, v, 1);
    for (size_t i = 0; i < len; i++) want[i] = dy[i] * v[i];
    expect_same_bits("rrelu training", dx, want, len);
    free(v), free(dy), free(dx), free(want);
}

Test(fast_kernels, prelu_planes_match_scalar)
{
    const int n = 3, c = 4;
    const size_t inner = 37, len = (size_t)n * c * inner;
    cn_act_params p = cn_act_params_default();
    p.prelu_channels = 1;
    cn_rng r;
    cn_rng_seed(&r, 13, 1);
    cn_real *x = tst_reals(len), *dy = tst_reals(len), *y = tst_reals(len);
    cn_real *dx = tst_reals(len), *want = tst_reals(len), a[4] = {0.25, -0.5, 0, 2};
    tst_fill_normal(&r, x, len, 1.0);
    tst_fill_normal(&r, dy, len, 1.0);
    cn_act_forward(CN_ACT_PRELU, &p, n, c, inner, x, y, a, NULL, 1, NULL);
    for (size_t i = 0; i < len; i++) {
        cn_real s = a[(i / inner) % (size_t)c];
        want[i] = x[i] > 0 ? x[i] : s * x[i];
    }
    expect_same_bits("prelu forward", y, want, len);
    cn_act_backward(CN_ACT_PRELU, &p, n, c, inner, x, NULL, dy, dx, a, NULL, NULL, 1);
    for (size_t i = 0; i < len; i++) {
        cn_real s = a[(i / inner) % (size_t)c];
        want[i] = x[i] > 0 ? dy[i] : s * dy[i];
    }
    expect_same_bits("prelu backward", dx, want, len);
    free(x), free(dy), free(y), free(dx), free(want);
}

/* ------------------------------------------------------------------ batch norm */

/* bn_reference: training forward and backward of channel-major x (n, c, inner)
 * in long double: y, dx, dgamma, dbeta. */
static void bn_reference(int n, int c, int inner, const cn_real *x, const cn_real *g,
                         const cn_real *b, const cn_real *dy, double *y, double *dx,
                         double *dg, double *db)
{
    const long double m = (long double)n * inner;
    for (int ch = 0; ch < c; ch++) {
        long double s = 0, q = 0, sdy = 0, sdyx = 0;
#define AT(i, j) (((size_t)(i) * c + ch) * inner + (j))
        for (int i = 0; i < n; i++)
            for (int j = 0; j < inner; j++) s += x[AT(i, j)];
        long double mu = s / m;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < inner; j++) q += (x[AT(i, j)] - mu) * (x[AT(i, j)] - mu);
        long double is = 1.0L / sqrtl(q / m + EPS);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < inner; j++) {
                long double xh = (x[AT(i, j)] - mu) * is;
                y[AT(i, j)] = (double)(g[ch] * xh + b[ch]);
                sdy += dy[AT(i, j)];
                sdyx += dy[AT(i, j)] * xh;
            }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < inner; j++) {
                long double xh = (x[AT(i, j)] - mu) * is;
                dx[AT(i, j)] = (double)(g[ch] * is / m * (m * dy[AT(i, j)] - sdy - xh * sdyx));
            }
#undef AT
        dg[ch] = (double)sdyx;
        db[ch] = (double)sdy;
    }
}

static void expect_close(const char *what, const cn_real *got, const double *want, size_t len,
                         double tol)
{
    for (size_t i = 0; i < len; i++)
        cr_assert(fabs((double)got[i] - want[i]) <= tol * (1.0 + fabs(want[i])),
                  "%s[%zu]: %.17g vs %.17g", what, i, (double)got[i], want[i]);
}

Test(fast_kernels, batchnorm_lane_sums_match_reference)
{
    static const int inners[] = {1, 7, 16, 37, 64};
    for (size_t k = 0; k < sizeof inners / sizeof inners[0]; k++) {
        const int n = 3, c = 4, inner = inners[k];
        const size_t len = (size_t)n * c * inner;
        cn_rng r;
        cn_rng_seed(&r, 21, (uint64_t)inner);
        cn_real *x = tst_reals(len), *dy = tst_reals(len), *y = tst_reals(len);
        cn_real *dx = tst_reals(len), g[4] = {1.5, -0.5, 1, 0.25}, b[4] = {0, 1, -2, 0.5};
        cn_real sm[4], si[4], dg[4] = {0}, db[4] = {0};
        tst_fill_normal(&r, x, len, 2.0);
        for (size_t i = 0; i < len; i++) x[i] += (cn_real)3;
        tst_fill_normal(&r, dy, len, 1.0);
        double *wy = malloc(len * sizeof *wy), *wdx = malloc(len * sizeof *wdx), wdg[4], wdb[4];
        cr_assert(wy && wdx);
        bn_reference(n, c, inner, x, g, b, dy, wy, wdx, wdg, wdb);
        cn_error err;
        cr_assert_eq(cn_batchnorm_forward(n, c, inner, x, g, b, y, 1, 0.1, EPS, NULL, NULL, sm,
                                          si, &err),
                     CN_OK, "%s", err.msg);
        cn_batchnorm_backward(n, c, inner, 1, x, g, sm, si, dy, dx, dg, db);
        expect_close("y", y, wy, len, REF_TOL);
        expect_close("dx", dx, wdx, len, 20 * REF_TOL);
        expect_close("dgamma", dg, wdg, 4, 20 * REF_TOL);
        expect_close("dbeta", db, wdb, 4, 20 * REF_TOL);
        free(x), free(dy), free(y), free(dx), free(wy), free(wdx);
    }
}

/* bn_run: training forward, backward, then evaluation backward with running
 * statistics, at the given thread count; outputs in out[0..4]. */
static void bn_run(int threads, int n, int c, int inner, const cn_real *x, const cn_real *g,
                   const cn_real *b, const cn_real *dy, cn_real **out)
{
    const size_t len = (size_t)n * c * inner;
    cn_set_num_threads(threads);
    cn_real *y = tst_zeros(len), *dx = tst_zeros(len), *dx_eval = tst_zeros(len);
    cn_real *dg = tst_zeros((size_t)c), *rm = tst_zeros((size_t)c), *rv = tst_zeros((size_t)c);
    cn_real *sm = tst_zeros((size_t)c), *si = tst_zeros((size_t)c);
    for (int ch = 0; ch < c; ch++) rv[ch] = 1;
    cr_assert_eq(cn_batchnorm_forward(n, c, inner, x, g, b, y, 1, 0.1, EPS, rm, rv, sm, si,
                                      NULL),
                 CN_OK);
    cn_batchnorm_backward(n, c, inner, 1, x, g, sm, si, dy, dx, dg, NULL);
    cn_batchnorm_backward(n, c, inner, 0, x, g, rm, rv, dy, dx_eval, NULL, NULL);
    out[0] = y, out[1] = dx, out[2] = dg, out[3] = rv, out[4] = dx_eval;
    free(rm), free(sm), free(si);
}

Test(fast_kernels, batchnorm_bit_identical_for_1_and_2_threads)
{
    /* 4 * 6 * 4099 = 98376 elements: above the kernel's parallel threshold */
    const int n = 4, c = 6, inner = 4099;
    const size_t len = (size_t)n * c * inner;
    cn_rng r;
    cn_rng_seed(&r, 22, 1);
    cn_real *x = tst_reals(len), *dy = tst_reals(len), g[6], b[6];
    tst_fill_normal(&r, x, len, 1.5);
    tst_fill_normal(&r, dy, len, 1.0);
    tst_fill_normal(&r, g, 6, 1.0);
    tst_fill_normal(&r, b, 6, 1.0);
    int before = cn_get_num_threads();
    cn_real *o1[5], *o2[5];
    bn_run(1, n, c, inner, x, g, b, dy, o1);
    bn_run(2, n, c, inner, x, g, b, dy, o2);
    cn_set_num_threads(before);
    const size_t sizes[5] = {len, len, (size_t)c, (size_t)c, len};
    static const char *const names[5] = {"y", "dx", "dgamma", "running_var", "dx eval"};
    for (int k = 0; k < 5; k++) {
        expect_same_bits(names[k], o1[k], o2[k], sizes[k]);
        free(o1[k]), free(o2[k]);
    }
    free(x), free(dy);
}

Test(fast_kernels, batchnorm_eval_relu_equals_unfused_pair)
{
    const int n = 3, c = 5, inner = 41;
    const size_t len = (size_t)n * c * inner;
    cn_rng r;
    cn_rng_seed(&r, 23, 1);
    cn_real *x = tst_reals(len), *y = tst_reals(len), *want = tst_reals(len);
    cn_real g[5], b[5], rm[5], rv[5], sm[5], si[5], wm[5], wi[5];
    tst_fill_normal(&r, x, len, 2.0);
    plant_specials(x, len);
    tst_fill_normal(&r, g, 5, 1.0);
    tst_fill_normal(&r, b, 5, 1.0);
    tst_fill_normal(&r, rm, 5, 0.5);
    for (int ch = 0; ch < 5; ch++) rv[ch] = (cn_real)(0.5 + ch);
    cn_act_params p = cn_act_params_default();
    for (int affine = 0; affine < 2; affine++) {
        const cn_real *gg = affine ? g : NULL, *bb = affine ? b : NULL;
        cn_error err;
        cr_assert_eq(cn_batchnorm_forward(n, c, inner, x, gg, bb, want, 0, 0.1, EPS, rm, rv,
                                          wm, wi, &err),
                     CN_OK, "%s", err.msg);
        cn_act_forward(CN_ACT_RELU, &p, n, c, (size_t)inner, want, want, NULL, NULL, 0, NULL);
        cr_assert_eq(cn_batchnorm_eval_relu(n, c, inner, x, gg, bb, y, rm, rv, EPS, sm, si,
                                            &err),
                     CN_OK, "%s", err.msg);
        expect_same_bits("fused", y, want, len);
        expect_same_bits("save_mean", sm, wm, 5);
        expect_same_bits("save_invstd", si, wi, 5);
        memcpy(y, x, len * sizeof *y);
        cr_assert_eq(cn_batchnorm_eval_relu(n, c, inner, y, gg, bb, y, rm, rv, EPS, NULL, NULL,
                                            &err),
                     CN_OK, "%s", err.msg);
        expect_same_bits("fused in place", y, want, len);
    }
    cn_error err;
    cr_assert_eq(cn_batchnorm_eval_relu(n, c, inner, x, g, b, y, NULL, rv, EPS, NULL, NULL,
                                        &err),
                 CN_ERR_ARG);
    cr_assert(strstr(err.msg, "running_mean"), "%s", err.msg);
    cr_assert_eq(cn_batchnorm_eval_relu(0, c, inner, x, g, b, y, rm, rv, EPS, NULL, NULL, &err),
                 CN_ERR_SHAPE);
    free(x), free(y), free(want);
}

/* ------------------------------------------------------------------ pooling */

/* ref_pool: the general loops' semantics for 2x2 stride-2 pooling without
 * padding: max (first maximum in row-major order, NaN wins) with its flat index,
 * or the average summed 0 + a + b + c + d over the window clipped to the input. */
static void ref_pool(const cn_pool2d_geom *g, const cn_real *x, cn_real *y, int32_t *idx)
{
    for (int p = 0; p < g->n * g->c; p++)
        for (int oh = 0; oh < g->h_out; oh++)
            for (int ow = 0; ow < g->w_out; ow++) {
                const cn_real *xp = x + (size_t)p * g->h * g->w;
                size_t o = ((size_t)p * g->h_out + oh) * g->w_out + ow;
                cn_real m = (cn_real)-INFINITY, s = 0;
                int best = 2 * oh * g->w + 2 * ow, cnt = 0;
                for (int ih = 2 * oh; ih < 2 * oh + 2 && ih < g->h; ih++)
                    for (int iw = 2 * ow; iw < 2 * ow + 2 && iw < g->w; iw++) {
                        cn_real v = xp[ih * g->w + iw];
                        s += v;
                        cnt++;
                        if (v > m || isnan(v)) m = v, best = ih * g->w + iw;
                    }
                y[o] = g->kind == CN_POOL_MAX ? m : s / (cn_real)cnt;
                if (idx) idx[o] = best;
            }
}

static void check_pool(cn_pool_kind kind, int h, int w, int ceil_mode)
{
    cn_pool2d_geom g = {.kind = kind, .n = 2, .c = 3, .h = h, .w = w, .kh = 2, .kw = 2,
                        .stride_h = 2, .stride_w = 2, .dil_h = 1, .dil_w = 1,
                        .ceil_mode = ceil_mode, .count_include_pad = 1};
    cn_error err;
    cr_assert_eq(cn_pool2d_geom_init(&g, &err), CN_OK, "%s", err.msg);
    const size_t in = (size_t)6 * h * w, out = (size_t)6 * g.h_out * g.w_out;
    cn_rng r;
    cn_rng_seed(&r, 31, (uint64_t)(h * 100 + w));
    cn_real *x = tst_reals(in), *y = tst_reals(out), *wy = tst_reals(out);
    cn_real *dy = tst_reals(out), *dx = tst_reals(in), *wdx = tst_zeros(in);
    int32_t *idx = malloc(out * sizeof *idx), *widx = malloc(out * sizeof *widx);
    cr_assert(idx && widx);
    for (size_t i = 0; i < in; i++) x[i] = (cn_real)cn_rng_below(&r, 5) - 2; /* many ties */
    for (size_t i = 0; i < in; i += 13) x[i] = (cn_real)-INFINITY;
    tst_fill_nan(x + 5, 1);
    tst_fill_nan(x + 6, 1);
    tst_fill_normal(&r, dy, out, 1.0);
    ref_pool(&g, x, wy, kind == CN_POOL_MAX ? widx : NULL);
    for (size_t i = 0; i < in; i++) dx[i] = 7; /* must be overwritten */
    if (kind == CN_POOL_MAX) {
        cn_maxpool2d_forward(&g, x, y, idx);
        cr_assert(memcmp(idx, widx, out * sizeof *idx) == 0, "indices differ");
        cn_maxpool2d_backward(&g, dy, idx, dx);
        for (size_t o = 0; o < out; o++) {
            size_t plane = o / ((size_t)g.h_out * g.w_out);
            wdx[plane * h * w + (size_t)widx[o]] += dy[o];
        }
    } else {
        cn_avgpool2d_forward(&g, x, y);
        cn_avgpool2d_backward(&g, dy, dx);
        for (size_t o = 0; o < out; o++) {
            size_t plane = o / ((size_t)g.h_out * g.w_out), q = o % ((size_t)g.h_out * g.w_out);
            int oh = (int)(q / (size_t)g.w_out), ow = (int)(q % (size_t)g.w_out), cnt = 0;
            for (int ih = 2 * oh; ih < 2 * oh + 2 && ih < h; ih++)
                for (int iw = 2 * ow; iw < 2 * ow + 2 && iw < w; iw++) cnt++;
            for (int ih = 2 * oh; ih < 2 * oh + 2 && ih < h; ih++)
                for (int iw = 2 * ow; iw < 2 * ow + 2 && iw < w; iw++)
                    wdx[plane * h * w + (size_t)ih * w + iw] += dy[o] / (cn_real)cnt;
        }
    }
    expect_same_bits("y", y, wy, out);
    expect_same_bits("dx", dx, wdx, in);
    free(x), free(y), free(wy), free(dy), free(dx), free(wdx), free(idx), free(widx);
}

Test(fast_kernels, pool_2x2_stride_2_matches_general_semantics)
{
    static const int hw[][3] = {{32, 32, 0}, {28, 28, 0}, {14, 14, 0}, {7, 9, 0},
                                {5, 34, 0},  {6, 20, 1},  {7, 9, 1},  {2, 2, 0}};
    for (size_t i = 0; i < sizeof hw / sizeof hw[0]; i++) {
        check_pool(CN_POOL_MAX, hw[i][0], hw[i][1], hw[i][2]);
        check_pool(CN_POOL_AVG, hw[i][0], hw[i][1], hw[i][2]);
    }
}
