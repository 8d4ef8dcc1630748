/* app.c: `spotwatch app add|ls|unblock`: the Spotify apps (client
 * credentials, budget, quota, window) and their limiter's block. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include "cli/cli.h"
#include "cli_int.h"
#include "base/crypto.h"
#include "base/secret_input.h"
#include "redis/cluster_map.h"
#include "redis/redis_sync.h"
#include "worker/worker.h"

/* APP_DEV_MAX_USERS: the users Spotify lets a development-mode app created
 * since 2026 allowlist (older ones keep 25: say so with --max-users 25). */
#define APP_DEV_MAX_USERS 5

/* app_set_cap stores the app's user cap (max_users, lua/lib/user_cap.lua):
 * max_users when given (>= 0; 0 = no cap); else APP_DEV_MAX_USERS for a new
 * development-mode app, none for an extended one (Spotify caps only
 * development mode), and an existing development app keeps its own. 0 or
 * -1 (reported). */
static int app_set_cap(struct redis_sync *r, const char *appkey, const char *mode, int is_new, long long max_users)
{
    char num[24];
    int dev = strcmp(mode, "development") == 0;

    if (max_users < 0 && dev && is_new)
        max_users = APP_DEV_MAX_USERS;
    if (max_users > 0) {
        snprintf(num, sizeof num, "%lld", max_users);
        const char *h[] = {"HSET", appkey, "max_users", num};
        return cli_cmd_ok(r, 4, h);
    }
    if (max_users == 0 || !dev) {
        const char *d[] = {"HDEL", appkey, "max_users"};
        return cli_cmd_ok(r, 3, d);
    }
    return 0;
}

/* app_members_backfill puts the app's users, as the directory names them,
 * in its member set <p>{<app>}:members (the set the user cap counts), for
 * users stored before the set existed: only those whose user hash exists
 * (an entry left by a crash between the directory claim and the script is
 * no user). Idempotent; one pipelined EXISTS per entry. 0 or -1 (said). */
static int app_members_backfill(struct redis_sync *r, const struct sw_config *c, const char *app,
                                const struct app_keys *k)
{
    char users[KEY_MAX], ukey[KEY_MAX];
    keys_global(users, sizeof users, c->key_prefix, "users");
    const char *hg[] = {"HGETALL", users};
    redisReply *dir = cli_cmd(r, 2, hg);
    int rc = 0;
    if (dir == NULL)
        return -1;
    size_t n = dir->type == REDIS_REPLY_ARRAY ? dir->elements / 2 : 0;
    char *have = calloc(n + 1, 1);   /* have[i]: entry i's user hash exists */
    if (have == NULL) {
        freeReplyObject(dir);
        fprintf(stderr, "spotwatch: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *v = dir->element[2 * i + 1];
        if (v->type == REDIS_REPLY_STRING && strcmp(v->str, app) == 0) {
            keys_user(ukey, sizeof ukey, c->key_prefix, app, dir->element[2 * i]->str);
            redis_sync_append(r, "EXISTS %s", ukey);
        }
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *v = dir->element[2 * i + 1];
        redisReply *e = NULL;
        if (v->type != REDIS_REPLY_STRING || strcmp(v->str, app) != 0)
            continue;
        if (redis_sync_get_reply(r, (void **)&e) != REDIS_OK) {
            fprintf(stderr, "spotwatch: Redis: %s\n", redis_sync_errstr(r));
            rc = -1;
            break;
        }
        have[i] = e->type == REDIS_REPLY_INTEGER && e->integer == 1;
        freeReplyObject(e);
    }
    /* Every reply read: plain commands again. */
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *sa[] = {"SADD", k->members, dir->element[2 * i]->str};
        if (have[i] && cli_cmd_ok(r, 3, sa) != 0)
            rc = -1;
    }
    free(have);
    freeReplyObject(dir);
    return rc;
}

