/* src/data/cifar.c: the CIFAR-10 / CIFAR-100 binary readers. A batch file is a
 * plain sequence of fixed-size records (label byte(s), then 1024 R, 1024 G and
 * 1024 B bytes, each plane 32 x 32 row-major), so the only structure to check is
 * the size (a whole number of records) and the label range; both are checked for
 * the whole file before any record is used, so a bad file never yields a partial
 * dataset. Files are read with a loop that survives EINTR and short reads (pipes,
 * FIFOs, network file systems); a regular file's size is checked before its
 * buffer is allocated. Class names come from the text files shipped beside the
 * batches (batches.meta.txt, fine_label_names.txt, coarse_label_names.txt). */
#include "convnet/cifar.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CIFAR_GROW_START ((size_t)1 << 20)  /* first buffer when the size is unknown */
#define CIFAR_NAMES_MAX_BYTES ((size_t)65536) /* a class-names file, at most */
#define CIFAR_NAME_MAX 255                    /* characters in one class name */
#define CIFAR10_SUBDIR "cifar-10-batches-bin"
#define CIFAR100_SUBDIR "cifar-100-binary"

static const char *const cifar10_names[CN_CIFAR10_CLASSES] = {
    "airplane", "automobile", "bird", "cat", "deer",
    "dog",      "frog",       "horse", "ship", "truck"};

static const char *const variant_names[CN_CIFAR_VARIANT_COUNT] = {
    "auto", "cifar10", "cifar100-fine", "cifar100-coarse"};

const char *cn_cifar_variant_name(cn_cifar_variant v) {
    if ((int)v < 0 || v >= CN_CIFAR_VARIANT_COUNT) return "?";
    return variant_names[v];
}

size_t cn_cifar_record_size(cn_cifar_variant v) {
    switch (v) {
    case CN_CIFAR10: return CN_CIFAR10_RECORD;
    case CN_CIFAR100_FINE:
    case CN_CIFAR100_COARSE: return CN_CIFAR100_RECORD;
    default: return 0;
    }
}

int cn_cifar_num_classes(cn_cifar_variant v) {
    switch (v) {
    case CN_CIFAR10: return CN_CIFAR10_CLASSES;
    case CN_CIFAR100_FINE: return CN_CIFAR100_FINE_CLASSES;
    case CN_CIFAR100_COARSE: return CN_CIFAR100_COARSE_CLASSES;
    default: return 0;
    }
}

/* record_kind: the name of the variant's records in messages. */
static const char *record_kind(cn_cifar_variant v) {
    return v == CN_CIFAR10 ? "CIFAR-10" : "CIFAR-100";
}

/* ------------------------------------------------------------------ checks */

static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* sniff: a hint for error messages when the first bytes (head, head_len of them)
 * of a file of total bytes look like another format; "" when they do not. */
static const char *sniff(const uint8_t *head, size_t head_len, size_t total) {
    if (head_len >= 4 && head[0] == 0x89 && head[1] == 'P' && head[2] == 'N' && head[3] == 'G')
        return " (the file looks like a PNG image, not a CIFAR batch)";
    if (head_len >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff)
        return " (the file looks like a JPEG image, not a CIFAR batch)";
    if (head_len >= 2 && head[0] == 0x1f && head[1] == 0x8b)
        return " (the file is gzip-compressed, not a raw CIFAR batch: decompress or extract it first)";
    if (head_len >= 4 && head[0] == 0 && head[1] == 0 && head[2] == 0x08 && head[3] >= 1 &&
        head[3] <= 3 && head_len >= 4 + 4 * (size_t)head[3]) {
        size_t count = 1;
        int over = 0;
        for (int i = 0; i < head[3]; i++)
            if (!over && cn_mul_overflow(count, be32(head + 4 + 4 * i), &count)) over = 1;
        if (!over && count <= total && total - count == 4 + 4 * (size_t)head[3])
            return " (the file looks like an IDX file such as MNIST, not a CIFAR batch)";
    }
    return "";
}

/* check_size: len must be a positive whole number of records within the caps.
 * head: the first head_len bytes, for the hint. Sets *n to the record count. */
