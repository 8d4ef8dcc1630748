#ifndef SW_SCRIPT_CONTRACT_H
#define SW_SCRIPT_CONTRACT_H
/* script_contract: the one contract between the C code and the Lua scripts
 * of lua/. Every script's KEYS, ARGV and reply fields are named here, once;
 * nothing else in C or Lua may use a position.
 *
 * For a script S (upper-case tag) five lists are defined, each taking an
 * expander X and a prefix p:
 *   S_KEYS(X, p)         X(p, NAME)        KEYS, in order
 *   S_ARGS(X, p)         X(p, NAME)        ARGV, in order
 *   S_GROUP_ARGS(X, p)   X(p, NAME)        a group of ARGV repeated per item
 *                                           after the fixed ARGV (empty: none)
 *   S_REPLY(X, p)        X(p, name, KIND)  the reply array's fixed head
 *   S_GROUP_REPLY(X, p)  X(p, name, KIND)  a group repeated per item after the
 *                                           head (empty: none)
 * KIND is INT (a Redis integer, or a decimal string) or STR (a bulk string;
 * nil reads as "").
 *
 * From these lists:
 *   C   enum s_key { S_KEY_NAME..., S_KEY_N }, enum s_arg { S_ARG_NAME...,
 *       S_ARG_N }, enum s_group_arg { S_GROUP_ARG_NAME..., S_GROUP_ARG_N },
 *       struct s_reply and struct s_group_reply with one typed member per
 *       field, and the spec tables sc_parse reads them with (SC_DECLARE).
 *   Lua build/lua/<s>/contract.lua, generated at build time by
 *       src/redis/script_contract_lua.c and spliced into each script by
 *       "--@include contract.lua": tables S_KEY, S_ARG and S_GROUP_ARG (1-based
 *       positions; S_GROUP_ARG.N is the group's size) and functions
 *       s_reply{name = value, ...} and s_group_reply(out, {name = value, ...})
 *       that lay a reply out in this order (a missing value becomes 0 or "").
 * Changing a field is one edit here plus the code that uses it. */

#include <stddef.h>

/* ------------------------------------------------------------ grant.lua --- */
/* grant.lua: permission for one more call of a job already claimed. */
#define GRANT_KEYS(X, p) \
    X(p, RL)             /* <p>{<app>}:rl     HASH limiter state */ \
    X(p, CALLS)          /* <p>{<app>}:calls  ZSET sliding log of granted calls */ \
    X(p, APP)            /* <p>{<app>}:app    HASH the app */
#define GRANT_ARGS(X, p) \
    X(p, EXTRA)          /* "1": a call the claim did not count (count it); "0": check the block only */ \
    X(p, TAG)            /* unique log entry tag "<fence>:<user>:<n>" */ \
    X(p, BUDGET_DEFAULT) /* budget per window when the app sets none (0 = unlimited) */ \
    X(p, QUOTA_DEFAULT)  /* 24 h quota of development apps when the app sets none (0 = none) */
#define GRANT_GROUP_ARGS(X, p)
#define GRANT_REPLY(X, p) \
    X(p, code, INT)      /* LIMIT_* below */ \
    X(p, until_ms, INT)  /* when the refusal ends (0 when granted) */ \
    X(p, now_ms, INT)    /* Redis' clock */
#define GRANT_GROUP_REPLY(X, p)

/* ------------------------------------------------------- oauth_slot.lua --- */
/* oauth_slot.lua: an OAuth callback's share of the app's limiter, in one of
 * two modes. "take": its calls (the token exchange and GET /me) taken as
 * claim.lua takes a poll's; "block": a 429 it drew blocks the app as
 * complete.lua does for a poll's. An argument of the other mode is sent as "". */
#define OAUTH_SLOT_KEYS(X, p) \
    X(p, RL)             /* <p>{<app>}:rl     HASH limiter state */ \
    X(p, CALLS)          /* <p>{<app>}:calls  ZSET sliding log of granted calls */ \
    X(p, APP)            /* <p>{<app>}:app    HASH the app */ \
    X(p, STATS)          /* <p>{<app>}:stats  HASH the app's counters (block) */
