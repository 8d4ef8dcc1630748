/* worker.c: the stateless poller (see include/worker/worker.h).
 *
 * A poll is a job: claimed from Redis by lua/claim.lua under a lease and a
 * fencing token, run over HTTP, and finished by lua/complete.lua, which
 * stores the new state, announces changes and re-arms the schedule in one
 * atomic step. A job whose Redis link drops is simply forgotten: its lease
 * expires, another poll runs, and because the state is only stored together
 * with the events, no change is lost or announced twice.
 *
 * One timer drives claiming: it is re-armed to the earliest moment any app
 * may have work (bounded by 100 ms so new users are picked up) and kicked
 * whenever capacity frees up. Nothing here sleeps or blocks. */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <ev.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include "worker/worker.h"
#include "base/crypto.h"
#include "base/histogram.h"
#include "spotify/recently_played.h"
#include "worker/worker_metrics.h"
#include "http/httpc.h"
#include "redis/key_schema.h"
#include "base/log.h"
#include "spotify/playback.h"
#include "redis/redis_async.h"
#include "redis/script_contract.h"
#include "redis/scripts.h"
#include "base/keyring_file.h"
#include "spotify/token.h"

#define IDLE_CLAIM_S 0.1        /* longest sleep of an app with nothing due */
#define BLOCKED_CLAIM_S 1.0     /* recheck of a blocked app (costs one HGET) */
#define TRIM_TICKS 10           /* heartbeats between returns of free heap to the system */
#define WORKER_TTL_MS 5000
#define INVALID_CLIENT_BLOCK_MS 300000
#define REFRESH_RETRY_MS 100
#define BACKFILL_NO_SCOPE_MS 86400000   /* recently-played refused the grant: retry daily */
/* The most finished jobs one complete.lua call takes: bounds the time the
 * script holds Redis (about 1 ms for this many). */
#define COMPLETE_BATCH_MAX 128
/* The most events one job announces: a poll's changes, or a backfill's plays. */
#define JOB_EVENTS_MAX (HISTORY_LIMIT > PB_MAX_EVENTS + 1 ? HISTORY_LIMIT : PB_MAX_EVENTS + 1)

/* app: one app this worker claims for; never freed before the worker ends,
 * so jobs may point at it. */
struct app {
    struct worker *w;
    char id[ID_MAX + 1];
    struct app_keys k;
    char client_id[256];
    char *client_secret;     /* plaintext, cleansed on free; NULL until loaded */
    double wake_at;          /* ev_now() before which no claim is sent */
    int claiming;            /* a claim is in flight */
    int alerted;             /* invalid_client already logged */
    int claim_failing;       /* a claim error was logged: once until a claim works */
    double claim_t0;         /* ev_time() when the claim in flight was sent */
    double last_claim_at;    /* ev_now() of the last claim answer */
    double budget_30s;       /* the app's configured budget (metrics) */
    /* Finished jobs waiting for complete.lua, sent together when the loop
     * is about to wait (or the batch is full): see flush_completes. */
    struct job *done[COMPLETE_BATCH_MAX];
    int ndone;
    char **done_args;        /* owned strings: the jobs' argument groups, in order */
    int nargs, cap_args;
};

/* sent_batch: the jobs of one complete.lua call, until its answer. */
struct sent_batch {
    int n;
    struct job *jobs[];
};

struct worker {
    struct ev_loop *loop;
    const struct sw_config *cfg;
    struct redis_async *redis;
    struct httpc *http;
    struct crypto_keyring *keys;   /* NULL: plaintext mode */
    char id[192];
    char workers_key[KEY_MAX];
    char worker_key[KEY_MAX];
    char apps_key[KEY_MAX];
    struct app **apps;
    int napps;
    int jobs;                      /* jobs alive (claimed, not yet finished) */
    struct job *job_list;          /* the same jobs, freed at exit if still alive */
    int stopping;
    int left;                      /* deregistration sent */
    int beats;
    unsigned long long rng;
    long long polls, events, errors;
    /* schedule lag (claim time - due time) and poll latency (HTTP request
     * time), us: since the last heartbeat, and since start (heartbeat) */
    struct hist lag, lag_total, lat, lat_total;
    char lag_text[16384], lat_text[16384];   /* their text form, for the heartbeat */
    struct worker_metrics *wm;           /* NULL unless metrics-listen is set */
    ev_timer tick, heartbeat, grace;
    ev_prepare flush;              /* sends the batches of finished jobs */
    ev_signal sigterm, sigint;
};

/* job: one claimed poll. */
struct job {
    struct worker *w;
    struct job *prev, *next;   /* the worker's list of live jobs */
    struct app *app;
    char *user;
    char fence[32];
    int refresh_first;         /* claim asked for a refresh before the poll */
    int refreshed;             /* a refresh already ran in this job */
    char *at_sealed;           /* as stored: the compare value of refresh_begin */
    char *rt_sealed;           /* as stored: the compare value of token_store */
    char *access_token;        /* plaintext, cleansed */
    char *state_text;
    int fails, idle;
    long long interval_ms;
    int interval_set;          /* the user has its own interval_ms (watch start --interval) */
    int calls;                 /* HTTP calls this job has started */
    int prepaid;               /* calls the claim granted (1, or 2 for a refresh job) */
    int granted;               /* grant.lua allowed the next call */
    int gate_refresh;          /* the call waiting for grant.lua is a refresh */
    double poll_s;             /* duration of the poll request, -1 if none */
    int backfill;              /* a "backfill" job: recently-played instead of the poll */
    long long backfill_cursor; /* ms: a backfill announces the plays after it */
};

/* outcome: what complete.lua is told. */
struct outcome {
    long long delay_ms;        /* -1: off the schedule */
    const char *name;
    char *state;               /* owned, NULL keeps the stored state */
    long http_status;
    char error[256];
    const char *new_status;
    long long block_ms;
    const char *block_reason;
    int capped;
    int fails, idle;
    long long backfill_delay_ms;   /* next backfill in ms from now; -1 leaves it */
    long long backfill_cursor;     /* the new backfill cursor (ms); -1 keeps it */
    int nevents;
    char *events[JOB_EVENTS_MAX];
};

