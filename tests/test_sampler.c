/* tests/test_sampler.c: the samplers of convnet/loader.h, by their properties:
 * class counts and "balanced" class weights (the formula and sum_i w_{y_i} = n),
 * class-balanced sampling on a 1:10 imbalanced set (equal class frequencies
 * within 5 sigma over 100k draws, members of a class equally likely), random
 * over- and under-sampling (balanced counts, originals kept / no duplicates),
 * k-fold and stratified k-fold (folds partition the data, sizes within 1, class
 * proportions preserved), and the errors for bad arguments. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/loader.h"

#ifdef CN_DOUBLE
#define TOL 1e-12
#else
#define TOL 1e-6
#endif

/* labels_imbalanced: n0 records of class 0, then n1 of class 1, interleaved so
 * the classes are not contiguous. Returns a malloc'd (n0 + n1) array. */
static int *labels_imbalanced(int n0, int n1) {
    int n = n0 + n1;
    int *y = malloc((size_t)n * sizeof *y);
    cr_assert_not_null(y);
    for (int i = 0; i < n; i++) y[i] = 1;
    for (int i = 0; i < n0; i++) y[(int)((long)i * n / n0)] = 0;
    return y;
}

Test(sampler, kind_names_round_trip) {
    for (int k = 0; k < CN_SAMPLER_COUNT; k++) {
        cn_sampler_kind out;
        cr_assert_eq(cn_sampler_kind_parse(cn_sampler_kind_name((cn_sampler_kind)k), &out, NULL),
                     CN_OK);
        cr_assert_eq((int)out, k);
    }
    cn_error err;
    cn_sampler_kind out;
    cr_assert_eq(cn_sampler_kind_parse("balance", &out, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "balance") != NULL);
}

Test(sampler, class_counts_and_bad_label) {
    int y[] = {0, 2, 2, 1, 2, 0};
    int counts[3];
    cr_assert_eq(cn_class_counts(y, 6, 3, counts, NULL), CN_OK);
    cr_assert_eq(counts[0], 2);
    cr_assert_eq(counts[1], 1);
    cr_assert_eq(counts[2], 3);
    int bad[] = {0, 1, 3};
    cn_error err;
    cr_assert_eq(cn_class_counts(bad, 3, 3, counts, &err), CN_ERR_RANGE);
    cr_assert(strstr(err.msg, "record 2") != NULL, "%s", err.msg);
    int neg[] = {-1};
    cr_assert_eq(cn_class_counts(neg, 1, 3, counts, &err), CN_ERR_RANGE);
}

Test(sampler, class_weights_balanced_formula) {
    /* counts 10, 30, 60 (n = 100, k = 3), class 3 absent */
    int y[100];
    for (int i = 0; i < 100; i++) y[i] = i < 10 ? 0 : i < 40 ? 1 : 2;
    cn_real w[4];
    cr_assert_eq(cn_class_weights_balanced(y, 100, 4, w, NULL), CN_OK);
    cr_assert(fabs(w[0] - 100.0 / 30.0) < TOL * 10);
    cr_assert(fabs(w[1] - 100.0 / 90.0) < TOL * 10);
    cr_assert(fabs(w[2] - 100.0 / 180.0) < TOL * 10);
    cr_assert_eq(w[3], 0);
    /* property: every present class carries the same total weight, n / k */
    double sum = 0;
    for (int i = 0; i < 100; i++) sum += w[y[i]];
    cr_assert(fabs(sum - 100.0) < 1e-4, "sum %g", sum);
    /* a balanced set gets weight 1 everywhere */
    int yb[] = {0, 1, 2, 0, 1, 2};
    cr_assert_eq(cn_class_weights_balanced(yb, 6, 3, w, NULL), CN_OK);
    for (int c = 0; c < 3; c++) cr_assert(fabs(w[c] - 1.0) < TOL);
    cn_error err;
    cr_assert_eq(cn_class_weights_balanced(yb, 0, 3, w, &err), CN_ERR_ARG);
    cr_assert_eq(cn_class_weights_balanced(yb, 6, 2, w, &err), CN_ERR_RANGE);
}

