/* test_norm_io.c: fitted normalisation statistics saved into a safetensors file
 * image and loaded back bit-exactly, applying identically; bad entries rejected. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "convnet.h"

/* A small dataset (n, 2, 3, 4) of deterministic pseudo-random pixels. */
static cn_dataset *make_data(int n)
{
    cn_error e;
    cn_dataset *ds = cn_dataset_new(n, 2, 3, 4, 10, &e);
    cr_assert_not_null(ds, "%s", e.msg);
    cn_rng r;
    cn_rng_seed(&r, 3, 0);
    for (size_t i = 0; i < ds->images->numel; i++)
        ds->images->data[i] = (cn_real)cn_rng_uniform(&r);
    return ds;
}

/* Serialise norm with prefix into a parsed safetensors object. */
static cn_safetensors *roundtrip(const cn_norm *norm, const char *prefix)
{
    cn_error e;
    cn_st_writer *w = cn_st_writer_new(&e);
    cr_assert_not_null(w);
    cr_assert_eq(cn_norm_save(norm, w, prefix, &e), CN_OK, "%s", e.msg);
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cn_st_writer_serialize(w, &buf, &len, &e), CN_OK, "%s", e.msg);
    cn_st_writer_free(w);
    cn_safetensors *st = NULL;
    cr_assert_eq(cn_safetensors_parse(buf, len, "memory", &st, &e), CN_OK, "%s", e.msg);
    cn_free(buf);
    return st;
}

Test(norm_io, save_load_bit_exact_and_applies_identically)
{
    for (int mode = CN_NORM_NONE; mode < CN_NORM_MODE_COUNT; mode++) {
        cn_dataset *train = make_data(7), *a = make_data(5), *b = make_data(5);
        cn_norm fitted, loaded;
        cn_error e;
        cr_assert_eq(cn_norm_fit(train, (cn_norm_mode)mode, &fitted, &e), CN_OK, "%s", e.msg);
        cn_safetensors *st = roundtrip(&fitted, "preproc.norm.");
        cr_assert_eq(cn_norm_load(st, "preproc.norm.", &loaded, &e), CN_OK, "%s", e.msg);
        cr_assert_eq(loaded.mode, fitted.mode);
        cr_assert_eq(loaded.c * 100 + loaded.h * 10 + loaded.w, 234);
        cr_assert_eq(memcmp(loaded.mean_image, fitted.mean_image, 24 * sizeof(cn_real)), 0);
        cr_assert_eq(memcmp(loaded.std_image, fitted.std_image, 24 * sizeof(cn_real)), 0);
        cr_assert_eq(memcmp(loaded.mean, fitted.mean, 2 * sizeof(cn_real)), 0);
        cr_assert_eq(memcmp(loaded.std, fitted.std, 2 * sizeof(cn_real)), 0);
        cr_assert_eq(cn_norm_apply(&fitted, a, &e), CN_OK);
        cr_assert_eq(cn_norm_apply(&loaded, b, &e), CN_OK);
        cr_assert_eq(memcmp(a->images->data, b->images->data, a->images->numel * sizeof(cn_real)),
                     0, "mode %s", cn_norm_mode_name((cn_norm_mode)mode));
        cn_norm_free(&fitted);
        cn_norm_free(&loaded);
        cn_safetensors_free(st);
        cn_dataset_free(train);
        cn_dataset_free(a);
        cn_dataset_free(b);
    }
}

Test(norm_io, bad_entries_rejected)
{
    cn_dataset *train = make_data(4);
    cn_norm fitted, loaded;
    cn_error e;
    cr_assert_eq(cn_norm_fit(train, CN_NORM_CHANNEL, &fitted, &e), CN_OK);
    cn_safetensors *st = roundtrip(&fitted, "p.");
    /* wrong prefix: the mode is missing */
    cr_assert_eq(cn_norm_load(st, "q.", &loaded, &e), CN_ERR_FORMAT);
    cr_assert(strstr(e.msg, "q.mode"), "%s", e.msg);
    cn_safetensors_free(st);

    /* a negative std */
    fitted.std[1] = -1;
    st = roundtrip(&fitted, "p.");
    cr_assert_eq(cn_norm_load(st, "p.", &loaded, &e), CN_ERR_FORMAT);
    cr_assert(strstr(e.msg, "p.std") && strstr(e.msg, "element 1"), "%s", e.msg);
    cn_safetensors_free(st);

    /* an unknown mode and a missing tensor, written by hand */
    cn_st_writer *w = cn_st_writer_new(&e);
    cr_assert_eq(cn_st_writer_meta(w, "p.mode", "zca", &e), CN_OK);
    uint8_t *buf;
    size_t len;
    cr_assert_eq(cn_st_writer_serialize(w, &buf, &len, &e), CN_OK);
    cn_st_writer_free(w);
    cr_assert_eq(cn_safetensors_parse(buf, len, "memory", &st, &e), CN_OK);
    cn_free(buf);
    cr_assert_eq(cn_norm_load(st, "p.", &loaded, &e), CN_ERR_FORMAT);
    cr_assert(strstr(e.msg, "unknown normalisation mode 'zca'"), "%s", e.msg);
    cn_safetensors_free(st);
    w = cn_st_writer_new(&e);
    cr_assert_eq(cn_norm_save(&(cn_norm){0}, w, "x", &e), CN_ERR_ARG); /* not fitted */
    cn_st_writer_free(w);
    cn_norm_free(&fitted);
    cn_dataset_free(train);
}
