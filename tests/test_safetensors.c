/* tests/test_safetensors.c: the strict safetensors reader against every row S1-S25
 * of RELIABILITY.md (each bad file built in memory and given to
 * cn_safetensors_parse, a few through cn_safetensors_read on temporary files), the
 * reference implementation's golden files (tests/fixtures/safetensors/ref_*), a
 * file written by tools/fixtures/st.py, writer -> reader round trips of every
 * dtype and of metadata, cn_safetensors_get_real, and the atomic save. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convnet/safetensors.h"
#include "support.h"

#define FIXDIR "tests/fixtures/safetensors/"
#define WHAT "mem.safetensors"

/* ------------------------------------------------------------------ helpers */

static char tmp_dir[256];

static void make_tmp_dir(void)
{
    cr_assert_eq(tst_tmpdir_make(tmp_dir, sizeof tmp_dir, "st"), 0, "mkdtemp failed");
}

static void remove_tmp_dir(void) { tst_tmpdir_remove(tmp_dir); }

TestSuite(st, .init = make_tmp_dir, .fini = remove_tmp_dir);

static const char *tmp_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    return path;
}

/* A file image: 8-byte little-endian N, N header bytes, dlen data bytes. */
typedef struct img {
    uint8_t *p;
    size_t len;
} img;

static img mk_raw(uint64_t n, const void *hdr, size_t hlen, const void *data, size_t dlen)
{
    img m = {malloc(8 + hlen + dlen + 1), 8 + hlen + dlen};
    cr_assert_not_null(m.p);
    for (int b = 0; b < 8; b++) m.p[b] = (uint8_t)(n >> (8 * b));
    if (hlen) memcpy(m.p + 8, hdr, hlen);
    if (dlen) {
        if (data) memcpy(m.p + 8 + hlen, data, dlen);
        else memset(m.p + 8 + hlen, 0, dlen);
    }
    return m;
}

/* A file whose header is json (N = its length) followed by dlen zero bytes. */
static img mk(const char *json, size_t dlen)
{
    return mk_raw(strlen(json), json, strlen(json), NULL, dlen);
}

