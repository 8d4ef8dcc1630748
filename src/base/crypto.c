/* crypto: AES-256-GCM sealing of secrets at rest, keyed by a keyring file.
 * See include/base/crypto.h for the sealed-text and keyring formats. */
#include "base/errbuf.h"
#include "base/crypto.h"
#include "base/codec.h"
#include "base/nodump.h"
#include "base/seal_pack.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define CRYPTO_KEY_LEN   32
#define CRYPTO_NONCE_LEN 12
#define CRYPTO_TAG_LEN   16
/* A keyring larger than this is not a keyring: refuse instead of reading it. */
#define CRYPTO_MAX_FILE  (1024 * 1024)
/* Key ids stay small so "v1.<kid>." is short and parsing cannot overflow. */
#define CRYPTO_MAX_KID   SEAL_MAX_KID

#define SEALED_PREFIX "v1."
#define PLAIN_PREFIX  "plain."
/* The binary format (crypto_seal_token): its first byte, never the first
 * of a text value. */
#define SEALED_V2     0x02

struct crypto_key {
    int kid;
    unsigned char key[CRYPTO_KEY_LEN];
};

/* crypto_keyring: the keys of one file in file order; keys[n - 1] is current.
 * keys (room for cap) lives in nodump memory (include/base/nodump.h): on
 * pages of its own, left out of core dumps, wiped when freed. */
struct crypto_keyring {
    struct crypto_key *keys;
    size_t n, cap;
    /* Fetched once: EVP_aes_256_gcm() makes OpenSSL 3 look the cipher up
     * in its providers at every init, a third of the cost of opening a
     * token (one per poll). Immutable, so safe to share between threads. */
    EVP_CIPHER *aes;
};

/* parse_kid reads a decimal key id in [0, CRYPTO_MAX_KID] from s, stopping at
 * the first non-digit (returned through end). -1 if there are no digits or the
 * value is too large. Hand-rolled so there is no overflow and no sign/space
 * leniency (strtol accepts " +1"). */
static long parse_kid(const char *s, const char **end)
{
    long v = 0;
    const char *p = s;

    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > CRYPTO_MAX_KID)
            return -1;
        p++;
    }
    *end = p;
    return v;
}

/* parse_line parses one keyring line (NUL-terminated, no newline).
 * Returns 1 for a key, 0 for a blank/comment line, -1 if malformed. */
static int parse_line(char *line, struct crypto_key *out)
{
    const char *p = line;
    const char *end;
    long kid;
    int i;

    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    kid = parse_kid(p, &end);
    if (kid < 0)
        return -1;
    p = end;
    if (*p != ' ' && *p != '\t')
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    for (i = 0; i < CRYPTO_KEY_LEN; i++) {
        int hi = codec_hex_digit((unsigned char)p[2 * i]);
        int lo = hi < 0 ? -1 : codec_hex_digit((unsigned char)p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out->key[i] = (unsigned char)(hi << 4 | lo);
    }
    p += 2 * CRYPTO_KEY_LEN;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '\0')
        return -1;
    out->kid = (int)kid;
    return 1;
}

/* read_keyfile reads the whole file at path into a malloc'd NUL-terminated
 * buffer (*buf, length *len) after checking its mode. Returns 0, or -1 + err
 * and -2 if the file does not exist (so keygen can create it). */
