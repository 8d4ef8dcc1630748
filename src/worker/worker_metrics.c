/* worker_metrics.c: the worker's metrics (see include/worker/worker_metrics.h). */
#include <stdio.h>
#include <stdlib.h>
#include "worker/worker_metrics.h"
#include "http/metrics.h"
#include "spotify/events.h"
#include "build_info.h"

struct worker_metrics {
    struct metrics *m;
    struct metrics_http *http;
    struct metric_family *polls, *events, *refreshes, *rl429, *blocked, *blocks, *budget, *claim_s,
        *poll_s, *lag_s, *inflight, *reconnects, *waits, *redirects, *map_refreshes, *users, *live, *app[WM_APP_GAUGES],
        *http_conns, *http_streams;
};

/* The label values known in advance: their series exist from the start, at
 * 0, so rate() and alerts see them before the first occurrence. */
static const char *const event_types[] = {
    SW_EVENT_PLAYBACK_STARTED, SW_EVENT_TRACK_CHANGED, SW_EVENT_PLAYBACK_PAUSED,
    SW_EVENT_PLAYBACK_RESUMED, SW_EVENT_PLAYBACK_STOPPED, SW_EVENT_DEVICE_CHANGED,
    SW_EVENT_REAUTH_REQUIRED, SW_EVENT_NOT_REGISTERED, SW_EVENT_TRACK_PLAYED, SW_EVENT_USER_BROKEN};
static const char *const refresh_outcomes[] = {"ok", "invalid_grant", "invalid_client", "rate_limited",
                                               "transient"};
static const char *const block_reasons[] = {"rate_limited", "quota_exceeded", "invalid_client",
                                            "owner_premium_required"};
static const char *const wait_results[] = {"acked", "short"};
static const char *const redirect_kinds[] = {"moved", "ask"};
static const char *const user_statuses[] = {"active", "stopped", "reauth_required", "not_registered"};

/* The per-app gauges: name and help, in enum wm_app_gauge's order. */
static const struct {
    const char *name, *help;
} app_gauges[WM_APP_GAUGES] = {
    {"spotwatch_app_scheduled_users", "Users on the app's schedule (read from Redis)."},
    {"spotwatch_app_overdue_users", "Scheduled users whose poll is already due (read from Redis)."},
    {"spotwatch_app_inflight_users", "Users under a lease: being polled by some worker (read from Redis)."},
    {"spotwatch_app_budget", "Configured calls per window of the app (0 = unlimited)."},
    {"spotwatch_app_blocked_seconds_remaining", "Seconds until the app's block ends (0 = not blocked)."},
    {"spotwatch_app_broken_users", "User records set aside as malformed (read from Redis)."},
};

static void zero_all(struct metric_family *f, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        metrics_inc(f, values[i], 0);
}

static const char *const outcomes[] = {"ok", "nothing", "error", "rate_limited", "quota_exceeded",
                                       "reauth_required", "not_registered", "invalid_client",
                                       "released", "owner_premium_required"};

struct worker_metrics *wm_new(const struct sw_config *c, char *err, size_t errlen)
{
    static const double lag_buckets[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60};
    size_t nb;
    const double *lb = metrics_latency_buckets(&nb);
    struct worker_metrics *w;

