/* tests/test_tta.c: test-time augmentation views: the number of views per mode,
 * the exact windows of five-crop (torchvision's order and half-to-even centre),
 * ten-crop as the five crops of the mirrored image, flip views, and errors. */
#include <criterion/criterion.h>

#include <string.h>

#include "convnet/augment.h"

/* An image whose pixel i holds 1 + i. */
static cn_real *marker(int c, int h, int w)
{
    size_t n = (size_t)c * h * w;
    cn_real *x = cn_malloc(n * sizeof *x);
    cr_assert_not_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = (cn_real)(1 + i);
    return x;
}

/* View v (c, oh, ow) equals the window (top, left) of x (c, h, w), mirrored
 * left-right when mirror is set. */
static void assert_window(const cn_real *v, const cn_real *x, int c, int h, int w, int oh,
                          int ow, int top, int left, int mirror)
{
    for (int k = 0; k < c; k++)
        for (int y = 0; y < oh; y++)
            for (int xx = 0; xx < ow; xx++) {
                int sx = mirror ? left + ow - 1 - xx : left + xx;
                cr_assert_eq(v[((size_t)k * oh + y) * ow + xx],
                             x[((size_t)k * h + top + y) * w + sx],
                             "window (%d, %d)%s differs at (%d, %d, %d)", top, left,
                             mirror ? " mirrored" : "", k, y, xx);
            }
}

Test(tta, modes_names_and_view_counts)
{
    static const char *const names[] = {"none", "flip", "five", "ten"};
    static const int views[] = {1, 2, 5, 10};
    for (int m = 0; m < CN_TTA_MODE_COUNT; m++) {
        cn_tta_mode got;
        cr_assert_eq(cn_tta_mode_parse(names[m], &got, NULL), CN_OK);
        cr_assert_eq((int)got, m);
        cr_assert_str_eq(cn_tta_mode_name(got), names[m]);
        cr_assert_eq(cn_tta_num_views(got), views[m]);
    }
    cn_error err;
    cn_tta_mode got;
    cr_assert_eq(cn_tta_mode_parse("tenn", &got, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "tenn"), "%s", err.msg);
    cr_assert_eq(cn_tta_num_views(CN_TTA_MODE_COUNT), 0);
}

Test(tta, five_crop_windows_in_torchvision_order)
{
    int c = 2, h = 10, w = 9, oh = 7, ow = 4;
    cn_real *x = marker(c, h, w);
    size_t view = (size_t)c * oh * ow;
    cn_real *out = cn_malloc(5 * view * sizeof *out);
    cr_assert_eq(cn_tta_views(CN_TTA_FIVE_CROP, x, c, h, w, oh, ow, out, NULL), CN_OK);
    /* centre: round(1.5) = 2, round(2.5) = 2 (half to even, as Python) */
    int tops[5] = {0, 0, 3, 3, 2}, lefts[5] = {0, 5, 0, 5, 2};
    for (int i = 0; i < 5; i++)
        assert_window(out + i * view, x, c, h, w, oh, ow, tops[i], lefts[i], 0);
    cn_free(out);
    cn_free(x);
}

Test(tta, ten_crop_adds_the_crops_of_the_mirror)
{
    int c = 3, h = 8, w = 8, oh = 5, ow = 5;
    cn_real *x = marker(c, h, w);
    size_t view = (size_t)c * oh * ow;
    cn_real *out = cn_malloc(10 * view * sizeof *out);
    cr_assert_eq(cn_tta_views(CN_TTA_TEN_CROP, x, c, h, w, oh, ow, out, NULL), CN_OK);
    /* the mirror's crops, in the order tl, tr, bl, br, centre of the mirror */
    cn_real *mirror = cn_malloc((size_t)c * h * w * sizeof *mirror);
    cn_aug_hflip(x, c, h, w, mirror);
    int ct = 2 /* round(1.5) */, cl = 2;
    int tops[5] = {0, 0, 3, 3, ct}, lefts[5] = {0, 3, 0, 3, cl};
    for (int i = 0; i < 5; i++) {
        assert_window(out + i * view, x, c, h, w, oh, ow, tops[i], lefts[i], 0);
        assert_window(out + (5 + i) * view, mirror, c, h, w, oh, ow, tops[i], lefts[i], 0);
        /* equivalently the image's window at the mirrored position, mirrored */
        assert_window(out + (5 + i) * view, x, c, h, w, oh, ow, tops[i], w - ow - lefts[i], 1);
    }
    cn_free(mirror);
    cn_free(out);
    cn_free(x);
}

Test(tta, flip_and_none_use_the_centre_crop)
{
    int c = 1, h = 6, w = 6;
    cn_real *x = marker(c, h, w);
    cn_real out[2 * 6 * 6]; // (2, 1, <= 6, <= 6)
    cr_assert_eq(cn_tta_views(CN_TTA_FLIP, x, c, h, w, 4, 4, out, NULL), CN_OK);
    assert_window(out, x, c, h, w, 4, 4, 1, 1, 0);
    assert_window(out + 16, x, c, h, w, 4, 4, 1, 1, 1);
    cr_assert_eq(cn_tta_views(CN_TTA_NONE, x, c, h, w, 6, 6, out, NULL), CN_OK);
    cr_assert(memcmp(out, x, 36 * sizeof *x) == 0);
    cn_error err;
    cr_assert_eq(cn_tta_views(CN_TTA_FIVE_CROP, x, c, h, w, 7, 4, out, &err), CN_ERR_SHAPE);
    cr_assert(strstr(err.msg, "7x4"), "%s", err.msg);
    cr_assert_eq(cn_tta_views(CN_TTA_MODE_COUNT, x, c, h, w, 4, 4, out, &err), CN_ERR_ARG);
    cr_assert_eq(cn_tta_views(CN_TTA_FLIP, x, c, h, w, 0, 4, out, &err), CN_ERR_ARG);
    cn_free(x);
}
