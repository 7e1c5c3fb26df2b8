/* plot_charts.c: the charts of convnet/plot.h drawn on the frame of plot.c:
 * line charts with automatic ranges and a legend, horizontal bar charts,
 * histograms, heat maps with a colour scale and numbers in the cells, and image
 * grids with captions. */
#include "convnet/plot.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const cn_rgb INK = {40, 40, 40};
static const cn_rgb WHITE = {255, 255, 255};
static const cn_rgb LIGHT = {160, 160, 160};

/* usable: v can be placed on an axis (finite; positive on a log axis). */
static int usable(double v, int lg)
{
    return isfinite(v) && (!lg || v > 0);
}

/* widen: turn the data range [*lo, *hi] into a drawable one (padding 5% on a
 * linear axis, a decade-fitting range on a log axis); nothing found: 0..1 or 1..10. */
static void widen(double *lo, double *hi, int lg, int pad)
{
    if (!(*lo <= *hi)) {
        *lo = lg ? 1.0 : 0.0;
        *hi = lg ? 10.0 : 1.0;
        return;
    }
    if (lg) {
        if (*hi / *lo < 1.5) {
            *lo /= 1.5;
            *hi *= 1.5;
        }
        if (pad) {
            *lo /= 1.15;
            *hi *= 1.15;
        }
        return;
    }
    if (*hi == *lo) {
        double d = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 0.5;
        *lo -= d;
        *hi += d;
        return;
    }
    if (pad) {
        double d = (*hi - *lo) * 0.05;
        *lo -= d;
        *hi += d;
    }
}

cn_status cn_plot_lines(cn_canvas *c, cn_rect r, const cn_plot_opts *o, const cn_series *s,
                        int ns, cn_axes *axes, cn_error *err)
{
    if (!c || !o || ns < 0 || (ns > 0 && !s))
        return cn_error_set(err, CN_ERR_ARG, "plot lines: NULL argument or ns %d < 0", ns);
    for (int i = 0; i < ns; i++)
        if (s[i].n < 0 || (s[i].n > 0 && !s[i].y))
            return cn_error_set(err, CN_ERR_ARG, "plot lines: series %d: n %d with %s y", i,
                                s[i].n, s[i].y ? "non-NULL" : "NULL");
    cn_plot_opts f = *o;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < ns; i++)
        for (int k = 0; k < s[i].n; k++) {
            double x = s[i].x ? s[i].x[k] : (double)(k + 1), y = s[i].y[k];
            if (!usable(x, f.xlog) || !usable(y, f.ylog)) continue;
            if (x < xlo) xlo = x;
            if (x > xhi) xhi = x;
            if (y < ylo) ylo = y;
            if (y > yhi) yhi = y;
        }
    widen(&xlo, &xhi, f.xlog, 0);
    widen(&ylo, &yhi, f.ylog, 1);
    if (isnan(f.xmin)) f.xmin = xlo;
    if (isnan(f.xmax)) f.xmax = xhi;
    if (isnan(f.ymin)) f.ymin = ylo;
    if (isnan(f.ymax)) f.ymax = yhi;
    cn_axes a;
    cn_status st = cn_plot_axes(c, r, &f, &a, err);
    if (st != CN_OK) return st;
    for (int i = 0; i < ns; i++) {
        int have = 0, px0 = 0, py0 = 0;
        for (int k = 0; k < s[i].n; k++) {
            double x = s[i].x ? s[i].x[k] : (double)(k + 1);
            int px = cn_axes_px(&a, x), py = cn_axes_py(&a, s[i].y[k]);
            if (px == INT_MIN || py == INT_MIN) {
                have = 0;
                continue;
            }
            if (have) cn_canvas_line(c, px0, py0, px, py, s[i].dash, s[i].color);
            else if (!s[i].markers) cn_canvas_pixel(c, px, py, s[i].color);
            if (s[i].markers) cn_canvas_fill(c, (cn_rect){px - 2, py - 2, 5, 5}, s[i].color);
            have = 1;
            px0 = px;
            py0 = py;
        }
    }
    /* the plot area's border is drawn again over lines that reach it */
    cn_canvas_frame(c, a.area, LIGHT);
    int named = 0, lw = 0;
    for (int i = 0; i < ns; i++)
        if (s[i].name) {
            named++;
            int wd = cn_text_width(s[i].name, 1);
            if (wd > lw) lw = wd;
        }
    if (o->legend && named > 0) {
        cn_rect box = {a.area.x + a.area.w - lw - 34, a.area.y + 6, lw + 28,
                       named * CN_FONT_LINE + 8};
        cn_canvas_fill(c, box, WHITE);
        cn_canvas_frame(c, box, LIGHT);
        int y = box.y + 5;
        for (int i = 0; i < ns; i++) {
            if (!s[i].name) continue;
            cn_canvas_line(c, box.x + 4, y + 3, box.x + 16, y + 3, s[i].dash, s[i].color);
            cn_canvas_line(c, box.x + 4, y + 4, box.x + 16, y + 4, s[i].dash, s[i].color);
            cn_canvas_text(c, box.x + 21, y, s[i].name, 1, INK);
            y += CN_FONT_LINE;
        }
    }
    if (axes) *axes = a;
    return CN_OK;
}

