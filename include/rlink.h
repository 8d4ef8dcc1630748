#ifndef SW_RLINK_H
#define SW_RLINK_H
/* rlink: one asynchronous Redis connection (hiredis 0.14 async + libev) that
 * survives Redis going away. hiredis 0.14 has no reconnect and no command
 * timeouts, so rlink drops the context on disconnect, reports the link down,
 * and reconnects from a backoff timer (100 ms doubling to 5 s), logging once
 * per outage. On connect it sends AUTH (user + password for ACLs), SELECT and
 * SCRIPT LOAD for every script before reporting the link up. */
#include <stddef.h>
#include <ev.h>
#include <hiredis/hiredis.h>
#include "scripts.h"

struct rlink;

struct rlink_opts {
    const char *host;
    int port;
    const char *user;      /* "" = default user */
    const char *password;  /* "" = none */
    int db;
    long command_timeout_ms; /* a reply (or connect) older than this drops the
                                connection so callers see NULL; 0 = 10000.
                                So no command may block longer (BLPOP, SUBSCRIBE). */
};

/* reply is NULL when the command failed (link lost); it is freed after the
 * callback returns. */
typedef void rlink_cb(struct rlink *l, redisReply *reply, void *ud);
typedef void rlink_state_cb(struct rlink *l, int up, void *ud);

/* rlink_new starts connecting at once; on_state is called on every up/down
 * change. Returns NULL only on allocation failure. */
struct rlink *rlink_new(struct ev_loop *loop, const struct rlink_opts *o, rlink_state_cb *on_state,
                        void *ud);
/* rlink_free closes the link; callbacks of commands still pending are not
 * called. Not to be called from inside an rlink callback. */
void rlink_free(struct rlink *l);
int rlink_up(const struct rlink *l);
/* rlink_reconnects: times the link came back up after its first up. */
long rlink_reconnects(const struct rlink *l);

/* rlink_command: like redisAsyncCommandArgv. Returns -1 if the link is down
 * (cb is then not called). */
int rlink_command(struct rlink *l, rlink_cb *cb, void *ud, int argc, const char **argv,
                  const size_t *argvlen);

/* rlink_eval runs a script with EVALSHA; on NOSCRIPT (a restart or failover
 * flushed the cache) it loads the script and retries once. argv holds the
 * nkeys KEYS then the ARGV; lengths may be NULL for C strings. */
int rlink_eval(struct rlink *l, enum script_id id, int nkeys, int argc, const char **argv,
               const size_t *argvlen, rlink_cb *cb, void *ud);

#endif