static cn_status check_size(const char *what, size_t len, cn_cifar_variant v,
                            const uint8_t *head, size_t head_len, size_t *n, cn_error *err) {
    const size_t rec = cn_cifar_record_size(v);
    if (len == 0)
        return cn_error_set(err, CN_ERR_IO, "%s: empty file (0 bytes), expected %s records "
                            "of %zu bytes", what, record_kind(v), rec);
    if (len % rec != 0)
        return cn_error_set(err, CN_ERR_FORMAT,
                            "%s: truncated/extra bytes: %zu bytes is not a whole number of "
                            "%zu-byte %s records (%zu whole records, then %zu bytes)%s",
                            what, len, rec, record_kind(v), len / rec, len % rec,
                            sniff(head, head_len, len));
    if (len > CN_CIFAR_MAX_FILE_BYTES || len / rec > (size_t)INT_MAX)
        return cn_error_set(err, CN_ERR_RANGE,
                            "%s: %zu bytes is over the cap of %zu bytes for one batch file",
                            what, len, (size_t)CN_CIFAR_MAX_FILE_BYTES);
    *n = len / rec;
    return CN_OK;
}

/* check_labels: every label byte of the n records of buf in range. For CIFAR-100
 * both the coarse and the fine byte are checked, whichever one is used. */
static cn_status check_labels(const char *what, const uint8_t *buf, size_t n,
                              cn_cifar_variant v, cn_error *err) {
    const size_t rec = cn_cifar_record_size(v);
    const uint8_t *b = buf; // (n, rec)
    for (size_t r = 0; r < n; r++, b += rec) {
        if (v == CN_CIFAR10) {
            if (b[0] >= CN_CIFAR10_CLASSES)
                return cn_error_set(err, CN_ERR_RANGE,
                                    "%s: byte %zu: record %zu: label %u out of range [0, %d)%s",
                                    what, r * rec, r, (unsigned)b[0], CN_CIFAR10_CLASSES,
                                    sniff(buf, n * rec, n * rec));
            continue;
        }
        if (b[0] >= CN_CIFAR100_COARSE_CLASSES)
            return cn_error_set(err, CN_ERR_RANGE,
                                "%s: byte %zu: record %zu: coarse label %u out of range "
                                "[0, %d)%s", what, r * rec, r, (unsigned)b[0],
                                CN_CIFAR100_COARSE_CLASSES, sniff(buf, n * rec, n * rec));
        if (b[1] >= CN_CIFAR100_FINE_CLASSES)
            return cn_error_set(err, CN_ERR_RANGE,
                                "%s: byte %zu: record %zu: fine label %u out of range "
                                "[0, %d)%s", what, r * rec + 1, r, (unsigned)b[1],
                                CN_CIFAR100_FINE_CLASSES, sniff(buf, n * rec, n * rec));
    }
    return CN_OK;
}

/* check_batch: size and labels of one whole batch held in memory. */
static cn_status check_batch(const char *what, const uint8_t *buf, size_t len,
                             cn_cifar_variant v, size_t *n, cn_error *err) {
    cn_status st = check_size(what, len, v, buf, len, n, err);
    if (st == CN_OK) st = check_labels(what, buf, *n, v, err);
    return st;
}

/* fill_records: convert the n records of buf into records first..first+n of ds:
 * pixel = byte / 255 exactly (the record's planes are already (3, 32, 32)). */
static void fill_records(cn_dataset *ds, size_t first, const uint8_t *buf, size_t n,
                         cn_cifar_variant v) {
    const size_t rec = cn_cifar_record_size(v);
    const size_t skip = rec - CN_CIFAR_PIXELS;
    for (size_t r = 0; r < n; r++) {
        const uint8_t *b = buf + r * rec; // (rec): label byte(s), then (3, 32, 32)
        cn_real *x = ds->images->data + (first + r) * CN_CIFAR_PIXELS; // (3, 32, 32)
        const uint8_t *px = b + skip;
        for (size_t i = 0; i < CN_CIFAR_PIXELS; i++) x[i] = (cn_real)px[i] / (cn_real)255;
        ds->labels[first + r] = v == CN_CIFAR100_FINE ? b[1] : b[0];
    }
}

