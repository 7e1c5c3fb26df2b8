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
#include "convnet/modelfile.h"
#include "convnet/monitor.h"
#include "convnet/optim.h"
#include "convnet/schedule.h"
#include "convnet/transform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the trainer does when a step's loss or gradient norm is NaN or Inf. */
typedef enum cn_nan_policy {
    CN_NAN_STOP = 0, /* stop with CN_ERR_NUMERIC naming the step */
    CN_NAN_SKIP,     /* drop the step's gradients (no update) and go on */
    CN_NAN_POLICY_COUNT
} cn_nan_policy;

/* cn_train_epoch: what the trainer knows at the end of an epoch (given to the
 * on_epoch callback; NaN for numbers that do not exist, e.g. without validation
 * data). Pointers are valid during the call only. */
typedef struct cn_train_epoch {
    int epoch, epochs;         /* this epoch (from 1), the configured count */
    uint64_t step;             /* steps taken so far */
    double loss, lr, train_acc, val_acc, val_loss, grad_norm, images_per_s, seconds;
    double ema_val_acc;        /* validation accuracy of the EMA weights (NaN: off) */
    int improved;              /* 1: best validation accuracy so far */
    const cn_monitor *monitor; /* this epoch's monitors (update ratios always;
                                  layers when cfg.monitor) */
    const char *gap;           /* cn_gap_reading(train_acc, val_acc) */
} cn_train_epoch;

/* cn_train_epoch_fn: called after every epoch's metrics line; a non-zero return
 * stops the run like a cancellation (checkpoint, "cancelled"). */
typedef int (*cn_train_epoch_fn)(void *ud, const cn_train_epoch *e);

/* cn_train_step: what the trainer knows after each mini-batch step (given to the
 * on_step callback, e.g. a progress bar). */
typedef struct cn_train_step {
    int epoch, epochs;          /* this epoch (from 1), the configured count */
    int batch, batches;         /* this mini-batch of the epoch (from 1), per epoch */
    uint64_t step;              /* steps taken so far, this one included */
    double loss;                /* this mini-batch's loss (NaN when skipped) */
    double lr;                  /* the learning rate the step used */
    double epoch_loss;          /* mean training loss of the epoch's steps so far */
    double epoch_acc;           /* accuracy over the epoch's training batches so far */
    double images_per_s;        /* training images per second in this epoch so far */
    double seconds;             /* seconds since this epoch began */
} cn_train_step;

/* cn_train_step_fn: called after every step (after its checkpoint, if any). */
typedef void (*cn_train_step_fn)(void *ud, const cn_train_step *s);

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
    int momentum_schedule;  /* 1: the optimiser's momentum (beta1 for Adam) follows
                               momentum_sched each step (cn_optim_set_momentum) (0) */
    cn_sched_config momentum_sched; /* usually kind "momentum" (a ramp such as
                               0.5 -> 0.99); its unit says per step or per epoch */
    const char *resume;     /* a checkpoint written by an earlier run of the same
                               configuration: continue from it (NULL: a new run) */
    int force_resume;       /* 1: resume even when the data or configuration
                               fingerprint differs (0) */
    uint64_t config_fingerprint; /* the run's configuration fingerprint, kept in
                               checkpoints and checked on resume; 0: computed
                               from this struct (callers with more configuration,
                               like the CLI's model description, pass their own) */
    double ema_decay;       /* 0: off; in (0, 1): after every step
                               ema = decay * ema + (1 - decay) * w (Polyak / EMA
                               averaging); validated each epoch, saved as
                               ema.safetensors (0) */
    int snapshots;          /* 1: with a cosine_restarts schedule, save
                               snapshot-K.safetensors just before each warm restart
                               (snapshot ensembles) (0) */
    int monitor;            /* 1: per-layer activation / gradient histograms,
                               dead-ReLU and saturation fractions (observed on
                               about 8 batches per epoch) in each metrics line;
                               update-to-weight ratios, measured on the same ~8
                               sampled steps per epoch, are always there (0) */
    const cn_model_info *info; /* non-NULL: best, final, EMA and snapshot files are
                               model files (cn_model_file_save) carrying it;
                               NULL: weights files (cn_model_save_weights) */
    cn_train_epoch_fn on_epoch; /* NULL: none */
    void *on_epoch_ud;
    cn_train_step_fn on_step;   /* NULL: none */
    void *on_step_ud;
    const cn_sample_transform *augment; /* NULL: none. Applied to every training
                               sample as it is gathered (never to validation),
                               with an RNG derived only from (seed, epoch, position
                               in the epoch), so resumed runs are bit-identical;
                               its output shape must be the input shape. The
                               training set is then expected raw (pixels in
                               [0, 1]) and augment_norm normalises each sample
                               after augmentation */
    const cn_norm *augment_norm; /* with augment: the normalisation applied after
                               it (NULL: none); validation data is given already
                               normalised, as without augment */
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
    int resumed;             /* 1 when the run continued from cfg->resume */
    uint64_t resumed_step;   /* the checkpoint's step */
    int snapshots;           /* snapshot files written */
    double ema_val_acc;      /* last validation accuracy of the EMA weights (NaN: off) */
} cn_train_report;

