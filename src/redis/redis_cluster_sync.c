/* redis_cluster_sync.c: blocking Redis Cluster routing (include/redis/redis_cluster_sync.h). */
#include "redis/redis_cluster_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "redis/redis_conn.h"
#include "redis/redis_sync.h"

/* pending: one command of a pipeline, kept until its reply is handed out
 * (a redirection re-runs it; ready holds a reply read early). */
struct pending {
    int node;
    char *cmd;
    size_t len;
    redisReply *ready;
};

struct cluster_sync {
    const struct sw_config *cfg;
    struct redis_tls *tls;              /* owned; NULL: plain */
    int timeout_s;
    struct cluster_map map;
    redisContext *conn[CLUSTER_MAX_NODES];   /* by node index; NULL until used */
    struct pending *q;                  /* the pipeline: q[qhead..qlen) */
    size_t qhead, qlen, qcap;
    int last_node;                      /* where the last command went */
    int watch_node;                     /* WATCH open there, or -1 */
    int txn_node;                       /* MULTI sent there, or -1 */
    int multi_wanted;                   /* MULTI asked, not yet sent */
    int err;
    char errstr[256];
    int connect_failed;                 /* the node whose last connect failed, or -1 */
    struct timeval timeout;             /* set_timeout's; tv_sec -1: none set */
};

/* ---- the formatted command, read back ---------------------------------- */

#define ARGS_MAX 16
struct arg {
    const char *p;
    size_t len;
};

/* resp_args reads up to max arguments of the RESP array cmd. Returns the
 * number of arguments the command has (maybe more than read), or -1. */
static int resp_args(const char *cmd, size_t len, struct arg *out, int max)
{
    const char *p = cmd, *end = cmd + len;
    char *e;
    if (len < 4 || *p != '*')
        return -1;
    long n = strtol(p + 1, &e, 10);
    if (e + 2 > end || e[0] != '\r' || n < 1)
        return -1;
    p = e + 2;
    for (long i = 0; i < n && i < max; i++) {
        if (p >= end || *p != '$')
            return -1;
        long l = strtol(p + 1, &e, 10);
        if (l < 0 || e + 2 + l > end)
            return -1;
        out[i].p = e + 2;
        out[i].len = (size_t)l;
        p = e + 2 + l + 2;
    }
    return (int)n;
}

static int arg_is(const struct arg *a, const char *name)
{
    return a->len == strlen(name) && strncasecmp(a->p, name, a->len) == 0;
}

/* key_index: the argument holding the command's first key, or -1 for a
 * keyless command. */
static int key_index(const struct arg *a, int n, int got)
{
    static const char *const keyless[] = {
        "TIME", "INFO", "PING", "SCRIPT", "ROLE", "CLUSTER", "CONFIG", "DBSIZE", "PUBLISH", "SUBSCRIBE",
        "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "ECHO", "CLIENT", "ACL", "WAIT", "AUTH", "HELLO",
        "COMMAND", "SCAN", "KEYS", "MULTI", "EXEC", "DISCARD", "UNWATCH", "FLUSHALL", "FLUSHDB", "LATENCY",
        "SLOWLOG", "LASTSAVE", "SWAPDB", "RANDOMKEY"};
    for (size_t i = 0; i < sizeof keyless / sizeof *keyless; i++)
        if (arg_is(&a[0], keyless[i]))
            return -1;
    if (arg_is(&a[0], "EVAL") || arg_is(&a[0], "EVALSHA") || arg_is(&a[0], "EVAL_RO") ||
        arg_is(&a[0], "EVALSHA_RO"))
        return got > 3 && a[2].len > 0 && !(a[2].len == 1 && a[2].p[0] == '0') ? 3 : -1;
    if (arg_is(&a[0], "XREAD") || arg_is(&a[0], "XREADGROUP")) {
        for (int i = 1; i + 1 < got; i++)
            if (arg_is(&a[i], "STREAMS"))
                return i + 1;
        return -1;
    }
    if (arg_is(&a[0], "OBJECT") || arg_is(&a[0], "MEMORY"))
        return got > 2 ? 2 : -1;
    return n > 1 && got > 1 ? 1 : -1;
}

/* ---- nodes and the map --------------------------------------------------- */

static void set_err(struct cluster_sync *cs, const char *why)
{
    cs->err = REDIS_ERR_OTHER;
    snprintf(cs->errstr, sizeof cs->errstr, "%s", why);
}

