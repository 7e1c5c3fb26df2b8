/* test_init.c: the weight initialisers (include/convnet/init.h): names, parsing
 * with nearest-name suggestions, calculate_gain and fan-in / fan-out against
 * PyTorch's values, PyTorch's defaults, exact constants, the sample statistics of
 * every random kind on a linear-shaped (256, 128) and a conv-shaped (64, 32, 3, 3)
 * weight, orthogonality and torch's QR sign convention, exact sparse zero counts,
 * determinism for a seed, empty weights and every error path. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"
#include "convnet/init.h"
#include "support.h"

#ifdef CN_DOUBLE
#define ORTHO_TOL 1e-12 /* the brief's bound; Householder in double gives ~1e-14 */
#define TRI_TOL 1e-10   /* entries of R are O(sqrt(288)): double rounding */
#else
#define ORTHO_TOL 1e-5  /* float rounding of each W entry (6e-8 rel) over 288-term sums */
#define TRI_TOL 1e-4
#endif

/* Statistical tolerance. The fills are deterministic for a seed, so these bounds
 * only make sure a test is not passing by a lucky seed: every check allows 6
 * standard errors (a two-sided 6-sigma event has probability 2e-9). With N
 * elements (18432 for (64, 32, 3, 3), 32768 for (256, 128)):
 *  - sample mean: SE = sigma / sqrt(N)  (<= 0.0074 sigma);
 *  - sample std of a normal: relative SE = 1 / sqrt(2N) (<= 0.0052);
 *  - sample std of a uniform: Var(s^2) = (kurtosis - 1) sigma^4 / N = 0.8 sigma^4 / N,
 *    so the relative SE of s is 0.5 sqrt(0.8 / N) = 0.447 / sqrt(N) (<= 0.0033);
 *  - the fraction of a normal within one std of the mean, p = 0.6827, has
 *    SE = sqrt(p (1 - p) / N) (<= 0.0034): this tells a normal from a uniform of
 *    the same std (0.577);
 *  - a uniform's extremes: P(no draw in the top 1% of the range) = 0.99^N < 1e-80. */
#define NSIG 6.0

static const int SHAPE_LIN[2] = {256, 128};     /* fan_in 128, fan_out 256 */
static const int SHAPE_CONV[4] = {64, 32, 3, 3}; /* fan_in 288, fan_out 576 */

/* ------------------------------------------------------------------ helpers */

typedef struct stats {
    double mean, std, min, max, within1; /* within1: fraction with |x - mean| < std */
    size_t n;
} stats;

static stats stats_of(const cn_real *w, size_t n)
{
    stats s = {0, 0, INFINITY, -INFINITY, 0, n};
    for (size_t i = 0; i < n; i++) {
        s.mean += w[i];
        if (w[i] < s.min) s.min = w[i];
        if (w[i] > s.max) s.max = w[i];
    }
    s.mean /= (double)n;
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (w[i] - s.mean) * (w[i] - s.mean);
    s.std = sqrt(ss / (double)(n - 1));
    size_t in = 0;
    for (size_t i = 0; i < n; i++) in += fabs(w[i] - s.mean) < s.std;
    s.within1 = (double)in / (double)n;
    return s;
}

static size_t numel_of(int ndim, const int *shape)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

/* check_normal: w looks like N(mu, sigma^2) at the 6-SE level. */
static void check_normal(const char *what, const cn_real *w, size_t n, double mu, double sigma)
{
    stats s = stats_of(w, n);
    double rn = sqrt((double)n);
    cr_log_info("%s: mean %.5g (want %.5g) std %.5g (want %.5g) within1 %.4f", what, s.mean,
                mu, s.std, sigma, s.within1);
    cr_expect(fabs(s.mean - mu) <= NSIG * sigma / rn, "%s: mean %g, want %g", what, s.mean, mu);
    cr_expect(fabs(s.std / sigma - 1) <= NSIG / sqrt(2.0 * (double)n), "%s: std %g, want %g",
              what, s.std, sigma);
    double p = 0.682689492137086;
    cr_expect(fabs(s.within1 - p) <= NSIG * sqrt(p * (1 - p) / (double)n),
              "%s: %.4f within one std, want %.4f (not normal?)", what, s.within1, p);
}

/* check_uniform: w looks like U[lo, hi) at the 6-SE level, every value inside. */
static void check_uniform(const char *what, const cn_real *w, size_t n, double lo, double hi)
{
    stats s = stats_of(w, n);
    double span = hi - lo, sigma = span / sqrt(12.0), rn = sqrt((double)n);
    cr_log_info("%s: min %.5g max %.5g (want %.5g %.5g) mean %.5g std %.5g", what, s.min, s.max,
                lo, hi, s.mean, s.std);
    cr_expect(s.min >= (double)(cn_real)lo && s.max <= (double)(cn_real)hi,
              "%s: range [%g, %g] outside [%g, %g]", what, s.min, s.max, lo, hi);
    cr_expect(s.min < lo + 0.01 * span && s.max > hi - 0.01 * span,
              "%s: range [%g, %g] does not reach [%g, %g]", what, s.min, s.max, lo, hi);
    cr_expect(fabs(s.mean - 0.5 * (lo + hi)) <= NSIG * sigma / rn, "%s: mean %g", what, s.mean);
    cr_expect(fabs(s.std / sigma - 1) <= NSIG * 0.447 / rn, "%s: std %g, want %g", what, s.std,
              sigma);
}

