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
#include "redis/redis_sync.h"
#include "worker/worker.h"

static int app_add(const struct sw_config *c, int argc, char **argv)
{
    struct cli_opt o[] = {{"client-id", NULL, 0}, {"client-secret", NULL, 0}, {"mode", NULL, 0},
                      {"budget", NULL, 0}, {"quota", NULL, 0}, {"window-ms", NULL, 0},
                      {"client-secret-file", NULL, 0}, {"developer", NULL, 0}, {"quota-window-ms", NULL, 0},
                      {NULL, NULL, 0}};
    const struct cli_secret sp[1] = {{&o[1], &o[6]}};
    const char *pos[1];
    struct crypto_keyring *kr = NULL;
    redisContext *r = NULL;
    char *secret = NULL, *sealed = NULL, err[256], ad[ID_MAX + 8], appkey[KEY_MAX], apps[KEY_MAX];
    long long budget = -1, quota = -1, window = -1, qwindow = -1;
    int rc = 1;

    if (cli_parse_opts(argc, argv, o, pos, 1) != 1 || !o[0].value || !o[1].value == !o[6].value) {
        fprintf(stderr, "usage: spotwatch app add APP --client-id ID --client-secret-file FILE|- "
                        "[--mode development|extended] [--budget N] [--quota N] [--window-ms MS]\n"
                        "       [--developer ID] [--quota-window-ms MS]\n"
                        "       (or --client-secret SECRET, which others can read in the process list)\n");
        return 2;
    }
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
        (o[8].value && cli_parse_ll("--quota-window-ms", o[8].value, 24000, 86400000, &qwindow) != 0))
        return 2;
    /* The developer account whose 24 h quota the app shares (its ledger's
     * hash tag): by default the app's own client id. */
    const char *developer = o[7].value ? o[7].value : o[0].value;
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
    const char *hset[] = {"HSET", appkey, "client_id", o[0].value, "client_secret", sealed, "mode", mode,
                          "developer", developer};
    if (cli_cmd_ok(r, 10, hset) != 0)
        goto out;
    char num[24];
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
    if (cli_cmd_ok(r, 3, sadd) != 0)
        goto out;
    /* New credentials end an invalid_client block, once the workers have
     * reread the app (they do every few seconds). */
    redisReply *bl = redisCommand(r, "HMGET %s block_reason blocked_until", k.rl);
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
    printf("app %s: %s mode\n", pos[0], mode);
    rc = 0;
out:
    secret_free(secret);
    free(sealed);
    crypto_free(kr);
    if (r)
        redisFree(r);
    return rc;
}

static int app_ls(const struct sw_config *c, int argc, char **argv)
{
    struct cli_opt o[] = {{"json", NULL, 1}, {NULL, NULL, 0}};
    const char *pos[1];
    redisReply *rep;
    redisContext *r;
    if (cli_parse_opts(argc, argv, o, pos, 0) != 0)
        return 2;
    if ((r = cli_connect_read(c, "SMEMBERS", "apps", &rep)) == NULL)
        return 1;
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
        char e[3][CLI_ESC_MAX];
        if (!o[0].value)
            printf("%s\tclient_id=%s\tmode=%s\tscheduled=%d\tin_flight=%d\n",
                   cli_esc(rep->element[i]->str, e[0], sizeof e[0]),
                   cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(a, "client_id")), e[1], sizeof e[1]),
                   cli_esc(cJSON_GetStringValue(cJSON_GetObjectItem(a, "mode")), e[2], sizeof e[2]),
                   (int)cJSON_GetNumberValue(cJSON_GetObjectItem(a, "scheduled")),
                   (int)cJSON_GetNumberValue(cJSON_GetObjectItem(a, "in_flight")));
        cJSON_AddItemToArray(arr, a);
        if (h) freeReplyObject(h);
        if (n) freeReplyObject(n);
        if (l) freeReplyObject(l);
    }
    freeReplyObject(rep);
    redisFree(r);
    return cli_list_end(arr, o[0].value != NULL);
}

/* unblock_developer: the app's developer ledger forgets its QUOTA_EXCEEDED
 * blocks and the limit it learned from one (the quota was raised, say). */
static int unblock_developer(const struct sw_config *c, redisContext *r, const struct app_keys *k)
{
    char ledger[KEY_MAX];
    redisReply *h = redisCommand(r, "HMGET %s developer client_id", k->app);
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
static int app_unblock(const struct sw_config *c, int argc, char **argv)
{
    struct cli_opt o[] = {{NULL, NULL, 0}};
    const char *pos[1];
    char apps[KEY_MAX];
    redisContext *r;
    int rc = 1;

    if (cli_parse_opts(argc, argv, o, pos, 1) != 1) {
        fprintf(stderr, "usage: spotwatch app unblock APP\n");
        return 2;
    }
    if (cli_check_id("app", pos[0]) != 0)
        return 2;
    if ((r = cli_connect(c)) == NULL)
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
    redisFree(r);
    return rc;
}

int cli_app(const struct sw_config *c, int argc, char **argv)
{
    static const struct cli_sub subs[] = {
        {"add", app_add}, {"ls", app_ls}, {"unblock", app_unblock}, {NULL, NULL}};
    return cli_dispatch(c, argc, argv, subs, "usage: spotwatch app add|ls|unblock ...\n");
}
