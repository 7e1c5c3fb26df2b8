/* convnet/safetensors.h: the strict safetensors reader and the writer.
 *
 * Format (huggingface/safetensors): 8-byte little-endian header length N, N bytes
 * of UTF-8 JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]},
 * ..., "__metadata__": {"key": "string value", ...}}, then the data section, every
 * tensor's bytes little-endian at [b, e) relative to the section's start.
 * The reader is stricter than the reference one where RELIABILITY.md says so
 * (duplicate names rejected); docs/safetensors.md lists every rule. */
#ifndef CONVNET_SAFETENSORS_H
#define CONVNET_SAFETENSORS_H

#include "convnet/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Caps. A header length above CN_ST_MAX_HEADER is rejected before any allocation;
 * more than CN_ST_MAX_TENSORS tensor entries are rejected by a lexical pre-scan of
 * the header before the JSON is parsed (and again after); a shape of more than
 * CN_ST_MAX_DIMS entries is CN_ERR_UNSUPPORTED. JSON nesting is limited to
 * jansson's JSON_PARSER_MAX_DEPTH (2048). */
#define CN_ST_MAX_HEADER ((uint64_t)100000000)  /* 100 MB, the reference reader's cap */
#define CN_ST_MAX_TENSORS 65536
#define CN_ST_MAX_DIMS 8

typedef enum cn_dtype {
    CN_DTYPE_BOOL = 0, CN_DTYPE_U8, CN_DTYPE_I8, CN_DTYPE_I16, CN_DTYPE_U16, CN_DTYPE_F16,
    CN_DTYPE_BF16, CN_DTYPE_I32, CN_DTYPE_U32, CN_DTYPE_F32, CN_DTYPE_I64, CN_DTYPE_U64,
    CN_DTYPE_F64, CN_DTYPE_COUNT
} cn_dtype;

/* cn_dtype_name: "F32", "I64", ... ("?" for an invalid value); cn_dtype_size:
 * bytes per element (0 for an invalid value). */
const char *cn_dtype_name(cn_dtype t);
size_t cn_dtype_size(cn_dtype t);

