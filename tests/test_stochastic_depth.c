/* test_stochastic_depth.c: stochastic depth (Huang et al. 2016): the op drop_path
 * (evaluation and p = 0 are the identity; in training every sample is all zeros
 * or x / (1 - p), the kept fraction is near 1 - p, backward multiplies by the same
 * per-sample factor, same seed same mask, replay with rng NULL, gradient checks,
 * p errors, text round trip), the model text format's copy number `rep` inside
 * blocks, and models/resnet110-sd.cnm (the linear decay rule, the nodes and
 * parameters of resnet110.cnm, evaluation equal to resnet110's, a training step). */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"
#include "convnet/model_text.h"
#include "support.h"
#include "support_model.h"

/* dp_model: input (dims) -> drop_path (p) named "dp", compiled for training with
 * input gradients at batch n, inputs ~ N(0, 1) from seed 3. */
static cn_model *dp_model(double p, int ndim, const int *dims, int n)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    cr_assert(m);
    cn_attrs ia = cn_attrs_make(CN_OP_INPUT);
    ia.ndim = ndim;
    for (int i = 0; i < ndim; i++) ia.shape[i] = dims[i];
    int x = cn_model_node(m, CN_OP_INPUT, &ia, NULL, 0, "x", &err);
    cn_attrs a = cn_attrs_make(CN_OP_DROP_PATH);
    a.p = p;
    cr_assert(cn_model_node(m, CN_OP_DROP_PATH, &a, &x, 1, "dp", &err) >= 0, "%s", err.msg);
    cn_compile_opts o = {.batch = n, .training = 1, .input_grad = 1};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 3, 0);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    size_t cnt = (size_t)n;
    for (int i = 0; i < ndim; i++) cnt *= (size_t)dims[i];
    tst_fill_normal(&r, cn_model_input_buffer(m, 0), cnt, 1.0);
    return m;
}

static const cn_real *fwd(cn_model *m, int n, cn_mode mode, cn_rng *r)
{
    cn_error err;
    cr_assert_eq(cn_model_forward(m, n, NULL, NULL, mode, r, NULL, &err), CN_OK, "%s", err.msg);
    return cn_model_node_value(m, cn_model_find(m, "dp"));
}

Test(drop_path, eval_and_p0_are_the_identity)
{
    int dims[3] = {2, 3, 3};
    cn_rng r;
    cn_rng_seed(&r, 7, 1);
    for (int k = 0; k < 2; k++) {
        double p = k == 0 ? 0.0 : 0.6;
        cn_model *m = dp_model(p, 3, dims, 5);
        const cn_real *x = cn_model_input_buffer(m, 0);
        const cn_real *y = fwd(m, 5, CN_EVAL, NULL);
        cr_assert(memcmp(x, y, 90 * sizeof *x) == 0, "p %g: eval is not the identity", p);
        y = fwd(m, 5, CN_TRAIN, &r);
        if (p == 0.0) cr_assert(memcmp(x, y, 90 * sizeof *x) == 0, "p 0: train changed x");
        cn_model_free(m);
    }
}

/* sample_factor: 0 when sample s of y (count values) is all zeros, else 1 after
 * checking y = x * (1 / (1 - p)) there (the kernel's cn_real factor, exactly). */
static int sample_kept(const cn_real *x, const cn_real *y, size_t count, double p, int s)
{
    const cn_real keep = (cn_real)(1.0 / (1.0 - p));
    const cn_real *xs = x + (size_t)s * count, *ys = y + (size_t)s * count;
    int zero = 1;
    for (size_t i = 0; i < count; i++) zero &= ys[i] == 0;
    if (zero) return 0;
    for (size_t i = 0; i < count; i++)
        cr_assert(ys[i] == xs[i] * keep, "sample %d value %zu: %g is neither 0 nor x / (1 - p)",
                  s, i, (double)ys[i]);
    return 1;
}

