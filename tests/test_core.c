/* test_core.c: status messages, allocation, tensors, the RNG (determinism,
 * streams, save/load, bounded draws, moments), threads, time and logging. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convnet.h"

Test(status, names_and_messages)
{
    cr_assert_str_eq(cn_status_name(CN_OK), "ok");
    cr_assert_str_eq(cn_status_name(CN_ERR_IO), "i/o error");
    cr_assert_str_eq(cn_status_name((cn_status)999), "unknown status");
    cn_error e;
    cn_error_clear(&e);
    cr_assert_eq(e.code, CN_OK);
    cr_assert_eq(cn_error_set(&e, CN_ERR_FORMAT, "%s: byte %d: bad", "f.idx", 3), CN_ERR_FORMAT);
    cr_assert_str_eq(e.msg, "f.idx: byte 3: bad");
    cn_error_prefix(&e, "loading %s: ", "train");
    cr_assert_str_eq(e.msg, "loading train: f.idx: byte 3: bad");
    cr_assert_eq(e.code, CN_ERR_FORMAT);
    cr_assert_eq(cn_error_set(NULL, CN_ERR_ARG, "x"), CN_ERR_ARG);
}

Test(status, prefix_truncates_safely)
{
    cn_error e;
    char big[2 * CN_ERROR_MSG_MAX];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cn_error_set(&e, CN_ERR_IO, "%s", big);
    cr_assert_eq(strlen(e.msg), CN_ERROR_MSG_MAX - 1);
    cn_error_prefix(&e, "%s", "ctx: ");
    cr_assert_eq(strlen(e.msg), CN_ERROR_MSG_MAX - 1);
    cr_assert_eq(strncmp(e.msg, "ctx: aaa", 8), 0);
}

Test(alloc, aligned_and_overflow)
{
    for (size_t n = 0; n < 200; n += 13) {
        void *p = cn_aligned_alloc(n);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % CN_ALIGN, 0);
        cn_aligned_free(p);
    }
    cr_assert_null(cn_calloc(SIZE_MAX / 2, 4));
    cr_assert_null(cn_aligned_alloc(SIZE_MAX - 3));
    size_t out;
    cr_assert_eq(cn_mul_overflow(SIZE_MAX, 2, &out), 1);
    cr_assert_eq(cn_mul_overflow(3, 4, &out), 0);
    cr_assert_eq(out, 12);
    char *s = cn_strdup("convnet");
    cr_assert_str_eq(s, "convnet");
    cn_free(s);
}

Test(tensor, new_reshape_free)
{
    cn_error e;
    cn_tensor *t = cn_tensor_new4(2, 3, 4, 5, &e);
    cr_assert_not_null(t);
    cr_assert_eq(t->numel, 120);
    cr_assert_eq((uintptr_t)t->data % CN_ALIGN, 0);
    for (size_t i = 0; i < t->numel; i++) cr_assert_eq(t->data[i], 0);
    char buf[64];
    cr_assert_str_eq(cn_tensor_shape_str(t, buf, sizeof buf), "(2, 3, 4, 5)");
    int ok[2] = {6, 20};
    cr_assert_eq(cn_tensor_reshape(t, 2, ok, &e), CN_OK);
    cr_assert_str_eq(cn_tensor_shape_str(t, buf, sizeof buf), "(6, 20)");
    int bad[2] = {7, 20};
    cr_assert_eq(cn_tensor_reshape(t, 2, bad, &e), CN_ERR_SHAPE);
    cr_assert(strstr(e.msg, "(6, 20)") && strstr(e.msg, "(7, 20)"), "%s", e.msg);
    cn_tensor_free(t);
    cn_tensor_free(NULL);
}

Test(tensor, bad_shapes)
{
    cn_error e;
    int shape[CN_MAX_DIMS + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    cr_assert_null(cn_tensor_new(0, shape, &e));
    cr_assert_eq(e.code, CN_ERR_SHAPE);
    cr_assert_null(cn_tensor_new(CN_MAX_DIMS + 1, shape, &e));
    cr_assert_eq(e.code, CN_ERR_SHAPE);
    int neg[2] = {3, -1};
    cr_assert_null(cn_tensor_new(2, neg, &e));
    cr_assert_eq(e.code, CN_ERR_SHAPE);
    int huge[4] = {2147483647, 2147483647, 2147483647, 2147483647};
    cr_assert_null(cn_tensor_new(4, huge, &e));
    cr_assert_eq(e.code, CN_ERR_RANGE);
    int zero[3] = {0, 4, 4};
    cn_tensor *t = cn_tensor_new(3, zero, &e);
    cr_assert_not_null(t);
    cr_assert_eq(t->numel, 0);
    cn_tensor_free(t);
}

Test(rng, reference_sequence)
{
    /* PCG32 reference (pcg32-demo, seed 42, stream 54): first outputs. */
    cn_rng r;
    cn_rng_seed(&r, 42u, 54u);
    const uint32_t expect[6] = {0xa15c02b7, 0x7b47f409, 0xba1d3330,
                                0x83d2f293, 0xbfa4784b, 0xcbed606e};
    for (int i = 0; i < 6; i++) cr_assert_eq(cn_rng_u32(&r), expect[i], "draw %d", i);
}

