/* test_decide: the worker's pure decisions (include/worker/decide.h): what
 * each Web API and token endpoint answer means, backoff bounds and growth,
 * smart polling's next delay, the backfill delays and the claim's pacing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "redis/script_contract.h"
#include "worker/decide.h"

static struct verdict poll_answer(enum api_class cls, long status, const char *msg, int backfill, int refreshed)
{
    struct poll_facts f = {0};
    struct verdict v;
    f.cls = cls;
    f.status = status;
    f.message = msg;
    f.backfill = backfill;
    f.refreshed = refreshed;
    decide_poll_answer(&f, &v);
    return v;
}

static void test_poll_ok_and_nothing(void **state)
{
    (void)state;
    for (int backfill = 0; backfill <= 1; backfill++) {
        struct verdict v = poll_answer(API_OK, 200, "", backfill, 0);
        assert_int_equal(v.action, DECIDE_READ);
        assert_string_equal(v.outcome, "ok");
        assert_false(v.nothing);
        assert_string_equal(v.error, "");
        assert_int_equal(v.backfill_delay_ms, -1);
        v = poll_answer(API_NOTHING, 204, "", backfill, 1);
        assert_int_equal(v.action, DECIDE_READ);
        assert_string_equal(v.outcome, "nothing");
        assert_true(v.nothing);
    }
}

static void test_poll_token_expired(void **state)
{
    (void)state;
    /* The first 401 refreshes (whatever the job's kind) ... */
    struct verdict v = poll_answer(API_TOKEN_EXPIRED, 401, "The access token expired", 0, 0);
    assert_int_equal(v.action, DECIDE_REFRESH);
    v = poll_answer(API_TOKEN_EXPIRED, 401, "The access token expired", 1, 0);
    assert_int_equal(v.action, DECIDE_REFRESH);
    /* ... one right after a refresh backs off instead of looping. */
    v = poll_answer(API_TOKEN_EXPIRED, 401, "Invalid access token", 0, 1);
    assert_int_equal(v.action, DECIDE_BACKOFF);
    assert_string_equal(v.outcome, "error");
    assert_string_equal(v.error, "401 right after a token refresh: Invalid access token");
}

static void test_poll_reauth(void **state)
{
    (void)state;
    struct verdict v = poll_answer(API_REAUTH, 401, "Permissions missing", 0, 0);
    assert_int_equal(v.action, DECIDE_STOP_USER);
    assert_string_equal(v.outcome, "reauth_required");
    assert_string_equal(v.status, "reauth_required");
    assert_string_equal(v.error, "Permissions missing");
    v = poll_answer(API_REAUTH, 401, "", 0, 0);
    assert_string_equal(v.error, "401 Permissions missing");
    /* A backfill without the scope: polling goes on, backfill waits a day. */
    v = poll_answer(API_REAUTH, 401, "Permissions missing", 1, 0);
    assert_int_equal(v.action, DECIDE_RECORD);
    assert_string_equal(v.outcome, "error");
    assert_string_equal(v.status, "");
    assert_int_equal(v.backfill_delay_ms, BACKFILL_NO_SCOPE_MS);
    assert_string_equal(v.error, "recently-played: Permissions missing; history backfill paused");
    v = poll_answer(API_REAUTH, 401, "", 1, 0);
    assert_string_equal(v.error, "recently-played: 401 Permissions missing; history backfill paused");
}

static void test_poll_not_registered(void **state)
{
    (void)state;
    struct verdict v = poll_answer(API_NOT_REGISTERED, 403, "User not registered in the Developer Dashboard", 0, 0);
    assert_int_equal(v.action, DECIDE_STOP_USER);
    assert_string_equal(v.outcome, "not_registered");
    assert_string_equal(v.status, "not_registered");
    assert_string_equal(v.error, "User not registered in the Developer Dashboard (development-mode allowlist)");
}

