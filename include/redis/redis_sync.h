#ifndef SW_REDIS_SYNC_H
#define SW_REDIS_SYNC_H
/* redis_sync: a blocking Redis connection for the CLI and serve (the worker's
 * loop uses redis_async instead), authenticated and on the right database. */
#include <stddef.h>
#include <hiredis/hiredis.h>
#include "base/config.h"

/* redis_sync_connect connects with a timeout of timeout_s for the connection and
 * every command, sends AUTH (with redis-user when set) and SELECT. Returns
 * the context (redisFree it), or NULL with the reason in err (never the
 * password). */
redisContext *redis_sync_connect(const struct sw_config *c, int timeout_s, char *err, size_t errlen);

#endif
