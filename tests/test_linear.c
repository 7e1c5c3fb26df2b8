/* test_linear.c: the linear classifiers: loss names, the loss and gradients
 * against PyTorch (tests/fixtures/linear_loss.json from tools/fixtures/linear.py),
 * closed-form values, SGD training (convergence, determinism, NaN detection,
 * cancellation, option checks), chunked prediction and the random search. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"

#define FIXTURE "tests/fixtures/linear_loss.json"

#ifdef CN_DOUBLE
#define PARITY_TOL 1e-10
#else
#define PARITY_TOL 1e-4
#endif

/* ------------------------------------------------------------------ helpers */

/* json_reals: the number array key of obj as cn_real (n entries expected). */
static cn_real *json_reals(json_t *obj, const char *key, size_t n)
{
    json_t *a = json_object_get(obj, key);
    cr_assert(json_is_array(a), "fixture: %s is not an array", key);
    cr_assert_eq(json_array_size(a), n, "fixture: %s has %zu entries, expected %zu", key,
                 json_array_size(a), n);
    cn_real *v = malloc(n * sizeof *v);
    cr_assert(v);
    for (size_t i = 0; i < n; i++) v[i] = (cn_real)json_number_value(json_array_get(a, i));
    return v;
}

/* max_rel: max |a - ref| / max(|ref|_inf, 1e-30), the vector's largest magnitude
 * as the scale so entries near 0 do not dominate. */
static double max_rel(const cn_real *a, const cn_real *ref, size_t n)
{
    double scale = 1e-30, worst = 0.0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)ref[i]));
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - (double)ref[i]));
    return worst / scale;
}

/* A synthetic problem: c Gaussian blobs in d dimensions, well separated. */
typedef struct blobs {
    int n, d, c;
    cn_real *X; /* (n, d) */
    int *y;     /* (n) */
} blobs;

static blobs make_blobs(int n, int d, int c, double spread, uint64_t seed)
{
    blobs b = {n, d, c, malloc((size_t)n * d * sizeof(cn_real)), malloc((size_t)n * sizeof(int))};
    cr_assert(b.X && b.y);
    cn_rng r;
    cn_rng_seed(&r, seed, 0);
    double *centres = malloc((size_t)c * d * sizeof *centres);
    for (int k = 0; k < c * d; k++) centres[k] = 3.0 * cn_rng_normal(&r);
    for (int i = 0; i < n; i++) {
        int k = i % c;
        b.y[i] = k;
        for (int j = 0; j < d; j++)
            b.X[(size_t)i * d + j] = (cn_real)(centres[k * d + j] + spread * cn_rng_normal(&r));
    }
    free(centres);
    return b;
}

static void free_blobs(blobs *b)
{
    free(b->X);
    free(b->y);
}

static double model_acc(const cn_linear *m, const blobs *b)
{
    int *pred = malloc((size_t)b->n * sizeof *pred);
    cn_error err;
    cr_assert_eq(cn_linear_predict(m, b->X, b->n, pred, &err), CN_OK, "%s", err.msg);
    double a = cn_accuracy(pred, b->y, b->n);
    free(pred);
    return a;
}

static cn_linear *new_model(cn_linear_loss loss, int d, int c, uint64_t seed)
{
    cn_rng r;
    cn_rng_seed(&r, seed, 0);
    cn_error err;
    cn_linear *m = cn_linear_new(loss, d, c, 1e-2, &r, &err);
    cr_assert(m, "%s", err.msg);
    return m;
}

static cn_linear_opts small_opts(void)
{
    cn_linear_opts o;
    cn_linear_opts_default(&o, CN_LINEAR_SOFTMAX);
    o.lr = 1e-2;
    o.reg = 1e-4;
    o.epochs = 8;
    o.batch = 32;
    o.seed = 5;
    return o;
}

/* ------------------------------------------------------------------ names */

