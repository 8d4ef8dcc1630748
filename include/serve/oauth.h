#ifndef SW_OAUTH_H
#define SW_OAUTH_H
/* oauth: the pure parts of per-user OAuth (used by serve): the signed state,
 * PKCE, and the URL rules (redirect URI, return_to origins). No I/O except
 * reading the state key file.
 *
 * The state parameter is "<payload>.<mac>", both base64url without padding:
 *   payload = 0x02 | nonce[16] | exp_ms (u64, big-endian, Unix ms) |
 *             cookie_hash[32] | len(app) (u8) | app | user
 *   mac     = HMAC-SHA256(key, "spotwatch-oauth-state\0" | payload)
 * It carries the user id, so the callback knows whose login it is; the MAC
 * makes a forged or altered state fail before Redis is touched; cookie_hash
 * commits it to the login cookie /connect gave the browser that started it
 * (include/serve/login_cookie.h), so a state is worth nothing in another
 * browser; the nonce names the login: the used-nonce record
 * (<p>oauth:used:<base64url(nonce)>) that makes it single-use, the login
 * cookie's name and, with the cookie's secret, the PKCE verifier. Nothing of
 * a login is stored before its callback. */
#include <stddef.h>
#include <stdint.h>
#include "redis/key_schema.h"

#define OAUTH_NONCE_LEN 16
#define OAUTH_NONCE_B64 23      /* 22 chars + NUL */
#define OAUTH_STATE_MAX 512     /* fits the longest ids (2 * ID_MAX) with room */
#define OAUTH_VERIFIER_B64 44   /* 32 random bytes -> 43 chars + NUL */
#define OAUTH_ORIGIN_MAX 300
#define OAUTH_MAX_KEYS 16

/* oauth_keys: the HMAC keys of the state (signing uses the last). */
struct oauth_keys {
    unsigned char key[OAUTH_MAX_KEYS][32];
    int n;
};

#define OAUTH_COOKIE_HASH 32

/* oauth_state: a verified state's contents. */
struct oauth_state {
    unsigned char nonce[OAUTH_NONCE_LEN];
    char nonce_b64[OAUTH_NONCE_B64];  /* names the login (used-nonce record, cookie) */
    long long exp_ms;                 /* Unix ms after which it is refused */
    unsigned char cookie_hash[OAUTH_COOKIE_HASH]; /* login_cookie_hash of the browser's cookie */
    char app[ID_MAX + 1];
    char user[ID_MAX + 1];
    int key_index;                    /* verify: the key that signed it (make: the last) */
};

/* oauth_keys_load reads a key file in the keyring format of `spotwatch
 * keygen` ("<kid> <64 hex>" a line, '#' comments); refuses a file readable by
 * group or others, or one with no key. 0 or -1 + err (never the key). */
int oauth_keys_load(struct oauth_keys *k, const char *path, char *err, size_t errlen);

/* oauth_keys_load_file: oauth_keys_load for any HMAC key file (the connect
 * links' too); what names the file in err ("connect key file"). */
int oauth_keys_load_file(struct oauth_keys *k, const char *path, const char *what, char *err,
                         size_t errlen);

/* oauth_keys_random makes one random key (for a serve without a key file). */
int oauth_keys_random(struct oauth_keys *k, char *err, size_t errlen);

/* oauth_keys_clear wipes the keys. */
void oauth_keys_clear(struct oauth_keys *k);

/* oauth_state_make fills st->nonce/nonce_b64 with fresh random bytes (unless
 * fresh == 0, for tests) and writes the signed state of st into out.
 * Returns 0, or -1 (ids invalid or too long, no key, no randomness). */
int oauth_state_make(const struct oauth_keys *k, struct oauth_state *st, int fresh, char *out,
                     size_t outlen);

/* oauth_state_verify checks the MAC (against every key, in constant time)
 * and the layout, and fills out. It does NOT check the expiry (the caller
 * compares out->exp_ms with its clock, so it can say "expired"). Returns 0,
 * or -1 with a short reason in err ("bad signature", "malformed"). */
int oauth_state_verify(const struct oauth_keys *k, const char *state, struct oauth_state *out,
                       char *err, size_t errlen);

/* oauth_pkce_verifier writes a fresh 43-char code verifier (RFC 7636). */
int oauth_pkce_verifier(char out[OAUTH_VERIFIER_B64]);

/* oauth_pkce_challenge writes base64url(SHA-256(verifier)) (43 chars). */
void oauth_pkce_challenge(const char *verifier, char out[OAUTH_VERIFIER_B64]);

/* oauth_b64url writes n bytes as unpadded base64url into out (at least
 * 4 * n / 3 + 2 bytes). Returns the length written. */
size_t oauth_b64url(const unsigned char *in, size_t n, char *out);

/* oauth_b64url_decode decodes unpadded base64url; returns the byte count,
 * or -1 on a bad character, bad length or overflow of outlen. */
long oauth_b64url_decode(const char *in, unsigned char *out, size_t outlen);

/* oauth_redirect_uri builds "{public_url}/callback" (without a doubled '/')
 * and checks Spotify's rules: https, or http on a loopback IP literal
 * (127.0.0.1 or [::1]); never the host name localhost. Returns 0, or -1 with
 * the reason in err. */
int oauth_redirect_uri(const char *public_url, char *out, size_t outlen, char *err, size_t errlen);

/* oauth_origin writes the normalised origin of an absolute http(s) URL
 * ("https://app.example.com", default port dropped, scheme and host lower
 * case). Refuses user info, backslashes, control characters and spaces, which
 * browsers and servers read differently. Returns 0 or -1. */
int oauth_origin(const char *url, char *out, size_t outlen);

/* oauth_return_to_ok: 1 if url may be redirected to: its origin is one of
 * the comma-separated allowlist, or, with an empty allowlist, the origin of
 * public_url. */
int oauth_return_to_ok(const char *url, const char *allowlist, const char *public_url);

/* oauth_html_escape returns a malloc'd copy of s safe inside HTML text and
 * attribute values (NULL when out of memory). */
char *oauth_html_escape(const char *s);

#endif
