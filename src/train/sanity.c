/* sanity.c: the course's four sanity checks before a long training run
 * (convnet/sanity.h): the initial loss at chance level with small weights, the
 * regularisation term raising the loss, overfitting 20 examples, and the
 * whole-model gradient check. Each check builds its own model from the spec, so
 * none of them sees another's updates. docs/sanity.md explains what a failure
 * means. */
#include "convnet/sanity.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "convnet/model.h"
#include "convnet/optim.h"

#define SAN_INIT_STD 1e-3      /* check 1: the small weights */
#define SAN_INIT_EXAMPLES 100  /* checks 1 and 2: examples of the forward */
#define SAN_INIT_TOL 0.05      /* check 1: relative distance to chance */
#define SAN_REG 1e3            /* check 2: the large regularisation strength */
#define SAN_OVERFIT_N 20       /* check 3: examples, one batch */
#define SAN_OVERFIT_EPOCHS 200
#define SAN_OVERFIT_LR 1e-3
#define SAN_OVERFIT_PASS 0.99
#define SAN_GC_N 4             /* check 4: examples */
#define SAN_GC_PER_PARAM 10
#ifdef CN_DOUBLE
#define SAN_GC_H 1e-5
#define SAN_GC_BOUND 1e-5
#else
#define SAN_GC_H 1e-2
#define SAN_GC_BOUND 0.25
#endif

static const char *const san_names[CN_SANITY_CHECKS] = {"initial loss", "regularisation",
                                                        "overfit", "gradient check"};

static const char *const san_advice[CN_SANITY_CHECKS] = {
    "check the loss, the initial weight scale and the labels",
    "the weight-decay term is not in the loss",
    "the model or the optimiser is broken, or the learning rate is badly off",
    "a backward pass is wrong (or kinks: ReLU/max at 0)"};

/* make_model: s built, compiled for batch (training as asked) and initialised
 * from (seed, stream). NULL with err set on failure. */
static cn_model *make_model(const cn_builtin_spec *s, int batch, int training, uint64_t seed,
                            uint64_t stream, cn_error *err)
{
    cn_model *m = cn_builtin_build(s, err);
    if (!m) return NULL;
    cn_compile_opts o = {.batch = batch, .training = training, .input_grad = 0};
    cn_rng r;
    cn_rng_seed(&r, seed, stream);
    if (cn_model_compile(m, &o, err) != CN_OK || cn_model_init(m, &r, err) != CN_OK) {
        cn_model_free(m);
        return NULL;
    }
    return m;
}

/* accuracy: the fraction of x's n samples whose argmax of the prediction node
 * (classes wide) equals labels, forward in evaluation mode. */
static cn_status accuracy(cn_model *m, int n, const cn_real *x, const int *labels, int classes,
                          double *acc, cn_error *err)
{
    cn_status st = cn_model_forward(m, n, x, NULL, CN_EVAL, NULL, NULL, err);
    if (st != CN_OK) return st;
    const cn_real *y = cn_model_node_value(m, cn_model_output(m)); // (n, classes)
    int right = 0;
    for (int i = 0; i < n; i++) {
        const cn_real *yi = y + (size_t)i * (size_t)classes;
        int best = 0;
        for (int k = 1; k < classes; k++)
            if (yi[k] > yi[best]) best = k;
        right += best == labels[i];
    }
    *acc = (double)right / (double)n;
    return CN_OK;
}

static void finish(cn_sanity_result *r, int k, int passed)
{
    r->passed = passed;
    if (!passed) snprintf(r->advice, sizeof r->advice, "%s", san_advice[k]);
}

/* Check 1: with N(0, 1e-3^2) weights every score is ~0, so softmax gives every
 * class 1/C (loss ln C) and every SVM margin is 1 (loss C - 1). */