#define OAUTH_SLOT_ARGS(X, p) \
    X(p, MODE)           /* "take" or "block" */ \
    X(p, BUDGET_DEFAULT) /* both: budget per window when the app sets none (0 = unlimited) */ \
    X(p, QUOTA_DEFAULT)  /* take: 24 h quota of development apps when the app sets none (0 = none) */ \
    X(p, WANT)           /* take: calls to take */ \
    X(p, TAG)            /* take: unique log entry tag "oauth:<nonce>" (":<i>" added per call) */ \
    X(p, BLOCK_MS)       /* block: block the app this long from now (never shortens a block) */ \
    X(p, CAPPED)         /* block: "1" when the Retry-After was capped, else "0" */
#define OAUTH_SLOT_GROUP_ARGS(X, p)
#define OAUTH_SLOT_REPLY(X, p) \
    X(p, code, INT)      /* take: LIMIT_* below; block: LIMIT_OK */ \
    X(p, until_ms, INT)  /* take: when the refusal ends (0 when granted); block: the block's end */ \
    X(p, now_ms, INT)    /* Redis' clock */
#define OAUTH_SLOT_GROUP_REPLY(X, p)

/* ------------------------------------------------------ oauth_store.lua --- */
/* oauth_store.lua: a finished login's tokens, stored on the user its state
 * named (lua/lib/user_record.lua), with the Spotify account it is. */
#define OAUTH_STORE_KEYS(X, p) \
    X(p, USER)           /* <p>{<app>}:user:<u>  HASH the user */ \
    X(p, ACCOUNTS)       /* <p>{<app>}:accounts  HASH Spotify account id -> user id */ \
    X(p, DUE)            /* <p>{<app>}:due       ZSET user -> next poll (ms) */ \
    X(p, LEASES)         /* <p>{<app>}:leases    ZSET user -> lease expiry (ms) */ \
    X(p, MEMBERS)        /* <p>{<app>}:members   SET the app's users (the user cap counts it) */ \
    X(p, APP)            /* <p>{<app>}:app       HASH the app (max_users: the user cap) */
#define OAUTH_STORE_ARGS(X, p) \
    X(p, USER)           /* user id */ \
    X(p, APP)            /* app id */ \
    X(p, ACCOUNT)        /* Spotify account id */ \
    X(p, DISPLAY_NAME)   /* Spotify display name ("" when none) */ \
    X(p, ACCESS_TOKEN)   /* sealed */ \
    X(p, REFRESH_TOKEN)  /* sealed */ \
    X(p, LIFETIME_MS)    /* the access token's lifetime (expiry set on Redis' clock) */ \
    X(p, SCOPE)          /* granted scope */ \
    X(p, DUP_POLICY)     /* an account already connected to another user: "refuse" or "allow" */
#define OAUTH_STORE_GROUP_ARGS(X, p)
#define OAUTH_STORE_REPLY(X, p) \
    X(p, stored, INT)    /* 1 stored; 0 refused (duplicate account, or the app full), nothing written */ \
    X(p, other_user, STR) /* the other user the account is connected to ("" when none) */ \
    X(p, max_users, INT) /* stored 0: the app's user cap when the app is full (a new user refused), else 0 */
#define OAUTH_STORE_GROUP_REPLY(X, p)

/* --------------------------------------------------------- user_put.lua --- */
/* user_put.lua: `user add` and `user import`: a user's tokens and
 * registration (lua/lib/user_record.lua), and with WATCH what `watch start`
 * does. */
#define USER_PUT_KEYS(X, p) \
    X(p, USER)           /* <p>{<app>}:user:<u>  HASH the user */ \
    X(p, DUE)            /* <p>{<app>}:due       ZSET user -> next poll (ms) */ \
    X(p, LEASES)         /* <p>{<app>}:leases    ZSET user -> lease expiry (ms) */ \
    X(p, MEMBERS)        /* <p>{<app>}:members   SET the app's users (the user cap counts it) */ \
    X(p, APP)            /* <p>{<app>}:app       HASH the app (max_users: the user cap) */
