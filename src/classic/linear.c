/* linear.c: the multiclass linear classifiers of the course: the Weston-Watkins
 * hinge (SVM), the squared hinge and softmax cross-entropy, with a vectorised
 * loss and gradient (one GEMM for the scores, one for dW), minibatch SGD with
 * classic momentum, per-epoch learning-rate decay and optional Polyak averaging,
 * and chunked prediction. The derivations are in docs/linear.md. */
#include "convnet/classic.h"
#include "convnet/kernels.h"

#include <math.h>
#include <string.h>

/* Streams of the RNGs seeded from cn_linear_opts.seed (docs/linear.md):
 * initialisation uses stream 0 (callers of cn_linear_new), shuffling stream 1. */
#define LINEAR_STREAM_SHUFFLE 1u

/* Rows per chunk of cn_linear_predict: scores (chunk, c) stay small. */
#define PREDICT_CHUNK 4096

static const char *const loss_names[CN_LINEAR_LOSS_COUNT] = {
    [CN_LINEAR_SVM] = "svm",
    [CN_LINEAR_SVM_SQUARED] = "svm-squared",
    [CN_LINEAR_SOFTMAX] = "softmax",
};

const char *cn_linear_loss_name(cn_linear_loss l)
{
    if ((int)l < 0 || l >= CN_LINEAR_LOSS_COUNT) return "unknown";
    return loss_names[l];
}

cn_status cn_linear_loss_parse(const char *s, cn_linear_loss *out, cn_error *err)
{
    if (!s) return cn_error_set(err, CN_ERR_ARG, "linear loss: missing name");
    for (int i = 0; i < CN_LINEAR_LOSS_COUNT; i++) {
        if (strcmp(s, loss_names[i]) == 0) {
            if (out) *out = (cn_linear_loss)i;
            return CN_OK;
        }
    }
    return cn_error_set(err, CN_ERR_ARG,
                        "linear loss: unknown name '%s' (expected svm, svm-squared or softmax)",
                        s);
}

/* row_hinge: loss of one row of scores s (c) with label y, and the row's
 * gradient ds (c) (may alias s) when want_grad. squared selects the squared
 * hinge. Margins m_j = s_j - s_y + 1 (j != y); a margin of exactly 0 counts as
 * inactive (subgradient 0, as PyTorch's multi_margin_loss). */
static double row_hinge(cn_real *s, int c, int y, int squared, int want_grad)
{
    double sy = (double)s[y];
    double loss = 0.0, gy = 0.0;
    for (int j = 0; j < c; j++) {
        if (j == y) continue;
        double m = (double)s[j] - sy + 1.0;
        double g = 0.0;
        if (m > 0.0) {
            if (squared) {
                loss += m * m;
                g = 2.0 * m;
            } else {
                loss += m;
                g = 1.0;
            }
        }
        gy -= g;
        if (want_grad) s[j] = (cn_real)g;
    }
    if (want_grad) s[y] = (cn_real)gy;
    return loss;
}

/* row_softmax: cross-entropy of softmax of the row s (c) with label y, shifted by
 * the row maximum; with want_grad s becomes p - onehot(y). */
static double row_softmax(cn_real *s, int c, int y, int want_grad)
{
    double mx = (double)s[0];
    for (int j = 1; j < c; j++)
        if ((double)s[j] > mx) mx = (double)s[j];
    double sum = 0.0;
    for (int j = 0; j < c; j++) sum += exp((double)s[j] - mx);
    double lse = log(sum);
    double loss = lse - ((double)s[y] - mx);
    if (want_grad) {
        for (int j = 0; j < c; j++) {
            double p = exp((double)s[j] - mx - lse);
            s[j] = (cn_real)(j == y ? p - 1.0 : p);
        }
    }
    return loss;
}

