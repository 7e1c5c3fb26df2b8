/* modelfile.c: the trained-model file (format "convnet-model-1"): one safetensors
 * file with every parameter and buffer, the normalisation statistics ("norm/..."),
 * the built-in model's description or the network's name, the network in the
 * model text format and the class names; loading rebuilds and
 * compiles the model and checks every tensor before copying any; prediction
 * turns the model's logits into class probabilities (docs/modelfile.md). */
#include "convnet/modelfile.h"
#include "convnet/model_text.h"
#include "convnet/safetensors.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CN_DOUBLE
#define MF_REAL_DTYPE CN_DTYPE_F64
#else
#define MF_REAL_DTYPE CN_DTYPE_F32
#endif

#define MF_NORM_PREFIX "norm/"
#define MF_FORMAT_PREFIX "convnet-model-"
#define MF_DESC_MAX 1024
#define MF_TEXT_PREFIX "text "
#define MF_MAX_INPUT (1 << 26) /* values per sample of a text model's input */

/* The tensors cn_norm_save writes under MF_NORM_PREFIX. */
static const char *const mf_norm_tensors[] = {"norm/mean_image", "norm/std_image", "norm/mean",
                                              "norm/std"};
#define MF_N_NORM_TENSORS 4

void cn_model_info_free(cn_model_info *info)
{
    if (!info) return;
    if (info->class_names) {
        for (int i = 0; i < info->spec.classes; i++) cn_free(info->class_names[i]);
        cn_free(info->class_names);
    }
    cn_norm_free(&info->norm);
    cn_free(info->text);
    memset(info, 0, sizeof *info);
}

/* ---------------------------------------------------------------- saving */

static cn_status mf_check_meta(const char *path, const cn_meta_pair *meta, int n_meta,
                               cn_error *err)
{
    if (n_meta < 0 || (n_meta > 0 && !meta))
        return cn_error_set(err, CN_ERR_ARG, "%s: save model: bad metadata array (%d pairs)",
                            path, n_meta);
    for (int i = 0; i < n_meta; i++) {
        const char *k = meta[i].key;
        if (!k || !meta[i].value)
            return cn_error_set(err, CN_ERR_ARG, "%s: save model: metadata pair %d is NULL", path,
                                i);
        if (!strcmp(k, "format") || !strcmp(k, "model") || !strcmp(k, "classes") ||
            !strcmp(k, "model_text") ||
            !strncmp(k, MF_NORM_PREFIX, strlen(MF_NORM_PREFIX)))
            return cn_error_set(err, CN_ERR_ARG, "%s: save model: metadata key '%s' is reserved",
                                path, k);
        for (int j = 0; j < i; j++)
            if (!strcmp(k, meta[j].key))
                return cn_error_set(err, CN_ERR_ARG,
                                    "%s: save model: metadata key '%s' is repeated", path, k);
    }
    return CN_OK;
}

/* The class names as a compact JSON array in *out (allocated by jansson: the
 * caller releases it with free), "0", "1", ... when names is NULL. */
