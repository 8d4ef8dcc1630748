/* httpc: libcurl's multi_socket API driven by libev, after curl's
 * docs/examples/evhiperfifo.c.
 *
 * One ev_timer serves CURLMOPT_TIMERFUNCTION, one ev_io per socket serves
 * CURLMOPT_SOCKETFUNCTION (its struct is kept in a table by fd), and an
 * ev_idle "kick" watcher is where curl's timeouts
 * are actually handed to curl: neither curl's timer callback nor our ev_timer
 * callback calls libcurl, they only arm the kick. After every
 * curl_multi_socket_action the finished transfers are drained with
 * curl_multi_info_read and mapped back to their request via CURLOPT_PRIVATE.
 *
 * Requests (and their easy handles) are recycled through a short free list;
 * connections live in the multi handle's connection cache, so they are reused
 * across requests whichever easy handle runs next. Per origin, httpc hands
 * curl no more requests than it has connections for (unless they multiplex)
 * and queues the rest itself (httpc_origin.h).
 *
 * Over HTTP/2 the same admission keeps an origin's requests within the
 * streams of its open connections (httpc_origin_room): one connection carries them
 * while it has streams free, and the next is opened only when every open
 * one is full, one at a time, instead of libcurl opening a new connection (a
 * TLS handshake) for each request past the server's stream limit. Requests
 * already in curl that it retries by itself (those a GOAWAY refused) are
 * held by curl's cap on connections per host, kept at what the admissions
 * need (httpc_set_cap).
 *
 * Per request, libcurl itself costs far more than httpc (tests/bench's
 * curl_floor measures that floor), so httpc gives it as little extra work as
 * libcurl allows: a recycled handle whose last request was a GET keeps every
 * option, its URL too when unchanged (pre-parsed into a CURLU, so curl does not
 * parse it again), the header list lives in the request's own nodes and
 * buffer (no allocation), no proxy variables are looked up per request when
 * none is set, a socket's watcher is touched only when the events curl
 * wants change, and no request sits in curl's pending queue. */
#include "http/httpc.h"
#include "http/http_recv.h"
#include "http/httpc_origin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

/* The coding asked for with accept_gzip (CURLOPT_ACCEPT_ENCODING decodes
 * it, asked for or not), sent as a header of the request's own: see
 * httpc_setup. */
#define HTTPC_ACCEPT_GZIP "Accept-Encoding: gzip"
/* Recycled requests kept for reuse; beyond this they are freed. */
#define HTTPC_FREE_MAX 32
/* Response buffers larger than this are not kept across requests. */
#define HTTPC_KEEP_BUF (64 * 1024)
#define HTTPC_DEFAULT_HOST_CONNS 32
/* Streams per HTTP/2 connection when httpc_opts says 0: libcurl's own
 * default for CURLMOPT_MAX_CONCURRENT_STREAMS, and the least RFC 9113 (6.5.2)
 * recommends a server allow, so a connection is rarely asked for more. */
#define HTTPC_DEFAULT_STREAMS 100

/* httpc_req: one request in flight, or a spare on the free list. The easy
 * handle outlives the request so its DNS cache and TLS session survive. */
struct httpc_req {
    struct httpc *h;
    CURL *easy;
    char *url;                /* the URL the handle holds (CURLOPT_URL), or NULL */
    CURLU *uh;                /* url pre-parsed (CURLOPT_CURLU), or NULL */
    struct curl_slist *hdrs;  /* CURLOPT_HTTPHEADER: hnodes, or NULL */
    struct curl_slist *hnodes; /* header list nodes, pointing into hbuf; not curl's */
    size_t nnodes;
    char *hbuf;               /* the header lines, NUL-separated */
    size_t hlen, hcap;        /* bytes of hbuf in use (wiped after the request); allocated */
    char *post;               /* copied request body, or NULL */
    struct http_recv rx;      /* the answer: body (capped at max_body), Retry-After */
    httpc_cb *cb;
    void *ud;
    char errbuf[CURL_ERROR_SIZE];
    struct httpc_req *prev, *next; /* active list, or free list (next only) */
    struct httpc_origin *origin; /* its admission, or NULL (no admission) */
    int get_ready;            /* the easy handle holds every option of a plain GET */
};

