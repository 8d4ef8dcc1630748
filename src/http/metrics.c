/* metrics.c: the Prometheus registry and the publish-only HTTP endpoint
 * (see include/http/metrics.h). */
#include "http/metrics.h"
#include "http/http_server.h"
#include "base/proc_stats.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <microhttpd.h>

/* ============================== The registry =============================== */

/* metric_series: one tuple of label values and its value(s). */
struct metric_series {
    uint64_t hash;       /* FNV-1a of the values, to skip most string compares */
    char **values;       /* nlabels owned strings */
    double value;        /* counter or gauge */
    double sum;          /* histogram: sum of observations */
    uint64_t count;      /* histogram: number of observations */
    uint64_t *buckets;   /* histogram: observations per bucket (not cumulative), nbuckets */
};

struct metric_family {
    struct metrics *owner;
    struct metric_family *next;
    enum metric_type type;
    char *name;
    char *help;
    int nlabels;
    char *labels[METRICS_MAX_LABELS];
    double bounds[METRICS_MAX_BUCKETS];  /* histogram upper bounds, rising; +Inf implied */
    size_t nbounds;
    struct metric_series *series;
    size_t nseries, cap;
};

struct metrics {
    struct metric_family *head, *tail;
    long dropped;
    /* metrics_process_add's families (NULL until it runs) */
    struct metric_family *cpu, *rss, *vsz, *fds, *max_fds, *start, *heap_used, *heap_arena;
};

static const double latency_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,    2.5,   5,    10};

const double *metrics_latency_buckets(size_t *n)
{
    *n = sizeof latency_buckets / sizeof latency_buckets[0];
    return latency_buckets;
}

struct metrics *metrics_new(void)
{
    return calloc(1, sizeof(struct metrics));
}

static void series_free(struct metric_series *s, int nlabels)
{
    for (int i = 0; i < nlabels; i++)
        free(s->values[i]);
    free(s->values);
    free(s->buckets);
}

static void family_free(struct metric_family *f)
{
    for (size_t i = 0; i < f->nseries; i++)
        series_free(&f->series[i], f->nlabels);
    free(f->series);
    for (int i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    free(f);
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    for (struct metric_family *f = m->head, *n; f; f = n) {
        n = f->next;
        family_free(f);
    }
    free(m);
}

static int name_ok(const char *s, int allow_colon)
{
    if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++) {
        int c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || (allow_colon && c == ':')))
            return 0;
    }
    return 1;
}

/* split_labels fills f->labels from "a,b,c"; 0 or -1. */
static int split_labels(struct metric_family *f, const char *labels)
{
    const char *p = labels;
    while (p && *p) {
        size_t n = strcspn(p, ",");
        if (f->nlabels == METRICS_MAX_LABELS || n == 0)
            return -1;
        char *l = strndup(p, n);
        if (l == NULL)
            return -1;
        f->labels[f->nlabels++] = l;
        /* "__" names are reserved; "le" is the bucket label of histograms. */
        if (!name_ok(l, 0) || strncmp(l, "__", 2) == 0 ||
            (f->type == METRIC_HISTOGRAM && strcmp(l, "le") == 0))
            return -1;
        for (int i = 0; i + 1 < f->nlabels; i++)
            if (strcmp(f->labels[i], l) == 0)
                return -1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

static struct metric_series *series_get(struct metric_family *f, const char *const *values);

struct metric_family *metrics_family(struct metrics *m, enum metric_type type, const char *name,
                                     const char *help, const char *labels, const double *buckets,
                                     size_t nbuckets)
{
    struct metric_family *f = NULL;

    if (m == NULL || !name_ok(name, 1))
        return NULL;
    for (struct metric_family *g = m->head; g; g = g->next)
        if (strcmp(g->name, name) == 0)
            return NULL;
    if (type == METRIC_HISTOGRAM) {
        if (buckets == NULL || nbuckets == 0 || nbuckets > METRICS_MAX_BUCKETS)
            return NULL;
        for (size_t i = 0; i < nbuckets; i++)
            if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
                return NULL;
    }
    if ((f = calloc(1, sizeof *f)) == NULL)
        return NULL;
    f->owner = m;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (f->name == NULL || f->help == NULL || split_labels(f, labels) != 0)
        goto err;
    if (type == METRIC_HISTOGRAM) {
        memcpy(f->bounds, buckets, nbuckets * sizeof *buckets);
        f->nbounds = nbuckets;
    }
    /* An unlabelled family has exactly one series: show it from the start. */
    if (f->nlabels == 0 && series_get(f, NULL) == NULL)
        goto err;
    if (m->tail)
        m->tail->next = f;
    else
        m->head = f;
    m->tail = f;
    return f;
err:
    family_free(f);
    return NULL;
}

struct metric_family *metrics_counter(struct metrics *m, const char *name, const char *help,
                                      const char *labels)
{
    return metrics_family(m, METRIC_COUNTER, name, help, labels, NULL, 0);
}

struct metric_family *metrics_gauge(struct metrics *m, const char *name, const char *help,
                                    const char *labels)
{
    return metrics_family(m, METRIC_GAUGE, name, help, labels, NULL, 0);
}

struct metric_family *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                        const char *labels, const double *buckets, size_t nbuckets)
{
    return metrics_family(m, METRIC_HISTOGRAM, name, help, labels, buckets, nbuckets);
}

static uint64_t values_hash(const char *const *values, int n)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++) {
            h ^= *p;
            h *= 1099511628211ULL;
        }
        h ^= 0xff; /* separator: ("ab","c") and ("a","bc") differ */
        h *= 1099511628211ULL;
    }
    return h;
}