static cn_status mf_classes_json(const char *path, char *const *names, int k, char **out,
                                 cn_error *err)
{
    *out = NULL;
    json_t *arr = json_array();
    if (!arr) return cn_error_set(err, CN_ERR_NOMEM, "%s: save model: out of memory", path);
    for (int i = 0; i < k; i++) {
        char num[16];
        const char *s = names ? names[i] : num;
        if (!names) snprintf(num, sizeof num, "%d", i);
        if (!s) {
            json_decref(arr);
            return cn_error_set(err, CN_ERR_ARG, "%s: save model: class name %d is NULL", path, i);
        }
        json_t *js = json_string(s);
        if (!js) {
            json_decref(arr);
            return cn_error_set(err, CN_ERR_ARG, "%s: save model: class name %d is not valid UTF-8",
                                path, i);
        }
        if (json_array_append_new(arr, js) != 0) {
            json_decref(arr);
            return cn_error_set(err, CN_ERR_NOMEM, "%s: save model: out of memory", path);
        }
    }
    *out = json_dumps(arr, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(arr);
    if (!*out) return cn_error_set(err, CN_ERR_NOMEM, "%s: save model: out of memory", path);
    return CN_OK;
}

/* Every parameter and buffer under its name, in the build's real dtype. */
static cn_status mf_add_params(cn_st_writer *w, const cn_params *ps, cn_error *err)
{
    for (int k = 0; k < ps->n; k++) {
        const cn_param *p = &ps->p[k];
        uint64_t shape[CN_MAX_DIMS];
        for (int d = 0; d < p->ndim; d++) shape[d] = (uint64_t)p->shape[d];
        /* cn_real is stored in host order; every supported host is little-endian */
        cn_status s = cn_st_writer_add(w, p->name, MF_REAL_DTYPE, p->ndim, shape, p->value, err);
        if (s != CN_OK) return s;
    }
    return CN_OK;
}

/* The normalisation: the fitted statistics, or only "norm/mode" = "none" when
 * nothing was fitted. */
static cn_status mf_add_norm(cn_st_writer *w, const char *path, const cn_model_info *info,
                             cn_error *err)
{
    const cn_norm *n = &info->norm;
    int fitted = n->mean_image || n->std_image || n->mean || n->std;
    if (!fitted) {
        if (n->mode != CN_NORM_NONE)
            return cn_error_set(err, CN_ERR_ARG, "%s: save model: normalisation '%s' has no "
                                "fitted statistics", path, cn_norm_mode_name(n->mode));
        return cn_st_writer_meta(w, MF_NORM_PREFIX "mode", cn_norm_mode_name(CN_NORM_NONE), err);
    }
    const cn_builtin_spec *s = &info->spec;
    if (n->c != s->c || n->h != s->h || n->w != s->w)
        return cn_error_set(err, CN_ERR_ARG, "%s: save model: normalisation fitted on %dx%dx%d, "
                            "the model's input is %dx%dx%d", path, n->c, n->h, n->w, s->c, s->h,
                            s->w);
    return cn_norm_save(n, w, MF_NORM_PREFIX, err);
}

/* The input node's per-sample shape as c, h, w (h = w = 1 for a vector input);
 * -1 when the network has no input node or one of another rank. */
static int mf_input_chw(const cn_model *m, int *c, int *h, int *w)
{
    const cn_attrs *a = cn_model_node_attrs(m, cn_model_input_node(m, 0));
    if (!a || a->ndim < 1 || a->ndim > 3 || cn_model_num_inputs(m) != 1) return -1;
    *c = a->shape[0];
    *h = a->ndim == 3 ? a->shape[1] : 1;
    *w = a->ndim == 3 ? a->shape[2] : 1;
    return 0;
}

/* The number of classes of a compiled network: the size of its prediction node. */
static long long mf_output_size(const cn_model *m)
{
    int nd, shape[CN_MAX_DIMS];
    cn_error e;
    if (cn_model_node_shape(m, cn_model_output(m), &nd, shape, &e) != CN_OK) return -1;
    long long k = 1;
    for (int i = 0; i < nd; i++) k *= shape[i]; /* per-sample shape */
    return k;
}

/* from_text save: the name is one word and spec's sizes are the network's. */
static cn_status mf_check_text_model(const char *path, const cn_model *m,
                                     const cn_builtin_spec *s, cn_error *err)
{
    if (strcspn(s->name, " \t\r\n") != strlen(s->name))
        return cn_error_set(err, CN_ERR_ARG, "%s: save model: name '%s' has blanks", path,
                            s->name);
    int c, h, w;
    if (mf_input_chw(m, &c, &h, &w) != 0 || c != s->c || h != s->h || w != s->w)
        return cn_error_set(err, CN_ERR_ARG, "%s: save model: the network's input is not "
                            "%dx%dx%d (one input node of that shape)", path, s->c, s->h, s->w);
    long long k = mf_output_size(m);
    if (k != s->classes)
        return cn_error_set(err, CN_ERR_ARG, "%s: save model: the prediction node has %lld "
                            "values, not %d classes", path, k, s->classes);
    return CN_OK;
}

cn_status cn_model_file_save(const char *path, const cn_model *m, const cn_model_info *info,
                             const cn_meta_pair *meta, int n_meta, cn_error *err)
{
    if (!path || !m || !info) return cn_error_set(err, CN_ERR_ARG, "save model: NULL argument");
    const cn_params *ps = cn_model_params((cn_model *)m); /* only read */
    if (!ps)
        return cn_error_set(err, CN_ERR_ARG, "%s: save model: the model is not compiled", path);
    cn_status s = info->from_text ? mf_check_text_model(path, m, &info->spec, err)
                                  : cn_builtin_check(&info->spec, err);
    if (s != CN_OK) return info->from_text ? s : cn_error_prefix(err, "%s: save model: ", path);
    s = mf_check_meta(path, meta, n_meta, err);
    if (s != CN_OK) return s;
    char desc[MF_DESC_MAX];
    if (info->from_text)
        snprintf(desc, sizeof desc, "%s%s", MF_TEXT_PREFIX, info->spec.name);
    else if (cn_builtin_describe(&info->spec, desc, sizeof desc) < 0)
        return cn_error_set(err, CN_ERR_ARG, "%s: save model: description too long", path);
    char *text = cn_model_print(m, err);
    if (!text) return cn_error_prefix(err, "%s: save model: ", path);
    char *classes = NULL;
    s = mf_classes_json(path, info->class_names, info->spec.classes, &classes, err);
    if (s != CN_OK) {
        cn_free(text);
        return s;
    }
    cn_st_writer *w = cn_st_writer_new(err);
    if (!w) {
        free(classes);
        cn_free(text);
        return cn_error_prefix(err, "%s: ", path);
    }
    s = mf_add_params(w, ps, err);
    if (s == CN_OK) s = mf_add_norm(w, path, info, err);
    if (s == CN_OK) s = cn_st_writer_meta(w, "format", CN_MODEL_FORMAT, err);
    if (s == CN_OK) s = cn_st_writer_meta(w, "model", desc, err);
    if (s == CN_OK) s = cn_st_writer_meta(w, "model_text", text, err);
    if (s == CN_OK) s = cn_st_writer_meta(w, "classes", classes, err);
    for (int i = 0; s == CN_OK && i < n_meta; i++)
        s = cn_st_writer_meta(w, meta[i].key, meta[i].value, err);
    free(classes);
    cn_free(text);
    if (s != CN_OK) {
        cn_st_writer_free(w);
        if (err && strncmp(err->msg, path, strlen(path)) != 0) cn_error_prefix(err, "%s: ", path);
        return s;
    }
    s = cn_st_writer_save(w, path, err);
    cn_st_writer_free(w);
    return s;
}

/* ---------------------------------------------------------------- loading */

static uint64_t mf_get_u64(const uint8_t *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)in[i] << (8 * i);
    return v;
}

