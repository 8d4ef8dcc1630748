/* serve.c: `spotwatch serve`: the server (start, stop, routing, the
 * security headers of every answer), /healthz and /metrics; GET /connect and
 * GET /callback are login.c's (src/serve/login.h). What the handlers share,
 * the configuration, keys, Redis pool and metrics, is src/serve/serve_ctx.h.
 * (See include/serve/serve.h.) libmicrohttpd runs one thread per connection
 * (src/http/http_server.c), so every handler may block on Redis (a small pool
 * of synchronous hiredis contexts) and on Spotify (the blocking client,
 * src/http/http_sync.c). Shared state is the read-only configuration and
 * keys, the Redis pool (pool_lock) and the metrics registry (metrics_lock).
 * Secrets (tokens, the code, the PKCE verifier, the client secret, the state
 * and its key) are never logged nor shown. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <microhttpd.h>
#include <openssl/rand.h>

#include "serve/connect_link.h"
#include "serve/iplimit.h"
#include "base/crypto.h"
#include "redis/cluster_topo.h"
#include "redis/key_schema.h"
#include "redis/repl_info.h"
#include "redis/redis_sentinel.h"
#include "base/log.h"
#include "http/http_server.h"
#include "http/http_sync.h"
#include "http/metrics.h"
#include "serve/oauth.h"
#include "redis/redis_sync.h"
#include "redis/scripts.h"
#include "base/keyring_file.h"
#include "serve/serve.h"
#include "serve/admin.h"
#include "base/sdnotify.h"
#include "build_info.h"
#include "login.h"
#include "serve_ctx.h"

/* CONNECTION_LIMIT: connections at once (a thread each). Well above what
 * serve-connections-per-ip lets one address hold, so a few slow addresses
 * cannot take every slot (and the request deadline frees slots anyway). */
#define CONNECTION_LIMIT 512
#define CONNECTION_TIMEOUT_S 30
/* CONNECTION_MEMORY: what a connection may use, the request line and headers
 * included (the longest state, a login cookie and a browser's headers need
 * a few KiB): bigger headers get a 431 and cost nothing more. */
#define CONNECTION_MEMORY (16 * 1024)
#define SUMMARY_INTERVAL_S 60    /* refusals are summed up in one log line this often */

/* ================================ helpers ================================= */

/* strip_slash copies a base URL without its trailing slashes. */
static void strip_slash(char *out, size_t n, const char *in)
{
    size_t l = strlen(in);
    while (l > 0 && in[l - 1] == '/')
        l--;
    snprintf(out, n, "%.*s", (int)l, in);
}

static void text_answer(struct answer *a, unsigned status, const char *ctype, const char *text)
{
    free(a->body);
    a->body = strdup(text);
    a->len = a->body ? strlen(text) : 0;
    a->status = status;
    a->ctype = ctype;
}

/* redis_health: 0 when Redis answers PING and every script is in its cache
 * (loading the missing ones), else -1 with the reason. */
static int redis_health(struct redis_sync *r, char *why, size_t n)
{
    redisReply *rep = redis_sync_command(r, "PING");
    int ok = rep && rep->type == REDIS_REPLY_STATUS;
    if (rep)
        freeReplyObject(rep);
    if (!ok) {
        snprintf(why, n, "Redis does not answer");
        return -1;
    }
    return redis_sync_load_scripts(r, why, n);
}

/* ================================ the rest ================================ */

/* A /healthz answer reuses what the Sentinels said for this long: /healthz
 * is open to anyone, and each request would otherwise open a connection to
 * every Sentinel (up to REDIS_SENTINEL_TIMEOUT_S each). */
#define SENTINEL_REUSE_S 1.0

/* sentinel_line copies the "sentinels:" line into buf ("" without
 * Sentinel), asking the Sentinels when the last answer is older than
 * SENTINEL_REUSE_S. One request asks at a time; the others wait for it
 * and reuse its answer. */
