#ifndef SW_APP_GAUGES_H
#define SW_APP_GAUGES_H
/* app_gauges: the worker's per-app gauges read from Redis (the schedule's
 * state, which no single worker sees in its own traffic): users by status,
 * scheduled, overdue, in flight, configured and effective budget, seconds
 * of block remaining (include/worker/worker_metrics.h, wm_app_*).
 *
 * Cheap by construction: every APP_GAUGES_EVERY heartbeats, five O(1) or
 * O(log N) commands per app; users by status come from a sweep of the user
 * directory (<p>users) in HSCAN steps of APP_GAUGES_SCAN_COUNT, one step a
 * heartbeat, published when the sweep completes (so a count is at most one
 * sweep old: 100,000 users at 500 a second take under four minutes). Every
 * worker that serves metrics does it; the values agree, so alert on max(). */

#define APP_GAUGES_EVERY 5          /* heartbeats between reads of the schedule gauges */
#define APP_GAUGES_SCAN_COUNT 500   /* HSCAN COUNT of one sweep step */

struct app_gauges;
struct worker;
struct worker_metrics;

/* app_gauges_new returns the gauges' state, or NULL when metrics are off
 * (wm NULL) or memory ran out (the gauges then stay at zero). */
struct app_gauges *app_gauges_new(struct worker_metrics *wm);
/* app_gauges_free: after the Redis link is freed (its callbacks have run). */
void app_gauges_free(struct app_gauges *g);

/* app_gauges_tick: call once a heartbeat, with the link up. */
void app_gauges_tick(struct app_gauges *g, struct worker *w);

#endif
