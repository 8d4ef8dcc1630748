#ifndef SW_SERVE_H
#define SW_SERVE_H
/* serve: `spotwatch serve`, the HTTP face of a deployment (libmicrohttpd,
 * one thread per connection; each handler talks to Redis and Spotify
 * synchronously, since none of this is the hot path).
 *
 *   GET /connect?user=<id>[&app=<app>][&return_to=<url>][&show_dialog=1][&exp=<s>&sig=<mac>]
 *       with connect-key-file set, 403 (before Redis is touched, one answer
 *       whether or not the user or app exists) unless the web app signed the
 *       link for exactly these parameters and it has not expired
 *       (include/serve/connect_link.h); then
 *       302 to {accounts-base}/authorize with PKCE (S256), show_dialog=true
 *       when asked, and a signed state that names the user and commits to a
 *       login cookie set on this answer (include/serve/oauth.h,
 *       include/serve/login_cookie.h). Nothing is stored: the browser holds
 *       the login's secret half, the state the rest.
 *   GET /callback?code=..&state=..  (or ?error=access_denied&state=..)
 *       verifies the state, then that this browser holds the cookie the
 *       state commits to (403 otherwise: a login opened in another browser,
 *       login CSRF, changes nothing), takes the login once
 *       (<p>oauth:used:<nonce>), exchanges the code (within the app's rate
 *       limit), reads GET {api-base}/me, stores the sealed tokens on the
 *       state's user and starts watching them; then 302 to return_to or a
 *       success page. Every failure is an HTML page with its status (400
 *       bad, forged, expired or replayed state or a bad code; 403 consent
 *       denied, no login cookie or account not allowlisted; 409 account
 *       already connected to another user or user registered with another
 *       app; 502 Spotify failing; 503 rate limited or Redis down) and changes
 *       no user.
 *   GET /healthz   200 "ok" when Redis answers and every script is loaded
 *   GET /metrics   Prometheus text (spotwatch_oauth_*, spotwatch_http_*,
 *                  spotwatch_serve_refused_total)
 *
 * Limits: /connect and /callback together are limited per client address
 * (serve-rate-per-ip, serve-burst-per-ip: 429 with Retry-After), connections
 * per address (serve-connections-per-ip), the request line and headers
 * (16 KiB a connection), and the time a request may take to arrive
 * (serve-request-timeout-ms, however slowly its bytes trickle). Refusals are
 * counted (spotwatch_serve_refused_total{reason}) and summed up in one log
 * line a minute, never logged one by one.
 *
 * Redis keys used besides those of include/redis/key_schema.h:
 *   <p>oauth:used:<nonce>   STRING "1": the login of that state has had its
 *                           callback; PX = the rest of the state's life
 *   <p>{<app>}:accounts     HASH   Spotify account id -> user id */
#include <stddef.h>
#include "base/config.h"

/* serve_run checks the configuration (the redirect URI rules, the keys, and
 * that /connect is either signed, connect-key-file, or declared open,
 * connect-open yes), listens on http-listen and serves until SIGTERM/SIGINT,
 * then returns 0. A start-up failure returns -1 with the reason in err.
 * Under systemd it sends READY=1 once it listens (include/base/sdnotify.h);
 * SIGHUP applies a new log-level and log-format and names every other
 * changed directive as needing a restart. */
int serve_run(const struct sw_config *c, char *err, size_t errlen);

#endif
