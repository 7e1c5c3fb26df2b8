/* safetensors_write.c: the safetensors writer. Collects copies of tensors and
 * metadata, lays them out exactly as the reference writer (huggingface/safetensors
 * `prepare`) does, so the same tensors give the same bytes, and saves the image
 * atomically: temporary file in the target's folder, fsync, rename, fsync of the
 * folder. */
#include "convnet/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One collected tensor. */
typedef struct st_entry {
    char *name;
    cn_dtype dtype;
    int ndim;
    uint64_t shape[CN_ST_MAX_DIMS];
    size_t nbytes;
    uint8_t *data;   /* (nbytes) little-endian */
} st_entry;

struct cn_st_writer {
    st_entry *e;     /* (n) */
    int n, cap;
    char **mkey, **mval;  /* (nm) */
    int nm, mcap;
};

/* Position of each cn_dtype in the reference's Dtype enum order (BOOL < U8 < I8 <
 * I16 < U16 < F16 < BF16 < I32 < U32 < F32 < F64 < I64 < U64), which its writer
 * sorts by, descending. */
static int st_ref_rank(cn_dtype t)
{
    static const int rank[CN_DTYPE_COUNT] = {
        [CN_DTYPE_BOOL] = 0, [CN_DTYPE_U8] = 1,   [CN_DTYPE_I8] = 2,   [CN_DTYPE_I16] = 3,
        [CN_DTYPE_U16] = 4,  [CN_DTYPE_F16] = 5,  [CN_DTYPE_BF16] = 6, [CN_DTYPE_I32] = 7,
        [CN_DTYPE_U32] = 8,  [CN_DTYPE_F32] = 9,  [CN_DTYPE_F64] = 10, [CN_DTYPE_I64] = 11,
        [CN_DTYPE_U64] = 12,
    };
    return rank[t];
}

/* 1 if s is valid UTF-8 (jansson's check: no overlongs, surrogates or > U+10FFFF). */
static int st_utf8_ok(const char *s)
{
    json_t *j = json_string(s);
    if (!j) return 0;
    json_decref(j);
    return 1;
}

cn_st_writer *cn_st_writer_new(cn_error *err)
{
    cn_st_writer *w = cn_calloc(1, sizeof *w);
    if (!w) cn_error_set(err, CN_ERR_NOMEM, "safetensors writer: out of memory");
    return w;
}

void cn_st_writer_free(cn_st_writer *w)
{
    if (!w) return;
    for (int i = 0; i < w->n; i++) {
        cn_free(w->e[i].name);
        cn_free(w->e[i].data);
    }
    for (int i = 0; i < w->nm; i++) {
        cn_free(w->mkey[i]);
        cn_free(w->mval[i]);
    }
    cn_free(w->e);
    cn_free(w->mkey);
    cn_free(w->mval);
    cn_free(w);
}

cn_status cn_st_writer_add(cn_st_writer *w, const char *name, cn_dtype dtype, int ndim,
                           const uint64_t *shape, const void *data, cn_error *err)
{
    CN_ASSERT(w != NULL);
    if (!name) return cn_error_set(err, CN_ERR_ARG, "safetensors writer: tensor name is NULL");
    if (!strcmp(name, "__metadata__"))
        return cn_error_set(err, CN_ERR_ARG,
                            "safetensors writer: '__metadata__' is reserved, not a tensor name");
    if (!st_utf8_ok(name))
        return cn_error_set(err, CN_ERR_ARG, "safetensors writer: tensor name is not UTF-8");
    if ((unsigned)dtype >= CN_DTYPE_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "safetensors writer: tensor '%s': bad dtype %d",
                            name, (int)dtype);
    if (ndim < 0 || ndim > CN_ST_MAX_DIMS || (ndim > 0 && !shape))
        return cn_error_set(err, CN_ERR_ARG, "safetensors writer: tensor '%s': bad rank %d",
                            name, ndim);
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->e[i].name, name))
            return cn_error_set(err, CN_ERR_ARG,
                                "safetensors writer: duplicate tensor name '%s'", name);
    if (w->n >= CN_ST_MAX_TENSORS)
        return cn_error_set(err, CN_ERR_RANGE, "safetensors writer: more than %d tensors",
                            CN_ST_MAX_TENSORS);
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] != 0 && numel > UINT64_MAX / shape[d])
            return cn_error_set(err, CN_ERR_RANGE,
                                "safetensors writer: tensor '%s': element count overflows", name);
        numel *= shape[d];
    }
    size_t nbytes;
    if (numel > (uint64_t)SIZE_MAX || cn_mul_overflow((size_t)numel, cn_dtype_size(dtype), &nbytes))
        return cn_error_set(err, CN_ERR_RANGE,
                            "safetensors writer: tensor '%s': byte size overflows", name);
    if (nbytes > 0 && !data)
        return cn_error_set(err, CN_ERR_ARG, "safetensors writer: tensor '%s': data is NULL",
                            name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        st_entry *e = cn_realloc(w->e, (size_t)cap * sizeof *e);
        if (!e) return cn_error_set(err, CN_ERR_NOMEM, "safetensors writer: out of memory");
        w->e = e;
        w->cap = cap;
    }
    st_entry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    e->name = cn_strdup(name);
    e->data = cn_malloc(nbytes ? nbytes : 1);
    if (!e->name || !e->data) {
        cn_free(e->name);
        cn_free(e->data);
        return cn_error_set(err, CN_ERR_NOMEM, "safetensors writer: tensor '%s': out of memory",
                            name);
    }
    if (nbytes) memcpy(e->data, data, nbytes);
    e->dtype = dtype;
    e->ndim = ndim;
    for (int d = 0; d < ndim; d++) e->shape[d] = shape[d];
    e->nbytes = nbytes;
    w->n++;
    return CN_OK;
}

