/* test_monitor.c: the babysitting monitors (convnet/monitor.h) on tiny models
 * with forced values: a ReLU layer with a bias of -100 is all dead (and warned),
 * dead units are counted per position over every sample and batch; tanh and
 * sigmoid with huge weights saturate; an SGD step gives exactly ||lr g|| / ||w||;
 * histograms count every value; reset clears; the JSON has every key; the
 * warnings name the parameter and the bound; cn_gap_reading's every branch. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "convnet/model.h"
#include "convnet/monitor.h"
#include "convnet/optim.h"
#include "support.h"

#define D 6       /* input features */
#define H 8       /* hidden units */
#define C 3       /* classes */
#define BATCH 5

#ifdef CN_DOUBLE
#define RTOL 1e-9
#else
#define RTOL 1e-3
#endif

/* input (D) -> linear1 (H) -> act1 -> linear2 (C) -> cross_entropy, compiled for
 * BATCH (training when asked), initialised from seed 5. act is relu, tanh or
 * sigmoid. */
static cn_model *build(cn_op_kind act, int training)
{
    cn_error err = {0};
    cn_model *m = cn_model_new(&err);
    cr_assert_not_null(m);
    int x = cn_model_input(m, D, 0, 0, &err);
    x = cn_model_linear(m, x, H, &err);
    x = cn_model_unary(m, act, x, &err);
    x = cn_model_linear(m, x, C, &err);
    x = cn_model_unary(m, CN_OP_CROSS_ENTROPY, x, &err);
    cr_assert_geq(x, 0, "%s", err.msg);
    cn_compile_opts o = {.batch = BATCH, .training = training, .input_grad = 0};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 5, 1);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    return m;
}

/* run: forward (and backward with training) on n random samples with labels
 * i % C, drawn from seed. */
static void run(cn_model *m, int n, uint64_t seed, int training)
{
    cn_error err = {0};
    cn_rng r;
    cn_rng_seed(&r, seed, 2);
    cn_real x[BATCH * D]; // (n, D)
    tst_fill_normal(&r, x, (size_t)n * D, 1.0);
    int lab[BATCH];
    for (int i = 0; i < n; i++) lab[i] = i % C;
    cn_target t = {.labels = lab, .values = NULL};
    cr_assert_eq(cn_model_forward(m, n, x, &t, training ? CN_TRAIN : CN_EVAL, &r, NULL, &err),
                 CN_OK, "%s", err.msg);
    if (training) {
        cn_zero_grad(m);
        cr_assert_eq(cn_model_backward(m, &err), CN_OK, "%s", err.msg);
    }
}

static cn_param *param(cn_model *m, const char *name)
{
    cn_param *p = cn_params_find(cn_model_params(m), name);
    cr_assert_not_null(p, "no parameter %s", name);
    return p;
}

static void fill(cn_param *p, double v)
{
    for (size_t k = 0; k < p->numel; k++) p->value[k] = (cn_real)v;
}

static uint64_t hist_total(const cn_histogram *h)
{
    uint64_t s = h->nonfinite;
    for (int b = 0; b < h->bins; b++) s += h->counts[b];
    return s;
}

