/* test_search.c: the pure part of random hyperparameter search (convnet/search.h):
 * parsing ranges (every error case, the default scale rule), sampling (log
 * dimensions uniform in log10, int dimensions reaching both ends, values in
 * range, seeded reproducibility), narrowing around the best values (documented
 * widths, clipping, aliasing), the edge check and ranking with NaN and ties. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "convnet/core.h"
#include "convnet/search.h"

/* ---------------------------------------------------------------- parse */

static cn_search_dim parse_ok(const char *text)
{
    cn_search_dim d;
    cn_error err;
    cn_error_clear(&err);
    cn_status st = cn_search_dim_parse(text, &d, &err);
    cr_assert_eq(st, CN_OK, "'%s': %s", text, err.msg);
    return d;
}

static void parse_bad(const char *text, const char *needle)
{
    cn_search_dim d;
    cn_error err;
    cn_error_clear(&err);
    cn_status st = cn_search_dim_parse(text, &d, &err);
    cr_expect_eq(st, CN_ERR_ARG, "'%s' should fail", text);
    cr_expect(strstr(err.msg, text) != NULL, "message does not name '%s': %s", text, err.msg);
    cr_expect(strstr(err.msg, needle) != NULL, "message lacks '%s': %s", needle, err.msg);
}

Test(search_parse, ranges_and_explicit_scales)
{
    cn_search_dim d = parse_ok("lr=1e-4:1e-1");
    cr_expect_str_eq(d.name, "lr");
    cr_expect_eq(d.lo, 1e-4);
    cr_expect_eq(d.hi, 1e-1);
    cr_expect_eq(d.scale, CN_SEARCH_LOG);
    d = parse_ok("dropout=0:0.5:linear");
    cr_expect_str_eq(d.name, "dropout");
    cr_expect_eq(d.lo, 0);
    cr_expect_eq(d.hi, 0.5);
    cr_expect_eq(d.scale, CN_SEARCH_LINEAR);
    d = parse_ok("hidden=64:512:int");
    cr_expect_eq(d.scale, CN_SEARCH_INT);
    cr_expect_eq(d.lo, 64);
    cr_expect_eq(d.hi, 512);
    d = parse_ok("kernel=3:3:int"); /* a one-value int range is allowed */
    cr_expect_eq(d.lo, 3);
    d = parse_ok("lr=1e-3:1e-2:log"); /* log forced on a ratio below 100 */
    cr_expect_eq(d.scale, CN_SEARCH_LOG);
    d = parse_ok("momentum=0.5:0.99:linear");
    cr_expect_eq(d.scale, CN_SEARCH_LINEAR);
    char name[CN_SEARCH_NAME_MAX + 8];
    memset(name, 'a', CN_SEARCH_NAME_MAX - 1);
    strcpy(name + CN_SEARCH_NAME_MAX - 1, "=1:2");
    d = parse_ok(name); /* the longest name that fits */
    cr_expect_eq(strlen(d.name), (size_t)CN_SEARCH_NAME_MAX - 1);
}

Test(search_parse, default_scale_rule)
{
    /* log when lo > 0 and hi / lo >= 100, else linear */
    cr_expect_eq(parse_ok("a=1:100").scale, CN_SEARCH_LOG);
    cr_expect_eq(parse_ok("a=1e-6:1e-2").scale, CN_SEARCH_LOG);
    cr_expect_eq(parse_ok("a=1:99.9").scale, CN_SEARCH_LINEAR);
    cr_expect_eq(parse_ok("a=0:100").scale, CN_SEARCH_LINEAR);
    cr_expect_eq(parse_ok("a=-5:500").scale, CN_SEARCH_LINEAR);
    cr_expect_eq(parse_ok("a=-3:-1").scale, CN_SEARCH_LINEAR);
    cr_expect_eq(parse_ok("a=64:512").scale, CN_SEARCH_LINEAR);
}

