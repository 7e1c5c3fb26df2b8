/* test_sanity_checks.c: cn_sanity_run (convnet/sanity.h) on a small learnable
 * synthetic dataset (40 images 1x8x8, 4 classes, each class a bright quadrant
 * plus noise): the softmax classifier, the two-layer net and a small
 * three-layer ConvNet pass all four checks with the softmax and the SVM loss
 * (the ConvNet's gradient check only in the double build: in float, kinks and
 * rounding decide it);
 * un-normalised inputs fail the initial-loss check and identical images fail the
 * overfit check, each with its advice; bad arguments are errors. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "convnet/builtin.h"
#include "convnet/data.h"
#include "convnet/sanity.h"
#include "support.h"

#define N 40
#define CLASSES 4
#define SIDE 8

/* n images (1, SIDE, SIDE): class k = i % CLASSES lights quadrant k (value 1,
 * noise 0.1), then every pixel times scale, centred on the mean pixel. With
 * same != 0 every image is the first one (labels still i % CLASSES). */
static cn_dataset *make_data(int n, double scale, int same)
{
    cn_error err = {0};
    cn_dataset *ds = cn_dataset_new(n, 1, SIDE, SIDE, CLASSES, &err);
    cr_assert_not_null(ds, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 7, 1);
    const int px = SIDE * SIDE, half = SIDE / 2;
    cn_real *x = ds->images->data; // (n, 1, SIDE, SIDE)
    for (int i = 0; i < n; i++) {
        int k = i % CLASSES;
        ds->labels[i] = k;
        for (int y = 0; y < SIDE; y++)
            for (int c = 0; c < SIDE; c++) {
                int q = (y >= half) * 2 + (c >= half);
                double v = (q == k ? 1.0 : 0.0) + 0.1 * cn_rng_normal(&r) - 0.25;
                x[i * px + y * SIDE + c] = (cn_real)(scale * v);
            }
        if (same && i > 0) memcpy(x + i * px, x, sizeof(cn_real) * px);
    }
    return ds;
}

static cn_builtin_spec spec_of(const char *name, cn_builtin_loss loss)
{
    cn_error err = {0};
    cn_builtin_spec s;
    cr_assert_eq(cn_builtin_spec_default(name, &s, &err), CN_OK, "%s", err.msg);
    s.c = 1;
    s.h = s.w = SIDE;
    s.classes = CLASSES;
    if (s.n_hidden == 1) s.hidden[0] = 16;
    s.filters = 4;
    s.kernel = 3;
    s.loss = loss;
    cr_assert_eq(cn_builtin_check(&s, &err), CN_OK, "%s", err.msg);
    return s;
}

/* all_pass: every check of name with loss passes. kinked: the model has ReLU
 * and max-pool kinks under a convolution's shared weights; in the float build
 * its per-coordinate gradient check (h = 1e-2, or any h: rounding) is not
 * decisive (docs/sanity.md), so there only its report is checked. */
static void all_pass(const char *name, cn_builtin_loss loss, int kinked)
{
    cn_error err = {0};
    cn_dataset *ds = make_data(N, 1.0, 0);
    cn_builtin_spec s = spec_of(name, loss);
    cn_sanity_result res[CN_SANITY_CHECKS];
    cr_assert_eq(cn_sanity_run(&s, ds, 3, res, &err), CN_OK, "%s", err.msg);
    static const char *names[] = {"initial loss", "regularisation", "overfit", "gradient check"};
#ifdef CN_DOUBLE
    kinked = 0;
#endif
    for (int k = 0; k < CN_SANITY_CHECKS; k++) {
        cr_log_info("%s/%s: %s: %s", name, loss == CN_BUILTIN_SVM ? "svm" : "softmax",
                    res[k].name, res[k].detail);
        cr_assert_str_eq(res[k].name, names[k]);
        cr_assert_gt(strlen(res[k].detail), 0);
        cr_assert(isfinite(res[k].value) && isfinite(res[k].expected));
        if (k == 3 && kinked && !res[k].passed) {
            cr_assert_str_eq(res[k].advice, "a backward pass is wrong (or kinks: ReLU/max at 0)");
            continue;
        }
        cr_assert(res[k].passed, "%s (%s) %s failed: %s", name,
                  loss == CN_BUILTIN_SVM ? "svm" : "softmax", res[k].name, res[k].detail);
        cr_assert_str_eq(res[k].advice, "");
    }
    double chance = loss == CN_BUILTIN_SVM ? CLASSES - 1.0 : log((double)CLASSES);
    cr_assert_float_eq(res[0].expected, chance, 1e-12);
    cr_assert(fabs(res[0].value - chance) <= 0.05 * chance);
    cr_assert_eq(res[1].expected, 0.0);
    cr_assert_gt(res[1].value, 0.0);
    cr_assert_eq(res[2].expected, 1.0);
    cr_assert_eq(res[2].value, 1.0);
    cr_assert(strstr(res[2].detail, "reached at epoch"), "%s", res[2].detail);
#ifdef CN_DOUBLE
    cr_assert_eq(res[3].expected, 1e-5);
#else
    cr_assert_eq(res[3].expected, 0.25);
#endif
    if (!kinked) cr_assert(res[3].passed);
    cn_dataset_free(ds);
}