Test(monitor, layers_and_params)
{
    cn_error err = {0};
    cn_model *m = build(CN_OP_RELU, 1);
    cn_monitor *mon = cn_monitor_new(m, CN_MONITOR_DEFAULT_BINS, &err);
    cr_assert_not_null(mon, "%s", err.msg);
    cr_assert_eq(cn_monitor_num_layers(mon), 3); /* linear1, relu1, linear2 */
    static const char *nodes[] = {"linear1", "relu1", "linear2"};
    for (int l = 0; l < 3; l++) {
        const cn_layer_stats *ls = cn_monitor_layer(mon, l);
        cr_assert_str_eq(ls->node, nodes[l]);
        cr_assert_eq(ls->values, 0);
        cr_assert(isnan(ls->act_mean) && isnan(ls->grad_std) && isnan(ls->dead_frac));
        cr_assert_eq(ls->act.bins, CN_MONITOR_DEFAULT_BINS);
    }
    cr_assert_eq(cn_monitor_layer(mon, 0)->op, CN_OP_LINEAR);
    cr_assert_eq(cn_monitor_layer(mon, 1)->op, CN_OP_RELU);
    cr_assert_null(cn_monitor_layer(mon, 3));
    cr_assert_null(cn_monitor_layer(mon, -1));
    cr_assert_eq(cn_monitor_num_params(mon), 4);
    cr_assert_str_eq(cn_monitor_param(mon, 0)->name, "linear1.weight");
    cr_assert_str_eq(cn_monitor_param(mon, 3)->name, "linear2.bias");
    cr_assert(isnan(cn_monitor_param(mon, 0)->ratio));
    cr_assert_null(cn_monitor_param(mon, 4));
    cn_monitor_free(mon);

    /* frozen parameters are not monitored */
    cr_assert_eq(cn_params_freeze(cn_model_params(m), "linear1.", 1, &err), 2);
    mon = cn_monitor_new(m, 4, &err);
    cr_assert_not_null(mon, "%s", err.msg);
    cr_assert_eq(cn_monitor_num_params(mon), 2);
    cr_assert_str_eq(cn_monitor_param(mon, 0)->name, "linear2.weight");
    cn_monitor_free(mon);
    cn_monitor_free(NULL);
    cn_model_free(m);
}

