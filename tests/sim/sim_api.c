/* sim_api.c: see sim_api.h. */
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

/* endpoint: the /v1 resources we serve. */
typedef enum { EP_NONE, EP_CURRENTLY_PLAYING, EP_PLAYER, EP_ME, EP_RECENT } endpoint;

static endpoint route(const char *path)
{
    if (!strcmp(path, "/v1/me/player/currently-playing"))
        return EP_CURRENTLY_PLAYING;
    if (!strcmp(path, "/v1/me/player"))
        return EP_PLAYER;
    if (!strcmp(path, "/v1/me"))
        return EP_ME;
    if (!strcmp(path, "/v1/me/player/recently-played"))
        return EP_RECENT;
    return EP_NONE;
}

static const char *required_scope(endpoint ep)
{
    switch (ep) {
    case EP_CURRENTLY_PLAYING: return "user-read-currently-playing";
    case EP_PLAYER: return "user-read-playback-state";
    case EP_RECENT: return "user-read-recently-played";
    default: return NULL;
    }
}

static void unauthorized(sim_reply *out, const char *msg)
{
    sim_reply_api_error(out, 401, msg);
    char v[256];
    snprintf(v, sizeof v,
             "Bearer realm=\"spotify\", error=\"invalid_token\", error_description=\"%s\"", msg);
    sim_reply_header(out, "WWW-Authenticate", v);
}

int sim_api_rate_check(sim_app *app, sim_user *user, int token, int64_t now, sim_reply *out)
{
    int64_t retry = 0;
    long limit = token ? sim_cfg.token_rate_limit : sim_app_rate_limit(app);
    sim_rl_class c = sim_rl_admit(token ? &app->token_rl : &app->rl, limit, sim_cfg.window_ms,
                                  sim_cfg.limited_grace_ms, sim_cfg.escalation, now, &retry);
    if (c == SIM_RL_ADMITTED)
        return 0;
    if (c == SIM_RL_LATE) {
        sim_w.calls_while_limited++;
        app->calls_while_limited++;
        if (user)
            user->calls_while_limited++;
    } else if (c == SIM_RL_GRACE) {
        sim_w.calls_in_grace++;
        app->calls_in_grace++;
    }
    sim_w.rate_limited++;
    app->rate_limited++;
    if (token)
        sim_reply_oauth_error(out, 429, "rate_limited", "API rate limit exceeded");
    else
        sim_reply_api_error(out, 429, "API rate limit exceeded");
    sim_reply_retry_after(out, retry);
    return -1;
}

static void forbidden(sim_reply *out)
{
    static const char msg[] = "User not registered in the Developer Dashboard";
    if (sim_cfg.allowlist_plain_text) {
        char *s = sim_xstrdup(msg);
        sim_reply_body(out, 403, "text/plain; charset=utf-8", s, strlen(s));
    } else {
        sim_reply_api_error(out, 403, msg);
    }
}

static void render_me(sim_user *u, const char *scope, sim_reply *out)
{
    sim_buf b;
    sim_buf_init(&b);
    sim_buf_puts(&b, "{");
    int priv = sim_has_word(scope, "user-read-private");
    if (priv) {
        sim_buf_puts(&b, "\"country\":");
        sim_buf_json_str(&b, u->country);
        sim_buf_puts(&b, ",");
    }
    sim_buf_puts(&b, "\"display_name\":");
    sim_buf_json_str(&b, u->display_name);
    if (sim_has_word(scope, "user-read-email")) {
        sim_buf_puts(&b, ",\"email\":");
        sim_buf_json_str(&b, u->email);
    }
    if (priv)
        sim_buf_puts(&b, ",\"explicit_content\":{\"filter_enabled\":false,"
                         "\"filter_locked\":false}");
    sim_buf_puts(&b, ",\"external_urls\":{\"spotify\":");
    sim_buf b2;
    sim_buf_init(&b2);
    sim_buf_puts(&b2, "https://open.spotify.com/user/");
    sim_buf_url_encode(&b2, u->id);
    sim_buf_json_str(&b, b2.data);
    sim_buf_puts(&b, "},\"followers\":{\"href\":null,\"total\":0},\"href\":");
    sim_buf_free(&b2);
    sim_buf_puts(&b2, "https://api.spotify.com/v1/users/");
    sim_buf_url_encode(&b2, u->id);
    sim_buf_json_str(&b, b2.data);
    sim_buf_free(&b2);
    sim_buf_puts(&b, ",\"id\":");
    sim_buf_json_str(&b, u->id);
    sim_buf_puts(&b, ",\"images\":[]");
    if (priv) {
        sim_buf_puts(&b, ",\"product\":");
        sim_buf_json_str(&b, u->product);
    }
    sim_buf_puts(&b, ",\"type\":\"user\",\"uri\":");
    sim_buf_puts(&b2, "spotify:user:");
    sim_buf_puts(&b2, u->id);
    sim_buf_json_str(&b, b2.data);
    sim_buf_free(&b2);
    sim_buf_puts(&b, "}");
    size_t len;
    char *s = sim_buf_steal(&b, &len);
    sim_reply_body(out, 200, "application/json; charset=utf-8", s, len);
}

