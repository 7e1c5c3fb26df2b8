/* tests/test_augment.c: data augmentation: the spec parser (errors with column
 * and nearest step name, canonical round trip) and properties of every step:
 * flips are involutions, crops have the requested size and take every pixel
 * from the padded image, random resized crop and erasing respect their scale and
 * ratio bounds, zero-strength jitter, hue 0, a full hue turn and rotation 0 are
 * the identity, PCA lighting is fitted correctly, seeds reproduce, and the
 * cn_sample_transform adapter runs the same pipeline. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "convnet/augment.h"
#include "support.h"

extern char **environ;

#ifdef CN_DOUBLE
#define TOL 1e-12
#else
#define TOL 2e-6
#endif

TestSuite(spec);
TestSuite(geom);
TestSuite(color);
TestSuite(pipeline);
TestSuite(cli);

/* ------------------------------------------------------------------ helpers */

/* An image whose pixel i holds 1 + i (every value distinct and non-zero). */
static cn_real *marker(int c, int h, int w)
{
    size_t n = (size_t)c * h * w;
    cn_real *x = cn_malloc(n * sizeof *x);
    cr_assert_not_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = (cn_real)(1 + i);
    return x;
}

/* Random pixels in [0, 1). */
static cn_real *random_image(int c, int h, int w, uint64_t seed)
{
    size_t n = (size_t)c * h * w;
    cn_real *x = cn_malloc(n * sizeof *x);
    cr_assert_not_null(x);
    cn_rng r;
    cn_rng_seed(&r, seed, 7);
    for (size_t i = 0; i < n; i++)
        x[i] = (cn_real)cn_rng_uniform(&r);
    return x;
}

static cn_real *alloc_img(int c, int h, int w)
{
    cn_real *x = cn_calloc((size_t)c * h * w, sizeof *x);
    cr_assert_not_null(x);
    return x;
}