/* element i of a F32 or F64 tensor as a double */
static double mf_get_float(const cn_st_tensor *t, size_t i)
{
    if (t->dtype == CN_DTYPE_F32) {
        const uint8_t *b = t->data + 4 * i;
        uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    uint64_t u = mf_get_u64(t->data + 8 * i);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void mf_shape_str(char *buf, size_t size, int ndim, const uint64_t *shape)
{
    size_t o = (size_t)snprintf(buf, size, "(");
    for (int d = 0; d < ndim && o < size; d++)
        o += (size_t)snprintf(buf + o, size - o, "%s%llu", d ? ", " : "",
                              (unsigned long long)shape[d]);
    if (o < size) snprintf(buf + o, size - o, ")");
}

static int mf_is_norm_tensor(const char *name)
{
    for (int i = 0; i < MF_N_NORM_TENSORS; i++)
        if (!strcmp(name, mf_norm_tensors[i])) return 1;
    return 0;
}

/* Every parameter present, F32/F64, with exactly its shape; no other tensor but
 * the normalisation's. */
static cn_status mf_check_params(const cn_safetensors *st, const char *path, cn_params *ps,
                                 cn_error *err)
{
    for (int k = 0; k < ps->n; k++) {
        const cn_param *p = &ps->p[k];
        const cn_st_tensor *t = cn_safetensors_find(st, p->name);
        if (!t) return cn_error_set(err, CN_ERR_FORMAT, "%s: missing tensor '%s'", path, p->name);
        if (t->dtype != CN_DTYPE_F32 && t->dtype != CN_DTYPE_F64)
            return cn_error_set(err, (t->dtype == CN_DTYPE_F16 || t->dtype == CN_DTYPE_BF16)
                                         ? CN_ERR_UNSUPPORTED : CN_ERR_FORMAT,
                                "%s: tensor '%s': dtype %s, expected F32 or F64", path, t->name,
                                cn_dtype_name(t->dtype));
        uint64_t shape[CN_MAX_DIMS];
        for (int d = 0; d < p->ndim; d++) shape[d] = (uint64_t)p->shape[d];
        int same = t->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == shape[d];
        if (!same) {
            char a[128], b[128];
            mf_shape_str(a, sizeof a, t->ndim, t->shape);
            mf_shape_str(b, sizeof b, p->ndim, shape);
            return cn_error_set(err, CN_ERR_FORMAT, "%s: tensor '%s': shape %s, expected %s",
                                path, t->name, a, b);
        }
    }
    for (int i = 0; i < st->ntensors; i++) {
        const char *name = st->tensors[i].name;
        if (mf_is_norm_tensor(name)) continue;
        if (!cn_params_find(ps, name))
            return cn_error_set(err, CN_ERR_FORMAT,
                                "%s: unexpected tensor '%s' (no parameter of that name)", path,
                                name);
    }
    return CN_OK;
}

/* "classes": a JSON array of exactly k strings (no NUL) into a new names array. */
static cn_status mf_parse_classes(const char *path, const char *text, int k, char ***out,
                                  cn_error *err)
{
    *out = NULL;
    json_error_t je;
    json_t *arr = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!arr || !json_is_array(arr) || json_array_size(arr) != (size_t)k) {
        cn_status s = cn_error_set(err, CN_ERR_FORMAT, "%s: metadata 'classes': expected a JSON "
                                   "array of %d strings%s%s", path, k, arr ? "" : ": ",
                                   arr ? "" : je.text);
        json_decref(arr);
        return s;
    }
    char **names = cn_calloc((size_t)k, sizeof *names);
    if (!names) {
        json_decref(arr);
        return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory for class names", path);
    }
    cn_status s = CN_OK;
    for (int i = 0; i < k && s == CN_OK; i++) {
        json_t *v = json_array_get(arr, (size_t)i);
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
            s = cn_error_set(err, CN_ERR_FORMAT, "%s: metadata 'classes': entry %d is not a "
                             "string without NUL", path, i);
            break;
        }
        names[i] = cn_strdup(json_string_value(v));
        if (!names[i])
            s = cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory for class names", path);
    }
    json_decref(arr);
    if (s != CN_OK) {
        for (int i = 0; i < k; i++) cn_free(names[i]);
        cn_free(names);
        return s;
    }
    *out = names;
    return CN_OK;
}

