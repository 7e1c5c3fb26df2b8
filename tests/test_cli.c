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

extern char **environ;

typedef struct run_result {
    int status;  /* exit status, or 128 + signal */
    char *out;   /* stdout, NUL-terminated */
    char *err;   /* stderr, NUL-terminated */
} run_result;

static void append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        cr_assert_not_null(*buf);
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* run: execute $CONVNET_BIN with args (NULL-terminated, without argv[0]). */
static run_result run(const char *const *args)
{
    const char *bin = getenv("CONVNET_BIN");
    cr_assert_not_null(bin);
    const char *argv[64];
    int n = 0;
    argv[n++] = bin;
    for (; args[n - 1] && n < 63; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;

    int po[2], pe[2];
    cr_assert_eq(pipe(po), 0);
    cr_assert_eq(pipe(pe), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    posix_spawn_file_actions_addclose(&fa, po[0]);
    posix_spawn_file_actions_addclose(&fa, pe[0]);
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "posix_spawn %s: %s", bin, strerror(rc));
    close(po[1]);
    close(pe[1]);

    run_result r = {0, NULL, NULL};
    size_t lo = 0, co = 0, le = 0, ce = 0;
    append(&r.out, &lo, &co, "", 0);
    append(&r.err, &le, &ce, "", 0);
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    char buf[4096];
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            cr_assert_eq(errno, EINTR);
            continue;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t k = read(fds[i].fd, buf, sizeof buf);
            if (k > 0) {
                if (i == 0)
                    append(&r.out, &lo, &co, buf, (size_t)k);
                else
                    append(&r.err, &le, &ce, buf, (size_t)k);
            } else if (k == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        cr_assert_eq(errno, EINTR);
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    return r;
}

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

static const char *bin_or_skip(void)
{
    const char *bin = getenv("CONVNET_BIN");
    if (!bin || !bin[0])
        cr_skip_test("CONVNET_BIN is not set (run through `make test`)");
    return bin;
}

/* A usage error: exit 2, one "convnet: " message naming `needle`, nothing on stdout. */
static void expect_usage(const char *const *args, const char *needle)
{
    run_result r = run(args);
    cr_expect_eq(r.status, 2, "%s: exit %d, stderr: %s", args[0], r.status, r.err);
    cr_expect_str_empty(r.out, "stdout should be empty, got: %s", r.out);
    cr_expect(strncmp(r.err, "convnet: ", 9) == 0, "stderr: %s", r.err);
    cr_expect(strstr(r.err, needle) != NULL, "stderr lacks '%s': %s", needle, r.err);
    run_free(&r);
}

/* ---------------------------------------------------------- synthetic data */

static char g_dir[64];

static void put_be32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    cr_assert_eq(fwrite(b, 1, 4, f), 4u);
}

/* Write an IDX pair of n 28x28 images whose class (i % 10) lights one band of
 * rows, plus deterministic noise: easy for kNN and for a linear classifier. */
static void write_split(const char *prefix, int n, uint32_t seed)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", g_dir, prefix);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    unsigned char hdr[4] = {0, 0, 8, 3};
    cr_assert_eq(fwrite(hdr, 1, 4, f), 4u);
    put_be32(f, (uint32_t)n);
    put_be32(f, 28);
    put_be32(f, 28);
    uint32_t s = seed;
    unsigned char img[28 * 28];
    for (int i = 0; i < n; i++) {
        int cls = i % 10;
        for (int p = 0; p < 28 * 28; p++) {
            s = s * 1664525u + 1013904223u;
            int v = (int)(s >> 26); /* 0..63 noise */
            if (p / 28 >= cls * 2 + 4 && p / 28 < cls * 2 + 7)
                v += 160;
            img[p] = (unsigned char)v;
        }
        cr_assert_eq(fwrite(img, 1, sizeof img, f), sizeof img);
    }
    cr_assert_eq(fclose(f), 0);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", g_dir, prefix);
    f = fopen(path, "wb");
    cr_assert_not_null(f);
    unsigned char lh[4] = {0, 0, 8, 1};
    cr_assert_eq(fwrite(lh, 1, 4, f), 4u);
    put_be32(f, (uint32_t)n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(fputc(i % 10, f), i % 10);
    cr_assert_eq(fclose(f), 0);
}

static void data_setup(void)
{
    cr_assert_eq(tst_tmpdir_make(g_dir, sizeof g_dir, "cli"), 0, "mkdtemp failed");
    write_split("train", 1000, 12345u);
    write_split("t10k", 200, 777u);
}

static void data_teardown(void)
{
    tst_tmpdir_remove(g_dir);
}

/* Parse r.out as exactly one JSON object (json_loads rejects trailing data). */
static json_t *parse_one_object(const run_result *r)
{
    json_error_t je;
    json_t *j = json_loads(r->out, 0, &je);
    cr_assert_not_null(j, "stdout is not one JSON value (%s at line %d): %s", je.text, je.line,
                       r->out);
    cr_assert(json_is_object(j), "stdout is not a JSON object: %s", r->out);
    return j;
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
    bin_or_skip();
    const char *args[] = {NULL};
    run_result r = run(args);
    cr_expect_eq(r.status, 2);
    cr_expect_str_empty(r.out);
    cr_expect(strstr(r.err, "Usage") != NULL, "stderr: %s", r.err);
    run_free(&r);
}

Test(cli, unknown_command_suggests_nearest)
{
    bin_or_skip();
    const char *args[] = {"knm", NULL};
    expect_usage(args, "unknown command 'knm' (did you mean 'knn'?)");
}

Test(cli, unknown_flag_suggests_nearest)
{
    bin_or_skip();
    const char *a1[] = {"knn", "--metrc", "l1", NULL};
    expect_usage(a1, "unknown flag '--metrc' (did you mean '--metric'?)");
    const char *a2[] = {"linear", "--loss", "svm", "--epoch=3", NULL};
    expect_usage(a2, "did you mean '--epochs'?");
}

Test(cli, bad_numbers_are_usage_errors)
{
    bin_or_skip();
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
    bin_or_skip();
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
    bin_or_skip();
    const char *args[] = {"knn", "--data", "/nonexistent/convnet-data", "--quiet", NULL};
    run_result r = run(args);
    cr_expect_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_str_empty(r.out);
    cr_expect(strncmp(r.err, "convnet: ", 9) == 0, "stderr: %s", r.err);
    cr_expect(strstr(r.err, "/nonexistent/convnet-data") != NULL, "stderr: %s", r.err);
    run_free(&r);
}

Test(cli, templates_in_missing_dir_fails_before_loading, .init = data_setup,
     .fini = data_teardown)
{
    bin_or_skip();
    const char *args[] = {"linear", "--loss", "softmax", "--data", g_dir, "--templates",
                          "/nonexistent/dir/x.png", NULL};
    run_result r = run(args);
    cr_expect_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_str_empty(r.out);
    cr_expect(strstr(r.err, "/nonexistent/dir") != NULL, "stderr: %s", r.err);
    cr_expect(strstr(r.err, "loading") == NULL, "loaded data before failing: %s", r.err);
    run_free(&r);
}

Test(cli, templates_equal_to_input_is_refused, .init = data_setup, .fini = data_teardown)
{
    bin_or_skip();
    char input[256];
    snprintf(input, sizeof input, "%s/train-labels-idx1-ubyte", g_dir);
    const char *args[] = {"linear", "--loss", "svm", "--data", g_dir, "--templates", input,
                          NULL};
    run_result r = run(args);
    cr_expect_eq(r.status, 1, "exit %d, stderr: %s", r.status, r.err);
    cr_expect(strstr(r.err, "refusing to overwrite") != NULL, "stderr: %s", r.err);
    run_free(&r);
}

Test(cli, val_larger_than_training_set, .init = data_setup, .fini = data_teardown)
{
    bin_or_skip();
    const char *args[] = {"knn", "--data", g_dir, "--val", "1000", "--quiet", NULL};
    expect_usage(args, "--val 1000");
}

/* ---------------------------------------------------------- help and version */

Test(cli, help_knn_lists_every_flag)
{
    bin_or_skip();
    static const char *const flags[] = {"--data", "--k ", "--metric", "--vote", "--val",
                                        "--seed", "--threads", "--train-limit", "--test-limit",
                                        "--cv ", "--folds", "--cv-samples", "--ks", "--json",
                                        "--quiet", "Examples", "default"};
    const char *a1[] = {"help", "knn", NULL};
    run_result r = run(a1);
    cr_expect_eq(r.status, 0);
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        cr_expect(strstr(r.out, flags[i]) != NULL, "help lacks %s:\n%s", flags[i], r.out);
    const char *a2[] = {"knn", "--help", NULL};
    run_result r2 = run(a2);
    cr_expect_eq(r2.status, 0);
    cr_expect_str_eq(r.out, r2.out);
    run_free(&r);
    run_free(&r2);
}

Test(cli, help_linear_lists_every_flag)
{
    bin_or_skip();
    static const char *const flags[] = {
        "--loss", "--data", "--lr ", "--reg ", "--epochs", "--batch", "--momentum",
        "--lr-decay", "--average", "--norm", "--val", "--seed", "--threads", "--train-limit",
        "--test-limit", "--search ", "--trials", "--search-epochs", "--lr-range", "--reg-range",
        "--templates", "--json", "--quiet", "Examples"};
    const char *a1[] = {"help", "linear", NULL};
    run_result r = run(a1);
    cr_expect_eq(r.status, 0);
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        cr_expect(strstr(r.out, flags[i]) != NULL, "help lacks %s:\n%s", flags[i], r.out);
    run_free(&r);
}

Test(cli, help_lists_commands)
{
    bin_or_skip();
    const char *args[] = {"help", NULL};
    run_result r = run(args);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "knn") && strstr(r.out, "linear") && strstr(r.out, "version"),
              "%s", r.out);
    run_free(&r);
}

