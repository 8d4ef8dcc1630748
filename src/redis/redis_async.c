/* redis_async: one hiredis 0.14 async connection on libev that survives Redis going
 * away.
 *
 * hiredis 0.14 frees its context itself after a failed connect or a
 * disconnect, so both callbacks only drop our pointer and hand over to
 * redis_async_lost, the single down path: mark down, log once per outage, arm the
 * backoff timer (100 ms doubling to 5 s) and tell the owner. When redis_async itself
 * wants the connection gone (a failed handshake, the watchdog) it never frees
 * the context from inside a hiredis callback: redis_async_kill arms a zero-delay
 * "reap" timer whose callback calls redisAsyncFree from the top of the loop;
 * hiredis then fails every pending command with a NULL reply and calls the
 * disconnect callback, which lands in redis_async_lost as usual.
 *
 * hiredis 0.14 has no command timeout either, so every command is tracked in
 * a FIFO (Redis answers in order) and a watchdog tick drops the connection
 * when the oldest is older than command_timeout_ms. */
#include "redis/redis_async.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/adapters/libev.h>

#include "base/log.h"
#include "redis/cluster_async.h"
#include "redis/redis_conn.h"
#include "redis/redis_sentinel.h"

#define REDIS_ASYNC_BACKOFF_MIN_S 0.1
#define REDIS_ASYNC_BACKOFF_MAX_S 5.0
#define REDIS_ASYNC_DEFAULT_TIMEOUT_MS 10000
/* With Sentinel, a failover is expected to take a few seconds: retry at
 * least this often so the promoted replica is found soon after, and ask
 * ROLE this often while up (a primary demoted behind a partition). */
#define REDIS_ASYNC_SENTINEL_BACKOFF_MAX_S 0.5
#define REDIS_ASYNC_ROLE_EVERY_S 5.0
/* handshake tag of the ROLE check (others: 0, 1 + script id) */
#define REDIS_ASYNC_HS_ROLE (-1)

enum redis_async_state {
    REDIS_ASYNC_DOWN,       /* no context; the retry timer is armed */
    REDIS_ASYNC_CONNECTING, /* context exists, TCP connect in flight */
    REDIS_ASYNC_HANDSHAKE,  /* connected; AUTH, SELECT, SCRIPT LOAD in flight */
    REDIS_ASYNC_UP          /* ready: redis_async_command accepts commands */
};

/* redis_async_pending: one command awaiting its reply; privdata of the hiredis call. */
struct redis_async_pending {
    struct redis_async *l;
    redis_async_cb *cb;
    void *ud;
    int internal;          /* redis_async's own callback: runs even while freeing */
    ev_tstamp sent;        /* ev_now at send, s */
    struct redis_async_pending *prev, *next;
};

/* redis_async_evalctx: an redis_async_eval in flight; owns a copy of the arguments so the
 * NOSCRIPT retry can resend them after the caller's buffers are gone. */
struct redis_async_evalctx {
    enum script_id id;
    int argc;              /* entries of argv: EVALSHA sha nkeys args... */
    char **argv;           /* into buf */
    size_t *lens;
    char *buf;             /* every argument, NUL-terminated, one allocation */
    int retried;           /* the one NOSCRIPT retry has been used */
    redis_async_cb *cb;
    void *ud;
};

struct redis_async {
    struct ev_loop *loop;
    char *host;
    int port;
    char *user;
    char *password;
    int db;
    ev_tstamp cmd_timeout;          /* s */
    const struct redis_tls *tls;    /* NULL: plain TCP */
    struct redis_tls *own_tls;      /* tls when redis_async_open made it */
    struct redis_conn_bridge *bridge; /* the TLS side of ac; NULL when plain or down */
    struct redis_sentinel *sentinel; /* NULL: host/port are fixed; else they are
                                        re-discovered before every connect */
    ev_tstamp role_asked;           /* ev_now of the last periodic ROLE */
    struct redis_sentinel_watch *watch; /* +switch-master subscription, with sentinel */
    char hint_host[256];            /* the primary +switch-master announced: the next */
    int hint_port;                  /* connect goes there without asking (0: none) */
    redis_async_state_cb *on_state;
    void *ud;

