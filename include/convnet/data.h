/* convnet/data.h: datasets: the IDX reader (MNIST / Fashion-MNIST, gzip read
 * transparently), the in-memory dataset type, seeded train/validation splits and
 * normalisation statistics fitted on the training split only. */
#ifndef CONVNET_DATA_H
#define CONVNET_DATA_H

#include "convnet/core.h"
#include "convnet/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where Debian's dataset-fashion-mnist package puts the files. */
#define CN_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Caps that bound what a reader will allocate, whatever a header claims. */
#define CN_IDX_MAX_BYTES ((size_t)1 << 32) /* 4 GiB of decoded IDX payload */

/* cn_idx: one decoded IDX file: unsigned bytes (type 0x08) with its dims.
 * images: ndim 3 (n, rows, cols); labels: ndim 1 (n). Owns data. */
typedef struct cn_idx {
    uint8_t *data;      /* (dims[0], ..., dims[ndim-1]) */
    int ndim;
    uint32_t dims[3];
    size_t count;       /* product of dims */
} cn_idx;

/* cn_idx_read: read an IDX file of unsigned bytes, plain or gzip (detected by the
 * 1f 8b magic, not by the name). expect_ndim is 3 for images, 1 for labels.
 * Rejects (CN_ERR_FORMAT unless stated, message naming path and byte offset):
 * magic bytes 0-1 not zero, type != 0x08, ndim != expect_ndim ("bad IDX header");
 * dims whose product overflows or exceeds CN_IDX_MAX_BYTES (CN_ERR_RANGE, before
 * any allocation); payload shorter or longer than the header implies
 * ("truncated" / "extra bytes"); gzip that is truncated, corrupt (CRC) or inflates
 * past the size the header implies (inflation is bounded by it). On success *out
 * is filled and owned by the caller (cn_idx_free); on error *out is zeroed. */
cn_status cn_idx_read(const char *path, int expect_ndim, cn_idx *out, cn_error *err);

/* cn_idx_parse: cn_idx_read on a file's bytes held in memory (buf, len; plain or
 * gzip), with the same checks and messages; `what` names the bytes in messages
 * (NULL: "<memory>"). buf is only read. */
cn_status cn_idx_parse(const uint8_t *buf, size_t len, const char *what, int expect_ndim,
                       cn_idx *out, cn_error *err);

/* cn_idx_free: release out->data and zero the struct. */
void cn_idx_free(cn_idx *idx);

/* cn_dataset: n images (n, c, h, w) as cn_real in [0, 1] (raw bytes / 255 before
 * any normalisation), integer labels in [0, num_classes), and class names. */
typedef struct cn_dataset {
    cn_tensor *images;   /* (n, c, h, w) */
    int *labels;         /* (n) */
    int n, c, h, w;
    int num_classes;
    char **class_names;  /* num_classes NUL-terminated strings */
} cn_dataset;

/* cn_dataset_new: allocate an empty dataset of n zeroed images (c, h, w) with
 * labels 0 and class names "0".."num_classes-1". NULL with err set on error. */
cn_dataset *cn_dataset_new(int n, int c, int h, int w, int num_classes, cn_error *err);

/* cn_dataset_free: free everything; NULL is a no-op. */
void cn_dataset_free(cn_dataset *ds);

/* cn_dataset_set_class_names: replace the class names with copies of names[0..k);
 * k must equal ds->num_classes (CN_ERR_ARG otherwise). */
cn_status cn_dataset_set_class_names(cn_dataset *ds, const char *const *names, int k,
                                     cn_error *err);

/* cn_dataset_load_idx: load one split from an IDX folder. split is "train" or
 * "test" and selects {train,t10k}-images-idx3-ubyte and -labels-idx1-ubyte, each
 * with or without .gz. Checks image count == label count ("count mismatch"),
 * labels < 10 ("record r: label L out of range"), and rows == cols == 28 when
 * require_28 is non-zero. Class names come from DIR/classes.txt (one per line)
 * when present, else the Fashion-MNIST names when the folder's path contains
 * "fashion" (any case), else "0".."9". *out is owned by the caller. */
cn_status cn_dataset_load_idx(const char *dir, const char *split, int require_28,
                              cn_dataset **out, cn_error *err);

