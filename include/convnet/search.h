/* convnet/search.h: random hyperparameter search as the course teaches it:
 * sample each hyperparameter independently (random, not grid, search), learning
 * rates and regularisation strengths uniformly in log space, run a coarse stage
 * (many short runs) and a fine stage (fewer, longer runs in ranges narrowed
 * around the best coarse results), rank the trials, and warn when a best value
 * lies at the edge of its range (the range should be widened). This header is
 * the pure part (spaces, sampling, narrowing, ranking, edge checks); `convnet
 * search` runs the trials with cn_train. docs/search.md has the details. */
#ifndef CONVNET_SEARCH_H
#define CONVNET_SEARCH_H

#include <stddef.h>

#include "convnet/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CN_SEARCH_MAX_DIMS 16
#define CN_SEARCH_NAME_MAX 32

typedef enum cn_search_scale {
    CN_SEARCH_LOG = 0, /* uniform in log10 between lo and hi (both > 0) */
    CN_SEARCH_LINEAR,  /* uniform between lo and hi */
    CN_SEARCH_INT,     /* uniform integer in [lo, hi] */
    CN_SEARCH_SCALE_COUNT
} cn_search_scale;

/* One hyperparameter's range. */
typedef struct cn_search_dim {
    char name[CN_SEARCH_NAME_MAX];
    double lo, hi;     /* lo < hi (INT: integers, lo <= hi) */
    cn_search_scale scale;
} cn_search_dim;

/* cn_search_dim_parse: "name=lo:hi[:log|linear|int]" (scale default: log when
 * lo > 0 and hi / lo >= 100, else linear), e.g. "lr=1e-4:1e-1",
 * "dropout=0:0.5:linear", "hidden=64:512:int". Errors: CN_ERR_ARG naming the text
 * and what is wrong (missing '=', bad number, lo >= hi, log with lo <= 0, unknown
 * scale, name too long). */
cn_status cn_search_dim_parse(const char *text, cn_search_dim *out, cn_error *err);

/* cn_search_sample: one value per dimension, drawn independently from rng into
 * values[0..n). */
void cn_search_sample(const cn_search_dim *dims, int n, cn_rng *rng, double *values);

/* cn_search_narrow: the fine stage's ranges: for each dimension, the span of the
 * top values (top[i * n + d] for i < k, the best k trials' values) widened by
 * half the span on each side in the dimension's scale (at least a factor
 * 10^(1/4) each side for log dims, 5% of the original range for linear ones),
 * clipped to the original range. out may alias dims. Errors: CN_ERR_ARG (k < 1,
 * n outside 1..CN_SEARCH_MAX_DIMS). */
cn_status cn_search_narrow(const cn_search_dim *dims, int n, const double *top, int k,
                           cn_search_dim *out, cn_error *err);

/* cn_search_at_edge: -1 when v lies in the lowest 10% of d's range (in its
 * scale), +1 in the highest 10%, else 0. */
int cn_search_at_edge(const cn_search_dim *d, double v);

/* cn_search_rank: order[0..n) = trial indices sorted by score, best (highest)
 * first; NaN scores last; ties keep trial order. */
void cn_search_rank(const double *score, int n, int *order);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_SEARCH_H */
