/* test_builtin.c: the built-in models: every model builds, compiles and runs
 * forward/backward with the expected prediction shape and parameter count; the
 * one-line description round-trips exactly (reals printed with %.17g);
 * cn_builtin_set / cn_builtin_parse errors name the key, value or column and
 * leave the spec unchanged; the initial losses match the course's sanity checks
 * (softmax ~ ln C, SVM ~ C - 1 with init_std 1e-3); dropout and batch-norm
 * variants show up as nodes; init_std sets the weights' spread. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "convnet/builtin.h"
#include "convnet/model.h"
#include "support.h"

#define BATCH 8

static cn_builtin_spec spec_of(const char *name)
{
    cn_builtin_spec s;
    cn_error err;
    cr_assert_eq(cn_builtin_spec_default(name, &s, &err), CN_OK, "%s", err.msg);
    return s;
}

static void set(cn_builtin_spec *s, const char *key, const char *value)
{
    cn_error err;
    cr_assert_eq(cn_builtin_set(s, key, value, &err), CN_OK, "%s=%s: %s", key, value, err.msg);
}

/* Build, compile for training at BATCH, init from seed 7. */
static cn_model *build(const cn_builtin_spec *s)
{
    cn_error err;
    cn_model *m = cn_builtin_build(s, &err);
    cr_assert_not_null(m, "%s: %s", s->name, err.msg);
    cn_compile_opts o = {.batch = BATCH, .training = 1};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s: %s", s->name, err.msg);
    cn_rng r;
    cn_rng_seed(&r, 7, 0);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    return m;
}

/* One training forward + backward on random inputs; returns the loss. */
static double run_once(cn_model *m, const cn_builtin_spec *s)
{
    cn_error err;
    size_t d = (size_t)s->c * (size_t)s->h * (size_t)s->w;
    cn_real *x = tst_reals((size_t)BATCH * d); // (BATCH, c, h, w)
    cn_rng r;
    cn_rng_seed(&r, 11, 0);
    tst_fill_normal(&r, x, (size_t)BATCH * d, 1.0);
    int y[BATCH];
    for (int i = 0; i < BATCH; i++) y[i] = i % s->classes;
    cn_target t = {.labels = y};
    double loss = NAN;
    cr_assert_eq(cn_model_forward(m, BATCH, x, &t, CN_TRAIN, &r, &loss, &err), CN_OK, "%s",
                 err.msg);
    cn_zero_grad(m);
    cr_assert_eq(cn_model_backward(m, &err), CN_OK, "%s", err.msg);
    cn_params *ps = cn_model_params(m);
    double gsum = 0;
    for (size_t i = 0; i < ps->count; i++) gsum += fabs((double)ps->grads[i]);
    cr_expect(isfinite(gsum) && gsum > 0, "%s: gradient sum %g", s->name, gsum);
    free(x);
    return loss;
}

static int count_op(const cn_model *m, cn_op_kind op)
{
    int k = 0;
    for (int i = 0; i < cn_model_num_nodes(m); i++) k += cn_model_node_op(m, i) == op;
    return k;
}

/* ---------------------------------------------------------------- names */

Test(builtin, names)
{
    cr_assert_eq(cn_builtin_count(), 4);
    cr_expect_str_eq(cn_builtin_name(0), "softmax");
    cr_expect_str_eq(cn_builtin_name(1), "two-layer");
    cr_expect_str_eq(cn_builtin_name(2), "mlp");
    cr_expect_str_eq(cn_builtin_name(3), "three-layer-convnet");
    cr_expect_null(cn_builtin_name(4));
    cr_expect_null(cn_builtin_name(-1));
    cn_builtin_spec s;
    cn_error err;
    cr_assert_eq(cn_builtin_spec_default("resnet", &s, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "'resnet'") && strstr(err.msg, "three-layer-convnet"), "%s",
              err.msg);
}

Test(builtin, defaults)
{
    cn_builtin_spec s = spec_of("mlp");
    cr_expect_eq(s.n_hidden, 2);
    cr_expect_eq(s.hidden[0], 100);
    cr_expect_eq(s.hidden[1], 100);
    s = spec_of("softmax");
    cr_expect_eq(s.n_hidden, 0);
    s = spec_of("three-layer-convnet");
    cr_expect(s.c == 1 && s.h == 28 && s.w == 28 && s.classes == 10);
    cr_expect(s.filters == 32 && s.kernel == 7 && s.n_hidden == 1 && s.hidden[0] == 100);
    cr_expect(s.dropout == 0 && s.batchnorm == 0 && s.loss == CN_BUILTIN_SOFTMAX &&
              s.init_std == 0);
    char buf[256];
    cr_assert_gt(cn_builtin_describe(&s, buf, sizeof buf), 0);
    cr_expect_str_eq(buf, "three-layer-convnet input=1x28x28 classes=10 filters=32 kernel=7 "
                          "hidden=100 dropout=0 batchnorm=0 loss=softmax init_std=0");
}

