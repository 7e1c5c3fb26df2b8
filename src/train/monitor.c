/* monitor.c: the babysitting monitors of a training run (convnet/monitor.h):
 * update-to-weight ratios per parameter, activation and gradient statistics and
 * histograms per node, the dead-ReLU and tanh / sigmoid saturation fractions, the
 * warnings they raise and the course's reading of the train / validation gap.
 * Everything is allocated by cn_monitor_new: observing and stepping allocate
 * nothing. docs/monitor.md explains how to read each number. */
#include "convnet/monitor.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Welford / Chan running moments over the finite values seen. */
typedef struct mon_moments {
    double n, mean, m2;
} mon_moments;

/* One observed node's accumulators (the public cn_layer_stats is kept beside). */
typedef struct mon_layer {
    int node;
    size_t numel;             /* per-sample values */
    mon_moments act, grad;
    int act_ranged, grad_ranged; /* histogram ranges fixed */
    uint64_t grad_values;
    uint64_t saturated;
    uint64_t batches;
    unsigned char *alive;     /* (numel) relu / leaky_relu: position ever > 0; else NULL */
} mon_layer;

/* One monitored parameter. */
typedef struct mon_param {
    int index;                /* into the store's p[] */
    double ratio_sum;
    uint64_t ratio_steps;     /* steps that started from a non-zero weight */
} mon_param;

struct cn_monitor {
    const cn_model *m;
    cn_params *ps;            /* the model's store (borrowed) */
    int batch;                /* the compiled batch */
    int bins;
    int n_layers;
    mon_layer *ml;            /* (n_layers) */
    cn_layer_stats *ls;       /* (n_layers) */
    uint64_t *counts;         /* (n_layers, 2, bins) histogram storage */
    unsigned char *alive;     /* (sum of the ReLU layers' numel) */
    int n_params;
    mon_param *mp;            /* (n_params) */
    cn_param_stats *pst;      /* (n_params) */
    cn_real *before;          /* (ps->count) parameter values before the step */
    int have_before;
};

/* compiled_batch: the batch m was compiled for, or -1 with err set. */
static int compiled_batch(const cn_model *m, cn_error *err)
{
    int b = cn_model_batch(m);
    if (b < 1) {
        cn_error_set(err, CN_ERR_ARG, "monitor: the model is not compiled");
        return -1;
    }
    return b;
}

static int is_relu(cn_op_kind op)
{
    return op == CN_OP_RELU || op == CN_OP_LEAKY_RELU;
}

static int is_saturating(cn_op_kind op)
{
    return op == CN_OP_TANH || op == CN_OP_SIGMOID;
}

