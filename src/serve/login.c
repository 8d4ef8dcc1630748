/* login.c: GET /connect and GET /callback of `spotwatch serve`: per-user
 * OAuth with PKCE (S256) and a signed, single-use state that names the user
 * and is bound to the browser that started the login by a cookie (see
 * include/serve/serve.h, include/serve/oauth.h, include/serve/login_cookie.h).
 * /connect stores nothing; /callback checks the state and the cookie before
 * it touches Redis. Each handler runs in its own libmicrohttpd thread and
 * blocks on Redis and Spotify. Secrets (tokens, the code, the verifier, the
 * login cookie, the client secret, the state) are never logged. The
 * callback's two calls to Spotify (the code for tokens, GET /me) are
 * login_spotify.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "serve/connect_link.h"
#include "serve/login_cookie.h"
#include "base/codec.h"
#include "base/crypto.h"
#include "redis/user_dir.h"
#include "redis/key_schema.h"
#include "base/log.h"
#include "serve/oauth.h"
#include "redis/script_contract.h"
#include "redis/scripts.h"
#include "login.h"
#include "login_spotify.h"
#include "serve_ctx.h"
#include "spotify/token.h"
#include "spotify/webapi.h"

#define CALLBACK_CALLS 2            /* the token exchange and GET /me */

/* ================================ /connect ================================ */

static const char *arg(struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    return v && *v ? v : NULL;
}

/* resolve_app picks the app of a login: the one named, else the only one.
 * 0 with app filled, or -1 with the answer set. */
static int resolve_app(struct serve *s, struct redis_sync *r, const char *want, char *app, size_t n,
                       struct answer *a)
{
    char apps[KEY_MAX];
    keys_global(apps, sizeof apps, s->cfg->key_prefix, "apps");
    if (want) {
        if (!keys_valid_id(want)) {
            serve_page(a, 400, "Bad request", "The app parameter is not a valid app id.");
            return -1;
        }
        const char *av[] = {"SISMEMBER", apps, want};
        redisReply *rep = serve_redis_cmd(r, 3, av);
        if (rep == NULL) {
            serve_page(a, 503, "Service unavailable", "The service's database is unavailable; try again shortly.");
            return -1;
        }
        int known = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
        freeReplyObject(rep);
        if (!known) {
            serve_page(a, 404, "Unknown app", "There is no app with that id.");
            return -1;
        }
        snprintf(app, n, "%s", want);
        return 0;
    }
    const char *av[] = {"SMEMBERS", apps};
    redisReply *rep = serve_redis_cmd(r, 2, av);
    if (rep == NULL) {
        serve_page(a, 503, "Service unavailable", "The service's database is unavailable; try again shortly.");
        return -1;
    }
    int rc = -1;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0)
        serve_page(a, 503, "Not configured", "No Spotify app is registered with this service yet.");
    else if (rep->elements > 1)
        serve_page(a, 400, "Bad request", "Several apps are registered: say which one with the app parameter.");
    else {
        snprintf(app, n, "%s", rep->element[0]->str);
        rc = 0;
    }
    freeReplyObject(rep);
    return rc;
}

/* user_app_conflict: 1 when user is in the directory under another app
 * (named in other), 0 when not, -1 on a Redis failure. Advisory only: it
 * spares a trip to Spotify for a verified link; the decision is
 * oauth_store.lua's, atomic with the write. */
static int user_app_conflict(struct serve *s, struct redis_sync *r, const char *user, const char *app,
                             char *other, size_t n)
{
    char users[KEY_MAX];
    keys_global(users, sizeof users, s->cfg->key_prefix, "users");
    const char *av[] = {"HGET", users, user};
    redisReply *rep = serve_redis_cmd(r, 3, av);
    if (rep == NULL)
        return -1;
    int conflict = rep->type == REDIS_REPLY_STRING && strcmp(rep->str, app) != 0;
    if (conflict)
        snprintf(other, n, "%s", rep->str);
    freeReplyObject(rep);
    return conflict;
}

/* app_full: the early, friendly form of the user cap (lua/lib/user_cap.lua
 * decides, atomic with the write in oauth_store.lua): the app's max_users
 * when it is capped, user is not one of its members yet and the app has
 * that many (<p>{<app>}:members); 0 when there is room; -1 on a Redis
 * failure. Asked before any Spotify call (the authorize page, the
 * code exchange), which could only end in a refusal. A max_users that is not
 * a whole number >= 1 is no cap, as in Lua. */
