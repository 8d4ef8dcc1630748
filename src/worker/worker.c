/* worker.c: the stateless poller's loop (see include/worker/worker.h; the
 * path of one poll through src/worker/ is in worker_int.h).
 *
 * A poll is a job: claimed from Redis by lua/claim.lua under a lease and a
 * fencing token, run over HTTP, and finished by lua/complete.lua, which
 * stores the new state, announces changes and re-arms the schedule in one
 * atomic step. A job whose Redis link drops is simply forgotten: its lease
 * expires, another poll runs, and because the state is only stored together
 * with the events, no change is lost or announced twice.
 *
 * This file is the loop around the jobs: start and stop, the app list, the
 * heartbeat, and one timer that drives claiming. The timer is re-armed to
 * the earliest moment any app may have work (bounded by CLAIM_IDLE_S so new
 * users are picked up) and kicked whenever capacity frees up. Nothing here
 * sleeps or blocks.
 *
 * Layer: the top of src/worker/ (worker_int.h): it calls claim.c, job.c
 * (job_http_send), fake_transport.c, complete.c and jobs.c, and none of
 * them calls it: the files below reach the loop only through worker_kick,
 * an event fed to w->kick, whose callback on_kick is here. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__   /* defined by the libc headers above */
#include <malloc.h>
#endif

#include "worker/worker.h"
#include "worker_int.h"
#include "base/keyring_file.h"
#include "base/log.h"
#include "base/proc_stats.h"
#include "base/sdnotify.h"
#include "build_info.h"
#include "worker/app_gauges.h"

#define TRIM_TICKS 10           /* heartbeats between returns of free heap to the system */
#define WORKER_TTL_MS 5000      /* the workers ZSET entry lapses this long after a heartbeat */
#define WORKER_KEY_TTL_MS "10000"   /* <p>worker:<id> lapses this long after a heartbeat */

static void on_link(struct redis_async *l, int up, void *ud);
static void notify_ready(struct worker *w, const char *what);
static void on_tick(struct ev_loop *loop, ev_timer *t, int revents);
static void on_kick(struct ev_loop *loop, ev_idle *k, int revents);
static void kick_now(struct worker *w);
static void on_heartbeat(struct ev_loop *loop, ev_timer *t, int revents);
static void on_signal(struct ev_loop *loop, ev_signal *s, int revents);
static void on_grace(struct ev_loop *loop, ev_timer *t, int revents);
static void on_reload(struct ev_loop *loop, ev_signal *s, int revents);
static void reload_apps(struct worker *w);
static void heartbeat(struct worker *w);
static void worker_leave(struct worker *w);
static int claims_in_flight(const struct worker *w);

/* ----------------------------------------------------------------- run --- */

