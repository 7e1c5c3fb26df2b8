/* cli/cmd_summary.c: `convnet summary MODEL`: the per-node table of the CS231n
 * notes' VGG-16 walk-through for a built-in model, a model file
 * (.safetensors) or a model text file (.cnm): every node's output shape
 * (HxWxC), activation values and memory per image (forward, training), parameters,
 * forward FLOPs and receptive field (size r, jump j), then the totals.
 * docs/summary.md has the accounting. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "convnet.h"
#include "convnet/model_text.h"
#include "convnet/modelfile.h"
#include "convnet/summary.h"
#include "load.h"
#include "output.h"

#define SUM_NFLAGS 5
#define SUM_MAX_PARAMS 32
#define SUM_MB (1024.0 * 1024.0)

typedef struct sum_cfg {
    const char *model;
    const char *input;
    const char *params;
    int classes, json;
} sum_cfg;

static int sum_flags(cli_flag *f, sum_cfg *c)
{
    cli_flag t[SUM_NFLAGS] = {
        {"input", CLI_FLAG_STRING, "CxHxW", "input image size (built-in models only)",
         "the model's default (1x28x28)", 0, 0, 0, NULL, &c->input, 0},
        {"classes", CLI_FLAG_INT, "N", "number of classes (built-in models only)",
         "the model's default (10)", 2, 1e6, 0, NULL, &c->classes, 0},
        {"params", CLI_FLAG_STRING, "LIST", "model text file (.cnm) params NAME=VALUE,...",
         "none", 0, 0, 0, NULL, &c->params, 0},
        {"json", CLI_FLAG_BOOL, "", "print one JSON object on stdout instead of the table",
         "off", 0, 0, 0, NULL, &c->json, 0},
        {"help", CLI_FLAG_BOOL, "", "show this help", NULL, 0, 0, 0, NULL, NULL, 0},
    };
    memcpy(f, t, sizeof t);
    return SUM_NFLAGS;
}

void cmd_summary_help(FILE *f)
{
    sum_cfg c;
    memset(&c, 0, sizeof c);
    cli_flag flags[SUM_NFLAGS];
    int n = sum_flags(flags, &c);
    fprintf(f,
            "Usage: convnet summary MODEL [FLAGS]\n\n"
            "Print one row per node of a network: its output shape (HxWxC), the\n"
            "activations one image produces there (values, and bytes for a forward pass\n"
            "and for training: output + output gradient + what backward keeps), its\n"
            "parameters, its forward FLOPs per image (a multiply-add counts 2) and its\n"
            "receptive field on the input (size r and jump j, in input pixels; '-' after\n"
            "flatten / linear / global pooling), then the totals (1 MB = 2^20 bytes).\n"
            "MODEL is a built-in model name (softmax, two-layer, mlp,\n"
            "three-layer-convnet), a model file written by `convnet train`\n"
            "(*.safetensors) or a model text file (*.cnm).\n\n"
            "Flags (a repeated flag: the last one wins):\n");
    cli_args_help(f, flags, n);
    fprintf(f, "\nExamples:\n"
               "  convnet summary three-layer-convnet\n"
               "  convnet summary three-layer-convnet --input 3x32x32 --classes 100 --json\n"
               "  convnet summary runs/a/best.safetensors\n"
               "  convnet summary models/fmnist-cnn.cnm --params width=64,hidden=256\n");
}

/* ends_with: 1 when s ends with suffix. */
static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* load_model: build (built-in, .cnm) or load (.safetensors) the model and compile
 * it for one image in evaluation mode. *m NULL on failure (message printed). */
