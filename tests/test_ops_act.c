/* test_ops_act.c: the activation ops through the graph (src/ops/activation.c):
 * every element-wise activation, maxout, softmax and log-softmax: forward values
 * against direct computations in double, whole-model gradient checks (kinked
 * activations on inputs kept away from their kinks), RReLU's training noise
 * (drawn, replayed) and evaluation slope, PReLU with one shared slope and one per
 * channel (PyTorch's 0.25 start, gradient with and without an input gradient),
 * and the compile-time errors. The kernels' PyTorch parity lives in
 * test_activation.c and test_softmax.c. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"
#include "support.h"
#include "support_model.h"

#ifdef CN_DOUBLE
#define FWD_TOL 1e-12 /* transcendentals in double on both sides */
#else
#define FWD_TOL 2e-6  /* float rounding of O(1) values (relative to 1 + |y|) */
#endif

/* ------------------------------------------------------------------ helpers */

/* case_count: reals in input j of c for the whole batch. */
static size_t case_count(const tst_op_case *c, int j)
{
    size_t cnt = (size_t)c->batch;
    for (int i = 0; i < c->ndim[j]; i++) cnt *= (size_t)c->shape[j][i];
    return cnt;
}

/* run_case: c's one-op model (tst_op_model) after one forward without targets in
 * c->mode (training draws from a fixed rng). */
static cn_model *run_case(const tst_op_case *c, cn_target *t)
{
    cn_model *m = tst_op_model(c, t);
    cn_rng r;
    cn_rng_seed(&r, 7, 3);
    cn_error err;
    cr_assert(cn_model_forward(m, c->batch, NULL, NULL, c->mode, &r, NULL, &err) == CN_OK,
              "%s", err.msg);
    return m;
}

/* assert_close: y (n) against ref (n), |y - ref| <= FWD_TOL (1 + |ref|). */
static void assert_close(const cn_real *y, const double *ref, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs((double)y[i] - ref[i]) <= FWD_TOL * (1.0 + fabs(ref[i])),
                  "%s: y[%zu] = %.17g, expected %.17g", what, i, (double)y[i], ref[i]);
}

/* spread_inputs: fill every input buffer of m with a shuffled grid of values
 * 0.1 k + 0.05 (k an integer): no value is within 0.05 of 0 and any two differ
 * by at least 0.1. Centred differences step h (1e-2 in float, 1e-5 in double)
 * therefore never cross a kink of relu, leaky_relu, prelu, rrelu, elu, selu (at
 * 0) or of maxout (where two pieces tie): the loss is smooth on [x - h, x + h]
 * and the check is as strict as for a smooth op. */
static void spread_inputs(cn_model *m, const tst_op_case *c)
{
    cn_rng r;
    cn_rng_seed(&r, c->seed, 17);
    for (int j = 0; j < c->n_in; j++) {
        size_t cnt = case_count(c, j);
        int *idx = malloc(sizeof(int) * cnt);
        cr_assert(idx);
        for (size_t k = 0; k < cnt; k++) idx[k] = (int)k;
        cn_rng_shuffle(&r, idx, cnt);
        cn_real *x = cn_model_input_buffer(m, j);
        for (size_t k = 0; k < cnt; k++)
            x[k] = (cn_real)(0.1 * (idx[k] - (int)(cnt / 2)) + 0.05);
        free(idx);
    }
}

/* PL_H: the step for piecewise-linear ops (relu, leaky_relu, prelu, rrelu,
 * maxout). Between kinks the MSE of a piecewise-linear map is quadratic in each
 * coordinate, so a centred difference is exact up to rounding (~eps L / h): in
 * double a step of 1e-3 (still far below spread_inputs' 0.05 margin) keeps that
 * rounding below the 1e-7 bound even for gradients of 1e-5 (the default 1e-5
 * step leaves ~1e-7 there); in float 4e-2 (< 0.05, and two maxout pieces stay
 * 0.1 - 2 * 0.04 apart) keeps float rounding a few per cent of such gradients. */
#ifdef CN_DOUBLE
#define PL_H 1e-3
#else
#define PL_H 4e-2
#endif

/* piecewise_linear: 1 for the ops whose loss is quadratic between kinks. */
static int piecewise_linear(cn_op_kind op)
{
    return op == CN_OP_RELU || op == CN_OP_LEAKY_RELU || op == CN_OP_PRELU ||
           op == CN_OP_RRELU || op == CN_OP_MAXOUT;
}

