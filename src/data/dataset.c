/* src/data/dataset.c: the in-memory dataset (images as cn_real in [0, 1], integer
 * labels, class names): creation, class names, loading an IDX split from a folder
 * (MNIST / Fashion-MNIST layout), copying subsets and seeded stratified
 * train/validation splits. */
#include "convnet/data.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#define DS_IDX_CLASSES 10             /* IDX labels are digits 0..9 */
#define DS_CLASSES_FILE_MAX 65536     /* bytes read from classes.txt at most */
#define DS_CLASS_NAME_MAX 255         /* characters in one class name at most */
#define DS_SPLIT_STREAM 0x53504c4954ULL /* RNG stream of cn_dataset_split ("SPLIT") */

static const char *const fashion_names[DS_IDX_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

static void free_names(char **names, int k) {
    if (!names) return;
    for (int i = 0; i < k; i++) cn_free(names[i]);
    cn_free(names);
}

/* copy_names: a cn_malloc'd array of k cn_strdup'd names; NULL on failure. */
static char **copy_names(const char *const *names, int k) {
    char **out = cn_calloc((size_t)(k > 0 ? k : 1), sizeof *out);
    if (!out) return NULL;
    for (int i = 0; i < k; i++) {
        out[i] = cn_strdup(names[i]);
        if (!out[i]) {
            free_names(out, i);
            return NULL;
        }
    }
    return out;
}

cn_dataset *cn_dataset_new(int n, int c, int h, int w, int num_classes, cn_error *err) {
    if (n < 0 || c < 1 || h < 1 || w < 1 || num_classes < 1) {
        cn_error_set(err, CN_ERR_ARG,
                     "cn_dataset_new: bad sizes n=%d c=%d h=%d w=%d classes=%d (need n >= 0, "
                     "the others >= 1)", n, c, h, w, num_classes);
        return NULL;
    }
    cn_dataset *ds = cn_calloc(1, sizeof *ds);
    if (!ds) {
        cn_error_set(err, CN_ERR_NOMEM, "cn_dataset_new: out of memory");
        return NULL;
    }
    ds->n = n;
    ds->c = c;
    ds->h = h;
    ds->w = w;
    ds->num_classes = num_classes;
    ds->images = cn_tensor_new4(n, c, h, w, err);
    if (!ds->images) {
        cn_dataset_free(ds);
        return NULL;
    }
    ds->labels = cn_calloc((size_t)(n > 0 ? n : 1), sizeof *ds->labels); // (n)
    ds->class_names = cn_calloc((size_t)num_classes, sizeof *ds->class_names);
    if (!ds->labels || !ds->class_names) {
        cn_dataset_free(ds);
        cn_error_set(err, CN_ERR_NOMEM, "cn_dataset_new: out of memory");
        return NULL;
    }
    for (int k = 0; k < num_classes; k++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", k);
        ds->class_names[k] = cn_strdup(buf);
        if (!ds->class_names[k]) {
            cn_dataset_free(ds);
            cn_error_set(err, CN_ERR_NOMEM, "cn_dataset_new: out of memory");
            return NULL;
        }
    }
    return ds;
}

void cn_dataset_free(cn_dataset *ds) {
    if (!ds) return;
    cn_tensor_free(ds->images);
    cn_free(ds->labels);
    free_names(ds->class_names, ds->class_names ? ds->num_classes : 0);
    cn_free(ds);
}

cn_status cn_dataset_set_class_names(cn_dataset *ds, const char *const *names, int k,
                                     cn_error *err) {
    if (!ds || !names)
        return cn_error_set(err, CN_ERR_ARG, "cn_dataset_set_class_names: NULL argument");
    if (k != ds->num_classes)
        return cn_error_set(err, CN_ERR_ARG,
                            "cn_dataset_set_class_names: %d names given for %d classes", k,
                            ds->num_classes);
    for (int i = 0; i < k; i++)
        if (!names[i])
            return cn_error_set(err, CN_ERR_ARG,
                                "cn_dataset_set_class_names: name %d is NULL", i);
    char **copy = copy_names(names, k);
    if (!copy) return cn_error_set(err, CN_ERR_NOMEM, "cn_dataset_set_class_names: out of memory");
    free_names(ds->class_names, ds->num_classes);
    ds->class_names = copy;
    return CN_OK;
}

/* ------------------------------------------------------------------ IDX folders */

/* join_path: "dir/name[suffix]" into a new buffer; NULL on failure. */
static char *join_path(const char *dir, const char *name, const char *suffix) {
    size_t n = strlen(dir) + 1 + strlen(name) + strlen(suffix) + 1;
    char *p = cn_malloc(n);
    if (p) snprintf(p, n, "%s/%s%s", dir, name, suffix);
    return p;
}

/* find_idx_file: dir/name if it exists, else dir/name.gz; CN_ERR_IO if neither. */
static cn_status find_idx_file(const char *dir, const char *name, char **out, cn_error *err) {
    *out = NULL;
    char *plain = join_path(dir, name, "");
    char *gz = join_path(dir, name, ".gz");
    if (!plain || !gz) {
        cn_free(plain);
        cn_free(gz);
        return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", dir);
    }
    struct stat st;
    if (stat(plain, &st) == 0) {
        cn_free(gz);
        *out = plain;
        return CN_OK;
    }
    int plain_errno = errno;
    if (stat(gz, &st) == 0) {
        cn_free(plain);
        *out = gz;
        return CN_OK;
    }
    cn_error_set(err, CN_ERR_IO, "%s: %s (nor %s.gz)", plain, strerror(plain_errno), name);
    cn_free(plain);
    cn_free(gz);
    return CN_ERR_IO;
}

/* contains_fashion: 1 when s contains "fashion" in any case. */
static int contains_fashion(const char *s) {
    static const char word[] = "fashion";
    size_t len = sizeof word - 1;
    for (; *s; s++) {
        size_t i = 0;
        while (i < len && s[i] && tolower((unsigned char)s[i]) == word[i]) i++;
        if (i == len) return 1;
    }
    return 0;
}

/* read_classes_txt: names from dir/classes.txt, one per line (trailing spaces and
 * CR stripped, blank lines ignored). *found = 0 when the file does not exist.
 * The file must name exactly k classes. */
static cn_status read_classes_txt(const char *dir, cn_dataset *ds, int *found, cn_error *err) {
    *found = 0;
    char *path = join_path(dir, "classes.txt", "");
    if (!path) return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        cn_status st = CN_OK;
        if (errno != ENOENT)
            st = cn_error_set(err, CN_ERR_IO, "%s: %s", path, strerror(errno));
        cn_free(path);
        return st;
    }
    *found = 1;
    const int k = ds->num_classes;
    char *buf = cn_malloc(DS_CLASSES_FILE_MAX + 1);
    char **names = cn_calloc((size_t)k, sizeof *names);
    cn_status st = CN_OK;
    if (!buf || !names) st = cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", path);
    size_t len = 0;
    if (st == CN_OK) {
        len = fread(buf, 1, DS_CLASSES_FILE_MAX + 1, f);
        if (ferror(f))
            st = cn_error_set(err, CN_ERR_IO, "%s: read failed", path);
        else if (len > DS_CLASSES_FILE_MAX)
            st = cn_error_set(err, CN_ERR_RANGE, "%s: longer than %d bytes", path,
                              DS_CLASSES_FILE_MAX);
    }
    int got = 0, line = 1;
    size_t pos = 0;
    while (st == CN_OK && pos < len) {
        size_t end = pos;
        while (end < len && buf[end] != '\n') end++;
        size_t stop = end;
        while (stop > pos && isspace((unsigned char)buf[stop - 1])) stop--;
        size_t n = stop - pos;
        if (n > 0) {
            if (memchr(buf + pos, '\0', n)) {
                st = cn_error_set(err, CN_ERR_FORMAT, "%s:%d: NUL byte in class name", path,
                                  line);
            } else if (n > DS_CLASS_NAME_MAX) {
                st = cn_error_set(err, CN_ERR_RANGE, "%s:%d: class name longer than %d bytes",
                                  path, line, DS_CLASS_NAME_MAX);
            } else if (got >= k) {
                st = cn_error_set(err, CN_ERR_FORMAT, "%s:%d: more than %d class names", path,
                                  line, k);
            } else {
                names[got] = cn_malloc(n + 1);
                if (!names[got]) {
                    st = cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", path);
                } else {
                    memcpy(names[got], buf + pos, n);
                    names[got][n] = '\0';
                    got++;
                }
            }
        }
        pos = end + 1;
        line++;
    }
    if (st == CN_OK && got != k)
        st = cn_error_set(err, CN_ERR_FORMAT, "%s: %d class names, expected %d (one per line)",
                          path, got, k);
    if (st == CN_OK)
        st = cn_dataset_set_class_names(ds, (const char *const *)names, k, err);
    if (names) free_names(names, got);
    cn_free(buf);
    fclose(f);
    cn_free(path);
    return st;
}