static int load_model(const sum_cfg *c, cn_model **m)
{
    cn_error err;
    cn_error_clear(&err);
    *m = NULL;
    int is_file = ends_with(c->model, ".safetensors") || ends_with(c->model, ".cnm");
    if (is_file && (c->input || c->classes))
        return cli_usage_error("summary", "--input and --classes apply to built-in models only, "
                                          "not to the file %s", c->model);
    if (c->params && !ends_with(c->model, ".cnm"))
        return cli_usage_error("summary", "--params applies to model text files (.cnm) only, "
                                          "not to %s", c->model);
    if (ends_with(c->model, ".safetensors")) {
        cn_model_info info;
        memset(&info, 0, sizeof info);
        *m = cn_model_file_load(c->model, 1, &info, &err);
        if (!*m) return cli_lib_error("summary", &err);
        cn_model_info_free(&info);
        return CLI_EXIT_OK;
    }
    if (ends_with(c->model, ".cnm")) {
        /* --params "a=1,b=2": one override per comma-separated word */
        char buf[1024];
        const char *ov[SUM_MAX_PARAMS];
        int n = 0;
        if (c->params && snprintf(buf, sizeof buf, "%s", c->params) >= (int)sizeof buf)
            return cli_usage_error("summary", "--params: longer than %zu bytes", sizeof buf - 1);
        for (char *p = c->params ? buf : NULL, *q; p && *p; p = q) {
            q = strchr(p, ',');
            if (q) *q++ = '\0';
            else q = p + strlen(p);
            if (n == SUM_MAX_PARAMS)
                return cli_usage_error("summary", "--params: more than %d values",
                                       SUM_MAX_PARAMS);
            ov[n++] = p;
        }
        cn_model_text_opts o = {.overrides = ov, .n_overrides = n};
        *m = cn_model_load_text(c->model, &o, &err);
        if (!*m && err.code == CN_ERR_ARG && n > 0) /* an override that does not fit */
            return cli_usage_error("summary", "%s", err.msg);
        if (!*m) return cli_lib_error("summary", &err);
    } else {
        cn_builtin_spec s;
        if (cn_builtin_spec_default(c->model, &s, &err) != CN_OK)
            return cli_usage_error("summary", "%s (or a *.safetensors / *.cnm file)", err.msg);
        char num[32];
        snprintf(num, sizeof num, "%d", c->classes);
        if ((c->input && cn_builtin_set(&s, "input", c->input, &err) != CN_OK) ||
            (c->classes && cn_builtin_set(&s, "classes", num, &err) != CN_OK))
            return cli_usage_error("summary", "%s", err.msg);
        *m = cn_builtin_build(&s, &err);
        if (!*m) return cli_lib_error("summary", &err);
    }
    cn_compile_opts o = {.batch = 1, .training = 0, .input_grad = 0};
    if (cn_model_compile(*m, &o, &err) != CN_OK) {
        cn_model_free(*m);
        *m = NULL;
        return cli_lib_error("summary", &err);
    }
    return CLI_EXIT_OK;
}

/* fmt_shape: the notes' HxWxC for an image map, d1xd2... otherwise, "-" for a loss. */
static void fmt_shape(const cn_summary_row *r, char *buf, size_t cap)
{
    int d[CN_MAX_DIMS], nd = r->ndim;
    if (nd == 0) {
        snprintf(buf, cap, "-");
        return;
    }
    for (int i = 0; i < nd; i++) d[i] = r->shape[i];
    if (nd == 3) {
        d[0] = r->shape[1];
        d[1] = r->shape[2];
        d[2] = r->shape[0];
    }
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < nd && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, i ? "x%d" : "%d", d[i]);
}

/* fmt_scaled: v with a K / M / G suffix (powers of 1000): 3.21M. */
static void fmt_scaled(double v, char *buf, size_t cap)
{
    const char *suf[] = {"", "K", "M", "G", "T"};
    int k = 0;
    while (v >= 1000.0 && k < 4) {
        v /= 1000.0;
        k++;
    }
    if (k == 0)
        snprintf(buf, cap, "%.0f", v);
    else
        snprintf(buf, cap, "%.*f%s", v < 10 ? 2 : v < 100 ? 1 : 0, v, suf[k]);
}

/* fmt_bytes: bytes in B / KB / MB / GB (powers of 1024). */
static void fmt_bytes(size_t b, char *buf, size_t cap)
{
    const char *suf[] = {"B", "KB", "MB", "GB", "TB"};
    double v = (double)b;
    int k = 0;
    while (v >= 1024.0 && k < 4) {
        v /= 1024.0;
        k++;
    }
    if (k == 0)
        snprintf(buf, cap, "%zu B", b);
    else
        snprintf(buf, cap, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, suf[k]);
}

/* fmt_pair: one number when h and w agree ("7"), else "HxW" ("7x5"). */
static void fmt_pair(const double *v, char *buf, size_t cap)
{
    if (v[0] == v[1])
        snprintf(buf, cap, "%g", v[0]);
    else
        snprintf(buf, cap, "%gx%g", v[0], v[1]);
}

static json_t *json_pair(const double *v)
{
    json_t *a = json_array();
    if (a) {
        json_array_append_new(a, json_real(v[0]));
        json_array_append_new(a, json_real(v[1]));
    }
    return a;
}

/* row_json: one row as a JSON object (NULL on OOM). */
static json_t *row_json(const cn_summary_row *r)
{
    json_t *shape = json_array();
    for (int i = 0; shape && i < r->ndim; i++)
        json_array_append_new(shape, json_integer(r->shape[i]));
    json_t *rf = json_null();
    if (r->rf_valid)
        rf = json_pack("{s:o, s:o, s:o}", "size", json_pair(r->rf_size), "jump",
                       json_pair(r->rf_jump), "start", json_pair(r->rf_start));
    return json_pack("{s:i, s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:f, s:o}", "node", r->node,
                     "name", r->name, "op", cn_op_name(r->op), "shape", shape, "activations",
                     (json_int_t)(r->act_bytes_fwd / sizeof(cn_real)), "params",
                     (json_int_t)r->params, "act_bytes_fwd", (json_int_t)r->act_bytes_fwd,
                     "act_bytes_train", (json_int_t)r->act_bytes_train, "flops", r->flops,
                     "rf", rf);
}

