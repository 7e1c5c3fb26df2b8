/* test_activation.c: the element-wise activations and maxout
 * (src/kernels/activation.c): names, parameter checks, forward against
 * independent closed forms on an awkward (3, 5, 7) layout, in-place use,
 * finite-difference gradient checks of dx (and PReLU's dalpha, shared and per
 * channel) for every kind, RReLU's draws, thread-count independence, maxout on
 * hand-computed cases, and parity with PyTorch fixtures
 * (tests/fixtures/activation/, written by tools/fixtures/activation.py). */
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
#define FWD_TOL 1e-13
#else
#define GC_H 1e-2
#define GC_TOL 2e-2  /* float: centred differences lose ~eps/h of each term */
#define FWD_TOL 1e-6
#endif

enum { N = 3, C = 5, IN = 7, CNT = N * C * IN };

/* ------------------------------------------------------------------ helpers */

/* fill: x[i] uniform in [lo, hi), kept at least gap away from every kink k[0..nk)
 * (redrawn until it is), so centred differences never straddle a kink. */
static void fill(cn_rng *r, cn_real *x, size_t n, double lo, double hi, const double *k,
                 int nk, double gap)
{
    for (size_t i = 0; i < n; i++) {
        double v;
        int bad;
        do {
            v = lo + (hi - lo) * cn_rng_uniform(r);
            bad = 0;
            for (int j = 0; j < nk; j++)
                if (fabs(v - k[j]) < gap) bad = 1;
        } while (bad);
        x[i] = (cn_real)v;
    }
}

/* fill_r: a fixed upstream gradient R with |R| in [0.5, 1.5] and random sign. */
static void fill_r(cn_rng *r, cn_real *R, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double v = 0.5 + cn_rng_uniform(r);
        R[i] = (cn_real)(cn_rng_uniform(r) < 0.5 ? -v : v);
    }
}

/* ref_act: the activation at v in double, from forms independent of the kernel's. */
static double ref_act(cn_act_kind k, const cn_act_params *p, double v, double a)
{
    switch (k) {
    case CN_ACT_SIGMOID: return 0.5 * (1.0 + tanh(v / 2));
    case CN_ACT_TANH: return (exp(2 * v) - 1) / (exp(2 * v) + 1);
    case CN_ACT_RELU: return fmax(v, 0);
    case CN_ACT_LEAKY_RELU: return v > 0 ? v : p->slope * v;
    case CN_ACT_PRELU: return v > 0 ? v : a * v;
    case CN_ACT_ELU: return v > 0 ? v : p->alpha * (exp(v) - 1);
    case CN_ACT_SELU: return CN_SELU_SCALE * (v > 0 ? v : CN_SELU_ALPHA * (exp(v) - 1));
    case CN_ACT_RRELU: return v > 0 ? v : (p->lower + p->upper) / 2 * v;
    case CN_ACT_SOFTPLUS: return p->beta * v > p->threshold ? v : log(1 + exp(p->beta * v)) / p->beta;
    case CN_ACT_GELU:
        if (p->gelu_tanh)
            return 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        return 0.5 * v * erfc(-v / sqrt(2.0));
    default: return NAN;
    }
}

/* params_for: non-default parameters so each kind's parameters are exercised. */
static cn_act_params params_for(cn_act_kind k)
{
    cn_act_params p = cn_act_params_default();
    p.slope = 0.07;
    p.alpha = 1.3;
    p.lower = 0.1;
    p.upper = 0.4;
    p.beta = 2.0;
    p.threshold = 3.0;
    (void)k;
    return p;
}

/* kinks_for: where kind k is not differentiable (twice, for ELU with alpha != 1),
 * to keep gradient-check points away from. */
static int kinks_for(cn_act_kind k, const cn_act_params *p, double *out)
{
    switch (k) {
    case CN_ACT_RELU: case CN_ACT_LEAKY_RELU: case CN_ACT_PRELU: case CN_ACT_ELU:
    case CN_ACT_SELU: case CN_ACT_RRELU:
        out[0] = 0;
        return 1;
    case CN_ACT_SOFTPLUS: /* the switch to the identity is a (tiny) jump */
        out[0] = p->threshold / p->beta;
        return 1;
    default: return 0;
    }
}

