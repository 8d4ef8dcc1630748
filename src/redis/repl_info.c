/* repl_info.c: INFO replication, parsed (include/redis/repl_info.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/repl_info.h"

/* copy_field copies the value [v, end) into dst, keeping printable ASCII
 * only (it reaches terminals and HTTP answers), cut to dst's size. */
static void copy_field(char *dst, const char *v, const char *end)
{
    size_t k = 0;
    for (; v < end && k + 1 < REPL_FIELD_MAX; v++)
        if (*v > ' ' && *v < 0x7f)
            dst[k++] = *v;
    dst[k] = '\0';
}

/* number: the whole number at v, or dflt when there is none. */
static long long number(const char *v, long long dflt)
{
    char *e;
    long long x = strtoll(v, &e, 10);
    return e == v || x < 0 ? dflt : x;
}

/* pair_get finds "name=" in a comma list [s, end) and returns its value's
 * start (its end in *vend), or NULL. */
static const char *pair_get(const char *s, const char *end, const char *name, const char **vend)
{
    size_t nl = strlen(name);
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *stop = comma ? comma : end;
        if ((size_t)(stop - s) > nl && memcmp(s, name, nl) == 0 && s[nl] == '=') {
            *vend = stop;
            return s + nl + 1;
        }
        s = stop + 1;
    }
    return NULL;
}

/* parse_replica: a "slaveN:ip=..,port=..,state=..,offset=..,lag=.." value. */
static void parse_replica(struct repl_info *t, const char *v, const char *end)
{
    struct repl_replica *r;
    const char *ve, *x;
    char ip[REPL_FIELD_MAX] = "", port[REPL_FIELD_MAX] = "";
    if (t->kept >= REPL_REPLICAS_MAX)
        return;
    r = &t->replicas[t->kept++];
    memset(r, 0, sizeof *r);
    r->offset = -1;
    r->lag_s = -1;
    if ((x = pair_get(v, end, "ip", &ve)) != NULL)
        copy_field(ip, x, ve);
    if ((x = pair_get(v, end, "port", &ve)) != NULL)
        copy_field(port, x, ve);
    snprintf(r->addr, sizeof r->addr, "%.30s:%.16s", ip, port);
    if ((x = pair_get(v, end, "state", &ve)) != NULL)
        copy_field(r->state, x, ve);
    if ((x = pair_get(v, end, "offset", &ve)) != NULL)
        r->offset = number(x, -1);
    if ((x = pair_get(v, end, "lag", &ve)) != NULL)
        r->lag_s = number(x, -1);
}

/* parse_line: one "name:value" line [s, end). */
static void parse_line(struct repl_info *t, const char *s, const char *end, char *host, char *port)
{
    const char *colon = memchr(s, ':', (size_t)(end - s));
    if (colon == NULL)
        return;
    size_t nl = (size_t)(colon - s);
    const char *v = colon + 1;
#define IS(name) (nl == strlen(name) && memcmp(s, name, nl) == 0)
    if (IS("role"))
        copy_field(t->role, v, end);
    else if (IS("master_repl_offset"))
        t->offset = number(v, -1);
    else if (IS("connected_slaves"))
        t->nreplicas = (int)number(v, -1);
    else if (IS("master_host"))
        copy_field(host, v, end);
    else if (IS("master_port"))
        copy_field(port, v, end);
    else if (IS("master_link_status"))
        copy_field(t->link, v, end);
    else if (nl > 5 && memcmp(s, "slave", 5) == 0 && strspn(s + 5, "0123456789") == nl - 5)
        parse_replica(t, v, end);
#undef IS
}

void repl_info_parse(const char *text, struct repl_info *out)
{
    char host[REPL_FIELD_MAX] = "", port[REPL_FIELD_MAX] = "";
    memset(out, 0, sizeof *out);
    out->offset = -1;
    out->nreplicas = -1;
    for (const char *s = text; s && *s;) {
        const char *nl = strchr(s, '\n');
        const char *end = nl ? nl : s + strlen(s);
        if (end > s && end[-1] == '\r')
            end--;
        parse_line(out, s, end, host, port);
        s = nl ? nl + 1 : NULL;
    }
    if (host[0])
        snprintf(out->master, sizeof out->master, "%.40s:%.16s", host, port);
}

int repl_info_fetch(redisContext *r, struct repl_info *out, char *why, size_t n)
{
    redisReply *rep = redisCommand(r, "INFO replication");
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (rep == NULL)
        snprintf(why, n, "Redis link lost: %s", r->errstr);
    else if (rep->type == REDIS_REPLY_ERROR)
        snprintf(why, n, "INFO replication refused: %s", rep->str);
    else if (rep->type != REDIS_REPLY_STRING && rep->type != REDIS_REPLY_STATUS)
        snprintf(why, n, "INFO replication: unexpected answer");
    else {
        repl_info_parse(rep->str, out);
        rc = 0;
    }
    if (rep)
        freeReplyObject(rep);
    return rc;
}

