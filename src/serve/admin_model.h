#ifndef SW_ADMIN_MODEL_H
#define SW_ADMIN_MODEL_H
/* admin_model: what the dashboard reads from Redis, as cJSON values the
 * pages render (the same reads as `spotwatch status` and `user ls`, which
 * serve cannot call: src/cli is the CLI's). Every function takes a blocking
 * context, returns a new cJSON value the caller deletes (NULL only when out
 * of memory, or, for admin_model_user, when the user is unknown) and treats
 * what Redis holds as hostile: a field of the wrong type reads as absent.
 * Secrets are never read: no token nor client secret leaves Redis here. */
#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include "base/config.h"
#include "redis/redis_sync.h"

/* ADMIN_REFRESH_LIFETIME_MS: Spotify's refresh tokens die 180 days after the
 * authorisation (as `user show` counts). */
#define ADMIN_REFRESH_LIFETIME_MS (180LL * 24 * 3600 * 1000)

/* admin_model_apps: the app ids, sorted: ["app1", ...]. */
cJSON *admin_model_apps(struct redis_sync *r, const struct sw_config *c);

/* admin_model_app: {"app","budget_30s","window_ms","scheduled","overdue",
 * "in_flight","polls","errors","r429","blocked_for_ms" (0 = not blocked),
 * "block_reason"}. */
cJSON *admin_model_app(struct redis_sync *r, const struct sw_config *c, const char *app, long long now);

/* admin_model_users: every user of the directory: [{"user","app","status",
 * "reason","display_name","playing" (bool),"track" (the last track seen in
 * the app's recent events, "" when none),"last_error","last_error_at",
 * "next_poll_at" (ms, 0 = not scheduled)}], in the directory's order. */
cJSON *admin_model_users(struct redis_sync *r, const struct sw_config *c);

/* admin_model_user: {"user","app","fields":{every field of the user's hash
 * but tokens and locks},"next_poll_at","in_flight","access_expires_at",
 * "refresh_expires_at","events":[entries, newest first, at most max]} from
 * the app's recent stream entries; NULL when the user is not in the
 * directory. */
cJSON *admin_model_user(struct redis_sync *r, const struct sw_config *c, const char *user, int max);

/* admin_model_workers: the live workers: [{"id", and every field of its
 * hash but the histograms}]. */
cJSON *admin_model_workers(struct redis_sync *r, const struct sw_config *c, long long now);

/* admin_model_redis: {"used_memory_human","maxmemory_human","role",
 * "connected_slaves","redis_version","cluster_enabled"} from INFO (of one
 * node); in cluster mode also "nodes" (the primaries asked), "used_memory"
 * (their sum, bytes) and "cluster" (cluster_topo_json's object: each
 * primary's slots and replicas, each app's primary). */
cJSON *admin_model_redis(struct redis_sync *r, const struct sw_config *c);

/* admin_model_polls: the app's poll counter (stats polls), 0 when absent. */
double admin_model_polls(struct redis_sync *r, const struct sw_config *c, const char *app);

/* admin_model_entry reads one stream entry ([id, [field, value, ...]]) into
 * {"id","user","type","event" (the event's JSON parsed)}; NULL when it is
 * not a well-formed event entry. */
cJSON *admin_model_entry(const redisReply *e);

/* admin_model_track: "name — artist, artist" of an event's track, written
 * into out (n bytes, cut); "" when the event has none. */
void admin_model_track(const cJSON *event, char *out, size_t n);

#endif
