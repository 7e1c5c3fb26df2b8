/* cli/train_config.h: the run configuration of `convnet train` (and the base of
 * `convnet search`): every key with its default, set from a configuration file
 * ("key = value" lines, '#' comments) and from command-line flags (--key value,
 * '-' and '_' alike), printed in full (the printout is itself a valid
 * configuration file, kept as RUN_DIR/config.txt for --resume), and turned into
 * the library's model spec and cn_train_config. Unknown keys are errors that name
 * the nearest key. */
#ifndef CONVNET_CLI_TRAIN_CONFIG_H
#define CONVNET_CLI_TRAIN_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "convnet.h"

#define CLI_TC_STR 256

/* The configuration: the values as given (strings for names), checked by
 * cli_tc_finish. */
typedef struct cli_train_cfg {
    cn_builtin_spec spec;             /* model: name and model keys (a model file:
                                         the file name's stem, nothing else) */
    char model_file[CLI_TC_STR];      /* a model text file (.cnm), or "" (built-in) */
    char params[CLI_TC_STR];          /* model file params "NAME=VALUE,..." */
    char data[CLI_TC_STR], out[CLI_TC_STR];
    int epochs, batch, val, train_limit, test_limit;
    long long seed;
    char norm[CLI_TC_STR];
    char augment[CLI_TC_STR];         /* training augmentation spec, "none": off */
    char optimizer[CLI_TC_STR];
    double lr, momentum, beta1, beta2, weight_decay, l1, max_norm, clip_norm, clip_value;
    char schedule[CLI_TC_STR], unit[CLI_TC_STR], milestones[CLI_TC_STR];
    int step_size, total, t_max, t0, t_mult, warmup, plateau_patience;
    double gamma, decay, power, eta_min, warmup_start, factor;
    char plateau_mode[CLI_TC_STR], momentum_ramp[CLI_TC_STR];
    int patience, checkpoint_every, threads, snapshots, monitor;
    double ema;
    char nan_policy[CLI_TC_STR];
    unsigned char given[64];          /* given[k]: key k was set explicitly */
} cli_train_cfg;

/* cli_tc_model_is_file: non-zero when model names a model text file rather than
 * a built-in model (it ends in ".cnm" or holds a '/'). */
int cli_tc_model_is_file(const char *model);

/* cli_tc_default: every key's default, model name (a built-in model, or a model
 * file: see cli_tc_model_is_file; the file is read later, by cli_tc_build).
 * Returns 0, or -1 with msg for an unknown model. */
int cli_tc_default(cli_train_cfg *c, const char *model, char *msg, size_t cap);

/* cli_tc_is_key: non-zero when name (with '-' or '_') is a configuration key. */
int cli_tc_is_key(const char *name);

/* cli_tc_set: set key (with '-' or '_') to value. Returns 0, or -1 with msg
 * ("unknown key 'lrr' (did you mean 'lr'?)", "epochs: '1e99' is not an integer in
 * [1, 1000000]"). */
int cli_tc_set(cli_train_cfg *c, const char *key, const char *value, char *msg, size_t cap);

/* cli_tc_apply_flags: set every configuration key given as a flag in argv
 * ("--key value" or "--key=value", '-' and '_' alike), in order, skipping the
 * command's own flags: bools[0..n_bools) take no value, values[0..n_values) take
 * one (names with '-'). Non-flag words are skipped. Returns 0, or CLI_EXIT_USAGE
 * after printing "convnet: <cmd>: --key: <why>". */
int cli_tc_apply_flags(int argc, char **argv, const char *cmd, const char *const *bools,
                       int n_bools, const char *const *values, int n_values, cli_train_cfg *c);

/* cli_tc_load_file: apply a configuration file: "key = value" per line, blank
 * lines and '#' comments ignored; "model = NAME" first resets to that model's
 * defaults. Returns 0, or -1 with msg "path:line:col: ...". */
int cli_tc_load_file(cli_train_cfg *c, const char *path, char *msg, size_t cap);

/* cli_tc_print: write every key as "key = value" (a valid configuration file),
 * keys given explicitly unmarked, defaults followed by "  # default". */
void cli_tc_print(const cli_train_cfg *c, FILE *f);

/* cli_tc_fingerprint: FNV-1a of the keys that decide the trained parameters (all
 * but data, out, threads, checkpoint_every, monitor, and for model files the
 * file's path and params), in print form. For a model file the caller mixes in
 * the built network's text (cli_tc_build's text), which the path and params
 * decide. */
uint64_t cli_tc_fingerprint(const cli_train_cfg *c);

/* cli_tc_finish: check every value and fill the library configuration: *tc
 * (optimiser, schedule, momentum ramp, early stopping, EMA, ...; run_dir and the
 * callbacks are left NULL) and the model spec (with the data's input shape c, h, w
 * and classes). n_train: training-split size (steps per epoch for schedules given
 * in epochs but counted per step). Returns 0, or -1 with msg naming the key. */
int cli_tc_finish(const cli_train_cfg *c, int in_c, int in_h, int in_w, int classes,
                  int n_train, cn_train_config *tc, cn_builtin_spec *spec, char *msg,
                  size_t cap);

/* cli_tc_build: a new, uncompiled model for the configuration and the finished
 * spec (cli_tc_finish): cn_builtin_build, or the model file read with the data's
 * c, h, w and classes as defaults of its params of those names and c->params
 * (comma-separated NAME=VALUE) as overrides. The file's network must take
 * spec's c x h x w images and predict spec->classes values, else -1 with msg
 * saying which and how to fix it. *text (when not NULL) receives the built
 * network's cn_model_print text (cn_free) for model files, NULL for built-in
 * models. Returns the model, or NULL with msg (*usage 1 for configuration
 * errors, 0 for I/O or memory). */
cn_model *cli_tc_build(const cli_train_cfg *c, const cn_builtin_spec *spec, char **text,
                       int *usage, char *msg, size_t cap);

/* cli_tc_help: one line per key (name, default, meaning) to f, leaving out the
 * n_skip keys named in skip (a command's own options of the same name). */
void cli_tc_help(FILE *f, const char *const *skip, int n_skip);

#endif /* CONVNET_CLI_TRAIN_CONFIG_H */