/* new_dataset: n records of the variant with its default class names. */
static cn_dataset *new_dataset(size_t n, cn_cifar_variant v, cn_error *err) {
    cn_dataset *ds = cn_dataset_new((int)n, 3, CN_CIFAR_SIDE, CN_CIFAR_SIDE,
                                    cn_cifar_num_classes(v), err);
    if (ds && v == CN_CIFAR10 &&
        cn_dataset_set_class_names(ds, cifar10_names, CN_CIFAR10_CLASSES, err) != CN_OK) {
        cn_dataset_free(ds);
        return NULL;
    }
    return ds;
}

static cn_status check_variant(const char *what, cn_cifar_variant v, cn_error *err) {
    if (cn_cifar_record_size(v) == 0)
        return cn_error_set(err, CN_ERR_ARG, "%s: bad CIFAR variant %d (expected cifar10, "
                            "cifar100-fine or cifar100-coarse)", what, (int)v);
    return CN_OK;
}

cn_status cn_cifar_parse(const uint8_t *buf, size_t len, const char *what,
                         cn_cifar_variant variant, cn_dataset **out, cn_error *err) {
    CN_ASSERT(out != NULL);
    *out = NULL;
    if (!what) what = "<memory>";
    cn_status st = check_variant(what, variant, err);
    if (st != CN_OK) return st;
    if (!buf && len > 0) return cn_error_set(err, CN_ERR_ARG, "%s: NULL buffer", what);
    size_t n = 0;
    if ((st = check_batch(what, buf, len, variant, &n, err)) != CN_OK) return st;
    cn_dataset *ds = new_dataset(n, variant, err);
    if (!ds) return err ? err->code : CN_ERR_NOMEM;
    fill_records(ds, 0, buf, n, variant);
    *out = ds;
    return CN_OK;
}

/* ------------------------------------------------------------------ robust file reading */

/* read_full: read() up to n bytes from fd into dst, retrying on EINTR and after
 * short reads; *got is the count read (less than n only at end of file). at is
 * the file offset of dst, for the message. */
static cn_status read_full(int fd, const char *path, uint8_t *dst, size_t n, size_t at,
                           size_t *got, cn_error *err) {
    size_t have = 0;
    while (have < n) {
        ssize_t r = read(fd, dst + have, n - have);
        if (r < 0) {
            if (errno == EINTR) continue;
            *got = have;
            return cn_error_set(err, CN_ERR_IO, "%s: read failed at byte %zu: %s", path,
                                at + have, strerror(errno));
        }
        if (r == 0) break;
        have += (size_t)r;
    }
    *got = have;
    return CN_OK;
}

/* open_file: open path read-only (retrying on EINTR), refusing directories. */
static cn_status open_file(const char *path, int *fd_out, struct stat *stp, cn_error *err) {
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return cn_error_set(err, CN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, stp) != 0) {
        int e = errno;
        close(fd);
        return cn_error_set(err, CN_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(stp->st_mode)) {
        close(fd);
        return cn_error_set(err, CN_ERR_IO, "%s: is a directory, not a file", path);
    }
    *fd_out = fd;
    return CN_OK;
}

/* read_known: a regular file of `size` bytes (from fstat): read exactly that
 * many, and one more to notice a file that grew while being read. */
static cn_status read_known(int fd, const char *path, size_t size, uint8_t **buf,
                            cn_error *err) {
    uint8_t *b = cn_malloc(size + 1); // (size + 1) file bytes + 1 probe
    if (!b) return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory for %zu bytes", path, size);
    size_t got = 0;
    cn_status st = read_full(fd, path, b, size + 1, 0, &got, err);
    if (st == CN_OK && got < size)
        st = cn_error_set(err, CN_ERR_FORMAT, "%s: byte %zu: truncated while reading: the "
                          "file had %zu bytes when opened", path, got, size);
    if (st == CN_OK && got > size)
        st = cn_error_set(err, CN_ERR_FORMAT, "%s: the file grew past its %zu bytes while "
                          "being read", path, size);
    if (st != CN_OK) {
        cn_free(b);
        return st;
    }
    *buf = b;
    return CN_OK;
}

/* read_unknown: a FIFO, pipe, device or a file reporting size 0 (/proc): read to
 * the end into a buffer that grows geometrically, refusing more than cap bytes. */
