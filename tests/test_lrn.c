/* test_lrn.c: local response normalisation kernels (convnet/norm_kernels.h):
 * forward against a reference written as PyTorch writes it (zero-pad the squares
 * with size/2 channels before and (size-1)/2 after, average `size` of them), odd,
 * even and over-wide windows; backward checked by centred differences; argument
 * errors; thread-count independence; parity with PyTorch (tests/fixtures/norm/). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/classic.h"
#include "convnet/core.h"
#include "convnet/norm_kernels.h"
#include "convnet/safetensors.h"
#include "support.h"

#ifdef CN_DOUBLE
#define FWD_TOL 1e-12
#define GC_H 1e-5
#define GC_TOL 1e-7
#else
#define FWD_TOL 2e-5
#define GC_H 1e-2
#define GC_TOL 2e-2
#endif

static cn_real *rnd(cn_rng *r, size_t len, double shift, double sd)
{
    cn_real *v = malloc((len ? len : 1) * sizeof *v);
    cr_assert(v);
    for (size_t i = 0; i < len; i++) v[i] = (cn_real)(shift + sd * cn_rng_normal(r));
    return v;
}

/* ref_lrn: y (n, c, inner) by padding: sq_pad (c + size - 1) per position, the
 * first size/2 entries zero, then the c squares, then (size-1)/2 zeros; channel
 * ch averages sq_pad[ch .. ch + size - 1]. */
static void ref_lrn(int n, int c, int inner, int size, double alpha, double beta, double k,
                    const cn_real *x, double *y, double *scale)
{
    int padc = c + size - 1;
    double *sq = malloc((size_t)padc * sizeof *sq);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < inner; j++) {
            for (int q = 0; q < padc; q++) sq[q] = 0;
            for (int ch = 0; ch < c; ch++) {
                double v = x[((size_t)i * c + ch) * inner + j];
                sq[size / 2 + ch] = v * v;
            }
            for (int ch = 0; ch < c; ch++) {
                double avg = 0;
                for (int q = 0; q < size; q++) avg += sq[ch + q];
                avg /= size;
                size_t o = ((size_t)i * c + ch) * inner + j;
                scale[o] = k + alpha * avg;
                y[o] = (double)x[o] / pow(scale[o], beta);
            }
        }
    free(sq);
}

static void check_forward(int n, int c, int inner, int size, double alpha, double beta,
                          double k)
{
    size_t len = (size_t)n * c * inner;
    cn_rng r;
    cn_rng_seed(&r, 4, (uint64_t)size);
    cn_real *x = rnd(&r, len, 0.2, 1.5), *y = tst_zeros(len), *s = tst_zeros(len);
    double *wy = malloc(len * sizeof *wy), *ws = malloc(len * sizeof *ws);
    cn_error err;
    cr_assert_eq(cn_lrn_forward(n, c, inner, size, alpha, beta, k, x, y, s, &err), CN_OK, "%s",
                 err.msg);
    ref_lrn(n, c, inner, size, alpha, beta, k, x, wy, ws);
    for (size_t i = 0; i < len; i++) {
        cr_assert(fabs((double)y[i] - wy[i]) <= FWD_TOL * (1 + fabs(wy[i])),
                  "size %d: y[%zu] %.17g vs %.17g", size, i, (double)y[i], wy[i]);
        cr_assert(fabs((double)s[i] - ws[i]) <= FWD_TOL * (1 + fabs(ws[i])),
                  "size %d: scale[%zu] %.17g vs %.17g", size, i, (double)s[i], ws[i]);
    }
    // scale is optional
    cn_real *y2 = tst_zeros(len);
    cr_assert_eq(cn_lrn_forward(n, c, inner, size, alpha, beta, k, x, y2, NULL, &err), CN_OK);
    cr_assert(memcmp(y, y2, len * sizeof *y) == 0);
    free(x); free(y); free(s); free(wy); free(ws); free(y2);
}

Test(lrn, forward_odd_window) { check_forward(2, 7, 5, 5, 1e-2, 0.75, 2.0); }
Test(lrn, forward_even_window) { check_forward(3, 6, 4, 4, 0.3, 0.6, 1.0); }
Test(lrn, forward_window_wider_than_channels) { check_forward(2, 3, 3, 9, 0.5, 1.3, 0.5); }
Test(lrn, forward_size_one_and_features) { check_forward(4, 5, 1, 1, 0.2, 0.75, 1.0); }

