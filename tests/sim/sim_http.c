/* sim_http.c: see sim_http.h. */
#include "sim_http.h"
#include "sim_accounts.h"
#include "sim_api.h"
#include "sim_config.h"
#include "sim_control.h"
#include "sim_state.h"
#include "sim_util.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <netinet/in.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#define MAX_BODY (1024 * 1024) /* request bodies above this get 413 */

/* ---- replies -------------------------------------------------------------- */

void sim_reply_init(sim_reply *r)
{
    memset(r, 0, sizeof *r);
    r->status = 500;
}

void sim_reply_free(sim_reply *r)
{
    free(r->body);
    r->body = NULL;
}

void sim_reply_body(sim_reply *r, int status, const char *ctype, char *body, size_t len)
{
    free(r->body);
    r->status = status;
    r->ctype = ctype;
    r->body = body;
    r->len = len;
}

void sim_reply_json(sim_reply *r, int status, const char *json)
{
    sim_reply_body(r, status, "application/json; charset=utf-8", sim_xstrdup(json),
                   strlen(json));
}

void sim_reply_text(sim_reply *r, int status, const char *text)
{
    sim_reply_body(r, status, "text/plain; charset=utf-8", sim_xstrdup(text), strlen(text));
}

void sim_reply_cjson(sim_reply *r, int status, cJSON *obj)
{
    char *s = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    sim_reply_body(r, status, "application/json; charset=utf-8", s, strlen(s));
}

void sim_reply_api_error(sim_reply *r, int status, const char *message)
{
    sim_buf b;
    sim_buf_init(&b);
    sim_buf_printf(&b, "{\"error\":{\"status\":%d,\"message\":", status);
    sim_buf_json_str(&b, message);
    sim_buf_puts(&b, "}}");
    size_t len;
    char *s = sim_buf_steal(&b, &len);
    sim_reply_body(r, status, "application/json; charset=utf-8", s, len);
}

void sim_reply_oauth_error(sim_reply *r, int status, const char *error, const char *desc)
{
    sim_buf b;
    sim_buf_init(&b);
    sim_buf_puts(&b, "{\"error\":");
    sim_buf_json_str(&b, error);
    sim_buf_puts(&b, ",\"error_description\":");
    sim_buf_json_str(&b, desc);
    sim_buf_puts(&b, "}");
    size_t len;
    char *s = sim_buf_steal(&b, &len);
    sim_reply_body(r, status, "application/json", s, len);
}

void sim_reply_gzip(sim_reply *out)
{
    z_stream z;

    if (out->gzipped || out->body == NULL || out->len == 0)
        return;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return;
    uLong cap = deflateBound(&z, (uLong)out->len) + 32;
    unsigned char *dst = sim_xmalloc(cap);
    z.next_in = (unsigned char *)out->body;
    z.avail_in = (uInt)out->len;
    z.next_out = dst;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    size_t n = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(dst);
        return;
    }
    free(out->body);
    out->body = (char *)dst;
    out->len = n;
    out->gzipped = 1;
    sim_reply_header(out, "Content-Encoding", "gzip");
}

int sim_in_accepts_gzip(const sim_in *in)
{
    const char *v = sim_in_header(in, "Accept-Encoding");

    while (v != NULL && *v) {
        size_t n;
        const char *q;

        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        n = strcspn(v, ",;");
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        int named = (n == 4 && strncasecmp(v, "gzip", 4) == 0) || (n == 1 && *v == '*');
        v += strcspn(v, ",;");
        double qv = 1;
        if (*v == ';' && (q = strstr(v, "q=")) != NULL && q < v + strcspn(v, ","))
            qv = strtod(q + 2, NULL);
        if (named && qv > 0)
            return 1;
        v += strcspn(v, ",");
    }
    return 0;
}

void sim_reply_header(sim_reply *r, const char *name, const char *value)
{
    if (r->nhdr >= SIM_REPLY_MAX_HDR)
        return;
    snprintf(r->hname[r->nhdr], sizeof r->hname[0], "%s", name);
    snprintf(r->hval[r->nhdr], sizeof r->hval[0], "%s", value);
    r->nhdr++;
}