cn_status cn_st_writer_add_real(cn_st_writer *w, const char *name, const cn_tensor *t,
                                cn_error *err)
{
    CN_ASSERT(w != NULL && t != NULL);
    uint64_t shape[CN_ST_MAX_DIMS];
    if (t->ndim < 1 || t->ndim > CN_ST_MAX_DIMS)
        return cn_error_set(err, CN_ERR_ARG, "safetensors writer: tensor '%s': bad rank %d",
                            name ? name : "(null)", t->ndim);
    for (int d = 0; d < t->ndim; d++) shape[d] = (uint64_t)t->shape[d];
    size_t nbytes;
    if (cn_mul_overflow(t->numel, sizeof(cn_real), &nbytes))
        return cn_error_set(err, CN_ERR_RANGE, "safetensors writer: tensor too large");
    uint8_t *le = cn_malloc(nbytes ? nbytes : 1);  /* (numel * sizeof(cn_real)) */
    if (!le) return cn_error_set(err, CN_ERR_NOMEM, "safetensors writer: out of memory");
    for (size_t i = 0; i < t->numel; i++) {
#ifdef CN_DOUBLE
        uint64_t u;
        memcpy(&u, &t->data[i], 8);
        for (int b = 0; b < 8; b++) le[8 * i + (size_t)b] = (uint8_t)(u >> (8 * b));
#else
        uint32_t u;
        memcpy(&u, &t->data[i], 4);
        for (int b = 0; b < 4; b++) le[4 * i + (size_t)b] = (uint8_t)(u >> (8 * b));
#endif
    }
#ifdef CN_DOUBLE
    cn_dtype dt = CN_DTYPE_F64;
#else
    cn_dtype dt = CN_DTYPE_F32;
#endif
    cn_status s = cn_st_writer_add(w, name, dt, t->ndim, shape, le, err);
    cn_free(le);
    return s;
}

cn_status cn_st_writer_meta(cn_st_writer *w, const char *key, const char *value,
                            cn_error *err)
{
    CN_ASSERT(w != NULL);
    if (!key || !value)
        return cn_error_set(err, CN_ERR_ARG, "safetensors writer: metadata key or value is NULL");
    if (!st_utf8_ok(key) || !st_utf8_ok(value))
        return cn_error_set(err, CN_ERR_ARG,
                            "safetensors writer: metadata '%s': key or value is not UTF-8",
                            st_utf8_ok(key) ? key : "?");
    for (int i = 0; i < w->nm; i++)
        if (!strcmp(w->mkey[i], key))
            return cn_error_set(err, CN_ERR_ARG, "safetensors writer: duplicate metadata key "
                                "'%s'", key);
    if (w->nm == w->mcap) {
        int cap = w->mcap ? 2 * w->mcap : 8;
        char **k = cn_realloc(w->mkey, (size_t)cap * sizeof *k);
        if (!k) return cn_error_set(err, CN_ERR_NOMEM, "safetensors writer: out of memory");
        w->mkey = k;
        char **v = cn_realloc(w->mval, (size_t)cap * sizeof *v);
        if (!v) return cn_error_set(err, CN_ERR_NOMEM, "safetensors writer: out of memory");
        w->mval = v;
        w->mcap = cap;
    }
    char *k = cn_strdup(key), *v = cn_strdup(value);
    if (!k || !v) {
        cn_free(k);
        cn_free(v);
        return cn_error_set(err, CN_ERR_NOMEM, "safetensors writer: out of memory");
    }
    w->mkey[w->nm] = k;
    w->mval[w->nm] = v;
    w->nm++;
    return CN_OK;
}

/* A growable byte string for the header JSON. */
typedef struct st_sb {
    char *p;
    size_t len, cap;
    int failed;
} st_sb;

