/* test_profile.c: per-node timing (cn_model_profile_start / _get / _stop): every
 * node's forward and backward calls are counted and timed (input nodes never
 * run), restarting zeroes the figures, nodes added later read as zeros, and the
 * calls fail cleanly when profiling is off or the arguments are bad. */
#include <criterion/criterion.h>

#include <string.h>

#include "convnet.h"
#include "support.h"

static cn_model *small_net(void)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    cr_assert_not_null(m);
    int x = cn_model_input(m, 1, 6, 6, &err);
    int c = cn_model_conv2d(m, x, 3, 3, 1, 1, &err);
    int r = cn_model_unary(m, CN_OP_RELU, c, &err);
    int f = cn_model_flatten(m, r, &err);
    int l = cn_model_linear(m, f, 4, &err);
    cn_attrs a = cn_attrs_make(CN_OP_CROSS_ENTROPY);
    cr_assert_geq(cn_model_node(m, CN_OP_CROSS_ENTROPY, &a, &l, 1, "loss", &err), 0, "%s",
                  err.msg);
    cn_compile_opts o = {.batch = 2, .training = 1};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_rng rng;
    cn_rng_seed(&rng, 1, 0);
    cr_assert_eq(cn_model_init(m, &rng, &err), CN_OK, "%s", err.msg);
    return m;
}

static void step(cn_model *m)
{
    cn_error err;
    cn_real x[72];
    for (int i = 0; i < 72; i++) x[i] = (cn_real)(i % 7) - 3;
    int y[2] = {1, 3};
    cn_target t = {.labels = y};
    cn_rng rng;
    cn_rng_seed(&rng, 2, 0);
    cr_assert_eq(cn_model_forward(m, 2, x, &t, CN_TRAIN, &rng, NULL, &err), CN_OK, "%s",
                 err.msg);
    cr_assert_eq(cn_model_backward(m, &err), CN_OK, "%s", err.msg);
}

Test(profile, counts_and_times_every_node)
{
    cn_model *m = small_net();
    cn_error err;
    int n = cn_model_num_nodes(m);
    cn_node_profile pr[8];
    cr_assert_eq(cn_model_profile_get(m, pr, n, &err), CN_ERR_ARG); /* not started */
    cr_expect(strstr(err.msg, "not started"), "%s", err.msg);
    step(m);
    cr_assert_eq(cn_model_profile_start(m, &err), CN_OK, "%s", err.msg);
    step(m);
    step(m);
    cr_assert_eq(cn_model_profile_get(m, pr, n, &err), CN_OK, "%s", err.msg);
    for (int i = 0; i < n; i++) {
        int input = cn_model_node_op(m, i) == CN_OP_INPUT;
        cr_expect_eq(pr[i].fwd_calls, input ? 0 : 2, "node %d", i);
        cr_expect_eq(pr[i].bwd_calls, input ? 0 : 2, "node %d", i);
        cr_expect(pr[i].fwd_s >= 0 && pr[i].bwd_s >= 0);
    }
    /* restarting zeroes */
    cr_assert_eq(cn_model_profile_start(m, &err), CN_OK);
    cr_assert_eq(cn_model_profile_get(m, pr, n, &err), CN_OK);
    for (int i = 0; i < n; i++) cr_expect(pr[i].fwd_calls == 0 && pr[i].fwd_s == 0);
    /* bad arguments */
    cr_expect_eq(cn_model_profile_get(m, pr, n + 1, &err), CN_ERR_ARG);
    cr_expect_eq(cn_model_profile_get(m, NULL, n, &err), CN_ERR_ARG);
    cr_expect_eq(cn_model_profile_get(NULL, pr, n, &err), CN_ERR_ARG);
    cr_expect_eq(cn_model_profile_start(NULL, &err), CN_ERR_ARG);
    /* stopping drops the figures; steps still run */
    cn_model_profile_stop(m);
    cn_model_profile_stop(NULL);
    step(m);
    cr_expect_eq(cn_model_profile_get(m, pr, n, &err), CN_ERR_ARG);
    cn_model_free(m);
}

Test(profile, nodes_added_after_the_start_read_as_zeros)
{
    cn_error err;
    cn_model *m = cn_model_new(&err);
    int x = cn_model_input(m, 2, 0, 0, &err);
    cr_assert_eq(cn_model_profile_start(m, &err), CN_OK);
    int r = cn_model_unary(m, CN_OP_RELU, x, &err);
    cr_assert_geq(r, 0, "%s", err.msg);
    cn_compile_opts o = {.batch = 1};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_rng rng;
    cn_rng_seed(&rng, 3, 0);
    cr_assert_eq(cn_model_init(m, &rng, &err), CN_OK, "%s", err.msg);
    cn_real v[2] = {-1, 2};
    cr_assert_eq(cn_model_forward(m, 1, v, NULL, CN_EVAL, NULL, NULL, &err), CN_OK, "%s",
                 err.msg);
    cn_node_profile pr[2];
    memset(pr, 0x55, sizeof pr);
    cr_assert_eq(cn_model_profile_get(m, pr, 2, &err), CN_OK, "%s", err.msg);
    cr_expect(pr[1].fwd_calls == 0 && pr[1].fwd_s == 0 && pr[1].bwd_calls == 0);
    cn_model_free(m);
}
