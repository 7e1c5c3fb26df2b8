/* test_model.c: the model graph itself: building errors, automatic names,
 * compile (shapes, parameter layout, memory plan), forward at a batch below the
 * compiled one, gradients summed over several consumers, gradient accumulation
 * and cn_zero_grad, backward_from a node, input gradients, parameter store
 * (names, views, freeze, optimiser state, values kept across recompiles),
 * determinism and thread-count invariance of a small ConvNet. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"
#include "support.h"
#include "support_model.h"

/* small_convnet: input (2, 6, 6) -> conv 3x3 (4) -> maxpool 2 -> linear (3) ->
 * cross-entropy. Returns the model, compiled for batch with training. */
static cn_model *small_convnet(int batch, int input_grad)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 2, 6, 6, &err);
    int c = cn_model_conv2d(m, x, 4, 3, 1, 1, &err);
    int p = cn_model_maxpool2d(m, c, 2, 2, &err);
    int f = cn_model_linear(m, p, 3, &err);
    int l = cn_model_unary(m, CN_OP_CROSS_ENTROPY, f, &err);
    cr_assert(l >= 0, "%s", err.msg);
    cn_compile_opts o = {.batch = batch, .training = 1, .input_grad = input_grad};
    cr_assert(cn_model_compile(m, &o, &err) == CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 42, 1);
    cr_assert(cn_model_init(m, &r, &err) == CN_OK, "%s", err.msg);
    return m;
}

Test(model, names_shapes_params_and_flops)
{
    cn_model *m = small_convnet(4, 0);
    cr_assert_eq(cn_model_batch(m), 4);
    cr_assert_eq(cn_model_batch(NULL), 0);
    cr_assert_eq(cn_model_num_nodes(m), 5);
    cr_assert_str_eq(cn_model_node_name(m, 1), "conv2d1");
    cr_assert_eq(cn_model_find(m, "linear1"), 3);
    cr_assert_eq(cn_model_output(m), 3);
    int nd, s[CN_MAX_DIMS];
    cn_error err;
    cr_assert(cn_model_node_shape(m, 2, &nd, s, &err) == CN_OK);
    cr_assert(nd == 3 && s[0] == 4 && s[1] == 3 && s[2] == 3);
    cr_assert(cn_model_node_shape(m, 4, &nd, s, &err) == CN_OK && nd == 0);
    cn_params *ps = cn_model_params(m);
    cr_assert_eq(ps->n, 4);
    cr_assert_str_eq(ps->p[0].name, "conv2d1.weight");
    cr_assert_str_eq(ps->p[3].name, "linear1.bias");
    cr_assert_eq(ps->count, (size_t)(4 * 2 * 9 + 4 + 3 * 36 + 3));
    cr_assert_eq(ps->p[1].role, CN_PARAM_BIAS);
    for (size_t i = 0; i < ps->p[1].numel; i++) cr_assert(ps->p[1].value[i] == 0);
    cr_assert_eq(ps->p[2].value, ps->values + ps->p[2].offset);
    /* conv: 2 * 4 * 36 positions * 18 taps; linear 2 * 36 * 3 */
    cr_assert(fabs(cn_model_node_flops(m, 1) - 2.0 * 4 * 36 * 18) < 1e-9);
    cr_assert(fabs(cn_model_node_flops(m, 3) - 2.0 * 36 * 3) < 1e-9);
    cn_model_memory mem;
    cr_assert(cn_model_memory_plan(m, &mem, &err) == CN_OK);
    /* activations: input 72, conv 144, pool 36, linear 3 (per sample) x 4 + loss 1 */
    size_t act = 0;
    size_t per[5] = {4 * 72, 4 * 144, 4 * 36, 4 * 3, 1};
    for (int i = 0; i < 5; i++) act += (per[i] * sizeof(cn_real) + 63) / 64 * 64;
    cr_assert_eq(mem.activations, act);
    /* no gradient for the input (no input_grad) */
    cr_assert(mem.gradients > 0 && mem.gradients < act);
    cn_model_free(m);
}

