/* test_resume.c: `convnet train` survives being killed (RELIABILITY R8, R10):
 * kill -9 at random instants (a few trials here; tools/resume_torture.sh runs
 * 100) followed by `convnet train --resume` ends with a model file
 * byte-identical to an uninterrupted run's; SIGINT and SIGTERM finish the step,
 * save a checkpoint and exit 130 / 143 with the resume command; a resume with
 * another configuration is refused naming both fingerprints unless --force. */
#include <criterion/criterion.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "convnet.h"
#include "support.h"
#include "support_cli.h"

static char g_dir[64];

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(g_dir, sizeof g_dir, "resume-cli"), 0, "mkdtemp failed");
    tst_cli_write_idx(g_dir, "train", 600, 12345u);
    tst_cli_write_idx(g_dir, "t10k", 100, 777u);
}

static void teardown(void)
{
    tst_tmpdir_remove(g_dir);
}

TestSuite(resume_cli, .init = setup, .fini = teardown, .timeout = 120);

/* The run under test: an mlp (one hidden layer of 16) with dropout, 3 epochs of
 * 50 steps (batch 10 of 500 images), a checkpoint after every step (each one
 * fsync'd: slow enough that random kills land inside training and inside the
 * write protocol). */
static void train_args(const char **a, const char *out)
{
    const char *v[] = {"train", "mlp", "--data", g_dir, "--out", out, "--hidden", "16",
                       "--dropout", "0.1", "--epochs", "3", "--batch", "10", "--val", "100",
                       "--test-limit", "20", "--checkpoint-every", "1", "--threads", "1",
                       "--quiet", NULL};
    memcpy(a, v, sizeof v);
}

static void path_in(char *buf, size_t n, const char *dir, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* The reference run's model file (malloc'd) and how long the run took. */
static char *reference(size_t *len, double *seconds)
{
    char out[128], model[160];
    path_in(out, sizeof out, g_dir, "ref");
    const char *a[32];
    train_args(a, out);
    double t0 = cn_time_now();
    tst_run r = tst_cli_run(a);
    *seconds = cn_time_now() - t0;
    cr_assert_eq(r.status, 0, "reference run: %s", r.err);
    tst_cli_free(&r);
    path_in(model, sizeof model, out, "model.safetensors");
    char *buf = tst_read_file(model, len);
    cr_assert_not_null(buf);
    return buf;
}

/* Resume in dir until the run finishes (a fresh start when no checkpoint was
 * written yet); return the model file. */
static char *finish(const char *dir, size_t *len)
{
    char ck[160], model[160];
    path_in(ck, sizeof ck, dir, "checkpoint.safetensors");
    tst_run r;
    if (exists(ck)) {
        const char *a[] = {"train", "--resume", dir, "--quiet", NULL};
        r = tst_cli_run(a);
    } else {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        cr_assert_eq(system(cmd), 0);
        const char *a[32];
        train_args(a, dir);
        r = tst_cli_run(a);
    }
    cr_assert_eq(r.status, 0, "resume in %s: exit %d: %s", dir, r.status, r.err);
    tst_cli_free(&r);
    path_in(model, sizeof model, dir, "model.safetensors");
    char *buf = tst_read_file(model, len);
    cr_assert_not_null(buf);
    return buf;
}

