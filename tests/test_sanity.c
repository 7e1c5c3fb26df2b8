/* test_sanity.c: the course's sanity checks of a network before training
 * ("Babysitting the learning process"), on the three-layer ConvNet of the
 * course (conv 5x5 - relu - maxpool 2x2 - affine - relu - affine) and real
 * Fashion-MNIST images:
 *  - with small weights and no regularisation the initial softmax loss is
 *    ln 10 (every class equally likely) and the multiclass SVM loss is 9
 *    (every margin 1, nine wrong classes);
 *  - turning the regularisation up raises the loss;
 *  - 50 training examples are overfitted to 100 % training accuracy within
 *    20 epochs of plain SGD;
 *  - the whole-model gradient check of a small ConvNet with batch norm and
 *    (fixed-mask) dropout. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "convnet.h"
#include "support.h"
#include "support_model.h"

#define N_SAMPLES 50

/* three_layer: the course's three-layer ConvNet on (1, 28, 28) with loss op
 * (cross-entropy or hinge); weights N(0, scale^2) when scale > 0, else the
 * default He initialisation. */
static cn_model *three_layer(cn_op_kind loss, double scale, int batch)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 1, 28, 28, &err);
    cn_attrs a = cn_attrs_make(CN_OP_CONV2D);
    a.out = 16;
    a.k[0] = a.k[1] = 5;
    a.pad[0] = a.pad[1] = 2;
    cn_attrs l1 = cn_attrs_make(CN_OP_LINEAR), l2 = cn_attrs_make(CN_OP_LINEAR);
    l1.out = 100;
    l2.out = 10;
    if (scale > 0) {
        cn_init w = cn_init_make(CN_INIT_NORMAL);
        w.std = scale;
        a.weight_init = l1.weight_init = l2.weight_init = w;
    }
    int c = cn_model_node(m, CN_OP_CONV2D, &a, &x, 1, "conv", &err);
    c = cn_model_unary(m, CN_OP_RELU, c, &err);
    c = cn_model_maxpool2d(m, c, 2, 2, &err);
    c = cn_model_node(m, CN_OP_LINEAR, &l1, &c, 1, "fc1", &err);
    c = cn_model_unary(m, CN_OP_RELU, c, &err);
    c = cn_model_node(m, CN_OP_LINEAR, &l2, &c, 1, "fc2", &err);
    cr_assert(cn_model_unary(m, loss, c, &err) >= 0, "%s", err.msg);
    cn_compile_opts o = {.batch = batch, .training = 1};
    cr_assert(cn_model_compile(m, &o, &err) == CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 231, 0);
    cr_assert(cn_model_init(m, &r, &err) == CN_OK, "%s", err.msg);
    return m;
}

/* load: the first N_SAMPLES test images of Fashion-MNIST, standardised by
 * their mean pixel and standard deviation (the course's preprocessing);
 * skips the test when the dataset is not installed. */
static cn_dataset *load(void)
{
    struct stat st;
    if (stat(CN_FASHION_MNIST_DIR "/t10k-labels-idx1-ubyte.gz", &st) != 0)
        cr_skip_test("Fashion-MNIST is not installed at " CN_FASHION_MNIST_DIR);
    cn_error err;
    cn_dataset *all = NULL, *ds = NULL;
    cr_assert(cn_dataset_load_idx(CN_FASHION_MNIST_DIR, "test", 1, &all, &err) == CN_OK, "%s",
              err.msg);
    int idx[N_SAMPLES];
    for (int i = 0; i < N_SAMPLES; i++) idx[i] = i;
    cr_assert(cn_dataset_subset(all, idx, N_SAMPLES, &ds, &err) == CN_OK);
    cn_dataset_free(all);
    size_t cnt = ds->images->numel;
    double mean = 0;
    for (size_t i = 0; i < cnt; i++) mean += ds->images->data[i];
    mean /= (double)cnt;
    double var = 0;
    for (size_t i = 0; i < cnt; i++) var += (ds->images->data[i] - mean) * (ds->images->data[i] - mean);
    double sd = sqrt(var / (double)cnt);
    for (size_t i = 0; i < cnt; i++)
        ds->images->data[i] = (cn_real)((ds->images->data[i] - mean) / sd);
    return ds;
}

/* l2_penalty: 0.5 * reg * sum of squared weights (not biases), the course's
 * regularisation term. */
static double l2_penalty(cn_model *m, double reg)
{
    cn_params *ps = cn_model_params(m);
    double s = 0;
    for (int k = 0; k < ps->n; k++)
        if (ps->p[k].role == CN_PARAM_WEIGHT)
            for (size_t i = 0; i < ps->p[k].numel; i++) s += (double)ps->p[k].value[i] * ps->p[k].value[i];
    return 0.5 * reg * s;
}

Test(sanity, initial_losses_and_regularisation, .timeout = 120)
{
    cn_dataset *ds = load();
    cn_error err;
    cn_target t = {.labels = ds->labels};
    double loss;
    cn_model *m = three_layer(CN_OP_CROSS_ENTROPY, 1e-3, N_SAMPLES);
    cr_assert(cn_model_forward(m, N_SAMPLES, ds->images->data, &t, CN_EVAL, NULL, &loss, &err) ==
              CN_OK, "%s", err.msg);
    cr_log_info("initial softmax loss %.5f (ln 10 = %.5f)", loss, log(10.0));
    cr_assert(fabs(loss - log(10.0)) < 0.05, "softmax loss %g", loss);
    double r0 = loss + l2_penalty(m, 0.0), r1 = loss + l2_penalty(m, 1e3);
    cr_log_info("with regularisation 0: %.5f, 1e3: %.5f", r0, r1);
    cr_assert_gt(r1, r0 + 1.0);
    cn_model_free(m);
    m = three_layer(CN_OP_HINGE, 1e-3, N_SAMPLES);
    cr_assert(cn_model_forward(m, N_SAMPLES, ds->images->data, &t, CN_EVAL, NULL, &loss, &err) ==
              CN_OK);
    cr_log_info("initial SVM loss %.5f (9 expected)", loss);
    cr_assert(fabs(loss - 9.0) < 0.1, "SVM loss %g", loss);
    cn_model_free(m);
    cn_dataset_free(ds);
}

