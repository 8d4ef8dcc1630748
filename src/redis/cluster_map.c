/* cluster_map: key slots, the slot map and redirections (include/redis/cluster_map.h). */
#include "redis/cluster_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errbuf.h"

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection,
 * bit by bit. A key is a few dozen bytes and is hashed once per command, so
 * a table would buy nothing measurable. */
static unsigned crc16_xmodem(const unsigned char *p, size_t len)
{
    unsigned crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned)p[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc;
}

unsigned cluster_keyslot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open != NULL) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(key + from, '}', len - from);
        if (close != NULL && close > key + from)
            return crc16_xmodem((const unsigned char *)key + from, (size_t)(close - (key + from))) % CLUSTER_SLOTS;
    }
    return crc16_xmodem((const unsigned char *)key, len) % CLUSTER_SLOTS;
}

void cluster_map_init(struct cluster_map *m)
{
    m->nnodes = 0;
    for (int s = 0; s < CLUSTER_SLOTS; s++)
        m->slot_node[s] = CLUSTER_NO_NODE;
}

/* A host as it may be written back into a connect call: printable, no
 * spaces, not too long, and not "?" (Redis 7's endpoint of a node whose
 * hostname it does not know, with cluster-preferred-endpoint-type
 * hostname: there is no such host to connect to). */
static int host_ok(const char *h, size_t len)
{
    if (len == 0 || len >= CLUSTER_HOST_MAX || (len == 1 && h[0] == '?'))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (h[i] <= ' ' || h[i] > '~' || h[i] == ',')
            return 0;
    return 1;
}

static int find_node(const struct cluster_map *m, const char *host, int port)
{
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].port == port && strcmp(m->nodes[i].host, host) == 0)
            return i;
    return CLUSTER_NO_NODE;
}

static int add_node(struct cluster_map *m, const char *host, size_t hostlen, int port, const char *id,
                    size_t idlen, int primary_of)
{
    if (!host_ok(host, hostlen) || port < 1 || port > 65535 || m->nnodes >= CLUSTER_MAX_NODES)
        return CLUSTER_NO_NODE;
    struct cluster_node *n = &m->nodes[m->nnodes];
    memcpy(n->host, host, hostlen);
    n->host[hostlen] = '\0';
    int dup = find_node(m, n->host, port);
    if (dup != CLUSTER_NO_NODE)
        return dup;
    n->port = port;
    n->id[0] = '\0';
    if (id != NULL && idlen < CLUSTER_ID_MAX) {
        memcpy(n->id, id, idlen);
        n->id[idlen] = '\0';
    }
    n->primary_of = primary_of;
    return m->nnodes++;
}

int cluster_map_node(struct cluster_map *m, const char *host, int port)
{
    int i = find_node(m, host, port);
    return i != CLUSTER_NO_NODE ? i : add_node(m, host, strlen(host), port, NULL, 0, CLUSTER_NO_NODE);
}

/* One node of a CLUSTER SLOTS entry: [endpoint, port, id, metadata...].
 * The endpoint is an address or (cluster-preferred-endpoint-type hostname)
 * a hostname; an empty or nil one (unknown-endpoint: "the address you asked
 * me at") is fallback_host; "?" (a hostname the node does not know) is
 * refused by host_ok. Redis 7's fourth element (a map of the other
 * endpoints: hostname, ip) is not needed and not read. */
static int read_node(struct cluster_map *m, const redisReply *n, const char *fallback_host, int primary_of)
{
    if (n->type != REDIS_REPLY_ARRAY || n->elements < 2 ||
        (n->element[0]->type != REDIS_REPLY_STRING && n->element[0]->type != REDIS_REPLY_NIL) ||
        n->element[1]->type != REDIS_REPLY_INTEGER)
        return CLUSTER_NO_NODE;
    const char *host = n->element[0]->type == REDIS_REPLY_STRING ? n->element[0]->str : "";
    size_t hostlen = n->element[0]->type == REDIS_REPLY_STRING ? n->element[0]->len : 0;
    if (hostlen == 0) {
        host = fallback_host;
        hostlen = strlen(fallback_host);
    }
    const redisReply *id = n->elements >= 3 && n->element[2]->type == REDIS_REPLY_STRING ? n->element[2] : NULL;
    long long port = n->element[1]->integer;
    if (port < 1 || port > 65535)
        return CLUSTER_NO_NODE;
    return add_node(m, host, hostlen, (int)port, id ? id->str : NULL, id ? id->len : 0, primary_of);
}

static int read_entry(struct cluster_map *m, const redisReply *e, const char *fallback_host)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[0]->type != REDIS_REPLY_INTEGER ||
        e->element[1]->type != REDIS_REPLY_INTEGER)
        return -1;
    long long first = e->element[0]->integer, last = e->element[1]->integer;
    if (first < 0 || last < first || last >= CLUSTER_SLOTS)
        return -1;
    int primary = read_node(m, e->element[2], fallback_host, CLUSTER_NO_NODE);
    if (primary == CLUSTER_NO_NODE)
        return -1;
    for (size_t r = 3; r < e->elements; r++)
        if (read_node(m, e->element[r], fallback_host, primary) == CLUSTER_NO_NODE)
            return -1;
    for (long long s = first; s <= last; s++)
        m->slot_node[s] = (short)primary;
    return 0;
}

