/* test_model_parity.c: whole-model parity with PyTorch (tools/fixtures/model.py):
 * a network composing convolution, batch norm in training mode, ReLU, a
 * residual add, max pooling, a squeeze-and-excitation branch (global average
 * pooling, linear, ReLU, linear, sigmoid, channel scale), concat, a channel
 * slice, zero padding, GELU, flatten, linear and cross-entropy with label
 * smoothing, built through the C API with PyTorch's weights: the loss, the
 * logits, every parameter gradient, the input gradient and the updated running
 * statistics must match. This covers the structural ops, whose PyTorch
 * counterparts are plain tensor operations, and the graph's gradient routing. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"
#include "support.h"

#define FIXTURE "tests/fixtures/model/parity.safetensors"

/* node: add a node with attributes a on inputs (asserting success). */
static int node(cn_model *m, cn_op_kind op, const cn_attrs *a, int *in, int n, const char *name)
{
    cn_error err;
    int id = cn_model_node(m, op, a, in, n, name, &err);
    cr_assert(id >= 0, "%s", err.msg);
    return id;
}

/* build: the fixture's network, node by node. */
static cn_model *build(void)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 3, 8, 8, &err);
    cn_attrs c1 = cn_attrs_make(CN_OP_CONV2D);
    c1.out = 8;
    c1.pad[0] = c1.pad[1] = 1;
    c1.bias = 0;
    int h = node(m, CN_OP_CONV2D, &c1, &x, 1, "conv1");
    h = node(m, CN_OP_BATCHNORM, NULL, &h, 1, "bn1");
    h = node(m, CN_OP_RELU, NULL, &h, 1, "relu1");
    cn_attrs c2 = c1;
    c2.bias = 1;
    int r = node(m, CN_OP_CONV2D, &c2, &h, 1, "conv2");
    int ar[2] = {h, r};
    h = node(m, CN_OP_ADD, NULL, ar, 2, "res");
    int pooled = node(m, CN_OP_MAXPOOL2D, NULL, &h, 1, "pool");
    int s = node(m, CN_OP_GLOBAL_AVGPOOL, NULL, &pooled, 1, "gap");
    cn_attrs f1 = cn_attrs_make(CN_OP_LINEAR), f2 = cn_attrs_make(CN_OP_LINEAR),
             f3 = cn_attrs_make(CN_OP_LINEAR);
    f1.out = 2;
    f2.out = 8;
    f3.out = 5;
    s = node(m, CN_OP_LINEAR, &f1, &s, 1, "fc1");
    s = node(m, CN_OP_RELU, NULL, &s, 1, "relu2");
    s = node(m, CN_OP_LINEAR, &f2, &s, 1, "fc2");
    s = node(m, CN_OP_SIGMOID, NULL, &s, 1, "gate");
    int sc[2] = {pooled, s};
    int scaled = node(m, CN_OP_CHANNEL_SCALE, NULL, sc, 2, "scale");
    int ct[2] = {scaled, pooled};
    h = node(m, CN_OP_CONCAT, NULL, ct, 2, "cat");
    cn_attrs sl = cn_attrs_make(CN_OP_SLICE);
    sl.start = 4;
    sl.count = 8;
    h = node(m, CN_OP_SLICE, &sl, &h, 1, "slice");
    cn_attrs pd = cn_attrs_make(CN_OP_PAD);
    pd.pads[0] = pd.pads[1] = pd.pads[2] = pd.pads[3] = 1;
    h = node(m, CN_OP_PAD, &pd, &h, 1, "pad");
    h = node(m, CN_OP_GELU, NULL, &h, 1, "gelu");
    h = node(m, CN_OP_FLATTEN, NULL, &h, 1, "flat");
    h = node(m, CN_OP_LINEAR, &f3, &h, 1, "fc3");
    cn_attrs ce = cn_attrs_make(CN_OP_CROSS_ENTROPY);
    ce.smoothing = 0.1;
    node(m, CN_OP_CROSS_ENTROPY, &ce, &h, 1, "loss");
    return m;
}

