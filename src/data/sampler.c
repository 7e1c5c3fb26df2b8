/* src/data/sampler.c: index samplers for training on (imbalanced) labelled data:
 * class counts, sklearn-style "balanced" class weights, class-balanced sampling
 * with replacement, random over- and under-sampling, and (stratified) k-fold
 * fold assignment with the split of one fold. All randomness comes from the
 * caller's seed or RNG, so every result is reproducible. */
#include "convnet/loader.h"

#include <limits.h>
#include <string.h>

#define KFOLD_STREAM 0x4b464f4c44ULL /* RNG stream of the k-fold shuffles ("KFOLD") */

static const char *const sampler_names[CN_SAMPLER_COUNT] = {"sequential", "balanced",
                                                             "oversample", "undersample"};

const char *cn_sampler_kind_name(cn_sampler_kind k) {
    if ((int)k < 0 || k >= CN_SAMPLER_COUNT) return "unknown";
    return sampler_names[k];
}

cn_status cn_sampler_kind_parse(const char *s, cn_sampler_kind *out, cn_error *err) {
    for (int k = 0; s && k < CN_SAMPLER_COUNT; k++) {
        if (strcmp(s, sampler_names[k]) == 0) {
            *out = (cn_sampler_kind)k;
            return CN_OK;
        }
    }
    return cn_error_set(err, CN_ERR_ARG,
                        "sampler: unknown kind '%s' (expected sequential, balanced, "
                        "oversample or undersample)", s ? s : "(null)");
}

cn_status cn_class_counts(const int *labels, int n, int num_classes, int *counts,
                          cn_error *err) {
    if (n < 0 || num_classes < 1 || (n > 0 && !labels) || !counts)
        return cn_error_set(err, CN_ERR_ARG,
                            "class counts: bad arguments n=%d num_classes=%d", n, num_classes);
    memset(counts, 0, (size_t)num_classes * sizeof *counts);
    for (int i = 0; i < n; i++) {
        int y = labels[i];
        if (y < 0 || y >= num_classes)
            return cn_error_set(err, CN_ERR_RANGE,
                                "class counts: record %d: label %d out of range [0, %d)", i, y,
                                num_classes);
        counts[y]++;
    }
    return CN_OK;
}

/* counts_new: cn_malloc'd class counts (num_classes) of labels, validated. */
static cn_status counts_new(const int *labels, int n, int num_classes, int **out,
                            cn_error *err) {
    *out = NULL;
    if (num_classes < 1)
        return cn_error_set(err, CN_ERR_ARG, "sampler: num_classes %d < 1", num_classes);
    int *counts = cn_malloc((size_t)num_classes * sizeof *counts); // (num_classes)
    if (!counts) return cn_error_set(err, CN_ERR_NOMEM, "sampler: out of memory");
    cn_status st = cn_class_counts(labels, n, num_classes, counts, err);
    if (st != CN_OK) {
        cn_free(counts);
        return st;
    }
    *out = counts;
    return CN_OK;
}

cn_status cn_class_weights_balanced(const int *labels, int n, int num_classes,
                                    cn_real *weight, cn_error *err) {
    if (n < 1 || !weight)
        return cn_error_set(err, CN_ERR_ARG, "class weights: need n >= 1 (got %d) and a "
                                             "weight buffer", n);
    int *counts;
    cn_status st = counts_new(labels, n, num_classes, &counts, err);
    if (st != CN_OK) return st;
    int k = 0;
    for (int c = 0; c < num_classes; c++) k += counts[c] > 0;
    for (int c = 0; c < num_classes; c++)
        weight[c] = counts[c] > 0 ? (cn_real)((double)n / ((double)k * counts[c])) : 0;
    cn_free(counts);
    return CN_OK;
}

/* class_members: members (n) grouped by class (class c at start[c] ..
 * start[c + 1]), positions ascending within a class. start (num_classes + 1). */
static void class_members(const int *labels, int n, int num_classes, const int *counts,
                          int *start, int *members) {
    start[0] = 0;
    for (int c = 0; c < num_classes; c++) start[c + 1] = start[c] + counts[c];
    int *fill = start + num_classes + 1; // (num_classes) scratch after start
    memcpy(fill, start, (size_t)num_classes * sizeof *fill);
    for (int i = 0; i < n; i++) members[fill[labels[i]]++] = i;
}

