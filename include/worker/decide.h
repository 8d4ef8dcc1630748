#ifndef SW_DECIDE_H
#define SW_DECIDE_H
/* decide: the worker's pure decisions. Each takes facts (an answer's class,
 * a user's counters, config numbers, a random draw) and returns a verdict;
 * none does I/O, reads a clock, draws a random number or touches a job. The
 * worker's callbacks gather the facts, call these, and act on the verdicts
 * (src/worker/job.c, refresh.c, outcome.c, claim.c, worker.c), so each rule
 * is tested on its own (tests/unit/test_decide.c). */
#include <stddef.h>
#include "base/config.h"
#include "spotify/playback.h"
#include "spotify/token.h"
#include "spotify/webapi.h"

/* How long an app's claims pause (s, on the worker's clock): */
#define CLAIM_IDLE_S 0.1      /* nothing due: the longest sleep, so new users are picked up */
#define CLAIM_RECHECK_S 1.0   /* refused (blocked, budget or quota spent) or failing: costs one HMGET */

/* A user whose grant lacks user-read-recently-played: backfill retried daily
 * (a new grant may add the scope), polling goes on. */
#define BACKFILL_NO_SCOPE_MS 86400000
/* A token endpoint answering invalid_client blocks the app this long (ms);
 * `app add` with the right secret lifts it sooner. */
#define INVALID_CLIENT_BLOCK_MS 300000
/* The owner-Premium 403 blocks the app this long (ms) when the poll's facts
 * carry no owner-premium-probe-ms: then one probe call (lib/limiter.lua). */
#define OWNER_PREMIUM_PROBE_MS 300000

/* decide_action: what a verdict asks of the worker. */
enum decide_action {
    DECIDE_READ,       /* Web API 200 or 204 (nothing): read the body, playback or plays */
    DECIDE_STORE,      /* token endpoint 200: seal and store the new tokens, then poll */
    DECIDE_REFRESH,    /* 401 "expired": refresh the token once, under the user's lock, then poll */
    DECIDE_BACKOFF,    /* transient: fails + 1, the next try after decide_backoff_ms */
    DECIDE_STOP_USER,  /* the user's grant is unusable: off the schedule with a new status, an event */
    DECIDE_BLOCK_APP,  /* the app is limited: block it (block_ms, or as the Retry-After says) */
    DECIDE_RECORD,     /* record the error; the schedule and the failure count stay as they are */
};

/* verdict: what to do with one answer. Strings are static, except error. */
struct verdict {
    enum decide_action action;
    const char *outcome;         /* complete.lua's outcome name (ok, nothing, error, rate_limited, ...) */
    const char *status;          /* DECIDE_STOP_USER: the user's new status */
    const char *block_reason;    /* DECIDE_BLOCK_APP: rate_limited | quota_exceeded | invalid_client |
                                    owner_premium_required */
    const char *quota_bucket;    /* quota_exceeded: the refused endpoint's bucket (decide_quota_bucket) */
    long long block_ms;          /* DECIDE_BLOCK_APP: a fixed block (ms); 0 = the Retry-After's */
    int poll_now;                /* DECIDE_BLOCK_APP: the user goes back in line at once (the
                                    block holds it), not after its interval */
    int nothing;                 /* DECIDE_READ: a 204, no body */
    long long backfill_delay_ms; /* the next backfill in ms from now; -1 leaves it */
    char error[256];             /* last_error, and DECIDE_STOP_USER's reason ("" = none) */
};

/* poll_facts: a Web API answer to a poll or a backfill, and what its job knows. */
struct poll_facts {
    enum api_class cls;          /* api_classify's class; API_TRANSIENT on a transport error */
    long status;                 /* HTTP status; 0 on a transport error */
    const char *transport_error; /* curl's error text on a transport error, else NULL */
    int truncated;               /* the body exceeded max-body-bytes (cls is then not looked at) */
    const char *message;         /* Spotify's error message from api_classify ("" = none) */
    int backfill;                /* the job asked recently-played, not currently-playing */
    int refreshed;               /* the job already has a fresh token: a 401 now is not an expiry */
    long long premium_probe_ms;  /* owner-premium-probe-ms: an owner-Premium block's length */
};

