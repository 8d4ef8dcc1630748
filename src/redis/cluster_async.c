/* cluster_async: the worker's Redis Cluster router (include/redis/cluster_async.h).
 *
 * Each node is an ordinary redis_async link (its own reconnect, handshake
 * and watchdog); the router only decides where a command goes and what to
 * do with a redirection. Every routed command keeps a copy of its
 * arguments (ca_cmd) until its final answer, so a MOVED or ASK can resend
 * it after the caller's buffers are gone.
 *
 * Nothing is freed from inside a hiredis callback: links to nodes that no
 * longer serve a slot are dropped by the tick, and only once no command
 * routed through them is pending (their callbacks would otherwise never
 * run and their callers would wait forever). */
#include "redis/cluster_async.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errbuf.h"
#include "base/log.h"
#include "redis/cluster_map.h"

/* ca_node: a node the router has a link to (or had, or may need). */
struct ca_node {
    char host[CLUSTER_HOST_MAX];
    int port;
    struct redis_async *link;   /* NULL: none */
    int inflight;               /* routed commands and CLUSTER SLOTS awaiting a reply on link */
    int primary;                /* serves a slot in the current map */
    int was_up;                 /* link came up once: later ups are reconnects */
    /* With TLS, the node's CLUSTER MYID and CLUSTER SHARDS, asked once per
     * link (pipelined before its first CLUSTER SLOTS) so that a map
     * announcing it at its plain port (tls-cluster no) is refused clearly. */
    enum { CA_MYID_UNASKED, CA_MYID_ASKED, CA_MYID_KNOWN } myid_state;
    char myid[CLUSTER_ID_MAX];  /* "" when refused (an ACL): no check */
    int announces_tls;          /* cluster_shards_announces_tls: 1, 0, -1 unknown */
};

/* ca_cmd: one routed command until its final answer. */
struct ca_cmd {
    struct cluster_async *ca;
    redis_async_cb *cb;
    void *ud;
    int eval;                  /* 1: argv are the script's KEYS and ARGV */
    enum script_id id;
    int nkeys;
    unsigned slot;             /* where it goes; meaningless when keyless */
    int keyless;               /* no key: any primary will do */
    int redirects;
    int node;                  /* index in nodes[] of the link it was sent on */
    int argc;
    char **argv;               /* into buf */
    size_t *lens;
    char *buf;
    struct ca_cmd *prev, *next;
};

struct cluster_async {
    struct ev_loop *loop;
    const struct sw_config *cfg;
    const struct redis_tls *tls;
    struct redis_async *owner;
    redis_async_state_cb *on_state;
    void *ud;
    struct cluster_map map;        /* the last map, corrected by MOVED */
    struct cluster_map scratch;    /* a CLUSTER SLOTS answer being read */
    int have_map;
    ev_tstamp map_at;              /* ev_now when the first map was read, s */
    int ever_up;
    short slot_link[CLUSTER_SLOTS]; /* slot -> index in nodes[], or -1 */
    struct ca_node nodes[CLUSTER_MAX_NODES];
    int nnodes;
    int up;                        /* what on_state last said */
    int want_refresh;              /* a refresh was asked (MOVED, lost link, failed command) */
    int refresh_inflight;
    int slots_failing;             /* a CLUSTER SLOTS failure was logged */
    ev_tstamp refresh_sent;        /* ev_now of the last CLUSTER SLOTS sent, s */
    int rr;                        /* where the next refresh starts looking for a link */
    int freeing;
    long reconnects;
    struct cluster_async_stats stats;
    ev_timer tick;                 /* refreshes, seeds, dropping links */
    struct ca_cmd *cmds;           /* every routed command in flight */
};

static void ca_node_state(struct redis_async *l, int up, void *ud);
static void ca_reply(struct redis_async *l, redisReply *reply, void *ud);

