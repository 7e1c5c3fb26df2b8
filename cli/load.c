/* cli/load.c: dataset loading, splitting, output-path checks and library-error
 * reporting shared by the convnet commands (see load.h). */
#include "load.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"

int cli_lib_error(const char *cmd, const cn_error *err)
{
    if (cli_interrupted()) {
        fprintf(stderr, "convnet: %s: interrupted\n", cmd);
        return CLI_EXIT_INTERRUPT;
    }
    const char *msg = err->msg[0] ? err->msg : cn_status_name(err->code);
    size_t n = strlen(cmd);
    if (strncmp(msg, cmd, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
        msg += n + 2; /* "train: step 4 ..." under "convnet: train: " */
    return cli_runtime_error(cmd, "%s", msg);
}

/* Replace *ds by its first `limit` records when limit is in (0, n). */
static cn_status apply_limit(cn_dataset **ds, int limit, cn_error *err)
{
    if (limit <= 0 || limit >= (*ds)->n)
        return CN_OK;
    int *idx = cn_malloc((size_t)limit * sizeof *idx);
    if (!idx)
        return cn_error_set(err, CN_ERR_NOMEM, "out of memory for %d indices", limit);
    for (int i = 0; i < limit; i++)
        idx[i] = i;
    cn_dataset *sub = NULL;
    cn_status st = cn_dataset_subset(*ds, idx, limit, &sub, err);
    cn_free(idx);
    if (st != CN_OK)
        return st;
    cn_dataset_free(*ds);
    *ds = sub;
    return CN_OK;
}

int cli_load_split_for(const char *cmd, const char *data, const char *split,
                       const cn_builtin_spec *s, int limit, cli_progress *p, cn_dataset **out)
{
    cn_error err;
    cn_error_clear(&err);
    *out = NULL;
    cn_load_opts lo;
    cn_load_opts_default(&lo);
    cn_data_format fmt = CN_DATA_AUTO;
    if (cn_data_detect(data, &fmt, &err) != CN_OK) return cli_lib_error(cmd, &err);
    lo.format = fmt;
    lo.image.height = s->h;
    lo.image.width = s->w;
    if (s->c == 1 || s->c == 3) lo.image.channels = s->c;
    cli_progress_stage(p, "loading the %s split of %s (%s)...", split, data,
                       cn_data_format_name(fmt));
    cn_dataset *ds = NULL;
    if (cn_dataset_load(data, split, &lo, &ds, &err) != CN_OK) return cli_lib_error(cmd, &err);
    if (apply_limit(&ds, limit, &err) != CN_OK) {
        cn_dataset_free(ds);
        return cli_lib_error(cmd, &err);
    }
    *out = ds;
    return CLI_EXIT_OK;
}

int cli_data_load(const char *cmd, const char *dir, int train_limit, int test_limit,
                  int n_val, uint64_t seed, int keep_all, cli_progress *p, cli_data *out)
{
    cn_error err;
    cn_error_clear(&err);
    memset(out, 0, sizeof *out);
    cn_dataset *all = NULL;
    cn_load_opts lo;
    cn_load_opts_default(&lo);
    cn_data_format fmt = CN_DATA_AUTO;
    if (cn_data_detect(dir, &fmt, &err) != CN_OK)
        return cli_lib_error(cmd, &err);
    lo.format = fmt;
    cli_progress_stage(p, "loading data from %s (%s)...", dir, cn_data_format_name(fmt));
    int ok = cn_dataset_load(dir, "train", &lo, &all, &err) == CN_OK &&
             apply_limit(&all, train_limit, &err) == CN_OK;
    if (ok) {
        /* image datasets: test images take the training images' size */
        lo.image.height = all->h;
        lo.image.width = all->w;
        ok = cn_dataset_load(dir, "test", &lo, &out->test, &err) == CN_OK &&
             apply_limit(&out->test, test_limit, &err) == CN_OK;
    }
    if (!ok) {
        cn_dataset_free(all);
        cli_data_free(out);
        return cli_lib_error(cmd, &err);
    }
    if (all->c != out->test->c || all->h != out->test->h || all->w != out->test->w) {
        int rc = cli_runtime_error(cmd, "%s: test images are %dx%dx%d but training images "
                                        "are %dx%dx%d", dir, out->test->c, out->test->h,
                                   out->test->w, all->c, all->h, all->w);
        cn_dataset_free(all);
        cli_data_free(out);
        return rc;
    }
    if (n_val >= all->n) {
        int rc = cli_usage_error(cmd, "--val %d must be smaller than the number of training "
                                      "images (%d)", n_val, all->n);
        cn_dataset_free(all);
        cli_data_free(out);
        return rc;
    }
    cli_progress_stage(p, "splitting %d training images: %d train, %d validation (seed %llu)",
                       all->n, all->n - n_val, n_val, (unsigned long long)seed);
    if (cn_dataset_split(all, n_val, seed, &out->train, &out->val, &err) != CN_OK) {
        cn_dataset_free(all);
        cli_data_free(out);
        return cli_lib_error(cmd, &err);
    }
    if (keep_all)
        out->all_train = all;
    else
        cn_dataset_free(all);
    return CLI_EXIT_OK;
}

void cli_data_free(cli_data *d)
{
    cn_dataset_free(d->all_train);
    cn_dataset_free(d->train);
    cn_dataset_free(d->val);
    cn_dataset_free(d->test);
    memset(d, 0, sizeof *d);
}

/* Is path the same file as DIR/name (when that exists)? */
static int same_file(const struct stat *st, const char *dir, const char *name)
{
    char buf[4096];
    struct stat s2;
    int n = snprintf(buf, sizeof buf, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof buf || stat(buf, &s2) != 0)
        return 0;
    return st->st_dev == s2.st_dev && st->st_ino == s2.st_ino;
}

int cli_check_output(const char *cmd, const char *flag, const char *path,
                     const char *data_dir)
{
    static const char *const inputs[] = {
        "train-images-idx3-ubyte", "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte",  "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte",  "t10k-labels-idx1-ubyte.gz",
    };
    char dir[4096];
    size_t len = strlen(path);
    if (len >= sizeof dir)
        return cli_runtime_error(cmd, "%s: path is too long (%zu bytes)", flag, len);
    const char *slash = strrchr(path, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    }
    if (slash && slash[1] == '\0')
        return cli_runtime_error(cmd, "%s '%s' names a folder, not a file", flag, path);
    struct stat st;
    if (stat(dir, &st) != 0)
        return cli_runtime_error(cmd, "%s '%s': folder '%s' does not exist (%s)", flag, path,
                                 dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cli_runtime_error(cmd, "%s '%s': '%s' is not a folder", flag, path, dir);
    if (access(dir, W_OK) != 0)
        return cli_runtime_error(cmd, "%s '%s': folder '%s' is not writable (%s)", flag, path,
                                 dir, strerror(errno));
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return cli_runtime_error(cmd, "%s '%s' is a folder, not a file", flag, path);
        for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++)
            if (same_file(&st, data_dir, inputs[i]))
                return cli_runtime_error(cmd, "%s '%s' is the input file %s/%s; refusing to "
                                              "overwrite it", flag, path, data_dir, inputs[i]);
    }
    return CLI_EXIT_OK;
}
