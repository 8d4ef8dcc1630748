/* complete.c: finished jobs to lua/complete.lua, in batches (see
 * worker_int.h).
 *
 * complete_job turns a job's outcome into its COMPLETE_GROUP_ARGS group
 * (and its events) and queues it on the job's app; complete_flush, the
 * worker's ev_prepare (run when the loop is about to wait, as Redis' own
 * before-sleep hook), sends each app's queue as one complete.lua call, as
 * does a batch that reaches COMPLETE_BATCH_MAX. The jobs live until the
 * script answers: each one is applied or dropped on its own fence.
 *
 * Layer: below gate.c; calls outcome.c (outcome_free) and jobs.c
 * (job_free), never the files that finish jobs (worker_int.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "worker_int.h"
#include "base/codec.h"
#include "base/log.h"
#include "redis/scripts.h"

static int batch_add(struct app *a, struct job *j, const char **args, int n);
static int flush_app(struct app *a);
static void flush_later(struct worker *w);
static void flush_all(struct worker *w);
static void on_complete(struct redis_async *l, redisReply *r, void *ud);
static void send_wait(struct worker *w);
#define WAIT_NODES_MAX 128   /* route ids told apart (CLUSTER_MAX_NODES) */
static void on_wait(struct redis_async *l, redisReply *r, void *ud);

/* sent_batch: the jobs of one complete.lua call, until its answer. */
struct sent_batch {
    int n;
    struct job *jobs[];
};

void complete_job(struct job *j, struct outcome *o)
{
    struct worker *w = j->w;
    struct app *a = j->app;
    const struct sw_config *c = w->cfg;
    char delay[CODEC_LL_MAX], status[CODEC_LL_MAX], fails[CODEC_LL_MAX], idle[CODEC_LL_MAX],
        block[CODEC_LL_MAX], nev[CODEC_LL_MAX], bf_delay[CODEC_LL_MAX] = "", bf_old[CODEC_LL_MAX] = "",
        bf_new[CODEC_LL_MAX] = "";
    /* the job's group, then its events (type, JSON) */
    const char *g[COMPLETE_GROUP_ARG_N + 2 * JOB_EVENTS_MAX];
    const char **ev = g + COMPLETE_GROUP_ARG_N;

    /* codec_lltoa, not snprintf: a dozen numbers a poll */
    codec_lltoa(o->delay_ms, delay);
    codec_lltoa(o->http_status, status);
    /* Unchanged since the claim read them: "" (complete.lua writes
     * nothing for them; each field written costs Redis). */
    fails[0] = idle[0] = '\0';
    if (o->fails != j->fails)
        codec_lltoa(o->fails, fails);
    if (o->idle != j->idle)
        codec_lltoa(o->idle, idle);
    codec_lltoa(o->block_ms, block);
    codec_lltoa(o->nevents, nev);
    if (j->backfill) {
        o->backfill_delay_ms = decide_backfill_delay_ms(o->backfill_delay_ms, strcmp(o->name, "released") == 0,
                                                        c->backfill_interval_ms);
        codec_lltoa(j->backfill_cursor, bf_old);
        if (o->backfill_cursor > j->backfill_cursor)
            codec_lltoa(o->backfill_cursor, bf_new);
    }
    if (o->backfill_delay_ms >= 0)
        codec_lltoa(o->backfill_delay_ms, bf_delay);

    g[COMPLETE_GROUP_ARG_USER] = j->user;
    g[COMPLETE_GROUP_ARG_FENCE] = j->fence;
    g[COMPLETE_GROUP_ARG_DELAY_MS] = delay;
    g[COMPLETE_GROUP_ARG_OUTCOME] = o->name;
    g[COMPLETE_GROUP_ARG_STATE] = o->state ? o->state : "";
    g[COMPLETE_GROUP_ARG_HTTP_STATUS] = status;
    g[COMPLETE_GROUP_ARG_ERROR] = o->error;
    g[COMPLETE_GROUP_ARG_NEW_STATUS] = o->new_status;
    g[COMPLETE_GROUP_ARG_BLOCK_MS] = block;
    g[COMPLETE_GROUP_ARG_BLOCK_REASON] = o->block_reason;
    g[COMPLETE_GROUP_ARG_FAILS] = fails;
    g[COMPLETE_GROUP_ARG_IDLE] = idle;
    g[COMPLETE_GROUP_ARG_CAPPED] = o->capped ? "1" : "0";
    g[COMPLETE_GROUP_ARG_BACKFILL_DELAY_MS] = bf_delay;
    g[COMPLETE_GROUP_ARG_BACKFILL_CURSOR_OLD] = bf_old;
    g[COMPLETE_GROUP_ARG_BACKFILL_CURSOR_NEW] = bf_new;
    g[COMPLETE_GROUP_ARG_BACKFILL_PLAYS] = o->backfill_plays ? o->backfill_plays : "";
    g[COMPLETE_GROUP_ARG_FLAP] = o->flap;
    g[COMPLETE_GROUP_ARG_QUOTA_BUCKET] = o->quota_bucket;
    g[COMPLETE_GROUP_ARG_NEVENTS] = nev;
    for (int i = 0; i < o->nevents; i++) {
        ev[2 * i] = o->events[i].type;
        ev[2 * i + 1] = o->events[i].json;
    }
    wm_poll(w->wm, o->name, j->poll_s);
    struct log_fields lf = {a->id, j->user, o->name, o->http_status,
                            j->poll_s >= 0 ? j->poll_s * 1000.0 : -1};
    log_debug_f(&lf, "%s", j->backfill ? "backfill" : "poll");
    for (int i = 0; i < o->nevents; i++)
        wm_event(w->wm, o->events[i].type);
    if (o->block_ms > 0)
        wm_block(w->wm, o->block_reason);
    if (o->block_ms > 0 && o->quota_bucket[0])
        quota_report(w, a, o->quota_bucket, o->block_ms);   /* the developer's other apps stop it too */
    if (o->block_ms > 0 && strcmp(o->block_reason, "invalid_client") != 0 &&
        strcmp(o->block_reason, "owner_premium_required") != 0)
        wm_rate_limited(w->wm, a->id);
    w->polls++;
    w->events += o->nevents;
    /* invalid_client and owner_premium_required are the app's fault: its
     * one alert is enough, no line per user. */
    if (o->error[0] && strcmp(o->name, "invalid_client") != 0 && strcmp(o->name, "owner_premium_required") != 0)
        log_info_f(&lf, "user %s: %s (%s)", j->user, o->name, o->error);
    int rc = batch_add(a, j, g, COMPLETE_GROUP_ARG_N + 2 * o->nevents);
    outcome_free(o);
    if (rc != 0) {
        log_error_f(JOB_LOG(j), "user %s: out of memory; result not stored, the lease will expire", j->user);
        job_free(j);
        return;
    }
    if (a->ndone == COMPLETE_BATCH_MAX)
        flush_app(a);
    else
        flush_later(w);
}