static int read_keyfile(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    char *b = NULL;
    size_t got = 0;
    int fd;

    *buf = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        errbuf_set(err, errlen, "token key file %s: %s", path, strerror(errno));
        return errno == ENOENT ? -2 : -1;
    }
    if (fstat(fd, &st) < 0) {
        errbuf_set(err, errlen, "token key file %s: %s", path, strerror(errno));
        goto err;
    }
    if (!S_ISREG(st.st_mode)) {
        errbuf_set(err, errlen, "token key file %s is not a regular file", path);
        goto err;
    }
    /* Checked on the open descriptor so a chmod/rename race cannot slip a
     * different file past the check. */
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        errbuf_set(err, errlen, "token key file %s is readable by others (mode %04o); chmod 600 it",
                path, (unsigned)(st.st_mode & 07777));
        goto err;
    }
    if (st.st_size > CRYPTO_MAX_FILE) {
        errbuf_set(err, errlen, "token key file %s is too large (%lld bytes)", path,
                (long long)st.st_size);
        goto err;
    }
    b = malloc((size_t)st.st_size + 1);
    if (b == NULL) {
        errbuf_set(err, errlen, "token key file %s: out of memory", path);
        goto err;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            errbuf_set(err, errlen, "token key file %s: %s", path, strerror(errno));
            goto err;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    b[got] = '\0';
    close(fd);
    *buf = b;
    *len = got;
    return 0;

err:
    if (b != NULL) {
        OPENSSL_cleanse(b, (size_t)st.st_size + 1);
        free(b);
    }
    close(fd);
    return -1;
}

/* keys_release wipes and frees kr's key array. */
static void keys_release(struct crypto_keyring *kr)
{
    nodump_free(kr->keys, kr->cap * sizeof *kr->keys);
    kr->keys = NULL;
    kr->n = kr->cap = 0;
}

/* parse_keyring parses buf (len bytes, NUL-terminated; modified in place) into
 * kr. An empty keyring is an error unless allow_empty. */
static int parse_keyring(const char *path, char *buf, size_t len, int allow_empty,
                         struct crypto_keyring *kr, char *err, size_t errlen)
{
    char *line = buf;
    int lineno = 0;

    kr->keys = NULL;
    kr->n = kr->cap = 0;
    if (memchr(buf, '\0', len) != NULL) {
        errbuf_set(err, errlen, "token key file %s contains a NUL byte", path);
        goto err;
    }
    while (line < buf + len) {
        char *nl = strchr(line, '\n');
        struct crypto_key k;
        size_t i;
        int r;

        lineno++;
        if (nl != NULL)
            *nl = '\0';
        if (nl != NULL && nl > line && nl[-1] == '\r')
            nl[-1] = '\0';
        r = parse_line(line, &k);
        if (r < 0) {
            /* Name the line, never echo it: it may hold key material. */
            errbuf_set(err, errlen, "token key file %s line %d: expected \"<kid> <64 hex chars>\"",
                    path, lineno);
            OPENSSL_cleanse(&k, sizeof k);
            goto err;
        }
        if (r > 0) {
            for (i = 0; i < kr->n; i++) {
                if (kr->keys[i].kid == k.kid) {
                    errbuf_set(err, errlen, "token key file %s line %d: duplicate key id %d", path,
                            lineno, k.kid);
                    OPENSSL_cleanse(&k, sizeof k);
                    goto err;
                }
            }
            if (kr->n == kr->cap) {
                size_t ncap = kr->cap ? kr->cap * 2 : 4, n = kr->n;
                struct crypto_key *nk = nodump_alloc(ncap * sizeof *nk);
                if (nk == NULL) {
                    errbuf_set(err, errlen, "token key file %s: out of memory", path);
                    OPENSSL_cleanse(&k, sizeof k);
                    goto err;
                }
                /* Not realloc: the old block is wiped when released. */
                if (n > 0)
                    memcpy(nk, kr->keys, n * sizeof *nk);
                keys_release(kr);
                kr->keys = nk;
                kr->n = n;
                kr->cap = ncap;
            }
            kr->keys[kr->n++] = k;
            OPENSSL_cleanse(&k, sizeof k);
        }
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    if (kr->n == 0 && !allow_empty) {
        errbuf_set(err, errlen, "token key file %s holds no keys (create one with `spotwatch keygen %s`)",
                path, path);
        goto err;
    }
    return 0;

err:
    keys_release(kr);
    return -1;
}

struct crypto_keyring *crypto_load(const char *path, char *err, size_t errlen)
{
    struct crypto_keyring *kr = NULL;
    char *buf = NULL;
    size_t len = 0;

