#ifndef SW_SERVE_CTX_H
#define SW_SERVE_CTX_H
/* serve_ctx: what serve's handlers share, private to src/serve/: the state
 * of one `spotwatch serve` (configuration, keys, the Redis pool, the metrics)
 * and the helpers every handler uses (clocks, counting under the metrics
 * lock, HTML answers, pooled Redis calls). Not a contract for anything else.
 *
 * Dependencies go one way: serve.c (the server: start, routing, /healthz,
 * /metrics) calls login.c (/connect, /callback, src/serve/login.h); both use
 * this module; it uses neither. Its names keep the folder's prefix serve_
 * (serve_run alone is in serve.c). */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <hiredis/hiredis.h>
#include <microhttpd.h>
#include "base/config.h"
#include "base/crypto.h"
#include "http/http_server.h"
#include "http/http_sync.h"
#include "http/metrics.h"
#include "serve/iplimit.h"
#include "serve/oauth.h"
#include "redis/scripts.h"

#define SERVE_POOL_MAX 16            /* idle Redis contexts kept */

/* serve: everything the handlers share. Written before the daemon starts,
 * then read-only except where a lock says otherwise. */
struct serve {
    const struct sw_config *cfg;
    struct crypto_keyring *kr;      /* NULL = plaintext mode */
    struct oauth_keys keys;
    struct oauth_keys connect_keys; /* n == 0: /connect links are not signed */
    char redirect_uri[CFG_STR + 16];
    char accounts_base[CFG_STR];    /* without a trailing '/' */
    char api_base[CFG_STR];
    struct http_sync_opts http;     /* Spotify calls: the configured timeout, CA file, body cap */
    char cookie_path[CFG_STR];      /* the redirect URI's path: the login cookie's Path */
    int secure_cookie;              /* public-url is https: the cookie is Secure, __Secure- */

    pthread_mutex_t limit_lock;     /* guards limit */
    struct iplimit *limit;          /* /connect + /callback per client address (owned) */
    atomic_ulong throttled;         /* requests refused by limit */
    struct http_server_counters net;/* what the server refused (http_server counts) */

    pthread_mutex_t pool_lock;      /* guards idle[] */
    struct redis_sync *idle[SERVE_POOL_MAX];
    int nidle;

    pthread_mutex_t sentinel_lock;  /* guards the two below; held while the Sentinels are asked */
    char sentinel_line[1500];       /* /healthz's "sentinels:" line, as last asked */
    double sentinel_at;             /* serve_mono_s() when asked; 0 = never */

    pthread_mutex_t metrics_lock;   /* guards m and every family */
    struct metrics *m;
    struct metric_family *requests, *connects, *callbacks, *callback_seconds, *spotify_calls;
    struct metric_family *connect_refused;  /* by reason (connect_link_reason) */
    struct metric_family *refused;  /* requests and connections refused, by reason: mirrors
                                     * throttled and net when rendered */
};

/* answer: what a handler wants sent. */
struct answer {
    unsigned status;
    char *body;                     /* owned */
    size_t len;
    const char *ctype;
    char *location;                 /* owned; a 302's target */
    long retry_after_s;             /* > 0: a Retry-After header */
    const char *outcome;            /* callbacks: the metrics outcome */
    const char *allow;              /* a 405's Allow header */
    char *set_cookie;               /* owned; a Set-Cookie header's value */
};

/* serve_init zeroes s, sets its configuration and makes its locks;
 * serve_free frees what s holds (the pool, the metrics, the keys) and its
 * locks. */
void serve_init(struct serve *s, const struct sw_config *c);
void serve_free(struct serve *s);

/* serve_now_ms: Unix ms (wall clock: the state's expiry). */
long long serve_now_ms(void);
/* serve_mono_s: monotonic seconds, for durations. */
double serve_mono_s(void);
/* serve_count adds by to a counter under the metrics lock. */
void serve_count(struct serve *s, struct metric_family *f, const char *value, double by);
/* serve_observe adds one observation to a histogram under the metrics lock. */
void serve_observe(struct serve *s, struct metric_family *f, const char *value, double v);

/* serve_page sets an HTML answer from a title and a sentence (both escaped). */
void serve_page(struct answer *a, unsigned status, const char *title, const char *text);
/* serve_fail: serve_page plus the callback's metrics outcome. */
void serve_fail(struct answer *a, unsigned status, const char *outcome, const char *title,
                const char *text);

/* serve_throttle charges one request of the client of c to its address's
 * bucket: 0 when allowed, else the seconds it should wait (counted in
 * s->throttled, not logged). */
long serve_throttle(struct serve *s, struct MHD_Connection *c);

/* serve_redis_get returns a pooled (or new) context, or NULL + err when Redis
 * is down; give it back with serve_redis_put, which drops a failed one. */
struct redis_sync *serve_redis_get(struct serve *s, char *err, size_t errlen);
void serve_redis_put(struct serve *s, struct redis_sync *r);
/* serve_redis_cmd runs one command; NULL on an error reply or a lost link
 * (logged without the arguments). The caller frees the reply. */
redisReply *serve_redis_cmd(struct redis_sync *r, int argc, const char **argv);
/* serve_redis_eval runs a script by EVALSHA (EVAL on NOSCRIPT); args holds
 * the nkeys KEYS then the ARGV, nargs in all. NULL on any error. */
redisReply *serve_redis_eval(struct redis_sync *r, enum script_id id, int nkeys, int nargs,
                             const char **args);

#endif
