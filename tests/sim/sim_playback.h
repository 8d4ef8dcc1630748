/* sim_playback.h: one user's player, driven by the simulated clock.
 *
 * Progress is computed lazily: progress_ms holds the position at anchor_ms,
 * and while playing the position at `now` is progress_ms + (now - anchor_ms).
 * sim_pb_advance() walks across track ends up to `now` (queue advance, repeat,
 * recently-played history, stop at the end of the queue). Callers advance
 * before reading or changing the state. Devices live in sim_device.h, the
 * recently-played list in sim_history.h. */
#ifndef SIM_PLAYBACK_H
#define SIM_PLAYBACK_H

#include <stdint.h>

#include "sim_device.h"
#include "sim_history.h"
#include "sim_util.h"

struct cJSON;

/* sim_item_type: what a queue entry is. */
typedef enum {
    SIM_ITEM_TRACK,   /* a track (maybe local: id null) */
    SIM_ITEM_EPISODE, /* a podcast episode */
    SIM_ITEM_AD       /* an advertisement: item is always null */
} sim_item_type;

/* sim_item: one queue entry with its API object rendered once, in both
 * shapes (see api_shapes). */
typedef struct sim_item {
    sim_item_type type;
    int is_local;
    int64_t duration_ms;
    char *json;     /* TrackObject / EpisodeObject JSON; NULL for ads */
    char *json_dev; /* the development-mode (2026) shape; NULL = same as json */
} sim_item;

/* sim_repeat: repeat_state. */
typedef enum { SIM_REPEAT_OFF, SIM_REPEAT_TRACK, SIM_REPEAT_CONTEXT } sim_repeat;

/* sim_playback: the whole player of one user. Times are simulated Unix ms. */
typedef struct sim_playback {
    sim_item *queue;
    int n;                /* queue length; 0 = nothing playing (204) */
    int index;            /* current entry */
    int is_playing;
    int64_t progress_ms;  /* position at anchor_ms */
    int64_t anchor_ms;    /* when progress_ms was measured */
    int64_t played_ms;    /* play time of the current entry up to anchor_ms */
    int64_t started_ms;   /* when the current entry began playing (offline played_at) */
    int64_t state_ms;     /* last state change: the API "timestamp" */
    int64_t paused_ms;    /* when playback was paused (valid while !is_playing) */
    sim_devices devs;     /* known devices; none active = 204 */
    int private_session;  /* 1 = private session (204) */
    sim_repeat repeat;
    int shuffle;
    char *context_uri;    /* NULL = context null */
    char *context_type;
    sim_history hist;     /* recently-played */
} sim_playback;

/* sim_pb_view: how one player answer is rendered. The flap fields (item,
 * state_ms, progress_ms, is_playing, progress_null, unknown_type) let
 * sim_flap.c make the answer disagree with the state; sim_pb_view_init sets
 * them to "as the state says". */
typedef struct sim_pb_view {
    int full;             /* /me/player: device, repeat_state, shuffle_state */
    int want_episode;     /* additional_types lists episode */
    int dev_shape;        /* development-mode object shapes */
    const sim_item *item; /* NULL = the current entry */
    int64_t state_ms;     /* -1 = the state's timestamp */
    int64_t progress_ms;  /* -1 = the state's progress */
    int is_playing;       /* -1 = the state's */
    int progress_null;    /* "progress_ms": null */
    int unknown_type;     /* currently_playing_type "unknown", item null */
} sim_pb_view;

void sim_pb_view_init(sim_pb_view *v, int full, int want_episode, int dev_shape);

void sim_pb_init(sim_playback *pb);
void sim_pb_free(sim_playback *pb);

/* sim_pb_set replaces the player from a PUT /sim/users/<id>/playback body.
 * Returns 0, or -1 with err (the state is then unchanged). */
int sim_pb_set(sim_playback *pb, const struct cJSON *body, int64_t now, char *err,
               size_t errlen);
/* sim_pb_clear empties the queue (nothing playing: 204). History is kept. */
void sim_pb_clear(sim_playback *pb, int64_t now);
/* sim_pb_advance moves the player to `now` (track ends, queue advance,
 * recently-played). */
void sim_pb_advance(sim_playback *pb, int64_t now);

/* Controls: all return 0, or -1 when there is nothing to act on. */
int sim_pb_pause(sim_playback *pb, int64_t now);
int sim_pb_resume(sim_playback *pb, int64_t now);
int sim_pb_next(sim_playback *pb, int64_t now);
int sim_pb_previous(sim_playback *pb, int64_t now);
int sim_pb_seek(sim_playback *pb, int64_t position_ms, int64_t now);
/* sim_pb_transfer makes a device active from a DeviceObject-like JSON
 * (null = none); -1 if device is neither. */
int sim_pb_transfer(sim_playback *pb, const struct cJSON *device, int64_t now);
/* sim_pb_transfer_id makes the known device id active; -1 if unknown. */
int sim_pb_transfer_id(sim_playback *pb, const char *id, int64_t now);
void sim_pb_set_private(sim_playback *pb, int on, int64_t now);
void sim_pb_set_shuffle(sim_playback *pb, int on, int64_t now);
void sim_pb_set_repeat(sim_playback *pb, sim_repeat r, int64_t now);
/* sim_repeat_parse reads "off"/"track"/"context"; -1 if none of them. */
int sim_repeat_parse(const char *s);

/* sim_pb_current returns the current entry, or NULL when nothing is queued. */
const sim_item *sim_pb_current(const sim_playback *pb);
/* sim_pb_progress returns the position at now (clamped to the duration). */
int64_t sim_pb_progress(const sim_playback *pb, int64_t now);
/* sim_pb_answers reports whether the player endpoints answer 200 at now
 * (else 204: nothing queued, no active device, a private session, or paused
 * for >= pause_to_204_ms). Advances first. */
int sim_pb_answers(sim_playback *pb, int64_t now, int64_t pause_to_204_ms);
/* sim_pb_render writes the body of currently-playing or /me/player as the
 * view says. Call only when sim_pb_answers said 200. */
void sim_pb_render(sim_playback *pb, int64_t now, const sim_pb_view *v, sim_buf *out);
/* sim_pb_render_devices writes GET /me/player/devices. */
void sim_pb_render_devices(const sim_playback *pb, sim_buf *out);
/* sim_pb_to_json returns a new cJSON describing the raw state (control view). */
struct cJSON *sim_pb_to_json(sim_playback *pb, int64_t now);

/* sim_item_from_json builds one queue entry from the control-call shape
 * {"id","name","artists","album","duration_ms","type","is_local",
 * "linked_from"?,...}. */
int sim_item_from_json(sim_item *it, const struct cJSON *j, char *err, size_t errlen);
void sim_item_free(sim_item *it);

#endif
