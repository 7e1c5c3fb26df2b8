/* test_ops_norm.c: the normalisation and dropout ops of the graph (src/ops/norm.c,
 * src/ops/dropout.c) inside compiled models: forward values against direct
 * computations on tiny inputs, whole-model gradient checks in training and
 * evaluation (batch norm in evaluation with the running statistics of one
 * training forward, instance norm with and without tracking, dropout with its
 * mask held fixed by replay), the running-statistics update, parameters and
 * buffers, dropout's statistics and modes, compile- and run-time shape errors
 * naming the node, whole-model determinism, and a graph-level parity check of
 * batch norm (training then evaluation) against PyTorch
 * (tests/fixtures/ops_norm/ from tools/fixtures/ops_norm.py). */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"
#include "convnet/model.h"
#include "convnet/safetensors.h"
#include "support.h"
#include "support_model.h"

/* FWD_TOL: relative tolerance (|d| <= tol * (1 + |want|)) of a forward value
 * against the direct computation in double. Double: the same formulas summed in
 * another order (~1e-15). Float: inputs are exact, statistics are summed in
 * double by the kernels, the normalised values of size <= ~5 are rounded to
 * float a few times (a few ulps, < 2e-6); 2e-5 leaves room. */
#ifdef CN_DOUBLE
#define FWD_TOL 1e-11
#else
#define FWD_TOL 2e-5
#endif

/* ------------------------------------------------------------------ helpers */

/* serial: the init of the gradient-check tests. A check runs thousands of
 * forwards of tiny models, and the kernels open an OpenMP region per call: with
 * the suite running two binaries on two cores, spinning threads made these
 * tests ten times slower. Results do not depend on the thread count (the kernel
 * tests and ops_norm::same_seed_bit_identical check it). */
static void serial(void) { cn_set_num_threads(1); }

static void expect_close(const char *what, const cn_real *got, const double *want, size_t n,
                         double tol)
{
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        cr_assert(d <= tol * (1.0 + fabs(want[i])), "%s[%zu]: %.17g vs %.17g", what, i,
                  (double)got[i], want[i]);
    }
}

/* block_stats: mean, biased and unbiased variance of count values p[k * stride]
 * (two passes, long double). */
static void block_stats(const cn_real *p, size_t count, double *mean, double *var,
                        double *uvar)
{
    long double s = 0, q = 0;
    for (size_t k = 0; k < count; k++) s += p[k];
    long double mu = s / (long double)count;
    for (size_t k = 0; k < count; k++) q += (p[k] - mu) * (p[k] - mu);
    *mean = (double)mu;
    *var = (double)(q / (long double)count);
    *uvar = count > 1 ? (double)(q / (long double)(count - 1)) : 0.0;
}

/* channel_stats: block_stats of channel ch of x (n, c, inner) over n * inner. */
static void channel_stats(const cn_real *x, int n, int c, int inner, int ch, double *mean,
                          double *var, double *uvar)
{
    size_t m = (size_t)n * inner;
    cn_real *v = tst_reals(m);
    for (int i = 0; i < n; i++)
        memcpy(v + (size_t)i * inner, x + ((size_t)i * c + ch) * inner,
               sizeof(cn_real) * (size_t)inner);
    block_stats(v, m, mean, var, uvar);
    free(v);
}

/* param: the value of "op.<what>" in m, or NULL when absent. */
static cn_real *param(cn_model *m, const char *what)
{
    char name[96];
    snprintf(name, sizeof name, "op.%s", what);
    cn_param *p = cn_params_find(cn_model_params(m), name);
    return p ? p->value : NULL;
}

/* forward: one forward of m (batch n, its input buffer, no targets); returns the
 * output of node "op". */
static const cn_real *forward(cn_model *m, int n, cn_mode mode, cn_rng *rng)
{
    cn_error err;
    cr_assert_eq(cn_model_forward(m, n, NULL, NULL, mode, rng, NULL, &err), CN_OK, "%s",
                 err.msg);
    return cn_model_node_value(m, cn_model_find(m, "op"));
}

/* refill: new N(0, 1) * scale + shift values in input 0 of m (count reals). */
static void refill(cn_model *m, size_t count, uint64_t seed, double scale, double shift)
{
    cn_rng r;
    cn_rng_seed(&r, seed, 17);
    cn_real *x = cn_model_input_buffer(m, 0);
    tst_fill_normal(&r, x, count, scale);
    for (size_t i = 0; i < count; i++) x[i] = (cn_real)(x[i] + shift);
}

/* compile_one: input (ndim, dims) -> op (attributes a, named "op") compiled for
 * training with batch; returns the compile status (err filled). */
static cn_status compile_one(cn_op_kind op, const cn_attrs *a, int ndim, const int *dims,
                             int batch, cn_error *err)
{
    cn_model *m = cn_model_new(err);
    cr_assert(m);
    cn_attrs ia = cn_attrs_make(CN_OP_INPUT);
    ia.ndim = ndim;
    for (int i = 0; i < ndim; i++) ia.shape[i] = dims[i];
    int in = cn_model_node(m, CN_OP_INPUT, &ia, NULL, 0, NULL, err);
    int y = cn_model_node(m, op, a, &in, 1, "op", err);
    cr_assert(y >= 0, "%s", err->msg);
    cn_compile_opts o = {.batch = batch, .training = 1, .input_grad = 1};
    cn_status st = cn_model_compile(m, &o, err);
    cn_model_free(m);
    return st;
}

/* gradcheck_eval_after_train: c's model after one training forward (which moves
 * the running statistics away from their initial 0 and 1), then the
 * whole-model gradient check in evaluation mode. */