static void kick(struct worker *w);
static void worker_leave(struct worker *w);
static void job_poll(struct job *j);
static void job_refresh(struct job *j);
static void job_finish(struct job *j, struct outcome *o);

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double rand01(struct worker *w)
{
    /* xorshift64*: jitter needs spread, not secrecy */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return (double)((w->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* ---------------------------------------------------------------- jobs --- */

static void job_free(struct job *j)
{
    struct worker *w = j->w;
    if (j->prev)
        j->prev->next = j->next;
    else
        w->job_list = j->next;
    if (j->next)
        j->next->prev = j->prev;
    free(j->user);
    secret_free(j->at_sealed);   /* sealed, but "plain.<token>" in plaintext mode */
    secret_free(j->rt_sealed);
    secret_free(j->access_token);
    free(j->state_text);
    free(j);
    w->jobs--;
    kick(w);   /* while stopping: leaves once nothing is in flight */
}

static void outcome_init(struct outcome *o, const struct job *j, const char *name)
{
    memset(o, 0, sizeof *o);
    o->name = name;
    o->fails = 0;
    o->idle = j->idle;
    o->delay_ms = j->interval_ms;
    o->block_reason = "";
    o->new_status = "";
    o->backfill_delay_ms = -1;
    o->backfill_cursor = -1;
}

static void outcome_free(struct outcome *o)
{
    free(o->state);
    for (int i = 0; i < o->nevents; i++)
        free(o->events[i]);
}

/* backoff: exponential with jitter, capped; a user is never dropped for it. */
static void outcome_backoff(struct outcome *o, struct job *j, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void outcome_backoff(struct outcome *o, struct job *j, const char *fmt, ...)
{
    va_list ap;
    struct worker *w = j->w;
    const struct sw_config *c = w->cfg;
    o->fails = j->fails + 1;
    double d = (double)c->backoff_base_ms;
    for (int i = 1; i < o->fails && d < c->backoff_max_ms; i++)
        d *= 2;
    if (d > c->backoff_max_ms)
        d = (double)c->backoff_max_ms;
    o->delay_ms = (long long)(d * (0.5 + 0.5 * rand01(w)));
    va_start(ap, fmt);
    vsnprintf(o->error, sizeof o->error, fmt, ap);
    va_end(ap);
}

static void outcome_stop_user(struct outcome *o, const char *status, const char *reason,
                              const struct job *j)
{
    o->delay_ms = -1;
    o->new_status = status;
    snprintf(o->error, sizeof o->error, "%s", reason);
    o->events[o->nevents++] = pb_event_simple(status, j->user, wall_ms(), reason);
}

static void on_complete(struct redis_async *l, redisReply *r, void *ud)
{
    struct sent_batch *b = ud;
    (void)l;
    if (r == NULL)
        log_warn("%d results not stored (redis link lost); their leases will expire", b->n);
    else if (r->type == REDIS_REPLY_ERROR)
        log_error("complete failed for %d users: %s", b->n, r->str);
    else if (r->type != REDIS_REPLY_ARRAY || sc_groups(r, COMPLETE_REPLY_N, COMPLETE_GROUP_REPLY_N) != (size_t)b->n)
        log_error("complete: unexpected answer for %d users", b->n);
    for (int i = 0; i < b->n; i++) {
        struct complete_group_reply g;
        if (sc_parse(r, COMPLETE_REPLY_N + (size_t)i * COMPLETE_GROUP_REPLY_N, sc_complete_group_reply,
                     COMPLETE_GROUP_REPLY_N, &g) == 0 && g.applied == 0)
            log_info("user %s: lease lost before completion; result dropped", b->jobs[i]->user);
    }
    for (int i = 0; i < b->n; i++)
        job_free(b->jobs[i]);
    free(b);
}

static void batch_forget(struct app *a)
{
    for (int i = 0; i < a->nargs; i++)
        free(a->done_args[i]);
    a->ndone = 0;
    a->nargs = 0;
}

/* flush_app sends the app's finished jobs to complete.lua in one call. The
 * jobs live until its answer; if it cannot be sent they are freed now and
 * their leases expire, as when the link drops. */
static void flush_app(struct app *a)
{
    struct worker *w = a->w;
    const struct sw_config *c = w->cfg;
    char maxlen[24], budget[24], channel[KEY_MAX];
    int nkeys = COMPLETE_KEY_N + a->ndone, argc = nkeys + COMPLETE_ARG_N + a->nargs, rc = -1;
    const char **argv = NULL, **arg;
    char (*user_keys)[KEY_MAX] = NULL;
    struct sent_batch *b;

    if (a->ndone == 0)
        return;
    b = malloc(sizeof *b + (size_t)a->ndone * sizeof b->jobs[0]);
    argv = malloc((size_t)argc * sizeof *argv);
    user_keys = malloc((size_t)a->ndone * sizeof *user_keys);
    if (b == NULL || argv == NULL || user_keys == NULL) {
        log_error("out of memory: %d results not stored; their leases will expire", a->ndone);
        goto out;
    }
    snprintf(maxlen, sizeof maxlen, "%ld", c->events_maxlen);
    snprintf(budget, sizeof budget, "%ld", c->app_budget_30s);
    keys_channel(channel, sizeof channel, c->key_prefix, "");
    argv[COMPLETE_KEY_DUE] = a->k.due;
    argv[COMPLETE_KEY_LEASES] = a->k.leases;
    argv[COMPLETE_KEY_EVENTS] = a->k.events;
    argv[COMPLETE_KEY_RL] = a->k.rl;
    argv[COMPLETE_KEY_STATS] = a->k.stats;
    argv[COMPLETE_KEY_APP] = a->k.app;
    argv[COMPLETE_KEY_CALLS] = a->k.calls;
    /* one user hash per job, after the fixed keys, in the order of the jobs */
    for (int i = 0; i < a->ndone; i++) {
        keys_user(user_keys[i], sizeof user_keys[i], c->key_prefix, a->id, a->done[i]->user);
        argv[COMPLETE_KEY_N + i] = user_keys[i];
    }
    arg = argv + nkeys;
    arg[COMPLETE_ARG_MAXLEN] = maxlen;
    arg[COMPLETE_ARG_BUDGET_DEFAULT] = budget;
    arg[COMPLETE_ARG_CHANNEL_PREFIX] = channel;
    /* the jobs' groups, each followed by its events (batch_add) */
    memcpy(arg + COMPLETE_ARG_N, a->done_args, (size_t)a->nargs * sizeof *arg);
    b->n = a->ndone;
    memcpy(b->jobs, a->done, (size_t)a->ndone * sizeof b->jobs[0]);
    rc = redis_async_eval(w->redis, SCRIPT_COMPLETE, nkeys, argc, argv, NULL, on_complete, b);
out:
    free(argv);
    free(user_keys);
    if (rc != 0) {
        for (int i = 0; i < a->ndone; i++)
            job_free(a->done[i]);
        free(b);
    }
    batch_forget(a);
}

static void flush_completes(struct ev_loop *loop, ev_prepare *p, int revents)
{
    struct worker *w = p->data;
    (void)revents;
    ev_prepare_stop(loop, p);
    for (int i = 0; i < w->napps; i++)
        flush_app(w->apps[i]);
}

/* batch_add queues one job's argument group (copied) behind the app's
 * others. Returns -1 when out of memory (nothing queued). */
static int batch_add(struct app *a, struct job *j, const char **args, int n)
{
    char **more;
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
    for (i = 0; i < n; i++) {
        a->done_args[a->nargs + i] = strdup(args[i]);
        if (a->done_args[a->nargs + i] == NULL)
            break;
    }
    if (i < n) {
        while (i-- > 0)
            free(a->done_args[a->nargs + i]);
        return -1;
    }
    a->nargs += n;
    a->done[a->ndone++] = j;
    return 0;
}

static const char *event_type(const char *ev, char *buf, size_t n)
{
    cJSON *o = cJSON_Parse(ev);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    snprintf(buf, n, "%s", cJSON_IsString(t) ? t->valuestring : "unknown");
    cJSON_Delete(o);
    return buf;
}

/* job_finish hands the outcome to complete.lua: queued with the other jobs
 * of its app finished in this turn of the loop (see flush_completes). */
static void job_finish(struct job *j, struct outcome *o)
{
    struct worker *w = j->w;
    struct app *a = j->app;
    const struct sw_config *c = w->cfg;
    char delay[24], status[16], fails[16], idle[16], block[24], nev[16],
        types[JOB_EVENTS_MAX][32], bf_delay[24] = "", bf_old[24] = "", bf_new[24] = "";
    /* the job's group, then its events (type, JSON) */
    const char *g[COMPLETE_GROUP_ARG_N + 2 * JOB_EVENTS_MAX];
    const char **ev = g + COMPLETE_GROUP_ARG_N;

    snprintf(delay, sizeof delay, "%lld", o->delay_ms);
    snprintf(status, sizeof status, "%ld", o->http_status);
    snprintf(fails, sizeof fails, "%d", o->fails);
    snprintf(idle, sizeof idle, "%d", o->idle);
    snprintf(block, sizeof block, "%lld", o->block_ms);
    snprintf(nev, sizeof nev, "%d", o->nevents);
    if (j->backfill) {
        /* A backfill that failed is tried again an interval later (its cursor
         * has not moved, so nothing is lost); one released before its call
         * stays due and runs at the user's next claim. */
        if (o->backfill_delay_ms < 0 && strcmp(o->name, "released") != 0)
            o->backfill_delay_ms = c->backfill_interval_ms;
        snprintf(bf_old, sizeof bf_old, "%lld", j->backfill_cursor);
        if (o->backfill_cursor > j->backfill_cursor)
            snprintf(bf_new, sizeof bf_new, "%lld", o->backfill_cursor);
    }
    if (o->backfill_delay_ms >= 0)
        snprintf(bf_delay, sizeof bf_delay, "%lld", o->backfill_delay_ms);

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
    g[COMPLETE_GROUP_ARG_NEVENTS] = nev;
    for (int i = 0; i < o->nevents; i++) {
        ev[2 * i] = event_type(o->events[i], types[i], sizeof types[i]);
        ev[2 * i + 1] = o->events[i];
    }
    wm_poll(w->wm, o->name, j->poll_s);
    for (int i = 0; i < o->nevents; i++)
        wm_event(w->wm, types[i]);
    if (o->block_ms > 0 && strcmp(o->block_reason, "invalid_client") != 0)
        wm_rate_limited(w->wm, a->id);
    w->polls++;
    w->events += o->nevents;
    if (o->error[0])
        w->errors++;
    /* invalid_client is the app's fault: its one alert is enough, no line per user. */
    if (o->error[0] && strcmp(o->name, "invalid_client") != 0)
        log_info("user %s: %s (%s)", j->user, o->name, o->error);
    int rc = batch_add(a, j, g, COMPLETE_GROUP_ARG_N + 2 * o->nevents);
    outcome_free(o);
    if (rc != 0) {
        log_error("user %s: out of memory; result not stored, the lease will expire", j->user);
        job_free(j);
        return;
    }
    if (a->ndone == COMPLETE_BATCH_MAX)
        flush_app(a);
    else
        ev_prepare_start(w->loop, &w->flush);
}

/* ---------------------------------------------------------------- gate --- */

static void on_grant(struct redis_async *l, redisReply *r, void *ud)
{
    struct job *j = ud;
    struct grant_reply g;
    struct outcome o;
    (void)l;
    if (r == NULL) {
        job_free(j);   /* link lost: the lease expires, the user is polled again */
        return;
    }
    if (sc_parse(r, 0, sc_grant_reply, GRANT_REPLY_N, &g) == 0 && g.code == LIMIT_OK) {
        j->granted = 1;
        if (j->gate_refresh)
            job_refresh(j);
        else
            job_poll(j);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR)
        log_error("user %s: grant failed: %s", j->user, r->str);
    else
        log_debug("user %s: app %s is limited; next call waits for the claim", j->user, j->app->id);
    /* Back in line, first: the claim lets it go when the limiter allows. */
    outcome_init(&o, j, "released");
    o.fails = j->fails;
    o.delay_ms = 0;
    job_finish(j, &o);
}

/* job_gate: claim.lua granted a job's first call (its first two for a
 * "refresh" job). Every later call of the job (a refresh after a 401, the
 * poll after it) asks lua/grant.lua first, so no call leaves this worker
 * while the app is blocked, and calls the claim did not count come out of
 * the budget and quota. Returns 0 when the call may start now, 1 when the
 * job waits for grant.lua (which then calls job_poll or job_refresh again,
 * or finishes the job). */
static int job_gate(struct job *j, int refresh)
{
    struct worker *w = j->w;
    const struct sw_config *c = w->cfg;
    char tag[ID_MAX + 64], budget[24], quota[24];

    if (j->calls == 0 || j->granted) {
        j->granted = 0;
        return 0;
    }
    j->gate_refresh = refresh;
    snprintf(tag, sizeof tag, "%s:%s:%d", j->fence, j->user, j->calls);
    snprintf(budget, sizeof budget, "%ld", c->app_budget_30s);
    snprintf(quota, sizeof quota, "%ld", c->app_quota_24h);
    const char *argv[GRANT_KEY_N + GRANT_ARG_N];
    const char **arg = argv + GRANT_KEY_N;
    argv[GRANT_KEY_RL] = j->app->k.rl;
    argv[GRANT_KEY_CALLS] = j->app->k.calls;
    argv[GRANT_KEY_APP] = j->app->k.app;
    arg[GRANT_ARG_EXTRA] = j->calls < j->prepaid ? "0" : "1";
    arg[GRANT_ARG_TAG] = tag;
    arg[GRANT_ARG_BUDGET_DEFAULT] = budget;
    arg[GRANT_ARG_QUOTA_DEFAULT] = quota;
    if (redis_async_eval(w->redis, SCRIPT_GRANT, GRANT_KEY_N, GRANT_KEY_N + GRANT_ARG_N, argv, NULL, on_grant,
                         j) != 0)
        job_free(j);
    return 1;
}

/* ---------------------------------------------------------------- poll --- */

static void block_app(struct outcome *o, const struct job *j, const struct httpc_response *r,
                      const char *reason)
{
    const struct sw_config *c = j->w->cfg;
    o->block_ms = retry_after_ms(r ? r->retry_after : NULL, wall_ms(), c->retry_after_default_ms,
                                 c->retry_after_max_ms, &o->capped);
    o->block_reason = reason;
    log_warn("app %s: %s; no calls for %lld ms%s", j->app->id, reason, o->block_ms,
             o->capped ? " (Retry-After capped)" : "");
}

static void on_poll_ok(struct job *j, const struct httpc_response *r, struct outcome *o, int nothing)
{
    const struct sw_config *c = j->w->cfg;
    struct pb_state prev, cur;
    char err[160];

    if (nothing) {
        pb_nothing(&cur);
    } else if (pb_parse(r->body, r->len, &cur, err, sizeof err) != 0) {
        pb_state_free(&cur);
        outcome_backoff(o, j, "bad currently-playing response: %s", err);
        o->name = "error";
        return;
    }
    pb_state_decode(j->state_text, &prev);
    o->nevents = pb_diff(&prev, &cur, j->user, wall_ms(), o->events);
    o->state = pb_state_encode(&cur);
    if (o->state && j->state_text && strcmp(o->state, j->state_text) == 0) {
        free(o->state);       /* unchanged: spare Redis the write */
        o->state = NULL;
    }
    int quiet = o->nevents == 0 && !(cur.present && cur.is_playing);
    o->idle = quiet ? j->idle + 1 : 0;
    /* Smart polling: while a track plays, the next poll is at its predicted
     * end, or after playing-max-ms (the user's own interval, when set) to see
     * skips and pauses; paused or idle users back off from their base. */
    long long base = cur.present && cur.is_playing && !j->interval_set ? c->playing_max_ms : j->interval_ms;
    if (c->smart_polling)
        o->delay_ms = pb_next_delay_ms(&cur, base, c->paused_interval_ms,
                                       c->paused_max_ms, c->idle_max_ms, o->idle > 0 ? o->idle - 1 : 0);
    else
        o->delay_ms = j->interval_ms;
    o->name = nothing ? "nothing" : "ok";
    pb_state_free(&prev);
    pb_state_free(&cur);
}

/* on_backfill_ok: a "backfill" job's answer (204: no history). Every play
 * after the job's cursor becomes a track_played event, oldest first, and the
 * cursor moves to the last of them in the same complete.lua step, so each
 * play is announced exactly once. */
static void on_backfill_ok(struct job *j, const struct httpc_response *r, struct outcome *o, int nothing)
{
    const struct sw_config *c = j->w->cfg;
    struct history_page p;
    char err[160];
    long long now = wall_ms();

    if (nothing) {
        memset(&p, 0, sizeof p);
        p.cursor_ms = j->backfill_cursor;
    } else if (history_parse(r->body, r->len, j->backfill_cursor, &p, err, sizeof err) != 0) {
        outcome_backoff(o, j, "bad recently-played response: %s", err);
        o->name = "error";
        return;
    }
    for (int i = 0; i < p.n; i++) {
        o->events[o->nevents] = history_event(&p.plays[i], j->user, now);
        if (o->events[o->nevents] == NULL) {
            /* All or none: a cursor past a play left out would lose it. */
            history_page_free(&p);
            outcome_free(o);
            o->nevents = 0;
            outcome_backoff(o, j, "backfill: out of memory");
            o->name = "error";
            return;
        }
        o->nevents++;
    }
    o->backfill_cursor = p.cursor_ms;
    /* A full answer may have left plays out: fetch them at the next poll. */
    o->backfill_delay_ms = p.more ? 0 : c->backfill_interval_ms;
    /* The poll this backfill took the place of comes after the user's base
     * interval, as after a poll that learnt nothing (pb_next_delay_ms of an
     * unknown state); idle and the stored state are left as they were. */
    o->delay_ms = j->interval_ms;
    o->name = "ok";
    history_page_free(&p);
}

static void on_refresh_begin(struct redis_async *l, redisReply *r, void *ud);

static void job_refresh_after_401(struct job *j)
{
    struct worker *w = j->w;
    char user_key[KEY_MAX], lock_ms[24];
    const char *argv[REFRESH_BEGIN_KEY_N + REFRESH_BEGIN_ARG_N];
    const char **arg = argv + REFRESH_BEGIN_KEY_N;
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

static void on_poll(const struct httpc_response *r, void *ud)
{
    struct job *j = ud;
    struct outcome o;
    char msg[160] = "";
    enum api_class cls;

    outcome_init(&o, j, "ok");
    o.http_status = r->status;
    if (r->curl_code == 0 && !j->w->cfg->bench_fake_poll)
        hist_add(&j->w->lat, (int64_t)(r->total_s * 1e6));
    j->poll_s = r->total_s;
    if (r->truncated) {
        outcome_backoff(&o, j, "response larger than max-body-bytes");
        o.name = "error";
        job_finish(j, &o);
        return;
    }
    cls = r->curl_code != 0 ? API_TRANSIENT : api_classify(r->status, r->body, r->len, msg, sizeof msg);
    switch (cls) {
    case API_OK:
    case API_NOTHING:
        if (j->backfill)
            on_backfill_ok(j, r, &o, cls == API_NOTHING);
        else
            on_poll_ok(j, r, &o, cls == API_NOTHING);
        break;
    case API_TOKEN_EXPIRED:
        if (!j->refreshed) {
            outcome_free(&o);
            job_refresh_after_401(j);
            return;
        }
        /* A second 401 right after a refresh: do not loop, back off. */
        outcome_backoff(&o, j, "401 right after a token refresh: %s", msg);
        o.name = "error";
        break;
    case API_REAUTH:
        if (j->backfill) {
            /* The grant lacks user-read-recently-played: polling goes on,
             * backfill waits a day (a new grant may add the scope). */
            snprintf(o.error, sizeof o.error, "recently-played: %s; history backfill paused",
                     msg[0] ? msg : "401 Permissions missing");
            o.name = "error";
            o.fails = j->fails;
            o.backfill_delay_ms = BACKFILL_NO_SCOPE_MS;
            break;
        }
        outcome_stop_user(&o, "reauth_required", msg[0] ? msg : "401 Permissions missing", j);
        o.name = "reauth_required";
        break;
    case API_NOT_REGISTERED:
        outcome_stop_user(&o, "not_registered",
                          "User not registered in the Developer Dashboard (development-mode allowlist)", j);
        o.name = "not_registered";
        break;
    case API_RATE_LIMITED:
    case API_QUOTA:
        o.name = cls == API_QUOTA ? "quota_exceeded" : "rate_limited";
        block_app(&o, j, r, o.name);
        snprintf(o.error, sizeof o.error, "429 %s", o.name);
        break;
    case API_TRANSIENT:
        if (r->curl_code)
            outcome_backoff(&o, j, "transient: %s", r->error);
        else
            outcome_backoff(&o, j, "transient: HTTP %ld: %s", r->status, msg);
        o.name = "error";
        break;
    case API_FORBIDDEN:
    case API_UNEXPECTED:
        snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " (HTTP %ld)", r->status);
        outcome_backoff(&o, j, "unexpected answer: %s", msg);
        o.name = "error";
        break;
    }
    job_finish(j, &o);
}

/* fake_poll: bench-fake-poll answers the poll here, with a canned playing
 * track whose progress moves as a real one would (so the stored state
 * changes as it does with real polls), and no HTTP at all. */
static void fake_poll(struct job *j)
{
    char body[1024];
    struct httpc_response r;
    int n = snprintf(body, sizeof body,
                     "{\"timestamp\":1700000000000,\"context\":null,\"progress_ms\":%lld,"
                     "\"item\":{\"album\":{\"album_type\":\"album\",\"id\":\"0ETFjACtuP2ADo6LFhL6HN\","
                     "\"name\":\"Abbey Road\",\"release_date\":\"1969-09-26\",\"type\":\"album\"},"
                     "\"artists\":[{\"id\":\"3WrFJ7ztbogyGnTHbHJFl2\",\"name\":\"The Beatles\","
                     "\"type\":\"artist\",\"uri\":\"spotify:artist:3WrFJ7ztbogyGnTHbHJFl2\"}],"
                     "\"disc_number\":1,\"duration_ms\":259946,\"explicit\":false,"
                     "\"href\":\"https://api.spotify.com/v1/tracks/2EqlS6tkEnglzr7tkKAAYD\","
                     "\"id\":\"2EqlS6tkEnglzr7tkKAAYD\",\"is_local\":false,\"name\":\"Come Together\","
                     "\"popularity\":79,\"track_number\":1,\"type\":\"track\","
                     "\"uri\":\"spotify:track:2EqlS6tkEnglzr7tkKAAYD\"},"
                     "\"currently_playing_type\":\"track\",\"actions\":{\"disallows\":{\"resuming\":true}},"
                     "\"is_playing\":true}",
                     wall_ms() % 259946);
    if (j->backfill)
        n = snprintf(body, sizeof body, "{\"items\":[],\"cursors\":null,\"limit\":%d}", HISTORY_LIMIT);
    memset(&r, 0, sizeof r);
    r.status = 200;
    r.error = "";
    r.body = body;
    r.len = n > 0 && (size_t)n < sizeof body ? (size_t)n : 0;
    on_poll(&r, j);
}

static void job_poll(struct job *j)
{
    struct worker *w = j->w;
    char url[CFG_STR + 64];
    char *auth = NULL;
    size_t alen;

    if (w->cfg->bench_fake_poll) {
        fake_poll(j);
        return;
    }

    if (j->access_token == NULL || j->access_token[0] == '\0') {
        job_refresh_after_401(j);   /* no token: refresh under the lock */
        return;
    }
    if (job_gate(j, 0))
        return;
    if (j->backfill)
        snprintf(url, sizeof url, "%s/me/player/recently-played?after=%lld&limit=%d", w->cfg->api_base,
                 j->backfill_cursor, HISTORY_LIMIT);
    else
        snprintf(url, sizeof url, "%s/me/player/currently-playing?additional_types=track,episode",
                 w->cfg->api_base);
    alen = strlen(j->access_token) + 32;
    auth = malloc(alen);
    if (auth == NULL)
        goto fail;
    snprintf(auth, alen, "Authorization: Bearer %s", j->access_token);
    const char *headers[] = {auth, NULL};
    int rc = httpc_request(w->http, "GET", url, headers, NULL, on_poll, j);
    secret_free(auth);
    if (rc == 0) {
        j->calls++;
        return;
    }
fail: {
        struct outcome o;
        outcome_init(&o, j, "error");
        outcome_backoff(&o, j, "could not start request");
        job_finish(j, &o);
    }
}

/* ------------------------------------------------------------- refresh --- */

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
        job_poll(j);
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
    job_finish(j, &o);
}

static void store_tokens(struct job *j, struct tok_response *t)
{
    struct worker *w = j->w;
    char ad[ID_MAX + 8], user_key[KEY_MAX], err[128], life[24];
    char *at = NULL, *rt = NULL;
    const char *reseal = "0";
    struct outcome o;

    snprintf(ad, sizeof ad, "user:%s", j->user);
    at = crypto_seal(w->keys, ad, t->access_token, err, sizeof err);
    if (t->refresh_token)
        rt = crypto_seal(w->keys, ad, t->refresh_token, err, sizeof err);
    if (at == NULL || (t->refresh_token && rt == NULL))
        goto fail;
    if (rt == NULL && j->rt_sealed && j->rt_sealed[0] && crypto_needs_reseal(w->keys, j->rt_sealed)) {
        /* The kept refresh token is under an older key (or plain): re-seal
         * it with the current one, so a rotated-out key can be retired.
         * If that fails the old ciphertext simply stays. */
        char *plain = crypto_open(w->keys, ad, j->rt_sealed, err, sizeof err);
        rt = plain ? crypto_seal(w->keys, ad, plain, err, sizeof err) : NULL;
        secret_free(plain);
        reseal = rt ? "1" : "0";
    }
    keys_user(user_key, sizeof user_key, w->cfg->key_prefix, j->app->id, j->user);
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
    job_finish(j, &o);
}

static void on_refresh(const struct httpc_response *r, void *ud)
{
    struct job *j = ud;
    struct worker *w = j->w;
    struct tok_response t;
    struct outcome o;
    char err[200];

    enum tok_result res = tok_parse(r->curl_code ? 0 : r->status, r->body, r->len, &t, err, sizeof err);
    static const char *const names[] = {[TOK_OK] = "ok", [TOK_INVALID_GRANT] = "invalid_grant",
                                        [TOK_INVALID_CLIENT] = "invalid_client",
                                        [TOK_RATE_LIMITED] = "rate_limited", [TOK_TRANSIENT] = "transient"};
    wm_refresh(w->wm, names[res]);
    outcome_init(&o, j, "error");
    o.http_status = r->status;
    switch (res) {
    case TOK_OK:
        outcome_free(&o);
        store_tokens(j, &t);
        tok_response_free(&t);
        return;
    case TOK_INVALID_GRANT:
        outcome_stop_user(&o, "reauth_required", err, j);
        o.name = "reauth_required";
        break;
    case TOK_INVALID_CLIENT:
        /* The app's credentials are wrong: one alert, and its users wait. */
        if (!j->app->alerted)
            log_error("app %s: token endpoint says invalid_client: fix the app's credentials "
                      "(spotwatch app add); its users wait", j->app->id);
        j->app->alerted = 1;
        o.name = "invalid_client";
        o.block_ms = INVALID_CLIENT_BLOCK_MS;
        o.block_reason = "invalid_client";
        snprintf(o.error, sizeof o.error, "token endpoint: invalid_client");
        o.delay_ms = 0;
        break;
    case TOK_RATE_LIMITED:
        o.name = "rate_limited";
        block_app(&o, j, r, "rate_limited");
        snprintf(o.error, sizeof o.error, "token endpoint 429");
        break;
    case TOK_TRANSIENT:
        outcome_backoff(&o, j, "token refresh failed, old tokens kept: %s", err);
        break;
    }
    tok_response_free(&t);
    job_finish(j, &o);
}

static char *basic_auth_header(const char *id, const char *secret)
{
    size_t n = strlen(id) + strlen(secret) + 2;
    char *plain = malloc(n), *hdr = NULL;
    if (plain == NULL)
        return NULL;
    snprintf(plain, n, "%s:%s", id, secret);
    size_t enc = 4 * ((n + 2) / 3) + 1;
    hdr = malloc(enc + 32);
    if (hdr != NULL) {
        int off = snprintf(hdr, 32, "Authorization: Basic ");
        EVP_EncodeBlock((unsigned char *)hdr + off, (const unsigned char *)plain, (int)strlen(plain));
    }
    secret_free(plain);
    return hdr;
}

static void job_refresh(struct job *j)
{
    struct worker *w = j->w;
    char url[CFG_STR + 32], ad[ID_MAX + 8], err[128];
    char *rt = NULL, *esc = NULL, *body = NULL, *auth = NULL;
    struct outcome o;
    const char *why = "no refresh token stored";

    if (job_gate(j, 1))
        return;
    j->refreshed = 1;
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
    esc = form_escape(rt);
    size_t n = esc ? strlen(esc) + 64 : 0;
    body = esc ? malloc(n) : NULL;
    auth = basic_auth_header(j->app->client_id, j->app->client_secret);
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
    job_finish(j, &o);
}

static int job_open_access_token(struct job *j, const char *sealed)
{
    char ad[ID_MAX + 8], err[128];
    snprintf(ad, sizeof ad, "user:%s", j->user);
    secret_free(j->access_token);
    j->access_token = NULL;
    if (sealed == NULL || sealed[0] == '\0')
        return 0;
    j->access_token = crypto_open(j->w->keys, ad, sealed, err, sizeof err);
    if (j->access_token == NULL) {
        log_warn("user %s: stored access token unreadable (%s); refreshing", j->user, err);
        return -1;
    }
    return 0;
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
    if (rep.code == REFRESH_BEGIN_LOCKED) {
        secret_free(j->rt_sealed);
        j->rt_sealed = strndup(rep.refresh_token.s, rep.refresh_token.len);
        job_refresh(j);
    } else if (rep.code == REFRESH_BEGIN_NEWER) {
        /* Another worker refreshed meanwhile: poll with its token. */
        secret_free(j->at_sealed);
        j->at_sealed = strndup(rep.access_token.s, rep.access_token.len);
        j->refreshed = 1;
        if (j->at_sealed == NULL || job_open_access_token(j, j->at_sealed) != 0) {
            outcome_init(&o, j, "error");
            outcome_backoff(&o, j, "refreshed token unreadable");
            job_finish(j, &o);
            return;
        }
        job_poll(j);
    } else if (rep.code == REFRESH_BEGIN_WAIT) {
        /* Back in line shortly: by then the other worker's refresh has
         * usually stored its tokens (else the claim waits for its lock). */
        outcome_init(&o, j, "released");
        o.delay_ms = REFRESH_RETRY_MS;
        job_finish(j, &o);
    } else {
        job_free(j);   /* stale fence: our lease is gone */
    }
}

/* --------------------------------------------------------------- claim --- */

static char *dup_str(struct sc_str v)
{
    return strndup(v.s, v.len);
}

static int str_is(struct sc_str v, const char *s)
{
    return v.len == strlen(s) && memcmp(v.s, s, v.len) == 0;
}

static void job_start(struct worker *w, struct app *a, const struct claim_group_reply *g)
{
    struct job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return;   /* the lease expires and the user is polled again */
    w->jobs++;
    j->w = w;
    j->next = w->job_list;
    if (j->next)
        j->next->prev = j;
    w->job_list = j;
    j->app = a;
    j->poll_s = -1;
    j->user = dup_str(g->user);
    snprintf(j->fence, sizeof j->fence, "%lld", g->fence);
    j->refresh_first = str_is(g->kind, "refresh");
    j->backfill = str_is(g->kind, "backfill");
    j->backfill_cursor = g->backfill_cursor;
    j->at_sealed = dup_str(g->access_token);
    j->rt_sealed = dup_str(g->refresh_token);
    j->state_text = dup_str(g->state);
    j->fails = (int)g->fails;
    j->idle = (int)g->idle;
    j->interval_ms = g->interval_ms;
    j->interval_set = j->interval_ms > 0;
    if (j->interval_ms <= 0)
        j->interval_ms = w->cfg->poll_interval_ms;
    j->prepaid = j->refresh_first ? 2 : 1;
    if (j->user == NULL || j->at_sealed == NULL || j->rt_sealed == NULL || j->state_text == NULL) {
        job_free(j);
        return;
    }
    if (j->refresh_first) {
        job_refresh(j);   /* claim.lua took the refresh lock */
        return;
    }
    if (job_open_access_token(j, j->at_sealed) != 0) {
        /* Unreadable (e.g. another user's ciphertext): never sent anywhere;
         * refresh under the lock, with this user's own refresh token. */
        job_refresh_after_401(j);
        return;
    }
    job_poll(j);
}

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
        a->wake_at = now + IDLE_CLAIM_S;
        kick(w);
        return;
    }
    if (sc_parse(r, 0, sc_claim_reply, CLAIM_REPLY_N, &head) != 0) {
        /* e.g. OOM (a full Redis refuses the script as a whole): once, not every second */
        if (!a->claim_failing)
            log_error("app %s: claim failed: %s; retrying every %.0f s", a->id,
                      r->type == REDIS_REPLY_ERROR ? r->str : "bad reply", BLOCKED_CLAIM_S);
        a->claim_failing = 1;
        a->wake_at = now + BLOCKED_CLAIM_S;
        kick(w);
        return;
    }
    if (a->claim_failing)
        log_info("app %s: claims work again", a->id);
    a->claim_failing = 0;
    long long code = head.code, wake = head.wake_ms, rnow = head.now_ms;
    size_t njobs = sc_groups(r, CLAIM_REPLY_N, CLAIM_GROUP_REPLY_N);
    for (size_t i = 0; i < njobs; i++) {
        struct claim_group_reply g;
        if (sc_parse(r, CLAIM_REPLY_N + i * CLAIM_GROUP_REPLY_N, sc_claim_group_reply, CLAIM_GROUP_REPLY_N,
                     &g) != 0) {
            log_error("app %s: claim: a job of the wrong shape; its lease will expire", a->id);
            continue;
        }
        /* schedule lag: Redis' claim time minus the time the poll fell due */
        hist_add(&w->lag, (rnow - g.due_ms) * 1000);
        wm_lag(w->wm, (double)(rnow - g.due_ms) / 1000.0);
        job_start(w, a, &g);
    }
    if (code == LIMIT_BLOCKED || code == LIMIT_QUOTA)
        wm_blocked(w->wm, a->id, a->last_claim_at > 0 ? now - a->last_claim_at : 0);
    a->last_claim_at = now;
    double delay = code == LIMIT_OK ? IDLE_CLAIM_S : BLOCKED_CLAIM_S;
    if (code == LIMIT_OK && njobs > 0)
        delay = 0;   /* more may be due: claim again as soon as capacity allows */
    else if (wake > 0 && (wake - rnow) / 1000.0 < delay)
        delay = wake > rnow ? (wake - rnow) / 1000.0 : 0;
    a->wake_at = now + delay;
    kick(w);
}

static void claim_app(struct worker *w, struct app *a, int batch)
{
    const struct sw_config *c = w->cfg;
    char nb[16], lease[24], margin[24], budget[24], quota[24], backfill[24];
    const char *argv[CLAIM_KEY_N + CLAIM_ARG_N];
    const char **arg = argv + CLAIM_KEY_N;
    snprintf(nb, sizeof nb, "%d", batch);
    snprintf(lease, sizeof lease, "%ld", c->lease_ms);
    snprintf(margin, sizeof margin, "%ld", c->refresh_margin_ms);
    snprintf(budget, sizeof budget, "%ld", c->app_budget_30s);
    snprintf(quota, sizeof quota, "%ld", c->app_quota_24h);
    snprintf(backfill, sizeof backfill, "%ld", c->backfill_interval_ms);
    argv[CLAIM_KEY_DUE] = a->k.due;
    argv[CLAIM_KEY_LEASES] = a->k.leases;
    argv[CLAIM_KEY_RL] = a->k.rl;
    argv[CLAIM_KEY_CALLS] = a->k.calls;
    argv[CLAIM_KEY_APP] = a->k.app;
    arg[CLAIM_ARG_USER_PREFIX] = a->k.user_prefix;
    arg[CLAIM_ARG_WANT] = nb;
    arg[CLAIM_ARG_LEASE_MS] = lease;
    arg[CLAIM_ARG_WORKER] = w->id;
    arg[CLAIM_ARG_REFRESH_MARGIN_MS] = margin;
    arg[CLAIM_ARG_BUDGET_DEFAULT] = budget;
    arg[CLAIM_ARG_QUOTA_DEFAULT] = quota;
    arg[CLAIM_ARG_BACKFILL_MS] = backfill;
    a->claim_t0 = ev_time();
    if (redis_async_eval(w->redis, SCRIPT_CLAIM, CLAIM_KEY_N, CLAIM_KEY_N + CLAIM_ARG_N, argv, NULL, on_claim, a) == 0)
        a->claiming = 1;
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    double now = ev_now(loop), next = now + IDLE_CLAIM_S;
    (void)revents;
    if (w->stopping || !redis_async_up(w->redis))
        return;
    int capacity = w->cfg->max_inflight - w->jobs;
    int ready = 0;
    for (int i = 0; i < w->napps; i++)
        if (!w->apps[i]->claiming && w->apps[i]->wake_at <= now)
            ready++;
    for (int i = 0; i < w->napps && capacity > 0; i++) {
        struct app *a = w->apps[i];
        if (a->claiming)
            continue;
        if (a->wake_at > now) {
            if (a->wake_at < next)
                next = a->wake_at;
            continue;
        }
        /* Apps share the worker: each ready app gets an equal slice. */
        int batch = capacity / ready;
        if (batch < 1)
            batch = 1;
        if (batch > w->cfg->claim_batch)
            batch = w->cfg->claim_batch;
        claim_app(w, a, batch);
        capacity -= batch;
    }
    ev_timer_stop(loop, t);
    ev_timer_set(t, next > now ? next - now : 0, 0);
    ev_timer_start(loop, t);
}

/* claims_in_flight: claims sent whose answer, and so whose leases, is not back. */
static int claims_in_flight(const struct worker *w)
{
    int n = 0;
    for (int i = 0; i < w->napps; i++)
        n += w->apps[i]->claiming;
    return n;
}

/* kick: capacity may have freed up. While stopping: the worker may be done,
 * once no poll and no claim is in flight (a claim answered after SIGTERM
 * leases users: they are polled and completed, not left to expire). */
static void kick(struct worker *w)
{
    if (w->stopping) {
        if (w->jobs == 0 && claims_in_flight(w) == 0)
            worker_leave(w);
        return;
    }
    ev_timer_stop(w->loop, &w->tick);
    ev_timer_set(&w->tick, 0, 0);
    ev_timer_start(w->loop, &w->tick);
}

/* ---------------------------------------------------------------- apps --- */

static struct app *app_find(struct worker *w, const char *id)
{
    for (int i = 0; i < w->napps; i++)
        if (strcmp(w->apps[i]->id, id) == 0)
            return w->apps[i];
    return NULL;
}

static void on_app_info(struct redis_async *l, redisReply *r, void *ud)
{
    struct app *a = ud;
    struct worker *w = a->w;
    char ad[ID_MAX + 8], err[128];
    (void)l;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *f = r->element[i]->str, *v = r->element[i + 1]->str;
        if (f == NULL || v == NULL)
            continue;
        if (strcmp(f, "budget_30s") == 0) {
            a->budget_30s = atof(v);
        } else if (strcmp(f, "client_id") == 0) {
            snprintf(a->client_id, sizeof a->client_id, "%s", v);
        } else if (strcmp(f, "client_secret") == 0) {
            snprintf(ad, sizeof ad, "app:%s", a->id);
            char *s = crypto_open(w->keys, ad, v, err, sizeof err);
            if (s == NULL) {
                log_error("app %s: client secret unreadable: %s", a->id, err);
                continue;
            }
            if (a->client_secret == NULL || strcmp(a->client_secret, s) != 0)
                a->alerted = 0;   /* new credentials deserve a new alert */
            secret_free(a->client_secret);
            a->client_secret = s;
        }
    }
}

