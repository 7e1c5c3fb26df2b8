/* cli/cmd_gradcheck.c: `convnet gradcheck MODEL`: the course's gradient check
 * of a whole network on random inputs and labels: for every trainable parameter,
 * analytic gradients (one backward pass) against centred differences of the loss
 * at a few random coordinates (the library's cn_model_gradcheck, run once per
 * parameter so each gets its own worst relative error), with a verdict on the
 * course's scale and a pass / fail bound that suits the precision the library was
 * built with (float rounding and ReLU kinks limit a float check to ~1e-3..0.2).
 * MODEL is a built-in model or a model text file (.cnm); big networks get a small
 * input by default so the check runs in seconds. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "convnet.h"
#include "convnet/model_text.h"
#include "load.h"
#include "output.h"
#include "progress.h"
#include "train_config.h"

#define GC_NFLAGS 12
#define GC_DEFAULT_BATCH 2
#define GC_DEFAULT_COORDS 3
#define GC_MAX_SIDE 32 /* a .cnm input larger than this is shrunk unless --input */

/* The step h and the pass bound per precision. Double keeps the course's scale
 * (1e-4: "usually okay for objectives with kinks"). Float at h = 1e-3 (measured:
 * 1e-2 crosses ReLU kinks more often, 1e-4 drowns in rounding) reaches ~1e-3..0.2
 * on the built-in models depending on the seed, so its bound is the 0.25 of the
 * float sanity check (sanity.h): it still catches a wrong sign (2) or a factor of
 * two (0.5). */
#ifdef CN_DOUBLE
#define GC_H 1e-5
#define GC_H_TEXT "1e-5"
#define GC_BOUND 1e-4
#define GC_BOUND_TEXT "1e-4"
#define GC_NOTE "the course's scale applies."
#else
#define GC_H 1e-3
#define GC_H_TEXT "1e-3"
#define GC_BOUND 0.25
#define GC_BOUND_TEXT "0.25"
#define GC_NOTE "rounding and kinks put the errors at about 1e-3..0.2\n" \
    "even for a correct network (deep ones with batch norm: worse; the\n" \
    "library's double build is the reference), so read the verdicts against that."
#endif

#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct gc_cfg {
    const char *model, *input, *params;
    int classes, batch, coords, seed, threads, json, quiet;
    double tolerance, step;
} gc_cfg;

static int gc_flags(cli_flag *f, gc_cfg *c)
{
    cli_flag t[GC_NFLAGS] = {
        {"params", CLI_FLAG_STRING, "LIST", "model file params NAME=VALUE,...", "none", 0, 0,
         0, NULL, &c->params, 0},
        {"input", CLI_FLAG_STRING, "CxHxW", "input size", "the model's (built-in: 1x28x28; "
         ".cnm: its own, sides above " STR(GC_MAX_SIDE) " shrunk to " STR(GC_MAX_SIDE) ")", 0, 0,
         0, NULL, &c->input, 0},
        {"classes", CLI_FLAG_INT, "N", "number of classes", "the model's (10 for built-in "
         "models)", 2, 1e6, 0, NULL, &c->classes, 0},
        {"batch", CLI_FLAG_INT, "N", "random examples in the loss", STR(GC_DEFAULT_BATCH), 1,
         1024, 0, NULL, &c->batch, 0},
        {"coords", CLI_FLAG_INT, "N", "coordinates checked per parameter (0: every one)",
         STR(GC_DEFAULT_COORDS), 0, 1e6, 0, NULL, &c->coords, 0},
        {"seed", CLI_FLAG_INT, "S", "seeds the weights, inputs, labels, masks and coordinates",
         "1", 0, 2147483647.0, 0, NULL, &c->seed, 0},
        {"tolerance", CLI_FLAG_REAL, "X", "fail when a relative error exceeds X",
         GC_BOUND_TEXT " (this build's precision)", 0, 1, 1, NULL, &c->tolerance, 0},
        {"step", CLI_FLAG_REAL, "H", "centred-difference step h", GC_H_TEXT " (this build's "
         "precision)", 0, 1, 1, NULL, &c->step, 0},
        {"json", CLI_FLAG_BOOL, "", "print one JSON object on stdout", "off", 0, 0, 0, NULL,
         &c->json, 0},
        {"quiet", CLI_FLAG_BOOL, "", "no progress on stderr", "off", 0, 0, 0, NULL, &c->quiet,
         0},
        {"help", CLI_FLAG_BOOL, "", "show this help", NULL, 0, 0, 0, NULL, NULL, 0},
        {"threads", CLI_FLAG_INT, "N", "threads (OpenMP and BLAS)", "all cores", 1, 1024, 0,
         NULL, &c->threads, 0},
    };
    memcpy(f, t, sizeof t);
    return GC_NFLAGS;
}