    if (read_keyfile(path, &buf, &len, err, errlen) != 0)
        return NULL;
    kr = calloc(1, sizeof *kr);
    if (kr == NULL) {
        errbuf_set(err, errlen, "token key file %s: out of memory", path);
        goto err;
    }
    if (parse_keyring(path, buf, len, 0, kr, err, errlen) != 0)
        goto err;
    kr->aes = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (kr->aes == NULL) {
        errbuf_set(err, errlen, "token key file %s: OpenSSL has no AES-256-GCM", path);
        goto err;
    }
    OPENSSL_cleanse(buf, len);
    free(buf);
    return kr;

err:
    OPENSSL_cleanse(buf, len);
    free(buf);
    crypto_free(kr);
    return NULL;
}

void crypto_free(struct crypto_keyring *kr)
{
    if (kr == NULL)
        return;
    keys_release(kr);
    EVP_CIPHER_free(kr->aes);
    free(kr);
}

int crypto_current_kid(const struct crypto_keyring *kr)
{
    if (kr == NULL || kr->n == 0)
        return -1;
    return kr->keys[kr->n - 1].kid;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int crypto_keygen(const char *path, char *err, size_t errlen)
{
    struct crypto_keyring kr = { NULL, 0, 0, NULL };
    unsigned char key[CRYPTO_KEY_LEN];
    /* "<kid> <64 hex>\n" plus a possible leading newline. */
    char line[16 + 2 * CRYPTO_KEY_LEN + 4];
    char *buf = NULL;
    size_t len = 0, i;
    int fd = -1, created = 0, need_nl = 0, rc = -1, r;
    long kid = 1;
    int n;

    r = read_keyfile(path, &buf, &len, err, errlen);
    if (r == -1)
        return -1;
    if (r == 0) {
        need_nl = len > 0 && buf[len - 1] != '\n';
        if (parse_keyring(path, buf, len, 1, &kr, err, errlen) != 0)
            goto cleanup;
        /* Next integer after the largest id, so a rotated-away kid is never
         * reused even if the lines are out of order. */
        for (i = 0; i < kr.n; i++)
            if (kr.keys[i].kid >= kid)
                kid = (long)kr.keys[i].kid + 1;
        if (kid > CRYPTO_MAX_KID) {
            errbuf_set(err, errlen, "token key file %s: key ids exhausted", path);
            goto cleanup;
        }
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
    } else {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
        created = 1;
    }
    if (fd < 0) {
        errbuf_set(err, errlen, "token key file %s: %s", path, strerror(errno));
        goto cleanup;
    }
    if (created && fchmod(fd, 0600) < 0) {
        errbuf_set(err, errlen, "token key file %s: chmod: %s", path, strerror(errno));
        goto cleanup;
    }
    if (RAND_bytes(key, sizeof key) != 1) {
        errbuf_set(err, errlen, "token key file %s: RAND_bytes failed", path);
        goto cleanup;
    }
    n = snprintf(line, sizeof line, "%s%ld ", need_nl ? "\n" : "", kid);
    for (i = 0; i < CRYPTO_KEY_LEN; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, "%02x", key[i]);
    line[n++] = '\n';
    if (write_all(fd, line, (size_t)n) != 0 || fsync(fd) != 0) {
        errbuf_set(err, errlen, "token key file %s: write: %s", path, strerror(errno));
        goto cleanup;
    }
    rc = 0;

cleanup:
    if (fd >= 0 && close(fd) != 0 && rc == 0) {
        errbuf_set(err, errlen, "token key file %s: close: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc != 0 && created && fd >= 0)
        unlink(path);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(line, sizeof line);
    if (buf != NULL) {
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
    keys_release(&kr);
    return rc;
}

static const struct crypto_key *find_key(const struct crypto_keyring *kr, long kid)
{
    size_t i;

    for (i = 0; i < kr->n; i++)
        if (kr->keys[i].kid == kid)
            return &kr->keys[i];
    return NULL;
}

/* gcm_seal encrypts plain (plen bytes) under k into raw: nonce[12] |
 * ciphertext[plen] | tag[16]. The associated data is ver (one byte, left out
 * when 0: the text format v1 had none) then ad, so a value cannot be moved
 * to another owner nor re-wrapped into the other format. 0 or -1. */
static int gcm_seal(const struct crypto_keyring *kr, const struct crypto_key *k, unsigned char ver,
                    const char *ad, const unsigned char *plain, size_t plen, unsigned char *raw)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n, ok;

    ok = ctx != NULL && RAND_bytes(raw, CRYPTO_NONCE_LEN) == 1
         && EVP_EncryptInit_ex(ctx, kr->aes, NULL, NULL, NULL) == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CRYPTO_NONCE_LEN, NULL) == 1
         && EVP_EncryptInit_ex(ctx, NULL, NULL, k->key, raw) == 1
         && (ver == 0 || EVP_EncryptUpdate(ctx, NULL, &n, &ver, 1) == 1)
         && EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)ad, (int)strlen(ad)) == 1
         && EVP_EncryptUpdate(ctx, raw + CRYPTO_NONCE_LEN, &n, plain, (int)plen) == 1
         && EVP_EncryptFinal_ex(ctx, raw + CRYPTO_NONCE_LEN + n, &n) == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CRYPTO_TAG_LEN, raw + CRYPTO_NONCE_LEN + plen) == 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* crypto_opener: per key (by index in the keyring), an AES-GCM decryption
 * context set up with the key once (NULL until first used). */
struct crypto_opener {
    const struct crypto_keyring *kr;
    EVP_CIPHER_CTX **ctx;   /* kr->n of them */
};

/* opener_ctx: o's context for k, set up with k on first use; NULL if it
 * cannot be. */
static EVP_CIPHER_CTX *opener_ctx(struct crypto_opener *o, const struct crypto_key *k)
{
    size_t i = (size_t)(k - o->kr->keys);
    EVP_CIPHER_CTX *ctx = o->ctx[i];

    if (ctx != NULL)
        return ctx;
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || EVP_DecryptInit_ex(ctx, o->kr->aes, NULL, NULL, NULL) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CRYPTO_NONCE_LEN, NULL) != 1
        || EVP_DecryptInit_ex(ctx, NULL, NULL, k->key, NULL) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    o->ctx[i] = ctx;
    return ctx;
}