static double gradcheck_eval_after_train(const tst_op_case *c)
{
    cn_target t;
    cn_model *m = tst_op_model(c, &t);
    cn_error err;
    cn_rng r;
    cn_rng_seed(&r, c->seed, 3);
    cr_assert_eq(cn_model_forward(m, c->batch, NULL, &t, CN_TRAIN, &r, NULL, &err), CN_OK,
                 "%s", err.msg);
    const cn_real *rv = param(m, "running_var");
    cr_assert(rv && rv[0] != 1, "running statistics did not move");
    cn_model_gradcheck_opts o = {.per_param = 0, .input = 1, .h = TST_GRAD_H, .seed = c->seed};
    cn_model_gradcheck_report rep;
    cr_assert_eq(cn_model_gradcheck(m, c->batch, NULL, &t, CN_EVAL, NULL, &o, &rep, &err),
                 CN_OK, "%s", err.msg);
    cr_log_info("gradcheck %s (eval, running stats): max rel err %.3g at %s, %zu coords",
                cn_op_name(c->op), rep.max_rel_err, rep.worst, rep.checked);
    cn_model_free(m);
    tst_op_target_free(&t);
    return rep.max_rel_err;
}

/* expect_grad: tst_op_gradcheck below TST_GRAD_TOL. Relative errors mean
 * little on coordinates whose true gradient is near 0 (rounding of the loss
 * over 2h dominates, in float especially) or where an instance's variance is
 * tiny (normalisation then curves sharply); the shapes and seeds of the cases
 * below keep away from both, which is why some cases pick a seed or a larger
 * per-channel count. */
static void expect_grad(const tst_op_case *c, const char *what)
{
    double e = tst_op_gradcheck(c);
    cr_expect_lt(e, TST_GRAD_TOL, "%s: gradcheck rel err %g", what, e);
}

/* ------------------------------------------------------------------ batchnorm */

/* bn_ref: y (n, c, inner) = gamma (x - mean) / sqrt(var + eps) + beta per channel. */
static void bn_ref(const cn_real *x, int n, int c, int inner, const cn_real *g,
                   const cn_real *b, double eps, const double *mean, const double *var,
                   double *y)
{
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int j = 0; j < inner; j++) {
                size_t k = ((size_t)i * c + ch) * inner + j;
                double gg = g ? (double)g[ch] : 1.0, bb = b ? (double)b[ch] : 0.0;
                y[k] = gg * ((double)x[k] - mean[ch]) / sqrt(var[ch] + eps) + bb;
            }
}

Test(batchnorm, forward_train_and_running_stats_two_steps)
{
    int dims[3] = {3, 2, 2};
    tst_op_case tc = tst_op_case_make(CN_OP_BATCHNORM, 3, dims);
    tc.batch = 4;
    tc.a.momentum = 0.3;
    cn_target t;
    cn_model *m = tst_op_model(&tc, &t);
    const int n = 4, c = 3, inner = 4;
    size_t len = (size_t)n * c * inner;
    const cn_real *x = cn_model_input_buffer(m, 0);
    cn_real *g = param(m, "weight"), *b = param(m, "bias");
    cn_real *rm = param(m, "running_mean"), *rv = param(m, "running_var");
    cr_assert(g && b && rm && rv);
    double mean[2][3], var[2][3], uvar[2][3], *want = malloc(len * sizeof *want);
    cn_rng r;
    cn_rng_seed(&r, 9, 1);
    for (int step = 0; step < 2; step++) {
        if (step == 1) refill(m, len, 77, 2.0, 0.7);
        for (int ch = 0; ch < c; ch++)
            channel_stats(x, n, c, inner, ch, &mean[step][ch], &var[step][ch], &uvar[step][ch]);
        const cn_real *y = forward(m, n, CN_TRAIN, &r);
        bn_ref(x, n, c, inner, g, b, tc.a.eps, mean[step], var[step], want);
        expect_close("y", y, want, len, FWD_TOL);
    }
    /* two momentum updates from (0, 1), with the unbiased variance */
    double mo = tc.a.momentum;
    for (int ch = 0; ch < c; ch++) {
        double em = (1 - mo) * (mo * mean[0][ch]) + mo * mean[1][ch];
        double ev = (1 - mo) * ((1 - mo) * 1.0 + mo * uvar[0][ch]) + mo * uvar[1][ch];
        expect_close("running_mean", rm + ch, &em, 1, FWD_TOL);
        expect_close("running_var", rv + ch, &ev, 1, FWD_TOL);
    }
    free(want);
    cn_model_free(m);
    tst_op_target_free(&t);
}

Test(batchnorm, forward_eval_uses_running_stats)
{
    int dims[2] = {2, 3};
    tst_op_case tc = tst_op_case_make(CN_OP_BATCHNORM, 2, dims);
    cn_target t;
    cn_model *m = tst_op_model(&tc, &t);
    cn_real *g = param(m, "weight"), *b = param(m, "bias");
    cn_real *rm = param(m, "running_mean"), *rv = param(m, "running_var");
    rm[0] = (cn_real)0.25;
    rm[1] = (cn_real)-0.5;
    rv[0] = (cn_real)2.0;
    rv[1] = (cn_real)0.5;
    double mean[2] = {0.25, -0.5}, var[2] = {2.0, 0.5}, want[18];
    const cn_real *y = forward(m, 3, CN_EVAL, NULL);
    bn_ref(cn_model_input_buffer(m, 0), 3, 2, 3, g, b, tc.a.eps, mean, var, want);
    expect_close("y", y, want, 18, FWD_TOL);
    cr_expect(rm[0] == (cn_real)0.25 && rv[1] == (cn_real)0.5, "eval changed the running stats");
    cn_model_free(m);
    tst_op_target_free(&t);
}