/* series_get finds or creates the series of values; NULL when the values do
 * not fit the family, the family is full, or memory ran out. */
static struct metric_series *series_get(struct metric_family *f, const char *const *values)
{
    if (f == NULL)
        return NULL;
    if (f->nlabels > 0 && values == NULL)
        return NULL;
    for (int i = 0; i < f->nlabels; i++)
        if (values[i] == NULL)
            return NULL;
    uint64_t h = values_hash(values, f->nlabels);
    for (size_t i = 0; i < f->nseries; i++) {
        struct metric_series *s = &f->series[i];
        if (s->hash != h)
            continue;
        int same = 1;
        for (int j = 0; j < f->nlabels && same; j++)
            same = strcmp(s->values[j], values[j]) == 0;
        if (same)
            return s;
    }
    if (f->nseries >= METRICS_MAX_SERIES) {
        f->owner->dropped++;
        return NULL;
    }
    if (f->nseries == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        struct metric_series *n = realloc(f->series, cap * sizeof *n);
        if (n == NULL)
            return NULL;
        f->series = n;
        f->cap = cap;
    }
    struct metric_series s = {.hash = h};
    if (f->nlabels > 0 && (s.values = calloc((size_t)f->nlabels, sizeof *s.values)) == NULL)
        return NULL;
    for (int j = 0; j < f->nlabels; j++)
        if ((s.values[j] = strdup(values[j])) == NULL)
            goto oom;
    if (f->type == METRIC_HISTOGRAM && (s.buckets = calloc(f->nbounds, sizeof *s.buckets)) == NULL)
        goto oom;
    f->series[f->nseries] = s;
    return &f->series[f->nseries++];
oom:
    series_free(&s, f->nlabels);
    return NULL;
}

/* one_value adapts the single-value forms (callers have checked that the
 * family has at most one label and that value is set when it has one). */
static const char *const *one_value(const struct metric_family *f, const char *const *slot)
{
    return f != NULL && f->nlabels == 1 ? slot : NULL;
}

void metrics_incv(struct metric_family *f, const char *const *values, double by)
{
    if (f == NULL || f->type == METRIC_HISTOGRAM || (f->type == METRIC_COUNTER && !(by >= 0)))
        return;
    struct metric_series *s = series_get(f, values);
    if (s)
        s->value += by;
}

void metrics_inc(struct metric_family *f, const char *value, double by)
{
    if (f && (f->nlabels > 1 || (f->nlabels == 1 && value == NULL)))
        return;
    metrics_incv(f, one_value(f, &value), by);
}

void metrics_setv(struct metric_family *f, const char *const *values, double v)
{
    if (f == NULL || f->type == METRIC_HISTOGRAM)
        return;
    struct metric_series *s = series_get(f, values);
    if (s)
        s->value = v;
}

