/* trainer.c: the trainer's core loop (convnet/train.h): seeded shuffling,
 * mini-batch steps with the NaN/Inf guard (naming the first non-finite node),
 * the schedule, EMA weights, monitors, validation, metrics lines in
 * run_dir/metrics.jsonl, the best model, snapshots, early stopping, periodic and
 * cancellation checkpoints, and resuming from a checkpoint bit-identically.
 * docs/train.md describes the order of events. */
#include "convnet/train.h"

#include "train_internal.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define TR_PATH_MAX 4096

cn_train_config cn_train_config_default(void)
{
    cn_train_config c;
    memset(&c, 0, sizeof c);
    c.epochs = 10;
    c.batch = 32;
    c.seed = 0;
    c.optim = cn_optim_config_default(CN_OPTIM_MOMENTUM);
    c.sched = cn_sched_config_default(CN_SCHED_CONSTANT);
    c.sched.base_lr = 0.01;
    c.sched.unit = CN_SCHED_PER_EPOCH;
    c.optim.lr = 0.01;
    c.patience = 0;
    c.checkpoint_every = 0;
    c.run_dir = NULL;
    c.nan_policy = CN_NAN_STOP;
    c.threads = 0;
    return c;
}

/* The running sums a checkpoint keeps (cn_train_state.sums), by index. */
enum {
    S_LOSS, S_NORM, S_OK, S_SEEN, S_NORMED, S_LR, S_SECONDS, /* this epoch */
    S_BEST_ACC, S_BEST_EPOCH, S_BAD_EPOCHS, S_SKIPPED, S_SNAPSHOTS, /* the run */
    S_COUNT
};

/* The run's working state, so helpers and the cleanup see one place. */
typedef struct trainer {
    cn_model *m;
    const cn_train_config *cfg;
    cn_optimizer *opt;
    cn_schedule sched;
    cn_schedule msched;             /* the momentum schedule (momentum_schedule) */
    cn_monitor *mon;
    cn_rng shuffle_rng, drop_rng;
    int out_node, classes, sample;  /* prediction node, its width, c*h*w */
    cn_real *x;                     /* (batch, sample) gathered images */
    int *labels;                    /* (batch) */
    int *order;                     /* (train n) this epoch's order */
    int n_order;
    cn_real *ema;                   /* (count) EMA weights, or NULL */
    uint64_t step, epoch;           /* steps taken, epochs completed */
    uint64_t data_fp, config_fp;
    double sums[S_COUNT];
    int resume_batch;               /* first batch of the resumed epoch, or -1 */
    FILE *metrics;
    FILE *steps;                    /* run_dir/steps.csv */
    cn_real *aug;                   /* (c, h, w) augmentation scratch */
    int c, h, w;                    /* training image shape */
    double epoch_t0;                /* when this epoch (or its resumed part) began */
    char path[TR_PATH_MAX];
} trainer;

static cn_status run_path(trainer *t, const char *name, cn_error *err)
{
    int k = snprintf(t->path, sizeof t->path, "%s/%s", t->cfg->run_dir, name);
    if (k < 0 || (size_t)k >= sizeof t->path)
        return cn_error_set(err, CN_ERR_ARG, "train: run_dir '%s': path too long",
                            t->cfg->run_dir);
    return CN_OK;
}

/* The model's input must be (c, h, w) of ds and its prediction (classes). */
static cn_status check_data(trainer *t, const cn_dataset *ds, const char *what, cn_error *err)
{
    if (!ds->images || !ds->labels || ds->n < 1)
        return cn_error_set(err, CN_ERR_ARG, "train: %s dataset is empty", what);
    int nd, shape[CN_MAX_DIMS];
    cn_status st = cn_model_node_shape(t->m, cn_model_input_node(t->m, 0), &nd, shape, err);
    if (st != CN_OK) return st;
    long need = 1;
    for (int d = 0; d < nd; d++) need *= shape[d];
    if (need != (long)ds->c * ds->h * ds->w)
        return cn_error_set(err, CN_ERR_ARG,
                            "train: %s images (%d, %d, %d) do not match the model input "
                            "(%ld values per sample)",
                            what, ds->c, ds->h, ds->w, need);
    if (ds->num_classes > t->classes)
        return cn_error_set(err, CN_ERR_ARG,
                            "train: %s has %d classes, the model predicts %d", what,
                            ds->num_classes, t->classes);
    return CN_OK;
}