static void test_poll_not_registered_texts(void **state)
{
    (void)state;
    /* Every not-registered text stops the user with the same reason. */
    struct verdict v = poll_answer(API_NOT_REGISTERED, 403, "The user is not registered for this application.", 1, 0);
    assert_int_equal(v.action, DECIDE_STOP_USER);
    assert_string_equal(v.status, "not_registered");
    assert_string_equal(v.error, "User not registered in the Developer Dashboard (development-mode allowlist)");
}

static void test_poll_owner_premium(void **state)
{
    struct poll_facts f = {0};
    struct verdict v;
    (void)state;
    f.cls = API_OWNER_PREMIUM;
    f.status = 403;
    f.message = "Active premium subscription required for the owner of the app";
    f.premium_probe_ms = 120000;
    decide_poll_answer(&f, &v);
    assert_int_equal(v.action, DECIDE_BLOCK_APP);
    assert_string_equal(v.outcome, "owner_premium_required");
    assert_string_equal(v.block_reason, "owner_premium_required");
    assert_int_equal(v.block_ms, 120000);
    assert_true(v.poll_now);
    assert_string_equal(v.status, "");
    assert_string_equal(v.error, "403 owner_premium_required: Active premium subscription required for the owner of the app");
    /* Without the directive's value: the built-in default; a backfill alike. */
    f.premium_probe_ms = 0;
    f.backfill = 1;
    f.message = "";
    decide_poll_answer(&f, &v);
    assert_int_equal(v.action, DECIDE_BLOCK_APP);
    assert_int_equal(v.block_ms, OWNER_PREMIUM_PROBE_MS);
    assert_int_equal(v.backfill_delay_ms, -1);
}

static void test_poll_rate_limited_and_quota(void **state)
{
    (void)state;
    struct verdict v = poll_answer(API_RATE_LIMITED, 429, "", 0, 0);
    assert_int_equal(v.action, DECIDE_BLOCK_APP);
    assert_string_equal(v.outcome, "rate_limited");
    assert_string_equal(v.block_reason, "rate_limited");
    assert_int_equal(v.block_ms, 0);   /* as long as the Retry-After says */
    assert_false(v.poll_now);
    assert_string_equal(v.error, "429 rate_limited");
    v = poll_answer(API_QUOTA, 429, "", 0, 0);
    assert_int_equal(v.action, DECIDE_BLOCK_APP);
    assert_string_equal(v.outcome, "quota_exceeded");
    assert_string_equal(v.block_reason, "quota_exceeded");
    assert_string_equal(v.error, "429 quota_exceeded");
    assert_string_equal(v.quota_bucket, "player");   /* the poll's bucket */
    v = poll_answer(API_QUOTA, 429, "", 1, 0);
    assert_string_equal(v.quota_bucket, "recent");   /* a backfill's: only backfills stop */
    v = poll_answer(API_RATE_LIMITED, 429, "", 1, 0);
    assert_string_equal(v.quota_bucket, "");         /* not a quota */
}

/* The developer quota's buckets: the longest prefix of the path refused. */
static void test_quota_buckets(void **state)
{
    (void)state;
    assert_string_equal(decide_quota_bucket("/v1/me/player"), "player");
    assert_string_equal(decide_quota_bucket("/v1/me/player/currently-playing"), "player");
    assert_string_equal(decide_quota_bucket("/v1/me/player/devices"), "player");
    assert_string_equal(decide_quota_bucket("/v1/me/player/recently-played?after=1&limit=50"), "recent");
    assert_string_equal(decide_quota_bucket("/v1/me"), "me");
    assert_string_equal(decide_quota_bucket("/v1/me?x=1"), "me");
    assert_string_equal(decide_quota_bucket("/v1/mex"), "other");
    assert_string_equal(decide_quota_bucket("/api/token"), "token");
    assert_string_equal(decide_quota_bucket("/v1/tracks/1"), "other");
    assert_string_equal(decide_quota_bucket(""), "other");
    assert_string_equal(decide_quota_bucket(NULL), "other");
}