/* gcm_open is gcm_seal's inverse: raw (rawlen >= nonce + tag bytes) into
 * plain (rawlen - nonce - tag bytes). -1 when it does not authenticate.
 * With an opener the key's context is set up once and only the nonce is
 * set per call (the key schedule is most of a short token's cost). */
static int gcm_open(const struct crypto_keyring *kr, struct crypto_opener *o, const struct crypto_key *k,
                    unsigned char ver, const char *ad, const unsigned char *raw, size_t rawlen, unsigned char *plain)
{
    size_t clen = rawlen - CRYPTO_NONCE_LEN - CRYPTO_TAG_LEN, adlen = strlen(ad);
    EVP_CIPHER_CTX *ctx = o != NULL ? opener_ctx(o, k) : EVP_CIPHER_CTX_new();
    unsigned char aad[256];
    const unsigned char *a = (const unsigned char *)ad;
    int n, ok;

    /* The version byte and ad are one associated text (GCM hashes its AAD
     * as one stream, however it is handed over): in one update when they
     * fit, one EVP call less per token opened. */
    if (ver != 0 && adlen < sizeof aad) {
        aad[0] = ver;
        memcpy(aad + 1, ad, adlen);
        a = aad;
        adlen++;
        ver = 0;
    }
    ok = ctx != NULL
         && (o != NULL || (EVP_DecryptInit_ex(ctx, kr->aes, NULL, NULL, NULL) == 1
                           && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CRYPTO_NONCE_LEN, NULL) == 1))
         && EVP_DecryptInit_ex(ctx, NULL, NULL, o != NULL ? NULL : k->key, raw) == 1
         && (ver == 0 || EVP_DecryptUpdate(ctx, NULL, &n, &ver, 1) == 1)
         && EVP_DecryptUpdate(ctx, NULL, &n, a, (int)adlen) == 1
         && EVP_DecryptUpdate(ctx, plain, &n, raw + CRYPTO_NONCE_LEN, (int)clen) == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CRYPTO_TAG_LEN,
                                (void *)(raw + CRYPTO_NONCE_LEN + clen)) == 1
         && EVP_DecryptFinal_ex(ctx, plain + n, &n) == 1;
    if (o == NULL)
        EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* seal_args checks crypto_seal's and crypto_seal_token's arguments; the
 * plaintext-mode value ("plain.<text>") is made here too (*out). Returns 1
 * when the caller should encrypt, 0 when *out is the answer, -1 + err. */
