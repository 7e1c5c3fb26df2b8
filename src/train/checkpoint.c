/* checkpoint.c: model weights and training checkpoints as safetensors files:
 * parameters and buffers by name, optimiser state, schedule state, counters,
 * RNG states, fingerprints and the epoch's data order; a whole-file FNV-1a 64
 * checksum in the metadata; written with cn_write_file_atomic, keeping <path>.prev.
 * Loading checks everything before writing anything (docs/checkpoint.md). */
#include "convnet/checkpoint.h"
#include "convnet/safetensors.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CN_DOUBLE
#define CK_REAL_DTYPE CN_DTYPE_F64
#else
#define CK_REAL_DTYPE CN_DTYPE_F32
#endif

#define CK_FNV_BASIS 14695981039346656037ull
#define CK_FNV_PRIME 1099511628211ull
#define CK_FORMAT_PREFIX "convnet-checkpoint-"
#define CK_WEIGHTS_PREFIX "convnet-weights-"
/* The checksum's place in the header: this key, then 16 hex digits. */
#define CK_SUM_KEY "\"checksum\":\""
#define CK_SUM_ZERO "0000000000000000"

uint64_t cn_fingerprint64(const void *data, size_t n, uint64_t seed)
{
    const uint8_t *p = data;
    uint64_t h = seed ? seed : CK_FNV_BASIS;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= CK_FNV_PRIME;
    }
    return h;
}

void cn_train_state_release(cn_train_state *ts)
{
    if (!ts) return;
    cn_free(ts->order);
    ts->order = NULL;
    ts->n_order = 0;
    cn_free(ts->ema);
    ts->ema = NULL;
    ts->n_ema = 0;
}

/* ---------------------------------------------------------------- little endian */

static void ck_put_u64(uint8_t out[8], uint64_t v)
{
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t ck_get_u64(const uint8_t *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)in[i] << (8 * i);
    return v;
}