int worker_run(const struct sw_config *start_cfg, char *err, size_t errlen)
{
    struct worker w;
    struct httpc_opts ho = {0};
    char host[128] = "", rnd[9];
    int rc = -1;
    /* The worker's own copy: SIGHUP changes its run-time directives. */
    struct sw_config *c = malloc(sizeof *c);

    memset(&w, 0, sizeof w);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *c = *start_cfg;
    w.cfg = w.live = c;
    w.loop = ev_default_loop(EVFLAG_AUTO);
    /* first: a job freed on any path below kicks it */
    ev_idle_init(&w.kick, on_kick);
    w.kick.data = &w;
    /* The poll's transport, once: a benchmark of the claim/complete path
     * alone answers polls inside the worker (fake_transport.c). */
    w.send_poll = c->bench_fake_poll ? fake_transport_send : job_http_send;
    signal(SIGPIPE, SIG_IGN);
    if (log_open_file(c->log_file, err, errlen) != 0)
        goto out;
    if (keyring_file_load(c, &w.keys, 1, err, errlen) != 0)
        goto out;
    char seed[17];
    if ((w.opener = crypto_opener_new(w.keys)) == NULL || crypto_random_hex(seed, 8) != 0
        || (w.tokens = token_cache_new(strtoull(seed, NULL, 16))) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    gethostname(host, sizeof host - 1);
    crypto_random_hex(rnd, 4);
    snprintf(w.id, sizeof w.id, "%s:%d:%s", host, (int)getpid(), rnd);
    log_set_worker(w.id);
    w.rng = (unsigned long long)worker_now_ms() ^ ((unsigned long long)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
    keys_global(w.workers_key, sizeof w.workers_key, c->key_prefix, "workers");
    snprintf(w.worker_key, sizeof w.worker_key, "%sworker:%s", c->key_prefix, w.id);
    keys_global(w.apps_key, sizeof w.apps_key, c->key_prefix, "apps");

    ho.timeout_ms = c->http_timeout_ms;
    ho.connect_timeout_ms = c->http_timeout_ms;
    ho.ca_file = c->ca_file;
    ho.max_body = (size_t)c->max_body_bytes;
    ho.accept_gzip = c->api_accept_gzip;
    w.wm = wm_new(c, err, errlen);
    if (w.wm == NULL && err[0])
        goto out;
    w.gauges = app_gauges_new(w.wm);
    w.http = httpc_new(w.loop, &ho, err, errlen);
    if (w.http == NULL)
        goto out;
    w.redis = redis_async_open(w.loop, c, on_link, &w, err, errlen);
    if (w.redis == NULL)
        goto out;

    ev_timer_init(&w.tick, on_tick, 0, 0);
    w.tick.data = &w;
    ev_timer_init(&w.heartbeat, on_heartbeat, WORKER_HEARTBEAT_MS / 1000.0, WORKER_HEARTBEAT_MS / 1000.0);
    w.heartbeat.data = &w;
    ev_timer_start(w.loop, &w.heartbeat);
    ev_timer_init(&w.grace, on_grace, 0, 0);
    w.grace.data = &w;
    ev_prepare_init(&w.flush, complete_flush);
    w.flush.data = &w;
    ev_timer_init(&w.flush_tick, complete_tick, 0, 0);
    w.flush_tick.data = &w;
    w.tick_phase = (double)(w.rng % 1000003) / 1000003.0;
    ev_signal_init(&w.sigterm, on_signal, SIGTERM);
    w.sigterm.data = &w;
    ev_signal_start(w.loop, &w.sigterm);
    ev_signal_init(&w.sigint, on_signal, SIGINT);
    w.sigint.data = &w;
    ev_signal_start(w.loop, &w.sigint);
    ev_signal_init(&w.sighup, on_reload, SIGHUP);
    w.sighup.data = &w;
    ev_signal_start(w.loop, &w.sighup);

    if (c->redis_sentinel[0])
        log_info("worker %s started (spotwatch %s): redis: master %s of Sentinels %s, api %s", w.id,
                 SW_BUILD_VERSION, c->redis_sentinel_master, c->redis_sentinel, c->api_base);
    else
        log_info("worker %s started (spotwatch %s): redis %s:%d, api %s", w.id, SW_BUILD_VERSION, c->redis_host,
                 c->redis_port, c->api_base);
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
    ev_timer_stop(w.loop, &w.flush_tick);
    ev_signal_stop(w.loop, &w.sigterm);
    ev_signal_stop(w.loop, &w.sigint);
    ev_signal_stop(w.loop, &w.sighup);
    if (w.http)
        httpc_free(w.http);   /* aborts what is left, without callbacks */
    wm_free(w.wm);
    if (w.redis)
        redis_async_free(w.redis);   /* pending commands' callbacks see NULL replies */
    for (int i = 0; i < w.napps; i++)
        complete_forget(w.apps[i]);   /* its jobs are on job_list */
    while (w.job_list)
        job_free(w.job_list);
    ev_clear_pending(w.loop, &w.kick);   /* the kicks of the jobs freed since the loop ended */
    for (int i = 0; i < w.napps; i++) {
        free(w.apps[i]->done_args);
        secret_free(w.apps[i]->client_secret);
        free(w.apps[i]);
    }
    free(w.apps);
    token_cache_free(w.tokens);
    crypto_opener_free(w.opener);
    crypto_free(w.keys);
    app_gauges_free(w.gauges);
    ev_loop_destroy(w.loop);
    explicit_bzero(c, sizeof *c);   /* it holds the Redis password */
    free(c);
    return rc;
}

static void on_link(struct redis_async *l, int up, void *ud)
{
    struct worker *w = ud;
    (void)l;
    if (up) {
        heartbeat(w);
        reload_apps(w);
        kick_now(w);
        if (!w->ready)
            notify_ready(w, NULL);
    }
}

/* notify_ready: the service manager learns the worker is ready: Redis
 * answered (the first link up) and the metrics listener is bound (wm_new
 * ran before the loop). prefix: NULL, or "RELOADING=1"'s counterpart. */
static void notify_ready(struct worker *w, const char *what)
{
    char status[160];
    snprintf(status, sizeof status, "%s: polling, redis %.64s:%d", what ? what : "ready",
             w->cfg->redis_host, w->cfg->redis_port);
    if (sdnotify_status("READY=1", status) < 0)
        log_warn("NOTIFY_SOCKET: cannot tell the service manager we are ready: %s", strerror(errno));
    w->ready = 1;
}

/* --------------------------------------------------------------- claim --- */

/* on_tick claims for every app whose wake_at has come, sharing the free
 * capacity among them, and re-arms itself for the earliest other app. */
static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    double now = ev_now(loop), next = now + CLAIM_IDLE_S;
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
        int batch = decide_claim_batch(capacity, ready, w->cfg->claim_batch);
        claim_app(w, a, batch);
        capacity -= batch;
    }
    ev_timer_stop(loop, t);
    ev_timer_set(t, next > now ? next - now : 0, 0);
    ev_timer_start(loop, t);
}

