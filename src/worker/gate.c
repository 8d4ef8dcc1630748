/* gate.c: the grant gate (lua/grant.lua) in front of every call a job makes
 * beyond the ones its claim granted (see worker_int.h).
 *
 * Layer: below job.c and refresh.c, which both send calls through it; above
 * complete.c, outcome.c and jobs.c. The gate does not know what the call is:
 * the caller passes the step that sends it (job_gate's then, kept on the job
 * as after_grant), and on_grant runs it once grant.lua says yes. So the gate
 * needs neither the poll (job.c) nor the token endpoint (refresh.c). */
#include <stdio.h>

#include "worker_int.h"
#include "base/log.h"
#include "redis/scripts.h"

static void on_grant(struct redis_async *l, redisReply *r, void *ud);

/* job_gate: every call but the ones the claim granted asks grant.lua, so no
 * call leaves this worker while the app is blocked, and calls the claim did
 * not count come out of the budget and quota. */
int job_gate(struct job *j, job_step *then)
{
    struct worker *w = j->w;
    const struct sw_config *c = w->cfg;
    char tag[ID_MAX + 64], budget[24], quota[24];

    j->after_grant = then;
    if (j->calls == 0)
        return 0;   /* the job's first call: the claim granted it */
    snprintf(tag, sizeof tag, "%s:%s:%d", j->fence, j->user, j->calls);
    snprintf(budget, sizeof budget, "%ld", c->app_budget_30s);
    snprintf(quota, sizeof quota, "%ld", c->app_quota_24h);
    const char *argv[GRANT_KEY_N + GRANT_ARG_N];
    const char **arg = argv + GRANT_KEY_N;
    argv[GRANT_KEY_RL] = j->app->k.rl;
    argv[GRANT_KEY_CALLS] = j->app->k.calls;
    argv[GRANT_KEY_APP] = j->app->k.app;
    arg[GRANT_ARG_EXTRA] = j->calls < j->prepaid ? "0" : "1";
    arg[GRANT_ARG_TAG] = tag;
    arg[GRANT_ARG_BUDGET_DEFAULT] = budget;
    arg[GRANT_ARG_QUOTA_DEFAULT] = quota;
    if (redis_async_eval(w->redis, SCRIPT_GRANT, GRANT_KEY_N, GRANT_KEY_N + GRANT_ARG_N, argv, NULL, on_grant,
                         j) != 0)
        job_free(j);
    return 1;
}

static void on_grant(struct redis_async *l, redisReply *r, void *ud)
{
    struct job *j = ud;
    struct grant_reply g;
    struct outcome o;
    (void)l;
    if (r == NULL) {
        job_free(j);   /* link lost: the lease expires, the user is polled again */
        return;
    }
    if (sc_parse(r, 0, sc_grant_reply, GRANT_REPLY_N, &g) == 0 && g.code == LIMIT_OK) {
        /* the call that waited: the token endpoint's, or the poll */
        j->after_grant(j);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR)
        log_error_f(JOB_LOG(j), "user %s: grant failed: %s", j->user, r->str);
    else
        log_debug_f(JOB_LOG(j), "user %s: app %s is limited; next call waits for the claim", j->user, j->app->id);
    /* Back in line, first: the claim lets it go when the limiter allows. */
    outcome_init(&o, j, "released");
    o.fails = j->fails;
    o.delay_ms = 0;
    complete_job(j, &o);
}