static uint32_t ck_get_u32(const uint8_t *in)
{
    return (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 |
           (uint32_t)in[3] << 24;
}

/* element i of a F32 or F64 tensor as a double */
static double ck_get_float(const cn_st_tensor *t, size_t i)
{
    if (t->dtype == CN_DTYPE_F32) {
        uint32_t u = ck_get_u32(t->data + 4 * i);
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    uint64_t u = ck_get_u64(t->data + 8 * i);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* reals (n) into little-endian bytes of CK_REAL_DTYPE (the writer copies them) */
static cn_status ck_add_reals(cn_st_writer *w, const char *name, int ndim,
                              const uint64_t *shape, const cn_real *x, cn_error *err)
{
    /* cn_real is stored in host order; every supported host is little-endian */
    return cn_st_writer_add(w, name, CK_REAL_DTYPE, ndim, shape, x, err);
}

static cn_status ck_add_u64(cn_st_writer *w, const char *name, uint64_t v, cn_error *err)
{
    uint8_t b[8];
    ck_put_u64(b, v);
    return cn_st_writer_add(w, name, CN_DTYPE_U64, 0, NULL, b, err);
}

/* ---------------------------------------------------------------- parameters */

/* The store of a compiled model, or NULL. cn_model_params only reads m. */
static cn_params *ck_params(const cn_model *m)
{
    return cn_model_params((cn_model *)m);
}

static cn_status ck_add_params(cn_st_writer *w, const cn_params *ps, cn_error *err)
{
    for (int k = 0; k < ps->n; k++) {
        const cn_param *p = &ps->p[k];
        uint64_t shape[CN_MAX_DIMS];
        for (int d = 0; d < p->ndim; d++) shape[d] = (uint64_t)p->shape[d];
        cn_status s = ck_add_reals(w, p->name, p->ndim, shape, p->value, err);
        if (s != CN_OK) return s;
    }
    return CN_OK;
}

static void ck_shape_str(char *buf, size_t size, int ndim, const uint64_t *shape)
{
    size_t o = 0;
    o += (size_t)snprintf(buf, size, "(");
    for (int d = 0; d < ndim && o < size; d++)
        o += (size_t)snprintf(buf + o, size - o, "%s%llu", d ? ", " : "",
                              (unsigned long long)shape[d]);
    if (o < size) snprintf(buf + o, size - o, ")");
}

/* t must have dtype (or any of F32/F64 when dtype is CK_REAL_DTYPE and floats is
 * set) and exactly shape (ndim dims). */
static cn_status ck_check_tensor(const cn_st_tensor *t, const char *path, int floats,
                                 cn_dtype dtype, int ndim, const uint64_t *shape,
                                 cn_error *err)
{
    if (floats ? (t->dtype != CN_DTYPE_F32 && t->dtype != CN_DTYPE_F64) : t->dtype != dtype)
        return cn_error_set(err, floats ? CN_ERR_UNSUPPORTED : CN_ERR_FORMAT,
                            "%s: tensor '%s': dtype %s, expected %s", path, t->name,
                            cn_dtype_name(t->dtype), floats ? "F32 or F64" : cn_dtype_name(dtype));
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char a[128], b[128];
        ck_shape_str(a, sizeof a, t->ndim, t->shape);
        ck_shape_str(b, sizeof b, ndim, shape);
        return cn_error_set(err, CN_ERR_FORMAT, "%s: tensor '%s': shape %s, expected %s", path,
                            t->name, a, b);
    }
    return CN_OK;
}

/* Every parameter present with its shape; tensors naming no parameter rejected
 * unless allow_extra (names with '/' are skipped when skip_sections). */
static cn_status ck_check_params(const cn_safetensors *st, const char *path, cn_params *ps,
                                 int allow_extra, int skip_sections, cn_error *err)
{
    for (int k = 0; k < ps->n; k++) {
        const cn_param *p = &ps->p[k];
        const cn_st_tensor *t = cn_safetensors_find(st, p->name);
        if (!t)
            return cn_error_set(err, CN_ERR_FORMAT, "%s: missing tensor '%s'", path, p->name);
        uint64_t shape[CN_MAX_DIMS];
        for (int d = 0; d < p->ndim; d++) shape[d] = (uint64_t)p->shape[d];
        cn_status s = ck_check_tensor(t, path, 1, CK_REAL_DTYPE, p->ndim, shape, err);
        if (s != CN_OK) return s;
    }
    if (allow_extra) return CN_OK;
    for (int i = 0; i < st->ntensors; i++) {
        const char *name = st->tensors[i].name;
        if (skip_sections && strchr(name, '/')) continue;
        if (!cn_params_find(ps, name))
            return cn_error_set(err, CN_ERR_FORMAT,
                                "%s: unexpected tensor '%s' (no parameter of that name)", path,
                                name);
    }
    return CN_OK;
}

/* Copy every (checked) parameter from st into the store. */
static void ck_copy_params(const cn_safetensors *st, cn_params *ps)
{
    for (int k = 0; k < ps->n; k++) {
        cn_param *p = &ps->p[k];
        const cn_st_tensor *t = cn_safetensors_find(st, p->name);
        for (size_t i = 0; i < p->numel; i++) p->value[i] = (cn_real)ck_get_float(t, i);
    }
}

/* ---------------------------------------------------------------- weights */

static cn_status ck_check_meta(const cn_meta_pair *meta, int n_meta, cn_error *err)
{
    if (n_meta < 0 || (n_meta > 0 && !meta))
        return cn_error_set(err, CN_ERR_ARG, "save weights: bad metadata array (%d pairs)",
                            n_meta);
    for (int i = 0; i < n_meta; i++) {
        if (!meta[i].key || !meta[i].value)
            return cn_error_set(err, CN_ERR_ARG, "save weights: metadata pair %d is NULL", i);
        if (!strcmp(meta[i].key, "format"))
            return cn_error_set(err, CN_ERR_ARG, "save weights: metadata key 'format' is reserved");
    }
    return CN_OK;
}

cn_status cn_model_save_weights(const cn_model *m, const char *path, const cn_meta_pair *meta,
                                int n_meta, cn_error *err)
{
    if (!m || !path) return cn_error_set(err, CN_ERR_ARG, "save weights: NULL argument");
    const cn_params *ps = ck_params(m);
    if (!ps)
        return cn_error_set(err, CN_ERR_ARG, "%s: save weights: the model is not compiled", path);
    cn_status s = ck_check_meta(meta, n_meta, err);
    if (s != CN_OK) return cn_error_prefix(err, "%s: ", path);
    cn_st_writer *w = cn_st_writer_new(err);
    if (!w) return cn_error_prefix(err, "%s: ", path);
    s = ck_add_params(w, ps, err);
    if (s == CN_OK) s = cn_st_writer_meta(w, "format", CN_WEIGHTS_FORMAT, err);
    for (int i = 0; s == CN_OK && i < n_meta; i++)
        s = cn_st_writer_meta(w, meta[i].key, meta[i].value, err);
    if (s != CN_OK) {
        cn_st_writer_free(w);
        return cn_error_prefix(err, "%s: ", path);
    }
    s = cn_st_writer_save(w, path, err);
    cn_st_writer_free(w);
    return s;
}

cn_status cn_model_load_weights(cn_model *m, const char *path, unsigned flags, cn_error *err)
{
    if (!m || !path) return cn_error_set(err, CN_ERR_ARG, "load weights: NULL argument");
    cn_params *ps = cn_model_params(m);
    if (!ps)
        return cn_error_set(err, CN_ERR_ARG, "%s: load weights: the model is not compiled", path);
    cn_safetensors *st = NULL;
    cn_status s = cn_safetensors_read(path, &st, err);
    if (s != CN_OK) return s;
    const char *fmt = cn_safetensors_meta(st, "format");
    int ckpt = fmt && !strcmp(fmt, CN_CHECKPOINT_FORMAT);
    if (fmt && !ckpt && strcmp(fmt, CN_WEIGHTS_FORMAT) &&
        (!strncmp(fmt, CK_WEIGHTS_PREFIX, strlen(CK_WEIGHTS_PREFIX)) ||
         !strncmp(fmt, CK_FORMAT_PREFIX, strlen(CK_FORMAT_PREFIX)))) {
        s = cn_error_set(err, CN_ERR_UNSUPPORTED,
                         "%s: unsupported format '%s' (this build reads '%s' and '%s')", path,
                         fmt, CN_WEIGHTS_FORMAT, CN_CHECKPOINT_FORMAT);
    } else {
        s = ck_check_params(st, path, ps, (flags & CN_WEIGHTS_ALLOW_EXTRA) != 0, ckpt, err);
        if (s == CN_OK) {
            ck_copy_params(st, ps);
            cn_model_mark_initialised(m);
        }
    }
    cn_safetensors_free(st);
    return s;
}

/* ---------------------------------------------------------------- checksum */

/* The position of the 16 checksum digits in a file image (in its header), or 0. */
static size_t ck_sum_pos(const uint8_t *buf, size_t len)
{
    if (len < 8) return 0;
    uint64_t hlen = ck_get_u64(buf);
    if (hlen > len - 8) return 0;
    size_t kl = strlen(CK_SUM_KEY);
    for (size_t i = 8; i + kl + 16 <= 8 + (size_t)hlen; i++)
        if (!memcmp(buf + i, CK_SUM_KEY, kl)) return i + kl;
    return 0;
}

/* FNV-1a 64 of the image with the 16 digits at pos read as '0'. */
static uint64_t ck_image_sum(const uint8_t *buf, size_t len, size_t pos)
{
    uint64_t h = cn_fingerprint64(buf, pos, 0);
    h = cn_fingerprint64(CK_SUM_ZERO, 16, h);
    return cn_fingerprint64(buf + pos + 16, len - pos - 16, h);
}

/* ---------------------------------------------------------------- checkpoint save */

static cn_status ck_add_sections(cn_st_writer *w, const cn_params *ps, const cn_optimizer *opt,
                                 const cn_schedule *sched, const cn_train_state *ts,
                                 cn_error *err)
{
    cn_status s = ck_add_params(w, ps, err);
    if (s == CN_OK) s = cn_st_writer_meta(w, "format", CN_CHECKPOINT_FORMAT, err);
    if (s == CN_OK) s = cn_st_writer_meta(w, "checksum", CK_SUM_ZERO, err);
    if (s != CN_OK) return s;
    if (opt) {
        const cn_optim_config *c = cn_optim_config_of(opt);
        int slots = cn_optim_state_slots(c);
        if (slots > 0 && (!ps->state || ps->state_slots != slots))
            return cn_error_set(err, CN_ERR_ARG,
                                "optimizer '%s' needs %d state slots; the model's store has %d "
                                "(make the optimizer after the last compile)",
                                cn_optim_name(c->kind), slots, ps->state ? ps->state_slots : 0);
        char num[32];
        snprintf(num, sizeof num, "%d", slots);
        s = cn_st_writer_meta(w, "optimizer", cn_optim_name(c->kind), err);
        if (s == CN_OK) s = cn_st_writer_meta(w, "optimizer_slots", num, err);
        if (s == CN_OK && slots > 0) {
            uint64_t shape[2] = {(uint64_t)slots, (uint64_t)ps->count};
            s = ck_add_reals(w, "optim/state", 2, shape, ps->state, err);
        }
        if (s == CN_OK) {
            uint8_t b[8];
            ck_put_u64(b, (uint64_t)cn_optim_get_step(opt));
            s = cn_st_writer_add(w, "optim/step", CN_DTYPE_I64, 0, NULL, b, err);
        }
        if (s != CN_OK) return s;
    }
    if (sched) {
        double v[CN_SCHED_STATE_LEN];
        uint8_t b[8 * CN_SCHED_STATE_LEN];
        cn_sched_state_save(sched, v);
        for (int i = 0; i < CN_SCHED_STATE_LEN; i++) {
            uint64_t u;
            memcpy(&u, &v[i], sizeof u);
            ck_put_u64(b + 8 * i, u);
        }
        uint64_t shape[1] = {CN_SCHED_STATE_LEN};
        s = cn_st_writer_meta(w, "schedule", cn_sched_name(sched->cfg.kind), err);
        if (s == CN_OK) s = cn_st_writer_add(w, "sched/state", CN_DTYPE_F64, 1, shape, b, err);
        if (s != CN_OK) return s;
    }
    s = ck_add_u64(w, "train/step", ts->step, err);
    if (s == CN_OK) s = ck_add_u64(w, "train/epoch", ts->epoch, err);
    if (s == CN_OK) s = ck_add_u64(w, "train/data_fingerprint", ts->data_fingerprint, err);
    if (s == CN_OK) s = ck_add_u64(w, "train/config_fingerprint", ts->config_fingerprint, err);
    if (s == CN_OK && ts->n_rngs > 0) {
        uint8_t b[16 * CN_TRAIN_MAX_RNGS];
        for (int i = 0; i < ts->n_rngs; i++) cn_rng_save(&ts->rngs[i], b + 16 * i);
        uint64_t shape[2] = {(uint64_t)ts->n_rngs, 16};
        s = cn_st_writer_add(w, "train/rngs", CN_DTYPE_U8, 2, shape, b, err);
    }
    if (s == CN_OK && ts->n_order > 0) {
        uint8_t *b = cn_malloc(4 * ts->n_order);
        if (!b) return cn_error_set(err, CN_ERR_NOMEM, "out of memory for the data order");
        for (size_t i = 0; i < ts->n_order; i++) {
            uint32_t u = (uint32_t)(int32_t)ts->order[i];
            for (int j = 0; j < 4; j++) b[4 * i + (size_t)j] = (uint8_t)(u >> (8 * j));
        }
        uint64_t shape[1] = {(uint64_t)ts->n_order};
        s = cn_st_writer_add(w, "train/order", CN_DTYPE_I32, 1, shape, b, err);
        cn_free(b);
    }
    if (s == CN_OK && ts->n_sums > 0) {
        uint8_t b[8 * CN_TRAIN_MAX_SUMS];
        for (int i = 0; i < ts->n_sums; i++) {
            uint64_t u;
            memcpy(&u, &ts->sums[i], sizeof u);
            ck_put_u64(b + 8 * i, u);
        }
        uint64_t shape[1] = {(uint64_t)ts->n_sums};
        s = cn_st_writer_add(w, "train/sums", CN_DTYPE_F64, 1, shape, b, err);
    }
    if (s == CN_OK && ts->n_ema > 0) {
        uint64_t shape[1] = {(uint64_t)ts->n_ema};
        s = ck_add_reals(w, "train/ema", 1, shape, ts->ema, err);
    }
    return s;
}

/* The first non-finite value of x[0..n), or -1. */
static long ck_first_nonfinite(const cn_real *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return (long)i;
    return -1;
}

/* Refuse to write non-finite numbers: a checkpoint is a state to go back to. */
static cn_status ck_check_finite(const char *path, const cn_params *ps, const cn_optimizer *opt,
                                 const cn_train_state *ts, cn_error *err)
{
    for (int k = 0; k < ps->n; k++) {
        const cn_param *p = &ps->p[k];
        long i = ck_first_nonfinite(p->value, p->numel);
        if (i >= 0)
            return cn_error_set(err, CN_ERR_NUMERIC,
                                "%s: save checkpoint: refused: parameter '%s' has a non-finite "
                                "value at [%ld]",
                                path, p->name, i);
    }
    if (opt && ps->state) {
        long i = ck_first_nonfinite(ps->state, (size_t)ps->state_slots * ps->count);
        if (i >= 0)
            return cn_error_set(err, CN_ERR_NUMERIC,
                                "%s: save checkpoint: refused: optimizer state has a non-finite "
                                "value at [%ld]",
                                path, i);
    }
    long i = ts->ema ? ck_first_nonfinite(ts->ema, ts->n_ema) : -1;
    if (i >= 0)
        return cn_error_set(err, CN_ERR_NUMERIC,
                            "%s: save checkpoint: refused: EMA weights have a non-finite value "
                            "at [%ld]",
                            path, i);
    return CN_OK;
}

cn_status cn_checkpoint_save(const char *path, const cn_model *m, const cn_optimizer *opt,
                             const cn_schedule *sched, const cn_train_state *ts,
                             cn_error *err)
{
    if (!path || !m || !ts) return cn_error_set(err, CN_ERR_ARG, "save checkpoint: NULL argument");
    const cn_params *ps = ck_params(m);
    if (!ps)
        return cn_error_set(err, CN_ERR_ARG, "%s: save checkpoint: the model is not compiled",
                            path);
    if (ts->n_rngs < 0 || ts->n_rngs > CN_TRAIN_MAX_RNGS)
        return cn_error_set(err, CN_ERR_ARG, "%s: save checkpoint: n_rngs = %d: must be 0..%d",
                            path, ts->n_rngs, CN_TRAIN_MAX_RNGS);
    if (ts->n_order > 0 && !ts->order)
        return cn_error_set(err, CN_ERR_ARG, "%s: save checkpoint: n_order = %zu with NULL order",
                            path, ts->n_order);
    if (ts->n_order > (size_t)INT32_MAX)
        return cn_error_set(err, CN_ERR_RANGE, "%s: save checkpoint: data order of %zu entries",
                            path, ts->n_order);
    if (ts->n_sums < 0 || ts->n_sums > CN_TRAIN_MAX_SUMS)
        return cn_error_set(err, CN_ERR_ARG, "%s: save checkpoint: n_sums = %d: must be 0..%d",
                            path, ts->n_sums, CN_TRAIN_MAX_SUMS);
    if (ts->n_ema > 0 && (!ts->ema || ts->n_ema != ps->count))
        return cn_error_set(err, CN_ERR_ARG,
                            "%s: save checkpoint: n_ema = %zu: must be 0 or the store's %zu "
                            "values (with a non-NULL ema)",
                            path, ts->n_ema, ps->count);
    cn_status fs = ck_check_finite(path, ps, opt, ts, err);
    if (fs != CN_OK) return fs;
    cn_st_writer *w = cn_st_writer_new(err);
    if (!w) return cn_error_prefix(err, "%s: ", path);
    uint8_t *buf = NULL;
    size_t len = 0;
    cn_status s = ck_add_sections(w, ps, opt, sched, ts, err);
    if (s == CN_OK) s = cn_st_writer_serialize(w, &buf, &len, err);
    cn_st_writer_free(w);
    if (s != CN_OK) return cn_error_prefix(err, "%s: save checkpoint: ", path);
    size_t pos = ck_sum_pos(buf, len);
    CN_ASSERT(pos > 0); /* the writer puts the checksum key into the header */
    uint64_t sum = ck_image_sum(buf, len, pos);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)sum);
    memcpy(buf + pos, hex, 16);
    s = cn_write_file_atomic(path, buf, len, 1, err);
    cn_free(buf);
    return s;
}

