/* test_oauth: the signed state, PKCE, the state key file and the URL rules. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve/oauth.h"

static void fixed_keys(struct oauth_keys *k, int n)
{
    memset(k, 0, sizeof *k);
    for (int i = 0; i < n; i++)
        memset(k->key[i], 0x41 + i, 32);
    k->n = n;
}

static void make(const struct oauth_keys *k, const char *app, const char *user, long long exp,
                 char *out, size_t n)
{
    struct oauth_state st = {.exp_ms = exp};
    snprintf(st.app, sizeof st.app, "%s", app);
    snprintf(st.user, sizeof st.user, "%s", user);
    assert_int_equal(oauth_state_make(k, &st, 1, out, n), 0);
}

static void test_b64url(void **state)
{
    (void)state;
    const unsigned char in[] = {0xfb, 0xff, 0x00, 0x10, 0x83};
    char out[16];
    unsigned char back[8];
    for (size_t n = 0; n <= sizeof in; n++) {
        size_t l = oauth_b64url(in, n, out);
        assert_int_equal(strlen(out), l);
        assert_null(strchr(out, '='));
        assert_int_equal(oauth_b64url_decode(out, back, sizeof back), (long)n);
        assert_memory_equal(in, back, n);
    }
    assert_string_equal((oauth_b64url(in, 2, out), out), "-_8");
    assert_int_equal(oauth_b64url_decode("-_9", back, sizeof back), -1);  /* non-zero pad bits */
    assert_int_equal(oauth_b64url_decode("+/8", back, sizeof back), -1);  /* not url-safe */
    assert_int_equal(oauth_b64url_decode("A", back, sizeof back), -1);
    assert_int_equal(oauth_b64url_decode("AAA=", back, sizeof back), -1);
    assert_int_equal(oauth_b64url_decode("AAAAAAAAAAAA", back, 8), -1);   /* overflow */
}

