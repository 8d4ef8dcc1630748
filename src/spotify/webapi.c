/* webapi: what an answer of Spotify's Web API means for the caller, and
 * Retry-After (see include/spotify/webapi.h). Pure functions, no I/O. */
#include "spotify/webapi.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "spotify/answer.h"

/* Spotify's texts for a dev-mode app's unlisted user, oldest first (JSON
 * message or plain text); forbidden_class also reads an unknown one by its
 * meaning. */
static const char *const not_registered_msgs[] = {
    "User not registered in the Developer Dashboard",
    "the user may not be registered",
    "The user is not registered for this application",
};

/* Words that tie "registered" to the app's user list rather than, say, a
 * device: a reworded not-allowlisted text names the dashboard, the
 * application or the allowlist. (A whole word: a body cut short mid-word,
 * "Developer Dash", is not read as one.) */
static const char *const registration_words[] = {"dashboard", "application", "allowlist"};

/* forbidden_class: what a 403's message means. The owner-Premium refusal
 * ("Active premium subscription required for the owner of the app") is the
 * app's; a message about the user's registration is the user's: one of the
 * known texts, or any text with "registered" and one of registration_words,
 * since Spotify rewords it every year or so ("Device not registered" alone
 * stays a plain 403). Anything else is a plain 403. */
static enum api_class forbidden_class(const char *text)
{
    size_t i;

    if (strcasestr(text, "premium subscription required") != NULL)
        return API_OWNER_PREMIUM;
    for (i = 0; i < sizeof not_registered_msgs / sizeof not_registered_msgs[0]; i++)
        if (strcasestr(text, not_registered_msgs[i]) != NULL)
            return API_NOT_REGISTERED;
    if (strcasestr(text, "registered") != NULL)
        for (i = 0; i < sizeof registration_words / sizeof registration_words[0]; i++)
            if (strcasestr(text, registration_words[i]) != NULL)
                return API_NOT_REGISTERED;
    return API_FORBIDDEN;
}

enum api_class api_classify(long status, const char *body, size_t len, char *message, size_t msglen)
{
    char text[512] = "";
    const char *reason = NULL;
    enum api_class c;
    cJSON *j = NULL;

    if (message != NULL && msglen > 0)
        message[0] = '\0';

    /* Spotify's error shape is {"error":{"status":N,"message":"...","reason":"..."}};
     * accept the OAuth shape {"error":"...","error_description":"..."} and a
     * top-level "message"/"reason" too, and fall back to the body as text. */
    if (status != 200) {
        j = answer_json(body, len);
        if (cJSON_IsObject(j)) {
            const cJSON *eo = cJSON_GetObjectItemCaseSensitive(j, "error");
            const char *m = NULL;
            if (cJSON_IsObject(eo)) {
                m = answer_str(eo, "message");
                reason = answer_str(eo, "reason");
            } else if (cJSON_IsString(eo)) {
                m = answer_str(j, "error_description");
                if (m == NULL)
                    m = eo->valuestring;
            }
            if (m == NULL)
                m = answer_str(j, "message");
            if (reason == NULL)
                reason = answer_str(j, "reason");
            if (m != NULL)
                answer_sanitize(text, sizeof text, m, strlen(m));
        } else if (body != NULL && len > 0) {
            /* Plain text (or JSON that is not an object, e.g. a bare string). */
            answer_sanitize(text, sizeof text, body, len);
        }
    }

    if (status == 0) {
        c = API_TRANSIENT;
    } else if (status == 200) {
        c = API_OK;
    } else if (status == 204) {
        c = API_NOTHING;
    } else if (status == 401) {
        /* Only a missing scope needs the user; "The access token expired",
         * "Invalid access token" and anything unknown get one refresh. The
         * caller never loops: a second 401 straight after a refresh is
         * treated as reauth by the worker. */
        c = strcasestr(text, "Permissions missing") != NULL ? API_REAUTH : API_TOKEN_EXPIRED;
    } else if (status == 403) {
        c = forbidden_class(text);
    } else if (status == 429) {
        c = reason != NULL && strcmp(reason, "QUOTA_EXCEEDED") == 0 ? API_QUOTA : API_RATE_LIMITED;
    } else if (status == 408 || (status >= 500 && status <= 599)) {
        c = API_TRANSIENT;
    } else {
        c = API_UNEXPECTED;
    }

