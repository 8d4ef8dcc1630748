/* sim_accounts.c: see sim_accounts.h. */
#include "sim_accounts.h"
#include "sim_api.h"
#include "sim_clock.h"
#include "sim_config.h"
#include "sim_faults.h"
#include "sim_state.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* uri_parts: the pieces of an absolute URI we compare. Views into a copy. */
typedef struct uri_parts {
    char scheme[32];
    char host[256];
    char port[16];
    const char *rest; /* path, query and fragment (from the first '/', '?' or '#') */
} uri_parts;

static int parse_uri(const char *uri, uri_parts *p)
{
    memset(p, 0, sizeof *p);
    const char *sep = strstr(uri, "://");
    if (!sep || sep == uri || (size_t)(sep - uri) >= sizeof p->scheme)
        return -1;
    memcpy(p->scheme, uri, (size_t)(sep - uri));
    for (char *c = p->scheme; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    const char *a = sep + 3;
    const char *end = a + strcspn(a, "/?#");
    p->rest = end;
    const char *h = a, *hend;
    if (*a == '[') {
        hend = memchr(a, ']', (size_t)(end - a));
        if (!hend)
            return -1;
        hend++;
    } else {
        hend = memchr(a, ':', (size_t)(end - a));
        if (!hend)
            hend = end;
    }
    if ((size_t)(hend - h) >= sizeof p->host || hend == h)
        return -1;
    memcpy(p->host, h, (size_t)(hend - h));
    for (char *c = p->host; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    if (hend < end && *hend == ':') {
        size_t n = (size_t)(end - hend - 1);
        if (n >= sizeof p->port)
            return -1;
        memcpy(p->port, hend + 1, n);
    }
    return 0;
}

static int is_loopback(const char *host)
{
    return !strcmp(host, "127.0.0.1") || !strcmp(host, "[::1]");
}

int sim_accounts_redirect_ok(const sim_app *app, const char *uri)
{
    uri_parts p;
    int parsed = parse_uri(uri, &p) == 0;
    if (parsed) {
        if (!strcmp(p.host, "localhost") || !strncmp(p.host, "localhost.", 10))
            return 0;
        if (!strcmp(p.scheme, "http") && !is_loopback(p.host))
            return 0;
    }
    for (int i = 0; i < app->n_redirect; i++) {
        if (!strcmp(app->redirect_uris[i], uri))
            return 1;
        if (!parsed || !is_loopback(p.host))
            continue;
        uri_parts r;
        if (parse_uri(app->redirect_uris[i], &r) == 0 && !strcmp(r.scheme, p.scheme) &&
            !strcmp(r.host, p.host) && !strcmp(r.rest, p.rest))
            return 1;
    }
    return 0;
}

static void html_page(sim_reply *out, int status, const char *title, const char *text)
{
    sim_buf b;
    sim_buf_init(&b);
    sim_buf_printf(&b, "<!DOCTYPE html><html><head><title>%s</title></head><body>"
                       "<h1>%s</h1><p>%s</p></body></html>\n",
                   title, title, text);
    size_t len;
    char *s = sim_buf_steal(&b, &len);
    sim_reply_body(out, status, "text/html; charset=utf-8", s, len);
}

static void redirect_to(sim_reply *out, const char *uri, const char *k1, const char *v1,
                        const char *state)
{
    sim_buf b;
    sim_buf_init(&b);
    sim_buf_puts(&b, uri);
    sim_buf_puts(&b, strchr(uri, '?') ? "&" : "?");
    sim_buf_puts(&b, k1);
    sim_buf_puts(&b, "=");
    sim_buf_url_encode(&b, v1);
    if (state) {
        sim_buf_puts(&b, "&state=");
        sim_buf_url_encode(&b, state);
    }
    out->status = 302;
    out->ctype = NULL;
    if (b.len < sizeof out->hval[0])
        sim_reply_header(out, "Location", b.data);
    sim_buf_free(&b);
}

/* Writes s HTML-escaped. */
static void html_esc(sim_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': sim_buf_puts(b, "&lt;"); break;
        case '>': sim_buf_puts(b, "&gt;"); break;
        case '&': sim_buf_puts(b, "&amp;"); break;
        case '"': sim_buf_puts(b, "&quot;"); break;
        default: sim_buf_add(b, s, 1);
        }
    }
}

static void consent_page(sim_in *in, sim_reply *out)
{
    static const char *keep[] = {"client_id", "response_type", "redirect_uri", "state",
                                 "scope", "code_challenge_method", "code_challenge",
                                 "show_dialog"};
    sim_buf b;
    sim_buf_init(&b);
    sim_buf_puts(&b, "<!DOCTYPE html><html><head><title>Authorize</title></head><body>"
                     "<h1>spotify-sim: authorize this app?</h1><form method=\"get\" "
                     "action=\"/authorize\">");
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        const char *v = sim_in_arg(in, keep[i]);
        if (!v)
            continue;
        sim_buf_printf(&b, "<input type=\"hidden\" name=\"%s\" value=\"", keep[i]);
        html_esc(&b, v);
        sim_buf_puts(&b, "\">");
    }
    sim_buf_puts(&b, "<p>Scopes: ");
    html_esc(&b, sim_in_arg(in, "scope"));
    sim_buf_puts(&b, "</p><label>Log in as user id <input name=\"sim_user\"></label> "
                     "<button type=\"submit\">Agree</button> "
                     "<button type=\"submit\" name=\"sim_deny\" value=\"1\">Cancel</button>"
                     "</form></body></html>\n");
    size_t len;
    char *s = sim_buf_steal(&b, &len);
    sim_reply_body(out, 200, "text/html; charset=utf-8", s, len);
}

