#ifndef SW_TOKEN_H
#define SW_TOKEN_H
/* token: what Spotify's answers mean for a user's tokens and for the app's
 * rate limit. Pure parsing and classification; no I/O. */
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

/* api_class: what a Web API answer means for the poll. */
enum api_class {
    API_OK,              /* 200 with a body to parse */
    API_NOTHING,         /* 204: nothing playing */
    API_TOKEN_EXPIRED,   /* 401 "The access token expired" / "Invalid access token" / any other
                            401 message: refresh once (a 401 right after a refresh = reauth) */
    API_REAUTH,          /* 401 "Permissions missing": user must reauthorise */
    API_NOT_REGISTERED,  /* 403 "User not registered in the Developer Dashboard" (JSON or text) */
    API_FORBIDDEN,       /* other 403: record, back off */
    API_RATE_LIMITED,    /* 429 */
    API_QUOTA,           /* 429 with "reason":"QUOTA_EXCEEDED" */
    API_TRANSIENT,       /* 5xx, 408, transport errors, timeouts */
    API_UNEXPECTED,      /* any other status: record, back off */
};

/* api_classify looks at status and body (JSON or plain text). message, if
 * not NULL, receives Spotify's error message (truncated) for last_error. */
enum api_class api_classify(long status, const char *body, size_t len, char *message, size_t msglen);

/* retry_after_ms parses a Retry-After value (delta seconds; an HTTP date is
 * read relative to now_ms). NULL/empty/unparseable/negative -> default_ms;
 * 0 -> 1000 (never a zero-length window); above cap_ms -> cap_ms with *capped=1. */
long long retry_after_ms(const char *value, long long now_ms, long long default_ms, long long cap_ms,
                         int *capped);

#endif
