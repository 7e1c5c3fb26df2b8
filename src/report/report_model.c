/* report_model.c: the report's figures that need the trained model: loading the
 * chosen model file, predicting the test set (with the file's own
 * normalisation), first-layer filters (or linear templates), the confusion
 * matrix, per-class accuracy, misclassified test images, and per-layer weight
 * and activation histograms. */
#include "report_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RP_BINS 30
#define RP_MAX_PANELS 12

static const cn_rgb WHITE = {255, 255, 255};
static const cn_rgb INK = {40, 40, 40};

static int file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

cn_status rp_load_model(rp_run *r, const cn_report_opts *o, cn_error *err)
{
    char best[CN_REPORT_PATH_MAX], last[CN_REPORT_PATH_MAX];
    int a = snprintf(best, sizeof best, "%s/best.safetensors", r->dir);
    int b = snprintf(last, sizeof last, "%s/model.safetensors", r->dir);
    if (a < 0 || b < 0 || (size_t)a >= sizeof best || (size_t)b >= sizeof last)
        return cn_error_set(err, CN_ERR_ARG, "report: run folder path too long");
    const char *w = o->weights, *path;
    if (!w || strcmp(w, "best") == 0) {
        path = file_exists(best) ? best : last;
        if (!file_exists(path))
            return cn_error_set(err, CN_ERR_IO, "%s: no model file: neither best.safetensors "
                                "nor model.safetensors exists", r->dir);
    } else if (strcmp(w, "last") == 0) {
        path = last;
    } else {
        path = w;
    }
    if (strlen(path) >= sizeof r->model_path)
        return cn_error_set(err, CN_ERR_ARG, "report: model path too long");
    snprintf(r->model_path, sizeof r->model_path, "%s", path);
    if (!file_exists(path))
        return cn_error_set(err, CN_ERR_IO, "%s: no such model file", path);
    r->m = cn_model_file_load(path, o->batch, &r->info, err);
    if (!r->m) return err ? err->code : CN_ERR_FORMAT;
    if (cn_model_file_meta(path, "model", r->model_desc, sizeof r->model_desc, NULL) != CN_OK)
        r->model_desc[0] = '\0';
    return CN_OK;
}

cn_status rp_predict(rp_run *r, const cn_report_opts *o, cn_error *err)
{
    const cn_dataset *t = r->test_raw;
    const cn_builtin_spec *s = &r->info.spec;
    r->test_acc = NAN;
    if (!t) return CN_OK;
    if (t->c != s->c || t->h != s->h || t->w != s->w || t->num_classes != s->classes)
        return cn_error_set(err, CN_ERR_SHAPE, "report: test set has %dx%dx%d images and %d "
                            "classes but %s takes %dx%dx%d images and predicts %d classes",
                            t->c, t->h, t->w, t->num_classes, r->model_path, s->c, s->h, s->w,
                            s->classes);
    if (t->n < 1) return CN_OK;
    int n = t->n, k = s->classes;
    int *idx = cn_malloc((size_t)n * sizeof *idx); // (n)
    cn_real *probs = cn_malloc((size_t)n * (size_t)k * sizeof *probs); // (n, k)
    r->pred = cn_malloc((size_t)n * sizeof *r->pred);
    r->conf_p = cn_malloc((size_t)n * sizeof *r->conf_p);
    cn_status st = CN_OK;
    if (!idx || !probs || !r->pred || !r->conf_p)
        st = cn_error_set(err, CN_ERR_NOMEM, "report: out of memory for %d predictions", n);
    for (int i = 0; st == CN_OK && i < n; i++) idx[i] = i;
    if (st == CN_OK) st = cn_dataset_subset(t, idx, n, &r->test_norm, err);
    if (st == CN_OK) st = cn_norm_apply(&r->info.norm, r->test_norm, err);
    cn_progress_report(&o->progress, "predicting the test set", 0, (size_t)n);
    if (st == CN_OK) st = cn_model_predict(r->m, r->test_norm, probs, err);
    if (st == CN_OK) {
        int right = 0;
        for (int i = 0; i < n; i++) {
            const cn_real *p = probs + (size_t)i * (size_t)k;
            int best = 0;
            for (int j = 1; j < k; j++)
                if (p[j] > p[best]) best = j;
            r->pred[i] = best;
            r->conf_p[i] = p[best];
            right += best == t->labels[i];
        }
        r->n_test = n;
        r->test_acc = (double)right / n;
    }
    cn_free(idx);
    cn_free(probs);
    return st;
}