Test(drop_path, whole_samples_and_kept_fraction)
{
    /* 4000 samples, p = 0.25: the kept fraction has sd sqrt(0.75 * 0.25 / 4000) =
     * 0.0068; the check allows 5 sd */
    const int n = 4000;
    const double p = 0.25;
    int dims[2] = {2, 3};
    cn_model *m = dp_model(p, 2, dims, n);
    cn_rng r;
    cn_rng_seed(&r, 2016, 1);
    const cn_real *x = cn_model_input_buffer(m, 0);
    const cn_real *y = fwd(m, n, CN_TRAIN, &r);
    int kept = 0;
    for (int s = 0; s < n; s++) kept += sample_kept(x, y, 6, p, s);
    double frac = (double)kept / n, sd = sqrt(0.75 * 0.25 / n);
    cr_log_info("drop_path p 0.25: kept %d of %d samples (%.4f)", kept, n, frac);
    cr_assert(fabs(frac - 0.75) < 5 * sd, "kept fraction %g", frac);
    cn_model_free(m);
}

Test(drop_path, backward_multiplies_by_the_sample_factor)
{
    const int n = 16;
    const double p = 0.5;
    int dims[3] = {2, 2, 2};
    cn_model *m = dp_model(p, 3, dims, n);
    cn_rng r;
    cn_rng_seed(&r, 11, 1);
    const cn_real *x = cn_model_input_buffer(m, 0);
    const cn_real *y = fwd(m, n, CN_TRAIN, &r);
    cn_real *dy = tst_reals((size_t)n * 8);
    tst_fill_normal(&r, dy, (size_t)n * 8, 1.0);
    cn_error err;
    int dpn = cn_model_find(m, "dp");
    cr_assert_eq(cn_model_backward_from(m, dpn, dy, &err), CN_OK, "%s", err.msg);
    const cn_real *dx = cn_model_node_grad(m, cn_model_input_node(m, 0));
    cr_assert_not_null(dx);
    const cn_real keep = (cn_real)(1.0 / (1.0 - p));
    int kept = 0;
    for (int s = 0; s < n; s++) {
        int k = sample_kept(x, y, 8, p, s);
        kept += k;
        for (int i = 0; i < 8; i++)
            cr_assert_eq(dx[s * 8 + i], k ? dy[s * 8 + i] * keep : 0, "sample %d value %d", s, i);
    }
    cr_assert(kept > 0 && kept < n, "kept %d of %d: both cases should occur", kept, n);
    /* evaluation: dx = dy */
    fwd(m, n, CN_EVAL, NULL);
    cr_assert_eq(cn_model_backward_from(m, dpn, dy, &err), CN_OK, "%s", err.msg);
    dx = cn_model_node_grad(m, cn_model_input_node(m, 0));
    cr_assert(memcmp(dx, dy, (size_t)n * 8 * sizeof *dx) == 0);
    free(dy);
    cn_model_free(m);
}

Test(drop_path, same_seed_same_mask_and_replay)
{
    const int n = 64;
    int dims[1] = {5};
    cn_model *a = dp_model(0.5, 1, dims, n), *b = dp_model(0.5, 1, dims, n);
    cn_rng ra, rb, rc;
    cn_rng_seed(&ra, 42, 3);
    cn_rng_seed(&rb, 42, 3);
    cn_rng_seed(&rc, 43, 3);
    cn_real ya[320], yb[320];
    memcpy(ya, fwd(a, n, CN_TRAIN, &ra), sizeof ya);
    memcpy(yb, fwd(b, n, CN_TRAIN, &rb), sizeof yb);
    cr_assert(memcmp(ya, yb, sizeof ya) == 0, "same seed, different masks");
    cr_assert(memcmp(ya, fwd(a, n, CN_TRAIN, NULL), sizeof ya) == 0, "replay differs");
    cr_assert(memcmp(ya, fwd(b, n, CN_TRAIN, &rc), sizeof ya) != 0, "another seed repeated");
    cn_model_free(a);
    cn_model_free(b);
}

