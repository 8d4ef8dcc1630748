/* watch.c: `spotwatch watch start|stop|now USER`: a user on or off the
 * schedule (<p>{<app>}:due), or due at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include "cli/cli.h"
#include "cli_int.h"
#include "redis/redis_sync.h"

/* watch_now makes user due now: only a user being watched (status active,
 * on the schedule or in flight); anything else fails, saying why. */
static int watch_now(struct redis_sync *r, const struct app_keys *k, const char *ukey, const char *user, long long now)
{
    char when[24];
    redisReply *st = redis_sync_command(r, "HGET %s status", ukey);
    redisReply *l = redis_sync_command(r, "ZSCORE %s %s", k->leases, user);
    char status[64];
    snprintf(status, sizeof status, "%s", st && st->type == REDIS_REPLY_STRING ? st->str : "unknown");
    int leased = l && l->type == REDIS_REPLY_STRING;
    if (st)
        freeReplyObject(st);
    if (l)
        freeReplyObject(l);
    if (strcmp(status, "active") != 0) {
        char e[CLI_ESC_MAX];
        fprintf(stderr, "spotwatch: user '%s' is not being watched (status %s); nothing scheduled "
                        "(`spotwatch watch start %s` first)\n", user, cli_esc(status, e, sizeof e), user);
        return 1;
    }
    if (leased) {
        printf("%s is being polled now\n", user);
        return 0;
    }
    /* The plain-Redis equivalent (README): ZADD <due> XX LT <now_ms> <user> */
    snprintf(when, sizeof when, "%lld", now);
    const char *za[] = {"ZADD", k->due, "XX", "LT", when, user};
    const char *zs[] = {"ZSCORE", k->due, user};
    if (cli_cmd_ok(r, 6, za) != 0)
        return 1;
    redisReply *d = cli_cmd(r, 3, zs);
    int scheduled = d && d->type == REDIS_REPLY_STRING;
    if (d)
        freeReplyObject(d);
    if (!scheduled) {
        fprintf(stderr, "spotwatch: user '%s' is active but not on the schedule; nothing scheduled "
                        "(`spotwatch watch start %s` puts it back)\n", user, user);
        return 1;
    }
    printf("%s is due now\n", user);
    return 0;
}

int cli_watch(const struct sw_config *c, struct cli_args *a)
{
    struct cli_opt *o = a->o;
    const char *verb = a->cmd->name;
    char app[ID_MAX + 1], ukey[KEY_MAX], when[24];
    long long interval = 0;
    struct redis_sync *r;
    int rc = 1;

    if (strcmp(verb, "start") == 0 && o[0].value &&
        cli_parse_ll("--interval", o[0].value, 100, 86400000, &interval) != 0)
        return 2;
    const char *user = a->pos[0];
    if ((r = cli_connect_user(c, user, app, sizeof app)) == NULL)
        return 1;
    struct app_keys k;
    keys_app(&k, c->key_prefix, app);
    keys_user(ukey, sizeof ukey, c->key_prefix, app, user);
    long long now = redis_sync_now_ms(r);
    if (strcmp(verb, "start") == 0) {
        char iv[24];
        snprintf(iv, sizeof iv, "%lld", interval);
        const char *hs[] = {"HSET", ukey, "status", "active", "interval_ms", iv};
        /* An empty reason is absent, not "", and fails and idle are absent
         * at 0 (README, memory; include/redis/script_contract.h
         * SC_USER_DEFAULTS). */
        const char *hd[] = {"HDEL", ukey, "reason", "fails", "idle"};
        if (cli_cmd_ok(r, interval > 0 ? 6 : 4, hs) != 0 || cli_cmd_ok(r, 5, hd) != 0)
            goto out;
        /* Jitter: users started together must not poll on the same tick. */
        srand((unsigned)(now ^ getpid()));
        snprintf(when, sizeof when, "%lld", now + cli_jitter_ms(c, interval));
        /* A user in flight is re-armed by its completion, not here. */
        redisReply *l = redis_sync_command(r, "ZSCORE %s %s", k.leases, user);
        int leased = l && l->type == REDIS_REPLY_STRING;
        if (l)
            freeReplyObject(l);
        const char *za[] = {"ZADD", k.due, "NX", when, user};
        if (!leased && cli_cmd_ok(r, 5, za) != 0)
            goto out;
        printf("watching %s\n", user);
    } else if (strcmp(verb, "stop") == 0) {
        const char *hs[] = {"HSET", ukey, "status", "stopped"};
        const char *zr[] = {"ZREM", k.due, user};
        /* Plays while not watched are not backfilled later: the next start
         * begins the history afresh (complete.lua drops a backfill in flight). */
        const char *hd[] = {"HDEL", ukey, "backfill_at", "backfill_cursor", "backfill_seen"};
        if (cli_cmd_ok(r, 4, hs) != 0 || cli_cmd_ok(r, 3, zr) != 0 || cli_cmd_ok(r, 5, hd) != 0)
            goto out;
        printf("stopped watching %s\n", user);
    } else {
        rc = watch_now(r, &k, ukey, user, now);
        goto out;
    }
    rc = 0;
out:
    redis_sync_free(r);
    return rc;
}

