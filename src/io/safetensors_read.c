/* safetensors_read.c: the strict safetensors reader. Checks the 8-byte header
 * length against the cap and the file size before anything is allocated,
 * pre-counts tensor entries, parses the JSON header with jansson (duplicate keys
 * rejected, nesting bounded), validates every entry (dtype, shape, offsets, sizes,
 * all in overflow-checked uint64_t) and requires the tensors to tile the data
 * section exactly. The rules are listed in docs/safetensors.md. */
#include "convnet/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The dtypes this library handles, in cn_dtype order. */
static const struct {
    const char *name;
    size_t size;
} st_dtypes[CN_DTYPE_COUNT] = {
    {"BOOL", 1}, {"U8", 1},   {"I8", 1},  {"I16", 2}, {"U16", 2}, {"F16", 2}, {"BF16", 2},
    {"I32", 4},  {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8}, {"F64", 8},
};

/* Dtypes the reference format defines that this library does not handle. */
static const char *const st_foreign_dtypes[] = {
    "F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0", "C64",
};

const char *cn_dtype_name(cn_dtype t)
{
    return (unsigned)t < CN_DTYPE_COUNT ? st_dtypes[t].name : "?";
}

size_t cn_dtype_size(cn_dtype t)
{
    return (unsigned)t < CN_DTYPE_COUNT ? st_dtypes[t].size : 0;
}

static uint64_t st_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Parsing context: the source name for messages and the header's place. */
typedef struct st_ctx {
    const char *what;
    uint64_t hlen;   /* header length N */
    cn_error *err;
} st_ctx;

/* Count the objects opening directly inside the top-level object (one per tensor
 * entry or __metadata__), stopping early once above limit. Exact for valid JSON;
 * malformed JSON is rejected by the parser whatever this returns. */