Test(cli, version_prints_version_and_build)
{
    bin_or_skip();
    const char *args[] = {"version", NULL};
    run_result r = run(args);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, CN_VERSION) != NULL, "%s", r.out);
    /* the binary is the float build; this test may be the double one, so compare
     * the build line without the precision */
    cr_expect(strstr(r.out, "build: ") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "f32") != NULL || strstr(r.out, "f64") != NULL, "%s", r.out);
    run_free(&r);
}

/* ---------------------------------------------------------- real runs */

Test(cli, knn_json_is_one_object, .init = data_setup, .fini = data_teardown)
{
    bin_or_skip();
    const char *args[] = {"knn", "--data", g_dir, "--train-limit", "800", "--test-limit",
                          "100", "--val", "200", "--k", "7", "--k", "3", "--json", NULL};
    run_result r = run(args);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect(strstr(r.err, "loading data") != NULL, "no stage line: %s", r.err);
    json_t *j = parse_one_object(&r);
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
    run_free(&r);
}

Test(cli, knn_cv_grid_and_human_table, .init = data_setup, .fini = data_teardown)
{
    bin_or_skip();
    const char *args[] = {"knn", "--data", g_dir, "--val", "200", "--cv", "--cv-samples",
                          "300", "--folds", "3", "--ks", "1,3", "--json", "--quiet", NULL};
    run_result r = run(args);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_str_empty(r.err, "--quiet printed: %s", r.err);
    json_t *j = parse_one_object(&r);
    json_t *cv = json_object_get(j, "cv");
    cr_assert(json_is_array(cv));
    cr_expect_eq(json_array_size(cv), 8u);
    json_t *c0 = json_array_get(cv, 0);
    cr_expect(json_is_number(json_object_get(c0, "mean_accuracy")));
    cr_expect(json_is_number(json_object_get(c0, "std_accuracy")));
    cr_expect_eq(json_integer_value(json_object_get(j, "folds")), 3);
    cr_expect_eq(json_integer_value(json_object_get(j, "cv_samples")), 300);
    json_decref(j);
    run_free(&r);

    const char *h[] = {"knn", "--data", g_dir, "--val", "200", "--cv", "--cv-samples", "300",
                       "--folds", "3", "--ks", "1,3", "--quiet", NULL};
    r = run(h);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect(strstr(r.out, "3-fold cross-validation") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "test accuracy") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "val accuracy") != NULL, "%s", r.out);
    run_free(&r);
}