/* grouping: counts, class starts and grouped members in one allocation. */
typedef struct grouping {
    int *counts;  /* (num_classes) */
    int *start;   /* (num_classes + 1), followed by num_classes ints of scratch */
    int *members; /* (n) */
    int *present; /* (num_classes) ids of the classes with count > 0 */
    int k;        /* number of present classes */
} grouping;

static void grouping_free(grouping *g) {
    cn_free(g->counts);
    memset(g, 0, sizeof *g);
}

static cn_status grouping_new(const int *labels, int n, int num_classes, grouping *g,
                              cn_error *err) {
    memset(g, 0, sizeof *g);
    if (n < 1 || num_classes < 1)
        return cn_error_set(err, CN_ERR_ARG, "sampler: need n >= 1 (got %d) and num_classes "
                                             ">= 1 (got %d)", n, num_classes);
    size_t m = (size_t)num_classes * 4 + 1 + (size_t)n;
    int *blk = cn_malloc(m * sizeof *blk);
    if (!blk) return cn_error_set(err, CN_ERR_NOMEM, "sampler: out of memory");
    g->counts = blk;
    g->start = blk + num_classes;
    g->present = g->start + 2 * (size_t)num_classes + 1;
    g->members = g->present + num_classes;
    cn_status st = cn_class_counts(labels, n, num_classes, g->counts, err);
    if (st != CN_OK) {
        grouping_free(g);
        return st;
    }
    class_members(labels, n, num_classes, g->counts, g->start, g->members);
    for (int c = 0; c < num_classes; c++)
        if (g->counts[c] > 0) g->present[g->k++] = c;
    return CN_OK;
}

cn_status cn_sample_balanced(const int *labels, int n, int num_classes, int n_draws,
                             cn_rng *rng, int *out, cn_error *err) {
    if (n_draws < 0 || !rng || (n_draws > 0 && !out))
        return cn_error_set(err, CN_ERR_ARG, "balanced sampling: bad arguments (n_draws=%d)",
                            n_draws);
    grouping g;
    cn_status st = grouping_new(labels, n, num_classes, &g, err);
    if (st != CN_OK) {
        cn_error_prefix(err, "balanced sampling: ");
        return st;
    }
    for (int i = 0; i < n_draws; i++) {
        int c = g.present[cn_rng_below(rng, (uint32_t)g.k)];
        out[i] = g.members[g.start[c] + (int)cn_rng_below(rng, (uint32_t)g.counts[c])];
    }
    grouping_free(&g);
    return CN_OK;
}

/* emit_multiplicity: write position i mult[i] times, ascending, into a new
 * cn_malloc'd array of total entries. */
static cn_status emit_multiplicity(const int *mult, int n, size_t total, const char *what,
                                   int **out, int *n_out, cn_error *err) {
    int *res = cn_malloc((total > 0 ? total : 1) * sizeof *res); // (total)
    if (!res) return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", what);
    size_t j = 0;
    for (int i = 0; i < n; i++)
        for (int r = 0; r < mult[i]; r++) res[j++] = i;
    CN_ASSERT(j == total);
    *out = res;
    *n_out = (int)total;
    return CN_OK;
}

/* resample: the shared body of over- (over != 0) and under-sampling. */
static cn_status resample(const int *labels, int n, int num_classes, cn_rng *rng, int over,
                          int **out, int *n_out, cn_error *err) {
    const char *what = over ? "over-sampling" : "under-sampling";
    if (!out || !n_out || !rng)
        return cn_error_set(err, CN_ERR_ARG, "%s: NULL argument", what);
    *out = NULL;
    *n_out = 0;
    grouping g;
    cn_status st = grouping_new(labels, n, num_classes, &g, err);
    if (st != CN_OK) {
        cn_error_prefix(err, "%s: ", what);
        return st;
    }
    int target = over ? 0 : INT_MAX;
    for (int j = 0; j < g.k; j++) {
        int cnt = g.counts[g.present[j]];
        target = over ? (cnt > target ? cnt : target) : (cnt < target ? cnt : target);
    }
    size_t total = (size_t)g.k * (size_t)target;
    if (total > INT_MAX) {
        grouping_free(&g);
        return cn_error_set(err, CN_ERR_RANGE, "%s: %d classes x %d samples exceeds INT_MAX",
                            what, g.k, target);
    }
    int *mult = cn_calloc((size_t)n, sizeof *mult); // (n) copies of each position
    if (!mult) {
        grouping_free(&g);
        return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", what);
    }
    for (int j = 0; j < g.k; j++) {
        int c = g.present[j], cnt = g.counts[c];
        int *mem = g.members + g.start[c]; // (cnt)
        if (over) {
            for (int i = 0; i < cnt; i++) mult[mem[i]] = 1;
            for (int r = cnt; r < target; r++) mult[mem[cn_rng_below(rng, (uint32_t)cnt)]]++;
        } else {
            /* partial Fisher-Yates: the first target entries become a uniform
             * random subset of the class */
            for (int i = 0; i < target; i++) {
                int s = i + (int)cn_rng_below(rng, (uint32_t)(cnt - i));
                int t = mem[i];
                mem[i] = mem[s];
                mem[s] = t;
                mult[mem[i]] = 1;
            }
        }
    }
    st = emit_multiplicity(mult, n, total, what, out, n_out, err);
    cn_free(mult);
    grouping_free(&g);
    return st;
}