/* flush_later: the batches go at the next tick, or before the loop waits. */
static void flush_later(struct worker *w)
{
    long tick_ms = w->cfg->claim_tick_ms;
    if (tick_ms <= 0) {
        ev_prepare_start(w->loop, &w->flush);
        return;
    }
    if (ev_is_active(&w->flush_tick))
        return;
    double now = ev_now(w->loop);
    ev_timer_set(&w->flush_tick, decide_tick_at(now, tick_ms, w->tick_phase) - now, 0);
    ev_timer_start(w->loop, &w->flush_tick);
}


/* batch_add queues one job's argument group (copied, into one block of
 * the job's: one allocation a job instead of one an argument) behind the
 * app's others. Returns -1 when out of memory (nothing queued). */
static int batch_add(struct app *a, struct job *j, const char **args, int n)
{
    size_t len[COMPLETE_GROUP_ARG_N + 2 * JOB_EVENTS_MAX], total = 0;
    char **more, *block;
    int i;

    if (a->nargs + n > a->cap_args) {
        int cap = a->cap_args ? a->cap_args : 1024;
        while (cap < a->nargs + n)
            cap *= 2;
        more = realloc(a->done_args, (size_t)cap * sizeof *more);
        if (more == NULL)
            return -1;
        a->done_args = more;
        a->cap_args = cap;
    }
    for (i = 0; i < n; i++)
        total += (len[i] = strlen(args[i]) + 1);
    if ((block = malloc(total)) == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        memcpy(block, args[i], len[i]);
        a->done_args[a->nargs + i] = block;
        block += len[i];
    }
    a->nargs += n;
    a->done_blocks[a->ndone] = a->done_args[a->nargs - n];
    a->done[a->ndone++] = j;
    return 0;
}

