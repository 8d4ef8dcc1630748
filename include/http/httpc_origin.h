#ifndef SW_HTTPC_ORIGIN_H
#define SW_HTTPC_ORIGIN_H
/* httpc_origin: httpc's admission per origin, inside the HTTP client (only
 * httpc.c uses it): which requests of one "scheme://host:port" libcurl may
 * run now, given that origin's connections and their HTTP/2 streams, and the
 * queue of the others. No libcurl here: httpc.c feeds it what curl did
 * (a connection opened or closed, the HTTP version of an answer). */
#include <stddef.h>

#include "http/httpc.h"

/* httpc_wait: a request waiting for room in curl (see struct httpc_origin): a copy
 * of what httpc_request was given, in one allocation, wiped when freed (the
 * headers hold an Authorization, a POST body a refresh token). It gets an
 * easy handle only when admitted, so there are as many easy handles as
 * transfers curl runs, not as requests wait, and they stay warm in cache. */
struct httpc_wait {
    struct httpc_wait *next;
    httpc_cb *cb;
    void *ud;
    size_t size;              /* bytes of the allocation */
    const char *method, *url, *body; /* in the allocation; body may be NULL */
    const char **headers;     /* NULL-terminated, in the allocation */
};

/* httpc_origin: the requests to one "scheme://host:port" (as the URLs spell
 * it). Over HTTP/1.1 a connection carries one request at a time, and a
 * request curl cannot give a connection now waits in curl's pending queue,
 * where curl sets up a connection for it again (to fail it) whenever another
 * transfer ends: that costs more than the request. So httpc hands curl at
 * most max_host_connections requests of an origin and keeps the rest here,
 * in order, until one ends. Once the origin answers over HTTP/2, curl gets
 * as many as its open connections have streams for (httpc_origin_room). */
struct httpc_origin {
    char *key;                /* scheme://host:port, not NUL-terminated in URLs */
    size_t klen;
    int in_curl;              /* its requests in the multi handle */
    int multiplex;            /* its last answer came over HTTP/2 */
    int conns;                /* its connections open now (sockets curl opened for it) */
    int opening;              /* a connection of it is being set up: the request
                               * that made curl open it (opener) has not ended yet */
    const void *opener;       /* that request (an opaque tag of httpc's) */
    long streams;             /* streams one of its connections carries: the
                               * client limit, lowered when curl shows the
                               * server allows fewer (httpc_origin_opened) */
    int unasked;              /* curl opened a connection httpc did not ask
                               * for, and none of o's has closed since */
    struct httpc_wait *qhead, *qtail; /* waiting for curl, oldest first */
    struct httpc_origin *next;
};

/* httpc_wait_new copies a request into one allocation; NULL if out of
 * memory. httpc_wait_free wipes and frees it. */
struct httpc_wait *httpc_wait_new(const char *method, const char *url, const char *const *headers,
                                  const char *body, httpc_cb *cb, void *ud);
void httpc_wait_free(struct httpc_wait *w);

/* httpc_origin_get: the admission of url's origin in *list (*n of them),
 * made on first use with streams per connection; NULL (no admission: straight
 * to curl) for a URL without "://", past HTTPC_MAX_ORIGINS origins, or out of
 * memory. httpc_origin_free_all frees a list and every request waiting in it. */
#define HTTPC_MAX_ORIGINS 16
struct httpc_origin *httpc_origin_get(struct httpc_origin **list, int *n, const char *url, long streams);
void httpc_origin_free_all(struct httpc_origin *list);

/* httpc_origin_room: 1 if curl can run one more request of o now without a
 * connection beyond what o needs (host_conns: the cap on its connections). */
int httpc_origin_room(const struct httpc_origin *o, long host_conns);

/* httpc_origin_host_cap: the cap on connections per host for curl
 * (CURLMOPT_MAX_HOST_CONNECTIONS, one figure for every host) that lets curl
 * open no connection the admissions in list did not ask for: host_conns
 * while an origin not known to multiplex has requests or connections (over
 * HTTP/1.1 each request needs its own), else, per origin, its connections
 * open now plus one when none is being set up, the most of these, at least 1. */
long httpc_origin_host_cap(const struct httpc_origin *list, long host_conns);

/* httpc_origin_push queues w last; httpc_origin_pop takes the oldest (NULL if none). */
void httpc_origin_push(struct httpc_origin *o, struct httpc_wait *w);
struct httpc_wait *httpc_origin_pop(struct httpc_origin *o);

/* httpc_origin_opened: curl opened a connection (a socket) for the request
 * tagged req, of o (lowers streams at the second one httpc did not ask for
 * in a row); httpc_origin_ended: a request of o has left curl (clears
 * opening when it is the opener, whatever its outcome);
 * httpc_origin_closed: curl closed one of o's connections. */
void httpc_origin_opened(struct httpc_origin *o, const void *req);
void httpc_origin_ended(struct httpc_origin *o, const void *req);
void httpc_origin_closed(struct httpc_origin *o);

#endif
