/* serve.c: `spotwatch serve`: the HTTP server, /healthz and /metrics, and
 * the Redis pool and Spotify client the login handlers (src/serve/login.c) use
 * (see include/serve/serve.h, src/serve/serve_int.h). libmicrohttpd runs one thread per connection, so every
 * handler may block on Redis (a small pool of synchronous hiredis contexts)
 * and on Spotify (libcurl's easy API). Shared state is the read-only
 * configuration and keys, the Redis pool (pool_lock) and the metrics
 * registry (metrics_lock). Secrets (tokens, the code, the PKCE verifier, the
 * client secret, the state and its key) are never logged nor shown. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "serve/connect_link.h"
#include "base/crypto.h"
#include "redis/key_schema.h"
#include "base/log.h"
#include "http/metrics.h"
#include "serve/oauth.h"
#include "redis/redis_sync.h"
#include "redis/scripts.h"
#include "base/keyring_file.h"
#include "serve/serve.h"
#include "serve_int.h"

#define REDIS_TIMEOUT_S 5
#define CONNECTION_LIMIT 256
#define CONNECTION_TIMEOUT_S 30

/* ================================ helpers ================================= */

long long serve_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CLOCK_MONOTONIC: durations must not jump with the wall clock. */
double serve_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void serve_count(struct serve *s, struct metric_family *f, const char *value, double by)
{
    pthread_mutex_lock(&s->metrics_lock);
    metrics_inc(f, value, by);
    pthread_mutex_unlock(&s->metrics_lock);
}

void serve_observe(struct serve *s, struct metric_family *f, const char *value, double v)
{
    pthread_mutex_lock(&s->metrics_lock);
    metrics_observe(f, value, v);
    pthread_mutex_unlock(&s->metrics_lock);
}

/* Only unreserved characters stay as they are, so any value is safe in a query. */
char *serve_url_escape(const char *in)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(in);
    char *out = malloc(3 * n + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* strip_slash copies a base URL without its trailing slashes. */
static void strip_slash(char *out, size_t n, const char *in)
{
    size_t l = strlen(in);
    while (l > 0 && in[l - 1] == '/')
        l--;
    snprintf(out, n, "%.*s", (int)l, in);
}

/* serve_page sets an HTML answer: a title and a sentence, both escaped here. */
void serve_page(struct answer *a, unsigned status, const char *title, const char *text)
{
    char *t = oauth_html_escape(title), *x = oauth_html_escape(text);
    free(a->body);
    a->body = NULL;
    a->status = status;
    a->ctype = "text/html; charset=utf-8";
    if (t && x &&
        asprintf(&a->body,
                 "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title>"
                 "<style>body{font-family:sans-serif;max-width:40em;margin:3em auto;padding:0 1em}"
                 "</style></head>\n<body><h1>%s</h1>\n<p>%s</p></body></html>\n",
                 t, t, x) < 0)
        a->body = NULL;
    a->len = a->body ? strlen(a->body) : 0;
    free(t);
    free(x);
}

static void text_answer(struct answer *a, unsigned status, const char *ctype, const char *text)
{
    free(a->body);
    a->body = strdup(text);
    a->len = a->body ? strlen(text) : 0;
    a->status = status;
    a->ctype = ctype;
}

/* serve_fail: see serve_int.h. */
void serve_fail(struct answer *a, unsigned status, const char *outcome, const char *title,
                 const char *text)
{
    serve_page(a, status, title, text);
    a->outcome = outcome;
}

/* ================================= Redis ================================== */

/* serve_redis_get: an idle context first; connecting is the slow path. */
redisContext *serve_redis_get(struct serve *s, char *err, size_t errlen)
{
    redisContext *r = NULL;
    pthread_mutex_lock(&s->pool_lock);
    if (s->nidle > 0)
        r = s->idle[--s->nidle];
    pthread_mutex_unlock(&s->pool_lock);
    return r ? r : redis_sync_connect(s->cfg, REDIS_TIMEOUT_S, err, errlen);
}

/* serve_redis_put returns r for reuse unless it failed (hiredis 0.14 cannot
 * recover a context after an I/O error or a timeout). */
void serve_redis_put(struct serve *s, redisContext *r)
{
    if (r == NULL)
        return;
    if (r->err == 0) {
        pthread_mutex_lock(&s->pool_lock);
        if (s->nidle < SERVE_POOL_MAX) {
            s->idle[s->nidle++] = r;
            r = NULL;
        }
        pthread_mutex_unlock(&s->pool_lock);
    }
    if (r)
        redisFree(r);
}

/* serve_redis_cmd runs one command; an error reply or a lost link logs the Redis error
 * (never the arguments, which may be secrets) and gives NULL. */
redisReply *serve_redis_cmd(redisContext *r, int argc, const char **argv)
{
    char err[512];
    redisReply *rep = redis_sync_cmd(r, argc, argv, err, sizeof err);
    if (rep == NULL)
        log_error("Redis %s: %s", argv[0], err);
    return rep;
}

/* serve_redis_eval runs a script (redis_sync_eval: EVALSHA, EVAL on NOSCRIPT);
 * a failure is logged as serve_redis_cmd's. */
redisReply *serve_redis_eval(redisContext *r, enum script_id id, int nkeys, int nargs, const char **args)
{
    char err[512];
    redisReply *rep = redis_sync_eval(r, id, nkeys, nargs, args, err, sizeof err);
    if (rep == NULL)
        log_error("Redis script %s: %s", script_name(id), err);
    return rep;
}

/* redis_health: 0 when Redis answers PING and every script is in its cache
 * (loading the missing ones), else -1 with the reason. */
static int redis_health(redisContext *r, char *why, size_t n)
{
    redisReply *rep = redisCommand(r, "PING");
    int ok = rep && rep->type == REDIS_REPLY_STATUS;
    if (rep)
        freeReplyObject(rep);
    if (!ok) {
        snprintf(why, n, "Redis does not answer");
        return -1;
    }
    return redis_sync_load_scripts(r, why, n);
}

/* ================================ Spotify ================================= */


static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    struct http_result *h = ud;
    size_t n = sz * nm;
    if (h->len + n > h->cap) {
        h->truncated = 1;
        return 0;   /* abort: a body this big is not an answer we expect */
    }
    char *nb = realloc(h->body, h->len + n + 1);
    if (nb == NULL)
        return 0;
    h->body = nb;
    memcpy(h->body + h->len, p, n);
    h->len += n;
    h->body[h->len] = '\0';
    return n;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    struct http_result *h = ud;
    size_t n = sz * nm;
    if (n > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        const char *v = p + 12;
        size_t l = n - 12;
        while (l && (*v == ' ' || *v == '\t')) {
            v++;
            l--;
        }
        while (l && (v[l - 1] == '\r' || v[l - 1] == '\n' || v[l - 1] == ' '))
            l--;
        snprintf(h->retry_after, sizeof h->retry_after, "%.*s", (int)l, v);
    }
    return n;
}