    redisAsyncContext *ac;          /* NULL while down */
    enum redis_async_state state;
    ev_tstamp connect_started;      /* ev_now when the current connect began */
    int hs_left;                    /* handshake replies still expected */
    int hs_failed;                  /* a handshake step failed: never go up */
    ev_timer retry;                 /* backoff before the next connect */
    ev_timer reap;                  /* zero-delay: redisAsyncFree outside callbacks */
    ev_timer watchdog;              /* periodic command/connect timeout check */
    ev_tstamp backoff;              /* next retry delay, s */
    int fast_retry;                 /* opts.fast_retry: back off 0.5 s at most */
    int outage_logged;              /* the current outage was logged */
    int ever_up;
    int freeing;                    /* in redis_async_free: call no user callback */
    long reconnects;
    char why[128];                  /* reason given to redis_async_kill */
    struct redis_async_pending *head, *tail; /* outstanding commands, oldest first */
    struct cluster_async *cluster;  /* redis-cluster yes: this handle is only a front
                                       for the router (include/redis/cluster_async.h),
                                       nothing above is used */
};

static void redis_async_connect(struct redis_async *l);

/* redis_async_lost: the one path to down. The context is already gone (or being
 * freed by hiredis); reason must not hold secrets. */
static void redis_async_lost(struct redis_async *l, const char *reason)
{
    int was_up = l->state == REDIS_ASYNC_UP;
    char why[256];

    /* hiredis only saw its socket close: the TLS side knows why */
    if (redis_conn_bridge_error(l->bridge)[0]) {
        snprintf(why, sizeof why, "%s", redis_conn_bridge_error(l->bridge));
        reason = why;
    }
    redis_conn_bridge_free(l->bridge);
    l->bridge = NULL;
    l->ac = NULL;
    l->state = REDIS_ASYNC_DOWN;
    if (l->freeing)
        return;
    ev_timer_stop(l->loop, &l->reap);
    if (!l->outage_logged) {
        log_warn("redis %s:%d unreachable (%s); retrying", l->host, l->port,
                 reason && reason[0] ? reason : "unknown error");
        l->outage_logged = 1;
    }
    ev_timer_stop(l->loop, &l->retry);
    ev_timer_set(&l->retry, l->backoff, 0.);
    ev_timer_start(l->loop, &l->retry);
    l->backoff *= 2;
    if (l->backoff > REDIS_ASYNC_BACKOFF_MAX_S)
        l->backoff = REDIS_ASYNC_BACKOFF_MAX_S;
    if ((l->sentinel || l->fast_retry) && l->backoff > REDIS_ASYNC_SENTINEL_BACKOFF_MAX_S)
        l->backoff = REDIS_ASYNC_SENTINEL_BACKOFF_MAX_S;
    l->why[0] = '\0';
    if (was_up && l->on_state)
        l->on_state(l, 0, l->ud);
}

/* redis_async_kill asks for the connection to be dropped soon, from the loop. */
static void redis_async_kill(struct redis_async *l, const char *why)
{
    if (!l->ac)
        return;
    if (!l->why[0])
        snprintf(l->why, sizeof l->why, "%s", why);
    ev_timer_stop(l->loop, &l->reap);
    ev_timer_set(&l->reap, 0., 0.);
    ev_timer_start(l->loop, &l->reap);
}

static void redis_async_reap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct redis_async *l = w->data;
    redisAsyncContext *ac = l->ac;

    (void)loop;
    (void)revents;
    if (!ac)
        return;
    /* A connected context calls our disconnect callback (-> redis_async_lost);
     * one still connecting does not, so finish the job here. */
    redisAsyncFree(ac);
    if (l->ac == ac)
        redis_async_lost(l, l->why);
}

