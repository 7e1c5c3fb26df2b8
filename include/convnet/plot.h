/* convnet/plot.h: a small, dependency-free plotting kit for the training report:
 * an RGB8 raster canvas with clipped lines, rectangles and a built-in 5x7 bitmap
 * font (ASCII 32..126), axes with "nice" ticks on linear or log10 scales, line
 * charts of several series with a legend, horizontal bar charts, histograms,
 * heat maps with a colour scale, image grids with captions, and PNG encoding.
 * Everything is deterministic: the same calls give the same bytes.
 * docs/report.md shows what the report draws with it. */
#ifndef CONVNET_PLOT_H
#define CONVNET_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "convnet/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest canvas side in pixels (cn_canvas_init refuses more). */
#define CN_CANVAS_MAX_SIDE 16384

/* The built-in font: glyphs are 5 x 7 pixels; text advances 6 pixels a
 * character and 10 pixels a line, times the integer scale. */
#define CN_FONT_W 5
#define CN_FONT_H 7
#define CN_FONT_ADVANCE 6
#define CN_FONT_LINE 10

typedef struct cn_rgb {
    uint8_t r, g, b;
} cn_rgb;

/* cn_canvas: w x h pixels, row-major RGB8. Owns px. */
typedef struct cn_canvas {
    int w, h;
    uint8_t *px; /* (h, w, 3) */
} cn_canvas;

/* cn_rect: a pixel region: left x, top y, width w, height h. */
typedef struct cn_rect {
    int x, y, w, h;
} cn_rect;

/* cn_canvas_init: a w x h canvas filled with bg. CN_ERR_ARG for a NULL c or a
 * side outside 1..CN_CANVAS_MAX_SIDE, CN_ERR_NOMEM. On error *c is zeroed. */
cn_status cn_canvas_init(cn_canvas *c, int w, int h, cn_rgb bg, cn_error *err);

/* cn_canvas_free: release px and zero the struct; NULL is a no-op. */
void cn_canvas_free(cn_canvas *c);

/* Drawing: every primitive clips to the canvas (coordinates may lie outside). */
void cn_canvas_pixel(cn_canvas *c, int x, int y, cn_rgb col);
/* cn_canvas_get: the pixel at (x, y); black outside the canvas. */
cn_rgb cn_canvas_get(const cn_canvas *c, int x, int y);
/* cn_canvas_line: a 1-pixel line from (x0, y0) to (x1, y1), both ends included
 * (Bresenham). dash > 0 draws dash pixels on, dash off; 0 draws it solid. */
void cn_canvas_line(cn_canvas *c, int x0, int y0, int x1, int y1, int dash, cn_rgb col);
/* cn_canvas_fill: fill r; cn_canvas_frame: its 1-pixel outline. */
void cn_canvas_fill(cn_canvas *c, cn_rect r, cn_rgb col);
void cn_canvas_frame(cn_canvas *c, cn_rect r, cn_rgb col);

/* cn_text_width: the width in pixels of the longest line of s at scale (>= 1)
 * ('\n' starts a new line); cn_text_height: lines * CN_FONT_LINE * scale. */
int cn_text_width(const char *s, int scale);
int cn_text_height(const char *s, int scale);
/* cn_canvas_text: draw s with its top-left corner at (x, y), scale times the
 * glyph size; '\n' starts a new line; bytes outside 32..126 draw as '?'.
 * Returns the width drawn (cn_text_width). */
int cn_canvas_text(cn_canvas *c, int x, int y, const char *s, int scale, cn_rgb col);
/* cn_canvas_text_up: s turned 90 degrees counter-clockwise (read bottom to top),
 * one line, its bottom-left corner at (x, y). */
void cn_canvas_text_up(cn_canvas *c, int x, int y, const char *s, int scale, cn_rgb col);

/* cn_canvas_png: encode c as an 8-bit RGB PNG into a new buffer *out (cn_free)
 * of *len bytes. cn_canvas_write_png: the same written to path. Errors:
 * CN_ERR_ARG, CN_ERR_NOMEM, CN_ERR_IO naming the path. */
cn_status cn_canvas_png(const cn_canvas *c, uint8_t **out, size_t *len, cn_error *err);
cn_status cn_canvas_write_png(const cn_canvas *c, const char *path, cn_error *err);

/* cn_plot_palette: colour i of a fixed 10-colour qualitative palette (repeats). */
cn_rgb cn_plot_palette(int i);
/* cn_plot_colormap: t in [0, 1] (clamped; NaN -> grey) on a white-to-dark-blue
 * sequential scale. */
cn_rgb cn_plot_colormap(double t);

/* cn_plot_ticks: up to max_ticks (2..32) "nice" tick values in [lo, hi] into
 * ticks: multiples of 1, 2 or 5 times a power of ten (linear), or powers of ten
 * (log10 != 0; lo > 0; with fewer than two decades inside, 1-2-5 steps of each
 * decade). Returns how many (0 for a range that is not finite and increasing,
 * or log10 with lo <= 0). */
int cn_plot_ticks(double lo, double hi, int log10, int max_ticks, double *ticks);
/* cn_plot_tick_label: v as a short label ("0.25", "1e-3", "20k") into buf. */
void cn_plot_tick_label(double v, char *buf, size_t cap);

/* cn_plot_opts: the frame of a chart. Start from cn_plot_opts_default. Ranges
 * left NaN are found from the data (log axes: from the positive values). */