double cn_linear_loss_grad(cn_linear_loss loss, const cn_real *W, const cn_real *b,
                           int d, int c, const cn_real *X, const int *y, int n,
                           double reg, cn_real *dW, cn_real *db, cn_real *work)
{
    CN_ASSERT(loss >= 0 && loss < CN_LINEAR_LOSS_COUNT);
    CN_ASSERT(d > 0 && c > 0 && n >= 0);
    CN_ASSERT(W && b && (n == 0 || (X && y && work)));
    int want_grad = dW != NULL || db != NULL;
    size_t dc = (size_t)d * (size_t)c;

    /* scores S (n, c) = X (n, d) W (d, c) + b, in work */
    cn_real *S = work;
    for (int i = 0; i < n; i++) memcpy(S + (size_t)i * c, b, (size_t)c * sizeof *S);
    if (n > 0) cn_gemm(CN_NO_TRANS, CN_NO_TRANS, n, c, d, 1, X, d, W, c, 1, S, c);

    /* data loss, and dS (n, c) = d(sum of row losses)/dS in place of S */
    double data = 0.0;
    for (int i = 0; i < n; i++) {
        cn_real *s = S + (size_t)i * c;
        CN_ASSERT(y[i] >= 0 && y[i] < c);
        switch (loss) {
        case CN_LINEAR_SVM: data += row_hinge(s, c, y[i], 0, want_grad); break;
        case CN_LINEAR_SVM_SQUARED: data += row_hinge(s, c, y[i], 1, want_grad); break;
        default: data += row_softmax(s, c, y[i], want_grad); break;
        }
    }
    double inv_n = n > 0 ? 1.0 / n : 0.0;

    /* regularisation reg * sum W^2 */
    double wsq = 0.0;
    for (size_t k = 0; k < dc; k++) wsq += (double)W[k] * (double)W[k];

    if (dW) {
        /* dW (d, c) = X^T (d, n) dS (n, c) / n + 2 reg W */
        for (size_t k = 0; k < dc; k++) dW[k] = (cn_real)(2.0 * reg * (double)W[k]);
        if (n > 0)
            cn_gemm(CN_TRANS, CN_NO_TRANS, d, c, n, (cn_real)inv_n, X, d, S, c, 1, dW, c);
    }
    if (db) {
        /* db (c) = column sums of dS / n, accumulated in double */
        for (int j = 0; j < c; j++) {
            double acc = 0.0;
            for (int i = 0; i < n; i++) acc += (double)S[(size_t)i * c + j];
            db[j] = (cn_real)(acc * inv_n);
        }
    }
    return data * inv_n + reg * wsq;
}

cn_linear *cn_linear_new(cn_linear_loss loss, int d, int c, double init_std, cn_rng *rng,
                         cn_error *err)
{
    if ((int)loss < 0 || loss >= CN_LINEAR_LOSS_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "linear: unknown loss %d", (int)loss), NULL;
    if (d <= 0 || c <= 0)
        return cn_error_set(err, CN_ERR_ARG, "linear: sizes d=%d, c=%d must be positive", d,
                            c),
               NULL;
    if (!isfinite(init_std) || init_std < 0)
        return cn_error_set(err, CN_ERR_ARG, "linear: init_std %g must be finite and >= 0",
                            init_std),
               NULL;
    if (init_std > 0 && !rng)
        return cn_error_set(err, CN_ERR_ARG, "linear: init_std > 0 needs an rng"), NULL;
    size_t dc, bytes;
    if (cn_mul_overflow((size_t)d, (size_t)c, &dc) || cn_mul_overflow(dc, sizeof(cn_real), &bytes))
        return cn_error_set(err, CN_ERR_RANGE, "linear: W of (%d, %d) overflows", d, c), NULL;

    cn_linear *m = cn_calloc(1, sizeof *m);
    if (!m) return cn_error_set(err, CN_ERR_NOMEM, "linear: out of memory"), NULL;
    m->W = cn_aligned_alloc(bytes);
    m->b = cn_aligned_alloc((size_t)c * sizeof(cn_real));
    if (!m->W || !m->b) {
        cn_linear_free(m);
        cn_error_set(err, CN_ERR_NOMEM, "linear: out of memory for W (%d, %d)", d, c);
        return NULL;
    }
    m->loss = loss;
    m->d = d;
    m->c = c;
    for (size_t k = 0; k < dc; k++)
        m->W[k] = init_std > 0 ? (cn_real)(init_std * cn_rng_normal(rng)) : 0;
    for (int j = 0; j < c; j++) m->b[j] = 0;
    return m;
}

