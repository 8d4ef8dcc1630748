/* sim_rl.h: Spotify-style rate limiting: a rolling window of admitted call
 * times per app, the "active 429 window" bookkeeping that tells calls in
 * flight from calls made while limited, and the rolling 24 h quota. */
#ifndef SIM_RL_H
#define SIM_RL_H

#include <stdint.h>

/* sim_rl: one rolling window. The ring holds the times (simulated ms) of the
 * last `cap` admitted calls, oldest at `head`. A call at `now` is admitted
 * when fewer than `limit` admitted calls lie in (now - window, now].
 * A 429 opens a limited window [limited_first_ms, limited_end_ms). */
typedef struct sim_rl {
    int64_t *log;             /* ring of admitted call times */
    long cap;                 /* ring capacity (== the limit it was sized for) */
    long head;                /* index of the oldest entry */
    long count;               /* entries in the ring */
    int64_t limited_first_ms; /* first 429 of the active window; -1 = none */
    int64_t limited_end_ms;   /* when the active window admits calls again */
    int64_t penalty_ms;       /* initial length of the active window */
} sim_rl;

/* sim_rl_class: how a limited call relates to its 429 window. */
typedef enum {
    SIM_RL_ADMITTED = 0, /* not limited */
    SIM_RL_FIRST,        /* this call opened the 429 window */
    SIM_RL_GRACE,        /* within limited_grace_ms of the first 429: in flight */
    SIM_RL_LATE          /* later: a call made while limited */
} sim_rl_class;

void sim_rl_init(sim_rl *rl);
void sim_rl_free(sim_rl *rl);
/* sim_rl_admit decides one call at now. Returns SIM_RL_ADMITTED (and logs the
 * call) or the class of the 429, with *retry_ms = ms until the window admits a
 * call (>= 1). limit <= 0 admits everything. */
sim_rl_class sim_rl_admit(sim_rl *rl, long limit, int64_t window_ms, int64_t grace_ms,
                          double escalation, int64_t now, int64_t *retry_ms);
/* sim_rl_in_window returns the admitted calls in (now - window, now]. */
long sim_rl_in_window(const sim_rl *rl, int64_t window_ms, int64_t now);

#define SIM_QUOTA_BUCKETS 1440 /* one per simulated minute of 24 h */

/* sim_quota: rolling 24 h call counts in one-minute buckets. */
typedef struct sim_quota {
    int64_t minute[SIM_QUOTA_BUCKETS]; /* absolute minute number of each bucket */
    long count[SIM_QUOTA_BUCKETS];
} sim_quota;

void sim_quota_reset(sim_quota *q);
/* sim_quota_admit counts a call and returns 0, or returns -1 when the quota is
 * used up with *retry_ms = ms until the oldest bucket leaves the 24 h window. */
int sim_quota_admit(sim_quota *q, long quota, int64_t now, int64_t *retry_ms);
/* sim_quota_used returns the calls counted in the last 24 h. */
long sim_quota_used(const sim_quota *q, int64_t now);

#endif
