/* train_bench.c: the convnet side of bench/run.sh (the "fast CPU kernels"
 * benchmark). One process times ONE workload at ONE thread count and prints one
 * JSON line on stdout, so its peak memory (max RSS) is that workload's alone.
 * Workloads (bench/torch_bench.py runs the same ones in PyTorch):
 *   cnn_train            bench/small_cnn.cnm, batch 64, one SGD-momentum step
 *   resnet20_train       models/resnet20.cnm (3 x 32 x 32), batch 128
 *   mlp_train            bench/mlp.cnm (784-512-10), batch 128
 *   cnn_infer_b1/_b128   small CNN forward in evaluation mode, batch 1 / 128
 *   resnet20_infer_b1/_b128
 *   resnet20_conv_fwd    the convolutions alone in resnet20_infer_b128: the time
 *                        of its conv2d nodes' forwards (cn_model_profile) and
 *                        their FLOPs (issue 6's "convolution forward" target)
 *   knn                  squared L2 distances of the first --knn-queries
 *                        Fashion-MNIST test images to all 60000 training images
 *                        (cn_sq_norms of both sets + cn_dist_l2sq), d = 784
 *   sgemm                cn_gemm, C = A B, --gemm-n cubed (the peak reference)
 * A training step is cn_zero_grad, cn_model_forward (CN_TRAIN, cross-entropy on
 * random labels), cn_model_backward and cn_optim_step (momentum 0.9, lr 0.01), on
 * a pool of 8 synthetic batches (uniform pixels) cycled, so no data loading is
 * timed. Timing: warm-up iterations (at least --warmup-iters, 2, and --warmup-s
 * seconds) estimate
 * the time of one iteration (the last); each of --repeats repeats then runs as
 * many iterations as fill --target-s seconds (at least 1) and records seconds per
 * iteration. FLOPs per item are counted in one place, here: cn_model_flops
 * (forward, per image), times 3 for a training step (forward + backward, the usual
 * convention); knn 2 * 60000 * 784 per query; sgemm 2 n^3.
 * Usage: train_bench --workload W --threads T [--repeats 5] [--target-s 1]
 *        [--warmup-s 0.5] [--warmup-iters 2] [--root DIR] [--data DIR]
 *        [--knn-queries 2000] [--gemm-n 2048] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "convnet.h"

#define POOL 8     /* synthetic batches cycled by the model workloads */
#define MAX_REPEATS 100

typedef struct options {
    const char *workload, *root, *data;
    int threads, repeats, knn_queries, gemm_n, warmup_iters;
    double target_s, warmup_s;
} options;

/* bench: everything one workload's step reads and writes. */
typedef struct bench {
    int kind;                   /* 0 model, 1 knn, 2 sgemm */
    int train, batch, in_dim;   /* model workloads */
    cn_model *m;
    cn_optimizer *opt;
    cn_real *x;                 // (POOL, batch, in_dim)
    int *labels;                // (POOL, batch)
    cn_rng rng;
    long step;
    double loss;
    int nq, nr, d;              /* knn */
    const cn_real *q, *r;       // q (nq, d), r (nr, d): views into the datasets
    cn_dataset *train_set, *test_set;
    cn_real *qn, *rn, *dist;    // qn (nq), rn (nr), dist (nq, nr)
    int n;                      /* sgemm */
    cn_real *a, *b, *c;         // (n, n) each
    double items, flops_per_item;
    int conv_only;              /* time only the conv2d nodes' forwards (profile) */
} bench;

/* a workload: its name, model file (relative to --root), batch, training or not,
 * kind (0 model, 1 knn, 2 sgemm), and whether only the convolutions are timed. */
typedef struct workload {
    const char *name, *file;
    int batch, train, kind, conv_only;
} workload;

static const workload WORKLOADS[] = {
    {"cnn_train", "bench/small_cnn.cnm", 64, 1, 0, 0},
    {"resnet20_train", "models/resnet20.cnm", 128, 1, 0, 0},
    {"mlp_train", "bench/mlp.cnm", 128, 1, 0, 0},
    {"cnn_infer_b1", "bench/small_cnn.cnm", 1, 0, 0, 0},
    {"cnn_infer_b128", "bench/small_cnn.cnm", 128, 0, 0, 0},
    {"resnet20_infer_b1", "models/resnet20.cnm", 1, 0, 0, 0},
    {"resnet20_infer_b128", "models/resnet20.cnm", 128, 0, 0, 0},
    {"resnet20_conv_fwd", "models/resnet20.cnm", 128, 0, 0, 1},
    {"knn", NULL, 0, 0, 1, 0},
    {"sgemm", NULL, 0, 0, 2, 0},
};
#define N_WORKLOADS ((int)(sizeof WORKLOADS / sizeof WORKLOADS[0]))

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int fail(const char *what, const cn_error *err)
{
    fprintf(stderr, "train_bench: %s: %s\n", what, err ? err->msg : "out of memory");
    return 1;
}