/* httpc_sock: the ev_io watching one of curl's sockets, kept by fd for the
 * life of the httpc (never moved): a kept-alive connection's socket is
 * handed back and forth by curl with every request on it. */
struct httpc_sock {
    ev_io io;
    struct httpc *h;
    int events;               /* EV_READ | EV_WRITE watched; 0 = stopped */
    int conn;                 /* an open connection's socket (counted in h->open_conns) */
    struct httpc_origin *origin; /* whose connection (counted in its conns), or NULL */
};

struct httpc {
    struct ev_loop *loop;
    CURLM *multi;
    ev_timer timer;           /* curl's single timeout */
    ev_idle kick;             /* runs curl_multi_socket_action(CURL_SOCKET_TIMEOUT) */
    struct httpc_opts opts;
    char *ca_file;            /* owned copy of opts.ca_file, or NULL */
    struct httpc_req *active; /* in curl, doubly linked */
    struct httpc_origin *origins;
    int norigins;
    long host_conns;          /* max_host_connections in effect */
    long host_cap;            /* CURLMOPT_MAX_HOST_CONNECTIONS now (httpc_set_cap) */
    int no_origin;            /* requests in curl without an admission (origin NULL) */
    long streams;             /* max_streams in effect (CURLMOPT_MAX_CONCURRENT_STREAMS) */
    struct httpc_req *spare;  /* free list */
    int nspare;
    struct httpc_sock **socks; /* by fd, NULL where none was made; freed by httpc_free */
    int nsocks;
    int no_proxy_env;         /* no proxy variable was set: tell curl not to look */
    int inflight;             /* in curl + waiting */
    long connections;         /* sockets opened for connections, since httpc_new */
    long open_conns;          /* sockets of connections open now */
    int waiting;              /* requests waiting in the origins' queues */
};

/* httpc_req_wipe cleanses what may hold credentials before it is freed or
 * reused: the request headers (Authorization), the body of a POST (a refresh
 * token) and the answer to a POST (new tokens). */
static void httpc_req_wipe(struct httpc_req *r)
{
    if (r->hlen) {
        OPENSSL_cleanse(r->hbuf, r->hlen);
        r->hlen = 0;
    }
    if (r->post) {
        OPENSSL_cleanse(r->post, strlen(r->post));
        if (r->rx.body)
            OPENSSL_cleanse(r->rx.body, r->rx.len);
    }
}

static void httpc_req_destroy(struct httpc_req *r)
{
    curl_easy_cleanup(r->easy);
    httpc_req_wipe(r);
    curl_url_cleanup(r->uh);
    free(r->url);
    free(r->hnodes);
    free(r->hbuf);
    free(r->post);
    free(r->rx.body);
    free(r->rx.retry_after);
    free(r);
}

static int httpc_start(struct httpc *h, struct httpc_origin *o, const char *method, const char *url,
                       const char *const *headers, const char *body, httpc_cb *cb, void *ud);

/* httpc_set_cap: curl's cap on connections per host, to what the origins
 * need now (httpc_origin_host_cap): connections open, close and get set up
 * inside curl's calls, and a request curl retries there (after a GOAWAY)
 * finds the cap as it was last set, so it is set again after every call
 * that may move it and before a request that may open one. Never from
 * inside one of curl's callbacks (curl refuses it there: tried again next
 * time). */
static void httpc_set_cap(struct httpc *h)
{
    /* a request without an admission is held to nothing but host_conns */
    long cap = h->no_origin > 0 ? h->host_conns : httpc_origin_host_cap(h->origins, h->host_conns);

    if (cap != h->host_cap && curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, cap) == CURLM_OK)
        h->host_cap = cap;
}

/* httpc_finish ends r, which has left the multi handle: out of the active
 * list, its callback, then recycled. */
