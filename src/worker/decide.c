/* decide.c: the worker's pure decisions (see include/worker/decide.h).
 * Layer: the bottom of src/worker/: it calls no other file of it. */
#include "worker/decide.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "redis/script_contract.h"

static void verdict_init(struct verdict *v, enum decide_action action, const char *outcome)
{
    memset(v, 0, sizeof *v);
    v->action = action;
    v->outcome = outcome;
    v->status = "";
    v->block_reason = "";
    v->quota_bucket = "";
    v->backfill_delay_ms = -1;
}

const char *decide_quota_bucket(const char *path)
{
    /* The longest prefix wins, as in Spotify's (and the simulator's) map. */
    static const struct {
        const char *prefix, *bucket;
    } map[] = {{"/v1/me/player/recently-played", "recent"}, {"/v1/me/player", "player"},
               {"/v1/me", "me"}, {"/api/token", "token"}};
    for (size_t i = 0; path && i < sizeof map / sizeof map[0]; i++) {
        size_t n = strlen(map[i].prefix);
        if (strncmp(path, map[i].prefix, n) == 0 && (path[n] == '\0' || path[n] == '/' || path[n] == '?' ||
                                                     strcmp(map[i].bucket, "player") == 0))
            return map[i].bucket;
    }
    return "other";
}

void decide_poll_answer(const struct poll_facts *f, struct verdict *v)
{
    const char *msg = f->message ? f->message : "";

    verdict_init(v, DECIDE_BACKOFF, "error");
    if (f->truncated) {
        snprintf(v->error, sizeof v->error, "response larger than max-body-bytes");
        return;
    }
    switch (f->cls) {
    case API_OK:
    case API_NOTHING:
        v->action = DECIDE_READ;
        v->nothing = f->cls == API_NOTHING;
        v->outcome = v->nothing ? "nothing" : "ok";
        break;
    case API_TOKEN_EXPIRED:
        if (!f->refreshed) {
            v->action = DECIDE_REFRESH;
            break;
        }
        /* A second 401 right after a refresh: do not loop, back off. */
        snprintf(v->error, sizeof v->error, "401 right after a token refresh: %s", msg);
        break;
    case API_REAUTH:
        if (f->backfill) {
            /* The grant lacks user-read-recently-played: polling goes on,
             * backfill waits a day (a new grant may add the scope). */
            v->action = DECIDE_RECORD;
            v->backfill_delay_ms = BACKFILL_NO_SCOPE_MS;
            snprintf(v->error, sizeof v->error, "recently-played: %s; history backfill paused",
                     msg[0] ? msg : "401 Permissions missing");
            break;
        }
        v->action = DECIDE_STOP_USER;
        v->outcome = v->status = "reauth_required";
        snprintf(v->error, sizeof v->error, "%s", msg[0] ? msg : "401 Permissions missing");
        break;
    case API_NOT_REGISTERED:
        v->action = DECIDE_STOP_USER;
        v->outcome = v->status = "not_registered";
        snprintf(v->error, sizeof v->error, "%s",
                 "User not registered in the Developer Dashboard (development-mode allowlist)");
        break;
    case API_OWNER_PREMIUM:
        /* The app's owner lost Premium: every call of the app is refused, so
         * the app waits, probed with one call every premium_probe_ms
         * (lib/limiter.lua), and its users wait in line. */
        v->action = DECIDE_BLOCK_APP;
        v->outcome = v->block_reason = "owner_premium_required";
        v->block_ms = f->premium_probe_ms > 0 ? f->premium_probe_ms : OWNER_PREMIUM_PROBE_MS;
        v->poll_now = 1;
        snprintf(v->error, sizeof v->error, "403 owner_premium_required: %s",
                 msg[0] ? msg : "Active premium subscription required for the owner of the app");
        break;
    case API_RATE_LIMITED:
    case API_QUOTA:
        v->action = DECIDE_BLOCK_APP;
        v->outcome = v->block_reason = f->cls == API_QUOTA ? "quota_exceeded" : "rate_limited";
        /* A quota is refused per endpoint bucket: the path refused says which. */
        if (f->cls == API_QUOTA)
            v->quota_bucket = decide_quota_bucket(f->backfill ? DECIDE_PATH_BACKFILL : DECIDE_PATH_POLL);
        snprintf(v->error, sizeof v->error, "429 %s", v->outcome);
        break;
    case API_TRANSIENT:
        if (f->transport_error)
            snprintf(v->error, sizeof v->error, "transient: %s", f->transport_error);
        else
            snprintf(v->error, sizeof v->error, "transient: HTTP %ld: %s", f->status, msg);
        break;
    case API_FORBIDDEN:
    case API_UNEXPECTED: {
        /* The message with its status, within the message's own bound
         * (api_classify's 160 bytes), as it has always been written. */
        char m[160];
        snprintf(m, sizeof m, "%s (HTTP %ld)", msg, f->status);
        snprintf(v->error, sizeof v->error, "unexpected answer: %s", m);
        break;
    }
    }
}

