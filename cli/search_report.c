/* cli/search_report.c: what `convnet search` reports about its trials: a
 * trial's configuration and JSON line, the ranked table, the best trial with its
 * edge warnings, and DIR/best.txt (see search_report.h). */
#include "search_report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "search_space.h"

static const char *const STATUS_NAMES[] = {"ok", "diverged", "failed"};
static const char *const STAGE_NAMES[] = {"coarse", "fine"};

const char *cli_search_stage_name(int stage)
{
    return STAGE_NAMES[stage];
}

/* The configuration of a trial: base, its epochs, seed (when seed_too) and
 * values. 0, or -1 with msg. */
int cli_search_trial_config(const cli_search_ctx *x, const cli_trial *t, int seed_too,
                            cli_train_cfg *c, char *msg, size_t cap)
{
    *c = *x->base;
    char v[64];
    snprintf(v, sizeof v, "%d", t->epochs);
    if (cli_tc_set(c, "epochs", v, msg, cap) != 0) return -1;
    if (seed_too) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)t->seed);
        if (cli_tc_set(c, "seed", v, msg, cap) != 0) return -1;
    }
    for (int d = 0; d < x->n_dims; d++) {
        cli_space_value_text(&x->dims[d], t->values[d], v, sizeof v);
        if (cli_tc_set(c, x->dims[d].name, v, msg, cap) != 0) return -1;
    }
    return 0;
}

/* A trial as a JSON object (a line of search.jsonl, a row of the table). */
json_t *cli_search_trial_json(const cli_search_ctx *x, const cli_trial *t)
{
    json_t *o = json_object(), *vals = json_object();
    if (!o || !vals) {
        json_decref(o);
        json_decref(vals);
        return NULL;
    }
    for (int d = 0; d < x->n_dims; d++)
        json_object_set_new(vals, x->dims[d].name,
                            x->dims[d].scale == CN_SEARCH_INT
                                ? json_integer((json_int_t)t->values[d])
                                : json_real(t->values[d]));
    json_object_set_new(o, "trial", json_integer(t->index + 1));
    json_object_set_new(o, "stage", json_string(STAGE_NAMES[t->stage]));
    json_object_set_new(o, "seed", json_integer((json_int_t)t->seed));
    json_object_set_new(o, "values", vals);
    json_object_set_new(o, "val_accuracy", cli_json_real(t->score));
    json_object_set_new(o, "train_accuracy", cli_json_real(t->train_acc));
    json_object_set_new(o, "final_loss", cli_json_real(t->final_loss));
    json_object_set_new(o, "epochs", json_integer(t->epochs));
    json_object_set_new(o, "epochs_run", json_integer(t->epochs_run));
    json_object_set_new(o, "best_epoch", json_integer(t->best_epoch));
    json_object_set_new(o, "seconds", cli_json_real(t->seconds));
    json_object_set_new(o, "status", json_string(STATUS_NAMES[t->status]));
    if (t->message[0]) json_object_set_new(o, "message", json_string(t->message));
    return o;
}

/* DIR/best.txt: a comment on where it comes from, then the configuration. */
static int write_best(const cli_search_ctx *x, const cli_trial *t, int n_trials,
                      const char *path)
{
    cli_train_cfg c;
    char msg[512];
    if (cli_search_trial_config(x, t, 0, &c, msg, sizeof msg) != 0)
        return cli_runtime_error("search", "best configuration: %s", msg);
    FILE *f = fopen(path, "w");
    if (!f) return cli_runtime_error("search", "%s: cannot create: %s", path, strerror(errno));
    fprintf(f,
            "# convnet search: the best of %d trials: trial %d (%s stage), best validation\n"
            "# accuracy %.4f after %d epochs. The trial was initialised with seed %llu; the\n"
            "# seed below is the search's, which drew the validation split it was scored on.\n"
            "# Train it with: convnet train %s --config %s --out RUN_DIR [--epochs N]\n",
            n_trials, t->index + 1, STAGE_NAMES[t->stage], t->score, t->epochs,
            (unsigned long long)t->seed, c.spec.name, path);
    cli_tc_print(&c, f);
    if (fclose(f) != 0) return cli_runtime_error("search", "%s: write failed", path);
    return CLI_EXIT_OK;
}

