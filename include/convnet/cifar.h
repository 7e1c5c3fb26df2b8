/* convnet/cifar.h: the CIFAR-10 and CIFAR-100 binary readers (the "binary version"
 * batches of https://www.cs.toronto.edu/~kriz/cifar.html): strict whole-file
 * parsing into a cn_dataset (3, 32, 32) in [0, 1], a folder loader for the train
 * and test splits with class names from the text files shipped beside the batches,
 * and a detector that tells which variant a folder holds. */
#ifndef CONVNET_CIFAR_H
#define CONVNET_CIFAR_H

#include "convnet/core.h"
#include "convnet/data.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CN_CIFAR_SIDE 32                               /* images are 32 x 32 */
#define CN_CIFAR_PIXELS (3 * CN_CIFAR_SIDE * CN_CIFAR_SIDE) /* 3072 bytes: R, G, B planes */
#define CN_CIFAR10_RECORD (1 + CN_CIFAR_PIXELS)        /* 3073: label + pixels */
#define CN_CIFAR100_RECORD (2 + CN_CIFAR_PIXELS)       /* 3074: coarse, fine + pixels */
#define CN_CIFAR10_CLASSES 10
#define CN_CIFAR100_FINE_CLASSES 100
#define CN_CIFAR100_COARSE_CLASSES 20
#define CN_CIFAR10_TRAIN_BATCHES 5                     /* data_batch_1.bin .. _5.bin */
/* Cap on one batch file: a reader never allocates more than this for one file,
 * whatever its size claims (the real files are 30.7 MB and 153.7 MB). */
#define CN_CIFAR_MAX_FILE_BYTES ((size_t)1 << 31)

/* cn_cifar_variant: which dataset, and for CIFAR-100 which of the two labels
 * becomes cn_dataset.labels. CN_CIFAR_AUTO (0) is accepted by
 * cn_dataset_load_cifar only, and means "detect" (fine labels for CIFAR-100). */
typedef enum cn_cifar_variant {
    CN_CIFAR_AUTO = 0,
    CN_CIFAR10,            /* 1 label byte per record, 10 classes */
    CN_CIFAR100_FINE,      /* 2 label bytes (coarse, fine); the 100 fine classes */
    CN_CIFAR100_COARSE,    /* 2 label bytes (coarse, fine); the 20 coarse classes */
    CN_CIFAR_VARIANT_COUNT
} cn_cifar_variant;

/* cn_cifar_variant_name: "auto", "cifar10", "cifar100-fine", "cifar100-coarse";
 * "?" for a value out of range. */
const char *cn_cifar_variant_name(cn_cifar_variant v);

/* cn_cifar_record_size: bytes per record of a variant (3073 or 3074); 0 for
 * CN_CIFAR_AUTO or a value out of range. */
size_t cn_cifar_record_size(cn_cifar_variant v);

/* cn_cifar_num_classes: 10, 100 or 20; 0 for CN_CIFAR_AUTO or out of range. */
int cn_cifar_num_classes(cn_cifar_variant v);

/* cn_cifar_parse: parse one whole batch file held in memory (buf, len bytes;
 * `what` names it in messages, e.g. the path) into a new dataset of
 * n = len / record images (n, 3, 32, 32), pixel = byte / 255 exactly, labels from
 * the label byte(s), and the default class names (the standard ten CIFAR-10
 * names; "0".."99" / "0".."19" for CIFAR-100). variant must not be CN_CIFAR_AUTO.
 * Errors (nothing is allocated or kept on error; *out is NULL):
 *   CN_ERR_IO     len == 0 ("empty file");
 *   CN_ERR_FORMAT len not a multiple of the record size ("truncated/extra
 *                 bytes", with the whole records and the left-over count; a hint
 *                 is added when the bytes look like PNG, gzip or IDX);
 *   CN_ERR_RANGE  a label byte out of range: "byte B: record r: label L out of
 *                 range [0, K)" (for CIFAR-100 both the coarse and the fine byte
 *                 are checked, whichever is used), or more than INT_MAX records or
 *                 CN_CIFAR_MAX_FILE_BYTES bytes;
 *   CN_ERR_ARG    a NULL buffer with len > 0, or a bad variant. */
cn_status cn_cifar_parse(const uint8_t *buf, size_t len, const char *what,
                         cn_cifar_variant variant, cn_dataset **out, cn_error *err);

/* cn_cifar_read: read and parse one batch file (plain, not compressed) with the
 * checks of cn_cifar_parse. The file is read with a loop that retries on EINTR
 * and continues after short reads, so pipes and FIFOs give the same result as a
 * regular file; a regular file's size is checked before anything is allocated.
 * I/O errors are CN_ERR_IO with distinct messages: "cannot open: <strerror>",
 * "is a directory", "empty file", "read failed at byte B: <strerror>"; a file
 * that changes size while being read is CN_ERR_FORMAT. *out is the caller's. */
cn_status cn_cifar_read(const char *path, cn_cifar_variant variant, cn_dataset **out,
                        cn_error *err);

/* cn_cifar_detect: which variant the folder dir holds, looking in dir itself and
 * then in its standard subfolder (cifar-10-batches-bin/ or cifar-100-binary/):
 * CN_CIFAR10 when data_batch_1.bin or test_batch.bin is there, CN_CIFAR100_FINE
 * when train.bin or test.bin is there (CIFAR-10 wins if both are), otherwise 0.
 * Only names are looked at; the loader checks the contents. */
int cn_cifar_detect(const char *dir);

/* cn_dataset_load_cifar: load one split ("train" or "test") of a CIFAR folder
 * (dir itself or its standard subfolder, as for cn_cifar_detect).
 * CIFAR-10: train is data_batch_1.bin .. data_batch_5.bin concatenated in that
 * order (all five must be there: a missing one is a CN_ERR_IO error naming it,
 * never a silently smaller set), test is test_batch.bin; class names from
 * batches.meta.txt beside them when present, else the standard ten names.
 * CIFAR-100: train.bin / test.bin, fine labels for CN_CIFAR100_FINE and coarse
 * for CN_CIFAR100_COARSE, names from fine_label_names.txt / coarse_label_names.txt
 * when present, else "0".."99" / "0".."19". A names file has one name per line
 * (CR and trailing blanks stripped, blank lines ignored) and must hold exactly
 * the number of classes (CN_ERR_FORMAT "path:line: ..." otherwise).
 * CN_CIFAR_AUTO detects the variant (CN_ERR_IO "no CIFAR batch files" if none).
 * Errors of each file are those of cn_cifar_read. *out is owned by the caller. */
cn_status cn_dataset_load_cifar(const char *dir, const char *split, cn_cifar_variant variant,
                                cn_dataset **out, cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_CIFAR_H */