void metrics_set(struct metric_family *f, const char *value, double v)
{
    if (f && (f->nlabels > 1 || (f->nlabels == 1 && value == NULL)))
        return;
    metrics_setv(f, one_value(f, &value), v);
}

void metrics_touchv(struct metric_family *f, const char *const *values)
{
    (void)series_get(f, values);
}

void metrics_observev(struct metric_family *f, const char *const *values, double v)
{
    if (f == NULL || f->type != METRIC_HISTOGRAM || isnan(v))
        return;
    struct metric_series *s = series_get(f, values);
    if (s == NULL)
        return;
    for (size_t i = 0; i < f->nbounds; i++) {
        if (v <= f->bounds[i]) {
            s->buckets[i]++;
            break;
        }
    }
    s->sum += v;
    s->count++;
}

void metrics_observe(struct metric_family *f, const char *value, double v)
{
    if (f && (f->nlabels > 1 || (f->nlabels == 1 && value == NULL)))
        return;
    metrics_observev(f, one_value(f, &value), v);
}

double metrics_value(struct metric_family *f, const char *value)
{
    if (f == NULL || f->nlabels > 1 || (f->nlabels == 1 && value == NULL))
        return 0;
    const char *const *vals = f->nlabels ? &value : NULL;
    uint64_t h = values_hash(vals, f->nlabels);
    for (size_t i = 0; i < f->nseries; i++) {
        struct metric_series *s = &f->series[i];
        if (s->hash == h && (f->nlabels == 0 || strcmp(s->values[0], value) == 0))
            return f->type == METRIC_HISTOGRAM ? (double)s->count : s->value;
    }
    return 0;
}

long metrics_dropped(const struct metrics *m)
{
    return m ? m->dropped : 0;
}

/* ------------------------------------------------- build and process info -- */

int metrics_process_add(struct metrics *m, const char *version, const char *component)
{
    struct metric_family *info;
    const char *values[] = {version, component};

    if (m == NULL)
        return -1;
    info = metrics_gauge(m, "spotwatch_build_info",
                         "Always 1; the labels say which version of spotwatch runs as which component.",
                         "version,component");
    m->cpu = metrics_counter(m, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                             NULL);
    m->rss = metrics_gauge(m, "process_resident_memory_bytes", "Resident memory size in bytes.", NULL);
    m->vsz = metrics_gauge(m, "process_virtual_memory_bytes", "Virtual memory size in bytes.", NULL);
    m->fds = metrics_gauge(m, "process_open_fds", "Number of open file descriptors.", NULL);
    m->max_fds = metrics_gauge(m, "process_max_fds", "Maximum number of open file descriptors.", NULL);
    m->start = metrics_gauge(m, "process_start_time_seconds",
                             "Start time of the process since unix epoch in seconds.", NULL);
    m->heap_used = metrics_gauge(m, "spotwatch_heap_in_use_bytes",
                                 "Bytes malloc holds for live allocations (glibc mallinfo2; 0 elsewhere).", NULL);
    m->heap_arena = metrics_gauge(m, "spotwatch_heap_arena_bytes",
                                  "Bytes malloc has taken from the system (glibc mallinfo2; 0 elsewhere).", NULL);
    if (!info || !m->cpu || !m->rss || !m->vsz || !m->fds || !m->max_fds || !m->start || !m->heap_used
        || !m->heap_arena)
        return -1;
    metrics_setv(info, values, 1);
    metrics_process_update(m);
    return 0;
}

void metrics_process_update(struct metrics *m)
{
    struct proc_stats st;

    if (m == NULL || m->cpu == NULL)
        return;
    /* On a failed read the series keep their last values. */
    if (proc_stats_read(&st) != 0)
        return;
    metrics_set(m->cpu, NULL, st.cpu_seconds);
    metrics_set(m->rss, NULL, st.resident_bytes);
    metrics_set(m->vsz, NULL, st.virtual_bytes);
    metrics_set(m->fds, NULL, st.open_fds);
    metrics_set(m->max_fds, NULL, st.max_fds);
    metrics_set(m->start, NULL, st.start_time_seconds);
    metrics_set(m->heap_used, NULL, st.heap_in_use_bytes);
    metrics_set(m->heap_arena, NULL, st.heap_arena_bytes);
}