/* Copy records order[from..from+n) of ds into t->x, t->labels. */
static void gather(trainer *t, const cn_dataset *ds, const int *order, int from, int n)
{
    const cn_real *src = cn_dataset_flat(ds);
    for (int i = 0; i < n; i++) {
        int r = order ? order[from + i] : from + i;
        memcpy(t->x + (size_t)i * t->sample, src + (size_t)r * t->sample,
               (size_t)t->sample * sizeof(cn_real));
        t->labels[i] = ds->labels[r];
    }
}

/* Correct predictions among the last forward's n samples. */
static int count_correct(const trainer *t, int n)
{
    const cn_real *y = cn_model_node_value(t->m, t->out_node); // (n, classes)
    int ok = 0;
    for (int i = 0; i < n; i++) {
        const cn_real *row = y + (size_t)i * t->classes;
        int best = 0;
        for (int k = 1; k < t->classes; k++)
            if (row[k] > row[best]) best = k;
        ok += best == t->labels[i];
    }
    return ok;
}

/* Validation accuracy and mean loss over ds in CN_EVAL mode. */
static cn_status evaluate(trainer *t, const cn_dataset *ds, double *acc, double *loss,
                          cn_error *err)
{
    int b = t->cfg->batch;
    double sum = 0;
    long ok = 0;
    for (int from = 0; from < ds->n; from += b) {
        int n = ds->n - from < b ? ds->n - from : b;
        gather(t, ds, NULL, from, n);
        cn_target tg = {.labels = t->labels, .values = NULL};
        double l = 0;
        cn_status st = cn_model_forward(t->m, n, t->x, &tg, CN_EVAL, NULL, &l, err);
        if (st != CN_OK) return st;
        sum += l * n;
        ok += count_correct(t, n);
    }
    *acc = (double)ok / ds->n;
    *loss = sum / ds->n;
    return CN_OK;
}

static cn_status save_checkpoint(trainer *t, cn_error *err)
{
    if (!t->cfg->run_dir) return CN_OK;
    cn_status st = run_path(t, "checkpoint.safetensors", err);
    if (st != CN_OK) return st;
    cn_train_state ts;
    memset(&ts, 0, sizeof ts);
    ts.step = t->step;
    ts.epoch = t->epoch;
    ts.rngs[0] = t->shuffle_rng;
    ts.rngs[1] = t->drop_rng;
    ts.n_rngs = 2;
    ts.data_fingerprint = t->data_fp;
    ts.config_fingerprint = t->config_fp;
    ts.order = t->order;
    ts.n_order = (size_t)t->n_order;
    for (int i = 0; i < S_COUNT; i++) ts.sums[i] = t->sums[i];
    ts.n_sums = S_COUNT;
    ts.ema = t->ema;
    ts.n_ema = t->ema ? cn_model_params(t->m)->count : 0;
    return cn_checkpoint_save(t->path, t->m, t->opt, &t->sched, &ts, err);
}

/* A JSON number, or null for NaN / Inf (JSON has no such numbers). */
static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

typedef struct epoch_stats {
    double loss, lr, train_acc, val_acc, val_loss, grad_norm, images_per_s, seconds;
    double ema_val_acc;
} epoch_stats;

/* The monitor's JSON as an object: "update_ratio" always, "layers" with monitor. */
static cn_status monitor_json(trainer *t, json_t **ratios, json_t **layers, cn_error *err)
{
    *ratios = *layers = NULL;
    char *text = cn_monitor_json(t->mon, err);
    if (!text) return err ? err->code : CN_ERR_NOMEM;
    json_t *o = json_loads(text, 0, NULL);
    cn_free(text);
    if (!o) return cn_error_set(err, CN_ERR_NOMEM, "train: monitor JSON: out of memory");
    *ratios = json_incref(json_object_get(o, "update_ratio"));
    if (t->cfg->monitor) *layers = json_incref(json_object_get(o, "layers"));
    json_decref(o);
    return CN_OK;
}

