#ifndef SW_REDIS_CONN_H
#define SW_REDIS_CONN_H
/* redis_conn: the one place that opens a connection to a Redis server, for
 * the blocking users (redis_sync: the CLI, serve) and the asynchronous one
 * (redis_async: the worker's libev loop). Everything above it gets a plain
 * hiredis context, whatever the transport:
 *
 *   plain   hiredis's own TCP connect.
 *   TLS     hiredis talks clear RESP to one end of an in-process socket; a
 *           redis_tls pipe carries the bytes to and from an OpenSSL
 *           connection to the server (include/redis/redis_tls.h). Async:
 *           the pipe runs in the caller's libev loop; sync: the handshake
 *           runs here, under the timeout, then a small thread pumps.
 *
 * With TLS on, no plain TCP connection to the server is ever made: the
 * socket hiredis holds never leaves the process. The endpoint is a plain
 * value so that a later topology layer (Sentinel, Cluster) can choose the
 * host and port and open each node through the same two calls. */
#include <stddef.h>
#include <ev.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include "redis/redis_tls.h"

/* redis_endpoint: one server, and how to reach it. */
struct redis_endpoint {
    const char *host;
    int port;
    const struct redis_tls *tls;   /* NULL: plain TCP; else TLS with these settings */
};

/* redis_conn_sync connects to ep with a timeout of timeout_s for the TCP
 * connect and the TLS handshake, and returns a blocking context (redisFree
 * it: with TLS that also ends its pump thread), or NULL with the reason in
 * err (a refused certificate says so). No command is sent. */
redisContext *redis_conn_sync(const struct redis_endpoint *ep, int timeout_s, char *err, size_t errlen);

/* redis_conn_bridge: the TLS side of an async context (NULL for plain). */
struct redis_conn_bridge;

/* redis_conn_async starts connecting to ep and returns the hiredis async
 * context as redisAsyncConnect does (check ac->err; attach it to the same
 * loop and set its callbacks as usual), or NULL with err. With TLS, *bridge
 * receives the pipe's driver, which runs in loop: free it with
 * redis_conn_bridge_free once the context is gone (its disconnect callback,
 * or after redisAsyncFree). When the TLS side fails, the bridge closes
 * hiredis's socket, so the context disconnects; redis_conn_bridge_error
 * then says why. */
redisAsyncContext *redis_conn_async(struct ev_loop *loop, const struct redis_endpoint *ep,
                                    struct redis_conn_bridge **bridge, char *err, size_t errlen);
void redis_conn_bridge_free(struct redis_conn_bridge *b);
/* redis_conn_bridge_error: why the TLS side ended ("" if it did not, or
 * b is NULL). */
const char *redis_conn_bridge_error(const struct redis_conn_bridge *b);

#endif