static void test_state_roundtrip(void **state)
{
    (void)state;
    struct oauth_keys k;
    struct oauth_state st = {.exp_ms = 1790000000123LL}, got;
    char s[OAUTH_STATE_MAX], err[64];

    fixed_keys(&k, 1);
    snprintf(st.app, sizeof st.app, "app.1");
    snprintf(st.user, sizeof st.user, "user.with.dots:and:colons");
    assert_int_equal(oauth_state_make(&k, &st, 1, s, sizeof s), 0);
    assert_int_equal(strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."), strlen(s));
    assert_int_equal(oauth_state_verify(&k, s, &got, err, sizeof err), 0);
    assert_string_equal(got.app, "app.1");
    assert_string_equal(got.user, "user.with.dots:and:colons");
    assert_true(got.exp_ms == 1790000000123LL);
    assert_memory_equal(got.nonce, st.nonce, OAUTH_NONCE_LEN);
    assert_string_equal(got.nonce_b64, st.nonce_b64);
    assert_int_equal(strlen(got.nonce_b64), 22);

    /* Fresh nonces: two states for the same login differ. */
    char s2[OAUTH_STATE_MAX];
    make(&k, "app.1", "user.with.dots:and:colons", st.exp_ms, s2, sizeof s2);
    assert_string_not_equal(s, s2);

    /* The longest ids fit. */
    char longid[ID_MAX + 1];
    memset(longid, 'x', ID_MAX);
    longid[ID_MAX] = '\0';
    make(&k, longid, longid, 1, s2, sizeof s2);
    assert_int_equal(oauth_state_verify(&k, s2, &got, err, sizeof err), 0);
    assert_string_equal(got.user, longid);

    /* Invalid ids are refused at creation. */
    struct oauth_state bad = {.exp_ms = 1};
    snprintf(bad.app, sizeof bad.app, "app");
    snprintf(bad.user, sizeof bad.user, "has space");
    assert_int_equal(oauth_state_make(&k, &bad, 1, s2, sizeof s2), -1);
    snprintf(bad.user, sizeof bad.user, "u");
    assert_int_equal(oauth_state_make(&k, &bad, 1, s2, 20), -1);   /* buffer too small */
}

static void test_state_tamper(void **state)
{
    (void)state;
    struct oauth_keys k, other;
    struct oauth_state got;
    char s[OAUTH_STATE_MAX], t[OAUTH_STATE_MAX + 8], err[64];
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";

    fixed_keys(&k, 1);
    make(&k, "app1", "alice", 1790000000000LL, s, sizeof s);
    /* Every character changed to every other character: always refused. */
    for (size_t i = 0; s[i]; i++) {
        for (const char *c = alphabet; *c; c++) {
            if (*c == s[i])
                continue;
            memcpy(t, s, sizeof s);
            t[i] = *c;
            if (oauth_state_verify(&k, t, &got, err, sizeof err) == 0)
                fail_msg("state with char %zu -> '%c' verified", i, *c);
        }
    }
    /* Truncated, extended, empty, no dot, two dots. */
    size_t n = strlen(s);
    memcpy(t, s, n - 1);
    t[n - 1] = '\0';
    assert_int_equal(oauth_state_verify(&k, t, &got, err, sizeof err), -1);
    snprintf(t, sizeof t, "%sA", s);
    assert_int_equal(oauth_state_verify(&k, t, &got, err, sizeof err), -1);
    assert_int_equal(oauth_state_verify(&k, "", &got, err, sizeof err), -1);
    assert_int_equal(oauth_state_verify(&k, "abc", &got, err, sizeof err), -1);
    assert_int_equal(oauth_state_verify(&k, NULL, &got, err, sizeof err), -1);
    snprintf(t, sizeof t, "%s.", s);
    assert_int_equal(oauth_state_verify(&k, t, &got, err, sizeof err), -1);
    /* Another key: refused, and the reason says so. */
    fixed_keys(&other, 1);
    memset(other.key[0], 0x7a, 32);
    assert_int_equal(oauth_state_verify(&other, s, &got, err, sizeof err), -1);
    assert_string_equal(err, "bad signature");
    assert_int_equal(oauth_state_verify(NULL, s, &got, err, sizeof err), -1);
}

static void test_key_rotation(void **state)
{
    (void)state;
    struct oauth_keys old, both;
    struct oauth_state got;
    char s[OAUTH_STATE_MAX], err[64];

    fixed_keys(&old, 1);
    fixed_keys(&both, 2);      /* key[0] == old's key, key[1] is the new current */
    make(&old, "app1", "alice", 5, s, sizeof s);
    assert_int_equal(oauth_state_verify(&both, s, &got, err, sizeof err), 0);
    make(&both, "app1", "alice", 5, s, sizeof s);
    assert_int_equal(oauth_state_verify(&both, s, &got, err, sizeof err), 0);
    assert_int_equal(oauth_state_verify(&old, s, &got, err, sizeof err), -1);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    chmod(path, mode);
}

static void test_key_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/sw_oauth_XXXXXX", path[64], err[256];
    struct oauth_keys k;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/state.key", dir);

    write_file(path, "# comment\n1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
                     "\n2 FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF\n", 0600);
    assert_int_equal(oauth_keys_load(&k, path, err, sizeof err), 0);
    assert_int_equal(k.n, 2);
    assert_int_equal(k.key[0][31], 0x1f);
    assert_int_equal(k.key[1][0], 0xff);
    oauth_keys_clear(&k);
    assert_int_equal(k.n, 0);

    write_file(path, "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 0644);
    assert_int_equal(oauth_keys_load(&k, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "group or others"));
    write_file(path, "1 0001020304\n", 0600);
    assert_int_equal(oauth_keys_load(&k, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":1:"));
    assert_null(strstr(err, "0001020304"));   /* key material is never echoed */
    write_file(path, "# nothing\n", 0600);
    assert_int_equal(oauth_keys_load(&k, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "keygen"));
    unlink(path);
    assert_int_equal(oauth_keys_load(&k, path, err, sizeof err), -1);
    rmdir(dir);

    assert_int_equal(oauth_keys_random(&k, err, sizeof err), 0);
    assert_int_equal(k.n, 1);
}

static void test_pkce(void **state)
{
    (void)state;
    char v[OAUTH_VERIFIER_B64], v2[OAUTH_VERIFIER_B64], c[OAUTH_VERIFIER_B64];
    /* RFC 7636, appendix B. */
    oauth_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", c);
    assert_string_equal(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    assert_int_equal(oauth_pkce_verifier(v), 0);
    assert_int_equal(oauth_pkce_verifier(v2), 0);
    assert_int_equal(strlen(v), 43);
    assert_string_not_equal(v, v2);
}

static void test_redirect_uri(void **state)
{
    (void)state;
    char out[600], err[256];
    assert_int_equal(oauth_redirect_uri("http://127.0.0.1:8080", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "http://127.0.0.1:8080/callback");
    assert_int_equal(oauth_redirect_uri("http://127.0.0.1:8080//", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "http://127.0.0.1:8080/callback");
    assert_int_equal(oauth_redirect_uri("http://[::1]:8080", out, sizeof out, err, sizeof err), 0);
    assert_int_equal(oauth_redirect_uri("https://sw.example.com/base", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "https://sw.example.com/base/callback");
    assert_int_equal(oauth_redirect_uri("HTTPS://SW.example.com", out, sizeof out, err, sizeof err), 0);

    assert_int_equal(oauth_redirect_uri("http://localhost:8080", out, sizeof out, err, sizeof err), -1);
    assert_non_null(strstr(err, "localhost"));
    assert_non_null(strstr(err, "127.0.0.1"));
    assert_int_equal(oauth_redirect_uri("https://LOCALHOST", out, sizeof out, err, sizeof err), -1);
    assert_int_equal(oauth_redirect_uri("https://app.localhost", out, sizeof out, err, sizeof err), -1);
    assert_int_equal(oauth_redirect_uri("http://example.com", out, sizeof out, err, sizeof err), -1);
    assert_non_null(strstr(err, "https"));
    assert_int_equal(oauth_redirect_uri("http://127.0.0.2:80", out, sizeof out, err, sizeof err), -1);
    assert_int_equal(oauth_redirect_uri("127.0.0.1:8080", out, sizeof out, err, sizeof err), -1);
    assert_int_equal(oauth_redirect_uri("https://x.example?a=b", out, sizeof out, err, sizeof err), -1);
    assert_int_equal(oauth_redirect_uri("https://u@x.example", out, sizeof out, err, sizeof err), -1);
}

static void test_origins(void **state)
{
    (void)state;
    char o[OAUTH_ORIGIN_MAX];
    assert_int_equal(oauth_origin("HTTPS://App.Example.com:443/x?y#z", o, sizeof o), 0);
    assert_string_equal(o, "https://app.example.com");
    assert_int_equal(oauth_origin("http://a.example:8080", o, sizeof o), 0);
    assert_string_equal(o, "http://a.example:8080");
    assert_int_equal(oauth_origin("http://[::1]:80/", o, sizeof o), 0);
    assert_string_equal(o, "http://[::1]");
    const char *bad[] = {"//evil.example/", "javascript:alert(1)", "https://a@evil.example/",
                         "https://app.example.com\\@evil.example", "https://a b.example/",
                         "https://a.example:0/", "https://a.example:99999/", "https://a.example:8x/",
                         "https:///x", "ftp://a.example/", "https://a.example\n/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (oauth_origin(bad[i], o, sizeof o) == 0)
            fail_msg("accepted %s", bad[i]);

    const char *list = "https://app.example.com, http://127.0.0.1:3000/";
    assert_true(oauth_return_to_ok("https://app.example.com/done?x=1", list, "http://127.0.0.1:8080"));
    assert_true(oauth_return_to_ok("http://127.0.0.1:3000/", list, "http://127.0.0.1:8080"));
    assert_false(oauth_return_to_ok("http://127.0.0.1:8080/", list, "http://127.0.0.1:8080"));
    assert_false(oauth_return_to_ok("http://app.example.com/", list, "x"));
    assert_false(oauth_return_to_ok("https://app.example.com.evil.example/", list, "x"));
    assert_false(oauth_return_to_ok("https://app.example.com:444/", list, "x"));
    assert_false(oauth_return_to_ok(NULL, list, "x"));
    /* Empty allowlist: the origin of public-url only. */
    assert_true(oauth_return_to_ok("http://127.0.0.1:8080/ok", "", "http://127.0.0.1:8080"));
    assert_false(oauth_return_to_ok("http://127.0.0.1:8081/ok", "", "http://127.0.0.1:8080"));
}

static void test_html_escape(void **state)
{
    (void)state;
    char *s = oauth_html_escape("<a href=\"x\">'&'</a>");
    assert_string_equal(s, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_state_roundtrip),
        cmocka_unit_test(test_state_tamper),
        cmocka_unit_test(test_key_rotation),
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_pkce),
        cmocka_unit_test(test_redirect_uri),
        cmocka_unit_test(test_origins),
        cmocka_unit_test(test_html_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