void complete_flush(struct ev_loop *loop, ev_prepare *p, int revents)
{
    (void)revents;
    ev_prepare_stop(loop, p);
    flush_all(p->data);
}

void complete_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    ev_timer_stop(loop, t);
    flush_all(t->data);
}

/* flush_all sends every app's batch, then a WAIT where one is due. */
static void flush_all(struct worker *w)
{
    int sent = 0;
    for (int i = 0; i < w->napps; i++)
        sent += flush_app(w->apps[i]);
    if (sent > 0 && w->wait_pending && w->cfg->redis_wait_replicas > 0)
        send_wait(w);
    for (int i = 0; i < w->napps; i++)
        w->apps[i]->flushed = 0;
}

/* send_wait: one WAIT after the batches of this loop turn (README "What a
 * failover may lose") on each node that ran a batch or stored a refresh
 * token: one link runs its commands in order, so a WAIT covers the
 * token_store.lua calls sent before it as well as the batches. Without a
 * cluster every app has the same node (route id 0): one WAIT. The link
 * waits for it: its timeout bounds what the worker pays. */
static void send_wait(struct worker *w)
{
    char n[16], ms[24];
    unsigned char seen[WAIT_NODES_MAX] = {0};
    int all_sent = 1;
    snprintf(n, sizeof n, "%d", w->cfg->redis_wait_replicas);
    snprintf(ms, sizeof ms, "%ld", w->cfg->redis_wait_timeout_ms);
    const char *argv[] = {"WAIT", n, ms};
    for (int i = 0; i < w->napps; i++) {
        struct app *a = w->apps[i];
        if (!a->flushed && !a->wait_pending)
            continue;
        int id = redis_async_route_id(w->redis, a->k.due);
        if (id >= 0 && id < WAIT_NODES_MAX && seen[id]) {
            a->wait_pending = 0;
            continue;
        }
        if (redis_async_command_at(w->redis, a->k.due, on_wait, w, 3, argv, NULL) == 0) {
            if (id >= 0 && id < WAIT_NODES_MAX)
                seen[id] = 1;
            a->wait_pending = 0;
            w->waits++;
        } else if (a->wait_pending) {
            all_sent = 0;   /* its node is down: ask again after the next batch */
        }
    }
    if (all_sent)
        w->wait_pending = 0;
}

/* on_wait: the replicas that acknowledged; fewer than asked is logged and
 * counted (waits_short): a failover now could lose the new refresh token. */
static void on_wait(struct redis_async *l, redisReply *r, void *ud)
{
    struct worker *w = ud;
    (void)l;
    if (r == NULL)
        return;   /* link lost: the next token stored asks again */
    int acked = r->type == REDIS_REPLY_INTEGER && r->integer >= w->cfg->redis_wait_replicas;
    wm_wait(w->wm, acked);
    if (acked)
        return;
    w->waits_short++;
    if (r->type == REDIS_REPLY_INTEGER)
        log_warn("WAIT: %lld of %d replicas acknowledged within %ld ms; a failover now may lose a new refresh token",
                 r->integer, w->cfg->redis_wait_replicas, w->cfg->redis_wait_timeout_ms);
    else
        log_warn("WAIT failed: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected answer");
}

/* flush_app sends the app's finished jobs to complete.lua in one call. The
 * jobs live until its answer; if it cannot be sent they are freed now and
 * their leases expire, as when the link drops. Returns the jobs sent. */