#define USER_PUT_ARGS(X, p) \
    X(p, USER)           /* user id */ \
    X(p, APP)            /* app id */ \
    X(p, ACCESS_TOKEN)   /* sealed */ \
    X(p, REFRESH_TOKEN)  /* sealed */ \
    X(p, LIFETIME_MS)    /* the access token's lifetime (expiry set on Redis' clock) */ \
    X(p, SCOPE)          /* granted scope */ \
    X(p, WATCH)          /* "1": start watching (status active); "0": a new user is stopped */ \
    X(p, INTERVAL_MS)    /* with WATCH: the user's poll interval; "0" keeps it */ \
    X(p, DUE_IN_MS)      /* with WATCH: first poll this long from now, unless already scheduled */
#define USER_PUT_GROUP_ARGS(X, p)
#define USER_PUT_REPLY(X, p) \
    X(p, fence, INT)     /* the user's new fencing token; 0: refused, nothing written */ \
    X(p, max_users, INT) /* fence 0: the app's user cap when the app is full (a new user refused), else 0 */
#define USER_PUT_GROUP_REPLY(X, p)
/* ------------------------------------------------------------ claim.lua --- */
/* claim.lua: take up to WANT due polls of one app, under a lease, within the
 * app's rate limit, in one atomic step (src/worker/claim.c). */
#define CLAIM_KEYS(X, p) \
    X(p, DUE)            /* <p>{<app>}:due     ZSET user -> next poll (ms) */ \
    X(p, LEASES)         /* <p>{<app>}:leases  ZSET user -> lease expiry (ms) */ \
    X(p, RL)             /* <p>{<app>}:rl      HASH limiter state */ \
    X(p, CALLS)          /* <p>{<app>}:calls   ZSET sliding log of granted calls */ \
    X(p, APP)            /* <p>{<app>}:app     HASH the app (budget_30s, window_ms, quota_24h, mode, \
                                                 developer, client_id, quota_window_ms) */ \
    X(p, EVENTS)         /* <p>{<app>}:events  STREAM the app's events (user_broken, lua/lib/guard.lua) */ \
    X(p, STATS)          /* <p>{<app>}:stats   HASH the app's counters (events_user_broken) */ \
    X(p, BROKEN)         /* <p>{<app>}:broken  HASH user -> reason: user keys that are not hashes */ \
    X(p, CONFIRM)        /* <p>{<app>}:confirm ZSET user -> when a held change's confirming poll falls due */ \
    X(p, MEMBERS)        /* <p>{<app>}:members SET the app's users: the schedule is rebuilt from it when \
                            due or leases holds another type */
#define CLAIM_ARGS(X, p) \
    X(p, USER_PREFIX)    /* "<p>{<app>}:user:": a user's hash is this + the user (same hash tag, same slot) */ \
    X(p, WANT)           /* most users to take */ \
    X(p, LEASE_MS)       /* lease length (ms) */ \
    X(p, REFRESH_MARGIN_MS) /* a token expiring sooner than this (ms) is refreshed before the poll */ \
    X(p, BUDGET_DEFAULT) /* budget per window when the app sets none (0 = unlimited) */ \
    X(p, QUOTA_DEFAULT)  /* 24 h quota of development apps when the app sets none (0 = none) */ \
    X(p, BACKFILL_MS)    /* history backfill interval (ms; 0 or absent = off) */ \
    X(p, MAXLEN)         /* the stream's MAXLEN (approximate), for user_broken events */ \
    X(p, CHANNEL_PREFIX) /* pub/sub channel prefix, "<p>playback:" (the user id follows) */ \
    X(p, SPEEDUP_TARGET) /* budget-target-pct: the share of the budget the speed-up aims at (0 = off) */ \
    X(p, SPEEDUP_SPAN)   /* 1000 x ln(playing-max-ms / poll-interval-ms): the speed-up's range (0 = none) */ \
    X(p, ALLOW_N)        /* an allowance just taken (allowance.lua's reply, once; "" = none): granted */ \
    X(p, ALLOW_SLOT)     /* ... its slot: spendable only while this slot lasts */ \
    X(p, ALLOW_CODE)     /* ... its code (LIMIT_OK, or LIMIT_QUOTA: the developer's quota is spent) */ \
    X(p, ALLOW_UNTIL)    /* ... LIMIT_QUOTA: until when */ \
    X(p, ALLOW_BLOCKS)   /* ... the developer's QUOTA_EXCEEDED blocks, "bucket:until_ms,..." */ \
    X(p, ALLOW_PACE)     /* ... the paced interval per user (ms; 0 = none) */ \
    X(p, ALLOW_LIMIT)    /* ... the developer's 24 h limit (configured or learned; 0 = unknown) */ \
    X(p, ALLOW_USED)     /* ... the calls counted in its window */ \
    X(p, ALLOW_LEFT_MS)  /* ... the time left in its window (ms) */
