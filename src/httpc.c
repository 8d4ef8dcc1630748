/* httpc: libcurl's multi_socket API driven by libev, after curl's
 * docs/examples/evhiperfifo.c.
 *
 * One ev_timer serves CURLMOPT_TIMERFUNCTION, one ev_io per socket serves
 * CURLMOPT_SOCKETFUNCTION (its struct is attached to the socket with
 * curl_multi_assign), and an ev_idle "kick" watcher is where curl's timeouts
 * are actually handed to curl: neither curl's timer callback nor our ev_timer
 * callback calls libcurl, they only arm the kick. After every
 * curl_multi_socket_action the finished transfers are drained with
 * curl_multi_info_read and mapped back to their request via CURLOPT_PRIVATE.
 *
 * Requests (and their easy handles) are recycled through a short free list;
 * connections live in the multi handle's connection cache, so they are reused
 * across requests whichever easy handle runs next. */
#include "httpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

/* Recycled requests kept for reuse; beyond this they are freed. */
#define HTTPC_FREE_MAX 32
/* Response buffers larger than this are not kept across requests. */
#define HTTPC_KEEP_BUF (64 * 1024)
#define HTTPC_DEFAULT_HOST_CONNS 32

/* httpc_req: one request in flight, or a spare on the free list. The easy
 * handle outlives the request so its DNS cache and TLS session survive. */
struct httpc_req {
    struct httpc *h;
    CURL *easy;
    struct curl_slist *hdrs;
    char *post;               /* copied request body, or NULL */
    char *body;               /* response body, NUL-terminated; cap + 1 bytes */
    size_t len, cap;
    int truncated;            /* write callback refused data past max_body */
    char *retry_after;        /* first Retry-After value, or NULL */
    httpc_cb *cb;
    void *ud;
    char errbuf[CURL_ERROR_SIZE];
    struct httpc_req *prev, *next; /* active list, or free list (next only) */
    int get_ready;            /* the easy handle holds every option of a plain GET */
};

/* httpc_sock: the ev_io watching one of curl's sockets. */
struct httpc_sock {
    ev_io io;
    curl_socket_t fd;
    struct httpc *h;
    struct httpc_sock *prev, *next;
};

struct httpc {
    struct ev_loop *loop;
    CURLM *multi;
    ev_timer timer;           /* curl's single timeout */
    ev_idle kick;             /* runs curl_multi_socket_action(CURL_SOCKET_TIMEOUT) */
    struct httpc_opts opts;
    char *ca_file;            /* owned copy of opts.ca_file, or NULL */
    struct httpc_req *active; /* in flight, doubly linked */
    struct httpc_req *spare;  /* free list */
    int nspare;
    struct httpc_sock *socks; /* every live httpc_sock, freed by httpc_free */
    int inflight;
    long connections;         /* sockets opened for connections, since httpc_new */
};

/* httpc_req_wipe cleanses what may hold credentials before it is freed or
 * reused: the request headers (Authorization), the body of a POST (a refresh
 * token) and the answer to a POST (new tokens). */
static void httpc_req_wipe(struct httpc_req *r)
{
    for (struct curl_slist *l = r->hdrs; l; l = l->next)
        OPENSSL_cleanse(l->data, strlen(l->data));
    if (r->post) {
        OPENSSL_cleanse(r->post, strlen(r->post));
        if (r->body)
            OPENSSL_cleanse(r->body, r->len);
    }
}