static void test_poll_transient_forbidden_unexpected(void **state)
{
    struct poll_facts f = {0};
    struct verdict v;
    (void)state;
    v = poll_answer(API_TRANSIENT, 503, "Service unavailable", 0, 0);
    assert_int_equal(v.action, DECIDE_BACKOFF);
    assert_string_equal(v.outcome, "error");
    assert_string_equal(v.error, "transient: HTTP 503: Service unavailable");
    /* A transport error names curl's reason. */
    f.cls = API_TRANSIENT;
    f.transport_error = "Connection refused";
    decide_poll_answer(&f, &v);
    assert_int_equal(v.action, DECIDE_BACKOFF);
    assert_string_equal(v.error, "transient: Connection refused");
    v = poll_answer(API_FORBIDDEN, 403, "Forbidden", 0, 0);
    assert_int_equal(v.action, DECIDE_BACKOFF);
    assert_string_equal(v.outcome, "error");
    assert_string_equal(v.error, "unexpected answer: Forbidden (HTTP 403)");
    v = poll_answer(API_UNEXPECTED, 418, "", 0, 0);
    assert_int_equal(v.action, DECIDE_BACKOFF);
    assert_string_equal(v.error, "unexpected answer:  (HTTP 418)");
    /* A message at api_classify's bound leaves no room for the status. */
    char longmsg[160];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    v = poll_answer(API_UNEXPECTED, 400, longmsg, 0, 0);
    assert_int_equal(strlen(v.error), strlen("unexpected answer: ") + 159);
}

static void test_poll_truncated(void **state)
{
    struct poll_facts f = {0};
    struct verdict v;
    (void)state;
    /* Whatever the class, a body over max-body-bytes backs off. */
    f.cls = API_OK;
    f.status = 200;
    f.truncated = 1;
    decide_poll_answer(&f, &v);
    assert_int_equal(v.action, DECIDE_BACKOFF);
    assert_string_equal(v.outcome, "error");
    assert_string_equal(v.error, "response larger than max-body-bytes");
}

static void test_token_answers(void **state)
{
    struct verdict v;
    (void)state;
    decide_token_answer(TOK_OK, "", &v);
    assert_int_equal(v.action, DECIDE_STORE);
    decide_token_answer(TOK_INVALID_GRANT, "invalid_grant: Refresh token revoked", &v);
    assert_int_equal(v.action, DECIDE_STOP_USER);
    assert_string_equal(v.outcome, "reauth_required");
    assert_string_equal(v.status, "reauth_required");
    assert_string_equal(v.error, "invalid_grant: Refresh token revoked");
    decide_token_answer(TOK_INVALID_CLIENT, "invalid_client", &v);
    assert_int_equal(v.action, DECIDE_BLOCK_APP);
    assert_string_equal(v.outcome, "invalid_client");
    assert_string_equal(v.block_reason, "invalid_client");
    assert_int_equal(v.block_ms, INVALID_CLIENT_BLOCK_MS);
    assert_true(v.poll_now);
    assert_string_equal(v.error, "token endpoint: invalid_client");
    decide_token_answer(TOK_RATE_LIMITED, "429", &v);
    assert_int_equal(v.action, DECIDE_BLOCK_APP);
    assert_string_equal(v.outcome, "rate_limited");
    assert_string_equal(v.block_reason, "rate_limited");
    assert_int_equal(v.block_ms, 0);
    assert_false(v.poll_now);
    assert_string_equal(v.error, "token endpoint 429");
    decide_token_answer(TOK_TRANSIENT, "HTTP 503", &v);
    assert_int_equal(v.action, DECIDE_BACKOFF);
    assert_string_equal(v.outcome, "error");
    assert_string_equal(v.error, "token refresh failed, old tokens kept: HTTP 503");

    assert_string_equal(decide_token_result_name(TOK_OK), "ok");
    assert_string_equal(decide_token_result_name(TOK_INVALID_GRANT), "invalid_grant");
    assert_string_equal(decide_token_result_name(TOK_INVALID_CLIENT), "invalid_client");
    assert_string_equal(decide_token_result_name(TOK_RATE_LIMITED), "rate_limited");
    assert_string_equal(decide_token_result_name(TOK_TRANSIENT), "transient");
}

