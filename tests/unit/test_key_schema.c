/* test_key_schema: the id alphabet (keys_valid_id, src/redis/key_schema.c),
 * the one checker the CLI, serve and the worker share, and the key names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "redis/key_schema.h"

static void test_valid_ids(void **state)
{
    static const char *good[] = {
        "a", "alice", "u1", "User-42", "user_1", "a.b", "tenant:42", "alice@example.com",
        "a+b", "b64=", "550e8400-e29b-41d4-a716-446655440000", "app1", "0", "-", "ABCxyz789._:@+=-",
    };
    char max[ID_MAX + 2];
    (void)state;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!keys_valid_id(good[i]))
            fail_msg("'%s' refused", good[i]);
    memset(max, 'x', ID_MAX);
    max[ID_MAX] = '\0';
    assert_true(keys_valid_id(max));
    max[ID_MAX] = 'x';
    max[ID_MAX + 1] = '\0';
    assert_false(keys_valid_id(max));
}

/* Glob characters would let PSUBSCRIBE <p>playback:<id> (or an ACL pattern
 * built from an id) match other users; braces move the hash tag. */
static void test_refused_ids(void **state)
{
    static const char *bad[] = {
        "", "p?", "a[b]", "a[", "]", "*", "a*", "{x}", "a{", "}", "a\\b", "a b", " ", "a\tb", "a\nb",
        "\x1b[31m", "\x7f", "caf\xc3\xa9", "a/b", "a,b", "a;b", "a\"b", "a'b", "a#b", "a%b", "a!b",
        "a^b", "a|b", "a$b", "a&b", "a(b)", "a<b>", "a~b", "`",
    };
    (void)state;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (keys_valid_id(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
}

static void test_keys(void **state)
{
    struct app_keys k;
    char out[KEY_MAX];
    (void)state;

    keys_app(&k, "sw:", "app1");
    assert_string_equal(k.due, "sw:{app1}:due");
    assert_string_equal(k.user_prefix, "sw:{app1}:user:");
    keys_user(out, sizeof out, "sw:", "app1", "alice");
    assert_string_equal(out, "sw:{app1}:user:alice");
    keys_channel(out, sizeof out, "sw:", "alice");
    assert_string_equal(out, "sw:playback:alice");
    keys_global(out, sizeof out, "sw:", "users");
    assert_string_equal(out, "sw:users");
}

/* keys_user and keys_channel cut a key too long for out as snprintf does. */
static void test_keys_truncated(void **state)
{
    char got[40], want[40];
    (void)state;

    for (size_t n = 1; n <= sizeof got; n++) {
        memset(got, '#', sizeof got);
        keys_user(got, n, "sw:", "app1", "alice-with-a-long-name");
        snprintf(want, n, "%s{%s}:user:%s", "sw:", "app1", "alice-with-a-long-name");
        assert_string_equal(got, want);
        keys_channel(got, n, "sw:", "alice-with-a-long-name");
        snprintf(want, n, "%splayback:%s", "sw:", "alice-with-a-long-name");
        assert_string_equal(got, want);
    }
    memset(got, '#', sizeof got);
    keys_user(got, 0, "sw:", "app1", "alice");
    assert_int_equal(got[0], '#');   /* n == 0: nothing written */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_ids),
        cmocka_unit_test(test_refused_ids),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_keys_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
