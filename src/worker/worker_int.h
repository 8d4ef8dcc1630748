#ifndef SW_WORKER_INT_H
#define SW_WORKER_INT_H
/* worker_int.h: private to src/worker/ (as hiredis keeps async_private.h):
 * the structs the worker's files share, and the calls between them.
 *
 * A poll is a job, and reads top to bottom through the files:
 *   worker.c    the loop: start, signals, heartbeat, the app list, the claim
 *               timer (on_tick -> claim_app), and the kick (on_kick)
 *   fake_transport.c  bench-fake-poll's canned answers (benchmarks only)
 *   claim.c     claim_app -> lua/claim.lua -> on_claim -> job_start
 *   job.c       a job's poll: job_poll -> the gate -> the transport ->
 *               job_poll_answer -> decide_poll_answer -> read the playback
 *               (or the plays) -> complete_job
 *   refresh.c   the token-refresh detour, a state machine (enum
 *               refresh_step): lua/refresh_begin.lua -> token endpoint ->
 *               lua/token_store.lua -> the step its starter handed it
 *   gate.c      job_gate: lua/grant.lua before a call the claim did not
 *               grant, then the step its caller handed it
 *   complete.c  complete_job -> the app's batch -> lua/complete.lua
 *   quota.c     the developer's quota ledger (lua/allowance.lua): an
 *               allowance for the app's next claim, a QUOTA_EXCEEDED block
 *               reported for the developer's other apps
 *   outcome.c   what complete.lua is told, built from a verdict
 *   jobs.c      the table of live jobs: job_new, job_free, job_open_token
 *   decide.c    the pure decisions (include/worker/decide.h)
 *
 * Layers: each file calls only files below it in this list, never one above
 * (so no two files call each other, even through a third):
 *   worker.c -> fake_transport.c -> claim.c -> job.c -> refresh.c -> gate.c
 *   -> complete.c -> quota.c -> outcome.c -> jobs.c -> decide.c (pure)
 * The three ways back up are not calls: a lower file that must go on with
 * an upper one's step runs the step the upper one handed it (job_step:
 * after_grant for the gate, after_refresh for the refresh detour); the
 * clock and the jitter are inline here; and worker_kick is a signal to the
 * loop (ev_feed_event on a watcher worker.c owns), whose callback runs in
 * worker.c.
 *
 * Ownership: the worker owns its apps (never freed before it ends, so jobs
 * may point at them) and its jobs (on job_list from job_start to job_free).
 * A job is in exactly one place at a time: waiting for one reply (HTTP or
 * Redis, whose callback then owns it), or in its app's batch (complete.c,
 * until complete.lua answers). Whoever holds it either passes it on or
 * frees it; a job dropped on a lost link is simply freed, and its lease
 * expires. */
#include <ev.h>
#include <time.h>
#include "base/config.h"
#include "base/crypto.h"
#include "base/histogram.h"
#include "base/log.h"
#include "http/httpc.h"
#include "redis/key_schema.h"
#include "redis/redis_async.h"
#include "redis/script_contract.h"
#include "spotify/events.h"
#include "spotify/history_scan.h"
#include "spotify/playback.h"
#include "spotify/recently_played.h"
#include "worker/decide.h"
#include "worker/token_cache.h"
#include "worker/worker_metrics.h"

/* The most finished jobs one complete.lua call takes: bounds the time the
 * script holds Redis (about 1 ms for this many). */
#define COMPLETE_BATCH_MAX 128
/* The most events one job announces: a poll's changes, or a backfill's plays. */
#define JOB_EVENTS_MAX (HISTORY_SCAN_MAX > PB_MAX_EVENTS + 1 ? HISTORY_SCAN_MAX : PB_MAX_EVENTS + 1)

struct job;

/* poll_transport: sends a job's poll (GET url with headers, a NULL-ended
 * list) and hands the answer to job_poll_answer exactly once. Returns 0, or
 * -1 when the request could not start (no answer then comes). The answer
 * may come before the transport returns (fake_transport_send's does): after
 * a 0 the caller must not touch the job. Chosen once, in worker_run. */
typedef int poll_transport(struct job *j, const char *url, const char *const *headers);

/* job_step: what a job does next, handed down by the file that knows it to
 * a lower file that must go on with it (the gate, the refresh detour), so
 * the lower file calls no file above it. */
typedef void job_step(struct job *j);

/* app: one app this worker claims for; never freed before the worker ends,
 * so jobs may point at it. */
