/* threads.c: thread-count control for OpenMP loops and the BLAS, what the BLAS
 * selected for this CPU, and a string describing how this library was built. */
#include "convnet/core.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef CN_USE_CBLAS
#include <cblas.h>
#endif
#include <string.h>
#include <unistd.h>

static int cores_online(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void cn_set_num_threads(int n)
{
    if (n < 1) n = cores_online();
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
#if defined(CN_USE_CBLAS) && defined(_OPENMP)
    openblas_set_num_threads(1); /* one threading layer: cn_gemm splits work itself */
#elif defined(CN_USE_CBLAS)
    openblas_set_num_threads(n); /* no OpenMP: the BLAS is the only threading layer */
#endif
}

int cn_get_num_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

const char *cn_build_info(void)
{
    return "convnet " CN_VERSION " (" CN_REAL_NAME
#ifdef CN_USE_CBLAS
           ", blas=openblas"
#else
           ", blas=portable"
#endif
#ifdef _OPENMP
           ", openmp"
#else
           ", no openmp"
#endif
           ")";
}

const char *cn_blas_corename(void)
{
#ifdef CN_USE_CBLAS
    const char *name = openblas_get_corename();
    return name ? name : "unknown";
#else
    return "portable";
#endif
}

const char *cn_blas_coretype_hint(void)
{
#if defined(CN_USE_CBLAS) && defined(__x86_64__) && defined(__GNUC__)
    const char *name = openblas_get_corename();
    if (!name || (strcmp(name, "Prescott") != 0 && strcmp(name, "prescott") != 0)) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
#else
    return NULL;
#endif
}
