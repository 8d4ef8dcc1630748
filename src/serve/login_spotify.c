/* login_spotify.c: the two calls to Spotify of a login's callback (the
 * contract is in login_spotify.h): the authorization code for tokens
 * (accounts' /api/token, with the PKCE verifier), then GET /me for whose
 * tokens they are. Each maps Spotify's answer to the page the browser gets;
 * login.c decides what happens next (a retry, a block of the app, storing).
 * Secrets (the code, the verifier, the client secret, the tokens, the
 * Authorization headers) are wiped after use and never logged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "base/codec.h"
#include "base/crypto.h"
#include "base/log.h"
#include "login_spotify.h"
#include "spotify/webapi.h"

enum tok_result login_spotify_token(struct serve *s, const char *client_id, const char *secret,
                                    const char *code, const char *verifier, struct tok_response *tok,
                                    char *retry_after, size_t ralen, struct answer *a)
{
    char url[CFG_STR + 16], err[256], *auth = NULL, *body = NULL;
    char *e_code = codec_pct_encode(code), *e_redir = codec_pct_encode(s->redirect_uri),
         *e_ver = codec_pct_encode(verifier);
    struct http_sync_result h = {0};
    enum tok_result res = TOK_TRANSIENT;

    snprintf(url, sizeof url, "%s/api/token", s->accounts_base);
    if (!e_code || !e_redir || !e_ver || (auth = codec_basic_auth(client_id, secret)) == NULL ||
        asprintf(&body, "grant_type=authorization_code&code=%s&redirect_uri=%s&code_verifier=%s",
                 e_code, e_redir, e_ver) < 0) {
        body = NULL;
        serve_fail(a, 500, "error", "Internal error", "The login could not be completed. Start again from the app.");
        goto out;
    }
    const char *hdrs[] = {auth, "Content-Type: application/x-www-form-urlencoded",
                          "Accept: application/json", NULL};
    double t0 = serve_mono_s();
    http_sync_call(&s->http, "POST", url, hdrs, body, &h);
    log_debug("callback: token exchange: status %ld in %.0f ms", h.status, (serve_mono_s() - t0) * 1000);
    res = tok_parse(h.status, h.body, h.len, tok, err, sizeof err);
    snprintf(retry_after, ralen, "%s", h.retry_after ? h.retry_after : "");
    switch (res) {
    case TOK_OK:
        if (tok->refresh_token == NULL) {
            res = TOK_TRANSIENT;
            log_error("callback: the token answer has no refresh token");
            serve_fail(a, 502, "spotify_error", "Spotify error",
                 "Spotify's answer was incomplete. Try connecting again later.");
        }
        break;
    case TOK_INVALID_GRANT:
        serve_fail(a, 400, "bad_code", "Login failed",
             "Spotify did not accept this login (the authorization code is invalid, used or "
             "expired). Start again from the app.");
        log_warn("callback: token exchange refused: %s", err);
        break;
    case TOK_INVALID_CLIENT:
        serve_fail(a, 502, "invalid_client", "Service misconfigured",
             "Spotify rejected this service's app credentials. The operator has been told.");
        log_error("callback: token exchange: the app's client credentials were rejected: %s", err);
        break;
    case TOK_RATE_LIMITED:
        break;   /* the caller blocks the app and answers */
    case TOK_TRANSIENT:
        serve_fail(a, 502, "spotify_error", "Spotify is unavailable",
             "Spotify did not answer properly. Try again in a few minutes.");
        log_warn("callback: token exchange failed: %s%s%s", err, h.status ? "" : ": ",
                 h.status ? "" : h.error);
        break;
    }
out:
    http_sync_free(&h);
    if (auth)
        secret_free(auth);
    if (body) {
        OPENSSL_cleanse(body, strlen(body));
        free(body);
    }
    if (e_code)
        secret_free(e_code);
    free(e_redir);
    if (e_ver)
        secret_free(e_ver);
    return res;
}

int login_spotify_me(struct serve *s, const char *access, char *id, size_t idlen, char *name,
                     size_t namelen, char *retry_after, size_t ralen, struct answer *a)
{
    char url[CFG_STR + 8], msg[128], *auth = NULL;
    struct http_sync_result h = {0};
    int rc = -1;

    snprintf(url, sizeof url, "%s/me", s->api_base);
    if (asprintf(&auth, "Authorization: Bearer %s", access) < 0) {
        auth = NULL;
        serve_fail(a, 500, "error", "Internal error", "The login could not be completed. Start again from the app.");
        return -1;
    }
    const char *hdrs[] = {auth, "Accept: application/json", NULL};
    http_sync_call(&s->http, "GET", url, hdrs, NULL, &h);
    enum api_class cls = api_classify(h.status, h.body, h.len, msg, sizeof msg);
    snprintf(retry_after, ralen, "%s", h.retry_after ? h.retry_after : "");
    if (cls == API_RATE_LIMITED || cls == API_QUOTA) {
        rc = 1;
    } else if (cls == API_OK) {
        cJSON *j = cJSON_ParseWithLength(h.body, h.len);
        /* Spotify's account_id (May 2026) is what it says to link accounts
         * by; an answer without it (or with an empty or oversized one) falls
         * back to the user id. */
        const char *sid = cJSON_GetStringValue(cJSON_GetObjectItem(j, "account_id"));
        if (sid == NULL || *sid == '\0' || strlen(sid) >= idlen)
            sid = cJSON_GetStringValue(cJSON_GetObjectItem(j, "id"));
        const char *dn = cJSON_GetStringValue(cJSON_GetObjectItem(j, "display_name"));
        if (sid && *sid && strlen(sid) < idlen) {
            snprintf(id, idlen, "%s", sid);
            snprintf(name, namelen, "%s", dn ? dn : "");
            rc = 0;
        } else {
            log_warn("callback: GET /me: no account id in the answer");
            serve_fail(a, 502, "spotify_error", "Spotify error",
                 "Spotify's answer was incomplete. Try connecting again later.");
        }
        cJSON_Delete(j);
    } else if (cls == API_NOT_REGISTERED) {
        serve_fail(a, 403, "not_registered", "Account not allowed",
             "This Spotify account is not on the app's list of users (the app is in development "
             "mode). Ask the operator to add it.");
    } else {
        log_warn("callback: GET /me: status %ld%s%s", h.status, msg[0] ? ": " : "", msg);
        serve_fail(a, 502, "spotify_error", "Spotify is unavailable",
             "Spotify did not answer properly. Try again in a few minutes.");
    }
    http_sync_free(&h);
    OPENSSL_cleanse(auth, strlen(auth));
    free(auth);
    return rc;
}
