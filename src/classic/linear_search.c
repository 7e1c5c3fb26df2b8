/* linear_search.c: random search of the learning rate and the regularisation
 * strength of a linear classifier (both log-uniform, as the course recommends over
 * a grid), each trial trained from scratch and scored on a validation split. */
#include "convnet/classic.h"

#include <math.h>
#include <string.h>

/* Stream of the trial-sampling RNG seeded from cn_search_opts.seed. */
#define SEARCH_STREAM 7u
/* Stream of the initialisation RNG seeded from cn_linear_opts.seed (the same one
 * callers use for cn_linear_new, docs/linear.md). */
#define LINEAR_STREAM_INIT 0u

/* log_uniform: 10^u with u uniform in [log10 lo, log10 hi). */
static double log_uniform(cn_rng *r, double lo, double hi)
{
    double a = log10(lo), b = log10(hi);
    return pow(10.0, a + (b - a) * cn_rng_uniform(r));
}

/* edge_flags: where v lies in the log range [lo, hi]: low or high flag if in the
 * outer 10%, else 0. */
static int edge_flags(double v, double lo, double hi, int low_flag, int high_flag)
{
    double t = (log10(v) - log10(lo)) / (log10(hi) - log10(lo));
    if (t < 0.1) return low_flag;
    if (t > 0.9) return high_flag;
    return 0;
}

static cn_status check_search(const cn_search_opts *s, cn_error *err)
{
    if (!(isfinite(s->lr_lo) && isfinite(s->lr_hi) && s->lr_lo > 0 && s->lr_lo < s->lr_hi))
        return cn_error_set(err, CN_ERR_ARG,
                            "linear search: learning-rate range [%g, %g] needs 0 < lo < hi",
                            s->lr_lo, s->lr_hi);
    if (!(isfinite(s->reg_lo) && isfinite(s->reg_hi) && s->reg_lo > 0 && s->reg_lo < s->reg_hi))
        return cn_error_set(err, CN_ERR_ARG,
                            "linear search: reg range [%g, %g] needs 0 < lo < hi", s->reg_lo,
                            s->reg_hi);
    if (s->trials < 1)
        return cn_error_set(err, CN_ERR_ARG, "linear search: trials %d must be >= 1",
                            s->trials);
    return CN_OK;
}

/* run_trial: train one model from base's seed with lr, reg and score it. A
 * diverging run (CN_ERR_NUMERIC) is recorded with accuracy 0 and loss NaN. */
static cn_status run_trial(cn_linear_loss loss, const cn_linear_opts *base, double lr,
                           double reg, const cn_real *X, const int *y, int n,
                           const cn_real *Xval, const int *yval, int nval, int d, int c,
                           int *pred, double *hist, cn_search_trial *t, cn_error *err)
{
    cn_linear_opts o = *base;
    o.lr = lr;
    o.reg = reg;
    t->lr = lr;
    t->reg = reg;
    t->train_acc = 0;
    t->val_acc = 0;
    t->final_loss = NAN;

    cn_rng init;
    cn_rng_seed(&init, base->seed, LINEAR_STREAM_INIT);
    cn_linear *m = cn_linear_new(loss, d, c, base->init_std, &init, err);
    if (!m) return err ? err->code : CN_ERR_NOMEM;
    cn_error terr;
    cn_error_clear(&terr);
    cn_status st = cn_linear_train(m, X, y, n, &o, hist, NULL, &terr);
    if (st == CN_ERR_NUMERIC) {
        cn_linear_free(m);
        return CN_OK;
    }
    if (st != CN_OK) {
        cn_linear_free(m);
        return cn_error_set(err, st, "linear search: lr %g, reg %g: %s", lr, reg, terr.msg);
    }
    t->final_loss = hist[o.epochs - 1];
    st = cn_linear_predict(m, X, n, pred, err);
    if (st == CN_OK) {
        t->train_acc = cn_accuracy(pred, y, n);
        st = cn_linear_predict(m, Xval, nval, pred, err);
    }
    if (st == CN_OK) t->val_acc = cn_accuracy(pred, yval, nval);
    cn_linear_free(m);
    return st;
}

cn_status cn_linear_search(cn_linear_loss loss, const cn_linear_opts *base,
                           const cn_search_opts *s, const cn_real *X, const int *y, int n,
                           const cn_real *Xval, const int *yval, int nval, int d, int c,
                           cn_search_trial *trials, int *best, int *edges,
                           const cn_progress *prog, cn_error *err)
{
    if (!base || !s || !X || !y || !Xval || !yval || !trials || !best || !edges)
        return cn_error_set(err, CN_ERR_ARG, "linear search: NULL argument");
    if (n < 1 || nval < 1)
        return cn_error_set(err, CN_ERR_ARG, "linear search: needs training (%d) and "
                            "validation (%d) examples", n, nval);
    if (d < 1 || c < 1)
        return cn_error_set(err, CN_ERR_ARG, "linear search: sizes d=%d, c=%d must be positive",
                            d, c);
    if ((int)loss < 0 || loss >= CN_LINEAR_LOSS_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "linear search: unknown loss %d", (int)loss);
    cn_status st = check_search(s, err);
    if (st != CN_OK) return st;
    for (int i = 0; i < nval; i++)
        if (yval[i] < 0 || yval[i] >= c)
            return cn_error_set(err, CN_ERR_RANGE,
                                "linear search: validation label %d of example %d out of "
                                "range [0, %d)", yval[i], i, c);
    if (base->epochs < 1)
        return cn_error_set(err, CN_ERR_ARG, "linear search: epochs %d must be >= 1",
                            base->epochs);

    int *pred = cn_malloc((size_t)(n > nval ? n : nval) * sizeof *pred);
    double *hist = cn_malloc((size_t)base->epochs * sizeof *hist);
    if (!pred || !hist) {
        cn_free(pred);
        cn_free(hist);
        return cn_error_set(err, CN_ERR_NOMEM, "linear search: out of memory");
    }
    cn_rng r;
    cn_rng_seed(&r, s->seed, SEARCH_STREAM);
    int bi = 0;
    for (int k = 0; k < s->trials; k++) {
        /* draw both values first so the sequence does not depend on outcomes */
        double lr = log_uniform(&r, s->lr_lo, s->lr_hi);
        double reg = log_uniform(&r, s->reg_lo, s->reg_hi);
        st = run_trial(loss, base, lr, reg, X, y, n, Xval, yval, nval, d, c, pred, hist,
                       &trials[k], err);
        if (st != CN_OK) break;
        if (trials[k].val_acc > trials[bi].val_acc) bi = k;
        if (cn_progress_report(prog, "trial", (size_t)k + 1, (size_t)s->trials)) {
            st = cn_error_set(err, CN_ERR_ARG, "linear search: cancelled after trial %d",
                              k + 1);
            break;
        }
    }
    cn_free(pred);
    cn_free(hist);
    if (st != CN_OK) return st;
    *best = bi;
    *edges = edge_flags(trials[bi].lr, s->lr_lo, s->lr_hi, CN_EDGE_LR_LOW, CN_EDGE_LR_HIGH) |
             edge_flags(trials[bi].reg, s->reg_lo, s->reg_hi, CN_EDGE_REG_LOW,
                        CN_EDGE_REG_HIGH);
    return CN_OK;
}
