/* report_internal.h: what the files of the training report share: the run
 * folder's contents once read (report_read.c), the model and test predictions
 * (report_model.c), and one rendered figure (report_figs.c, report_model.c),
 * assembled into HTML by report.c. */
#ifndef CONVNET_REPORT_INTERNAL_H
#define CONVNET_REPORT_INTERNAL_H

#include <jansson.h>

#include "convnet/modelfile.h"
#include "convnet/plot.h"
#include "convnet/report.h"

/* One line of metrics.jsonl (NaN for null or missing numbers). */
typedef struct rp_epoch {
    long long epoch, step;
    double loss, lr, train_acc, val_acc, val_loss, seconds;
} rp_epoch;

/* The run folder and what the report computed from it. */
typedef struct rp_run {
    const char *dir;
    /* metrics.jsonl */
    int n_epochs;
    rp_epoch *ep;         /* (n_epochs) */
    json_t *lines;        /* array of the n_epochs line objects */
    /* steps.csv (n_steps 0 when absent) */
    int n_steps;
    double *steps;        /* (4, n_steps): step, epoch, loss, lr */
    /* config.txt, NUL-terminated, or NULL when absent */
    char *config;
    /* the model file */
    char model_path[CN_REPORT_PATH_MAX];
    char model_desc[512]; /* the "model" metadata */
    cn_model *m;
    cn_model_info info;
    /* test predictions (test NULL: n_test 0) */
    const cn_dataset *test_raw;
    cn_dataset *test_norm; /* a copy normalised with the model file's statistics */
    int n_test;
    int *pred;            /* (n_test) */
    cn_real *conf_p;      /* (n_test) probability of the predicted class */
    double test_acc;
} rp_run;

/* One figure: rendered PNG bytes, or why it was left out. */
typedef struct rp_fig {
    int written;
    uint8_t *png;        /* cn_free */
    size_t png_len;
    int w, h;
    char caption[2048];  /* HTML (already escaped) */
    char why[512];       /* plain text, when not written */
} rp_fig;

/* report_read.c */
cn_status rp_read_metrics(rp_run *r, cn_error *err);
cn_status rp_read_steps(rp_run *r, cn_error *err);
cn_status rp_read_config(rp_run *r, cn_error *err);
/* rp_json_num: o[key] as a double (NaN when missing, null or not a number). */
double rp_json_num(const json_t *o, const char *key);

/* report_model.c */
cn_status rp_load_model(rp_run *r, const cn_report_opts *o, cn_error *err);
cn_status rp_predict(rp_run *r, const cn_report_opts *o, cn_error *err);
cn_status rp_fig_filters(rp_run *r, rp_fig *f, cn_error *err);
cn_status rp_fig_confusion(rp_run *r, rp_fig *f, cn_error *err);
cn_status rp_fig_per_class(rp_run *r, rp_fig *f, cn_error *err);
cn_status rp_fig_misclassified(rp_run *r, const cn_report_opts *o, rp_fig *f, cn_error *err);
cn_status rp_fig_weight_hist(rp_run *r, rp_fig *f, cn_error *err);
cn_status rp_fig_act_hist(rp_run *r, const cn_report_opts *o, rp_fig *f, cn_error *err);

/* report_figs.c */
cn_status rp_fig_loss(rp_run *r, rp_fig *f, cn_error *err);
cn_status rp_fig_lr(rp_run *r, rp_fig *f, cn_error *err);
cn_status rp_fig_accuracy(rp_run *r, rp_fig *f, cn_error *err);
cn_status rp_fig_update_ratio(rp_run *r, rp_fig *f, cn_error *err);
/* rp_fig_finish: encode c into f (and free c). */
cn_status rp_fig_finish(rp_fig *f, cn_canvas *c, cn_error *err);
/* rp_hist_panels: draw n histograms in a grid of panels 3 wide: titles[i],
 * range lo[i]..hi[i], counts (n, bins); the canvas is made here. */
cn_status rp_hist_panels(rp_fig *f, int n, const char *const *titles, const double *lo,
                         const double *hi, const double *counts, int bins, cn_rgb color,
                         cn_error *err);

#endif /* CONVNET_REPORT_INTERNAL_H */
