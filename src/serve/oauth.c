/* oauth.c: the signed OAuth state, PKCE and URL rules (see include/serve/oauth.h). */
#include "serve/oauth.h"
#include "base/codec.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define STATE_VERSION 2
/* Domain separation: a key shared by mistake with another use of HMAC can
 * never make a MAC that verifies here. */
static const char mac_context[] = "spotwatch-oauth-state";

/* ================================ base64url ================================ */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t oauth_b64url(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = b64chars[v >> 6 & 63];
        out[o++] = b64chars[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = b64chars[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

long oauth_b64url_decode(const char *in, unsigned char *out, size_t outlen)
{
    size_t n = strlen(in), o = 0;
    unsigned acc = 0;
    int bits = 0;

    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = codec_b64url_digit((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outlen)
                return -1;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    /* Non-zero leftover bits mean a second spelling of the same bytes: refuse
     * it, so one state has exactly one text (a changed character always fails). */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)o;
}

/* ================================== keys =================================== */

int oauth_keys_load(struct oauth_keys *k, const char *path, char *err, size_t errlen)
{
    return oauth_keys_load_file(k, path, "state key file", err, errlen);
}

int oauth_keys_load_file(struct oauth_keys *k, const char *path, const char *what, char *err,
                         size_t errlen)
{
    struct stat sb;
    char buf[8192];
    ssize_t got;
    size_t len = 0;
    int fd = -1, rc = -1;

    memset(k, 0, sizeof *k);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s %s: not a regular file", what, path);
        goto out;
    }
    if (sb.st_mode & 077) {
        snprintf(err, errlen, "%s %s: readable by group or others (chmod 600 it)", what, path);
        goto out;
    }
    while ((got = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)got;
    if (got < 0) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
        goto out;
    }
    buf[len] = '\0';
    int lineno = 0;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#' || *p == '\r')
            continue;
        /* "<kid> <64 hex>": the kid is only a label here. */
        while (*p && *p != ' ' && *p != '\t')
            p++;
        while (*p == ' ' || *p == '\t')
            p++;
        unsigned char key[32];
        int i = 0;
        for (; i < 32; i++) {
            int hi = codec_hex_digit((unsigned char)p[2 * i]), lo = hi < 0 ? -1 : codec_hex_digit((unsigned char)p[2 * i + 1]);
            if (hi < 0 || lo < 0)
                break;
            key[i] = (unsigned char)(hi << 4 | lo);
        }
        const char *rest = p + 2 * i;
        while (*rest == ' ' || *rest == '\t' || *rest == '\r')
            rest++;
        if (i != 32 || *rest != '\0') {
            OPENSSL_cleanse(key, sizeof key);
            snprintf(err, errlen, "%s %s:%d: want \"<id> <64 hex chars>\"", what, path, lineno);
            goto out;
        }
        if (k->n == OAUTH_MAX_KEYS) {
            /* Keep the newest: drop the oldest. */
            memmove(k->key[0], k->key[1], sizeof k->key[0] * (OAUTH_MAX_KEYS - 1));
            k->n--;
        }
        memcpy(k->key[k->n++], key, 32);
        OPENSSL_cleanse(key, sizeof key);
    }
    if (k->n == 0) {
        snprintf(err, errlen, "%s %s: no key (make one with `spotwatch keygen %s`)", what, path,
                 path);
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(buf, sizeof buf);
    close(fd);
    if (rc != 0)
        oauth_keys_clear(k);
    return rc;
}

int oauth_keys_random(struct oauth_keys *k, char *err, size_t errlen)
{
    memset(k, 0, sizeof *k);
    if (RAND_bytes(k->key[0], 32) != 1) {
        snprintf(err, errlen, "no randomness for the state key");
        return -1;
    }
    k->n = 1;
    return 0;
}

void oauth_keys_clear(struct oauth_keys *k)
{
    OPENSSL_cleanse(k, sizeof *k);
}

/* ================================= state =================================== */

static void state_mac(const unsigned char *key, const unsigned char *payload, size_t n,
                      unsigned char mac[32])
{
    unsigned char buf[1024];
    unsigned maclen = 32;
    if (n > sizeof buf - sizeof mac_context)
        n = sizeof buf - sizeof mac_context;   /* never reached: payloads are < 600 bytes */
    memcpy(buf, mac_context, sizeof mac_context);   /* with its NUL */
    memcpy(buf + sizeof mac_context, payload, n);
    HMAC(EVP_sha256(), key, 32, buf, sizeof mac_context + n, mac, &maclen);
}

int oauth_state_make(const struct oauth_keys *k, struct oauth_state *st, int fresh, char *out,
                     size_t outlen)
{
    unsigned char payload[1 + OAUTH_NONCE_LEN + 8 + OAUTH_COOKIE_HASH + 1 + 2 * ID_MAX], mac[32];
    size_t al = strlen(st->app), ul = strlen(st->user), n = 0;

    if (k == NULL || k->n == 0 || !keys_valid_id(st->app) || !keys_valid_id(st->user) ||
        al > 255 || st->exp_ms < 0)
        return -1;
    if (fresh && RAND_bytes(st->nonce, OAUTH_NONCE_LEN) != 1)
        return -1;
    oauth_b64url(st->nonce, OAUTH_NONCE_LEN, st->nonce_b64);
    payload[n++] = STATE_VERSION;
    memcpy(payload + n, st->nonce, OAUTH_NONCE_LEN);
    n += OAUTH_NONCE_LEN;
    for (int i = 7; i >= 0; i--)
        payload[n++] = (unsigned char)((unsigned long long)st->exp_ms >> (8 * i) & 0xff);
    memcpy(payload + n, st->cookie_hash, OAUTH_COOKIE_HASH);
    n += OAUTH_COOKIE_HASH;
    payload[n++] = (unsigned char)al;
    memcpy(payload + n, st->app, al);
    n += al;
    memcpy(payload + n, st->user, ul);
    n += ul;
    st->key_index = k->n - 1;
    state_mac(k->key[k->n - 1], payload, n, mac);
    /* base64 grows 4/3; both parts, the dot and the NUL must fit. */
    if ((n + 2) / 3 * 4 + 44 + 2 > outlen)
        return -1;
    size_t o = oauth_b64url(payload, n, out);
    out[o++] = '.';
    oauth_b64url(mac, sizeof mac, out + o);
    OPENSSL_cleanse(mac, sizeof mac);
    return 0;
}

int oauth_state_verify(const struct oauth_keys *k, const char *state, struct oauth_state *out,
                       char *err, size_t errlen)
{
    unsigned char payload[1 + OAUTH_NONCE_LEN + 8 + OAUTH_COOKIE_HASH + 1 + 2 * ID_MAX + 4], mac[40],
        want[32];
    char part[OAUTH_STATE_MAX];
    const char *dot;
    long n, ml;

    memset(out, 0, sizeof *out);
    if (state == NULL || strlen(state) >= OAUTH_STATE_MAX || (dot = strchr(state, '.')) == NULL ||
        (size_t)(dot - state) >= sizeof part) {
        snprintf(err, errlen, "malformed");
        return -1;
    }
    memcpy(part, state, (size_t)(dot - state));
    part[dot - state] = '\0';
    n = oauth_b64url_decode(part, payload, sizeof payload);
    ml = oauth_b64url_decode(dot + 1, mac, sizeof mac);
    if (n < 0 || ml != 32) {
        snprintf(err, errlen, "malformed");
        return -1;
    }
    /* Check the MAC before reading a single field: nothing an attacker wrote
     * is interpreted unless it was signed by us. */
    int ok = 0, which = -1;
    for (int i = 0; k && i < k->n; i++) {
        state_mac(k->key[i], payload, (size_t)n, want);
        int same = CRYPTO_memcmp(want, mac, 32) == 0;
        ok |= same;
        which = same ? i : which;
    }
    OPENSSL_cleanse(want, sizeof want);
    if (!ok) {
        snprintf(err, errlen, "bad signature");
        return -1;
    }
    size_t min = 1 + OAUTH_NONCE_LEN + 8 + OAUTH_COOKIE_HASH + 1;
    if ((size_t)n < min + 2 || payload[0] != STATE_VERSION) {
        snprintf(err, errlen, "malformed");
        return -1;
    }
    size_t p = 1;
    memcpy(out->nonce, payload + p, OAUTH_NONCE_LEN);
    p += OAUTH_NONCE_LEN;
    unsigned long long exp = 0;
    for (int i = 0; i < 8; i++)
        exp = exp << 8 | payload[p++];
    out->exp_ms = (long long)exp;
    memcpy(out->cookie_hash, payload + p, OAUTH_COOKIE_HASH);
    p += OAUTH_COOKIE_HASH;
    out->key_index = which;
    size_t al = payload[p++];
    if (al == 0 || al > ID_MAX || p + al >= (size_t)n || (size_t)n - p - al > ID_MAX) {
        snprintf(err, errlen, "malformed");
        return -1;
    }
    memcpy(out->app, payload + p, al);
    out->app[al] = '\0';
    p += al;
    memcpy(out->user, payload + p, (size_t)n - p);
    out->user[(size_t)n - p] = '\0';
    /* A NUL inside an id would cut it short and leave the rest unread: the
     * ids must be exactly the signed bytes (found by tests/fuzz/fuzz_state.c). */
    if (!keys_valid_id(out->app) || !keys_valid_id(out->user) || strlen(out->app) != al ||
        strlen(out->user) != (size_t)n - p) {
        snprintf(err, errlen, "malformed");
        return -1;
    }
    oauth_b64url(out->nonce, OAUTH_NONCE_LEN, out->nonce_b64);
    return 0;
}

/* ================================== PKCE =================================== */

int oauth_pkce_verifier(char out[OAUTH_VERIFIER_B64])
{
    unsigned char r[32];
    if (RAND_bytes(r, sizeof r) != 1)
        return -1;
    oauth_b64url(r, sizeof r, out);
    OPENSSL_cleanse(r, sizeof r);
    return 0;
}

void oauth_pkce_challenge(const char *verifier, char out[OAUTH_VERIFIER_B64])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)verifier, strlen(verifier), md);
    oauth_b64url(md, sizeof md, out);
}