typedef struct cn_plot_opts {
    const char *title, *xlabel, *ylabel; /* NULL: none */
    int xlog, ylog;                      /* 1: log10 axis */
    double xmin, xmax, ymin, ymax;       /* NaN: automatic */
    int legend;                          /* line charts: 1 draws the legend box */
    int hide_yticks;                     /* 1: no y grid, ticks or tick labels */
} cn_plot_opts;

void cn_plot_opts_default(cn_plot_opts *o);

/* cn_axes: where a chart's data landed, for annotations: area is the plotting
 * area in pixels; the data ranges map onto it. */
typedef struct cn_axes {
    cn_rect area;
    double xlo, xhi, ylo, yhi;
    int xlog, ylog;
} cn_axes;

/* cn_axes_px / cn_axes_py: the pixel column / row of data x / y (not clipped;
 * a non-finite or, on a log axis, non-positive value gives INT_MIN). */
int cn_axes_px(const cn_axes *a, double x);
int cn_axes_py(const cn_axes *a, double y);

/* cn_plot_axes: draw a chart frame in r: title, grid, ticks and tick labels,
 * axis labels, with the ranges of o (all four must be finite, min < max, and
 * positive on log axes: CN_ERR_ARG otherwise). *out (may be NULL) gets the
 * mapping. CN_ERR_ARG also when r is too small for a plot area (under 40 x 30). */
cn_status cn_plot_axes(cn_canvas *c, cn_rect r, const cn_plot_opts *o, cn_axes *out,
                       cn_error *err);

/* cn_series: one line of a line chart: n points (x[i], y[i]); x NULL means
 * 1, 2, ..., n. Non-finite points (and, on log axes, non-positive ones) break
 * the line. markers: 1 draws a small square on each point; dash as in
 * cn_canvas_line. name NULL: not in the legend. */
typedef struct cn_series {
    const char *name;
    const double *x, *y;
    int n;
    cn_rgb color;
    int markers, dash;
} cn_series;

/* cn_plot_lines: a line chart of s[0..ns) in r (automatic ranges padded by 5%
 * on linear axes; a series-free or point-free chart still draws its frame with
 * ranges 0..1). *axes (may be NULL) gets the mapping. CN_ERR_ARG for NULL
 * arguments, ns < 0, a series with n < 0 or NULL y, and cn_plot_axes' errors. */
cn_status cn_plot_lines(cn_canvas *c, cn_rect r, const cn_plot_opts *o, const cn_series *s,
                        int ns, cn_axes *axes, cn_error *err);

/* cn_plot_hbars: a horizontal bar chart in r: bar i of length v[i] (NaN: no bar,
 * "n/a") labelled labels[i] on the left, its value printed at its end with
 * printf format fmt (NULL: "%.3g"). The x range is o's (NaN: 0 .. max). */
cn_status cn_plot_hbars(cn_canvas *c, cn_rect r, const cn_plot_opts *o,
                        const char *const *labels, const double *v, int n, const char *fmt,
                        cn_rgb color, cn_error *err);

/* cn_plot_histogram: bins equal-width bars over [lo, hi] (lo < hi, finite;
 * lo == hi is widened by 0.5 each side) of heights counts[0..bins) in r. */
cn_status cn_plot_histogram(cn_canvas *c, cn_rect r, const cn_plot_opts *o, double lo,
                            double hi, const double *counts, int bins, cn_rgb color,
                            cn_error *err);

/* cn_plot_heatmap: v (rows, cols) as coloured cells (cn_plot_colormap of
 * (v - vmin) / (vmax - vmin); vmin, vmax NaN: the data's finite range) in r,
 * row labels left, column labels on top (either NULL: the indices), a colour
 * scale bar on the right, and, when numbers is not NULL and the cells are large
 * enough, numbers[i] (rows, cols) printed in each cell with format fmt
 * (e.g. "%.0f"). */
cn_status cn_plot_heatmap(cn_canvas *c, cn_rect r, const cn_plot_opts *o, const double *v,
                          int rows, int cols, double vmin, double vmax,
                          const char *const *row_labels, const char *const *col_labels,
                          const double *numbers, const char *fmt, cn_error *err);

/* cn_grid_layout: the pixel size of an image grid of n tiles (h x w images
 * scaled up by upscale, ncols columns, cap_lines caption lines under each tile,
 * tiles at least min_tile_w wide). Returns 0, or -1 for bad sizes or a grid over
 * CN_CANVAS_MAX_SIDE a side. */
int cn_grid_layout(int n, int h, int w, int ncols, int upscale, int cap_lines, int min_tile_w,
                   int *grid_w, int *grid_h);

/* cn_plot_image_grid: draw n images (n, ch, h, w) (ch 1: grey, 3: RGB) with the
 * top-left corner of the grid at (x, y) laid out as cn_grid_layout says;
 * scale_each 0: values in [0, 1] clamped; 1: each image min..max -> 0..1.
 * captions[i] (NULL or the array NULL: none) are printed under tile i, at most
 * cap_lines lines, cut to the tile's width. */
cn_status cn_plot_image_grid(cn_canvas *c, int x, int y, const cn_real *images, int n,
                             int ch, int h, int w, int ncols, int upscale, int cap_lines,
                             int min_tile_w, const char *const *captions, int scale_each,
                             cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_PLOT_H */