/* role_name: Redis' role in the README's words. */
static const char *role_name(const char *role)
{
    if (strcmp(role, "master") == 0)
        return "primary";
    if (strcmp(role, "slave") == 0)
        return "replica";
    return role[0] ? role : "unknown";
}

cJSON *repl_info_json(const struct repl_info *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "role", role_name(t->role));
    cJSON_AddNumberToObject(o, "offset", (double)t->offset);
    if (t->master[0]) {
        cJSON_AddStringToObject(o, "primary", t->master);
        cJSON_AddStringToObject(o, "link", t->link);
    }
    cJSON_AddNumberToObject(o, "connected_replicas", t->nreplicas);
    cJSON *arr = cJSON_AddArrayToObject(o, "replicas");
    for (int i = 0; i < t->kept; i++) {
        const struct repl_replica *r = &t->replicas[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "addr", r->addr);
        cJSON_AddStringToObject(x, "state", r->state);
        cJSON_AddNumberToObject(x, "offset", (double)r->offset);
        if (t->offset >= 0 && r->offset >= 0)
            cJSON_AddNumberToObject(x, "offset_lag", (double)(t->offset - r->offset));
        cJSON_AddNumberToObject(x, "lag_s", (double)r->lag_s);
        cJSON_AddItemToArray(arr, x);
    }
    return o;
}

/* put appends to buf (n bytes, k used); -1 once it is full (cut there). */
__attribute__((format(printf, 4, 5)))
static int put(char *buf, size_t n, size_t *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *k, n - *k, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= n - *k)
        return -1;
    *k += (size_t)w;
    return 0;
}

void repl_info_text(const struct repl_info *t, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    if (put(buf, n, &k, "%s", role_name(t->role)) != 0)
        return;
    if (t->master[0] && put(buf, n, &k, " of %s (link %s)", t->master, t->link[0] ? t->link : "unknown") != 0)
        return;
    if (t->nreplicas >= 0 && put(buf, n, &k, ", %d replica%s", t->nreplicas, t->nreplicas == 1 ? "" : "s") != 0)
        return;
    for (int i = 0; i < t->kept; i++) {
        const struct repl_replica *r = &t->replicas[i];
        if (put(buf, n, &k, "%s %s %s", i ? ";" : ":", r->addr, r->state) != 0 ||
            (t->offset >= 0 && r->offset >= 0 && put(buf, n, &k, " offset_lag=%lld B", t->offset - r->offset) != 0) ||
            (r->lag_s >= 0 && put(buf, n, &k, " lag=%lld s", r->lag_s) != 0))
            return;
    }
}

/* ================================ Sentinels ================================ */

/* copy_text: like copy_field, spaces kept (a reason, a CKQUORUM sentence). */
static void copy_text(char *dst, size_t n, const char *v, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < len && k + 1 < n; i++)
        if (v[i] >= ' ' && v[i] < 0x7f)
            dst[k++] = v[i];
    dst[k] = '\0';
}

void repl_sentinel_init(struct repl_sentinel *v, const char *addr)
{
    memset(v, 0, sizeof *v);
    copy_text(v->addr, sizeof v->addr, addr, strlen(addr));
    v->quorum = v->sentinels = v->replicas = v->quorum_ok = -1;
}

/* str_of: a reply element's string, or NULL. */
static const char *str_of(const redisReply *e)
{
    return e && (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) ? e->str : NULL;
}

void repl_sentinel_parse_master(const redisReply *r, const char *errstr, struct repl_sentinel *v)
{
    char ip[REPL_FIELD_MAX] = "", port[REPL_FIELD_MAX] = "";
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        const char *why = r == NULL ? errstr : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected answer";
        copy_text(v->why, sizeof v->why, why ? why : "no answer", strlen(why ? why : "no answer"));
        return;
    }
    v->up = 1;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *k = str_of(r->element[i]), *x = str_of(r->element[i + 1]);
        if (k == NULL || x == NULL)
            continue;
        const char *end = x + strlen(x);
        if (strcmp(k, "ip") == 0)
            copy_field(ip, x, end);
        else if (strcmp(k, "port") == 0)
            copy_field(port, x, end);
        else if (strcmp(k, "flags") == 0)
            copy_field(v->flags, x, end);
        else if (strcmp(k, "quorum") == 0)
            v->quorum = (int)number(x, -1);
        else if (strcmp(k, "num-slaves") == 0)
            v->replicas = (int)number(x, -1);
        else if (strcmp(k, "num-other-sentinels") == 0 && number(x, -1) >= 0)
            v->sentinels = (int)number(x, -1) + 1;
    }
    if (ip[0])
        snprintf(v->primary, sizeof v->primary, "%.40s:%.16s", ip, port);
}

