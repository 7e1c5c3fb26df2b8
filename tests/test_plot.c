/* test_plot.c: the plotting kit (convnet/plot.h): canvas primitives and
 * clipping, the bitmap font, nice ticks on linear and log axes, the charts, PNG
 * bytes that decode back to the same pixels with cn_image_decode, determinism,
 * and bad arguments. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"
#include "convnet/plot.h"
#include "support.h"

static const cn_rgb WHITE = {255, 255, 255};
static const cn_rgb RED = {255, 0, 0};

static int same(cn_rgb a, cn_rgb b)
{
    return a.r == b.r && a.g == b.g && a.b == b.b;
}

Test(plot, canvas_primitives_clip)
{
    cn_error err;
    cn_canvas c;
    cr_assert_eq(cn_canvas_init(&c, 20, 10, WHITE, &err), CN_OK, "%s", err.msg);
    cr_expect(same(cn_canvas_get(&c, 19, 9), WHITE));
    cn_canvas_line(&c, -5, 2, 30, 2, 0, RED); /* clipped both ends */
    for (int x = 0; x < 20; x++) cr_expect(same(cn_canvas_get(&c, x, 2), RED), "x %d", x);
    cr_expect(same(cn_canvas_get(&c, 0, 3), WHITE));
    cn_canvas_line(&c, 0, 0, 9, 9, 0, RED); /* diagonal: both ends included */
    cr_expect(same(cn_canvas_get(&c, 0, 0), RED));
    cr_expect(same(cn_canvas_get(&c, 9, 9), RED));
    cn_canvas_fill(&c, (cn_rect){15, 5, 100, 100}, (cn_rgb){0, 0, 255});
    cr_expect(same(cn_canvas_get(&c, 19, 9), (cn_rgb){0, 0, 255}));
    cr_expect(same(cn_canvas_get(&c, 14, 9), WHITE));
    cn_canvas_pixel(&c, -1, 0, RED);                 /* outside: ignored */
    cr_expect(same(cn_canvas_get(&c, -1, 0), (cn_rgb){0, 0, 0}));
    /* far-away ends (log axes) stay bounded */
    cn_canvas_line(&c, -2000000000, 0, 2000000000, 5, 2, RED);
    cn_canvas_free(&c);
    cn_canvas_free(NULL);
}

Test(plot, font_draws_and_measures)
{
    cn_error err;
    cn_canvas c;
    cr_assert_eq(cn_canvas_init(&c, 64, 40, WHITE, &err), CN_OK, "%s", err.msg);
    cr_expect_eq(cn_text_width("A", 1), CN_FONT_W);
    cr_expect_eq(cn_text_width("ab", 2), (2 * CN_FONT_ADVANCE - 1) * 2);
    cr_expect_eq(cn_text_width("abc\nx", 1), 3 * CN_FONT_ADVANCE - 1);
    cr_expect_eq(cn_text_height("a\nb", 1), 2 * CN_FONT_LINE);
    cr_expect_eq(cn_text_width("", 1), 0);
    cn_canvas_text(&c, 0, 0, "I", 1, RED);
    /* 'I': top row .###. and the stem in the middle column */
    cr_expect(same(cn_canvas_get(&c, 1, 0), RED));
    cr_expect(same(cn_canvas_get(&c, 0, 0), WHITE));
    cr_expect(same(cn_canvas_get(&c, 2, 3), RED));
    cr_expect(same(cn_canvas_get(&c, 0, 3), WHITE));
    /* every printable glyph but space sets some pixel; non-ASCII draws '?' */
    for (int ch = 33; ch <= 126; ch++) {
        char s[2] = {(char)ch, 0};
        cn_canvas_fill(&c, (cn_rect){0, 10, 64, 30}, WHITE);
        cn_canvas_text(&c, 10, 12, s, 2, RED);
        int on = 0;
        for (int y = 10; y < 40; y++)
            for (int x = 0; x < 64; x++) on += same(cn_canvas_get(&c, x, y), RED);
        cr_expect_gt(on, 0, "glyph %d is empty", ch);
    }
    cn_canvas_text_up(&c, 30, 39, "Hi", 1, RED);
    cn_canvas_text(&c, 0, 20, "\xc3\xa9", 1, RED);
    cn_canvas_free(&c);
}

