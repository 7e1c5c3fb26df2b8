/* search.c: the pure part of random hyperparameter search (convnet/search.h):
 * parsing "name=lo:hi[:scale]" ranges, drawing independent samples (uniform in
 * log10 for log dimensions), narrowing the ranges around the best trials for the
 * fine stage, the edge check and the ranking of trials by score (NaN last). */
#include "convnet/search.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Fraction of a range (in its scale) that counts as its edge. */
#define EDGE_FRACTION 0.1
/* Narrowing: minimum widening on each side, in decades for log dimensions
 * (a factor 10^(1/4)) and as a fraction of the original range otherwise. */
#define MIN_PAD_DECADES 0.25
#define MIN_PAD_FRACTION 0.05
/* Largest magnitude of an INT bound (so hi - lo + 1 fits in 32 bits). */
#define INT_BOUND 1000000000.0

static const char *const SCALE_NAMES[CN_SEARCH_SCALE_COUNT] = {"log", "linear", "int"};

/* Parse the whole of s[0..n) as a finite double. Returns 0 or -1. */
static int parse_number(const char *s, size_t n, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (buf[0] == ' ' || buf[0] == '\t' || buf[0] == '\n') return -1;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

cn_status cn_search_dim_parse(const char *text, cn_search_dim *out, cn_error *err)
{
    if (!text || !out) return cn_error_set(err, CN_ERR_ARG, "search space: NULL argument");
    const char *eq = strchr(text, '=');
    if (!eq)
        return cn_error_set(err, CN_ERR_ARG,
                            "search space '%s': missing '=' (expected name=lo:hi[:scale])", text);
    size_t nl = (size_t)(eq - text);
    if (nl == 0) return cn_error_set(err, CN_ERR_ARG, "search space '%s': empty name", text);
    if (nl >= CN_SEARCH_NAME_MAX)
        return cn_error_set(err, CN_ERR_ARG, "search space '%s': name longer than %d bytes",
                            text, CN_SEARCH_NAME_MAX - 1);
    const char *p = eq + 1;
    const char *c1 = strchr(p, ':');
    if (!c1)
        return cn_error_set(err, CN_ERR_ARG,
                            "search space '%s': missing ':' (expected name=lo:hi[:scale])", text);
    const char *c2 = strchr(c1 + 1, ':');
    const char *hi_end = c2 ? c2 : c1 + 1 + strlen(c1 + 1);
    double lo, hi;
    if (parse_number(p, (size_t)(c1 - p), &lo) != 0)
        return cn_error_set(err, CN_ERR_ARG, "search space '%s': bad number '%.*s' for lo", text,
                            (int)(c1 - p), p);
    if (parse_number(c1 + 1, (size_t)(hi_end - (c1 + 1)), &hi) != 0)
        return cn_error_set(err, CN_ERR_ARG, "search space '%s': bad number '%.*s' for hi", text,
                            (int)(hi_end - (c1 + 1)), c1 + 1);
    cn_search_scale scale;
    if (c2) {
        const char *s = c2 + 1;
        int found = -1;
        for (int k = 0; k < CN_SEARCH_SCALE_COUNT; k++)
            if (strcmp(s, SCALE_NAMES[k]) == 0) found = k;
        if (found < 0)
            return cn_error_set(err, CN_ERR_ARG,
                                "search space '%s': unknown scale '%s' (log, linear or int)", text,
                                s);
        scale = (cn_search_scale)found;
    } else {
        scale = lo > 0 && hi / lo >= 100 ? CN_SEARCH_LOG : CN_SEARCH_LINEAR;
    }
    if (scale == CN_SEARCH_INT) {
        if (lo != floor(lo) || hi != floor(hi) || fabs(lo) > INT_BOUND || fabs(hi) > INT_BOUND)
            return cn_error_set(err, CN_ERR_ARG,
                                "search space '%s': int bounds must be integers within +-%.0f",
                                text, INT_BOUND);
        if (lo > hi)
            return cn_error_set(err, CN_ERR_ARG, "search space '%s': lo %g > hi %g", text, lo, hi);
    } else if (lo >= hi) {
        return cn_error_set(err, CN_ERR_ARG, "search space '%s': lo %g >= hi %g", text, lo, hi);
    }
    if (scale == CN_SEARCH_LOG && lo <= 0)
        return cn_error_set(err, CN_ERR_ARG, "search space '%s': log scale needs lo > 0 (got %g)",
                            text, lo);
    memset(out, 0, sizeof *out);
    memcpy(out->name, text, nl);
    out->name[nl] = '\0';
    out->lo = lo;
    out->hi = hi;
    out->scale = scale;
    return CN_OK;
}

/* v in the dimension's scale (log10 for log dimensions). */
static double to_scale(const cn_search_dim *d, double v)
{
    return d->scale == CN_SEARCH_LOG ? log10(v) : v;
}

static double from_scale(const cn_search_dim *d, double t)
{
    return d->scale == CN_SEARCH_LOG ? pow(10.0, t) : t;
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void cn_search_sample(const cn_search_dim *dims, int n, cn_rng *rng, double *values)
{
    CN_ASSERT(n <= 0 || (dims && rng && values));
    for (int i = 0; i < n; i++) {
        const cn_search_dim *d = &dims[i];
        double v;
        if (d->scale == CN_SEARCH_INT) {
            double span = d->hi - d->lo + 1;
            v = d->lo + (double)cn_rng_below(rng, (uint32_t)span);
        } else {
            double a = to_scale(d, d->lo), b = to_scale(d, d->hi);
            v = from_scale(d, a + (b - a) * cn_rng_uniform(rng));
        }
        values[i] = clamp(v, d->lo, d->hi);
    }
}

/* Is d a valid dimension (what cn_search_dim_parse accepts)? */
static int dim_ok(const cn_search_dim *d)
{
    if (!isfinite(d->lo) || !isfinite(d->hi)) return 0;
    switch (d->scale) {
    case CN_SEARCH_LOG: return d->lo > 0 && d->lo < d->hi;
    case CN_SEARCH_LINEAR: return d->lo < d->hi;
    case CN_SEARCH_INT: return d->lo <= d->hi;
    default: return 0;
    }
}

cn_status cn_search_narrow(const cn_search_dim *dims, int n, const double *top, int k,
                           cn_search_dim *out, cn_error *err)
{
    if (!dims || !top || !out) return cn_error_set(err, CN_ERR_ARG, "search narrow: NULL argument");
    if (n < 1 || n > CN_SEARCH_MAX_DIMS)
        return cn_error_set(err, CN_ERR_ARG, "search narrow: %d dimensions (expected 1..%d)", n,
                            CN_SEARCH_MAX_DIMS);
    if (k < 1) return cn_error_set(err, CN_ERR_ARG, "search narrow: k = %d (expected >= 1)", k);
    for (int d = 0; d < n; d++) {
        if (!dim_ok(&dims[d]))
            return cn_error_set(err, CN_ERR_ARG, "search narrow: dimension %d ('%.*s') has a bad "
                                "range %g:%g", d, CN_SEARCH_NAME_MAX, dims[d].name, dims[d].lo,
                                dims[d].hi);
        for (int i = 0; i < k; i++)
            if (!isfinite(top[(size_t)i * n + d]))
                return cn_error_set(err, CN_ERR_ARG, "search narrow: top value %d of '%.*s' is "
                                    "not finite", i, CN_SEARCH_NAME_MAX, dims[d].name);
    }
    for (int d = 0; d < n; d++) {
        cn_search_dim dim = dims[d]; /* a copy: out may alias dims */
        double a = to_scale(&dim, dim.lo), b = to_scale(&dim, dim.hi);
        double tmin = b, tmax = a;
        for (int i = 0; i < k; i++) {
            double t = to_scale(&dim, clamp(top[(size_t)i * n + d], dim.lo, dim.hi));
            if (t < tmin) tmin = t;
            if (t > tmax) tmax = t;
        }
        double pad = (tmax - tmin) / 2;
        double min_pad = dim.scale == CN_SEARCH_LOG ? MIN_PAD_DECADES : MIN_PAD_FRACTION * (b - a);
        if (pad < min_pad) pad = min_pad;
        double lo = from_scale(&dim, tmin - pad), hi = from_scale(&dim, tmax + pad);
        if (dim.scale == CN_SEARCH_INT) {
            lo = floor(lo);
            hi = ceil(hi);
        }
        out[d] = dim;
        out[d].lo = clamp(lo, dim.lo, dim.hi);
        out[d].hi = clamp(hi, dim.lo, dim.hi);
    }
    return CN_OK;
}

int cn_search_at_edge(const cn_search_dim *d, double v)
{
    CN_ASSERT(d);
    if (!dim_ok(d) || d->lo == d->hi || isnan(v)) return 0;
    if (d->scale == CN_SEARCH_LOG && v <= 0) return -1;
    double a = to_scale(d, d->lo), b = to_scale(d, d->hi);
    double t = (to_scale(d, v) - a) / (b - a);
    if (t < EDGE_FRACTION) return -1;
    if (t > 1 - EDGE_FRACTION) return 1;
    return 0;
}

/* Does score a come strictly before score b (higher first, NaN last)? */
static int ranks_before(double a, double b)
{
    if (isnan(a)) return 0;
    return isnan(b) || a > b;
}

void cn_search_rank(const double *score, int n, int *order)
{
    CN_ASSERT(n <= 0 || (score && order));
    /* insertion sort: stable, so ties keep trial order; n is a trial count */
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && ranks_before(score[i], score[order[j - 1]])) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
}