/* ------------------------------------------------------------------ gradients */

typedef struct lctx {
    int n, c, inner, size;
    double alpha, beta, k;
    cn_real *x, *R, *y;
} lctx;

static double lloss(void *vctx, const cn_real *unused)
{
    (void)unused;
    lctx *t = vctx;
    size_t len = (size_t)t->n * t->c * t->inner;
    cr_assert_eq(cn_lrn_forward(t->n, t->c, t->inner, t->size, t->alpha, t->beta, t->k, t->x,
                                t->y, NULL, NULL),
                 CN_OK);
    double L = 0.0;
    for (size_t i = 0; i < len; i++) L += (double)t->y[i] * (double)t->R[i];
    return L;
}

/* LRN is smooth wherever scale > 0 (k > 0, alpha >= 0 here), so every coordinate
 * is checked. alpha is large enough that the cross-channel term matters. */
static void check_gradients(int n, int c, int inner, int size, double alpha, double beta,
                            double k)
{
    size_t len = (size_t)n * c * inner;
    cn_rng r;
    cn_rng_seed(&r, 8, (uint64_t)size);
    lctx t = {n, c, inner, size, alpha, beta, k, rnd(&r, len, 0.1, 1.2), rnd(&r, len, 0, 1),
              tst_zeros(len)};
    cn_real *s = tst_zeros(len), *dx = tst_zeros(len);
    cr_assert_eq(cn_lrn_forward(n, c, inner, size, alpha, beta, k, t.x, t.y, s, NULL), CN_OK);
    for (size_t i = 0; i < len; i++) dx[i] = (cn_real)42;  // overwritten
    cn_lrn_backward(n, c, inner, size, alpha, beta, t.x, t.y, s, t.R, dx);
    size_t *coords = malloc(len * sizeof *coords);
    for (size_t i = 0; i < len; i++) coords[i] = i;
    cn_gradcheck_result res;
    cn_error err;
    cr_assert_eq(cn_gradcheck(lloss, &t, t.x, len, dx, coords, len, 0, NULL, GC_H, &res, &err),
                 CN_OK, "%s", err.msg);
    cr_log_info("lrn size %d dx: max rel err %.3g at %zu (%.9g vs %.9g)", size,
                res.max_rel_err, res.worst_index, res.worst_analytic, res.worst_numeric);
    cr_expect(res.max_rel_err < GC_TOL, "size %d: max rel err %g at %zu (%.12g vs %.12g)",
              size, res.max_rel_err, res.worst_index, res.worst_analytic, res.worst_numeric);
    free(coords); free(t.x); free(t.R); free(t.y); free(s); free(dx);
}

Test(lrn, gradients_odd_window) { check_gradients(2, 6, 3, 3, 0.8, 0.75, 1.0); }
Test(lrn, gradients_even_window) { check_gradients(2, 5, 2, 4, 1.2, 0.6, 1.5); }
Test(lrn, gradients_wide_window) { check_gradients(1, 3, 4, 7, 0.9, 1.1, 0.7); }

/* ------------------------------------------------------------------ errors, threads */

Test(lrn, argument_errors)
{
    cn_real x[6] = {1, 2, 3, 4, 5, 6}, y[6] = {0};
    cn_error err;
    cr_assert_eq(cn_lrn_forward(1, 0, 6, 5, 1e-4, 0.75, 1, x, y, NULL, &err), CN_ERR_SHAPE);
    cr_assert_eq(cn_lrn_forward(1, 6, 1, 0, 1e-4, 0.75, 1, x, y, NULL, &err), CN_ERR_SHAPE);
    cr_assert(strstr(err.msg, "size 0"), "%s", err.msg);
    cr_assert_eq(cn_lrn_forward(1, 6, 1, 2, NAN, 0.75, 1, x, y, NULL, &err), CN_ERR_ARG);
    cr_assert_eq(cn_lrn_forward(1, 6, 1, 2, 1e-4, INFINITY, 1, x, y, NULL, &err), CN_ERR_ARG);
    cr_assert_eq(cn_lrn_forward(1 << 30, 1 << 30, 4, 2, 1e-4, 0.75, 1, x, y, NULL, &err),
                 CN_ERR_RANGE);
    cr_assert(y[0] == 0, "output touched on error");
}

