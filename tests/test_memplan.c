/* test_memplan.c: evaluation compiles with reuse_memory: node outputs share
 * buffers by liveness; the predictions are bit-identical to a compile without
 * reuse for zoo networks with residual adds (ResNet-20), concatenated branches
 * and auxiliary heads (GoogLeNet at a small input), dense connectivity
 * (DenseNet-BC-100) and a hand-made graph with a repeated input and a dead end;
 * the activation memory shrinks; only inputs, losses and the prediction node stay
 * readable; ReLUs fused into the batchnorm / conv2d / linear node they alone read
 * change no bit (SqueezeNet's conv+ReLU, ResNet's BN+ReLU). Training compiles share
 * output gradients over the backward sweep and the outputs no backward reads:
 * parameter gradients bit-identical, gradient memory a fraction. */
#include <criterion/criterion.h>

#include <string.h>

#include "convnet.h"
#include "convnet/model_text.h"
#include "support.h"

/* Logits of m (compiled with opts o) for batch images x, copied out. */
static cn_real *logits(cn_model *m, const cn_compile_opts *o, const cn_real *x, int batch,
                       size_t *n_out, size_t *act_bytes)
{
    cn_error err;
    cr_assert_eq(cn_model_compile(m, o, &err), CN_OK, "%s", err.msg);
    cn_model_memory mem;
    cr_assert_eq(cn_model_memory_plan(m, &mem, &err), CN_OK, "%s", err.msg);
    *act_bytes = mem.activations;
    cr_assert_eq(cn_model_forward(m, batch, x, NULL, CN_EVAL, NULL, NULL, &err), CN_OK, "%s",
                 err.msg);
    int nd, shape[CN_MAX_DIMS];
    cr_assert_eq(cn_model_node_shape(m, cn_model_output(m), &nd, shape, &err), CN_OK);
    size_t per = 1;
    for (int i = 0; i < nd; i++) per *= (size_t)shape[i];
    *n_out = per * (size_t)batch;
    const cn_real *y = cn_model_node_value(m, cn_model_output(m));
    cr_assert_not_null(y);
    cn_real *copy = tst_reals(*n_out);
    memcpy(copy, y, *n_out * sizeof *copy);
    return copy;
}

/* The same network evaluated with and without reuse: identical bits, less memory
 * (at most frac of the unshared activations). */
