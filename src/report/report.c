/* report.c: cn_report_write: reads the run folder (report_read.c), loads the
 * model and predicts the test set (report_model.c), renders every figure
 * (report_figs.c, report_model.c) to RUN_DIR/report/NN-name.png, and assembles
 * the self-contained RUN_DIR/report.html: inline CSS, the figures as base64
 * data: URIs, a caption under each saying how to read it, the left-out figures
 * with the reason, and config.txt. A tiny inline script (no framework) marks
 * <body data-rendered> with the number of images that decoded, for tests. */
#include "report_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const FIG_FILES[CN_FIG_COUNT] = {
    "01-loss.png",          "02-lr.png",        "03-accuracy.png",
    "04-filters.png",       "05-confusion.png", "06-per-class.png",
    "07-misclassified.png", "08-weight-hist.png", "09-act-hist.png",
    "10-update-ratio.png"};

static const char *const FIG_TITLES[CN_FIG_COUNT] = {
    "Loss",          "Learning rate",    "Accuracy: training and validation",
    "First-layer filters", "Confusion matrix", "Per-class accuracy",
    "Misclassified test images", "Weight histograms", "Activation histograms",
    "Update / weight ratios"};

const char *cn_report_figure_file(cn_report_figure f)
{
    return (int)f >= 0 && f < CN_FIG_COUNT ? FIG_FILES[f] : NULL;
}

void cn_report_opts_default(cn_report_opts *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->max_misclassified = 36;
    o->act_images = 256;
    o->batch = 256;
}

/* ---------------------------------------------------------------- text buffer */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->len + n + 1) cap *= 2;
        char *g = cn_realloc(b->s, cap);
        if (!g) {
            b->failed = 1;
            return;
        }
        b->s = g;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) b->failed = 1;
    else sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* sb_esc: s with HTML's special characters escaped. */
static void sb_esc(sbuf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': sb_puts(b, "&amp;"); break;
        case '<': sb_puts(b, "&lt;"); break;
        case '>': sb_puts(b, "&gt;"); break;
        case '"': sb_puts(b, "&quot;"); break;
        case '\'': sb_puts(b, "&#39;"); break;
        default: sb_add(b, s, 1);
        }
    }
}

static void sb_base64(sbuf *b, const uint8_t *d, size_t n)
{
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16;
        if (i + 1 < n) v |= (uint32_t)d[i + 1] << 8;
        if (i + 2 < n) v |= d[i + 2];
        q[0] = T[(v >> 18) & 63];
        q[1] = T[(v >> 12) & 63];
        q[2] = i + 1 < n ? T[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? T[v & 63] : '=';
        sb_add(b, q, 4);
    }
}

/* ---------------------------------------------------------------- files */

static cn_status write_bytes(const char *path, const void *d, size_t n, cn_error *err)
{
    FILE *f = fopen(path, "wb");
    if (!f) return cn_error_set(err, CN_ERR_IO, "%s: cannot open for writing: %s", path,
                                strerror(errno));
    size_t w = fwrite(d, 1, n, f);
    int e = errno;
    int c = fclose(f);
    if (w != n || c != 0) {
        remove(path);
        return cn_error_set(err, CN_ERR_IO, "%s: byte %zu: write failed: %s", path, w,
                            strerror(w != n ? e : errno));
    }
    return CN_OK;
}

/* ---------------------------------------------------------------- HTML */

