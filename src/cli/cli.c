/* cli.c: operator commands (see include/cli/cli.h). They use hiredis' blocking
 * API: a command runs once and exits, so there is no loop to keep free. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include "cli/cli.h"
#include "worker/worker.h"
#include "serve/connect_link.h"
#include "base/crypto.h"
#include "redis/key_schema.h"
#include "base/log.h"
#include "serve/oauth.h"
#include "redis/redis_sync.h"
#include "base/keyring_file.h"
#include "spotify/token.h"

/* Spotify: refresh tokens die 6 months after authorisation; 180 days errs early. */
#define REFRESH_LIFETIME_MS (180LL * 24 * 3600 * 1000)
#define REFRESH_WARN_MS (14LL * 24 * 3600 * 1000)
#define NEAR_EXPIRY_LIST 20     /* users named by status (all are counted) */

/* opt: one `--name value` option of a command. */
struct opt {
    const char *name;
    const char *value;   /* NULL when absent; "1" for flags */
    int flag;
};

/* parse_opts splits argv (after the words already consumed) into positional
 * words and known options. Returns the count of positionals or -1. */
static int parse_opts(int argc, char **argv, struct opt *opts, const char **pos, int maxpos)
{
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0) {
            struct opt *o = opts;
            for (; o && o->name; o++)
                if (strcmp(o->name, argv[i] + 2) == 0)
                    break;
            if (o == NULL || o->name == NULL) {
                fprintf(stderr, "spotwatch: unknown option '%s'\n", argv[i]);
                return -1;
            }
            if (o->flag) {
                o->value = "1";
            } else if (i + 1 >= argc) {
                fprintf(stderr, "spotwatch: option '%s' needs a value\n", argv[i]);
                return -1;
            } else {
                o->value = argv[++i];
            }
        } else if (npos < maxpos) {
            pos[npos++] = argv[i];
        } else {
            fprintf(stderr, "spotwatch: unexpected argument '%s'\n", argv[i]);
            return -1;
        }
    }
    return npos;
}

static int parse_ll(const char *what, const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "spotwatch: %s must be an integer between %lld and %lld, not '%s'\n", what,
                min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static redisContext *connect_redis(const struct sw_config *c)
{
    char err[512];
    redisContext *r = redis_sync_connect(c, 5, err, sizeof err);
    if (r == NULL)
        fprintf(stderr, "spotwatch: %s\n", err);
    return r;
}

/* cmd runs one command; an error reply or a lost link is reported and gives NULL. */
static redisReply *cmd(redisContext *r, int argc, const char **argv)
{
    redisReply *rep = redisCommandArgv(r, argc, argv, NULL);
    if (rep == NULL) {
        fprintf(stderr, "spotwatch: Redis: %s\n", r->errstr);
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "spotwatch: Redis: %s\n", rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

static int cmd_ok(redisContext *r, int argc, const char **argv)
{
    redisReply *rep = cmd(r, argc, argv);
    if (rep == NULL)
        return -1;
    freeReplyObject(rep);
    return 0;
}

static long long redis_now_ms(redisContext *r)
{
    redisReply *rep = redisCommand(r, "TIME");
    long long ms = 0;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2)
        ms = strtoll(rep->element[0]->str, NULL, 10) * 1000 + strtoll(rep->element[1]->str, NULL, 10) / 1000;
    if (rep)
        freeReplyObject(rep);
    return ms;
}

/* user_app looks the user up in the directory; 0 and app filled, or -1. */
static int user_app(const struct sw_config *c, redisContext *r, const char *user, char *app, size_t n)
{
    char users[KEY_MAX];
    keys_global(users, sizeof users, c->key_prefix, "users");
    const char *argv[] = {"HGET", users, user};
    redisReply *rep = cmd(r, 3, argv);
    if (rep == NULL)
        return -1;
    int found = rep->type == REDIS_REPLY_STRING;
    if (found)
        snprintf(app, n, "%s", rep->str);
    freeReplyObject(rep);
    if (!found) {
        fprintf(stderr, "spotwatch: no such user '%s'\n", user);
        return -1;
    }
    return 0;
}

static int check_id(const char *what, const char *id)
{
    if (keys_valid_id(id))
        return 0;
    fprintf(stderr, "spotwatch: invalid %s id '%s' (1-%d printable characters, no spaces, '{', '}' or '*')\n",
            what, id, ID_MAX);
    return -1;
}

static int print_json(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    int rc = s ? 0 : 1;
    if (s)
        printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
    return rc;
}

/* ----------------------------------------------------------------- app --- */

static int app_add(const struct sw_config *c, int argc, char **argv)
{
    struct opt o[] = {{"client-id", NULL, 0}, {"client-secret", NULL, 0}, {"mode", NULL, 0},
                      {"budget", NULL, 0}, {"quota", NULL, 0}, {"window-ms", NULL, 0},
                      {NULL, NULL, 0}};
    const char *pos[1];
    struct crypto_keyring *kr = NULL;
    redisContext *r = NULL;
    char *sealed = NULL, err[256], ad[ID_MAX + 8], appkey[KEY_MAX], apps[KEY_MAX];
    long long budget = -1, quota = -1, window = -1;
    int rc = 1;

    if (parse_opts(argc, argv, o, pos, 1) != 1 || !o[0].value || !o[1].value) {
        fprintf(stderr, "usage: spotwatch app add APP --client-id ID --client-secret SECRET "
                        "[--mode development|extended] [--budget N] [--quota N] [--window-ms MS]\n");
        return 2;
    }
    const char *mode = o[2].value ? o[2].value : "development";
    if (check_id("app", pos[0]) != 0)
        return 2;
    if (strcmp(mode, "development") != 0 && strcmp(mode, "extended") != 0) {
        fprintf(stderr, "spotwatch: --mode must be development or extended, not '%s'\n", mode);
        return 2;
    }
    if ((o[3].value && parse_ll("--budget", o[3].value, 0, 1000000, &budget) != 0) ||
        (o[4].value && parse_ll("--quota", o[4].value, 0, 100000000, &quota) != 0) ||
        (o[5].value && parse_ll("--window-ms", o[5].value, 100, 86400000, &window) != 0))
        return 2;
    if (keyring_file_load(c, &kr, 1, err, sizeof err) != 0) {
        fprintf(stderr, "spotwatch: %s\n", err);
        return 1;
    }
    snprintf(ad, sizeof ad, "app:%s", pos[0]);
    sealed = crypto_seal(kr, ad, o[1].value, err, sizeof err);
    if (sealed == NULL) {
        fprintf(stderr, "spotwatch: %s\n", err);
        goto out;
    }
    if ((r = connect_redis(c)) == NULL)
        goto out;
    struct app_keys k;
    keys_app(&k, c->key_prefix, pos[0]);
    snprintf(appkey, sizeof appkey, "%s", k.app);
    keys_global(apps, sizeof apps, c->key_prefix, "apps");
    const char *hset[] = {"HSET", appkey, "client_id", o[0].value, "client_secret", sealed, "mode", mode};
    if (cmd_ok(r, 8, hset) != 0)
        goto out;
    char num[24];
    if (budget >= 0) {
        snprintf(num, sizeof num, "%lld", budget);
        const char *b[] = {"HSET", appkey, "budget_30s", num};
        const char *d[] = {"HDEL", k.rl, "budget_eff", "budget_ceiling"};
        if (cmd_ok(r, 4, b) != 0 || cmd_ok(r, 4, d) != 0)
            goto out;
    }
    if (window >= 0) {
        /* The length of the rolling window the budget counts in (Spotify's
         * is 30 s; shorter ones let tests run many windows quickly). */
        snprintf(num, sizeof num, "%lld", window);
        const char *wn[] = {"HSET", appkey, "window_ms", num};
        if (cmd_ok(r, 4, wn) != 0)
            goto out;
    }
    if (quota >= 0) {
        snprintf(num, sizeof num, "%lld", quota);
        const char *q[] = {"HSET", appkey, "quota_24h", num};
        if (cmd_ok(r, 4, q) != 0)
            goto out;
    }
    const char *sadd[] = {"SADD", apps, pos[0]};
    if (cmd_ok(r, 3, sadd) != 0)
        goto out;
    /* New credentials end an invalid_client block, once the workers have
     * reread the app (they do every few seconds). */
    redisReply *bl = redisCommand(r, "HMGET %s block_reason blocked_until", k.rl);
    if (bl && bl->type == REDIS_REPLY_ARRAY && bl->elements == 2 && bl->element[0]->str &&
        strcmp(bl->element[0]->str, "invalid_client") == 0 && bl->element[1]->str) {
        long long until = redis_now_ms(r) + WORKER_CRED_RELOAD_MS;
        if (strtoll(bl->element[1]->str, NULL, 10) > until) {
            snprintf(num, sizeof num, "%lld", until);
            const char *b[] = {"HSET", k.rl, "blocked_until", num};
            if (cmd_ok(r, 4, b) != 0) {
                freeReplyObject(bl);
                goto out;
            }
        }
    }
    if (bl)
        freeReplyObject(bl);
    printf("app %s: %s mode\n", pos[0], mode);
    rc = 0;
out:
    free(sealed);
    crypto_free(kr);
    if (r)
        redisFree(r);
    return rc;
}

static int app_ls(const struct sw_config *c, int argc, char **argv)
{
    struct opt o[] = {{"json", NULL, 1}, {NULL, NULL, 0}};
    const char *pos[1];
    char apps[KEY_MAX];
    redisContext *r;
    if (parse_opts(argc, argv, o, pos, 0) != 0)
        return 2;
    if ((r = connect_redis(c)) == NULL)
        return 1;
    keys_global(apps, sizeof apps, c->key_prefix, "apps");
    const char *sm[] = {"SMEMBERS", apps};
    redisReply *rep = cmd(r, 2, sm);
    if (rep == NULL) {
        redisFree(r);
        return 1;
    }
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < rep->elements; i++) {
        struct app_keys k;
        keys_app(&k, c->key_prefix, rep->element[i]->str);
        redisReply *h = redisCommand(r, "HMGET %s client_id mode budget_30s quota_24h", k.app);
        redisReply *n = redisCommand(r, "ZCARD %s", k.due);
        redisReply *l = redisCommand(r, "ZCARD %s", k.leases);
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "app", rep->element[i]->str);
        if (h && h->type == REDIS_REPLY_ARRAY && h->elements == 4) {
            cJSON_AddStringToObject(a, "client_id", h->element[0]->str ? h->element[0]->str : "");
            cJSON_AddStringToObject(a, "mode", h->element[1]->str ? h->element[1]->str : "");
            cJSON_AddNumberToObject(a, "budget_30s", h->element[2]->str ? atof(h->element[2]->str) : (double)c->app_budget_30s);
            cJSON_AddNumberToObject(a, "quota_24h", h->element[3]->str ? atof(h->element[3]->str) : (double)c->app_quota_24h);
        }
        cJSON_AddNumberToObject(a, "scheduled", n && n->type == REDIS_REPLY_INTEGER ? (double)n->integer : 0);
        cJSON_AddNumberToObject(a, "in_flight", l && l->type == REDIS_REPLY_INTEGER ? (double)l->integer : 0);
        if (!o[0].value)
            printf("%s\tclient_id=%s\tmode=%s\tscheduled=%d\tin_flight=%d\n", rep->element[i]->str,
                   cJSON_GetStringValue(cJSON_GetObjectItem(a, "client_id")) ?: "",
                   cJSON_GetStringValue(cJSON_GetObjectItem(a, "mode")) ?: "",
                   (int)cJSON_GetNumberValue(cJSON_GetObjectItem(a, "scheduled")),
                   (int)cJSON_GetNumberValue(cJSON_GetObjectItem(a, "in_flight")));
        cJSON_AddItemToArray(arr, a);
        if (h) freeReplyObject(h);
        if (n) freeReplyObject(n);
        if (l) freeReplyObject(l);
    }
    freeReplyObject(rep);
    redisFree(r);
    if (o[0].value)
        return print_json(arr);
    cJSON_Delete(arr);
    return 0;
}