static void same_with_reuse(cn_model *m, int batch, double frac)
{
    cn_error err;
    cn_compile_opts plain = {.batch = batch}, reuse = {.batch = batch, .reuse_memory = 1};
    cr_assert_eq(cn_model_compile(m, &plain, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 5, 0);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    const cn_real *in_y;
    int in0 = cn_model_input_node(m, 0), nd, shape[CN_MAX_DIMS];
    cr_assert_eq(cn_model_node_shape(m, in0, &nd, shape, &err), CN_OK);
    size_t per = 1;
    for (int i = 0; i < nd; i++) per *= (size_t)shape[i];
    cn_real *x = tst_reals(per * (size_t)batch);
    tst_fill_normal(&r, x, per * (size_t)batch, 1.0);
    size_t n0, n1, a0, a1;
    cn_real *y0 = logits(m, &plain, x, batch, &n0, &a0);
    cn_real *y1 = logits(m, &reuse, x, batch, &n1, &a1);
    cr_assert_eq(n0, n1);
    cr_expect(memcmp(y0, y1, n0 * sizeof *y0) == 0, "predictions differ with reuse_memory");
    cr_expect_lt((double)a1, frac * (double)a0, "activations %zu with reuse, %zu without", a1,
                 a0);
    in_y = cn_model_node_value(m, in0);
    cr_expect_not_null(in_y);
    int hidden = 0;
    for (int i = 0; i < cn_model_num_nodes(m); i++)
        hidden += cn_model_node_value(m, i) == NULL;
    cr_expect_gt(hidden, 0);
    free(x);
    free(y0);
    free(y1);
}

static cn_model *zoo(const char *path, const char *const *ov, int n)
{
    cn_error err;
    cn_model_text_opts o = {.overrides = ov, .n_overrides = n};
    cn_model *m = cn_model_load_text(path, &o, &err);
    cr_assert_not_null(m, "%s", err.msg);
    return m;
}

Test(memplan, resnet20_identical_and_smaller)
{
    cn_model *m = zoo("models/resnet20.cnm", NULL, 0);
    same_with_reuse(m, 2, 0.2);
    cn_model_free(m);
}

Test(memplan, googlenet_branches_and_aux_heads)
{
    const char *ov[] = {"h=96", "w=96", "classes=7"};
    cn_model *m = zoo("models/googlenet.cnm", ov, 3);
    same_with_reuse(m, 1, 0.3);
    cn_model_free(m);
}

/* conv2d (with bias) + ReLU pairs fused in evaluation: SqueezeNet 1.1 */
Test(memplan, squeezenet_conv_relu_fusion)
{
    const char *ov[] = {"h=64", "w=64", "classes=11"};
    cn_model *m = zoo("models/squeezenet1_1.cnm", ov, 3);
    same_with_reuse(m, 2, 0.35);
    cn_model_free(m);
}

Test(memplan, densenet_concatenations)
{
    const char *ov[] = {"h=8", "w=8"};
    cn_model *m = zoo("models/densenet-bc-100.cnm", ov, 2);
    same_with_reuse(m, 1, 0.5);
    cn_model_free(m);
}

/* x -> a = relu x; b = add a, a; dead = tanh a (read by nobody); c = mul b, a -> fc */
Test(memplan, repeated_input_and_dead_end)
{
    cn_error err;
    const char *t = "x = input shape=(6)\n"
                    "a = relu x\n"
                    "b = add a, a\n"
                    "dead = tanh a\n"
                    "c = mul b, a\n"
                    "d = sigmoid c\n"
                    "fc = linear d out=3\n"
                    "output fc\n";
    cn_model *m = cn_model_parse(t, strlen(t), "g.cnm", NULL, &err);
    cr_assert_not_null(m, "%s", err.msg);
    same_with_reuse(m, 3, 1.0);
    cr_expect_null(cn_model_node_value(m, cn_model_find(m, "a")));
    cr_expect_not_null(cn_model_node_value(m, cn_model_find(m, "fc")));
    cn_model_free(m);
}

/* Parameter gradients (copied) and loss of one training step of m compiled with o. */
static cn_real *train_grads(cn_model *m, const cn_compile_opts *o, const cn_real *x,
                            const int *labels, double *loss, size_t *grad_bytes,
                            size_t *act_bytes)
{
    cn_error err;
    cr_assert_eq(cn_model_compile(m, o, &err), CN_OK, "%s", err.msg);
    cn_model_memory mem;
    cr_assert_eq(cn_model_memory_plan(m, &mem, &err), CN_OK);
    *grad_bytes = mem.gradients;
    *act_bytes = mem.activations;
    cn_zero_grad(m);
    cn_target t = {.labels = labels};
    cn_rng rng;
    cn_rng_seed(&rng, 4, 0);
    cr_assert_eq(cn_model_forward(m, o->batch, x, &t, CN_TRAIN, &rng, loss, &err), CN_OK, "%s",
                 err.msg);
    cr_assert_eq(cn_model_backward(m, &err), CN_OK, "%s", err.msg);
    cn_params *ps = cn_model_params(m);
    cn_real *g = tst_reals(ps->count);
    memcpy(g, ps->grads, ps->count * sizeof *g);
    return g;
}

/* Training with reuse_memory: output gradients share buffers over the backward
 * sweep; parameter gradients and loss bit-identical, gradient memory smaller. */
Test(memplan, training_gradients_identical_and_smaller)
{
    cn_model *m = zoo("models/resnet20.cnm", (const char *[]){"h=16", "w=16"}, 2);
    cn_error err;
    cn_compile_opts plain = {.batch = 3, .training = 1};
    cr_assert_eq(cn_model_compile(m, &plain, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 9, 0);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    cn_real *x = tst_reals(3 * 3 * 16 * 16);
    tst_fill_normal(&r, x, 3 * 3 * 16 * 16, 1.0);
    int labels[3] = {1, 7, 3};
    double l0, l1;
    size_t g0b, g1b, a0b, a1b;
    cn_real *g0 = train_grads(m, &plain, x, labels, &l0, &g0b, &a0b);
    cn_compile_opts reuse = {.batch = 3, .training = 1, .reuse_memory = 1};
    cn_real *g1 = train_grads(m, &reuse, x, labels, &l1, &g1b, &a1b);
    cr_expect_eq(l0, l1);
    cn_params *ps = cn_model_params(m);
    cr_expect(memcmp(g0, g1, ps->count * sizeof *g0) == 0, "gradients differ with reuse");
    cr_expect_lt((double)g1b, 0.25 * (double)g0b, "gradient memory %zu vs %zu", g1b, g0b);
    /* batch norm outputs and residual sums are read by no backward: shared */
    cr_expect_lt((double)a1b, 0.8 * (double)a0b, "activation memory %zu vs %zu", a1b, a0b);
    cr_expect_null(cn_model_node_value(m, cn_model_find(m, "stage2_0.an")));
    cr_expect_not_null(cn_model_node_value(m, cn_model_find(m, "stage2_0.a")));
    cr_expect_null(cn_model_node_grad(m, cn_model_find(m, "stage2_0.a")));
    cn_real dy[3 * 10] = {0};
    cr_expect_eq(cn_model_backward_from(m, cn_model_output(m), dy, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "reuse_memory"), "%s", err.msg);
    free(x);
    free(g0);
    free(g1);
    cn_model_free(m);
}