int cluster_async_check(const struct sw_config *c, char *err, size_t errlen)
{
    struct cluster_node seeds[8];

    if (c->redis_db != 0) {
        errbuf_set(err, errlen, "redis-cluster yes needs redis-db 0 (a cluster has only database 0), not %d",
                   c->redis_db);
        return -1;
    }
    if (c->redis_sentinel[0]) {
        errbuf_set(err, errlen, "redis-cluster yes and redis-sentinel exclude each other: a cluster fails over "
                                "by itself; set only one");
        return -1;
    }
    char why[256];
    if (cluster_seeds_parse(c->redis_cluster_nodes, seeds, 8, why, sizeof why) < 0) {
        errbuf_set(err, errlen, "redis-cluster-nodes: %s", why);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- nodes --- */

static int ca_find(const struct cluster_async *ca, const char *host, int port)
{
    for (int i = 0; i < ca->nnodes; i++)
        if (ca->nodes[i].port == port && strcmp(ca->nodes[i].host, host) == 0)
            return i;
    return -1;
}

static int ca_link_up(const struct cluster_async *ca, int n)
{
    return n >= 0 && n < ca->nnodes && ca->nodes[n].link && redis_async_up(ca->nodes[n].link);
}

/* ca_node: the index of host:port, with a link started when it has none;
 * -1 when the table is full or memory runs out. */
static int ca_node(struct cluster_async *ca, const char *host, int port)
{
    int n = ca_find(ca, host, port);

    if (n < 0) {
        if (ca->nnodes >= CLUSTER_MAX_NODES || strlen(host) >= CLUSTER_HOST_MAX)
            return -1;
        n = ca->nnodes++;
        memset(&ca->nodes[n], 0, sizeof ca->nodes[n]);
        snprintf(ca->nodes[n].host, sizeof ca->nodes[n].host, "%s", host);
        ca->nodes[n].port = port;
    }
    if (ca->nodes[n].link == NULL) {
        /* db 0 always, never Sentinel (cluster_async_check) */
        struct redis_async_opts o = {host, port, ca->cfg->redis_user, ca->cfg->redis_password, 0, 0, ca->tls, NULL, 1};
        ca->nodes[n].link = redis_async_new(ca->loop, &o, ca_node_state, ca);
        if (ca->nodes[n].link == NULL)
            return -1;
    }
    return n;
}

static int ca_node_of_link(const struct cluster_async *ca, const struct redis_async *l)
{
    for (int i = 0; i < ca->nnodes; i++)
        if (ca->nodes[i].link == l)
            return i;
    return -1;
}

static int ca_primaries_ok(const struct cluster_async *ca);

/* ca_update_up: up while there is a map and one primary link works. The
 * first time, wait (up to CLUSTER_ASYNC_FIRST_UP_S) for every primary: the
 * owner reads its global keys as soon as it is told "up". */
static void ca_update_up(struct cluster_async *ca)
{
    int up = 0;

    for (int i = 0; ca->have_map && i < ca->nnodes && !up; i++)
        up = ca->nodes[i].primary && ca_link_up(ca, i);
    if (up && !ca->ever_up && !ca_primaries_ok(ca) && ev_now(ca->loop) - ca->map_at < CLUSTER_ASYNC_FIRST_UP_S)
        up = 0;
    if (up == ca->up || ca->freeing)
        return;
    ca->ever_up |= up;
    ca->up = up;
    if (!up)
        log_warn("redis cluster: no primary reachable; retrying");
    if (ca->on_state)
        ca->on_state(ca->owner, up, ca->ud);
}

static void ca_node_state(struct redis_async *l, int up, void *ud)
{
    struct cluster_async *ca = ud;
    int n = ca_node_of_link(ca, l);

    if (n < 0)
        return;
    if (up) {
        if (ca->nodes[n].was_up)
            ca->reconnects++;
        ca->nodes[n].was_up = 1;
    } else {
        ca->want_refresh = 1;   /* a failover may be under way */
        ca->nodes[n].myid_state = CA_MYID_UNASKED;   /* another node may answer there next */
    }
    ca_update_up(ca);
}

/* -------------------------------------------------------------- the map --- */

/* ca_apply: the map changed: one link per primary, the slot table rebuilt. */
static void ca_apply(struct cluster_async *ca)
{
    int prim[CLUSTER_MAX_NODES];
    int np = cluster_map_primaries(&ca->map, prim, CLUSTER_MAX_NODES);
    short map_to_node[CLUSTER_MAX_NODES];

    char was[CLUSTER_MAX_NODES] = {0};   /* primaries before this map; nodes added now: 0 */

    for (int i = 0; i < ca->nnodes; i++) {
        was[i] = (char)ca->nodes[i].primary;
        ca->nodes[i].primary = 0;
    }
    for (int i = 0; i < CLUSTER_MAX_NODES; i++)
        map_to_node[i] = -1;
    for (int i = 0; i < np && i < CLUSTER_MAX_NODES; i++) {
        const struct cluster_node *mn = &ca->map.nodes[prim[i]];
        int n = ca_node(ca, mn->host, mn->port);
        if (n >= 0) {
            ca->nodes[n].primary = 1;
            map_to_node[prim[i]] = (short)n;
        }
    }
    for (int s = 0; s < CLUSTER_SLOTS; s++)
        ca->slot_link[s] = ca->map.slot_node[s] == CLUSTER_NO_NODE ? -1 : map_to_node[ca->map.slot_node[s]];
    /* A primary replaced while commands wait on it (it hangs, or the
     * answers would only be MOVED): fail them now, so their callers retry
     * on the new owner instead of waiting out the link's watchdog. */
    for (int i = 0; i < ca->nnodes && i < CLUSTER_MAX_NODES; i++)
        if (was[i] && !ca->nodes[i].primary && ca->nodes[i].link && ca->nodes[i].inflight > 0)
            redis_async_reset(ca->nodes[i].link, "no longer a primary in the cluster map");
    ca_update_up(ca);
}

static void ca_slots_reply(struct redis_async *l, redisReply *reply, void *ud)
{
    struct cluster_async *ca = ud;
    int n = ca_node_of_link(ca, l);
    char err[384], line[1024];

    if (n < 0)
        return;   /* cannot be: a link is freed only with nothing pending */
    ca->nodes[n].inflight--;
    ca->refresh_inflight = 0;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        /* once until a map is read again (NOPERM would repeat every tick) */
        if (reply && !ca->slots_failing)
            log_warn("redis cluster: CLUSTER SLOTS from %s:%d failed: %.100s; retrying", ca->nodes[n].host,
                     ca->nodes[n].port, reply->str);
        ca->slots_failing |= reply != NULL;
        return;   /* want_refresh stays: the tick asks another node */
    }
    if (cluster_map_from_slots(&ca->scratch, reply, ca->nodes[n].host, err, sizeof err) != 0) {
        if (!ca->slots_failing)
            log_warn("redis cluster: %s:%d: %s; the old map stays", ca->nodes[n].host, ca->nodes[n].port, err);
        ca->slots_failing = 1;
        return;
    }
    /* MYID's reply came first on this link (pipelined, in order) */
    if (ca->tls && ca->nodes[n].myid_state == CA_MYID_KNOWN &&
        cluster_map_check_reached(&ca->scratch, ca->nodes[n].myid, ca->nodes[n].host, ca->nodes[n].port,
                                  ca->nodes[n].announces_tls, err, sizeof err) != 0) {
        if (!ca->slots_failing)
            log_error("redis cluster: %s", err);
        ca->slots_failing = 1;
        return;
    }
    if (ca->slots_failing)
        log_info("redis cluster: the slot map is read again");
    ca->slots_failing = 0;
    ca->stats.refreshes++;
    ca->want_refresh = 0;
    int changed = !ca->have_map || !cluster_map_same(&ca->map, &ca->scratch);
    ca->map = ca->scratch;
    if (!ca->have_map)
        ca->map_at = ev_now(ca->loop);
    ca->have_map = 1;
    if (changed) {
        /* once per change, never per command */
        cluster_map_describe(&ca->map, line, sizeof line);
        log_info("redis cluster map (from %s:%d): %s", ca->nodes[n].host, ca->nodes[n].port, line);
    }
    ca_apply(ca);
}

/* ca_primaries_ok: every slot served and every primary's link up. */
static int ca_primaries_ok(const struct cluster_async *ca)
{
    if (!ca->have_map || !cluster_map_covered(&ca->map))
        return 0;
    for (int i = 0; i < ca->nnodes; i++)
        if (ca->nodes[i].primary && !ca_link_up(ca, i))
            return 0;
    return 1;
}

/* ca_seed: links to the seeds, for when no link is up: redis-host first,
 * then redis-cluster-nodes, then every node of the last map. */
static void ca_seed(struct cluster_async *ca)
{
    struct cluster_node seeds[16];
    char err[128];
    int ns;

    ca_node(ca, ca->cfg->redis_host, ca->cfg->redis_port);
    ns = cluster_seeds_parse(ca->cfg->redis_cluster_nodes, seeds, 16, err, sizeof err);
    for (int i = 0; i < ns; i++)
        ca_node(ca, seeds[i].host, seeds[i].port);
    for (int i = 0; ca->have_map && i < ca->map.nnodes; i++)
        ca_node(ca, ca->map.nodes[i].host, ca->map.nodes[i].port);
}

/* ca_answered: the node whose link l answered one of the router's own
 * commands, no longer pending; -1 if none (cannot be: a link is freed only
 * with nothing pending). */
static int ca_answered(struct cluster_async *ca, const struct redis_async *l)
{
    int n = ca_node_of_link(ca, l);

    if (n >= 0)
        ca->nodes[n].inflight--;
    return n;
}

static void ca_myid_reply(struct redis_async *l, redisReply *reply, void *ud)
{
    struct cluster_async *ca = ud;
    int n = ca_answered(ca, l);

    if (n < 0)
        return;
    if (reply == NULL) {
        ca->nodes[n].myid_state = CA_MYID_UNASKED;
        return;
    }
    ca->nodes[n].myid_state = CA_MYID_KNOWN;
    ca->nodes[n].myid[0] = '\0';
    if (reply->type == REDIS_REPLY_STRING && reply->len < sizeof ca->nodes[n].myid) {
        memcpy(ca->nodes[n].myid, reply->str, reply->len);
        ca->nodes[n].myid[reply->len] = '\0';
    }
}

/* ca_shards_reply: CLUSTER SHARDS, after MYID on the same link. */
static void ca_shards_reply(struct redis_async *l, redisReply *reply, void *ud)
{
    struct cluster_async *ca = ud;
    int n = ca_answered(ca, l);

    if (n >= 0)
        ca->nodes[n].announces_tls = cluster_shards_announces_tls(reply, ca->nodes[n].myid);
}

/* ca_ask_myid: with TLS, CLUSTER MYID and CLUSTER SHARDS once per link,
 * just before its CLUSTER SLOTS (pipelined: no round trip of their own). */
static void ca_ask_myid(struct cluster_async *ca, int n)
{
    const char *av[2] = {"CLUSTER", "MYID"}, *sv[2] = {"CLUSTER", "SHARDS"};

    if (ca->tls == NULL || ca->nodes[n].myid_state != CA_MYID_UNASKED)
        return;
    ca->nodes[n].announces_tls = -1;
    if (redis_async_command(ca->nodes[n].link, ca_myid_reply, ca, 2, av, NULL) == 0) {
        ca->nodes[n].inflight++;
        ca->nodes[n].myid_state = CA_MYID_ASKED;
    }
    if (redis_async_command(ca->nodes[n].link, ca_shards_reply, ca, 2, sv, NULL) == 0)
        ca->nodes[n].inflight++;
}

/* ca_refresh sends CLUSTER SLOTS on the next link that is up. */
static void ca_refresh(struct cluster_async *ca)
{
    const char *av[2] = {"CLUSTER", "SLOTS"};

    for (int k = 0; k < ca->nnodes; k++) {
        int n = (ca->rr + k) % ca->nnodes;
        if (!ca_link_up(ca, n))
            continue;
        ca->rr = n + 1;
        ca_ask_myid(ca, n);
        if (redis_async_command(ca->nodes[n].link, ca_slots_reply, ca, 2, av, NULL) == 0) {
            ca->nodes[n].inflight++;
            ca->refresh_inflight = 1;
            ca->refresh_sent = ev_now(ca->loop);
        }
        return;
    }
    ca_seed(ca);
}

/* ca_drop_unused frees the links of nodes that serve no slot, once nothing
 * routed through them is pending (with a map: before it, they are seeds). */
static void ca_drop_unused(struct cluster_async *ca)
{
    for (int i = 0; ca->have_map && i < ca->nnodes; i++) {
        struct ca_node *nd = &ca->nodes[i];
        if (nd->primary || nd->link == NULL || nd->inflight > 0)
            continue;
        redis_async_free(nd->link);
        nd->link = NULL;
        nd->was_up = 0;
        nd->myid_state = CA_MYID_UNASKED;
    }
}

static void ca_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cluster_async *ca = w->data;
    ev_tstamp now = ev_now(loop);

    (void)revents;
    ca_update_up(ca);   /* the first up's grace may have run out */
    if (ca->refresh_inflight && now - ca->refresh_sent > 1.0)
        ca->refresh_inflight = 0;   /* that node is slow or gone: ask another */
    /* A primary that hangs (stopped, partitioned) drops no link and fails
     * no command before the link's watchdog: read the map now and then
     * anyway, so its replica's promotion is seen soon. */
    if (now - ca->refresh_sent >= CLUSTER_ASYNC_PERIODIC_S)
        ca->want_refresh = 1;
    if (ca->want_refresh || !ca_primaries_ok(ca)) {
        if (!ca->refresh_inflight)
            ca_refresh(ca);
    } else {
        ca_drop_unused(ca);
    }
}

