/* schedule.c: learning-rate and momentum schedules (convnet/schedule.h): names and
 * parsing with nearest-name suggestions, defaults, validation, the closed-form
 * value of every kind behind an optional linear warm-up, the step / restart /
 * reduce-on-plateau state machine, and the state save / load for checkpoints. */
#include "convnet/schedule.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#define SCHED_PI 3.14159265358979323846 /* Python's math.pi, the same double */
#define STATE_VERSION 1.0

static const char *const sched_names[CN_SCHED_KIND_COUNT] = {
    "constant", "step",   "multistep", "exp_decay", "exponential", "inv_time",
    "polynomial", "cosine", "cosine_restarts", "plateau", "momentum",
};

/* PyTorch's class names, accepted by cn_sched_parse. */
static const struct {
    const char *name;
    cn_sched_kind kind;
} sched_aliases[] = {
    {"StepLR", CN_SCHED_STEP},
    {"MultiStepLR", CN_SCHED_MULTISTEP},
    {"ExponentialLR", CN_SCHED_EXPONENTIAL},
    {"PolynomialLR", CN_SCHED_POLYNOMIAL},
    {"CosineAnnealingLR", CN_SCHED_COSINE},
    {"CosineAnnealingWarmRestarts", CN_SCHED_COSINE_RESTARTS},
    {"ReduceLROnPlateau", CN_SCHED_PLATEAU},
};
#define N_ALIASES (sizeof sched_aliases / sizeof sched_aliases[0])

const char *cn_sched_name(cn_sched_kind kind)
{
    if ((int)kind < 0 || kind >= CN_SCHED_KIND_COUNT) return "?";
    return sched_names[kind];
}

const char *cn_sched_unit_name(cn_sched_unit unit)
{
    switch (unit) {
    case CN_SCHED_PER_STEP: return "step";
    case CN_SCHED_PER_EPOCH: return "epoch";
    default: return "?";
    }
}

/* edit_distance: Levenshtein distance of a and b, case-insensitive, each cut to 63
 * characters (names are short; a long typo still gets a suggestion). */
static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63) la = 63;
    if (lb > 63) lb = 63;
    int prev[64], cur[64];
    for (int j = 0; j <= lb; j++) prev[j] = j;
    for (int i = 1; i <= la; i++) {
        cur[0] = i;
        for (int j = 1; j <= lb; j++) {
            int same = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]);
            int sub = prev[j - 1] + !same;
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (size_t)(lb + 1));
    }
    return prev[lb];
}

cn_status cn_sched_parse(const char *name, cn_sched_kind *out, cn_error *err)
{
    if (!name || !out) return cn_error_set(err, CN_ERR_ARG, "schedule name: NULL argument");
    const char *best = sched_names[0];
    int best_d = edit_distance(name, best);
    for (int k = 0; k < CN_SCHED_KIND_COUNT; k++) {
        if (strcmp(name, sched_names[k]) == 0) {
            *out = (cn_sched_kind)k;
            return CN_OK;
        }
        int d = edit_distance(name, sched_names[k]);
        if (d < best_d) {
            best_d = d;
            best = sched_names[k];
        }
    }
    for (size_t i = 0; i < N_ALIASES; i++) {
        if (strcmp(name, sched_aliases[i].name) == 0) {
            *out = sched_aliases[i].kind;
            return CN_OK;
        }
        int d = edit_distance(name, sched_aliases[i].name);
        if (d < best_d) {
            best_d = d;
            best = sched_aliases[i].name;
        }
    }
    return cn_error_set(err, CN_ERR_ARG,
                        "unknown schedule '%s' (did you mean '%s'?; valid: constant, step, "
                        "multistep, exp_decay, exponential, inv_time, polynomial, cosine, "
                        "cosine_restarts, plateau, momentum)",
                        name, best);
}

