#ifndef SW_RECENTLY_PLAYED_H
#define SW_RECENTLY_PLAYED_H
/* history: what a recently-played answer means (history backfill).
 *
 * The worker backfills a user's plays with GET /me/player/recently-played
 * ?limit=50, then ?before=<ms>&limit=50 page after page (which plays are new,
 * and when to page back, is include/spotify/history_scan.h).
 * history_parse turns one 200 body into the plays strictly newer than a
 * cursor (the scan's floor), oldest first; the track_played event of one
 * play is sw_event_track_played's (include/spotify/events.h). All of it is
 * pure: no I/O, no clock. */
#include <stddef.h>
#include <cjson/cJSON.h>

/* HISTORY_LIMIT: the most items asked for in one call (Spotify's maximum),
 * and the most plays one page keeps. */
#define HISTORY_LIMIT 50

/* history_play: one play of a track. */
struct history_play {
    long long played_at_ms;   /* when the play ended, ms since the epoch (UTC) */
    cJSON *track;             /* owned: the event form of pb_item_track */
};

/* history_page: the plays one answer adds after a cursor. */
struct history_page {
    int n;                    /* plays in plays[], oldest first, each > the cursor */
    int more;                 /* 1: the answer was full (or longer than
                               * HISTORY_LIMIT): older plays may remain after
                               * cursor_ms, so backfill again soon */
    long long cursor_ms;      /* the latest played_at in plays[], or the given
                               * cursor when n == 0: never lower than it */
    int nraw;                 /* items in the answer, kept or not (a page is
                               * full when nraw >= HISTORY_LIMIT) */
    long long oldest_ms;      /* the oldest played_at of any item, kept or
                               * not (the next page's `before`); LLONG_MAX
                               * when the answer has no item */
    struct history_play plays[HISTORY_LIMIT];
};

/* history_parse parses a recently-played JSON body ({"items":[{"track",
 * "played_at",...}],...}) into out: the plays with played_at > after_ms,
 * sorted by played_at (oldest first); when more than HISTORY_LIMIT qualify,
 * only the oldest HISTORY_LIMIT are kept (and more is set), so advancing the
 * cursor to the last kept one never skips a play. Two items with the same
 * played_at and the same track are one play (kept once).
 * Wrong types are an error, not a guess (as pb_parse): returns 0, or -1 with
 * err ("items[2].played_at: not an ISO 8601 time"); out is then empty (n 0,
 * cursor_ms = after_ms) and needs no free. An item whose track is null (a
 * track no longer available) is skipped. "items" absent or null is an empty
 * page. out's previous contents are not freed. */
int history_parse(const char *body, size_t len, long long after_ms, struct history_page *out,
                  char *err, size_t errlen);

/* history_page_free frees the tracks of p and leaves it empty (n 0). Safe on
 * an empty page and twice in a row. */
void history_page_free(struct history_page *p);

/* history_parse_time reads an ISO 8601 UTC time as Spotify writes played_at:
 * "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM|+HHMM|-HHMM)", fraction of
 * any length (cut to ms, not rounded), 't'/'z' and a space for 'T' accepted.
 * Returns 0 with *ms (ms since the epoch; may be negative before 1970), or
 * -1 on anything else (a field out of range, a day past the month's end,
 * trailing text). */
int history_parse_time(const char *s, long long *ms);

#endif