static void redis_async_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis_async_pending *p = privdata;
    struct redis_async *l = p->l;

    (void)ac;
    /* A write refused by a demoted primary: find the new one. */
    if (l->sentinel && reply && ((redisReply *)reply)->type == REDIS_REPLY_ERROR &&
        strncmp(((redisReply *)reply)->str, "READONLY", 8) == 0)
        redis_async_kill(l, "the server became a replica (READONLY)");
    if (p->prev)
        p->prev->next = p->next;
    else
        l->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        l->tail = p->prev;
    if (p->cb && (p->internal || !l->freeing))
        p->cb(l, reply, p->ud);
    free(p);
}

/* redis_async_send queues a command on the live context whatever the state (the
 * handshake runs before REDIS_ASYNC_UP). Returns 0, or -1 with cb not to be called. */
static int redis_async_send(struct redis_async *l, int internal, redis_async_cb *cb, void *ud, int argc,
                      const char **argv, const size_t *argvlen)
{
    struct redis_async_pending *p;

    if (!l->ac)
        return -1;
    p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->l = l;
    p->cb = cb;
    p->ud = ud;
    p->internal = internal;
    p->sent = ev_now(l->loop);
    if (redisAsyncCommandArgv(l->ac, redis_async_reply, p, argc, argv, argvlen) != REDIS_OK) {
        free(p);
        return -1;
    }
    p->prev = l->tail;
    if (l->tail)
        l->tail->next = p;
    else
        l->head = p;
    l->tail = p;
    return 0;
}

static void redis_async_became_up(struct redis_async *l)
{
    l->state = REDIS_ASYNC_UP;
    l->backoff = REDIS_ASYNC_BACKOFF_MIN_S;
    if (l->outage_logged) {
        log_info("redis %s:%d reachable again", l->host, l->port);
        l->outage_logged = 0;
    }
    if (l->ever_up)
        l->reconnects++;
    l->ever_up = 1;
    if (l->on_state)
        l->on_state(l, 1, l->ud);
}

/* redis_async_hs_reply: one handshake step answered. ud is 0 for AUTH/SELECT,
 * 1 + script id for SCRIPT LOAD. */
static void redis_async_hs_reply(struct redis_async *l, redisReply *reply, void *ud)
{
    intptr_t tag = (intptr_t)ud;

    if (!reply || l->freeing || l->state != REDIS_ASYNC_HANDSHAKE || l->hs_failed)
        return; /* lost: the disconnect path runs */
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[128];

        /* server error text (WRONGPASS, NOAUTH...) carries no secret */
        snprintf(why, sizeof why, "handshake: %.100s", reply->str);
        l->hs_failed = 1;
        redis_async_kill(l, why);
        return;
    }
    if (tag == REDIS_ASYNC_HS_ROLE && !redis_sentinel_role_master(reply)) {
        l->hs_failed = 1;
        redis_async_kill(l, "the server the Sentinels named is not a primary (ROLE)");
        return;
    }
    if (tag > 0) {
        enum script_id id = (enum script_id)(tag - 1);

        if (reply->type != REDIS_REPLY_STRING || strcmp(reply->str, script_sha1(id)) != 0) {
            char why[128];

            snprintf(why, sizeof why, "SCRIPT LOAD %s returned an unexpected sha", script_name(id));
            l->hs_failed = 1;
            redis_async_kill(l, why);
            return;
        }
    }
    if (--l->hs_left == 0)
        redis_async_became_up(l);
}