Test(plot, ticks_linear_and_log)
{
    double t[32];
    int n = cn_plot_ticks(0, 1, 0, 6, t);
    cr_assert_eq(n, 6);
    for (int i = 0; i < n; i++) cr_expect_float_eq(t[i], 0.2 * i, 1e-12);
    n = cn_plot_ticks(-3.7, 12.2, 0, 8, t);
    cr_assert_gt(n, 2);
    cr_expect_leq(n, 8);
    cr_expect_geq(t[0], -3.7);
    cr_expect_leq(t[n - 1], 12.2);
    double step = t[1] - t[0];
    double m = step / pow(10, floor(log10(step)));
    cr_expect(fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9, "step %g", step);
    n = cn_plot_ticks(1e-5, 10, 1, 8, t); /* powers of ten */
    cr_assert_gt(n, 2);
    for (int i = 0; i < n; i++) {
        double e = log10(t[i]);
        cr_expect_float_eq(e, round(e), 1e-9);
    }
    n = cn_plot_ticks(0.55, 1.2, 1, 8, t); /* narrow log range: still several ticks */
    cr_expect_geq(n, 3);
    cr_expect_eq(cn_plot_ticks(0, 10, 1, 8, t), 0);   /* log of 0 */
    cr_expect_eq(cn_plot_ticks(1, 1, 0, 8, t), 0);    /* empty range */
    cr_expect_eq(cn_plot_ticks(NAN, 1, 0, 8, t), 0);
    char b[32];
    cn_plot_tick_label(0.25, b, sizeof b);
    cr_expect_str_eq(b, "0.25");
    cn_plot_tick_label(1e-4, b, sizeof b);
    cr_expect_str_eq(b, "1e-4");
    cn_plot_tick_label(20000, b, sizeof b);
    cr_expect_str_eq(b, "20k");
    cn_plot_tick_label(0, b, sizeof b);
    cr_expect_str_eq(b, "0");
}

