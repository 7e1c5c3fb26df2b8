/* convnet/checkpoint.h: saving and loading model weights (a safetensors file of
 * every parameter and buffer) and training checkpoints (the weights plus the
 * optimiser state, the schedule state, step and epoch, RNG states, data and
 * configuration fingerprints, the data order of the current epoch and a
 * whole-file checksum), written atomically with the previous checkpoint kept.
 *
 * docs/checkpoint.md has the file layout, tensor names, metadata keys, the write
 * protocol and the resume order. In short, to resume:
 *   1. build the model as before and cn_model_compile it;
 *   2. cn_optim_new and cn_sched_init with the same configurations;
 *   3. cn_checkpoint_load: parameters, buffers, optimiser state and step, schedule
 *      state, counters, RNG states, fingerprints, data order (the model then
 *      counts as initialised: no cn_model_init needed).
 */
#ifndef CONVNET_CHECKPOINT_H
#define CONVNET_CHECKPOINT_H

#include "convnet/core.h"
#include "convnet/model.h"
#include "convnet/optim.h"
#include "convnet/schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cn_meta_pair: one caller-given metadata pair (both valid UTF-8 strings). */
typedef struct cn_meta_pair {
    const char *key;
    const char *value;
} cn_meta_pair;

/* The format names written in the "format" metadata key. */
#define CN_WEIGHTS_FORMAT "convnet-weights-1"
#define CN_CHECKPOINT_FORMAT "convnet-checkpoint-1"

/* Flags of cn_model_load_weights. */
#define CN_WEIGHTS_ALLOW_EXTRA 1u /* ignore tensors that name no parameter */

/* cn_model_save_weights: write every parameter and buffer of the compiled model m
 * to path as a safetensors file: one tensor per cn_param, named by its name
 * ("conv2d1.weight"), dtype F32 (F64 in a CN_DOUBLE build), the parameter's shape;
 * __metadata__ holds "format": CN_WEIGHTS_FORMAT and the n_meta pairs of meta
 * (meta may be NULL when n_meta is 0; the key "format" is reserved). The file is
 * written atomically (cn_st_writer_save). Errors: CN_ERR_ARG (NULL arguments, an
 * uncompiled model, a reserved, repeated or invalid key), CN_ERR_NOMEM, CN_ERR_IO
 * naming the path. */
cn_status cn_model_save_weights(const cn_model *m, const char *path, const cn_meta_pair *meta,
                                int n_meta, cn_error *err);

/* cn_model_load_weights: read path into the compiled model m. Every parameter and
 * buffer must be present as a tensor of the same name with exactly its shape, F32
 * or F64 (converted to cn_real). Tensors that name no parameter are CN_ERR_FORMAT
 * unless flags has CN_WEIGHTS_ALLOW_EXTRA; a checkpoint (format
 * CN_CHECKPOINT_FORMAT) is accepted too, its sections (names with '/') ignored.
 * Files without a "format" key (other writers) are accepted; another convnet
 * format or version is CN_ERR_UNSUPPORTED. Everything is checked before any value
 * is written, so on error m is unchanged.
 * On success the model counts as initialised (cn_model_mark_initialised): no
 * cn_model_init is needed before or after.
 * Errors (messages name the file and the tensor): CN_ERR_ARG (NULL arguments,
 * uncompiled model), CN_ERR_IO, CN_ERR_FORMAT ("missing tensor", "shape (..)
 * expected (..)", "unexpected tensor", invalid safetensors), CN_ERR_UNSUPPORTED
 * (a dtype other than F32/F64), CN_ERR_NOMEM. */
cn_status cn_model_load_weights(cn_model *m, const char *path, unsigned flags, cn_error *err);

/* The most RNG streams a checkpoint keeps. */
#define CN_TRAIN_MAX_RNGS 4
/* The most running sums (cn_train_state.sums) a checkpoint keeps. */
#define CN_TRAIN_MAX_SUMS 16