int cli_app_add(const struct sw_config *c, struct cli_args *a)
{
    struct cli_opt *o = a->o;
    const struct cli_secret sp[1] = {{&o[1], &o[6]}};
    const char **pos = a->pos;
    struct crypto_keyring *kr = NULL;
    struct redis_sync *r = NULL;
    char *secret = NULL, *sealed = NULL, err[256], ad[ID_MAX + 8], appkey[KEY_MAX], apps[KEY_MAX];
    long long budget = -1, quota = -1, window = -1, max_users = -1, qwindow = -1;
    int rc = 1;

    if (!o[0].value)
        return cli_missing(a, "--client-id");
    if (!o[1].value == !o[6].value)
        return cli_missing(a, o[1].value ? "one secret (--client-secret and --client-secret-file both given)"
                                         : "--client-secret-file (or --client-secret)");
    const char *mode = o[2].value ? o[2].value : "development";
    if (cli_check_id("app", pos[0]) != 0)
        return 2;
    if (strcmp(mode, "development") != 0 && strcmp(mode, "extended") != 0) {
        fprintf(stderr, "spotwatch: --mode must be development or extended, not '%s'\n", mode);
        return 2;
    }
    if ((o[3].value && cli_parse_ll("--budget", o[3].value, 0, 1000000, &budget) != 0) ||
        (o[4].value && cli_parse_ll("--quota", o[4].value, 0, 100000000, &quota) != 0) ||
        (o[5].value && cli_parse_ll("--window-ms", o[5].value, 100, 86400000, &window) != 0) ||
        (o[7].value && cli_parse_ll("--max-users", o[7].value, 0, 100000000, &max_users) != 0) ||
        (o[9].value && cli_parse_ll("--quota-window-ms", o[9].value, 24000, 86400000, &qwindow) != 0))
        return 2;
    /* The developer account whose 24 h quota the app shares (its ledger's
     * hash tag): by default the app's own client id. */
    const char *developer = o[8].value ? o[8].value : o[0].value;
    if (cli_check_id("developer", developer) != 0)
        return 2;
    if (cli_secrets(sp, 1, &secret) != 0)
        return 1;
    if (cli_load_keyring(c, &kr) != 0)
        goto out;
    snprintf(ad, sizeof ad, "app:%s", pos[0]);
    sealed = crypto_seal(kr, ad, secret, err, sizeof err);
    if (sealed == NULL) {
        fprintf(stderr, "spotwatch: %s\n", err);
        goto out;
    }
    if ((r = cli_connect(c)) == NULL)
        goto out;
    struct app_keys k;
    keys_app(&k, c->key_prefix, pos[0]);
    snprintf(appkey, sizeof appkey, "%s", k.app);
    keys_global(apps, sizeof apps, c->key_prefix, "apps");
    const char *ex[] = {"EXISTS", appkey};
    redisReply *exr = cli_cmd(r, 2, ex);
    if (exr == NULL)
        goto out;
    int is_new = exr->type == REDIS_REPLY_INTEGER && exr->integer == 0;
    freeReplyObject(exr);
    const char *hset[] = {"HSET", appkey, "client_id", o[0].value, "client_secret", sealed, "mode", mode,
                          "developer", developer};
    if (cli_cmd_ok(r, 10, hset) != 0)
        goto out;
    char num[24];
    if (app_set_cap(r, appkey, mode, is_new, max_users) != 0)
        goto out;
    if (budget >= 0) {
        snprintf(num, sizeof num, "%lld", budget);
        const char *b[] = {"HSET", appkey, "budget_30s", num};
        const char *d[] = {"HDEL", k.rl, "budget_eff", "budget_ceiling"};
        if (cli_cmd_ok(r, 4, b) != 0 || cli_cmd_ok(r, 4, d) != 0)
            goto out;
    }
    if (window >= 0) {
        /* The length of the rolling window the budget counts in (Spotify's
         * is 30 s; shorter ones let tests run many windows quickly). */
        snprintf(num, sizeof num, "%lld", window);
        const char *wn[] = {"HSET", appkey, "window_ms", num};
        if (cli_cmd_ok(r, 4, wn) != 0)
            goto out;
    }
    if (qwindow >= 0) {
        /* The quota's rolling window (Spotify's is 24 h; tests compress the day). */
        snprintf(num, sizeof num, "%lld", qwindow);
        const char *qw[] = {"HSET", appkey, "quota_window_ms", num};
        if (cli_cmd_ok(r, 4, qw) != 0)
            goto out;
    }
    if (quota >= 0) {
        snprintf(num, sizeof num, "%lld", quota);
        const char *q[] = {"HSET", appkey, "quota_24h", num};
        if (cli_cmd_ok(r, 4, q) != 0)
            goto out;
    }
    const char *sadd[] = {"SADD", apps, pos[0]};
    if (cli_cmd_ok(r, 3, sadd) != 0 || (!is_new && app_members_backfill(r, c, pos[0], &k) != 0))
        goto out;
    /* New credentials end an invalid_client block, once the workers have
     * reread the app (they do every few seconds). */
    redisReply *bl = redis_sync_command(r, "HMGET %s block_reason blocked_until", k.rl);
    if (bl && bl->type == REDIS_REPLY_ARRAY && bl->elements == 2 && bl->element[0]->str &&
        strcmp(bl->element[0]->str, "invalid_client") == 0 && bl->element[1]->str) {
        long long until = redis_sync_now_ms(r) + WORKER_CRED_RELOAD_MS;
        if (strtoll(bl->element[1]->str, NULL, 10) > until) {
            snprintf(num, sizeof num, "%lld", until);
            const char *b[] = {"HSET", k.rl, "blocked_until", num};
            if (cli_cmd_ok(r, 4, b) != 0) {
                freeReplyObject(bl);
                goto out;
            }
        }
    }
    if (bl)
        freeReplyObject(bl);
    redisReply *cap = redis_sync_command(r, "HGET %s max_users", appkey);
    if (cap && cap->type == REDIS_REPLY_STRING)
        printf("app %s: %s mode, at most %s users (max_users)\n", pos[0], mode, cap->str);
    else
        printf("app %s: %s mode, no user cap\n", pos[0], mode);
    if (cap)
        freeReplyObject(cap);
    rc = 0;
out:
    secret_free(secret);
    free(sealed);
    crypto_free(kr);
    if (r)
        redis_sync_free(r);
    return rc;
}