/* decide_poll_answer: what a poll's (or a backfill's) answer means. 401
 * "expired" refreshes once, then backs off; "Permissions missing" stops the
 * user (reauth_required), but only pauses a backfill for BACKFILL_NO_SCOPE_MS;
 * "not registered" stops the user; the owner-Premium 403 blocks the app for
 * premium_probe_ms, users back in line at once; 429 blocks the app; everything else
 * transient or unexpected backs off. */
void decide_poll_answer(const struct poll_facts *f, struct verdict *v);

/* The paths a poll and a backfill ask (their quota bucket's key). */
#define DECIDE_PATH_POLL "/v1/me/player"
#define DECIDE_PATH_BACKFILL "/v1/me/player/recently-played"

/* decide_quota_bucket: the developer-quota bucket of a Web API or token
 * endpoint path, named after the simulator's default map (Spotify does
 * not publish its own): /v1/me/player* -> "player", /v1/me/player/
 * recently-played -> "recent", /v1/me -> "me", /api/token -> "token",
 * anything else -> "other". The longest prefix wins. */
const char *decide_quota_bucket(const char *path);

/* decide_token_answer: what a token endpoint answer (tok_parse's res, with
 * its human reason err) means: store, reauth_required, an invalid_client
 * block of the app (INVALID_CLIENT_BLOCK_MS, users back in line at once), a
 * 429 block, or backoff with the old tokens kept. */
void decide_token_answer(enum tok_result res, const char *err, struct verdict *v);

/* decide_token_result_name: res as the worker metrics name it ("ok",
 * "invalid_grant", "invalid_client", "rate_limited", "transient"). */
const char *decide_token_result_name(enum tok_result res);

/* decide_backoff_ms: the delay before the next try of a user after `fails`
 * (>= 1) consecutive transient failures: base_ms doubling per failure up to
 * max_ms, times a jitter of 0.5 + 0.5 * r01 (r01 a uniform draw in [0, 1)),
 * so within [d / 2, d) of the capped d. A user is never dropped for it. */
long long decide_backoff_ms(int fails, double r01, long long base_ms, long long max_ms);

/* next_poll: when a user is polled next, after a poll that read its playback. */
struct next_poll {
    int idle;            /* consecutive quiet polls, this one included (0 = not quiet) */
    long long delay_ms;  /* from now */
};

/* decide_next_poll: smart polling. A poll is quiet when it announced no
 * event and nothing plays. While a track plays the next poll is at its
 * predicted end, or after the playing interval if that is sooner (skips and
 * pauses are seen within it): decide_playing_ms(speed, c), between
 * playing-max-ms and poll-interval-ms as the app's budget allows, or the
 * user's own interval when interval_set (never sped up: the operator chose
 * it). Paused or idle users back off from their base (pb_next_delay_ms).
 * With smart-polling off: interval_ms. cur is the state just read;
 * interval_ms the user's interval (its own, or poll-interval-ms); speed the
 * claim's speed (permille, -1 none). */
struct next_poll decide_next_poll(const struct pb_state *cur, int nevents, int idle_before, long long interval_ms,
                                  int interval_set, int speed, const struct sw_config *c);

/* decide_playing_ms: the playing interval at the app's speed-up (the claim's
 * speed, lua/lib/speedup.lua): playing-max-ms at speed 0 (and when speed is
 * -1: none), poll-interval-ms at 1000, geometric in between,
 *   playing-max-ms x (poll-interval-ms / playing-max-ms) ^ (speed / 1000),
 * so each step of speed changes the playing users' calls by the same factor
 * whatever the speed (the controller's loop gain does not depend on where it
 * stands). A poll-interval-ms at or above playing-max-ms: playing-max-ms. */