static redisContext *node_open(struct cluster_sync *cs, const char *host, int port, char *err, size_t errlen)
{
    struct redis_endpoint ep = {host, port, cs->tls};
    return redis_sync_connect_endpoint(cs->cfg, &ep, cs->timeout_s, err, errlen);
}

/* node_conn: node's context, opened when absent; NULL with cs->errstr. */
static redisContext *node_conn(struct cluster_sync *cs, int node)
{
    char err[256] = "";
    if (node < 0 || node >= cs->map.nnodes) {
        set_err(cs, "no Redis Cluster node serves this slot");
        return NULL;
    }
    if (cs->conn[node] == NULL) {
        cs->conn[node] = node_open(cs, cs->map.nodes[node].host, cs->map.nodes[node].port, err, sizeof err);
        cs->connect_failed = cs->conn[node] == NULL ? node : -1;
        if (cs->conn[node] == NULL)
            set_err(cs, err);
        else if (cs->timeout.tv_sec >= 0)
            redisSetTimeout(cs->conn[node], cs->timeout);
    }
    return cs->conn[node];
}

/* node_lost: an I/O error on node: keep its words, drop its context. */
static void node_lost(struct cluster_sync *cs, int node)
{
    redisContext *c = cs->conn[node];
    if (c == NULL)
        return;
    cs->err = c->err ? c->err : REDIS_ERR_IO;
    snprintf(cs->errstr, sizeof cs->errstr, "%s", c->errstr[0] ? c->errstr : "Redis link lost");
    redisFree(c);
    cs->conn[node] = NULL;
}

/* index_in: the index of old node i of cs->map in m, or -1. */
static int index_in(const struct cluster_sync *cs, const struct cluster_map *m, int i)
{
    if (i < 0 || i >= cs->map.nnodes)
        return -1;
    for (int k = 0; k < m->nnodes; k++)
        if (m->nodes[k].port == cs->map.nodes[i].port && strcmp(m->nodes[k].host, cs->map.nodes[i].host) == 0)
            return k;
    return -1;
}

/* read_myid: with TLS, CLUSTER MYID of r, pipelined before CLUSTER SLOTS
 * (no round trip of its own). id is "" when it cannot be known (refused by
 * an ACL without +cluster|myid): the check is then skipped. -1 when the
 * link failed. */
static int read_myid(redisContext *r, char *id, size_t idlen)
{
    void *rep = NULL;

    id[0] = '\0';
    if (redisGetReply(r, &rep) != REDIS_OK)
        return -1;
    const redisReply *m = rep;
    if (m->type == REDIS_REPLY_STRING && m->len < idlen) {
        memcpy(id, m->str, m->len);
        id[m->len] = '\0';
    }
    freeReplyObject(rep);
    return 0;
}

/* map_from reads CLUSTER SLOTS on r (at host:port) into a new map and moves
 * the open contexts (and the nodes remembered) to their new indexes.
 * Refused while a pipeline is unread (its entries hold node indexes). With
 * TLS the node reached must be announced at the port reached
 * (cluster_map_check_reached). 0, -1 with err, or -2 with err when the
 * cluster's own configuration makes it unusable (no other seed will do
 * better). */