struct app {
    struct worker *w;
    char id[ID_MAX + 1];
    struct app_keys k;
    char client_id[256];
    char *client_secret;     /* plaintext, cleansed on free; NULL until loaded */
    double wake_at;          /* ev_now() before which no claim is sent */
    int claiming;            /* a claim is in flight */
    int claim_want;          /* the users it asked for */
    int alerted;             /* invalid_client already logged */
    int claim_failing;       /* a claim error was logged: once until a claim works */
    double claim_t0;         /* ev_time() when the claim in flight was sent */
    double last_claim_at;    /* ev_now() of the last claim answer */
    double budget_30s;       /* the app's configured budget (metrics) */
    /* The developer's quota (quota.c): the developer named by the last
     * LIMIT_ALLOWANCE claim, and an allowance taken for the next claim
     * (allowance.lua's reply as text, handed over once: allow_ready). */
    char developer[ID_MAX + 1];
    long long quota, quota_window_ms;   /* the app's, as that claim said */
    int allow_ready;
    char allow_n[24], allow_slot[24], allow_code[8], allow_until[24], allow_pace[24], allow_limit[24],
        allow_used[24], allow_left_ms[24];
    char allow_blocks[256];
    /* Finished jobs waiting for complete.lua, sent together when the loop
     * is about to wait (or the batch is full): see complete.c. */
    struct job *done[COMPLETE_BATCH_MAX];
    int ndone;
    char **done_args;        /* the jobs' argument groups, in order, pointing into done_blocks */
    char *done_blocks[COMPLETE_BATCH_MAX];   /* owned: each job's group, one block a job */
    int nargs, cap_args;
    /* WAIT (redis-wait-replicas) is owed on this app's node: a batch was
     * sent there this loop turn (flushed) or a refresh token stored
     * (wait_pending); in a cluster each node waits for its own replicas. */
    int flushed, wait_pending;
};

struct worker {
    struct ev_loop *loop;
    const struct sw_config *cfg;
    struct sw_config *live;        /* cfg, writable: SIGHUP's reload (worker.c) changes it */
    struct redis_async *redis;
    struct httpc *http;
    poll_transport *send_poll;     /* job_http_send, or fake_transport_send (bench-fake-poll) */
    struct crypto_keyring *keys;   /* NULL: plaintext mode */
    struct crypto_opener *opener;  /* opens the access tokens, one per poll (keys' contexts kept) */
    struct token_cache *tokens;    /* the access tokens opened, by user and sealed value (jobs.c) */
    char id[192];
    char workers_key[KEY_MAX];
    char worker_key[KEY_MAX];
    char apps_key[KEY_MAX];
    struct app **apps;
    int napps;
    int jobs;                      /* jobs alive (claimed, not yet finished) */
    struct job *job_list;          /* the same jobs, freed at exit if still alive */
    int stopping;
    int bad_app_id_warned;         /* an app id outside the alphabet was logged once */
    int left;                      /* deregistration sent */
    int beats;
    unsigned long long rng;
    long long polls, events;       /* since start (heartbeat) */
    /* wait_pending: a new refresh token was sent to token_store.lua since
     * the last WAIT; complete_flush sends one after its next batch
     * (redis-wait-replicas). waits, waits_short: WAITs sent, and those the
     * replicas did not all acknowledge in time, since start (heartbeat). */
    int wait_pending;
    long long waits, waits_short;
    /* schedule lag (claim time - due time) and poll latency (HTTP request
     * time), us: since the last heartbeat, and since start (heartbeat) */
    struct hist lag, lag_total, lat, lat_total;
    char lag_text[16384], lat_text[16384];   /* their text form, for the heartbeat */
    struct worker_metrics *wm;     /* NULL unless metrics-listen is set */
    ev_timer tick, heartbeat, grace;
    ev_prepare flush;              /* sends the batches of finished jobs (complete_flush) */
    ev_timer flush_tick;           /* or, with claim-tick-ms, at the next tick (complete_tick) */
    double tick_phase;             /* this worker's ticks: shifted by this much of a tick (0..1) */
    /* kick: initialised, never started: worker_kick feeds it an event, and
     * its callback (worker.c) claims again or, while stopping, leaves. */
    ev_idle kick;
    ev_signal sigterm, sigint, sighup;
    int ready;                     /* READY=1 sent to the service manager (sdnotify) */
    struct app_gauges *gauges;     /* per-app gauges read from Redis (app_gauges.c) */
};

