/* test_softmax.c: softmax and log-softmax over an axis (src/kernels/softmax.c):
 * forward against a direct reference on awkward (outer, dim, inner) views, rows
 * summing to 1, stability with huge logits, shift invariance, NaN/Inf handling,
 * finite-difference gradient checks of both backward passes for an inner and a
 * last axis, thread-count independence, and parity with PyTorch fixtures along
 * dim 1 and the last dim (tests/fixtures/activation/, tools/fixtures/activation.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/activation_kernels.h"
#include "convnet/classic.h"
#include "convnet/safetensors.h"

#ifdef CN_DOUBLE
#define GC_H 1e-5
#define GC_TOL 1e-7  /* the project's bound for smooth ops in double */
#define FWD_TOL 1e-14
#else
#define GC_H 1e-2
#define GC_TOL 3e-2  /* float: centred differences lose ~eps/h of each term */
#define FWD_TOL 1e-6
#endif

typedef void (*fwd_fn)(int, int, size_t, const cn_real *, cn_real *);
typedef void (*bwd_fn)(int, int, size_t, const cn_real *, const cn_real *, cn_real *);

static void fill(cn_rng *r, cn_real *x, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++) x[i] = (cn_real)(scale * cn_rng_normal(r));
}

/* ref: softmax (log 0) or log-softmax (log 1) of x (outer, dim, inner) along the
 * axis, written straight from the definition in double (log-sum-exp shifted). */
static void ref(int log, int outer, int dim, size_t inner, const cn_real *x, double *y)
{
    for (int o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            size_t base = (size_t)o * (size_t)dim * inner + i;
            double m = -INFINITY, s = 0;
            for (int d = 0; d < dim; d++) m = fmax(m, x[base + (size_t)d * inner]);
            for (int d = 0; d < dim; d++) s += exp(x[base + (size_t)d * inner] - m);
            for (int d = 0; d < dim; d++) {
                double v = x[base + (size_t)d * inner] - m;
                y[base + (size_t)d * inner] = log ? v - log1p(s - 1) : exp(v) / s;
            }
        }
}

static void check_forward(int log, int outer, int dim, size_t inner)
{
    size_t n = (size_t)outer * (size_t)dim * inner;
    cn_real *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    double *r = malloc(n * sizeof *r);
    cr_assert(x && y && r);
    cn_rng g;
    cn_rng_seed(&g, (uint64_t)(outer * 131 + dim * 17) + inner, 4);
    fill(&g, x, n, 3);
    (log ? cn_log_softmax_forward : cn_softmax_forward)(outer, dim, inner, x, y);
    ref(log, outer, dim, inner, x, r);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)y[i] - r[i]) / (1 + fabs(r[i]));
        if (e > worst) worst = e;
    }
    cr_expect_lt(worst, FWD_TOL, "%s (%d, %d, %zu): err %g", log ? "log_softmax" : "softmax",
                 outer, dim, inner, worst);
    if (!log)
        for (int o = 0; o < outer; o++)
            for (size_t i = 0; i < inner; i++) {
                double s = 0;
                for (int d = 0; d < dim; d++) s += y[(size_t)o * (size_t)dim * inner + (size_t)d * inner + i];
                cr_expect(fabs(s - 1) < 10 * FWD_TOL * dim, "row sum %g", s);
            }
    free(x), free(y), free(r);
}

Test(softmax, forward_matches_reference)
{
    static const int shapes[][3] = {{1, 1, 1}, {3, 7, 1}, {2, 5, 9}, {1, 13, 4}, {4, 1, 3}, {5, 31, 2}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int log = 0; log < 2; log++)
            check_forward(log, shapes[s][0], shapes[s][1], (size_t)shapes[s][2]);
}

