#ifndef SW_USER_DIR_H
#define SW_USER_DIR_H
/* user_dir: the directory <p>users (HASH user -> app) next to an app's own
 * keys, for the blocking side (the CLI, serve). The directory is a global
 * key, so in a Redis Cluster it lives in another slot than the app's keys
 * and no script or MULTI may touch both. One code path for both modes:
 *
 *   add      user_dir_claim (HSETNX: the id is claimed for the app, or
 *            found the app's already, or found another app's: refused),
 *            then the app's script (user_put.lua, oauth_store.lua: only
 *            {<app>} keys; the app's member set <p>{<app>}:members is the
 *            one the user cap counts); a script that refuses (app full)
 *            makes the caller user_dir_release the claim it made itself.
 *   remove   user_dir_remove: the app's keys of the user in one MULTI (the
 *            app's slot), then the directory entry while it still names the
 *            app (WATCH, HGET, MULTI, HDEL, EXEC: never another app's).
 *
 * A crash between the two steps leaves a directory entry naming the app
 * with no user record (add) or with the record gone (remove): the next add
 * of the same user to the same app adopts the entry, `user rm` clears it;
 * any other app is refused the id until then, as when the user existed.
 * Errors carry Redis' words, never a token. */
#include <stddef.h>
#include "redis/redis_sync.h"

enum user_dir_claim {
    USER_DIR_ERROR = -1,  /* Redis failed: err says why */
    USER_DIR_MINE = 0,    /* the entry named app already (adopted) */
    USER_DIR_NEW = 1,     /* set now: release it if the script refuses */
    USER_DIR_OTHER = 2    /* another app owns the id: named in owner */
};

/* user_dir_claim claims user for app in <prefix>users. */
enum user_dir_claim user_dir_claim(struct redis_sync *r, const char *prefix, const char *user, const char *app,
                                   char *owner, size_t ownerlen, char *err, size_t errlen);

/* user_dir_release deletes user's entry while it still names app. 1
 * deleted, 0 it did not name app (left alone), -1 with err. */
int user_dir_release(struct redis_sync *r, const char *prefix, const char *user, const char *app, char *err,
                     size_t errlen);

/* user_dir_remove removes user of app: its record, schedule, lease, member
 * and broken entries (one MULTI, the app's slot), then its directory entry
 * (user_dir_release). 0 done, -1 with err (the MULTI failed: nothing of
 * the app's removed). */
int user_dir_remove(struct redis_sync *r, const char *prefix, const char *user, const char *app, char *err,
                    size_t errlen);

#endif
