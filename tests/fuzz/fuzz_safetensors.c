/* tests/fuzz/fuzz_safetensors.c: libFuzzer target for the safetensors reader
 * (`make fuzz`). Every input goes to cn_safetensors_parse; an accepted file must
 * satisfy the reader's invariants (tensors tile the data section, names unique
 * and findable), convert through cn_safetensors_get_real where the dtype allows,
 * and survive writer -> reader: the rewritten file parses to the same tensors and
 * metadata, and rewriting that gives the same bytes. Any violation traps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/safetensors.h"

#define CHECK(x) ((x) ? (void)0 : __builtin_trap())

/* Serialize every tensor and metadata pair of st with the writer. */
static void rewrite(const cn_safetensors *st, uint8_t **buf, size_t *len)
{
    cn_st_writer *w = cn_st_writer_new(NULL);
    CHECK(w != NULL);
    for (int i = 0; i < st->ntensors; i++) {
        const cn_st_tensor *t = &st->tensors[i];
        CHECK(cn_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data, NULL) == CN_OK);
    }
    for (int i = 0; i < st->nmeta; i++)
        CHECK(cn_st_writer_meta(w, st->meta_keys[i], st->meta_values[i], NULL) == CN_OK);
    CHECK(cn_st_writer_serialize(w, buf, len, NULL) == CN_OK);
    cn_st_writer_free(w);
}

static void check_same(const cn_safetensors *a, const cn_safetensors *b)
{
    CHECK(a->ntensors == b->ntensors && a->nmeta == b->nmeta);
    for (int i = 0; i < a->ntensors; i++) {
        const cn_st_tensor *x = &a->tensors[i], *y = cn_safetensors_find(b, x->name);
        CHECK(y != NULL && x->dtype == y->dtype && x->ndim == y->ndim);
        CHECK(x->end - x->begin == y->end - y->begin);
        CHECK(memcmp(x->shape, y->shape, (size_t)x->ndim * sizeof x->shape[0]) == 0);
        CHECK(x->end == x->begin || memcmp(x->data, y->data, x->end - x->begin) == 0);
    }
    for (int i = 0; i < a->nmeta; i++) {
        const char *v = cn_safetensors_meta(b, a->meta_keys[i]);
        CHECK(v != NULL && strcmp(v, a->meta_values[i]) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cn_safetensors *st = NULL;
    cn_error err;
    if (cn_safetensors_parse(data, size, "fuzz", &st, &err) != CN_OK) {
        CHECK(st == NULL && err.code != CN_OK && err.msg[0] != 0);
        return 0;
    }
    uint64_t covered = 0;
    for (int i = 0; i < st->ntensors; i++) {
        const cn_st_tensor *t = &st->tensors[i];
        CHECK(cn_safetensors_find(st, t->name) == t);
        CHECK(t->begin <= t->end && t->end <= st->size);
        CHECK(t->end - t->begin == t->numel * cn_dtype_size(t->dtype));
        covered += t->end - t->begin;
        if ((t->dtype == CN_DTYPE_F32 || t->dtype == CN_DTYPE_F64) && t->numel <= (1u << 16)) {
            cn_tensor *r = NULL;
            if (cn_safetensors_get_real(st, t->name, &r, NULL) == CN_OK) {
                CHECK(r->numel == (t->ndim ? t->numel : 1));
                cn_tensor_free(r);
            }
        }
    }
    CHECK(covered <= st->size);
    uint8_t *b1, *b2;
    size_t n1, n2;
    rewrite(st, &b1, &n1);
    cn_safetensors *st2 = NULL;
    CHECK(cn_safetensors_parse(b1, n1, "rewrite", &st2, NULL) == CN_OK);
    check_same(st, st2);
    rewrite(st2, &b2, &n2);
    CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);
    cn_free(b1);
    cn_free(b2);
    cn_safetensors_free(st2);
    cn_safetensors_free(st);
    return 0;
}
