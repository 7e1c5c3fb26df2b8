/* tests/test_cli.c: end-to-end tests of the convnet command-line tool. Runs the
 * binary named by $CONVNET_BIN (set by `make test`; the tests are skipped when it
 * is unset) with posix_spawn (no shell), captures stdout, stderr and the exit
 * status, and checks usage errors (exit 2), runtime errors (exit 1), help,
 * version, and small real runs on a synthetic IDX dataset whose --json output must
 * be exactly one JSON object. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "convnet.h"
#include "support.h"
#include "support_cli.h"


/* A usage error: exit 2, one "convnet: " message naming `needle`, nothing on stdout. */
static void expect_usage(const char *const *args, const char *needle)
{
    tst_run r = tst_cli_run(args);
    cr_expect_eq(r.status, 2, "%s: exit %d, stderr: %s", args[0], r.status, r.err);
    cr_expect_str_empty(r.out, "stdout should be empty, got: %s", r.out);
    cr_expect(strncmp(r.err, "convnet: ", 9) == 0, "stderr: %s", r.err);
    cr_expect(strstr(r.err, needle) != NULL, "stderr lacks '%s': %s", needle, r.err);
    tst_cli_free(&r);
}

/* ---------------------------------------------------------- synthetic data */

static char g_dir[64];

static void data_setup(void)
{
    cr_assert_eq(tst_tmpdir_make(g_dir, sizeof g_dir, "cli"), 0, "mkdtemp failed");
    tst_cli_write_idx(g_dir, "train", 1000, 12345u);
    tst_cli_write_idx(g_dir, "t10k", 200, 777u);
}

static void data_teardown(void)
{
    tst_tmpdir_remove(g_dir);
}

static void expect_number_in(json_t *o, const char *key, double lo, double hi)
{
    json_t *v = json_object_get(o, key);
    cr_assert(json_is_number(v), "key '%s' missing or not a number", key);
    double x = json_number_value(v);
    cr_expect(x >= lo && x <= hi, "%s = %g not in [%g, %g]", key, x, lo, hi);
}

/* ---------------------------------------------------------- usage errors */

Test(cli, no_args_prints_usage_and_exits_2)
{
    tst_cli_bin_or_skip();
    const char *args[] = {NULL};
    tst_run r = tst_cli_run(args);
    cr_expect_eq(r.status, 2);
    cr_expect_str_empty(r.out);
    cr_expect(strstr(r.err, "Usage") != NULL, "stderr: %s", r.err);
    tst_cli_free(&r);
}

Test(cli, unknown_command_suggests_nearest)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"knm", NULL};
    expect_usage(args, "unknown command 'knm' (did you mean 'knn'?)");
}

Test(cli, unknown_flag_suggests_nearest)
{
    tst_cli_bin_or_skip();
    const char *a1[] = {"knn", "--metrc", "l1", NULL};
    expect_usage(a1, "unknown flag '--metrc' (did you mean '--metric'?)");
    const char *a2[] = {"linear", "--loss", "svm", "--epoch=3", NULL};
    expect_usage(a2, "did you mean '--epochs'?");
}

Test(cli, bad_numbers_are_usage_errors)
{
    tst_cli_bin_or_skip();
    const char *a1[] = {"knn", "--k", "0", NULL};
    expect_usage(a1, "--k");
    const char *a2[] = {"knn", "--k", "abc", NULL};
    expect_usage(a2, "'abc'");
    const char *a3[] = {"linear", "--loss", "svm", "--epochs", "1e99", NULL};
    expect_usage(a3, "--epochs");
    const char *a4[] = {"linear", "--loss", "svm", "--epochs", "-1", NULL};
    expect_usage(a4, "--epochs");
    const char *a5[] = {"linear", "--loss", "svm", "--lr", "nan", NULL};
    expect_usage(a5, "--lr");
    const char *a6[] = {"linear", "--loss", "svm", "--lr=inf", NULL};
    expect_usage(a6, "--lr");
    const char *a7[] = {"linear", "--loss", "svm", "--lr", "0x10", NULL};
    expect_usage(a7, "--lr");
    const char *a8[] = {"knn", "--k", " 5", NULL};
    expect_usage(a8, "--k");
    const char *a9[] = {"knn", "--k", "5x", NULL};
    expect_usage(a9, "--k");
    const char *a10[] = {"knn", "--k", "99999999999999999999", NULL};
    expect_usage(a10, "--k");
    const char *a11[] = {"knn", "--ks", "1,,3", NULL};
    expect_usage(a11, "--ks");
    const char *a12[] = {"linear", "--loss", "svm", "--lr-range", "0.1:0.001", NULL};
    expect_usage(a12, "--lr-range");
    const char *a13[] = {"linear", "--loss", "svm", "--lr", "0", NULL};
    expect_usage(a13, "--lr");
}

