/* test_connlink: signed /connect links: known vectors (computed with Python's
 * hmac module, as the README tells web apps to), every refusal, key rotation
 * and the minted URL. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connlink.h"

#define NOW 1999999500LL   /* exp is 500 s ahead */
#define EXP "2000000000"
#define RT "https://app.example.com/s?x=1"

/* Key bytes 00 01 .. 1f as the last key; older keys 0x41.. before it. */
static void keys_with(struct oauth_keys *k, int n)
{
    memset(k, 0, sizeof *k);
    for (int i = 0; i < n - 1; i++)
        memset(k->key[i], 0x41 + i, 32);
    for (int b = 0; b < 32; b++)
        k->key[n - 1][b] = (unsigned char)b;
    k->n = n;
}

static void test_vectors(void **state)
{
    (void)state;
    struct oauth_keys k;
    char sig[CONNLINK_SIG_B64];
    keys_with(&k, 1);
    /* python3 -c 'import hmac,hashlib,base64; print(base64.urlsafe_b64encode(hmac.new(
     *   bytes(range(32)), b"connect\nalice\n\n\n2000000000", hashlib.sha256).digest()))' */
    assert_int_equal(connlink_sign(&k, "alice", NULL, NULL, 2000000000LL, sig), 0);
    assert_string_equal(sig, "12IdGbGZiXiW8aEe_lrkrnfL8ZfSq1kKUGUqnqFijHU");
    assert_int_equal(connlink_sign(&k, "alice", "app1", RT, 2000000000LL, sig), 0);
    assert_string_equal(sig, "9DLMw5fpwHg87leGdnQ0zB70181jlGsU0-lc1wt5ZQk");
    assert_int_equal(connlink_verify(&k, "alice", "app1", RT, EXP, sig, NOW), CONNLINK_OK);
    /* "" and absent are the same parameter. */
    assert_int_equal(connlink_verify(&k, "alice", "", "", EXP,
                                     "12IdGbGZiXiW8aEe_lrkrnfL8ZfSq1kKUGUqnqFijHU", NOW), CONNLINK_OK);
    assert_int_equal(connlink_verify(&k, "alice", NULL, NULL, EXP,
                                     "12IdGbGZiXiW8aEe_lrkrnfL8ZfSq1kKUGUqnqFijHU=", NOW), CONNLINK_OK);
    struct oauth_keys none = {.n = 0};
    assert_int_equal(connlink_sign(&none, "alice", NULL, NULL, 1, sig), -1);
}

static void test_refusals(void **state)
{
    (void)state;
    struct oauth_keys k;
    char sig[CONNLINK_SIG_B64], bad[CONNLINK_SIG_B64], exp[24];
    keys_with(&k, 1);
    assert_int_equal(connlink_sign(&k, "alice", "app1", RT, 2000000000LL, sig), 0);

    assert_int_equal(connlink_verify(&k, "alice", "app1", RT, NULL, sig, NOW), CONNLINK_MISSING);
    assert_int_equal(connlink_verify(&k, "alice", "app1", RT, EXP, NULL, NOW), CONNLINK_MISSING);
    assert_int_equal(connlink_verify(&k, "alice", "app1", RT, "", "", NOW), CONNLINK_MISSING);
    /* Another user, app, return_to or exp: the signature does not cover it. */
    assert_int_equal(connlink_verify(&k, "mallory", "app1", RT, EXP, sig, NOW), CONNLINK_BAD_SIGNATURE);
    assert_int_equal(connlink_verify(&k, "alice", "app2", RT, EXP, sig, NOW), CONNLINK_BAD_SIGNATURE);
    assert_int_equal(connlink_verify(&k, "alice", NULL, RT, EXP, sig, NOW), CONNLINK_BAD_SIGNATURE);
    assert_int_equal(connlink_verify(&k, "alice", "app1", RT "2", EXP, sig, NOW), CONNLINK_BAD_SIGNATURE);
    assert_int_equal(connlink_verify(&k, "alice", "app1", NULL, EXP, sig, NOW), CONNLINK_BAD_SIGNATURE);
    assert_int_equal(connlink_verify(&k, "alice", "app1", RT, "2000000001", sig, NOW), CONNLINK_BAD_SIGNATURE);
    /* Field boundaries are part of the message: moving text between fields fails. */
    assert_int_equal(connlink_verify(&k, "alice", "app1", "", "https://app.example.com/s?x=1\n2000000000",
                                     sig, NOW), CONNLINK_MALFORMED);
    /* Every single changed character of the signature. */
    for (size_t i = 0; i < 43; i++) {
        memcpy(bad, sig, sizeof bad);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        enum connlink_verdict v = connlink_verify(&k, "alice", "app1", RT, EXP, bad, NOW);
        assert_true(v == CONNLINK_BAD_SIGNATURE || v == CONNLINK_MALFORMED);
    }
    /* Malformed: exp not canonical decimal, sig not 32 bytes of base64url. */
    assert_int_equal(connlink_verify(&k, "alice", "app1", RT, "02000000000", sig, NOW), CONNLINK_MALFORMED);
    assert_int_equal(connlink_verify(&k, "alice", "app1", RT, "+2000000000", sig, NOW), CONNLINK_MALFORMED);
    assert_int_equal(connlink_verify(&k, "alice", "app1", RT, "2e9", sig, NOW), CONNLINK_MALFORMED);
    assert_int_equal(connlink_verify(&k, "alice", "app1", RT, "99999999999999999999", sig, NOW),
                     CONNLINK_MALFORMED);
    assert_int_equal(connlink_verify(&k, "alice", "app1", RT, EXP, "abc", NOW), CONNLINK_MALFORMED);
    memcpy(bad, sig, sizeof bad);
    bad[10] = '+';
    assert_int_equal(connlink_verify(&k, "alice", "app1", RT, EXP, bad, NOW), CONNLINK_MALFORMED);
    assert_int_equal(connlink_verify(&k, "a{b", "app1", RT, EXP, sig, NOW), CONNLINK_MALFORMED);
    assert_int_equal(connlink_verify(&k, "alice", "a\nb", RT, EXP, sig, NOW), CONNLINK_MALFORMED);

    /* Time: signed links only. Expired one second after exp; at most
     * 15 minutes (+ the skew allowance) ahead. */
    assert_int_equal(connlink_verify(&k, "alice", "app1", RT, EXP, sig, 2000000000LL), CONNLINK_OK);
    assert_int_equal(connlink_verify(&k, "alice", "app1", RT, EXP, sig, 2000000001LL), CONNLINK_EXPIRED);
    long long now = 2000000000LL - CONNLINK_MAX_AHEAD_S - CONNLINK_SKEW_S;
    assert_int_equal(connlink_verify(&k, "alice", "app1", RT, EXP, sig, now), CONNLINK_OK);
    assert_int_equal(connlink_verify(&k, "alice", "app1", RT, EXP, sig, now - 1), CONNLINK_TOO_FAR_AHEAD);
    snprintf(exp, sizeof exp, "%lld", NOW + 86400);
    assert_int_equal(connlink_sign(&k, "alice", NULL, NULL, NOW + 86400, sig), 0);
    assert_int_equal(connlink_verify(&k, "alice", NULL, NULL, exp, sig, NOW), CONNLINK_TOO_FAR_AHEAD);

    assert_string_equal(connlink_reason(CONNLINK_OK), "ok");
    assert_string_equal(connlink_reason(CONNLINK_BAD_SIGNATURE), "bad_signature");
    assert_string_equal(connlink_reason(CONNLINK_TOO_FAR_AHEAD), "too_far_ahead");
}