/* ------------------------------------------------------------------ names */

Test(activation, names_roundtrip)
{
    for (int k = 0; k < CN_ACT_COUNT; k++) {
        cn_act_kind got;
        cn_error err;
        cr_assert_eq(cn_act_parse(cn_act_name((cn_act_kind)k), &got, &err), CN_OK, "%s", err.msg);
        cr_expect_eq((int)got, k);
    }
    cr_expect_str_eq(cn_act_name(CN_ACT_COUNT), "?");
    cr_expect_str_eq(cn_act_name(CN_ACT_GELU), "gelu");
    cn_act_kind got;
    cn_error err;
    cr_expect_eq(cn_act_parse("rleu", &got, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "rleu") && strstr(err.msg, "relu"), "%s", err.msg);
}

Test(activation, params_check)
{
    cn_act_params p = cn_act_params_default();
    cn_error err;
    for (int k = 0; k < CN_ACT_COUNT; k++)
        cr_expect_eq(cn_act_params_check((cn_act_kind)k, &p, &err), CN_OK, "%s", err.msg);
    cr_expect_eq(cn_act_params_check(CN_ACT_COUNT, &p, &err), CN_ERR_ARG);
    cn_act_params q = p;
    q.lower = 0.5;
    q.upper = 0.2;
    cr_expect_eq(cn_act_params_check(CN_ACT_RRELU, &q, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "lower") != NULL, "%s", err.msg);
    q = p;
    q.beta = 0;
    cr_expect_eq(cn_act_params_check(CN_ACT_SOFTPLUS, &q, &err), CN_ERR_ARG);
    q = p;
    q.slope = NAN;
    cr_expect_eq(cn_act_params_check(CN_ACT_LEAKY_RELU, &q, &err), CN_ERR_ARG);
    cr_expect_eq(cn_act_params_check(CN_ACT_RELU, &q, &err), CN_OK, "relu ignores slope");
    q = p;
    q.prelu_channels = 2;
    cr_expect_eq(cn_act_params_check(CN_ACT_PRELU, &q, &err), CN_ERR_ARG);
    q = p;
    q.gelu_tanh = -1;
    cr_expect_eq(cn_act_params_check(CN_ACT_GELU, &q, &err), CN_ERR_ARG);
    cr_expect_eq(cn_act_weight_count(CN_ACT_PRELU, &p, 6), 1);
    q = p;
    q.prelu_channels = 1;
    cr_expect_eq(cn_act_weight_count(CN_ACT_PRELU, &q, 6), 6);
    cr_expect_eq(cn_act_weight_count(CN_ACT_ELU, &q, 6), 0);
    cr_expect_eq(cn_act_noise_count(CN_ACT_RRELU, 42), 42);
    cr_expect_eq(cn_act_noise_count(CN_ACT_RELU, 42), 0);
}

/* ------------------------------------------------------------------ forward */

/* check_forward: one kind (and PReLU/GELU variant) against ref_act, in place too. */
static void check_forward(cn_act_kind k, cn_act_params p)
{
    cn_rng r;
    cn_rng_seed(&r, 11 + (uint64_t)k, 1);
    cn_real x[CNT], y[CNT], z[CNT], w[C];
    fill(&r, x, CNT, -4, 4, NULL, 0, 0);
    x[0] = 0;
    x[1] = (cn_real)-0.0;
    fill(&r, w, C, -0.5, 0.8, NULL, 0, 0);
    cn_act_forward(k, &p, N, C, IN, x, y, w, NULL, 0, NULL);
    double worst = 0;
    for (int i = 0; i < CNT; i++) {
        double a = p.prelu_channels ? w[(i / IN) % C] : w[0];
        double ref = ref_act(k, &p, x[i], a);
        double e = fabs((double)y[i] - ref) / (1 + fabs(ref));
        if (e > worst) worst = e;
    }
    cr_expect_lt(worst, FWD_TOL, "%s (tanh %d, channels %d): max err %g", cn_act_name(k),
                 p.gelu_tanh, p.prelu_channels, worst);
    memcpy(z, x, sizeof x);
    cn_act_forward(k, &p, N, C, IN, z, z, w, NULL, 0, NULL);
    cr_expect_eq(memcmp(z, y, sizeof y), 0, "%s in place differs", cn_act_name(k));
}

