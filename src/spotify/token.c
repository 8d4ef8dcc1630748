/* token: what an answer of Spotify's token endpoint means (see
 * include/spotify/token.h). Pure functions, no I/O. */
#include "base/errbuf.h"
#include "spotify/answer.h"
#include "spotify/token.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

/* Longest expires_in we believe: a year. Anything larger is a broken answer
 * and would overflow the caller's ms arithmetic. */
#define TOK_MAX_EXPIRES_S (366LL * 24 * 3600)

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
    at = answer_str(j, "access_token");
    if (at == NULL || !token_chars_ok(at)) {
        errbuf_set(err, errlen, "token endpoint: HTTP 200 without a valid access_token");
        return TOK_TRANSIENT;
    }
    type = answer_str(j, "token_type");
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
    rt = answer_str(j, "refresh_token");
    scope = answer_str(j, "scope");
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
    j = answer_json(body, len);
    if (cJSON_IsObject(j)) {
        e = answer_str(j, "error");
        d = answer_str(j, "error_description");
        if (e != NULL)
            answer_sanitize(out->error, sizeof out->error, e, strlen(e));
        if (d != NULL)
            answer_sanitize(out->error_description, sizeof out->error_description, d, strlen(d));
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
