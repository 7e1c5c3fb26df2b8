/* cli/output.c: collect a command's results (see output.h) and print them on
 * stdout as aligned tables or as one JSON object. */
#include "output.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "convnet.h"

#define OUT_CELL_MAX 48
#define OUT_MAX_COLS 24
#define OUT_MAX_TABLES 4
#define OUT_MAX_ROWS 64

/* A human table: rows of fixed-size cells. */
struct cli_table {
    cli_out *owner;
    char title[96];
    int ncols, nrows, cap;
    char headers[OUT_MAX_COLS][OUT_CELL_MAX];
    char (*cells)[OUT_MAX_COLS][OUT_CELL_MAX]; /* (cap, ncols) */
    json_t *array;                              /* borrowed from the JSON object */
};

struct cli_out {
    json_t *root;
    int failed;                                 /* out of memory somewhere */
    int nrows;
    char label[OUT_MAX_ROWS][OUT_CELL_MAX];
    char value[OUT_MAX_ROWS][256];
    int ntables;
    cli_table *tables[OUT_MAX_TABLES];
};

cli_out *cli_out_new(const char *command)
{
    cli_out *o = cn_calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->root = json_object();
    if (!o->root) {
        cn_free(o);
        return NULL;
    }
    cli_out_str(o, "command", "command", command);
    return o;
}

void cli_out_free(cli_out *o)
{
    if (!o)
        return;
    for (int i = 0; i < o->ntables; i++) {
        cn_free(o->tables[i]->cells);
        cn_free(o->tables[i]);
    }
    json_decref(o->root);
    cn_free(o);
}

char *cli_fmt_real(double v, cli_real_fmt fmt, char *buf, size_t size)
{
    if (!isfinite(v))
        snprintf(buf, size, "-");
    else if (fmt == CLI_FMT_ACC)
        snprintf(buf, size, "%.4f", v);
    else if (fmt == CLI_FMT_SEC)
        snprintf(buf, size, "%.1f", v);
    else
        snprintf(buf, size, "%.4g", v);
    return buf;
}

json_t *cli_json_real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Add or replace a human summary row. */
static void add_row(cli_out *o, const char *label, const char *v)
{
    if (!label)
        return;
    int i = 0;
    while (i < o->nrows && strcmp(o->label[i], label) != 0)
        i++;
    if (i == OUT_MAX_ROWS) {
        o->failed = 1;
        return;
    }
    snprintf(o->label[i], sizeof o->label[i], "%s", label);
    snprintf(o->value[i], sizeof o->value[i], "%s", v);
    if (i == o->nrows)
        o->nrows++;
}

void cli_out_json(cli_out *o, const char *key, json_t *v)
{
    if (!v || json_object_set_new(o->root, key, v) != 0)
        o->failed = 1;
}

void cli_out_str(cli_out *o, const char *key, const char *label, const char *v)
{
    cli_out_json(o, key, json_string(v));
    add_row(o, label, v);
}

void cli_out_int(cli_out *o, const char *key, const char *label, long long v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    cli_out_json(o, key, json_integer((json_int_t)v));
    add_row(o, label, buf);
}

void cli_out_bool(cli_out *o, const char *key, const char *label, int v)
{
    cli_out_json(o, key, json_boolean(v));
    add_row(o, label, v ? "yes" : "no");
}

void cli_out_real(cli_out *o, const char *key, const char *label, double v, cli_real_fmt fmt)
{
    char buf[64];
    cli_out_json(o, key, cli_json_real(v));
    add_row(o, label, cli_fmt_real(v, fmt, buf, sizeof buf));
}

cli_table *cli_out_table(cli_out *o, const char *key, const char *title, int ncols,
                         const char *const *headers)
{
    if (o->ntables == OUT_MAX_TABLES || ncols < 1 || ncols > OUT_MAX_COLS) {
        o->failed = 1;
        return NULL;
    }
    cli_table *t = cn_calloc(1, sizeof *t);
    json_t *arr = json_array();
    if (!t || !arr || json_object_set_new(o->root, key, arr) != 0) {
        cn_free(t);
        o->failed = 1;
        return NULL;
    }
    t->owner = o;
    t->array = arr;
    t->ncols = ncols;
    snprintf(t->title, sizeof t->title, "%s", title);
    for (int c = 0; c < ncols; c++)
        snprintf(t->headers[c], OUT_CELL_MAX, "%s", headers[c]);
    o->tables[o->ntables++] = t;
    return t;
}

void cli_table_row(cli_table *t, const char *const *cells, json_t *obj)
{
    if (!t) {
        json_decref(obj);
        return;
    }
    if (!obj || json_array_append_new(t->array, obj) != 0) {
        t->owner->failed = 1;
        return;
    }
    if (t->nrows == t->cap) {
        int cap = t->cap ? 2 * t->cap : 16;
        void *p = cn_realloc(t->cells, (size_t)cap * sizeof *t->cells);
        if (!p) {
            t->owner->failed = 1;
            return;
        }
        t->cells = p;
        t->cap = cap;
    }
    for (int c = 0; c < t->ncols; c++)
        snprintf(t->cells[t->nrows][c], OUT_CELL_MAX, "%s", cells[c]);
    t->nrows++;
}

static void print_table(const cli_table *t)
{
    int w[OUT_MAX_COLS];
    for (int c = 0; c < t->ncols; c++) {
        w[c] = (int)strlen(t->headers[c]);
        for (int r = 0; r < t->nrows; r++) {
            int l = (int)strlen(t->cells[r][c]);
            if (l > w[c])
                w[c] = l;
        }
    }
    printf("%s\n", t->title);
    for (int c = 0; c < t->ncols; c++)
        printf("  %*s", w[c], t->headers[c]);
    putchar('\n');
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++)
            printf("  %*s", w[c], t->cells[r][c]);
        putchar('\n');
    }
    putchar('\n');
}

int cli_out_print(cli_out *o, int json)
{
    if (o->failed) {
        fprintf(stderr, "convnet: out of memory while collecting the results\n");
        return -1;
    }
    if (json) {
        char *s = json_dumps(o->root, JSON_INDENT(2) | JSON_REAL_PRECISION(10) |
                                          JSON_PRESERVE_ORDER);
        if (!s) {
            fprintf(stderr, "convnet: out of memory while writing JSON\n");
            return -1;
        }
        fputs(s, stdout);
        fputc('\n', stdout);
        json_free_t jfree = NULL;
        json_get_alloc_funcs(NULL, &jfree);
        jfree(s);
    } else {
        for (int i = 0; i < o->ntables; i++)
            print_table(o->tables[i]);
        int w = 0;
        for (int i = 0; i < o->nrows; i++) {
            int l = (int)strlen(o->label[i]);
            if (l > w)
                w = l;
        }
        for (int i = 0; i < o->nrows; i++)
            printf("%-*s  %s\n", w, o->label[i], o->value[i]);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "convnet: writing results to stdout: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}
