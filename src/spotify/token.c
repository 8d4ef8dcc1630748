/* token: classification of Spotify's token-endpoint and Web API answers,
 * Retry-After parsing. Pure functions, no I/O. */
#include "base/errbuf.h"
#include "spotify/token.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

/* Longest expires_in we believe: a year. Anything larger is a broken answer
 * and would overflow the caller's ms arithmetic. */
#define TOK_MAX_EXPIRES_S (366LL * 24 * 3600)

/* sanitize copies up to len bytes of src into dst (size dstlen) as printable
 * ASCII: whitespace runs become one space, other bytes '?', ends trimmed, and
 * "..." marks truncation. Spotify's text ends up in logs and last_error, so a
 * body must not be able to inject newlines or terminal escapes. */
static void sanitize(char *dst, size_t dstlen, const char *src, size_t len)
{
    size_t o = 0, i;
    int space = 0, truncated = 0;

    if (dst == NULL || dstlen == 0)
        return;
    for (i = 0; i < len && src[i] != '\0'; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = o > 0;
            continue;
        }
        if (o + space + 1 >= dstlen) {
            truncated = 1;
            break;
        }
        if (space)
            dst[o++] = ' ';
        space = 0;
        dst[o++] = (c >= 0x21 && c <= 0x7e) ? (char)c : '?';
    }
    if (truncated && dstlen >= 4) {
        if (o > dstlen - 4)
            o = dstlen - 4;
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

/* json_cleanse_delete wipes every string in the tree before freeing it: a
 * token answer's tree holds copies of the access and refresh tokens. */
static void json_cleanse(cJSON *j)
{
    for (; j != NULL; j = j->next) {
        if (j->valuestring != NULL)
            OPENSSL_cleanse(j->valuestring, strlen(j->valuestring));
        json_cleanse(j->child);
    }
}

static void json_cleanse_delete(cJSON *j)
{
    json_cleanse(j);
    cJSON_Delete(j);
}

static cJSON *json_parse(const char *body, size_t len)
{
    if (body == NULL || len == 0)
        return NULL;
    return cJSON_ParseWithLength(body, len);
}

/* json_str returns obj[key] if it is a string, else NULL. Case-sensitive:
 * Spotify's keys are lower case and a duplicate key's first value wins. */
static const char *json_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* token_chars_ok: a token goes into an Authorization header or a form body;
 * refuse anything but visible ASCII so a hostile answer cannot inject headers. */
static int token_chars_ok(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

static char *dup_secret(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);

    if (d != NULL)
        memcpy(d, s, n + 1);
    return d;
}

static void free_secret(char **p)
{
    if (*p != NULL) {
        OPENSSL_cleanse(*p, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

void tok_response_free(struct tok_response *r)
{
    if (r == NULL)
        return;
    free_secret(&r->access_token);
    free_secret(&r->refresh_token);
    free(r->scope);
    r->scope = NULL;
}

/* parse_ok fills out from a 200 answer. Returns TOK_OK or TOK_TRANSIENT
 * (a 200 we cannot use is Spotify having a bad moment, not a revoked grant). */
static enum tok_result parse_ok(const cJSON *j, struct tok_response *out, char *err, size_t errlen)
{
    const cJSON *exp;
    const char *at, *rt, *scope, *type;
    double e;

    if (!cJSON_IsObject(j)) {
        errbuf_set(err, errlen, "token endpoint: HTTP 200 with a body that is not a JSON object");
        return TOK_TRANSIENT;
    }
    at = json_str(j, "access_token");
    if (at == NULL || !token_chars_ok(at)) {
        errbuf_set(err, errlen, "token endpoint: HTTP 200 without a valid access_token");
        return TOK_TRANSIENT;
    }
    type = json_str(j, "token_type");
    if (type != NULL && strcasecmp(type, "Bearer") != 0) {
        errbuf_set(err, errlen, "token endpoint: unexpected token_type (not Bearer)");
        return TOK_TRANSIENT;
    }
    exp = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
    if (!cJSON_IsNumber(exp)) {
        errbuf_set(err, errlen, "token endpoint: HTTP 200 without a numeric expires_in");
        return TOK_TRANSIENT;
    }
    e = exp->valuedouble;
    if (!isfinite(e) || e < 1 || e > (double)TOK_MAX_EXPIRES_S) {
        errbuf_set(err, errlen, "token endpoint: expires_in out of range (%g)", isfinite(e) ? e : 0.0);
        return TOK_TRANSIENT;
    }
    out->expires_in_s = (long long)e;
    /* A missing, empty or non-string refresh_token means "keep the old one";
     * a present but unusable one is treated the same rather than stored. */
    rt = json_str(j, "refresh_token");
    scope = json_str(j, "scope");
    out->access_token = dup_secret(at);
    if (rt != NULL && token_chars_ok(rt))
        out->refresh_token = dup_secret(rt);
    if (scope != NULL)
        out->scope = strdup(scope);
    if (out->access_token == NULL || (rt != NULL && token_chars_ok(rt) && out->refresh_token == NULL)
        || (scope != NULL && out->scope == NULL)) {
        tok_response_free(out);
        errbuf_set(err, errlen, "token endpoint: out of memory");
        return TOK_TRANSIENT;
    }
    return TOK_OK;
}

enum tok_result tok_parse(long status, const char *body, size_t len, struct tok_response *out,
                          char *err, size_t errlen)
{
    enum tok_result res;
    const char *e, *d;
    cJSON *j;

    memset(out, 0, sizeof *out);
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (status == 0) {
        errbuf_set(err, errlen, "token endpoint: transport error");
        return TOK_TRANSIENT;
    }
    j = json_parse(body, len);
    if (cJSON_IsObject(j)) {
        e = json_str(j, "error");
        d = json_str(j, "error_description");
        if (e != NULL)
            sanitize(out->error, sizeof out->error, e, strlen(e));
        if (d != NULL)
            sanitize(out->error_description, sizeof out->error_description, d, strlen(d));
    }

    if (status == 200) {
        res = parse_ok(j, out, err, errlen);
    } else if (status == 429) {
        errbuf_set(err, errlen, "token endpoint: HTTP 429 rate limited");
        res = TOK_RATE_LIMITED;
    } else if (status >= 400 && status < 500 && strcmp(out->error, "invalid_grant") == 0) {
        errbuf_set(err, errlen, "token endpoint: HTTP %ld invalid_grant: %s", status,
                out->error_description[0] ? out->error_description : "(no description)");
        res = TOK_INVALID_GRANT;
    } else if (status >= 400 && status < 500 && strcmp(out->error, "invalid_client") == 0) {
        errbuf_set(err, errlen, "token endpoint: HTTP %ld invalid_client: %s", status,
                out->error_description[0] ? out->error_description : "(no description)");
        res = TOK_INVALID_CLIENT;
    } else {
        /* Any other answer (5xx, 3xx, a 4xx such as invalid_request or
         * unsupported_grant_type, or a 4xx with no JSON error) is TRANSIENT on
         * purpose: only Spotify's explicit invalid_grant/invalid_client may
         * destroy a user's grant or flag the app, so a proxy's error page or a
         * bug on our side backs off and shows up in last_error instead. */
        if (out->error[0])
            errbuf_set(err, errlen, "token endpoint: HTTP %ld %s: %s", status, out->error,
                    out->error_description[0] ? out->error_description : "(no description)");
        else if (j == NULL && len > 0)
            errbuf_set(err, errlen, "token endpoint: HTTP %ld with a non-JSON body", status);
        else
            errbuf_set(err, errlen, "token endpoint: HTTP %ld", status);
        res = TOK_TRANSIENT;
    }
    json_cleanse_delete(j);
    return res;
}

/* Spotify's text for a dev-mode app's unlisted user: as plain text and as
 * the newer JSON message. */
static const char *const not_registered_msgs[] = {
    "User not registered in the Developer Dashboard",
    "the user may not be registered",
};

enum api_class api_classify(long status, const char *body, size_t len, char *message, size_t msglen)
{
    char text[512] = "";
    const char *reason = NULL;
    enum api_class c;
    cJSON *j = NULL;
    size_t i;

    if (message != NULL && msglen > 0)
        message[0] = '\0';

    /* Spotify's error shape is {"error":{"status":N,"message":"...","reason":"..."}};
     * accept the OAuth shape {"error":"...","error_description":"..."} and a
     * top-level "message"/"reason" too, and fall back to the body as text. */
    if (status != 200) {
        j = json_parse(body, len);
        if (cJSON_IsObject(j)) {
            const cJSON *eo = cJSON_GetObjectItemCaseSensitive(j, "error");
            const char *m = NULL;
            if (cJSON_IsObject(eo)) {
                m = json_str(eo, "message");
                reason = json_str(eo, "reason");
            } else if (cJSON_IsString(eo)) {
                m = json_str(j, "error_description");
                if (m == NULL)
                    m = eo->valuestring;
            }
            if (m == NULL)
                m = json_str(j, "message");
            if (reason == NULL)
                reason = json_str(j, "reason");
            if (m != NULL)
                sanitize(text, sizeof text, m, strlen(m));
        } else if (body != NULL && len > 0) {
            /* Plain text (or JSON that is not an object, e.g. a bare string). */
            sanitize(text, sizeof text, body, len);
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
        c = API_FORBIDDEN;
        for (i = 0; i < sizeof not_registered_msgs / sizeof not_registered_msgs[0]; i++)
            if (strcasestr(text, not_registered_msgs[i]) != NULL)
                c = API_NOT_REGISTERED;
    } else if (status == 429) {
        c = reason != NULL && strcmp(reason, "QUOTA_EXCEEDED") == 0 ? API_QUOTA : API_RATE_LIMITED;
    } else if (status == 408 || (status >= 500 && status <= 599)) {
        c = API_TRANSIENT;
    } else {
        c = API_UNEXPECTED;
    }

    if (message != NULL && msglen > 0 && c != API_OK && c != API_NOTHING) {
        if (text[0] != '\0')
            sanitize(message, msglen, text, strlen(text));
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
        return secs == 0 ? 1000 : secs * 1000;
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
