#ifndef SW_LOGIN_COOKIE_H
#define SW_LOGIN_COOKIE_H
/* login_cookie: what binds a login to the browser that started it (login
 * CSRF: a state taken by one person and opened in another's browser must
 * not attach the second person's Spotify account to the first one's user
 * id). Pure: no I/O; randomness from OpenSSL.
 *
 * /connect makes a fresh 32-byte secret S, gives the browser the cookie
 *
 *   name  = ["__Secure-"] "sw_login_" nonce_b64      (one per login, so two
 *           tabs do not overwrite each other's; the prefix when https)
 *   value = b64url(S) ["." b64url(return_to)]
 *   Path={callback path}; Max-Age={state TTL}; HttpOnly; SameSite=Lax[; Secure]
 *
 * and signs into the state (include/serve/oauth.h) login_cookie_hash(value).
 * /callback reads the cookie the state's nonce names and compares its hash
 * with the signed one before anything else happens; then the return_to it
 * carries is the one /connect checked, since the hash covers it.
 *
 * The PKCE verifier is never stored nor sent anywhere but to Spotify's token
 * endpoint: it is derived, base64url(HMAC-SHA256(state key, "spotwatch-pkce\0"
 * | nonce | S)), so /connect (for the challenge) and /callback (for the
 * exchange) compute the same one, and only with the browser's cookie and the
 * server's key together. SameSite=Lax still sends the cookie on Spotify's
 * top-level redirect back to /callback. */
#include <stddef.h>
#include "serve/oauth.h"

#define LOGIN_COOKIE_SECRET 32
#define LOGIN_COOKIE_RETURN_TO_MAX 1024   /* bytes of return_to a login may carry */
/* b64url(S) "." b64url(return_to) and a NUL */
#define LOGIN_COOKIE_VALUE_MAX (44 + 1 + (LOGIN_COOKIE_RETURN_TO_MAX + 2) / 3 * 4 + 1)
#define LOGIN_COOKIE_NAME_MAX 48

/* login_cookie: one login's cookie, decoded. */
struct login_cookie {
    unsigned char secret[LOGIN_COOKIE_SECRET];
    char return_to[LOGIN_COOKIE_RETURN_TO_MAX + 1];  /* "" = none */
};

/* login_cookie_new fills lc with a fresh secret and return_to (NULL = none).
 * 0, or -1 (return_to longer than LOGIN_COOKIE_RETURN_TO_MAX or holding a
 * control character, no randomness). */
int login_cookie_new(struct login_cookie *lc, const char *return_to);

/* login_cookie_encode writes lc's cookie value into out (at least
 * LOGIN_COOKIE_VALUE_MAX bytes). Returns its length. */
size_t login_cookie_encode(const struct login_cookie *lc, char *out);

/* login_cookie_decode reads a cookie value into lc: 0, or -1 when it is not
 * one login_cookie_encode could have written. */
int login_cookie_decode(const char *value, struct login_cookie *lc);

/* login_cookie_hash: SHA-256 of the cookie value, what the state signs. */
void login_cookie_hash(const char *value, unsigned char out[OAUTH_COOKIE_HASH]);

/* login_cookie_matches: 1 when value hashes to what the state signed
 * (compared in constant time), else 0. value NULL = 0. */
int login_cookie_matches(const char *value, const struct oauth_state *st);

/* login_cookie_name writes the cookie's name for the login of nonce_b64
 * ("__Secure-" first when secure). */
void login_cookie_name(const char *nonce_b64, int secure, char out[LOGIN_COOKIE_NAME_MAX]);

/* login_cookie_header returns the malloc'd Set-Cookie value (free() it) that
 * gives the browser name=value on path for max_age_s seconds (0 with value
 * "" deletes it), or NULL when out of memory. */
char *login_cookie_header(const char *name, const char *value, const char *path, long max_age_s,
                          int secure);

/* login_cookie_verifier writes the PKCE verifier of a login (43 chars of
 * base64url): key key_index of k over the nonce and the cookie's secret.
 * 0, or -1 when key_index names no key. */
int login_cookie_verifier(const struct oauth_keys *k, int key_index,
                          const unsigned char nonce[OAUTH_NONCE_LEN],
                          const unsigned char secret[LOGIN_COOKIE_SECRET],
                          char out[OAUTH_VERIFIER_B64]);

#endif
