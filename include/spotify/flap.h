#ifndef SW_FLAP_H
#define SW_FLAP_H
/* flap: events that do not flap. Spotify's player answers flap: a 204 for a
 * moment while music plays, the previous track for a poll or two after a
 * change, a track left "playing" at its end or reset to 0, progress_ms null,
 * an item null with currently_playing_type "unknown". Taken one by one, each
 * would be a stop and a start, or a change and a change back, for every
 * consumer. flap_settle decides, from the user's stored record and one new
 * observation, what is announced now, what waits for the next poll, and
 * what is ignored (README "Events": the rule, its cost and its latency).
 *
 * The rule. An observation that differs from the stable state (what was last
 * announced) is announced at once when it cannot be a flap:
 *  - the first observation of a user, a start (something loaded where
 *    nothing was), a resume, a stop while paused;
 *  - a new track after the stable one ended by the clock (its progress, when
 *    last seen playing, plus the time since, reaches its duration less
 *    FLAP_END_SLACK_MS), unless the new one is the track before the stable
 *    one (a stale track coming back);
 * and held otherwise, as the record's pending observation, until the next
 * poll (which the caller schedules soon: decide_confirm_poll):
 *  - a stop (204, no device) while playing; a pause;
 *  - a track change that is not such a natural end, or is a change back to
 *    the previous track; a device change;
 *  - a jump backwards within the same track (progress more than
 *    FLAP_JUMP_SLACK_MS behind where the clock says it is: an end-of-track
 *    answer reset to 0, or a stale track);
 *  - an answer that does not say what is loaded (pb_state.opaque).
 * The next poll then confirms it (it agrees with the pending observation:
 * the change is announced, as from the stable state to this poll), refutes it
 * (it agrees with the stable state: nothing is announced, the flap is gone),
 * or is classified afresh against the stable state (announced, or pending in
 * place of the old one). "Agrees" compares what pb_diff compares (present,
 * item, is_playing, device when both name one) and has no jump backwards.
 * A progress_ms that is null is filled in from the stable state (the same
 * item: where the clock says it is), so it never makes an event or a jump.
 * With confirmation off every change is announced at once, as pb_diff says.
 *
 * Pure: no I/O, no clock (now_ms is the caller's). */
#include "spotify/events.h"
#include "spotify/playback.h"

/* A track whose predicted end is this close is over: the next track after it
 * is natural, not a skip (the poll at the predicted end sees it at once). */
#define FLAP_END_SLACK_MS 2000LL
/* Progress this far behind where the clock puts it is a jump backwards
 * (clock differences between workers and the answer's age stay below). */
#define FLAP_JUMP_SLACK_MS 3000LL

/* flap_record: a user's stored playback (field "state" of the user hash):
 * the stable state, when its progress was seen, the track before it, and at
 * most one observation awaiting confirmation. Every string in it is bounded
 * by PB_KEY_MAX (pb_parse's keys), so its text stays under 1 KiB. */
struct flap_record {
    struct pb_state stable;     /* what was last announced; known=0: nothing yet */
    long long stable_at_ms;     /* when stable's progress was seen (ms since the epoch);
                                 * 0 = unknown; kept only while stable plays */
    char *prev_key;             /* owned: the item_key stable replaced in its last
                                 * track_changed (NULL = none) */
    struct pb_state pending;    /* known=1: an observation held for confirmation */
    long long pending_at_ms;    /* when it was seen */
};

/* flap_verdict: what flap_settle did with one observation. */
enum flap_verdict {
    FLAP_SAME,       /* it agrees with the stable state: nothing to announce */
    FLAP_ANNOUNCED,  /* a change announced at once */
    FLAP_HELD,       /* a change held until the next poll (the pending observation) */
    FLAP_CONFIRMED,  /* the next poll agreed with the pending change: announced now */
    FLAP_DROPPED,    /* the next poll agreed with the stable state: the pending flap is gone */
};

/* flap_verdict_name: "same", "announced", "held", "confirmed", "dropped". */
const char *flap_verdict_name(enum flap_verdict v);

/* flap_settle settles the observation cur (pb_parse's, or pb_nothing) into
 * rec at now_ms, writes the events to announce into events[] (at most
 * PB_MAX_EVENTS, built by pb_diff from the old stable state to cur, so they
 * carry cur's track and device; the caller frees them) and sets *nevents.
 * confirm 0 turns confirmation off: every change is announced at once. cur's
 * contents move into rec (as its stable state or its pending observation)
 * or are freed: cur is left zeroed either way. A cur that is not known is
 * FLAP_SAME and changes nothing. */
enum flap_verdict flap_settle(struct flap_record *rec, struct pb_state *cur, long long now_ms, int confirm,
                              const char *user, struct sw_event *events, int *nevents);

/* flap_record_encode returns the malloc'd text of rec (NULL only when out of
 * memory): pb_state_encode's text of the stable state with, before its
 * closing brace, ,"t":<stable_at_ms> (when known and stable plays),
 * ,"pk":<prev_key> (when set) and ,"q":<the pending observation as
 * pb_state_encode writes it, with its own "t"> (when pending). A record with
 * none of them is byte for byte pb_state_encode's text, so states stored by
 * earlier versions read back unchanged. */
char *flap_record_encode(const struct flap_record *rec);

/* flap_record_decode reads what flap_record_encode (or pb_state_encode)
 * wrote; NULL or "" is an empty record (stable unknown). Returns 0, or -1 on
 * garbage: then out is empty, as for a user never seen (a malformed pending
 * part alone is dropped, and the stable state kept: 0). out's previous
 * contents are not freed. */
int flap_record_decode(const char *text, struct flap_record *out);

/* flap_record_free frees what rec owns and leaves it empty. */
void flap_record_free(struct flap_record *rec);

#endif
