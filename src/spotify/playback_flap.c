/* playback_flap.c: events that do not flap: flap_settle, the rule of
 * include/spotify/flap.h (the record's text is in playback_state.c). Pure:
 * no I/O, no clock, no global state. */
#include "spotify/flap.h"

#include <stdlib.h>
#include <string.h>

static const char *nz(const char *s)
{
    return s ? s : "";
}

static int same_str(const char *a, const char *b)
{
    return strcmp(nz(a), nz(b)) == 0;
}

const char *flap_verdict_name(enum flap_verdict v)
{
    static const char *const names[] = {[FLAP_SAME] = "same", [FLAP_ANNOUNCED] = "announced",
                                        [FLAP_HELD] = "held", [FLAP_CONFIRMED] = "confirmed",
                                        [FLAP_DROPPED] = "dropped"};
    return (size_t)v < sizeof names / sizeof names[0] && names[v] ? names[v] : "same";
}

/* ------------------------------------------------------------ the clock */

/* elapsed_ms: the time from at_ms to now_ms; never negative (the workers'
 * clocks differ a little), 0 when at_ms is unknown. */
static long long elapsed_ms(long long at_ms, long long now_ms)
{
    if (at_ms <= 0 || now_ms <= at_ms)
        return 0;
    return now_ms - at_ms;
}

/* unclamped: where s (seen at at_ms) is at now_ms by the clock: its
 * progress, plus the time since while it plays. Every term is within
 * [0, PB_MS_MAX] (pb_parse, pb_state_decode) or a clock reading, so the sum
 * does not overflow. */
static long long unclamped(const struct pb_state *s, long long at_ms, long long now_ms)
{
    return s->progress_ms + (s->is_playing ? elapsed_ms(at_ms, now_ms) : 0);
}

/* expected: unclamped, but never past the track's end. */
static long long expected(const struct pb_state *s, long long at_ms, long long now_ms)
{
    long long p = unclamped(s, at_ms, now_ms);

    return s->duration_ms > 0 && p > s->duration_ms ? s->duration_ms : p;
}

/* natural_end: s played, and by the clock has reached its end. Unknown when
 * or how long: no. */
static int natural_end(const struct pb_state *s, long long at_ms, long long now_ms)
{
    return s->present && s->is_playing && s->duration_ms > 0 && at_ms > 0
           && unclamped(s, at_ms, now_ms) >= s->duration_ms - FLAP_END_SLACK_MS;
}

/* jumped_back: b plays the item a played (seen at a_at_ms), more than
 * FLAP_JUMP_SLACK_MS behind where the clock puts it. */
static int jumped_back(const struct pb_state *a, long long a_at_ms, const struct pb_state *b, long long now_ms)
{
    return a->present && b->present && a->is_playing && b->is_playing && a_at_ms > 0
           && same_str(a->item_key, b->item_key)
           && b->progress_ms + FLAP_JUMP_SLACK_MS < expected(a, a_at_ms, now_ms);
}

/* agrees: pb_diff(a, b) would announce nothing, and b is no jump backwards
 * from a. An unknown a agrees with nothing. */
static int agrees(const struct pb_state *a, long long a_at_ms, const struct pb_state *b, long long now_ms)
{
    if (!a->known || !b->known || a->present != b->present)
        return 0;
    if (a->present && (!same_str(a->item_key, b->item_key) || a->is_playing != b->is_playing))
        return 0;
    /* An absent device is no change (pb_diff's rule). */
    if (a->device_id != NULL && b->device_id != NULL && strcmp(a->device_id, b->device_id) != 0)
        return 0;
    return !jumped_back(a, a_at_ms, b, now_ms);
}

/* ------------------------------------------------------------- the rule */

/* needs_confirmation: whether the change from the record's stable state to
 * cur must wait for the next poll (the list in include/spotify/flap.h). */
