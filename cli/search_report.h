/* cli/search_report.h: the trials of `convnet search` and what it reports about
 * them: a finished trial's results, the context every trial shares, a trial's
 * run configuration (base plus its values) and JSON line, and the final report:
 * the trials ranked by best validation accuracy, the best trial, warnings for
 * best values at the edge of their range, and DIR/best.txt (a configuration file
 * for `convnet train --config`). */
#ifndef CONVNET_CLI_SEARCH_REPORT_H
#define CONVNET_CLI_SEARCH_REPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "convnet.h"
#include "load.h"
#include "output.h"
#include "progress.h"
#include "train_config.h"

/* How a trial ended (STATUS names in JSON: "ok", "diverged", "failed"). */
typedef enum cli_trial_status {
    CLI_TRIAL_OK = 0,
    CLI_TRIAL_DIVERGED,
    CLI_TRIAL_FAILED
} cli_trial_status;

/* One finished trial. */
typedef struct cli_trial {
    int index;                         /* from 0, in running order */
    int stage;                         /* 0 coarse, 1 fine */
    uint64_t seed;                     /* initialisation, shuffling, dropout */
    int epochs;                        /* configured */
    double values[CN_SEARCH_MAX_DIMS]; /* one per dimension */
    double score;                      /* best validation accuracy; NaN unless ok */
    double train_acc, final_loss, seconds;
    int epochs_run, best_epoch;
    cli_trial_status status;
    char message[CN_ERROR_MSG_MAX];
} cli_trial;

/* What every trial shares. */
typedef struct cli_search_ctx {
    const cli_train_cfg *base;
    const cli_data *data;
    const cn_search_dim *dims; /* the coarse space */
    int n_dims;
    cli_progress *p;
    FILE *jsonl;
    const char *jsonl_path;
} cli_search_ctx;

/* cli_search_stage_name: "coarse" for stage 0, "fine" for stage 1. */
const char *cli_search_stage_name(int stage);

/* cli_search_trial_config: the configuration of trial t: x->base with t's epochs,
 * its seed (when seed_too) and its value of each dimension of x->dims. Returns 0,
 * or -1 with msg (cap bytes). */
int cli_search_trial_config(const cli_search_ctx *x, const cli_trial *t, int seed_too,
                            cli_train_cfg *c, char *msg, size_t cap);

/* cli_search_trial_json: trial t as a new JSON object {"trial" (from 1), "stage",
 * "seed", "values" (name: value per dimension), "val_accuracy", "train_accuracy",
 * "final_loss", "epochs", "epochs_run", "best_epoch", "seconds", "status",
 * "message" (when any)}, or NULL when out of memory. */
json_t *cli_search_trial_json(const cli_search_ctx *x, const cli_trial *t);

/* cli_search_report: add to out the table "trials" of trials[0..n) ranked by
 * best validation accuracy (title says interrupted when set), "space" (x->dims)
 * and "fine_space" (fine, when have_fine), "coarse_trials" and "fine_trials"
 * (the configured counts; fine 0 without a fine stage), then, when the best trial
 * has a score: a warning on x->p for each of its values at the edge of its
 * range, best_path written (a comment, then the configuration without the
 * trial's seed), "best", "best_trial", "best_val_accuracy", "best_<name>" per
 * dimension and "best_config"; else "best" null; then "edges" and "interrupted".
 * Returns CLI_EXIT_OK, or CLI_EXIT_RUNTIME after printing the message (out of
 * memory, best_path not writable). */
int cli_search_report(const cli_search_ctx *x, const cli_trial *trials, int n, int coarse_trials,
                      int fine_trials, const cn_search_dim *fine, int have_fine, int interrupted,
                      const char *best_path, cli_out *out);

#endif /* CONVNET_CLI_SEARCH_REPORT_H */
