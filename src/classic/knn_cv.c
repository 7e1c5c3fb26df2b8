/* knn_cv.c: k-fold cross-validation of k-nearest neighbours over a grid of
 * (metric, vote, k). Each fold computes its neighbour lists once per metric with
 * the largest k, and every (vote, k) cell reuses them. */
#include "convnet/classic.h"

#include <math.h>
#include <string.h>

/* PCG stream of the fold permutation (ASCII "knn-cv"). */
#define KNN_CV_STREAM UINT64_C(0x6b6e6e2d6376)

/* Progress over the whole run: each (fold, metric) pass advances by its
 * validation rows, out of n * nmetrics. */
typedef struct cv_progress {
    const cn_progress *outer;
    size_t base, total;
} cv_progress;

static int cv_progress_fn(void *ctx, const char *stage, size_t done, size_t total)
{
    (void)stage;
    (void)total;
    cv_progress *p = ctx;
    return cn_progress_report(p->outer, "cross-validation", p->base + done, p->total);
}

static cn_status cv_check(const cn_real *X, const int *y, int n, int d, int num_classes,
                          int folds, const cn_metric *metrics, int nmetrics,
                          const cn_vote *votes, int nvotes, const int *ks, int nks,
                          const cn_knn_cv_result *results, cn_error *err)
{
    if (!X || !y || !metrics || !votes || !ks || !results)
        return cn_error_set(err, CN_ERR_ARG, "knn cross-validation: NULL argument");
    if (n <= 0 || d <= 0 || num_classes <= 0)
        return cn_error_set(err, CN_ERR_ARG,
                            "knn cross-validation: n %d, d %d and num_classes %d must be "
                            "positive", n, d, num_classes);
    if (folds < 2 || folds > n)
        return cn_error_set(err, CN_ERR_ARG,
                            "knn cross-validation: folds %d out of range [2, n = %d]", folds,
                            n);
    if (nmetrics < 1 || nvotes < 1 || nks < 1)
        return cn_error_set(err, CN_ERR_ARG,
                            "knn cross-validation: empty grid (%d metrics, %d votes, %d ks)",
                            nmetrics, nvotes, nks);
    for (int m = 0; m < nmetrics; m++)
        if ((int)metrics[m] < 0 || metrics[m] >= CN_METRIC_COUNT)
            return cn_error_set(err, CN_ERR_ARG, "knn cross-validation: metrics[%d] = %d invalid",
                                m, (int)metrics[m]);
    for (int v = 0; v < nvotes; v++)
        if ((int)votes[v] < 0 || votes[v] >= CN_VOTE_COUNT)
            return cn_error_set(err, CN_ERR_ARG, "knn cross-validation: votes[%d] = %d invalid",
                                v, (int)votes[v]);
    // The smallest training part is n minus the largest fold, ceil(n / folds).
    const int ntr_min = n - (n + folds - 1) / folds;
    for (int j = 0; j < nks; j++)
        if (ks[j] < 1 || ks[j] > ntr_min)
            return cn_error_set(err, CN_ERR_ARG,
                                "knn cross-validation: ks[%d] = %d out of range [1, %d] "
                                "(smallest training part)", j, ks[j], ntr_min);
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= num_classes)
            return cn_error_set(err, CN_ERR_RANGE,
                                "knn cross-validation: record %d: label %d out of range [0, %d)",
                                i, y[i], num_classes);
    return CN_OK;
}

