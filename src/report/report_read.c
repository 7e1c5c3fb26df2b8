/* report_read.c: reading a run folder for the report: metrics.jsonl (one JSON
 * object a line, parsed with jansson; a bad or torn line is an error naming the
 * line), steps.csv ("step,epoch,loss,lr" per training step; optional) and
 * config.txt (kept as text; optional). */
#include "report_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Files larger than this are refused rather than read into memory. */
#define RP_MAX_FILE ((size_t)1 << 28)

/* read_all: the file at path into a NUL-terminated buffer *out (cn_free).
 * *missing is set (and CN_OK returned) when the file does not exist and
 * missing != NULL. */
static cn_status read_all(const char *path, char **out, size_t *len, int *missing,
                          cn_error *err)
{
    *out = NULL;
    *len = 0;
    if (missing) *missing = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (missing && errno == ENOENT) {
            *missing = 1;
            return CN_OK;
        }
        return cn_error_set(err, CN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = cn_malloc(cap);
    cn_status st = CN_OK;
    while (buf) {
        if (n + 1 >= cap) {
            if (cap >= RP_MAX_FILE) {
                st = cn_error_set(err, CN_ERR_RANGE, "%s: larger than %zu bytes", path,
                                  RP_MAX_FILE);
                break;
            }
            char *g = cn_realloc(buf, cap * 2);
            if (!g) break;
            buf = g;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                st = cn_error_set(err, CN_ERR_IO, "%s: byte %zu: read failed", path, n);
            break;
        }
    }
    fclose(f);
    if (!buf) return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", path);
    if (st != CN_OK) {
        cn_free(buf);
        return st;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return CN_OK;
}

static cn_status join(const rp_run *r, const char *name, char *path, size_t cap, cn_error *err)
{
    int k = snprintf(path, cap, "%s/%s", r->dir, name);
    if (k < 0 || (size_t)k >= cap)
        return cn_error_set(err, CN_ERR_ARG, "report: run folder path too long (%zu bytes)",
                            strlen(r->dir));
    return CN_OK;
}

double rp_json_num(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v && json_is_number(v) ? json_number_value(v) : NAN;
}

cn_status rp_read_metrics(rp_run *r, cn_error *err)
{
    char path[CN_REPORT_PATH_MAX];
    cn_status st = join(r, "metrics.jsonl", path, sizeof path, err);
    if (st != CN_OK) return st;
    char *buf;
    size_t len;
    if ((st = read_all(path, &buf, &len, NULL, err)) != CN_OK) return st;
    r->lines = json_array();
    if (!r->lines) {
        cn_free(buf);
        return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", path);
    }
    int line = 0;
    for (char *p = buf; *p && st == CN_OK;) {
        line++;
        char *nl = strchr(p, '\n');
        if (!nl) {
            st = cn_error_set(err, CN_ERR_FORMAT, "%s:%d: torn line (no newline at its end: "
                              "was the run stopped while writing it?)", path, line);
            break;
        }
        *nl = '\0';
        size_t n = (size_t)(nl - p);
        if (n > 0 && p[n - 1] == '\r') p[--n] = '\0';
        if (n == 0) {
            st = cn_error_set(err, CN_ERR_FORMAT, "%s:%d: empty line", path, line);
            break;
        }
        json_error_t je;
        json_t *o = json_loadb(p, n, 0, &je);
        if (!o || !json_is_object(o)) {
            st = cn_error_set(err, CN_ERR_FORMAT, "%s:%d:%d: not a JSON object%s%s", path, line,
                              o ? 1 : je.column, o ? "" : ": ", o ? "" : je.text);
            json_decref(o);
            break;
        }
        json_t *e = json_object_get(o, "epoch");
        if (!json_is_integer(e)) {
            json_decref(o);
            st = cn_error_set(err, CN_ERR_FORMAT, "%s:%d: no integer \"epoch\"", path, line);
            break;
        }
        if (json_array_append_new(r->lines, o) != 0)
            st = cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", path);
        p = nl + 1;
    }
    cn_free(buf);
    if (st != CN_OK) return st;
    size_t n = json_array_size(r->lines);
    if (n == 0) return cn_error_set(err, CN_ERR_FORMAT, "%s: no epochs (the file is empty)", path);
    if (n > 1000000) return cn_error_set(err, CN_ERR_RANGE, "%s: %zu lines (too many)", path, n);
    r->ep = cn_calloc(n, sizeof *r->ep);
    if (!r->ep) return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", path);
    r->n_epochs = (int)n;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(r->lines, i);
        rp_epoch *e = &r->ep[i];
        e->epoch = (long long)json_integer_value(json_object_get(o, "epoch"));
        double s = rp_json_num(o, "step");
        e->step = isfinite(s) ? (long long)s : 0;
        e->loss = rp_json_num(o, "loss");
        e->lr = rp_json_num(o, "lr");
        e->train_acc = rp_json_num(o, "train_acc");
        e->val_acc = rp_json_num(o, "val_acc");
        e->val_loss = rp_json_num(o, "val_loss");
        e->seconds = rp_json_num(o, "seconds");
    }
    return CN_OK;
}

/* parse_field: the next comma-separated number of *p into *v (strtod: "nan",
 * "inf" accepted); 0 on success. */
static int parse_field(char **p, int last, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(*p, &end);
    if (end == *p) return -1;
    if (last ? *end != '\0' : *end != ',') return -1;
    *p = last ? end : end + 1;
    return 0;
}

cn_status rp_read_steps(rp_run *r, cn_error *err)
{
    char path[CN_REPORT_PATH_MAX];
    cn_status st = join(r, "steps.csv", path, sizeof path, err);
    if (st != CN_OK) return st;
    char *buf;
    size_t len;
    int missing;
    if ((st = read_all(path, &buf, &len, &missing, err)) != CN_OK) return st;
    if (missing) return CN_OK;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    r->steps = cn_malloc((lines + 1) * 4 * sizeof *r->steps); // (4, lines + 1)
    if (!r->steps) {
        cn_free(buf);
        return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", path);
    }
    int line = 0, n = 0;
    size_t cap = lines + 1;
    for (char *p = buf; *p && st == CN_OK;) {
        line++;
        char *nl = strchr(p, '\n');
        if (!nl) {
            st = cn_error_set(err, CN_ERR_FORMAT, "%s:%d: torn line (no newline at its end)",
                              path, line);
            break;
        }
        *nl = '\0';
        if (nl > p && nl[-1] == '\r') nl[-1] = '\0';
        if (line == 1) {
            if (strcmp(p, "step,epoch,loss,lr") != 0)
                st = cn_error_set(err, CN_ERR_FORMAT, "%s:1: header is '%.60s', expected "
                                  "'step,epoch,loss,lr'", path, p);
            p = nl + 1;
            continue;
        }
        double v[4];
        char *q = p;
        for (int k = 0; k < 4 && st == CN_OK; k++)
            if (parse_field(&q, k == 3, &v[k]) != 0)
                st = cn_error_set(err, CN_ERR_FORMAT, "%s:%d:%d: field %d is not a number "
                                  "(expected step,epoch,loss,lr)", path, line,
                                  (int)(q - p) + 1, k + 1);
        if (st != CN_OK) break;
        for (int k = 0; k < 4; k++) r->steps[(size_t)k * cap + (size_t)n] = v[k];
        n++;
        p = nl + 1;
    }
    cn_free(buf);
    if (st != CN_OK) {
        cn_free(r->steps);
        r->steps = NULL;
        return st;
    }
    if (line == 0) {
        cn_free(r->steps);
        r->steps = NULL;
        return cn_error_set(err, CN_ERR_FORMAT, "%s: empty (no header line)", path);
    }
    /* pack the four columns back to back for n rows */
    for (int k = 1; k < 4; k++)
        memmove(r->steps + (size_t)k * (size_t)n, r->steps + (size_t)k * cap,
                (size_t)n * sizeof *r->steps);
    r->n_steps = n;
    return CN_OK;
}

cn_status rp_read_config(rp_run *r, cn_error *err)
{
    char path[CN_REPORT_PATH_MAX];
    cn_status st = join(r, "config.txt", path, sizeof path, err);
    if (st != CN_OK) return st;
    size_t len;
    int missing;
    st = read_all(path, &r->config, &len, &missing, err);
    if (st == CN_OK && r->config && len > 65536) r->config[65536] = '\0';
    return st;
}