static const char CSS[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;"
    "max-width:1140px;padding:16px 24px;color:#222;background:#fafafa}"
    "h1{margin:8px 0 4px}h2{margin:28px 0 8px;border-bottom:1px solid #ddd}"
    ".sub{color:#555;margin:0 0 12px}code,pre{font-family:ui-monospace,monospace}"
    "table.key{border-collapse:collapse;margin:8px 0}"
    "table.key td{padding:3px 14px 3px 0;border-bottom:1px solid #eee}"
    "table.key td:first-child{color:#555}"
    "figure{margin:0;background:#fff;border:1px solid #e2e2e2;padding:8px}"
    "figure img{max-width:100%;height:auto;display:block}"
    "figcaption{color:#333;font-size:14px;line-height:1.45;margin-top:6px}"
    ".missing{color:#8a5a00;background:#fff8e6;border:1px solid #f0d9a0;padding:8px}"
    "pre{background:#fff;border:1px solid #e2e2e2;padding:8px;overflow:auto;font-size:13px}"
    "nav a{margin-right:12px}";

static const char SCRIPT[] =
    "window.addEventListener('load',function(){var im=document.images,n=0;"
    "for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0)n++;}"
    "document.body.setAttribute('data-rendered',String(n));});";

static void html_key_numbers(sbuf *b, const rp_run *r)
{
    int best = -1;
    double secs = 0;
    for (int i = 0; i < r->n_epochs; i++) {
        if (isfinite(r->ep[i].val_acc) && (best < 0 || r->ep[i].val_acc > r->ep[best].val_acc))
            best = i;
        if (isfinite(r->ep[i].seconds)) secs += r->ep[i].seconds;
    }
    const rp_epoch *last = &r->ep[r->n_epochs - 1];
    sb_puts(b, "<table class=\"key\">\n<tr><td>model</td><td><code>");
    sb_esc(b, r->model_desc[0] ? r->model_desc : r->info.spec.name);
    sb_puts(b, "</code></td></tr>\n<tr><td>weights</td><td><code>");
    sb_esc(b, r->model_path);
    sb_printf(b, "</code></td></tr>\n<tr><td>epochs</td><td>%d (last: epoch %lld)</td></tr>\n",
              r->n_epochs, last->epoch);
    sb_printf(b, "<tr><td>steps</td><td>%lld</td></tr>\n", last->step);
    if (best >= 0)
        sb_printf(b, "<tr><td>best validation accuracy</td><td>%.4f (epoch %lld)</td></tr>\n",
                  r->ep[best].val_acc, r->ep[best].epoch);
    else
        sb_puts(b, "<tr><td>best validation accuracy</td><td>none (no validation set)</td>"
                   "</tr>\n");
    if (isfinite(last->train_acc))
        sb_printf(b, "<tr><td>last training accuracy</td><td>%.4f</td></tr>\n", last->train_acc);
    if (isfinite(last->loss))
        sb_printf(b, "<tr><td>last epoch's mean loss</td><td>%.4g</td></tr>\n", last->loss);
    if (r->n_test > 0)
        sb_printf(b, "<tr><td>test accuracy (these weights)</td><td>%.4f on %d images</td></tr>\n",
                  r->test_acc, r->n_test);
    else
        sb_puts(b, "<tr><td>test accuracy</td><td>not measured (no test data given)</td></tr>\n");
    sb_printf(b, "<tr><td>training time</td><td>%.1f s</td></tr>\n</table>\n", secs);
}

static void html_figures(sbuf *b, const rp_fig *figs)
{
    sb_puts(b, "<nav>");
    for (int i = 0; i < CN_FIG_COUNT; i++)
        if (figs[i].written) sb_printf(b, "<a href=\"#fig%02d\">%s</a>", i + 1, FIG_TITLES[i]);
    sb_puts(b, "</nav>\n");
    for (int i = 0; i < CN_FIG_COUNT; i++) {
        const rp_fig *f = &figs[i];
        sb_printf(b, "<h2 id=\"fig%02d\">%d. %s</h2>\n", i + 1, i + 1, FIG_TITLES[i]);
        if (!f->written) {
            sb_puts(b, "<p class=\"missing\">Left out: ");
            sb_esc(b, f->why);
            sb_puts(b, ".</p>\n");
            continue;
        }
        sb_printf(b, "<figure><img alt=\"%s\" width=\"%d\" height=\"%d\" "
                     "src=\"data:image/png;base64,", FIG_TITLES[i], f->w, f->h);
        sb_base64(b, f->png, f->png_len);
        sb_printf(b, "\"><figcaption>%s <small>(report/%s)</small></figcaption></figure>\n",
                  f->caption, FIG_FILES[i]);
    }
}

static cn_status write_html(const rp_run *r, const rp_fig *figs, int written,
                            const char *html_path, cn_error *err)
{
    sbuf b = {0};
    sb_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                "<title>convnet report: ");
    sb_esc(&b, r->dir);
    sb_puts(&b, "</title>\n<style>");
    sb_puts(&b, CSS);
    sb_printf(&b, "</style>\n</head>\n<body data-figures=\"%d\" data-rendered=\"0\">\n", written);
    sb_puts(&b, "<h1>Training report</h1>\n<p class=\"sub\">run folder <code>");
    sb_esc(&b, r->dir);
    sb_printf(&b, "</code>; written by convnet %s</p>\n", CN_VERSION);
    html_key_numbers(&b, r);
    html_figures(&b, figs);
    sb_puts(&b, "<h2>Configuration</h2>\n");
    if (r->config) {
        sb_puts(&b, "<pre>");
        sb_esc(&b, r->config);
        sb_puts(&b, "</pre>\n");
    } else {
        sb_puts(&b, "<p class=\"missing\">config.txt is not in the run folder.</p>\n");
    }
    sb_puts(&b, "<script>");
    sb_puts(&b, SCRIPT);
    sb_puts(&b, "</script>\n</body>\n</html>\n");
    if (b.failed) {
        cn_free(b.s);
        return cn_error_set(err, CN_ERR_NOMEM, "report: out of memory building the HTML");
    }
    char tmp[CN_REPORT_PATH_MAX + 48];
    snprintf(tmp, sizeof tmp, "%s.tmp", html_path);
    cn_status st = write_bytes(tmp, b.s, b.len, err);
    cn_free(b.s);
    if (st != CN_OK) return st;
    if (rename(tmp, html_path) != 0) {
        int e = errno;
        remove(tmp);
        return cn_error_set(err, CN_ERR_IO, "%s: rename from %s failed: %s", html_path, tmp,
                            strerror(e));
    }
    return CN_OK;
}