void sim_reply_retry_after(sim_reply *r, int64_t ms)
{
    if (sim_cfg.omit_retry_after)
        return;
    int64_t s = (ms + 999) / 1000;
    if (s < 1)
        s = 1;
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)s);
    sim_reply_header(r, "Retry-After", v);
}

/* ---- request inputs ----------------------------------------------------- */

const char *sim_in_header(const sim_in *in, const char *name)
{
    return MHD_lookup_connection_value(in->conn, MHD_HEADER_KIND, name);
}

const char *sim_in_arg(const sim_in *in, const char *name)
{
    return MHD_lookup_connection_value(in->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- delayed responses: one timer thread, one heap ------------------------- */

/* timer_ent: a suspended connection and the real time it is due. */
typedef struct timer_ent {
    int64_t due_ns;
    struct MHD_Connection *conn;
} timer_ent;

static pthread_mutex_t tmx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tcv;
static timer_ent *theap;
static size_t tn, tcap;
static int tstop;
static pthread_t tthread;
static int tthread_started;
static int shutting_down; /* guarded by sim_lock: no new suspensions */

static void heap_push(timer_ent e)
{
    if (tn == tcap) {
        tcap = tcap ? tcap * 2 : 64;
        theap = sim_xrealloc(theap, tcap * sizeof *theap);
    }
    size_t i = tn++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (theap[p].due_ns <= e.due_ns)
            break;
        theap[i] = theap[p];
        i = p;
    }
    theap[i] = e;
}

static timer_ent heap_pop(void)
{
    timer_ent top = theap[0], last = theap[--tn];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= tn)
            break;
        if (c + 1 < tn && theap[c + 1].due_ns < theap[c].due_ns)
            c++;
        if (last.due_ns <= theap[c].due_ns)
            break;
        theap[i] = theap[c];
        i = c;
    }
    if (tn)
        theap[i] = last;
    return top;
}

static void *timer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&tmx);
    for (;;) {
        if (tn == 0) {
            if (tstop)
                break;
            pthread_cond_wait(&tcv, &tmx);
            continue;
        }
        int64_t now = sim_mono_ns();
        if (tstop || theap[0].due_ns <= now) {
            timer_ent e = heap_pop();
            pthread_mutex_unlock(&tmx);
            MHD_resume_connection(e.conn);
            pthread_mutex_lock(&tmx);
            continue;
        }
        struct timespec ts;
        ts.tv_sec = (time_t)(theap[0].due_ns / 1000000000LL);
        ts.tv_nsec = (long)(theap[0].due_ns % 1000000000LL);
        pthread_cond_timedwait(&tcv, &tmx, &ts);
    }
    pthread_mutex_unlock(&tmx);
    return NULL;
}

static void timer_add(struct MHD_Connection *c, int64_t delay_ms)
{
    timer_ent e = {sim_mono_ns() + delay_ms * 1000000LL, c};
    pthread_mutex_lock(&tmx);
    heap_push(e);
    pthread_cond_signal(&tcv);
    pthread_mutex_unlock(&tmx);
}

/* ---- MHD glue -------------------------------------------------------------- */

/* req_phase: where a request is in its life. */
typedef enum {
    REQ_READING, /* collecting the body */
    REQ_DELAYED, /* suspended until the timer resumes it */
} req_phase;

/* sim_req: per-request context (MHD con_cls). */
typedef struct sim_req {
    req_phase phase;
    sim_buf body;
    int too_big;
    sim_user *user;               /* counted in user->inflight until completion */
    struct MHD_Response *prepared; /* the delayed response (NULL for a hang) */
    unsigned prepared_status;
} sim_req;

/* cut_ctx: a response body that stops after `cut_at` bytes. */
typedef struct cut_ctx {
    char *body;
    size_t cut_at;
} cut_ctx;

static struct MHD_Daemon *daemon_h;

static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    cut_ctx *c = cls;
    if (pos >= c->cut_at)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = c->cut_at - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, c->body + pos, n);
    return (ssize_t)n;
}

static void cut_free(void *cls)
{
    cut_ctx *c = cls;
    free(c->body);
    free(c);
}