static cn_real *filled(const cn_init *spec, int ndim, const int *shape, uint64_t seed)
{
    size_t n = numel_of(ndim, shape);
    cn_real *w = tst_reals(n);
    tst_fill_nan(w, n);
    cn_rng r;
    cn_rng_seed(&r, seed, 7);
    cn_error err;
    cr_assert_eq(cn_init_fill(spec, ndim, shape, w, &r, &err), CN_OK, "%s", err.msg);
    return w;
}

/* ------------------------------------------------------------------ names */

Test(init, names_round_trip_and_aliases)
{
    cn_error err;
    cn_init_kind k;
    const char *want[CN_INIT_COUNT] = {
        "default",        "zeros",           "ones",         "constant",      "normal",
        "uniform",        "xavier_normal",   "xavier_uniform", "kaiming_normal",
        "kaiming_uniform", "lecun_normal",   "lecun_uniform", "orthogonal",   "sparse"};
    for (int i = 0; i < CN_INIT_COUNT; i++) {
        cr_expect_str_eq(cn_init_name((cn_init_kind)i), want[i]);
        cr_assert_eq(cn_init_parse(want[i], &k, &err), CN_OK, "%s", err.msg);
        cr_expect_eq((int)k, i);
    }
    cr_expect_str_eq(cn_init_name(CN_INIT_COUNT), "?");
    cr_expect_str_eq(cn_init_name((cn_init_kind)-1), "?");
    cr_assert_eq(cn_init_parse("glorot_uniform", &k, &err), CN_OK);
    cr_expect_eq(k, CN_INIT_XAVIER_UNIFORM);
    cr_assert_eq(cn_init_parse("he_normal", &k, &err), CN_OK);
    cr_expect_eq(k, CN_INIT_KAIMING_NORMAL);

    const char *gains[CN_GAIN_COUNT] = {"linear", "sigmoid", "tanh", "relu", "leaky_relu",
                                        "selu"};
    cn_gain_kind g;
    for (int i = 0; i < CN_GAIN_COUNT; i++) {
        cr_expect_str_eq(cn_gain_name((cn_gain_kind)i), gains[i]);
        cr_assert_eq(cn_gain_parse(gains[i], &g, &err), CN_OK, "%s", err.msg);
        cr_expect_eq((int)g, i);
    }
    cr_expect_str_eq(cn_gain_name(CN_GAIN_COUNT), "?");
    cr_assert_eq(cn_gain_parse("conv2d", &g, &err), CN_OK);
    cr_expect_eq(g, CN_GAIN_LINEAR);
    cr_assert_eq(cn_gain_parse("conv_transpose3d", &g, &err), CN_OK);
    cr_expect_eq(g, CN_GAIN_LINEAR);
}

Test(init, unknown_names_list_valid_and_suggest_nearest)
{
    cn_error err;
    cn_init_kind k = CN_INIT_ONES;
    cr_assert_eq(cn_init_parse("xavier_norml", &k, &err), CN_ERR_ARG);
    cr_expect_eq(k, CN_INIT_ONES, "output untouched on error");
    cr_log_info("%s", err.msg);
    cr_expect(strstr(err.msg, "'xavier_norml'"), "%s", err.msg);
    cr_expect(strstr(err.msg, "did you mean 'xavier_normal'"), "%s", err.msg);
    cr_expect(strstr(err.msg, "orthogonal") && strstr(err.msg, "lecun_uniform"), "%s", err.msg);
    cr_assert_eq(cn_init_parse("Kaiming_Uniform", &k, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "did you mean 'kaiming_uniform'"), "%s", err.msg);
    cr_assert_eq(cn_init_parse("orthogonal_", &k, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "did you mean 'orthogonal'"), "%s", err.msg);
    cr_assert_eq(cn_init_parse("", &k, &err), CN_ERR_ARG);
    cr_assert_eq(cn_init_parse(NULL, &k, &err), CN_ERR_ARG);
    cr_assert_eq(cn_init_parse("zeros", NULL, &err), CN_ERR_ARG);

    cn_gain_kind g = CN_GAIN_TANH;
    cr_assert_eq(cn_gain_parse("leaky_rel", &g, &err), CN_ERR_ARG);
    cr_expect_eq(g, CN_GAIN_TANH);
    cr_expect(strstr(err.msg, "did you mean 'leaky_relu'"), "%s", err.msg);
    cr_expect(strstr(err.msg, "selu"), "%s", err.msg);
    cr_assert_eq(cn_gain_parse(NULL, &g, &err), CN_ERR_ARG);
    cr_assert_eq(cn_init_parse("nope", &k, NULL), CN_ERR_ARG, "err may be NULL");
}

