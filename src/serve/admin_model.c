/* admin_model.c: the dashboard's reads (see src/serve/admin_model.h). */
#include "admin_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/cluster_topo.h"
#include "redis/key_schema.h"
#include "redis/script_contract.h"
#include "spotify/playback.h"

#define RECENT_ENTRIES 300      /* stream entries read for the users' last tracks */

/* str: a reply's string, or NULL when it is not one. */
static const char *str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? r->str : NULL;
}

static long long num(const redisReply *r)
{
    const char *s = str(r);
    if (r && r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    return s ? strtoll(s, NULL, 10) : 0;
}

static int is_array(const redisReply *r, size_t min)
{
    return r && r->type == REDIS_REPLY_ARRAY && r->elements >= min;
}

static void drop(redisReply *r)
{
    if (r)
        freeReplyObject(r);
}

/* hash_field: the value of field f in an HGETALL reply, or NULL. */
static const char *hash_field(const redisReply *h, const char *f)
{
    for (size_t i = 0; is_array(h, 2) && i + 1 < h->elements; i += 2)
        if (str(h->element[i]) && strcmp(h->element[i]->str, f) == 0)
            return str(h->element[i + 1]);
    return NULL;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

cJSON *admin_model_apps(struct redis_sync *r, const struct sw_config *c)
{
    char key[KEY_MAX];
    cJSON *out = cJSON_CreateArray();
    keys_global(key, sizeof key, c->key_prefix, "apps");
    redisReply *rep = redis_sync_command(r, "SMEMBERS %s", key);
    if (out && is_array(rep, 1)) {
        const char **ids = calloc(rep->elements, sizeof *ids);
        size_t n = 0;
        for (size_t i = 0; ids && i < rep->elements; i++)
            if (str(rep->element[i]) && keys_valid_id(rep->element[i]->str))
                ids[n++] = rep->element[i]->str;
        if (ids)
            qsort(ids, n, sizeof *ids, by_string);
        for (size_t i = 0; ids && i < n; i++)
            cJSON_AddItemToArray(out, cJSON_CreateString(ids[i]));
        free(ids);
    }
    drop(rep);
    return out;
}

cJSON *admin_model_app(struct redis_sync *r, const struct sw_config *c, const char *app, long long now)
{
    struct app_keys k;
    cJSON *a = cJSON_CreateObject();
    keys_app(&k, c->key_prefix, app);
    redisReply *ap = redis_sync_command(r, "HMGET %s budget_30s window_ms", k.app);
    redisReply *rl = redis_sync_command(r, "HMGET %s blocked_until block_reason", k.rl);
    redisReply *st = redis_sync_command(r, "HMGET %s polls errors r429", k.stats);
    redisReply *due = redis_sync_command(r, "ZCARD %s", k.due);
    redisReply *over = redis_sync_command(r, "ZCOUNT %s -inf %lld", k.due, now);
    redisReply *lease = redis_sync_command(r, "ZCARD %s", k.leases);
    cJSON_AddStringToObject(a, "app", app);
    long long budget = c->app_budget_30s, window = 30000;
    if (is_array(ap, 2) && str(ap->element[0]))
        budget = num(ap->element[0]);
    if (is_array(ap, 2) && str(ap->element[1]) && num(ap->element[1]) > 0)
        window = num(ap->element[1]);
    cJSON_AddNumberToObject(a, "budget_30s", (double)budget);
    cJSON_AddNumberToObject(a, "window_ms", (double)window);
    cJSON_AddNumberToObject(a, "scheduled", (double)num(due));
    cJSON_AddNumberToObject(a, "overdue", (double)num(over));
    cJSON_AddNumberToObject(a, "in_flight", (double)num(lease));
    const char *names[] = {"polls", "errors", "r429"};
    for (size_t i = 0; i < 3; i++)
        cJSON_AddNumberToObject(a, names[i], is_array(st, 3) ? (double)num(st->element[i]) : 0);
    long long until = is_array(rl, 2) ? num(rl->element[0]) : 0;
    cJSON_AddNumberToObject(a, "blocked_for_ms", until > now ? (double)(until - now) : 0);
    cJSON_AddStringToObject(a, "block_reason",
                            until > now && is_array(rl, 2) && str(rl->element[1]) ? rl->element[1]->str : "");
    redisReply *rs[] = {ap, rl, st, due, over, lease};
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++)
        drop(rs[i]);
    return a;
}

/* ============================== stream entries ============================ */

cJSON *admin_model_entry(const redisReply *e)
{
    if (!is_array(e, 2) || !str(e->element[0]) || !is_array(e->element[1], 2))
        return NULL;
    const redisReply *f = e->element[1];
    const char *user = hash_field(f, "user"), *type = hash_field(f, "type"), *ev = hash_field(f, "event");
    cJSON *event = ev ? cJSON_Parse(ev) : NULL;
    if (user == NULL || type == NULL || !cJSON_IsObject(event)) {
        cJSON_Delete(event);
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", e->element[0]->str);
    cJSON_AddStringToObject(o, "user", user);
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddItemToObject(o, "event", event);
    return o;
}

void admin_model_track(const cJSON *event, char *out, size_t n)
{
    const cJSON *t = cJSON_GetObjectItem(event, "track");
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(t, "name"));
    size_t o = 0;
    out[0] = '\0';
    if (name == NULL || n == 0)
        return;
    o = (size_t)snprintf(out, n, "%s", name);
    const cJSON *a;
    int first = 1;
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(t, "artists")) {
        if (!cJSON_IsString(a) || o >= n)
            continue;
        o += (size_t)snprintf(out + o, n - o, "%s%s", first ? " \xe2\x80\x94 " : ", ", a->valuestring);
        first = 0;
    }
}