/* gradcheck_spread: tst_op_gradcheck on c with spread_inputs applied first (and
 * the step PL_H for piecewise-linear ops). */
static double gradcheck_spread(const tst_op_case *c)
{
    cn_target t;
    cn_model *m = tst_op_model(c, &t);
    spread_inputs(m, c);
    cn_error err;
    cn_rng r;
    cn_rng_seed(&r, c->seed, 11);
    cn_model_gradcheck_opts o = {.per_param = c->per_param, .input = 1,
                                 .h = piecewise_linear(c->op) ? PL_H : TST_GRAD_H,
                                 .seed = c->seed};
    cn_model_gradcheck_report rep;
    cr_assert(cn_model_gradcheck(m, c->batch, NULL, &t, c->mode, &r, &o, &rep, &err) == CN_OK,
              "%s", err.msg);
    cr_log_info("gradcheck %s (spread inputs): max rel err %.3g at %s (analytic %.6g, "
                "numeric %.6g), %zu coords",
                cn_op_name(c->op), rep.max_rel_err, rep.worst, rep.worst_analytic,
                rep.worst_numeric, rep.checked);
    cn_model_free(m);
    tst_op_target_free(&t);
    return rep.max_rel_err;
}

/* compile_status: input of shape (ndim, dims) -> op (attributes a, named "op");
 * the status of compiling it (err filled). */
static cn_status compile_status(cn_op_kind op, const cn_attrs *a, int ndim, const int *dims,
                                cn_error *err)
{
    cn_model *m = cn_model_new(err);
    cr_assert(m);
    cn_attrs ia = cn_attrs_make(CN_OP_INPUT);
    ia.ndim = ndim;
    memcpy(ia.shape, dims, sizeof(int) * (size_t)ndim);
    int x = cn_model_node(m, CN_OP_INPUT, &ia, NULL, 0, "x", err);
    cr_assert(x >= 0, "%s", err->msg);
    int y = cn_model_node(m, op, a, &x, 1, "op", err);
    cr_assert(y >= 0, "%s", err->msg);
    cn_compile_opts o = {.batch = 2, .training = 1, .input_grad = 1};
    cn_status st = cn_model_compile(m, &o, err);
    cn_model_free(m);
    return st;
}

/* ref_act: the activation of op at x, directly from its definition; a is the
 * slope of the negative side (prelu's weight, rrelu's evaluation slope). */
static double ref_act(cn_op_kind op, const cn_act_params *p, double x, double a)
{
    switch (op) {
    case CN_OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case CN_OP_TANH: return tanh(x);
    case CN_OP_RELU: return x > 0 ? x : 0.0;
    case CN_OP_LEAKY_RELU: return x > 0 ? x : p->slope * x;
    case CN_OP_PRELU: case CN_OP_RRELU: return x > 0 ? x : a * x;
    case CN_OP_ELU: return x > 0 ? x : p->alpha * (exp(x) - 1.0);
    case CN_OP_SELU:
        return CN_SELU_SCALE * (x > 0 ? x : CN_SELU_ALPHA * (exp(x) - 1.0));
    case CN_OP_SOFTPLUS:
        return p->beta * x > p->threshold ? x : log1p(exp(p->beta * x)) / p->beta;
    case CN_OP_GELU:
        if (p->gelu_tanh)
            return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
        return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    default: cr_assert_fail("no reference for %s", cn_op_name(op)); return 0;
    }
}

/* act_case: an element-wise op on (2, 3, 2) inputs ~ N(0, 4), with parameters
 * other than PyTorch's defaults so the test sees them used. */
static tst_op_case act_case(cn_op_kind op)
{
    int dims[3] = {2, 3, 2};
    tst_op_case c = tst_op_case_make(op, 3, dims);
    c.a.act.slope = 0.2;
    c.a.act.alpha = 0.7;
    c.a.act.beta = 2.0;
    c.a.act.threshold = 1.0; /* beta x > 1 (x > 0.5) takes the linear branch */
    c.scale = 2.0;
    return c;
}

/* check_act_forward: the op's output against ref_act element by element (prelu:
 * slope weight[channel] or weight[0]; rrelu: in c->mode == CN_EVAL only). */
