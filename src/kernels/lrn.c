/* src/kernels/lrn.c: local response normalisation across channels, exactly as
 * PyTorch's nn.LocalResponseNorm(size, alpha, beta, k) (AlexNet's LRN): forward
 * saves the per-element scale k + alpha/size * (window sum of squares), backward
 * uses it. One thread per (image, channel) plane; every value is computed alone in
 * a fixed order, so results never depend on the thread count. Formulas and the
 * backward derivation: docs/kernels/norm.md. */
#include "convnet/norm_kernels.h"

#include <limits.h>
#include <math.h>

cn_status cn_lrn_forward(int n, int c, int inner, int size, double alpha, double beta,
                         double k, const cn_real *x, cn_real *y, cn_real *scale,
                         cn_error *err)
{
    if (n < 1 || c < 1 || inner < 1 || size < 1)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "lrn: sizes (n %d, c %d, inner %d, size %d) must be >= 1", n, c,
                            inner, size);
    size_t nc, total;
    if (n > INT_MAX / c || cn_mul_overflow((size_t)n, (size_t)c, &nc) ||
        cn_mul_overflow(nc, (size_t)inner, &total))
        return cn_error_set(err, CN_ERR_RANGE,
                            "lrn: element count n %d * c %d * inner %d overflows", n, c,
                            inner);
    if (!isfinite(alpha) || !isfinite(beta) || !isfinite(k))
        return cn_error_set(err, CN_ERR_ARG,
                            "lrn: alpha %g, beta %g and k %g must be finite", alpha, beta, k);
    CN_ASSERT(x != NULL && y != NULL && x != y);
    const size_t is = (size_t)inner;
    const double coef = alpha / (double)size;
    const int before = size / 2, after = (size - 1) / 2;
    const int planes = n * c;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int p = 0; p < planes; p++) {
        const int ch = p % c;
        const size_t img = (size_t)(p / c) * (size_t)c * is;  // image's offset
        const int lo = ch - before < 0 ? 0 : ch - before;
        const int hi = ch + after > c - 1 ? c - 1 : ch + after;
        const size_t off = (size_t)p * is;
        for (size_t j = 0; j < is; j++) {
            double s = 0.0;
            for (int q = lo; q <= hi; q++) {
                double v = (double)x[img + (size_t)q * is + j];
                s += v * v;
            }
            double sc = k + coef * s;
            y[off + j] = (cn_real)((double)x[off + j] * pow(sc, -beta));
            if (scale) scale[off + j] = (cn_real)sc;
        }
    }
    return CN_OK;
}

void cn_lrn_backward(int n, int c, int inner, int size, double alpha, double beta,
                     const cn_real *x, const cn_real *y, const cn_real *scale,
                     const cn_real *dy, cn_real *dx)
{
    CN_ASSERT(n >= 1 && c >= 1 && inner >= 1 && size >= 1 && n <= INT_MAX / c);
    CN_ASSERT(x != NULL && y != NULL && scale != NULL && dy != NULL && dx != NULL);
    const size_t is = (size_t)inner;
    const double coef = 2.0 * beta * alpha / (double)size;
    // channel j receives from every c whose window holds it: c in [j - after, j + before]
    const int before = size / 2, after = (size - 1) / 2;
    const int planes = n * c;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int p = 0; p < planes; p++) {
        const int ch = p % c;
        const size_t img = (size_t)(p / c) * (size_t)c * is;
        const int lo = ch - after < 0 ? 0 : ch - after;
        const int hi = ch + before > c - 1 ? c - 1 : ch + before;
        const size_t off = (size_t)p * is;
        for (size_t j = 0; j < is; j++) {
            double t = 0.0;  // sum of dy_c * y_c / scale_c over the receiving window
            for (int q = lo; q <= hi; q++) {
                size_t o = img + (size_t)q * is + j;
                t += (double)dy[o] * (double)y[o] / (double)scale[o];
            }
            double sc = (double)scale[off + j];
            dx[off + j] = (cn_real)((double)dy[off + j] * pow(sc, -beta) -
                                    coef * (double)x[off + j] * t);
        }
    }
}
