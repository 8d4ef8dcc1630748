/* redis_sync.c: blocking Redis (see include/redis/redis_sync.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stdarg.h>
#include "redis/redis_sync.h"
#include "redis/redis_cluster_sync.h"
#include "redis/redis_conn.h"
#include "redis/redis_sentinel.h"

/* redis_sync: one server (single, as before Cluster) or a cluster router. */
struct redis_sync {
    redisContext *single;        /* single-node mode (plain, TLS or Sentinel) */
    struct cluster_sync *cluster;   /* cluster mode */
};

redisContext *redis_sync_connect_endpoint(const struct sw_config *c, const struct redis_endpoint *ep, int timeout_s,
                                 char *err, size_t errlen)
{
    redisContext *r;
    redisReply *rep = NULL;

    r = redis_conn_sync(ep, timeout_s, err, errlen);
    if (r == NULL)
        return NULL;
    if (c->redis_password[0]) {
        const char *with_user[] = {"AUTH", c->redis_user, c->redis_password};
        const char *without[] = {"AUTH", c->redis_password};
        rep = c->redis_user[0] ? redisCommandArgv(r, 3, with_user, NULL)
                               : redisCommandArgv(r, 2, without, NULL);
        if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "Redis AUTH failed: %.200s", rep ? rep->str : r->errstr);
            goto fail;
        }
        freeReplyObject(rep);
        rep = NULL;
    }
    if (c->redis_db) {
        rep = redisCommand(r, "SELECT %d", c->redis_db);
        if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "Redis SELECT %d failed: %.200s", c->redis_db, rep ? rep->str : r->errstr);
            goto fail;
        }
        freeReplyObject(rep);
    }
    return r;
fail:
    if (rep)
        freeReplyObject(rep);
    if (r)
        redisFree(r);
    return NULL;
}

/* is_master asks ROLE; 1 when the server is a primary, else 0 with err. */
static int is_master(redisContext *r, char *err, size_t errlen)
{
    redisReply *rep = redisCommand(r, "ROLE");
    int ok = redis_sentinel_role_master(rep);

    if (!ok)
        snprintf(err, errlen, "the server the Sentinels named is not a primary (ROLE: %.100s)",
                 rep == NULL ? r->errstr : rep->type == REDIS_REPLY_ERROR ? rep->str
                 : rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 && rep->element[0]->type == REDIS_REPLY_STRING
                     ? rep->element[0]->str : "unexpected reply");
    if (rep)
        freeReplyObject(rep);
    return ok;
}

/* connect_sentinel: discover, connect, verify ROLE; a stale answer (a
 * replica, a dead primary during a failover) is retried after
 * SYNC_SENTINEL_PAUSE_US until timeout_s has passed. */
#define SYNC_SENTINEL_PAUSE_US 250000
static redisContext *connect_sentinel(const struct sw_config *c, struct redis_sentinel *s, struct redis_tls *tls,
                                      int timeout_s, char *err, size_t errlen)
{
    struct timespec t0, now;
    char host[256];
    struct redis_endpoint ep = {host, 0, tls};

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        redisContext *r = NULL;

        if (redis_sentinel_discover(s, tls, host, sizeof host, &ep.port, err, errlen) == 0 &&
            (r = redis_sync_connect_endpoint(c, &ep, timeout_s, err, errlen)) != NULL && is_master(r, err, errlen))
            return r;
        if (r)
            redisFree(r);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= timeout_s)
            return NULL;
        usleep(SYNC_SENTINEL_PAUSE_US);
    }
}

/* connect_single: the one server of single-node mode, as before Cluster. */
static redisContext *connect_single(const struct sw_config *c, int timeout_s, char *err, size_t errlen)
{
    struct redis_endpoint ep = {c->redis_host, c->redis_port, NULL};
    struct redis_tls *tls = NULL;
    struct redis_sentinel *s = redis_sentinel_new(c, err, errlen);
    redisContext *r = NULL;

    if (s == NULL && err[0])
        return NULL;
    /* The TLS settings are read per connection: a CLI makes one, serve a
     * few (pooled); the connection keeps what it needs of them. */
    if (c->redis_tls && (tls = redis_tls_new(c, err, errlen)) == NULL)
        goto out;
    ep.tls = tls;
    r = s ? connect_sentinel(c, s, tls, timeout_s, err, errlen)
          : redis_sync_connect_endpoint(c, &ep, timeout_s, err, errlen);
out:
    redis_tls_free(tls);
    redis_sentinel_free(s);
    return r;
}