/* app_unblock: the operator ends an app's 429 block (a QUOTA_EXCEEDED block
 * lasts hours; after raising the quota with Spotify there is no need to wait
 * it out). Only the block goes: the adaptive budget and counters stay. */
static int app_unblock(const struct sw_config *c, int argc, char **argv)
{
    struct opt o[] = {{NULL, NULL, 0}};
    const char *pos[1];
    char apps[KEY_MAX];
    redisContext *r;
    int rc = 1;

    if (parse_opts(argc, argv, o, pos, 1) != 1) {
        fprintf(stderr, "usage: spotwatch app unblock APP\n");
        return 2;
    }
    if (check_id("app", pos[0]) != 0)
        return 2;
    if ((r = connect_redis(c)) == NULL)
        return 1;
    keys_global(apps, sizeof apps, c->key_prefix, "apps");
    struct app_keys k;
    keys_app(&k, c->key_prefix, pos[0]);
    redisReply *m = redisCommand(r, "SISMEMBER %s %s", apps, pos[0]);
    int known = m && m->type == REDIS_REPLY_INTEGER && m->integer == 1;
    if (m)
        freeReplyObject(m);
    if (!known) {
        fprintf(stderr, "spotwatch: no such app '%s'\n", pos[0]);
        goto out;
    }
    redisReply *h = redisCommand(r, "HMGET %s blocked_until block_reason", k.rl);
    long long until = h && h->type == REDIS_REPLY_ARRAY && h->elements == 2 && h->element[0]->str
                          ? strtoll(h->element[0]->str, NULL, 10) : 0;
    char reason[64];
    snprintf(reason, sizeof reason, "%s",
             h && h->type == REDIS_REPLY_ARRAY && h->elements == 2 && h->element[1]->str ? h->element[1]->str : "");
    if (h)
        freeReplyObject(h);
    long long now = redis_now_ms(r);
    const char *d[] = {"HDEL", k.rl, "blocked_until", "block_reason", "blocked_at"};
    if (cmd_ok(r, 5, d) != 0)
        goto out;
    if (until > now)
        printf("app %s: unblocked (was %s for %lld s more)\n", pos[0], reason[0] ? reason : "blocked",
               (until - now + 999) / 1000);
    else
        printf("app %s: was not blocked\n", pos[0]);
    rc = 0;
out:
    redisFree(r);
    return rc;
}

