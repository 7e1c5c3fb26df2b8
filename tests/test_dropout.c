/* test_dropout.c: inverted dropout, spatial dropout (Dropout2d) and DropConnect
 * (src/kernels/dropout.c): p checks, mask statistics (keep rate on 100k draws),
 * same seed -> same mask, evaluation is the identity, p = 0 and p = 1, whole
 * planes kept or dropped, gradient checks through a fixed (reused) mask, and
 * DropConnect's accumulation into dw. PyTorch parity is not meaningful here (its
 * RNG differs); the gradient checks cover the mask application instead. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/activation_kernels.h"
#include "convnet/classic.h"

#ifdef CN_DOUBLE
#define GC_H 1e-5
#define GC_TOL 1e-7
#else
#define GC_H 1e-2
#define GC_TOL 1e-2
#endif

static void fill(cn_rng *r, cn_real *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (cn_real)(2 * cn_rng_uniform(r) - 1);
}

Test(dropout, check_p)
{
    cn_error err;
    cr_expect_eq(cn_dropout_check(0, &err), CN_OK);
    cr_expect_eq(cn_dropout_check(1, &err), CN_OK);
    cr_expect_eq(cn_dropout_check(0.5, &err), CN_OK);
    cr_expect_eq(cn_dropout_check(-0.1, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "-0.1") != NULL, "%s", err.msg);
    cr_expect_eq(cn_dropout_check(1.5, &err), CN_ERR_ARG);
    cr_expect_eq(cn_dropout_check(NAN, &err), CN_ERR_ARG);
}

/* 100k Bernoulli(1 - p) draws: the keep rate's standard deviation is
 * sqrt(p (1 - p) / 1e5) <= 0.0016; 0.008 is 5 sigma. */
Test(dropout, mask_statistics_and_values)
{
    enum { M = 100000 };
    cn_real *m = malloc(M * sizeof *m);
    cr_assert(m);
    static const double ps[] = {0.1, 0.5, 0.8};
    for (int t = 0; t < 3; t++) {
        double p = ps[t];
        cn_rng r;
        cn_rng_seed(&r, 1234 + (uint64_t)t, 0);
        cn_dropout_mask(&r, p, M, m);
        size_t kept = 0;
        cn_real keep = (cn_real)(1.0 / (1.0 - p));
        for (size_t i = 0; i < M; i++) {
            cr_assert(m[i] == 0 || m[i] == keep, "mask value %g", (double)m[i]);
            kept += m[i] != 0;
        }
        double rate = (double)kept / M;
        cr_log_info("dropout p %.1f: keep rate %.4f on %d draws", p, rate, M);
        cr_expect(fabs(rate - (1 - p)) < 0.008, "p %g: keep rate %g", p, rate);
    }
    free(m);
}

Test(dropout, same_seed_same_mask)
{
    enum { M = 1000 };
    cn_real x[M], y1[M], y2[M], m1[M], m2[M];
    cn_rng r;
    cn_rng_seed(&r, 9, 0);
    fill(&r, x, M);
    cn_rng a, b, c;
    cn_rng_seed(&a, 42, 1);
    cn_rng_seed(&b, 42, 1);
    cn_rng_seed(&c, 43, 1);
    cn_dropout_forward(0.3, 1, &a, M, x, y1, m1);
    cn_dropout_forward(0.3, 1, &b, M, x, y2, m2);
    cr_expect_eq(memcmp(m1, m2, sizeof m1), 0);
    cr_expect_eq(memcmp(y1, y2, sizeof y1), 0);
    cr_expect_eq(memcmp(&a, &b, sizeof a), 0, "generators advanced alike");
    cn_dropout_forward(0.3, 1, &c, M, x, y2, m2);
    cr_expect_neq(memcmp(m1, m2, sizeof m1), 0, "another seed, another mask");
    /* rng NULL reuses the mask */
    cn_dropout_forward(0.3, 1, NULL, M, x, y2, m1);
    cr_expect_eq(memcmp(y1, y2, sizeof y1), 0);
    for (int i = 0; i < M; i++) cr_expect_eq(y1[i], x[i] * m1[i]);
}

