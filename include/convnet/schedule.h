/* convnet/schedule.h: learning-rate and momentum schedules (CS231n "Annealing the
 * learning rate"; torch.optim.lr_scheduler): constant, step, multi-step, the notes'
 * exponential decay alpha0 e^(-k t), PyTorch's ExponentialLR (gamma^t), 1/t decay,
 * polynomial, cosine annealing, cosine annealing with warm restarts, reduce on
 * plateau and a linear momentum ramp, each optionally preceded by a linear warm-up.
 *
 * Convention: a schedule is a function of a counter t (steps taken since
 * cn_sched_init). The value at t = 0 is base_lr (or warmup_start_factor * base_lr
 * when a warm-up is configured); cn_sched_step advances t by one, exactly like
 * PyTorch's scheduler.step(), so after k calls cn_sched_lr equals
 * optimizer.param_groups[0]["lr"] after k scheduler.step() calls. Whether t counts
 * iterations (mini-batches) or epochs is the config's `unit`: the schedule itself
 * does not care; the trainer reads it to decide when to call cn_sched_step.
 *
 * A cn_schedule is a plain struct with no allocation (nothing to free); all of its
 * state is in its fields, and cn_sched_state_save / cn_sched_state_load turn that
 * state into CN_SCHED_STATE_LEN doubles for checkpoints, so a resumed run gives
 * bit-identical values. docs/schedule.md has every formula and its PyTorch twin. */
#ifndef CONVNET_SCHEDULE_H
#define CONVNET_SCHEDULE_H

#include <stdint.h>

#include "convnet/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Schedule kinds. t below is the counter after the warm-up (t - warmup_steps). */
typedef enum cn_sched_kind {
    CN_SCHED_CONSTANT = 0, /* "constant":  base_lr */
    CN_SCHED_STEP,         /* "step":      base_lr * gamma^floor(t / step_size) (StepLR) */
    CN_SCHED_MULTISTEP,    /* "multistep": base_lr * gamma^(#milestones <= t) (MultiStepLR) */
    CN_SCHED_EXP_DECAY,    /* "exp_decay": base_lr * exp(-k t) (the CS231n notes' form) */
    CN_SCHED_EXPONENTIAL,  /* "exponential": base_lr * gamma^t (ExponentialLR) */
    CN_SCHED_INV_TIME,     /* "inv_time":  base_lr / (1 + k t) (the notes' 1/t decay) */
    CN_SCHED_POLYNOMIAL,   /* "polynomial": base_lr * (1 - min(t, total) / total)^power
                            * (PolynomialLR) */
    CN_SCHED_COSINE,       /* "cosine": eta_min + (base_lr - eta_min)
                            * (1 + cos(pi t / t_max)) / 2 (CosineAnnealingLR's closed
                            * form; periodic beyond t_max like PyTorch's) */
    CN_SCHED_COSINE_RESTARTS, /* "cosine_restarts": the cosine over a cycle of length
                            * T_i, T_0 = t0, T_{i+1} = T_i * t_mult
                            * (CosineAnnealingWarmRestarts) */
    CN_SCHED_PLATEAU,      /* "plateau": reduce by factor when a metric stops improving
                            * (ReduceLROnPlateau); driven by cn_sched_step_metric */
    CN_SCHED_MOMENTUM,     /* "momentum": linear ramp base_lr -> final_value over total
                            * steps, then final_value (e.g. momentum 0.5 -> 0.99) */
    CN_SCHED_KIND_COUNT
} cn_sched_kind;

/* What one cn_sched_step means (read by the trainer; no effect on values). */
typedef enum cn_sched_unit {
    CN_SCHED_PER_STEP = 0, /* one call per iteration (mini-batch) */
    CN_SCHED_PER_EPOCH,    /* one call per epoch */
    CN_SCHED_UNIT_COUNT
} cn_sched_unit;

/* Plateau: whether the metric should go down (a loss) or up (an accuracy). */
typedef enum cn_sched_mode {
    CN_SCHED_MODE_MIN = 0,
    CN_SCHED_MODE_MAX,
    CN_SCHED_MODE_COUNT
} cn_sched_mode;

/* Plateau: how threshold is compared (PyTorch's threshold_mode). With best the
 * best metric so far, a metric a is an improvement when
 *   min rel: a < best * (1 - threshold)     min abs: a < best - threshold
 *   max rel: a > best * (1 + threshold)     max abs: a > best + threshold */
