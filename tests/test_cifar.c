/* tests/test_cifar.c: the CIFAR-10 / CIFAR-100 readers: bit-exact read-back of the
 * numpy-written fixture (tests/fixtures/cifar/, from tools/fixtures/cifar.py) and of
 * files the test writes itself; folder loading (train batches in order, subfolders,
 * class-name files, CIFAR-100 fine and coarse labels, detection); rows F1-F5 of
 * RELIABILITY.md (non-multiple sizes, empty file / directory / unopenable path,
 * labels out of range, IDX and PNG files passed as CIFAR, EIO and truncation
 * mid-stream) and R14 (short reads and EINTR through a FIFO give identical results);
 * and cn_idx_parse, the memory twin of cn_idx_read. Files live in a mkdtemp() folder. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "convnet/cifar.h"
#include "convnet/data.h"
#include "convnet/safetensors.h"
#include "support.h"

#define FIX_DIR "tests/fixtures/cifar"

/* ------------------------------------------------------------------ helpers */

static char tmp_dir[256];

static const char *tmp_path(const char *name) {
    static char path[2][512];
    static int which;
    which ^= 1;
    snprintf(path[which], sizeof path[which], "%s/%s", tmp_dir, name);
    return path[which];
}

/* Subfolders some tests create (tst_tmpdir_remove removes one level only). */
static const char *const subdirs[] = {"cifar-10-batches-bin", "cifar-100-binary", "adir"};

static void remove_subdir(const char *name) {
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/%s", tmp_dir, name);
    static const char *const files[] = {
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
        "data_batch_5.bin", "test_batch.bin",   "batches.meta.txt", "train.bin",
        "test.bin",         "fine_label_names.txt", "coarse_label_names.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void make_tmp_dir(void) {
    cr_assert_eq(tst_tmpdir_make(tmp_dir, sizeof tmp_dir, "cifar"), 0, "mkdtemp failed");
}

static void remove_tmp_dir(void) {
    for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) remove_subdir(subdirs[i]);
    tst_tmpdir_remove(tmp_dir);
}