Test(drop_path, gradcheck_train_and_eval)
{
    int d3[3] = {2, 3, 2}, d1[1] = {7};
    tst_op_case c = tst_op_case_make(CN_OP_DROP_PATH, 3, d3);
    c.a.p = 0.4;
    c.batch = 4;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL); /* the mask is replayed */
    c.mode = CN_EVAL;
    cr_assert_lt(tst_op_gradcheck(&c), TST_GRAD_TOL);
    tst_op_case v = tst_op_case_make(CN_OP_DROP_PATH, 1, d1);
    v.a.p = 0.3;
    cr_assert_lt(tst_op_gradcheck(&v), TST_GRAD_TOL);
}

Test(drop_path, p_outside_0_1_is_refused)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 4, 0, 0, &err);
    cn_attrs a = cn_attrs_make(CN_OP_DROP_PATH);
    a.p = -0.1;
    cr_assert_eq(cn_model_node(m, CN_OP_DROP_PATH, &a, &x, 1, "neg", &err), -1);
    a.p = 1.0;
    cr_assert(cn_model_node(m, CN_OP_DROP_PATH, &a, &x, 1, "one", &err) >= 0);
    cn_compile_opts o = {.batch = 2, .training = 1};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "node 'one' (drop_path)") && strstr(err.msg, "< 1"), "%s",
              err.msg);
    cn_model_free(m);
}

/* ------------------------------------------------------------------ model text */

static cn_model *parse_s(const char *s, cn_error *err)
{
    return cn_model_parse(s, strlen(s), "t.cnm", NULL, err);
}

static double p_of(const cn_model *m, const char *name)
{
    int id = cn_model_find(m, name);
    cr_assert_geq(id, 0, "no node %s", name);
    return cn_model_node_attrs(m, id)->p;
}

