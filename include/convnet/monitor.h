/* convnet/monitor.h: the course's babysitting monitors for a training run:
 * update-to-weight ratios per parameter (warned outside roughly 1e-4..1e-2),
 * activation and gradient histograms per layer, the dead-ReLU fraction, the
 * saturation of tanh / sigmoid units, and the course's reading of the gap
 * between training and validation accuracy. The trainer feeds a monitor during an
 * epoch and writes its JSON into the epoch's metrics line; the CLI prints the
 * warnings. docs/monitor.md explains each number and how to read it. */
#ifndef CONVNET_MONITOR_H
#define CONVNET_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "convnet/core.h"
#include "convnet/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CN_MONITOR_DEFAULT_BINS 16
#define CN_MONITOR_RATIO_LO 1e-4 /* update/weight ratio below: learning rate too low? */
#define CN_MONITOR_RATIO_HI 1e-2 /* above: too high? */

typedef struct cn_monitor cn_monitor;

/* A histogram: counts of values in bins equal-width bins over [lo, hi] (the
 * observed min and max); non-finite values are counted apart. */
typedef struct cn_histogram {
    double lo, hi;
    int bins;
    uint64_t *counts;    /* (bins), owned by the monitor */
    uint64_t nonfinite;
} cn_histogram;

/* Statistics of one node's output (activations) and output gradient over the
 * batches observed since the last reset. */
typedef struct cn_layer_stats {
    const char *node;     /* the node's name (borrowed from the model) */
    cn_op_kind op;
    uint64_t values;      /* activation values seen */
    double act_mean, act_std;
    double grad_mean, grad_std; /* NaN when the node has no gradient */
    double dead_frac;     /* relu / leaky_relu: fraction of units (per-sample
                             positions) that were <= 0 for every sample of every
                             observed batch; NaN for other ops */
    double saturated_frac;/* tanh: |y| > 0.99; sigmoid: y < 0.01 or y > 0.99; NaN
                             for other ops */
    cn_histogram act, grad;
} cn_layer_stats;

/* Per parameter: ||delta w|| / ||w|| of the optimiser steps seen (the mean over
 * steps), and the latest weight and gradient norms. */
typedef struct cn_param_stats {
    const char *name;     /* the parameter's name (borrowed) */
    double ratio;         /* mean over steps of ||w_after - w_before|| / ||w_before||
                             over the steps that started from a non-zero weight
                             (a bias initialised to zero counts from its second
                             step on); NaN before such a step */
    double weight_norm, grad_norm;
    uint64_t steps;
} cn_param_stats;

/* cn_monitor_new: a monitor for the compiled model m (kept borrowed: m must outlive
 * the monitor and not be recompiled). Layers observed: every node that is neither
 * an input nor a loss. bins >= 2 (CN_MONITOR_DEFAULT_BINS). Parameters: every
 * trainable (not frozen) parameter. Returns NULL with err set (CN_ERR_ARG,
 * CN_ERR_NOMEM). */
cn_monitor *cn_monitor_new(const cn_model *m, int bins, cn_error *err);

/* cn_monitor_free: release mon. NULL is a no-op. */
void cn_monitor_free(cn_monitor *mon);

/* cn_monitor_reset: clear every accumulated statistic (start of an epoch). */
void cn_monitor_reset(cn_monitor *mon);

/* cn_monitor_before_step / cn_monitor_after_step: bracket one optimiser step
 * (before: a copy of the parameter values; after: every parameter's ratio is
 * accumulated). after without before is a no-op. */
void cn_monitor_before_step(cn_monitor *mon);
void cn_monitor_after_step(cn_monitor *mon);

/* cn_monitor_observe: add the activations and output gradients of every observed
 * node from the model's last forward (n samples) and backward (call after
 * cn_model_backward; gradients absent are skipped). Histogram ranges are fixed by
 * the first batch observed after a reset; later values outside the range go to the
 * first or last bin. Errors: CN_ERR_ARG (n outside 1..the compiled batch). */
cn_status cn_monitor_observe(cn_monitor *mon, int n, cn_error *err);

/* Accessors: layers in node order, parameters in store order. */
int cn_monitor_num_layers(const cn_monitor *mon);
const cn_layer_stats *cn_monitor_layer(const cn_monitor *mon, int i);
int cn_monitor_num_params(const cn_monitor *mon);
const cn_param_stats *cn_monitor_param(const cn_monitor *mon, int i);

/* cn_monitor_json: the statistics as one compact JSON object (a new string,
 * cn_free it):
 *   {"update_ratio": {"linear1.weight": 0.0012, ...},
 *    "layers": [{"node": "relu1", "op": "relu", "act_mean": .., "act_std": ..,
 *                "grad_mean": .., "grad_std": .., "dead_frac": .. (relu only),
 *                "saturated_frac": .. (tanh/sigmoid only),
 *                "act_hist": {"lo": .., "hi": .., "counts": [..]},
 *                "grad_hist": {...}}, ...]}
 * non-finite numbers are null. Returns NULL with err set (CN_ERR_NOMEM). */
char *cn_monitor_json(const cn_monitor *mon, cn_error *err);

/* cn_monitor_warnings: the monitors' warnings, one per line ("linear1.weight:
 * update/weight ratio 3.2e-06 is below 1e-4: the learning rate may be too low"),
 * for ratios of weight parameters (role CN_PARAM_WEIGHT: biases start at zero)
 * outside [CN_MONITOR_RATIO_LO, CN_MONITOR_RATIO_HI], a dead-ReLU
 * fraction above 0.5, a saturated fraction above 0.5, non-finite values seen.
 * Written to buf[0..cap) (NUL-terminated, truncated to fit). Returns the number of
 * warnings. */
int cn_monitor_warnings(const cn_monitor *mon, char *buf, size_t cap);

/* cn_gap_reading: the course's reading of training vs validation accuracy
 * (fractions in [0, 1]), a static string:
 *   train - val > 0.10:  "strong overfitting: increase regularisation (weight
 *                         decay, dropout), augment or get more data"
 *   0.03 < gap <= 0.10:  "some overfitting: regularisation may help"
 *   gap <= 0.03 and train < 0.95: "no gap: the model may be too small; increase its
 *                         capacity (wider or deeper)"
 *   otherwise:           "small gap: healthy"
 * Non-finite inputs give "no validation data". */
const char *cn_gap_reading(double train_acc, double val_acc);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_MONITOR_H */
