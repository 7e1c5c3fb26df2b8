/* trainer.c: the trainer's core loop (convnet/train.h): seeded shuffling,
 * mini-batch steps with the NaN/Inf guard, the schedule, validation, metrics
 * lines in run_dir/metrics.jsonl, the best model, early stopping, periodic and
 * cancellation checkpoints. docs/train.md describes the order of events. */
#include "convnet/train.h"

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

/* The run's working state, so helpers and the cleanup see one place. */
typedef struct trainer {
    cn_model *m;
    const cn_train_config *cfg;
    cn_optimizer *opt;
    cn_schedule sched;
    cn_rng shuffle_rng, drop_rng;
    int out_node, classes, sample;  /* prediction node, its width, c*h*w */
    cn_real *x;                     /* (batch, sample) gathered images */
    int *labels;                    /* (batch) */
    int *order;                     /* (train n) this epoch's order */
    int n_order;
    uint64_t step, epoch;           /* steps taken, epochs completed */
    uint64_t data_fp, config_fp;
    FILE *metrics;
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

static cn_status check_config(const cn_train_config *c, cn_error *err)
{
    if (c->epochs < 1)
        return cn_error_set(err, CN_ERR_ARG, "train: epochs = %d: must be >= 1", c->epochs);
    if (c->batch < 1)
        return cn_error_set(err, CN_ERR_ARG, "train: batch = %d: must be >= 1", c->batch);
    if (c->patience < 0)
        return cn_error_set(err, CN_ERR_ARG, "train: patience = %d: must be >= 0",
                            c->patience);
    if (c->checkpoint_every < 0)
        return cn_error_set(err, CN_ERR_ARG, "train: checkpoint_every = %d: must be >= 0",
                            c->checkpoint_every);
    if ((int)c->nan_policy < 0 || c->nan_policy >= CN_NAN_POLICY_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "train: nan_policy = %d: unknown",
                            (int)c->nan_policy);
    if (c->threads < 0)
        return cn_error_set(err, CN_ERR_ARG, "train: threads = %d: must be >= 0", c->threads);
    if ((int)c->sched.unit < 0 || c->sched.unit >= CN_SCHED_UNIT_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "train: schedule unit = %d: unknown",
                            (int)c->sched.unit);
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
    return cn_checkpoint_save(t->path, t->m, t->opt, &t->sched, &ts, err);
}

/* A JSON number, or null for NaN / Inf (JSON has no such numbers). */
static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

typedef struct epoch_stats {
    double loss, lr, train_acc, val_acc, val_loss, grad_norm, images_per_s, seconds;
} epoch_stats;

static cn_status write_metrics(trainer *t, const epoch_stats *s, int has_val, cn_error *err)
{
    if (!t->metrics) return CN_OK;
    json_t *o = json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "epoch",
                          (json_int_t)t->epoch, "step", (json_int_t)t->step, "loss",
                          num(s->loss), "lr", num(s->lr), "train_acc", num(s->train_acc),
                          "val_acc", has_val ? num(s->val_acc) : json_null(), "val_loss",
                          has_val ? num(s->val_loss) : json_null(), "grad_norm",
                          num(s->grad_norm), "images_per_s", num(s->images_per_s),
                          "seconds", num(s->seconds));
    if (!o) return cn_error_set(err, CN_ERR_NOMEM, "train: metrics line: out of memory");
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
    int64_t ints[6] = {c->epochs, c->batch, (int64_t)c->optim.kind, (int64_t)c->sched.kind,
                       (int64_t)c->sched.unit, (int64_t)c->nan_policy};
    double reals[4] = {c->optim.momentum, c->optim.weight_decay, c->sched.base_lr,
                       c->sched.gamma};
    uint64_t h = cn_fingerprint64(ints, sizeof ints, 0);
    h = cn_fingerprint64(&c->seed, sizeof c->seed, h);
    return cn_fingerprint64(reals, sizeof reals, h);
}

/* The guard: CN_OK to go on with the step, 1 (as *skip) to drop it, or an error. */
static cn_status guard(trainer *t, double v, const char *what, int epoch, int batch, int *skip,
                       cn_error *err)
{
    if (isfinite(v)) return CN_OK;
    if (t->cfg->nan_policy == CN_NAN_SKIP) {
        *skip = 1;
        return CN_OK;
    }
    return cn_error_set(err, CN_ERR_NUMERIC, "train: step %llu (epoch %d, batch %d): %s is %s",
                        (unsigned long long)t->step + 1, epoch, batch, what,
                        isnan(v) ? "nan" : "inf");
}