Test(linear, names_round_trip)
{
    for (int i = 0; i < CN_LINEAR_LOSS_COUNT; i++) {
        cn_linear_loss l;
        cn_error err;
        cr_assert_eq(cn_linear_loss_parse(cn_linear_loss_name((cn_linear_loss)i), &l, &err),
                     CN_OK);
        cr_assert_eq((int)l, i);
    }
    cr_assert_str_eq(cn_linear_loss_name(CN_LINEAR_SVM_SQUARED), "svm-squared");
    cn_linear_loss l;
    cn_error err;
    cr_assert_eq(cn_linear_loss_parse("SVM", &l, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "SVM"), "message names the input: %s", err.msg);
    cr_assert_eq(cn_linear_loss_parse("", &l, &err), CN_ERR_ARG);
    cr_assert_eq(cn_linear_loss_parse(NULL, &l, &err), CN_ERR_ARG);
    cr_assert_str_eq(cn_linear_loss_name(CN_LINEAR_LOSS_COUNT), "unknown");
}

/* ------------------------------------------------------------------ PyTorch parity */

Test(linear, pytorch_parity)
{
    json_error_t jerr;
    json_t *root = json_load_file(FIXTURE, 0, &jerr);
    cr_assert(root, "%s: line %d: %s (run the tests from the repository root)", FIXTURE,
              jerr.line, jerr.text);
    int n = (int)json_integer_value(json_object_get(root, "n"));
    int d = (int)json_integer_value(json_object_get(root, "d"));
    int c = (int)json_integer_value(json_object_get(root, "c"));
    double reg = json_number_value(json_object_get(root, "reg"));
    cr_assert(n > 0 && d > 0 && c > 0 && reg > 0);
    cn_real *X = json_reals(root, "X", (size_t)n * d);
    cn_real *W = json_reals(root, "W", (size_t)d * c);
    cn_real *b = json_reals(root, "b", (size_t)c);
    json_t *ya = json_object_get(root, "y");
    int *y = malloc((size_t)n * sizeof *y);
    for (int i = 0; i < n; i++) y[i] = (int)json_integer_value(json_array_get(ya, i));
    json_t *losses = json_object_get(root, "losses");
    cn_real *dW = malloc((size_t)d * c * sizeof *dW), *db = malloc((size_t)c * sizeof *db);
    cn_real *work = malloc((size_t)n * c * sizeof *work);

    for (int li = 0; li < CN_LINEAR_LOSS_COUNT; li++) {
        const char *name = cn_linear_loss_name((cn_linear_loss)li);
        json_t *ref = json_object_get(losses, name);
        cr_assert(ref, "fixture has no loss %s", name);
        double ref_loss = json_number_value(json_object_get(ref, "loss"));
        cn_real *ref_dW = json_reals(ref, "dW", (size_t)d * c);
        cn_real *ref_db = json_reals(ref, "db", (size_t)c);
        double loss = cn_linear_loss_grad((cn_linear_loss)li, W, b, d, c, X, y, n, reg, dW, db,
                                          work);
        double el = fabs(loss - ref_loss) / fabs(ref_loss);
        double ew = max_rel(dW, ref_dW, (size_t)d * c);
        double eb = max_rel(db, ref_db, (size_t)c);
        cr_log_info("%s (%s): loss %.17g vs %.17g, rel err loss %.3g dW %.3g db %.3g", name,
                    CN_REAL_NAME, loss, ref_loss, el, ew, eb);
        cr_expect_leq(el, PARITY_TOL, "%s: loss %.17g, PyTorch %.17g", name, loss, ref_loss);
        cr_expect_leq(ew, PARITY_TOL, "%s: dW rel err %g", name, ew);
        cr_expect_leq(eb, PARITY_TOL, "%s: db rel err %g", name, eb);
        /* without gradients the loss is the same */
        double l2 = cn_linear_loss_grad((cn_linear_loss)li, W, b, d, c, X, y, n, reg, NULL,
                                        NULL, work);
        cr_expect_eq(l2, loss, "%s: loss without gradients differs", name);
        free(ref_dW);
        free(ref_db);
    }
    free(X);
    free(W);
    free(b);
    free(y);
    free(dW);
    free(db);
    free(work);
    json_decref(root);
}

/* ------------------------------------------------------------------ closed forms */

