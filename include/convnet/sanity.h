/* convnet/sanity.h: the course's sanity checks before a long training run
 * (`convnet train --sanity`), each a pass/fail line with an explanation when it
 * fails:
 *   1. initial loss: with small weights (N(0, 1e-3^2)) and no regularisation the
 *      loss must be near its chance value: ln C for softmax, C - 1 for the SVM
 *      (margin 1);
 *   2. regularisation raises the loss: data loss + 0.5 * reg * sum ||W||^2 over the
 *      weights grows when reg goes from 0 to 1e3 (with the default initialisation);
 *   3. overfit a tiny subset: 20 training examples, no regularisation, up to 200
 *      epochs of Adam (lr 1e-3, batch 20, seed fixed): training accuracy reaches 1.0
 *      (pass at >= 0.99);
 *   4. gradient check: cn_model_gradcheck of the model on 4 examples in training
 *      mode (masks held fixed), 10 coordinates per parameter; bound 1e-5 in the
 *      double build, 0.25 in float (h 1e-2). When the worst coordinate differs only
 *      by rounding noise (a gradient exactly 0 by symmetry), it is repeated on
 *      other examples (4 draws in all).
 * docs/sanity.md explains what a failure of each means. */
#ifndef CONVNET_SANITY_H
#define CONVNET_SANITY_H

#include "convnet/builtin.h"
#include "convnet/core.h"
#include "convnet/data.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CN_SANITY_CHECKS 4

/* One check's outcome. */
typedef struct cn_sanity_result {
    const char *name;     /* "initial loss", "regularisation", "overfit", "gradient check" */
    int passed;
    double value;         /* the measured number (loss, loss increase, accuracy, error) */
    double expected;      /* what it was compared with (ln C, 0, 1.0, the bound) */
    char detail[256];     /* one line: what was measured against what */
    char advice[256];     /* when failed: what it usually means ("" when passed) */
} cn_sanity_result;

/* cn_sanity_run: run the four checks on the model spec with examples from train
 * (already normalised; its images must match spec's input and its labels be
 * < spec->classes; at least 20 examples). seed fixes every draw. res receives
 * CN_SANITY_CHECKS results in the order above. Returns CN_OK when the checks
 * could be run (whether or not they pass); errors: CN_ERR_ARG (NULL arguments,
 * too few examples, shapes), CN_ERR_NOMEM, model errors. */
cn_status cn_sanity_run(const cn_builtin_spec *spec, const cn_dataset *train, uint64_t seed,
                        cn_sanity_result res[CN_SANITY_CHECKS], cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_SANITY_H */
