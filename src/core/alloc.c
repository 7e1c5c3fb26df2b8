/* alloc.c: the library's allocator: plain and 64-byte aligned allocation with
 * overflow-checked sizes. Every allocation in libconvnet goes through here. */
#include "convnet/core.h"

#include <stdlib.h>
#include <string.h>

int cn_mul_overflow(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return 1;
    *out = a * b;
    return 0;
}

void *cn_malloc(size_t size)
{
    return malloc(size ? size : 1);
}

void *cn_calloc(size_t n, size_t size)
{
    size_t total;
    if (cn_mul_overflow(n, size, &total)) return NULL;
    return calloc(total ? total : 1, 1);
}

void *cn_realloc(void *p, size_t size)
{
    return realloc(p, size ? size : 1);
}

void cn_free(void *p)
{
    free(p);
}

void *cn_aligned_alloc(size_t size)
{
    /* aligned_alloc needs size to be a multiple of the alignment. */
    size_t rounded = (size + CN_ALIGN - 1) / CN_ALIGN * CN_ALIGN;
    if (rounded < size) return NULL; /* overflow */
    if (rounded == 0) rounded = CN_ALIGN;
    return aligned_alloc(CN_ALIGN, rounded);
}

void cn_aligned_free(void *p)
{
    free(p);
}

char *cn_strdup(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = cn_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