static cn_status write_metrics(trainer *t, const epoch_stats *s, int has_val, cn_error *err)
{
    if (!t->metrics) return CN_OK;
    json_t *ratios, *layers;
    cn_status st = monitor_json(t, &ratios, &layers, err);
    if (st != CN_OK) return st;
    json_t *o = json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "epoch",
                          (json_int_t)t->epoch, "step", (json_int_t)t->step, "loss",
                          num(s->loss), "lr", num(s->lr), "train_acc", num(s->train_acc),
                          "val_acc", has_val ? num(s->val_acc) : json_null(), "val_loss",
                          has_val ? num(s->val_loss) : json_null(), "grad_norm",
                          num(s->grad_norm), "images_per_s", num(s->images_per_s),
                          "seconds", num(s->seconds));
    if (o && t->ema) json_object_set_new(o, "ema_val_acc", num(s->ema_val_acc));
    if (o) json_object_set_new(o, "update_ratio", ratios ? ratios : json_object());
    if (o && layers) json_object_set_new(o, "layers", layers);
    if (!o) {
        json_decref(ratios);
        json_decref(layers);
        return cn_error_set(err, CN_ERR_NOMEM, "train: metrics line: out of memory");
    }
    int bad = json_dumpf(o, t->metrics, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 ||
              fputc('\n', t->metrics) == EOF || fflush(t->metrics) != 0;
    json_decref(o);
    if (bad)
        return cn_error_set(err, CN_ERR_IO, "train: %s/metrics.jsonl: write failed (epoch %llu)",
                            t->cfg->run_dir, (unsigned long long)t->epoch);
    return CN_OK;
}

static uint64_t config_fingerprint(const cn_train_config *c)
{
    if (c->config_fingerprint) return c->config_fingerprint;
    int64_t ints[7] = {c->epochs, c->batch, (int64_t)c->optim.kind, (int64_t)c->sched.kind,
                       (int64_t)c->sched.unit, (int64_t)c->nan_policy, c->snapshots};
    double reals[5] = {c->optim.momentum, c->optim.weight_decay, c->sched.base_lr,
                       c->sched.gamma, c->ema_decay};
    uint64_t h = cn_fingerprint64(ints, sizeof ints, 0);
    h = cn_fingerprint64(&c->seed, sizeof c->seed, h);
    return cn_fingerprint64(reals, sizeof reals, h);
}

/* The guard: CN_OK to go on with the step, 1 (as *skip) to drop it, or an error. */
static cn_status guard(trainer *t, double v, const char *what, int epoch, int batch, int n,
                       int *skip, cn_error *err)
{
    if (isfinite(v)) return CN_OK;
    if (t->cfg->nan_policy == CN_NAN_SKIP) {
        *skip = 1;
        return CN_OK;
    }
    char where[256];
    cn_train_locate_nonfinite(t->m, n, strcmp(what, "loss") != 0, where, sizeof where);
    return cn_error_set(err, CN_ERR_NUMERIC, "train: step %llu (epoch %d, batch %d): %s is %s%s",
                        (unsigned long long)t->step + 1, epoch, batch, what,
                        isnan(v) ? "nan" : "inf", where);
}

/* Save the model under run_dir/name: a model file with cfg->info, else weights. */
static cn_status save_model(trainer *t, const char *name, const cn_meta_pair *meta, int n_meta,
                            cn_error *err)
{
    if (!t->cfg->run_dir) return CN_OK;
    cn_status st = run_path(t, name, err);
    if (st != CN_OK) return st;
    if (t->cfg->info) return cn_model_file_save(t->path, t->m, t->cfg->info, meta, n_meta, err);
    return cn_model_save_weights(t->m, t->path, meta, n_meta, err);
}

/* Exchange the trainable values with the EMA weights (twice restores them). */
static void swap_ema(trainer *t)
{
    cn_params *ps = cn_model_params(t->m);
    for (size_t i = 0; i < ps->count; i++) {
        cn_real v = ps->values[i];
        ps->values[i] = t->ema[i];
        t->ema[i] = v;
    }
}

static void update_ema(trainer *t)
{
    cn_params *ps = cn_model_params(t->m);
    cn_real d = (cn_real)t->cfg->ema_decay, e = (cn_real)(1 - t->cfg->ema_decay);
    for (size_t i = 0; i < ps->count; i++) t->ema[i] = d * t->ema[i] + e * ps->values[i];
}

/* Snapshot ensembles: before a schedule step that restarts a cosine_restarts
 * cycle (the learning rate would jump up), save the weights that end the cycle
 * (not after the run's last step: model.safetensors holds those). */
