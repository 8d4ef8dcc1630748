/* redis_sentinel.c: the primary's address from Redis Sentinel (see
 * include/redis/redis_sentinel.h). */
#include "redis/redis_sentinel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/adapters/libev.h>

#include "base/errbuf.h"
#include "redis/redis_conn.h"

struct redis_sentinel_node {
    char host[256];
    int port;
};

struct redis_sentinel {
    struct redis_sentinel_node node[REDIS_SENTINEL_MAX];
    int n;
    int next;                  /* the one to ask first: the last that answered */
    char master[CFG_STR];
    char password[CFG_STR];
};

/* parse_port: a decimal port 1..65535 filling all of s, or -1. */
static int parse_port(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    return (*s && *end == '\0' && v >= 1 && v <= 65535) ? (int)v : -1;
}

/* parse_node fills nd from "host:port" (len bytes of item); 0 or -1. The
 * last ':' splits, so a bare IPv6 address cannot be written: use a name. */
static int parse_node(const char *item, size_t len, struct redis_sentinel_node *nd)
{
    char buf[300];
    char *colon;

    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, item, len);
    buf[len] = '\0';
    colon = strrchr(buf, ':');
    if (colon == NULL || colon == buf || (size_t)(colon - buf) >= sizeof nd->host)
        return -1;
    *colon = '\0';
    nd->port = parse_port(colon + 1);
    memcpy(nd->host, buf, (size_t)(colon - buf) + 1);   /* fits: checked above */
    return nd->port < 0 ? -1 : 0;
}

struct redis_sentinel *redis_sentinel_new(const struct sw_config *c, char *err, size_t errlen)
{
    struct redis_sentinel *s;
    const char *p = c->redis_sentinel;

    errbuf_set(err, errlen, "%s", "");
    if (p[0] == '\0')
        return NULL;
    if (c->redis_sentinel_master[0] == '\0') {
        errbuf_set(err, errlen, "redis-sentinel is set but redis-sentinel-master is not");
        return NULL;
    }
    if ((s = calloc(1, sizeof *s)) == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    while (*p) {
        size_t len = strcspn(p, ",");

        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        if (s->n == REDIS_SENTINEL_MAX || parse_node(p, len, &s->node[s->n]) != 0) {
            errbuf_set(err, errlen, "redis-sentinel: expected host:port[,host:port...] (at most %d), got '%.*s'",
                       REDIS_SENTINEL_MAX, (int)(len > 100 ? 100 : len), p);
            free(s);
            return NULL;
        }
        s->n++;
        p += len;
        if (*p == ',')
            p++;
    }
    snprintf(s->master, sizeof s->master, "%s", c->redis_sentinel_master);
    snprintf(s->password, sizeof s->password, "%s", c->redis_sentinel_password);
    return s;
}

void redis_sentinel_free(struct redis_sentinel *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s->password, sizeof s->password);
    free(s);
}

/* sentinel_open: a connection to one Sentinel, authenticated when
 * redis-sentinel-password is set; NULL with why. */
static redisContext *sentinel_open(const struct redis_sentinel *s, const struct redis_sentinel_node *nd,
                                   const struct redis_tls *tls, char *why, size_t whylen)
{
    struct redis_endpoint ep = {nd->host, nd->port, tls};
    const char *auth[] = {"AUTH", s->password};
    redisContext *r = redis_conn_sync(&ep, REDIS_SENTINEL_TIMEOUT_S, why, whylen);
    redisReply *rep;

    if (r == NULL || !s->password[0])
        return r;
    rep = redisCommandArgv(r, 2, auth, NULL);
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
        errbuf_set(why, whylen, "AUTH: %.100s", rep ? rep->str : r->errstr);
        redisFree(r);
        r = NULL;
    }
    if (rep)
        freeReplyObject(rep);
    return r;
}