static void test_rotation(void **state)
{
    (void)state;
    struct oauth_keys old, both, other;
    char sig_old[CONNLINK_SIG_B64], sig_new[CONNLINK_SIG_B64];
    keys_with(&both, 2);                 /* 0x41... then 00 01 .. 1f */
    memset(&old, 0, sizeof old);
    memset(old.key[0], 0x41, 32);
    old.n = 1;
    assert_int_equal(connlink_sign(&old, "alice", NULL, NULL, 2000000000LL, sig_old), 0);
    assert_int_equal(connlink_sign(&both, "alice", NULL, NULL, 2000000000LL, sig_new), 0);
    assert_string_equal(sig_new, "12IdGbGZiXiW8aEe_lrkrnfL8ZfSq1kKUGUqnqFijHU");   /* the last key signs */
    assert_int_equal(connlink_verify(&both, "alice", NULL, NULL, EXP, sig_old, NOW), CONNLINK_OK);
    assert_int_equal(connlink_verify(&both, "alice", NULL, NULL, EXP, sig_new, NOW), CONNLINK_OK);
    memset(&other, 0, sizeof other);
    memset(other.key[0], 0x99, 32);
    other.n = 1;
    assert_int_equal(connlink_verify(&other, "alice", NULL, NULL, EXP, sig_new, NOW), CONNLINK_BAD_SIGNATURE);
}

static void test_url(void **state)
{
    (void)state;
    struct oauth_keys k;
    keys_with(&k, 1);
    char *u = connlink_url(&k, "https://sw.example.com/base//", "alice", NULL, NULL, 2000000000LL);
    assert_non_null(u);
    assert_string_equal(u, "https://sw.example.com/base/connect?user=alice&exp=2000000000"
                           "&sig=12IdGbGZiXiW8aEe_lrkrnfL8ZfSq1kKUGUqnqFijHU");
    free(u);
    u = connlink_url(&k, "http://127.0.0.1:8080", "alice", "app1", RT, 2000000000LL);
    assert_non_null(u);
    assert_string_equal(u, "http://127.0.0.1:8080/connect?user=alice&app=app1"
                           "&return_to=https%3A%2F%2Fapp.example.com%2Fs%3Fx%3D1&exp=2000000000"
                           "&sig=9DLMw5fpwHg87leGdnQ0zB70181jlGsU0-lc1wt5ZQk");
    free(u);
    assert_null(connlink_url(&k, "http://x", "bad user", NULL, NULL, 1));
    assert_null(connlink_url(&k, "http://x", "alice", "a*b", NULL, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
