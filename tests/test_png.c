/* test_png.c: PNG grids and linear-classifier templates, read back with
 * stb_image (PNG decoder only) and checked for size, layout, rescaling and
 * padding; bad sizes and unwritable paths give the documented errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convnet.h"
#include "support.h"

#define STBI_ONLY_PNG
#define STB_IMAGE_IMPLEMENTATION
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb_image.h>
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

static char tmpdir[256];
static char pathbuf[512];

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(tmpdir, sizeof tmpdir, "png"), 0, "mkdtemp failed");
}

static void teardown(void)
{
    tst_tmpdir_remove(tmpdir);
}

static const char *tmp_path(const char *name)
{
    snprintf(pathbuf, sizeof pathbuf, "%s/%s", tmpdir, name);
    return pathbuf;
}

/* load: decode path; returns pixels (caller frees with stbi_image_free). */
static unsigned char *load(const char *path, int *w, int *h, int *comp)
{
    unsigned char *p = stbi_load(path, w, h, comp, 0);
    cr_assert(p, "%s: %s", path, stbi_failure_reason());
    return p;
}

TestSuite(png, .init = setup, .fini = teardown);

Test(png, grey_grid_layout_and_scaling)
{
    /* 3 tiles (1, 2, 3), 2 columns, pad 1, upscale 2 -> 2 rows:
     * width 2*(3*2) + 1 = 13, height 2*(2*2) + 1 = 9 */
    cn_real img[3 * 6];
    for (int t = 0; t < 3; t++)
        for (int k = 0; k < 6; k++) img[t * 6 + k] = (cn_real)(10 * t + k); /* 0..5 per tile */
    const char *path = tmp_path("a.png");
    cn_error err;
    cr_assert_eq(cn_png_write_grid(path, img, 3, 1, 2, 3, 2, 1, 2, CN_PNG_SCALE_EACH, &err),
                 CN_OK, "%s", err.msg);
    int w, h, comp;
    unsigned char *p = load(path, &w, &h, &comp);
    cr_expect_eq(w, 13);
    cr_expect_eq(h, 9);
    cr_expect_eq(comp, 1);
    for (int t = 0; t < 3; t++) {
        int x0 = (t % 2) * 7, y0 = (t / 2) * 5;
        for (int py = 0; py < 4; py++)
            for (int px = 0; px < 6; px++) {
                int k = (py / 2) * 3 + px / 2;
                int want = (int)(k * 255.0 / 5.0 + 0.5);
                cr_expect_eq(p[(y0 + py) * w + x0 + px], want, "tile %d (%d, %d)", t, py, px);
            }
    }
    /* padding column 6, padding row 4 and the empty fourth cell are black */
    for (int y = 0; y < h; y++) cr_expect_eq(p[y * w + 6], 0);
    for (int x = 0; x < w; x++) cr_expect_eq(p[4 * w + x], 0);
    for (int y = 5; y < 9; y++)
        for (int x = 7; x < 13; x++) cr_expect_eq(p[y * w + x], 0);
    stbi_image_free(p);
}

Test(png, rgb_unit_and_all_scaling)
{
    /* one RGB tile (3, 1, 2) with values outside [0, 1] to clamp */
    cn_real img[6] = {-1, 0.5, 0, 1, 2, 0.25};
    const char *path = tmp_path("b.png");
    cn_error err;
    cr_assert_eq(cn_png_write_grid(path, img, 1, 3, 1, 2, 4, 0, 1, CN_PNG_SCALE_UNIT, &err),
                 CN_OK, "%s", err.msg);
    int w, h, comp;
    unsigned char *p = load(path, &w, &h, &comp);
    cr_expect_eq(w, 2, "a single tile uses one column");
    cr_expect_eq(h, 1);
    cr_expect_eq(comp, 3);
    /* pixel 0: (R, G, B) = (-1, 0, 2) -> (0, 0, 255); pixel 1: (0.5, 1, 0.25) */
    unsigned char want[6] = {0, 0, 255, 128, 255, 64};
    for (int k = 0; k < 6; k++) cr_expect_eq(p[k], want[k], "byte %d: %d", k, p[k]);
    stbi_image_free(p);

    /* ALL: one range over both tiles: tile 0 is 0..1, tile 1 is 2..3 */
    cn_real two[4] = {0, 1, 2, 3};
    cr_assert_eq(cn_png_write_grid(path, two, 2, 1, 1, 2, 2, 0, 1, CN_PNG_SCALE_ALL, &err),
                 CN_OK);
    p = load(path, &w, &h, &comp);
    cr_expect_eq(w, 4);
    unsigned char want2[4] = {0, 85, 170, 255};
    for (int k = 0; k < 4; k++) cr_expect_eq(p[k], want2[k], "byte %d: %d", k, p[k]);
    stbi_image_free(p);
}