/* ------------------------------------------------------------------ PyTorch values */

/* Values printed by PyTorch 1.13 (/usr/bin/python3):
 *   torch.nn.init.calculate_gain(nl, param) and
 *   torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape)). */
Test(init, gains_match_pytorch)
{
    const struct {
        cn_gain_kind k;
        double param, want;
    } G[] = {
        {CN_GAIN_LINEAR, 0, 1.0},
        {CN_GAIN_SIGMOID, 0, 1.0},
        {CN_GAIN_TANH, 0, 1.6666666666666667},
        {CN_GAIN_RELU, 0, 1.4142135623730951},
        {CN_GAIN_LEAKY_RELU, 0.01, 1.4141428569978354}, /* param None means 0.01 */
        {CN_GAIN_LEAKY_RELU, 0, 1.4142135623730951},
        {CN_GAIN_LEAKY_RELU, 0.2, 1.3867504905630728},
        {CN_GAIN_SELU, 0, 0.75},
        {CN_GAIN_RELU, 5.0, 1.4142135623730951}, /* param ignored */
    };
    for (size_t i = 0; i < sizeof G / sizeof G[0]; i++)
        cr_expect(fabs(cn_init_gain(G[i].k, G[i].param) - G[i].want) <= 1e-15,
                  "gain %s(%g) = %.17g, want %.17g", cn_gain_name(G[i].k), G[i].param,
                  cn_init_gain(G[i].k, G[i].param), G[i].want);
    cr_expect(isnan(cn_init_gain(CN_GAIN_COUNT, 0)));
}