static int needs_confirmation(const struct flap_record *r, const struct pb_state *cur, long long now_ms)
{
    const struct pb_state *s = &r->stable;

    if (cur->opaque)
        return 1;
    if (!s->known || !s->present)
        return 0;   /* a first observation, or a start */
    if (!cur->present)
        return s->is_playing;   /* a stop while playing; while paused it is expected */
    if (s->device_id != NULL && cur->device_id != NULL && strcmp(s->device_id, cur->device_id) != 0)
        return 1;
    if (!same_str(s->item_key, cur->item_key))
        return !natural_end(s, r->stable_at_ms, now_ms)
               || (r->prev_key != NULL && same_str(r->prev_key, cur->item_key));
    if (s->is_playing && !cur->is_playing)
        return 1;   /* a pause */
    return jumped_back(s, r->stable_at_ms, cur, now_ms);
}

/* fill_progress: a progress_ms that was null (it reads 0) is taken from the
 * record: where the clock puts the same item, stable or pending, else 0. */
static void fill_progress(const struct flap_record *r, struct pb_state *cur, long long now_ms)
{
    const struct pb_state *from = NULL;
    long long at_ms = 0;

    if (!cur->present || !cur->progress_null)
        return;
    if (r->stable.present && same_str(r->stable.item_key, cur->item_key)) {
        from = &r->stable;
        at_ms = r->stable_at_ms;
    } else if (r->pending.present && same_str(r->pending.item_key, cur->item_key)) {
        from = &r->pending;
        at_ms = r->pending_at_ms;
    }
    if (from == NULL)
        return;
    cur->progress_ms = expected(from, at_ms, now_ms);
    if (cur->duration_ms > 0 && cur->progress_ms > cur->duration_ms)
        cur->progress_ms = cur->duration_ms;
}

/* take_stable moves cur into the record as its stable state, seen at now_ms;
 * the pending observation, if any, is gone. */
static void take_stable(struct flap_record *r, struct pb_state *cur, long long now_ms)
{
    pb_state_free(&r->stable);
    r->stable = *cur;
    memset(cur, 0, sizeof *cur);
    r->stable_at_ms = r->stable.present && r->stable.is_playing ? now_ms : 0;
    pb_state_free(&r->pending);
    r->pending_at_ms = 0;
}

/* announce: the change from the stable state to cur, announced now; cur
 * becomes the stable state. A track change remembers the track it left. */
static void announce(struct flap_record *r, struct pb_state *cur, long long now_ms, const char *user,
                     struct sw_event *events, int *nevents)
{
    *nevents = pb_diff(&r->stable, cur, user, now_ms, events);
    if (r->stable.present && cur->present && !same_str(r->stable.item_key, cur->item_key)) {
        free(r->prev_key);
        r->prev_key = r->stable.item_key;   /* moved: take_stable frees the rest */
        r->stable.item_key = NULL;
    }
    take_stable(r, cur, now_ms);
}

/* hold makes cur the pending observation, seen at now_ms. */
static void hold(struct flap_record *r, struct pb_state *cur, long long now_ms)
{
    pb_state_free(&r->pending);
    r->pending = *cur;
    memset(cur, 0, sizeof *cur);
    r->pending_at_ms = now_ms;
}

enum flap_verdict flap_settle(struct flap_record *r, struct pb_state *cur, long long now_ms, int confirm,
                              const char *user, struct sw_event *events, int *nevents)
{
    int had_pending = r->pending.known;

    *nevents = 0;
    if (!cur->known) {
        pb_state_free(cur);
        return FLAP_SAME;
    }
    fill_progress(r, cur, now_ms);
    if (agrees(&r->stable, r->stable_at_ms, cur, now_ms)) {
        take_stable(r, cur, now_ms);   /* fresher progress and device */
        return had_pending ? FLAP_DROPPED : FLAP_SAME;
    }
    if (!confirm) {
        announce(r, cur, now_ms, user, events, nevents);
        return *nevents > 0 ? FLAP_ANNOUNCED : FLAP_SAME;
    }
    if (had_pending && agrees(&r->pending, r->pending_at_ms, cur, now_ms)) {
        announce(r, cur, now_ms, user, events, nevents);
        return FLAP_CONFIRMED;
    }
    if (needs_confirmation(r, cur, now_ms)) {
        hold(r, cur, now_ms);
        return FLAP_HELD;
    }
    announce(r, cur, now_ms, user, events, nevents);
    return *nevents > 0 ? FLAP_ANNOUNCED : FLAP_SAME;   /* e.g. a first observation of nothing */
}