Test(linear, zero_weights_closed_form)
{
    /* With W = 0, b = 0 every score is 0: softmax loss log(c), hinge c - 1,
     * squared hinge c - 1; the softmax db is mean(1/c - onehot). */
    enum { n = 6, d = 3, c = 4 };
    cn_real X[n * d], W[d * c] = {0}, b[c] = {0}, dW[d * c], db[c], work[n * c];
    int y[n] = {0, 1, 2, 3, 0, 1};
    for (int k = 0; k < n * d; k++) X[k] = (cn_real)(0.1 * (k % 7) - 0.3);
    double tol = sizeof(cn_real) == 8 ? 1e-12 : 1e-6;
    cr_expect_float_eq(cn_linear_loss_grad(CN_LINEAR_SOFTMAX, W, b, d, c, X, y, n, 0.5, dW, db,
                                           work),
                       log(4.0), tol);
    for (int j = 0; j < c; j++) {
        int count = 0;
        for (int i = 0; i < n; i++) count += y[i] == j;
        cr_expect_float_eq((double)db[j], 0.25 - (double)count / n, tol, "db[%d]", j);
    }
    cr_expect_float_eq(cn_linear_loss_grad(CN_LINEAR_SVM, W, b, d, c, X, y, n, 0.5, dW, db,
                                           work),
                       3.0, tol);
    cr_expect_float_eq(cn_linear_loss_grad(CN_LINEAR_SVM_SQUARED, W, b, d, c, X, y, n, 0.5,
                                           dW, db, work),
                       3.0, tol);
    /* regularisation alone: reg * sum W^2 and dW = 2 reg W for an empty batch */
    for (int k = 0; k < d * c; k++) W[k] = (cn_real)(k - 5);
    double wsq = 0;
    for (int k = 0; k < d * c; k++) wsq += (double)W[k] * W[k];
    cr_expect_float_eq(cn_linear_loss_grad(CN_LINEAR_SVM, W, b, d, c, X, y, 0, 0.25, dW, db,
                                           work),
                       0.25 * wsq, tol);
    for (int k = 0; k < d * c; k++) cr_expect_float_eq((double)dW[k], 0.5 * W[k], tol);
    for (int j = 0; j < c; j++) cr_expect_eq(db[j], 0);
}

Test(linear, svm_margin_exactly_zero_is_inactive)
{
    /* scores (1, 0): margin of class 1 is 0 - 1 + 1 = 0 -> no loss, no gradient */
    cn_real X[2] = {1, 0}, W[4] = {1, 0, 0, 0}, b[2] = {0, 0}, dW[4], db[2], work[2];
    int y[1] = {0};
    cr_expect_eq(cn_linear_loss_grad(CN_LINEAR_SVM, W, b, 2, 2, X, y, 1, 0, dW, db, work), 0.0);
    cr_expect_eq(db[0], 0);
    cr_expect_eq(db[1], 0);
}

/* ------------------------------------------------------------------ training */

Test(linear, train_converges_each_loss)
{
    blobs bl = make_blobs(300, 5, 3, 1.0, 11);
    for (int li = 0; li < CN_LINEAR_LOSS_COUNT; li++) {
        cn_linear *m = new_model((cn_linear_loss)li, bl.d, bl.c, 3);
        cn_linear_opts o = small_opts();
        double hist[8];
        cn_error err;
        cr_assert_eq(cn_linear_train(m, bl.X, bl.y, bl.n, &o, hist, NULL, &err), CN_OK, "%s",
                     err.msg);
        double acc = model_acc(m, &bl);
        cr_expect_geq(acc, 0.95, "%s: accuracy %g", cn_linear_loss_name((cn_linear_loss)li),
                      acc);
        cr_expect_lt(hist[7], hist[0], "%s: loss did not decrease (%g -> %g)",
                     cn_linear_loss_name((cn_linear_loss)li), hist[0], hist[7]);
        cn_linear_free(m);
    }
    free_blobs(&bl);
}

