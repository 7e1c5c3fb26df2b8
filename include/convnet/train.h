/* convnet/train.h: the trainer's core loop as a library call: seeded per-epoch
 * shuffling, forward / backward / optimiser step per mini-batch (the last short
 * batch included), the learning-rate schedule stepped per its unit, validation
 * in evaluation mode, one JSON line of metrics per epoch, the best model by
 * validation accuracy, early stopping, periodic checkpoints, a NaN/Inf guard
 * and cancellation through the progress callback. docs/train.md has the file
 * layout of a run folder and the order of events in a step and an epoch. */
#ifndef CONVNET_TRAIN_H
#define CONVNET_TRAIN_H

#include <stdint.h>

#include "convnet/checkpoint.h"
#include "convnet/core.h"
#include "convnet/data.h"
#include "convnet/model.h"
#include "convnet/optim.h"
#include "convnet/schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the trainer does when a step's loss or gradient norm is NaN or Inf. */
typedef enum cn_nan_policy {
    CN_NAN_STOP = 0, /* stop with CN_ERR_NUMERIC naming the step */
    CN_NAN_SKIP,     /* drop the step's gradients (no update) and go on */
    CN_NAN_POLICY_COUNT
} cn_nan_policy;

/* cn_train_config: everything cn_train reads. Start from cn_train_config_default. */
typedef struct cn_train_config {
    int epochs;             /* >= 1 (10) */
    int batch;              /* >= 1, <= the model's compiled batch (32) */
    uint64_t seed;          /* shuffling (stream 1) and dropout (stream 2) draws (0) */
    cn_optim_config optim;  /* cn_optim_config_default(CN_OPTIM_MOMENTUM) */
    cn_sched_config sched;  /* the schedule; its unit says per step or per epoch
                               (constant, base_lr 0.01, per epoch). The lr of the
                               optimiser is always the schedule's value */
    int patience;           /* early stopping: epochs without a better validation
                               accuracy before stopping (0: off; needs val) */
    int checkpoint_every;   /* steps between checkpoints (0: off; needs run_dir) */
    const char *run_dir;    /* existing folder for metrics.jsonl, best.safetensors,
                               checkpoint.safetensors; NULL: nothing is written */
    cn_nan_policy nan_policy; /* CN_NAN_STOP */
    int threads;            /* > 0: cn_set_num_threads(threads) first; 0: unchanged */
} cn_train_config;

/* cn_train_config_default: the defaults listed above. */
cn_train_config cn_train_config_default(void);

/* cn_train_report: how a run went. */
typedef struct cn_train_report {
    int epochs_run;          /* epochs completed */
    double best_val_acc;     /* best validation accuracy (-1 without val) */
    int best_epoch;          /* its epoch, from 1 (0 without val) */
    double final_train_acc;  /* accuracy over the last epoch's training batches */
    double final_val_acc;    /* validation accuracy after the last epoch (-1 without val) */
    double final_val_loss;   /* mean validation loss after the last epoch (NaN without val) */
    double final_loss;       /* mean training loss of the last epoch */
    uint64_t steps;          /* mini-batches processed (skipped ones included) */
    uint64_t skipped_steps;  /* steps dropped by CN_NAN_SKIP */
    int stopped_early;       /* 1 when early stopping ended the run */
} cn_train_report;

/* cn_train: train m on train for cfg->epochs epochs.
 *   m      compiled for training (batch >= cfg->batch) with a label loss (e.g.
 *          cross_entropy) and a prediction node (cn_model_output) of shape
 *          (classes); initialised (cn_model_init or loaded). Trained in place:
 *          on return it holds the last parameters (the best ones are in
 *          run_dir/best.safetensors).
 *   train  images (n, c, h, w) matching the model's input, labels.
 *   val    may be NULL (no validation, no best model, no early stopping).
 *   rep    may be NULL. prog may be NULL.
 * Each epoch: the order is a Fisher-Yates shuffle drawn from the seed's stream 1
 * (so two runs with the same seed and data are bit-identical); per batch: zero
 * gradients, forward in CN_TRAIN (dropout from stream 2), the NaN/Inf guard on
 * the loss, backward, the guard on the gradient norm, cn_optim_step with
 * cn_sched_lr, cn_sched_step when the unit is per step, a checkpoint every
 * checkpoint_every steps, then the progress callback ("epoch E", batch done of
 * total). After the epoch: validation (CN_EVAL) accuracy and mean loss, the
 * per-epoch schedule step (plateau: cn_sched_step_metric with the validation
 * loss, or accuracy in max mode; the training loss without val), one line
 * appended to run_dir/metrics.jsonl, best.safetensors when validation accuracy
 * improved, early stopping.
 * A callback asking to stop ends the run after the current step: a checkpoint
 * is written (with run_dir) and CN_ERR_ARG "cancelled at step N" is returned.
 * Errors: CN_ERR_ARG (NULL arguments, bad config fields named, data shapes not
 * matching the model, cancelled), CN_ERR_NUMERIC ("step N (epoch E, batch B):
 * loss is nan" or "gradient norm is inf") under CN_NAN_STOP, CN_ERR_IO naming
 * the run_dir file (metrics.jsonl is created before the first step, so an
 * unwritable folder fails at once), and the errors of forward, backward, the
 * optimiser, the schedule and the checkpoint writer. rep is filled as far as
 * the run went, on error too. */
cn_status cn_train(cn_model *m, const cn_dataset *train, const cn_dataset *val,
                   const cn_train_config *cfg, cn_train_report *rep, const cn_progress *prog,
                   cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_TRAIN_H */
