/* plot.c: the canvas of convnet/plot.h (allocation, clipped pixels, Bresenham
 * lines, rectangles, PNG output through the library's encoder in src/io/png.c),
 * the colours, "nice" tick values on linear and log10 scales, and the chart frame
 * (title, grid, ticks, labels) that every chart in plot_charts.c draws into. */
#include "convnet/plot.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/io.h"

static const cn_rgb INK = {40, 40, 40};
static const cn_rgb GRID = {225, 225, 225};
static const cn_rgb FRAME = {120, 120, 120};

cn_status cn_canvas_init(cn_canvas *c, int w, int h, cn_rgb bg, cn_error *err)
{
    if (!c) return cn_error_set(err, CN_ERR_ARG, "canvas: NULL canvas");
    memset(c, 0, sizeof *c);
    if (w < 1 || h < 1 || w > CN_CANVAS_MAX_SIDE || h > CN_CANVAS_MAX_SIDE)
        return cn_error_set(err, CN_ERR_ARG, "canvas: size %d x %d outside 1..%d a side", w, h,
                            CN_CANVAS_MAX_SIDE);
    size_t n = (size_t)w * (size_t)h;
    c->px = cn_malloc(n * 3); // (h, w, 3)
    if (!c->px)
        return cn_error_set(err, CN_ERR_NOMEM, "canvas: out of memory for %d x %d pixels", w, h);
    c->w = w;
    c->h = h;
    for (size_t i = 0; i < n; i++) {
        c->px[3 * i] = bg.r;
        c->px[3 * i + 1] = bg.g;
        c->px[3 * i + 2] = bg.b;
    }
    return CN_OK;
}

void cn_canvas_free(cn_canvas *c)
{
    if (!c) return;
    cn_free(c->px);
    memset(c, 0, sizeof *c);
}