static void redis_async_on_connect(const redisAsyncContext *ac, int status)
{
    struct redis_async *l = ac->data;
    char dbs[16];
    int fail = 0;

    if (status != REDIS_OK) {
        char why[128];

        /* hiredis frees the context after this returns */
        snprintf(why, sizeof why, "%s", ac->errstr);
        redis_async_lost(l, why);
        return;
    }
    l->state = REDIS_ASYNC_HANDSHAKE;
    l->hs_left = 0;
    l->hs_failed = 0;
    if (l->password[0]) {
        const char *av[3] = {"AUTH", l->user, l->password};

        if (l->user[0])
            fail |= redis_async_send(l, 1, redis_async_hs_reply, (void *)0, 3, av, NULL);
        else {
            av[1] = l->password;
            fail |= redis_async_send(l, 1, redis_async_hs_reply, (void *)0, 2, av, NULL);
        }
        l->hs_left++;
    }
    if (l->db != 0) {
        const char *av[2] = {"SELECT", dbs};

        snprintf(dbs, sizeof dbs, "%d", l->db);
        fail |= redis_async_send(l, 1, redis_async_hs_reply, (void *)0, 2, av, NULL);
        l->hs_left++;
    }
    if (l->sentinel) {
        const char *av[1] = {"ROLE"};

        fail |= redis_async_send(l, 1, redis_async_hs_reply, (void *)(intptr_t)REDIS_ASYNC_HS_ROLE, 1, av, NULL);
        l->hs_left++;
    }
    for (int i = 0; i < SCRIPT_COUNT; i++) {
        const char *av[3] = {"SCRIPT", "LOAD", script_source((enum script_id)i)};

        fail |= redis_async_send(l, 1, redis_async_hs_reply, (void *)(intptr_t)(i + 1), 3, av, NULL);
        l->hs_left++;
    }
    if (fail) {
        l->hs_failed = 1;
        redis_async_kill(l, "handshake: cannot queue commands");
    }
}

static void redis_async_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_async *l = ac->data;
    char why[128];

    if (status != REDIS_OK && ac->errstr[0])
        snprintf(why, sizeof why, "%s", ac->errstr);
    else
        snprintf(why, sizeof why, "%s", l->why[0] ? l->why : "connection closed");
    redis_async_lost(l, why);
}

/* redis_async_discover points host/port at the primary the Sentinels name.
 * It blocks the loop (at most REDIS_SENTINEL_TIMEOUT_S per Sentinel), but
 * only while the link is down, when the loop has no Redis work anyway. */
static int redis_async_discover(struct redis_async *l, char *err, size_t errlen)
{
    char host[256];
    int port;
    char *dup;

    if (redis_sentinel_discover(l->sentinel, l->tls, host, sizeof host, &port, err, errlen) != 0)
        return -1;
    if (strcmp(host, l->host) == 0 && port == l->port)
        return 0;
    if ((dup = strdup(host)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    log_info("redis: the Sentinels name %s:%d as the primary (was %s:%d)", host, port, l->host, l->port);
    free(l->host);
    l->host = dup;
    l->port = port;
    return 0;
}

static void redis_async_connect(struct redis_async *l)
{
    struct redis_endpoint ep;
    redisAsyncContext *ac;
    char err[512];

    l->connect_started = ev_now(l->loop);
    if (l->hint_port) {
        char *dup = strdup(l->hint_host);

        if (dup != NULL) {
            free(l->host);
            l->host = dup;
            l->port = l->hint_port;
        }
        l->hint_port = 0;
    } else if (l->sentinel && redis_async_discover(l, err, sizeof err) != 0) {
        redis_async_lost(l, err);
        return;
    }
    ep = (struct redis_endpoint){l->host, l->port, l->tls};
    ac = redis_conn_async(l->loop, &ep, &l->bridge, err, sizeof err);
    if (!ac) {
        redis_async_lost(l, err);
        return;
    }
    if (ac->err) {
        char why[128];

        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        redis_async_lost(l, why);
        return;
    }
    ac->data = l;
    /* the adapter first: setting the connect callback arms its write watcher */
    if (redisLibevAttach(l->loop, ac) != REDIS_OK) {
        redisAsyncFree(ac);
        redis_async_lost(l, "cannot attach to the event loop");
        return;
    }
    redisAsyncSetConnectCallback(ac, redis_async_on_connect);
    redisAsyncSetDisconnectCallback(ac, redis_async_on_disconnect);
    l->ac = ac;
    l->state = REDIS_ASYNC_CONNECTING;
}

static void redis_async_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct redis_async *l = w->data;

    (void)loop;
    (void)revents;
    if (l->state == REDIS_ASYNC_DOWN)
        redis_async_connect(l);
}

/* redis_async_on_switch: the Sentinels moved the primary; leave the old
 * one now (it may stay a working primary for seconds) for the new one. */
static void redis_async_on_switch(const char *host, int port, void *ud)
{
    struct redis_async *l = ud;

    if (strcmp(host, l->host) == 0 && port == l->port)
        return;
    log_info("redis: +switch-master: the primary is now %s:%d", host, port);
    snprintf(l->hint_host, sizeof l->hint_host, "%s", host);
    l->hint_port = port;
    if (l->state == REDIS_ASYNC_DOWN) {
        /* waiting out a backoff for a primary that is gone: go now */
        ev_timer_stop(l->loop, &l->retry);
        ev_timer_set(&l->retry, 0., 0.);
        ev_timer_start(l->loop, &l->retry);
        return;
    }
    redis_async_kill(l, "+switch-master: the primary moved");
}

/* redis_async_role_reply: the periodic ROLE check's answer. */
static void redis_async_role_reply(struct redis_async *l, redisReply *reply, void *ud)
{
    (void)ud;
    if (reply && !l->freeing && !redis_sentinel_role_master(reply))
        redis_async_kill(l, "the server is no longer a primary (ROLE)");
}

/* redis_async_watchdog_cb: hiredis 0.14 waits forever for a hung server; drop the
 * connection when the oldest command or the connect itself is overdue. */
static void redis_async_watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct redis_async *l = w->data;
    ev_tstamp now = ev_now(loop);
    char why[128];

    (void)revents;
    if (!l->ac)
        return;
    if (l->state == REDIS_ASYNC_CONNECTING && now - l->connect_started > l->cmd_timeout) {
        snprintf(why, sizeof why, "connect timed out after %.1f s", l->cmd_timeout);
        redis_async_kill(l, why);
    } else if (l->head && now - l->head->sent > l->cmd_timeout) {
        snprintf(why, sizeof why, "no reply in %.1f s", l->cmd_timeout);
        redis_async_kill(l, why);
    } else if (l->sentinel && l->state == REDIS_ASYNC_UP && now - l->role_asked >= REDIS_ASYNC_ROLE_EVERY_S) {
        const char *av[1] = {"ROLE"};

        l->role_asked = now;
        redis_async_send(l, 1, redis_async_role_reply, NULL, 1, av, NULL);
    }
}