/* setup_model: load, compile, initialise the model and fill the synthetic pool. */
static int setup_model(bench *b, const options *o, const workload *w)
{
    cn_error err;
    cn_error_clear(&err);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", o->root, w->file);
    b->m = cn_model_load_text(path, NULL, &err);
    if (!b->m)
        return fail(path, &err);
    /* liveness sharing: outputs in evaluation, output gradients in training */
    cn_compile_opts co = {.batch = w->batch, .training = w->train, .reuse_memory = 1};
    if (cn_model_compile(b->m, &co, &err) != CN_OK || cn_model_init(b->m, &b->rng, &err) != CN_OK)
        return fail(path, &err);
    int ndim, shape[CN_MAX_DIMS];
    if (cn_model_node_shape(b->m, cn_model_input_node(b->m, 0), &ndim, shape, &err) != CN_OK)
        return fail(path, &err);
    b->in_dim = 1;
    for (int i = 0; i < ndim; i++)
        b->in_dim *= shape[i];
    b->batch = w->batch;
    b->train = w->train;
    b->x = cn_aligned_alloc((size_t)POOL * (size_t)w->batch * (size_t)b->in_dim * sizeof(cn_real));
    b->labels = cn_malloc((size_t)POOL * (size_t)w->batch * sizeof(int));
    if (!b->x || !b->labels)
        return fail("synthetic batches", NULL);
    for (size_t i = 0; i < (size_t)POOL * (size_t)w->batch * (size_t)b->in_dim; i++)
        b->x[i] = (cn_real)cn_rng_uniform(&b->rng);
    for (int i = 0; i < POOL * w->batch; i++)
        b->labels[i] = (int)cn_rng_below(&b->rng, 10);
    if (w->train) {
        cn_optim_config c = cn_optim_config_default(CN_OPTIM_MOMENTUM);
        c.lr = 0.01;
        c.momentum = 0.9;
        b->opt = cn_optim_new(&c, cn_model_params(b->m), &err);
        if (!b->opt)
            return fail("optimiser", &err);
    }
    b->items = w->batch;
    b->flops_per_item = cn_model_flops(b->m) * (w->train ? 3.0 : 1.0);
    if (w->conv_only) {
        b->conv_only = 1;
        b->flops_per_item = 0;
        for (int i = 0; i < cn_model_num_nodes(b->m); i++)
            if (cn_model_node_op(b->m, i) == CN_OP_CONV2D)
                b->flops_per_item += cn_model_node_flops(b->m, i);
        if (cn_model_profile_start(b->m, &err) != CN_OK)
            return fail("profile", &err);
    }
    return 0;
}

/* bench_clock: seconds so far: the wall clock, or (conv_only) the conv2d nodes'
 * forward seconds since the profile started. */
static double bench_clock(const bench *b)
{
    if (!b->conv_only)
        return cn_time_now();
    cn_node_profile prof[512];
    int n = cn_model_num_nodes(b->m);
    cn_error err;
    if (n > 512 || cn_model_profile_get(b->m, prof, n, &err) != CN_OK)
        return 0; /* resnet20.cnm has fewer nodes; setup checked the profile */
    double s = 0;
    for (int i = 0; i < n; i++)
        if (cn_model_node_op(b->m, i) == CN_OP_CONV2D)
            s += prof[i].fwd_s;
    return s;
}

/* setup_knn: the Fashion-MNIST sets and the distance matrix. */
static int setup_knn(bench *b, const options *o)
{
    cn_error err;
    cn_error_clear(&err);
    if (cn_dataset_load_idx(o->data, "train", 1, &b->train_set, &err) != CN_OK ||
        cn_dataset_load_idx(o->data, "test", 1, &b->test_set, &err) != CN_OK)
        return fail(o->data, &err);
    b->d = b->train_set->c * b->train_set->h * b->train_set->w;
    b->nr = b->train_set->n;
    b->nq = o->knn_queries < b->test_set->n ? o->knn_queries : b->test_set->n;
    b->q = cn_dataset_flat(b->test_set);
    b->r = cn_dataset_flat(b->train_set);
    b->qn = cn_malloc((size_t)b->nq * sizeof(cn_real));
    b->rn = cn_malloc((size_t)b->nr * sizeof(cn_real));
    b->dist = cn_aligned_alloc((size_t)b->nq * (size_t)b->nr * sizeof(cn_real));
    if (!b->qn || !b->rn || !b->dist)
        return fail("knn buffers", NULL);
    b->items = b->nq;
    b->flops_per_item = 2.0 * b->nr * b->d;
    return 0;
}