Test(batchnorm, no_tracking_uses_batch_stats_in_eval)
{
    int dims[1] = {4};
    tst_op_case tc = tst_op_case_make(CN_OP_BATCHNORM, 1, dims);
    tc.a.track_stats = 0;
    tc.a.affine = 0;
    cn_target t;
    cn_model *m = tst_op_model(&tc, &t);
    cr_assert(!param(m, "running_mean") && !param(m, "weight"), "unexpected parameters");
    const cn_real *x = cn_model_input_buffer(m, 0);
    double mean[4], var[4], uvar[4], want[12];
    for (int ch = 0; ch < 4; ch++) channel_stats(x, 3, 4, 1, ch, &mean[ch], &var[ch], &uvar[ch]);
    const cn_real *y = forward(m, 3, CN_EVAL, NULL);
    bn_ref(x, 3, 4, 1, NULL, NULL, tc.a.eps, mean, var, want);
    expect_close("y", y, want, 12, FWD_TOL);
    cn_model_free(m);
    tst_op_target_free(&t);
}

Test(batchnorm, parameters_buffers_and_eval_only_model)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int in = cn_model_input(m, 3, 2, 2, &err);
    int bn = cn_model_batchnorm(m, in, &err);
    cr_assert(bn >= 0, "%s", err.msg);
    cn_compile_opts o = {.batch = 2, .training = 0, .input_grad = 0};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 1, 1);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    cn_params *ps = cn_model_params(m);
    static const char *names[4] = {"batchnorm1.weight", "batchnorm1.bias",
                                   "batchnorm1.running_mean", "batchnorm1.running_var"};
    static const cn_param_role roles[4] = {CN_PARAM_NORM, CN_PARAM_NORM, CN_PARAM_BUFFER,
                                           CN_PARAM_BUFFER};
    static const double init[4] = {1, 0, 0, 1};
    for (int k = 0; k < 4; k++) {
        cn_param *p = cn_params_find(ps, names[k]);
        cr_assert(p, "missing %s", names[k]);
        cr_expect_eq(p->role, roles[k], "%s role", names[k]);
        cr_expect(p->ndim == 1 && p->shape[0] == 3, "%s shape", names[k]);
        for (int q = 0; q < 3; q++) cr_expect_eq(p->value[q], (cn_real)init[k], "%s init", names[k]);
    }
    /* evaluation in a model compiled without training: (x - 0) / sqrt(1 + eps) */
    cn_real x[24];
    for (int i = 0; i < 24; i++) x[i] = (cn_real)(0.1 * i - 1);
    cr_assert_eq(cn_model_forward(m, 2, x, NULL, CN_EVAL, NULL, NULL, &err), CN_OK, "%s",
                 err.msg);
    const cn_real *y = cn_model_node_value(m, bn);
    for (int i = 0; i < 24; i++) {
        double w = (double)x[i] / sqrt(1.0 + 1e-5);
        expect_close("y", y + i, &w, 1, FWD_TOL);
    }
    cr_expect_gt(cn_model_node_flops(m, bn), 0);
    cn_model_free(m);
}

Test(batchnorm, gradcheck_train, .init = serial)
{
    int d3[3] = {3, 2, 2}, d1[1] = {5}, d2[2] = {2, 3};
    tst_op_case a = tst_op_case_make(CN_OP_BATCHNORM, 3, d3);
    expect_grad(&a, "batchnorm (3, 2, 2)");
    tst_op_case b = tst_op_case_make(CN_OP_BATCHNORM, 1, d1);
    b.batch = 4;
    expect_grad(&b, "batchnorm (5)");
    tst_op_case c = tst_op_case_make(CN_OP_BATCHNORM, 2, d2);
    c.a.affine = 0;
    c.a.track_stats = 0;
    expect_grad(&c, "batchnorm (2, 3) no affine, no tracking");
}

Test(batchnorm, gradcheck_eval, .init = serial)
{
    int d3[3] = {3, 2, 2};
    tst_op_case a = tst_op_case_make(CN_OP_BATCHNORM, 3, d3);
    double e = gradcheck_eval_after_train(&a);
    cr_expect_lt(e, TST_GRAD_TOL, "eval with running stats: %g", e);
    tst_op_case b = tst_op_case_make(CN_OP_BATCHNORM, 3, d3);
    b.a.track_stats = 0;
    b.mode = CN_EVAL;
    expect_grad(&b, "batchnorm eval without tracking (batch statistics)");
}

Test(batchnorm, one_value_per_channel_in_training_names_the_node)
{
    int d1[1] = {3};
    tst_op_case tc = tst_op_case_make(CN_OP_BATCHNORM, 1, d1);
    tc.batch = 2;
    cn_target t;
    cn_model *m = tst_op_model(&tc, &t);
    cn_error err;
    cn_rng r;
    cn_rng_seed(&r, 1, 2);
    cr_assert_eq(cn_model_forward(m, 1, NULL, NULL, CN_TRAIN, &r, NULL, &err), CN_ERR_SHAPE);
    cr_expect(strstr(err.msg, "node 'op'") != NULL, "message: %s", err.msg);
    cr_log_info("batch 1 error: %s", err.msg);
    /* evaluation (running statistics) and a batch of 2 are fine */
    cr_expect_eq(cn_model_forward(m, 1, NULL, NULL, CN_EVAL, NULL, NULL, &err), CN_OK, "%s",
                 err.msg);
    cr_expect_eq(cn_model_forward(m, 2, NULL, NULL, CN_TRAIN, &r, NULL, &err), CN_OK, "%s",
                 err.msg);
    cn_model_free(m);
    tst_op_target_free(&t);
}

