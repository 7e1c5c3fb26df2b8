/* cli/main.c: entry point of the convnet tool: dispatches to a sub-command and
 * implements `convnet help [COMMAND]` and `convnet version`. No algorithm lives in
 * cli/: every command is a thin shell over the public API in convnet.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "args.h"
#include "commands.h"
#include "convnet.h"
#include "progress.h"

typedef struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
    void (*help)(FILE *f);
} command;

static const command COMMANDS[] = {
    {"knn", "k-nearest-neighbour classifier, with optional k-fold cross-validation",
     cmd_knn, cmd_knn_help},
    {"linear", "linear SVM / softmax classifier (SGD), with optional random search",
     cmd_linear, cmd_linear_help},
    {"augment", "preview data augmentation: a PNG grid of augmented training images",
     cmd_augment, cmd_augment_help},
    {"train", "train a built-in network or a .cnm file (the zoo); checkpoints, resume",
     cmd_train, cmd_train_help},
    {"search", "random hyperparameter search for a network, coarse to fine",
     cmd_search, cmd_search_help},
    {"eval", "evaluate trained model files (one, or an ensemble): accuracy, per class, "
     "confusion", cmd_eval, cmd_eval_help},
    {"summary", "per-node table of a network: shapes, memory, params, FLOPs, receptive "
     "fields", cmd_summary, cmd_summary_help},
    {"bench", "time training or inference of a network on random data; --profile: per op",
     cmd_bench, cmd_bench_help},
    {"predict", "top-k classes with probabilities of PNG/JPEG images or dataset records",
     cmd_predict, cmd_predict_help},
    {"gradcheck", "check a network's gradients against centred differences, per parameter",
     cmd_gradcheck, cmd_gradcheck_help},
    {"report", "training report of a run folder: report.html and figure PNGs",
     cmd_report, cmd_report_help},
};
#define NCOMMANDS ((int)(sizeof COMMANDS / sizeof COMMANDS[0]))

static const char *const ALL_NAMES[] = {"knn",   "linear", "augment", "train",
                                        "search", "eval",   "help",    "version",
                                        "summary", "bench", "predict", "gradcheck",
                                        "report"};

static void usage(FILE *f)
{
    fprintf(f, "convnet %s: image classification from raw pixels, in C.\n\n", CN_VERSION);
    fprintf(f, "Usage: convnet COMMAND [FLAGS]\n\nCommands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "  %-10s %s\n", "help", "list the commands; `convnet help COMMAND` lists its flags");
    fprintf(f, "  %-10s %s\n", "version", "print the version and the build configuration");
    fprintf(f, "\nResults go to stdout (--json: one JSON object); progress and errors to "
               "stderr.\n");
    fprintf(f, "Exit status: 0 success, 1 runtime error (I/O, bad data, numeric), 2 usage "
               "error,\n130 interrupted (Ctrl-C), 143 terminated (SIGTERM; train saves a "
               "checkpoint first).\n");
}

static const command *find_command(const char *name)
{
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(COMMANDS[i].name, name) == 0)
            return &COMMANDS[i];
    return NULL;
}

static int unknown_command(const char *name)
{
    const char *near = cli_nearest(name, ALL_NAMES, (int)(sizeof ALL_NAMES / sizeof *ALL_NAMES));
    return cli_usage_error(NULL, "unknown command '%s' (did you mean '%s'?); run 'convnet "
                                 "help' for the list", name, near);
}

static int help(int argc, char **argv)
{
    if (argc == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (argc > 1)
        return cli_usage_error("help", "expects at most one COMMAND, got %d words", argc);
    if (strcmp(argv[0], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[0], "version") == 0) {
        printf("Usage: convnet version\n\nPrint the version (%s) and the build configuration "
               "(precision, BLAS, OpenMP).\n", CN_VERSION);
        return CLI_EXIT_OK;
    }
    const command *c = find_command(argv[0]);
    if (!c)
        return unknown_command(argv[0]);
    c->help(stdout);
    return CLI_EXIT_OK;
}

static int version(int argc, char **argv)
{
    (void)argv;
    if (argc > 0)
        return cli_usage_error("version", "takes no arguments, got '%s'", argv[0]);
    printf("convnet %s\nbuild: %s\nblas kernels: %s\n", CN_VERSION, cn_build_info(),
           cn_blas_corename());
    return CLI_EXIT_OK;
}

/* Flush stdout; a failed write (a full disk, a closed pipe) is a runtime error. */
static int finish_stdout(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (rc == CLI_EXIT_OK)
            rc = cli_runtime_error(NULL, "writing to stdout failed");
    }
    return rc;
}

/* OpenBLAS picks its kernels when it is loaded; on a CPU it does not know it falls
 * back to generic ones, 4-5x slower. Re-execute once with OPENBLAS_CORETYPE set
 * to the kernels the CPU supports (an explicit OPENBLAS_CORETYPE is respected).
 * If the re-execution fails, carry on with the generic kernels. */
static void select_blas_kernels(char **argv)
{
    const char *hint = cn_blas_coretype_hint();
    if (!hint || getenv("OPENBLAS_CORETYPE"))
        return;
    if (setenv("OPENBLAS_CORETYPE", hint, 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE");
}

int main(int argc, char **argv)
{
    select_blas_kernels(argv);
    /* jansson allocates through the library's allocator, like the rest of the tool */
    json_set_alloc_funcs(cn_malloc, cn_free);
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        return finish_stdout(help(argc - 2, argv + 2));
    if (strcmp(name, "version") == 0 || strcmp(name, "--version") == 0)
        return finish_stdout(version(argc - 2, argv + 2));
    const command *c = find_command(name);
    if (!c)
        return unknown_command(name);
    cli_signals_install();
    return finish_stdout(c->run(argc - 2, argv + 2));
}
