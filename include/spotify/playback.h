#ifndef SW_PLAYBACK_H
#define SW_PLAYBACK_H
/* playback: what a currently-playing answer means, and what changed.
 *
 * pb_parse turns a 200 body into a normalised pb_state; a 204 is pb_nothing.
 * It reads the body with json_scan (no tree is built: only the members used are
 * looked up and unescaped).
 * pb_state_encode/decode store the comparison part of a state compactly in
 * the user hash (field "state"); pb_diff turns (previous, current) into the
 * events to publish (built by include/spotify/events.h). All of it is pure:
 * no I/O, no clock. */
#include <stddef.h>

/* PB_MS_MAX: every millisecond value is clamped to [0, PB_MS_MAX]: 1e15 ms is
 * ~31,000 years, exact in a double (so cJSON round-trips it) and far from
 * overflow when margins are added. */
#define PB_MS_MAX 1000000000000000LL
#include <cjson/cJSON.h>

#include "spotify/events.h"
#include "spotify/json_scan.h"

#define PB_MAX_EVENTS 4

struct pb_forms;

/* PB_KEY_MAX: the longest item_key/device_id pb_parse produces, in bytes as
 * they would appear JSON-escaped. Longer values (long local-track uris,
 * garbage) are cut at a UTF-8 boundary and suffixed "#<16 hex>" (FNV-1a 64 of
 * the whole value), so the stored state stays well under 1 KiB per user and
 * distinct long values still compare different. */
#define PB_KEY_MAX 160

/* pb_state: one observation of a user's playback. */
struct pb_state {
    int known;            /* 0: never observed (first poll of a user) */
    int present;          /* 1: an item is loaded (playing or paused); 0: nothing playing */
    int is_playing;
    long long progress_ms;   /* clamped to [0, duration_ms] (>= 0 if duration unknown) */
    long long duration_ms;   /* 0 if unknown */
    char kind[16];        /* "track", "episode", "ad", "unknown" ("" when !present) */
    char *item_key;       /* identity for comparison: the id, else the uri (local
                           * tracks), else "<kind>" (ads, hidden episodes); owned */
    char *device_id;      /* owned, NULL when no device */
    cJSON *track;         /* owned, event form: {"id","uri","name","artists":[..],
                           * "album","duration_ms","type","is_local"}; NULL until
                           * pb_state_forms builds it from forms (pb_parse
                           * leaves it NULL: most polls announce nothing) */
    cJSON *device;        /* owned, {"id","name","type"}; NULL likewise, or no device */
    struct pb_forms *forms; /* owned (one allocation): what pb_parse read for the
                           * forms above (include/spotify/playback_forms.h); NULL
                           * when not decoded from a response, or nothing loaded
                           * and no device */
    int shuffle;          /* PB_SHUFFLE_*: /me/player's shuffle_state (unknown from
                           * currently-playing); events only, not stored */
    char repeat[8];       /* /me/player's repeat_state: "off", "track", "context";
                           * "" unknown; events only, not stored */
    int progress_null;    /* pb_parse: progress_ms was absent or null (progress_ms
                           * then reads 0); not stored (include/spotify/flap.h
                           * fills it in from the stored state) */
    int opaque;           /* pb_parse: item null with currently_playing_type
                           * "unknown", null or absent: the answer does not say
                           * what is loaded (flap.h makes no event of it); not stored */
};

/* pb_state.shuffle: zero is unknown, so a zeroed state knows nothing. */
enum { PB_SHUFFLE_UNKNOWN = 0, PB_SHUFFLE_OFF, PB_SHUFFLE_ON };

/* pb_parse parses a currently-playing JSON body. Wrong types are an error,
 * not a guess: returns 0, or -1 with err ("item.duration_ms: not a number").
 * out is always initialised (free it with pb_state_free); its previous
 * contents are not freed. out->track and out->device are left NULL, their
 * fields kept in out->forms (pb_state_forms, pb_diff build them). Details of
 * the normalisation:
 *  - only the fields used are type-checked; unknown fields are ignored; a
 *    field that is absent or JSON null counts as absent;
 *  - an empty or all-whitespace body is "nothing playing" (like a 204);
 *  - progress_ms < 0 becomes 0; past a known duration_ms it becomes
 *    duration_ms (with duration unknown it is kept as is);
 *  - item null with currently_playing_type "track" is an error (Spotify
 *    nulls only the item of a type the client did not ask for);
 *  - item null with currently_playing_type "ad"/"episode" (an ad, an
 *    episode asked for without additional_types) is present, item_key = kind,
 *    and track is a placeholder {"id":null,"uri":null,"name":null,
 *    "artists":[],"album":null,"duration_ms":0,"type":<kind>,"is_local":false};
 *  - item null with currently_playing_type null/absent/"unknown": present
 *    (kind "unknown") if is_playing, else nothing playing: with nothing
 *    identifiable and nothing playing there is nothing to report;
 *  - episodes: artists = [show name], album = show name, is_local false;
 *  - device absent/null: device_id and device NULL; device.id null: device_id
 *    NULL but device kept (so no device_changed can be derived from it);
 *  - shuffle_state / repeat_state (/me/player's): unknown when absent, of
 *    another type, or (repeat) not "off", "track" or "context"; they never
 *    fail a parse and never make an event by themselves;
 *  - progress_null and opaque record what the two previous points left
 *    unsaid (see struct pb_state); the rest of the result is as without them. */