void cn_linear_free(cn_linear *m)
{
    if (!m) return;
    cn_aligned_free(m->W);
    cn_aligned_free(m->b);
    cn_free(m);
}

void cn_linear_opts_default(cn_linear_opts *o, cn_linear_loss loss)
{
    /* Chosen by cn_linear_search on Fashion-MNIST: 50000 training images, a
     * stratified validation split of 10000 (seed 1), channel normalisation;
     * lr in [1e-5, 1e-1], reg in [1e-6, 1e-1], 40 trials (seed 1) for each of four
     * SGD schedules, the best validation accuracy kept (docs/linear.md). */
    memset(o, 0, sizeof *o);
    o->momentum = 0.9;
    o->average = 1;
    o->init_std = 1e-3;
    o->seed = 1;
    switch (loss) {
    case CN_LINEAR_SVM: /* validation 0.8543, test 0.8440 */
        o->lr = 1.20806e-3;
        o->reg = 7.93145e-6;
        o->epochs = 20;
        o->batch = 128;
        o->lr_decay = 0.9;
        break;
    case CN_LINEAR_SVM_SQUARED: /* validation 0.8515, test 0.8414 */
        o->lr = 2.32345e-4;
        o->reg = 1.01932e-5;
        o->epochs = 10;
        o->batch = 64;
        o->lr_decay = 0.9;
        break;
    default: /* softmax: validation 0.8579, test 0.8446 */
        o->lr = 1.12296e-2;
        o->reg = 4.20422e-5;
        o->epochs = 5;
        o->batch = 64;
        o->lr_decay = 0.95;
        break;
    }
}

/* check_opts: CN_ERR_ARG naming the first bad field of o. */
static cn_status check_opts(const cn_linear_opts *o, cn_error *err)
{
    if (!(isfinite(o->lr) && o->lr > 0))
        return cn_error_set(err, CN_ERR_ARG, "linear: learning rate %g must be > 0", o->lr);
    if (!(isfinite(o->reg) && o->reg >= 0))
        return cn_error_set(err, CN_ERR_ARG, "linear: reg %g must be >= 0", o->reg);
    if (o->epochs < 1)
        return cn_error_set(err, CN_ERR_ARG, "linear: epochs %d must be >= 1", o->epochs);
    if (o->batch < 1)
        return cn_error_set(err, CN_ERR_ARG, "linear: batch %d must be >= 1", o->batch);
    if (!(isfinite(o->lr_decay) && o->lr_decay > 0))
        return cn_error_set(err, CN_ERR_ARG, "linear: lr_decay %g must be > 0", o->lr_decay);
    if (!(o->momentum >= 0 && o->momentum < 1))
        return cn_error_set(err, CN_ERR_ARG, "linear: momentum %g must be in [0, 1)",
                            o->momentum);
    if (!(isfinite(o->init_std) && o->init_std >= 0))
        return cn_error_set(err, CN_ERR_ARG, "linear: init_std %g must be >= 0", o->init_std);
    return CN_OK;
}

static int all_finite(const cn_real *v, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!isfinite((double)v[k])) return 0;
    return 1;
}

/* Buffers of one training run, allocated once. */
typedef struct train_bufs {
    int *idx;       /* (n) permutation */
    int *yb;        /* (batch) */
    cn_real *Xb;    /* (batch, d) gathered minibatch */
    cn_real *work;  /* (batch, c) scores / dS */
    cn_real *grad;  /* (d*c + c): dW then db */
    cn_real *vel;   /* (d*c + c): momentum velocity */
    cn_real *init;  /* (d*c + c): W, b at entry, restored on failure */
    double *avg;    /* (d*c + c): running sum of the last epoch's iterates */
} train_bufs;