static int same(const cn_real *a, const cn_real *b, size_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

static double max_diff(const cn_real *a, const cn_real *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

static void parse_ok(const char *spec, cn_augment *a)
{
    cn_error err;
    cn_error_clear(&err);
    cr_assert_eq(cn_augment_parse(spec, a, &err), CN_OK, "%s: %s", spec, err.msg);
}

/* Parse must fail with CN_ERR_ARG and a message containing each of want[]. */
static void parse_bad(const char *spec, const char *want1, const char *want2)
{
    cn_augment a;
    cn_error err;
    cn_error_clear(&err);
    cr_assert_eq(cn_augment_parse(spec, &a, &err), CN_ERR_ARG, "'%s' should fail", spec);
    cr_assert(strstr(err.msg, want1), "'%s': message '%s' lacks '%s'", spec, err.msg, want1);
    if (want2)
        cr_assert(strstr(err.msg, want2), "'%s': message '%s' lacks '%s'", spec, err.msg,
                  want2);
}

/* ------------------------------------------------------------------ the spec */

Test(spec, parses_steps_and_defaults)
{
    cn_augment a;
    parse_ok("hflip,crop=32:4,jitter=0.4:0.4:0.4:0.1,erase=0.5", &a);
    cr_assert_eq(a.nsteps, 4);
    cr_assert_eq(a.steps[0].kind, CN_AUG_HFLIP);
    cr_assert_float_eq(a.steps[0].p, 0.5, 1e-15);
    cr_assert_eq(a.steps[1].kind, CN_AUG_CROP);
    cr_assert_eq(a.steps[1].out_h, 32);
    cr_assert_eq(a.steps[1].out_w, 32);
    cr_assert_eq(a.steps[1].pad, 4);
    cr_assert_eq(a.steps[2].kind, CN_AUG_JITTER);
    cr_assert_float_eq(a.steps[2].hue, 0.1, 1e-15);
    cr_assert_eq(a.steps[3].kind, CN_AUG_ERASE);
    cr_assert_float_eq(a.steps[3].scale_lo, 0.02, 1e-15);
    cr_assert_float_eq(a.steps[3].ratio_hi, 3.3, 1e-15);
    parse_ok("rcrop=24x20", &a);
    cr_assert_eq(a.steps[0].out_h, 24);
    cr_assert_eq(a.steps[0].out_w, 20);
    cr_assert_float_eq(a.steps[0].scale_lo, 0.08, 1e-15);
    cr_assert_float_eq(a.steps[0].ratio_hi, 4.0 / 3.0, 1e-15);
    parse_ok(" hflip , vflip=0.25 ", &a);
    cr_assert_eq(a.nsteps, 2);
    cr_assert_float_eq(a.steps[1].p, 0.25, 1e-15);
    parse_ok("", &a);
    cr_assert_eq(a.nsteps, 0);
    parse_ok("none", &a);
    cr_assert_eq(a.nsteps, 0);
}

Test(spec, canonical_format_round_trips)
{
    const char *specs[] = {"hflip,crop=32:4,jitter=0.4:0.4:0.4:0.1,erase=0.5",
                           "vflip=0.3,rcrop=24x20:0.5:1:0.5:2,rotate=15:0.1,lighting",
                           "cutout=8,noise=0.05:0.5,erase=1:0.1:0.2:0.5:2:0.5", "none"};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        cn_augment a, b;
        char buf[512], buf2[512];
        parse_ok(specs[i], &a);
        int n = cn_augment_format(&a, buf, sizeof buf);
        cr_assert_lt(n, (int)sizeof buf);
        parse_ok(buf, &b);
        cr_assert_eq(a.nsteps, b.nsteps);
        cr_assert(memcmp(a.steps, b.steps, sizeof a.steps) == 0, "%s -> %s", specs[i], buf);
        cn_augment_format(&b, buf2, sizeof buf2);
        cr_assert_str_eq(buf, buf2);
    }
    cn_augment a;
    char small[8];
    parse_ok("hflip,vflip", &a);
    int need = cn_augment_format(&a, small, sizeof small);
    cr_assert_eq(need, (int)strlen("hflip=0.5,vflip=0.5"));
    cr_assert_eq(strlen(small), sizeof small - 1);
}

Test(spec, errors_name_column_and_nearest_step)
{
    parse_bad("hflip,hfilp", "col 7", "did you mean 'hflip'");
    parse_bad("crop=32:4,jiter=0.4", "col 11", "did you mean 'jitter'");
    parse_bad("rotat=10", "col 1", "'rotate'");
    parse_bad("crop=32:x", "col 9", "PAD");
    parse_bad("crop=32:4.5", "col 9", "whole number");
    parse_bad("crop", "col 5", "needs SIZE");
    parse_bad("crop=3x", "col 6", "HxW");
    parse_bad("hflip=2", "col 7", "out of range");
    parse_bad("hflip=0.5:1", "col 11", "at most 1 argument");
    parse_bad("hflip,", "col 7", "expected a step name");
    parse_bad("hflip,,vflip", "col 7", "expected a step name");
    parse_bad("hflip;vflip", "col 6", "unexpected ';'");
    parse_bad("rcrop=24:0.9:0.5", "col 1", "SMIN 0.9 is above SMAX 0.5");
    parse_bad("erase=0.5:0.1:0.2:3:1", "col 1", "RMIN");
    parse_bad("rcrop=24:0", "col 10", "(0, 1]");
    parse_bad("noise=nan", "col 7", "finite");
    parse_bad("jitter=0.1:0.1:0.1:0.6", "col 20", "out of range");
    parse_bad("crop=0", "col 6", "out of range");
    parse_bad("hflip=", "col 7", "missing value");
    char many[256] = "";
    for (int i = 0; i <= CN_AUG_MAX_STEPS; i++)
        strcat(many, i ? ",hflip" : "hflip");
    parse_bad(many, "more than 16 steps", NULL);
}

/* ------------------------------------------------------------------ geometry */

Test(geom, flips_twice_are_identity)
{
    int c = 3, h = 5, w = 7;
    size_t n = (size_t)c * h * w;
    cn_real *x = random_image(c, h, w, 1), *y = alloc_img(c, h, w), *z = alloc_img(c, h, w);
    cn_aug_hflip(x, c, h, w, y);
    cr_assert(!same(x, y, n));
    cr_assert_eq(y[0], x[w - 1]);
    cn_aug_hflip(y, c, h, w, z);
    cr_assert(same(x, z, n));
    cn_aug_vflip(x, c, h, w, y);
    cr_assert(!same(x, y, n));
    cr_assert_eq(y[0], x[(size_t)(h - 1) * w]);
    cn_aug_vflip(y, c, h, w, z);
    cr_assert(same(x, z, n));
    /* through the pipeline: p = 1 always flips, p = 0 never */
    cn_augment a;
    cn_rng r;
    cn_rng_seed(&r, 3, 0);
    parse_ok("hflip=1,hflip=1,vflip=1,vflip=1", &a);
    cr_assert_eq(cn_augment_apply(&a, x, c, h, w, z, NULL, &r, NULL), CN_OK);
    cr_assert(same(x, z, n));
    parse_ok("hflip=0,vflip=0", &a);
    cr_assert_eq(cn_augment_apply(&a, x, c, h, w, z, NULL, &r, NULL), CN_OK);
    cr_assert(same(x, z, n));
    cn_free(x);
    cn_free(y);
    cn_free(z);
}

Test(geom, crop_has_size_and_pixels_from_padded_image)
{
    int c = 2, h = 8, w = 9, pad = 3, oh = 5, ow = 7;
    cn_real *x = marker(c, h, w), *y = alloc_img(c, oh, ow), *ref = alloc_img(c, oh, ow);
    cn_augment a;
    parse_ok("crop=5x7:3", &a);
    int rh, rw;
    cr_assert_eq(cn_augment_out_shape(&a, c, h, w, &rh, &rw, NULL), CN_OK);
    cr_assert_eq(rh, oh);
    cr_assert_eq(rw, ow);
    int nt = h + 2 * pad - oh + 1, nl = w + 2 * pad - ow + 1;
    int seen[16][16] = {{0}};
    cn_rng r;
    cn_rng_seed(&r, 11, 0);
    for (int it = 0; it < 600; it++) {
        cr_assert_eq(cn_augment_apply(&a, x, c, h, w, y, NULL, &r, NULL), CN_OK);
        /* every pixel is 0 (padding) or a marker; all markers share one offset */
        int found = 0;
        for (int t = 0; t < nt; t++)
            for (int l = 0; l < nl; l++) {
                int ok = 1;
                for (int k = 0; k < c && ok; k++)
                    for (int yy = 0; yy < oh && ok; yy++)
                        for (int xx = 0; xx < ow && ok; xx++) {
                            int sy = t + yy - pad, sx = l + xx - pad;
                            cn_real want = (sy >= 0 && sy < h && sx >= 0 && sx < w)
                                               ? x[((size_t)k * h + sy) * w + sx]
                                               : 0;
                            ok = y[((size_t)k * oh + yy) * ow + xx] == want;
                        }
                if (ok) {
                    found++;
                    seen[t][l]++;
                }
            }
        cr_assert_eq(found, 1, "crop matches %d windows of the padded image", found);
    }
    for (int t = 0; t < nt; t++)
        for (int l = 0; l < nl; l++)
            cr_assert_gt(seen[t][l], 0, "window (%d, %d) never drawn", t, l);
    /* the deterministic crop at (pad, pad) without padding outside is the image */
    cn_aug_crop(x, c, h, w, pad, pad, pad, ref, oh, ow);
    cr_assert_eq(ref[0], x[0]);
    cn_free(x);
    cn_free(y);
    cn_free(ref);
}

Test(geom, crop_larger_than_padded_image_is_a_shape_error)
{
    cn_augment a;
    cn_error err;
    int oh, ow;
    parse_ok("crop=40:4", &a);
    cr_assert_eq(cn_augment_out_shape(&a, 3, 32, 32, &oh, &ow, &err), CN_OK);
    cr_assert_eq(cn_augment_out_shape(&a, 3, 32, 31, &oh, &ow, &err), CN_ERR_SHAPE);
    cr_assert(strstr(err.msg, "crop"), "%s", err.msg);
    cr_assert_eq(cn_augment_out_shape(&a, 3, 31, 32, NULL, NULL, NULL), CN_ERR_SHAPE);
    parse_ok("crop=40", &a);
    cr_assert_eq(cn_augment_out_shape(&a, 1, 40, 40, &oh, &ow, &err), CN_OK);
    cr_assert_eq(cn_augment_out_shape(&a, 0, 40, 40, &oh, &ow, &err), CN_ERR_ARG);
}

/* Does some (side_w, side_h) within half a pixel of (cw, ch) have an area
 * fraction in [s0, s1] and a ratio in [r0, r1]? (sides are rounded) */
static int window_fits_bounds(int ch, int cw, double area, double s0, double s1, double r0,
                              double r1, int ratio_h_over_w)
{
    double amin = (ch - 0.5) * (cw - 0.5) / area, amax = (ch + 0.5) * (cw + 0.5) / area;
    double num_lo = ratio_h_over_w ? ch - 0.5 : cw - 0.5;
    double num_hi = ratio_h_over_w ? ch + 0.5 : cw + 0.5;
    double den_lo = ratio_h_over_w ? cw - 0.5 : ch - 0.5;
    double den_hi = ratio_h_over_w ? cw + 0.5 : ch + 0.5;
    double rmin = num_lo / den_hi, rmax = num_hi / den_lo;
    return amax >= s0 - 1e-12 && amin <= s1 + 1e-12 && rmax >= r0 - 1e-12 &&
           rmin <= r1 + 1e-12;
}

Test(geom, random_resized_crop_respects_scale_and_ratio)
{
    int h = 40, w = 50;
    double s0 = 0.2, s1 = 0.6, r0 = 0.5, r1 = 2.0;
    cn_rng r;
    cn_rng_seed(&r, 5, 0);
    double amin = 1, amax = 0;
    for (int it = 0; it < 2000; it++) {
        int t, l, ch, cw;
        cn_aug_rcrop_params(&r, h, w, s0, s1, r0, r1, &t, &l, &ch, &cw);
        cr_assert(ch >= 1 && cw >= 1 && t >= 0 && l >= 0 && t + ch <= h && l + cw <= w);
        cr_assert(window_fits_bounds(ch, cw, (double)h * w, s0, s1, r0, r1, 0),
                  "window %dx%d outside the bounds", ch, cw);
        double a = (double)ch * cw / (h * w);
        amin = fmin(amin, a);
        amax = fmax(amax, a);
    }
    cr_assert_lt(amin, 0.25);
    cr_assert_gt(amax, 0.55);
    /* no draw can fit: the central crop clamped to the ratio range */
    int t, l, ch, cw;
    cn_aug_rcrop_params(&r, 16, 64, 0.9, 1.0, 0.75, 4.0 / 3.0, &t, &l, &ch, &cw);
    cr_assert_eq(ch, 16);
    cr_assert_eq(cw, 21);
    cr_assert_eq(t, 0);
    cr_assert_eq(l, (64 - 21) / 2);
    /* the pipeline step: requested size, values within the input's range */
    cn_augment aug;
    parse_ok("rcrop=12x10:0.1:1", &aug);
    cn_real *x = random_image(3, h, w, 2), *y = alloc_img(3, 12, 10);
    cr_assert_eq(cn_augment_apply(&aug, x, 3, h, w, y, NULL, &r, NULL), CN_OK);
    for (int i = 0; i < 3 * 12 * 10; i++)
        cr_assert(y[i] >= 0 && y[i] <= 1);
    cn_free(x);
    cn_free(y);
}

Test(geom, resize_of_the_whole_image_to_its_size_is_identity)
{
    cn_real *x = random_image(2, 6, 9, 4), *y = alloc_img(2, 6, 9);
    cn_aug_resize(x, 2, 6, 9, 0, 0, 6, 9, y, 6, 9);
    cr_assert(same(x, y, 2 * 6 * 9));
    /* 2x upsampling of a constant is the constant; of a window picks the window */
    cn_real *z = alloc_img(2, 4, 4);
    cn_aug_resize(x, 2, 6, 9, 3, 5, 1, 1, z, 4, 4);
    for (int i = 0; i < 16; i++)
        cr_assert_float_eq(z[i], x[3 * 9 + 5], TOL);
    cn_free(x);
    cn_free(y);
    cn_free(z);
}

Test(geom, rotation_zero_is_identity_and_ninety_permutes)
{
    int c = 2, h = 6, w = 6;
    size_t n = (size_t)c * h * w;
    cn_real *x = random_image(c, h, w, 9), *y = alloc_img(c, h, w);
    cn_aug_affine(x, c, h, w, 0, 0, 0, y);
    cr_assert(same(x, y, n));
    cn_augment a;
    cn_rng r;
    cn_rng_seed(&r, 1, 0);
    parse_ok("rotate=0", &a);
    cr_assert_eq(cn_augment_apply(&a, x, c, h, w, y, NULL, &r, NULL), CN_OK);
    cr_assert(same(x, y, n));
    /* 90 degrees counter-clockwise: out[y][x] = in[x][w - 1 - y] */
    cn_aug_affine(x, c, h, w, 90, 0, 0, y);
    for (int k = 0; k < c; k++)
        for (int yy = 0; yy < h; yy++)
            for (int xx = 0; xx < w; xx++)
                cr_assert_float_eq(y[((size_t)k * h + yy) * w + xx],
                                   x[((size_t)k * h + xx) * w + (w - 1 - yy)], 1e-5);
    /* translation by (2, 1): out[y][x] = in[y - 1][x - 2], 0 outside */
    cn_aug_affine(x, c, h, w, 0, 2, 1, y);
    for (int k = 0; k < c; k++)
        for (int yy = 0; yy < h; yy++)
            for (int xx = 0; xx < w; xx++) {
                double want = (yy >= 1 && xx >= 2) ? x[((size_t)k * h + yy - 1) * w + xx - 2]
                                                   : 0.0;
                cr_assert_float_eq(y[((size_t)k * h + yy) * w + xx], want, TOL);
            }
    cn_free(x);
    cn_free(y);
}

/* ------------------------------------------------------------------ colour */

Test(color, zero_strength_jitter_is_identity)
{
    int c = 3, h = 7, w = 5;
    size_t n = (size_t)c * h * w;
    cn_real *x = random_image(c, h, w, 3), *y = alloc_img(c, h, w);
    cn_augment a;
    cn_rng r;
    cn_rng_seed(&r, 2, 0);
    parse_ok("jitter=0:0:0:0", &a);
    for (int it = 0; it < 5; it++) {
        cr_assert_eq(cn_augment_apply(&a, x, c, h, w, y, NULL, &r, NULL), CN_OK);
        cr_assert(same(x, y, n));
    }
    cn_free(x);
    cn_free(y);
}

Test(color, brightness_factor_is_within_its_range)
{
    int c = 3, h = 4, w = 4;
    size_t n = (size_t)c * h * w;
    cn_real *x = random_image(c, h, w, 6), *y = alloc_img(c, h, w);
    for (size_t i = 0; i < n; i++)
        x[i] = (cn_real)(0.1 + 0.5 * x[i]); /* no clamping for factors <= 1.6 */
    cn_rng r;
    cn_rng_seed(&r, 8, 0);
    double fmin_ = 9, fmax_ = 0;
    for (int it = 0; it < 400; it++) {
        memcpy(y, x, n * sizeof *y);
        cn_aug_color_jitter(y, c, h, w, 0.4, 0, 0, 0, &r);
        double f = y[0] / x[0];
        for (size_t i = 0; i < n; i++)
            cr_assert_float_eq(y[i], f * x[i], 1e-5);
        fmin_ = fmin(fmin_, f);
        fmax_ = fmax(fmax_, f);
    }
    cr_assert(fmin_ >= 0.6 - 1e-6 && fmin_ < 0.65, "min factor %g", fmin_);
    cr_assert(fmax_ <= 1.4 + 1e-6 && fmax_ > 1.35, "max factor %g", fmax_);
    cn_free(x);
    cn_free(y);
}

Test(color, contrast_and_saturation_zero_give_grey)
{
    int c = 3, h = 3, w = 4;
    size_t hw = (size_t)h * w;
    cn_real *x = random_image(c, h, w, 10), *y = alloc_img(c, h, w);
    memcpy(y, x, 3 * hw * sizeof *y);
    cn_aug_adjust_saturation(y, c, h, w, 0);
    for (size_t i = 0; i < hw; i++) {
        double g = 0.2989 * x[i] + 0.587 * x[hw + i] + 0.114 * x[2 * hw + i];
        for (int k = 0; k < 3; k++)
            cr_assert_float_eq(y[k * hw + i], g, 1e-5);
    }
    memcpy(y, x, 3 * hw * sizeof *y);
    cn_aug_adjust_contrast(y, c, h, w, 0);
    double mean = 0;
    for (size_t i = 0; i < hw; i++)
        mean += 0.2989 * x[i] + 0.587 * x[hw + i] + 0.114 * x[2 * hw + i];
    mean /= (double)hw;
    for (size_t i = 0; i < 3 * hw; i++)
        cr_assert_float_eq(y[i], mean, 1e-5);
    /* saturation on a grey (1-channel) image is the identity */
    memcpy(y, x, hw * sizeof *y);
    cn_aug_adjust_saturation(y, 1, h, w, 0);
    cn_aug_adjust_hue(y, 1, h, w, 0.3);
    cr_assert(same(x, y, hw));
    cn_free(x);
    cn_free(y);
}

Test(color, hue_zero_and_full_turn_are_identity)
{
    int c = 3, h = 8, w = 8;
    size_t n = (size_t)c * h * w;
    cn_real *x = random_image(c, h, w, 12), *y = alloc_img(c, h, w);
    memcpy(y, x, n * sizeof *y);
    cn_aug_adjust_hue(y, c, h, w, 0);
    cr_assert_lt(max_diff(x, y, n), TOL * 4);
    memcpy(y, x, n * sizeof *y);
    cn_aug_adjust_hue(y, c, h, w, 1.0);
    cr_assert_lt(max_diff(x, y, n), TOL * 4);
    memcpy(y, x, n * sizeof *y);
    cn_aug_adjust_hue(y, c, h, w, -2.0);
    cr_assert_lt(max_diff(x, y, n), TOL * 4);
    /* a third of a turn takes pure red to pure green, half a turn to cyan */
    cn_real px[3] = {1, 0, 0};
    cn_aug_adjust_hue(px, 3, 1, 1, 1.0 / 3.0);
    cr_assert_float_eq(px[0], 0, TOL);
    cr_assert_float_eq(px[1], 1, TOL);
    cr_assert_float_eq(px[2], 0, TOL);
    cn_real py[3] = {0.8f, 0.2f, 0.2f};
    cn_aug_adjust_hue(py, 3, 1, 1, 0.5);
    cr_assert_float_eq(py[0], 0.2, 1e-6);
    cr_assert_float_eq(py[1], 0.8, 1e-6);
    cr_assert_float_eq(py[2], 0.8, 1e-6);
    cn_free(x);
    cn_free(y);
}

Test(color, lighting_fit_gives_the_covariance_eigendecomposition)
{
    int n = 6, c = 3, h = 5, w = 5;
    size_t hw = (size_t)h * w;
    cn_real *x = alloc_img(n, c * h, w);
    cn_rng r;
    cn_rng_seed(&r, 21, 0);
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < hw; j++) { /* correlated channels */
            double a = cn_rng_uniform(&r), b = cn_rng_uniform(&r), d = cn_rng_uniform(&r);
            cn_real *p = x + (size_t)i * c * hw;
            p[j] = (cn_real)(0.6 * a + 0.1 * b);
            p[hw + j] = (cn_real)(0.5 * a + 0.3 * d);
            p[2 * hw + j] = (cn_real)(0.2 * a + 0.4 * b + 0.1 * d);
        }
    cn_augment aug;
    parse_ok("lighting=0.1", &aug);
    int oh, ow;
    cn_error err;
    cr_assert_eq(cn_augment_out_shape(&aug, c, h, w, &oh, &ow, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "not fitted"), "%s", err.msg);
    cr_assert_eq(cn_augment_fit_lighting(&aug, x, n, c, h, w, &err), CN_OK, "%s", err.msg);
    /* reference covariance */
    double mean[3] = {0}, cov[9] = {0};
    size_t np = (size_t)n * hw;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            for (size_t j = 0; j < hw; j++)
                mean[k] += x[((size_t)i * c + k) * hw + j];
    for (int k = 0; k < 3; k++)
        mean[k] /= (double)np;
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < hw; j++)
            for (int p = 0; p < 3; p++)
                for (int q = 0; q < 3; q++)
                    cov[p * 3 + q] += (x[((size_t)i * c + p) * hw + j] - mean[p]) *
                                      (x[((size_t)i * c + q) * hw + j] - mean[q]);
    for (int k = 0; k < 9; k++)
        cov[k] /= (double)np;
    const double *V = aug.light_eigvec, *L = aug.light_eigval;
    cr_assert(L[0] >= L[1] && L[1] >= L[2] && L[2] >= -1e-12);
    for (int p = 0; p < 3; p++)
        for (int q = 0; q < 3; q++) {
            double vtv = 0, rec = 0;
            for (int k = 0; k < 3; k++) {
                vtv += V[k * 3 + p] * V[k * 3 + q];
                rec += V[p * 3 + k] * L[k] * V[q * 3 + k];
            }
            cr_assert_float_eq(vtv, p == q ? 1.0 : 0.0, 1e-10);
            cr_assert_float_eq(rec, cov[p * 3 + q], 1e-7);
        }
    /* the noise is one constant offset per channel */
    cr_assert_eq(cn_augment_out_shape(&aug, c, h, w, &oh, &ow, &err), CN_OK);
    cn_real *y = alloc_img(c, h, w);
    cr_assert_eq(cn_augment_apply(&aug, x, c, h, w, y, NULL, &r, &err), CN_OK);
    int moved = 0;
    for (int k = 0; k < 3; k++) {
        double off = y[k * hw] - x[k * hw];
        moved |= fabs(off) > 1e-7;
        for (size_t j = 0; j < hw; j++)
            cr_assert_float_eq(y[k * hw + j] - x[k * hw + j], off, 1e-5);
    }
    cr_assert(moved);
    /* std 0 changes nothing; a grey fit is the variance; wrong channels fail */
    parse_ok("lighting=0", &aug);
    cr_assert_eq(cn_augment_fit_lighting(&aug, x, n, c, h, w, &err), CN_OK);
    cr_assert_eq(cn_augment_apply(&aug, x, c, h, w, y, NULL, &r, &err), CN_OK);
    cr_assert(same(x, y, (size_t)c * hw));
    cr_assert_eq(cn_augment_fit_lighting(&aug, x, n * 3, 1, h, w, &err), CN_OK);
    cr_assert_eq(aug.light_eigvec[0], 1.0);
    cr_assert_gt(aug.light_eigval[0], 0);
    cr_assert_eq(cn_augment_out_shape(&aug, 3, h, w, &oh, &ow, &err), CN_ERR_SHAPE);
    cr_assert_eq(cn_augment_fit_lighting(&aug, x, n, 2, h, w, &err), CN_ERR_SHAPE);
    x[3] = (cn_real)NAN;
    cr_assert_eq(cn_augment_fit_lighting(&aug, x, n, c, h, w, &err), CN_ERR_NUMERIC);
    cn_free(x);
    cn_free(y);
}

