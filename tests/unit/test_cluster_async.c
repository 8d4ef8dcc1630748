/* test_cluster_async: the worker's cluster router (include/redis/cluster_async.h)
 * against two fake cluster nodes served from the test's own event loop: a
 * few lines of RESP that answer CLUSTER SLOTS from a slot table the test
 * changes, and MOVED, ASK, TRYAGAIN or the value as that table says. What
 * is checked: routing by key, a MOVED followed and remembered, an ASK
 * followed with ASKING and not remembered, the redirection limit, TRYAGAIN
 * as a failure, a dead node failing fast while the other is served, and
 * the configurations refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "base/config.h"
#include "base/log.h"
#include "redis/cluster_async.h"
#include "redis/cluster_map.h"
#include "redis/redis_async.h"
#include "redis/scripts.h"

#define NNODES 2
#define MAXCONN 8

struct fx;

struct fconn {
    int fd;
    ev_io io;
    char *buf;
    size_t len, cap;
    int asking;
    struct fnode *node;
};

/* fnode: one fake cluster node. */
struct fnode {
    struct fx *f;
    int idx;
    int port;
    int lfd;
    ev_io accept_io;
    struct fconn conns[MAXCONN];
    int gets;                  /* GETs answered with a value */
};

struct fx {
    struct ev_loop *loop;
    struct fnode nodes[NNODES];
    short owner[CLUSTER_SLOTS];  /* the truth: slot -> node index */
    int ask_slot;                /* -1, or a slot node 0 answers with ASK to node 1 */
    int ups, downs;
    struct redis_async *l;
    struct sw_config *cfg;
    /* the last reply a test callback saw */
    int done, isnull;
    char str[128];
};

/* ------------------------------------------------------- the fake nodes --- */

static void freply(struct fconn *c, const char *fmt, ...)
{
    char out[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, sizeof out, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof out);
    assert_int_equal(write(c->fd, out, (size_t)n), n);
}

static void fslots(struct fx *f, struct fconn *c)
{
    char out[4096];
    size_t used = 0;
    int n = 0, first = 0;
    for (int s = 1; s <= CLUSTER_SLOTS; s++) {
        if (s < CLUSTER_SLOTS && f->owner[s] == f->owner[first])
            continue;
        used += (size_t)snprintf(out + used, sizeof out - used, "*3\r\n:%d\r\n:%d\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n",
                                 first, s - 1, f->nodes[f->owner[first]].port);
        n++;
        first = s;
    }
    freply(c, "*%d\r\n%.*s", n, (int)used, out);
}

/* fcommand: one command's answer, as the slot table says. */
static void fcommand(struct fconn *c, int argc, char **argv, size_t *lens)
{
    struct fnode *nd = c->node;
    struct fx *f = nd->f;
    int asking = c->asking;

    c->asking = 0;
    if (argc >= 3 && strcmp(argv[0], "SCRIPT") == 0) {
        for (int i = 0; i < SCRIPT_COUNT; i++)
            if (strcmp(argv[2], script_source((enum script_id)i)) == 0) {
                freply(c, "$40\r\n%s\r\n", script_sha1((enum script_id)i));
                return;
            }
        freply(c, "-ERR unknown script\r\n");
    } else if (argc == 2 && strcmp(argv[0], "CLUSTER") == 0) {
        fslots(f, c);
    } else if (argc == 1 && strcmp(argv[0], "ASKING") == 0) {
        c->asking = 1;
        freply(c, "+OK\r\n");
    } else if (argc >= 2 && strcmp(argv[0], "GET") == 0) {
        int slot = (int)cluster_keyslot(argv[1], lens[1]);
        int other = 1 - nd->idx;
        if (strncmp(argv[1], "tryagain", 8) == 0)
            freply(c, "-TRYAGAIN Multiple keys request during rehashing of slot\r\n");
        else if (strncmp(argv[1], "pingpong", 8) == 0)
            freply(c, "-MOVED %d 127.0.0.1:%d\r\n", slot, f->nodes[other].port);
        else if (slot == f->ask_slot && nd->idx == 0)
            freply(c, "-ASK %d 127.0.0.1:%d\r\n", slot, f->nodes[1].port);
        else if (f->owner[slot] == nd->idx || (slot == f->ask_slot && asking)) {
            nd->gets++;
            freply(c, "$6\r\nnode-%d\r\n", nd->idx);
        } else
            freply(c, "-MOVED %d 127.0.0.1:%d\r\n", slot, f->nodes[f->owner[slot]].port);
    } else {
        freply(c, "+OK\r\n");
    }
}

/* fparse: one whole RESP array at the front of c->buf, answered and
 * consumed; 0 when it is not all there yet. */
