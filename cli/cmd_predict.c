/* cli/cmd_predict.c: `convnet predict MODEL.safetensors IMAGE...`: the top-k
 * classes, with their softmax probabilities, of PNG / JPEG files (decoded and
 * converted to the model's channels and size by the library) and of dataset
 * records picked by index (--data PATH --index LIST: a dataset folder's test
 * split, one IDX images file, or one CIFAR .bin batch), with the true label of a
 * record when it is known. The model file carries the network, the class names
 * and the normalisation fitted at training time, which is applied to the raw
 * [0, 1] pixels exactly as training did. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "args.h"
#include "commands.h"
#include "convnet.h"
#include "convnet/modelfile.h"
#include "load.h"
#include "output.h"
#include "progress.h"

#define PR_NFLAGS 10
#define PR_DEFAULT_TOP 5
#define PR_DEFAULT_BATCH 64
#define PR_NAME_MAX 512

#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct pred_cfg {
    const char *model, *data, *fit, *alpha;
    const char **images; /* (n_images) into argv */
    int n_images;
    cli_int_list index;
    int top, batch, threads, json, quiet;
} pred_cfg;

/* The inputs, raw and then normalised, with what is known about each. */
typedef struct pred_inputs {
    cn_dataset *ds;   /* (n, c, h, w) in the model's input shape */
    char (*name)[PR_NAME_MAX]; /* (n) "file.png" or "PATH[17]" */
    int *label;       /* (n) true label, or -1 */
    char **label_names; /* the records' class names (borrowed from recs), or NULL */
    int n_label_names;
} pred_inputs;

static int pred_flags(cli_flag *f, pred_cfg *c)
{
    cli_flag t[PR_NFLAGS] = {
        {"top", CLI_FLAG_INT, "K", "classes shown per input (at most the model's classes)",
         STR(PR_DEFAULT_TOP), 1, 1e6, 0, NULL, &c->top, 0},
        {"data", CLI_FLAG_STRING, "PATH", "records for --index: a dataset folder (its test "
         "split), an IDX images file or a CIFAR .bin", "none", 0, 0, 0, NULL, &c->data, 0},
        {"index", CLI_FLAG_INT_LIST, "LIST", "record indices of --data, e.g. 0,17,42 (at most "
         STR(CLI_LIST_MAX) ")", "none", 0, 2147483647.0, 0, NULL, &c->index, 0},
        {"fit", CLI_FLAG_STRING, "crop|stretch", "images of another size: centred crop after "
         "scaling, or stretch", "crop", 0, 0, 0, NULL, &c->fit, 0},
        {"alpha", CLI_FLAG_STRING, "black|drop", "an alpha channel: composite over black, or "
         "ignore it", "black", 0, 0, 0, NULL, &c->alpha, 0},
        {"batch", CLI_FLAG_INT, "N", "images per forward pass", STR(PR_DEFAULT_BATCH), 1, 65536,
         0, NULL, &c->batch, 0},
        {"json", CLI_FLAG_BOOL, "", "print one JSON object on stdout", "off", 0, 0, 0, NULL,
         &c->json, 0},
        {"quiet", CLI_FLAG_BOOL, "", "no progress on stderr", "off", 0, 0, 0, NULL, &c->quiet,
         0},
        {"help", CLI_FLAG_BOOL, "", "show this help", NULL, 0, 0, 0, NULL, NULL, 0},
        {"threads", CLI_FLAG_INT, "N", "threads (OpenMP and BLAS)", "all cores", 1, 1024, 0,
         NULL, &c->threads, 0},
    };
    memcpy(f, t, sizeof t);
    return PR_NFLAGS;
}

static void pred_cfg_default(pred_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->top = PR_DEFAULT_TOP;
    c->batch = PR_DEFAULT_BATCH;
    c->fit = "crop";
    c->alpha = "black";
}

