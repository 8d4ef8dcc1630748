/* serve_ctx.c: what serve's handlers share (see src/serve/serve_ctx.h): the
 * clocks, the metrics under their lock, the HTML answers, the Redis pool. */
#include "serve_ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "redis/redis_sync.h"

#define REDIS_TIMEOUT_S 5

/* ================================ helpers ================================= */

void serve_init(struct serve *s, const struct sw_config *c)
{
    memset(s, 0, sizeof *s);
    s->cfg = c;
    pthread_mutex_init(&s->pool_lock, NULL);
    pthread_mutex_init(&s->metrics_lock, NULL);
    pthread_mutex_init(&s->limit_lock, NULL);
    pthread_mutex_init(&s->sentinel_lock, NULL);
}

void serve_free(struct serve *s)
{
    for (int i = 0; i < s->nidle; i++)
        redis_sync_free(s->idle[i]);
    s->nidle = 0;
    metrics_free(s->m);
    crypto_free(s->kr);
    oauth_keys_clear(&s->keys);
    oauth_keys_clear(&s->connect_keys);
    free(s->limit);
    pthread_mutex_destroy(&s->pool_lock);
    pthread_mutex_destroy(&s->metrics_lock);
    pthread_mutex_destroy(&s->limit_lock);
    pthread_mutex_destroy(&s->sentinel_lock);
}

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

/* serve_fail: see serve_ctx.h. */
void serve_fail(struct answer *a, unsigned status, const char *outcome, const char *title,
                 const char *text)
{
    serve_page(a, status, title, text);
    a->outcome = outcome;
}

/* serve_throttle: see serve_ctx.h. The table is bounded, so is the lock's
 * work: one set of IPLIMIT_WAYS entries. */
long serve_throttle(struct serve *s, struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    long long wait_ms;

    if (s->limit == NULL || ci == NULL)
        return 0;
    pthread_mutex_lock(&s->limit_lock);
    wait_ms = iplimit_take(s->limit, ci->client_addr, (long long)(serve_mono_s() * 1000));
    pthread_mutex_unlock(&s->limit_lock);
    if (wait_ms == 0)
        return 0;
    atomic_fetch_add(&s->throttled, 1);
    return (long)((wait_ms + 999) / 1000);
}

/* ================================= Redis ================================== */

/* serve_redis_get: an idle context first; connecting is the slow path. */
struct redis_sync *serve_redis_get(struct serve *s, char *err, size_t errlen)
{
    struct redis_sync *r = NULL;
    pthread_mutex_lock(&s->pool_lock);
    if (s->nidle > 0)
        r = s->idle[--s->nidle];
    pthread_mutex_unlock(&s->pool_lock);
    return r ? r : redis_sync_connect(s->cfg, REDIS_TIMEOUT_S, err, errlen);
}

/* serve_redis_put returns r for reuse unless it failed (hiredis 0.14 cannot
 * recover a context after an I/O error or a timeout). */
void serve_redis_put(struct serve *s, struct redis_sync *r)
{
    if (r == NULL)
        return;
    if (redis_sync_err(r) == 0) {
        pthread_mutex_lock(&s->pool_lock);
        if (s->nidle < SERVE_POOL_MAX) {
            s->idle[s->nidle++] = r;
            r = NULL;
        }
        pthread_mutex_unlock(&s->pool_lock);
    }
    if (r)
        redis_sync_free(r);
}

/* serve_redis_cmd runs one command; an error reply or a lost link logs the Redis error
 * (never the arguments, which may be secrets) and gives NULL. */
redisReply *serve_redis_cmd(struct redis_sync *r, int argc, const char **argv)
{
    char err[512];
    redisReply *rep = redis_sync_cmd(r, argc, argv, err, sizeof err);
    if (rep == NULL)
        log_error("Redis %s: %s", argv[0], err);
    return rep;
}

/* serve_redis_eval runs a script (redis_sync_eval: EVALSHA, EVAL on NOSCRIPT);
 * a failure is logged as serve_redis_cmd's. */
redisReply *serve_redis_eval(struct redis_sync *r, enum script_id id, int nkeys, int nargs, const char **args)
{
    char err[512];
    redisReply *rep = redis_sync_eval(r, id, nkeys, nargs, args, err, sizeof err);
    if (rep == NULL)
        log_error("Redis script %s: %s", script_name(id), err);
    return rep;
}
