/* claim.c: claiming an app's due users (lua/claim.lua) and starting a job
 * for each one taken (see worker_int.h).
 *
 * claim_app -> lua/claim.lua -> on_claim -> job_start -> the job's first
 * step: the token endpoint for a "refresh" job (the claim took the user's
 * refresh lock and counted both calls), else the poll (job.c).
 *
 * Layer: below worker.c; calls job.c, refresh.c and jobs.c, and tells the
 * loop it may claim again through worker_kick, a signal to the loop
 * (worker_int.h), not a call back into worker.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"
#include "base/codec.h"
#include "base/log.h"
#include "redis/scripts.h"

static void on_claim(struct redis_async *l, redisReply *r, void *ud);
static void job_start(struct worker *w, struct app *a, const struct claim_group_reply *g, int speed);

void claim_app(struct worker *w, struct app *a, int batch)
{
    const struct sw_config *c = w->cfg;
    char nb[16], lease[24], margin[24], budget[24], quota[24], backfill[24], maxlen[24], channel[KEY_MAX];
    char target[16], span[24];
    const char *argv[CLAIM_KEY_N + CLAIM_ARG_N];
    const char **arg = argv + CLAIM_KEY_N;
    argv[CLAIM_KEY_DUE] = a->k.due;
    argv[CLAIM_KEY_LEASES] = a->k.leases;
    argv[CLAIM_KEY_RL] = a->k.rl;
    argv[CLAIM_KEY_CALLS] = a->k.calls;
    argv[CLAIM_KEY_APP] = a->k.app;
    argv[CLAIM_KEY_EVENTS] = a->k.events;
    argv[CLAIM_KEY_STATS] = a->k.stats;
    argv[CLAIM_KEY_BROKEN] = a->k.broken;
    argv[CLAIM_KEY_CONFIRM] = a->k.confirm;
    argv[CLAIM_KEY_MEMBERS] = a->k.members;
    snprintf(nb, sizeof nb, "%d", batch);
    snprintf(lease, sizeof lease, "%ld", c->lease_ms);
    snprintf(margin, sizeof margin, "%ld", c->refresh_margin_ms);
    snprintf(budget, sizeof budget, "%ld", c->app_budget_30s);
    snprintf(quota, sizeof quota, "%ld", c->app_quota_24h);
    snprintf(backfill, sizeof backfill, "%ld", c->backfill_interval_ms);
    snprintf(maxlen, sizeof maxlen, "%ld", c->events_maxlen);
    snprintf(target, sizeof target, "%d", c->smart_polling ? c->budget_target_pct : 0);
    snprintf(span, sizeof span, "%ld", decide_speedup_span(c));
    keys_channel(channel, sizeof channel, c->key_prefix, "");
    arg[CLAIM_ARG_USER_PREFIX] = a->k.user_prefix;
    arg[CLAIM_ARG_WANT] = nb;
    arg[CLAIM_ARG_LEASE_MS] = lease;
    arg[CLAIM_ARG_REFRESH_MARGIN_MS] = margin;
    arg[CLAIM_ARG_BUDGET_DEFAULT] = budget;
    arg[CLAIM_ARG_QUOTA_DEFAULT] = quota;
    arg[CLAIM_ARG_BACKFILL_MS] = backfill;
    arg[CLAIM_ARG_MAXLEN] = maxlen;
    arg[CLAIM_ARG_CHANNEL_PREFIX] = channel;
    arg[CLAIM_ARG_SPEEDUP_TARGET] = target;
    arg[CLAIM_ARG_SPEEDUP_SPAN] = span;
    quota_claim_args(a, arg);   /* an allowance just taken (quota.c), handed over once */
    a->claim_t0 = ev_time();
    a->claim_want = batch;
    if (redis_async_eval(w->redis, SCRIPT_CLAIM, CLAIM_KEY_N, CLAIM_KEY_N + CLAIM_ARG_N, argv, NULL, on_claim, a) == 0)
        a->claiming = 1;
}

/* on_claim starts the jobs taken, then sets when the app is claimed next
 * (decide_claim_pause_s) and kicks the loop. */