Test(sanity_checks, softmax_passes)
{
    all_pass("softmax", CN_BUILTIN_SOFTMAX, 0);
    all_pass("softmax", CN_BUILTIN_SVM, 0);
}

Test(sanity_checks, two_layer_passes)
{
    all_pass("two-layer", CN_BUILTIN_SOFTMAX, 0);
    all_pass("two-layer", CN_BUILTIN_SVM, 0);
}

Test(sanity_checks, three_layer_convnet_passes)
{
    all_pass("three-layer-convnet", CN_BUILTIN_SOFTMAX, 1);
    all_pass("three-layer-convnet", CN_BUILTIN_SVM, 1);
}

Test(sanity_checks, unnormalised_inputs_fail_the_initial_loss)
{
    /* pixels ~1e4 (raw values, never normalised): even weights of 1e-3 give
     * scores far from 0, so the loss is far from ln C */
    cn_error err = {0};
    cn_dataset *ds = make_data(N, 1e4, 0);
    cn_builtin_spec s = spec_of("softmax", CN_BUILTIN_SOFTMAX);
    cn_sanity_result res[CN_SANITY_CHECKS];
    cr_assert_eq(cn_sanity_run(&s, ds, 3, res, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(res[0].passed, 0, "%s", res[0].detail);
    cr_assert_gt(res[0].value, 1.05 * log(4.0));
    cr_assert_str_eq(res[0].advice, "check the loss, the initial weight scale and the labels");
    cr_assert(strstr(res[0].detail, "ln 4"), "%s", res[0].detail);
    cr_assert(res[1].passed, "%s", res[1].detail);
    cn_dataset_free(ds);
}

Test(sanity_checks, identical_images_cannot_be_overfitted)
{
    /* every image the same, four labels: at best a quarter is right */
    cn_error err = {0};
    cn_dataset *ds = make_data(N, 1.0, 1);
    cn_builtin_spec s = spec_of("softmax", CN_BUILTIN_SOFTMAX);
    cn_sanity_result res[CN_SANITY_CHECKS];
    cr_assert_eq(cn_sanity_run(&s, ds, 3, res, &err), CN_OK, "%s", err.msg);
    cr_assert(res[0].passed, "%s", res[0].detail);
    cr_assert_eq(res[2].passed, 0, "%s", res[2].detail);
    cr_assert_leq(res[2].value, 0.25 + 1e-12);
    cr_assert(strstr(res[2].detail, "after 200 epochs"), "%s", res[2].detail);
    cr_assert_str_eq(res[2].advice,
                     "the model or the optimiser is broken, or the learning rate is badly off");
    cn_dataset_free(ds);
}

Test(sanity_checks, bad_arguments)
{
    cn_error err = {0};
    cn_sanity_result res[CN_SANITY_CHECKS];
    cn_builtin_spec s = spec_of("softmax", CN_BUILTIN_SOFTMAX);
    cn_dataset *ds = make_data(N, 1.0, 0);
    cr_assert_eq(cn_sanity_run(NULL, ds, 1, res, &err), CN_ERR_ARG);
    cr_assert_eq(cn_sanity_run(&s, NULL, 1, res, &err), CN_ERR_ARG);
    cr_assert_eq(cn_sanity_run(&s, ds, 1, NULL, &err), CN_ERR_ARG);
    cr_assert_eq(cn_sanity_run(&s, ds, 1, res, NULL), CN_OK);

    /* too few examples */
    cn_dataset *few = make_data(19, 1.0, 0);
    cr_assert_eq(cn_sanity_run(&s, few, 1, res, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "19 examples"), "%s", err.msg);
    cr_assert_str_eq(res[0].name, "initial loss"); /* names are set before any check */
    cr_assert(isnan(res[0].value));
    cn_dataset_free(few);

    /* images of another size */
    cn_builtin_spec s6 = s;
    s6.h = s6.w = 6;
    cr_assert_eq(cn_sanity_run(&s6, ds, 1, res, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "1x8x8") && strstr(err.msg, "1x6x6"), "%s", err.msg);

    /* a label the model cannot output */
    cn_builtin_spec s3 = s;
    s3.classes = 3;
    cr_assert_eq(cn_sanity_run(&s3, ds, 1, res, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "record 3: label 3"), "%s", err.msg);

    /* an invalid spec */
    cn_builtin_spec bad = s;
    bad.classes = 1;
    cr_assert_eq(cn_sanity_run(&bad, ds, 1, res, &err), CN_ERR_ARG);
    cr_assert(strncmp(err.msg, "sanity: ", 8) == 0, "%s", err.msg);
    cn_dataset_free(ds);
}