cn_monitor *cn_monitor_new(const cn_model *m, int bins, cn_error *err)
{
    if (!m) {
        cn_error_set(err, CN_ERR_ARG, "monitor: NULL model");
        return NULL;
    }
    if (bins < 2) {
        cn_error_set(err, CN_ERR_ARG, "monitor: bins %d: at least 2 required", bins);
        return NULL;
    }
    /* the store is only read here; cn_model_params has no const variant */
    cn_params *ps = cn_model_params((cn_model *)m);
    if (!ps) {
        cn_error_set(err, CN_ERR_ARG, "monitor: the model is not compiled");
        return NULL;
    }
    int batch = compiled_batch(m, err);
    if (batch < 1) return NULL;

    int nn = cn_model_num_nodes(m), n_layers = 0, n_params = 0;
    size_t relu_numel = 0;
    for (int id = 0; id < nn; id++) {
        cn_op_kind op = cn_model_node_op(m, id);
        if (op == CN_OP_INPUT || cn_op_is_loss(op)) continue;
        n_layers++;
        if (is_relu(op)) {
            int ndim, shape[CN_MAX_DIMS];
            if (cn_model_node_shape(m, id, &ndim, shape, err) != CN_OK) return NULL;
            size_t k = 1;
            for (int d = 0; d < ndim; d++) k *= (size_t)shape[d];
            relu_numel += k;
        }
    }
    for (int i = 0; i < ps->n; i++)
        if (ps->p[i].role != CN_PARAM_BUFFER && !ps->p[i].frozen) n_params++;

    cn_monitor *mon = cn_calloc(1, sizeof *mon);
    if (!mon) goto nomem;
    mon->m = m;
    mon->ps = ps;
    mon->batch = batch;
    mon->bins = bins;
    mon->n_layers = n_layers;
    mon->n_params = n_params;
    mon->ml = cn_calloc((size_t)(n_layers ? n_layers : 1), sizeof *mon->ml);
    mon->ls = cn_calloc((size_t)(n_layers ? n_layers : 1), sizeof *mon->ls);
    mon->counts = cn_calloc((size_t)(n_layers ? n_layers : 1) * 2, sizeof(uint64_t) * (size_t)bins);
    mon->alive = cn_calloc(relu_numel ? relu_numel : 1, 1);
    mon->mp = cn_calloc((size_t)(n_params ? n_params : 1), sizeof *mon->mp);
    mon->pst = cn_calloc((size_t)(n_params ? n_params : 1), sizeof *mon->pst);
    mon->before = cn_calloc(ps->count ? ps->count : 1, sizeof(cn_real));
    if (!mon->ml || !mon->ls || !mon->counts || !mon->alive || !mon->mp || !mon->pst ||
        !mon->before)
        goto nomem;

    int l = 0;
    size_t relu_off = 0;
    for (int id = 0; id < nn; id++) {
        cn_op_kind op = cn_model_node_op(m, id);
        if (op == CN_OP_INPUT || cn_op_is_loss(op)) continue;
        int ndim, shape[CN_MAX_DIMS];
        if (cn_model_node_shape(m, id, &ndim, shape, err) != CN_OK) {
            cn_monitor_free(mon);
            return NULL;
        }
        size_t k = 1;
        for (int d = 0; d < ndim; d++) k *= (size_t)shape[d];
        mon->ml[l].node = id;
        mon->ml[l].numel = k;
        if (is_relu(op)) {
            mon->ml[l].alive = mon->alive + relu_off;
            relu_off += k;
        }
        mon->ls[l].node = cn_model_node_name(m, id);
        mon->ls[l].op = op;
        mon->ls[l].act.bins = mon->ls[l].grad.bins = bins;
        mon->ls[l].act.counts = mon->counts + (size_t)l * 2 * (size_t)bins;
        mon->ls[l].grad.counts = mon->ls[l].act.counts + bins;
        l++;
    }
    int q = 0;
    for (int i = 0; i < ps->n; i++) {
        if (ps->p[i].role == CN_PARAM_BUFFER || ps->p[i].frozen) continue;
        mon->mp[q].index = i;
        mon->pst[q].name = ps->p[i].name;
        q++;
    }
    cn_monitor_reset(mon);
    return mon;

nomem:
    cn_monitor_free(mon);
    cn_error_set(err, CN_ERR_NOMEM, "monitor: out of memory");
    return NULL;
}

void cn_monitor_free(cn_monitor *mon)
{
    if (!mon) return;
    cn_free(mon->ml);
    cn_free(mon->ls);
    cn_free(mon->counts);
    cn_free(mon->alive);
    cn_free(mon->mp);
    cn_free(mon->pst);
    cn_free(mon->before);
    cn_free(mon);
}

static void hist_clear(cn_histogram *h)
{
    h->lo = h->hi = NAN;
    h->nonfinite = 0;
    memset(h->counts, 0, sizeof(uint64_t) * (size_t)h->bins);
}

void cn_monitor_reset(cn_monitor *mon)
{
    if (!mon) return;
    for (int l = 0; l < mon->n_layers; l++) {
        mon_layer *ml = &mon->ml[l];
        cn_layer_stats *ls = &mon->ls[l];
        memset(&ml->act, 0, sizeof ml->act);
        memset(&ml->grad, 0, sizeof ml->grad);
        ml->act_ranged = ml->grad_ranged = 0;
        ml->grad_values = ml->saturated = ml->batches = 0;
        if (ml->alive) memset(ml->alive, 0, ml->numel);
        ls->values = 0;
        ls->act_mean = ls->act_std = ls->grad_mean = ls->grad_std = NAN;
        ls->dead_frac = ls->saturated_frac = NAN;
        hist_clear(&ls->act);
        hist_clear(&ls->grad);
    }
    for (int i = 0; i < mon->n_params; i++) {
        mon->mp[i].ratio_sum = 0;
        mon->mp[i].ratio_steps = 0;
        mon->pst[i].ratio = mon->pst[i].weight_norm = mon->pst[i].grad_norm = NAN;
        mon->pst[i].steps = 0;
    }
    mon->have_before = 0;
}

