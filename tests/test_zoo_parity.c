/* test_zoo_parity.c: forward-pass parity of zoo models with torchvision 0.14
 * (tests/fixtures/zoo/parity_<model>.json from tools/fixtures/zoo_parity.py):
 * models/resnet18.cnm and models/vgg11.cnm at one 3x64x64 input with 1000
 * classes, in evaluation mode. The weights are too large to commit, so both
 * sides make them from one counter-based formula (a splitmix64 finaliser of
 * (tensor seed, element index) mapped to a uniform in [-1, 1), then
 * offset + scale * u), the script in numpy and this test in C; the fixture holds
 * the mapping (torchvision name, convnet name, seed, scale, offset, shape) and
 * the logits of torchvision's forward pass in float64 and float32. Every mapped
 * tensor must exist here with its shape and every parameter and buffer of the
 * compiled model must be mapped (none left at its initialiser); the logits must
 * match the float64 reference within float rounding (a tolerance relative to
 * the logit scale) in the float build and to ~1e-9 of that scale in the double
 * build. The max abs differences are printed to stderr. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/model.h"
#include "convnet/model_text.h"
#include "support.h"

/* tolerance on max |logit - reference| as a fraction of max |reference| (plus
 * an absolute floor): float rounds ~6e-8 relative per operation over sums of up
 * to 25088 terms and 20 layers (measured: 1e-6 to 4e-6 absolute at logits of
 * 3 to 6 through OpenBLAS, as torchvision's own float32 run; 2e-5 through the
 * portable GEMM); double agrees to ~1e-14 */
#ifdef CN_DOUBLE
#define REL_TOL 1e-9
#define ABS_TOL 1e-12
#else
#define REL_TOL 1e-4
#define ABS_TOL 1e-5
#endif

/* gen_uniform: element i of tensor seed's stream, uniform in [-1, 1): the
 * splitmix64 finaliser of (seed << 40) + i, its top 53 bits scaled (exact in
 * double). The same formula as uniform() in tools/fixtures/zoo_parity.py. */
static inline double gen_uniform(uint64_t seed, uint64_t i)
{
    uint64_t z = (seed << 40) + i;
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1p-52 - 1.0;
}

/* gen_fill: x[i] = offset + scale * gen_uniform(seed, i) for i < n, rounded
 * once to cn_real. The product and the sum are separate statements so no
 * compiler fuses them into an FMA (numpy rounds both). */
static void gen_fill(cn_real *x, size_t n, uint64_t seed, double scale, double offset)
{
    for (size_t i = 0; i < n; i++) {
        double t = scale * gen_uniform(seed, (uint64_t)i);
        double v = offset + t;
        x[i] = (cn_real)v;
    }
}

/* json_num: obj[key] as a number (must be one). */
static double json_num(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    cr_assert(json_is_number(v), "fixture: \"%s\" is not a number", key);
    return json_number_value(v);
}

/* json_logits: obj[key], an array of n numbers, as doubles (malloc'd). */
static double *json_logits(const json_t *obj, const char *key, size_t n)
{
    json_t *a = json_object_get(obj, key);
    cr_assert(json_is_array(a) && json_array_size(a) == n,
              "fixture: \"%s\" is not an array of %zu numbers", key, n);
    double *v = malloc(n * sizeof *v);
    cr_assert_not_null(v);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(a, i);
        cr_assert(json_is_number(e), "fixture: %s[%zu] is not a number", key, i);
        v[i] = json_number_value(e);
    }
    return v;
}

/* shape_cat: append ", v" (or "v" to an empty buf) to buf (cap bytes). */
static void shape_cat(char *buf, size_t cap, long long v)
{
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s%lld", n ? ", " : "", v);
}

/* fill_params: set every tensor of the fixture's mapping in the compiled
 * model's store from the generator, checking that each one exists with the
 * same shape and is set once, and that every parameter and buffer is set. */
static void fill_params(cn_model *m, const json_t *tensors, const char *model)
{
    cn_params *ps = cn_model_params(m);
    cr_assert_not_null(ps);
    cr_assert(json_is_array(tensors) && json_array_size(tensors) > 0,
              "fixture: \"tensors\" is not a non-empty array");
    char *set = calloc((size_t)ps->n, 1); // (ps->n) 1 once parameter k is filled
    cr_assert_not_null(set);
    size_t i;
    json_t *t;
    json_array_foreach(tensors, i, t) {
        const char *tname = json_string_value(json_object_get(t, "torch"));
        const char *cname = json_string_value(json_object_get(t, "convnet"));
        json_t *seed = json_object_get(t, "seed");
        json_t *shape = json_object_get(t, "shape");
        cr_assert(tname && cname && json_is_integer(seed) && json_is_array(shape),
                  "fixture: tensors[%zu] is malformed", i);
        cn_param *p = cn_params_find(ps, cname);
        cr_assert_not_null(p, "%s: torchvision's %s maps to %s, which the model lacks", model,
                           tname, cname);
        int k = (int)(p - ps->p);
        cr_assert(!set[k], "%s: %s is mapped twice", model, cname);
        set[k] = 1;
        char mine[96] = "", theirs[96] = "";
        for (int d = 0; d < p->ndim; d++)
            shape_cat(mine, sizeof mine, p->shape[d]);
        for (size_t d = 0; d < json_array_size(shape); d++)
            shape_cat(theirs, sizeof theirs, json_integer_value(json_array_get(shape, d)));
        cr_assert_str_eq(mine, theirs, "%s: %s is (%s), torchvision's %s is (%s)", model, cname,
                         mine, tname, theirs);
        /* the counter (seed << 40) + i needs seed < 2^24 and i < 2^40 */
        cr_assert(json_integer_value(seed) >= 0 && json_integer_value(seed) < (1 << 24),
                  "fixture: %s: seed out of range", tname);
        gen_fill(p->value, p->numel, (uint64_t)json_integer_value(seed), json_num(t, "scale"),
                 json_num(t, "offset"));
    }
    for (int k = 0; k < ps->n; k++)
        cr_assert(set[k], "%s: %s is not in the mapping (it would keep its initialiser)",
                  model, ps->p[k].name);
    free(set);
    cn_model_mark_initialised(m);
}