TestSuite(cifar, .init = make_tmp_dir, .fini = remove_tmp_dir);

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static uint8_t *read_bytes(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    cr_assert_geq(n, 0);
    rewind(f);
    uint8_t *b = malloc((size_t)n + 1);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* batch: n records of the variant's size; record r has label(s) derived from
 * label0 + r and pixel i = (r * 7 + i) % 256 (so all 256 byte values occur). */
static uint8_t *batch(size_t n, int cifar100, int label0, size_t *len) {
    const size_t rec = cifar100 ? CN_CIFAR100_RECORD : CN_CIFAR10_RECORD;
    uint8_t *b = malloc(n * rec + 1);
    cr_assert_not_null(b);
    for (size_t r = 0; r < n; r++) {
        uint8_t *p = b + r * rec;
        if (cifar100) {
            p[0] = (uint8_t)((label0 + (int)r) % CN_CIFAR100_COARSE_CLASSES);
            p[1] = (uint8_t)((label0 + 37 * (int)r) % CN_CIFAR100_FINE_CLASSES);
        } else {
            p[0] = (uint8_t)((label0 + (int)r) % CN_CIFAR10_CLASSES);
        }
        uint8_t *px = p + (rec - CN_CIFAR_PIXELS);
        for (size_t i = 0; i < CN_CIFAR_PIXELS; i++) px[i] = (uint8_t)((r * 7 + i) % 256);
    }
    *len = n * rec;
    return b;
}

/* expect_records: ds record first + r holds the pixels of bytes' record r exactly
 * (byte / 255) and label byte `which` (0: first, 1: second label byte). */
static void expect_records(const cn_dataset *ds, int first, const uint8_t *bytes, size_t n,
                           size_t rec, int which) {
    cr_assert_eq(ds->c, 3);
    cr_assert_eq(ds->h, 32);
    cr_assert_eq(ds->w, 32);
    for (size_t r = 0; r < n; r++) {
        const uint8_t *p = bytes + r * rec;
        const uint8_t *px = p + (rec - CN_CIFAR_PIXELS);
        const cn_real *x = ds->images->data + ((size_t)first + r) * CN_CIFAR_PIXELS;
        cr_assert_eq(ds->labels[first + (int)r], p[which], "record %zu: label %d != %d", r,
                     ds->labels[first + (int)r], p[which]);
        for (size_t i = 0; i < CN_CIFAR_PIXELS; i++)
            if (x[i] != (cn_real)px[i] / (cn_real)255)
                cr_assert_fail("record %zu pixel %zu: %.9g != %u / 255", r, i, (double)x[i],
                               (unsigned)px[i]);
    }
}

static void assert_msg_has(const cn_error *err, const char *needle) {
    cr_assert(strstr(err->msg, needle) != NULL, "message '%s' lacks '%s'", err->msg, needle);
}

static const char *make_subdir(const char *name) {
    const char *d = tmp_path(name);
    cr_assert_eq(mkdir(d, 0755), 0, "mkdir %s: %s", d, strerror(errno));
    return d;
}

static void write_in(const char *dir, const char *name, const void *data, size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_bytes(path, data, len);
}

/* ------------------------------------------------------------------ bit-exact read-back */

Test(cifar, numpy_fixture_reads_back_bit_exact) {
    cn_error err;
    cn_safetensors *st = NULL;
    cr_assert_eq(cn_safetensors_read(FIX_DIR "/expected.safetensors", &st, &err), CN_OK, "%s",
                 err.msg);
    const cn_st_tensor *img = cn_safetensors_find(st, "images_hwc"); // (n, 32, 32, 3) U8
    const cn_st_tensor *lab = cn_safetensors_find(st, "labels");     // (n) I32
    cr_assert(img && lab && img->dtype == CN_DTYPE_U8 && lab->dtype == CN_DTYPE_I32);
    const int n = (int)img->shape[0];
    cr_assert_eq(n, 20);

    cn_dataset *ds = NULL;
    cr_assert_eq(cn_cifar_read(FIX_DIR "/test_batch.bin", CN_CIFAR10, &ds, &err), CN_OK, "%s",
                 err.msg);
    cn_dataset *dir_ds = NULL;
    cr_assert_eq(cn_dataset_load_cifar(FIX_DIR, "test", CN_CIFAR_AUTO, &dir_ds, &err), CN_OK,
                 "%s", err.msg);
    cr_assert_eq(cn_cifar_detect(FIX_DIR), CN_CIFAR10);
    cr_assert_eq(ds->n, n);
    cr_assert_eq(dir_ds->n, n);
    cr_assert_eq(ds->num_classes, 10);
    int labels_seen[10] = {0};
    for (int r = 0; r < n; r++) {
        int32_t want;
        memcpy(&want, lab->data + 4 * (size_t)r, 4);
        cr_assert_eq(ds->labels[r], want, "record %d: label %d, numpy wrote %d", r,
                     ds->labels[r], (int)want);
        cr_assert_eq(dir_ds->labels[r], want);
        labels_seen[want] = 1;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) {
                    uint8_t b = img->data[(((size_t)r * 32 + (size_t)y) * 32 + (size_t)x) * 3 +
                                          (size_t)c];
                    size_t at = (((size_t)r * 3 + (size_t)c) * 32 + (size_t)y) * 32 + (size_t)x;
                    cn_real want_px = (cn_real)b / (cn_real)255;
                    if (ds->images->data[at] != want_px || dir_ds->images->data[at] != want_px)
                        cr_assert_fail("record %d (c %d, y %d, x %d): %.9g != %u / 255", r, c,
                                       y, x, (double)ds->images->data[at], (unsigned)b);
                }
    }
    for (int k = 0; k < 10; k++) cr_assert(labels_seen[k], "class %d missing", k);
    cr_assert_eq(ds->images->data[0], (cn_real)0);                  // pixel (0, 0, 0) set to 0
    cr_assert_eq(ds->images->data[1], (cn_real)1);                  // and (0, 0, 1) to 255
    cr_assert_str_eq(dir_ds->class_names[0], "airplane");          // from batches.meta.txt
    cr_assert_str_eq(dir_ds->class_names[9], "truck");
    cn_dataset_free(ds);
    cn_dataset_free(dir_ds);
    cn_safetensors_free(st);
}

