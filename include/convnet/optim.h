/* convnet/optim.h: optimisers over the flat parameter store (convnet/model.h's
 * cn_params): SGD, momentum and Nesterov momentum in the CS231n notes' form,
 * Adagrad, Adadelta, RMSProp, Adam (with AMSGrad) and AdamW, with the
 * regularisation a step applies (coupled L2 weight decay, L1, elastic net, a
 * max-norm constraint), gradient clipping (by value, by global norm),
 * parameter groups (no decay on biases and normalisation parameters by
 * default, learning-rate multipliers by name prefix, frozen parameters
 * skipped); and L-BFGS for full-batch problems given as a function-and-gradient
 * callback over a flat array.
 *
 * Conventions (docs/optim.md has every update rule and how it relates to
 * torch.optim):
 *  - The learning rate is an argument of every step, so learning-rate schedules
 *    stay separate (they compute lr from the step counter).
 *  - The optimiser's state lives in ps->state (cn_params_state: slots * count
 *    reals, slot-major), so a checkpoint that saves the store saves the state;
 *    the step counter is read and restored with cn_optim_get_step /
 *    cn_optim_set_step.
 *  - Gradients (ps->grads) are read, never written: clipping and weight decay
 *    are applied on the fly. Buffers (running statistics) are never touched.
 *  - Each update is element-wise, and every reduction (the global gradient
 *    norm, the max-norm row norms) is summed in double in a fixed order, so
 *    results do not depend on the thread count.
 */
#ifndef CONVNET_OPTIM_H
#define CONVNET_OPTIM_H

#include "convnet/core.h"
#include "convnet/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ first-order */

/* cn_optim_kind: the first-order optimisers. Names (cn_optim_name) are what
 * configuration files and the CLI use. */
typedef enum cn_optim_kind {
    CN_OPTIM_SGD = 0,     /* "sgd":      x -= lr * g */
    CN_OPTIM_MOMENTUM,    /* "momentum": v = mu * v - lr * g; x += v */
    CN_OPTIM_NESTEROV,    /* "nesterov": v' = v; v = mu * v - lr * g;
                             x += -mu * v' + (1 + mu) * v */
    CN_OPTIM_ADAGRAD,     /* "adagrad" */
    CN_OPTIM_ADADELTA,    /* "adadelta" */
    CN_OPTIM_RMSPROP,     /* "rmsprop" */
    CN_OPTIM_ADAM,        /* "adam" (amsgrad option) */
    CN_OPTIM_ADAMW,       /* "adamw": Adam with decoupled weight decay */
    CN_OPTIM_COUNT
} cn_optim_kind;

/* cn_optim_name: the optimiser's name ("adam"), "?" for an invalid value. */
const char *cn_optim_name(cn_optim_kind kind);

/* cn_optim_parse: name -> kind (exact, lower case). CN_ERR_ARG naming the
 * nearest valid name (edit distance) for an unknown one; name NULL is
 * CN_ERR_ARG. out is written only on success. */
cn_status cn_optim_parse(const char *name, cn_optim_kind *out, cn_error *err);

/* cn_optim_config: every setting of every optimiser (each kind reads its own;
 * the regularisation and clipping fields apply to all kinds). A value of 0
 * turns the optional features off. */
typedef struct cn_optim_config {
    cn_optim_kind kind;
    double lr;            /* base learning rate; informative: cn_optim_step takes the
                             rate of each step (a schedule scales this one) */
    double momentum;      /* momentum, nesterov: mu in [0, 1) (0.9); rmsprop: momentum
                             in [0, 1) (0); sgd: must be 0 */
    double betas[2];      /* adam, adamw: (0.9, 0.999), each in [0, 1) */
    double eps;           /* adagrad 1e-10, adadelta 1e-6, rmsprop 1e-8, adam(w) 1e-8; >= 0 */
    double rho;           /* adadelta: decay of the running averages in [0, 1] (0.9) */
    double alpha;         /* rmsprop: smoothing constant in [0, 1] (0.99) */
    int centered;         /* rmsprop: 1 normalises by the variance estimate (0) */
    int amsgrad;          /* adam, adamw: 1 uses the running maximum of v (0) */
    double weight_decay;  /* >= 0. adamw: decoupled, x -= lr * wd * x before the step
                             (1e-2); every other kind: coupled L2, g += wd * x (0) */
    double l1;            /* >= 0: g += l1 * sign(x) (0); with weight_decay: elastic net */
    double max_norm;      /* >= 0: after the step, each output unit's incoming weight
                             vector (a row of a WEIGHT parameter of rank >= 2) is
                             rescaled to an L2 norm <= max_norm (0: off) */
    double clip_value;    /* >= 0: each gradient clamped to [-clip_value, clip_value] (0: off) */
    double clip_norm;     /* >= 0: gradients scaled by clip_norm / (norm + 1e-6) when the
                             global norm exceeds clip_norm, as torch's clip_grad_norm_ (0: off) */
    int decay_bias_norm;  /* 1: weight decay and L1 also on BIAS and NORM parameters (0) */
} cn_optim_config;