static long long app_full(struct redis_sync *r, const struct app_keys *k, const char *user)
{
    long long cap = 0;

    const char *hg[] = {"HGET", k->app, "max_users"}, *ism[] = {"SISMEMBER", k->members, user},
               *card[] = {"SCARD", k->members};
    redisReply *rep = serve_redis_cmd(r, 3, hg);
    if (rep == NULL)
        return -1;
    if (rep->type == REDIS_REPLY_STRING) {
        char *end;
        cap = strtoll(rep->str, &end, 10);
        if (*end || end == rep->str)
            cap = 0;
    }
    freeReplyObject(rep);
    if (cap <= 0)
        return 0;
    if ((rep = serve_redis_cmd(r, 3, ism)) == NULL)
        return -1;
    int known = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    freeReplyObject(rep);
    if (known)
        return 0;
    if ((rep = serve_redis_cmd(r, 2, card)) == NULL)
        return -1;
    long long n = rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
    freeReplyObject(rep);
    return n >= cap ? cap : 0;
}

/* refuse_full sets the answer of a login refused because the app is full
 * (cap users: its max_users); nothing was sent to Spotify. */
static void refuse_full(struct answer *a, long long cap)
{
    char msg[320];
    snprintf(msg, sizeof msg, "This service's Spotify app cannot take more users: Spotify lets it have "
                              "%lld and they are all connected. Nothing was sent to Spotify and nothing "
                              "was stored; ask the service's operator.", cap);
    serve_fail(a, 403, "app_full", "No room for more users", msg);
}

/* serve_scopes: what users are asked to grant: history backfill reads
 * recently-played, which needs a scope of its own. */
static const char *serve_scopes(const struct serve *s)
{
    return s->cfg->backfill_interval_ms > 0 ? TOK_SCOPES_BACKFILL : TOK_SCOPES;
}

/* show_dialog reads the show_dialog parameter: 0 absent or "0", 1 for "1",
 * -1 for anything else. */
static int show_dialog(struct MHD_Connection *c)
{
    const char *v = arg(c, "show_dialog");
    if (v == NULL || strcmp(v, "0") == 0)
        return 0;
    return strcmp(v, "1") == 0 ? 1 : -1;
}

/* start_login makes the login's cookie, signs the state that commits to it,
 * and derives the PKCE challenge: sets a->set_cookie and writes the state and
 * challenge. Nothing is stored: the browser holds its half in the cookie.
 * 0, or -1 (no randomness, out of memory). */
static int start_login(struct serve *s, const char *user, const char *app, const char *return_to,
                       char state[OAUTH_STATE_MAX], char challenge[OAUTH_VERIFIER_B64],
                       struct answer *a)
{
    struct login_cookie lc;
    struct oauth_state st;
    char value[LOGIN_COOKIE_VALUE_MAX], name[LOGIN_COOKIE_NAME_MAX], verifier[OAUTH_VERIFIER_B64];
    int rc = -1;

    if (login_cookie_new(&lc, return_to) != 0)
        goto out;
    login_cookie_encode(&lc, value);
    memset(&st, 0, sizeof st);
    snprintf(st.app, sizeof st.app, "%s", app);
    snprintf(st.user, sizeof st.user, "%s", user);
    st.exp_ms = serve_now_ms() + s->cfg->oauth_state_ttl_ms;
    login_cookie_hash(value, st.cookie_hash);
    if (oauth_state_make(&s->keys, &st, 1, state, OAUTH_STATE_MAX) != 0 ||
        login_cookie_verifier(&s->keys, st.key_index, st.nonce, lc.secret, verifier) != 0)
        goto out;
    oauth_pkce_challenge(verifier, challenge);
    login_cookie_name(st.nonce_b64, s->secure_cookie, name);
    free(a->set_cookie);
    a->set_cookie = login_cookie_header(name, value, s->cookie_path,
                                        (s->cfg->oauth_state_ttl_ms + 999) / 1000, s->secure_cookie);
    rc = a->set_cookie ? 0 : -1;
out:
    OPENSSL_cleanse(&lc, sizeof lc);
    OPENSSL_cleanse(value, sizeof value);
    OPENSSL_cleanse(verifier, sizeof verifier);
    return rc;
}