Test(monitor, bad_arguments)
{
    cn_error err = {0};
    cn_model *m = build(CN_OP_RELU, 1);
    cr_assert_null(cn_monitor_new(m, 1, &err));
    cr_assert_eq(err.code, CN_ERR_ARG);
    cr_assert_null(cn_monitor_new(NULL, 8, &err));
    cr_assert_eq(err.code, CN_ERR_ARG);
    cn_model *raw = cn_model_new(&err);
    int x = cn_model_input(raw, 3, 0, 0, &err);
    cr_assert_geq(cn_model_linear(raw, x, 2, &err), 0);
    cr_assert_null(cn_monitor_new(raw, 8, &err)); /* not compiled */
    cr_assert_eq(err.code, CN_ERR_ARG);
    cr_assert(strstr(err.msg, "compiled"), "%s", err.msg);
    cn_model_free(raw);

    cn_monitor *mon = cn_monitor_new(m, 8, &err);
    cr_assert_not_null(mon, "%s", err.msg);
    run(m, BATCH, 1, 1);
    cr_assert_eq(cn_monitor_observe(mon, 0, &err), CN_ERR_ARG);
    cr_assert_eq(cn_monitor_observe(mon, BATCH + 1, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "1..5"), "%s", err.msg);
    cr_assert_eq(cn_monitor_observe(mon, BATCH, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_monitor_observe(NULL, 1, &err), CN_ERR_ARG);
    /* after without before is a no-op */
    cn_monitor_after_step(mon);
    cr_assert_eq(cn_monitor_param(mon, 0)->steps, 0);
    cn_monitor_free(mon);
    cn_model_free(m);
}

Test(monitor, dead_relu_with_a_large_negative_bias)
{
    cn_error err = {0};
    cn_model *m = build(CN_OP_RELU, 1);
    fill(param(m, "linear1.bias"), -100.0);
    cn_monitor *mon = cn_monitor_new(m, 8, &err);
    cr_assert_not_null(mon, "%s", err.msg);
    run(m, BATCH, 2, 1);
    cr_assert_eq(cn_monitor_observe(mon, BATCH, &err), CN_OK, "%s", err.msg);
    const cn_layer_stats *relu = cn_monitor_layer(mon, 1);
    cr_assert_float_eq(relu->dead_frac, 1.0, 1e-12);
    cr_assert(isnan(cn_monitor_layer(mon, 0)->dead_frac));
    cr_assert(isnan(relu->saturated_frac));
    char buf[2048];
    int nw = cn_monitor_warnings(mon, buf, sizeof buf);
    cr_assert_eq(nw, 1, "%s", buf);
    cr_assert(strstr(buf, "relu1: 100% of the units are dead"), "%s", buf);
    cn_monitor_free(mon);
    cn_model_free(m);
}

Test(monitor, dead_means_never_positive_on_any_sample_or_batch)
{
    cn_error err = {0};
    cn_model *m = build(CN_OP_RELU, 0);
    cn_param *w = param(m, "linear1.weight"), *b = param(m, "linear1.bias");
    fill(w, 0.0);
    fill(b, -1.0);
    b->value[0] = 1.0; /* unit 0 alive for every sample */
    cn_monitor *mon = cn_monitor_new(m, 8, &err);
    cr_assert_not_null(mon, "%s", err.msg);
    run(m, BATCH, 3, 0);
    cr_assert_eq(cn_monitor_observe(mon, BATCH, &err), CN_OK, "%s", err.msg);
    const cn_layer_stats *relu = cn_monitor_layer(mon, 1);
    cr_assert_float_eq(relu->dead_frac, (H - 1.0) / H, 1e-12);
    /* unit 2 positive for one sample only: weight row 2 reads feature 0, which
     * is positive for some sample of a batch */
    w->value[2 * D + 0] = 100.0;
    run(m, BATCH, 4, 0);
    const cn_real *x1 = cn_model_node_value(m, cn_model_find(m, "relu1")); // (n, H)
    int pos = 0;
    for (int i = 0; i < BATCH; i++) pos += x1[i * H + 2] > 0;
    cr_assert_gt(pos, 0);
    cr_assert_lt(pos, BATCH);
    cr_assert_eq(cn_monitor_observe(mon, BATCH, &err), CN_OK, "%s", err.msg);
    cr_assert_float_eq(relu->dead_frac, (H - 2.0) / H, 1e-12);
    /* later batches where unit 2 is negative again do not revive it as dead */
    w->value[2 * D + 0] = 0.0;
    run(m, BATCH, 5, 0);
    cr_assert_eq(cn_monitor_observe(mon, BATCH, &err), CN_OK, "%s", err.msg);
    cr_assert_float_eq(relu->dead_frac, (H - 2.0) / H, 1e-12);
    /* fraction above 0.5 warns; exactly half does not */
    char buf[512];
    cr_assert_eq(cn_monitor_warnings(mon, buf, sizeof buf), 1, "%s", buf);
    for (int k = 0; k < H / 2; k++) b->value[k] = 1.0;
    cn_monitor_reset(mon);
    cr_assert(isnan(relu->dead_frac));
    run(m, BATCH, 6, 0);
    cr_assert_eq(cn_monitor_observe(mon, BATCH, &err), CN_OK, "%s", err.msg);
    cr_assert_float_eq(relu->dead_frac, 0.5, 1e-12);
    cr_assert_eq(cn_monitor_warnings(mon, buf, sizeof buf), 0, "%s", buf);
    /* evaluation-only model: no gradients */
    cr_assert(isnan(relu->grad_mean) && isnan(relu->grad_std));
    cr_assert_eq(hist_total(&relu->grad), 0);
    cn_monitor_free(mon);
    cn_model_free(m);
}

static void saturation_case(cn_op_kind act, double weight, double lo, double hi, int warnings)
{
    cn_error err = {0};
    cn_model *m = build(act, 1);
    fill(param(m, "linear1.weight"), 0);
    cn_param *w = param(m, "linear1.weight");
    cn_rng r;
    cn_rng_seed(&r, 9, 9);
    tst_fill_normal(&r, w->value, w->numel, weight);
    cn_monitor *mon = cn_monitor_new(m, 8, &err);
    cr_assert_not_null(mon, "%s", err.msg);
    for (int b = 0; b < 3; b++) {
        run(m, BATCH, 10 + (uint64_t)b, 1);
        cr_assert_eq(cn_monitor_observe(mon, BATCH, &err), CN_OK, "%s", err.msg);
    }
    const cn_layer_stats *ls = cn_monitor_layer(mon, 1);
    cr_assert_eq(ls->op, act);
    cr_assert(ls->saturated_frac >= lo && ls->saturated_frac <= hi, "%s weight %g: %g",
              cn_op_name(act), weight, ls->saturated_frac);
    cr_assert(isnan(ls->dead_frac));
    char buf[1024];
    cr_assert_eq(cn_monitor_warnings(mon, buf, sizeof buf), warnings, "%s", buf);
    if (warnings) cr_assert(strstr(buf, "saturated"), "%s", buf);
    cn_monitor_free(mon);
    cn_model_free(m);
}

Test(monitor, saturation_of_tanh_and_sigmoid)
{
    saturation_case(CN_OP_TANH, 1e3, 0.95, 1.0, 1);
    saturation_case(CN_OP_SIGMOID, 1e3, 0.95, 1.0, 1);
    saturation_case(CN_OP_TANH, 1e-3, 0.0, 0.0, 0);
    saturation_case(CN_OP_SIGMOID, 1e-3, 0.0, 0.0, 0);
}

static double norm(const cn_real *a, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * (double)a[i];
    return sqrt(s);
}

Test(monitor, update_ratio_of_an_sgd_step)
{
    cn_error err = {0};
    cn_model *m = build(CN_OP_RELU, 1);
    cn_params *ps = cn_model_params(m);
    fill(param(m, "linear1.bias"), 0.5);
    cn_optim_config oc = cn_optim_config_default(CN_OPTIM_SGD);
    cn_optimizer *opt = cn_optim_new(&oc, ps, &err);
    cr_assert_not_null(opt, "%s", err.msg);
    cn_monitor *mon = cn_monitor_new(m, 8, &err);
    cr_assert_not_null(mon, "%s", err.msg);
    cn_param *w = param(m, "linear1.weight");
    const double lrs[2] = {0.1, 0.01};
    double want[2], gnorm = 0, wnorm = 0;
    for (int s = 0; s < 2; s++) {
        run(m, BATCH, 20 + (uint64_t)s, 1);
        double w0 = norm(w->value, w->numel);
        gnorm = norm(w->grad, w->numel);
        want[s] = lrs[s] * gnorm / w0;
        cn_monitor_before_step(mon);
        cr_assert_eq(cn_optim_step(opt, lrs[s], NULL, &err), CN_OK, "%s", err.msg);
        cn_monitor_after_step(mon);
        wnorm = norm(w->value, w->numel);
    }
    const cn_param_stats *st = cn_monitor_param(mon, 0);
    cr_assert_str_eq(st->name, "linear1.weight");
    cr_assert_eq(st->steps, 2);
    double mean = 0.5 * (want[0] + want[1]);
    cr_assert(fabs(st->ratio - mean) <= RTOL * mean, "ratio %.10g, want %.10g", st->ratio, mean);
    cr_assert(fabs(st->weight_norm - wnorm) <= 1e-12 * wnorm + 1e-12);
    cr_assert(fabs(st->grad_norm - gnorm) <= 1e-12 * gnorm + 1e-12);

    /* a zero weight (a bias at its start): steps from it do not count; the ratio
     * starts with the first step from a non-zero value */
    cn_monitor_reset(mon);
    cr_assert_eq(cn_monitor_param(mon, 0)->steps, 0);
    cr_assert(isnan(cn_monitor_param(mon, 0)->ratio));
    cn_param *b2 = param(m, "linear2.bias");
    fill(b2, 0);
    cn_monitor_before_step(mon);
    b2->value[1] = 1e-3;
    cn_monitor_after_step(mon);
    cr_assert(isnan(cn_monitor_param(mon, 3)->ratio));
    cr_assert_eq(cn_monitor_param(mon, 3)->steps, 1);
    cn_monitor_before_step(mon);
    b2->value[1] = 2e-3;
    cn_monitor_after_step(mon);
    cr_assert(fabs(cn_monitor_param(mon, 3)->ratio - 1.0) < 1e-6, "ratio %g",
              cn_monitor_param(mon, 3)->ratio);
    cn_monitor_free(mon);
    cn_optim_free(opt);
    cn_model_free(m);
}

Test(monitor, ratio_warnings)
{
    cn_error err = {0};
    cn_model *m = build(CN_OP_RELU, 1);
    cn_monitor *mon = cn_monitor_new(m, 8, &err);
    cr_assert_not_null(mon, "%s", err.msg);
    cn_param *w1 = param(m, "linear1.weight"), *w2 = param(m, "linear2.weight");
    cn_monitor_before_step(mon);
    for (size_t k = 0; k < w1->numel; k++) w1->value[k] *= (cn_real)(1 + 1e-5); /* 1e-5 */
    for (size_t k = 0; k < w2->numel; k++) w2->value[k] *= (cn_real)1.05;       /* 5e-2 */
    cn_monitor_after_step(mon);
    cr_assert(fabs(cn_monitor_param(mon, 0)->ratio - 1e-5) < 1e-7);
    cr_assert(fabs(cn_monitor_param(mon, 2)->ratio - 5e-2) < 1e-6);
    char buf[1024];
    /* the biases did not move (ratio 0) but are not judged: only weights are */
    int nw = cn_monitor_warnings(mon, buf, sizeof buf);
    cr_assert_eq(nw, 2, "%s", buf);
    cr_assert(strstr(buf, "linear1.weight: update/weight ratio 1e-05 is below 1e-4: the "
                          "learning rate may be too low\n"),
              "%s", buf);
    cr_assert(strstr(buf, "linear2.weight: update/weight ratio 0.05 is above 1e-2: the "
                          "learning rate may be too high\n"),
              "%s", buf);
    /* truncation keeps the count and the terminator */
    char small[20];
    memset(small, 'x', sizeof small);
    cr_assert_eq(cn_monitor_warnings(mon, small, sizeof small), 2);
    cr_assert_eq(strlen(small), sizeof small - 1);
    cr_assert_eq(strncmp(small, buf, sizeof small - 1), 0);
    cr_assert_eq(cn_monitor_warnings(mon, NULL, 0), 2);
    /* inside the band: no warning */
    cn_monitor_reset(mon);
    cn_monitor_before_step(mon);
    for (size_t k = 0; k < w1->numel; k++) w1->value[k] *= (cn_real)(1 + 1e-3);
    for (size_t k = 0; k < w2->numel; k++) w2->value[k] *= (cn_real)(1 - 1e-3);
    cn_monitor_after_step(mon);
    cr_assert_eq(cn_monitor_warnings(mon, buf, sizeof buf), 0, "%s", buf);
    cr_assert_str_eq(buf, "");
    cn_monitor_free(mon);
    cn_model_free(m);
}

Test(monitor, statistics_and_histograms)
{
    cn_error err = {0};
    cn_model *m = build(CN_OP_TANH, 1);
    const int bins = 7;
    cn_monitor *mon = cn_monitor_new(m, bins, &err);
    cr_assert_not_null(mon, "%s", err.msg);
    int id = cn_model_find(m, "linear1");
    /* two batches (the second shorter); reference moments over both */
    double sum = 0, sq = 0, gsum = 0, lo = INFINITY, hi = -INFINITY;
    size_t cnt = 0;
    const int ns[2] = {BATCH, 3};
    for (int b = 0; b < 2; b++) {
        run(m, ns[b], 30 + (uint64_t)b, 1);
        const cn_real *y = cn_model_node_value(m, id);
        const cn_real *g = cn_model_node_grad(m, id);
        cr_assert_not_null(g);
        for (int i = 0; i < ns[b] * H; i++) {
            sum += y[i];
            sq += (double)y[i] * y[i];
            gsum += g[i];
            if (b == 0) {
                lo = fmin(lo, y[i]);
                hi = fmax(hi, y[i]);
            }
        }
        cnt += (size_t)ns[b] * H;
        cr_assert_eq(cn_monitor_observe(mon, ns[b], &err), CN_OK, "%s", err.msg);
    }
    const cn_layer_stats *ls = cn_monitor_layer(mon, 0);
    double mean = sum / (double)cnt, sd = sqrt(sq / (double)cnt - mean * mean);
    cr_assert_eq(ls->values, cnt);
    cr_assert(fabs(ls->act_mean - mean) < 1e-9, "%g vs %g", ls->act_mean, mean);
    cr_assert(fabs(ls->act_std - sd) < 1e-6, "%g vs %g", ls->act_std, sd);
    cr_assert(fabs(ls->grad_mean - gsum / (double)cnt) < 1e-9);
    cr_assert_eq(ls->act.lo, lo);
    cr_assert_eq(ls->act.hi, hi);
    for (int l = 0; l < 3; l++) {
        const cn_layer_stats *s = cn_monitor_layer(mon, l);
        cr_assert_eq(s->act.bins, bins);
        cr_assert_eq(hist_total(&s->act), s->values, "layer %d", l);
        cr_assert_eq(hist_total(&s->grad), s->values, "layer %d", l);
        cr_assert_eq(s->act.nonfinite, 0);
        cr_assert(s->act_std >= 0 && s->grad_std >= 0);
    }
    cr_assert_eq(cn_monitor_layer(mon, 2)->values, (uint64_t)(BATCH + 3) * C);

    /* reset clears every statistic and histogram */
    cn_monitor_reset(mon);
    for (int l = 0; l < 3; l++) {
        const cn_layer_stats *s = cn_monitor_layer(mon, l);
        cr_assert_eq(s->values, 0);
        cr_assert_eq(hist_total(&s->act) + hist_total(&s->grad), 0);
        cr_assert(isnan(s->act_mean) && isnan(s->act_std) && isnan(s->grad_mean));
        cr_assert(isnan(s->act.lo) && isnan(s->act.hi));
    }
    cr_assert(isnan(cn_monitor_layer(mon, 1)->saturated_frac));
    cn_monitor_free(mon);
    cn_model_free(m);
}

Test(monitor, non_finite_values_are_counted_and_warned)
{
    cn_error err = {0};
    cn_model *m = build(CN_OP_RELU, 0);
    param(m, "linear2.weight")->value[0] = (cn_real)NAN;
    cn_monitor *mon = cn_monitor_new(m, 4, &err);
    cr_assert_not_null(mon, "%s", err.msg);
    run(m, BATCH, 40, 0);
    cr_assert_eq(cn_monitor_observe(mon, BATCH, &err), CN_OK, "%s", err.msg);
    const cn_layer_stats *ls = cn_monitor_layer(mon, 2);
    cr_assert_eq(ls->act.nonfinite, BATCH);
    cr_assert_eq(hist_total(&ls->act), ls->values);
    cr_assert(isfinite(ls->act_mean)); /* over the finite values */
    char buf[1024];
    cr_assert_geq(cn_monitor_warnings(mon, buf, sizeof buf), 1);
    cr_assert(strstr(buf, "linear2: non-finite values seen (5 activations"), "%s", buf);
    cn_monitor_free(mon);
    cn_model_free(m);
}

Test(monitor, json_has_every_key)
{
    cn_error err = {0};
    cn_model *m = build(CN_OP_RELU, 1);
    cn_monitor *mon = cn_monitor_new(m, 5, &err);
    cr_assert_not_null(mon, "%s", err.msg);

    /* before anything is observed: nulls */
    char *s = cn_monitor_json(mon, &err);
    cr_assert_not_null(s, "%s", err.msg);
    json_error_t je;
    json_t *o = json_loads(s, 0, &je);
    cr_assert_not_null(o, "%s: %s", je.text, s);
    cr_assert(json_is_null(json_object_get(json_object_get(o, "update_ratio"), "linear1.weight")));
    json_t *l0 = json_array_get(json_object_get(o, "layers"), 0);
    cr_assert(json_is_null(json_object_get(l0, "act_mean")));
    cr_assert(json_is_null(json_object_get(json_object_get(l0, "act_hist"), "lo")));
    json_decref(o);
    cn_free(s);

    run(m, BATCH, 50, 1);
    cr_assert_eq(cn_monitor_observe(mon, BATCH, &err), CN_OK, "%s", err.msg);
    cn_monitor_before_step(mon);
    cn_param *w = param(m, "linear1.weight");
    for (size_t k = 0; k < w->numel; k++) w->value[k] *= (cn_real)1.002;
    cn_monitor_after_step(mon);
    s = cn_monitor_json(mon, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_null(strchr(s, '\n'), "compact: %s", s);
    o = json_loads(s, 0, &je);
    cr_assert_not_null(o, "%s: %s", je.text, s);
    json_t *ur = json_object_get(o, "update_ratio");
    cr_assert(json_is_object(ur));
    cr_assert_eq(json_object_size(ur), 4);
    cr_assert(fabs(json_number_value(json_object_get(ur, "linear1.weight")) - 2e-3) < 1e-5, "%s",
              s);
    /* a zero bias that did not move has no ratio yet: null */
    cr_assert(json_is_null(json_object_get(ur, "linear2.bias")), "%s", s);
    json_t *layers = json_object_get(o, "layers");
    cr_assert_eq(json_array_size(layers), 3);
    static const char *nodes[] = {"linear1", "relu1", "linear2"};
    static const char *ops[] = {"linear", "relu", "linear"};
    for (size_t l = 0; l < 3; l++) {
        json_t *L = json_array_get(layers, l);
        cr_assert_str_eq(json_string_value(json_object_get(L, "node")), nodes[l]);
        cr_assert_str_eq(json_string_value(json_object_get(L, "op")), ops[l]);
        static const char *keys[] = {"act_mean", "act_std", "grad_mean", "grad_std"};
        for (size_t k = 0; k < 4; k++)
            cr_assert(json_is_number(json_object_get(L, keys[k])), "%s %s", nodes[l], keys[k]);
        cr_assert_eq(json_object_get(L, "dead_frac") != NULL, l == 1);
        cr_assert_null(json_object_get(L, "saturated_frac"));
        static const char *hists[] = {"act_hist", "grad_hist"};
        for (size_t h = 0; h < 2; h++) {
            json_t *hh = json_object_get(L, hists[h]);
            cr_assert(json_is_number(json_object_get(hh, "lo")));
            cr_assert(json_is_number(json_object_get(hh, "hi")));
            json_t *counts = json_object_get(hh, "counts");
            cr_assert_eq(json_array_size(counts), 5);
            json_int_t total = 0;
            for (size_t b = 0; b < 5; b++) total += json_integer_value(json_array_get(counts, b));
            cr_assert_eq((uint64_t)total, cn_monitor_layer(mon, (int)l)->values);
        }
    }
    json_decref(o);
    cn_free(s);
    cn_monitor_free(mon);
    cn_model_free(m);

    /* tanh and sigmoid carry saturated_frac, not dead_frac */
    m = build(CN_OP_SIGMOID, 1);
    mon = cn_monitor_new(m, 5, &err);
    run(m, BATCH, 51, 1);
    cr_assert_eq(cn_monitor_observe(mon, BATCH, &err), CN_OK, "%s", err.msg);
    s = cn_monitor_json(mon, &err);
    o = json_loads(s, 0, &je);
    cr_assert_not_null(o, "%s", je.text);
    json_t *L = json_array_get(json_object_get(o, "layers"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(L, "op")), "sigmoid");
    cr_assert(json_is_number(json_object_get(L, "saturated_frac")));
    cr_assert_null(json_object_get(L, "dead_frac"));
    json_decref(o);
    cn_free(s);
    cn_monitor_free(mon);
    cn_model_free(m);
}

Test(monitor, gap_reading)
{
    cr_assert(strstr(cn_gap_reading(0.99, 0.80), "strong overfitting"));
    cr_assert(strstr(cn_gap_reading(0.99, 0.80), "regularisation"));
    cr_assert(strstr(cn_gap_reading(0.95, 0.90), "some overfitting"));
    cr_assert(strstr(cn_gap_reading(0.80, 0.79), "no gap: the model may be too small"));
    cr_assert(strstr(cn_gap_reading(0.80, 0.85), "no gap"));
    cr_assert(strstr(cn_gap_reading(0.98, 0.97), "small gap: healthy"));
    cr_assert_str_eq(cn_gap_reading(0.9, NAN), "no validation data");
    cr_assert_str_eq(cn_gap_reading(INFINITY, 0.5), "no validation data");
    cr_assert(strstr(cn_gap_reading(0.5, 0.375), "strong"));
    cr_assert(strstr(cn_gap_reading(0.75, 0.6875), "some"));
    cr_assert(strstr(cn_gap_reading(1.0, 0.99), "small gap"));
}