/* ask_one asks one Sentinel. 0 with host/port, or -1 with why. */
static int ask_one(const struct redis_sentinel *s, const struct redis_sentinel_node *nd,
                   const struct redis_tls *tls, char *host, size_t hostlen, int *port, char *why, size_t whylen)
{
    const char *ask[] = {"SENTINEL", "get-master-addr-by-name", s->master};
    redisContext *r = sentinel_open(s, nd, tls, why, whylen);
    redisReply *rep = NULL;
    int rc = -1;

    if (r == NULL)
        return -1;
    rep = redisCommandArgv(r, 3, ask, NULL);
    /* A Sentinel's answer is data from the network like any other: an
     * array of two strings, a sane host and a port, or it is not used. */
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
        errbuf_set(why, whylen, "%.100s", rep ? rep->str : r->errstr);
    } else if (rep->type == REDIS_REPLY_NIL) {
        errbuf_set(why, whylen, "does not know master '%.100s'", s->master);
    } else if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_STRING ||
               rep->element[1]->type != REDIS_REPLY_STRING || rep->element[0]->len == 0 ||
               rep->element[0]->len >= hostlen || strlen(rep->element[0]->str) != rep->element[0]->len ||
               (*port = parse_port(rep->element[1]->str)) < 0) {
        errbuf_set(why, whylen, "unexpected answer");
    } else {
        snprintf(host, hostlen, "%s", rep->element[0]->str);
        rc = 0;
    }
    if (rep)
        freeReplyObject(rep);
    redisFree(r);
    return rc;
}

int redis_sentinel_discover(struct redis_sentinel *s, const struct redis_tls *tls, char *host, size_t hostlen,
                            int *port, char *err, size_t errlen)
{
    errbuf_set(err, errlen, "no Sentinel answered:");
    for (int i = 0; i < s->n; i++) {
        int k = (s->next + i) % s->n;
        char why[256];

        if (ask_one(s, &s->node[k], tls, host, hostlen, port, why, sizeof why) == 0) {
            s->next = k;
            return 0;
        }
        size_t used = strlen(err);

        if (used + 1 < errlen)
            snprintf(err + used, errlen - used, " %s:%d %s;", s->node[k].host, s->node[k].port, why);
    }
    return -1;
}

/* describe_one: what one Sentinel says of our master (SENTINEL MASTER,
 * then SENTINEL CKQUORUM), or why it says nothing. */
static void describe_one(const struct redis_sentinel *s, const struct redis_sentinel_node *nd,
                         const struct redis_tls *tls, struct repl_sentinel *v)
{
    const char *master[] = {"SENTINEL", "MASTER", s->master};
    const char *ckquorum[] = {"SENTINEL", "CKQUORUM", s->master};
    char addr[300], why[REPL_WHY_MAX];
    redisContext *r;
    redisReply *rep;

    snprintf(addr, sizeof addr, "%s:%d", nd->host, nd->port);
    repl_sentinel_init(v, addr);
    if ((r = sentinel_open(s, nd, tls, why, sizeof why)) == NULL) {
        repl_sentinel_parse_master(NULL, why, v);
        return;
    }
    rep = redisCommandArgv(r, 3, master, NULL);
    repl_sentinel_parse_master(rep, r->errstr, v);
    if (rep)
        freeReplyObject(rep);
    if (v->up && (rep = redisCommandArgv(r, 3, ckquorum, NULL)) != NULL) {
        repl_sentinel_parse_ckquorum(rep, v);
        freeReplyObject(rep);
    }
    redisFree(r);
}

int redis_sentinel_describe(const struct sw_config *c, struct repl_sentinels *out, char *err, size_t errlen)
{
    struct redis_tls *tls = NULL;
    struct redis_sentinel *s = redis_sentinel_new(c, err, errlen);

    memset(out, 0, sizeof *out);
    if (s == NULL)
        return err[0] ? -1 : 1;
    if (c->redis_tls && (tls = redis_tls_new(c, err, errlen)) == NULL) {
        redis_sentinel_free(s);
        return -1;
    }
    snprintf(out->master, sizeof out->master, "%.63s", s->master);
    for (int i = 0; i < s->n && i < REPL_SENTINELS_MAX; i++)
        describe_one(s, &s->node[i], tls, &out->node[out->n++]);
    redis_tls_free(tls);
    redis_sentinel_free(s);
    return 0;
}

int redis_sentinel_role_master(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
           r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "master") == 0;
}

/* ============================ +switch-master watch ============================ */

/* The watch holds one SUBSCRIBE connection to one Sentinel at a time; when it
 * is lost (or cannot be made) the next Sentinel is tried after
 * REDIS_SENTINEL_WATCH_RETRY_S. It only speeds things up: without it a
 * worker still follows a failover through its link's loss and ROLE. */
#define REDIS_SENTINEL_WATCH_RETRY_S 1.0

