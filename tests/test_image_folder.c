/* tests/test_image_folder.c: datasets from image folders (ImageFolder layout) and
 * list files: class and file order (bytewise), labels and class names, sizing
 * policy, the stop/skip policy for undecodable files (RELIABILITY P1), awkward and
 * over-long paths (P8), list-file syntax errors with line:col, classes.txt. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convnet/image.h"
#include "support.h"

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb_image_write.h>
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* ------------------------------------------------------------------ helpers */

/* Remove path and everything under it (tests here create sub-folders, which
 * tst_tmpdir_remove does not descend into). */
static void rmtree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
                size_t n = strlen(path) + strlen(e->d_name) + 2;
                char *sub = malloc(n);
                cr_assert_not_null(sub);
                snprintf(sub, n, "%s/%s", path, e->d_name);
                rmtree(sub);
                free(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...)
{
    static char bufs[8][1024];
    static int next;
    char *b = bufs[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return b;
}

static void mkdir_ok(const char *p)
{
    cr_assert_eq(mkdir(p, 0700), 0, "mkdir %s: %s", p, strerror(errno));
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* A 4x4 baseline JPEG of the flat grey (10, 10, 10), quality 100, written by
 * PIL (stb_image_write's JPEG writer trips the sanitizer build: see
 * test_image.c). */
static const uint8_t fx_grey10_jpg[631] = {
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0xff, 0xdb, 0x00, 0x43, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0xff, 0xc0,
    0x00, 0x11, 0x08, 0x00, 0x04, 0x00, 0x04, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11,
    0x01, 0xff, 0xc4, 0x00, 0x1f, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
    0x0a, 0x0b, 0xff, 0xc4, 0x00, 0xb5, 0x10, 0x00, 0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05,
    0x05, 0x04, 0x04, 0x00, 0x00, 0x01, 0x7d, 0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21,
    0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23,
    0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17,
    0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a,
    0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a,
    0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a,
    0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
    0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7,
    0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5,
    0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1,
    0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xff, 0xc4, 0x00, 0x1f, 0x01, 0x00, 0x03,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0xff, 0xc4, 0x00, 0xb5, 0x11, 0x00,
    0x02, 0x01, 0x02, 0x04, 0x04, 0x03, 0x04, 0x07, 0x05, 0x04, 0x04, 0x00, 0x01, 0x02, 0x77, 0x00,
    0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13,
    0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15,
    0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27,
    0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88,
    0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6,
    0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4,
    0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9,
    0xfa, 0xff, 0xda, 0x00, 0x0c, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3f, 0x00, 0xfe,
    0x13, 0xe8, 0xa2, 0x8a, 0x00, 0xff, 0xd9,
};

/* A w x h RGB PNG whose every byte is value (so a test can tell images apart). */
static void write_image(const char *path, int w, int h, int value)
{
    unsigned char *pix = malloc((size_t)w * h * 3);
    cr_assert_not_null(pix);
    memset(pix, value, (size_t)w * h * 3);
    cr_assert(stbi_write_png(path, w, h, 3, pix, w * 3), "writing %s", path);
    free(pix);
}

/* The value an image written by write_image decodes to, from its first pixel. */
static int first_value(const cn_dataset *ds, int i)
{
    size_t per = (size_t)ds->c * ds->h * ds->w;
    return (int)lround(ds->images->data[(size_t)i * per] * 255.0);
}

static cn_image_opts opts(void)
{
    cn_image_opts o;
    cn_image_opts_default(&o);
    return o;
}

static char tmp[256];

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(tmp, sizeof tmp, "imgfolder"), 0);
}

static void teardown(void)
{
    rmtree(tmp);
}

