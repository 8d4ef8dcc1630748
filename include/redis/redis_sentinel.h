#ifndef SW_REDIS_SENTINEL_H
#define SW_REDIS_SENTINEL_H
/* redis_sentinel: finding the primary through Redis Sentinel, for every
 * user of redis_conn (the worker's redis_async, the CLI and serve through
 * redis_sync).
 *
 * With redis-sentinel set, redis-host/redis-port are not used: before each
 * connection the Sentinels are asked, one after the other, starting with
 * the last that answered, `SENTINEL get-master-addr-by-name <master>`; the
 * first address given wins. The caller then connects, authenticates and
 * asks ROLE: a server that does not say "master" (a stale answer during a
 * failover) is dropped and the Sentinels asked again after a short pause.
 *
 * Following a failover: a killed primary closes its connections, and a
 * demoted one is told by the Sentinels to close its clients (their
 * reconfiguration sends CLIENT KILL); either way the connection is lost and
 * the next one re-discovers. redis_async also asks ROLE periodically, drops
 * the link on a READONLY answer, and keeps a redis_sentinel_watch (below)
 * for a failover that leaves the old primary alive and writable a while.
 *
 * The Sentinels are reached with the same transport as the servers (TLS
 * when redis-tls is yes, each checked against its own host name unless
 * redis-tls-server-name is set), authenticated with redis-sentinel-password
 * when set. Discovery blocks for at most REDIS_SENTINEL_TIMEOUT_S per
 * Sentinel. */
#include <stddef.h>
#include <ev.h>
#include <hiredis/hiredis.h>
#include "base/config.h"
#include "redis/redis_tls.h"
#include "redis/repl_info.h"

#define REDIS_SENTINEL_MAX REPL_SENTINELS_MAX
#define REDIS_SENTINEL_TIMEOUT_S 1

struct redis_sentinel;

/* redis_sentinel_new parses redis-sentinel and redis-sentinel-master.
 * Returns NULL with err[0] == '\0' when redis-sentinel is unset, NULL with
 * the reason in err when they are malformed (or memory runs out). */
struct redis_sentinel *redis_sentinel_new(const struct sw_config *c, char *err, size_t errlen);
void redis_sentinel_free(struct redis_sentinel *s);

/* redis_sentinel_discover asks the Sentinels (tls: NULL for plain) for the
 * primary's address: host (hostlen bytes) and *port. 0, or -1 with every
 * Sentinel's failure summed up in err (never the password). */
int redis_sentinel_discover(struct redis_sentinel *s, const struct redis_tls *tls, char *host, size_t hostlen,
                            int *port, char *err, size_t errlen);

/* redis_sentinel_watch: a SUBSCRIBE to +switch-master on one Sentinel (the
 * next one when it is lost), in loop. A manual or coordinated failover
 * leaves the old primary a working primary until the Sentinels convert it
 * (about 10 s later): without the watch, workers would go on writing there,
 * and those writes would be dropped at the conversion. on_switch receives
 * the new primary's address announced for our master; the caller drops its
 * link and connects there (ROLE still verified). s and tls must outlive the
 * watch. NULL only when memory runs out. */
typedef void redis_sentinel_switch_cb(const char *host, int port, void *ud);
struct redis_sentinel_watch;
struct redis_sentinel_watch *redis_sentinel_watch_new(struct ev_loop *loop, struct redis_sentinel *s,
                                                      const struct redis_tls *tls,
                                                      redis_sentinel_switch_cb *on_switch, void *ud);
/* not from inside on_switch */
void redis_sentinel_watch_free(struct redis_sentinel_watch *w);

/* redis_sentinel_describe asks every Sentinel of c, in turn (at most
 * REDIS_SENTINEL_TIMEOUT_S each, over TLS when redis-tls is yes), what it
 * knows of redis-sentinel-master: SENTINEL MASTER and SENTINEL CKQUORUM,
 * for `status` and /healthz. 0 with out filled (a Sentinel that does not
 * answer is in out with why), 1 when redis-sentinel is unset, -1 with err
 * (the settings are wrong). */
int redis_sentinel_describe(const struct sw_config *c, struct repl_sentinels *out, char *err, size_t errlen);

/* redis_sentinel_role_master: 1 when r is a ROLE reply saying "master". */
int redis_sentinel_role_master(const redisReply *r);

#endif