/* fit_text: copy s into buf cut so that it is at most maxw pixels wide at scale 1
 * (a cut string ends in '.'). */
static void fit_text(const char *s, int maxw, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", s ? s : "");
    size_t n = strlen(buf);
    while (n > 1 && cn_text_width(buf, 1) > maxw) {
        buf[--n] = '\0';
        buf[n - 1] = '.';
    }
    if (cn_text_width(buf, 1) > maxw) buf[0] = '\0';
}

cn_status cn_plot_hbars(cn_canvas *c, cn_rect r, const cn_plot_opts *o,
                        const char *const *labels, const double *v, int n, const char *fmt,
                        cn_rgb color, cn_error *err)
{
    if (!c || !o || !v || n < 1)
        return cn_error_set(err, CN_ERR_ARG, "plot bars: NULL argument or n %d < 1", n);
    int lab_w = 0;
    char buf[64];
    for (int i = 0; i < n; i++) {
        if (labels && labels[i]) fit_text(labels[i], r.w / 3, buf, sizeof buf);
        else snprintf(buf, sizeof buf, "%d", i);
        int wd = cn_text_width(buf, 1);
        if (wd > lab_w) lab_w = wd;
    }
    cn_plot_opts f = *o;
    f.xlog = f.ylog = 0;
    double hi = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]) && v[i] > hi) hi = v[i];
    if (isnan(f.xmin)) f.xmin = 0;
    if (isnan(f.xmax)) f.xmax = hi > f.xmin ? hi : f.xmin + 1;
    f.ymin = 0;
    f.ymax = n;
    /* the frame has no y ticks for bars: labels go where tick labels would be */
    cn_axes a;
    cn_rect inner = {r.x + lab_w + 6, r.y, r.w - lab_w - 6 - 40, r.h};
    f.ylabel = NULL;
    f.hide_yticks = 1;
    cn_status st = cn_plot_axes(c, inner, &f, &a, err);
    if (st != CN_OK) return st;
    double row = (double)a.area.h / n;
    for (int i = 0; i < n; i++) {
        int y0 = a.area.y + (int)lrint(i * row), y1 = a.area.y + (int)lrint((i + 1) * row);
        int bh = (y1 - y0) * 7 / 10, by = y0 + (y1 - y0 - bh) / 2;
        if (labels && labels[i]) fit_text(labels[i], r.w / 3, buf, sizeof buf);
        else snprintf(buf, sizeof buf, "%d", i);
        cn_canvas_text(c, a.area.x - 6 - cn_text_width(buf, 1), y0 + (y1 - y0) / 2 - 3, buf, 1,
                       INK);
        if (!isfinite(v[i])) {
            cn_canvas_text(c, a.area.x + 4, y0 + (y1 - y0) / 2 - 3, "n/a", 1, LIGHT);
            continue;
        }
        int px = cn_axes_px(&a, v[i] < f.xmin ? f.xmin : v[i] > f.xmax ? f.xmax : v[i]);
        if (bh < 1) bh = 1;
        cn_canvas_fill(c, (cn_rect){a.area.x + 1, by, px - a.area.x, bh}, color);
        snprintf(buf, sizeof buf, fmt ? fmt : "%.3g", v[i]);
        cn_canvas_text(c, px + 4, y0 + (y1 - y0) / 2 - 3, buf, 1, INK);
    }
    return CN_OK;
}