/* on_kick: the files below have kicked (worker_kick, worker_int.h): once
 * per turn of the loop however many kicks, right after the callback that
 * kicked first. */
static void on_kick(struct ev_loop *loop, ev_idle *k, int revents)
{
    (void)loop;
    (void)revents;
    kick_now(k->data);
}

/* kick_now: claim again at once. While stopping, the worker may be done
 * once no poll and no claim is in flight (a claim answered after SIGTERM
 * leases users: they are polled and completed, not left to expire). */
static void kick_now(struct worker *w)
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

/* claims_in_flight: claims sent whose answer, and so whose leases, is not back. */
static int claims_in_flight(const struct worker *w)
{
    int n = 0;
    for (int i = 0; i < w->napps; i++)
        n += w->apps[i]->claiming;
    return n;
}

/* ---------------------------------------------------------------- apps --- */

static void on_apps(struct redis_async *l, redisReply *r, void *ud);
static struct app *app_find(struct worker *w, const char *id);
static void load_app(struct worker *w, struct app *a);
static void on_app_info(struct redis_async *l, redisReply *r, void *ud);
static void on_budget(struct redis_async *l, redisReply *r, void *ud);

/* reload_apps rereads the app list (at start, on reconnect, and every
 * WORKER_APPS_RELOAD_BEATS heartbeats) and each app's credentials. */
static void reload_apps(struct worker *w)
{
    const char *argv[] = {"SMEMBERS", w->apps_key};
    redis_async_command(w->redis, on_apps, w, 2, argv, NULL);
}

