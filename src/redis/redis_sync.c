/* redis_sync.c: a blocking Redis connection (see include/redis/redis_sync.h). */
#include <stdio.h>
#include "redis/redis_sync.h"

redisContext *redis_sync_connect(const struct sw_config *c, int timeout_s, char *err, size_t errlen)
{
    struct timeval tv = {timeout_s, 0};
    redisContext *r = redisConnectWithTimeout(c->redis_host, c->redis_port, tv);
    redisReply *rep = NULL;

    if (r == NULL || r->err) {
        snprintf(err, errlen, "cannot connect to Redis at %.200s:%d: %.100s", c->redis_host,
                 c->redis_port, r ? r->errstr : "out of memory");
        goto fail;
    }
    redisSetTimeout(r, tv);
    if (c->redis_password[0]) {
        const char *with_user[] = {"AUTH", c->redis_user, c->redis_password};
        const char *without[] = {"AUTH", c->redis_password};
        rep = c->redis_user[0] ? redisCommandArgv(r, 3, with_user, NULL)
                               : redisCommandArgv(r, 2, without, NULL);
        if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "Redis AUTH failed: %.200s", rep ? rep->str : r->errstr);
            goto fail;
        }
        freeReplyObject(rep);
        rep = NULL;
    }
    if (c->redis_db) {
        rep = redisCommand(r, "SELECT %d", c->redis_db);
        if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "Redis SELECT %d failed: %.200s", c->redis_db, rep ? rep->str : r->errstr);
            goto fail;
        }
        freeReplyObject(rep);
    }
    return r;
fail:
    if (rep)
        freeReplyObject(rep);
    if (r)
        redisFree(r);
    return NULL;
}
