/* histogram.c: log-linear histogram of microsecond durations (see include/base/histogram.h). */
#include "base/histogram.h"

#include <stdio.h>
#include <string.h>

void hist_reset(struct hist *h)
{
    memset(h, 0, sizeof *h);
}

int hist_bucket_of(uint64_t us)
{
    if (us < HIST_LINEAR)
        return (int)us;
    int e = 63 - __builtin_clzll(us);   /* us >= 64, so e >= 6 */
    if (e >= HIST_TOP_EXP)
        return HIST_BUCKETS - 1;
    int sub = (int)((us >> (e - 5)) & (HIST_SUB - 1));
    return HIST_LINEAR + (e - 6) * HIST_SUB + sub;
}

uint64_t hist_bucket_low(int idx)
{
    if (idx < HIST_LINEAR)
        return (uint64_t)idx;
    if (idx >= HIST_BUCKETS - 1)
        return 1ULL << HIST_TOP_EXP;
    int e = (idx - HIST_LINEAR) / HIST_SUB + 6;
    uint64_t sub = (uint64_t)((idx - HIST_LINEAR) % HIST_SUB);
    return (HIST_SUB + sub) << (e - 5);
}

void hist_add(struct hist *h, int64_t us)
{
    uint64_t v = us > 0 ? (uint64_t)us : 0;
    h->b[hist_bucket_of(v)]++;
    h->count++;
    h->sum_us += v;
    if (v > h->max_us)
        h->max_us = v;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (int i = 0; i < HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->count += src->count;
    dst->sum_us += src->sum_us;
    if (src->max_us > dst->max_us)
        dst->max_us = src->max_us;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    /* the rank of the sample wanted, 1-based: ceil(q * count), at least 1 */
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t lo = hist_bucket_low(i);
            uint64_t hi = i + 1 < HIST_BUCKETS ? hist_bucket_low(i + 1) : lo;
            uint64_t mid = i < HIST_LINEAR ? lo : lo + (hi - lo) / 2;
            return mid < h->max_us ? mid : h->max_us;
        }
    }
    return h->max_us;
}

size_t hist_encode(const struct hist *h, char *out, size_t n)
{
    if (n == 0)
        return 0;
    int len = snprintf(out, n, "%llu %llu %llu;", (unsigned long long)h->count,
                       (unsigned long long)h->sum_us, (unsigned long long)h->max_us);
    if (len < 0 || (size_t)len >= n) {
        out[0] = '\0';
        return 0;
    }
    size_t off = (size_t)len;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        if (h->b[i] == 0)
            continue;
        char item[32];
        int k = snprintf(item, sizeof item, "%s%d:%lu", out[off - 1] == ';' ? "" : " ", i,
                         (unsigned long)h->b[i]);
        if (k < 0 || off + (size_t)k >= n)
            break;
        memcpy(out + off, item, (size_t)k + 1);
        off += (size_t)k;
    }
    return off;
}