static void httpc_finish(struct httpc *h, struct httpc_req *r, CURLcode code, long status, double total)
{
    struct httpc_response resp;

    /* unlink from active before the callback, which may start requests */
    if (r->prev)
        r->prev->next = r->next;
    else
        h->active = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    h->inflight--;

    memset(&resp, 0, sizeof resp);
    resp.curl_code = (int)code;
    resp.truncated = r->rx.truncated;
    /* A truncated body still came with a real status; other transport
     * errors report 0 so callers cannot mistake a partial 200 for success. */
    resp.status = (code == CURLE_OK || r->rx.truncated) ? status : 0;
    if (r->rx.truncated)
        resp.error = "response body exceeds max_body";
    else if (code != CURLE_OK)
        resp.error = r->errbuf[0] ? r->errbuf : curl_easy_strerror(code);
    else
        resp.error = "";
    resp.body = r->rx.body ? r->rx.body : "";
    resp.len = r->rx.len;
    resp.retry_after = r->rx.retry_after;
    resp.total_s = total;

    r->cb(&resp, r->ud);

    /* recycle */
    httpc_req_wipe(r);
    free(r->post);
    r->post = NULL;
    free(r->rx.retry_after);
    r->rx.retry_after = NULL;
    if (r->rx.cap > HTTPC_KEEP_BUF) {
        free(r->rx.body);
        r->rx.body = NULL;
        r->rx.cap = 0;
    }
    r->rx.len = 0;
    r->origin = NULL;
    if (h->nspare < HTTPC_FREE_MAX) {
        r->next = h->spare;
        h->spare = r;
        h->nspare++;
    } else {
        httpc_req_destroy(r);
    }
}

/* httpc_admit hands curl the requests waiting on o that it can run now. One
 * that cannot be started (out of memory) gets its callback with the error. */
static void httpc_admit(struct httpc *h, struct httpc_origin *o)
{
    while (o->qhead && httpc_origin_room(o, h->host_conns)) {
        struct httpc_wait *w = httpc_origin_pop(o);

        h->waiting--;
        if (httpc_start(h, o, w->method, w->url, w->headers, w->body, w->cb, w->ud) != 0) {
            struct httpc_response resp = {.curl_code = CURLE_OUT_OF_MEMORY, .body = ""};

            resp.error = curl_easy_strerror(CURLE_OUT_OF_MEMORY);
            h->inflight--;
            w->cb(&resp, w->ud);
        }
        httpc_wait_free(w);
    }
}

static void httpc_drain(struct httpc *h)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        struct httpc_req *r = NULL;
        struct httpc_origin *o;
        CURL *easy;
        CURLcode code;
        long status = 0, version = 0;
        double total = 0;

        if (msg->msg != CURLMSG_DONE)
            continue;
        /* msg is invalid once the handle is removed: copy first. */
        easy = msg->easy_handle;
        code = msg->data.result;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &total);
        curl_multi_remove_handle(h->multi, easy);
        o = r->origin;
        if (!o)
            h->no_origin--;
        if (o) {
            httpc_origin_ended(o, r);
            if (status > 0 && curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version) == CURLE_OK && version > 0)
                o->multiplex = version >= CURL_HTTP_VERSION_2_0;
        }
        httpc_finish(h, r, code, status, total);
        /* after r is recycled (the next one takes its warm handle); requests
         * the callback started queued behind the waiting ones */
        if (o)
            httpc_admit(h, o);
    }
}

static void httpc_action(struct httpc *h, curl_socket_t fd, int mask)
{
    int running = 0;

    /* curl disarms its own timer (timeout -1) when nothing is left, and a
     * callback in httpc_drain may have started a request: leave the
     * watchers to curl's TIMERFUNCTION rather than stop them on running == 0. */
    curl_multi_socket_action(h->multi, fd, mask, &running);
    httpc_drain(h);
    httpc_set_cap(h);
}

static void httpc_kick_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    struct httpc *h = w->data;

    (void)revents;
    ev_idle_stop(loop, w);
    httpc_action(h, CURL_SOCKET_TIMEOUT, 0);
}

/* httpc_timer_cb: curl's deadline passed. Hand it to curl from the kick. */
static void httpc_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct httpc *h = w->data;

    (void)revents;
    ev_idle_start(loop, &h->kick);
}

/* CURLMOPT_TIMERFUNCTION: -1 = no timeout, 0 = act now, else ms from now. */
static int httpc_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct httpc *h = userp;

    (void)multi;
    ev_timer_stop(h->loop, &h->timer);
    if (timeout_ms == 0) {
        ev_idle_start(h->loop, &h->kick);
    } else if (timeout_ms > 0) {
        ev_timer_set(&h->timer, timeout_ms / 1000.0, 0.);
        ev_timer_start(h->loop, &h->timer);
    }
    return 0;
}

