/* src/data/idx.c: the strict IDX reader (MNIST / Fashion-MNIST files of unsigned
 * bytes). Plain and gzip files are read through one byte source; gzip is detected
 * by its 1f 8b magic and inflated with zlib, bounded by the payload size the IDX
 * header implies (plus one byte to detect extra data), so a gzip bomb is rejected
 * after inflating at most a few kilobytes more than the legitimate payload. Every
 * size is checked for overflow and against CN_IDX_MAX_BYTES before allocation.
 * The same source also reads from a memory buffer (cn_idx_parse, for the fuzzer
 * and for callers that hold the bytes), so both paths share every check. */
#include "convnet/data.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_IN_CHUNK ((size_t)1 << 16)     /* compressed bytes read per refill */
#define IDX_GROW_START ((size_t)1 << 20)   /* first payload buffer when size unknown */

/* idx_src: a forward-only byte source over a plain or gzip file, or over a memory
 * buffer (mem != NULL; fd is then unused). pos counts the bytes delivered (offsets
 * in the decompressed stream for gzip). */
typedef struct idx_src {
    const char *path;
    int fd;
    const uint8_t *mem;   /* (mem_len) the buffer of cn_idx_parse, or NULL */
    size_t mem_len, mem_off;
    int gz;               /* 1: inflating a gzip stream */
    int z_ready;          /* inflateInit2 succeeded */
    int z_end;            /* the current gzip member reached its end */
    int in_eof;           /* the file has no more compressed bytes */
    z_stream zs;
    uint8_t *in;          /* (IDX_IN_CHUNK) compressed input buffer */
    size_t in_total;      /* compressed bytes read from the file so far */
    size_t pos;           /* bytes delivered so far */
    uint8_t peek[2];      /* first bytes of a plain file, delivered before read() */
    size_t peek_len, peek_off;
} idx_src;

/* read_full: read() up to n bytes, retrying on EINTR and short reads (or copy
 * them from the memory buffer); *got is the number read (less than n only at end
 * of file). */
static cn_status read_full(idx_src *s, uint8_t *dst, size_t n, size_t *got, cn_error *err) {
    if (s->mem) {
        size_t left = s->mem_len - s->mem_off;
        size_t take = n < left ? n : left;
        if (take > 0) memcpy(dst, s->mem + s->mem_off, take);
        s->mem_off += take;
        *got = take;
        return CN_OK;
    }
    size_t have = 0;
    while (have < n) {
        ssize_t r = read(s->fd, dst + have, n - have);
        if (r < 0) {
            if (errno == EINTR) continue;
            *got = have;
            return cn_error_set(err, CN_ERR_IO, "%s: read failed: %s", s->path,
                                strerror(errno));
        }
        if (r == 0) break;
        have += (size_t)r;
    }
    *got = have;
    return CN_OK;
}

/* gz_refill: fetch the next chunk of compressed input when the buffer is empty. */
static cn_status gz_refill(idx_src *s, cn_error *err) {
    if (s->zs.avail_in > 0 || s->in_eof) return CN_OK;
    size_t got = 0;
    cn_status st = read_full(s, s->in, IDX_IN_CHUNK, &got, err);
    if (st != CN_OK) return st;
    if (got == 0) s->in_eof = 1;
    s->zs.next_in = s->in;
    s->zs.avail_in = (uInt)got;
    s->in_total += got;
    return CN_OK;
}

/* gz_read: inflate up to n bytes into dst; *got < n only at the clean end of the
 * last gzip member. Truncated and corrupt streams are errors. */
