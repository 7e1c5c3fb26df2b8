/* memplan.c: the liveness plans of compiles with reuse_memory. Node outputs
 * share buffers, a buffer becoming free once every consumer of the node that
 * wrote it has run (nodes in build order are the run order); the inputs, the
 * losses and the prediction node keep buffers of their own, so they stay
 * readable after forward; in training so does every output that a backward
 * reads (batch norm's input, a ReLU's output, ...: bwd_reads_x / bwd_reads_y).
 * Training also shares output gradients over the backward sweep (reverse build
 * order): node k's gradient is live from the backward of its last consumer (its
 * first writer) to the end of k's own backward. Best fit: a free buffer at least as large as needed, else the
 * largest free one (grown), else a new one. Evaluation also fuses a ReLU into
 * the batchnorm, conv2d or linear node it alone reads: the ReLU's output is the
 * producer's buffer and its forward is skipped. */
#include "model_internal.h"

#include <stdint.h>
#include <string.h>

#define MP_ALIGN(x) (((x) + (size_t)CN_ALIGN - 1) / (size_t)CN_ALIGN * (size_t)CN_ALIGN)

/* What an op's backward reads besides dy, its saved area and its parameters: its
 * inputs' values (bwd_reads_x) and its own output (bwd_reads_y), from the ops'
 * backward functions in src/ops/. Ops not listed are taken to read both. */
static int bwd_reads_x(cn_op_kind op)
{
    switch (op) {
    case CN_OP_RELU: case CN_OP_ADD: case CN_OP_CONCAT: case CN_OP_MAXPOOL2D:
    case CN_OP_AVGPOOL2D: case CN_OP_GLOBAL_AVGPOOL: case CN_OP_GLOBAL_MAXPOOL:
    case CN_OP_ADAPTIVE_AVGPOOL2D: case CN_OP_FLATTEN: case CN_OP_RESHAPE:
    case CN_OP_IDENTITY: case CN_OP_DROPOUT: case CN_OP_DROPOUT2D: case CN_OP_DROP_PATH:
        return 0;
    default: return 1;
    }
}

static int bwd_reads_y(cn_op_kind op)
{
    switch (op) {
    case CN_OP_CONV2D: case CN_OP_LINEAR: case CN_OP_BATCHNORM: case CN_OP_ADD:
    case CN_OP_CONCAT: case CN_OP_MAXPOOL2D: case CN_OP_AVGPOOL2D: case CN_OP_GLOBAL_AVGPOOL:
    case CN_OP_GLOBAL_MAXPOOL: case CN_OP_ADAPTIVE_AVGPOOL2D: case CN_OP_FLATTEN:
    case CN_OP_RESHAPE: case CN_OP_IDENTITY: case CN_OP_DROPOUT: case CN_OP_DROPOUT2D:
    case CN_OP_DROP_PATH:
        return 0;
    default: return 1;
    }
}

/* pick: the buffer for need bytes among nb (busy flags, capacities): the smallest
 * free one that fits, else the largest free one (grown), else a new one. */
static int pick(size_t need, int *nb, size_t *cap, unsigned char *busy)
{
    int best = -1, big = -1;
    for (int b = 0; b < *nb; b++) {
        if (busy[b]) continue;
        if (cap[b] >= need && (best < 0 || cap[b] < cap[best])) best = b;
        if (big < 0 || cap[b] > cap[big]) big = b;
    }
    if (best < 0) best = big >= 0 ? big : (*nb)++;
    if (cap[best] < need) cap[best] = need;
    busy[best] = 1;
    return best;
}

/* offsets: turn capacities into offsets (cap[b] becomes buffer b's start) and
 * write off[i] for every node; *total the sum. 0, or -1 on overflow. */
static int offsets(int n, const int *buf_of, int nb, size_t *cap, size_t *off, size_t *total)
{
    size_t acc = 0;
    for (int b = 0; b < nb; b++) {
        size_t c = cap[b];
        cap[b] = acc;
        if (acc > SIZE_MAX - c) return -1;
        acc += c;
    }
    for (int i = 0; i < n; i++) off[i] = buf_of[i] >= 0 ? cap[buf_of[i]] : SIZE_MAX;
    *total = acc;
    return 0;
}

/* The scratch of a plan: per node its last consumer and its buffer, per buffer
 * its capacity and whether it is in use. */
typedef struct mp_scratch {
    int *last;           // (n) the last node reading node i, -1: none
    int *buf_of;         // (n) node i's buffer, -1: its own
    size_t *cap;         // (n) buffer capacities in bytes (then offsets)
    unsigned char *busy; // (n) buffer in use
} mp_scratch;

static void mp_free(mp_scratch *sc)
{
    cn_free(sc->last);
    cn_free(sc->buf_of);
    cn_free(sc->cap);
    cn_free(sc->busy);
}