static cn_status maybe_snapshot(trainer *t, cn_error *err)
{
    if (!t->cfg->snapshots || t->cfg->sched.kind != CN_SCHED_COSINE_RESTARTS) return CN_OK;
    cn_schedule next = t->sched;
    double now = cn_sched_lr(&t->sched);
    cn_sched_step(&next);
    if (!(cn_sched_lr(&next) > now)) return CN_OK;
    int k = (int)t->sums[S_SNAPSHOTS] + 1;
    char name[48], stp[32];
    snprintf(name, sizeof name, "snapshot-%d.safetensors", k);
    snprintf(stp, sizeof stp, "%llu", (unsigned long long)t->step + 1);
    cn_meta_pair meta[1] = {{"step", stp}};
    cn_status st = save_model(t, name, meta, 1, err);
    if (st == CN_OK) t->sums[S_SNAPSHOTS] = k;
    return st;
}

/* One mini-batch step. *stop is set when the progress callback asks to stop. */
static cn_status train_step(trainer *t, const cn_dataset *train, int e, int bi, int n_batches,
                            const cn_progress *prog, cn_train_report *rep, int *stop,
                            cn_error *err)
{
    const cn_train_config *cfg = t->cfg;
    int b = cfg->batch, n = train->n;
    int from = bi * b, nb = n - from < b ? n - from : b;
    gather(t, train, t->order, from, nb);
    cn_target tg = {.labels = t->labels, .values = NULL};
    double loss = 0, gn = 0;
    int skip = 0;
    cn_status st;
    if (cfg->augment && (st = cn_train_augment_batch(cfg, t->x, nb, t->c, t->h, t->w, e, from,
                                                     t->aug, err)) != CN_OK)
        return st;
    cn_zero_grad(t->m);
    st = cn_model_forward(t->m, nb, t->x, &tg, CN_TRAIN, &t->drop_rng, &loss, err);
    if (st != CN_OK) return st;
    if ((st = guard(t, loss, "loss", e, bi + 1, nb, &skip, err)) != CN_OK) return st;
    int ok = 0;
    if (!skip) {
        ok = count_correct(t, nb);
        if ((st = cn_model_backward(t->m, err)) != CN_OK) return st;
        gn = cn_optim_grad_norm(t->opt);
        if ((st = guard(t, gn, "gradient norm", e, bi + 1, nb, &skip, err)) != CN_OK) return st;
    }
    double lr = cn_sched_lr(&t->sched);
    if (skip) {
        cn_zero_grad(t->m);
        t->sums[S_SKIPPED] += 1;
    } else {
        /* monitors sample about 8 steps per epoch: a copy of every parameter and
         * its norms on every step would cost as much as a small model's step */
        int every = n_batches >= 8 ? n_batches / 8 : 1, sampled = bi % every == 0;
        if (cfg->monitor && sampled && (st = cn_monitor_observe(t->mon, nb, err)) != CN_OK)
            return st;
        if (cfg->momentum_schedule &&
            (st = cn_optim_set_momentum(t->opt, cn_sched_lr(&t->msched), err)) != CN_OK)
            return st;
        if (sampled) cn_monitor_before_step(t->mon);
        if ((st = cn_optim_step(t->opt, lr, &gn, err)) != CN_OK) return st;
        if (sampled) cn_monitor_after_step(t->mon);
        if (t->ema) update_ema(t);
        t->sums[S_LOSS] += loss * nb;
        t->sums[S_SEEN] += nb;
        t->sums[S_OK] += ok;
        t->sums[S_NORM] += gn;
        t->sums[S_NORMED] += 1;
    }
    t->sums[S_LR] = lr;
    if (cfg->momentum_schedule && cfg->momentum_sched.unit == CN_SCHED_PER_STEP)
        cn_sched_step(&t->msched);
    if (cfg->sched.unit == CN_SCHED_PER_STEP) {
        int last = e == cfg->epochs && bi == n_batches - 1; /* model.safetensors */
        if (!last && (st = maybe_snapshot(t, err)) != CN_OK) return st;
        cn_sched_step(&t->sched);
    }
    t->step++;
    rep->steps = t->step;
    rep->skipped_steps = (uint64_t)t->sums[S_SKIPPED];
    cn_train_steps_write(t->steps, t->step, e, skip ? NAN : loss, lr);
    if (cfg->checkpoint_every > 0 && t->step % (uint64_t)cfg->checkpoint_every == 0) {
        if (t->steps) fflush(t->steps); /* the log holds every step the checkpoint has */
        if ((st = save_checkpoint(t, err)) != CN_OK) return st;
    }
    if (cfg->on_step) {
        double secs = t->sums[S_SECONDS] + (cn_time_now() - t->epoch_t0), seen = t->sums[S_SEEN];
        cn_train_step info = {.epoch = e, .epochs = cfg->epochs, .batch = bi + 1,
                              .batches = n_batches, .step = t->step, .loss = skip ? NAN : loss,
                              .lr = lr, .epoch_loss = seen > 0 ? t->sums[S_LOSS] / seen : NAN,
                              .epoch_acc = seen > 0 ? t->sums[S_OK] / seen : NAN,
                              .images_per_s = secs > 0 ? seen / secs : 0, .seconds = secs};
        cfg->on_step(cfg->on_step_ud, &info);
    }
    char stage[32];
    snprintf(stage, sizeof stage, "epoch %d", e);
    if (cn_progress_report(prog, stage, (size_t)bi + 1, (size_t)n_batches)) *stop = 1;
    return CN_OK;
}