/* ------------------------------------------------------------- rendering -- */

/* sbuf: a growing output buffer; after an allocation failure it stays failed. */
struct sbuf {
    char *data;
    size_t len, cap;
    int failed;
};

static void sb_reserve(struct sbuf *b, size_t more)
{
    if (b->failed || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *n = realloc(b->data, cap);
    if (n == NULL) {
        b->failed = 1;
        return;
    }
    b->data = n;
    b->cap = cap;
}

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    if (b->failed)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* fmt_double writes v as the shortest decimal that reads back exactly, which
 * the exposition format (Go's ParseFloat) accepts; non-finite values use the
 * format's spellings. */
static void fmt_double(char *buf, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(buf, n, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, n, "%.0f", v);
        return;
    }
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* escape writes s with the format's escapes: \\ and \n always, \" in label
 * values (help text keeps its quotes). */
static void sb_escaped(struct sbuf *b, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            sb_puts(b, "\\\\");
        else if (*s == '\n')
            sb_puts(b, "\\n");
        else if (quote && *s == '"')
            sb_puts(b, "\\\"");
        else
            sb_add(b, s, 1);
    }
}

/* sb_labels writes {a="x",b="y"[,le="0.5"]}, or nothing when there are none. */
static void sb_labels(struct sbuf *b, const struct metric_family *f, const struct metric_series *s,
                      const char *le)
{
    if (f->nlabels == 0 && le == NULL)
        return;
    sb_puts(b, "{");
    for (int i = 0; i < f->nlabels; i++) {
        if (i)
            sb_puts(b, ",");
        sb_puts(b, f->labels[i]);
        sb_puts(b, "=\"");
        sb_escaped(b, s->values[i], 1);
        sb_puts(b, "\"");
    }
    if (le) {
        if (f->nlabels)
            sb_puts(b, ",");
        sb_puts(b, "le=\"");
        sb_puts(b, le);
        sb_puts(b, "\"");
    }
    sb_puts(b, "}");
}

static void sb_sample(struct sbuf *b, const struct metric_family *f, const struct metric_series *s,
                      const char *suffix, const char *le, double v)
{
    char num[64];
    sb_puts(b, f->name);
    sb_puts(b, suffix);
    sb_labels(b, f, s, le);
    fmt_double(num, sizeof num, v);
    sb_puts(b, " ");
    sb_puts(b, num);
    sb_puts(b, "\n");
}

static const char *type_name(enum metric_type t)
{
    return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

int metrics_render(struct metrics *m, char **out, size_t *len)
{
    struct sbuf b = {0};

    sb_reserve(&b, 4096);
    for (struct metric_family *f = m ? m->head : NULL; f; f = f->next) {
        if (f->nseries == 0)
            continue;
        sb_puts(&b, "# HELP ");
        sb_puts(&b, f->name);
        sb_puts(&b, " ");
        sb_escaped(&b, f->help, 0);
        sb_puts(&b, "\n# TYPE ");
        sb_puts(&b, f->name);
        sb_puts(&b, " ");
        sb_puts(&b, type_name(f->type));
        sb_puts(&b, "\n");
        for (size_t i = 0; i < f->nseries; i++) {
            const struct metric_series *s = &f->series[i];
            if (f->type != METRIC_HISTOGRAM) {
                sb_sample(&b, f, s, "", NULL, s->value);
                continue;
            }
            uint64_t cum = 0;
            char le[64];
            for (size_t k = 0; k < f->nbounds; k++) {
                cum += s->buckets[k];
                fmt_double(le, sizeof le, f->bounds[k]);
                sb_sample(&b, f, s, "_bucket", le, (double)cum);
            }
            sb_sample(&b, f, s, "_bucket", "+Inf", (double)s->count);
            sb_sample(&b, f, s, "_sum", NULL, s->sum);
            sb_sample(&b, f, s, "_count", NULL, (double)s->count);
        }
    }
    if (b.failed) {
        free(b.data);
        *out = NULL;
        *len = 0;
        return -1;
    }
    if (b.data == NULL) {
        sb_add(&b, "", 0);
        if (b.failed)
            return -1;
    }
    *out = b.data;
    *len = b.len;
    return 0;
}

/* ============================ The HTTP endpoint ============================ */

/* metrics_http: what the HTTP thread may read, behind lock. */
struct metrics_http {
    struct http_server *srv;
    pthread_mutex_t lock;
    char *text;             /* last published exposition; NULL before the first */
    size_t len;
    int healthy;
    char why[128];          /* reason shown with a 503 */
    long long health_at_ms; /* CLOCK_MONOTONIC time of the last health report; 0 = never */
    int port;
};

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                             const char *body, size_t len)
{
    static const char *const allow[] = {"Allow", "GET, HEAD", NULL};
    return http_server_reply(c, status, ctype, body, len,
                             status == MHD_HTTP_METHOD_NOT_ALLOWED ? allow : NULL);
}

/* mh_handler answers a request (http_server's prologue has run). */
static enum MHD_Result mh_handler(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method)
{
    struct metrics_http *mh = cls;
    static const char text_ct[] = "text/plain; charset=utf-8";

    int known = strcmp(url, "/metrics") == 0 || strcmp(url, "/healthz") == 0;
    if (!known)
        return reply(c, MHD_HTTP_NOT_FOUND, text_ct, "not found\n", 10);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, text_ct, "method not allowed\n", 19);

    enum MHD_Result ret;
    pthread_mutex_lock(&mh->lock);
    if (strcmp(url, "/metrics") == 0) {
        if (mh->text)
            ret = reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", mh->text, mh->len);
        else
            ret = reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, text_ct, "no metrics yet\n", 15);
    } else {
        char msg[192];
        long long age = mh->health_at_ms ? mono_ms() - mh->health_at_ms : -1;
        if (age < 0)
            snprintf(msg, sizeof msg, "starting\n");
        else if (age > METRICS_HTTP_STALE_MS)
            snprintf(msg, sizeof msg, "stalled: no health report for %lld ms\n", age);
        else if (!mh->healthy)
            snprintf(msg, sizeof msg, "%s\n", mh->why[0] ? mh->why : "unhealthy");
        else
            snprintf(msg, sizeof msg, "ok\n");
        unsigned st = strcmp(msg, "ok\n") == 0 ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
        ret = reply(c, st, text_ct, msg, strlen(msg));
    }
    pthread_mutex_unlock(&mh->lock);
    return ret;
}