/* cn_optim_config_default: kind's defaults, PyTorch's where it has the
 * optimiser (the values in parentheses above). sgd: lr 1e-3 (torch >= 2.2's
 * default); momentum and nesterov: lr 1e-2, mu 0.9 (torch's SGD has momentum 0
 * by default, which is plain SGD); adagrad lr 1e-2; adadelta lr 1; rmsprop lr
 * 1e-2; adam and adamw lr 1e-3. An invalid kind gives sgd's defaults with that
 * kind (cn_optim_new rejects it). */
cn_optim_config cn_optim_config_default(cn_optim_kind kind);

/* cn_optim_check: validate c (kind, every field's range, finiteness). CN_ERR_ARG
 * naming the field and its value. */
cn_status cn_optim_check(const cn_optim_config *c, cn_error *err);

/* cn_optim_state_slots: the state c needs, in reals per parameter element: sgd 0,
 * momentum and nesterov 1 (v), adagrad 1 (sum of g^2), adadelta 2 (E[g^2],
 * E[dx^2]), rmsprop 1 (E[g^2]) + 1 with momentum (buffer) + 1 when centered
 * (E[g]), adam and adamw 2 (m, v) + 1 with amsgrad (max v). Slot order as
 * listed. -1 for an invalid kind. A checkpoint reader checks a saved state
 * against this (and against cn_optim_name) before restoring it. */
int cn_optim_state_slots(const cn_optim_config *c);

typedef struct cn_optimizer cn_optimizer;

/* cn_optim_new: an optimiser with configuration c (copied) over ps (borrowed:
 * ps must outlive the optimiser; recompiling the model replaces its store, so
 * make a new optimiser after cn_model_compile). Allocates the state
 * (cn_params_state) and clears it to zero, with the step counter at 0: to
 * resume from a checkpoint, restore ps->state and the step counter AFTER this
 * call. Learning-rate multipliers start at 1.
 * Errors: CN_ERR_ARG (NULL c or ps, a bad field, named), CN_ERR_NOMEM,
 * CN_ERR_RANGE (state size overflow). Free with cn_optim_free. */
cn_optimizer *cn_optim_new(const cn_optim_config *c, cn_params *ps, cn_error *err);

/* cn_optim_free: free o (not the store nor its state). NULL is a no-op. */
void cn_optim_free(cn_optimizer *o);

/* cn_optim_config_of: o's configuration (owned by o). */
const cn_optim_config *cn_optim_config_of(const cn_optimizer *o);

/* cn_optim_set_momentum: change the momentum from the next step on (a momentum
 * schedule, e.g. 0.5 -> 0.99): mu for momentum and nesterov, the momentum of
 * rmsprop (only when it was created with momentum > 0: the buffer slot exists),
 * beta1 for adam and adamw. mu finite in [0, 1). Errors: CN_ERR_ARG (NULL o, mu
 * out of range, a kind without momentum: sgd, adagrad, adadelta, rmsprop made
 * without momentum). */
cn_status cn_optim_set_momentum(cn_optimizer *o, double mu, cn_error *err);

/* cn_optim_set_lr_mult: every trainable parameter whose name starts with prefix
 * ("conv1.", "" matches all) gets learning rate lr * mult from now on (a later
 * call overrides an earlier one for the parameters it matches); AdamW's
 * decoupled decay uses the multiplied rate too. mult finite and >= 0 (0 stops
 * the parameter's updates; its state still advances). Returns how many
 * parameters matched, or -1 with CN_ERR_ARG for a bad mult, NULL arguments or no
 * match (naming the prefix). */
int cn_optim_set_lr_mult(cn_optimizer *o, const char *prefix, double mult, cn_error *err);

