/* test_zoo.c: the model zoo (models/<name>.cnm): every file parses, compiles at its
 * canonical input (its param defaults) with exactly the parameter count of the
 * reference model (tests/fixtures/zoo/counts.json from tools/fixtures/zoo_counts.py:
 * torchvision's where it has the architecture, the paper's written in PyTorch
 * otherwise) and a prediction of shape (classes); then, at a small input
 * (overrides h, w, classes and sometimes a narrower classifier, widening factor
 * or width), one training step (forward in CN_TRAIN, backward,
 * an SGD step) on random data gives finite losses before and after the step and a
 * finite, non-zero gradient (the heavy models, deeper or wider copies of lighter
 * models' blocks, are only compiled for training there; under ASan, only models
 * of at most ASAN_TRAIN_MAX parameters take the step). Every models/<name>.cnm
 * file must be listed here, and every listed model must have its file and its
 * reference count. The dilated residual networks keep output stride 8. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "convnet/model.h"
#include "convnet/model_text.h"
#include "convnet/optim.h"
#include "support.h"

#define MODELS_DIR "models"
#define COUNTS "tests/fixtures/zoo/counts.json"
#define BATCH 2
#define CLASSES 10

/* under AddressSanitizer (several times slower) only models of at most this many
 * parameters (at their canonical input) take the training step */
#define ASAN_TRAIN_MAX 15000000LL
#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif
#ifndef ASAN
#define ASAN 0
#endif

/* zoo_case: a model file (models/<name>.cnm, counts.json key <name>) and its
 * training step: the height = width of its input (small, but large enough for
 * every pooling of the architecture), one more override ("" none: a narrower
 * classifier `hidden`, widening factor `widen`, ResNeXt group width
 * `base_width`, DRN base channels `width`), and heavy: 1 for deeper or wider
 * copies of a lighter model's blocks (vgg16/19 of vgg11, resnet34 of resnet18,
 * resnet50/101/152 and wide_resnet50_2 of resnext50_32x4d, se-resnet50 of
 * resnext50_32x4d's bottleneck and se-resnet18's SE unit, drn-a-50 of
 * resnext50_32x4d's bottleneck and drn-c-26's dilated convolutions), which at
 * the small input are only compiled for training to keep the binary fast. */
typedef struct zoo_case {
    char name[32];
    int small;
    char extra[24];
    int heavy;
} zoo_case;

static const zoo_case ZOO[] = {
    {"softmax", 28, "", 0},
    {"two-layer", 28, "", 0},
    {"mlp", 28, "", 0},
    {"three-layer-convnet", 28, "", 0},
    {"lenet5", 28, "", 0},
    {"fmnist-cnn", 28, "", 0},
    {"alexnet", 64, "hidden=256", 0},
    {"vgg11", 32, "hidden=256", 0},
    {"vgg11_bn", 32, "hidden=256", 0},
    {"vgg16", 32, "hidden=256", 1},
    {"vgg16_bn", 32, "hidden=256", 1},
    {"vgg19", 32, "hidden=256", 1},
    {"vgg19_bn", 32, "hidden=256", 1},
    {"resnet18", 32, "", 0},
    {"resnet34", 32, "", 1},
    {"resnet50", 32, "", 1},
    {"resnet101", 32, "", 1},
    {"resnet152", 32, "", 1},
    {"resnext50_32x4d", 32, "", 0},
    {"wide_resnet50_2", 32, "", 1},
    {"resnet20", 16, "", 0},
    {"resnet32", 16, "", 0},
    {"resnet44", 16, "", 0},
    {"resnet56", 16, "", 0},
    {"resnet110", 16, "", 0},
    {"resnet110-sd", 16, "", 0},
    {"googlenet", 96, "", 0},
    {"densenet121", 32, "", 0},
    {"squeezenet1_0", 64, "", 0},
    {"squeezenet1_1", 64, "", 0},
    {"zfnet", 64, "hidden=256", 0},
    {"nin", 16, "", 0},
    {"preact-resnet18", 16, "", 0},
    {"wrn-28-10", 8, "widen=2", 0},
    {"wrn-40-4", 8, "widen=2", 0},
    {"se-resnet18", 32, "", 0},
    {"densenet-bc-100", 16, "", 0},
    {"resnext29_8x64d", 8, "base_width=4", 0},
    {"se-resnet50", 32, "", 1},
    {"drn-a-50", 32, "", 1},
    {"drn-c-26", 32, "width=4", 0},
};
#define N_ZOO ((int)(sizeof ZOO / sizeof ZOO[0]))

