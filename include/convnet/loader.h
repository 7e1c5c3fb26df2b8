/* convnet/loader.h: the batch loader and the samplers for imbalanced data.
 *
 * The loader turns a cn_dataset into mini-batches: per-epoch shuffling from a
 * seed, batching with an optional drop-last, a per-sample transform
 * (convnet/transform.h, e.g. the augmentation pipeline of convnet/augment.h) and
 * background prefetch on worker threads with a bounded queue. Batches are
 * bit-identical whatever the number of workers and whatever their timing: the
 * epoch's order depends only on (seed, epoch), each sample's transform RNG only on
 * (seed, epoch, position in the epoch), and batches are delivered in order.
 *
 * The samplers: k-fold and stratified k-fold indices, class-balanced sampling
 * (weighted sampling with replacement), random over- and under-sampling, and
 * class weights from frequencies (sklearn's "balanced") for the cost-sensitive
 * cross-entropy of convnet/loss_kernels.h. docs/data/loader.md has the details. */
#ifndef CONVNET_LOADER_H
#define CONVNET_LOADER_H

#include "convnet/core.h"
#include "convnet/data.h"
#include "convnet/transform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds the loader accepts (CN_ERR_ARG beyond them). */
#define CN_LOADER_MAX_WORKERS 256
#define CN_LOADER_MAX_QUEUE 4096

/* ================================================================ samplers */

/* cn_sampler_kind: how the loader builds an epoch's list of samples from its
 * candidate set (the whole dataset or opts.indices).
 *  SEQUENTIAL:  every candidate once (a permutation of them when shuffle is set).
 *  BALANCED:    epoch_size draws with replacement, each class equally likely
 *               (cn_sample_balanced); shuffle is irrelevant (draws are random).
 *  OVERSAMPLE:  random over-sampling (cn_oversample), redrawn every epoch.
 *  UNDERSAMPLE: random under-sampling (cn_undersample), redrawn every epoch. */
typedef enum cn_sampler_kind {
    CN_SAMPLER_SEQUENTIAL = 0,
    CN_SAMPLER_BALANCED,
    CN_SAMPLER_OVERSAMPLE,
    CN_SAMPLER_UNDERSAMPLE,
    CN_SAMPLER_COUNT
} cn_sampler_kind;

/* cn_sampler_kind_name / cn_sampler_kind_parse: "sequential", "balanced",
 * "oversample", "undersample". parse returns CN_ERR_ARG for anything else. */
const char *cn_sampler_kind_name(cn_sampler_kind k);
cn_status cn_sampler_kind_parse(const char *s, cn_sampler_kind *out, cn_error *err);

/* cn_class_counts: counts[c] = number of i < n with labels[i] == c, for c in
 * [0, num_classes). CN_ERR_RANGE naming the record if a label is outside
 * [0, num_classes); CN_ERR_ARG if n < 0 or num_classes < 1.
 *   labels (n), counts (num_classes) */
cn_status cn_class_counts(const int *labels, int n, int num_classes, int *counts,
                          cn_error *err);

/* cn_class_weights_balanced: weight[c] = n / (k * count_c), sklearn's
 * compute_class_weight("balanced"), where k is the number of classes present
 * (count_c > 0) and a class absent from labels gets weight 0 (no sample uses it).
 * The result feeds cn_softmax_ce_forward's weight argument. Errors as
 * cn_class_counts; n must be >= 1.
 *   labels (n), weight (num_classes) */
cn_status cn_class_weights_balanced(const int *labels, int n, int num_classes,
                                    cn_real *weight, cn_error *err);

/* cn_sample_balanced: class-balanced sampling: n_draws positions in [0, n) drawn
 * with replacement with probability proportional to 1 / count_{labels[i]}, so
 * every present class is drawn with probability 1 / k (k = present classes) and
 * the members of a class uniformly. Implemented as a uniform class draw followed
 * by a uniform member draw, from rng only. Errors as cn_class_counts; n >= 1,
 * n_draws >= 0.
 *   labels (n), out (n_draws) */