void cmd_predict_help(FILE *f)
{
    pred_cfg c;
    cli_flag flags[PR_NFLAGS];
    pred_cfg_default(&c);
    int n = pred_flags(flags, &c);
    fprintf(f,
            "Usage: convnet predict MODEL.safetensors IMAGE... [FLAGS]\n"
            "       convnet predict MODEL.safetensors --data PATH --index 0,17,42 [FLAGS]\n\n"
            "Print the top-K classes and their probabilities (softmax of the network's\n"
            "output) for each input. IMAGE is a PNG or JPEG file, converted to the model's\n"
            "channels (grey <-> RGB, alpha per --alpha) and size (--fit). Records by index\n"
            "come from --data: a dataset folder (its test split), one IDX images file (the\n"
            "labels file beside it, *-labels-idx1-ubyte, gives the true labels) or one\n"
            "CIFAR .bin batch; their true label is printed too. The model file's\n"
            "normalisation (fitted on its training split) is applied to the raw pixels.\n"
            "Exit status: 1 for an unreadable or corrupt file (named), 2 for usage errors,\n"
            "an index beyond the records included.\n\n"
            "Flags (a repeated flag: the last one wins):\n");
    cli_args_help(f, flags, n);
    fprintf(f, "\nExamples:\n"
               "  convnet predict runs/a/best.safetensors shoe.png shirt.jpg\n"
               "  convnet predict runs/a/best.safetensors cat.png --top 3 --json\n"
               "  convnet predict runs/a/best.safetensors --data "
               "/usr/share/datasets/fashion-mnist --index 0,17,42\n");
}

static void inputs_free(pred_inputs *in)
{
    cn_dataset_free(in->ds);
    cn_free(in->name);
    cn_free(in->label);
    memset(in, 0, sizeof *in);
}