static void sb_put(st_sb *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (n > SIZE_MAX - b->len - 8) {
        b->failed = 1;
        return;
    }
    if (b->len + n + 8 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 8) cap = cap > SIZE_MAX / 2 ? b->len + n + 8 : cap * 2;
        char *q = cn_realloc(b->p, cap);
        if (!q) {
            b->failed = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void sb_str(st_sb *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_u64(st_sb *b, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    sb_put(b, tmp, (size_t)n);
}

/* A JSON string escaped as serde_json does: \" \\ \b \f \n \r \t, other control
 * characters as \u00xx (lower-case hex), everything else (UTF-8 included) as is. */
static void sb_json_str(st_sb *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    sb_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (*c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            if (*c < 0x20) {
                memcpy(esc + 1, "u00", 3);
                esc[4] = hex[*c >> 4];
                esc[5] = hex[*c & 15];
                n = 6;
            } else {
                sb_put(b, (const char *)c, 1);
                continue;
            }
        }
        sb_put(b, esc, n);
    }
    sb_put(b, "\"", 1);
}

/* Writer order: reference dtype rank descending, then name bytewise. */
static int st_entry_cmp(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    int rx = st_ref_rank(x->dtype), ry = st_ref_rank(y->dtype);
    if (rx != ry) return rx > ry ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* A metadata pair, sorted by key bytewise. */
typedef struct st_kv {
    const char *key, *val;
} st_kv;

static int st_kv_cmp(const void *a, const void *b)
{
    return strcmp(((const st_kv *)a)->key, ((const st_kv *)b)->key);
}

cn_status cn_st_writer_serialize(const cn_st_writer *w, uint8_t **buf, size_t *len,
                                 cn_error *err)
{
    CN_ASSERT(w != NULL && buf != NULL && len != NULL);
    *buf = NULL;
    *len = 0;
    size_t n = (size_t)w->n, nm = (size_t)w->nm;
    const st_entry **order = cn_calloc(n ? n : 1, sizeof *order);
    st_kv *meta = cn_calloc(nm ? nm : 1, sizeof *meta);
    st_sb sb = {0};
    if (!order || !meta) {
        cn_free(order);
        cn_free(meta);
        return cn_error_set(err, CN_ERR_NOMEM, "safetensors writer: out of memory");
    }
    for (size_t i = 0; i < n; i++) order[i] = &w->e[i];
    qsort(order, n, sizeof *order, st_entry_cmp);
    for (size_t i = 0; i < nm; i++) meta[i] = (st_kv){w->mkey[i], w->mval[i]};
    qsort(meta, nm, sizeof *meta, st_kv_cmp);

    sb_put(&sb, "{", 1);
    if (nm) {
        sb_str(&sb, "\"__metadata__\":{");
        for (size_t i = 0; i < nm; i++) {
            if (i) sb_put(&sb, ",", 1);
            sb_json_str(&sb, meta[i].key);
            sb_put(&sb, ":", 1);
            sb_json_str(&sb, meta[i].val);
        }
        sb_put(&sb, "}", 1);
    }
    uint64_t offset = 0;
    int overflow = 0;
    for (size_t i = 0; i < n; i++) {
        const st_entry *e = order[i];
        if (i || nm) sb_put(&sb, ",", 1);
        sb_json_str(&sb, e->name);
        sb_str(&sb, ":{\"dtype\":\"");
        sb_str(&sb, cn_dtype_name(e->dtype));
        sb_str(&sb, "\",\"shape\":[");
        for (int d = 0; d < e->ndim; d++) {
            if (d) sb_put(&sb, ",", 1);
            sb_u64(&sb, e->shape[d]);
        }
        sb_str(&sb, "],\"data_offsets\":[");
        sb_u64(&sb, offset);
        sb_put(&sb, ",", 1);
        if (e->nbytes > SIZE_MAX - offset) overflow = 1;
        else offset += e->nbytes;
        sb_u64(&sb, offset);
        sb_str(&sb, "]}");
    }
    sb_put(&sb, "}", 1);
    while (!sb.failed && sb.len % 8) sb_put(&sb, " ", 1);

    cn_status s = CN_OK;
    if (sb.failed) {
        s = cn_error_set(err, CN_ERR_NOMEM, "safetensors writer: out of memory (header)");
    } else if (overflow || sb.len > CN_ST_MAX_HEADER || offset > SIZE_MAX - 8 - sb.len) {
        s = cn_error_set(err, CN_ERR_RANGE, "safetensors writer: file too large (header %zu "
                         "bytes, data %llu bytes)", sb.len, (unsigned long long)offset);
    } else {
        size_t total = 8 + sb.len + (size_t)offset;
        uint8_t *out = cn_malloc(total);
        if (!out) {
            s = cn_error_set(err, CN_ERR_NOMEM, "safetensors writer: out of memory (%zu bytes)",
                             total);
        } else {
            for (int b = 0; b < 8; b++) out[b] = (uint8_t)((uint64_t)sb.len >> (8 * b));
            memcpy(out + 8, sb.p, sb.len);
            size_t at = 8 + sb.len;
            for (size_t i = 0; i < n; i++) {
                if (order[i]->nbytes) memcpy(out + at, order[i]->data, order[i]->nbytes);
                at += order[i]->nbytes;
            }
            *buf = out;
            *len = total;
        }
    }
    cn_free(sb.p);
    cn_free(order);
    cn_free(meta);
    return s;
}

/* write() all of buf to fd, retrying on EINTR and short writes. */
static int st_write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t k = write(fd, buf, len);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (k == 0) { /* no progress: never loop forever */
            errno = EIO;
            return -1;
        }
        buf += k;
        len -= (size_t)k;
    }
    return 0;
}

/* fsync the folder holding path so the rename is durable. */
static int st_sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? cn_malloc((size_t)(slash - path) + 2) : cn_strdup(".");
    if (!dir) {
        errno = ENOMEM;
        return -1;
    }
    if (slash) {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int fd = open(dir, O_RDONLY);
    cn_free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL && e != EROFS) {
        errno = e;
        return -1;
    }
    return 0;
}

