#ifndef SW_HISTOGRAM_H
#define SW_HISTOGRAM_H
/* hist: a fixed-size log-linear histogram of non-negative durations in
 * microseconds (the worker's schedule lag and poll latency).
 *
 * Values below 64 us have a bucket each; above, every power of two is split
 * into 32 buckets, so a bucket is at most ~3% wide and percentiles are exact
 * to that resolution. The largest bucket holds everything from 2^40 us (12
 * days) up. count, sum and max are exact. No allocation: a histogram is a
 * plain struct that may be copied, zeroed (hist_reset) and merged.
 *
 * The text form (hist_encode) lists only non-empty buckets, "idx:n idx:n",
 * after a header "count sum max;". The worker writes it into its heartbeat
 * hash (fields lag_hist, poll_hist) as a cumulative histogram since start, so
 * a reader can subtract two snapshots and get exact percentiles of any
 * period (tests/bench/bench.py does). */
#include <stddef.h>
#include <stdint.h>

#define HIST_LINEAR 64        /* values 0..63 us: one bucket each */
#define HIST_SUB 32           /* buckets per power of two above */
#define HIST_TOP_EXP 40       /* 2^40 us and up share the last bucket */
#define HIST_BUCKETS (HIST_LINEAR + (HIST_TOP_EXP - 6) * HIST_SUB + 1)

struct hist {
    uint64_t count;
    uint64_t sum_us;
    uint64_t max_us;
    uint32_t b[HIST_BUCKETS];
};

/* hist_reset empties h. */
void hist_reset(struct hist *h);

/* hist_add records one value (us; negative values count as 0). */
void hist_add(struct hist *h, int64_t us);

/* hist_merge adds every sample of src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/* hist_quantile: the value (us, the middle of its bucket, never above max)
 * at or below which the fraction q (0..1) of the samples lie; 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);

/* hist_encode writes the text form into out (NUL-terminated, truncated at
 * a bucket boundary when n is too small). Returns the length written. */
size_t hist_encode(const struct hist *h, char *out, size_t n);

/* hist_bucket_of / hist_bucket_low: the bucket of a value, and the smallest
 * value a bucket holds (us). */
int hist_bucket_of(uint64_t us);
uint64_t hist_bucket_low(int idx);

#endif