struct metrics_http *metrics_http_start(const char *listen_addr, char *err, size_t errlen)
{
    struct metrics_http *mh;

    if ((mh = calloc(1, sizeof *mh)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&mh->lock, NULL);
    /* Scrapes are small and answered from memory: one thread, few
     * connections, short timeouts. */
    struct http_server_opts o = {.listen_addr = listen_addr, .what = " for metrics",
                                 .thread_per_connection = 0, .connection_limit = 64,
                                 .connection_timeout_s = 10, .handler = mh_handler, .cls = mh};
    if ((mh->srv = http_server_start(&o, err, errlen)) == NULL) {
        pthread_mutex_destroy(&mh->lock);
        free(mh);
        return NULL;
    }
    mh->port = http_server_port(mh->srv);
    return mh;
}

int metrics_http_port(const struct metrics_http *mh)
{
    return mh ? mh->port : 0;
}

int metrics_http_publish(struct metrics_http *mh, const char *text, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    pthread_mutex_lock(&mh->lock);
    char *old = mh->text;
    mh->text = copy;
    mh->len = len;
    pthread_mutex_unlock(&mh->lock);
    free(old);
    return 0;
}

void metrics_http_health(struct metrics_http *mh, int ok, const char *why)
{
    pthread_mutex_lock(&mh->lock);
    mh->healthy = ok != 0;
    snprintf(mh->why, sizeof mh->why, "%s", why ? why : "");
    mh->health_at_ms = mono_ms();
    pthread_mutex_unlock(&mh->lock);
}

void metrics_http_stop(struct metrics_http *mh)
{
    if (mh == NULL)
        return;
    http_server_stop(mh->srv);
    pthread_mutex_destroy(&mh->lock);
    free(mh->text);
    free(mh);
}