Test(sanity, overfits_fifty_examples, .timeout = 300)
{
    cn_dataset *ds = load();
    const int batch = 10, epochs = 20;
    const double lr = 0.05;
    cn_model *m = three_layer(CN_OP_CROSS_ENTROPY, 0.0, batch);
    cn_params *ps = cn_model_params(m);
    cn_rng r;
    cn_rng_seed(&r, 7, 7);
    cn_error err;
    size_t per = (size_t)28 * 28;
    double acc = 0, loss = 0;
    int ep;
    for (ep = 1; ep <= epochs; ep++) {
        for (int b = 0; b < N_SAMPLES; b += batch) {
            cn_target t = {.labels = ds->labels + b};
            cr_assert(cn_model_forward(m, batch, ds->images->data + (size_t)b * per, &t, CN_TRAIN,
                                       &r, &loss, &err) == CN_OK, "%s", err.msg);
            cn_zero_grad(m);
            cr_assert(cn_model_backward(m, &err) == CN_OK);
            for (size_t i = 0; i < ps->count; i++) ps->values[i] -= (cn_real)(lr * ps->grads[i]);
        }
        /* training accuracy over the 50, in evaluation mode */
        int right = 0;
        for (int b = 0; b < N_SAMPLES; b += batch) {
            cr_assert(cn_model_forward(m, batch, ds->images->data + (size_t)b * per, NULL, CN_EVAL,
                                       NULL, NULL, &err) == CN_OK);
            const cn_real *s = cn_model_node_value(m, cn_model_find(m, "fc2"));
            for (int i = 0; i < batch; i++) {
                int best = 0;
                for (int j = 1; j < 10; j++)
                    if (s[i * 10 + j] > s[i * 10 + best]) best = j;
                right += best == ds->labels[b + i];
            }
        }
        acc = right / (double)N_SAMPLES;
        cr_log_info("epoch %d: last batch loss %.4f, training accuracy %.2f", ep, loss, acc);
        if (acc == 1.0) break;
    }
    cr_assert(acc == 1.0, "training accuracy %.2f after %d epochs", acc, epochs);
    cn_model_free(m);
    cn_dataset_free(ds);
}

Test(sanity, whole_model_gradcheck_with_batchnorm_and_dropout)
{
    /* conv - batchnorm - relu - maxpool - dropout (mask held fixed) - linear -
     * cross-entropy, every parameter and input coordinate, in training mode */
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 2, 6, 6, &err);
    /* no bias before batch norm: its gradient is exactly 0 (the normalisation
     * removes any per-channel constant), which no relative error can judge */
    cn_attrs ca = cn_attrs_make(CN_OP_CONV2D);
    ca.out = 3;
    ca.pad[0] = ca.pad[1] = 1;
    ca.bias = 0;
    int c = cn_model_node(m, CN_OP_CONV2D, &ca, &x, 1, NULL, &err);
    c = cn_model_batchnorm(m, c, &err);
    c = cn_model_unary(m, CN_OP_RELU, c, &err);
    c = cn_model_maxpool2d(m, c, 2, 2, &err);
    c = cn_model_dropout(m, c, 0.3, &err);
    c = cn_model_linear(m, c, 4, &err);
    cr_assert(cn_model_unary(m, CN_OP_CROSS_ENTROPY, c, &err) >= 0, "%s", err.msg);
    cn_compile_opts o = {.batch = 4, .training = 1, .input_grad = 1};
    cr_assert(cn_model_compile(m, &o, &err) == CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 12, 1);
    cr_assert(cn_model_init(m, &r, &err) == CN_OK);
    cn_real xin[4 * 72];
    tst_fill_normal(&r, xin, 4 * 72, 1.0);
    int lab[4] = {0, 3, 1, 2};
    cn_target t = {.labels = lab};
    cn_model_gradcheck_opts go = {.per_param = 0, .input = 1, .h = TST_GRAD_H, .seed = 3};
    cn_model_gradcheck_report rep;
    cr_assert(cn_model_gradcheck(m, 4, xin, &t, CN_TRAIN, &r, &go, &rep, &err) == CN_OK, "%s",
              err.msg);
    cr_log_info("ConvNet with batch norm and dropout: max rel err %.3g at %s over %zu coords",
                rep.max_rel_err, rep.worst, rep.checked);
    /* ReLU and max pooling are kinked: with continuous random data no unit
     * sits within h = 1e-5 of a kink here (the error would be ~1, not ~1e-7).
     * In float the step must be ~1e-2 to rise above rounding, and at that size
     * batch-normalised units do cross ReLU kinks: the check is the double
     * build's; the float run only exercises the path. The bound is 1e-6, not
     * the single op's 1e-7: every coordinate here goes through batch
     * statistics shared by the whole batch, and double rounding alone gives
     * 7.6e-8 with OpenBLAS and 1.6e-7 with the portable GEMM (BLAS=none); a
     * wrong gradient gives errors of order 1. */
#ifdef CN_DOUBLE
    cr_assert_lt(rep.max_rel_err, 1e-6);
#endif
    cn_model_free(m);
}
