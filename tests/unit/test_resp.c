/* test_resp: the one-pass RESP formatter (src/redis/resp.c) against
 * hiredis's own redisFormatCommandArgv, byte for byte: lengths across digit
 * boundaries, empty and binary arguments, the head + tail split, more
 * arguments than the stack holds, and the caller's buffer used or not. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "redis/resp.h"

/* check formats argv split at `split` and compares with hiredis. */
static void check(int argc, const char **argv, const size_t *lens, int split)
{
    char *want = NULL, *got, small[64];
    long long wlen = redisFormatCommandArgv(&want, argc, argv, lens);
    size_t glen = 0;
    struct resp_args head = {split, argv, lens}, tail = {argc - split, argv + split, lens ? lens + split : NULL};

    assert_true(wlen > 0);
    got = resp_format(&head, &tail, &glen);
    assert_non_null(got);
    assert_int_equal(glen, (size_t)wlen);
    assert_memory_equal(got, want, glen);
    free(got);
    /* into the caller's buffer when it fits, a new one when not */
    got = resp_format_into(small, sizeof small, &head, &tail, &glen);
    assert_non_null(got);
    assert_int_equal(glen, (size_t)wlen);
    assert_memory_equal(got, want, glen);
    assert_true((got == small) == (glen <= sizeof small));
    if (got != small)
        free(got);
    redisFreeCommand(want);
}

static void test_like_hiredis(void **state)
{
    static char big[12345];
    const char *argv[3] = {"EVALSHA", "", big};
    size_t sizes[] = {0, 1, 9, 10, 99, 100, 999, 1000, 12345};
    size_t lens[3];
    (void)state;

    memset(big, 'x', sizeof big);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        lens[0] = 7;
        lens[1] = 0;
        lens[2] = sizes[i];
        for (int split = 0; split <= 3; split++)
            check(3, argv, lens, split);
    }
    /* NUL-terminated arguments (lens NULL) */
    const char *plain[4] = {"SET", "k", "v", "0123456789"};
    check(4, plain, NULL, 1);
    check(4, plain, NULL, 4);
    /* binary: a NUL and CRLF inside an argument are data */
    const char *bin[2] = {"SET", "a\0b\r\nc"};
    size_t binlen[2] = {3, 6};
    check(2, bin, binlen, 2);
}

static void test_many_args(void **state)
{
    enum { N = 150 };   /* more than resp.c keeps on the stack */
    const char *argv[N];
    char num[N][8];
    (void)state;

    for (int i = 0; i < N; i++) {
        snprintf(num[i], sizeof num[i], "%d", i * 37);
        argv[i] = num[i];
    }
    check(N, argv, NULL, 3);
    check(N, argv, NULL, 0);
    check(10, argv, NULL, 3);   /* "*10": a two-digit count */
}

static void test_refused(void **state)
{
    struct resp_args bad = {-1, NULL, NULL}, none = {0, NULL, NULL};
    size_t len = 0;
    (void)state;

    assert_null(resp_format(&bad, &none, &len));
    assert_null(resp_format(&none, &bad, &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_like_hiredis),
        cmocka_unit_test(test_many_args),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