Test(init, fans_match_pytorch)
{
    const struct {
        int ndim, shape[5];
        double fin, fout;
    } F[] = {
        {2, {256, 128}, 128, 256},  {4, {64, 32, 3, 3}, 288, 576}, {3, {8, 4, 5}, 20, 40},
        {5, {3, 2, 2, 2, 2}, 16, 24}, {2, {10, 1}, 1, 10},         {3, {5, 0, 3}, 0, 15},
    };
    cn_error err;
    for (size_t i = 0; i < sizeof F / sizeof F[0]; i++) {
        double fin = -1, fout = -1;
        cr_assert_eq(cn_init_fans(F[i].ndim, F[i].shape, &fin, &fout, &err), CN_OK, "%s",
                     err.msg);
        cr_expect(fin == F[i].fin && fout == F[i].fout, "case %zu: fans %g %g, want %g %g", i,
                  fin, fout, F[i].fin, F[i].fout);
    }
    double fin;
    cr_assert_eq(cn_init_fans(2, SHAPE_LIN, &fin, NULL, &err), CN_OK, "fan_out may be NULL");
    cr_expect(fin == 128);
    /* PyTorch: "Fan in and fan out can not be computed for tensor with fewer than 2
     * dimensions". */
    int one[1] = {5};
    cr_assert_eq(cn_init_fans(1, one, &fin, NULL, &err), CN_ERR_SHAPE);
    cr_expect(strstr(err.msg, "rank >= 2") && strstr(err.msg, "(5)"), "%s", err.msg);
    int neg[2] = {3, -1};
    cr_assert_eq(cn_init_fans(2, neg, &fin, NULL, &err), CN_ERR_SHAPE);
    cr_assert_eq(cn_init_fans(2, NULL, &fin, NULL, &err), CN_ERR_ARG);
    int big[CN_MAX_DIMS + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    cr_assert_eq(cn_init_fans(CN_MAX_DIMS + 1, big, &fin, NULL, &err), CN_ERR_SHAPE);
}

Test(init, make_gives_pytorch_defaults)
{
    for (int k = 0; k < CN_INIT_COUNT; k++) {
        cn_init s = cn_init_make((cn_init_kind)k);
        cn_error err;
        cr_expect_eq((int)s.kind, k);
        cr_expect_eq(cn_init_check(&s, &err), CN_OK, "%s: %s", cn_init_name(s.kind), err.msg);
        cr_expect(s.mean == 0 && s.std == 1 && s.low == 0 && s.high == 1 && s.gain == 1);
        /* kaiming_*_(a=0, mode='fan_in', nonlinearity='leaky_relu'): the relu gain */
        cr_expect(s.nonlinearity == CN_GAIN_LEAKY_RELU && s.neg_slope == 0 && s.fan_out == 0);
        cr_expect(cn_init_gain(s.nonlinearity, s.neg_slope) == sqrt(2.0));
        cr_expect(s.sparsity == 0.9 && s.nonzero == 0 && s.sparse_std == 0.01 && s.value == 0);
    }
    cn_init bad = cn_init_make((cn_init_kind)99);
    cn_error err;
    cr_expect_eq(cn_init_check(&bad, &err), CN_ERR_ARG);
}

/* ------------------------------------------------------------------ constants */

Test(init, constants_are_exact_and_need_no_rng)
{
    const int *shapes[2] = {SHAPE_LIN, SHAPE_CONV};
    const int ndims[2] = {2, 4};
    cn_error err;
    for (int si = 0; si < 2; si++) {
        size_t n = numel_of(ndims[si], shapes[si]);
        cn_real *w = tst_reals(n);
        const struct {
            cn_init_kind k;
            double v;
        } C[] = {{CN_INIT_ZEROS, 0.0}, {CN_INIT_ONES, 1.0}, {CN_INIT_CONSTANT, 0.37},
                 {CN_INIT_CONSTANT, -2.5}};
        for (size_t c = 0; c < sizeof C / sizeof C[0]; c++) {
            cn_init s = cn_init_make(C[c].k);
            s.value = C[c].v;
            tst_fill_nan(w, n);
            cr_assert_eq(cn_init_fill(&s, ndims[si], shapes[si], w, NULL, &err), CN_OK, "%s",
                         err.msg);
            const cn_real want = (cn_real)C[c].v;
            size_t bad = 0;
            for (size_t i = 0; i < n; i++) bad += w[i] != want;
            cr_expect_eq(bad, 0, "%s %g: %zu elements differ", cn_init_name(C[c].k), C[c].v,
                         bad);
        }
        free(w);
    }
    /* A bias: 1-D is fine for the non-fan kinds. */
    int bias[1] = {10};
    cn_real b[10];
    cn_init z = cn_init_make(CN_INIT_ZEROS);
    cr_assert_eq(cn_init_fill(&z, 1, bias, b, NULL, &err), CN_OK, "%s", err.msg);
    for (int i = 0; i < 10; i++) cr_expect(b[i] == 0);
}

/* ------------------------------------------------------------------ statistics */

/* The random kinds with their expected distribution on (256, 128) [fan_in 128,
 * fan_out 256] and (64, 32, 3, 3) [fan_in 288, fan_out 576], written out from the
 * formulas (not from the code). */
Test(init, random_kinds_match_their_formulas)
{
    const int *shapes[2] = {SHAPE_LIN, SHAPE_CONV};
    const int ndims[2] = {2, 4};
    const double fin[2] = {128, 288}, fout[2] = {256, 576};
    for (int si = 0; si < 2; si++) {
        const size_t n = numel_of(ndims[si], shapes[si]);
        const double fi = fin[si], fo = fout[si];
        char what[96];
        for (int variant = 0; variant < 12; variant++) {
            cn_init s;
            int uniform = 0;
            double mu = 0, sig = 0, lo = 0, hi = 0;
            switch (variant) {
            case 0:
                s = cn_init_make(CN_INIT_NORMAL);
                s.mean = 0.5;
                s.std = 2.0;
                mu = 0.5, sig = 2.0;
                break;
            case 1:
                s = cn_init_make(CN_INIT_UNIFORM);
                s.low = -1.0;
                s.high = 3.0;
                uniform = 1, lo = -1, hi = 3;
                break;
            case 2:
                s = cn_init_make(CN_INIT_XAVIER_NORMAL);
                sig = sqrt(2.0 / (fi + fo));
                break;
            case 3:
                s = cn_init_make(CN_INIT_XAVIER_UNIFORM);
                s.gain = 5.0 / 3.0;
                uniform = 1, hi = 5.0 / 3.0 * sqrt(6.0 / (fi + fo)), lo = -hi;
                break;
            case 4: /* PyTorch's default: a = 0, leaky_relu, fan_in: sqrt(2 / fan_in) */
                s = cn_init_make(CN_INIT_KAIMING_NORMAL);
                sig = sqrt(2.0 / fi);
                break;
            case 5:
                s = cn_init_make(CN_INIT_KAIMING_NORMAL);
                s.fan_out = 1;
                s.nonlinearity = CN_GAIN_RELU;
                sig = sqrt(2.0 / fo);
                break;
            case 6:
                s = cn_init_make(CN_INIT_KAIMING_UNIFORM);
                uniform = 1, hi = sqrt(3.0) * sqrt(2.0 / fi), lo = -hi;
                break;
            case 7:
                s = cn_init_make(CN_INIT_KAIMING_UNIFORM);
                s.neg_slope = 0.2;
                s.fan_out = 1;
                uniform = 1, hi = sqrt(3.0) * sqrt(2.0 / (1 + 0.04)) / sqrt(fo), lo = -hi;
                break;
            case 8:
                s = cn_init_make(CN_INIT_KAIMING_NORMAL);
                s.nonlinearity = CN_GAIN_TANH;
                sig = 5.0 / 3.0 / sqrt(fi);
                break;
            case 9:
                s = cn_init_make(CN_INIT_LECUN_NORMAL);
                sig = 1.0 / sqrt(fi);
                break;
            case 10:
                s = cn_init_make(CN_INIT_LECUN_UNIFORM);
                uniform = 1, hi = sqrt(3.0 / fi), lo = -hi;
                break;
            default:
                s = cn_init_make(CN_INIT_XAVIER_NORMAL);
                s.gain = -2.0; /* symmetric: only |gain| matters */
                sig = 2.0 * sqrt(2.0 / (fi + fo));
                break;
            }
            snprintf(what, sizeof what, "%s #%d on %s", cn_init_name(s.kind), variant,
                     si ? "(64, 32, 3, 3)" : "(256, 128)");
            cn_real *w = filled(&s, ndims[si], shapes[si], 1000 + (uint64_t)variant);
            if (uniform)
                check_uniform(what, w, n, lo, hi);
            else
                check_normal(what, w, n, mu, sig);
            free(w);
        }
    }
}

/* ------------------------------------------------------------------ orthogonal */

/* gram: G (k, k) = W W^T (rows) or W^T W (!rows) of w (r, c), k = r or c; returns
 * max |G - g2 I|. */
static double gram_err(const cn_real *w, int r, int c, int by_rows, double g2)
{
    int k = by_rows ? r : c, len = by_rows ? c : r;
    double worst = 0;
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) {
            double s = 0;
            for (int t = 0; t < len; t++) {
                double x = by_rows ? w[(size_t)a * c + t] : w[(size_t)t * c + a];
                double y = by_rows ? w[(size_t)b * c + t] : w[(size_t)t * c + b];
                s += x * y;
            }
            double e = fabs(s - (a == b ? g2 : 0.0));
            if (e > worst) worst = e;
        }
    return worst;
}

