/* cli/progress.h: progress and stage messages of the convnet tool, always on
 * stderr (stdout carries results only). When stderr is a terminal, progress is one
 * line updated in place with '\r'; otherwise a plain line is printed at most every
 * ~2 seconds plus a final one. --quiet silences both. Also the SIGINT handling:
 * the first Ctrl-C asks the running library call to stop (through the progress
 * callback's return value), a second one kills the process; SIGTERM likewise. */
#ifndef CONVNET_CLI_PROGRESS_H
#define CONVNET_CLI_PROGRESS_H

#include <pthread.h>
#include <stddef.h>

#include "convnet.h"

/* Minimum seconds between two progress lines when stderr is not a terminal. */
#define CLI_PROGRESS_PLAIN_INTERVAL 2.0

typedef struct cli_progress {
    int quiet;           /* print nothing */
    int tty;             /* stderr is a terminal */
    char task[64];       /* what the tool is doing ("test kNN") */
    char stage[64];      /* the library's stage name of the current run */
    double t_start;      /* when the current (task, stage) run started */
    double t_last;       /* when the last line was printed */
    size_t last_done;
    int line_open;       /* tty: an in-place line is on screen without '\n' */
    pthread_mutex_t lock;
} cli_progress;

/* cli_progress_init: set up p; tty is detected with isatty(stderr). */
void cli_progress_init(cli_progress *p, int quiet);

/* cli_progress_destroy: end any open line and release the lock. */
void cli_progress_destroy(cli_progress *p);

/* cli_progress_stage: print a stage line ("loading data...") on stderr. */
void cli_progress_stage(cli_progress *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* cli_progress_warn: print "convnet: warning: ..." on stderr (even when quiet). */
void cli_progress_warn(cli_progress *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* cli_progress_begin: start a task; the returned cn_progress reports to p and asks
 * the library call to stop once SIGINT was received. */
cn_progress cli_progress_begin(cli_progress *p, const char *task);

/* cli_progress_end: finish the task's line (a newline on a terminal). */
void cli_progress_end(cli_progress *p);

/* cli_signals_install: catch the first SIGINT or SIGTERM (see above); a second
 * one of either gets the default action (the process ends at once). */
void cli_signals_install(void);

/* cli_interrupted: the number of the first signal received (SIGINT or SIGTERM),
 * or 0. */
int cli_interrupted(void);

#endif /* CONVNET_CLI_PROGRESS_H */