static void sentinel_line(struct serve *s, char *buf, size_t n)
{
    char why[512];
    pthread_mutex_lock(&s->sentinel_lock);
    double now = serve_mono_s();
    if (s->sentinel_at == 0 || now - s->sentinel_at >= SENTINEL_REUSE_S) {
        struct repl_sentinels *sv = malloc(sizeof *sv);
        s->sentinel_line[0] = '\0';
        if (sv && redis_sentinel_describe(s->cfg, sv, why, sizeof why) == 0)
            repl_sentinels_text(sv, s->sentinel_line, sizeof s->sentinel_line);
        free(sv);
        s->sentinel_at = serve_mono_s();
    }
    snprintf(buf, n, "%s", s->sentinel_line);
    pthread_mutex_unlock(&s->sentinel_lock);
}

static void handle_healthz(struct serve *s, struct answer *a)
{
    char why[512];
    struct redis_sync *r = serve_redis_get(s, why, sizeof why);
    if (r == NULL || redis_health(r, why, sizeof why) != 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "unhealthy: %s\n", why);
        text_answer(a, 503, "text/plain; charset=utf-8", msg);
        serve_redis_put(s, r);
        return;
    }
    /* "ok", then the topology when Redis tells it (README "What a
     * failover may lose"); its values are printable ASCII only. */
    struct repl_info t;
    char msg[9800], line[1500] = "", sline[1500] = "", topo[8192] = "";
    cJSON *ct;
    if (redis_sync_single(r) && repl_info_fetch(redis_sync_single(r), &t, why, sizeof why) == 0) {
        repl_info_text(&t, line, sizeof line);
    } else if ((ct = cluster_topo_fetch(r, s->cfg->key_prefix, why, sizeof why)) != NULL) {
        /* Cluster mode: the nodes and which one each app lives on. */
        cluster_topo_text(ct, topo, sizeof topo);
        cJSON_Delete(ct);
    }
    serve_redis_put(s, r);   /* not held while the Sentinels are asked (a second each at most) */
    /* with Sentinel, what the Sentinels see (README "Sentinel") */
    sentinel_line(s, sline, sizeof sline);
    snprintf(msg, sizeof msg, "ok\n%s%s%s%s%s%s%s%s", line[0] ? "redis: " : "", line, line[0] ? "\n" : "",
             topo[0] ? "redis: " : "", topo, sline[0] ? "sentinels: " : "", sline, sline[0] ? "\n" : "");
    text_answer(a, 200, "text/plain; charset=utf-8", msg);
}

/* refusal: one kind of refusal, counted outside the registry. */
struct refusal {
    const char *reason;       /* the metrics label */
    unsigned long n;
};

#define REFUSAL_KINDS 4

/* refusals reads the refusal counters (atomics kept by serve_throttle and
 * http_server) in one place, for /metrics and the summary line. */
static void refusals(struct serve *s, struct refusal out[REFUSAL_KINDS])
{
    out[0] = (struct refusal){"rate_limited", atomic_load(&s->throttled)};
    out[1] = (struct refusal){"connection_limit", atomic_load(&s->net.conn_refused)};
    out[2] = (struct refusal){"request_deadline", atomic_load(&s->net.deadline_closed)};
    out[3] = (struct refusal){"bad_request", atomic_load(&s->net.client_errors)};
}

static void handle_metrics(struct serve *s, struct answer *a)
{
    char *text = NULL;
    size_t len = 0;
    struct refusal r[REFUSAL_KINDS];
    refusals(s, r);
    pthread_mutex_lock(&s->metrics_lock);
    metrics_process_update(s->m);
    for (int i = 0; i < REFUSAL_KINDS; i++)
        metrics_set(s->refused, r[i].reason, (double)r[i].n);
    int rc = metrics_render(s->m, &text, &len);
    pthread_mutex_unlock(&s->metrics_lock);
    if (rc != 0) {
        text_answer(a, 500, "text/plain; charset=utf-8", "out of memory\n");
        return;
    }
    free(a->body);
    a->body = text;
    a->len = len;
    a->status = 200;
    a->ctype = "text/plain; version=0.0.4; charset=utf-8";
}

