/* softmax.c: softmax and log-softmax over the middle axis of an (outer, dim,
 * inner) view, forward and backward. Each (outer, inner) line is handled alone:
 * shifted by its maximum for stability, sums in double in axis order, so the
 * results never depend on the thread count (OpenMP over lines). */
#include "convnet/activation_kernels.h"

#include <math.h>
#include <stddef.h>

#define PAR_MIN 32768

/* line_max: the maximum of x[0], x[s], ..., x[(dim-1) s]; NaN if any is NaN. */
static double line_max(const cn_real *x, int dim, size_t s)
{
    double m = x[0];
    for (int d = 1; d < dim; d++) {
        double v = x[(size_t)d * s];
        if (v > m || isnan(v)) m = v;
        if (isnan(m)) break;
    }
    return m;
}

/* Softmax (log_out == 0) or log-softmax (log_out != 0) of every line along dim,
 * shifted by the line maximum; one exp per element (softmax keeps exp(x - m) in
 * y and then scales it). */
static void softmax_lines(int outer, int dim, size_t inner, const cn_real *x, cn_real *y,
                          int log_out)
{
    // x, y (outer, dim, inner)
    CN_ASSERT(x && y && outer >= 0 && dim >= 1);
    ptrdiff_t lines = (ptrdiff_t)outer * (ptrdiff_t)inner;
    size_t count = (size_t)lines * (size_t)dim;
    (void)count;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
#endif
    for (ptrdiff_t l = 0; l < lines; l++) {
        size_t o = (size_t)l / inner, i = (size_t)l % inner;
        const cn_real *xl = x + o * (size_t)dim * inner + i;
        cn_real *yl = y + o * (size_t)dim * inner + i;
        double m = line_max(xl, dim, inner);
        double s = 0;
        if (log_out) {
            for (int d = 0; d < dim; d++) s += exp((double)xl[(size_t)d * inner] - m);
            double lse = m + log(s);
            for (int d = 0; d < dim; d++)
                yl[(size_t)d * inner] = (cn_real)((double)xl[(size_t)d * inner] - lse);
        } else {
            for (int d = 0; d < dim; d++) {
                double e = exp((double)xl[(size_t)d * inner] - m);
                s += e;
                yl[(size_t)d * inner] = (cn_real)e;
            }
            for (int d = 0; d < dim; d++)
                yl[(size_t)d * inner] = (cn_real)((double)yl[(size_t)d * inner] / s);
        }
    }
}

void cn_softmax_forward(int outer, int dim, size_t inner, const cn_real *x, cn_real *y)
{
    softmax_lines(outer, dim, inner, x, y, 0);
}

void cn_softmax_backward(int outer, int dim, size_t inner, const cn_real *y,
                         const cn_real *dy, cn_real *dx)
{
    // y, dy, dx (outer, dim, inner)
    CN_ASSERT(y && dy && dx && outer >= 0 && dim >= 1);
    ptrdiff_t lines = (ptrdiff_t)outer * (ptrdiff_t)inner;
    size_t count = (size_t)lines * (size_t)dim;
    (void)count;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
#endif
    for (ptrdiff_t l = 0; l < lines; l++) {
        size_t off = ((size_t)l / inner) * (size_t)dim * inner + (size_t)l % inner;
        double s = 0;
        for (int d = 0; d < dim; d++) {
            size_t j = off + (size_t)d * inner;
            s += (double)dy[j] * (double)y[j];
        }
        for (int d = 0; d < dim; d++) {
            size_t j = off + (size_t)d * inner;
            dx[j] = (cn_real)((double)y[j] * ((double)dy[j] - s));
        }
    }
}

void cn_log_softmax_forward(int outer, int dim, size_t inner, const cn_real *x, cn_real *y)
{
    softmax_lines(outer, dim, inner, x, y, 1);
}

void cn_log_softmax_backward(int outer, int dim, size_t inner, const cn_real *y,
                             const cn_real *dy, cn_real *dx)
{
    // y, dy, dx (outer, dim, inner)
    CN_ASSERT(y && dy && dx && outer >= 0 && dim >= 1);
    ptrdiff_t lines = (ptrdiff_t)outer * (ptrdiff_t)inner;
    size_t count = (size_t)lines * (size_t)dim;
    (void)count;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
#endif
    for (ptrdiff_t l = 0; l < lines; l++) {
        size_t off = ((size_t)l / inner) * (size_t)dim * inner + (size_t)l % inner;
        double s = 0;
        for (int d = 0; d < dim; d++) s += (double)dy[off + (size_t)d * inner];
        for (int d = 0; d < dim; d++) {
            size_t j = off + (size_t)d * inner;
            dx[j] = (cn_real)((double)dy[j] - exp((double)y[j]) * s);
        }
    }
}