cn_sched_config cn_sched_config_default(cn_sched_kind kind)
{
    cn_sched_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.unit = CN_SCHED_PER_EPOCH;
    c.base_lr = 0.1;
    c.gamma = 0.1;
    c.step_size = 30;
    c.milestones[0] = 30;
    c.milestones[1] = 60;
    c.milestones[2] = 90;
    c.n_milestones = 3;
    c.k = 0.1;
    c.power = 1.0;
    c.total = 5;
    c.t_max = 100;
    c.eta_min = 0.0;
    c.t0 = 10;
    c.t_mult = 1;
    c.warmup_steps = 0;
    c.warmup_start_factor = 1.0 / 3.0;
    c.mode = CN_SCHED_MODE_MIN;
    c.factor = 0.1;
    c.patience = 10;
    c.threshold = 1e-4;
    c.threshold_mode = CN_SCHED_THRESHOLD_REL;
    c.cooldown = 0;
    c.min_lr = 0.0;
    c.eps = 1e-8;
    c.final_value = 0.99;
    if (kind == CN_SCHED_MOMENTUM) {
        c.base_lr = 0.5;
        c.total = 100;
    }
    return c;
}

/* ------------------------------------------------------------------ validation */

/* bad_int / bad_real: the CN_ERR_ARG message naming kind, field, value and rule. */
static cn_status bad_int(cn_error *err, const cn_sched_config *c, const char *field, long v,
                         const char *rule)
{
    return cn_error_set(err, CN_ERR_ARG, "schedule '%s': %s = %ld: %s",
                        cn_sched_name(c->kind), field, v, rule);
}

static cn_status bad_real(cn_error *err, const cn_sched_config *c, const char *field,
                          double v, const char *rule)
{
    return cn_error_set(err, CN_ERR_ARG, "schedule '%s': %s = %.17g: %s",
                        cn_sched_name(c->kind), field, v, rule);
}

/* finite_ge0: v is a finite number >= 0. */
static int finite_ge0(double v) { return isfinite(v) && v >= 0.0; }