/* ------------------------------------------------------------- commands --- */

static void ca_cmd_free(struct ca_cmd *c)
{
    if (c == NULL)
        return;
    free(c->buf);
    free(c->argv);
    free(c->lens);
    free(c);
}

static void ca_cmd_unlink(struct cluster_async *ca, struct ca_cmd *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        ca->cmds = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

/* ca_cmd_new copies argv (and where it goes) for the resends. */
static struct ca_cmd *ca_cmd_new(struct cluster_async *ca, int argc, const char **argv, const size_t *argvlen)
{
    struct ca_cmd *c = calloc(1, sizeof *c);
    size_t total = 0;

    if (c == NULL || argc < 0)
        goto err;
    c->ca = ca;
    c->argc = argc;
    c->argv = calloc((size_t)argc + 1, sizeof *c->argv);
    c->lens = calloc((size_t)argc + 1, sizeof *c->lens);
    if (c->argv == NULL || c->lens == NULL)
        goto err;
    for (int i = 0; i < argc; i++) {
        c->lens[i] = argvlen ? argvlen[i] : strlen(argv[i]);
        total += c->lens[i] + 1;
    }
    c->buf = malloc(total + 1);
    if (c->buf == NULL)
        goto err;
    char *p = c->buf;
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i], c->lens[i]);
        p[c->lens[i]] = '\0';
        c->argv[i] = p;
        p += c->lens[i] + 1;
    }
    return c;