/* first_weight: the first trainable weight of the model (node order), or NULL. */
static const cn_param *first_weight(rp_run *r)
{
    cn_params *ps = cn_model_params(r->m);
    for (int i = 0; ps && i < ps->n; i++)
        if (ps->p[i].role == CN_PARAM_WEIGHT) return &ps->p[i];
    return NULL;
}

/* to_tiles: count tiles of planes values each, (count, inner, planes) in w, into
 * out (count, oc, planes): oc = 3 keeps three channels as RGB, 1 averages all. */
static void to_tiles(const cn_real *w, int count, int inner, size_t planes, int oc,
                     cn_real *out)
{
    for (int t = 0; t < count; t++) {
        const cn_real *src = w + (size_t)t * (size_t)inner * planes;
        cn_real *dst = out + (size_t)t * (size_t)oc * planes;
        if (oc == 3) {
            memcpy(dst, src, 3 * planes * sizeof *dst);
            continue;
        }
        for (size_t q = 0; q < planes; q++) {
            double sum = 0;
            for (int ch = 0; ch < inner; ch++) sum += (double)src[(size_t)ch * planes + q];
            dst[q] = (cn_real)(sum / inner);
        }
    }
}

cn_status rp_fig_filters(rp_run *r, rp_fig *f, cn_error *err)
{
    const cn_param *p = first_weight(r);
    const cn_builtin_spec *s = &r->info.spec;
    if (!p) {
        snprintf(f->why, sizeof f->why, "the model has no weights");
        return CN_OK;
    }
    cn_op_kind op = cn_model_node_op(r->m, p->node);
    int count, inner, th, tw, linear = 0;
    if (op == CN_OP_CONV2D && p->ndim == 4) {
        count = p->shape[0];
        inner = p->shape[1];
        th = p->shape[2];
        tw = p->shape[3];
    } else if (op == CN_OP_LINEAR && p->ndim == 2 && (s->h > 1 || s->w > 1) &&
               (long long)p->shape[1] == (long long)s->c * s->h * s->w) {
        linear = 1;
        count = p->shape[0];
        inner = s->c;
        th = s->h;
        tw = s->w;
    } else {
        snprintf(f->why, sizeof f->why, "the first layer with weights (%s, %s) is neither a "
                 "2-D convolution nor a linear layer on the image", p->name, cn_op_name(op));
        return CN_OK;
    }
    int n = count > (linear ? 100 : 256) ? (linear ? 100 : 256) : count;
    int oc = inner == 3 ? 3 : 1;
    size_t planes = (size_t)th * (size_t)tw;
    cn_real *img = cn_malloc((size_t)n * (size_t)oc * planes * sizeof *img); // (n, oc, th, tw)
    if (!img) return cn_error_set(err, CN_ERR_NOMEM, "report: out of memory for filters");
    to_tiles(p->value, n, inner, planes, oc, img);
    int up = 48 / (th > tw ? th : tw);
    if (up < 1) up = 1;
    if (up > 12) up = 12;
    int named = linear && count == s->classes;
    int ncols = n < 16 ? n : (th * up > 60 ? 10 : 16), gw, gh, cap = named ? 1 : 0;
    const char *const *caps = named ? (const char *const *)r->info.class_names : NULL;
    cn_canvas c = {0};
    cn_status st = CN_OK;
    if (cn_grid_layout(n, th, tw, ncols, up, cap, 0, &gw, &gh) != 0)
        st = cn_error_set(err, CN_ERR_RANGE, "report: filter grid too large");
    char title[160];
    snprintf(title, sizeof title, "%s: %d of %d %s", p->name, n, count,
             linear ? "weight rows as images" : "filters");
    int tw2 = cn_text_width(title, 2) + 12;
    if (st == CN_OK) st = cn_canvas_init(&c, gw > tw2 ? gw : tw2, gh + 30, WHITE, err);
    if (st == CN_OK) {
        cn_canvas_text(&c, 6, 8, title, 2, INK);
        st = cn_plot_image_grid(&c, 0, 24, img, n, oc, th, tw, ncols, up, cap, 0, caps, 1, err);
    }
    if (st == CN_OK) st = rp_fig_finish(f, &c, err);
    cn_canvas_free(&c);
    cn_free(img);
    snprintf(f->caption, sizeof f->caption,
             "%s, each scaled on its own from its minimum (black) to its maximum (white)%s. "
             "The course's check: well-trained first-layer filters look smooth, clean and "
             "diverse (edges, blobs, colour opponents). Noisy, speckled filters mean the network "
             "was trained too little or with too little regularisation; many near-identical or "
             "blank filters mean dead units or a learning rate that was too high.",
             linear ? "The first linear layer's weight rows reshaped to the input image (the "
                      "course's \"templates\": for a linear classifier, one per class)"
                    : "The first convolution's filters",
             oc == 1 && inner > 1 ? "; input channels averaged" : oc == 3 ? "; RGB" : "");
    return st;
}