static void check_act_forward(const tst_op_case *c)
{
    cn_target t;
    cn_model *m = run_case(c, &t);
    size_t cnt = case_count(c, 0);
    size_t inner = cnt / (size_t)c->batch / (size_t)c->shape[0][0];
    int ch = c->shape[0][0];
    const cn_real *x = cn_model_input_buffer(m, 0);
    const cn_real *y = cn_model_node_value(m, cn_model_find(m, "op"));
    const cn_real *w = NULL;
    if (c->op == CN_OP_PRELU) w = cn_params_find(cn_model_params(m), "op.weight")->value;
    double *ref = malloc(sizeof(double) * cnt);
    cr_assert(ref);
    for (size_t i = 0; i < cnt; i++) {
        double a = 0.0;
        if (w) a = w[c->a.act.prelu_channels ? (i / inner) % (size_t)ch : 0];
        if (c->op == CN_OP_RRELU) a = 0.5 * (c->a.act.lower + c->a.act.upper);
        ref[i] = ref_act(c->op, &c->a.act, x[i], a);
    }
    assert_close(y, ref, cnt, cn_op_name(c->op));
    free(ref);
    cn_model_free(m);
    tst_op_target_free(&t);
}

/* ------------------------------------------------------------------ element-wise */

Test(ops_act, elementwise_forward_matches_direct)
{
    for (int op = CN_OP_SIGMOID; op <= CN_OP_GELU; op++) {
        tst_op_case c = act_case((cn_op_kind)op);
        if (op == CN_OP_RRELU) c.mode = CN_EVAL; /* training draws: see the rrelu tests */
        check_act_forward(&c);
    }
    tst_op_case g = act_case(CN_OP_GELU);
    g.a.act.gelu_tanh = 1;
    check_act_forward(&g);
}

Test(ops_act, elementwise_any_rank)
{
    /* (5) and (2, 2, 2, 2) samples: the ops only see a (channels, inner) layout */
    int d1[1] = {5}, d4[4] = {2, 2, 2, 2};
    cn_op_kind ops[3] = {CN_OP_TANH, CN_OP_PRELU, CN_OP_GELU};
    for (int k = 0; k < 3; k++) {
        tst_op_case c = tst_op_case_make(ops[k], 1, d1);
        check_act_forward(&c);
        c.a.act.prelu_channels = 1;
        check_act_forward(&c);
        c = tst_op_case_make(ops[k], 4, d4);
        c.a.act.prelu_channels = 1;
        check_act_forward(&c);
    }
}

Test(ops_act, smooth_activations_gradcheck)
{
    /* smooth everywhere: plain normal inputs. softplus keeps its default threshold
     * 20, far above every beta x here (the switch to x is a 2e-9 step). */
    cn_op_kind ops[3] = {CN_OP_SIGMOID, CN_OP_TANH, CN_OP_SOFTPLUS};
    for (int k = 0; k < 3; k++) {
        int dims[3] = {2, 3, 2};
        tst_op_case c = tst_op_case_make(ops[k], 3, dims);
        c.a.act.beta = 1.5;
        cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL, "%s", cn_op_name(ops[k]));
    }
    int dims[2] = {3, 4};
    tst_op_case c = tst_op_case_make(CN_OP_GELU, 2, dims);
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    c.a.act.gelu_tanh = 1;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
}

Test(ops_act, kinked_activations_gradcheck_away_from_kinks)
{
    /* relu, leaky_relu, prelu (kink at 0), elu with alpha != 1 and selu (slope
     * jumps at 0): inputs from spread_inputs, never within 0.05 of 0 */
    cn_op_kind ops[5] = {CN_OP_RELU, CN_OP_LEAKY_RELU, CN_OP_PRELU, CN_OP_ELU, CN_OP_SELU};
    for (int k = 0; k < 5; k++) {
        tst_op_case c = act_case(ops[k]);
        cr_assert_lt(gradcheck_spread(&c), TST_GRAD_TOL, "%s", cn_op_name(ops[k]));
        c.mode = CN_EVAL;
        cr_assert_lt(gradcheck_spread(&c), TST_GRAD_TOL, "%s eval", cn_op_name(ops[k]));
    }
}

/* ------------------------------------------------------------------ prelu */