/* Validation of the EMA weights (swapped in and back). */
static cn_status evaluate_ema(trainer *t, const cn_dataset *val, double *acc, cn_error *err)
{
    double loss;
    swap_ema(t);
    cn_status st = evaluate(t, val, acc, &loss, err);
    swap_ema(t);
    return st;
}

static cn_status cancelled(trainer *t, int e, cn_error *err)
{
    cn_status st = save_checkpoint(t, err);
    if (st != CN_OK) return st;
    return cn_error_set(err, CN_ERR_ARG, "train: cancelled at step %llu (epoch %d)",
                        (unsigned long long)t->step, e);
}

/* After the epoch's steps: validation, schedule, metrics, best model, callback.
 * *stop: early stopping (1) or the callback asked to stop (2). */
static cn_status end_epoch(trainer *t, const cn_dataset *train, const cn_dataset *val, int e,
                           double t0, cn_train_report *rep, int *stop, cn_error *err)
{
    const cn_train_config *cfg = t->cfg;
    cn_status st;
    double train_seconds = t->sums[S_SECONDS] + (cn_time_now() - t0);
    double seen = t->sums[S_SEEN];
    epoch_stats s;
    s.loss = seen > 0 ? t->sums[S_LOSS] / seen : NAN;
    s.lr = t->sums[S_LR];
    s.train_acc = seen > 0 ? t->sums[S_OK] / seen : 0;
    s.grad_norm = t->sums[S_NORMED] > 0 ? t->sums[S_NORM] / t->sums[S_NORMED] : NAN;
    s.images_per_s = train_seconds > 0 ? train->n / train_seconds : 0;
    s.val_acc = -1;
    s.val_loss = NAN;
    s.ema_val_acc = NAN;
    if (val && (st = evaluate(t, val, &s.val_acc, &s.val_loss, err)) != CN_OK) return st;
    if (val && t->ema && (st = evaluate_ema(t, val, &s.ema_val_acc, err)) != CN_OK) return st;
    s.seconds = cn_time_now() - t0 + t->sums[S_SECONDS];
    t->epoch = (uint64_t)e;
    rep->epochs_run = e;
    rep->final_train_acc = s.train_acc;
    rep->final_loss = s.loss;
    rep->final_val_acc = s.val_acc;
    rep->final_val_loss = s.val_loss;
    rep->ema_val_acc = s.ema_val_acc;
    if (cfg->sched.unit == CN_SCHED_PER_EPOCH) {
        if (cfg->sched.kind == CN_SCHED_PLATEAU) {
            double metric = !val ? s.loss
                            : cfg->sched.mode == CN_SCHED_MODE_MAX ? s.val_acc
                                                                   : s.val_loss;
            if ((st = cn_sched_step_metric(&t->sched, metric, err)) != CN_OK) return st;
        } else {
            if (e < cfg->epochs && (st = maybe_snapshot(t, err)) != CN_OK) return st;
            cn_sched_step(&t->sched);
        }
    }
    if (cfg->momentum_schedule && cfg->momentum_sched.unit == CN_SCHED_PER_EPOCH)
        cn_sched_step(&t->msched);
    if ((st = write_metrics(t, &s, val != NULL, err)) != CN_OK) return st;
    int improved = 0;
    if (val && s.val_acc > t->sums[S_BEST_ACC]) {
        improved = 1;
        t->sums[S_BEST_ACC] = s.val_acc;
        t->sums[S_BEST_EPOCH] = e;
        t->sums[S_BAD_EPOCHS] = 0;
        char ep[32], acc[32];
        snprintf(ep, sizeof ep, "%d", e);
        snprintf(acc, sizeof acc, "%.6f", s.val_acc);
        cn_meta_pair meta[2] = {{"epoch", ep}, {"val_acc", acc}};
        if ((st = save_model(t, "best.safetensors", meta, 2, err)) != CN_OK) return st;
    } else if (val) {
        t->sums[S_BAD_EPOCHS] += 1;
    }
    rep->best_val_acc = val ? t->sums[S_BEST_ACC] : -1;
    rep->best_epoch = (int)t->sums[S_BEST_EPOCH];
    if (cfg->on_epoch) {
        cn_train_epoch info = {e, cfg->epochs, t->step, s.loss, s.lr, s.train_acc,
                               val ? s.val_acc : NAN, s.val_loss, s.grad_norm, s.images_per_s,
                               s.seconds, s.ema_val_acc, improved, t->mon,
                               val ? cn_gap_reading(s.train_acc, s.val_acc)
                                   : cn_gap_reading(NAN, NAN)};
        if (cfg->on_epoch(cfg->on_epoch_ud, &info)) *stop = 2;
    }
    cn_monitor_reset(t->mon);
    for (int i = S_LOSS; i <= S_SECONDS; i++) t->sums[i] = 0;
    if (*stop == 0 && val && cfg->patience > 0 && t->sums[S_BAD_EPOCHS] >= cfg->patience) {
        rep->stopped_early = 1;
        *stop = 1;
    }
    return CN_OK;
}

