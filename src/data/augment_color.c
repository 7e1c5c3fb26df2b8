/* src/data/augment_color.c: the photometric image operations of data
 * augmentation: brightness / contrast / saturation / hue adjustments and colour
 * jitter with torchvision's semantics (RGB <-> HSV as torchvision's _rgb2hsv /
 * _hsv2rgb), AlexNet's PCA lighting noise with its covariance fitted on the
 * training images and decomposed by a 3x3 Jacobi eigensolver, and torchvision's
 * RandomErasing rectangle. Images are (c, h, w) arrays with c = 1 or 3. */
#include <math.h>
#include <string.h>

#include "convnet/augment.h"

/* ------------------------------------------------------------------ adjustments */

static cn_real clamp01(double v)
{
    return (cn_real)(v < 0 ? 0 : (v > 1 ? 1 : v));
}

/* torchvision's rgb_to_grayscale weights. */
static double grey(double r, double g, double b)
{
    return 0.2989 * r + 0.587 * g + 0.114 * b;
}

void cn_aug_adjust_brightness(cn_real *img, int c, int h, int w, double f)
{
    size_t n = (size_t)c * h * w;
    for (size_t i = 0; i < n; i++)
        img[i] = clamp01(f * img[i]);
}

void cn_aug_adjust_contrast(cn_real *img, int c, int h, int w, double f)
{
    size_t hw = (size_t)h * w;
    double mean = 0;
    if (c == 3) {
        for (size_t i = 0; i < hw; i++)
            mean += grey(img[i], img[hw + i], img[2 * hw + i]);
    } else {
        for (size_t i = 0; i < hw * (size_t)c; i++)
            mean += img[i];
        mean /= c;
    }
    mean /= (double)hw;
    for (size_t i = 0; i < hw * (size_t)c; i++)
        img[i] = clamp01(f * img[i] + (1 - f) * mean);
}

void cn_aug_adjust_saturation(cn_real *img, int c, int h, int w, double f)
{
    if (c != 3)
        return;
    size_t hw = (size_t)h * w;
    for (size_t i = 0; i < hw; i++) {
        double g = grey(img[i], img[hw + i], img[2 * hw + i]);
        for (int k = 0; k < 3; k++)
            img[k * hw + i] = clamp01(f * img[k * hw + i] + (1 - f) * g);
    }
}

/* One RGB pixel to HSV, as torchvision's _rgb2hsv (h in [0, 1)). Written with
 * selects instead of branches and library calls: pixel hues are unpredictable. */
static void rgb2hsv(double r, double g, double b, double *h, double *s, double *v)
{
    double maxc = r > g ? r : g, minc = r < g ? r : g;
    maxc = maxc > b ? maxc : b;
    minc = minc < b ? minc : b;
    int eqc = maxc == minc;
    double cr = maxc - minc;
    *s = cr / (eqc ? 1.0 : maxc);
    double crd = eqc ? 1.0 : cr;
    double rc = (maxc - r) / crd, gc = (maxc - g) / crd, bc = (maxc - b) / crd;
    double hr = bc - gc, hg = 2.0 + rc - bc, hb = 4.0 + gc - rc;
    double hh = maxc == r ? hr : (maxc == g ? hg : hb);
    hh = hh / 6.0 + 1.0;
    *h = hh - floor(hh);
    *v = maxc;
}

static double clamp01d(double x)
{
    x = x < 0.0 ? 0.0 : x;
    return x > 1.0 ? 1.0 : x;
}

/* One HSV pixel to RGB, as torchvision's _hsv2rgb: each output channel is one of
 * v, p, q, t, chosen per sector of the hue circle (a table, not branches). */
static void hsv2rgb(double h, double s, double v, double *r, double *g, double *b)
{
    static const unsigned char RI[6] = {0, 2, 1, 1, 3, 0}; /* indices into {v, p, q, t} */
    static const unsigned char GI[6] = {3, 0, 0, 2, 1, 1};
    static const unsigned char BI[6] = {1, 1, 3, 0, 0, 2};
    double i = floor(h * 6.0);
    double f = h * 6.0 - i;
    int sector = ((int)i % 6 + 6) % 6;
    double vals[4] = {v, clamp01d(v * (1.0 - s)), clamp01d(v * (1.0 - s * f)),
                      clamp01d(v * (1.0 - s * (1.0 - f)))};
    *r = vals[RI[sector]];
    *g = vals[GI[sector]];
    *b = vals[BI[sector]];
}