static void train_bufs_free(train_bufs *t)
{
    cn_free(t->idx);
    cn_free(t->yb);
    cn_aligned_free(t->Xb);
    cn_aligned_free(t->work);
    cn_aligned_free(t->grad);
    cn_aligned_free(t->vel);
    cn_aligned_free(t->init);
    cn_free(t->avg);
}

static cn_status train_bufs_alloc(train_bufs *t, int n, int batch, int d, int c, int average,
                                  cn_error *err)
{
    size_t p = (size_t)d * (size_t)c + (size_t)c, xb, wk;
    memset(t, 0, sizeof *t);
    if (cn_mul_overflow((size_t)batch, (size_t)d * sizeof(cn_real), &xb) ||
        cn_mul_overflow((size_t)batch, (size_t)c * sizeof(cn_real), &wk))
        return cn_error_set(err, CN_ERR_RANGE, "linear: batch %d too large", batch);
    t->idx = cn_malloc((size_t)n * sizeof *t->idx);
    t->yb = cn_malloc((size_t)batch * sizeof *t->yb);
    t->Xb = cn_aligned_alloc(xb);
    t->work = cn_aligned_alloc(wk);
    t->grad = cn_aligned_alloc(p * sizeof(cn_real));
    t->vel = cn_aligned_alloc(p * sizeof(cn_real));
    t->init = cn_aligned_alloc(p * sizeof(cn_real));
    t->avg = average ? cn_calloc(p, sizeof *t->avg) : NULL;
    if (!t->idx || !t->yb || !t->Xb || !t->work || !t->grad || !t->vel || !t->init ||
        (average && !t->avg)) {
        train_bufs_free(t);
        return cn_error_set(err, CN_ERR_NOMEM, "linear: out of memory for training buffers");
    }
    return CN_OK;
}