Test(cifar, written_file_reads_back_bit_exact) {
    const size_t n = 37;
    size_t len;
    uint8_t *b = batch(n, 0, 4, &len);
    cr_assert_eq(len, 3073 * n);
    const char *path = tmp_path("data.bin");
    write_bytes(path, b, len);
    cn_error err;
    cn_dataset *ds = NULL;
    cr_assert_eq(cn_cifar_read(path, CN_CIFAR10, &ds, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(ds->n, (int)n);
    expect_records(ds, 0, b, n, CN_CIFAR10_RECORD, 0);
    cr_assert_str_eq(ds->class_names[3], "cat");
    cn_dataset *mem = NULL;
    cr_assert_eq(cn_cifar_parse(b, len, "mem", CN_CIFAR10, &mem, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(memcmp(mem->images->data, ds->images->data,
                        n * CN_CIFAR_PIXELS * sizeof(cn_real)), 0);
    cr_assert_eq(memcmp(mem->labels, ds->labels, n * sizeof(int)), 0);
    cn_dataset_free(mem);
    cn_dataset_free(ds);
    free(b);
}

/* ------------------------------------------------------------------ folders */

Test(cifar, cifar10_folder_train_batches_in_order) {
    const char *d = make_subdir("cifar-10-batches-bin");
    const size_t counts[5] = {1, 2, 3, 1, 2};
    uint8_t *b[5];
    size_t len[5];
    char name[64];
    for (int i = 0; i < 5; i++) {
        b[i] = batch(counts[i], 0, i * 3, &len[i]);
        snprintf(name, sizeof name, "data_batch_%d.bin", i + 1);
        write_in(d, name, b[i], len[i]);
    }
    size_t tlen;
    uint8_t *t = batch(4, 0, 8, &tlen);
    write_in(d, "test_batch.bin", t, tlen);
    cr_assert_eq(cn_cifar_detect(tmp_dir), CN_CIFAR10);
    cr_assert_eq(cn_cifar_detect(d), CN_CIFAR10);

    cn_error err;
    cn_dataset *tr = NULL, *te = NULL;
    cr_assert_eq(cn_dataset_load_cifar(tmp_dir, "train", CN_CIFAR10, &tr, &err), CN_OK, "%s",
                 err.msg);
    cr_assert_eq(tr->n, 9);
    int first = 0;
    for (int i = 0; i < 5; i++) {
        expect_records(tr, first, b[i], counts[i], CN_CIFAR10_RECORD, 0);
        first += (int)counts[i];
    }
    cr_assert_str_eq(tr->class_names[0], "airplane"); // the standard names: no meta file
    cr_assert_eq(cn_dataset_load_cifar(tmp_dir, "test", CN_CIFAR_AUTO, &te, &err), CN_OK, "%s",
                 err.msg);
    cr_assert_eq(te->n, 4);
    expect_records(te, 0, t, 4, CN_CIFAR10_RECORD, 0);
    cn_dataset_free(te);

    /* batches.meta.txt: CRLF line ends, trailing blanks and blank lines. */
    const char meta[] = "a0\r\nb1  \r\n\r\nc2\nd3\ne4\nf5\ng6\nh7\ni8\nj9\n\n\n";
    write_in(d, "batches.meta.txt", meta, sizeof meta - 1);
    cr_assert_eq(cn_dataset_load_cifar(d, "test", CN_CIFAR10, &te, &err), CN_OK, "%s", err.msg);
    cr_assert_str_eq(te->class_names[0], "a0");
    cr_assert_str_eq(te->class_names[1], "b1");
    cr_assert_str_eq(te->class_names[2], "c2");
    cr_assert_str_eq(te->class_names[9], "j9");
    cn_dataset_free(te);

    /* A names file with the wrong count is an error naming it. */
    const char short_meta[] = "a\nb\nc\n";
    write_in(d, "batches.meta.txt", short_meta, sizeof short_meta - 1);
    te = (cn_dataset *)1;
    cr_assert_eq(cn_dataset_load_cifar(d, "test", CN_CIFAR10, &te, &err), CN_ERR_FORMAT);
    cr_assert_null(te);
    assert_msg_has(&err, "batches.meta.txt: 3 class names, expected 10");

    /* A missing train batch is an error naming it, never a smaller set. */
    char path[600];
    snprintf(path, sizeof path, "%s/data_batch_3.bin", d);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(cn_dataset_load_cifar(tmp_dir, "train", CN_CIFAR10, &te, &err), CN_ERR_IO);
    cr_assert_null(te);
    assert_msg_has(&err, "data_batch_3.bin: cannot open");

    cr_assert_eq(cn_dataset_load_cifar(tmp_dir, "valid", CN_CIFAR10, &te, &err), CN_ERR_ARG);
    cn_dataset_free(tr);
    for (int i = 0; i < 5; i++) free(b[i]);
    free(t);
}

Test(cifar, cifar100_fine_and_coarse) {
    const char *d = make_subdir("cifar-100-binary");
    size_t len, tlen;
    uint8_t *b = batch(25, 1, 3, &len);
    uint8_t *t = batch(5, 1, 11, &tlen);
    write_in(d, "train.bin", b, len);
    write_in(d, "test.bin", t, tlen);
    cr_assert_eq(cn_cifar_detect(tmp_dir), CN_CIFAR100_FINE);

    cn_error err;
    cn_dataset *fine = NULL, *coarse = NULL, *te = NULL;
    cr_assert_eq(cn_dataset_load_cifar(tmp_dir, "train", CN_CIFAR_AUTO, &fine, &err), CN_OK,
                 "%s", err.msg);
    cr_assert_eq(fine->num_classes, 100);
    cr_assert_eq(fine->n, 25);
    expect_records(fine, 0, b, 25, CN_CIFAR100_RECORD, 1);
    cr_assert_str_eq(fine->class_names[99], "99");
    cr_assert_eq(cn_dataset_load_cifar(tmp_dir, "train", CN_CIFAR100_COARSE, &coarse, &err),
                 CN_OK, "%s", err.msg);
    cr_assert_eq(coarse->num_classes, 20);
    expect_records(coarse, 0, b, 25, CN_CIFAR100_RECORD, 0);
    cr_assert_str_eq(coarse->class_names[19], "19");
    cr_assert_eq(memcmp(fine->images->data, coarse->images->data,
                        25 * CN_CIFAR_PIXELS * sizeof(cn_real)), 0);
    cn_dataset_free(fine);
    cn_dataset_free(coarse);

    /* Names files beside the batches. */
    char names[100 * 8];
    size_t at = 0;
    for (int k = 0; k < 100; k++) at += (size_t)snprintf(names + at, sizeof names - at, "f%d\n", k);
    write_in(d, "fine_label_names.txt", names, at);
    at = 0;
    for (int k = 0; k < 20; k++) at += (size_t)snprintf(names + at, sizeof names - at, "c%d\n", k);
    write_in(d, "coarse_label_names.txt", names, at);
    cr_assert_eq(cn_dataset_load_cifar(d, "test", CN_CIFAR100_FINE, &te, &err), CN_OK, "%s",
                 err.msg);
    cr_assert_eq(te->n, 5);
    expect_records(te, 0, t, 5, CN_CIFAR100_RECORD, 1);
    cr_assert_str_eq(te->class_names[42], "f42");
    cn_dataset_free(te);
    cr_assert_eq(cn_dataset_load_cifar(d, "test", CN_CIFAR100_COARSE, &te, &err), CN_OK, "%s",
                 err.msg);
    cr_assert_str_eq(te->class_names[7], "c7");
    cn_dataset_free(te);

    /* A CIFAR-10 reading of a CIFAR-100 file fails on size (3074 n is not 3073 m). */
    char path[600];
    snprintf(path, sizeof path, "%s/test.bin", d);
    cr_assert_eq(cn_cifar_read(path, CN_CIFAR10, &te, &err), CN_ERR_FORMAT);
    assert_msg_has(&err, "truncated/extra bytes");
    free(b);
    free(t);
}

Test(cifar, detect_and_arguments) {
    cr_assert_eq(cn_cifar_detect(tmp_dir), 0);
    cr_assert_eq(cn_cifar_detect(tmp_path("missing")), 0);
    cr_assert_eq(cn_cifar_detect(NULL), 0);
    cn_error err;
    cn_dataset *ds = (cn_dataset *)1;
    cr_assert_eq(cn_dataset_load_cifar(tmp_dir, "train", CN_CIFAR_AUTO, &ds, &err), CN_ERR_IO);
    cr_assert_null(ds);
    assert_msg_has(&err, "no CIFAR batch files");
    cr_assert_eq(cn_dataset_load_cifar(tmp_dir, "test", CN_CIFAR10, &ds, &err), CN_ERR_IO);
    assert_msg_has(&err, "test_batch.bin");
    uint8_t one[CN_CIFAR10_RECORD] = {0};
    cr_assert_eq(cn_cifar_parse(one, sizeof one, "m", CN_CIFAR_AUTO, &ds, &err), CN_ERR_ARG);
    cr_assert_eq(cn_cifar_parse(one, sizeof one, "m", (cn_cifar_variant)9, &ds, &err),
                 CN_ERR_ARG);
    cr_assert_eq(cn_cifar_parse(NULL, 5, "m", CN_CIFAR10, &ds, &err), CN_ERR_ARG);
    cr_assert_null(ds);
    cr_assert_eq(cn_cifar_record_size(CN_CIFAR10), 3073);
    cr_assert_eq(cn_cifar_record_size(CN_CIFAR100_COARSE), 3074);
    cr_assert_eq(cn_cifar_num_classes(CN_CIFAR100_FINE), 100);
    cr_assert_str_eq(cn_cifar_variant_name(CN_CIFAR100_COARSE), "cifar100-coarse");
    cr_assert_str_eq(cn_cifar_variant_name((cn_cifar_variant)-1), "?");
}

/* ------------------------------------------------------------------ F1-F5 */

Test(cifar, f1_size_not_a_multiple) {
    /* 30729999 bytes as a sparse file: rejected by its size before any read. */
    const char *path = tmp_path("big.bin");
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 30729999), 0);
    close(fd);
    cn_error err;
    cn_dataset *ds = (cn_dataset *)1;
    cr_assert_eq(cn_cifar_read(path, CN_CIFAR10, &ds, &err), CN_ERR_FORMAT);
    cr_assert_null(ds);
    assert_msg_has(&err, path);
    assert_msg_has(&err, "truncated/extra bytes");
    assert_msg_has(&err, "9999 whole records, then 3072 bytes");

    /* Small non-multiples, one byte short and one byte over, file and memory. */
    size_t len;
    uint8_t *b = batch(3, 0, 0, &len);
    for (int delta = -1; delta <= 1; delta += 2) {
        size_t l = len + (size_t)delta;
        write_bytes(path, b, l);
        cr_assert_eq(cn_cifar_read(path, CN_CIFAR10, &ds, &err), CN_ERR_FORMAT);
        assert_msg_has(&err, "truncated/extra bytes");
        cr_assert_eq(cn_cifar_parse(b, l, "mem", CN_CIFAR10, &ds, &err), CN_ERR_FORMAT);
        assert_msg_has(&err, "mem: truncated/extra bytes");
        cr_assert_null(ds);
    }
    free(b);

    /* A size over the cap (sparse) is refused without reading or allocating it. */
    fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, (off_t)CN_CIFAR10_RECORD * 700000), 0);
    close(fd);
    cr_assert_eq(cn_cifar_read(path, CN_CIFAR10, &ds, &err), CN_ERR_RANGE);
    assert_msg_has(&err, "cap");
}