/* Decode every image file into in->ds[0..n_images) with the model's shape. */
static int load_images(const pred_cfg *c, const cn_builtin_spec *s, pred_inputs *in,
                       cli_progress *p)
{
    cn_error err;
    cn_error_clear(&err);
    if (c->n_images == 0) return CLI_EXIT_OK;
    if (s->c != 1 && s->c != 3)
        return cli_runtime_error("predict", "%s takes %dx%dx%d inputs: images need 1 or 3 "
                                 "channels", c->model, s->c, s->h, s->w);
    cn_image_opts o;
    cn_image_opts_default(&o);
    o.channels = s->c;
    o.height = s->h;
    o.width = s->w;
    if (cn_image_fit_parse(c->fit, &o.fit, &err) != CN_OK ||
        cn_image_alpha_parse(c->alpha, &o.alpha, &err) != CN_OK)
        return cli_usage_error("predict", "%s", err.msg);
    cli_progress_stage(p, "decoding %d image%s as %dx%dx%d (fit %s)", c->n_images,
                       c->n_images == 1 ? "" : "s", s->c, s->h, s->w, c->fit);
    size_t sample = (size_t)s->c * (size_t)s->h * (size_t)s->w;
    for (int i = 0; i < c->n_images; i++) {
        cn_image img;
        if (cn_image_load(c->images[i], &o, &img, &err) != CN_OK)
            return cli_lib_error("predict", &err);
        memcpy(in->ds->images->data + (size_t)i * sample, img.data, sample * sizeof(cn_real));
        cn_image_free(&img);
        snprintf(in->name[i], PR_NAME_MAX, "%s", c->images[i]);
        in->label[i] = -1;
    }
    return CLI_EXIT_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* One IDX images file (labels from the *-labels-idx1-ubyte[.gz] file beside it
 * when there is one) as a dataset of 1-channel images. */
static cn_status read_idx_file(const char *path, cn_dataset **out, cn_error *err)
{
    cn_idx im, lb;
    memset(&lb, 0, sizeof lb);
    cn_status st = cn_idx_read(path, 3, &im, err);
    if (st != CN_OK) return st;
    if (im.dims[0] > (uint32_t)2147483647 || im.dims[1] > 65536 || im.dims[2] > 65536) {
        cn_idx_free(&im);
        return cn_error_set(err, CN_ERR_RANGE, "%s: %u images of %ux%u are too many for a "
                            "dataset", path, im.dims[0], im.dims[1], im.dims[2]);
    }
    char lpath[PR_NAME_MAX + 16];
    const char *at = strstr(path, "images-idx3");
    int have_labels = 0;
    if (at && strlen(path) < PR_NAME_MAX) {
        snprintf(lpath, sizeof lpath, "%.*slabels-idx1%s", (int)(at - path), path,
                 at + strlen("images-idx3"));
        struct stat sb;
        have_labels = stat(lpath, &sb) == 0;
    }
    if (have_labels) {
        st = cn_idx_read(lpath, 1, &lb, err);
        if (st == CN_OK && lb.dims[0] != im.dims[0])
            st = cn_error_set(err, CN_ERR_FORMAT, "%s has %u labels but %s has %u images",
                              lpath, lb.dims[0], path, im.dims[0]);
    }
    int k = 10;
    for (size_t i = 0; st == CN_OK && i < lb.count; i++)
        if (lb.data[i] + 1 > k) k = lb.data[i] + 1;
    cn_dataset *ds = NULL;
    if (st == CN_OK)
        ds = cn_dataset_new((int)im.dims[0], 1, (int)im.dims[1], (int)im.dims[2], k, err);
    if (st == CN_OK && !ds) st = err->code;
    for (size_t i = 0; st == CN_OK && i < im.count; i++)
        ds->images->data[i] = (cn_real)im.data[i] / (cn_real)255;
    for (int i = 0; st == CN_OK && i < ds->n; i++)
        ds->labels[i] = have_labels ? lb.data[i] : -1;
    cn_idx_free(&im);
    cn_idx_free(&lb);
    if (st != CN_OK) {
        cn_dataset_free(ds);
        return st;
    }
    *out = ds;
    return CN_OK;
}

/* The records of --data: a folder's test split (images sized for the model), an
 * IDX images file or a CIFAR batch file (variant from the file size). */
static cn_status load_records(const pred_cfg *c, const cn_builtin_spec *s, cn_dataset **out,
                              cn_error *err)
{
    struct stat sb;
    *out = NULL;
    if (stat(c->data, &sb) != 0)
        return cn_error_set(err, CN_ERR_IO, "%s: no such file or folder", c->data);
    if (S_ISDIR(sb.st_mode)) {
        cn_load_opts lo;
        cn_load_opts_default(&lo);
        cn_status st = cn_data_detect(c->data, &lo.format, err);
        if (st != CN_OK) return st;
        lo.image.height = s->h;
        lo.image.width = s->w;
        if (s->c == 1 || s->c == 3) lo.image.channels = s->c;
        if (cn_image_fit_parse(c->fit, &lo.image.fit, err) != CN_OK ||
            cn_image_alpha_parse(c->alpha, &lo.image.alpha, err) != CN_OK)
            return err->code;
        return cn_dataset_load(c->data, "test", &lo, out, err);
    }
    if (ends_with(c->data, ".bin")) {
        cn_cifar_variant v = (size_t)sb.st_size % CN_CIFAR10_RECORD == 0 ? CN_CIFAR10
                                                                          : CN_CIFAR100_FINE;
        return cn_cifar_read(c->data, v, out, err);
    }
    return read_idx_file(c->data, out, err);
}

/* Copy the --index records of --data into in->ds from position at. */
static int load_indexed(const pred_cfg *c, const cn_builtin_spec *s, int at, pred_inputs *in,
                        cn_dataset **recs_out, cli_progress *p)
{
    cn_error err;
    cn_error_clear(&err);
    if (c->index.n == 0) return CLI_EXIT_OK;
    cli_progress_stage(p, "loading records from %s", c->data);
    cn_dataset *recs = NULL;
    if (load_records(c, s, &recs, &err) != CN_OK) return cli_lib_error("predict", &err);
    *recs_out = recs;
    if (recs->c != s->c || recs->h != s->h || recs->w != s->w)
        return cli_runtime_error("predict", "%s: records are %dx%dx%d but %s takes %dx%dx%d",
                                 c->data, recs->c, recs->h, recs->w, c->model, s->c, s->h,
                                 s->w);
    size_t sample = (size_t)s->c * (size_t)s->h * (size_t)s->w;
    for (int i = 0; i < c->index.n; i++) {
        int r = c->index.v[i];
        if (r >= recs->n)
            return cli_usage_error("predict", "--index %d: %s holds %d records (0..%d)", r,
                                   c->data, recs->n, recs->n - 1);
        memcpy(in->ds->images->data + (size_t)(at + i) * sample,
               recs->images->data + (size_t)r * sample, sample * sizeof(cn_real));
        snprintf(in->name[at + i], PR_NAME_MAX, "%.*s[%d]", PR_NAME_MAX - 16, c->data, r);
        in->label[at + i] = recs->labels[r];
    }
    struct stat sb; /* a folder names its classes; single files use the model's */
    if (stat(c->data, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        in->label_names = recs->class_names;
        in->n_label_names = recs->num_classes;
    }
    return CLI_EXIT_OK;
}

/* The indices of the k largest of p[0..n) into top (ties: the lower index). */
static void top_k(const cn_real *p, int n, int k, int *top)
{
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int q = 0; q < n; q++) {
            int used = 0;
            for (int u = 0; u < j; u++) used |= top[u] == q;
            if (!used && (best < 0 || p[q] > p[best])) best = q;
        }
        top[j] = best;
    }
}

