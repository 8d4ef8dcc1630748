/* sim_history.h: one user's recently-played list, as Spotify keeps it.
 *
 * Which plays are listed (sim_history_record, rules from sim_cfg):
 *   - recent_requires_end off: a track played >= recent_min_ms in total;
 *     on: only a play that reached the end of the track (a skip is never
 *     listed, whatever its length).
 *   - played_at is the end of the play, or its start for an "offline" play
 *     (each play is offline with probability recent_offline_fraction).
 *   - a play becomes visible recent_delay_ms (+ a random 0..
 *     recent_delay_jitter_ms) after it ended, so plays can appear hours late
 *     and out of order.
 * Entries are kept sorted by played_at (up to SIM_HISTORY_MAX; the oldest
 * played_at is dropped first) and listed newest first; an entry not yet
 * visible is invisible to every query, cursors and total included. */
#ifndef SIM_HISTORY_H
#define SIM_HISTORY_H

#include <stdint.h>

#include "sim_util.h"

#define SIM_HISTORY_MAX 200

/* sim_played: one recently-played entry. */
typedef struct sim_played {
    int64_t played_at_ms; /* simulated Unix ms the API reports */
    int64_t visible_ms;   /* listed from this simulated ms on */
    char *json;           /* TrackObject JSON, extended-mode shape */
    char *json_dev;       /* TrackObject JSON, development-mode shape (NULL = json) */
    char *context_json;   /* ContextObject JSON of the play, NULL = null */
} sim_played;

/* sim_history: entries sorted by played_at_ms, oldest first. */
typedef struct sim_history {
    sim_played items[SIM_HISTORY_MAX];
    int n;
} sim_history;

void sim_history_free(sim_history *h);
/* sim_history_add inserts an entry (strings copied; json_dev and context
 * may be NULL). */
void sim_history_add(sim_history *h, int64_t played_at_ms, int64_t visible_ms,
                     const char *json, const char *json_dev, const char *context_json);
/* sim_history_record applies the listing rules above to a play of a track
 * that started at start_ms and was left at end_ms after played_ms of play
 * time; reached_end says it ended by itself. */
void sim_history_record(sim_history *h, int64_t start_ms, int64_t end_ms, int64_t played_ms,
                        int reached_end, const char *json, const char *json_dev,
                        const char *context_json);
/* sim_history_visible counts the entries visible at now. */
int sim_history_visible(const sim_history *h, int64_t now);
/* sim_history_render writes a CursorPagingPlayHistoryObject of the entries
 * visible at now. after/before are Unix-ms cursors (-1 = unset); limit
 * 1..50; dev_shape picks json_dev. href_base is the endpoint URL. */
void sim_history_render(const sim_history *h, int64_t now, int limit, int64_t after,
                        int64_t before, int dev_shape, const char *href_base, sim_buf *out);

#endif