static cn_status train_loop(trainer *t, const cn_dataset *train, const cn_dataset *val,
                            cn_train_report *rep, const cn_progress *prog, cn_error *err)
{
    const cn_train_config *cfg = t->cfg;
    int b = cfg->batch, n = train->n;
    int n_batches = (n + b - 1) / b;
    cn_status st;
    for (int e = (int)t->epoch + 1; e <= cfg->epochs; e++) {
        double t0 = cn_time_now();
        t->epoch_t0 = t0;
        int b0 = 0;
        if (t->resume_batch >= 0) {
            b0 = t->resume_batch; /* order and sums came from the checkpoint */
            t->resume_batch = -1;
        } else {
            for (int i = 0; i < n; i++) t->order[i] = i;
            cn_rng_shuffle(&t->shuffle_rng, t->order, (size_t)n);
        }
        for (int bi = b0; bi < n_batches; bi++) {
            int stop = 0;
            st = train_step(t, train, e, bi, n_batches, prog, rep, &stop, err);
            if (st != CN_OK) return st;
            if (stop) {
                t->sums[S_SECONDS] += cn_time_now() - t0;
                return cancelled(t, e, err);
            }
        }
        int stop = 0;
        if ((st = end_epoch(t, train, val, e, t0, rep, &stop, err)) != CN_OK) return st;
        if (stop == 2) return cancelled(t, e, err);
        if (stop == 1) break;
    }
    cn_meta_pair meta[1] = {{"step", NULL}};
    char stp[32];
    snprintf(stp, sizeof stp, "%llu", (unsigned long long)t->step);
    meta[0].value = stp;
    if ((st = save_model(t, "model.safetensors", meta, 1, err)) != CN_OK) return st;
    if (t->ema) {
        swap_ema(t);
        st = save_model(t, "ema.safetensors", meta, 1, err);
        swap_ema(t);
    }
    return st;
}