static void model_path(char *buf, size_t cap, const char *name)
{
    int n = snprintf(buf, cap, "%s/%s.cnm", MODELS_DIR, name);
    cr_assert(n > 0 && (size_t)n < cap);
}

/* reference: the counts.json entry of name (params and classes). */
static void reference(const char *name, long long *params, int *classes)
{
    json_error_t jerr;
    json_t *root = json_load_file(COUNTS, 0, &jerr);
    cr_assert_not_null(root, "%s:%d: %s", COUNTS, jerr.line, jerr.text);
    json_t *e = json_object_get(root, name);
    cr_assert(json_is_object(e), "%s has no entry \"%s\"", COUNTS, name);
    json_t *p = json_object_get(e, "params");
    json_t *k = json_object_get(e, "classes");
    cr_assert(json_is_integer(p) && json_is_integer(k), "%s: bad entry \"%s\"", COUNTS, name);
    *params = (long long)json_integer_value(p);
    *classes = (int)json_integer_value(k);
    json_decref(root);
}

static cn_model *load(const char *name, const char *const *overrides, int n_overrides)
{
    char path[256];
    model_path(path, sizeof path, name);
    cn_model_text_opts o = {.overrides = overrides, .n_overrides = n_overrides};
    cn_error err;
    cn_model *m = cn_model_load_text(path, &o, &err);
    cr_assert_not_null(m, "%s", err.msg);
    return m;
}

/* check_canonical: compile at the file's own defaults (batch 1, evaluation
 * memory only) and compare the parameter count and the prediction's shape. */
static long long check_canonical(const char *name)
{
    long long want;
    int classes;
    reference(name, &want, &classes);
    cn_model *m = load(name, NULL, 0);
    cn_error err;
    cn_compile_opts co = {.batch = 1, .training = 0};
    cr_assert_eq(cn_model_compile(m, &co, &err), CN_OK, "%s: %s", name, err.msg);
    cn_params *ps = cn_model_params(m);
    cr_assert_not_null(ps);
    cr_expect_eq((long long)ps->count, want, "%s: %lld parameters, the reference has %lld",
                 name, (long long)ps->count, want);
    int ndim, shape[CN_MAX_DIMS];
    cr_assert_eq(cn_model_node_shape(m, cn_model_output(m), &ndim, shape, &err), CN_OK, "%s",
                 err.msg);
    cr_expect(ndim == 1 && shape[0] == classes, "%s: prediction of rank %d, (%d), want (%d)",
              name, ndim, shape[0], classes);
    cn_model_free(m);
    return want;
}

/* check_train_step: at small x small with CLASSES classes, batch BATCH: init,
 * forward (CN_TRAIN), backward, one SGD step, forward again. */
