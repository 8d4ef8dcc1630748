#ifndef SW_HTTPC_H
#define SW_HTTPC_H
/* httpc: asynchronous HTTP client, libcurl's multi_socket API driven by libev
 * (curl's evhiperfifo pattern). Connections are reused (keep-alive, HTTP/2
 * multiplexing over TLS when offered), bodies are capped and decompressed. */
#include <stddef.h>
#include <ev.h>

struct httpc;

struct httpc_opts {
    long timeout_ms;       /* whole request */
    long connect_timeout_ms;
    const char *ca_file;   /* NULL or "" = system CAs */
    size_t max_body;       /* larger bodies fail the request with truncated=1; 0 = no cap */
    long max_host_connections; /* parallel connections per host; 0 = 32. Past that many
                                  * requests to one scheme://host:port, the rest wait in
                                  * httpc, in order (not timed). Over HTTP/2, the cap on its
                                  * connections: each carries max_streams */
    long max_streams;      /* HTTP/2 streams per connection; 0 = 100. httpc hands curl
                            * no more requests of an origin than its open connections
                            * have streams for (lowered to the server's limit when curl
                            * shows it is lower), and opens the next connection only
                            * when all are full; the rest wait in httpc, in order */
    int accept_gzip;       /* 1: ask for gzip ("Accept-Encoding: gzip"); 0: ask for no
                            * coding (the header is left out). A gzip answer is
                            * decoded either way */
};

/* httpc_response: valid only during the callback; copy what you keep. */
struct httpc_response {
    long status;              /* HTTP status; 0 on a transport error */
    int curl_code;            /* CURLcode; 0 = OK */
    const char *error;        /* transport error text ("" if none) */
    int truncated;            /* body exceeded max_body */
    const char *body;         /* NUL-terminated (may hold NULs before len) */
    size_t len;
    const char *retry_after;  /* Retry-After header value, any case; NULL if absent */
    double total_s;           /* request time */
};

typedef void httpc_cb(const struct httpc_response *r, void *ud);

struct httpc *httpc_new(struct ev_loop *loop, const struct httpc_opts *o, char *err, size_t errlen);

/* httpc_free aborts what is in flight (their callbacks are not called). */
void httpc_free(struct httpc *h);

/* httpc_request starts method on url. headers is NULL or a NULL-terminated
 * list of "Name: value" lines; body (POST) is copied. cb is called exactly
 * once, from the event loop, never from inside httpc_request. Returns 0/-1. */
int httpc_request(struct httpc *h, const char *method, const char *url, const char *const *headers,
                  const char *body, httpc_cb *cb, void *ud);

int httpc_inflight(const struct httpc *h);

/* httpc_connections: connections opened since start (proves reuse). */
long httpc_connections(const struct httpc *h);

/* httpc_open_connections: connections open now, to every origin. */
long httpc_open_connections(const struct httpc *h);

/* httpc_streams: requests in curl now (on HTTP/2, the streams in use; the
 * rest of httpc_inflight waits in httpc). */
int httpc_streams(const struct httpc *h);

#endif