/* app_read: one app's settings and schedule as the listing and app show
 * give them (JSON: numbers as numbers; the secret never, only whether it is
 * set): a new object, or NULL when the app has no record (said when say). */
static cJSON *app_read(struct redis_sync *r, const struct sw_config *c, const char *app, const cJSON *users, int say)
{
    struct app_keys k;
    keys_app(&k, c->key_prefix, app);
    redisReply *h = redis_sync_command(r, "HGETALL %s", k.app);
    redisReply *n = redis_sync_command(r, "ZCARD %s", k.due);
    redisReply *l = redis_sync_command(r, "ZCARD %s", k.leases);
    cJSON *a = NULL;
    if (h && h->type == REDIS_REPLY_ARRAY && (h->elements > 0 || !say)) {
        long long budget = c->app_budget_30s, window = 30000;
        int secret = 0;
        a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "app", app);
        cJSON_AddStringToObject(a, "mode", "development");
        for (size_t i = 0; i + 1 < h->elements; i += 2) {
            const char *f = h->element[i]->str, *v = h->element[i + 1]->str;
            if (strcmp(f, "client_secret") == 0) {
                secret = v[0] != '\0';
                continue;
            }
            if (strcmp(f, "budget_30s") == 0)
                budget = strtoll(v, NULL, 10);
            if (strcmp(f, "window_ms") == 0)
                window = strtoll(v, NULL, 10);
            cJSON_DeleteItemFromObjectCaseSensitive(a, f);
            cli_json_field(a, f, v);
        }
        cJSON_AddBoolToObject(a, "client_secret_set", secret);
        if (!cJSON_GetObjectItemCaseSensitive(a, "budget_30s"))
            cJSON_AddNumberToObject(a, "budget_30s", (double)budget);
        cJSON_AddBoolToObject(a, "budget_unlimited", budget <= 0);
        if (!cJSON_GetObjectItemCaseSensitive(a, "window_ms"))
            cJSON_AddNumberToObject(a, "window_ms", (double)window);
        if (!cJSON_GetObjectItemCaseSensitive(a, "max_users"))
            cJSON_AddNumberToObject(a, "max_users", 0);
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(users, app);
        cJSON_AddNumberToObject(a, "users", cJSON_IsNumber(u) ? u->valuedouble : 0);
        cJSON_AddNumberToObject(a, "scheduled", n && n->type == REDIS_REPLY_INTEGER ? (double)n->integer : 0);
        cJSON_AddNumberToObject(a, "in_flight", l && l->type == REDIS_REPLY_INTEGER ? (double)l->integer : 0);
    } else if (say) {
        fprintf(stderr, "spotwatch: no such app '%s'\n", app);
    }
    if (h) freeReplyObject(h);
    if (n) freeReplyObject(n);
    if (l) freeReplyObject(l);
    return a;
}