static void on_budget(struct redis_async *l, redisReply *r, void *ud)
{
    struct app *a = ud;
    (void)l;
    if (r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL))
        wm_budget(a->w->wm, a->id, r->type == REDIS_REPLY_STRING ? atof(r->str) : a->budget_30s);
}

static void load_app(struct worker *w, struct app *a)
{
    const char *argv[] = {"HGETALL", a->k.app};
    const char *eff[] = {"HGET", a->k.rl, "budget_eff"};
    redis_async_command(w->redis, on_app_info, a, 2, argv, NULL);
    if (w->wm)
        redis_async_command(w->redis, on_budget, a, 3, eff, NULL);
}

static void on_apps(struct redis_async *l, redisReply *r, void *ud)
{
    struct worker *w = ud;
    (void)l;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < r->elements; i++) {
        const char *id = r->element[i]->str;
        if (id == NULL || !keys_valid_id(id))
            continue;
        struct app *a = app_find(w, id);
        if (a == NULL) {
            struct app **grown = realloc(w->apps, (size_t)(w->napps + 1) * sizeof *grown);
            a = calloc(1, sizeof *a);
            if (grown == NULL || a == NULL) {
                free(a);
                if (grown)
                    w->apps = grown;
                return;
            }
            w->apps = grown;
            a->w = w;
            snprintf(a->id, sizeof a->id, "%s", id);
            keys_app(&a->k, w->cfg->key_prefix, id);
            w->apps[w->napps++] = a;
            log_info("app %s: claiming its users", id);
        }
        load_app(w, a);
    }
    kick(w);
}

