/* test_ckpt_faults.c: I/O faults while writing checkpoints and weights files
 * (docs/reliability.md, rows R3-R9): ENOSPC, EFBIG, fsync EIO, failing link,
 * rename, close and folder fsync, unwritable folders, a process dying at every
 * call of the write protocol, and torn files on disk. Each failed save must
 * return CN_ERR_IO naming the path, the failing call and the errno text, leave
 * the previous checkpoint loadable and unchanged, leave no temporary file, and
 * the next save must succeed.
 *
 * Faults come from an I/O shim: this executable defines mkstemp, open, write,
 * fsync, close, unlink, link and rename. The library is linked statically into
 * it, so the library's calls resolve to these definitions, which forward to the
 * real functions (dlsym RTLD_NEXT) unless the test-global control `shim` says to
 * fail the k-th call of one kind with a given errno. Only calls on paths inside
 * the test's folder, and on descriptors opened there, are counted or failed, so
 * Criterion's own I/O passes through untouched. The test `shim_sees_library_calls`
 * proves that the interposition really happens in this build. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "convnet/checkpoint.h"
#include "convnet/model.h"
#include "convnet/optim.h"
#include "convnet/safetensors.h"
#include "convnet/schedule.h"
#include "convnet/train.h"
#include "support.h"

/* ---------------------------------------------------------------- the I/O shim */

/* The calls the shim counts and can fail. */
enum {
    SH_MKSTEMP,
    SH_OPEN,
    SH_WRITE,
    SH_FSYNC_FILE, /* fsync of a file descriptor */
    SH_FSYNC_DIR,  /* fsync of a folder descriptor */
    SH_CLOSE,
    SH_UNLINK,
    SH_LINK,
    SH_RENAME,
    SH_N
};

#define SH_MAX_FD 1024
#define SH_CRASH_CODE 86 /* exit status of a child "killed" by crash_at */

/* The shim's control, set by the tests (one process per test: Criterion forks). */
typedef struct shim_ctl {
    char dir[512];    /* only paths in this folder (and their fds) count; "" = all pass */
    struct {
        int op;       /* SH_* to fail */
        int at;       /* fail the at-th call of op (1-based) ... */
        int all;      /* ... and, when set, every later one too */
        int e;        /* with this errno */
    } fault[4];
    int n_faults;
    int crash_at;     /* _exit(SH_CRASH_CODE) before the crash_at-th counted call (0: off) */
    size_t write_cap; /* at most this many bytes per write (0: no cap): short writes */
    int count[SH_N];  /* counted calls of each kind, failed ones included */
    int total;        /* counted calls of every kind */
    size_t written;   /* bytes written to tracked descriptors */
} shim_ctl;

static shim_ctl shim;
/* 0: not ours; 1: a file opened in dir; 2: dir itself. Other threads (Criterion's)
 * read it, so it is accessed atomically. */
static unsigned char sh_fd_kind[SH_MAX_FD];

/* Clear counts and faults; count calls in folder (NULL: count nothing). */
static void shim_reset(const char *folder)
{
    memset(&shim, 0, sizeof shim);
    if (folder) snprintf(shim.dir, sizeof shim.dir, "%s", folder);
}

/* Add a fault: the at-th call of op (and every later one when all) fails with e. */
static void shim_fail(int op, int at, int all, int e)
{
    cr_assert_lt(shim.n_faults, 4);
    shim.fault[shim.n_faults].op = op;
    shim.fault[shim.n_faults].at = at;
    shim.fault[shim.n_faults].all = all;
    shim.fault[shim.n_faults].e = e;
    shim.n_faults++;
}

/* The next definition of name after this executable (libc, or a sanitizer's
 * interceptor that forwards to libc). */
static void *sh_next(void **slot, const char *name)
{
    void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (!f) {
        f = dlsym(RTLD_NEXT, name);
        if (!f) abort();
        __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    }
    return f;
}

