/* user_dir.c: the directory claimed beside the app's script (include/redis/user_dir.h). */
#include "redis/user_dir.h"

#include <stdio.h>
#include <string.h>
#include "redis/key_schema.h"

/* reply_ok: rep is not NULL nor an error (said in err); frees it. */
static int reply_ok(struct redis_sync *r, redisReply *rep, char *err, size_t errlen)
{
    int ok = rep && rep->type != REDIS_REPLY_ERROR;
    if (!ok)
        snprintf(err, errlen, "%s", rep ? rep->str : redis_sync_errstr(r));
    if (rep)
        freeReplyObject(rep);
    return ok;
}

enum user_dir_claim user_dir_claim(struct redis_sync *r, const char *prefix, const char *user, const char *app,
                                   char *owner, size_t ownerlen, char *err, size_t errlen)
{
    char users[KEY_MAX];
    const char *set[] = {"HSETNX", users, user, app}, *get[] = {"HGET", users, user};
    redisReply *rep;

    keys_global(users, sizeof users, prefix, "users");
    if ((rep = redis_sync_cmd(r, 4, set, err, errlen)) == NULL)
        return USER_DIR_ERROR;
    int fresh = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    freeReplyObject(rep);
    if (fresh)
        return USER_DIR_NEW;
    if ((rep = redis_sync_cmd(r, 3, get, err, errlen)) == NULL)
        return USER_DIR_ERROR;
    enum user_dir_claim c = USER_DIR_MINE;
    if (rep->type != REDIS_REPLY_STRING) {
        /* Removed between the two commands: claim again, once. */
        freeReplyObject(rep);
        if ((rep = redis_sync_cmd(r, 4, set, err, errlen)) == NULL)
            return USER_DIR_ERROR;
        fresh = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
        freeReplyObject(rep);
        if (!fresh)
            snprintf(err, errlen, "the directory entry of the user kept changing; try again");
        return fresh ? USER_DIR_NEW : USER_DIR_ERROR;
    }
    if (strcmp(rep->str, app) != 0) {
        snprintf(owner, ownerlen, "%s", rep->str);
        c = USER_DIR_OTHER;
    }
    freeReplyObject(rep);
    return c;
}

int user_dir_release(struct redis_sync *r, const char *prefix, const char *user, const char *app, char *err,
                     size_t errlen)
{
    char users[KEY_MAX];
    keys_global(users, sizeof users, prefix, "users");
    for (int attempt = 0; attempt < 5; attempt++) {
        if (!reply_ok(r, redis_sync_command(r, "WATCH %s", users), err, errlen))
            return -1;
        redisReply *own = redis_sync_command(r, "HGET %s %s", users, user);
        if (own == NULL || own->type == REDIS_REPLY_ERROR) {
            reply_ok(r, own, err, errlen);
            redisReply *u = redis_sync_command(r, "UNWATCH");
            if (u)
                freeReplyObject(u);
            return -1;
        }
        int mine = own->type == REDIS_REPLY_STRING && strcmp(own->str, app) == 0;
        freeReplyObject(own);
        if (!mine)
            return reply_ok(r, redis_sync_command(r, "UNWATCH"), err, errlen) ? 0 : -1;
        if (!reply_ok(r, redis_sync_command(r, "MULTI"), err, errlen) ||
            !reply_ok(r, redis_sync_command(r, "HDEL %s %s", users, user), err, errlen))
            return -1;
        redisReply *done = redis_sync_command(r, "EXEC");
        int applied = done && done->type == REDIS_REPLY_ARRAY;
        if (!reply_ok(r, done, err, errlen))
            return -1;
        if (applied)
            return 1;
    }
    snprintf(err, errlen, "the directory kept changing; try again");
    return -1;
}

int user_dir_remove(struct redis_sync *r, const char *prefix, const char *user, const char *app, char *err,
                    size_t errlen)
{
    char ukey[KEY_MAX];
    struct app_keys k;
    keys_app(&k, prefix, app);
    keys_user(ukey, sizeof ukey, prefix, app, user);
    /* Deleting the hash also voids the fence, so a poll in flight cannot
     * write the user back (complete.lua compares fences). */
    int ok = reply_ok(r, redis_sync_command(r, "MULTI"), err, errlen) &&
             reply_ok(r, redis_sync_command(r, "ZREM %s %s", k.due, user), err, errlen) &&
             reply_ok(r, redis_sync_command(r, "ZREM %s %s", k.leases, user), err, errlen) &&
             reply_ok(r, redis_sync_command(r, "DEL %s", ukey), err, errlen) &&
             reply_ok(r, redis_sync_command(r, "SREM %s %s", k.members, user), err, errlen) &&
             reply_ok(r, redis_sync_command(r, "HDEL %s %s", k.broken, user), err, errlen);
    redisReply *done = redis_sync_command(r, ok ? "EXEC" : "DISCARD");
    int applied = ok && done && done->type == REDIS_REPLY_ARRAY;
    if (!reply_ok(r, done, err, errlen) || !applied) {
        if (ok && !err[0])
            snprintf(err, errlen, "the transaction was not applied");
        return -1;
    }
    return user_dir_release(r, prefix, user, app, err, errlen) < 0 ? -1 : 0;
}
