/* job.c: a job's life, from its first call to its outcome (see
 * worker_int.h). A poll reads top to bottom:
 *
 *   job_poll -> job_gate (lua/grant.lua for any call the claim did not
 *   grant) -> poll_send -> the transport (w->send_poll: job_http_send, or
 *   fake_transport.c) -> job_poll_answer -> decide_poll_answer -> read the
 *   playback (or a backfill's plays) -> complete_job
 *
 * A 401 "expired", or no usable token, takes the refresh detour
 * (refresh.c), which comes back to job_poll (the step the poll hands it).
 *
 * Layer: below claim.c and fake_transport.c; calls refresh.c, gate.c,
 * complete.c, outcome.c and jobs.c, never back up (worker_int.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "worker_int.h"
#include "base/log.h"
#include "redis/scripts.h"
#include "spotify/events.h"
#include "spotify/flap.h"
#include "spotify/token.h"
#include "spotify/webapi.h"

static void poll_send(struct job *j);
static void on_http_answer(const struct httpc_response *r, void *ud);
static void read_playback(struct job *j, const struct httpc_response *r, struct outcome *o, int nothing);
static int read_plays(struct job *j, const struct httpc_response *r, struct outcome *o, int nothing);
static int plays_to_events(struct job *j, long long now, struct outcome *o);

/* ---------------------------------------------------------------- poll --- */

void job_poll(struct job *j)
{
    if (j->access_token == NULL || j->access_token[0] == '\0') {
        refresh_lock(j, job_poll);   /* no token: refresh under the lock, then poll */
        return;
    }
    if (job_gate(j, poll_send))
        return;
    poll_send(j);
}

/* poll_url: the poll's URL (/me/player, or currently-playing as
 * poll-endpoint says) into url (size n; cut short if need be, as snprintf
 * would). Put together by hand: it is built once per poll. */
static void poll_url(char *url, size_t n, const struct sw_config *c)
{
    static const char player[] = "/me/player", current[] = "/currently-playing",
                      query[] = "?additional_types=track,episode";
    const char *parts[] = {c->api_base, player, c->poll_endpoint == POLL_CURRENTLY_PLAYING ? current : "", query};
    size_t o = 0;

    for (size_t i = 0; i < sizeof parts / sizeof parts[0] && o + 1 < n; i++) {
        size_t l = strnlen(parts[i], n - 1 - o);
        memcpy(url + o, parts[i], l);
        o += l;
    }
    url[o] = '\0';
}

/* poll_send: the poll (/me/player, or currently-playing as poll-endpoint
 * says) or the backfill (recently-played) request, through the worker's
 * transport. */
static void poll_send(struct job *j)
{
    struct worker *w = j->w;
    char url[CFG_STR + 64];
    struct outcome o;

    if (j->backfill && (j->scan == NULL || j->scan->before_ms == 0))
        snprintf(url, sizeof url, "%s/me/player/recently-played?limit=%d", w->cfg->api_base, HISTORY_LIMIT);
    else if (j->backfill)
        snprintf(url, sizeof url, "%s/me/player/recently-played?before=%lld&limit=%d", w->cfg->api_base,
                 j->scan->before_ms, HISTORY_LIMIT);
    else
        poll_url(url, sizeof url, w->cfg);
    /* The header on the stack when it fits (a poll's token does), wiped
     * after: the transport copies it. */
    static const char bearer[] = "Authorization: Bearer ";
    char stack[512];
    size_t tlen = strlen(j->access_token), alen = sizeof bearer + tlen;
    char *auth = alen <= sizeof stack ? stack : malloc(alen);
    if (auth != NULL) {
        memcpy(auth, bearer, sizeof bearer - 1);
        memcpy(auth + sizeof bearer - 1, j->access_token, tlen + 1);
        const char *headers[] = {auth, NULL};
        j->calls++;   /* first: the transport may answer, and so finish the job, before it returns */
        int rc = w->send_poll(j, url, headers);
        OPENSSL_cleanse(auth, alen);
        if (auth != stack)
            free(auth);
        if (rc == 0)
            return;
        j->calls--;
    }
    outcome_init(&o, j, "error");
    outcome_backoff(&o, j, "could not start request");
    complete_job(j, &o);
}

