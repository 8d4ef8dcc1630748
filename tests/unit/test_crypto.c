/* test_crypto: sealing, keyring loading/rotation and plaintext mode. */
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

#include "base/crypto.h"

/* fixture: a fresh temp dir per test with "keys" as the keyring path. */
struct fx {
    char dir[64];
    char path[128];
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/sw_crypto_XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/keys", f->dir);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd;

    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static const char *K1 = "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";

static struct crypto_keyring *load_ok(const char *path)
{
    char err[256] = "";
    struct crypto_keyring *kr = crypto_load(path, err, sizeof err);

    if (kr == NULL)
        fail_msg("crypto_load: %s", err);
    return kr;
}

static void test_roundtrip(void **state)
{
    struct fx *f = *state;
    struct crypto_keyring *kr;
    char err[256];
    char *s, *p;
    const char *values[] = { "BQD-access.token_value", "", "x", "ab", "abc",
                             "a longer secret with spaces & unicode \xc3\xa9" };
    size_t i;

    assert_int_equal(crypto_keygen(f->path, err, sizeof err), 0);
    kr = load_ok(f->path);
    assert_int_equal(crypto_current_kid(kr), 1);
    for (i = 0; i < sizeof values / sizeof values[0]; i++) {
        s = crypto_seal(kr, "user:alice", values[i], err, sizeof err);
        assert_non_null(s);
        assert_true(strncmp(s, "v1.1.", 5) == 0);
        if (strlen(values[i]) >= 8)
            assert_null(strstr(s, values[i]));
        p = crypto_open(kr, "user:alice", s, err, sizeof err);
        assert_non_null(p);
        assert_string_equal(p, values[i]);
        assert_int_equal(crypto_needs_reseal(kr, s), 0);
        secret_free(p);
        free(s);
    }
    /* Fresh nonce each time: the same value seals differently. */
    s = crypto_seal(kr, "user:alice", "same", err, sizeof err);
    p = crypto_seal(kr, "user:alice", "same", err, sizeof err);
    assert_string_not_equal(s, p);
    free(s);
    free(p);
    crypto_free(kr);
}

static void test_keygen_mode(void **state)
{
    struct fx *f = *state;
    struct stat st;
    char err[256];
    mode_t old = umask(0);

    assert_int_equal(crypto_keygen(f->path, err, sizeof err), 0);
    umask(old);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_wrong_ad(void **state)
{
    struct fx *f = *state;
    struct crypto_keyring *kr;
    char err[256] = "";
    char *s;

    assert_int_equal(crypto_keygen(f->path, err, sizeof err), 0);
    kr = load_ok(f->path);
    s = crypto_seal(kr, "user:alice", "topsecret", err, sizeof err);
    assert_non_null(s);
    assert_null(crypto_open(kr, "user:bob", s, err, sizeof err));
    assert_non_null(strstr(err, "authentication failed"));
    assert_null(strstr(err, "topsecret"));
    assert_null(crypto_open(kr, "", s, err, sizeof err));
    free(s);
    crypto_free(kr);
}

static void test_tampered(void **state)
{
    struct fx *f = *state;
    struct crypto_keyring *kr;
    char err[256];
    char *s, *p;
    size_t i, n, prefix = strlen("v1.1.");

    assert_int_equal(crypto_keygen(f->path, err, sizeof err), 0);
    kr = load_ok(f->path);
    s = crypto_seal(kr, "user:alice", "topsecret", err, sizeof err);
    assert_non_null(s);
    n = strlen(s);
    /* Flip every base64 character in turn (skipping padding): all must fail. */
    for (i = prefix; i < n; i++) {
        char orig = s[i];
        if (orig == '=')
            continue;
        s[i] = orig == 'A' ? 'B' : 'A';
        p = crypto_open(kr, "user:alice", s, err, sizeof err);
        if (p != NULL)
            fail_msg("tampered byte %zu opened", i);
        s[i] = orig;
    }
    /* Truncated, extended, garbage. */
    s[n - 4] = '\0';
    assert_null(crypto_open(kr, "user:alice", s, err, sizeof err));
    assert_null(crypto_open(kr, "user:alice", "v1.1.", err, sizeof err));
    assert_null(crypto_open(kr, "user:alice", "v1.1.AAAA", err, sizeof err));
    assert_null(crypto_open(kr, "user:alice", "v1.1.!!!!", err, sizeof err));
    assert_null(crypto_open(kr, "user:alice", "v1.x.AAAA", err, sizeof err));
    assert_null(crypto_open(kr, "user:alice", "v1.1", err, sizeof err));
    assert_null(crypto_open(kr, "user:alice", "v2.1.AAAA", err, sizeof err));
    assert_null(crypto_open(kr, "user:alice", "", err, sizeof err));
    assert_null(crypto_open(kr, "user:alice", "v1.99999999999999999999.AAAA", err, sizeof err));
    free(s);
    crypto_free(kr);
}

static void test_unknown_kid(void **state)
{
    struct fx *f = *state;
    struct crypto_keyring *kr;
    char err[256];
    char *s;

    assert_int_equal(crypto_keygen(f->path, err, sizeof err), 0);
    kr = load_ok(f->path);
    s = crypto_seal(kr, "user:alice", "topsecret", err, sizeof err);
    assert_non_null(s);
    s[3] = '7'; /* v1.1. -> v1.7. */
    assert_null(crypto_open(kr, "user:alice", s, err, sizeof err));
    assert_non_null(strstr(err, "unknown key id 7"));
    free(s);
    crypto_free(kr);
}

static void test_rotation(void **state)
{
    struct fx *f = *state;
    struct crypto_keyring *kr1, *kr2;
    char err[256];
    char *old, *new, *p;

    assert_int_equal(crypto_keygen(f->path, err, sizeof err), 0);
    kr1 = load_ok(f->path);
    old = crypto_seal(kr1, "app:app1", "clientsecret", err, sizeof err);
    assert_non_null(old);

    assert_int_equal(crypto_keygen(f->path, err, sizeof err), 0);
    kr2 = load_ok(f->path);
    assert_int_equal(crypto_current_kid(kr2), 2);
    assert_int_equal(crypto_needs_reseal(kr2, old), 1);
    assert_int_equal(crypto_needs_reseal(kr1, old), 0);

    p = crypto_open(kr2, "app:app1", old, err, sizeof err);
    assert_non_null(p);
    assert_string_equal(p, "clientsecret");
    secret_free(p);

    new = crypto_seal(kr2, "app:app1", "clientsecret", err, sizeof err);
    assert_non_null(new);
    assert_true(strncmp(new, "v1.2.", 5) == 0);
    assert_int_equal(crypto_needs_reseal(kr2, new), 0);
    /* The old keyring does not know kid 2. */
    assert_null(crypto_open(kr1, "app:app1", new, err, sizeof err));

    assert_int_equal(crypto_keygen(f->path, err, sizeof err), 0);
    crypto_free(kr2);
    kr2 = load_ok(f->path);
    assert_int_equal(crypto_current_kid(kr2), 3);
    p = crypto_open(kr2, "app:app1", new, err, sizeof err);
    assert_non_null(p);
    secret_free(p);
    free(old);
    free(new);
    crypto_free(kr1);
    crypto_free(kr2);
}

static void test_keygen_appends_after_max_kid(void **state)
{
    struct fx *f = *state;
    struct crypto_keyring *kr;
    char err[256];
    char text[512];

    /* Out-of-order ids and no final newline: next is max+1, on its own line. */
    snprintf(text, sizeof text,
             "# rotated keys\n"
             "5 %064d\n"
             "3 %064d", 1, 2);
    write_file(f->path, text, 0600);
    assert_int_equal(crypto_keygen(f->path, err, sizeof err), 0);
    kr = load_ok(f->path);
    assert_int_equal(crypto_current_kid(kr), 6);
    crypto_free(kr);
}

static void test_mode_check(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    char want[256];

    write_file(f->path, K1, 0644);
    assert_null(crypto_load(f->path, err, sizeof err));
    snprintf(want, sizeof want, "token key file %s is readable by others (mode 0644); chmod 600 it",
             f->path);
    assert_string_equal(err, want);

    write_file(f->path, K1, 0640);
    assert_null(crypto_load(f->path, err, sizeof err));
    assert_non_null(strstr(err, "(mode 0640)"));
    write_file(f->path, K1, 0602);
    assert_null(crypto_load(f->path, err, sizeof err));
    /* keygen refuses to add to a shared file too. */
    assert_int_equal(crypto_keygen(f->path, err, sizeof err), -1);
    assert_non_null(strstr(err, "chmod 600"));

    write_file(f->path, K1, 0400);
    crypto_free(load_ok(f->path));
}

static void expect_load_error(const char *path, const char *text, const char *needle)
{
    char err[256] = "";
    struct crypto_keyring *kr;

    write_file(path, text, 0600);
    kr = crypto_load(path, err, sizeof err);
    if (kr != NULL) {
        crypto_free(kr);
        fail_msg("loaded malformed file: %s", text);
    }
    if (strstr(err, needle) == NULL)
        fail_msg("err \"%s\" lacks \"%s\"", err, needle);
    /* The error must not echo key material. */
    assert_null(strstr(err, "0001020304"));
}

static void test_malformed(void **state)
{
    struct fx *f = *state;
    char err[256];
    struct crypto_keyring *kr;

    expect_load_error(f->path, "", "holds no keys");
    expect_load_error(f->path, "# only a comment\n\n", "holds no keys");
    expect_load_error(f->path, "1 0001020304\n", "line 1:");
    expect_load_error(f->path,
                      "# c\n1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
                      "2 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fff\n",
                      "line 3:");
    expect_load_error(f->path, "x 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
                      "line 1:");
    expect_load_error(f->path, "-1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
                      "line 1:");
    expect_load_error(f->path, "1000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
                      "line 1:");
    expect_load_error(f->path, "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1eZZ\n",
                      "line 1:");
    expect_load_error(f->path, "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f x\n",
                      "line 1:");
    expect_load_error(f->path, "99999999999999999999 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
                      "line 1:");
    expect_load_error(f->path,
                      "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
                      "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
                      "duplicate key id 1");

    /* Missing file. */
    unlink(f->path);
    assert_null(crypto_load(f->path, err, sizeof err));
    assert_non_null(strstr(err, f->path));

    /* Tolerated: CRLF, indentation, comments, trailing blanks, upper-case hex. */
    write_file(f->path,
               "# keys\r\n  1 000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F  \r\n"
               "\n\t# c\n2\t000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
               0600);
    kr = load_ok(f->path);
    assert_int_equal(crypto_current_kid(kr), 2);
    crypto_free(kr);
}

static void test_fixed_key_interop(void **state)
{
    struct fx *f = *state;
    struct crypto_keyring *kr, *kr2;
    char err[256];
    char *s, *p;

    /* Two loads of the same file agree; a different key under the same kid
     * fails authentication. */
    write_file(f->path, K1, 0600);
    kr = load_ok(f->path);
    kr2 = load_ok(f->path);
    s = crypto_seal(kr, "user:a", "v", err, sizeof err);
    p = crypto_open(kr2, "user:a", s, err, sizeof err);
    assert_non_null(p);
    secret_free(p);
    crypto_free(kr2);
    write_file(f->path, "1 ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 0600);
    kr2 = load_ok(f->path);
    assert_null(crypto_open(kr2, "user:a", s, err, sizeof err));
    free(s);
    crypto_free(kr);
    crypto_free(kr2);
}

static void test_plaintext_mode(void **state)
{
    struct fx *f = *state;
    struct crypto_keyring *kr;
    char err[256];
    char *s, *p;

    s = crypto_seal(NULL, "user:alice", "tok", err, sizeof err);
    assert_string_equal(s, "plain.tok");
    p = crypto_open(NULL, "user:alice", s, err, sizeof err);
    assert_string_equal(p, "tok");
    secret_free(p);
    assert_int_equal(crypto_needs_reseal(NULL, s), 0);

    /* With a keyring, plain values are refused (someone who can write Redis
     * would choose the token), with a reason that holds no secret. */
    assert_int_equal(crypto_keygen(f->path, err, sizeof err), 0);
    kr = load_ok(f->path);
    err[0] = '\0';
    assert_null(crypto_open(kr, "user:alice", s, err, sizeof err));
    assert_non_null(strstr(err, "plaintext value refused"));
    assert_non_null(strstr(err, "token key file"));
    assert_null(strstr(err, "tok\""));
    assert_null(crypto_open(kr, "user:alice", "plain.", err, sizeof err));
    assert_null(crypto_open(kr, "app:a1", "plain.a-client-secret", err, sizeof err));
    assert_null(strstr(err, "a-client-secret"));
    assert_int_equal(crypto_needs_reseal(kr, s), 1);
    free(s);

    /* Without a keyring, sealed values cannot open. */
    s = crypto_seal(kr, "user:alice", "tok", err, sizeof err);
    assert_null(crypto_open(NULL, "user:alice", s, err, sizeof err));
    assert_non_null(strstr(err, "no token key file"));
    assert_null(crypto_open(NULL, "user:alice", "tok", err, sizeof err));
    free(s);
    crypto_free(kr);
}

static void test_misc(void **state)
{
    char hex[65];
    char hex2[65];
    size_t i;

    (void)state;
    secret_free(NULL);
    crypto_free(NULL);
    assert_int_equal(crypto_current_kid(NULL), -1);
    assert_int_equal(crypto_random_hex(hex, 32), 0);
    assert_int_equal(strlen(hex), 64);
    for (i = 0; i < 64; i++)
        assert_non_null(strchr("0123456789abcdef", hex[i]));
    assert_int_equal(crypto_random_hex(hex2, 32), 0);
    assert_string_not_equal(hex, hex2);
    assert_int_equal(crypto_random_hex(hex, 0), 0);
    assert_string_equal(hex, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_keygen_mode, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_ad, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_tampered, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_kid, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rotation, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_keygen_appends_after_max_kid, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_mode_check, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_malformed, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fixed_key_interop, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_plaintext_mode, fx_setup, fx_teardown),
        cmocka_unit_test(test_misc),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