static enum MHD_Result send_answer(struct MHD_Connection *c, struct answer *a)
{
    char ra[24];
    if (a->retry_after_s > 0)
        snprintf(ra, sizeof ra, "%ld", a->retry_after_s);
    const char *const extra[] = {
        "X-Content-Type-Options", "nosniff",
        /* The callback's URL holds a code and a state: never pass it on. */
        "Referrer-Policy", "no-referrer",
        "X-Frame-Options", "DENY",
        "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'",
        "Location", a->location,
        "Set-Cookie", a->set_cookie,
        "Retry-After", a->retry_after_s > 0 ? ra : NULL,
        "Allow", a->status == MHD_HTTP_METHOD_NOT_ALLOWED ? (a->allow ? a->allow : "GET") : NULL,
        NULL};
    return http_server_reply(c, a->status, a->ctype ? a->ctype : "text/plain; charset=utf-8",
                             a->body, a->len, extra);
}

/* on_request routes a request (http_server's prologue has run) and counts it. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method)
{
    struct serve *s = cls;
    struct answer a = {0};
    const char *handler = "other";

    if (strcmp(url, "/connect") == 0)
        handler = "/connect";
    else if (strcmp(url, "/callback") == 0)
        handler = "/callback";
    else if (strcmp(url, "/healthz") == 0)
        handler = "/healthz";
    else if (strcmp(url, "/metrics") == 0)
        handler = "/metrics";

    double t0 = serve_mono_s();
    /* HEAD only where it is harmless: a HEAD of a callback (a link checker,
     * a prefetch) must not spend its state. */
    int head_ok = strcmp(handler, "/healthz") == 0 || strcmp(handler, "/metrics") == 0;
    /* The login endpoints are limited per client address, first of all: a
     * refused request costs a table lookup, no Redis, no log line. */
    long wait_s = head_ok || strcmp(handler, "other") == 0 ? 0 : serve_throttle(s, c);
    if (wait_s > 0) {
        serve_fail(&a, 429, "throttled", "Too many requests",
                   "Too many requests from your address; try again in a minute.");
        a.retry_after_s = wait_s;
    } else if (strcmp(handler, "other") == 0) {
        serve_page(&a, 404, "Not found", "There is nothing here.");
    } else if (strcmp(method, "GET") != 0 && !(head_ok && strcmp(method, "HEAD") == 0)) {
        serve_page(&a, 405, "Method not allowed", head_ok ? "Use GET or HEAD." : "Use GET.");
        a.allow = head_ok ? "GET, HEAD" : "GET";
    } else if (strcmp(handler, "/connect") == 0) {
        login_connect(s, c, &a);
    } else if (strcmp(handler, "/callback") == 0) {
        login_callback(s, c, &a);
    } else if (strcmp(handler, "/healthz") == 0) {
        handle_healthz(s, &a);
    } else {
        handle_metrics(s, &a);
    }
    if (a.body == NULL && a.status != 302)
        serve_page(&a, a.status ? a.status : 500, "Error", "Something went wrong.");

    char code[8];
    snprintf(code, sizeof code, "%u", a.status);
    const char *labels[] = {handler, code};
    pthread_mutex_lock(&s->metrics_lock);
    metrics_incv(s->requests, labels, 1);
    if (strcmp(handler, "/callback") == 0 && strcmp(method, "GET") == 0) {
        metrics_inc(s->callbacks, a.outcome ? a.outcome : "error", 1);
        metrics_observe(s->callback_seconds, NULL, serve_mono_s() - t0);
    }
    pthread_mutex_unlock(&s->metrics_lock);

    enum MHD_Result ret = send_answer(c, &a);
    free(a.body);
    free(a.location);
    free(a.set_cookie);
    return ret;
}

/* ============================== start and stop ============================ */