static int seal_args(const struct crypto_keyring *kr, const char *ad, const char *plain, char **out,
                     char *err, size_t errlen)
{
    size_t plen;

    *out = NULL;
    if (plain == NULL) {
        errbuf_set(err, errlen, "crypto_seal: no value");
        return -1;
    }
    plen = strlen(plain);
    if (kr == NULL) {
        *out = malloc(sizeof PLAIN_PREFIX + plen);
        if (*out == NULL) {
            errbuf_set(err, errlen, "crypto_seal: out of memory");
            return -1;
        }
        memcpy(*out, PLAIN_PREFIX, sizeof PLAIN_PREFIX - 1);
        memcpy(*out + sizeof PLAIN_PREFIX - 1, plain, plen + 1);
        return 0;
    }
    if (kr->n == 0 || plen > INT_MAX / 4 || (ad != NULL && strlen(ad) > INT_MAX)) {
        errbuf_set(err, errlen, "crypto_seal: bad keyring or value too large");
        return -1;
    }
    return 1;
}

char *crypto_seal(const struct crypto_keyring *kr, const char *ad, const char *plain,
                  char *err, size_t errlen)
{
    const struct crypto_key *k;
    unsigned char *raw = NULL;
    char *out = NULL;
    size_t plen, rawlen, b64len, outlen;
    int prefix, r = seal_args(kr, ad, plain, &out, err, errlen);

    if (r <= 0)
        return out;
    k = &kr->keys[kr->n - 1];
    plen = strlen(plain);
    rawlen = CRYPTO_NONCE_LEN + plen + CRYPTO_TAG_LEN;
    raw = malloc(rawlen);
    b64len = 4 * ((rawlen + 2) / 3);
    outlen = sizeof SEALED_PREFIX + 12 + b64len + 1;
    out = malloc(outlen);
    if (raw == NULL || out == NULL) {
        errbuf_set(err, errlen, "crypto_seal: out of memory");
        goto err;
    }
    if (gcm_seal(kr, k, 0, ad ? ad : "", (const unsigned char *)plain, plen, raw) != 0) {
        errbuf_set(err, errlen, "crypto_seal: encryption failed");
        goto err;
    }
    prefix = snprintf(out, outlen, SEALED_PREFIX "%d.", k->kid);
    /* EVP_EncodeBlock writes 4*ceil(n/3) chars with '=' padding, no newlines, plus a NUL. */
    EVP_EncodeBlock((unsigned char *)out + prefix, raw, (int)rawlen);
    free(raw); /* nonce, ciphertext and tag only: nothing secret */
    return out;

err:
    free(raw);
    free(out);
    return NULL;
}

/* ---------------------------------------------------- binary format v2 --- */