/* check_parity: the fixture of model against models/<model>.cnm. */
static void check_parity(const char *model)
{
    char fx[256], path[256];
    snprintf(fx, sizeof fx, "tests/fixtures/zoo/parity_%s.json", model);
    snprintf(path, sizeof path, "models/%s.cnm", model);
    json_error_t jerr;
    json_t *root = json_load_file(fx, 0, &jerr);
    cr_assert_not_null(root, "%s:%d: %s (run the tests from the repository root)", fx,
                       jerr.line, jerr.text);
    json_t *in = json_object_get(root, "input");
    cr_assert(json_is_array(in) && json_array_size(in) == 3, "%s: bad \"input\"", fx);
    int c = (int)json_integer_value(json_array_get(in, 0));
    int h = (int)json_integer_value(json_array_get(in, 1));
    int w = (int)json_integer_value(json_array_get(in, 2));
    int classes = (int)json_num(root, "classes");
    cr_assert(c > 0 && h > 0 && w > 0 && classes > 0, "%s: bad sizes", fx);

    char ov[4][32];
    snprintf(ov[0], sizeof ov[0], "c=%d", c);
    snprintf(ov[1], sizeof ov[1], "h=%d", h);
    snprintf(ov[2], sizeof ov[2], "w=%d", w);
    snprintf(ov[3], sizeof ov[3], "classes=%d", classes);
    const char *ovp[4] = {ov[0], ov[1], ov[2], ov[3]};
    cn_model_text_opts o = {.overrides = ovp, .n_overrides = 4};
    cn_error err;
    cn_model *m = cn_model_load_text(path, &o, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cn_compile_opts co = {.batch = 1, .training = 0};
    cr_assert_eq(cn_model_compile(m, &co, &err), CN_OK, "%s: %s", model, err.msg);
    fill_params(m, json_object_get(root, "tensors"), model);

    size_t d = (size_t)c * h * w;
    cn_real *x = tst_reals(d); // (1, c, h, w)
    gen_fill(x, d, (uint64_t)json_num(root, "input_seed"), 1.0, 0.0);
    cr_assert_eq(cn_model_forward(m, 1, x, NULL, CN_EVAL, NULL, NULL, &err), CN_OK, "%s: %s",
                 model, err.msg);
    int out = cn_model_output(m), ndim, shape[CN_MAX_DIMS];
    cr_assert_eq(cn_model_node_shape(m, out, &ndim, shape, &err), CN_OK, "%s", err.msg);
    cr_assert(ndim == 1 && shape[0] == classes, "%s: prediction (%d) of rank %d, want (%d)",
              model, shape[0], ndim, classes);
    const cn_real *y = cn_model_node_value(m, out); // (1, classes)
    cr_assert_not_null(y);

    double *ref = json_logits(root, "logits_f64", (size_t)classes);
    double *ref32 = json_logits(root, "logits_f32", (size_t)classes);
    double diff = 0, diff32 = 0, scale = 0, torch32 = 0;
    for (int k = 0; k < classes; k++) {
        double e = fabs((double)y[k] - ref[k]);
        diff = (e > diff || isnan(e)) ? e : diff;
        diff32 = fmax(diff32, fabs((double)y[k] - ref32[k]));
        torch32 = fmax(torch32, fabs(ref32[k] - ref[k]));
        scale = fmax(scale, fabs(ref[k]));
    }
    double tol = REL_TOL * scale + ABS_TOL;
    fprintf(stderr, "%s (%s, %dx%dx%d, %d classes): max abs diff %.3g vs torchvision float64, "
                    "%.3g vs torchvision float32 (torchvision float32 vs float64: %.3g); "
                    "max |logit| %.4g, tolerance %.3g\n",
            model, CN_REAL_NAME, c, h, w, classes, diff, diff32, torch32, scale, tol);
    cr_expect(diff <= tol, "%s: max abs diff %g vs torchvision float64 exceeds %g", model, diff,
              tol);
    free(ref);
    free(ref32);
    free(x);
    cn_model_free(m);
    json_decref(root);
}

Test(zoo_parity, resnet18, .timeout = 120)
{
    check_parity("resnet18");
}

Test(zoo_parity, vgg11, .timeout = 120)
{
    check_parity("vgg11");
}
