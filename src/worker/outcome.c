/* outcome.c: what complete.lua is told about a finished job (struct
 * outcome, worker_int.h), built from the job's counters and a verdict of
 * decide.c. Here is what a verdict cannot hold: the random draw of the
 * backoff, the clock of a Retry-After and of a stop event, and the log line
 * of a block.
 *
 * Layer: below complete.c; calls no other file of src/worker/ but decide.c
 * (the clock and the jitter are inline in worker_int.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"
#include "base/log.h"
#include "spotify/events.h"
#include "spotify/token.h"
#include "spotify/webapi.h"

/* outcome_init: by default a success: failures reset, idle kept, the next
 * poll after the user's interval, nothing else changed. */
void outcome_init(struct outcome *o, const struct job *j, const char *name)
{
    memset(o, 0, sizeof *o);
    o->name = name;
    o->fails = 0;
    o->idle = j->idle;
    o->delay_ms = j->interval_ms;
    o->block_reason = "";
    o->quota_bucket = "";
    o->new_status = "";
    o->backfill_delay_ms = -1;
    o->backfill_cursor = -1;
    o->flap = "";
}

void outcome_free(struct outcome *o)
{
    free(o->state);
    free(o->backfill_plays);
    o->backfill_plays = NULL;
    for (int i = 0; i < o->nevents; i++)
        sw_event_free(&o->events[i]);
}

void outcome_backoff(struct outcome *o, const struct job *j, const char *fmt, ...)
{
    va_list ap;
    const struct sw_config *c = j->w->cfg;
    o->fails = j->fails + 1;
    o->delay_ms = decide_backoff_ms(o->fails, worker_rand01(j->w), c->backoff_base_ms, c->backoff_max_ms);
    va_start(ap, fmt);
    vsnprintf(o->error, sizeof o->error, fmt, ap);
    va_end(ap);
}

/* outcome_stop_user: off the schedule with a new status and its reason,
 * and an event of that type. */
static void outcome_stop_user(struct outcome *o, const struct job *j, const char *status, const char *reason)
{
    o->delay_ms = -1;
    o->new_status = status;
    snprintf(o->error, sizeof o->error, "%s", reason);
    o->events[o->nevents++] = sw_event_status(status, j->user, worker_now_ms(), reason);
}

/* outcome_block_app: the app is blocked for as long as retry_after says
 * (retry-after-default-ms when absent, capped at retry-after-max-ms). */
static void outcome_block_app(struct outcome *o, const struct job *j, const char *retry_after, const char *reason)
{
    const struct sw_config *c = j->w->cfg;
    o->block_ms = retry_after_ms(retry_after, worker_now_ms(), c->retry_after_default_ms, c->retry_after_max_ms,
                                 &o->capped);
    o->block_reason = reason;
    log_warn_f(APP_LOG(j->app), "app %s: %s; no calls for %lld ms%s", j->app->id, reason, o->block_ms,
             o->capped ? " (Retry-After capped)" : "");
}

void outcome_apply(struct outcome *o, const struct job *j, const struct verdict *v, const char *retry_after)
{
    o->name = v->outcome;
    switch (v->action) {
    case DECIDE_BACKOFF:
        outcome_backoff(o, j, "%s", v->error);
        break;
    case DECIDE_STOP_USER:
        outcome_stop_user(o, j, v->status, v->error);
        break;
    case DECIDE_BLOCK_APP:
        if (v->block_ms > 0) {
            o->block_ms = v->block_ms;
            o->block_reason = v->block_reason;
            if (strcmp(v->block_reason, "owner_premium_required") == 0)
                log_warn_f(APP_LOG(j->app), "app %s: %s; one probe call every %lld ms until a call succeeds", j->app->id,
                         v->error, o->block_ms);
        } else {
            outcome_block_app(o, j, retry_after, v->block_reason);
        }
        if (v->poll_now)
            o->delay_ms = 0;
        o->quota_bucket = v->quota_bucket;
        snprintf(o->error, sizeof o->error, "%s", v->error);
        break;
    case DECIDE_RECORD:
        o->fails = j->fails;
        snprintf(o->error, sizeof o->error, "%s", v->error);
        break;
    case DECIDE_READ:
    case DECIDE_STORE:
    case DECIDE_REFRESH:
        break;   /* the job goes on: the caller acts */
    }
    if (v->backfill_delay_ms >= 0)
        o->backfill_delay_ms = v->backfill_delay_ms;
}
