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

#include "serve/connect_link.h"

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
    char sig[CONNECT_LINK_SIG_B64];
    keys_with(&k, 1);
    /* python3 -c 'import hmac,hashlib,base64; print(base64.urlsafe_b64encode(hmac.new(
     *   bytes(range(32)), b"connect\nalice\n\n\n2000000000", hashlib.sha256).digest()))' */
    assert_int_equal(connect_link_sign(&k, "alice", NULL, NULL, 2000000000LL, sig), 0);
    assert_string_equal(sig, "12IdGbGZiXiW8aEe_lrkrnfL8ZfSq1kKUGUqnqFijHU");
    assert_int_equal(connect_link_sign(&k, "alice", "app1", RT, 2000000000LL, sig), 0);
    assert_string_equal(sig, "9DLMw5fpwHg87leGdnQ0zB70181jlGsU0-lc1wt5ZQk");
    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT, EXP, sig, NOW), CONNECT_LINK_OK);
    /* "" and absent are the same parameter. */
    assert_int_equal(connect_link_verify(&k, "alice", "", "", EXP,
                                     "12IdGbGZiXiW8aEe_lrkrnfL8ZfSq1kKUGUqnqFijHU", NOW), CONNECT_LINK_OK);
    assert_int_equal(connect_link_verify(&k, "alice", NULL, NULL, EXP,
                                     "12IdGbGZiXiW8aEe_lrkrnfL8ZfSq1kKUGUqnqFijHU=", NOW), CONNECT_LINK_OK);
    struct oauth_keys none = {.n = 0};
    assert_int_equal(connect_link_sign(&none, "alice", NULL, NULL, 1, sig), -1);
}

static void test_refusals(void **state)
{
    (void)state;
    struct oauth_keys k;
    char sig[CONNECT_LINK_SIG_B64], bad[CONNECT_LINK_SIG_B64], exp[24];
    keys_with(&k, 1);
    assert_int_equal(connect_link_sign(&k, "alice", "app1", RT, 2000000000LL, sig), 0);

    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT, NULL, sig, NOW), CONNECT_LINK_MISSING);
    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT, EXP, NULL, NOW), CONNECT_LINK_MISSING);
    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT, "", "", NOW), CONNECT_LINK_MISSING);
    /* Another user, app, return_to or exp: the signature does not cover it. */
    assert_int_equal(connect_link_verify(&k, "mallory", "app1", RT, EXP, sig, NOW), CONNECT_LINK_BAD_SIGNATURE);
    assert_int_equal(connect_link_verify(&k, "alice", "app2", RT, EXP, sig, NOW), CONNECT_LINK_BAD_SIGNATURE);
    assert_int_equal(connect_link_verify(&k, "alice", NULL, RT, EXP, sig, NOW), CONNECT_LINK_BAD_SIGNATURE);
    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT "2", EXP, sig, NOW), CONNECT_LINK_BAD_SIGNATURE);
    assert_int_equal(connect_link_verify(&k, "alice", "app1", NULL, EXP, sig, NOW), CONNECT_LINK_BAD_SIGNATURE);
    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT, "2000000001", sig, NOW), CONNECT_LINK_BAD_SIGNATURE);
    /* Field boundaries are part of the message: moving text between fields fails. */
    assert_int_equal(connect_link_verify(&k, "alice", "app1", "", "https://app.example.com/s?x=1\n2000000000",
                                     sig, NOW), CONNECT_LINK_MALFORMED);
    /* Every single changed character of the signature. */
    for (size_t i = 0; i < 43; i++) {
        memcpy(bad, sig, sizeof bad);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        enum connect_link_verdict v = connect_link_verify(&k, "alice", "app1", RT, EXP, bad, NOW);
        assert_true(v == CONNECT_LINK_BAD_SIGNATURE || v == CONNECT_LINK_MALFORMED);
    }
    /* Malformed: exp not canonical decimal, sig not 32 bytes of base64url. */
    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT, "02000000000", sig, NOW), CONNECT_LINK_MALFORMED);
    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT, "+2000000000", sig, NOW), CONNECT_LINK_MALFORMED);
    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT, "2e9", sig, NOW), CONNECT_LINK_MALFORMED);
    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT, "99999999999999999999", sig, NOW),
                     CONNECT_LINK_MALFORMED);
    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT, EXP, "abc", NOW), CONNECT_LINK_MALFORMED);
    memcpy(bad, sig, sizeof bad);
    bad[10] = '+';
    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT, EXP, bad, NOW), CONNECT_LINK_MALFORMED);
    assert_int_equal(connect_link_verify(&k, "a{b", "app1", RT, EXP, sig, NOW), CONNECT_LINK_MALFORMED);
    assert_int_equal(connect_link_verify(&k, "alice", "a\nb", RT, EXP, sig, NOW), CONNECT_LINK_MALFORMED);

    /* Time: signed links only. Expired one second after exp; at most
     * 15 minutes (+ the skew allowance) ahead. */
    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT, EXP, sig, 2000000000LL), CONNECT_LINK_OK);
    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT, EXP, sig, 2000000001LL), CONNECT_LINK_EXPIRED);
    long long now = 2000000000LL - CONNECT_LINK_MAX_AHEAD_S - CONNECT_LINK_SKEW_S;
    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT, EXP, sig, now), CONNECT_LINK_OK);
    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT, EXP, sig, now - 1), CONNECT_LINK_TOO_FAR_AHEAD);
    snprintf(exp, sizeof exp, "%lld", NOW + 86400);
    assert_int_equal(connect_link_sign(&k, "alice", NULL, NULL, NOW + 86400, sig), 0);
    assert_int_equal(connect_link_verify(&k, "alice", NULL, NULL, exp, sig, NOW), CONNECT_LINK_TOO_FAR_AHEAD);

    assert_string_equal(connect_link_reason(CONNECT_LINK_OK), "ok");
    assert_string_equal(connect_link_reason(CONNECT_LINK_BAD_SIGNATURE), "bad_signature");
    assert_string_equal(connect_link_reason(CONNECT_LINK_TOO_FAR_AHEAD), "too_far_ahead");
}

