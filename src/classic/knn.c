/* knn.c: k-nearest neighbours: metric and vote names, the neighbour search
 * (whole blocks of distance rows from one GEMM or the blocked L1 kernel, then a
 * partial selection of the kmax best per row) and the majority / distance vote. */
#include "convnet/classic.h"
#include "convnet/kernels.h"

#include <math.h>
#include <string.h>

/* Upper bound on the distance block (block query rows x nr reals). */
#define KNN_BLOCK_BYTES ((size_t)128 << 20)

static const char *const metric_names[CN_METRIC_COUNT] = {"l2", "l1"};
static const char *const vote_names[CN_VOTE_COUNT] = {"uniform", "distance"};

const char *cn_metric_name(cn_metric m)
{
    return (int)m >= 0 && m < CN_METRIC_COUNT ? metric_names[m] : "unknown";
}

cn_status cn_metric_parse(const char *s, cn_metric *out, cn_error *err)
{
    if (!s || !out)
        return cn_error_set(err, CN_ERR_ARG, "metric: missing name");
    for (int m = 0; m < CN_METRIC_COUNT; m++)
        if (strcmp(s, metric_names[m]) == 0) {
            *out = (cn_metric)m;
            return CN_OK;
        }
    return cn_error_set(err, CN_ERR_ARG, "metric: unknown name '%s' (expected l2 or l1)", s);
}

const char *cn_vote_name(cn_vote v)
{
    return (int)v >= 0 && v < CN_VOTE_COUNT ? vote_names[v] : "unknown";
}

cn_status cn_vote_parse(const char *s, cn_vote *out, cn_error *err)
{
    if (!s || !out)
        return cn_error_set(err, CN_ERR_ARG, "vote: missing name");
    for (int v = 0; v < CN_VOTE_COUNT; v++)
        if (strcmp(s, vote_names[v]) == 0) {
            *out = (cn_vote)v;
            return CN_OK;
        }
    return cn_error_set(err, CN_ERR_ARG,
                        "vote: unknown name '%s' (expected uniform or distance)", s);
}

/* worse: (da, ia) ranks after (db, ib): larger distance, or equal distance and
 * larger reference index. */
static int worse(cn_real da, int ia, cn_real db, int ib)
{
    return da > db || (da == db && ia > ib);
}

/* sift_down: restore the max-heap (worst at the root) of n entries below pos. */
static void sift_down(int *idx, cn_real *dist, int n, int pos)
{
    for (;;) {
        int c = 2 * pos + 1;
        if (c >= n)
            return;
        if (c + 1 < n && worse(dist[c + 1], idx[c + 1], dist[c], idx[c]))
            c++;
        if (!worse(dist[c], idx[c], dist[pos], idx[pos]))
            return;
        int ti = idx[c];
        cn_real td = dist[c];
        idx[c] = idx[pos];
        dist[c] = dist[pos];
        idx[pos] = ti;
        dist[pos] = td;
        pos = c;
    }
}

/* select_row: the kmax best entries of drow (nr) into idx/dist (kmax), sorted
 * ascending by (distance, index). A max-heap of the kmax best so far lives in
 * the output row itself; NaN ranks as +Inf. */
static void select_row(const cn_real *drow, int nr, int kmax, int *idx, cn_real *dist)
{
    for (int j = 0; j < kmax; j++) {
        cn_real v = drow[j];
        idx[j] = j;
        dist[j] = isnan(v) ? (cn_real)INFINITY : v;
    }
    for (int p = kmax / 2 - 1; p >= 0; p--)
        sift_down(idx, dist, kmax, p);
    for (int j = kmax; j < nr; j++) {
        cn_real v = drow[j];
        if (v < dist[0]) { // j is larger than every index held, so ties lose
            idx[0] = j;
            dist[0] = v;
            sift_down(idx, dist, kmax, 0);
        }
    }
    for (int n = kmax - 1; n > 0; n--) { // heap sort: move the worst to the end
        int ti = idx[0];
        cn_real td = dist[0];
        idx[0] = idx[n];
        dist[0] = dist[n];
        idx[n] = ti;
        dist[n] = td;
        sift_down(idx, dist, n, 0);
    }
}