/* node_port0: a node given as port 0: what a TLS-only node (`port 0`)
 * answers for itself and its peers unless it runs with `tls-cluster yes`
 * (then the ports it gives are the TLS ones), the commonest mistake with a
 * TLS cluster, so it is named rather than reported as a malformed answer. */
static int node_port0(const redisReply *n)
{
    return n->elements >= 2 && n->element[1]->type == REDIS_REPLY_INTEGER && n->element[1]->integer == 0;
}

/* node_unknown_host: a node whose endpoint is "?": Redis 7 with
 * cluster-preferred-endpoint-type hostname gives it for a node with no
 * cluster-announce-hostname (or whose hostname has not reached the answering
 * node yet); named, since connecting to a host "?" could only fail
 * obscurely. */
static int node_unknown_host(const redisReply *n)
{
    return n->elements >= 1 && n->element[0]->type == REDIS_REPLY_STRING && n->element[0]->len == 1 &&
           n->element[0]->str[0] == '?';
}

/* entry_any_node: 1 when one node of CLUSTER SLOTS entry e is what is()
 * looks for. */
static int entry_any_node(const redisReply *e, int (*is)(const redisReply *n))
{
    if (e->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t i = 2; i < e->elements; i++)
        if (e->element[i]->type == REDIS_REPLY_ARRAY && is(e->element[i]))
            return 1;
    return 0;
}

int cluster_map_from_slots(struct cluster_map *m, const redisReply *r, const char *fallback_host, char *err,
                           size_t errlen)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        errbuf_set(err, errlen, "CLUSTER SLOTS: not an array");
        return -1;
    }
    struct cluster_map *fresh = malloc(sizeof *fresh);
    if (fresh == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    cluster_map_init(fresh);
    for (size_t i = 0; i < r->elements; i++) {
        if (read_entry(fresh, r->element[i], fallback_host) != 0) {
            if (entry_any_node(r->element[i], node_port0))
                errbuf_set(err, errlen, "CLUSTER SLOTS: entry %zu names port 0 (TLS-only nodes need tls-cluster yes)",
                           i);
            else if (entry_any_node(r->element[i], node_unknown_host))
                errbuf_set(err, errlen,
                           "CLUSTER SLOTS: entry %zu names a node by \"?\" (its hostname is unknown: with "
                           "cluster-preferred-endpoint-type hostname every node needs cluster-announce-hostname)",
                           i);
            else
                errbuf_set(err, errlen, "CLUSTER SLOTS: entry %zu malformed", i);
            free(fresh);
            return -1;
        }
    }
    *m = *fresh;
    free(fresh);
    return 0;
}

int cluster_map_primaries(const struct cluster_map *m, int *out, int max)
{
    char seen[CLUSTER_MAX_NODES] = {0};
    int n = 0;
    for (int s = 0; s < CLUSTER_SLOTS; s++) {
        int i = m->slot_node[s];
        if (i == CLUSTER_NO_NODE || seen[i])
            continue;
        seen[i] = 1;
        if (n < max)
            out[n] = i;
        n++;
    }
    return n;
}

int cluster_map_covered(const struct cluster_map *m)
{
    for (int s = 0; s < CLUSTER_SLOTS; s++)
        if (m->slot_node[s] == CLUSTER_NO_NODE)
            return 0;
    return 1;
}

/* "host:port" with the port after the last colon (an IPv6 host keeps its
 * own); an empty host is fallback_host. */
static int split_hostport(const char *s, size_t len, const char *fallback_host, char *host, int *port)
{
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ':')
            colon = s + i;
    if (colon == NULL)
        return -1;
    size_t hostlen = (size_t)(colon - s), portlen = len - hostlen - 1;
    if (portlen == 0 || portlen > 5)
        return -1;
    long p = 0;
    for (size_t i = 0; i < portlen; i++) {
        if (colon[1 + i] < '0' || colon[1 + i] > '9')
            return -1;
        p = p * 10 + (colon[1 + i] - '0');
    }
    if (p < 1 || p > 65535)
        return -1;
    if (hostlen == 0) {
        s = fallback_host;
        hostlen = strlen(fallback_host);
    }
    if (!host_ok(s, hostlen))
        return -1;
    memcpy(host, s, hostlen);
    host[hostlen] = '\0';
    *port = (int)p;
    return 0;
}

