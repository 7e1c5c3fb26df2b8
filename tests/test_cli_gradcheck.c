/* test_cli_gradcheck.c: `convnet gradcheck`: a built-in model and a small model
 * text file pass with one row per trainable parameter (checked coordinates,
 * relative error, where, verdict on the course's scale) and the run's fields in
 * --json (precision, step, tolerance, worst error, passed); a tolerance no float
 * check can meet fails with exit 1 naming the parameters; usage errors (no
 * MODEL, a bad --input, an unknown model or flag) exit 2. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "convnet.h"
#include "support.h"
#include "support_cli.h"

static char g_dir[64], g_cnm[128];

static const char NET[] = "model small\n"
                          "param classes = 4\n"
                          "param c = 1\n"
                          "param h = 6\n"
                          "param w = 6\n"
                          "x = input shape=(c, h, w)\n"
                          "cv = conv2d x out=3 k=3 pad=1\n"
                          "r = tanh cv\n"
                          "f = flatten r\n"
                          "fc = linear f out=classes\n"
                          "loss = cross_entropy fc\n"
                          "output fc\n";

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(g_dir, sizeof g_dir, "cli_gradcheck"), 0);
    snprintf(g_cnm, sizeof g_cnm, "%s/small.cnm", g_dir);
    FILE *f = fopen(g_cnm, "w");
    cr_assert_not_null(f);
    cr_assert(fputs(NET, f) >= 0);
    cr_assert_eq(fclose(f), 0);
}

static void teardown(void)
{
    tst_tmpdir_remove(g_dir);
}

TestSuite(cli_gradcheck, .init = setup, .fini = teardown);

/* Check the per-parameter rows of j: names and checked counts in order, every
 * row passed. */
static void check_rows(json_t *j, const char *const *names, const int *coords, int n)
{
    json_t *rows = json_object_get(j, "parameters");
    cr_assert(json_is_array(rows));
    cr_assert_eq((int)json_array_size(rows), n);
    static const char *const verdicts[] = {"great", "ok", "uncomfortable", "wrong"};
    for (int i = 0; i < n; i++) {
        json_t *r = json_array_get(rows, (size_t)i);
        cr_expect_str_eq(json_string_value(json_object_get(r, "name")), names[i]);
        cr_expect_eq(json_integer_value(json_object_get(r, "checked")), coords[i]);
        double e = json_real_value(json_object_get(r, "max_rel_err"));
        cr_expect(e >= 0 && e <= json_real_value(json_object_get(j, "tolerance")), "%g", e);
        const char *w = json_string_value(json_object_get(r, "worst"));
        cr_expect(w && strncmp(w, names[i], strlen(names[i])) == 0, "%s", w);
        const char *v = json_string_value(json_object_get(r, "verdict"));
        int known = 0;
        for (int k = 0; v && k < 4; k++) known |= strcmp(v, verdicts[k]) == 0;
        cr_expect(known, "verdict %s", v);
        cr_expect(json_is_true(json_object_get(r, "passed")));
    }
}

Test(cli_gradcheck, builtin_passes)
{
    tst_cli_bin_or_skip();
    const char *a[] = {"gradcheck", "softmax", "--input", "1x5x5", "--classes", "3",
                       "--coords", "4", "--json", "--quiet", NULL};
    tst_run r = tst_cli_run(a);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    json_t *j = tst_cli_json(&r);
    static const char *const names[] = {"linear1.weight", "linear1.bias"};
    static const int coords[] = {4, 3}; /* at most the parameter's size */
    check_rows(j, names, coords, 2);
    cr_expect_str_eq(json_string_value(json_object_get(j, "precision")), "float");
    cr_expect_str_eq(json_string_value(json_object_get(j, "input")), "1x5x5");
    cr_expect_eq(json_integer_value(json_object_get(j, "classes")), 3);
    cr_expect(json_real_value(json_object_get(j, "h")) > 0);
    cr_expect(json_is_true(json_object_get(j, "passed")));
    cr_expect_eq(json_integer_value(json_object_get(j, "failed")), 0);
    cr_expect_not_null(json_string_value(json_object_get(j, "worst")));
    json_decref(j);
    tst_cli_free(&r);
}

Test(cli_gradcheck, model_file_every_coordinate)
{
    tst_cli_bin_or_skip();
    const char *a[] = {"gradcheck", g_cnm, "--coords", "0", "--batch", "3", "--json", NULL};
    tst_run r = tst_cli_run(a);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    json_t *j = tst_cli_json(&r);
    json_t *rows = json_object_get(j, "parameters");
    cr_assert_eq((int)json_array_size(rows), 4);
    /* --coords 0: every coordinate (conv 3x1x3x3 = 27, bias 3, linear 4x108, bias 4) */
    static const int counts[] = {27, 3, 432, 4};
    for (int i = 0; i < 4; i++)
        cr_expect_eq(json_integer_value(json_object_get(json_array_get(rows, (size_t)i),
                                                        "checked")), counts[i]);
    cr_expect_str_eq(json_string_value(json_object_get(j, "input")), "1x6x6");
    cr_expect(json_is_true(json_object_get(j, "passed")));
    json_decref(j);
    tst_cli_free(&r);
    /* the human table: a row per parameter and the verdict */
    const char *b[] = {"gradcheck", g_cnm, "--quiet", NULL};
    r = tst_cli_run(b);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.out, "cv.weight") && strstr(r.out, "fc.bias"), "%s", r.out);
    cr_expect(strstr(r.out, "verdict") != NULL, "%s", r.out);
    tst_cli_free(&r);
}

Test(cli_gradcheck, failing_tolerance_exits_1)
{
    tst_cli_bin_or_skip();
    const char *a[] = {"gradcheck", g_cnm, "--tolerance", "1e-12", "--json", "--quiet", NULL};
    tst_run r = tst_cli_run(a);
    cr_expect_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    json_t *j = tst_cli_json(&r);
    cr_expect(json_is_false(json_object_get(j, "passed")));
    cr_expect_gt(json_integer_value(json_object_get(j, "failed")), 0);
    json_decref(j);
    cr_expect(strstr(r.err, "above the tolerance") != NULL, "%s", r.err);
    tst_cli_free(&r);
}

Test(cli_gradcheck, usage_errors)
{
    tst_cli_bin_or_skip();
    const char *const cases[][6] = {
        {"gradcheck", NULL},
        {"gradcheck", "softmax", "--input", "1x5", NULL},
        {"gradcheck", "softmaxx", NULL},
        {"gradcheck", "softmax", "--coord", "3", NULL},
        {"gradcheck", "softmax", "two-layer", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tst_run r = tst_cli_run(cases[i]);
        cr_expect_eq(r.status, 2, "case %zu: exit %d: %s", i, r.status, r.err);
        cr_expect(strncmp(r.err, "convnet: gradcheck: ", 20) == 0, "case %zu: %s", i, r.err);
        cr_expect_str_eq(r.out, "");
        tst_cli_free(&r);
    }
}
