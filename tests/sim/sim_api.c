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
typedef enum { EP_NONE, EP_CURRENTLY_PLAYING, EP_PLAYER, EP_DEVICES, EP_ME, EP_RECENT } endpoint;

static endpoint route(const char *path)
{
    if (!strcmp(path, "/v1/me/player/currently-playing"))
        return EP_CURRENTLY_PLAYING;
    if (!strcmp(path, "/v1/me/player"))
        return EP_PLAYER;
    if (!strcmp(path, "/v1/me/player/devices"))
        return EP_DEVICES;
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
    case EP_DEVICES: return "user-read-playback-state";
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
    if (token) {
        sim_reply_oauth_error(out, 429, "rate_limited", "API rate limit exceeded");
        sim_reply_retry_after(out, retry);
        return -1;
    }
    /* The Web API's 429 comes in several forms (rate_limit_body). */
    switch ((sim_rate_body)sim_cfg.rate_limit_body) {
    case SIM_RATE_BODY_TEXT:
        sim_reply_text(out, 429, "Too many requests");
        sim_reply_retry_after(out, retry);
        break;
    case SIM_RATE_BODY_EMPTY:
        sim_reply_body(out, 429, NULL, NULL, 0);
        break;
    case SIM_RATE_BODY_RETRY0:
        sim_reply_api_error(out, 429, "API rate limit exceeded");
        sim_reply_header(out, "Retry-After", "0");
        break;
    default:
        sim_reply_api_error(out, 429, "API rate limit exceeded");
        sim_reply_retry_after(out, retry);
    }
    return -1;
}

/* The texts of the not-allowlisted 403, oldest first (not_registered_text). */
static const char *const not_registered_texts[] = {
    "User not registered in the Developer Dashboard",
    "Check settings on developer.spotify.com/dashboard, the user may not be registered.",
    "The user is not registered for this application. Please check your settings on "
    "https://developer.spotify.com/dashboard.",
};

/* The owner-Premium 403, as Spotify sends it (159 bytes as text/plain). */
static const char owner_premium_text[] =
    "Active premium subscription required for the owner of the app. When the subscription "
    "status changes, it can take a few hours before requests are allowed again.";

/* A 403 with msg as a Web API error, or as text/plain. */
static void forbidden(sim_reply *out, const char *msg, int plain)
{
    if (plain)
        sim_reply_text(out, 403, msg);
    else
        sim_reply_api_error(out, 403, msg);
}

static void not_registered(sim_reply *out)
{
    long v = sim_cfg.not_registered_text;
    sim_w.not_registered++;
    forbidden(out, not_registered_texts[v >= 0 && v <= 2 ? v : 0],
              (int)sim_cfg.allowlist_plain_text);
}

static void quota_exceeded(sim_app *app, const char *bucket, int64_t retry, sim_reply *out)
{
    sim_w.rate_limited++;
    sim_w.quota_exceeded++;
    app->rate_limited++;
    if (bucket) {
        long *n = sim_map_get(&sim_w.quota_by_bucket, bucket);
        if (!n) {
            n = sim_xcalloc(1, sizeof *n);
            sim_map_put(&sim_w.quota_by_bucket, bucket, n);
        }
        (*n)++;
        app->dev->quota_exceeded++;
    }
    sim_reply_json(out, 429, "{\"error\":{\"status\":429,\"message\":\"API rate limit "
                             "exceeded\",\"reason\":\"QUOTA_EXCEEDED\"}}");
    sim_reply_retry_after(out, retry);
}

int sim_api_quota_check(sim_app *app, const char *path, int token, int64_t now,
                        sim_reply *out)
{
    if (!app->development)
        return 0;
    int64_t retry = 0;
    if (sim_developer_quota_on(app->dev)) {
        const char *bucket = sim_config_bucket(path);
        if (sim_developer_quota_admit(app->dev, bucket, now, &retry) == 0)
            return 0;
        quota_exceeded(app, bucket, retry, out);
        return -1;
    }
    if (token || sim_quota_admit(&app->quota, sim_cfg.quota_24h, now, &retry) == 0)
        return 0;
    quota_exceeded(app, NULL, retry, out);
    return -1;
}

/* Which shapes this app gets (api_shapes). */
static int dev_shape(const sim_app *app)
{
    return sim_cfg.api_shapes == SIM_SHAPES_DEVELOPMENT ||
           (sim_cfg.api_shapes == SIM_SHAPES_AUTO && app->development);
}

