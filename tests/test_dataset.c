/* tests/test_dataset.c: the dataset room: creation and class names, loading the
 * real Fashion-MNIST files and IDX folders (classes.txt, .gz fallback), subsets,
 * seeded stratified splits (determinism, disjointness, sizes, class balance) and
 * normalisation fitted on the training split only. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "convnet/data.h"
#include "support.h"

#ifdef CN_DOUBLE
#define TOL 1e-12
#else
#define TOL 2e-6
#endif

static const char *const fashion[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                        "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                        "Bag",         "Ankle boot"};

/* ------------------------------------------------------------------ helpers */

static char tmp_dir[256];

static void make_tmp_dir_named(const char *tag) {
    cr_assert_eq(tst_tmpdir_make(tmp_dir, sizeof tmp_dir, tag), 0, "mkdtemp failed");
}

static void make_tmp_dir(void) { make_tmp_dir_named("ds"); }

static void remove_tmp_dir(void) {
    tst_tmpdir_remove(tmp_dir);
    tmp_dir[0] = '\0';
}

TestSuite(dataset, .init = make_tmp_dir, .fini = remove_tmp_dir);
TestSuite(real);
TestSuite(split);
TestSuite(norm);

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void write_bytes(const char *name, const uint8_t *b, size_t len, int gz) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    if (gz) {
        gzFile g = gzopen(path, "wb");
        cr_assert_not_null(g);
        cr_assert_eq(gzwrite(g, b, (unsigned)len), (int)len);
        cr_assert_eq(gzclose(g), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(b, 1, len, f), len);
        cr_assert_eq(fclose(f), 0);
    }
}

/* write_idx_split: prefix-{images,labels} of n 28x28 images (pixel i = i % 256)
 * with label r = r % 10, plain or gzipped. */
static void write_idx_split(const char *prefix, uint32_t n, int gz) {
    size_t payload = (size_t)n * 28 * 28;
    uint8_t *b = malloc(16 + payload);
    b[0] = 0; b[1] = 0; b[2] = 8; b[3] = 3;
    put_be32(b + 4, n);
    put_be32(b + 8, 28);
    put_be32(b + 12, 28);
    for (size_t i = 0; i < payload; i++) b[16 + i] = (uint8_t)(i % 256);
    char name[128];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", prefix, gz ? ".gz" : "");
    write_bytes(name, b, 16 + payload, gz);
    b[3] = 1;
    for (uint32_t r = 0; r < n; r++) b[8 + r] = (uint8_t)(r % 10);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", prefix, gz ? ".gz" : "");
    write_bytes(name, b, 8 + n, gz);
    free(b);
}

static void write_text(const char *name, const char *text) {
    write_bytes(name, (const uint8_t *)text, strlen(text), 0);
}

/* ------------------------------------------------------------------ basics */

Test(dataset, new_defaults_and_free) {
    cn_error err;
    cn_dataset *ds = cn_dataset_new(5, 3, 4, 2, 7, &err);
    cr_assert_not_null(ds, "%s", err.msg);
    cr_assert_eq(ds->n, 5);
    cr_assert_eq(ds->c, 3);
    cr_assert_eq(ds->h, 4);
    cr_assert_eq(ds->w, 2);
    cr_assert_eq(ds->num_classes, 7);
    cr_assert_eq(ds->images->numel, (size_t)5 * 3 * 4 * 2);
    cr_assert_eq(ds->images->ndim, 4);
    cr_assert_eq(cn_dataset_flat(ds), ds->images->data);
    for (size_t i = 0; i < ds->images->numel; i++) cr_assert_eq(ds->images->data[i], 0);
    for (int i = 0; i < 5; i++) cr_assert_eq(ds->labels[i], 0);
    char want[16];
    for (int k = 0; k < 7; k++) {
        snprintf(want, sizeof want, "%d", k);
        cr_assert_str_eq(ds->class_names[k], want);
    }
    cn_dataset_free(ds);
    cn_dataset_free(NULL);
    ds = cn_dataset_new(0, 1, 1, 1, 1, &err);
    cr_assert_not_null(ds, "an empty dataset is valid: %s", err.msg);
    cn_dataset_free(ds);
}

