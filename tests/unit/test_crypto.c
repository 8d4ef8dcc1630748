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
#include "base/seal_pack.h"

#include <openssl/evp.h>

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
        /* The text format opens, and is rewritten in the binary one. */
        assert_int_equal(crypto_needs_reseal(kr, s), 1);
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
    assert_int_equal(crypto_needs_reseal(kr1, old), 1);   /* text: rewritten as binary */

    p = crypto_open(kr2, "app:app1", old, err, sizeof err);
    assert_non_null(p);
    assert_string_equal(p, "clientsecret");
    secret_free(p);

    new = crypto_seal(kr2, "app:app1", "clientsecret", err, sizeof err);
    assert_non_null(new);
    assert_true(strncmp(new, "v1.2.", 5) == 0);
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

/* b64url_token fills out with n base64url characters (NUL-terminated),
 * a different mix for each seed. */
static void b64url_token(char *out, size_t n, unsigned seed)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i;

    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        out[i] = alpha[(seed >> 16) & 63];
    }
    out[n] = '\0';
}

/* The binary format: every length of base64url token and text that is not
 * base64url round-trips; the value is NUL-free, starts with the version
 * byte, and a Spotify-length token shrinks well below its text size. */
static void test_token_roundtrip(void **state)
{
    struct fx *f = *state;
    struct crypto_keyring *kr;
    char err[256], tok[260];
    const char *other[] = { "", "a.b", "with space", "padded==", "caf\xc3\xa9", "\xfe\x01" };
    char *s, *p;
    size_t n, i;

    assert_int_equal(crypto_keygen(f->path, err, sizeof err), 0);
    kr = load_ok(f->path);
    for (n = 0; n < 260; n++) {
        b64url_token(tok, n, (unsigned)n);
        s = crypto_seal_token(kr, "user:alice", tok, err, sizeof err);
        assert_non_null(s);
        assert_int_equal((unsigned char)s[0], 0x02);
        if (n >= 8)
            assert_null(strstr(s, tok));
        if (n == 206)   /* Spotify's access tokens: 317 bytes as v1 text */
            assert_true(strlen(s) < 1 + 1 + 12 + 1 + 155 + 16 + 8);
        p = crypto_open(kr, "user:alice", s, err, sizeof err);
        assert_non_null(p);
        assert_string_equal(p, tok);
        assert_int_equal(crypto_needs_reseal(kr, s), 0);
        secret_free(p);
        free(s);
    }
    for (i = 0; i < sizeof other / sizeof other[0]; i++) {
        s = crypto_seal_token(kr, "user:alice", other[i], err, sizeof err);
        assert_non_null(s);
        p = crypto_open(kr, "user:alice", s, err, sizeof err);
        assert_non_null(p);
        assert_string_equal(p, other[i]);
        secret_free(p);
        free(s);
    }
    crypto_free(kr);
}

/* Any change to a binary value (each byte flipped, truncation, a byte
 * added) is refused, never opened to something else; so is another owner. */
static void test_token_tamper_and_ad(void **state)
{
    struct fx *f = *state;
    struct crypto_keyring *kr;
    char err[256], tok[207], *s, *p;
    size_t i, n;
    int bit;

    assert_int_equal(crypto_keygen(f->path, err, sizeof err), 0);
    kr = load_ok(f->path);
    b64url_token(tok, 206, 7);
    s = crypto_seal_token(kr, "user:alice", tok, err, sizeof err);
    assert_non_null(s);
    n = strlen(s);
    for (i = 1; i < n; i++) {
        for (bit = 0; bit < 8; bit++) {
            s[i] ^= (char)(1 << bit);
            p = crypto_open(kr, "user:alice", s, err, sizeof err);
            if (p != NULL)
                fail_msg("byte %zu bit %d flipped still opens", i, bit);
            s[i] ^= (char)(1 << bit);
        }
    }
    for (i = 1; i < n; i++) {
        char c = s[i];
        s[i] = '\0';
        assert_null(crypto_open(kr, "user:alice", s, err, sizeof err));
        s[i] = c;
    }
    assert_null(crypto_open(kr, "user:bob", s, err, sizeof err));
    assert_null(crypto_open(kr, "", s, err, sizeof err));
    assert_null(crypto_open(NULL, "user:alice", s, err, sizeof err));
    assert_null(strstr(err, tok));
    p = crypto_open(kr, "user:alice", s, err, sizeof err);
    assert_non_null(p);
    assert_string_equal(p, tok);
    secret_free(p);
    free(s);
    crypto_free(kr);
}

/* crypto_opener answers as crypto_open does, its reused contexts included:
 * a tampered value between good ones, two keys, other owners, the text
 * format, and plaintext mode. */