    if (message != NULL && msglen > 0 && c != API_OK && c != API_NOTHING) {
        if (text[0] != '\0')
            answer_sanitize(message, msglen, text, strlen(text));
        else if (status == 0)
            snprintf(message, msglen, "transport error");
        else if (c == API_QUOTA)
            snprintf(message, msglen, "HTTP 429 QUOTA_EXCEEDED");
        else
            snprintf(message, msglen, "HTTP %ld", status);
    }
    cJSON_Delete(j);
    return c;
}

/* parse_delta reads 1*DIGIT with surrounding spaces already trimmed, into
 * *secs, stopping (with *huge = 1) once it exceeds limit so it cannot
 * overflow. Returns 0 or -1 if s is not all digits. */
static int parse_delta(const char *s, size_t n, long long limit, long long *secs, int *huge)
{
    long long v = 0;
    size_t i;

    *huge = 0;
    if (n == 0)
        return -1;
    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    for (i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
        if (v > limit) {
            *huge = 1;
            break;
        }
    }
    *secs = v;
    return 0;
}

/* parse_http_date reads an HTTP-date (RFC 9110: IMF-fixdate, plus the
 * obsolete RFC 850 and asctime forms) into seconds since the epoch.
 * strptime's %a/%b are the C locale's names, which is what HTTP uses; the
 * program never calls setlocale. */
static int parse_http_date(const char *s, time_t *t)
{
    static const char *const fmts[] = {
        "%a, %d %b %Y %H:%M:%S GMT",
        "%A, %d-%b-%y %H:%M:%S GMT",
        "%a %b %e %H:%M:%S %Y",
    };
    size_t i;

    for (i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        struct tm tm;
        const char *end;

        memset(&tm, 0, sizeof tm);
        end = strptime(s, fmts[i], &tm);
        if (end != NULL && *end == '\0') {
            *t = timegm(&tm);
            return *t == (time_t)-1 ? -1 : 0;
        }
    }
    return -1;
}

long long retry_after_ms(const char *value, long long now_ms, long long default_ms, long long cap_ms,
                         int *capped)
{
    char buf[64];
    const char *s, *e;
    long long limit_ms = cap_ms > 0 ? cap_ms : LLONG_MAX;
    long long secs, ms;
    size_t n;
    time_t t;
    int huge;

    if (capped != NULL)
        *capped = 0;
    if (value == NULL)
        return default_ms;
    s = value;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        e--;
    n = (size_t)(e - s);
    if (n == 0)
        return default_ms;

    if (parse_delta(s, n, limit_ms / 1000 + 1, &secs, &huge) == 0) {
        /* secs > floor(limit/1000) means secs * 1000 > limit: cap without
         * ever computing the product. */
        if (huge || secs > limit_ms / 1000)
            goto cap;
        /* "0" says nothing about when: like a missing header, never a
         * window shorter than default_ms. */
        return secs == 0 ? default_ms : secs * 1000;
    }
    /* "-5" and other non-dates fall through to default_ms below. */
    if (n >= sizeof buf)
        return default_ms;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (parse_http_date(buf, &t) != 0)
        return default_ms;
    /* A date already past means "now"; keep the never-zero rule. now_ms is
     * wall-clock ms since the epoch, so t * 1000 - now_ms cannot overflow
     * once t is bounded. */
    if ((long long)t >= LLONG_MAX / 1000 - 1)
        goto cap;
    ms = (long long)t * 1000 - now_ms;
    if (ms <= 0)
        return 1000;
    if (ms > limit_ms)
        goto cap;
    return ms;

cap:
    if (capped != NULL && cap_ms > 0)
        *capped = 1;
    return limit_ms;
}