static int fparse(struct fconn *c)
{
    char *p = c->buf, *end = c->buf + c->len, *argv[64];
    size_t lens[64];
    int argc;

    if (c->len < 4 || *p != '*')
        return 0;
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
        return 0;
    argc = atoi(p + 1);
    assert_true(argc > 0 && argc <= 64);
    p = nl + 1;
    for (int i = 0; i < argc; i++) {
        if (p >= end || (nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
            return 0;
        size_t n = (size_t)atol(p + 1);
        p = nl + 1;
        if ((size_t)(end - p) < n + 2)
            return 0;
        argv[i] = p;
        lens[i] = n;
        p[n] = '\0';   /* over the \r */
        p += n + 2;
    }
    fcommand(c, argc, argv, lens);
    c->len = (size_t)(end - p);
    memmove(c->buf, p, c->len);
    return 1;
}

static void fconn_close(struct fx *f, struct fconn *c)
{
    ev_io_stop(f->loop, &c->io);
    close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static void fread_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct fconn *c = w->data;
    (void)loop;
    (void)revents;
    if (c->cap - c->len < 65536) {
        c->cap = c->cap * 2 + 65536;
        c->buf = realloc(c->buf, c->cap);
        assert_non_null(c->buf);
    }
    ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        fconn_close(c->node->f, c);
        return;
    }
    c->len += (size_t)n;
    while (fparse(c))
        ;
}

static void faccept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct fnode *nd = w->data;
    int fd = accept(nd->lfd, NULL, NULL);
    (void)revents;
    if (fd < 0)
        return;
    for (int i = 0; i < MAXCONN; i++) {
        struct fconn *c = &nd->conns[i];
        if (c->fd >= 0)
            continue;
        c->fd = fd;
        c->node = nd;
        fcntl(fd, F_SETFL, O_NONBLOCK);
        ev_io_init(&c->io, fread_cb, fd, EV_READ);
        c->io.data = c;
        ev_io_start(loop, &c->io);
        return;
    }
    close(fd);
}

static void fnode_start(struct fx *f, int idx)
{
    struct fnode *nd = &f->nodes[idx];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int one = 1;

    nd->f = f;
    nd->idx = idx;
    for (int i = 0; i < MAXCONN; i++)
        nd->conns[i].fd = -1;
    nd->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(nd->lfd >= 0);
    setsockopt(nd->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(nd->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(nd->lfd, (struct sockaddr *)&a, &al), 0);
    assert_int_equal(listen(nd->lfd, 16), 0);
    nd->port = ntohs(a.sin_port);
    ev_io_init(&nd->accept_io, faccept_cb, nd->lfd, EV_READ);
    nd->accept_io.data = nd;
    ev_io_start(f->loop, &nd->accept_io);
}

/* fnode_kill: the node dies: its listener and every connection closed. */
static void fnode_kill(struct fx *f, int idx)
{
    struct fnode *nd = &f->nodes[idx];
    if (nd->lfd < 0)
        return;
    ev_io_stop(f->loop, &nd->accept_io);
    close(nd->lfd);
    nd->lfd = -1;
    for (int i = 0; i < MAXCONN; i++)
        if (nd->conns[i].fd >= 0)
            fconn_close(f, &nd->conns[i]);
}

/* ------------------------------------------------------------- fixture --- */

static void on_state(struct redis_async *l, int up, void *ud)
{
    struct fx *f = ud;
    (void)l;
    if (up)
        f->ups++;
    else
        f->downs++;
}

static int dead_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);   /* nothing listens there now */
    return ntohs(a.sin_port);
}

/* fx_new: two fake nodes; the router's first seed is node 0, or (seeds)
 * a dead port with the nodes in redis-cluster-nodes. */
static struct fx *fx_new(int seeds)
{
    struct fx *f = calloc(1, sizeof *f);
    char err[256] = "";
    assert_non_null(f);
    log_setup(getenv("TEST_LOG") ? LOG_DEBUG : LOG_ERROR, LOG_TEXT, "test_cluster_async");
    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->ask_slot = -1;
    for (int i = 0; i < NNODES; i++)
        fnode_start(f, i);
    for (int s = 0; s < CLUSTER_SLOTS; s++)
        f->owner[s] = s < CLUSTER_SLOTS / 2 ? 0 : 1;
    f->cfg = calloc(1, sizeof *f->cfg);
    assert_non_null(f->cfg);
    config_defaults(f->cfg);
    f->cfg->redis_cluster = 1;
    snprintf(f->cfg->redis_host, sizeof f->cfg->redis_host, "127.0.0.1");
    f->cfg->redis_port = f->nodes[0].port;
    if (seeds) {
        f->cfg->redis_port = dead_port();
        snprintf(f->cfg->redis_cluster_nodes, sizeof f->cfg->redis_cluster_nodes, "127.0.0.1:%d,127.0.0.1:%d",
                 dead_port(), f->nodes[1].port);
    }
    f->l = redis_async_open(f->loop, f->cfg, on_state, f, err, sizeof err);
    assert_non_null(f->l);
    return f;
}

