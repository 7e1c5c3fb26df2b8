/* test_cli_progress.c: the training progress display of the convnet tool
 * (cli/progress.c, compiled into this test): CONVNET_PROGRESS picks the mode and
 * --quiet wins; bar mode redraws one line with '\r' at most every 0.1 s (a fake
 * clock), shows epoch, bar, step, loss, accuracy, images/s and a whole-run ETA in
 * m:ss form, and stage lines erase the bar first; lines mode prints a plain line
 * at most every 10 s and none for a short epoch; none mode prints nothing. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/progress.c"

static double g_now;

static double fake_clock(void)
{
    return g_now;
}

/* A progress display in mode, writing to a memory stream (*buf, *len). */
static void open_progress(cli_progress *p, const char *mode, char **buf, size_t *len)
{
    cr_assert_eq(setenv("CONVNET_PROGRESS", mode, 1), 0);
    cli_progress_init(p, 0);
    unsetenv("CONVNET_PROGRESS");
    *buf = NULL;
    *len = 0;
    p->out = open_memstream(buf, len);
    cr_assert_not_null(p->out);
    p->clock = fake_clock;
    g_now = 1000.0;
}

static void close_progress(cli_progress *p, char **buf)
{
    cli_progress_destroy(p);
    cr_assert_eq(fclose(p->out), 0);
    free(*buf);
}

static cn_train_step step_at(int epoch, int epochs, int batch, int batches, double seconds)
{
    cn_train_step s;
    memset(&s, 0, sizeof s);
    s.epoch = epoch;
    s.epochs = epochs;
    s.batch = batch;
    s.batches = batches;
    s.step = (uint64_t)((epoch - 1) * batches + batch);
    s.loss = 0.5;
    s.epoch_loss = 0.41234;
    s.epoch_acc = 0.8531;
    s.images_per_s = 1840.2;
    s.seconds = seconds;
    return s;
}

static int count_char(const char *s, size_t n, char c)
{
    int k = 0;
    for (size_t i = 0; i < n; i++) k += s[i] == c;
    return k;
}

Test(cli_progress, mode_from_env_and_quiet)
{
    cli_progress p;
    cli_progress_mode m;
    cr_expect_eq(cli_progress_mode_parse("bar", &m), 0);
    cr_expect_eq(m, CLI_PROGRESS_BAR);
    cr_expect_eq(cli_progress_mode_parse("lines", &m), 0);
    cr_expect_eq(m, CLI_PROGRESS_LINES);
    cr_expect_eq(cli_progress_mode_parse("none", &m), 0);
    cr_expect_eq(m, CLI_PROGRESS_NONE);
    cr_expect_eq(cli_progress_mode_parse("Bar", &m), -1);
    setenv("CONVNET_PROGRESS", "bar", 1);
    cli_progress_init(&p, 0);
    cr_expect_eq(p.mode, CLI_PROGRESS_BAR);
    cr_expect_eq(p.tty, 1);
    cli_progress_destroy(&p);
    cli_progress_init(&p, 1); /* --quiet wins */
    cr_expect_eq(p.mode, CLI_PROGRESS_NONE);
    cli_progress_destroy(&p);
    setenv("CONVNET_PROGRESS", "lines", 1);
    cli_progress_init(&p, 0);
    cr_expect_eq(p.mode, CLI_PROGRESS_LINES);
    cr_expect_eq(p.tty, 0);
    cli_progress_destroy(&p);
    unsetenv("CONVNET_PROGRESS");
}

Test(cli_progress, bar_redraws_throttled_with_eta)
{
    cli_progress p;
    char *buf;
    size_t len;
    open_progress(&p, "bar", &buf, &len);
    /* epoch 1 of 2, 100 steps, 0.05 s per step: 20 steps in 1 s */
    for (int b = 1; b <= 20; b++) {
        g_now = 1000.0 + 0.05 * b;
        cn_train_step s = step_at(1, 2, b, 100, 0.05 * b);
        cli_progress_step(&p, &s);
    }
    fflush(p.out);
    int redraws = count_char(buf, len, '\r');
    /* the first step draws, then one redraw per 0.1 s (2 steps): about 10 */
    cr_expect(redraws >= 9 && redraws <= 11, "%d redraws in 1 s: %s", redraws, buf);
    cr_expect_eq(count_char(buf, len, '\n'), 0, "the bar must not end lines: %s", buf);
    /* 0.1 s after the last redraw: ETA = 78 steps of this epoch + 100 of the
     * next, at 0.05 s = 8.9 s */
    g_now = 1000.0 + 0.05 * 22;
    cn_train_step s = step_at(1, 2, 22, 100, 0.05 * 22);
    cli_progress_step(&p, &s);
    fflush(p.out);
    const char *last = strrchr(buf, '\r');
    cr_assert_not_null(last);
    cr_expect(strstr(last, "epoch 1/2 [####................] 22/100") != NULL, "%s", last);
    cr_expect(strstr(last, "loss 0.4123  acc 0.853  1840 img/s  ETA 8.9s") != NULL, "%s",
              last);
    /* a stage line erases the bar first */
    cli_progress_stage(&p, "epoch 1 done");
    fflush(p.out);
    cr_expect(strstr(buf, "\r\033[Kepoch 1 done\n") != NULL, "%s", buf);
    close_progress(&p, &buf);
}