/* real_: the next definition of the function fn (declared with its own type). */
#define SH_REAL(fn)                                                                             \
    static void *slot_;                                                                         \
    __typeof__(&fn) real_ = (__typeof__(&fn))sh_next(&slot_, #fn)

static int sh_path_ours(const char *path)
{
    size_t n = strlen(shim.dir);
    return n > 0 && path && !strncmp(path, shim.dir, n) && (path[n] == '/' || path[n] == 0);
}

static int sh_fd_get(int fd)
{
    return fd >= 0 && fd < SH_MAX_FD ? __atomic_load_n(&sh_fd_kind[fd], __ATOMIC_RELAXED) : 0;
}

static void sh_fd_set(int fd, int kind)
{
    if (fd >= 0 && fd < SH_MAX_FD) __atomic_store_n(&sh_fd_kind[fd], (unsigned char)kind,
                                                    __ATOMIC_RELAXED);
}

/* Count a call of kind op on our folder; 1 (errno set) when it must fail. */
static int sh_hit(int op)
{
    shim.total++;
    if (shim.crash_at > 0 && shim.total == shim.crash_at) _exit(SH_CRASH_CODE);
    int k = ++shim.count[op];
    for (int i = 0; i < shim.n_faults; i++)
        if (op == shim.fault[i].op &&
            (k == shim.fault[i].at || (shim.fault[i].all && k > shim.fault[i].at))) {
            errno = shim.fault[i].e;
            return 1;
        }
    return 0;
}

int mkstemp(char *tmpl)
{
    SH_REAL(mkstemp);
    if (!sh_path_ours(tmpl)) return real_(tmpl);
    if (sh_hit(SH_MKSTEMP)) return -1;
    int fd = real_(tmpl);
    sh_fd_set(fd, 1);
    return fd;
}

int open(const char *path, int flags, ...)
{
    SH_REAL(open);
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (!sh_path_ours(path)) return real_(path, flags, mode);
    if (sh_hit(SH_OPEN)) return -1;
    int fd = real_(path, flags, mode);
    struct stat sb;
    if (fd >= 0) sh_fd_set(fd, fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode) ? 2 : 1);
    return fd;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    SH_REAL(write);
    if (!sh_fd_get(fd)) return real_(fd, buf, n);
    if (sh_hit(SH_WRITE)) return -1;
    if (shim.write_cap > 0 && n > shim.write_cap) n = shim.write_cap;
    ssize_t k = real_(fd, buf, n);
    if (k > 0) shim.written += (size_t)k;
    return k;
}

int fsync(int fd)
{
    SH_REAL(fsync);
    int kind = sh_fd_get(fd);
    if (!kind) return real_(fd);
    if (sh_hit(kind == 2 ? SH_FSYNC_DIR : SH_FSYNC_FILE)) return -1;
    return real_(fd);
}

int close(int fd)
{
    SH_REAL(close);
    if (!sh_fd_get(fd)) return real_(fd);
    sh_fd_set(fd, 0);
    if (sh_hit(SH_CLOSE)) {
        int e = errno;
        real_(fd); /* like Linux: the descriptor is released even when close fails */
        errno = e;
        return -1;
    }
    return real_(fd);
}

int unlink(const char *path)
{
    SH_REAL(unlink);
    if (!sh_path_ours(path)) return real_(path);
    if (sh_hit(SH_UNLINK)) return -1;
    return real_(path);
}

int link(const char *from, const char *to)
{
    SH_REAL(link);
    if (!sh_path_ours(from) && !sh_path_ours(to)) return real_(from, to);
    if (sh_hit(SH_LINK)) return -1;
    return real_(from, to);
}

int rename(const char *from, const char *to)
{
    SH_REAL(rename);
    if (!sh_path_ours(from) && !sh_path_ours(to)) return real_(from, to);
    if (sh_hit(SH_RENAME)) return -1;
    return real_(from, to);
}

/* ---------------------------------------------------------------- fixture */

static char dir[512];
static char ck[600], prev[700];

static void setup(void)
{
    cr_assert_eq(tst_tmpdir_make(dir, sizeof dir, "ckfault"), 0);
    snprintf(ck, sizeof ck, "%s/ck.safetensors", dir);
    snprintf(prev, sizeof prev, "%s.prev", ck);
    shim_reset(dir);
}

static void teardown(void)
{
    shim_reset(NULL);
    tst_tmpdir_remove(dir);
}

TestSuite(ckfault, .init = setup, .fini = teardown);

/* input (2, 6, 6) -> conv 3x3 (4) -> batchnorm -> relu -> flatten -> linear (10) ->
 * cross entropy, initialised from seed: about 1,550 values plus the optimiser
 * state, so a checkpoint is over 8 KiB (two 4 KiB blocks) in both builds. */
static cn_model *build(uint64_t seed)
{
    cn_error err = {0};
    cn_model *m = cn_model_new(&err);
    cr_assert_not_null(m);
    int x = cn_model_input(m, 2, 6, 6, &err);
    x = cn_model_conv2d(m, x, 4, 3, 1, 1, &err);
    x = cn_model_batchnorm(m, x, &err);
    x = cn_model_unary(m, CN_OP_RELU, x, &err);
    x = cn_model_flatten(m, x, &err);
    x = cn_model_linear(m, x, 10, &err);
    x = cn_model_unary(m, CN_OP_CROSS_ENTROPY, x, &err);
    cr_assert_geq(x, 0, "%s", err.msg);
    cn_compile_opts o = {.batch = 2, .training = 1, .input_grad = 0};
    cr_assert_eq(cn_model_compile(m, &o, &err), CN_OK, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, seed, 7);
    cr_assert_eq(cn_model_init(m, &r, &err), CN_OK, "%s", err.msg);
    return m;
}

