/* builtin.c: the built-in models of `convnet train` (softmax, two-layer, mlp,
 * three-layer-convnet): their default options, setting options from text,
 * validation, the one-line description and its parser, and building the graph
 * with the engine's node builders (docs/builtin.md). */
#include "convnet/builtin.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BI_SOFTMAX = 0, BI_TWO_LAYER, BI_MLP, BI_CONVNET, BI_COUNT };

static const char *const bi_names[BI_COUNT] = {"softmax", "two-layer", "mlp",
                                               "three-layer-convnet"};

static const char *const bi_loss_names[CN_BUILTIN_LOSS_COUNT] = {"softmax", "svm"};

#define BI_KEYS "input, classes, hidden, filters, kernel, dropout, batchnorm, loss, init_std"
#define BI_NAMES "softmax, two-layer, mlp, three-layer-convnet"

int cn_builtin_count(void)
{
    return BI_COUNT;
}

const char *cn_builtin_name(int i)
{
    return i >= 0 && i < BI_COUNT ? bi_names[i] : NULL;
}

/* the index of name in bi_names, or -1 */
static int bi_kind(const char *name)
{
    for (int i = 0; i < BI_COUNT; i++)
        if (strcmp(name, bi_names[i]) == 0) return i;
    return -1;
}

cn_status cn_builtin_spec_default(const char *name, cn_builtin_spec *s, cn_error *err)
{
    if (!name || !s) return cn_error_set(err, CN_ERR_ARG, "builtin model: NULL argument");
    int k = bi_kind(name);
    if (k < 0)
        return cn_error_set(err, CN_ERR_ARG, "unknown model '%s' (built-in models: %s)", name,
                            BI_NAMES);
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", bi_names[k]);
    s->c = 1;
    s->h = 28;
    s->w = 28;
    s->classes = 10;
    if (k == BI_TWO_LAYER || k == BI_CONVNET) {
        s->n_hidden = 1;
        s->hidden[0] = 100;
    } else if (k == BI_MLP) {
        s->n_hidden = 2;
        s->hidden[0] = s->hidden[1] = 100;
    }
    s->filters = 32;
    s->kernel = 7;
    s->dropout = 0;
    s->batchnorm = 0;
    s->loss = CN_BUILTIN_SOFTMAX;
    s->init_std = 0;
    return CN_OK;
}

/* ---------------------------------------------------------------- strict numbers */