Test(cifar, f2_empty_directory_unopenable_are_distinct_io_errors) {
    cn_error e_empty, e_dir, e_open, e_missing;
    cn_dataset *ds = (cn_dataset *)1;
    const char *empty = tmp_path("empty.bin");
    write_bytes(empty, "", 0);
    cr_assert_eq(cn_cifar_read(empty, CN_CIFAR10, &ds, &e_empty), CN_ERR_IO);
    cr_assert_null(ds);
    assert_msg_has(&e_empty, "empty file (0 bytes)");
    cr_assert_eq(cn_cifar_parse((const uint8_t *)"", 0, "mem", CN_CIFAR10, &ds, &e_missing),
                 CN_ERR_IO);

    const char *dir = make_subdir("adir");
    cr_assert_eq(cn_cifar_read(dir, CN_CIFAR10, &ds, &e_dir), CN_ERR_IO);
    assert_msg_has(&e_dir, "is a directory");

    /* Unreadable: the tests may run as root, for whom chmod 000 does not stop
     * open(), so a path that cannot be opened stands in: a symlink loop (ELOOP).
     * As an ordinary user, a mode-000 file is tried as well. */
    const char *loop = tmp_path("loop.bin");
    cr_assert_eq(symlink("loop.bin", loop), 0);
    cr_assert_eq(cn_cifar_read(loop, CN_CIFAR10, &ds, &e_open), CN_ERR_IO);
    assert_msg_has(&e_open, "cannot open: ");
    assert_msg_has(&e_open, strerror(ELOOP));
    cr_assert_eq(cn_cifar_read(tmp_path("missing.bin"), CN_CIFAR10, &ds, &e_missing),
                 CN_ERR_IO);
    assert_msg_has(&e_missing, strerror(ENOENT));
    if (geteuid() != 0) {
        cn_error e_perm;
        size_t len;
        uint8_t *b = batch(1, 0, 0, &len);
        const char *locked = tmp_path("locked.bin");
        write_bytes(locked, b, len);
        free(b);
        cr_assert_eq(chmod(locked, 0), 0);
        cr_assert_eq(cn_cifar_read(locked, CN_CIFAR10, &ds, &e_perm), CN_ERR_IO);
        assert_msg_has(&e_perm, strerror(EACCES));
    }
    cr_assert(strcmp(e_empty.msg + strlen(empty), e_dir.msg + strlen(dir)) != 0);
    cr_assert(strcmp(e_empty.msg + strlen(empty), e_open.msg + strlen(loop)) != 0);
    cr_assert(strcmp(e_dir.msg + strlen(dir), e_open.msg + strlen(loop)) != 0);
    cr_assert_null(ds);
}