/* A model with its momentum optimiser, schedule and train state. */
typedef struct run {
    cn_model *m;
    cn_optimizer *opt;
    cn_schedule sched;
    cn_train_state ts;
} run;

/* A run initialised from seed at training step `step`, with optimiser state,
 * running statistics and schedule all off their defaults. */
static void run_make(run *r, uint64_t seed, uint64_t step)
{
    cn_error err = {0};
    memset(r, 0, sizeof *r);
    r->m = build(seed);
    cn_optim_config oc = cn_optim_config_default(CN_OPTIM_MOMENTUM);
    oc.lr = 0.05;
    r->opt = cn_optim_new(&oc, cn_model_params(r->m), &err);
    cr_assert_not_null(r->opt, "%s", err.msg);
    cn_sched_config sc = cn_sched_config_default(CN_SCHED_STEP);
    sc.base_lr = 0.05;
    sc.unit = CN_SCHED_PER_STEP;
    sc.step_size = 2;
    sc.gamma = 0.5;
    cr_assert_eq(cn_sched_init(&r->sched, &sc, &err), CN_OK, "%s", err.msg);
    for (uint64_t i = 0; i < step; i++) cn_sched_step(&r->sched);
    cr_assert_eq(cn_optim_set_step(r->opt, (int64_t)step, &err), CN_OK, "%s", err.msg);
    cn_params *ps = cn_model_params(r->m);
    size_t ns = (size_t)ps->state_slots * ps->count;
    for (size_t i = 0; i < ns; i++) ps->state[i] = (cn_real)(0.001 * (double)(i % 97) + seed);
    for (size_t i = 0; i < ps->buffer_count; i++) ps->buffers[i] = (cn_real)(1.0 + seed);
    r->ts.step = step;
    r->ts.epoch = step / 10;
    r->ts.n_rngs = 1;
    cn_rng_seed(&r->ts.rngs[0], seed, 3);
    r->ts.data_fingerprint = cn_fingerprint64("data", 4, 0);
    r->ts.config_fingerprint = cn_fingerprint64("config", 6, 0);
}

static void run_free(run *r)
{
    cn_optim_free(r->opt);
    cn_model_free(r->m);
}

static cn_status run_save(const run *r, const char *path, cn_error *err)
{
    return cn_checkpoint_save(path, r->m, r->opt, &r->sched, &r->ts, err);
}

/* path loads with cn_checkpoint_load into a fresh run and holds exactly r's state. */
static void expect_holds(const char *path, const run *r)
{
    cn_error err = {0};
    run got;
    run_make(&got, 1000 + r->ts.step, 0);
    cn_train_state ts;
    memset(&ts, 0, sizeof ts);
    cr_assert_eq(cn_checkpoint_load(path, got.m, got.opt, &got.sched, &ts, &err), CN_OK,
                 "%s does not load: %s", path, err.msg);
    cn_params *a = cn_model_params(r->m), *b = cn_model_params(got.m);
    cr_assert_eq(memcmp(a->values, b->values, a->count * sizeof(cn_real)), 0,
                 "%s: parameters differ", path);
    cr_assert_eq(memcmp(a->buffers, b->buffers, a->buffer_count * sizeof(cn_real)), 0,
                 "%s: buffers differ", path);
    cr_assert_eq(memcmp(a->state, b->state,
                        (size_t)a->state_slots * a->count * sizeof(cn_real)), 0,
                 "%s: optimiser state differs", path);
    cr_assert_eq(ts.step, r->ts.step, "%s: step %llu, expected %llu", path,
                 (unsigned long long)ts.step, (unsigned long long)r->ts.step);
    cr_assert_eq(cn_optim_get_step(got.opt), (int64_t)r->ts.step);
    cr_assert_eq(got.sched.t, r->sched.t);
    cn_train_state_release(&ts);
    run_free(&got);
}

/* The step saved in path (the file must load), via a fresh run. */
static uint64_t saved_step(const char *path)
{
    cn_error err = {0};
    run got;
    run_make(&got, 999, 0);
    cn_train_state ts;
    memset(&ts, 0, sizeof ts);
    cr_assert_eq(cn_checkpoint_load(path, got.m, got.opt, &got.sched, &ts, &err), CN_OK,
                 "%s does not load: %s", path, err.msg);
    cn_train_state_release(&ts);
    run_free(&got);
    return ts.step;
}

/* Names in dir that contain ".tmp." (temporary files of the writer). */
static int count_temp_files(void)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static size_t file_size(const char *path)
{
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0, "%s: %s", path, strerror(errno));
    return (size_t)sb.st_size;
}

/* A failed save: CN_ERR_IO, a message naming path, the call and strerror(e), and
 * no temporary file left. */