TestSuite(image_folder, .init = setup, .fini = teardown);
TestSuite(image_list, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------ folders */

Test(image_folder, layout_order_labels_and_names)
{
    mkdir_ok(pathf("%s/cat", tmp));
    mkdir_ok(pathf("%s/dog", tmp));
    mkdir_ok(pathf("%s/ant", tmp));   /* empty class: still class 0 */
    mkdir_ok(pathf("%s/.git", tmp));  /* hidden: not a class */
    write_image(pathf("%s/.git/x.png", tmp), 4, 4, 1);
    write_image(pathf("%s/cat/b.png", tmp), 4, 4, 20);
    write_bytes(pathf("%s/cat/a.jpg", tmp), fx_grey10_jpg, sizeof fx_grey10_jpg);
    write_image(pathf("%s/cat/c.PNG", tmp), 4, 4, 30);
    write_bytes(pathf("%s/cat/d.jpeg", tmp), fx_grey10_jpg, sizeof fx_grey10_jpg);
    write_image(pathf("%s/cat/.hidden.png", tmp), 4, 4, 99);
    write_bytes(pathf("%s/cat/notes.txt", tmp), "hi", 2);
    mkdir_ok(pathf("%s/cat/nested.png", tmp)); /* a folder, not a sample */
    write_image(pathf("%s/dog/x.png", tmp), 4, 4, 50);
    write_image(pathf("%s/top.png", tmp), 4, 4, 60); /* not in a class folder */
    cn_image_opts o = opts();
    cn_dataset *ds = NULL;
    cn_error err;
    int skipped = -1;
    cr_assert_eq(cn_dataset_load_image_folder(tmp, &o, &ds, &skipped, &err), CN_OK, "%s",
                 err.msg);
    cr_assert_eq(skipped, 0);
    cr_assert(ds->n == 5 && ds->c == 3 && ds->h == 4 && ds->w == 4);
    cr_assert_eq(ds->images->shape[0], 5);
    cr_assert_eq(ds->num_classes, 3);
    cr_assert_str_eq(ds->class_names[0], "ant");
    cr_assert_str_eq(ds->class_names[1], "cat");
    cr_assert_str_eq(ds->class_names[2], "dog");
    const int labels[5] = {1, 1, 1, 1, 2}, values[5] = {10, 20, 30, 10, 50};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(ds->labels[i], labels[i], "record %d", i);
        cr_assert(abs(first_value(ds, i) - values[i]) <= 1, "record %d: %d", i,
                  first_value(ds, i));
    }
    for (size_t i = 0; i < ds->images->numel; i++)
        cr_assert(ds->images->data[i] >= 0 && ds->images->data[i] <= 1);
    cn_dataset_free(ds);
}

