/* report_figs.c: the report's figures drawn from the training logs: loss
 * (linear and log10) and learning rate per step (per epoch without steps.csv),
 * train / validation accuracy per epoch with the final gap annotated, and the
 * update/weight ratio of every weight per epoch against the 1e-3 rule of thumb;
 * plus the shared helpers that encode a canvas and lay out histogram panels. */
#include "report_internal.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const cn_rgb WHITE = {255, 255, 255};
static const cn_rgb INK = {40, 40, 40};

cn_status rp_fig_finish(rp_fig *f, cn_canvas *c, cn_error *err)
{
    cn_status st = cn_canvas_png(c, &f->png, &f->png_len, err);
    f->w = c->w;
    f->h = c->h;
    cn_canvas_free(c);
    if (st == CN_OK) f->written = 1;
    return st;
}

/* smooth: the trailing moving average of y (n) over win points (non-finite
 * points skipped) into out (n). */
static void smooth(const double *y, int n, int win, double *out)
{
    double sum = 0;
    int cnt = 0;
    for (int i = 0; i < n; i++) {
        if (isfinite(y[i])) {
            sum += y[i];
            cnt++;
        }
        if (i >= win && isfinite(y[i - win])) {
            sum -= y[i - win];
            cnt--;
        }
        out[i] = cnt > 0 ? sum / cnt : NAN;
    }
}

/* curve: x and y of the loss or lr (col 2 or 3 of steps.csv), per step when the
 * run has steps.csv, else per epoch from metrics.jsonl (x = the epoch's last
 * step). *x, *y are cn_malloc'd (n). */
static cn_status curve(const rp_run *r, int col, double **x, double **y, int *n, cn_error *err)
{
    int per_step = r->n_steps > 0;
    *n = per_step ? r->n_steps : r->n_epochs;
    *x = cn_malloc((size_t)(*n > 0 ? *n : 1) * sizeof **x);
    *y = cn_malloc((size_t)(*n > 0 ? *n : 1) * sizeof **y);
    if (!*x || !*y) {
        cn_free(*x);
        cn_free(*y);
        *x = *y = NULL;
        return cn_error_set(err, CN_ERR_NOMEM, "report: out of memory");
    }
    for (int i = 0; i < *n; i++) {
        if (per_step) {
            (*x)[i] = r->steps[i];
            (*y)[i] = r->steps[(size_t)col * (size_t)r->n_steps + (size_t)i];
        } else {
            (*x)[i] = (double)r->ep[i].step;
            (*y)[i] = col == 2 ? r->ep[i].loss : r->ep[i].lr;
        }
    }
    return CN_OK;
}

cn_status rp_fig_loss(rp_run *r, rp_fig *f, cn_error *err)
{
    double *x, *y, *sm = NULL;
    int n;
    cn_status st = curve(r, 2, &x, &y, &n, err);
    if (st != CN_OK) return st;
    sm = cn_malloc((size_t)(n > 0 ? n : 1) * sizeof *sm);
    cn_canvas c = {0};
    if (!sm) st = cn_error_set(err, CN_ERR_NOMEM, "report: out of memory");
    if (st == CN_OK) st = cn_canvas_init(&c, 1100, 380, WHITE, err);
    if (st == CN_OK) {
        int win = n / 50 > 1 ? n / 50 : 1;
        smooth(y, n, win, sm);
        cn_series s[2] = {{r->n_steps ? "loss per step" : "mean loss per epoch", x, y, n,
                           cn_plot_palette(0), n <= 60, 0},
                          {"moving average", x, sm, n, cn_plot_palette(3), 0, 0}};
        if (r->n_steps == 0 || win == 1) s[0].color = cn_plot_palette(0);
        else s[0].color = (cn_rgb){170, 200, 230};
        int ns = r->n_steps > 0 && win > 1 ? 2 : 1;
        cn_plot_opts o;
        cn_plot_opts_default(&o);
        o.title = "loss";
        o.xlabel = "step";
        o.ylabel = "loss";
        st = cn_plot_lines(&c, (cn_rect){0, 0, 550, 380}, &o, s, ns, NULL, err);
        o.title = "loss (log10 scale)";
        o.ylog = 1;
        if (st == CN_OK) st = cn_plot_lines(&c, (cn_rect){550, 0, 550, 380}, &o, s, ns, NULL, err);
    }
    if (st == CN_OK) st = rp_fig_finish(f, &c, err);
    cn_canvas_free(&c);
    cn_free(x);
    cn_free(y);
    cn_free(sm);
    snprintf(f->caption, sizeof f->caption,
             "Training loss %s, on a linear scale (left) and a log scale (right)%s. "
             "Read it as the course does: a fast drop then a slow, steady decline is a good "
             "learning rate; a loss that explodes or turns NaN means the learning rate is too "
             "high; a nearly flat line early on means it is too low or the initialisation is "
             "bad; a plateau then a sudden drop is a bad initialisation. The log scale shows "
             "the slow late decline. Noise from step to step comes from the batch size: a "
             "wide band means small batches.",
             r->n_steps ? "per step (from steps.csv)"
                        : "averaged per epoch (steps.csv is missing, so one point per epoch from "
                          "metrics.jsonl)",
             r->n_steps / 50 > 1 ? ", with a moving average in red" : "");
    return st;
}