static void test_opener(void **state)
{
    struct fx *f = *state;
    struct crypto_keyring *kr;
    struct crypto_opener *o;
    char err[256], tok[207], *s_old, *s, *v1, *p;
    size_t n;

    assert_int_equal(crypto_keygen(f->path, err, sizeof err), 0);
    kr = load_ok(f->path);
    b64url_token(tok, 206, 3);
    s_old = crypto_seal_token(kr, "user:alice", tok, err, sizeof err);
    crypto_free(kr);
    assert_int_equal(crypto_keygen(f->path, err, sizeof err), 0);
    kr = load_ok(f->path);
    s = crypto_seal_token(kr, "user:alice", tok, err, sizeof err);
    v1 = crypto_seal(kr, "user:alice", "v1-secret", err, sizeof err);
    assert_non_null(s_old);
    assert_non_null(s);
    assert_non_null(v1);
    o = crypto_opener_new(kr);
    assert_non_null(o);
    n = strlen(s);
    for (int round = 0; round < 3; round++) {
        const char *good = round == 1 ? s_old : s;

        p = crypto_opener_open(o, "user:alice", good, err, sizeof err);
        assert_non_null(p);
        assert_string_equal(p, tok);
        secret_free(p);
        s[n - 1] ^= 1;                         /* the tag */
        assert_null(crypto_opener_open(o, "user:alice", s, err, sizeof err));
        s[n - 1] ^= 1;
        s[n / 2] ^= 4;                         /* the ciphertext */
        assert_null(crypto_opener_open(o, "user:alice", s, err, sizeof err));
        s[n / 2] ^= 4;
        assert_null(crypto_opener_open(o, "user:bob", good, err, sizeof err));
        assert_null(strstr(err, tok));
    }
    p = crypto_opener_open(o, "user:alice", v1, err, sizeof err);
    assert_string_equal(p, "v1-secret");
    secret_free(p);
    assert_null(crypto_opener_open(o, "user:alice", "plain.x", err, sizeof err));
    crypto_opener_free(o);

    o = crypto_opener_new(NULL);               /* plaintext mode */
    assert_non_null(o);
    p = crypto_opener_open(o, "user:alice", "plain.x", err, sizeof err);
    assert_string_equal(p, "x");
    secret_free(p);
    assert_null(crypto_opener_open(o, "user:alice", s, err, sizeof err));
    crypto_opener_free(o);
    free(s_old);
    free(s);
    free(v1);
    crypto_free(kr);
}

/* Fixed vectors made outside this code (Python's cryptography, AESGCM):
 * the text format of earlier releases still opens, and the binary format
 * is what the header says: 0x02, kid varint, nonce, ciphertext, tag,
 * stuffed; associated data 0x02 + the owner; plaintext flag + packed. */
static void test_fixed_vectors(void **state)
{
    struct fx *f = *state;
    struct crypto_keyring *kr;
    char err[256], *p, *wrapped;
    const char *v1 = "v1.1.ZGVmZ2hpamtsbW5vCkqaARaFMvtQWZKjfGncUKcaT61dngcRVA==";
    /* "golden-_xBQD": packed, no NUL byte, so only the associated data
     * can refuse it re-wrapped as text (below). */
    const char *v2 = "\x02\x01\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f\x49\x99\x57\x3b\x03\x96\xe9"
                     "\x5a\x2a\x61\x91\xfc\x17\x88\xdb\xc2\x32\xe4\xcb\x02\x5e\x8c\xd5\x1a\xdb\x5a";
    unsigned char *raw;
    long rawlen;

    write_file(f->path, K1, 0600);
    kr = load_ok(f->path);
    p = crypto_open(kr, "user:alice", v1, err, sizeof err);
    assert_non_null(p);
    assert_string_equal(p, "BQDgolden");
    secret_free(p);
    assert_int_equal(crypto_needs_reseal(kr, v1), 1);
    p = crypto_open(kr, "user:alice", v2, err, sizeof err);
    assert_non_null(p);
    assert_string_equal(p, "golden-_xBQD");
    secret_free(p);
    assert_int_equal(crypto_needs_reseal(kr, v2), 0);
    assert_null(crypto_open(kr, "user:bob", v2, err, sizeof err));
    /* The binary value's bytes re-wrapped as text do not open: the
     * version is part of the associated data. */
    rawlen = seal_unstuff(v2 + 1, &raw);
    assert_int_equal(rawlen, 1 + 12 + 1 + 9 + 16);
    wrapped = calloc(1, 80);
    assert_non_null(wrapped);
    memcpy(wrapped, "v1.1.", 5);
    /* nonce | ciphertext | tag after the kid byte, as v1's base64. */
    EVP_EncodeBlock((unsigned char *)wrapped + 5, raw + 1, (int)rawlen - 1);
    assert_null(crypto_open(kr, "user:alice", wrapped, err, sizeof err));
    free(wrapped);
    free(raw);
    crypto_free(kr);
}