static void refresh_apps(struct worker *w)
{
    const char *argv[] = {"SMEMBERS", w->apps_key};
    redis_async_command(w->redis, on_apps, w, 2, argv, NULL);
}

/* ----------------------------------------------------------- heartbeat --- */

/* heartbeat_hists: lag_p50_ms, lag_p99_ms, lag_max_ms and poll_p50_ms,
 * poll_p95_ms, poll_p99_ms, poll_max_ms over the last heartbeat interval
 * (left as they were when it saw no polls), and lag_hist / poll_hist, the
 * cumulative histograms since start in hist_encode's text form. */
static void heartbeat_hists(struct worker *w)
{
    char v[7][24];
    const char *hset[2 + 2 * 7 + 4] = {"HSET", w->worker_key};
    int n = 2;

    if (w->lag.count > 0) {
        snprintf(v[0], sizeof v[0], "%.3f", hist_quantile(&w->lag, 0.50) / 1000.0);
        snprintf(v[1], sizeof v[1], "%.3f", hist_quantile(&w->lag, 0.99) / 1000.0);
        snprintf(v[2], sizeof v[2], "%.3f", w->lag.max_us / 1000.0);
        hset[n++] = "lag_p50_ms", hset[n++] = v[0];
        hset[n++] = "lag_p99_ms", hset[n++] = v[1];
        hset[n++] = "lag_max_ms", hset[n++] = v[2];
    }
    if (w->lat.count > 0) {
        snprintf(v[3], sizeof v[3], "%.3f", hist_quantile(&w->lat, 0.50) / 1000.0);
        snprintf(v[4], sizeof v[4], "%.3f", hist_quantile(&w->lat, 0.95) / 1000.0);
        snprintf(v[5], sizeof v[5], "%.3f", hist_quantile(&w->lat, 0.99) / 1000.0);
        snprintf(v[6], sizeof v[6], "%.3f", w->lat.max_us / 1000.0);
        hset[n++] = "poll_p50_ms", hset[n++] = v[3];
        hset[n++] = "poll_p95_ms", hset[n++] = v[4];
        hset[n++] = "poll_p99_ms", hset[n++] = v[5];
        hset[n++] = "poll_max_ms", hset[n++] = v[6];
    }
    hist_merge(&w->lag_total, &w->lag);
    hist_merge(&w->lat_total, &w->lat);
    hist_reset(&w->lag);
    hist_reset(&w->lat);
    hist_encode(&w->lag_total, w->lag_text, sizeof w->lag_text);
    hist_encode(&w->lat_total, w->lat_text, sizeof w->lat_text);
    hset[n++] = "lag_hist", hset[n++] = w->lag_text;
    hset[n++] = "poll_hist", hset[n++] = w->lat_text;
    redis_async_command(w->redis, NULL, NULL, n, hset, NULL);
}