Test(png, constant_and_nan_tiles_are_black)
{
    cn_real img[4] = {7, 7, 7, (cn_real)NAN};
    const char *path = tmp_path("c.png");
    cn_error err;
    cr_assert_eq(cn_png_write_grid(path, img, 1, 1, 2, 2, 1, 0, 1, CN_PNG_SCALE_EACH, &err),
                 CN_OK);
    int w, h, comp;
    unsigned char *p = load(path, &w, &h, &comp);
    for (int k = 0; k < 4; k++) cr_expect_eq(p[k], 0);
    stbi_image_free(p);
}

Test(png, bad_sizes)
{
    cn_real img[16] = {0};
    const char *path = tmp_path("big.png");
    cn_error err;
    cr_expect_eq(cn_png_write_grid(path, img, 1, 2, 2, 2, 1, 0, 1, CN_PNG_SCALE_EACH, &err),
                 CN_ERR_ARG, "c = 2");
    cr_expect_eq(cn_png_write_grid(path, img, 0, 1, 2, 2, 1, 0, 1, CN_PNG_SCALE_EACH, &err),
                 CN_ERR_ARG, "n = 0");
    cr_expect_eq(cn_png_write_grid(path, img, 1, 1, 2, 2, 0, 0, 1, CN_PNG_SCALE_EACH, &err),
                 CN_ERR_ARG, "ncols = 0");
    cr_expect_eq(cn_png_write_grid(path, img, 1, 1, 2, 2, 1, -1, 1, CN_PNG_SCALE_EACH, &err),
                 CN_ERR_ARG, "pad < 0");
    cr_expect_eq(cn_png_write_grid(path, img, 1, 1, 2, 2, 1, 0, 0, CN_PNG_SCALE_EACH, &err),
                 CN_ERR_ARG, "upscale 0");
    cr_expect_eq(cn_png_write_grid(path, img, 1, 1, 2, 2, 1, 0, 1, (cn_png_scale)9, &err),
                 CN_ERR_ARG, "scale 9");
    cr_expect_eq(cn_png_write_grid(path, img, 4, 1, 2, 2, 4, 0, 4097, CN_PNG_SCALE_EACH, &err),
                 CN_ERR_RANGE, "16392 pixels wide");
    cr_expect_eq(cn_png_write_grid(path, img, 1, 1, 2, 2, 1, 0, 2000000000, CN_PNG_SCALE_EACH,
                                   &err),
                 CN_ERR_RANGE, "no int overflow in the size check");
    cr_expect_neq(access(path, F_OK), 0, "nothing written");
}

Test(png, unwritable_path_is_io_error)
{
    cn_real img[4] = {0, 1, 2, 3};
    cn_error err;
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.png", tmpdir);
    cr_expect_eq(cn_png_write_grid(missing, img, 1, 1, 2, 2, 1, 0, 1, CN_PNG_SCALE_EACH, &err),
                 CN_ERR_IO);
    cr_expect(strstr(err.msg, "x.png"), "message names the file: %s", err.msg);
    /* a directory is not a writable file */
    cr_expect_eq(cn_png_write_grid(tmpdir, img, 1, 1, 2, 2, 1, 0, 1, CN_PNG_SCALE_EACH, &err),
                 CN_ERR_IO);
}

Test(png, linear_templates)
{
    /* 7 classes of (1, 3, 2) images: 5 columns, 2 rows, upscale 4, pad 2:
     * width 5*8 + 4*2 = 48, height 2*12 + 2 = 26 */
    enum { d = 6, c = 7 };
    cn_error err;
    cn_linear *m = cn_linear_new(CN_LINEAR_SOFTMAX, d, c, 0, NULL, &err);
    cr_assert(m);
    /* class j: W[k][j] = k for even j, -k for odd j (reversed ramp) */
    for (int k = 0; k < d; k++)
        for (int j = 0; j < c; j++) m->W[k * c + j] = (cn_real)(j % 2 ? -k : k);
    const char *path = tmp_path("t.png");
    cr_assert_eq(cn_linear_templates_png(m, 1, 3, 2, path, &err), CN_OK, "%s", err.msg);
    int w, h, comp;
    unsigned char *p = load(path, &w, &h, &comp);
    cr_expect_eq(w, 48);
    cr_expect_eq(h, 26);
    cr_expect_eq(comp, 1);
    for (int j = 0; j < c; j++) {
        int x0 = (j % 5) * 10, y0 = (j / 5) * 14;
        for (int k = 0; k < d; k++) {
            int ky = k / 2, kx = k % 2;
            int want = (int)((j % 2 ? 5 - k : k) * 255.0 / 5.0 + 0.5);
            /* the centre of the upscaled pixel */
            cr_expect_eq(p[(y0 + ky * 4 + 1) * w + x0 + kx * 4 + 2], want, "class %d k %d", j,
                         k);
        }
    }
    stbi_image_free(p);
    cr_expect_eq(cn_linear_templates_png(m, 1, 2, 2, path, &err), CN_ERR_SHAPE);
    cr_expect_eq(cn_linear_templates_png(m, 2, 3, 1, path, &err), CN_ERR_ARG,
                 "2 channels cannot be a PNG");
    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing/t.png", tmpdir);
    cr_expect_eq(cn_linear_templates_png(m, 1, 3, 2, missing, &err), CN_ERR_IO);
    cn_linear_free(m);
}
