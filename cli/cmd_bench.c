/* cli/cmd_bench.c: `convnet bench MODEL`: how fast convnet trains or runs one
 * network on this machine, on random data: the median time of a training step
 * (forward, backward, SGD with momentum 0.9) or of an evaluation forward pass,
 * images/s, achieved GFLOP/s, and with --profile the time per node and per op
 * (forward and backward) with its share of the step, so the next bottleneck is
 * visible. The side-by-side comparison with PyTorch is `make bench`
 * (bench/run.sh); docs/performance.md has both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "convnet.h"
#include "convnet/model_text.h"
#include "convnet/summary.h"
#include "load.h"
#include "output.h"
#include "train_config.h"

#define BN_NFLAGS 12
#define BN_MAX_OPS CN_OP_COUNT

typedef struct bench_cfg {
    const char *model, *input, *params;
    int classes, batch, steps, warmup, threads, eval, profile, json;
} bench_cfg;

static int bench_flags(cli_flag *f, bench_cfg *c)
{
    cli_flag t[BN_NFLAGS] = {
        {"batch", CLI_FLAG_INT, "N", "images per step", "64", 1, 65536, 0, NULL, &c->batch, 0},
        {"steps", CLI_FLAG_INT, "N", "timed steps (the median is reported)", "20", 1, 1e6, 0,
         NULL, &c->steps, 0},
        {"warmup", CLI_FLAG_INT, "N", "untimed steps first", "3", 0, 1e6, 0, NULL, &c->warmup,
         0},
        {"threads", CLI_FLAG_INT, "N", "threads (0: every core)", "0", 0, 1024, 0, NULL,
         &c->threads, 0},
        {"eval", CLI_FLAG_BOOL, "", "time inference (forward, evaluation mode) instead of "
         "training", "off", 0, 0, 0, NULL, &c->eval, 0},
        {"profile", CLI_FLAG_BOOL, "", "time every node's forward and backward", "off", 0, 0, 0,
         NULL, &c->profile, 0},
        {"input", CLI_FLAG_STRING, "CxHxW", "input image size", "the model's (1x28x28 for "
         "built-in models)", 0, 0, 0, NULL, &c->input, 0},
        {"classes", CLI_FLAG_INT, "N", "number of classes", "the model's (10 for built-in "
         "models)", 2, 1e6, 0, NULL, &c->classes, 0},
        {"params", CLI_FLAG_STRING, "LIST", "model file params NAME=VALUE,...", "none", 0, 0,
         0, NULL, &c->params, 0},
        {"json", CLI_FLAG_BOOL, "", "print one JSON object on stdout", "off", 0, 0, 0, NULL,
         &c->json, 0},
        {"help", CLI_FLAG_BOOL, "", "show this help", NULL, 0, 0, 0, NULL, NULL, 0},
        {"quiet", CLI_FLAG_BOOL, "", "accepted for consistency (bench prints no progress)",
         "off", 0, 0, 0, NULL, NULL, 0},
    };
    memcpy(f, t, sizeof t);
    return BN_NFLAGS;
}

void cmd_bench_help(FILE *f)
{
    bench_cfg c;
    memset(&c, 0, sizeof c);
    cli_flag flags[BN_NFLAGS];
    int n = bench_flags(flags, &c);
    fprintf(f,
            "Usage: convnet bench MODEL [FLAGS]\n\n"
            "Time one network on random data: the median of --steps training steps\n"
            "(forward, backward, SGD with momentum 0.9 and cross-entropy) or, with --eval,\n"
            "of forward passes in evaluation mode; prints images/s, the step time and the\n"
            "achieved GFLOP/s (training counts 3x the forward FLOPs of `convnet summary`).\n"
            "--profile adds the time of every node (forward, backward, share of the\n"
            "step) and the totals per op, slowest first. MODEL is a built-in model name\n"
            "(softmax, two-layer, mlp, three-layer-convnet) or a model text file (*.cnm).\n"
            "The comparison with PyTorch on the same cores is `make bench`.\n\n"
            "Flags (a repeated flag: the last one wins):\n");
    cli_args_help(f, flags, n);
    fprintf(f, "\nExamples:\n"
               "  convnet bench models/resnet20.cnm --batch 128 --profile\n"
               "  convnet bench models/resnet20.cnm --eval --batch 1 --threads 1\n"
               "  convnet bench three-layer-convnet --json\n");
}

/* bench_model: build MODEL for the configuration (built-in or .cnm: --input and
 * --classes are the defaults of the file's params c, h, w, classes) and compile
 * it. NULL after printing the error. */
