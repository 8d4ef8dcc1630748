#ifndef SW_CLUSTER_ASYNC_H
#define SW_CLUSTER_ASYNC_H
/* cluster_async: the worker's Redis Cluster router (redis-cluster yes).
 * redis_async_open builds one when the configuration asks for a cluster and
 * hides it behind the ordinary struct redis_async: the worker keeps calling
 * redis_async_command / redis_async_eval on its one handle.
 *
 * Contract:
 * - The slot map (include/redis/cluster_map.h) is read with CLUSTER SLOTS
 *   from any reachable node: redis-host:redis-port first, then
 *   redis-cluster-nodes, then the nodes of the last map.
 * - One ordinary single-node redis_async link per primary (AUTH, TLS with
 *   redis-tls yes, SCRIPT LOAD of every script; never SELECT: a cluster has
 *   only db 0). Links to nodes that no longer serve a slot are dropped once
 *   nothing routed through them is pending.
 * - Routing: an eval goes to the node of KEYS[1]'s slot, a command to the
 *   node of its route key (argv[1] unless given). A command with no key
 *   goes to any primary that is up.
 * - MOVED: the slot is corrected in the map (the node added and connected
 *   when new), the command resent there, a full refresh scheduled. ASK:
 *   ASKING then the command, pipelined on the named node's link, nothing
 *   remembered; claim.lua is not resent (the user keys it reads without
 *   declaring them may still be on the source) and fails as after a
 *   TRYAGAIN, until the migration ends. After CLUSTER_ASYNC_MAX_REDIRECTS
 *   redirections, or when
 *   the node to resend to has no live link, TRYAGAIN or CLUSTERDOWN, the
 *   caller's callback gets NULL (as for a lost link).
 * - Failover: a link lost or a command failed schedules a refresh; while a
 *   slot is unserved or a primary of the map has no live link, the map is
 *   read again every CLUSTER_ASYNC_REFRESH_S; otherwise every
 *   CLUSTER_ASYNC_PERIODIC_S (a hung primary drops no link).
 * - The router is "up" (on_state) while it has a map and at least one
 *   primary link is up (the first time: every primary, or one after
 *   CLUSTER_ASYNC_FIRST_UP_S); a command for a node that is down fails at once
 *   (-1 from the send) rather than waiting.
 * - Callbacks get the owner handle (the struct redis_async the worker
 *   holds), never a node's link. Callbacks of commands pending when the
 *   router is freed are not called. */
#include <stddef.h>
#include <ev.h>
#include "base/config.h"
#include "redis/redis_async.h"
#include "redis/redis_tls.h"
#include "redis/scripts.h"

#define CLUSTER_ASYNC_MAX_REDIRECTS 5
#define CLUSTER_ASYNC_REFRESH_S 0.25
#define CLUSTER_ASYNC_FIRST_UP_S 1.0
#define CLUSTER_ASYNC_PERIODIC_S 5.0

struct cluster_async;

/* cluster_async_stats: counters since start. */
struct cluster_async_stats {
    long moved, ask;   /* redirections followed */
    long refreshes;    /* CLUSTER SLOTS answers applied */
};

/* cluster_async_check: -1 with the reason in err when c cannot be a
 * cluster configuration (redis-db != 0, redis-sentinel set, a malformed
 * redis-cluster-nodes); 0 otherwise. */
int cluster_async_check(const struct sw_config *c, char *err, size_t errlen);

/* cluster_async_new starts connecting to the seeds at once. tls (NULL:
 * plain) is kept by the caller until cluster_async_free; owner is the
 * handle passed to every callback. Returns NULL with err. */
struct cluster_async *cluster_async_new(struct ev_loop *loop, const struct sw_config *c, const struct redis_tls *tls,
                                        struct redis_async *owner, redis_async_state_cb *on_state, void *ud,
                                        char *err, size_t errlen);
/* cluster_async_free: not from inside a callback. */
void cluster_async_free(struct cluster_async *ca);
int cluster_async_up(const struct cluster_async *ca);
/* cluster_async_reconnects: node links that came back up after their first up. */
long cluster_async_reconnects(const struct cluster_async *ca);
void cluster_async_stats(const struct cluster_async *ca, struct cluster_async_stats *out);

/* cluster_async_command sends argv to the node of route_key (NULL: argv[1];
 * none: any primary). Returns 0 (cb will be called once), or -1 when that
 * node has no live link (cb not called). */
int cluster_async_command(struct cluster_async *ca, const char *route_key, redis_async_cb *cb, void *ud, int argc,
                          const char **argv, const size_t *argvlen);
/* cluster_async_eval: redis_async_eval routed by KEYS[1]. */
int cluster_async_eval(struct cluster_async *ca, enum script_id id, int nkeys, int argc, const char **argv,
                       const size_t *argvlen, redis_async_cb *cb, void *ud);
/* cluster_async_route_id: a number naming the node key routes to (equal
 * numbers: the same link), -1 when no node serves its slot. */
int cluster_async_route_id(const struct cluster_async *ca, const char *key);

#endif