/* ------------------------------------------------------------------ layernorm */

Test(layernorm, forward_over_the_whole_sample)
{
    int dims[2] = {2, 3};
    tst_op_case tc = tst_op_case_make(CN_OP_LAYERNORM, 2, dims);
    cn_target t;
    cn_model *m = tst_op_model(&tc, &t);
    cn_param *gp = cn_params_find(cn_model_params(m), "op.weight");
    cr_assert(gp && gp->ndim == 2 && gp->shape[0] == 2 && gp->shape[1] == 3 &&
              gp->role == CN_PARAM_NORM);
    const cn_real *x = cn_model_input_buffer(m, 0), *g = param(m, "weight"), *b = param(m, "bias");
    double want[18];
    for (int i = 0; i < 3; i++) {
        double mean, var, uvar;
        block_stats(x + 6 * i, 6, &mean, &var, &uvar);
        for (int k = 0; k < 6; k++)
            want[6 * i + k] = ((double)x[6 * i + k] - mean) / sqrt(var + tc.a.eps) * g[k] + b[k];
    }
    cn_rng r;
    cn_rng_seed(&r, 1, 1);
    const cn_real *y = forward(m, 3, CN_TRAIN, &r);
    expect_close("y", y, want, 18, FWD_TOL);
    cn_model_free(m);
    tst_op_target_free(&t);
}

Test(layernorm, gradcheck, .init = serial)
{
    int d3[3] = {2, 2, 3}, d1[1] = {4};
    tst_op_case a = tst_op_case_make(CN_OP_LAYERNORM, 3, d3);
    expect_grad(&a, "layernorm (2, 2, 3)");
    a.mode = CN_EVAL;
    expect_grad(&a, "layernorm (2, 2, 3) eval");
    tst_op_case b = tst_op_case_make(CN_OP_LAYERNORM, 1, d1);
    b.a.affine = 0;
    expect_grad(&b, "layernorm (4) no affine");
}

/* ------------------------------------------------------------------ groupnorm */

Test(groupnorm, forward)
{
    int dims[2] = {4, 3};
    tst_op_case tc = tst_op_case_make(CN_OP_GROUPNORM, 2, dims);
    tc.a.groups = 2;
    tc.batch = 2;
    cn_target t;
    cn_model *m = tst_op_model(&tc, &t);
    const cn_real *x = cn_model_input_buffer(m, 0), *g = param(m, "weight"), *b = param(m, "bias");
    double want[24];
    for (int i = 0; i < 2; i++)
        for (int gr = 0; gr < 2; gr++) {
            size_t off = (size_t)i * 12 + (size_t)gr * 6; /* 2 channels of 3 */
            double mean, var, uvar;
            block_stats(x + off, 6, &mean, &var, &uvar);
            for (int k = 0; k < 6; k++) {
                int ch = gr * 2 + k / 3;
                want[off + k] = ((double)x[off + k] - mean) / sqrt(var + tc.a.eps) * g[ch] + b[ch];
            }
        }
    cn_rng r;
    cn_rng_seed(&r, 1, 1);
    const cn_real *y = forward(m, 2, CN_TRAIN, &r);
    expect_close("y", y, want, 24, FWD_TOL);
    cn_model_free(m);
    tst_op_target_free(&t);
}

Test(groupnorm, gradcheck, .init = serial)
{
    int d3[3] = {4, 2, 2}, d2[2] = {3, 2};
    tst_op_case a = tst_op_case_make(CN_OP_GROUPNORM, 3, d3);
    a.a.groups = 2;
    a.batch = 2;
    a.seed = 2; /* seed 1 puts one input gradient at 5e-6 (1.2e-7 in double) */
    expect_grad(&a, "groupnorm groups 2");
    a.a.groups = 4;
    a.mode = CN_EVAL;
    expect_grad(&a, "groupnorm groups 4 eval");
    tst_op_case b = tst_op_case_make(CN_OP_GROUPNORM, 2, d2);
    b.a.groups = 1;
    b.a.affine = 0;
    expect_grad(&b, "groupnorm groups 1 no affine");
}

Test(groupnorm, groups_not_dividing_channels)
{
    int dims[3] = {6, 2, 2};
    cn_attrs a = cn_attrs_make(CN_OP_GROUPNORM); /* groups 32 */
    cn_error err;
    cr_assert_eq(compile_one(CN_OP_GROUPNORM, &a, 3, dims, 2, &err), CN_ERR_SHAPE);
    cr_expect(strstr(err.msg, "node 'op'") && strstr(err.msg, "32") && strstr(err.msg, "6"),
              "message: %s", err.msg);
    a.groups = 4;
    cr_assert_eq(compile_one(CN_OP_GROUPNORM, &a, 3, dims, 2, &err), CN_ERR_SHAPE);
    cr_expect(strstr(err.msg, "groups 4") && strstr(err.msg, "(6, 2, 2)"), "message: %s",
              err.msg);
    a.groups = 3;
    cr_expect_eq(compile_one(CN_OP_GROUPNORM, &a, 3, dims, 2, &err), CN_OK, "%s", err.msg);
}

/* ------------------------------------------------------------------ instancenorm */

/* in_ref: y (n, c, inner) with each (sample, channel) normalised by its own
 * statistics; means and unbiased variances into mean, uvar (n, c). */
static void in_ref(const cn_real *x, int n, int c, int inner, const cn_real *g,
                   const cn_real *b, double eps, double *y, double *mean, double *uvar)
{
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            size_t off = ((size_t)i * c + ch) * inner;
            double mu, var, uv;
            block_stats(x + off, (size_t)inner, &mu, &var, &uv);
            mean[i * c + ch] = mu;
            uvar[i * c + ch] = uv;
            for (int j = 0; j < inner; j++)
                y[off + j] = ((double)x[off + j] - mu) / sqrt(var + eps) * (g ? g[ch] : 1.0) +
                             (b ? b[ch] : 0.0);
        }
}

