/* memplan.c: the liveness plan of evaluation-mode compiles with reuse_memory:
 * node outputs share buffers, a buffer becoming free once every consumer of the
 * node that wrote it has run (nodes in build order are the run order). The
 * inputs, the losses and the prediction node keep buffers of their own, so they
 * stay readable after forward. Best fit: a free buffer at least as large as the
 * output, else the largest free one (grown), else a new one. */
#include "model_internal.h"

#include <stdint.h>
#include <string.h>

#define MP_ALIGN(x) (((x) + (size_t)CN_ALIGN - 1) / (size_t)CN_ALIGN * (size_t)CN_ALIGN)

int cn_model_share_plan(const cn_model *m, int batch, size_t *off, size_t *total)
{
    int n = m->n_nodes, out = cn_model_output(m), nb = 0;
    int *last = cn_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));    // (n) last consumer
    int *buf_of = cn_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));  // (n) buffer or -1
    size_t *cap = cn_calloc((size_t)(n > 0 ? n : 1), sizeof *cap);   // (nb) bytes
    unsigned char *busy = cn_calloc((size_t)(n > 0 ? n : 1), 1);     // (nb)
    int ok = last && buf_of && cap && busy;
    for (int i = 0; ok && i < n; i++) last[i] = buf_of[i] = -1;
    for (int i = 0; ok && i < n; i++)
        for (int j = 0; j < m->nodes[i].n_in; j++) last[m->nodes[i].in[j]] = i;
    for (int i = 0; ok && i < n; i++) {
        const cn_node *nd = &m->nodes[i];
        int keep = nd->op == CN_OP_INPUT || nd->is_loss || i == out;
        if (!keep) {
            size_t need = MP_ALIGN(nd->numel * (size_t)batch * sizeof(cn_real));
            int best = -1, big = -1; /* the smallest free buffer that fits; the largest */
            for (int b = 0; b < nb; b++) {
                if (busy[b]) continue;
                if (cap[b] >= need && (best < 0 || cap[b] < cap[best])) best = b;
                if (big < 0 || cap[b] > cap[big]) big = b;
            }
            if (best < 0) best = big >= 0 ? big : nb++;
            if (cap[best] < need) cap[best] = need;
            busy[best] = 1;
            buf_of[i] = best;
        }
        /* after node i ran: inputs it read last, and its own output when nothing reads it */
        for (int j = 0; j < nd->n_in; j++) {
            int k = nd->in[j];
            if (last[k] == i && buf_of[k] >= 0) busy[buf_of[k]] = 0;
        }
        if (!keep && last[i] < 0) busy[buf_of[i]] = 0;
    }
    size_t acc = 0;
    for (int b = 0; ok && b < nb; b++) { /* cap[b] becomes buffer b's offset */
        size_t c = cap[b];
        cap[b] = acc;
        if (acc > SIZE_MAX - c) ok = 0;
        acc += c;
    }
    for (int i = 0; ok && i < n; i++) off[i] = buf_of[i] >= 0 ? cap[buf_of[i]] : SIZE_MAX;
    *total = acc;
    cn_free(last);
    cn_free(buf_of);
    cn_free(cap);
    cn_free(busy);
    return ok ? 0 : -1;
}
