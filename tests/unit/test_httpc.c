/* test_httpc: httpc against a tiny HTTP/1.1 server running in a thread of
 * the test, serving canned responses by path:
 *   /ok      200 "hello"              /nocontent 204
 *   /ratelimit 429 with two Retry-After headers (lower case first)
 *   /gzip    200 gzip-encoded body    /big       10 MB body
 *   /hang    never answers            /cut       closes mid-body
 *   /echo    echoes method, a request header and the body
 * and the blocking client (http_sync) against the same server. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http/httpc.h"
#include "http/http_sync.h"
#include "base/log.h"

/* gzip.compress(b'compressed hello ' * 20, mtime=0) */
static const unsigned char gz_body[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x4b, 0xce, 0xcf, 0x2d,
    0x28, 0x4a, 0x2d, 0x2e, 0x4e, 0x4d, 0x51, 0xc8, 0x48, 0xcd, 0xc9, 0xc9, 0x57, 0x48,
    0x1e, 0x15, 0xa0, 0x54, 0x00, 0x00, 0xad, 0x7b, 0x1b, 0xcf, 0x54, 0x01, 0x00, 0x00};

#define BIG_LEN (10 * 1024 * 1024)
#define MAX_CONNS 64

/* srv: the test server; one thread accepts, one thread per connection. */
struct srv {
    int lfd;
    int port;
    int stop_pipe[2];        /* written at stop: wakes every thread */
    pthread_t acceptor;
    pthread_mutex_t mu;
    pthread_t conn_threads[MAX_CONNS];
    int conn_fds[MAX_CONNS];
    int nconns;
};

struct conn_arg {
    struct srv *s;
    int fd;
};

static int send_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* wait_readable: 1 if fd is readable, 0 if the server is stopping. */
static int wait_readable(struct srv *s, int fd)
{
    struct pollfd pf[2] = {{.fd = fd, .events = POLLIN}, {.fd = s->stop_pipe[0], .events = POLLIN}};

    for (;;) {
        int n = poll(pf, 2, -1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (pf[1].revents & POLLIN))
            return 0;
        if (pf[0].revents)
            return 1;
    }
}

static void respond(struct srv *s, int fd, const char *method, const char *path, const char *hdrs,
                    const char *body, size_t blen, int *close_after)
{
    char head[1024];
    int n;

    if (strcmp(path, "/ok") == 0) {
        n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        send_all(fd, head, (size_t)n);
    } else if (strcmp(path, "/nocontent") == 0) {
        n = snprintf(head, sizeof head, "HTTP/1.1 204 No Content\r\n\r\n");
        send_all(fd, head, (size_t)n);
    } else if (strcmp(path, "/ratelimit") == 0) {
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 429 Too Many Requests\r\nretry-after:   7  \r\nRetry-After: 9\r\n"
                     "Content-Length: 0\r\n\r\n");
        send_all(fd, head, (size_t)n);
    } else if (strcmp(path, "/gzip") == 0) {
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n",
                     sizeof gz_body);
        send_all(fd, head, (size_t)n);
        send_all(fd, gz_body, sizeof gz_body);
    } else if (strcmp(path, "/big") == 0) {
        static char chunk[65536];

        memset(chunk, 'x', sizeof chunk);
        n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", BIG_LEN);
        send_all(fd, head, (size_t)n);
        for (size_t sent = 0; sent < BIG_LEN; sent += sizeof chunk)
            if (send_all(fd, chunk, sizeof chunk) != 0)
                break;
    } else if (strcmp(path, "/hang") == 0) {
        /* hold the connection until the client gives up or the test ends */
        char c;

        if (wait_readable(s, fd))
            (void)!recv(fd, &c, 1, 0);
        *close_after = 1;
    } else if (strcmp(path, "/cut") == 0) {
        n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        send_all(fd, head, (size_t)n);
        *close_after = 1;
    } else if (strcmp(path, "/echo") == 0) {
        const char *x = strcasestr(hdrs, "\r\nX-Test: ");
        char xv[64] = "";
        char out[4096];
        int m;

        if (x)
            sscanf(x + 10, "%63[^\r]", xv);
        m = snprintf(out, sizeof out, "%s %s %.*s", method, xv, (int)blen, body);
        n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", m);
        send_all(fd, head, (size_t)n);
        send_all(fd, out, (size_t)m);
    } else {
        n = snprintf(head, sizeof head, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        send_all(fd, head, (size_t)n);
    }
}