Test(init, orthogonal_is_orthogonal_times_gain)
{
    const struct {
        int ndim, shape[4];
        double gain;
    } O[] = {
        {2, {256, 128}, 1.0},     /* rows > cols: W^T W = I */
        {4, {64, 32, 3, 3}, 1.0}, /* (64, 288), rows < cols: W W^T = I */
        {4, {64, 32, 3, 3}, 2.0},
        {2, {40, 40}, 1.5},
        {2, {1, 7}, 1.0},
        {2, {7, 1}, 1.0},
    };
    for (size_t i = 0; i < sizeof O / sizeof O[0]; i++) {
        cn_init s = cn_init_make(CN_INIT_ORTHOGONAL);
        s.gain = O[i].gain;
        int r = O[i].shape[0];
        int c = (int)(numel_of(O[i].ndim, O[i].shape) / (size_t)r);
        cn_real *w = filled(&s, O[i].ndim, O[i].shape, 42 + i);
        double g2 = O[i].gain * O[i].gain;
        double e = gram_err(w, r, c, r <= c, g2);
        cr_log_info("orthogonal (%d, %d) gain %g: max |gram - g^2 I| = %.3g", r, c, O[i].gain,
                    e);
        cr_expect(e <= ORTHO_TOL * g2, "orthogonal (%d, %d) gain %g: gram error %g", r, c,
                  O[i].gain, e);
        free(w);
    }
}

/* torch.nn.init.orthogonal_ takes the Q of the QR of the normal matrix A (its
 * transpose when rows < cols) with Q *= sign(diag(R)): the unique Q whose R = Q^T A
 * has a positive diagonal. So, redrawing A from the same seed in element order,
 * W^T A (rows >= cols) or W A^T (rows < cols) must be upper triangular with a
 * positive diagonal (times gain): that is exactly torch's result for that A. */
Test(init, orthogonal_follows_torch_sign_convention)
{
    const struct {
        int r, c;
    } O[] = {{96, 40}, {40, 96}, {33, 33}};
    cn_error err;
    for (size_t i = 0; i < sizeof O / sizeof O[0]; i++) {
        int r = O[i].r, c = O[i].c, shape[2] = {r, c};
        size_t n = (size_t)r * c;
        cn_rng rng, copy;
        cn_rng_seed(&rng, 5 + i, 3);
        copy = rng;
        cn_init s = cn_init_make(CN_INIT_ORTHOGONAL);
        s.gain = 2.0;
        cn_real *w = tst_reals(n);
        cr_assert_eq(cn_init_fill(&s, 2, shape, w, &rng, &err), CN_OK, "%s", err.msg);
        double *a = malloc(n * sizeof *a); // A (r, c), the draws in element order
        cr_assert(a);
        for (size_t t = 0; t < n; t++) a[t] = cn_rng_normal(&copy);
        cr_expect(memcmp(&copy, &rng, sizeof rng) == 0, "exactly r*c normal draws");
        int k = r >= c ? c : r, len = r >= c ? r : c;
        double lower = 0, mindiag = INFINITY;
        for (int p = 0; p < k; p++)
            for (int q = 0; q < k; q++) {
                double acc = 0; /* R[p][q] = sum_t Wcol_p[t] Acol_q[t] (or rows) */
                for (int t = 0; t < len; t++) {
                    double wv = r >= c ? w[(size_t)t * c + p] : w[(size_t)p * c + t];
                    double av = r >= c ? a[(size_t)t * c + q] : a[(size_t)q * c + t];
                    acc += wv * av;
                }
                if (p > q && fabs(acc) > lower) lower = fabs(acc);
                if (p == q && acc < mindiag) mindiag = acc;
            }
        cr_log_info("orthogonal (%d, %d): max |lower(R)| %.3g, min diag(R) %.3g", r, c, lower,
                    mindiag);
        cr_expect(lower <= TRI_TOL, "(%d, %d): R not upper triangular (%g)", r, c, lower);
        cr_expect(mindiag > 0.1, "(%d, %d): diag(R) not positive (%g)", r, c, mindiag);
        free(a);
        free(w);
    }
}

