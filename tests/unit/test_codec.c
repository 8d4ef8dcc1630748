/* test_codec: percent-encoding, the Basic Authorization header, hex digits
 * (src/base/codec.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"

static void test_form_encode(void **state)
{
    char *s;

    (void)state;
    s = codec_form_encode("AZaz09-._~");
    assert_string_equal(s, "AZaz09-._~");
    free(s);
    s = codec_form_encode("a b+c&d=e/f?g%h");
    assert_string_equal(s, "a+b%2Bc%26d%3De%2Ff%3Fg%25h");
    free(s);
    s = codec_form_encode("http://127.0.0.1:8080/callback");
    assert_string_equal(s, "http%3A%2F%2F127.0.0.1%3A8080%2Fcallback");
    free(s);
    s = codec_form_encode("\xc3\xa9\x01\x7f");
    assert_string_equal(s, "%C3%A9%01%7F");
    free(s);
    s = codec_form_encode("");
    assert_string_equal(s, "");
    free(s);
    s = codec_form_encode(NULL);
    assert_string_equal(s, "");
    free(s);
}

static void test_pct_encode(void **state)
{
    char *s;

    (void)state;
    /* As codec_form_encode, but a space is %20 and '+' stays encoded. */
    s = codec_pct_encode("AZaz09-._~");
    assert_string_equal(s, "AZaz09-._~");
    free(s);
    s = codec_pct_encode("a b+c&d=e/f?g%h");
    assert_string_equal(s, "a%20b%2Bc%26d%3De%2Ff%3Fg%25h");
    free(s);
    s = codec_pct_encode("user-read-currently-playing user-read-playback-state");
    assert_string_equal(s, "user-read-currently-playing%20user-read-playback-state");
    free(s);
    s = codec_pct_encode("\xc3\xa9\x01\x7f");
    assert_string_equal(s, "%C3%A9%01%7F");
    free(s);
    s = codec_pct_encode("");
    assert_string_equal(s, "");
    free(s);
    s = codec_pct_encode(NULL);
    assert_string_equal(s, "");
    free(s);
}

static void test_basic_auth(void **state)
{
    char *s;

    (void)state;
    /* The simulator's test app (tests/integration/test_oauth.py). */
    s = codec_basic_auth("cid-app1", "s3cret-app");
    assert_string_equal(s, "Authorization: Basic Y2lkLWFwcDE6czNjcmV0LWFwcA==");
    free(s);
    /* Every padding length; an empty id or secret is still "id:secret". */
    s = codec_basic_auth("u", "p");
    assert_string_equal(s, "Authorization: Basic dTpw");
    free(s);
    s = codec_basic_auth("ab", "p");
    assert_string_equal(s, "Authorization: Basic YWI6cA==");
    free(s);
    s = codec_basic_auth("abc", "p");
    assert_string_equal(s, "Authorization: Basic YWJjOnA=");
    free(s);
    s = codec_basic_auth("", "");
    assert_string_equal(s, "Authorization: Basic Og==");
    free(s);
}

static void test_hex_digit(void **state)
{
    (void)state;
    assert_int_equal(codec_hex_digit('0'), 0);
    assert_int_equal(codec_hex_digit('9'), 9);
    assert_int_equal(codec_hex_digit('a'), 10);
    assert_int_equal(codec_hex_digit('F'), 15);
    assert_int_equal(codec_hex_digit('g'), -1);
    assert_int_equal(codec_hex_digit('/'), -1);
    assert_int_equal(codec_hex_digit(0), -1);
}

/* codec_lltoa writes what snprintf's "%lld" writes, at the edges too. */
static void test_lltoa(void **state)
{
    static const long long vals[] = {0, 1, -1, 9, 10, -10, 99, 100, 12345, -600000, 1796272137200LL,
                                     LLONG_MAX, LLONG_MIN, LLONG_MIN + 1, 1000000000000000000LL};
    char a[CODEC_LL_MAX], b[64];
    (void)state;

    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        int n = snprintf(b, sizeof b, "%lld", vals[i]);
        assert_int_equal(codec_lltoa(vals[i], a), (size_t)n);
        assert_string_equal(a, b);
    }
    for (long long v = -2000; v <= 2000; v += 7) {
        snprintf(b, sizeof b, "%lld", v);
        codec_lltoa(v, a);
        assert_string_equal(a, b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_encode),
        cmocka_unit_test(test_pct_encode),
        cmocka_unit_test(test_basic_auth),
        cmocka_unit_test(test_hex_digit),
        cmocka_unit_test(test_lltoa),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
