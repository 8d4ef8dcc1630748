/* refresh.c: a job's token-refresh detour, a small state machine (enum
 * refresh_step, worker_int.h). Each step sends one request and its reply
 * moves the job on:
 *
 *   REFRESH_NONE   a 401 "expired", or no usable access token: refresh_lock
 *   REFRESH_LOCK   lua/refresh_begin.lua takes the user's refresh lock:
 *                    LOCKED -> REFRESH_CALL
 *                    NEWER  -> REFRESH_DONE: another worker refreshed; poll
 *                              with its token
 *                    WAIT   -> released: back in line after REFRESH_RETRY_MS
 *                    STALE, or no reply -> dropped (the lease is gone)
 *   REFRESH_CALL   (a "refresh" job starts here: the claim took the lock)
 *                  the token endpoint, through the gate (job_gate); its
 *                  answer, by decide_token_answer: 200 -> REFRESH_STORE,
 *                  anything else finishes the job
 *   REFRESH_STORE  lua/token_store.lua, a compare-and-set on the refresh
 *                  token used: STORED -> REFRESH_DONE; LOST -> released, back
 *                  in line at once (the winner's tokens stand); else backoff
 *   REFRESH_DONE   the step whoever started the refresh handed it
 *                  (after_refresh: job_poll again); a 401 now backs off
 *                  (decide_poll_answer)
 *
 * Layer: below claim.c and job.c, which start refreshes; calls gate.c,
 * complete.c, outcome.c and jobs.c. It ends in the continuation it was
 * given, not in a call to job_poll, so it needs nothing above it.
 *
 * Secrets: the refresh token, the client secret and the request body are
 * cleansed (secret_free) as soon as the request is out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "worker_int.h"
#include "base/log.h"
#include "redis/scripts.h"
#include "base/codec.h"
#include "spotify/token.h"

/* A job released because another worker holds the user's refresh lock comes
 * back this soon (ms): by then that refresh has usually stored its tokens
 * (and if not, the claim waits for its lock). */
#define REFRESH_RETRY_MS 100

static void on_refresh_begin(struct redis_async *l, redisReply *r, void *ud);
static void refresh_send(struct job *j);
static void on_refresh(const struct httpc_response *r, void *ud);
static void store_refreshed_tokens(struct job *j, struct tok_response *t);
static void on_token_store(struct redis_async *l, redisReply *r, void *ud);

/* ---------------------------------------------------------------- lock --- */

void refresh_lock(struct job *j, job_step *then)
{
    struct worker *w = j->w;
    char user_key[KEY_MAX], lock_ms[24];
    const char *argv[REFRESH_BEGIN_KEY_N + REFRESH_BEGIN_ARG_N];
    const char **arg = argv + REFRESH_BEGIN_KEY_N;

    j->after_refresh = then;
    j->refresh = REFRESH_LOCK;
    keys_user(user_key, sizeof user_key, w->cfg->key_prefix, j->app->id, j->user);
    snprintf(lock_ms, sizeof lock_ms, "%ld", w->cfg->lease_ms);
    argv[REFRESH_BEGIN_KEY_USER] = user_key;
    arg[REFRESH_BEGIN_ARG_FENCE] = j->fence;
    arg[REFRESH_BEGIN_ARG_ACCESS_TOKEN] = j->at_sealed ? j->at_sealed : "";
    arg[REFRESH_BEGIN_ARG_LOCK_MS] = lock_ms;
    if (redis_async_eval(w->redis, SCRIPT_REFRESH_BEGIN, REFRESH_BEGIN_KEY_N,
                         REFRESH_BEGIN_KEY_N + REFRESH_BEGIN_ARG_N, argv, NULL, on_refresh_begin, j) != 0)
        job_free(j);
}

