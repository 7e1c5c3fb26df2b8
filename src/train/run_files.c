/* run_files.c: the trainer's helpers that touch only the model or the run
 * folder (train_internal.h): locating the first non-finite number for the NaN
 * guard's message, removing stale checkpoint temporary files, and trimming
 * metrics.jsonl after a crash. */
#include "train_internal.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "convnet/safetensors.h"

/* Index of the first non-finite value of x[0..n), or -1. */
static long first_nonfinite(const cn_real *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return (long)i;
    return -1;
}

/* Values per sample of node id (1 for losses, which output the batch mean). */
static size_t node_numel(const cn_model *m, int id, int n)
{
    int nd, shape[CN_MAX_DIMS];
    if (cn_model_node_shape(m, id, &nd, shape, NULL) != CN_OK) return 0;
    size_t k = 1;
    for (int d = 0; d < nd; d++) k *= (size_t)shape[d];
    return nd == 0 ? 1 : k * (size_t)n;
}

void cn_train_locate_nonfinite(cn_model *m, int n, int grads, char *buf, size_t cap)
{
    int nn = cn_model_num_nodes(m);
    buf[0] = '\0';
    for (int k = 0; k < nn; k++) {
        int id = grads ? nn - 1 - k : k;
        const cn_real *v = grads ? cn_model_node_grad(m, id) : cn_model_node_value(m, id);
        if (!v) continue;
        long i = first_nonfinite(v, node_numel(m, id, n));
        if (i < 0) continue;
        snprintf(buf, cap, " (first non-finite %s: node '%s' (%s), value [%ld])",
                 grads ? "output gradient" : "output", cn_model_node_name(m, id),
                 cn_op_name(cn_model_node_op(m, id)), i);
        return;
    }
    if (!grads) return;
    cn_params *ps = cn_model_params(m);
    for (int k = 0; k < ps->n; k++) {
        const cn_param *p = &ps->p[k];
        if (!p->grad) continue;
        long i = first_nonfinite(p->grad, p->numel);
        if (i < 0) continue;
        snprintf(buf, cap, " (first non-finite gradient: parameter '%s' [%ld])", p->name, i);
        return;
    }
}

void cn_train_remove_stale_temps(const char *run_dir)
{
    if (!run_dir) return;
    DIR *d = opendir(run_dir);
    if (!d) return;
    static const char prefix[] = "checkpoint.safetensors.tmp.";
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, sizeof prefix - 1) != 0) continue;
        char path[4096];
        int k = snprintf(path, sizeof path, "%s/%s", run_dir, e->d_name);
        if (k > 0 && (size_t)k < sizeof path) unlink(path);
    }
    closedir(d);
}

cn_status cn_train_trim_metrics(const char *run_dir, uint64_t epoch, cn_error *err)
{
    if (!run_dir) return CN_OK;
    char path[4096];
    int k = snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    if (k < 0 || (size_t)k >= sizeof path)
        return cn_error_set(err, CN_ERR_ARG, "train: run_dir '%s': path too long", run_dir);
    FILE *f = fopen(path, "rb");
    if (!f) return CN_OK; /* nothing written yet */
    size_t cap = 1 << 16, len = 0;
    char *out = cn_malloc(cap), *line = cn_malloc(1 << 20);
    if (!out || !line) {
        fclose(f);
        cn_free(out);
        cn_free(line);
        return cn_error_set(err, CN_ERR_NOMEM, "train: out of memory reading %s", path);
    }
    while (fgets(line, 1 << 20, f)) {
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n') continue; /* torn */
        json_t *o = json_loads(line, 0, NULL);
        json_t *e = o ? json_object_get(o, "epoch") : NULL;
        int keep = e && json_is_integer(e) && (uint64_t)json_integer_value(e) <= epoch;
        json_decref(o);
        if (!keep) continue;
        if (len + n > cap) {
            char *g = cn_malloc(2 * (len + n));
            if (!g) {
                fclose(f);
                cn_free(out);
                cn_free(line);
                return cn_error_set(err, CN_ERR_NOMEM, "train: out of memory reading %s",
                                    path);
            }
            memcpy(g, out, len);
            cn_free(out);
            out = g;
            cap = 2 * (len + n);
        }
        memcpy(out + len, line, n);
        len += n;
    }
    fclose(f);
    cn_free(line);
    cn_status st = cn_write_file_atomic(path, (const uint8_t *)out, len, 0, err);
    cn_free(out);
    return st;
}