static void *conn_main(void *arg)
{
    struct conn_arg *ca = arg;
    struct srv *s = ca->s;
    int fd = ca->fd;
    char *buf = malloc(65536);
    size_t len = 0;

    free(ca);
    while (buf) {
        char *end;
        char method[16], path[256];
        size_t hlen, clen = 0;
        const char *cl;
        int close_after = 0;

        /* read a request head (and its body) */
        while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
            ssize_t r;

            if (len >= 65535 || !wait_readable(s, fd))
                goto out;
            r = recv(fd, buf + len, 65535 - len, 0);
            if (r <= 0)
                goto out;
            len += (size_t)r;
        }
        buf[len] = '\0';
        hlen = (size_t)(end - buf) + 4;
        if (sscanf(buf, "%15s %255s", method, path) != 2)
            goto out;
        cl = strcasestr(buf, "\r\nContent-Length:");
        if (cl && cl < end)
            clen = strtoul(cl + 17, NULL, 10);
        while (len < hlen + clen) {
            ssize_t r;

            if (len >= 65535 || !wait_readable(s, fd))
                goto out;
            r = recv(fd, buf + len, 65535 - len, 0);
            if (r <= 0)
                goto out;
            len += (size_t)r;
        }
        buf[hlen - 2] = '\0';
        respond(s, fd, method, path, buf, buf + hlen, clen, &close_after);
        memmove(buf, buf + hlen + clen, len - hlen - clen);
        len -= hlen + clen;
        if (close_after)
            break;
    }
out:
    free(buf);
    shutdown(fd, SHUT_RDWR);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct srv *s = arg;

    while (wait_readable(s, s->lfd)) {
        int fd = accept(s->lfd, NULL, NULL);
        struct conn_arg *ca;

        if (fd < 0)
            continue;
        pthread_mutex_lock(&s->mu);
        if (s->nconns == MAX_CONNS || !(ca = malloc(sizeof *ca))) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            continue;
        }
        ca->s = s;
        ca->fd = fd;
        s->conn_fds[s->nconns] = fd;
        if (pthread_create(&s->conn_threads[s->nconns], NULL, conn_main, ca) != 0) {
            free(ca);
            close(fd);
        } else {
            s->nconns++;
        }
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

static struct srv *srv_start(void)
{
    struct srv *s = calloc(1, sizeof *s);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;

    assert_non_null(s);
    pthread_mutex_init(&s->mu, NULL);
    assert_int_equal(pipe(s->stop_pipe), 0);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 64), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->acceptor, NULL, accept_main, s), 0);
    return s;
}