#define CLAIM_GROUP_ARGS(X, p)
#define CLAIM_REPLY(X, p) \
    X(p, code, INT)      /* LIMIT_OK: the jobs taken follow (maybe none); else LIMIT_* below, none taken */ \
    X(p, wake_ms, INT)   /* LIMIT_OK: when the next poll falls due (0 = none); else when the refusal ends */ \
    X(p, now_ms, INT)    /* Redis' clock */ \
    X(p, speed, INT)     /* the app's speed-up (lua/lib/speedup.lua), permille: 0 polls a playing user \
                            every playing-max-ms, 1000 every poll-interval-ms; -1 none (off, or an \
                            unlimited budget); 0 when code is LIMIT_BLOCKED */ \
    X(p, developer, STR) /* LIMIT_ALLOWANCE: the app's developer account (its ledger is asked) */ \
    X(p, quota, INT)     /* LIMIT_ALLOWANCE: the app's configured 24 h quota (0 = none: counted only) */ \
    X(p, quota_window_ms, INT) /* LIMIT_ALLOWANCE: the quota's rolling window (ms; 86400000) */ \
    X(p, want, INT)      /* LIMIT_ALLOWANCE: the calls wanted (a batch, plus OAuth calls owed) */ \
    X(p, users, INT)     /* LIMIT_ALLOWANCE: the app's scheduled users (for the pace) */
/* One group per job taken: confirming polls due (the CONFIRM set) first, then the most overdue. */
#define CLAIM_GROUP_REPLY(X, p) \
    X(p, user, STR)            /* the user id */ \
    X(p, fence, INT)           /* the job's fencing token: complete.lua writes only while it is current */ \
    X(p, kind, STR)            /* "poll"; "refresh": the claim took the user's refresh lock and counted \
                                  two calls (token endpoint, then the poll); "backfill": recently-played \
                                  instead of the poll */ \
    X(p, access_token, STR)    /* sealed, as stored ("" = none) */ \
    X(p, refresh_token, STR)   /* sealed, as stored; only for a "refresh" job ("" otherwise) */ \
    X(p, state, STR)           /* the last playback state stored (pb_state_encode; "" = none) */ \
    X(p, fails, INT)           /* consecutive transient failures so far */ \
    X(p, idle, INT)            /* consecutive quiet polls so far (smart polling) */ \
    X(p, interval_ms, INT)     /* the user's own poll interval (0 = poll-interval-ms) */ \
    X(p, due_ms, INT)          /* when the poll fell due (schedule lag = now_ms - due_ms) */ \
    X(p, backfill_cursor, INT) /* a "backfill" job: the newest play announced (ms; plays older are late); \
                                  0 otherwise */ \
    X(p, backfill_seen, STR)   /* a "backfill" job: the user's memory of plays announced, as stored \
                                  (include/spotify/history_scan.h; "" = none, and for other jobs) */

/* --------------------------------------------------------- complete.lua --- */
/* complete.lua: finish a batch of claimed jobs of one app, each fenced on its
 * own (src/worker/complete.c).
 * KEYS: the COMPLETE_KEYS below, then one user hash per job, in the order of
 * the jobs: "<p>{<app>}:user:<u>" of job k (0-based) is argv[COMPLETE_KEY_N
 * + k] in C and KEYS[COMPLETE_KEY.N + 1 + k] in Lua; the fixed ARGV follow
 * all the keys.
 * ARGV after the fixed ones: the jobs one after another, each a
 * COMPLETE_GROUP_ARGS group whose last field is NEVENTS, followed by that
 * job's events as 2 * NEVENTS strings (event type, event JSON; oldest
 * first). So the groups are not evenly spaced: the next job starts
 * COMPLETE_GROUP_ARG_N + 2 * nevents strings after the start of this one.
 * Each event announced gets "id":"<user>:<seq>" spliced in as its first
 * member (the user hash's event_seq, + 1 per event) and an "id" field in its
 * stream entry (user, id, type, event). A job applied moves the user's
 * fence on by one, so the same completion sent twice (a worker retrying after
 * a lost reply, a failover) finds its fence stale and is not applied again. */
