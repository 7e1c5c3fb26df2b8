/* convnet/core.h: the core of libconvnet: real type, status and error messages,
 * assertions, tensors, aligned allocation, the explicit-state RNG, thread control,
 * the monotonic timer, levelled logging and progress callbacks.
 *
 * Conventions used across the whole library:
 *  - Every exported symbol starts with cn_ / CN_.
 *  - Functions that can fail on bad input return cn_status and take a cn_error *err
 *    as their last argument (may be NULL); on failure err->msg names the file and the
 *    place (byte offset, record, line:col, tensor).
 *  - Nothing here calls exit() or writes to stdout. Programmer errors (violated
 *    internal invariants) hit CN_ASSERT, which prints file:line and aborts.
 */
#ifndef CONVNET_CORE_H
#define CONVNET_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ real type */

/* cn_real: the scalar every kernel computes in. float by default; the test suite
 * also builds the library with -DCN_DOUBLE so gradient checks run in double. */
#ifdef CN_DOUBLE
typedef double cn_real;
#define CN_REAL_NAME "f64"
#else
typedef float cn_real;
#define CN_REAL_NAME "f32"
#endif

#define CN_VERSION "0.1.0"

/* ------------------------------------------------------------------ status */

/* Error classes. The message in cn_error carries the detail. */
typedef enum cn_status {
    CN_OK = 0,
    CN_ERR_ARG,         /* invalid argument or option value */
    CN_ERR_NOMEM,       /* allocation failed */
    CN_ERR_IO,          /* open/read/write/close failed */
    CN_ERR_FORMAT,      /* malformed file content (header, magic, truncation) */
    CN_ERR_RANGE,       /* a value or size out of range, or arithmetic overflow */
    CN_ERR_SHAPE,       /* shapes do not agree */
    CN_ERR_UNSUPPORTED, /* valid input this build cannot handle */
    CN_ERR_NUMERIC,     /* NaN or Inf where finite numbers are required */
    CN_STATUS_COUNT
} cn_status;

#define CN_ERROR_MSG_MAX 512

/* cn_error: the status of a failed call and a human-readable message that names
 * the file and place. Owned by the caller, usually on the stack. */
typedef struct cn_error {
    cn_status code;
    char msg[CN_ERROR_MSG_MAX];
} cn_error;

/* cn_status_name: a short constant name for a status ("ok", "io error", ...). */
const char *cn_status_name(cn_status s);

/* cn_error_clear: set err to CN_OK with an empty message. err may be NULL. */
void cn_error_clear(cn_error *err);

/* cn_error_set: record code and a printf-style message in err (may be NULL) and
 * return code, so callers can write `return cn_error_set(err, CN_ERR_IO, ...)`. */