/* Adds a header, lower-casing the name when lowercase_headers is on. */
static void add_header(struct MHD_Response *resp, const char *name, const char *value,
                       int lower)
{
    char n[64];
    snprintf(n, sizeof n, "%s", name);
    if (lower)
        for (char *p = n; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    MHD_add_response_header(resp, n, value);
}

static void http_date(char out[64])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 64, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static struct MHD_Response *build_response(sim_reply *r, int lower)
{
    struct MHD_Response *resp;
    if (r->cut) {
        cut_ctx *c = sim_xmalloc(sizeof *c);
        c->body = r->body;
        c->cut_at = r->cut_at;
        resp = MHD_create_response_from_callback(r->len, 4096, cut_reader, c, cut_free);
        r->body = NULL;
    } else {
        resp = MHD_create_response_from_buffer(r->len, r->body ? r->body : (void *)"",
                                               r->body ? MHD_RESPMEM_MUST_FREE
                                                       : MHD_RESPMEM_PERSISTENT);
        r->body = NULL;
    }
    if (!resp)
        return NULL;
    char date[64];
    http_date(date);
    add_header(resp, "Date", date, lower);
    /* Content-Length (and Connection) are written by libmicrohttpd 0.9.75 in
     * their usual case: it cannot be told to skip its own Content-Length. */
    if (r->ctype)
        add_header(resp, "Content-Type", r->ctype, lower);
    for (int i = 0; i < r->nhdr; i++)
        add_header(resp, r->hname[i], r->hval[i], lower);
    return resp;
}

/* Routes one complete request. Called with sim_lock held. */
static void dispatch(sim_in *in, sim_reply *out)
{
    const char *p = in->path;
    if (!strncmp(p, "/sim/", 5) || !strcmp(p, "/sim")) {
        sim_control_handle(in, out);
    } else if (!strncmp(p, "/v1/", 4) || !strcmp(p, "/v1")) {
        in->counted = 1;
        sim_api_handle(in, out);
        out->delay_ms += sim_cfg.latency_ms;
    } else if (!strcmp(p, "/api/token")) {
        in->counted = 1;
        sim_accounts_token(in, out);
        out->delay_ms += sim_cfg.latency_ms;
    } else if (!strcmp(p, "/authorize")) {
        in->counted = 1;
        sim_accounts_authorize(in, out);
    } else {
        sim_reply_api_error(out, 404, "Service not found");
    }
}

/* Statistics of one counted request. Called with sim_lock held. */
static void count_request(sim_in *in, sim_reply *out)
{
    sim_w.total++;
    if (out->hang)
        sim_w.hangs++;
    else if (out->status > 0 && out->status < 600)
        sim_w.by_status[out->status]++;
    sim_stats_count_path(in->path);
    if (in->user)
        in->user->requests++;
    if (in->app)
        in->app->requests++;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    sim_req *r = *con_cls;
    if (!r) {
        r = sim_xcalloc(1, sizeof *r);
        sim_buf_init(&r->body);
        *con_cls = r;
        return MHD_YES;
    }
    if (r->phase == REQ_DELAYED) {
        if (!r->prepared)
            return MHD_NO; /* a hang: close without an answer */
        enum MHD_Result ret = MHD_queue_response(conn, r->prepared_status, r->prepared);
        MHD_destroy_response(r->prepared);
        r->prepared = NULL;
        return ret;
    }
    if (*upload_size) {
        if (r->body.len + *upload_size > MAX_BODY)
            r->too_big = 1;
        else
            sim_buf_add(&r->body, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }

    sim_in in;
    memset(&in, 0, sizeof in);
    in.conn = conn;
    in.method = method;
    in.path = url;
    in.body = r->body.data ? r->body.data : "";
    in.body_len = r->body.len;
    sim_reply out;
    sim_reply_init(&out);

    pthread_mutex_lock(&sim_lock);
    if (r->too_big)
        sim_reply_api_error(&out, 413, "Request body too large");
    else
        dispatch(&in, &out);
    if (in.counted)
        count_request(&in, &out);
    if (in.user) {
        r->user = in.user;
        if (++in.user->inflight > in.user->max_inflight)
            in.user->max_inflight = in.user->inflight;
        if (in.user->max_inflight > sim_w.max_concurrent)
            sim_w.max_concurrent = in.user->max_inflight;
    }
    int lower = sim_cfg.lowercase_headers != 0;
    int can_delay = !shutting_down;
    pthread_mutex_unlock(&sim_lock);

    if (out.hang) {
        sim_reply_free(&out);
        if (out.delay_ms <= 0 || !can_delay)
            return MHD_NO;
        r->phase = REQ_DELAYED;
        r->prepared = NULL;
        MHD_suspend_connection(conn);
        timer_add(conn, out.delay_ms);
        return MHD_YES;
    }
    struct MHD_Response *resp = build_response(&out, lower);
    sim_reply_free(&out);
    if (!resp)
        return MHD_NO;
    if (out.delay_ms > 0 && can_delay) {
        r->phase = REQ_DELAYED;
        r->prepared = resp;
        r->prepared_status = (unsigned)out.status;
        MHD_suspend_connection(conn);
        timer_add(conn, out.delay_ms);
        return MHD_YES;
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)out.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    sim_req *r = *con_cls;
    if (!r)
        return;
    if (r->user) {
        pthread_mutex_lock(&sim_lock);
        r->user->inflight--;
        pthread_mutex_unlock(&sim_lock);
    }
    if (r->prepared)
        MHD_destroy_response(r->prepared);
    sim_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

static void on_panic(void *cls, const char *file, unsigned int line, const char *reason)
{
    (void)cls;
    fprintf(stderr, "spotify-sim: libmicrohttpd panic at %s:%u: %s\n", file, line,
            reason ? reason : "");
    abort();
}

static void set_opt(struct MHD_OptionItem *o, enum MHD_OPTION k, intptr_t v, void *p)
{
    o->option = k;
    o->value = v;
    o->ptr_value = p;
}

int sim_http_start(const char *bind_addr, int port, const char *tls_cert, const char *tls_key,
                   int threads, int *bound_port, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "bad bind address %s (IPv4 literal expected)", bind_addr);
        return -1;
    }

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&tcv, &ca);
    pthread_condattr_destroy(&ca);
    tstop = 0;
    if (pthread_create(&tthread, NULL, timer_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the timer thread");
        return -1;
    }
    tthread_started = 1;

    MHD_set_panic_func(on_panic, NULL);
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_SUPPRESS_DATE_NO_CLOCK |
                         MHD_USE_ERROR_LOG;
    if (tls_cert && tls_key)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem opts[12];
    int n = 0;
    set_opt(&opts[n++], MHD_OPTION_SOCK_ADDR, 0, &sa);
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed,
                                        NULL};
    set_opt(&opts[n++], MHD_OPTION_CONNECTION_LIMIT, 10000, NULL);
    set_opt(&opts[n++], MHD_OPTION_CONNECTION_TIMEOUT, 600, NULL);
    set_opt(&opts[n++], MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL);
    if (threads > 1)
        set_opt(&opts[n++], MHD_OPTION_THREAD_POOL_SIZE, threads, NULL);
    if (tls_cert && tls_key) {
        set_opt(&opts[n++], MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)tls_key);
        set_opt(&opts[n++], MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)tls_cert);
    }
    set_opt(&opts[n++], MHD_OPTION_END, 0, NULL);

    daemon_h = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, NULL,
                                MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!daemon_h) {
        snprintf(err, errlen, "cannot start the HTTP daemon on %s:%d", bind_addr, port);
        sim_http_stop();
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(daemon_h, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = di ? di->port : port;
    return 0;
}

void sim_http_stop(void)
{
    pthread_mutex_lock(&sim_lock);
    shutting_down = 1;
    pthread_mutex_unlock(&sim_lock);
    if (tthread_started) {
        pthread_mutex_lock(&tmx);
        tstop = 1;
        pthread_cond_signal(&tcv);
        pthread_mutex_unlock(&tmx);
        pthread_join(tthread, NULL);
        tthread_started = 0;
        pthread_cond_destroy(&tcv);
    }
    if (daemon_h) {
        MHD_stop_daemon(daemon_h);
        daemon_h = NULL;
    }
    free(theap);
    theap = NULL;
    tn = tcap = 0;
}