static int map_from(struct cluster_sync *cs, redisContext *r, const char *host, int port, char *err, size_t errlen)
{
    struct cluster_map *m = malloc(sizeof *m);
    redisContext *moved[CLUSTER_MAX_NODES] = {0};
    redisReply *rep = NULL;
    char myid[CLUSTER_ID_MAX] = "";
    void *got = NULL;
    int rc = -1;

    if (cs->qhead != cs->qlen) {
        snprintf(err, errlen, "the slot map cannot change under an unread pipeline");
        goto out;
    }
    if (m != NULL && cs->tls != NULL)
        redisAppendCommand(r, "CLUSTER MYID");
    if (m != NULL && redisAppendCommand(r, "CLUSTER SLOTS") == REDIS_OK &&
        (cs->tls == NULL || read_myid(r, myid, sizeof myid) == 0) && redisGetReply(r, &got) == REDIS_OK)
        rep = got;
    if (m == NULL || rep == NULL || rep->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "CLUSTER SLOTS: %.200s",
                 m == NULL ? "out of memory" : rep ? rep->str : r->errstr);
        goto out;
    }
    cluster_map_init(m);
    if (cluster_map_from_slots(m, rep, host, err, errlen) != 0)
        goto out;
    if (cs->tls != NULL && cluster_map_check_reached(m, myid, host, port, 0, err, errlen) != 0) {
        /* Announced at another port: its plain one (tls-cluster no), or is
         * this seed reached through a relay? CLUSTER SHARDS tells (a round
         * trip only on this rare path). */
        redisReply *sh = redisCommand(r, "CLUSTER SHARDS");
        int tls_announced = cluster_shards_announces_tls(sh, myid);
        if (sh)
            freeReplyObject(sh);
        if (cluster_map_check_reached(m, myid, host, port, tls_announced, err, errlen) != 0) {
            rc = -2;
            goto out;
        }
    }
    for (int i = 0; i < cs->map.nnodes; i++) {
        if (cs->conn[i] == NULL)
            continue;
        int j = index_in(cs, m, i);
        if (j >= 0 && moved[j] == NULL)
            moved[j] = cs->conn[i];
        else
            redisFree(cs->conn[i]);   /* r too when it left the map: its caller returns at once */
        cs->conn[i] = NULL;
    }
    cs->last_node = index_in(cs, m, cs->last_node);
    cs->watch_node = index_in(cs, m, cs->watch_node);
    cs->txn_node = index_in(cs, m, cs->txn_node);
    memcpy(&cs->map, m, sizeof *m);
    memcpy(cs->conn, moved, sizeof moved);
    rc = 0;
out:
    if (rep)
        freeReplyObject(rep);
    free(m);
    return rc;
}

/* map_refresh re-reads the map from an open node, else from the seeds
 * (redis-host:redis-port, then redis-cluster-nodes). 0 or -1 with err. */
static int map_refresh(struct cluster_sync *cs, char *err, size_t errlen)
{
    struct cluster_node seeds[16];
    int nseeds;

    for (int i = 0; i < cs->map.nnodes; i++)
        if (cs->conn[i] && map_from(cs, cs->conn[i], cs->map.nodes[i].host, cs->map.nodes[i].port, err, errlen) == 0)
            return 0;
    snprintf(seeds[0].host, sizeof seeds[0].host, "%.255s", cs->cfg->redis_host);
    seeds[0].port = cs->cfg->redis_port;
    nseeds = cluster_seeds_parse(cs->cfg->redis_cluster_nodes, seeds + 1, 15, err, errlen);
    if (nseeds < 0)
        return -1;
    for (int i = 0; i <= nseeds; i++) {
        char why[256] = "";
        redisContext *r = node_open(cs, seeds[i].host, seeds[i].port, why, sizeof why);
        int rc = r ? map_from(cs, r, seeds[i].host, seeds[i].port, why, sizeof why) : -1;
        if (rc == -2) {
            snprintf(err, errlen, "redis cluster: %s", why);
            redisFree(r);
            return -1;
        }
        if (rc == 0) {
            int j = -1;
            for (int k = 0; k < cs->map.nnodes && j < 0; k++)
                if (cs->map.nodes[k].port == seeds[i].port && strcmp(cs->map.nodes[k].host, seeds[i].host) == 0)
                    j = k;
            if (j >= 0 && cs->conn[j] == NULL)
                cs->conn[j] = r;   /* keep the seed's link: it is one of the nodes */
            else
                redisFree(r);
            return 0;
        }
        snprintf(err, errlen, "Redis Cluster: %s (%.100s:%d: %.200s)",
                 r ? "no seed node gave a usable slot map" : "no seed node answered", seeds[i].host, seeds[i].port,
                 why);
        if (r)
            redisFree(r);
    }
    return -1;
}

struct cluster_sync *cluster_sync_open(const struct sw_config *c, struct redis_tls *tls, int timeout_s, char *err,
                                       size_t errlen)
{
    struct cluster_sync *cs;

    if (c->redis_db != 0 || c->redis_sentinel[0]) {
        snprintf(err, errlen, "redis-cluster yes cannot go with %s (a cluster has database 0 only and no Sentinel)",
                 c->redis_db != 0 ? "redis-db other than 0" : "redis-sentinel");
        redis_tls_free(tls);
        return NULL;
    }
    if ((cs = calloc(1, sizeof *cs)) == NULL) {
        snprintf(err, errlen, "out of memory");
        redis_tls_free(tls);
        return NULL;
    }
    cs->cfg = c;
    cs->tls = tls;
    cs->timeout_s = timeout_s;
    cs->last_node = cs->watch_node = cs->txn_node = cs->connect_failed = -1;
    cs->timeout.tv_sec = -1;
    cluster_map_init(&cs->map);
    if (map_refresh(cs, err, errlen) != 0) {
        cluster_sync_free(cs);
        return NULL;
    }
    return cs;
}