cn_status cn_linear_train(cn_linear *m, const cn_real *X, const int *y, int n,
                          const cn_linear_opts *o, double *loss_history,
                          const cn_progress *prog, cn_error *err)
{
    if (!m || !o || (n > 0 && (!X || !y)))
        return cn_error_set(err, CN_ERR_ARG, "linear train: NULL argument");
    if (n < 1) return cn_error_set(err, CN_ERR_ARG, "linear train: no training examples");
    cn_status st = check_opts(o, err);
    if (st != CN_OK) return st;
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= m->c)
            return cn_error_set(err, CN_ERR_RANGE,
                                "linear train: label %d of example %d out of range [0, %d)",
                                y[i], i, m->c);

    const int d = m->d, c = m->c;
    const size_t dc = (size_t)d * (size_t)c, p = dc + (size_t)c;
    const int batch = o->batch < n ? o->batch : n;
    train_bufs t;
    st = train_bufs_alloc(&t, n, batch, d, c, o->average, err);
    if (st != CN_OK) return st;

    memcpy(t.init, m->W, dc * sizeof(cn_real));
    memcpy(t.init + dc, m->b, (size_t)c * sizeof(cn_real));
    memset(t.vel, 0, p * sizeof(cn_real));
    for (int i = 0; i < n; i++) t.idx[i] = i;
    cn_rng rng;
    cn_rng_seed(&rng, o->seed, LINEAR_STREAM_SHUFFLE);

    const cn_real mu = (cn_real)o->momentum;
    const int steps = (n + batch - 1) / batch;
    double lr = o->lr;
    for (int e = 0; e < o->epochs && st == CN_OK; e++) {
        const int averaging = o->average && e == o->epochs - 1;
        const cn_real step = (cn_real)lr;
        double sum_loss = 0.0;
        cn_rng_shuffle(&rng, t.idx, (size_t)n);
        for (int s = 0; s < steps; s++) {
            int i0 = s * batch, nb = n - i0 < batch ? n - i0 : batch;
            for (int r = 0; r < nb; r++) {
                int k = t.idx[i0 + r];
                memcpy(t.Xb + (size_t)r * d, X + (size_t)k * d, (size_t)d * sizeof(cn_real));
                t.yb[r] = y[k];
            }
            double l = cn_linear_loss_grad(m->loss, m->W, m->b, d, c, t.Xb, t.yb, nb, o->reg,
                                           t.grad, t.grad + dc, t.work);
            if (!isfinite(l)) {
                st = cn_error_set(err, CN_ERR_NUMERIC,
                                  "linear train: loss is %g at epoch %d, step %d "
                                  "(learning rate %g); try a lower learning rate",
                                  l, e + 1, s + 1, lr);
                break;
            }
            sum_loss += l;
            /* classic momentum: v = mu v - lr g; x += v (W and b are separate arrays) */
            for (size_t k = 0; k < dc; k++) {
                t.vel[k] = mu * t.vel[k] - step * t.grad[k];
                m->W[k] += t.vel[k];
            }
            for (int j = 0; j < c; j++) {
                t.vel[dc + j] = mu * t.vel[dc + j] - step * t.grad[dc + j];
                m->b[j] += t.vel[dc + j];
            }
            if (averaging) {
                for (size_t k = 0; k < dc; k++) t.avg[k] += (double)m->W[k];
                for (int j = 0; j < c; j++) t.avg[dc + j] += (double)m->b[j];
            }
        }
        if (st != CN_OK) break;
        if (!all_finite(m->W, dc) || !all_finite(m->b, (size_t)c)) {
            st = cn_error_set(err, CN_ERR_NUMERIC,
                              "linear train: weights became non-finite in epoch %d "
                              "(learning rate %g); try a lower learning rate",
                              e + 1, lr);
            break;
        }
        if (loss_history) loss_history[e] = sum_loss / steps;
        lr *= o->lr_decay;
        if (cn_progress_report(prog, "epoch", (size_t)e + 1, (size_t)o->epochs))
            st = cn_error_set(err, CN_ERR_ARG, "linear train: cancelled after epoch %d", e + 1);
    }
    if (st == CN_OK && o->average) {
        for (size_t k = 0; k < dc; k++) m->W[k] = (cn_real)(t.avg[k] / steps);
        for (int j = 0; j < c; j++) m->b[j] = (cn_real)(t.avg[dc + j] / steps);
    }
    if (st != CN_OK) {
        /* failed or cancelled: hand back the model as it was at entry */
        memcpy(m->W, t.init, dc * sizeof(cn_real));
        memcpy(m->b, t.init + dc, (size_t)c * sizeof(cn_real));
    }
    train_bufs_free(&t);
    return st;
}

cn_status cn_linear_predict(const cn_linear *m, const cn_real *X, int n, int *pred,
                            cn_error *err)
{
    if (!m || (n > 0 && (!X || !pred)))
        return cn_error_set(err, CN_ERR_ARG, "linear predict: NULL argument");
    if (n < 0) return cn_error_set(err, CN_ERR_ARG, "linear predict: n %d < 0", n);
    if (n == 0) return CN_OK;
    const int d = m->d, c = m->c;
    const int chunk = n < PREDICT_CHUNK ? n : PREDICT_CHUNK;
    cn_real *S = cn_aligned_alloc((size_t)chunk * (size_t)c * sizeof *S); /* (chunk, c) */
    if (!S) return cn_error_set(err, CN_ERR_NOMEM, "linear predict: out of memory");
    for (int i0 = 0; i0 < n; i0 += chunk) {
        int nb = n - i0 < chunk ? n - i0 : chunk;
        for (int i = 0; i < nb; i++) memcpy(S + (size_t)i * c, m->b, (size_t)c * sizeof *S);
        cn_gemm(CN_NO_TRANS, CN_NO_TRANS, nb, c, d, 1, X + (size_t)i0 * d, d, m->W, c, 1, S, c);
        for (int i = 0; i < nb; i++) {
            const cn_real *s = S + (size_t)i * c;
            int best = 0;
            for (int j = 1; j < c; j++)
                if (s[j] > s[best]) best = j;
            pred[i0 + i] = best;
        }
    }
    cn_aligned_free(S);
    return CN_OK;
}