/* ------------------------------------------------------------------ sparse */

Test(init, sparse_torch_form_zeros_per_column)
{
    const double sp[3] = {0.9, 0.0, 1.0};
    for (int v = 0; v < 3; v++) {
        cn_init s = cn_init_make(CN_INIT_SPARSE);
        s.sparsity = sp[v];
        cn_real *w = filled(&s, 2, SHAPE_LIN, 77 + (uint64_t)v);
        const int rows = 256, cols = 128;
        const int want = (int)ceil(sp[v] * rows); /* 231, 0, 256: math.ceil in PyTorch */
        size_t nz = 0;
        double ss = 0;
        for (int c = 0; c < cols; c++) {
            int zeros = 0;
            for (int r = 0; r < rows; r++) {
                double x = w[(size_t)r * cols + c];
                if (x == 0) {
                    zeros++;
                } else {
                    nz++;
                    ss += x * x;
                }
            }
            cr_expect_eq(zeros, want, "sparsity %g column %d: %d zeros, want %d", sp[v], c,
                         zeros, want);
        }
        if (nz) { /* std of the rest: 0.01 within 6 / sqrt(2 nz) (nz = 3200 at 0.9) */
            double sd = sqrt(ss / (double)nz);
            cr_expect(fabs(sd / 0.01 - 1) <= NSIG / sqrt(2.0 * (double)nz), "std %g", sd);
        }
        free(w);
    }
}

Test(init, sparse_notes_form_exact_fan_in_per_row)
{
    const int nzs[3] = {10, 1, 128};
    for (int v = 0; v < 3; v++) {
        cn_init s = cn_init_make(CN_INIT_SPARSE);
        s.nonzero = nzs[v];
        s.sparse_std = 0.5;
        cn_real *w = filled(&s, 2, SHAPE_LIN, 91 + (uint64_t)v);
        size_t nz = 0;
        double ss = 0;
        int colhits[128] = {0};
        for (int r = 0; r < 256; r++) {
            int cnt = 0;
            for (int c = 0; c < 128; c++) {
                double x = w[(size_t)r * 128 + c];
                if (x != 0) {
                    cnt++;
                    colhits[c]++;
                    ss += x * x;
                }
            }
            nz += (size_t)cnt;
            cr_expect_eq(cnt, nzs[v], "row %d: %d nonzero, want %d", r, cnt, nzs[v]);
        }
        double sd = sqrt(ss / (double)nz);
        cr_expect(fabs(sd / 0.5 - 1) <= NSIG / sqrt(2.0 * (double)nz), "std %g", sd);
        if (nzs[v] == 10) { /* columns chosen uniformly: 20 hits each on average */
            int used = 0;
            for (int c = 0; c < 128; c++) used += colhits[c] > 0;
            cr_expect(used >= 120, "only %d of 128 columns ever chosen", used);
        }
        free(w);
    }
}

/* ------------------------------------------------------------------ determinism */

