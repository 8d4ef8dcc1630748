/* status.c: `spotwatch status [--json]`: the workers, the users by status,
 * each app's schedule, limiter and counters, and what Redis says of itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include "redis/cluster_map.h"
#include "redis/cluster_topo.h"
#include "redis/repl_info.h"
#include "redis/redis_sentinel.h"
#include "cli/cli.h"
#include "cli_int.h"
#include "redis/redis_sync.h"

#define NEAR_EXPIRY_LIST 20     /* users named by status (all are counted) */
#define REFUSED_MAX 256         /* the first refusal's text, kept to print */

/* status_refused keeps (in why, n bytes) the first refusal among status'
 * reads: NOPERM (an ACL that lacks a command, key or channel) or NOAUTH. A
 * refused read would otherwise show as a zero, and a refused TIME as a
 * clock at 0 (blocks of decades, dead workers live). WRONGTYPE is not one:
 * a user key that is not a hash is counted as broken. */
static void status_refused(const redisReply *rep, char *why, size_t n)
{
    if (rep && rep->type == REDIS_REPLY_ERROR && !why[0] &&
        (strncmp(rep->str, "NOPERM", 6) == 0 || strncmp(rep->str, "NOAUTH", 6) == 0))
        snprintf(why, n, "%s", rep->str);
}

/* rl_int: the rl hash's field f as a number (0 when absent). */
static long long rl_int(const redisReply *rl, const char *f)
{
    for (size_t i = 0; rl && rl->type == REDIS_REPLY_ARRAY && i + 1 < rl->elements; i += 2)
        if (rl->element[i]->str && strcmp(rl->element[i]->str, f) == 0 && rl->element[i + 1]->str)
            return strtoll(rl->element[i + 1]->str, NULL, 10);
    return 0;
}

/* status_pace: the developer's 24 h quota as the app last copied it from
 * the ledger (lua/allowance.lua, at most a few seconds old while the app
 * works): the count, the limit (configured or learned), the pace it implies
 * (calls left, time left in the window, interval per user) and the
 * QUOTA_EXCEEDED blocks per endpoint bucket. */
static void status_pace(cJSON *limit, const redisReply *rl, long long now)
{
    static const char *const buckets[] = {"player", "recent", "me", "token", "other"};
    long long used = rl_int(rl, "dev_used"), lim = rl_int(rl, "dev_limit"), synced = rl_int(rl, "dev_synced_at");
    long long left_ms = rl_int(rl, "dev_left_ms") - (synced > 0 ? now - synced : 0);
    cJSON_AddNumberToObject(limit, "quota_used_24h", (double)used);
    if (lim > 0) {
        cJSON *p = cJSON_AddObjectToObject(limit, "pace");
        cJSON_AddNumberToObject(p, "limit", (double)lim);
        cJSON_AddNumberToObject(p, "calls_left", (double)(lim > used ? lim - used : 0));
        cJSON_AddNumberToObject(p, "hours_left", (double)(left_ms > 0 ? left_ms : 0) / 3600000.0);
        cJSON_AddNumberToObject(p, "interval_ms", (double)rl_int(rl, "pace_ms"));
        cJSON_AddNumberToObject(p, "as_of_ms_ago", (double)(synced > 0 ? now - synced : -1));
        if (used >= lim && !cJSON_GetObjectItem(limit, "blocked_for_ms"))
            cJSON_ReplaceItemInObject(limit, "state", cJSON_CreateString("quota_spent"));
    }
    if (rl_int(rl, "quota_until") > now && !cJSON_GetObjectItem(limit, "blocked_for_ms"))
        cJSON_ReplaceItemInObject(limit, "state", cJSON_CreateString("quota_spent"));
    cJSON *qb = NULL;
    for (size_t i = 0; i < sizeof buckets / sizeof buckets[0]; i++) {
        char f[32];
        snprintf(f, sizeof f, "qblock_%s", buckets[i]);
        long long until = rl_int(rl, f);
        if (until <= now)
            continue;
        if (qb == NULL)
            qb = cJSON_AddObjectToObject(limit, "quota_blocked_ms");
        cJSON_AddNumberToObject(qb, buckets[i], (double)(until - now));
    }
}

