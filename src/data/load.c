/* load.c: cn_dataset_load, the single entry point over every dataset reader
 * (IDX, CIFAR, image folders, list files), with format detection from what a
 * folder holds. */
#include "convnet/datasets.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *const format_names[CN_DATA_FORMAT_COUNT] = {
    [CN_DATA_AUTO] = "auto",
    [CN_DATA_IDX] = "idx",
    [CN_DATA_CIFAR] = "cifar",
    [CN_DATA_IMAGE_FOLDER] = "images",
    [CN_DATA_IMAGE_LIST] = "list",
};

const char *cn_data_format_name(cn_data_format f)
{
    if ((int)f < 0 || f >= CN_DATA_FORMAT_COUNT) return "unknown";
    return format_names[f];
}

cn_status cn_data_format_parse(const char *s, cn_data_format *out, cn_error *err)
{
    for (int i = 0; s && i < CN_DATA_FORMAT_COUNT; i++)
        if (strcmp(s, format_names[i]) == 0) {
            *out = (cn_data_format)i;
            return CN_OK;
        }
    return cn_error_set(err, CN_ERR_ARG,
                        "data format '%s' unknown (expected auto, idx, cifar, images or list)",
                        s ? s : "(null)");
}

void cn_load_opts_default(cn_load_opts *o)
{
    memset(o, 0, sizeof *o);
    o->format = CN_DATA_AUTO;
    o->cifar = CN_CIFAR_AUTO;
    cn_image_opts_default(&o->image);
    o->require_28 = 0;
}

/* Stat dir/name; returns 1 if it exists with the wanted type (dir or not). */
static int has_entry(const char *dir, const char *name, int want_dir)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) return 0;
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    return want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
}

cn_status cn_data_detect(const char *dir, cn_data_format *out, cn_error *err)
{
    if (!dir || !out) return cn_error_set(err, CN_ERR_ARG, "data detect: NULL argument");
    struct stat st;
    if (stat(dir, &st) != 0)
        return cn_error_set(err, CN_ERR_IO, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cn_error_set(err, CN_ERR_IO, "%s: not a folder (--data names a dataset folder)",
                            dir);
    if (has_entry(dir, "train-images-idx3-ubyte", 0) ||
        has_entry(dir, "train-images-idx3-ubyte.gz", 0))
        *out = CN_DATA_IDX;
    else if (cn_cifar_detect(dir) != 0)
        *out = CN_DATA_CIFAR;
    else if (has_entry(dir, "train", 1) && has_entry(dir, "test", 1))
        *out = CN_DATA_IMAGE_FOLDER;
    else if (has_entry(dir, "train.txt", 0) && has_entry(dir, "test.txt", 0))
        *out = CN_DATA_IMAGE_LIST;
    else
        return cn_error_set(err, CN_ERR_FORMAT,
                            "%s: no dataset found: expected IDX files "
                            "(train-images-idx3-ubyte[.gz], t10k-...), CIFAR batches "
                            "(data_batch_1.bin ... test_batch.bin, or train.bin/test.bin), "
                            "train/ and test/ image folders, or train.txt and test.txt lists",
                            dir);
    return CN_OK;
}

cn_status cn_dataset_load(const char *dir, const char *split, const cn_load_opts *o,
                          cn_dataset **out, cn_error *err)
{
    if (!dir || !split || !o || !out)
        return cn_error_set(err, CN_ERR_ARG, "dataset load: NULL argument");
    *out = NULL;
    if (strcmp(split, "train") != 0 && strcmp(split, "test") != 0)
        return cn_error_set(err, CN_ERR_ARG, "dataset load: split '%s' (expected train or test)",
                            split);
    cn_data_format f = o->format;
    if (f == CN_DATA_AUTO) {
        cn_status st = cn_data_detect(dir, &f, err);
        if (st != CN_OK) return st;
    }
    char path[4096];
    int n;
    switch (f) {
    case CN_DATA_IDX:
        return cn_dataset_load_idx(dir, split, o->require_28, out, err);
    case CN_DATA_CIFAR:
        return cn_dataset_load_cifar(dir, split, o->cifar, out, err);
    case CN_DATA_IMAGE_FOLDER:
        n = snprintf(path, sizeof path, "%s/%s", dir, split);
        if (n < 0 || (size_t)n >= sizeof path)
            return cn_error_set(err, CN_ERR_IO, "%s: path too long", dir);
        return cn_dataset_load_image_folder(path, &o->image, out, NULL, err);
    case CN_DATA_IMAGE_LIST:
        n = snprintf(path, sizeof path, "%s/%s.txt", dir, split);
        if (n < 0 || (size_t)n >= sizeof path)
            return cn_error_set(err, CN_ERR_IO, "%s: path too long", dir);
        return cn_dataset_load_image_list(path, &o->image, out, NULL, err);
    default:
        return cn_error_set(err, CN_ERR_ARG, "dataset load: format %d unknown", (int)f);
    }
}
