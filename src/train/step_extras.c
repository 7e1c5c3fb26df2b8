/* step_extras.c: what the trainer does around each step besides the step itself
 * (train_internal.h): the augmentation of a gathered training batch (per-sample
 * RNGs derived from the seed, the epoch and the position, then the
 * normalisation) and the per-step log run_dir/steps.csv (trimmed to the
 * checkpoint's step when a run resumes, so it never holds steps twice). */
#include "train_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "convnet/loader.h"
#include "convnet/safetensors.h"

#define STEPS_HEADER "step,epoch,loss,lr\n"

cn_status cn_train_check_config(const cn_train_config *c, cn_error *err)
{
    if (c->epochs < 1)
        return cn_error_set(err, CN_ERR_ARG, "train: epochs = %d: must be >= 1", c->epochs);
    if (c->batch < 1)
        return cn_error_set(err, CN_ERR_ARG, "train: batch = %d: must be >= 1", c->batch);
    if (c->patience < 0)
        return cn_error_set(err, CN_ERR_ARG, "train: patience = %d: must be >= 0",
                            c->patience);
    if (c->checkpoint_every < 0)
        return cn_error_set(err, CN_ERR_ARG, "train: checkpoint_every = %d: must be >= 0",
                            c->checkpoint_every);
    if ((int)c->nan_policy < 0 || c->nan_policy >= CN_NAN_POLICY_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "train: nan_policy = %d: unknown",
                            (int)c->nan_policy);
    if (c->threads < 0)
        return cn_error_set(err, CN_ERR_ARG, "train: threads = %d: must be >= 0", c->threads);
    if (!(c->ema_decay >= 0 && c->ema_decay < 1))
        return cn_error_set(err, CN_ERR_ARG, "train: ema_decay = %g: must be in [0, 1)",
                            c->ema_decay);
    if ((int)c->sched.unit < 0 || c->sched.unit >= CN_SCHED_UNIT_COUNT)
        return cn_error_set(err, CN_ERR_ARG, "train: schedule unit = %d: unknown",
                            (int)c->sched.unit);
    return CN_OK;
}

cn_status cn_train_check_augment(const cn_train_config *cfg, int c, int h, int w,
                                 cn_error *err)
{
    const cn_sample_transform *a = cfg->augment;
    if (a && (a->c != c || a->h != h || a->w != w || a->oc != c || a->oh != h || a->ow != w))
        return cn_error_set(err, CN_ERR_SHAPE,
                            "train: the augmentation maps (%d, %d, %d) to (%d, %d, %d); the "
                            "training images are (%d, %d, %d) and must stay so",
                            a->c, a->h, a->w, a->oc, a->oh, a->ow, c, h, w);
    const cn_norm *nm = cfg->augment_norm;
    if (a && nm && (nm->c != c || nm->h != h || nm->w != w))
        return cn_error_set(err, CN_ERR_SHAPE,
                            "train: the normalisation after augmentation was fitted on (%d, "
                            "%d, %d); the training images are (%d, %d, %d)",
                            nm->c, nm->h, nm->w, c, h, w);
    return CN_OK;
}

cn_status cn_train_augment_batch(const cn_train_config *cfg, cn_real *x, int n, int c, int h,
                                 int w, int epoch, int pos0, cn_real *scratch, cn_error *err)
{
    const cn_sample_transform *a = cfg->augment;
    size_t d = (size_t)c * h * w;
    for (int i = 0; i < n; i++) {
        cn_real *row = x + (size_t)i * d; // (c, h, w)
        memcpy(scratch, row, d * sizeof *row);
        cn_rng rng;
        cn_loader_sample_rng(cfg->seed, epoch, (int64_t)pos0 + i, &rng);
        if (a->apply) {
            cn_status st = a->apply(a->ctx, scratch, row, &rng, err);
            if (st != CN_OK) return cn_error_prefix(err, "train: augmentation: ");
        }
    }
    if (!cfg->augment_norm) return CN_OK;
    return cn_norm_apply_samples(cfg->augment_norm, x, (size_t)n, c, h, w, err);
}

/* The complete lines of path with a step <= last, header first, into a new
 * buffer (*out, *len); 0 on success, -1 out of memory. A missing file gives the
 * header alone. */
static int kept_lines(const char *path, uint64_t last, char **out, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = cn_malloc(cap), line[256];
    if (!buf) return -1;
    memcpy(buf, STEPS_HEADER, sizeof STEPS_HEADER - 1);
    n = sizeof STEPS_HEADER - 1;
    FILE *f = fopen(path, "rb");
    while (f && fgets(line, sizeof line, f)) {
        size_t k = strlen(line);
        unsigned long long step = 0;
        if (k == 0 || line[k - 1] != '\n' || sscanf(line, "%llu,", &step) != 1 || step == 0 ||
            step > last)
            continue; /* the header, a torn line, or a step that will run again */
        if (n + k > cap) {
            char *g = cn_malloc(2 * (n + k));
            if (!g) {
                fclose(f);
                cn_free(buf);
                return -1;
            }
            memcpy(g, buf, n);
            cn_free(buf);
            buf = g;
            cap = 2 * (n + k);
        }
        memcpy(buf + n, line, k);
        n += k;
    }
    if (f) fclose(f);
    *out = buf;
    *len = n;
    return 0;
}

cn_status cn_train_steps_open(const char *run_dir, int resuming, uint64_t resume_step,
                              FILE **out, cn_error *err)
{
    *out = NULL;
    if (!run_dir) return CN_OK;
    char path[4096];
    int k = snprintf(path, sizeof path, "%s/steps.csv", run_dir);
    if (k < 0 || (size_t)k >= sizeof path)
        return cn_error_set(err, CN_ERR_ARG, "train: run_dir '%s': path too long", run_dir);
    if (resuming) {
        char *buf = NULL;
        size_t len = 0;
        if (kept_lines(path, resume_step, &buf, &len) != 0)
            return cn_error_set(err, CN_ERR_NOMEM, "train: out of memory reading %s", path);
        cn_status st = cn_write_file_atomic(path, (const uint8_t *)buf, len, 0, err);
        cn_free(buf);
        if (st != CN_OK) return st;
    }
    FILE *f = fopen(path, resuming ? "a" : "w");
    if (!f)
        return cn_error_set(err, CN_ERR_IO, "train: %s: cannot create: %s", path,
                            strerror(errno));
    if (!resuming) fputs(STEPS_HEADER, f);
    *out = f;
    return CN_OK;
}

void cn_train_steps_write(FILE *f, uint64_t step, int epoch, double loss, double lr)
{
    if (!f) return;
    if (isfinite(loss))
        fprintf(f, "%llu,%d,%.9g,%.9g\n", (unsigned long long)step, epoch, loss, lr);
    else
        fprintf(f, "%llu,%d,nan,%.9g\n", (unsigned long long)step, epoch, lr);
}

cn_status cn_train_steps_close(FILE *f, const char *run_dir, cn_error *err)
{
    if (!f) return CN_OK;
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (bad)
        return cn_error_set(err, CN_ERR_IO, "train: %s/steps.csv: write failed", run_dir);
    return CN_OK;
}