static void test_backoff_bounds_and_growth(void **state)
{
    (void)state;
    /* The jitter keeps each delay within [d / 2, d) of the capped d. */
    for (int fails = 1; fails <= 40; fails++) {
        long long d = 1000;
        for (int i = 1; i < fails && d < 120000; i++)
            d *= 2;
        if (d > 120000)
            d = 120000;
        assert_int_equal(decide_backoff_ms(fails, 0.0, 1000, 120000), d / 2);
        long long hi = decide_backoff_ms(fails, 0.999999, 1000, 120000);
        assert_true(hi < d && hi >= d - 1);
        long long mid = decide_backoff_ms(fails, 0.5, 1000, 120000);
        assert_int_equal(mid, d * 3 / 4);
    }
    /* Doubling per failure, until the cap. */
    assert_int_equal(decide_backoff_ms(1, 0.0, 1000, 120000), 500);
    assert_int_equal(decide_backoff_ms(2, 0.0, 1000, 120000), 1000);
    assert_int_equal(decide_backoff_ms(3, 0.0, 1000, 120000), 2000);
    assert_int_equal(decide_backoff_ms(7, 0.0, 1000, 120000), 32000);
    assert_int_equal(decide_backoff_ms(8, 0.0, 1000, 120000), 60000);
    assert_int_equal(decide_backoff_ms(9, 0.0, 1000, 120000), 60000);
    assert_int_equal(decide_backoff_ms(1000000, 0.0, 1000, 120000), 60000);
    /* base == max: no growth. */
    assert_int_equal(decide_backoff_ms(5, 0.0, 500, 500), 250);
}

static struct sw_config smart_config(int smart)
{
    struct sw_config c;
    memset(&c, 0, sizeof c);
    c.smart_polling = smart;
    c.playing_max_ms = 15000;
    c.paused_interval_ms = 15000;
    c.paused_max_ms = 60000;
    c.idle_max_ms = 180000;
    return c;
}

static struct pb_state playback(int present, int playing, long long progress, long long duration)
{
    struct pb_state s;
    memset(&s, 0, sizeof s);
    s.known = 1;
    s.present = present;
    s.is_playing = playing;
    s.progress_ms = progress;
    s.duration_ms = duration;
    return s;
}

static void test_smart_playing(void **state)
{
    struct sw_config c = smart_config(1);
    (void)state;
    /* Playing: the predicted end of the track (+500 ms), at most playing-max-ms. */
    struct pb_state s = playback(1, 1, 200000, 210000);
    struct next_poll n = decide_next_poll(&s, 0, 3, 5000, 0, -1, &c);
    assert_int_equal(n.idle, 0);   /* playing is never quiet */
    assert_int_equal(n.delay_ms, 10500);
    s = playback(1, 1, 0, 210000);
    n = decide_next_poll(&s, 1, 0, 5000, 0, -1, &c);
    assert_int_equal(n.delay_ms, 15000);
    /* The user's own interval replaces playing-max-ms. */
    n = decide_next_poll(&s, 0, 0, 5000, 1, -1, &c);
    assert_int_equal(n.delay_ms, 5000);
}