static img load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s (run the tests from the repository root)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    img m = {malloc((size_t)n + 1), (size_t)n};
    cr_assert_eq(fread(m.p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return m;
}

/* Parse m; it must fail with code and a message naming WHAT and containing want. */
static void expect_err(img m, cn_status code, const char *want)
{
    cn_safetensors *st = (cn_safetensors *)1;
    cn_error err;
    cn_error_clear(&err);
    cn_status s = cn_safetensors_parse(m.p, m.len, WHAT, &st, &err);
    cr_assert_null(st);
    cr_assert_eq(s, code, "status %d (%s), want %d; msg: %s", s, cn_status_name(s), code,
                 err.msg);
    cr_assert_eq(err.code, code);
    cr_assert(strncmp(err.msg, WHAT ": ", strlen(WHAT) + 2) == 0, "msg does not name the file: %s",
              err.msg);
    cr_assert(strstr(err.msg, want) != NULL, "msg '%s' lacks '%s'", err.msg, want);
    free(m.p);
}

static void expect_bad(const char *json, size_t dlen, cn_status code, const char *want)
{
    expect_err(mk(json, dlen), code, want);
}

/* Parse m, which must succeed; frees m. */
static cn_safetensors *expect_ok(img m)
{
    cn_safetensors *st = NULL;
    cn_error err;
    cn_error_clear(&err);
    cn_status s = cn_safetensors_parse(m.p, m.len, WHAT, &st, &err);
    cr_assert_eq(s, CN_OK, "parse failed: %s", err.msg);
    cr_assert_not_null(st);
    free(m.p);
    return st;
}

static char *repeat(const char *unit, size_t times, const char *pre, const char *post)
{
    size_t u = strlen(unit), a = strlen(pre), b = strlen(post);
    char *s = malloc(a + u * times + b + 1);
    cr_assert_not_null(s);
    memcpy(s, pre, a);
    for (size_t i = 0; i < times; i++) memcpy(s + a + i * u, unit, u);
    memcpy(s + a + u * times, post, b + 1);
    return s;
}

/* ------------------------------------------------------------------ S1-S4: lengths */

Test(st, s1_header_too_small)
{
    uint8_t b[8] = {0};
    for (size_t n = 0; n < 8; n++) {
        img m = {malloc(8), n};
        memcpy(m.p, b, 8);
        expect_err(m, CN_ERR_FORMAT, "header too small");
    }
}

Test(st, s2_header_length_max_u64)
{
    /* N = 2^64-1: rejected before any allocation, 8 + N never computed. */
    expect_err(mk_raw(UINT64_MAX, "{}", 2, NULL, 0), CN_ERR_FORMAT, "header too large");
    expect_err(mk_raw(UINT64_MAX - 7, "{}", 2, NULL, 0), CN_ERR_FORMAT, "header too large");
    /* the reference's test_header_too_large: 0xffffff0000003c */
    expect_err(mk_raw(0xffffff000000003cULL, "{}", 2, NULL, 0), CN_ERR_FORMAT,
               "header too large");
}

Test(st, s3_header_above_cap)
{
    expect_err(mk_raw(CN_ST_MAX_HEADER + 1, "{}", 2, NULL, 0), CN_ERR_FORMAT, "header too large");
    /* exactly the cap is allowed by the cap check; this file is then too short */
    expect_err(mk_raw(CN_ST_MAX_HEADER, "{}", 2, NULL, 0), CN_ERR_FORMAT,
               "invalid header length");
}

Test(st, s4_header_longer_than_file)
{
    expect_err(mk_raw(3, "{}", 2, NULL, 0), CN_ERR_FORMAT, "invalid header length");
    /* the reference's test_invalid_header_length: N = 60 and nothing after */
    expect_err(mk_raw(60, "", 0, NULL, 0), CN_ERR_FORMAT, "invalid header length");
    expect_err(mk_raw(1000, "{}", 2, NULL, 100), CN_ERR_FORMAT, "invalid header length");
}

/* ------------------------------------------------------------------ S5-S9: header text */

Test(st, s5_not_utf8_and_bom)
{
    expect_err(mk_raw(1, "\xff", 1, NULL, 0), CN_ERR_FORMAT, "invalid header");
    expect_bad("{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
               CN_ERR_FORMAT, "not valid UTF-8");
    expect_bad("{\"__metadata__\":{\"k\":\"\xc0\xaf\"}}", 0, CN_ERR_FORMAT, "invalid header");
    expect_bad("{\"__metadata__\":{\"k\":\"\xed\xa0\x80\"}}", 0, CN_ERR_FORMAT, "invalid header");
    expect_bad("{\"__metadata__\":{\"k\":\"\xf4\x90\x80\x80\"}}", 0, CN_ERR_FORMAT,
               "invalid header");
    expect_bad("\xef\xbb\xbf{}", 0, CN_ERR_FORMAT, "byte order mark");
}

Test(st, s6_bad_json)
{
    expect_bad("{", 0, CN_ERR_FORMAT, "invalid header JSON");  /* reference test_invalid_header_not_json */
    expect_bad("{\"a\":", 0, CN_ERR_FORMAT, "invalid header JSON");
    expect_bad("{} x", 0, CN_ERR_FORMAT, "invalid header JSON");
    expect_bad("{}{}", 0, CN_ERR_FORMAT, "invalid header JSON");
    expect_bad("[]", 0, CN_ERR_FORMAT, "invalid header JSON");
    expect_bad("[{}]", 0, CN_ERR_FORMAT, "invalid header JSON");
    expect_bad("1", 0, CN_ERR_FORMAT, "invalid header JSON");
    expect_bad("\"x\"", 0, CN_ERR_FORMAT, "invalid header JSON");
    expect_bad("null", 0, CN_ERR_FORMAT, "invalid header JSON");
    expect_bad("", 0, CN_ERR_FORMAT, "invalid header JSON");
    expect_err(mk_raw(4, "{}\0\0", 4, NULL, 0), CN_ERR_FORMAT, "invalid header JSON");
    expect_bad("{'a':1}", 0, CN_ERR_FORMAT, "invalid header JSON");
    /* the message gives the byte offset in the file */
    expect_bad("{} x", 0, CN_ERR_FORMAT, "mem.safetensors: byte 12: invalid header JSON");
}

Test(st, s7_deep_nesting)
{
    const size_t depth = 100000;
    char *a = repeat("[", depth, "{\"__metadata__\":", "");
    expect_bad(a, 0, CN_ERR_FORMAT, "nested deeper than");
    free(a);
    char *b = repeat("{\"a\":", depth, "{\"t\":{\"dtype\":", "");
    expect_bad(b, 0, CN_ERR_FORMAT, "nested deeper than");
    free(b);
    /* closed nesting too: still rejected by the depth limit, not by a later check */
    char *c = repeat("[", depth, "{\"x\":", "");
    size_t n = strlen(c);
    char *d = repeat("]", depth, c, "}");
    cr_assert_eq(strlen(d), n + depth + 1);
    expect_bad(d, 0, CN_ERR_FORMAT, "nested deeper than");
    free(c);
    free(d);
}

Test(st, s8_whitespace_and_unaligned_header_accepted)
{
    cn_safetensors *st = expect_ok(mk(" \t\r\n{}\n ", 0));
    cr_assert_eq(st->ntensors, 0);
    cn_safetensors_free(st);
    /* the reference's test_whitespace_padded_header */
    st = expect_ok(load_file(FIXDIR "ref_whitespace_padded.safetensors"));
    cn_safetensors_free(st);
    /* N = 60, not a multiple of 8 (the reference's Python test_serialization) */
    st = expect_ok(load_file(FIXDIR "ref_i32_zeros.safetensors"));
    cr_assert_eq(st->ntensors, 1);
    cr_assert_eq(st->tensors[0].data, st->buffer + 8 + 60);
    cn_safetensors_free(st);
    st = expect_ok(mk("{\"t\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}   ", 3));
    cn_safetensors_free(st);
}

Test(st, s9_bad_metadata)
{
    expect_bad("{\"__metadata__\":1}", 0, CN_ERR_FORMAT, "invalid header: __metadata__");
    expect_bad("{\"__metadata__\":null}", 0, CN_ERR_FORMAT, "invalid header: __metadata__");
    expect_bad("{\"__metadata__\":\"s\"}", 0, CN_ERR_FORMAT, "invalid header: __metadata__");
    expect_bad("{\"__metadata__\":[\"a\"]}", 0, CN_ERR_FORMAT, "invalid header: __metadata__");
    expect_bad("{\"__metadata__\":{\"k\":{}}}", 0, CN_ERR_FORMAT, "value of 'k' is not a string");
    expect_bad("{\"__metadata__\":{\"k\":1}}", 0, CN_ERR_FORMAT, "value of 'k' is not a string");
    expect_bad("{\"__metadata__\":{\"k\":null}}", 0, CN_ERR_FORMAT, "not a string");
    expect_bad("{\"__metadata__\":{\"k\":true}}", 0, CN_ERR_FORMAT, "not a string");
    cn_safetensors *st = expect_ok(mk("{\"__metadata__\":{}}", 0));
    cr_assert_eq(st->nmeta, 0);
    cn_safetensors_free(st);
}

/* ------------------------------------------------------------------ S10-S16: entries */

#define T1(dt, shape, offs) "{\"t\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" offs "}}"

Test(st, s10_bad_dtype)
{
    expect_bad(T1("F33", "[1]", "[0,4]"), 4, CN_ERR_FORMAT, "invalid dtype 'F33' of tensor 't'");
    expect_bad(T1("f32", "[1]", "[0,4]"), 4, CN_ERR_FORMAT, "invalid dtype 'f32' of tensor 't'");
    expect_bad(T1("", "[1]", "[0,4]"), 4, CN_ERR_FORMAT, "invalid dtype");
    expect_bad(T1("F8_E4M3", "[1]", "[0,1]"), 1, CN_ERR_UNSUPPORTED,
               "unsupported dtype 'F8_E4M3' of tensor 't'");
    expect_bad(T1("F4", "[2]", "[0,1]"), 1, CN_ERR_UNSUPPORTED, "unsupported dtype 'F4'");
    expect_bad(T1("C64", "[1]", "[0,8]"), 8, CN_ERR_UNSUPPORTED, "unsupported dtype 'C64'");
    expect_bad("{\"t\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, CN_ERR_FORMAT,
               "tensor 't': dtype is not a string");
}

Test(st, s11_bad_numbers)
{
    expect_bad(T1("F32", "[-1]", "[0,4]"), 4, CN_ERR_FORMAT, "invalid header: tensor 't': shape[0]");
    expect_bad(T1("F32", "[1.0]", "[0,4]"), 4, CN_ERR_FORMAT, "invalid header: tensor 't': shape[0]");
    expect_bad(T1("F32", "[1,1e0]", "[0,4]"), 4, CN_ERR_FORMAT, "shape[1]");
    expect_bad(T1("F32", "[1e3]", "[0,4000]"), 4000, CN_ERR_FORMAT, "invalid header");
    expect_bad(T1("F32", "[\"1\"]", "[0,4]"), 4, CN_ERR_FORMAT, "invalid header");
    expect_bad(T1("F32", "[true]", "[0,4]"), 4, CN_ERR_FORMAT, "invalid header");
    expect_bad(T1("F32", "[null]", "[0,4]"), 4, CN_ERR_FORMAT, "invalid header");
    expect_bad(T1("F32", "4", "[0,4]"), 4, CN_ERR_FORMAT, "shape is not an array");
    /* above 2^64-1 (and above jansson's 2^63-1): overflow, reported as invalid header */
    expect_bad(T1("F32", "[18446744073709551616]", "[0,4]"), 4, CN_ERR_RANGE, "invalid header");
    expect_bad(T1("F32", "[9223372036854775808]", "[0,4]"), 4, CN_ERR_RANGE, "overflow");
    expect_bad(T1("F32", "[1]", "[0,4.0]"), 4, CN_ERR_FORMAT, "invalid header");
    expect_bad(T1("F32", "[1]", "[-4,0]"), 4, CN_ERR_FORMAT, "invalid header");
    expect_bad(T1("F32", "[1]", "[0,18446744073709551620]"), 4, CN_ERR_RANGE, "overflow");
    expect_bad(T1("F32", "[1e400]", "[0,4]"), 4, CN_ERR_RANGE, "overflow");
    /* rank above CN_ST_MAX_DIMS */
    expect_bad(T1("F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]"), 4, CN_ERR_UNSUPPORTED, "rank 9");
    /* extra and missing fields */
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
               CN_ERR_FORMAT, "unknown field 'x'");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, CN_ERR_FORMAT,
               "missing field 'shape'");
    expect_bad("{\"t\":[]}", 0, CN_ERR_FORMAT, "tensor 't': entry is not an object");
    expect_bad("{\"t\":\"F32\"}", 0, CN_ERR_FORMAT, "entry is not an object");
    /* -0 is the integer 0 (jansson; the reference rejects it: docs/safetensors.md) */
    cn_safetensors_free(expect_ok(mk(T1("F32", "[-0]", "[0,0]"), 0)));
}