/* serve_http_call runs one request. body != NULL makes it a form POST. headers: a
 * NULL-terminated list. The answer (status 0 on a transport error) is in h;
 * free h->body. */
void serve_http_call(const struct serve *s, const char *url, const char *const *headers,
                      const char *body, struct http_result *h)
{
    struct curl_slist *hl = NULL;
    CURL *c = curl_easy_init();

    memset(h, 0, sizeof *h);
    h->cap = (size_t)s->cfg->max_body_bytes;
    if (c == NULL) {
        snprintf(h->error, sizeof h->error, "out of memory");
        return;
    }
    for (const char *const *p = headers; p && *p; p++)
        hl = curl_slist_append(hl, *p);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);   /* threads: no SIGALRM timeouts */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->cfg->http_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->cfg->http_timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->error);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (s->cfg->ca_file[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, s->cfg->ca_file);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
    } else {
        h->status = 0;
        if (h->error[0] == '\0')
            snprintf(h->error, sizeof h->error, "%s", curl_easy_strerror(rc));
    }
    if (h->body == NULL) {
        h->body = calloc(1, 1);
        h->len = 0;
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
}

void serve_http_free(struct http_result *h)
{
    if (h->body) {
        OPENSSL_cleanse(h->body, h->len);   /* token answers hold secrets */
        free(h->body);
    }
    h->body = NULL;
}

/* ================================ the rest ================================ */

static void handle_healthz(struct serve *s, struct answer *a)
{
    char why[512];
    redisContext *r = serve_redis_get(s, why, sizeof why);
    if (r == NULL || redis_health(r, why, sizeof why) != 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "unhealthy: %s\n", why);
        text_answer(a, 503, "text/plain; charset=utf-8", msg);
    } else {
        text_answer(a, 200, "text/plain; charset=utf-8", "ok\n");
    }
    serve_redis_put(s, r);
}