Test(cli, other_usage_errors)
{
    tst_cli_bin_or_skip();
    const char *a1[] = {"linear", NULL};
    expect_usage(a1, "--loss is required");
    const char *a2[] = {"linear", "--loss", "hinge", NULL};
    expect_usage(a2, "--loss must be one of");
    const char *a3[] = {"knn", "--k", NULL};
    expect_usage(a3, "needs a value");
    const char *a4[] = {"knn", "--json=1", NULL};
    expect_usage(a4, "takes no value");
    const char *a5[] = {"knn", "stray", NULL};
    expect_usage(a5, "unexpected argument 'stray'");
    const char *a6[] = {"help", "nope", NULL};
    expect_usage(a6, "unknown command 'nope'");
    const char *a7[] = {"knn", "--data", "--json", NULL};
    expect_usage(a7, "--data needs a value");
}

/* ---------------------------------------------------------- runtime errors */

Test(cli, missing_data_dir_is_runtime_error_naming_path)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"knn", "--data", "/nonexistent/convnet-data", "--quiet", NULL};
    tst_run r = tst_cli_run(args);
    cr_expect_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_str_empty(r.out);
    cr_expect(strncmp(r.err, "convnet: ", 9) == 0, "stderr: %s", r.err);
    cr_expect(strstr(r.err, "/nonexistent/convnet-data") != NULL, "stderr: %s", r.err);
    tst_cli_free(&r);
}

Test(cli, templates_in_missing_dir_fails_before_loading, .init = data_setup,
     .fini = data_teardown)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"linear", "--loss", "softmax", "--data", g_dir, "--templates",
                          "/nonexistent/dir/x.png", NULL};
    tst_run r = tst_cli_run(args);
    cr_expect_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_str_empty(r.out);
    cr_expect(strstr(r.err, "/nonexistent/dir") != NULL, "stderr: %s", r.err);
    cr_expect(strstr(r.err, "loading") == NULL, "loaded data before failing: %s", r.err);
    tst_cli_free(&r);
}

Test(cli, templates_equal_to_input_is_refused, .init = data_setup, .fini = data_teardown)
{
    tst_cli_bin_or_skip();
    char input[256];
    snprintf(input, sizeof input, "%s/train-labels-idx1-ubyte", g_dir);
    const char *args[] = {"linear", "--loss", "svm", "--data", g_dir, "--templates", input,
                          NULL};
    tst_run r = tst_cli_run(args);
    cr_expect_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    cr_expect(strstr(r.err, "refusing to overwrite") != NULL, "stderr: %s", r.err);
    tst_cli_free(&r);
}

Test(cli, val_larger_than_training_set, .init = data_setup, .fini = data_teardown)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"knn", "--data", g_dir, "--val", "1000", "--quiet", NULL};
    expect_usage(args, "--val 1000");
}

/* ---------------------------------------------------------- help and version */

Test(cli, help_knn_lists_every_flag)
{
    tst_cli_bin_or_skip();
    static const char *const flags[] = {"--data", "--k ", "--metric", "--vote", "--val",
                                        "--seed", "--threads", "--train-limit", "--test-limit",
                                        "--cv ", "--folds", "--cv-samples", "--ks", "--json",
                                        "--quiet", "Examples", "default"};
    const char *a1[] = {"help", "knn", NULL};
    tst_run r = tst_cli_run(a1);
    cr_expect_eq(r.status, 0);
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        cr_expect(strstr(r.out, flags[i]) != NULL, "help lacks %s:\n%s", flags[i], r.out);
    const char *a2[] = {"knn", "--help", NULL};
    tst_run r2 = tst_cli_run(a2);
    cr_expect_eq(r2.status, 0);
    cr_expect_str_eq(r.out, r2.out);
    tst_cli_free(&r);
    tst_cli_free(&r2);
}