int pb_parse(const char *body, size_t len, struct pb_state *out, char *err, size_t errlen);

/* pb_parse_body checks that body is exactly one JSON object (whitespace
 * around it allowed; see include/spotify/json_scan.h for the syntax accepted). Returns 0
 * with *root viewing it inside body, 1 when the body is NULL, empty or blank,
 * or -1 with err ("body: invalid JSON near byte 12: bad escape", "body:
 * trailing data after JSON at byte 40", "body: not a JSON object"). */
int pb_parse_body(const char *body, size_t len, struct js_val *root, char *err, size_t errlen);

/* pb_nothing sets out to "nothing playing" (a 204): known=1, present=0.
 * out's previous contents are not freed. */
void pb_nothing(struct pb_state *out);

/* pb_state_encode returns the malloc'd compact JSON stored in the user hash
 * (NULL only when out of memory): {"v":1,"p":1,"pl":1,"k":<item_key>,
 * "kd":<kind>,"d":<device_id>,"pr":<progress ms>,"du":<duration ms>};
 * "d" only when device_id is set; nothing playing is {"v":1,"p":0} (plus "d");
 * known=0 is {"v":1}. track and device are not stored. Strings are escaped
 * as cJSON escapes them and the numbers are plain integers: the text is
 * byte for byte what the cJSON-printed encoder of earlier versions wrote,
 * except that it wrote 1e15 (PB_MS_MAX, a clamped absurd value) as "1e+15". */
char *pb_state_encode(const struct pb_state *s);

/* pb_state_decode reads what pb_state_encode wrote; NULL or "" gives
 * known=0. Returns 0, or -1 on garbage (out is then known=0). The result has
 * track == NULL and device == NULL. out's previous contents are not freed. */
int pb_state_decode(const char *text, struct pb_state *out);

/* pb_state_forms builds s->track and s->device from s->forms where they are
 * NULL (as pb_parse described them). Returns 0, or -1 out of memory (what was
 * built stays, freed by pb_state_free). */
int pb_state_forms(struct pb_state *s);

/* pb_state_free frees what s owns and leaves s zeroed (known=0); s itself is
 * the caller's. Safe on a zeroed state and twice in a row. */
void pb_state_free(struct pb_state *s);

/* pb_diff writes up to PB_MAX_EVENTS events (built by
 * include/spotify/events.h, which owns their format) into events[] for the
 * change prev -> cur of user, and returns how many. Types: playback_started,
 * track_changed, playback_paused, playback_resumed, playback_stopped,
 * device_changed. at_ms is the time of the observation. No change, or a
 * first observation of nothing, gives 0.
 * Each event has track/device copied from cur (null when absent; track is
 * null in playback_stopped): cur->track and cur->device when set, else
 * built from cur->forms for the events only (so a poll without an event
 * builds no cJSON). previous_track_id is prev->item_key in
 * track_changed and playback_stopped, else null.
 * At most one of started/stopped/track_changed/paused/resumed, then
 * device_changed when prev and cur both have a device_id and they differ.
 * prev may come from pb_state_decode (track NULL). prev NULL counts as
 * unknown; cur NULL or unknown gives 0. The caller frees each event
 * (sw_event_free); an event that cannot be allocated is left out. */
int pb_diff(const struct pb_state *prev, const struct pb_state *cur, const char *user,
            long long at_ms, struct sw_event *events);

/* pb_next_delay_ms: smart polling. The delay until the next poll given the
 * state just seen: playing -> min(base, time to the end of the track + margin);
 * paused -> paused_ms growing to paused_max_ms with idle_polls; nothing
 * playing -> base doubling with idle_polls up to idle_max_ms.
 * Exactly: playing -> min(base_ms, duration - progress + 500), at least 250
 * (base_ms when the duration is unknown); paused -> paused_ms * 2^idle_polls
 * capped at paused_max_ms; nothing -> base_ms * 2^idle_polls capped at
 * idle_max_ms; unknown (or cur NULL) -> base_ms. Never overflows; a
 * non-positive start counts as 1 ms and idle_polls < 0 as 0. */
long long pb_next_delay_ms(const struct pb_state *cur, long long base_ms, long long paused_ms,
                           long long paused_max_ms, long long idle_max_ms, int idle_polls);

/* pb_item_track returns the event form of one TrackObject or EpisodeObject
 * (what pb_state.track holds: {"id","uri","name","artists":[..],"album",
 * "duration_ms","type","is_local"}), normalised exactly as pb_parse does an
 * item; the caller frees it with cJSON_Delete. item is a value inside a text
 * pb_parse_body (or js_parse) accepted. NULL with err on a wrong type
 * ("item.duration_ms: not a number", "item: not an object") or when out of
 * memory. For history answers (src/spotify/recently_played.c), whose items are the same
 * objects. */
cJSON *pb_item_track(const struct js_val *item, char *err, size_t errlen);

#endif
