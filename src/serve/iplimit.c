/* iplimit.c: per-address token buckets in a fixed table (see include/serve/iplimit.h). */
#include "serve/iplimit.h"

#include <math.h>
#include <string.h>
#include <netinet/in.h>

#define NSETS (IPLIMIT_SLOTS / IPLIMIT_WAYS)

_Static_assert(IPLIMIT_SLOTS % IPLIMIT_WAYS == 0, "whole sets");

void iplimit_init(struct iplimit *l, long per_minute, long burst, uint64_t seed0, uint64_t seed1)
{
    memset(l, 0, sizeof *l);
    l->per_ms = per_minute > 0 ? (double)per_minute / 60000.0 : 0;
    l->burst = burst >= 1 ? (double)burst : 1;
    l->seed[0] = seed0;
    l->seed[1] = seed1;
}

/* key_of: the address as the table counts it; 0 when it is not limited. */
static int key_of(const struct sockaddr *sa, unsigned char key[16])
{
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(key, 0, 16);
    if (sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 4;
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        if (memcmp(a, v4mapped, sizeof v4mapped) == 0) {
            memcpy(key, a + 12, 4);
            return 4;
        }
        memcpy(key, a, 8);   /* the /64 */
        return 6;
    }
    return 0;
}

static uint64_t rotl(uint64_t x, int b)
{
    return x << b | x >> (64 - b);
}

/* set_of: a keyed mix of the key (two SipHash-style rounds over its two
 * words): which set an address lands in cannot be chosen without the seed. */
static size_t set_of(const struct iplimit *l, const unsigned char key[16], int family)
{
    uint64_t w0, w1, v0 = l->seed[0] ^ 0x736f6d6570736575ULL, v1 = l->seed[1] ^ 0x646f72616e646f6dULL;
    memcpy(&w0, key, 8);
    memcpy(&w1, key + 8, 8);
    v1 ^= w0 ^ (uint64_t)family;
    for (int r = 0; r < 2; r++) {
        v0 += v1;
        v1 = rotl(v1, 13) ^ v0;
        v0 = rotl(v0, 32) + w1;
        v1 = rotl(v1, 17) ^ v0;
    }
    return (size_t)((v0 ^ v1) % NSETS);
}

/* refill brings e's bucket to now. */
static void refill(const struct iplimit *l, struct iplimit_entry *e, long long now_ms)
{
    if (now_ms > e->at_ms) {
        e->tokens = fmin(l->burst, e->tokens + (double)(now_ms - e->at_ms) * l->per_ms);
        e->at_ms = now_ms;
    }
}

long long iplimit_take(struct iplimit *l, const struct sockaddr *sa, long long now_ms)
{
    unsigned char key[16];
    int family = key_of(sa, key);
    struct iplimit_entry *set, *e = NULL, *spare = NULL;

    if (l->per_ms <= 0 || family == 0)
        return 0;
    set = &l->e[set_of(l, key, family) * IPLIMIT_WAYS];
    for (int i = 0; i < IPLIMIT_WAYS && e == NULL; i++) {
        struct iplimit_entry *x = &set[i];
        if (x->family == family && memcmp(x->addr, key, 16) == 0) {
            e = x;
        } else if (x->family == 0) {
            if (spare == NULL || spare->family != 0)
                spare = x;
        } else if (spare == NULL || spare->family != 0) {
            /* No free slot yet: the fullest bucket is the cheapest to forget. */
            refill(l, x, now_ms);
            if (spare == NULL || x->tokens > spare->tokens)
                spare = x;
        }
    }
    if (e == NULL) {
        e = spare;
        memcpy(e->addr, key, 16);
        e->family = (unsigned char)family;
        e->tokens = l->burst;
        e->at_ms = now_ms;
    }
    refill(l, e, now_ms);
    if (e->tokens >= 1) {
        e->tokens -= 1;
        return 0;
    }
    long long wait = (long long)ceil((1 - e->tokens) / l->per_ms);
    return wait > 0 ? wait : 1;
}