/* =================================== URLs ================================== */

/* url_parts: scheme (lower case), host (lower case, brackets kept for IPv6),
 * port (-1 when absent) and where the path starts. */
struct url_parts {
    char scheme[8];
    char host[256];
    long port;
    const char *path;
};

static int parse_url(const char *url, struct url_parts *u)
{
    memset(u, 0, sizeof *u);
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= ' ' || *p >= 127 || *p == '\\')
            return -1;
    const char *sep = strstr(url, "://");
    if (sep == NULL || (size_t)(sep - url) >= sizeof u->scheme)
        return -1;
    for (size_t i = 0; url + i < sep; i++)
        u->scheme[i] = (char)tolower((unsigned char)url[i]);
    if (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0)
        return -1;
    const char *a = sep + 3;
    const char *end = a + strcspn(a, "/?#");
    if (memchr(a, '@', (size_t)(end - a)) != NULL)  /* user info: never */
        return -1;
    const char *hend;
    if (*a == '[') {
        hend = memchr(a, ']', (size_t)(end - a));
        if (hend == NULL)
            return -1;
        hend++;
    } else {
        hend = memchr(a, ':', (size_t)(end - a));
        if (hend == NULL)
            hend = end;
    }
    if (hend == a || (size_t)(hend - a) >= sizeof u->host)
        return -1;
    for (size_t i = 0; a + i < hend; i++)
        u->host[i] = (char)tolower((unsigned char)a[i]);
    u->port = -1;
    if (hend < end) {
        if (*hend != ':')
            return -1;
        char *pe;
        errno = 0;
        u->port = strtol(hend + 1, &pe, 10);
        if (errno || pe == hend + 1 || pe != end || u->port < 1 || u->port > 65535)
            return -1;
    }
    u->path = end;
    return 0;
}

