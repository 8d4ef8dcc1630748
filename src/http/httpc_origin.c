/* httpc_origin: see include/http/httpc_origin.h. */
#include "http/httpc_origin.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

struct httpc_wait *httpc_wait_new(const char *method, const char *url, const char *const *headers,
                                  const char *body, httpc_cb *cb, void *ud)
{
    size_t n = 0, size, lm = strlen(method) + 1, lu = strlen(url) + 1, lb = body ? strlen(body) + 1 : 0;
    struct httpc_wait *w;
    char *p;

    for (; headers && headers[n]; n++)
        ;
    size = sizeof *w + (n + 1) * sizeof *w->headers + lm + lu + lb;
    for (size_t i = 0; i < n; i++)
        size += strlen(headers[i]) + 1;
    w = malloc(size);
    if (!w)
        return NULL;
    w->next = NULL;
    w->cb = cb;
    w->ud = ud;
    w->size = size;
    w->headers = (const char **)(w + 1);
    p = (char *)(w->headers + n + 1);
    w->method = memcpy(p, method, lm);
    p += lm;
    w->url = memcpy(p, url, lu);
    p += lu;
    w->body = body ? memcpy(p, body, lb) : NULL;
    p += lb;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(headers[i]) + 1;

        w->headers[i] = memcpy(p, headers[i], l);
        p += l;
    }
    w->headers[n] = NULL;
    return w;
}

void httpc_wait_free(struct httpc_wait *w)
{
    OPENSSL_cleanse(w, w->size);
    free(w);
}

struct httpc_origin *httpc_origin_get(struct httpc_origin **list, int *n, const char *url, long streams)
{
    const char *p = strstr(url, "://");
    size_t klen;
    struct httpc_origin *o;

    if (!p)
        return NULL;
    klen = (size_t)(p + 3 - url) + strcspn(p + 3, "/?#");
    for (o = *list; o; o = o->next)
        if (o->klen == klen && memcmp(o->key, url, klen) == 0)
            return o;
    if (*n >= HTTPC_MAX_ORIGINS)
        return NULL;
    o = calloc(1, sizeof *o);
    if (!o || !(o->key = strndup(url, klen))) {
        free(o);
        return NULL;
    }
    o->klen = klen;
    o->streams = streams;
    o->next = *list;
    *list = o;
    (*n)++;
    return o;
}

void httpc_origin_free_all(struct httpc_origin *list)
{
    while (list) {
        struct httpc_origin *o = list;

        list = o->next;
        while (o->qhead)
            httpc_wait_free(httpc_origin_pop(o));
        free(o->key);
        free(o);
    }
}

/* httpc_origin_room: 1 if curl can run one more request of o now without a
 * connection beyond what o needs. Over HTTP/1.1: fewer than host_conns in
 * curl. Over HTTP/2: fewer than the streams of its connections that are up;
 * when every one is full (or none is open), a single request more, which
 * makes curl open the next connection, and no more until that one is up:
 * libcurl 7.88 waits for a connection being set up (CURLOPT_PIPEWAIT) only
 * until it knows the host multiplexes, and afterwards opens a new one for
 * each request that finds the others full. */
int httpc_origin_room(const struct httpc_origin *o, long host_conns)
{
    long full;

    if (!o->multiplex)
        return o->in_curl < host_conns;
    full = o->streams * (o->conns - o->opening);
    if (o->in_curl < full)
        return 1;
    return o->in_curl == full && !o->opening && o->conns < host_conns;
}

void httpc_origin_push(struct httpc_origin *o, struct httpc_wait *w)
{
    w->next = NULL;
    if (o->qtail)
        o->qtail->next = w;
    else
        o->qhead = w;
    o->qtail = w;
}

struct httpc_wait *httpc_origin_pop(struct httpc_origin *o)
{
    struct httpc_wait *w = o->qhead;

    if (w) {
        o->qhead = w->next;
        if (!o->qhead)
            o->qtail = NULL;
    }
    return w;
}

/* httpc_learn_streams: curl opened a connection to o that httpc did not ask
 * for (o's open ones had streams free by httpc's count): either the server
 * allows fewer streams per connection than o->streams, or it retires one of
 * o's connections (GOAWAY: curl uses it no more, and retries the requests
 * it refused on a new one) while httpc counts it until curl closes it, once
 * its last streams end. libcurl 7.88 tells neither
 * (SETTINGS_MAX_CONCURRENT_STREAMS and GOAWAY stay inside), so a first such
 * connection is only marked (unasked), and the figure is lowered at a
 * second with none of o's connections closed between: a server allowing
 * fewer streams makes them one after another, a retirement makes one and
 * then closes the retired connection. Lowered for a retirement, the figure
 * would stay low for good and every GOAWAY would halve it again (a server
 * that retires a connection every 1,000 streams took it from 100 to 50 in
 * a second). The figure is what the open connections carry now, at most
 * half the old one: a few connections more, at most, until it fits. */
static void httpc_learn_streams(struct httpc_origin *o)
{
    long seen = o->conns > 0 ? (long)(o->in_curl - 1) / o->conns : 1, half = o->streams / 2;
    long s = seen < half ? seen : half;

    o->streams = s > 0 ? s : 1;
}

void httpc_origin_opened(struct httpc_origin *o, const void *req)
{
    /* one that httpc asked for comes with the single request past the
     * streams of the open connections (httpc_origin_room) */
    if (o->multiplex && !o->opening && o->conns > 0 && o->in_curl <= o->streams * o->conns) {
        if (o->unasked)
            httpc_learn_streams(o);
        o->unasked = !o->unasked;
    }
    o->conns++;
    o->opening = 1;
    o->opener = req;
}

void httpc_origin_ended(struct httpc_origin *o, const void *req)
{
    o->in_curl--;
    /* the connection it opened is up (or gone): the next may be asked for */
    if (o->opening && o->opener == req) {
        o->opening = 0;
        o->opener = NULL;
    }
}

void httpc_origin_closed(struct httpc_origin *o)
{
    o->conns--;
    o->unasked = 0;
}

/* httpc_origin_host_cap: curl opens a connection for a request that finds
 * every open one full or retired, even one the admission did not let in
 * (a request curl retries after a GOAWAY refused it), and while that
 * connection is being set up the next such request opens another (libcurl
 * 7.88 waits for one being set up only before it knows the host
 * multiplexes): a GOAWAY with 60 requests in curl once opened 31 at once.
 * With the cap at what the admissions need, such a request waits in curl's
 * pending queue, which curl runs again as transfers end, until a connection
 * has room. */
long httpc_origin_host_cap(const struct httpc_origin *list, long host_conns)
{
    long cap = 1;

    for (const struct httpc_origin *o = list; o; o = o->next) {
        long want = o->conns + !o->opening;

        if (!o->multiplex && (o->in_curl > 0 || o->conns > 0))
            return host_conns;
        if (o->multiplex && want > cap)
            cap = want;
    }
    return cap < host_conns ? cap : host_conns;
}