static void on_apps(struct redis_async *l, redisReply *r, void *ud)
{
    struct worker *w = ud;
    (void)l;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < r->elements; i++) {
        const char *id = r->element[i]->str;
        if (id == NULL || !keys_valid_id(id)) {
            /* Once per worker, and without the id: it may hold control characters. */
            if (!w->bad_app_id_warned)
                log_warn("an app id in the app list is outside the id alphabet (README, \"Ids\"); "
                         "that app is not polled: re-add it under a valid id");
            w->bad_app_id_warned = 1;
            continue;
        }
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
            wm_app(w->wm, id);
            struct log_fields lf = {id, NULL, NULL, -1, -1};
            log_info_f(&lf, "app %s: claiming its users", id);
        }
        load_app(w, a);
    }
    kick_now(w);
}

static struct app *app_find(struct worker *w, const char *id)
{
    for (int i = 0; i < w->napps; i++)
        if (strcmp(w->apps[i]->id, id) == 0)
            return w->apps[i];
    return NULL;
}

static void load_app(struct worker *w, struct app *a)
{
    const char *argv[] = {"HGETALL", a->k.app};
    const char *eff[] = {"HGET", a->k.rl, "budget_eff"};
    redis_async_command(w->redis, on_app_info, a, 2, argv, NULL);
    if (w->wm)
        redis_async_command(w->redis, on_budget, a, 3, eff, NULL);
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
                struct log_fields lf = {a->id, NULL, NULL, -1, -1};
                log_write_fields(LOG_ERROR, &lf, "app %s: client secret unreadable: %s", a->id, err);
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

/* ----------------------------------------------------------- heartbeat --- */

static void heartbeat_hists(struct worker *w);

static void on_heartbeat(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    (void)loop;
    (void)revents;
    wm_http(w->wm, httpc_open_connections(w->http), httpc_streams(w->http));
    long moved, ask, maps;
    redis_async_cluster_stats(w->redis, &moved, &ask, &maps);
    wm_cluster(w->wm, moved, ask, maps);
    wm_tick(w->wm, httpc_inflight(w->http), redis_async_reconnects(w->redis), redis_async_up(w->redis));
    if (!redis_async_up(w->redis))
        return;
    heartbeat(w);
    if (++w->beats % WORKER_APPS_RELOAD_BEATS == 0)
        reload_apps(w);
    app_gauges_tick(w->gauges, w);
    if (w->ready && !w->stopping && w->beats % WORKER_APPS_RELOAD_BEATS == 0) {
        /* `systemctl status` shows it (nothing is sent outside systemd). */
        char st[128];
        snprintf(st, sizeof st, "%d apps, %d polls in flight, %lld polls since start", w->napps, w->jobs,
                 w->polls);
        sdnotify_status(NULL, st);
    }
#ifdef __GLIBC__
    /* A burst (an app released from a 429 block with every user overdue)
     * fills max-inflight at once; glibc keeps the freed pages, so RSS would
     * ratchet up to the largest burst ever seen. Give them back. */
    if (w->beats % TRIM_TICKS == 0)
        malloc_trim(0);
#endif
}

/* heartbeat: the worker's entry in <p>workers and its <p>worker:<id> hash
 * (README.md, "Redis key schema"). */
static void heartbeat(struct worker *w)
{
    char expiry[24], host[128] = "", pid[16], inflight[16], conns[24], polls[24], events[24], reconn[24],
        waits[24], waits_short[24], heap_used[24], heap_arena[24];
    struct proc_stats st = {0};

    proc_stats_heap(&st);
    snprintf(heap_used, sizeof heap_used, "%.0f", st.heap_in_use_bytes);
    snprintf(heap_arena, sizeof heap_arena, "%.0f", st.heap_arena_bytes);
    snprintf(expiry, sizeof expiry, "%lld", worker_now_ms() + WORKER_TTL_MS);
    gethostname(host, sizeof host - 1);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    snprintf(inflight, sizeof inflight, "%d", httpc_inflight(w->http));
    snprintf(conns, sizeof conns, "%ld", httpc_connections(w->http));
    snprintf(polls, sizeof polls, "%lld", w->polls);
    snprintf(events, sizeof events, "%lld", w->events);
    snprintf(reconn, sizeof reconn, "%ld", redis_async_reconnects(w->redis));
    snprintf(waits, sizeof waits, "%lld", w->waits);
    snprintf(waits_short, sizeof waits_short, "%lld", w->waits_short);
    const char *zadd[] = {"ZADD", w->workers_key, expiry, w->id};
    const char *hset[] = {"HSET", w->worker_key,
                          "host", host,
                          "pid", pid,
                          "inflight", inflight,
                          "connections", conns,
                          "polls", polls,
                          "events", events,
                          "redis_reconnects", reconn,
                          "waits", waits,
                          "waits_short", waits_short,
                          "heap_in_use", heap_used,
                          "heap_arena", heap_arena};
    const char *expire[] = {"PEXPIRE", w->worker_key, WORKER_KEY_TTL_MS};
    redis_async_command(w->redis, NULL, NULL, 4, zadd, NULL);
    redis_async_command(w->redis, NULL, NULL, (int)(sizeof hset / sizeof hset[0]), hset, NULL);
    redis_async_command(w->redis, NULL, NULL, 3, expire, NULL);
    heartbeat_hists(w);
}

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

/* ------------------------------------------------------------ shutdown --- */

static void on_left(struct redis_async *l, redisReply *r, void *ud);

/* on_signal: the first SIGTERM/SIGINT stops claiming and lets what is in
 * flight finish (within the grace period); a second one exits at once. */
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
    sdnotify_status("STOPPING=1", "stopping: finishing the polls in flight");
    w->stopping = 1;
    ev_timer_stop(loop, &w->tick);
    ev_timer_set(&w->grace, (double)w->cfg->http_timeout_ms / 1000.0 + 2.0, 0);
    ev_timer_start(loop, &w->grace);
    kick_now(w);
}

