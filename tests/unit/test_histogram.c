/* test_hist: bucket boundaries, quantiles against exact answers, merging and
 * the text form the worker writes into its heartbeat. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/histogram.h"

static void test_buckets_monotonic(void **state)
{
    (void)state;
    /* every bucket's low bound maps back to it, and bounds increase */
    for (int i = 0; i < HIST_BUCKETS; i++) {
        assert_int_equal(hist_bucket_of(hist_bucket_low(i)), i);
        if (i > 0)
            assert_true(hist_bucket_low(i) > hist_bucket_low(i - 1));
    }
    assert_int_equal(hist_bucket_of(0), 0);
    assert_int_equal(hist_bucket_of(63), 63);
    assert_int_equal(hist_bucket_of(64), 64);
    assert_int_equal(hist_bucket_of(UINT64_MAX), HIST_BUCKETS - 1);
    /* relative width above the linear part stays within 1/32 */
    for (int i = HIST_LINEAR; i < HIST_BUCKETS - 1; i++) {
        uint64_t lo = hist_bucket_low(i), hi = hist_bucket_low(i + 1);
        assert_true((hi - lo) * 32 <= lo);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_quantiles_close_to_exact(void **state)
{
    (void)state;
    enum { N = 10000 };
    static uint64_t v[N];
    struct hist h;
    hist_reset(&h);
    srand(7);
    for (int i = 0; i < N; i++) {
        v[i] = (uint64_t)(rand() % 2000000);   /* up to 2 s */
        hist_add(&h, (int64_t)v[i]);
    }
    qsort(v, N, sizeof v[0], cmp_u64);
    assert_int_equal(h.count, N);
    assert_int_equal(h.max_us, v[N - 1]);
    const double qs[] = {0.5, 0.95, 0.99, 1.0};
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
        uint64_t exact = v[(size_t)(qs[k] * N) - 1];
        uint64_t got = hist_quantile(&h, qs[k]);
        double err = (double)(got > exact ? got - exact : exact - got) / (double)exact;
        assert_true(err < 0.035);
    }
    assert_int_equal(hist_quantile(&h, 1.0), v[N - 1]);
}

static void test_small_and_empty(void **state)
{
    (void)state;
    struct hist h;
    hist_reset(&h);
    assert_int_equal(hist_quantile(&h, 0.5), 0);
    hist_add(&h, -5);   /* clock skew: counts as 0 */
    hist_add(&h, 3);
    hist_add(&h, 3);
    assert_int_equal(h.count, 3);
    assert_int_equal(hist_quantile(&h, 0.5), 3);
    assert_int_equal(hist_quantile(&h, 0.01), 0);
    assert_int_equal(h.max_us, 3);
}

static void test_merge_and_encode(void **state)
{
    (void)state;
    struct hist a, b;
    char buf[256];
    hist_reset(&a);
    hist_reset(&b);
    hist_add(&a, 10);
    hist_add(&b, 10);
    hist_add(&b, 1000);
    hist_merge(&a, &b);
    assert_int_equal(a.count, 3);
    assert_int_equal(a.sum_us, 1020);
    assert_int_equal(a.max_us, 1000);
    size_t n = hist_encode(&a, buf, sizeof buf);
    assert_int_equal(n, strlen(buf));
    char want[64];
    snprintf(want, sizeof want, "3 1020 1000;10:2 %d:1", hist_bucket_of(1000));
    assert_string_equal(buf, want);
    /* too small: cut at a bucket boundary, still a valid prefix */
    n = hist_encode(&a, buf, 18);
    assert_string_equal(buf, "3 1020 1000;10:2");
    assert_int_equal(hist_encode(&a, buf, 4), 0);
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets_monotonic),
        cmocka_unit_test(test_quantiles_close_to_exact),
        cmocka_unit_test(test_small_and_empty),
        cmocka_unit_test(test_merge_and_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
