/* test_cli_bench.c: `convnet bench`: a training-step and an inference timing of a
 * small model text file and of a built-in model on random data (--json fields:
 * images/s, median step, GFLOP per step = 3x (training) or 1x the forward FLOPs
 * of `convnet summary`), --profile's per-node and per-op tables (every non-input
 * node once, shares in [0, 1]), and usage errors (no model, bad --input, unknown
 * model, built-in keys). Timing values are only checked to be positive. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "convnet.h"
#include "support.h"
#include "support_cli.h"

static char g_dir[64], g_cnm[128];

static const char NET[] = "model tiny\n"
                          "param classes = 5\n"
                          "param c = 2\n"
                          "param h = 8\n"
                          "param w = 8\n"
                          "x = input shape=(c, h, w)\n"
                          "cv = conv2d x out=4 k=3 pad=1\n"
                          "bn = batchnorm cv\n"
                          "r = relu bn\n"
                          "p = maxpool2d r k=2 stride=2\n"
                          "f = flatten p\n"
                          "fc = linear f out=classes\n"
                          "loss = cross_entropy fc\n"
                          "output fc\n";

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(g_dir, sizeof g_dir, "cli_bench"), 0);
    snprintf(g_cnm, sizeof g_cnm, "%s/tiny.cnm", g_dir);
    FILE *f = fopen(g_cnm, "w");
    cr_assert_not_null(f);
    cr_assert(fputs(NET, f) >= 0);
    cr_assert_eq(fclose(f), 0);
}

static void teardown(void)
{
    tst_tmpdir_remove(g_dir);
}

TestSuite(cli_bench, .init = setup, .fini = teardown);

/* Forward FLOPs per image of tiny at 2x8x8: conv 2*4*18*64, its bias 4*64?, ... read
 * from the library so the test does not restate the accounting. */
static double tiny_flops(void)
{
    cn_error err;
    cn_model *m = cn_model_load_text(g_cnm, NULL, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cn_compile_opts o = {.batch = 1};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_summary s;
    cr_assert_eq(cn_model_summarize(m, &s, &err), CN_OK, "%s", err.msg);
    double f = s.flops;
    cn_summary_free(&s);
    cn_model_free(m);
    return f;
}

Test(cli_bench, train_and_eval_json)
{
    tst_cli_bin_or_skip();
    double fl = tiny_flops();
    const char *a[] = {"bench", g_cnm, "--batch", "4", "--steps", "3", "--warmup", "1",
                       "--threads", "1", "--json", NULL};
    tst_run r = tst_cli_run(a);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    json_t *j = tst_cli_json(&r);
    cr_expect_str_eq(json_string_value(json_object_get(j, "mode")), "train");
    cr_expect_eq(json_integer_value(json_object_get(j, "batch")), 4);
    cr_expect_gt(json_real_value(json_object_get(j, "images_per_s")), 0);
    cr_expect_gt(json_real_value(json_object_get(j, "step_ms")), 0);
    double g = json_real_value(json_object_get(j, "gflop_per_step"));
    cr_expect(fabs(g - 3 * 4 * fl / 1e9) < 1e-9 * (1 + g), "%g vs %g", g, 12 * fl / 1e9);
    cr_expect_null(json_object_get(j, "profile_nodes"));
    json_decref(j);
    tst_cli_free(&r);

    const char *b[] = {"bench", g_cnm, "--eval", "--batch", "1", "--steps", "2", "--json",
                       NULL};
    r = tst_cli_run(b);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    j = tst_cli_json(&r);
    cr_expect_str_eq(json_string_value(json_object_get(j, "mode")), "eval");
    g = json_real_value(json_object_get(j, "gflop_per_step"));
    cr_expect(fabs(g - fl / 1e9) < 1e-9 * (1 + g), "%g vs %g", g, fl / 1e9);
    json_decref(j);
    tst_cli_free(&r);

    const char *c[] = {"bench", "softmax", "--input", "1x6x6", "--classes", "3", "--steps",
                       "2", "--batch", "2", NULL};
    r = tst_cli_run(c);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.out, "images/s") != NULL, "%s", r.out);
    tst_cli_free(&r);
}

Test(cli_bench, profile_tables)
{
    tst_cli_bin_or_skip();
    const char *a[] = {"bench", g_cnm, "--batch", "4", "--steps", "2", "--warmup", "0",
                       "--profile", "--json", NULL};
    tst_run r = tst_cli_run(a);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    json_t *j = tst_cli_json(&r);
    json_t *nodes = json_object_get(j, "profile_nodes"), *ops = json_object_get(j, "profile_ops");
    cr_assert(json_is_array(nodes) && json_is_array(ops), "%s", r.out);
    cr_expect_eq(json_array_size(nodes), 7); /* every node but the input */
    double share = 0;
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        double s = json_real_value(json_object_get(json_array_get(nodes, i), "share"));
        cr_expect(s >= 0 && s <= 1, "share %g", s);
        share += s;
    }
    cr_expect_leq(share, 1.0 + 1e-9);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(nodes, 0), "node")), "cv");
    cr_expect_eq(json_array_size(ops), 7); /* seven distinct ops */
    json_decref(j);
    tst_cli_free(&r);
}

static void expect_usage(const char *const *args, const char *needle)
{
    tst_run r = tst_cli_run(args);
    cr_expect_eq(r.status, 2, "%s: exit %d: %s", needle, r.status, r.err);
    cr_expect(strstr(r.err, needle) != NULL, "stderr lacks '%s': %s", needle, r.err);
    tst_cli_free(&r);
}

Test(cli_bench, usage_errors)
{
    tst_cli_bin_or_skip();
    expect_usage((const char *[]){"bench", NULL}, "MODEL is required");
    expect_usage((const char *[]){"bench", g_cnm, "--input", "3x32", NULL}, "CxHxW");
    expect_usage((const char *[]){"bench", "nosuchmodel", NULL}, "unknown model");
    expect_usage((const char *[]){"bench", g_cnm, "--params", "clases=3", NULL},
                 "did you mean 'classes'");
    expect_usage((const char *[]){"bench", g_cnm, "--bacth", "3", NULL}, "--batch");
}