void cn_aug_adjust_hue(cn_real *img, int c, int h, int w, double f)
{
    if (c != 3)
        return;
    size_t hw = (size_t)h * w;
    for (size_t i = 0; i < hw; i++) {
        double hh, s, v, r, g, b;
        rgb2hsv(img[i], img[hw + i], img[2 * hw + i], &hh, &s, &v);
        hh += f;
        hh -= floor(hh);
        hsv2rgb(hh, s, v, &r, &g, &b);
        img[i] = (cn_real)r;
        img[hw + i] = (cn_real)g;
        img[2 * hw + i] = (cn_real)b;
    }
}

/* Uniform double in [lo, hi). */
static double uniform(cn_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * cn_rng_uniform(rng);
}

void cn_aug_color_jitter(cn_real *img, int c, int h, int w, double brightness,
                         double contrast, double saturation, double hue, cn_rng *rng)
{
    /* torchvision's get_params: the permutation, then one factor per enabled op */
    int order[4] = {0, 1, 2, 3};
    cn_rng_shuffle(rng, order, 4);
    double fb = 1, fc = 1, fs = 1, fh = 0;
    if (brightness > 0)
        fb = uniform(rng, fmax(0.0, 1.0 - brightness), 1.0 + brightness);
    if (contrast > 0)
        fc = uniform(rng, fmax(0.0, 1.0 - contrast), 1.0 + contrast);
    if (saturation > 0)
        fs = uniform(rng, fmax(0.0, 1.0 - saturation), 1.0 + saturation);
    if (hue > 0)
        fh = uniform(rng, -hue, hue);
    for (int i = 0; i < 4; i++) {
        switch (order[i]) {
        case 0:
            if (brightness > 0)
                cn_aug_adjust_brightness(img, c, h, w, fb);
            break;
        case 1:
            if (contrast > 0)
                cn_aug_adjust_contrast(img, c, h, w, fc);
            break;
        case 2:
            if (saturation > 0)
                cn_aug_adjust_saturation(img, c, h, w, fs);
            break;
        default:
            if (hue > 0)
                cn_aug_adjust_hue(img, c, h, w, fh);
            break;
        }
    }
}

/* ------------------------------------------------------------------ PCA lighting */

/* eigh3: eigenvalues (descending) and eigenvectors (columns of v, row-major) of
 * the symmetric 3x3 matrix a by cyclic Jacobi rotations (Numerical Recipes'
 * formulation). Each eigenvector's sign is chosen so its components sum to >= 0. */
static void eigh3(const double a_in[9], double eval[3], double v[9])
{
    double a[9];
    memcpy(a, a_in, sizeof a);
    for (int i = 0; i < 9; i++)
        v[i] = (i % 4 == 0) ? 1.0 : 0.0;
    static const int pairs[3][2] = {{0, 1}, {0, 2}, {1, 2}};
    for (int sweep = 0; sweep < 64; sweep++) {
        double off = a[1] * a[1] + a[2] * a[2] + a[5] * a[5];
        double diag = a[0] * a[0] + a[4] * a[4] + a[8] * a[8];
        if (off == 0.0 || off <= 1e-32 * diag)
            break;
        for (int r = 0; r < 3; r++) {
            int p = pairs[r][0], q = pairs[r][1];
            double apq = a[p * 3 + q];
            if (apq == 0.0)
                continue;
            double theta = (a[q * 3 + q] - a[p * 3 + p]) / (2.0 * apq);
            double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
            double cs = 1.0 / sqrt(t * t + 1.0), sn = t * cs;
            for (int k = 0; k < 3; k++) { /* columns: A P */
                double akp = a[k * 3 + p], akq = a[k * 3 + q];
                a[k * 3 + p] = cs * akp - sn * akq;
                a[k * 3 + q] = sn * akp + cs * akq;
            }
            for (int k = 0; k < 3; k++) { /* rows: P^T (A P) */
                double apk = a[p * 3 + k], aqk = a[q * 3 + k];
                a[p * 3 + k] = cs * apk - sn * aqk;
                a[q * 3 + k] = sn * apk + cs * aqk;
            }
            for (int k = 0; k < 3; k++) { /* V P */
                double vkp = v[k * 3 + p], vkq = v[k * 3 + q];
                v[k * 3 + p] = cs * vkp - sn * vkq;
                v[k * 3 + q] = sn * vkp + cs * vkq;
            }
        }
    }
    int idx[3] = {0, 1, 2};
    for (int i = 0; i < 3; i++) /* sort by eigenvalue, descending (insertion) */
        for (int j = i; j > 0 && a[idx[j] * 4] > a[idx[j - 1] * 4]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    double vs[9];
    for (int k = 0; k < 3; k++) {
        eval[k] = a[idx[k] * 4];
        double sum = v[idx[k]] + v[3 + idx[k]] + v[6 + idx[k]];
        double sg = sum < 0 ? -1.0 : 1.0;
        for (int r = 0; r < 3; r++)
            vs[r * 3 + k] = sg * v[r * 3 + idx[k]];
    }
    memcpy(v, vs, sizeof vs);
}

cn_status cn_augment_fit_lighting(cn_augment *a, const cn_real *images, int n, int c, int h,
                                  int w, cn_error *err)
{
    if (!a || !images)
        return cn_error_set(err, CN_ERR_ARG, "cn_augment_fit_lighting: NULL argument");
    if (c != 1 && c != 3)
        return cn_error_set(err, CN_ERR_SHAPE, "cn_augment_fit_lighting: lighting needs 1 or "
                                               "3 channels, got %d", c);
    if (n <= 0 || h <= 0 || w <= 0)
        return cn_error_set(err, CN_ERR_ARG, "cn_augment_fit_lighting: bad shape (%d, %d, %d, "
                                             "%d)", n, c, h, w);
    size_t hw = (size_t)h * w, npix = (size_t)n * hw;
    double mean[3] = {0, 0, 0};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++) {
            const cn_real *p = images + ((size_t)i * c + k) * hw; // (h, w) one channel
            double s = 0;
            for (size_t j = 0; j < hw; j++)
                s += p[j];
            if (!isfinite(s))
                return cn_error_set(err, CN_ERR_NUMERIC, "cn_augment_fit_lighting: image %d "
                                                         "channel %d is not finite", i, k);
            mean[k] += s;
        }
    for (int k = 0; k < c; k++)
        mean[k] /= (double)npix;
    double cov[9] = {0};
    for (int i = 0; i < n; i++) {
        const cn_real *img = images + (size_t)i * c * hw; // (c, h, w)
        for (size_t j = 0; j < hw; j++) {
            double d[3] = {0, 0, 0};
            for (int k = 0; k < c; k++)
                d[k] = img[k * hw + j] - mean[k];
            for (int r = 0; r < c; r++)
                for (int s = r; s < c; s++)
                    cov[r * 3 + s] += d[r] * d[s];
        }
    }
    for (int r = 0; r < c; r++)
        for (int s = r; s < c; s++) {
            cov[r * 3 + s] /= (double)npix;
            cov[s * 3 + r] = cov[r * 3 + s];
        }
    memset(a->light_eigval, 0, sizeof a->light_eigval);
    memset(a->light_eigvec, 0, sizeof a->light_eigvec);
    if (c == 1) {
        a->light_eigval[0] = cov[0];
        a->light_eigvec[0] = 1.0;
    } else {
        eigh3(cov, a->light_eigval, a->light_eigvec);
    }
    a->light_c = c;
    a->light_fitted = 1;
    return CN_OK;
}