/* ---------------------------------------------------------------- checkpoint load */

/* A section tensor: NULL with CN_OK when absent and not required. */
static cn_status ck_section(const cn_safetensors *st, const char *path, const char *name,
                            int required, int floats, cn_dtype dtype, int ndim,
                            const uint64_t *shape, const cn_st_tensor **out, cn_error *err)
{
    *out = cn_safetensors_find(st, name);
    if (!*out)
        return required ? cn_error_set(err, CN_ERR_FORMAT, "%s: missing tensor '%s'", path, name)
                        : CN_OK;
    return ck_check_tensor(*out, path, floats, dtype, ndim, shape, err);
}

/* What a checkpoint holds, checked and decoded, before anything is restored. */
typedef struct ck_loaded {
    const cn_st_tensor *optim_state;
    int64_t optim_step;
    cn_schedule sched;
    uint64_t step, epoch, data_fp, config_fp;
    cn_rng rngs[CN_TRAIN_MAX_RNGS];
    int n_rngs;
    int *order;
    size_t n_order;
    double sums[CN_TRAIN_MAX_SUMS];
    int n_sums;
    cn_real *ema;
    size_t n_ema;
} ck_loaded;

static cn_status ck_check_format(const cn_safetensors *st, const char *path, cn_error *err)
{
    const char *fmt = cn_safetensors_meta(st, "format");
    size_t pl = strlen(CK_FORMAT_PREFIX);
    if (!fmt || strncmp(fmt, CK_FORMAT_PREFIX, pl))
        return cn_error_set(err, CN_ERR_FORMAT, "%s: not a checkpoint (format '%s')", path,
                            fmt ? fmt : "none");
    if (strcmp(fmt, CN_CHECKPOINT_FORMAT))
        return cn_error_set(err, CN_ERR_UNSUPPORTED, "%s: unsupported version %s (max %s)", path,
                            fmt + pl, &CN_CHECKPOINT_FORMAT[pl]);
    const char *sum = cn_safetensors_meta(st, "checksum");
    size_t pos = ck_sum_pos(st->buffer, st->size);
    if (!sum || !pos || strlen(sum) != 16 || memcmp(st->buffer + pos, sum, 16))
        return cn_error_set(err, CN_ERR_FORMAT, "%s: checksum missing or malformed", path);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx",
             (unsigned long long)ck_image_sum(st->buffer, st->size, pos));
    if (strcmp(hex, sum))
        return cn_error_set(err, CN_ERR_FORMAT,
                            "%s: checksum mismatch (stored %s, computed %s): the file is corrupt",
                            path, sum, hex);
    return CN_OK;
}

