/* conv_common.c: the helpers the convolution kernels share (declared in the
 * internal header conv_common.h): geometry arithmetic, bias forward / backward
 * and the slot-ordered weight-gradient reduction. Each loop keeps a fixed order,
 * so results do not depend on the thread count. */
#include "conv_common.h"

#include <limits.h>

int cn_conv_parallel(double work)
{
    return work >= (double)CN_CONV_PAR_MIN_WORK;
}

/* ceil_div: ceil(a / b) for any a and b > 0. */
static long long ceil_div(long long a, long long b)
{
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

void cn_conv_clip_range(int n_in, int n_out, int s, int p, int k, int d, int *lo, int *hi)
{
    long long off = (long long)k * d - p; /* source position of position 0 */
    long long a = ceil_div(-off, s);
    long long b = ceil_div((long long)n_in - off, s);
    if (a < 0) a = 0;
    if (b > n_out) b = n_out;
    if (b < a) b = a;
    *lo = (int)a;
    *hi = (int)b;
}

int cn_conv_mul3(size_t a, size_t b, size_t c, size_t *out)
{
    size_t t;
    if (cn_mul_overflow(a, b, &t) || cn_mul_overflow(t, c, &t)) return 1;
    *out = t;
    return 0;
}

cn_status cn_conv_check_bytes(const char *op, size_t count, int overflowed, const char *what,
                              cn_error *err)
{
    size_t bytes;
    if (overflowed || cn_mul_overflow(count, sizeof(cn_real), &bytes))
        return cn_error_set(err, CN_ERR_RANGE, "%s: %s buffer size overflows size_t", op, what);
    return CN_OK;
}

cn_status cn_conv_out_size(const char *op, const char *axis, int in, int k, int s, int p, int d,
                           int *out, cn_error *err)
{
    long long eff = (long long)d * (k - 1) + 1;
    long long padded = (long long)in + 2LL * p;
    if (eff > padded)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "%s: conv kernel larger than padded input along %s: kernel %d "
                            "dilated by %d spans %lld, input %d with padding %d gives %lld",
                            op, axis, k, d, eff, in, p, padded);
    long long o = (padded - eff) / s + 1;
    if (o > INT_MAX)
        return cn_error_set(err, CN_ERR_RANGE, "%s: output %s %lld overflows int", op, axis, o);
    *out = (int)o;
    return CN_OK;
}

void cn_conv_add_bias(int n, int c, size_t sp, const cn_real *b, cn_real *y, int parallel)
{
    const long planes = (long)n * c;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (parallel)
#else
    (void)parallel;
#endif
    for (long p = 0; p < planes; p++) {
        const cn_real bv = b[p % c];
        cn_real *yp = y + (size_t)p * sp; // (sp)
#ifdef _OPENMP
#pragma omp simd
#endif
        for (size_t k = 0; k < sp; k++) yp[k] += bv;
    }
}

/* BIAS_LANES: partial sums of the bias gradient, one per lane of a vector, so
 * the loop vectorises (a single accumulator is one dependent add per element). */
#define BIAS_LANES 16

void cn_conv_bias_grad(int n, int c, size_t sp, const cn_real *dy, cn_real *db, int parallel)
{
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (parallel)
#else
    (void)parallel;
#endif
    for (int co = 0; co < c; co++) {
        double acc[BIAS_LANES] = {0};
        for (int i = 0; i < n; i++) {
            const cn_real *d = dy + ((size_t)i * c + co) * sp; // (sp)
            size_t k = 0;
            for (; k + BIAS_LANES <= sp; k += BIAS_LANES)
                for (size_t l = 0; l < BIAS_LANES; l++) acc[l] += (double)d[k + l];
            for (size_t l = 0; k < sp; k++, l++) acc[l] += (double)d[k];
        }
        double sum = 0.0;
        for (int l = 0; l < BIAS_LANES; l++) sum += acc[l];
        db[co] += (cn_real)sum;
    }
}

void cn_conv_reduce_slots(size_t nw, int slots, size_t stride, const cn_real *part, cn_real *dw,
                          int parallel)
{
    const long n = (long)nw;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (parallel)
#else
    (void)parallel;
#endif
    for (long k = 0; k < n; k++) {
        cn_real acc = part[k]; // slot 0's partial starts the sum
        for (int s = 1; s < slots; s++) acc += part[(size_t)s * stride + (size_t)k];
        dw[k] += acc;
    }
}

void cn_conv_run_slots(int slots, int parallel, cn_conv_slot_fn fn, void *ctx)
{
    if (parallel && slots > 1) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
        for (int s = 0; s < slots; s++) fn(ctx, s);
        return;
    }
    for (int s = 0; s < slots; s++) fn(ctx, s);
}
