/* model_text_print.c: the model text format's writer: any cn_model in the flat
 * form (one statement per node with its non-default and required attributes, then
 * `output`), reals in the shortest form that reads back exactly, independent of
 * the locale. cn_model_parse of the text builds the same model (T15). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "convnet/model_text.h"
#include "model_text_internal.h"

/* sbuf: a growing cn_malloc'd string; ok 0 after an allocation failure */
typedef struct sbuf {
    char *s;
    size_t n, cap;
    int ok;
} sbuf;

static void put(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void put(sbuf *b, const char *fmt, ...)
{
    if (!b->ok) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->ok = 0;
            return;
        }
        if ((size_t)w < b->cap - b->n) {
            b->n += (size_t)w;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)w;
        char *ns = cn_realloc(b->s, cap);
        if (!ns) {
            b->ok = 0;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
}

static void put_real(sbuf *b, double v)
{
    char buf[64];
    cn_mt_format_real(v, buf, sizeof buf);
    put(b, "%s", buf);
}

/* put_key: " key=value" for key K of a (defaults d) when it differs or is required;
 * returns -1 for a non-finite real */
static int put_key(sbuf *b, const cn_mt_key *K, int ki, cn_op_kind op, const cn_attrs *a,
                   const cn_attrs *d)
{
    const char *pa = (const char *)a + K->off, *pd = (const char *)d + K->off;
    const char *kn = cn_mt_key_name(ki, op);
    int req = cn_mt_required(ki, op);
    switch (K->type) {
    case CN_MT_INT: case CN_MT_FLAG: case CN_MT_MODE: case CN_MT_INIT: case CN_MT_GAIN: {
        int v, dv;
        memcpy(&v, pa, sizeof v);
        memcpy(&dv, pd, sizeof dv);
        if (v == dv && !req) return 0;
        if (K->type == CN_MT_MODE)
            put(b, " %s=%s", kn, cn_upsample_mode_name((cn_upsample_mode)v));
        else if (K->type == CN_MT_INIT)
            put(b, " %s=%s", kn, cn_init_name((cn_init_kind)v));
        else if (K->type == CN_MT_GAIN)
            put(b, " %s=%s", kn, cn_gain_name((cn_gain_kind)v));
        else
            put(b, " %s=%d", kn, v);
        return 0;
    }
    case CN_MT_REAL: {
        double v, dv;
        memcpy(&v, pa, sizeof v);
        memcpy(&dv, pd, sizeof dv);
        if ((v == dv && signbit(v) == signbit(dv)) && !req) return 0;
        if (!isfinite(v)) return -1;
        put(b, " %s=", kn);
        put_real(b, v);
        return 0;
    }
    case CN_MT_SHAPE: {
        if (a->ndim == d->ndim && memcmp(a->shape, d->shape, sizeof a->shape) == 0 && !req)
            return 0;
        if (a->ndim == 1) {
            put(b, " %s=%d", kn, a->shape[0]);
        } else {
            put(b, " %s=(", kn);
            for (int j = 0; j < a->ndim; j++) put(b, "%s%d", j ? ", " : "", a->shape[j]);
            put(b, ")");
        }
        return 0;
    }
    case CN_MT_IARR: case CN_MT_RARR: {
        size_t es = K->type == CN_MT_IARR ? sizeof(int) : sizeof(double);
        if (memcmp(pa, pd, es * (size_t)K->n) == 0 && !req) return 0;
        double v[8], dv[8];
        for (int j = 0; j < K->n; j++) {
            if (K->type == CN_MT_IARR) {
                int iv, idv;
                memcpy(&iv, pa + es * (size_t)j, sizeof iv);
                memcpy(&idv, pd + es * (size_t)j, sizeof idv);
                v[j] = iv;
                dv[j] = idv;
            } else {
                memcpy(&v[j], pa + es * (size_t)j, sizeof v[j]);
                memcpy(&dv[j], pd + es * (size_t)j, sizeof dv[j]);
            }
            if (!isfinite(v[j])) return -1;
        }
        int all = 1;
        for (int j = 1; j < K->n; j++) all &= v[j] == v[0];
        int n = K->n;
        while (n > 2 && v[n - 1] == dv[n - 1]) n--;
        put(b, " %s=", kn);
        if (!all) put(b, "(");
        for (int j = 0; j < (all ? 1 : n); j++) {
            if (j) put(b, ", ");
            if (K->type == CN_MT_IARR) put(b, "%d", (int)v[j]);
            else put_real(b, v[j]);
        }
        if (!all) put(b, ")");
        return 0;
    }
    case CN_MT_CW: {
        if (a->n_class_weights == 0) return 0;
        put(b, " %s=(", kn);
        for (int j = 0; j < a->n_class_weights; j++) {
            if (!isfinite((double)a->class_weights[j])) return -1;
            if (j) put(b, ", ");
            put_real(b, (double)a->class_weights[j]);
        }
        put(b, ")");
        return 0;
    }
    }
    return 0;
}

char *cn_model_print(const cn_model *m, cn_error *err)
{
    int nn = cn_model_num_nodes(m);
    if (!m || nn <= 0) {
        cn_error_set(err, CN_ERR_ARG, "model print: %s",
                     m ? "the model has no nodes" : "NULL model");
        return NULL;
    }
    sbuf b = {cn_malloc(4096), 0, 4096, 1};
    if (!b.s) {
        cn_error_set(err, CN_ERR_NOMEM, "model print: out of memory");
        return NULL;
    }
    b.s[0] = 0;
    int nk;
    const cn_mt_key *keys = cn_mt_keys(&nk);
    for (int id = 0; id < nn; id++) {
        cn_op_kind op = cn_model_node_op(m, id);
        const cn_attrs *a = cn_model_node_attrs(m, id);
        cn_attrs d = cn_attrs_make(op);
        int n_in = 0;
        const int *in = cn_model_node_inputs(m, id, &n_in);
        put(&b, "%s = %s", cn_model_node_name(m, id), cn_op_name(op));
        for (int j = 0; j < n_in; j++)
            put(&b, "%s%s", j ? ", " : " ", cn_model_node_name(m, in[j]));
        for (int k = 0; k < nk; k++) {
            if (put_key(&b, &keys[k], k, op, a, &d) != 0) {
                cn_free(b.s);
                cn_error_set(err, CN_ERR_ARG, "model print: node '%s' (%s): attribute '%s' "
                             "is not finite", cn_model_node_name(m, id), cn_op_name(op),
                             keys[k].name);
                return NULL;
            }
        }
        put(&b, "\n");
    }
    int out = cn_model_output(m);
    if (out >= 0) put(&b, "output %s\n", cn_model_node_name(m, out));
    if (!b.ok) {
        cn_free(b.s);
        cn_error_set(err, CN_ERR_NOMEM, "model print: out of memory");
        return NULL;
    }
    return b.s;
}
