#ifndef SW_RSYNC_H
#define SW_RSYNC_H
/* rsync: a blocking Redis connection for the CLI and serve (the worker's
 * loop uses rlink instead), authenticated and on the right database. */
#include <stddef.h>
#include <hiredis/hiredis.h>
#include "config.h"

/* rsync_connect connects with a timeout of timeout_s for the connection and
 * every command, sends AUTH (with redis-user when set) and SELECT. Returns
 * the context (redisFree it), or NULL with the reason in err (never the
 * password). */
redisContext *rsync_connect(const struct sw_config *c, int timeout_s, char *err, size_t errlen);

#endif
