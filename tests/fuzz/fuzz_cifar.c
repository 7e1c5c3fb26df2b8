/* tests/fuzz/fuzz_cifar.c: libFuzzer target for the CIFAR batch parser (`make fuzz`).
 * Every input is parsed as CIFAR-10, CIFAR-100 fine and CIFAR-100 coarse. A rejected
 * input must leave no dataset and a message; an accepted one must satisfy the
 * reader's invariants: n * record size == input size, labels in [0, classes) and
 * equal to the label byte, every pixel exactly byte / 255 (so in [0, 1]), shape
 * (n, 3, 32, 32), and the same pixels whichever label is chosen. Violations trap. */
#include <stdint.h>
#include <string.h>

#include "convnet/cifar.h"

#define CHECK(x) ((x) ? (void)0 : __builtin_trap())

static cn_dataset *check_variant(const uint8_t *data, size_t size, cn_cifar_variant v) {
    cn_dataset *ds = (cn_dataset *)&ds;
    cn_error err;
    if (cn_cifar_parse(data, size, "fuzz", v, &ds, &err) != CN_OK) {
        CHECK(ds == NULL && err.code != CN_OK && err.msg[0] != 0);
        return NULL;
    }
    const size_t rec = cn_cifar_record_size(v);
    CHECK(ds != NULL && ds->n > 0 && (size_t)ds->n * rec == size);
    CHECK(ds->c == 3 && ds->h == CN_CIFAR_SIDE && ds->w == CN_CIFAR_SIDE);
    CHECK(ds->images->numel == (size_t)ds->n * CN_CIFAR_PIXELS);
    CHECK(ds->num_classes == cn_cifar_num_classes(v));
    for (int k = 0; k < ds->num_classes; k++) CHECK(ds->class_names[k] != NULL);
    for (int r = 0; r < ds->n; r++) {
        const uint8_t *p = data + (size_t)r * rec;
        CHECK(ds->labels[r] >= 0 && ds->labels[r] < ds->num_classes);
        CHECK(ds->labels[r] == (v == CN_CIFAR100_FINE ? p[1] : p[0]));
        if (v != CN_CIFAR10) CHECK(p[0] < CN_CIFAR100_COARSE_CLASSES && p[1] < CN_CIFAR100_FINE_CLASSES);
        const uint8_t *px = p + rec - CN_CIFAR_PIXELS;
        const cn_real *x = ds->images->data + (size_t)r * CN_CIFAR_PIXELS;
        for (size_t i = 0; i < CN_CIFAR_PIXELS; i++) {
            CHECK(x[i] == (cn_real)px[i] / (cn_real)255);
            CHECK(x[i] >= 0 && x[i] <= 1);
        }
    }
    return ds;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cn_dataset *c10 = check_variant(data, size, CN_CIFAR10);
    cn_dataset *fine = check_variant(data, size, CN_CIFAR100_FINE);
    cn_dataset *coarse = check_variant(data, size, CN_CIFAR100_COARSE);
    /* Fine and coarse accept the same inputs (both label bytes are always checked)
     * and give the same pixels. */
    CHECK((fine == NULL) == (coarse == NULL));
    if (fine)
        CHECK(memcmp(fine->images->data, coarse->images->data,
                     fine->images->numel * sizeof(cn_real)) == 0);
    cn_dataset_free(c10);
    cn_dataset_free(fine);
    cn_dataset_free(coarse);
    return 0;
}