static void gc_cfg_default(gc_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->batch = GC_DEFAULT_BATCH;
    c->coords = GC_DEFAULT_COORDS;
    c->seed = 1;
    c->tolerance = GC_BOUND;
    c->step = GC_H;
}

void cmd_gradcheck_help(FILE *f)
{
    gc_cfg c;
    cli_flag flags[GC_NFLAGS];
    gc_cfg_default(&c);
    int n = gc_flags(flags, &c);
    fprintf(f,
            "Usage: convnet gradcheck MODEL [FLAGS]\n\n"
            "Check a network's backward pass: analytic gradients of the loss on --batch\n"
            "random examples (normal inputs, uniform labels; training mode, dropout masks\n"
            "held fixed) against centred differences (f(x+h) - f(x-h)) / 2h at --coords\n"
            "random coordinates of every trainable parameter. Prints per parameter the\n"
            "worst relative error |a - n| / max(|a|, |n|) (the library's scale floor:\n"
            "1e-3 of the tensor's largest gradient), where, and the course's verdict:\n"
            "< 1e-7 great, < 1e-4 ok (fine with kinks: ReLU, max pooling), < 1e-2\n"
            "uncomfortable, >= 1e-2 wrong. That scale holds in double precision.\n"
            "This tool is built with %s reals (h = %g):\n%s\n"
            "The check fails (exit 1) when a parameter's error exceeds --tolerance.\n"
            "MODEL is a built-in model (softmax, two-layer, mlp, three-layer-convnet)\n"
            "or a model text file (*.cnm).\n\n"
            "Flags (a repeated flag: the last one wins):\n",
            sizeof(cn_real) == sizeof(double) ? "double" : "float", GC_H, GC_NOTE);
    cli_args_help(f, flags, n);
    fprintf(f, "\nExamples:\n"
               "  convnet gradcheck three-layer-convnet\n"
               "  convnet gradcheck models/resnet20.cnm --coords 2 --json\n"
               "  convnet gradcheck mlp --input 1x8x8 --classes 4 --coords 0\n");
}

/* The model's default input (c, h, w) and classes: a .cnm file's own, sides
 * above GC_MAX_SIDE shrunk. 0 after printing an error. */
static int file_defaults(const char *path, int *ic, int *ih, int *iw, int *classes, int *rc)
{
    cn_error err;
    cn_model_text_opts o = {0};
    cn_model *probe = cn_model_load_text(path, &o, &err);
    if (!probe) {
        *rc = cli_lib_error("gradcheck", &err);
        return 0;
    }
    const cn_attrs *a = cn_model_node_attrs(probe, cn_model_input_node(probe, 0));
    if (a && (a->ndim == 3 || a->ndim == 1)) {
        *ic = a->shape[0];
        *ih = a->ndim == 3 ? a->shape[1] : 1;
        *iw = a->ndim == 3 ? a->shape[2] : 1;
    }
    if (*ih > GC_MAX_SIDE) *ih = GC_MAX_SIDE;
    if (*iw > GC_MAX_SIDE) *iw = GC_MAX_SIDE;
    cn_compile_opts po = {.batch = 1};
    int nd, shape[CN_MAX_DIMS];
    if (cn_model_compile(probe, &po, &err) == CN_OK &&
        cn_model_node_shape(probe, cn_model_output(probe), &nd, shape, &err) == CN_OK && nd == 1)
        *classes = shape[0];
    cn_model_free(probe);
    return 1;
}