static void on_grace(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    (void)revents;
    log_warn("shutdown: %d polls still in flight after the grace period; their leases will expire",
             w->jobs);
    ev_break(loop, EVBREAK_ALL);
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

static void on_left(struct redis_async *l, redisReply *r, void *ud)
{
    struct worker *w = ud;
    (void)l;
    (void)r;
    ev_break(w->loop, EVBREAK_ALL);
}

/* ------------------------------------------------------------- reload --- */

/* reopen_log: SIGHUP reopens log-file (a rotation moved the old one away). */
static void reopen_log(const struct sw_config *c)
{
    char err[CFG_STR + 64];
    if (log_open_file(c->log_file, err, sizeof err) != 0)
        log_error("SIGHUP: %s; logging on to the old file", err);
}

/* on_reload (SIGHUP): re-read the configuration and apply what may change at
 * run time (config_reload: log level and format, intervals, budgets, ...).
 * Every job reads w->cfg when it uses a value, so polls in flight finish as
 * they started and the next ones follow the new values; nothing is dropped.
 * log-file, if set, is reopened (logrotate). */
static void on_reload(struct ev_loop *loop, ev_signal *s, int revents)
{
    struct worker *w = s->data;
    char changed[1024], refused[1024], err[512];
    (void)loop;
    (void)revents;
    sdnotify_status("RELOADING=1", "reloading the configuration");
    if (config_reload(w->live, changed, sizeof changed, refused, sizeof refused, err, sizeof err) != 0) {
        log_error("SIGHUP: configuration not reloaded, the old one stays: %s", err);
    } else {
        log_reconfigure(w->cfg->log_level, w->cfg->log_format);
        reopen_log(w->cfg);
        log_info("SIGHUP: configuration reloaded from %s; changed: %s; %d polls in flight carry on",
                 w->cfg->source[0] ? w->cfg->source : "(no file)", changed[0] ? changed : "nothing",
                 w->jobs);
        if (refused[0])
            log_warn("SIGHUP: changed but only read at start (restart to apply): %s", refused);
    }
    if (!w->stopping)
        notify_ready(w, "reloaded");
    kick_now(w);   /* a new claim-batch or max-inflight counts at once */
}