/* ---------------------------------------------------------------- driver */

static cn_status render(rp_run *r, const cn_report_opts *o, int i, rp_fig *f, cn_error *err)
{
    int need_test = i == CN_FIG_CONFUSION || i == CN_FIG_PER_CLASS || i == CN_FIG_MISCLASSIFIED;
    if (need_test && r->n_test == 0) {
        snprintf(f->why, sizeof f->why, "%s", r->test_raw ? "the test set is empty"
                                                          : "no test data was given");
        return CN_OK;
    }
    switch ((cn_report_figure)i) {
    case CN_FIG_LOSS: return rp_fig_loss(r, f, err);
    case CN_FIG_LR: return rp_fig_lr(r, f, err);
    case CN_FIG_ACCURACY: return rp_fig_accuracy(r, f, err);
    case CN_FIG_FILTERS: return rp_fig_filters(r, f, err);
    case CN_FIG_CONFUSION: return rp_fig_confusion(r, f, err);
    case CN_FIG_PER_CLASS: return rp_fig_per_class(r, f, err);
    case CN_FIG_MISCLASSIFIED: return rp_fig_misclassified(r, o, f, err);
    case CN_FIG_WEIGHT_HIST: return rp_fig_weight_hist(r, f, err);
    case CN_FIG_ACT_HIST: return rp_fig_act_hist(r, o, f, err);
    case CN_FIG_UPDATE_RATIO: return rp_fig_update_ratio(r, f, err);
    default: return cn_error_set(err, CN_ERR_ARG, "report: bad figure %d", i);
    }
}

static void run_free(rp_run *r, rp_fig *figs)
{
    cn_free(r->ep);
    json_decref(r->lines);
    cn_free(r->steps);
    cn_free(r->config);
    cn_model_free(r->m);
    cn_model_info_free(&r->info);
    cn_dataset_free(r->test_norm);
    cn_free(r->pred);
    cn_free(r->conf_p);
    for (int i = 0; figs && i < CN_FIG_COUNT; i++) cn_free(figs[i].png);
    cn_free(figs);
}