Test(search_parse, every_error_names_the_text)
{
    parse_bad("lr", "missing '='");
    parse_bad("lr1e-4:1e-1", "missing '='");
    parse_bad("=1:2", "empty name");
    parse_bad("lr=1e-4", "missing ':'");
    parse_bad("lr=abc:1", "bad number");
    parse_bad("lr=:1", "bad number");
    parse_bad("lr=1:", "bad number");
    parse_bad("lr=1:2x", "bad number");
    parse_bad("lr=1: 2", "bad number");
    parse_bad("lr=nan:1", "bad number");
    parse_bad("lr=1:inf", "bad number");
    parse_bad("lr=1:1e999", "bad number");
    parse_bad("lr=1e-1:1e-4", "lo 0.1 >= hi 0.0001");
    parse_bad("lr=1:1", ">=");
    parse_bad("lr=1:1:linear", ">=");
    parse_bad("lr=0:1:log", "log scale needs lo > 0");
    parse_bad("lr=-1:1:log", "log scale needs lo > 0");
    parse_bad("lr=1:2:cubic", "unknown scale 'cubic'");
    parse_bad("lr=1:2:", "unknown scale");
    parse_bad("lr=1:2:log:x", "unknown scale 'log:x'");
    parse_bad("lr=1:2:LOG", "unknown scale");
    parse_bad("h=1.5:4:int", "integers");
    parse_bad("h=1:4.5:int", "integers");
    parse_bad("h=5:4:int", "lo 5 > hi 4");
    parse_bad("h=0:1e12:int", "integers");
    char name[CN_SEARCH_NAME_MAX + 8];
    memset(name, 'a', CN_SEARCH_NAME_MAX);
    strcpy(name + CN_SEARCH_NAME_MAX, "=1:2");
    parse_bad(name, "name longer than");
    cn_search_dim d;
    cn_error err;
    cr_expect_eq(cn_search_dim_parse(NULL, &d, &err), CN_ERR_ARG);
}

/* ---------------------------------------------------------------- sample */

#define DRAWS 20000

Test(search_sample, log_dimension_is_uniform_in_log10)
{
    cn_search_dim d = parse_ok("lr=1e-4:1e-1");
    cn_rng rng;
    cn_rng_seed(&rng, 42, 0);
    int decade[3] = {0, 0, 0};
    for (int i = 0; i < DRAWS; i++) {
        double v;
        cn_search_sample(&d, 1, &rng, &v);
        cr_assert(v >= 1e-4 && v <= 1e-1, "draw %d = %g outside the range", i, v);
        int k = (int)floor(log10(v) + 4);
        if (k > 2) k = 2;
        decade[k]++;
    }
    /* each decade holds 1/3 of the draws within 5 binomial standard deviations */
    double p = 1.0 / 3, sigma = sqrt(DRAWS * p * (1 - p));
    for (int k = 0; k < 3; k++)
        cr_expect(fabs(decade[k] - DRAWS * p) < 5 * sigma, "decade %d: %d of %d draws", k,
                  decade[k], DRAWS);
}

Test(search_sample, int_and_linear_dimensions_stay_in_range)
{
    cn_search_dim dims[3] = {parse_ok("hidden=1:6:int"), parse_ok("dropout=0:0.5:linear"),
                             parse_ok("wd=1e-6:1e-2")};
    cn_rng rng;
    cn_rng_seed(&rng, 7, 1);
    int hits[7] = {0};
    double sum = 0;
    for (int i = 0; i < DRAWS; i++) {
        double v[3];
        cn_search_sample(dims, 3, &rng, v);
        cr_assert(v[0] >= 1 && v[0] <= 6 && v[0] == floor(v[0]), "int draw %g", v[0]);
        hits[(int)v[0]]++;
        cr_assert(v[1] >= 0 && v[1] <= 0.5, "linear draw %g", v[1]);
        cr_assert(v[2] >= 1e-6 && v[2] <= 1e-2, "log draw %g", v[2]);
        sum += v[1];
    }
    for (int k = 1; k <= 6; k++) cr_expect_gt(hits[k], DRAWS / 6 - 500, "value %d: %d", k, hits[k]);
    cr_expect(fabs(sum / DRAWS - 0.25) < 0.01, "linear mean %g", sum / DRAWS);
    cn_search_dim one = parse_ok("k=3:3:int");
    double v;
    cn_search_sample(&one, 1, &rng, &v);
    cr_expect_eq(v, 3);
}