/* Continue from cfg->resume: everything the checkpoint holds, then the checks. */
static cn_status resume(trainer *t, int n_batches, cn_train_report *rep, cn_error *err)
{
    const cn_train_config *cfg = t->cfg;
    cn_train_state ts;
    memset(&ts, 0, sizeof ts);
    cn_status st = cn_checkpoint_load(cfg->resume, t->m, t->opt, &t->sched, &ts, err);
    if (st != CN_OK) return st;
    if (!cfg->force_resume &&
        (ts.data_fingerprint != t->data_fp || ts.config_fingerprint != t->config_fp)) {
        st = cn_error_set(err, CN_ERR_ARG,
                          "train: %s: refusing to resume: %s fingerprint differs (checkpoint "
                          "%016llx, this run %016llx); force to resume anyway",
                          cfg->resume,
                          ts.data_fingerprint != t->data_fp ? "data" : "configuration",
                          (unsigned long long)(ts.data_fingerprint != t->data_fp
                                                   ? ts.data_fingerprint
                                                   : ts.config_fingerprint),
                          (unsigned long long)(ts.data_fingerprint != t->data_fp
                                                   ? t->data_fp
                                                   : t->config_fp));
        goto done;
    }
    uint64_t done_batches = ts.step - ts.epoch * (uint64_t)n_batches;
    if (ts.step < ts.epoch * (uint64_t)n_batches || done_batches > (uint64_t)n_batches ||
        ts.n_rngs != 2 || ts.n_sums != S_COUNT ||
        (ts.n_order != 0 && ts.n_order != (size_t)t->n_order) ||
        (done_batches > 0 && ts.n_order == 0) || (t->ema && ts.n_ema == 0)) {
        st = cn_error_set(err, CN_ERR_FORMAT,
                          "train: %s: the checkpoint's state (step %llu, epoch %llu, %zu in "
                          "the data order, %d sums) does not fit this run",
                          cfg->resume, (unsigned long long)ts.step,
                          (unsigned long long)ts.epoch, ts.n_order, ts.n_sums);
        goto done;
    }
    t->step = ts.step;
    t->epoch = ts.epoch;
    t->shuffle_rng = ts.rngs[0];
    t->drop_rng = ts.rngs[1];
    for (int i = 0; i < S_COUNT; i++) t->sums[i] = ts.sums[i];
    if (ts.n_order) memcpy(t->order, ts.order, ts.n_order * sizeof(int));
    if (t->ema) memcpy(t->ema, ts.ema, ts.n_ema * sizeof(cn_real));
    if (cfg->momentum_schedule) {
        uint64_t k = cfg->momentum_sched.unit == CN_SCHED_PER_STEP ? ts.step : ts.epoch;
        for (uint64_t i = 0; i < k; i++) cn_sched_step(&t->msched);
    }
    t->resume_batch = done_batches > 0 ? (int)done_batches : -1;
    if (done_batches == (uint64_t)n_batches) t->resume_batch = n_batches;
    if ((st = cn_train_trim_metrics(cfg->run_dir, ts.epoch, err)) != CN_OK) goto done;
    rep->resumed = 1;
    rep->resumed_step = ts.step;
    rep->steps = ts.step;
done:
    cn_train_state_release(&ts);
    return st;
}

