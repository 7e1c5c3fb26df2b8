/* cli/progress.c: progress lines with rate and ETA on stderr (see progress.h), the
 * training progress bar, and the SIGINT / SIGTERM flag that turns Ctrl-C or a kill
 * into a clean cancellation of library calls. */
#include "progress.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
/* The only state shared with the signal handler: the first signal caught. */
static volatile sig_atomic_t interrupted_flag = 0;

static void on_signal(int sig)
{
    if (!interrupted_flag) interrupted_flag = sig;
}

void cli_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND; /* a second signal gets the default action */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_interrupted(void)
{
    return interrupted_flag;
}

int cli_progress_mode_parse(const char *s, cli_progress_mode *out)
{
    static const char *const names[] = {"none", "lines", "bar"};
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, names[i]) == 0) {
            *out = (cli_progress_mode)i;
            return 0;
        }
    return -1;
}

void cli_progress_init(cli_progress *p, int quiet)
{
    memset(p, 0, sizeof *p);
    p->quiet = quiet;
    p->out = stderr;
    p->clock = cn_time_now;
    p->mode = isatty(fileno(stderr)) ? CLI_PROGRESS_BAR : CLI_PROGRESS_LINES;
    const char *env = getenv("CONVNET_PROGRESS");
    if (env && env[0] && cli_progress_mode_parse(env, &p->mode) != 0)
        fprintf(stderr, "convnet: warning: CONVNET_PROGRESS='%s' is not bar, lines or none; "
                        "ignored\n", env);
    if (quiet) p->mode = CLI_PROGRESS_NONE;
    p->tty = p->mode == CLI_PROGRESS_BAR;
    pthread_mutex_init(&p->lock, NULL);
}

/* Terminate an in-place terminal line; erase the training bar. Caller holds the
 * lock. */
static void close_line(cli_progress *p)
{
    if (p->bar_open) {
        fputs("\r\033[K", p->out);
        p->bar_open = 0;
    }
    if (p->line_open) {
        fputc('\n', p->out);
        p->line_open = 0;
    }
}

void cli_progress_destroy(cli_progress *p)
{
    pthread_mutex_lock(&p->lock);
    close_line(p);
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_destroy(&p->lock);
}

/* Print prefix + the formatted message + newline on stderr as one line, after
 * closing any progress line in place. */
static void print_line(cli_progress *p, const char *prefix, const char *fmt, va_list ap)
{
    pthread_mutex_lock(&p->lock);
    close_line(p);
    fputs(prefix, p->out);
    vfprintf(p->out, fmt, ap);
    fputc('\n', p->out);
    fflush(p->out);
    pthread_mutex_unlock(&p->lock);
}