cn_status rp_fig_confusion(rp_run *r, rp_fig *f, cn_error *err)
{
    int k = r->info.spec.classes, n = r->n_test;
    double *cnt = cn_calloc((size_t)k * (size_t)k * 2, sizeof *cnt); // (2, k, k)
    if (!cnt) return cn_error_set(err, CN_ERR_NOMEM, "report: out of memory");
    double *frac = cnt + (size_t)k * (size_t)k;
    for (int i = 0; i < n; i++)
        cnt[(size_t)r->test_raw->labels[i] * (size_t)k + (size_t)r->pred[i]] += 1;
    for (int t = 0; t < k; t++) {
        double row = 0;
        for (int q = 0; q < k; q++) row += cnt[(size_t)t * (size_t)k + (size_t)q];
        for (int q = 0; q < k; q++)
            frac[(size_t)t * (size_t)k + (size_t)q] =
                row > 0 ? cnt[(size_t)t * (size_t)k + (size_t)q] / row : NAN;
    }
    int cell = k <= 12 ? 56 : 700 / k > 4 ? 700 / k : 4;
    cn_canvas c = {0};
    cn_status st = cn_canvas_init(&c, 1100, k * cell + 110, WHITE, err);
    if (st == CN_OK) {
        cn_plot_opts o;
        cn_plot_opts_default(&o);
        o.title = "confusion matrix (test set)";
        o.xlabel = "predicted class";
        o.ylabel = "true class";
        st = cn_plot_heatmap(&c, (cn_rect){0, 0, 1100, k * cell + 110}, &o, frac, k, k, 0, 1,
                             (const char *const *)r->info.class_names, NULL, cnt, "%.0f", err);
    }
    if (st == CN_OK) st = rp_fig_finish(f, &c, err);
    cn_canvas_free(&c);
    cn_free(cnt);
    snprintf(f->caption, sizeof f->caption,
             "Rows are the true class, columns the predicted class (by index, in the order of "
             "the row labels); each cell holds the number of test images and its colour is "
             "that count as a fraction of the row. A good classifier has a dark diagonal. Dark "
             "cells off the diagonal are classes the model confuses (for Fashion-MNIST "
             "typically shirt, T-shirt/top, pullover and coat); these are where more data, "
             "augmentation or capacity help most.");
    return st;
}

cn_status rp_fig_per_class(rp_run *r, rp_fig *f, cn_error *err)
{
    int k = r->info.spec.classes, n = r->n_test;
    double *acc = cn_calloc((size_t)k * 2, sizeof *acc); // (2, k): right, total
    if (!acc) return cn_error_set(err, CN_ERR_NOMEM, "report: out of memory");
    for (int i = 0; i < n; i++) {
        int y = r->test_raw->labels[i];
        acc[k + y] += 1;
        acc[y] += r->pred[i] == y;
    }
    for (int j = 0; j < k; j++) acc[j] = acc[k + j] > 0 ? acc[j] / acc[k + j] : NAN;
    int row = k <= 20 ? 28 : 14, h = 90 + k * row;
    if (h > CN_CANVAS_MAX_SIDE) h = CN_CANVAS_MAX_SIDE;
    cn_canvas c = {0};
    cn_status st = cn_canvas_init(&c, 1100, h, WHITE, err);
    if (st == CN_OK) {
        cn_plot_opts o;
        cn_plot_opts_default(&o);
        o.title = "test accuracy per class";
        o.xlabel = "accuracy";
        o.xmin = 0;
        o.xmax = 1;
        st = cn_plot_hbars(&c, (cn_rect){0, 0, 1100, h}, &o,
                           (const char *const *)r->info.class_names, acc, k, "%.3f",
                           cn_plot_palette(0), err);
    }
    if (st == CN_OK) st = rp_fig_finish(f, &c, err);
    cn_canvas_free(&c);
    cn_free(acc);
    snprintf(f->caption, sizeof f->caption,
             "The fraction of each class's test images that the model classifies correctly "
             "(overall test accuracy %.4f on %d images). Classes far below the others are the "
             "hard ones; the confusion matrix shows what they are mistaken for.",
             r->test_acc, n);
    return st;
}