char *crypto_seal_token(const struct crypto_keyring *kr, const char *ad, const char *plain,
                        char *err, size_t errlen)
{
    const struct crypto_key *k;
    unsigned char *pt = NULL, *raw = NULL;
    char *out = NULL;
    size_t plen, ptlen = 0, kl, rawlen, o;
    int r = seal_args(kr, ad, plain, &out, err, errlen);

    if (r <= 0)
        return out;
    k = &kr->keys[kr->n - 1];
    plen = strlen(plain);
    pt = malloc(plen + 1);
    raw = malloc(5 + CRYPTO_NONCE_LEN + plen + 1 + CRYPTO_TAG_LEN);
    if (pt == NULL || raw == NULL) {
        errbuf_set(err, errlen, "crypto_seal: out of memory");
        goto done;
    }
    ptlen = seal_pack_token(plain, plen, pt);
    kl = seal_kid_put(k->kid, raw);
    rawlen = kl + CRYPTO_NONCE_LEN + ptlen + CRYPTO_TAG_LEN;
    if (gcm_seal(kr, k, SEALED_V2, ad ? ad : "", pt, ptlen, raw + kl) != 0
        || (out = malloc(1 + 2 * rawlen + 1)) == NULL) {
        errbuf_set(err, errlen, "crypto_seal: encryption failed");
        goto done;
    }
    out[0] = (char)SEALED_V2;
    o = seal_stuff(raw, rawlen, (unsigned char *)out + 1);
    out[1 + o] = '\0';

done:
    if (pt != NULL) {
        OPENSSL_cleanse(pt, plen + 1);
        free(pt);
    }
    free(raw); /* key id, nonce, ciphertext and tag only */
    return out;
}

/* open_v2 opens a crypto_seal_token value (its version byte already seen). */
static char *open_v2(const struct crypto_keyring *kr, struct crypto_opener *o, const char *ad,
                     const char *sealed, char *err, size_t errlen)
{
    const struct crypto_key *k;
    unsigned char *raw = NULL, *pt = NULL;
    char *plain = NULL;
    long rawlen, kid;
    size_t kl = 0, ptlen = 0;

    if (kr == NULL) {
        errbuf_set(err, errlen, "crypto_open: value is encrypted but no token key file is configured");
        return NULL;
    }
    rawlen = seal_unstuff(sealed + 1, &raw);
    kid = rawlen < 0 ? -1 : seal_kid_get(raw, (size_t)rawlen, &kl);
    if (kid < 0 || (size_t)rawlen < kl + CRYPTO_NONCE_LEN + 1 + CRYPTO_TAG_LEN) {
        errbuf_set(err, errlen, "crypto_open: malformed sealed value");
        goto done;
    }
    if ((k = find_key(kr, kid)) == NULL) {
        errbuf_set(err, errlen, "crypto_open: unknown key id %ld (not in the token key file)", kid);
        goto done;
    }
    ptlen = (size_t)rawlen - kl - CRYPTO_NONCE_LEN - CRYPTO_TAG_LEN;
    if ((pt = malloc(ptlen)) == NULL) {
        errbuf_set(err, errlen, "crypto_open: out of memory");
        goto done;
    }
    if (gcm_open(kr, o, k, SEALED_V2, ad ? ad : "", raw + kl, (size_t)rawlen - kl, pt) != 0) {
        errbuf_set(err, errlen, "crypto_open: authentication failed (wrong owner, key or tampered value)");
        goto done;
    }
    if ((plain = seal_unpack_token(pt, ptlen)) == NULL)
        errbuf_set(err, errlen, "crypto_open: malformed sealed plaintext");

done:
    if (pt != NULL) {
        OPENSSL_cleanse(pt, ptlen);
        free(pt);
    }
    free(raw);
    return plain;
}

/* b64_decode decodes standard padded base64 (length a multiple of 4) into a
 * malloc'd buffer. Returns the decoded length or -1. */
