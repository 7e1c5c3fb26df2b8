/* cli/report_run.h: writing the training report from inside another command:
 * `convnet train` calls cli_report_after_train at its end, with the raw test
 * split it already loaded, so the report needs no second pass over the data.
 * Implemented in cli/cmd_report.c (which is also `convnet report`). */
#ifndef CONVNET_CLI_REPORT_RUN_H
#define CONVNET_CLI_REPORT_RUN_H

#include "convnet.h"
#include "progress.h"

/* cli_report_after_train: write RUN_DIR/report.html and RUN_DIR/report/NN-name.png
 * (cn_report_write with default options: best weights, falling back to the last)
 * from run_dir, with raw_test the RAW test split (pixels in [0, 1], NOT
 * normalised; NULL: the figures that need test data are left out). Prints a
 * stage line "report: PATH (N figures)" through p (may be NULL: silent).
 * Returns CLI_EXIT_OK, or the CLI_EXIT_* status after printing
 * "convnet: report: <message>" on stderr. test_acc (may be NULL) gets the
 * test accuracy of the weights the report used (NaN without test data), so
 * train needs no second pass over the test set for them. */
int cli_report_after_train(const char *run_dir, const cn_dataset *raw_test, cli_progress *p,
                           double *test_acc);

#endif /* CONVNET_CLI_REPORT_RUN_H */
