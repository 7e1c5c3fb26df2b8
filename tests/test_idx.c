/* tests/test_idx.c: the strict IDX reader against the bad inputs of RELIABILITY.md
 * rows M1-M7 (bad header, overflowing dims, truncated / extra bytes, count
 * mismatch, bad labels and sizes, gzip: valid, truncated, corrupt CRC, bomb, and
 * byte-swapped headers). Every bad file is generated in a mkdtemp() folder. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "convnet/data.h"
#include "support.h"

/* ------------------------------------------------------------------ helpers */

static char tmp_dir[256];

static void make_tmp_dir(void) {
    cr_assert_eq(tst_tmpdir_make(tmp_dir, sizeof tmp_dir, "idx"), 0, "mkdtemp failed");
}

static void remove_tmp_dir(void) { tst_tmpdir_remove(tmp_dir); }

TestSuite(idx, .init = make_tmp_dir, .fini = remove_tmp_dir);

static const char *tmp_path(const char *name) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    return path;
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* idx_images: a valid image file (n, rows, cols) with pixel i = i % 251; *len set. */
static uint8_t *idx_images(uint32_t n, uint32_t rows, uint32_t cols, size_t *len) {
    size_t payload = (size_t)n * rows * cols;
    uint8_t *b = malloc(16 + payload);
    cr_assert_not_null(b);
    b[0] = 0; b[1] = 0; b[2] = 0x08; b[3] = 3;
    put_be32(b + 4, n);
    put_be32(b + 8, rows);
    put_be32(b + 12, cols);
    for (size_t i = 0; i < payload; i++) b[16 + i] = (uint8_t)(i % 251);
    *len = 16 + payload;
    return b;
}

/* idx_labels: a valid label file with label r = r % 10. */
static uint8_t *idx_labels(uint32_t n, size_t *len) {
    uint8_t *b = malloc(8 + (size_t)n);
    cr_assert_not_null(b);
    b[0] = 0; b[1] = 0; b[2] = 0x08; b[3] = 1;
    put_be32(b + 4, n);
    for (uint32_t i = 0; i < n; i++) b[8 + i] = (uint8_t)(i % 10);
    *len = 8 + (size_t)n;
    return b;
}

static const char *write_file(const char *name, const void *data, size_t len) {
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    return path;
}

static const char *write_gz(const char *name, const void *data, size_t len) {
    const char *path = tmp_path(name);
    gzFile g = gzopen(path, "wb9");
    cr_assert_not_null(g);
    if (len > 0) cr_assert_eq(gzwrite(g, data, (unsigned)len), (int)len);
    cr_assert_eq(gzclose(g), Z_OK);
    return path;
}

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* expect_error: cn_idx_read fails with code, the message contains each of the
 * NULL-terminated substrings and the path, and *out is zeroed. */
static void expect_error(const char *path, int ndim, cn_status code, ...) {
    cn_idx idx;
    memset(&idx, 0xab, sizeof idx);
    cn_error err;
    cn_error_clear(&err);
    cn_status st = cn_idx_read(path, ndim, &idx, &err);
    cr_assert_eq(st, code, "%s: got status %d (%s), expected %d", path, st, err.msg, code);
    cr_assert_eq(err.code, code);
    cr_assert_null(idx.data);
    cr_assert_eq(idx.count, 0);
    cr_assert_eq(idx.ndim, 0);
    cr_assert_not_null(strstr(err.msg, path), "message does not name the path: %s", err.msg);
    va_list ap;
    va_start(ap, code);
    const char *want;
    while ((want = va_arg(ap, const char *)) != NULL)
        cr_assert_not_null(strstr(err.msg, want), "message '%s' lacks '%s'", err.msg, want);
    va_end(ap);
}

/* ------------------------------------------------------------------ valid files */

