/* rng.c: PCG32 (XSH-RR 64/32, O'Neill 2014) with explicit state and streams, plus
 * the draws built on it (bounded integers, uniform, normal, shuffle) and a
 * 16-byte little-endian serialisation for checkpoints. */
#include "convnet/core.h"

#include <math.h>

#define PCG_MULT 6364136223846793005ULL

uint32_t cn_rng_u32(cn_rng *r)
{
    uint64_t old = r->state;
    r->state = old * PCG_MULT + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

void cn_rng_seed(cn_rng *r, uint64_t seed, uint64_t stream)
{
    r->state = 0u;
    r->inc = (stream << 1u) | 1u;
    cn_rng_u32(r);
    r->state += seed;
    cn_rng_u32(r);
}

uint64_t cn_rng_u64(cn_rng *r)
{
    uint64_t hi = cn_rng_u32(r);
    return (hi << 32) | cn_rng_u32(r);
}

uint32_t cn_rng_below(cn_rng *r, uint32_t n)
{
    CN_ASSERT(n > 0);
    /* Lemire, "Fast random integer generation in an interval" (2019). */
    uint64_t m = (uint64_t)cn_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)cn_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double cn_rng_uniform(cn_rng *r)
{
    return (double)(cn_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

double cn_rng_normal(cn_rng *r)
{
    double u1;
    do {
        u1 = cn_rng_uniform(r);
    } while (u1 <= 0.0);
    double u2 = cn_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

void cn_rng_shuffle(cn_rng *r, int *idx, size_t n)
{
    CN_ASSERT(n <= UINT32_MAX);
    for (size_t i = n; i > 1; i--) {
        size_t j = cn_rng_below(r, (uint32_t)i);
        int t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void cn_rng_save(const cn_rng *r, uint8_t out[16])
{
    put_le64(out, r->state);
    put_le64(out + 8, r->inc);
}

cn_status cn_rng_load(cn_rng *r, const uint8_t in[16], cn_error *err)
{
    uint64_t inc = get_le64(in + 8);
    if ((inc & 1u) == 0)
        return cn_error_set(err, CN_ERR_FORMAT, "rng state: stream increment %llu is even",
                            (unsigned long long)inc);
    r->state = get_le64(in);
    r->inc = inc;
    return CN_OK;
}