void cn_monitor_before_step(cn_monitor *mon)
{
    if (!mon) return;
    memcpy(mon->before, mon->ps->values, sizeof(cn_real) * mon->ps->count);
    mon->have_before = 1;
}

void cn_monitor_after_step(cn_monitor *mon)
{
    if (!mon || !mon->have_before) return;
    mon->have_before = 0;
    for (int i = 0; i < mon->n_params; i++) {
        const cn_param *p = &mon->ps->p[mon->mp[i].index];
        const cn_real *w0 = mon->before + p->offset; // (numel) before the step
        double dd = 0, w0s = 0, w1s = 0, gs = 0;
        for (size_t k = 0; k < p->numel; k++) {
            double a = (double)w0[k], b = (double)p->value[k];
            dd += (b - a) * (b - a);
            w0s += a * a;
            w1s += b * b;
            if (p->grad) gs += (double)p->grad[k] * (double)p->grad[k];
        }
        cn_param_stats *st = &mon->pst[i];
        if (w0s > 0) { /* a ratio to a zero weight (a bias at its start) means nothing */
            mon->mp[i].ratio_sum += sqrt(dd) / sqrt(w0s);
            mon->mp[i].ratio_steps++;
            st->ratio = mon->mp[i].ratio_sum / (double)mon->mp[i].ratio_steps;
        }
        st->steps++;
        st->weight_norm = sqrt(w1s);
        st->grad_norm = p->grad ? sqrt(gs) : NAN;
    }
}

/* moments_add: fold the finite values of v[0..cnt) into mo (Chan's combination
 * of the batch's own mean and M2). */
static void moments_add(mon_moments *mo, const cn_real *v, size_t cnt)
{
    double nb = 0, sum = 0;
    for (size_t i = 0; i < cnt; i++) {
        double x = (double)v[i];
        if (isfinite(x)) {
            nb += 1;
            sum += x;
        }
    }
    if (nb == 0) return;
    double mb = sum / nb, m2b = 0;
    for (size_t i = 0; i < cnt; i++) {
        double x = (double)v[i];
        if (isfinite(x)) m2b += (x - mb) * (x - mb);
    }
    double n = mo->n + nb, delta = mb - mo->mean;
    mo->mean += delta * nb / n;
    mo->m2 += m2b + delta * delta * mo->n * nb / n;
    mo->n = n;
}

/* hist_add: bin v[0..cnt) into h, fixing its range from these values when
 * *ranged is 0 (and some value is finite). */
static void hist_add(cn_histogram *h, int *ranged, const cn_real *v, size_t cnt)
{
    if (!*ranged) {
        double lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < cnt; i++) {
            double x = (double)v[i];
            if (!isfinite(x)) continue;
            if (x < lo) lo = x;
            if (x > hi) hi = x;
        }
        if (lo <= hi) {
            h->lo = lo;
            h->hi = hi;
            *ranged = 1;
        }
    }
    const double width = h->hi - h->lo;
    const int last = h->bins - 1;
    for (size_t i = 0; i < cnt; i++) {
        double x = (double)v[i];
        if (!isfinite(x)) {
            h->nonfinite++;
            continue;
        }
        int b;
        if (x <= h->lo || !(width > 0)) {
            b = x > h->hi ? last : 0;
        } else {
            double t = (x - h->lo) / width * (double)h->bins;
            b = t >= (double)last ? last : (int)t;
        }
        h->counts[b]++;
    }
}

static double moments_std(const mon_moments *mo)
{
    return mo->n > 0 ? sqrt(fmax(0.0, mo->m2 / mo->n)) : NAN;
}