#define COMPLETE_KEYS(X, p) \
    X(p, DUE)            /* <p>{<app>}:due     ZSET user -> next poll (ms) */ \
    X(p, LEASES)         /* <p>{<app>}:leases  ZSET user -> lease expiry (ms) */ \
    X(p, EVENTS)         /* <p>{<app>}:events  STREAM the app's events */ \
    X(p, RL)             /* <p>{<app>}:rl      HASH limiter state */ \
    X(p, STATS)          /* <p>{<app>}:stats   HASH the app's counters */ \
    X(p, APP)            /* <p>{<app>}:app     HASH the app */ \
    X(p, CALLS)          /* <p>{<app>}:calls   ZSET sliding log of granted calls */ \
    X(p, BROKEN)         /* <p>{<app>}:broken  HASH user -> reason: user keys that are not hashes */ \
    X(p, CONFIRM)        /* <p>{<app>}:confirm ZSET user -> when a held change's confirming poll falls due */
#define COMPLETE_ARGS(X, p) \
    X(p, MAXLEN)         /* the stream's MAXLEN (approximate) */ \
    X(p, BUDGET_DEFAULT) /* budget per window when the app sets none (0 = unlimited) */ \
    X(p, CHANNEL_PREFIX) /* pub/sub channel prefix, "<p>playback:" (the user id follows) */ \
    X(p, HISTORY_WINDOW_MS) /* history-window-ms: a backfill's memory keeps the plays this recent */
#define COMPLETE_GROUP_ARGS(X, p) \
    X(p, USER)           /* the user id */ \
    X(p, FENCE)          /* the fencing token the claim handed out */ \
    X(p, DELAY_MS)       /* next poll in ms from now; -1 takes the user off the schedule */ \
    X(p, OUTCOME)        /* ok | nothing | error | rate_limited | quota_exceeded | reauth_required | \
                            not_registered | invalid_client | released */ \
    X(p, STATE)          /* the new playback state ("" keeps the stored one) */ \
    X(p, HTTP_STATUS)    /* HTTP status of the last call (0 = none); stored as last_status unless \
                            OUTCOME implies it (SC_USER_DEFAULTS) */ \
    X(p, ERROR)          /* text for last_error ("" = none) */ \
    X(p, NEW_STATUS)     /* the user's new status ("" keeps it); ERROR becomes its reason */ \
    X(p, BLOCK_MS)       /* block the app this many ms (0 = no block); never shortens a block */ \
    X(p, BLOCK_REASON)   /* rate_limited | quota_exceeded | invalid_client ("" with no block) */ \
    X(p, FAILS)          /* consecutive transient failures after this job; "" = as the claim read \
                            them (not written again); "0" is stored as no field */ \
    X(p, IDLE)           /* consecutive quiet polls after this job (smart polling); "" = as the \
                            claim read them; "0" is stored as no field */ \
    X(p, CAPPED)         /* "1": the Retry-After was capped (retry-after-max-ms); else "0" */ \
    X(p, BACKFILL_DELAY_MS) /* next history backfill in ms from now ("" leaves backfill_at) */ \
    X(p, BACKFILL_CURSOR_OLD) /* a "backfill" job: the cursor its claim handed out ("" for others): \
                                 its plays are announced only if it is still the stored one */ \
    X(p, BACKFILL_CURSOR_NEW) /* a "backfill" job: the latest played_at announced ("" keeps it) */ \
    X(p, BACKFILL_PLAYS) /* a "backfill" job: one "<played_at>.<tag>" key per track_played event, in \
                            their order, comma-separated (history_play_key); a play the memory holds, \
                            or at or below its floor, is not announced */ \
    X(p, FLAP)           /* a poll's flap verdict: held | confirmed | dropped, counted as flap_<v> \
                            in the app's stats ("" = none; include/spotify/flap.h) */ \
    X(p, QUOTA_BUCKET)   /* quota_exceeded: the refused endpoint's quota bucket (player, recent, me, \
                            token, other); "" otherwise */ \
    X(p, NEVENTS)        /* the job's events: 2 * NEVENTS strings follow the group */