static cn_status check_initial_loss(const cn_builtin_spec *spec, const cn_dataset *train,
                                    uint64_t seed, cn_sanity_result *r, cn_error *err)
{
    cn_builtin_spec s = *spec;
    s.init_std = SAN_INIT_STD;
    int n = train->n < SAN_INIT_EXAMPLES ? train->n : SAN_INIT_EXAMPLES;
    cn_model *m = make_model(&s, n, 0, seed, 101, err);
    if (!m) return err->code;
    cn_target t = {.labels = train->labels, .values = NULL};
    double loss = NAN;
    cn_status st = cn_model_forward(m, n, train->images->data, &t, CN_EVAL, NULL, &loss, err);
    cn_model_free(m);
    if (st != CN_OK) return st;
    int svm = spec->loss == CN_BUILTIN_SVM;
    r->value = loss;
    r->expected = svm ? (double)(spec->classes - 1) : log((double)spec->classes);
    if (svm)
        snprintf(r->detail, sizeof r->detail,
                 "loss %.4f on %d examples with weights N(0, 1e-3^2); chance C - 1 = %d "
                 "(pass within 5%%)",
                 loss, n, spec->classes - 1);
    else
        snprintf(r->detail, sizeof r->detail,
                 "loss %.4f on %d examples with weights N(0, 1e-3^2); chance ln %d = %.4f "
                 "(pass within 5%%)",
                 loss, n, spec->classes, r->expected);
    finish(r, 0, isfinite(loss) && fabs(loss - r->expected) <= SAN_INIT_TOL * r->expected);
    return CN_OK;
}

/* Check 2: data loss + 0.5 * reg * sum of squared weights (biases and
 * normalisation parameters excluded) with reg 0 and reg 1e3. */
static cn_status check_regularisation(const cn_builtin_spec *spec, const cn_dataset *train,
                                      uint64_t seed, cn_sanity_result *r, cn_error *err)
{
    int n = train->n < SAN_INIT_EXAMPLES ? train->n : SAN_INIT_EXAMPLES;
    cn_model *m = make_model(spec, n, 0, seed, 102, err);
    if (!m) return err->code;
    cn_target t = {.labels = train->labels, .values = NULL};
    double data_loss = NAN;
    cn_status st = cn_model_forward(m, n, train->images->data, &t, CN_EVAL, NULL, &data_loss, err);
    if (st != CN_OK) {
        cn_model_free(m);
        return st;
    }
    const cn_params *ps = cn_model_params(m);
    double sq = 0;
    size_t weights = 0;
    for (int i = 0; i < ps->n; i++) {
        const cn_param *p = &ps->p[i];
        if (p->role != CN_PARAM_WEIGHT) continue;
        for (size_t k = 0; k < p->numel; k++) sq += (double)p->value[k] * (double)p->value[k];
        weights += p->numel;
    }
    cn_model_free(m);
    double l0 = data_loss, l1 = data_loss + 0.5 * SAN_REG * sq;
    r->value = l1 - l0;
    r->expected = 0.0;
    snprintf(r->detail, sizeof r->detail,
             "loss %.4f with reg 0, %.4f with reg 1e3 (L2 over %zu weights): increase %.4g "
             "(pass above 0)",
             l0, l1, weights, r->value);
    finish(r, 1, isfinite(r->value) && r->value > 0);
    return CN_OK;
}

/* Check 3: one batch of the first 20 examples, Adam lr 1e-3, no regularisation,
 * until the training accuracy (evaluation mode) is 1.0 or 200 epochs. */
static cn_status check_overfit(const cn_builtin_spec *spec, const cn_dataset *train,
                               uint64_t seed, cn_sanity_result *r, cn_error *err)
{
    const int n = SAN_OVERFIT_N;
    const cn_real *x = train->images->data; // (n, c, h, w): the first n examples
    cn_model *m = make_model(spec, n, 1, seed, 103, err);
    if (!m) return err->code;
    cn_optim_config oc = cn_optim_config_default(CN_OPTIM_ADAM);
    oc.lr = SAN_OVERFIT_LR;
    oc.weight_decay = 0;
    cn_optimizer *opt = cn_optim_new(&oc, cn_model_params(m), err);
    if (!opt) {
        cn_model_free(m);
        return err->code;
    }
    cn_rng drop;
    cn_rng_seed(&drop, seed, 203);
    cn_target t = {.labels = train->labels, .values = NULL};
    double acc = 0;
    int epoch = 0, diverged = 0;
    cn_status st = accuracy(m, n, x, train->labels, spec->classes, &acc, err);
    while (st == CN_OK && acc < 1.0 && epoch < SAN_OVERFIT_EPOCHS) {
        epoch++;
        double loss = NAN;
        cn_zero_grad(m);
        st = cn_model_forward(m, n, x, &t, CN_TRAIN, &drop, &loss, err);
        if (st != CN_OK) break;
        if (!isfinite(loss)) {
            diverged = 1;
            break;
        }
        if ((st = cn_model_backward(m, err)) != CN_OK) break;
        cn_error se;
        cn_status ss = cn_optim_step(opt, SAN_OVERFIT_LR, NULL, &se);
        if (ss == CN_ERR_NUMERIC) {
            diverged = 1;
            break;
        }
        if (ss != CN_OK) {
            *err = se;
            st = ss;
            break;
        }
        st = accuracy(m, n, x, train->labels, spec->classes, &acc, err);
    }
    cn_optim_free(opt);
    cn_model_free(m);
    if (st != CN_OK) return st;
    r->value = acc;
    r->expected = 1.0;
    if (diverged)
        snprintf(r->detail, sizeof r->detail,
                 "the loss or a gradient became non-finite at epoch %d of Adam (lr 1e-3) on %d "
                 "examples (training accuracy %.3f)",
                 epoch, n, acc);
    else if (acc >= 1.0)
        snprintf(r->detail, sizeof r->detail,
                 "training accuracy 1.000 on %d examples reached at epoch %d of Adam (lr 1e-3, "
                 "batch %d, no regularisation)",
                 n, epoch, n);
    else
        snprintf(r->detail, sizeof r->detail,
                 "training accuracy %.3f on %d examples after %d epochs of Adam (lr 1e-3, batch "
                 "%d, no regularisation); pass at 0.99",
                 acc, n, epoch, n);
    finish(r, 2, !diverged && acc >= SAN_OVERFIT_PASS);
    return CN_OK;
}

