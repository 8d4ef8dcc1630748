/* redis_sentinel.c: the primary's address from Redis Sentinel (see
 * include/redis/redis_sentinel.h). */
#include "redis/redis_sentinel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ask_one asks one Sentinel. 0 with host/port, or -1 with why. */
static int ask_one(const struct redis_sentinel *s, const struct redis_sentinel_node *nd,
                   const struct redis_tls *tls, char *host, size_t hostlen, int *port, char *why, size_t whylen)
{
    struct redis_endpoint ep = {nd->host, nd->port, tls};
    const char *auth[] = {"AUTH", s->password};
    const char *ask[] = {"SENTINEL", "get-master-addr-by-name", s->master};
    redisContext *r = redis_conn_sync(&ep, REDIS_SENTINEL_TIMEOUT_S, why, whylen);
    redisReply *rep = NULL;
    int rc = -1;

    if (r == NULL)
        return -1;
    if (s->password[0]) {
        rep = redisCommandArgv(r, 2, auth, NULL);
        if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
            errbuf_set(why, whylen, "AUTH: %.100s", rep ? rep->str : r->errstr);
            goto out;
        }
        freeReplyObject(rep);
    }
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
out:
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

int redis_sentinel_role_master(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
           r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "master") == 0;
}
