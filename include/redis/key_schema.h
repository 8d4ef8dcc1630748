#ifndef SW_KEY_SCHEMA_H
#define SW_KEY_SCHEMA_H
/* keys: the Redis key schema, in one place (README.md, "Redis key schema").
 * <p> is the key-prefix directive ("sw:"). Every key of an app carries the
 * app's hash tag {<app>}, so each Lua script touches one Redis Cluster slot.
 *
 *   <p>apps                 SET    app ids
 *   <p>users                HASH   user -> app (the directory)
 *   <p>workers              ZSET   worker id -> heartbeat expiry (ms)
 *   <p>worker:<id>          HASH   host, pid, started, polls, inflight, connections,
 *                                  lag_* / poll_* percentiles, lag_hist, poll_hist
 *   <p>{<app>}:app          HASH   client_id, client_secret (sealed), mode, budget_30s, quota_24h,
 *                                  max_users (the user cap, lua/lib/user_cap.lua),
 *                                  developer, quota_window_ms
 *   <p>{<app>}:user:<user>  HASH   status, tokens (sealed), expiry, schedule, last state, counters
 *   <p>{<app>}:due          ZSET   user -> next poll (ms)
 *   <p>{<app>}:leases       ZSET   user -> lease expiry (ms)
 *   <p>{<app>}:confirm      ZSET   user -> when a held change's confirming poll falls due (ms;
 *                                  its due time too): claimed ahead of users overdue
 *   <p>{<app>}:rl           HASH   limiter: blocked_until, block_reason, budget_eff, allowance,
 *                                  qblock_<bucket>, pace_ms (lua/lib/limiter.lua)
 *   <p>{dev:<id>}:quota     HASH   a developer's quota ledger: s<slot>, block_<bucket>, learned,
 *                                  users:<app> (lua/allowance.lua; its own hash tag)
 *   <p>{<app>}:calls        ZSET   calls granted in the last 30 s
 *   <p>{<app>}:stats        HASH   polls, outcomes, errors, 429s, events by type
 *   <p>{<app>}:events       STREAM every event of the app's users (MAXLEN ~)
 *   <p>{<app>}:broken       HASH   user -> reason: user keys set aside as not hashes
 *   <p>{<app>}:members      SET    the app's users (the user cap counts it; include/redis/user_dir.h;
 *                                  claim.lua rebuilds due and leases from it: lua/lib/schedule.lua)
 *   <p>playback:<user>      channel: that user's events
 */
#include <stddef.h>

#define KEY_MAX 400
#define ID_MAX 128

struct app_keys {
    char due[KEY_MAX];
    char leases[KEY_MAX];
    char rl[KEY_MAX];
    char calls[KEY_MAX];
    char app[KEY_MAX];
    char stats[KEY_MAX];
    char events[KEY_MAX];
    char confirm[KEY_MAX];       /* "<p>{<app>}:confirm": confirming polls, claimed first (lua/claim.lua) */
    char broken[KEY_MAX];        /* "<p>{<app>}:broken": user keys that are not hashes (lua/lib/guard.lua) */
    char members[KEY_MAX];       /* "<p>{<app>}:members": the app's users (lua/lib/user_cap.lua) */
    char user_prefix[KEY_MAX];   /* "<p>{<app>}:user:" */
};

/* ID_PUNCT: the characters an id may hold besides A-Z a-z 0-9. */
#define ID_PUNCT "._:@+=-"

/* keys_valid_id: 1 if id may name an app or a user: 1..ID_MAX characters
 * of A-Z a-z 0-9 and ID_PUNCT (so an e-mail address, a UUID or "tenant:42"
 * fit). Everything else is refused: a brace would move the Cluster hash
 * tag, and '*', '?', '[', ']' and a backslash are glob characters, so an
 * id holding one would make `PSUBSCRIBE <p>playback:<id>` or a per-tenant
 * ACL pattern (~<p>{<app>}:*, &<p>playback:<id>) match other tenants' keys
 * and channels; spaces and controls break commands and terminals. The one
 * checker: the CLI (cli_check_id), serve (login, OAuth state, connect
 * links) and the worker (the app list) all call it. */
int keys_valid_id(const char *id);

void keys_app(struct app_keys *k, const char *prefix, const char *app);
void keys_user(char *out, size_t n, const char *prefix, const char *app, const char *user);
void keys_channel(char *out, size_t n, const char *prefix, const char *user);
void keys_global(char *out, size_t n, const char *prefix, const char *name);  /* "<p><name>" */
/* keys_developer_quota: "<p>{dev:<developer>}:quota", a developer account's
 * quota ledger (lua/allowance.lua), under its own hash tag. */
void keys_developer_quota(char *out, size_t n, const char *prefix, const char *developer);

#endif