/* parse a whole decimal int in [lo, hi]; 0 on success */
static int bi_int(const char *t, int lo, int hi, int *out)
{
    if (!t || !*t || (*t != '-' && *t != '+' && (*t < '0' || *t > '9'))) return -1;
    errno = 0;
    char *end;
    long v = strtol(t, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

/* parse a whole finite real; 0 on success */
static int bi_real(const char *t, double *out)
{
    if (!t || !*t || *t == ' ' || *t == '\t') return -1;
    errno = 0;
    char *end;
    double v = strtod(t, &end);
    if (errno == ERANGE && fabs(v) > 1) return -1;
    if (*end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* "CxHxW" with each part in [1, 65536] */
static int bi_input(const char *t, int *c, int *h, int *w)
{
    char buf[64];
    if (strlen(t) >= sizeof buf) return -1;
    snprintf(buf, sizeof buf, "%s", t);
    int v[3], n = 0;
    char *p = buf;
    for (;;) {
        char *x = strchr(p, 'x');
        if (x) *x = '\0';
        if (n == 3 || bi_int(p, 1, 65536, &v[n]) != 0) return -1;
        n++;
        if (!x) break;
        p = x + 1;
    }
    if (n != 3) return -1;
    *c = v[0];
    *h = v[1];
    *w = v[2];
    return 0;
}

/* "100" or "512,256": 1..CN_BUILTIN_MAX_HIDDEN widths in [1, 1 << 24] */
static int bi_hidden(const char *t, int *hidden, int *n_out)
{
    char buf[256];
    if (strlen(t) >= sizeof buf) return -1;
    snprintf(buf, sizeof buf, "%s", t);
    int n = 0;
    char *p = buf;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        if (n == CN_BUILTIN_MAX_HIDDEN || bi_int(p, 1, 1 << 24, &hidden[n]) != 0) return -1;
        n++;
        if (!comma) break;
        p = comma + 1;
    }
    *n_out = n;
    return 0;
}

/* ---------------------------------------------------------------- options */

static cn_status bi_bad(cn_error *err, const char *key, const char *value, const char *why)
{
    return cn_error_set(err, CN_ERR_ARG, "model option %s=%s: %s", key, value, why);
}

cn_status cn_builtin_set(cn_builtin_spec *s, const char *key, const char *value,
                         cn_error *err)
{
    if (!s || !key || !value) return cn_error_set(err, CN_ERR_ARG, "builtin model: NULL argument");
    int k = bi_kind(s->name);
    if (k < 0)
        return cn_error_set(err, CN_ERR_ARG, "unknown model '%s' (built-in models: %s)", s->name,
                            BI_NAMES);
    cn_builtin_spec t = *s;
    const char *name = bi_names[k];
    char why[160];
    if (strcmp(key, "input") == 0) {
        if (bi_input(value, &t.c, &t.h, &t.w) != 0)
            return bi_bad(err, key, value, "expected CxHxW, each 1..65536 (e.g. 1x28x28)");
    } else if (strcmp(key, "classes") == 0) {
        if (bi_int(value, 2, 1 << 20, &t.classes) != 0)
            return bi_bad(err, key, value, "expected an integer in [2, 1048576]");
    } else if (strcmp(key, "hidden") == 0) {
        if (k == BI_SOFTMAX) {
            snprintf(why, sizeof why, "model '%s' has no hidden layer", name);
            return bi_bad(err, key, value, why);
        }
        if (bi_hidden(value, t.hidden, &t.n_hidden) != 0)
            return bi_bad(err, key, value,
                          "expected comma-separated widths in [1, 16777216], at most 8");
        if (k != BI_MLP && t.n_hidden != 1) {
            snprintf(why, sizeof why, "model '%s' has exactly one hidden layer", name);
            return bi_bad(err, key, value, why);
        }
        for (int i = t.n_hidden; i < CN_BUILTIN_MAX_HIDDEN; i++) t.hidden[i] = 0;
    } else if (strcmp(key, "filters") == 0 || strcmp(key, "kernel") == 0) {
        if (k != BI_CONVNET) {
            snprintf(why, sizeof why, "only three-layer-convnet has %s, not '%s'", key, name);
            return bi_bad(err, key, value, why);
        }
        if (key[0] == 'f') {
            if (bi_int(value, 1, 1 << 16, &t.filters) != 0)
                return bi_bad(err, key, value, "expected an integer in [1, 65536]");
        } else if (bi_int(value, 1, 255, &t.kernel) != 0 || t.kernel % 2 == 0) {
            return bi_bad(err, key, value, "expected an odd integer in [1, 255]");
        }
    } else if (strcmp(key, "dropout") == 0) {
        if (bi_real(value, &t.dropout) != 0 || !(t.dropout >= 0 && t.dropout < 1))
            return bi_bad(err, key, value, "expected a real in [0, 1)");
        if (t.dropout != 0 && (k == BI_SOFTMAX || k == BI_TWO_LAYER)) {
            snprintf(why, sizeof why, "model '%s' has no dropout (mlp and three-layer-convnet do)",
                     name);
            return bi_bad(err, key, value, why);
        }
    } else if (strcmp(key, "batchnorm") == 0) {
        if (bi_int(value, 0, 1, &t.batchnorm) != 0)
            return bi_bad(err, key, value, "expected 0 or 1");
        if (t.batchnorm && (k == BI_SOFTMAX || k == BI_TWO_LAYER)) {
            snprintf(why, sizeof why,
                     "model '%s' has no batch norm (mlp and three-layer-convnet do)", name);
            return bi_bad(err, key, value, why);
        }
    } else if (strcmp(key, "loss") == 0) {
        int found = -1;
        for (int i = 0; i < CN_BUILTIN_LOSS_COUNT; i++)
            if (strcmp(value, bi_loss_names[i]) == 0) found = i;
        if (found < 0) return bi_bad(err, key, value, "expected softmax or svm");
        t.loss = (cn_builtin_loss)found;
    } else if (strcmp(key, "init_std") == 0) {
        if (bi_real(value, &t.init_std) != 0 || !(t.init_std >= 0))
            return bi_bad(err, key, value, "expected a finite real >= 0");
    } else {
        return cn_error_set(err, CN_ERR_ARG, "unknown model option '%s' (=%s; options: %s)", key,
                            value, BI_KEYS);
    }
    *s = t;
    return CN_OK;
}

cn_status cn_builtin_check(const cn_builtin_spec *s, cn_error *err)
{
    if (!s) return cn_error_set(err, CN_ERR_ARG, "builtin model: NULL argument");
    if (!memchr(s->name, '\0', sizeof s->name))
        return cn_error_set(err, CN_ERR_ARG, "builtin model: name is not terminated");
    int k = bi_kind(s->name);
    if (k < 0)
        return cn_error_set(err, CN_ERR_ARG, "unknown model '%s' (built-in models: %s)", s->name,
                            BI_NAMES);
    const char *name = bi_names[k];
    if (s->c < 1 || s->h < 1 || s->w < 1 || s->c > 65536 || s->h > 65536 || s->w > 65536)
        return cn_error_set(err, CN_ERR_ARG, "model '%s': input %dx%dx%d: each must be 1..65536",
                            name, s->c, s->h, s->w);
    if (k == BI_CONVNET && (s->h < 2 || s->w < 2))
        return cn_error_set(err, CN_ERR_ARG,
                            "model '%s': input %dx%dx%d: height and width must be >= 2 "
                            "for the 2x2 max pool", name, s->c, s->h, s->w);
    if (s->classes < 2 || s->classes > (1 << 20))
        return cn_error_set(err, CN_ERR_ARG, "model '%s': classes %d: must be in [2, 1048576]",
                            name, s->classes);
    int lo = k == BI_SOFTMAX ? 0 : 1;
    int hi = k == BI_SOFTMAX ? 0 : k == BI_MLP ? CN_BUILTIN_MAX_HIDDEN : 1;
    if (s->n_hidden < lo || s->n_hidden > hi)
        return cn_error_set(err, CN_ERR_ARG, "model '%s': n_hidden %d: must be in [%d, %d]", name,
                            s->n_hidden, lo, hi);
    for (int i = 0; i < s->n_hidden; i++)
        if (s->hidden[i] < 1 || s->hidden[i] > (1 << 24))
            return cn_error_set(err, CN_ERR_ARG, "model '%s': hidden[%d] %d: must be in [1, %d]",
                                name, i, s->hidden[i], 1 << 24);
    if (s->filters < 1 || s->filters > 65536)
        return cn_error_set(err, CN_ERR_ARG, "model '%s': filters %d: must be in [1, 65536]",
                            name, s->filters);
    if (s->kernel < 1 || s->kernel > 255 || s->kernel % 2 == 0)
        return cn_error_set(err, CN_ERR_ARG, "model '%s': kernel %d: must be odd, in [1, 255]",
                            name, s->kernel);
    if (!(s->dropout >= 0 && s->dropout < 1))
        return cn_error_set(err, CN_ERR_ARG, "model '%s': dropout %g: must be in [0, 1)", name,
                            s->dropout);
    if (s->dropout != 0 && (k == BI_SOFTMAX || k == BI_TWO_LAYER))
        return cn_error_set(err, CN_ERR_ARG, "model '%s': dropout %g: this model has no dropout",
                            name, s->dropout);
    if (s->batchnorm != 0 && s->batchnorm != 1)
        return cn_error_set(err, CN_ERR_ARG, "model '%s': batchnorm %d: must be 0 or 1", name,
                            s->batchnorm);
    if (s->batchnorm && (k == BI_SOFTMAX || k == BI_TWO_LAYER))
        return cn_error_set(err, CN_ERR_ARG,
                            "model '%s': batchnorm 1: this model has no batch norm", name);
    if ((int)s->loss < 0 || s->loss >= CN_BUILTIN_LOSS_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "model '%s': loss %d: must be softmax or svm", name,
                            (int)s->loss);
    if (!(s->init_std >= 0) || !isfinite(s->init_std))
        return cn_error_set(err, CN_ERR_ARG, "model '%s': init_std %g: must be finite and >= 0",
                            name, s->init_std);
    return CN_OK;
}

/* ---------------------------------------------------------------- description */

/* bounded appender: keeps the running length, even past cap */
typedef struct bi_buf {
    char *p;
    size_t cap, len;
} bi_buf;

static void bi_put(bi_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void bi_put(bi_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->len < b->cap ? b->cap - b->len : 0;
    int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) b->len += (size_t)n;
}

int cn_builtin_describe(const cn_builtin_spec *s, char *buf, size_t cap)
{
    if (!s || !buf || cap == 0) return -1;
    bi_buf b = {buf, cap, 0};
    buf[0] = '\0';
    int k = bi_kind(s->name);
    bi_put(&b, "%s input=%dx%dx%d classes=%d", s->name, s->c, s->h, s->w, s->classes);
    if (k == BI_CONVNET) bi_put(&b, " filters=%d kernel=%d", s->filters, s->kernel);
    if (k != BI_SOFTMAX && s->n_hidden > 0) {
        bi_put(&b, " hidden=");
        for (int i = 0; i < s->n_hidden && i < CN_BUILTIN_MAX_HIDDEN; i++)
            bi_put(&b, i ? ",%d" : "%d", s->hidden[i]);
    }
    if (k == BI_MLP || k == BI_CONVNET)
        bi_put(&b, " dropout=%.17g batchnorm=%d", s->dropout, s->batchnorm);
    int loss = (int)s->loss >= 0 && s->loss < CN_BUILTIN_LOSS_COUNT ? (int)s->loss : 0;
    bi_put(&b, " loss=%s init_std=%.17g", bi_loss_names[loss], s->init_std);
    if (b.len >= cap) {
        buf[cap - 1] = '\0';
        return -1;
    }
    return (int)b.len;
}

cn_status cn_builtin_parse(const char *desc, cn_builtin_spec *s, cn_error *err)
{
    if (!desc || !s) return cn_error_set(err, CN_ERR_ARG, "builtin model: NULL argument");
    cn_builtin_spec t;
    char word[512];
    size_t i = 0, len = strlen(desc);
    int first = 1;
    for (;;) {
        while (i < len && (desc[i] == ' ' || desc[i] == '\t')) i++;
        if (i >= len) break;
        size_t start = i;
        while (i < len && desc[i] != ' ' && desc[i] != '\t') i++;
        size_t wl = i - start;
        size_t col = start + 1;
        if (wl >= sizeof word)
            return cn_error_set(err, CN_ERR_FORMAT, "model description: column %zu: word too long",
                                col);
        memcpy(word, desc + start, wl);
        word[wl] = '\0';
        cn_error e;
        if (first) {
            first = 0;
            if (cn_builtin_spec_default(word, &t, &e) != CN_OK)
                return cn_error_set(err, CN_ERR_FORMAT, "model description: column %zu: '%s': %s",
                                    col, word, e.msg);
            continue;
        }
        char *eq = strchr(word, '=');
        if (!eq || eq == word)
            return cn_error_set(err, CN_ERR_FORMAT,
                                "model description: column %zu: '%s': expected key=value", col,
                                word);
        *eq = '\0';
        if (cn_builtin_set(&t, word, eq + 1, &e) != CN_OK) {
            *eq = '=';
            return cn_error_set(err, CN_ERR_FORMAT, "model description: column %zu: '%s': %s",
                                col, word, e.msg);
        }
    }
    if (first)
        return cn_error_set(err, CN_ERR_FORMAT, "model description: column 1: empty, expected a "
                            "model name (%s)", BI_NAMES);
    cn_error e;
    if (cn_builtin_check(&t, &e) != CN_OK)
        return cn_error_set(err, CN_ERR_FORMAT, "model description: %s", e.msg);
    *s = t;
    return CN_OK;
}

/* ---------------------------------------------------------------- building */

/* a linear (or conv2d when k > 0) node with the spec's weight initialiser */
static int bi_affine(cn_model *m, const cn_builtin_spec *s, int x, int out, int k,
                     cn_error *err)
{
    if (x < 0) return -1;
    cn_op_kind op = k > 0 ? CN_OP_CONV2D : CN_OP_LINEAR;
    cn_attrs a = cn_attrs_make(op);
    a.out = out;
    if (k > 0) {
        a.k[0] = a.k[1] = k;
        a.stride[0] = a.stride[1] = 1;
        a.pad[0] = a.pad[1] = k / 2;
    }
    if (s->init_std > 0) {
        cn_init w = cn_init_make(CN_INIT_NORMAL);
        w.mean = 0;
        w.std = s->init_std;
        a.weight_init = w;
    }
    return cn_model_node(m, op, &a, &x, 1, NULL, err);
}

cn_model *cn_builtin_build(const cn_builtin_spec *s, cn_error *err)
{
    if (cn_builtin_check(s, err) != CN_OK) return NULL;
    int k = bi_kind(s->name);
    cn_model *m = cn_model_new(err);
    if (!m) return NULL;
    int x = cn_model_input(m, s->c, s->h, s->w, err);
    if (k == BI_CONVNET) {
        x = bi_affine(m, s, x, s->filters, s->kernel, err);
        if (s->batchnorm) x = cn_model_batchnorm(m, x, err);
        x = cn_model_unary(m, CN_OP_RELU, x, err);
        x = cn_model_maxpool2d(m, x, 2, 2, err);
    }
    x = cn_model_flatten(m, x, err);
    for (int i = 0; i < s->n_hidden; i++) {
        x = bi_affine(m, s, x, s->hidden[i], 0, err);
        if (s->batchnorm && k == BI_MLP) x = cn_model_batchnorm(m, x, err);
        x = cn_model_unary(m, CN_OP_RELU, x, err);
        if (s->dropout > 0) x = cn_model_dropout(m, x, s->dropout, err);
    }
    int logits = bi_affine(m, s, x, s->classes, 0, err);
    int loss = cn_model_unary(m, s->loss == CN_BUILTIN_SVM ? CN_OP_HINGE : CN_OP_CROSS_ENTROPY,
                              logits, err);
    if (loss < 0 || cn_model_set_output(m, logits, err) != CN_OK) {
        cn_model_free(m);
        return NULL;
    }
    return m;
}
