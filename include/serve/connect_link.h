#ifndef SW_CONNECT_LINK_H
#define SW_CONNECT_LINK_H
/* connect_link: signed /connect links. The product's web app knows which user is
 * logged in; serve does not. With connect-key-file set, serve only starts a
 * login for a link the web app signed for that user:
 *
 *   {public-url}/connect?user=U[&app=A][&return_to=R][&show_dialog=1]&exp=E&sig=S
 *   E = Unix seconds after which the link is refused (decimal, no sign, no
 *       leading zero), at most CONNECT_LINK_MAX_AHEAD_S (+ CONNECT_LINK_SKEW_S) ahead
 *   S = base64url, unpadded (one trailing '=' is tolerated), of
 *       HMAC-SHA256(key, "connect\n" U "\n" A "\n" R "\n" E)
 *       or, for a link with show_dialog=1, of
 *       HMAC-SHA256(key, "connect\n" U "\n" A "\n" R "\n" E "\nshow_dialog")
 *   (so show_dialog can be neither added to a signed link nor taken off it)
 *
 * A, R are "" when absent; U, A, R are the decoded query values. U and A are
 * ids (no '\n'), E is digits, so the message names one (U, A, R, E) only.
 * The key file has the format of `spotwatch keygen` (oauth_keys_load_file);
 * links are signed with its last key and checked against all its keys, so a
 * new key can be rolled out to the web app without a flag day. Pure: no I/O. */
#include <stddef.h>
#include "serve/oauth.h"

#define CONNECT_LINK_MAX_AHEAD_S 900    /* a link lives at most 15 minutes */
#define CONNECT_LINK_SKEW_S 60          /* clock difference tolerated between web app and serve */
#define CONNECT_LINK_SIG_B64 44         /* 32 bytes -> 43 chars + NUL */

/* connect_link_verdict: what connect_link_verify found; see connect_link_reason. */
enum connect_link_verdict {
    CONNECT_LINK_OK,
    CONNECT_LINK_MISSING,        /* no exp or no sig: an unsigned link */
    CONNECT_LINK_MALFORMED,      /* exp not canonical decimal, sig not 32 bytes of base64url, bad app */
    CONNECT_LINK_BAD_SIGNATURE,  /* signed by no key of ours, or for other parameters */
    CONNECT_LINK_EXPIRED,        /* exp is in the past */
    CONNECT_LINK_TOO_FAR_AHEAD,  /* exp beyond now + CONNECT_LINK_MAX_AHEAD_S + CONNECT_LINK_SKEW_S */
};
#define CONNECT_LINK_VERDICTS 6

/* connect_link_reason returns the verdict's metrics label ("ok", "missing",
 * "malformed", "bad_signature", "expired", "too_far_ahead"). */
const char *connect_link_reason(enum connect_link_verdict v);

/* connect_link_sign writes S for (user, app, return_to, exp_s) with the last key
 * of k into out. app and return_to may be NULL (= ""). 0, or -1 (no key). */
int connect_link_sign(const struct oauth_keys *k, const char *user, const char *app,
                  const char *return_to, long long exp_s, char out[CONNECT_LINK_SIG_B64]);

/* connect_link_sign_dialog: connect_link_sign for a link that carries
 * show_dialog=1 when dialog != 0 (connect_link_sign is it with dialog 0). */
int connect_link_sign_dialog(const struct oauth_keys *k, const char *user, const char *app,
                             const char *return_to, int dialog, long long exp_s,
                             char out[CONNECT_LINK_SIG_B64]);

/* connect_link_verify checks the link's exp and sig texts (NULL when absent)
 * against every key of k in constant time, then exp against now_s (Unix
 * seconds). The signature is checked before the expiry, so "expired" and
 * "too_far_ahead" are only said of links we signed. */
enum connect_link_verdict connect_link_verify(const struct oauth_keys *k, const char *user,
                                      const char *app, const char *return_to, const char *exp,
                                      const char *sig, long long now_s);

/* connect_link_verify_dialog: connect_link_verify for a link with
 * show_dialog=1 (dialog != 0) or without it (dialog 0; connect_link_verify). */
enum connect_link_verdict connect_link_verify_dialog(const struct oauth_keys *k, const char *user,
                                                     const char *app, const char *return_to,
                                                     int dialog, const char *exp, const char *sig,
                                                     long long now_s);

/* connect_link_url returns the malloc'd signed link (free() it), every value
 * percent-encoded: "{public_url without trailing '/'}/connect?user=..[&app=..]
 * [&return_to=..]&exp=..&sig=..". NULL when user or app is not a valid id,
 * there is no key, or out of memory. */
char *connect_link_url(const struct oauth_keys *k, const char *public_url, const char *user,
                   const char *app, const char *return_to, long long exp_s);

#endif