struct redis_async *redis_async_new(struct ev_loop *loop, const struct redis_async_opts *o, redis_async_state_cb *on_state,
                        void *ud)
{
    struct redis_async *l = calloc(1, sizeof *l);
    ev_tstamp tick;

    if (!l)
        return NULL;
    l->loop = loop;
    l->host = strdup(o->host ? o->host : "127.0.0.1");
    l->user = strdup(o->user ? o->user : "");
    l->password = strdup(o->password ? o->password : "");
    if (!l->host || !l->user || !l->password)
        goto err;
    l->port = o->port;
    l->db = o->db;
    l->tls = o->tls;
    l->sentinel = o->sentinel;
    l->fast_retry = o->fast_retry;
    l->cmd_timeout = (o->command_timeout_ms > 0 ? o->command_timeout_ms : REDIS_ASYNC_DEFAULT_TIMEOUT_MS) / 1000.0;
    l->on_state = on_state;
    l->ud = ud;
    l->backoff = REDIS_ASYNC_BACKOFF_MIN_S;
    l->state = REDIS_ASYNC_DOWN;

    ev_init(&l->retry, redis_async_retry_cb);
    l->retry.data = l;
    ev_init(&l->reap, redis_async_reap_cb);
    l->reap.data = l;
    /* check often enough that a timeout fires within ~25% of its value */
    tick = l->cmd_timeout / 4;
    if (tick > 1.0)
        tick = 1.0;
    ev_timer_init(&l->watchdog, redis_async_watchdog_cb, tick, tick);
    l->watchdog.data = l;
    ev_timer_start(loop, &l->watchdog);

    redis_async_connect(l);
    return l;

err:
    free(l->host);
    free(l->user);
    free(l->password);
    free(l);
    return NULL;
}

