/* test_report_browser.c: report.html rendered by headless Chromium (Debian's
 * `chromium`; the test is skipped when it is not on PATH: scripts/setup.sh
 * installs it). Checks that every figure decoded (the page's script sets
 * <body data-rendered> to the count of images with a natural width, which must
 * equal data-figures), that the browser logged no console message (Chromium
 * prints each as a line with ":CONSOLE" on stderr with --enable-logging=stderr;
 * a deliberately broken page proves the check catches them), and that a
 * screenshot decodes; it is copied to $CN_TEST_ARTIFACTS/report-screenshot.png
 * when that is set. Chromium runs in its own process group, is killed after
 * 60 s, and the whole group is killed when it returns. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "convnet.h"
#include "convnet/report.h"
#include "support.h"
#include "support_cli.h"
#include "support_report.h"

extern char **environ;

static char dir[512];

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(dir, sizeof dir, "report_browser"), 0);
}

static void teardown(void)
{
    tst_rmtree(dir);
}

TestSuite(report_browser, .init = setup, .fini = teardown, .timeout = 120);

/* chromium_path: the first chromium on PATH into buf, or skip the test. */
static void chromium_path(char *buf, size_t cap)
{
    const char *path = getenv("PATH");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(tmp, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(buf, cap, "%s/chromium", d);
        if (access(buf, X_OK) == 0) return;
    }
    cr_skip_test("chromium is not on PATH: scripts/setup.sh installs it (Debian package "
                 "chromium)");
}

/* run_chromium: chromium with the common flags plus extra (NULL-terminated),
 * stdout to out_path and stderr to err_path; killed (its whole process group)
 * after 60 s. Returns the exit status (or 128 + signal). */
