/* login_cookie.c: the cookie that binds a login to its browser, and the PKCE
 * verifier derived from it (see include/serve/login_cookie.h). */
#include "serve/login_cookie.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

/* Domain separation from the state's MAC ("spotwatch-oauth-state\0"), made
 * with the same key: no input of one can be an input of the other. */
static const char pkce_context[] = "spotwatch-pkce";

/* text_ok: return_to is printable ASCII without spaces, as oauth_origin
 * insists anyway; anything else would not survive the trip. */
static int text_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 127)
            return 0;
    return 1;
}

int login_cookie_new(struct login_cookie *lc, const char *return_to)
{
    size_t n = return_to ? strlen(return_to) : 0;

    memset(lc, 0, sizeof *lc);
    if (n > LOGIN_COOKIE_RETURN_TO_MAX || !text_ok(return_to ? return_to : "", n))
        return -1;
    if (RAND_bytes(lc->secret, sizeof lc->secret) != 1)
        return -1;
    memcpy(lc->return_to, return_to ? return_to : "", n);
    return 0;
}

size_t login_cookie_encode(const struct login_cookie *lc, char *out)
{
    size_t o = oauth_b64url(lc->secret, sizeof lc->secret, out);
    size_t n = strlen(lc->return_to);
    if (n > 0) {
        out[o++] = '.';
        o += oauth_b64url((const unsigned char *)lc->return_to, n, out + o);
    }
    return o;
}

int login_cookie_decode(const char *value, struct login_cookie *lc)
{
    char part[45];
    const char *dot;
    size_t sl;

    memset(lc, 0, sizeof *lc);
    if (value == NULL || strlen(value) >= LOGIN_COOKIE_VALUE_MAX)
        return -1;
    dot = strchr(value, '.');
    sl = dot ? (size_t)(dot - value) : strlen(value);
    if (sl >= sizeof part)
        return -1;
    memcpy(part, value, sl);
    part[sl] = '\0';
    if (oauth_b64url_decode(part, lc->secret, sizeof lc->secret) != LOGIN_COOKIE_SECRET)
        goto bad;
    if (dot) {
        long n = oauth_b64url_decode(dot + 1, (unsigned char *)lc->return_to,
                                     LOGIN_COOKIE_RETURN_TO_MAX);
        if (n <= 0 || !text_ok(lc->return_to, (size_t)n))
            goto bad;
        lc->return_to[n] = '\0';
    }
    return 0;
bad:
    OPENSSL_cleanse(lc, sizeof *lc);
    return -1;
}

void login_cookie_hash(const char *value, unsigned char out[OAUTH_COOKIE_HASH])
{
    SHA256((const unsigned char *)value, strlen(value), out);
}

int login_cookie_matches(const char *value, const struct oauth_state *st)
{
    unsigned char h[OAUTH_COOKIE_HASH];
    if (value == NULL)
        return 0;
    login_cookie_hash(value, h);
    return CRYPTO_memcmp(h, st->cookie_hash, sizeof h) == 0;
}

void login_cookie_name(const char *nonce_b64, int secure, char out[LOGIN_COOKIE_NAME_MAX])
{
    /* __Secure-: a browser takes it only from an https answer with Secure,
     * so a plain-http page on the same host cannot plant one. (__Host- would
     * also forbid a Domain but requires Path=/, and the cookie is meant for
     * the callback alone.) */
    snprintf(out, LOGIN_COOKIE_NAME_MAX, "%ssw_login_%s", secure ? "__Secure-" : "", nonce_b64);
}

char *login_cookie_header(const char *name, const char *value, const char *path, long max_age_s,
                          int secure)
{
    char *h = NULL;
    if (asprintf(&h, "%s=%s; Path=%s; Max-Age=%ld; HttpOnly; SameSite=Lax%s", name, value, path,
                 max_age_s, secure ? "; Secure" : "") < 0)
        return NULL;
    return h;
}

int login_cookie_verifier(const struct oauth_keys *k, int key_index,
                          const unsigned char nonce[OAUTH_NONCE_LEN],
                          const unsigned char secret[LOGIN_COOKIE_SECRET],
                          char out[OAUTH_VERIFIER_B64])
{
    unsigned char msg[sizeof pkce_context + OAUTH_NONCE_LEN + LOGIN_COOKIE_SECRET], mac[32];
    unsigned maclen = sizeof mac;

    if (k == NULL || key_index < 0 || key_index >= k->n)
        return -1;
    memcpy(msg, pkce_context, sizeof pkce_context);   /* with its NUL */
    memcpy(msg + sizeof pkce_context, nonce, OAUTH_NONCE_LEN);
    memcpy(msg + sizeof pkce_context + OAUTH_NONCE_LEN, secret, LOGIN_COOKIE_SECRET);
    int ok = HMAC(EVP_sha256(), k->key[key_index], 32, msg, sizeof msg, mac, &maclen) != NULL;
    if (ok)
        oauth_b64url(mac, sizeof mac, out);
    OPENSSL_cleanse(msg, sizeof msg);
    OPENSSL_cleanse(mac, sizeof mac);
    return ok ? 0 : -1;
}