cn_status cn_plot_histogram(cn_canvas *c, cn_rect r, const cn_plot_opts *o, double lo,
                            double hi, const double *counts, int bins, cn_rgb color,
                            cn_error *err)
{
    if (!c || !o || !counts || bins < 1)
        return cn_error_set(err, CN_ERR_ARG, "plot histogram: NULL argument or bins %d < 1",
                            bins);
    if (!isfinite(lo) || !isfinite(hi) || hi < lo)
        return cn_error_set(err, CN_ERR_ARG, "plot histogram: bad range %g..%g", lo, hi);
    if (hi == lo) {
        lo -= 0.5;
        hi += 0.5;
    }
    double top = 0;
    for (int b = 0; b < bins; b++)
        if (isfinite(counts[b]) && counts[b] > top) top = counts[b];
    cn_plot_opts f = *o;
    f.xlog = f.ylog = 0;
    f.xmin = lo;
    f.xmax = hi;
    f.ymin = 0;
    f.ymax = top > 0 ? top * 1.08 : 1;
    cn_axes a;
    cn_status st = cn_plot_axes(c, r, &f, &a, err);
    if (st != CN_OK) return st;
    for (int b = 0; b < bins; b++) {
        if (!isfinite(counts[b]) || counts[b] <= 0) continue;
        int x0 = cn_axes_px(&a, lo + (hi - lo) * b / bins);
        int x1 = cn_axes_px(&a, lo + (hi - lo) * (b + 1) / bins);
        int y = cn_axes_py(&a, counts[b]), yb = a.area.y + a.area.h - 1;
        int wd = x1 - x0 > 2 ? x1 - x0 - 1 : 1;
        cn_canvas_fill(c, (cn_rect){x0 + 1, y, wd, yb - y}, color);
    }
    return CN_OK;
}