/* gradcheck_once: cn_model_gradcheck of m on the n examples x (labels) in
 * training mode with fresh masks from drop; *noise receives the rounding noise
 * of a centred difference at the check's loss, 4 eps max(1, |L|) / h. */
static cn_status gradcheck_once(cn_model *m, const cn_real *x, const int *labels, cn_rng *drop,
                                uint64_t seed, cn_model_gradcheck_report *rep, double *noise,
                                cn_error *err)
{
    cn_target t = {.labels = labels, .values = NULL};
    cn_model_gradcheck_opts o = {
        .per_param = SAN_GC_PER_PARAM, .input = 0, .h = SAN_GC_H, .seed = seed};
    cn_status st = cn_model_gradcheck(m, SAN_GC_N, x, &t, CN_TRAIN, drop, &o, rep, err);
    if (st != CN_OK) return st;
    double loss = NAN; /* the check's own loss: its masks replayed, values restored */
    st = cn_model_forward(m, SAN_GC_N, x, &t, CN_TRAIN, NULL, &loss, err);
#ifdef CN_DOUBLE
    const double eps = 2.220446049250313e-16;
#else
    const double eps = 1.1920928955078125e-07;
#endif
    *noise = 4.0 * eps * fmax(1.0, fabs(loss)) / SAN_GC_H;
    return st;
}

/* Check 4: cn_model_gradcheck on 4 examples in training mode (the dropout masks
 * of its first forward held fixed). A worst coordinate whose analytic and
 * numeric values differ by no more than rounding noise says nothing (a gradient
 * that is exactly 0 by symmetry, e.g. the SVM's bias gradient on one example
 * of each class, or a bias before batch norm): the check is then repeated on
 * other examples, up to SAN_GC_TRIES times in all. */