Test(cifar, f3_label_out_of_range) {
    size_t len;
    uint8_t *b = batch(6, 0, 0, &len);
    b[3 * CN_CIFAR10_RECORD] = 200;
    b[5 * CN_CIFAR10_RECORD] = 10; // a later bad label: the first one is reported
    const char *path = tmp_path("bad_label.bin");
    write_bytes(path, b, len);
    cn_error err;
    cn_dataset *ds = (cn_dataset *)1;
    cr_assert_eq(cn_cifar_read(path, CN_CIFAR10, &ds, &err), CN_ERR_RANGE);
    cr_assert_null(ds);
    assert_msg_has(&err, path);
    assert_msg_has(&err, "byte 9219: record 3: label 200 out of range [0, 10)");
    b[3 * CN_CIFAR10_RECORD] = 9;
    cr_assert_eq(cn_cifar_parse(b, len, "mem", CN_CIFAR10, &ds, &err), CN_ERR_RANGE);
    assert_msg_has(&err, "record 5: label 10 out of range");
    free(b);

    /* CIFAR-100: both label bytes are checked, whichever one is used. */
    b = batch(4, 1, 0, &len);
    b[1 * CN_CIFAR100_RECORD + 1] = 150;
    cr_assert_eq(cn_cifar_parse(b, len, "m", CN_CIFAR100_COARSE, &ds, &err), CN_ERR_RANGE);
    assert_msg_has(&err, "byte 3075: record 1: fine label 150 out of range [0, 100)");
    b[1 * CN_CIFAR100_RECORD + 1] = 99;
    b[2 * CN_CIFAR100_RECORD] = 20;
    cr_assert_eq(cn_cifar_parse(b, len, "m", CN_CIFAR100_FINE, &ds, &err), CN_ERR_RANGE);
    assert_msg_has(&err, "record 2: coarse label 20 out of range [0, 20)");
    cr_assert_null(ds);
    free(b);
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

Test(cifar, f4_idx_and_png_rejected) {
    cn_error err;
    cn_dataset *ds = (cn_dataset *)1;
    /* An MNIST-shaped IDX image file (16-byte header + 60 x 28 x 28). */
    size_t len = 16 + 60 * 28 * 28;
    uint8_t *b = calloc(1, len);
    cr_assert_not_null(b);
    b[2] = 0x08;
    b[3] = 3;
    put_be32(b + 4, 60);
    put_be32(b + 8, 28);
    put_be32(b + 12, 28);
    cr_assert_neq(len % CN_CIFAR10_RECORD, 0);
    const char *path = tmp_path("train-images-idx3-ubyte");
    write_bytes(path, b, len);
    cr_assert_eq(cn_cifar_read(path, CN_CIFAR10, &ds, &err), CN_ERR_FORMAT);
    assert_msg_has(&err, "truncated/extra bytes");
    assert_msg_has(&err, "looks like an IDX file");
    cr_assert_eq(cn_cifar_read(path, CN_CIFAR100_FINE, &ds, &err), CN_ERR_FORMAT);
    free(b);
    /* MNIST labels (8-byte header + 10000). */
    len = 8 + 10000;
    b = calloc(1, len);
    b[2] = 0x08;
    b[3] = 1;
    put_be32(b + 4, 10000);
    cr_assert_eq(cn_cifar_parse(b, len, "labels", CN_CIFAR10, &ds, &err), CN_ERR_FORMAT);
    assert_msg_has(&err, "looks like an IDX file");
    free(b);

    /* A PNG: rejected by size, or, at exactly one record's size, by its first
     * byte 0x89 = 137 read as a label. */
    static const uint8_t sig[16] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                    0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    b = calloc(1, 2 * CN_CIFAR100_RECORD);
    memcpy(b, sig, sizeof sig);
    const char *png = tmp_path("image.png");
    write_bytes(png, b, 500);
    cr_assert_eq(cn_cifar_read(png, CN_CIFAR10, &ds, &err), CN_ERR_FORMAT);
    assert_msg_has(&err, "looks like a PNG image");
    write_bytes(png, b, CN_CIFAR10_RECORD);
    cr_assert_eq(cn_cifar_read(png, CN_CIFAR10, &ds, &err), CN_ERR_RANGE);
    assert_msg_has(&err, "record 0: label 137 out of range");
    assert_msg_has(&err, "looks like a PNG image");
    cr_assert_eq(cn_cifar_parse(b, 2 * CN_CIFAR100_RECORD, "p", CN_CIFAR100_FINE, &ds, &err),
                 CN_ERR_RANGE);
    cr_assert_null(ds);
    free(b);

    /* The real Fashion-MNIST files (gzip) when installed. */
    const char *real = CN_FASHION_MNIST_DIR "/t10k-labels-idx1-ubyte.gz";
    if (access(real, R_OK) == 0) {
        cn_status st = cn_cifar_read(real, CN_CIFAR10, &ds, &err);
        cr_assert(st == CN_ERR_FORMAT || st == CN_ERR_RANGE, "%s", err.msg);
        assert_msg_has(&err, "gzip-compressed");
        cr_assert_null(ds);
    }
}

/* The FIFO writer: a child process that writes len bytes of data to path in
 * chunks of `chunk` bytes, sleeping pause_us between them, then exits. */
static pid_t fifo_writer(const char *path, const uint8_t *data, size_t len, size_t chunk,
                         long pause_us) {
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid > 0) return pid;
    signal(SIGALRM, SIG_DFL);
    alarm(20); // never outlive a parent that failed before opening the FIFO
    int fd = open(path, O_WRONLY);
    if (fd < 0) _exit(2);
    for (size_t at = 0; at < len;) {
        size_t n = len - at < chunk ? len - at : chunk;
        ssize_t w = write(fd, data + at, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) _exit(3);
        at += (size_t)w;
        struct timespec ts = {0, pause_us * 1000};
        nanosleep(&ts, NULL);
    }
    close(fd);
    _exit(0);
}