static int serve_metrics(struct serve *s)
{
    static const char *const outcomes[] = {
        "ok", "denied", "invalid_state", "expired_state", "replayed_state", "bad_code",
        "rate_limited", "spotify_error", "invalid_client", "not_registered", "duplicate_account",
        "user_conflict", "no_cookie", "cookie_mismatch", "throttled", "error", "app_full"};
    size_t nb;
    const double *lb = metrics_latency_buckets(&nb);

    if ((s->m = metrics_new()) == NULL)
        return -1;
    s->requests = metrics_counter(s->m, "spotwatch_http_requests_total",
                                  "HTTP requests answered by serve, by handler and status code.",
                                  "handler,code");
    s->connects = metrics_counter(s->m, "spotwatch_oauth_connects_total",
                                  "Logins started: /connect answers that sent a user to Spotify.", NULL);
    s->callbacks = metrics_counter(s->m, "spotwatch_oauth_callbacks_total",
                                   "OAuth callbacks, by outcome.", "outcome");
    s->callback_seconds = metrics_histogram(s->m, "spotwatch_oauth_callback_duration_seconds",
                                            "Time to answer an OAuth callback.", NULL, lb, nb);
    s->spotify_calls = metrics_histogram(s->m, "spotwatch_oauth_spotify_request_duration_seconds",
                                         "Spotify calls made by OAuth callbacks, by endpoint.",
                                         "endpoint", lb, nb);
    s->connect_refused = metrics_counter(s->m, "spotwatch_oauth_connect_refused_total",
                                         "/connect links refused (connect-key-file), by reason.",
                                         "reason");
    s->refused = metrics_counter(s->m, "spotwatch_serve_refused_total",
                                 "Requests and connections serve refused before answering, by "
                                 "reason (rate_limited: over serve-rate-per-ip; connection_limit: "
                                 "over a connection limit; request_deadline: not whole within "
                                 "serve-request-timeout-ms; bad_request: malformed, too large "
                                 "or abandoned).", "reason");
    if (!s->requests || !s->connects || !s->callbacks || !s->callback_seconds || !s->spotify_calls ||
        !s->connect_refused || !s->refused)
        return -1;
    if (metrics_process_add(s->m, SW_BUILD_VERSION, "serve") != 0)
        return -1;
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++)
        metrics_inc(s->callbacks, outcomes[i], 0);
    /* Known label values show from the start (at 0): each handler's 200,
     * and both Spotify endpoints a callback calls. */
    static const char *const handlers[] = {"/connect", "/callback", "/healthz", "/metrics"};
    static const char *const endpoints[] = {"token", "me"};
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++) {
        const char *v[] = {handlers[i], "200"};
        metrics_touchv(s->requests, v);
    }
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++)
        metrics_touchv(s->spotify_calls, &endpoints[i]);
    for (int v = CONNECT_LINK_OK + 1; v < CONNECT_LINK_VERDICTS; v++)
        metrics_inc(s->connect_refused, connect_link_reason(v), 0);
    struct refusal r[REFUSAL_KINDS];
    refusals(s, r);
    for (int i = 0; i < REFUSAL_KINDS; i++)
        metrics_inc(s->refused, r[i].reason, 0);
    return 0;
}

/* summary logs what was refused since the last summary, in one line, when
 * anything was: a flood shows as a number, not as a flood of lines. */
static void summary(struct serve *s, struct refusal last[REFUSAL_KINDS], double seconds)
{
    struct refusal now[REFUSAL_KINDS];
    char line[256];
    size_t o = 0;

    refusals(s, now);
    for (int i = 0; i < REFUSAL_KINDS; i++) {
        unsigned long d = now[i].n - last[i].n;
        if (d > 0 && o < sizeof line)
            o += (size_t)snprintf(line + o, sizeof line - o, "%s%lu %s", o ? ", " : "", d, now[i].reason);
        last[i] = now[i];
    }
    if (o > 0)
        log_warn("serve: refused in the last %.0f s: %s (spotwatch_serve_refused_total)", seconds, line);
}

