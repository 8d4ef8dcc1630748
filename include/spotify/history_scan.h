#ifndef SW_HISTORY_SCAN_H
#define SW_HISTORY_SCAN_H
/* history_scan: which plays of recently-played a backfill announces, over a
 * look-back window, each exactly once whatever order they turn up in.
 *
 * Spotify lists a play only once it reached its end, sometimes hours or
 * days late, with played_at its end (or its start, for an offline play):
 * a late play sorts in among plays already announced. So a backfill reads
 * the newest page (no cursor), then pages back with `before` to the floor,
 * and announces every play above the floor that the user's memory does not
 * hold. The memory (the user hash's field `backfill_seen`, written only by
 * lua/complete.lua, which checks again) names the plays announced within
 * the window; its text, which both sides read:
 *
 *   <since>[,<played_at>.<tag>]...   e.g. "1796000000000,1796000123456.0a1b2c3d"
 *
 * since (ms): plays at or before it are never announced (the start of the
 * user's history, or where a full memory dropped its oldest entries);
 * played_at in ms; tag: 8 lower-case hex digits of history_play_tag. All
 * decimal numbers are whole and below 2^53; at most HISTORY_SEEN_MAX
 * entries. An absent field is a memory with since = the user's
 * backfill_cursor (the newest play announced) and no entry; a malformed one
 * reads the same (so a hostile value costs late plays older than the
 * cursor, never an announcement twice).
 *
 * Pure: no I/O, no clock (the caller passes now). */
#include <stddef.h>
#include <cjson/cJSON.h>

#include "spotify/recently_played.h"

/* HISTORY_SCAN_PAGES: the most pages one backfill reads (one call each).
 * HISTORY_SCAN_MAX: the most plays one backfill announces; a scan that
 * fills up stops and says more (the next backfill comes soon). A play below
 * the first HISTORY_SCAN_PAGES pages is never read. */
#define HISTORY_SCAN_PAGES 5
#define HISTORY_SCAN_MAX (4 * HISTORY_LIMIT)
/* HISTORY_DEEP_EVERY: on average one backfill in this many scans deep
 * (about hourly at the default interval of 10 minutes). */
#define HISTORY_DEEP_EVERY 6
/* HISTORY_SEEN_MAX: the most plays a memory holds (complete.lua drops the
 * oldest beyond it and raises since to the newest one dropped). About 23
 * bytes each: at most ~9 KB per user, absent for a user with no play in
 * the window. */
#define HISTORY_SEEN_MAX 400
/* HISTORY_KEY_MAX: room for one "<played_at>.<tag>" key and its NUL. */
#define HISTORY_KEY_MAX 32

/* history_seen_entry: one play remembered. */
struct history_seen_entry {
    long long played_at_ms;
    unsigned long tag;           /* history_play_tag of its track */
};

/* history_seen: a user's memory, read. */
struct history_seen {
    long long since_ms;          /* plays at or before it are not announced */
    int n;
    struct history_seen_entry e[HISTORY_SEEN_MAX];
};

/* history_seen_parse reads text (NULL or "" = absent) into out. Returns 0,
 * or -1 when text is malformed; out is then, as for an absent memory,
 * since = cursor_ms and no entry. */
int history_seen_parse(const char *text, long long cursor_ms, struct history_seen *out);

/* history_seen_has: 1 when s holds the play (played_at_ms, tag). */
int history_seen_has(const struct history_seen *s, long long played_at_ms, unsigned long tag);

/* history_play_tag: a 32-bit FNV-1a of the track's "id" (its "uri" when the
 * id is null: a local track); 0 when it has neither. track is the event
 * form (pb_item_track). */
unsigned long history_play_tag(const cJSON *track);

/* history_play_key writes "<played_at_ms>.<tag as 8 hex digits>" into buf
 * (HISTORY_KEY_MAX bytes). */
void history_play_key(long long played_at_ms, unsigned long tag, char *buf, size_t n);

/* history_scan_play: one new play a scan found. */
struct history_scan_play {
    long long played_at_ms;
    cJSON *track;                /* owned: the event form of pb_item_track */
    unsigned long tag;           /* history_play_tag(track) */
};

/* history_scan: one backfill's pages, read newest to oldest. */
struct history_scan {
    long long floor_ms;          /* max(since, now - window): plays at or
                                  * before it are not announced */
    long long cursor_ms;         /* the newest play announced before: a
                                  * play older than it is late */
    long long before_ms;         /* the next page's `before` (0: the first
                                  * page, which has no cursor) */
    int pages;                   /* pages read so far */
    int deep;                    /* page back to the floor; else only while
                                  * a page's oldest play is new */
    int more;                    /* stopped with HISTORY_SCAN_MAX new plays
                                  * and more left: backfill again soon */
    int n;                       /* new plays in plays[], oldest first once
                                  * history_scan_page returned 0 */
    struct history_scan_play plays[HISTORY_SCAN_MAX];
    struct history_seen seen;
};

/* history_scan_new starts a scan (free with history_scan_free): the memory
 * from seen_text (as history_seen_parse; *seen_bad set to 1 when malformed,
 * else 0), cursor_ms the user's backfill_cursor, now_ms and window_ms the
 * look-back; deep: a deep scan (see history_scan_page). NULL when out of
 * memory. */
struct history_scan *history_scan_new(const char *seen_text, long long cursor_ms, long long now_ms,
                                      long long window_ms, int deep, int *seen_bad);

/* history_scan_page takes one page (history_parse'd with after_ms =
 * s->floor_ms): its plays that are new (not in the memory, not taken from
 * an earlier page) move into s (the page is left empty, freed). Returns 1
 * when another page is to be read (its `before` in s->before_ms): the page
 * was full (HISTORY_LIMIT items), reached back no further than the floor,
 * went back in time from the last one, the scan has room for another, and
 * either the scan is deep or the page's oldest play is new; else 0, with
 * s->plays sorted oldest first.
 *
 * Why two depths: a late play sorts in below plays already announced, so
 * only a deep scan (down to the floor) finds every one; but a page whose
 * oldest play is known was mostly seen before, and Spotify lists only the
 * last 50 plays anyway, so a shallow scan (the usual one) stops there and
 * costs one call. The worker makes 1 in HISTORY_DEEP_EVERY backfills deep. */
int history_scan_page(struct history_scan *s, struct history_page *page);

/* history_scan_late: 1 when plays[i] is older than the newest play
 * announced before this backfill (an event's "late": true). */
int history_scan_late(const struct history_scan *s, int i);

/* history_scan_free frees s and the tracks it holds (NULL is fine). */
void history_scan_free(struct history_scan *s);

#endif