void login_connect(struct serve *s, struct MHD_Connection *c, struct answer *a)
{
    const char *user = arg(c, "user"), *want_app = arg(c, "app"), *return_to = arg(c, "return_to");
    char app[ID_MAX + 1], err[512], client_id[256] = "", other[ID_MAX + 1];
    char state[OAUTH_STATE_MAX], challenge[OAUTH_VERIFIER_B64];
    char *loc = NULL;
    char *e_cid = NULL, *e_redir = NULL, *e_scope = NULL, *e_chal = NULL, *e_state = NULL;
    struct redis_sync *r = NULL;
    int dialog = show_dialog(c);

    if (user == NULL || !keys_valid_id(user)) {
        serve_page(a, 400, "Bad request", "The user parameter is missing or not a valid user id.");
        return;
    }
    if (dialog < 0) {
        serve_page(a, 400, "Bad request", "show_dialog must be 1 (or left out).");
        return;
    }
    /* With connect-key-file, only the web app (which knows who is logged in)
     * can send a user here: a link it did not sign for exactly this user,
     * app, return_to and show_dialog is refused before Redis is touched, with
     * one answer whether or not the user or the app exists. */
    if (s->connect_keys.n > 0) {
        enum connect_link_verdict v = connect_link_verify_dialog(&s->connect_keys, user, want_app,
                                                  return_to, dialog, arg(c, "exp"), arg(c, "sig"),
                                                  serve_now_ms() / 1000);
        if (v != CONNECT_LINK_OK) {
            serve_page(a, 403, "Link not valid",
                       "This connect link is not valid (expired or not signed by the app). "
                       "Start again from the app.");
            serve_count(s, s->connect_refused, connect_link_reason(v), 1);
            log_warn("connect: refused a link for user %s: %s", user, connect_link_reason(v));
            return;
        }
    }
    if (return_to && !oauth_return_to_ok(return_to, s->cfg->connect_allowed_origins, s->cfg->public_url)) {
        serve_page(a, 400, "Bad request", "return_to is not on this service's list of allowed origins.");
        return;
    }
    if (return_to && strlen(return_to) > LOGIN_COOKIE_RETURN_TO_MAX) {
        serve_page(a, 400, "Bad request", "return_to is too long.");
        return;
    }
    if ((r = serve_redis_get(s, err, sizeof err)) == NULL) {
        log_error("connect: %s", err);
        serve_page(a, 503, "Service unavailable", "The service's database is unavailable; try again shortly.");
        return;
    }
    if (resolve_app(s, r, want_app, app, sizeof app, a) != 0)
        goto out;
    /* Whether a user id is taken by another app is said only to a verified
     * link (the web app's own request); an unsigned one (connect-open) is
     * sent on to Spotify alike for every user id, and its callback refuses
     * the user of another app. */
    int conflict = s->connect_keys.n > 0 ? user_app_conflict(s, r, user, app, other, sizeof other) : 0;
    if (conflict != 0) {
        if (conflict < 0)
            serve_page(a, 503, "Service unavailable", "The service's database is unavailable; try again shortly.");
        else
            serve_page(a, 409, "Conflict", "This user is registered with another app.");
        goto out;
    }
    struct app_keys k;
    keys_app(&k, s->cfg->key_prefix, app);
    long long full = app_full(r, &k, user);
    if (full != 0) {
        if (full < 0) {
            serve_page(a, 503, "Service unavailable", "The service's database is unavailable; try again shortly.");
        } else {
            refuse_full(a, full);
            log_debug("connect: user %s refused: app %s is full (max_users %lld)", user, app, full);
        }
        goto out;
    }
    const char *hg[] = {"HGET", k.app, "client_id"};
    redisReply *rep = serve_redis_cmd(r, 3, hg);
    if (rep && rep->type == REDIS_REPLY_STRING)
        snprintf(client_id, sizeof client_id, "%s", rep->str);
    if (rep)
        freeReplyObject(rep);
    if (client_id[0] == '\0') {
        log_error("connect: app %s has no client_id", app);
        serve_page(a, 500, "Not configured", "This app has no Spotify client id.");
        goto out;
    }
    if (start_login(s, user, app, return_to, state, challenge, a) != 0) {
        serve_page(a, 500, "Internal error", "Could not start the login; try again.");
        goto out;
    }

    e_cid = codec_pct_encode(client_id);
    e_redir = codec_pct_encode(s->redirect_uri);
    e_scope = codec_pct_encode(serve_scopes(s));
    e_chal = codec_pct_encode(challenge);
    e_state = codec_pct_encode(state);
    if (!e_cid || !e_redir || !e_scope || !e_chal || !e_state ||
        asprintf(&loc, "%s/authorize?client_id=%s&response_type=code&redirect_uri=%s&scope=%s"
                       "&code_challenge_method=S256&code_challenge=%s&state=%s%s",
                 s->accounts_base, e_cid, e_redir, e_scope, e_chal, e_state,
                 dialog ? "&show_dialog=true" : "") < 0) {
        loc = NULL;
        serve_page(a, 500, "Internal error", "Could not start the login; try again.");
        goto out;
    }
    serve_page(a, 302, "Redirecting to Spotify", "Continue to Spotify to connect your account.");
    a->location = loc;
    loc = NULL;
    serve_count(s, s->connects, NULL, 1);
    /* debug, not info: anyone can make /connect answer, so one line each
     * would let anyone fill the log (connects_total counts them). */
    log_debug("connect: user %s (app %s) sent to Spotify", user, app);
out:
    if (a->status != 302) {
        free(a->set_cookie);   /* no login started: no cookie */
        a->set_cookie = NULL;
    }
    free(loc);
    free(e_cid);
    free(e_redir);
    free(e_scope);
    free(e_chal);
    free(e_state);
    serve_redis_put(s, r);
}