/* One tensor entry of a parsed file. data points into the owning cn_safetensors. */
typedef struct cn_st_tensor {
    char *name;                     /* NUL-terminated; names with NUL are rejected */
    cn_dtype dtype;
    int ndim;                       /* 0 for a scalar */
    uint64_t shape[CN_ST_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end;            /* byte range in the data section */
    const uint8_t *data;            /* little-endian bytes, end - begin of them */
} cn_st_tensor;

/* A parsed file: tensors in header order, metadata pairs, the bytes. */
typedef struct cn_safetensors {
    int ntensors;
    cn_st_tensor *tensors;          /* (ntensors) */
    int nmeta;
    char **meta_keys;               /* (nmeta) */
    char **meta_values;             /* (nmeta) */
    uint8_t *buffer;                /* the whole file (owned, 64-byte aligned) */
    size_t size;
    int *by_name;                   /* (ntensors) indices sorted by name, for find */
} cn_safetensors;

/* cn_safetensors_parse: parse a complete file image buf (len bytes); the result
 * takes a copy of buf. what names the source in messages (a path; NULL gives
 * "<buffer>"). Errors (CN_ERR_FORMAT unless stated) read "what: byte N: rule:
 * detail", naming the tensor where there is one; the rules: "header too small",
 * "header too large", "invalid header length", "invalid header" (not UTF-8, BOM,
 * NUL in a string, wrong field types, bad __metadata__), "invalid header JSON"
 * (syntax, top level not an object, nesting too deep), "invalid dtype" (unknown
 * name), "unsupported dtype" (a reference dtype this library lacks, such as
 * F8_E4M3, and a rank above CN_ST_MAX_DIMS: CN_ERR_UNSUPPORTED), "overflow"
 * (integers above 2^63-1, element or byte counts above 2^64-1: CN_ERR_RANGE),
 * "too many tensors" (CN_ERR_RANGE), "invalid offset" (data_offsets not [begin,
 * end] with begin <= end; overlap or hole between tensors), "tensor size mismatch",
 * "incomplete buffer" (data section shorter than the tensors), "extra buffer"
 * (bytes after the last tensor), "duplicate key". docs/safetensors.md lists every
 * rule. On error *out is NULL. Free with cn_safetensors_free. */
cn_status cn_safetensors_parse(const uint8_t *buf, size_t len, const char *what,
                               cn_safetensors **out, cn_error *err);

/* cn_safetensors_read: read path whole (checking with fstat that it is a regular
 * file and its size fits in memory) and parse it. Open/read failures: CN_ERR_IO. */
cn_status cn_safetensors_read(const char *path, cn_safetensors **out, cn_error *err);

/* cn_safetensors_free: free st and everything it owns. NULL is a no-op. */
void cn_safetensors_free(cn_safetensors *st);

/* cn_safetensors_find: the tensor called name, or NULL (binary search). */
const cn_st_tensor *cn_safetensors_find(const cn_safetensors *st, const char *name);

/* cn_safetensors_meta: the metadata value of key, or NULL. */
const char *cn_safetensors_meta(const cn_safetensors *st, const char *key);

/* cn_safetensors_get_real: the tensor called name as a new cn_tensor of cn_real
 * (F32 and F64 are converted; other dtypes give CN_ERR_UNSUPPORTED). A rank-0
 * tensor becomes shape (1). Missing name: CN_ERR_ARG "tensor 'x' not found". */
cn_status cn_safetensors_get_real(const cn_safetensors *st, const char *name,
                                  cn_tensor **out, cn_error *err);

/* Writer: collect tensors and metadata, then write the file atomically (a
 * temporary file in the same folder, fsync, rename, fsync of the folder). The
 * layout matches the reference writer byte for byte: tensors sorted by the
 * reference's dtype order, descending (U64, I64, F64, F32, U32, I32, BF16, F16,
 * U16, I16, I8, U8, BOOL: largest alignment first), then by name (bytewise);
 * header JSON compact with __metadata__ first (its keys sorted bytewise, omitted
 * when there is no metadata), padded with spaces to a multiple of 8. */
typedef struct cn_st_writer cn_st_writer;

/* cn_st_writer_new: an empty writer (NULL with CN_ERR_NOMEM). Free with
 * cn_st_writer_free (NULL is a no-op). */
cn_st_writer *cn_st_writer_new(cn_error *err);
void cn_st_writer_free(cn_st_writer *w);
/* cn_st_writer_add: copy a tensor (data: numel * cn_dtype_size(dtype) bytes,
 * little-endian; may be NULL when that is 0). ndim in 0..CN_ST_MAX_DIMS. Names
 * must be valid UTF-8 and not "__metadata__"; duplicate names, bad arguments:
 * CN_ERR_ARG; element-count overflow or more than CN_ST_MAX_TENSORS: CN_ERR_RANGE. */
cn_status cn_st_writer_add(cn_st_writer *w, const char *name, cn_dtype dtype, int ndim,
                           const uint64_t *shape, const void *data, cn_error *err);
/* cn_st_writer_add_real: add a cn_real array as F32 (or F64 when CN_DOUBLE),
 * with t's shape. */
cn_status cn_st_writer_add_real(cn_st_writer *w, const char *name, const cn_tensor *t,
                                cn_error *err);
/* cn_st_writer_meta: add a metadata pair (both copied, valid UTF-8; a repeated
 * key: CN_ERR_ARG). */
cn_status cn_st_writer_meta(cn_st_writer *w, const char *key, const char *value,
                            cn_error *err);
/* cn_st_writer_serialize: the file image in a new cn_malloc'd buffer (free with
 * cn_free); *buf is NULL on error. */
cn_status cn_st_writer_serialize(const cn_st_writer *w, uint8_t **buf, size_t *len,
                                 cn_error *err);
/* cn_st_writer_save: write the file image to path atomically. The new file gets
 * the mode of the file it replaces, or 0644. Any failure: CN_ERR_IO naming the
 * path and the call, the temporary file removed and an existing path untouched. */
cn_status cn_st_writer_save(const cn_st_writer *w, const char *path, cn_error *err);

/* cn_write_file_atomic: write buf (len bytes) to path atomically: a temporary
 * file "<path>.tmp." plus six random characters in the same folder (mkstemp),
 * given the mode of the file it replaces (or 0644), written, fsync'd, renamed
 * over path, then the folder fsync'd. keep_prev != 0 first keeps the current
 * file as "<path>.prev" (a hard link, so path never disappears; a rename where
 * the file system has no hard links). Any failure: CN_ERR_IO naming the path and
 * the step, the temporary file removed and an existing path untouched. */
cn_status cn_write_file_atomic(const char *path, const uint8_t *buf, size_t len, int keep_prev,
                               cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_SAFETENSORS_H */