err:
    ca_cmd_free(c);
    return NULL;
}

/* ca_any_primary: a primary whose link is up, for a command with no key. */
static int ca_any_primary(const struct cluster_async *ca)
{
    for (int i = 0; i < ca->nnodes; i++)
        if (ca->nodes[i].primary && ca_link_up(ca, i))
            return i;
    return -1;
}

/* ca_send puts c on node n's link (after ASKING when asking). 0 or -1. */
static int ca_send(struct cluster_async *ca, struct ca_cmd *c, int n, int asking)
{
    const char *ask[1] = {"ASKING"};
    struct redis_async *l;
    int rc;

    if (!ca_link_up(ca, n))
        return -1;
    l = ca->nodes[n].link;
    /* ASKING and the command, pipelined: the link runs them in order */
    if (asking && redis_async_command(l, NULL, NULL, 1, ask, NULL) != 0)
        return -1;
    if (c->eval)
        rc = redis_async_eval(l, c->id, c->nkeys, c->argc, (const char **)c->argv, c->lens, ca_reply, c);
    else
        rc = redis_async_command(l, ca_reply, c, c->argc, (const char **)c->argv, c->lens);
    if (rc == 0) {
        c->node = n;
        ca->nodes[n].inflight++;
    }
    return rc;
}

/* ca_redirect follows a MOVED or ASK; 0 when the command was resent. */
static int ca_redirect(struct cluster_async *ca, struct ca_cmd *c, const struct cluster_redirect *rd)
{
    int n;

    if (rd->kind == CLUSTER_REDIRECT_MOVED) {
        int m = cluster_map_node(&ca->map, rd->host, rd->port);
        ca->stats.moved++;
        ca->want_refresh = 1;   /* more slots probably moved with this one */
        n = ca_node(ca, rd->host, rd->port);
        if (m != CLUSTER_NO_NODE && n >= 0 && rd->slot < CLUSTER_SLOTS) {
            ca->map.slot_node[rd->slot] = (short)m;
            ca->slot_link[rd->slot] = (short)n;
            ca->nodes[n].primary = 1;
        }
    } else {
        ca->stats.ask++;
        /* claim.lua is not sent with ASKING: it reads user hashes it does
         * not declare (built from KEYS' hash tag, the one script that does),
         * and the importing node runs it once its declared keys are all
         * there, serving the user hashes still on the source as absent:
         * claim.lua would drop those users from the schedule. It fails as
         * after a TRYAGAIN and is retried once the MOVED ending the
         * migration has fixed the map. Scripts that declare every key they
         * touch follow the ASK (Redis answers TRYAGAIN while one is missing). */
        if (c->eval && c->id == SCRIPT_CLAIM)
            return -1;
        n = ca_node(ca, rd->host, rd->port);
    }
    if (n < 0 || ++c->redirects > CLUSTER_ASYNC_MAX_REDIRECTS)
        return -1;
    return ca_send(ca, c, n, rd->kind == CLUSTER_REDIRECT_ASK);
}

