/* src/train/train_internal.h: helpers of the trainer (src/train/trainer.c)
 * that live in src/train/run_files.c and src/train/step_extras.c; not part of
 * the public API. */
#ifndef CONVNET_TRAIN_INTERNAL_H
#define CONVNET_TRAIN_INTERNAL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "convnet/core.h"
#include "convnet/model.h"
#include "convnet/train.h"

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

/* cn_train_check_config: the fields of c that cn_train checks up front
 * (CN_ERR_ARG naming the field and its value). */
cn_status cn_train_check_config(const cn_train_config *c, cn_error *err);

/* cn_train_check_augment: cfg->augment (when set) maps (c, h, w) to itself and
 * cfg->augment_norm (when set) was fitted on (c, h, w). CN_ERR_ARG / CN_ERR_SHAPE
 * naming both shapes. */
cn_status cn_train_check_augment(const cn_train_config *cfg, int c, int h, int w,
                                 cn_error *err);

/* cn_train_augment_batch: x (n, c*h*w) holds the raw training samples at
 * positions pos0 .. pos0 + n - 1 of epoch's data order: replace each by
 * cfg->augment's output (RNG cn_loader_sample_rng(cfg->seed, epoch, position),
 * so the result depends on nothing else), then normalise the batch with
 * cfg->augment_norm. scratch: c*h*w reals. Errors of the transform and of
 * cn_norm_apply_samples. */
cn_status cn_train_augment_batch(const cn_train_config *cfg, cn_real *x, int n, int c, int h,
                                 int w, int epoch, int pos0, cn_real *scratch, cn_error *err);

/* cn_train_steps_open: open run_dir/steps.csv for the per-step log ("step,epoch,
 * loss,lr" header, then one line per step). A new run (resume_step == 0 and not
 * resuming) truncates it; a resumed run first keeps only its complete lines of
 * steps <= resume_step (rewritten atomically), then appends. *out is NULL
 * without run_dir. Errors: CN_ERR_IO naming the file, CN_ERR_NOMEM. */
cn_status cn_train_steps_open(const char *run_dir, int resuming, uint64_t resume_step,
                              FILE **out, cn_error *err);

/* cn_train_steps_write: one line "step,epoch,loss,lr" (%.9g; "nan" for a skipped
 * step's loss). Write errors surface at cn_train_steps_close. */
void cn_train_steps_write(FILE *f, uint64_t step, int epoch, double loss, double lr);

/* cn_train_steps_close: close f (NULL: no-op); CN_ERR_IO naming run_dir's
 * steps.csv when a write or the close failed. */
cn_status cn_train_steps_close(FILE *f, const char *run_dir, cn_error *err);

#endif /* CONVNET_TRAIN_INTERNAL_H */