cn_status cn_knn_cross_validate(const cn_real *X, const int *y, int n, int d,
                                int num_classes, int folds, uint64_t seed,
                                const cn_metric *metrics, int nmetrics,
                                const cn_vote *votes, int nvotes, const int *ks, int nks,
                                cn_knn_cv_result *results, const cn_progress *prog,
                                cn_error *err)
{
    cn_status st = cv_check(X, y, n, d, num_classes, folds, metrics, nmetrics, votes, nvotes,
                            ks, nks, results, err);
    if (st != CN_OK)
        return st;
    int kmax = 0;
    for (int j = 0; j < nks; j++)
        if (ks[j] > kmax)
            kmax = ks[j];
    const int nva_max = (n + folds - 1) / folds;
    const size_t ncells = (size_t)nmetrics * (size_t)nvotes * (size_t)nks;
    size_t xbytes;
    if (cn_mul_overflow((size_t)n * sizeof(cn_real), (size_t)d, &xbytes))
        return cn_error_set(err, CN_ERR_RANGE, "knn cross-validation: %d x %d is too large",
                            n, d);

    int *perm = cn_malloc((size_t)n * sizeof(int));          // perm (n)
    int *ylab = cn_malloc((size_t)n * sizeof(int));          // ylab (n): train then val
    cn_real *Xs = cn_aligned_alloc(xbytes);                  // Xs (n, d): train then val
    int *nbr_idx = cn_malloc((size_t)nva_max * (size_t)kmax * sizeof(int));       // (nva, kmax)
    cn_real *nbr_dist = cn_malloc((size_t)nva_max * (size_t)kmax * sizeof(cn_real)); // (nva, kmax)
    int *pred = cn_malloc((size_t)nva_max * sizeof(int));    // pred (nva)
    double *acc = cn_malloc(ncells * (size_t)folds * sizeof(double)); // acc (ncells, folds)
    if (!perm || !ylab || !Xs || !nbr_idx || !nbr_dist || !pred || !acc) {
        st = cn_error_set(err, CN_ERR_NOMEM,
                          "knn cross-validation: cannot allocate buffers for %d x %d", n, d);
        goto done;
    }

    for (int i = 0; i < n; i++)
        perm[i] = i;
    cn_rng rng;
    cn_rng_seed(&rng, seed, KNN_CV_STREAM);
    cn_rng_shuffle(&rng, perm, (size_t)n);

    cv_progress cvp = {prog, 0, (size_t)n * (size_t)nmetrics};
    const cn_progress inner = {cv_progress_fn, &cvp};
    const size_t sd = (size_t)d;
    for (int f = 0; f < folds && st == CN_OK; f++) {
        // Fold f validates on the permuted positions [lo, hi); sizes differ by <= 1.
        const int lo = (int)((long long)f * n / folds);
        const int hi = (int)((long long)(f + 1) * n / folds);
        const int nva = hi - lo, ntr = n - nva;
        int r = 0;
        for (int p = 0; p < n; p++) {
            if (p == lo)
                p = hi;
            if (p >= n)
                break;
            memcpy(Xs + (size_t)r * sd, X + (size_t)perm[p] * sd, sd * sizeof(cn_real));
            ylab[r++] = y[perm[p]];
        }
        for (int p = lo; p < hi; p++, r++) {
            memcpy(Xs + (size_t)r * sd, X + (size_t)perm[p] * sd, sd * sizeof(cn_real));
            ylab[r] = y[perm[p]];
        }
        const cn_real *Xtr = Xs, *Xva = Xs + (size_t)ntr * sd; // (ntr, d), (nva, d)
        const int *yva = ylab + ntr;                            // (nva)
        for (int m = 0; m < nmetrics && st == CN_OK; m++) {
            st = cn_knn_neighbors(Xtr, ntr, Xva, nva, d, metrics[m], kmax, nbr_idx, nbr_dist,
                                  prog ? &inner : NULL, err);
            if (st != CN_OK)
                break;
            cvp.base += (size_t)nva;
            for (int v = 0; v < nvotes && st == CN_OK; v++)
                for (int j = 0; j < nks && st == CN_OK; j++) {
                    st = cn_knn_vote(nbr_idx, nbr_dist, nva, kmax, ks[j], ylab, num_classes,
                                     votes[v], pred, err);
                    const size_t cell = ((size_t)m * (size_t)nvotes + (size_t)v) *
                                            (size_t)nks + (size_t)j;
                    acc[cell * (size_t)folds + (size_t)f] = cn_accuracy(pred, yva, nva);
                }
        }
        if (st != CN_OK && strcmp(err ? err->msg : "", "cancelled") != 0)
            cn_error_prefix(err, "knn cross-validation: fold %d: ", f);
    }
    if (st != CN_OK)
        goto done;

    for (int m = 0; m < nmetrics; m++)
        for (int v = 0; v < nvotes; v++)
            for (int j = 0; j < nks; j++) {
                const size_t cell =
                    ((size_t)m * (size_t)nvotes + (size_t)v) * (size_t)nks + (size_t)j;
                const double *a = acc + cell * (size_t)folds; // a (folds)
                double mean = 0.0, var = 0.0;
                for (int f = 0; f < folds; f++)
                    mean += a[f];
                mean /= folds;
                for (int f = 0; f < folds; f++)
                    var += (a[f] - mean) * (a[f] - mean);
                results[cell].metric = metrics[m];
                results[cell].vote = votes[v];
                results[cell].k = ks[j];
                results[cell].mean_acc = mean;
                results[cell].std_acc = sqrt(var / folds);
            }

done:
    cn_free(perm);
    cn_free(ylab);
    cn_aligned_free(Xs);
    cn_free(nbr_idx);
    cn_free(nbr_dist);
    cn_free(pred);
    cn_free(acc);
    return st;
}