static cn_status ck_decode_optim(const cn_safetensors *st, const char *path,
                                 const cn_params *ps, const cn_optimizer *opt, ck_loaded *L,
                                 cn_error *err)
{
    const cn_optim_config *c = cn_optim_config_of(opt);
    const char *name = cn_safetensors_meta(st, "optimizer");
    if (!name)
        return cn_error_set(err, CN_ERR_FORMAT, "%s: optimizer section missing", path);
    if (strcmp(name, cn_optim_name(c->kind)))
        return cn_error_set(err, CN_ERR_FORMAT,
                            "%s: optimizer section: saved for '%s', resuming with '%s'", path,
                            name, cn_optim_name(c->kind));
    int slots = cn_optim_state_slots(c);
    if (slots > 0 && (!ps->state || ps->state_slots != slots))
        return cn_error_set(err, CN_ERR_ARG,
                            "%s: optimizer '%s' is not over the model's store (make it after the "
                            "last compile)", path, name);
    const cn_st_tensor *t;
    uint64_t shape[2] = {(uint64_t)(slots > 0 ? slots : 0), (uint64_t)ps->count};
    cn_status s = ck_section(st, path, "optim/state", slots > 0, 1, CK_REAL_DTYPE, 2, shape, &t,
                             err);
    if (s != CN_OK) return cn_error_prefix(err, "optimizer section: ");
    if (slots == 0 && t)
        return cn_error_set(err, CN_ERR_FORMAT,
                            "%s: optimizer section: tensor 'optim/state' for an optimizer "
                            "without state", path);
    L->optim_state = t;
    s = ck_section(st, path, "optim/step", 1, 0, CN_DTYPE_I64, 0, NULL, &t, err);
    if (s != CN_OK) return cn_error_prefix(err, "optimizer section: ");
    L->optim_step = (int64_t)ck_get_u64(t->data);
    if (L->optim_step < 0)
        return cn_error_set(err, CN_ERR_FORMAT, "%s: optimizer section: step %lld < 0", path,
                            (long long)L->optim_step);
    return CN_OK;
}