int cli_app(const struct sw_config *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "add") == 0)
        return app_add(c, argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "ls") == 0)
        return app_ls(c, argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "unblock") == 0)
        return app_unblock(c, argc - 2, argv + 2);
    fprintf(stderr, "usage: spotwatch app add|ls|unblock ...\n");
    return 2;
}

/* ---------------------------------------------------------------- user --- */

static int user_add(const struct sw_config *c, int argc, char **argv)
{
    struct opt o[] = {{"app", NULL, 0}, {"access-token", NULL, 0}, {"refresh-token", NULL, 0},
                      {"expires-in", NULL, 0}, {"scope", NULL, 0}, {NULL, NULL, 0}};
    const char *pos[1];
    struct crypto_keyring *kr = NULL;
    redisContext *r = NULL;
    char *at = NULL, *rt = NULL, err[256], ad[ID_MAX + 8], ukey[KEY_MAX], users[KEY_MAX],
         apps[KEY_MAX], exp[24], now_s[24];
    long long expires_in = 3600;
    int rc = 1;

    if (parse_opts(argc, argv, o, pos, 1) != 1 || !o[0].value || !o[1].value || !o[2].value) {
        fprintf(stderr, "usage: spotwatch user add USER --app APP --access-token T --refresh-token R "
                        "[--expires-in S] [--scope S]\n");
        return 2;
    }
    if (check_id("user", pos[0]) != 0 || check_id("app", o[0].value) != 0)
        return 2;
    if (o[3].value && parse_ll("--expires-in", o[3].value, 0, 100000000, &expires_in) != 0)
        return 2;
    if (keyring_file_load(c, &kr, 1, err, sizeof err) != 0) {
        fprintf(stderr, "spotwatch: %s\n", err);
        return 1;
    }
    snprintf(ad, sizeof ad, "user:%s", pos[0]);
    at = crypto_seal(kr, ad, o[1].value, err, sizeof err);
    rt = at ? crypto_seal(kr, ad, o[2].value, err, sizeof err) : NULL;
    if (rt == NULL) {
        fprintf(stderr, "spotwatch: %s\n", err);
        goto out;
    }
    if ((r = connect_redis(c)) == NULL)
        goto out;
    keys_global(apps, sizeof apps, c->key_prefix, "apps");
    const char *ism[] = {"SISMEMBER", apps, o[0].value};
    redisReply *rep = cmd(r, 3, ism);
    int known = rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    if (rep)
        freeReplyObject(rep);
    if (!known) {
        fprintf(stderr, "spotwatch: no such app '%s' (spotwatch app add)\n", o[0].value);
        goto out;
    }
    char old_app[ID_MAX + 1];
    keys_global(users, sizeof users, c->key_prefix, "users");
    const char *hget[] = {"HGET", users, pos[0]};
    rep = cmd(r, 3, hget);
    int moved = rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, o[0].value) != 0;
    if (moved)
        snprintf(old_app, sizeof old_app, "%s", rep->str);
    if (rep)
        freeReplyObject(rep);
    if (moved) {
        fprintf(stderr, "spotwatch: user '%s' belongs to app '%s'; `user rm` it first\n", pos[0], old_app);
        goto out;
    }
    long long now = redis_now_ms(r);
    snprintf(exp, sizeof exp, "%lld", now + expires_in * 1000);
    snprintf(now_s, sizeof now_s, "%lld", now);
    keys_user(ukey, sizeof ukey, c->key_prefix, o[0].value, pos[0]);
    const char *scope = o[4].value ? o[4].value : TOK_SCOPES;
    const char *hset[] = {"HSET", ukey, "app", o[0].value, "access_token", at, "refresh_token", rt,
                          "expires_at", exp, "scope", scope, "authorized_at", now_s};
    const char *hsetnx[] = {"HSETNX", ukey, "status", "stopped"};
    const char *dir[] = {"HSET", users, pos[0], o[0].value};
    if (cmd_ok(r, 14, hset) != 0 || cmd_ok(r, 4, hsetnx) != 0 || cmd_ok(r, 4, dir) != 0)
        goto out;
    printf("user %s: tokens stored (app %s)\n", pos[0], o[0].value);
    rc = 0;
out:
    free(at);
    free(rt);
    crypto_free(kr);
    if (r)
        redisFree(r);
    return rc;
}

/* Fields user show never prints, whatever the format. */
static int secret_field(const char *f)
{
    return strcmp(f, "access_token") == 0 || strcmp(f, "refresh_token") == 0;
}

static int user_show(const struct sw_config *c, int argc, char **argv)
{
    struct opt o[] = {{"json", NULL, 1}, {NULL, NULL, 0}};
    const char *pos[1];
    char app[ID_MAX + 1], ukey[KEY_MAX];
    redisContext *r;
    int rc = 1;
    if (parse_opts(argc, argv, o, pos, 1) != 1) {
        fprintf(stderr, "usage: spotwatch user show USER [--json]\n");
        return 2;
    }
    if ((r = connect_redis(c)) == NULL)
        return 1;
    if (user_app(c, r, pos[0], app, sizeof app) != 0)
        goto out;
    keys_user(ukey, sizeof ukey, c->key_prefix, app, pos[0]);
    const char *hg[] = {"HGETALL", ukey};
    redisReply *h = cmd(r, 2, hg);
    if (h == NULL)
        goto out;
    struct app_keys k;
    keys_app(&k, c->key_prefix, app);
    long long now = redis_now_ms(r);
    redisReply *due = redisCommand(r, "ZSCORE %s %s", k.due, pos[0]);
    redisReply *lease = redisCommand(r, "ZSCORE %s %s", k.leases, pos[0]);

    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "user", pos[0]);
    long long expires_at = 0, authorized_at = 0;
    int has_at = 0, has_rt = 0;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const char *f = h->element[i]->str, *v = h->element[i + 1]->str;
        if (strcmp(f, "access_token") == 0)
            has_at = v[0] != 0;
        else if (strcmp(f, "refresh_token") == 0)
            has_rt = v[0] != 0;
        if (strcmp(f, "expires_at") == 0)
            expires_at = strtoll(v, NULL, 10);
        if (strcmp(f, "authorized_at") == 0)
            authorized_at = strtoll(v, NULL, 10);
        if (!secret_field(f) && strcmp(f, "refresh_until") != 0 && strcmp(f, "refresh_fence") != 0)
            cJSON_AddStringToObject(u, f, v);
    }
    cJSON_AddBoolToObject(u, "has_access_token", has_at);
    cJSON_AddBoolToObject(u, "has_refresh_token", has_rt);
    cJSON_AddNumberToObject(u, "access_token_expires_in_ms", (double)(expires_at - now));
    if (authorized_at > 0) {
        long long left = authorized_at + REFRESH_LIFETIME_MS - now;
        cJSON_AddNumberToObject(u, "refresh_token_expires_in_ms", (double)left);
        cJSON_AddBoolToObject(u, "refresh_token_near_expiry", left < REFRESH_WARN_MS);
    }
    if (due && due->type == REDIS_REPLY_STRING)
        cJSON_AddNumberToObject(u, "next_poll_in_ms", (double)(strtoll(due->str, NULL, 10) - now));
    cJSON_AddBoolToObject(u, "in_flight", lease && lease->type == REDIS_REPLY_STRING);
    if (due)
        freeReplyObject(due);
    if (lease)
        freeReplyObject(lease);
    freeReplyObject(h);
    if (o[0].value) {
        rc = print_json(u);
    } else {
        for (cJSON *it = u->child; it; it = it->next) {
            if (cJSON_IsString(it))
                printf("%-28s %s\n", it->string, it->valuestring);
            else if (cJSON_IsBool(it))
                printf("%-28s %s\n", it->string, cJSON_IsTrue(it) ? "yes" : "no");
            else
                printf("%-28s %.0f\n", it->string, it->valuedouble);
        }
        cJSON_Delete(u);
        rc = 0;
    }