/* Build MODEL (cli_tc_*, as train and bench do), compile it for training with
 * --batch and initialise it. NULL after printing the error; *in gets (c, h, w)
 * and *classes the class count. */
static cn_model *gc_model(const gc_cfg *c, int in[3], int *classes, int *rc)
{
    cli_train_cfg tc;
    char msg[512];
    *rc = CLI_EXIT_USAGE;
    if (cli_tc_default(&tc, c->model, msg, sizeof msg) != 0) {
        cli_usage_error("gradcheck", "%s", msg);
        return NULL;
    }
    if (c->params && cli_tc_set(&tc, "params", c->params, msg, sizeof msg) != 0) {
        cli_usage_error("gradcheck", "--params: %s", msg);
        return NULL;
    }
    in[0] = tc.spec.c, in[1] = tc.spec.h, in[2] = tc.spec.w, *classes = tc.spec.classes;
    if (tc.model_file[0] && !file_defaults(tc.model_file, &in[0], &in[1], &in[2], classes, rc))
        return NULL;
    char tail;
    if (c->input && (sscanf(c->input, "%dx%dx%d%c", &in[0], &in[1], &in[2], &tail) != 3 ||
                     in[0] < 1 || in[1] < 1 || in[2] < 1)) {
        cli_usage_error("gradcheck", "--input '%s': expected CxHxW, e.g. 3x32x32", c->input);
        return NULL;
    }
    if (c->classes) *classes = c->classes;
    cn_train_config unused;
    cn_builtin_spec spec;
    if (cli_tc_finish(&tc, in[0], in[1], in[2], *classes, 1, &unused, &spec, msg, sizeof msg)) {
        cli_usage_error("gradcheck", "%s", msg);
        return NULL;
    }
    int usage = 0;
    cn_model *m = cli_tc_build(&tc, &spec, NULL, &usage, msg, sizeof msg);
    if (!m) {
        *rc = usage ? cli_usage_error("gradcheck", "%s", msg)
                    : cli_runtime_error("gradcheck", "%s", msg);
        return NULL;
    }
    cn_error err;
    cn_compile_opts o = {.batch = c->batch, .training = 1};
    cn_rng rng;
    cn_rng_seed(&rng, (uint64_t)c->seed, 0);
    if (cn_model_compile(m, &o, &err) != CN_OK || cn_model_init(m, &rng, &err) != CN_OK) {
        *rc = cli_lib_error("gradcheck", &err);
        cn_model_free(m);
        return NULL;
    }
    *rc = CLI_EXIT_OK;
    return m;
}

/* The course's reading of a relative error (its scale is for double precision). */
static const char *verdict(double rel)
{
    if (!(rel < 1e-2)) return "wrong";
    if (rel < 1e-7) return "great";
    if (rel < 1e-4) return "ok";
    return "uncomfortable";
}

/* One row per trainable parameter: cn_model_gradcheck with every other trainable
 * parameter marked as a buffer for the call (roles restored after), the same
 * inputs and, re-seeded, the same dropout masks each time. */