static void ca_reply(struct redis_async *l, redisReply *reply, void *ud)
{
    struct ca_cmd *c = ud;
    struct cluster_async *ca = c->ca;
    struct cluster_redirect rd;

    (void)l;
    ca->nodes[c->node].inflight--;
    if (reply == NULL) {
        ca->want_refresh = 1;   /* the node failed: is it still a primary? */
    } else if (reply->type == REDIS_REPLY_ERROR && !ca->freeing) {
        if (cluster_redirect_parse(reply->str, reply->len, ca->nodes[c->node].host, &rd) != CLUSTER_REDIRECT_NONE) {
            if (ca_redirect(ca, c, &rd) == 0)
                return;
            reply = NULL;
        } else if (strncmp(reply->str, "MOVED ", 6) == 0 || strncmp(reply->str, "ASK ", 4) == 0) {
            /* a redirection to nowhere ("?": a hostname unknown): the map,
             * read again, says why once (cluster_map_from_slots) */
            ca->want_refresh = 1;
            reply = NULL;
        } else if (strncmp(reply->str, "TRYAGAIN", 8) == 0) {
            /* a script whose keys are half migrated: a failure to retry
             * later, as for a lost link. The map is right until the
             * migration ends, and then a MOVED says so. */
            reply = NULL;
        } else if (strncmp(reply->str, "CLUSTERDOWN", 11) == 0) {
            ca->want_refresh = 1;   /* the cluster between states */
            reply = NULL;
        }
    }
    ca_cmd_unlink(ca, c);
    if (c->cb && !ca->freeing)
        c->cb(ca->owner, reply, c->ud);
    ca_cmd_free(c);
}