static void expect_io_error(cn_status s, const cn_error *err, const char *path,
                            const char *call, int e)
{
    cr_assert_eq(s, CN_ERR_IO, "status %d: %s", (int)s, err->msg);
    cr_assert(strstr(err->msg, path) != NULL, "message names the path: %s", err->msg);
    cr_assert(strstr(err->msg, call) != NULL, "message names '%s': %s", call, err->msg);
    cr_assert(strstr(err->msg, strerror(e)) != NULL, "message has '%s': %s", strerror(e),
              err->msg);
    cr_assert_eq(count_temp_files(), 0, "a temporary file was left behind");
}

/* old saved at ck (and at ck.prev); the shim is armed for a fault: saving new must
 * fail with call/e, ck must still hold old, and the next save (shim off) must
 * write new completely. */
static void fault_case(const run *old, const run *new_, int op, int at, int e,
                       const char *call)
{
    cn_error err = {0};
    shim_reset(dir);
    cr_assert_eq(run_save(old, ck, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(run_save(old, ck, &err), CN_OK, "%s", err.msg);
    shim_reset(dir);
    shim.write_cap = 4096;
    shim_fail(op, at, 0, e);
    cn_status s = run_save(new_, ck, &err);
    cr_assert_geq(shim.count[op], at, "the shim never saw call %d of %s", at, call);
    expect_io_error(s, &err, ck, call, e);
    expect_holds(ck, old);
    if (exists(prev)) expect_holds(prev, old);

    shim_reset(dir);
    cr_assert_eq(run_save(new_, ck, &err), CN_OK, "retry: %s", err.msg);
    cr_assert_eq(shim.written, file_size(ck), "the retry rewrote the whole file");
    expect_holds(ck, new_);
    expect_holds(prev, old);
}

/* ---------------------------------------------------------------- tests */

Test(ckfault, shim_sees_library_calls)
{
    cn_error err = {0};
    run a, b;
    run_make(&a, 1, 1);
    run_make(&b, 2, 2);
    cr_assert_eq(run_save(&a, ck, &err), CN_OK, "%s", err.msg);
    shim_reset(dir);
    shim.write_cap = 1000;
    cr_assert_eq(run_save(&b, ck, &err), CN_OK, "%s", err.msg);
    size_t size = file_size(ck);
    cr_assert_gt(size, 8192, "the checkpoint spans at least two 4 KiB blocks");
    cr_assert_eq(shim.count[SH_MKSTEMP], 1);
    cr_assert_eq(shim.count[SH_WRITE], (int)((size + 999) / 1000), "short writes resumed");
    cr_assert_eq(shim.written, size);
    cr_assert_eq(shim.count[SH_FSYNC_FILE], 1);
    cr_assert_eq(shim.count[SH_LINK], 1);
    cr_assert_eq(shim.count[SH_RENAME], 1);
    cr_assert_eq(shim.count[SH_OPEN], 1, "the folder is opened");
    cr_assert_eq(shim.count[SH_FSYNC_DIR], 1, "the folder is fsync'd");
    cr_assert_eq(shim.count[SH_CLOSE], 2);
    expect_holds(ck, &b);
    expect_holds(prev, &a);
    run_free(&a);
    run_free(&b);
}

/* R3: the disk fills up: the first, a middle or the last write fails. */
Test(ckfault, enospc_during_write)
{
    run a, b;
    run_make(&a, 1, 1);
    run_make(&b, 2, 2);
    cn_error err = {0};
    cr_assert_eq(run_save(&b, ck, &err), CN_OK, "%s", err.msg);
    int writes = (int)((file_size(ck) + 4095) / 4096);
    cr_assert_geq(writes, 3);
    int at[3] = {1, 2, writes};
    for (int i = 0; i < 3; i++) fault_case(&a, &b, SH_WRITE, at[i], ENOSPC, "write");
    /* a full disk stays full: every write from the second on fails */
    cr_assert_eq(run_save(&a, ck, &err), CN_OK, "%s", err.msg);
    shim_reset(dir);
    shim.write_cap = 4096;
    shim_fail(SH_WRITE, 2, 1, ENOSPC);
    expect_io_error(run_save(&b, ck, &err), &err, ck, "write", ENOSPC);
    cr_assert_eq(shim.count[SH_WRITE], 2, "no write after the failing one");
    cr_assert_eq(shim.count[SH_RENAME], 0);
    expect_holds(ck, &a);
    run_free(&a);
    run_free(&b);
}

/* R5: fsync reports EIO: the save fails, nothing is renamed, fsync is not retried
 * on the same data; the next save rewrites everything from memory. */
Test(ckfault, fsync_eio_not_retried)
{
    run a, b;
    run_make(&a, 1, 1);
    run_make(&b, 2, 2);
    cn_error err = {0};
    cr_assert_eq(run_save(&a, ck, &err), CN_OK, "%s", err.msg);
    shim_reset(dir);
    shim_fail(SH_FSYNC_FILE, 1, 0, EIO);
    expect_io_error(run_save(&b, ck, &err), &err, ck, "fsync", EIO);
    cr_assert_eq(shim.count[SH_FSYNC_FILE], 1, "fsync is not retried");
    cr_assert_eq(shim.count[SH_LINK], 0, "the previous file is not touched");
    cr_assert_eq(shim.count[SH_RENAME], 0, "a file that failed fsync is never renamed");
    cr_assert_not(exists(prev));
    expect_holds(ck, &a);
    fault_case(&a, &b, SH_FSYNC_FILE, 1, EIO, "fsync");
    run_free(&a);
    run_free(&b);
}

/* R6: rename of the temporary file fails (cross-device, permission, read-only). */
Test(ckfault, rename_fails)
{
    run a, b;
    run_make(&a, 1, 1);
    run_make(&b, 2, 2);
    int errs[3] = {EXDEV, EACCES, EROFS};
    for (int i = 0; i < 3; i++) fault_case(&a, &b, SH_RENAME, 1, errs[i], "rename");
    run_free(&a);
    run_free(&b);
}

/* Keeping <path>.prev fails: unlink of the old .prev, or link with a real error. */
Test(ckfault, keeping_prev_fails)
{
    run a, b;
    run_make(&a, 1, 1);
    run_make(&b, 2, 2);
    fault_case(&a, &b, SH_UNLINK, 1, EACCES, "keeping the previous file");
    fault_case(&a, &b, SH_LINK, 1, EIO, "keeping the previous file");
    fault_case(&a, &b, SH_LINK, 1, ENOSPC, "keeping the previous file");
    run_free(&a);
    run_free(&b);
}

/* A file system without hard links (link: EPERM or EXDEV): .prev is made by
 * rename. If the rename of the new file then fails, path must come back. */
Test(ckfault, no_hard_links_fallback)
{
    run a, b;
    run_make(&a, 1, 1);
    run_make(&b, 2, 2);
    cn_error err = {0};
    int link_errs[2] = {EPERM, EXDEV};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(run_save(&a, ck, &err), CN_OK, "%s", err.msg);
        shim_reset(dir);
        shim_fail(SH_LINK, 1, 1, link_errs[i]);
        cr_assert_eq(run_save(&b, ck, &err), CN_OK, "%s", err.msg);
        cr_assert_eq(shim.count[SH_RENAME], 2, "path -> .prev, then tmp -> path");
        expect_holds(ck, &b);
        expect_holds(prev, &a);
        cr_assert_eq(count_temp_files(), 0);
    }

    /* path went to .prev, then the rename of the new file fails */
    cr_assert_eq(run_save(&a, ck, &err), CN_OK, "%s", err.msg);
    shim_reset(dir);
    shim_fail(SH_LINK, 1, 1, EPERM);
    shim_fail(SH_RENAME, 2, 0, EROFS);
    expect_io_error(run_save(&b, ck, &err), &err, ck, "rename", EROFS);
    cr_assert(exists(ck), "the previous checkpoint was lost: %s is missing", ck);
    expect_holds(ck, &a);
    shim_reset(dir);
    cr_assert_eq(run_save(&b, ck, &err), CN_OK, "%s", err.msg);
    expect_holds(ck, &b);
    run_free(&a);
    run_free(&b);
}

/* The folder's fsync (or its open) fails after the rename: reported as a failed
 * save; path already holds the new state (docs/checkpoint.md), .prev the old one. */
Test(ckfault, folder_fsync_fails)
{
    run a, b;
    run_make(&a, 1, 1);
    run_make(&b, 2, 2);
    cn_error err = {0};
    int ops[2] = {SH_FSYNC_DIR, SH_OPEN}, errs[2] = {EIO, EMFILE};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(run_save(&a, ck, &err), CN_OK, "%s", err.msg);
        shim_reset(dir);
        shim_fail(ops[i], 1, 0, errs[i]);
        expect_io_error(run_save(&b, ck, &err), &err, ck, "fsync of the folder", errs[i]);
        cr_assert_eq(shim.count[ops[i]], 1);
        expect_holds(ck, &b);
        expect_holds(prev, &a);
    }
    run_free(&a);
    run_free(&b);
}