/* login_limits: the cookie's Path and Secure, and the per-address table. */
static int login_limits(struct serve *s, const struct sw_config *c, char *err, size_t errlen)
{
    const char *host = strstr(s->redirect_uri, "://");
    const char *path = host ? strchr(host + 3, '/') : NULL;
    if (path == NULL || strpbrk(path, ";,") != NULL) {
        snprintf(err, errlen, "public-url: the redirect URI's path cannot be a cookie path");
        return -1;
    }
    snprintf(s->cookie_path, sizeof s->cookie_path, "%s", path);
    s->secure_cookie = strncmp(s->redirect_uri, "https://", 8) == 0;
    if ((s->limit = malloc(sizeof *s->limit)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uint64_t seed[2];
    if (RAND_bytes((unsigned char *)seed, sizeof seed) != 1) {
        snprintf(err, errlen, "no randomness");
        return -1;
    }
    iplimit_init(s->limit, c->serve_rate_per_ip, c->serve_burst_per_ip, seed[0], seed[1]);
    return 0;
}

/* serve_notify_ready: READY=1 to the service manager, once serve listens. */
static void serve_notify_ready(const struct sw_config *c, const char *what)
{
    char status[CFG_STR + 32];
    snprintf(status, sizeof status, "%s: listening on %s", what, c->http_listen);
    if (sdnotify_status("READY=1", status) < 0)
        log_warn("NOTIFY_SOCKET: cannot tell the service manager we are ready: %s", strerror(errno));
}

/* serve_reload (SIGHUP): re-read the configuration. The handlers' threads
 * read the configuration without a lock, so serve applies only what lives
 * outside it: log-level, log-format and log-file (reopened: logrotate);
 * every other change is named as
 * needing a restart. Requests in progress are not touched. */
static void serve_reload(const struct sw_config *c)
{
    char changed[1024], refused[1024], err[512];
    struct sw_config *copy = malloc(sizeof *copy);

    sdnotify_status("RELOADING=1", "reloading the configuration");
    if (copy == NULL) {
        log_error("SIGHUP: out of memory; configuration not reloaded");
    } else {
        *copy = *c;
        if (config_reload(copy, changed, sizeof changed, refused, sizeof refused, err, sizeof err) != 0) {
            log_error("SIGHUP: configuration not reloaded, the old one stays: %s", err);
        } else {
            log_reconfigure(copy->log_level, copy->log_format);
            if (log_open_file(copy->log_file, err, sizeof err) != 0)
                log_error("SIGHUP: %s; logging on to the old file", err);
            log_info("SIGHUP: configuration reloaded from %s; log-level %s, log-format %s",
                     c->source[0] ? c->source : "(no file)",
                     copy->log_level == LOG_DEBUG ? "debug" : copy->log_level == LOG_INFO ? "info"
                     : copy->log_level == LOG_WARN ? "warn" : "error",
                     copy->log_format == LOG_JSON ? "json" : "text");
            char *save = NULL;
            for (char *p = strtok_r(changed, " ", &save); p; p = strtok_r(NULL, " ", &save))
                if (strncmp(p, "log-", 4) != 0)   /* log-level, log-format, log-file */
                    log_warn("SIGHUP: %s changed: serve reads it at start (restart to apply)", p);
            if (refused[0])
                log_warn("SIGHUP: changed but only read at start (restart to apply): %s", refused);
        }
        explicit_bzero(copy, sizeof *copy);
        free(copy);
    }
    serve_notify_ready(c, "reloaded");
}

int serve_run(const struct sw_config *c, char *err, size_t errlen)
{
    struct serve s;
    struct sockaddr_storage ss;
    struct http_server *d = NULL;
    struct admin *admin = NULL;     /* the dashboard (admin-listen), off when NULL */
    sigset_t set;
    int rc = -1, sig = 0, curl_ok = 0;

    serve_init(&s, c);
    if (log_open_file(c->log_file, err, errlen) != 0)
        goto out;
    if (oauth_redirect_uri(c->public_url, s.redirect_uri, sizeof s.redirect_uri, err, errlen) != 0)
        goto out;
    strip_slash(s.accounts_base, sizeof s.accounts_base, c->accounts_base);
    strip_slash(s.api_base, sizeof s.api_base, c->api_base);
    s.http.timeout_ms = c->http_timeout_ms;
    s.http.ca_file = c->ca_file;
    s.http.max_body = (size_t)c->max_body_bytes;
    if (c->connect_allowed_origins[0]) {
        /* Every entry must be an origin, or a typo would silently allow nothing. */
        char list[CFG_STR], origin[OAUTH_ORIGIN_MAX];
        snprintf(list, sizeof list, "%s", c->connect_allowed_origins);
        for (char *save = NULL, *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
            if (oauth_origin(p, origin, sizeof origin) != 0) {
                snprintf(err, errlen, "connect-allowed-origins: '%s' is not an http(s) origin", p);
                goto out;
            }
        }
    }
    if (keyring_file_load(c, &s.kr, 1, err, errlen) != 0)
        goto out;
    if (c->state_key_file[0]) {
        if (oauth_keys_load(&s.keys, c->state_key_file, err, errlen) != 0)
            goto out;
    } else {
        if (oauth_keys_random(&s.keys, err, errlen) != 0)
            goto out;
        log_warn("no state-key-file: signing OAuth states with a random key; logins in progress "
                 "fail after a restart, and several serve processes cannot share them");
    }
    if (c->connect_key_file[0]) {
        if (oauth_keys_load_file(&s.connect_keys, c->connect_key_file, "connect key file", err,
                                 errlen) != 0)
            goto out;
        log_info("serve: /connect takes only links signed with the key in connect-key-file");
    } else if (c->connect_open) {
        log_warn("/connect is not authenticated: set connect-key-file, or expose serve only to "
                 "your backend");
    } else {
        /* Closed by default: an open /connect lets anyone who reaches serve
         * put their Spotify account on any user id. */
        snprintf(err, errlen, "no connect-key-file: /connect would let anyone who can reach serve "
                              "connect their Spotify account to any user id; set connect-key-file "
                              "(links signed by your web app), or connect-open yes if only a "
                              "trusted network reaches serve");
        goto out;
    }
    if (login_limits(&s, c, err, errlen) != 0)
        goto out;
    /* The address is checked here, before Redis is asked; the server
     * starts listening last. */
    if (http_server_listen_addr(c->http_listen, &ss, err, errlen) != 0)
        goto out;
    if (serve_metrics(&s) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (http_sync_global_init() != 0) {
        snprintf(err, errlen, "cannot initialise libcurl");
        goto out;
    }
    curl_ok = 1;

    /* Redis need not be up yet (healthz says so), but say it early. */
    char why[512];
    struct redis_sync *r = serve_redis_get(&s, why, sizeof why);
    if (r == NULL || redis_health(r, why, sizeof why) != 0)
        log_warn("Redis is not ready yet: %s", why);
    serve_redis_put(&s, r);

    /* Block the stop signals in every thread; this one waits for them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Handlers block on Redis and Spotify: a thread per connection. */
    struct http_server_opts so = {.listen_addr = c->http_listen, .what = "",
                                  .thread_per_connection = 1, .connection_limit = CONNECTION_LIMIT,
                                  .connection_timeout_s = CONNECTION_TIMEOUT_S,
                                  .per_ip_limit = (unsigned)c->serve_connections_per_ip,
                                  .memory_limit = CONNECTION_MEMORY,
                                  .request_timeout_ms = c->serve_request_timeout_ms,
                                  .counters = &s.net, .handler = on_request, .cls = &s};
    if ((d = http_server_start(&so, err, errlen)) == NULL)
        goto out;
    log_info("serve: listening on %s; redirect URI %s", c->http_listen, s.redirect_uri);
    if (c->admin_listen[0] && (admin = admin_start(&s, err, errlen)) == NULL)
        goto out;
    serve_notify_ready(c, "ready");
    struct refusal last[REFUSAL_KINDS];
    double since = serve_mono_s();
    refusals(&s, last);
    for (;;) {
        struct timespec tick = {1, 0};
        sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (sig == SIGHUP)
            serve_reload(c);
        if (serve_mono_s() - since >= SUMMARY_INTERVAL_S) {
            summary(&s, last, serve_mono_s() - since);
            since = serve_mono_s();
        }
    }
    sdnotify_status("STOPPING=1", "stopping: finishing the requests in progress");
    summary(&s, last, serve_mono_s() - since);
    log_info("serve: %s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
out:
    admin_stop(admin);     /* before the pool it borrows from goes */
    http_server_stop(d);   /* waits for the connection threads */
    if (curl_ok)
        http_sync_global_cleanup();
    serve_free(&s);
    return rc;
}
