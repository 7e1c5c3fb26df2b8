/* tests/fuzz/fuzz_idx.c: libFuzzer target for the IDX reader through cn_idx_parse,
 * the memory twin of cn_idx_read that shares its code, gzip included (`make fuzz`).
 * Every input is parsed as an image file (rank 3) and as a label file (rank 1). A
 * rejected input must leave out zeroed with a message; an accepted one must have
 * the requested rank, count == product of dims <= CN_IDX_MAX_BYTES, and, when it
 * is not gzip, size == header + count with the payload equal to the input's tail;
 * when it is gzip, its result re-encoded as a plain IDX file must parse to the
 * same dims and bytes. Violations trap. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/data.h"

#define CHECK(x) ((x) ? (void)0 : __builtin_trap())

static void check_rank(const uint8_t *data, size_t size, int ndim) {
    cn_idx idx;
    cn_error err;
    if (cn_idx_parse(data, size, "fuzz", ndim, &idx, &err) != CN_OK) {
        CHECK(idx.data == NULL && idx.count == 0 && idx.ndim == 0);
        CHECK(err.code != CN_OK && err.msg[0] != 0);
        return;
    }
    CHECK(idx.ndim == ndim && idx.data != NULL);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) count *= idx.dims[i];
    CHECK(count == idx.count && count <= CN_IDX_MAX_BYTES);
    const size_t header = 4 + 4 * (size_t)ndim;
    int gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (!gz) {
        CHECK(size == header + count);
        CHECK(count == 0 || memcmp(idx.data, data + header, count) == 0);
    } else {
        /* Re-encode as a plain file: it must parse to the same dims and bytes. */
        uint8_t *plain = malloc(header + count);
        CHECK(plain != NULL);
        plain[0] = 0;
        plain[1] = 0;
        plain[2] = 0x08;
        plain[3] = (uint8_t)ndim;
        for (int i = 0; i < ndim; i++)
            for (int b = 0; b < 4; b++)
                plain[4 + 4 * i + b] = (uint8_t)(idx.dims[i] >> (24 - 8 * b));
        if (count) memcpy(plain + header, idx.data, count);
        cn_idx again;
        CHECK(cn_idx_parse(plain, header + count, "plain", ndim, &again, NULL) == CN_OK);
        CHECK(again.count == count && memcmp(again.dims, idx.dims, sizeof idx.dims) == 0);
        CHECK(count == 0 || memcmp(again.data, idx.data, count) == 0);
        cn_idx_free(&again);
        free(plain);
    }
    cn_idx_free(&idx);
    CHECK(idx.data == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_rank(data, size, 3);
    check_rank(data, size, 1);
    return 0;
}