static cn_status train_loop(trainer *t, const cn_dataset *train, const cn_dataset *val,
                            cn_train_report *rep, const cn_progress *prog, cn_error *err)
{
    const cn_train_config *cfg = t->cfg;
    int b = cfg->batch, n = train->n;
    int n_batches = (n + b - 1) / b;
    int bad_epochs = 0;
    cn_status st;
    for (int e = 1; e <= cfg->epochs; e++) {
        double t0 = cn_time_now();
        for (int i = 0; i < n; i++) t->order[i] = i;
        cn_rng_shuffle(&t->shuffle_rng, t->order, (size_t)n);
        double loss_sum = 0, norm_sum = 0, lr = cn_sched_lr(&t->sched);
        long ok = 0, seen = 0, normed = 0;
        char stage[32];
        snprintf(stage, sizeof stage, "epoch %d", e);
        for (int bi = 0; bi < n_batches; bi++) {
            int from = bi * b, nb = n - from < b ? n - from : b;
            gather(t, train, t->order, from, nb);
            cn_target tg = {.labels = t->labels, .values = NULL};
            double loss = 0, gn = 0;
            int skip = 0;
            cn_zero_grad(t->m);
            st = cn_model_forward(t->m, nb, t->x, &tg, CN_TRAIN, &t->drop_rng, &loss, err);
            if (st != CN_OK) return st;
            if ((st = guard(t, loss, "loss", e, bi + 1, &skip, err)) != CN_OK) return st;
            if (!skip) {
                ok += count_correct(t, nb);
                if ((st = cn_model_backward(t->m, err)) != CN_OK) return st;
                gn = cn_optim_grad_norm(t->opt);
                if ((st = guard(t, gn, "gradient norm", e, bi + 1, &skip, err)) != CN_OK)
                    return st;
            }
            lr = cn_sched_lr(&t->sched);
            if (skip) {
                cn_zero_grad(t->m);
                rep->skipped_steps++;
            } else {
                if ((st = cn_optim_step(t->opt, lr, &gn, err)) != CN_OK) return st;
                loss_sum += loss * nb;
                seen += nb;
                norm_sum += gn;
                normed++;
            }
            if (cfg->sched.unit == CN_SCHED_PER_STEP) cn_sched_step(&t->sched);
            t->step++;
            rep->steps = t->step;
            if (cfg->checkpoint_every > 0 && t->step % (uint64_t)cfg->checkpoint_every == 0 &&
                (st = save_checkpoint(t, err)) != CN_OK)
                return st;
            if (cn_progress_report(prog, stage, (size_t)bi + 1, (size_t)n_batches)) {
                if ((st = save_checkpoint(t, err)) != CN_OK) return st;
                return cn_error_set(err, CN_ERR_ARG, "train: cancelled at step %llu (epoch %d)",
                                    (unsigned long long)t->step, e);
            }
        }
        double train_seconds = cn_time_now() - t0;
        epoch_stats s;
        s.loss = seen ? loss_sum / seen : NAN;
        s.lr = lr;
        s.train_acc = seen ? (double)ok / seen : 0;
        s.grad_norm = normed ? norm_sum / normed : NAN;
        s.images_per_s = train_seconds > 0 ? n / train_seconds : 0;
        s.val_acc = -1;
        s.val_loss = NAN;
        if (val && (st = evaluate(t, val, &s.val_acc, &s.val_loss, err)) != CN_OK) return st;
        s.seconds = cn_time_now() - t0;
        t->epoch = (uint64_t)e;
        rep->epochs_run = e;
        rep->final_train_acc = s.train_acc;
        rep->final_loss = s.loss;
        rep->final_val_acc = s.val_acc;
        rep->final_val_loss = s.val_loss;
        if (cfg->sched.unit == CN_SCHED_PER_EPOCH) {
            if (cfg->sched.kind == CN_SCHED_PLATEAU) {
                double metric = !val ? s.loss
                                : cfg->sched.mode == CN_SCHED_MODE_MAX ? s.val_acc
                                                                       : s.val_loss;
                if ((st = cn_sched_step_metric(&t->sched, metric, err)) != CN_OK) return st;
            } else {
                cn_sched_step(&t->sched);
            }
        }
        if ((st = write_metrics(t, &s, val != NULL, err)) != CN_OK) return st;
        if (!val) continue;
        if (s.val_acc > rep->best_val_acc) {
            rep->best_val_acc = s.val_acc;
            rep->best_epoch = e;
            bad_epochs = 0;
            if (cfg->run_dir) {
                if ((st = run_path(t, "best.safetensors", err)) != CN_OK) return st;
                char ep[32];
                snprintf(ep, sizeof ep, "%d", e);
                cn_meta_pair meta[1] = {{"epoch", ep}};
                st = cn_model_save_weights(t->m, t->path, meta, 1, err);
                if (st != CN_OK) return st;
            }
        } else if (cfg->patience > 0 && ++bad_epochs >= cfg->patience) {
            rep->stopped_early = 1;
            break;
        }
    }
    return CN_OK;
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
    if (!m || !train || !cfg) return cn_error_set(err, CN_ERR_ARG, "train: NULL argument");
    cn_status st = check_config(cfg, err);
    if (st != CN_OK) return st;
    trainer t;
    memset(&t, 0, sizeof t);
    t.m = m;
    t.cfg = cfg;
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
    if ((st = cn_sched_init(&t.sched, &cfg->sched, err)) != CN_OK) return st;
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
    if (!t.x || !t.labels || !t.order) {
        st = cn_error_set(err, CN_ERR_NOMEM, "train: out of memory for a batch of %d",
                          cfg->batch);
        goto done;
    }
    t.opt = cn_optim_new(&cfg->optim, ps, err);
    if (!t.opt) {
        st = err ? err->code : CN_ERR_NOMEM;
        goto done;
    }
    if (cfg->run_dir) {
        if ((st = run_path(&t, "metrics.jsonl", err)) != CN_OK) goto done;
        t.metrics = fopen(t.path, "w");
        if (!t.metrics) {
            st = cn_error_set(err, CN_ERR_IO, "train: %s: cannot create: %s", t.path,
                              strerror(errno));
            goto done;
        }
    }
    st = train_loop(&t, train, val, rep, prog, err);
done:
    if (t.metrics && fclose(t.metrics) != 0 && st == CN_OK)
        st = cn_error_set(err, CN_ERR_IO, "train: %s/metrics.jsonl: close failed",
                          cfg->run_dir);
    cn_optim_free(t.opt);
    cn_free(t.x);
    cn_free(t.labels);
    cn_free(t.order);
    return st;
}