/* setup_sgemm: three n x n matrices, A and B uniform in [-1, 1). */
static int setup_sgemm(bench *b, const options *o)
{
    b->n = o->gemm_n;
    size_t nn = (size_t)b->n * (size_t)b->n;
    b->a = cn_aligned_alloc(nn * sizeof(cn_real));
    b->b = cn_aligned_alloc(nn * sizeof(cn_real));
    b->c = cn_aligned_alloc(nn * sizeof(cn_real));
    if (!b->a || !b->b || !b->c)
        return fail("sgemm matrices", NULL);
    for (size_t i = 0; i < nn; i++) {
        b->a[i] = (cn_real)(2 * cn_rng_uniform(&b->rng) - 1);
        b->b[i] = (cn_real)(2 * cn_rng_uniform(&b->rng) - 1);
    }
    b->items = 1;
    b->flops_per_item = 2.0 * b->n * (double)b->n * b->n;
    return 0;
}

/* step: one iteration of the workload. 0 or 1 with a message on stderr. */
static int step(bench *b)
{
    cn_error err;
    cn_error_clear(&err);
    if (b->kind == 1) {
        cn_sq_norms(b->q, b->nq, b->d, b->qn);
        cn_sq_norms(b->r, b->nr, b->d, b->rn);
        cn_dist_l2sq(b->q, b->qn, b->nq, b->r, b->rn, b->nr, b->d, b->dist, b->nr);
        return 0;
    }
    if (b->kind == 2) {
        cn_gemm(CN_NO_TRANS, CN_NO_TRANS, b->n, b->n, b->n, 1, b->a, b->n, b->b, b->n, 0, b->c,
                b->n);
        return 0;
    }
    size_t k = (size_t)(b->step++ % POOL);
    const cn_real *x = b->x + k * (size_t)b->batch * (size_t)b->in_dim;
    if (!b->train)
        return cn_model_forward(b->m, b->batch, x, NULL, CN_EVAL, NULL, NULL, &err) == CN_OK
                   ? 0 : fail("forward", &err);
    cn_target t = {.labels = b->labels + k * (size_t)b->batch, .values = NULL};
    cn_zero_grad(b->m);
    if (cn_model_forward(b->m, b->batch, x, &t, CN_TRAIN, &b->rng, &b->loss, &err) != CN_OK ||
        cn_model_backward(b->m, &err) != CN_OK ||
        cn_optim_step(b->opt, 0.01, NULL, &err) != CN_OK)
        return fail("training step", &err);
    return 0;
}

/* measure: warm up, size the repeats, fill times[0..repeats) with seconds per
 * iteration; *iters_out gets the iterations per repeat. */
static int measure(bench *b, const options *o, double *times, int *iters_out)
{
    double t0 = cn_time_now(), last = 0;
    int warm = 0;
    while (warm < o->warmup_iters || cn_time_now() - t0 < o->warmup_s) {
        double s = cn_time_now();
        if (step(b))
            return 1;
        last = cn_time_now() - s;
        warm++;
    }
    double per = last > 1e-9 ? last : 1e-9;
    double want = ceil(o->target_s / per);
    int iters = want < 1 ? 1 : want > 1e7 ? 10000000 : (int)want;
    for (int r = 0; r < o->repeats; r++) {
        double s = bench_clock(b);
        for (int i = 0; i < iters; i++)
            if (step(b))
                return 1;
        times[r] = (bench_clock(b) - s) / iters;
        fprintf(stderr, "train_bench: %s repeat %d: %.6f s per iteration (%d iterations)\n",
                o->workload, r + 1, times[r], iters);
    }
    *iters_out = iters;
    return 0;
}

static void bench_free(bench *b)
{
    cn_optim_free(b->opt);
    cn_model_free(b->m);
    cn_aligned_free(b->x);
    cn_free(b->labels);
    cn_free(b->qn);
    cn_free(b->rn);
    cn_aligned_free(b->dist);
    cn_dataset_free(b->train_set);
    cn_dataset_free(b->test_set);
    cn_aligned_free(b->a);
    cn_aligned_free(b->b);
    cn_aligned_free(b->c);
}