out:
    redisFree(r);
    return rc;
}

static int user_ls(const struct sw_config *c, int argc, char **argv)
{
    struct opt o[] = {{"json", NULL, 1}, {NULL, NULL, 0}};
    const char *pos[1];
    char users[KEY_MAX], ukey[KEY_MAX];
    redisContext *r;
    if (parse_opts(argc, argv, o, pos, 0) != 0)
        return 2;
    if ((r = connect_redis(c)) == NULL)
        return 1;
    keys_global(users, sizeof users, c->key_prefix, "users");
    const char *hg[] = {"HGETALL", users};
    redisReply *rep = cmd(r, 2, hg);
    if (rep == NULL) {
        redisFree(r);
        return 1;
    }
    /* Pipelined: one round trip per batch, not per user. */
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        keys_user(ukey, sizeof ukey, c->key_prefix, rep->element[i + 1]->str, rep->element[i]->str);
        redisAppendCommand(r, "HMGET %s status last_outcome", ukey);
    }
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        redisReply *s = NULL;
        if (redisGetReply(r, (void **)&s) != REDIS_OK)
            break;
        const char *status = s && s->type == REDIS_REPLY_ARRAY && s->element[0]->str ? s->element[0]->str : "?";
        const char *last = s && s->type == REDIS_REPLY_ARRAY && s->element[1]->str ? s->element[1]->str : "";
        if (o[0].value) {
            cJSON *u = cJSON_CreateObject();
            cJSON_AddStringToObject(u, "user", rep->element[i]->str);
            cJSON_AddStringToObject(u, "app", rep->element[i + 1]->str);
            cJSON_AddStringToObject(u, "status", status);
            cJSON_AddStringToObject(u, "last_outcome", last);
            cJSON_AddItemToArray(arr, u);
        } else {
            printf("%s\t%s\t%s\t%s\n", rep->element[i]->str, rep->element[i + 1]->str, status, last);
        }
        if (s)
            freeReplyObject(s);
    }
    freeReplyObject(rep);
    redisFree(r);
    if (o[0].value)
        return print_json(arr);
    cJSON_Delete(arr);
    return 0;
}

static int user_rm(const struct sw_config *c, int argc, char **argv)
{
    const char *pos[1];
    char app[ID_MAX + 1], ukey[KEY_MAX], users[KEY_MAX];
    redisContext *r;
    int rc = 1;
    if (parse_opts(argc, argv, NULL, pos, 1) != 1) {
        fprintf(stderr, "usage: spotwatch user rm USER\n");
        return 2;
    }
    if ((r = connect_redis(c)) == NULL)
        return 1;
    if (user_app(c, r, pos[0], app, sizeof app) != 0)
        goto out;
    struct app_keys k;
    keys_app(&k, c->key_prefix, app);
    keys_user(ukey, sizeof ukey, c->key_prefix, app, pos[0]);
    keys_global(users, sizeof users, c->key_prefix, "users");
    /* Deleting the hash also voids the fence, so a poll in flight cannot
     * write the user back (complete.lua compares fences). */
    const char *zd[] = {"ZREM", k.due, pos[0]}, *zl[] = {"ZREM", k.leases, pos[0]},
               *del[] = {"DEL", ukey}, *hd[] = {"HDEL", users, pos[0]};
    if (cmd_ok(r, 3, zd) || cmd_ok(r, 3, zl) || cmd_ok(r, 2, del) || cmd_ok(r, 3, hd))
        goto out;
    printf("user %s: removed\n", pos[0]);
    rc = 0;
out:
    redisFree(r);
    return rc;
}

/* user import: bulk `user add` (+ `watch start`) from JSON lines
 * {"user","app","access_token","refresh_token","expires_in","scope"}, sealed
 * the same way and written pipelined, IMPORT_BATCH users per round trip. */
#define IMPORT_BATCH 512

struct import_row {
    char user[ID_MAX + 1];
    char app[ID_MAX + 1];
    char *at, *rt;              /* sealed */
    long long expires_in;       /* s */
    char *scope;
    long line;
};

static void wipe(char *s)
{
    for (volatile char *p = s; p && *p; p++)
        *p = 0;
}

/* import_parse fills row from one line; -1 (reported) when the line is bad. */
static int import_parse(const struct crypto_keyring *kr, const char *file, long lineno, char *line,
                        struct import_row *row)
{
    char err[256], ad[ID_MAX + 8];
    cJSON *j = cJSON_Parse(line);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "user");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "app");
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "access_token");
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(j, "refresh_token");
    const cJSON *ei = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "scope");
    int rc = -1;

    memset(row, 0, sizeof *row);
    row->line = lineno;
    if (!cJSON_IsString(u) || !cJSON_IsString(a) || !cJSON_IsString(at) || !cJSON_IsString(rt) ||
        (ei && !cJSON_IsNumber(ei)) || (sc && !cJSON_IsString(sc))) {
        fprintf(stderr, "spotwatch: %s:%ld: want {\"user\",\"app\",\"access_token\",\"refresh_token\""
                        "[,\"expires_in\"][,\"scope\"]}\n", file, lineno);
        goto out;
    }
    if (check_id("user", u->valuestring) != 0 || check_id("app", a->valuestring) != 0)
        goto out;
    row->expires_in = ei ? (long long)ei->valuedouble : 3600;
    if (row->expires_in < 0 || row->expires_in > 100000000) {
        fprintf(stderr, "spotwatch: %s:%ld: expires_in out of range\n", file, lineno);
        goto out;
    }
    snprintf(row->user, sizeof row->user, "%s", u->valuestring);
    snprintf(row->app, sizeof row->app, "%s", a->valuestring);
    snprintf(ad, sizeof ad, "user:%s", row->user);
    row->at = crypto_seal(kr, ad, at->valuestring, err, sizeof err);
    row->rt = row->at ? crypto_seal(kr, ad, rt->valuestring, err, sizeof err) : NULL;
    row->scope = strdup(sc ? sc->valuestring : TOK_SCOPES);
    if (row->rt == NULL || row->scope == NULL) {
        fprintf(stderr, "spotwatch: %s:%ld: %s\n", file, lineno, row->rt ? "out of memory" : err);
        goto out;
    }
    rc = 0;