struct redis_sync *redis_sync_connect(const struct sw_config *c, int timeout_s, char *err, size_t errlen)
{
    struct redis_sync *r = calloc(1, sizeof *r);
    struct redis_tls *tls = NULL;

    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!c->redis_cluster) {
        if ((r->single = connect_single(c, timeout_s, err, errlen)) == NULL)
            goto fail;
        return r;
    }
    /* The cluster opens its nodes as it needs them: it keeps the TLS
     * settings for its lifetime. */
    if (c->redis_tls && (tls = redis_tls_new(c, err, errlen)) == NULL)
        goto fail;
    if ((r->cluster = cluster_sync_open(c, tls, timeout_s, err, errlen)) == NULL)
        goto fail;
    return r;
fail:
    free(r);
    return NULL;
}

void redis_sync_free(struct redis_sync *r)
{
    if (r == NULL)
        return;
    if (r->single)
        redisFree(r->single);
    cluster_sync_free(r->cluster);
    free(r);
}

void redis_sync_set_timeout(struct redis_sync *r, struct timeval tv)
{
    if (r->single)
        redisSetTimeout(r->single, tv);
    else
        cluster_sync_set_timeout(r->cluster, tv);
}

int redis_sync_err(const struct redis_sync *r)
{
    return r->single ? r->single->err : cluster_sync_err(r->cluster);
}

const char *redis_sync_errstr(const struct redis_sync *r)
{
    return r->single ? r->single->errstr : cluster_sync_errstr(r->cluster);
}

redisContext *redis_sync_single(struct redis_sync *r)
{
    return r->single;
}

int redis_sync_cluster_refresh(struct redis_sync *r, char *err, size_t errlen)
{
    return r->cluster ? cluster_sync_refresh(r->cluster, err, errlen) : 0;
}

const struct cluster_map *redis_sync_cluster_map(const struct redis_sync *r)
{
    return r->cluster ? cluster_sync_map(r->cluster) : NULL;
}

/* formatted: run (append) or queue a formatted command in cluster mode. */
static redisReply *cluster_run(struct redis_sync *r, char *cmd, int len)
{
    redisReply *rep = len > 0 ? cluster_sync_command(r->cluster, cmd, (size_t)len) : NULL;
    free(cmd);
    return rep;
}

static int cluster_queue(struct redis_sync *r, char *cmd, int len)
{
    int rc = len > 0 ? cluster_sync_append(r->cluster, cmd, (size_t)len) : REDIS_ERR;
    free(cmd);
    return rc;
}

/* vcall: redis_sync_command (append 0: the reply) or redis_sync_append
 * (append 1: *rc) on the arguments of ap. */
static redisReply *vcall(struct redis_sync *r, int append, int *rc, const char *fmt, va_list ap)
{
    char *cmd = NULL;
    int len;

    if (r->single && append) {
        *rc = redisvAppendCommand(r->single, fmt, ap);
        return NULL;
    }
    if (r->single)
        return redisvCommand(r->single, fmt, ap);
    len = redisvFormatCommand(&cmd, fmt, ap);
    if (!append)
        return cluster_run(r, cmd, len);
    *rc = cluster_queue(r, cmd, len);
    return NULL;
}

redisReply *redis_sync_command(struct redis_sync *r, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    redisReply *rep = vcall(r, 0, &rc, fmt, ap);
    va_end(ap);
    return rep;
}

/* argv_call: vcall's twin for an argument vector. */
static redisReply *argv_call(struct redis_sync *r, int append, int *rc, int argc, const char **argv,
                             const size_t *lens)
{
    char *cmd = NULL;
    int len;

    if (r->single && append) {
        *rc = redisAppendCommandArgv(r->single, argc, argv, lens);
        return NULL;
    }
    if (r->single)
        return redisCommandArgv(r->single, argc, argv, lens);
    len = redisFormatCommandArgv(&cmd, argc, argv, lens);
    if (!append)
        return cluster_run(r, cmd, len);
    *rc = cluster_queue(r, cmd, len);
    return NULL;
}

