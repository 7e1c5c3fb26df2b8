/* src/data/augment_geom.c: the geometric image operations of data augmentation:
 * flips, zero padding + crop, bilinear resize of a window (align_corners = false),
 * rotation + translation with bilinear sampling, and torchvision's window
 * parameters for RandomResizedCrop. Images are (c, h, w) arrays. */
#include <math.h>
#include <string.h>

#include "convnet/augment.h"

void cn_aug_hflip(const cn_real *src, int c, int h, int w, cn_real *dst)
{
    for (int k = 0; k < c; k++)
        for (int y = 0; y < h; y++) {
            const cn_real *s = src + ((size_t)k * h + y) * w; // (w) one row
            cn_real *d = dst + ((size_t)k * h + y) * w;       // (w) one row
            for (int x = 0; x < w; x++)
                d[x] = s[w - 1 - x];
        }
}

void cn_aug_vflip(const cn_real *src, int c, int h, int w, cn_real *dst)
{
    for (int k = 0; k < c; k++)
        for (int y = 0; y < h; y++)
            memcpy(dst + ((size_t)k * h + y) * w, src + ((size_t)k * h + (h - 1 - y)) * w,
                   (size_t)w * sizeof *dst);
}

void cn_aug_crop(const cn_real *src, int c, int h, int w, int pad, int top, int left,
                 cn_real *dst, int oh, int ow)
{
    for (int k = 0; k < c; k++) {
        const cn_real *s = src + (size_t)k * h * w;   // (h, w) one channel
        cn_real *d = dst + (size_t)k * oh * ow;       // (oh, ow) one channel
        for (int y = 0; y < oh; y++) {
            int sy = top + y - pad;
            cn_real *drow = d + (size_t)y * ow;
            if (sy < 0 || sy >= h) {
                memset(drow, 0, (size_t)ow * sizeof *drow);
                continue;
            }
            for (int x = 0; x < ow; x++) {
                int sx = left + x - pad;
                drow[x] = (sx >= 0 && sx < w) ? s[(size_t)sy * w + sx] : 0;
            }
        }
    }
}

/* Source coordinate of output index i for a resize of n_in -> n_out (PyTorch's
 * area_pixel_compute_source_index, align_corners = false), split into the lower
 * index, the upper index and the weight of the upper one. */
static void resize_coord(int i, int n_in, int n_out, int *i0, int *i1, double *t)
{
    double scale = (double)n_in / n_out;
    double s = scale * (i + 0.5) - 0.5;
    if (s < 0)
        s = 0;
    int f = (int)s;
    if (f > n_in - 1)
        f = n_in - 1;
    *i0 = f;
    *i1 = f + 1 < n_in ? f + 1 : n_in - 1;
    *t = s - f;
    if (*t > 1)
        *t = 1;
}

void cn_aug_resize(const cn_real *src, int c, int h, int w, int top, int left, int ch, int cw,
                   cn_real *dst, int oh, int ow)
{
    for (int y = 0; y < oh; y++) {
        int y0, y1;
        double ty;
        resize_coord(y, ch, oh, &y0, &y1, &ty);
        for (int x = 0; x < ow; x++) {
            int x0, x1;
            double tx;
            resize_coord(x, cw, ow, &x0, &x1, &tx);
            for (int k = 0; k < c; k++) {
                const cn_real *s = src + (size_t)k * h * w; // (h, w) one channel
                const cn_real *r0 = s + (size_t)(top + y0) * w + left;
                const cn_real *r1 = s + (size_t)(top + y1) * w + left;
                double a = r0[x0] + (r0[x1] - r0[x0]) * tx;
                double b = r1[x0] + (r1[x1] - r1[x0]) * tx;
                dst[((size_t)k * oh + y) * ow + x] = (cn_real)(a + (b - a) * ty);
            }
        }
    }
}

/* Pixel (x, y) of channel s (h, w), 0 outside the image. */
static double pixel_or_zero(const cn_real *s, int h, int w, int x, int y)
{
    if (x < 0 || y < 0 || x >= w || y >= h)
        return 0;
    return s[(size_t)y * w + x];
}

void cn_aug_affine(const cn_real *src, int c, int h, int w, double degrees, double tx,
                   double ty, cn_real *dst)
{
    const double pi = 3.14159265358979323846;
    double th = degrees * pi / 180.0;
    double cs = cos(th), sn = sin(th);
    double cx = 0.5 * w, cy = 0.5 * h;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            /* inverse map: output pixel centre -> input point (y axis down, so this
             * is a counter-clockwise rotation on screen) */
            double px = x + 0.5 - cx - tx, py = y + 0.5 - cy - ty;
            double qx = cx + cs * px - sn * py - 0.5;
            double qy = cy + sn * px + cs * py - 0.5;
            double fx = floor(qx), fy = floor(qy);
            double ax = qx - fx, ay = qy - fy;
            int x0, y0;
            if (fx < -2.0 || fx > w + 1.0 || fy < -2.0 || fy > h + 1.0) {
                for (int k = 0; k < c; k++)
                    dst[((size_t)k * h + y) * w + x] = 0;
                continue;
            }
            x0 = (int)fx;
            y0 = (int)fy;
            for (int k = 0; k < c; k++) {
                const cn_real *s = src + (size_t)k * h * w; // (h, w) one channel
                double v = (1 - ay) * ((1 - ax) * pixel_or_zero(s, h, w, x0, y0) +
                                       ax * pixel_or_zero(s, h, w, x0 + 1, y0)) +
                           ay * ((1 - ax) * pixel_or_zero(s, h, w, x0, y0 + 1) +
                                 ax * pixel_or_zero(s, h, w, x0 + 1, y0 + 1));
                dst[((size_t)k * h + y) * w + x] = (cn_real)v;
            }
        }
    }
}

/* Uniform double in [lo, hi). */
static double uniform(cn_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * cn_rng_uniform(rng);
}

void cn_aug_rcrop_params(cn_rng *rng, int h, int w, double scale_lo, double scale_hi,
                         double ratio_lo, double ratio_hi, int *top, int *left, int *ch,
                         int *cw)
{
    double area = (double)h * w;
    double lr0 = log(ratio_lo), lr1 = log(ratio_hi);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * uniform(rng, scale_lo, scale_hi);
        double ar = exp(uniform(rng, lr0, lr1));
        double fw = nearbyint(sqrt(target * ar)), fh = nearbyint(sqrt(target / ar));
        if (fw > 0 && fw <= w && fh > 0 && fh <= h) {
            int ww = (int)fw, hh = (int)fh;
            *top = (int)cn_rng_below(rng, (uint32_t)(h - hh + 1));
            *left = (int)cn_rng_below(rng, (uint32_t)(w - ww + 1));
            *ch = hh;
            *cw = ww;
            return;
        }
    }
    /* fallback: the central crop, clamped to the ratio range */
    double in_ratio = (double)w / h;
    int ww = w, hh = h;
    if (in_ratio < ratio_lo)
        hh = (int)nearbyint(ww / ratio_lo);
    else if (in_ratio > ratio_hi)
        ww = (int)nearbyint(hh * ratio_hi);
    hh = hh < 1 ? 1 : (hh > h ? h : hh);
    ww = ww < 1 ? 1 : (ww > w ? w : ww);
    *top = (h - hh) / 2;
    *left = (w - ww) / 2;
    *ch = hh;
    *cw = ww;
}