Test(st, s12_shape_product_overflow)
{
    /* the reference's test_validation_overflow, both cases */
    expect_bad(T1("I32", "[2,18446744073709551614]", "[0,16]"), 16, CN_ERR_RANGE, "overflow");
    expect_bad(T1("I32", "[2,9223372036854775807]", "[0,16]"), 16, CN_ERR_RANGE,
               "overflow: tensor 't'");
    expect_bad(T1("U8", "[4294967296,4294967296]", "[0,16]"), 16, CN_ERR_RANGE,
               "overflow: tensor 't': element count");
    expect_bad(T1("F64", "[2305843009213693952]", "[0,16]"), 16, CN_ERR_RANGE,
               "overflow: tensor 't': byte size");
    /* a zero dimension makes any product fine */
    cn_safetensors_free(expect_ok(mk(T1("F64", "[0,9223372036854775807]", "[0,0]"), 0)));
}

Test(st, s13_bad_offsets)
{
    expect_bad(T1("F32", "[1]", "[0]"), 4, CN_ERR_FORMAT, "invalid offset: tensor 't'");
    expect_bad(T1("F32", "[1]", "[0,4,8]"), 8, CN_ERR_FORMAT, "invalid offset");
    expect_bad(T1("F32", "[1]", "[]"), 4, CN_ERR_FORMAT, "invalid offset");
    expect_bad(T1("F32", "[1]", "4"), 4, CN_ERR_FORMAT, "invalid offset");
    expect_bad(T1("F32", "[1]", "[8,4]"), 8, CN_ERR_FORMAT, "invalid offset: tensor 't': begin 8 > end 4");
}

Test(st, s14_overlaps_and_holes)
{
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
               CN_ERR_FORMAT, "invalid offset: tensor 'b' [0, 8) overlaps tensor 'a'");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
               CN_ERR_FORMAT, "overlaps");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20,
               CN_ERR_FORMAT, "invalid offset: tensor 'b' begins at 12, leaving a hole of 4");
    expect_bad(T1("F32", "[1]", "[4,8]"), 8, CN_ERR_FORMAT, "hole of 4 bytes after offset 0");
    /* the reference's test_json_attack: ten tensors over the same 16 bytes */
    char json[2048] = "{";
    for (int i = 0; i < 10; i++)
        snprintf(json + strlen(json), sizeof json - strlen(json),
                 "%s\"weight_%d\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}",
                 i ? "," : "", i);
    strcat(json, "}");
    expect_bad(json, 16, CN_ERR_FORMAT, "invalid offset");
    /* out-of-order but tiling entries are fine */
    cn_safetensors *st = expect_ok(mk(
        "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8));
    cr_assert_str_eq(st->tensors[0].name, "b");  /* header order kept */
    cr_assert_eq(cn_safetensors_find(st, "a")->begin, 0);
    cn_safetensors_free(st);
}

Test(st, s15_size_mismatch)
{
    /* the reference's test_invalid_info */
    expect_bad(T1("I32", "[2,2]", "[0, 4]"), 4, CN_ERR_FORMAT,
               "tensor size mismatch: tensor 't': I32[2,2] needs 16 bytes, data_offsets [0, 4] "
               "give 4");
    expect_bad(T1("F64", "[]", "[0,4]"), 4, CN_ERR_FORMAT, "tensor size mismatch");
    expect_bad(T1("U8", "[0]", "[0,1]"), 1, CN_ERR_FORMAT, "tensor size mismatch");
}

Test(st, s16_extra_buffer)
{
    /* the reference's test_metadata_incomplete_buffer, polyglot part */
    const char *h = T1("I32", "[2,2]", "[0,16]");
    const char *tail = "extra_bogus_data_for_polyglot_file";
    uint8_t data[64] = {0};
    memcpy(data + 16, tail, strlen(tail));
    expect_err(mk_raw(strlen(h), h, strlen(h), data, 16 + strlen(tail)), CN_ERR_FORMAT,
               "extra buffer: 34 bytes after the last tensor");
    expect_bad(T1("I32", "[2,2]", "[0,16]"), 17, CN_ERR_FORMAT, "extra buffer");
    expect_bad("{}", 1, CN_ERR_FORMAT, "extra buffer: 1 bytes of data but no tensors");
    /* the same file missing 2 bytes */
    expect_bad(T1("I32", "[2,2]", "[0,16]"), 14, CN_ERR_FORMAT,
               "incomplete buffer: the tensors need 16 bytes of data, the file has 14");
}

/* ------------------------------------------------------------------ S17: truncation */

Test(st, s17_every_prefix_errors)
{
    img full = load_file(FIXDIR "st_py_mixed.safetensors");
    cn_safetensors *ok = NULL;
    cr_assert_eq(cn_safetensors_parse(full.p, full.len, WHAT, &ok, NULL), CN_OK);
    cn_safetensors_free(ok);
    for (size_t n = 0; n < full.len; n++) {
        /* an exact-size heap copy, so ASan catches any read past the prefix */
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, full.p, n);
        cn_safetensors *st = (cn_safetensors *)1;
        cn_error err;
        cn_status s = cn_safetensors_parse(p, n, WHAT, &st, &err);
        cr_assert_neq(s, CN_OK, "prefix of %zu bytes accepted", n);
        cr_assert_null(st);
        const char *want = n < 8 ? "header too small"
                           : n < 8 + 1096 ? "invalid header length" : "incomplete buffer";
        cr_assert(strstr(err.msg, want), "prefix %zu: %s", n, err.msg);
        free(p);
    }
    free(full.p);
}