Test(ops_act, prelu_weight_shapes_and_pytorch_start)
{
    for (int per = 0; per <= 1; per++) {
        cn_error err;
        cn_model *m = cn_model_new(&err);
        int x = cn_model_input(m, 3, 2, 2, &err);
        cn_attrs a = cn_attrs_make(CN_OP_PRELU);
        a.act.prelu_channels = per;
        int y = cn_model_node(m, CN_OP_PRELU, &a, &x, 1, "p", &err);
        cr_assert(y >= 0, "%s", err.msg);
        cn_compile_opts o = {.batch = 2, .training = 0};
        cr_assert(cn_model_compile(m, &o, &err) == CN_OK, "%s", err.msg);
        cn_rng r;
        cn_rng_seed(&r, 1, 1);
        cr_assert(cn_model_init(m, &r, &err) == CN_OK, "%s", err.msg);
        cn_param *w = cn_params_find(cn_model_params(m), "p.weight");
        cr_assert(w);
        cr_assert_eq(w->role, CN_PARAM_NORM);
        cr_assert_eq(w->ndim, 1);
        cr_assert_eq(w->shape[0], per ? 3 : 1);
        for (size_t q = 0; q < w->numel; q++) cr_assert_eq(w->value[q], (cn_real)0.25);
        cn_model_free(m);
    }
}

Test(ops_act, prelu_shared_and_per_channel)
{
    for (int per = 0; per <= 1; per++) {
        tst_op_case c = act_case(CN_OP_PRELU);
        c.a.act.prelu_channels = per;
        check_act_forward(&c);
        cr_assert_lt(gradcheck_spread(&c), TST_GRAD_TOL, "prelu_channels %d", per);
    }
}

Test(ops_act, prelu_slope_gradient_without_input_gradient)
{
    /* input -> prelu -> mse compiled without input_grad: the op gets dx NULL but
     * must still accumulate dL/da (through its scratch) */
    for (int per = 0; per <= 1; per++) {
        cn_error err;
        cn_model *m = cn_model_new(&err);
        int x = cn_model_input(m, 3, 2, 2, &err);
        cn_attrs a = cn_attrs_make(CN_OP_PRELU);
        a.act.prelu_channels = per;
        int y = cn_model_node(m, CN_OP_PRELU, &a, &x, 1, "p", &err);
        int l = cn_model_unary(m, CN_OP_MSE, y, &err);
        cr_assert(l >= 0, "%s", err.msg);
        cn_compile_opts o = {.batch = 2, .training = 1, .input_grad = 0};
        cr_assert(cn_model_compile(m, &o, &err) == CN_OK, "%s", err.msg);
        cn_rng r;
        cn_rng_seed(&r, 3, 1);
        cr_assert(cn_model_init(m, &r, &err) == CN_OK, "%s", err.msg);
        cn_real xs[24], tv[24];
        for (int i = 0; i < 24; i++) {
            xs[i] = (cn_real)(0.1 * (i - 12) + 0.05); /* never within 0.05 of the kink */
            tv[i] = (cn_real)(0.3 * cn_rng_normal(&r));
        }
        cn_target t = {.labels = NULL, .values = tv};
        cn_model_gradcheck_opts go = {.input = 0, .h = TST_GRAD_H, .seed = 1};
        cn_model_gradcheck_report rep;
        cr_assert(cn_model_gradcheck(m, 2, xs, &t, CN_TRAIN, &r, &go, &rep, &err) == CN_OK,
                  "%s", err.msg);
        cr_assert_eq(rep.checked, per ? 3u : 1u);
        cr_assert_lt(rep.max_rel_err, TST_GRAD_TOL, "worst %s", rep.worst);
        cn_model_free(m);
    }
}

/* ------------------------------------------------------------------ rrelu */