cn_status cn_plot_heatmap(cn_canvas *c, cn_rect r, const cn_plot_opts *o, const double *v,
                          int rows, int cols, double vmin, double vmax,
                          const char *const *row_labels, const char *const *col_labels,
                          const double *numbers, const char *fmt, cn_error *err)
{
    if (!c || !c->px || !o || !v || rows < 1 || cols < 1)
        return cn_error_set(err, CN_ERR_ARG, "plot heatmap: NULL argument or %d x %d cells",
                            rows, cols);
    if (isnan(vmin) || isnan(vmax)) {
        double lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++)
            if (isfinite(v[i])) {
                if (v[i] < lo) lo = v[i];
                if (v[i] > hi) hi = v[i];
            }
        if (!(lo <= hi)) lo = hi = 0;
        if (isnan(vmin)) vmin = lo;
        if (isnan(vmax)) vmax = hi;
    }
    if (!(vmax > vmin)) vmax = vmin + 1;
    char buf[64];
    int lab_w = 0;
    for (int i = 0; i < rows; i++) {
        if (row_labels && row_labels[i]) fit_text(row_labels[i], r.w / 4, buf, sizeof buf);
        else snprintf(buf, sizeof buf, "%d", i);
        int wd = cn_text_width(buf, 1);
        if (wd > lab_w) lab_w = wd;
    }
    int top = (o->title ? 8 + cn_text_height(o->title, 2) : 8) + CN_FONT_LINE + 4;
    int left = (o->ylabel ? CN_FONT_LINE + 6 : 4) + lab_w + 6;
    int bottom = o->xlabel ? CN_FONT_LINE + 10 : 6, scale_w = 70;
    int gw = r.w - left - scale_w, gh = r.h - top - bottom;
    int cell = gw / cols < gh / rows ? gw / cols : gh / rows;
    if (cell < 2)
        return cn_error_set(err, CN_ERR_ARG, "plot heatmap: region %d x %d too small for %d x %d "
                            "cells", r.w, r.h, rows, cols);
    int gx = r.x + left, gy = r.y + top;
    if (o->title) cn_canvas_text(c, r.x + 4, r.y + 4, o->title, 2, INK);
    for (int i = 0; i < rows; i++) {
        if (row_labels && row_labels[i]) fit_text(row_labels[i], r.w / 4, buf, sizeof buf);
        else snprintf(buf, sizeof buf, "%d", i);
        cn_canvas_text(c, gx - 6 - cn_text_width(buf, 1), gy + i * cell + cell / 2 - 3, buf, 1,
                       INK);
        for (int j = 0; j < cols; j++) {
            double x = v[(size_t)i * (size_t)cols + (size_t)j];
            double t = (x - vmin) / (vmax - vmin);
            cn_rgb k = cn_plot_colormap(isfinite(x) ? t : NAN);
            cn_canvas_fill(c, (cn_rect){gx + j * cell, gy + i * cell, cell - 1, cell - 1}, k);
            if (!numbers) continue;
            double num = numbers[(size_t)i * (size_t)cols + (size_t)j];
            snprintf(buf, sizeof buf, fmt ? fmt : "%.2g", num);
            int wd = cn_text_width(buf, 1);
            if (wd + 2 > cell - 1 || CN_FONT_H + 2 > cell - 1) continue;
            cn_rgb ink = isfinite(t) && t > 0.55 ? WHITE : INK;
            cn_canvas_text(c, gx + j * cell + (cell - 1 - wd) / 2,
                           gy + i * cell + (cell - 1 - CN_FONT_H) / 2, buf, 1, ink);
        }
    }
    for (int j = 0; j < cols; j++) {
        if (col_labels && col_labels[j]) fit_text(col_labels[j], cell - 2, buf, sizeof buf);
        else snprintf(buf, sizeof buf, "%d", j);
        cn_canvas_text(c, gx + j * cell + (cell - 1 - cn_text_width(buf, 1)) / 2,
                       gy - CN_FONT_LINE - 1, buf, 1, INK);
    }
    if (o->xlabel)
        cn_canvas_text(c, gx + (cols * cell - cn_text_width(o->xlabel, 1)) / 2,
                       gy + rows * cell + 4, o->xlabel, 1, INK);
    if (o->ylabel)
        cn_canvas_text_up(c, r.x + 4, gy + (rows * cell + cn_text_width(o->ylabel, 1)) / 2,
                          o->ylabel, 1, INK);
    /* the colour scale: a vertical bar, vmax at the top */
    int sx = gx + cols * cell + 12, sh = rows * cell;
    for (int y = 0; y < sh; y++) {
        double t = sh > 1 ? 1.0 - (double)y / (sh - 1) : 1.0;
        cn_canvas_line(c, sx, gy + y, sx + 11, gy + y, 0, cn_plot_colormap(t));
    }
    cn_canvas_frame(c, (cn_rect){sx, gy, 12, sh}, LIGHT);
    cn_plot_tick_label(vmax, buf, sizeof buf);
    cn_canvas_text(c, sx + 16, gy, buf, 1, INK);
    cn_plot_tick_label(vmin, buf, sizeof buf);
    cn_canvas_text(c, sx + 16, gy + sh - CN_FONT_H, buf, 1, INK);
    return CN_OK;
}