Test(model_text_rep, drop_path_round_trip)
{
    const char *t = "x = input shape=(3, 4, 4)\n"
                    "d = drop_path x p=0.2\n"
                    "e = drop_path d\n";
    cn_error err;
    cn_model *m = parse_s(t, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(cn_model_node_op(m, 1), CN_OP_DROP_PATH);
    cr_assert_eq(p_of(m, "d"), 0.2);
    cr_assert_eq(p_of(m, "e"), 0.5); /* cn_attrs_make's p, as dropout */
    char *p1 = cn_model_print(m, &err);
    cr_assert_not_null(p1);
    cr_assert(strstr(p1, "d = drop_path x p=0.2\ne = drop_path d\n"), "%s", p1);
    cn_model *m2 = parse_s(p1, &err);
    cr_assert_not_null(m2, "%s", err.msg);
    char *p2 = cn_model_print(m2, &err);
    cr_assert_str_eq(p1, p2);
    cn_free(p1);
    cn_free(p2);
    cn_model_free(m2);
    cn_model_free(m);
}

Test(model_text_rep, rep_is_the_copy_number)
{
    const char *t = "param L = 4\n"
                    "block inner(q) {\n"
                    "    d = drop_path in p=q + rep / 100\n"
                    "}\n"
                    "block sd(first) {\n"
                    "    d = drop_path in p=(first + rep - 1) / L * 0.5\n"
                    "    i = inner d q=rep / 10 repeat=2\n"
                    "}\n"
                    "x  = input shape=(3, 4, 4)\n"
                    "s  = sd x first=1 repeat=3\n"
                    "t  = sd s first=4\n";
    cn_error err;
    cn_model *m = parse_s(t, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(p_of(m, "s.1.d"), 1.0 / 4 * 0.5);
    cr_assert_eq(p_of(m, "s.2.d"), 2.0 / 4 * 0.5);
    cr_assert_eq(p_of(m, "s.3.d"), 3.0 / 4 * 0.5);
    cr_assert_eq(p_of(m, "t.d"), 4.0 / 4 * 0.5); /* no repeat: rep is 1 */
    /* a nested instance has its own rep; the outer rep is read in its params */
    cr_assert_eq(p_of(m, "s.2.i.1.d"), 2.0 / 10 + 1.0 / 100);
    cr_assert_eq(p_of(m, "s.2.i.2.d"), 2.0 / 10 + 2.0 / 100);
    cr_assert_eq(p_of(m, "t.i.2.d"), 1.0 / 10 + 2.0 / 100);
    cn_model_free(m);
    /* rep is read-only and exists only inside a block body */
    const char *bad[][2] = {
        {"block b(rep) {\n    d = identity in\n}\n", "'rep' is reserved"},
        {"block b(q) {\n    d = identity in\n}\nx = input shape=3\ny = b x q=1 rep=2\n",
         "block 'b' has no param 'rep'"},
        {"x = input shape=3\ny = drop_path x p=rep / 10\n", "unknown param 'rep'"},
        {"block b(q = rep) {\n    d = identity in\n}\n", "unknown param 'rep'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cn_model *mb = parse_s(bad[i][0], &err);
        cr_assert_null(mb, "parsed: %s", bad[i][0]);
        cr_assert_eq(err.code, CN_ERR_FORMAT, "%s", err.msg);
        cr_assert(strstr(err.msg, bad[i][1]), "'%s' not in '%s'", bad[i][1], err.msg);
    }
    /* a file param called rep is shadowed inside blocks, as block params shadow */
    const char *sh = "param rep = 7\n"
                     "block b(q) {\n    d = drop_path in p=rep / 10\n}\n"
                     "x = input shape=3\ny = b x q=0 repeat=2\nz = drop_path y p=rep / 10\n";
    m = parse_s(sh, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(p_of(m, "y.2.d"), 0.2);
    cr_assert_eq(p_of(m, "z"), 0.7);
    cn_model_free(m);
}

/* ------------------------------------------------------------------ resnet110-sd */

static cn_model *load(const char *path, int hw)
{
    char ov_h[32], ov_w[32];
    snprintf(ov_h, sizeof ov_h, "h=%d", hw);
    snprintf(ov_w, sizeof ov_w, "w=%d", hw);
    const char *ov[2] = {ov_h, ov_w};
    cn_model_text_opts o;
    memset(&o, 0, sizeof o);
    o.overrides = ov;
    o.n_overrides = 2;
    cn_error err;
    cn_model *m = cn_model_load_text(path, &o, &err);
    cr_assert_not_null(m, "%s", err.msg);
    return m;
}

static void compile_n(cn_model *m, int n, int training)
{
    cn_error err;
    cn_compile_opts o = {.batch = n, .training = training};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
}

Test(resnet110_sd, linear_decay_and_resnet110_structure)
{
    cn_model *sd = load("models/resnet110-sd.cnm", 32), *rn = load("models/resnet110.cnm", 32);
    compile_n(sd, 1, 0);
    compile_n(rn, 1, 0);
    cn_params *ps = cn_model_params(sd), *pr = cn_model_params(rn);
    cr_assert_eq(ps->count, pr->count);
    cr_assert_eq(ps->count, 1730714);
    cr_assert_eq(ps->buffer_count, pr->buffer_count);
    cr_assert_eq(ps->n, pr->n);
    for (int k = 0; k < ps->n; k++) cr_assert_str_eq(ps->p[k].name, pr->p[k].name);
    /* every node of resnet110 is there under its name with its op; the rest are
     * the 54 drop_path nodes, l = 1..54 in build order, p = l / 54 * 0.5 */
    for (int i = 0; i < cn_model_num_nodes(rn); i++) {
        int j = cn_model_find(sd, cn_model_node_name(rn, i));
        cr_assert_geq(j, 0, "resnet110's %s missing", cn_model_node_name(rn, i));
        cr_assert_eq(cn_model_node_op(sd, j), cn_model_node_op(rn, i));
    }
    int l = 0;
    for (int i = 0; i < cn_model_num_nodes(sd); i++) {
        if (cn_model_node_op(sd, i) != CN_OP_DROP_PATH) continue;
        l++;
        double want = (double)l / 54 * (1 - 0.5);
        double got = cn_model_node_attrs(sd, i)->p;
        cr_assert(fabs(got - want) < 1e-15, "%s: p %.17g, want %.17g",
                  cn_model_node_name(sd, i), got, want);
    }
    cr_assert_eq(l, 54);
    cr_assert_eq(cn_model_num_nodes(sd), cn_model_num_nodes(rn) + 54);
    cr_assert_eq(p_of(sd, "stage1.1.dp"), 1.0 / 54 * 0.5);
    cr_assert_eq(p_of(sd, "stage2_0.dp"), 19.0 / 54 * 0.5);
    cr_assert_eq(p_of(sd, "stage3.17.dp"), 0.5);
    /* the drop_path reads the branch's batch norm and feeds the add */
    int dp = cn_model_find(sd, "stage2.3.dp"), n_in;
    const int *in = cn_model_node_inputs(sd, dp, &n_in);
    cr_assert(n_in == 1 && strcmp(cn_model_node_name(sd, in[0]), "stage2.3.bn") == 0);
    in = cn_model_node_inputs(sd, cn_model_find(sd, "stage2.3.s"), &n_in);
    cr_assert(n_in == 2 && in[0] == dp);
    cn_model_free(sd);
    cn_model_free(rn);
}

Test(resnet110_sd, evaluation_is_resnet110_and_training_step)
{
    const int n = 2, hw = 4;
    cn_model *sd = load("models/resnet110-sd.cnm", hw), *rn = load("models/resnet110.cnm", hw);
    compile_n(sd, n, 1);
    compile_n(rn, n, 1);
    cn_error err;
    cn_rng r;
    cn_rng_seed(&r, 5, 0);
    cr_assert_eq(cn_model_init(rn, &r, &err), CN_OK, "%s", err.msg);
    cn_params *ps = cn_model_params(sd), *pr = cn_model_params(rn);
    memcpy(ps->values, pr->values, pr->count * sizeof *ps->values);
    memcpy(ps->buffers, pr->buffers, pr->buffer_count * sizeof *ps->buffers);
    cn_model_mark_initialised(sd);
    size_t nx = (size_t)n * 3 * hw * hw;
    cn_real *x = tst_reals(nx);
    tst_fill_normal(&r, x, nx, 1.0);
    int labels[2] = {3, 7};
    cn_target t = {labels, NULL};
    double lr, ls, l1, l2;
    cr_assert_eq(cn_model_forward(rn, n, x, &t, CN_EVAL, NULL, &lr, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(cn_model_forward(sd, n, x, &t, CN_EVAL, NULL, &ls, &err), CN_OK, "%s", err.msg);
    cr_assert(isfinite(lr) && lr == ls, "eval loss %g vs resnet110 %g", ls, lr);
    const cn_real *fs = cn_model_node_value(sd, cn_model_output(sd));
    const cn_real *fr = cn_model_node_value(rn, cn_model_output(rn));
    cr_assert(memcmp(fs, fr, (size_t)n * 10 * sizeof *fs) == 0, "eval logits differ");
    /* training: same seed, same loss; the gradients are finite and not all zero */
    cn_rng a, b;
    cn_rng_seed(&a, 9, 1);
    cn_rng_seed(&b, 9, 1);
    cr_assert_eq(cn_model_forward(sd, n, x, &t, CN_TRAIN, &a, &l1, &err), CN_OK, "%s", err.msg);
    cn_zero_grad(sd);
    cr_assert_eq(cn_model_backward(sd, &err), CN_OK, "%s", err.msg);
    double g2 = 0;
    for (size_t k = 0; k < ps->count; k++) g2 += (double)ps->grads[k] * ps->grads[k];
    cr_assert(isfinite(l1) && isfinite(g2) && g2 > 0, "loss %g, |grad|^2 %g", l1, g2);
    memcpy(ps->buffers, pr->buffers, pr->buffer_count * sizeof *ps->buffers);
    cr_assert_eq(cn_model_forward(sd, n, x, &t, CN_TRAIN, &b, &l2, &err), CN_OK, "%s", err.msg);
    cr_assert(l1 == l2, "same seed: loss %.17g then %.17g", l1, l2);
    free(x);
    cn_model_free(sd);
    cn_model_free(rn);
}
