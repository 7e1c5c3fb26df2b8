/* test_datasets.c: cn_data_detect and cn_dataset_load over every format (IDX,
 * CIFAR-10, image folders, list files) on small folders written by the test,
 * the errors for a missing folder, a file and an empty folder, and the CLI
 * reading a CIFAR folder through --data. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "convnet.h"
#include "support.h"

static char dir[256];

static void setup(void) { cr_assert_eq(tst_tmpdir_make(dir, sizeof dir, "datasets"), 0); }

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        char cmd[600];
        /* only ever our own mkdtemp folder: remove subfolders one level deep */
        static const char *const subs[] = {"train/a", "train/b", "test/a", "test/b",
                                           "train", "test"};
        for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
            snprintf(cmd, sizeof cmd, "%s/%s", path, subs[i]);
            tst_tmpdir_remove(cmd);
        }
    }
    tst_tmpdir_remove(path);
}

static void teardown(void) { rm_rf(dir); }

TestSuite(datasets, .init = setup, .fini = teardown);

static void write_bytes(const char *name, const uint8_t *b, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(b, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* IDX images (n, 28, 28) and labels (n) with pixel = (i + j) % 256, label = i % 10. */
static void write_idx(const char *prefix, int n)
{
    size_t ni = 16 + (size_t)n * 784, nl = 8 + (size_t)n;
    uint8_t *im = calloc(ni, 1), *lb = calloc(nl, 1);
    im[2] = 8, im[3] = 3, im[7] = (uint8_t)n, im[11] = 28, im[15] = 28;
    lb[2] = 8, lb[3] = 1, lb[7] = (uint8_t)n;
    for (int i = 0; i < n; i++) {
        lb[8 + i] = (uint8_t)(i % 10);
        for (int j = 0; j < 784; j++) im[16 + (size_t)i * 784 + j] = (uint8_t)((i + j) % 256);
    }
    char name[128];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    write_bytes(name, im, ni);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    write_bytes(name, lb, nl);
    free(im);
    free(lb);
}

/* A CIFAR-10 batch of n records: label r % 10, pixels (r + p) % 256. */
static void write_cifar(const char *name, int n)
{
    size_t len = (size_t)n * 3073;
    uint8_t *b = malloc(len);
    for (int r = 0; r < n; r++) {
        b[(size_t)r * 3073] = (uint8_t)(r % 10);
        for (int p = 0; p < 3072; p++) b[(size_t)r * 3073 + 1 + p] = (uint8_t)((r + p) % 256);
    }
    write_bytes(name, b, len);
    free(b);
}

/* One 3x8x8 PNG at dir/rel with constant value v in [0, 1]. */
static void write_png(const char *rel, cn_real v)
{
    cn_real px[3 * 8 * 8];
    for (int i = 0; i < 3 * 8 * 8; i++) px[i] = v;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    cn_error e;
    cr_assert_eq(cn_png_write_grid(path, px, 1, 3, 8, 8, 1, 0, 1, CN_PNG_SCALE_UNIT, &e), CN_OK,
                 "%s", e.msg);
}

static void mkdir_rel(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    cr_assert_eq(mkdir(path, 0755), 0, "%s: %s", path, strerror(errno));
}

static void check_detect(cn_data_format want)
{
    cn_data_format got = CN_DATA_AUTO;
    cn_error e;
    cr_assert_eq(cn_data_detect(dir, &got, &e), CN_OK, "%s", e.msg);
    cr_assert_eq(got, want, "detected %s, want %s", cn_data_format_name(got),
                 cn_data_format_name(want));
}

Test(datasets, idx_detected_and_loaded)
{
    write_idx("train", 12);
    write_idx("t10k", 5);
    check_detect(CN_DATA_IDX);
    cn_load_opts o;
    cn_load_opts_default(&o);
    cn_dataset *tr = NULL, *te = NULL;
    cn_error e;
    cr_assert_eq(cn_dataset_load(dir, "train", &o, &tr, &e), CN_OK, "%s", e.msg);
    cr_assert_eq(cn_dataset_load(dir, "test", &o, &te, &e), CN_OK, "%s", e.msg);
    cr_assert_eq(tr->n, 12);
    cr_assert_eq(te->n, 5);
    cr_assert_eq(tr->c * tr->h * tr->w, 784);
    cr_assert_eq(tr->labels[11], 1);
    cr_assert_eq(tr->images->data[784 * 3 + 5], (cn_real)8 / (cn_real)255);
    cn_dataset_free(tr);
    cn_dataset_free(te);
}

Test(datasets, cifar_detected_and_loaded)
{
    char name[64];
    for (int i = 1; i <= 5; i++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", i);
        write_cifar(name, 4);
    }
    write_cifar("test_batch.bin", 3);
    check_detect(CN_DATA_CIFAR);
    cn_load_opts o;
    cn_load_opts_default(&o);
    cn_dataset *tr = NULL;
    cn_error e;
    cr_assert_eq(cn_dataset_load(dir, "train", &o, &tr, &e), CN_OK, "%s", e.msg);
    cr_assert_eq(tr->n, 20);
    cr_assert_eq(tr->c, 3);
    cr_assert_eq(tr->h, 32);
    cr_assert_eq(tr->num_classes, 10);
    cn_dataset_free(tr);
}

Test(datasets, image_folders_and_lists)
{
    mkdir_rel("train");
    mkdir_rel("test");
    mkdir_rel("train/a");
    mkdir_rel("train/b");
    mkdir_rel("test/a");
    mkdir_rel("test/b");
    write_png("train/a/1.png", 0.0f);
    write_png("train/a/2.png", 0.2f);
    write_png("train/b/1.png", 1.0f);
    write_png("test/a/1.png", 0.0f);
    write_png("test/b/1.png", 1.0f);
    check_detect(CN_DATA_IMAGE_FOLDER);
    cn_load_opts o;
    cn_load_opts_default(&o);
    cn_dataset *tr = NULL;
    cn_error e;
    cr_assert_eq(cn_dataset_load(dir, "train", &o, &tr, &e), CN_OK, "%s", e.msg);
    cr_assert_eq(tr->n, 3);
    cr_assert_eq(tr->num_classes, 2);
    cr_assert_str_eq(tr->class_names[1], "b");
    cr_assert_eq(tr->labels[2], 1);
    cr_assert_eq(tr->h, 8);
    cn_dataset_free(tr);

    /* the same images through list files (format named: the folders would be detected first) */
    static const char train_list[] = "# path label\ntrain/a/1.png 0\ntrain/b/1.png 1\n";
    static const char test_list[] = "test/b/1.png 1\n";
    write_bytes("train.txt", (const uint8_t *)train_list, sizeof train_list - 1);
    write_bytes("test.txt", (const uint8_t *)test_list, sizeof test_list - 1);
    o.format = CN_DATA_IMAGE_LIST;
    cr_assert_eq(cn_dataset_load(dir, "test", &o, &tr, &e), CN_OK, "%s", e.msg);
    cr_assert_eq(tr->n, 1);
    cr_assert_eq(tr->labels[0], 1);
    cn_dataset_free(tr);
}

Test(datasets, errors)
{
    cn_data_format f;
    cn_error e;
    cr_assert_eq(cn_data_detect(dir, &f, &e), CN_ERR_FORMAT);
    cr_assert(strstr(e.msg, "no dataset found"), "%s", e.msg);
    cr_assert_eq(cn_data_detect("/nonexistent/convnet", &f, &e), CN_ERR_IO);
    cr_assert(strstr(e.msg, "/nonexistent/convnet"), "%s", e.msg);
    write_bytes("file", (const uint8_t *)"x", 1);
    char path[512];
    snprintf(path, sizeof path, "%s/file", dir);
    cr_assert_eq(cn_data_detect(path, &f, &e), CN_ERR_IO);
    cr_assert(strstr(e.msg, "not a folder"), "%s", e.msg);
    cn_load_opts o;
    cn_load_opts_default(&o);
    cn_dataset *ds = (cn_dataset *)1;
    cr_assert_eq(cn_dataset_load(dir, "valid", &o, &ds, &e), CN_ERR_ARG);
    cr_assert_null(ds);
    cr_assert_eq(cn_data_format_parse("cifar", &f, &e), CN_OK);
    cr_assert_eq(f, CN_DATA_CIFAR);
    cr_assert_eq(cn_data_format_parse("cifar10", &f, &e), CN_ERR_ARG);
}

Test(datasets, cli_reads_cifar_folder)
{
    const char *bin = getenv("CONVNET_BIN");
    if (!bin) cr_skip_test("CONVNET_BIN not set");
    char name[64];
    for (int i = 1; i <= 5; i++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", i);
        write_cifar(name, 10);
    }
    write_cifar("test_batch.bin", 10);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execl(bin, bin, "knn", "--data", dir, "--val", "10", "--k", "1", "--quiet",
              (char *)NULL);
        _exit(127);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
}