/* =============================== /callback ================================ */

/* login: the callback's login, once its state and cookie are verified. */
struct login {
    char used[KEY_MAX];     /* <p>oauth:used:<nonce>: written once the login is taken */
    int taken;              /* the used-nonce record is ours (and not given back) */
    struct login_cookie cookie;            /* the browser's half (secret) */
    char verifier[OAUTH_VERIFIER_B64];     /* the PKCE verifier (secret) */
    const char *return_to;  /* NULL = success page; points into cookie */
};

/* check_cookie verifies that this browser holds the cookie the state
 * commits to, reads it and derives the verifier. Pure: nothing is touched
 * before it succeeds. 0, or -1 with the answer set. */
static int check_cookie(struct serve *s, struct MHD_Connection *c, const struct oauth_state *st,
                        struct login *l, struct answer *a)
{
    char name[LOGIN_COOKIE_NAME_MAX];
    login_cookie_name(st->nonce_b64, s->secure_cookie, name);
    const char *value = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, name);

    if (value == NULL || !login_cookie_matches(value, st) ||
        login_cookie_decode(value, &l->cookie) != 0) {
        serve_fail(a, 403, value == NULL ? "no_cookie" : "cookie_mismatch",
                   "Login not started in this browser",
                   "This login was not started in this browser (or its cookie expired or was "
                   "blocked), so nothing was stored. To connect your Spotify account, start "
                   "again from the app in this browser.");
        log_debug("callback: user %s: %s", st->user, a->outcome);
        return -1;
    }
    if (login_cookie_verifier(&s->keys, st->key_index, st->nonce, l->cookie.secret, l->verifier) != 0) {
        serve_fail(a, 500, "error", "Internal error", "The login could not be completed. Start again from the app.");
        return -1;
    }
    /* The hash covers return_to, so it is the one /connect checked; the
     * allowlist is asked again in case it was narrowed since. */
    if (l->cookie.return_to[0] &&
        oauth_return_to_ok(l->cookie.return_to, s->cfg->connect_allowed_origins, s->cfg->public_url))
        l->return_to = l->cookie.return_to;
    return 0;
}

/* take_login makes the login used: the first callback with its nonce
 * writes <p>oauth:used:<nonce> for the rest of the state's life (after which
 * the state is refused as expired anyway). 0 taken; 1 already used; -1
 * Redis failed. */
static int take_login(struct serve *s, struct redis_sync *r, const struct oauth_state *st, struct login *l)
{
    char px[24];
    long long left = st->exp_ms - serve_now_ms();
    snprintf(px, sizeof px, "%lld", left > 0 ? left : 1);
    snprintf(l->used, sizeof l->used, "%soauth:used:%s", s->cfg->key_prefix, st->nonce_b64);
    const char *av[] = {"SET", l->used, "1", "PX", px, "NX"};
    redisReply *rep = serve_redis_cmd(r, 6, av);
    if (rep == NULL)
        return -1;
    int rc = rep->type == REDIS_REPLY_STATUS ? 0 : 1;
    freeReplyObject(rep);
    l->taken = rc == 0;
    return rc;
}

/* give_back makes a taken login usable again (when Spotify asked us to wait
 * before the code was spent), so a reload of the callback retries. */
static void give_back(struct redis_sync *r, struct login *l)
{
    const char *av[] = {"DEL", l->used};
    redisReply *rep = serve_redis_cmd(r, 2, av);
    if (rep)
        freeReplyObject(rep);
    l->taken = 0;
}

/* slot_args lays out an oauth_slot.lua call for the app of k: mode, the
 * default budget (in budget), and "" for the other mode's arguments. */