/* refresh_step: where a job is in the token-refresh detour (refresh.c). A
 * job starts at REFRESH_NONE, or at REFRESH_CALL when its claim took the
 * user's refresh lock (a "refresh" job). Each step waits for one reply;
 * every other answer finishes the job. */
enum refresh_step {
    REFRESH_NONE,   /* no refresh in this job: a 401 "expired" (or no usable token) starts one */
    REFRESH_LOCK,   /* refresh_begin.lua in flight: asking for the user's refresh lock */
    REFRESH_CALL,   /* the lock is ours: the token endpoint call waits for grant.lua, or is in flight */
    REFRESH_STORE,  /* token_store.lua in flight with the new tokens */
    REFRESH_DONE,   /* a fresh token in hand (ours, or another worker's): the poll follows, and a
                       401 now backs off instead of refreshing again */
};

/* job: one claimed poll (or backfill), from the claim to complete.lua. */
struct job {
    struct worker *w;
    struct job *prev, *next;   /* the worker's list of live jobs */
    struct app *app;
    char *user;
    char fence[32];
    enum refresh_step refresh;
    char *at_sealed;           /* as stored: the compare value of refresh_begin */
    char *rt_sealed;           /* as stored: the compare value of token_store */
    char *access_token;        /* plaintext, cleansed */
    char *state_text;          /* the stored playback state ("" = none) */
    int fails, idle;           /* the user's counters as claimed */
    long long interval_ms;     /* the user's poll interval (its own, or poll-interval-ms) */
    int interval_set;          /* the user has its own interval_ms (watch start --interval) */
    int speed;                 /* the app's speed-up as claimed (permille, -1 none; decide_playing_ms) */
    int calls;                 /* HTTP calls this job has started */
    int prepaid;               /* calls the claim granted (1, or 2 for a "refresh" job) */
    double poll_s;             /* duration of the poll request, -1 if none */
    int backfill;              /* a "backfill" job: recently-played instead of the poll */
    long long backfill_cursor; /* ms: the newest play announced (older ones are late) */
    char *backfill_seen;       /* a backfill: the user's memory as claimed ("" = none) */
    struct history_scan *scan; /* a backfill: its pages so far (NULL before the first) */
    job_step *after_grant;     /* the call waiting for grant.lua (set by job_gate's caller) */
    job_step *after_refresh;   /* what follows a refresh that got a token (set by its starter) */
};

/* outcome: what complete.lua is told about one job (COMPLETE_GROUP_ARGS). */
struct outcome {
    long long delay_ms;        /* -1: off the schedule */
    const char *name;
    char *state;               /* owned, NULL keeps the stored state */
    long http_status;
    char error[256];
    const char *new_status;
    long long block_ms;
    const char *block_reason;
    int capped;
    const char *quota_bucket;  /* quota_exceeded: the refused endpoint's bucket ("" otherwise) */
    int fails, idle;
    long long backfill_delay_ms;   /* next backfill in ms from now; -1 leaves it */
    long long backfill_cursor;     /* the new backfill cursor (ms); -1 keeps it */
    char *backfill_plays;          /* owned: the key of each track_played event, comma-separated
                                    * (COMPLETE_GROUP_ARG_BACKFILL_PLAYS); NULL = none */
    const char *flap;              /* a poll's flap verdict worth counting (held, confirmed,
                                      dropped: include/spotify/flap.h), else "" */
    int nevents;
    struct sw_event events[JOB_EVENTS_MAX];
};

/* The log fields of a job and of an app (log_*_f, include/base/log.h): JSON
 * logs then carry "app" and "user" as members. */
#define JOB_LOG(j) (&(struct log_fields){(j)->app->id, (j)->user, NULL, -1, -1})
#define APP_LOG(a) (&(struct log_fields){(a)->id, NULL, NULL, -1, -1})

/* The clock and the jitter: inline, so any file may read them without
 * calling into worker.c. */