cn_status cn_monitor_observe(cn_monitor *mon, int n, cn_error *err)
{
    if (!mon) return cn_error_set(err, CN_ERR_ARG, "monitor: observe: NULL monitor");
    if (n < 1 || n > mon->batch)
        return cn_error_set(err, CN_ERR_ARG, "monitor: observe: batch %d outside 1..%d (compiled)",
                            n, mon->batch);
    for (int l = 0; l < mon->n_layers; l++) {
        mon_layer *ml = &mon->ml[l];
        cn_layer_stats *ls = &mon->ls[l];
        const cn_real *y = cn_model_node_value(mon->m, ml->node); // (n, numel)
        const cn_real *dy = cn_model_node_grad(mon->m, ml->node); // (n, numel) or NULL
        if (!y) continue;
        size_t cnt = (size_t)n * ml->numel;
        ml->batches++;
        ls->values += cnt;
        moments_add(&ml->act, y, cnt);
        hist_add(&ls->act, &ml->act_ranged, y, cnt);
        ls->act_mean = ml->act.n > 0 ? ml->act.mean : NAN;
        ls->act_std = moments_std(&ml->act);
        if (ml->alive) {
            for (int s = 0; s < n; s++) {
                const cn_real *ys = y + (size_t)s * ml->numel; // (numel)
                for (size_t k = 0; k < ml->numel; k++)
                    if (!(ys[k] <= 0)) ml->alive[k] = 1;
            }
            size_t dead = 0;
            for (size_t k = 0; k < ml->numel; k++) dead += !ml->alive[k];
            ls->dead_frac = ml->numel ? (double)dead / (double)ml->numel : NAN;
        }
        if (ls->op == CN_OP_TANH || ls->op == CN_OP_SIGMOID) {
            uint64_t sat = 0;
            if (ls->op == CN_OP_TANH) {
                for (size_t i = 0; i < cnt; i++) sat += fabs((double)y[i]) > 0.99;
            } else {
                for (size_t i = 0; i < cnt; i++) sat += y[i] < 0.01 || y[i] > 0.99;
            }
            ml->saturated += sat;
            ls->saturated_frac = ls->values ? (double)ml->saturated / (double)ls->values : NAN;
        }
        if (dy) {
            ml->grad_values += cnt;
            moments_add(&ml->grad, dy, cnt);
            hist_add(&ls->grad, &ml->grad_ranged, dy, cnt);
            ls->grad_mean = ml->grad.n > 0 ? ml->grad.mean : NAN;
            ls->grad_std = moments_std(&ml->grad);
        }
    }
    return CN_OK;
}

int cn_monitor_num_layers(const cn_monitor *mon)
{
    return mon ? mon->n_layers : 0;
}

const cn_layer_stats *cn_monitor_layer(const cn_monitor *mon, int i)
{
    return mon && i >= 0 && i < mon->n_layers ? &mon->ls[i] : NULL;
}

int cn_monitor_num_params(const cn_monitor *mon)
{
    return mon ? mon->n_params : 0;
}

const cn_param_stats *cn_monitor_param(const cn_monitor *mon, int i)
{
    return mon && i >= 0 && i < mon->n_params ? &mon->pst[i] : NULL;
}

/* ---------------------------------------------------------------- JSON */

static json_t *num(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

/* put: o[key] = v (stolen); 1 on failure (v NULL or no memory). */
static int put(json_t *o, const char *key, json_t *v)
{
    return v == NULL || json_object_set_new(o, key, v) != 0;
}

static json_t *hist_json(const cn_histogram *h)
{
    json_t *o = json_object(), *c = json_array();
    int bad = !o || !c;
    for (int b = 0; !bad && b < h->bins; b++)
        bad |= json_array_append_new(c, json_integer((json_int_t)h->counts[b])) != 0;
    if (!bad) {
        bad |= put(o, "lo", num(h->lo));
        bad |= put(o, "hi", num(h->hi));
        bad |= put(o, "counts", c);
        c = NULL;
        bad |= put(o, "nonfinite", json_integer((json_int_t)h->nonfinite));
    }
    json_decref(c);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *cn_monitor_json(const cn_monitor *mon, cn_error *err)
{
    if (!mon) {
        cn_error_set(err, CN_ERR_ARG, "monitor: json: NULL monitor");
        return NULL;
    }
    json_t *root = json_object(), *ratios = json_object(), *layers = json_array();
    int bad = !root || !ratios || !layers;
    for (int i = 0; !bad && i < mon->n_params; i++)
        bad |= put(ratios, mon->pst[i].name, num(mon->pst[i].ratio));
    for (int l = 0; !bad && l < mon->n_layers; l++) {
        const cn_layer_stats *ls = &mon->ls[l];
        json_t *o = json_object();
        if (!o) {
            bad = 1;
            break;
        }
        bad |= put(o, "node", json_string(ls->node));
        bad |= put(o, "op", json_string(cn_op_name(ls->op)));
        bad |= put(o, "act_mean", num(ls->act_mean));
        bad |= put(o, "act_std", num(ls->act_std));
        bad |= put(o, "grad_mean", num(ls->grad_mean));
        bad |= put(o, "grad_std", num(ls->grad_std));
        if (is_relu(ls->op)) bad |= put(o, "dead_frac", num(ls->dead_frac));
        if (is_saturating(ls->op)) bad |= put(o, "saturated_frac", num(ls->saturated_frac));
        bad |= put(o, "act_hist", hist_json(&ls->act));
        bad |= put(o, "grad_hist", hist_json(&ls->grad));
        bad |= json_array_append_new(layers, o) != 0;
    }
    char *out = NULL;
    if (!bad) {
        bad |= put(root, "update_ratio", ratios);
        ratios = NULL;
        bad |= put(root, "layers", layers);
        layers = NULL;
    }
    if (!bad) {
        char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(10));
        if (s) {
            out = cn_strdup(s);
            free(s);
        }
    }
    json_decref(ratios);
    json_decref(layers);
    json_decref(root);
    if (!out) cn_error_set(err, CN_ERR_NOMEM, "monitor: json: out of memory");
    return out;
}

/* ---------------------------------------------------------------- warnings */

/* A bounded line writer: appends while room is left, always NUL-terminated. */
typedef struct mon_buf {
    char *buf;
    size_t cap, len;
    int count;
} mon_buf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void warn(mon_buf *b, const char *fmt, ...)
{
    b->count++;
    if (!b->buf || b->len + 1 >= b->cap) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->buf[b->len] = '\0';
        return;
    }
    b->len += (size_t)k;
    if (b->len >= b->cap) b->len = b->cap - 1; /* truncated */
}