Test(cli, linear_json_is_one_object, .init = data_setup, .fini = data_teardown)
{
    bin_or_skip();
    const char *args[] = {"linear", "--loss", "softmax", "--data", g_dir, "--epochs", "2",
                          "--train-limit", "600", "--test-limit", "100", "--val", "100",
                          "--json", NULL};
    run_result r = run(args);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    json_t *j = parse_one_object(&r);
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
    run_free(&r);
}

Test(cli, linear_search_and_templates, .init = data_setup, .fini = data_teardown)
{
    bin_or_skip();
    char png[256];
    snprintf(png, sizeof png, "%s/templates.png", g_dir);
    const char *args[] = {"linear", "--loss", "svm", "--data", g_dir, "--epochs", "1",
                          "--val", "200", "--search", "--trials", "3", "--search-epochs", "1",
                          "--templates", png, "--json", "--quiet", NULL};
    run_result r = run(args);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    json_t *j = parse_one_object(&r);
    json_t *s = json_object_get(j, "search");
    cr_assert(json_is_array(s));
    cr_expect_eq(json_array_size(s), 3u);
    cr_expect(json_is_number(json_object_get(json_array_get(s, 0), "val_accuracy")));
    cr_expect(json_is_array(json_object_get(j, "search_edges")));
    json_decref(j);
    run_free(&r);
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
    bin_or_skip();
    struct stat st;
    if (stat(CN_FASHION_MNIST_DIR "/train-labels-idx1-ubyte.gz", &st) != 0)
        cr_skip_test("Fashion-MNIST is not installed at " CN_FASHION_MNIST_DIR);
    const char *args[] = {"knn", "--train-limit", "2000", "--test-limit", "200", "--val",
                          "500", "--json", "--quiet", NULL};
    run_result r = run(args);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    json_t *j = parse_one_object(&r);
    expect_number_in(j, "val_accuracy", 0.5, 1.0);
    expect_number_in(j, "test_accuracy", 0.5, 1.0);
    json_decref(j);
    run_free(&r);
}
