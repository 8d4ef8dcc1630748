/* test_redis_sentinel: redis-sentinel's list parsed strictly, and a
 * Sentinel's answer treated as hostile: a fake Sentinel (a thread answering
 * one connection with canned RESP) gives good and bad addresses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "redis/redis_sentinel.h"

static struct redis_sentinel *parse(const char *list, const char *master, char *err, size_t errlen)
{
    struct sw_config c;

    config_defaults(&c);
    snprintf(c.redis_sentinel, sizeof c.redis_sentinel, "%s", list);
    snprintf(c.redis_sentinel_master, sizeof c.redis_sentinel_master, "%s", master);
    return redis_sentinel_new(&c, err, errlen);
}

static void test_parse(void **state)
{
    static const char *bad[] = {"a", "a:", ":1", "a:0", "a:65536", "a:1x", "a:1,,b:2", "a:1,b",
                                "a:1,a:2,a:3,a:4,a:5,a:6,a:7,a:8,a:9,a:10,a:11,a:12,a:13,a:14,a:15,a:16,a:17"};
    char err[256];
    struct redis_sentinel *s;
    (void)state;

    s = parse("", "m", err, sizeof err);
    assert_null(s);
    assert_string_equal(err, "");                     /* unset: not an error */
    s = parse("10.0.0.1:26379, sentinel-2.example:26380,h:1", "m", err, sizeof err);
    assert_non_null(s);
    redis_sentinel_free(s);
    assert_null(parse("h:1", "", err, sizeof err));   /* a master name is required */
    assert_non_null(strstr(err, "redis-sentinel-master"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = parse(bad[i], "m", err, sizeof err);
        if (s != NULL || strstr(err, "host:port") == NULL)
            fail_msg("'%s' accepted (%s)", bad[i], err);
    }
}

struct fake {
    int lfd;
    const char *answer;   /* sent after the first command arrives */
};

static void *fake_run(void *arg)
{
    struct fake *f = arg;
    char buf[512];
    int fd = accept(f->lfd, NULL, NULL);

    if (fd >= 0) {
        if (read(fd, buf, sizeof buf) > 0 && write(fd, f->answer, strlen(f->answer)) < 0)
            perror("fake sentinel");
        close(fd);
    }
    return NULL;
}

/* ask starts a fake Sentinel answering answer, asks it for master m;
 * returns discover's result with host/port. */