static void wait_child(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "FIFO writer failed: %d", status);
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) {
    (void)sig;
    alarms++;
}

Test(cifar, r14_short_reads_and_eintr_give_identical_results) {
    const size_t n = 8;
    size_t len;
    uint8_t *b = batch(n, 0, 2, &len);
    const char *file = tmp_path("regular.bin");
    write_bytes(file, b, len);
    cn_error err;
    cn_dataset *ref = NULL, *got = NULL;
    cr_assert_eq(cn_cifar_read(file, CN_CIFAR10, &ref, &err), CN_OK, "%s", err.msg);

    const char *fifo = tmp_path("fifo.bin");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    pid_t pid = fifo_writer(fifo, b, len, 997, 1000);
    /* SIGALRM every 200 us without SA_RESTART: blocked open() and read() calls
     * return EINTR, which the reader must retry. */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    cr_assert_eq(sigaction(SIGALRM, &sa, &old), 0);
    struct itimerval it = {{0, 200}, {0, 200}}, off = {{0, 0}, {0, 0}};
    alarms = 0;
    cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
    cn_status st = cn_cifar_read(fifo, CN_CIFAR10, &got, &err);
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old, NULL);
    wait_child(pid);
    cr_assert_eq(st, CN_OK, "%s", err.msg);
    cr_assert_gt(alarms, 0, "no signal arrived during the read");
    cr_assert_eq(got->n, ref->n);
    cr_assert_eq(memcmp(got->images->data, ref->images->data,
                        n * CN_CIFAR_PIXELS * sizeof(cn_real)), 0);
    cr_assert_eq(memcmp(got->labels, ref->labels, n * sizeof(int)), 0);
    expect_records(got, 0, b, n, CN_CIFAR10_RECORD, 0);
    cn_dataset_free(got);
    cn_dataset_free(ref);
    free(b);
}