Test(instancenorm, forward_defaults_affine_no_tracking)
{
    int dims[3] = {2, 2, 3};
    tst_op_case tc = tst_op_case_make(CN_OP_INSTANCENORM, 3, dims);
    cr_assert(tc.a.affine == 1 && tc.a.track_stats == 0, "defaults changed");
    cn_target t;
    cn_model *m = tst_op_model(&tc, &t);
    cr_assert(param(m, "weight") && param(m, "bias") && !param(m, "running_mean"));
    double want[36], mean[6], uvar[6];
    in_ref(cn_model_input_buffer(m, 0), 3, 2, 6, param(m, "weight"), param(m, "bias"),
           tc.a.eps, want, mean, uvar);
    cn_rng r;
    cn_rng_seed(&r, 1, 1);
    expect_close("y train", forward(m, 3, CN_TRAIN, &r), want, 36, FWD_TOL);
    expect_close("y eval", forward(m, 3, CN_EVAL, NULL), want, 36, FWD_TOL);
    cn_model_free(m);
    tst_op_target_free(&t);
}

Test(instancenorm, running_stats_then_eval)
{
    int dims[2] = {2, 4};
    tst_op_case tc = tst_op_case_make(CN_OP_INSTANCENORM, 2, dims);
    tc.a.track_stats = 1;
    tc.a.momentum = 0.25;
    cn_target t;
    cn_model *m = tst_op_model(&tc, &t);
    const cn_real *g = param(m, "weight"), *b = param(m, "bias");
    cn_real *rm = param(m, "running_mean"), *rv = param(m, "running_var");
    cr_assert(rm && rv);
    double want[24], mean[6], uvar[6];
    in_ref(cn_model_input_buffer(m, 0), 3, 2, 4, g, b, tc.a.eps, want, mean, uvar);
    cn_rng r;
    cn_rng_seed(&r, 4, 4);
    expect_close("y train", forward(m, 3, CN_TRAIN, &r), want, 24, FWD_TOL);
    double em[2], ev[2];
    for (int ch = 0; ch < 2; ch++) {
        double sm = 0, sv = 0;
        for (int i = 0; i < 3; i++) {
            sm += mean[i * 2 + ch];
            sv += uvar[i * 2 + ch];
        }
        em[ch] = 0.25 * sm / 3;
        ev[ch] = 0.75 + 0.25 * sv / 3;
    }
    expect_close("running_mean", rm, em, 2, FWD_TOL);
    expect_close("running_var", rv, ev, 2, FWD_TOL);
    /* evaluation normalises channel c of every sample with the running stats */
    const cn_real *x = cn_model_input_buffer(m, 0);
    for (int i = 0; i < 3; i++)
        for (int ch = 0; ch < 2; ch++)
            for (int j = 0; j < 4; j++) {
                size_t k = ((size_t)i * 2 + ch) * 4 + j;
                want[k] = ((double)x[k] - rm[ch]) / sqrt((double)rv[ch] + tc.a.eps) * g[ch] + b[ch];
            }
    expect_close("y eval", forward(m, 3, CN_EVAL, NULL), want, 24, FWD_TOL);
    cn_model_free(m);
    tst_op_target_free(&t);
}

Test(instancenorm, gradcheck_without_tracking, .init = serial)
{
    int dims[3] = {2, 2, 2};
    tst_op_case a = tst_op_case_make(CN_OP_INSTANCENORM, 3, dims);
    expect_grad(&a, "instancenorm train");
    a.mode = CN_EVAL;
    expect_grad(&a, "instancenorm eval (instance statistics)");
    a.a.affine = 0;
    expect_grad(&a, "instancenorm eval no affine");
}

Test(instancenorm, gradcheck_with_tracking, .init = serial)
{
    int dims[3] = {2, 3, 3};
    tst_op_case a = tst_op_case_make(CN_OP_INSTANCENORM, 3, dims);
    a.a.track_stats = 1;
    expect_grad(&a, "instancenorm tracking, train");
    double e = gradcheck_eval_after_train(&a);
    cr_expect_lt(e, TST_GRAD_TOL, "instancenorm eval with running stats: %g", e);
}

Test(instancenorm, one_value_per_channel_is_a_shape_error)
{
    int dims[2] = {3, 1};
    cn_attrs a = cn_attrs_make(CN_OP_INSTANCENORM);
    cn_error err;
    cr_assert_eq(compile_one(CN_OP_INSTANCENORM, &a, 2, dims, 2, &err), CN_ERR_SHAPE);
    cr_expect(strstr(err.msg, "node 'op'") && strstr(err.msg, "(3, 1)"), "message: %s",
              err.msg);
}

/* ------------------------------------------------------------------ lrn */

/* lrn_ref: PyTorch's LocalResponseNorm on x (n, c, inner). */
static void lrn_ref(const cn_real *x, int n, int c, int inner, int size, double alpha,
                    double beta, double k, double *y)
{
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int j = 0; j < inner; j++) {
                double s = 0;
                for (int q = ch - size / 2; q <= ch + (size - 1) / 2; q++)
                    if (q >= 0 && q < c) {
                        double v = x[((size_t)i * c + q) * inner + j];
                        s += v * v;
                    }
                size_t idx = ((size_t)i * c + ch) * inner + j;
                y[idx] = x[idx] * pow(k + alpha / size * s, -beta);
            }
}

