/* gradcheck.c: numerical gradient checking with centred differences, the course's
 * tool for trusting an analytic gradient: relative error per coordinate,
 * explicit and randomly drawn coordinates, parameters restored bit-exactly. */
#include "convnet/classic.h"

#include <math.h>

/* draw_coord: uniform index in [0, n) (n > 0). */
static size_t draw_coord(cn_rng *rng, size_t n)
{
    if (n <= UINT32_MAX) return (size_t)cn_rng_below(rng, (uint32_t)n);
    return (size_t)(cn_rng_u64(rng) % n);
}

/* rel_error: |a - n| / max(|a|, |n|), 0 when both are 0, +Inf when either is not
 * finite (so a NaN can never hide below a threshold). */
static double rel_error(double a, double num)
{
    if (!isfinite(a) || !isfinite(num)) return INFINITY;
    double den = fmax(fabs(a), fabs(num));
    return den == 0.0 ? 0.0 : fabs(a - num) / den;
}

/* check_one: centred difference at coordinate i, folded into res. The step is
 * the one actually represented, (x + h) - (x - h) in cn_real, which equals 2h in
 * exact arithmetic but is more accurate in float where x + h rounds. */
static void check_one(cn_scalar_fn f, void *ctx, cn_real *x, const cn_real *analytic,
                      size_t i, double h, cn_gradcheck_result *res)
{
    const cn_real old = x[i];
    const cn_real xp = (cn_real)((double)old + h);
    const cn_real xm = (cn_real)((double)old - h);
    x[i] = xp;
    double fp = f(ctx, x);
    x[i] = xm;
    double fm = f(ctx, x);
    x[i] = old;
    /* a step that vanishes in cn_real gives a non-finite num: reported as +Inf */
    double step = (double)xp - (double)xm;
    double num = (fp - fm) / step;
    double a = (double)analytic[i];
    double r = rel_error(a, num);
    if (res->checked == 0 || r > res->max_rel_err) {
        res->max_rel_err = r;
        res->worst_index = i;
        res->worst_analytic = a;
        res->worst_numeric = num;
    }
    res->checked++;
}

cn_status cn_gradcheck(cn_scalar_fn f, void *ctx, cn_real *x, size_t n,
                       const cn_real *analytic, const size_t *coords, size_t ncoords,
                       size_t nrandom, cn_rng *rng, double h,
                       cn_gradcheck_result *res, cn_error *err)
{
    if (!f || !res || (n > 0 && (!x || !analytic)) || (ncoords > 0 && !coords))
        return cn_error_set(err, CN_ERR_ARG, "gradcheck: NULL argument");
    if (!(isfinite(h) && h > 0))
        return cn_error_set(err, CN_ERR_ARG, "gradcheck: step h %g must be finite and > 0", h);
    if (nrandom > 0 && !rng)
        return cn_error_set(err, CN_ERR_ARG, "gradcheck: %zu random coordinates need an rng",
                            nrandom);
    if (nrandom > 0 && n == 0)
        return cn_error_set(err, CN_ERR_RANGE,
                            "gradcheck: random coordinates of an empty parameter vector");
    for (size_t k = 0; k < ncoords; k++)
        if (coords[k] >= n)
            return cn_error_set(err, CN_ERR_RANGE,
                                "gradcheck: coords[%zu] = %zu out of range [0, %zu)", k,
                                coords[k], n);

    res->max_rel_err = 0.0;
    res->worst_index = 0;
    res->worst_analytic = 0.0;
    res->worst_numeric = 0.0;
    res->checked = 0;
    for (size_t k = 0; k < ncoords; k++) check_one(f, ctx, x, analytic, coords[k], h, res);
    for (size_t k = 0; k < nrandom; k++)
        check_one(f, ctx, x, analytic, draw_coord(rng, n), h, res);
    return CN_OK;
}
