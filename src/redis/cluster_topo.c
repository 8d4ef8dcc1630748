/* cluster_topo.c: the cluster's topology for status and /healthz (include/redis/cluster_topo.h). */
#include "redis/cluster_topo.h"

#include <stdio.h>
#include <string.h>
#include "redis/key_schema.h"

static void node_addr(const struct cluster_node *nd, char *out, size_t n)
{
    snprintf(out, n, "%.200s:%d", nd->host, nd->port);
}

/* add_primary: node p's entry, its slots counted and its replicas listed. */
static void add_primary(cJSON *arr, const struct cluster_map *m, int p)
{
    char addr[CLUSTER_HOST_MAX + 8];
    int slots = 0;
    cJSON *o = cJSON_CreateObject(), *reps;

    for (int s = 0; s < CLUSTER_SLOTS; s++)
        slots += m->slot_node[s] == p;
    node_addr(&m->nodes[p], addr, sizeof addr);
    cJSON_AddStringToObject(o, "addr", addr);
    cJSON_AddStringToObject(o, "id", m->nodes[p].id);
    cJSON_AddNumberToObject(o, "slots", slots);
    reps = cJSON_AddArrayToObject(o, "replicas");
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].primary_of == p) {
            node_addr(&m->nodes[i], addr, sizeof addr);
            cJSON_AddItemToArray(reps, cJSON_CreateString(addr));
        }
    cJSON_AddItemToArray(arr, o);
}

cJSON *cluster_topo_json(const struct cluster_map *m, const char *prefix, const char *const *apps, size_t napps)
{
    int prim[CLUSTER_MAX_NODES];
    int np = cluster_map_primaries(m, prim, CLUSTER_MAX_NODES);
    cJSON *t = cJSON_CreateObject(), *parr, *aarr;

    if (t == NULL)
        return NULL;
    cJSON_AddStringToObject(t, "mode", "cluster");
    parr = cJSON_AddArrayToObject(t, "primaries");
    for (int i = 0; i < np && i < CLUSTER_MAX_NODES; i++)
        add_primary(parr, m, prim[i]);
    aarr = cJSON_AddArrayToObject(t, "apps");
    for (size_t i = 0; i < napps; i++) {
        struct app_keys k;
        char addr[CLUSTER_HOST_MAX + 8] = "";
        keys_app(&k, prefix, apps[i]);
        unsigned slot = cluster_keyslot(k.due, strlen(k.due));
        int node = m->slot_node[slot];
        if (node != CLUSTER_NO_NODE)
            node_addr(&m->nodes[node], addr, sizeof addr);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "app", apps[i]);
        cJSON_AddNumberToObject(o, "slot", slot);
        cJSON_AddStringToObject(o, "node", addr);
        cJSON_AddItemToArray(aarr, o);
    }
    return t;
}

cJSON *cluster_topo_fetch(struct redis_sync *r, const char *prefix, char *err, size_t errlen)
{
    char apps[KEY_MAX];
    const char *sm[] = {"SMEMBERS", apps};
    const char *ids[512];
    size_t n = 0;
    redisReply *rep;
    cJSON *t;

    if (redis_sync_cluster_map(r) == NULL)
        return NULL;
    if (redis_sync_cluster_refresh(r, err, errlen) != 0)
        return NULL;
    keys_global(apps, sizeof apps, prefix, "apps");
    if ((rep = redis_sync_cmd(r, 2, sm, err, errlen)) == NULL)
        return NULL;
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements && n < sizeof ids / sizeof *ids; i++)
        if (rep->element[i]->type == REDIS_REPLY_STRING && keys_valid_id(rep->element[i]->str))
            ids[n++] = rep->element[i]->str;
    t = cluster_topo_json(redis_sync_cluster_map(r), prefix, ids, n);
    freeReplyObject(rep);
    return t;
}

/* put appends s (from Redis) to out (at *o, n bytes in all), unprintable
 * bytes as '?'; lit appends our own text (its newlines kept). */
static void put(char *out, size_t n, size_t *o, const char *s)
{
    for (; s && *s && *o + 1 < n; s++)
        out[(*o)++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    out[*o < n ? *o : n - 1] = '\0';
}

static void lit(char *out, size_t n, size_t *o, const char *s)
{
    for (; *s && *o + 1 < n; s++)
        out[(*o)++] = *s;
    out[*o < n ? *o : n - 1] = '\0';
}

static const char *str(const cJSON *o, const char *name)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
    return s ? s : "";
}

static double num(const cJSON *o, const char *name)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, name));
}

void cluster_topo_text(const cJSON *t, char *out, size_t n)
{
    const cJSON *p, *r, *a;
    char line[96];
    size_t o = 0;
    int nrep = 0;

    if (n == 0)
        return;
    out[0] = '\0';
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(t, "primaries"))
        nrep += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "replicas"));
    snprintf(line, sizeof line, "cluster: %d primaries, %d replicas\n",
             cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "primaries")), nrep);
    lit(out, n, &o, line);
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(t, "primaries")) {
        put(out, n, &o, "  primary ");
        put(out, n, &o, str(p, "addr"));
        snprintf(line, sizeof line, " slots=%.0f replicas=", num(p, "slots"));
        put(out, n, &o, line);
        int first = 1;
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(p, "replicas")) {
            put(out, n, &o, first ? "" : ",");
            put(out, n, &o, cJSON_GetStringValue(r));
            first = 0;
        }
        lit(out, n, &o, first ? "none\n" : "\n");
    }
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(t, "apps")) {
        put(out, n, &o, "  app ");
        put(out, n, &o, str(a, "app"));
        snprintf(line, sizeof line, " slot=%.0f on ", num(a, "slot"));
        put(out, n, &o, line);
        put(out, n, &o, str(a, "node")[0] ? str(a, "node") : "(no node)");
        lit(out, n, &o, "\n");
    }
}