Test(cli_progress, bar_eta_uses_last_epoch_duration)
{
    cli_progress p;
    char *buf;
    size_t len;
    open_progress(&p, "bar", &buf, &len);
    /* epoch 1: 10 steps of 1 s, then 20 s of validation; epoch 2 of 10 starts */
    for (int b = 1; b <= 10; b++) {
        g_now = 1000.0 + b;
        cn_train_step s = step_at(1, 10, b, 10, b);
        cli_progress_step(&p, &s);
    }
    g_now = 1000.0 + 10 + 20 + 1; /* epoch 2 began at 1030, its first step took 1 s */
    cn_train_step s = step_at(2, 10, 1, 10, 1.0);
    cli_progress_step(&p, &s);
    fflush(p.out);
    const char *last = strrchr(buf, '\r');
    cr_assert_not_null(last);
    /* 9 steps at 1 s + 8 epochs at 30 s = 249 s = 4:09 */
    cr_expect(strstr(last, "epoch 2/10 [##") != NULL, "%s", last);
    cr_expect(strstr(last, "1/10  loss") != NULL, "%s", last);
    cr_expect(strstr(last, "ETA 4:09") != NULL, "%s", last);
    /* an hour or more: h:mm:ss */
    g_now += 1.0;
    s = step_at(2, 200, 2, 10, 2.0);
    cli_progress_step(&p, &s);
    fflush(p.out);
    last = strrchr(buf, '\r');
    cr_expect(strstr(last, "ETA 1:39:08") != NULL, "%s", last); /* 8 s + 198 * 30 s */
    cli_progress_end(&p);
    fflush(p.out);
    cr_expect_eq(p.bar_open, 0);
    cr_expect(len >= 4 && strcmp(buf + len - 4, "\r\033[K") == 0, "bar not erased: %s", buf);
    close_progress(&p, &buf);
}

Test(cli_progress, lines_mode_throttled)
{
    cli_progress p;
    char *buf;
    size_t len;
    open_progress(&p, "lines", &buf, &len);
    /* a short epoch (5 s): no line at all */
    for (int b = 1; b <= 50; b++) {
        g_now = 1000.0 + 0.1 * b;
        cn_train_step s = step_at(1, 3, b, 50, 0.1 * b);
        cli_progress_step(&p, &s);
    }
    fflush(p.out);
    cr_expect_eq(len, 0, "short epoch printed: %s", buf);
    /* a 35 s epoch of 350 steps: lines at 10, 20 and 30 s, none at the last step */
    double t0 = g_now;
    for (int b = 1; b <= 350; b++) {
        g_now = t0 + 0.1 * b;
        cn_train_step s = step_at(2, 3, b, 350, 0.1 * b);
        cli_progress_step(&p, &s);
    }
    fflush(p.out);
    cr_expect_eq(count_char(buf, len, '\n'), 3, "%s", buf);
    cr_expect_eq(count_char(buf, len, '\r'), 0, "%s", buf);
    const char *want = "  epoch 2/3 100/350  loss 0.4123  acc 0.853  1840 img/s  ETA 30s\n";
    cr_expect(strncmp(buf, want, strlen(want)) == 0, "%s", buf);
    close_progress(&p, &buf);
}

Test(cli_progress, none_mode_and_quiet_print_nothing)
{
    cli_progress p;
    char *buf;
    size_t len;
    open_progress(&p, "none", &buf, &len);
    for (int b = 1; b <= 100; b++) {
        g_now = 1000.0 + b;
        cn_train_step s = step_at(1, 1, b, 100, b);
        cli_progress_step(&p, &s);
    }
    cn_progress prog = cli_progress_begin(&p, "test");
    prog.fn(prog.ctx, "test", 5, 10);
    fflush(p.out);
    cr_expect_eq(len, 0, "%s", buf);
    cli_progress_stage(&p, "a stage line still prints");
    fflush(p.out);
    cr_expect_str_eq(buf, "a stage line still prints\n");
    close_progress(&p, &buf);
}