static cJSON *status_app(struct redis_sync *r, const struct sw_config *c, const char *app, long long now, char *why)
{
    struct app_keys k;
    keys_app(&k, c->key_prefix, app);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "app", app);
    redisReply *due = redis_sync_command(r, "ZCARD %s", k.due);
    redisReply *over = redis_sync_command(r, "ZCOUNT %s -inf %lld", k.due, now);
    redisReply *oldest = redis_sync_command(r, "ZRANGE %s 0 0 WITHSCORES", k.due);
    redisReply *leases = redis_sync_command(r, "ZCARD %s", k.leases);
    redisReply *rl = redis_sync_command(r, "HGETALL %s", k.rl);
    redisReply *st = redis_sync_command(r, "HGETALL %s", k.stats);
    redisReply *ap = redis_sync_command(r, "HMGET %s mode budget_30s quota_24h window_ms developer client_id", k.app);
    cJSON_AddNumberToObject(a, "scheduled", due && due->type == REDIS_REPLY_INTEGER ? (double)due->integer : 0);
    cJSON_AddNumberToObject(a, "overdue", over && over->type == REDIS_REPLY_INTEGER ? (double)over->integer : 0);
    cJSON_AddNumberToObject(a, "in_flight", leases && leases->type == REDIS_REPLY_INTEGER ? (double)leases->integer : 0);
    long long lag = 0;
    if (oldest && oldest->type == REDIS_REPLY_ARRAY && oldest->elements == 2) {
        lag = now - strtoll(oldest->element[1]->str, NULL, 10);
        if (lag < 0)
            lag = 0;
    }
    cJSON_AddNumberToObject(a, "schedule_lag_ms", (double)lag);
    long long budget = c->app_budget_30s, window = 30000, quota = 0;
    if (ap && ap->type == REDIS_REPLY_ARRAY && ap->elements == 6) {
        cJSON_AddStringToObject(a, "mode", ap->element[0]->str ? ap->element[0]->str : "");
        if (ap->element[1]->str)
            budget = strtoll(ap->element[1]->str, NULL, 10);
        quota = ap->element[2]->str ? strtoll(ap->element[2]->str, NULL, 10) : c->app_quota_24h;
        if (ap->element[0]->str == NULL || strcmp(ap->element[0]->str, "development") != 0)
            quota = 0;   /* as claim.lua: only development mode has the 24 h quota */
        cJSON_AddNumberToObject(a, "quota_24h", (double)quota);
        if (ap->element[3]->str)
            window = strtoll(ap->element[3]->str, NULL, 10);
        const char *dev = ap->element[4]->str ? ap->element[4]->str : ap->element[5]->str;
        if (dev)
            cJSON_AddStringToObject(a, "developer", dev);
    }
    cJSON_AddNumberToObject(a, "budget_30s", (double)budget);
    cJSON_AddBoolToObject(a, "budget_unlimited", budget <= 0);
    cJSON_AddNumberToObject(a, "window_ms", (double)window);
    double eff = (double)budget;
    cJSON *limit = cJSON_AddObjectToObject(a, "limiter");
    cJSON_AddStringToObject(limit, "state", "ok");
    for (size_t i = 0; rl && rl->type == REDIS_REPLY_ARRAY && i + 1 < rl->elements; i += 2) {
        const char *f = rl->element[i]->str, *v = rl->element[i + 1]->str;
        if (strcmp(f, "budget_eff") == 0)
            eff = atof(v);
        else if (strcmp(f, "budget_ceiling") == 0)
            cJSON_AddNumberToObject(limit, f, atof(v));
        else if (strcmp(f, "blocked_until") == 0 && strtoll(v, NULL, 10) > now) {
            cJSON_ReplaceItemInObject(limit, "state", cJSON_CreateString("blocked"));
            cJSON_AddNumberToObject(limit, "blocked_for_ms", (double)(strtoll(v, NULL, 10) - now));
        } else if (strcmp(f, "block_reason") == 0 || strcmp(f, "retry_after_capped_at") == 0 ||
                   strcmp(f, "blocked_at") == 0) {
            cli_json_field(limit, f, v);
        }
    }
    cJSON *bs = cJSON_GetObjectItem(limit, "block_reason");
    if (cJSON_GetObjectItem(limit, "blocked_for_ms") && bs && cJSON_IsString(bs) &&
        strcmp(bs->valuestring, "rate_limited") != 0)
        cJSON_ReplaceItemInObject(limit, "state", cJSON_CreateString(bs->valuestring));
    status_pace(limit, rl, now);
    cJSON_AddNumberToObject(a, "budget_effective_30s", eff);
    cJSON *stats = cJSON_AddObjectToObject(a, "stats");
    for (size_t i = 0; st && st->type == REDIS_REPLY_ARRAY && i + 1 < st->elements; i += 2)
        cJSON_AddNumberToObject(stats, st->element[i]->str, atof(st->element[i + 1]->str));
    redisReply *rs[] = {due, over, oldest, leases, rl, st, ap};
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
        status_refused(rs[i], why, REFUSED_MAX);
        if (rs[i])
            freeReplyObject(rs[i]);
    }
    return a;
}