static int setup(void **state)
{
    *state = fx_new(0);
    return 0;
}

static int setup_seeds(void **state)
{
    *state = fx_new(1);
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    redis_async_free(f->l);
    for (int i = 0; i < NNODES; i++)
        fnode_kill(f, i);
    ev_loop_destroy(f->loop);
    free(f->cfg);
    free(f);
    return 0;
}

static int run_until(struct fx *f, int (*cond)(struct fx *), double secs)
{
    ev_tstamp end = ev_time() + secs;
    while (!cond(f) && ev_time() < end)
        ev_run(f->loop, EVRUN_ONCE);
    return cond(f);
}

static int is_up(struct fx *f)
{
    return redis_async_up(f->l);
}

static int is_done(struct fx *f)
{
    return f->done;
}

static void on_reply(struct redis_async *l, redisReply *r, void *ud)
{
    struct fx *f = ud;
    assert_ptr_equal(l, f->l);   /* the owner's handle, never a node's link */
    f->done = 1;
    f->isnull = r == NULL;
    snprintf(f->str, sizeof f->str, "%s", r && r->str ? r->str : "");
}

/* get: GET key through the router; the answer in f->str (or f->isnull). */
static int get(struct fx *f, const char *key)
{
    const char *argv[2] = {"GET", key};
    f->done = 0;
    if (redis_async_command(f->l, on_reply, f, 2, argv, NULL) != 0)
        return -1;
    assert_true(run_until(f, is_done, 5));
    return 0;
}

/* key_on: a key whose slot the truth gives to node idx, into buf. */
static const char *key_on(struct fx *f, int idx, char *buf, size_t len)
{
    for (int i = 0;; i++) {
        snprintf(buf, len, "k%d", i);
        if (f->owner[cluster_keyslot(buf, strlen(buf))] == idx)
            return buf;
    }
}

/* slot_on: key_on, and that key's slot. */
static int slot_on(struct fx *f, int idx, char *buf, size_t len)
{
    key_on(f, idx, buf, len);   /* before strlen: argument order is unspecified */
    return (int)cluster_keyslot(buf, strlen(buf));
}

/* ---------------------------------------------------------------- tests --- */

static void test_routes_by_key(void **state)
{
    struct fx *f = *state;
    char k0[16], k1[16];
    assert_true(run_until(f, is_up, 5));
    assert_int_equal(f->ups, 1);
    assert_int_equal(get(f, key_on(f, 0, k0, sizeof k0)), 0);
    assert_string_equal(f->str, "node-0");
    assert_int_equal(get(f, key_on(f, 1, k1, sizeof k1)), 0);
    assert_string_equal(f->str, "node-1");
    assert_int_equal(redis_async_route_id(f->l, k0) != redis_async_route_id(f->l, k1), 1);
    /* the route key, not argv[1], decides for command_at */
    const char *argv[2] = {"GET", k0};
    f->done = 0;
    assert_int_equal(redis_async_command_at(f->l, k1, on_reply, f, 2, argv, NULL), 0);
    assert_true(run_until(f, is_done, 5));
    assert_string_equal(f->str, "node-0");   /* node 1 sent it on with a MOVED */
    long moved, ask, maps;
    redis_async_cluster_stats(f->l, &moved, &ask, &maps);
    assert_int_equal(moved, 1);
    assert_true(maps >= 1);
}

static void test_moved_followed_and_remembered(void **state)
{
    struct fx *f = *state;
    char k[16];
    long moved, ask, maps;
    assert_true(run_until(f, is_up, 5));
    f->owner[slot_on(f, 0, k, sizeof k)] = 1;   /* migrated */
    assert_int_equal(get(f, k), 0);
    assert_string_equal(f->str, "node-1");
    redis_async_cluster_stats(f->l, &moved, &ask, &maps);
    assert_int_equal(moved, 1);
    /* the map was corrected: the next one goes straight to node 1 */
    int gets1 = f->nodes[1].gets;
    assert_int_equal(get(f, k), 0);
    assert_string_equal(f->str, "node-1");
    assert_int_equal(f->nodes[1].gets, gets1 + 1);
    redis_async_cluster_stats(f->l, &moved, &ask, &maps);
    assert_int_equal(moved, 1);
}