static int run_chromium(const char *bin, const char *const *extra, const char *out_path,
                        const char *err_path)
{
    char profile[700];
    snprintf(profile, sizeof profile, "--user-data-dir=%s/profile", dir);
    const char *argv[32] = {bin, "--headless", "--no-sandbox", "--disable-gpu",
                            "--no-first-run", "--disable-dev-shm-usage", profile,
                            "--enable-logging=stderr", "--v=0",
                            "--virtual-time-budget=3000"};
    int n = 10;
    for (int i = 0; extra[i] && n < 31; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, &at, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    cr_assert_eq(rc, 0, "cannot start %s: %s", bin, strerror(rc));
    int status = 0;
    struct timespec nap = {0, 50 * 1000 * 1000};
    for (int waited = 0;; waited++) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) break;
        if (waited >= 60 * 20) { /* 60 s */
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        nanosleep(&nap, NULL);
    }
    kill(-pid, SIGKILL); /* helpers left in the group, if any */
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* console_lines: how many stderr lines are console messages; the first is
 * copied to first. */
static int console_lines(const char *err, char *first, size_t cap)
{
    int n = 0;
    first[0] = '\0';
    for (const char *p = err; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(len < 1023 ? len : 1023), p);
        if (strstr(line, ":CONSOLE") || strstr(line, "Uncaught")) {
            if (n++ == 0) snprintf(first, cap, "%s", line);
        }
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

/* body_attr: the integer value of attribute name in the dumped DOM's <body>. */
static int body_attr(const char *dom, const char *name)
{
    const char *b = strstr(dom, "<body");
    if (!b) return -1;
    char key[64];
    snprintf(key, sizeof key, "%s=\"", name);
    const char *a = strstr(b, key);
    const char *end = strchr(b, '>');
    if (!a || (end && a > end)) return -1;
    return atoi(a + strlen(key));
}

/* render: dump the DOM of the page at path; *dom and *err are malloc'd. */
static void render(const char *bin, const char *path, char **dom, char **err)
{
    char url[1024], out_path[700], err_path[700];
    snprintf(url, sizeof url, "file://%s", path);
    snprintf(out_path, sizeof out_path, "%s/dom.html", dir);
    snprintf(err_path, sizeof err_path, "%s/chromium.log", dir);
    const char *extra[] = {"--dump-dom", url, NULL};
    int st = run_chromium(bin, extra, out_path, err_path);
    size_t len;
    *dom = tst_read_file(out_path, &len);
    *err = tst_read_file(err_path, &len);
    cr_assert(*dom && *err);
    cr_assert_eq(st, 0, "chromium exited with %d: %s", st, *err);
}

Test(report_browser, broken_page_is_caught)
{
    char bin[4096];
    chromium_path(bin, sizeof bin);
    char path[700];
    snprintf(path, sizeof path, "%s/broken.html", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("<!DOCTYPE html><html><body data-figures=\"1\" data-rendered=\"0\">"
          "<img src=\"data:image/png;base64,AAAA\">"
          "<script>console.error('deliberate failure');missingFunction();</script>"
          "</body></html>\n", f);
    fclose(f);
    char *dom, *err, first[1024];
    render(bin, path, &dom, &err);
    cr_expect_geq(console_lines(err, first, sizeof first), 2, "stderr: %s", err);
    cr_expect(strstr(first, "deliberate failure") != NULL, "%s", first);
    cr_expect_eq(body_attr(dom, "data-rendered"), 0, "a broken image must not count");
    free(dom);
    free(err);
}

Test(report_browser, report_renders)
{
    char bin[4096];
    chromium_path(bin, sizeof bin);
    char run[700];
    snprintf(run, sizeof run, "%s/run", dir);
    cr_assert_eq(mkdir(run, 0777), 0);
    tst_run_opts ro = {.conv = 1, .steps = 1, .layers = 0, .epochs = 3};
    tst_report_run(run, &ro);
    cn_dataset *test = tst_report_test_set(1, 60);
    cn_report_result res;
    cn_error e;
    cr_assert_eq(cn_report_write(run, test, NULL, &res, &e), CN_OK, "%s", e.msg);
    cn_dataset_free(test);
    char *dom, *err, first[1024];
    render(bin, res.html, &dom, &err);
    cr_expect_eq(console_lines(err, first, sizeof first), 0, "console: %s", first);
    cr_expect_eq(body_attr(dom, "data-figures"), res.n_figures);
    cr_expect_eq(body_attr(dom, "data-rendered"), res.n_figures, "not every figure rendered");
    free(dom);
    free(err);
    /* a screenshot of the page */
    char shot[800], url[4200], shot_flag[900], out_path[700], err_path[700];
    snprintf(shot, sizeof shot, "%s/screenshot.png", dir);
    snprintf(shot_flag, sizeof shot_flag, "--screenshot=%s", shot);
    snprintf(url, sizeof url, "file://%s", res.html);
    snprintf(out_path, sizeof out_path, "%s/shot.out", dir);
    snprintf(err_path, sizeof err_path, "%s/shot.log", dir);
    const char *extra[] = {shot_flag, "--window-size=1280,3000", "--hide-scrollbars", url, NULL};
    cr_assert_eq(run_chromium(bin, extra, out_path, err_path), 0);
    size_t len;
    char *png = tst_read_file(shot, &len);
    cr_assert_not_null(png, "no screenshot written");
    cn_image_opts io;
    cn_image_opts_default(&io);
    cn_image im;
    cr_assert_eq(cn_image_decode((const uint8_t *)png, len, shot, &io, &im, &e), CN_OK, "%s",
                 e.msg);
    cr_expect_eq(im.w, 1280);
    cr_expect_eq(im.h, 3000);
    cn_image_free(&im);
    const char *art = getenv("CN_TEST_ARTIFACTS");
    if (art && *art) {
        char dst[4200];
        snprintf(dst, sizeof dst, "%s/report-screenshot.png", art);
        FILE *f = fopen(dst, "wb");
        cr_expect_not_null(f, "cannot write %s", dst);
        if (f) {
            cr_expect_eq(fwrite(png, 1, len, f), len);
            fclose(f);
        }
    }
    free(png);
}