void cluster_sync_free(struct cluster_sync *cs)
{
    if (cs == NULL)
        return;
    for (int i = 0; i < CLUSTER_MAX_NODES; i++)
        if (cs->conn[i])
            redisFree(cs->conn[i]);
    for (size_t i = cs->qhead; i < cs->qlen; i++) {
        free(cs->q[i].cmd);
        if (cs->q[i].ready)
            freeReplyObject(cs->q[i].ready);
    }
    free(cs->q);
    redis_tls_free(cs->tls);
    free(cs);
}

int cluster_sync_primaries(const struct cluster_sync *cs, int *out, int max)
{
    int n = cluster_map_primaries(&cs->map, out, max);
    /* The default node first: the one serving slot 0 (or the lowest). */
    for (int s = 0; s < CLUSTER_SLOTS; s++) {
        int d = cs->map.slot_node[s];
        if (d == CLUSTER_NO_NODE)
            continue;
        for (int i = 1; i < n && i < max; i++)
            if (out[i] == d) {
                out[i] = out[0];
                out[0] = d;
            }
        break;
    }
    return n;
}

static int default_node(struct cluster_sync *cs)
{
    int p[CLUSTER_MAX_NODES];
    return cluster_sync_primaries(cs, p, CLUSTER_MAX_NODES) > 0 ? p[0] : CLUSTER_NO_NODE;
}

/* route: the node for cmd; *slot the key's slot (-1 keyless). */
static int route(struct cluster_sync *cs, const char *cmd, size_t len, int *slot)
{
    struct arg a[ARGS_MAX];
    int n = resp_args(cmd, len, a, ARGS_MAX), got = n < ARGS_MAX ? n : ARGS_MAX;
    int k = n > 0 ? key_index(a, n, got) : -1;
    char err[256];

    *slot = k >= 0 ? (int)cluster_keyslot(a[k].p, a[k].len) : -1;
    if (cs->txn_node >= 0)
        return cs->txn_node;
    if (*slot < 0)
        return n > 0 && (arg_is(&a[0], "UNWATCH") || arg_is(&a[0], "MULTI")) && cs->watch_node >= 0
                   ? cs->watch_node : default_node(cs);
    if (cs->map.slot_node[*slot] == CLUSTER_NO_NODE && map_refresh(cs, err, sizeof err) != 0)
        set_err(cs, err);
    return cs->map.slot_node[*slot];
}

/* ---- running commands ---------------------------------------------------- */

/* drain reads and keeps the replies of node's pipelined commands, so that
 * the node's next reply is the next command's. 0, or -1 (link lost). */
static int drain(struct cluster_sync *cs, int node)
{
    for (size_t i = cs->qhead; i < cs->qlen; i++) {
        struct pending *p = &cs->q[i];
        void *rep = NULL;
        if (p->node != node || p->ready)
            continue;
        if (cs->conn[node] == NULL || redisGetReply(cs->conn[node], &rep) != REDIS_OK) {
            node_lost(cs, node);
            return -1;
        }
        p->ready = rep;
    }
    return 0;
}

/* unsent: 1 when the last failure on node was a connect that failed (the
 * command never left), not a link lost with the command in flight. */
static int unsent(const struct cluster_sync *cs, int node)
{
    return cs->connect_failed == node;
}

/* exec_on sends cmd to node (after ASKING when asking) and reads its reply. */
static redisReply *exec_on(struct cluster_sync *cs, int node, int asking, const char *cmd, size_t len)
{
    redisContext *c;
    void *rep = NULL;

    if (drain(cs, node) != 0 || (c = node_conn(cs, node)) == NULL)
        return NULL;
    if (asking) {
        static const char ask[] = "*1\r\n$6\r\nASKING\r\n";
        redisAppendFormattedCommand(c, ask, sizeof ask - 1);
    }
    redisAppendFormattedCommand(c, cmd, len);
    if (asking) {
        if (redisGetReply(c, &rep) != REDIS_OK) {
            node_lost(cs, node);
            return NULL;
        }
        freeReplyObject(rep);
        rep = NULL;
    }
    if (redisGetReply(c, &rep) != REDIS_OK) {
        node_lost(cs, node);
        return NULL;
    }
    cs->last_node = node;
    return rep;
}