static void print_json(const bench *b, const options *o, const double *times, int iters)
{
    double sorted[MAX_REPEATS];
    memcpy(sorted, times, (size_t)o->repeats * sizeof *times);
    qsort(sorted, (size_t)o->repeats, sizeof *sorted, cmp_double);
    double med = o->repeats % 2 ? sorted[o->repeats / 2]
                                : 0.5 * (sorted[o->repeats / 2 - 1] + sorted[o->repeats / 2]);
    struct rusage ru;
    long rss_kb = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
    printf("{\"side\": \"convnet\", \"workload\": \"%s\", \"threads\": %d, "
           "\"setting\": \"cn_set_num_threads(%d): OpenMP %d threads, OpenBLAS 1\", "
           "\"omp_threads\": %d, \"build\": \"%s\", \"blas_core\": \"%s\", "
           "\"batch\": %d, \"items_per_iter\": %.0f, \"iters\": %d, \"repeats\": %d, "
           "\"times_s\": [",
           o->workload, o->threads, o->threads, o->threads, cn_get_num_threads(),
           cn_build_info(), cn_blas_corename(), b->kind == 0 ? b->batch : 0, b->items, iters,
           o->repeats);
    for (int r = 0; r < o->repeats; r++)
        printf("%s%.9g", r ? ", " : "", times[r]);
    printf("], \"median_s\": %.9g, \"items_per_s\": %.6g, \"flops_per_item\": %.6g, "
           "\"max_rss_kb\": %ld, \"loss\": ",
           med, b->items / med, b->flops_per_item, rss_kb);
    if (b->kind == 0 && b->train && isfinite(b->loss))
        printf("%.6g}\n", b->loss);
    else
        printf("null}\n");
    fflush(stdout);
}

static int usage(const char *argv0)
{
    fprintf(stderr, "usage: %s --workload W --threads T [--repeats R] [--target-s S] "
                    "[--warmup-s S] [--warmup-iters N] [--root DIR] [--data DIR] "
                    "[--knn-queries N] [--gemm-n N]\nworkloads:", argv0);
    for (int i = 0; i < N_WORKLOADS; i++)
        fprintf(stderr, " %s", WORKLOADS[i].name);
    fprintf(stderr, "\n");
    return 2;
}

int main(int argc, char **argv)
{
    options o = {.workload = NULL, .root = ".", .data = CN_FASHION_MNIST_DIR, .threads = 0,
                 .repeats = 5, .knn_queries = 2000, .gemm_n = 2048, .warmup_iters = 2,
                 .target_s = 1.0, .warmup_s = 0.5};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage(argv[0]);
        i++;
        if (strcmp(a, "--workload") == 0) o.workload = v;
        else if (strcmp(a, "--threads") == 0) o.threads = atoi(v);
        else if (strcmp(a, "--repeats") == 0) o.repeats = atoi(v);
        else if (strcmp(a, "--target-s") == 0) o.target_s = atof(v);
        else if (strcmp(a, "--warmup-s") == 0) o.warmup_s = atof(v);
        else if (strcmp(a, "--warmup-iters") == 0) o.warmup_iters = atoi(v);
        else if (strcmp(a, "--root") == 0) o.root = v;
        else if (strcmp(a, "--data") == 0) o.data = v;
        else if (strcmp(a, "--knn-queries") == 0) o.knn_queries = atoi(v);
        else if (strcmp(a, "--gemm-n") == 0) o.gemm_n = atoi(v);
        else return usage(argv[0]);
    }
    const workload *w = NULL;
    for (int i = 0; o.workload && i < N_WORKLOADS; i++)
        if (strcmp(o.workload, WORKLOADS[i].name) == 0)
            w = &WORKLOADS[i];
    if (!w || o.threads < 1 || o.warmup_iters < 1 || o.repeats < 1 || o.repeats > MAX_REPEATS ||
        o.knn_queries < 1 || o.gemm_n < 1 || o.gemm_n > 16384 || !(o.target_s >= 0) ||
        !(o.warmup_s >= 0))
        return usage(argv[0]);
    cn_set_num_threads(o.threads);

    bench b;
    memset(&b, 0, sizeof b);
    b.kind = w->kind;
    cn_rng_seed(&b.rng, 20261121, 7);
    double times[MAX_REPEATS];
    int iters = 0;
    int rc = w->kind == 0 ? setup_model(&b, &o, w) : w->kind == 1 ? setup_knn(&b, &o)
                                                                 : setup_sgemm(&b, &o);
    if (rc == 0) {
        fprintf(stderr, "train_bench: %s, %s, %d thread(s), BLAS kernels %s\n", o.workload,
                cn_build_info(), cn_get_num_threads(), cn_blas_corename());
        rc = measure(&b, &o, times, &iters);
    }
    if (rc == 0)
        print_json(&b, &o, times, iters);
    bench_free(&b);
    return rc;
}
