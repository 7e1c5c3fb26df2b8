/* conv_nd_oracle.h: naive reference implementations (every loop spelled out,
 * sums in double) of 3-D convolution and transposed 2-D convolution, for
 * tests/test_conv3d.c and tests/test_conv_transpose2d.c. Written from the
 * definitions (PyTorch's nn.Conv3d and nn.ConvTranspose2d), not from the
 * kernels' GEMM formulation, so they check the kernels independently. Builds on
 * tests/conv_oracle.h (oracle_fill_normal, oracle_max_abs_diff, oracle_conv_in). */
#ifndef CONV_ND_ORACLE_H
#define CONV_ND_ORACLE_H

#include <stdlib.h>

#include "conv_oracle.h"
#include "convnet.h"
#include "convnet/conv_nd.h"

/* oracle_conv3d_forward: y (n, c_out, d_out, h_out, w_out) = conv3d(x, w) + b, 9 loops.
 *   x (n, c_in, d, h, w), w (c_out, cg_in, kd, kh, kw), b (c_out) or NULL */
static inline void oracle_conv3d_forward(const cn_conv3d_geom *g, const cn_real *x,
                                         const cn_real *w, const cn_real *b, cn_real *y)
{
    for (int i = 0; i < g->n; i++)
        for (int co = 0; co < g->c_out; co++) {
            const int grp = co / g->cg_out;
            for (int od = 0; od < g->d_out; od++)
                for (int oh = 0; oh < g->h_out; oh++)
                    for (int ow = 0; ow < g->w_out; ow++) {
                        double s = b ? (double)b[co] : 0.0;
                        for (int c = 0; c < g->cg_in; c++)
                            for (int ka = 0; ka < g->kd; ka++)
                                for (int ki = 0; ki < g->kh; ki++)
                                    for (int kj = 0; kj < g->kw; kj++) {
                                        long id = oracle_conv_in(od, ka, g->stride_d, g->pad_d,
                                                                 g->dil_d, g->d);
                                        long ih = oracle_conv_in(oh, ki, g->stride_h, g->pad_h,
                                                                 g->dil_h, g->h);
                                        long iw = oracle_conv_in(ow, kj, g->stride_w, g->pad_w,
                                                                 g->dil_w, g->w);
                                        if (id < 0 || ih < 0 || iw < 0) continue;
                                        const size_t ci = (size_t)grp * g->cg_in + c;
                                        const size_t xi =
                                            ((((size_t)i * g->c_in + ci) * g->d + id) * g->h + ih) *
                                                g->w + iw;
                                        const size_t wi =
                                            ((((size_t)co * g->cg_in + c) * g->kd + ka) * g->kh + ki) *
                                                g->kw + kj;
                                        s += (double)x[xi] * (double)w[wi];
                                    }
                        y[((((size_t)i * g->c_out + co) * g->d_out + od) * g->h_out + oh) *
                              g->w_out + ow] = (cn_real)s;
                    }
        }
}

/* oracle_conv3d_backward: dx (n, c_in, d, h, w), dw (c_out, cg_in, kd, kh, kw),
 * db (c_out), all overwritten, from dy (n, c_out, d_out, h_out, w_out), by the
 * same loops scattering instead of gathering. */
