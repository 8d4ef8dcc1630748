#ifndef SW_TOKEN_H
#define SW_TOKEN_H
/* token: what an answer of Spotify's token endpoint ({accounts-base}/api/token)
 * means for a user's tokens, and the scopes we ask for. Pure parsing; no I/O.
 * Web API answers are include/spotify/webapi.h's. */
#include <stddef.h>

/* TOK_SCOPES: the scopes a user is asked to grant, and the scope assumed for
 * tokens that come without one (`spotwatch user add`, `import`): what the
 * poll of currently-playing needs. TOK_SCOPES_BACKFILL adds what history
 * backfill (recently-played) needs, asked for when it is on. lua/claim.lua
 * looks for "user-read-recently-played" in a user's scope by itself (Lua
 * cannot include this header). */
#define TOK_SCOPES "user-read-currently-playing user-read-playback-state"
#define TOK_SCOPE_RECENTLY_PLAYED "user-read-recently-played"
#define TOK_SCOPES_BACKFILL TOK_SCOPES " " TOK_SCOPE_RECENTLY_PLAYED

/* tok_result: the outcome of a call to {accounts-base}/api/token. */
enum tok_result {
    TOK_OK,             /* new access token (and maybe a new refresh token) */
    TOK_INVALID_GRANT,  /* refresh token revoked/expired/unknown, or a bad code: reauthorise */
    TOK_INVALID_CLIENT, /* the app's credentials are wrong: alert once for the app */
    TOK_RATE_LIMITED,   /* 429: block the app for Retry-After */
    TOK_TRANSIENT,      /* 5xx, transport error, garbage body: retry with backoff */
};

/* tok_response: a parsed token answer; secrets are cleansed by tok_response_free. */
struct tok_response {
    char *access_token;        /* owned secret, NULL unless TOK_OK */
    char *refresh_token;       /* owned secret, NULL when the answer has none (keep the old one) */
    char *scope;               /* owned, may be NULL */
    long long expires_in_s;
    char error[64];            /* "invalid_grant", ... ("" if none) */
    char error_description[256];
};

/* tok_parse classifies a token-endpoint answer (status 0 = transport error)
 * and fills out (zeroed first: free a previous answer before reusing it; call
 * tok_response_free whatever the result). err gets a human reason on anything
 * but TOK_OK, never a secret. invalid_grant/invalid_client count only on a 4xx;
 * every other non-200 except 429 is TOK_TRANSIENT. */
enum tok_result tok_parse(long status, const char *body, size_t len, struct tok_response *out,
                          char *err, size_t errlen);
void tok_response_free(struct tok_response *r);

#endif