Test(search_sample, seeded_reproducibility)
{
    cn_search_dim dims[2] = {parse_ok("lr=1e-4:1e-1"), parse_ok("h=16:512:int")};
    cn_rng a, b, c;
    cn_rng_seed(&a, 123, 5);
    cn_rng_seed(&b, 123, 5);
    cn_rng_seed(&c, 124, 5);
    int differ = 0;
    for (int i = 0; i < 50; i++) {
        double va[2], vb[2], vc[2];
        cn_search_sample(dims, 2, &a, va);
        cn_search_sample(dims, 2, &b, vb);
        cn_search_sample(dims, 2, &c, vc);
        cr_assert_eq(va[0], vb[0]);
        cr_assert_eq(va[1], vb[1]);
        differ += va[0] != vc[0];
    }
    cr_expect_gt(differ, 45, "another seed gives other values");
}

/* ---------------------------------------------------------------- narrow */

static void expect_close(double got, double want, const char *what)
{
    cr_expect(fabs(got - want) <= 1e-12 * fabs(want) + 1e-15, "%s: got %.17g, want %.17g", what,
              got, want);
}

Test(search_narrow, log_dimension_widened_by_half_the_span)
{
    cn_search_dim d = parse_ok("lr=1e-4:1e-1"), out;
    cn_error err;
    double top[2] = {1e-3, 1e-2};
    cr_assert_eq(cn_search_narrow(&d, 1, top, 2, &out, &err), CN_OK, "%s", err.msg);
    expect_close(out.lo, pow(10, -3.5), "lo");
    expect_close(out.hi, pow(10, -1.5), "hi");
    cr_expect_eq(out.scale, CN_SEARCH_LOG);
    cr_expect_str_eq(out.name, "lr");
    /* one value: at least a factor 10^(1/4) each side */
    double one = 1e-3;
    cr_assert_eq(cn_search_narrow(&d, 1, &one, 1, &out, &err), CN_OK);
    expect_close(out.lo, pow(10, -3.25), "lo");
    expect_close(out.hi, pow(10, -2.75), "hi");
    /* a small span still gets the minimum */
    double close[2] = {1e-3, 1.1e-3};
    cr_assert_eq(cn_search_narrow(&d, 1, close, 2, &out, &err), CN_OK);
    expect_close(out.lo, pow(10, -3.25), "lo");
    expect_close(out.hi, 1.1e-3 * pow(10, 0.25), "hi");
    /* clipped to the original range */
    double high[2] = {0.05, 0.09};
    cr_assert_eq(cn_search_narrow(&d, 1, high, 2, &out, &err), CN_OK);
    cr_expect_eq(out.hi, 1e-1);
    cr_expect(out.lo < 0.05 && out.lo > 0.01, "lo %g", out.lo);
}

Test(search_narrow, linear_and_int_dimensions)
{
    cn_search_dim dims[3] = {parse_ok("dropout=0:0.5:linear"), parse_ok("hidden=64:512:int"),
                             parse_ok("m=0.5:0.99:linear")};
    cn_search_dim out[3];
    cn_error err;
    /* top: trial 0 (0.2, 100, 0.8), trial 1 (0.3, 200, 0.98) */
    double top[6] = {0.2, 100, 0.8, 0.3, 200, 0.98};
    cr_assert_eq(cn_search_narrow(dims, 3, top, 2, out, &err), CN_OK, "%s", err.msg);
    expect_close(out[0].lo, 0.15, "dropout lo");
    expect_close(out[0].hi, 0.35, "dropout hi");
    cr_expect_eq(out[1].lo, 64); /* 50 clipped */
    cr_expect_eq(out[1].hi, 250);
    cr_expect_eq(out[1].scale, CN_SEARCH_INT);
    expect_close(out[2].lo, 0.71, "m lo");
    cr_expect_eq(out[2].hi, 0.99); /* 1.07 clipped */
    /* one trial: 5% of the original range each side; int rounded outwards */
    double one[3] = {0.0, 100, 0.7};
    cr_assert_eq(cn_search_narrow(dims, 3, one, 1, out, &err), CN_OK);
    cr_expect_eq(out[0].lo, 0);
    expect_close(out[0].hi, 0.025, "dropout hi");
    cr_expect_eq(out[1].lo, 77); /* 100 - 22.4 */
    cr_expect_eq(out[1].hi, 123);
    expect_close(out[2].lo, 0.7 - 0.0245, "m lo");
    expect_close(out[2].hi, 0.7 + 0.0245, "m hi");
}