Test(lrn, forward_odd_and_even_windows)
{
    for (int size = 3; size <= 4; size++) {
        int dims[2] = {5, 2};
        tst_op_case tc = tst_op_case_make(CN_OP_LRN, 2, dims);
        tc.a.size = size;
        tc.a.alpha = 0.5;
        tc.a.beta = 0.75;
        tc.a.lrn_k = 2.0;
        tc.batch = 2;
        cn_target t;
        cn_model *m = tst_op_model(&tc, &t);
        double want[20];
        lrn_ref(cn_model_input_buffer(m, 0), 2, 5, 2, size, 0.5, 0.75, 2.0, want);
        cn_rng r;
        cn_rng_seed(&r, 1, 1);
        expect_close("y", forward(m, 2, CN_TRAIN, &r), want, 20, FWD_TOL);
        cn_model_free(m);
        tst_op_target_free(&t);
    }
}

Test(lrn, gradcheck, .init = serial)
{
    int dims[3] = {5, 2, 2};
    tst_op_case a = tst_op_case_make(CN_OP_LRN, 3, dims);
    a.a.alpha = 0.5; /* the default 1e-4 makes LRN nearly the identity */
    a.a.size = 3;
    a.batch = 2;
    expect_grad(&a, "lrn size 3");
    a.a.size = 4;
    a.a.lrn_k = 2.0;
    a.mode = CN_EVAL;
    expect_grad(&a, "lrn size 4 eval");
}

Test(lrn, bad_attributes_name_the_node)
{
    int dims[2] = {4, 2};
    cn_attrs a = cn_attrs_make(CN_OP_LRN);
    a.size = 0;
    cn_error err;
    cr_assert_eq(compile_one(CN_OP_LRN, &a, 2, dims, 2, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "node 'op'") && strstr(err.msg, "size 0"), "message: %s", err.msg);
    a = cn_attrs_make(CN_OP_LRN);
    a.beta = NAN;
    cr_assert_eq(compile_one(CN_OP_LRN, &a, 2, dims, 2, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "node 'op'"), "message: %s", err.msg);
}

/* ------------------------------------------------------------------ dropout */

/* dropout_model: input (dims) of ones -> op (p) for batch n. */
static cn_model *dropout_model(cn_op_kind op, double p, int ndim, const int *dims, int n,
                               cn_target *t)
{
    tst_op_case tc = tst_op_case_make(op, ndim, dims);
    tc.a.p = p;
    tc.batch = n;
    cn_model *m = tst_op_model(&tc, t);
    size_t count = (size_t)n;
    for (int i = 0; i < ndim; i++) count *= (size_t)dims[i];
    cn_real *x = cn_model_input_buffer(m, 0);
    for (size_t i = 0; i < count; i++) x[i] = 1;
    return m;
}

Test(dropout, p0_identity_p1_zeros_eval_identity)
{
    int dims[2] = {3, 4};
    cn_rng r;
    cn_rng_seed(&r, 5, 5);
    for (int op = CN_OP_DROPOUT; op <= CN_OP_DROPOUT2D; op++) {
        for (int pi = 0; pi < 3; pi++) {
            double p = pi == 0 ? 0.0 : pi == 1 ? 1.0 : 0.5;
            cn_target t;
            cn_model *m = dropout_model((cn_op_kind)op, p, 2, dims, 3, &t);
            refill(m, 36, 3, 1.0, 0.0);
            const cn_real *x = cn_model_input_buffer(m, 0);
            const cn_real *y = forward(m, 3, CN_TRAIN, &r);
            for (int i = 0; i < 36; i++) {
                if (p == 0.0) cr_expect_eq(y[i], x[i], "%s p 0: y[%d]", cn_op_name(op), i);
                if (p == 1.0) cr_expect_eq(y[i], 0, "%s p 1: y[%d]", cn_op_name(op), i);
            }
            y = forward(m, 3, CN_EVAL, NULL);
            for (int i = 0; i < 36; i++)
                cr_expect_eq(y[i], x[i], "%s p %g eval: y[%d]", cn_op_name(op), p, i);
            cn_model_free(m);
            tst_op_target_free(&t);
        }
    }
}

Test(dropout, mask_mean_within_5_sigma)
{
    /* 10^4 units of ones with p = 0.5: each output is 0 or 2 (mean 1, sd 1), so
     * their mean has sd 1 / sqrt(10^4) = 0.01 */
    int dims[1] = {2500};
    cn_target t;
    cn_model *m = dropout_model(CN_OP_DROPOUT, 0.5, 1, dims, 4, &t);
    cn_rng r;
    cn_rng_seed(&r, 2024, 1);
    const cn_real *y = forward(m, 4, CN_TRAIN, &r);
    double s = 0;
    for (int i = 0; i < 10000; i++) {
        cr_assert(y[i] == 0 || y[i] == 2, "y[%d] = %g", i, (double)y[i]);
        s += y[i];
    }
    cr_log_info("dropout mask mean over 10^4 units: %.4f", s / 1e4);
    cr_expect(fabs(s / 1e4 - 1.0) < 5 * 0.01, "mean %g", s / 1e4);
    cn_model_free(m);
    tst_op_target_free(&t);
}

Test(dropout2d, whole_channels_and_mask_mean)
{
    /* (2500 channels, 2 positions) x 4 samples: 10^4 channel draws */
    int dims[2] = {2500, 2};
    cn_target t;
    cn_model *m = dropout_model(CN_OP_DROPOUT2D, 0.5, 2, dims, 4, &t);
    cn_rng r;
    cn_rng_seed(&r, 77, 1);
    const cn_real *y = forward(m, 4, CN_TRAIN, &r);
    double s = 0;
    for (int pl = 0; pl < 10000; pl++) {
        cr_assert(y[2 * pl] == y[2 * pl + 1], "plane %d split", pl);
        cr_assert(y[2 * pl] == 0 || y[2 * pl] == 2, "plane %d: %g", pl, (double)y[2 * pl]);
        s += y[2 * pl];
    }
    cr_expect(fabs(s / 1e4 - 1.0) < 5 * 0.01, "mean %g", s / 1e4);
    cn_model_free(m);
    tst_op_target_free(&t);
}