#define COMPLETE_REPLY(X, p)
/* One group per job, in order. */
#define COMPLETE_GROUP_REPLY(X, p) \
    X(p, applied, INT)   /* 1: applied; 0: the fence is stale, nothing of the job was written */

/* ---------------------------------------------------- refresh_begin.lua --- */
/* refresh_begin.lua: a job needs a new access token (a 401, or none usable):
 * take the user's refresh lock (single flight across every worker), unless
 * another worker holds it or has already stored a newer access token
 * (src/worker/refresh.c). */
#define REFRESH_BEGIN_KEYS(X, p) \
    X(p, USER)           /* <p>{<app>}:user:<u>  HASH the user */
#define REFRESH_BEGIN_ARGS(X, p) \
    X(p, FENCE)          /* the claim's fencing token */ \
    X(p, ACCESS_TOKEN)   /* the access token (sealed, exactly as read) that drew the 401 ("" = none) */ \
    X(p, LOCK_MS)        /* lock length (ms): a dead worker's lock lapses by itself */
#define REFRESH_BEGIN_GROUP_ARGS(X, p)
#define REFRESH_BEGIN_REPLY(X, p) \
    X(p, code, INT)            /* REFRESH_BEGIN_* below */ \
    X(p, refresh_token, STR)   /* REFRESH_BEGIN_LOCKED: refresh with this one (sealed, as stored) */ \
    X(p, access_token, STR)    /* REFRESH_BEGIN_NEWER: poll with this one (sealed, as stored) */
#define REFRESH_BEGIN_GROUP_REPLY(X, p)

enum refresh_begin_code {
    REFRESH_BEGIN_STALE = -1,  /* the fence is stale: our lease is gone */
    REFRESH_BEGIN_WAIT = 0,    /* another worker holds the lock: retry a little later */
    REFRESH_BEGIN_LOCKED = 1,  /* the lock is ours: refresh with refresh_token */
    REFRESH_BEGIN_NEWER = 2,   /* a newer access token is stored: poll with access_token */
};

/* ------------------------------------------------------ token_store.lua --- */
/* token_store.lua: store a refreshed token pair with a compare-and-set on
 * the refresh token that was used (src/worker/refresh.c). */
#define TOKEN_STORE_KEYS(X, p) \
    X(p, USER)           /* <p>{<app>}:user:<u>  HASH the user */
#define TOKEN_STORE_ARGS(X, p) \
    X(p, FENCE)          /* the fencing token of the claim that refreshed */ \
    X(p, REFRESH_TOKEN_USED) /* the refresh token (sealed, exactly as read) the refresh used */ \
    X(p, ACCESS_TOKEN)   /* the new access token (sealed) */ \
    X(p, LIFETIME_MS)    /* its lifetime (ms): expires_at is set on Redis' clock */ \
    X(p, REFRESH_TOKEN)  /* the new refresh token (sealed); "" keeps the stored one (Spotify's \
                            usual answer has none) */ \
    X(p, SCOPE)          /* the granted scope ("" keeps the stored one) */ \
    X(p, RESEALED)       /* "1": REFRESH_TOKEN is the same token re-sealed under the current key \
                            (a key rotation), not a rotation by Spotify; else "0" */
#define TOKEN_STORE_GROUP_ARGS(X, p)
#define TOKEN_STORE_REPLY(X, p) \
    X(p, code, INT)      /* TOKEN_STORE_* below */
#define TOKEN_STORE_GROUP_REPLY(X, p)

enum token_store_code {
    TOKEN_STORE_GONE = -1,     /* the user is gone */
    TOKEN_STORE_LOST = 0,      /* the stored refresh token is no longer the one used: another
                                  refresh won, its tokens stay */
    TOKEN_STORE_STORED = 1,    /* stored */
};

