/* test_iplimit: per-address token buckets in a fixed table: the burst, the
 * refill, addresses apart, IPv6 by /64, v4-mapped addresses, a full table. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "serve/iplimit.h"

static struct sockaddr_storage v4(const char *a)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, a, &in->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *a)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *in = (struct sockaddr_in6 *)&ss;
    in->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, a, &in->sin6_addr), 1);
    return ss;
}

#define TAKE(l, ss, now) iplimit_take((l), (const struct sockaddr *)&(ss), (now))

static void test_burst_and_refill(void **state)
{
    (void)state;
    struct iplimit *l = malloc(sizeof *l);
    struct sockaddr_storage a = v4("192.0.2.1"), b = v4("192.0.2.2");

    iplimit_init(l, 60, 5, 1, 2);          /* 1 a second, bursts of 5 */
    for (int i = 0; i < 5; i++)
        assert_int_equal(TAKE(l, a, 1000), 0);
    long long w = TAKE(l, a, 1000);
    assert_true(w >= 999 && w <= 1000);    /* a token in 1 s */
    assert_int_equal(TAKE(l, b, 1000), 0); /* another address: its own bucket */
    assert_true(TAKE(l, a, 1500) > 0);
    assert_int_equal(TAKE(l, a, 2000), 0); /* refilled */
    assert_true(TAKE(l, a, 2000) > 0);
    /* Never above the burst, however long the wait. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(TAKE(l, a, 1000000), 0);
    assert_true(TAKE(l, a, 1000000) > 0);
    /* A clock going back does not add tokens. */
    assert_true(TAKE(l, a, 500) > 0);
    free(l);
}

static void test_off_and_families(void **state)
{
    (void)state;
    struct iplimit *l = malloc(sizeof *l);
    struct sockaddr_storage a = v4("192.0.2.1"), m = v6("::ffff:192.0.2.1");
    struct sockaddr_storage p1 = v6("2001:db8:1:2::1"), p2 = v6("2001:db8:1:2:ffff::9"),
                            other = v6("2001:db8:1:3::1");
    struct sockaddr_storage unix_ss;
    memset(&unix_ss, 0, sizeof unix_ss);
    unix_ss.ss_family = AF_UNIX;

    iplimit_init(l, 0, 1, 1, 2);            /* 0: no limit */
    for (int i = 0; i < 100; i++)
        assert_int_equal(TAKE(l, a, 0), 0);

    iplimit_init(l, 60, 1, 1, 2);
    assert_int_equal(TAKE(l, a, 0), 0);
    assert_true(TAKE(l, m, 0) > 0);         /* v4-mapped is the same address */
    assert_int_equal(TAKE(l, p1, 0), 0);
    assert_true(TAKE(l, p2, 0) > 0);        /* the same /64 */
    assert_int_equal(TAKE(l, other, 0), 0); /* another /64 */
    for (int i = 0; i < 10; i++)
        assert_int_equal(TAKE(l, unix_ss, 0), 0);   /* not an IP: not limited */
    assert_int_equal(iplimit_take(l, NULL, 0), 0);
    free(l);
}

/* Far more addresses than slots: the table stays its size, and an address
 * hammering all along keeps its (empty) bucket, since the full buckets of
 * addresses seen once are the ones forgotten. */
static void test_full_table(void **state)
{
    (void)state;
    struct iplimit *l = malloc(sizeof *l);
    struct sockaddr_storage hot = v4("198.51.100.7");
    char text[32];

    iplimit_init(l, 60, 3, 7, 9);
    for (int i = 0; i < 3; i++)
        assert_int_equal(TAKE(l, hot, 0), 0);
    int refused = 0;
    for (int i = 0; i < 20 * IPLIMIT_SLOTS; i++) {
        snprintf(text, sizeof text, "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
        struct sockaddr_storage x = v4(text);
        assert_int_equal(TAKE(l, x, 0), 0);  /* a first request is always allowed */
        if (i % 64 == 0)
            refused += TAKE(l, hot, 0) > 0;
    }
    assert_int_equal(refused, 20 * IPLIMIT_SLOTS / 64);
    free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_and_refill),
        cmocka_unit_test(test_off_and_families),
        cmocka_unit_test(test_full_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
