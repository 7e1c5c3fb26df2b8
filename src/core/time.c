/* time.c: the monotonic clock. */
#include "convnet/core.h"

#include <time.h>

double cn_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
