#ifndef SW_WORKER_H
#define SW_WORKER_H
/* worker: `spotwatch worker`. One libev loop drives hiredis (redis_async) and
 * libcurl (httpc). The loop claims due polls of every app through
 * lua/claim.lua, runs each poll (refreshing the token first when it is near
 * expiry), and finishes it through lua/complete.lua. It keeps no schedule of
 * its own: every worker is stateless and interchangeable. */
#include "base/config.h"

/* The worker's clock, which the CLI relies on too: a heartbeat every
 * WORKER_HEARTBEAT_MS; the app list and each app's credentials are reread
 * every WORKER_APPS_RELOAD_BEATS heartbeats. */
#define WORKER_HEARTBEAT_MS 1000
#define WORKER_APPS_RELOAD_BEATS 5
/* WORKER_CRED_RELOAD_MS: the longest a live worker keeps using an app's old
 * credentials: one reload period, plus two heartbeats of slack (a late tick,
 * the reload's round trip). `app add` shortens an invalid_client block to it. */
#define WORKER_CRED_RELOAD_MS (WORKER_HEARTBEAT_MS * (WORKER_APPS_RELOAD_BEATS + 2))

/* worker_run runs until SIGTERM/SIGINT (then stops claiming, lets what is in
 * flight finish, and returns 0) or a fatal start-up error (-1 + err). It
 * works on its own copy of cfg: SIGHUP re-reads the configuration and
 * applies the run-time directives (config_reload). Under systemd it sends
 * READY=1 once Redis first answers (include/base/sdnotify.h). */
int worker_run(const struct sw_config *cfg, char *err, size_t errlen);

#endif