Test(dataset, new_rejects_bad_sizes) {
    cn_error err;
    cr_assert_null(cn_dataset_new(-1, 1, 1, 1, 2, &err));
    cr_assert_eq(err.code, CN_ERR_ARG);
    cr_assert_null(cn_dataset_new(2, 0, 1, 1, 2, &err));
    cr_assert_null(cn_dataset_new(2, 1, 1, 1, 0, &err));
    cr_assert_eq(err.code, CN_ERR_ARG);
}

Test(dataset, set_class_names_copies) {
    cn_error err;
    cn_dataset *ds = cn_dataset_new(1, 1, 2, 2, 3, &err);
    char a[] = "cat", b[] = "dog", c[] = "ship";
    const char *names[3] = {a, b, c};
    cr_assert_eq(cn_dataset_set_class_names(ds, names, 3, &err), CN_OK, "%s", err.msg);
    a[0] = 'X';
    cr_assert_str_eq(ds->class_names[0], "cat");
    cr_assert_str_eq(ds->class_names[2], "ship");
    cr_assert_eq(cn_dataset_set_class_names(ds, names, 2, &err), CN_ERR_ARG);
    cr_assert_str_eq(ds->class_names[1], "dog", "a failed call keeps the old names");
    const char *with_null[3] = {"a", NULL, "c"};
    cr_assert_eq(cn_dataset_set_class_names(ds, with_null, 3, &err), CN_ERR_ARG);
    cn_dataset_free(ds);
}

/* ------------------------------------------------------------------ IDX folders */