static long b64_decode(const char *s, unsigned char **out)
{
    size_t len = strlen(s), pad = 0, i;
    unsigned char *buf;
    int n;

    *out = NULL;
    if (len == 0 || len % 4 != 0 || len > INT_MAX)
        return -1;
    /* EVP_DecodeBlock trims whitespace and tolerates things we do not want;
     * insist on the exact alphabet so a sealed value has one spelling. */
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '=') {
            if (i < len - 2)
                return -1;
            pad++;
        } else if (pad > 0 || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                                || (c >= '0' && c <= '9') || c == '+' || c == '/')) {
            return -1;
        }
    }
    /* The bits a padded final character carries beyond the data must be zero,
     * or two spellings would open to the same value. */
    if (pad > 0) {
        const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        int v = (int)(strchr(alpha, s[len - pad - 1]) - alpha);
        if ((pad == 1 && (v & 0x3)) || (pad == 2 && (v & 0xf)))
            return -1;
    }
    buf = malloc(len / 4 * 3 + 1);
    if (buf == NULL)
        return -1;
    n = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len);
    /* EVP_DecodeBlock counts the zero bytes that padding stands for. */
    if (n < 0 || (size_t)n < pad) {
        free(buf);
        return -1;
    }
    *out = buf;
    return (long)((size_t)n - pad);
}

/* open_v1 opens a crypto_seal value, "v1.<kid>.<base64>". */
static char *open_v1(const struct crypto_keyring *kr, const char *ad, const char *sealed,
                     char *err, size_t errlen)
{
    const struct crypto_key *k;
    unsigned char *raw = NULL;
    char *plain = NULL;
    const char *p;
    long kid, rawlen;
    size_t clen = 0;

    if (kr == NULL) {
        errbuf_set(err, errlen, "crypto_open: value is encrypted but no token key file is configured");
        return NULL;
    }
    kid = parse_kid(sealed + sizeof SEALED_PREFIX - 1, &p);
    if (kid < 0 || *p != '.') {
        errbuf_set(err, errlen, "crypto_open: malformed sealed value");
        return NULL;
    }
    k = find_key(kr, kid);
    if (k == NULL) {
        errbuf_set(err, errlen, "crypto_open: unknown key id %ld (not in the token key file)", kid);
        return NULL;
    }
    rawlen = b64_decode(p + 1, &raw);
    if (rawlen < CRYPTO_NONCE_LEN + CRYPTO_TAG_LEN) {
        errbuf_set(err, errlen, "crypto_open: malformed sealed value");
        goto err;
    }
    clen = (size_t)rawlen - CRYPTO_NONCE_LEN - CRYPTO_TAG_LEN;
    plain = malloc(clen + 1);
    if (plain == NULL) {
        errbuf_set(err, errlen, "crypto_open: out of memory");
        goto err;
    }
    if (gcm_open(kr, NULL, k, 0, ad, raw, (size_t)rawlen, (unsigned char *)plain) != 0) {
        errbuf_set(err, errlen, "crypto_open: authentication failed (wrong owner, key or tampered value)");
        goto err;
    }
    plain[clen] = '\0';
    if (memchr(plain, '\0', clen) != NULL) {
        errbuf_set(err, errlen, "crypto_open: decrypted value contains a NUL byte");
        goto err;
    }
    free(raw);
    return plain;

err:
    free(raw);
    if (plain != NULL) {
        OPENSSL_cleanse(plain, clen + 1);
        free(plain);
    }
    return NULL;
}