static void heartbeat(struct worker *w)
{
    char expiry[24], host[128] = "", pid[16], inflight[16], conns[24], polls[24], events[24];
    snprintf(expiry, sizeof expiry, "%lld", wall_ms() + WORKER_TTL_MS);
    gethostname(host, sizeof host - 1);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    snprintf(inflight, sizeof inflight, "%d", httpc_inflight(w->http));
    snprintf(conns, sizeof conns, "%ld", httpc_connections(w->http));
    snprintf(polls, sizeof polls, "%lld", w->polls);
    snprintf(events, sizeof events, "%lld", w->events);
    const char *zadd[] = {"ZADD", w->workers_key, expiry, w->id};
    const char *hset[] = {"HSET", w->worker_key, "host", host, "pid", pid, "inflight", inflight,
                          "connections", conns, "polls", polls, "events", events,
                          "redis_reconnects", "0"};
    char reconn[24];
    snprintf(reconn, sizeof reconn, "%ld", redis_async_reconnects(w->redis));
    hset[15] = reconn;
    const char *expire[] = {"PEXPIRE", w->worker_key, "10000"};
    redis_async_command(w->redis, NULL, NULL, 4, zadd, NULL);
    redis_async_command(w->redis, NULL, NULL, 16, hset, NULL);
    redis_async_command(w->redis, NULL, NULL, 3, expire, NULL);
    heartbeat_hists(w);
}