void sim_accounts_authorize(sim_in *in, sim_reply *out)
{
    if (strcmp(in->method, "GET") != 0) {
        html_page(out, 405, "Method not allowed", "Use GET.");
        return;
    }
    const char *client_id = sim_in_arg(in, "client_id");
    const char *redirect = sim_in_arg(in, "redirect_uri");
    const char *state = sim_in_arg(in, "state");
    sim_app *app = client_id ? sim_map_get(&sim_w.apps, client_id) : NULL;
    if (!app) {
        html_page(out, 400, "Error", "INVALID_CLIENT: Invalid client");
        return;
    }
    in->app = app;
    if (!redirect || !sim_accounts_redirect_ok(app, redirect)) {
        html_page(out, 400, "Error", "INVALID_CLIENT: Invalid redirect URI");
        return;
    }
    const char *rt = sim_in_arg(in, "response_type");
    if (!rt || strcmp(rt, "code") != 0) {
        redirect_to(out, redirect, "error", "unsupported_response_type", state);
        return;
    }
    const char *method = sim_in_arg(in, "code_challenge_method");
    const char *challenge = sim_in_arg(in, "code_challenge");
    if ((method || challenge) && (!method || strcmp(method, "S256") != 0 || !challenge ||
                                  strlen(challenge) < 43 || strlen(challenge) > 128)) {
        redirect_to(out, redirect, "error", "invalid_request", state);
        return;
    }
    const char *deny = sim_in_arg(in, "sim_deny");
    if (deny && strcmp(deny, "0") != 0) {
        redirect_to(out, redirect, "error", "access_denied", state);
        return;
    }
    const char *uid = sim_in_arg(in, "sim_user");
    if (!uid || !*uid) {
        consent_page(in, out);
        return;
    }
    sim_user *u = sim_user_get_or_create(uid);
    in->user = u;
    sim_code *c = sim_code_new(app, u, redirect, sim_in_arg(in, "scope"), challenge,
                               sim_clock_now());
    redirect_to(out, redirect, "code", c->value, state);
}

/* Token-endpoint failure: counts it and fills the OAuth error body. */
static void token_fail(sim_reply *out, const char *error, const char *desc)
{
    sim_w.grants_failed++;
    sim_reply_oauth_error(out, 400, error, desc);
}

static void token_ok(sim_reply *out, sim_token *acc, const char *refresh)
{
    sim_buf b;
    sim_buf_init(&b);
    sim_buf_puts(&b, "{\"access_token\":");
    sim_buf_json_str(&b, acc->value);
    sim_buf_puts(&b, ",\"token_type\":\"Bearer\",\"scope\":");
    sim_buf_json_str(&b, acc->scope);
    sim_buf_printf(&b, ",\"expires_in\":%ld", sim_cfg.token_expires_s);
    if (refresh) {
        sim_buf_puts(&b, ",\"refresh_token\":");
        sim_buf_json_str(&b, refresh);
    }
    sim_buf_puts(&b, "}");
    size_t len;
    char *s = sim_buf_steal(&b, &len);
    sim_reply_body(out, 200, "application/json", s, len);
}