Test(model, build_errors)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 3, 8, 8, &err);
    cr_assert_eq(cn_model_node(m, CN_OP_ADD, NULL, &x, 1, NULL, &err), -1);
    cr_assert(strstr(err.msg, "add1") && strstr(err.msg, "at least 2"), "%s", err.msg);
    int bad = 17;
    cr_assert_eq(cn_model_node(m, CN_OP_RELU, NULL, &bad, 1, NULL, &err), -1);
    cr_assert(strstr(err.msg, "17"), "%s", err.msg);
    cr_assert_eq(cn_model_node(m, CN_OP_RELU, NULL, &x, 1, "bad name!", &err), -1);
    cr_assert(cn_model_node(m, CN_OP_RELU, NULL, &x, 1, "r", &err) >= 0);
    cr_assert_eq(cn_model_node(m, CN_OP_RELU, NULL, &x, 1, "r", &err), -1);
    cr_assert(strstr(err.msg, "already"), "%s", err.msg);
    cn_attrs a = cn_attrs_make(CN_OP_DROPOUT);
    a.p = 1.5;
    cr_assert_eq(cn_model_node(m, CN_OP_DROPOUT, &a, &x, 1, NULL, &err), -1);
    cr_assert(strstr(err.msg, "dropout1") && strstr(err.msg, "1.5"), "%s", err.msg);
    /* chained builders: a failed id propagates */
    cr_assert_eq(cn_model_linear(m, cn_model_conv2d(m, -1, 4, 3, 1, 1, &err), 3, &err), -1);
    int l = cn_model_unary(m, CN_OP_CROSS_ENTROPY, cn_model_flatten(m, x, &err), &err);
    cr_assert(l >= 0);
    cr_assert_eq(cn_model_unary(m, CN_OP_RELU, l, &err), -1);
    cr_assert(strstr(err.msg, "loss"), "%s", err.msg);
    cn_op_kind k;
    cr_assert_eq(cn_op_parse("conv2", &k, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "conv2d"), "%s", err.msg);
    cr_assert(cn_op_parse("maxpool2d", &k, &err) == CN_OK && k == CN_OP_MAXPOOL2D);
    for (int i = 0; i < CN_OP_COUNT; i++)
        cr_assert_str_neq(cn_op_name((cn_op_kind)i), "?", "op %d has no vtable", i);
    cn_model_free(m);
    /* no input */
    m = cn_model_new(&err);
    cn_compile_opts o = {.batch = 1};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_ERR_ARG);
    cn_model_free(m);
}

Test(model, run_order_errors)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 4, 0, 0, &err);
    int y = cn_model_linear(m, x, 2, &err);
    cr_assert(cn_model_unary(m, CN_OP_CROSS_ENTROPY, y, &err) >= 0);
    cn_real in[8] = {0};
    int lab[2] = {0, 1};
    cn_target t = {.labels = lab};
    cr_assert_eq(cn_model_forward(m, 2, in, &t, CN_EVAL, NULL, NULL, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "not compiled"), "%s", err.msg);
    cn_compile_opts o = {.batch = 2, .training = 0};
    cr_assert(cn_model_compile(m, &o, &err) == CN_OK);
    cr_assert_eq(cn_model_forward(m, 2, in, &t, CN_EVAL, NULL, NULL, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "initialised"), "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 1, 1);
    cr_assert(cn_model_init(m, &r, &err) == CN_OK);
    cr_assert_eq(cn_model_forward(m, 3, in, &t, CN_EVAL, NULL, NULL, &err), CN_ERR_ARG);
    cr_assert_eq(cn_model_forward(m, 2, in, &t, CN_TRAIN, &r, NULL, &err), CN_ERR_ARG);
    cr_assert(cn_model_forward(m, 2, in, &t, CN_EVAL, NULL, NULL, &err) == CN_OK);
    cr_assert_eq(cn_model_backward(m, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "without training"), "%s", err.msg);
    cn_model_free(m);
}