/* validate_kind: the fields the kind reads. */
static cn_status validate_kind(const cn_sched_config *c, cn_error *err)
{
    switch (c->kind) {
    case CN_SCHED_CONSTANT:
        return CN_OK;
    case CN_SCHED_STEP:
        if (c->step_size < 1) return bad_int(err, c, "step_size", c->step_size, "must be >= 1");
        if (!(isfinite(c->gamma) && c->gamma > 0.0))
            return bad_real(err, c, "gamma", c->gamma, "must be finite and > 0");
        return CN_OK;
    case CN_SCHED_MULTISTEP:
        if (c->n_milestones < 1 || c->n_milestones > CN_SCHED_MAX_MILESTONES)
            return bad_int(err, c, "n_milestones", c->n_milestones,
                           "must be in 1..16 (CN_SCHED_MAX_MILESTONES)");
        for (int i = 0; i < c->n_milestones; i++) {
            char field[32];
            snprintf(field, sizeof field, "milestones[%d]", i);
            if (c->milestones[i] < 1)
                return bad_int(err, c, field, c->milestones[i], "must be >= 1");
            if (i > 0 && c->milestones[i] < c->milestones[i - 1])
                return bad_int(err, c, field, c->milestones[i],
                               "milestones must be non-decreasing");
        }
        if (!(isfinite(c->gamma) && c->gamma > 0.0))
            return bad_real(err, c, "gamma", c->gamma, "must be finite and > 0");
        return CN_OK;
    case CN_SCHED_EXPONENTIAL:
        if (!(isfinite(c->gamma) && c->gamma > 0.0))
            return bad_real(err, c, "gamma", c->gamma, "must be finite and > 0");
        return CN_OK;
    case CN_SCHED_EXP_DECAY:
    case CN_SCHED_INV_TIME:
        if (!finite_ge0(c->k)) return bad_real(err, c, "k", c->k, "must be finite and >= 0");
        return CN_OK;
    case CN_SCHED_POLYNOMIAL:
        if (c->total < 1) return bad_int(err, c, "total", c->total, "must be >= 1");
        if (!(isfinite(c->power) && c->power > 0.0))
            return bad_real(err, c, "power", c->power, "must be finite and > 0");
        return CN_OK;
    case CN_SCHED_COSINE:
        if (c->t_max < 1) return bad_int(err, c, "t_max", c->t_max, "must be >= 1");
        if (!finite_ge0(c->eta_min))
            return bad_real(err, c, "eta_min", c->eta_min, "must be finite and >= 0");
        return CN_OK;
    case CN_SCHED_COSINE_RESTARTS:
        if (c->t0 < 1) return bad_int(err, c, "t0", c->t0, "must be >= 1");
        if (c->t_mult < 1) return bad_int(err, c, "t_mult", c->t_mult, "must be >= 1");
        if (!finite_ge0(c->eta_min))
            return bad_real(err, c, "eta_min", c->eta_min, "must be finite and >= 0");
        return CN_OK;
    case CN_SCHED_PLATEAU:
        if ((int)c->mode < 0 || c->mode >= CN_SCHED_MODE_COUNT)
            return bad_int(err, c, "mode", (long)c->mode, "must be min (0) or max (1)");
        if (!(isfinite(c->factor) && c->factor > 0.0 && c->factor < 1.0))
            return bad_real(err, c, "factor", c->factor, "must be in (0, 1)");
        if (c->patience < 0) return bad_int(err, c, "patience", c->patience, "must be >= 0");
        if (!finite_ge0(c->threshold))
            return bad_real(err, c, "threshold", c->threshold, "must be finite and >= 0");
        if ((int)c->threshold_mode < 0 || c->threshold_mode >= CN_SCHED_THRESHOLD_MODE_COUNT)
            return bad_int(err, c, "threshold_mode", (long)c->threshold_mode,
                           "must be rel (0) or abs (1)");
        if (c->cooldown < 0) return bad_int(err, c, "cooldown", c->cooldown, "must be >= 0");
        if (!finite_ge0(c->min_lr))
            return bad_real(err, c, "min_lr", c->min_lr, "must be finite and >= 0");
        if (!finite_ge0(c->eps)) return bad_real(err, c, "eps", c->eps, "must be finite and >= 0");
        return CN_OK;
    case CN_SCHED_MOMENTUM:
        if (c->total < 1) return bad_int(err, c, "total", c->total, "must be >= 1");
        if (!(c->base_lr >= 0.0 && c->base_lr < 1.0))
            return bad_real(err, c, "base_lr", c->base_lr, "a momentum must be in [0, 1)");
        if (!(c->final_value >= 0.0 && c->final_value < 1.0))
            return bad_real(err, c, "final_value", c->final_value,
                            "a momentum must be in [0, 1)");
        return CN_OK;
    default:
        return cn_error_set(err, CN_ERR_ARG, "schedule: kind = %d: not a schedule kind",
                            (int)c->kind);
    }
}

static cn_status validate(const cn_sched_config *c, cn_error *err)
{
    if ((int)c->kind < 0 || c->kind >= CN_SCHED_KIND_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "schedule: kind = %d: not a schedule kind",
                            (int)c->kind);
    if ((int)c->unit < 0 || c->unit >= CN_SCHED_UNIT_COUNT)
        return bad_int(err, c, "unit", (long)c->unit, "must be per step (0) or per epoch (1)");
    if (!finite_ge0(c->base_lr))
        return bad_real(err, c, "base_lr", c->base_lr, "must be finite and >= 0");
    if (c->warmup_steps < 0)
        return bad_int(err, c, "warmup_steps", c->warmup_steps, "must be >= 0");
    if (c->warmup_steps > 0 &&
        !(c->warmup_start_factor > 0.0 && c->warmup_start_factor <= 1.0))
        return bad_real(err, c, "warmup_start_factor", c->warmup_start_factor,
                        "must be in (0, 1]");
    return validate_kind(c, err);
}