/* The normalisation: "norm/mode" must be present; "none" without tensors is the
 * identity on the model's input shape. */
static cn_status mf_load_norm(const cn_safetensors *st, const char *path,
                              const cn_builtin_spec *spec, cn_norm *out, cn_error *err)
{
    memset(out, 0, sizeof *out);
    const char *mode = cn_safetensors_meta(st, MF_NORM_PREFIX "mode");
    if (!mode)
        return cn_error_set(err, CN_ERR_FORMAT, "%s: missing metadata key '" MF_NORM_PREFIX
                            "mode'", path);
    int any = 0;
    for (int i = 0; i < MF_N_NORM_TENSORS; i++)
        any |= cn_safetensors_find(st, mf_norm_tensors[i]) != NULL;
    if (!any && !strcmp(mode, cn_norm_mode_name(CN_NORM_NONE))) {
        out->mode = CN_NORM_NONE;
        out->c = spec->c;
        out->h = spec->h;
        out->w = spec->w;
        return CN_OK;
    }
    cn_error e;
    if (cn_norm_load(st, MF_NORM_PREFIX, out, &e) != CN_OK)
        return cn_error_set(err, e.code == CN_ERR_NOMEM ? CN_ERR_NOMEM : CN_ERR_FORMAT,
                            "%s: normalisation: %s", path, e.msg);
    if (out->c != spec->c || out->h != spec->h || out->w != spec->w) {
        cn_status s = cn_error_set(err, CN_ERR_FORMAT, "%s: tensor '" MF_NORM_PREFIX "mean_image': "
                                   "normalisation for %dx%dx%d, the model's input is %dx%dx%d",
                                   path, out->c, out->h, out->w, spec->c, spec->h, spec->w);
        cn_norm_free(out);
        return s;
    }
    return CN_OK;
}

