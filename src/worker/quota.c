/* quota.c: the developer's quota ledger (lua/allowance.lua), seen from the
 * worker (see worker_int.h).
 *
 * Spotify counts the development-mode 24 h quota per developer account,
 * shared by that developer's apps. The ledger has its own hash tag, so no
 * script can update it together with an app's keys (Redis Cluster): a
 * claim that finds its app's allowance spent answers LIMIT_ALLOWANCE,
 * quota_take takes an allowance from the ledger, and the app's next claim
 * (claim_app, through quota_claim_args) receives it and spends it
 * atomically with the users it takes. A worker that dies in between
 * strands that allowance: counted, never spent, so the quota errs on the
 * safe side. A QUOTA_EXCEEDED a job drew is reported here (quota_report)
 * so the developer's other apps stop that bucket too.
 *
 * Layer: below complete.c (which reports) and claim.c (which takes); calls
 * no other file of src/worker/, and tells the loop through worker_kick. */
#include <stdio.h>
#include <string.h>

#include "worker_int.h"
#include "base/log.h"
#include "redis/scripts.h"

static void on_take(struct redis_async *l, redisReply *r, void *ud);
static void on_report(struct redis_async *l, redisReply *r, void *ud);

/* ledger_call runs allowance.lua in mode for a (its developer's ledger). */
static int ledger_call(struct worker *w, struct app *a, const char *mode, long long quota, long long window_ms,
                       long long want, long long users, const char *bucket, long long block_ms,
                       redis_async_cb *cb)
{
    char ledger[KEY_MAX], num[5][24];
    const long long v[5] = {quota, window_ms, want, users, block_ms};
    const int at[5] = {ALLOWANCE_ARG_QUOTA, ALLOWANCE_ARG_WINDOW_MS, ALLOWANCE_ARG_WANT, ALLOWANCE_ARG_USERS,
                       ALLOWANCE_ARG_BLOCK_MS};
    const char *argv[ALLOWANCE_KEY_N + ALLOWANCE_ARG_N];
    const char **arg = argv + ALLOWANCE_KEY_N;
    keys_developer_quota(ledger, sizeof ledger, w->cfg->key_prefix, a->developer);
    argv[ALLOWANCE_KEY_LEDGER] = ledger;
    for (int i = 0; i < 5; i++) {
        snprintf(num[i], sizeof num[i], "%lld", v[i]);
        arg[at[i]] = num[i];
    }
    arg[ALLOWANCE_ARG_MODE] = mode;
    arg[ALLOWANCE_ARG_APP] = a->id;
    arg[ALLOWANCE_ARG_BUCKET] = bucket;
    return redis_async_eval(w->redis, SCRIPT_ALLOWANCE, ALLOWANCE_KEY_N, ALLOWANCE_KEY_N + ALLOWANCE_ARG_N, argv,
                            NULL, cb, a);
}

void quota_take(struct worker *w, struct app *a, const struct claim_reply *h)
{
    if (h->developer.len == 0 || h->developer.len > ID_MAX) {
        a->wake_at = ev_now(w->loop) + CLAIM_RECHECK_S;
        return;
    }
    memcpy(a->developer, h->developer.s, h->developer.len);
    a->developer[h->developer.len] = '\0';
    a->quota = h->quota;
    a->quota_window_ms = h->quota_window_ms;
    if (ledger_call(w, a, "take", h->quota, h->quota_window_ms, h->want, h->users, "", 0, on_take) == 0)
        a->claiming = 1;
    else
        a->wake_at = ev_now(w->loop) + CLAIM_RECHECK_S;
}

/* copy_int: one integer field of the reply, as the text claim.lua reads. */
static void copy_int(char *dst, size_t n, long long v)
{
    snprintf(dst, n, "%lld", v);
}

static void on_take(struct redis_async *l, redisReply *r, void *ud)
{
    struct app *a = ud;
    struct worker *w = a->w;
    struct allowance_reply g;
    (void)l;
    a->claiming = 0;
    if (r == NULL || sc_parse(r, 0, sc_allowance_reply, ALLOWANCE_REPLY_N, &g) != 0) {
        /* e.g. OOM: once, like a failing claim (the next claim that works says so) */
        if (r && r->type == REDIS_REPLY_ERROR && !a->claim_failing)
            log_error("app %s: allowance failed: %s; retrying every %.0f s", a->id, r->str, CLAIM_RECHECK_S);
        a->claim_failing = 1;
        a->wake_at = ev_now(w->loop) + CLAIM_RECHECK_S;
        worker_kick(w);
        return;
    }
    copy_int(a->allow_n, sizeof a->allow_n, g.granted);
    copy_int(a->allow_slot, sizeof a->allow_slot, g.slot);
    copy_int(a->allow_code, sizeof a->allow_code, g.code);
    copy_int(a->allow_until, sizeof a->allow_until, g.until_ms);
    copy_int(a->allow_pace, sizeof a->allow_pace, g.pace_ms);
    copy_int(a->allow_limit, sizeof a->allow_limit, g.limit);
    copy_int(a->allow_used, sizeof a->allow_used, g.used);
    copy_int(a->allow_left_ms, sizeof a->allow_left_ms, g.left_ms);
    snprintf(a->allow_blocks, sizeof a->allow_blocks, "%.*s", (int)g.blocks.len, g.blocks.s);
    a->allow_ready = 1;
    a->wake_at = ev_now(w->loop);   /* claim again at once, with it */
    worker_kick(w);
}

void quota_claim_args(struct app *a, const char **arg)
{
    int r = a->allow_ready;
    arg[CLAIM_ARG_ALLOW_N] = r ? a->allow_n : "";
    arg[CLAIM_ARG_ALLOW_SLOT] = r ? a->allow_slot : "";
    arg[CLAIM_ARG_ALLOW_CODE] = r ? a->allow_code : "";
    arg[CLAIM_ARG_ALLOW_UNTIL] = r ? a->allow_until : "";
    arg[CLAIM_ARG_ALLOW_BLOCKS] = r ? a->allow_blocks : "";
    arg[CLAIM_ARG_ALLOW_PACE] = r ? a->allow_pace : "";
    arg[CLAIM_ARG_ALLOW_LIMIT] = r ? a->allow_limit : "";
    arg[CLAIM_ARG_ALLOW_USED] = r ? a->allow_used : "";
    arg[CLAIM_ARG_ALLOW_LEFT_MS] = r ? a->allow_left_ms : "";
    /* Once: the strings stay valid until the claim is sent (redis_async
     * copies its arguments), and a second claim must not add it again. */
    a->allow_ready = 0;
}

void quota_report(struct worker *w, struct app *a, const char *bucket, long long block_ms)
{
    if (a->developer[0] == '\0')
        return;   /* not metered (no allowance was ever asked): nothing shares it */
    if (ledger_call(w, a, "block", a->quota, a->quota_window_ms, 0, 0, bucket, block_ms, on_report) != 0)
        log_warn("app %s: QUOTA_EXCEEDED of %s not reported to developer %s", a->id, bucket, a->developer);
}

static void on_report(struct redis_async *l, redisReply *r, void *ud)
{
    struct app *a = ud;
    (void)l;
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        log_warn("app %s: QUOTA_EXCEEDED not reported to developer %s", a->id, a->developer);
}
