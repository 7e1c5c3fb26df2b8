/* conv_oracle.h: naive reference loops for the convolution and pooling tests
 * (tests/test_conv2d.c, tests/test_pool2d.c): the textbook 7-loop convolution and
 * its gradients, and pooling written straight from PyTorch's definition, every
 * index bounds-checked, accumulated in double. Slow and obviously right; static
 * functions in a header because every non-test_ .c file under tests/ is
 * linked into every test binary. Also small helpers shared by both tests. */
#ifndef CONV_ORACLE_H
#define CONV_ORACLE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "convnet.h"

/* oracle_fill_normal: a (n) = scale * N(0, 1) draws from a fixed seed. */
static inline void oracle_fill_normal(cn_real *a, size_t n, double scale, uint64_t seed)
{
    cn_rng r;
    cn_rng_seed(&r, seed, 7);
    for (size_t i = 0; i < n; i++) a[i] = (cn_real)(scale * cn_rng_normal(&r));
}

/* oracle_max_abs_diff: max |a - b| over n entries. */
static inline double oracle_max_abs_diff(const cn_real *a, const cn_real *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* a NaN makes the result NaN, never hidden */
    }
    return m;
}

/* oracle_conv_in: the input position read by output o at tap k, or -1 outside. */
static inline long oracle_conv_in(int o, int k, int s, int p, int d, int n_in)
{
    long i = (long)o * s - p + (long)k * d;
    return (i >= 0 && i < n_in) ? i : -1;
}

/* oracle_conv2d_forward: y (n, c_out, h_out, w_out) = conv(x, w) + b, 7 loops.
 *   x (n, c_in, h, w), w (c_out, cg_in, kh, kw), b (c_out) or NULL */
static inline void oracle_conv2d_forward(const cn_conv2d_geom *g, const cn_real *x,
                                  const cn_real *w, const cn_real *b, cn_real *y)
{
    for (int i = 0; i < g->n; i++)
        for (int co = 0; co < g->c_out; co++) {
            const int grp = co / g->cg_out;
            for (int oh = 0; oh < g->h_out; oh++)
                for (int ow = 0; ow < g->w_out; ow++) {
                    double s = b ? (double)b[co] : 0.0;
                    for (int c = 0; c < g->cg_in; c++)
                        for (int ki = 0; ki < g->kh; ki++)
                            for (int kj = 0; kj < g->kw; kj++) {
                                long ih = oracle_conv_in(oh, ki, g->stride_h, g->pad_h, g->dil_h, g->h);
                                long iw = oracle_conv_in(ow, kj, g->stride_w, g->pad_w, g->dil_w, g->w);
                                if (ih < 0 || iw < 0) continue;
                                const int ci = grp * g->cg_in + c;
                                s += (double)x[(((size_t)i * g->c_in + ci) * g->h + ih) * g->w + iw] *
                                     (double)w[(((size_t)co * g->cg_in + c) * g->kh + ki) * g->kw + kj];
                            }
                    y[(((size_t)i * g->c_out + co) * g->h_out + oh) * g->w_out + ow] = (cn_real)s;
                }
        }
}

/* oracle_conv2d_backward: dx (n, c_in, h, w) = dL/dx, dw (c_out, cg_in, kh, kw)
 * = dL/dw, db (c_out) = dL/db, all overwritten, from dy (n, c_out, h_out, w_out)
 * by the same 7 loops scattering instead of gathering. */