Test(activation, forward_matches_closed_forms)
{
    for (int k = 0; k < CN_ACT_COUNT; k++) check_forward((cn_act_kind)k, params_for((cn_act_kind)k));
    cn_act_params p = params_for(CN_ACT_PRELU);
    p.prelu_channels = 1;
    check_forward(CN_ACT_PRELU, p);
    p = params_for(CN_ACT_GELU);
    p.gelu_tanh = 1;
    check_forward(CN_ACT_GELU, p);
}

Test(activation, extremes_stay_finite)
{
    cn_real x[6] = {(cn_real)-200, (cn_real)-50, 0, 50, 200, (cn_real)1e30};
    cn_real y[6], dx[6], dy[6] = {1, 1, 1, 1, 1, 1};
    cn_act_params p = cn_act_params_default();
    for (int k = 0; k < CN_ACT_COUNT; k++) {
        if (k == CN_ACT_PRELU || k == CN_ACT_RRELU) continue;
        cn_act_forward((cn_act_kind)k, &p, 1, 1, 6, x, y, NULL, NULL, 0, NULL);
        cn_act_backward((cn_act_kind)k, &p, 1, 1, 6, x, y, dy, dx, NULL, NULL, NULL, 0);
        for (int i = 0; i < 6; i++) {
            cr_expect(isfinite(y[i]), "%s(%g) = %g", cn_act_name((cn_act_kind)k), (double)x[i],
                      (double)y[i]);
            cr_expect(isfinite(dx[i]), "%s'(%g) = %g", cn_act_name((cn_act_kind)k),
                      (double)x[i], (double)dx[i]);
        }
    }
    /* sigmoid saturates (to exactly 1 above), softplus is the identity above threshold */
    cn_act_forward(CN_ACT_SIGMOID, &p, 1, 1, 6, x, y, NULL, NULL, 0, NULL);
    cr_expect(y[0] >= 0 && y[0] < (cn_real)1e-30, "sigmoid(-200) = %g", (double)y[0]);
    cr_expect_eq(y[4], 1);
    cn_act_forward(CN_ACT_SOFTPLUS, &p, 1, 1, 6, x, y, NULL, NULL, 0, NULL);
    cr_expect_eq(y[3], 50);
    cr_expect_eq(y[5], (cn_real)1e30);
}

Test(activation, kink_subgradients_follow_pytorch)
{
    cn_real x[1] = {0}, y[1], dy[1] = {2}, dx[1];
    cn_act_params p = params_for(CN_ACT_RELU);
    cn_real a[1] = {(cn_real)0.25}, da[1] = {0};
    cn_act_forward(CN_ACT_RELU, &p, 1, 1, 1, x, y, NULL, NULL, 0, NULL); /* ReLU reads y */
    cn_act_backward(CN_ACT_RELU, &p, 1, 1, 1, x, y, dy, dx, NULL, NULL, NULL, 0);
    cr_expect_eq(dx[0], 0);
    cn_act_backward(CN_ACT_LEAKY_RELU, &p, 1, 1, 1, x, y, dy, dx, NULL, NULL, NULL, 0);
    cr_expect_eq(dx[0], (cn_real)(2 * (cn_real)0.07));
    cn_act_backward(CN_ACT_PRELU, &p, 1, 1, 1, x, y, dy, dx, a, da, NULL, 0);
    cr_expect_eq(dx[0], (cn_real)0.5);
    cn_act_backward(CN_ACT_ELU, &p, 1, 1, 1, x, y, dy, dx, NULL, NULL, NULL, 0);
    cr_expect(fabs((double)dx[0] - 2 * 1.3) < 1e-6);
}

/* ------------------------------------------------------------------ gradient checks */

typedef struct gc_ctx {
    cn_act_kind kind;
    cn_act_params p;
    const cn_real *x;      /* (N, C, IN) */
    const cn_real *w;      /* (C) or (1) */
    cn_real *noise;        /* (N, C, IN) RReLU slopes, reused (rng NULL) */
    int training;
    int wrt_weight;        /* 0: f of x; 1: f of w */
    const cn_real *R;      /* (N, C, IN) */
    cn_real y[CNT];
} gc_ctx;