static void srv_stop(struct srv *s)
{
    (void)!write(s->stop_pipe[1], "x", 1);
    pthread_join(s->acceptor, NULL);
    for (int i = 0; i < s->nconns; i++) {
        pthread_join(s->conn_threads[i], NULL);
        close(s->conn_fds[i]);
    }
    close(s->lfd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* result: a copy of one response. */
struct result {
    int done;
    long status;
    int curl_code;
    int truncated;
    char body[256];
    size_t len;
    char retry_after[64];
    int has_retry_after;
    char error[CURL_ERROR_SIZE];
};

static void on_resp(const struct httpc_response *r, void *ud)
{
    struct result *res = ud;

    res->done++;
    res->status = r->status;
    res->curl_code = r->curl_code;
    res->truncated = r->truncated;
    res->len = r->len;
    assert_int_equal(r->body[r->len], '\0');
    snprintf(res->body, sizeof res->body, "%s", r->body);
    res->has_retry_after = r->retry_after != NULL;
    if (r->retry_after)
        snprintf(res->retry_after, sizeof res->retry_after, "%s", r->retry_after);
    snprintf(res->error, sizeof res->error, "%s", r->error);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

/* run_until runs the loop until *flag >= want or timeout_s passes. */
static int run_until(struct ev_loop *loop, const int *flag, int want, double timeout_s)
{
    ev_timer tick;
    double deadline = ev_time() + timeout_s;

    ev_timer_init(&tick, tick_cb, 0.01, 0.01);
    ev_timer_start(loop, &tick);
    while (*flag < want && ev_time() < deadline)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &tick);
    return *flag >= want;
}

struct fixture {
    struct srv *srv;
    struct ev_loop *loop;
    struct httpc *h;
    char base[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct httpc_opts o = {.timeout_ms = 2000, .connect_timeout_ms = 1000, .max_body = 1024 * 1024};
    char err[256];

    f->srv = srv_start();
    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->h = httpc_new(f->loop, &o, err, sizeof err);
    assert_non_null(f->h);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", f->srv->port);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    httpc_free(f->h);
    ev_loop_destroy(f->loop);
    srv_stop(f->srv);
    free(f);
    return 0;
}

static void get(struct fixture *f, const char *path, struct result *res)
{
    char url[128];

    snprintf(url, sizeof url, "%s%s", f->base, path);
    assert_int_equal(httpc_request(f->h, "GET", url, NULL, NULL, on_resp, res), 0);
    /* never called from inside httpc_request */
    assert_int_equal(res->done, 0);
    assert_true(run_until(f->loop, &res->done, 1, 10));
    assert_int_equal(res->done, 1);
}

static void test_ok(void **state)
{
    struct fixture *f = *state;
    struct result res = {0};

    get(f, "/ok", &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.curl_code, 0);
    assert_string_equal(res.body, "hello");
    assert_int_equal(res.len, 5);
    assert_string_equal(res.error, "");
    assert_false(res.has_retry_after);
    assert_int_equal(httpc_inflight(f->h), 0);
}

static void test_204(void **state)
{
    struct fixture *f = *state;
    struct result res = {0};

    get(f, "/nocontent", &res);
    assert_int_equal(res.status, 204);
    assert_int_equal(res.curl_code, 0);
    assert_int_equal(res.len, 0);
    assert_string_equal(res.body, "");
}

static void test_retry_after(void **state)
{
    struct fixture *f = *state;
    struct result res = {0};

    get(f, "/ratelimit", &res);
    assert_int_equal(res.status, 429);
    assert_true(res.has_retry_after);
    assert_string_equal(res.retry_after, "7"); /* first one wins, trimmed */
}

static void test_gzip(void **state)
{
    struct fixture *f = *state;
    struct result res = {0};
    char want[512] = "";

    for (int i = 0; i < 20; i++)
        strcat(want, "compressed hello ");
    get(f, "/gzip", &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.len, strlen(want));
    assert_memory_equal(res.body, want, 255);
}

static void test_big_truncated(void **state)
{
    struct fixture *f = *state;
    struct result res = {0};

    get(f, "/big", &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.truncated, 1);
    assert_int_equal(res.curl_code, CURLE_WRITE_ERROR);
    assert_true(res.len <= 1024 * 1024);
    /* the link still works afterwards */
    memset(&res, 0, sizeof res);
    get(f, "/ok", &res);
    assert_int_equal(res.status, 200);
}

static void test_timeout(void **state)
{
    struct fixture *f = *state;
    struct httpc_opts o = {.timeout_ms = 300, .connect_timeout_ms = 1000, .max_body = 1024};
    char err[256], url[128];
    struct httpc *h = httpc_new(f->loop, &o, err, sizeof err);
    struct result res = {0};
    double t0 = ev_time();

    assert_non_null(h);
    snprintf(url, sizeof url, "%s/hang", f->base);
    assert_int_equal(httpc_request(h, "GET", url, NULL, NULL, on_resp, &res), 0);
    assert_true(run_until(f->loop, &res.done, 1, 5));
    assert_int_equal(res.curl_code, CURLE_OPERATION_TIMEDOUT);
    assert_int_equal(res.status, 0);
    assert_true(res.error[0] != '\0');
    assert_true(ev_time() - t0 < 2.0);
    httpc_free(h);
}

static void test_cut(void **state)
{
    struct fixture *f = *state;
    struct result res = {0};

    get(f, "/cut", &res);
    assert_int_equal(res.curl_code, CURLE_PARTIAL_FILE);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.truncated, 0);
}

static void test_refused(void **state)
{
    struct fixture *f = *state;
    struct result res = {0};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char url[128];

    /* a port just bound and released: nothing listens there */
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    assert_int_equal(httpc_request(f->h, "GET", url, NULL, NULL, on_resp, &res), 0);
    assert_true(run_until(f->loop, &res.done, 1, 5));
    assert_int_equal(res.curl_code, CURLE_COULDNT_CONNECT);
    assert_int_equal(res.status, 0);
}

static void test_post_headers(void **state)
{
    struct fixture *f = *state;
    struct result res = {0};
    const char *hdrs[] = {"X-Test: yes", "Content-Type: text/plain", NULL};
    char url[128];

    snprintf(url, sizeof url, "%s/echo", f->base);
    assert_int_equal(httpc_request(f->h, "POST", url, hdrs, "a=1&b=2", on_resp, &res), 0);
    assert_true(run_until(f->loop, &res.done, 1, 5));
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "POST yes a=1&b=2");

    memset(&res, 0, sizeof res);
    assert_int_equal(httpc_request(f->h, "PUT", url, NULL, "zz", on_resp, &res), 0);
    assert_true(run_until(f->loop, &res.done, 1, 5));
    assert_string_equal(res.body, "PUT  zz");

    memset(&res, 0, sizeof res);
    assert_int_equal(httpc_request(f->h, "DELETE", url, NULL, NULL, on_resp, &res), 0);
    assert_true(run_until(f->loop, &res.done, 1, 5));
    assert_string_equal(res.body, "DELETE  ");
}

/* chain: 100 requests, each started from the previous one's callback. */
struct chain {
    struct httpc *h;
    const char *url;
    int done;
    int bad;
};

static void chain_cb(const struct httpc_response *r, void *ud)
{
    struct chain *c = ud;

    if (r->status != 200 || strcmp(r->body, "hello") != 0)
        c->bad++;
    if (++c->done < 100)
        assert_int_equal(httpc_request(c->h, "GET", c->url, NULL, NULL, chain_cb, c), 0);
}

static void test_reuse(void **state)
{
    struct fixture *f = *state;
    char url[128];
    struct chain c = {.h = f->h, .url = url};

    snprintf(url, sizeof url, "%s/ok", f->base);
    assert_int_equal(httpc_request(f->h, "GET", url, NULL, NULL, chain_cb, &c), 0);
    assert_true(run_until(f->loop, &c.done, 100, 20));
    assert_int_equal(c.bad, 0);
    assert_int_equal(httpc_connections(f->h), 1);
}

static void count_cb(const struct httpc_response *r, void *ud)
{
    int *n = ud;

    if (r->status == 200)
        (*n)++;
}

static void test_parallel(void **state)
{
    struct fixture *f = *state;
    char url[128];
    int n = 0;

    snprintf(url, sizeof url, "%s/ok", f->base);
    for (int i = 0; i < 20; i++)
        assert_int_equal(httpc_request(f->h, "GET", url, NULL, NULL, count_cb, &n), 0);
    assert_int_equal(httpc_inflight(f->h), 20);
    assert_true(run_until(f->loop, &n, 20, 10));
    assert_int_equal(httpc_inflight(f->h), 0);
    assert_true(httpc_connections(f->h) <= 20);
}

static void never_cb(const struct httpc_response *r, void *ud)
{
    (void)r;
    (void)ud;
    fail_msg("callback after httpc_free");
}

static void test_free_inflight(void **state)
{
    struct fixture *f = *state;
    struct httpc_opts o = {.timeout_ms = 5000, .max_body = 1024};
    char err[256], url[128];
    struct httpc *h = httpc_new(f->loop, &o, err, sizeof err);
    int dummy = 0;

    assert_non_null(h);
    snprintf(url, sizeof url, "%s/hang", f->base);
    assert_int_equal(httpc_request(h, "GET", url, NULL, NULL, never_cb, NULL), 0);
    assert_int_equal(httpc_request(h, "GET", url, NULL, NULL, never_cb, NULL), 0);
    run_until(f->loop, &dummy, 1, 0.2); /* let them connect */
    assert_int_equal(httpc_inflight(h), 2);
    httpc_free(h);
    run_until(f->loop, &dummy, 1, 0.1);
}

/* req: one request on the fixture's httpc, run to its callback. */
static void req(struct fixture *f, const char *method, const char *url, const char *const *hdrs, const char *body,
                struct result *res)
{
    memset(res, 0, sizeof *res);
    assert_int_equal(httpc_request(f->h, method, url, hdrs, body, on_resp, res), 0);
    assert_true(run_until(f->loop, &res->done, 1, 10));
}

/* One request at a time, so each runs on the same recycled easy handle, which
 * keeps its options, URL and header nodes from the previous one: every
 * request must still go out with its own URL, method and headers only. */
static void test_recycled_handle(void **state)
{
    struct fixture *f = *state;
    struct result res;
    char echo[128], ok[128], refused[128];
    const char *one[] = {"X-Test: one", NULL};
    const char *three[] = {"X-Other: z", "X-Test: three-is-a-longer-value-than-one", NULL};
    const char *four[] = {"X-Test: four", NULL};
    const char *five[] = {"X-Test: five", NULL};
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    /* a port nothing listens on: bind, read the port, close */
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    snprintf(echo, sizeof echo, "%s/echo", f->base);
    snprintf(ok, sizeof ok, "%s/ok", f->base);
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d/echo", ntohs(a.sin_port));

    req(f, "GET", echo, one, NULL, &res);
    assert_string_equal(res.body, "GET one ");
    req(f, "GET", ok, NULL, NULL, &res);           /* another URL, no headers */
    assert_string_equal(res.body, "hello");
    req(f, "GET", echo, three, NULL, &res);        /* back, more and longer headers */
    assert_string_equal(res.body, "GET three-is-a-longer-value-than-one ");
    req(f, "GET", echo, NULL, NULL, &res);         /* same URL: none of them left */
    assert_string_equal(res.body, "GET  ");
    req(f, "POST", echo, four, "b=1", &res);
    assert_string_equal(res.body, "POST four b=1");
    req(f, "GET", echo, five, NULL, &res);         /* a GET after a POST */
    assert_string_equal(res.body, "GET five ");
    assert_int_equal(httpc_connections(f->h), 1);

    req(f, "GET", refused, NULL, NULL, &res);      /* same path, another port */
    assert_int_equal(res.curl_code, CURLE_COULDNT_CONNECT);
    req(f, "GET", "http://127.0.0.1:bad/ok", NULL, NULL, &res);
    assert_int_equal(res.status, 0);
    assert_true(res.curl_code != 0);
    req(f, "GET", echo, one, NULL, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "GET one ");
}

/* order: the X-Test values in the order the callbacks came. */
struct order {
    char seen[256];
    int done;
};

static void order_cb(const struct httpc_response *r, void *ud)
{
    struct order *o = ud;

    strncat(o->seen, r->status == 200 ? r->body : "ERR ", sizeof o->seen - strlen(o->seen) - 1);
    o->done++;
}

/* With one connection per origin, httpc keeps all but one request waiting in
 * its own queue: they still all run, in order, on the one connection, with
 * their own headers and bodies (copied: the caller's buffers are reused at
 * once); and httpc_free drops the waiting ones without callbacks. */
static void test_queue(void **state)
{
    struct fixture *f = *state;
    struct httpc_opts o = {.timeout_ms = 2000, .connect_timeout_ms = 1000, .max_body = 1024,
                           .max_host_connections = 1};
    char err[256], url[128], hdr[32], body[8];
    const char *hdrs[] = {hdr, NULL};
    struct httpc *h = httpc_new(f->loop, &o, err, sizeof err);
    struct order ord = {{0}, 0};
    int dummy = 0;

    assert_non_null(h);
    snprintf(url, sizeof url, "%s/echo", f->base);
    for (int i = 0; i < 6; i++) {
        snprintf(hdr, sizeof hdr, "X-Test: %d", i);
        snprintf(body, sizeof body, "b%d", i);
        assert_int_equal(httpc_request(h, i % 2 ? "POST" : "GET", url, hdrs, i % 2 ? body : NULL, order_cb, &ord), 0);
        memset(hdr, 'x', sizeof hdr - 1);   /* the request kept its own copy */
        memset(body, 'y', sizeof body - 1);
    }
    assert_int_equal(httpc_inflight(h), 6);
    assert_true(run_until(f->loop, &ord.done, 6, 10));
    assert_string_equal(ord.seen, "GET 0 POST 1 b1GET 2 POST 3 b3GET 4 POST 5 b5");
    assert_int_equal(httpc_inflight(h), 0);
    assert_int_equal(httpc_connections(h), 1);

    snprintf(url, sizeof url, "%s/hang", f->base);
    for (int i = 0; i < 3; i++)
        assert_int_equal(httpc_request(h, "GET", url, hdrs, NULL, never_cb, NULL), 0);
    run_until(f->loop, &dummy, 1, 0.2);
    assert_int_equal(httpc_inflight(h), 3);
    httpc_free(h);   /* one in curl, two waiting: no callbacks, nothing leaked */
    run_until(f->loop, &dummy, 1, 0.1);
}

/* A proxy in the environment is still used (httpc tells curl to skip the
 * lookups only when none is set): the test server, as http_proxy, receives
 * the absolute URL as the request target and answers 404 for it. */
static void test_proxy_env(void **state)
{
    struct fixture *f = *state;
    struct httpc_opts o = {.timeout_ms = 2000, .connect_timeout_ms = 1000, .max_body = 1024};
    char err[256];
    struct httpc *h;
    struct result res = {0};

    setenv("http_proxy", f->base, 1);   /* curl reads it when the request starts */
    h = httpc_new(f->loop, &o, err, sizeof err);
    assert_non_null(h);
    assert_int_equal(httpc_request(h, "GET", "http://proxied.invalid/ok", NULL, NULL, on_resp, &res), 0);
    assert_true(run_until(f->loop, &res.done, 1, 5));
    unsetenv("http_proxy");
    assert_int_equal(res.status, 404);
    httpc_free(h);
}

/* ------------------------------------------------- http_sync (blocking) */

static void sync_call(struct fixture *f, const char *method, const char *path, const char *const *hdrs,
                      const char *body, size_t max_body, struct http_sync_result *res)
{
    struct http_sync_opts o = {.timeout_ms = 2000, .max_body = max_body};
    char url[128];

    snprintf(url, sizeof url, "%s%s", f->base, path);
    http_sync_call(&o, method, url, hdrs, body, res);
    assert_non_null(res->body);
    assert_int_equal(res->body[res->len], '\0');
}

static void test_sync_ok(void **state)
{
    struct fixture *f = *state;
    struct http_sync_result res;

    sync_call(f, "GET", "/ok", NULL, NULL, 1024, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "hello");
    assert_int_equal(res.len, 5);
    assert_string_equal(res.error, "");
    assert_null(res.retry_after);
    http_sync_free(&res);
    http_sync_free(&res);   /* twice is fine */
    sync_call(f, "GET", "/nocontent", NULL, NULL, 1024, &res);
    assert_int_equal(res.status, 204);
    assert_string_equal(res.body, "");
    http_sync_free(&res);
}

static void test_sync_retry_after(void **state)
{
    struct fixture *f = *state;
    struct http_sync_result res;

    sync_call(f, "GET", "/ratelimit", NULL, NULL, 1024, &res);
    assert_int_equal(res.status, 429);
    assert_non_null(res.retry_after);
    assert_string_equal(res.retry_after, "7"); /* as httpc: first one wins, trimmed */
    http_sync_free(&res);
}

static void test_sync_post(void **state)
{
    struct fixture *f = *state;
    const char *hdrs[] = {"X-Test: yes", "Content-Type: application/x-www-form-urlencoded", NULL};
    struct http_sync_result res;

    sync_call(f, "POST", "/echo", hdrs, "a=1&b=2", 1024, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "POST yes a=1&b=2");
    http_sync_free(&res);
    sync_call(f, "GET", "/echo", hdrs, NULL, 1024, &res);
    assert_string_equal(res.body, "GET yes ");
    http_sync_free(&res);
}

static void test_sync_errors(void **state)
{
    struct fixture *f = *state;
    struct http_sync_result res;

    /* A body over the cap fails the call: status 0, never a partial 200. */
    sync_call(f, "GET", "/big", NULL, NULL, 1024, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.truncated, 1);
    assert_true(res.error[0] != '\0');
    http_sync_free(&res);
    sync_call(f, "GET", "/cut", NULL, NULL, 1024, &res);
    assert_int_equal(res.status, 0);
    assert_true(res.error[0] != '\0');
    http_sync_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_204, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_inflight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recycled_handle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_errors, setup, teardown),
    };

    log_setup(getenv("TEST_LOG") ? LOG_DEBUG : LOG_ERROR, LOG_TEXT, "test_httpc");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
