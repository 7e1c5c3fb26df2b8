/* tests/support_cli.h: what the end-to-end tests of the convnet tool share:
 * running $CONVNET_BIN (set by `make test`) with posix_spawn (no shell) and
 * capturing its exit status, stdout and stderr; parsing stdout as exactly one
 * JSON object; and writing a small synthetic IDX dataset (28x28 images whose
 * class lights a band of rows, plus noise). */
#ifndef TESTS_SUPPORT_CLI_H
#define TESTS_SUPPORT_CLI_H

#include <jansson.h>
#include <stdint.h>

typedef struct tst_run {
    int status;  /* exit status, or 128 + signal */
    char *out;   /* stdout, NUL-terminated */
    char *err;   /* stderr, NUL-terminated */
} tst_run;

/* tst_cli_bin_or_skip: $CONVNET_BIN, or skip the test when it is unset. */
const char *tst_cli_bin_or_skip(void);

/* tst_cli_run: execute $CONVNET_BIN with args (NULL-terminated, without argv[0])
 * and wait for it. tst_cli_run_env: the same with extra "KEY=VALUE" environment
 * entries (NULL-terminated; NULL for none) added to the inherited ones. */
tst_run tst_cli_run(const char *const *args);
tst_run tst_cli_run_env(const char *const *args, const char *const *env);

/* tst_cli_start: start $CONVNET_BIN with args without waiting, stdout and stderr
 * appended to the file out_path (created). Returns the child's pid. */
int tst_cli_start(const char *const *args, const char *out_path);

/* tst_cli_wait: wait for pid; its exit status, or 128 + signal. */
int tst_cli_wait(int pid);

/* tst_read_file: the whole file at path as a malloc'd NUL-terminated buffer
 * (*len without the NUL), or NULL when it cannot be read. */
char *tst_read_file(const char *path, size_t *len);

/* tst_cli_free: free r's buffers. */
void tst_cli_free(tst_run *r);

/* tst_cli_json: r's stdout parsed as exactly one JSON object (asserts; json_decref). */
json_t *tst_cli_json(const tst_run *r);

/* tst_cli_write_idx: write dir/<prefix>-images-idx3-ubyte and -labels-idx1-ubyte:
 * n 28x28 images, label i % 10, class k lighting rows 2k+4..2k+6 (+160) over
 * uniform noise 0..63 drawn from seed (an LCG). */
void tst_cli_write_idx(const char *dir, const char *prefix, int n, uint32_t seed);

#endif /* TESTS_SUPPORT_CLI_H */