/* st_keep_prev: path's current file (if any) becomes prev: a hard link, so path
 * never disappears; a rename where the file system has no hard links, which sets
 * *moved so that a later failure can put path back. */
static int st_keep_prev(const char *path, const char *prev, int *moved)
{
    *moved = 0;
    if (unlink(prev) != 0 && errno != ENOENT) return -1;
    if (link(path, prev) == 0 || errno == ENOENT) return 0;
    if (errno == EPERM || errno == EXDEV || errno == EMLINK || errno == ENOSYS ||
        errno == EOPNOTSUPP) {
        if (rename(path, prev) == 0) {
            *moved = 1;
            return 0;
        }
        return errno == ENOENT ? 0 : -1;
    }
    return -1;
}

cn_status cn_write_file_atomic(const char *path, const uint8_t *buf, size_t len, int keep_prev,
                               cn_error *err)
{
    CN_ASSERT(path != NULL && (buf != NULL || len == 0));
    size_t plen = strlen(path);
    char *tmp = cn_malloc(plen + 16);
    char *prev = cn_malloc(plen + 8);
    if (!tmp || !prev) {
        cn_free(tmp);
        cn_free(prev);
        return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(tmp, path, plen);
    /* mkstemp template: PATH.tmp. followed by six X that mkstemp replaces */
    memcpy(tmp + plen, ".tmp.", 5);
    memset(tmp + plen + 5, 'X', 6);
    tmp[plen + 11] = '\0';
    memcpy(prev, path, plen);
    memcpy(prev + plen, ".prev", 6);
    mode_t mode = 0644;
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) mode = sb.st_mode & 07777;

    const char *step = "cannot create a temporary file";
    int fd = mkstemp(tmp);
    int ok = fd >= 0, e = errno;
    if (ok && fchmod(fd, mode) != 0) ok = 0, step = "chmod", e = errno;
    if (ok && st_write_all(fd, buf, len) != 0) ok = 0, step = "write", e = errno;
    if (ok && fsync(fd) != 0) ok = 0, step = "fsync", e = errno;
    if (fd >= 0 && close(fd) != 0 && ok) ok = 0, step = "close", e = errno;
    int moved = 0;
    if (ok && keep_prev && st_keep_prev(path, prev, &moved) != 0)
        ok = 0, step = "keeping the previous file", e = errno;
    if (ok && rename(tmp, path) != 0) {
        ok = 0, step = "rename", e = errno;
        if (moved) rename(prev, path); /* path was renamed to prev: put it back */
    }
    if (!ok && fd >= 0) unlink(tmp);
    if (ok && st_sync_dir(path) != 0) ok = 0, step = "fsync of the folder", e = errno;
    cn_free(tmp);
    cn_free(prev);
    if (!ok) return cn_error_set(err, CN_ERR_IO, "%s: %s: %s", path, step, strerror(e));
    return CN_OK;
}

cn_status cn_st_writer_save(const cn_st_writer *w, const char *path, cn_error *err)
{
    CN_ASSERT(w != NULL && path != NULL);
    uint8_t *buf;
    size_t len;
    cn_status s = cn_st_writer_serialize(w, &buf, &len, err);
    if (s != CN_OK) return cn_error_prefix(err, "%s: ", path);
    s = cn_write_file_atomic(path, buf, len, 0, err);
    cn_free(buf);
    return s;
}
