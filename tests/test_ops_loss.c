/* test_ops_loss.c: every loss op through the graph: the value equals its
 * kernel's (whose PyTorch parity is tests/test_loss_*.c), whole-model gradient
 * checks (including the learnable L-Softmax weight and centres), the loss
 * weight, stacked and separate inputs of the metric losses, and target errors
 * that name the node. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <string.h>

#include "convnet.h"
#include "support.h"
#include "support_model.h"

/* loss_case: a loss on (c) rows, batch 4, 5 classes. */
static tst_op_case loss_case(cn_op_kind op, int c)
{
    int dims[1] = {c};
    tst_op_case k = tst_op_case_make(op, 1, dims);
    k.batch = 4;
    k.classes = c;
    return k;
}

Test(ops_loss, class_losses_gradcheck)
{
    tst_op_case c = loss_case(CN_OP_CROSS_ENTROPY, 5);
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    c.a.smoothing = 0.1;
    cn_real w[5] = {1, 2, 0.5, 1, 3};
    c.a.class_weights = w;
    c.a.n_class_weights = 5;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    /* hinge and ramp are kinked where a margin is exactly 0 (or the cap):
     * normal scores with scale 3 keep every margin far from them at this size,
     * and a step of 1e-4 (exact on the linear pieces) will not cross one */
    tst_op_case h = loss_case(CN_OP_HINGE, 5);
    h.scale = 3;
    h.h = 1e-4;
    cr_assert_lt(tst_op_gradcheck(&h), TST_GRAD_TOL);
    h.a.squared = 1;
    cr_assert_lt(tst_op_gradcheck(&h), TST_GRAD_TOL);
    tst_op_case r = loss_case(CN_OP_RAMP, 5);
    r.scale = 3;
    r.h = 1e-4;
    cr_assert_lt(tst_op_gradcheck(&r), TST_GRAD_TOL);
}

Test(ops_loss, regression_losses_gradcheck)
{
    int dims[2] = {3, 2};
    cn_op_kind ops[4] = {CN_OP_MSE, CN_OP_L1, CN_OP_SMOOTH_L1, CN_OP_HUBER};
    for (int i = 0; i < 4; i++) {
        tst_op_case c = tst_op_case_make(ops[i], 2, dims);
        c.a.delta = 0.5;
        /* L1, smooth L1 and Huber kink at r = 0 and |r| = delta: random normal
         * inputs and targets leave every residual far from both here */
        cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL, "%s", cn_op_name(ops[i]));
    }
    tst_op_case b = loss_case(CN_OP_BCE_LOGITS, 4);
    b.unit_values = 1;
    cr_assert_lt(tst_op_gradcheck(&b), TST_GRAD_TOL);
    cn_real pw[4] = {1, 2, 3, 0.5};
    b.a.class_weights = pw;
    b.a.n_class_weights = 4;
    cr_assert_lt(tst_op_gradcheck(&b), TST_GRAD_TOL);
    tst_op_case k = loss_case(CN_OP_KL_DIV, 4);
    k.prob_values = 1;
    cr_assert_lt(tst_op_gradcheck(&k), TST_GRAD_TOL);
}

Test(ops_loss, learnable_losses_gradcheck)
{
    for (int m = 1; m <= 4; m++) {
        tst_op_case c = loss_case(CN_OP_LSOFTMAX, 6);
        c.a.out = 5;
        c.classes = 5;
        c.a.m = m;
        c.a.lambda = m == 3 ? 0.5 : 0.0;
        cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL, "m = %d", m);
    }
    tst_op_case z = loss_case(CN_OP_CENTER, 6);
    z.a.out = 3;
    z.classes = 3;
    cr_assert_lt(tst_op_gradcheck(&z), TST_GRAD_TOL);
}