static cn_status gz_read(idx_src *s, uint8_t *dst, size_t n, size_t *got, cn_error *err) {
    size_t have = 0;
    cn_status st = CN_OK;
    while (have < n) {
        if ((st = gz_refill(s, err)) != CN_OK) break;
        if (s->z_end) {
            if (s->zs.avail_in == 0) break; /* clean end of the file */
            /* Another gzip member follows (concatenated gzip, as gunzip accepts). */
            if (s->zs.next_in[0] != 0x1f) {
                size_t at = s->in_total - s->zs.avail_in;
                st = cn_error_set(err, CN_ERR_FORMAT,
                                  "%s: compressed byte %zu: trailing garbage after the "
                                  "gzip stream", s->path, at);
                break;
            }
            if (inflateReset(&s->zs) != Z_OK) {
                st = cn_error_set(err, CN_ERR_FORMAT, "%s: inflateReset failed", s->path);
                break;
            }
            s->z_end = 0;
        }
        size_t want = n - have;
        uInt chunk = want > (size_t)UINT32_MAX / 2 ? (uInt)(UINT32_MAX / 2) : (uInt)want;
        s->zs.next_out = dst + have;
        s->zs.avail_out = chunk;
        uInt in_before = s->zs.avail_in;
        int ret = inflate(&s->zs, Z_NO_FLUSH);
        size_t produced = chunk - s->zs.avail_out;
        have += produced;
        s->pos += produced;
        if (ret == Z_STREAM_END) {
            s->z_end = 1;
            continue;
        }
        if (ret == Z_OK) continue;
        if (ret == Z_BUF_ERROR) {
            /* No progress: either more input is needed or the file has ended. */
            if (s->zs.avail_in == 0 && s->in_eof) {
                st = cn_error_set(err, CN_ERR_FORMAT,
                                  "%s: truncated gzip stream: the compressed data ends at "
                                  "byte %zu, before the end of the gzip stream (at byte %zu "
                                  "of the decompressed stream)", s->path, s->in_total,
                                  s->pos);
                break;
            }
            if (produced == 0 && in_before == s->zs.avail_in && s->zs.avail_in > 0) {
                st = cn_error_set(err, CN_ERR_FORMAT, "%s: gzip stream makes no progress "
                                  "at compressed byte %zu", s->path,
                                  s->in_total - s->zs.avail_in);
                break;
            }
            continue;
        }
        if (ret == Z_MEM_ERROR) {
            st = cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory inflating gzip", s->path);
            break;
        }
        st = cn_error_set(err, CN_ERR_FORMAT,
                          "%s: corrupt gzip stream near compressed byte %zu (byte %zu of "
                          "the decompressed stream): %s", s->path,
                          s->in_total - s->zs.avail_in, s->pos,
                          s->zs.msg ? s->zs.msg : "invalid data");
        break;
    }
    *got = have;
    return st;
}

/* src_read: read up to n bytes from the source (*got < n only at a clean end). */
static cn_status src_read(idx_src *s, uint8_t *dst, size_t n, size_t *got, cn_error *err) {
    if (s->gz) return gz_read(s, dst, n, got, err);
    size_t have = 0;
    while (have < n && s->peek_off < s->peek_len) dst[have++] = s->peek[s->peek_off++];
    size_t more = 0;
    cn_status st = read_full(s, dst + have, n - have, &more, err);
    have += more;
    s->pos += have;
    *got = have;
    return st;
}

/* src_detect: read the first two bytes and switch to inflating on the gzip magic. */
static cn_status src_detect(idx_src *s, cn_error *err) {
    const char *path = s->path;
    size_t got = 0;
    cn_status st = read_full(s, s->peek, 2, &got, err);
    if (st != CN_OK) return st;
    if (got == 2 && s->peek[0] == 0x1f && s->peek[1] == 0x8b) {
        s->gz = 1;
        s->in = cn_malloc(IDX_IN_CHUNK);
        if (!s->in) return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", path);
        s->in[0] = 0x1f;
        s->in[1] = 0x8b;
        s->zs.next_in = s->in;
        s->zs.avail_in = 2;
        s->in_total = 2;
        /* windowBits 15 + 32: gzip (or zlib) header detected automatically. */
        if (inflateInit2(&s->zs, 15 + 32) != Z_OK)
            return cn_error_set(err, CN_ERR_NOMEM, "%s: inflateInit2 failed", path);
        s->z_ready = 1;
    } else {
        s->peek_len = got;
    }
    return CN_OK;
}

/* src_open: open path and detect gzip from its first two bytes. */
static cn_status src_open(idx_src *s, const char *path, struct stat *stp, cn_error *err) {
    memset(s, 0, sizeof *s);
    s->path = path;
    s->fd = -1;
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return cn_error_set(err, CN_ERR_IO, "%s: %s", path, strerror(errno));
    s->fd = fd;
    if (fstat(fd, stp) != 0)
        return cn_error_set(err, CN_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(stp->st_mode))
        return cn_error_set(err, CN_ERR_IO, "%s: %s", path, strerror(EISDIR));
    return src_detect(s, err);
}