cn_status rp_fig_misclassified(rp_run *r, const cn_report_opts *o, rp_fig *f, cn_error *err)
{
    const cn_dataset *t = r->test_raw;
    int want = o->max_misclassified, n = 0;
    if (want < 1) {
        snprintf(f->why, sizeof f->why, "max_misclassified is 0");
        return CN_OK;
    }
    int *idx = cn_malloc((size_t)want * sizeof *idx); // (want)
    if (!idx) return cn_error_set(err, CN_ERR_NOMEM, "report: out of memory");
    for (int i = 0; i < r->n_test && n < want; i++)
        if (r->pred[i] != t->labels[i]) idx[n++] = i;
    if (n == 0) {
        cn_free(idx);
        snprintf(f->why, sizeof f->why, "every one of the %d test images is classified "
                 "correctly", r->n_test);
        return CN_OK;
    }
    size_t tile = (size_t)t->c * (size_t)t->h * (size_t)t->w;
    int oc = t->c == 3 ? 3 : 1;
    cn_real *img = cn_malloc((size_t)n * (size_t)oc * (size_t)t->h * (size_t)t->w * sizeof *img);
    char *text = cn_malloc((size_t)n * 96); // (n, 96) captions
    const char **caps = cn_malloc((size_t)n * sizeof *caps);
    cn_status st = CN_OK;
    if (!img || !text || !caps) st = cn_error_set(err, CN_ERR_NOMEM, "report: out of memory");
    for (int j = 0; st == CN_OK && j < n; j++) {
        const cn_real *src = t->images->data + (size_t)idx[j] * tile; // (c, h, w)
        to_tiles(src, 1, t->c, (size_t)t->h * (size_t)t->w, oc,
                 img + (size_t)j * (size_t)oc * (size_t)t->h * (size_t)t->w);
        snprintf(text + (size_t)j * 96, 96, "T: %.40s\nP: %.30s %.2f",
                 r->info.class_names[t->labels[idx[j]]], r->info.class_names[r->pred[idx[j]]],
                 (double)r->conf_p[idx[j]]);
        caps[j] = text + (size_t)j * 96;
    }
    int up = 84 / (t->h > t->w ? t->h : t->w);
    if (up < 1) up = 1;
    int gw = 0, gh = 0;
    if (st == CN_OK && cn_grid_layout(n, t->h, t->w, 9, up, 2, 124, &gw, &gh) != 0)
        st = cn_error_set(err, CN_ERR_RANGE, "report: misclassified grid too large");
    cn_canvas c = {0};
    if (st == CN_OK) st = cn_canvas_init(&c, gw, gh + 30, WHITE, err);
    if (st == CN_OK) {
        char title[96];
        snprintf(title, sizeof title, "%d misclassified test images", n);
        cn_canvas_text(&c, 6, 8, title, 2, INK);
        st = cn_plot_image_grid(&c, 0, 24, img, n, oc, t->h, t->w, 9, up, 2, 124, caps, 0, err);
    }
    if (st == CN_OK) st = rp_fig_finish(f, &c, err);
    cn_canvas_free(&c);
    cn_free(idx);
    cn_free(img);
    cn_free(text);
    cn_free(caps);
    snprintf(f->caption, sizeof f->caption,
             "The first %d test images (in test-set order) that the model gets wrong, as raw "
             "pixels: T is the true class, P the predicted class &rarr; with the probability the "
             "model gave it. Confident mistakes (p near 1) on images a person labels easily "
             "suggest the model learned a shortcut; mistakes on ambiguous images, or wrong "
             "labels in the data, are expected.", n);
    return st;
}