static void httpc_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct httpc_sock *s = w->data;
    int mask = (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);

    (void)loop;
    /* handing curl the ready socket and its events (not a timeout) spares
     * curl a poll() to find out */
    httpc_action(s->h, w->fd, mask);
}

/* httpc_sock_at: fd's entry of the socket table, made if need be; NULL if
 * out of memory. */
static struct httpc_sock *httpc_sock_at(struct httpc *h, curl_socket_t fd)
{
    if (fd >= h->nsocks) {
        int n = fd + 64;
        struct httpc_sock **ns = realloc(h->socks, (size_t)n * sizeof *ns);

        if (!ns)
            return NULL;
        memset(ns + h->nsocks, 0, (size_t)(n - h->nsocks) * sizeof *ns);
        h->socks = ns;
        h->nsocks = n;
    }
    if (!h->socks[fd]) {
        h->socks[fd] = calloc(1, sizeof *h->socks[fd]);
        if (h->socks[fd])
            h->socks[fd]->h = h;
    }
    return h->socks[fd];
}

/* CURLMOPT_SOCKETFUNCTION: curl removes a kept-alive connection's socket
 * when a request on it ends and adds it again with the next one, so the
 * httpc_sock stays (by fd) and its watcher is only stopped, and it is
 * restarted only when the events differ from what is being watched. */
static int httpc_curl_sock(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct httpc *h = userp;
    struct httpc_sock *s;
    int kind = 0;

    (void)easy;
    (void)socketp;
    if (fd < 0)
        return -1;
    if (what == CURL_POLL_REMOVE && (fd >= h->nsocks || !h->socks[fd]))
        return 0;
    s = httpc_sock_at(h, fd);
    if (!s)
        return -1;
    if (what != CURL_POLL_REMOVE)
        kind = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (kind == s->events)
        return 0;
    if (s->events)
        ev_io_stop(h->loop, &s->io);
    s->events = kind;
    if (kind) {
        ev_io_init(&s->io, httpc_io_cb, fd, kind);
        s->io.data = s;
        ev_io_start(h->loop, &s->io);
    }
    return 0;
}

/* CURLOPT_SOCKOPTFUNCTION (clientp: the request curl opens it for): called
 * once per socket curl opens for a connection, which makes it the place to
 * count connections, all and per origin. */
static int httpc_sockopt(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
    struct httpc_req *r = clientp;
    struct httpc *h = r->h;
    struct httpc_origin *o = r->origin;
    struct httpc_sock *s;

    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKOPT_OK;
    h->connections++;
    s = httpc_sock_at(h, fd);
    if (!s)
        return CURL_SOCKOPT_ERROR;
    s->conn = 1;
    s->origin = o;
    h->open_conns++;
    if (o)
        httpc_origin_opened(o, r);
    return CURL_SOCKOPT_OK;
}

/* CURLOPT_CLOSESOCKETFUNCTION (clientp: h, which outlives every connection):
 * the other end of httpc_sockopt's count. */
static int httpc_closesocket(void *clientp, curl_socket_t fd)
{
    struct httpc *h = clientp;
    struct httpc_sock *s = fd >= 0 && fd < h->nsocks ? h->socks[fd] : NULL;

    if (s && s->conn) {
        s->conn = 0;
        h->open_conns--;
        if (s->origin)
            httpc_origin_closed(s->origin);
        s->origin = NULL;
    }
    return close(fd);
}

/* httpc_no_proxy_env: 1 if none of the variables curl takes a proxy from is
 * set. Then CURLOPT_NOPROXY "*" keeps curl from reading the environment on
 * every request (getenv of no_proxy, NO_PROXY, <scheme>_proxy, all_proxy,
 * ALL_PROXY) to find the same nothing; with one set, curl reads them as
 * always. */
static int httpc_no_proxy_env(void)
{
    static const char *const vars[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};

    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);

        if (v && v[0])
            return 0;
    }
    return 1;
}