void cn_aug_lighting(const cn_augment *a, cn_real *img, int c, int h, int w, double std,
                     cn_rng *rng)
{
    CN_ASSERT(a->light_fitted && a->light_c == c);
    double alpha[3];
    for (int k = 0; k < 3; k++)
        alpha[k] = std * cn_rng_normal(rng) * a->light_eigval[k];
    size_t hw = (size_t)h * w;
    for (int r = 0; r < c; r++) {
        double off = 0;
        for (int k = 0; k < c; k++)
            off += a->light_eigvec[r * 3 + k] * alpha[k];
        cn_real *p = img + (size_t)r * hw; // (h, w) one channel
        for (size_t j = 0; j < hw; j++)
            p[j] = (cn_real)(p[j] + off);
    }
}

/* ------------------------------------------------------------------ erasing */

int cn_aug_erase_params(cn_rng *rng, int h, int w, double scale_lo, double scale_hi,
                        double ratio_lo, double ratio_hi, int *top, int *left, int *eh,
                        int *ew)
{
    double area = (double)h * w;
    double lr0 = log(ratio_lo), lr1 = log(ratio_hi);
    for (int attempt = 0; attempt < 10; attempt++) {
        double ea = area * uniform(rng, scale_lo, scale_hi);
        double ar = exp(uniform(rng, lr0, lr1));
        double fh = nearbyint(sqrt(ea * ar)), fw = nearbyint(sqrt(ea / ar));
        if (!(fh < h && fw < w))
            continue;
        int hh = (int)fh, ww = (int)fw;
        *top = (int)cn_rng_below(rng, (uint32_t)(h - hh + 1));
        *left = (int)cn_rng_below(rng, (uint32_t)(w - ww + 1));
        *eh = hh;
        *ew = ww;
        return 1;
    }
    return 0;
}

void cn_aug_fill_rect(cn_real *img, int c, int h, int w, int top, int left, int rh, int rw,
                      cn_real value)
{
    int y0 = top < 0 ? 0 : top, x0 = left < 0 ? 0 : left;
    int y1 = top + rh > h ? h : top + rh, x1 = left + rw > w ? w : left + rw;
    for (int k = 0; k < c; k++)
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++)
                img[((size_t)k * h + y) * w + x] = value;
}