Test(softmax, stable_and_shift_invariant)
{
    cn_real x[4] = {1000, 1001, 999, (cn_real)-1000}, x2[4], y[4], y2[4];
    cn_softmax_forward(1, 4, 1, x, y);
    for (int i = 0; i < 4; i++) cr_expect(isfinite(y[i]), "y[%d] = %g", i, (double)y[i]);
    cr_expect(fabs((double)y[1] - 1 / (1 + exp(-1.0) + exp(-2.0))) < 1e-6);
    cr_expect_eq(y[3], 0);
    for (int i = 0; i < 4; i++) x2[i] = x[i] - 1000;
    cn_softmax_forward(1, 4, 1, x2, y2);
    for (int i = 0; i < 4; i++) cr_expect(fabs((double)y[i] - (double)y2[i]) < 1e-7);
    cn_log_softmax_forward(1, 4, 1, x, y);
    cr_expect(fabs((double)y[3] + 2001 + log1p(exp(-1.0) + exp(-2.0))) < 1e-3, "%g", (double)y[3]);
    /* a NaN poisons its row only; an infinite logit gives NaN as in PyTorch */
    cn_real z[6] = {1, NAN, 2, 1, 2, 3}, zy[6];
    cn_softmax_forward(2, 3, 1, z, zy);
    for (int i = 0; i < 3; i++) cr_expect(isnan(zy[i]));
    for (int i = 3; i < 6; i++) cr_expect(isfinite(zy[i]));
    cn_real u[2] = {INFINITY, 0}, uy[2];
    cn_softmax_forward(1, 2, 1, u, uy);
    cr_expect(isnan(uy[0]));
}

/* ------------------------------------------------------------------ gradient checks */

typedef struct gc_ctx {
    fwd_fn f;
    int outer, dim;
    size_t inner;
    const cn_real *R;
    cn_real *y;
} gc_ctx;

static double gc_f(void *ctx, const cn_real *x)
{
    gc_ctx *g = ctx;
    g->f(g->outer, g->dim, g->inner, x, g->y);
    double s = 0;
    size_t n = (size_t)g->outer * (size_t)g->dim * g->inner;
    for (size_t i = 0; i < n; i++) s += (double)g->y[i] * (double)g->R[i];
    return s;
}

static void check_grad(int log, int outer, int dim, size_t inner)
{
    enum { MAXN = 256 };
    size_t n = (size_t)outer * (size_t)dim * inner;
    cr_assert(n <= MAXN);
    cn_real x[MAXN], R[MAXN], y[MAXN], dx[MAXN];
    cn_rng g;
    cn_rng_seed(&g, 77 + n, 5);
    fill(&g, x, n, 1.5);
    fill(&g, R, n, 1.0);
    fwd_fn f = log ? cn_log_softmax_forward : cn_softmax_forward;
    bwd_fn b = log ? cn_log_softmax_backward : cn_softmax_backward;
    f(outer, dim, inner, x, y);
    b(outer, dim, inner, y, R, dx);
    /* dx may alias dy */
    cn_real dd[MAXN];
    memcpy(dd, R, n * sizeof *dd);
    b(outer, dim, inner, y, dd, dd);
    cr_expect_eq(memcmp(dd, dx, n * sizeof *dx), 0, "in-place backward");
    gc_ctx c = {f, outer, dim, inner, R, y};
    size_t coords[MAXN];
    for (size_t i = 0; i < n; i++) coords[i] = i;
    cn_gradcheck_result res;
    cn_error err;
    cr_assert_eq(cn_gradcheck(gc_f, &c, x, n, dx, coords, n, 0, NULL, GC_H, &res, &err), CN_OK,
                 "%s", err.msg);
    cr_expect_lt(res.max_rel_err, GC_TOL, "%s (%d, %d, %zu): rel err %g at %zu (a %g n %g)",
                 log ? "log_softmax" : "softmax", outer, dim, inner, res.max_rel_err,
                 res.worst_index, res.worst_analytic, res.worst_numeric);
}

Test(softmax, gradcheck)
{
    for (int log = 0; log < 2; log++) {
        check_grad(log, 3, 6, 1);  /* last axis */
        check_grad(log, 2, 5, 7);  /* middle axis */
        check_grad(log, 1, 4, 9);  /* first axis */
        check_grad(log, 4, 1, 2);  /* a single class: y = 1 (log 0), gradient 0 */
    }
}