/* histogram: bins counts of the finite values of v (n) over their range into
 * counts (bins); *lo, *hi the range (0, 0 when none is finite). */
static void histogram(const cn_real *v, size_t n, int bins, double *lo, double *hi,
                      double *counts)
{
    double a = INFINITY, b = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double x = (double)v[i];
        if (!isfinite(x)) continue;
        if (x < a) a = x;
        if (x > b) b = x;
    }
    if (!(a <= b)) a = b = 0;
    memset(counts, 0, (size_t)bins * sizeof *counts);
    for (size_t i = 0; i < n; i++) {
        double x = (double)v[i];
        if (!isfinite(x)) continue;
        int k = b > a ? (int)((x - a) / (b - a) * bins) : bins / 2;
        counts[k >= bins ? bins - 1 : k < 0 ? 0 : k] += 1;
    }
    *lo = a;
    *hi = b;
}

/* panels: per panel (at most RP_MAX_PANELS) title text, range and counts. */
typedef struct panels {
    char title[RP_MAX_PANELS][96];
    const char *tp[RP_MAX_PANELS];
    double lo[RP_MAX_PANELS], hi[RP_MAX_PANELS];
    double counts[RP_MAX_PANELS * RP_BINS]; /* (n, bins) */
    int n, bins;
} panels;

cn_status rp_fig_weight_hist(rp_run *r, rp_fig *f, cn_error *err)
{
    cn_params *ps = cn_model_params(r->m);
    panels *P = cn_calloc(1, sizeof *P);
    if (!P) return cn_error_set(err, CN_ERR_NOMEM, "report: out of memory");
    int total = 0;
    for (int i = 0; ps && i < ps->n; i++) {
        const cn_param *p = &ps->p[i];
        if (p->role != CN_PARAM_WEIGHT) continue;
        total++;
        if (P->n >= RP_MAX_PANELS) continue;
        int j = P->n++;
        P->bins = RP_BINS;
        histogram(p->value, p->numel, RP_BINS, &P->lo[j], &P->hi[j], P->counts + j * RP_BINS);
        double s = 0, s2 = 0;
        for (size_t q = 0; q < p->numel; q++) {
            s += (double)p->value[q];
            s2 += (double)p->value[q] * (double)p->value[q];
        }
        double m = s / (double)p->numel, sd = sqrt(fmax(0, s2 / (double)p->numel - m * m));
        snprintf(P->title[j], sizeof P->title[j], "%.30s  std %.3g", p->name, sd);
        P->tp[j] = P->title[j];
    }
    cn_status st = CN_OK;
    if (P->n == 0) snprintf(f->why, sizeof f->why, "the model has no weights");
    else st = rp_hist_panels(f, P->n, P->tp, P->lo, P->hi, P->counts, P->bins,
                             cn_plot_palette(4), err);
    snprintf(f->caption, sizeof f->caption,
             "Histograms of the weights of each layer with weights (%d of %d shown; the title "
             "gives the standard deviation). Healthy weights are roughly bell-shaped around 0 "
             "with a spread set by the initialisation (about sqrt(2 / fan-in) for ReLU "
             "networks). All weights near 0 point at too much weight decay or a dead layer; "
             "very wide or lopsided ones at a learning rate that is too high.", P->n, total);
    cn_free(P);
    return st;
}

/* act_from_metrics: the last metrics line's per-layer activation histograms. */
static int act_from_metrics(rp_run *r, panels *P)
{
    json_t *layers = json_object_get(json_array_get(r->lines, (size_t)r->n_epochs - 1), "layers");
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l) {
        json_t *h = json_object_get(l, "act_hist");
        json_t *c = json_object_get(h, "counts");
        double lo = rp_json_num(h, "lo"), hi = rp_json_num(h, "hi");
        if (!json_is_array(c) || json_array_size(c) == 0 || !isfinite(lo) || !isfinite(hi))
            continue;
        int nb = (int)json_array_size(c);
        if (P->n >= RP_MAX_PANELS) break;
        /* the monitor's own bins (the same count for every layer, at most RP_BINS) */
        if (nb > RP_BINS || (P->n > 0 && nb != P->bins)) continue;
        int j = P->n++;
        P->bins = nb;
        for (int b = 0; b < nb; b++) {
            json_t *x = json_array_get(c, (size_t)b);
            P->counts[j * nb + b] = json_is_number(x) ? json_number_value(x) : 0;
        }
        P->lo[j] = lo;
        P->hi[j] = hi;
        const char *node = json_string_value(json_object_get(l, "node"));
        const char *op = json_string_value(json_object_get(l, "op"));
        double dead = rp_json_num(l, "dead_frac");
        char extra[32] = "";
        if (isfinite(dead)) snprintf(extra, sizeof extra, " dead %.0f%%", dead * 100);
        snprintf(P->title[j], sizeof P->title[j], "%.20s (%.12s) std %.3g%s", node ? node : "?",
                 op ? op : "?", rp_json_num(l, "act_std"), extra);
        P->tp[j] = P->title[j];
    }
    return P->n;
}

