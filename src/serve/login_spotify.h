#ifndef SW_LOGIN_SPOTIFY_H
#define SW_LOGIN_SPOTIFY_H
/* login_spotify: a login callback's two calls to Spotify
 * (src/serve/login_spotify.c), private to src/serve/ like login.h: login.c
 * calls them in this order, within the app's rate limit it has already
 * taken (oauth_slot.lua); they touch neither Redis nor the metrics. Each
 * blocks on Spotify (serve's http_sync client) and, when it does not
 * succeed, sets the answer the browser gets (a->status, a->outcome), except
 * for a 429, which the caller answers after blocking the app. Nothing
 * secret they are given or read is logged. */
#include <stddef.h>
#include "serve_ctx.h"
#include "spotify/token.h"

/* login_spotify_token exchanges the authorization code (with the PKCE
 * verifier and the app's client_id and secret) for tokens at
 * {accounts-base}/api/token, into *tok (free it with tok_response_free,
 * whatever the result). Returns the answer's class: TOK_OK only with a
 * refresh token; TOK_RATE_LIMITED with the answer left unset and
 * retry_after (ralen bytes) holding the 429's Retry-After ("" if none);
 * anything else with the answer set. */
enum tok_result login_spotify_token(struct serve *s, const char *client_id, const char *secret,
                                    const char *code, const char *verifier, struct tok_response *tok,
                                    char *retry_after, size_t ralen, struct answer *a);

/* login_spotify_me asks GET {api-base}/me who the access token belongs to:
 * 0 with id (the id accounts are linked by: account_id when the answer has
 * it, else the user id; shorter than idlen) and name (the display name,
 * maybe "") set; 1 when Spotify rate limits the app (retry_after set, the
 * answer left unset); -1 with the answer set. */
int login_spotify_me(struct serve *s, const char *access, char *id, size_t idlen, char *name,
                     size_t namelen, char *retry_after, size_t ralen, struct answer *a);

#endif