/* bytes_to_unit: x[i] = b[i] / 255 (exact division, so 255 maps to exactly 1).
 * Blocks with a fixed inner trip count, so GCC vectorises it at -O2 too (its
 * default cost model there skips loops that need a scalar epilogue). */
static void bytes_to_unit(cn_real *restrict x, const uint8_t *restrict b, size_t n) {
    // x (n), b (n)
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (size_t j = 0; j < 16; j++) x[i + j] = (cn_real)b[i + j] / (cn_real)255;
    for (; i < n; i++) x[i] = (cn_real)b[i] / (cn_real)255;
}

/* fill_from_idx: check the pair of IDX files and convert them into a dataset. */
static cn_status fill_from_idx(const char *img_path, const cn_idx *img, const char *lab_path,
                               const cn_idx *lab, int require_28, cn_dataset **out,
                               cn_error *err) {
    if (img->dims[0] != lab->dims[0])
        return cn_error_set(err, CN_ERR_FORMAT,
                            "%s: byte 4: count mismatch: %u images but %s has %u labels",
                            img_path, (unsigned)img->dims[0], lab_path,
                            (unsigned)lab->dims[0]);
    if (require_28 && (img->dims[1] != 28 || img->dims[2] != 28))
        return cn_error_set(err, CN_ERR_SHAPE,
                            "%s: byte 8: images are %u x %u, the model expects 28 x 28",
                            img_path, (unsigned)img->dims[1], (unsigned)img->dims[2]);
    for (int i = 0; i < 3; i++)
        if (img->dims[i] > INT_MAX || (i > 0 && img->dims[i] == 0))
            return cn_error_set(err, CN_ERR_RANGE,
                                "%s: byte %d: dimension %d is %u (must be in 1..%d)", img_path,
                                4 + 4 * i, i, (unsigned)img->dims[i], INT_MAX);
    const uint8_t *lb = lab->data; // (n)
    for (size_t r = 0; r < lab->count; r++)
        if (lb[r] >= DS_IDX_CLASSES)
            return cn_error_set(err, CN_ERR_RANGE,
                                "%s: byte %zu: record %zu: label %u out of range [0, %d)",
                                lab_path, 8 + r, r, (unsigned)lb[r], DS_IDX_CLASSES);
    cn_dataset *ds = cn_dataset_new((int)img->dims[0], 1, (int)img->dims[1], (int)img->dims[2],
                                    DS_IDX_CLASSES, err);
    if (!ds) return err ? err->code : CN_ERR_NOMEM;
    bytes_to_unit(ds->images->data, img->data, img->count);
    for (size_t r = 0; r < lab->count; r++) ds->labels[r] = lb[r];
    *out = ds;
    return CN_OK;
}