long long decide_playing_ms(int speed, const struct sw_config *c);

/* decide_speedup_span: what claim.lua is told of the speed-up's range:
 * 1000 x ln(playing-max-ms / poll-interval-ms), rounded; 0 when there is
 * nothing to speed up (smart polling off, or poll-interval-ms >=
 * playing-max-ms): the claim then answers speed -1. */
long decide_speedup_span(const struct sw_config *c);

/* decide_confirm_poll: flap confirmation (include/spotify/flap.h), an input
 * of its own beside decide_next_poll's: when the poll left an observation
 * pending (confirm_pending), the next poll comes within confirm_ms
 * (flap-confirm-ms) to confirm or drop it, unless n already comes sooner;
 * otherwise, or with confirm_ms 0, n unchanged. It goes through the claim
 * and the limiter like any poll. */
struct next_poll decide_confirm_poll(struct next_poll n, int confirm_pending, long long confirm_ms);

/* decide_backfill_next_ms: the next backfill after a backfill that read a
 * page of plays: at the next claim (0) when the page was full and more plays
 * may remain, else after backfill_interval_ms. */
long long decide_backfill_next_ms(int more, long long backfill_interval_ms);

/* decide_backfill_delay_ms: the next backfill complete.lua is told for a
 * backfill job whose answer decided decided_ms (-1: nothing decided, e.g. an
 * error): a failed backfill is tried again an interval later (its cursor has
 * not moved, so nothing is lost); one released before its call keeps -1 (it
 * stays due and runs at the user's next claim). */
long long decide_backfill_delay_ms(long long decided_ms, int released, long long backfill_interval_ms);

/* decide_claim_pause_s: how long an app's claims pause after a claim
 * answered code (a LIMIT_*), having taken njobs of the want jobs it asked
 * for, with wake_ms (when the next poll falls due, or the refusal ends;
 * 0 = none) and now_ms (both on Redis' clock). A full batch: at once (more
 * may be due). Otherwise (everything due was taken, or refused) up to
 * CLAIM_IDLE_S (nothing due) or CLAIM_RECHECK_S (refused), less when
 * wake_ms comes sooner. */
double decide_claim_pause_s(long long code, size_t njobs, int want, long long wake_ms, long long now_ms);

/* decide_claim_full: 1 when a claim answered code took a full batch (njobs
 * of the want it asked for, at least one). */
int decide_claim_full(long long code, size_t njobs, int want);

/* decide_tick_at: the first of a worker's ticks at or after t (ev_now()
 * seconds): every tick_ms, shifted by phase (0..1) of a tick, which each
 * worker draws at random so that two workers' claims of one app interleave
 * instead of meeting. tick_ms 0: t itself (no tick).
 *
 * Why a tick: without one, an app whose users fall due continuously is
 * claimed again the moment its claim answers, and its finished polls are
 * completed at every turn of the loop, so the script calls (and the Redis
 * CPU per poll) follow Redis' round-trip time, not the load: a faster Redis,
 * or the same load spread over a cluster's primaries, got more calls, each
 * with fewer users. On a tick, a worker sends the claims of every app that
 * is due and the completions of every poll finished since the last one in
 * the same turn of its loop (one write per Redis node); a poll starts, and
 * its result is stored, at most one tick later. */
double decide_tick_at(double t, long tick_ms, double phase);

/* decide_claim_at: when an app is claimed next, pause seconds after now
 * (decide_claim_pause_s): at once after a full batch, else at the first tick
 * at or after now + pause, even for no pause (a user due but not taken, say
 * one the limiter held back, must not spin the loop). */
double decide_claim_at(double now, double pause, int full, long tick_ms, double phase);

/* decide_claim_batch: the users one ready app may claim now: an equal share
 * of capacity among the ready apps, at least 1, at most claim_batch. */
int decide_claim_batch(int capacity, int ready, int claim_batch);

#endif