int cn_grid_layout(int n, int h, int w, int ncols, int upscale, int cap_lines, int min_tile_w,
                   int *grid_w, int *grid_h)
{
    if (n < 1 || h < 1 || w < 1 || ncols < 1 || upscale < 1 || cap_lines < 0 || min_tile_w < 0)
        return -1;
    long long tw = (long long)w * upscale, th = (long long)h * upscale;
    if (tw < min_tile_w) tw = min_tile_w;
    th += (long long)cap_lines * CN_FONT_LINE + (cap_lines > 0 ? 2 : 0);
    int cols = n < ncols ? n : ncols, rows = (n + cols - 1) / cols;
    long long gw = cols * (tw + 6) + 6, gh = rows * (th + 6) + 6;
    if (gw > CN_CANVAS_MAX_SIDE || gh > CN_CANVAS_MAX_SIDE) return -1;
    if (grid_w) *grid_w = (int)gw;
    if (grid_h) *grid_h = (int)gh;
    return 0;
}

cn_status cn_plot_image_grid(cn_canvas *c, int x, int y, const cn_real *images, int n,
                             int ch, int h, int w, int ncols, int upscale, int cap_lines,
                             int min_tile_w, const char *const *captions, int scale_each,
                             cn_error *err)
{
    if (!c || !images) return cn_error_set(err, CN_ERR_ARG, "image grid: NULL argument");
    int gw, gh;
    if ((ch != 1 && ch != 3) ||
        cn_grid_layout(n, h, w, ncols, upscale, cap_lines, min_tile_w, &gw, &gh) != 0)
        return cn_error_set(err, CN_ERR_ARG, "image grid: bad sizes n=%d ch=%d h=%d w=%d "
                            "ncols=%d upscale=%d (ch 1 or 3, the rest >= 1, at most %d pixels a "
                            "side)", n, ch, h, w, ncols, upscale, CN_CANVAS_MAX_SIDE);
    int tw = w * upscale < min_tile_w ? min_tile_w : w * upscale;
    int th = h * upscale + cap_lines * CN_FONT_LINE + (cap_lines > 0 ? 2 : 0);
    int cols = n < ncols ? n : ncols;
    size_t plane = (size_t)h * (size_t)w;
    char line[128];
    for (int t = 0; t < n; t++) {
        const cn_real *img = images + (size_t)t * (size_t)ch * plane; // (ch, h, w)
        double lo = 0, hi = 1;
        if (scale_each) {
            lo = INFINITY;
            hi = -INFINITY;
            for (size_t k = 0; k < (size_t)ch * plane; k++) {
                double v = (double)img[k];
                if (!isfinite(v)) continue;
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
            if (!(hi > lo)) {
                lo = isfinite(lo) ? lo - 0.5 : 0.0;
                hi = lo + 1.0;
            }
        }
        int x0 = x + 6 + (t % cols) * (tw + 6), y0 = y + 6 + (t / cols) * (th + 6);
        int ix = x0 + (tw - w * upscale) / 2;
        for (int py = 0; py < h * upscale; py++)
            for (int px = 0; px < w * upscale; px++) {
                size_t at = (size_t)(py / upscale) * (size_t)w + (size_t)(px / upscale);
                uint8_t s[3];
                for (int k = 0; k < 3; k++) {
                    double v = (double)img[(size_t)(ch == 3 ? k : 0) * plane + at];
                    double u = isfinite(v) ? (v - lo) / (hi - lo) : 0.0;
                    u = u < 0 ? 0 : u > 1 ? 1 : u;
                    s[k] = (uint8_t)lrint(u * 255.0);
                }
                cn_canvas_pixel(c, ix + px, y0 + py, (cn_rgb){s[0], s[1], s[2]});
            }
        if (!captions || !captions[t] || cap_lines < 1) continue;
        const char *p = captions[t];
        for (int l = 0; l < cap_lines && *p; l++) {
            size_t len = strcspn(p, "\n");
            char part[128];
            snprintf(part, sizeof part, "%.*s", (int)(len < 127 ? len : 127), p);
            fit_text(part, tw, line, sizeof line);
            cn_canvas_text(c, x0 + (tw - cn_text_width(line, 1)) / 2,
                           y0 + h * upscale + 3 + l * CN_FONT_LINE, line, 1, INK);
            p += len;
            if (*p == '\n') p++;
        }
    }
    return CN_OK;
}