cn_status cn_train(cn_model *m, const cn_dataset *train, const cn_dataset *val,
                   const cn_train_config *cfg, cn_train_report *rep, const cn_progress *prog,
                   cn_error *err)
{
    cn_train_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    rep->best_val_acc = -1;
    rep->final_val_acc = -1;
    rep->final_val_loss = NAN;
    rep->final_loss = NAN;
    rep->ema_val_acc = NAN;
    if (!m || !train || !cfg) return cn_error_set(err, CN_ERR_ARG, "train: NULL argument");
    cn_status st = cn_train_check_config(cfg, err);
    if (st != CN_OK) return st;
    trainer t;
    memset(&t, 0, sizeof t);
    t.m = m;
    t.cfg = cfg;
    t.resume_batch = -1;
    t.sums[S_BEST_ACC] = -1;
    cn_params *ps = cn_model_params(m);
    if (!ps) return cn_error_set(err, CN_ERR_ARG, "train: the model is not compiled");
    t.out_node = cn_model_output(m);
    int nd, shape[CN_MAX_DIMS];
    if ((st = cn_model_node_shape(m, t.out_node, &nd, shape, err)) != CN_OK) return st;
    if (nd != 1 || shape[0] < 1)
        return cn_error_set(err, CN_ERR_ARG,
                            "train: prediction node '%s' must output (classes), has %d dims",
                            cn_model_node_name(m, t.out_node), nd);
    t.classes = shape[0];
    if ((st = check_data(&t, train, "training", err)) != CN_OK) return st;
    if (val && (st = check_data(&t, val, "validation", err)) != CN_OK) return st;
    if (val && (val->c != train->c || val->h != train->h || val->w != train->w))
        return cn_error_set(err, CN_ERR_ARG, "train: validation images (%d, %d, %d) differ from "
                            "training images (%d, %d, %d)", val->c, val->h, val->w, train->c,
                            train->h, train->w);
    t.sample = train->c * train->h * train->w;
    t.c = train->c;
    t.h = train->h;
    t.w = train->w;
    if ((st = cn_train_check_augment(cfg, t.c, t.h, t.w, err)) != CN_OK) return st;
    if ((st = cn_sched_init(&t.sched, &cfg->sched, err)) != CN_OK) return st;
    if (cfg->momentum_schedule && (st = cn_sched_init(&t.msched, &cfg->momentum_sched, err)) !=
                                      CN_OK)
        return cn_error_prefix(err, "train: momentum schedule: ");
    if (cfg->threads > 0) cn_set_num_threads(cfg->threads);
    cn_rng_seed(&t.shuffle_rng, cfg->seed, 1);
    cn_rng_seed(&t.drop_rng, cfg->seed, 2);
    t.data_fp = cn_fingerprint64(cn_dataset_flat(train),
                                 (size_t)train->n * t.sample * sizeof(cn_real), 0);
    t.data_fp = cn_fingerprint64(train->labels, (size_t)train->n * sizeof(int), t.data_fp);
    t.config_fp = config_fingerprint(cfg);
    t.n_order = train->n;
    t.x = cn_malloc((size_t)cfg->batch * t.sample * sizeof(cn_real)); // (batch, c*h*w)
    t.labels = cn_malloc((size_t)cfg->batch * sizeof(int));         // (batch)
    t.order = cn_malloc((size_t)train->n * sizeof(int));             // (n)
    if (cfg->ema_decay > 0) t.ema = cn_malloc((ps->count ? ps->count : 1) * sizeof(cn_real));
    if (cfg->augment) t.aug = cn_malloc((size_t)t.sample * sizeof(cn_real)); // (c, h, w)
    if (!t.x || !t.labels || !t.order || (cfg->ema_decay > 0 && !t.ema) ||
        (cfg->augment && !t.aug)) {
        st = cn_error_set(err, CN_ERR_NOMEM, "train: out of memory for a batch of %d",
                          cfg->batch);
        goto done;
    }
    if (t.ema) memcpy(t.ema, ps->values, ps->count * sizeof(cn_real));
    t.opt = cn_optim_new(&cfg->optim, ps, err);
    if (!t.opt) {
        st = err ? err->code : CN_ERR_NOMEM;
        goto done;
    }
    t.mon = cn_monitor_new(m, CN_MONITOR_DEFAULT_BINS, err);
    if (!t.mon) {
        st = err ? err->code : CN_ERR_NOMEM;
        goto done;
    }
    cn_train_remove_stale_temps(cfg->run_dir);
    if (cfg->resume) {
        int n_batches = (train->n + cfg->batch - 1) / cfg->batch;
        if ((st = resume(&t, n_batches, rep, err)) != CN_OK) goto done;
    }
    if (cfg->run_dir) {
        if ((st = run_path(&t, "metrics.jsonl", err)) != CN_OK) goto done;
        t.metrics = fopen(t.path, cfg->resume ? "a" : "w");
        if (!t.metrics) {
            st = cn_error_set(err, CN_ERR_IO, "train: %s: cannot create: %s", t.path,
                              strerror(errno));
            goto done;
        }
    }
    if ((st = cn_train_steps_open(cfg->run_dir, cfg->resume != NULL, t.step, &t.steps, err)) !=
        CN_OK)
        goto done;
    st = train_loop(&t, train, val, rep, prog, err);
done:
    if (t.metrics && fclose(t.metrics) != 0 && st == CN_OK)
        st = cn_error_set(err, CN_ERR_IO, "train: %s/metrics.jsonl: close failed",
                          cfg->run_dir);
    cn_status sc = cn_train_steps_close(t.steps, cfg->run_dir, st == CN_OK ? err : NULL);
    if (st == CN_OK) st = sc;
    cn_free(t.aug);
    rep->snapshots = (int)t.sums[S_SNAPSHOTS];
    cn_monitor_free(t.mon);
    cn_optim_free(t.opt);
    cn_free(t.x);
    cn_free(t.labels);
    cn_free(t.order);
    cn_free(t.ema);
    return st;
}