/* gc_f: L = sum(act(x) * R) at v, v standing for x or for the weights. */
static double gc_f(void *ctx, const cn_real *v)
{
    gc_ctx *g = ctx;
    cn_act_forward(g->kind, &g->p, N, C, IN, g->wrt_weight ? g->x : v, g->y,
                   g->wrt_weight ? v : g->w, g->noise, g->training, NULL);
    double s = 0;
    for (int i = 0; i < CNT; i++) s += (double)g->y[i] * (double)g->R[i];
    return s;
}

/* gradcheck_kind: dx (every coordinate) and, for PReLU, dalpha. Points sit at
 * least 0.1 away from each kink (kinks_for) and h <= 1e-2, so both centred
 * evaluations fall on the same smooth piece. */
static void gradcheck_kind(cn_act_kind k, cn_act_params p, int training)
{
    cn_rng r;
    cn_rng_seed(&r, 101 + (uint64_t)k, 2);
    cn_real x[CNT], R[CNT], y[CNT], dx[CNT], w[C], dw[C], noise[CNT];
    double kinks[2];
    int nk = kinks_for(k, &p, kinks);
    fill(&r, x, CNT, -3, 3, kinks, nk, 0.1);
    fill_r(&r, R, CNT);
    fill(&r, w, C, -0.5, 0.8, NULL, 0, 0);
    cn_rng draw;
    cn_rng_seed(&draw, 7, 7);
    cn_act_forward(k, &p, N, C, IN, x, y, w, noise, training, &draw);
    memset(dw, 0, sizeof dw);
    cn_act_backward(k, &p, N, C, IN, x, y, R, dx, w, dw, noise, training);

    gc_ctx g = {.kind = k, .p = p, .x = x, .w = w, .noise = noise, .training = training,
                .wrt_weight = 0, .R = R};
    size_t coords[CNT];
    for (size_t i = 0; i < CNT; i++) coords[i] = i;
    cn_gradcheck_result res;
    cn_error err;
    cr_assert_eq(cn_gradcheck(gc_f, &g, x, CNT, dx, coords, CNT, 0, NULL, GC_H, &res, &err),
                 CN_OK, "%s", err.msg);
    cr_expect_lt(res.max_rel_err, GC_TOL, "%s dx: rel err %g at %zu (a %g n %g)",
                 cn_act_name(k), res.max_rel_err, res.worst_index, res.worst_analytic,
                 res.worst_numeric);
    if (k == CN_ACT_PRELU) {
        size_t nw = cn_act_weight_count(k, &p, C);
        g.wrt_weight = 1;
        cr_assert_eq(cn_gradcheck(gc_f, &g, w, nw, dw, coords, nw, 0, NULL, GC_H, &res, &err),
                     CN_OK, "%s", err.msg);
        cr_expect_lt(res.max_rel_err, GC_TOL, "prelu (channels %d) dalpha: rel err %g",
                     p.prelu_channels, res.max_rel_err);
        /* accumulation: a second backward adds the same amount again */
        cn_real dw2[C];
        memcpy(dw2, dw, sizeof dw);
        cn_act_backward(k, &p, N, C, IN, x, y, R, dx, w, dw2, noise, training);
        for (size_t i = 0; i < nw; i++)
            cr_expect(fabs((double)dw2[i] - 2 * (double)dw[i]) <= 1e-5 * (1 + fabs((double)dw[i])),
                      "dalpha accumulates");
    }
}

Test(activation, gradcheck_every_kind)
{
    for (int k = 0; k < CN_ACT_COUNT; k++) {
        cn_act_params p = params_for((cn_act_kind)k);
        gradcheck_kind((cn_act_kind)k, p, 0);
    }
    cn_act_params p = params_for(CN_ACT_PRELU);
    p.prelu_channels = 1;
    gradcheck_kind(CN_ACT_PRELU, p, 0);
    p = params_for(CN_ACT_GELU);
    p.gelu_tanh = 1;
    gradcheck_kind(CN_ACT_GELU, p, 0);
    p = params_for(CN_ACT_ELU);
    p.alpha = 1.0;
    gradcheck_kind(CN_ACT_ELU, p, 0);
    /* RReLU in training, with its drawn slopes held fixed */
    gradcheck_kind(CN_ACT_RRELU, params_for(CN_ACT_RRELU), 1);
}