struct httpc *httpc_new(struct ev_loop *loop, const struct httpc_opts *o, char *err, size_t errlen)
{
    struct httpc *h;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "curl_global_init failed");
        return NULL;
    }
    h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        goto err;
    }
    h->loop = loop;
    h->opts = *o;
    if (o->ca_file && o->ca_file[0]) {
        h->ca_file = strdup(o->ca_file);
        if (!h->ca_file) {
            snprintf(err, errlen, "out of memory");
            goto err;
        }
    }
    h->opts.ca_file = h->ca_file;
    h->no_proxy_env = httpc_no_proxy_env();
    h->multi = curl_multi_init();
    if (!h->multi) {
        snprintf(err, errlen, "curl_multi_init failed");
        goto err;
    }
    ev_init(&h->timer, httpc_timer_cb);
    h->timer.data = h;
    ev_idle_init(&h->kick, httpc_kick_cb);
    /* An idle watcher runs only when nothing of its priority or above is
     * pending; at the top priority a busy loop cannot starve curl's timeouts.
     * While armed it also makes the loop poll without blocking. */
    ev_set_priority(&h->kick, EV_MAXPRI);
    h->kick.data = h;

    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, httpc_curl_sock);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, httpc_curl_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    h->host_conns = o->max_host_connections > 0 ? o->max_host_connections : (long)HTTPC_DEFAULT_HOST_CONNS;
    h->host_cap = h->host_conns;
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, h->host_cap);
    /* the cache must hold every per-host connection or keep-alive is lost */
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, 2 * h->host_conns);
    /* curl holds each connection to the lower of this and the server's
     * SETTINGS_MAX_CONCURRENT_STREAMS; httpc_origin_room admits by the same figure */
    h->streams = o->max_streams > 0 ? o->max_streams : (long)HTTPC_DEFAULT_STREAMS;
    curl_multi_setopt(h->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, h->streams);
    return h;

err:
    if (h) {
        free(h->ca_file);
        free(h);
    }
    curl_global_cleanup();
    return NULL;
}

void httpc_free(struct httpc *h)
{
    if (!h)
        return;
    while (h->active) {
        struct httpc_req *r = h->active;

        h->active = r->next;
        curl_multi_remove_handle(h->multi, r->easy);
        httpc_req_destroy(r);
    }
    while (h->spare) {
        struct httpc_req *r = h->spare;

        h->spare = r->next;
        httpc_req_destroy(r);
    }
    /* closing cached connections may still call the socket callbacks, which
     * count them off their origins: those go after */
    curl_multi_cleanup(h->multi);
    httpc_origin_free_all(h->origins);
    for (int fd = 0; fd < h->nsocks; fd++) {
        struct httpc_sock *s = h->socks[fd];

        if (s && s->events)
            ev_io_stop(h->loop, &s->io);
        free(s);
    }
    free(h->socks);
    ev_timer_stop(h->loop, &h->timer);
    ev_idle_stop(h->loop, &h->kick);
    free(h->ca_file);
    free(h);
    curl_global_cleanup();
}

/* httpc_set_url: CURLOPT_URL and CURLOPT_CURLU for url, unless the handle
 * holds that URL already (r->url). With the CURLU curl copies the parsed URL
 * for each request instead of parsing the text again; a URL that curl_url
 * rejects goes to curl as text alone, which fails the request as before. */
static CURLcode httpc_set_url(struct httpc_req *r, const char *url)
{
    CURLcode rc;

    if (r->url && strcmp(r->url, url) == 0)
        return CURLE_OK;
    free(r->url);
    r->url = strdup(url);
    if (!r->url)
        return CURLE_OUT_OF_MEMORY;
    if (!r->uh)
        r->uh = curl_url();
    rc = curl_easy_setopt(r->easy, CURLOPT_URL, url);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(r->easy, CURLOPT_CURLU,
                              r->uh && curl_url_set(r->uh, CURLUPART_URL, url, 0) == CURLUE_OK ? r->uh : NULL);
    if (rc != CURLE_OK) {
        free(r->url);
        r->url = NULL;
    }
    return rc;
}

/* httpc_set_headers: the request's header lines, after one or two of our
 * own (the Accept-Encoding line, and "Expect:" when expect), copied into
 * r->hbuf and linked through r->hnodes, a curl_slist that is ours (curl only
 * reads it). Both are kept from request to request, so a poll allocates
 * nothing here; what hbuf held is wiped when the request ends. */