static void handle_metrics(struct serve *s, struct answer *a)
{
    char *text = NULL;
    size_t len = 0;
    pthread_mutex_lock(&s->metrics_lock);
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
    struct MHD_Response *r = MHD_create_response_from_buffer(a->len, a->body ? a->body : (void *)"",
                                                             MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", a->ctype ? a->ctype : "text/plain; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    /* The callback's URL holds a code and a state: never pass it on. */
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
    if (a->location)
        MHD_add_response_header(r, "Location", a->location);
    if (a->retry_after_s > 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%ld", a->retry_after_s);
        MHD_add_response_header(r, "Retry-After", ra);
    }
    if (a->status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, "Allow", a->allow ? a->allow : "GET");
    enum MHD_Result ret = MHD_queue_response(c, a->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_len, void **con_cls)
{
    struct serve *s = cls;
    struct answer a = {0};
    const char *handler = "other";
    (void)version;
    (void)upload;

    /* First call: headers only. Later calls: body chunks, ignored (every
     * endpoint is a GET), then the final call, where we answer. */
    if (*con_cls == NULL) {
        *con_cls = s;
        return MHD_YES;
    }
    if (*upload_len) {
        *upload_len = 0;
        return MHD_YES;
    }
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
    if (strcmp(handler, "other") == 0) {
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
    return ret;
}

/* ============================== start and stop ============================ */

static int serve_metrics(struct serve *s)
{
    static const char *const outcomes[] = {
        "ok", "denied", "invalid_state", "expired_state", "replayed_state", "bad_code",
        "rate_limited", "spotify_error", "invalid_client", "not_registered", "duplicate_account",
        "user_conflict", "error"};
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
    if (!s->requests || !s->connects || !s->callbacks || !s->callback_seconds || !s->spotify_calls ||
        !s->connect_refused)
        return -1;
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++)
        metrics_inc(s->callbacks, outcomes[i], 0);
    for (int v = CONNECT_LINK_OK + 1; v < CONNECT_LINK_VERDICTS; v++)
        metrics_inc(s->connect_refused, connect_link_reason(v), 0);
    return 0;
}

static void serve_free(struct serve *s)
{
    for (int i = 0; i < s->nidle; i++)
        redisFree(s->idle[i]);
    s->nidle = 0;
    metrics_free(s->m);
    crypto_free(s->kr);
    oauth_keys_clear(&s->keys);
    oauth_keys_clear(&s->connect_keys);
    pthread_mutex_destroy(&s->pool_lock);
    pthread_mutex_destroy(&s->metrics_lock);
}

int serve_run(const struct sw_config *c, char *err, size_t errlen)
{
    struct serve s;
    struct sockaddr_storage ss;
    struct MHD_Daemon *d = NULL;
    sigset_t set;
    int rc = -1, sig = 0, curl_ok = 0;

    memset(&s, 0, sizeof s);
    s.cfg = c;
    pthread_mutex_init(&s.pool_lock, NULL);
    pthread_mutex_init(&s.metrics_lock, NULL);
    if (oauth_redirect_uri(c->public_url, s.redirect_uri, sizeof s.redirect_uri, err, errlen) != 0)
        goto out;
    strip_slash(s.accounts_base, sizeof s.accounts_base, c->accounts_base);
    strip_slash(s.api_base, sizeof s.api_base, c->api_base);
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
    } else {
        log_warn("/connect is not authenticated: set connect-key-file, or expose serve only to "
                 "your backend");
    }
    if (metrics_listen_addr(c->http_listen, &ss, err, errlen) != 0)
        goto out;
    if (serve_metrics(&s) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl");
        goto out;
    }
    curl_ok = 1;

    /* Redis need not be up yet (healthz says so), but say it early. */
    char why[512];
    redisContext *r = serve_redis_get(&s, why, sizeof why);
    if (r == NULL || redis_health(r, why, sizeof why) != 0)
        log_warn("Redis is not ready yet: %s", why);
    serve_redis_put(&s, r);

    /* Block the stop signals in every thread; this one waits for them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &s,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
                         MHD_OPTION_END);
    if (d == NULL) {
        snprintf(err, errlen, "cannot listen on %s (address in use?)", c->http_listen);
        goto out;
    }
    log_info("serve: listening on %s; redirect URI %s", c->http_listen, s.redirect_uri);
    while (sigwait(&set, &sig) != 0 || (sig != SIGINT && sig != SIGTERM))
        ;
    log_info("serve: %s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
out:
    if (d)
        MHD_stop_daemon(d);   /* waits for the connection threads */
    if (curl_ok)
        curl_global_cleanup();
    serve_free(&s);
    return rc;
}