/* num_of: a number member of o, 0 when absent. */
static long long num_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

int cli_app_ls(const struct sw_config *c, struct cli_args *a)
{
    static const char *const head[] = {"APP", "MODE", "CLIENT_ID", "USERS", "SCHEDULED", "IN_FLIGHT", "BUDGET"};
    struct cli_table t;
    redisReply *rep;
    struct redis_sync *r;
    if ((r = cli_connect_read(c, "SMEMBERS", "apps", &rep)) == NULL)
        return 1;
    cJSON *users = cli_count_users(r, c), *arr = cJSON_CreateArray();
    cli_table_init(&t, 7, head);
    for (size_t i = 0; users && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        cJSON *ap = app_read(r, c, rep->element[i]->str, users, 0);
        if (ap == NULL)
            continue;
        char nu[48], sc[24], fl[24], bu[48];
        long long cap = num_of(ap, "max_users");
        snprintf(nu, sizeof nu, cap > 0 ? "%lld/%lld" : "%lld", num_of(ap, "users"), cap);
        snprintf(sc, sizeof sc, "%lld", num_of(ap, "scheduled"));
        snprintf(fl, sizeof fl, "%lld", num_of(ap, "in_flight"));
        const char *cells[] = {rep->element[i]->str, cJSON_GetStringValue(cJSON_GetObjectItem(ap, "mode")),
                               cJSON_GetStringValue(cJSON_GetObjectItem(ap, "client_id")), nu, sc, fl,
                               cli_budget(num_of(ap, "budget_30s"), num_of(ap, "window_ms"), bu, sizeof bu)};
        cli_table_row(&t, cells);
        cJSON_AddItemToArray(arr, ap);
    }
    int ok = users != NULL;
    cJSON_Delete(users);
    freeReplyObject(rep);
    redis_sync_free(r);
    if (!ok) {
        cli_table_free(&t);
        cJSON_Delete(arr);
        return 1;
    }
    return cli_list_end(&t, arr, a->o[0].value != NULL);
}