/* The ranked table, the best trial, the edge warnings; best.txt. */
int cli_search_report(const cli_search_ctx *x, const cli_trial *trials, int n, int coarse_trials,
                      int fine_trials, const cn_search_dim *fine, int have_fine, int interrupted,
                      const char *best_path, cli_out *out)
{
    double *score = cn_malloc((size_t)n * sizeof *score); // (n)
    int *order = cn_malloc((size_t)n * sizeof *order);   // (n)
    int nd = x->n_dims, ncols = 6 + nd;
    const char **hdr = cn_malloc((size_t)ncols * sizeof *hdr);   // (ncols)
    const char **cells = cn_malloc((size_t)ncols * sizeof *cells); // (ncols)
    char(*buf)[40] = cn_malloc((size_t)ncols * sizeof *buf);     // (ncols, 40)
    int rc = CLI_EXIT_OK;
    if (!score || !order || !hdr || !cells || !buf) {
        rc = cli_runtime_error("search", "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) score[i] = trials[i].score;
    cn_search_rank(score, n, order);
    int c0 = 0;
    hdr[c0++] = "rank";
    hdr[c0++] = "trial (stage)";
    for (int d = 0; d < nd; d++) hdr[c0++] = x->dims[d].name;
    hdr[c0++] = "val acc";
    hdr[c0++] = "train acc";
    hdr[c0++] = "epochs";
    hdr[c0++] = "status";
    char title[256];
    snprintf(title, sizeof title, "random search of %.32s: %d trials%s, ranked by best validation "
                                  "accuracy:",
             x->base->spec.name, n, interrupted ? " (interrupted)" : "");
    cli_table *t = cli_out_table(out, "trials", title, ncols, hdr);
    for (int r = 0; r < n; r++) {
        const cli_trial *tr = &trials[order[r]];
        int c = 0;
        snprintf(buf[c], sizeof buf[c], "%d", r + 1);
        cells[c] = buf[c];
        c++;
        snprintf(buf[c], sizeof buf[c], "%d (%s)", tr->index + 1, STAGE_NAMES[tr->stage]);
        cells[c] = buf[c];
        c++;
        for (int d = 0; d < nd; d++, c++) {
            cli_space_value_cell(&x->dims[d], tr->values[d], buf[c], sizeof buf[c]);
            cells[c] = buf[c];
        }
        cells[c] = cli_fmt_real(tr->score, CLI_FMT_ACC, buf[c], sizeof buf[c]);
        c++;
        cells[c] = cli_fmt_real(tr->train_acc, CLI_FMT_ACC, buf[c], sizeof buf[c]);
        c++;
        snprintf(buf[c], sizeof buf[c], "%d", tr->epochs_run);
        cells[c] = buf[c];
        c++;
        cells[c++] = STATUS_NAMES[tr->status];
        json_t *o = cli_search_trial_json(x, tr);
        if (o) json_object_set_new(o, "rank", json_integer(r + 1));
        cli_table_row(t, cells, o);
    }
    cli_out_json(out, "space", cli_space_json(x->dims, nd));
    if (have_fine) cli_out_json(out, "fine_space", cli_space_json(fine, nd));
    cli_out_int(out, "coarse_trials", NULL, coarse_trials);
    cli_out_int(out, "fine_trials", NULL, have_fine ? fine_trials : 0);
    const cli_trial *best = n > 0 && !isnan(trials[order[0]].score) ? &trials[order[0]] : NULL;
    json_t *edges = json_array();
    if (best) {
        for (int d = 0; d < nd; d++) {
            const cn_search_dim *dim = &x->dims[d];
            int e = cn_search_at_edge(dim, best->values[d]);
            if (!e) continue;
            char v[32];
            cli_space_value_cell(dim, best->values[d], v, sizeof v);
            cli_progress_warn(x->p, "best %s %s lies at the %s edge of %g:%g: widen the range",
                              dim->name, v, e < 0 ? "bottom" : "top", dim->lo, dim->hi);
            if (edges)
                json_array_append_new(edges, json_pack("{s:s, s:f, s:s, s:f, s:f}", "name",
                                                       dim->name, "value", best->values[d],
                                                       "side", e < 0 ? "low" : "high", "lo",
                                                       dim->lo, "hi", dim->hi));
        }
        if ((rc = write_best(x, best, n, best_path)) != CLI_EXIT_OK) {
            json_decref(edges);
            goto done;
        }
        cli_out_json(out, "best", cli_search_trial_json(x, best));
        cli_out_int(out, "best_trial", "best trial", best->index + 1);
        cli_out_real(out, "best_val_accuracy", "best val accuracy", best->score, CLI_FMT_ACC);
        for (int d = 0; d < nd; d++) {
            char label[64], key[64];
            snprintf(label, sizeof label, "best %.*s", CN_SEARCH_NAME_MAX, x->dims[d].name);
            snprintf(key, sizeof key, "best_%.*s", CN_SEARCH_NAME_MAX, x->dims[d].name);
            if (x->dims[d].scale == CN_SEARCH_INT)
                cli_out_int(out, key, label, (long long)best->values[d]);
            else
                cli_out_real(out, key, label, best->values[d], CLI_FMT_G);
        }
        cli_out_str(out, "best_config", "best configuration", best_path);
    } else {
        cli_out_json(out, "best", json_null());
    }
    cli_out_json(out, "edges", edges);
    cli_out_bool(out, "interrupted", NULL, interrupted);
done:
    cn_free(score);
    cn_free(order);
    cn_free(hdr);
    cn_free(cells);
    cn_free(buf);
    return rc;
}