static inline void oracle_conv3d_backward(const cn_conv3d_geom *g, const cn_real *x,
                                          const cn_real *w, const cn_real *dy, cn_real *dx,
                                          cn_real *dw, cn_real *db)
{
    const size_t nx = (size_t)g->n * g->c_in * g->d * g->h * g->w;
    const size_t nw = (size_t)g->c_out * g->cg_in * g->kd * g->kh * g->kw;
    double *ax = calloc(nx, sizeof *ax), *aw = calloc(nw, sizeof *aw);
    double *ab = calloc((size_t)g->c_out, sizeof *ab);
    if (!ax || !aw || !ab) abort();
    for (int i = 0; i < g->n; i++)
        for (int co = 0; co < g->c_out; co++) {
            const int grp = co / g->cg_out;
            for (int od = 0; od < g->d_out; od++)
                for (int oh = 0; oh < g->h_out; oh++)
                    for (int ow = 0; ow < g->w_out; ow++) {
                        const double dv =
                            (double)dy[((((size_t)i * g->c_out + co) * g->d_out + od) * g->h_out +
                                        oh) * g->w_out + ow];
                        ab[co] += dv;
                        for (int c = 0; c < g->cg_in; c++)
                            for (int ka = 0; ka < g->kd; ka++)
                                for (int ki = 0; ki < g->kh; ki++)
                                    for (int kj = 0; kj < g->kw; kj++) {
                                        long id = oracle_conv_in(od, ka, g->stride_d, g->pad_d,
                                                                 g->dil_d, g->d);
                                        long ih = oracle_conv_in(oh, ki, g->stride_h, g->pad_h,
                                                                 g->dil_h, g->h);
                                        long iw = oracle_conv_in(ow, kj, g->stride_w, g->pad_w,
                                                                 g->dil_w, g->w);
                                        if (id < 0 || ih < 0 || iw < 0) continue;
                                        const size_t ci = (size_t)grp * g->cg_in + c;
                                        const size_t xi =
                                            ((((size_t)i * g->c_in + ci) * g->d + id) * g->h + ih) *
                                                g->w + iw;
                                        const size_t wi =
                                            ((((size_t)co * g->cg_in + c) * g->kd + ka) * g->kh + ki) *
                                                g->kw + kj;
                                        ax[xi] += dv * (double)w[wi];
                                        aw[wi] += dv * (double)x[xi];
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

/* oracle_convt_out: the output position input q reaches at tap k, or -1 outside
 * [0, n_out): q*s - p + k*d (the transposed convolution scatters there). */
static inline long oracle_convt_out(int q, int k, int s, int p, int d, int n_out)
{
    long o = (long)q * s - p + (long)k * d;
    return (o >= 0 && o < n_out) ? o : -1;
}

/* oracle_convt2d_forward: y (n, c_out, h_out, w_out) = conv_transpose2d(x, w) + b,
 * by its definition: every input x[i, ci, ih, iw] times w[ci, co_g, ki, kj] is
 * added at y[i, co, ih*s - p + ki*d, iw*s - p + kj*d] (7 loops, double sums).
 *   x (n, c_in, h, w), w (c_in, cg_out, kh, kw), b (c_out) or NULL */
static inline void oracle_convt2d_forward(const cn_convt2d_geom *g, const cn_real *x,
                                          const cn_real *w, const cn_real *b, cn_real *y)
{
    const size_t hw_out = (size_t)g->h_out * g->w_out;
    const size_t ny = (size_t)g->n * g->c_out * hw_out;
    double *acc = calloc(ny, sizeof *acc);
    if (!acc) abort();
    for (int i = 0; i < g->n; i++)
        for (int ci = 0; ci < g->c_in; ci++) {
            const int grp = ci / g->cg_in;
            for (int ih = 0; ih < g->h; ih++)
                for (int iw = 0; iw < g->w; iw++) {
                    const double xv = (double)x[(((size_t)i * g->c_in + ci) * g->h + ih) * g->w + iw];
                    for (int c = 0; c < g->cg_out; c++)
                        for (int ki = 0; ki < g->kh; ki++)
                            for (int kj = 0; kj < g->kw; kj++) {
                                long oh = oracle_convt_out(ih, ki, g->stride_h, g->pad_h, g->dil_h,
                                                           g->h_out);
                                long ow = oracle_convt_out(iw, kj, g->stride_w, g->pad_w, g->dil_w,
                                                           g->w_out);
                                if (oh < 0 || ow < 0) continue;
                                const size_t co = (size_t)grp * g->cg_out + c;
                                const size_t wi =
                                    (((size_t)ci * g->cg_out + c) * g->kh + ki) * g->kw + kj;
                                acc[(((size_t)i * g->c_out + co) * g->h_out + oh) * g->w_out + ow] +=
                                    xv * (double)w[wi];
                            }
                }
        }
    for (size_t k = 0; k < ny; k++)
        y[k] = (cn_real)(acc[k] + (b ? (double)b[(k / hw_out) % (size_t)g->c_out] : 0.0));
    free(acc);
}

/* oracle_convt2d_backward: dx (n, c_in, h, w), dw (c_in, cg_out, kh, kw),
 * db (c_out), all overwritten, from dy (n, c_out, h_out, w_out): the same loops,
 * each product's two factors receiving dy at its output position. */
static inline void oracle_convt2d_backward(const cn_convt2d_geom *g, const cn_real *x,
                                           const cn_real *w, const cn_real *dy, cn_real *dx,
                                           cn_real *dw, cn_real *db)
{
    const size_t nx = (size_t)g->n * g->c_in * g->h * g->w;
    const size_t nw = (size_t)g->c_in * g->cg_out * g->kh * g->kw;
    const size_t hw_out = (size_t)g->h_out * g->w_out;
    double *ax = calloc(nx, sizeof *ax), *aw = calloc(nw, sizeof *aw);
    double *ab = calloc((size_t)g->c_out, sizeof *ab);
    if (!ax || !aw || !ab) abort();
    for (int i = 0; i < g->n; i++)
        for (int co = 0; co < g->c_out; co++)
            for (size_t k = 0; k < hw_out; k++)
                ab[co] += (double)dy[((size_t)i * g->c_out + co) * hw_out + k];
    for (int i = 0; i < g->n; i++)
        for (int ci = 0; ci < g->c_in; ci++) {
            const int grp = ci / g->cg_in;
            for (int ih = 0; ih < g->h; ih++)
                for (int iw = 0; iw < g->w; iw++) {
                    const size_t xi = (((size_t)i * g->c_in + ci) * g->h + ih) * g->w + iw;
                    for (int c = 0; c < g->cg_out; c++)
                        for (int ki = 0; ki < g->kh; ki++)
                            for (int kj = 0; kj < g->kw; kj++) {
                                long oh = oracle_convt_out(ih, ki, g->stride_h, g->pad_h, g->dil_h,
                                                           g->h_out);
                                long ow = oracle_convt_out(iw, kj, g->stride_w, g->pad_w, g->dil_w,
                                                           g->w_out);
                                if (oh < 0 || ow < 0) continue;
                                const size_t co = (size_t)grp * g->cg_out + c;
                                const size_t wi =
                                    (((size_t)ci * g->cg_out + c) * g->kh + ki) * g->kw + kj;
                                const double dv =
                                    (double)dy[(((size_t)i * g->c_out + co) * g->h_out + oh) *
                                                   g->w_out + ow];
                                ax[xi] += dv * (double)w[wi];
                                aw[wi] += dv * (double)x[xi];
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

#endif /* CONV_ND_ORACLE_H */