cn_status cn_error_set(cn_error *err, cn_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* cn_error_prefix: prepend printf-style context ("loading model: ") to err->msg,
 * keeping the code. Returns err->code (CN_OK if err is NULL). */
cn_status cn_error_prefix(cn_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* CN_ASSERT: always-on check of an internal invariant (never of user input).
 * On failure prints the expression and file:line to stderr and aborts. */
void cn_assert_fail(const char *expr, const char *file, int line);
#define CN_ASSERT(x) ((x) ? (void)0 : cn_assert_fail(#x, __FILE__, __LINE__))

/* ------------------------------------------------------------------ memory */

#define CN_ALIGN 64

/* cn_malloc / cn_calloc / cn_realloc / cn_free: the library's allocator (all
 * library allocations go through these). Return NULL on failure or when the
 * requested size overflows; n * size is checked in cn_calloc. */
void *cn_malloc(size_t size);
void *cn_calloc(size_t n, size_t size);
void *cn_realloc(void *p, size_t size);
void cn_free(void *p);

/* cn_aligned_alloc: size bytes aligned to CN_ALIGN (64), uninitialised; NULL on
 * failure (size 0 returns a valid, freeable pointer). Free with cn_aligned_free. */
void *cn_aligned_alloc(size_t size);
void cn_aligned_free(void *p);

/* cn_mul_overflow: *out = a * b; returns 1 (and leaves *out undefined) on
 * size_t overflow, 0 otherwise. */
int cn_mul_overflow(size_t a, size_t b, size_t *out);

/* cn_strdup: a cn_malloc'd copy of s, or NULL. */
char *cn_strdup(const char *s);

/* ------------------------------------------------------------------ tensor */

#define CN_MAX_DIMS 8

/* cn_tensor: a contiguous, outermost-first array of cn_real (N, C, H, W). The
 * tensor owns data (64-byte aligned) when created by cn_tensor_new. */
typedef struct cn_tensor {
    cn_real *data;          /* (shape[0], ..., shape[ndim-1]) */
    int ndim;
    int shape[CN_MAX_DIMS];
    size_t numel;
} cn_tensor;

/* cn_tensor_new: allocate a zero-filled tensor of the given shape. ndim in
 * 1..CN_MAX_DIMS, every dim >= 0 (0 gives an empty tensor). On error returns NULL
 * with err set (CN_ERR_SHAPE for a bad rank or dim, CN_ERR_RANGE on size overflow,
 * CN_ERR_NOMEM). The caller owns the result; free with cn_tensor_free. */
cn_tensor *cn_tensor_new(int ndim, const int *shape, cn_error *err);

/* cn_tensor_new4: cn_tensor_new for (n, c, h, w). */
cn_tensor *cn_tensor_new4(int n, int c, int h, int w, cn_error *err);

/* cn_tensor_free: free t and its data. NULL is a no-op. */
void cn_tensor_free(cn_tensor *t);

/* cn_tensor_reshape: change the shape in place to one with the same element
 * count. CN_ERR_SHAPE (naming both shapes) if the counts differ or rank is bad. */
cn_status cn_tensor_reshape(cn_tensor *t, int ndim, const int *shape, cn_error *err);

/* cn_tensor_shape_str: write "(2, 3, 4)" into buf (always NUL-terminated);
 * returns buf. */
char *cn_tensor_shape_str(const cn_tensor *t, char *buf, size_t size);

/* ------------------------------------------------------------------ RNG */

/* cn_rng: PCG32 (O'Neill 2014, XSH-RR 64/32) with a stream id. All state is in the
 * struct: copy it to save it, copy it back to resume bit-identically. Never global. */
typedef struct cn_rng {
    uint64_t state;
    uint64_t inc; /* stream selector, always odd */
} cn_rng;

/* cn_rng_seed: initialise from a seed and a stream id; different streams with the
 * same seed give independent sequences. */
void cn_rng_seed(cn_rng *r, uint64_t seed, uint64_t stream);
/* cn_rng_u32: next uniform 32-bit integer. */
uint32_t cn_rng_u32(cn_rng *r);
/* cn_rng_u64: next uniform 64-bit integer (two draws). */
uint64_t cn_rng_u64(cn_rng *r);
/* cn_rng_below: uniform integer in [0, n), unbiased (Lemire's method); n > 0. */
uint32_t cn_rng_below(cn_rng *r, uint32_t n);
/* cn_rng_uniform: uniform double in [0, 1) with 53 random bits. */
double cn_rng_uniform(cn_rng *r);
/* cn_rng_normal: standard normal draw (Box-Muller, no cached spare, so the
 * state is exactly the struct). */
double cn_rng_normal(cn_rng *r);
/* cn_rng_shuffle: Fisher-Yates shuffle of idx[0..n). */
void cn_rng_shuffle(cn_rng *r, int *idx, size_t n);
/* cn_rng_save / cn_rng_load: serialise to / from 16 little-endian bytes. Load
 * rejects an even inc (not a valid PCG stream) with CN_ERR_FORMAT. */
void cn_rng_save(const cn_rng *r, uint8_t out[16]);
cn_status cn_rng_load(cn_rng *r, const uint8_t in[16], cn_error *err);

/* ------------------------------------------------------------------ threads */

/* cn_set_num_threads: threads used by convnet's OpenMP loops (n >= 1; values
 * below 1 select the number of cores). There is one threading layer: the BLAS is
 * set to one thread and cn_gemm splits large products across the OpenMP threads
 * itself (two pools on the same cores oversubscribe them). A no-op for OpenMP
 * when built OPENMP=0. */
void cn_set_num_threads(int n);
/* cn_get_num_threads: the thread count parallel regions will use. */
int cn_get_num_threads(void);
/* cn_build_info: a constant string naming precision, BLAS backend and OpenMP. */
const char *cn_build_info(void);

/* cn_blas_corename: the kernel family the BLAS selected when it was loaded
 * ("SkylakeX", "Haswell", "Prescott", ...), or "portable" in BLAS=none builds. */
const char *cn_blas_corename(void);

/* cn_blas_coretype_hint: when OpenBLAS did not recognise this CPU and fell back
 * to its generic kernels ("Prescott") although the CPU has AVX-512 or AVX2, the
 * value of OPENBLAS_CORETYPE that selects the matching kernels ("SkylakeX" or
 * "Haswell"); NULL otherwise (and in BLAS=none builds). OpenBLAS reads that
 * variable only while it is being loaded, so it must be in the environment
 * before the program starts: the convnet CLI re-executes itself once with it
 * set. On a CPU newer than Debian 12's OpenBLAS 0.3.21 this is a 4-5x GEMM gap. */
const char *cn_blas_coretype_hint(void);

/* ------------------------------------------------------------------ time */

/* cn_time_now: seconds from a monotonic clock (CLOCK_MONOTONIC). */
double cn_time_now(void);

/* ------------------------------------------------------------------ logging */

typedef enum cn_log_level {
    CN_LOG_DEBUG = 0,
    CN_LOG_INFO,
    CN_LOG_WARN,
    CN_LOG_ERROR,
    CN_LOG_OFF
} cn_log_level;

/* cn_logger: where messages go and the least level printed. Passed explicitly to
 * library calls that log; NULL means silent. stream is usually stderr (never
 * stdout: results alone go there). */
typedef struct cn_logger {
    cn_log_level level;
    FILE *stream;
} cn_logger;

/* cn_log: print "[level] message\n" to lg->stream when lvl >= lg->level.
 * lg may be NULL (prints nothing). */
void cn_log(const cn_logger *lg, cn_log_level lvl, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* cn_log_level_parse: "debug", "info", "warn", "error", "off" -> level.
 * Returns CN_ERR_ARG for anything else. */
cn_status cn_log_level_parse(const char *s, cn_log_level *out, cn_error *err);

/* cn_progress_fn: called by long-running library calls to report progress:
 * stage names the phase ("distances", "epoch 3"), done of total units. Returning
 * non-zero asks the call to stop early (it then returns CN_ERR_ARG "cancelled").
 * Implementations must not assume any particular calling thread. */
typedef int (*cn_progress_fn)(void *ctx, const char *stage, size_t done, size_t total);

/* cn_progress: progress callback plus context, bundled. fn may be NULL. */
typedef struct cn_progress {
    cn_progress_fn fn;
    void *ctx;
} cn_progress;

/* cn_progress_report: call p->fn if set; returns its result (0 when unset). */
int cn_progress_report(const cn_progress *p, const char *stage, size_t done, size_t total);

#ifdef __cplusplus
}
#endif
#endif /* CONVNET_CORE_H */