/* cn_train_state: the trainer's own state at a checkpoint.
 *   step, epoch         training steps taken, epochs completed
 *   rngs[0..n_rngs)     every random stream in use (dropout, shuffling, augmentation)
 *   data_fingerprint    cn_fingerprint64 of the training data (or its identity)
 *   config_fingerprint  cn_fingerprint64 of the configuration and model description
 *   order (n_order)     the sample order of the current epoch (NULL, 0 when none).
 *                       Borrowed by cn_checkpoint_save; cn_checkpoint_load sets it to
 *                       a new cn_malloc'd array (free with cn_train_state_release).
 *   sums[0..n_sums)     the trainer's running numbers (the current epoch's sums,
 *                       the best validation accuracy, the patience counter), F64
 *   ema (n_ema)         averaged weights (one per trainable value; NULL, 0 when
 *                       none), borrowed by save, a new cn_malloc'd array after load */
typedef struct cn_train_state {
    uint64_t step, epoch;
    cn_rng rngs[CN_TRAIN_MAX_RNGS];
    int n_rngs;
    uint64_t data_fingerprint, config_fingerprint;
    int *order;
    size_t n_order;
    double sums[CN_TRAIN_MAX_SUMS];
    int n_sums;
    cn_real *ema;
    size_t n_ema;
} cn_train_state;

/* cn_train_state_release: free ts->order and ts->ema (cn_free) and set them to
 * NULL, their counts 0. NULL is a no-op. */
void cn_train_state_release(cn_train_state *ts);

/* cn_fingerprint64: FNV-1a 64 of data[0..n) starting from seed (0 gives the
 * standard offset basis 14695981039346656037): pass a previous result as seed to
 * hash several pieces in order. data may be NULL when n is 0. */
uint64_t cn_fingerprint64(const void *data, size_t n, uint64_t seed);

/* cn_checkpoint_save: write a checkpoint of m, opt (NULL: none), sched (NULL:
 * none) and ts to path. Protocol: the file image is built in memory with its
 * checksum; written to a new temporary file "<path>.tmp.<6 random characters>" (mkstemp) in the
 * same folder, fsync'd and closed; the existing path (if any) becomes
 * "<path>.prev" (a hard link, or a rename where the file system has no links);
 * the temporary file is renamed over path; the folder is fsync'd. On any failure
 * the temporary file is removed, path is left as it was, and CN_ERR_IO names the
 * path and the failing call. Other errors: CN_ERR_ARG (NULL m, path or ts, an
 * uncompiled model, n_rngs outside 0..CN_TRAIN_MAX_RNGS, n_order > 0 with NULL
 * order, an optimiser whose state slots are not the store's: made before the last
 * compile), n_sums outside 0..CN_TRAIN_MAX_SUMS, n_ema neither 0 nor the
 * store's count), CN_ERR_NUMERIC (a parameter, buffer, optimiser state or EMA
 * value that is NaN or Inf: such a checkpoint is never written; the message
 * names the tensor), CN_ERR_RANGE (n_order beyond INT32_MAX), CN_ERR_NOMEM. */
cn_status cn_checkpoint_save(const char *path, const cn_model *m, const cn_optimizer *opt,
                             const cn_schedule *sched, const cn_train_state *ts,
                             cn_error *err);

/* cn_checkpoint_load: read the checkpoint at path and restore it into the
 * compiled model m (which then counts as initialised), opt (may be NULL: the saved optimiser
 * state is ignored), sched (may be NULL) and ts (may be NULL). opt must come from
 * cn_optim_new over m's current store with the configuration of the saved run
 * (kind and state slots are checked); sched from cn_sched_init with the saved
 * configuration. Checks, in order: a safetensors file with "format" ==
 * CN_CHECKPOINT_FORMAT ("not a checkpoint"; a later convnet-checkpoint version:
 * CN_ERR_UNSUPPORTED "unsupported version"), the checksum ("checksum mismatch"),
 * every parameter's presence and shape, the optimiser section (present when opt
 * is given, same optimiser name and slots), the schedule state (present when
 * sched is given, accepted by cn_sched_state_load), every RNG state
 * (cn_rng_load), counters, sums (at most CN_TRAIN_MAX_SUMS, finite or not), the
 * EMA weights (the store's count, finite). Only when all pass is anything written, so on error
 * m, opt, sched and ts are unchanged. ts->order receives a new array (release
 * the previous one first). Errors name the file and the tensor or section:
 * CN_ERR_ARG, CN_ERR_IO, CN_ERR_FORMAT, CN_ERR_UNSUPPORTED, CN_ERR_NOMEM. */
cn_status cn_checkpoint_load(const char *path, cn_model *m, cn_optimizer *opt,
                             cn_schedule *sched, cn_train_state *ts, cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_CHECKPOINT_H */