Test(resume_cli, kill_9_at_random_instants_then_resume_is_bit_identical)
{
    tst_cli_bin_or_skip();
    size_t ref_len;
    double secs;
    char *ref = reference(&ref_len, &secs);
    srand(20261121);
    for (int trial = 0; trial < 4; trial++) {
        char out[128], log[160];
        snprintf(out, sizeof out, "%s/kill%d", g_dir, trial);
        path_in(log, sizeof log, g_dir, "log.txt");
        const char *a[32];
        train_args(a, out);
        int pid = tst_cli_start(a, log);
        double frac = 0.2 + 0.7 * (rand() / (double)RAND_MAX);
        struct timespec ts = {(time_t)(frac * secs), (long)(fmod(frac * secs, 1.0) * 1e9)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st = tst_cli_wait(pid);
        size_t len;
        char *got = finish(out, &len);
        cr_assert_eq(len, ref_len, "trial %d (exit %d): model file sizes differ", trial, st);
        cr_assert_eq(memcmp(got, ref, len), 0,
                     "trial %d: killed after %.2f s (exit %d): the resumed model differs", trial,
                     frac * secs, st);
        free(got);
    }
    free(ref);
}

/* Start a run, wait for its first checkpoint, send sig: the run saves and exits
 * 128 + sig naming the resume command; the resumed run matches the reference. */
static void check_signal(int sig)
{
    tst_cli_bin_or_skip();
    size_t ref_len;
    double secs;
    char *ref = reference(&ref_len, &secs);
    char out[128], log[160], ck[200];
    snprintf(out, sizeof out, "%s/sig%d", g_dir, sig);
    path_in(log, sizeof log, g_dir, "sig.txt");
    path_in(ck, sizeof ck, out, "checkpoint.safetensors");
    unlink(log);
    const char *a[32];
    train_args(a, out);
    int pid = tst_cli_start(a, log);
    for (int i = 0; i < 2000 && !exists(ck); i++) usleep(2000);
    cr_assert(exists(ck), "no checkpoint appeared");
    kill(pid, sig);
    int st = tst_cli_wait(pid);
    char *text = tst_read_file(log, NULL);
    cr_assert_not_null(text);
    if (st == 0) {
        /* the run ended before the signal was seen: nothing to check but the result */
        cr_log_warn("the run finished before signal %d arrived", sig);
    } else {
        cr_assert_eq(st, 128 + sig, "exit %d, output: %s", st, text);
        cr_assert(strstr(text, "checkpoint saved to") != NULL, "%s", text);
        cr_assert(strstr(text, "convnet train --resume") != NULL, "%s", text);
    }
    free(text);
    size_t len;
    char *got = finish(out, &len);
    cr_assert_eq(len, ref_len);
    cr_assert_eq(memcmp(got, ref, len), 0, "signal %d: the resumed model differs", sig);
    free(got);
    free(ref);
}

Test(resume_cli, sigint_saves_and_exits_130)
{
    check_signal(SIGINT);
}

Test(resume_cli, sigterm_saves_and_exits_143)
{
    check_signal(SIGTERM);
}

Test(resume_cli, other_configuration_refused_unless_forced)
{
    tst_cli_bin_or_skip();
    char out[128], log[160], ck[200];
    path_in(out, sizeof out, g_dir, "fp");
    path_in(log, sizeof log, g_dir, "fp.txt");
    path_in(ck, sizeof ck, out, "checkpoint.safetensors");
    const char *a[32];
    train_args(a, out);
    int pid = tst_cli_start(a, log);
    for (int i = 0; i < 2000 && !exists(ck); i++) usleep(2000);
    kill(pid, SIGKILL);
    tst_cli_wait(pid);
    cr_assert(exists(ck));
    const char *b[] = {"train", "--resume", out, "--lr", "0.02", "--quiet", NULL};
    tst_run r = tst_cli_run(b);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "configuration fingerprint differs") != NULL, "%s", r.err);
    cr_assert(strstr(r.err, "checkpoint ") != NULL && strstr(r.err, "this run ") != NULL, "%s",
              r.err);
    tst_cli_free(&r);
    const char *c[] = {"train", "--resume", out, "--lr", "0.02", "--force", "--quiet", NULL};
    r = tst_cli_run(c);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    tst_cli_free(&r);
    /* a new run into a folder holding a checkpoint is refused */
    r = tst_cli_run(a);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "--resume") != NULL, "%s", r.err);
    tst_cli_free(&r);
}
