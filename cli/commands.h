/* cli/commands.h: the sub-commands of the convnet tool. Each takes the words after
 * its name and returns the process exit status (CLI_EXIT_* in args.h); each help
 * function prints the command's usage, every flag with its default, and examples. */
#ifndef CONVNET_CLI_COMMANDS_H
#define CONVNET_CLI_COMMANDS_H

#include <stdio.h>

/* convnet knn: k-nearest neighbours on an IDX dataset (cli/cmd_knn.c). */
int cmd_knn(int argc, char **argv);
void cmd_knn_help(FILE *f);

/* convnet linear: linear SVM / softmax classifier (cli/cmd_linear.c). */
int cmd_linear(int argc, char **argv);
void cmd_linear_help(FILE *f);

/* convnet augment: preview data augmentation as a PNG grid (cli/cmd_augment.c). */
int cmd_augment(int argc, char **argv);
void cmd_augment_help(FILE *f);

/* convnet eval: evaluate model files, alone or as an ensemble (cli/cmd_eval.c). */
int cmd_eval(int argc, char **argv);
void cmd_eval_help(FILE *f);

/* convnet train: train a built-in network or a model text file (cli/cmd_train.c). */
int cmd_train(int argc, char **argv);
void cmd_train_help(FILE *f);

/* convnet search: random hyperparameter search, coarse to fine (cli/cmd_search.c). */
int cmd_search(int argc, char **argv);
void cmd_search_help(FILE *f);

/* convnet summary: per-node shapes, memory, params, FLOPs, receptive fields
 * (cli/cmd_summary.c). */
int cmd_summary(int argc, char **argv);
void cmd_summary_help(FILE *f);

/* convnet bench: time a network's training step or inference; per-op profile
 * (cli/cmd_bench.c). */
int cmd_bench(int argc, char **argv);
void cmd_bench_help(FILE *f);

/* convnet predict: top-k classes of images or dataset records under a model file
 * (cli/cmd_predict.c). */
int cmd_predict(int argc, char **argv);
void cmd_predict_help(FILE *f);

/* convnet gradcheck: per-parameter gradient check of a network on random data
 * (cli/cmd_gradcheck.c). */
int cmd_gradcheck(int argc, char **argv);
void cmd_gradcheck_help(FILE *f);

/* convnet report: the training report of a run folder: report.html + figure PNGs
 * (cli/cmd_report.c). */
int cmd_report(int argc, char **argv);
void cmd_report_help(FILE *f);

#endif /* CONVNET_CLI_COMMANDS_H */