redisReply *redis_sync_command_argv(struct redis_sync *r, int argc, const char **argv, const size_t *lens)
{
    int rc;
    return argv_call(r, 0, &rc, argc, argv, lens);
}

int redis_sync_append(struct redis_sync *r, const char *fmt, ...)
{
    va_list ap;
    int rc = REDIS_ERR;

    va_start(ap, fmt);
    vcall(r, 1, &rc, fmt, ap);
    va_end(ap);
    return rc;
}

int redis_sync_append_argv(struct redis_sync *r, int argc, const char **argv, const size_t *lens)
{
    int rc = REDIS_ERR;
    argv_call(r, 1, &rc, argc, argv, lens);
    return rc;
}

int redis_sync_get_reply(struct redis_sync *r, void **reply)
{
    redisReply *rep = NULL;
    int rc;

    if (r->single)
        return redisGetReply(r->single, reply);
    rc = cluster_sync_get_reply(r->cluster, &rep);
    *reply = rep;
    return rc;
}

int redis_sync_nodes(struct redis_sync *r, int *out, int max)
{
    if (r->single) {
        out[0] = 0;
        return 1;
    }
    return cluster_sync_primaries(r->cluster, out, max);
}

redisReply *redis_sync_command_node(struct redis_sync *r, int node, int argc, const char **argv)
{
    char *cmd = NULL;
    int len;
    redisReply *rep;

    if (r->single)
        return redisCommandArgv(r->single, argc, argv, NULL);
    if ((len = redisFormatCommandArgv(&cmd, argc, argv, NULL)) <= 0)
        return NULL;
    rep = cluster_sync_command_on(r->cluster, node, cmd, (size_t)len);
    free(cmd);
    return rep;
}

int redis_sync_used_memory(struct redis_sync *r, double *used)
{
    const char *info[] = {"INFO", "memory"}, *p;
    int nodes[CLUSTER_MAX_NODES], nn = redis_sync_nodes(r, nodes, CLUSTER_MAX_NODES), seen = 0;
    *used = 0;
    for (int i = 0; i < nn && i < CLUSTER_MAX_NODES; i++) {
        redisReply *rep = redis_sync_command_node(r, nodes[i], 2, info);
        if (rep && rep->type == REDIS_REPLY_STRING && (p = strstr(rep->str, "used_memory:")) != NULL) {
            *used += strtod(p + strlen("used_memory:"), NULL);
            seen++;
        }
        if (rep)
            freeReplyObject(rep);
    }
    return seen;
}

/* checked turns a reply into redis_sync_cmd's answer: an error reply and a
 * lost link both become NULL with the reason. */
