#ifndef SW_WORKER_H
#define SW_WORKER_H
/* worker: `spotwatch worker`. One libev loop drives hiredis (redis_async) and
 * libcurl (httpc). The loop claims due polls of every app through
 * lua/claim.lua, runs each poll (refreshing the token first when it is near
 * expiry), and finishes it through lua/complete.lua. It keeps no schedule of
 * its own: every worker is stateless and interchangeable. */
#include "base/config.h"

/* worker_run runs until SIGTERM/SIGINT (then stops claiming, lets what is in
 * flight finish, and returns 0) or a fatal start-up error (-1 + err). */
int worker_run(const struct sw_config *cfg, char *err, size_t errlen);

#endif