/* ca_submit routes a new command; 0, or -1 (c freed) when it cannot go. */
static int ca_submit(struct cluster_async *ca, struct ca_cmd *c, const char *key, size_t keylen)
{
    int n;

    if (key != NULL) {
        c->slot = cluster_keyslot(key, keylen);
        n = ca->slot_link[c->slot];
    } else {
        c->keyless = 1;
        n = ca_any_primary(ca);
    }
    if (n < 0 || ca_send(ca, c, n, 0) != 0) {
        if (n >= 0 && !ca_link_up(ca, n))
            ca->want_refresh = 1;
        ca_cmd_free(c);
        return -1;
    }
    c->next = ca->cmds;
    if (ca->cmds)
        ca->cmds->prev = c;
    ca->cmds = c;
    return 0;
}

int cluster_async_command(struct cluster_async *ca, const char *route_key, redis_async_cb *cb, void *ud, int argc,
                          const char **argv, const size_t *argvlen)
{
    struct ca_cmd *c;
    const char *key = route_key;
    size_t keylen = route_key ? strlen(route_key) : 0;

    if (!ca || !ca->up || argc < 1)
        return -1;
    if (key == NULL && argc >= 2) {
        key = argv[1];
        keylen = argvlen ? argvlen[1] : strlen(argv[1]);
    }
    if ((c = ca_cmd_new(ca, argc, argv, argvlen)) == NULL)
        return -1;
    c->cb = cb;
    c->ud = ud;
    return ca_submit(ca, c, key, keylen);
}