/* ---------------------------------------------------------- transport --- */

int job_http_send(struct job *j, const char *url, const char *const *headers)
{
    return httpc_request(j->w->http, "GET", url, headers, NULL, on_http_answer, j);
}

static void on_http_answer(const struct httpc_response *r, void *ud)
{
    struct job *j = ud;
    if (r->curl_code == 0)
        hist_add(&j->w->lat, (int64_t)(r->total_s * 1e6));   /* poll latency: the HTTP request's time */
    job_poll_answer(j, r);
}

/* -------------------------------------------------------------- answer --- */

void job_poll_answer(struct job *j, const struct httpc_response *r)
{
    struct poll_facts f = {0};
    struct verdict v;
    struct outcome o;
    char msg[160] = "";

    j->poll_s = r->total_s;
    f.truncated = r->truncated;
    f.status = r->status;
    f.transport_error = r->curl_code != 0 ? r->error : NULL;
    f.cls = API_TRANSIENT;
    if (!r->truncated && r->curl_code == 0)
        f.cls = api_classify(r->status, r->body, r->len, msg, sizeof msg);
    f.message = msg;
    f.backfill = j->backfill;
    f.refreshed = j->refresh == REFRESH_DONE;
    f.premium_probe_ms = j->w->cfg->owner_premium_probe_ms;
    decide_poll_answer(&f, &v);
    if (r->status == 401)   /* the token is refused: never serve it from the cache again */
        token_cache_drop(j->w->tokens, j->app->id, j->user);

    if (v.action == DECIDE_REFRESH) {
        refresh_lock(j, job_poll);
        return;
    }
    outcome_init(&o, j, v.outcome);
    o.http_status = r->status;
    if (v.action == DECIDE_READ && j->backfill) {
        if (read_plays(j, r, &o, v.nothing))
            return;   /* the next page is on its way */
    } else if (v.action == DECIDE_READ)
        read_playback(j, r, &o, v.nothing);
    else
        outcome_apply(&o, j, &v, r->retry_after);
    complete_job(j, &o);
}

/* read_playback: a poll's answer (204: nothing playing) against the stored
 * record: flap_settle (include/spotify/flap.h) says which changes are
 * announced now and which wait for the next poll, the record is stored, and
 * smart polling sets the next poll, sooner when a change awaits confirmation. */
static void read_playback(struct job *j, const struct httpc_response *r, struct outcome *o, int nothing)
{
    const struct sw_config *c = j->w->cfg;
    struct flap_record rec;
    struct pb_state cur;
    char err[160];

    if (nothing) {
        pb_nothing(&cur);
    } else if (pb_parse(r->body, r->len, &cur, err, sizeof err) != 0) {
        pb_state_free(&cur);
        outcome_backoff(o, j, "bad currently-playing response: %s", err);
        o->name = "error";
        return;
    }
    flap_record_decode(j->state_text, &rec);   /* garbage reads as a user never seen */
    enum flap_verdict fv = flap_settle(&rec, &cur, worker_now_ms(), c->flap_confirm_ms > 0, j->user,
                                       o->events, &o->nevents);
    o->flap = fv == FLAP_SAME || fv == FLAP_ANNOUNCED ? "" : flap_verdict_name(fv);
    o->state = flap_record_encode(&rec);
    if (o->state && j->state_text && strcmp(o->state, j->state_text) == 0) {
        free(o->state);       /* unchanged: spare Redis the write */
        o->state = NULL;
    }
    struct next_poll next = decide_next_poll(&rec.stable, o->nevents, j->idle, j->interval_ms, j->interval_set,
                                             j->speed, c);
    next = decide_confirm_poll(next, rec.pending.known, c->flap_confirm_ms);
    o->idle = next.idle;
    o->delay_ms = next.delay_ms;
    o->name = nothing ? "nothing" : "ok";
    flap_record_free(&rec);
}