Test(idx, plain_images_and_labels) {
    size_t len;
    uint8_t *b = idx_images(3, 5, 7, &len);
    const char *path = write_file("img", b, len);
    cn_idx idx;
    cn_error err;
    cr_assert_eq(cn_idx_read(path, 3, &idx, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(idx.ndim, 3);
    cr_assert_eq(idx.dims[0], 3);
    cr_assert_eq(idx.dims[1], 5);
    cr_assert_eq(idx.dims[2], 7);
    cr_assert_eq(idx.count, 105);
    cr_assert_eq(memcmp(idx.data, b + 16, 105), 0);
    cn_idx_free(&idx);
    cr_assert_null(idx.data);
    cr_assert_eq(idx.count, 0);
    free(b);

    b = idx_labels(12, &len);
    path = write_file("lab", b, len);
    cr_assert_eq(cn_idx_read(path, 1, &idx, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(idx.ndim, 1);
    cr_assert_eq(idx.dims[0], 12);
    cr_assert_eq(idx.count, 12);
    cr_assert_eq(memcmp(idx.data, b + 8, 12), 0);
    cn_idx_free(&idx);
    free(b);
}

Test(idx, empty_payload) {
    size_t len;
    uint8_t *b = idx_labels(0, &len);
    const char *path = write_file("lab0", b, len);
    cn_idx idx;
    cn_error err;
    cr_assert_eq(cn_idx_read(path, 1, &idx, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(idx.count, 0);
    cn_idx_free(&idx);
    free(b);
}

Test(idx, free_is_idempotent) {
    cn_idx idx = {0};
    cn_idx_free(&idx);
    cn_idx_free(NULL);
}

/* ------------------------------------------------------------------ M1 */

Test(idx, m1_bad_magic) {
    size_t len;
    uint8_t *b = idx_images(2, 4, 4, &len);
    b[0] = 0x01;
    expect_error(write_file("m0", b, len), 3, CN_ERR_FORMAT, "bad IDX header", "byte 0", NULL);
    b[0] = 0;
    b[1] = 0x20;
    expect_error(write_file("m1", b, len), 3, CN_ERR_FORMAT, "bad IDX header", "byte 0", NULL);
    free(b);
}

Test(idx, m1_bad_type) {
    size_t len;
    uint8_t *b = idx_images(2, 4, 4, &len);
    const uint8_t types[] = {0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF};
    for (size_t i = 0; i < sizeof types; i++) {
        b[2] = types[i];
        expect_error(write_file("t", b, len), 3, CN_ERR_FORMAT, "bad IDX header", "byte 2",
                     "0x08", NULL);
    }
    free(b);
}

Test(idx, m1_bad_ndim) {
    size_t len;
    uint8_t *b = idx_images(2, 4, 4, &len);
    /* An image file read as labels, and a label file read as images. */
    expect_error(write_file("img", b, len), 1, CN_ERR_FORMAT, "bad IDX header", "byte 3",
                 NULL);
    b[3] = 2;
    expect_error(write_file("img2", b, len), 3, CN_ERR_FORMAT, "bad IDX header", NULL);
    free(b);
    b = idx_labels(5, &len);
    expect_error(write_file("lab", b, len), 3, CN_ERR_FORMAT, "bad IDX header", "byte 3",
                 NULL);
    free(b);
}

Test(idx, m1_short_header) {
    const uint8_t two[] = {0, 0};
    expect_error(write_file("two", two, sizeof two), 3, CN_ERR_FORMAT, "bad IDX header",
                 "truncated", NULL);
    expect_error(write_file("empty", two, 0), 1, CN_ERR_FORMAT, "bad IDX header", NULL);
    const uint8_t partial[] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0};
    expect_error(write_file("partial", partial, sizeof partial), 3, CN_ERR_FORMAT,
                 "bad IDX header", "truncated", NULL);
}

/* ------------------------------------------------------------------ M2 */

Test(idx, m2_dims_overflow_before_allocation) {
    uint8_t h[16] = {0, 0, 8, 3};
    put_be32(h + 4, 0xFFFFFFFFu);
    put_be32(h + 8, 0xFFFFFFFFu);
    put_be32(h + 12, 0xFFFFFFFFu);
    expect_error(write_file("huge", h, sizeof h), 3, CN_ERR_RANGE, "overflow", "byte 4", NULL);
    /* No overflow but over the 4 GiB cap: 65536 x 65536 x 2 = 8 GiB. */
    put_be32(h + 4, 65536);
    put_be32(h + 8, 65536);
    put_be32(h + 12, 2);
    expect_error(write_file("cap", h, sizeof h), 3, CN_ERR_RANGE, "cap", NULL);
    /* The same header gzipped: rejected before inflating anything. */
    expect_error(write_gz("cap.gz", h, sizeof h), 3, CN_ERR_RANGE, "cap", NULL);
}

/* ------------------------------------------------------------------ M3 */

Test(idx, m3_truncated_and_extra_images) {
    size_t len;
    uint8_t *b = idx_images(10, 28, 28, &len); /* 16 + 7840 bytes */
    expect_error(write_file("short", b, len - 1), 3, CN_ERR_FORMAT,
                 "truncated: expected 7840 payload bytes after the 16-byte header, got 7839",
                 NULL);
    expect_error(write_file("hdr_only", b, 16), 3, CN_ERR_FORMAT,
                 "truncated: expected 7840 payload bytes after the 16-byte header, got 0",
                 NULL);
    uint8_t *c = malloc(len + 5);
    memcpy(c, b, len);
    memset(c + len, 0, 5);
    expect_error(write_file("long", c, len + 1), 3, CN_ERR_FORMAT,
                 "extra bytes after byte offset 7856", NULL);
    expect_error(write_file("long5", c, len + 5), 3, CN_ERR_FORMAT,
                 "extra bytes after byte offset 7856", NULL);
    free(c);
    free(b);
}

Test(idx, m3_truncated_and_extra_labels) {
    size_t len;
    uint8_t *b = idx_labels(100, &len);
    expect_error(write_file("short", b, len - 30), 1, CN_ERR_FORMAT,
                 "truncated: expected 100 payload bytes after the 8-byte header, got 70", NULL);
    uint8_t *c = malloc(len + 1);
    memcpy(c, b, len);
    c[len] = 7;
    expect_error(write_file("long", c, len + 1), 1, CN_ERR_FORMAT,
                 "extra bytes after byte offset 108", NULL);
    free(c);
    free(b);
}

/* ------------------------------------------------------------------ M6: gzip */

Test(idx, m6_gzip_valid_read_transparently) {
    size_t len;
    uint8_t *b = idx_images(20, 28, 28, &len);
    /* Any name: detection is by the 1f 8b magic. */
    const char *path = write_gz("images.bin", b, len);
    cn_idx idx;
    cn_error err;
    cr_assert_eq(cn_idx_read(path, 3, &idx, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(idx.dims[0], 20);
    cr_assert_eq(idx.count, (size_t)20 * 28 * 28);
    cr_assert_eq(memcmp(idx.data, b + 16, idx.count), 0);
    cn_idx_free(&idx);
    free(b);
}

Test(idx, m6_gzip_large_payload_grows) {
    /* 2000 x 28 x 28 = 1.5 MB: beyond the first growth step of the reader. */
    size_t len;
    uint8_t *b = idx_images(2000, 28, 28, &len);
    const char *path = write_gz("big.gz", b, len);
    cn_idx idx;
    cn_error err;
    cr_assert_eq(cn_idx_read(path, 3, &idx, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(idx.count, len - 16);
    cr_assert_eq(memcmp(idx.data, b + 16, idx.count), 0);
    cn_idx_free(&idx);
    free(b);
}

Test(idx, m6_gzip_concatenated_members) {
    size_t len;
    uint8_t *b = idx_labels(50, &len);
    size_t la, lb;
    uint8_t *ga = slurp(write_gz("a.gz", b, 20), &la);
    uint8_t *gb = slurp(write_gz("b.gz", b + 20, len - 20), &lb);
    uint8_t *cat = malloc(la + lb);
    memcpy(cat, ga, la);
    memcpy(cat + la, gb, lb);
    const char *path = write_file("cat.gz", cat, la + lb);
    cn_idx idx;
    cn_error err;
    cr_assert_eq(cn_idx_read(path, 1, &idx, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(idx.count, 50);
    cr_assert_eq(memcmp(idx.data, b + 8, 50), 0);
    cn_idx_free(&idx);
    /* Garbage after the gzip stream is an error. */
    cat[la] = 'x';
    expect_error(write_file("garbage.gz", cat, la + lb), 1, CN_ERR_FORMAT, "gzip", NULL);
    free(cat);
    free(ga);
    free(gb);
    free(b);
}

Test(idx, m6_gzip_truncated) {
    size_t len, glen;
    uint8_t *b = idx_images(10, 28, 28, &len);
    uint8_t *g = slurp(write_gz("full.gz", b, len), &glen);
    /* Cut inside the 8-byte trailer, and in the middle of the deflate data. */
    expect_error(write_file("cut_trailer.gz", g, glen - 3), 3, CN_ERR_FORMAT,
                 "truncated gzip stream", NULL);
    expect_error(write_file("cut_half.gz", g, glen / 2), 3, CN_ERR_FORMAT, "truncated", NULL);
    expect_error(write_file("cut_hdr.gz", g, 5), 3, CN_ERR_FORMAT, "truncated", NULL);
    free(g);
    /* A complete gzip stream whose content is short: the IDX payload is truncated. */
    expect_error(write_gz("short_payload.gz", b, len - 100), 3, CN_ERR_FORMAT,
                 "truncated: expected 7840 payload bytes after the 16-byte header, got 7740",
                 "decompressed", NULL);
    /* And one byte too long. */
    uint8_t *c = malloc(len + 1);
    memcpy(c, b, len);
    c[len] = 0;
    expect_error(write_gz("long.gz", c, len + 1), 3, CN_ERR_FORMAT,
                 "extra bytes after byte offset 7856", "decompressed", NULL);
    free(c);
    free(b);
}

Test(idx, m6_gzip_corrupt_crc) {
    size_t len, glen;
    uint8_t *b = idx_images(10, 28, 28, &len);
    uint8_t *g = slurp(write_gz("full.gz", b, len), &glen);
    g[glen - 8] ^= 0x5a; /* CRC32 of the trailer */
    expect_error(write_file("crc.gz", g, glen), 3, CN_ERR_FORMAT, "corrupt gzip",
                 "incorrect data check", NULL);
    g[glen - 8] ^= 0x5a;
    g[glen - 4] ^= 0x01; /* ISIZE of the trailer */
    expect_error(write_file("isize.gz", g, glen), 3, CN_ERR_FORMAT, "corrupt gzip", NULL);
    g[glen - 4] ^= 0x01;
    g[3] = 0xE0; /* reserved flag bits in the gzip header */
    expect_error(write_file("flags.gz", g, glen), 3, CN_ERR_FORMAT, "gzip", NULL);
    free(g);
    free(b);
}

Test(idx, m6_gzip_bomb_rejected_without_inflating_it) {
    /* A header claiming 10 x 28 x 28 images, then 100 MB of zeros, gzipped: a
     * ~100 KB file. The reader must stop one byte past the implied payload. */
    const char *path = tmp_path("bomb.gz");
    gzFile g = gzopen(path, "wb9");
    cr_assert_not_null(g);
    uint8_t h[16] = {0, 0, 8, 3};
    put_be32(h + 4, 10);
    put_be32(h + 8, 28);
    put_be32(h + 12, 28);
    cr_assert_eq(gzwrite(g, h, sizeof h), (int)sizeof h);
    uint8_t *zeros = calloc(1, 1 << 20);
    for (int i = 0; i < 100; i++) cr_assert_eq(gzwrite(g, zeros, 1 << 20), 1 << 20);
    free(zeros);
    cr_assert_eq(gzclose(g), Z_OK);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_lt(st.st_size, 1 << 20, "the bomb should be a small file");

    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    expect_error(path, 3, CN_ERR_FORMAT, "extra bytes after byte offset 7856",
                 "decompressed", NULL);
    getrusage(RUSAGE_SELF, &after);
    /* The peak resident size grew by far less than the 100 MB the stream holds. */
    cr_assert_lt(after.ru_maxrss - before.ru_maxrss, 32 * 1024, "peak RSS grew by %ld KiB",
                 after.ru_maxrss - before.ru_maxrss);
}

/* ------------------------------------------------------------------ M7 */

Test(idx, m7_byte_swapped_header) {
    size_t len;
    uint8_t *b = idx_images(10, 28, 28, &len);
    /* The whole header written little-endian: magic 0x00000803 -> 03 08 00 00. */
    uint8_t *s = malloc(len);
    memcpy(s, b, len);
    for (int w = 0; w < 4; w++)
        for (int i = 0; i < 4; i++) s[4 * w + i] = b[4 * w + 3 - i];
    expect_error(write_file("le_all", s, len), 3, CN_ERR_FORMAT, "bad IDX header",
                 "byte-swapped", NULL);
    /* Right magic, little-endian dims: absurd sizes. 10 -> 0x0A000000 etc. */
    memcpy(s, b, 4);
    expect_error(write_file("le_dims", s, len), 3, CN_ERR_RANGE, "byte-swapped", NULL);
    free(s);
    /* Labels: 60000 little-endian is 0x60EA0000 = 1625948160 labels: a length
     * mismatch against the real payload. */
    uint8_t lab[8 + 16] = {0, 0, 8, 1, 0x60, 0xEA, 0x00, 0x00};
    expect_error(write_file("le_lab", lab, sizeof lab), 1, CN_ERR_FORMAT, "truncated", NULL);
    free(b);
}

/* ------------------------------------------------------------------ pipes */

/* read_through_fifo: serve len bytes of b through a FIFO from a child process
 * (a stream of unknown size: no file length to check against) and read it. */
static cn_status read_through_fifo(const uint8_t *b, size_t len, int ndim, cn_idx *idx,
                                   cn_error *err) {
    const char *p = tmp_path("fifo");
    char path[512];
    snprintf(path, sizeof path, "%s", p);
    unlink(path);
    cr_assert_eq(mkfifo(path, 0600), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        signal(SIGPIPE, SIG_IGN);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(b, 1, len, f);
            fclose(f);
        }
        _exit(0);
    }
    cn_status st = cn_idx_read(path, ndim, idx, err);
    int ws;
    waitpid(pid, &ws, 0);
    return st;
}

Test(idx, plain_stream_of_unknown_size) {
    size_t len;
    uint8_t *b = idx_images(2000, 28, 28, &len); /* 1.5 MB: the buffer must grow */
    cn_idx idx;
    cn_error err;
    cr_assert_eq(read_through_fifo(b, len, 3, &idx, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(idx.count, len - 16);
    cr_assert_eq(memcmp(idx.data, b + 16, idx.count), 0);
    cn_idx_free(&idx);
    cr_assert_eq(read_through_fifo(b, len - 10, 3, &idx, &err), CN_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "truncated: expected 1568000 payload bytes after the "
                                       "16-byte header, got 1567990"), "%s", err.msg);
    cr_assert_null(idx.data);
    free(b);
    b = idx_labels(10, &len);
    uint8_t c[19];
    memcpy(c, b, len);
    c[18] = 1;
    cr_assert_eq(read_through_fifo(c, sizeof c, 1, &idx, &err), CN_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "extra bytes after byte offset 18"), "%s", err.msg);
    free(b);
}

/* ------------------------------------------------------------------ I/O errors */

Test(idx, io_errors) {
    expect_error(tmp_dir, 3, CN_ERR_IO, "directory", NULL);
    expect_error(tmp_path("does-not-exist"), 1, CN_ERR_IO, "No such file", NULL);
    cn_idx idx;
    cn_error err;
    cr_assert_eq(cn_idx_read(NULL, 1, &idx, &err), CN_ERR_ARG);
    cr_assert_eq(cn_idx_read(tmp_dir, 0, &idx, &err), CN_ERR_ARG);
    cr_assert_eq(cn_idx_read(tmp_dir, 4, &idx, &err), CN_ERR_ARG);
}

Test(idx, unreadable_file) {
    if (geteuid() == 0) {
        remove_tmp_dir(); /* a skipped test does not reach the suite's fini */
        cr_skip_test("running as root: permissions are not enforced");
    }
    size_t len;
    uint8_t *b = idx_labels(3, &len);
    const char *path = write_file("noperm", b, len);
    cr_assert_eq(chmod(path, 0), 0);
    expect_error(path, 1, CN_ERR_IO, "Permission denied", NULL);
    free(b);
}

/* ------------------------------------------------------------------ M4, M5: folders */

/* write_split: train-{images,labels} files of n images (rows, cols) and nl labels
 * into the temporary folder. */
static void write_split(uint32_t n, uint32_t rows, uint32_t cols, uint32_t nl) {
    size_t len;
    uint8_t *b = idx_images(n, rows, cols, &len);
    write_file("train-images-idx3-ubyte", b, len);
    free(b);
    b = idx_labels(nl, &len);
    write_file("train-labels-idx1-ubyte", b, len);
    free(b);
}

static void expect_load_error(int require_28, cn_status code, const char *want1,
                              const char *want2) {
    cn_dataset *ds = (cn_dataset *)1;
    cn_error err;
    cn_status st = cn_dataset_load_idx(tmp_dir, "train", require_28, &ds, &err);
    cr_assert_eq(st, code, "got %d (%s), expected %d", st, err.msg, code);
    cr_assert_null(ds);
    cr_assert_not_null(strstr(err.msg, want1), "message '%s' lacks '%s'", err.msg, want1);
    if (want2)
        cr_assert_not_null(strstr(err.msg, want2), "message '%s' lacks '%s'", err.msg, want2);
}

Test(idx, m4_count_mismatch) {
    write_split(6, 28, 28, 5);
    expect_load_error(1, CN_ERR_FORMAT, "count mismatch", "train-images-idx3-ubyte");
}

Test(idx, m5_label_out_of_range) {
    write_split(6, 28, 28, 6);
    size_t len;
    uint8_t *b = idx_labels(6, &len);
    b[8 + 4] = 10; /* record 4 */
    write_file("train-labels-idx1-ubyte", b, len);
    expect_load_error(1, CN_ERR_RANGE, "record 4: label 10 out of range", "byte 12");
    b[8 + 4] = 255;
    write_file("train-labels-idx1-ubyte", b, len);
    expect_load_error(0, CN_ERR_RANGE, "record 4: label 255 out of range",
                      "train-labels-idx1-ubyte");
    free(b);
}

Test(idx, m5_size_not_28) {
    write_split(4, 27, 28, 4);
    expect_load_error(1, CN_ERR_SHAPE, "27 x 28", "28 x 28");
    /* Without the requirement the same files load. */
    cn_dataset *ds = NULL;
    cn_error err;
    cr_assert_eq(cn_dataset_load_idx(tmp_dir, "train", 0, &ds, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(ds->n, 4);
    cr_assert_eq(ds->h, 27);
    cr_assert_eq(ds->w, 28);
    cn_dataset_free(ds);
    write_split(4, 28, 29, 4);
    expect_load_error(1, CN_ERR_SHAPE, "28 x 29", NULL);
}

Test(idx, m5_bad_file_in_folder_named) {
    write_split(4, 28, 28, 4);
    size_t len;
    uint8_t *b = idx_images(4, 28, 28, &len);
    write_file("train-images-idx3-ubyte", b, len - 1);
    free(b);
    expect_load_error(1, CN_ERR_FORMAT, "truncated", "train-images-idx3-ubyte");
}