Test(linear, train_is_deterministic)
{
    blobs bl = make_blobs(200, 4, 3, 2.0, 12);
    cn_linear_opts o = small_opts();
    o.epochs = 3;
    o.batch = 17; /* a last, partial minibatch */
    cn_linear *a = new_model(CN_LINEAR_SVM, bl.d, bl.c, 4);
    cn_linear *b = new_model(CN_LINEAR_SVM, bl.d, bl.c, 4);
    cn_error err;
    cr_assert_eq(cn_linear_train(a, bl.X, bl.y, bl.n, &o, NULL, NULL, &err), CN_OK);
    cr_assert_eq(cn_linear_train(b, bl.X, bl.y, bl.n, &o, NULL, NULL, &err), CN_OK);
    cr_expect_eq(memcmp(a->W, b->W, (size_t)bl.d * bl.c * sizeof(cn_real)), 0);
    cr_expect_eq(memcmp(a->b, b->b, (size_t)bl.c * sizeof(cn_real)), 0);
    /* another seed shuffles differently */
    o.seed = 6;
    cn_linear *c = new_model(CN_LINEAR_SVM, bl.d, bl.c, 4);
    cr_assert_eq(cn_linear_train(c, bl.X, bl.y, bl.n, &o, NULL, NULL, &err), CN_OK);
    cr_expect_neq(memcmp(a->W, c->W, (size_t)bl.d * bl.c * sizeof(cn_real)), 0);
    cn_linear_free(a);
    cn_linear_free(b);
    cn_linear_free(c);
    free_blobs(&bl);
}

Test(linear, plain_sgd_one_step_matches_formula)
{
    /* one full-batch step of plain SGD without decay: W1 = W0 - lr dW(W0) */
    blobs bl = make_blobs(20, 3, 2, 1.0, 13);
    cn_linear *m = new_model(CN_LINEAR_SOFTMAX, bl.d, bl.c, 7);
    size_t dc = (size_t)bl.d * bl.c;
    cn_real W0[6], b0[2], dW[6], db[2], work[40];
    memcpy(W0, m->W, sizeof W0);
    memcpy(b0, m->b, sizeof b0);
    cn_linear_opts o = small_opts();
    o.epochs = 1;
    o.batch = bl.n;
    o.momentum = 0;
    o.average = 0;
    o.reg = 0.1;
    cn_error err;
    cr_assert_eq(cn_linear_train(m, bl.X, bl.y, bl.n, &o, NULL, NULL, &err), CN_OK);
    /* the order of a full batch does not change the gradient beyond rounding */
    cn_linear_loss_grad(CN_LINEAR_SOFTMAX, W0, b0, bl.d, bl.c, bl.X, bl.y, bl.n, 0.1, dW, db,
                        work);
    double tol = sizeof(cn_real) == 8 ? 1e-12 : 1e-6;
    for (size_t k = 0; k < dc; k++)
        cr_expect_float_eq((double)m->W[k], (double)W0[k] - o.lr * (double)dW[k], tol);
    for (int j = 0; j < bl.c; j++)
        cr_expect_float_eq((double)m->b[j], (double)b0[j] - o.lr * (double)db[j], tol);
    cn_linear_free(m);
    free_blobs(&bl);
}

Test(linear, averaging_and_momentum_train_well)
{
    blobs bl = make_blobs(300, 6, 4, 1.5, 14);
    for (int avg = 0; avg <= 1; avg++) {
        cn_linear *m = new_model(CN_LINEAR_SVM_SQUARED, bl.d, bl.c, 8);
        cn_linear_opts o = small_opts();
        o.average = avg;
        o.momentum = 0.9;
        o.lr = 1e-3;
        o.lr_decay = 0.8;
        cn_error err;
        cr_assert_eq(cn_linear_train(m, bl.X, bl.y, bl.n, &o, NULL, NULL, &err), CN_OK);
        cr_expect_geq(model_acc(m, &bl), 0.9, "average=%d", avg);
        cn_linear_free(m);
    }
    free_blobs(&bl);
}

