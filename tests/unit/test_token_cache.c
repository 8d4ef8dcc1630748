/* test_token_cache: the worker's cache of opened access tokens
 * (include/worker/token_cache.h): served only for the very sealed value it
 * was opened from, replaced when the user's value changes, dropped on
 * demand, bounded, and an idle entry taken over only once idle. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/token_cache.h"

static const char sealed_a[] = "\x02\x01nonce-of-a.....ciphertext-of-the-first-token.......tag-of-a-16bytes";

static void test_hit_only_for_the_same_value(void **state)
{
    struct token_cache *c = token_cache_new(42);
    char other[sizeof sealed_a];
    (void)state;

    assert_non_null(c);
    assert_null(token_cache_get(c, "app1", "alice", sealed_a, 1.0));
    token_cache_put(c, "app1", "alice", sealed_a, "TOKEN-A", 1.0);
    assert_string_equal(token_cache_get(c, "app1", "alice", sealed_a, 2.0), "TOKEN-A");
    /* another app's user of that id, another user: not theirs */
    assert_null(token_cache_get(c, "app2", "alice", sealed_a, 2.0));
    assert_null(token_cache_get(c, "app1", "bob", sealed_a, 2.0));
    /* one byte changed anywhere (a refresh elsewhere seals anew; or
     * tampering): a miss, so crypto opens it (or refuses it) */
    for (size_t i = 0; i < sizeof sealed_a - 1; i++) {
        memcpy(other, sealed_a, sizeof sealed_a);
        other[i] ^= 0x20;
        assert_null(token_cache_get(c, "app1", "alice", other, 3.0));
    }
    memcpy(other, sealed_a, sizeof sealed_a);
    other[sizeof sealed_a - 2] = '\0';   /* shorter */
    assert_null(token_cache_get(c, "app1", "alice", other, 3.0));
    /* the user's new value replaces the old: one entry a user */
    memcpy(other, sealed_a, sizeof sealed_a);
    other[5] = 'X';
    token_cache_put(c, "app1", "alice", other, "TOKEN-B", 4.0);
    assert_int_equal(token_cache_count(c), 1);
    assert_null(token_cache_get(c, "app1", "alice", sealed_a, 4.0));
    assert_string_equal(token_cache_get(c, "app1", "alice", other, 4.0), "TOKEN-B");
    /* a 401: dropped */
    token_cache_drop(c, "app1", "alice");
    assert_null(token_cache_get(c, "app1", "alice", other, 5.0));
    assert_int_equal(token_cache_count(c), 0);
    token_cache_drop(c, "app1", "nobody");
    token_cache_free(c);
    token_cache_free(NULL);
}

/* Bounded: however many users, at most TOKEN_CACHE_SLOTS entries; an entry
 * in use is kept, one idle for TOKEN_CACHE_IDLE_S is taken over. */
static void test_bounded_and_idle(void **state)
{
    struct token_cache *c = token_cache_new(7);
    char user[32], tok[32];
    int kept = 0;
    (void)state;

    for (int i = 0; i < 4 * TOKEN_CACHE_SLOTS; i++) {
        snprintf(user, sizeof user, "u%06d", i);
        snprintf(tok, sizeof tok, "T%d", i);
        token_cache_put(c, "app", user, sealed_a, tok, 10.0);
    }
    assert_true(token_cache_count(c) <= TOKEN_CACHE_SLOTS);
    assert_true(token_cache_count(c) > TOKEN_CACHE_SLOTS / 2);
    /* the first users keep their entries against newcomers while in use */
    for (int i = 0; i < 4 * TOKEN_CACHE_SLOTS; i++) {
        snprintf(user, sizeof user, "u%06d", i);
        snprintf(tok, sizeof tok, "T%d", i);
        const char *t = token_cache_get(c, "app", user, sealed_a, 10.0 + TOKEN_CACHE_IDLE_S / 2);
        if (t != NULL) {
            assert_string_equal(t, tok);
            kept++;
        }
    }
    assert_int_equal(kept, (int)token_cache_count(c));
    /* a newcomer waits while they are in use ... */
    token_cache_put(c, "app", "newcomer", sealed_a, "N", 10.0 + TOKEN_CACHE_IDLE_S / 2);
    /* (unless its set had room) */
    size_t before = token_cache_count(c);
    /* ... and takes over once they have been idle long enough */
    token_cache_put(c, "app", "late", sealed_a, "L", 10.0 + TOKEN_CACHE_IDLE_S * 2);
    assert_string_equal(token_cache_get(c, "app", "late", sealed_a, 10.0 + TOKEN_CACHE_IDLE_S * 2), "L");
    assert_true(token_cache_count(c) >= before);
    assert_true(token_cache_count(c) <= TOKEN_CACHE_SLOTS);
    token_cache_free(c);
}

/* Too long to keep: not cached, and no older entry of the user survives. */
static void test_too_long(void **state)
{
    struct token_cache *c = token_cache_new(1);
    char *big = malloc(TOKEN_CACHE_TOKEN_MAX + 2);
    (void)state;

    memset(big, 'a', TOKEN_CACHE_TOKEN_MAX + 1);
    big[TOKEN_CACHE_TOKEN_MAX + 1] = '\0';
    token_cache_put(c, "app", "alice", sealed_a, "OLD", 1.0);
    token_cache_put(c, "app", "alice", "other-sealed", big, 2.0);
    assert_null(token_cache_get(c, "app", "alice", sealed_a, 2.0));
    assert_null(token_cache_get(c, "app", "alice", "other-sealed", 2.0));
    assert_int_equal(token_cache_count(c), 0);
    free(big);
    token_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_only_for_the_same_value),
        cmocka_unit_test(test_bounded_and_idle),
        cmocka_unit_test(test_too_long),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