typedef enum cn_sched_threshold_mode {
    CN_SCHED_THRESHOLD_REL = 0,
    CN_SCHED_THRESHOLD_ABS,
    CN_SCHED_THRESHOLD_MODE_COUNT
} cn_sched_threshold_mode;

#define CN_SCHED_MAX_MILESTONES 16
/* t saturates at 2^53 (exact in a double, so the saved state is exact). */
#define CN_SCHED_T_LIMIT ((int64_t)1 << 53)

/* cn_sched_config: every parameter of every kind; a kind reads only its own fields
 * (listed per field) plus base_lr, unit and the warm-up. Start from
 * cn_sched_config_default(kind) and change what you need. */
typedef struct cn_sched_config {
    cn_sched_kind kind;
    cn_sched_unit unit;       /* informational: what one step counts */
    double base_lr;           /* all: the value at t = 0, finite, >= 0 (momentum:
                               * the start momentum, in [0, 1)) */
    double gamma;             /* step, multistep, exponential: the factor, > 0 */
    int step_size;            /* step: >= 1 */
    int milestones[CN_SCHED_MAX_MILESTONES]; /* multistep: >= 1, non-decreasing; a
                               * repeated milestone applies gamma once per copy */
    int n_milestones;         /* multistep: 1..CN_SCHED_MAX_MILESTONES */
    double k;                 /* exp_decay, inv_time: the decay rate, finite, >= 0 */
    double power;             /* polynomial: > 0, finite */
    int total;                /* polynomial: total_iters >= 1; momentum: ramp length
                               * >= 1 */
    int t_max;                /* cosine: half period, >= 1 */
    double eta_min;           /* cosine, cosine_restarts: the minimum, finite, >= 0 */
    int t0;                   /* cosine_restarts: first cycle length, >= 1 */
    int t_mult;               /* cosine_restarts: cycle growth factor, >= 1 */
    int warmup_steps;         /* all: linear warm-up length (0: none), >= 0 */
    double warmup_start_factor; /* all: warm-up starts at this fraction of the
                               * schedule's first value, in (0, 1] */
    cn_sched_mode mode;       /* plateau: min (loss) or max (accuracy) */
    double factor;            /* plateau: new lr = max(lr * factor, min_lr), in (0, 1) */
    int patience;             /* plateau: bad metrics tolerated before reducing, >= 0 */
    double threshold;         /* plateau: least significant improvement, >= 0 */
    cn_sched_threshold_mode threshold_mode; /* plateau: rel or abs */
    int cooldown;             /* plateau: metrics ignored after a reduction, >= 0 */
    double min_lr;            /* plateau: lower bound of the lr, finite, >= 0 */
    double eps;               /* plateau: a reduction smaller than eps is skipped, >= 0 */
    double final_value;       /* momentum: the value from t = total on, in [0, 1) */
} cn_sched_config;

/* cn_schedule: a validated config and the state. Plain data: copy it freely; no
 * allocation, nothing to free. Fields are read-only for callers (use the functions
 * below); they are documented so checkpoints and debuggers can read them. */
typedef struct cn_schedule {
    cn_sched_config cfg;      /* a copy of the config given to cn_sched_init */
    int64_t t;                /* steps taken since init (0 .. CN_SCHED_T_LIMIT) */
    /* plateau (from t = warmup_steps on) */
    double lr;                /* the current lr before any warm-up factor */
    double best;              /* best metric so far (+inf for min, -inf for max) */
    int64_t num_bad;          /* metrics in a row that did not improve on best */
    int64_t cooldown_counter; /* metrics still to be ignored after a reduction */
    /* cosine_restarts */
    int64_t t_cur;            /* position in the current cycle, 0 .. t_i - 1 */
    int64_t t_i;              /* length of the current cycle */
    int64_t cycle;            /* cycles completed (restarts so far) */
    int restarted;            /* 1 when the last step began a new cycle */
} cn_schedule;

/* Number of doubles in a saved state (see cn_sched_state_save). */
#define CN_SCHED_STATE_LEN 12

/* cn_sched_name: the kind's name ("constant", "step", "multistep", "exp_decay",
 * "exponential", "inv_time", "polynomial", "cosine", "cosine_restarts", "plateau",
 * "momentum"), or "?" for an invalid value. */
const char *cn_sched_name(cn_sched_kind kind);