/* close of the temporary file fails (NFS reports write errors there). */
Test(ckfault, close_fails)
{
    run a, b;
    run_make(&a, 1, 1);
    run_make(&b, 2, 2);
    fault_case(&a, &b, SH_CLOSE, 1, EIO, "close");
    run_free(&a);
    run_free(&b);
}

/* R4: the file size limit (ulimit -f) is hit with SIGXFSZ ignored: write fails
 * with EFBIG. Runs in a child process, which reports through its exit status:
 * 0 the expected CN_ERR_IO, 1 saved, 2 another status, 3 the message lacks the
 * path, 4 it lacks "write" and strerror(EFBIG), 5 setrlimit failed. */
Test(ckfault, efbig_file_size_limit)
{
    run a, b;
    run_make(&a, 1, 1);
    run_make(&b, 2, 2);
    cn_error err = {0};
    cr_assert_eq(run_save(&a, ck, &err), CN_OK, "%s", err.msg);
    size_t size = file_size(ck);
    shim_reset(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {.rlim_cur = 4096, .rlim_max = 4096};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(5);
        cn_error e2 = {0};
        cn_status s = run_save(&b, ck, &e2);
        if (s == CN_OK) _exit(1);
        if (s != CN_ERR_IO) _exit(2);
        if (!strstr(e2.msg, ck)) _exit(3);
        if (!strstr(e2.msg, "write") || !strstr(e2.msg, strerror(EFBIG))) _exit(4);
        _exit(0);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the child died (signal %d)",
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    cr_assert_eq(WEXITSTATUS(status), 0, "child status %d (see the test's comment)",
                 WEXITSTATUS(status));
    cr_assert_gt(size, 4096, "the checkpoint is larger than the limit");
    cr_assert_eq(count_temp_files(), 0, "a temporary file was left behind");
    cr_assert_not(exists(prev), "the failed save did not touch .prev");
    expect_holds(ck, &a);
    shim_reset(dir);
    cr_assert_eq(run_save(&b, ck, &err), CN_OK, "%s", err.msg);
    expect_holds(ck, &b);
    run_free(&a);
    run_free(&b);
}

/* R7: the folder cannot take the file: it does not exist, it is a regular file,
 * or creating the temporary file is refused. The save fails at once: nothing
 * written, nothing created. (Root ignores permission bits, so EACCES and EROFS
 * come from the shim.) */
Test(ckfault, unwritable_folder_fails_fast)
{
    run a;
    run_make(&a, 1, 1);
    cn_error err = {0};
    char missing[700], file[700], under[800];
    snprintf(missing, sizeof missing, "%s/no/such/folder/ck.safetensors", dir);
    snprintf(file, sizeof file, "%s/plain", dir);
    snprintf(under, sizeof under, "%s/ck.safetensors", file);
    FILE *f = fopen(file, "wb");
    cr_assert_not_null(f);
    fclose(f);

    const char *paths[2] = {missing, under};
    int errs[2] = {ENOENT, ENOTDIR};
    for (int i = 0; i < 2; i++) {
        shim_reset(dir);
        expect_io_error(run_save(&a, paths[i], &err), &err, paths[i],
                        "cannot create a temporary file", errs[i]);
        cr_assert_eq(shim.count[SH_WRITE] + shim.count[SH_RENAME] + shim.count[SH_LINK], 0);
    }

    cr_assert_eq(run_save(&a, ck, &err), CN_OK, "%s", err.msg);
    int errs2[3] = {EACCES, EROFS, EDQUOT};
    for (int i = 0; i < 3; i++) {
        shim_reset(dir);
        shim_fail(SH_MKSTEMP, 1, 0, errs2[i]);
        expect_io_error(run_save(&a, ck, &err), &err, ck, "cannot create a temporary file",
                        errs2[i]);
        cr_assert_eq(shim.count[SH_WRITE] + shim.count[SH_RENAME] + shim.count[SH_LINK], 0);
        expect_holds(ck, &a);
        cr_assert_not(exists(prev));
    }
    run_free(&a);
}

static size_t slurp(const char *path, unsigned char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, size, f);
    fclose(f);
    cr_assert_lt(n, size);
    return n;
}