enum cluster_redirect_kind cluster_redirect_parse(const char *text, size_t len, const char *fallback_host,
                                                  struct cluster_redirect *out)
{
    enum cluster_redirect_kind kind;
    size_t at;
    if (len > 6 && memcmp(text, "MOVED ", 6) == 0) {
        kind = CLUSTER_REDIRECT_MOVED;
        at = 6;
    } else if (len > 4 && memcmp(text, "ASK ", 4) == 0) {
        kind = CLUSTER_REDIRECT_ASK;
        at = 4;
    } else {
        return CLUSTER_REDIRECT_NONE;
    }
    unsigned slot = 0;
    size_t digits = 0;
    while (at < len && text[at] >= '0' && text[at] <= '9' && digits < 6) {
        slot = slot * 10 + (unsigned)(text[at++] - '0');
        digits++;
    }
    if (digits == 0 || slot >= CLUSTER_SLOTS || at >= len || text[at] != ' ')
        return CLUSTER_REDIRECT_NONE;
    at++;
    if (split_hostport(text + at, len - at, fallback_host, out->host, &out->port) != 0)
        return CLUSTER_REDIRECT_NONE;
    out->slot = slot;
    out->kind = kind;
    return kind;
}

int cluster_seeds_parse(const char *list, struct cluster_node *out, int max, char *err, size_t errlen)
{
    int n = 0;
    const char *p = list;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            if (n >= max) {
                errbuf_set(err, errlen, "more than %d nodes", max);
                return -1;
            }
            if (split_hostport(p, len, "", out[n].host, &out[n].port) != 0) {
                errbuf_set(err, errlen, "'%.*s' is not host:port", (int)(len > 64 ? 64 : len), p);
                return -1;
            }
            out[n].id[0] = '\0';
            out[n].primary_of = CLUSTER_NO_NODE;
            n++;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    return n;
}

/* The owner of slot s in m as host and port; 0 when none. */
static int slot_owner(const struct cluster_map *m, int s, const char **host, int *port)
{
    int i = m->slot_node[s];
    if (i == CLUSTER_NO_NODE)
        return 0;
    *host = m->nodes[i].host;
    *port = m->nodes[i].port;
    return 1;
}

int cluster_map_same(const struct cluster_map *a, const struct cluster_map *b)
{
    for (int s = 0; s < CLUSTER_SLOTS; s++) {
        const char *ha = NULL, *hb = NULL;
        int pa = 0, pb = 0;
        int oa = slot_owner(a, s, &ha, &pa), ob = slot_owner(b, s, &hb, &pb);
        if (oa != ob || (oa && (pa != pb || strcmp(ha, hb) != 0)))
            return 0;
    }
    return 1;
}

void cluster_map_describe(const struct cluster_map *m, char *buf, size_t len)
{
    int count[CLUSTER_MAX_NODES] = {0}, unserved = 0;
    size_t used = 0;

    if (len == 0)
        return;
    buf[0] = '\0';
    for (int s = 0; s < CLUSTER_SLOTS; s++) {
        if (m->slot_node[s] == CLUSTER_NO_NODE)
            unserved++;
        else
            count[m->slot_node[s]]++;
    }
    for (int i = 0; i < m->nnodes && used < len; i++) {
        if (count[i] == 0)
            continue;
        int n = snprintf(buf + used, len - used, "%s%s:%d %d slots", used ? ", " : "", m->nodes[i].host,
                         m->nodes[i].port, count[i]);
        if (n < 0)
            return;
        used += (size_t)n;
    }
    if (unserved && used < len)
        snprintf(buf + used, len - used, "%s%d slots unserved", used ? ", " : "", unserved);
}

/* shards_field: the value after key name in the flat [key, value, ...]
 * array a, or NULL. */
static const redisReply *shards_field(const redisReply *a, const char *name)
{
    if (a->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < a->elements; i += 2) {
        const redisReply *k = a->element[i];
        if (k->type == REDIS_REPLY_STRING && k->len == strlen(name) && memcmp(k->str, name, k->len) == 0)
            return a->element[i + 1];
    }
    return NULL;
}

int cluster_shards_announces_tls(const redisReply *shards, const char *myid)
{
    if (shards == NULL || shards->type != REDIS_REPLY_ARRAY || myid == NULL || myid[0] == '\0')
        return -1;
    for (size_t s = 0; s < shards->elements; s++) {
        const redisReply *nodes = shards_field(shards->element[s], "nodes");
        for (size_t i = 0; nodes && nodes->type == REDIS_REPLY_ARRAY && i < nodes->elements; i++) {
            const redisReply *id = shards_field(nodes->element[i], "id");
            if (id == NULL || id->type != REDIS_REPLY_STRING || strlen(myid) != id->len ||
                memcmp(id->str, myid, id->len) != 0)
                continue;
            return shards_field(nodes->element[i], "tls-port") != NULL;
        }
    }
    return -1;
}

int cluster_map_check_reached(const struct cluster_map *m, const char *myid, const char *host, int port,
                              int announces_tls, char *err, size_t errlen)
{
    if (myid == NULL || myid[0] == '\0' || announces_tls != 0)
        return 0;
    for (int i = 0; i < m->nnodes; i++) {
        const struct cluster_node *n = &m->nodes[i];
        if (strcmp(n->id, myid) != 0 || n->port == port)
            continue;
        errbuf_set(err, errlen,
                   "the node reached at %.100s:%d (TLS) is announced as %.100s:%d: the nodes announce their "
                   "plain ports; set tls-cluster yes on every node (README \"TLS in a cluster\")",
                   host, port, n->host, n->port);
        return -1;
    }
    return 0;
}