out:
    if (cJSON_IsString(at))
        wipe(at->valuestring);
    if (cJSON_IsString(rt))
        wipe(rt->valuestring);
    cJSON_Delete(j);
    if (rc != 0) {
        free(row->at);
        free(row->rt);
        free(row->scope);
        row->at = row->rt = row->scope = NULL;
    }
    return rc;
}

/* import_flush writes rows[0..n) and frees them; returns how many were stored
 * or -1 when Redis failed. Phase 1 asks, for every row, whether its app exists,
 * which app owns the user now and whether a poll is in flight; phase 2 writes
 * what `user add` (and `watch start`) would. */
static int import_flush(const struct sw_config *c, redisContext *r, const char *file,
                        struct import_row *rows, int n, int watch, long long interval)
{
    char users[KEY_MAX], apps[KEY_MAX], ukey[KEY_MAX], exp[24], now_s[24], when[24], iv[24];
    redisReply *rep;
    int stored = 0, ok[IMPORT_BATCH], leased[IMPORT_BATCH], sent = 0, failed = 0;

    keys_global(users, sizeof users, c->key_prefix, "users");
    keys_global(apps, sizeof apps, c->key_prefix, "apps");
    long long now = redis_now_ms(r);
    snprintf(now_s, sizeof now_s, "%lld", now);
    snprintf(iv, sizeof iv, "%lld", interval);
    for (int i = 0; i < n; i++) {
        struct app_keys k;
        keys_app(&k, c->key_prefix, rows[i].app);
        const char *ism[] = {"SISMEMBER", apps, rows[i].app};
        const char *hg[] = {"HGET", users, rows[i].user};
        const char *zs[] = {"ZSCORE", k.leases, rows[i].user};
        redisAppendCommandArgv(r, 3, ism, NULL);
        redisAppendCommandArgv(r, 3, hg, NULL);
        redisAppendCommandArgv(r, 3, zs, NULL);
    }
    for (int i = 0; i < n; i++) {
        redisReply *a = NULL, *o = NULL, *l = NULL;
        if (redisGetReply(r, (void **)&a) != REDIS_OK || redisGetReply(r, (void **)&o) != REDIS_OK ||
            redisGetReply(r, (void **)&l) != REDIS_OK) {
            fprintf(stderr, "spotwatch: Redis: %s\n", r->errstr);
            stored = -1;
            goto out;
        }
        ok[i] = 1;
        if (a->type != REDIS_REPLY_INTEGER || a->integer != 1) {
            fprintf(stderr, "spotwatch: %s:%ld: no such app '%s' (spotwatch app add)\n", file,
                    rows[i].line, rows[i].app);
            ok[i] = 0;
        } else if (o->type == REDIS_REPLY_STRING && strcmp(o->str, rows[i].app) != 0) {
            fprintf(stderr, "spotwatch: %s:%ld: user '%s' belongs to app '%s'; `user rm` it first\n",
                    file, rows[i].line, rows[i].user, o->str);
            ok[i] = 0;
        }
        leased[i] = l->type == REDIS_REPLY_STRING;
        freeReplyObject(a);
        freeReplyObject(o);
        freeReplyObject(l);
    }
    srand((unsigned)(now ^ getpid()));
    long long span = (interval > 0 ? interval : c->poll_interval_ms) / 4;
    for (int i = 0; i < n; i++) {
        if (!ok[i])
            continue;
        struct app_keys k;
        keys_app(&k, c->key_prefix, rows[i].app);
        keys_user(ukey, sizeof ukey, c->key_prefix, rows[i].app, rows[i].user);
        snprintf(exp, sizeof exp, "%lld", now + rows[i].expires_in * 1000);
        const char *hset[] = {"HSET", ukey, "app", rows[i].app, "access_token", rows[i].at,
                              "refresh_token", rows[i].rt, "expires_at", exp, "scope", rows[i].scope,
                              "authorized_at", now_s};
        const char *dir[] = {"HSET", users, rows[i].user, rows[i].app};
        redisAppendCommandArgv(r, 14, hset, NULL);
        redisAppendCommandArgv(r, 4, dir, NULL);
        sent += 2;
        if (!watch) {
            const char *nx[] = {"HSETNX", ukey, "status", "stopped"};
            redisAppendCommandArgv(r, 4, nx, NULL);
            sent++;
            continue;
        }
        const char *hs[] = {"HSET", ukey, "status", "active", "reason", "", "fails", "0", "idle", "0",
                            "interval_ms", iv};
        redisAppendCommandArgv(r, interval > 0 ? 12 : 10, hs, NULL);
        sent++;
        if (!leased[i]) {
            snprintf(when, sizeof when, "%lld", now + (span > 0 ? rand() % span : 0));
            const char *za[] = {"ZADD", k.due, "NX", when, rows[i].user};
            redisAppendCommandArgv(r, 5, za, NULL);
            sent++;
        }
    }
    for (int i = 0; i < sent; i++) {
        if (redisGetReply(r, (void **)&rep) != REDIS_OK) {
            fprintf(stderr, "spotwatch: Redis: %s\n", r->errstr);
            stored = -1;
            goto out;
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "spotwatch: Redis: %s\n", rep->str);
            failed = 1;
        }
        freeReplyObject(rep);
    }
    for (int i = 0; i < n; i++)
        stored += ok[i];
    if (failed)
        stored = -1;
out:
    for (int i = 0; i < n; i++) {
        free(rows[i].at);
        free(rows[i].rt);
        free(rows[i].scope);
    }
    return stored;
}

static int user_import(const struct sw_config *c, int argc, char **argv)
{
    struct opt o[] = {{"watch", NULL, 1}, {"interval", NULL, 0}, {NULL, NULL, 0}};
    const char *pos[1];
    struct crypto_keyring *kr = NULL;
    redisContext *r = NULL;
    struct import_row *rows = NULL;
    FILE *f = NULL;
    char *line = NULL, err[256];
    size_t cap = 0;
    long long interval = 0, stored = 0, bad = 0;
    long lineno = 0;
    int n = 0, rc = 1;

    if (parse_opts(argc, argv, o, pos, 1) != 1) {
        fprintf(stderr, "usage: spotwatch user import FILE|- [--watch] [--interval MS]\n");
        return 2;
    }
    if (o[1].value && parse_ll("--interval", o[1].value, 100, 86400000, &interval) != 0)
        return 2;
    if (keyring_file_load(c, &kr, 1, err, sizeof err) != 0) {
        fprintf(stderr, "spotwatch: %s\n", err);
        return 1;
    }
    f = strcmp(pos[0], "-") == 0 ? stdin : fopen(pos[0], "r");
    rows = calloc(IMPORT_BATCH, sizeof *rows);
    if (f == NULL || rows == NULL) {
        fprintf(stderr, "spotwatch: %s: %s\n", pos[0], f ? "out of memory" : strerror(errno));
        goto out;
    }
    if ((r = connect_redis(c)) == NULL)
        goto out;
    for (;;) {
        ssize_t len = getline(&line, &cap, f);
        if (len >= 0) {
            lineno++;
            if (strspn(line, " \t\r\n") == (size_t)len)
                continue;
            if (import_parse(kr, pos[0], lineno, line, &rows[n]) == 0)
                n++;
            else
                bad++;
            wipe(line);
        }
        if (n == IMPORT_BATCH || (len < 0 && n > 0)) {
            int s = import_flush(c, r, pos[0], rows, n, o[0].value != NULL, interval);
            if (s < 0)
                goto out;
            bad += n - s;
            stored += s;
            n = 0;
        }
        if (len < 0)
            break;
    }
    printf("imported %lld users%s", stored, o[0].value ? " (watching)" : "");
    if (bad)
        printf(", %lld lines refused", bad);
    printf("\n");
    rc = bad ? 1 : 0;
out:
    for (int i = 0; i < n; i++) {
        free(rows[i].at);
        free(rows[i].rt);
        free(rows[i].scope);
    }
    free(rows);
    if (line)
        secret_free(line);
    if (f && f != stdin)
        fclose(f);
    crypto_free(kr);
    if (r)
        redisFree(r);
    return rc;
}