static void spit(const char *path, const unsigned char *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(buf, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* cn_model_save_weights goes through the same writer (without .prev): the old
 * weights file stays byte for byte, no temporary file, no .prev. */
Test(ckfault, weights_writer_faults)
{
    cn_model *a = build(1), *b = build(2);
    cn_error err = {0};
    char w[700], wprev[800];
    snprintf(w, sizeof w, "%s/w.safetensors", dir);
    snprintf(wprev, sizeof wprev, "%s.prev", w);
    static unsigned char before[1 << 16], after[1 << 16];
    struct {
        int op, e;
        const char *call;
    } cases[5] = {{SH_WRITE, ENOSPC, "write"},
                  {SH_FSYNC_FILE, EIO, "fsync"},
                  {SH_CLOSE, EIO, "close"},
                  {SH_RENAME, EXDEV, "rename"},
                  {SH_MKSTEMP, EACCES, "cannot create a temporary file"}};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(cn_model_save_weights(a, w, NULL, 0, &err), CN_OK, "%s", err.msg);
        shim_reset(dir);
        size_t n = slurp(w, before, sizeof before);
        shim_fail(cases[i].op, 1, 0, cases[i].e);
        expect_io_error(cn_model_save_weights(b, w, NULL, 0, &err), &err, w, cases[i].call,
                        cases[i].e);
        cr_assert_eq(shim.count[cases[i].op], 1);
        cr_assert_eq(slurp(w, after, sizeof after), n);
        cr_assert_eq(memcmp(before, after, n), 0, "%s: the old weights file changed",
                     cases[i].call);
        cr_assert_not(exists(wprev));
    }
    shim_reset(dir);
    cr_assert_eq(cn_model_save_weights(b, w, NULL, 0, &err), CN_OK, "%s", err.msg);
    cn_model *c = build(3);
    cr_assert_eq(cn_model_load_weights(c, w, 0, &err), CN_OK, "%s", err.msg);
    cn_params *pb = cn_model_params(b), *pc = cn_model_params(c);
    cr_assert_eq(memcmp(pb->values, pc->values, pb->count * sizeof(cn_real)), 0);
    cn_model_free(a);
    cn_model_free(b);
    cn_model_free(c);
}

/* The process dies (as by kill -9) just before each call of the write protocol in
 * turn: mkstemp, every (short) write, fsync, close, unlink and link of .prev,
 * rename, open, fsync and close of the folder. After each death, path holds the
 * old or the new checkpoint, complete; .prev, when present, the old one; a stale
 * temporary file may remain, and the next save succeeds beside it. */
Test(ckfault, process_death_at_every_protocol_call)
{
    run a, b;
    run_make(&a, 1, 1);
    run_make(&b, 2, 2);
    cn_error err = {0};
    int saw_old = 0, saw_new = 0, k;
    for (k = 1; k < 64; k++) {
        shim_reset(NULL);
        tst_tmpdir_remove(dir);
        cr_assert_eq(mkdir(dir, 0700), 0, "%s", strerror(errno));
        cr_assert_eq(run_save(&a, ck, &err), CN_OK, "%s", err.msg);
        cr_assert_eq(run_save(&a, ck, &err), CN_OK, "%s", err.msg);
        shim_reset(dir);
        shim.write_cap = 4096;
        shim.crash_at = k;
        pid_t pid = fork();
        cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            cn_error e2 = {0};
            _exit(run_save(&b, ck, &e2) == CN_OK ? 0 : 1);
        }
        shim_reset(NULL);
        int status = 0;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status));
        int code = WEXITSTATUS(status);
        cr_assert(code == 0 || code == SH_CRASH_CODE, "call %d: the save failed", k);
        uint64_t step = saved_step(ck);
        cr_assert(step == a.ts.step || step == b.ts.step, "call %d: step %llu", k,
                  (unsigned long long)step);
        expect_holds(ck, step == a.ts.step ? &a : &b);
        if (exists(prev)) expect_holds(prev, &a);
        saw_old += step == a.ts.step;
        saw_new += step == b.ts.step;
        if (code == 0) break;
        /* a stale temporary file does not disturb the next save */
        cr_assert_eq(run_save(&b, ck, &err), CN_OK, "call %d: %s", k, err.msg);
        expect_holds(ck, &b);
    }
    cr_assert_lt(k, 64, "the save never completed");
    cr_assert_geq(k, 12, "only %d protocol calls seen", k);
    cr_assert_gt(saw_old, 0);
    cr_assert_gt(saw_new, 1, "deaths after the rename leave the new file");
    run_free(&a);
    run_free(&b);
}