static cn_status check_opts(const cn_report_opts *o, cn_error *err)
{
    if (o->max_misclassified < 0 || o->max_misclassified > 256)
        return cn_error_set(err, CN_ERR_ARG, "report: max_misclassified %d outside 0..256",
                            o->max_misclassified);
    if (o->act_images < 1 || o->act_images > 4096)
        return cn_error_set(err, CN_ERR_ARG, "report: act_images %d outside 1..4096",
                            o->act_images);
    if (o->batch < 1 || o->batch > 65536)
        return cn_error_set(err, CN_ERR_ARG, "report: batch %d outside 1..65536", o->batch);
    return CN_OK;
}

cn_status cn_report_write(const char *run_dir, const cn_dataset *test,
                          const cn_report_opts *opts, cn_report_result *res, cn_error *err)
{
    if (res) {
        memset(res, 0, sizeof *res);
        res->test_accuracy = NAN;
    }
    if (!run_dir || !*run_dir) return cn_error_set(err, CN_ERR_ARG, "report: no run folder");
    if (strlen(run_dir) > CN_REPORT_PATH_MAX - 64)
        return cn_error_set(err, CN_ERR_ARG, "report: run folder path too long (%zu bytes)",
                            strlen(run_dir));
    cn_report_opts o;
    if (opts) o = *opts;
    else cn_report_opts_default(&o);
    cn_status st = check_opts(&o, err);
    if (st != CN_OK) return st;
    rp_run r;
    memset(&r, 0, sizeof r);
    r.dir = run_dir;
    r.test_raw = test;
    r.test_acc = NAN;
    rp_fig *figs = cn_calloc(CN_FIG_COUNT, sizeof *figs);
    if (!figs) return cn_error_set(err, CN_ERR_NOMEM, "report: out of memory");
    cn_progress_report(&o.progress, "reading the run folder", 0, CN_FIG_COUNT);
    if ((st = rp_read_metrics(&r, err)) == CN_OK && (st = rp_read_steps(&r, err)) == CN_OK &&
        (st = rp_read_config(&r, err)) == CN_OK && (st = rp_load_model(&r, &o, err)) == CN_OK)
        st = rp_predict(&r, &o, err);
    char dir[CN_REPORT_PATH_MAX], path[CN_REPORT_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/report", run_dir);
    if (st == CN_OK && mkdir(dir, 0777) != 0 && errno != EEXIST)
        st = cn_error_set(err, CN_ERR_IO, "%s: cannot create folder: %s", dir, strerror(errno));
    int written = 0;
    for (int i = 0; st == CN_OK && i < CN_FIG_COUNT; i++) {
        cn_progress_report(&o.progress, "drawing figures", (size_t)i, CN_FIG_COUNT);
        st = render(&r, &o, i, &figs[i], err);
        snprintf(path, sizeof path, "%s/%s", dir, FIG_FILES[i]);
        if (st == CN_OK && figs[i].written) {
            st = write_bytes(path, figs[i].png, figs[i].png_len, err);
            if (res) res->figures[written] = (cn_report_figure)i;
            written++;
        } else if (st == CN_OK) {
            remove(path); /* a stale figure of an earlier report */
        }
    }
    snprintf(path, sizeof path, "%s/report.html", run_dir);
    if (st == CN_OK) st = write_html(&r, figs, written, path, err);
    if (st == CN_OK && res) {
        snprintf(res->html, sizeof res->html, "%.*s", (int)sizeof res->html - 1, path);
        snprintf(res->weights, sizeof res->weights, "%s", r.model_path);
        res->n_figures = written;
        res->test_accuracy = r.test_acc;
        res->test_n = r.n_test;
        res->epochs = r.n_epochs;
        res->steps = r.ep[r.n_epochs - 1].step;
    }
    run_free(&r, figs);
    return st;
}