static void on_claim(struct redis_async *l, redisReply *r, void *ud)
{
    struct app *a = ud;
    struct worker *w = a->w;
    struct claim_reply head;
    double now = ev_now(w->loop);
    (void)l;
    a->claiming = 0;
    wm_claim(w->wm, ev_time() - a->claim_t0);
    if (r == NULL) {
        a->wake_at = now + CLAIM_IDLE_S;
        worker_kick(w);
        return;
    }
    if (sc_parse(r, 0, sc_claim_reply, CLAIM_REPLY_N, &head) != 0) {
        /* e.g. OOM (a full Redis refuses the script as a whole): once, not every second */
        if (!a->claim_failing)
            log_error_f(APP_LOG(a), "app %s: claim failed: %s; retrying every %.0f s", a->id,
                      r->type == REDIS_REPLY_ERROR ? r->str : "bad reply", CLAIM_RECHECK_S);
        a->claim_failing = 1;
        a->wake_at = now + CLAIM_RECHECK_S;
        worker_kick(w);
        return;
    }
    if (a->claim_failing)
        log_info_f(APP_LOG(a), "app %s: claims work again", a->id);
    a->claim_failing = 0;
    size_t njobs = sc_groups(r, CLAIM_REPLY_N, CLAIM_GROUP_REPLY_N);
    for (size_t i = 0; i < njobs; i++) {
        struct claim_group_reply g;
        if (sc_parse(r, CLAIM_REPLY_N + i * CLAIM_GROUP_REPLY_N, sc_claim_group_reply, CLAIM_GROUP_REPLY_N,
                     &g) != 0) {
            log_error_f(APP_LOG(a), "app %s: claim: a job of the wrong shape; its lease will expire", a->id);
            continue;
        }
        /* schedule lag: Redis' claim time minus the time the poll fell due */
        hist_add(&w->lag, (head.now_ms - g.due_ms) * 1000);
        wm_lag(w->wm, (double)(head.now_ms - g.due_ms) / 1000.0);
        job_start(w, a, &g, head.speed < -1 || head.speed > 1000 ? -1 : (int)head.speed);
    }
    if (head.code == LIMIT_ALLOWANCE && njobs == 0) {
        /* The app's share of its developer's quota is spent: take another
         * from the developer's ledger; the loop claims again with it. */
        a->last_claim_at = now;
        quota_take(w, a, &head);
        worker_kick(w);
        return;
    }
    if (head.code == LIMIT_BLOCKED || head.code == LIMIT_QUOTA)
        wm_blocked(w->wm, a->id, a->last_claim_at > 0 ? now - a->last_claim_at : 0);
    a->last_claim_at = now;
    a->wake_at = decide_claim_at(now, decide_claim_pause_s(head.code, njobs, a->claim_want, head.wake_ms, head.now_ms),
                                 decide_claim_full(head.code, njobs, a->claim_want), w->cfg->claim_tick_ms,
                                 w->tick_phase);
    worker_kick(w);
}

static char *dup_str(struct sc_str v)
{
    return strndup(v.s, v.len);
}

static int str_is(struct sc_str v, const char *s)
{
    return v.len == strlen(s) && memcmp(v.s, s, v.len) == 0;
}

/* job_start: a job for one user taken (copied from the reply, which goes
 * when on_claim returns), with the app's speed-up as the claim found it
 * (permille, -1 none), and its first step. */
static void job_start(struct worker *w, struct app *a, const struct claim_group_reply *g, int speed)
{
    struct job *j = job_new(w, a);
    if (j == NULL)
        return;   /* the lease expires and the user is polled again */
    j->user = dup_str(g->user);
    _Static_assert(sizeof j->fence >= CODEC_LL_MAX, "a fence fits");
    codec_lltoa(g->fence, j->fence);
    int refresh_first = str_is(g->kind, "refresh");
    j->backfill = str_is(g->kind, "backfill");
    j->backfill_cursor = g->backfill_cursor;
    j->backfill_seen = dup_str(g->backfill_seen);
    j->at_sealed = dup_str(g->access_token);
    j->rt_sealed = dup_str(g->refresh_token);
    j->state_text = dup_str(g->state);
    j->fails = (int)g->fails;
    j->idle = (int)g->idle;
    j->interval_ms = g->interval_ms;
    j->interval_set = j->interval_ms > 0;
    j->speed = speed;
    if (j->interval_ms <= 0)
        j->interval_ms = w->cfg->poll_interval_ms;
    j->prepaid = refresh_first ? 2 : 1;
    if (j->user == NULL || j->at_sealed == NULL || j->rt_sealed == NULL || j->state_text == NULL
        || j->backfill_seen == NULL) {
        job_free(j);
        return;
    }
    if (refresh_first) {
        refresh_call(j, job_poll);   /* claim.lua took the refresh lock; the poll follows */
        return;
    }
    if (job_open_token(j, j->at_sealed) != 0) {
        /* Unreadable (e.g. another user's ciphertext): never sent anywhere;
         * refresh under the lock, with this user's own refresh token. */
        refresh_lock(j, job_poll);
        return;
    }
    job_poll(j);
}
