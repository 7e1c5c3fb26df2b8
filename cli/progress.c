/* cli/progress.c: progress lines with rate and ETA on stderr (see progress.h), and
 * the SIGINT / SIGTERM flag that turns Ctrl-C or a kill into a clean cancellation
 * of library calls. */
#include "progress.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
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

void cli_progress_init(cli_progress *p, int quiet)
{
    memset(p, 0, sizeof *p);
    p->quiet = quiet;
    p->tty = isatty(fileno(stderr));
    pthread_mutex_init(&p->lock, NULL);
}

/* Terminate an in-place terminal line. Caller holds the lock. */
static void close_line(cli_progress *p)
{
    if (p->line_open) {
        fputc('\n', stderr);
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
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
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
    if (p->quiet)
        return stop;
    pthread_mutex_lock(&p->lock);
    double now = cn_time_now();
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
        if (p->tty) {
            fprintf(stderr, "\r%s\033[K", line);
            p->line_open = 1;
            if (final)
                close_line(p);
        } else {
            fprintf(stderr, "%s\n", line);
        }
        fflush(stderr);
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
    p->t_start = cn_time_now();
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