static void slot_args(const struct serve *s, const struct app_keys *k, const char *mode, char *budget,
                      size_t n, const char **argv)
{
    const char **arg = argv + OAUTH_SLOT_KEY_N;
    snprintf(budget, n, "%ld", s->cfg->app_budget_30s);
    argv[OAUTH_SLOT_KEY_RL] = k->rl;
    argv[OAUTH_SLOT_KEY_CALLS] = k->calls;
    argv[OAUTH_SLOT_KEY_APP] = k->app;
    argv[OAUTH_SLOT_KEY_STATS] = k->stats;
    for (int i = 0; i < OAUTH_SLOT_ARG_N; i++)
        arg[i] = "";
    arg[OAUTH_SLOT_ARG_MODE] = mode;
    arg[OAUTH_SLOT_ARG_BUDGET_DEFAULT] = budget;
}

/* block_app records a 429 from Spotify against the app's limiter. */
static void block_app(struct serve *s, struct redis_sync *r, const struct app_keys *k, const char *app,
                      const char *retry_after, long *wait_s)
{
    int capped = 0;
    long long ms = retry_after_ms(retry_after, serve_now_ms(), s->cfg->retry_after_default_ms,
                                  s->cfg->retry_after_max_ms, &capped);
    char msbuf[24], budget[24];
    const char *argv[OAUTH_SLOT_KEY_N + OAUTH_SLOT_ARG_N];
    const char **arg = argv + OAUTH_SLOT_KEY_N;
    slot_args(s, k, "block", budget, sizeof budget, argv);
    snprintf(msbuf, sizeof msbuf, "%lld", ms);
    arg[OAUTH_SLOT_ARG_BLOCK_MS] = msbuf;
    arg[OAUTH_SLOT_ARG_CAPPED] = capped ? "1" : "0";
    redisReply *rep = serve_redis_eval(r, SCRIPT_OAUTH_SLOT, OAUTH_SLOT_KEY_N, OAUTH_SLOT_KEY_N + OAUTH_SLOT_ARG_N,
                                       argv);
    if (rep)
        freeReplyObject(rep);
    *wait_s = (long)((ms + 999) / 1000);
    log_warn("callback: Spotify rate limited app %s; blocked for %lld ms", app, ms);
}

/* take_slots takes the callback's calls from the app's budget: 0 granted,
 * 1 refused (*wait_s set), -1 Redis failed. */
static int take_slots(struct serve *s, struct redis_sync *r, const struct app_keys *k,
                      const struct oauth_state *st, long *wait_s)
{
    char calls[8], budget[24], quota[24], tag[64];
    const char *argv[OAUTH_SLOT_KEY_N + OAUTH_SLOT_ARG_N];
    const char **arg = argv + OAUTH_SLOT_KEY_N;
    struct oauth_slot_reply g;
    slot_args(s, k, "take", budget, sizeof budget, argv);
    snprintf(calls, sizeof calls, "%d", CALLBACK_CALLS);
    snprintf(quota, sizeof quota, "%ld", s->cfg->app_quota_24h);
    snprintf(tag, sizeof tag, "oauth:%s", st->nonce_b64);
    arg[OAUTH_SLOT_ARG_WANT] = calls;
    arg[OAUTH_SLOT_ARG_TAG] = tag;
    arg[OAUTH_SLOT_ARG_QUOTA_DEFAULT] = quota;
    redisReply *rep = serve_redis_eval(r, SCRIPT_OAUTH_SLOT, OAUTH_SLOT_KEY_N, OAUTH_SLOT_KEY_N + OAUTH_SLOT_ARG_N,
                                       argv);
    int parsed = sc_parse(rep, 0, sc_oauth_slot_reply, OAUTH_SLOT_REPLY_N, &g);
    if (rep)
        freeReplyObject(rep);
    if (parsed != 0)
        return -1;
    if (g.code == LIMIT_OK)
        return 0;
    *wait_s = (long)((g.until_ms - g.now_ms + 999) / 1000);
    if (*wait_s < 1)
        *wait_s = 1;
    return 1;
}

/* app_creds reads and opens the app's client id and secret (the secret is
 * returned malloc'd; free it with secret_free). */