/* ------------------------------------------------------------------ RReLU */

Test(activation, rrelu_training_draws)
{
    enum { M = 20000 };
    cn_real *x = malloc(M * sizeof *x), *y = malloc(M * sizeof *y);
    cn_real *n1 = malloc(M * sizeof *n1), *n2 = malloc(M * sizeof *n2);
    cr_assert(x && y && n1 && n2);
    cn_rng r;
    cn_rng_seed(&r, 5, 0);
    fill(&r, x, M, -2, 2, NULL, 0, 0);
    x[0] = 0;
    cn_act_params p = params_for(CN_ACT_RRELU);
    cn_rng a, b;
    cn_rng_seed(&a, 99, 3);
    cn_rng_seed(&b, 99, 3);
    cn_act_forward(CN_ACT_RRELU, &p, 1, 1, M, x, y, NULL, n1, 1, &a);
    cn_act_forward(CN_ACT_RRELU, &p, 1, 1, M, x, y, NULL, n2, 1, &b);
    cr_expect_eq(memcmp(n1, n2, M * sizeof *n1), 0, "same seed, same slopes");
    double sum = 0;
    int neg = 0;
    for (int i = 0; i < M; i++) {
        if (x[i] > 0) {
            cr_expect_eq(n1[i], 1);
            cr_expect_eq(y[i], x[i]);
        } else {
            cr_expect(n1[i] >= (cn_real)p.lower && n1[i] <= (cn_real)p.upper, "slope %g",
                      (double)n1[i]);
            cr_expect_eq(y[i], x[i] * n1[i]);
            sum += n1[i];
            neg++;
        }
    }
    /* mean of U[0.1, 0.4] is 0.25, sd 0.0866; over ~10^4 draws the mean's sd is ~9e-4 */
    cr_expect(fabs(sum / neg - 0.25) < 0.005, "mean slope %g", sum / neg);
    /* rng NULL reuses the slopes */
    cn_real *y2 = malloc(M * sizeof *y2);
    cr_assert(y2);
    cn_act_forward(CN_ACT_RRELU, &p, 1, 1, M, x, y2, NULL, n1, 1, NULL);
    cr_expect_eq(memcmp(y, y2, M * sizeof *y), 0);
    free(x), free(y), free(y2), free(n1), free(n2);
}

/* ------------------------------------------------------------------ threads */

Test(activation, prelu_independent_of_thread_count)
{
    enum { TN = 2, TC = 4, TI = 8192, TCNT = TN * TC * TI };
    cn_real *x = malloc(TCNT * sizeof *x), *dy = malloc(TCNT * sizeof *dy);
    cn_real *dx = malloc(TCNT * sizeof *dx);
    cr_assert(x && dy && dx);
    cn_rng r;
    cn_rng_seed(&r, 17, 0);
    fill(&r, x, TCNT, -1, 1, NULL, 0, 0);
    fill(&r, dy, TCNT, -1, 1, NULL, 0, 0);
    cn_real w[TC] = {(cn_real)0.1, (cn_real)0.2, (cn_real)0.3, (cn_real)0.4};
    cn_act_params p = cn_act_params_default();
    cn_real d1[2][TC], d2[2][TC];
    int saved = cn_get_num_threads();
    for (int t = 0; t < 2; t++) {
        cn_set_num_threads(t + 1);
        for (int pc = 0; pc < 2; pc++) {
            p.prelu_channels = pc;
            cn_real *d = t ? d2[pc] : d1[pc];
            memset(d, 0, TC * sizeof *d);
            cn_act_backward(CN_ACT_PRELU, &p, TN, TC, TI, x, NULL, dy, dx, w, d, NULL, 0);
        }
    }
    cn_set_num_threads(saved);
    cr_expect_eq(memcmp(d1, d2, sizeof d1), 0, "dalpha bit-identical for 1 and 2 threads");
    free(x), free(dy), free(dx);
}

/* ------------------------------------------------------------------ maxout */