static int httpc_set_headers(struct httpc_req *r, const char *const *headers, int expect)
{
    /* "Accept-Encoding:" with no value: curl sends no such line, and adds
     * none of its own (CURLOPT_ACCEPT_ENCODING would). */
    static const char expect_hdr[] = "Expect:", gzip_hdr[] = HTTPC_ACCEPT_GZIP, none_hdr[] = "Accept-Encoding:";
    const char *lead[2];
    size_t nlead = 0, n, len = 0, k = 0;
    char *p;

    lead[nlead++] = r->h->opts.accept_gzip ? gzip_hdr : none_hdr;
    if (expect)
        lead[nlead++] = expect_hdr;
    n = nlead;
    for (size_t i = 0; i < nlead; i++)
        len += strlen(lead[i]) + 1;
    for (size_t i = 0; headers && headers[i]; i++) {
        n++;
        len += strlen(headers[i]) + 1;
    }
    r->hdrs = NULL;
    if (n > r->nnodes) {
        struct curl_slist *nn = realloc(r->hnodes, n * sizeof *nn);

        if (!nn)
            return -1;
        r->hnodes = nn;
        r->nnodes = n;
    }
    if (len > r->hcap) {
        /* the old buffer was wiped when its request ended */
        char *nb = realloc(r->hbuf, len);

        if (!nb)
            return -1;
        r->hbuf = nb;
        r->hcap = len;
    }
    p = r->hbuf;
    for (size_t i = 0; i < nlead; i++) {
        size_t l = strlen(lead[i]) + 1;

        memcpy(p, lead[i], l);
        r->hnodes[k++].data = p;
        p += l;
    }
    for (size_t i = 0; headers && headers[i]; i++) {
        size_t l = strlen(headers[i]) + 1;

        memcpy(p, headers[i], l);
        r->hnodes[k++].data = p;
        p += l;
    }
    for (k = 0; k < n; k++)
        r->hnodes[k].next = k + 1 < n ? &r->hnodes[k + 1] : NULL;
    r->hlen = len;
    r->hdrs = r->hnodes;
    return 0;
}