static uint64_t st_count_entries(const uint8_t *h, uint64_t n, uint64_t limit)
{
    uint64_t count = 0;
    int depth = 0, in_str = 0, esc = 0;
    for (uint64_t i = 0; i < n && count <= limit; i++) {
        uint8_t c = h[i];
        if (in_str) {
            if (esc) esc = 0;
            else if (c == '\\') esc = 1;
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (c == '{' && depth == 1) count++;
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return count;
}

/* Turn a jansson error into a cn_error. */
static cn_status st_json_error(const st_ctx *cx, const json_error_t *je)
{
    uint64_t at = 8 + (uint64_t)(je->position > 0 ? je->position : 0);
    switch (json_error_code(je)) {
    case json_error_invalid_utf8:
        return cn_error_set(cx->err, CN_ERR_FORMAT,
                            "%s: byte %llu: invalid header: not valid UTF-8 (%s)", cx->what,
                            (unsigned long long)at, je->text);
    case json_error_duplicate_key:
        return cn_error_set(cx->err, CN_ERR_FORMAT,
                            "%s: byte %llu: duplicate key: %s (names must be unique)",
                            cx->what, (unsigned long long)at, je->text);
    case json_error_numeric_overflow:
        return cn_error_set(cx->err, CN_ERR_RANGE,
                            "%s: byte %llu: overflow: invalid header: number out of range "
                            "(integers are limited to 2^63-1): %s",
                            cx->what, (unsigned long long)at, je->text);
    case json_error_null_byte_in_key:
    case json_error_null_character:
        return cn_error_set(cx->err, CN_ERR_FORMAT,
                            "%s: byte %llu: invalid header: NUL character in a string "
                            "(names and metadata are C strings): %s",
                            cx->what, (unsigned long long)at, je->text);
    case json_error_stack_overflow:
        return cn_error_set(cx->err, CN_ERR_FORMAT,
                            "%s: byte %llu: invalid header JSON: nested deeper than %d: %s",
                            cx->what, (unsigned long long)at, JSON_PARSER_MAX_DEPTH, je->text);
    default:
        return cn_error_set(cx->err, CN_ERR_FORMAT, "%s: byte %llu: invalid header JSON: %s",
                            cx->what, (unsigned long long)at, je->text);
    }
}

/* A JSON integer >= 0 as uint64_t; 0 if j is anything else. */
static int st_get_u64(const json_t *j, uint64_t *out)
{
    if (!json_is_integer(j)) return 0;
    json_int_t v = json_integer_value(j);
    if (v < 0) return 0;
    *out = (uint64_t)v;
    return 1;
}

static void st_shape_str(const cn_st_tensor *t, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "%s[", cn_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%llu", d ? "," : "",
                                 (unsigned long long)t->shape[d]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

/* Validate one tensor entry (name: value) into t (name already set). */
static cn_status st_parse_tensor(const st_ctx *cx, const char *name, json_t *v, cn_st_tensor *t)
{
    const char *w = cx->what;
    if (!json_is_object(v))
        return cn_error_set(cx->err, CN_ERR_FORMAT,
                            "%s: invalid header: tensor '%s': entry is not an object", w, name);
    const char *key;
    json_t *field;
    json_object_foreach(v, key, field) {
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            return cn_error_set(cx->err, CN_ERR_FORMAT,
                                "%s: invalid header: tensor '%s': unknown field '%s' (only "
                                "dtype, shape, data_offsets)", w, name, key);
    }
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape");
    json_t *jo = json_object_get(v, "data_offsets");
    if (!jd || !js || !jo)
        return cn_error_set(cx->err, CN_ERR_FORMAT, "%s: invalid header: tensor '%s': missing "
                            "field '%s'", w, name, !jd ? "dtype" : !js ? "shape" : "data_offsets");

    /* dtype */
    if (!json_is_string(jd))
        return cn_error_set(cx->err, CN_ERR_FORMAT,
                            "%s: invalid header: tensor '%s': dtype is not a string", w, name);
    const char *ds = json_string_value(jd);
    int dt = -1;
    for (int i = 0; i < CN_DTYPE_COUNT; i++)
        if (!strcmp(ds, st_dtypes[i].name)) dt = i;
    if (dt < 0) {
        for (size_t i = 0; i < sizeof st_foreign_dtypes / sizeof *st_foreign_dtypes; i++)
            if (!strcmp(ds, st_foreign_dtypes[i]))
                return cn_error_set(cx->err, CN_ERR_UNSUPPORTED,
                                    "%s: unsupported dtype '%s' of tensor '%s' (this library "
                                    "reads BOOL, U8..U64, I8..I64, F16, BF16, F32, F64)",
                                    w, ds, name);
        return cn_error_set(cx->err, CN_ERR_FORMAT,
                            "%s: invalid dtype '%.32s' of tensor '%s' (names are upper case: "
                            "F32, I64, ...)", w, ds, name);
    }
    t->dtype = (cn_dtype)dt;

    /* shape and counts */
    if (!json_is_array(js))
        return cn_error_set(cx->err, CN_ERR_FORMAT,
                            "%s: invalid header: tensor '%s': shape is not an array", w, name);
    size_t rank = json_array_size(js);
    if (rank > CN_ST_MAX_DIMS)
        return cn_error_set(cx->err, CN_ERR_UNSUPPORTED,
                            "%s: unsupported dtype/shape: tensor '%s' has rank %zu, above the "
                            "limit %d", w, name, rank, CN_ST_MAX_DIMS);
    t->ndim = (int)rank;
    uint64_t numel = 1;
    int overflow = 0;
    for (size_t d = 0; d < rank; d++) {
        uint64_t dim;
        if (!st_get_u64(json_array_get(js, d), &dim))
            return cn_error_set(cx->err, CN_ERR_FORMAT,
                                "%s: invalid header: tensor '%s': shape[%zu] is not an "
                                "integer >= 0", w, name, d);
        t->shape[d] = dim;
        if (dim != 0 && numel > UINT64_MAX / dim) overflow = 1;
        else numel *= dim;
    }
    if (overflow)
        return cn_error_set(cx->err, CN_ERR_RANGE,
                            "%s: overflow: tensor '%s': element count of its shape exceeds "
                            "2^64-1", w, name);
    uint64_t esize = st_dtypes[dt].size;
    if (numel > UINT64_MAX / esize)
        return cn_error_set(cx->err, CN_ERR_RANGE,
                            "%s: overflow: tensor '%s': byte size %llu x %llu exceeds 2^64-1",
                            w, name, (unsigned long long)numel, (unsigned long long)esize);
    t->numel = numel;

    /* data_offsets */
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return cn_error_set(cx->err, CN_ERR_FORMAT,
                            "%s: invalid offset: tensor '%s': data_offsets must be an array "
                            "[begin, end]", w, name);
    if (!st_get_u64(json_array_get(jo, 0), &t->begin) ||
        !st_get_u64(json_array_get(jo, 1), &t->end))
        return cn_error_set(cx->err, CN_ERR_FORMAT,
                            "%s: invalid header: tensor '%s': data_offsets entries must be "
                            "integers >= 0", w, name);
    if (t->begin > t->end)
        return cn_error_set(cx->err, CN_ERR_FORMAT,
                            "%s: invalid offset: tensor '%s': begin %llu > end %llu", w, name,
                            (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end - t->begin != numel * esize) {
        char sh[160];
        st_shape_str(t, sh, sizeof sh);
        return cn_error_set(cx->err, CN_ERR_FORMAT,
                            "%s: tensor size mismatch: tensor '%s': %s needs %llu bytes, "
                            "data_offsets [%llu, %llu] give %llu", w, name, sh,
                            (unsigned long long)(numel * esize), (unsigned long long)t->begin,
                            (unsigned long long)t->end,
                            (unsigned long long)(t->end - t->begin));
    }
    return CN_OK;
}

/* Validate __metadata__: an object of string values. */
static cn_status st_parse_meta(const st_ctx *cx, json_t *v, cn_safetensors *st)
{
    if (!json_is_object(v))
        return cn_error_set(cx->err, CN_ERR_FORMAT,
                            "%s: invalid header: __metadata__ is not an object of strings",
                            cx->what);
    size_t n = json_object_size(v);
    st->meta_keys = cn_calloc(n ? n : 1, sizeof *st->meta_keys);
    st->meta_values = cn_calloc(n ? n : 1, sizeof *st->meta_values);
    if (!st->meta_keys || !st->meta_values)
        return cn_error_set(cx->err, CN_ERR_NOMEM, "%s: out of memory", cx->what);
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (!json_is_string(val))
            return cn_error_set(cx->err, CN_ERR_FORMAT,
                                "%s: invalid header: __metadata__ value of '%s' is not a string",
                                cx->what, key);
        st->meta_keys[st->nmeta] = cn_strdup(key);
        st->meta_values[st->nmeta] = cn_strdup(json_string_value(val));
        st->nmeta++;
        if (!st->meta_keys[st->nmeta - 1] || !st->meta_values[st->nmeta - 1])
            return cn_error_set(cx->err, CN_ERR_NOMEM, "%s: out of memory", cx->what);
    }
    return CN_OK;
}

/* Sort keys for the tiling check: (begin, end, header position). */
typedef struct st_span {
    uint64_t begin, end;
    int idx;
} st_span;

static int st_span_cmp(const void *a, const void *b)
{
    const st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* The tensors, sorted by offsets, must tile [0, data_len) exactly. */
static cn_status st_check_tiling(const st_ctx *cx, cn_safetensors *st, uint64_t data_len)
{
    uint64_t data_at = 8 + cx->hlen;
    if (st->ntensors > 0) {
        st_span *sp = cn_calloc((size_t)st->ntensors, sizeof *sp);
        if (!sp) return cn_error_set(cx->err, CN_ERR_NOMEM, "%s: out of memory", cx->what);
        for (int i = 0; i < st->ntensors; i++)
            sp[i] = (st_span){st->tensors[i].begin, st->tensors[i].end, i};
        qsort(sp, (size_t)st->ntensors, sizeof *sp, st_span_cmp);
        uint64_t expect = 0;
        for (int i = 0; i < st->ntensors; i++) {
            if (sp[i].begin != expect) {
                const char *name = st->tensors[sp[i].idx].name;
                cn_status s;
                if (sp[i].begin < expect)
                    s = cn_error_set(cx->err, CN_ERR_FORMAT,
                                     "%s: invalid offset: tensor '%s' [%llu, %llu) overlaps "
                                     "tensor '%s' ending at %llu", cx->what, name,
                                     (unsigned long long)sp[i].begin,
                                     (unsigned long long)sp[i].end,
                                     st->tensors[sp[i - 1].idx].name,
                                     (unsigned long long)expect);
                else
                    s = cn_error_set(cx->err, CN_ERR_FORMAT,
                                     "%s: invalid offset: tensor '%s' begins at %llu, leaving a "
                                     "hole of %llu bytes after offset %llu", cx->what, name,
                                     (unsigned long long)sp[i].begin,
                                     (unsigned long long)(sp[i].begin - expect),
                                     (unsigned long long)expect);
                cn_free(sp);
                return s;
            }
            expect = sp[i].end;
        }
        cn_free(sp);
        if (expect > data_len)
            return cn_error_set(cx->err, CN_ERR_FORMAT,
                                "%s: byte %llu: incomplete buffer: the tensors need %llu bytes "
                                "of data, the file has %llu (truncated?)", cx->what,
                                (unsigned long long)(data_at + data_len),
                                (unsigned long long)expect, (unsigned long long)data_len);
        if (expect < data_len)
            return cn_error_set(cx->err, CN_ERR_FORMAT,
                                "%s: byte %llu: extra buffer: %llu bytes after the last tensor",
                                cx->what, (unsigned long long)(data_at + expect),
                                (unsigned long long)(data_len - expect));
    } else if (data_len != 0) {
        return cn_error_set(cx->err, CN_ERR_FORMAT,
                            "%s: byte %llu: extra buffer: %llu bytes of data but no tensors",
                            cx->what, (unsigned long long)data_at,
                            (unsigned long long)data_len);
    }
    for (int i = 0; i < st->ntensors; i++)
        st->tensors[i].data = st->buffer + data_at + st->tensors[i].begin;
    return CN_OK;
}

/* Sort context-free: compare tensor indices by name through a pointer pair. */
typedef struct st_named {
    const char *name;
    int idx;
} st_named;

static int st_named_cmp(const void *a, const void *b)
{
    return strcmp(((const st_named *)a)->name, ((const st_named *)b)->name);
}

static cn_status st_build_index(const st_ctx *cx, cn_safetensors *st)
{
    size_t n = (size_t)st->ntensors;
    st->by_name = cn_calloc(n ? n : 1, sizeof *st->by_name);
    st_named *tmp = cn_calloc(n ? n : 1, sizeof *tmp);
    if (!st->by_name || !tmp) {
        cn_free(tmp);
        return cn_error_set(cx->err, CN_ERR_NOMEM, "%s: out of memory", cx->what);
    }
    for (size_t i = 0; i < n; i++) tmp[i] = (st_named){st->tensors[i].name, (int)i};
    qsort(tmp, n, sizeof *tmp, st_named_cmp);
    for (size_t i = 0; i < n; i++) st->by_name[i] = tmp[i].idx;
    cn_free(tmp);
    return CN_OK;
}

/* Parse the header of st->buffer (st->size bytes) into st. */
static cn_status st_parse_into(const st_ctx *cx0, cn_safetensors *st)
{
    st_ctx cx = *cx0;
    const uint8_t *buf = st->buffer;
    size_t len = st->size;
    if (len < 8)
        return cn_error_set(cx.err, CN_ERR_FORMAT,
                            "%s: byte 0: header too small: %zu bytes, need at least 8", cx.what,
                            len);
    uint64_t n = st_le64(buf);
    if (n > CN_ST_MAX_HEADER)
        return cn_error_set(cx.err, CN_ERR_FORMAT,
                            "%s: byte 0: header too large: header length %llu above the cap "
                            "%llu", cx.what, (unsigned long long)n,
                            (unsigned long long)CN_ST_MAX_HEADER);
    if (n > (uint64_t)(len - 8))
        return cn_error_set(cx.err, CN_ERR_FORMAT,
                            "%s: byte 0: invalid header length: %llu, but only %llu bytes "
                            "follow", cx.what, (unsigned long long)n,
                            (unsigned long long)(len - 8));
    cx.hlen = n;
    const uint8_t *h = buf + 8;
    if (n >= 3 && h[0] == 0xEF && h[1] == 0xBB && h[2] == 0xBF)
        return cn_error_set(cx.err, CN_ERR_FORMAT,
                            "%s: byte 8: invalid header: starts with a UTF-8 byte order mark",
                            cx.what);
    if (st_count_entries(h, n, CN_ST_MAX_TENSORS + 1) > CN_ST_MAX_TENSORS + 1)
        return cn_error_set(cx.err, CN_ERR_RANGE,
                            "%s: byte 8: too many tensors: more than %d entries in the header",
                            cx.what, CN_ST_MAX_TENSORS);

    json_error_t je;
    json_t *root = json_loadb((const char *)h, (size_t)n, JSON_REJECT_DUPLICATES, &je);
    if (!root) return st_json_error(&cx, &je);
    cn_status s = CN_OK;
    if (!json_is_object(root)) {
        s = cn_error_set(cx.err, CN_ERR_FORMAT,
                         "%s: byte 8: invalid header JSON: the top level is an array, not an "
                         "object", cx.what);
        goto done;
    }
    json_t *meta = json_object_get(root, "__metadata__");
    size_t nt = json_object_size(root) - (meta ? 1 : 0);
    if (nt > CN_ST_MAX_TENSORS) {
        s = cn_error_set(cx.err, CN_ERR_RANGE, "%s: too many tensors: %zu, the limit is %d",
                         cx.what, nt, CN_ST_MAX_TENSORS);
        goto done;
    }
    if (meta && (s = st_parse_meta(&cx, meta, st)) != CN_OK) goto done;
    st->tensors = cn_calloc(nt ? nt : 1, sizeof *st->tensors);
    if (!st->tensors) {
        s = cn_error_set(cx.err, CN_ERR_NOMEM, "%s: out of memory", cx.what);
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (val == meta) continue;
        cn_st_tensor *t = &st->tensors[st->ntensors];
        t->name = cn_strdup(key);
        if (!t->name) {
            s = cn_error_set(cx.err, CN_ERR_NOMEM, "%s: out of memory", cx.what);
            goto done;
        }
        st->ntensors++;
        if ((s = st_parse_tensor(&cx, key, val, t)) != CN_OK) goto done;
    }
    uint64_t data_len = (uint64_t)(len - 8) - n;
    if ((s = st_check_tiling(&cx, st, data_len)) != CN_OK) goto done;
    s = st_build_index(&cx, st);
done:
    json_decref(root);
    return s;
}

/* Parse an owned buffer (cn_aligned_alloc'd; freed on error). */
static cn_status st_parse_owned(uint8_t *buffer, size_t len, const char *what,
                                cn_safetensors **out, cn_error *err)
{
    cn_safetensors *st = cn_calloc(1, sizeof *st);
    if (!st) {
        cn_aligned_free(buffer);
        return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", what);
    }
    st->buffer = buffer;
    st->size = len;
    st_ctx cx = {what, 0, err};
    cn_status s = st_parse_into(&cx, st);
    if (s != CN_OK) {
        cn_safetensors_free(st);
        return s;
    }
    *out = st;
    return CN_OK;
}

cn_status cn_safetensors_parse(const uint8_t *buf, size_t len, const char *what,
                               cn_safetensors **out, cn_error *err)
{
    CN_ASSERT(out != NULL);
    CN_ASSERT(buf != NULL || len == 0);
    *out = NULL;
    if (!what) what = "<buffer>";
    uint8_t *copy = cn_aligned_alloc(len);
    if (!copy) return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory (%zu bytes)", what, len);
    if (len) memcpy(copy, buf, len);
    return st_parse_owned(copy, len, what, out, err);
}

cn_status cn_safetensors_read(const char *path, cn_safetensors **out, cn_error *err)
{
    CN_ASSERT(out != NULL && path != NULL);
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return cn_error_set(err, CN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        int e = errno;
        fclose(f);
        return cn_error_set(err, CN_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        fclose(f);
        return cn_error_set(err, CN_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size < 0 || (uint64_t)sb.st_size > (uint64_t)SIZE_MAX) {
        fclose(f);
        return cn_error_set(err, CN_ERR_RANGE, "%s: file too large for memory", path);
    }
    size_t len = (size_t)sb.st_size;
    uint8_t *buf = cn_aligned_alloc(len);
    if (!buf) {
        fclose(f);
        return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, len);
    }
    size_t got = len ? fread(buf, 1, len, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    if (got != len) {
        cn_aligned_free(buf);
        return cn_error_set(err, CN_ERR_IO, "%s: byte %zu: short read (%s)", path, got,
                            rerr ? "read error" : "file shrank while reading");
    }
    return st_parse_owned(buf, len, path, out, err);
}

void cn_safetensors_free(cn_safetensors *st)
{
    if (!st) return;
    for (int i = 0; i < st->ntensors; i++) cn_free(st->tensors[i].name);
    for (int i = 0; i < st->nmeta; i++) {
        cn_free(st->meta_keys[i]);
        cn_free(st->meta_values[i]);
    }
    cn_free(st->tensors);
    cn_free(st->meta_keys);
    cn_free(st->meta_values);
    cn_free(st->by_name);
    cn_aligned_free(st->buffer);
    cn_free(st);
}

const cn_st_tensor *cn_safetensors_find(const cn_safetensors *st, const char *name)
{
    if (!st || !name || !st->by_name) return NULL;
    int lo = 0, hi = st->ntensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const cn_st_tensor *t = &st->tensors[st->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *cn_safetensors_meta(const cn_safetensors *st, const char *key)
{
    if (!st || !key) return NULL;
    for (int i = 0; i < st->nmeta; i++)
        if (!strcmp(st->meta_keys[i], key)) return st->meta_values[i];
    return NULL;
}

cn_status cn_safetensors_get_real(const cn_safetensors *st, const char *name,
                                  cn_tensor **out, cn_error *err)
{
    CN_ASSERT(st != NULL && out != NULL);
    *out = NULL;
    const cn_st_tensor *t = cn_safetensors_find(st, name);
    if (!t) return cn_error_set(err, CN_ERR_ARG, "tensor '%s' not found", name ? name : "(null)");
    if (t->dtype != CN_DTYPE_F32 && t->dtype != CN_DTYPE_F64)
        return cn_error_set(err, CN_ERR_UNSUPPORTED,
                            "tensor '%s': dtype %s cannot be read as real numbers (F32 or F64 "
                            "only)", name, cn_dtype_name(t->dtype));
    int shape[CN_MAX_DIMS];
    int ndim = t->ndim ? t->ndim : 1;
    shape[0] = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] > (uint64_t)INT_MAX)
            return cn_error_set(err, CN_ERR_RANGE, "tensor '%s': dimension %d is %llu, above "
                                "%d", name, d, (unsigned long long)t->shape[d], INT_MAX);
        shape[d] = (int)t->shape[d];
    }
    if (t->numel > (uint64_t)SIZE_MAX / sizeof(cn_real))
        return cn_error_set(err, CN_ERR_RANGE, "tensor '%s': too large for memory", name);
    cn_tensor *r = cn_tensor_new(ndim, shape, err);
    if (!r) return cn_error_prefix(err, "tensor '%s': ", name);
    const uint8_t *p = t->data;
    for (size_t i = 0; i < r->numel; i++) {
        if (t->dtype == CN_DTYPE_F32) {
            uint32_t u = 0;
            for (int b = 3; b >= 0; b--) u = (u << 8) | p[4 * i + (size_t)b];
            float v;
            memcpy(&v, &u, sizeof v);
            r->data[i] = (cn_real)v;
        } else {
            uint64_t u = st_le64(p + 8 * i);
            double v;
            memcpy(&v, &u, sizeof v);
            r->data[i] = (cn_real)v;
        }
    }
    *out = r;
    return CN_OK;
}