static void check_train_step(const char *name, int small, const char *extra,
                             int compile_only)
{
    char hw[2][32], cls[32];
    snprintf(hw[0], sizeof hw[0], "h=%d", small);
    snprintf(hw[1], sizeof hw[1], "w=%d", small);
    snprintf(cls, sizeof cls, "classes=%d", CLASSES);
    const char *ov[4] = {hw[0], hw[1], cls, extra};
    cn_model *m = load(name, ov, extra[0] ? 4 : 3);
    cn_error err;
    cn_compile_opts co = {.batch = BATCH, .training = 1};
    cr_assert_eq(cn_model_compile(m, &co, &err), CN_OK, "%s: %s", name, err.msg);
    if (compile_only) {
        cn_model_free(m);
        return;
    }
    cn_rng rng;
    cn_rng_seed(&rng, 20260705, 0);
    cr_assert_eq(cn_model_init(m, &rng, &err), CN_OK, "%s", err.msg);

    int ndim, shape[CN_MAX_DIMS];
    cr_assert_eq(cn_model_node_shape(m, cn_model_input_node(m, 0), &ndim, shape, &err), CN_OK,
                 "%s", err.msg);
    size_t d = 1;
    for (int i = 0; i < ndim; i++) d *= (size_t)shape[i];
    cn_real *x = tst_reals((size_t)BATCH * d); // (BATCH, c, small, small)
    tst_fill_normal(&rng, x, (size_t)BATCH * d, 1.0);
    int y[BATCH];
    for (int i = 0; i < BATCH; i++) y[i] = (3 * i + 1) % CLASSES;
    cn_target t = {.labels = y};

    double loss0 = NAN, loss1 = NAN, gnorm = NAN;
    cr_assert_eq(cn_model_forward(m, BATCH, x, &t, CN_TRAIN, &rng, &loss0, &err), CN_OK,
                 "%s: %s", name, err.msg);
    cr_expect(isfinite(loss0) && loss0 > 0, "%s: loss %g", name, loss0);
    cn_zero_grad(m);
    cr_assert_eq(cn_model_backward(m, &err), CN_OK, "%s: %s", name, err.msg);

    cn_optim_config oc = cn_optim_config_default(CN_OPTIM_SGD);
    cn_optimizer *opt = cn_optim_new(&oc, cn_model_params(m), &err);
    cr_assert_not_null(opt, "%s", err.msg);
    /* the step checks every gradient for NaN / Inf (CN_ERR_NUMERIC) */
    cr_assert_eq(cn_optim_step(opt, 1e-3, &gnorm, &err), CN_OK, "%s: %s", name, err.msg);
    cr_expect(isfinite(gnorm) && gnorm > 0, "%s: gradient norm %g", name, gnorm);
    cr_assert_eq(cn_model_forward(m, BATCH, x, &t, CN_TRAIN, &rng, &loss1, &err), CN_OK,
                 "%s: %s", name, err.msg);
    cr_expect(isfinite(loss1), "%s: loss after the step %g", name, loss1);

    cn_optim_free(opt);
    free(x);
    cn_model_free(m);
}

ParameterizedTestParameters(zoo, model)
{
    return cr_make_param_array(zoo_case, ZOO, N_ZOO);
}

/* one thread per test: the runner already runs two tests at once, and these
 * small inputs give parallel regions too little work to pay for themselves */
static void one_thread(void)
{
    cn_set_num_threads(1);
}

/* check_round_trip: printing the parsed model and parsing the print gives the
 * same nodes (names, ops, inputs) and the same text when printed again (T15). */
static void check_round_trip(const char *name)
{
    cn_model *a = load(name, NULL, 0);
    cn_error err;
    char *text = cn_model_print(a, &err);
    cr_assert_not_null(text, "%s: %s", name, err.msg);
    cn_model *b = cn_model_parse(text, strlen(text), "print", NULL, &err);
    cr_assert_not_null(b, "%s: the print does not parse: %s", name, err.msg);
    int n = cn_model_num_nodes(a);
    cr_assert_eq(cn_model_num_nodes(b), n, "%s", name);
    for (int id = 0; id < n; id++) {
        cr_assert_str_eq(cn_model_node_name(a, id), cn_model_node_name(b, id), "%s", name);
        cr_assert_eq(cn_model_node_op(a, id), cn_model_node_op(b, id), "%s", name);
    }
    char *again = cn_model_print(b, &err);
    cr_assert_not_null(again, "%s", err.msg);
    cr_assert_str_eq(text, again, "%s: print(parse(print)) differs", name);
    cn_free(text);
    cn_free(again);
    cn_model_free(a);
    cn_model_free(b);
}

ParameterizedTest(const zoo_case *zc, zoo, model, .init = one_thread, .timeout = 120)
{
    check_round_trip(zc->name);
    long long params = check_canonical(zc->name);
    check_train_step(zc->name, zc->small, zc->extra,
                     zc->heavy || (ASAN && params > ASAN_TRAIN_MAX));
}

/* Every models/<name>.cnm is in ZOO (so it is tested), and every entry of ZOO has
 * its file and its reference count. */