Test(maxout, hand_computed)
{
    /* n 1, k 3, c 2, inner 2: channels 0..2 -> output 0, 3..5 -> output 1 */
    cn_real x[12] = {
        1, 5,  /* ch 0 */
        3, 5,  /* ch 1: position 1 ties with ch 0: first wins */
        2, -1, /* ch 2 */
        -4, -7, /* ch 3 */
        -2, -9, /* ch 4 */
        -3, -8, /* ch 5 */
    };
    cn_real y[4], dx[12], dy[4] = {10, 20, 30, 40};
    int32_t arg[4];
    cn_maxout_forward(1, 2, 3, 2, x, y, arg);
    cr_expect_eq(y[0], 3);
    cr_expect_eq(y[1], 5);
    cr_expect_eq(y[2], -2);
    cr_expect_eq(y[3], -7);
    cr_expect_eq(arg[0], 1);
    cr_expect_eq(arg[1], 0);
    cr_expect_eq(arg[2], 1);
    cr_expect_eq(arg[3], 0);
    for (int i = 0; i < 12; i++) dx[i] = 99;
    cn_maxout_backward(1, 2, 3, 2, dy, arg, dx);
    cn_real want[12] = {0, 20, 10, 0, 0, 0, 0, 40, 30, 0, 0, 0};
    for (int i = 0; i < 12; i++) cr_expect_eq(dx[i], want[i], "dx[%d] = %g", i, (double)dx[i]);
}

Test(maxout, nan_wins_and_k1_is_identity)
{
    cn_real x[3] = {1, NAN, 7}, y[1];
    int32_t arg[1];
    cn_maxout_forward(1, 1, 3, 1, x, y, arg);
    cr_expect(isnan(y[0]));
    cr_expect_eq(arg[0], 1);
    cn_real x2[6] = {1, 2, 3, 4, 5, 6}, y2[6];
    int32_t a2[6];
    cn_maxout_forward(2, 3, 1, 1, x2, y2, a2);
    cr_expect_eq(memcmp(x2, y2, sizeof y2), 0);
}

typedef struct mo_ctx {
    int n, c, k;
    size_t inner;
    const cn_real *R;
    cn_real *y;
    int32_t *arg;
} mo_ctx;

static double mo_f(void *ctx, const cn_real *x)
{
    mo_ctx *m = ctx;
    cn_maxout_forward(m->n, m->c, m->k, m->inner, x, m->y, m->arg);
    double s = 0;
    size_t cnt = (size_t)m->n * (size_t)m->c * m->inner;
    for (size_t i = 0; i < cnt; i++) s += (double)m->y[i] * (double)m->R[i];
    return s;
}

/* Maxout is piecewise linear: its kinks are ties between pieces. The inputs are a
 * shuffled grid with spacing 0.05 > 2h, so no perturbation changes a winner and
 * the check is exact up to rounding. */
Test(maxout, gradcheck)
{
    enum { MN = 2, MC = 3, MK = 4, MI = 5, XN = MN * MC * MK * MI, YN = MN * MC * MI };
    cn_real x[XN], R[YN], y[YN], dx[XN];
    int32_t arg[YN];
    int idx[XN];
    cn_rng r;
    cn_rng_seed(&r, 8, 8);
    for (int i = 0; i < XN; i++) idx[i] = i;
    cn_rng_shuffle(&r, idx, XN);
    for (int i = 0; i < XN; i++) x[i] = (cn_real)(0.05 * (idx[i] - XN / 2));
    fill_r(&r, R, YN);
    cn_maxout_forward(MN, MC, MK, MI, x, y, arg);
    cn_maxout_backward(MN, MC, MK, MI, R, arg, dx);
    mo_ctx m = {MN, MC, MK, MI, R, y, arg};
    size_t coords[XN];
    for (size_t i = 0; i < XN; i++) coords[i] = i;
    cn_gradcheck_result res;
    cn_error err;
    cr_assert_eq(cn_gradcheck(mo_f, &m, x, XN, dx, coords, XN, 0, NULL, GC_H, &res, &err), CN_OK,
                 "%s", err.msg);
    cr_expect_lt(res.max_rel_err, GC_TOL, "maxout: rel err %g at %zu", res.max_rel_err,
                 res.worst_index);
}

/* ------------------------------------------------------------------ PyTorch parity */