static cn_status read_unknown(int fd, const char *path, size_t cap, uint8_t **buf,
                              size_t *len, cn_error *err) {
    size_t size = CIFAR_GROW_START < cap + 1 ? CIFAR_GROW_START : cap + 1;
    uint8_t *b = cn_malloc(size); // (size) bytes read so far, then free space
    if (!b) return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", path);
    size_t have = 0;
    cn_status st = CN_OK;
    for (;;) {
        if (have == size) {
            if (size > cap) {
                st = cn_error_set(err, CN_ERR_RANGE, "%s: more than the cap of %zu bytes",
                                  path, cap);
                break;
            }
            size_t grow = size > (cap + 1) / 2 ? cap + 1 : size * 2;
            uint8_t *nb = cn_realloc(b, grow);
            if (!nb) {
                st = cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory for %zu bytes", path,
                                  grow);
                break;
            }
            b = nb;
            size = grow;
        }
        size_t got = 0;
        st = read_full(fd, path, b + have, size - have, have, &got, err);
        have += got;
        if (st != CN_OK || have < size) break;
    }
    if (st == CN_OK && have > cap)
        st = cn_error_set(err, CN_ERR_RANGE, "%s: more than the cap of %zu bytes", path, cap);
    if (st != CN_OK) {
        cn_free(b);
        return st;
    }
    *buf = b;
    *len = have;
    return CN_OK;
}

/* read_file: the whole file at path into a new buffer (*buf, *len). When v is a
 * variant (not CN_CIFAR_AUTO), a regular file's size is checked as a batch before
 * allocation, so a huge or misshapen file is rejected without reading it. */
