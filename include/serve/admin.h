#ifndef SW_ADMIN_H
#define SW_ADMIN_H
/* admin: serve's web dashboard (README, "Dashboard"), on a listener of its
 * own (admin-listen), behind HTTP Basic authentication (user "admin", the
 * password from admin-password-file), read-only unless admin-actions yes.
 *
 * It reads Redis through serve's pool of blocking contexts (libmicrohttpd
 * runs a thread per connection, so a page may block on Redis); the live
 * feed (/events, server-sent events) holds a Redis context of its own for
 * XREAD BLOCK, never a pooled one. A sampler thread keeps each app's poll
 * counter once every ADMIN_SAMPLE_S for the last hour's chart (in memory:
 * the chart starts empty after a restart). */
#include <stddef.h>

struct serve;
struct admin;

/* admin_start reads the password file and starts listening on the
 * configuration's admin-listen. s (serve's shared state: configuration and
 * Redis pool) must outlive the dashboard. Returns it, or NULL + err (no
 * password, a bad address, address in use). */
struct admin *admin_start(struct serve *s, char *err, size_t errlen);

/* admin_stop ends the live feeds and the sampler, stops listening, waits
 * for the handlers running and frees a (NULL is fine). */
void admin_stop(struct admin *a);

#endif
