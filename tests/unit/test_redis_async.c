/* test_rlink: redis_async against a real redis-server started on a free port in a
 * fresh temp dir for each test, killed (and the dir removed) at teardown. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "base/log.h"
#include "redis/redis_async.h"
#include "redis/scripts.h"

struct fixture {
    struct ev_loop *loop;
    char dir[64];
    int port;
    pid_t pid;
    const char *password;      /* requirepass of the server, or NULL */
    int ups, downs;            /* on_state counts */
    struct redis_async *l;
};

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int can_connect(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;

    close(fd);
    return ok;
}

static void redis_start(struct fixture *f)
{
    char port[16];
    double deadline;

    snprintf(port, sizeof port, "%d", f->port);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        const char *argv[16];
        int n = 0;
        int null = open("/dev/null", O_WRONLY);

        dup2(null, 1);
        argv[n++] = "redis-server";
        argv[n++] = "--port";
        argv[n++] = port;
        argv[n++] = "--bind";
        argv[n++] = "127.0.0.1";
        argv[n++] = "--save";
        argv[n++] = "";
        argv[n++] = "--appendonly";
        argv[n++] = "no";
        argv[n++] = "--dir";
        argv[n++] = f->dir;
        if (f->password) {
            argv[n++] = "--requirepass";
            argv[n++] = f->password;
        }
        argv[n] = NULL;
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    deadline = ev_time() + 10;
    while (!can_connect(f->port) && ev_time() < deadline)
        usleep(10000);
    assert_true(can_connect(f->port));
}

static void redis_stop(struct fixture *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGCONT);
        kill(f->pid, SIGKILL);
        waitpid(f->pid, NULL, 0);
        f->pid = 0;
    }
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

static void on_state(struct redis_async *l, int up, void *ud)
{
    struct fixture *f = ud;

    (void)l;
    if (up)
        f->ups++;
    else
        f->downs++;
}

static int setup_common(void **state, const char *password)
{
    struct fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_rlink.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->port = free_port();
    f->password = password;
    redis_start(f);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_common(state, NULL);
}

static int setup_auth(void **state)
{
    return setup_common(state, "s3cret");
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];

    redis_async_free(f->l);
    redis_stop(f);
    ev_loop_destroy(f->loop);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    (void)!system(cmd);
    free(f);
    return 0;
}

static struct redis_async *open_link(struct fixture *f, const char *user, const char *password, int db,
                               long timeout_ms)
{
    struct redis_async_opts o = {.host = "127.0.0.1", .port = f->port, .user = user, .password = password,
                           .db = db, .command_timeout_ms = timeout_ms};

    return redis_async_new(f->loop, &o, on_state, f);
}

/* result: a copy of one reply. */
struct result {
    int done;
    int null;
    int type;
    long long integer;
    char str[256];
};

static void on_reply(struct redis_async *l, redisReply *r, void *ud)
{
    struct result *res = ud;

    (void)l;
    res->done++;
    res->null = r == NULL;
    if (!r)
        return;
    res->type = r->type;
    res->integer = r->integer;
    /* arrays of integers (SCRIPT EXISTS) are summed */
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        res->integer += r->element[i]->integer;
    if (r->str)
        snprintf(res->str, sizeof res->str, "%s", r->str);
}

/* cmd runs one command and waits for its reply. */
static void cmd(struct fixture *f, struct redis_async *l, struct result *res, int argc, const char **argv)
{
    memset(res, 0, sizeof *res);
    assert_int_equal(redis_async_command(l, on_reply, res, argc, argv, NULL), 0);
    assert_true(run_until(f->loop, &res->done, 1, 5));
}

static void test_connect_command(void **state)
{
    struct fixture *f = *state;
    struct result res;
    const char *set[] = {"SET", "k", "v"};
    const char *get[] = {"GET", "k"};
    size_t lens[] = {3, 1, 1};

    f->l = open_link(f, "", "", 0, 0);
    assert_non_null(f->l);
    assert_false(redis_async_up(f->l));
    assert_int_equal(redis_async_command(f->l, on_reply, &res, 2, get, NULL), -1); /* not up yet */
    assert_true(run_until(f->loop, &f->ups, 1, 5));
    assert_true(redis_async_up(f->l));
    cmd(f, f->l, &res, 3, set);
    assert_int_equal(res.type, REDIS_REPLY_STATUS);
    memset(&res, 0, sizeof res);
    assert_int_equal(redis_async_command(f->l, on_reply, &res, 2, get, lens), 0);
    assert_true(run_until(f->loop, &res.done, 1, 5));
    assert_int_equal(res.type, REDIS_REPLY_STRING);
    assert_string_equal(res.str, "v");
    assert_int_equal(redis_async_reconnects(f->l), 0);
}

