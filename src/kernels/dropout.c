/* dropout.c: inverted dropout, spatial dropout (Dropout2d) and DropConnect,
 * forward and backward. Masks hold 0 or 1 / (1 - p) and are drawn serially from
 * an explicit cn_rng into a caller-owned buffer (one draw per entry, in order),
 * so the same seed gives the same mask for any thread count, and a caller can
 * replay a mask by passing rng == NULL. */
#include "convnet/activation_kernels.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define PAR_MIN 32768

cn_status cn_dropout_check(double p, cn_error *err)
{
    if (!(p >= 0.0 && p <= 1.0))
        return cn_error_set(err, CN_ERR_ARG, "dropout: p %g is not in [0, 1]", p);
    return CN_OK;
}

void cn_dropout_mask(cn_rng *rng, double p, size_t count, cn_real *mask)
{
    // mask (count)
    CN_ASSERT(rng && (mask || count == 0) && p >= 0.0 && p <= 1.0);
    cn_real keep = p < 1.0 ? (cn_real)(1.0 / (1.0 - p)) : 0;
    for (size_t i = 0; i < count; i++) mask[i] = cn_rng_uniform(rng) < p ? 0 : keep;
}

/* scale: out[i] = a[i] * m[i] over count elements (out may be a). */
static void scale(size_t count, const cn_real *a, const cn_real *m, cn_real *out)
{
    // a, m, out (count)
    ptrdiff_t cnt = (ptrdiff_t)count;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
#endif
    for (ptrdiff_t i = 0; i < cnt; i++) out[i] = a[i] * m[i];
}

/* copy: out = a, tolerating out == a. */
static void copy(size_t count, const cn_real *a, cn_real *out)
{
    if (out != a && count) memcpy(out, a, count * sizeof *out);
}

void cn_dropout_forward(double p, int training, cn_rng *rng, size_t count,
                        const cn_real *x, cn_real *y, cn_real *mask)
{
    // x, y, mask (count)
    CN_ASSERT((x && y) || count == 0);
    if (!training) {
        copy(count, x, y);
        return;
    }
    CN_ASSERT(mask || count == 0);
    if (rng) cn_dropout_mask(rng, p, count, mask);
    scale(count, x, mask, y);
}

void cn_dropout_backward(int training, size_t count, const cn_real *dy,
                         const cn_real *mask, cn_real *dx)
{
    // dy, mask, dx (count)
    CN_ASSERT((dy && dx) || count == 0);
    if (!training) {
        copy(count, dy, dx);
        return;
    }
    CN_ASSERT(mask || count == 0);
    scale(count, dy, mask, dx);
}

/* plane_scale: out (n, c, inner) = a * m[n, c] per plane (out may be a). */
static void plane_scale(int n, int c, size_t inner, const cn_real *a, const cn_real *m,
                        cn_real *out)
{
    // a, out (n, c, inner); m (n, c)
    ptrdiff_t planes = (ptrdiff_t)n * c;
    size_t count = (size_t)planes * inner;
    (void)count;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
#endif
    for (ptrdiff_t pl = 0; pl < planes; pl++) {
        cn_real s = m[pl];
        size_t off = (size_t)pl * inner;
        for (size_t i = 0; i < inner; i++) out[off + i] = a[off + i] * s;
    }
}

void cn_dropout2d_forward(double p, int training, cn_rng *rng, int n, int c, size_t inner,
                          const cn_real *x, cn_real *y, cn_real *mask)
{
    // x, y (n, c, inner); mask (n, c)
    CN_ASSERT(n >= 0 && c >= 0);
    size_t count = (size_t)n * (size_t)c * inner;
    CN_ASSERT((x && y) || count == 0);
    if (!training) {
        copy(count, x, y);
        return;
    }
    CN_ASSERT(mask || (size_t)n * (size_t)c == 0);
    if (rng) cn_dropout_mask(rng, p, (size_t)n * (size_t)c, mask);
    plane_scale(n, c, inner, x, mask, y);
}

void cn_dropout2d_backward(int training, int n, int c, size_t inner, const cn_real *dy,
                           const cn_real *mask, cn_real *dx)
{
    // dy, dx (n, c, inner); mask (n, c)
    CN_ASSERT(n >= 0 && c >= 0);
    size_t count = (size_t)n * (size_t)c * inner;
    CN_ASSERT((dy && dx) || count == 0);
    if (!training) {
        copy(count, dy, dx);
        return;
    }
    CN_ASSERT(mask || (size_t)n * (size_t)c == 0);
    plane_scale(n, c, inner, dy, mask, dx);
}

void cn_dropconnect_forward(double p, int training, cn_rng *rng, size_t count,
                            const cn_real *w, cn_real *w_eff, cn_real *mask)
{
    // w, w_eff, mask (count)
    cn_dropout_forward(p, training, rng, count, w, w_eff, mask);
}

void cn_dropconnect_backward(int training, size_t count, const cn_real *dw_eff,
                             const cn_real *mask, cn_real *dw)
{
    // dw_eff, mask, dw (count)
    CN_ASSERT((dw_eff && dw) || count == 0);
    ptrdiff_t cnt = (ptrdiff_t)count;
    if (!training) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
#endif
        for (ptrdiff_t i = 0; i < cnt; i++) dw[i] += dw_eff[i];
        return;
    }
    CN_ASSERT(mask || count == 0);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
#endif
    for (ptrdiff_t i = 0; i < cnt; i++) dw[i] += dw_eff[i] * mask[i];
}
