/* convnet/classic.h: the course's first classifiers, built on kernels (not on the
 * graph): k-nearest neighbours with cross-validation, the multiclass linear SVM
 * and softmax classifiers with minibatch SGD and random hyperparameter search,
 * numerical gradient checking, and class-template images. */
#ifndef CONVNET_CLASSIC_H
#define CONVNET_CLASSIC_H

#include "convnet/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cn_accuracy: fraction of i in [0, n) with pred[i] == y[i]; 0 when n == 0. */
double cn_accuracy(const int *pred, const int *y, int n);

/* ================================================================ kNN */

typedef enum cn_metric { CN_METRIC_L2 = 0, CN_METRIC_L1, CN_METRIC_COUNT } cn_metric;
typedef enum cn_vote { CN_VOTE_UNIFORM = 0, CN_VOTE_DISTANCE, CN_VOTE_COUNT } cn_vote;

/* Names "l2"/"l1" and "uniform"/"distance"; parse returns CN_ERR_ARG otherwise. */
const char *cn_metric_name(cn_metric m);
cn_status cn_metric_parse(const char *s, cn_metric *out, cn_error *err);
const char *cn_vote_name(cn_vote v);
cn_status cn_vote_parse(const char *s, cn_vote *out, cn_error *err);

/* cn_knn_neighbors: for each query row of Q (nq, d) find the kmax nearest rows of
 * the reference set R (nr, d) under metric, without a loop over pairs: queries
 * are processed in blocks whose whole distance rows come from one GEMM (L2, via
 * the |q|^2 - 2q.r + |r|^2 expansion) or the blocked L1 kernel, then a partial
 * selection keeps the kmax best. Output, sorted by ascending distance with ties
 * broken by the lower reference index:
 *   nbr_idx  (nq, kmax) reference indices,
 *   nbr_dist (nq, kmax) distances (true L2, i.e. the square root, or L1).
 * 1 <= kmax <= nr. Memory: O(block * nr). prog (may be NULL) gets "distances"
 * with done/total query rows and may cancel. */
cn_status cn_knn_neighbors(const cn_real *R, int nr, const cn_real *Q, int nq, int d,
                           cn_metric metric, int kmax, int *nbr_idx, cn_real *nbr_dist,
                           const cn_progress *prog, cn_error *err);

/* cn_knn_vote: predicted labels pred (nq) from neighbour lists (nq, kmax) using
 * their first k (1 <= k <= kmax) entries. Uniform: one vote each. Distance:
 * weight 1 / dist; if any of the k neighbours is at distance 0, only those vote
 * (as scikit-learn does). Ties between classes go to the tied class whose member
 * appears first in the list (the nearest), so results are deterministic.
 * ref_labels in [0, num_classes) (CN_ERR_RANGE otherwise). */
cn_status cn_knn_vote(const int *nbr_idx, const cn_real *nbr_dist, int nq, int kmax,
                      int k, const int *ref_labels, int num_classes, cn_vote vote,
                      int *pred, cn_error *err);

/* One cell of the cross-validation grid. */
typedef struct cn_knn_cv_result {
    cn_metric metric;
    cn_vote vote;
    int k;
    double mean_acc;  /* mean over folds of validation accuracy */
    double std_acc;   /* population standard deviation over folds */
} cn_knn_cv_result;

/* cn_knn_cross_validate: k-fold cross-validation over every (metric, vote, k) of
 * the grid on X (n, d) / y (n). Folds come from a seeded permutation. Each fold
 * computes neighbours once per metric with kmax = max(ks), so every k and vote
 * reuses them. results has nmetrics * nvotes * nks entries in that nesting order
 * (metric outermost). folds >= 2, folds <= n. */
cn_status cn_knn_cross_validate(const cn_real *X, const int *y, int n, int d,
                                int num_classes, int folds, uint64_t seed,
                                const cn_metric *metrics, int nmetrics,
                                const cn_vote *votes, int nvotes, const int *ks, int nks,
                                cn_knn_cv_result *results, const cn_progress *prog,
                                cn_error *err);

/* ================================================================ linear */

typedef enum cn_linear_loss {
    CN_LINEAR_SVM = 0,        /* multiclass hinge (Weston-Watkins), margin 1 */
    CN_LINEAR_SVM_SQUARED,    /* squared hinge, margin 1 */
    CN_LINEAR_SOFTMAX,        /* cross-entropy of softmax, shifted by the max */
    CN_LINEAR_LOSS_COUNT
} cn_linear_loss;

/* Names "svm", "svm-squared", "softmax". */
const char *cn_linear_loss_name(cn_linear_loss l);
cn_status cn_linear_loss_parse(const char *s, cn_linear_loss *out, cn_error *err);

/* cn_linear_loss_grad: loss and gradient of a linear classifier over a batch,
 * fully vectorised (scores by one GEMM, gradients by two):
 *   X (n, d), y (n) in [0, c), W (d, c), b (c), scores S = X W + b (n, c).
 * Regularisation convention (the course's): loss = mean data loss + reg * sum W^2,
 * and dW gets + 2 * reg * W; the bias is not regularised.
 * dW (d, c) and db (c) are overwritten when non-NULL. work is caller scratch of
 * n * c reals. Returns the loss. */
double cn_linear_loss_grad(cn_linear_loss loss, const cn_real *W, const cn_real *b,
                           int d, int c, const cn_real *X, const int *y, int n,
                           double reg, cn_real *dW, cn_real *db, cn_real *work);

