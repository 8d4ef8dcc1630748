#ifndef SW_METRICS_H
#define SW_METRICS_H
/* metrics: a small Prometheus registry owned by its user (no globals), and
 * a tiny HTTP endpoint that serves what the owner last published.
 *
 * A registry holds families (one metric name each): counters, gauges and
 * histograms with fixed buckets. A family has zero to METRICS_MAX_LABELS label
 * names, fixed when it is created; each distinct tuple of label values is one
 * series, created on first use. Values are doubles in base units (seconds,
 * bytes). The registry itself does no locking: one thread owns it (the
 * worker's loop), or its owner serialises access (serve holds a mutex).
 *
 * metrics_render writes the text exposition format 0.0.4:
 *   # HELP spotwatch_polls_total Polls finished, by outcome.
 *   # TYPE spotwatch_polls_total counter
 *   spotwatch_polls_total{outcome="ok"} 12
 * and for a histogram the cumulative name_bucket{...,le="..."} series, the
 * +Inf bucket, name_sum and name_count. Label values are escaped (\\, \", \n).
 * A labelled family with no series yet is left out entirely. */
#include <stddef.h>

#define METRICS_MAX_LABELS 4
#define METRICS_MAX_BUCKETS 32
/* METRICS_MAX_SERIES: series per family; more are dropped (and counted in
 * metrics_dropped), so a label fed by unexpected input cannot eat memory. */
#define METRICS_MAX_SERIES 10000

enum metric_type {
    METRIC_COUNTER,   /* only goes up (metrics_set exists to mirror an outside count) */
    METRIC_GAUGE,     /* any value */
    METRIC_HISTOGRAM, /* observations counted in fixed buckets, plus sum and count */
};

struct metrics;
struct metric_family;

/* metrics_new returns an empty registry, or NULL when out of memory. */
struct metrics *metrics_new(void);
/* metrics_free frees the registry and every family in it (NULL is fine). */
void metrics_free(struct metrics *m);

/* metrics_family adds a family. name must match [a-zA-Z_:][a-zA-Z0-9_:]*;
 * labels is NULL/"" for none, or comma-separated label names ("app" or
 * "handler,code"); buckets (histograms only) are nbuckets strictly rising
 * finite upper bounds, without +Inf. Returns the family, owned by m and valid
 * until metrics_free, or NULL (bad name, bad buckets, duplicate name, out of
 * memory). Families render in the order they were added. */
struct metric_family *metrics_family(struct metrics *m, enum metric_type type, const char *name,
                                     const char *help, const char *labels, const double *buckets,
                                     size_t nbuckets);

/* Shorthands for metrics_family. */
struct metric_family *metrics_counter(struct metrics *m, const char *name, const char *help,
                                      const char *labels);
struct metric_family *metrics_gauge(struct metrics *m, const char *name, const char *help,
                                    const char *labels);
struct metric_family *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                        const char *labels, const double *buckets, size_t nbuckets);

/* metrics_latency_buckets: the default buckets for request latencies in
 * seconds, 0.005 .. 10; *n receives their count. */
const double *metrics_latency_buckets(size_t *n);

/* The update functions take the label values in the order the family named
 * its labels. value is the single label value (NULL for a family without
 * labels); values[] is the general form (NULL for none). Calls on a NULL
 * family, with the wrong number of values, or past METRICS_MAX_SERIES do
 * nothing. metrics_inc(f, "ok", 0) creates a series at 0, so a known label
 * value shows up before it first happens. */
void metrics_inc(struct metric_family *f, const char *value, double by);
void metrics_incv(struct metric_family *f, const char *const *values, double by);
/* metrics_set sets a gauge (or a counter mirroring a count kept elsewhere). */
void metrics_set(struct metric_family *f, const char *value, double v);
void metrics_setv(struct metric_family *f, const char *const *values, double v);
/* metrics_touchv creates the series of values (at 0, an empty histogram)
 * if it does not exist, without changing it: a known label value of any
 * family shows from the start. */
void metrics_touchv(struct metric_family *f, const char *const *values);
/* metrics_observe adds one observation to a histogram. */
void metrics_observe(struct metric_family *f, const char *value, double v);
void metrics_observev(struct metric_family *f, const char *const *values, double v);

/* metrics_value returns a counter's or gauge's value, or a histogram's
 * count, for the series named by value (0 when it does not exist). For tests. */
double metrics_value(struct metric_family *f, const char *value);

/* metrics_process_add registers what every exporter serves:
 * spotwatch_build_info{version,component} (always 1) and process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds (read from
 * /proc, include/base/proc_stats.h), filled at once. Returns 0, or -1 (out
 * of memory, or called twice). */
int metrics_process_add(struct metrics *m, const char *version, const char *component);
/* metrics_process_update re-reads the process_* values (before a render). */
void metrics_process_update(struct metrics *m);

/* metrics_dropped: updates ignored because a family was full. */
long metrics_dropped(const struct metrics *m);

/* metrics_render writes the whole registry in the text format into a
 * malloc'd NUL-terminated buffer (*out, caller frees; *len excludes the NUL).
 * Returns 0, or -1 when out of memory (*out is then NULL). */
int metrics_render(struct metrics *m, char **out, size_t *len);

/* ---------------------------------------------------------------------------
 * metrics_http: GET /metrics and GET /healthz for a process whose state lives
 * in a single-threaded event loop (the worker). libmicrohttpd answers from its
 * own thread, so it never calls back into the owner: the owner publishes the
 * rendered text and its health (say once a second, from a timer), and the
 * HTTP thread serves the last copy under a mutex.
 *
 *   GET /metrics  200 with the last published text; 503 before the first
 *   GET /healthz  200 "ok" when the last health report was ok and is fresh
 *                 (younger than METRICS_HTTP_STALE_MS: a stalled loop stops
 *                 reporting and so turns unhealthy), else 503 with the reason
 *   HEAD works too; other paths 404, other methods 405. The libmicrohttpd
 *   prologue is src/http/http_server.c. */
#define METRICS_HTTP_STALE_MS 15000

struct metrics_http;

/* metrics_http_start listens on listen_addr ("127.0.0.1:9121", "[::1]:9121",
 * "0.0.0.0:9121"; port 0 picks a free port, see metrics_http_port) in a
 * thread of its own. Returns the server, or NULL + err. */
struct metrics_http *metrics_http_start(const char *listen_addr, char *err, size_t errlen);

/* metrics_http_port: the port actually bound. */
int metrics_http_port(const struct metrics_http *mh);

/* metrics_http_publish copies text (len bytes) as what /metrics serves next.
 * Returns 0, or -1 when out of memory (the previous text stays). */
int metrics_http_publish(struct metrics_http *mh, const char *text, size_t len);

/* metrics_http_health records the process' health: ok != 0 is healthy; why
 * (NULL or a short reason, never a secret) is shown by a 503. Each call also
 * refreshes the staleness clock. */
void metrics_http_health(struct metrics_http *mh, int ok, const char *why);

/* metrics_http_stop stops the server and frees it (NULL is fine). */
void metrics_http_stop(struct metrics_http *mh);

#endif
