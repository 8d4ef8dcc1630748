#ifndef SW_LOGIN_H
#define SW_LOGIN_H
/* login: the two handlers of a per-user OAuth login (src/serve/login.c),
 * private to src/serve/. serve.c routes GET /connect and GET /callback here;
 * login.c gets all it needs (configuration, keys, Redis pool, Spotify
 * client, metrics) through struct serve (src/serve/serve_ctx.h) and never
 * calls back into serve.c. */
#include <microhttpd.h>
#include "serve_ctx.h"

/* login_connect answers GET /connect: sets *a (a 302 to Spotify, or an
 * error page). Blocks on Redis. */
void login_connect(struct serve *s, struct MHD_Connection *c, struct answer *a);

/* login_callback answers GET /callback: sets *a (a 302 to return_to or a
 * page) and a->outcome (the callbacks metric's label). Blocks on Redis and
 * Spotify. */
void login_callback(struct serve *s, struct MHD_Connection *c, struct answer *a);

#endif