/* /v1/me. The development-mode shape (since February 2026) has no country,
 * email, explicit_content, followers or product whatever the scopes;
 * account_id (May 2026) is in both. */
static void render_me(sim_user *u, const char *scope, int dev, sim_reply *out)
{
    sim_buf b;
    sim_buf_init(&b);
    sim_buf_puts(&b, "{\"account_id\":");
    sim_buf_json_str(&b, u->account_id);
    sim_buf_puts(&b, ",");
    int priv = !dev && sim_has_word(scope, "user-read-private");
    if (priv) {
        sim_buf_puts(&b, "\"country\":");
        sim_buf_json_str(&b, u->country);
        sim_buf_puts(&b, ",");
    }
    sim_buf_puts(&b, "\"display_name\":");
    sim_buf_json_str(&b, u->display_name);
    if (!dev && sim_has_word(scope, "user-read-email")) {
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
    sim_buf_puts(&b, dev ? "},\"href\":" : "},\"followers\":{\"href\":null,\"total\":0},\"href\":");
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

static void render_recent(sim_in *in, sim_user *u, int dev, int64_t now, sim_reply *out)
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
    sim_pb_advance(&u->pb, now);
    sim_buf b;
    sim_buf_init(&b);
    sim_history_render(&u->pb.hist, now, (int)limit, after, before, dev,
                       "https://api.spotify.com/v1/me/player/recently-played", &b);
    size_t len;
    char *s = sim_buf_steal(&b, &len);
    sim_reply_body(out, 200, "application/json; charset=utf-8", s, len);
}

/* Does the comma-separated additional_types list name type? */
static int lists_type(const char *list, const char *type)
{
    size_t tl = strlen(type);
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");
        const char *a = p, *e = p + n;
        while (a < e && *a == ' ')
            a++;
        while (e > a && e[-1] == ' ')
            e--;
        if ((size_t)(e - a) == tl && !strncmp(a, type, tl))
            return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

/* currently-playing and /me/player: the state, then the user's flaps. */
static void render_player(sim_in *in, sim_user *u, int full, int dev, int64_t now,
                          sim_reply *out)
{
    if (!sim_pb_answers(&u->pb, now, sim_cfg.pause_to_204_ms)) {
        sim_reply_body(out, 204, NULL, NULL, 0);
        return;
    }
    sim_pb_view v;
    sim_pb_view_init(&v, full, lists_type(sim_in_arg(in, "additional_types"), "episode"), dev);
    if (sim_flaps_apply(&u->flaps, &u->pb, now, &v) == 204) {
        sim_reply_body(out, 204, NULL, NULL, 0);
        return;
    }
    sim_buf b;
    sim_buf_init(&b);
    sim_pb_render(&u->pb, now, &v, &b);
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
    /* An app whose owner's Premium lapsed refuses everything, before the
     * allowlist (an app-wide condition; /api/token still answers). */
    if (sim_app_owner_lapsed(tok->app, now)) {
        sim_w.owner_premium_refused++;
        forbidden(out, owner_premium_text, (int)sim_cfg.owner_premium_plain_text);
        goto done;
    }
    if (!sim_app_allows(tok->app, tok->user)) {
        not_registered(out);
        goto done;
    }
    if (sim_api_rate_check(tok->app, tok->user, 0, now, out) < 0)
        goto done;
    if (sim_api_quota_check(tok->app, in->path, 0, now, out) < 0)
        goto done;

    sim_user *u = tok->user;
    int dev = dev_shape(tok->app);
    if (ep == EP_ME) {
        render_me(u, tok->scope, dev, out);
    } else if (ep == EP_RECENT) {
        render_recent(in, u, dev, now, out);
    } else if (ep == EP_DEVICES) {
        sim_buf b;
        sim_buf_init(&b);
        sim_pb_advance(&u->pb, now);
        sim_pb_render_devices(&u->pb, &b);
        size_t len;
        char *s = sim_buf_steal(&b, &len);
        sim_reply_body(out, 200, "application/json; charset=utf-8", s, len);
    } else {
        render_player(in, u, ep == EP_PLAYER, dev, now, out);
    }
done:
    sim_faults_post(&hit, out);
    /* Like api.spotify.com: compressed when the client asks for it. */
    if (out->body != NULL && out->len > 0 && !out->gzipped && sim_in_accepts_gzip(in)) {
        sim_reply_gzip(out);
        sim_w.gzip_asked += out->gzipped;
    }
}