/* open_any: crypto_open, through o (NULL: none) for the binary format. */
static char *open_any(const struct crypto_keyring *kr, struct crypto_opener *o, const char *ad,
                      const char *sealed, char *err, size_t errlen)
{
    char *plain;

    if (sealed == NULL) {
        errbuf_set(err, errlen, "crypto_open: no value");
        return NULL;
    }
    if (ad == NULL)
        ad = "";
    if ((unsigned char)sealed[0] == SEALED_V2)
        return open_v2(kr, o, ad, sealed, err, errlen);
    if (strncmp(sealed, SEALED_PREFIX, sizeof SEALED_PREFIX - 1) == 0)
        return open_v1(kr, ad, sealed, err, errlen);
    if (strncmp(sealed, PLAIN_PREFIX, sizeof PLAIN_PREFIX - 1) != 0) {
        errbuf_set(err, errlen, "crypto_open: not a sealed value (expected binary, \"v1.\" or \"plain.\")");
        return NULL;
    }
    /* With a keyring every value we write is sealed, so a plaintext one was
     * put there by someone else (or left from plaintext mode): using it
     * would let whoever can write Redis choose the token or client secret
     * we send. */
    if (kr != NULL) {
        errbuf_set(err, errlen, "crypto_open: plaintext value refused: a token key file is "
                                "configured, so values must be sealed (store it again)");
        return NULL;
    }
    plain = strdup(sealed + sizeof PLAIN_PREFIX - 1);
    if (plain == NULL)
        errbuf_set(err, errlen, "crypto_open: out of memory");
    return plain;
}

char *crypto_open(const struct crypto_keyring *kr, const char *ad, const char *sealed,
                  char *err, size_t errlen)
{
    return open_any(kr, NULL, ad, sealed, err, errlen);
}

struct crypto_opener *crypto_opener_new(const struct crypto_keyring *kr)
{
    struct crypto_opener *o = calloc(1, sizeof *o);

    if (o == NULL)
        return NULL;
    o->kr = kr;
    if (kr != NULL && kr->n > 0 && (o->ctx = calloc(kr->n, sizeof *o->ctx)) == NULL) {
        free(o);
        return NULL;
    }
    return o;
}

void crypto_opener_free(struct crypto_opener *o)
{
    if (o == NULL)
        return;
    for (size_t i = 0; o->ctx != NULL && i < o->kr->n; i++)
        EVP_CIPHER_CTX_free(o->ctx[i]);   /* cleanses the key schedule */
    free(o->ctx);
    free(o);
}

char *crypto_opener_open(struct crypto_opener *o, const char *ad, const char *sealed, char *err, size_t errlen)
{
    return open_any(o->kr, o->kr != NULL && o->kr->n > 0 ? o : NULL, ad, sealed, err, errlen);
}

int crypto_needs_reseal(const struct crypto_keyring *kr, const char *sealed)
{
    unsigned char *raw = NULL;
    size_t used = 0;
    long rawlen, kid;

    /* Without a keyring there is nothing better to reseal with. */
    if (kr == NULL || kr->n == 0 || sealed == NULL)
        return 0;
    /* v1 text and plain values are rewritten in the binary format. */
    if ((unsigned char)sealed[0] != SEALED_V2)
        return 1;
    rawlen = seal_unstuff(sealed + 1, &raw);
    kid = rawlen < 0 ? -1 : seal_kid_get(raw, (size_t)rawlen, &used);
    free(raw);
    return kid != crypto_current_kid(kr);
}

void secret_free(char *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

int crypto_random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char chunk[64];
    size_t done = 0, i;

    while (done < nbytes) {
        size_t n = nbytes - done < sizeof chunk ? nbytes - done : sizeof chunk;
        if (RAND_bytes(chunk, (int)n) != 1) {
            OPENSSL_cleanse(chunk, sizeof chunk);
            out[0] = '\0';
            return -1;
        }
        for (i = 0; i < n; i++) {
            out[2 * (done + i)] = hex[chunk[i] >> 4];
            out[2 * (done + i) + 1] = hex[chunk[i] & 0xf];
        }
        done += n;
    }
    out[2 * nbytes] = '\0';
    OPENSSL_cleanse(chunk, sizeof chunk);
    return 0;
}