static void test_smart_paused_and_idle(void **state)
{
    struct sw_config c = smart_config(1);
    (void)state;
    /* Paused: paused-interval-ms doubling with quiet polls, up to paused-max-ms. */
    struct pb_state s = playback(1, 0, 1000, 210000);
    struct next_poll n = decide_next_poll(&s, 0, 0, 5000, 0, -1, &c);
    assert_int_equal(n.idle, 1);
    assert_int_equal(n.delay_ms, 15000);
    n = decide_next_poll(&s, 0, 1, 5000, 0, -1, &c);
    assert_int_equal(n.idle, 2);
    assert_int_equal(n.delay_ms, 30000);
    n = decide_next_poll(&s, 0, 5, 5000, 0, -1, &c);
    assert_int_equal(n.delay_ms, 60000);
    /* A poll that announced a change (the pause itself) is not quiet. */
    n = decide_next_poll(&s, 1, 5, 5000, 0, -1, &c);
    assert_int_equal(n.idle, 0);
    assert_int_equal(n.delay_ms, 15000);
    /* Nothing playing: the interval doubling, up to idle-max-ms. */
    struct pb_state none;
    pb_nothing(&none);
    n = decide_next_poll(&none, 0, 0, 5000, 0, -1, &c);
    assert_int_equal(n.idle, 1);
    assert_int_equal(n.delay_ms, 5000);
    n = decide_next_poll(&none, 0, 2, 5000, 0, -1, &c);
    assert_int_equal(n.idle, 3);
    assert_int_equal(n.delay_ms, 20000);
    n = decide_next_poll(&none, 0, 40, 5000, 0, -1, &c);
    assert_int_equal(n.delay_ms, 180000);
    pb_state_free(&none);
}

static void test_smart_off(void **state)
{
    struct sw_config c = smart_config(0);
    (void)state;
    struct pb_state s = playback(1, 1, 200000, 210000);
    struct next_poll n = decide_next_poll(&s, 0, 0, 5000, 0, -1, &c);
    assert_int_equal(n.delay_ms, 5000);
    s = playback(1, 0, 0, 210000);
    n = decide_next_poll(&s, 0, 4, 5000, 0, -1, &c);
    assert_int_equal(n.idle, 5);   /* still counted */
    assert_int_equal(n.delay_ms, 5000);
}

/* The speed-up (the claim's speed, permille): playing users between
 * playing-max-ms and poll-interval-ms, geometrically; nothing else moves. */
static void test_speedup_playing(void **state)
{
    struct sw_config c = smart_config(1);
    (void)state;
    c.poll_interval_ms = 2000;
    /* None (-1), 0 and below: smart polling as before; 1000 and above: the fastest. */
    assert_int_equal(decide_playing_ms(-1, &c), 15000);
    assert_int_equal(decide_playing_ms(0, &c), 15000);
    assert_int_equal(decide_playing_ms(1000, &c), 2000);
    assert_int_equal(decide_playing_ms(5000, &c), 2000);
    /* Geometric: halfway is the geometric mean, sqrt(2000 x 15000) = 5477. */
    assert_int_equal(decide_playing_ms(500, &c), 5477);
    /* Each step of speed is the same factor: 250 -> 500 -> 750. */
    double r1 = (double)decide_playing_ms(250, &c) / (double)decide_playing_ms(500, &c);
    double r2 = (double)decide_playing_ms(500, &c) / (double)decide_playing_ms(750, &c);
    assert_true(r1 > 1.6 && r1 < 1.7 && r2 > 1.6 && r2 < 1.7);
    /* Monotonic, never outside [poll-interval-ms, playing-max-ms]. */
    long long prev = 15000;
    for (int s = 0; s <= 1000; s += 10) {
        long long ms = decide_playing_ms(s, &c);
        assert_true(ms <= prev && ms >= 2000 && ms <= 15000);
        prev = ms;
    }
    /* Nothing to speed up: poll-interval-ms at or above playing-max-ms. */
    c.poll_interval_ms = 20000;
    assert_int_equal(decide_playing_ms(1000, &c), 15000);
    assert_int_equal(decide_speedup_span(&c), 0);
    c.poll_interval_ms = 2000;
    /* What claim.lua is told: 1000 x ln(15000 / 2000) = 2015. */
    assert_int_equal(decide_speedup_span(&c), 2015);
    c.smart_polling = 0;
    assert_int_equal(decide_speedup_span(&c), 0);
}

