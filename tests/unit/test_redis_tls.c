/* test_redis_tls: the pipe's TCP connect moves on to the host's next
 * address when one fails after the non-blocking connect began (a name that
 * gives ::1 first while Redis listens on 127.0.0.1 only), without blocking;
 * and fails, saying why, when every address has failed. On loopback: a port
 * nothing listens on, then a listening one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "base/config.h"
#include "redis/redis_tls.h"

/* A loopback listener on a free port (its port in *port), or a port that
 * was free a moment ago and nothing listens on (listen 0: closed at once). */
static int loopback_port(int keep_listening, int *port)
{
    struct sockaddr_in sa = {0};
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    if (!keep_listening) {
        close(fd);
        return -1;
    }
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static void add_addr(struct redis_tls_addrs *a, int port)
{
    struct sockaddr_in *sa = (struct sockaddr_in *)&a->addr[a->n];

    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((unsigned short)port);
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->len[a->n++] = sizeof *sa;
}

static struct redis_tls *settings(void)
{
    struct sw_config *c = calloc(1, sizeof *c);
    char err[256] = "";
    struct redis_tls *t;

    assert_non_null(c);
    config_defaults(c);
    c->redis_tls = 1;
    t = redis_tls_new(c, err, sizeof err);
    free(c);
    assert_non_null(t);
    return t;
}

/* step runs the pipe, waiting for what it asks, until it fails or (with
 * listener >= 0) a connection reaches the listener. Returns the accepted
 * socket, or -1 when the pipe failed. Each wait is bounded: the pipe must
 * never ask for a blocking wait of its own. */
static int step(struct redis_tls_pipe *p, int listener)
{
    for (int i = 0; i < 200; i++) {
        struct redis_tls_want w;
        enum redis_tls_step s = redis_tls_pipe_step(p, &w);
        if (s == REDIS_TLS_FAILED)
            return -1;
        assert_int_equal(s, REDIS_TLS_MORE);
        if (listener >= 0) {
            struct pollfd lp = {listener, POLLIN, 0};
            if (poll(&lp, 1, 0) == 1)
                return accept(listener, NULL, NULL);
        }
        struct pollfd pf = {redis_tls_pipe_net(p), w.net, 0};
        poll(&pf, 1, 50);
    }
    fail_msg("the pipe neither connected nor failed");
    return -1;
}

static void test_next_address_after_a_failed_connect(void **state)
{
    (void)state;
    struct redis_tls *t = settings();
    struct redis_tls_addrs a = {0};
    int closed, open_port, sv[2], got;
    int l = loopback_port(1, &open_port);
    char err[256] = "";

    loopback_port(0, &closed);
    add_addr(&a, closed);
    add_addr(&a, closed);
    add_addr(&a, open_port);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct redis_tls_pipe *p = redis_tls_pipe_new(t, &a, sv[1], "localhost", 6379, err, sizeof err);
    assert_non_null(p);
    got = step(p, l);
    assert_true(got >= 0);   /* the third address took the connection */
    assert_string_equal(redis_tls_pipe_error(p), "");
    close(got);
    redis_tls_pipe_free(p);
    close(sv[0]);
    close(l);
    redis_tls_free(t);
}

static void test_every_address_failed(void **state)
{
    (void)state;
    struct redis_tls *t = settings();
    struct redis_tls_addrs a = {0};
    int closed, sv[2];
    char err[256] = "";

    loopback_port(0, &closed);
    add_addr(&a, closed);
    add_addr(&a, closed);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct redis_tls_pipe *p = redis_tls_pipe_new(t, &a, sv[1], "localhost", 6379, err, sizeof err);
    if (p == NULL) {   /* both refused at once (the kernel may say so in connect) */
        assert_non_null(strstr(err, "cannot connect to Redis at localhost:6379"));
    } else {
        assert_int_equal(step(p, -1), -1);
        assert_non_null(strstr(redis_tls_pipe_error(p), "Redis at localhost:6379: cannot connect: "));
        redis_tls_pipe_free(p);
    }
    close(sv[0]);
    redis_tls_free(t);
}

static void test_resolve(void **state)
{
    (void)state;
    struct redis_tls_addrs a;
    char err[256] = "";

    assert_int_equal(redis_tls_resolve("127.0.0.1", 6379, &a, err, sizeof err), 0);
    assert_int_equal(a.n, 1);
    assert_int_equal(ntohs(((struct sockaddr_in *)&a.addr[0])->sin_port), 6379);
    assert_int_equal(redis_tls_resolve("no such host.invalid", 6379, &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot connect to Redis at no such host.invalid:6379"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_address_after_a_failed_connect),
        cmocka_unit_test(test_every_address_failed),
        cmocka_unit_test(test_resolve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
