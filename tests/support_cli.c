/* tests/support_cli.c: running the convnet tool from tests, and its synthetic
 * IDX data (tests/support_cli.h). */
#include "support_cli.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        cr_assert_not_null(*buf);
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* argv = {$CONVNET_BIN, args..., NULL} (at most 63 words); returns the binary. */
static const char *make_argv(const char *const *args, const char *argv[64])
{
    const char *bin = getenv("CONVNET_BIN");
    cr_assert_not_null(bin);
    int n = 0;
    argv[n++] = bin;
    for (; args[n - 1] && n < 63; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    return bin;
}

const char *tst_cli_bin_or_skip(void)
{
    const char *bin = getenv("CONVNET_BIN");
    if (!bin || !bin[0])
        cr_skip_test("CONVNET_BIN is not set (run through `make test`)");
    return bin;
}

tst_run tst_cli_run_env(const char *const *args, const char *const *env)
{
    const char *argv[64];
    const char *bin = make_argv(args, argv);
    size_t ne = 0, nx = 0;
    while (environ[ne]) ne++;
    while (env && env[nx]) nx++;
    char **envp = calloc(ne + nx + 1, sizeof *envp);
    cr_assert_not_null(envp);
    for (size_t i = 0; i < nx; i++) envp[i] = (char *)env[i];
    for (size_t i = 0; i < ne; i++) envp[nx + i] = environ[i];

    int po[2], pe[2];
    cr_assert_eq(pipe(po), 0);
    cr_assert_eq(pipe(pe), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    posix_spawn_file_actions_addclose(&fa, po[0]);
    posix_spawn_file_actions_addclose(&fa, pe[0]);
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    cr_assert_eq(rc, 0, "posix_spawn %s: %s", bin, strerror(rc));
    close(po[1]);
    close(pe[1]);

    tst_run r = {0, NULL, NULL};
    size_t lo = 0, co = 0, le = 0, ce = 0;
    append(&r.out, &lo, &co, "", 0);
    append(&r.err, &le, &ce, "", 0);
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    char buf[4096];
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            cr_assert_eq(errno, EINTR);
            continue;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t k = read(fds[i].fd, buf, sizeof buf);
            if (k > 0) {
                if (i == 0)
                    append(&r.out, &lo, &co, buf, (size_t)k);
                else
                    append(&r.err, &le, &ce, buf, (size_t)k);
            } else if (k == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        cr_assert_eq(errno, EINTR);
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    return r;
}

int tst_cli_start(const char *const *args, const char *out_path)
{
    const char *argv[64];
    const char *bin = make_argv(args, argv);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "posix_spawn %s: %s", bin, strerror(rc));
    return (int)pid;
}

int tst_cli_wait(int pid)
{
    int ws;
    while (waitpid((pid_t)pid, &ws, 0) < 0)
        cr_assert_eq(errno, EINTR);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

char *tst_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    size_t k;
    while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

tst_run tst_cli_run(const char *const *args)
{
    return tst_cli_run_env(args, NULL);
}

void tst_cli_free(tst_run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

json_t *tst_cli_json(const tst_run *r)
{
    json_error_t je;
    json_t *j = json_loads(r->out, 0, &je);
    cr_assert_not_null(j, "stdout is not one JSON value (%s at line %d): %s", je.text, je.line,
                       r->out);
    cr_assert(json_is_object(j), "stdout is not a JSON object: %s", r->out);
    return j;
}

static void put_be32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    cr_assert_eq(fwrite(b, 1, 4, f), 4u);
}

void tst_cli_write_idx(const char *dir, const char *prefix, int n, uint32_t seed)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    unsigned char hdr[4] = {0, 0, 8, 3};
    cr_assert_eq(fwrite(hdr, 1, 4, f), 4u);
    put_be32(f, (uint32_t)n);
    put_be32(f, 28);
    put_be32(f, 28);
    uint32_t s = seed;
    unsigned char img[28 * 28];
    for (int i = 0; i < n; i++) {
        int cls = i % 10;
        for (int p = 0; p < 28 * 28; p++) {
            s = s * 1664525u + 1013904223u;
            int v = (int)(s >> 26); /* 0..63 noise */
            if (p / 28 >= cls * 2 + 4 && p / 28 < cls * 2 + 7)
                v += 160;
            img[p] = (unsigned char)v;
        }
        cr_assert_eq(fwrite(img, 1, sizeof img, f), sizeof img);
    }
    cr_assert_eq(fclose(f), 0);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    f = fopen(path, "wb");
    cr_assert_not_null(f);
    unsigned char lh[4] = {0, 0, 8, 1};
    cr_assert_eq(fwrite(lh, 1, 4, f), 4u);
    put_be32(f, (uint32_t)n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(fputc(i % 10, f), i % 10);
    cr_assert_eq(fclose(f), 0);
}
