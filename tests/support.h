/* tests/support.h: helpers shared by the test binaries (linked into each):
 * temporary folders that tests create and remove. */
#ifndef CONVNET_TESTS_SUPPORT_H
#define CONVNET_TESTS_SUPPORT_H

#include <stddef.h>

#include "convnet.h"

/* tst_tmpdir_make: create a new folder $TMPDIR/cn_test_<tag>_XXXXXX (TMPDIR
 * defaults to /tmp) and write its path into dir (size bytes). Returns 0 on
 * success, -1 on failure (errno set). */
int tst_tmpdir_make(char *dir, size_t size, const char *tag);

/* tst_tmpdir_remove: remove every plain file in dir, then dir itself (one level:
 * tests create no subfolders). A missing or empty path is a no-op. */
void tst_tmpdir_remove(const char *dir);

/* tst_reals: malloc n reals (the test fails if that fails); free with free(). */
cn_real *tst_reals(size_t n);

/* tst_zeros: calloc n reals (zeros). */
cn_real *tst_zeros(size_t n);

/* tst_fill_normal: x[i] = scale * N(0, 1) from r. tst_fill_nan: x[i] = NaN. */
void tst_fill_normal(cn_rng *r, cn_real *x, size_t n, double scale);
void tst_fill_nan(cn_real *x, size_t n);

/* tst_max_abs_diff: max |a[i] - b[i]| in double; NaN if any difference is NaN,
 * so a NaN never passes a tolerance check. */
double tst_max_abs_diff(const cn_real *a, const cn_real *b, size_t n);

/* tst_grad_err: the max relative error of cn_gradcheck (step h) of
 * scale * fn(arg) with respect to x (n), which fn reads through arg, against
 * analytic (n), over every coordinate; logs the worst coordinate. */
double tst_grad_err(double (*fn)(void *), void *arg, double scale, cn_real *x, size_t n,
                    const cn_real *analytic, double h);

/* Fixture access: tst_fx_reals copies tensor name (numel elements, F32 or F64)
 * into a new malloc'd array; tst_fx_scalar reads a one-element tensor;
 * tst_fx_labels reads an I64 tensor of n labels as ints. Failures fail the test. */
cn_real *tst_fx_reals(const cn_safetensors *st, const char *name, size_t numel);
/* tst_fx_tensor: tensor name as a new cn_tensor (cn_tensor_free); numel 0 accepts
 * any size, otherwise the element count must equal numel. */
cn_tensor *tst_fx_tensor(const cn_safetensors *st, const char *name, size_t numel);
/* tst_fx_meta_num: the metadata entry key read as a number (must exist). */
double tst_fx_meta_num(const cn_safetensors *st, const char *key);
double tst_fx_scalar(const cn_safetensors *st, const char *name);
int *tst_fx_labels(const cn_safetensors *st, const char *name, size_t n);

#endif /* CONVNET_TESTS_SUPPORT_H */