static int check_params(const gc_cfg *c, cn_model *m, const cn_real *x, const int *labels,
                        cli_out *out, double *worst, char *worst_at, size_t cap,
                        int *n_failed, cli_progress *p)
{
    cn_params *ps = cn_model_params(m);
    cn_param_role *roles = cn_malloc((size_t)(ps->n > 0 ? ps->n : 1) * sizeof *roles); // (n)
    if (!roles) return cli_runtime_error("gradcheck", "out of memory");
    for (int k = 0; k < ps->n; k++) roles[k] = ps->p[k].role;
    static const char *const hdr[] = {"parameter", "checked", "max rel err", "worst at",
                                      "analytic", "numeric", "verdict"};
    cli_table *t = cli_out_table(out, "parameters", "per parameter:", 7, hdr);
    cn_model_gradcheck_opts o = {.per_param = c->coords, .input = 0, .h = c->step,
                                 .seed = (uint64_t)c->seed};
    cn_target tg = {.labels = labels, .values = NULL};
    cn_error err;
    cn_status st = CN_OK;
    *worst = 0;
    *n_failed = 0;
    cn_progress prog = cli_progress_begin(p, "gradient check");
    for (int k = 0; k < ps->n && st == CN_OK; k++) {
        if (roles[k] == CN_PARAM_BUFFER || ps->p[k].numel == 0) continue;
        for (int q = 0; q < ps->n; q++) ps->p[q].role = q == k ? roles[q] : CN_PARAM_BUFFER;
        cn_rng drop;
        cn_rng_seed(&drop, (uint64_t)c->seed, 7);
        cn_model_gradcheck_report rep;
        st = cn_model_gradcheck(m, c->batch, x, &tg, CN_TRAIN, &drop, &o, &rep, &err);
        for (int q = 0; q < ps->n; q++) ps->p[q].role = roles[q];
        if (st != CN_OK) break;
        if (cn_progress_report(&prog, "gradient check", (size_t)k + 1, (size_t)ps->n)) {
            st = cn_error_set(&err, CN_ERR_ARG, "gradcheck: cancelled");
            break;
        }
        double rel = rep.max_rel_err;
        int fail = !(rel <= c->tolerance);
        *n_failed += fail;
        if (!(rel <= *worst) || !worst_at[0]) {
            *worst = rel;
            snprintf(worst_at, cap, "%s", rep.worst);
        }
        char cells[6][64];
        snprintf(cells[0], sizeof cells[0], "%zu", rep.checked);
        snprintf(cells[1], sizeof cells[1], "%.2e", rel);
        snprintf(cells[2], sizeof cells[2], "%.63s", rep.worst);
        snprintf(cells[3], sizeof cells[3], "%.4e", rep.worst_analytic);
        snprintf(cells[4], sizeof cells[4], "%.4e", rep.worst_numeric);
        snprintf(cells[5], sizeof cells[5], "%s%s", verdict(rel), fail ? " FAIL" : "");
        const char *row[7] = {ps->p[k].name, cells[0], cells[1], cells[2],
                              cells[3], cells[4], cells[5]};
        json_t *j = json_pack("{s:s, s:I, s:o, s:s, s:o, s:o, s:s, s:b}", "name",
                              ps->p[k].name, "checked", (json_int_t)rep.checked, "max_rel_err",
                              cli_json_real(rel), "worst", rep.worst, "analytic",
                              cli_json_real(rep.worst_analytic), "numeric",
                              cli_json_real(rep.worst_numeric), "verdict", verdict(rel),
                              "passed", !fail);
        cli_table_row(t, row, j);
    }
    cli_progress_end(p);
    cn_free(roles);
    return st == CN_OK ? CLI_EXIT_OK : cli_lib_error("gradcheck", &err);
}