static redisReply *checked(struct redis_sync *r, redisReply *rep, char *err, size_t errlen)
{
    if (rep == NULL) {
        snprintf(err, errlen, "%s", redis_sync_errstr(r));
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s", rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

redisReply *redis_sync_cmd(struct redis_sync *r, int argc, const char **argv, char *err, size_t errlen)
{
    return checked(r, redis_sync_command_argv(r, argc, argv, NULL), err, errlen);
}

/* eval_argv lays out "EVALSHA <sha> <nkeys> argv..." in out (nargs + 3
 * entries, nk the storage of the count). 0, or -1 when nargs is too many. */
static int eval_argv(const char **out, char *nk, size_t nklen, enum script_id id, int nkeys, int nargs,
                     const char **argv, char *err, size_t errlen)
{
    if (nargs < 0 || nargs > REDIS_SYNC_EVAL_MAX) {
        snprintf(err, errlen, "script %s: %d arguments, at most %d", script_name(id), nargs,
                 REDIS_SYNC_EVAL_MAX);
        return -1;
    }
    snprintf(nk, nklen, "%d", nkeys);
    out[0] = "EVALSHA";
    out[1] = script_sha1(id);
    out[2] = nk;
    memcpy(out + 3, argv, (size_t)nargs * sizeof *argv);
    return 0;
}

redisReply *redis_sync_eval(struct redis_sync *r, enum script_id id, int nkeys, int nargs, const char **argv,
                            char *err, size_t errlen)
{
    const char *av[REDIS_SYNC_EVAL_MAX + 3];
    char nk[12];

    if (eval_argv(av, nk, sizeof nk, id, nkeys, nargs, argv, err, errlen) != 0)
        return NULL;
    redisReply *rep = redis_sync_command_argv(r, nargs + 3, av, NULL);
    if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(rep);
        av[0] = "EVAL";
        av[1] = script_source(id);
        rep = redis_sync_command_argv(r, nargs + 3, av, NULL);
    }
    return checked(r, rep, err, errlen);
}

int redis_sync_eval_append(struct redis_sync *r, enum script_id id, int nkeys, int nargs, const char **argv,
                           char *err, size_t errlen)
{
    const char *av[REDIS_SYNC_EVAL_MAX + 3];
    char nk[12];

    if (eval_argv(av, nk, sizeof nk, id, nkeys, nargs, argv, err, errlen) != 0)
        return -1;
    if (redis_sync_append_argv(r, nargs + 3, av, NULL) != REDIS_OK) {
        snprintf(err, errlen, "%s", redis_sync_errstr(r)[0] ? redis_sync_errstr(r) : "out of memory");
        return -1;
    }
    return 0;
}

/* load_on: redis_sync_load_script on one node. */
static int load_on(struct redis_sync *r, int node, enum script_id id, char *err, size_t errlen)
{
    const char *ex[] = {"SCRIPT", "EXISTS", script_sha1(id)};
    redisReply *rep = redis_sync_command_node(r, node, 3, ex);
    int ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 && rep->element[0]->integer == 1;
    if (rep)
        freeReplyObject(rep);
    if (ok)
        return 0;
    const char *ld[] = {"SCRIPT", "LOAD", script_source(id)};
    rep = redis_sync_command_node(r, node, 3, ld);
    ok = rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, script_sha1(id)) == 0;
    if (rep)
        freeReplyObject(rep);
    if (!ok) {
        snprintf(err, errlen, "cannot load script %s", script_name(id));
        return -1;
    }
    return 0;
}

/* In a cluster every primary gets the script: a script runs on the node of
 * its KEYS[1], any of them. */
int redis_sync_load_script(struct redis_sync *r, enum script_id id, char *err, size_t errlen)
{
    int nodes[CLUSTER_MAX_NODES];
    int n = redis_sync_nodes(r, nodes, CLUSTER_MAX_NODES);

    for (int i = 0; i < n && i < CLUSTER_MAX_NODES; i++)
        if (load_on(r, nodes[i], id, err, errlen) != 0)
            return -1;
    return 0;
}

int redis_sync_load_scripts(struct redis_sync *r, char *err, size_t errlen)
{
    for (int i = 0; i < SCRIPT_COUNT; i++)
        if (redis_sync_load_script(r, (enum script_id)i, err, errlen) != 0)
            return -1;
    return 0;
}

int redis_sync_time_ms(struct redis_sync *r, long long *ms, char *err, size_t errlen)
{
    const char *av[] = {"TIME"};
    redisReply *rep = redis_sync_cmd(r, 1, av, err, errlen);
    int ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
             rep->element[0]->type == REDIS_REPLY_STRING && rep->element[1]->type == REDIS_REPLY_STRING;

    *ms = 0;
    if (ok)
        *ms = strtoll(rep->element[0]->str, NULL, 10) * 1000 + strtoll(rep->element[1]->str, NULL, 10) / 1000;
    else if (rep)
        snprintf(err, errlen, "TIME: unexpected reply");
    if (rep)
        freeReplyObject(rep);
    return ok ? 0 : -1;
}

long long redis_sync_now_ms(struct redis_sync *r)
{
    char err[8];
    long long ms;

    return redis_sync_time_ms(r, &ms, err, sizeof err) == 0 ? ms : 0;
}
