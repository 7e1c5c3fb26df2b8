/* cli/progress.h: progress and stage messages of the convnet tool, always on
 * stderr (stdout carries results only). When stderr is a terminal, progress is one
 * line updated in place with '\r'; otherwise a plain line is printed at most every
 * ~2 seconds plus a final one. --quiet silences both. Training steps get a
 * progress bar (cli_progress_step): on a terminal one line redrawn at most 10
 * times a second, otherwise a plain line at most every 10 s. The environment
 * variable CONVNET_PROGRESS=bar|lines|none overrides the terminal detection.
 * Also the SIGINT handling:
 * the first Ctrl-C asks the running library call to stop (through the progress
 * callback's return value), a second one kills the process; SIGTERM likewise. */
#ifndef CONVNET_CLI_PROGRESS_H
#define CONVNET_CLI_PROGRESS_H

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

#include "convnet.h"

/* Minimum seconds between two progress lines when stderr is not a terminal. */
#define CLI_PROGRESS_PLAIN_INTERVAL 2.0
/* Training steps: minimum seconds between two redraws of the bar, and between two
 * plain lines (none before an epoch has run this long). */
#define CLI_PROGRESS_BAR_INTERVAL 0.1
#define CLI_PROGRESS_LINES_INTERVAL 10.0
/* Characters of the bar between '[' and ']' (fewer on a narrow terminal). */
#define CLI_PROGRESS_BAR_WIDTH 20

/* How progress is shown: chosen by cli_progress_init from isatty(stderr), or
 * from CONVNET_PROGRESS ("bar", "lines", "none"); --quiet gives NONE. */
typedef enum cli_progress_mode {
    CLI_PROGRESS_NONE = 0, /* no progress (stage lines and warnings still print) */
    CLI_PROGRESS_LINES,    /* plain lines, throttled */
    CLI_PROGRESS_BAR       /* one line redrawn in place with '\r' */
} cli_progress_mode;

typedef struct cli_progress {
    int quiet;           /* print nothing */
    int tty;             /* progress redrawn in place (mode == CLI_PROGRESS_BAR) */
    cli_progress_mode mode;
    FILE *out;           /* where everything goes: stderr (tests may set another) */
    double (*clock)(void); /* seconds: cn_time_now (tests may set a fake one) */
    char task[64];       /* what the tool is doing ("test kNN") */
    char stage[64];      /* the library's stage name of the current run */
    double t_start;      /* when the current (task, stage) run started */
    double t_last;       /* when the last line was printed */
    size_t last_done;
    int line_open;       /* tty: an in-place line is on screen without '\n' */
    int bar_open;        /* the training bar is on screen (erased, not ended) */
    int step_epoch;      /* the epoch of the last training step seen (0: none) */
    double t_draw;       /* when the bar or the last step line was drawn */
    double t_epoch;      /* when the current epoch began */
    double epoch_s;      /* seconds of the last whole epoch (with validation), or 0 */
    pthread_mutex_t lock;
} cli_progress;

/* cli_progress_init: set up p: output on stderr, the mode from CONVNET_PROGRESS
 * when it is set (an unknown value gets a warning and is ignored), else BAR when
 * stderr is a terminal and LINES otherwise; NONE when quiet. */
void cli_progress_init(cli_progress *p, int quiet);

/* cli_progress_mode_parse: "bar", "lines", "none" into *out; -1 otherwise. */
int cli_progress_mode_parse(const char *s, cli_progress_mode *out);

/* cli_progress_step: a cn_train_step_fn (ud: the cli_progress): in BAR mode the
 * line "epoch 3/10 [#######.......] 412/860  loss 0.4123  acc 0.853  1840 img/s
 * ETA 2:31" redrawn at most every CLI_PROGRESS_BAR_INTERVAL seconds (and at an
 * epoch's last step); in LINES mode that line without the bar, printed once
 * CLI_PROGRESS_LINES_INTERVAL seconds of the epoch have passed since its start or
 * the previous line (so short epochs print none), never at the last step (the
 * epoch's summary line follows). loss and acc are the epoch's running means; the
 * ETA covers the whole run: the remaining steps of this epoch at its step rate
 * plus the remaining epochs at the duration of the last whole epoch (validation
 * included; before one has ended, at the step rate). Stage lines and warnings
 * erase the bar first; cli_progress_end and cli_progress_destroy erase it. */
void cli_progress_step(void *ud, const cn_train_step *s);

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
