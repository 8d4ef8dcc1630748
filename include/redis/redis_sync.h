#ifndef SW_REDIS_SYNC_H
#define SW_REDIS_SYNC_H
/* redis_sync: blocking Redis for the CLI and serve (the worker's loop uses
 * redis_async instead): a connection authenticated and on the right
 * database, one command, one script (with the NOSCRIPT fallback), Redis'
 * clock. Nothing here prints or logs: a failure is returned with Redis' own
 * words in the caller's err buffer, never with the arguments, which may be
 * secrets (sealed tokens); the caller says it where its user looks (the CLI
 * on stderr, serve in its log). */
#include <stddef.h>
#include <hiredis/hiredis.h>
#include "base/config.h"
#include "redis/scripts.h"

/* redis_sync: the handle. Single-node mode (redis-cluster no) wraps one
 * context exactly as hiredis's own (plain, TLS, or the primary the
 * Sentinels name); cluster mode routes every command by its key
 * (include/redis/redis_cluster_sync.h). The calls below mirror hiredis's
 * blocking API one for one, so a caller reads as it did: NULL reply or
 * REDIS_ERR on a lost link (redis_sync_err/_errstr then say why, as
 * c->err/c->errstr), error replies returned as replies. */
struct redis_sync;
struct redis_endpoint;
struct cluster_map;

/* redis_sync_connect connects with a timeout of timeout_s for the connection and
 * every command, sends AUTH (with redis-user when set) and SELECT (cluster
 * mode: reads the slot map; redis-db must be 0, no Sentinel). Returns the
 * handle (redis_sync_free it), or NULL with the reason in err (never the
 * password). */
struct redis_sync *redis_sync_connect(const struct sw_config *c, int timeout_s, char *err, size_t errlen);
void redis_sync_free(struct redis_sync *r);

/* redis_sync_connect_endpoint: one server ep, AUTH and SELECT sent; the
 * context, or NULL with err. For redis_sync and the cluster router. */
redisContext *redis_sync_connect_endpoint(const struct sw_config *c, const struct redis_endpoint *ep, int timeout_s,
                                          char *err, size_t errlen);

/* As redisCommand, redisCommandArgv, redisAppendCommand,
 * redisAppendCommandArgv and redisGetReply. */
redisReply *redis_sync_command(struct redis_sync *r, const char *fmt, ...);
redisReply *redis_sync_command_argv(struct redis_sync *r, int argc, const char **argv, const size_t *lens);
int redis_sync_append(struct redis_sync *r, const char *fmt, ...);
int redis_sync_append_argv(struct redis_sync *r, int argc, const char **argv, const size_t *lens);
int redis_sync_get_reply(struct redis_sync *r, void **reply);
/* As redisSetTimeout (every node of a cluster). */
void redis_sync_set_timeout(struct redis_sync *r, struct timeval tv);
/* As c->err and c->errstr. */
int redis_sync_err(const struct redis_sync *r);
const char *redis_sync_errstr(const struct redis_sync *r);

/* redis_sync_nodes: what "every server" means for a scan (SCAN, INFO):
 * single-node: one (node 0); cluster: each primary's node index, the
 * default node first. Returns the count; out holds up to max.
 * redis_sync_command_node runs argv on one of them, unrouted. */
int redis_sync_nodes(struct redis_sync *r, int *out, int max);
redisReply *redis_sync_command_node(struct redis_sync *r, int node, int argc, const char **argv);
/* redis_sync_used_memory: INFO memory's used_memory summed over every
 * server of redis_sync_nodes into *used (bytes); returns how many answered. */
int redis_sync_used_memory(struct redis_sync *r, double *used);
/* redis_sync_single: the one context in single-node mode (for readers of
 * one server, such as repl_info), NULL in cluster mode. */
redisContext *redis_sync_single(struct redis_sync *r);
/* redis_sync_cluster_refresh re-reads the cluster's slot map (0 in
 * single-node mode, or -1 with err). */
int redis_sync_cluster_refresh(struct redis_sync *r, char *err, size_t errlen);
/* redis_sync_cluster_map: the slot map in cluster mode, NULL otherwise. */
const struct cluster_map *redis_sync_cluster_map(const struct redis_sync *r);

/* redis_sync_cmd runs one command (argc strings). Returns its reply
 * (freeReplyObject it), or NULL when Redis answered an error or the link
 * failed, with the error in err. hiredis cannot recover a context after an
 * I/O error: r->err then says so, and the context must be freed. */
redisReply *redis_sync_cmd(struct redis_sync *r, int argc, const char **argv, char *err, size_t errlen);

/* redis_sync_eval runs script id by EVALSHA, and again by EVAL when Redis
 * answers NOSCRIPT (a restart or a failover emptied its script cache, or no
 * one loaded the script yet). argv: the nkeys KEYS then the ARGV, nargs in
 * all (at most REDIS_SYNC_EVAL_MAX). Reply, or NULL and err, as
 * redis_sync_cmd. */
#define REDIS_SYNC_EVAL_MAX 64
redisReply *redis_sync_eval(struct redis_sync *r, enum script_id id, int nkeys, int nargs, const char **argv,
                            char *err, size_t errlen);

/* redis_sync_eval_append queues the EVALSHA of redis_sync_eval without
 * waiting for its reply (read it with redisGetReply): a pipeline cannot fall
 * back to EVAL in the middle, so load the script first with
 * redis_sync_load_script (a NOSCRIPT reply is then an error like any other).
 * 0, or -1 with err. */
int redis_sync_eval_append(struct redis_sync *r, enum script_id id, int nkeys, int nargs, const char **argv,
                           char *err, size_t errlen);

/* redis_sync_load_script puts script id in Redis' script cache unless it is
 * there (SCRIPT EXISTS, then SCRIPT LOAD). 0, or -1 with "cannot load script
 * <name>" in err. redis_sync_load_scripts does it for every script of lua/. */
int redis_sync_load_script(struct redis_sync *r, enum script_id id, char *err, size_t errlen);
int redis_sync_load_scripts(struct redis_sync *r, char *err, size_t errlen);

/* redis_sync_now_ms: Redis' clock (TIME) in Unix ms, the one clock the
 * scripts use; 0 when it cannot be read. */
long long redis_sync_now_ms(struct redis_sync *r);
/* redis_sync_time_ms: the same clock, or -1 with Redis' words in err (a
 * NOPERM from an ACL without TIME, a lost link), for callers that must not
 * take 0 for a time. */
int redis_sync_time_ms(struct redis_sync *r, long long *ms, char *err, size_t errlen);

#endif