int cn_monitor_warnings(const cn_monitor *mon, char *buf, size_t cap)
{
    mon_buf b = {.buf = cap ? buf : NULL, .cap = cap, .len = 0, .count = 0};
    if (b.buf) buf[0] = '\0';
    if (!mon) return 0;
    for (int i = 0; i < mon->n_params; i++) {
        const cn_param_stats *st = &mon->pst[i];
        const cn_param *p = &mon->ps->p[mon->mp[i].index];
        /* biases and normalisation parameters start at 0 or 1 and move freely:
         * the rule of thumb is about weights */
        if (p->role != CN_PARAM_WEIGHT || st->steps == 0 || isnan(st->ratio)) continue;
        if (st->ratio < CN_MONITOR_RATIO_LO)
            warn(&b,
                 "%s: update/weight ratio %.2g is below 1e-4: the learning rate may be too low\n",
                 st->name, st->ratio);
        else if (st->ratio > CN_MONITOR_RATIO_HI)
            warn(&b,
                 "%s: update/weight ratio %.2g is above 1e-2: the learning rate may be too high\n",
                 st->name, st->ratio);
    }
    for (int l = 0; l < mon->n_layers; l++) {
        const cn_layer_stats *ls = &mon->ls[l];
        if (is_relu(ls->op) && ls->dead_frac > 0.5)
            warn(&b,
                 "%s: %.0f%% of the units are dead (never positive on any sample): the learning "
                 "rate may be too high, or the initialisation or biases are off\n",
                 ls->node, 100.0 * ls->dead_frac);
        if (is_saturating(ls->op) && ls->saturated_frac > 0.5)
            warn(&b,
                 "%s: %.0f%% of the %s outputs are saturated (gradients vanish): the initial "
                 "weights may be too large or the inputs not normalised\n",
                 ls->node, 100.0 * ls->saturated_frac, cn_op_name(ls->op));
        if (ls->act.nonfinite || ls->grad.nonfinite)
            warn(&b,
                 "%s: non-finite values seen (%llu activations, %llu gradients): training is "
                 "diverging; lower the learning rate\n",
                 ls->node, (unsigned long long)ls->act.nonfinite,
                 (unsigned long long)ls->grad.nonfinite);
    }
    return b.count;
}

const char *cn_gap_reading(double train_acc, double val_acc)
{
    if (!isfinite(train_acc) || !isfinite(val_acc)) return "no validation data";
    double gap = train_acc - val_acc;
    if (gap > 0.10)
        return "strong overfitting: increase regularisation (weight decay, dropout), augment or "
               "get more data";
    if (gap > 0.03) return "some overfitting: regularisation may help";
    if (train_acc < 0.95)
        return "no gap: the model may be too small; increase its capacity (wider or deeper)";
    return "small gap: healthy";
}
