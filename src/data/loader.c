/* src/data/loader.c: the batch loader: per-epoch sample lists from the seed
 * (shuffled, class-balanced, over- or under-sampled), batching with drop-last,
 * a per-sample transform with an RNG derived only from (seed, epoch, position),
 * and background prefetch on a pool of pthreads filling a ring of batch slots.
 *
 * Threading: workers claim batch numbers in increasing order under one mutex and
 * fill slot (batch % nslots) outside it; batch b may be claimed only once the
 * caller has released batch b - nslots, so at most nslots batches (the one the
 * caller holds plus the ready queue) exist at a time. The caller takes batches
 * strictly in order, waiting for the one it needs, so what it receives never
 * depends on which worker ran when. Cancelling (a new epoch, or free) stops
 * claims, raises an atomic flag the workers check between samples and waits
 * until no worker is busy. */
#include "convnet/loader.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define LOADER_SAMPLE_STREAM 0x53414d504c45ULL /* "SAMPLE": per-sample transform RNGs */
#define LOADER_EPOCH_STREAM 0x45504f4348ULL    /* "EPOCH": the epoch's shuffle / draws */

/* slot: one batch buffer of the ring. */
typedef struct slot {
    cn_real *x;    /* (batch, oc, oh, ow) */
    int *y;        /* (batch) */
    long batch;    /* batch number held when ready */
    int ready;     /* filled and not yet taken by the caller */
    int count;     /* samples in it */
    cn_status st;  /* CN_OK, or the transform's failure */
    cn_error err;
} slot;

struct cn_loader {
    const cn_dataset *ds;
    cn_sample_transform tf; /* copy; apply NULL = identity */
    int batch, shuffle, drop_last, workers, nslots, epoch_size;
    cn_sampler_kind sampler;
    uint64_t seed;
    size_t in_numel, out_numel; /* c*h*w and oc*oh*ow */

    int *cand;        /* (n_cand) candidate records */
    int *cand_labels; /* (n_cand) their labels (class samplers only) */
    int n_cand;

    int *order; /* (n_order) this epoch's records in delivery order */
    int n_order, epoch, nb, started;

    slot *slots; /* (nslots) */

    /* threads; every field below is guarded by mu except cancel */
    pthread_mutex_t mu;
    pthread_cond_t cv_work; /* workers: a batch may be claimable, or shutdown */
    pthread_cond_t cv_done; /* caller: a slot became ready or a worker went idle */
    pthread_t *threads;     /* (nthreads) */
    int nthreads, sync_init;
    int active, shutdown, busy, stop_claims, holding;
    long next_claim, next_deliver, released;
    atomic_int cancel;

    cn_status fail_st; /* sticky failure of the current epoch */
    cn_error fail_err;
};

/* mix64: the splitmix64 step (Steele et al. 2014), a bijective 64-bit hash. */
static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void cn_loader_sample_rng(uint64_t seed, int epoch, int64_t pos, cn_rng *out) {
    uint64_t h = mix64(mix64(mix64(seed) ^ (uint64_t)(uint32_t)epoch) ^ (uint64_t)pos);
    cn_rng_seed(out, h, LOADER_SAMPLE_STREAM);
}

void cn_loader_epoch_rng(uint64_t seed, int epoch, cn_rng *out) {
    cn_rng_seed(out, mix64(mix64(seed) ^ (uint64_t)(uint32_t)epoch), LOADER_EPOCH_STREAM);
}

cn_loader_opts cn_loader_opts_default(void) {
    cn_loader_opts o;
    memset(&o, 0, sizeof o);
    o.batch = 64;
    o.shuffle = 1;
    o.sampler = CN_SAMPLER_SEQUENTIAL;
    return o;
}

/* fill_batch: transform the samples of batch b into x (count, oc, oh, ow) and
 * their labels into y; stops at the first failing sample (err names it) or when
 * cancelled. Reads only state that is fixed while the epoch runs. */