static void test_scripts_loaded(void **state)
{
    struct fixture *f = *state;
    struct result res;
    const char *exists[2 + SCRIPT_COUNT] = {"SCRIPT", "EXISTS"};

    for (int i = 0; i < SCRIPT_COUNT; i++) {
        exists[2 + i] = script_sha1((enum script_id)i);
        assert_int_equal(strlen(exists[2 + i]), 40);
        assert_non_null(script_name((enum script_id)i));
        assert_non_null(script_source((enum script_id)i));
    }
    assert_string_equal(script_name(SCRIPT_CLAIM), "claim");
    assert_string_equal(script_name(SCRIPT_REFRESH_BEGIN), "refresh_begin");
    f->l = open_link(f, "", "", 0, 0);
    assert_true(run_until(f->loop, &f->ups, 1, 5));
    cmd(f, f->l, &res, 2 + SCRIPT_COUNT, exists);
    assert_int_equal(res.type, REDIS_REPLY_ARRAY);
    assert_int_equal(res.integer, SCRIPT_COUNT);
}

static void test_eval_noscript(void **state)
{
    struct fixture *f = *state;
    struct result res;
    const char *flush[] = {"SCRIPT", "FLUSH"};
    const char *args[] = {"sw:test:key", "1"};

    f->l = open_link(f, "", "", 0, 0);
    assert_true(run_until(f->loop, &f->ups, 1, 5));
    memset(&res, 0, sizeof res);
    assert_int_equal(redis_async_eval(f->l, SCRIPT_CLAIM, 1, 2, args, NULL, on_reply, &res), 0);
    assert_true(run_until(f->loop, &res.done, 1, 5));
    assert_false(res.null);
    assert_false(res.type == REDIS_REPLY_ERROR && strncmp(res.str, "NOSCRIPT", 8) == 0);

    /* a restart or failover flushed the script cache: redis_async must reload */
    cmd(f, f->l, &res, 2, flush);
    assert_int_equal(res.type, REDIS_REPLY_STATUS);
    memset(&res, 0, sizeof res);
    assert_int_equal(redis_async_eval(f->l, SCRIPT_CLAIM, 1, 2, args, NULL, on_reply, &res), 0);
    assert_true(run_until(f->loop, &res.done, 1, 5));
    assert_int_equal(res.done, 1);
    assert_false(res.null);
    assert_false(res.type == REDIS_REPLY_ERROR && strncmp(res.str, "NOSCRIPT", 8) == 0);

    /* bad arguments are refused before anything is sent */
    assert_int_equal(redis_async_eval(f->l, SCRIPT_CLAIM, 3, 2, args, NULL, on_reply, &res), -1);
}

static void test_restart(void **state)
{
    struct fixture *f = *state;
    struct result res, blocked = {0};
    const char *blpop[] = {"BLPOP", "nothing", "0"};
    const char *ping[] = {"PING"};

    f->l = open_link(f, "", "", 0, 0);
    assert_true(run_until(f->loop, &f->ups, 1, 5));
    /* a command pending when redis dies gets a NULL reply */
    assert_int_equal(redis_async_command(f->l, on_reply, &blocked, 3, blpop, NULL), 0);
    run_until(f->loop, &blocked.done, 1, 0.1);
    assert_int_equal(blocked.done, 0);
    redis_stop(f);
    assert_true(run_until(f->loop, &f->downs, 1, 5));
    assert_int_equal(blocked.done, 1);
    assert_true(blocked.null);
    assert_false(redis_async_up(f->l));
    assert_int_equal(redis_async_command(f->l, on_reply, &res, 1, ping, NULL), -1);
    /* stay down while redis is away, retrying with backoff */
    run_until(f->loop, &f->ups, 2, 0.5);
    assert_int_equal(f->ups, 1);
    redis_start(f);
    assert_true(run_until(f->loop, &f->ups, 2, 10));
    assert_true(redis_async_up(f->l));
    assert_int_equal(redis_async_reconnects(f->l), 1);
    cmd(f, f->l, &res, 1, ping);
    assert_string_equal(res.str, "PONG");
}

