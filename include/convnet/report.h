/* convnet/report.h: the training report of a run folder (what `convnet train
 * --out RUN_DIR` writes): one self-contained RUN_DIR/report.html (figures
 * embedded as base64 PNG data, inline CSS, no external assets, no framework) and
 * every figure as RUN_DIR/report/NN-name.png: loss (linear and log) and learning
 * rate over steps, train/validation accuracy per epoch with the gap, first-layer
 * filters, confusion matrix, per-class accuracy, misclassified test images,
 * per-layer weight and activation histograms, update/weight ratios.
 * docs/report.md says how to read each figure. */
#ifndef CONVNET_REPORT_H
#define CONVNET_REPORT_H

#include "convnet/core.h"
#include "convnet/data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The figures, in report order; the number is the NN of the PNG's name. */
typedef enum cn_report_figure {
    CN_FIG_LOSS = 0,      /* 01-loss.png: loss per step, linear and log10 */
    CN_FIG_LR,            /* 02-lr.png: learning rate per step */
    CN_FIG_ACCURACY,      /* 03-accuracy.png: train / val accuracy per epoch, gap */
    CN_FIG_FILTERS,       /* 04-filters.png: first-layer filters or templates */
    CN_FIG_CONFUSION,     /* 05-confusion.png: test confusion matrix (needs test) */
    CN_FIG_PER_CLASS,     /* 06-per-class.png: test accuracy per class (needs test) */
    CN_FIG_MISCLASSIFIED, /* 07-misclassified.png: wrong test predictions (needs test) */
    CN_FIG_WEIGHT_HIST,   /* 08-weight-hist.png: per-layer weight histograms */
    CN_FIG_ACT_HIST,      /* 09-act-hist.png: per-layer activation histograms */
    CN_FIG_UPDATE_RATIO,  /* 10-update-ratio.png: update/weight ratio per epoch */
    CN_FIG_COUNT
} cn_report_figure;

/* cn_report_figure_file: "01-loss.png", ... (NULL for a bad value). */
const char *cn_report_figure_file(cn_report_figure f);

/* Options of cn_report_write; start from cn_report_opts_default. */
typedef struct cn_report_opts {
    const char *weights;   /* NULL or "best": RUN_DIR/best.safetensors, else
                              RUN_DIR/model.safetensors; "last":
                              RUN_DIR/model.safetensors; anything else: a path */
    int max_misclassified; /* images in the misclassified grid (default 36, 0..256) */
    int act_images;        /* test images for activation histograms when
                              metrics.jsonl has no "layers" (default 256, 1..4096) */
    int batch;             /* images per forward pass (default 256, 1..65536) */
    cn_progress progress;  /* stages "report: ..." (optional) */
} cn_report_opts;

void cn_report_opts_default(cn_report_opts *o);

#define CN_REPORT_PATH_MAX 4096

/* What cn_report_write did. */
typedef struct cn_report_result {
    char html[CN_REPORT_PATH_MAX];     /* RUN_DIR/report.html */
    char weights[CN_REPORT_PATH_MAX];  /* the model file used */
    int n_figures;                     /* figures written */
    cn_report_figure figures[CN_FIG_COUNT]; /* which, in order */
    double test_accuracy;              /* of the weights used; NaN without test data */
    int test_n;                        /* test images evaluated (0 without) */
    int epochs;                        /* lines of metrics.jsonl */
    long long steps;                   /* the last line's "step" */
} cn_report_result;

/* cn_report_write: read RUN_DIR/metrics.jsonl (required: one JSON object a line),
 * RUN_DIR/steps.csv (optional: "step,epoch,loss,lr" then one line a step; without
 * it loss and learning rate are drawn per epoch from metrics.jsonl and the
 * caption says so), RUN_DIR/config.txt (optional, shown as it is) and the model
 * file chosen by opts, then write RUN_DIR/report/NN-name.png for each figure and
 * RUN_DIR/report.html (atomically: a temporary file renamed). test is the RAW
 * test set (pixels in [0, 1], as cn_dataset_load returns it); the model file's
 * own normalisation is applied to a copy. test NULL: the confusion matrix,
 * per-class accuracy and misclassified figures (and activation histograms when
 * metrics.jsonl has none) are left out and the HTML says why; their stale PNGs
 * from an earlier report are removed. res (may be NULL) gets what was written.
 * Errors (messages name the file and, for metrics.jsonl and steps.csv, the line):
 * CN_ERR_ARG (NULL run_dir, bad opts), CN_ERR_IO (a missing or unreadable file,
 * write failures), CN_ERR_FORMAT (a line that is not a JSON object, a torn last
 * line, a bad steps.csv line, a model file error), CN_ERR_SHAPE (test images or
 * classes that do not match the model), CN_ERR_NOMEM. */
cn_status cn_report_write(const char *run_dir, const cn_dataset *test,
                          const cn_report_opts *opts, cn_report_result *res, cn_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_REPORT_H */