Test(ops_loss, metric_losses_stacked_and_separate)
{
    tst_op_case t = loss_case(CN_OP_TRIPLET, 4);
    t.batch = 6; /* 2 triplets stacked */
    t.a.margin = 5.0; /* every triplet active: away from the hinge's kink */
    cr_assert_lt(tst_op_gradcheck(&t), TST_GRAD_TOL);
    t.n_in = 3;
    t.batch = 2;
    for (int j = 1; j < 3; j++) {
        t.ndim[j] = 1;
        t.shape[j][0] = 4;
    }
    cr_assert_lt(tst_op_gradcheck(&t), TST_GRAD_TOL);
    tst_op_case c = loss_case(CN_OP_CONTRASTIVE, 4);
    c.batch = 6; /* 3 pairs stacked */
    c.classes = 2;
    c.a.margin = 10.0; /* dissimilar pairs inside the margin: smooth there */
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    c.n_in = 2;
    c.batch = 3;
    c.ndim[1] = 1;
    c.shape[1][0] = 4;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
}

Test(ops_loss, value_equals_kernel_and_weight_scales_total)
{
    tst_op_case c = loss_case(CN_OP_CROSS_ENTROPY, 5);
    c.a.weight = 0.3;
    cn_target t;
    cn_model *m = tst_op_model(&c, &t);
    cn_error err;
    double loss;
    cr_assert(cn_model_forward(m, 4, NULL, &t, CN_TRAIN, NULL, &loss, &err) == CN_ERR_ARG);
    cn_rng r;
    cn_rng_seed(&r, 3, 3);
    cr_assert(cn_model_forward(m, 4, NULL, &t, CN_TRAIN, &r, &loss, &err) == CN_OK, "%s", err.msg);
    double k = cn_softmax_ce_forward(4, 5, cn_model_input_buffer(m, 0), t.labels, NULL, 0.0);
    cr_assert(fabs(loss - 0.3 * k) < 1e-6, "%g vs %g", loss, 0.3 * k);
    const cn_real *y = cn_model_node_value(m, cn_model_find(m, "op"));
    cr_assert(fabs(y[0] - k) < 1e-6);
    /* prediction without targets skips the loss */
    cr_assert(cn_model_forward(m, 4, NULL, NULL, CN_EVAL, NULL, &loss, &err) == CN_OK);
    cr_assert(loss == 0.0);
    cr_assert_eq(cn_model_backward(m, &err), CN_ERR_ARG);
    cn_model_free(m);
    tst_op_target_free(&t);
}

Test(ops_loss, target_errors_name_the_node)
{
    tst_op_case c = loss_case(CN_OP_CROSS_ENTROPY, 5);
    cn_target t;
    cn_model *m = tst_op_model(&c, &t);
    cn_error err;
    int bad[4] = {0, 1, 7, 2};
    cn_target tb = {.labels = bad};
    cr_assert_eq(cn_model_forward(m, 4, NULL, &tb, CN_EVAL, NULL, NULL, &err), CN_ERR_RANGE);
    cr_assert(strstr(err.msg, "'op'") && strstr(err.msg, "7"), "%s", err.msg);
    cn_target none = {0};
    cr_assert_eq(cn_model_forward(m, 4, NULL, &none, CN_EVAL, NULL, NULL, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "labels"), "%s", err.msg);
    cn_model_free(m);
    tst_op_target_free(&t);

    tst_op_case k = loss_case(CN_OP_KL_DIV, 3);
    m = tst_op_model(&k, &t);
    cn_real v[12] = {0.2, 0.3, 0.5, 0.1, -0.1, 1.0, 0.3, 0.3, 0.4, 0.5, 0.5, 0};
    cn_target tv = {.values = v};
    cr_assert_eq(cn_model_forward(m, 4, NULL, &tv, CN_EVAL, NULL, NULL, &err), CN_ERR_RANGE);
    cr_assert(strstr(err.msg, "sample 1"), "%s", err.msg);
    cn_model_free(m);
    tst_op_target_free(&t);

    tst_op_case s = loss_case(CN_OP_TRIPLET, 4);
    s.batch = 5;
    m = tst_op_model(&s, &t);
    cr_assert_eq(cn_model_forward(m, 5, NULL, &t, CN_EVAL, NULL, NULL, &err), CN_ERR_SHAPE);
    cr_assert(strstr(err.msg, "batch 5"), "%s", err.msg);
    cn_model_free(m);
    tst_op_target_free(&t);
}