static cn_status fill_batch(cn_loader *l, long b, cn_real *x, int *y, int *count,
                            cn_error *err) {
    long start = b * (long)l->batch;
    long end = start + l->batch < l->n_order ? start + l->batch : l->n_order;
    const cn_real *images = l->ds->images->data; // (n, c, h, w)
    *count = 0;
    for (long pos = start; pos < end; pos++) {
        if (atomic_load_explicit(&l->cancel, memory_order_relaxed))
            return cn_error_set(err, CN_ERR_ARG, "loader: epoch %d cancelled", l->epoch);
        int rec = l->order[pos];
        const cn_real *in = images + (size_t)rec * l->in_numel;
        cn_real *out = x + (size_t)(pos - start) * l->out_numel;
        y[pos - start] = l->ds->labels[rec];
        if (!l->tf.apply) {
            memcpy(out, in, l->in_numel * sizeof *in);
            continue;
        }
        cn_rng rng;
        cn_loader_sample_rng(l->seed, l->epoch, pos, &rng);
        cn_error_clear(err);
        cn_status st = l->tf.apply(l->tf.ctx, in, out, &rng, err);
        if (st != CN_OK) {
            if (!err || err->code == CN_OK) cn_error_set(err, st, "transform failed");
            cn_error_prefix(err, "loader: epoch %d, position %ld (record %d): ", l->epoch,
                            pos, rec);
            return st;
        }
    }
    *count = (int)(end - start);
    return CN_OK;
}

/* can_claim: whether a worker may take batch next_claim now (mu held). */
static int can_claim(const cn_loader *l) {
    return l->active && !l->stop_claims && l->next_claim < l->nb &&
           l->next_claim < l->released + l->nslots;
}

static void *worker_main(void *arg) {
    cn_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->shutdown && !can_claim(l)) pthread_cond_wait(&l->cv_work, &l->mu);
        if (l->shutdown) break;
        long b = l->next_claim++;
        slot *s = &l->slots[b % l->nslots];
        l->busy++;
        pthread_mutex_unlock(&l->mu);

        cn_error e;
        cn_error_clear(&e);
        int count = 0;
        cn_status st = fill_batch(l, b, s->x, s->y, &count, &e);

        pthread_mutex_lock(&l->mu);
        l->busy--;
        s->batch = b;
        s->count = count;
        s->st = st;
        s->err = e;
        s->ready = 1;
        if (st != CN_OK) l->stop_claims = 1; /* later batches will not be delivered */
        pthread_cond_broadcast(&l->cv_done);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* quiesce: stop the current epoch and wait until no worker is busy. */
static void quiesce(cn_loader *l) {
    if (l->nthreads == 0) return;
    pthread_mutex_lock(&l->mu);
    l->active = 0;
    atomic_store(&l->cancel, 1);
    while (l->busy > 0) pthread_cond_wait(&l->cv_done, &l->mu);
    atomic_store(&l->cancel, 0);
    pthread_mutex_unlock(&l->mu);
}

/* stop_threads: ask every worker to exit and join them. */
static void stop_threads(cn_loader *l) {
    if (l->nthreads == 0) return;
    pthread_mutex_lock(&l->mu);
    l->shutdown = 1;
    l->active = 0;
    atomic_store(&l->cancel, 1);
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->nthreads; i++) pthread_join(l->threads[i], NULL);
    l->nthreads = 0;
}

void cn_loader_free(cn_loader *l) {
    if (!l) return;
    stop_threads(l);
    if (l->sync_init) {
        pthread_cond_destroy(&l->cv_done);
        pthread_cond_destroy(&l->cv_work);
        pthread_mutex_destroy(&l->mu);
    }
    if (l->slots) {
        for (int i = 0; i < l->nslots; i++) {
            cn_aligned_free(l->slots[i].x);
            cn_free(l->slots[i].y);
        }
    }
    cn_free(l->slots);
    cn_free(l->threads);
    cn_free(l->order);
    cn_free(l->cand_labels);
    cn_free(l->cand);
    cn_free(l);
}