static inline void oracle_conv2d_backward(const cn_conv2d_geom *g, const cn_real *x,
                                   const cn_real *w, const cn_real *dy, cn_real *dx,
                                   cn_real *dw, cn_real *db)
{
    const size_t nx = (size_t)g->n * g->c_in * g->h * g->w;
    const size_t nw = (size_t)g->c_out * g->cg_in * g->kh * g->kw;
    double *ax = calloc(nx, sizeof *ax), *aw = calloc(nw, sizeof *aw);
    double *ab = calloc((size_t)g->c_out, sizeof *ab);
    if (!ax || !aw || !ab) abort();
    for (int i = 0; i < g->n; i++)
        for (int co = 0; co < g->c_out; co++) {
            const int grp = co / g->cg_out;
            for (int oh = 0; oh < g->h_out; oh++)
                for (int ow = 0; ow < g->w_out; ow++) {
                    const double d =
                        (double)dy[(((size_t)i * g->c_out + co) * g->h_out + oh) * g->w_out + ow];
                    ab[co] += d;
                    for (int c = 0; c < g->cg_in; c++)
                        for (int ki = 0; ki < g->kh; ki++)
                            for (int kj = 0; kj < g->kw; kj++) {
                                long ih = oracle_conv_in(oh, ki, g->stride_h, g->pad_h, g->dil_h, g->h);
                                long iw = oracle_conv_in(ow, kj, g->stride_w, g->pad_w, g->dil_w, g->w);
                                if (ih < 0 || iw < 0) continue;
                                const int ci = grp * g->cg_in + c;
                                const size_t xi = (((size_t)i * g->c_in + ci) * g->h + ih) * g->w + iw;
                                const size_t wi = (((size_t)co * g->cg_in + c) * g->kh + ki) * g->kw + kj;
                                ax[xi] += d * (double)w[wi];
                                aw[wi] += d * (double)x[xi];
                            }
                }
        }
    for (size_t k = 0; k < nx; k++) dx[k] = (cn_real)ax[k];
    for (size_t k = 0; k < nw; k++) dw[k] = (cn_real)aw[k];
    for (int k = 0; k < g->c_out; k++) db[k] = (cn_real)ab[k];
    free(ax);
    free(aw);
    free(ab);
}

/* oracle_maxpool2d_forward: every tap of every window tested against the input
 * bounds; first maximum in scan order (strict >), a NaN wins. y and idx
 * (n, c, h_out, w_out); idx -1 for a window that holds no input element. */
static inline void oracle_maxpool2d_forward(const cn_pool2d_geom *g, const cn_real *x, cn_real *y,
                                     int32_t *idx)
{
    for (long p = 0; p < (long)g->n * g->c; p++)
        for (int oh = 0; oh < g->h_out; oh++)
            for (int ow = 0; ow < g->w_out; ow++) {
                double m = -INFINITY;
                long best = -1;
                for (int ki = 0; ki < g->kh; ki++)
                    for (int kj = 0; kj < g->kw; kj++) {
                        long ih = oracle_conv_in(oh, ki, g->stride_h, g->pad_h, g->dil_h, g->h);
                        long iw = oracle_conv_in(ow, kj, g->stride_w, g->pad_w, g->dil_w, g->w);
                        if (ih < 0 || iw < 0) continue;
                        double v = (double)x[((size_t)p * g->h + ih) * g->w + iw];
                        if (best < 0 || v > m || isnan(v)) {
                            m = v;
                            best = ih * g->w + iw;
                        }
                    }
                const size_t o = ((size_t)p * g->h_out + oh) * g->w_out + ow;
                y[o] = (cn_real)m;
                idx[o] = (int32_t)best;
            }
}

/* oracle_avgpool2d_forward: the window clipped to the padded input (for the
 * count_include_pad divisor) then to the input (for the sum and the other
 * divisor), written as explicit per-tap tests. */
static inline void oracle_avgpool2d_forward(const cn_pool2d_geom *g, const cn_real *x, cn_real *y)
{
    for (long p = 0; p < (long)g->n * g->c; p++)
        for (int oh = 0; oh < g->h_out; oh++)
            for (int ow = 0; ow < g->w_out; ow++) {
                double s = 0;
                long in_pad = 0, in_img = 0;
                for (int ki = 0; ki < g->kh; ki++)
                    for (int kj = 0; kj < g->kw; kj++) {
                        long ih = (long)oh * g->stride_h - g->pad_h + ki;
                        long iw = (long)ow * g->stride_w - g->pad_w + kj;
                        if (ih < g->h + g->pad_h && iw < g->w + g->pad_w) in_pad++;
                        if (ih < 0 || iw < 0 || ih >= g->h || iw >= g->w) continue;
                        in_img++;
                        s += (double)x[((size_t)p * g->h + ih) * g->w + iw];
                    }
                const size_t o = ((size_t)p * g->h_out + oh) * g->w_out + ow;
                y[o] = in_img == 0 ? 0 : (cn_real)(s / (double)(g->count_include_pad ? in_pad : in_img));
            }
}

#endif /* CONV_ORACLE_H */