static int ask(const char *answer, char *host, size_t hostlen, int *port, char *err, size_t errlen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    struct fake f = {socket(AF_INET, SOCK_STREAM, 0), answer};
    pthread_t t;
    char list[64];
    struct redis_sentinel *s;
    int rc;

    assert_true(f.lfd >= 0);
    assert_int_equal(bind(f.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(f.lfd, 1), 0);
    assert_int_equal(getsockname(f.lfd, (struct sockaddr *)&sa, &sl), 0);
    snprintf(list, sizeof list, "127.0.0.1:%d", ntohs(sa.sin_port));
    s = parse(list, "m", err, errlen);
    assert_non_null(s);
    assert_int_equal(pthread_create(&t, NULL, fake_run, &f), 0);
    rc = redis_sentinel_discover(s, NULL, host, hostlen, port, err, errlen);
    pthread_join(t, NULL);
    close(f.lfd);
    redis_sentinel_free(s);
    return rc;
}

static void test_answers(void **state)
{
    static const char *bad[] = {
        "$-1\r\n",                                        /* unknown master */
        "-ERR no such command\r\n",
        "*2\r\n$9\r\n127.0.0.1\r\n$5\r\n99999\r\n",       /* port out of range */
        "*2\r\n$9\r\n127.0.0.1\r\n$2\r\n1x\r\n",
        "*1\r\n$9\r\n127.0.0.1\r\n",
        "*2\r\n$0\r\n\r\n$4\r\n6379\r\n",                  /* empty host */
        ":1\r\n",
    };
    char host[16], err[512];
    int port = 0;
    (void)state;

    assert_int_equal(ask("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n", host, sizeof host, &port, err, sizeof err), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6380);
    /* longer than the caller's buffer: refused, not cut */
    assert_int_equal(ask("*2\r\n$20\r\nhost-name.example.co\r\n$4\r\n6380\r\n", host, sizeof host, &port, err,
                         sizeof err), -1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ask(bad[i], host, sizeof host, &port, err, sizeof err) != -1 || strstr(err, "no Sentinel answered") == NULL)
            fail_msg("answer %zu accepted", i);
}

/* test_describe: what a Sentinel says of the master, for status and
 * /healthz: a hostile SENTINEL MASTER answer is kept bounded and printable,
 * a Sentinel that refuses the connection is listed with its reason, and
 * the link closing before CKQUORUM leaves that unknown. */
static void test_describe(void **state)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    struct fake f = {socket(AF_INET, SOCK_STREAM, 0),
                     "*8\r\n$2\r\nip\r\n$13\r\n10.0.0.1\r\n\x1b[J\r\n$4\r\nport\r\n$4\r\n6379\r\n"
                     "$6\r\nquorum\r\n$1\r\n2\r\n$19\r\nnum-other-sentinels\r\n$1\r\n2\r\n"};
    struct repl_sentinels out;
    struct sw_config c;
    pthread_t t;
    char err[256];
    (void)state;

    assert_true(f.lfd >= 0);
    assert_int_equal(bind(f.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(f.lfd, 1), 0);
    assert_int_equal(getsockname(f.lfd, (struct sockaddr *)&sa, &sl), 0);
    config_defaults(&c);
    /* port 1 on loopback: nothing listens, the connection is refused */
    snprintf(c.redis_sentinel, sizeof c.redis_sentinel, "127.0.0.1:%d,127.0.0.1:1", ntohs(sa.sin_port));
    snprintf(c.redis_sentinel_master, sizeof c.redis_sentinel_master, "m");
    assert_int_equal(pthread_create(&t, NULL, fake_run, &f), 0);
    assert_int_equal(redis_sentinel_describe(&c, &out, err, sizeof err), 0);
    pthread_join(t, NULL);
    close(f.lfd);
    assert_int_equal(out.n, 2);
    assert_string_equal(out.master, "m");
    assert_int_equal(out.node[0].up, 1);
    assert_string_equal(out.node[0].primary, "10.0.0.1[J:6379");
    assert_int_equal(out.node[0].quorum, 2);
    assert_int_equal(out.node[0].sentinels, 3);
    assert_int_equal(out.node[0].replicas, -1);
    assert_int_equal(out.node[0].quorum_ok, -1);
    assert_int_equal(out.node[1].up, 0);
    assert_non_null(strstr(out.node[1].why, "refused"));
    c.redis_sentinel[0] = '\0';
    assert_int_equal(redis_sentinel_describe(&c, &out, err, sizeof err), 1);   /* no Sentinel: nothing to say */
}

static void test_role(void **state)
{
    redisReply m = {.type = REDIS_REPLY_STRING, .str = "master", .len = 6};
    redisReply sl = {.type = REDIS_REPLY_STRING, .str = "slave", .len = 5};
    redisReply *e1[] = {&m}, *e2[] = {&sl};
    redisReply a = {.type = REDIS_REPLY_ARRAY, .elements = 1, .element = e1};
    redisReply b = {.type = REDIS_REPLY_ARRAY, .elements = 1, .element = e2};
    redisReply empty = {.type = REDIS_REPLY_ARRAY, .elements = 0};
    (void)state;

    assert_true(redis_sentinel_role_master(&a));
    assert_false(redis_sentinel_role_master(&b));
    assert_false(redis_sentinel_role_master(&empty));
    assert_false(redis_sentinel_role_master(&m));
    assert_false(redis_sentinel_role_master(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_role),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
