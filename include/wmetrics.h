#ifndef SW_WMETRICS_H
#define SW_WMETRICS_H
/* wmetrics: the worker's Prometheus metrics, served on metrics-listen.
 * Every function accepts NULL (metrics off) and then does nothing, so the
 * worker calls them unconditionally. Only the worker's loop thread calls
 * them; wm_tick publishes a rendered copy for the HTTP thread. */
#include "config.h"

struct wmetrics;

/* wm_new returns NULL with err[0] == 0 when metrics-listen is unset, NULL
 * with err set when the listener cannot start, or the metrics. */
struct wmetrics *wm_new(const struct sw_config *c, char *err, size_t errlen);
void wm_free(struct wmetrics *m);

void wm_poll(struct wmetrics *m, const char *outcome, double seconds);  /* seconds < 0: no HTTP */
void wm_event(struct wmetrics *m, const char *type);
void wm_refresh(struct wmetrics *m, const char *outcome);
void wm_rate_limited(struct wmetrics *m, const char *app);
void wm_blocked(struct wmetrics *m, const char *app, double seconds);
void wm_budget(struct wmetrics *m, const char *app, double calls);
void wm_claim(struct wmetrics *m, double seconds);
void wm_lag(struct wmetrics *m, double seconds);

/* wm_tick refreshes gauges and publishes: call once a second. */
void wm_tick(struct wmetrics *m, int inflight, long reconnects, int redis_up);

#endif