/* check_opts: validate o against ds and tf; fills the element counts. */
static cn_status check_opts(const cn_dataset *ds, const cn_loader_opts *o,
                            const cn_sample_transform *tf, size_t *in_numel,
                            size_t *out_numel, cn_error *err) {
    if (!ds || !ds->images || !ds->labels || ds->n < 0 || ds->c < 1 || ds->h < 1 || ds->w < 1)
        return cn_error_set(err, CN_ERR_ARG, "loader: missing or empty dataset");
    if (o->batch < 1)
        return cn_error_set(err, CN_ERR_ARG, "loader: batch %d < 1", o->batch);
    if (o->workers < 0 || o->workers > CN_LOADER_MAX_WORKERS)
        return cn_error_set(err, CN_ERR_ARG, "loader: workers %d outside [0, %d]", o->workers,
                            CN_LOADER_MAX_WORKERS);
    if (o->queue_depth < 0 || o->queue_depth > CN_LOADER_MAX_QUEUE)
        return cn_error_set(err, CN_ERR_ARG, "loader: queue_depth %d outside [0, %d]",
                            o->queue_depth, CN_LOADER_MAX_QUEUE);
    if ((int)o->sampler < 0 || o->sampler >= CN_SAMPLER_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "loader: unknown sampler kind %d", (int)o->sampler);
    if (o->epoch_size < 0 || (o->epoch_size > 0 && o->sampler != CN_SAMPLER_BALANCED))
        return cn_error_set(err, CN_ERR_ARG, "loader: epoch_size %d (must be >= 0, and 0 "
                                             "unless the sampler is balanced)", o->epoch_size);
    if (o->n_indices < 0 || (o->n_indices > 0 && !o->indices))
        return cn_error_set(err, CN_ERR_ARG, "loader: %d indices but no array", o->n_indices);
    for (int i = 0; o->indices && i < o->n_indices; i++)
        if (o->indices[i] < 0 || o->indices[i] >= ds->n)
            return cn_error_set(err, CN_ERR_RANGE, "loader: indices[%d] = %d outside [0, %d)",
                                i, o->indices[i], ds->n);
    *in_numel = (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
    *out_numel = *in_numel;
    if (!tf) return CN_OK;
    if (tf->c != ds->c || tf->h != ds->h || tf->w != ds->w)
        return cn_error_set(err, CN_ERR_SHAPE,
                            "loader: transform input (%d, %d, %d) != dataset images (%d, %d, %d)",
                            tf->c, tf->h, tf->w, ds->c, ds->h, ds->w);
    if (!tf->apply && (tf->oc != tf->c || tf->oh != tf->h || tf->ow != tf->w))
        return cn_error_set(err, CN_ERR_SHAPE, "loader: identity transform with output (%d, %d, "
                                               "%d) != input", tf->oc, tf->oh, tf->ow);
    if (tf->oc < 1 || tf->oh < 1 || tf->ow < 1)
        return cn_error_set(err, CN_ERR_SHAPE, "loader: transform output (%d, %d, %d) not "
                                               "positive", tf->oc, tf->oh, tf->ow);
    size_t t;
    if (cn_mul_overflow((size_t)tf->oc, (size_t)tf->oh, &t) ||
        cn_mul_overflow(t, (size_t)tf->ow, out_numel))
        return cn_error_set(err, CN_ERR_RANGE, "loader: transform output size overflows");
    return CN_OK;
}

/* alloc_slots: the ring of batch buffers. */
static cn_status alloc_slots(cn_loader *l, cn_error *err) {
    size_t xb;
    if (cn_mul_overflow((size_t)l->batch, l->out_numel, &xb) ||
        cn_mul_overflow(xb, sizeof(cn_real), &xb))
        return cn_error_set(err, CN_ERR_RANGE, "loader: batch %d x %zu reals overflows",
                            l->batch, l->out_numel);
    l->slots = cn_calloc((size_t)l->nslots, sizeof *l->slots);
    if (!l->slots) return cn_error_set(err, CN_ERR_NOMEM, "loader: out of memory");
    for (int i = 0; i < l->nslots; i++) {
        l->slots[i].x = cn_aligned_alloc(xb);
        l->slots[i].y = cn_malloc((size_t)l->batch * sizeof(int));
        if (!l->slots[i].x || !l->slots[i].y)
            return cn_error_set(err, CN_ERR_NOMEM, "loader: out of memory for %d batch "
                                                   "buffers of %zu bytes", l->nslots, xb);
    }
    return CN_OK;
}

/* start_threads: initialise the locks and start the workers. */
static cn_status start_threads(cn_loader *l, cn_error *err) {
    if (pthread_mutex_init(&l->mu, NULL) != 0)
        return cn_error_set(err, CN_ERR_NOMEM, "loader: cannot create a mutex");
    if (pthread_cond_init(&l->cv_work, NULL) != 0) {
        pthread_mutex_destroy(&l->mu);
        return cn_error_set(err, CN_ERR_NOMEM, "loader: cannot create a condition variable");
    }
    if (pthread_cond_init(&l->cv_done, NULL) != 0) {
        pthread_cond_destroy(&l->cv_work);
        pthread_mutex_destroy(&l->mu);
        return cn_error_set(err, CN_ERR_NOMEM, "loader: cannot create a condition variable");
    }
    l->sync_init = 1;
    if (l->workers == 0) return CN_OK;
    l->threads = cn_calloc((size_t)l->workers, sizeof *l->threads);
    if (!l->threads) return cn_error_set(err, CN_ERR_NOMEM, "loader: out of memory");
    for (int i = 0; i < l->workers; i++) {
        int rc = pthread_create(&l->threads[i], NULL, worker_main, l);
        if (rc != 0)
            return cn_error_set(err, CN_ERR_UNSUPPORTED,
                                "loader: cannot start worker thread %d of %d (error %d)", i + 1,
                                l->workers, rc);
        l->nthreads = i + 1;
    }
    return CN_OK;
}

cn_status cn_loader_new(const cn_dataset *ds, const cn_loader_opts *o,
                        const cn_sample_transform *tf, cn_loader **out, cn_error *err) {
    if (!out) return cn_error_set(err, CN_ERR_ARG, "loader: NULL out");
    *out = NULL;
    cn_loader_opts def = cn_loader_opts_default();
    if (!o) o = &def;
    size_t in_numel = 0, out_numel = 0;
    cn_status st = check_opts(ds, o, tf, &in_numel, &out_numel, err);
    if (st != CN_OK) return st;

    cn_loader *l = cn_calloc(1, sizeof *l);
    if (!l) return cn_error_set(err, CN_ERR_NOMEM, "loader: out of memory");
    atomic_init(&l->cancel, 0);
    l->ds = ds;
    if (tf) l->tf = *tf;
    l->batch = o->batch;
    l->shuffle = o->shuffle != 0;
    l->drop_last = o->drop_last != 0;
    l->workers = o->workers;
    l->nslots = o->workers == 0 ? 1 : (o->queue_depth > 0 ? o->queue_depth : 2 * o->workers) + 1;
    l->epoch_size = o->epoch_size;
    l->sampler = o->sampler;
    l->seed = o->seed;
    l->in_numel = in_numel;
    l->out_numel = out_numel;

    l->n_cand = o->indices ? o->n_indices : ds->n;
    l->cand = cn_malloc((size_t)(l->n_cand > 0 ? l->n_cand : 1) * sizeof *l->cand);
    if (!l->cand) {
        cn_loader_free(l);
        return cn_error_set(err, CN_ERR_NOMEM, "loader: out of memory");
    }
    for (int i = 0; i < l->n_cand; i++) l->cand[i] = o->indices ? o->indices[i] : i;

    if (l->sampler != CN_SAMPLER_SEQUENTIAL) {
        if (l->n_cand < 1) {
            cn_loader_free(l);
            return cn_error_set(err, CN_ERR_ARG, "loader: the %s sampler needs at least one "
                                                 "sample", cn_sampler_kind_name(o->sampler));
        }
        l->cand_labels = cn_malloc((size_t)l->n_cand * sizeof *l->cand_labels);
        if (!l->cand_labels) {
            cn_loader_free(l);
            return cn_error_set(err, CN_ERR_NOMEM, "loader: out of memory");
        }
        for (int i = 0; i < l->n_cand; i++) {
            int rec = l->cand[i], y = ds->labels[rec];
            if (y < 0 || y >= ds->num_classes) {
                cn_loader_free(l);
                return cn_error_set(err, CN_ERR_RANGE, "loader: record %d: label %d outside "
                                                       "[0, %d)", rec, y, ds->num_classes);
            }
            l->cand_labels[i] = y;
        }
    }

    st = alloc_slots(l, err);
    if (st == CN_OK) st = start_threads(l, err);
    if (st != CN_OK) {
        cn_loader_free(l);
        return st;
    }
    *out = l;
    return CN_OK;
}

/* build_order: the epoch's list of records from (seed, epoch) (workers idle). */
static cn_status build_order(cn_loader *l, int epoch, cn_error *err) {
    cn_rng rng;
    cn_loader_epoch_rng(l->seed, epoch, &rng);
    int *order = NULL, n = 0;
    cn_status st = CN_OK;
    switch (l->sampler) {
    case CN_SAMPLER_SEQUENTIAL:
        n = l->n_cand;
        order = cn_malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
        if (!order) return cn_error_set(err, CN_ERR_NOMEM, "loader: out of memory");
        memcpy(order, l->cand, (size_t)n * sizeof *order);
        break;
    case CN_SAMPLER_BALANCED:
        n = l->epoch_size > 0 ? l->epoch_size : l->n_cand;
        order = cn_malloc((size_t)n * sizeof *order);
        if (!order) return cn_error_set(err, CN_ERR_NOMEM, "loader: out of memory");
        st = cn_sample_balanced(l->cand_labels, l->n_cand, l->ds->num_classes, n, &rng, order,
                                err);
        break;
    case CN_SAMPLER_OVERSAMPLE:
        st = cn_oversample(l->cand_labels, l->n_cand, l->ds->num_classes, &rng, &order, &n, err);
        break;
    case CN_SAMPLER_UNDERSAMPLE:
        st = cn_undersample(l->cand_labels, l->n_cand, l->ds->num_classes, &rng, &order, &n,
                            err);
        break;
    default:
        CN_ASSERT(0 && "unknown sampler kind");
    }
    if (st != CN_OK) {
        cn_free(order);
        cn_error_prefix(err, "loader: epoch %d: ", epoch);
        return st;
    }
    if (l->sampler != CN_SAMPLER_SEQUENTIAL) /* positions among the candidates -> records */
        for (int i = 0; i < n; i++) order[i] = l->cand[order[i]];
    if (l->shuffle && l->sampler != CN_SAMPLER_BALANCED)
        cn_rng_shuffle(&rng, order, (size_t)n);
    cn_free(l->order);
    l->order = order;
    l->n_order = n;
    return CN_OK;
}

cn_status cn_loader_start_epoch(cn_loader *l, int epoch, cn_error *err) {
    if (!l) return cn_error_set(err, CN_ERR_ARG, "loader: NULL loader");
    if (epoch < 0) return cn_error_set(err, CN_ERR_ARG, "loader: epoch %d < 0", epoch);
    quiesce(l);
    pthread_mutex_lock(&l->mu);
    l->started = 0;
    l->nb = 0;
    pthread_mutex_unlock(&l->mu);
    cn_status st = build_order(l, epoch, err);
    if (st != CN_OK) {
        cn_free(l->order);
        l->order = NULL;
        l->n_order = 0;
        return st;
    }
    pthread_mutex_lock(&l->mu);
    l->epoch = epoch;
    l->nb = l->drop_last ? l->n_order / l->batch : (l->n_order + l->batch - 1) / l->batch;
    l->next_claim = l->next_deliver = l->released = 0;
    l->holding = 0;
    l->stop_claims = 0;
    l->fail_st = CN_OK;
    cn_error_clear(&l->fail_err);
    for (int i = 0; i < l->nslots; i++) {
        l->slots[i].ready = 0;
        l->slots[i].batch = -1;
    }
    l->started = 1;
    l->active = 1;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    return CN_OK;
}

/* take_batch: wait for batch next_deliver (threaded mode) and take it. */
static slot *take_batch(cn_loader *l) {
    pthread_mutex_lock(&l->mu);
    if (l->holding) { /* the caller is done with the previous batch */
        l->holding = 0;
        l->released = l->next_deliver;
        pthread_cond_broadcast(&l->cv_work);
    }
    if (l->next_deliver >= l->nb) {
        pthread_mutex_unlock(&l->mu);
        return NULL;
    }
    slot *s = &l->slots[l->next_deliver % l->nslots];
    while (!(s->ready && s->batch == l->next_deliver)) pthread_cond_wait(&l->cv_done, &l->mu);
    s->ready = 0;
    l->next_deliver++;
    l->holding = 1;
    pthread_mutex_unlock(&l->mu);
    return s;
}

cn_status cn_loader_next(cn_loader *l, cn_real **x, int **y, int *b, cn_error *err) {
    if (x) *x = NULL;
    if (y) *y = NULL;
    if (b) *b = 0;
    if (!l || !b) return cn_error_set(err, CN_ERR_ARG, "loader: NULL argument");
    if (!l->started)
        return cn_error_set(err, CN_ERR_ARG, "loader: no epoch started "
                                             "(call cn_loader_start_epoch)");
    if (l->fail_st != CN_OK) return cn_error_set(err, l->fail_st, "%s", l->fail_err.msg);
    slot *s;
    if (l->workers == 0) {
        if (l->next_deliver >= l->nb) return CN_OK;
        s = &l->slots[0];
        cn_error_clear(&s->err);
        s->st = fill_batch(l, l->next_deliver, s->x, s->y, &s->count, &s->err);
        l->next_deliver++;
    } else {
        s = take_batch(l);
        if (!s) return CN_OK;
    }
    if (s->st != CN_OK) {
        l->fail_st = s->st;
        l->fail_err = s->err;
        return cn_error_set(err, s->st, "%s", s->err.msg);
    }
    if (x) *x = s->x;
    if (y) *y = s->y;
    *b = s->count;
    return CN_OK;
}

int cn_loader_num_batches(const cn_loader *l) { return l && l->started ? l->nb : 0; }

int cn_loader_epoch_samples(const cn_loader *l) { return l && l->started ? l->n_order : 0; }

const int *cn_loader_epoch_order(const cn_loader *l) {
    return l && l->started ? l->order : NULL;
}