/* recent_tracks: the last track of each user in the app's recent entries,
 * as {"user": "track"} (newest wins). */
static cJSON *recent_tracks(struct redis_sync *r, const struct sw_config *c, const char *app)
{
    struct app_keys k;
    cJSON *m = cJSON_CreateObject();
    keys_app(&k, c->key_prefix, app);
    redisReply *rep = redis_sync_command(r, "XREVRANGE %s + - COUNT %d", k.events, RECENT_ENTRIES);
    for (size_t i = 0; m && is_array(rep, 1) && i < rep->elements; i++) {
        cJSON *e = admin_model_entry(rep->element[i]);
        const char *u = cJSON_GetStringValue(cJSON_GetObjectItem(e, "user"));
        if (u && !cJSON_GetObjectItem(m, u)) {
            char t[512];
            admin_model_track(cJSON_GetObjectItem(e, "event"), t, sizeof t);
            if (t[0] || strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "type")), "playback_stopped") == 0)
                cJSON_AddStringToObject(m, u, t);
        }
        cJSON_Delete(e);
    }
    drop(rep);
    return m;
}

/* ================================== users ================================= */

#define USER_FIELDS "status reason display_name state last_error last_error_at"

/* user_row: one user of the directory from its HMGET (USER_FIELDS) and
 * ZSCORE replies. A user key that is not a hash reads as "broken", as
 * claim.lua sets it aside. */
static cJSON *user_row(const char *user, const char *app, const redisReply *h, const redisReply *due,
                       cJSON *tracks)
{
    cJSON *u = cJSON_CreateObject();
    int ok = is_array(h, 6);
    const char *v[6] = {0};
    for (int i = 0; ok && i < 6; i++)
        v[i] = str(h->element[i]);
    struct pb_state st;
    int playing = v[3] && pb_state_decode(v[3], &st) == 0 && st.known && st.present && st.is_playing;
    if (v[3])
        pb_state_free(&st);
    cJSON_AddStringToObject(u, "user", user);
    cJSON_AddStringToObject(u, "app", app);
    cJSON_AddStringToObject(u, "status", v[0] ? v[0] : h && h->type == REDIS_REPLY_ERROR ? "broken" : "unknown");
    cJSON_AddStringToObject(u, "reason", v[1] ? v[1] : "");
    cJSON_AddStringToObject(u, "display_name", v[2] ? v[2] : "");
    cJSON_AddBoolToObject(u, "playing", playing);
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(tracks, user));
    cJSON_AddStringToObject(u, "track", t ? t : "");
    cJSON_AddStringToObject(u, "last_error", v[4] ? v[4] : "");
    cJSON_AddNumberToObject(u, "last_error_at", v[5] ? (double)strtoll(v[5], NULL, 10) : 0);
    cJSON_AddNumberToObject(u, "next_poll_at", (double)num(due));
    return u;
}