/* src_open_mem: a source over buf[0..len); *stp describes it as a regular file
 * of len bytes, so read_payload checks the size before allocating, as for files. */
static cn_status src_open_mem(idx_src *s, const char *what, const uint8_t *buf, size_t len,
                              struct stat *stp, cn_error *err) {
    memset(s, 0, sizeof *s);
    memset(stp, 0, sizeof *stp);
    s->path = what;
    s->fd = -1;
    s->mem = buf;
    s->mem_len = len;
    stp->st_mode = S_IFREG;
    stp->st_size = (off_t)len;
    return src_detect(s, err);
}

static void src_close(idx_src *s) {
    if (s->z_ready) inflateEnd(&s->zs);
    cn_free(s->in);
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
}

static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* read_header: the 4-byte magic and the big-endian dims; fills out->ndim/dims. */
static cn_status read_header(idx_src *s, int expect_ndim, cn_idx *out, cn_error *err) {
    const char *where = s->gz ? " of the decompressed stream" : "";
    uint8_t h[16]; // magic (4) + dims (ndim * 4)
    size_t got = 0;
    cn_status st = src_read(s, h, 4, &got, err);
    if (st != CN_OK) return st;
    if (got < 4)
        return cn_error_set(err, CN_ERR_FORMAT,
                            "%s: byte %zu%s: bad IDX header: truncated: the file ends after "
                            "%zu of the 4 magic bytes", s->path, got, where, got);
    if (h[0] != 0 || h[1] != 0)
        return cn_error_set(err, CN_ERR_FORMAT,
                            "%s: byte 0%s: bad IDX header: magic bytes 0-1 are %02x %02x, "
                            "expected 00 00 (a byte-swapped or non-IDX file?)", s->path,
                            where, h[0], h[1]);
    if (h[2] != 0x08)
        return cn_error_set(err, CN_ERR_FORMAT,
                            "%s: byte 2%s: bad IDX header: data type 0x%02x, expected 0x08 "
                            "(unsigned byte)", s->path, where, h[2]);
    if (h[3] != expect_ndim)
        return cn_error_set(err, CN_ERR_FORMAT,
                            "%s: byte 3%s: bad IDX header: %d dimensions, expected %d",
                            s->path, where, h[3], expect_ndim);
    size_t dim_bytes = (size_t)expect_ndim * 4;
    st = src_read(s, h + 4, dim_bytes, &got, err);
    if (st != CN_OK) return st;
    if (got < dim_bytes)
        return cn_error_set(err, CN_ERR_FORMAT,
                            "%s: byte %zu%s: bad IDX header: truncated: expected %zu header "
                            "bytes, got %zu", s->path, 4 + got, where, 4 + dim_bytes, 4 + got);
    out->ndim = expect_ndim;
    size_t count = 1;
    int overflow = 0;
    for (int i = 0; i < expect_ndim; i++) {
        out->dims[i] = be32(h + 4 + 4 * i);
        if (!overflow && cn_mul_overflow(count, out->dims[i], &count)) overflow = 1;
    }
    if (overflow || count > CN_IDX_MAX_BYTES) {
        char dims[64];
        if (expect_ndim == 3)
            snprintf(dims, sizeof dims, "%u x %u x %u", (unsigned)out->dims[0],
                     (unsigned)out->dims[1], (unsigned)out->dims[2]);
        else
            snprintf(dims, sizeof dims, "%u", (unsigned)out->dims[0]);
        if (overflow)
            return cn_error_set(err, CN_ERR_RANGE,
                                "%s: byte 4%s: IDX dims %s overflow the size type "
                                "(a byte-swapped header?)", s->path, where, dims);
        return cn_error_set(err, CN_ERR_RANGE,
                            "%s: byte 4%s: IDX dims %s give %zu bytes, over the cap of %zu "
                            "bytes (a byte-swapped header?)", s->path, where, dims, count,
                            (size_t)CN_IDX_MAX_BYTES);
    }
    out->count = count;
    return CN_OK;
}

/* read_payload: read exactly out->count bytes into a new buffer, then make sure
 * nothing follows. For a plain regular file the size is checked against the file
 * length first; otherwise the buffer grows geometrically up to the implied size, so
 * a short stream never makes the reader allocate what its header merely claims. */
