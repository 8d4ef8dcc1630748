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

/* redis_sync_connect connects with a timeout of timeout_s for the connection and
 * every command, sends AUTH (with redis-user when set) and SELECT. Returns
 * the context (redisFree it), or NULL with the reason in err (never the
 * password). */
redisContext *redis_sync_connect(const struct sw_config *c, int timeout_s, char *err, size_t errlen);

/* redis_sync_cmd runs one command (argc strings). Returns its reply
 * (freeReplyObject it), or NULL when Redis answered an error or the link
 * failed, with the error in err. hiredis cannot recover a context after an
 * I/O error: r->err then says so, and the context must be freed. */
redisReply *redis_sync_cmd(redisContext *r, int argc, const char **argv, char *err, size_t errlen);

/* redis_sync_eval runs script id by EVALSHA, and again by EVAL when Redis
 * answers NOSCRIPT (a restart or a failover emptied its script cache, or no
 * one loaded the script yet). argv: the nkeys KEYS then the ARGV, nargs in
 * all (at most REDIS_SYNC_EVAL_MAX). Reply, or NULL and err, as
 * redis_sync_cmd. */
#define REDIS_SYNC_EVAL_MAX 64
redisReply *redis_sync_eval(redisContext *r, enum script_id id, int nkeys, int nargs, const char **argv,
                            char *err, size_t errlen);

/* redis_sync_eval_append queues the EVALSHA of redis_sync_eval without
 * waiting for its reply (read it with redisGetReply): a pipeline cannot fall
 * back to EVAL in the middle, so load the script first with
 * redis_sync_load_script (a NOSCRIPT reply is then an error like any other).
 * 0, or -1 with err. */
int redis_sync_eval_append(redisContext *r, enum script_id id, int nkeys, int nargs, const char **argv,
                           char *err, size_t errlen);

/* redis_sync_load_script puts script id in Redis' script cache unless it is
 * there (SCRIPT EXISTS, then SCRIPT LOAD). 0, or -1 with "cannot load script
 * <name>" in err. redis_sync_load_scripts does it for every script of lua/. */
int redis_sync_load_script(redisContext *r, enum script_id id, char *err, size_t errlen);
int redis_sync_load_scripts(redisContext *r, char *err, size_t errlen);

/* redis_sync_now_ms: Redis' clock (TIME) in Unix ms, the one clock the
 * scripts use; 0 when it cannot be read. */
long long redis_sync_now_ms(redisContext *r);
/* redis_sync_time_ms: the same clock, or -1 with Redis' words in err (a
 * NOPERM from an ACL without TIME, a lost link), for callers that must not
 * take 0 for a time. */
int redis_sync_time_ms(redisContext *r, long long *ms, char *err, size_t errlen);

#endif