static void on_refresh_begin(struct redis_async *l, redisReply *r, void *ud)
{
    struct job *j = ud;
    struct refresh_begin_reply rep;
    struct outcome o;
    (void)l;
    if (sc_parse(r, 0, sc_refresh_begin_reply, REFRESH_BEGIN_REPLY_N, &rep) != 0) {
        job_free(j);
        return;
    }
    switch (rep.code) {
    case REFRESH_BEGIN_LOCKED:
        secret_free(j->rt_sealed);
        j->rt_sealed = strndup(rep.refresh_token.s, rep.refresh_token.len);
        refresh_call(j, j->after_refresh);
        return;
    case REFRESH_BEGIN_NEWER:
        /* Another worker refreshed meanwhile: poll with its token. */
        secret_free(j->at_sealed);
        j->at_sealed = strndup(rep.access_token.s, rep.access_token.len);
        j->refresh = REFRESH_DONE;
        if (j->at_sealed == NULL || job_open_token(j, j->at_sealed) != 0) {
            outcome_init(&o, j, "error");
            outcome_backoff(&o, j, "refreshed token unreadable");
            complete_job(j, &o);
            return;
        }
        j->after_refresh(j);
        return;
    case REFRESH_BEGIN_WAIT:
        outcome_init(&o, j, "released");
        o.delay_ms = REFRESH_RETRY_MS;
        complete_job(j, &o);
        return;
    default:
        job_free(j);   /* stale fence: our lease is gone */
        return;
    }
}

/* ---------------------------------------------------------------- call --- */

void refresh_call(struct job *j, job_step *then)
{
    j->after_refresh = then;
    j->refresh = REFRESH_CALL;
    if (job_gate(j, refresh_send))
        return;
    refresh_send(j);
}

/* refresh_send: the token endpoint call, once the gate let it go. */
static void refresh_send(struct job *j)
{
    struct worker *w = j->w;
    char url[CFG_STR + 32], ad[ID_MAX + 8], err[128];
    char *rt = NULL, *esc = NULL, *body = NULL, *auth = NULL;
    struct outcome o;
    const char *why = "no refresh token stored";

    if (j->app->client_secret == NULL) {
        why = "the app's client secret is not loaded";
        goto fail;
    }
    snprintf(ad, sizeof ad, "user:%s", j->user);
    if (j->rt_sealed == NULL || j->rt_sealed[0] == '\0')
        goto fail;
    rt = crypto_open(w->keys, ad, j->rt_sealed, err, sizeof err);
    if (rt == NULL) {
        why = err;
        goto fail;
    }
    esc = codec_form_encode(rt);
    size_t n = esc ? strlen(esc) + 64 : 0;
    body = esc ? malloc(n) : NULL;
    auth = codec_basic_auth(j->app->client_id, j->app->client_secret);
    if (body == NULL || auth == NULL) {
        why = "out of memory";
        goto fail;
    }
    snprintf(body, n, "grant_type=refresh_token&refresh_token=%s", esc);
    snprintf(url, sizeof url, "%s/api/token", w->cfg->accounts_base);
    const char *headers[] = {auth, "Content-Type: application/x-www-form-urlencoded", NULL};
    int rc = httpc_request(w->http, "POST", url, headers, body, on_refresh, j);
    secret_free(rt);
    secret_free(esc);
    secret_free(body);
    secret_free(auth);
    if (rc == 0) {
        j->calls++;
        return;
    }
    why = "could not start request";
    rt = esc = body = auth = NULL;
fail:
    secret_free(rt);
    secret_free(esc);
    secret_free(body);
    secret_free(auth);
    outcome_init(&o, j, "error");
    outcome_backoff(&o, j, "token refresh impossible: %s", why);
    complete_job(j, &o);
}

static void on_refresh(const struct httpc_response *r, void *ud)
{
    struct job *j = ud;
    struct tok_response t;
    struct verdict v;
    struct outcome o;
    char err[200];

    enum tok_result res = tok_parse(r->curl_code ? 0 : r->status, r->body, r->len, &t, err, sizeof err);
    wm_refresh(j->w->wm, decide_token_result_name(res));
    decide_token_answer(res, err, &v);
    if (v.action == DECIDE_STORE) {
        store_refreshed_tokens(j, &t);
        tok_response_free(&t);
        return;
    }
    tok_response_free(&t);
    if (res == TOK_INVALID_CLIENT) {
        /* The app's credentials are wrong: one alert, and its users wait. */
        if (!j->app->alerted)
            log_error_f(APP_LOG(j->app), "app %s: token endpoint says invalid_client: fix the app's credentials "
                      "(spotwatch app add); its users wait", j->app->id);
        j->app->alerted = 1;
    }
    outcome_init(&o, j, v.outcome);
    o.http_status = r->status;
    outcome_apply(&o, j, &v, r->retry_after);
    complete_job(j, &o);
}

/* --------------------------------------------------------------- store --- */

/* store_refreshed_tokens seals the token endpoint's answer and stores it with
 * token_store.lua; the job keeps the new access token for its poll. */
