/* tests/support_report.h: what the report tests share: a run folder made
 * without training (a small three-layer convnet or two-layer net saved as
 * best.safetensors and model.safetensors, a metrics.jsonl of a few epochs,
 * optionally steps.csv and per-layer statistics, config.txt), its raw test set,
 * and removing a folder tree (the report writes RUN_DIR/report/). */
#ifndef TESTS_SUPPORT_REPORT_H
#define TESTS_SUPPORT_REPORT_H

#include "convnet.h"

/* Options of tst_report_run. */
typedef struct tst_run_opts {
    int conv;       /* 1: three-layer-convnet on 3x8x8; 0: two-layer on 1x8x8 */
    int steps;      /* 1: write steps.csv (one step's loss "nan") */
    int layers;     /* 1: metrics lines carry "layers" (as --monitor 1) */
    int epochs;     /* metrics lines (>= 1) */
} tst_run_opts;

/* tst_report_run: fill dir (existing, empty) with a run folder; the test fails
 * on any error. */
void tst_report_run(const char *dir, const tst_run_opts *o);

/* tst_report_test_set: n raw test images matching the run's model (labels
 * i % 3, 3 classes), pixels in [0, 1]. cn_dataset_free. */
cn_dataset *tst_report_test_set(int conv, int n);

/* tst_rmtree: remove dir and everything under it (no symlinks followed). */
void tst_rmtree(const char *dir);

#endif /* TESTS_SUPPORT_REPORT_H */