cn_status cn_sample_balanced(const int *labels, int n, int num_classes, int n_draws,
                             cn_rng *rng, int *out, cn_error *err);

/* cn_oversample: random over-sampling (imbalanced-learn's RandomOverSampler):
 * every position in [0, n) is kept, and each present class is topped up to the
 * largest class count with members drawn uniformly with replacement. *out is a
 * cn_malloc'd array of *n_out = k * max_c count_c positions, in ascending order
 * (duplicates adjacent); free it with cn_free. Errors as cn_class_counts
 * (n >= 1), CN_ERR_RANGE if the result would exceed INT_MAX, CN_ERR_NOMEM. On
 * error *out is NULL and *n_out 0.
 *   labels (n) */
cn_status cn_oversample(const int *labels, int n, int num_classes, cn_rng *rng, int **out,
                        int *n_out, cn_error *err);

/* cn_undersample: random under-sampling (imbalanced-learn's RandomUnderSampler):
 * from each present class, min_c count_c members drawn uniformly without
 * replacement. *out (cn_malloc'd, ascending, no duplicates) holds *n_out =
 * k * min_c count_c positions. Errors as cn_oversample. */
cn_status cn_undersample(const int *labels, int n, int num_classes, cn_rng *rng, int **out,
                         int *n_out, cn_error *err);

/* cn_kfold_assign: k-fold cross-validation: fold[i] in [0, k) for every i < n.
 * The positions are shuffled with seed and dealt round-robin, so fold sizes differ
 * by at most 1. CN_ERR_ARG unless 2 <= k <= n.
 *   fold (n) */
cn_status cn_kfold_assign(int n, int k, uint64_t seed, int *fold, cn_error *err);

/* cn_kfold_assign_stratified: stratified k-fold (as sklearn's StratifiedKFold):
 * each class's members are shuffled with seed and the classes, one after
 * another, are dealt round-robin into the folds, so every fold holds each class's
 * count / k members, rounded down or up, and fold sizes differ by at most 1. A
 * class with fewer than k members is absent from some folds. Errors as
 * cn_class_counts, and CN_ERR_ARG unless 2 <= k <= n.
 *   labels (n), fold (n) */
cn_status cn_kfold_assign_stratified(const int *labels, int n, int num_classes, int k,
                                     uint64_t seed, int *fold, cn_error *err);

/* cn_kfold_split: the positions of fold f (validation) and of all other folds
 * (training), each in ascending order. train and val must hold n ints each (the
 * caller's buffers); *n_train + *n_val == n. CN_ERR_ARG if f < 0 or a fold id is
 * negative (CN_ERR_RANGE naming the record).
 *   fold (n), train (n), val (n) */
cn_status cn_kfold_split(const int *fold, int n, int f, int *train, int *n_train, int *val,
                         int *n_val, cn_error *err);

/* ================================================================ loader */

/* cn_loader_opts: how batches are built. Start from cn_loader_opts_default().
 *   batch        samples per batch, >= 1 (default 64)
 *   shuffle      permute the epoch's list each epoch (default 1)
 *   drop_last    drop a final batch smaller than batch (default 0)
 *   seed         seed of every random choice (default 0)
 *   workers      background worker threads; 0 = synchronous, everything done in
 *                cn_loader_next on the caller's thread (default 0)
 *   queue_depth  ready batches the workers may hold beyond the one the caller is
 *                using; 0 = 2 * workers (default 0; ignored when workers == 0)
 *   sampler      how the epoch's list is built (default CN_SAMPLER_SEQUENTIAL)
 *   indices      candidate records (n_indices of them, each in [0, ds->n),
 *                repeats allowed; copied), or NULL for the whole dataset
 *   epoch_size   draws per epoch for CN_SAMPLER_BALANCED; 0 = the number of
 *                candidates (default 0; must be 0 for the other samplers) */
typedef struct cn_loader_opts {
    int batch;
    int shuffle;
    int drop_last;
    uint64_t seed;
    int workers;
    int queue_depth;
    cn_sampler_kind sampler;
    const int *indices;
    int n_indices;
    int epoch_size;
} cn_loader_opts;