static cn_model *bench_model(const bench_cfg *c, int *rc)
{
    cli_train_cfg tc;
    char msg[512];
    *rc = CLI_EXIT_USAGE;
    if (cli_tc_default(&tc, c->model, msg, sizeof msg) != 0) {
        cli_usage_error("bench", "%s", msg);
        return NULL;
    }
    if (c->params && cli_tc_set(&tc, "params", c->params, msg, sizeof msg) != 0) {
        cli_usage_error("bench", "--params: %s", msg);
        return NULL;
    }
    cn_builtin_spec spec = tc.spec;
    cn_error err;
    cn_model *m = NULL;
    int in_c = spec.c, in_h = spec.h, in_w = spec.w, classes = spec.classes;
    if (c->input && sscanf(c->input, "%dx%dx%d", &in_c, &in_h, &in_w) != 3) {
        cli_usage_error("bench", "--input '%s': expected CxHxW, e.g. 3x32x32", c->input);
        return NULL;
    }
    if (c->classes) classes = c->classes;
    if (tc.model_file[0] && (!c->input || !c->classes)) {
        /* the file's own input shape and classes where not given */
        cn_model_text_opts o = {0};
        cn_model *probe = cn_model_load_text(tc.model_file, &o, &err);
        if (!probe) {
            *rc = cli_lib_error("bench", &err);
            return NULL;
        }
        const cn_attrs *a = cn_model_node_attrs(probe, cn_model_input_node(probe, 0));
        cn_compile_opts po = {.batch = 1};
        if (a && (a->ndim == 3 || a->ndim == 1) && !c->input) {
            in_c = a->shape[0];
            in_h = a->ndim == 3 ? a->shape[1] : 1;
            in_w = a->ndim == 3 ? a->shape[2] : 1;
        }
        int nd, shape[CN_MAX_DIMS];
        if (!c->classes && cn_model_compile(probe, &po, &err) == CN_OK &&
            cn_model_node_shape(probe, cn_model_output(probe), &nd, shape, &err) == CN_OK &&
            nd == 1)
            classes = shape[0];
        cn_model_free(probe);
    }
    cn_train_config unused;
    if (cli_tc_finish(&tc, in_c, in_h, in_w, classes, 1, &unused, &spec, msg, sizeof msg)) {
        cli_usage_error("bench", "%s", msg);
        return NULL;
    }
    int usage = 0;
    m = cli_tc_build(&tc, &spec, NULL, &usage, msg, sizeof msg);
    if (!m) {
        *rc = usage ? cli_usage_error("bench", "%s", msg) : cli_runtime_error("bench", "%s", msg);
        return NULL;
    }
    /* liveness sharing: outputs in evaluation, output gradients in training */
    cn_compile_opts o = {.batch = c->batch, .training = !c->eval, .reuse_memory = 1};
    cn_rng rng;
    cn_rng_seed(&rng, 1, 0);
    if (cn_model_compile(m, &o, &err) != CN_OK || cn_model_init(m, &rng, &err) != CN_OK) {
        *rc = cli_lib_error("bench", &err);
        cn_model_free(m);
        return NULL;
    }
    *rc = CLI_EXIT_OK;
    return m;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The profile tables: per node in build order, then per op, slowest first. */
static void profile_report(const cn_model *m, const cn_node_profile *pr, double step_s,
                           int steps, double opt_s, cli_out *out)
{
    static const char *const hn[] = {"node", "op", "forward ms", "backward ms", "share"};
    cli_table *t = cli_out_table(out, "profile_nodes", "time per step, per node:", 5, hn);
    double fwd[BN_MAX_OPS] = {0}, bwd[BN_MAX_OPS] = {0}, nodes_s = 0;
    int count[BN_MAX_OPS] = {0};
    for (int i = 0; i < cn_model_num_nodes(m); i++) {
        cn_op_kind op = cn_model_node_op(m, i);
        if (op == CN_OP_INPUT) continue;
        double f = pr[i].fwd_s / steps, b = pr[i].bwd_s / steps;
        fwd[op] += f;
        bwd[op] += b;
        count[op]++;
        nodes_s += f + b;
        char c[5][48];
        snprintf(c[0], sizeof c[0], "%.47s", cn_model_node_name(m, i));
        snprintf(c[1], sizeof c[1], "%s", cn_op_name(op));
        snprintf(c[2], sizeof c[2], "%.3f", 1e3 * f);
        snprintf(c[3], sizeof c[3], "%.3f", 1e3 * b);
        snprintf(c[4], sizeof c[4], "%.1f%%", 100 * (f + b) / step_s);
        const char *cp[5] = {c[0], c[1], c[2], c[3], c[4]};
        cli_table_row(t, cp, json_pack("{s:s, s:s, s:f, s:f, s:f}", "node", c[0], "op", c[1],
                                       "forward_ms", 1e3 * f, "backward_ms", 1e3 * b, "share",
                                       (f + b) / step_s));
    }
    static const char *const ho[] = {"op", "nodes", "forward ms", "backward ms", "share"};
    cli_table *to = cli_out_table(out, "profile_ops", "time per step, per op (slowest first):",
                                  5, ho);
    for (;;) {
        int best = -1;
        for (int k = 0; k < BN_MAX_OPS; k++)
            if (count[k] && (best < 0 || fwd[k] + bwd[k] > fwd[best] + bwd[best])) best = k;
        if (best < 0) break;
        char c[5][48];
        snprintf(c[0], sizeof c[0], "%s", cn_op_name((cn_op_kind)best));
        snprintf(c[1], sizeof c[1], "%d", count[best]);
        snprintf(c[2], sizeof c[2], "%.3f", 1e3 * fwd[best]);
        snprintf(c[3], sizeof c[3], "%.3f", 1e3 * bwd[best]);
        snprintf(c[4], sizeof c[4], "%.1f%%", 100 * (fwd[best] + bwd[best]) / step_s);
        const char *cp[5] = {c[0], c[1], c[2], c[3], c[4]};
        cli_table_row(to, cp, json_pack("{s:s, s:i, s:f, s:f, s:f}", "op", c[0], "nodes",
                                        count[best], "forward_ms", 1e3 * fwd[best],
                                        "backward_ms", 1e3 * bwd[best], "share",
                                        (fwd[best] + bwd[best]) / step_s));
        count[best] = 0;
    }
    cli_out_real(out, "optimizer_ms", "optimiser step ms", 1e3 * opt_s, CLI_FMT_G);
    cli_out_real(out, "other_ms", "other ms (copies, zeroing grads)",
                 1e3 * (step_s - nodes_s - opt_s), CLI_FMT_G);
}

/* One timed step; *opt_s gets the optimiser's share. */
static cn_status bench_step(cn_model *m, const bench_cfg *c, const cn_real *x,
                            const cn_target *tg, cn_optimizer *opt, cn_rng *rng, double *opt_s,
                            cn_error *err)
{
    *opt_s = 0;
    if (c->eval) return cn_model_forward(m, c->batch, x, NULL, CN_EVAL, NULL, NULL, err);
    cn_zero_grad(m);
    cn_status st = cn_model_forward(m, c->batch, x, tg, CN_TRAIN, rng, NULL, err);
    if (st == CN_OK) st = cn_model_backward(m, err);
    double t0 = cn_time_now();
    if (st == CN_OK) st = cn_optim_step(opt, 0.01, NULL, err);
    *opt_s = cn_time_now() - t0;
    return st;
}

static int bench_run(const bench_cfg *c, cn_model *m, cli_out *out)
{
    cn_error err;
    int in0 = cn_model_input_node(m, 0), nd, shape[CN_MAX_DIMS];
    size_t per = 1;
    if (cn_model_node_shape(m, in0, &nd, shape, &err) != CN_OK) return cli_lib_error("bench", &err);
    for (int i = 0; i < nd; i++) per *= (size_t)shape[i];
    int classes = 2;
    if (cn_model_node_shape(m, cn_model_output(m), &nd, shape, &err) == CN_OK && nd == 1)
        classes = shape[0];
    cn_real *x = malloc(per * (size_t)c->batch * sizeof *x); // (batch, c, h, w)
    int *labels = malloc((size_t)c->batch * sizeof *labels);
    double *times = malloc((size_t)c->steps * sizeof *times);
    cn_optim_config oc = cn_optim_config_default(CN_OPTIM_MOMENTUM);
    oc.lr = 0.01;
    cn_optimizer *opt = c->eval ? NULL : cn_optim_new(&oc, cn_model_params(m), &err);
    int rc = CLI_EXIT_OK;
    if (!x || !labels || !times || (!c->eval && !opt)) {
        rc = opt || c->eval ? cli_runtime_error("bench", "out of memory")
                            : cli_lib_error("bench", &err);
        goto done;
    }
    cn_rng rng;
    cn_rng_seed(&rng, 7, 0);
    for (size_t i = 0; i < per * (size_t)c->batch; i++) x[i] = (cn_real)cn_rng_normal(&rng);
    for (int i = 0; i < c->batch; i++) labels[i] = (int)(cn_rng_u32(&rng) % (uint32_t)classes);
    cn_target tg = {.labels = labels};
    double opt_s, opt_total = 0;
    for (int s = 0; s < c->warmup; s++)
        if (bench_step(m, c, x, &tg, opt, &rng, &opt_s, &err) != CN_OK) {
            rc = cli_lib_error("bench", &err);
            goto done;
        }
    if (c->profile && cn_model_profile_start(m, &err) != CN_OK) {
        rc = cli_lib_error("bench", &err);
        goto done;
    }
    double total = 0;
    for (int s = 0; s < c->steps; s++) {
        double t0 = cn_time_now();
        if (bench_step(m, c, x, &tg, opt, &rng, &opt_s, &err) != CN_OK) {
            rc = cli_lib_error("bench", &err);
            goto done;
        }
        times[s] = cn_time_now() - t0;
        total += times[s];
        opt_total += opt_s;
    }
    double mean = total / c->steps;
    qsort(times, (size_t)c->steps, sizeof *times, cmp_double);
    double med = c->steps % 2 ? times[c->steps / 2]
                              : 0.5 * (times[c->steps / 2 - 1] + times[c->steps / 2]);
    cn_summary sum;
    double flops = 0;
    if (cn_model_summarize(m, &sum, &err) == CN_OK) {
        flops = sum.flops * (c->eval ? 1 : 3) * c->batch;
        cn_summary_free(&sum);
    }
    cli_out_str(out, "model", "model", c->model);
    cli_out_str(out, "mode", "mode", c->eval ? "eval" : "train");
    cli_out_int(out, "batch", "batch", c->batch);
    cli_out_int(out, "threads", "threads", cn_get_num_threads());
    cli_out_int(out, "steps", "timed steps", c->steps);
    cli_out_real(out, "step_ms", "median step ms", 1e3 * med, CLI_FMT_G);
    cli_out_real(out, "images_per_s", "images/s", c->batch / med, CLI_FMT_G);
    cli_out_real(out, "gflop_per_step", "GFLOP per step", flops / 1e9, CLI_FMT_G);
    cli_out_real(out, "gflops", "achieved GFLOP/s", flops / 1e9 / med, CLI_FMT_G);
    cn_model_memory mem;
    if (cn_model_memory_plan(m, &mem, &err) == CN_OK)
        cli_out_real(out, "plan_mb", "memory plan MB",
                     (double)(mem.activations + mem.gradients + mem.saved + mem.workspace) /
                         (1024.0 * 1024.0), CLI_FMT_G);
    if (c->profile) {
        int n = cn_model_num_nodes(m);
        cn_node_profile *pr = calloc((size_t)n, sizeof *pr);
        if (!pr || cn_model_profile_get(m, pr, n, &err) != CN_OK) {
            free(pr);
            rc = pr ? cli_lib_error("bench", &err) : cli_runtime_error("bench", "out of memory");
            goto done;
        }
        profile_report(m, pr, mean, c->steps, opt_total / c->steps, out);
        cli_out_real(out, "mean_step_ms", "mean step ms (the profile's base)", 1e3 * mean,
                     CLI_FMT_G);
        free(pr);
    }
done:
    cn_optim_free(opt);
    free(x);
    free(labels);
    free(times);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    bench_cfg c;
    memset(&c, 0, sizeof c);
    c.batch = 64;
    c.steps = 20;
    c.warmup = 3;
    cli_flag flags[BN_NFLAGS];
    int nflags = bench_flags(flags, &c);
    const char **pos = NULL;
    int npos = 0, help = 0;
    int rc = cli_args_parse_words(flags, nflags, argc, argv, "bench", &help, &pos, &npos);
    if (rc == 0 && !help && npos > 1)
        rc = cli_usage_error("bench", "one MODEL expected, got '%s' and '%s'", pos[0], pos[1]);
    c.model = npos > 0 ? pos[0] : NULL;
    cn_free(pos);
    if (rc != 0) return rc;
    if (help) {
        cmd_bench_help(stdout);
        return CLI_EXIT_OK;
    }
    if (!c.model)
        return cli_usage_error("bench", "MODEL is required (a built-in model or a .cnm file); "
                                        "see 'convnet help bench'");
    if (c.threads > 0) cn_set_num_threads(c.threads);
    cn_model *m = bench_model(&c, &rc);
    if (!m) return rc;
    cli_out *out = cli_out_new("bench");
    if (!out) {
        cn_model_free(m);
        return cli_runtime_error("bench", "out of memory");
    }
    rc = bench_run(&c, m, out);
    if (rc == CLI_EXIT_OK && cli_out_print(out, c.json) != 0) rc = CLI_EXIT_RUNTIME;
    cli_out_free(out);
    cn_model_free(m);
    return rc;
}