/* ------------------------------------------------------------------ erasing, cutout, noise */

Test(pipeline, erasing_covers_an_area_within_bounds)
{
    int h = 30, w = 40;
    double s0 = 0.05, s1 = 0.25, r0 = 0.5, r1 = 2.0;
    cn_rng r;
    cn_rng_seed(&r, 13, 0);
    for (int it = 0; it < 2000; it++) {
        int t, l, eh, ew;
        if (!cn_aug_erase_params(&r, h, w, s0, s1, r0, r1, &t, &l, &eh, &ew))
            continue;
        cr_assert(eh < h && ew < w && t >= 0 && l >= 0 && t + eh <= h && l + ew <= w);
        cr_assert(window_fits_bounds(eh, ew, (double)h * w, s0, s1, r0, r1, 1),
                  "erased %dx%d outside the bounds", eh, ew);
    }
    /* through the pipeline on an all-ones image: the zeros form one rectangle */
    cn_augment a;
    parse_ok("erase=1:0.05:0.25:0.5:2", &a);
    cn_real *x = alloc_img(1, h, w), *y = alloc_img(1, h, w);
    for (int i = 0; i < h * w; i++)
        x[i] = 1;
    int erased_runs = 0;
    for (int it = 0; it < 50; it++) {
        cr_assert_eq(cn_augment_apply(&a, x, 1, h, w, y, NULL, &r, NULL), CN_OK);
        int y0 = h, y1 = -1, x0 = w, x1 = -1, zeros = 0;
        for (int yy = 0; yy < h; yy++)
            for (int xx = 0; xx < w; xx++)
                if (y[yy * w + xx] == 0) {
                    zeros++;
                    y0 = yy < y0 ? yy : y0;
                    y1 = yy > y1 ? yy : y1;
                    x0 = xx < x0 ? xx : x0;
                    x1 = xx > x1 ? xx : x1;
                }
        if (zeros == 0)
            continue;
        erased_runs++;
        int eh = y1 - y0 + 1, ew = x1 - x0 + 1;
        cr_assert_eq(zeros, eh * ew, "erased pixels are not one rectangle");
        cr_assert(window_fits_bounds(eh, ew, (double)h * w, s0, s1, r0, r1, 1));
    }
    cr_assert_gt(erased_runs, 40);
    /* p = 0 never erases */
    parse_ok("erase=0", &a);
    cr_assert_eq(cn_augment_apply(&a, x, 1, h, w, y, NULL, &r, NULL), CN_OK);
    cr_assert(same(x, y, (size_t)h * w));
    cn_free(x);
    cn_free(y);
}