void cn_canvas_pixel(cn_canvas *c, int x, int y, cn_rgb col)
{
    if (!c || !c->px || x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    uint8_t *p = c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    p[0] = col.r;
    p[1] = col.g;
    p[2] = col.b;
}

cn_rgb cn_canvas_get(const cn_canvas *c, int x, int y)
{
    cn_rgb k = {0, 0, 0};
    if (!c || !c->px || x < 0 || y < 0 || x >= c->w || y >= c->h) return k;
    const uint8_t *p = c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    k.r = p[0];
    k.g = p[1];
    k.b = p[2];
    return k;
}

void cn_canvas_line(cn_canvas *c, int x0, int y0, int x1, int y1, int dash, cn_rgb col)
{
    if (!c) return;
    /* far-away ends (a log axis mapping a tiny value) are clamped first so the
     * loop stays bounded; the visible part keeps its direction closely enough */
    const int lim = 4 * CN_CANVAS_MAX_SIDE;
    if (abs(x0) > lim || abs(y0) > lim || abs(x1) > lim || abs(y1) > lim) {
        if (x0 < -lim) x0 = -lim;
        if (x0 > lim) x0 = lim;
        if (x1 < -lim) x1 = -lim;
        if (x1 > lim) x1 = lim;
        if (y0 < -lim) y0 = -lim;
        if (y0 > lim) y0 = lim;
        if (y1 < -lim) y1 = -lim;
        if (y1 > lim) y1 = lim;
    }
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int e = dx + dy, k = 0;
    for (;;) {
        if (dash <= 0 || (k / dash) % 2 == 0) cn_canvas_pixel(c, x0, y0, col);
        k++;
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

void cn_canvas_fill(cn_canvas *c, cn_rect r, cn_rgb col)
{
    if (!c || !c->px) return;
    int x0 = r.x < 0 ? 0 : r.x, y0 = r.y < 0 ? 0 : r.y;
    long long xe = (long long)r.x + r.w, ye = (long long)r.y + r.h;
    int x1 = xe > c->w ? c->w : (int)xe, y1 = ye > c->h ? c->h : (int)ye;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) cn_canvas_pixel(c, x, y, col);
}

void cn_canvas_frame(cn_canvas *c, cn_rect r, cn_rgb col)
{
    if (r.w < 1 || r.h < 1) return;
    int x1 = r.x + r.w - 1, y1 = r.y + r.h - 1;
    cn_canvas_line(c, r.x, r.y, x1, r.y, 0, col);
    cn_canvas_line(c, r.x, y1, x1, y1, 0, col);
    cn_canvas_line(c, r.x, r.y, r.x, y1, 0, col);
    cn_canvas_line(c, x1, r.y, x1, y1, 0, col);
}

cn_status cn_canvas_png(const cn_canvas *c, uint8_t **out, size_t *len, cn_error *err)
{
    if (!c || !c->px) return cn_error_set(err, CN_ERR_ARG, "canvas png: NULL canvas");
    return cn_png_encode(c->px, c->w, c->h, 3, out, len, err);
}

cn_status cn_canvas_write_png(const cn_canvas *c, const char *path, cn_error *err)
{
    if (!path) return cn_error_set(err, CN_ERR_ARG, "canvas png: NULL path");
    uint8_t *buf = NULL;
    size_t len = 0;
    cn_status st = cn_canvas_png(c, &buf, &len, err);
    if (st != CN_OK) return cn_error_prefix(err, "%s: ", path);
    FILE *f = fopen(path, "wb");
    if (!f) {
        int e = errno;
        cn_free(buf);
        return cn_error_set(err, CN_ERR_IO, "%s: cannot open for writing: %s", path,
                            strerror(e));
    }
    size_t wrote = fwrite(buf, 1, len, f);
    int e = errno;
    cn_free(buf);
    int closed = fclose(f);
    if (wrote != len || closed != 0) {
        remove(path);
        return cn_error_set(err, CN_ERR_IO, "%s: byte %zu: write failed: %s", path, wrote,
                            strerror(wrote != len ? e : errno));
    }
    return CN_OK;
}

cn_rgb cn_plot_palette(int i)
{
    static const cn_rgb P[10] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                 {214, 39, 40},  {148, 103, 189}, {140, 86, 75},
                                 {227, 119, 194}, {127, 127, 127}, {188, 189, 34},
                                 {23, 190, 207}};
    if (i < 0) i = -i;
    return P[i % 10];
}

cn_rgb cn_plot_colormap(double t)
{
    cn_rgb k = {200, 200, 200};
    if (isnan(t)) return k;
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    /* white (247, 251, 255) -> light blue (107, 174, 214) -> dark blue (8, 48, 107) */
    double a[3] = {247, 251, 255}, m[3] = {107, 174, 214}, b[3] = {8, 48, 107}, o[3];
    for (int j = 0; j < 3; j++)
        o[j] = t < 0.5 ? a[j] + (m[j] - a[j]) * (t / 0.5)
                       : m[j] + (b[j] - m[j]) * ((t - 0.5) / 0.5);
    k.r = (uint8_t)lrint(o[0]);
    k.g = (uint8_t)lrint(o[1]);
    k.b = (uint8_t)lrint(o[2]);
    return k;
}

/* nice_step: the smallest 1, 2 or 5 times a power of ten at least raw. */
static double nice_step(double raw)
{
    double p = pow(10.0, floor(log10(raw)));
    double f = raw / p;
    double m = f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0;
    return m * p;
}

int cn_plot_ticks(double lo, double hi, int log10_scale, int max_ticks, double *ticks)
{
    if (!ticks || !isfinite(lo) || !isfinite(hi) || !(hi > lo)) return 0;
    if (max_ticks < 2) max_ticks = 2;
    if (max_ticks > 32) max_ticks = 32;
    int n = 0;
    if (!log10_scale) {
        double step = nice_step((hi - lo) / (max_ticks - 1));
        if (!(step > 0) || !isfinite(step)) return 0;
        double first = ceil(lo / step - 1e-9);
        for (int k = 0; n < max_ticks; k++) {
            double v = (first + k) * step;
            if (v > hi + step * 1e-9) break;
            ticks[n++] = fabs(v) < step * 1e-9 ? 0.0 : v;
        }
        return n;
    }
    if (!(lo > 0)) return 0;
    double d0 = floor(log10(lo) + 1e-9), d1 = ceil(log10(hi) - 1e-9);
    if (d1 - d0 >= 2) {
        int every = (int)ceil((d1 - d0 + 1) / max_ticks);
        if (every < 1) every = 1;
        for (double d = d0; d <= d1 && n < max_ticks; d += every) {
            double v = pow(10.0, d);
            if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks[n++] = v;
        }
        if (n >= 3) return n;
        n = 0;
    }
    static const double M[3] = {1, 2, 5};
    for (double d = d0; d <= d1 && n < max_ticks; d++)
        for (int j = 0; j < 3 && n < max_ticks; j++) {
            double v = M[j] * pow(10.0, d);
            if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks[n++] = v;
        }
    if (n >= 3) return n;
    /* a narrow range (under a factor of ~5): linear nice ticks, all positive */
    n = cn_plot_ticks(lo, hi, 0, max_ticks, ticks);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (ticks[i] > 0) ticks[k++] = ticks[i];
    return k;
}

void cn_plot_tick_label(double v, char *buf, size_t cap)
{
    if (!buf || cap == 0) return;
    double a = fabs(v);
    if (!isfinite(v)) snprintf(buf, cap, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
    else if (a == 0) snprintf(buf, cap, "0");
    else if (a >= 1e5 || a < 1e-3) {
        int e = (int)floor(log10(a) + 1e-9);
        double m = v / pow(10.0, e);
        if (fabs(m - lrint(m)) < 1e-6) snprintf(buf, cap, "%.0fe%d", m, e);
        else snprintf(buf, cap, "%.1fe%d", m, e);
    } else if (a >= 1e4 && fmod(a, 1000.0) == 0) snprintf(buf, cap, "%.0fk", v / 1000.0);
    else snprintf(buf, cap, "%.4g", v);
}

void cn_plot_opts_default(cn_plot_opts *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->xmin = o->xmax = o->ymin = o->ymax = NAN;
    o->legend = 1;
}

/* map: t of data v along [lo, hi] (log10 when lg), NaN when unmappable. */
static double map01(double v, double lo, double hi, int lg)
{
    if (!isfinite(v)) return NAN;
    if (lg) {
        if (!(v > 0)) return NAN;
        return (log10(v) - log10(lo)) / (log10(hi) - log10(lo));
    }
    return (v - lo) / (hi - lo);
}

int cn_axes_px(const cn_axes *a, double x)
{
    double t = map01(x, a->xlo, a->xhi, a->xlog);
    if (isnan(t) || fabs(t) > 1e6) return INT_MIN;
    return a->area.x + (int)lrint(t * (a->area.w - 1));
}

int cn_axes_py(const cn_axes *a, double y)
{
    double t = map01(y, a->ylo, a->yhi, a->ylog);
    if (isnan(t) || fabs(t) > 1e6) return INT_MIN;
    return a->area.y + a->area.h - 1 - (int)lrint(t * (a->area.h - 1));
}

/* range_ok: finite, increasing and positive on a log axis. */
static int range_ok(double lo, double hi, int lg)
{
    return isfinite(lo) && isfinite(hi) && hi > lo && (!lg || lo > 0);
}

cn_status cn_plot_axes(cn_canvas *c, cn_rect r, const cn_plot_opts *o, cn_axes *out,
                       cn_error *err)
{
    if (!c || !c->px || !o) return cn_error_set(err, CN_ERR_ARG, "plot axes: NULL argument");
    if (!range_ok(o->xmin, o->xmax, o->xlog) || !range_ok(o->ymin, o->ymax, o->ylog))
        return cn_error_set(err, CN_ERR_ARG,
                            "plot axes: bad range x %g..%g%s, y %g..%g%s (need finite, "
                            "min < max, > 0 on log axes)", o->xmin, o->xmax,
                            o->xlog ? " (log)" : "", o->ymin, o->ymax, o->ylog ? " (log)" : "");
    double yt[32], xt[32];
    int nyt = o->hide_yticks ? 0 : cn_plot_ticks(o->ymin, o->ymax, o->ylog, 7, yt);
    int nxt = cn_plot_ticks(o->xmin, o->xmax, o->xlog, 8, xt);
    char lab[32];
    int ylab_w = 0;
    for (int i = 0; i < nyt; i++) {
        cn_plot_tick_label(yt[i], lab, sizeof lab);
        int wd = cn_text_width(lab, 1);
        if (wd > ylab_w) ylab_w = wd;
    }
    int top = o->title ? 8 + cn_text_height(o->title, 2) : 10;
    int left = 8 + (o->ylabel ? CN_FONT_LINE + 4 : 0) + ylab_w + 6;
    int bottom = 8 + CN_FONT_LINE + 6 + (o->xlabel ? CN_FONT_LINE + 4 : 0);
    cn_axes a;
    a.area.x = r.x + left;
    a.area.y = r.y + top;
    a.area.w = r.w - left - 14;
    a.area.h = r.h - top - bottom;
    a.xlo = o->xmin;
    a.xhi = o->xmax;
    a.ylo = o->ymin;
    a.yhi = o->ymax;
    a.xlog = o->xlog;
    a.ylog = o->ylog;
    if (a.area.w < 40 || a.area.h < 30)
        return cn_error_set(err, CN_ERR_ARG, "plot axes: region %d x %d too small for a chart",
                            r.w, r.h);
    if (o->title) cn_canvas_text(c, r.x + left, r.y + 4, o->title, 2, INK);
    int xb = a.area.x, yb = a.area.y + a.area.h - 1, xr = a.area.x + a.area.w - 1;
    for (int i = 0; i < nyt; i++) {
        int py = cn_axes_py(&a, yt[i]);
        cn_canvas_line(c, a.area.x, py, xr, py, 0, GRID);
        cn_canvas_line(c, a.area.x - 4, py, a.area.x - 1, py, 0, FRAME);
        cn_plot_tick_label(yt[i], lab, sizeof lab);
        cn_canvas_text(c, a.area.x - 6 - cn_text_width(lab, 1), py - 3, lab, 1, INK);
    }
    int last_end = INT_MIN;
    for (int i = 0; i < nxt; i++) {
        int px = cn_axes_px(&a, xt[i]);
        cn_canvas_line(c, px, a.area.y, px, yb, 0, GRID);
        cn_canvas_line(c, px, yb + 1, px, yb + 4, 0, FRAME);
        cn_plot_tick_label(xt[i], lab, sizeof lab);
        int wd = cn_text_width(lab, 1), lx = px - wd / 2;
        if (lx <= last_end + 4) continue; /* labels would touch: skip this one */
        cn_canvas_text(c, lx, yb + 7, lab, 1, INK);
        last_end = lx + wd;
    }
    cn_canvas_frame(c, a.area, FRAME);
    if (o->xlabel)
        cn_canvas_text(c, xb + (a.area.w - cn_text_width(o->xlabel, 1)) / 2,
                       yb + 7 + CN_FONT_LINE + 3, o->xlabel, 1, INK);
    if (o->ylabel)
        cn_canvas_text_up(c, r.x + 6, a.area.y + (a.area.h + cn_text_width(o->ylabel, 1)) / 2,
                          o->ylabel, 1, INK);
    if (out) *out = a;
    return CN_OK;
}
