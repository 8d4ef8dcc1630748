#ifndef SW_EVENTS_H
#define SW_EVENTS_H
/* events: the events spotwatch publishes, built in one place. This module
 * owns the event schema of README.md ("Events"): every event's text is
 * written here, and an event travels as a typed value, its type beside its
 * text, so no one parses the text again to learn it.
 *
 *   playback events (src/spotify/playback.c's pb_diff decides which):
 *     {"type","user","at","is_playing","progress_ms","track","device",
 *      "previous_track_id","shuffle_state","repeat_state"}
 *     (the last two only when the poll read /me/player, which has them)
 *   status events (the worker, when it takes a user off the schedule):
 *     {"type","user","at","reason"}
 *   track_played (history backfill, one per play):
 *     {"type","user","at","played_at","track"}, then "late":true when the
 *     play is older than the newest one already announced (absent otherwise)
 *   user_broken (the only event not built here: claim.lua/complete.lua
 *     write it themselves, lua/lib/guard.lua, with cjson.encode for the
 *     strings, in this member order), when a user is set aside because its
 *     record is malformed; same shape as a status event:
 *     {"id","type":"user_broken","user","at","reason"}, reason naming the field
 *     ("refresh_until: not a whole number ...") or "key: <type> where a
 *     hash should be".
 *
 * Every event as published carries one more member, first of all:
 * "id":"<user>:<seq>", which this module does not write. lua/complete.lua
 * splices it in when it announces the event (its text must start with
 * '{"'), from the user's event_seq (the user hash, README "Events"), so a
 * retried completion of one job cannot mint a second id for one change;
 * guard.lua writes user_broken's itself. The stream entry gets an "id"
 * field with the same value.
 *
 * "at" and "played_at" are ms since the epoch; a NULL string is JSON null.
 * The text is cJSON_PrintUnformatted's, members in the order above. Pure: no
 * I/O, no clock. Depends on nothing but cJSON: playback.c and the worker
 * call it, never the other way round.
 *
 * Bounded: the "track" and "device" objects come from Spotify's answer,
 * which may hold anything up to max-body-bytes (a 300 KB track name would
 * make a 300 KB event, times events-maxlen in the stream). In the event
 * each of their strings (name, album, each artist, device name, id, uri,
 * ...) is cut to SW_EVENT_STR_MAX bytes on a UTF-8 character boundary, each
 * list (artists) to SW_EVENT_LIST_MAX entries, and an object in which
 * anything was cut gets a last member "truncated":true. An event without
 * such a long value is byte for byte what it always was. The other members
 * are bounded where they are made: ids (ID_MAX), previous_track_id
 * (PB_KEY_MAX), reason (the worker's error buffer). */
#include <cjson/cJSON.h>

/* SW_EVENT_STR_MAX: the most bytes of one string in a track or device. */
#define SW_EVENT_STR_MAX 1024
/* SW_EVENT_LIST_MAX: the most entries of one list (a track's artists). */
#define SW_EVENT_LIST_MAX 50
/* SW_EVENT_TRUNCATED: the member marking an object something was cut from. */
#define SW_EVENT_TRUNCATED "truncated"

/* The "type" of each event. */
#define SW_EVENT_PLAYBACK_STARTED "playback_started" /* something playing (or loaded) where nothing was */
#define SW_EVENT_TRACK_CHANGED "track_changed"       /* the item changed */
#define SW_EVENT_PLAYBACK_PAUSED "playback_paused"   /* same item, stopped playing */
#define SW_EVENT_PLAYBACK_RESUMED "playback_resumed" /* same item, playing again */
#define SW_EVENT_PLAYBACK_STOPPED "playback_stopped" /* nothing playing any more */
#define SW_EVENT_DEVICE_CHANGED "device_changed"     /* playback moved to another device */
#define SW_EVENT_REAUTH_REQUIRED "reauth_required"   /* status: the user must connect again */
#define SW_EVENT_NOT_REGISTERED "not_registered"     /* status: not on the app's allowlist */
#define SW_EVENT_TRACK_PLAYED "track_played"         /* history backfill: one play */
#define SW_EVENT_USER_BROKEN "user_broken"           /* status: set aside, its record malformed (lua/lib/guard.lua) */

/* sw_event: one event. json is NULL when it could not be built (out of
 * memory). Free json with sw_event_free. */
struct sw_event {
    const char *type;   /* the "type" member: a string that outlives the event
                         * (one of the SW_EVENT_* above, or the caller's literal) */
    char *json;         /* owned: the event, one JSON object */
};

/* sw_event_playback builds a playback event of type (an SW_EVENT_* of the
 * playback kind). track and device (event forms, copied) are JSON null when
 * NULL; prev_id is "previous_track_id"; shuffle (0/1) is "shuffle_state"
 * and repeat "repeat_state", each left out when unknown (-1, NULL). */
struct sw_event sw_event_playback(const char *type, const char *user, long long at_ms,
                                  int is_playing, long long progress_ms, const cJSON *track,
                                  const cJSON *device, const char *prev_id, int shuffle,
                                  const char *repeat);

/* sw_event_status builds an event with no playback fields, for a user's
 * status change (type: the status, e.g. SW_EVENT_REAUTH_REQUIRED); reason is
 * a human sentence. */
struct sw_event sw_event_status(const char *type, const char *user, long long at_ms,
                                const char *reason);

/* sw_event_track_played builds the track_played event of one play: at_ms
 * when it was backfilled, played_at_ms when the play ended (or started, for
 * an offline play); track (the event form of pb_item_track, copied) is JSON
 * null when NULL; late non-zero adds "late":true. */
struct sw_event sw_event_track_played(const char *user, long long at_ms, long long played_at_ms,
                                      const cJSON *track, int late);

/* sw_event_free frees e->json and sets it NULL (twice is fine). */
void sw_event_free(struct sw_event *e);

#endif