cn_status cn_dataset_load_idx(const char *dir, const char *split, int require_28,
                              cn_dataset **out, cn_error *err) {
    CN_ASSERT(out != NULL);
    *out = NULL;
    if (!dir || !split) return cn_error_set(err, CN_ERR_ARG, "cn_dataset_load_idx: NULL argument");
    const char *prefix;
    if (strcmp(split, "train") == 0)
        prefix = "train";
    else if (strcmp(split, "test") == 0)
        prefix = "t10k";
    else
        return cn_error_set(err, CN_ERR_ARG, "%s: unknown split '%s' (expected train or test)",
                            dir, split);
    char img_name[64], lab_name[64];
    snprintf(img_name, sizeof img_name, "%s-images-idx3-ubyte", prefix);
    snprintf(lab_name, sizeof lab_name, "%s-labels-idx1-ubyte", prefix);
    char *img_path = NULL, *lab_path = NULL;
    cn_idx img = {0}, lab = {0};
    cn_dataset *ds = NULL;
    cn_status st = find_idx_file(dir, img_name, &img_path, err);
    if (st == CN_OK) st = find_idx_file(dir, lab_name, &lab_path, err);
    if (st == CN_OK) st = cn_idx_read(img_path, 3, &img, err);
    if (st == CN_OK) st = cn_idx_read(lab_path, 1, &lab, err);
    if (st == CN_OK) st = fill_from_idx(img_path, &img, lab_path, &lab, require_28, &ds, err);
    cn_idx_free(&img);
    cn_idx_free(&lab);
    cn_free(img_path);
    cn_free(lab_path);
    if (st == CN_OK) {
        int found = 0;
        st = read_classes_txt(dir, ds, &found, err);
        if (st == CN_OK && !found && contains_fashion(dir))
            st = cn_dataset_set_class_names(ds, fashion_names, DS_IDX_CLASSES, err);
    }
    if (st != CN_OK) {
        cn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return CN_OK;
}

/* ------------------------------------------------------------------ subsets, splits */

cn_status cn_dataset_subset(const cn_dataset *src, const int *idx, int k, cn_dataset **out,
                            cn_error *err) {
    CN_ASSERT(out != NULL);
    *out = NULL;
    if (!src || (k > 0 && !idx))
        return cn_error_set(err, CN_ERR_ARG, "cn_dataset_subset: NULL argument");
    if (k < 0) return cn_error_set(err, CN_ERR_RANGE, "cn_dataset_subset: negative count %d", k);
    for (int i = 0; i < k; i++)
        if (idx[i] < 0 || idx[i] >= src->n)
            return cn_error_set(err, CN_ERR_RANGE,
                                "cn_dataset_subset: index %d (entry %d) out of range [0, %d)",
                                idx[i], i, src->n);
    cn_dataset *ds = cn_dataset_new(k, src->c, src->h, src->w, src->num_classes, err);
    if (!ds) return err ? err->code : CN_ERR_NOMEM;
    cn_status st = cn_dataset_set_class_names(ds, (const char *const *)src->class_names,
                                              src->num_classes, err);
    if (st != CN_OK) {
        cn_dataset_free(ds);
        return st;
    }
    const size_t rec = (size_t)src->c * (size_t)src->h * (size_t)src->w;
    const cn_real *sx = src->images->data; // (src->n, rec)
    cn_real *dx = ds->images->data;        // (k, rec)
    for (int i = 0; i < k; i++) {
        memcpy(dx + (size_t)i * rec, sx + (size_t)idx[i] * rec, rec * sizeof *dx);
        ds->labels[i] = src->labels[idx[i]];
    }
    *out = ds;
    return CN_OK;
}

/* split_quotas: per-class validation counts by the largest-remainder method:
 * quota_k = n_val * count_k / n, floored, then the n_val - sum(floors) leftover
 * records go to the classes with the largest remainders (ties: lower class). */
static void split_quotas(const int *count, int nc, int n, int n_val, int *quota, int64_t *rem) {
    int64_t given = 0;
    for (int k = 0; k < nc; k++) {
        int64_t q = (int64_t)n_val * count[k];
        quota[k] = (int)(q / n);
        rem[k] = q % n;
        given += quota[k];
    }
    for (int64_t left = n_val - given; left > 0; left--) {
        int best = -1;
        for (int k = 0; k < nc; k++)
            if (rem[k] > 0 && (best < 0 || rem[k] > rem[best])) best = k;
        CN_ASSERT(best >= 0);
        quota[best]++;
        rem[best] = 0;
    }
}

cn_status cn_dataset_split(const cn_dataset *src, int n_val, uint64_t seed, cn_dataset **train,
                           cn_dataset **val, cn_error *err) {
    CN_ASSERT(train != NULL && val != NULL);
    *train = NULL;
    *val = NULL;
    if (!src) return cn_error_set(err, CN_ERR_ARG, "cn_dataset_split: NULL dataset");
    if (n_val <= 0 || n_val >= src->n)
        return cn_error_set(err, CN_ERR_ARG,
                            "cn_dataset_split: %d validation records out of %d (need 0 < n_val "
                            "< n)", n_val, src->n);
    const int n = src->n, nc = src->num_classes;
    for (int i = 0; i < n; i++)
        if (src->labels[i] < 0 || src->labels[i] >= nc)
            return cn_error_set(err, CN_ERR_RANGE,
                                "cn_dataset_split: record %d: label %d out of range [0, %d)", i,
                                src->labels[i], nc);
    int *order = cn_malloc((size_t)n * sizeof *order);           // (n) shuffled indices
    int *count = cn_calloc((size_t)nc, 2 * sizeof *count);       // (2, nc) counts, quotas
    int64_t *rem = cn_calloc((size_t)nc, sizeof *rem);           // (nc)
    unsigned char *is_val = cn_calloc((size_t)n, 1);             // (n)
    int *tr_idx = cn_malloc((size_t)(n - n_val) * sizeof *tr_idx); // (n - n_val)
    int *va_idx = cn_malloc((size_t)n_val * sizeof *va_idx);     // (n_val)
    cn_status st = CN_OK;
    if (!order || !count || !rem || !is_val || !tr_idx || !va_idx)
        st = cn_error_set(err, CN_ERR_NOMEM, "cn_dataset_split: out of memory");
    if (st == CN_OK) {
        int *quota = count + nc;
        for (int i = 0; i < n; i++) count[src->labels[i]]++;
        split_quotas(count, nc, n, n_val, quota, rem);
        for (int i = 0; i < n; i++) order[i] = i;
        cn_rng rng;
        cn_rng_seed(&rng, seed, DS_SPLIT_STREAM);
        cn_rng_shuffle(&rng, order, (size_t)n);
        /* The first quota_k records of class k in shuffled order go to validation. */
        for (int i = 0; i < n; i++) {
            int lab = src->labels[order[i]];
            if (quota[lab] > 0) {
                quota[lab]--;
                is_val[order[i]] = 1;
            }
        }
        /* Both parts keep the records in their original order. */
        int nt = 0, nv = 0;
        for (int i = 0; i < n; i++) {
            if (is_val[i])
                va_idx[nv++] = i;
            else
                tr_idx[nt++] = i;
        }
        CN_ASSERT(nv == n_val && nt == n - n_val);
        st = cn_dataset_subset(src, tr_idx, nt, train, err);
        if (st == CN_OK) st = cn_dataset_subset(src, va_idx, nv, val, err);
        if (st != CN_OK) {
            cn_dataset_free(*train);
            *train = NULL;
        }
    }
    cn_free(order);
    cn_free(count);
    cn_free(rem);
    cn_free(is_val);
    cn_free(tr_idx);
    cn_free(va_idx);
    return st;
}

const cn_real *cn_dataset_flat(const cn_dataset *ds) {
    CN_ASSERT(ds != NULL && ds->images != NULL);
    return ds->images->data;
}