Test(model, partial_batch_matches_full_batch_rows)
{
    cn_model *m = small_convnet(5, 0);
    cn_rng r;
    cn_rng_seed(&r, 9, 2);
    cn_real x[5 * 72];
    tst_fill_normal(&r, x, 5 * 72, 1.0);
    cn_error err;
    cr_assert(cn_model_forward(m, 5, x, NULL, CN_EVAL, NULL, NULL, &err) == CN_OK);
    cn_real full[15];
    memcpy(full, cn_model_node_value(m, 3), sizeof full);
    cr_assert(cn_model_forward(m, 2, x + 3 * 72, NULL, CN_EVAL, NULL, NULL, &err) == CN_OK);
    const cn_real *part = cn_model_node_value(m, 3);
    for (int i = 0; i < 6; i++) /* a GEMM of another height may round differently */
        cr_assert(fabs(part[i] - full[9 + i]) <= 1e-5 * (1 + fabs(full[9 + i])), "row %d", i);
    cn_model_free(m);
}

Test(model, consumers_sum_and_grads_accumulate)
{
    /* y = linear(x); z = add(y, y) and mul(y, y) both feed the loss: the graph
     * must sum every consumer's contribution */
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 3, 0, 0, &err);
    int y = cn_model_linear(m, x, 2, &err);
    int a = cn_model_add(m, y, y, &err);
    int pair[2] = {a, y};
    int mu = cn_model_node(m, CN_OP_MUL, NULL, pair, 2, NULL, &err);
    cr_assert(cn_model_unary(m, CN_OP_MSE, mu, &err) >= 0, "%s", err.msg);
    cn_compile_opts o = {.batch = 2, .training = 1, .input_grad = 1};
    cr_assert(cn_model_compile(m, &o, &err) == CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 5, 5);
    cr_assert(cn_model_init(m, &r, &err) == CN_OK);
    cn_real xin[6], tv[4];
    tst_fill_normal(&r, xin, 6, 1.0);
    tst_fill_normal(&r, tv, 4, 1.0);
    cn_target t = {.values = tv};
    cn_model_gradcheck_opts go = {.per_param = 0, .input = 1, .h = TST_GRAD_H, .seed = 1};
    cn_model_gradcheck_report rep;
    cr_assert(cn_model_gradcheck(m, 2, xin, &t, CN_TRAIN, &r, &go, &rep, &err) == CN_OK, "%s",
              err.msg);
    cr_log_info("consumers gradcheck %.3g at %s", rep.max_rel_err, rep.worst);
    cr_assert_lt(rep.max_rel_err, TST_GRAD_TOL);
    /* dL/dy = 2 * 2y (from add via mul) ... checked against the closed form */
    cr_assert(cn_model_forward(m, 2, xin, &t, CN_TRAIN, &r, NULL, &err) == CN_OK);
    cn_zero_grad(m);
    cr_assert(cn_model_backward(m, &err) == CN_OK);
    const cn_real *yv = cn_model_node_value(m, y), *dy = cn_model_node_grad(m, y);
    for (int i = 0; i < 4; i++) {
        double z = 2.0 * yv[i] * yv[i];             /* mul(2y, y) */
        double dz = 2.0 * (z - tv[i]) / 4.0;        /* mean over 4 */
        double want = dz * 4.0 * yv[i];             /* d(2y^2)/dy */
        cr_assert(fabs(dy[i] - want) < 1e-4 * (1 + fabs(want)), "%d: %g vs %g", i, dy[i], want);
    }
    /* accumulation: a second backward doubles the parameter gradients */
    cn_params *ps = cn_model_params(m);
    cn_real g1 = ps->grads[0];
    cr_assert(cn_model_backward(m, &err) == CN_OK);
    cr_assert(fabs(ps->grads[0] - 2 * g1) <= 1e-6 * fabs(g1) + 1e-12);
    cn_zero_grad(m);
    for (size_t i = 0; i < ps->count; i++) cr_assert(ps->grads[i] == 0);
    cn_model_free(m);
}

