/* tests/fuzz/fuzz_model_text.c: libFuzzer target for the model text format
 * (`make fuzz`). Every input goes to cn_model_parse (a small node limit keeps runs
 * fast); a rejected input must come with an error message naming a place; an
 * accepted one must print, the printed text must parse to a model with the same
 * nodes (names, ops, inputs), and printing that again must give the same text.
 * Any violation traps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convnet/model_text.h"

#define CHECK(x) ((x) ? (void)0 : __builtin_trap())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cn_model_text_opts o = {.max_nodes = 500};
    cn_error err;
    cn_model *m = cn_model_parse((const char *)data, size, "fuzz", &o, &err);
    if (!m) {
        CHECK(err.code != CN_OK && err.msg[0] != 0);
        return 0;
    }
    char *t1 = cn_model_print(m, &err);
    CHECK(t1 != NULL);
    cn_model *m2 = cn_model_parse(t1, strlen(t1), "printed", &o, &err);
    CHECK(m2 != NULL);
    int n = cn_model_num_nodes(m);
    CHECK(n == cn_model_num_nodes(m2));
    for (int i = 0; i < n; i++) {
        CHECK(strcmp(cn_model_node_name(m, i), cn_model_node_name(m2, i)) == 0);
        CHECK(cn_model_node_op(m, i) == cn_model_node_op(m2, i));
        int na, nb;
        const int *ia = cn_model_node_inputs(m, i, &na), *ib = cn_model_node_inputs(m2, i, &nb);
        CHECK(na == nb && (na == 0 || memcmp(ia, ib, sizeof(int) * (size_t)na) == 0));
    }
    CHECK(cn_model_output(m) == cn_model_output(m2));
    char *t2 = cn_model_print(m2, &err);
    CHECK(t2 != NULL && strcmp(t1, t2) == 0);
    cn_free(t1);
    cn_free(t2);
    cn_model_free(m2);
    cn_model_free(m);
    return 0;
}