static char *app_creds(struct serve *s, struct redis_sync *r, const struct app_keys *k, const char *app,
                       char *client_id, size_t n)
{
    char ad[ID_MAX + 8], err[256];
    char *secret = NULL;
    const char *av[] = {"HMGET", k->app, "client_id", "client_secret"};
    redisReply *rep = serve_redis_cmd(r, 4, av);
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING && rep->element[1]->type == REDIS_REPLY_STRING) {
        snprintf(client_id, n, "%s", rep->element[0]->str);
        snprintf(ad, sizeof ad, "app:%s", app);
        secret = crypto_open(s->kr, ad, rep->element[1]->str, err, sizeof err);
        if (secret == NULL)
            log_error("callback: app %s: cannot open the client secret: %s", app, err);
    } else {
        log_error("callback: app %s has no client credentials", app);
    }
    if (rep)
        freeReplyObject(rep);
    return secret;
}

/* store_tokens seals and stores the tokens on the state's user. 0, or -1
 * with the answer set. */
static int store_tokens(struct serve *s, struct redis_sync *r, const struct oauth_state *st,
                        const struct app_keys *k, const struct tok_response *tok,
                        const char *spotify_id, const char *name, struct answer *a)
{
    char ad[ID_MAX + 8], err[256], ukey[KEY_MAX], acc[KEY_MAX], life[24], other[ID_MAX + 1], owner[ID_MAX + 1];
    char *at = NULL, *rt = NULL;
    enum user_dir_claim claim = USER_DIR_ERROR;
    int rc = -1;

    /* The user id is claimed in the directory for the app first (HSETNX:
     * the loser of a race of two apps is refused whole), then
     * oauth_store.lua writes the app's keys (include/redis/user_dir.h). */
    snprintf(ad, sizeof ad, "user:%s", st->user);
    at = crypto_seal_token(s->kr, ad, tok->access_token, err, sizeof err);
    rt = at ? crypto_seal_token(s->kr, ad, tok->refresh_token, err, sizeof err) : NULL;
    if (rt == NULL) {
        log_error("callback: %s", err);
        serve_fail(a, 500, "error", "Internal error", "The login could not be completed. Start again from the app.");
        goto out;
    }
    keys_user(ukey, sizeof ukey, s->cfg->key_prefix, st->app, st->user);
    claim = user_dir_claim(r, s->cfg->key_prefix, st->user, st->app, owner, sizeof owner, err, sizeof err);
    if (claim == USER_DIR_ERROR) {
        log_error("callback: Redis: %s", err);
        serve_fail(a, 503, "error", "Service unavailable", "The service's database is unavailable; try again shortly.");
        goto out;
    }
    if (claim == USER_DIR_OTHER) {
        /* The owning app is for the operator's log, never for the browser. */
        log_warn("callback: user %s belongs to app %s; refused for app %s (nothing stored)", st->user, owner,
                 st->app);
        serve_fail(a, 409, "user_conflict", "Conflict", "This user is registered with another app. Nothing was stored.");
        goto out;
    }
    snprintf(acc, sizeof acc, "%s{%s}:accounts", s->cfg->key_prefix, st->app);
    snprintf(life, sizeof life, "%lld", (tok->expires_in_s > 0 ? tok->expires_in_s : 3600) * 1000);
    const char *argv[OAUTH_STORE_KEY_N + OAUTH_STORE_ARG_N];
    const char **arg = argv + OAUTH_STORE_KEY_N;
    argv[OAUTH_STORE_KEY_USER] = ukey;
    argv[OAUTH_STORE_KEY_ACCOUNTS] = acc;
    argv[OAUTH_STORE_KEY_DUE] = k->due;
    argv[OAUTH_STORE_KEY_LEASES] = k->leases;
    argv[OAUTH_STORE_KEY_MEMBERS] = k->members;
    argv[OAUTH_STORE_KEY_APP] = k->app;
    arg[OAUTH_STORE_ARG_USER] = st->user;
    arg[OAUTH_STORE_ARG_APP] = st->app;
    arg[OAUTH_STORE_ARG_ACCOUNT] = spotify_id;
    arg[OAUTH_STORE_ARG_DISPLAY_NAME] = name;
    arg[OAUTH_STORE_ARG_ACCESS_TOKEN] = at;
    arg[OAUTH_STORE_ARG_REFRESH_TOKEN] = rt;
    arg[OAUTH_STORE_ARG_LIFETIME_MS] = life;
    arg[OAUTH_STORE_ARG_SCOPE] = tok->scope ? tok->scope : serve_scopes(s);
    arg[OAUTH_STORE_ARG_DUP_POLICY] = s->cfg->duplicate_account == DUP_ACCOUNT_ALLOW ? "allow" : "refuse";
    redisReply *rep = serve_redis_eval(r, SCRIPT_OAUTH_STORE, OAUTH_STORE_KEY_N,
                                       OAUTH_STORE_KEY_N + OAUTH_STORE_ARG_N, argv);
    struct oauth_store_reply stored;
    if (sc_parse(rep, 0, sc_oauth_store_reply, OAUTH_STORE_REPLY_N, &stored) != 0) {
        serve_fail(a, 503, "error", "Service unavailable", "The service's database is unavailable; try again shortly.");
        if (rep)
            freeReplyObject(rep);
        goto out;
    }
    snprintf(other, sizeof other, "%.*s", (int)stored.other_user.len, stored.other_user.s);
    if (!stored.stored && stored.max_users > 0) {
        /* Another login took the last place since the early check. */
        log_warn("callback: user %s refused: app %s is full (max_users %lld); nothing stored", st->user,
                 st->app, stored.max_users);
        freeReplyObject(rep);
        refuse_full(a, stored.max_users);
        goto out;
    }
    freeReplyObject(rep);
    if (!stored.stored) {
        log_warn("callback: Spotify account %s is already connected to user %s; refused for user %s "
                 "(duplicate-account refuse)", spotify_id, other, st->user);
        serve_fail(a, 409, "duplicate_account", "Account already connected",
             "This Spotify account is already connected to another user of this service.");
        goto out;
    }
    if (other[0])
        log_warn("callback: Spotify account %s is now connected to user %s and also to user %s "
                 "(duplicate-account allow)", spotify_id, st->user, other);
    rc = 0;
out:
    /* Refused after the claim (a full app, a duplicate account, Redis
     * down): the claim made here goes; one found is left as it was. */
    if (rc != 0 && claim == USER_DIR_NEW && user_dir_release(r, s->cfg->key_prefix, st->user, st->app, err,
                                                             sizeof err) < 0)
        log_warn("callback: user %s stays in the directory for app %s (%s): `spotwatch user rm` clears it",
                 st->user, st->app, err);
    free(at);
    free(rt);
    return rc;
}