/* -------------------------------------------------------- allowance.lua --- */
/* allowance.lua: a developer account's ledger (its own hash tag: the one
 * script that touches it), shared by the developer's apps: "take" counts an
 * allowance (a chunk of calls spendable by one app within the current slot,
 * 1/24 of the quota window) against the rolling window; "block" records a
 * QUOTA_EXCEEDED of one bucket for every app of the developer
 * (src/worker/quota.c). Both answer the ledger's state. */
#define ALLOWANCE_KEYS(X, p) \
    X(p, LEDGER)         /* <p>{dev:<id>}:quota  HASH the developer's ledger */
#define ALLOWANCE_ARGS(X, p) \
    X(p, MODE)           /* "take" or "block" */ \
    X(p, APP)            /* the asking app's id (its scheduled users are remembered per app) */ \
    X(p, QUOTA)          /* the app's configured 24 h quota (0 = none: the learned one, if any) */ \
    X(p, WINDOW_MS)      /* the quota's rolling window (ms) */ \
    X(p, WANT)           /* take: calls wanted (the grant is at most one chunk) */ \
    X(p, USERS)          /* the app's scheduled users */ \
    X(p, BUCKET)         /* block: the refused endpoint's bucket */ \
    X(p, BLOCK_MS)       /* block: the Retry-After (ms from now) */
#define ALLOWANCE_GROUP_ARGS(X, p)
#define ALLOWANCE_REPLY(X, p) \
    X(p, code, INT)      /* LIMIT_OK, or LIMIT_QUOTA: the window's quota is spent (granted 0) */ \
    X(p, granted, INT)   /* calls granted (take) */ \
    X(p, slot, INT)      /* the slot they are spendable in: floor(now / (window / 24)) */ \
    X(p, until_ms, INT)  /* LIMIT_QUOTA: when the oldest counted slot leaves the window */ \
    X(p, blocks, STR)    /* the QUOTA_EXCEEDED blocks still running, "bucket:until_ms,..." */ \
    X(p, pace_ms, INT)   /* the paced interval per user (ms; 0 = no limit known) */ \
    X(p, limit, INT)     /* the limit applied (configured, else learned; 0 = none) */ \
    X(p, used, INT)      /* calls counted in the window, this grant included */ \
    X(p, left_ms, INT)   /* time until the oldest counted slot leaves the window (ms) */ \
    X(p, now_ms, INT)    /* Redis' clock */
#define ALLOWANCE_GROUP_REPLY(X, p)

/* The limiter's answer codes (claim.lua, grant.lua, allowance.lua). */
enum limit_code {
    LIMIT_OK = 0,        /* granted */
    LIMIT_BLOCKED = 1,   /* a 429 blocks the app until until_ms */
    LIMIT_BUDGET = 2,    /* the window's budget is spent until until_ms */
    LIMIT_QUOTA = 3,     /* the 24 h quota is spent until until_ms */
    LIMIT_ALLOWANCE = 4, /* claim.lua: the app's allowance is spent: take one (allowance.lua), claim again */
};

/* ------------------------------------------------- user hash defaults --- */
/* Fields of a user hash (<p>{<app>}:user:<u>, README "Redis key schema") that
 * the scripts leave absent while they hold their default, so a polled user
 * stays a small listpack: absent reads as the value here, in Lua (the
 * generated contract.lua's USER_SCOPE_BASE) as in C (the CLI and the
 * dashboard show it, sc_user_default). The user's app is its key's hash tag
 * and is not stored either. */
#define SC_USER_SCOPE_BASE "user-read-currently-playing user-read-playback-state"
#define SC_USER_DEFAULTS(X) \
    X(fails, "0")                /* consecutive transient failures */ \
    X(idle, "0")                 /* consecutive quiet polls */ \
    X(scope, SC_USER_SCOPE_BASE) /* the grant: these two scopes, in any order (more: stored) */ \
    X(last_status, NULL)         /* HTTP status of the last call: what last_outcome implies, \
                                    "ok" 200 and "nothing" 204 (sc_user_default) */