/* app_limiter: the app's limiter and counters for app show. */
static void app_limiter(struct redis_sync *r, const struct app_keys *k, long long now, cJSON *ap)
{
    cJSON *lim = cJSON_AddObjectToObject(ap, "limiter"), *st = cJSON_AddObjectToObject(ap, "stats");
    redisReply *rl = redis_sync_command(r, "HGETALL %s", k->rl), *s = redis_sync_command(r, "HGETALL %s", k->stats);
    long long until = 0;
    for (size_t i = 0; rl && rl->type == REDIS_REPLY_ARRAY && i + 1 < rl->elements; i += 2) {
        const char *f = rl->element[i]->str;
        if (f[0] == 'q' && f[1] >= '0' && f[1] <= '9')
            continue;   /* the 24 h quota's hour buckets: status sums them */
        if (strcmp(f, "blocked_until") == 0)
            until = strtoll(rl->element[i + 1]->str, NULL, 10);
        cli_json_field(lim, f, rl->element[i + 1]->str);
    }
    cJSON_AddStringToObject(lim, "state", until > now ? "blocked" : "ok");
    for (size_t i = 0; s && s->type == REDIS_REPLY_ARRAY && i + 1 < s->elements; i += 2)
        cli_json_field(st, s->element[i]->str, s->element[i + 1]->str);
    if (rl) freeReplyObject(rl);
    if (s) freeReplyObject(s);
}

int cli_app_show(const struct sw_config *c, struct cli_args *a)
{
    const char *app = a->pos[0];
    struct redis_sync *r;
    if (cli_check_id("app", app) != 0)
        return 2;
    if ((r = cli_connect(c)) == NULL)
        return 1;
    cJSON *users = cli_count_users(r, c);
    cJSON *ap = users ? app_read(r, c, app, users, 1) : NULL;
    cJSON_Delete(users);
    if (ap == NULL) {
        redis_sync_free(r);
        return 1;
    }
    struct app_keys k;
    keys_app(&k, c->key_prefix, app);
    long long now = redis_sync_now_ms(r);
    app_limiter(r, &k, now, ap);
    redis_sync_free(r);
    if (a->o[0].value)
        return cli_print_json(ap);
    char bu[48];
    cli_print_pairs(ap, "", now);
    printf("%-28s %s\n", "budget", cli_budget(num_of(ap, "budget_30s"), num_of(ap, "window_ms"), bu, sizeof bu));
    cJSON_Delete(ap);
    return 0;
}

/* glob_escape writes s into out with the glob characters of SCAN's MATCH
 * escaped (the key prefix is the operator's and may hold them). */
static void glob_escape(const char *s, char *out, size_t n)
{
    size_t o = 0;
    for (; *s && o + 3 < n; s++) {
        if (strchr("*?[]\\", *s))
            out[o++] = '\\';
        out[o++] = *s;
    }
    out[o] = '\0';
}

/* app_user_count: the directory's users of app, or -1 (said). */
static int app_user_count(struct redis_sync *r, const struct sw_config *c, const char *app)
{
    cJSON *users = cli_count_users(r, c);
    if (users == NULL)
        return -1;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(users, app);
    int count = cJSON_IsNumber(n) ? (int)n->valuedouble : 0;
    cJSON_Delete(users);
    return count;
}

/* app_drop_users removes every directory entry naming app (their keys go
 * with the app's, by SCAN): WATCH the directory, read it, and HDEL those
 * entries in one MULTI, so an entry that moved meanwhile (a user removed
 * and added to another app) is never taken; retried when EXEC fails. 0 or
 * -1 (said). */
static int app_drop_users(struct redis_sync *r, const struct sw_config *c, const char *app)
{
    char users[KEY_MAX];
    keys_global(users, sizeof users, c->key_prefix, "users");
    const char *w[] = {"WATCH", users}, *hg[] = {"HGETALL", users}, *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
    for (int attempt = 0; attempt < 5; attempt++) {
        if (cli_cmd_ok(r, 2, w) != 0)
            return -1;
        redisReply *rep = cli_cmd(r, 2, hg);
        if (rep == NULL || cli_cmd_ok(r, 1, multi) != 0) {
            if (rep)
                freeReplyObject(rep);
            return -1;
        }
        int bad = 0;
        for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i + 1 < rep->elements && !bad; i += 2) {
            const char *hd[] = {"HDEL", users, rep->element[i]->str};
            if (strcmp(rep->element[i + 1]->str, app) == 0)
                bad = cli_cmd_ok(r, 3, hd) != 0;
        }
        freeReplyObject(rep);
        redisReply *done = bad ? NULL : cli_cmd(r, 1, exec);
        int applied = done && done->type == REDIS_REPLY_ARRAY;
        if (done)
            freeReplyObject(done);
        if (bad || done == NULL)
            return -1;
        if (applied)
            return 0;
    }
    fprintf(stderr, "spotwatch: the directory kept changing; try again\n");
    return -1;
}