/* ---------------------------------------------------------------- shapes, counts */

static void expect_model(const char *name, size_t params)
{
    cn_builtin_spec s = spec_of(name);
    cn_model *m = build(&s);
    cn_error err;
    int nd, shape[CN_MAX_DIMS];
    cr_assert_eq(cn_model_node_shape(m, cn_model_output(m), &nd, shape, &err), CN_OK);
    cr_expect(nd == 1 && shape[0] == 10, "%s: output rank %d, %d", name, nd, shape[0]);
    cr_expect_eq(cn_model_node_op(m, cn_model_output(m)), CN_OP_LINEAR, "%s", name);
    cr_expect_eq(cn_model_params(m)->count, params, "%s: %zu parameters, expected %zu", name,
                 cn_model_params(m)->count, params);
    double loss = run_once(m, &s);
    cr_expect(isfinite(loss) && loss > 0, "%s: loss %g", name, loss);
    cn_model_free(m);
}

Test(builtin, softmax_model)
{
    expect_model("softmax", 784 * 10 + 10);
}

Test(builtin, two_layer_model)
{
    expect_model("two-layer", 784 * 100 + 100 + 100 * 10 + 10); /* 79,510 */
}

Test(builtin, mlp_model)
{
    expect_model("mlp", 784 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10);
}

Test(builtin, three_layer_convnet_model)
{
    expect_model("three-layer-convnet",
                 32 * 1 * 7 * 7 + 32 + 32 * 14 * 14 * 100 + 100 + 100 * 10 + 10);
    cn_builtin_spec s = spec_of("three-layer-convnet");
    cn_model *m = build(&s);
    cn_params *ps = cn_model_params(m);
    cn_param *w = cn_params_find(ps, "conv2d1.weight");
    cr_assert_not_null(w);
    cr_expect(w->ndim == 4 && w->shape[0] == 32 && w->shape[1] == 1 && w->shape[2] == 7 &&
              w->shape[3] == 7);
    cn_param *l1 = cn_params_find(ps, "linear1.weight");
    cr_assert_not_null(l1);
    cr_expect(l1->shape[0] == 100 && l1->shape[1] == 32 * 14 * 14);
    cn_param *l2 = cn_params_find(ps, "linear2.weight");
    cr_assert_not_null(l2);
    cr_expect(l2->shape[0] == 10 && l2->shape[1] == 100);
    cr_expect_eq(count_op(m, CN_OP_MAXPOOL2D), 1);
    cr_expect_eq(count_op(m, CN_OP_CROSS_ENTROPY), 1);
    cn_model_free(m);
}

Test(builtin, other_shapes)
{
    /* an RGB 32x32 convnet with an even-sized pool input and 3 classes */
    cn_builtin_spec s = spec_of("three-layer-convnet");
    set(&s, "input", "3x32x32");
    set(&s, "classes", "3");
    set(&s, "filters", "4");
    set(&s, "kernel", "3");
    set(&s, "hidden", "5");
    cn_model *m = build(&s);
    cr_expect_eq(cn_model_params(m)->count,
                 (size_t)(4 * 3 * 3 * 3 + 4 + 4 * 16 * 16 * 5 + 5 + 5 * 3 + 3));
    run_once(m, &s);
    cn_model_free(m);
    s = spec_of("mlp");
    set(&s, "input", "2x5x3");
    set(&s, "classes", "4");
    set(&s, "hidden", "7,6,5");
    m = build(&s);
    cr_expect_eq(cn_model_params(m)->count,
                 (size_t)(30 * 7 + 7 + 7 * 6 + 6 + 6 * 5 + 5 + 5 * 4 + 4));
    run_once(m, &s);
    cn_model_free(m);
}

/* ---------------------------------------------------------------- variants */