Test(linear, divergence_is_detected_and_weights_restored)
{
    blobs bl = make_blobs(100, 4, 3, 1.0, 15);
    for (int li = 0; li < CN_LINEAR_LOSS_COUNT; li++) {
        cn_linear *m = new_model((cn_linear_loss)li, bl.d, bl.c, 9);
        cn_real W0[12], b0[3];
        memcpy(W0, m->W, sizeof W0);
        memcpy(b0, m->b, sizeof b0);
        cn_linear_opts o = small_opts();
        o.lr = 1e30;
        cn_error err;
        cr_assert_eq(cn_linear_train(m, bl.X, bl.y, bl.n, &o, NULL, NULL, &err),
                     CN_ERR_NUMERIC, "%s", cn_linear_loss_name((cn_linear_loss)li));
        cr_expect(strstr(err.msg, "epoch") && strstr(err.msg, "learning rate"), "%s", err.msg);
        cr_expect_eq(memcmp(W0, m->W, sizeof W0), 0, "W restored");
        cr_expect_eq(memcmp(b0, m->b, sizeof b0), 0, "b restored");
        cn_linear_free(m);
    }
    /* a poisoned input sample is caught too */
    bl.X[7] = (cn_real)NAN;
    cn_linear *m = new_model(CN_LINEAR_SOFTMAX, bl.d, bl.c, 9);
    cn_linear_opts o = small_opts();
    cn_error err;
    cr_expect_eq(cn_linear_train(m, bl.X, bl.y, bl.n, &o, NULL, NULL, &err), CN_ERR_NUMERIC);
    cn_linear_free(m);
    free_blobs(&bl);
}

static int cancel_after_two(void *ctx, const char *stage, size_t done, size_t total)
{
    int *calls = ctx;
    cr_expect_str_eq(stage, "epoch");
    cr_expect_eq(total, 8);
    cr_expect_eq(done, (size_t)*calls + 1);
    (*calls)++;
    return done >= 2;
}

Test(linear, progress_and_cancel)
{
    blobs bl = make_blobs(60, 3, 2, 1.0, 16);
    cn_linear *m = new_model(CN_LINEAR_SVM, bl.d, bl.c, 10);
    cn_real W0[6];
    memcpy(W0, m->W, sizeof W0);
    int calls = 0;
    cn_progress prog = {cancel_after_two, &calls};
    cn_linear_opts o = small_opts();
    cn_error err;
    cr_assert_eq(cn_linear_train(m, bl.X, bl.y, bl.n, &o, NULL, &prog, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "cancelled"), "%s", err.msg);
    cr_expect_eq(calls, 2);
    cr_expect_eq(memcmp(W0, m->W, sizeof W0), 0);
    cn_linear_free(m);
    free_blobs(&bl);
}

Test(linear, bad_options_and_labels)
{
    blobs bl = make_blobs(30, 3, 2, 1.0, 17);
    cn_linear *m = new_model(CN_LINEAR_SOFTMAX, bl.d, bl.c, 11);
    cn_error err;
    struct {
        const char *what;
        cn_linear_opts o;
    } cases[9];
    for (int k = 0; k < 9; k++) cases[k].o = small_opts();
    cases[0].what = "lr 0", cases[0].o.lr = 0;
    cases[1].what = "lr nan", cases[1].o.lr = NAN;
    cases[2].what = "reg < 0", cases[2].o.reg = -1;
    cases[3].what = "epochs 0", cases[3].o.epochs = 0;
    cases[4].what = "batch 0", cases[4].o.batch = 0;
    cases[5].what = "momentum 1", cases[5].o.momentum = 1;
    cases[6].what = "decay 0", cases[6].o.lr_decay = 0;
    cases[7].what = "momentum -0.1", cases[7].o.momentum = -0.1;
    cases[8].what = "init_std inf", cases[8].o.init_std = INFINITY;
    for (int k = 0; k < 9; k++)
        cr_expect_eq(cn_linear_train(m, bl.X, bl.y, bl.n, &cases[k].o, NULL, NULL, &err),
                     CN_ERR_ARG, "%s", cases[k].what);
    cn_linear_opts o = small_opts();
    cr_expect_eq(cn_linear_train(m, bl.X, bl.y, 0, &o, NULL, NULL, &err), CN_ERR_ARG);
    bl.y[4] = 2;
    cr_expect_eq(cn_linear_train(m, bl.X, bl.y, bl.n, &o, NULL, NULL, &err), CN_ERR_RANGE);
    cr_expect(strstr(err.msg, "example 4"), "%s", err.msg);
    bl.y[4] = -1;
    cr_expect_eq(cn_linear_train(m, bl.X, bl.y, bl.n, &o, NULL, NULL, &err), CN_ERR_RANGE);
    /* a batch larger than the data is one full batch */
    bl.y[4] = 0;
    o.batch = 1000;
    cr_expect_eq(cn_linear_train(m, bl.X, bl.y, bl.n, &o, NULL, NULL, &err), CN_OK);
    cn_linear_free(m);
    free_blobs(&bl);
}