/* follow: rep (from node) redirected? Then run cmd where it says, up to
 * CLUSTER_SYNC_REDIRECTS times. Returns the final reply. */
static redisReply *follow(struct cluster_sync *cs, redisReply *rep, const char *cmd, size_t len)
{
    for (int hops = 0; rep && rep->type == REDIS_REPLY_ERROR && cs->txn_node < 0 && hops < CLUSTER_SYNC_REDIRECTS;
         hops++) {
        struct cluster_redirect rd;
        const char *from = cs->last_node >= 0 ? cs->map.nodes[cs->last_node].host : cs->cfg->redis_host;
        enum cluster_redirect_kind kind = cluster_redirect_parse(rep->str, rep->len, from, &rd);
        if (kind == CLUSTER_REDIRECT_NONE)
            break;
        int node = cluster_map_node(&cs->map, rd.host, rd.port);
        if (node == CLUSTER_NO_NODE)
            break;
        if (kind == CLUSTER_REDIRECT_MOVED)
            cs->map.slot_node[rd.slot] = (short)node;
        freeReplyObject(rep);
        rep = exec_on(cs, node, kind == CLUSTER_REDIRECT_ASK, cmd, len);
    }
    return rep;
}

/* ok_status: a reply made here ("+OK", or an empty EXEC). */
static redisReply *made_reply(int type, const char *s)
{
    redisReply *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->type = type;
    if (s) {
        r->str = strdup(s);
        r->len = strlen(s);
        if (r->str == NULL) {
            free(r);
            return NULL;
        }
    }
    return r;
}

/* transaction handles MULTI/EXEC/DISCARD/WATCH/UNWATCH bookkeeping before a
 * command is sent: 1 with *out when the command was answered here. */
static int transaction(struct cluster_sync *cs, const char *cmd, size_t len, int node, redisReply **out)
{
    struct arg a[2];
    int n = resp_args(cmd, len, a, 2);
    if (n < 1)
        return 0;
    if (arg_is(&a[0], "MULTI") && cs->txn_node < 0 && !cs->multi_wanted) {
        cs->multi_wanted = 1;    /* sent with the first command it queues */
        *out = made_reply(REDIS_REPLY_STATUS, "OK");
        return 1;
    }
    if ((arg_is(&a[0], "EXEC") || arg_is(&a[0], "DISCARD")) && cs->multi_wanted) {
        cs->multi_wanted = 0;
        cs->watch_node = -1;
        *out = arg_is(&a[0], "EXEC") ? made_reply(REDIS_REPLY_ARRAY, NULL) : made_reply(REDIS_REPLY_STATUS, "OK");
        return 1;
    }
    if (cs->multi_wanted) {
        redisReply *m;
        static const char multi[] = "*1\r\n$5\r\nMULTI\r\n";
        cs->multi_wanted = 0;
        if ((m = exec_on(cs, cs->watch_node >= 0 ? cs->watch_node : node, 0, multi, sizeof multi - 1)) == NULL)
            return 1;   /* *out NULL: the link failed */
        if (m->type == REDIS_REPLY_ERROR) {
            *out = m;
            return 1;
        }
        freeReplyObject(m);
        cs->txn_node = cs->last_node;
    }
    return 0;
}

/* after: the bookkeeping once cmd ran on node. */
static void after(struct cluster_sync *cs, const char *cmd, size_t len, int node)
{
    struct arg a[1];
    if (resp_args(cmd, len, a, 1) < 1)
        return;
    if (arg_is(&a[0], "WATCH"))
        cs->watch_node = node;
    else if (arg_is(&a[0], "EXEC") || arg_is(&a[0], "DISCARD") || arg_is(&a[0], "UNWATCH"))
        cs->txn_node = cs->watch_node = -1;
}