Test(cli, help_linear_lists_every_flag)
{
    tst_cli_bin_or_skip();
    static const char *const flags[] = {
        "--loss", "--data", "--lr ", "--reg ", "--epochs", "--batch", "--momentum",
        "--lr-decay", "--average", "--norm", "--val", "--seed", "--threads", "--train-limit",
        "--test-limit", "--search ", "--trials", "--search-epochs", "--lr-range", "--reg-range",
        "--templates", "--json", "--quiet", "Examples"};
    const char *a1[] = {"help", "linear", NULL};
    tst_run r = tst_cli_run(a1);
    cr_expect_eq(r.status, 0);
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        cr_expect(strstr(r.out, flags[i]) != NULL, "help lacks %s:\n%s", flags[i], r.out);
    tst_cli_free(&r);
}

Test(cli, help_lists_commands)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"help", NULL};
    tst_run r = tst_cli_run(args);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "knn") && strstr(r.out, "linear") && strstr(r.out, "version"),
              "%s", r.out);
    tst_cli_free(&r);
}

Test(cli, version_prints_version_and_build)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"version", NULL};
    tst_run r = tst_cli_run(args);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, CN_VERSION) != NULL, "%s", r.out);
    /* the binary is the float build; this test may be the double one, so compare
     * the build line without the precision */
    cr_expect(strstr(r.out, "build: ") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "f32") != NULL || strstr(r.out, "f64") != NULL, "%s", r.out);
    tst_cli_free(&r);
}

/* ---------------------------------------------------------- real runs */

Test(cli, knn_json_is_one_object, .init = data_setup, .fini = data_teardown)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"knn", "--data", g_dir, "--train-limit", "800", "--test-limit",
                          "100", "--val", "200", "--k", "7", "--k", "3", "--json", NULL};
    tst_run r = tst_cli_run(args);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect(strstr(r.err, "loading data") != NULL, "no stage line: %s", r.err);
    json_t *j = tst_cli_json(&r);
    cr_expect_str_eq(json_string_value(json_object_get(j, "command")), "knn");
    cr_expect_eq(json_integer_value(json_object_get(j, "k")), 3, "last --k should win");
    cr_expect_str_eq(json_string_value(json_object_get(j, "metric")), "l1");
    cr_expect(json_is_string(json_object_get(j, "vote")));
    cr_expect_eq(json_integer_value(json_object_get(j, "train_size")), 600);
    cr_expect_eq(json_integer_value(json_object_get(j, "val_size")), 200);
    cr_expect_eq(json_integer_value(json_object_get(j, "test_size")), 100);
    cr_expect_eq(json_integer_value(json_object_get(j, "test_references")), 800);
    expect_number_in(j, "val_accuracy", 0.9, 1.0);
    expect_number_in(j, "test_accuracy", 0.9, 1.0);
    expect_number_in(j, "seconds", 0.0, 1e6);
    json_decref(j);
    tst_cli_free(&r);
}

Test(cli, knn_cv_grid_and_human_table, .init = data_setup, .fini = data_teardown)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"knn", "--data", g_dir, "--val", "200", "--cv", "--cv-samples",
                          "300", "--folds", "3", "--ks", "1,3", "--json", "--quiet", NULL};
    tst_run r = tst_cli_run(args);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_str_empty(r.err, "--quiet printed: %s", r.err);
    json_t *j = tst_cli_json(&r);
    json_t *cv = json_object_get(j, "cv");
    cr_assert(json_is_array(cv));
    cr_expect_eq(json_array_size(cv), 8u);
    json_t *c0 = json_array_get(cv, 0);
    cr_expect(json_is_number(json_object_get(c0, "mean_accuracy")));
    cr_expect(json_is_number(json_object_get(c0, "std_accuracy")));
    cr_expect_eq(json_integer_value(json_object_get(j, "folds")), 3);
    cr_expect_eq(json_integer_value(json_object_get(j, "cv_samples")), 300);
    json_decref(j);
    tst_cli_free(&r);

    const char *h[] = {"knn", "--data", g_dir, "--val", "200", "--cv", "--cv-samples", "300",
                       "--folds", "3", "--ks", "1,3", "--quiet", NULL};
    r = tst_cli_run(h);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect(strstr(r.out, "3-fold cross-validation") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "test accuracy") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "val accuracy") != NULL, "%s", r.out);
    tst_cli_free(&r);
}

