/* test_login_cookie: the cookie that binds a login to its browser (encode,
 * decode, the hash the state signs, the header) and the PKCE verifier
 * derived from it (a known vector, computed with Python's hmac module). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/login_cookie.h"

static void test_roundtrip(void **state)
{
    (void)state;
    struct login_cookie a, b;
    char v[LOGIN_COOKIE_VALUE_MAX];

    assert_int_equal(login_cookie_new(&a, NULL), 0);
    assert_int_equal(login_cookie_encode(&a, v), 43);
    assert_null(strchr(v, '.'));
    assert_int_equal(login_cookie_decode(v, &b), 0);
    assert_memory_equal(a.secret, b.secret, LOGIN_COOKIE_SECRET);
    assert_string_equal(b.return_to, "");

    assert_int_equal(login_cookie_new(&a, "https://app.example.com/s?x=1&y=%C3%A9"), 0);
    login_cookie_encode(&a, v);
    assert_int_equal(strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."), strlen(v));
    assert_int_equal(login_cookie_decode(v, &b), 0);
    assert_string_equal(b.return_to, "https://app.example.com/s?x=1&y=%C3%A9");

    /* Fresh secrets. */
    struct login_cookie c;
    assert_int_equal(login_cookie_new(&c, NULL), 0);
    assert_memory_not_equal(a.secret, c.secret, LOGIN_COOKIE_SECRET);

    /* The longest return_to fits; one byte more, or a control character, does not. */
    char rt[LOGIN_COOKIE_RETURN_TO_MAX + 2];
    memset(rt, 'a', sizeof rt - 1);
    rt[LOGIN_COOKIE_RETURN_TO_MAX] = '\0';
    assert_int_equal(login_cookie_new(&a, rt), 0);
    assert_true(login_cookie_encode(&a, v) < LOGIN_COOKIE_VALUE_MAX);
    assert_int_equal(login_cookie_decode(v, &b), 0);
    assert_string_equal(b.return_to, rt);
    rt[LOGIN_COOKIE_RETURN_TO_MAX] = 'a';
    rt[LOGIN_COOKIE_RETURN_TO_MAX + 1] = '\0';
    assert_int_equal(login_cookie_new(&a, rt), -1);
    assert_int_equal(login_cookie_new(&a, "https://x/\n"), -1);
}

static void test_decode_refuses(void **state)
{
    (void)state;
    struct login_cookie lc;
    static const char *const bad[] = {
        "", "abc", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",         /* 31.5 bytes */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",                    /* 33 bytes */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.",                    /* empty return_to */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AA",                  /* a NUL in it */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.a+b",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(login_cookie_decode(bad[i], &lc), -1);
    assert_int_equal(login_cookie_decode(NULL, &lc), -1);
    assert_int_equal(login_cookie_decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &lc), 0);
}

static void test_hash_and_match(void **state)
{
    (void)state;
    struct oauth_state st;
    char v[LOGIN_COOKIE_VALUE_MAX], w[LOGIN_COOKIE_VALUE_MAX];
    struct login_cookie lc;

    memset(&st, 0, sizeof st);
    assert_int_equal(login_cookie_new(&lc, "https://app.example.com/"), 0);
    login_cookie_encode(&lc, v);
    login_cookie_hash(v, st.cookie_hash);
    assert_int_equal(login_cookie_matches(v, &st), 1);
    /* Every one-character change, a cut, an addition: no match. */
    for (size_t i = 0; v[i]; i++) {
        memcpy(w, v, sizeof v);
        w[i] = w[i] == 'A' ? 'B' : 'A';
        assert_int_equal(login_cookie_matches(w, &st), 0);
    }
    memcpy(w, v, sizeof v);
    w[strlen(w) - 1] = '\0';
    assert_int_equal(login_cookie_matches(w, &st), 0);
    assert_int_equal(login_cookie_matches(NULL, &st), 0);
    assert_int_equal(login_cookie_matches("", &st), 0);
}