/* The results: human text, or one JSON object through out. */
static int report(const pred_cfg *c, const cn_model_info *info, const pred_inputs *in,
                  const cn_real *probs, cli_out *out)
{
    int n = in->ds->n, k = info->spec.classes, kk = c->top < k ? c->top : k;
    int *top = cn_malloc((size_t)(kk > 0 ? kk : 1) * sizeof *top); // (kk) class indices
    if (!top) return cli_runtime_error("predict", "out of memory");
    json_t *preds = c->json ? json_array() : NULL;
    int width = 5;
    for (int q = 0; q < k; q++) {
        int l = (int)strlen(info->class_names[q]);
        if (l > width) width = l < 40 ? l : 40;
    }
    if (!c->json) printf("model  %s\n", c->model);
    for (int i = 0; i < n; i++) {
        const cn_real *pi = probs + (size_t)i * (size_t)k;
        top_k(pi, k, kk, top);
        int lab = in->label[i];
        const char *lname = NULL;
        if (lab >= 0 && in->label_names && lab < in->n_label_names) lname = in->label_names[lab];
        else if (lab >= 0 && !in->label_names && lab < k) lname = info->class_names[lab];
        if (!c->json) {
            printf("\n%s", in->name[i]);
            if (lab >= 0) printf("  label: %s (%d)", lname ? lname : "?", lab);
            printf("\n");
            for (int j = 0; j < kk; j++)
                printf("  %-*s  %.4f\n", width, info->class_names[top[j]], (double)pi[top[j]]);
            continue;
        }
        json_t *tj = json_array();
        for (int j = 0; tj && j < kk; j++)
            json_array_append_new(tj, json_pack("{s:s, s:i, s:o}", "class",
                                                info->class_names[top[j]], "index", top[j],
                                                "probability", cli_json_real(pi[top[j]])));
        json_t *o = json_pack("{s:s, s:o}", "input", in->name[i], "top", tj ? tj : json_null());
        if (o && lab >= 0) {
            json_object_set_new(o, "label", json_integer(lab));
            if (lname) json_object_set_new(o, "label_name", json_string(lname));
        }
        if (preds && o) json_array_append_new(preds, o);
        else json_decref(o);
    }
    cn_free(top);
    if (!c->json) {
        if (fflush(stdout) != 0 || ferror(stdout))
            return cli_runtime_error("predict", "writing to stdout failed");
        return CLI_EXIT_OK;
    }
    cli_out_str(out, "model", NULL, c->model);
    cli_out_int(out, "top", NULL, kk);
    cli_out_json(out, "predictions", preds);
    return cli_out_print(out, 1) == 0 ? CLI_EXIT_OK : CLI_EXIT_RUNTIME;
}

