#ifndef SW_WORKER_METRICS_H
#define SW_WORKER_METRICS_H
/* worker_metrics: the worker's Prometheus metrics, served on metrics-listen.
 * Every function accepts NULL (metrics off) and then does nothing, so the
 * worker calls them unconditionally. Only the worker's loop thread calls
 * them; wm_tick publishes a rendered copy for the HTTP thread. */
#include "base/config.h"

struct worker_metrics;

/* wm_new returns NULL with err[0] == 0 when metrics-listen is unset, NULL
 * with err set when the listener cannot start, or the metrics. */
struct worker_metrics *wm_new(const struct sw_config *c, char *err, size_t errlen);
void wm_free(struct worker_metrics *m);

void wm_poll(struct worker_metrics *m, const char *outcome, double seconds);  /* seconds < 0: no HTTP */
void wm_event(struct worker_metrics *m, const char *type);
void wm_refresh(struct worker_metrics *m, const char *outcome);
/* wm_wait counts one WAIT answered (redis-wait-replicas): acked non-zero
 * when every replica asked for acknowledged in time. */
void wm_wait(struct worker_metrics *m, int acked);
void wm_rate_limited(struct worker_metrics *m, const char *app);
void wm_block(struct worker_metrics *m, const char *reason);  /* an answer blocked the app, for reason */
void wm_blocked(struct worker_metrics *m, const char *app, double seconds);
void wm_budget(struct worker_metrics *m, const char *app, double calls);
void wm_claim(struct worker_metrics *m, double seconds);
void wm_lag(struct worker_metrics *m, double seconds);

/* The per-app gauges read from Redis (app_gauges.c). */
enum wm_app_gauge {
    WM_APP_SCHEDULED,          /* spotwatch_app_scheduled_users: users on the schedule */
    WM_APP_OVERDUE,            /* spotwatch_app_overdue_users: scheduled users already due */
    WM_APP_INFLIGHT,           /* spotwatch_app_inflight_users: users under a lease (being polled) */
    WM_APP_BUDGET,             /* spotwatch_app_budget: configured calls per window (0 = unlimited) */
    WM_APP_BLOCKED_REMAINING,  /* spotwatch_app_blocked_seconds_remaining: 0 when not blocked */
    WM_APP_BROKEN,             /* spotwatch_app_broken_users: records set aside (<p>{<app>}:broken) */
    WM_APP_GAUGES
};
/* wm_app: the app is known: every per-app series shows it from now on, at 0. */
void wm_app(struct worker_metrics *m, const char *app);
void wm_app_gauge(struct worker_metrics *m, const char *app, enum wm_app_gauge which, double v);
/* wm_app_users: spotwatch_app_users{app,status}. */
void wm_app_users(struct worker_metrics *m, const char *app, const char *status, double n);

/* wm_live_workers: spotwatch_live_workers, the workers whose heartbeat is
 * current in Redis (all hosts). */
void wm_live_workers(struct worker_metrics *m, double n);

/* wm_http: spotwatch_http_connections (open now) and spotwatch_http_streams
 * (requests in libcurl; the rest of the in-flight ones wait in httpc). Call
 * before wm_tick, which publishes. */
void wm_http(struct worker_metrics *m, long connections, int streams);

/* wm_cluster sets the Redis Cluster counters (redis_async_cluster_stats:
 * totals since start); before wm_tick, which publishes. */
void wm_cluster(struct worker_metrics *m, long moved, long ask, long refreshes);
/* wm_tick refreshes gauges and publishes: call once a second. */
void wm_tick(struct worker_metrics *m, int inflight, long reconnects, int redis_up);

#endif