/* reset: the state at t = 0 for a validated config. */
static void reset(cn_schedule *s, const cn_sched_config *c)
{
    memset(s, 0, sizeof *s);
    s->cfg = *c;
    s->t = 0;
    s->lr = c->base_lr;
    s->best = c->mode == CN_SCHED_MODE_MAX ? -INFINITY : INFINITY;
    s->t_cur = 0;
    s->t_i = c->kind == CN_SCHED_COSINE_RESTARTS ? c->t0 : 1;
}

cn_status cn_sched_init(cn_schedule *s, const cn_sched_config *cfg, cn_error *err)
{
    if (!s || !cfg) return cn_error_set(err, CN_ERR_ARG, "schedule: NULL argument");
    cn_status st = validate(cfg, err);
    if (st != CN_OK) return st;
    reset(s, cfg);
    return CN_OK;
}

/* ------------------------------------------------------------------ values */

/* main_value: the kind's value u steps after the warm-up. The expressions follow
 * PyTorch's closed forms term by term (same operations, same order), so the
 * results are the same doubles as its _get_closed_form_lr. */
static double main_value(const cn_schedule *s, int64_t u)
{
    const cn_sched_config *c = &s->cfg;
    double base = c->base_lr;
    switch (c->kind) {
    case CN_SCHED_CONSTANT:
        return base;
    case CN_SCHED_STEP:
        return base * pow(c->gamma, (double)(u / c->step_size));
    case CN_SCHED_MULTISTEP: {
        int passed = 0;
        for (int i = 0; i < c->n_milestones; i++) passed += c->milestones[i] <= u;
        return base * pow(c->gamma, (double)passed);
    }
    case CN_SCHED_EXP_DECAY:
        return base * exp(-c->k * (double)u);
    case CN_SCHED_EXPONENTIAL:
        return base * pow(c->gamma, (double)u);
    case CN_SCHED_INV_TIME:
        return base / (1.0 + c->k * (double)u);
    case CN_SCHED_POLYNOMIAL: {
        int64_t m = u < c->total ? u : c->total;
        return base * pow(1.0 - (double)m / (double)c->total, c->power);
    }
    case CN_SCHED_COSINE:
        return c->eta_min +
               (base - c->eta_min) * (1.0 + cos(SCHED_PI * (double)u / (double)c->t_max)) / 2.0;
    case CN_SCHED_COSINE_RESTARTS:
        return c->eta_min + (base - c->eta_min) *
                                (1.0 + cos(SCHED_PI * (double)s->t_cur / (double)s->t_i)) / 2.0;
    case CN_SCHED_PLATEAU:
        return s->lr;
    case CN_SCHED_MOMENTUM:
        if (u >= c->total) return c->final_value;
        return base + (c->final_value - base) * (double)u / (double)c->total;
    default:
        CN_ASSERT(!"cn_schedule with an invalid kind (not initialised by cn_sched_init?)");
        return NAN;
    }
}

double cn_sched_lr(const cn_schedule *s)
{
    CN_ASSERT(s);
    const cn_sched_config *c = &s->cfg;
    if (s->t < c->warmup_steps) {
        /* LinearLR(start_factor, end_factor = 1, total_iters = warmup_steps) in front
         * of the schedule (SequentialLR); the schedule's own t = 0 value is base_lr
         * except for plateau, whose lr cannot have changed yet. */
        double sf = c->warmup_start_factor;
        double f = sf + (1.0 - sf) * (double)s->t / (double)c->warmup_steps;
        return main_value(s, 0) * f;
    }
    return main_value(s, s->t - c->warmup_steps);
}