void decide_token_answer(enum tok_result res, const char *err, struct verdict *v)
{
    verdict_init(v, DECIDE_BACKOFF, "error");
    switch (res) {
    case TOK_OK:
        v->action = DECIDE_STORE;
        v->outcome = "ok";
        break;
    case TOK_INVALID_GRANT:
        v->action = DECIDE_STOP_USER;
        v->outcome = v->status = "reauth_required";
        snprintf(v->error, sizeof v->error, "%s", err);
        break;
    case TOK_INVALID_CLIENT:
        /* The app's credentials are wrong: its users wait in line. */
        v->action = DECIDE_BLOCK_APP;
        v->outcome = v->block_reason = "invalid_client";
        v->block_ms = INVALID_CLIENT_BLOCK_MS;
        v->poll_now = 1;
        snprintf(v->error, sizeof v->error, "token endpoint: invalid_client");
        break;
    case TOK_RATE_LIMITED:
        v->action = DECIDE_BLOCK_APP;
        v->outcome = v->block_reason = "rate_limited";
        snprintf(v->error, sizeof v->error, "token endpoint 429");
        break;
    case TOK_TRANSIENT:
        snprintf(v->error, sizeof v->error, "token refresh failed, old tokens kept: %s", err);
        break;
    }
}

const char *decide_token_result_name(enum tok_result res)
{
    static const char *const names[] = {[TOK_OK] = "ok", [TOK_INVALID_GRANT] = "invalid_grant",
                                        [TOK_INVALID_CLIENT] = "invalid_client",
                                        [TOK_RATE_LIMITED] = "rate_limited", [TOK_TRANSIENT] = "transient"};
    return (size_t)res < sizeof names / sizeof names[0] && names[res] ? names[res] : "transient";
}

long long decide_backoff_ms(int fails, double r01, long long base_ms, long long max_ms)
{
    double d = (double)base_ms;
    for (int i = 1; i < fails && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = (double)max_ms;
    return (long long)(d * (0.5 + 0.5 * r01));
}

struct next_poll decide_next_poll(const struct pb_state *cur, int nevents, int idle_before, long long interval_ms,
                                  int interval_set, int speed, const struct sw_config *c)
{
    struct next_poll n;
    int playing = cur->present && cur->is_playing;
    int quiet = nevents == 0 && !playing;

    n.idle = quiet ? idle_before + 1 : 0;
    long long base = playing && !interval_set ? decide_playing_ms(speed, c) : interval_ms;
    if (c->smart_polling)
        n.delay_ms = pb_next_delay_ms(cur, base, c->paused_interval_ms, c->paused_max_ms, c->idle_max_ms,
                                      n.idle > 0 ? n.idle - 1 : 0);
    else
        n.delay_ms = interval_ms;
    return n;
}

/* ---- flap confirmation: kept apart from decide_next_poll on purpose ---- */

struct next_poll decide_confirm_poll(struct next_poll n, int confirm_pending, long long confirm_ms)
{
    if (confirm_pending && confirm_ms > 0 && n.delay_ms > confirm_ms)
        n.delay_ms = confirm_ms;
    return n;
}

long long decide_playing_ms(int speed, const struct sw_config *c)
{
    double slow = (double)c->playing_max_ms, fast = (double)c->poll_interval_ms;

    if (speed <= 0 || fast >= slow)
        return c->playing_max_ms;
    if (speed >= 1000)
        return c->poll_interval_ms;
    /* Geometric: ln(interval) linear in speed (why: decide.h). */
    long long ms = llround(slow * pow(fast / slow, speed / 1000.0));
    if (ms < c->poll_interval_ms)
        ms = c->poll_interval_ms;
    return ms > c->playing_max_ms ? c->playing_max_ms : ms;
}

long decide_speedup_span(const struct sw_config *c)
{
    if (!c->smart_polling || c->poll_interval_ms <= 0 || c->poll_interval_ms >= c->playing_max_ms)
        return 0;
    return lround(1000.0 * log((double)c->playing_max_ms / (double)c->poll_interval_ms));
}

long long decide_backfill_next_ms(int more, long long backfill_interval_ms)
{
    return more ? 0 : backfill_interval_ms;
}

long long decide_backfill_delay_ms(long long decided_ms, int released, long long backfill_interval_ms)
{
    if (decided_ms < 0 && !released)
        return backfill_interval_ms;
    return decided_ms;
}

int decide_claim_full(long long code, size_t njobs, int want)
{
    return code == LIMIT_OK && njobs > 0 && njobs >= (size_t)want;
}

double decide_claim_pause_s(long long code, size_t njobs, int want, long long wake_ms, long long now_ms)
{
    double pause = code == LIMIT_OK ? CLAIM_IDLE_S : CLAIM_RECHECK_S;
    if (decide_claim_full(code, njobs, want))
        return 0;   /* more may be due: claim again as soon as capacity allows */
    if (wake_ms > 0 && (wake_ms - now_ms) / 1000.0 < pause)
        pause = wake_ms > now_ms ? (wake_ms - now_ms) / 1000.0 : 0;
    return pause;
}

double decide_tick_at(double t, long tick_ms, double phase)
{
    double tick = tick_ms / 1000.0, offset = phase * tick;
    if (tick_ms <= 0)
        return t;
    return ceil((t - offset) / tick) * tick + offset;
}

double decide_claim_at(double now, double pause, int full, long tick_ms, double phase)
{
    return full ? now : decide_tick_at(now + pause, tick_ms, phase);
}

int decide_claim_batch(int capacity, int ready, int claim_batch)
{
    int batch = ready > 0 ? capacity / ready : capacity;
    if (batch < 1)
        batch = 1;
    if (batch > claim_batch)
        batch = claim_batch;
    return batch;
}