Test(builtin, dropout_batchnorm_nodes)
{
    cn_builtin_spec s = spec_of("mlp");
    set(&s, "hidden", "20,10");
    set(&s, "dropout", "0.25");
    set(&s, "batchnorm", "1");
    cn_model *m = build(&s);
    cr_expect_eq(count_op(m, CN_OP_DROPOUT), 2);
    cr_expect_eq(count_op(m, CN_OP_BATCHNORM), 2);
    cr_expect_eq(count_op(m, CN_OP_RELU), 2);
    for (int i = 0; i < cn_model_num_nodes(m); i++)
        if (cn_model_node_op(m, i) == CN_OP_DROPOUT)
            cr_expect_eq(cn_model_node_attrs(m, i)->p, 0.25);
    /* batch norm before the ReLU: linear -> batchnorm -> relu -> dropout */
    int bn = cn_model_find(m, "batchnorm1");
    cr_assert_geq(bn, 0);
    int n;
    const int *in = cn_model_node_inputs(m, bn, &n);
    cr_expect_eq(cn_model_node_op(m, in[0]), CN_OP_LINEAR);
    run_once(m, &s);
    cn_model_free(m);

    s = spec_of("three-layer-convnet");
    set(&s, "filters", "4");
    set(&s, "hidden", "8");
    set(&s, "dropout", "0.5");
    set(&s, "batchnorm", "1");
    m = build(&s);
    cr_expect_eq(count_op(m, CN_OP_DROPOUT), 1);
    cr_expect_eq(count_op(m, CN_OP_BATCHNORM), 1);
    bn = cn_model_find(m, "batchnorm1");
    in = cn_model_node_inputs(m, bn, &n);
    cr_expect_eq(cn_model_node_op(m, in[0]), CN_OP_CONV2D);
    run_once(m, &s);
    cn_model_free(m);

    s = spec_of("two-layer");
    m = build(&s);
    cr_expect_eq(count_op(m, CN_OP_DROPOUT), 0);
    cr_expect_eq(count_op(m, CN_OP_BATCHNORM), 0);
    cn_model_free(m);
}

/* The course's sanity check: with small weights the scores are ~0, so the
 * softmax loss is ~ln C and the multiclass SVM loss ~C - 1 (margin 1). */
Test(builtin, initial_losses)
{
    for (int k = 0; k < cn_builtin_count(); k++) {
        cn_builtin_spec s = spec_of(cn_builtin_name(k));
        set(&s, "init_std", "1e-3");
        if (s.n_hidden > 0) set(&s, "hidden", "20");
        if (!strcmp(s.name, "three-layer-convnet")) set(&s, "filters", "4");
        cn_model *m = build(&s);
        double loss = run_once(m, &s);
        cr_expect(fabs(loss - log(10.0)) < 0.05, "%s softmax: loss %g", s.name, loss);
        cn_model_free(m);
        set(&s, "loss", "svm");
        m = build(&s);
        cr_expect_eq(count_op(m, CN_OP_HINGE), 1);
        cr_expect_eq(cn_model_node_attrs(m, cn_model_num_nodes(m) - 1)->margin, 1.0);
        loss = run_once(m, &s);
        cr_expect(fabs(loss - 9.0) < 0.3, "%s svm: loss %g", s.name, loss);
        cn_model_free(m);
    }
}

Test(builtin, init_std_spread)
{
    cn_builtin_spec s = spec_of("two-layer");
    set(&s, "init_std", "0.01");
    cn_model *m = build(&s);
    cn_param *w = cn_params_find(cn_model_params(m), "linear1.weight");
    cr_assert_not_null(w);
    double ss = 0;
    for (size_t i = 0; i < w->numel; i++) ss += (double)w->value[i] * (double)w->value[i];
    double sd = sqrt(ss / (double)w->numel);
    cr_expect(fabs(sd - 0.01) < 0.0005, "std %g", sd);
    cn_param *b = cn_params_find(cn_model_params(m), "linear1.bias");
    for (size_t i = 0; i < b->numel; i++) cr_expect_eq(b->value[i], 0);
    cn_model_free(m);
    /* default: Kaiming normal, std sqrt(2 / 784) */
    s = spec_of("two-layer");
    m = build(&s);
    w = cn_params_find(cn_model_params(m), "linear1.weight");
    ss = 0;
    for (size_t i = 0; i < w->numel; i++) ss += (double)w->value[i] * (double)w->value[i];
    sd = sqrt(ss / (double)w->numel);
    cr_expect(fabs(sd - sqrt(2.0 / 784)) < 0.002, "std %g", sd);
    cn_model_free(m);
}

/* ---------------------------------------------------------------- description */