Test(dropout, eval_identity_and_edge_p)
{
    enum { M = 64 };
    cn_real x[M], y[M], m[M], dx[M];
    cn_rng r;
    cn_rng_seed(&r, 2, 0);
    fill(&r, x, M);
    cn_rng before = r;
    cn_dropout_forward(0.5, 0, &r, M, x, y, NULL);
    cr_expect_eq(memcmp(x, y, sizeof x), 0);
    cr_expect_eq(memcmp(&before, &r, sizeof r), 0, "evaluation draws nothing");
    cn_dropout_backward(0, M, x, NULL, dx);
    cr_expect_eq(memcmp(x, dx, sizeof x), 0);
    cn_dropout2d_forward(0.5, 0, &r, 2, 4, 8, x, y, NULL);
    cr_expect_eq(memcmp(x, y, sizeof x), 0);
    cn_dropout2d_backward(0, 2, 4, 8, x, NULL, dx);
    cr_expect_eq(memcmp(x, dx, sizeof x), 0);
    /* p = 0 keeps everything unscaled, p = 1 drops everything */
    cn_dropout_forward(0, 1, &r, M, x, y, m);
    cr_expect_eq(memcmp(x, y, sizeof x), 0);
    cn_dropout_forward(1, 1, &r, M, x, y, m);
    for (int i = 0; i < M; i++) cr_expect(y[i] == 0 && m[i] == 0);
    /* in place */
    cn_real z[M];
    memcpy(z, x, sizeof z);
    cn_rng a;
    cn_rng_seed(&a, 5, 5);
    cn_dropout_forward(0.5, 1, &a, M, z, z, m);
    for (int i = 0; i < M; i++) cr_expect_eq(z[i], x[i] * m[i]);
}

Test(dropout, spatial_keeps_whole_planes)
{
    enum { SN = 50, SC = 40, SI = 9 };
    size_t cnt = (size_t)SN * SC * SI;
    cn_real *x = malloc(cnt * sizeof *x), *y = malloc(cnt * sizeof *y);
    cn_real *dx = malloc(cnt * sizeof *dx);
    cn_real m[SN * SC];
    cr_assert(x && y && dx);
    cn_rng r;
    cn_rng_seed(&r, 6, 0);
    for (size_t i = 0; i < cnt; i++) x[i] = (cn_real)(1 + cn_rng_uniform(&r)); /* nonzero */
    cn_rng_seed(&r, 60, 0);
    cn_dropout2d_forward(0.25, 1, &r, SN, SC, SI, x, y, m);
    size_t kept = 0;
    for (int pl = 0; pl < SN * SC; pl++) {
        kept += m[pl] != 0;
        for (int i = 0; i < SI; i++) {
            size_t j = (size_t)pl * SI + (size_t)i;
            cr_assert_eq(y[j], x[j] * m[pl], "plane %d element %d", pl, i);
        }
    }
    /* 2000 planes: sd of the keep rate sqrt(0.25 * 0.75 / 2000) = 0.0097; 5 sigma */
    double rate = (double)kept / (SN * SC);
    cr_expect(fabs(rate - 0.75) < 0.05, "plane keep rate %g", rate);
    cn_dropout2d_backward(1, SN, SC, SI, x, m, dx);
    for (int pl = 0; pl < SN * SC; pl++)
        for (int i = 0; i < SI; i++) {
            size_t j = (size_t)pl * SI + (size_t)i;
            cr_assert_eq(dx[j], x[j] * m[pl]);
        }
    free(x), free(y), free(dx);
}

/* ------------------------------------------------------------------ gradient checks */

enum { GN = 2, GC = 3, GI = 5, GCNT = GN * GC * GI };