/* cn_train: train m on train for cfg->epochs epochs.
 *   m      compiled for training (batch >= cfg->batch) with a label loss (e.g.
 *          cross_entropy) and a prediction node (cn_model_output) of shape
 *          (classes); initialised (cn_model_init or loaded), or resumed. Trained
 *          in place: on return it holds the last parameters (the best ones are in
 *          run_dir/best.safetensors).
 *   train  images (n, c, h, w) matching the model's input, labels.
 *   val    may be NULL (no validation, no best model, no early stopping).
 *   rep    may be NULL. prog may be NULL.
 * Each epoch: the order is a Fisher-Yates shuffle drawn from the seed's stream 1
 * (so two runs with the same seed and data are bit-identical); per batch: zero
 * gradients, forward in CN_TRAIN (dropout from stream 2), the NaN/Inf guard on
 * the loss, backward, the guard on the gradient norm, cn_optim_step with
 * cn_sched_lr (bracketed by the monitor's before / after), the EMA update,
 * cn_sched_step when the unit is per step, a line in run_dir/steps.csv
 * ("step,epoch,loss,lr"), a checkpoint every checkpoint_every steps, on_step,
 * then the progress callback ("epoch E", batch done of total). With augment,
 * each gathered training sample is augmented first (see the field). After the
 * epoch: validation (CN_EVAL) accuracy and mean loss (and of the EMA weights),
 * the per-epoch schedule step (plateau: cn_sched_step_metric with the validation
 * loss, or accuracy in max mode; the training loss without val), one line
 * appended to run_dir/metrics.jsonl, best.safetensors when validation accuracy
 * improved, the on_epoch callback, early stopping. At the end: model.safetensors
 * (the last weights) and ema.safetensors.
 * Resuming (cfg->resume): the checkpoint restores parameters, buffers, optimiser
 * and schedule state, step and epoch, both random streams, the epoch's data
 * order and running sums, the best accuracy and the patience counter, and the
 * EMA weights; the run then goes on from the next step exactly as the
 * uninterrupted run would have (bit-identical parameters with the same thread
 * count). metrics.jsonl and steps.csv are trimmed to what the checkpoint
 * covers and appended to. A checkpoint whose data or configuration
 * fingerprint differs is refused (CN_ERR_ARG with both fingerprints in hex)
 * unless cfg->force_resume.
 * The NaN / Inf guard names the step and the first node (in forward order) whose
 * output is non-finite, or for the gradient the first node in backward order
 * whose output gradient is, else the first parameter gradient. Checkpoints with
 * non-finite values are never written (cn_checkpoint_save refuses them).
 * A callback asking to stop ends the run after the current step: a checkpoint
 * is written (with run_dir) and CN_ERR_ARG "cancelled at step N" is returned.
 * Errors: CN_ERR_ARG (NULL arguments, bad config fields named, data shapes not
 * matching the model, cancelled, fingerprints differing), CN_ERR_NUMERIC
 * ("step N (epoch E, batch B): loss is nan (first non-finite output: node
 * 'linear2' (linear))") under CN_NAN_STOP, CN_ERR_IO naming the run_dir file
 * (metrics.jsonl is opened before the first step, so an unwritable folder fails
 * at once), and the errors of forward, backward, the optimiser, the schedule,
 * the checkpoint reader and writer. rep is filled as far as the run went, on
 * error too. */
cn_status cn_train(cn_model *m, const cn_dataset *train, const cn_dataset *val,
                   const cn_train_config *cfg, cn_train_report *rep, const cn_progress *prog,
                   cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_TRAIN_H */
