/* sim_flap.h: flapping player answers, armed per user on demand
 * (POST /sim/users/<id>/flap). Real answers flap: a 204 for a moment while
 * music plays, the old track for a few polls after a change, the ended track
 * reported as still playing or back at 0, progress_ms null,
 * currently_playing_type "unknown". Each armed flap changes the next `count`
 * player answers (currently-playing and /me/player) that qualify, then
 * disarms; the player state itself is never touched.
 *
 *   kind            qualifies                       answer
 *   transient_204   a 200 with is_playing true      204, empty body
 *   stale_track     a 200 after the track changed   the previous track, its timestamp,
 *                                                   progress continuing (clamped)
 *   end_playing     a 200 after the track changed   the previous track at its end:
 *                                                   progress = duration, is_playing true
 *   end_reset       a 200 after the track changed   the previous track, progress 0,
 *                                                   is_playing true
 *   end_paused      a 200 after the track changed   the previous track at its end,
 *                                                   is_playing false
 *   null_progress   any 200                         "progress_ms": null
 *   unknown_type    any 200                         currently_playing_type "unknown", item null
 *
 * "The previous track" is the track playing when the flap was armed (or, if
 * none was, the first track answered afterwards); "changed" = the current
 * entry is another track than that one. Guarded by sim_lock. */
#ifndef SIM_FLAP_H
#define SIM_FLAP_H

#include <stdint.h>

#include "sim_playback.h"

struct cJSON;

/* sim_flap_kind: see the table above. */
typedef enum {
    SIM_FLAP_204,
    SIM_FLAP_STALE,
    SIM_FLAP_END_PLAYING,
    SIM_FLAP_END_RESET,
    SIM_FLAP_END_PAUSED,
    SIM_FLAP_NULL_PROGRESS,
    SIM_FLAP_UNKNOWN_TYPE
} sim_flap_kind;

/* sim_flap: one armed flap. */
typedef struct sim_flap {
    sim_flap_kind kind;
    long left;            /* answers still to change */
    int has_from;         /* the previous track is known */
    sim_item from;        /* ... a copy of it (owned) */
    int64_t from_state_ms; /* its answer's timestamp */
} sim_flap;

#define SIM_FLAPS_MAX 16

/* sim_flaps: the armed flaps of one user, in arming order. */
typedef struct sim_flaps {
    sim_flap f[SIM_FLAPS_MAX];
    int n;
    long applied;         /* answers changed so far */
} sim_flaps;

void sim_flaps_free(sim_flaps *fl);
/* sim_flaps_arm arms one from {"kind","count"?} with the player as it is at
 * now (advanced). Returns 0, or -1 with err. */
int sim_flaps_arm(sim_flaps *fl, sim_playback *pb, const struct cJSON *body, int64_t now,
                  char *err, size_t errlen);
/* sim_flaps_apply decides how the flaps change a player answer that would be
 * a 200: returns 204 for a transient 204, else 200 with *view adjusted (the
 * view's item points into fl: valid until the next call). Spends counts. */
int sim_flaps_apply(sim_flaps *fl, sim_playback *pb, int64_t now, sim_pb_view *view);
/* sim_flaps_to_json returns a new object {"armed":[...],"applied":N}. */
struct cJSON *sim_flaps_to_json(const sim_flaps *fl);

#endif