static void test_rotation(void **state)
{
    (void)state;
    struct oauth_keys old, both, other;
    char sig_old[CONNECT_LINK_SIG_B64], sig_new[CONNECT_LINK_SIG_B64];
    keys_with(&both, 2);                 /* 0x41... then 00 01 .. 1f */
    memset(&old, 0, sizeof old);
    memset(old.key[0], 0x41, 32);
    old.n = 1;
    assert_int_equal(connect_link_sign(&old, "alice", NULL, NULL, 2000000000LL, sig_old), 0);
    assert_int_equal(connect_link_sign(&both, "alice", NULL, NULL, 2000000000LL, sig_new), 0);
    assert_string_equal(sig_new, "12IdGbGZiXiW8aEe_lrkrnfL8ZfSq1kKUGUqnqFijHU");   /* the last key signs */
    assert_int_equal(connect_link_verify(&both, "alice", NULL, NULL, EXP, sig_old, NOW), CONNECT_LINK_OK);
    assert_int_equal(connect_link_verify(&both, "alice", NULL, NULL, EXP, sig_new, NOW), CONNECT_LINK_OK);
    memset(&other, 0, sizeof other);
    memset(other.key[0], 0x99, 32);
    other.n = 1;
    assert_int_equal(connect_link_verify(&other, "alice", NULL, NULL, EXP, sig_new, NOW), CONNECT_LINK_BAD_SIGNATURE);
}

static void test_url(void **state)
{
    (void)state;
    struct oauth_keys k;
    keys_with(&k, 1);
    char *u = connect_link_url(&k, "https://sw.example.com/base//", "alice", NULL, NULL, 2000000000LL);
    assert_non_null(u);
    assert_string_equal(u, "https://sw.example.com/base/connect?user=alice&exp=2000000000"
                           "&sig=12IdGbGZiXiW8aEe_lrkrnfL8ZfSq1kKUGUqnqFijHU");
    free(u);
    u = connect_link_url(&k, "http://127.0.0.1:8080", "alice", "app1", RT, 2000000000LL);
    assert_non_null(u);
    assert_string_equal(u, "http://127.0.0.1:8080/connect?user=alice&app=app1"
                           "&return_to=https%3A%2F%2Fapp.example.com%2Fs%3Fx%3D1&exp=2000000000"
                           "&sig=9DLMw5fpwHg87leGdnQ0zB70181jlGsU0-lc1wt5ZQk");
    free(u);
    assert_null(connect_link_url(&k, "http://x", "bad user", NULL, NULL, 1));
    assert_null(connect_link_url(&k, "http://x", "alice", "a*b", NULL, 1));
}

/* show_dialog=1 is signed: its own vector (Python's hmac), and the flag can
 * be neither added to a signed link nor taken off one. */
static void test_show_dialog(void **state)
{
    (void)state;
    struct oauth_keys k;
    char sig[CONNECT_LINK_SIG_B64], plain[CONNECT_LINK_SIG_B64];

    keys_with(&k, 1);
    assert_int_equal(connect_link_sign_dialog(&k, "alice", "app1", RT, 1, 2000000000LL, sig), 0);
    assert_string_equal(sig, "RGJpnQ_V0a6CDURQVGJcQx55PxK18P4bXr02_a1r43U");
    assert_int_equal(connect_link_verify_dialog(&k, "alice", "app1", RT, 1, EXP, sig, NOW), CONNECT_LINK_OK);
    assert_int_equal(connect_link_verify_dialog(&k, "alice", "app1", RT, 0, EXP, sig, NOW),
                     CONNECT_LINK_BAD_SIGNATURE);
    assert_int_equal(connect_link_verify(&k, "alice", "app1", RT, EXP, sig, NOW), CONNECT_LINK_BAD_SIGNATURE);
    assert_int_equal(connect_link_sign(&k, "alice", "app1", RT, 2000000000LL, plain), 0);
    assert_int_equal(connect_link_verify_dialog(&k, "alice", "app1", RT, 1, EXP, plain, NOW),
                     CONNECT_LINK_BAD_SIGNATURE);
    assert_int_equal(connect_link_verify_dialog(&k, "alice", "app1", RT, 0, EXP, plain, NOW), CONNECT_LINK_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_show_dialog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