/* status_users counts users by status; near gets {"count","users"}: the
 * users (not already reauth_required) whose refresh token dies within
 * CLI_REFRESH_WARN_MS, from the same pipelined HMGET. */
static cJSON *status_users(struct redis_sync *r, const struct sw_config *c, long long now, cJSON *near, char *why)
{
    char users[KEY_MAX], ukey[KEY_MAX];
    cJSON *by = cJSON_CreateObject();
    cJSON *near_users = cJSON_CreateArray();
    int nnear = 0;
    keys_global(users, sizeof users, c->key_prefix, "users");
    redisReply *rep = redis_sync_command(r, "HGETALL %s", users);
    status_refused(rep, why, REFUSED_MAX);
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY)
        goto out;
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        keys_user(ukey, sizeof ukey, c->key_prefix, rep->element[i + 1]->str, rep->element[i]->str);
        redis_sync_append(r, "HMGET %s status authorized_at", ukey);
    }
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        redisReply *s = NULL;
        if (redis_sync_get_reply(r, (void **)&s) != REDIS_OK)
            break;
        status_refused(s, why, REFUSED_MAX);
        int ok = s && s->type == REDIS_REPLY_ARRAY && s->elements == 2;
        /* A user key that is not a hash (WRONGTYPE) counts as broken, as
         * claim.lua sets it aside (lua/lib/guard.lua). */
        const char *st = ok && s->element[0]->type == REDIS_REPLY_STRING ? s->element[0]->str
                         : s && s->type == REDIS_REPLY_ERROR              ? "broken"
                                                                         : "unknown";
        long long auth_at = ok && s->element[1]->type == REDIS_REPLY_STRING ? strtoll(s->element[1]->str, NULL, 10) : 0;
        if (auth_at > 0 && auth_at + CLI_REFRESH_LIFETIME_MS - now < CLI_REFRESH_WARN_MS &&
            strcmp(st, "reauth_required") != 0) {
            if (nnear++ < NEAR_EXPIRY_LIST)
                cJSON_AddItemToArray(near_users, cJSON_CreateString(rep->element[i]->str));
        }
        cJSON *n = cJSON_GetObjectItem(by, st);
        if (n)
            cJSON_SetNumberValue(n, n->valuedouble + 1);
        else
            cJSON_AddNumberToObject(by, st, 1);
        if (s)
            freeReplyObject(s);
    }
out:
    cJSON_AddNumberToObject(near, "count", nnear);
    cJSON_AddItemToObject(near, "users", near_users);
    if (rep)
        freeReplyObject(rep);
    return by;
}