Test(softmax, independent_of_thread_count)
{
    enum { O = 4, D = 10, I = 2048, NN = O * D * I };
    cn_real *x = malloc(NN * sizeof *x), *y1 = malloc(NN * sizeof *x), *y2 = malloc(NN * sizeof *x);
    cn_real *d1 = malloc(NN * sizeof *x), *d2 = malloc(NN * sizeof *x);
    cr_assert(x && y1 && y2 && d1 && d2);
    cn_rng g;
    cn_rng_seed(&g, 3, 3);
    fill(&g, x, NN, 2);
    int saved = cn_get_num_threads();
    cn_set_num_threads(1);
    cn_softmax_forward(O, D, I, x, y1);
    cn_softmax_backward(O, D, I, y1, x, d1);
    cn_set_num_threads(2);
    cn_softmax_forward(O, D, I, x, y2);
    cn_softmax_backward(O, D, I, y2, x, d2);
    cn_set_num_threads(saved);
    cr_expect_eq(memcmp(y1, y2, NN * sizeof *x), 0);
    cr_expect_eq(memcmp(d1, d2, NN * sizeof *x), 0);
    free(x), free(y1), free(y2), free(d1), free(d2);
}

/* ------------------------------------------------------------------ PyTorch parity */

/* Fixtures are float64. Float build: inputs rounded to float, sums in double,
 * outputs of size <= ~10 (log-softmax) rounded to float: 1e-5 absolute covers a
 * few ulps. Double: ~1e-15 expected, 1e-12 leaves room for summation order. */
#ifdef CN_DOUBLE
#define PAR_TOL 1e-12
#else
#define PAR_TOL 1e-5
#endif

static cn_tensor *get(const cn_safetensors *st, const char *name)
{
    cn_tensor *t = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_get_real(st, name, &t, &err), CN_OK, "%s", err.msg);
    return t;
}

static double max_diff(const cn_real *a, const cn_real *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || isnan(d)) m = d;
    }
    return m;
}

static void parity(const char *file, int log, int axis)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/activation/%s.safetensors", file);
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(path, &st, &err), CN_OK, "%s", err.msg);
    cn_tensor *x = get(st, "x"), *dy = get(st, "dy"), *yr = get(st, "y"), *dxr = get(st, "dx");
    int outer = 1, dim = x->shape[axis];
    size_t inner = 1;
    for (int a = 0; a < axis; a++) outer *= x->shape[a];
    for (int a = axis + 1; a < x->ndim; a++) inner *= (size_t)x->shape[a];
    cn_real *y = calloc(x->numel, sizeof *y), *dx = calloc(x->numel, sizeof *dx);
    cr_assert(y && dx);
    (log ? cn_log_softmax_forward : cn_softmax_forward)(outer, dim, inner, x->data, y);
    (log ? cn_log_softmax_backward : cn_softmax_backward)(outer, dim, inner, y, dy->data, dx);
    double ey = max_diff(y, yr->data, x->numel), edx = max_diff(dx, dxr->data, x->numel);
    cr_log_info("parity %s (%s): max abs diff y %.3g, dx %.3g", file, CN_REAL_NAME, ey, edx);
    cr_expect_lt(ey, PAR_TOL, "%s y %g", file, ey);
    cr_expect_lt(edx, PAR_TOL, "%s dx %g", file, edx);
    free(y), free(dx);
    cn_tensor_free(x), cn_tensor_free(dy), cn_tensor_free(yr), cn_tensor_free(dxr);
    cn_safetensors_free(st);
}

Test(softmax, pytorch_parity)
{
    parity("softmax_dim1", 0, 1);
    parity("softmax_dimlast", 0, 3);
    parity("log_softmax_dim1", 1, 1);
    parity("log_softmax_dimlast", 1, 3);
}