/* The number of parameters and buffers of the model s describes (in double: a
 * bound, not an allocation size), so a small file cannot make the loader build
 * a huge network before the weights are checked. */
static double mf_spec_params(const cn_builtin_spec *s)
{
    double in = (double)s->c * s->h * s->w, total = 0, prev = in;
    int conv = !strcmp(s->name, "three-layer-convnet");
    if (conv) {
        double f = s->filters;
        total += f * s->c * s->kernel * s->kernel + f + (s->batchnorm ? 4 * f : 0);
        prev = f * (double)(s->h / 2) * (double)(s->w / 2);
    }
    for (int i = 0; i < s->n_hidden; i++) {
        double h = s->hidden[i];
        total += prev * h + h + (s->batchnorm && !conv ? 4 * h : 0);
        prev = h;
    }
    return total + prev * s->classes + s->classes;
}

/* The "format" key: this format, else CN_ERR_UNSUPPORTED (another version) or
 * CN_ERR_FORMAT (missing, another kind of file). */
static cn_status mf_check_format(const cn_safetensors *st, const char *path, cn_error *err)
{
    const char *fmt = cn_safetensors_meta(st, "format");
    if (!fmt)
        return cn_error_set(err, CN_ERR_FORMAT, "%s: not a model file: missing metadata key "
                            "'format'", path);
    if (!strcmp(fmt, CN_MODEL_FORMAT)) return CN_OK;
    if (!strncmp(fmt, MF_FORMAT_PREFIX, strlen(MF_FORMAT_PREFIX)))
        return cn_error_set(err, CN_ERR_UNSUPPORTED, "%s: metadata 'format': unsupported version "
                            "'%.64s' (this build reads '%s')", path, fmt, CN_MODEL_FORMAT);
    return cn_error_set(err, CN_ERR_FORMAT, "%s: not a model file: metadata 'format' is '%.64s', "
                        "expected '%s'", path, fmt, CN_MODEL_FORMAT);
}

static char *mf_strdup(const char *t)
{
    size_t n = strlen(t) + 1;
    char *d = cn_malloc(n);
    if (d) memcpy(d, t, n);
    return d;
}

/* A "text NAME" file: parse "model_text", check the input's size, compile for
 * batch with the parameter count bounded by the file's bytes, fill inf's spec
 * (name, c, h, w, classes) and text. Returns the model or NULL with err set. */
static cn_model *mf_build_text(const cn_safetensors *st, const char *path, const char *name,
                               const char *text, int batch, cn_model_info *inf, cn_error *err)
{
    if (!text) {
        cn_error_set(err, CN_ERR_FORMAT, "%s: missing metadata key 'model_text'", path);
        return NULL;
    }
    if (strlen(name) >= sizeof inf->spec.name || strcspn(name, " \t\r\n") != strlen(name)) {
        cn_error_set(err, CN_ERR_FORMAT, "%s: metadata 'model': bad name '%.64s'", path, name);
        return NULL;
    }
    char where[CN_ERROR_MSG_MAX / 2];
    snprintf(where, sizeof where, "%s: metadata 'model_text'", path);
    cn_model *m = cn_model_parse(text, strlen(text), where, NULL, err);
    if (!m) {
        if (err && err->code == CN_ERR_ARG) err->code = CN_ERR_FORMAT;
        return NULL;
    }
    int c, h, w;
    cn_status s = CN_OK;
    if (mf_input_chw(m, &c, &h, &w) != 0)
        s = cn_error_set(err, CN_ERR_FORMAT, "%s: metadata 'model_text': the network needs one "
                         "input node of 1 to 3 dimensions", path);
    else if ((double)c * h * w > MF_MAX_INPUT)
        s = cn_error_set(err, CN_ERR_FORMAT, "%s: metadata 'model_text': input %dx%dx%d has "
                         "more than %d values", path, c, h, w, MF_MAX_INPUT);
    if (s == CN_OK) {
        cn_compile_opts o = {.batch = batch, .training = 0, .max_params = st->size / 4 + 1};
        s = cn_model_compile(m, &o, err);
        if (s == CN_ERR_RANGE) {
            cn_error_prefix(err, "%s: metadata 'model_text': ", path);
            if (err) err->code = CN_ERR_FORMAT;
            s = CN_ERR_FORMAT;
        }
    }
    long long k = s == CN_OK ? mf_output_size(m) : 0;
    if (s == CN_OK && (k < 2 || k > INT32_MAX))
        s = cn_error_set(err, CN_ERR_FORMAT, "%s: metadata 'model_text': the prediction node "
                         "has %lld values (classes), expected 2 or more", path, k);
    if (s == CN_OK && !(inf->text = mf_strdup(text)))
        s = cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", path);
    if (s != CN_OK) {
        cn_model_free(m);
        return NULL;
    }
    snprintf(inf->spec.name, sizeof inf->spec.name, "%s", name);
    inf->spec.c = c;
    inf->spec.h = h;
    inf->spec.w = w;
    inf->spec.classes = (int)k;
    return m;
}