static int httpc_setup(struct httpc *h, struct httpc_req *r, const char *method, const char *url,
                       const char *const *headers, const char *body)
{
    CURL *e = r->easy;
    CURLcode rc = CURLE_OK;
    int plain_get = body == NULL && strcmp(method, "GET") == 0;

#define SETOPT(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
    /* A GET on a handle whose last request was a GET (the poll, over and
     * over) keeps every option but the headers (and the URL when it differs):
     * resetting and setting them again costs more per poll than anything
     * else here. */
    if (plain_get && r->get_ready)
        goto url;
    curl_easy_reset(e);
    free(r->url);             /* the reset dropped the URL and the CURLU */
    r->url = NULL;
    r->get_ready = 0;
    SETOPT(CURLOPT_PRIVATE, r);
    SETOPT(CURLOPT_ERRORBUFFER, r->errbuf);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    /* gzip, what api.spotify.com compresses with, is decoded whether or not
     * it was asked for (accept_gzip). The header that asks, or says nothing,
     * is among the request's own (httpc_set_headers) rather than libcurl's:
     * libcurl formats its own through its printf at every request, a
     * character at a time (for "" "deflate, gzip, br, zstd": ~7,000
     * instructions a poll, callgrind). Inflating an answer costs far more
     * (zlib set up per answer: ~100,000 instructions for a 2 KB one), hence
     * accept_gzip's default in the worker: no. */
    SETOPT(CURLOPT_ACCEPT_ENCODING, "gzip");
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* wait for a multiplexable connection rather than open a parallel one */
    SETOPT(CURLOPT_PIPEWAIT, 1L);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_WRITEFUNCTION, http_recv_body);
    SETOPT(CURLOPT_WRITEDATA, &r->rx);
    SETOPT(CURLOPT_HEADERFUNCTION, http_recv_header);
    SETOPT(CURLOPT_HEADERDATA, &r->rx);
    SETOPT(CURLOPT_SOCKOPTFUNCTION, httpc_sockopt);
    SETOPT(CURLOPT_SOCKOPTDATA, r);
    SETOPT(CURLOPT_CLOSESOCKETFUNCTION, httpc_closesocket);
    SETOPT(CURLOPT_CLOSESOCKETDATA, h);
    if (h->no_proxy_env)
        SETOPT(CURLOPT_NOPROXY, "*");
    if (h->opts.timeout_ms > 0)
        SETOPT(CURLOPT_TIMEOUT_MS, h->opts.timeout_ms);
    if (h->opts.connect_timeout_ms > 0)
        SETOPT(CURLOPT_CONNECTTIMEOUT_MS, h->opts.connect_timeout_ms);
    if (h->ca_file)
        SETOPT(CURLOPT_CAINFO, h->ca_file);

    if (body) {
        r->post = strdup(body);
        if (!r->post)
            return -1;
        SETOPT(CURLOPT_POSTFIELDS, r->post);
        SETOPT(CURLOPT_POSTFIELDSIZE, (long)strlen(r->post));
        if (strcmp(method, "POST") != 0)
            SETOPT(CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") == 0) {
        SETOPT(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        SETOPT(CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "POST") == 0) {
        SETOPT(CURLOPT_POSTFIELDS, "");
        SETOPT(CURLOPT_POSTFIELDSIZE, 0L);
    } else {
        SETOPT(CURLOPT_CUSTOMREQUEST, method);
    }

    r->get_ready = plain_get;

url:
    if (rc == CURLE_OK)
        rc = httpc_set_url(r, url);
    /* "Expect:" stops curl's 100-continue round trip on larger POSTs */
    if (rc == CURLE_OK && httpc_set_headers(r, headers, body != NULL) != 0)
        return -1;
    SETOPT(CURLOPT_HTTPHEADER, r->hdrs);
#undef SETOPT
    return rc == CURLE_OK ? 0 : -1;
}

/* httpc_start sets a request up on a recycled (or new) easy handle and hands
 * it to curl; 0, or -1 with nothing started. Not counted in inflight. */
static int httpc_start(struct httpc *h, struct httpc_origin *o, const char *method, const char *url,
                       const char *const *headers, const char *body, httpc_cb *cb, void *ud)
{
    struct httpc_req *r;

    if (h->spare) {
        r = h->spare;
        h->spare = r->next;
        h->nspare--;
        r->next = NULL;
    } else {
        r = calloc(1, sizeof *r);
        if (!r)
            return -1;
        r->h = h;
        r->rx.max = h->opts.max_body;
        r->easy = curl_easy_init();
        if (!r->easy) {
            free(r);
            return -1;
        }
    }
    r->cb = cb;
    r->ud = ud;
    r->rx.truncated = 0;
    r->rx.len = 0;
    if (r->rx.body)
        r->rx.body[0] = '\0';
    r->errbuf[0] = '\0';

    if (httpc_setup(h, r, method, url, headers, body) != 0)
        goto err;
    /* add_handle only arms curl's timer (our kick); the transfer and its
     * callback run later from the loop. */
    if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK)
        goto err;
    r->origin = o;
    if (o)
        o->in_curl++;
    else
        h->no_origin++;
    /* before curl connects it (later, from the loop): an origin's first
     * request raises the cap to host_conns until it is known to multiplex */
    httpc_set_cap(h);
    r->prev = NULL;
    r->next = h->active;
    if (h->active)
        h->active->prev = r;
    h->active = r;
    return 0;

err:
    httpc_req_destroy(r);
    return -1;
}

int httpc_request(struct httpc *h, const char *method, const char *url, const char *const *headers,
                  const char *body, httpc_cb *cb, void *ud)
{
    struct httpc_origin *o;

    if (!h || !method || !url || !cb)
        return -1;
    o = httpc_origin_get(&h->origins, &h->norigins, url, h->streams);
    if (o && (o->qhead || !httpc_origin_room(o, h->host_conns))) {
        /* curl could not run it now: wait here, behind the others */
        struct httpc_wait *w = httpc_wait_new(method, url, headers, body, cb, ud);

        if (!w)
            return -1;
        httpc_origin_push(o, w);
        h->waiting++;
    } else if (httpc_start(h, o, method, url, headers, body, cb, ud) != 0) {
        return -1;
    }
    h->inflight++;
    return 0;
}

int httpc_inflight(const struct httpc *h)
{
    return h ? h->inflight : 0;
}

long httpc_connections(const struct httpc *h)
{
    return h ? h->connections : 0;
}

long httpc_open_connections(const struct httpc *h)
{
    return h ? h->open_conns : 0;
}

int httpc_streams(const struct httpc *h)
{
    return h ? h->inflight - h->waiting : 0;
}