/* R9 / R11: what a power loss or a bad disk leaves on disk (torn, truncated,
 * zero-filled files) is rejected by cn_checkpoint_load with a message naming the
 * file, and the run is left unchanged. (One flipped bit at sampled positions is
 * in test_checkpoint.c, corruption_rejected.) */
Test(ckfault, torn_files_rejected)
{
    run a, b;
    run_make(&a, 1, 1);
    run_make(&b, 2, 2);
    cn_error err = {0};
    cr_assert_eq(run_save(&a, ck, &err), CN_OK, "%s", err.msg);
    static unsigned char img[1 << 17], mod[1 << 17];
    size_t len = slurp(ck, img, sizeof img);
    cr_assert_gt(len, 8192);
    char bad[700];
    snprintf(bad, sizeof bad, "%s/torn.safetensors", dir);
    cn_params *pb = cn_model_params(b.m);
    cn_real *before = tst_reals(pb->count);
    memcpy(before, pb->values, pb->count * sizeof(cn_real));
    int trials = 0;

    /* truncated: every length up to 64 bytes, then every 61st, and the last byte */
    for (size_t cut = 0; cut < len;
         cut = cut < 64 ? cut + 1 : (cut + 61 < len ? cut + 61 : len - 1)) {
        spit(bad, img, cut);
        cn_train_state ts;
        memset(&ts, 0, sizeof ts);
        cr_assert_neq(cn_checkpoint_load(bad, b.m, b.opt, &b.sched, &ts, &err), CN_OK,
                      "truncated to %zu of %zu bytes: loaded", cut, len);
        cr_assert(strstr(err.msg, bad) != NULL, "cut %zu: %s", cut, err.msg);
        cr_assert_null(ts.order);
        trials++;
        if (cut == len - 1) break;
    }
    /* one 4 KiB block zero-filled (a block the disk never wrote), each in turn,
     * and one at an unaligned place */
    for (size_t at = 0; at < len; at += 4096) {
        size_t n = len - at < 4096 ? len - at : 4096;
        memcpy(mod, img, len);
        memset(mod + at, 0, n);
        spit(bad, mod, len);
        cr_assert_neq(cn_checkpoint_load(bad, b.m, b.opt, &b.sched, NULL, &err), CN_OK,
                      "block at %zu zeroed: loaded", at);
        cr_assert(strstr(err.msg, bad) != NULL, "%s", err.msg);
        trials++;
    }
    memcpy(mod, img, len);
    memset(mod + 1000, 0, 4096);
    spit(bad, mod, len);
    cr_assert_eq(cn_checkpoint_load(bad, b.m, b.opt, &b.sched, NULL, &err), CN_ERR_FORMAT);
    cr_assert(strstr(err.msg, "checksum mismatch") || strstr(err.msg, "not a checkpoint"),
              "%s", err.msg);
    /* the file's size is right but it is all zeros (metadata committed, data not) */
    memset(mod, 0, len);
    spit(bad, mod, len);
    cr_assert_eq(cn_checkpoint_load(bad, b.m, b.opt, &b.sched, NULL, &err), CN_ERR_FORMAT);
    cr_assert(strstr(err.msg, bad) != NULL, "%s", err.msg);
    /* a torn write: the first half new, the rest old */
    cr_assert_eq(run_save(&b, ck, &err), CN_OK, "%s", err.msg);
    size_t len2 = slurp(ck, mod, sizeof mod);
    cr_assert_eq(len2, len, "same layout, same size");
    memcpy(mod + len / 2, img + len / 2, len - len / 2);
    spit(bad, mod, len);
    cr_assert_eq(cn_checkpoint_load(bad, b.m, b.opt, &b.sched, NULL, &err), CN_ERR_FORMAT);
    cr_assert(strstr(err.msg, "checksum mismatch") != NULL, "%s", err.msg);
    cr_assert_gt(trials, 64);
    cr_assert_eq(memcmp(before, pb->values, pb->count * sizeof(cn_real)), 0,
                 "a rejected file changed the model");
    free(before);
    run_free(&a);
    run_free(&b);
}

