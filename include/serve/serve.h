#ifndef SW_SERVE_H
#define SW_SERVE_H
/* serve: `spotwatch serve`, the HTTP face of a deployment (libmicrohttpd,
 * one thread per connection; each handler talks to Redis and Spotify
 * synchronously, since none of this is the hot path).
 *
 *   GET /connect?user=<id>[&app=<app>][&return_to=<url>][&exp=<s>&sig=<mac>]
 *       with connect-key-file set, 403 (before Redis is touched) unless the
 *       web app signed the link for exactly these parameters and it has not
 *       expired (include/serve/connect_link.h); then
 *       302 to {accounts-base}/authorize with PKCE (S256) and a signed,
 *       single-use state that names the user (see include/serve/oauth.h).
 *   GET /callback?code=..&state=..  (or ?error=access_denied&state=..)
 *       verifies the state, exchanges the code (within the app's rate limit),
 *       reads GET {api-base}/me, stores the sealed tokens on the state's user
 *       and starts watching them; then 302 to return_to or a success page.
 *       Every failure is an HTML page with its status (400 bad, forged,
 *       expired or replayed state or a bad code; 403 consent denied or
 *       account not allowlisted; 409 account already connected to another
 *       user or user registered with another app; 502 Spotify failing; 503
 *       rate limited or Redis down) and changes no user.
 *   GET /healthz   200 "ok" when Redis answers and every script is loaded
 *   GET /metrics   Prometheus text (spotwatch_oauth_*, spotwatch_http_*)
 *
 * Redis keys used besides those of include/redis/key_schema.h:
 *   <p>oauth:<nonce>        STRING the pending login (JSON: user, app, sealed
 *                           PKCE verifier, return_to), TTL oauth-state-ttl-ms;
 *                           "used" once its callback has run
 *   <p>{<app>}:accounts     HASH   Spotify account id -> user id */
#include <stddef.h>
#include "base/config.h"

/* serve_run checks the configuration (the redirect URI rules, the keys),
 * listens on http-listen and serves until SIGTERM/SIGINT, then returns 0.
 * A start-up failure returns -1 with the reason in err. */
int serve_run(const struct sw_config *c, char *err, size_t errlen);

#endif
