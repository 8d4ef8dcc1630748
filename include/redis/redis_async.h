#ifndef SW_REDIS_ASYNC_H
#define SW_REDIS_ASYNC_H
/* redis_async: one asynchronous Redis connection (hiredis 0.14 async + libev) that
 * survives Redis going away. hiredis 0.14 has no reconnect and no command
 * timeouts, so redis_async drops the context on disconnect, reports the link down,
 * and reconnects from a backoff timer (100 ms doubling to 5 s), logging once
 * per outage. On connect it sends AUTH (user + password for ACLs), SELECT and
 * SCRIPT LOAD for every script before reporting the link up. With
 * redis-sentinel set, each connect first asks the Sentinels for the primary
 * and the handshake also checks ROLE; redis_async_open also keeps a
 * +switch-master subscription (include/redis/redis_sentinel.h). With
 * redis-cluster yes, redis_async_open returns a handle that routes every
 * call through a cluster router (include/redis/cluster_async.h): the same
 * calls, each command sent to the node that serves its key. */
#include <stddef.h>
#include <ev.h>
#include <hiredis/hiredis.h>
#include "base/config.h"
#include "redis/redis_tls.h"
#include "redis/redis_sentinel.h"
#include "redis/scripts.h"

struct redis_async;

struct redis_async_opts {
    const char *host;
    int port;
    const char *user;      /* "" = default user */
    const char *password;  /* "" = none */
    int db;
    long command_timeout_ms; /* a reply (or connect) older than this drops the
                                connection so callers see NULL; 0 = 10000.
                                So no command may block longer (BLPOP, SUBSCRIBE). */
    const struct redis_tls *tls; /* NULL: plain TCP; else TLS with these settings
                                    (kept by the caller until redis_async_free) */
    struct redis_sentinel *sentinel; /* NULL: host/port is the server; else the
                                        primary is asked of these Sentinels before
                                        every connect, ROLE verified after it
                                        (include/redis/redis_sentinel.h); owned by
                                        redis_async once redis_async_new
                                        returns it */
    int fast_retry;        /* 1: reconnect at least every 0.5 s (not 5 s), as with
                              Sentinel: a cluster node expected back soon */
};

/* reply is NULL when no answer came (the link lost; in cluster mode also a
 * redirect that could not be followed, TRYAGAIN or CLUSTERDOWN: see
 * cluster_async.h); it is freed after the
 * callback returns. */
typedef void redis_async_cb(struct redis_async *l, redisReply *reply, void *ud);
typedef void redis_async_state_cb(struct redis_async *l, int up, void *ud);

/* redis_async_new starts connecting at once; on_state is called on every up/down
 * change. Returns NULL only on allocation failure. */
struct redis_async *redis_async_new(struct ev_loop *loop, const struct redis_async_opts *o, redis_async_state_cb *on_state,
                        void *ud);
/* redis_async_open is redis_async_new for the configuration's server:
 * redis-host, redis-port, AUTH, SELECT and, with redis-tls yes, TLS settings
 * it builds and owns (include/redis/redis_tls.h). Returns NULL with err
 * when those cannot be built (a missing CA file, a key readable by others)
 * or memory runs out. */
struct redis_async *redis_async_open(struct ev_loop *loop, const struct sw_config *c, redis_async_state_cb *on_state,
                                     void *ud, char *err, size_t errlen);
/* redis_async_free closes the link; callbacks of commands still pending are not
 * called. Not to be called from inside an redis_async callback. */
void redis_async_free(struct redis_async *l);
/* redis_async_reset drops the connection soon (from the loop, never inside
 * this call): every pending command's callback gets NULL, then the link
 * reconnects as after any loss. For a server known to be gone while its
 * socket stays open (a hung cluster node replaced by its replica); why is
 * logged and must hold no secret. */
void redis_async_reset(struct redis_async *l, const char *why);
int redis_async_up(const struct redis_async *l);
/* redis_async_reconnects: times the link came back up after its first up. */
long redis_async_reconnects(const struct redis_async *l);

/* redis_async_command: like redisAsyncCommandArgv. Returns -1 if the link is down
 * (cb is then not called). */
int redis_async_command(struct redis_async *l, redis_async_cb *cb, void *ud, int argc, const char **argv,
                  const size_t *argvlen);

/* redis_async_command_at: redis_async_command sent to the node that
 * serves route_key (NULL: argv[1]) in cluster mode; for a command without
 * a key that must reach a given app's node (WAIT after its batch). Without
 * a cluster there is one node: route_key is ignored. */
int redis_async_command_at(struct redis_async *l, const char *route_key, redis_async_cb *cb, void *ud, int argc,
                           const char **argv, const size_t *argvlen);

/* redis_async_route_id: equal numbers for keys served by the same link
 * (always 0 without a cluster); -1 when no node serves key's slot. */
int redis_async_route_id(const struct redis_async *l, const char *key);

/* redis_async_cluster_stats: MOVED and ASK redirections followed and slot
 * maps read since start; all 0 without a cluster. */
void redis_async_cluster_stats(const struct redis_async *l, long *moved, long *ask, long *refreshes);

/* redis_async_eval runs a script with EVALSHA; on NOSCRIPT (a restart or failover
 * flushed the cache) it loads the script and retries once. argv holds the
 * nkeys KEYS then the ARGV; lengths may be NULL for C strings. In cluster
 * mode it goes to the node of KEYS[1]: every key must share its slot. */
int redis_async_eval(struct redis_async *l, enum script_id id, int nkeys, int argc, const char **argv,
               const size_t *argvlen, redis_async_cb *cb, void *ud);

#endif