cn_status rp_fig_lr(rp_run *r, rp_fig *f, cn_error *err)
{
    double *x, *y;
    int n;
    cn_status st = curve(r, 3, &x, &y, &n, err);
    if (st != CN_OK) return st;
    cn_canvas c = {0};
    st = cn_canvas_init(&c, 1100, 320, WHITE, err);
    if (st == CN_OK) {
        cn_series s = {NULL, x, y, n, cn_plot_palette(2), n <= 60, 0};
        cn_plot_opts o;
        cn_plot_opts_default(&o);
        o.title = "learning rate";
        o.xlabel = "step";
        o.ylabel = "learning rate";
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < n; i++)
            if (isfinite(y[i]) && y[i] > 0) {
                if (y[i] < lo) lo = y[i];
                if (y[i] > hi) hi = y[i];
            }
        o.ylog = lo < hi && hi / lo > 20; /* decays over decades: log scale */
        st = cn_plot_lines(&c, (cn_rect){0, 0, 1100, 320}, &o, &s, 1, NULL, err);
    }
    if (st == CN_OK) st = rp_fig_finish(f, &c, err);
    cn_canvas_free(&c);
    cn_free(x);
    cn_free(y);
    snprintf(f->caption, sizeof f->caption,
             "Learning rate %s, as the schedule set it (log scale when it spans more than a "
             "factor of 20). Step decay shows as stairs, cosine as a smooth curve, warm-up as a "
             "ramp at the start. Compare with the loss: drops in the loss right after a "
             "learning-rate step mean the schedule helped.",
             r->n_steps ? "per step" : "per epoch (steps.csv is missing)");
    return st;
}

cn_status rp_fig_accuracy(rp_run *r, rp_fig *f, cn_error *err)
{
    int n = r->n_epochs;
    double *x = cn_malloc((size_t)n * 3 * sizeof *x); // (3, n): epoch, train, val
    if (!x) return cn_error_set(err, CN_ERR_NOMEM, "report: out of memory");
    double *tr = x + n, *va = x + 2 * n;
    int last = -1;
    for (int i = 0; i < n; i++) {
        x[i] = (double)r->ep[i].epoch;
        tr[i] = r->ep[i].train_acc;
        va[i] = r->ep[i].val_acc;
        if (isfinite(tr[i]) && isfinite(va[i])) last = i;
    }
    cn_canvas c = {0};
    cn_status st = cn_canvas_init(&c, 1100, 380, WHITE, err);
    double gap = last >= 0 ? tr[last] - va[last] : NAN;
    if (st == CN_OK) {
        cn_series s[2] = {{"train", x, tr, n, cn_plot_palette(0), 1, 0},
                          {"validation", x, va, n, cn_plot_palette(1), 1, 0}};
        cn_plot_opts o;
        cn_plot_opts_default(&o);
        o.title = "accuracy per epoch";
        o.xlabel = "epoch";
        o.ylabel = "accuracy";
        if (n == 1) {
            o.xmin = x[0] - 1;
            o.xmax = x[0] + 1;
        }
        cn_axes a;
        st = cn_plot_lines(&c, (cn_rect){0, 0, 1100, 380}, &o, s, 2, &a, err);
        if (st == CN_OK && last >= 0) {
            int px = cn_axes_px(&a, x[last]), p0 = cn_axes_py(&a, tr[last]);
            int p1 = cn_axes_py(&a, va[last]);
            if (px != INT_MIN && p0 != INT_MIN && p1 != INT_MIN) {
                cn_rgb red = cn_plot_palette(3);
                cn_canvas_line(&c, px - 8, p0, px - 8, p1, 0, red);
                cn_canvas_line(&c, px - 11, p0, px - 5, p0, 0, red);
                cn_canvas_line(&c, px - 11, p1, px - 5, p1, 0, red);
                char lab[64];
                snprintf(lab, sizeof lab, "gap %+.3f", gap);
                int wd = cn_text_width(lab, 1);
                cn_canvas_text(&c, px - 14 - wd, (p0 + p1) / 2 - 3, lab, 1, red);
            }
        }
    }
    if (st == CN_OK) st = rp_fig_finish(f, &c, err);
    cn_canvas_free(&c);
    cn_free(x);
    char g[64] = "no epoch has both accuracies";
    if (isfinite(gap)) snprintf(g, sizeof g, "%.4f at epoch %lld", gap, r->ep[last].epoch);
    snprintf(f->caption, sizeof f->caption,
             "Training accuracy (blue; measured on the training batches while the weights "
             "changed) and validation accuracy (orange) per epoch. The gap (train minus "
             "validation, red bracket) is %s. A gap that widens over the epochs is "
             "overfitting: add regularisation (weight decay, dropout, augmentation) or more "
             "data. Little or no gap while both are low is underfitting: the model is too "
             "small or trained too little, so increase its capacity.", g);
    return st;
}