cJSON *admin_model_users(struct redis_sync *r, const struct sw_config *c)
{
    char users[KEY_MAX], ukey[KEY_MAX];
    struct app_keys k;
    cJSON *out = cJSON_CreateArray(), *tracks = cJSON_CreateObject();
    keys_global(users, sizeof users, c->key_prefix, "users");
    redisReply *dir = redis_sync_command(r, "HGETALL %s", users);
    size_t n = is_array(dir, 2) ? dir->elements / 2 : 0;
    /* Each app's recent tracks first: nothing may come between the
     * pipelined commands below and their replies. */
    for (size_t i = 0; i < n; i++) {
        const char *a = str(dir->element[2 * i + 1]);
        if (a && keys_valid_id(a) && !cJSON_GetObjectItem(tracks, a))
            cJSON_AddItemToObject(tracks, a, recent_tracks(r, c, a));
    }
    /* Pipelined: two commands per user, one round trip per batch. */
    for (size_t i = 0; i < n; i++) {
        const char *u = str(dir->element[2 * i]), *a = str(dir->element[2 * i + 1]);
        keys_user(ukey, sizeof ukey, c->key_prefix, a ? a : "", u ? u : "");
        keys_app(&k, c->key_prefix, a ? a : "");
        redis_sync_append(r, "HMGET %s " USER_FIELDS, ukey);
        redis_sync_append(r, "ZSCORE %s %s", k.due, u ? u : "");
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *h = NULL, *due = NULL;
        if (redis_sync_get_reply(r, (void **)&h) != REDIS_OK || redis_sync_get_reply(r, (void **)&due) != REDIS_OK) {
            drop(h);
            break;
        }
        const char *u = str(dir->element[2 * i]), *a = str(dir->element[2 * i + 1]);
        if (u && a && keys_valid_id(u) && keys_valid_id(a))
            cJSON_AddItemToArray(out, user_row(u, a, h, due, cJSON_GetObjectItem(tracks, a)));
        drop(h);
        drop(due);
    }
    drop(dir);
    cJSON_Delete(tracks);
    return out;
}

/* secret_or_lock: fields the dashboard never shows (tokens) or that mean
 * nothing to an operator (the refresh lock). */
static int secret_or_lock(const char *f)
{
    return strcmp(f, "access_token") == 0 || strcmp(f, "refresh_token") == 0 ||
           strcmp(f, "refresh_until") == 0 || strcmp(f, "refresh_fence") == 0;
}

/* add_str: a field as the dashboard shows it, a string (sc_user_fill). */
static void add_str(cJSON *fields, const char *name, const char *value)
{
    cJSON_AddStringToObject(fields, name, value);
}

cJSON *admin_model_user(struct redis_sync *r, const struct sw_config *c, const char *user, int max)
{
    char users[KEY_MAX], ukey[KEY_MAX];
    struct app_keys k;
    keys_global(users, sizeof users, c->key_prefix, "users");
    redisReply *own = redis_sync_command(r, "HGET %s %s", users, user);
    const char *app = str(own);
    if (app == NULL || !keys_valid_id(app)) {
        drop(own);
        return NULL;
    }
    keys_app(&k, c->key_prefix, app);
    keys_user(ukey, sizeof ukey, c->key_prefix, app, user);
    cJSON *u = cJSON_CreateObject(), *f = cJSON_CreateObject(), *ev = cJSON_CreateArray();
    cJSON_AddStringToObject(u, "user", user);
    cJSON_AddStringToObject(u, "app", app);
    redisReply *h = redis_sync_command(r, "HGETALL %s", ukey);
    for (size_t i = 0; is_array(h, 2) && i + 1 < h->elements; i += 2) {
        const char *name = str(h->element[i]), *v = str(h->element[i + 1]);
        if (name && v && !secret_or_lock(name))
            cJSON_AddStringToObject(f, name, v);
    }
    if (is_array(h, 2))
        sc_user_fill(f, app, add_str);   /* what the hash leaves out at its default */
    const char *exp = hash_field(h, "expires_at"), *auth = hash_field(h, "authorized_at");
    cJSON_AddNumberToObject(u, "access_expires_at", exp ? (double)strtoll(exp, NULL, 10) : 0);
    cJSON_AddNumberToObject(u, "refresh_expires_at",
                            auth ? (double)(strtoll(auth, NULL, 10) + ADMIN_REFRESH_LIFETIME_MS) : 0);
    cJSON_AddItemToObject(u, "fields", f);
    redisReply *due = redis_sync_command(r, "ZSCORE %s %s", k.due, user);
    redisReply *lease = redis_sync_command(r, "ZSCORE %s %s", k.leases, user);
    cJSON_AddNumberToObject(u, "next_poll_at", (double)num(due));
    cJSON_AddBoolToObject(u, "in_flight", str(lease) != NULL);
    /* The stream is the app's: the user's entries among its recent ones. */
    redisReply *s = redis_sync_command(r, "XREVRANGE %s + - COUNT %d", k.events, RECENT_ENTRIES * 4);
    for (size_t i = 0; is_array(s, 1) && i < s->elements && cJSON_GetArraySize(ev) < max; i++) {
        cJSON *e = admin_model_entry(s->element[i]);
        if (e && strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "user")), user) == 0)
            cJSON_AddItemToArray(ev, e);
        else
            cJSON_Delete(e);
    }
    cJSON_AddItemToObject(u, "events", ev);
    redisReply *rs[] = {own, h, due, lease, s};
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++)
        drop(rs[i]);
    return u;
}