typedef struct gc_ctx {
    int kind; /* 0 dropout, 1 dropout2d, 2 dropconnect (f of w: sum(w_eff * R)) */
    cn_real *mask;
    const cn_real *R;
    cn_real y[GCNT];
} gc_ctx;

static double gc_f(void *ctx, const cn_real *x)
{
    gc_ctx *g = ctx;
    /* rng NULL: the mask drawn before is reused, so f is a fixed linear map */
    if (g->kind == 0) cn_dropout_forward(0.4, 1, NULL, GCNT, x, g->y, g->mask);
    else if (g->kind == 1) cn_dropout2d_forward(0.4, 1, NULL, GN, GC, GI, x, g->y, g->mask);
    else cn_dropconnect_forward(0.4, 1, NULL, GCNT, x, g->y, g->mask);
    double s = 0;
    for (int i = 0; i < GCNT; i++) s += (double)g->y[i] * (double)g->R[i];
    return s;
}

Test(dropout, gradcheck_through_fixed_mask)
{
    for (int kind = 0; kind < 3; kind++) {
        cn_real x[GCNT], R[GCNT], y[GCNT], dx[GCNT], m[GCNT];
        cn_rng r;
        cn_rng_seed(&r, 31 + (uint64_t)kind, 0);
        fill(&r, x, GCNT);
        fill(&r, R, GCNT);
        cn_rng d;
        cn_rng_seed(&d, 8, 0);
        if (kind == 0) {
            cn_dropout_forward(0.4, 1, &d, GCNT, x, y, m);
            cn_dropout_backward(1, GCNT, R, m, dx);
        } else if (kind == 1) {
            cn_dropout2d_forward(0.4, 1, &d, GN, GC, GI, x, y, m);
            cn_dropout2d_backward(1, GN, GC, GI, R, m, dx);
        } else {
            cn_dropconnect_forward(0.4, 1, &d, GCNT, x, y, m);
            memset(dx, 0, sizeof dx);
            cn_dropconnect_backward(1, GCNT, R, m, dx);
        }
        gc_ctx g = {.kind = kind, .mask = m, .R = R};
        size_t coords[GCNT];
        for (size_t i = 0; i < GCNT; i++) coords[i] = i;
        cn_gradcheck_result res;
        cn_error err;
        cr_assert_eq(cn_gradcheck(gc_f, &g, x, GCNT, dx, coords, GCNT, 0, NULL, GC_H, &res, &err),
                     CN_OK, "%s", err.msg);
        cr_expect_lt(res.max_rel_err, GC_TOL, "kind %d: rel err %g at %zu", kind,
                     res.max_rel_err, res.worst_index);
    }
}

Test(dropout, dropconnect_accumulates_and_eval)
{
    enum { M = 40 };
    cn_real w[M], we[M], m[M], g[M], dw[M];
    cn_rng r;
    cn_rng_seed(&r, 12, 0);
    fill(&r, w, M);
    fill(&r, g, M);
    cn_dropconnect_forward(0.5, 1, &r, M, w, we, m);
    for (int i = 0; i < M; i++) {
        cr_expect(m[i] == 0 || m[i] == 2);
        cr_expect_eq(we[i], w[i] * m[i]);
        dw[i] = 1;
    }
    cn_dropconnect_backward(1, M, g, m, dw);
    for (int i = 0; i < M; i++) cr_expect_eq(dw[i], 1 + g[i] * m[i], "dw accumulates");
    cn_dropconnect_forward(0.5, 0, &r, M, w, we, NULL);
    cr_expect_eq(memcmp(w, we, sizeof w), 0, "evaluation uses w");
    for (int i = 0; i < M; i++) dw[i] = 1;
    cn_dropconnect_backward(0, M, g, NULL, dw);
    for (int i = 0; i < M; i++) cr_expect_eq(dw[i], 1 + g[i]);
}