/* cn_linear: a trained or training linear classifier. Owns W and b. */
typedef struct cn_linear {
    cn_linear_loss loss;
    int d, c;
    cn_real *W;  /* (d, c) */
    cn_real *b;  /* (c) */
} cn_linear;

/* cn_linear_new: W ~ N(0, init_std^2) from rng, b = 0. NULL with err on error. */
cn_linear *cn_linear_new(cn_linear_loss loss, int d, int c, double init_std, cn_rng *rng,
                         cn_error *err);
void cn_linear_free(cn_linear *m);

/* Minibatch SGD settings. */
typedef struct cn_linear_opts {
    double lr;         /* initial learning rate */
    double reg;        /* L2 strength (see cn_linear_loss_grad) */
    int epochs;
    int batch;         /* minibatch size */
    double lr_decay;   /* learning rate multiplied by this after every epoch */
    double momentum;   /* classic momentum mu: v = mu v - lr dx; x += v (0 = plain SGD) */
    int average;       /* non-zero: final weights are the average of the iterates of
                          the last epoch (Polyak averaging); reduces SGD noise */
    double init_std;   /* std of the initial weights */
    uint64_t seed;     /* initialisation and shuffling */
} cn_linear_opts;

/* cn_linear_opts_default: the defaults chosen by this project's random search on
 * Fashion-MNIST for that loss (see README). */
void cn_linear_opts_default(cn_linear_opts *o, cn_linear_loss loss);

/* cn_linear_train: train m with minibatch SGD over X (n, d) / y (n), shuffling
 * every epoch from o->seed. loss_history (o->epochs, may be NULL) receives the
 * mean minibatch loss of each epoch. prog gets "epoch" with done/total epochs.
 * CN_ERR_NUMERIC if the loss becomes NaN/Inf (the message names the epoch and
 * suggests a lower learning rate); CN_ERR_ARG for bad options. */
cn_status cn_linear_train(cn_linear *m, const cn_real *X, const int *y, int n,
                          const cn_linear_opts *o, double *loss_history,
                          const cn_progress *prog, cn_error *err);

/* cn_linear_predict: pred (n) = argmax of scores for X (n, d). */
cn_status cn_linear_predict(const cn_linear *m, const cn_real *X, int n, int *pred,
                            cn_error *err);

/* Random search of learning rate and regularisation strength, both sampled
 * uniformly in log10 space, scored on a validation split. */
typedef struct cn_search_opts {
    double lr_lo, lr_hi;    /* range of the learning rate (lo < hi, both > 0) */
    double reg_lo, reg_hi;  /* range of reg (lo < hi, both > 0) */
    int trials;
    uint64_t seed;          /* sampling of the trials */
} cn_search_opts;

typedef struct cn_search_trial {
    double lr, reg;
    double train_acc, val_acc;
    double final_loss;      /* NaN if the run diverged */
} cn_search_trial;

/* Flags for *edges: the best value lies in the outer 10% of its log range. */
#define CN_EDGE_LR_LOW 1
#define CN_EDGE_LR_HIGH 2
#define CN_EDGE_REG_LOW 4
#define CN_EDGE_REG_HIGH 8

/* cn_linear_search: run s->trials trainings with the settings of base except lr
 * and reg, record each in trials (s->trials entries), put the index of the best
 * validation accuracy in *best and the edge flags in *edges (so callers can warn
 * that the range should be widened). A diverging trial counts as accuracy 0. */
cn_status cn_linear_search(cn_linear_loss loss, const cn_linear_opts *base,
                           const cn_search_opts *s, const cn_real *X, const int *y, int n,
                           const cn_real *Xval, const int *yval, int nval, int d, int c,
                           cn_search_trial *trials, int *best, int *edges,
                           const cn_progress *prog, cn_error *err);

/* cn_linear_templates_png: write the learned weights of each class as an image
 * grid (one tile of (ch, h, w) per class, ch*h*w == m->d, each rescaled to 0..255
 * on its own, as in the course) to a PNG at path. */
cn_status cn_linear_templates_png(const cn_linear *m, int ch, int h, int w,
                                  const char *path, cn_error *err);

/* ================================================================ gradcheck */

/* cn_scalar_fn: a scalar function f(x) of n parameters (n known to ctx). */
typedef double (*cn_scalar_fn)(void *ctx, const cn_real *x);

typedef struct cn_gradcheck_result {
    double max_rel_err;     /* max over checked coordinates */
    size_t worst_index;     /* coordinate with max_rel_err */
    double worst_analytic;
    double worst_numeric;
    size_t checked;         /* coordinates checked */
} cn_gradcheck_result;

/* cn_gradcheck: compare an analytic gradient (n) of f at x (n) with centred
 * differences (f(x + h e_i) - f(x - h e_i)) / 2h on coordinates coords[0..ncoords)
 * plus nrandom coordinates drawn from rng (rng may be NULL when nrandom == 0).
 * Relative error per coordinate: |a - n| / max(|a|, |n|), 0 when both are 0.
 * x is perturbed and restored exactly. CN_ERR_RANGE for a coordinate >= n. */
cn_status cn_gradcheck(cn_scalar_fn f, void *ctx, cn_real *x, size_t n,
                       const cn_real *analytic, const size_t *coords, size_t ncoords,
                       size_t nrandom, cn_rng *rng, double h,
                       cn_gradcheck_result *res, cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_CLASSIC_H */