Test(ops_act, rrelu_training_draws_replays_and_gradchecks)
{
    tst_op_case c = act_case(CN_OP_RRELU);
    c.a.act.lower = 0.1;
    c.a.act.upper = 0.4;
    cn_target t;
    cn_model *m = run_case(&c, &t); /* a training forward: slopes drawn */
    int op = cn_model_find(m, "op");
    size_t cnt = case_count(&c, 0);
    const cn_real *x = cn_model_input_buffer(m, 0);
    const cn_real *y = cn_model_node_value(m, op);
    cn_real *y1 = tst_reals(cnt);
    memcpy(y1, y, sizeof(cn_real) * cnt);
    double lo = 1, hi = 0;
    for (size_t i = 0; i < cnt; i++) {
        if (x[i] > 0) {
            cr_assert_eq(y1[i], x[i], "x > 0 passes through");
        } else {
            double s = (double)y1[i] / (double)x[i];
            cr_assert(s >= 0.1 - 1e-6 && s <= 0.4 + 1e-6, "slope %g outside [0.1, 0.4]", s);
            lo = fmin(lo, s);
            hi = fmax(hi, s);
        }
    }
    cr_assert_gt(hi - lo, 0.01, "the slopes are random, not one value");
    /* rng NULL replays the slopes exactly */
    cn_error err;
    cr_assert(cn_model_forward(m, c.batch, NULL, NULL, CN_TRAIN, NULL, NULL, &err) == CN_OK,
              "%s", err.msg);
    cr_assert_eq(tst_max_abs_diff(y1, y, cnt), 0.0);
    /* a new rng draws new slopes */
    cn_rng r;
    cn_rng_seed(&r, 99, 1);
    cr_assert(cn_model_forward(m, c.batch, NULL, NULL, CN_TRAIN, &r, NULL, &err) == CN_OK);
    cr_assert_gt(tst_max_abs_diff(y1, y, cnt), 0.0);
    /* evaluation: the mean slope (lower + upper) / 2 */
    cr_assert(cn_model_forward(m, c.batch, NULL, NULL, CN_EVAL, NULL, NULL, &err) == CN_OK);
    for (size_t i = 0; i < cnt; i++)
        cr_assert(fabs((double)y[i] - (x[i] > 0 ? x[i] : 0.25 * x[i])) <= FWD_TOL * 4);
    free(y1);
    cn_model_free(m);
    tst_op_target_free(&t);
    /* gradients: training with the drawn slopes held fixed, and evaluation */
    cr_assert_lt(gradcheck_spread(&c), TST_GRAD_TOL);
    c.mode = CN_EVAL;
    check_act_forward(&c);
    cr_assert_lt(gradcheck_spread(&c), TST_GRAD_TOL);
}

/* ------------------------------------------------------------------ maxout */

Test(ops_act, maxout_forward_and_gradcheck)
{
    for (int k = 2; k <= 3; k++) {
        int dims[3] = {2 * k, 2, 3};
        tst_op_case c = tst_op_case_make(CN_OP_MAXOUT, 3, dims);
        c.a.pieces = k;
        cn_target t;
        cn_model *m = run_case(&c, &t);
        int op = cn_model_find(m, "op"), nd, shp[CN_MAX_DIMS];
        cn_error err;
        cr_assert(cn_model_node_shape(m, op, &nd, shp, &err) == CN_OK);
        cr_assert(nd == 3 && shp[0] == 2 && shp[1] == 2 && shp[2] == 3);
        const cn_real *x = cn_model_input_buffer(m, 0), *y = cn_model_node_value(m, op);
        for (int i = 0; i < c.batch; i++)
            for (int o = 0; o < 2; o++)
                for (int q = 0; q < 6; q++) {
                    cn_real best = -INFINITY;
                    for (int p = 0; p < k; p++) /* k consecutive input channels */
                        best = fmax(best, x[(i * 2 * k + o * k + p) * 6 + q]);
                    cr_assert_eq(y[(i * 2 + o) * 6 + q], best, "k %d y[%d,%d,%d]", k, i, o, q);
                }
        cn_model_free(m);
        tst_op_target_free(&t);
        /* maxout's kinks are ties between pieces: spread inputs differ by >= 0.1 */
        cr_assert_lt(gradcheck_spread(&c), TST_GRAD_TOL, "k %d", k);
    }
    int d1[1] = {6};
    tst_op_case c = tst_op_case_make(CN_OP_MAXOUT, 1, d1);
    c.a.pieces = 3;
    cr_assert_lt(gradcheck_spread(&c), TST_GRAD_TOL, "(6) with k 3");
}

/* ------------------------------------------------------------------ softmax */

