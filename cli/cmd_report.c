/* cli/cmd_report.c: `convnet report RUN_DIR`: the training report of a run
 * folder written by `convnet train --out RUN_DIR`: loads the raw test split
 * (the data folder and test limit default to RUN_DIR/config.txt's), calls
 * cn_report_write, and prints where report.html and the figures went. Also
 * cli_report_after_train (report_run.h), which `convnet train` calls at its end. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "convnet.h"
#include "convnet/report.h"
#include "load.h"
#include "output.h"
#include "progress.h"
#include "report_run.h"
#include "train_config.h"

typedef struct report_cfg {
    const char *run_dir, *weights, *data;
    int test_limit, threads, json, quiet;
} report_cfg;

#define REPORT_NFLAGS 7

static int report_flags(cli_flag *f, report_cfg *c)
{
    cli_flag t[REPORT_NFLAGS] = {
        {"weights", CLI_FLAG_STRING, "best|last|FILE",
         "model file: best (RUN_DIR/best.safetensors, else model.safetensors), last "
         "(RUN_DIR/model.safetensors) or a path", "best", 0, 0, 0, NULL, &c->weights, 0},
        {"data", CLI_FLAG_STRING, "DIR", "dataset folder whose test split the report uses",
         "RUN_DIR/config.txt's data", 0, 0, 0, NULL, &c->data, 0},
        {"test-limit", CLI_FLAG_INT, "N", "use only the first N test images (0: all)",
         "RUN_DIR/config.txt's test_limit", 0, 1e9, 0, NULL, &c->test_limit, 0},
        {"threads", CLI_FLAG_INT, "N", "threads (OpenMP and BLAS)", "all cores", 1, 1024, 0,
         NULL, &c->threads, 0},
        {"json", CLI_FLAG_BOOL, "", "print one JSON object on stdout", "off", 0, 0, 0, NULL,
         &c->json, 0},
        {"quiet", CLI_FLAG_BOOL, "", "no progress on stderr", "off", 0, 0, 0, NULL, &c->quiet, 0},
        {"help", CLI_FLAG_BOOL, "", "show this help", NULL, 0, 0, 0, NULL, NULL, 0},
    };
    memcpy(f, t, sizeof t);
    return REPORT_NFLAGS;
}

static void report_cfg_default(report_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->weights = "best";
}

void cmd_report_help(FILE *f)
{
    report_cfg c;
    cli_flag flags[REPORT_NFLAGS];
    report_cfg_default(&c);
    int n = report_flags(flags, &c);
    fprintf(f,
            "Usage: convnet report RUN_DIR [FLAGS]\n\n"
            "Write the training report of a run folder (made by `convnet train --out\n"
            "RUN_DIR`; train also writes it at its end): RUN_DIR/report.html, one\n"
            "self-contained page (figures embedded, no external files, no JavaScript\n"
            "framework), and each figure as RUN_DIR/report/NN-name.png: loss (linear and\n"
            "log) and learning rate over steps, training and validation accuracy with the\n"
            "gap, first-layer filters, confusion matrix, per-class accuracy, misclassified\n"
            "test images, weight and activation histograms, update/weight ratios. Every\n"
            "figure has a caption saying how to read it. docs/report.md describes them.\n\n"
            "Flags (a repeated flag: the last one wins):\n");
    cli_args_help(f, flags, n);
    fprintf(f, "\nExamples:\n"
               "  convnet report runs/a\n"
               "  convnet report runs/a --weights last --json\n"
               "  convnet report runs/a --data /usr/share/datasets/fashion-mnist --test-limit "
               "1000\n");
}

/* from_config: c->data and c->test_limit from RUN_DIR/config.txt where not given
 * on the command line. Returns a CLI_EXIT_* status. */
static int from_config(report_cfg *c, const cli_flag *flags, char *data, size_t cap,
                       cli_progress *p)
{
    int data_given = flags[1].seen, limit_given = flags[2].seen;
    if (data_given && limit_given) return CLI_EXIT_OK;
    char path[4096], msg[512];
    int k = snprintf(path, sizeof path, "%s/config.txt", c->run_dir);
    if (k < 0 || (size_t)k >= sizeof path)
        return cli_usage_error("report", "RUN_DIR path too long");
    if (access(path, F_OK) != 0) {
        if (!data_given) c->data = CN_FASHION_MNIST_DIR;
        cli_progress_warn(p, "report: %s not found: using --data %s", path, c->data);
        return CLI_EXIT_OK;
    }
    cli_train_cfg *tc = cn_calloc(1, sizeof *tc);
    if (!tc) return cli_runtime_error("report", "out of memory");
    int rc = CLI_EXIT_OK;
    if (cli_tc_default(tc, "two-layer", msg, sizeof msg) != 0 ||
        cli_tc_load_file(tc, path, msg, sizeof msg) != 0) {
        if (!data_given) rc = cli_runtime_error("report", "%s (give --data DIR)", msg);
        else cli_progress_warn(p, "report: %s", msg);
    } else {
        if (!data_given) {
            snprintf(data, cap, "%s", tc->data);
            c->data = data;
        }
        if (!limit_given) c->test_limit = tc->test_limit;
    }
    cn_free(tc);
    return rc;
}