Test(linear, new_rejects_bad_arguments)
{
    cn_rng r;
    cn_rng_seed(&r, 1, 0);
    cn_error err;
    cr_expect_null(cn_linear_new(CN_LINEAR_SVM, 0, 3, 0.1, &r, &err));
    cr_expect_eq(err.code, CN_ERR_ARG);
    cr_expect_null(cn_linear_new(CN_LINEAR_SVM, 3, -1, 0.1, &r, &err));
    cr_expect_null(cn_linear_new(CN_LINEAR_SVM, 3, 2, -1, &r, &err));
    cr_expect_null(cn_linear_new(CN_LINEAR_SVM, 3, 2, 0.1, NULL, &err));
    cr_expect_null(cn_linear_new(CN_LINEAR_LOSS_COUNT, 3, 2, 0.1, &r, &err));
    /* init_std 0 needs no rng and gives zeros */
    cn_linear *m = cn_linear_new(CN_LINEAR_SVM, 3, 2, 0, NULL, &err);
    cr_assert(m);
    for (int k = 0; k < 6; k++) cr_expect_eq(m->W[k], 0);
    cn_linear_free(m);
    cn_linear_free(NULL);
}

Test(linear, defaults_are_valid)
{
    for (int li = 0; li < CN_LINEAR_LOSS_COUNT; li++) {
        cn_linear_opts o;
        cn_linear_opts_default(&o, (cn_linear_loss)li);
        cr_expect(o.lr > 0 && o.reg >= 0 && o.epochs >= 1 && o.batch >= 1);
        cr_expect(o.momentum >= 0 && o.momentum < 1 && o.lr_decay > 0 && o.init_std > 0);
    }
}

/* ------------------------------------------------------------------ predict */

Test(linear, predict_in_chunks_matches_naive)
{
    /* more rows than one chunk (4096) so the chunk boundary is crossed */
    enum { n = 9000, d = 3, c = 5 };
    cn_linear *m = new_model(CN_LINEAR_SOFTMAX, d, c, 12);
    for (int j = 0; j < c; j++) m->b[j] = (cn_real)(0.01 * j);
    cn_rng r;
    cn_rng_seed(&r, 2, 0);
    cn_real *X = malloc((size_t)n * d * sizeof *X);
    int *pred = malloc(n * sizeof *pred);
    for (int k = 0; k < n * d; k++) X[k] = (cn_real)cn_rng_normal(&r);
    cn_error err;
    cr_assert_eq(cn_linear_predict(m, X, n, pred, &err), CN_OK);
    int mismatches = 0;
    for (int i = 0; i < n; i++) {
        double best = -INFINITY;
        int arg = 0;
        for (int j = 0; j < c; j++) {
            double s = m->b[j];
            for (int k = 0; k < d; k++) s += (double)X[i * d + k] * m->W[k * c + j];
            if (s > best) best = s, arg = j;
        }
        mismatches += pred[i] != arg;
    }
    /* float rounding may flip a near-tie; allow a handful */
    cr_expect_leq(mismatches, 3, "%d mismatches", mismatches);
    cr_expect_eq(cn_linear_predict(m, X, 0, pred, &err), CN_OK);
    cr_expect_eq(cn_linear_predict(m, X, -1, pred, &err), CN_ERR_ARG);
    free(X);
    free(pred);
    cn_linear_free(m);
}

/* ------------------------------------------------------------------ search */