Test(init, same_seed_same_weights)
{
    const int *shapes[2] = {SHAPE_LIN, SHAPE_CONV};
    const int ndims[2] = {2, 4};
    for (int k = CN_INIT_NORMAL; k < CN_INIT_COUNT; k++) {
        for (int si = 0; si < 2; si++) {
            if (k == CN_INIT_SPARSE && si == 1) continue; /* 2-D only */
            cn_init s = cn_init_make((cn_init_kind)k);
            if (k == CN_INIT_SPARSE && si == 0) s.sparsity = 0.5;
            size_t n = numel_of(ndims[si], shapes[si]);
            cn_real *a = filled(&s, ndims[si], shapes[si], 123);
            cn_real *b = filled(&s, ndims[si], shapes[si], 123);
            cn_real *c = filled(&s, ndims[si], shapes[si], 124);
            cr_expect(memcmp(a, b, n * sizeof *a) == 0, "%s: same seed, different weights",
                      cn_init_name(s.kind));
            cr_expect(memcmp(a, c, n * sizeof *a) != 0, "%s: seed ignored",
                      cn_init_name(s.kind));
            free(a);
            free(b);
            free(c);
        }
    }
    /* Normal draws in element order: a normal fill equals mean + std * the draws. */
    cn_rng r1, r2;
    cn_rng_seed(&r1, 9, 1);
    r2 = r1;
    cn_init s = cn_init_make(CN_INIT_NORMAL);
    s.mean = 1.0;
    s.std = 3.0;
    int shape[2] = {4, 5};
    cn_real w[20];
    cn_error err;
    cr_assert_eq(cn_init_fill(&s, 2, shape, w, &r1, &err), CN_OK);
    for (int i = 0; i < 20; i++)
        cr_expect(w[i] == (cn_real)(1.0 + 3.0 * cn_rng_normal(&r2)), "element %d", i);
    cr_expect(memcmp(&r1, &r2, sizeof r1) == 0);
}

/* ------------------------------------------------------------------ errors */

/* expect_fill_error: cn_init_fill fails with code on a sentinel-filled 4x4 buffer
 * (the shape given) and leaves it untouched; the message contains needle. */
static void expect_fill_error(const cn_init *s, int ndim, const int *shape, cn_status code,
                              const char *needle)
{
    cn_real w[64];
    for (int i = 0; i < 64; i++) w[i] = 7;
    cn_rng r;
    cn_rng_seed(&r, 1, 1);
    cn_error err;
    cn_status st = cn_init_fill(s, ndim, shape, w, &r, &err);
    cr_expect_eq(st, code, "%s: status %s, want %s (%s)", cn_init_name(s->kind),
                 cn_status_name(st), cn_status_name(code), st ? err.msg : "");
    if (st != CN_OK) {
        cr_log_info("%s", err.msg);
        cr_expect(strstr(err.msg, needle), "message '%s' lacks '%s'", err.msg, needle);
    }
    if (code != CN_OK)
        for (int i = 0; i < 64; i++) cr_expect(w[i] == 7, "w[%d] changed on error", i);
}

Test(init, fill_rejects_default_and_bad_ranks)
{
    int sq[2] = {4, 4}, vec[1] = {16}, cube[3] = {4, 2, 2};
    cn_init d = cn_init_make(CN_INIT_DEFAULT);
    expect_fill_error(&d, 2, sq, CN_ERR_ARG, "init default");
    const cn_init_kind fan_kinds[] = {CN_INIT_XAVIER_NORMAL,  CN_INIT_XAVIER_UNIFORM,
                                      CN_INIT_KAIMING_NORMAL, CN_INIT_KAIMING_UNIFORM,
                                      CN_INIT_LECUN_NORMAL,   CN_INIT_LECUN_UNIFORM,
                                      CN_INIT_ORTHOGONAL,     CN_INIT_SPARSE};
    for (size_t i = 0; i < sizeof fan_kinds / sizeof fan_kinds[0]; i++) {
        cn_init s = cn_init_make(fan_kinds[i]);
        expect_fill_error(&s, 1, vec, CN_ERR_SHAPE, "rank >= 2");
    }
    cn_init sp = cn_init_make(CN_INIT_SPARSE);
    expect_fill_error(&sp, 3, cube, CN_ERR_SHAPE, "2-D");
    sp.nonzero = 5;
    expect_fill_error(&sp, 2, sq, CN_ERR_SHAPE, "nonzero 5 > 4");
    cn_init nrm = cn_init_make(CN_INIT_NORMAL);
    int neg[2] = {4, -4}, zero_rank[1] = {0};
    expect_fill_error(&nrm, 2, neg, CN_ERR_SHAPE, "negative");
    expect_fill_error(&nrm, 0, zero_rank, CN_ERR_SHAPE, "rank 0");
    int nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    expect_fill_error(&nrm, 9, nine, CN_ERR_SHAPE, "rank 9");
    expect_fill_error(&nrm, 2, NULL, CN_ERR_ARG, "NULL shape");
    int huge[4] = {1 << 30, 1 << 30, 1 << 30, 1 << 30};
    expect_fill_error(&nrm, 4, huge, CN_ERR_RANGE, "overflows");
    /* 1-D is fine for the element-wise random kinds. */
    cn_real w[16];
    cn_rng r;
    cn_rng_seed(&r, 1, 1);
    cn_error err;
    cr_expect_eq(cn_init_fill(&nrm, 1, vec, w, &r, &err), CN_OK, "%s", err.msg);
    /* NULL rng for a random kind, NULL weights, NULL spec. */
    cr_expect_eq(cn_init_fill(&nrm, 2, sq, w, NULL, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "NULL rng"), "%s", err.msg);
    cr_expect_eq(cn_init_fill(&nrm, 2, sq, NULL, &r, &err), CN_ERR_ARG);
    cr_expect_eq(cn_init_fill(NULL, 2, sq, w, &r, &err), CN_ERR_ARG);
}