static void expect_round_trip(const cn_builtin_spec *s)
{
    char a[512], b[512];
    int n = cn_builtin_describe(s, a, sizeof a);
    cr_assert_gt(n, 0);
    cr_expect_eq((size_t)n, strlen(a));
    cn_builtin_spec t;
    memset(&t, 0x5a, sizeof t);
    cn_error err;
    cr_assert_eq(cn_builtin_parse(a, &t, &err), CN_OK, "'%s': %s", a, err.msg);
    cr_expect_str_eq(t.name, s->name);
    cr_expect(t.c == s->c && t.h == s->h && t.w == s->w && t.classes == s->classes, "%s", a);
    cr_expect_eq(t.n_hidden, s->n_hidden, "%s", a);
    for (int i = 0; i < s->n_hidden; i++) cr_expect_eq(t.hidden[i], s->hidden[i]);
    cr_expect(t.filters == s->filters && t.kernel == s->kernel, "%s", a);
    cr_expect(memcmp(&t.dropout, &s->dropout, sizeof(double)) == 0, "dropout %.17g vs %.17g",
              t.dropout, s->dropout);
    cr_expect(memcmp(&t.init_std, &s->init_std, sizeof(double)) == 0, "init_std %.17g vs %.17g",
              t.init_std, s->init_std);
    cr_expect(t.batchnorm == s->batchnorm && t.loss == s->loss, "%s", a);
    cr_assert_eq(cn_builtin_describe(&t, b, sizeof b), n);
    cr_expect_str_eq(a, b);
}

Test(builtin, describe_parse_round_trip)
{
    for (int k = 0; k < cn_builtin_count(); k++) {
        cn_builtin_spec s = spec_of(cn_builtin_name(k));
        expect_round_trip(&s);
        set(&s, "input", "3x32x30");
        set(&s, "classes", "100");
        set(&s, "loss", "svm");
        s.init_std = 1.0 / 3.0 * 1e-3; /* not a short decimal */
        if (k >= 1) set(&s, "hidden", k == 2 ? "512,256,7" : "123");
        if (k >= 2) {
            s.dropout = 0.1 + 0.2; /* 0.30000000000000004 */
            set(&s, "batchnorm", "1");
        }
        if (k == 3) {
            set(&s, "filters", "17");
            set(&s, "kernel", "5");
        }
        expect_round_trip(&s);
    }
    /* keys in the documented order; mlp's hidden list */
    cn_builtin_spec s = spec_of("mlp");
    set(&s, "hidden", "512,256");
    char buf[256];
    cn_builtin_describe(&s, buf, sizeof buf);
    cr_expect_str_eq(buf, "mlp input=1x28x28 classes=10 hidden=512,256 dropout=0 batchnorm=0 "
                          "loss=softmax init_std=0");
    s = spec_of("softmax");
    cn_builtin_describe(&s, buf, sizeof buf);
    cr_expect_str_eq(buf, "softmax input=1x28x28 classes=10 loss=softmax init_std=0");
    /* extra spaces and tabs are accepted; keys may repeat (the last wins) */
    cn_error err;
    cr_assert_eq(cn_builtin_parse("  two-layer\thidden=5   hidden=6 ", &s, &err), CN_OK, "%s",
                 err.msg);
    cr_expect_eq(s.hidden[0], 6);
}

Test(builtin, describe_small_buffer)
{
    cn_builtin_spec s = spec_of("three-layer-convnet");
    char full[256], small[20];
    int n = cn_builtin_describe(&s, full, sizeof full);
    cr_assert_gt(n, 20);
    cr_expect_eq(cn_builtin_describe(&s, small, sizeof small), -1);
    cr_expect_eq(strlen(small), sizeof small - 1);
    cr_expect(strncmp(small, full, sizeof small - 1) == 0);
    cr_expect_eq(cn_builtin_describe(&s, full, (size_t)n + 1), n);
    cr_expect_eq(cn_builtin_describe(&s, full, (size_t)n), -1);
}

/* ---------------------------------------------------------------- errors */

/* cn_builtin_set fails with CN_ERR_ARG naming needle (and the key), s unchanged */
static void expect_set_error(const char *name, const char *key, const char *value,
                             const char *needle)
{
    cn_builtin_spec s = spec_of(name), before = s;
    cn_error err;
    cr_expect_eq(cn_builtin_set(&s, key, value, &err), CN_ERR_ARG, "%s %s=%s accepted", name,
                 key, value);
    cr_expect(strstr(err.msg, key) != NULL, "message lacks key '%s': %s", key, err.msg);
    cr_expect(strstr(err.msg, value) != NULL, "message lacks value '%s': %s", value, err.msg);
    cr_expect(strstr(err.msg, needle) != NULL, "message lacks '%s': %s", needle, err.msg);
    cr_expect(memcmp(&s, &before, sizeof s) == 0, "%s=%s changed the spec", key, value);
}