void sim_accounts_token(sim_in *in, sim_reply *out)
{
    if (strcmp(in->method, "POST") != 0) {
        sim_reply_oauth_error(out, 405, "invalid_request", "Only POST is supported");
        sim_reply_header(out, "Allow", "POST");
        return;
    }
    const char *ctype = sim_in_header(in, "Content-Type");
    if (!ctype || strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0) {
        sim_fault_hit none;
        if (sim_faults_pre(in->path, NULL, NULL, out, &none))
            return;
        token_fail(out, "invalid_request",
                   "Content-Type must be application/x-www-form-urlencoded");
        return;
    }
    sim_form f;
    sim_form_parse(&f, in->body, in->body_len);

    /* client authentication: HTTP Basic or client_id/client_secret in the body */
    char basic_id[1024] = "", basic_secret[1024] = "";
    int have_basic = 0, bad_basic = 0;
    const char *auth = sim_in_header(in, "Authorization");
    if (auth && !strncasecmp(auth, "Basic ", 6)) {
        unsigned char dec[1024];
        size_t n;
        const char *v = auth + 6;
        while (*v == ' ')
            v++;
        char *colon;
        if (sim_b64_decode(v, dec, sizeof dec, &n) == 0 &&
            (colon = strchr((char *)dec, ':')) != NULL) {
            *colon = '\0';
            snprintf(basic_id, sizeof basic_id, "%s", (char *)dec);
            snprintf(basic_secret, sizeof basic_secret, "%s", colon + 1);
            have_basic = 1;
        } else {
            bad_basic = 1;
        }
    }
    const char *client_id = have_basic ? basic_id : sim_form_get(&f, "client_id");
    const char *secret = have_basic ? basic_secret : sim_form_get(&f, "client_secret");
    sim_app *app = client_id ? sim_map_get(&sim_w.apps, client_id) : NULL;
    const char *grant = sim_form_get(&f, "grant_type");
    const char *code_s = sim_form_get(&f, "code");
    const char *rt_s = sim_form_get(&f, "refresh_token");
    sim_code *code = code_s ? sim_map_get(&sim_w.codes, code_s) : NULL;
    sim_token *rt = rt_s ? sim_token_find(rt_s) : NULL;
    if (rt && rt->kind != SIM_TOKEN_REFRESH)
        rt = NULL;
    in->app = app;
    if (grant && !strcmp(grant, "authorization_code") && code && code->app == app)
        in->user = code->user;
    else if (grant && !strcmp(grant, "refresh_token") && rt && rt->app == app)
        in->user = rt->user;

    int64_t now = sim_clock_now();
    sim_fault_hit hit;
    if (sim_faults_pre(in->path, in->user ? in->user->id : NULL, app ? app->client_id : NULL,
                       out, &hit))
        goto out;

    if (bad_basic || !client_id) {
        token_fail(out, "invalid_client", "Invalid client");
        goto done;
    }
    if (!app) {
        token_fail(out, "invalid_client", "Invalid client");
        goto done;
    }
    if (sim_api_rate_check(app, in->user, 1, now, out) < 0)
        goto done;
    if (sim_api_quota_check(app, in->path, 1, now, out) < 0)
        goto done;
    if (secret && strcmp(secret, app->client_secret) != 0) {
        token_fail(out, "invalid_client", "Invalid client secret");
        goto done;
    }
    if (!grant) {
        token_fail(out, "unsupported_grant_type", "grant_type parameter is missing");
        goto done;
    }
    if (!strcmp(grant, "authorization_code")) {
        if (!code || code->used || code->app != app ||
            now >= code->created_ms + sim_cfg.code_ttl_ms) {
            token_fail(out, "invalid_grant", "Invalid authorization code");
            goto done;
        }
        if (!secret && !code->challenge) {
            token_fail(out, "invalid_client", "Invalid client secret");
            goto done;
        }
        const char *ru = sim_form_get(&f, "redirect_uri");
        if (!ru || strcmp(ru, code->redirect_uri) != 0) {
            token_fail(out, "invalid_grant", "Invalid redirect URI");
            goto done;
        }
        if (code->challenge) {
            const char *verifier = sim_form_get(&f, "code_verifier");
            char h[64];
            if (verifier)
                sim_sha256_b64url(verifier, h);
            if (!verifier || strcmp(h, code->challenge) != 0) {
                token_fail(out, "invalid_grant", "code_verifier was incorrect");
                goto done;
            }
        }
        code->used = 1;
        sim_token *acc = sim_token_new(SIM_TOKEN_ACCESS, code->user, app, code->scope, now);
        sim_token *ref = sim_token_new(SIM_TOKEN_REFRESH, code->user, app, code->scope, now);
        ref->pkce = !secret;
        sim_w.grants_code++;
        code->user->grants++;
        token_ok(out, acc, ref->value);
    } else if (!strcmp(grant, "refresh_token")) {
        if (!rt_s) {
            token_fail(out, "invalid_request", "refresh_token must be supplied");
            goto done;
        }
        if (!rt || rt->app != app || rt->dead) {
            token_fail(out, "invalid_grant", "Invalid refresh token");
            goto done;
        }
        if (!secret && !rt->pkce) {
            token_fail(out, "invalid_client", "Invalid client secret");
            goto done;
        }
        if (rt->revoked) {
            token_fail(out, "invalid_grant", "Refresh token revoked");
            goto done;
        }
        if (now >= rt->auth_ms + sim_cfg.refresh_lifetime_ms) {
            token_fail(out, "invalid_grant", "Refresh token expired");
            goto done;
        }
        sim_token *acc = sim_token_new(SIM_TOKEN_ACCESS, rt->user, app, rt->scope, now);
        const char *ret = NULL;
        if (sim_cfg.refresh_policy == SIM_REFRESH_SAME) {
            ret = rt->value;
        } else if (sim_cfg.refresh_policy == SIM_REFRESH_ROTATE) {
            sim_token *nrt = sim_token_new(SIM_TOKEN_REFRESH, rt->user, app, rt->scope, now);
            nrt->auth_ms = rt->auth_ms;
            nrt->pkce = rt->pkce;
            rt->dead = 1;
            ret = nrt->value;
        }
        sim_w.grants_refresh++;
        rt->user->grants++;
        token_ok(out, acc, ret);
    } else {
        token_fail(out, "unsupported_grant_type",
                   "grant_type must be authorization_code or refresh_token");
    }
done:
    sim_faults_post(&hit, out);
out:
    sim_form_free(&f);
}