/* cn_optim_step: one update of every trainable, non-frozen parameter from its
 * gradient in ps->grads, with learning rate lr (finite, >= 0; parameter k uses
 * lr * its multiplier). In order: every gradient is checked (CN_ERR_NUMERIC
 * naming the first NaN or Inf, "fc1.weight[3]", and nothing is changed); the
 * global L2 norm of the raw gradients is taken (in double, fixed order); the
 * gradients are scaled when it exceeds clip_norm, then clamped to clip_value;
 * L1 and coupled L2 terms are added; the kind's update runs (AdamW first decays
 * x by lr * wd); max-norm rows are rescaled; the step counter increases.
 * grad_norm_out (may be NULL) receives the pre-clip global norm. Frozen
 * parameters and buffers are not touched, nor is their state.
 * Errors: CN_ERR_ARG (NULL o, bad lr, the store's size changed since
 * cn_optim_new), CN_ERR_NUMERIC. */
cn_status cn_optim_step(cn_optimizer *o, double lr, double *grad_norm_out, cn_error *err);

/* cn_optim_grad_norm: the global L2 norm of the trainable, non-frozen gradients
 * of o's store (what cn_optim_step reports), without stepping. NaN when one is
 * not finite. */
double cn_optim_grad_norm(const cn_optimizer *o);

/* cn_optim_get_step / cn_optim_set_step: the number of steps taken (Adam's bias
 * correction uses it), for checkpoints. set_step: CN_ERR_ARG when step < 0. */
int64_t cn_optim_get_step(const cn_optimizer *o);
cn_status cn_optim_set_step(cn_optimizer *o, int64_t step, cn_error *err);

/* cn_optim_reset: clear the state to zero and the step counter to 0. */
void cn_optim_reset(cn_optimizer *o);

/* ================================================================ L-BFGS */

/* cn_lbfgs_search: how L-BFGS chooses the step along its direction d. */
typedef enum cn_lbfgs_search {
    CN_LBFGS_FIXED = 0,      /* step lr (the first iteration min(1, 1/|g|_1) * lr):
                                torch's line_search_fn=None */
    CN_LBFGS_STRONG_WOLFE    /* a strong-Wolfe search (c1 1e-4, c2 0.9, at most 25
                                evaluations, cubic interpolation): torch's "strong_wolfe" */
} cn_lbfgs_search;

/* cn_lbfgs_config: torch.optim.LBFGS's settings, with its defaults. */
typedef struct cn_lbfgs_config {
    double lr;               /* 1: step length scale */
    int max_iter;            /* 20: iterations */
    int max_eval;            /* 0: max_iter * 5 / 4 function evaluations */
    double tolerance_grad;   /* 1e-7: stop when max |g_i| <= this */
    double tolerance_change; /* 1e-9: stop when the step or the change of f is below this */
    int history;             /* 100: pairs (s, y) kept (m) */
    cn_lbfgs_search line_search; /* CN_LBFGS_FIXED */
} cn_lbfgs_config;

/* cn_lbfgs_config_default: the defaults above. */
cn_lbfgs_config cn_lbfgs_config_default(void);

/* cn_lbfgs_fn: the objective: write f(x) into *f and df/dx (n) into grad.
 * Return CN_OK, or an error (with err set) that stops the minimisation. */
typedef cn_status (*cn_lbfgs_fn)(void *ctx, const cn_real *x, cn_real *grad, double *f,
                                 cn_error *err);

/* cn_lbfgs_report: how a minimisation went. */
typedef struct cn_lbfgs_report {
    double f0;          /* f at the start */
    double f;           /* f at the last evaluation (with CN_LBFGS_FIXED, as in torch,
                           the step that ends a max_iter run is not evaluated) */
    int iterations;
    int evaluations;    /* calls of fn */
    const char *stop;   /* why it stopped: "gradient", "max_iter", "max_eval",
                           "step", "change", "direction" */
} cn_lbfgs_report;

/* cn_lbfgs_minimize: minimise fn from x (n, overwritten with the result), as one
 * call of torch.optim.LBFGS.step(closure) from a fresh state: the two-loop
 * recursion over the last history pairs (pairs with y.s <= 1e-10 skipped), the
 * initial Hessian scale y.s / y.y, the line search of c->line_search, and
 * torch's stopping rules. Arithmetic is in double; x and the gradient in
 * cn_real. rep may be NULL. Allocates (2 * history + 8) * n doubles.
 * Errors: CN_ERR_ARG (NULL arguments, a bad setting, named), CN_ERR_NOMEM,
 * CN_ERR_RANGE (size overflow), CN_ERR_NUMERIC (f or a gradient not finite,
 * naming the evaluation and index; x keeps the last accepted point), or fn's
 * own error. */
cn_status cn_lbfgs_minimize(const cn_lbfgs_config *c, size_t n, cn_real *x, cn_lbfgs_fn fn,
                            void *ctx, cn_lbfgs_report *rep, cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_OPTIM_H */