Test(search_narrow, out_may_alias_dims_and_errors)
{
    cn_search_dim dims[2] = {parse_ok("lr=1e-4:1e-1"), parse_ok("dropout=0:0.5:linear")};
    cn_error err;
    double top[2] = {1e-3, 0.25};
    cr_assert_eq(cn_search_narrow(dims, 2, top, 1, dims, &err), CN_OK, "%s", err.msg);
    expect_close(dims[0].lo, pow(10, -3.25), "lo");
    expect_close(dims[1].hi, 0.275, "hi");
    cn_search_dim out[2];
    cr_expect_eq(cn_search_narrow(dims, 2, top, 0, out, &err), CN_ERR_ARG);
    cr_expect_eq(cn_search_narrow(dims, 0, top, 1, out, &err), CN_ERR_ARG);
    cr_expect_eq(cn_search_narrow(dims, CN_SEARCH_MAX_DIMS + 1, top, 1, out, &err), CN_ERR_ARG);
    double nan_top[2] = {NAN, 0.2};
    cr_expect_eq(cn_search_narrow(dims, 2, nan_top, 1, out, &err), CN_ERR_ARG);
    cr_expect(strstr(err.msg, "lr") != NULL, "%s", err.msg);
}

/* ---------------------------------------------------------------- edges */

Test(search_edge, lowest_and_highest_tenth_in_scale)
{
    cn_search_dim lr = parse_ok("lr=1e-4:1e-1");
    cr_expect_eq(cn_search_at_edge(&lr, 1.5e-4), -1);
    cr_expect_eq(cn_search_at_edge(&lr, 1e-4), -1);
    cr_expect_eq(cn_search_at_edge(&lr, 0.09), 1);
    cr_expect_eq(cn_search_at_edge(&lr, 1e-1), 1);
    cr_expect_eq(cn_search_at_edge(&lr, 3e-3), 0);
    cr_expect_eq(cn_search_at_edge(&lr, 0.04), 0); /* log: 0.04 is at 87% */
    cn_search_dim dr = parse_ok("dropout=0:0.5:linear");
    cr_expect_eq(cn_search_at_edge(&dr, 0.04), -1);
    cr_expect_eq(cn_search_at_edge(&dr, 0.46), 1);
    cr_expect_eq(cn_search_at_edge(&dr, 0.25), 0);
    cn_search_dim h = parse_ok("h=10:110:int");
    cr_expect_eq(cn_search_at_edge(&h, 10), -1);
    cr_expect_eq(cn_search_at_edge(&h, 60), 0);
    cr_expect_eq(cn_search_at_edge(&h, 110), 1);
    cn_search_dim one = parse_ok("k=3:3:int");
    cr_expect_eq(cn_search_at_edge(&one, 3), 0);
}

/* ---------------------------------------------------------------- rank */

Test(search_rank, best_first_nan_last_ties_in_order)
{
    double score[7] = {0.5, NAN, 0.9, 0.5, NAN, 0.7, 0.5};
    int order[7];
    cn_search_rank(score, 7, order);
    int want[7] = {2, 5, 0, 3, 6, 1, 4};
    for (int i = 0; i < 7; i++) cr_expect_eq(order[i], want[i], "rank %d: %d", i, order[i]);
    double all_nan[3] = {NAN, NAN, NAN};
    int o3[3];
    cn_search_rank(all_nan, 3, o3);
    for (int i = 0; i < 3; i++) cr_expect_eq(o3[i], i);
    double one = 0.1;
    int o1 = -1;
    cn_search_rank(&one, 1, &o1);
    cr_expect_eq(o1, 0);
    cn_search_rank(NULL, 0, NULL);
}
