/* src/train/train_internal.h: helpers of the trainer (src/train/trainer.c)
 * that live in src/train/run_files.c; not part of the public API. */
#ifndef CONVNET_TRAIN_INTERNAL_H
#define CONVNET_TRAIN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "convnet/core.h"
#include "convnet/model.h"

/* cn_train_locate_nonfinite: describe where the first non-finite number of the
 * last forward (grads == 0: node outputs in forward order) or backward (grads ==
 * 1: output gradients in backward order, then parameter gradients) of m on n
 * samples is, as " (first non-finite output: node 'linear2' (linear), value
 * [4])" into buf[0..cap); "" when everything is finite. */
void cn_train_locate_nonfinite(cn_model *m, int n, int grads, char *buf, size_t cap);

/* cn_train_remove_stale_temps: remove checkpoint.safetensors.tmp.* files that a
 * crash inside the write protocol left in run_dir (RELIABILITY C8). NULL: no-op. */
void cn_train_remove_stale_temps(const char *run_dir);

/* cn_train_trim_metrics: after a crash, run_dir/metrics.jsonl may hold lines of
 * epochs that ended after the checkpoint (they will run again) or a torn last
 * line: keep only the complete lines of epochs <= epoch, rewritten atomically. A
 * missing file is fine. Errors: CN_ERR_ARG (path too long), CN_ERR_NOMEM, the
 * atomic writer's CN_ERR_IO. */
cn_status cn_train_trim_metrics(const char *run_dir, uint64_t epoch, cn_error *err);

#endif /* CONVNET_TRAIN_INTERNAL_H */