Test(zoo, every_file_listed_and_counted)
{
    DIR *dir = opendir(MODELS_DIR);
    cr_assert_not_null(dir, "cannot open %s/ (run from the repository root)", MODELS_DIR);
    int files = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".cnm") != 0) continue;
        files++;
        int found = 0;
        for (int i = 0; i < N_ZOO; i++)
            if (strlen(ZOO[i].name) == n - 4 && strncmp(ZOO[i].name, de->d_name, n - 4) == 0)
                found = 1;
        cr_expect(found, "%s/%s is not listed in tests/test_zoo.c", MODELS_DIR, de->d_name);
    }
    closedir(dir);
    cr_expect_eq(files, N_ZOO, "%d model files, %d listed", files, N_ZOO);
    for (int i = 0; i < N_ZOO; i++) {
        char path[256];
        model_path(path, sizeof path, ZOO[i].name);
        FILE *f = fopen(path, "rb");
        cr_expect_not_null(f, "missing %s", path);
        if (f) fclose(f);
        long long params;
        int classes;
        reference(ZOO[i].name, &params, &classes);
    }
}

/* GoogLeNet's auxiliary classifiers are loss nodes of weight 0.3 next to the
 * main loss of weight 1, and the prediction is the main classifier. */
Test(zoo, googlenet_aux_losses)
{
    cn_model *m = load("googlenet", NULL, 0);
    const char *names[3] = {"loss", "aux1_loss", "aux2_loss"};
    const double weights[3] = {1.0, 0.3, 0.3};
    for (int i = 0; i < 3; i++) {
        int id = cn_model_find(m, names[i]);
        cr_assert(id >= 0, "no node %s", names[i]);
        cr_expect_eq(cn_model_node_op(m, id), CN_OP_CROSS_ENTROPY);
        cr_expect_eq(cn_model_node_attrs(m, id)->weight, weights[i], "%s", names[i]);
    }
    cr_expect_eq(cn_model_output(m), cn_model_find(m, "fc"));
    cn_model_free(m);
}

/* check_node_shape: node name of the compiled model m has per-sample shape
 * (c, h, w). */
static void check_node_shape(cn_model *m, const char *name, int c, int h, int w)
{
    int id = cn_model_find(m, name);
    cr_assert(id >= 0, "no node %s", name);
    int ndim = 0, shape[CN_MAX_DIMS] = {0};
    cn_error err;
    cr_assert_eq(cn_model_node_shape(m, id, &ndim, shape, &err), CN_OK, "%s", err.msg);
    cr_expect(ndim == 3 && shape[0] == c && shape[1] == h && shape[2] == w,
              "%s: rank %d (%d, %d, %d), want (%d, %d, %d)", name, ndim, shape[0], shape[1],
              shape[2], c, h, w);
}

/* The dilated residual networks keep output stride 8: their last stages map a
 * 64x64 image to 8x8 (28x28 at their canonical 224x224; ResNet-50: 2x2 and 7x7),
 * and their dilated convolutions keep the map size (a small input keeps the test
 * fast: the strides do not depend on it). */
Test(zoo, drn_output_stride_8)
{
    const char *ov[2] = {"h=64", "w=64"};
    cn_compile_opts co = {.batch = 1, .training = 0};
    cn_error err;
    cn_model *a = load("drn-a-50", ov, 2);
    cr_assert_eq(cn_model_compile(a, &co, &err), CN_OK, "%s", err.msg);
    check_node_shape(a, "layer2.3.out", 512, 8, 8);
    check_node_shape(a, "layer3.5.out", 1024, 8, 8);
    check_node_shape(a, "layer4.2.out", 2048, 8, 8);
    cr_expect_eq(cn_model_node_attrs(a, cn_model_find(a, "layer4.2.b"))->dil[0], 4);
    cr_expect_eq(cn_model_node_attrs(a, cn_model_find(a, "layer4_0.b"))->dil[0], 1);
    cn_model_free(a);
    cn_model *c = load("drn-c-26", ov, 2);
    cr_assert_eq(cn_model_compile(c, &co, &err), CN_OK, "%s", err.msg);
    check_node_shape(c, "layer1.out", 16, 64, 64);
    check_node_shape(c, "layer6.out", 512, 8, 8);
    check_node_shape(c, "layer8.out", 512, 8, 8);
    cn_model_free(c);
}