cn_model *cn_model_file_load(const char *path, int batch, cn_model_info *info,
                             cn_error *err)
{
    if (!path || !info) {
        cn_error_set(err, CN_ERR_ARG, "load model: NULL argument");
        return NULL;
    }
    memset(info, 0, sizeof *info);
    if (batch < 1) {
        cn_error_set(err, CN_ERR_ARG, "%s: load model: batch %d: must be >= 1", path, batch);
        return NULL;
    }
    cn_safetensors *st = NULL;
    if (cn_safetensors_read(path, &st, err) != CN_OK) return NULL;
    cn_model *m = NULL;
    cn_model_info inf;
    memset(&inf, 0, sizeof inf);
    cn_error e;
    cn_status s = mf_check_format(st, path, err);
    const char *desc = cn_safetensors_meta(st, "model");
    const char *classes = cn_safetensors_meta(st, "classes");
    if (s == CN_OK && !desc)
        s = cn_error_set(err, CN_ERR_FORMAT, "%s: missing metadata key 'model'", path);
    if (s == CN_OK && !classes)
        s = cn_error_set(err, CN_ERR_FORMAT, "%s: missing metadata key 'classes'", path);
    const char *text = cn_safetensors_meta(st, "model_text");
    inf.from_text = desc && !strncmp(desc, MF_TEXT_PREFIX, strlen(MF_TEXT_PREFIX));
    if (s == CN_OK && inf.from_text) {
        m = mf_build_text(st, path, desc + strlen(MF_TEXT_PREFIX), text, batch, &inf, err);
        if (!m) s = err ? err->code : CN_ERR_NOMEM;
    } else if (s == CN_OK) {
        if (cn_builtin_parse(desc, &inf.spec, &e) != CN_OK)
            s = cn_error_set(err, CN_ERR_FORMAT, "%s: metadata 'model': %s", path, e.msg);
        if (s == CN_OK && mf_spec_params(&inf.spec) * 4 > (double)st->size)
            s = cn_error_set(err, CN_ERR_FORMAT, "%s: metadata 'model': the description needs "
                             "%.0f parameters, more than the file's %zu bytes can hold", path,
                             mf_spec_params(&inf.spec), st->size);
        if (s == CN_OK) {
            m = cn_builtin_build(&inf.spec, err);
            if (!m) s = err ? err->code : CN_ERR_NOMEM;
        }
        if (s == CN_OK) {
            cn_compile_opts o = {.batch = batch, .training = 0, .input_grad = 0};
            s = cn_model_compile(m, &o, err);
        }
        if (s == CN_OK && text && !(inf.text = mf_strdup(text)))
            s = cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", path);
    }
    if (s == CN_OK) s = mf_parse_classes(path, classes, inf.spec.classes, &inf.class_names, err);
    if (s == CN_OK) s = mf_load_norm(st, path, &inf.spec, &inf.norm, err);
    if (s == CN_OK) s = mf_check_params(st, path, cn_model_params(m), err);
    if (s == CN_OK) {
        cn_params *ps = cn_model_params(m);
        for (int k = 0; k < ps->n; k++) {
            cn_param *p = &ps->p[k];
            const cn_st_tensor *t = cn_safetensors_find(st, p->name);
            for (size_t i = 0; i < p->numel; i++) p->value[i] = (cn_real)mf_get_float(t, i);
        }
        cn_model_mark_initialised(m);
    }
    cn_safetensors_free(st);
    if (s != CN_OK) {
        if (err && strncmp(err->msg, path, strlen(path)) != 0)
            cn_error_prefix(err, "%s: ", path);
        cn_model_free(m);
        cn_model_info_free(&inf);
        return NULL;
    }
    *info = inf;
    return m;
}

