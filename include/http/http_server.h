#ifndef SW_HTTP_SERVER_H
#define SW_HTTP_SERVER_H
/* http_server: the libmicrohttpd prologue our two servers share, written
 * once: serve (src/serve/serve.c: /connect, /callback, /healthz, /metrics)
 * and the worker's publish-only metrics endpoint (src/http/metrics.c).
 * It owns the listen address, the daemon's start and stop, the request
 * prologue and the answer's common headers; what each path means stays with
 * the server that uses it.
 *
 * Request prologue: libmicrohttpd calls its handler once for the headers,
 * once per upload chunk, then once more; an upload is read and dropped
 * (serve's endpoints are GET or HEAD), except by a form server (max_upload:
 * the dashboard's POSTs), which keeps a small body whole; the handler sees
 * each request exactly once, whole.
 *
 * Limits (all optional; the worker's metrics endpoint sets none): a
 * connection limit per client address (libmicrohttpd's own), a memory
 * limit per connection that bounds the request line and headers, and a
 * whole-request deadline. libmicrohttpd's connection timeout is an idle
 * timeout that any byte resets, so one header line every few seconds holds a
 * connection for ever; the deadline is absolute instead: a request must have
 * arrived whole (headers and any body) within request_timeout_ms of its
 * connection opening, or of the previous answer on a kept-alive connection.
 * A sweeper thread closes (shutdown(2); libmicrohttpd then cleans up) every
 * connection past its deadline whose request has not reached the handler; a
 * handler at work is never cut off. */
#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>
#include <microhttpd.h>

/* http_server_handler answers one request (url: the path, without the query;
 * method as sent). It must queue an answer (http_server_reply) and return
 * what that returned. Runs in a libmicrohttpd thread. */
typedef enum MHD_Result http_server_handler(void *cls, struct MHD_Connection *c, const char *url,
                                            const char *method);

/* http_server_counters: what the server refused, counted for its owner to
 * publish (atomics: written by libmicrohttpd's threads, read by anyone). */
/* http_server_form_handler: as http_server_handler, for a server that takes
 * small request bodies (opts.max_upload > 0): body holds the len bytes sent
 * (NUL-terminated; NULL when none), or the request is answered 413 before
 * the handler runs when more than max_upload came. */
typedef enum MHD_Result http_server_form_handler(void *cls, struct MHD_Connection *c,
                                                 const char *url, const char *method,
                                                 const char *body, size_t len);

struct http_server_counters {
    atomic_ulong deadline_closed;  /* connections closed by the request deadline */
    atomic_ulong conn_refused;     /* connections refused at accept (a connection limit) */
    atomic_ulong client_errors;    /* requests libmicrohttpd refused or lost (headers too
                                    * large, malformed, the client gone mid-request) */
};

struct http_server_opts {
    const char *listen_addr;       /* "host:port", "[v6]:port"; port 0 = any free */
    const char *what;              /* names the server in a start error ("" or " for metrics":
                                    * "cannot listen on <addr><what> (address in use?)") */
    int thread_per_connection;     /* 1: a thread per connection (handlers may block);
                                    * 0: every request on one thread (answers from memory) */
    unsigned connection_limit;
    unsigned connection_timeout_s; /* an idle connection is closed after this */
    unsigned per_ip_limit;         /* connections per client address; 0 = no limit */
    size_t memory_limit;           /* bytes per connection (request line and headers must
                                    * fit); 0 = libmicrohttpd's default (32 KiB) */
    long request_timeout_ms;       /* the whole-request deadline; 0 = none */
    struct http_server_counters *counters; /* NULL, or where to count refusals; also routes
                                    * libmicrohttpd's messages through log.h, the ones a
                                    * client causes counted, not logged */
    http_server_handler *handler;
    void *cls;                     /* handed to handler */
    size_t max_upload;             /* > 0: request bodies up to this are kept and given to
                                    * form_handler, which then answers instead of handler */
    http_server_form_handler *form_handler;
};

struct http_server;

/* http_server_listen_addr resolves "host:port" / "[v6]:port" (a name
 * resolves to its first address) into *ss. Returns 0 or -1 + err. */
int http_server_listen_addr(const char *listen_addr, struct sockaddr_storage *ss, char *err,
                            size_t errlen);

/* http_server_start listens and serves in threads of libmicrohttpd's own.
 * Returns the server, or NULL + err (bad address, address in use, out of
 * memory). */
struct http_server *http_server_start(const struct http_server_opts *o, char *err, size_t errlen);

/* http_server_port: the port actually bound (0 if unknown). */
int http_server_port(const struct http_server *s);

/* http_server_stop stops listening, waits for the handlers running and frees
 * s (NULL is fine). */
void http_server_stop(struct http_server *s);

/* http_server_reply queues an answer: len bytes of body (copied), with
 * Content-Type ctype and Cache-Control: no-store (nothing we serve may be
 * cached), then the extra headers: NULL, or a NULL-terminated list of name,
 * value pairs in which a NULL value leaves its header out. A 405 should name
 * Allow among them. Returns what MHD_queue_response did (MHD_NO when out of
 * memory). */
enum MHD_Result http_server_reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                                  const char *body, size_t len, const char *const *extra);

#endif