Test(dropout, replay_with_null_rng)
{
    int dims[3] = {2, 3, 3};
    for (int op = CN_OP_DROPOUT; op <= CN_OP_DROPOUT2D; op++) {
        cn_target t;
        cn_model *m = dropout_model((cn_op_kind)op, 0.5, 3, dims, 3, &t);
        cn_rng r;
        cn_rng_seed(&r, 31, 2);
        cn_real first[54], again[54];
        memcpy(first, forward(m, 3, CN_TRAIN, &r), sizeof first);
        memcpy(again, forward(m, 3, CN_TRAIN, NULL), sizeof again);
        cr_expect(memcmp(first, again, sizeof first) == 0, "%s: replay differs", cn_op_name(op));
        memcpy(again, forward(m, 3, CN_TRAIN, &r), sizeof again);
        cr_expect(memcmp(first, again, sizeof first) != 0, "%s: fresh draw repeated",
                  cn_op_name(op));
        cn_model_free(m);
        tst_op_target_free(&t);
    }
}

Test(dropout, gradcheck_train_and_eval, .init = serial)
{
    int d3[3] = {2, 3, 2}, d1[1] = {7};
    for (int op = CN_OP_DROPOUT; op <= CN_OP_DROPOUT2D; op++) {
        /* training: the first forward draws the mask, the differences replay it */
        tst_op_case a = tst_op_case_make((cn_op_kind)op, 3, d3);
        a.a.p = 0.4;
        expect_grad(&a, cn_op_name(op));
        a.mode = CN_EVAL;
        expect_grad(&a, "dropout eval");
        tst_op_case b = tst_op_case_make((cn_op_kind)op, 1, d1);
        b.a.p = 0.3;
        expect_grad(&b, "dropout rank 1");
    }
}

/* ------------------------------------------------------------------ determinism */

/* det_run: input (4, 3, 3) -> every op of this file -> mse, initialised from
 * seed 1, one training forward (masks from seed 9) and backward; copies the
 * output, the input gradient, the parameter gradients and the buffers. */
static void det_run(cn_real *out, cn_real *dx, cn_real **grads, size_t *ng, cn_real **bufs,
                    size_t *nb)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 4, 3, 3, &err);
    int y = cn_model_batchnorm(m, x, &err);
    y = cn_model_unary(m, CN_OP_DROPOUT2D, y, &err);
    cn_attrs a = cn_attrs_make(CN_OP_LRN);
    a.alpha = 0.5;
    y = cn_model_node(m, CN_OP_LRN, &a, &y, 1, NULL, &err);
    a = cn_attrs_make(CN_OP_GROUPNORM);
    a.groups = 2;
    y = cn_model_node(m, CN_OP_GROUPNORM, &a, &y, 1, NULL, &err);
    a = cn_attrs_make(CN_OP_INSTANCENORM);
    a.track_stats = 1;
    y = cn_model_node(m, CN_OP_INSTANCENORM, &a, &y, 1, NULL, &err);
    y = cn_model_unary(m, CN_OP_LAYERNORM, y, &err);
    y = cn_model_dropout(m, y, 0.3, &err);
    int loss = cn_model_unary(m, CN_OP_MSE, y, &err);
    cr_assert(loss >= 0, "%s", err.msg);
    cn_compile_opts o = {.batch = 5, .training = 1, .input_grad = 1};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 1, 0);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    cn_real xin[180], tv[180];
    tst_fill_normal(&r, xin, 180, 1.0);
    tst_fill_normal(&r, tv, 180, 1.0);
    cn_target t = {.labels = NULL, .values = tv};
    cn_rng dr;
    cn_rng_seed(&dr, 9, 0);
    cr_assert_eq(cn_model_forward(m, 5, xin, &t, CN_TRAIN, &dr, NULL, &err), CN_OK, "%s",
                 err.msg);
    cr_assert_eq(cn_model_backward(m, &err), CN_OK, "%s", err.msg);
    memcpy(out, cn_model_node_value(m, y), sizeof(cn_real) * 180);
    memcpy(dx, cn_model_node_grad(m, x), sizeof(cn_real) * 180);
    cn_params *ps = cn_model_params(m);
    *ng = ps->count;
    *nb = ps->buffer_count;
    *grads = tst_reals(ps->count);
    *bufs = tst_reals(ps->buffer_count);
    memcpy(*grads, ps->grads, sizeof(cn_real) * ps->count);
    memcpy(*bufs, ps->buffers, sizeof(cn_real) * ps->buffer_count);
    cn_model_free(m);
}

Test(ops_norm, same_seed_bit_identical)
{
    /* run 1 and 2: the same seeds with the default threads; run 3: one thread
     * (every kernel here reduces in a fixed order, whatever the thread count) */
    cn_real o[3][180], d[3][180], *g[3], *b[3];
    size_t ng[3], nb[3];
    for (int k = 0; k < 3; k++) {
        if (k == 2) cn_set_num_threads(1);
        det_run(o[k], d[k], &g[k], &ng[k], &b[k], &nb[k]);
    }
    for (int k = 1; k < 3; k++) {
        cr_assert(ng[k] == ng[0] && nb[k] == nb[0] && ng[0] > 0 && nb[0] > 0);
        cr_expect(memcmp(o[0], o[k], sizeof o[0]) == 0, "run %d: outputs differ", k);
        cr_expect(memcmp(d[0], d[k], sizeof d[0]) == 0, "run %d: input gradients differ", k);
        cr_expect(memcmp(g[0], g[k], sizeof(cn_real) * ng[0]) == 0,
                  "run %d: parameter gradients differ", k);
        cr_expect(memcmp(b[0], b[k], sizeof(cn_real) * nb[0]) == 0,
                  "run %d: running statistics differ", k);
    }
    for (int k = 0; k < 3; k++) {
        free(g[k]);
        free(b[k]);
    }
}