static void on_heartbeat(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    (void)loop;
    (void)revents;
    wm_tick(w->wm, httpc_inflight(w->http), redis_async_reconnects(w->redis), redis_async_up(w->redis));
    if (!redis_async_up(w->redis))
        return;
    heartbeat(w);
    if (++w->beats % WORKER_APPS_RELOAD_BEATS == 0)
        refresh_apps(w);
#ifdef __GLIBC__
    /* A burst (an app released from a 429 block with every user overdue)
     * fills max-inflight at once; glibc keeps the freed pages, so RSS would
     * ratchet up to the largest burst ever seen. Give them back. */
    if (w->beats % TRIM_TICKS == 0)
        malloc_trim(0);
#endif
}

static void on_link(struct redis_async *l, int up, void *ud)
{
    struct worker *w = ud;
    (void)l;
    if (up) {
        heartbeat(w);
        refresh_apps(w);
        kick(w);
    }
}

/* ------------------------------------------------------------ shutdown --- */

static void on_left(struct redis_async *l, redisReply *r, void *ud)
{
    struct worker *w = ud;
    (void)l;
    (void)r;
    ev_break(w->loop, EVBREAK_ALL);
}

/* worker_leave deregisters at once, so `status` stops listing a worker that
 * exited cleanly, then ends the loop. */