struct redis_sentinel_watch {
    struct ev_loop *loop;
    struct redis_sentinel *s;             /* not owned */
    const struct redis_tls *tls;          /* not owned */
    redis_sentinel_switch_cb *on_switch;
    void *ud;
    redisAsyncContext *ac;                /* NULL while down */
    struct redis_conn_bridge *bridge;
    int k;                                /* the Sentinel of ac, or to try next */
    int freeing;
    ev_timer retry;
};

static void watch_down(struct redis_sentinel_watch *w)
{
    redis_conn_bridge_free(w->bridge);
    w->bridge = NULL;
    w->ac = NULL;
    if (w->freeing)
        return;
    w->k = (w->k + 1) % w->s->n;
    ev_timer_stop(w->loop, &w->retry);
    ev_timer_set(&w->retry, REDIS_SENTINEL_WATCH_RETRY_S, 0.);
    ev_timer_start(w->loop, &w->retry);
}

/* watch_message: one pushed message; "+switch-master <master> <old ip>
 * <old port> <new ip> <new port>" for our master calls on_switch. */
static void watch_message(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis_sentinel_watch *w = privdata;
    redisReply *r = reply;
    char name[CFG_STR], host[256], port[8];

    (void)ac;
    if (r == NULL || w->freeing || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0 ||
        r->element[2]->type != REDIS_REPLY_STRING)
        return;
    if (sscanf(r->element[2]->str, "%511s %*s %*s %255s %7s", name, host, port) != 3 ||
        strcmp(name, w->s->master) != 0 || parse_port(port) < 0)
        return;
    w->on_switch(host, parse_port(port), w->ud);
}

static void watch_on_connect(const redisAsyncContext *ac, int status)
{
    struct redis_sentinel_watch *w = ac->data;
    const char *auth[] = {"AUTH", w->s->password};
    const char *sub[] = {"SUBSCRIBE", "+switch-master"};

    if (status != REDIS_OK) {
        watch_down(w);   /* hiredis frees ac after this returns */
        return;
    }
    /* AUTH's answer is not read: a refusal makes SUBSCRIBE fail too, and
     * the Sentinel then pushes nothing (the link's ROLE check remains). */
    if (w->s->password[0])
        redisAsyncCommandArgv(w->ac, NULL, NULL, 2, auth, NULL);
    redisAsyncCommandArgv(w->ac, watch_message, w, 2, sub, NULL);
}

static void watch_on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    watch_down(ac->data);
}

static void watch_connect(struct redis_sentinel_watch *w)
{
    struct redis_endpoint ep = {w->s->node[w->k].host, w->s->node[w->k].port, w->tls};
    char err[256];
    redisAsyncContext *ac = redis_conn_async(w->loop, &ep, &w->bridge, err, sizeof err);

    if (ac == NULL || ac->err || redisLibevAttach(w->loop, ac) != REDIS_OK) {
        if (ac)
            redisAsyncFree(ac);
        watch_down(w);
        return;
    }
    ac->data = w;
    redisAsyncSetConnectCallback(ac, watch_on_connect);
    redisAsyncSetDisconnectCallback(ac, watch_on_disconnect);
    w->ac = ac;
}

static void watch_retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct redis_sentinel_watch *w = t->data;

    (void)loop;
    (void)revents;
    if (w->ac == NULL)
        watch_connect(w);
}

struct redis_sentinel_watch *redis_sentinel_watch_new(struct ev_loop *loop, struct redis_sentinel *s,
                                                      const struct redis_tls *tls,
                                                      redis_sentinel_switch_cb *on_switch, void *ud)
{
    struct redis_sentinel_watch *w = calloc(1, sizeof *w);

    if (w == NULL)
        return NULL;
    w->loop = loop;
    w->s = s;
    w->tls = tls;
    w->on_switch = on_switch;
    w->ud = ud;
    w->k = s->next;
    ev_init(&w->retry, watch_retry_cb);
    w->retry.data = w;
    watch_connect(w);
    return w;
}

void redis_sentinel_watch_free(struct redis_sentinel_watch *w)
{
    if (w == NULL)
        return;
    w->freeing = 1;
    ev_timer_stop(w->loop, &w->retry);
    if (w->ac) {
        redisAsyncContext *ac = w->ac;

        w->ac = NULL;
        redisAsyncFree(ac);   /* the disconnect callback sees freeing */
    }
    redis_conn_bridge_free(w->bridge);
    free(w);
}