/* ------------------------------------------------------------------ PyTorch parity */

#define FIXTURE "tests/fixtures/ops_norm/batchnorm_train_eval.safetensors"

/* Fixtures are float64. Double: the kernels' formulas in another summation
 * order, ~1e-15; 1e-10 leaves room. Float: inputs rounded to float (6e-8
 * relative), values of size <= ~6 normalised and rounded a few times; the
 * gradients of gamma and beta sum 16 such products: a few ulps of <= ~10. */
#ifdef CN_DOUBLE
#define PAR_TOL 1e-10
#else
#define PAR_TOL 2e-5
#endif

static void expect_par(const char *what, const cn_real *got, const cn_real *want, size_t n)
{
    double e = tst_max_abs_diff(got, want, n);
    cr_log_info("parity %s (%s): max abs diff %.3g", what, CN_REAL_NAME, e);
    cr_expect_lt(e, PAR_TOL, "%s: %g", what, e);
}

Test(batchnorm, pytorch_parity_train_then_eval)
{
    cn_safetensors *st = NULL;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(FIXTURE, &st, &err), CN_OK, "%s", err.msg);
    cn_model *m = cn_model_new(&err);
    int in = cn_model_input(m, 3, 2, 2, &err);
    cn_attrs a = cn_attrs_make(CN_OP_BATCHNORM);
    a.eps = tst_fx_meta_num(st, "eps");
    a.momentum = tst_fx_meta_num(st, "momentum");
    int bn = cn_model_node(m, CN_OP_BATCHNORM, &a, &in, 1, "bn", &err);
    cr_assert(bn >= 0, "%s", err.msg);
    cn_compile_opts o = {.batch = 4, .training = 1, .input_grad = 1};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 1, 1);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    cn_params *ps = cn_model_params(m);
    cn_param *g = cn_params_find(ps, "bn.weight"), *b = cn_params_find(ps, "bn.bias");
    cn_param *rm = cn_params_find(ps, "bn.running_mean"), *rv = cn_params_find(ps, "bn.running_var");
    cr_assert(g && b && rm && rv);
    static const char *init[4] = {"gamma", "beta", "running_mean0", "running_var0"};
    cn_param *dst[4] = {g, b, rm, rv};
    for (int k = 0; k < 4; k++) {
        cn_real *v = tst_fx_reals(st, init[k], 3);
        memcpy(dst[k]->value, v, sizeof(cn_real) * 3);
        free(v);
    }
    /* step 1: training, batch 4 */
    cn_real *x1 = tst_fx_reals(st, "x1", 48), *dy1 = tst_fx_reals(st, "dy1", 48);
    cr_assert_eq(cn_model_forward(m, 4, x1, NULL, CN_TRAIN, &r, NULL, &err), CN_OK, "%s",
                 err.msg);
    cr_assert_eq(cn_model_backward_from(m, bn, dy1, &err), CN_OK, "%s", err.msg);
    static const char *n1[6] = {"y1", "dx1", "dgamma1", "dbeta1", "running_mean1",
                                "running_var1"};
    const cn_real *got1[6] = {cn_model_node_value(m, bn), cn_model_node_grad(m, in), g->grad,
                              b->grad, rm->value, rv->value};
    size_t len1[6] = {48, 48, 3, 3, 3, 3};
    for (int k = 0; k < 6; k++) {
        cn_real *want = tst_fx_reals(st, n1[k], len1[k]);
        expect_par(n1[k], got1[k], want, len1[k]);
        free(want);
    }
    /* step 2: evaluation with the updated running statistics, batch 2 */
    cn_zero_grad(m);
    cn_real rm1[3], rv1[3];
    memcpy(rm1, rm->value, sizeof rm1);
    memcpy(rv1, rv->value, sizeof rv1);
    cn_real *x2 = tst_fx_reals(st, "x2", 24), *dy2 = tst_fx_reals(st, "dy2", 24);
    cr_assert_eq(cn_model_forward(m, 2, x2, NULL, CN_EVAL, NULL, NULL, &err), CN_OK, "%s",
                 err.msg);
    cr_assert_eq(cn_model_backward_from(m, bn, dy2, &err), CN_OK, "%s", err.msg);
    static const char *n2[4] = {"y2", "dx2", "dgamma2", "dbeta2"};
    const cn_real *got2[4] = {cn_model_node_value(m, bn), cn_model_node_grad(m, in), g->grad,
                              b->grad};
    size_t len2[4] = {24, 24, 3, 3};
    for (int k = 0; k < 4; k++) {
        cn_real *want = tst_fx_reals(st, n2[k], len2[k]);
        expect_par(n2[k], got2[k], want, len2[k]);
        free(want);
    }
    cr_expect(memcmp(rm1, rm->value, sizeof rm1) == 0 && memcmp(rv1, rv->value, sizeof rv1) == 0,
              "evaluation changed the running statistics");
    free(x1);
    free(dy1);
    free(x2);
    free(dy2);
    cn_model_free(m);
    cn_safetensors_free(st);
}