cn_status cn_knn_neighbors(const cn_real *R, int nr, const cn_real *Q, int nq, int d,
                           cn_metric metric, int kmax, int *nbr_idx, cn_real *nbr_dist,
                           const cn_progress *prog, cn_error *err)
{
    if (!R || !Q || !nbr_idx || !nbr_dist)
        return cn_error_set(err, CN_ERR_ARG, "knn neighbors: NULL %s",
                            !R ? "reference set" : !Q ? "query set" : "output");
    if (nr <= 0 || nq <= 0 || d <= 0)
        return cn_error_set(err, CN_ERR_ARG,
                            "knn neighbors: sizes must be positive (nr %d, nq %d, d %d)", nr,
                            nq, d);
    if ((int)metric < 0 || metric >= CN_METRIC_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "knn neighbors: invalid metric %d", (int)metric);
    if (kmax < 1 || kmax > nr)
        return cn_error_set(err, CN_ERR_ARG,
                            "knn neighbors: kmax %d out of range [1, %d] (reference rows)",
                            kmax, nr);

    const size_t row_bytes = (size_t)nr * sizeof(cn_real);
    size_t block = KNN_BLOCK_BYTES / row_bytes;
    if (block < 1)
        block = 1;
    if (block > (size_t)nq)
        block = (size_t)nq;
    const int nb = (int)block;

    cn_real *dist = cn_aligned_alloc(block * row_bytes); // dist (block, nr)
    cn_real *rn = NULL, *qn = NULL;                       // rn (nr), qn (block)
    if (metric == CN_METRIC_L2) {
        rn = cn_malloc(row_bytes);
        qn = cn_malloc(block * sizeof(cn_real));
    }
    if (!dist || (metric == CN_METRIC_L2 && (!rn || !qn))) {
        cn_aligned_free(dist);
        cn_free(rn);
        cn_free(qn);
        return cn_error_set(err, CN_ERR_NOMEM,
                            "knn neighbors: cannot allocate a %zu x %d distance block", block,
                            nr);
    }
    if (metric == CN_METRIC_L2)
        cn_sq_norms(R, nr, d, rn);

    cn_status st = CN_OK;
    for (int i0 = 0; i0 < nq; i0 += nb) {
        const int m = nq - i0 < nb ? nq - i0 : nb;
        const cn_real *Qb = Q + (size_t)i0 * (size_t)d; // Qb (m, d)
        if (metric == CN_METRIC_L2) {
            cn_sq_norms(Qb, m, d, qn);
            cn_dist_l2sq(Qb, qn, m, R, rn, nr, d, dist, nr);
        } else {
            cn_dist_l1(Qb, m, R, nr, d, dist, nr);
        }
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
        for (int i = 0; i < m; i++) {
            const size_t o = (size_t)(i0 + i) * (size_t)kmax;
            select_row(dist + (size_t)i * (size_t)nr, nr, kmax, nbr_idx + o, nbr_dist + o);
            if (metric == CN_METRIC_L2)
                for (int j = 0; j < kmax; j++)
                    nbr_dist[o + j] = (cn_real)sqrt((double)nbr_dist[o + j]);
        }
        if (cn_progress_report(prog, "distances", (size_t)(i0 + m), (size_t)nq)) {
            st = cn_error_set(err, CN_ERR_ARG, "cancelled");
            break;
        }
    }
    cn_aligned_free(dist);
    cn_free(rn);
    cn_free(qn);
    return st;
}

cn_status cn_knn_vote(const int *nbr_idx, const cn_real *nbr_dist, int nq, int kmax,
                      int k, const int *ref_labels, int num_classes, cn_vote vote,
                      int *pred, cn_error *err)
{
    if (!nbr_idx || !ref_labels || !pred || (vote == CN_VOTE_DISTANCE && !nbr_dist))
        return cn_error_set(err, CN_ERR_ARG, "knn vote: NULL %s",
                            !nbr_idx      ? "neighbour indices"
                            : !ref_labels ? "reference labels"
                            : !pred       ? "output"
                                          : "neighbour distances");
    if (nq <= 0)
        return cn_error_set(err, CN_ERR_ARG, "knn vote: nq %d must be positive", nq);
    if (kmax < 1 || k < 1 || k > kmax)
        return cn_error_set(err, CN_ERR_ARG, "knn vote: k %d out of range [1, kmax %d]", k,
                            kmax);
    if (num_classes < 1)
        return cn_error_set(err, CN_ERR_ARG, "knn vote: num_classes %d must be positive",
                            num_classes);
    if ((int)vote < 0 || vote >= CN_VOTE_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "knn vote: invalid vote %d", (int)vote);

    double *score = cn_malloc((size_t)num_classes * sizeof(double)); // score (num_classes)
    if (!score)
        return cn_error_set(err, CN_ERR_NOMEM, "knn vote: cannot allocate %d class scores",
                            num_classes);
    cn_status st = CN_OK;
    for (int i = 0; i < nq && st == CN_OK; i++) {
        const int *ni = nbr_idx + (size_t)i * (size_t)kmax;        // ni (k)
        const cn_real *nd = nbr_dist ? nbr_dist + (size_t)i * (size_t)kmax : NULL;
        for (int j = 0; j < k; j++) {
            if (ni[j] < 0) {
                st = cn_error_set(err, CN_ERR_RANGE,
                                  "knn vote: query %d neighbour %d: negative index %d", i, j,
                                  ni[j]);
                break;
            }
            int c = ref_labels[ni[j]];
            if (c < 0 || c >= num_classes) {
                st = cn_error_set(err, CN_ERR_RANGE,
                                  "knn vote: reference %d: label %d out of range [0, %d)",
                                  ni[j], c, num_classes);
                break;
            }
        }
        if (st != CN_OK)
            break;
        // With distance weights, neighbours at distance 0 (if any) vote alone.
        int zero_only = 0;
        if (vote == CN_VOTE_DISTANCE)
            for (int j = 0; j < k; j++)
                if (nd[j] <= 0)
                    zero_only = 1;
        for (int c = 0; c < num_classes; c++)
            score[c] = 0.0;
        for (int j = 0; j < k; j++) {
            double w = 1.0;
            if (vote == CN_VOTE_DISTANCE && !zero_only) {
                w = 1.0 / (double)nd[j];
                if (!(w >= 0.0)) // NaN distance: no say
                    w = 0.0;
            } else if (zero_only && nd[j] > 0) {
                continue;
            }
            score[ref_labels[ni[j]]] += w;
        }
        double best = -1.0;
        for (int c = 0; c < num_classes; c++)
            if (score[c] > best)
                best = score[c];
        // Among tied classes, the one whose member appears first in the list.
        for (int j = 0; j < k; j++) {
            if (zero_only && nd[j] > 0)
                continue;
            int c = ref_labels[ni[j]];
            if (score[c] == best) {
                pred[i] = c;
                break;
            }
        }
    }
    cn_free(score);
    return st;
}