static cn_status read_file(const char *path, size_t cap, cn_cifar_variant v, uint8_t **buf,
                           size_t *len, cn_error *err) {
    *buf = NULL;
    *len = 0;
    int fd = -1;
    struct stat stv;
    cn_status st = open_file(path, &fd, &stv, err);
    if (st != CN_OK) return st;
    if (S_ISREG(stv.st_mode) && stv.st_size > 0) {
        size_t size = (size_t)stv.st_size;
        if ((uint64_t)stv.st_size > (uint64_t)cap) {
            st = cn_error_set(err, CN_ERR_RANGE, "%s: %zu bytes is over the cap of %zu bytes",
                              path, size, cap);
        } else if (v != CN_CIFAR_AUTO) {
            uint8_t head[16];
            size_t got = 0, n = 0;
            st = read_full(fd, path, head, sizeof head, 0, &got, err);
            if (st == CN_OK) st = check_size(path, size, v, head, got, &n, err);
            if (st == CN_OK && lseek(fd, 0, SEEK_SET) != 0)
                st = cn_error_set(err, CN_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
        }
        if (st == CN_OK) st = read_known(fd, path, size, buf, err);
        if (st == CN_OK) *len = size;
    } else {
        st = read_unknown(fd, path, cap, buf, len, err);
    }
    close(fd);
    return st;
}

cn_status cn_cifar_read(const char *path, cn_cifar_variant variant, cn_dataset **out,
                        cn_error *err) {
    CN_ASSERT(out != NULL);
    *out = NULL;
    if (!path) return cn_error_set(err, CN_ERR_ARG, "cn_cifar_read: path is NULL");
    cn_status st = check_variant(path, variant, err);
    if (st != CN_OK) return st;
    uint8_t *buf = NULL;
    size_t len = 0;
    st = read_file(path, CN_CIFAR_MAX_FILE_BYTES, variant, &buf, &len, err);
    if (st == CN_OK) st = cn_cifar_parse(buf, len, path, variant, out, err);
    cn_free(buf);
    return st;
}

/* ------------------------------------------------------------------ folders */

/* join_path: "a/b" into a new buffer (b may be NULL: a copy of a); NULL on failure. */
static char *join_path(const char *a, const char *b) {
    size_t n = strlen(a) + (b ? 1 + strlen(b) : 0) + 1;
    char *p = cn_malloc(n);
    if (p) snprintf(p, n, b ? "%s/%s" : "%s", a, b ? b : "");
    return p;
}

/* exists_in: 1 when dir/name exists (any kind of file). */
static int exists_in(const char *dir, const char *name) {
    char *p = join_path(dir, name);
    if (!p) return 0;
    struct stat st;
    int ok = stat(p, &st) == 0;
    cn_free(p);
    return ok;
}

/* holds_any: 1 when dir or dir/subdir holds name_a or name_b; *where (may be
 * NULL) gets the folder that does (a new string), preferring dir itself. */
static int holds_any(const char *dir, const char *subdir, const char *name_a,
                     const char *name_b, char **where) {
    char *cand[2] = {join_path(dir, NULL), join_path(dir, subdir)};
    int found = 0;
    for (int i = 0; i < 2 && !found; i++) {
        if (!cand[i]) continue;
        if (exists_in(cand[i], name_a) || (name_b && exists_in(cand[i], name_b))) {
            found = 1;
            if (where) {
                *where = cand[i];
                cand[i] = NULL;
            }
        }
    }
    cn_free(cand[0]);
    cn_free(cand[1]);
    return found;
}

int cn_cifar_detect(const char *dir) {
    if (!dir) return 0;
    if (holds_any(dir, CIFAR10_SUBDIR, "data_batch_1.bin", "test_batch.bin", NULL))
        return CN_CIFAR10;
    if (holds_any(dir, CIFAR100_SUBDIR, "train.bin", "test.bin", NULL)) return CN_CIFAR100_FINE;
    return 0;
}

/* parse_names: the class names of a names file's bytes (one per line, CR and
 * trailing blanks stripped, blank lines ignored); exactly ds->num_classes. */
static cn_status parse_names(const char *path, const uint8_t *buf, size_t len, cn_dataset *ds,
                             cn_error *err) {
    const int k = ds->num_classes;
    char **names = cn_calloc((size_t)k, sizeof *names); // (k)
    if (!names) return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", path);
    cn_status st = CN_OK;
    int got = 0, line = 1;
    for (size_t pos = 0; st == CN_OK && pos < len; line++) {
        size_t end = pos;
        while (end < len && buf[end] != '\n') end++;
        size_t stop = end;
        while (stop > pos && (buf[stop - 1] == ' ' || buf[stop - 1] == '\t' ||
                              buf[stop - 1] == '\r'))
            stop--;
        size_t n = stop - pos;
        if (n > 0) {
            if (memchr(buf + pos, '\0', n))
                st = cn_error_set(err, CN_ERR_FORMAT, "%s:%d: NUL byte in a class name", path,
                                  line);
            else if (n > CIFAR_NAME_MAX)
                st = cn_error_set(err, CN_ERR_RANGE, "%s:%d: class name longer than %d bytes",
                                  path, line, CIFAR_NAME_MAX);
            else if (got >= k)
                st = cn_error_set(err, CN_ERR_FORMAT, "%s:%d: more than %d class names", path,
                                  line, k);
            else if (!(names[got] = cn_malloc(n + 1)))
                st = cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", path);
            else {
                memcpy(names[got], buf + pos, n);
                names[got++][n] = '\0';
            }
        }
        pos = end + 1;
    }
    if (st == CN_OK && got != k)
        st = cn_error_set(err, CN_ERR_FORMAT, "%s: %d class names, expected %d (one per line)",
                          path, got, k);
    if (st == CN_OK) st = cn_dataset_set_class_names(ds, (const char *const *)names, k, err);
    for (int i = 0; i < got; i++) cn_free(names[i]);
    cn_free(names);
    return st;
}

/* load_names: class names from dir/name when that file exists. */
static cn_status load_names(const char *dir, const char *name, cn_dataset *ds, cn_error *err) {
    char *path = join_path(dir, name);
    if (!path) return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", dir);
    struct stat sv;
    cn_status st = CN_OK;
    if (stat(path, &sv) == 0) {
        uint8_t *buf = NULL;
        size_t len = 0;
        st = read_file(path, CIFAR_NAMES_MAX_BYTES, CN_CIFAR_AUTO, &buf, &len, err);
        if (st == CN_OK) st = parse_names(path, buf, len, ds, err);
        cn_free(buf);
    } else if (errno != ENOENT) {
        st = cn_error_set(err, CN_ERR_IO, "%s: %s", path, strerror(errno));
    }
    cn_free(path);
    return st;
}

/* load_batches: read the nfiles batch files names[] of folder dir, check each
 * whole, then convert them all, in order, into one new dataset. */
static cn_status load_batches(const char *dir, const char *const *names, int nfiles,
                              cn_cifar_variant v, cn_dataset **out, cn_error *err) {
    uint8_t *buf[CN_CIFAR10_TRAIN_BATCHES] = {0};
    size_t cnt[CN_CIFAR10_TRAIN_BATCHES] = {0};
    CN_ASSERT(nfiles >= 1 && nfiles <= CN_CIFAR10_TRAIN_BATCHES);
    cn_status st = CN_OK;
    size_t total = 0;
    for (int i = 0; i < nfiles && st == CN_OK; i++) {
        char *path = join_path(dir, names[i]);
        if (!path) {
            st = cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        size_t len = 0;
        st = read_file(path, CN_CIFAR_MAX_FILE_BYTES, v, &buf[i], &len, err);
        if (st == CN_OK) st = check_batch(path, buf[i], len, v, &cnt[i], err);
        total += cnt[i];
        if (st == CN_OK && total > (size_t)INT_MAX)
            st = cn_error_set(err, CN_ERR_RANGE, "%s: more than %d records in all", path,
                              INT_MAX);
        cn_free(path);
    }
    cn_dataset *ds = NULL;
    if (st == CN_OK && !(ds = new_dataset(total, v, err))) st = err ? err->code : CN_ERR_NOMEM;
    size_t first = 0;
    for (int i = 0; i < nfiles; i++) {
        if (st == CN_OK) fill_records(ds, first, buf[i], cnt[i], v);
        first += cnt[i];
        cn_free(buf[i]);
    }
    if (st != CN_OK) {
        cn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return CN_OK;
}

cn_status cn_dataset_load_cifar(const char *dir, const char *split, cn_cifar_variant variant,
                                cn_dataset **out, cn_error *err) {
    CN_ASSERT(out != NULL);
    *out = NULL;
    if (!dir || !split)
        return cn_error_set(err, CN_ERR_ARG, "cn_dataset_load_cifar: NULL argument");
    int train = strcmp(split, "train") == 0;
    if (!train && strcmp(split, "test") != 0)
        return cn_error_set(err, CN_ERR_ARG, "%s: unknown split '%s' (expected train or test)",
                            dir, split);
    if (variant == CN_CIFAR_AUTO) {
        variant = (cn_cifar_variant)cn_cifar_detect(dir);
        if (variant == CN_CIFAR_AUTO)
            return cn_error_set(err, CN_ERR_IO,
                                "%s: no CIFAR batch files (data_batch_1.bin, test_batch.bin, "
                                "train.bin or test.bin) here or in %s/ or %s/", dir,
                                CIFAR10_SUBDIR, CIFAR100_SUBDIR);
    }
    cn_status st = check_variant(dir, variant, err);
    if (st != CN_OK) return st;
    static const char *const train10[CN_CIFAR10_TRAIN_BATCHES] = {
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
        "data_batch_5.bin"};
    static const char *const test10[1] = {"test_batch.bin"};
    static const char *const train100[1] = {"train.bin"};
    static const char *const test100[1] = {"test.bin"};
    const char *const *files;
    int nfiles = 1;
    const char *subdir, *names_file;
    if (variant == CN_CIFAR10) {
        files = train ? train10 : test10;
        nfiles = train ? CN_CIFAR10_TRAIN_BATCHES : 1;
        subdir = CIFAR10_SUBDIR;
        names_file = "batches.meta.txt";
    } else {
        files = train ? train100 : test100;
        subdir = CIFAR100_SUBDIR;
        names_file = variant == CN_CIFAR100_FINE ? "fine_label_names.txt"
                                                 : "coarse_label_names.txt";
    }
    char *where = NULL;
    if (!holds_any(dir, subdir, files[0], NULL, &where))
        return cn_error_set(err, CN_ERR_IO, "%s/%s: %s (nor in %s/%s/)", dir, files[0],
                            strerror(ENOENT), dir, subdir);
    st = load_batches(where, files, nfiles, variant, out, err);
    if (st == CN_OK) st = load_names(where, names_file, *out, err);
    if (st != CN_OK) {
        cn_dataset_free(*out);
        *out = NULL;
    }
    cn_free(where);
    return st;
}