static cJSON *status_workers(struct redis_sync *r, const struct sw_config *c, long long now, char *why)
{
    char wkey[KEY_MAX];
    cJSON *arr = cJSON_CreateArray();
    keys_global(wkey, sizeof wkey, c->key_prefix, "workers");
    redisReply *rep = redis_sync_command(r, "ZRANGEBYSCORE %s %lld +inf", wkey, now);
    redisReply *gc = redis_sync_command(r, "ZREMRANGEBYSCORE %s -inf %lld", wkey, now - 60000);
    status_refused(rep, why, REFUSED_MAX);
    status_refused(gc, why, REFUSED_MAX);
    if (gc)
        freeReplyObject(gc);
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        cJSON *w = cJSON_CreateObject();
        cJSON_AddStringToObject(w, "id", rep->element[i]->str);
        redisReply *h = redis_sync_command(r, "HGETALL %sworker:%s", c->key_prefix, rep->element[i]->str);
        status_refused(h, why, REFUSED_MAX);
        for (size_t j = 0; h && h->type == REDIS_REPLY_ARRAY && j + 1 < h->elements; j += 2)
            cli_json_field(w, h->element[j]->str, h->element[j + 1]->str);
        if (h)
            freeReplyObject(h);
        cJSON_AddItemToArray(arr, w);
    }
    if (rep)
        freeReplyObject(rep);
    return arr;
}

/* num reads a number member; absent counters are zero, not NaN. */
static double num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* status_print_pace: the developer quota's part of an app's status line. */
static void status_print_pace(const cJSON *it, const cJSON *lim)
{
    char e[CLI_ESC_MAX];
    const cJSON *p = cJSON_GetObjectItem(lim, "pace"), *qb = cJSON_GetObjectItem(lim, "quota_blocked_ms"), *b;
    if (p)
        printf(" quota=%.0f/%.0f (developer %s) pace: calls_left=%.0f hours_left=%.2f interval=%.1fs",
               num(lim, "quota_used_24h"), num(p, "limit"),
               cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(it, "developer")), e, sizeof e),
               num(p, "calls_left"), num(p, "hours_left"), num(p, "interval_ms") / 1000);
    else if (num(it, "quota_24h") > 0)
        printf(" quota=%.0f/%.0f per 24h", num(lim, "quota_used_24h"), num(it, "quota_24h"));
    cJSON_ArrayForEach(b, qb)
        printf(" quota_exceeded[%s] (for %.0f s)", cli_esc(b->string, e, sizeof e), b->valuedouble / 1000);
}

/* LISTPACK_ADVICE: the hash-max-listpack-value below which sealed tokens
 * (about 190 bytes for Spotify's access tokens, binary) make every user hash a
 * hashtable, about twice the memory (tests/bench, scenario 5). */
#define LISTPACK_ADVICE 512

/* status_redis: what the server says of itself that bears on spotwatch.
 * CONFIG may be refused (managed Redis, ACLs): the setting is then left out. */
static cJSON *status_redis(struct redis_sync *r, const struct sw_config *c)
{
    cJSON *o = cJSON_CreateObject();
    double used;
    redisReply *rep;

    if (redis_sync_used_memory(r, &used) > 0)   /* in a cluster: the sum over the primaries */
        cJSON_AddNumberToObject(o, "used_memory", used);
    rep = redis_sync_command(r, "CONFIG GET hash-max-listpack-value");
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[1]->str)
        cJSON_AddNumberToObject(o, "hash_max_listpack_value", strtod(rep->element[1]->str, NULL));
    if (rep)
        freeReplyObject(rep);
    /* The topology (README "What a failover may lose"); left out when
     * INFO replication is refused. */
    struct repl_info t;
    char why[256];
    if (redis_sync_single(r) && repl_info_fetch(redis_sync_single(r), &t, why, sizeof why) == 0)
        cJSON_AddItemToObject(o, "replication", repl_info_json(&t));
    /* With Sentinel, what each Sentinel sees (README "Sentinel"). */
    struct repl_sentinels *sv = malloc(sizeof *sv);
    if (sv && redis_sentinel_describe(c, sv, why, sizeof why) == 0)
        cJSON_AddItemToObject(o, "sentinels", repl_sentinels_json(sv));
    free(sv);
    return o;
}