int cluster_async_eval(struct cluster_async *ca, enum script_id id, int nkeys, int argc, const char **argv,
                       const size_t *argvlen, redis_async_cb *cb, void *ud)
{
    struct ca_cmd *c;

    if (!ca || !ca->up || nkeys < 0 || argc < nkeys)
        return -1;
    if ((c = ca_cmd_new(ca, argc, argv, argvlen)) == NULL)
        return -1;
    c->eval = 1;
    c->id = id;
    c->nkeys = nkeys;
    c->cb = cb;
    c->ud = ud;
    /* every key of a script shares one hash tag: KEYS[1] names the slot */
    return ca_submit(ca, c, nkeys > 0 ? c->argv[0] : NULL, nkeys > 0 ? c->lens[0] : 0);
}

int cluster_async_route_id(const struct cluster_async *ca, const char *key)
{
    if (!ca || !key)
        return -1;
    return ca->slot_link[cluster_keyslot(key, strlen(key))];
}

/* ----------------------------------------------------------- life cycle --- */

struct cluster_async *cluster_async_new(struct ev_loop *loop, const struct sw_config *c, const struct redis_tls *tls,
                                        struct redis_async *owner, redis_async_state_cb *on_state, void *ud,
                                        char *err, size_t errlen)
{
    struct cluster_async *ca;

    if (cluster_async_check(c, err, errlen) != 0)
        return NULL;
    if ((ca = calloc(1, sizeof *ca)) == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    ca->loop = loop;
    ca->cfg = c;
    ca->tls = tls;
    ca->owner = owner;
    ca->on_state = on_state;
    ca->ud = ud;
    cluster_map_init(&ca->map);
    for (int s = 0; s < CLUSTER_SLOTS; s++)
        ca->slot_link[s] = -1;
    ev_timer_init(&ca->tick, ca_tick_cb, CLUSTER_ASYNC_REFRESH_S, CLUSTER_ASYNC_REFRESH_S);
    ca->tick.data = ca;
    ev_timer_start(loop, &ca->tick);
    ca->want_refresh = 1;
    ca_seed(ca);
    return ca;
}

void cluster_async_free(struct cluster_async *ca)
{
    if (!ca)
        return;
    ca->freeing = 1;
    ev_timer_stop(ca->loop, &ca->tick);
    /* pending commands' callbacks are not called (the links' contract) */
    for (int i = 0; i < ca->nnodes; i++)
        redis_async_free(ca->nodes[i].link);
    while (ca->cmds) {
        struct ca_cmd *c = ca->cmds;
        ca->cmds = c->next;
        ca_cmd_free(c);
    }
    free(ca);
}

int cluster_async_up(const struct cluster_async *ca)
{
    return ca && ca->up;
}

long cluster_async_reconnects(const struct cluster_async *ca)
{
    return ca ? ca->reconnects : 0;
}

void cluster_async_stats(const struct cluster_async *ca, struct cluster_async_stats *out)
{
    if (ca)
        *out = ca->stats;
    else
        memset(out, 0, sizeof *out);
}
