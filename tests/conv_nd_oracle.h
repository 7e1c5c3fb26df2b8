/* conv_nd_oracle.h: naive reference implementations (every loop spelled out,
 * sums in double) of 3-D convolution and transposed 2-D convolution, for
 * tests/test_conv3d.c and tests/test_conv_transpose2d.c. Written from the
 * definitions (PyTorch's nn.Conv3d and nn.ConvTranspose2d), not from the
 * kernels' GEMM formulation, so they check the kernels independently. Builds on
 * tests/conv_oracle.h (oracle_fill_normal, oracle_max_abs_diff, oracle_conv_in).
 * Also the checks the three convolution tests (test_conv2d.c, test_conv3d.c,
 * test_conv_transpose2d.c) run the same way: oracle_gradcheck and
 * oracle_thread_invariance. */
#ifndef CONV_ND_ORACLE_H
#define CONV_ND_ORACLE_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_oracle.h"
#include "convnet.h"
#include "convnet/conv_nd.h"
#include "support.h"

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

/* oracle_gradcheck: gradcheck every coordinate of a (n) against grad (n) with
 * cn_gradcheck(loss, ctx, ...) at step h and assert the max relative error is
 * below tol; what ("dx") and name (the case) label the messages. The float build
 * skips coordinates whose gradient is below 5% of the largest, where the
 * relative error of a float difference quotient says nothing. */
static inline void oracle_gradcheck(cn_scalar_fn loss, void *ctx, const char *what,
                                    const char *name, cn_real *a, size_t n, const cn_real *grad,
                                    double h, double tol)
{
    size_t *coords = malloc(n * sizeof *coords), nc = 0;
    cr_assert(coords);
    double gmax = 0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs((double)grad[i]));
    for (size_t i = 0; i < n; i++) {
#ifndef CN_DOUBLE
        if (fabs((double)grad[i]) < 0.05 * gmax) continue;
#endif
        coords[nc++] = i;
    }
    cn_gradcheck_result res;
    cn_error err;
    cr_assert_eq(cn_gradcheck(loss, ctx, a, n, grad, coords, nc, 0, NULL, h, &res, &err), CN_OK,
                 "%s", err.msg);
    cr_log_info("gradcheck %s %s: %zu coordinates, max rel err %.3g", name, what, res.checked,
                res.max_rel_err);
    cr_assert(res.max_rel_err < tol,
              "%s %s: rel err %.3g at %zu (analytic %.10g, numeric %.10g)", name, what,
              res.max_rel_err, res.worst_index, res.worst_analytic, res.worst_numeric);
    free(coords);
}

/* oracle_run_fn: one forward into y (ny) and one backward into dx (nx), dw
 * (nw) and db (nb) (dw and db start at zero) of the problem ctx. */
typedef void (*oracle_run_fn)(void *ctx, cn_real *y, cn_real *dx, cn_real *dw, cn_real *db);

/* oracle_thread_invariance: run(ctx, ...) on 1 and then 2 threads and assert y,
 * dx, dw and db are bit-identical (messages name shape q); restores the default
 * thread count. */
static inline void oracle_thread_invariance(oracle_run_fn run, void *ctx, size_t q, size_t ny,
                                            size_t nx, size_t nw, size_t nb)
{
    cn_real *y[2], *dx[2], *dw[2], *db[2];
    for (int t = 0; t < 2; t++) {
        cn_set_num_threads(t + 1);
        y[t] = tst_reals(ny);
        dx[t] = tst_reals(nx);
        dw[t] = tst_zeros(nw);
        db[t] = tst_zeros(nb);
        run(ctx, y[t], dx[t], dw[t], db[t]);
    }
    cn_set_num_threads(0);
    cr_assert(memcmp(y[0], y[1], ny * sizeof(cn_real)) == 0, "shape %zu: y differs", q);
    cr_assert(memcmp(dx[0], dx[1], nx * sizeof(cn_real)) == 0, "shape %zu: dx differs", q);
    cr_assert(memcmp(dw[0], dw[1], nw * sizeof(cn_real)) == 0, "shape %zu: dw differs", q);
    cr_assert(memcmp(db[0], db[1], nb * sizeof(cn_real)) == 0, "shape %zu: db differs", q);
    for (int t = 0; t < 2; t++) {
        free(y[t]);
        free(dx[t]);
        free(dw[t]);
        free(db[t]);
    }
}

#endif /* CONV_ND_ORACLE_H */