    err[0] = '\0';
    if (c->metrics_listen[0] == '\0')
        return NULL;
    w = calloc(1, sizeof *w);
    if (w == NULL || (w->m = metrics_new()) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    w->polls = metrics_counter(w->m, "spotwatch_polls_total", "Polls finished, by outcome.", "outcome");
    w->events = metrics_counter(w->m, "spotwatch_events_total", "Events published, by type.", "type");
    w->refreshes = metrics_counter(w->m, "spotwatch_token_refreshes_total", "Token refreshes, by outcome.",
                                   "outcome");
    w->rl429 = metrics_counter(w->m, "spotwatch_rate_limited_total", "429 answers from Spotify, by app.", "app");
    w->blocked = metrics_counter(w->m, "spotwatch_app_blocked_seconds_total",
                                 "Seconds this worker found each app blocked.", "app");
    w->blocks = metrics_counter(w->m, "spotwatch_app_blocks_total",
                                "Answers that blocked an app, by reason (rate_limited, quota_exceeded, "
                                "invalid_client, owner_premium_required).", "reason");
    w->budget = metrics_gauge(w->m, "spotwatch_app_budget_effective",
                              "Effective calls per window allowed per app (0 = unlimited).", "app");
    w->claim_s = metrics_histogram(w->m, "spotwatch_claim_duration_seconds", "claim.lua round trips.",
                                   NULL, lb, nb);
    w->poll_s = metrics_histogram(w->m, "spotwatch_poll_duration_seconds", "Spotify poll requests.",
                                  NULL, lb, nb);
    w->lag_s = metrics_histogram(w->m, "spotwatch_schedule_lag_seconds",
                                 "How late polls start after falling due.", NULL, lag_buckets,
                                 sizeof lag_buckets / sizeof lag_buckets[0]);
    w->inflight = metrics_gauge(w->m, "spotwatch_inflight_requests", "HTTP requests in flight.", NULL);
    w->http_conns = metrics_gauge(w->m, "spotwatch_http_connections",
                                  "TCP connections open to the Spotify hosts.", NULL);
    w->http_streams = metrics_gauge(w->m, "spotwatch_http_streams",
                                    "HTTP requests handed to libcurl (over HTTP/2: streams in use).", NULL);
    w->reconnects = metrics_counter(w->m, "spotwatch_redis_reconnects_total",
                                    "Times the Redis link came back.", NULL);
    w->waits = metrics_counter(w->m, "spotwatch_redis_waits_total",
                               "WAITs for replicas after a stored refresh token (redis-wait-replicas), by "
                               "result: acked, or short (fewer replicas in time).", "result");
    w->redirects = metrics_counter(w->m, "spotwatch_redis_cluster_redirects_total",
                                   "Redis Cluster redirections followed (redis-cluster yes), by kind: moved "
                                   "(a slot changed owner) or ask (a slot being migrated).", "kind");
    w->map_refreshes = metrics_counter(w->m, "spotwatch_redis_cluster_refreshes_total",
                                       "Redis Cluster slot maps read (CLUSTER SLOTS) since start.", NULL);
    w->users = metrics_gauge(w->m, "spotwatch_app_users",
                             "Users of each app by status (a sweep of the users in Redis).", "app,status");
    for (int i = 0; i < WM_APP_GAUGES; i++)
        w->app[i] = metrics_gauge(w->m, app_gauges[i].name, app_gauges[i].help, "app");
    w->live = metrics_gauge(w->m, "spotwatch_live_workers",
                            "Workers whose heartbeat in Redis is current, on every host.", NULL);
    if (metrics_process_add(w->m, SW_BUILD_VERSION, "worker") != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    zero_all(w->polls, outcomes, sizeof outcomes / sizeof outcomes[0]);
    zero_all(w->events, event_types, sizeof event_types / sizeof event_types[0]);
    zero_all(w->refreshes, refresh_outcomes, sizeof refresh_outcomes / sizeof refresh_outcomes[0]);
    zero_all(w->waits, wait_results, sizeof wait_results / sizeof wait_results[0]);
    zero_all(w->redirects, redirect_kinds, sizeof redirect_kinds / sizeof redirect_kinds[0]);
    metrics_set(w->map_refreshes, NULL, 0);
    zero_all(w->blocks, block_reasons, sizeof block_reasons / sizeof block_reasons[0]);
    w->http = metrics_http_start(c->metrics_listen, err, errlen);
    if (w->http == NULL)
        goto fail;
    return w;
fail:
    wm_free(w);
    return NULL;
}

void wm_free(struct worker_metrics *w)
{
    if (w == NULL)
        return;
    metrics_http_stop(w->http);
    metrics_free(w->m);
    free(w);
}

void wm_poll(struct worker_metrics *w, const char *outcome, double seconds)
{
    if (w == NULL)
        return;
    metrics_inc(w->polls, outcome, 1);
    if (seconds >= 0)
        metrics_observe(w->poll_s, NULL, seconds);
}

void wm_event(struct worker_metrics *w, const char *type)
{
    if (w)
        metrics_inc(w->events, type, 1);
}

void wm_refresh(struct worker_metrics *w, const char *outcome)
{
    if (w)
        metrics_inc(w->refreshes, outcome, 1);
}

void wm_wait(struct worker_metrics *w, int acked)
{
    if (w)
        metrics_inc(w->waits, acked ? "acked" : "short", 1);
}

void wm_rate_limited(struct worker_metrics *w, const char *app)
{
    if (w)
        metrics_inc(w->rl429, app, 1);
}

void wm_block(struct worker_metrics *w, const char *reason)
{
    if (w)
        metrics_inc(w->blocks, reason, 1);
}

void wm_blocked(struct worker_metrics *w, const char *app, double seconds)
{
    if (w)
        metrics_inc(w->blocked, app, seconds);
}

void wm_budget(struct worker_metrics *w, const char *app, double calls)
{
    if (w)
        metrics_set(w->budget, app, calls);
}

void wm_claim(struct worker_metrics *w, double seconds)
{
    if (w)
        metrics_observe(w->claim_s, NULL, seconds);
}

void wm_lag(struct worker_metrics *w, double seconds)
{
    if (w)
        metrics_observe(w->lag_s, NULL, seconds < 0 ? 0 : seconds);
}

void wm_app(struct worker_metrics *w, const char *app)
{
    if (w == NULL)
        return;
    metrics_inc(w->rl429, app, 0);
    metrics_inc(w->blocked, app, 0);
    metrics_inc(w->budget, app, 0);
    for (int i = 0; i < WM_APP_GAUGES; i++)
        metrics_inc(w->app[i], app, 0);
    for (size_t s = 0; s < sizeof user_statuses / sizeof user_statuses[0]; s++) {
        const char *v[] = {app, user_statuses[s]};
        metrics_incv(w->users, v, 0);
    }
}

void wm_app_gauge(struct worker_metrics *w, const char *app, enum wm_app_gauge which, double v)
{
    if (w && (unsigned)which < WM_APP_GAUGES)
        metrics_set(w->app[which], app, v);
}

void wm_live_workers(struct worker_metrics *w, double n)
{
    if (w)
        metrics_set(w->live, NULL, n);
}

void wm_app_users(struct worker_metrics *w, const char *app, const char *status, double n)
{
    const char *v[] = {app, status};
    if (w)
        metrics_setv(w->users, v, n);
}

void wm_http(struct worker_metrics *w, long connections, int streams)
{
    if (w == NULL)
        return;
    metrics_set(w->http_conns, NULL, (double)connections);
    metrics_set(w->http_streams, NULL, streams);
}

void wm_cluster(struct worker_metrics *w, long moved, long ask, long refreshes)
{
    if (w == NULL)
        return;
    metrics_set(w->redirects, "moved", (double)moved);
    metrics_set(w->redirects, "ask", (double)ask);
    metrics_set(w->map_refreshes, NULL, (double)refreshes);
}

void wm_tick(struct worker_metrics *w, int inflight, long reconnects, int redis_up)
{
    char *text;
    size_t len;
    if (w == NULL)
        return;
    metrics_process_update(w->m);
    metrics_set(w->inflight, NULL, inflight);
    metrics_set(w->reconnects, NULL, (double)reconnects);
    if (metrics_render(w->m, &text, &len) == 0) {
        metrics_http_publish(w->http, text, len);
        free(text);
    }
    metrics_http_health(w->http, redis_up, redis_up ? NULL : "Redis link down");
}