int oauth_redirect_uri(const char *public_url, char *out, size_t outlen, char *err, size_t errlen)
{
    struct url_parts u;
    size_t n = strlen(public_url);

    while (n > 0 && public_url[n - 1] == '/')
        n--;
    if ((size_t)snprintf(out, outlen, "%.*s/callback", (int)n, public_url) >= outlen) {
        snprintf(err, errlen, "public-url is too long");
        return -1;
    }
    if (parse_url(out, &u) != 0) {
        snprintf(err, errlen, "public-url '%s' is not an absolute http(s) URL", public_url);
        return -1;
    }
    if (strchr(u.path, '?') || strchr(u.path, '#')) {
        snprintf(err, errlen, "public-url '%s' must not have a query or fragment", public_url);
        return -1;
    }
    if (strcmp(u.host, "localhost") == 0 || strncmp(u.host, "localhost.", 10) == 0 ||
        (strlen(u.host) > 10 && strcmp(u.host + strlen(u.host) - 10, ".localhost") == 0)) {
        snprintf(err, errlen, "redirect URI %s: Spotify refuses the host name localhost; use the "
                              "loopback IP literal http://127.0.0.1:PORT (or http://[::1]:PORT)", out);
        return -1;
    }
    if (strcmp(u.scheme, "https") == 0)
        return 0;
    if (strcmp(u.host, "127.0.0.1") == 0 || strcmp(u.host, "[::1]") == 0)
        return 0;
    snprintf(err, errlen, "redirect URI %s: Spotify accepts only https, or plain http on a loopback "
                          "IP literal (127.0.0.1 or [::1])", out);
    return -1;
}