Test(rng, save_load_resume_and_streams)
{
    cn_rng a, b;
    cn_rng_seed(&a, 7, 1);
    for (int i = 0; i < 100; i++) cn_rng_u32(&a);
    uint8_t buf[16];
    cn_rng_save(&a, buf);
    uint32_t next = cn_rng_u32(&a);
    cr_assert_eq(cn_rng_load(&b, buf, NULL), CN_OK);
    cr_assert_eq(cn_rng_u32(&b), next);
    buf[8] &= 0xFE; /* even increment: not a PCG stream */
    cn_error e;
    cr_assert_eq(cn_rng_load(&b, buf, &e), CN_ERR_FORMAT);
    cn_rng s1, s2;
    cn_rng_seed(&s1, 7, 1);
    cn_rng_seed(&s2, 7, 2);
    int same = 0;
    for (int i = 0; i < 64; i++) same += cn_rng_u32(&s1) == cn_rng_u32(&s2);
    cr_assert_lt(same, 3);
}

Test(rng, moments_and_bounds)
{
    cn_rng r;
    cn_rng_seed(&r, 123, 0);
    const int n = 200000;
    double su = 0, sn = 0, sn2 = 0;
    int counts[7] = {0};
    for (int i = 0; i < n; i++) {
        double u = cn_rng_uniform(&r);
        cr_assert(u >= 0.0 && u < 1.0);
        su += u;
        double z = cn_rng_normal(&r);
        sn += z;
        sn2 += z * z;
        uint32_t k = cn_rng_below(&r, 7);
        cr_assert_lt(k, 7);
        counts[k]++;
    }
    cr_assert_float_eq(su / n, 0.5, 0.005);
    cr_assert_float_eq(sn / n, 0.0, 0.01);
    cr_assert_float_eq(sn2 / n, 1.0, 0.02);
    for (int k = 0; k < 7; k++) cr_assert_float_eq(counts[k] / (double)n, 1.0 / 7, 0.005);
}

Test(rng, shuffle_is_permutation_and_deterministic)
{
    int a[100], b[100];
    for (int i = 0; i < 100; i++) a[i] = b[i] = i;
    cn_rng r1, r2;
    cn_rng_seed(&r1, 5, 0);
    cn_rng_seed(&r2, 5, 0);
    cn_rng_shuffle(&r1, a, 100);
    cn_rng_shuffle(&r2, b, 100);
    int seen[100] = {0}, moved = 0;
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(a[i], b[i]);
        seen[a[i]]++;
        moved += a[i] != i;
    }
    for (int i = 0; i < 100; i++) cr_assert_eq(seen[i], 1);
    cr_assert_gt(moved, 80);
}

Test(threads_time_log, basics)
{
    cn_set_num_threads(1);
    cr_assert_eq(cn_get_num_threads(), 1);
    cn_set_num_threads(2);
#ifdef _OPENMP
    cr_assert_eq(cn_get_num_threads(), 2);
#endif
    cr_assert_not_null(strstr(cn_build_info(), CN_REAL_NAME));
    double t0 = cn_time_now(), t1 = cn_time_now();
    cr_assert_geq(t1, t0);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cn_logger lg = {CN_LOG_WARN, f};
    cn_log(&lg, CN_LOG_INFO, "hidden %d", 1);
    cn_log(&lg, CN_LOG_ERROR, "shown %d", 2);
    cn_log(NULL, CN_LOG_ERROR, "nowhere");
    fclose(f);
    cr_assert_str_eq(buf, "[error] shown 2\n");
    free(buf);
    cn_log_level lvl;
    cr_assert_eq(cn_log_level_parse("debug", &lvl, NULL), CN_OK);
    cr_assert_eq(lvl, CN_LOG_DEBUG);
    cr_assert_eq(cn_log_level_parse("loud", &lvl, NULL), CN_ERR_ARG);
}

static int count_cb(void *ctx, const char *stage, size_t done, size_t total)
{
    (void)stage;
    (void)total;
    *(size_t *)ctx += done;
    return 7;
}

Test(progress, report)
{
    size_t acc = 0;
    cn_progress p = {count_cb, &acc};
    cr_assert_eq(cn_progress_report(&p, "x", 3, 10), 7);
    cr_assert_eq(acc, 3);
    cr_assert_eq(cn_progress_report(NULL, "x", 1, 1), 0);
}