Test(pipeline, cutout_and_noise)
{
    int h = 12, w = 12;
    cn_real *x = alloc_img(1, h, w), *y = alloc_img(1, h, w);
    for (int i = 0; i < h * w; i++)
        x[i] = 1;
    cn_augment a;
    cn_rng r;
    cn_rng_seed(&r, 17, 0);
    parse_ok("cutout=4", &a);
    for (int it = 0; it < 100; it++) {
        cr_assert_eq(cn_augment_apply(&a, x, 1, h, w, y, NULL, &r, NULL), CN_OK);
        int zeros = 0;
        for (int i = 0; i < h * w; i++)
            zeros += y[i] == 0;
        cr_assert(zeros >= 4 && zeros <= 16, "cutout of %d pixels", zeros);
    }
    parse_ok("noise=0", &a);
    cr_assert_eq(cn_augment_apply(&a, x, 1, h, w, y, NULL, &r, NULL), CN_OK);
    cr_assert(same(x, y, (size_t)h * w));
    /* noise std: sample std of 100x100 draws within 5% */
    int big = 100;
    cn_real *z = alloc_img(1, big, big), *o = alloc_img(1, big, big);
    parse_ok("noise=0.1", &a);
    cr_assert_eq(cn_augment_apply(&a, z, 1, big, big, o, NULL, &r, NULL), CN_OK);
    double s = 0, s2 = 0;
    for (int i = 0; i < big * big; i++) {
        s += o[i];
        s2 += (double)o[i] * o[i];
    }
    double m = s / (big * big), sd = sqrt(s2 / (big * big) - m * m);
    cr_assert(fabs(sd - 0.1) < 0.005, "noise std %g", sd);
    cr_assert(fabs(m) < 0.005, "noise mean %g", m);
    cn_free(x);
    cn_free(y);
    cn_free(z);
    cn_free(o);
}

