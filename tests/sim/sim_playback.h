/* sim_playback.h: one user's player, driven by the simulated clock.
 *
 * Progress is computed lazily: progress_ms holds the position at anchor_ms,
 * and while playing the position at `now` is progress_ms + (now - anchor_ms).
 * sim_pb_advance() walks across track ends up to `now` (queue advance, repeat,
 * recently-played history, stop at the end of the queue). Callers advance
 * before reading or changing the state. */
#ifndef SIM_PLAYBACK_H
#define SIM_PLAYBACK_H

#include <stdint.h>

#include "sim_util.h"

struct cJSON;

/* sim_item_type: what a queue entry is. */
typedef enum {
    SIM_ITEM_TRACK,   /* a track (maybe local: id null) */
    SIM_ITEM_EPISODE, /* a podcast episode */
    SIM_ITEM_AD       /* an advertisement: item is always null */
} sim_item_type;

/* sim_item: one queue entry with its API object rendered once. */
typedef struct sim_item {
    sim_item_type type;
    int is_local;
    int64_t duration_ms;
    char *json; /* TrackObject / EpisodeObject JSON; NULL for ads */
} sim_item;

/* sim_played: one recently-played entry. */
typedef struct sim_played {
    int64_t played_at_ms; /* simulated Unix ms when the play ended */
    char *json;           /* TrackObject JSON */
    char *context_json;   /* ContextObject JSON of the play, NULL = null */
} sim_played;

#define SIM_HISTORY_MAX 200

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
    int64_t state_ms;     /* last state change: the API "timestamp" */
    int64_t paused_ms;    /* when playback was paused (valid while !is_playing) */
    int has_device;       /* 0 = no active device (204) */
    char *dev_id, *dev_name, *dev_type;
    int volume;           /* device volume_percent */
    int private_session;  /* 1 = private session (204) */
    sim_repeat repeat;
    int shuffle;
    char *context_uri;    /* NULL = context null */
    char *context_type;
    sim_played history[SIM_HISTORY_MAX]; /* ring, newest at (hist_head+hist_n-1) */
    int hist_head, hist_n;
} sim_playback;

void sim_pb_init(sim_playback *pb);
void sim_pb_free(sim_playback *pb);

/* sim_pb_set replaces the player from a PUT /sim/users/<id>/playback body.
 * Returns 0, or -1 with err (the state is then unchanged). */
int sim_pb_set(sim_playback *pb, const struct cJSON *body, int64_t now, int64_t recent_min_ms,
               char *err, size_t errlen);
/* sim_pb_clear empties the queue (nothing playing: 204). History is kept. */
void sim_pb_clear(sim_playback *pb, int64_t now, int64_t recent_min_ms);
/* sim_pb_advance moves the player to `now` (track ends, queue advance). */
void sim_pb_advance(sim_playback *pb, int64_t now, int64_t recent_min_ms);

/* Controls: all return 0, or -1 with err when there is nothing to act on. */
int sim_pb_pause(sim_playback *pb, int64_t now, int64_t recent_min_ms);
int sim_pb_resume(sim_playback *pb, int64_t now, int64_t recent_min_ms);
int sim_pb_next(sim_playback *pb, int64_t now, int64_t recent_min_ms);
int sim_pb_previous(sim_playback *pb, int64_t now, int64_t recent_min_ms);
int sim_pb_seek(sim_playback *pb, int64_t position_ms, int64_t now, int64_t recent_min_ms);
/* sim_pb_transfer sets the device from a DeviceObject-like JSON (null = none). */
int sim_pb_transfer(sim_playback *pb, const struct cJSON *device, int64_t now,
                    int64_t recent_min_ms);
void sim_pb_set_private(sim_playback *pb, int on, int64_t now, int64_t recent_min_ms);
/* sim_pb_add_history appends a played track (played_at in sim ms); context_json
 * may be NULL (context null). Both strings are copied. */
void sim_pb_add_history(sim_playback *pb, int64_t played_at_ms, const char *json,
                        const char *context_json);

/* sim_pb_render writes the body of currently-playing (full = 0) or
 * /me/player (full = 1) into out. want_episode: additional_types has
 * episode. Returns 200, or 204 (nothing written) when nothing is playing, no
 * device, private session, or paused longer than pause_to_204_ms. */
int sim_pb_render(sim_playback *pb, int64_t now, int full, int want_episode,
                  int64_t pause_to_204_ms, int64_t recent_min_ms, sim_buf *out);
/* sim_pb_render_recent writes a CursorPagingPlayHistoryObject. after/before
 * are Unix ms cursors (-1 = unset); limit 1..50. href_base is the endpoint. */
void sim_pb_render_recent(sim_playback *pb, int limit, int64_t after, int64_t before,
                          const char *href_base, sim_buf *out);
/* sim_pb_to_json returns a new cJSON describing the raw state (control view). */
struct cJSON *sim_pb_to_json(sim_playback *pb, int64_t now);

/* sim_item_from_json builds one queue entry from the control-call shape
 * {"id","name","artists","album","duration_ms","type","is_local",...}. */
int sim_item_from_json(sim_item *it, const struct cJSON *j, char *err, size_t errlen);
void sim_item_free(sim_item *it);

#endif