/* model_shape: the input shape and classes of the model file the report will use. */
static int model_shape(const report_cfg *c, cn_builtin_spec *spec)
{
    char best[4096], last[4096];
    snprintf(best, sizeof best, "%s/best.safetensors", c->run_dir);
    snprintf(last, sizeof last, "%s/model.safetensors", c->run_dir);
    const char *path = strcmp(c->weights, "best") == 0 ? (access(best, F_OK) == 0 ? best : last)
                       : strcmp(c->weights, "last") == 0 ? last
                                                         : c->weights;
    cn_error err;
    cn_error_clear(&err);
    cn_model_info info;
    memset(&info, 0, sizeof info);
    cn_model *m = cn_model_file_load(path, 1, &info, &err);
    if (!m) return cli_lib_error("report", &err);
    *spec = info.spec;
    cn_model_free(m);
    cn_model_info_free(&info);
    return CLI_EXIT_OK;
}

/* load_test: the raw test split of c->data sized for spec, first test_limit images. */
static int load_test(const report_cfg *c, const cn_builtin_spec *s, cli_progress *p,
                     cn_dataset **out)
{
    return cli_load_split_for("report", c->data, "test", s, c->test_limit, p, out);
}

/* print_result: the report's paths and numbers to stdout. */
static int print_result(const report_cfg *c, const cn_report_result *res)
{
    cli_out *out = cli_out_new("report");
    if (!out) return cli_runtime_error("report", "out of memory");
    cli_out_str(out, "report", "report", res->html);
    json_t *figs = json_array();
    for (int i = 0; figs && i < res->n_figures; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/report/%s", c->run_dir,
                 cn_report_figure_file(res->figures[i]));
        json_array_append_new(figs, json_string(path));
    }
    cli_out_json(out, "figures", figs);
    cli_out_int(out, "n_figures", "figures", res->n_figures);
    cli_out_str(out, "weights", "weights", res->weights);
    cli_out_real(out, "test_accuracy", "test accuracy", res->test_accuracy, CLI_FMT_ACC);
    cli_out_int(out, "test_images", "test images", res->test_n);
    cli_out_int(out, "epochs", "epochs", res->epochs);
    cli_out_int(out, "steps", "steps", res->steps);
    int rc = cli_out_print(out, c->json) != 0 ? CLI_EXIT_RUNTIME : CLI_EXIT_OK;
    cli_out_free(out);
    return rc;
}

static int report_run(report_cfg *c, const cli_flag *flags, cli_progress *p)
{
    char data[CLI_TC_STR];
    int rc = from_config(c, flags, data, sizeof data, p);
    cn_builtin_spec spec;
    memset(&spec, 0, sizeof spec);
    cn_dataset *test = NULL;
    if (rc == CLI_EXIT_OK) rc = model_shape(c, &spec);
    if (rc == CLI_EXIT_OK) rc = load_test(c, &spec, p, &test);
    if (rc != CLI_EXIT_OK) return rc;
    cn_report_opts o;
    cn_report_opts_default(&o);
    o.weights = c->weights;
    o.progress = cli_progress_begin(p, "report");
    cn_report_result res;
    cn_error err;
    cn_error_clear(&err);
    cn_status st = cn_report_write(c->run_dir, test, &o, &res, &err);
    cli_progress_end(p);
    cn_dataset_free(test);
    if (st != CN_OK) return cli_lib_error("report", &err);
    return print_result(c, &res);
}

int cmd_report(int argc, char **argv)
{
    report_cfg c;
    cli_flag flags[REPORT_NFLAGS];
    report_cfg_default(&c);
    int n = report_flags(flags, &c);
    const char **pos = NULL;
    int npos = 0, help = 0;
    int rc = cli_args_parse_words(flags, n, argc, argv, "report", &help, &pos, &npos);
    if (rc == CLI_EXIT_OK && !help && npos != 1)
        rc = cli_usage_error("report", "expects one RUN_DIR, got %d words; usage: convnet "
                                       "report RUN_DIR [--weights best|last|FILE]", npos);
    if (rc == CLI_EXIT_OK && !help) c.run_dir = pos[0];
    cn_free(pos);
    if (rc != CLI_EXIT_OK) return rc;
    if (help) {
        cmd_report_help(stdout);
        return CLI_EXIT_OK;
    }
    if (c.threads > 0) cn_set_num_threads(c.threads);
    cli_progress pr;
    cli_progress_init(&pr, c.quiet);
    rc = report_run(&c, flags, &pr);
    cli_progress_destroy(&pr);
    return rc;
}

int cli_report_after_train(const char *run_dir, const cn_dataset *raw_test, cli_progress *p,
                           double *test_acc)
{
    if (test_acc) *test_acc = NAN;
    cn_report_opts o;
    cn_report_opts_default(&o);
    if (p) o.progress = cli_progress_begin(p, "report");
    cn_report_result res;
    cn_error err;
    cn_error_clear(&err);
    cn_status st = cn_report_write(run_dir, raw_test, &o, &res, &err);
    if (p) cli_progress_end(p);
    if (st != CN_OK) return cli_lib_error("report", &err);
    if (p) cli_progress_stage(p, "report: %s (%d figures)", res.html, res.n_figures);
    if (test_acc) *test_acc = res.test_accuracy;
    return CLI_EXIT_OK;
}