static void httpc_drain(struct httpc *h)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        struct httpc_req *r = NULL;
        CURL *easy;
        CURLcode code;
        struct httpc_response resp;
        long status = 0;
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
        resp.truncated = r->truncated;
        /* A truncated body still came with a real status; other transport
         * errors report 0 so callers cannot mistake a partial 200 for success. */
        resp.status = (code == CURLE_OK || r->truncated) ? status : 0;
        if (r->truncated)
            resp.error = "response body exceeds max_body";
        else if (code != CURLE_OK)
            resp.error = r->errbuf[0] ? r->errbuf : curl_easy_strerror(code);
        else
            resp.error = "";
        resp.body = r->body ? r->body : "";
        resp.len = r->len;
        resp.retry_after = r->retry_after;
        resp.total_s = total;

        r->cb(&resp, r->ud);

        /* recycle */
        httpc_req_wipe(r);
        curl_slist_free_all(r->hdrs);
        r->hdrs = NULL;
        free(r->post);
        r->post = NULL;
        free(r->retry_after);
        r->retry_after = NULL;
        if (r->cap > HTTPC_KEEP_BUF) {
            free(r->body);
            r->body = NULL;
            r->cap = 0;
        }
        r->len = 0;
        if (h->nspare < HTTPC_FREE_MAX) {
            r->next = h->spare;
            h->spare = r;
            h->nspare++;
        } else {
            curl_easy_cleanup(r->easy);
            free(r->body);
            free(r);
        }
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
    /* s may be freed inside socket_action (CURL_POLL_REMOVE) */
    httpc_action(s->h, s->fd, mask);
}

static void httpc_sock_free(struct httpc *h, struct httpc_sock *s)
{
    ev_io_stop(h->loop, &s->io);
    if (s->prev)
        s->prev->next = s->next;
    else
        h->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
}

/* CURLMOPT_SOCKETFUNCTION */
static int httpc_curl_sock(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct httpc *h = userp;
    struct httpc_sock *s = socketp;
    int kind;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            httpc_sock_free(h, s);
            curl_multi_assign(h->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        s->fd = fd;
        s->h = h;
        s->next = h->socks;
        if (h->socks)
            h->socks->prev = s;
        h->socks = s;
        ev_init(&s->io, httpc_io_cb);
        s->io.data = s;
        curl_multi_assign(h->multi, fd, s);
    }
    kind = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    ev_io_stop(h->loop, &s->io);
    ev_io_set(&s->io, fd, kind);
    ev_io_start(h->loop, &s->io);
    return 0;
}

/* CURLOPT_SOCKOPTFUNCTION: called once per socket curl opens for a
 * connection, which makes it the place to count connections. */
static int httpc_sockopt(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
    struct httpc *h = clientp;

    (void)fd;
    if (purpose == CURLSOCKTYPE_IPCXN)
        h->connections++;
    return CURL_SOCKOPT_OK;
}

/* CURLOPT_WRITEFUNCTION: append, refusing anything past max_body (returning
 * short makes curl fail the transfer with CURLE_WRITE_ERROR). */
static size_t httpc_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct httpc_req *r = userdata;
    size_t n = size * nmemb;
    size_t max = r->h->opts.max_body;

    if (max && (r->len > max || n > max - r->len)) {
        r->truncated = 1;
        return 0;
    }
    if (r->len + n > r->cap || !r->body) {
        size_t cap = r->cap ? r->cap : 4096;
        char *nb;

        while (cap < r->len + n)
            cap *= 2;
        if (max && cap > max)
            cap = max;
        nb = realloc(r->body, cap + 1);
        if (!nb)
            return 0;
        r->body = nb;
        r->cap = cap;
    }
    memcpy(r->body + r->len, ptr, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

/* CURLOPT_HEADERFUNCTION: keep the first Retry-After, any case. */
static size_t httpc_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct httpc_req *r = userdata;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";
    size_t nl = sizeof name - 1;

    if (r->retry_after == NULL && n > nl && strncasecmp(buf, name, nl) == 0) {
        const char *v = buf + nl;
        const char *end = buf + n;

        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
            end--;
        r->retry_after = strndup(v, (size_t)(end - v));
    }
    return n;
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
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      o->max_host_connections > 0 ? o->max_host_connections : (long)HTTPC_DEFAULT_HOST_CONNS);
    /* the cache must hold every per-host connection or keep-alive is lost */
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS,
                      2 * (o->max_host_connections > 0 ? o->max_host_connections : (long)HTTPC_DEFAULT_HOST_CONNS));
    return h;