static int gc_run(const gc_cfg *c, cli_progress *p, cli_out *out)
{
    int in[3], classes, rc;
    cn_model *m = gc_model(c, in, &classes, &rc);
    if (!m) return rc;
    size_t sample = (size_t)in[0] * (size_t)in[1] * (size_t)in[2];
    cn_real *x = cn_malloc((size_t)c->batch * sample * sizeof *x); // (batch, c, h, w)
    int *labels = cn_malloc((size_t)c->batch * sizeof *labels);   // (batch)
    if (!x || !labels) {
        cn_free(x);
        cn_free(labels);
        cn_model_free(m);
        return cli_runtime_error("gradcheck", "out of memory");
    }
    cn_rng r;
    cn_rng_seed(&r, (uint64_t)c->seed, 3);
    for (size_t i = 0; i < (size_t)c->batch * sample; i++) x[i] = (cn_real)cn_rng_normal(&r);
    for (int i = 0; i < c->batch; i++) labels[i] = (int)cn_rng_below(&r, (uint32_t)classes);
    const char *prec = sizeof(cn_real) == sizeof(double) ? "double" : "float";
    cli_progress_stage(p, "gradient check of %s: input %dx%dx%d, %d classes, batch %d, %s "
                       "precision (h %g), %d coordinates per parameter", c->model, in[0], in[1],
                       in[2], classes, c->batch, prec, c->step, c->coords);
    double worst = 0;
    char worst_at[128] = "";
    int n_failed = 0;
    rc = check_params(c, m, x, labels, out, &worst, worst_at, sizeof worst_at, &n_failed, p);
    if (rc == CLI_EXIT_OK) {
        char shape[64];
        snprintf(shape, sizeof shape, "%dx%dx%d", in[0], in[1], in[2]);
        cli_out_str(out, "model", "model", c->model);
        cli_out_str(out, "input", "input", shape);
        cli_out_int(out, "classes", "classes", classes);
        cli_out_int(out, "batch", "batch", c->batch);
        cli_out_int(out, "coords", "coordinates per parameter", c->coords);
        cli_out_str(out, "precision", "precision", prec);
        cli_out_str(out, "build", NULL, cn_build_info());
        cli_out_real(out, "h", "step h", c->step, CLI_FMT_G);
        cli_out_real(out, "tolerance", "tolerance", c->tolerance, CLI_FMT_G);
        cli_out_real(out, "max_rel_err", "worst relative error", worst, CLI_FMT_G);
        cli_out_str(out, "worst", "worst at", worst_at);
        cli_out_str(out, "verdict", "verdict (course scale)", verdict(worst));
        cli_out_int(out, "failed", "parameters above tolerance", n_failed);
        cli_out_bool(out, "passed", "passed", n_failed == 0);
        if (cli_out_print(out, c->json) != 0) rc = CLI_EXIT_RUNTIME;
        else if (n_failed > 0)
            rc = cli_runtime_error("gradcheck", "%d parameter%s above the tolerance %g (worst "
                                   "%.3g at %s)", n_failed, n_failed == 1 ? "" : "s",
                                   c->tolerance, worst, worst_at);
    }
    cn_free(x);
    cn_free(labels);
    cn_model_free(m);
    return rc;
}

int cmd_gradcheck(int argc, char **argv)
{
    gc_cfg c;
    cli_flag flags[GC_NFLAGS];
    gc_cfg_default(&c);
    int n = gc_flags(flags, &c);
    const char **pos = NULL;
    int npos = 0, help = 0;
    int rc = cli_args_parse_words(flags, n, argc, argv, "gradcheck", &help, &pos, &npos);
    if (rc == CLI_EXIT_OK && !help && npos > 1)
        rc = cli_usage_error("gradcheck", "one MODEL expected, got '%s' and '%s'", pos[0],
                             pos[1]);
    c.model = npos > 0 ? pos[0] : NULL;
    cn_free(pos);
    if (rc != CLI_EXIT_OK) return rc;
    if (help) {
        cmd_gradcheck_help(stdout);
        return CLI_EXIT_OK;
    }
    if (!c.model)
        return cli_usage_error("gradcheck", "no MODEL given; usage: convnet gradcheck MODEL "
                                            "[--input CxHxW] [--coords N] [--json]");
    if (c.threads > 0) cn_set_num_threads(c.threads);
    cli_progress pr;
    cli_progress_init(&pr, c.quiet);
    cli_out *out = cli_out_new("gradcheck");
    if (!out) rc = cli_runtime_error("gradcheck", "out of memory");
    else rc = gc_run(&c, &pr, out);
    cli_out_free(out);
    cli_progress_destroy(&pr);
    return rc;
}