void cli_progress_stage(cli_progress *p, const char *fmt, ...)
{
    if (p->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    print_line(p, "", fmt, ap);
    va_end(ap);
}

void cli_progress_warn(cli_progress *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_line(p, "convnet: warning: ", fmt, ap);
    va_end(ap);
}

/* "1:05:03", "4:07", "12s" */
static void fmt_duration(double s, char *buf, size_t size)
{
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, size, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else if (t >= 60)
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
    else if (s >= 10)
        snprintf(buf, size, "%lds", t);
    else
        snprintf(buf, size, "%.1fs", s);
}

static void fmt_rate(double r, char *buf, size_t size)
{
    if (r >= 100)
        snprintf(buf, size, "%.0f/s", r);
    else if (r >= 1)
        snprintf(buf, size, "%.1f/s", r);
    else
        snprintf(buf, size, "%.2f/s", r);
}

static int report(void *ctx, const char *stage, size_t done, size_t total)
{
    cli_progress *p = ctx;
    int stop = cli_interrupted();
    if (p->quiet || p->mode == CLI_PROGRESS_NONE)
        return stop;
    pthread_mutex_lock(&p->lock);
    double now = p->clock();
    if (!stage)
        stage = "";
    if (strncmp(p->stage, stage, sizeof p->stage - 1) != 0 || done < p->last_done) {
        if (p->stage[0] != '\0' || done < p->last_done)
            p->t_start = now; /* a new stage: rate and ETA start over */
        snprintf(p->stage, sizeof p->stage, "%s", stage);
        p->t_last = 0;
    }
    p->last_done = done;
    int final = total > 0 && done >= total;
    if (p->tty || final || now - p->t_last >= CLI_PROGRESS_PLAIN_INTERVAL) {
        double el = now - p->t_start;
        char rate[32] = "", eta[48] = "", line[256];
        double pct = total > 0 ? 100.0 * (double)done / (double)total : 0.0;
        if (el > 0 && done > 0) {
            double r = (double)done / el;
            fmt_rate(r, rate, sizeof rate);
            if (final) {
                char d[32];
                fmt_duration(el, d, sizeof d);
                snprintf(eta, sizeof eta, "took %s", d);
            } else {
                char d[32];
                fmt_duration((double)(total - done) / r, d, sizeof d);
                snprintf(eta, sizeof eta, "ETA %s", d);
            }
        } else {
            snprintf(eta, sizeof eta, final ? "done" : "ETA ?");
        }
        /* the library's stage name is left out when it repeats the task's */
        int same = strcmp(p->task, p->stage) == 0 || p->stage[0] == '\0';
        snprintf(line, sizeof line, "  %s: %s%s%zu/%zu (%.0f%%)%s%s, %s", p->task,
                 same ? "" : p->stage, same ? "" : " ", done, total, pct, rate[0] ? ", " : "",
                 rate, eta);
        if (p->bar_open) {
            fputs("\r\033[K", p->out);
            p->bar_open = 0;
        }
        if (p->tty) {
            fprintf(p->out, "\r%s\033[K", line);
            p->line_open = 1;
            if (final)
                close_line(p);
        } else {
            fprintf(p->out, "%s\n", line);
        }
        fflush(p->out);
        p->t_last = now;
    }
    pthread_mutex_unlock(&p->lock);
    return stop;
}

cn_progress cli_progress_begin(cli_progress *p, const char *task)
{
    pthread_mutex_lock(&p->lock);
    close_line(p);
    snprintf(p->task, sizeof p->task, "%s", task);
    p->stage[0] = '\0';
    p->t_start = p->clock();
    p->t_last = 0;
    p->last_done = 0;
    pthread_mutex_unlock(&p->lock);
    cn_progress prog = {report, p};
    return prog;
}

void cli_progress_end(cli_progress *p)
{
    pthread_mutex_lock(&p->lock);
    close_line(p);
    pthread_mutex_unlock(&p->lock);
}

/* The terminal's width in columns, or 0 when unknown (not a terminal). */
static int term_cols(FILE *f)
{
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 0;
}

/* Seconds left in the whole run after step s at time now: this epoch's steps at
 * its step rate, then the remaining epochs at the last whole epoch's duration
 * (or, before one has ended, at the step rate). Negative when unknown. */
static double run_eta(const cli_progress *p, const cn_train_step *s, double now)
{
    double el = now - p->t_epoch;
    if (s->batch <= 0 || !(el > 0)) return -1;
    double per_step = el / s->batch;
    double left = (double)(s->batches - s->batch) * per_step;
    int epochs_left = s->epochs - s->epoch;
    if (epochs_left > 0)
        left += epochs_left * (p->epoch_s > 0 ? p->epoch_s : per_step * s->batches);
    return left;
}

/* Write the step line into buf: "epoch 3/10 [###....] 412/860  loss ..." with a
 * bar of width cells (none when width is 0). */
static void step_line(const cn_train_step *s, double eta, int width, char *buf, size_t cap)
{
    char bar[CLI_PROGRESS_BAR_WIDTH + 4] = "", e[32] = "?", loss[32], acc[32];
    if (width > CLI_PROGRESS_BAR_WIDTH) width = CLI_PROGRESS_BAR_WIDTH;
    if (width > 0) {
        int fill = s->batches > 0 ? (int)((long long)width * s->batch / s->batches) : 0;
        if (fill > width) fill = width;
        bar[0] = '[';
        for (int i = 0; i < width; i++) bar[1 + i] = i < fill ? '#' : '.';
        bar[width + 1] = ']';
        bar[width + 2] = ' ';
        bar[width + 3] = '\0';
    }
    if (eta >= 0) fmt_duration(eta, e, sizeof e);
    if (isfinite(s->epoch_loss)) snprintf(loss, sizeof loss, "%.4f", s->epoch_loss);
    else snprintf(loss, sizeof loss, "-");
    if (isfinite(s->epoch_acc)) snprintf(acc, sizeof acc, "%.3f", s->epoch_acc);
    else snprintf(acc, sizeof acc, "-");
    snprintf(buf, cap, "epoch %d/%d %s%d/%d  loss %s  acc %s  %.0f img/s  ETA %s", s->epoch,
             s->epochs, bar, s->batch, s->batches, loss, acc,
             isfinite(s->images_per_s) ? s->images_per_s : 0.0, e);
}

void cli_progress_step(void *ud, const cn_train_step *s)
{
    cli_progress *p = ud;
    if (!p || !s || p->quiet || p->mode == CLI_PROGRESS_NONE) return;
    pthread_mutex_lock(&p->lock);
    double now = p->clock();
    if (s->epoch != p->step_epoch) {
        /* a new epoch: the previous one's whole duration feeds the ETA */
        double start = now - (s->seconds > 0 ? s->seconds : 0);
        if (p->step_epoch > 0 && start > p->t_epoch) p->epoch_s = start - p->t_epoch;
        p->step_epoch = s->epoch;
        p->t_epoch = start;
        p->t_draw = start;
        if (p->mode == CLI_PROGRESS_BAR) p->t_draw = -INFINITY;
    }
    int last = s->batch >= s->batches;
    char line[256];
    if (p->mode == CLI_PROGRESS_BAR) {
        if (last || now - p->t_draw >= CLI_PROGRESS_BAR_INTERVAL) {
            step_line(s, run_eta(p, s, now), 0, line, sizeof line);
            int width = CLI_PROGRESS_BAR_WIDTH, cols = term_cols(p->out);
            if (cols > 0) { /* keep the line on one row, or '\r' cannot redraw it */
                int room = cols - 1 - (int)strlen(line) - 3;
                width = room < width ? room : width;
                if (width < 5) width = 0;
            }
            step_line(s, run_eta(p, s, now), width, line, sizeof line);
            if (p->line_open) {
                fputc('\n', p->out);
                p->line_open = 0;
            }
            if (cols > 0 && (int)strlen(line) >= cols) line[cols - 1] = '\0';
            fprintf(p->out, "\r%s\033[K", line);
            fflush(p->out);
            p->bar_open = 1;
            p->t_draw = now;
        }
    } else if (!last && now - p->t_draw >= CLI_PROGRESS_LINES_INTERVAL) {
        step_line(s, run_eta(p, s, now), 0, line, sizeof line);
        fprintf(p->out, "  %s\n", line);
        fflush(p->out);
        p->t_draw = now;
    }
    pthread_mutex_unlock(&p->lock);
}