/* tol: float tolerance: every value passes through ~20 ops in single
 * precision, each rounding at 6e-8 relative; gradients of size ~1 thus carry
 * ~1e-5 after accumulation over the batch and the im2col sums. Double: 1e-12. */
#ifdef CN_DOUBLE
#define TOL 1e-12
#else
#define TOL 2e-5
#endif

Test(model_parity, matches_pytorch_forward_and_backward)
{
    cn_error err;
    cn_safetensors *st = NULL;
    cr_assert(cn_safetensors_read(FIXTURE, &st, &err) == CN_OK, "%s", err.msg);
    cn_model *m = build();
    cn_compile_opts o = {.batch = 4, .training = 1, .input_grad = 1};
    cr_assert(cn_model_compile(m, &o, &err) == CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 1, 1);
    cr_assert(cn_model_init(m, &r, &err) == CN_OK);
    cn_params *ps = cn_model_params(m);
    cr_assert_eq(ps->n, 13); /* 11 trainable + 2 running statistics */
    for (int k = 0; k < ps->n; k++) {
        if (ps->p[k].role == CN_PARAM_BUFFER) continue;
        cn_real *v = tst_fx_reals(st, ps->p[k].name, ps->p[k].numel);
        memcpy(ps->p[k].value, v, sizeof(cn_real) * ps->p[k].numel);
        free(v);
    }
    cn_real *x = tst_fx_reals(st, "x", 4 * 3 * 8 * 8);
    int *labels = tst_fx_labels(st, "labels", 4);
    cn_target t = {.labels = labels};
    double loss;
    cr_assert(cn_model_forward(m, 4, x, &t, CN_TRAIN, &r, &loss, &err) == CN_OK, "%s", err.msg);
    cn_zero_grad(m);
    cr_assert(cn_model_backward(m, &err) == CN_OK, "%s", err.msg);

    double want = tst_fx_scalar(st, "loss");
    cr_log_info("loss %.15g vs PyTorch %.15g", loss, want);
    cr_assert(fabs(loss - want) < TOL, "loss %.15g vs %.15g", loss, want);
    cn_real *logits = tst_fx_reals(st, "logits", 20);
    double d = tst_max_abs_diff(cn_model_node_value(m, cn_model_find(m, "fc3")), logits, 20);
    cr_log_info("logits: max abs diff %.3g", d);
    cr_assert(d < TOL, "logits %.3g", d);
    double worst = 0;
    for (int k = 0; k < ps->n; k++) {
        char name[128];
        cn_param *p = &ps->p[k];
        cn_real *want_v;
        const cn_real *got;
        if (p->role == CN_PARAM_BUFFER) {
            want_v = tst_fx_reals(st, p->name, p->numel);
            got = p->value;
        } else {
            snprintf(name, sizeof name, "grad.%s", p->name);
            want_v = tst_fx_reals(st, name, p->numel);
            got = p->grad;
        }
        double dk = tst_max_abs_diff(got, want_v, p->numel);
        cr_log_info("%s%s: max abs diff %.3g", p->role == CN_PARAM_BUFFER ? "" : "grad of ",
                    p->name, dk);
        cr_assert(dk < TOL, "%s: %.3g", p->name, dk);
        if (dk > worst) worst = dk;
        free(want_v);
    }
    cn_real *gx = tst_fx_reals(st, "grad.x", 4 * 3 * 8 * 8);
    d = tst_max_abs_diff(cn_model_node_grad(m, 0), gx, 4 * 3 * 8 * 8);
    cr_log_info("grad of x: max abs diff %.3g; worst parameter %.3g", d, worst);
    cr_assert(d < TOL, "grad x %.3g", d);
    free(gx);
    free(logits);
    free(x);
    free(labels);
    cn_model_free(m);
    cn_safetensors_free(st);
}