cn_status rp_fig_update_ratio(rp_run *r, rp_fig *f, cn_error *err)
{
    json_t *first = json_object_get(json_array_get(r->lines, 0), "update_ratio");
    const char *names[10];
    int k = 0;
    const char *key;
    json_t *val;
    /* weights first (their ratio is the one the rule of thumb is about), then others */
    for (int pass = 0; pass < 2; pass++)
        json_object_foreach(first, key, val) {
            int is_w = strstr(key, "weight") != NULL;
            if ((pass == 0) != is_w || k >= 10) continue;
            names[k++] = key;
        }
    (void)val;
    if (k == 0) {
        snprintf(f->why, sizeof f->why, "metrics.jsonl has no update_ratio entries");
        return CN_OK;
    }
    int n = r->n_epochs;
    double *buf = cn_malloc((size_t)n * (size_t)(k + 2) * sizeof *buf); // (k + 2, n)
    if (!buf) return cn_error_set(err, CN_ERR_NOMEM, "report: out of memory");
    double *x = buf, *ref = buf + n;
    cn_series s[11];
    for (int i = 0; i < n; i++) {
        x[i] = (double)r->ep[i].epoch;
        ref[i] = 1e-3;
    }
    for (int j = 0; j < k; j++) {
        double *y = buf + (size_t)(j + 2) * (size_t)n;
        for (int i = 0; i < n; i++)
            y[i] = rp_json_num(json_object_get(json_array_get(r->lines, (size_t)i),
                                               "update_ratio"), names[j]);
        s[j] = (cn_series){names[j], x, y, n, cn_plot_palette(j), 1, 0};
    }
    s[k] = (cn_series){"1e-3 (healthy)", x, ref, n, INK, 0, 4};
    cn_canvas c = {0};
    cn_status st = cn_canvas_init(&c, 1100, 420, WHITE, err);
    if (st == CN_OK) {
        cn_plot_opts o;
        cn_plot_opts_default(&o);
        o.title = "update / weight ratio per epoch";
        o.xlabel = "epoch";
        o.ylabel = "|lr * update| / |w|";
        o.ylog = 1;
        if (n == 1) {
            o.xmin = x[0] - 1;
            o.xmax = x[0] + 1;
        }
        st = cn_plot_lines(&c, (cn_rect){0, 0, 1100, 420}, &o, s, k + 1, NULL, err);
    }
    if (st == CN_OK) st = rp_fig_finish(f, &c, err);
    cn_canvas_free(&c);
    cn_free(buf);
    snprintf(f->caption, sizeof f->caption,
             "The ratio of the size of each parameter update to the size of the parameter "
             "(norms, last step of each epoch; log scale), for up to 10 parameters, weights "
             "first. The course's rule of thumb: about 1e-3 (dashed line) is healthy. Far "
             "below (1e-5) the learning rate is probably too low and the layer barely "
             "learns; far above (1e-2 and up) it is probably too high. Biases often sit "
             "higher than weights; that is normal.");
    return st;
}

cn_status rp_hist_panels(rp_fig *f, int n, const char *const *titles, const double *lo,
                         const double *hi, const double *counts, int bins, cn_rgb color,
                         cn_error *err)
{
    const int pw = 366, ph = 230, cols = n < 3 ? n : 3;
    int rows = (n + cols - 1) / cols;
    cn_canvas c = {0};
    cn_status st = cn_canvas_init(&c, 1100, rows * ph, WHITE, err);
    for (int i = 0; st == CN_OK && i < n; i++) {
        cn_plot_opts o;
        cn_plot_opts_default(&o);
        char t[64];
        snprintf(t, sizeof t, "%.44s", titles[i]);
        cn_rect r = {(i % cols) * pw, (i / cols) * ph, pw, ph};
        /* titles drawn at scale 1 to fit three panels across */
        cn_canvas_text(&c, r.x + 40, r.y + 6, t, 1, INK);
        o.title = NULL;
        r.y += 12;
        r.h -= 12;
        st = cn_plot_histogram(&c, r, &o, lo[i], hi[i], counts + (size_t)i * (size_t)bins, bins,
                               color, err);
    }
    if (st == CN_OK) st = rp_fig_finish(f, &c, err);
    cn_canvas_free(&c);
    return st;
}