/* cn_dataset_subset: a new dataset holding the records idx[0..k) of src (copies).
 * Indices out of range give CN_ERR_RANGE. */
cn_status cn_dataset_subset(const cn_dataset *src, const int *idx, int k,
                            cn_dataset **out, cn_error *err);

/* cn_dataset_split: shuffle indices with seed, put n_val records into *val and
 * the rest into *train (both new, owned by the caller). Stratified: each class
 * contributes in proportion to its count (rounded so the total is n_val), so
 * the class balance of both parts matches src. 0 < n_val < src->n. */
cn_status cn_dataset_split(const cn_dataset *src, int n_val, uint64_t seed,
                           cn_dataset **train, cn_dataset **val, cn_error *err);

/* cn_dataset_flat: the images as a row-major (n, c*h*w) matrix (no copy). */
const cn_real *cn_dataset_flat(const cn_dataset *ds);

/* Normalisation, fitted on the training split only (the course's pitfall:
 * statistics from validation or test data leak into the model). */
typedef enum cn_norm_mode {
    CN_NORM_NONE = 0,     /* leave pixels in [0, 1] */
    CN_NORM_MEAN_IMAGE,   /* x - mean image (per pixel) */
    CN_NORM_CHANNEL,      /* (x - mean_c) / std_c per channel */
    CN_NORM_PIXEL,        /* (x - mean_pixel) / (std_pixel + eps) per pixel */
    CN_NORM_MODE_COUNT
} cn_norm_mode;

/* cn_norm: fitted statistics. mean_image and std_image are (c, h, w); mean and
 * std are (c). Owns its arrays. */
typedef struct cn_norm {
    cn_norm_mode mode;
    int c, h, w;
    cn_real *mean_image;  /* (c, h, w) */
    cn_real *std_image;   /* (c, h, w) */
    cn_real *mean;        /* (c) */
    cn_real *std;         /* (c) */
} cn_norm;

/* cn_norm_mode_name / cn_norm_mode_parse: "none", "mean-image", "channel", "pixel". */
const char *cn_norm_mode_name(cn_norm_mode m);
cn_status cn_norm_mode_parse(const char *s, cn_norm_mode *out, cn_error *err);

/* cn_norm_fit: compute all statistics of train (accumulated in double) and set
 * out->mode = mode. *out is owned by the caller (cn_norm_free). */
cn_status cn_norm_fit(const cn_dataset *train, cn_norm_mode mode, cn_norm *out,
                      cn_error *err);

/* cn_norm_apply: normalise ds in place with the fitted statistics. CN_ERR_SHAPE
 * if ds's (c, h, w) differ from the fitted ones. */
cn_status cn_norm_apply(const cn_norm *norm, cn_dataset *ds, cn_error *err);

/* cn_norm_apply_samples: normalise n samples x (n, c, h, w) in place (e.g. a
 * mini-batch after augmentation). CN_ERR_SHAPE if (c, h, w) differ from the
 * fitted ones, CN_ERR_ARG for NULL arguments, CN_ERR_NOMEM. */
cn_status cn_norm_apply_samples(const cn_norm *norm, cn_real *x, size_t n, int c, int h,
                                int w, cn_error *err);

/* cn_norm_free: release the arrays and zero the struct. */
void cn_norm_free(cn_norm *norm);

/* cn_norm_save: add the fitted statistics to w, so a model file carries them and
 * evaluation applies exactly what training fitted: cn_real tensors prefix +
 * "mean_image" (c, h, w), "std_image" (c, h, w), "mean" (c), "std" (c), and the
 * metadata entry prefix + "mode" (cn_norm_mode_name). Writer errors are passed on. */
cn_status cn_norm_save(const cn_norm *norm, cn_st_writer *w, const char *prefix,
                       cn_error *err);

/* cn_norm_load: read them back from st into *out (owned by the caller, zeroed on
 * error). CN_ERR_FORMAT naming the entry for an unknown or missing mode, shapes
 * that disagree, non-finite values or a negative std; CN_ERR_ARG from
 * cn_safetensors_get_real for a missing tensor. Round-trips bit-exactly at the
 * same precision. */
cn_status cn_norm_load(const cn_safetensors *st, const char *prefix, cn_norm *out,
                       cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_DATA_H */