/* app_drop_node: app_drop_keys on one node (SCAN is per server). */
static long long app_drop_node(struct redis_sync *r, int node, const char *match)
{
    char cursor[32] = "0";
    long long n = 0;
    do {
        const char *sc[] = {"SCAN", cursor, "MATCH", match, "COUNT", "1000"};
        redisReply *rep = redis_sync_command_node(r, node, 6, sc);
        if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "spotwatch: Redis: %s\n", rep ? rep->str : redis_sync_errstr(r));
            if (rep)
                freeReplyObject(rep);
            return -1;
        }
        int ok = rep->type == REDIS_REPLY_ARRAY && rep->elements == 2;
        snprintf(cursor, sizeof cursor, "%s", ok && rep->element[0]->str ? rep->element[0]->str : "0");
        for (size_t i = 0; ok && i < rep->element[1]->elements; i++) {
            const char *del[] = {"UNLINK", rep->element[1]->element[i]->str};
            redisReply *d = cli_cmd(r, 2, del);
            n += d && d->type == REDIS_REPLY_INTEGER ? d->integer : 0;
            if (d)
                freeReplyObject(d);
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

/* app_drop_keys deletes every key of the app: those carrying its hash tag
 * (found with SCAN on every primary of a cluster, so users, streams and
 * whatever a later version adds go too, wherever a migration left them).
 * Returns the count deleted, or -1 (said). */
static long long app_drop_keys(struct redis_sync *r, const struct sw_config *c, const char *app)
{
    char pre[2 * KEY_MAX], match[2 * KEY_MAX + 8];
    int nodes[CLUSTER_MAX_NODES];
    int nn = redis_sync_nodes(r, nodes, CLUSTER_MAX_NODES);
    long long n = 0;
    glob_escape(c->key_prefix, pre, sizeof pre);
    snprintf(match, sizeof match, "%s{%s}:*", pre, app);
    for (int i = 0; i < nn && i < CLUSTER_MAX_NODES; i++) {
        long long got = app_drop_node(r, nodes[i], match);
        if (got < 0)
            return -1;
        n += got;
    }
    return n;
}

int cli_app_rm(const struct sw_config *c, struct cli_args *a)
{
    const char *app = a->pos[0];
    char apps[KEY_MAX];
    struct redis_sync *r;
    int rc = 1;
    if (cli_check_id("app", app) != 0)
        return 2;
    if ((r = cli_connect(c)) == NULL)
        return 1;
    keys_global(apps, sizeof apps, c->key_prefix, "apps");
    const char *ism[] = {"SISMEMBER", apps, app};
    redisReply *m = cli_cmd(r, 3, ism);
    int known = m && m->type == REDIS_REPLY_INTEGER && m->integer == 1;
    if (m)
        freeReplyObject(m);
    if (!known) {
        fprintf(stderr, "spotwatch: no such app '%s'\n", app);
        goto out;
    }
    int users = app_user_count(r, c, app);
    if (users < 0)
        goto out;
    if (users > 0 && !a->o[0].value) {
        fprintf(stderr, "spotwatch: app '%s' still has %d users; nothing removed (`spotwatch user ls --app %s`, "
                        "`spotwatch user rm` them, or `spotwatch app rm %s --force` to remove them too)\n",
                app, users, app, app);
        goto out;
    }
    /* The app leaves the list first, so workers stop claiming its users;
     * then its users' directory entries, then its keys. */
    const char *srem[] = {"SREM", apps, app};
    if (cli_cmd_ok(r, 3, srem) != 0 || app_drop_users(r, c, app) != 0)
        goto out;
    long long n = app_drop_keys(r, c, app);
    if (n < 0)
        goto out;
    printf("app %s: removed (%d users, %lld keys)\n", app, users, n);
    rc = 0;
out:
    redis_sync_free(r);
    return rc;
}

/* unblock_developer: the app's developer ledger forgets its QUOTA_EXCEEDED
 * blocks and the limit it learned from one (the quota was raised, say). */
static int unblock_developer(const struct sw_config *c, struct redis_sync *r, const struct app_keys *k)
{
    char ledger[KEY_MAX];
    redisReply *h = redis_sync_command(r, "HMGET %s developer client_id", k->app);
    int rc = 0;
    if (h && h->type == REDIS_REPLY_ARRAY && h->elements == 2) {
        const char *dev = h->element[0]->str ? h->element[0]->str : h->element[1]->str;
        if (dev && keys_valid_id(dev)) {
            keys_developer_quota(ledger, sizeof ledger, c->key_prefix, dev);
            const char *d[] = {"HDEL", ledger, "learned", "block_player", "block_recent", "block_me",
                               "block_token", "block_other"};
            rc = cli_cmd_ok(r, 8, d);
        }
    }
    if (h)
        freeReplyObject(h);
    return rc;
}

/* app_unblock: the operator ends an app's 429 block (a QUOTA_EXCEEDED block
 * lasts hours; after raising the quota with Spotify there is no need to wait
 * it out). Only the block goes: the adaptive budget and counters stay. */
int cli_app_unblock(const struct sw_config *c, struct cli_args *a)
{
    const char **pos = a->pos;
    char apps[KEY_MAX];
    struct redis_sync *r;
    int rc = 1;

    if (cli_check_id("app", pos[0]) != 0)
        return 2;
    if ((r = cli_connect(c)) == NULL)
        return 1;
    keys_global(apps, sizeof apps, c->key_prefix, "apps");
    struct app_keys k;
    keys_app(&k, c->key_prefix, pos[0]);
    redisReply *m = redis_sync_command(r, "SISMEMBER %s %s", apps, pos[0]);
    int known = m && m->type == REDIS_REPLY_INTEGER && m->integer == 1;
    if (m)
        freeReplyObject(m);
    if (!known) {
        fprintf(stderr, "spotwatch: no such app '%s'\n", pos[0]);
        goto out;
    }
    redisReply *h = redis_sync_command(r, "HMGET %s blocked_until block_reason", k.rl);
    long long until = h && h->type == REDIS_REPLY_ARRAY && h->elements == 2 && h->element[0]->str
                          ? strtoll(h->element[0]->str, NULL, 10) : 0;
    char reason[64];
    snprintf(reason, sizeof reason, "%s",
             h && h->type == REDIS_REPLY_ARRAY && h->elements == 2 && h->element[1]->str ? h->element[1]->str : "");
    if (h)
        freeReplyObject(h);
    long long now = redis_sync_now_ms(r);
    const char *d[] = {"HDEL", k.rl, "blocked_until", "block_reason", "blocked_at", "quota_until", "qblock_player",
                       "qblock_recent", "qblock_me", "qblock_token", "qblock_other"};
    if (cli_cmd_ok(r, 11, d) != 0 || unblock_developer(c, r, &k) != 0)
        goto out;
    if (until > now)
        printf("app %s: unblocked (was %s for %lld s more)\n", pos[0], reason[0] ? reason : "blocked",
               (until - now + 999) / 1000);
    else
        printf("app %s: was not blocked\n", pos[0]);
    rc = 0;
out:
    redis_sync_free(r);
    return rc;
}