/* ============================ workers and Redis =========================== */

cJSON *admin_model_workers(struct redis_sync *r, const struct sw_config *c, long long now)
{
    char wkey[KEY_MAX];
    cJSON *out = cJSON_CreateArray();
    keys_global(wkey, sizeof wkey, c->key_prefix, "workers");
    redisReply *rep = redis_sync_command(r, "ZRANGEBYSCORE %s %lld +inf", wkey, now);
    for (size_t i = 0; is_array(rep, 1) && i < rep->elements; i++) {
        const char *id = str(rep->element[i]);
        if (id == NULL)
            continue;
        cJSON *w = cJSON_CreateObject();
        cJSON_AddStringToObject(w, "id", id);
        redisReply *h = redis_sync_command(r, "HGETALL %sworker:%s", c->key_prefix, id);
        for (size_t j = 0; is_array(h, 2) && j + 1 < h->elements; j += 2) {
            const char *f = str(h->element[j]), *v = str(h->element[j + 1]);
            if (f && v && strstr(f, "_hist") == NULL && !cJSON_GetObjectItem(w, f))
                cJSON_AddStringToObject(w, f, v);
        }
        drop(h);
        cJSON_AddItemToArray(out, w);
    }
    drop(rep);
    return out;
}

/* info_field copies the value of "name:" in an INFO text (to the line's end). */
static void info_field(cJSON *o, const char *info, const char *name)
{
    char pat[64], val[128];
    snprintf(pat, sizeof pat, "\n%s:", name);
    const char *p = info ? strstr(info, pat) : NULL;
    if (p == NULL)
        return;
    p += strlen(pat);
    size_t n = strcspn(p, "\r\n");
    snprintf(val, sizeof val, "%.*s", (int)(n < sizeof val ? n : sizeof val - 1), p);
    cJSON_AddStringToObject(o, name, val);
}

cJSON *admin_model_redis(struct redis_sync *r, const struct sw_config *c)
{
    char why[256];
    cJSON *topo, *o = cJSON_CreateObject();
    const char *sections[] = {"memory", "replication", "server", "cluster"};
    const char *fields[][3] = {{"used_memory_human", "maxmemory_human", NULL},
                               {"role", "connected_slaves", NULL},
                               {"redis_version", NULL, NULL},
                               {"cluster_enabled", NULL, NULL}};
    for (size_t i = 0; i < 4; i++) {
        redisReply *rep = redis_sync_command(r, "INFO %s", sections[i]);
        for (size_t j = 0; j < 3 && fields[i][j]; j++)
            info_field(o, str(rep), fields[i][j]);
        drop(rep);
    }
    if (redis_sync_single(r) == NULL && (topo = cluster_topo_fetch(r, c->key_prefix, why, sizeof why)) != NULL) {
        double used;
        cJSON_AddNumberToObject(o, "nodes", redis_sync_used_memory(r, &used));
        cJSON_AddNumberToObject(o, "used_memory", used);
        cJSON_AddItemToObject(o, "cluster", topo);
    }
    return o;
}

double admin_model_polls(struct redis_sync *r, const struct sw_config *c, const char *app)
{
    struct app_keys k;
    keys_app(&k, c->key_prefix, app);
    redisReply *rep = redis_sync_command(r, "HGET %s polls", k.stats);
    double v = (double)num(rep);
    drop(rep);
    return v;
}
