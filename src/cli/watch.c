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

int cli_watch(const struct sw_config *c, int argc, char **argv)
{
    struct cli_opt o[] = {{"interval", NULL, 0}, {NULL, NULL, 0}};
    const char *pos[2];
    char app[ID_MAX + 1], ukey[KEY_MAX], when[24];
    long long interval = 0;
    redisContext *r;
    int rc = 1;

    if (cli_parse_opts(argc - 1, argv + 1, o, pos, 2) != 2 ||
        (strcmp(pos[0], "start") && strcmp(pos[0], "stop") && strcmp(pos[0], "now"))) {
        fprintf(stderr, "usage: spotwatch watch start USER [--interval MS] | stop USER | now USER\n");
        return 2;
    }
    if (o[0].value && cli_parse_ll("--interval", o[0].value, 100, 86400000, &interval) != 0)
        return 2;
    const char *user = pos[1];
    if ((r = cli_connect_user(c, user, app, sizeof app)) == NULL)
        return 1;
    struct app_keys k;
    keys_app(&k, c->key_prefix, app);
    keys_user(ukey, sizeof ukey, c->key_prefix, app, user);
    long long now = redis_sync_now_ms(r);
    if (strcmp(pos[0], "start") == 0) {
        char iv[24];
        snprintf(iv, sizeof iv, "%lld", interval);
        const char *hs[] = {"HSET", ukey, "status", "active", "reason", "", "fails", "0", "idle", "0",
                            "interval_ms", iv};
        if (cli_cmd_ok(r, interval > 0 ? 12 : 10, hs) != 0)
            goto out;
        /* Jitter: users started together must not poll on the same tick. */
        srand((unsigned)(now ^ getpid()));
        snprintf(when, sizeof when, "%lld", now + cli_jitter_ms(c, interval));
        /* A user in flight is re-armed by its completion, not here. */
        redisReply *l = redisCommand(r, "ZSCORE %s %s", k.leases, user);
        int leased = l && l->type == REDIS_REPLY_STRING;
        if (l)
            freeReplyObject(l);
        const char *za[] = {"ZADD", k.due, "NX", when, user};
        if (!leased && cli_cmd_ok(r, 5, za) != 0)
            goto out;
        printf("watching %s\n", user);
    } else if (strcmp(pos[0], "stop") == 0) {
        const char *hs[] = {"HSET", ukey, "status", "stopped"};
        const char *zr[] = {"ZREM", k.due, user};
        /* Plays while not watched are not backfilled later: the next start
         * begins the history afresh (complete.lua drops a backfill in flight). */
        const char *hd[] = {"HDEL", ukey, "backfill_at", "backfill_cursor", "backfill_seen"};
        if (cli_cmd_ok(r, 4, hs) != 0 || cli_cmd_ok(r, 3, zr) != 0 || cli_cmd_ok(r, 5, hd) != 0)
            goto out;
        printf("stopped watching %s\n", user);
    } else {
        /* The plain-Redis equivalent (README): ZADD <due> XX LT <now_ms> <user> */
        snprintf(when, sizeof when, "%lld", now);
        const char *za[] = {"ZADD", k.due, "XX", "LT", when, user};
        if (cli_cmd_ok(r, 6, za) != 0)
            goto out;
        printf("%s is due now\n", user);
    }
    rc = 0;
out:
    redisFree(r);
    return rc;
}