int cli_user(const struct sw_config *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "add") == 0)
        return user_add(c, argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "show") == 0)
        return user_show(c, argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "ls") == 0)
        return user_ls(c, argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "rm") == 0)
        return user_rm(c, argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "import") == 0)
        return user_import(c, argc - 2, argv + 2);
    fprintf(stderr, "usage: spotwatch user add|show|ls|rm|import ...\n");
    return 2;
}

/* --------------------------------------------------------------- watch --- */

int cli_watch(const struct sw_config *c, int argc, char **argv)
{
    struct opt o[] = {{"interval", NULL, 0}, {NULL, NULL, 0}};
    const char *pos[2];
    char app[ID_MAX + 1], ukey[KEY_MAX], when[24];
    long long interval = 0;
    redisContext *r;
    int rc = 1;

    if (parse_opts(argc - 1, argv + 1, o, pos, 2) != 2 ||
        (strcmp(pos[0], "start") && strcmp(pos[0], "stop") && strcmp(pos[0], "now"))) {
        fprintf(stderr, "usage: spotwatch watch start USER [--interval MS] | stop USER | now USER\n");
        return 2;
    }
    if (o[0].value && parse_ll("--interval", o[0].value, 100, 86400000, &interval) != 0)
        return 2;
    if ((r = connect_redis(c)) == NULL)
        return 1;
    const char *user = pos[1];
    if (user_app(c, r, user, app, sizeof app) != 0)
        goto out;
    struct app_keys k;
    keys_app(&k, c->key_prefix, app);
    keys_user(ukey, sizeof ukey, c->key_prefix, app, user);
    long long now = redis_now_ms(r);
    if (strcmp(pos[0], "start") == 0) {
        char iv[24];
        snprintf(iv, sizeof iv, "%lld", interval);
        const char *hs[] = {"HSET", ukey, "status", "active", "reason", "", "interval_ms", iv,
                            "fails", "0", "idle", "0"};
        if (cmd_ok(r, interval > 0 ? 12 : 6, hs) != 0)
            goto out;
        if (interval == 0) {
            const char *hs2[] = {"HSET", ukey, "fails", "0", "idle", "0"};
            if (cmd_ok(r, 6, hs2) != 0)
                goto out;
        }
        /* Jitter: users started together must not poll on the same tick. */
        long long span = (interval > 0 ? interval : c->poll_interval_ms) / 4;
        srand((unsigned)(now ^ getpid()));
        snprintf(when, sizeof when, "%lld", now + (span > 0 ? rand() % span : 0));
        /* A user in flight is re-armed by its completion, not here. */
        redisReply *l = redisCommand(r, "ZSCORE %s %s", k.leases, user);
        int leased = l && l->type == REDIS_REPLY_STRING;
        if (l)
            freeReplyObject(l);
        const char *za[] = {"ZADD", k.due, "NX", when, user};
        if (!leased && cmd_ok(r, 5, za) != 0)
            goto out;
        printf("watching %s\n", user);
    } else if (strcmp(pos[0], "stop") == 0) {
        const char *hs[] = {"HSET", ukey, "status", "stopped"};
        const char *zr[] = {"ZREM", k.due, user};
        /* Plays while not watched are not backfilled later: the next start
         * begins the history afresh (complete.lua drops a backfill in flight). */
        const char *hd[] = {"HDEL", ukey, "backfill_at", "backfill_cursor"};
        if (cmd_ok(r, 4, hs) != 0 || cmd_ok(r, 3, zr) != 0 || cmd_ok(r, 4, hd) != 0)
            goto out;
        printf("stopped watching %s\n", user);
    } else {
        /* The plain-Redis equivalent (README): ZADD <due> XX LT <now_ms> <user> */
        snprintf(when, sizeof when, "%lld", now);
        const char *za[] = {"ZADD", k.due, "XX", "LT", when, user};
        if (cmd_ok(r, 6, za) != 0)
            goto out;
        printf("%s is due now\n", user);
    }
    rc = 0;
out:
    redisFree(r);
    return rc;
}

/* -------------------------------------------------------------- status --- */