Test(cli, linear_json_is_one_object, .init = data_setup, .fini = data_teardown)
{
    tst_cli_bin_or_skip();
    const char *args[] = {"linear", "--loss", "softmax", "--data", g_dir, "--epochs", "2",
                          "--train-limit", "600", "--test-limit", "100", "--val", "100",
                          "--json", NULL};
    tst_run r = tst_cli_run(args);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    json_t *j = tst_cli_json(&r);
    cr_expect_str_eq(json_string_value(json_object_get(j, "command")), "linear");
    cr_expect_str_eq(json_string_value(json_object_get(j, "loss")), "softmax");
    cr_expect_str_eq(json_string_value(json_object_get(j, "norm")), "channel");
    cr_expect_eq(json_integer_value(json_object_get(j, "epochs")), 2);
    cr_expect(json_is_integer(json_object_get(j, "batch")));
    expect_number_in(j, "lr", 1e-12, 10);
    expect_number_in(j, "reg", 0, 1e4);
    expect_number_in(j, "val_accuracy", 0.8, 1.0);
    expect_number_in(j, "test_accuracy", 0.8, 1.0);
    expect_number_in(j, "seconds", 0.0, 1e6);
    cr_expect_eq(json_array_size(json_object_get(j, "loss_history")), 2u);
    json_decref(j);
    tst_cli_free(&r);
}

Test(cli, linear_search_and_templates, .init = data_setup, .fini = data_teardown)
{
    tst_cli_bin_or_skip();
    char png[256];
    snprintf(png, sizeof png, "%s/templates.png", g_dir);
    const char *args[] = {"linear", "--loss", "svm", "--data", g_dir, "--epochs", "1",
                          "--val", "200", "--search", "--trials", "3", "--search-epochs", "1",
                          "--templates", png, "--json", "--quiet", NULL};
    tst_run r = tst_cli_run(args);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    json_t *j = tst_cli_json(&r);
    json_t *s = json_object_get(j, "search");
    cr_assert(json_is_array(s));
    cr_expect_eq(json_array_size(s), 3u);
    cr_expect(json_is_number(json_object_get(json_array_get(s, 0), "val_accuracy")));
    cr_expect(json_is_array(json_object_get(j, "search_edges")));
    json_decref(j);
    tst_cli_free(&r);
    unsigned char magic[8] = {0};
    FILE *f = fopen(png, "rb");
    cr_assert_not_null(f, "templates not written to %s", png);
    cr_expect_eq(fread(magic, 1, 8, f), 8u);
    fclose(f);
    cr_expect(memcmp(magic, "\x89PNG\r\n\x1a\n", 8) == 0);
}

/* The brief's run on the real Fashion-MNIST, when it is installed. */
Test(cli, knn_on_fashion_mnist_subset)
{
    tst_cli_bin_or_skip();
    struct stat st;
    if (stat(CN_FASHION_MNIST_DIR "/train-labels-idx1-ubyte.gz", &st) != 0)
        cr_skip_test("Fashion-MNIST is not installed at " CN_FASHION_MNIST_DIR);
    const char *args[] = {"knn", "--train-limit", "2000", "--test-limit", "200", "--val",
                          "500", "--json", "--quiet", NULL};
    tst_run r = tst_cli_run(args);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    json_t *j = tst_cli_json(&r);
    expect_number_in(j, "val_accuracy", 0.5, 1.0);
    expect_number_in(j, "test_accuracy", 0.5, 1.0);
    json_decref(j);
    tst_cli_free(&r);
}