err:
    if (h) {
        free(h->ca_file);
        free(h);
    }
    curl_global_cleanup();
    return NULL;
}

static void httpc_req_destroy(struct httpc_req *r)
{
    curl_easy_cleanup(r->easy);
    httpc_req_wipe(r);
    curl_slist_free_all(r->hdrs);
    free(r->post);
    free(r->body);
    free(r->retry_after);
    free(r);
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
    /* closing cached connections may still call the socket callback */
    curl_multi_cleanup(h->multi);
    while (h->socks)
        httpc_sock_free(h, h->socks);
    ev_timer_stop(h->loop, &h->timer);
    ev_idle_stop(h->loop, &h->kick);
    free(h->ca_file);
    free(h);
    curl_global_cleanup();
}

static int httpc_setup(struct httpc *h, struct httpc_req *r, const char *method, const char *url,
                       const char *const *headers, const char *body)
{
    CURL *e = r->easy;
    CURLcode rc = CURLE_OK;
    int plain_get = body == NULL && strcmp(method, "GET") == 0;

#define SETOPT(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
    /* A GET on a handle whose last request was a GET (the poll, over and
     * over) keeps every option but the URL and the headers: resetting and
     * setting them again costs more per poll than anything else here. */
    if (plain_get && r->get_ready) {
        SETOPT(CURLOPT_URL, url);
        goto headers;
    }
    curl_easy_reset(e);
    r->get_ready = 0;
    SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_PRIVATE, r);
    SETOPT(CURLOPT_ERRORBUFFER, r->errbuf);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_ACCEPT_ENCODING, "");
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* wait for a multiplexable connection rather than open a parallel one */
    SETOPT(CURLOPT_PIPEWAIT, 1L);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_WRITEFUNCTION, httpc_write);
    SETOPT(CURLOPT_WRITEDATA, r);
    SETOPT(CURLOPT_HEADERFUNCTION, httpc_header);
    SETOPT(CURLOPT_HEADERDATA, r);
    SETOPT(CURLOPT_SOCKOPTFUNCTION, httpc_sockopt);
    SETOPT(CURLOPT_SOCKOPTDATA, h);
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

headers:
    /* "Expect:" stops curl's 100-continue round trip on larger POSTs */
    r->hdrs = curl_slist_append(NULL, "Expect:");
    if (!r->hdrs)
        return -1;
    for (size_t i = 0; headers && headers[i]; i++) {
        struct curl_slist *l = curl_slist_append(r->hdrs, headers[i]);

        if (!l)
            return -1;
        r->hdrs = l;
    }
    SETOPT(CURLOPT_HTTPHEADER, r->hdrs);
#undef SETOPT
    return rc == CURLE_OK ? 0 : -1;
}

int httpc_request(struct httpc *h, const char *method, const char *url, const char *const *headers,
                  const char *body, httpc_cb *cb, void *ud)
{
    struct httpc_req *r;

    if (!h || !method || !url || !cb)
        return -1;
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
        r->easy = curl_easy_init();
        if (!r->easy) {
            free(r);
            return -1;
        }
    }
    r->cb = cb;
    r->ud = ud;
    r->truncated = 0;
    r->len = 0;
    if (r->body)
        r->body[0] = '\0';
    r->errbuf[0] = '\0';

    if (httpc_setup(h, r, method, url, headers, body) != 0)
        goto err;
    /* add_handle only arms curl's timer (our kick); the transfer and its
     * callback run later from the loop. */
    if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK)
        goto err;
    r->prev = NULL;
    r->next = h->active;
    if (h->active)
        h->active->prev = r;
    h->active = r;
    h->inflight++;
    return 0;

err:
    httpc_req_destroy(r);
    return -1;
}

int httpc_inflight(const struct httpc *h)
{
    return h ? h->inflight : 0;
}

long httpc_connections(const struct httpc *h)
{
    return h ? h->connections : 0;
}