void redis_async_free(struct redis_async *l)
{
    if (!l)
        return;
    if (l->cluster) {
        cluster_async_free(l->cluster);
        redis_tls_free(l->own_tls);
        free(l);
        return;
    }
    l->freeing = 1;
    ev_timer_stop(l->loop, &l->retry);
    ev_timer_stop(l->loop, &l->reap);
    ev_timer_stop(l->loop, &l->watchdog);
    if (l->ac) {
        redisAsyncContext *ac = l->ac;

        l->ac = NULL;
        /* pending commands are failed through redis_async_reply, which skips user
         * callbacks but still frees redis_async's own contexts */
        redisAsyncFree(ac);
    }
    redis_conn_bridge_free(l->bridge);
    redis_sentinel_watch_free(l->watch);
    redis_tls_free(l->own_tls);
    redis_sentinel_free(l->sentinel);
    if (l->password)
        memset(l->password, 0, strlen(l->password));
    free(l->host);
    free(l->user);
    free(l->password);
    free(l);
}

/* redis_async_open_cluster: a front handle whose every call goes to a
 * cluster_async router. */
static struct redis_async *redis_async_open_cluster(struct ev_loop *loop, const struct sw_config *c,
                                                    redis_async_state_cb *on_state, void *ud, char *err,
                                                    size_t errlen)
{
    struct redis_async *l;

    if (cluster_async_check(c, err, errlen) != 0)
        return NULL;
    if ((l = calloc(1, sizeof *l)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->loop = loop;
    if (c->redis_tls && (l->own_tls = redis_tls_new(c, err, errlen)) == NULL) {
        free(l);
        return NULL;
    }
    l->cluster = cluster_async_new(loop, c, l->own_tls, l, on_state, ud, err, errlen);
    if (l->cluster == NULL) {
        redis_tls_free(l->own_tls);
        free(l);
        return NULL;
    }
    return l;
}

struct redis_async *redis_async_open(struct ev_loop *loop, const struct sw_config *c, redis_async_state_cb *on_state,
                                     void *ud, char *err, size_t errlen)
{
    struct redis_async_opts o = {c->redis_host, c->redis_port, c->redis_user, c->redis_password, c->redis_db, 0, NULL, NULL, 0};
    struct redis_tls *tls = NULL;
    struct redis_sentinel *s = redis_sentinel_new(c, err, errlen);
    struct redis_async *l;

    if (c->redis_cluster) {
        redis_sentinel_free(s);
        return redis_async_open_cluster(loop, c, on_state, ud, err, errlen);
    }
    if (s == NULL && err[0])
        return NULL;
    if (c->redis_tls && (tls = redis_tls_new(c, err, errlen)) == NULL) {
        redis_sentinel_free(s);
        return NULL;
    }
    o.tls = tls;
    o.sentinel = s;
    l = redis_async_new(loop, &o, on_state, ud);
    if (l == NULL) {
        redis_tls_free(tls);
        redis_sentinel_free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->own_tls = tls;
    if (s != NULL && (l->watch = redis_sentinel_watch_new(loop, s, tls, redis_async_on_switch, l)) == NULL) {
        redis_async_free(l);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return l;
}

void redis_async_reset(struct redis_async *l, const char *why)
{
    if (l && !l->cluster)
        redis_async_kill(l, why);
}

int redis_async_up(const struct redis_async *l)
{
    if (l && l->cluster)
        return cluster_async_up(l->cluster);
    return l && l->state == REDIS_ASYNC_UP;
}

long redis_async_reconnects(const struct redis_async *l)
{
    if (l && l->cluster)
        return cluster_async_reconnects(l->cluster);
    return l ? l->reconnects : 0;
}

void redis_async_cluster_stats(const struct redis_async *l, long *moved, long *ask, long *refreshes)
{
    struct cluster_async_stats st;

    cluster_async_stats(l ? l->cluster : NULL, &st);
    *moved = st.moved;
    *ask = st.ask;
    *refreshes = st.refreshes;
}

int redis_async_command(struct redis_async *l, redis_async_cb *cb, void *ud, int argc, const char **argv,
                  const size_t *argvlen)
{
    return redis_async_command_at(l, NULL, cb, ud, argc, argv, argvlen);
}

int redis_async_command_at(struct redis_async *l, const char *route_key, redis_async_cb *cb, void *ud, int argc,
                           const char **argv, const size_t *argvlen)
{
    if (l && l->cluster)
        return cluster_async_command(l->cluster, route_key, cb, ud, argc, argv, argvlen);
    if (!l || l->state != REDIS_ASYNC_UP)
        return -1;
    return redis_async_send(l, 0, cb, ud, argc, argv, argvlen);
}

int redis_async_route_id(const struct redis_async *l, const char *key)
{
    if (l && l->cluster)
        return cluster_async_route_id(l->cluster, key);
    return 0;
}

static void redis_async_evalctx_free(struct redis_async_evalctx *e)
{
    if (!e)
        return;
    free(e->buf);
    free(e->argv);
    free(e->lens);
    free(e);
}

/* redis_async_eval_done hands the reply (or NULL) to the caller, once. */
static void redis_async_eval_done(struct redis_async *l, struct redis_async_evalctx *e, redisReply *reply)
{
    if (!l->freeing && e->cb)
        e->cb(l, reply, e->ud);
    redis_async_evalctx_free(e);
}

static void redis_async_eval_reply(struct redis_async *l, redisReply *reply, void *ud)
{
    struct redis_async_evalctx *e = ud;

    if (reply && reply->type == REDIS_REPLY_ERROR && !e->retried && !l->freeing &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        const char *load[3] = {"SCRIPT", "LOAD", script_source(e->id)};

        /* SCRIPT LOAD then EVALSHA again, pipelined: Redis runs them in order */
        e->retried = 1;
        if (redis_async_send(l, 1, NULL, NULL, 3, load, NULL) == 0 &&
            redis_async_send(l, 1, redis_async_eval_reply, e, e->argc, (const char **)e->argv, e->lens) == 0)
            return;
        reply = NULL;
    }
    redis_async_eval_done(l, e, reply);
}

int redis_async_eval(struct redis_async *l, enum script_id id, int nkeys, int argc, const char **argv,
               const size_t *argvlen, redis_async_cb *cb, void *ud)
{
    struct redis_async_evalctx *e;
    char nk[16];
    const char *sha = script_sha1(id);

    if (l && l->cluster)
        return cluster_async_eval(l->cluster, id, nkeys, argc, argv, argvlen, cb, ud);
    if (!l || l->state != REDIS_ASYNC_UP || !sha || nkeys < 0 || argc < nkeys || argc < 0)
        return -1;
    e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    e->id = id;
    e->cb = cb;
    e->ud = ud;
    e->argc = argc + 3;
    e->argv = calloc((size_t)e->argc, sizeof *e->argv);
    e->lens = calloc((size_t)e->argc, sizeof *e->lens);
    if (!e->argv || !e->lens)
        goto err;
    snprintf(nk, sizeof nk, "%d", nkeys);
    /* One allocation for all the copies: an eval runs once per poll. */
    size_t total = 0;
    for (int i = 0; i < e->argc; i++) {
        if (i == 0)
            e->lens[i] = 7;
        else if (i == 1)
            e->lens[i] = strlen(sha);
        else if (i == 2)
            e->lens[i] = strlen(nk);
        else
            e->lens[i] = argvlen ? argvlen[i - 3] : strlen(argv[i - 3]);
        total += e->lens[i] + 1;
    }
    e->buf = malloc(total);
    if (!e->buf)
        goto err;
    char *p = e->buf;
    for (int i = 0; i < e->argc; i++) {
        const char *src = i == 0 ? "EVALSHA" : i == 1 ? sha : i == 2 ? nk : argv[i - 3];
        size_t n = e->lens[i];

        /* +1 keeps the copy NUL-terminated for hiredis's strlen-free path */
        memcpy(p, src, n);
        p[n] = '\0';
        e->argv[i] = p;
        p += n + 1;
    }
    if (redis_async_send(l, 1, redis_async_eval_reply, e, e->argc, (const char **)e->argv, e->lens) != 0)
        goto err;
    return 0;

err:
    redis_async_evalctx_free(e);
    return -1;
}