Test(builtin, set_errors)
{
    expect_set_error("mlp", "depth", "3", "options: input, classes, hidden");
    expect_set_error("mlp", "classes", "1", "classes=1");
    expect_set_error("mlp", "classes", "10x", "classes=10x");
    expect_set_error("mlp", "classes", "", "classes=");
    expect_set_error("mlp", "input", "1x28", "CxHxW");
    expect_set_error("mlp", "input", "1x28x0", "CxHxW");
    expect_set_error("mlp", "input", "1x28x28x1", "CxHxW");
    expect_set_error("mlp", "hidden", "100,,5", "hidden=100,,5");
    expect_set_error("mlp", "hidden", "1,2,3,4,5,6,7,8,9", "at most 8");
    expect_set_error("mlp", "hidden", "0", "hidden=0");
    expect_set_error("two-layer", "hidden", "100,50", "exactly one hidden layer");
    expect_set_error("three-layer-convnet", "hidden", "100,50", "exactly one hidden layer");
    expect_set_error("softmax", "hidden", "100", "no hidden layer");
    expect_set_error("softmax", "batchnorm", "1", "no batch norm");
    expect_set_error("two-layer", "batchnorm", "1", "no batch norm");
    expect_set_error("mlp", "batchnorm", "2", "0 or 1");
    expect_set_error("three-layer-convnet", "kernel", "4", "odd");
    expect_set_error("three-layer-convnet", "filters", "0", "filters=0");
    expect_set_error("mlp", "filters", "8", "only three-layer-convnet");
    expect_set_error("mlp", "dropout", "1", "[0, 1)");
    expect_set_error("mlp", "dropout", "-0.1", "[0, 1)");
    expect_set_error("mlp", "dropout", "nan", "[0, 1)");
    expect_set_error("two-layer", "dropout", "0.5", "no dropout");
    expect_set_error("mlp", "loss", "hinge", "softmax or svm");
    expect_set_error("mlp", "init_std", "-1", ">= 0");
    expect_set_error("mlp", "init_std", "inf", ">= 0");
    /* the "off" values are accepted everywhere */
    cn_builtin_spec s = spec_of("two-layer");
    set(&s, "batchnorm", "0");
    set(&s, "dropout", "0");
}

Test(builtin, check_errors)
{
    cn_error err;
    cn_builtin_spec s = spec_of("mlp");
    s.n_hidden = 0;
    cr_expect_eq(cn_builtin_check(&s, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "n_hidden"), "%s", err.msg);
    cr_expect_null(cn_builtin_build(&s, &err));
    s = spec_of("three-layer-convnet");
    s.kernel = 6;
    cr_expect_eq(cn_builtin_check(&s, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "kernel"), "%s", err.msg);
    s = spec_of("three-layer-convnet");
    s.h = 1;
    cr_expect_eq(cn_builtin_check(&s, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "input"), "%s", err.msg);
    s = spec_of("softmax");
    s.batchnorm = 1;
    cr_expect_eq(cn_builtin_check(&s, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "batchnorm"), "%s", err.msg);
    s = spec_of("softmax");
    strcpy(s.name, "lenet");
    cr_expect_eq(cn_builtin_check(&s, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "lenet"), "%s", err.msg);
    s = spec_of("softmax");
    s.loss = CN_BUILTIN_LOSS_COUNT;
    cr_expect_eq(cn_builtin_check(&s, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "loss"), "%s", err.msg);
    s = spec_of("mlp");
    s.init_std = NAN;
    cr_expect_eq(cn_builtin_check(&s, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "init_std"), "%s", err.msg);
}

static void expect_parse_error(const char *desc, const char *needle)
{
    cn_builtin_spec s = spec_of("softmax"), before = s;
    cn_error err;
    cr_expect_eq(cn_builtin_parse(desc, &s, &err), CN_ERR_FORMAT, "'%s' accepted", desc);
    cr_expect(strstr(err.msg, needle) != NULL, "'%s': message lacks '%s': %s", desc, needle,
              err.msg);
    cr_expect(memcmp(&s, &before, sizeof s) == 0, "'%s' changed the spec", desc);
}

Test(builtin, parse_errors)
{
    expect_parse_error("lenet classes=10", "column 1: 'lenet'");
    expect_parse_error("", "column 1");
    expect_parse_error("   ", "column 1");
    expect_parse_error("mlp classes=10 hidden", "column 16: 'hidden': expected key=value");
    expect_parse_error("mlp =5", "column 5");
    expect_parse_error("mlp classes=10 hidden=5,x", "column 16: 'hidden=5,x'");
    expect_parse_error("two-layer  colour=red", "column 12: 'colour=red'");
    expect_parse_error("two-layer  colour=red", "unknown model option 'colour'");
    expect_parse_error("softmax batchnorm=1", "column 9");
}