static int flush_app(struct app *a)
{
    struct worker *w = a->w;
    const struct sw_config *c = w->cfg;
    char maxlen[24], budget[24], window[24], channel[KEY_MAX];
    int nkeys = COMPLETE_KEY_N + a->ndone, argc = nkeys + COMPLETE_ARG_N + a->nargs, rc = -1;
    const char **argv = NULL, **arg;
    char (*user_keys)[KEY_MAX] = NULL;
    struct sent_batch *b;

    if (a->ndone == 0)
        return 0;
    b = malloc(sizeof *b + (size_t)a->ndone * sizeof b->jobs[0]);
    argv = malloc((size_t)argc * sizeof *argv);
    user_keys = malloc((size_t)a->ndone * sizeof *user_keys);
    if (b == NULL || argv == NULL || user_keys == NULL) {
        log_error("out of memory: %d results not stored; their leases will expire", a->ndone);
        goto out;
    }
    snprintf(maxlen, sizeof maxlen, "%ld", c->events_maxlen);
    snprintf(budget, sizeof budget, "%ld", c->app_budget_30s);
    snprintf(window, sizeof window, "%ld", c->history_window_ms);
    keys_channel(channel, sizeof channel, c->key_prefix, "");
    argv[COMPLETE_KEY_DUE] = a->k.due;
    argv[COMPLETE_KEY_LEASES] = a->k.leases;
    argv[COMPLETE_KEY_EVENTS] = a->k.events;
    argv[COMPLETE_KEY_RL] = a->k.rl;
    argv[COMPLETE_KEY_STATS] = a->k.stats;
    argv[COMPLETE_KEY_APP] = a->k.app;
    argv[COMPLETE_KEY_CALLS] = a->k.calls;
    argv[COMPLETE_KEY_BROKEN] = a->k.broken;
    argv[COMPLETE_KEY_CONFIRM] = a->k.confirm;
    /* one user hash per job, after the fixed keys, in the order of the jobs */
    for (int i = 0; i < a->ndone; i++) {
        keys_user(user_keys[i], sizeof user_keys[i], c->key_prefix, a->id, a->done[i]->user);
        argv[COMPLETE_KEY_N + i] = user_keys[i];
    }
    arg = argv + nkeys;
    arg[COMPLETE_ARG_MAXLEN] = maxlen;
    arg[COMPLETE_ARG_BUDGET_DEFAULT] = budget;
    arg[COMPLETE_ARG_CHANNEL_PREFIX] = channel;
    arg[COMPLETE_ARG_HISTORY_WINDOW_MS] = window;
    /* the jobs' groups, each followed by its events (batch_add) */
    memcpy(arg + COMPLETE_ARG_N, a->done_args, (size_t)a->nargs * sizeof *arg);
    b->n = a->ndone;
    memcpy(b->jobs, a->done, (size_t)a->ndone * sizeof b->jobs[0]);
    rc = redis_async_eval(w->redis, SCRIPT_COMPLETE, nkeys, argc, argv, NULL, on_complete, b);
out:
    free(argv);
    free(user_keys);
    int sent = rc == 0 ? a->ndone : 0;
    if (rc == 0)
        a->flushed = 1;   /* this turn's WAIT goes to its node too */
    if (rc != 0) {
        for (int i = 0; i < a->ndone; i++)
            job_free(a->done[i]);
        free(b);
    }
    complete_forget(a);
    return sent;
}

static void on_complete(struct redis_async *l, redisReply *r, void *ud)
{
    struct sent_batch *b = ud;
    (void)l;
    if (r == NULL)
        log_warn("%d results not stored (no answer from Redis: the link lost, or a cluster slot moving); "
                 "their leases will expire", b->n);
    else if (r->type == REDIS_REPLY_ERROR)
        log_error("complete failed for %d users: %s", b->n, r->str);
    else if (r->type != REDIS_REPLY_ARRAY || sc_groups(r, COMPLETE_REPLY_N, COMPLETE_GROUP_REPLY_N) != (size_t)b->n)
        log_error("complete: unexpected answer for %d users", b->n);
    for (int i = 0; i < b->n; i++) {
        struct complete_group_reply g;
        if (sc_parse(r, COMPLETE_REPLY_N + (size_t)i * COMPLETE_GROUP_REPLY_N, sc_complete_group_reply,
                     COMPLETE_GROUP_REPLY_N, &g) == 0 && g.applied == 0)
            log_info_f(JOB_LOG(b->jobs[i]), "user %s: lease lost before completion; result dropped", b->jobs[i]->user);
    }
    for (int i = 0; i < b->n; i++)
        job_free(b->jobs[i]);
    free(b);
}

void complete_forget(struct app *a)
{
    for (int i = 0; i < a->ndone; i++)
        free(a->done_blocks[i]);
    a->ndone = 0;
    a->nargs = 0;
}