static void store_refreshed_tokens(struct job *j, struct tok_response *t)
{
    struct worker *w = j->w;
    char ad[ID_MAX + 8], user_key[KEY_MAX], err[128], life[24];
    char *at = NULL, *rt = NULL;
    const char *reseal = "0";
    struct outcome o;

    j->refresh = REFRESH_STORE;
    snprintf(ad, sizeof ad, "user:%s", j->user);
    at = crypto_seal_token(w->keys, ad, t->access_token, err, sizeof err);
    if (t->refresh_token)
        rt = crypto_seal_token(w->keys, ad, t->refresh_token, err, sizeof err);
    if (at == NULL || (t->refresh_token && rt == NULL))
        goto fail;
    if (rt == NULL && j->rt_sealed && j->rt_sealed[0] && crypto_needs_reseal(w->keys, j->rt_sealed)) {
        /* The kept refresh token is under an older key (or plain): re-seal
         * it with the current one, so a rotated-out key can be retired.
         * If that fails the old ciphertext simply stays. */
        char *plain = crypto_open(w->keys, ad, j->rt_sealed, err, sizeof err);
        rt = plain ? crypto_seal_token(w->keys, ad, plain, err, sizeof err) : NULL;
        secret_free(plain);
        reseal = rt ? "1" : "0";
    }
    keys_user(user_key, sizeof user_key, w->cfg->key_prefix, j->app->id, j->user);
    if (t->refresh_token) {
        w->wait_pending = 1;   /* a rotation: WAIT after the next batch (complete.c) */
        j->app->wait_pending = 1;   /* ... on this app's node */
    }
    snprintf(life, sizeof life, "%lld", t->expires_in_s * 1000);
    const char *argv[TOKEN_STORE_KEY_N + TOKEN_STORE_ARG_N];
    const char **arg = argv + TOKEN_STORE_KEY_N;
    argv[TOKEN_STORE_KEY_USER] = user_key;
    arg[TOKEN_STORE_ARG_FENCE] = j->fence;
    arg[TOKEN_STORE_ARG_REFRESH_TOKEN_USED] = j->rt_sealed ? j->rt_sealed : "";
    arg[TOKEN_STORE_ARG_ACCESS_TOKEN] = at;
    arg[TOKEN_STORE_ARG_LIFETIME_MS] = life;
    arg[TOKEN_STORE_ARG_REFRESH_TOKEN] = rt ? rt : "";
    arg[TOKEN_STORE_ARG_SCOPE] = t->scope ? t->scope : "";
    arg[TOKEN_STORE_ARG_RESEALED] = reseal;
    secret_free(j->access_token);
    j->access_token = strdup(t->access_token);
    secret_free(j->at_sealed);
    j->at_sealed = at;
    at = NULL;
    /* redis_async_eval copies argv, so rt may go once it returns (not before). */
    int rc = j->access_token == NULL ? -1 : redis_async_eval(w->redis, SCRIPT_TOKEN_STORE, TOKEN_STORE_KEY_N,
                                                             TOKEN_STORE_KEY_N + TOKEN_STORE_ARG_N, argv, NULL,
                                                             on_token_store, j);
    secret_free(rt);
    if (rc != 0)
        job_free(j);
    return;
fail:
    secret_free(at);
    secret_free(rt);
    outcome_init(&o, j, "error");
    outcome_backoff(&o, j, "sealing refreshed token failed: %s", err);
    complete_job(j, &o);
}

static void on_token_store(struct redis_async *l, redisReply *r, void *ud)
{
    struct job *j = ud;
    struct token_store_reply rep;
    (void)l;
    if (r == NULL) {
        job_free(j);
        return;
    }
    int parsed = sc_parse(r, 0, sc_token_store_reply, TOKEN_STORE_REPLY_N, &rep) == 0;
    if (parsed && rep.code == TOKEN_STORE_STORED) {
        j->refresh = REFRESH_DONE;
        j->after_refresh(j);
        return;
    }
    struct outcome o;
    outcome_init(&o, j, "released");
    if (parsed && rep.code == TOKEN_STORE_LOST) {
        /* Another refresh won the compare-and-set; its tokens stand. */
        o.delay_ms = 0;
    } else {
        outcome_backoff(&o, j, "storing refreshed token failed: %s",
                        r->type == REDIS_REPLY_ERROR ? r->str : "user gone");
    }
    complete_job(j, &o);
}