/* ------------------------------------------------------------------ the pipeline */

#define FULL "hflip,vflip=0.3,crop=20:2,rotate=10:0.1,jitter=0.4:0.4:0.4:0.1,lighting," \
             "erase=0.5,cutout=4:0.5,noise=0.02"

Test(pipeline, same_seed_same_output_different_seed_different)
{
    int c = 3, h = 24, w = 22;
    cn_real *x = random_image(c, h, w, 30);
    cn_augment a;
    cn_error err;
    parse_ok(FULL, &a);
    cr_assert_eq(cn_augment_fit_lighting(&a, x, 1, c, h, w, &err), CN_OK);
    int oh, ow;
    cr_assert_eq(cn_augment_out_shape(&a, c, h, w, &oh, &ow, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(oh, 20);
    cr_assert_eq(ow, 20);
    size_t n = (size_t)c * oh * ow;
    cn_real *y1 = alloc_img(c, oh, ow), *y2 = alloc_img(c, oh, ow), *y3 = alloc_img(c, oh, ow);
    cn_rng r1, r2, r3;
    cn_rng_seed(&r1, 42, 5);
    cn_rng_seed(&r2, 42, 5);
    cn_rng_seed(&r3, 43, 5);
    for (int it = 0; it < 10; it++) {
        cr_assert_eq(cn_augment_apply(&a, x, c, h, w, y1, NULL, &r1, &err), CN_OK);
        cr_assert_eq(cn_augment_apply(&a, x, c, h, w, y2, NULL, &r2, &err), CN_OK);
        cr_assert_eq(cn_augment_apply(&a, x, c, h, w, y3, NULL, &r3, &err), CN_OK);
        cr_assert(same(y1, y2, n), "same seed, different output at draw %d", it);
        cr_assert(!same(y1, y3, n), "different seeds, same output at draw %d", it);
    }
    /* a caller-owned scratch gives the same result as the internal one */
    size_t sl = cn_augment_scratch_len(&a, c, h, w);
    cr_assert_eq(sl, 2 * (size_t)c * h * w);
    cn_real *scratch = cn_malloc(sl * sizeof *scratch);
    cn_rng_seed(&r1, 7, 1);
    cn_rng_seed(&r2, 7, 1);
    cr_assert_eq(cn_augment_apply(&a, x, c, h, w, y1, scratch, &r1, &err), CN_OK);
    cr_assert_eq(cn_augment_apply(&a, x, c, h, w, y2, NULL, &r2, &err), CN_OK);
    cr_assert(same(y1, y2, n));
    cn_free(scratch);
    cn_free(x);
    cn_free(y1);
    cn_free(y2);
    cn_free(y3);
}

Test(pipeline, sample_transform_adapter_runs_the_pipeline)
{
    int c = 3, h = 16, w = 16;
    cn_real *x = random_image(c, h, w, 31);
    cn_augment a;
    cn_error err;
    parse_ok("hflip,crop=12x14:2,jitter=0.3:0.3:0.3:0.05", &a);
    cn_sample_transform t;
    cr_assert_eq(cn_augment_transform(&a, c, h, w, &t, &err), CN_OK, "%s", err.msg);
    cr_assert_not_null(t.apply);
    cr_assert_eq(t.ctx, &a);
    cr_assert_eq(t.c, c);
    cr_assert_eq(t.h, h);
    cr_assert_eq(t.w, w);
    cr_assert_eq(t.oc, c);
    cr_assert_eq(t.oh, 12);
    cr_assert_eq(t.ow, 14);
    size_t n = (size_t)c * 12 * 14;
    cn_real *y1 = alloc_img(c, 12, 14), *y2 = alloc_img(c, 12, 14);
    cn_rng r1, r2;
    cn_rng_seed(&r1, 99, 3);
    cn_rng_seed(&r2, 99, 3);
    cr_assert_eq(t.apply(t.ctx, x, y1, &r1, &err), CN_OK);
    cr_assert_eq(cn_augment_apply(&a, x, c, h, w, y2, NULL, &r2, &err), CN_OK);
    cr_assert(same(y1, y2, n));
    cr_assert_eq(r1.state, r2.state);
    /* a shape the pipeline cannot take is refused up front */
    cr_assert_eq(cn_augment_transform(&a, c, 8, 8, &t, &err), CN_ERR_SHAPE);
    parse_ok("jitter=0.2", &a);
    cr_assert_eq(cn_augment_transform(&a, 2, h, w, &t, &err), CN_ERR_SHAPE);
    /* the identity pipeline copies */
    parse_ok("none", &a);
    cr_assert_eq(cn_augment_transform(&a, c, h, w, &t, &err), CN_OK);
    cn_real *y3 = alloc_img(c, h, w);
    cr_assert_eq(t.apply(t.ctx, x, y3, &r1, &err), CN_OK);
    cr_assert(same(x, y3, (size_t)c * h * w));
    cn_free(x);
    cn_free(y1);
    cn_free(y2);
    cn_free(y3);
}

/* ------------------------------------------------------------------ the command */

static char cli_dir[256];

static void write_file(const char *name, const uint8_t *b, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", cli_dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* A tiny IDX folder: n images of 28x28 (a bright square) and labels 0..n-1. */
static void write_idx(const char *prefix, int n)
{
    size_t len = 16 + (size_t)n * 784;
    uint8_t *b = calloc(len, 1);
    cr_assert_not_null(b);
    uint8_t hdr[16] = {0, 0, 8, 3, 0, 0, 0, (uint8_t)n, 0, 0, 0, 28, 0, 0, 0, 28};
    memcpy(b, hdr, 16);
    for (int i = 0; i < n; i++)
        for (int y = 6 + i; y < 20; y++)
            for (int x = 8; x < 22 - i; x++)
                b[16 + (size_t)i * 784 + y * 28 + x] = 200;
    char name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    write_file(name, b, len);
    uint8_t lab[8 + 16] = {0, 0, 8, 1, 0, 0, 0, (uint8_t)n};
    for (int i = 0; i < n; i++)
        lab[8 + i] = (uint8_t)(i % 10);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    write_file(name, lab, 8 + (size_t)n);
    free(b);
}

/* Run $CONVNET_BIN augment ARGS with stdout and stderr into files of cli_dir;
 * returns the exit status. */
static int run_augment(const char *const *args)
{
    const char *bin = getenv("CONVNET_BIN");
    const char *argv[32];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "augment";
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char out[512], errp[512];
    snprintf(out, sizeof out, "%s/stdout.txt", cli_dir);
    snprintf(errp, sizeof errp, "%s/stderr.txt", cli_dir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "posix_spawn %s", bin);
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static void read_text(const char *name, char *buf, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", cli_dir, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    size_t k = fread(buf, 1, size - 1, f);
    buf[k] = '\0';
    fclose(f);
}

Test(cli, augment_writes_the_grid_and_rejects_bad_specs)
{
    const char *bin = getenv("CONVNET_BIN");
    if (!bin || !bin[0])
        cr_skip_test("CONVNET_BIN is not set (run through `make test`)");
    cr_assert_eq(tst_tmpdir_make(cli_dir, sizeof cli_dir, "augment"), 0);
    write_idx("train", 6);
    write_idx("t10k", 2);
    char png[512];
    snprintf(png, sizeof png, "%s/grid.png", cli_dir);
    const char *ok[] = {"--data", cli_dir, "--show", png, "--n", "2", "--copies", "3",
                        "--scale", "1", "--quiet", "--augment", "hflip,crop=24:2,lighting", NULL};
    char text[4096];
    int rc = run_augment(ok);
    read_text("stderr.txt", text, sizeof text);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, text);
    /* PNG signature and IHDR size: 4 columns of 28-pixel tiles (the 24x24 crops are
     * centred on 28x28 tiles) with 1-pixel gaps, 2 rows */
    uint8_t head[24];
    FILE *f = fopen(png, "rb");
    cr_assert_not_null(f);
    cr_assert_eq(fread(head, 1, sizeof head, f), sizeof head);
    fclose(f);
    cr_assert(memcmp(head, "\x89PNG", 4) == 0);
    uint32_t gw = (uint32_t)head[16] << 24 | head[17] << 16 | head[18] << 8 | head[19];
    uint32_t gh = (uint32_t)head[20] << 24 | head[21] << 16 | head[22] << 8 | head[23];
    cr_assert_eq(gw, 4 * 28 + 3);
    cr_assert_eq(gh, 2 * 28 + 1);
    read_text("stdout.txt", text, sizeof text);
    cr_assert(strstr(text, "crop=24:2"), "%s", text);
    /* a typo: usage error naming the column and the nearest step, nothing written */
    char png2[512];
    snprintf(png2, sizeof png2, "%s/bad.png", cli_dir);
    const char *bad[] = {"--data", cli_dir, "--show", png2, "--augment", "hflip,crp=24", NULL};
    cr_assert_eq(run_augment(bad), 2);
    read_text("stderr.txt", text, sizeof text);
    cr_assert(strstr(text, "col 7") && strstr(text, "'crop'"), "%s", text);
    cr_assert_eq(access(png2, F_OK), -1);
    /* a crop that does not fit the images */
    const char *big[] = {"--data", cli_dir, "--show", png2, "--augment", "crop=40", NULL};
    cr_assert_eq(run_augment(big), 2);
    read_text("stderr.txt", text, sizeof text);
    cr_assert(strstr(text, "does not fit"), "%s", text);
    /* --show is required */
    const char *none[] = {"--data", cli_dir, NULL};
    cr_assert_eq(run_augment(none), 2);
    tst_tmpdir_remove(cli_dir);
}
