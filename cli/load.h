/* cli/load.h: what the convnet commands share around the library: loading the
 * train and test splits of a dataset folder (any format cn_dataset_load detects:
 * IDX, CIFAR, image folders, list files) with optional size limits, the seeded
 * stratified validation split, checking an output path before any work, and
 * turning a library error into the tool's message and exit status. */
#ifndef CONVNET_CLI_LOAD_H
#define CONVNET_CLI_LOAD_H

#include <stdint.h>

#include "convnet.h"
#include "progress.h"

/* The datasets of one run, all owned (cli_data_free). */
typedef struct cli_data {
    cn_dataset *all_train; /* the loaded training set (after --train-limit), or NULL
                              when not kept */
    cn_dataset *train;     /* the training split: all_train minus val */
    cn_dataset *val;       /* the stratified validation split (n_val images) */
    cn_dataset *test;      /* the test set (after --test-limit) */
} cli_data;

/* cli_data_load: load DIR's "train" and "test" splits (format detected by
 * cn_data_detect; image datasets: 3 channels, the first training image's size), keep the first train_limit /
 * test_limit images when those are > 0, and split n_val images off the training
 * set with cn_dataset_split(seed). keep_all: also keep the whole loaded training
 * set in out->all_train. Returns a CLI_EXIT_* status after printing the message. */
int cli_data_load(const char *cmd, const char *dir, int train_limit, int test_limit,
                  int n_val, uint64_t seed, int keep_all, cli_progress *p, cli_data *out);

void cli_data_free(cli_data *d);

/* cli_load_split_for: the split ("train", "test") of the dataset folder data
 * (format detected), its images loaded at the size and channels of the model
 * described by s (image datasets; IDX and CIFAR come as they are), the first
 * limit images when limit > 0. *out is owned by the caller. Returns a CLI_EXIT_*
 * status after printing the message. */
int cli_load_split_for(const char *cmd, const char *data, const char *split,
                       const cn_builtin_spec *s, int limit, cli_progress *p, cn_dataset **out);

/* cli_check_output: fail early (CLI_EXIT_RUNTIME, message printed) when the
 * output file path cannot be written: its folder is missing, not a folder or not
 * writable, the path is a folder, or it is one of the IDX input files in data_dir. */
int cli_check_output(const char *cmd, const char *flag, const char *path,
                     const char *data_dir);

/* cli_lib_error: print the library error err as "convnet: <cmd>: <message>" and
 * return CLI_EXIT_RUNTIME, or "interrupted" and CLI_EXIT_INTERRUPT after SIGINT. */
int cli_lib_error(const char *cmd, const cn_error *err);

#endif /* CONVNET_CLI_LOAD_H */
