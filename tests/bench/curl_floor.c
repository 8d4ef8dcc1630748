/* curl_floor: the cheapest libcurl client bench.py can compare the worker to.
 *
 * usage: curl_floor [--cacert FILE] [--h2 STREAMS] URL CONNECTIONS SECONDS [HEADER...]
 *
 * CONNECTIONS easy handles loop GET URL (each HEADER added as given) for
 * SECONDS over keep-alive connections, through libcurl's multi_socket API
 * driven by libev, as cheaply as libcurl allows: every option is set once per
 * handle (a pre-parsed CURLU, no proxy lookups, no SIGPIPE juggling, the
 * body discarded), a finished handle goes straight back into the multi
 * handle untouched, and there is one transfer per connection (none waits in
 * curl's pending queue). It is the worker's HTTP path with nothing of the
 * worker: no scheduling, no parsing, no timeouts, no decompression, no body
 * kept.
 *
 * With --h2 STREAMS (an https URL; --cacert the CA to verify it with), the
 * same over HTTP/2: STREAMS easy handles multiplexed over at most
 * CONNECTIONS connections (STREAMS per connection at most, as the worker's
 * httpc admits them), waiting for a multiplexed connection rather than
 * opening one (CURLOPT_PIPEWAIT).
 *
 * Prints one line, "requests N errors N connections N cpu_s X us_per_request
 * X" (CPU from getrusage over the run; bench.py takes the wait4() rusage of
 * the whole process instead, as for wrk), and exits 1 if any request failed or
 * answered other than 2xx. Built by `make bench` (build/bench/curl_floor);
 * not part of the product. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <curl/curl.h>
#include <ev.h>

/* floor_sock: the ev_io of one of curl's sockets, indexed by fd. */
struct floor_sock {
    ev_io io;
    int events;               /* EV_READ | EV_WRITE being watched, 0 = stopped */
};

static struct ev_loop *loop;
static CURLM *multi;
static ev_timer curl_timer;   /* curl's single timeout (CURLMOPT_TIMERFUNCTION) */
static ev_timer stop_timer;   /* end of the run */
static struct floor_sock **socks; /* by fd; never moved once made */
static int nsocks;
static long requests, errors, connections;
static int stopping;

static void floor_drain(void)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(multi, &left)) != NULL) {
        CURL *e = m->easy_handle;
        long status = 0;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (m->data.result != CURLE_OK || status < 200 || status > 299)
            errors++;
        requests++;
        curl_multi_remove_handle(multi, e);
        if (!stopping)
            curl_multi_add_handle(multi, e);   /* same handle, same options */
    }
}

static void floor_io_cb(struct ev_loop *l, ev_io *w, int revents)
{
    int running;

    (void)l;
    curl_multi_socket_action(multi, w->fd,
                             (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0),
                             &running);
    floor_drain();
}

static void floor_timer_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    int running;

    (void)l;
    (void)w;
    (void)revents;
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    floor_drain();
}

/* CURLMOPT_TIMERFUNCTION: arm the ev_timer; curl is called from its callback. */
static int floor_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    (void)userp;
    ev_timer_stop(loop, &curl_timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&curl_timer, timeout_ms / 1000.0, 0.);
        ev_timer_start(loop, &curl_timer);
    }
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION: one ev_io per fd, restarted only when the events
 * curl wants change. */
static int floor_curl_sock(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    int kind = 0;
    struct floor_sock *s;

    (void)e;
    (void)userp;
    (void)socketp;
    if (fd >= nsocks) {
        int n = fd + 64;
        struct floor_sock **ns = realloc(socks, (size_t)n * sizeof *ns);

        if (!ns)
            return -1;
        memset(ns + nsocks, 0, (size_t)(n - nsocks) * sizeof *ns);
        socks = ns;
        nsocks = n;
    }
    if (!socks[fd] && !(socks[fd] = calloc(1, sizeof *socks[fd])))
        return -1;
    s = socks[fd];
    if (what != CURL_POLL_REMOVE)
        kind = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (kind == s->events)
        return 0;
    if (s->events)
        ev_io_stop(loop, &s->io);
    s->events = kind;
    if (kind) {
        ev_io_init(&s->io, floor_io_cb, fd, kind);
        ev_io_start(loop, &s->io);
    }
    return 0;
}