static void test_speedup_next_poll(void **state)
{
    struct sw_config c = smart_config(1);
    (void)state;
    c.poll_interval_ms = 2000;
    /* Playing, far from the track's end: the sped-up interval. */
    struct pb_state s = playback(1, 1, 0, 210000);
    assert_int_equal(decide_next_poll(&s, 0, 0, 2000, 0, 1000, &c).delay_ms, 2000);
    assert_int_equal(decide_next_poll(&s, 0, 0, 2000, 0, 500, &c).delay_ms, 5477);
    assert_int_equal(decide_next_poll(&s, 0, 0, 2000, 0, 0, &c).delay_ms, 15000);
    /* The predicted end still comes first when it is sooner. */
    s = playback(1, 1, 209000, 210000);
    assert_int_equal(decide_next_poll(&s, 0, 0, 2000, 0, 1000, &c).delay_ms, 1500);
    /* A user's own interval is never sped up. */
    s = playback(1, 1, 0, 210000);
    assert_int_equal(decide_next_poll(&s, 0, 0, 9000, 1, 1000, &c).delay_ms, 9000);
    /* Paused and idle users back off as before, whatever the speed. */
    s = playback(1, 0, 1000, 210000);
    assert_int_equal(decide_next_poll(&s, 0, 1, 2000, 0, 1000, &c).delay_ms, 30000);
    struct pb_state none;
    pb_nothing(&none);
    assert_int_equal(decide_next_poll(&none, 0, 2, 2000, 0, 1000, &c).delay_ms, 8000);
    pb_state_free(&none);
    /* Smart polling off: the fixed interval, whatever the speed. */
    c.smart_polling = 0;
    s = playback(1, 1, 0, 210000);
    assert_int_equal(decide_next_poll(&s, 0, 0, 2000, 0, 1000, &c).delay_ms, 2000);
}

static void test_backfill_delays(void **state)
{
    (void)state;
    /* After a page: at once when it was full, else an interval later. */
    assert_int_equal(decide_backfill_next_ms(1, 3600000), 0);
    assert_int_equal(decide_backfill_next_ms(0, 3600000), 3600000);
    /* What complete.lua is told for a backfill job. */
    assert_int_equal(decide_backfill_delay_ms(0, 0, 3600000), 0);
    assert_int_equal(decide_backfill_delay_ms(BACKFILL_NO_SCOPE_MS, 0, 3600000), BACKFILL_NO_SCOPE_MS);
    assert_int_equal(decide_backfill_delay_ms(-1, 0, 3600000), 3600000);   /* failed: again later */
    assert_int_equal(decide_backfill_delay_ms(-1, 1, 3600000), -1);        /* released: stays due */
    assert_int_equal(decide_backfill_delay_ms(0, 1, 3600000), 0);
}