static cJSON *status_app(redisContext *r, const struct sw_config *c, const char *app, long long now)
{
    struct app_keys k;
    keys_app(&k, c->key_prefix, app);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "app", app);
    redisReply *due = redisCommand(r, "ZCARD %s", k.due);
    redisReply *over = redisCommand(r, "ZCOUNT %s -inf %lld", k.due, now);
    redisReply *oldest = redisCommand(r, "ZRANGE %s 0 0 WITHSCORES", k.due);
    redisReply *leases = redisCommand(r, "ZCARD %s", k.leases);
    redisReply *rl = redisCommand(r, "HGETALL %s", k.rl);
    redisReply *st = redisCommand(r, "HGETALL %s", k.stats);
    redisReply *ap = redisCommand(r, "HMGET %s mode budget_30s quota_24h window_ms", k.app);
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
    if (ap && ap->type == REDIS_REPLY_ARRAY && ap->elements == 4) {
        cJSON_AddStringToObject(a, "mode", ap->element[0]->str ? ap->element[0]->str : "");
        if (ap->element[1]->str)
            budget = strtoll(ap->element[1]->str, NULL, 10);
        quota = ap->element[2]->str ? strtoll(ap->element[2]->str, NULL, 10) : c->app_quota_24h;
        if (ap->element[0]->str == NULL || strcmp(ap->element[0]->str, "development") != 0)
            quota = 0;   /* as claim.lua: only development mode has the 24 h quota */
        cJSON_AddNumberToObject(a, "quota_24h", (double)quota);
        if (ap->element[3]->str)
            window = strtoll(ap->element[3]->str, NULL, 10);
    }
    cJSON_AddNumberToObject(a, "budget_30s", (double)budget);
    cJSON_AddNumberToObject(a, "window_ms", (double)window);
    double eff = (double)budget;
    long long quota_used = 0;
    cJSON *limit = cJSON_AddObjectToObject(a, "limiter");
    cJSON_AddStringToObject(limit, "state", "ok");
    for (size_t i = 0; rl && rl->type == REDIS_REPLY_ARRAY && i + 1 < rl->elements; i += 2) {
        const char *f = rl->element[i]->str, *v = rl->element[i + 1]->str;
        if (strcmp(f, "budget_eff") == 0)
            eff = atof(v);
        else if (strcmp(f, "budget_ceiling") == 0)
            cJSON_AddNumberToObject(limit, f, atof(v));
        else if (f[0] == 'q' && f[1] >= '0' && f[1] <= '9' && strtoll(f + 1, NULL, 10) > now / 3600000 - 24)
            quota_used += strtoll(v, NULL, 10);
        else if (strcmp(f, "blocked_until") == 0 && strtoll(v, NULL, 10) > now) {
            cJSON_ReplaceItemInObject(limit, "state", cJSON_CreateString("blocked"));
            cJSON_AddNumberToObject(limit, "blocked_for_ms", (double)(strtoll(v, NULL, 10) - now));
        } else if (strcmp(f, "block_reason") == 0 || strcmp(f, "retry_after_capped_at") == 0 ||
                   strcmp(f, "blocked_at") == 0) {
            cJSON_AddStringToObject(limit, f, v);
        }
    }
    cJSON *bs = cJSON_GetObjectItem(limit, "block_reason");
    if (cJSON_GetObjectItem(limit, "blocked_for_ms") && bs && cJSON_IsString(bs) &&
        strcmp(bs->valuestring, "rate_limited") != 0)
        cJSON_ReplaceItemInObject(limit, "state", cJSON_CreateString(bs->valuestring));
    /* Our own count of the rolling 24 h quota (claim.lua's hour buckets). */
    cJSON_AddNumberToObject(limit, "quota_used_24h", (double)quota_used);
    if (quota > 0 && quota_used >= quota && !cJSON_GetObjectItem(limit, "blocked_for_ms"))
        cJSON_ReplaceItemInObject(limit, "state", cJSON_CreateString("quota_spent"));
    cJSON_AddNumberToObject(a, "budget_effective_30s", eff);
    cJSON *stats = cJSON_AddObjectToObject(a, "stats");
    for (size_t i = 0; st && st->type == REDIS_REPLY_ARRAY && i + 1 < st->elements; i += 2)
        cJSON_AddNumberToObject(stats, st->element[i]->str, atof(st->element[i + 1]->str));
    redisReply *rs[] = {due, over, oldest, leases, rl, st, ap};
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++)
        if (rs[i])
            freeReplyObject(rs[i]);
    return a;
}

/* status_users counts users by status; near gets {"count","users"}: the
 * users (not already reauth_required) whose refresh token dies within
 * REFRESH_WARN_MS, from the same pipelined HMGET. */
static cJSON *status_users(redisContext *r, const struct sw_config *c, long long now, cJSON *near)
{
    char users[KEY_MAX], ukey[KEY_MAX];
    cJSON *by = cJSON_CreateObject();
    cJSON *near_users = cJSON_CreateArray();
    int nnear = 0;
    keys_global(users, sizeof users, c->key_prefix, "users");
    redisReply *rep = redisCommand(r, "HGETALL %s", users);
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY)
        goto out;
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        keys_user(ukey, sizeof ukey, c->key_prefix, rep->element[i + 1]->str, rep->element[i]->str);
        redisAppendCommand(r, "HMGET %s status authorized_at", ukey);
    }
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        redisReply *s = NULL;
        if (redisGetReply(r, (void **)&s) != REDIS_OK)
            break;
        int ok = s && s->type == REDIS_REPLY_ARRAY && s->elements == 2;
        const char *st = ok && s->element[0]->type == REDIS_REPLY_STRING ? s->element[0]->str : "unknown";
        long long auth_at = ok && s->element[1]->type == REDIS_REPLY_STRING ? strtoll(s->element[1]->str, NULL, 10) : 0;
        if (auth_at > 0 && auth_at + REFRESH_LIFETIME_MS - now < REFRESH_WARN_MS &&
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

static cJSON *status_workers(redisContext *r, const struct sw_config *c, long long now)
{
    char wkey[KEY_MAX];
    cJSON *arr = cJSON_CreateArray();
    keys_global(wkey, sizeof wkey, c->key_prefix, "workers");
    redisReply *rep = redisCommand(r, "ZRANGEBYSCORE %s %lld +inf", wkey, now);
    redisReply *gc = redisCommand(r, "ZREMRANGEBYSCORE %s -inf %lld", wkey, now - 60000);
    if (gc)
        freeReplyObject(gc);
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        cJSON *w = cJSON_CreateObject();
        cJSON_AddStringToObject(w, "id", rep->element[i]->str);
        redisReply *h = redisCommand(r, "HGETALL %sworker:%s", c->key_prefix, rep->element[i]->str);
        for (size_t j = 0; h && h->type == REDIS_REPLY_ARRAY && j + 1 < h->elements; j += 2)
            cJSON_AddStringToObject(w, h->element[j]->str, h->element[j + 1]->str);
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

/* LISTPACK_ADVICE: the hash-max-listpack-value below which sealed tokens
 * (about 320 bytes for Spotify's access tokens) make every user hash a
 * hashtable, about twice the memory (tests/bench, scenario 5). */
#define LISTPACK_ADVICE 512

/* status_redis: what the server says of itself that bears on spotwatch.
 * CONFIG may be refused (managed Redis, ACLs): the setting is then left out. */
static cJSON *status_redis(redisContext *r)
{
    cJSON *o = cJSON_CreateObject();
    redisReply *rep = redisCommand(r, "INFO memory");
    const char *p;

    if (rep && rep->type == REDIS_REPLY_STRING && (p = strstr(rep->str, "used_memory:")) != NULL)
        cJSON_AddNumberToObject(o, "used_memory", strtod(p + strlen("used_memory:"), NULL));
    if (rep)
        freeReplyObject(rep);
    rep = redisCommand(r, "CONFIG GET hash-max-listpack-value");
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[1]->str)
        cJSON_AddNumberToObject(o, "hash_max_listpack_value", strtod(rep->element[1]->str, NULL));
    if (rep)
        freeReplyObject(rep);
    return o;
}

int cli_status(const struct sw_config *c, int argc, char **argv)
{
    struct opt o[] = {{"json", NULL, 1}, {NULL, NULL, 0}};
    const char *pos[1];
    char apps[KEY_MAX];
    redisContext *r;
    if (parse_opts(argc - 1, argv + 1, o, pos, 0) != 0)
        return 2;
    if ((r = connect_redis(c)) == NULL)
        return 1;
    long long now = redis_now_ms(r);
    cJSON *s = cJSON_CreateObject();
    cJSON_AddNumberToObject(s, "now_ms", (double)now);
    cJSON_AddItemToObject(s, "redis", status_redis(r));
    cJSON_AddItemToObject(s, "workers", status_workers(r, c, now));
    cJSON *near = cJSON_CreateObject();
    cJSON_AddItemToObject(s, "users", status_users(r, c, now, near));
    cJSON_AddItemToObject(s, "refresh_tokens_near_expiry", near);
    cJSON *arr = cJSON_AddArrayToObject(s, "apps");
    keys_global(apps, sizeof apps, c->key_prefix, "apps");
    redisReply *rep = redisCommand(r, "SMEMBERS %s", apps);
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
        cJSON_AddItemToArray(arr, status_app(r, c, rep->element[i]->str, now));
    if (rep)
        freeReplyObject(rep);
    redisFree(r);
    if (o[0].value)
        return print_json(s);

    cJSON *it, *rd = cJSON_GetObjectItem(s, "redis");
    printf("redis: used_memory=%.1f MB", num(rd, "used_memory") / 1e6);
    if (cJSON_GetObjectItem(rd, "hash_max_listpack_value")) {
        double lp = num(rd, "hash_max_listpack_value");
        printf(" hash-max-listpack-value=%.0f", lp);
        if (lp < LISTPACK_ADVICE)
            printf(" (below %d: sealed tokens make each user hash a hashtable, about twice the memory;"
                   " see README, Memory)", LISTPACK_ADVICE);
    }
    printf("\n");
    printf("workers: %d live\n", cJSON_GetArraySize(cJSON_GetObjectItem(s, "workers")));
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(s, "workers"))
        printf("  %s  polls=%s inflight=%s connections=%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(it, "id")),
               cJSON_GetStringValue(cJSON_GetObjectItem(it, "polls")) ?: "0",
               cJSON_GetStringValue(cJSON_GetObjectItem(it, "inflight")) ?: "0",
               cJSON_GetStringValue(cJSON_GetObjectItem(it, "connections")) ?: "0");
    printf("users:");
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(s, "users"))
        printf(" %s=%.0f", it->string, it->valuedouble);
    printf("\n");
    if (cJSON_GetNumberValue(cJSON_GetObjectItem(near, "count")) > 0) {
        printf("refresh tokens near expiry: %.0f (reconnect them):",
               cJSON_GetNumberValue(cJSON_GetObjectItem(near, "count")));
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(near, "users"))
            printf(" %s", it->valuestring);
        printf("\n");
    }
    cJSON_ArrayForEach(it, arr) {
        cJSON *lim = cJSON_GetObjectItem(it, "limiter"), *st = cJSON_GetObjectItem(it, "stats");
        printf("app %s: scheduled=%.0f in_flight=%.0f overdue=%.0f lag=%.0fms budget=%.0f/%gs effective=%.1f limiter=%s",
               cJSON_GetStringValue(cJSON_GetObjectItem(it, "app")),
               num(it, "scheduled"),
               num(it, "in_flight"),
               num(it, "overdue"),
               num(it, "schedule_lag_ms"),
               num(it, "budget_30s"),
               num(it, "window_ms") / 1000,
               num(it, "budget_effective_30s"),
               cJSON_GetStringValue(cJSON_GetObjectItem(lim, "state")));
        if (cJSON_GetObjectItem(lim, "blocked_for_ms"))
            printf(" (for %.0f s)", num(lim, "blocked_for_ms") / 1000);
        if (cJSON_GetObjectItem(lim, "retry_after_capped_at"))
            printf(" [a Retry-After was capped]");
        if (num(it, "quota_24h") > 0)
            printf(" quota=%.0f/%.0f per 24h", num(lim, "quota_used_24h"), num(it, "quota_24h"));
        printf("\n  polls=%.0f errors=%.0f 429s=%.0f\n", num(st, "polls"),
               num(st, "errors"),
               num(st, "r429"));
    }
    cJSON_Delete(s);
    return 0;
}

