#ifndef SW_REDIS_CLUSTER_SYNC_H
#define SW_REDIS_CLUSTER_SYNC_H
/* redis_cluster_sync: the blocking side of Redis Cluster, behind
 * redis_sync's handle (include/redis/redis_sync.h) when redis-cluster is
 * yes. It holds the slot map (include/redis/cluster_map.h: CLUSTER SLOTS
 * from redis-host:redis-port, else from each of redis-cluster-nodes) and
 * one blocking context per primary, opened on first use through redis_conn
 * (TLS too) with AUTH and never SELECT (a cluster has database 0 only).
 *
 * Every command arrives formatted (RESP, as redisFormatCommand makes it)
 * and is routed by its first key: argv[1] for most commands, KEYS[1] for
 * EVAL/EVALSHA (no key: the default node), the first stream after STREAMS
 * for XREAD. Keyless commands (TIME, INFO, PING, PUBLISH, SUBSCRIBE,
 * SCRIPT...) go to the default node, the primary serving the lowest slot.
 * MOVED fixes the map and retries on the named node; ASK sends ASKING then
 * the command to the named node; after CLUSTER_SYNC_REDIRECTS redirections
 * the last error reply is returned as Redis wrote it. WATCH pins the
 * connection's later MULTI to the watched key's node; MULTI is sent to the
 * node of the first command queued after it, and every command until
 * EXEC/DISCARD goes there (Redis refuses a transaction over two slots with
 * CROSSSLOT, which is then the caller's error, unchanged).
 *
 * A pipeline (cluster_sync_append then cluster_sync_get_reply) is routed per
 * command; replies come back in the order the commands were appended.
 * Replies of a node are read in its order; a redirected command of a
 * pipeline is re-run alone once the replies already queued on its new node
 * are read and kept. With nothing appended, cluster_sync_get_reply reads the
 * node the last command went to (a SUBSCRIBE's messages).
 *
 * An I/O error drops that node's context and is reported by
 * cluster_sync_err/_errstr, as hiredis's r->err/r->errstr would be; a
 * command in flight on a lost link is never sent again (it may have run). A
 * node that cannot be connected to (the command never left) makes the
 * router re-read the map and try once where it now points (a failover's
 * promoted replica); that success clears the error. Errors never carry a command's
 * arguments (they may be sealed tokens). Not thread-safe: one user at a
 * time, as a redisContext. */
#include <stddef.h>
#include <sys/time.h>
#include <hiredis/hiredis.h>
#include "base/config.h"
#include "redis/cluster_map.h"
#include "redis/redis_tls.h"

#define CLUSTER_SYNC_REDIRECTS 5

struct cluster_sync;

/* cluster_sync_open reads the slot map and checks the configuration
 * (redis-db must be 0 and redis-sentinel empty: said in err). c must
 * outlive the handle; tls (NULL for plain) is owned by the handle from
 * here on, even on failure. NULL with the reason in err. */
struct cluster_sync *cluster_sync_open(const struct sw_config *c, struct redis_tls *tls, int timeout_s, char *err,
                                       size_t errlen);
void cluster_sync_free(struct cluster_sync *cs);

/* cluster_sync_command runs the formatted command cmd (len bytes) with
 * routing and redirections. The reply (error replies included, as
 * redisCommand returns them), or NULL after an I/O error or when no node
 * can be reached (cluster_sync_errstr says why). */
redisReply *cluster_sync_command(struct cluster_sync *cs, const char *cmd, size_t len);
/* cluster_sync_append queues cmd on its node; REDIS_OK or REDIS_ERR. */
int cluster_sync_append(struct cluster_sync *cs, const char *cmd, size_t len);
/* cluster_sync_get_reply: the next reply of the pipeline, as redisGetReply. */
int cluster_sync_get_reply(struct cluster_sync *cs, redisReply **reply);

/* cluster_sync_set_timeout: every node's command timeout from now on
 * (redisSetTimeout on each context, open or opened later). */
void cluster_sync_set_timeout(struct cluster_sync *cs, struct timeval tv);

int cluster_sync_err(const struct cluster_sync *cs);
const char *cluster_sync_errstr(const struct cluster_sync *cs);

/* cluster_sync_refresh re-reads the map (CLUSTER SLOTS from an open node,
 * else the seeds). 0, or -1 with err (the old map kept). */
int cluster_sync_refresh(struct cluster_sync *cs, char *err, size_t errlen);
/* cluster_sync_map: the current map (for status and /healthz). */
const struct cluster_map *cluster_sync_map(const struct cluster_sync *cs);
/* cluster_sync_primaries: the primaries' node indexes into out (up to
 * max), the default node first; their count. */
int cluster_sync_primaries(const struct cluster_sync *cs, int *out, int max);
/* cluster_sync_command_on runs cmd on node (an index of the map) with no
 * routing and no redirection: for commands that must reach every primary
 * (SCAN, SCRIPT LOAD, INFO of each node). Reply or NULL as above. */
redisReply *cluster_sync_command_on(struct cluster_sync *cs, int node, const char *cmd, size_t len);

#endif