/* read_plays: one page of a "backfill" job's answer (204: no history).
 * The job reads the newest page, then pages back (each call through the
 * gate) while history_scan_page says so; then every new play becomes a
 * track_played event, oldest first, with its key, and complete.lua
 * announces them and adds them to the user's memory in one step, so each
 * play is announced exactly once. Returns 1 when the next page is asked
 * for (the job goes on), 0 when o is filled. */
static int read_plays(struct job *j, const struct httpc_response *r, struct outcome *o, int nothing)
{
    const struct sw_config *c = j->w->cfg;
    struct history_page p;
    char err[160];
    long long now = worker_now_ms();

    if (j->scan == NULL) {
        int bad;

        /* Deep now and then, at random: a late play below the newest page
         * is found within a few backfills, and the users' deep scans spread
         * out. */
        int deep = worker_rand01(j->w) * HISTORY_DEEP_EVERY < 1.0;

        j->scan = history_scan_new(j->backfill_seen, j->backfill_cursor, now, c->history_window_ms, deep, &bad);
        if (j->scan == NULL) {
            outcome_backoff(o, j, "backfill: out of memory");
            o->name = "error";
            return 0;
        }
        if (bad)   /* read as none: complete.lua rewrites it */
            log_info("user %s: backfill_seen malformed; plays before the cursor are not announced", j->user);
    }
    if (nothing) {
        memset(&p, 0, sizeof p);
        p.oldest_ms = LLONG_MAX;
    } else if (history_parse(r->body, r->len, j->scan->floor_ms, &p, err, sizeof err) != 0) {
        outcome_backoff(o, j, "bad recently-played response: %s", err);
        o->name = "error";
        return 0;
    }
    if (history_scan_page(j->scan, &p)) {
        if (!job_gate(j, poll_send))
            poll_send(j);
        return 1;
    }
    if (plays_to_events(j, now, o) != 0) {
        /* All or none: the plays left out are found by the next backfill. */
        outcome_free(o);
        o->nevents = 0;
        outcome_backoff(o, j, "backfill: out of memory");
        o->name = "error";
        return 0;
    }
    /* Plays left (a full scan): fetch them at the next poll. */
    o->backfill_delay_ms = decide_backfill_next_ms(j->scan->more, c->backfill_interval_ms);
    /* The poll this backfill took the place of comes after the user's base
     * interval, as after a poll that learnt nothing (pb_next_delay_ms of an
     * unknown state); idle and the stored state are left as they were. */
    o->delay_ms = j->interval_ms;
    o->name = "ok";
    return 0;
}

/* plays_to_events: the scan's new plays as track_played events (late when
 * older than the newest announced before), their keys comma-separated in
 * o->backfill_plays, and the new cursor. -1 when out of memory. */
static int plays_to_events(struct job *j, long long now, struct outcome *o)
{
    const struct history_scan *s = j->scan;
    size_t len = 0;

    o->backfill_plays = malloc((size_t)s->n * HISTORY_KEY_MAX + 1);
    if (o->backfill_plays == NULL)
        return -1;
    o->backfill_plays[0] = '\0';
    o->backfill_cursor = j->backfill_cursor;
    for (int i = 0; i < s->n; i++) {
        const struct history_scan_play *p = &s->plays[i];

        o->events[o->nevents] = sw_event_track_played(j->user, now, p->played_at_ms, p->track,
                                                      history_scan_late(s, i));
        if (o->events[o->nevents].json == NULL)
            return -1;
        o->nevents++;
        if (i > 0)
            o->backfill_plays[len++] = ',';
        history_play_key(p->played_at_ms, p->tag, o->backfill_plays + len, HISTORY_KEY_MAX);
        len += strlen(o->backfill_plays + len);
        if (p->played_at_ms > o->backfill_cursor)
            o->backfill_cursor = p->played_at_ms;
    }
    return 0;
}