void repl_sentinel_parse_ckquorum(const redisReply *r, struct repl_sentinel *v)
{
    const char *s = r && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR) ? r->str : NULL;
    if (s == NULL)
        return;
    v->quorum_ok = r->type == REDIS_REPLY_STATUS && strncmp(s, "OK", 2) == 0;
    copy_text(v->why, sizeof v->why, s, strlen(s));
}

/* sentinels_summary: the first answering Sentinel (NULL: none), how many
 * answer, how many find the quorum reachable, and whether every answering
 * one names the same primary with the same quorum and count. */
struct sentinels_sum {
    const struct repl_sentinel *first;
    int answering, quorum_ok, agree;
};

static struct sentinels_sum sentinels_summary(const struct repl_sentinels *t)
{
    struct sentinels_sum m = {NULL, 0, 0, 1};
    for (int i = 0; i < t->n; i++) {
        const struct repl_sentinel *v = &t->node[i];
        if (!v->up)
            continue;
        m.answering++;
        m.quorum_ok += v->quorum_ok == 1;
        if (m.first == NULL)
            m.first = v;
        else if (strcmp(v->primary, m.first->primary) != 0 || v->quorum != m.first->quorum ||
                 v->sentinels != m.first->sentinels)
            m.agree = 0;
    }
    return m;
}

cJSON *repl_sentinels_json(const struct repl_sentinels *t)
{
    struct sentinels_sum m = sentinels_summary(t);
    cJSON *o = cJSON_CreateObject();
    char line[1024];
    repl_sentinels_text(t, line, sizeof line);
    cJSON_AddStringToObject(o, "summary", line);
    cJSON_AddStringToObject(o, "master", t->master);
    cJSON_AddNumberToObject(o, "configured", t->n);
    cJSON_AddNumberToObject(o, "answering", m.answering);
    if (m.first && m.agree && m.first->primary[0])
        cJSON_AddStringToObject(o, "primary", m.first->primary);
    else
        cJSON_AddNullToObject(o, "primary");
    cJSON_AddBoolToObject(o, "agree", m.agree);
    cJSON_AddNumberToObject(o, "quorum", m.first ? m.first->quorum : -1);
    cJSON_AddNumberToObject(o, "known", m.first ? m.first->sentinels : -1);
    cJSON_AddNumberToObject(o, "replicas", m.first ? m.first->replicas : -1);
    cJSON_AddNumberToObject(o, "quorum_ok", m.quorum_ok);
    cJSON *arr = cJSON_AddArrayToObject(o, "nodes");
    for (int i = 0; i < t->n; i++) {
        const struct repl_sentinel *v = &t->node[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "addr", v->addr);
        cJSON_AddBoolToObject(x, "up", v->up);
        if (v->up) {
            cJSON_AddStringToObject(x, "primary", v->primary);
            cJSON_AddStringToObject(x, "flags", v->flags);
            cJSON_AddNumberToObject(x, "quorum", v->quorum);
            cJSON_AddNumberToObject(x, "sentinels", v->sentinels);
            cJSON_AddNumberToObject(x, "replicas", v->replicas);
            if (v->quorum_ok >= 0)
                cJSON_AddBoolToObject(x, "quorum_ok", v->quorum_ok);
        }
        cJSON_AddStringToObject(x, "why", v->why);
        cJSON_AddItemToArray(arr, x);
    }
    return o;
}

void repl_sentinels_text(const struct repl_sentinels *t, char *buf, size_t n)
{
    struct sentinels_sum m = sentinels_summary(t);
    size_t k = 0;
    buf[0] = '\0';
    if (put(buf, n, &k, "master %s: %d of %d Sentinel%s answer", t->master, m.answering, t->n,
            t->n == 1 ? "" : "s") != 0)
        return;
    if (m.first && (put(buf, n, &k, ", primary %s", m.agree ? m.first->primary : "disputed (they disagree)") != 0 ||
                    put(buf, n, &k, ", quorum %d, %d Sentinels known, %d replica%s, CKQUORUM OK on %d",
                        m.first->quorum, m.first->sentinels, m.first->replicas, m.first->replicas == 1 ? "" : "s",
                        m.quorum_ok) != 0))
        return;
    for (int i = 0; i < t->n; i++)
        if (!t->node[i].up && put(buf, n, &k, "; %s not answering: %s", t->node[i].addr, t->node[i].why) != 0)
            return;
}