static void sum_report(const sum_cfg *c, const cn_summary *s, cli_out *out)
{
    static const char *const hdr[] = {"name", "op", "output", "activations", "memory",
                                      "train memory", "params", "FLOPs", "rf", "jump"};
    char title[96];
    snprintf(title, sizeof title, "%.60s, per image:", c->model);
    cli_table *t = cli_out_table(out, "rows", title, 10, hdr);
    for (int i = 0; i < s->n; i++) {
        const cn_summary_row *r = &s->rows[i];
        char cells[10][48];
        snprintf(cells[0], sizeof cells[0], "%s", r->name);
        snprintf(cells[1], sizeof cells[1], "%s", cn_op_name(r->op));
        fmt_shape(r, cells[2], sizeof cells[2]);
        snprintf(cells[3], sizeof cells[3], "%zu", r->act_bytes_fwd / sizeof(cn_real));
        fmt_bytes(r->act_bytes_fwd, cells[4], sizeof cells[4]);
        fmt_bytes(r->act_bytes_train, cells[5], sizeof cells[5]);
        snprintf(cells[6], sizeof cells[6], "%zu", r->params);
        fmt_scaled(r->flops, cells[7], sizeof cells[7]);
        if (r->rf_valid) {
            fmt_pair(r->rf_size, cells[8], sizeof cells[8]);
            fmt_pair(r->rf_jump, cells[9], sizeof cells[9]);
        } else {
            snprintf(cells[8], sizeof cells[8], "-");
            snprintf(cells[9], sizeof cells[9], "-");
        }
        const char *cp[10];
        for (int k = 0; k < 10; k++) cp[k] = cells[k];
        cli_table_row(t, cp, row_json(r));
    }
    cli_out_str(out, "model", "model", c->model);
    cli_out_int(out, "nodes", "nodes", s->n);
    cli_out_int(out, "params", "total params", (long long)s->params);
    cli_out_int(out, "buffers", "buffers (running statistics)", (long long)s->buffers);
    cli_out_int(out, "act_bytes_fwd", NULL, (long long)s->act_bytes_fwd);
    cli_out_int(out, "act_bytes_train", NULL, (long long)s->act_bytes_train);
    cli_out_real(out, "act_mb_fwd", "activation memory forward (MB/image)",
                 (double)s->act_bytes_fwd / SUM_MB, CLI_FMT_G);
    cli_out_real(out, "act_mb_train", "activation memory training (MB/image)",
                 (double)s->act_bytes_train / SUM_MB, CLI_FMT_G);
    cli_out_real(out, "flops", "FLOPs (forward, per image)", s->flops, CLI_FMT_G);
    cli_out_int(out, "real_bytes", "bytes per real", (long long)sizeof(cn_real));
}

int cmd_summary(int argc, char **argv)
{
    sum_cfg c;
    memset(&c, 0, sizeof c);
    cli_flag flags[SUM_NFLAGS];
    int n = sum_flags(flags, &c);
    const char **pos = NULL;
    int npos = 0, help = 0;
    int rc = cli_args_parse_words(flags, n, argc, argv, "summary", &help, &pos, &npos);
    if (rc == CLI_EXIT_OK && !help && npos > 1)
        rc = cli_usage_error("summary", "one MODEL expected, got '%s' and '%s'", pos[0], pos[1]);
    c.model = npos > 0 ? pos[0] : NULL;
    cn_free(pos);
    if (rc != CLI_EXIT_OK) return rc;
    if (help) {
        cmd_summary_help(stdout);
        return CLI_EXIT_OK;
    }
    if (!c.model)
        return cli_usage_error("summary", "no MODEL given; usage: convnet summary MODEL "
                                          "[--input CxHxW] [--classes N] [--json]");
    cn_model *m = NULL;
    rc = load_model(&c, &m);
    if (rc != CLI_EXIT_OK) return rc;
    cn_error err;
    cn_error_clear(&err);
    cn_summary s;
    if (cn_model_summarize(m, &s, &err) != CN_OK) {
        cn_model_free(m);
        return cli_lib_error("summary", &err);
    }
    cli_out *out = cli_out_new("summary");
    if (!out) {
        cn_summary_free(&s);
        cn_model_free(m);
        return cli_runtime_error("summary", "out of memory");
    }
    sum_report(&c, &s, out);
    rc = cli_out_print(out, c.json) == 0 ? CLI_EXIT_OK : CLI_EXIT_RUNTIME;
    cli_out_free(out);
    cn_summary_free(&s);
    cn_model_free(m);
    return rc;
}
