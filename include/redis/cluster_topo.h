#ifndef SW_CLUSTER_TOPO_H
#define SW_CLUSTER_TOPO_H
/* cluster_topo: the Redis Cluster's topology as `spotwatch status` and
 * serve's /healthz describe it, from a slot map (include/redis/cluster_map.h):
 * the primaries with their slot counts and replicas, and which primary each
 * app lives on (the slot of its hash tag {<app>}). Only cluster_topo_fetch
 * talks to Redis; the rest is pure. */
#include <stddef.h>
#include <cjson/cJSON.h>
#include "redis/cluster_map.h"
#include "redis/redis_sync.h"

/* cluster_topo_fetch: in cluster mode, the map re-read (CLUSTER SLOTS: a
 * failover shows) and the apps of <prefix>apps, as cluster_topo_json;
 * NULL in single-node mode, or with the reason in err when Redis failed. */
cJSON *cluster_topo_fetch(struct redis_sync *r, const char *prefix, char *err, size_t errlen);

/* cluster_topo_json: a new object (the caller deletes it):
 *   {"mode":"cluster",
 *    "primaries":[{"addr":"host:port","id":"...","slots":N,"replicas":["host:port",...]}],
 *    "apps":[{"app":"a","slot":S,"node":"host:port"}]}
 * apps: the app ids (napps of them); prefix: key-prefix. An app whose slot
 * no node serves has "node":"". NULL when out of memory. */
cJSON *cluster_topo_json(const struct cluster_map *m, const char *prefix, const char *const *apps, size_t napps);

/* cluster_topo_text writes t (cluster_topo_json's) as lines into out:
 *   "cluster: 3 primaries, 3 replicas\n"
 *   "  primary 127.0.0.1:7001 slots=5461 replicas=127.0.0.1:7004\n"
 *   "  app a1 slot=1234 on 127.0.0.1:7002\n"
 * Every byte from Redis outside printable ASCII is written as '?', so the
 * text is safe for a terminal and a plain-text answer. Truncated to fit. */
void cluster_topo_text(const cJSON *t, char *out, size_t n);

#endif