/* status_print_topology: "topology: primary, 1 replica: ..." from the JSON
 * (every string escaped: it comes from Redis). */
static void status_print_topology(const cJSON *t)
{
    char e[2][CLI_ESC_MAX];
    const cJSON *it;
    if (t == NULL)
        return;
    printf("topology: %s", cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(t, "role")), e[0], sizeof e[0]));
    if (cJSON_GetObjectItem(t, "primary"))
        printf(" of %s (link %s)", cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(t, "primary")), e[0], sizeof e[0]),
               cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(t, "link")), e[1], sizeof e[1]));
    printf(", %.0f replica%s", num(t, "connected_replicas"), num(t, "connected_replicas") == 1 ? "" : "s");
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(t, "replicas")) {
        printf("\n  replica %s %s", cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(it, "addr")), e[0], sizeof e[0]),
               cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(it, "state")), e[1], sizeof e[1]));
        if (cJSON_GetObjectItem(it, "offset_lag"))
            printf(" offset_lag=%.0f B", num(it, "offset_lag"));
        printf(" lag=%.0f s", num(it, "lag_s"));
    }
    printf("\n");
}

/* status_print_sentinels: "sentinels: master ...: 3 of 3 Sentinels answer,
 * ..." then one line per Sentinel, from the JSON (escaped: their answers
 * come from the network). */
static void status_print_sentinels(const cJSON *t)
{
    char e[4][CLI_ESC_MAX];
    const cJSON *it;
    if (t == NULL)
        return;
    printf("sentinels: %s\n", cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(t, "summary")), e[0], sizeof e[0]));
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(t, "nodes")) {
        const char *addr = cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(it, "addr")), e[0], sizeof e[0]);
        const char *why = cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(it, "why")), e[1], sizeof e[1]);
        if (!cJSON_IsTrue(cJSON_GetObjectItem(it, "up"))) {
            printf("  sentinel %s not answering: %s\n", addr, why);
            continue;
        }
        printf("  sentinel %s: primary %s (%s), quorum %.0f, %.0f Sentinels, %.0f replica%s; %s\n", addr,
               cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(it, "primary")), e[2], sizeof e[2]),
               cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(it, "flags")), e[3], sizeof e[3]),
               num(it, "quorum"), num(it, "sentinels"), num(it, "replicas"), num(it, "replicas") == 1 ? "" : "s", why);
    }
}