/* cn_sched_parse: name -> kind. The names of cn_sched_name (exact, lower case) and
 * PyTorch's class names as aliases ("StepLR", "MultiStepLR", "ExponentialLR",
 * "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
 * "ReduceLROnPlateau"). Errors: CN_ERR_ARG for NULL arguments or an unknown name;
 * the message quotes the name and names the nearest valid one by edit distance
 * ("did you mean 'cosine'?"). *out is untouched on error. */
cn_status cn_sched_parse(const char *name, cn_sched_kind *out, cn_error *err);

/* cn_sched_unit_name: "step" or "epoch" ("?" for an invalid value). */
const char *cn_sched_unit_name(cn_sched_unit unit);

/* cn_sched_config_default: a config for kind with PyTorch's defaults where PyTorch
 * has them: base_lr 0.1, unit per epoch, gamma 0.1, step_size 30 (the notes: decay
 * every few epochs), milestones {30, 60, 90}, k 0.1, power 1, total 5 (PolynomialLR)
 * or 100 (momentum), t_max 100, eta_min 0, t0 10, t_mult 1, no warm-up
 * (warmup_start_factor 1/3, LinearLR's), mode min, factor 0.1, patience 10,
 * threshold 1e-4 rel, cooldown 0, min_lr 0, eps 1e-8; for momentum base_lr 0.5 and
 * final_value 0.99 (the notes' advice). An invalid kind gives a config that
 * cn_sched_init rejects. */
cn_sched_config cn_sched_config_default(cn_sched_kind kind);

/* cn_sched_init: validate cfg and set s to t = 0. Errors: CN_ERR_ARG for NULL
 * arguments or an invalid field; the message names the kind and the field and
 * gives its value ("schedule 'step': step_size = 0: must be >= 1"). s is untouched
 * on error. */
cn_status cn_sched_init(cn_schedule *s, const cn_sched_config *cfg, cn_error *err);

/* cn_sched_lr: the current value (learning rate, or momentum for a momentum
 * schedule) at the current t. Pure: calling it any number of times changes
 * nothing. */
double cn_sched_lr(const cn_schedule *s);

/* cn_sched_step: advance t by one (saturating at CN_SCHED_T_LIMIT). For plateau it
 * only advances t (the lr changes only through cn_sched_step_metric). */
void cn_sched_step(cn_schedule *s);

/* cn_sched_step_metric: give the metric measured at the current t (validation loss
 * for mode min, accuracy for mode max), then advance t by one. For plateau, from
 * t = warmup_steps on, this is ReduceLROnPlateau.step(metric); metrics given during
 * the warm-up are not counted. Other kinds ignore metric and call cn_sched_step.
 * Errors (plateau only): CN_ERR_NUMERIC for a NaN or infinite metric (the state is
 * unchanged); CN_ERR_ARG for a NULL s. */
cn_status cn_sched_step_metric(cn_schedule *s, double metric, cn_error *err);

/* cn_sched_restarted: 1 when the last cn_sched_step began a new cosine_restarts
 * cycle (the value is back at base_lr; the step before was the end of a cycle,
 * the moment to keep a snapshot for a snapshot ensemble), 0 otherwise and for
 * every other kind. */
int cn_sched_restarted(const cn_schedule *s);

/* cn_sched_cycle: cosine_restarts: the number of restarts so far (the current
 * cycle's index); 0 for other kinds. */
int64_t cn_sched_cycle(const cn_schedule *s);

/* cn_sched_state_save: write the state into out: {version 1, kind, t, lr, best,
 * num_bad, cooldown_counter, t_cur, t_i, cycle, restarted, warmup_steps}. Every
 * integer is below 2^53, so the doubles are exact. */
void cn_sched_state_save(const cn_schedule *s, double out[CN_SCHED_STATE_LEN]);

/* cn_sched_state_load: restore a state saved by cn_sched_state_save into s, which
 * must have been initialised (cn_sched_init) with the same config. Errors
 * (CN_ERR_FORMAT, naming the entry): unknown version, a kind or warmup_steps that
 * differs from s's config, integers that are not whole numbers in range, a
 * non-finite lr, a restart state inconsistent with the config. s is untouched on
 * error. */
cn_status cn_sched_state_load(cn_schedule *s, const double in[CN_SCHED_STATE_LEN],
                              cn_error *err);

#ifdef __cplusplus
}
#endif

#endif /* CONVNET_SCHEDULE_H */