static int predict_run(const pred_cfg *c, cli_progress *p, cli_out *out)
{
    cn_error err;
    cn_error_clear(&err);
    cn_model_info info;
    memset(&info, 0, sizeof info);
    int n = c->n_images + c->index.n;
    cli_progress_stage(p, "loading model %s", c->model);
    cn_model *m = cn_model_file_load(c->model, n < c->batch ? n : c->batch, &info, &err);
    if (!m) return cli_lib_error("predict", &err);
    const cn_builtin_spec *s = &info.spec;
    pred_inputs in;
    memset(&in, 0, sizeof in);
    cn_dataset *recs = NULL;
    cn_real *probs = NULL; // (n, classes)
    int rc = CLI_EXIT_OK;
    in.ds = cn_dataset_new(n, s->c, s->h, s->w, s->classes, &err);
    in.name = cn_calloc((size_t)n, sizeof *in.name);
    in.label = cn_calloc((size_t)n, sizeof *in.label);
    probs = cn_malloc((size_t)n * (size_t)s->classes * sizeof *probs);
    if (!in.ds || !in.name || !in.label || !probs)
        rc = cli_runtime_error("predict", "out of memory for %d inputs", n);
    if (rc == CLI_EXIT_OK) rc = load_images(c, s, &in, p);
    if (rc == CLI_EXIT_OK) rc = load_indexed(c, s, c->n_images, &in, &recs, p);
    if (rc == CLI_EXIT_OK) {
        cli_progress_stage(p, "predicting %d input%s (normalisation %s)", n, n == 1 ? "" : "s",
                           cn_norm_mode_name(info.norm.mode));
        if (cn_norm_apply(&info.norm, in.ds, &err) != CN_OK ||
            cn_model_predict(m, in.ds, probs, &err) != CN_OK) {
            cn_error_prefix(&err, "%s: ", c->model);
            rc = cli_lib_error("predict", &err);
        }
    }
    if (rc == CLI_EXIT_OK) rc = report(c, &info, &in, probs, out);
    inputs_free(&in);
    cn_dataset_free(recs);
    cn_free(probs);
    cn_model_free(m);
    cn_model_info_free(&info);
    return rc;
}

int cmd_predict(int argc, char **argv)
{
    pred_cfg c;
    cli_flag flags[PR_NFLAGS];
    pred_cfg_default(&c);
    int n = pred_flags(flags, &c);
    const char **pos = NULL;
    int npos = 0, help = 0;
    int rc = cli_args_parse_words(flags, n, argc, argv, "predict", &help, &pos, &npos);
    if (rc == CLI_EXIT_OK && help) {
        cmd_predict_help(stdout);
        cn_free(pos);
        return CLI_EXIT_OK;
    }
    cn_error err;
    cn_image_fit fit;
    cn_image_alpha alpha;
    if (rc == CLI_EXIT_OK && npos == 0)
        rc = cli_usage_error("predict", "no model file given; usage: convnet predict "
                                        "MODEL.safetensors IMAGE... [--top K]");
    else if (rc == CLI_EXIT_OK && npos == 1 && c.index.n == 0)
        rc = cli_usage_error("predict", "no input given: name IMAGE files, or --data PATH "
                                        "--index LIST");
    else if (rc == CLI_EXIT_OK && (c.index.n > 0) != (c.data != NULL))
        rc = cli_usage_error("predict", "--data and --index go together (records by index)");
    else if (rc == CLI_EXIT_OK && cn_image_fit_parse(c.fit, &fit, &err) != CN_OK)
        rc = cli_usage_error("predict", "--fit: %s", err.msg);
    else if (rc == CLI_EXIT_OK && cn_image_alpha_parse(c.alpha, &alpha, &err) != CN_OK)
        rc = cli_usage_error("predict", "--alpha: %s", err.msg);
    if (rc != CLI_EXIT_OK) {
        cn_free(pos);
        return rc;
    }
    c.model = pos[0];
    c.images = pos + 1;
    c.n_images = npos - 1;
    if (c.threads > 0) cn_set_num_threads(c.threads);
    cli_progress pr;
    cli_progress_init(&pr, c.quiet);
    cli_out *out = cli_out_new("predict");
    if (!out) rc = cli_runtime_error("predict", "out of memory");
    else rc = predict_run(&c, &pr, out);
    cli_out_free(out);
    cli_progress_destroy(&pr);
    cn_free(pos);
    return rc;
}