static inline long long worker_now_ms(void)    /* wall clock, ms */
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* worker_rand01: jitter: uniform in [0, 1). */
static inline double worker_rand01(struct worker *w)
{
    /* xorshift64*: jitter needs spread, not secrecy */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return (double)((w->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* worker_kick: capacity may have freed up: claim again at once. While
 * stopping: the worker leaves once no poll and no claim is in flight.
 * A signal, not a call: it marks w->kick pending, and the loop runs its
 * callback (worker.c) once the callback in progress returns. Kicks in one
 * turn of the loop run it once (libev merges the events of a pending
 * watcher); a kick after the loop ended (job_free at exit) runs nothing. */
static inline void worker_kick(struct worker *w)
{
    ev_feed_event(w->loop, &w->kick, EV_CUSTOM);
}

/* claim.c: claim_app sends one claim of up to batch users of a (on_claim
 * starts a job per user taken and re-arms a->wake_at). */
void claim_app(struct worker *w, struct app *a, int batch);

/* job.c */
/* job_poll polls (or backfills) with the job's access token: through the
 * gate, then w->send_poll; without a token it refreshes first. */
void job_poll(struct job *j);
/* job_poll_answer: the transport's answer to the job's poll. */
void job_poll_answer(struct job *j, const struct httpc_response *r);
poll_transport job_http_send;

/* refresh.c: then is what follows once the detour has a fresh token (the
 * poll); any other end of the detour finishes or frees the job. */
/* refresh_lock asks for the user's refresh lock (REFRESH_LOCK). */
void refresh_lock(struct job *j, job_step *then);
/* refresh_call starts the token endpoint call under the lock (REFRESH_CALL),
 * through the gate. */
void refresh_call(struct job *j, job_step *then);

/* gate.c */
/* job_gate: claim.lua granted a job's first call (its first two for a
 * "refresh" job); every later call asks lua/grant.lua first. Returns 0 when
 * the call may start now (the caller starts it), 1 when the job waits for
 * grant.lua, which then runs then (the call) or finishes the job. */
int job_gate(struct job *j, job_step *then);

/* outcome.c: an outcome is outcome_init'ed, filled, and handed to
 * complete_job, which frees what it owns. */
void outcome_init(struct outcome *o, const struct job *j, const char *name);
void outcome_free(struct outcome *o);
/* outcome_backoff: a transient failure: fails + 1, the delay from
 * decide_backoff_ms, and last_error from fmt. */
void outcome_backoff(struct outcome *o, const struct job *j, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* outcome_apply fills o from a verdict that finishes the job (BACKOFF,
 * STOP_USER, BLOCK_APP, RECORD); retry_after is the answer's header (NULL
 * if none), for a block as long as it says. */
void outcome_apply(struct outcome *o, const struct job *j, const struct verdict *v, const char *retry_after);

/* complete.c */
/* complete_job hands a finished job and its outcome (freed here) to
 * complete.lua: queued with the other jobs of its app finished since the
 * last flush, sent at the worker's next tick (complete_tick, with
 * claim-tick-ms, decide_tick_at), else when the loop is about to wait
 * (complete_flush, the worker's ev_prepare), or at once when the batch is
 * full. The job is freed once complete.lua answers. */
void complete_job(struct job *j, struct outcome *o);
void complete_flush(struct ev_loop *loop, ev_prepare *p, int revents);
void complete_tick(struct ev_loop *loop, ev_timer *t, int revents);
/* quota.c */
/* quota_take asks a's developer ledger for an allowance (h: the claim's
 * LIMIT_ALLOWANCE answer); a is "claiming" until the answer, which is kept
 * for a's next claim (claim_app hands it over), and the loop is kicked. */
void quota_take(struct worker *w, struct app *a, const struct claim_reply *h);
/* quota_report tells a's developer ledger of a QUOTA_EXCEEDED of bucket for
 * block_ms, so the developer's other apps stop that bucket too. */
void quota_report(struct worker *w, struct app *a, const char *bucket, long long block_ms);
/* quota_claim_args fills claim.lua's ALLOW_* arguments from a's allowance
 * ("" when none) and marks it handed over. */
void quota_claim_args(struct app *a, const char **arg);

/* complete_forget drops a's queued argument strings (not its jobs, which
 * are on the worker's job list): at exit. */
void complete_forget(struct app *a);

/* jobs.c */
/* job_new returns a job on w's list, or NULL; job_free unlinks and frees
 * it (secrets cleansed) and kicks the loop. */
struct job *job_new(struct worker *w, struct app *a);
void job_free(struct job *j);
/* job_open_token opens sealed into j->access_token (NULL for ""). -1 when
 * it does not open (logged, never sent anywhere). */
int job_open_token(struct job *j, const char *sealed);

/* fake_transport.c: bench-fake-poll's transport: answers at once with a
 * canned playing track (an empty page for a backfill), no HTTP. */
poll_transport fake_transport_send;

#endif
