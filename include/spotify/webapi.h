#ifndef SW_WEBAPI_H
#define SW_WEBAPI_H
/* webapi: what an answer of Spotify's Web API ({api-base}/v1/...) means for
 * the caller (the worker's polls, serve's GET /me), and the Retry-After
 * value of a 429 (the token endpoint's too). Pure classification; no I/O.
 * Token-endpoint answers are include/spotify/token.h's. */
#include <stddef.h>

/* api_class: what a Web API answer means for the poll. */
enum api_class {
    API_OK,              /* 200 with a body to parse */
    API_NOTHING,         /* 204: nothing playing */
    API_TOKEN_EXPIRED,   /* 401 "The access token expired" / "Invalid access token" / any other
                            401 message: refresh once (a 401 right after a refresh = reauth) */
    API_REAUTH,          /* 401 "Permissions missing": user must reauthorise */
    API_NOT_REGISTERED,  /* 403 about the user's registration, any of Spotify's three texts
                            ("User not registered in the Developer Dashboard", "... the user may
                            not be registered.", "The user is not registered for this
                            application. ...") or another that says so (JSON or text) */
    API_OWNER_PREMIUM,   /* 403 "Active premium subscription required for the owner of the app"
                            (JSON or text): the app's, every call of it refused */
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
 * read relative to now_ms). NULL/empty/unparseable/negative/0 -> default_ms
 * (a 0 is no window at all: never shorten a block below the default); a
 * date already past -> 1000; above cap_ms -> cap_ms with *capped=1. */
long long retry_after_ms(const char *value, long long now_ms, long long default_ms, long long cap_ms,
                         int *capped);

#endif