Test(image_folder, classes_sorted_bytewise)
{
    const char *names[] = {"b", "Z", "a", "\xc3\xa9t\xc3\xa9", "B", "10", "9"};
    const char *sorted[] = {"10", "9", "B", "Z", "a", "b", "\xc3\xa9t\xc3\xa9"};
    for (int i = 0; i < 7; i++) {
        mkdir_ok(pathf("%s/%s", tmp, names[i]));
        write_image(pathf("%s/%s/img.png", tmp, names[i]), 2, 2, 10 * i);
    }
    cn_image_opts o = opts();
    o.channels = 1;
    cn_dataset *ds = NULL;
    cn_error err;
    cr_assert_eq(cn_dataset_load_image_folder(tmp, &o, &ds, NULL, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(ds->c, 1);
    cr_assert_eq(ds->num_classes, 7);
    for (int i = 0; i < 7; i++) {
        cr_assert_str_eq(ds->class_names[i], sorted[i]);
        cr_assert_eq(ds->labels[i], i);
    }
    cn_dataset_free(ds);
}

Test(image_folder, sizes_follow_the_policy)
{
    mkdir_ok(pathf("%s/k", tmp));
    write_image(pathf("%s/k/1.png", tmp), 8, 6, 100);
    write_image(pathf("%s/k/2.png", tmp), 5, 9, 200);
    cn_image_opts o = opts();
    cn_dataset *ds = NULL;
    cn_error err;
    /* Native size: the first image's (6 x 8); the second is brought to it. */
    cr_assert_eq(cn_dataset_load_image_folder(tmp, &o, &ds, NULL, &err), CN_OK, "%s", err.msg);
    cr_assert(ds->n == 2 && ds->h == 6 && ds->w == 8);
    cr_assert(abs(first_value(ds, 1) - 200) <= 1);
    cn_dataset_free(ds);
    o.height = 3;
    o.width = 4;
    o.fit = CN_IMAGE_FIT_STRETCH;
    cr_assert_eq(cn_dataset_load_image_folder(tmp, &o, &ds, NULL, &err), CN_OK, "%s", err.msg);
    cr_assert(ds->n == 2 && ds->h == 3 && ds->w == 4);
    cn_dataset_free(ds);
}

/* A folder with 3 good images and 3 bad files in class "k". */
static void make_mixed(void)
{
    mkdir_ok(pathf("%s/j", tmp));
    mkdir_ok(pathf("%s/k", tmp));
    write_image(pathf("%s/j/ok.png", tmp), 4, 4, 10);
    write_image(pathf("%s/k/a_ok.png", tmp), 4, 4, 20);
    write_bytes(pathf("%s/k/b_empty.png", tmp), "", 0);
    /* c_trunc.png: the first 40 bytes of a valid PNG. */
    write_image(pathf("%s/k/c_trunc.png", tmp), 4, 4, 1);
    cr_assert_eq(truncate(pathf("%s/k/c_trunc.png", tmp), 40), 0);
    write_bytes(pathf("%s/k/d_gif.png", tmp), "GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14);
    write_image(pathf("%s/k/e_ok.png", tmp), 4, 4, 30);
}

Test(image_folder, stop_policy_names_the_bad_file)
{
    make_mixed();
    cn_image_opts o = opts();
    cn_dataset *ds = (cn_dataset *)&o; /* must be reset to NULL */
    cn_error err;
    cn_status st = cn_dataset_load_image_folder(tmp, &o, &ds, NULL, &err);
    cr_assert_eq(st, CN_ERR_FORMAT, "%s", err.msg);
    cr_assert_null(ds);
    cr_assert(strstr(err.msg, "k/b_empty.png") && strstr(err.msg, "empty"), "%s", err.msg);
    /* The status alone when the caller passes no error record. */
    cr_assert_eq(cn_dataset_load_image_folder(tmp, &o, &ds, NULL, NULL), CN_ERR_FORMAT);
    cr_assert_null(ds);
}

Test(image_folder, skip_policy_counts_and_keeps_order)
{
    make_mixed();
    cn_image_opts o = opts();
    o.on_error = CN_IMAGE_ERRORS_SKIP;
    cn_dataset *ds = NULL;
    cn_error err;
    int skipped = 0;
    cr_assert_eq(cn_dataset_load_image_folder(tmp, &o, &ds, &skipped, &err), CN_OK, "%s",
                 err.msg);
    cr_assert_eq(skipped, 3);
    cr_assert_eq(ds->n, 3);
    cr_assert_eq(ds->images->shape[0], 3);
    cr_assert_eq(ds->images->numel, (size_t)3 * 3 * 4 * 4);
    const int labels[3] = {0, 1, 1}, values[3] = {10, 20, 30};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(ds->labels[i], labels[i]);
        cr_assert(abs(first_value(ds, i) - values[i]) <= 1);
    }
    /* The dataset is usable as any other: a subset copies the kept records. */
    cn_dataset *sub = NULL;
    int idx[2] = {2, 0};
    cr_assert_eq(cn_dataset_subset(ds, idx, 2, &sub, &err), CN_OK, "%s", err.msg);
    cr_assert(abs(first_value(sub, 0) - 30) <= 1);
    cn_dataset_free(sub);
    cn_dataset_free(ds);
}

Test(image_folder, nothing_decodable)
{
    mkdir_ok(pathf("%s/k", tmp));
    write_bytes(pathf("%s/k/a.png", tmp), "not a png", 9);
    cn_image_opts o = opts();
    o.on_error = CN_IMAGE_ERRORS_SKIP;
    cn_dataset *ds = NULL;
    cn_error err;
    int skipped = 0;
    cr_assert_eq(cn_dataset_load_image_folder(tmp, &o, &ds, &skipped, &err), CN_ERR_FORMAT);
    cr_assert_null(ds);
    cr_assert_eq(skipped, 1);
    cr_assert(strstr(err.msg, "none of the 1") && strstr(err.msg, "a.png"), "%s", err.msg);
}

Test(image_folder, structural_errors)
{
    cn_image_opts o = opts();
    cn_dataset *ds = NULL;
    cn_error err;
    cr_assert_eq(cn_dataset_load_image_folder(tmp, &o, &ds, NULL, &err), CN_ERR_FORMAT);
    cr_assert(strstr(err.msg, "no class folders"), "%s", err.msg);
    mkdir_ok(pathf("%s/k", tmp));
    write_bytes(pathf("%s/k/readme.txt", tmp), "x", 1);
    cr_assert_eq(cn_dataset_load_image_folder(tmp, &o, &ds, NULL, &err), CN_ERR_FORMAT);
    cr_assert(strstr(err.msg, "no image files"), "%s", err.msg);
    cr_assert_eq(cn_dataset_load_image_folder(pathf("%s/missing", tmp), &o, &ds, NULL, &err),
                 CN_ERR_IO);
    cr_assert(strstr(err.msg, strerror(ENOENT)), "%s", err.msg);
    o.channels = 4;
    cr_assert_eq(cn_dataset_load_image_folder(tmp, &o, &ds, NULL, &err), CN_ERR_ARG);
    cr_assert_null(ds);
}

Test(image_folder, awkward_names_are_data)
{
    const char *classes[] = {"with space", "semi;colon", "new\nline"};
    for (int i = 0; i < 3; i++) {
        mkdir_ok(pathf("%s/%s", tmp, classes[i]));
        write_image(pathf("%s/%s/x; rm -rf y\n.png", tmp, classes[i]), 2, 2, 10 + i);
    }
    cn_image_opts o = opts();
    cn_dataset *ds = NULL;
    cn_error err;
    cr_assert_eq(cn_dataset_load_image_folder(tmp, &o, &ds, NULL, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(ds->n, 3);
    /* Bytewise: "new\nline" < "semi;colon" < "with space". */
    cr_assert_str_eq(ds->class_names[0], "new\nline");
    cr_assert_str_eq(ds->class_names[1], "semi;colon");
    cr_assert_str_eq(ds->class_names[2], "with space");
    cn_dataset_free(ds);
}

Test(image_folder, long_folder_path_reports_enametoolong)
{
    size_t n = 5000;
    char *p = malloc(n + 1);
    cr_assert_not_null(p);
    for (size_t i = 0; i < n; i++) p[i] = (i % 101 == 100) ? '/' : 'd';
    p[0] = '/';
    p[n] = '\0';
    cn_image_opts o = opts();
    cn_dataset *ds = NULL;
    cn_error err;
    cr_assert_eq(cn_dataset_load_image_folder(p, &o, &ds, NULL, &err), CN_ERR_IO);
    cr_assert(strstr(err.msg, strerror(ENAMETOOLONG)), "%s", err.msg);
    free(p);
}

/* ------------------------------------------------------------------ list files */

static cn_status load_list(const char *text, cn_dataset **ds, int *skipped, cn_error *err,
                           cn_image_on_error policy)
{
    char *list = pathf("%s/list.txt", tmp);
    write_bytes(list, text, strlen(text));
    cn_image_opts o = opts();
    o.on_error = policy;
    return cn_dataset_load_image_list(list, &o, ds, skipped, err);
}

Test(image_list, paths_labels_comments_and_names)
{
    mkdir_ok(pathf("%s/sub dir", tmp));
    write_image(pathf("%s/a.png", tmp), 3, 3, 10);
    write_image(pathf("%s/sub dir/b c.png", tmp), 3, 3, 20);
    /* 4 x 4: brought to the first image's 3 x 3. */
    write_bytes(pathf("%s/abs.jpg", tmp), fx_grey10_jpg, sizeof fx_grey10_jpg);
    char text[2048];
    snprintf(text, sizeof text,
             "\xEF\xBB\xBF# a comment\r\n"
             "a.png 2\r\n"
             "\n"
             "   # indented comment\n"
             "  sub dir/b c.png \t 0  \n"
             "%s/abs.jpg 2", /* no final newline */
             tmp);
    cn_dataset *ds = NULL;
    cn_error err;
    int skipped = -1;
    cr_assert_eq(load_list(text, &ds, &skipped, &err, CN_IMAGE_ERRORS_STOP), CN_OK, "%s",
                 err.msg);
    cr_assert_eq(skipped, 0);
    cr_assert(ds->n == 3 && ds->h == 3 && ds->w == 3);
    cr_assert_eq(ds->num_classes, 3);
    cr_assert_str_eq(ds->class_names[0], "0");
    cr_assert_str_eq(ds->class_names[2], "2");
    const int labels[3] = {2, 0, 2}, values[3] = {10, 20, 10};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(ds->labels[i], labels[i]);
        cr_assert(abs(first_value(ds, i) - values[i]) <= 1);
    }
    cn_dataset_free(ds);

    /* classes.txt next to the list names the classes. */
    const char *classes = "\xEF\xBB\xBFplane\r\n\ncar  \nbird\n";
    write_bytes(pathf("%s/classes.txt", tmp), classes, strlen(classes));
    cr_assert_eq(load_list(text, &ds, NULL, &err, CN_IMAGE_ERRORS_STOP), CN_OK, "%s", err.msg);
    cr_assert_eq(ds->num_classes, 3);
    cr_assert_str_eq(ds->class_names[0], "plane");
    cr_assert_str_eq(ds->class_names[1], "car");
    cr_assert_str_eq(ds->class_names[2], "bird");
    cn_dataset_free(ds);

    /* A label beyond classes.txt: line:col of the label. */
    cr_assert_eq(load_list("a.png 1\nsub dir/b c.png   3\n", &ds, NULL, &err,
                           CN_IMAGE_ERRORS_STOP), CN_ERR_RANGE);
    cr_assert_null(ds);
    cr_assert(strstr(err.msg, "list.txt:2:19: label 3 out of range"), "%s", err.msg);
}

Test(image_list, syntax_errors_with_line_and_column)
{
    struct {
        const char *text, *want;
        cn_status code;
    } cases[] = {
        {"a.png 1\nb.png\n", "list.txt:2:6: expected 'path label'", CN_ERR_FORMAT},
        {"a.png x1\n", "list.txt:1:7: label 'x1' is not a non-negative integer", CN_ERR_FORMAT},
        {"# c\n  a.png -1\n", "list.txt:2:9: label '-1'", CN_ERR_FORMAT},
        {"a.png 1.5\n", "list.txt:1:7: label '1.5'", CN_ERR_FORMAT},
        {"a.png 99999999999999999999\n", "list.txt:1:7: label above 100000", CN_ERR_RANGE},
        {"# only comments\n\n", "no entries", CN_ERR_FORMAT},
        {"", "no entries", CN_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cn_dataset *ds = NULL;
        cn_error err;
        cr_assert_eq(load_list(cases[i].text, &ds, NULL, &err, CN_IMAGE_ERRORS_STOP),
                     cases[i].code, "case %zu: %s", i, err.msg);
        cr_assert_null(ds);
        cr_assert(strstr(err.msg, cases[i].want), "case %zu: %s", i, err.msg);
    }
    /* A NUL byte inside a line. */
    char *list = pathf("%s/list.txt", tmp);
    write_bytes(list, "ab\0c.png 1\n", 11);
    cn_image_opts o = opts();
    cn_dataset *ds = NULL;
    cn_error err;
    cr_assert_eq(cn_dataset_load_image_list(list, &o, &ds, NULL, &err), CN_ERR_FORMAT);
    cr_assert(strstr(err.msg, "list.txt:1:3: NUL byte"), "%s", err.msg);
    cr_assert_eq(cn_dataset_load_image_list(pathf("%s/nope.txt", tmp), &o, &ds, NULL, &err),
                 CN_ERR_IO);
    cr_assert_eq(cn_dataset_load_image_list(tmp, &o, &ds, NULL, &err), CN_ERR_IO);
    cr_assert(strstr(err.msg, strerror(EISDIR)), "%s", err.msg);
    /* classes.txt that is a folder. */
    write_bytes(list, "a.png 0\n", 8);
    mkdir_ok(pathf("%s/classes.txt", tmp));
    cr_assert_eq(cn_dataset_load_image_list(list, &o, &ds, NULL, &err), CN_ERR_IO);
    cr_assert(strstr(err.msg, "classes.txt") && strstr(err.msg, strerror(EISDIR)), "%s",
              err.msg);
    cr_assert_null(ds);
}

Test(image_list, bad_files_stop_or_skip)
{
    write_image(pathf("%s/a.png", tmp), 3, 3, 10);
    write_bytes(pathf("%s/bad.png", tmp), "\x89PNG\r\n\x1a\n", 8);
    /* Line 3 names a file whose path is longer than PATH_MAX. */
    size_t n = 5000;
    char *text = malloc(n + 64);
    cr_assert_not_null(text);
    int k = snprintf(text, n + 64, "a.png 0\nbad.png 1\n");
    for (size_t i = 0; i < n; i++) text[k + i] = (i % 101 == 100) ? '/' : 'q';
    strcpy(text + k + n, ".png 1\nmissing.png 0\na.png 1\n");
    cn_dataset *ds = NULL;
    cn_error err;
    cr_assert_eq(load_list(text, &ds, NULL, &err, CN_IMAGE_ERRORS_STOP), CN_ERR_FORMAT);
    cr_assert_null(ds);
    cr_assert(strstr(err.msg, "list.txt:2: ") && strstr(err.msg, "bad.png"), "%s", err.msg);
    int skipped = 0;
    cr_assert_eq(load_list(text, &ds, &skipped, &err, CN_IMAGE_ERRORS_SKIP), CN_OK, "%s",
                 err.msg);
    cr_assert_eq(skipped, 3);
    cr_assert_eq(ds->n, 2);
    cr_assert(ds->labels[0] == 0 && ds->labels[1] == 1);
    cn_dataset_free(ds);
    /* Stopping at the long path reports ENAMETOOLONG on its line. */
    write_image(pathf("%s/bad.png", tmp), 3, 3, 20);
    cr_assert_eq(load_list(text, &ds, NULL, &err, CN_IMAGE_ERRORS_STOP), CN_ERR_IO);
    cr_assert(strstr(err.msg, "list.txt:3: ") && strstr(err.msg, strerror(ENAMETOOLONG)), "%s",
              err.msg);
    free(text);
}