static cn_status ck_decode_sched(const cn_safetensors *st, const char *path,
                                 const cn_schedule *sched, ck_loaded *L, cn_error *err)
{
    const cn_st_tensor *t;
    uint64_t shape[1] = {CN_SCHED_STATE_LEN};
    cn_status s = ck_section(st, path, "sched/state", 1, 0, CN_DTYPE_F64, 1, shape, &t, err);
    if (s != CN_OK) return cn_error_prefix(err, "schedule section: ");
    double v[CN_SCHED_STATE_LEN];
    for (int i = 0; i < CN_SCHED_STATE_LEN; i++) v[i] = ck_get_float(t, (size_t)i);
    L->sched = *sched;
    s = cn_sched_state_load(&L->sched, v, err);
    if (s != CN_OK) return cn_error_prefix(err, "%s: schedule section: ", path);
    return CN_OK;
}

static cn_status ck_decode_train(const cn_safetensors *st, const char *path, size_t ps_count,
                                 ck_loaded *L, cn_error *err)
{
    const char *names[4] = {"train/step", "train/epoch", "train/data_fingerprint",
                            "train/config_fingerprint"};
    uint64_t *dst[4] = {&L->step, &L->epoch, &L->data_fp, &L->config_fp};
    const cn_st_tensor *t;
    for (int i = 0; i < 4; i++) {
        cn_status s = ck_section(st, path, names[i], 1, 0, CN_DTYPE_U64, 0, NULL, &t, err);
        if (s != CN_OK) return s;
        *dst[i] = ck_get_u64(t->data);
    }
    t = cn_safetensors_find(st, "train/rngs");
    if (t) {
        if (t->dtype != CN_DTYPE_U8 || t->ndim != 2 || t->shape[1] != 16 ||
            t->shape[0] > CN_TRAIN_MAX_RNGS)
            return cn_error_set(err, CN_ERR_FORMAT,
                                "%s: tensor 'train/rngs': expected U8 (k, 16) with k <= %d", path,
                                CN_TRAIN_MAX_RNGS);
        L->n_rngs = (int)t->shape[0];
        for (int i = 0; i < L->n_rngs; i++)
            if (cn_rng_load(&L->rngs[i], t->data + 16 * i, err) != CN_OK)
                return cn_error_prefix(err, "%s: tensor 'train/rngs': state %d: ", path, i);
    }
    t = cn_safetensors_find(st, "train/order");
    if (t) {
        if (t->dtype != CN_DTYPE_I32 || t->ndim != 1)
            return cn_error_set(err, CN_ERR_FORMAT, "%s: tensor 'train/order': expected I32 (n)",
                                path);
        size_t n = (size_t)t->shape[0];
        if (n > 0) {
            L->order = cn_malloc(n * sizeof *L->order);
            if (!L->order)
                return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory for the data order",
                                    path);
            for (size_t i = 0; i < n; i++) L->order[i] = (int)(int32_t)ck_get_u32(t->data + 4 * i);
            L->n_order = n;
        }
    }
    t = cn_safetensors_find(st, "train/sums");
    if (t) {
        if (t->dtype != CN_DTYPE_F64 || t->ndim != 1 || t->shape[0] > CN_TRAIN_MAX_SUMS)
            return cn_error_set(err, CN_ERR_FORMAT,
                                "%s: tensor 'train/sums': expected F64 (k) with k <= %d", path,
                                CN_TRAIN_MAX_SUMS);
        L->n_sums = (int)t->shape[0];
        for (int i = 0; i < L->n_sums; i++) {
            uint64_t u = ck_get_u64(t->data + 8 * i);
            memcpy(&L->sums[i], &u, sizeof u);
        }
    }
    t = cn_safetensors_find(st, "train/ema");
    if (t) {
        if ((t->dtype != CN_DTYPE_F32 && t->dtype != CN_DTYPE_F64) || t->ndim != 1 ||
            t->shape[0] != ps_count)
            return cn_error_set(err, CN_ERR_FORMAT,
                                "%s: tensor 'train/ema': expected F32/F64 (%zu)", path, ps_count);
        L->ema = cn_malloc((ps_count ? ps_count : 1) * sizeof(cn_real));
        if (!L->ema)
            return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory for the EMA weights", path);
        for (size_t i = 0; i < ps_count; i++) {
            double v = ck_get_float(t, i);
            if (!isfinite(v))
                return cn_error_set(err, CN_ERR_FORMAT,
                                    "%s: tensor 'train/ema': non-finite value at [%zu]", path, i);
            L->ema[i] = (cn_real)v;
        }
        L->n_ema = ps_count;
    }
    return CN_OK;
}