Test(sampler, balanced_sampling_equalises_1_to_10) {
    int n0 = 100, n1 = 1000, n = n0 + n1, draws = 100000;
    int *y = labels_imbalanced(n0, n1);
    int *out = malloc((size_t)draws * sizeof *out);
    int *hits = calloc((size_t)n, sizeof *hits);
    cr_assert(out && hits);
    cn_rng rng;
    cn_rng_seed(&rng, 7, 1);
    cr_assert_eq(cn_sample_balanced(y, n, 2, draws, &rng, out, NULL), CN_OK);
    int c0 = 0;
    for (int i = 0; i < draws; i++) {
        cr_assert(out[i] >= 0 && out[i] < n);
        c0 += y[out[i]] == 0;
        hits[out[i]]++;
    }
    /* binomial(100000, 1/2): sigma = 158; 5 sigma */
    double sigma = sqrt(draws * 0.25);
    cr_assert(fabs(c0 - draws / 2.0) < 5 * sigma, "class 0 drawn %d of %d", c0, draws);
    /* members of a class equally likely: class-0 members expect 500 hits each
     * (sigma ~ 22), class-1 members 50 (sigma ~ 7); 6 sigma bands */
    for (int i = 0; i < n; i++) {
        double e = y[i] == 0 ? draws / 2.0 / n0 : draws / 2.0 / n1;
        double s = sqrt(e);
        cr_assert(fabs(hits[i] - e) < 6 * s, "record %d: %d hits, expected %g", i, hits[i], e);
    }
    /* without balancing the frequency would be 1/11: far outside the band */
    cr_assert(c0 > draws / 11 + 100 * sigma);
    free(out);
    free(hits);
    free(y);
}

Test(sampler, balanced_sampling_three_classes_and_absent_class) {
    int n = 1 + 10 + 100, draws = 60000;
    int *y = malloc((size_t)n * sizeof *y);
    int *out = malloc((size_t)draws * sizeof *out);
    cr_assert(y && out);
    for (int i = 0; i < n; i++) y[i] = i == 0 ? 3 : i <= 10 ? 0 : 1; /* class 2 absent */
    cn_rng rng;
    cn_rng_seed(&rng, 11, 2);
    cr_assert_eq(cn_sample_balanced(y, n, 4, draws, &rng, out, NULL), CN_OK);
    int cnt[4] = {0};
    for (int i = 0; i < draws; i++) cnt[y[out[i]]]++;
    cr_assert_eq(cnt[2], 0);
    double p = 1.0 / 3, sigma = sqrt(draws * p * (1 - p));
    for (int c = 0; c < 4; c++)
        if (c != 2) cr_assert(fabs(cnt[c] - draws * p) < 5 * sigma, "class %d: %d", c, cnt[c]);
    /* same rng state, same draws */
    int *again = malloc((size_t)draws * sizeof *again);
    cr_assert_not_null(again);
    cn_rng_seed(&rng, 11, 2);
    cr_assert_eq(cn_sample_balanced(y, n, 4, draws, &rng, again, NULL), CN_OK);
    cr_assert_eq(memcmp(out, again, (size_t)draws * sizeof *out), 0);
    free(again);
    free(out);
    free(y);
}