static void test_claim_pacing(void **state)
{
    (void)state;
    /* A full batch taken: claim again at once. Fewer than asked: all that
     * was due is taken; wait for the next one to fall due. */
    assert_true(decide_claim_pause_s(LIMIT_OK, 3, 3, 0, 1000) == 0);
    assert_true(decide_claim_pause_s(LIMIT_OK, 2, 3, 1040, 1000) == 0.04);
    assert_true(decide_claim_pause_s(LIMIT_OK, 2, 3, 0, 1000) == CLAIM_IDLE_S);
    assert_true(decide_claim_full(LIMIT_OK, 3, 3));
    assert_false(decide_claim_full(LIMIT_OK, 2, 3));
    assert_false(decide_claim_full(LIMIT_OK, 0, 0));
    assert_false(decide_claim_full(LIMIT_BUDGET, 3, 3));
    /* Nothing due: idle pause, or sooner when the next poll falls due. */
    assert_true(decide_claim_pause_s(LIMIT_OK, 0, 8, 0, 1000) == CLAIM_IDLE_S);
    assert_true(decide_claim_pause_s(LIMIT_OK, 0, 8, 1050, 1000) == 0.05);
    assert_true(decide_claim_pause_s(LIMIT_OK, 0, 8, 5000, 1000) == CLAIM_IDLE_S);
    assert_true(decide_claim_pause_s(LIMIT_OK, 0, 8, 900, 1000) == 0);
    /* Refused: a recheck a second later, or at the refusal's end if sooner. */
    assert_true(decide_claim_pause_s(LIMIT_BLOCKED, 0, 8, 3600000, 1000) == CLAIM_RECHECK_S);
    assert_true(decide_claim_pause_s(LIMIT_BUDGET, 0, 8, 1250, 1000) == 0.25);
    assert_true(decide_claim_pause_s(LIMIT_QUOTA, 0, 8, 0, 1000) == CLAIM_RECHECK_S);
    /* An equal share of capacity, at least 1, at most claim-batch. */
    assert_int_equal(decide_claim_batch(100, 4, 32), 25);
    assert_int_equal(decide_claim_batch(1000, 2, 32), 32);
    assert_int_equal(decide_claim_batch(3, 4, 32), 1);
    assert_int_equal(decide_claim_batch(10, 0, 32), 10);
    /* The next claim on the tick at or after the pause, even without a
     * pause; at once after a full batch, or without a tick. */
    assert_true(decide_claim_at(100.0, 0, 1, 10, 0) == 100.0);
    assert_true(fabs(decide_claim_at(100.001, 0, 0, 10, 0) - 100.01) < 1e-9);
    assert_true(fabs(decide_claim_at(100.001, 0.003, 0, 0, 0) - 100.004) < 1e-9);
    assert_true(fabs(decide_claim_at(100.001, 0.003, 0, 10, 0) - 100.01) < 1e-9);
    assert_true(fabs(decide_claim_at(100.001, 0.02, 0, 10, 0) - 100.03) < 1e-9);
    assert_true(fabs(decide_claim_at(1796223186.0042, 0.0001, 0, 10, 0) - 1796223186.01) < 1e-6);
    /* A worker's ticks are shifted by its phase (a share of a tick). */
    assert_true(fabs(decide_tick_at(100.001, 10, 0.5) - 100.005) < 1e-9);
    assert_true(fabs(decide_tick_at(100.006, 10, 0.5) - 100.015) < 1e-9);
    assert_true(fabs(decide_tick_at(100.005, 10, 0.5) - 100.005) < 1e-9);
    assert_true(fabs(decide_tick_at(100.0051, 20, 0.25) - 100.025) < 1e-9);
    assert_true(decide_tick_at(100.0051, 0, 0.25) == 100.0051);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poll_ok_and_nothing),
        cmocka_unit_test(test_poll_token_expired),
        cmocka_unit_test(test_poll_reauth),
        cmocka_unit_test(test_poll_not_registered),
        cmocka_unit_test(test_poll_not_registered_texts),
        cmocka_unit_test(test_poll_owner_premium),
        cmocka_unit_test(test_poll_rate_limited_and_quota),
        cmocka_unit_test(test_quota_buckets),
        cmocka_unit_test(test_poll_transient_forbidden_unexpected),
        cmocka_unit_test(test_poll_truncated),
        cmocka_unit_test(test_token_answers),
        cmocka_unit_test(test_backoff_bounds_and_growth),
        cmocka_unit_test(test_smart_playing),
        cmocka_unit_test(test_smart_paused_and_idle),
        cmocka_unit_test(test_smart_off),
        cmocka_unit_test(test_speedup_playing),
        cmocka_unit_test(test_speedup_next_poll),
        cmocka_unit_test(test_backfill_delays),
        cmocka_unit_test(test_claim_pacing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