cn_status cn_checkpoint_load(const char *path, cn_model *m, cn_optimizer *opt,
                             cn_schedule *sched, cn_train_state *ts, cn_error *err)
{
    if (!path || !m) return cn_error_set(err, CN_ERR_ARG, "load checkpoint: NULL argument");
    cn_params *ps = cn_model_params(m);
    if (!ps)
        return cn_error_set(err, CN_ERR_ARG, "%s: load checkpoint: the model is not compiled",
                            path);
    cn_safetensors *st = NULL;
    cn_status s = cn_safetensors_read(path, &st, err);
    if (s == CN_ERR_FORMAT) return cn_error_prefix(err, "not a checkpoint: ");
    if (s != CN_OK) return s;
    ck_loaded L;
    memset(&L, 0, sizeof L);
    s = ck_check_format(st, path, err);
    if (s == CN_OK) s = ck_check_params(st, path, ps, 0, 1, err);
    if (s == CN_OK && opt) s = ck_decode_optim(st, path, ps, opt, &L, err);
    if (s == CN_OK && sched) s = ck_decode_sched(st, path, sched, &L, err);
    if (s == CN_OK && ts) s = ck_decode_train(st, path, ps->count, &L, err);
    if (s == CN_OK) {
        ck_copy_params(st, ps);
        cn_model_mark_initialised(m);
        if (opt) {
            if (L.optim_state) {
                size_t n = (size_t)ps->state_slots * ps->count;
                for (size_t i = 0; i < n; i++)
                    ps->state[i] = (cn_real)ck_get_float(L.optim_state, i);
            }
            s = cn_optim_set_step(opt, L.optim_step, err);
            CN_ASSERT(s == CN_OK); /* the step was checked to be >= 0 */
        }
        if (sched) *sched = L.sched;
        if (ts) {
            ts->step = L.step;
            ts->epoch = L.epoch;
            ts->data_fingerprint = L.data_fp;
            ts->config_fingerprint = L.config_fp;
            ts->n_rngs = L.n_rngs;
            for (int i = 0; i < L.n_rngs; i++) ts->rngs[i] = L.rngs[i];
            ts->order = L.order;
            ts->n_order = L.n_order;
            L.order = NULL;
            ts->n_sums = L.n_sums;
            for (int i = 0; i < L.n_sums; i++) ts->sums[i] = L.sums[i];
            ts->ema = L.ema;
            ts->n_ema = L.n_ema;
            L.ema = NULL;
        }
    }
    cn_free(L.order);
    cn_free(L.ema);
    cn_safetensors_free(st);
    return s;
}