Test(sampler, oversample_balances_and_keeps_originals) {
    int n0 = 30, n1 = 300, n = n0 + n1;
    int *y = labels_imbalanced(n0, n1);
    cn_rng rng;
    cn_rng_seed(&rng, 3, 0);
    int *out = NULL, m = 0;
    cr_assert_eq(cn_oversample(y, n, 2, &rng, &out, &m, NULL), CN_OK);
    cr_assert_eq(m, 2 * n1);
    int cnt[2] = {0}, *seen = calloc((size_t)n, sizeof *seen);
    cr_assert_not_null(seen);
    for (int i = 0; i < m; i++) {
        cr_assert(out[i] >= 0 && out[i] < n);
        if (i > 0) cr_assert(out[i - 1] <= out[i], "not ascending at %d", i);
        cnt[y[out[i]]]++;
        seen[out[i]]++;
    }
    cr_assert_eq(cnt[0], n1);
    cr_assert_eq(cnt[1], n1);
    for (int i = 0; i < n; i++) {
        cr_assert(seen[i] >= 1, "record %d dropped", i);
        if (y[i] == 1) cr_assert_eq(seen[i], 1, "majority record %d duplicated", i);
    }
    cn_free(out);
    free(seen);
    free(y);
}

Test(sampler, undersample_balances_without_duplicates) {
    int n0 = 30, n1 = 300, n = n0 + n1;
    int *y = labels_imbalanced(n0, n1);
    cn_rng rng;
    cn_rng_seed(&rng, 4, 0);
    int *out = NULL, m = 0;
    cr_assert_eq(cn_undersample(y, n, 2, &rng, &out, &m, NULL), CN_OK);
    cr_assert_eq(m, 2 * n0);
    int cnt[2] = {0};
    for (int i = 0; i < m; i++) {
        cr_assert(out[i] >= 0 && out[i] < n);
        if (i > 0) cr_assert(out[i - 1] < out[i], "duplicate or unordered at %d", i);
        cnt[y[out[i]]]++;
    }
    cr_assert_eq(cnt[0], n0);
    cr_assert_eq(cnt[1], n0);
    /* a different rng state picks a different majority subset */
    int *out2 = NULL, m2 = 0;
    cr_assert_eq(cn_undersample(y, n, 2, &rng, &out2, &m2, NULL), CN_OK);
    cr_assert_eq(m2, m);
    cr_assert_neq(memcmp(out, out2, (size_t)m * sizeof *out), 0);
    cn_free(out2);
    cn_free(out);
    free(y);
}

Test(sampler, resampling_errors_leave_nothing) {
    int y[] = {0, 1, 5};
    cn_rng rng;
    cn_rng_seed(&rng, 1, 1);
    int *out = (int *)&rng, m = 9;
    cn_error err;
    cr_assert_eq(cn_oversample(y, 3, 2, &rng, &out, &m, &err), CN_ERR_RANGE);
    cr_assert_null(out);
    cr_assert_eq(m, 0);
    cr_assert(strstr(err.msg, "over-sampling") && strstr(err.msg, "record 2"), "%s", err.msg);
    cr_assert_eq(cn_undersample(y, 0, 2, &rng, &out, &m, &err), CN_ERR_ARG);
    cr_assert_null(out);
    int d[4];
    cr_assert_eq(cn_sample_balanced(y, 3, 2, 4, &rng, d, &err), CN_ERR_RANGE);
    cr_assert_eq(cn_sample_balanced(y, 3, 6, -1, &rng, d, &err), CN_ERR_ARG);
}