Test(lrn, same_result_for_any_thread_count)
{
    const int n = 3, c = 11, inner = 17, size = 5;
    size_t len = (size_t)n * c * inner;
    cn_rng r;
    cn_rng_seed(&r, 3, 3);
    cn_real *x = rnd(&r, len, 0, 2), *dy = rnd(&r, len, 0, 1);
    cn_real *res[2][3];
    for (int k = 0; k < 2; k++) {
        cn_set_num_threads(k + 1);
        cn_real *y = tst_zeros(len), *s = tst_zeros(len), *dx = tst_zeros(len);
        cr_assert_eq(cn_lrn_forward(n, c, inner, size, 1e-3, 0.75, 2, x, y, s, NULL), CN_OK);
        cn_lrn_backward(n, c, inner, size, 1e-3, 0.75, x, y, s, dy, dx);
        res[k][0] = y, res[k][1] = s, res[k][2] = dx;
    }
    for (int i = 0; i < 3; i++)
        cr_assert(memcmp(res[0][i], res[1][i], len * sizeof(cn_real)) == 0, "output %d", i);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 3; i++) free(res[k][i]);
    free(x); free(dy);
}

/* ------------------------------------------------------------------ PyTorch parity */

#define FIX_DIR "tests/fixtures/norm/"

/* Fixtures are float64. In double the kernels agree with torch to ~1e-15 (the
 * same formula; torch pads and average-pools the squares, which sums them in
 * another order); 1e-10 leaves room. The float build rounds inputs to float
 * (relative 6e-8) and computes in double, so y and dx (values of size <= ~4)
 * differ by a few float ulps (measured <= 1.2e-7): 1e-5 bounds that with margin. */
#ifdef CN_DOUBLE
#define PAR_TOL 1e-10
#else
#define PAR_TOL 1e-5
#endif


/* parity_case: <file>.safetensors holds x (n, c, h, w), dy, y, dx; metadata size,
 * alpha, beta, k. */
static void parity_case(const char *file)
{
    char path[256];
    snprintf(path, sizeof path, FIX_DIR "%s.safetensors", file);
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(path, &st, &err), CN_OK, "%s", err.msg);
    int size = (int)tst_fx_meta_num(st, "size");
    double alpha = tst_fx_meta_num(st, "alpha"), beta = tst_fx_meta_num(st, "beta"), k = tst_fx_meta_num(st, "k");
    cn_tensor *x = tst_fx_tensor(st, "x", 0), *dy = tst_fx_tensor(st, "dy", 0), *yr = tst_fx_tensor(st, "y", 0), *dxr = tst_fx_tensor(st, "dx", 0);
    cr_assert_eq(x->ndim, 4);
    int n = x->shape[0], c = x->shape[1], inner = x->shape[2] * x->shape[3];
    size_t len = x->numel;
    cn_real *y = calloc(len, sizeof *y), *s = calloc(len, sizeof *s);
    cn_real *dx = calloc(len, sizeof *dx);
    cr_assert_eq(cn_lrn_forward(n, c, inner, size, alpha, beta, k, x->data, y, s, &err), CN_OK,
                 "%s", err.msg);
    cn_lrn_backward(n, c, inner, size, alpha, beta, x->data, y, s, dy->data, dx);
    double ey = tst_max_abs_diff(y, yr->data, len), edx = tst_max_abs_diff(dx, dxr->data, len);
    cr_log_info("parity %s (%s): max abs diff y %.3g, dx %.3g", file, CN_REAL_NAME, ey, edx);
    cr_expect_lt(ey, PAR_TOL, "%s y: %g", file, ey);
    cr_expect_lt(edx, PAR_TOL, "%s dx: %g", file, edx);
    free(y); free(s); free(dx);
    cn_tensor_free(x), cn_tensor_free(dy), cn_tensor_free(yr), cn_tensor_free(dxr);
    cn_safetensors_free(st);
}

Test(lrn, pytorch_parity_size5) { parity_case("lrn_size5"); }
Test(lrn, pytorch_parity_size4) { parity_case("lrn_size4"); }