cn_status cn_oversample(const int *labels, int n, int num_classes, cn_rng *rng, int **out,
                        int *n_out, cn_error *err) {
    return resample(labels, n, num_classes, rng, 1, out, n_out, err);
}

cn_status cn_undersample(const int *labels, int n, int num_classes, cn_rng *rng, int **out,
                         int *n_out, cn_error *err) {
    return resample(labels, n, num_classes, rng, 0, out, n_out, err);
}

cn_status cn_kfold_assign(int n, int k, uint64_t seed, int *fold, cn_error *err) {
    if (k < 2 || k > n || !fold)
        return cn_error_set(err, CN_ERR_ARG, "k-fold: need 2 <= k <= n (k=%d, n=%d)", k, n);
    int *perm = cn_malloc((size_t)n * sizeof *perm); // (n)
    if (!perm) return cn_error_set(err, CN_ERR_NOMEM, "k-fold: out of memory");
    for (int i = 0; i < n; i++) perm[i] = i;
    cn_rng rng;
    cn_rng_seed(&rng, seed, KFOLD_STREAM);
    cn_rng_shuffle(&rng, perm, (size_t)n);
    for (int i = 0; i < n; i++) fold[perm[i]] = i % k;
    cn_free(perm);
    return CN_OK;
}

cn_status cn_kfold_assign_stratified(const int *labels, int n, int num_classes, int k,
                                     uint64_t seed, int *fold, cn_error *err) {
    if (k < 2 || k > n || !fold)
        return cn_error_set(err, CN_ERR_ARG, "stratified k-fold: need 2 <= k <= n (k=%d, n=%d)",
                            k, n);
    grouping g;
    cn_status st = grouping_new(labels, n, num_classes, &g, err);
    if (st != CN_OK) {
        cn_error_prefix(err, "stratified k-fold: ");
        return st;
    }
    cn_rng rng;
    cn_rng_seed(&rng, seed, KFOLD_STREAM + 1);
    /* members are grouped class after class; shuffling within each class and
     * dealing the whole sequence round-robin gives every fold count_c / k of each
     * class (floor or ceil) and fold sizes within 1 of each other */
    for (int c = 0; c < num_classes; c++)
        cn_rng_shuffle(&rng, g.members + g.start[c], (size_t)g.counts[c]);
    for (int i = 0; i < n; i++) fold[g.members[i]] = i % k;
    grouping_free(&g);
    return CN_OK;
}

cn_status cn_kfold_split(const int *fold, int n, int f, int *train, int *n_train, int *val,
                         int *n_val, cn_error *err) {
    if (n < 0 || f < 0 || (n > 0 && (!fold || !train || !val)) || !n_train || !n_val)
        return cn_error_set(err, CN_ERR_ARG, "k-fold split: bad arguments (n=%d, fold %d)", n,
                            f);
    int nt = 0, nv = 0;
    for (int i = 0; i < n; i++) {
        if (fold[i] < 0)
            return cn_error_set(err, CN_ERR_RANGE, "k-fold split: record %d: fold id %d < 0",
                                i, fold[i]);
        if (fold[i] == f)
            val[nv++] = i;
        else
            train[nt++] = i;
    }
    *n_train = nt;
    *n_val = nv;
    return CN_OK;
}
