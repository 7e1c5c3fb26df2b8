/* tests/support_model.h: building one-op models for op tests: inputs of given
 * shapes -> the op -> (unless the op is a loss) an MSE loss against a random
 * target, then the whole-model gradient check over every parameter and input
 * coordinate. Linked into every test binary (as every non-test_ file here). */
#ifndef CONVNET_TESTS_SUPPORT_MODEL_H
#define CONVNET_TESTS_SUPPORT_MODEL_H

#include "convnet.h"
#include "convnet/model.h"

/* tst_op_case: one op configuration to check. */
typedef struct tst_op_case {
    cn_op_kind op;
    cn_attrs a;                        /* start from cn_attrs_make(op) */
    int n_in;                          /* inputs (1..4) */
    int ndim[4];                       /* per-sample rank of each input */
    int shape[4][CN_MAX_DIMS];         /* per-sample shape of each input */
    int batch;                         /* samples */
    cn_mode mode;                      /* CN_TRAIN or CN_EVAL */
    int classes;                       /* losses reading labels: labels in [0, classes) */
    int prob_values;                   /* values rows are probability distributions (kl_div) */
    int unit_values;                   /* values in [0, 1] (bce_logits) */
    double scale;                      /* inputs ~ N(0, scale^2) (0: 1) */
    uint64_t seed;
    int per_param;                     /* coordinates per parameter (0: all) */
    double h;                          /* difference step (0: TST_GRAD_H) */
} tst_op_case;

/* tst_op_case_make: a case for op with one input of the given per-sample shape
 * (ndim dims from dims), batch 3, training mode, seed 1. */
tst_op_case tst_op_case_make(cn_op_kind op, int ndim, const int *dims);

/* tst_op_model: build and compile (training, input_grad) the model of c,
 * initialise its parameters, fill its inputs and targets. The caller frees the
 * model with cn_model_free and the target arrays with tst_op_target_free. */
cn_model *tst_op_model(const tst_op_case *c, cn_target *t);
void tst_op_target_free(cn_target *t);

/* tst_op_gradcheck: the max relative error of cn_model_gradcheck on c's model
 * (fails the test on any error); logs the worst coordinate. */
double tst_op_gradcheck(const tst_op_case *c);

/* TST_GRAD_TOL: the bound a smooth op's relative error must meet: 1e-7 in the
 * double build (the real check). In float the forward values carry rounding of
 * ~6e-8 relative, which centred differences divide by 2h: with h = 1e-2 that
 * leaves errors up to ~1e-2 on small gradients, so the float run only catches
 * gross mistakes (a wrong sign, a missing term): bound 0.1. */
#ifdef CN_DOUBLE
#define TST_GRAD_TOL 1e-7
#define TST_GRAD_H 1e-5
#else
#define TST_GRAD_TOL 0.1
#define TST_GRAD_H 1e-2
#endif

/* tst_blobs: a tiny separable dataset for trainer tests: n images (2, 4, 4) of
 * 3 classes (label i % 3); class k has channel means (k - 1, 1 - k) plus normal
 * noise of std 0.3 drawn from seed (stream 3). Asserts on failure. */
cn_dataset *tst_blobs(int n, uint64_t seed);

/* tst_train_steps: compile m for training at batch, initialise it from seed and
 * run `steps` training forwards on batch normal images of per_sample values with
 * labels i % classes (so batch-norm running statistics move off their initial
 * values). Asserts on failure. */
void tst_train_steps(cn_model *m, int batch, size_t per_sample, int classes, uint64_t seed,
                     int steps);

#endif /* CONVNET_TESTS_SUPPORT_MODEL_H */