Test(st, s17_truncated_file_on_disk)
{
    img full = load_file(FIXDIR "ref_attn0_f32.safetensors");
    FILE *f = fopen(tmp_path("trunc.safetensors"), "wb");
    cr_assert_not_null(f);
    fwrite(full.p, 1, full.len - 5, f);
    fclose(f);
    cn_safetensors *st = (cn_safetensors *)1;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(tmp_path("trunc.safetensors"), &st, &err), CN_ERR_FORMAT);
    cr_assert_null(st);
    cr_assert(strstr(err.msg, "trunc.safetensors: byte 91: incomplete buffer"), "%s", err.msg);
    free(full.p);
}

/* ------------------------------------------------------------------ S18-S21 */

Test(st, s18_duplicate_names)
{
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
               CN_ERR_FORMAT, "duplicate key");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
               CN_ERR_FORMAT, "duplicate key");
    expect_bad("{\"__metadata__\":{},\"__metadata__\":{}}", 0, CN_ERR_FORMAT, "duplicate key");
    expect_bad("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, CN_ERR_FORMAT, "duplicate key");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
               4, CN_ERR_FORMAT, "duplicate key");
    /* the same name spelled with an escape is the same key */
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"\\u0061\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
               CN_ERR_FORMAT, "duplicate key");
}

Test(st, s19_zero_size_tensor_sharing_an_offset)
{
    /* Pinned choice (as the reference): the tensors, sorted by (begin, end), must
     * tile the data; a zero-size tensor at a tensor boundary is accepted even when
     * it shares its offset with a non-zero tensor... */
    cn_safetensors *st = expect_ok(mk(
        "{\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16));
    cr_assert_eq(cn_safetensors_find(st, "z")->numel, 0);
    cn_safetensors_free(st);
    st = expect_ok(mk("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                      "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[16,16]},"
                      "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[16,17]}}", 17));
    cn_safetensors_free(st);
    /* ...the reference writer itself produces this (st_py_mixed's "empty") */
    /* ...but one inside another tensor's bytes is an overlap */
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
               "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}", 16,
               CN_ERR_FORMAT, "invalid offset: tensor 'z' [8, 8) overlaps tensor 'a'");
    /* and one past the end of the data is a hole */
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
               "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[20,20]}}", 16,
               CN_ERR_FORMAT, "hole");
}