int cli_status(const struct sw_config *c, struct cli_args *a)
{
    struct cli_opt *o = a->o;
    char apps[KEY_MAX], why[REFUSED_MAX] = "";
    struct redis_sync *r;
    long long now;
    if ((r = cli_connect(c)) == NULL)
        return 1;
    /* Every figure below is relative to Redis' clock: without it, none. */
    if (redis_sync_time_ms(r, &now, why, sizeof why) != 0) {
        fprintf(stderr, "spotwatch: status: cannot read Redis' clock (TIME): %s\n", why);
        redis_sync_free(r);
        return 1;
    }
    cJSON *s = cJSON_CreateObject();
    cli_json_time(s, "now_ms", now);
    cJSON *rd = status_redis(r, c);
    cJSON_AddItemToObject(s, "redis", rd);
    /* Cluster mode: the nodes and each app's primary (single-node: absent). */
    cJSON *topo = cluster_topo_fetch(r, c->key_prefix, why, sizeof why);
    if (topo)
        cJSON_AddItemToObject(rd, "cluster", topo);
    cJSON_AddItemToObject(s, "workers", status_workers(r, c, now, why));
    cJSON *near = cJSON_CreateObject();
    cJSON_AddItemToObject(s, "users", status_users(r, c, now, near, why));
    cJSON_AddItemToObject(s, "refresh_tokens_near_expiry", near);
    cJSON *arr = cJSON_AddArrayToObject(s, "apps");
    keys_global(apps, sizeof apps, c->key_prefix, "apps");
    redisReply *rep = redis_sync_command(r, "SMEMBERS %s", apps);
    status_refused(rep, why, REFUSED_MAX);
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
        cJSON_AddItemToArray(arr, status_app(r, c, rep->element[i]->str, now, why));
    if (rep)
        freeReplyObject(rep);
    if (!why[0] && redis_sync_err(r))
        snprintf(why, sizeof why, "Redis link lost: %s", redis_sync_errstr(r));
    redis_sync_free(r);
    /* A refused or lost read would print as zeros: say what happened instead. */
    if (why[0]) {
        fprintf(stderr, "spotwatch: status: %s\n", why);
        cJSON_Delete(s);
        return 1;
    }
    if (o[0].value)
        return cli_print_json(s);

    /* Every name below comes from Redis: printed escaped (cli_esc). */
    char e[4][CLI_ESC_MAX];
    cJSON *it;
    printf("redis: used_memory=%.1f MB", num(rd, "used_memory") / 1e6);
    if (cJSON_GetObjectItem(rd, "hash_max_listpack_value")) {
        double lp = num(rd, "hash_max_listpack_value");
        printf(" hash-max-listpack-value=%.0f", lp);
        if (lp < LISTPACK_ADVICE)
            printf(" (below %d: sealed tokens make each user hash a hashtable, about twice the memory;"
                   " see README, Memory)", LISTPACK_ADVICE);
    }
    printf("\n");
    status_print_topology(cJSON_GetObjectItem(rd, "replication"));
    status_print_sentinels(cJSON_GetObjectItem(rd, "sentinels"));
    if (cJSON_GetObjectItem(rd, "cluster")) {
        /* cluster_topo_text writes printable ASCII only. */
        char topo_text[8192];
        cluster_topo_text(cJSON_GetObjectItem(rd, "cluster"), topo_text, sizeof topo_text);
        fputs(topo_text, stdout);
    }
    printf("workers: %d live\n", cJSON_GetArraySize(cJSON_GetObjectItem(s, "workers")));
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(s, "workers"))
        printf("  %s  polls=%.0f inflight=%.0f connections=%.0f\n",
               cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(it, "id")), e[0], sizeof e[0]), num(it, "polls"),
               num(it, "inflight"), num(it, "connections"));
    printf("users:");
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(s, "users"))
        printf(" %s=%.0f", cli_esc(it->string, e[0], sizeof e[0]), it->valuedouble);
    printf("\n");
    if (cJSON_GetNumberValue(cJSON_GetObjectItem(near, "count")) > 0) {
        printf("refresh tokens near expiry: %.0f (reconnect them):",
               cJSON_GetNumberValue(cJSON_GetObjectItem(near, "count")));
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(near, "users"))
            printf(" %s", cli_esc(it->valuestring, e[0], sizeof e[0]));
        printf("\n");
    }
    cJSON_ArrayForEach(it, arr) {
        cJSON *lim = cJSON_GetObjectItem(it, "limiter"), *st = cJSON_GetObjectItem(it, "stats");
        char bu[48], eff[48] = "";
        if (num(it, "budget_30s") > 0)
            snprintf(eff, sizeof eff, " effective=%.1f", num(it, "budget_effective_30s"));
        printf("app %s: scheduled=%.0f in_flight=%.0f overdue=%.0f lag=%.0fms budget=%s%s limiter=%s",
               cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(it, "app")), e[0], sizeof e[0]),
               num(it, "scheduled"),
               num(it, "in_flight"),
               num(it, "overdue"),
               num(it, "schedule_lag_ms"),
               cli_budget((long long)num(it, "budget_30s"), (long long)num(it, "window_ms"), bu, sizeof bu), eff,
               cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(lim, "state")), e[1], sizeof e[1]));
        if (cJSON_GetObjectItem(lim, "blocked_for_ms"))
            printf(" (for %.0f s)", num(lim, "blocked_for_ms") / 1000);
        if (cJSON_GetObjectItem(lim, "retry_after_capped_at"))
            printf(" [a Retry-After was capped]");
        status_print_pace(it, lim);
        printf("\n  polls=%.0f errors=%.0f 429s=%.0f\n", num(st, "polls"),
               num(st, "errors"),
               num(st, "r429"));
    }
    cJSON_Delete(s);
    return 0;
}