Test(sampler, kfold_partitions) {
    int n = 103, k = 5;
    int fold[103], fold2[103], train[103], val[103];
    cr_assert_eq(cn_kfold_assign(n, k, 42, fold, NULL), CN_OK);
    int size[5] = {0};
    for (int i = 0; i < n; i++) {
        cr_assert(fold[i] >= 0 && fold[i] < k);
        size[fold[i]]++;
    }
    for (int f = 0; f < k; f++) cr_assert(size[f] == n / k || size[f] == n / k + 1);
    /* the split of each fold partitions 0..n-1; validation sets are disjoint */
    int *owner = calloc((size_t)n, sizeof *owner);
    cr_assert_not_null(owner);
    for (int f = 0; f < k; f++) {
        int nt, nv;
        cr_assert_eq(cn_kfold_split(fold, n, f, train, &nt, val, &nv, NULL), CN_OK);
        cr_assert_eq(nt + nv, n);
        cr_assert_eq(nv, size[f]);
        char in_val[103] = {0};
        for (int i = 0; i < nv; i++) {
            cr_assert_eq(fold[val[i]], f);
            if (i > 0) cr_assert(val[i - 1] < val[i]);
            in_val[val[i]] = 1;
            owner[val[i]]++;
        }
        for (int i = 0; i < nt; i++) {
            cr_assert_neq(fold[train[i]], f);
            cr_assert(!in_val[train[i]]);
        }
    }
    for (int i = 0; i < n; i++) cr_assert_eq(owner[i], 1);
    free(owner);
    /* seeded: same seed, same folds; another seed, other folds */
    cr_assert_eq(cn_kfold_assign(n, k, 42, fold2, NULL), CN_OK);
    cr_assert_eq(memcmp(fold, fold2, sizeof fold), 0);
    cr_assert_eq(cn_kfold_assign(n, k, 43, fold2, NULL), CN_OK);
    cr_assert_neq(memcmp(fold, fold2, sizeof fold), 0);
    cn_error err;
    cr_assert_eq(cn_kfold_assign(n, 1, 0, fold, &err), CN_ERR_ARG);
    cr_assert_eq(cn_kfold_assign(3, 4, 0, fold, &err), CN_ERR_ARG);
    int badfold[] = {0, -2};
    int nt, nv;
    cr_assert_eq(cn_kfold_split(badfold, 2, 0, train, &nt, val, &nv, &err), CN_ERR_RANGE);
    cr_assert(strstr(err.msg, "record 1") != NULL, "%s", err.msg);
}

Test(sampler, stratified_kfold_preserves_proportions) {
    /* three classes of 7, 50 and 143 records (not multiples of k), shuffled */
    int n = 200, k = 4, nc = 3, count[3] = {7, 50, 143};
    int y[200], fold[200];
    for (int i = 0; i < n; i++) y[i] = i < 7 ? 0 : i < 57 ? 1 : 2;
    cn_rng rng;
    cn_rng_seed(&rng, 5, 5);
    cn_rng_shuffle(&rng, y, (size_t)n);
    cr_assert_eq(cn_kfold_assign_stratified(y, n, nc, k, 9, fold, NULL), CN_OK);
    int per[4][3] = {{0}}, size[4] = {0};
    for (int i = 0; i < n; i++) {
        cr_assert(fold[i] >= 0 && fold[i] < k);
        per[fold[i]][y[i]]++;
        size[fold[i]]++;
    }
    for (int f = 0; f < k; f++) {
        cr_assert(size[f] == n / k || size[f] == n / k + 1, "fold %d size %d", f, size[f]);
        for (int c = 0; c < nc; c++)
            cr_assert(per[f][c] == count[c] / k || per[f][c] == count[c] / k + 1,
                      "fold %d class %d: %d of %d", f, c, per[f][c], count[c]);
    }
    /* the training part of each fold keeps the proportions too (to within k) */
    int train[200], val[200], nt, nv;
    for (int f = 0; f < k; f++) {
        cr_assert_eq(cn_kfold_split(fold, n, f, train, &nt, val, &nv, NULL), CN_OK);
        int tc[3] = {0};
        for (int i = 0; i < nt; i++) tc[y[train[i]]]++;
        for (int c = 0; c < nc; c++)
            cr_assert(abs(tc[c] * n - count[c] * nt) <= k * n, "fold %d class %d", f, c);
    }
    int fold2[200];
    cr_assert_eq(cn_kfold_assign_stratified(y, n, nc, k, 9, fold2, NULL), CN_OK);
    cr_assert_eq(memcmp(fold, fold2, sizeof fold), 0);
    cn_error err;
    y[17] = 3;
    cr_assert_eq(cn_kfold_assign_stratified(y, n, nc, k, 9, fold2, &err), CN_ERR_RANGE);
    cr_assert(strstr(err.msg, "record 17") != NULL, "%s", err.msg);
    cr_assert_eq(cn_kfold_assign_stratified(y, n, 4, 201, 9, fold2, &err), CN_ERR_ARG);
}