/* Parses a non-negative integer argument; returns -1 if absent, -2 if bad. */
static int64_t int_arg(const sim_in *in, const char *name)
{
    const char *v = sim_in_arg(in, name);
    if (!v)
        return -1;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (end == v || *end || n < 0)
        return -2;
    return n;
}

static void render_recent(sim_in *in, sim_user *u, int64_t now, sim_reply *out)
{
    int64_t limit = int_arg(in, "limit");
    int64_t after = int_arg(in, "after");
    int64_t before = int_arg(in, "before");
    if (limit == -1)
        limit = 20;
    if (limit < 1 || limit > 50) {
        sim_reply_api_error(out, 400, "Invalid limit");
        return;
    }
    if (after == -2 || before == -2) {
        sim_reply_api_error(out, 400, "Invalid cursor");
        return;
    }
    if (after >= 0 && before >= 0) {
        sim_reply_api_error(out, 400, "Only one of after or before may be specified");
        return;
    }
    sim_pb_advance(&u->pb, now, sim_cfg.recent_min_ms);
    sim_buf b;
    sim_buf_init(&b);
    sim_pb_render_recent(&u->pb, (int)limit, after, before,
                         "https://api.spotify.com/v1/me/player/recently-played", &b);
    size_t len;
    char *s = sim_buf_steal(&b, &len);
    sim_reply_body(out, 200, "application/json; charset=utf-8", s, len);
}

void sim_api_handle(sim_in *in, sim_reply *out)
{
    endpoint ep = route(in->path);
    if (ep == EP_NONE) {
        sim_reply_api_error(out, 404, "Service not found");
        return;
    }
    const char *auth = sim_in_header(in, "Authorization");
    int bearer = auth && !strncasecmp(auth, "Bearer ", 7);
    sim_token *tok = NULL;
    if (bearer) {
        const char *v = auth + 7;
        while (*v == ' ')
            v++;
        tok = sim_token_find(v);
        if (tok && tok->kind != SIM_TOKEN_ACCESS)
            tok = NULL;
    }
    if (tok) {
        in->user = tok->user;
        in->app = tok->app;
    }

    sim_fault_hit hit;
    if (sim_faults_pre(in->path, tok ? tok->user->id : NULL, tok ? tok->app->client_id : NULL,
                       out, &hit))
        return;

    if (strcmp(in->method, "GET") != 0) {
        sim_reply_api_error(out, 405, "Method not allowed");
        sim_reply_header(out, "Allow", "GET");
        goto done;
    }
    int64_t now = sim_clock_now();
    if (!auth || !*auth) {
        unauthorized(out, "No token provided");
        goto done;
    }
    if (!bearer) {
        sim_reply_api_error(out, 400, "Only valid bearer authentication supported");
        goto done;
    }
    if (!tok) {
        unauthorized(out, "Invalid access token");
        goto done;
    }
    if (now >= tok->expires_ms) {
        unauthorized(out, "The access token expired");
        goto done;
    }
    const char *need = required_scope(ep);
    if (need && !sim_has_word(tok->scope, need)) {
        unauthorized(out, "Permissions missing");
        goto done;
    }
    if (!sim_app_allows(tok->app, tok->user)) {
        forbidden(out);
        goto done;
    }
    if (sim_api_rate_check(tok->app, tok->user, 0, now, out) < 0)
        goto done;
    int64_t retry;
    if (tok->app->development && sim_quota_admit(&tok->app->quota, sim_cfg.quota_24h, now,
                                                 &retry) < 0) {
        sim_w.rate_limited++;
        sim_w.quota_exceeded++;
        tok->app->rate_limited++;
        sim_reply_json(out, 429, "{\"error\":{\"status\":429,\"message\":\"API rate limit "
                                 "exceeded\",\"reason\":\"QUOTA_EXCEEDED\"}}");
        sim_reply_retry_after(out, retry);
        goto done;
    }

    sim_user *u = tok->user;
    if (ep == EP_ME) {
        render_me(u, tok->scope, out);
    } else if (ep == EP_RECENT) {
        render_recent(in, u, now, out);
    } else {
        const char *types = sim_in_arg(in, "additional_types");
        sim_buf b;
        sim_buf_init(&b);
        int st = sim_pb_render(&u->pb, now, ep == EP_PLAYER, types && strstr(types, "episode"),
                               sim_cfg.pause_to_204_ms, sim_cfg.recent_min_ms, &b);
        if (st == 204) {
            sim_buf_free(&b);
            sim_reply_body(out, 204, NULL, NULL, 0);
        } else {
            size_t len;
            char *s = sim_buf_steal(&b, &len);
            sim_reply_body(out, 200, "application/json; charset=utf-8", s, len);
        }
    }
done:
    sim_faults_post(&hit, out);
}