/* A canvas with one of every chart; the same calls must give the same PNG. */
static void draw_all(cn_canvas *c)
{
    cn_error err;
    cr_assert_eq(cn_canvas_init(c, 900, 700, WHITE, &err), CN_OK, "%s", err.msg);
    double x[50], y[50], z[50];
    for (int i = 0; i < 50; i++) {
        x[i] = i;
        y[i] = exp(-0.05 * i) + 0.01;
        z[i] = i == 20 ? NAN : 0.5 * y[i];
    }
    cn_series s[2] = {{"train", x, y, 50, cn_plot_palette(0), 0, 0},
                      {"val", x, z, 50, cn_plot_palette(1), 1, 3}};
    cn_plot_opts o;
    cn_plot_opts_default(&o);
    o.title = "loss";
    o.xlabel = "step";
    o.ylabel = "loss";
    cn_axes a;
    cr_assert_eq(cn_plot_lines(c, (cn_rect){0, 0, 450, 300}, &o, s, 2, &a, &err), CN_OK, "%s",
                 err.msg);
    cr_expect_lt(cn_axes_px(&a, 0), cn_axes_px(&a, 49));
    cr_expect_gt(cn_axes_py(&a, 0.1), cn_axes_py(&a, 0.9)); /* y grows upwards */
    o.ylog = 1;
    cr_assert_eq(cn_plot_lines(c, (cn_rect){450, 0, 450, 300}, &o, s, 2, NULL, &err), CN_OK,
                 "%s", err.msg);
    double v[3] = {0.9, NAN, 0.4}, counts[5] = {1, 4, 9, 4, 1};
    const char *names[3] = {"alpha", "beta", "a very long class name indeed"};
    cn_plot_opts_default(&o);
    cr_assert_eq(cn_plot_hbars(c, (cn_rect){0, 300, 450, 200}, &o, names, v, 3, "%.2f",
                               cn_plot_palette(2), &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_plot_histogram(c, (cn_rect){450, 300, 450, 200}, &o, -1, 1, counts, 5,
                                   cn_plot_palette(3), &err), CN_OK, "%s", err.msg);
    double m[4] = {5, 1, 0, 7};
    cr_assert_eq(cn_plot_heatmap(c, (cn_rect){0, 500, 450, 200}, &o, m, 2, 2, NAN, NAN, names,
                                 NULL, m, "%.0f", &err), CN_OK, "%s", err.msg);
    cn_real img[2 * 3 * 4 * 4];
    for (size_t i = 0; i < sizeof img / sizeof img[0]; i++) img[i] = (cn_real)(i % 7) / 6;
    const char *caps[2] = {"T: a\nP: b 0.87", NULL};
    cr_assert_eq(cn_plot_image_grid(c, 450, 500, img, 2, 3, 4, 4, 2, 8, 2, 60, caps, 0, &err),
                 CN_OK, "%s", err.msg);
}

Test(plot, png_decodes_and_is_deterministic)
{
    cn_error err;
    cn_canvas c1, c2;
    draw_all(&c1);
    draw_all(&c2);
    uint8_t *b1, *b2;
    size_t n1, n2;
    cr_assert_eq(cn_canvas_png(&c1, &b1, &n1, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_canvas_png(&c2, &b2, &n2, &err), CN_OK, "%s", err.msg);
    cr_expect_eq(n1, n2);
    cr_expect_eq(memcmp(b1, b2, n1), 0, "same calls gave different PNG bytes");
    cn_image_opts io;
    cn_image_opts_default(&io);
    cn_image im;
    cr_assert_eq(cn_image_decode(b1, n1, "plot", &io, &im, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(im.w, 900);
    cr_assert_eq(im.h, 700);
    cr_assert_eq(im.c, 3);
    size_t plane = (size_t)im.w * (size_t)im.h, bad = 0;
    for (int y = 0; y < im.h; y += 7)
        for (int x = 0; x < im.w; x += 5) {
            cn_rgb k = cn_canvas_get(&c1, x, y);
            size_t at = (size_t)y * (size_t)im.w + (size_t)x;
            bad += lrint(im.data[at] * 255) != k.r || lrint(im.data[plane + at] * 255) != k.g ||
                   lrint(im.data[2 * plane + at] * 255) != k.b;
        }
    cr_expect_eq(bad, 0, "%zu pixels differ after decoding", bad);
    cn_image_free(&im);
    char dir[256], path[300];
    cr_assert_eq(tst_tmpdir_make(dir, sizeof dir, "plot"), 0);
    snprintf(path, sizeof path, "%s/all.png", dir);
    cr_assert_eq(cn_canvas_write_png(&c1, path, &err), CN_OK, "%s", err.msg);
    cn_image fi;
    cr_assert_eq(cn_image_load(path, &io, &fi, &err), CN_OK, "%s", err.msg);
    cr_expect_eq(fi.w, 900);
    cn_image_free(&fi);
    snprintf(path, sizeof path, "%s/missing/x.png", dir);
    cr_expect_eq(cn_canvas_write_png(&c1, path, &err), CN_ERR_IO);
    cr_expect(strstr(err.msg, "missing/x.png") != NULL, "%s", err.msg);
    tst_tmpdir_remove(dir);
    cn_free(b1);
    cn_free(b2);
    cn_canvas_free(&c1);
    cn_canvas_free(&c2);
}

Test(plot, bad_arguments)
{
    cn_error err;
    cn_canvas c;
    cr_expect_eq(cn_canvas_init(&c, 0, 10, WHITE, &err), CN_ERR_ARG);
    cr_expect_eq(cn_canvas_init(&c, CN_CANVAS_MAX_SIDE + 1, 10, WHITE, &err), CN_ERR_ARG);
    cr_expect_eq(cn_canvas_init(NULL, 5, 5, WHITE, &err), CN_ERR_ARG);
    cr_assert_eq(cn_canvas_init(&c, 100, 60, WHITE, &err), CN_OK, "%s", err.msg);
    cn_plot_opts o;
    cn_plot_opts_default(&o);
    double y[2] = {1, 2};
    cn_series s = {NULL, NULL, NULL, 2, RED, 0, 0};
    cr_expect_eq(cn_plot_lines(&c, (cn_rect){0, 0, 100, 60}, &o, &s, 1, NULL, &err), CN_ERR_ARG);
    s.y = y;
    cr_expect_eq(cn_plot_lines(&c, (cn_rect){0, 0, 20, 20}, &o, &s, 1, NULL, &err), CN_ERR_ARG,
                 "a region too small must be refused");
    cr_expect_eq(cn_plot_axes(&c, (cn_rect){0, 0, 100, 60}, &o, NULL, &err), CN_ERR_ARG,
                 "NaN ranges must be refused");
    cr_expect_eq(cn_plot_histogram(&c, (cn_rect){0, 0, 100, 60}, &o, 1, 0, y, 2, RED, &err),
                 CN_ERR_ARG);
    cr_expect_eq(cn_plot_heatmap(&c, (cn_rect){0, 0, 100, 60}, &o, y, 0, 2, 0, 1, NULL, NULL,
                                 NULL, NULL, &err), CN_ERR_ARG);
    cn_real img[4] = {0};
    cr_expect_eq(cn_plot_image_grid(&c, 0, 0, img, 1, 2, 2, 2, 1, 1, 0, 0, NULL, 0, &err),
                 CN_ERR_ARG, "2 channels are refused");
    cr_expect_eq(cn_grid_layout(1, 20000, 1, 1, 1, 0, 0, NULL, NULL), -1);
    uint8_t *b;
    size_t n;
    cr_expect_eq(cn_png_encode(NULL, 1, 1, 3, &b, &n, &err), CN_ERR_ARG);
    cr_expect_eq(cn_png_encode(c.px, 1, 1, 2, &b, &n, &err), CN_ERR_ARG);
    cn_canvas_free(&c);
    cr_expect_eq(cn_canvas_png(&c, &b, &n, &err), CN_ERR_ARG);
}