static void test_ask_followed_not_remembered(void **state)
{
    struct fx *f = *state;
    char k[16];
    long moved, ask, maps;
    assert_true(run_until(f, is_up, 5));
    f->ask_slot = slot_on(f, 0, k, sizeof k);
    for (int round = 1; round <= 2; round++) {
        assert_int_equal(get(f, k), 0);
        assert_string_equal(f->str, "node-1");   /* only with ASKING first */
        redis_async_cluster_stats(f->l, &moved, &ask, &maps);
        assert_int_equal(ask, round);             /* asked node 0 again: nothing kept */
        assert_int_equal(moved, 0);
    }
}

static void test_redirect_limit_and_tryagain(void **state)
{
    struct fx *f = *state;
    long moved, ask, maps;
    assert_true(run_until(f, is_up, 5));
    assert_int_equal(get(f, "pingpong"), 0);
    assert_true(f->isnull);   /* a failure, as for a lost link */
    redis_async_cluster_stats(f->l, &moved, &ask, &maps);
    assert_int_equal(moved, CLUSTER_ASYNC_MAX_REDIRECTS + 1);
    assert_int_equal(get(f, "tryagain"), 0);
    assert_true(f->isnull);
    assert_true(redis_async_up(f->l));
}

static int node1_slots_failing(struct fx *f)
{
    char k[16];
    const char *argv[2] = {"GET", key_on(f, 1, k, sizeof k)};
    return redis_async_command(f->l, on_reply, f, 2, argv, NULL) != 0;
}

static void test_dead_node_fails_fast_others_served(void **state)
{
    struct fx *f = *state;
    char k0[16];
    assert_true(run_until(f, is_up, 5));
    fnode_kill(f, 1);
    /* the router notices the lost link: node 1's slots fail at once */
    assert_true(run_until(f, node1_slots_failing, 5));
    assert_true(redis_async_up(f->l));
    assert_int_equal(f->downs, 0);
    assert_int_equal(get(f, key_on(f, 0, k0, sizeof k0)), 0);
    assert_string_equal(f->str, "node-0");
    /* a "failover": node 0 takes every slot; the re-read map routes there */
    for (int s = 0; s < CLUSTER_SLOTS; s++)
        f->owner[s] = 0;
    ev_tstamp end = ev_time() + 5;
    char k1[16];
    snprintf(k1, sizeof k1, "k1");
    while (ev_time() < end && get(f, k1) != 0)
        ev_run(f->loop, EVRUN_ONCE);
    assert_string_equal(f->str, "node-0");
}

/* redis-host down: the map comes from a node of redis-cluster-nodes, and
 * both primaries are served. */
static void test_seed_list(void **state)
{
    struct fx *f = *state;
    char k0[16], k1[16];
    assert_true(run_until(f, is_up, 5));
    assert_int_equal(get(f, key_on(f, 0, k0, sizeof k0)), 0);
    assert_string_equal(f->str, "node-0");
    assert_int_equal(get(f, key_on(f, 1, k1, sizeof k1)), 0);
    assert_string_equal(f->str, "node-1");
}

static void test_refused_configurations(void **state)
{
    struct sw_config *c = calloc(1, sizeof *c);
    char err[256];
    (void)state;
    assert_non_null(c);
    config_defaults(c);
    c->redis_cluster = 1;
    assert_int_equal(cluster_async_check(c, err, sizeof err), 0);
    c->redis_db = 2;
    assert_int_equal(cluster_async_check(c, err, sizeof err), -1);
    assert_non_null(strstr(err, "redis-db"));
    c->redis_db = 0;
    snprintf(c->redis_sentinel, sizeof c->redis_sentinel, "127.0.0.1:26379");
    assert_int_equal(cluster_async_check(c, err, sizeof err), -1);
    assert_non_null(strstr(err, "redis-sentinel"));
    c->redis_sentinel[0] = '\0';
    snprintf(c->redis_cluster_nodes, sizeof c->redis_cluster_nodes, "127.0.0.1");
    assert_int_equal(cluster_async_check(c, err, sizeof err), -1);
    assert_non_null(strstr(err, "redis-cluster-nodes"));
    /* and redis_async_open says so */
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    err[0] = '\0';
    assert_null(redis_async_open(loop, c, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "redis-cluster-nodes"));
    ev_loop_destroy(loop);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routes_by_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moved_followed_and_remembered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ask_followed_not_remembered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redirect_limit_and_tryagain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_node_fails_fast_others_served, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_list, setup_seeds, teardown),
        cmocka_unit_test(test_refused_configurations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