static size_t floor_discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static int floor_sockopt(void *ud, curl_socket_t fd, curlsocktype purpose)
{
    (void)ud;
    (void)fd;
    if (purpose == CURLSOCKTYPE_IPCXN)
        connections++;
    return CURL_SOCKOPT_OK;
}

static void floor_stop_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)l;
    (void)w;
    (void)revents;
    stopping = 1;   /* in-flight requests finish; none is started */
}

static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
    struct curl_slist *hdrs = NULL;
    CURLU *uh;
    CURL **easy;
    int conns, handles;
    long streams = 0;
    const char *cacert = NULL;
    double secs, cpu0;
    int running;

    while (argc > 2 && strncmp(argv[1], "--", 2) == 0) {
        if (strcmp(argv[1], "--cacert") == 0)
            cacert = argv[2];
        else if (strcmp(argv[1], "--h2") == 0)
            streams = atol(argv[2]);
        else
            break;
        argc -= 2;
        argv += 2;
    }
    if (argc < 4 || (conns = atoi(argv[2])) < 1 || (secs = atof(argv[3])) <= 0 || streams < 0) {
        fprintf(stderr, "usage: curl_floor [--cacert FILE] [--h2 STREAMS] URL CONNECTIONS SECONDS [HEADER...]\n");
        return 2;
    }
    handles = streams > 0 ? (int)streams : conns;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 2;
    uh = curl_url();
    if (!uh || curl_url_set(uh, CURLUPART_URL, argv[1], 0) != CURLUE_OK) {
        fprintf(stderr, "curl_floor: bad URL\n");
        return 2;
    }
    for (int i = 4; i < argc; i++)
        hdrs = curl_slist_append(hdrs, argv[i]);
    signal(SIGPIPE, SIG_IGN);
    loop = EV_DEFAULT;
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, floor_curl_sock);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, floor_curl_timer);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conns);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conns);
    if (streams > 0) {
        long per = (streams + conns - 1) / conns;

        curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
        curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, per);
    }
    ev_init(&curl_timer, floor_timer_cb);
    ev_timer_init(&stop_timer, floor_stop_cb, secs, 0.);
    ev_timer_start(loop, &stop_timer);

    easy = calloc((size_t)handles, sizeof *easy);
    if (!easy)
        return 2;
    for (int i = 0; i < handles; i++) {
        CURL *e = curl_easy_init();

        if (!e)
            return 2;
        curl_easy_setopt(e, CURLOPT_URL, argv[1]);
        curl_easy_setopt(e, CURLOPT_CURLU, uh);
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
        /* without it curl swaps SIGPIPE's handler around every call */
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, floor_discard);
        curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, floor_sockopt);
        if (cacert)
            curl_easy_setopt(e, CURLOPT_CAINFO, cacert);
        if (streams > 0) {
            curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
            curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
        }
        curl_multi_add_handle(multi, e);
        easy[i] = e;
    }
    cpu0 = cpu_s();
    ev_run(loop, 0);   /* returns when the last request has finished */
    cpu0 = cpu_s() - cpu0;

    printf("requests %ld errors %ld connections %ld cpu_s %.3f us_per_request %.2f\n", requests, errors,
           connections, cpu0, requests ? cpu0 * 1e6 / (double)requests : 0.0);
    for (int i = 0; i < handles; i++) {
        curl_multi_remove_handle(multi, easy[i]);
        curl_easy_cleanup(easy[i]);
    }
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdrs);
    curl_url_cleanup(uh);
    free(easy);
    for (int i = 0; i < nsocks; i++)
        free(socks[i]);
    free(socks);
    curl_global_cleanup();
    return errors ? 1 : 0;
}