int oauth_origin(const char *url, char *out, size_t outlen)
{
    struct url_parts u;
    if (parse_url(url, &u) != 0)
        return -1;
    long def = strcmp(u.scheme, "https") == 0 ? 443 : 80;
    int n = u.port < 0 || u.port == def ? snprintf(out, outlen, "%s://%s", u.scheme, u.host)
                                        : snprintf(out, outlen, "%s://%s:%ld", u.scheme, u.host, u.port);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int oauth_return_to_ok(const char *url, const char *allowlist, const char *public_url)
{
    char want[OAUTH_ORIGIN_MAX], have[OAUTH_ORIGIN_MAX], item[OAUTH_ORIGIN_MAX];

    if (url == NULL || oauth_origin(url, have, sizeof have) != 0)
        return 0;
    if (allowlist == NULL || *allowlist == '\0')
        return oauth_origin(public_url, want, sizeof want) == 0 && strcmp(want, have) == 0;
    for (const char *p = allowlist; *p;) {
        size_t n = strcspn(p, ",");
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t' || p[m - 1] == '/'))
            m--;
        if (m > 0 && m < sizeof item) {
            memcpy(item, p, m);
            item[m] = '\0';
            if (oauth_origin(item, want, sizeof want) == 0 && strcmp(want, have) == 0)
                return 1;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

char *oauth_html_escape(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += strchr("<>&\"'", *p) ? 6 : 1;
    char *out = malloc(n + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '<': o = stpcpy(o, "&lt;"); break;
        case '>': o = stpcpy(o, "&gt;"); break;
        case '&': o = stpcpy(o, "&amp;"); break;
        case '"': o = stpcpy(o, "&quot;"); break;
        case '\'': o = stpcpy(o, "&#39;"); break;
        default: *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}