static cn_status read_payload(idx_src *s, const struct stat *stp, cn_idx *out,
                              cn_error *err) {
    const size_t header = 4 + (size_t)out->ndim * 4;
    const size_t need = out->count;
    if (!s->gz && S_ISREG(stp->st_mode) && stp->st_size >= 0) {
        size_t fsize = (size_t)stp->st_size;
        if (fsize < header + need)
            return cn_error_set(err, CN_ERR_FORMAT,
                                "%s: byte %zu: truncated: expected %zu payload bytes after "
                                "the %zu-byte header, got %zu", s->path, fsize, need, header,
                                fsize - header);
        if (fsize > header + need)
            return cn_error_set(err, CN_ERR_FORMAT,
                                "%s: extra bytes after byte offset %zu (the file has %zu "
                                "bytes)", s->path, header + need, fsize);
    }
    size_t cap = need;
    if (s->gz || !S_ISREG(stp->st_mode)) cap = need < IDX_GROW_START ? need : IDX_GROW_START;
    uint8_t *buf = cn_malloc(cap > 0 ? cap : 1); // (count) payload bytes
    if (!buf)
        return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory for %zu bytes", s->path,
                            cap);
    size_t have = 0;
    cn_status st = CN_OK;
    while (have < need) {
        if (have == cap) {
            size_t ncap = cap > need / 2 ? need : cap * 2;
            uint8_t *nb = cn_realloc(buf, ncap);
            if (!nb) {
                st = cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory for %zu bytes",
                                  s->path, ncap);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = 0;
        st = src_read(s, buf + have, cap - have, &got, err);
        have += got;
        if (st != CN_OK) break;
        if (got == 0) {
            st = cn_error_set(err, CN_ERR_FORMAT,
                              "%s: byte %zu%s: truncated: expected %zu payload bytes after "
                              "the %zu-byte header, got %zu", s->path, header + have,
                              s->gz ? " of the decompressed stream" : "", need, header, have);
            break;
        }
    }
    if (st == CN_OK) {
        uint8_t extra;
        size_t got = 0;
        st = src_read(s, &extra, 1, &got, err);
        if (st == CN_OK && got != 0)
            st = cn_error_set(err, CN_ERR_FORMAT, "%s: extra bytes after byte offset %zu%s",
                              s->path, header + need,
                              s->gz ? " (offset in the decompressed stream)" : "");
    }
    if (st != CN_OK) {
        cn_free(buf);
        return st;
    }
    out->data = buf;
    return CN_OK;
}

cn_status cn_idx_read(const char *path, int expect_ndim, cn_idx *out, cn_error *err) {
    CN_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    if (!path) return cn_error_set(err, CN_ERR_ARG, "cn_idx_read: path is NULL");
    if (expect_ndim < 1 || expect_ndim > 3)
        return cn_error_set(err, CN_ERR_ARG, "%s: expected rank %d is not in 1..3", path,
                            expect_ndim);
    idx_src s;
    struct stat stv;
    cn_status st = src_open(&s, path, &stv, err);
    if (st == CN_OK) st = read_header(&s, expect_ndim, out, err);
    if (st == CN_OK) st = read_payload(&s, &stv, out, err);
    src_close(&s);
    if (st != CN_OK) memset(out, 0, sizeof *out);
    return st;
}

cn_status cn_idx_parse(const uint8_t *buf, size_t len, const char *what, int expect_ndim,
                       cn_idx *out, cn_error *err) {
    CN_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    if (!what) what = "<memory>";
    if (!buf && len > 0) return cn_error_set(err, CN_ERR_ARG, "%s: NULL buffer", what);
    if (expect_ndim < 1 || expect_ndim > 3)
        return cn_error_set(err, CN_ERR_ARG, "%s: expected rank %d is not in 1..3", what,
                            expect_ndim);
    static const uint8_t empty[1] = {0};
    idx_src s;
    struct stat stv;
    cn_status st = src_open_mem(&s, what, buf ? buf : empty, len, &stv, err);
    if (st == CN_OK) st = read_header(&s, expect_ndim, out, err);
    if (st == CN_OK) st = read_payload(&s, &stv, out, err);
    src_close(&s);
    if (st != CN_OK) memset(out, 0, sizeof *out);
    return st;
}

void cn_idx_free(cn_idx *idx) {
    if (!idx) return;
    cn_free(idx->data);
    memset(idx, 0, sizeof *idx);
}