void login_callback(struct serve *s, struct MHD_Connection *c, struct answer *a)
{
    const char *state = arg(c, "state"), *code = arg(c, "code"), *error = arg(c, "error");
    char err[512], client_id[256], spotify_id[256], name[256], retry_after[32];
    struct oauth_state st;
    struct login l = {0};
    struct tok_response tok = {0};
    struct app_keys k;
    struct redis_sync *r = NULL;
    char *secret = NULL;

    /* 1. The signature, before anything else: a forged state costs nothing. */
    if (state == NULL) {
        serve_fail(a, 400, "invalid_state", "Invalid login link", "The login link has no state. Start again from the app.");
        goto out;
    }
    if (oauth_state_verify(&s->keys, state, &st, err, sizeof err) != 0) {
        log_warn("callback: refused a state: %s", err);
        serve_fail(a, 400, "invalid_state", "Invalid login link",
             "This login link is not valid (it was altered or not issued here). Start again from the app.");
        goto out;
    }
    if (serve_now_ms() > st.exp_ms) {
        log_info("callback: user %s: expired state", st.user);
        serve_fail(a, 400, "expired_state", "Login expired",
             "This login took too long and has expired. Start again from the app.");
        goto out;
    }
    /* 2. The browser: only the one that started the login holds its
     * cookie. Checked before Redis too, so a state opened in another browser
     * (login CSRF) changes nothing and spends nothing. */
    if (check_cookie(s, c, &st, &l, a) != 0)
        goto out;

    /* 3. Single use: the first callback with this state takes it. */
    if ((r = serve_redis_get(s, err, sizeof err)) == NULL) {
        log_error("callback: %s", err);
        serve_fail(a, 503, "error", "Service unavailable", "The service's database is unavailable; try again shortly.");
        goto out;
    }
    int t = take_login(s, r, &st, &l);
    if (t != 0) {
        if (t < 0)
            serve_fail(a, 503, "error", "Service unavailable", "The service's database is unavailable; try again shortly.");
        else
            serve_fail(a, 400, "replayed_state", "Login link already used",
                 "This login link has already been used. Start again from the app.");
        log_info("callback: user %s: state %s", st.user, a->outcome);
        goto out;
    }

    /* 4. What Spotify said. */
    if (error) {
        if (strcmp(error, "access_denied") == 0)
            serve_fail(a, 403, "denied", "Not connected",
                 "You declined to connect your Spotify account. Nothing was stored.");
        else
            serve_fail(a, 400, "error", "Login failed", "Spotify reported an error and nothing was stored.");
        log_info("callback: user %s: Spotify said %s", st.user, strcmp(error, "access_denied") == 0 ? "access_denied" : "an error");
        goto out;
    }
    if (code == NULL) {
        serve_fail(a, 400, "bad_code", "Login failed", "Spotify sent no authorization code. Start again from the app.");
        goto out;
    }

    /* 5. The app's credentials and its rate limit. */
    keys_app(&k, s->cfg->key_prefix, st.app);
    if ((secret = app_creds(s, r, &k, st.app, client_id, sizeof client_id)) == NULL) {
        serve_fail(a, 500, "error", "Service misconfigured", "This service cannot complete logins right now.");
        goto out;
    }
    /* The cap again (a place may have gone since /connect), before the
     * code is spent on tokens the app could not keep. */
    long long full = app_full(r, &k, st.user);
    if (full != 0) {
        if (full < 0) {
            serve_fail(a, 503, "error", "Service unavailable", "The service's database is unavailable; try again shortly.");
        } else {
            refuse_full(a, full);
            log_info("callback: user %s refused: app %s is full (max_users %lld); no Spotify call", st.user,
                     st.app, full);
        }
        goto out;
    }
    long wait_s = 0;
    int slot = take_slots(s, r, &k, &st, &wait_s);
    if (slot != 0) {
        if (slot < 0) {
            serve_fail(a, 503, "error", "Service unavailable", "The service's database is unavailable; try again shortly.");
        } else {
            char msg[160];
            /* The code is still good: let a reload of this page retry. */
            give_back(r, &l);
            snprintf(msg, sizeof msg, "Spotify is rate limiting this app, try again in %ld s "
                                      "(reload this page).", wait_s);
            serve_fail(a, 503, "rate_limited", "Please wait", msg);
            a->retry_after_s = wait_s;
            log_info("callback: user %s: app %s over its rate limit for %ld s", st.user, st.app, wait_s);
        }
        goto out;
    }

    /* 6. The code for tokens, then whose tokens they are. */
    double t0 = serve_mono_s();
    enum tok_result tr = login_spotify_token(s, client_id, secret, code, l.verifier, &tok, retry_after,
                                             sizeof retry_after, a);
    serve_observe(s, s->spotify_calls, "token", serve_mono_s() - t0);
    if (tr == TOK_RATE_LIMITED || tr == TOK_TRANSIENT) {
        /* Spotify has not spent the code (or may not have): a reload retries. */
        if (l.taken)
            give_back(r, &l);
    }
    if (tr == TOK_RATE_LIMITED) {
        char msg[160];
        block_app(s, r, &k, st.app, retry_after, &wait_s);
        snprintf(msg, sizeof msg, "Spotify is rate limiting this app, try again in %ld s "
                                  "(reload this page).", wait_s);
        serve_fail(a, 503, "rate_limited", "Please wait", msg);
        a->retry_after_s = wait_s;
        goto out;
    }
    if (tr != TOK_OK)
        goto out;
    t0 = serve_mono_s();
    int me = login_spotify_me(s, tok.access_token, spotify_id, sizeof spotify_id, name, sizeof name,
                              retry_after, sizeof retry_after, a);
    serve_observe(s, s->spotify_calls, "me", serve_mono_s() - t0);
    if (me == 1) {
        block_app(s, r, &k, st.app, retry_after, &wait_s);
        serve_fail(a, 503, "rate_limited", "Please wait",
             "Spotify is rate limiting this app. Start again from the app in a minute.");
        a->retry_after_s = wait_s;
        goto out;
    }
    if (me != 0)
        goto out;

    /* 7. Store them on the user the signed state names, and only there. */
    if (store_tokens(s, r, &st, &k, &tok, spotify_id, name, a) != 0)
        goto out;
    log_info("callback: user %s (app %s) connected Spotify account %s", st.user, st.app, spotify_id);
    a->outcome = "ok";
    if (l.return_to) {
        serve_page(a, 302, "Connected", "Your Spotify account is connected.");
        a->location = strdup(l.return_to);
    } else {
        char msg[640];
        if (name[0])
            snprintf(msg, sizeof msg, "Spotify account %s (%s) is connected; you can close this page.",
                     name, spotify_id);
        else
            snprintf(msg, sizeof msg, "Spotify account %s is connected; you can close this page.",
                     spotify_id);
        serve_page(a, 200, "Connected", msg);
    }
out:
    if (a->outcome == NULL)
        a->outcome = "error";
    tok_response_free(&tok);
    if (secret)
        secret_free(secret);
    OPENSSL_cleanse(&l, sizeof l);
    serve_redis_put(s, r);
}