static void test_name_and_header(void **state)
{
    (void)state;
    char name[LOGIN_COOKIE_NAME_MAX];
    login_cookie_name("AAAAAAAAAAAAAAAAAAAAAA", 0, name);
    assert_string_equal(name, "sw_login_AAAAAAAAAAAAAAAAAAAAAA");
    login_cookie_name("AAAAAAAAAAAAAAAAAAAAAA", 1, name);
    assert_string_equal(name, "__Secure-sw_login_AAAAAAAAAAAAAAAAAAAAAA");

    char *h = login_cookie_header("n", "v", "/base/callback", 600, 0);
    assert_string_equal(h, "n=v; Path=/base/callback; Max-Age=600; HttpOnly; SameSite=Lax");
    free(h);
    h = login_cookie_header("n", "v", "/callback", 600, 1);
    assert_string_equal(h, "n=v; Path=/callback; Max-Age=600; HttpOnly; SameSite=Lax; Secure");
    free(h);
}

static void test_verifier(void **state)
{
    (void)state;
    struct oauth_keys k;
    unsigned char nonce[OAUTH_NONCE_LEN], secret[LOGIN_COOKIE_SECRET];
    char v[OAUTH_VERIFIER_B64], w[OAUTH_VERIFIER_B64];

    memset(&k, 0, sizeof k);
    memset(k.key[0], 0x41, 32);
    memset(k.key[1], 0x42, 32);
    k.n = 2;
    for (int i = 0; i < OAUTH_NONCE_LEN; i++)
        nonce[i] = (unsigned char)i;
    for (int i = 0; i < LOGIN_COOKIE_SECRET; i++)
        secret[i] = (unsigned char)(100 + i);
    assert_int_equal(login_cookie_verifier(&k, 0, nonce, secret, v), 0);
    assert_string_equal(v, "qrB-MbYWB9QoaKfyRsBKckWkowM-VYDtwoc5XuRRX-w");
    /* Another key, nonce or secret: another verifier. */
    assert_int_equal(login_cookie_verifier(&k, 1, nonce, secret, w), 0);
    assert_string_not_equal(v, w);
    secret[0] ^= 1;
    assert_int_equal(login_cookie_verifier(&k, 0, nonce, secret, w), 0);
    assert_string_not_equal(v, w);
    assert_int_equal(login_cookie_verifier(&k, 2, nonce, secret, w), -1);
    assert_int_equal(login_cookie_verifier(&k, -1, nonce, secret, w), -1);
    assert_int_equal(login_cookie_verifier(NULL, 0, nonce, secret, w), -1);
}

/* The state made and verified with the cookie's hash: it comes back, and a
 * state verified by an older key says which (the verifier needs it). */
static void test_state_commits(void **state)
{
    (void)state;
    struct oauth_keys k;
    struct oauth_state st, got;
    char s[OAUTH_STATE_MAX], err[64];

    memset(&k, 0, sizeof k);
    memset(k.key[0], 0x41, 32);
    k.n = 1;
    memset(&st, 0, sizeof st);
    snprintf(st.app, sizeof st.app, "app1");
    snprintf(st.user, sizeof st.user, "alice");
    st.exp_ms = 1790000000000LL;
    login_cookie_hash("some cookie", st.cookie_hash);
    assert_int_equal(oauth_state_make(&k, &st, 1, s, sizeof s), 0);
    assert_int_equal(st.key_index, 0);
    memset(k.key[1], 0x42, 32);
    k.n = 2;
    assert_int_equal(oauth_state_verify(&k, s, &got, err, sizeof err), 0);
    assert_int_equal(got.key_index, 0);
    assert_int_equal(login_cookie_matches("some cookie", &got), 1);
    assert_int_equal(login_cookie_matches("another cookie", &got), 0);
    assert_int_equal(oauth_state_make(&k, &st, 1, s, sizeof s), 0);
    assert_int_equal(oauth_state_verify(&k, s, &got, err, sizeof err), 0);
    assert_int_equal(got.key_index, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_decode_refuses),
        cmocka_unit_test(test_hash_and_match),
        cmocka_unit_test(test_name_and_header),
        cmocka_unit_test(test_verifier),
        cmocka_unit_test(test_state_commits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