Test(linear, search_finds_best_and_is_reproducible)
{
    blobs tr = make_blobs(240, 5, 3, 2.5, 18), va = make_blobs(90, 5, 3, 2.5, 18);
    cn_linear_opts base = small_opts();
    base.epochs = 3;
    cn_search_opts s = {1e-5, 1e-1, 1e-6, 1e-1, 6, 99};
    cn_search_trial t1[6], t2[6];
    int best1, best2, edges1, edges2;
    cn_error err;
    cr_assert_eq(cn_linear_search(CN_LINEAR_SOFTMAX, &base, &s, tr.X, tr.y, tr.n, va.X, va.y,
                                  va.n, 5, 3, t1, &best1, &edges1, NULL, &err),
                 CN_OK, "%s", err.msg);
    cr_assert_eq(cn_linear_search(CN_LINEAR_SOFTMAX, &base, &s, tr.X, tr.y, tr.n, va.X, va.y,
                                  va.n, 5, 3, t2, &best2, &edges2, NULL, &err),
                 CN_OK);
    cr_expect_eq(best1, best2);
    cr_expect_eq(edges1, edges2);
    for (int k = 0; k < 6; k++) {
        cr_expect(t1[k].lr >= s.lr_lo && t1[k].lr <= s.lr_hi, "lr %g", t1[k].lr);
        cr_expect(t1[k].reg >= s.reg_lo && t1[k].reg <= s.reg_hi, "reg %g", t1[k].reg);
        cr_expect_eq(t1[k].lr, t2[k].lr);
        cr_expect_eq(t1[k].val_acc, t2[k].val_acc);
        cr_expect_leq(t1[k].val_acc, t1[best1].val_acc);
        cr_expect(t1[k].train_acc >= 0 && t1[k].train_acc <= 1);
    }
    /* the edge flags agree with where the best trial lies */
    double pos = (log10(t1[best1].lr) + 5) / 4;
    cr_expect_eq((edges1 & CN_EDGE_LR_LOW) != 0, pos < 0.1);
    cr_expect_eq((edges1 & CN_EDGE_LR_HIGH) != 0, pos > 0.9);
    free_blobs(&tr);
    free_blobs(&va);
}

Test(linear, search_records_divergence_and_checks_ranges)
{
    blobs tr = make_blobs(60, 3, 2, 1.0, 19), va = make_blobs(30, 3, 2, 1.0, 20);
    cn_linear_opts base = small_opts();
    base.epochs = 2;
    /* learning rates from 1e60 to 1e100 diverge in float and in double */
    cn_search_opts s = {1e60, 1e100, 1e-3, 1e-2, 3, 1};
    cn_search_trial t[3];
    int best, edges;
    cn_error err;
    cr_assert_eq(cn_linear_search(CN_LINEAR_SVM, &base, &s, tr.X, tr.y, tr.n, va.X, va.y, va.n,
                                  3, 2, t, &best, &edges, NULL, &err),
                 CN_OK, "%s", err.msg);
    for (int k = 0; k < 3; k++) {
        cr_expect(isnan(t[k].final_loss));
        cr_expect_eq(t[k].val_acc, 0);
    }
    cn_search_opts bad[4] = {{1e-2, 1e-3, 1e-3, 1e-2, 3, 1},
                             {0, 1e-3, 1e-3, 1e-2, 3, 1},
                             {1e-3, 1e-2, 1e-3, NAN, 3, 1},
                             {1e-3, 1e-2, 1e-3, 1e-2, 0, 1}};
    for (int k = 0; k < 4; k++)
        cr_expect_eq(cn_linear_search(CN_LINEAR_SVM, &base, &bad[k], tr.X, tr.y, tr.n, va.X,
                                      va.y, va.n, 3, 2, t, &best, &edges, NULL, &err),
                     CN_ERR_ARG, "case %d", k);
    va.y[3] = 5;
    cr_expect_eq(cn_linear_search(CN_LINEAR_SVM, &base, &s, tr.X, tr.y, tr.n, va.X, va.y, va.n,
                                  3, 2, t, &best, &edges, NULL, &err),
                 CN_ERR_RANGE);
    free_blobs(&tr);
    free_blobs(&va);
}