/* mp_init: allocate and fill last / buf_of for m. 0, or -1 when out of memory. */
static int mp_init(const cn_model *m, mp_scratch *sc)
{
    int n = m->n_nodes;
    size_t nn = (size_t)(n > 0 ? n : 1);
    sc->last = cn_malloc(sizeof(int) * nn);
    sc->buf_of = cn_malloc(sizeof(int) * nn);
    sc->cap = cn_calloc(nn, sizeof *sc->cap);
    sc->busy = cn_calloc(nn, 1);
    if (!sc->last || !sc->buf_of || !sc->cap || !sc->busy) return -1;
    for (int i = 0; i < n; i++) sc->last[i] = sc->buf_of[i] = -1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m->nodes[i].n_in; j++) sc->last[m->nodes[i].in[j]] = i;
    return 0;
}

int cn_model_share_grad_plan(const cn_model *m, int batch, size_t *off, size_t *total)
{
    int n = m->n_nodes, nb = 0;
    mp_scratch sc;
    int ok = mp_init(m, &sc) == 0;
    int *last = sc.last, *buf_of = sc.buf_of;
    size_t *cap = sc.cap;
    unsigned char *busy = sc.busy;
    for (int t = n - 1; ok && t >= 0; t--) {
        const cn_node *nd = &m->nodes[t];
        /* t's backward first writes the gradients of the inputs it consumes last */
        for (int j = 0; j < nd->n_in; j++) {
            int k = nd->in[j];
            const cn_node *in = &m->nodes[k];
            if (last[k] != t || buf_of[k] >= 0 || !in->needs_grad || in->is_loss ||
                in->op == CN_OP_INPUT)
                continue;
            buf_of[k] = pick(MP_ALIGN(in->numel * (size_t)batch * sizeof(cn_real)), &nb, cap,
                             busy);
        }
        if (buf_of[t] >= 0) busy[buf_of[t]] = 0; /* read by t's backward: dead after it */
    }
    ok = ok && offsets(n, buf_of, nb, cap, off, total) == 0;
    mp_free(&sc);
    return ok ? 0 : -1;
}

void cn_model_fuse_plan(cn_model *m, int fuse)
{
    int n = m->n_nodes, out = cn_model_output(m);
    for (int i = 0; i < n; i++) {
        m->nodes[i].fuse_relu = 0;
        m->nodes[i].alias_of = -1;
    }
    /* readers[k]: how many input slots read node k (no memory: no fusion) */
    int *readers = fuse ? cn_calloc((size_t)(n > 0 ? n : 1), sizeof *readers) : NULL;
    for (int i = 0; readers && i < n; i++)
        for (int j = 0; j < m->nodes[i].n_in; j++) readers[m->nodes[i].in[j]]++;
    for (int r = 0; readers && r < n; r++) {
        cn_node *rn = &m->nodes[r];
        if (rn->op != CN_OP_RELU || rn->n_in != 1 || r == out) continue;
        int k = rn->in[0];
        cn_op_kind op = m->nodes[k].op;
        if ((op != CN_OP_BATCHNORM && op != CN_OP_CONV2D && op != CN_OP_LINEAR) || k == out ||
            readers[k] != 1 || (op == CN_OP_BATCHNORM && !m->nodes[k].a.track_stats))
            continue; /* (batch norm without running statistics normalises per batch) */
        m->nodes[k].fuse_relu = 1;
        rn->alias_of = k;
    }
    cn_free(readers);
}

int cn_model_share_plan(const cn_model *m, int batch, int training, size_t *off,
                        size_t *total)
{
    int n = m->n_nodes, out = cn_model_output(m), nb = 0;
    mp_scratch sc;
    int ok = mp_init(m, &sc) == 0;
    int *last = sc.last, *buf_of = sc.buf_of;
    size_t *cap = sc.cap;
    unsigned char *busy = sc.busy;
    /* training: an output a backward reads (its own op's, or a consumer's as input)
     * lives to the end of backward; bwd[i] marks them */
    unsigned char *bwd = training ? cn_calloc((size_t)(n > 0 ? n : 1), 1) : NULL;
    ok = ok && (!training || bwd);
    for (int c = 0; ok && training && c < n; c++) {
        const cn_node *nd = &m->nodes[c];
        if (bwd_reads_y(nd->op)) bwd[c] = 1;
        for (int j = 0; j < nd->n_in && bwd_reads_x(nd->op); j++) bwd[nd->in[j]] = 1;
    }
    for (int i = 0; ok && i < n; i++) {
        const cn_node *nd = &m->nodes[i];
        int keep = nd->op == CN_OP_INPUT || nd->is_loss || i == out || (bwd && bwd[i]);
        if (nd->alias_of >= 0) /* a fused ReLU's output is its producer's buffer */
            buf_of[i] = buf_of[nd->alias_of];
        else if (!keep)
            buf_of[i] = pick(MP_ALIGN(nd->numel * (size_t)batch * sizeof(cn_real)), &nb, cap,
                             busy);
        /* after node i ran: inputs it read last, and its own output when nothing reads it */
        for (int j = 0; j < nd->n_in && nd->alias_of < 0; j++) {
            int k = nd->in[j];
            if (last[k] == i && buf_of[k] >= 0) busy[buf_of[k]] = 0;
        }
        if (!keep && last[i] < 0) busy[buf_of[i]] = 0;
    }
    ok = ok && offsets(n, buf_of, nb, cap, off, total) == 0;
    mp_free(&sc);
    cn_free(bwd);
    return ok ? 0 : -1;
}
