#ifndef SW_HTTP_SYNC_H
#define SW_HTTP_SYNC_H
/* http_sync: a small blocking HTTP client (libcurl's easy API), for a thread
 * that may wait on the network: serve's handlers, each in its own
 * libmicrohttpd thread, calling Spotify's token endpoint and /v1/me. One
 * call, one easy handle: no connection reuse, which is fine off the hot path
 * (the worker's polls use httpc). Bodies and Retry-After are collected as
 * httpc collects them (include/http/http_recv.h). Thread-safe once
 * http_sync_global_init has run. */
#include <stddef.h>

#define HTTP_SYNC_ERROR_SIZE 256   /* CURL_ERROR_SIZE */

/* http_sync_opts: fixed for a client's life (serve fills it from the config). */
struct http_sync_opts {
    long timeout_ms;      /* the whole request, and the connection (ms) */
    const char *ca_file;  /* NULL or "" = the system's CAs */
    size_t max_body;      /* a larger answer fails the call (status 0,
                           * truncated = 1); 0 = no cap */
};

/* http_sync_result: one call's answer, owned by the caller until
 * http_sync_free. */
struct http_sync_result {
    long status;          /* HTTP status; 0 = transport error (a body over max_body too) */
    char *body;           /* NUL-terminated, never NULL after http_sync_call ("" when none) */
    size_t len;
    int truncated;        /* the body exceeded max_body */
    char *retry_after;    /* the first Retry-After value, or NULL */
    char error[HTTP_SYNC_ERROR_SIZE]; /* transport error text, "" if none */
};

/* http_sync_global_init initialises libcurl once for the process, before any
 * thread calls; 0 or -1. http_sync_global_cleanup undoes it at exit. */
int http_sync_global_init(void);
void http_sync_global_cleanup(void);

/* http_sync_call runs method ("GET", "POST", ...) on url and waits for the
 * answer. headers: NULL or a NULL-terminated list of "Name: value" lines.
 * body: NULL, or the request body (sent as given: a form POST sets its
 * Content-Type in headers). Fills *res (status 0 and error on a transport
 * error); free it with http_sync_free whatever happened. */
void http_sync_call(const struct http_sync_opts *o, const char *method, const char *url,
                    const char *const *headers, const char *body, struct http_sync_result *res);

/* http_sync_free wipes the body (token answers hold secrets) and frees what
 * res owns; res may be freed twice. */
void http_sync_free(struct http_sync_result *res);

#endif