#define FIX_DIR "tests/fixtures/activation/"

/* Fixtures are float64; the float build rounds inputs to float and computes in
 * double internally, so outputs differ from torch's by a few float ulps of values
 * of size <= ~4: 1e-5 absolute bounds that with margin. Gradients of size <= ~3
 * likewise. In double the kernels agree to ~1e-15; 1e-12 leaves room for the
 * different but equivalent formulas (expm1 vs exp - 1, sigmoid vs z / (z + 1)). */
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

/* parity_case: fixture <name>.safetensors holds x (2, 3, 4, 5), dy, y, dx and for
 * prelu w and dw; metadata gives the kind and its parameters. */
static void parity_case(const char *file, cn_act_kind k, cn_act_params p)
{
    char path[256];
    snprintf(path, sizeof path, FIX_DIR "%s.safetensors", file);
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(path, &st, &err), CN_OK, "%s", err.msg);
    cn_tensor *x = get(st, "x"), *dy = get(st, "dy"), *yr = get(st, "y"), *dxr = get(st, "dx");
    cr_assert_eq(x->ndim, 4);
    int n = x->shape[0], c = x->shape[1];
    size_t inner = (size_t)x->shape[2] * (size_t)x->shape[3], cnt = x->numel;
    cn_tensor *w = NULL, *dwr = NULL;
    if (k == CN_ACT_PRELU) {
        w = get(st, "w");
        dwr = get(st, "dw");
        cr_assert_eq(w->numel, cn_act_weight_count(k, &p, c));
    }
    cn_real *y = calloc(cnt, sizeof *y), *dx = calloc(cnt, sizeof *dx);
    cn_real dw[16] = {0};
    cr_assert(y && dx);
    cn_act_forward(k, &p, n, c, inner, x->data, y, w ? w->data : NULL, NULL, 0, NULL);
    cn_act_backward(k, &p, n, c, inner, x->data, y, dy->data, dx, w ? w->data : NULL,
                    w ? dw : NULL, NULL, 0);
    double ey = max_diff(y, yr->data, cnt), edx = max_diff(dx, dxr->data, cnt);
    double edw = w ? max_diff(dw, dwr->data, w->numel) : 0;
    cr_log_info("parity %s (%s): max abs diff y %.3g, dx %.3g, dw %.3g", file, CN_REAL_NAME, ey, edx,
                edw);
    cr_expect_lt(ey, PAR_TOL, "%s y: %g", file, ey);
    cr_expect_lt(edx, PAR_TOL, "%s dx: %g", file, edx);
    /* dw sums 120 products x dy: allow the float sum's rounding (120 * 1e-6) */
    cr_expect_lt(edw, w ? 100 * PAR_TOL : 1, "%s dw: %g", file, edw);
    free(y), free(dx);
    cn_tensor_free(x), cn_tensor_free(dy), cn_tensor_free(yr), cn_tensor_free(dxr);
    cn_tensor_free(w), cn_tensor_free(dwr);
    cn_safetensors_free(st);
}

Test(activation, pytorch_parity)
{
    cn_act_params d = cn_act_params_default();
    cn_act_params p;
    parity_case("sigmoid", CN_ACT_SIGMOID, d);
    parity_case("tanh", CN_ACT_TANH, d);
    parity_case("relu", CN_ACT_RELU, d);
    p = d, p.slope = 0.07;
    parity_case("leaky_relu", CN_ACT_LEAKY_RELU, p);
    parity_case("prelu_shared", CN_ACT_PRELU, d);
    p = d, p.prelu_channels = 1;
    parity_case("prelu_channels", CN_ACT_PRELU, p);
    p = d, p.alpha = 1.3;
    parity_case("elu", CN_ACT_ELU, p);
    parity_case("selu", CN_ACT_SELU, d);
    p = d, p.lower = 0.1, p.upper = 0.4;
    parity_case("rrelu_eval", CN_ACT_RRELU, p);
    p = d, p.beta = 2.0, p.threshold = 3.0;
    parity_case("softplus", CN_ACT_SOFTPLUS, p);
    parity_case("gelu", CN_ACT_GELU, d);
    p = d, p.gelu_tanh = 1;
    parity_case("gelu_tanh", CN_ACT_GELU, p);
}