/* The trainer meets a full disk at its second checkpoint (step 4): cn_train stops
 * with CN_ERR_IO naming the checkpoint, no temporary file is left, and the
 * checkpoint on disk is step 2's, loadable and finite (RELIABILITY R3 through
 * the trainer; a failed save stops the run, docs/train.md). */
Test(ckfault, trainer_reports_a_failed_checkpoint)
{
    cn_error err = {0};
    cn_dataset *ds = cn_dataset_new(16, 2, 6, 6, 10, &err);
    cr_assert_not_null(ds, "%s", err.msg);
    cn_rng r;
    cn_rng_seed(&r, 5, 1);
    for (size_t i = 0; i < ds->images->numel; i++)
        ds->images->data[i] = (cn_real)cn_rng_normal(&r);
    for (int i = 0; i < 16; i++) ds->labels[i] = i % 10;
    cn_model *m = build(3);
    cn_train_config c = cn_train_config_default();
    c.epochs = 2;
    c.batch = 2;
    c.checkpoint_every = 2;
    c.run_dir = dir;
    shim_fail(SH_RENAME, 2, 1, ENOSPC);
    cn_train_report rep;
    cn_status s = cn_train(m, ds, NULL, &c, &rep, NULL, &err);
    char path[700];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    expect_io_error(s, &err, path, "rename", ENOSPC);
    cr_assert_eq(rep.steps, 4);
    shim_reset(NULL);
    cn_model *back = build(9);
    cn_train_state ts;
    memset(&ts, 0, sizeof ts);
    cr_assert_eq(cn_checkpoint_load(path, back, NULL, NULL, &ts, &err), CN_OK, "%s", err.msg);
    cr_assert_eq(ts.step, 2);
    cn_train_state_release(&ts);
    cn_model_free(back);
    cn_model_free(m);
    cn_dataset_free(ds);
}
