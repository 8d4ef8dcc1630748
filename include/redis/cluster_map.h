#ifndef SW_CLUSTER_MAP_H
#define SW_CLUSTER_MAP_H
/* cluster_map: what a Redis Cluster client must know, without any I/O: the
 * slot of a key, which primary serves each of the 16384 slots (from a
 * CLUSTER SLOTS answer, then corrected by MOVED redirections), and how a
 * MOVED or ASK error reads. Shared by the worker's asynchronous routing and
 * the CLI's and serve's blocking one, so both agree on every slot.
 *
 * Everything here is hostile input: a CLUSTER SLOTS answer or a redirection
 * comes from the network, and a malformed one is refused whole (the old map
 * stays), never half applied. */
#include <stddef.h>
#include <hiredis/hiredis.h>

#define CLUSTER_SLOTS 16384
#define CLUSTER_MAX_NODES 128   /* primaries and replicas a map may name */
#define CLUSTER_HOST_MAX 256    /* a host name or address, with its NUL */
#define CLUSTER_ID_MAX 41       /* a node id (40 hex digits), with its NUL */
#define CLUSTER_NO_NODE (-1)

/* cluster_keyslot: the slot of key (len bytes), as Redis computes it: CRC16
 * (XMODEM) of the key, or of the part between the first '{' and the next
 * '}' when that part is not empty, modulo 16384. */
unsigned cluster_keyslot(const char *key, size_t len);

struct cluster_node {
    char host[CLUSTER_HOST_MAX];
    int port;
    char id[CLUSTER_ID_MAX];   /* "" when the answer gave none */
    int primary_of;            /* CLUSTER_NO_NODE for a primary; else the index
                                  of the primary this node replicates */
};

/* cluster_map: slot -> node index into nodes[] (a primary), or
 * CLUSTER_NO_NODE for a slot no node serves. */
struct cluster_map {
    struct cluster_node nodes[CLUSTER_MAX_NODES];
    int nnodes;
    short slot_node[CLUSTER_SLOTS];
};

/* cluster_map_init: an empty map (no node, every slot unserved). */
void cluster_map_init(struct cluster_map *m);

/* cluster_map_from_slots reads a CLUSTER SLOTS reply into m: each entry
 * [first, last, primary, replica...] with each node [endpoint, port, id,
 * metadata...] (an address, or a hostname with Redis 7's
 * cluster-preferred-endpoint-type hostname). An empty or nil endpoint
 * (unknown-endpoint) is taken as fallback_host, the address the answer came
 * from. Returns 0, or -1 with the reason in err and m untouched (a node at
 * port 0, a TLS-only node without tls-cluster yes, and a node named "?", a
 * hostname unknown, are named as such). */
int cluster_map_from_slots(struct cluster_map *m, const redisReply *r, const char *fallback_host, char *err,
                           size_t errlen);

/* cluster_map_check_reached: with TLS, is the node reached at host:port
 * (whose CLUSTER MYID is myid) announced by its plain port? A node with a
 * plain port beside its TLS one and `tls-cluster no` announces its plain
 * port (in CLUSTER SLOTS, even asked over TLS), where a TLS handshake can
 * only fail obscurely. A port other than the one reached alone proves
 * nothing (a seed may be reached through a relay or a forwarded port), so
 * announces_tls says what CLUSTER SHARDS says of the node
 * (cluster_shards_announces_tls): 1 it announces a TLS port, 0 it announces
 * none (tls-cluster no), -1 unknown. Returns -1 with the reason in err when
 * announces_tls is 0 and m names myid at another port; 0 otherwise (myid
 * NULL or "": unknown, the check is skipped). The host may differ (a seed
 * given by address, announced by hostname). */
int cluster_map_check_reached(const struct cluster_map *m, const char *myid, const char *host, int port,
                              int announces_tls, char *err, size_t errlen);

/* cluster_shards_announces_tls reads a CLUSTER SHARDS reply (Redis 7.0:
 * [["slots", [...], "nodes", [[key, value, ...], ...]], ...]): 1 when the
 * node myid has a "tls-port" (the cluster announces TLS ports: tls-cluster
 * yes), 0 when it has none, -1 when the reply does not name it or is not
 * one (an older Redis, a refusal). */
int cluster_shards_announces_tls(const redisReply *shards, const char *myid);

/* cluster_map_node: the index of the node host:port in m, added as a
 * primary when absent (a MOVED may name a node the map has not seen).
 * CLUSTER_NO_NODE when the map is full or the address is not one. */
int cluster_map_node(struct cluster_map *m, const char *host, int port);

/* cluster_map_primaries: the number of distinct nodes serving at least one
 * slot; their indexes in out (up to max). */
int cluster_map_primaries(const struct cluster_map *m, int *out, int max);

/* cluster_map_covered: 1 when every slot has a node. */
int cluster_map_covered(const struct cluster_map *m);

/* cluster_map_same: 1 when a and b give every slot the same owner
 * (host:port; node indexes and replicas may differ). */
int cluster_map_same(const struct cluster_map *a, const struct cluster_map *b);

/* cluster_map_describe writes "host:port N slots, ..." (each primary with
 * the slots it serves, then the unserved ones if any) into buf, truncated
 * to len; for a log line when the map changes. */
void cluster_map_describe(const struct cluster_map *m, char *buf, size_t len);

/* cluster_redirect: a MOVED or ASK error, read. */
enum cluster_redirect_kind { CLUSTER_REDIRECT_NONE, CLUSTER_REDIRECT_MOVED, CLUSTER_REDIRECT_ASK };
struct cluster_redirect {
    enum cluster_redirect_kind kind;
    unsigned slot;
    char host[CLUSTER_HOST_MAX];
    int port;
};

/* cluster_redirect_parse reads "MOVED <slot> <host>:<port>" or "ASK <slot>
 * <host>:<port>" (an IPv6 host keeps its colons: the port follows the last
 * one) from an error reply's text. An empty host (Redis 7's
 * cluster-preferred-endpoint-type unknown-endpoint) is taken as
 * fallback_host. Returns the kind; CLUSTER_REDIRECT_NONE for any other error
 * or a malformed one, "?" as the host included (a hostname unknown: no host
 * to go to). */
enum cluster_redirect_kind cluster_redirect_parse(const char *text, size_t len, const char *fallback_host,
                                                  struct cluster_redirect *out);

/* cluster_seeds_parse: "host:port[,host:port...]" (redis-cluster-nodes),
 * up to max entries into out. Returns the count, or -1 with the reason in
 * err for a malformed item. */
int cluster_seeds_parse(const char *list, struct cluster_node *out, int max, char *err, size_t errlen);

#endif