void cn_sched_step(cn_schedule *s)
{
    CN_ASSERT(s);
    s->restarted = 0;
    if (s->t >= CN_SCHED_T_LIMIT) return;
    s->t++;
    const cn_sched_config *c = &s->cfg;
    if (c->kind == CN_SCHED_COSINE_RESTARTS && s->t > c->warmup_steps) {
        /* CosineAnnealingWarmRestarts.step() without an epoch argument. */
        s->t_cur++;
        if (s->t_cur >= s->t_i) {
            s->t_cur -= s->t_i;
            s->t_i = s->t_i > CN_SCHED_T_LIMIT / c->t_mult ? CN_SCHED_T_LIMIT
                                                            : s->t_i * c->t_mult;
            s->cycle++;
            s->restarted = 1;
        }
    }
}

/* is_better: ReduceLROnPlateau.is_better for the config's mode and threshold. */
static int is_better(const cn_sched_config *c, double a, double best)
{
    if (c->mode == CN_SCHED_MODE_MIN) {
        if (c->threshold_mode == CN_SCHED_THRESHOLD_REL) return a < best * (1.0 - c->threshold);
        return a < best - c->threshold;
    }
    if (c->threshold_mode == CN_SCHED_THRESHOLD_REL) return a > best * (c->threshold + 1.0);
    return a > best + c->threshold;
}

cn_status cn_sched_step_metric(cn_schedule *s, double metric, cn_error *err)
{
    if (!s) return cn_error_set(err, CN_ERR_ARG, "schedule: NULL argument");
    const cn_sched_config *c = &s->cfg;
    if (c->kind != CN_SCHED_PLATEAU) {
        cn_sched_step(s);
        return CN_OK;
    }
    if (!isfinite(metric))
        return cn_error_set(err, CN_ERR_NUMERIC,
                            "schedule 'plateau': step %lld: metric is %g (must be finite)",
                            (long long)s->t, metric);
    if (s->t >= c->warmup_steps && s->t < CN_SCHED_T_LIMIT) {
        /* ReduceLROnPlateau.step(metrics). */
        if (is_better(c, metric, s->best)) {
            s->best = metric;
            s->num_bad = 0;
        } else if (s->num_bad < CN_SCHED_T_LIMIT) {
            s->num_bad++;
        }
        if (s->cooldown_counter > 0) {
            s->cooldown_counter--;
            s->num_bad = 0; /* bad metrics during the cooldown are ignored */
        }
        if (s->num_bad > c->patience) {
            double old_lr = s->lr;
            double new_lr = old_lr * c->factor;
            if (new_lr < c->min_lr) new_lr = c->min_lr;
            if (old_lr - new_lr > c->eps) s->lr = new_lr;
            s->cooldown_counter = c->cooldown;
            s->num_bad = 0;
        }
    }
    cn_sched_step(s);
    return CN_OK;
}

int cn_sched_restarted(const cn_schedule *s)
{
    CN_ASSERT(s);
    return s->restarted;
}

int64_t cn_sched_cycle(const cn_schedule *s)
{
    CN_ASSERT(s);
    return s->cycle;
}

/* ------------------------------------------------------------------ state */

enum {
    ST_VERSION, ST_KIND, ST_T, ST_LR, ST_BEST, ST_NUM_BAD, ST_COOLDOWN, ST_T_CUR, ST_T_I,
    ST_CYCLE, ST_RESTARTED, ST_WARMUP
};

static const char *const state_names[CN_SCHED_STATE_LEN] = {
    "version", "kind", "t", "lr", "best", "num_bad", "cooldown_counter", "t_cur", "t_i",
    "cycle", "restarted", "warmup_steps",
};

void cn_sched_state_save(const cn_schedule *s, double out[CN_SCHED_STATE_LEN])
{
    CN_ASSERT(s && out);
    out[ST_VERSION] = STATE_VERSION;
    out[ST_KIND] = (double)s->cfg.kind;
    out[ST_T] = (double)s->t;
    out[ST_LR] = s->lr;
    out[ST_BEST] = s->best;
    out[ST_NUM_BAD] = (double)s->num_bad;
    out[ST_COOLDOWN] = (double)s->cooldown_counter;
    out[ST_T_CUR] = (double)s->t_cur;
    out[ST_T_I] = (double)s->t_i;
    out[ST_CYCLE] = (double)s->cycle;
    out[ST_RESTARTED] = (double)s->restarted;
    out[ST_WARMUP] = (double)s->cfg.warmup_steps;
}