#define SAN_GC_TRIES 4
static cn_status check_gradients(const cn_builtin_spec *spec, const cn_dataset *train,
                                 uint64_t seed, cn_sanity_result *r, cn_error *err)
{
    const size_t sample = (size_t)train->c * (size_t)train->h * (size_t)train->w;
    const int pool = train->n < SAN_INIT_EXAMPLES ? train->n : SAN_INIT_EXAMPLES;
    cn_real *xs = cn_malloc(sizeof(cn_real) * SAN_GC_N * sample); // (4, c, h, w) drawn examples
    cn_model *m = xs ? make_model(spec, SAN_GC_N, 1, seed, 104, err) : NULL;
    if (!m) {
        cn_free(xs);
        return xs ? err->code : cn_error_set(err, CN_ERR_NOMEM, "sanity: out of memory");
    }
    cn_rng drop, pick;
    cn_rng_seed(&drop, seed, 204);
    cn_rng_seed(&pick, seed, 304);
    cn_model_gradcheck_report rep;
    double noise = 0;
    int tries = 0, clear = 0;
    cn_status st = CN_OK;
    while (tries < SAN_GC_TRIES) {
        const cn_real *x = train->images->data; // attempt 1: the first 4 examples
        const int *labels = train->labels;
        int lab[SAN_GC_N], idx[SAN_GC_N];
        if (tries > 0) { /* 4 distinct examples drawn from the first 100 */
            for (int i = 0; i < SAN_GC_N; i++) {
                int k, dup;
                do {
                    k = (int)cn_rng_below(&pick, (uint32_t)pool);
                    dup = 0;
                    for (int j = 0; j < i; j++) dup |= idx[j] == k;
                } while (dup);
                idx[i] = k;
                memcpy(xs + (size_t)i * sample, train->images->data + (size_t)k * sample,
                       sizeof(cn_real) * sample);
                lab[i] = train->labels[k];
            }
            x = xs;
            labels = lab;
        }
        tries++;
        st = gradcheck_once(m, x, labels, &drop, seed + (uint64_t)tries, &rep, &noise, err);
        if (st != CN_OK) break;
        if (rep.max_rel_err <= SAN_GC_BOUND) {
            clear = 1;
            break;
        }
        if (!(fabs(rep.worst_analytic - rep.worst_numeric) <= noise)) break; /* a real miss */
    }
    cn_model_free(m);
    cn_free(xs);
    if (st != CN_OK) return st;
    int at_noise = !clear && fabs(rep.worst_analytic - rep.worst_numeric) <= noise;
    r->value = rep.max_rel_err;
    r->expected = SAN_GC_BOUND;
    int k = snprintf(r->detail, sizeof r->detail,
                     "max relative error %.3g at %.80s (analytic %.4g, numeric %.4g) over %zu "
                     "coordinates, h %g; bound %g (%s)",
                     rep.max_rel_err, rep.worst, rep.worst_analytic, rep.worst_numeric,
                     rep.checked, SAN_GC_H, SAN_GC_BOUND, CN_REAL_NAME);
    if (k > 0 && (size_t)k < sizeof r->detail && (tries > 1 || at_noise))
        snprintf(r->detail + k, sizeof r->detail - (size_t)k, "; %d draws of 4 examples%s", tries,
                 at_noise ? ", every worst difference within rounding noise" : "");
    finish(r, 3, clear || at_noise);
    return CN_OK;
}

cn_status cn_sanity_run(const cn_builtin_spec *spec, const cn_dataset *train, uint64_t seed,
                        cn_sanity_result res[CN_SANITY_CHECKS], cn_error *err)
{
    cn_error local;
    if (!err) err = &local; /* the checks read err->code */
    if (!spec || !train || !res) return cn_error_set(err, CN_ERR_ARG, "sanity: NULL argument");
    for (int k = 0; k < CN_SANITY_CHECKS; k++) {
        memset(&res[k], 0, sizeof res[k]);
        res[k].name = san_names[k];
        res[k].value = res[k].expected = NAN;
    }
    cn_status st = cn_builtin_check(spec, err);
    if (st != CN_OK) return cn_error_prefix(err, "sanity: ");
    if (!train->images || !train->labels)
        return cn_error_set(err, CN_ERR_ARG, "sanity: the dataset has no images or labels");
    if (train->n < SAN_OVERFIT_N)
        return cn_error_set(err, CN_ERR_ARG, "sanity: %d examples: at least %d are needed",
                            train->n, SAN_OVERFIT_N);
    if (train->c != spec->c || train->h != spec->h || train->w != spec->w)
        return cn_error_set(err, CN_ERR_ARG,
                            "sanity: images are %dx%dx%d but the model '%s' takes %dx%dx%d",
                            train->c, train->h, train->w, spec->name, spec->c, spec->h,
                            spec->w);
    int checked = train->n < SAN_INIT_EXAMPLES ? train->n : SAN_INIT_EXAMPLES;
    for (int i = 0; i < checked; i++)
        if (train->labels[i] < 0 || train->labels[i] >= spec->classes)
            return cn_error_set(err, CN_ERR_ARG,
                                "sanity: record %d: label %d outside 0..%d (the model has %d "
                                "classes)",
                                i, train->labels[i], spec->classes - 1, spec->classes);
    if ((st = check_initial_loss(spec, train, seed, &res[0], err)) != CN_OK) return st;
    if ((st = check_regularisation(spec, train, seed, &res[1], err)) != CN_OK) return st;
    if ((st = check_overfit(spec, train, seed, &res[2], err)) != CN_OK) return st;
    return check_gradients(spec, train, seed, &res[3], err);
}