/* ---------------------------------------------------------------- tail --- */

int cli_tail(const struct sw_config *c, int argc, char **argv)
{
    char ch[KEY_MAX];
    redisContext *r = connect_redis(c);
    if (r == NULL)
        return 1;
    if (argc <= 1) {
        snprintf(ch, sizeof ch, "%splayback:*", c->key_prefix);
        redisAppendCommand(r, "PSUBSCRIBE %s", ch);
    } else {
        for (int i = 1; i < argc; i++) {
            keys_channel(ch, sizeof ch, c->key_prefix, argv[i]);
            redisAppendCommand(r, "SUBSCRIBE %s", ch);
        }
    }
    struct timeval forever = {0, 0};
    redisSetTimeout(r, forever);
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (;;) {
        redisReply *m = NULL;
        if (redisGetReply(r, (void **)&m) != REDIS_OK) {
            fprintf(stderr, "spotwatch: tail: Redis link lost: %s\n", r->errstr);
            redisFree(r);
            return 1;
        }
        if (m && m->type == REDIS_REPLY_ARRAY && m->elements >= 3) {
            redisReply *kind = m->element[0], *payload = m->element[m->elements - 1];
            if ((strcmp(kind->str, "message") == 0 || strcmp(kind->str, "pmessage") == 0) &&
                payload->type == REDIS_REPLY_STRING)
                printf("%s\n", payload->str);
        }
        if (m)
            freeReplyObject(m);
    }
}

/* -------------------------------------------------------------- keygen --- */

int cli_keygen(const struct sw_config *c, int argc, char **argv)
{
    char err[256];
    (void)c;
    if (argc != 2) {
        fprintf(stderr, "usage: spotwatch keygen FILE\n");
        return 2;
    }
    if (crypto_keygen(argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "spotwatch: %s\n", err);
        return 1;
    }
    printf("new token key written to %s\n", argv[1]);
    return 0;
}

/* -------------------------------------------------------- connect-link --- */

int cli_connect_link(const struct sw_config *c, int argc, char **argv)
{
    struct opt o[] = {{"app", NULL, 0}, {"return-to", NULL, 0}, {"ttl", NULL, 0}, {NULL, NULL, 0}};
    const char *pos[1];
    char err[512];
    long long ttl = 600;
    struct oauth_keys k;

    if (parse_opts(argc - 1, argv + 1, o, pos, 1) != 1) {
        fprintf(stderr, "usage: spotwatch connect-link USER [--app APP] [--return-to URL] [--ttl S]\n");
        return 2;
    }
    if (o[2].value && parse_ll("--ttl", o[2].value, 1, CONNECT_LINK_MAX_AHEAD_S, &ttl) != 0)
        return 2;
    if (check_id("user", pos[0]) != 0 || (o[0].value && check_id("app", o[0].value) != 0))
        return 2;
    /* serve would refuse it: say so here, where the developer is looking. */
    if (o[1].value && !oauth_return_to_ok(o[1].value, c->connect_allowed_origins, c->public_url)) {
        fprintf(stderr, "spotwatch: --return-to: not on connect-allowed-origins (unset: the origin "
                        "of public-url), so serve would refuse it\n");
        return 2;
    }
    if (c->connect_key_file[0] == '\0') {
        fprintf(stderr, "spotwatch: connect-link needs connect-key-file (the key serve checks links with)\n");
        return 2;
    }
    if (oauth_keys_load_file(&k, c->connect_key_file, "connect key file", err, sizeof err) != 0) {
        fprintf(stderr, "spotwatch: %s\n", err);
        return 1;
    }
    char *url = connect_link_url(&k, c->public_url, pos[0], o[0].value, o[1].value,
                             (long long)time(NULL) + ttl);
    oauth_keys_clear(&k);
    if (url == NULL) {
        fprintf(stderr, "spotwatch: out of memory\n");
        return 1;
    }
    printf("%s\n", url);
    free(url);
    return 0;
}