Test(ops_act, softmax_and_log_softmax_axes)
{
    int dims[3] = {3, 2, 4}; /* (c, h, w) */
    for (int lg = 0; lg <= 1; lg++)
        for (int axis = 0; axis <= 1; axis++) {
            cn_op_kind op = lg ? CN_OP_LOG_SOFTMAX : CN_OP_SOFTMAX;
            tst_op_case c = tst_op_case_make(op, 3, dims);
            c.a.axis = axis;
            c.scale = 2.0;
            cn_target t;
            cn_model *m = run_case(&c, &t);
            const cn_real *x = cn_model_input_buffer(m, 0);
            const cn_real *y = cn_model_node_value(m, cn_model_find(m, "op"));
            size_t cnt = case_count(&c, 0);
            double *ref = malloc(sizeof(double) * cnt);
            cr_assert(ref);
            /* strides of (n, 3, 2, 4): the axis stride and length */
            int len = dims[axis];
            size_t stride = axis == 0 ? 8 : 4;
            for (size_t e = 0; e < cnt; e++) {
                size_t pos = (e / stride) % (size_t)len;
                size_t base = e - pos * stride;
                double s = 0;
                for (int k = 0; k < len; k++) s += exp((double)x[base + (size_t)k * stride]);
                ref[e] = lg ? (double)x[e] - log(s) : exp((double)x[e]) / s;
            }
            assert_close(y, ref, cnt, cn_op_name(op));
            free(ref);
            cn_model_free(m);
            tst_op_target_free(&t);
            c.scale = 1.0;
            cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL, "%s axis %d", cn_op_name(op), axis);
        }
    /* axis 2 (w) and a vector of class scores */
    tst_op_case c = tst_op_case_make(CN_OP_SOFTMAX, 3, dims);
    c.a.axis = 2;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    int d1[1] = {5};
    c = tst_op_case_make(CN_OP_LOG_SOFTMAX, 1, d1);
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
}

/* ------------------------------------------------------------------ errors and flops */

Test(ops_act, shape_errors_name_the_node_and_shapes)
{
    cn_error err;
    int d[3] = {5, 2, 2};
    cn_attrs a = cn_attrs_make(CN_OP_MAXOUT); /* pieces 2 */
    cr_assert_eq(compile_status(CN_OP_MAXOUT, &a, 3, d, &err), CN_ERR_SHAPE);
    cr_assert(strstr(err.msg, "'op' (maxout)") && strstr(err.msg, "(5, 2, 2)") &&
                  strstr(err.msg, "pieces 2"),
              "%s", err.msg);
    a.pieces = 0;
    cr_assert_eq(compile_status(CN_OP_MAXOUT, &a, 3, d, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "'op' (maxout)"), "%s", err.msg);

    for (int lg = 0; lg <= 1; lg++) {
        cn_op_kind op = lg ? CN_OP_LOG_SOFTMAX : CN_OP_SOFTMAX;
        cn_attrs s = cn_attrs_make(op);
        s.axis = 3;
        cr_assert_eq(compile_status(op, &s, 3, d, &err), CN_ERR_SHAPE);
        cr_assert(strstr(err.msg, "'op'") && strstr(err.msg, cn_op_name(op)) &&
                      strstr(err.msg, "axis 3") && strstr(err.msg, "(5, 2, 2)"),
                  "%s", err.msg);
        s.axis = -1;
        cr_assert_eq(compile_status(op, &s, 3, d, &err), CN_ERR_SHAPE);
    }
}

Test(ops_act, flops_per_sample)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 4, 3, 3, &err);
    int r = cn_model_unary(m, CN_OP_RELU, x, &err);
    cn_attrs a = cn_attrs_make(CN_OP_MAXOUT);
    int mo = cn_model_node(m, CN_OP_MAXOUT, &a, &r, 1, "mo", &err);
    int sm = cn_model_unary(m, CN_OP_SOFTMAX, mo, &err);
    cr_assert(sm >= 0, "%s", err.msg);
    cn_compile_opts o = {.batch = 1};
    cr_assert(cn_model_compile(m, &o, &err) == CN_OK, "%s", err.msg);
    cr_assert_eq(cn_model_node_flops(m, r), 36.0);  /* one compare per element */
    cr_assert_eq(cn_model_node_flops(m, mo), 18.0); /* k - 1 compares per output */
    cr_assert_gt(cn_model_node_flops(m, sm), 18.0);
    cn_model_free(m);
}
