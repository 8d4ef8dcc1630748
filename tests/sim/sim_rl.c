/* sim_rl.c: see sim_rl.h. */
#include "sim_rl.h"
#include "sim_util.h"

#include <stdlib.h>
#include <string.h>

void sim_rl_init(sim_rl *rl)
{
    memset(rl, 0, sizeof *rl);
    rl->limited_first_ms = -1;
}

void sim_rl_free(sim_rl *rl)
{
    free(rl->log);
    rl->log = NULL;
}

/* Re-size the ring for a new limit, keeping the newest entries. */
static void resize(sim_rl *rl, long limit)
{
    int64_t *log = sim_xcalloc((size_t)limit, sizeof *log);
    long keep = rl->count < limit ? rl->count : limit;
    for (long i = 0; i < keep; i++)
        log[i] = rl->log[(rl->head + rl->count - keep + i) % rl->cap];
    free(rl->log);
    rl->log = log;
    rl->cap = limit;
    rl->head = 0;
    rl->count = keep;
}

long sim_rl_in_window(const sim_rl *rl, int64_t window_ms, int64_t now)
{
    long n = 0;
    for (long i = 0; i < rl->count; i++)
        if (rl->log[(rl->head + i) % rl->cap] > now - window_ms)
            n++;
    return n;
}

sim_rl_class sim_rl_admit(sim_rl *rl, long limit, int64_t window_ms, int64_t grace_ms,
                          double escalation, int64_t now, int64_t *retry_ms)
{
    if (limit <= 0)
        return SIM_RL_ADMITTED;
    if (limit != rl->cap)
        resize(rl, limit);

    if (rl->limited_first_ms >= 0 && now < rl->limited_end_ms) {
        sim_rl_class cls = SIM_RL_GRACE;
        if (now - rl->limited_first_ms > grace_ms) {
            cls = SIM_RL_LATE;
            if (escalation > 1.0)
                rl->limited_end_ms += (int64_t)((double)rl->penalty_ms * (escalation - 1.0));
        }
        *retry_ms = rl->limited_end_ms - now;
        return cls;
    }
    rl->limited_first_ms = -1;

    if (rl->count == limit) {
        int64_t oldest = rl->log[rl->head];
        if (oldest > now - window_ms) {
            rl->limited_first_ms = now;
            rl->limited_end_ms = oldest + window_ms;
            rl->penalty_ms = rl->limited_end_ms - now;
            *retry_ms = rl->limited_end_ms - now;
            return SIM_RL_FIRST;
        }
        rl->head = (rl->head + 1) % rl->cap;
        rl->count--;
    }
    rl->log[(rl->head + rl->count) % rl->cap] = now;
    rl->count++;
    return SIM_RL_ADMITTED;
}

void sim_quota_reset(sim_quota *q)
{
    memset(q, 0, sizeof *q);
}

long sim_quota_used(const sim_quota *q, int64_t now)
{
    int64_t m = now / 60000;
    long n = 0;
    for (int i = 0; i < SIM_QUOTA_BUCKETS; i++)
        if (q->count[i] && q->minute[i] > m - SIM_QUOTA_BUCKETS)
            n += q->count[i];
    return n;
}

int sim_quota_admit(sim_quota *q, long quota, int64_t now, int64_t *retry_ms)
{
    if (quota <= 0)
        return 0;
    int64_t m = now / 60000;
    if (sim_quota_used(q, now) >= quota) {
        int64_t oldest = m;
        for (int i = 0; i < SIM_QUOTA_BUCKETS; i++)
            if (q->count[i] && q->minute[i] > m - SIM_QUOTA_BUCKETS && q->minute[i] < oldest)
                oldest = q->minute[i];
        /* bucket `oldest` leaves the window once now >= (oldest + 1440) min */
        *retry_ms = (oldest + SIM_QUOTA_BUCKETS) * 60000 - now;
        if (*retry_ms < 1)
            *retry_ms = 1;
        return -1;
    }
    int i = (int)(m % SIM_QUOTA_BUCKETS);
    if (q->minute[i] != m) {
        q->minute[i] = m;
        q->count[i] = 0;
    }
    q->count[i]++;
    return 0;
}