redisReply *cluster_sync_command(struct cluster_sync *cs, const char *cmd, size_t len)
{
    int slot;
    int node = route(cs, cmd, len, &slot);
    redisReply *rep = NULL;

    if (node == CLUSTER_NO_NODE) {
        if (!cs->errstr[0])
            set_err(cs, "no Redis Cluster node serves this slot");
        return NULL;
    }
    if (transaction(cs, cmd, len, node, &rep))
        return rep;
    if (cs->txn_node >= 0)
        node = cs->txn_node;
    rep = exec_on(cs, node, 0, cmd, len);
    if (rep == NULL && cs->conn[node] == NULL && cs->txn_node < 0 && cs->watch_node < 0 && unsent(cs, node)) {
        /* The node could not be reached, so the command was never sent: a
         * failover may have replaced it. Re-read the map and try once
         * where it now says; a success clears the error. */
        char err[256];
        if (map_refresh(cs, err, sizeof err) == 0 && (node = route(cs, cmd, len, &slot)) != CLUSTER_NO_NODE &&
            (rep = exec_on(cs, node, 0, cmd, len)) != NULL) {
            cs->err = 0;
            cs->errstr[0] = '\0';
        }
    }
    rep = follow(cs, rep, cmd, len);
    if (rep)
        after(cs, cmd, len, cs->last_node);
    return rep;
}

redisReply *cluster_sync_command_on(struct cluster_sync *cs, int node, const char *cmd, size_t len)
{
    return exec_on(cs, node, 0, cmd, len);
}

int cluster_sync_append(struct cluster_sync *cs, const char *cmd, size_t len)
{
    int slot;
    int node = route(cs, cmd, len, &slot);
    redisContext *c;

    if (node == CLUSTER_NO_NODE || (c = node_conn(cs, node)) == NULL)
        return REDIS_ERR;
    if (cs->qlen == cs->qcap) {
        if (cs->qhead > 0) {
            memmove(cs->q, cs->q + cs->qhead, (cs->qlen - cs->qhead) * sizeof *cs->q);
            cs->qlen -= cs->qhead;
            cs->qhead = 0;
        }
        if (cs->qlen == cs->qcap) {
            size_t cap = cs->qcap ? cs->qcap * 2 : 64;
            struct pending *q = realloc(cs->q, cap * sizeof *q);
            if (q == NULL)
                return REDIS_ERR;
            cs->q = q;
            cs->qcap = cap;
        }
    }
    struct pending *p = &cs->q[cs->qlen];
    if ((p->cmd = malloc(len)) == NULL)
        return REDIS_ERR;
    memcpy(p->cmd, cmd, len);
    p->len = len;
    p->node = node;
    p->ready = NULL;
    if (redisAppendFormattedCommand(c, cmd, len) != REDIS_OK) {
        free(p->cmd);
        node_lost(cs, node);
        return REDIS_ERR;
    }
    cs->qlen++;
    cs->last_node = node;
    return REDIS_OK;
}

int cluster_sync_get_reply(struct cluster_sync *cs, redisReply **reply)
{
    void *rep = NULL;

    *reply = NULL;
    if (cs->qhead == cs->qlen) {
        /* Nothing queued: a subscription's next message. */
        int node = cs->last_node;
        if (node < 0 || cs->conn[node] == NULL || redisGetReply(cs->conn[node], &rep) != REDIS_OK) {
            if (node >= 0)
                node_lost(cs, node);
            else
                set_err(cs, "nothing to read");
            return REDIS_ERR;
        }
        *reply = rep;
        return REDIS_OK;
    }
    struct pending p = cs->q[cs->qhead++];
    if (cs->qhead == cs->qlen)
        cs->qhead = cs->qlen = 0;
    rep = p.ready;
    if (rep == NULL && (cs->conn[p.node] == NULL || redisGetReply(cs->conn[p.node], &rep) != REDIS_OK)) {
        node_lost(cs, p.node);
        free(p.cmd);
        return REDIS_ERR;
    }
    cs->last_node = p.node;
    *reply = follow(cs, rep, p.cmd, p.len);
    free(p.cmd);
    return *reply ? REDIS_OK : REDIS_ERR;
}

void cluster_sync_set_timeout(struct cluster_sync *cs, struct timeval tv)
{
    cs->timeout = tv;
    for (int i = 0; i < cs->map.nnodes; i++)
        if (cs->conn[i])
            redisSetTimeout(cs->conn[i], tv);
}

int cluster_sync_err(const struct cluster_sync *cs)
{
    return cs->err;
}

const char *cluster_sync_errstr(const struct cluster_sync *cs)
{
    return cs->errstr;
}

int cluster_sync_refresh(struct cluster_sync *cs, char *err, size_t errlen)
{
    return map_refresh(cs, err, errlen);
}

const struct cluster_map *cluster_sync_map(const struct cluster_sync *cs)
{
    return &cs->map;
}
