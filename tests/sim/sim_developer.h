/* sim_developer.h: developer accounts. Since July 2026 Spotify counts the
 * development-mode quota per developer account (shared by all of that
 * developer's development-mode client IDs) and per endpoint "quota bucket"
 * (the quota_buckets setting maps paths to buckets); the owner's Premium
 * subscription keeps the developer's development-mode apps working.
 *
 * Every app belongs to one developer (its `developer` in /sim/apps, default
 * its own client id); a developer is created on first mention and never
 * removed. Guarded by sim_lock like all state; freed by sim_state_free(). */
#ifndef SIM_DEVELOPER_H
#define SIM_DEVELOPER_H

#include <stddef.h>
#include <stdint.h>

#include "sim_rl.h"
#include "sim_util.h"

struct cJSON;

#define SIM_DAY_MS 86400000LL

/* sim_lapse: a switch that is on from a moment, forever or for a while
 * (simulated ms): the owner's Premium subscription lapsing. */
typedef struct sim_lapse {
    int on;             /* 1 = lapsed */
    int64_t until_ms;   /* ends at this simulated ms; 0 = until switched back */
} sim_lapse;

/* sim_lapse_active reports whether the lapse holds at now. */
int sim_lapse_active(const sim_lapse *l, int64_t now);
/* sim_lapse_set applies a {"active":bool,"for_ms":N?} body ("active" is the
 * Premium subscription: false = lapsed; for_ms limits the lapse). Returns 0
 * or -1 with err. */
int sim_lapse_set(sim_lapse *l, const struct cJSON *body, int64_t now, char *err,
                  size_t errlen);

/* sim_developer: one developer account. */
typedef struct sim_developer {
    char *id;
    long quota_24h;          /* calls per rolling 24 h per bucket; -1 = developer_quota_24h */
    sim_map bucket_quota;    /* bucket name -> long*: per-bucket limit overriding quota_24h */
    sim_map quota;           /* bucket name -> sim_rl*: admitted call times, 24 h window */
    sim_lapse premium;       /* the owner's Premium has lapsed */
    long quota_exceeded;     /* QUOTA_EXCEEDED 429s sent (zeroed by /sim/stats/reset) */
} sim_developer;

/* sim_developer_get_or_create returns the developer id, creating it. */
sim_developer *sim_developer_get_or_create(const char *id);
/* sim_developer_set creates or updates one from a POST /sim/developers body
 * {"id","quota_24h"?,"bucket_quota"?:{bucket:N},"premium"?:bool,"for_ms"?}.
 * Returns it, or NULL with err (nothing changed). */
sim_developer *sim_developer_set(const struct cJSON *body, int64_t now, char *err,
                                 size_t errlen);
/* sim_developer_free frees one (map value destructor). */
void sim_developer_free(void *p);

/* sim_developer_quota_on reports whether a developer quota replaces the
 * per-app quota_24h for this developer's apps: quota_24h (its own or the
 * global developer_quota_24h) > 0, or any bucket_quota > 0. */
int sim_developer_quota_on(const sim_developer *d);
/* sim_developer_quota_admit counts one call in bucket at now. Returns 0, or
 * -1 when the bucket's rolling 24 h is full, with *retry_ms = ms until the
 * oldest counted call leaves the 24 h. */
int sim_developer_quota_admit(sim_developer *d, const char *bucket, int64_t now,
                              int64_t *retry_ms);
/* sim_developer_to_json returns a new object for GET /sim/developers/<id>. */
struct cJSON *sim_developer_to_json(sim_developer *d, int64_t now);

#endif