/* sc_user_default returns what the absent user hash field `field` reads as,
 * given the user's stored last_outcome (NULL when absent), or NULL when its
 * absence means none (a field not in SC_USER_DEFAULTS, a last_status after
 * another outcome or before the first poll). A static string. */
const char *sc_user_default(const char *field, const char *last_outcome);

struct cJSON;

/* sc_user_fill completes fields, a stored user's fields by name (a cJSON
 * object, as a reader shows them), with what its hash leaves out: app (the
 * key's hash tag) and each SC_USER_DEFAULTS field that has a default there,
 * each added through add(fields, name, value), so every field reads as when
 * each was stored. */
void sc_user_fill(struct cJSON *fields, const char *app,
                  void (*add)(struct cJSON *fields, const char *name, const char *value));

/* Every script, as (upper-case tag, lower-case name): the generator and the
 * declarations below walk this list. */
#define SC_SCRIPTS(X) \
    X(CLAIM, claim) \
    X(COMPLETE, complete) \
    X(REFRESH_BEGIN, refresh_begin) \
    X(TOKEN_STORE, token_store) \
    X(GRANT, grant) \
    X(OAUTH_SLOT, oauth_slot) \
    X(OAUTH_STORE, oauth_store) \
    X(USER_PUT, user_put) \
    X(ALLOWANCE, allowance)

/* ------------------------------------------------------------ machinery --- */

enum sc_kind { SC_INT, SC_STR };

/* sc_str: a view into a reply, valid while the reply is (copy what you keep). */
struct sc_str {
    const char *s;   /* never NULL; "" for nil */
    size_t len;
};

/* sc_field: one reply field, as sc_parse reads it into a struct. */
struct sc_field {
    const char *name;
    enum sc_kind kind;
    size_t offset;
};

#define SC_T_INT long long
#define SC_T_STR struct sc_str
#define SC_ENUM(p, n) p##_##n,
#define SC_MEMBER(p, n, k) SC_T_##k n;
#define SC_SPEC(p, n, k) {#n, SC_##k, offsetof(struct p, n)},

/* SC_DECLARE(S, s) declares S's enums and reply structs, and the spec
 * tables (sc_<s>_reply, sc_<s>_group_reply) with their lengths. */
#define SC_DECLARE(S, s)                                                             \
    enum s##_key { S##_KEYS(SC_ENUM, S##_KEY) S##_KEY_N };                         \
    enum s##_arg { S##_ARGS(SC_ENUM, S##_ARG) S##_ARG_N };                         \
    enum s##_group_arg { S##_GROUP_ARGS(SC_ENUM, S##_GROUP_ARG) S##_GROUP_ARG_N }; \
    struct s##_reply { S##_REPLY(SC_MEMBER, ) char sc_end_; };                     \
    struct s##_group_reply { S##_GROUP_REPLY(SC_MEMBER, ) char sc_end_; };         \
    static const struct sc_field sc_##s##_reply[] = {                              \
        S##_REPLY(SC_SPEC, s##_reply){NULL, SC_INT, 0}};                           \
    static const struct sc_field sc_##s##_group_reply[] = {                        \
        S##_GROUP_REPLY(SC_SPEC, s##_group_reply){NULL, SC_INT, 0}};               \
    enum { S##_REPLY_N = sizeof sc_##s##_reply / sizeof sc_##s##_reply[0] - 1,     \
           S##_GROUP_REPLY_N =                                                     \
               sizeof sc_##s##_group_reply / sizeof sc_##s##_group_reply[0] - 1 };

SC_SCRIPTS(SC_DECLARE)

struct redisReply;

/* sc_parse reads the n fields of spec from the reply array r, starting at
 * element first, into the struct at out. Returns 0, or -1 when r is not an
 * array, is too short, or a field has the wrong type (out is then
 * unspecified). */
int sc_parse(const struct redisReply *r, size_t first, const struct sc_field *spec, int n, void *out);

/* sc_groups returns how many whole groups of size group_n follow a head of
 * head_n elements in the array r (0 if r is not an array, or group_n is 0). */
size_t sc_groups(const struct redisReply *r, int head_n, int group_n);

#endif