Test(st, s20_odd_names)
{
    /* "" is a valid name */
    cn_safetensors *st = expect_ok(mk("{\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1));
    cr_assert_str_eq(st->tensors[0].name, "");
    cr_assert_not_null(cn_safetensors_find(st, ""));
    cn_safetensors_free(st);
    /* embedded NUL: rejected (names are C strings), in names and metadata */
    expect_bad("{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
               CN_ERR_FORMAT, "invalid header: NUL character");
    expect_bad("{\"__metadata__\":{\"k\":\"v\\u0000\"}}", 0, CN_ERR_FORMAT, "NUL character");
    expect_bad("{\"__metadata__\":{\"k\\u0000\":\"v\"}}", 0, CN_ERR_FORMAT, "NUL character");
    /* "__metadata__" is always the metadata: a tensor entry there is bad metadata */
    expect_bad("{\"__metadata__\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
               CN_ERR_FORMAT, "invalid header: __metadata__ value of 'shape' is not a string");
    /* names with escapes and UTF-8 */
    st = expect_ok(mk("{\"q\\\"\\\\\\n\xc3\xa9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1));
    cr_assert_str_eq(st->tensors[0].name, "q\"\\\n\xc3\xa9");
    cn_safetensors_free(st);
    /* the writer refuses what the reader could not read back */
    cn_st_writer *w = cn_st_writer_new(NULL);
    cn_error err;
    uint8_t one = 1;
    uint64_t shape[1] = {1};
    cr_assert_eq(cn_st_writer_add(w, "__metadata__", CN_DTYPE_U8, 1, shape, &one, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "reserved"));
    cr_assert_eq(cn_st_writer_add(w, "\xff", CN_DTYPE_U8, 1, shape, &one, &err), CN_ERR_ARG);
    cr_assert_eq(cn_st_writer_meta(w, "k", "\xc0\xaf", &err), CN_ERR_ARG);
    cr_assert_eq(cn_st_writer_add(w, "", CN_DTYPE_U8, 1, shape, &one, &err), CN_OK);
    cn_st_writer_free(w);
}

Test(st, s21_empty_scalar_zero_size)
{
    cn_safetensors *st = expect_ok(mk("{}", 0));
    cr_assert_eq(st->ntensors, 0);
    cr_assert_null(cn_safetensors_find(st, "x"));
    cn_tensor *t = (cn_tensor *)1;
    cn_error err;
    cr_assert_eq(cn_safetensors_get_real(st, "conv1.weight", &t, &err), CN_ERR_ARG);
    cr_assert_null(t);
    cr_assert_str_eq(err.msg, "tensor 'conv1.weight' not found");
    cn_safetensors_free(st);

    st = expect_ok(load_file(FIXDIR "ref_scalar_i32.safetensors"));
    cr_assert_eq(st->tensors[0].ndim, 0);
    cr_assert_eq(st->tensors[0].numel, 1);
    cn_safetensors_free(st);
    st = expect_ok(load_file(FIXDIR "ref_zero_sized.safetensors"));
    const cn_st_tensor *z = cn_safetensors_find(st, "test");
    cr_assert_eq(z->ndim, 2);
    cr_assert_eq(z->shape[1], 0);
    cr_assert_eq(z->numel, 0);
    cr_assert_eq(z->end, 0);
    cn_safetensors_free(st);

    /* rank-0 and zero-size F32 through get_real */
    st = expect_ok(mk("{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                      "\"e\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[4,4]}}", 4));
    cr_assert_eq(cn_safetensors_get_real(st, "s", &t, &err), CN_OK);
    cr_assert_eq(t->ndim, 1);
    cr_assert_eq(t->shape[0], 1);
    cr_assert_eq(t->data[0], 0);
    cn_tensor_free(t);
    cr_assert_eq(cn_safetensors_get_real(st, "e", &t, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(t->ndim, 2);
    cr_assert_eq(t->numel, 0);
    cn_tensor_free(t);
    cn_safetensors_free(st);
}

/* ------------------------------------------------------------------ S22-S24 */

Test(st, s22_header_edit_dtype)
{
    /* an F32 tensor whose header was edited to I32: still a valid file, but not real */
    img m = load_file(FIXDIR "ref_attn0_f32.safetensors");
    size_t at = 0;
    while (at + 5 <= m.len && memcmp(m.p + at, "\"F32\"", 5) != 0) at++;
    cr_assert_lt(at + 5, m.len);
    memcpy(m.p + at, "\"I32\"", 5);
    cn_safetensors *st = expect_ok(m);
    cn_tensor *t = (cn_tensor *)1;
    cn_error err;
    cr_assert_eq(cn_safetensors_get_real(st, "attn.0", &t, &err), CN_ERR_UNSUPPORTED);
    cr_assert_null(t);
    cr_assert(strstr(err.msg, "tensor 'attn.0': dtype I32"), "%s", err.msg);
    cn_safetensors_free(st);
}

Test(st, s23_nan_inf_load)
{
    cn_st_writer *w = cn_st_writer_new(NULL);
    float f[3] = {NAN, INFINITY, -INFINITY};
    uint64_t shape[1] = {3};
    cr_assert_eq(cn_st_writer_add(w, "w", CN_DTYPE_F32, 1, shape, f, NULL), CN_OK);
    uint8_t *buf;
    size_t len;
    cr_assert_eq(cn_st_writer_serialize(w, &buf, &len, NULL), CN_OK);
    cn_safetensors *st = expect_ok((img){buf, len});
    cn_tensor *t;
    cr_assert_eq(cn_safetensors_get_real(st, "w", &t, NULL), CN_OK);
    cr_assert(isnan(t->data[0]));
    cr_assert(isinf(t->data[1]) && t->data[1] > 0);
    cr_assert(isinf(t->data[2]) && t->data[2] < 0);
    cn_tensor_free(t);
    cn_safetensors_free(st);
    cn_st_writer_free(w);
}

/* A header of n entries "t<i>" each an F32 [0] at [0,0]. */
static img many_tensors(int n)
{
    size_t cap = (size_t)n * 64 + 16, len = 0;
    char *h = malloc(cap);
    cr_assert_not_null(h);
    h[len++] = '{';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(h + len, cap - len,
                                "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}",
                                i ? "," : "", i);
    h[len++] = '}';
    img m = mk_raw(len, h, len, NULL, 0);
    free(h);
    return m;
}

Test(st, s24_many_tensors)
{
    /* 100,000 tiny tensors (5.6 MB of header, under the 100 MB cap): rejected by
     * the tensor-count limit before the JSON is parsed */
    expect_err(many_tensors(100000), CN_ERR_RANGE, "too many tensors: more than 65536");
    /* the limit itself is accepted */
    cn_safetensors *st = expect_ok(many_tensors(CN_ST_MAX_TENSORS));
    cr_assert_eq(st->ntensors, CN_ST_MAX_TENSORS);
    cr_assert_str_eq(cn_safetensors_find(st, "t65535")->name, "t65535");
    cr_assert_str_eq(cn_safetensors_find(st, "t0")->name, "t0");
    cr_assert_null(cn_safetensors_find(st, "t65536"));
    cn_safetensors_free(st);
    /* a tensor-shaped object nested deeper does not count as an entry */
    cn_safetensors_free(expect_ok(mk("{\"__metadata__\":{\"k\":\"{{{{\"}}", 0)));
}

/* ------------------------------------------------------------------ S25: golden files */

static const char *writer_golden[] = {"ref_attn0_f32", "ref_forced_alignment", "ref_empty",
                                      "ref_empty_meta", "ref_pt_f32_zeros", "ref_scalar_i32"};
static const char *reader_only_golden[] = {"ref_i32_zeros", "ref_i32_one", "ref_zero_sized",
                                           "ref_whitespace_padded"};

static void fixture_path(char *buf, size_t size, const char *stem)
{
    snprintf(buf, size, FIXDIR "%s.safetensors", stem);
}

Test(st, s25_golden_files_read)
{
    char path[256];
    for (size_t i = 0; i < sizeof writer_golden / sizeof *writer_golden; i++) {
        fixture_path(path, sizeof path, writer_golden[i]);
        cn_safetensors *st;
        cn_error err;
        cr_assert_eq(cn_safetensors_read(path, &st, &err), CN_OK, "%s", err.msg);
        cn_safetensors_free(st);
    }
    for (size_t i = 0; i < sizeof reader_only_golden / sizeof *reader_only_golden; i++) {
        fixture_path(path, sizeof path, reader_only_golden[i]);
        cn_safetensors *st;
        cn_error err;
        cr_assert_eq(cn_safetensors_read(path, &st, &err), CN_OK, "%s", err.msg);
        cn_safetensors_free(st);
    }
    cn_safetensors *st;
    cr_assert_eq(cn_safetensors_read(FIXDIR "ref_attn0_f32.safetensors", &st, NULL), CN_OK);
    cr_assert_eq(st->ntensors, 1);
    const cn_st_tensor *a = cn_safetensors_find(st, "attn.0");
    cr_assert_eq(a->dtype, CN_DTYPE_F32);
    cr_assert_eq(a->ndim, 3);
    cr_assert(a->shape[0] == 1 && a->shape[1] == 2 && a->shape[2] == 3);
    cr_assert(a->begin == 0 && a->end == 24);
    cn_tensor *t;
    cr_assert_eq(cn_safetensors_get_real(st, "attn.0", &t, NULL), CN_OK);
    cr_assert_eq(t->ndim, 3);
    for (int i = 0; i < 6; i++) cr_assert_eq(t->data[i], (cn_real)i);
    cn_tensor_free(t);
    cn_safetensors_free(st);

    cr_assert_eq(cn_safetensors_read(FIXDIR "ref_empty_meta.safetensors", &st, NULL), CN_OK);
    cr_assert_eq(st->nmeta, 1);
    cr_assert_str_eq(cn_safetensors_meta(st, "framework"), "pt");
    cr_assert_null(cn_safetensors_meta(st, "other"));
    cn_safetensors_free(st);

    cr_assert_eq(cn_safetensors_read(FIXDIR "ref_i32_one.safetensors", &st, NULL), CN_OK);
    const uint8_t *d = cn_safetensors_find(st, "test")->data;
    for (int i = 0; i < 16; i++) cr_assert_eq(d[i], i == 12 ? 1 : 0);
    cn_safetensors_free(st);
}

/* Rebuild every tensor and metadata pair of st with the writer and serialize. */
static img rewrite(const cn_safetensors *st)
{
    cn_st_writer *w = cn_st_writer_new(NULL);
    cr_assert_not_null(w);
    cn_error err;
    for (int i = 0; i < st->ntensors; i++) {
        const cn_st_tensor *t = &st->tensors[i];
        cr_assert_eq(cn_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data, &err),
                     CN_OK, "%s", err.msg);
    }
    for (int i = 0; i < st->nmeta; i++)
        cr_assert_eq(cn_st_writer_meta(w, st->meta_keys[i], st->meta_values[i], &err), CN_OK);
    img m;
    cr_assert_eq(cn_st_writer_serialize(w, &m.p, &m.len, &err), CN_OK, "%s", err.msg);
    cn_st_writer_free(w);
    return m;
}

Test(st, s25_writer_reproduces_golden_files)
{
    char path[256];
    for (size_t i = 0; i < sizeof writer_golden / sizeof *writer_golden; i++) {
        fixture_path(path, sizeof path, writer_golden[i]);
        img want = load_file(path);
        cn_safetensors *st;
        cr_assert_eq(cn_safetensors_parse(want.p, want.len, path, &st, NULL), CN_OK);
        img got = rewrite(st);
        cr_assert_eq(got.len, want.len, "%s: %zu bytes, want %zu", path, got.len, want.len);
        cr_assert(memcmp(got.p, want.p, want.len) == 0, "%s: bytes differ", path);
        cn_free(got.p);
        free(want.p);
        cn_safetensors_free(st);
    }
}

/* ------------------------------------------------------------------ st.py, round trips */

/* The tensors of tools/fixtures/st.py's MIXED list, same names, shapes and bytes. */
static const struct {
    const char *name;
    cn_dtype dtype;
    int ndim;
    uint64_t shape[2];
} mixed[] = {
    {"bool_mask", CN_DTYPE_BOOL, 1, {3}},  {"u8", CN_DTYPE_U8, 2, {2, 3}},
    {"i8", CN_DTYPE_I8, 1, {5}},           {"i16", CN_DTYPE_I16, 2, {2, 2}},
    {"u16", CN_DTYPE_U16, 1, {3}},         {"f16", CN_DTYPE_F16, 1, {2}},
    {"bf16", CN_DTYPE_BF16, 2, {2, 1}},    {"i32", CN_DTYPE_I32, 1, {1}},
    {"u32", CN_DTYPE_U32, 1, {2}},         {"f32.weight", CN_DTYPE_F32, 2, {2, 3}},
    {"f64", CN_DTYPE_F64, 1, {2}},         {"i64", CN_DTYPE_I64, 2, {1, 1}},
    {"u64", CN_DTYPE_U64, 1, {2}},         {"scalar", CN_DTYPE_F32, 0, {0}},
    {"empty", CN_DTYPE_F64, 2, {0, 3}},    {"Zed", CN_DTYPE_F32, 1, {1}},
    {"\xc3\xa9.unicode", CN_DTYPE_U8, 1, {1}},
};
#define NMIXED ((int)(sizeof mixed / sizeof *mixed))
static const char *mixed_meta[2][2] = {{"quote", "a \"b\" \\ c\n\t\x01 \xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac"},
                                       {"framework", "convnet"}};

static void mixed_pattern(int i, size_t nbytes, cn_dtype dt, uint8_t *out)
{
    for (size_t k = 0; k < nbytes; k++) {
        uint8_t b = (uint8_t)((k * 37 + (size_t)i * 11 + 1) & 0xFF);
        out[k] = dt == CN_DTYPE_BOOL ? (uint8_t)(b & 1) : b;
    }
}

static cn_st_writer *mixed_writer(void)
{
    cn_st_writer *w = cn_st_writer_new(NULL);
    uint8_t data[64];
    for (int i = NMIXED - 1; i >= 0; i--) {  /* any insertion order gives the same file */
        size_t n = cn_dtype_size(mixed[i].dtype);
        for (int d = 0; d < mixed[i].ndim; d++) n *= mixed[i].shape[d];
        mixed_pattern(i, n, mixed[i].dtype, data);
        cr_assert_eq(cn_st_writer_add(w, mixed[i].name, mixed[i].dtype, mixed[i].ndim,
                                      mixed[i].shape, data, NULL), CN_OK);
    }
    for (int i = 0; i < 2; i++)
        cr_assert_eq(cn_st_writer_meta(w, mixed_meta[i][0], mixed_meta[i][1], NULL), CN_OK);
    return w;
}

Test(st, st_py_file_matches_writer)
{
    img want = load_file(FIXDIR "st_py_mixed.safetensors");
    cn_st_writer *w = mixed_writer();
    img got;
    cr_assert_eq(cn_st_writer_serialize(w, &got.p, &got.len, NULL), CN_OK);
    cr_assert_eq(got.len, want.len);
    cr_assert(memcmp(got.p, want.p, want.len) == 0, "C writer and st.py differ");
    cn_free(got.p);
    cn_st_writer_free(w);

    /* and the reader sees exactly what st.py was given */
    cn_safetensors *st = expect_ok(want);
    cr_assert_eq(st->ntensors, NMIXED);
    cr_assert_eq(st->nmeta, 2);
    cr_assert_str_eq(cn_safetensors_meta(st, "quote"), mixed_meta[0][1]);
    cr_assert_str_eq(cn_safetensors_meta(st, "framework"), "convnet");
    /* header order is the writer's: U64 first, BOOL last */
    cr_assert_str_eq(st->tensors[0].name, "u64");
    cr_assert_str_eq(st->tensors[NMIXED - 1].name, "bool_mask");
    uint8_t data[64];
    for (int i = 0; i < NMIXED; i++) {
        const cn_st_tensor *t = cn_safetensors_find(st, mixed[i].name);
        cr_assert_not_null(t, "%s", mixed[i].name);
        cr_assert_eq(t->dtype, mixed[i].dtype);
        cr_assert_eq(t->ndim, mixed[i].ndim);
        size_t n = cn_dtype_size(t->dtype);
        for (int d = 0; d < t->ndim; d++) {
            cr_assert_eq(t->shape[d], mixed[i].shape[d]);
            n *= t->shape[d];
        }
        cr_assert_eq(t->end - t->begin, n);
        mixed_pattern(i, n, t->dtype, data);
        cr_assert(n == 0 || memcmp(t->data, data, n) == 0, "%s: bytes differ", t->name);
    }
    cn_safetensors_free(st);
}

Test(st, roundtrip_all_dtypes_and_metadata)
{
    cn_st_writer *w = mixed_writer();
    img m;
    cr_assert_eq(cn_st_writer_serialize(w, &m.p, &m.len, NULL), CN_OK);
    cn_st_writer_free(w);
    cr_assert_eq((m.p[0] | (m.p[1] << 8)) % 8, 0);  /* header padded to a multiple of 8 */
    uint8_t *copy = malloc(m.len);
    memcpy(copy, m.p, m.len);
    cn_safetensors *st = expect_ok((img){copy, m.len});
    img again = rewrite(st);
    cr_assert_eq(again.len, m.len);
    cr_assert(memcmp(again.p, m.p, m.len) == 0, "write -> read -> write changed the bytes");
    for (int i = 0; i < CN_DTYPE_COUNT; i++) cr_assert_neq(cn_dtype_size((cn_dtype)i), 0);
    cr_assert_str_eq(cn_dtype_name(CN_DTYPE_BF16), "BF16");
    cr_assert_str_eq(cn_dtype_name(CN_DTYPE_COUNT), "?");
    cr_assert_eq(cn_dtype_size(CN_DTYPE_COUNT), 0);
    cn_free(again.p);
    cn_free(m.p);
    cn_safetensors_free(st);
}

Test(st, get_real_f32_f64)
{
    cn_st_writer *w = cn_st_writer_new(NULL);
    float f[4] = {1.5f, -2.25f, 1e-30f, 3.0e30f};
    double d[3] = {0.1, -1e300, 1.0 / 3.0};
    uint64_t s22[2] = {2, 2}, s3[1] = {3};
    cr_assert_eq(cn_st_writer_add(w, "f", CN_DTYPE_F32, 2, s22, f, NULL), CN_OK);
    cr_assert_eq(cn_st_writer_add(w, "d", CN_DTYPE_F64, 1, s3, d, NULL), CN_OK);
    int32_t iv[1] = {7};
    uint64_t s1[1] = {1};
    cr_assert_eq(cn_st_writer_add(w, "i", CN_DTYPE_I32, 1, s1, iv, NULL), CN_OK);
    img m;
    cr_assert_eq(cn_st_writer_serialize(w, &m.p, &m.len, NULL), CN_OK);
    cn_st_writer_free(w);
    uint8_t *copy = malloc(m.len);
    memcpy(copy, m.p, m.len);
    cn_free(m.p);
    cn_safetensors *st = expect_ok((img){copy, m.len});
    cn_tensor *t;
    cn_error err;
    cr_assert_eq(cn_safetensors_get_real(st, "f", &t, &err), CN_OK);
    cr_assert(t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 2);
    for (int i = 0; i < 4; i++) cr_assert_eq(t->data[i], (cn_real)f[i]);
    cn_tensor_free(t);
    cr_assert_eq(cn_safetensors_get_real(st, "d", &t, &err), CN_OK);
    cr_assert(t->ndim == 1 && t->shape[0] == 3);
    /* F64 -> cn_real: exact in the double build, rounded to nearest float otherwise */
    for (int i = 0; i < 3; i++) cr_assert_eq(t->data[i], (cn_real)d[i]);
#ifndef CN_DOUBLE
    cr_assert(isinf(t->data[1]) && t->data[1] < 0);  /* -1e300 overflows float */
    cr_assert_eq(t->data[0], 0.1f);
#endif
    cn_tensor_free(t);
    cr_assert_eq(cn_safetensors_get_real(st, "i", &t, &err), CN_ERR_UNSUPPORTED);
    cr_assert(strstr(err.msg, "dtype I32"));
    cn_safetensors_free(st);
}

Test(st, add_real_roundtrip)
{
    cn_tensor *t = cn_tensor_new4(2, 3, 1, 2, NULL);
    for (size_t i = 0; i < t->numel; i++) t->data[i] = (cn_real)i * (cn_real)0.25 - 1;
    cn_st_writer *w = cn_st_writer_new(NULL);
    cr_assert_eq(cn_st_writer_add_real(w, "conv.w", t, NULL), CN_OK);
    cr_assert_eq(cn_st_writer_meta(w, "format", "convnet-model-1", NULL), CN_OK);
    cr_assert_eq(cn_st_writer_save(w, tmp_path("m.safetensors"), NULL), CN_OK);
    cn_st_writer_free(w);
    cn_safetensors *st;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(tmp_path("m.safetensors"), &st, &err), CN_OK, "%s", err.msg);
#ifdef CN_DOUBLE
    cr_assert_eq(st->tensors[0].dtype, CN_DTYPE_F64);
#else
    cr_assert_eq(st->tensors[0].dtype, CN_DTYPE_F32);
#endif
    cr_assert_str_eq(cn_safetensors_meta(st, "format"), "convnet-model-1");
    cn_tensor *u;
    cr_assert_eq(cn_safetensors_get_real(st, "conv.w", &u, NULL), CN_OK);
    cr_assert_eq(u->ndim, 4);
    for (int d = 0; d < 4; d++) cr_assert_eq(u->shape[d], t->shape[d]);
    cr_assert(memcmp(u->data, t->data, t->numel * sizeof(cn_real)) == 0);
    cn_tensor_free(u);
    cn_tensor_free(t);
    cn_safetensors_free(st);
}

Test(st, writer_rejects_bad_arguments)
{
    cn_st_writer *w = cn_st_writer_new(NULL);
    cn_error err;
    uint8_t b[4] = {0};
    uint64_t s1[1] = {4}, big[2] = {UINT64_MAX, 2};
    cr_assert_eq(cn_st_writer_add(w, "a", CN_DTYPE_U8, 1, s1, b, &err), CN_OK);
    cr_assert_eq(cn_st_writer_add(w, "a", CN_DTYPE_U8, 1, s1, b, &err), CN_ERR_ARG);
    cr_assert(strstr(err.msg, "duplicate tensor name 'a'"), "%s", err.msg);
    cr_assert_eq(cn_st_writer_add(w, NULL, CN_DTYPE_U8, 1, s1, b, &err), CN_ERR_ARG);
    cr_assert_eq(cn_st_writer_add(w, "b", CN_DTYPE_COUNT, 1, s1, b, &err), CN_ERR_ARG);
    cr_assert_eq(cn_st_writer_add(w, "b", CN_DTYPE_U8, 9, s1, b, &err), CN_ERR_ARG);
    cr_assert_eq(cn_st_writer_add(w, "b", CN_DTYPE_U8, -1, s1, b, &err), CN_ERR_ARG);
    cr_assert_eq(cn_st_writer_add(w, "b", CN_DTYPE_U8, 1, s1, NULL, &err), CN_ERR_ARG);
    cr_assert_eq(cn_st_writer_add(w, "b", CN_DTYPE_U8, 2, big, b, &err), CN_ERR_RANGE);
    cr_assert_eq(cn_st_writer_meta(w, "k", "v", &err), CN_OK);
    cr_assert_eq(cn_st_writer_meta(w, "k", "w", &err), CN_ERR_ARG);
    cr_assert_eq(cn_st_writer_meta(w, "k2", NULL, &err), CN_ERR_ARG);
    uint64_t s0[1] = {0};
    cr_assert_eq(cn_st_writer_add(w, "zero", CN_DTYPE_F32, 1, s0, NULL, &err), CN_OK);
    cn_st_writer_free(w);
    cn_st_writer_free(NULL);
    cn_safetensors_free(NULL);
}

/* ------------------------------------------------------------------ read and save */

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

Test(st, save_is_atomic_and_replaces)
{
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_path("model.safetensors"));
    cn_st_writer *w = cn_st_writer_new(NULL);
    uint8_t a[2] = {1, 2};
    uint64_t s2[1] = {2};
    cr_assert_eq(cn_st_writer_add(w, "a", CN_DTYPE_U8, 1, s2, a, NULL), CN_OK);
    cr_assert_eq(cn_st_writer_save(w, path, NULL), CN_OK);
    cr_assert_eq(count_entries(tmp_dir), 1);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0644);
    cr_assert_eq(chmod(path, 0600), 0);

    /* replace it with a different file: the mode is kept, no temporary is left */
    uint8_t b[3] = {3, 4, 5};
    uint64_t s3[1] = {3};
    cr_assert_eq(cn_st_writer_add(w, "b", CN_DTYPE_U8, 1, s3, b, NULL), CN_OK);
    cr_assert_eq(cn_st_writer_save(w, path, NULL), CN_OK);
    cr_assert_eq(count_entries(tmp_dir), 1);
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    img want;
    cr_assert_eq(cn_st_writer_serialize(w, &want.p, &want.len, NULL), CN_OK);
    img got = load_file(path);
    cr_assert_eq(got.len, want.len);
    cr_assert(memcmp(got.p, want.p, got.len) == 0);
    free(got.p);
    cn_free(want.p);

    cn_error err;
    /* an unwritable destination: a missing folder, a file used as a folder */
    cr_assert_eq(cn_st_writer_save(w, tmp_path("nodir/m.safetensors"), &err), CN_ERR_IO);
    cr_assert(strstr(err.msg, "nodir/m.safetensors: cannot create a temporary file"), "%s",
              err.msg);
    char fpath[600];
    snprintf(fpath, sizeof fpath, "%s/m.safetensors", path);
    cr_assert_eq(cn_st_writer_save(w, fpath, &err), CN_ERR_IO);
    /* the rename fails (the target is a folder): the temporary file is removed */
    cr_assert_eq(mkdir(tmp_path("adir"), 0755), 0);
    cr_assert_eq(cn_st_writer_save(w, tmp_path("adir"), &err), CN_ERR_IO);
    cr_assert(strstr(err.msg, "rename"), "%s", err.msg);
    cr_assert_eq(count_entries(tmp_dir), 2);
    cr_assert_eq(rmdir(tmp_path("adir")), 0);
    /* a read-only folder (when not running as root, which ignores permissions) */
    if (geteuid() != 0) {
        cr_assert_eq(mkdir(tmp_path("ro"), 0555), 0);
        cr_assert_eq(cn_st_writer_save(w, tmp_path("ro/m.safetensors"), &err), CN_ERR_IO);
        cr_assert_eq(count_entries(tmp_path("ro")), 0);
        rmdir(tmp_path("ro"));
    }
    /* the earlier file is untouched by the failures */
    got = load_file(path);
    cr_assert_eq(got.len, want.len);
    free(got.p);
    cn_st_writer_free(w);
}

Test(st, read_errors)
{
    cn_safetensors *st = (cn_safetensors *)1;
    cn_error err;
    cr_assert_eq(cn_safetensors_read(tmp_path("missing.safetensors"), &st, &err), CN_ERR_IO);
    cr_assert_null(st);
    cr_assert(strstr(err.msg, "missing.safetensors: cannot open"), "%s", err.msg);
    cr_assert_eq(cn_safetensors_read(tmp_dir, &st, &err), CN_ERR_IO);
    cr_assert(strstr(err.msg, "not a regular file"), "%s", err.msg);
    FILE *f = fopen(tmp_path("empty"), "wb");
    fclose(f);
    cr_assert_eq(cn_safetensors_read(tmp_path("empty"), &st, &err), CN_ERR_FORMAT);
    cr_assert(strstr(err.msg, "empty: byte 0: header too small"), "%s", err.msg);
    /* a bad file through read names the path */
    f = fopen(tmp_path("bad.safetensors"), "wb");
    const char *h = "\x02\0\0\0\0\0\0\0[]";
    fwrite(h, 1, 10, f);
    fclose(f);
    cr_assert_eq(cn_safetensors_read(tmp_path("bad.safetensors"), &st, &err), CN_ERR_FORMAT);
    cr_assert(strstr(err.msg, "bad.safetensors: byte 8: invalid header JSON"), "%s", err.msg);
}