Test(cifar, f5_eio_and_truncation_mid_stream) {
    cn_error err;
    cn_dataset *ds = (cn_dataset *)1;
    /* read() on /proc/self/mem at offset 0 (an unmapped address) fails with EIO. */
    if (access("/proc/self/mem", R_OK) == 0) {
        cr_assert_eq(cn_cifar_read("/proc/self/mem", CN_CIFAR10, &ds, &err), CN_ERR_IO);
        cr_assert_null(ds);
        assert_msg_has(&err, "read failed at byte 0: ");
        assert_msg_has(&err, strerror(EIO));
    }
    /* The stream stops after 2.5 records: an error, no partial dataset. */
    size_t len;
    uint8_t *b = batch(3, 0, 0, &len);
    const char *fifo = tmp_path("fifo_short.bin");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    pid_t pid = fifo_writer(fifo, b, len - CN_CIFAR10_RECORD / 2, 1500, 200);
    cn_status st = cn_cifar_read(fifo, CN_CIFAR10, &ds, &err);
    wait_child(pid);
    cr_assert_eq(st, CN_ERR_FORMAT, "%s", err.msg);
    cr_assert_null(ds);
    assert_msg_has(&err, "truncated/extra bytes");
    assert_msg_has(&err, "2 whole records, then 1537 bytes");
    free(b);
}