cn_status cn_model_file_meta(const char *path, const char *key, char *buf, size_t cap,
                             cn_error *err)
{
    if (!path || !key || !buf || cap == 0)
        return cn_error_set(err, CN_ERR_ARG, "model file metadata: NULL argument");
    buf[0] = '\0';
    cn_safetensors *st = NULL;
    cn_status s = cn_safetensors_read(path, &st, err);
    if (s != CN_OK) return s;
    const char *v = cn_safetensors_meta(st, key);
    if (v) {
        size_t n = strlen(v);
        if (n >= cap)
            s = cn_error_set(err, CN_ERR_RANGE, "%s: metadata '%s': %zu bytes do not fit in %zu",
                             path, key, n, cap);
        else
            memcpy(buf, v, n + 1);
    }
    cn_safetensors_free(st);
    return s;
}

/* ---------------------------------------------------------------- prediction */

/* The batch m was compiled for (0 with err set when it is not compiled). */
static int mf_compiled_batch(const cn_model *m, cn_error *err)
{
    int b = cn_model_batch(m);
    if (b < 1) cn_error_set(err, CN_ERR_ARG, "predict: the model is not compiled");
    return b;
}

cn_status cn_model_predict(cn_model *m, const cn_dataset *ds, cn_real *probs, cn_error *err)
{
    if (!m || !ds || !probs || !ds->images)
        return cn_error_set(err, CN_ERR_ARG, "predict: NULL argument");
    if (cn_model_num_inputs(m) < 1)
        return cn_error_set(err, CN_ERR_ARG, "predict: the model has no input");
    int nd, shape[CN_MAX_DIMS];
    cn_status s = cn_model_node_shape(m, cn_model_input_node(m, 0), &nd, shape, err);
    if (s != CN_OK) return s;
    if (nd != 3 || shape[0] != ds->c || shape[1] != ds->h || shape[2] != ds->w)
        return cn_error_set(err, CN_ERR_ARG, "predict: the model's input is %dx%dx%d (rank %d), "
                            "the data's images are %dx%dx%d", nd > 0 ? shape[0] : 0,
                            nd > 1 ? shape[1] : 0, nd > 2 ? shape[2] : 0, nd, ds->c, ds->h,
                            ds->w);
    int out = cn_model_output(m);
    s = cn_model_node_shape(m, out, &nd, shape, err);
    if (s != CN_OK) return s;
    if (nd != 1 || shape[0] < 1)
        return cn_error_set(err, CN_ERR_ARG, "predict: the prediction node '%s' is not a vector "
                            "of class scores (rank %d)", cn_model_node_name(m, out), nd);
    int k = shape[0];
    if (ds->num_classes > 0 && ds->num_classes != k)
        return cn_error_set(err, CN_ERR_ARG, "predict: the model has %d classes, the data %d", k,
                            ds->num_classes);
    int batch = mf_compiled_batch(m, err);
    if (batch < 1) return err ? err->code : CN_ERR_ARG;
    size_t d = (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
    const cn_real *x = ds->images->data; // (n, c*h*w)
    for (int i0 = 0; i0 < ds->n; i0 += batch) {
        int n = ds->n - i0 < batch ? ds->n - i0 : batch;
        s = cn_model_forward(m, n, x + (size_t)i0 * d, NULL, CN_EVAL, NULL, NULL, err);
        if (s != CN_OK) return s;
        const cn_real *z = cn_model_node_value(m, out); // (n, k) logits
        for (int i = 0; i < n; i++) {
            const cn_real *zi = z + (size_t)i * (size_t)k;
            cn_real *pi = probs + (size_t)(i0 + i) * (size_t)k; // (k)
            double mx = (double)zi[0];
            for (int j = 1; j < k; j++)
                if ((double)zi[j] > mx) mx = (double)zi[j];
            double sum = 0;
            for (int j = 0; j < k; j++) sum += exp((double)zi[j] - mx);
            for (int j = 0; j < k; j++) pi[j] = (cn_real)(exp((double)zi[j] - mx) / sum);
        }
    }
    return CN_OK;
}