/* whole: v is a whole number in [lo, CN_SCHED_T_LIMIT]; *out gets it. */
static int whole(double v, int64_t lo, int64_t *out)
{
    if (!(v >= (double)lo && v <= (double)CN_SCHED_T_LIMIT) || v != floor(v)) return 0;
    *out = (int64_t)v;
    return 1;
}

cn_status cn_sched_state_load(cn_schedule *s, const double in[CN_SCHED_STATE_LEN],
                              cn_error *err)
{
    if (!s || !in) return cn_error_set(err, CN_ERR_ARG, "schedule state: NULL argument");
    const cn_sched_config *c = &s->cfg;
    if (in[ST_VERSION] != STATE_VERSION)
        return cn_error_set(err, CN_ERR_FORMAT,
                            "schedule state: entry 0 (version) = %g: unsupported (max 1)",
                            in[ST_VERSION]);
    if (in[ST_KIND] != (double)c->kind)
        return cn_error_set(err, CN_ERR_FORMAT,
                            "schedule state: entry 1 (kind) = %g: the schedule is '%s' (%d)",
                            in[ST_KIND], cn_sched_name(c->kind), (int)c->kind);
    if (in[ST_WARMUP] != (double)c->warmup_steps)
        return cn_error_set(err, CN_ERR_FORMAT,
                            "schedule state: entry 11 (warmup_steps) = %g: the schedule has %d",
                            in[ST_WARMUP], c->warmup_steps);
    int64_t v[CN_SCHED_STATE_LEN] = {0};
    static const int ints[] = {ST_T, ST_NUM_BAD, ST_COOLDOWN, ST_T_CUR, ST_T_I, ST_CYCLE,
                               ST_RESTARTED};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        int e = ints[i];
        int64_t lo = e == ST_T_I ? 1 : 0;
        if (!whole(in[e], lo, &v[e]) || (e == ST_RESTARTED && v[e] > 1))
            return cn_error_set(err, CN_ERR_FORMAT,
                                "schedule state: entry %d (%s) = %g: not a whole number in "
                                "range",
                                e, state_names[e], in[e]);
    }
    if (!finite_ge0(in[ST_LR]))
        return cn_error_set(err, CN_ERR_FORMAT,
                            "schedule state: entry 3 (lr) = %g: must be finite and >= 0",
                            in[ST_LR]);
    if (isnan(in[ST_BEST]))
        return cn_error_set(err, CN_ERR_FORMAT, "schedule state: entry 4 (best) is NaN");
    if (v[ST_T_CUR] >= v[ST_T_I])
        return cn_error_set(err, CN_ERR_FORMAT,
                            "schedule state: entry 7 (t_cur) = %g: must be below t_i = %g",
                            in[ST_T_CUR], in[ST_T_I]);
    if (c->kind == CN_SCHED_COSINE_RESTARTS && v[ST_T_I] < c->t0)
        return cn_error_set(err, CN_ERR_FORMAT,
                            "schedule state: entry 8 (t_i) = %g: below the config's t0 = %d",
                            in[ST_T_I], c->t0);
    s->t = v[ST_T];
    s->lr = in[ST_LR];
    s->best = in[ST_BEST];
    s->num_bad = v[ST_NUM_BAD];
    s->cooldown_counter = v[ST_COOLDOWN];
    s->t_cur = v[ST_T_CUR];
    s->t_i = v[ST_T_I];
    s->cycle = v[ST_CYCLE];
    s->restarted = (int)v[ST_RESTARTED];
    return CN_OK;
}