/* act_from_forward: histograms of every non-input, non-loss node's output over
 * the first test images. */
static cn_status act_from_forward(rp_run *r, const cn_report_opts *o, panels *P, int *used,
                                  cn_error *err)
{
    int n = r->test_norm->n;
    if (n > o->act_images) n = o->act_images;
    if (n > cn_model_batch(r->m)) n = cn_model_batch(r->m);
    *used = n;
    cn_status st = cn_model_forward(r->m, n, r->test_norm->images->data, NULL, CN_EVAL, NULL,
                                    NULL, err);
    if (st != CN_OK) return st;
    int nn = cn_model_num_nodes(r->m);
    for (int id = 0; id < nn && P->n < RP_MAX_PANELS; id++) {
        int nd, shape[CN_MAX_DIMS];
        cn_op_kind op = cn_model_node_op(r->m, id);
        if (op == CN_OP_INPUT || cn_model_node_shape(r->m, id, &nd, shape, NULL) != CN_OK ||
            nd == 0)
            continue;
        const cn_real *v = cn_model_node_value(r->m, id);
        if (!v) continue;
        size_t per = 1;
        for (int d = 0; d < nd; d++) per *= (size_t)shape[d];
        int j = P->n++;
        P->bins = RP_BINS;
        histogram(v, per * (size_t)n, RP_BINS, &P->lo[j], &P->hi[j], P->counts + j * RP_BINS);
        double zero = 0;
        for (size_t q = 0; q < per * (size_t)n; q++) zero += v[q] == 0;
        snprintf(P->title[j], sizeof P->title[j], "%.20s (%.12s) zeros %.0f%%",
                 cn_model_node_name(r->m, id), cn_op_name(op), 100 * zero / (double)(per * n));
        P->tp[j] = P->title[j];
    }
    return CN_OK;
}

cn_status rp_fig_act_hist(rp_run *r, const cn_report_opts *o, rp_fig *f, cn_error *err)
{
    panels *P = cn_calloc(1, sizeof *P);
    if (!P) return cn_error_set(err, CN_ERR_NOMEM, "report: out of memory");
    cn_status st = CN_OK;
    int used = 0, from_metrics = act_from_metrics(r, P) > 0;
    if (!from_metrics && r->test_norm && r->test_norm->n > 0)
        st = act_from_forward(r, o, P, &used, err);
    if (st == CN_OK && P->n == 0)
        snprintf(f->why, sizeof f->why, "metrics.jsonl has no per-layer statistics (train with "
                 "--monitor 1) and no test data was given to compute them");
    else if (st == CN_OK)
        st = rp_hist_panels(f, P->n, P->tp, P->lo, P->hi, P->counts, P->bins,
                            cn_plot_palette(2), err);
    char src[160];
    if (from_metrics)
        snprintf(src, sizeof src, "from the monitor's statistics of the last epoch in "
                 "metrics.jsonl");
    else
        snprintf(src, sizeof src, "computed by a forward pass of the first %d test images in "
                 "evaluation mode", used);
    snprintf(f->caption, sizeof f->caption,
             "Histograms of each layer's outputs (activations), %s (up to %d layers). Look "
             "for the course's warning signs: tanh or sigmoid outputs piled at +-1 or 0/1 are "
             "saturated and pass almost no gradient; ReLU outputs that are nearly all zero are "
             "dead units; activations that shrink towards 0 layer after layer (or blow up) "
             "mean the initialisation scale is wrong, which batch normalisation fixes.",
             src, RP_MAX_PANELS);
    cn_free(P);
    return st;
}