static void test_start_before_redis(void **state)
{
    struct fixture *f = *state;

    /* the link is created while redis is down and comes up when it starts */
    redis_stop(f);
    f->l = open_link(f, "", "", 0, 0);
    run_until(f->loop, &f->ups, 1, 0.3);
    assert_int_equal(f->ups, 0);
    redis_start(f);
    assert_true(run_until(f->loop, &f->ups, 1, 10));
    assert_int_equal(f->downs, 0);
    assert_int_equal(redis_async_reconnects(f->l), 0);
}

static void test_watchdog(void **state)
{
    struct fixture *f = *state;
    struct result res = {0};
    const char *ping[] = {"PING"};
    double t0;

    f->l = open_link(f, "", "", 0, 400);
    assert_true(run_until(f->loop, &f->ups, 1, 5));
    /* a hung redis: the command must fail after the timeout, not hang */
    kill(f->pid, SIGSTOP);
    t0 = ev_time();
    assert_int_equal(redis_async_command(f->l, on_reply, &res, 1, ping, NULL), 0);
    assert_true(run_until(f->loop, &res.done, 1, 5));
    assert_true(res.null);
    assert_true(ev_time() - t0 < 2.0);
    assert_int_equal(f->downs, 1);
    kill(f->pid, SIGCONT);
    assert_true(run_until(f->loop, &f->ups, 2, 10));
    cmd(f, f->l, &res, 1, ping);
    assert_string_equal(res.str, "PONG");
}

static void test_auth(void **state)
{
    struct fixture *f = *state;
    struct result res;
    const char *acl[] = {"ACL", "SETUSER", "alice", "on", ">pw2", "~*", "+@all"};
    const char *whoami[] = {"ACL", "WHOAMI"};
    struct redis_async *bad, *alice;

    /* wrong password: never up */
    bad = open_link(f, "", "wrong", 0, 0);
    run_until(f->loop, &f->ups, 1, 0.5);
    assert_int_equal(f->ups, 0);
    assert_false(redis_async_up(bad));
    redis_async_free(bad);

    f->l = open_link(f, "", "s3cret", 0, 0);
    assert_true(run_until(f->loop, &f->ups, 1, 5));
    cmd(f, f->l, &res, 7, acl);
    assert_int_equal(res.type, REDIS_REPLY_STATUS);

    alice = open_link(f, "alice", "pw2", 0, 0);
    assert_true(run_until(f->loop, &f->ups, 2, 5));
    cmd(f, alice, &res, 2, whoami);
    assert_string_equal(res.str, "alice");
    redis_async_free(alice);
}

static void test_select_db(void **state)
{
    struct fixture *f = *state;
    struct result res;
    const char *set[] = {"SET", "dbkey", "x"};
    const char *exists[] = {"EXISTS", "dbkey"};
    struct redis_async *l3;

    f->l = open_link(f, "", "", 0, 0);
    l3 = open_link(f, "", "", 3, 0);
    assert_true(run_until(f->loop, &f->ups, 2, 5));
    cmd(f, l3, &res, 3, set);
    cmd(f, l3, &res, 2, exists);
    assert_int_equal(res.integer, 1);
    cmd(f, f->l, &res, 2, exists);
    assert_int_equal(res.integer, 0);
    redis_async_free(l3);
}

static void never_cb(struct redis_async *l, redisReply *r, void *ud)
{
    (void)l;
    (void)r;
    (void)ud;
    fail_msg("callback after redis_async_free");
}

static void test_free_pending(void **state)
{
    struct fixture *f = *state;
    const char *blpop[] = {"BLPOP", "nothing", "0"};
    const char *args[] = {"k"};
    int dummy = 0;

    f->l = open_link(f, "", "", 0, 0);
    assert_true(run_until(f->loop, &f->ups, 1, 5));
    assert_int_equal(redis_async_command(f->l, never_cb, NULL, 3, blpop, NULL), 0);
    assert_int_equal(redis_async_eval(f->l, SCRIPT_COMPLETE, 1, 1, args, NULL, never_cb, NULL), 0);
    run_until(f->loop, &dummy, 1, 0.1);
    redis_async_free(f->l);
    f->l = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connect_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scripts_loaded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval_noscript, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_before_redis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchdog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth, setup_auth, teardown),
        cmocka_unit_test_setup_teardown(test_select_db, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_pending, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    log_setup(getenv("TEST_LOG") ? LOG_DEBUG : LOG_ERROR, LOG_TEXT, "test_rlink");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