Test(init, check_rejects_bad_parameters)
{
    int sq[2] = {4, 4};
    cn_init s;
    s = cn_init_make(CN_INIT_NORMAL), s.std = -1;
    expect_fill_error(&s, 2, sq, CN_ERR_ARG, "std -1 < 0");
    s = cn_init_make(CN_INIT_NORMAL), s.mean = NAN;
    expect_fill_error(&s, 2, sq, CN_ERR_ARG, "not finite");
    s = cn_init_make(CN_INIT_UNIFORM), s.low = 2, s.high = 1;
    expect_fill_error(&s, 2, sq, CN_ERR_ARG, "low 2 > high 1");
    s = cn_init_make(CN_INIT_UNIFORM), s.low = -1e308, s.high = 1e308;
#ifdef CN_DOUBLE
    expect_fill_error(&s, 2, sq, CN_ERR_ARG, "high - low");
#else
    expect_fill_error(&s, 2, sq, CN_ERR_RANGE, "does not fit in f32");
#endif
    s = cn_init_make(CN_INIT_CONSTANT), s.value = INFINITY;
    expect_fill_error(&s, 2, sq, CN_ERR_ARG, "value");
    s = cn_init_make(CN_INIT_SPARSE), s.sparsity = 1.5;
    expect_fill_error(&s, 2, sq, CN_ERR_ARG, "sparsity 1.5");
    s = cn_init_make(CN_INIT_SPARSE), s.sparsity = NAN;
    expect_fill_error(&s, 2, sq, CN_ERR_ARG, "sparsity");
    s = cn_init_make(CN_INIT_SPARSE), s.nonzero = -1;
    expect_fill_error(&s, 2, sq, CN_ERR_ARG, "nonzero -1");
    s = cn_init_make(CN_INIT_SPARSE), s.sparse_std = -0.1;
    expect_fill_error(&s, 2, sq, CN_ERR_ARG, "sparse_std");
    s = cn_init_make(CN_INIT_KAIMING_NORMAL), s.fan_out = 2;
    expect_fill_error(&s, 2, sq, CN_ERR_ARG, "fan_out 2");
    s = cn_init_make(CN_INIT_KAIMING_UNIFORM), s.nonlinearity = (cn_gain_kind)99;
    expect_fill_error(&s, 2, sq, CN_ERR_ARG, "nonlinearity 99");
    s = cn_init_make(CN_INIT_KAIMING_UNIFORM), s.neg_slope = INFINITY;
    expect_fill_error(&s, 2, sq, CN_ERR_ARG, "neg_slope");
    s = cn_init_make(CN_INIT_XAVIER_UNIFORM), s.gain = NAN;
    expect_fill_error(&s, 2, sq, CN_ERR_ARG, "gain");
    s = cn_init_make(CN_INIT_ORTHOGONAL), s.gain = INFINITY;
    expect_fill_error(&s, 2, sq, CN_ERR_ARG, "gain");
    s = cn_init_make((cn_init_kind)99);
    cn_error err;
    cr_expect_eq(cn_init_check(&s, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "invalid kind 99"), "%s", err.msg);
    cr_expect_eq(cn_init_check(NULL, &err), CN_ERR_ARG);
    /* Values that fit double but not float. */
    s = cn_init_make(CN_INIT_CONSTANT), s.value = 1e300;
#ifdef CN_DOUBLE
    expect_fill_error(&s, 2, sq, CN_OK, "");
#else
    expect_fill_error(&s, 2, sq, CN_ERR_RANGE, "value 1e+300 does not fit in f32");
#endif
    s = cn_init_make(CN_INIT_XAVIER_NORMAL), s.gain = 1e300;
#ifndef CN_DOUBLE
    expect_fill_error(&s, 2, sq, CN_ERR_RANGE, "scale");
#endif
    /* Fields a kind does not use are not checked. */
    s = cn_init_make(CN_INIT_ZEROS), s.std = -1, s.low = 5, s.high = 0, s.sparsity = 9;
    cr_expect_eq(cn_init_check(&s, &err), CN_OK, "%s", err.msg);
}

Test(init, empty_weights_are_a_no_op)
{
    int shape[2] = {0, 5};
    cn_rng r, before;
    cn_rng_seed(&r, 3, 3);
    before = r;
    cn_error err;
    for (int k = CN_INIT_ZEROS; k < CN_INIT_COUNT; k++) {
        cn_init s = cn_init_make((cn_init_kind)k);
        cr_expect_eq(cn_init_fill(&s, 2, shape, NULL, &r, &err), CN_OK, "%s: %s",
                     cn_init_name(s.kind), err.msg);
    }
    cr_expect(memcmp(&r, &before, sizeof r) == 0, "no draws for an empty weight");
}