Test(model, backward_from_gives_saliency)
{
    cn_model *m = small_convnet(2, 1);
    cn_rng r;
    cn_rng_seed(&r, 3, 3);
    cn_real x[2 * 72];
    tst_fill_normal(&r, x, 2 * 72, 1.0);
    cn_error err;
    cr_assert(cn_model_forward(m, 2, x, NULL, CN_EVAL, NULL, NULL, &err) == CN_OK);
    /* d(score of class 1 of sample 0)/dx by backward_from vs finite differences */
    cn_real seed[6] = {0, 1, 0, 0, 0, 0};
    cr_assert(cn_model_backward_from(m, 3, seed, &err) == CN_OK, "%s", err.msg);
    const cn_real *g = cn_model_node_grad(m, 0);
    cn_real gs[2 * 72];
    memcpy(gs, g, sizeof gs);
    for (int i = 72; i < 144; i++) cr_assert(gs[i] == 0, "sample 1 gets no gradient");
    double h = TST_GRAD_H;
    for (int i = 0; i < 72; i += 7) {
        cn_real old = x[i];
        x[i] = (cn_real)(old + h);
        cr_assert(cn_model_forward(m, 2, x, NULL, CN_EVAL, NULL, NULL, &err) == CN_OK);
        double fp = cn_model_node_value(m, 3)[1];
        x[i] = (cn_real)(old - h);
        cr_assert(cn_model_forward(m, 2, x, NULL, CN_EVAL, NULL, NULL, &err) == CN_OK);
        double fm = cn_model_node_value(m, 3)[1];
        x[i] = old;
        double num = (fp - fm) / (2 * h);
        cr_assert(fabs(num - gs[i]) < 1e-3 * (1 + fabs(num)), "x[%d]: %g vs %g", i, gs[i], num);
    }
    cn_model_free(m);
}

Test(model, recompile_keeps_values_and_freeze_state)
{
    cn_model *m = small_convnet(4, 0);
    cn_params *ps = cn_model_params(m);
    cn_error err;
    cr_assert_eq(cn_params_freeze(ps, "conv2d1.", 1, &err), 2);
    cr_assert_eq(cn_params_freeze(ps, "nothing", 1, &err), -1);
    cn_real w0 = ps->p[0].value[5];
    cn_real *st = cn_params_state(ps, 2, &err);
    cr_assert(st && st[2 * ps->count - 1] == 0);
    cn_compile_opts o = {.batch = 16, .training = 1};
    cr_assert(cn_model_compile(m, &o, &err) == CN_OK);
    ps = cn_model_params(m);
    cr_assert(ps->p[0].value[5] == w0);
    cr_assert(ps->p[0].frozen && ps->p[1].frozen && !ps->p[2].frozen);
    cr_assert(cn_params_find(ps, "linear1.weight") == &ps->p[2]);
    cn_real x[16 * 72] = {0};
    cr_assert(cn_model_forward(m, 16, x, NULL, CN_EVAL, NULL, NULL, &err) == CN_OK,
              "values kept: no re-init needed: %s", err.msg);
    cn_model_free(m);
}

/* run_steps: a training forward + backward of a fixed batch; returns the sum of
 * the parameter gradients' absolute values and copies the logits into out. */
static double run_once(int threads, cn_real *out)
{
    cn_set_num_threads(threads);
    cn_model *m = small_convnet(10, 0);
    cn_rng r;
    cn_rng_seed(&r, 77, 1);
    cn_real x[10 * 72];
    tst_fill_normal(&r, x, 10 * 72, 1.0);
    int lab[10];
    for (int i = 0; i < 10; i++) lab[i] = i % 3;
    cn_target t = {.labels = lab};
    cn_error err;
    double loss;
    cr_assert(cn_model_forward(m, 10, x, &t, CN_TRAIN, &r, &loss, &err) == CN_OK);
    cr_assert(cn_model_backward(m, &err) == CN_OK);
    memcpy(out, cn_model_params(m)->grads, sizeof(cn_real) * cn_model_params(m)->count);
    double s = 0;
    for (size_t i = 0; i < cn_model_params(m)->count; i++) s += fabs(out[i]);
    cn_model_free(m);
    return s + loss;
}

Test(model, deterministic_and_thread_count_invariant)
{
    static cn_real a[400], b[400];
    double sa = run_once(1, a), sb = run_once(2, b);
    cn_set_num_threads(0);
    cr_assert(sa == sb);
    cr_assert(memcmp(a, b, sizeof(cn_real) * 187) == 0, "gradients bit-identical for 1 and 2 threads");
}