/* A rotation: binary values under the old key open and need a reseal. */
static void test_token_rotation(void **state)
{
    struct fx *f = *state;
    struct crypto_keyring *kr1, *kr2;
    char err[256], *old, *p;

    assert_int_equal(crypto_keygen(f->path, err, sizeof err), 0);
    kr1 = load_ok(f->path);
    old = crypto_seal_token(kr1, "user:a", "AQCrefresh", err, sizeof err);
    assert_non_null(old);
    assert_int_equal(crypto_needs_reseal(kr1, old), 0);
    assert_int_equal(crypto_keygen(f->path, err, sizeof err), 0);
    kr2 = load_ok(f->path);
    assert_int_equal(crypto_needs_reseal(kr2, old), 1);
    p = crypto_open(kr2, "user:a", old, err, sizeof err);
    assert_non_null(p);
    assert_string_equal(p, "AQCrefresh");
    secret_free(p);
    free(old);
    crypto_free(kr1);
    crypto_free(kr2);
}

/* seal_pack_token / seal_unpack_token round-trip every length, every
 * character in every position of the 4-character groups, and a stuffed
 * value with escapes anywhere. */
static void test_seal_pack_roundtrip(void **state)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char tok[301];
    unsigned char packed[302], stuffed[700], *out;
    (void)state;

    for (size_t n = 1; n <= 300; n++) {
        for (size_t i = 0; i < n; i++)
            tok[i] = alpha[(i * 7 + n) % 64];
        tok[n] = '\0';
        size_t len = seal_pack_token(tok, n, packed);
        char *t = seal_unpack_token(packed, len);
        assert_non_null(t);
        assert_string_equal(t, tok);
        free(t);

        /* the packed bytes hold 0x00 and 0xfe here and there */
        size_t sl = seal_stuff(packed, len, stuffed);
        stuffed[sl] = '\0';
        assert_int_equal(seal_unstuff((char *)stuffed, &out), (long)len);
        assert_memory_equal(out, packed, len);
        free(out);
    }
}

/* seal_pack's readers refuse every spelling their writers never make. */
static void test_seal_pack(void **state)
{
    unsigned char buf[16], *out;
    char *t;
    size_t used = 0;
    long v;
    (void)state;

    /* "AB" packs to 12 bits: 000000 000001 -> 0x00 0x10, spare bits 0. */
    assert_int_equal(seal_pack_token("AB", 2, buf), 3);
    assert_int_equal(buf[0], 3);
    assert_int_equal(buf[1], 0x00);
    assert_int_equal(buf[2], 0x10);
    t = seal_unpack_token(buf, 3);
    assert_string_equal(t, "AB");
    free(t);
    buf[2] = 0x11;                              /* a spare bit set */
    assert_null(seal_unpack_token(buf, 3));
    buf[2] = 0x10;
    buf[0] = 2;                                 /* 2 bytes cannot be n % 4 == 1 */
    assert_null(seal_unpack_token(buf, 3));
    buf[0] = 5;                                 /* no such flag */
    assert_null(seal_unpack_token(buf, 3));
    buf[0] = SEAL_PACK_RAW;
    buf[1] = 'x';
    buf[2] = '\0';                              /* a NUL inside a raw token */
    assert_null(seal_unpack_token(buf, 3));
    assert_null(seal_unpack_token(buf, 0));

    memcpy(buf, "\x00\xfe\x01\x02", 4);
    assert_int_equal(seal_stuff(buf, 4, buf + 4), 6);
    assert_memory_equal(buf + 4, "\xfe\x01\xfe\x02\x01\x02", 6);
    buf[10] = '\0';
    assert_int_equal(seal_unstuff((char *)buf + 4, &out), 4);
    assert_memory_equal(out, "\x00\xfe\x01\x02", 4);
    free(out);
    assert_int_equal(seal_unstuff("a\xfe\x03", &out), -1);
    assert_int_equal(seal_unstuff("a\xfe", &out), -1);

    for (v = 0; v < 300; v += 37) {
        size_t n = seal_kid_put(v, buf);
        assert_int_equal(seal_kid_get(buf, n, &used), v);
        assert_int_equal(used, n);
    }
    assert_int_equal(seal_kid_put(SEAL_MAX_KID, buf), 5);
    assert_int_equal(seal_kid_get(buf, 5, &used), SEAL_MAX_KID);
    assert_int_equal(seal_kid_get(buf, 4, &used), -1);          /* truncated */
    assert_int_equal(seal_kid_get((const unsigned char *)"\x80\x00", 2, &used), -1);   /* not shortest */
    assert_int_equal(seal_kid_get((const unsigned char *)"\xff\xff\xff\xff\x0f", 5, &used), -1);   /* too large */
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
        cmocka_unit_test_setup_teardown(test_token_roundtrip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_token_tamper_and_ad, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_opener, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fixed_vectors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_token_rotation, fx_setup, fx_teardown),
        cmocka_unit_test(test_seal_pack),
        cmocka_unit_test(test_seal_pack_roundtrip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