Test(dataset, load_folder_plain_and_gz) {
    write_idx_split("train", 30, 0);
    write_idx_split("t10k", 12, 1);
    cn_dataset *ds = NULL;
    cn_error err;
    cr_assert_eq(cn_dataset_load_idx(tmp_dir, "train", 1, &ds, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(ds->n, 30);
    cr_assert_eq(ds->c, 1);
    cr_assert_eq(ds->h, 28);
    cr_assert_eq(ds->w, 28);
    cr_assert_eq(ds->num_classes, 10);
    for (size_t i = 0; i < ds->images->numel; i++)
        cr_assert_eq(ds->images->data[i], (cn_real)(i % 256) / (cn_real)255);
    for (int r = 0; r < 30; r++) cr_assert_eq(ds->labels[r], r % 10);
    /* No classes.txt and no "fashion" in the path: "0".."9". */
    cr_assert_str_eq(ds->class_names[0], "0");
    cr_assert_str_eq(ds->class_names[9], "9");
    cn_dataset_free(ds);
    cr_assert_eq(cn_dataset_load_idx(tmp_dir, "test", 1, &ds, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(ds->n, 12);
    cn_dataset_free(ds);
}

Test(dataset, load_folder_errors) {
    cn_dataset *ds = NULL;
    cn_error err;
    cr_assert_eq(cn_dataset_load_idx(tmp_dir, "train", 1, &ds, &err), CN_ERR_IO);
    cr_assert_not_null(strstr(err.msg, "train-images-idx3-ubyte"), "%s", err.msg);
    cr_assert_null(ds);
    write_idx_split("train", 3, 0);
    cr_assert_eq(cn_dataset_load_idx(tmp_dir, "validation", 1, &ds, &err), CN_ERR_ARG);
    cr_assert_not_null(strstr(err.msg, "validation"), "%s", err.msg);
    cr_assert_eq(cn_dataset_load_idx(tmp_dir, "test", 1, &ds, &err), CN_ERR_IO);
    cr_assert_null(ds);
}

Test(dataset, classes_txt) {
    write_idx_split("train", 10, 0);
    write_text("classes.txt", "zero\r\none\ntwo\nthree  \nfour\nfive\nsix\nseven\neight\n"
                              "nine nine\n\n");
    cn_dataset *ds = NULL;
    cn_error err;
    cr_assert_eq(cn_dataset_load_idx(tmp_dir, "train", 1, &ds, &err), CN_OK, "%s", err.msg);
    cr_assert_str_eq(ds->class_names[0], "zero");
    cr_assert_str_eq(ds->class_names[3], "three");
    cr_assert_str_eq(ds->class_names[9], "nine nine");
    cn_dataset_free(ds);
    write_text("classes.txt", "a\nb\nc\n");
    cr_assert_eq(cn_dataset_load_idx(tmp_dir, "train", 1, &ds, &err), CN_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "classes.txt"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "3 class names, expected 10"), "%s", err.msg);
    cr_assert_null(ds);
    write_text("classes.txt", "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n");
    cr_assert_eq(cn_dataset_load_idx(tmp_dir, "train", 1, &ds, &err), CN_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "classes.txt:11"), "%s", err.msg);
}

Test(dataset, fashion_in_path_gives_fashion_names) {
    remove_tmp_dir();
    make_tmp_dir_named("FaShIoN");
    write_idx_split("train", 10, 1);
    cn_dataset *ds = NULL;
    cn_error err;
    cr_assert_eq(cn_dataset_load_idx(tmp_dir, "train", 1, &ds, &err), CN_OK, "%s", err.msg);
    for (int k = 0; k < 10; k++) cr_assert_str_eq(ds->class_names[k], fashion[k]);
    cn_dataset_free(ds);
}

/* ------------------------------------------------------------------ real data */

static int have_fashion(void) {
    struct stat st;
    return stat(CN_FASHION_MNIST_DIR, &st) == 0 && S_ISDIR(st.st_mode);
}

Test(real, fashion_mnist_train) {
    if (!have_fashion()) cr_skip_test("%s is missing", CN_FASHION_MNIST_DIR);
    cn_dataset *ds = NULL;
    cn_error err;
    cr_assert_eq(cn_dataset_load_idx(CN_FASHION_MNIST_DIR, "train", 1, &ds, &err), CN_OK,
                 "%s", err.msg);
    cr_assert_eq(ds->n, 60000);
    cr_assert_eq(ds->c, 1);
    cr_assert_eq(ds->h, 28);
    cr_assert_eq(ds->w, 28);
    cr_assert_eq(ds->num_classes, 10);
    for (int k = 0; k < 10; k++) cr_assert_str_eq(ds->class_names[k], fashion[k]);
    int count[10] = {0};
    for (int i = 0; i < ds->n; i++) {
        cr_assert(ds->labels[i] >= 0 && ds->labels[i] < 10);
        count[ds->labels[i]]++;
    }
    for (int k = 0; k < 10; k++) cr_assert_eq(count[k], 6000, "class %d: %d", k, count[k]);
    const cn_real *x = cn_dataset_flat(ds);
    cn_real lo = 1, hi = 0;
    for (size_t i = 0; i < ds->images->numel; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    cr_assert(lo >= 0 && hi <= 1, "pixels in [%g, %g]", (double)lo, (double)hi);
    cr_assert_eq(lo, 0);
    cr_assert_eq(hi, 1);
    cn_dataset_free(ds);
}

Test(real, fashion_mnist_test_matches_raw_bytes) {
    if (!have_fashion()) cr_skip_test("%s is missing", CN_FASHION_MNIST_DIR);
    cn_dataset *ds = NULL;
    cn_error err;
    cr_assert_eq(cn_dataset_load_idx(CN_FASHION_MNIST_DIR, "test", 1, &ds, &err), CN_OK,
                 "%s", err.msg);
    cr_assert_eq(ds->n, 10000);
    int count[10] = {0};
    for (int i = 0; i < ds->n; i++) count[ds->labels[i]]++;
    for (int k = 0; k < 10; k++) cr_assert_eq(count[k], 1000);
    cn_idx raw;
    cr_assert_eq(cn_idx_read(CN_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz", 3, &raw, &err),
                 CN_OK, "%s", err.msg);
    cr_assert_eq(raw.count, ds->images->numel);
    for (size_t i = 0; i < raw.count; i++)
        cr_assert_eq(ds->images->data[i], (cn_real)raw.data[i] / (cn_real)255);
    cn_idx_free(&raw);

    /* Channel normalisation fitted on this set: mean ~0, std ~1 afterwards. */
    cn_norm nm;
    cr_assert_eq(cn_norm_fit(ds, CN_NORM_CHANNEL, &nm, &err), CN_OK, "%s", err.msg);
    cr_assert(nm.mean[0] > 0.2 && nm.mean[0] < 0.4, "mean %g", (double)nm.mean[0]);
    cr_assert(nm.std[0] > 0.25 && nm.std[0] < 0.45, "std %g", (double)nm.std[0]);
    cr_assert_eq(cn_norm_apply(&nm, ds, &err), CN_OK, "%s", err.msg);
    double s = 0, q = 0;
    for (size_t i = 0; i < ds->images->numel; i++) {
        s += ds->images->data[i];
        q += (double)ds->images->data[i] * ds->images->data[i];
    }
    double m = s / (double)ds->images->numel, v = q / (double)ds->images->numel - m * m;
    cr_assert_lt(fabs(m), 1e-4, "mean %g", m);
    cr_assert_lt(fabs(sqrt(v) - 1), 1e-4, "std %g", sqrt(v));
    cn_norm_free(&nm);
    cn_dataset_free(ds);
}

/* ------------------------------------------------------------------ subset, split */

/* make_labelled: n records of (1, 2, 2) whose first pixel is the record id, with
 * labels from counts[k] records of class k (interleaved deterministically). */
static cn_dataset *make_labelled(const int *counts, int nc) {
    int n = 0;
    for (int k = 0; k < nc; k++) n += counts[k];
    cn_error err;
    cn_dataset *ds = cn_dataset_new(n, 1, 2, 2, nc, &err);
    cr_assert_not_null(ds, "%s", err.msg);
    int left[16];
    memcpy(left, counts, (size_t)nc * sizeof *left);
    int k = 0;
    for (int i = 0; i < n; i++) {
        while (left[k] == 0) k = (k + 1) % nc;
        ds->labels[i] = k;
        left[k]--;
        k = (k + 1) % nc;
        for (int p = 0; p < 4; p++) ds->images->data[(size_t)i * 4 + p] = (cn_real)(i + p);
    }
    return ds;
}

static int record_id(const cn_dataset *ds, int i) { return (int)ds->images->data[(size_t)i * 4]; }

Test(split, subset_copies_and_checks_range) {
    int counts[3] = {4, 3, 3};
    cn_dataset *src = make_labelled(counts, 3);
    const char *names[3] = {"a", "b", "c"};
    cn_error err;
    cr_assert_eq(cn_dataset_set_class_names(src, names, 3, &err), CN_OK);
    int idx[4] = {9, 0, 9, 5};
    cn_dataset *sub = NULL;
    cr_assert_eq(cn_dataset_subset(src, idx, 4, &sub, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(sub->n, 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(record_id(sub, i), idx[i]);
        cr_assert_eq(sub->labels[i], src->labels[idx[i]]);
        for (int p = 0; p < 4; p++)
            cr_assert_eq(sub->images->data[i * 4 + p], (cn_real)(idx[i] + p));
    }
    cr_assert_str_eq(sub->class_names[2], "c");
    cn_dataset_free(sub);

    int bad1[2] = {0, 10}, bad2[1] = {-1};
    sub = (cn_dataset *)1;
    cr_assert_eq(cn_dataset_subset(src, bad1, 2, &sub, &err), CN_ERR_RANGE);
    cr_assert_null(sub);
    cr_assert_not_null(strstr(err.msg, "index 10"), "%s", err.msg);
    cr_assert_eq(cn_dataset_subset(src, bad2, 1, &sub, &err), CN_ERR_RANGE);
    cr_assert_eq(cn_dataset_subset(src, idx, -1, &sub, &err), CN_ERR_RANGE);
    cr_assert_eq(cn_dataset_subset(src, NULL, 0, &sub, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(sub->n, 0);
    cn_dataset_free(sub);
    cn_dataset_free(src);
}

/* check_split: sizes, disjointness and coverage of the two parts. */
static void check_split(const cn_dataset *src, const cn_dataset *tr, const cn_dataset *va,
                        int n_val) {
    cr_assert_eq(va->n, n_val);
    cr_assert_eq(tr->n, src->n - n_val);
    int *seen = calloc((size_t)src->n, sizeof *seen);
    for (int i = 0; i < tr->n; i++) seen[record_id(tr, i)]++;
    for (int i = 0; i < va->n; i++) seen[record_id(va, i)]++;
    for (int i = 0; i < src->n; i++) cr_assert_eq(seen[i], 1, "record %d seen %d times", i, seen[i]);
    free(seen);
    for (int i = 0; i < tr->n; i++) cr_assert_eq(tr->labels[i], src->labels[record_id(tr, i)]);
    for (int i = 0; i < va->n; i++) cr_assert_eq(va->labels[i], src->labels[record_id(va, i)]);
}

Test(split, sizes_disjoint_balanced) {
    int counts[4] = {300, 300, 300, 300};
    cn_dataset *src = make_labelled(counts, 4);
    cn_dataset *tr = NULL, *va = NULL;
    cn_error err;
    cr_assert_eq(cn_dataset_split(src, 200, 42, &tr, &va, &err), CN_OK, "%s", err.msg);
    check_split(src, tr, va, 200);
    int cv[4] = {0}, ct[4] = {0};
    for (int i = 0; i < va->n; i++) cv[va->labels[i]]++;
    for (int i = 0; i < tr->n; i++) ct[tr->labels[i]]++;
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(cv[k], 50);
        cr_assert_eq(ct[k], 250);
    }
    cn_dataset_free(tr);
    cn_dataset_free(va);
    cn_dataset_free(src);
}

Test(split, unbalanced_classes_largest_remainder) {
    /* 50/30/20 records, 25 for validation: quotas 12.5, 7.5, 5 -> 13, 7, 5 (the tie
     * of remainders goes to the lower class). */
    int counts[3] = {50, 30, 20};
    cn_dataset *src = make_labelled(counts, 3);
    cn_dataset *tr = NULL, *va = NULL;
    cn_error err;
    cr_assert_eq(cn_dataset_split(src, 25, 7, &tr, &va, &err), CN_OK, "%s", err.msg);
    check_split(src, tr, va, 25);
    int cv[3] = {0};
    for (int i = 0; i < va->n; i++) cv[va->labels[i]]++;
    cr_assert_eq(cv[0], 13);
    cr_assert_eq(cv[1], 7);
    cr_assert_eq(cv[2], 5);
    cn_dataset_free(tr);
    cn_dataset_free(va);
    /* 1 validation record out of 100 and 99 out of 100: totals stay exact. */
    cr_assert_eq(cn_dataset_split(src, 1, 7, &tr, &va, &err), CN_OK, "%s", err.msg);
    check_split(src, tr, va, 1);
    cr_assert_eq(va->labels[0], 0);
    cn_dataset_free(tr);
    cn_dataset_free(va);
    cr_assert_eq(cn_dataset_split(src, 99, 7, &tr, &va, &err), CN_OK, "%s", err.msg);
    check_split(src, tr, va, 99);
    cn_dataset_free(tr);
    cn_dataset_free(va);
    cn_dataset_free(src);
}

Test(split, deterministic_for_a_seed) {
    int counts[5] = {40, 40, 40, 40, 40};
    cn_dataset *src = make_labelled(counts, 5);
    cn_dataset *t1, *v1, *t2, *v2, *t3, *v3;
    cn_error err;
    cr_assert_eq(cn_dataset_split(src, 50, 123, &t1, &v1, &err), CN_OK);
    cr_assert_eq(cn_dataset_split(src, 50, 123, &t2, &v2, &err), CN_OK);
    cr_assert_eq(cn_dataset_split(src, 50, 124, &t3, &v3, &err), CN_OK);
    int same = 1, differs = 0;
    for (int i = 0; i < 50; i++) {
        same &= record_id(v1, i) == record_id(v2, i);
        differs |= record_id(v1, i) != record_id(v3, i);
    }
    for (int i = 0; i < t1->n; i++) same &= record_id(t1, i) == record_id(t2, i);
    cr_assert(same, "the same seed must give the same split");
    cr_assert(differs, "another seed should give another split");
    /* Records keep their original order within each part. */
    for (int i = 1; i < v1->n; i++) cr_assert_lt(record_id(v1, i - 1), record_id(v1, i));
    for (int i = 1; i < t1->n; i++) cr_assert_lt(record_id(t1, i - 1), record_id(t1, i));
    cn_dataset_free(t1); cn_dataset_free(v1);
    cn_dataset_free(t2); cn_dataset_free(v2);
    cn_dataset_free(t3); cn_dataset_free(v3);
    cn_dataset_free(src);
}

Test(split, bad_arguments) {
    int counts[2] = {5, 5};
    cn_dataset *src = make_labelled(counts, 2);
    cn_dataset *tr = (cn_dataset *)1, *va = (cn_dataset *)1;
    cn_error err;
    cr_assert_eq(cn_dataset_split(src, 0, 1, &tr, &va, &err), CN_ERR_ARG);
    cr_assert_null(tr);
    cr_assert_null(va);
    cr_assert_eq(cn_dataset_split(src, 10, 1, &tr, &va, &err), CN_ERR_ARG);
    cr_assert_eq(cn_dataset_split(src, -3, 1, &tr, &va, &err), CN_ERR_ARG);
    src->labels[3] = 2;
    cr_assert_eq(cn_dataset_split(src, 2, 1, &tr, &va, &err), CN_ERR_RANGE);
    cr_assert_not_null(strstr(err.msg, "record 3"), "%s", err.msg);
    cn_dataset_free(src);
}

/* ------------------------------------------------------------------ normalisation */

/* random_set: n records (c, h, w) of uniform values, per-channel offsets. */
static cn_dataset *random_set(int n, int c, int h, int w, uint64_t seed) {
    cn_error err;
    cn_dataset *ds = cn_dataset_new(n, c, h, w, 2, &err);
    cr_assert_not_null(ds);
    cn_rng r;
    cn_rng_seed(&r, seed, 1);
    size_t d = (size_t)c * h * w;
    for (int i = 0; i < n; i++)
        for (size_t p = 0; p < d; p++)
            ds->images->data[i * d + p] =
                (cn_real)(cn_rng_uniform(&r) * (1.0 + (double)p / (double)d) +
                          0.1 * (double)(p / ((size_t)h * w)));
    return ds;
}

static void assert_close(double got, double want, double tol, const char *what, size_t i) {
    cr_assert(fabs(got - want) <= tol * (1 + fabs(want)), "%s[%zu]: %.17g vs %.17g", what, i,
              got, want);
}

Test(norm, statistics_match_direct_computation) {
    const int n = 64, c = 2, h = 3, w = 4;
    cn_dataset *tr = random_set(n, c, h, w, 1);
    cn_norm nm;
    cn_error err;
    cr_assert_eq(cn_norm_fit(tr, CN_NORM_PIXEL, &nm, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(nm.mode, CN_NORM_PIXEL);
    cr_assert_eq(nm.c, c);
    cr_assert_eq(nm.h, h);
    cr_assert_eq(nm.w, w);
    const size_t d = (size_t)c * h * w, hw = (size_t)h * w;
    const cn_real *x = cn_dataset_flat(tr);
    for (size_t p = 0; p < d; p++) {
        double m = 0, v = 0;
        for (int i = 0; i < n; i++) m += x[i * d + p];
        m /= n;
        for (int i = 0; i < n; i++) v += (x[i * d + p] - m) * (x[i * d + p] - m);
        v /= n;
        assert_close(nm.mean_image[p], m, TOL, "mean_image", p);
        assert_close(nm.std_image[p], sqrt(v), TOL, "std_image", p);
    }
    for (int ch = 0; ch < c; ch++) {
        double m = 0, v = 0;
        for (int i = 0; i < n; i++)
            for (size_t p = 0; p < hw; p++) m += x[i * d + ch * hw + p];
        m /= (double)(n * hw);
        for (int i = 0; i < n; i++)
            for (size_t p = 0; p < hw; p++) {
                double dv = x[i * d + ch * hw + p] - m;
                v += dv * dv;
            }
        v /= (double)(n * hw);
        assert_close(nm.mean[ch], m, TOL, "mean", (size_t)ch);
        assert_close(nm.std[ch], sqrt(v), TOL, "std", (size_t)ch);
    }
    cn_norm_free(&nm);
    cr_assert_null(nm.mean);
    cn_norm_free(&nm);
    cn_dataset_free(tr);
}

/* check_apply: fit on train, apply to a copy of val, compare with the formula. */
static void check_apply(cn_norm_mode mode) {
    const int c = 3, h = 2, w = 5;
    const size_t d = (size_t)c * h * w, hw = (size_t)h * w;
    cn_dataset *tr = random_set(40, c, h, w, 2);
    cn_dataset *va = random_set(9, c, h, w, 3);
    cn_dataset *orig = random_set(9, c, h, w, 3);
    cn_norm nm;
    cn_error err;
    cr_assert_eq(cn_norm_fit(tr, mode, &nm, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_norm_apply(&nm, va, &err), CN_OK, "%s", err.msg);
    for (int i = 0; i < va->n; i++)
        for (size_t p = 0; p < d; p++) {
            double x = orig->images->data[i * d + p], want = x;
            size_t ch = p / hw;
            if (mode == CN_NORM_MEAN_IMAGE) want = x - nm.mean_image[p];
            if (mode == CN_NORM_CHANNEL) want = (x - nm.mean[ch]) / nm.std[ch];
            if (mode == CN_NORM_PIXEL) want = (x - nm.mean_image[p]) / (nm.std_image[p] + 1e-2);
            assert_close(va->images->data[i * d + p], want, 4 * TOL, cn_norm_mode_name(mode), p);
        }
    cn_norm_free(&nm);
    cn_dataset_free(tr);
    cn_dataset_free(va);
    cn_dataset_free(orig);
}

Test(norm, apply_none) { check_apply(CN_NORM_NONE); }
Test(norm, apply_mean_image) { check_apply(CN_NORM_MEAN_IMAGE); }
Test(norm, apply_channel) { check_apply(CN_NORM_CHANNEL); }
Test(norm, apply_pixel) { check_apply(CN_NORM_PIXEL); }

Test(norm, channel_mode_standardises_train_fit_on_train_only) {
    int counts[2] = {300, 300};
    cn_dataset *all = random_set(600, 2, 4, 4, 9);
    cn_dataset *lab = make_labelled(counts, 2);
    memcpy(all->labels, lab->labels, 600 * sizeof *all->labels);
    cn_dataset_free(lab);
    cn_dataset *tr, *va;
    cn_error err;
    cr_assert_eq(cn_dataset_split(all, 100, 5, &tr, &va, &err), CN_OK, "%s", err.msg);
    cn_norm nm;
    cr_assert_eq(cn_norm_fit(tr, CN_NORM_CHANNEL, &nm, &err), CN_OK, "%s", err.msg);
    cn_real m0 = nm.mean[1], s0 = nm.std[1];
    cr_assert_eq(cn_norm_apply(&nm, tr, &err), CN_OK);
    cr_assert_eq(cn_norm_apply(&nm, va, &err), CN_OK);
    /* The statistics are the training split's and applying them changes nothing. */
    cr_assert_eq(nm.mean[1], m0);
    cr_assert_eq(nm.std[1], s0);
    const size_t hw = 16, d = 32;
    for (int ch = 0; ch < 2; ch++) {
        double s = 0, q = 0;
        for (int i = 0; i < tr->n; i++)
            for (size_t p = 0; p < hw; p++) {
                double v = tr->images->data[i * d + ch * hw + p];
                s += v;
                q += v * v;
            }
        double cnt = (double)tr->n * hw, m = s / cnt, sd = sqrt(q / cnt - m * m);
        cr_assert_lt(fabs(m), 1e-5, "channel %d mean %g", ch, m);
        cr_assert_lt(fabs(sd - 1), 1e-5, "channel %d std %g", ch, sd);
    }
    cn_norm_free(&nm);
    cn_dataset_free(tr);
    cn_dataset_free(va);
    cn_dataset_free(all);
}

Test(norm, shape_mismatch) {
    cn_dataset *tr = random_set(4, 1, 4, 4, 1);
    cn_dataset *other = random_set(4, 1, 4, 5, 1);
    cn_dataset *chan = random_set(4, 3, 4, 4, 1);
    cn_norm nm;
    cn_error err;
    cr_assert_eq(cn_norm_fit(tr, CN_NORM_MEAN_IMAGE, &nm, &err), CN_OK);
    cr_assert_eq(cn_norm_apply(&nm, other, &err), CN_ERR_SHAPE);
    cr_assert_not_null(strstr(err.msg, "(1, 4, 5)"), "%s", err.msg);
    cr_assert_eq(cn_norm_apply(&nm, chan, &err), CN_ERR_SHAPE);
    cn_norm_free(&nm);
    cn_dataset *empty = cn_dataset_new(0, 1, 4, 4, 2, &err);
    cr_assert_eq(cn_norm_fit(empty, CN_NORM_CHANNEL, &nm, &err), CN_ERR_ARG);
    cn_dataset_free(empty);
    cn_dataset_free(tr);
    cn_dataset_free(other);
    cn_dataset_free(chan);
}

Test(norm, mode_names) {
    cn_error err;
    for (int m = 0; m < CN_NORM_MODE_COUNT; m++) {
        cn_norm_mode got;
        cr_assert_eq(cn_norm_mode_parse(cn_norm_mode_name((cn_norm_mode)m), &got, &err), CN_OK);
        cr_assert_eq(got, (cn_norm_mode)m);
    }
    cr_assert_str_eq(cn_norm_mode_name(CN_NORM_MEAN_IMAGE), "mean-image");
    cn_norm_mode got;
    cr_assert_eq(cn_norm_mode_parse("chanel", &got, &err), CN_ERR_ARG);
    cr_assert_not_null(strstr(err.msg, "chanel"), "%s", err.msg);
    cr_assert_eq(cn_norm_mode_parse(NULL, &got, &err), CN_ERR_ARG);
}
