/* convnet/datasets.h: one entry point for every dataset format convnet reads:
 * IDX (MNIST / Fashion-MNIST), CIFAR-10/100 binary batches, ImageFolder trees and
 * list files, chosen from what a folder holds (or named explicitly). */
#ifndef CONVNET_DATASETS_H
#define CONVNET_DATASETS_H

#include "convnet/cifar.h"
#include "convnet/data.h"
#include "convnet/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cn_data_format {
    CN_DATA_AUTO = 0,      /* detect (cn_data_detect) */
    CN_DATA_IDX,           /* {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] */
    CN_DATA_CIFAR,         /* CIFAR-10 / CIFAR-100 binary batches */
    CN_DATA_IMAGE_FOLDER,  /* DIR/train/<class>/ and DIR/test/<class>/ of PNG or JPEG files */
    CN_DATA_IMAGE_LIST,    /* DIR/train.txt and DIR/test.txt: "path label" lines */
    CN_DATA_FORMAT_COUNT
} cn_data_format;

/* Names "auto", "idx", "cifar", "images", "list"; parse gives CN_ERR_ARG otherwise. */
const char *cn_data_format_name(cn_data_format f);
cn_status cn_data_format_parse(const char *s, cn_data_format *out, cn_error *err);

/* Options of cn_dataset_load; start from cn_load_opts_default. */
typedef struct cn_load_opts {
    cn_data_format format;     /* default CN_DATA_AUTO */
    cn_cifar_variant cifar;    /* default CN_CIFAR_AUTO (CIFAR-100: fine labels) */
    cn_image_opts image;       /* image folders and lists (cn_image_opts_default) */
    int require_28;            /* IDX: require 28 x 28 images (default 0) */
} cn_load_opts;

void cn_load_opts_default(cn_load_opts *o);

/* cn_data_detect: the format of the dataset folder dir, checked in this order:
 * IDX (train-images-idx3-ubyte or .gz present), CIFAR (cn_cifar_detect), image
 * folders (train/ and test/ subfolders), list files (train.txt and test.txt).
 * CN_ERR_IO if dir cannot be opened as a folder; CN_ERR_FORMAT naming what was
 * looked for if none matches. */
cn_status cn_data_detect(const char *dir, cn_data_format *out, cn_error *err);

/* cn_dataset_load: load split "train" or "test" of the dataset folder dir in the
 * format o->format (detected when CN_DATA_AUTO). Image datasets read
 * DIR/<split>/ or DIR/<split>.txt with o->image. *out is owned by the caller.
 * Errors are those of the format's reader, whose messages name file and place. */
cn_status cn_dataset_load(const char *dir, const char *split, const cn_load_opts *o,
                          cn_dataset **out, cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_DATASETS_H */