/* ------------------------------------------------------------------ cn_idx_parse */

static uint8_t *idx_file(size_t *len) {
    *len = 16 + 3 * 5 * 4;
    uint8_t *b = malloc(*len);
    cr_assert_not_null(b);
    b[0] = 0; b[1] = 0; b[2] = 0x08; b[3] = 3;
    put_be32(b + 4, 3);
    put_be32(b + 8, 5);
    put_be32(b + 12, 4);
    for (size_t i = 16; i < *len; i++) b[i] = (uint8_t)(i * 13);
    return b;
}

Test(cifar, idx_parse_matches_idx_read) {
    size_t len;
    uint8_t *b = idx_file(&len);
    const char *plain = tmp_path("img.idx");
    write_bytes(plain, b, len);
    const char *gzp = tmp_path("img.idx.gz");
    gzFile g = gzopen(gzp, "wb9");
    cr_assert_not_null(g);
    cr_assert_eq(gzwrite(g, b, (unsigned)len), (int)len);
    cr_assert_eq(gzclose(g), Z_OK);
    size_t gz_len;
    uint8_t *gz = read_bytes(gzp, &gz_len);

    cn_error err;
    cn_idx a, m, mg;
    cr_assert_eq(cn_idx_read(plain, 3, &a, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_idx_parse(b, len, "mem", 3, &m, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_idx_parse(gz, gz_len, "mem.gz", 3, &mg, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(m.count, 60);
    cr_assert_eq(a.count, m.count);
    cr_assert_eq(mg.count, m.count);
    cr_assert_eq(memcmp(a.dims, m.dims, sizeof a.dims), 0);
    cr_assert_eq(memcmp(a.data, m.data, m.count), 0);
    cr_assert_eq(memcmp(mg.data, m.data, m.count), 0);
    cr_assert_eq(memcmp(m.data, b + 16, m.count), 0);
    cn_idx_free(&a);
    cn_idx_free(&m);
    cn_idx_free(&mg);

    /* The same errors, with the same messages once the name is swapped. */
    cn_error ef, em;
    write_bytes(plain, b, len - 1);
    cr_assert_eq(cn_idx_read(plain, 3, &a, &ef), CN_ERR_FORMAT);
    cr_assert_eq(cn_idx_parse(b, len - 1, plain, 3, &m, &em), CN_ERR_FORMAT);
    cr_assert_str_eq(ef.msg, em.msg);
    cr_assert_null(m.data);
    cr_assert_eq(cn_idx_parse(b, len, "mem", 1, &m, &em), CN_ERR_FORMAT);
    assert_msg_has(&em, "mem: byte 3: bad IDX header: 3 dimensions, expected 1");
    cr_assert_eq(cn_idx_parse(gz, gz_len - 5, "gz", 3, &m, &em), CN_ERR_FORMAT);
    assert_msg_has(&em, "gz: truncated gzip stream");
    cr_assert_eq(cn_idx_parse(NULL, 0, NULL, 3, &m, &em), CN_ERR_FORMAT);
    assert_msg_has(&em, "<memory>: byte 0: bad IDX header: truncated");
    cr_assert_eq(cn_idx_parse(NULL, 4, NULL, 3, &m, &em), CN_ERR_ARG);
    free(b);
    free(gz);
}