/* cn_loader_opts_default: the defaults listed above. */
cn_loader_opts cn_loader_opts_default(void);

/* cn_loader: opaque; owns its worker threads and batch buffers, borrows the
 * dataset and the transform (both must outlive it and stay unchanged). */
typedef struct cn_loader cn_loader;

/* cn_loader_new: a loader over ds with options o (NULL = defaults) and
 * per-sample transform tf (NULL, or tf->apply NULL, = identity). tf's input shape
 * must equal ds's (c, h, w) (CN_ERR_SHAPE otherwise). Validates the options
 * (CN_ERR_ARG), indices (CN_ERR_RANGE naming the entry) and, for the class
 * samplers, the labels (CN_ERR_RANGE naming the record); allocates the batch
 * buffers (size overflow: CN_ERR_RANGE) and starts the workers (CN_ERR_NOMEM /
 * CN_ERR_UNSUPPORTED if a thread cannot be created). On error *out is NULL and
 * nothing is left allocated or running. Then call cn_loader_start_epoch. */
cn_status cn_loader_new(const cn_dataset *ds, const cn_loader_opts *o,
                        const cn_sample_transform *tf, cn_loader **out, cn_error *err);

/* cn_loader_start_epoch: begin epoch (>= 0): build its list of samples from
 * (seed, epoch) and let the workers start. May be called at any time, also in
 * the middle of an epoch: the unfinished epoch is cancelled (workers finish at
 * most the sample they are transforming, and its batches are discarded). Epochs
 * need not be consecutive: epoch e always gives the same batches. Errors:
 * CN_ERR_ARG (epoch < 0), CN_ERR_NOMEM. */
cn_status cn_loader_start_epoch(cn_loader *l, int epoch, cn_error *err);

/* cn_loader_next: the next batch of the epoch, in order. On CN_OK with *b > 0:
 * *x points to (b, oc, oh, ow) transformed images and *y to (b) labels, owned by
 * the loader and valid until the next call to cn_loader_next,
 * cn_loader_start_epoch or cn_loader_free. *b == 0 (and *x, *y NULL) marks the
 * end of the epoch (and is repeated on further calls). If the transform failed on
 * a sample of this batch, returns its status with err naming the epoch, position
 * and record; the epoch then stays failed (the same error on every later call)
 * until the next cn_loader_start_epoch. CN_ERR_ARG before the first
 * cn_loader_start_epoch. x or y may be NULL when not wanted. */
cn_status cn_loader_next(cn_loader *l, cn_real **x, int **y, int *b, cn_error *err);

/* cn_loader_num_batches: batches in the current epoch (0 before the first
 * cn_loader_start_epoch). */
int cn_loader_num_batches(const cn_loader *l);

/* cn_loader_epoch_samples: samples in the current epoch's list (before
 * drop_last; 0 before the first cn_loader_start_epoch). */
int cn_loader_epoch_samples(const cn_loader *l);

/* cn_loader_epoch_order: the current epoch's list of dataset records, in
 * delivery order (cn_loader_epoch_samples entries; owned by the loader, valid
 * until the next cn_loader_start_epoch or cn_loader_free). NULL before the first
 * epoch. */
const int *cn_loader_epoch_order(const cn_loader *l);

/* cn_loader_free: cancel any epoch in progress, join the workers and free
 * everything. NULL is a no-op. */
void cn_loader_free(cn_loader *l);

/* cn_loader_sample_rng: the transform RNG the loader gives the sample at
 * position pos (0-based, in delivery order) of epoch epoch under seed: a PCG32
 * seeded from a hash of (seed, epoch, pos), so a single augmented sample can be
 * reproduced outside the loader. */
void cn_loader_sample_rng(uint64_t seed, int epoch, int64_t pos, cn_rng *out);

/* cn_loader_epoch_rng: the RNG that shuffles (or samples) epoch epoch's list:
 * seeded from a hash of (seed, epoch) on a stream distinct from the samples'. */
void cn_loader_epoch_rng(uint64_t seed, int epoch, cn_rng *out);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_LOADER_H */