static void worker_leave(struct worker *w)
{
    const char *zrem[] = {"ZREM", w->workers_key, w->id};
    const char *del[] = {"DEL", w->worker_key};
    if (w->left)
        return;
    w->left = 1;
    if (!redis_async_up(w->redis) || redis_async_command(w->redis, NULL, NULL, 3, zrem, NULL) != 0 ||
        redis_async_command(w->redis, on_left, w, 2, del, NULL) != 0)
        ev_break(w->loop, EVBREAK_ALL);
}

static void on_grace(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    (void)revents;
    log_warn("shutdown: %d polls still in flight after the grace period; their leases will expire",
             w->jobs);
    ev_break(loop, EVBREAK_ALL);
}

static void on_signal(struct ev_loop *loop, ev_signal *s, int revents)
{
    struct worker *w = s->data;
    (void)revents;
    if (w->stopping) {
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    log_info("shutdown: stopped claiming; finishing %d polls (and %d claims) in flight", w->jobs,
             claims_in_flight(w));
    w->stopping = 1;
    ev_timer_stop(loop, &w->tick);
    ev_timer_set(&w->grace, (double)w->cfg->http_timeout_ms / 1000.0 + 2.0, 0);
    ev_timer_start(loop, &w->grace);
    kick(w);
}

/* ----------------------------------------------------------------- run --- */

int worker_run(const struct sw_config *c, char *err, size_t errlen)
{
    struct worker w;
    struct httpc_opts ho = {0};
    struct redis_async_opts ro = {0};
    char host[128] = "", rnd[9];
    int rc = -1;

    memset(&w, 0, sizeof w);
    w.cfg = c;
    w.loop = ev_default_loop(EVFLAG_AUTO);
    signal(SIGPIPE, SIG_IGN);
    if (keyring_file_load(c, &w.keys, 1, err, errlen) != 0)
        goto out;
    gethostname(host, sizeof host - 1);
    crypto_random_hex(rnd, 4);
    snprintf(w.id, sizeof w.id, "%s:%d:%s", host, (int)getpid(), rnd);
    w.rng = (unsigned long long)wall_ms() ^ ((unsigned long long)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
    keys_global(w.workers_key, sizeof w.workers_key, c->key_prefix, "workers");
    snprintf(w.worker_key, sizeof w.worker_key, "%sworker:%s", c->key_prefix, w.id);
    keys_global(w.apps_key, sizeof w.apps_key, c->key_prefix, "apps");

    ho.timeout_ms = c->http_timeout_ms;
    ho.connect_timeout_ms = c->http_timeout_ms;
    ho.ca_file = c->ca_file;
    ho.max_body = (size_t)c->max_body_bytes;
    w.wm = wm_new(c, err, errlen);
    if (w.wm == NULL && err[0])
        goto out;
    w.http = httpc_new(w.loop, &ho, err, errlen);
    if (w.http == NULL)
        goto out;
    ro.host = c->redis_host;
    ro.port = c->redis_port;
    ro.user = c->redis_user;
    ro.password = c->redis_password;
    ro.db = c->redis_db;
    w.redis = redis_async_new(w.loop, &ro, on_link, &w);
    if (w.redis == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }

    ev_timer_init(&w.tick, on_tick, 0, 0);
    w.tick.data = &w;
    ev_timer_init(&w.heartbeat, on_heartbeat, WORKER_HEARTBEAT_MS / 1000.0, WORKER_HEARTBEAT_MS / 1000.0);
    w.heartbeat.data = &w;
    ev_timer_start(w.loop, &w.heartbeat);
    ev_timer_init(&w.grace, on_grace, 0, 0);
    w.grace.data = &w;
    ev_prepare_init(&w.flush, flush_completes);
    w.flush.data = &w;
    ev_signal_init(&w.sigterm, on_signal, SIGTERM);
    w.sigterm.data = &w;
    ev_signal_start(w.loop, &w.sigterm);
    ev_signal_init(&w.sigint, on_signal, SIGINT);
    w.sigint.data = &w;
    ev_signal_start(w.loop, &w.sigint);

    log_info("worker %s started: redis %s:%d, api %s", w.id, c->redis_host, c->redis_port, c->api_base);
    ev_run(w.loop, 0);
    log_info("worker %s stopped after %lld polls", w.id, w.polls);
    rc = 0;
out:
    w.stopping = 1;
    w.left = 1;   /* the jobs freed below must not try to deregister: the link goes first */
    ev_timer_stop(w.loop, &w.tick);
    ev_timer_stop(w.loop, &w.heartbeat);
    ev_timer_stop(w.loop, &w.grace);
    ev_prepare_stop(w.loop, &w.flush);
    ev_signal_stop(w.loop, &w.sigterm);
    ev_signal_stop(w.loop, &w.sigint);
    if (w.http)
        httpc_free(w.http);   /* aborts what is left, without callbacks */
    wm_free(w.wm);
    if (w.redis)
        redis_async_free(w.redis);   /* pending commands' callbacks see NULL replies */
    for (int i = 0; i < w.napps; i++)
        batch_forget(w.apps[i]);   /* its jobs are on job_list */
    while (w.job_list)
        job_free(w.job_list);
    for (int i = 0; i < w.napps; i++) {
        free(w.apps[i]->done_args);
        secret_free(w.apps[i]->client_secret);
        free(w.apps[i]);
    }
    free(w.apps);
    crypto_free(w.keys);
    ev_loop_destroy(w.loop);
    return rc;
}
