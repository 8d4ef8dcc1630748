/* fuzz_history: libFuzzer target for src/spotify/recently_played.c (recently-played answers
 * of the history backfill). Built and run by `make fuzz`.
 *
 * Input: the first 8 bytes are the cursor (ms, little-endian; the high bits
 * masked so it stays a plausible time), the rest is the body. Besides memory
 * safety it checks what complete.lua relies on for "exactly once":
 *  - success: at most HISTORY_LIMIT plays, sorted by played_at, each after
 *    the cursor; the new cursor is the last play's played_at, never below
 *    the old one; every play gives a track_played event that parses back
 *    with the same played_at;
 *  - failure: no plays, cursor unchanged, err printable;
 *  - history_parse_time on the body's first line: never crashes, and a
 *    time it accepts lies in years 1970-9999 (give or take a zone offset). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "spotify/events.h"
#include "spotify/recently_played.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct history_page p;
    char err[200];
    long long after = 0;
    uint64_t raw = 0;

    if (size < 8)
        return 0;
    memcpy(&raw, data, 8);
    after = (long long)(raw & 0x1ffffffffffULL);   /* < ~2039 in ms */
    data += 8;
    size -= 8;

    if (history_parse((const char *)data, size, after, &p, err, sizeof err) == 0) {
        if (p.n < 0 || p.n > HISTORY_LIMIT || p.cursor_ms < after)
            abort();
        for (int i = 0; i < p.n; i++) {
            if (p.plays[i].played_at_ms <= after || p.plays[i].track == NULL)
                abort();
            if (i > 0 && p.plays[i].played_at_ms < p.plays[i - 1].played_at_ms)
                abort();
            struct sw_event ev = sw_event_track_played("u", 1, p.plays[i].played_at_ms, p.plays[i].track, 0);
            cJSON *e = ev.json ? cJSON_Parse(ev.json) : NULL;
            const cJSON *at = cJSON_GetObjectItemCaseSensitive(e, "played_at");
            if (e == NULL || !cJSON_IsNumber(at) || (long long)at->valuedouble != p.plays[i].played_at_ms)
                abort();
            cJSON_Delete(e);
            sw_event_free(&ev);
        }
        if (p.n > 0 && p.cursor_ms != p.plays[p.n - 1].played_at_ms)
            abort();
        if (p.n == 0 && p.cursor_ms != after)
            abort();
        history_page_free(&p);
    } else {
        if (p.n != 0 || p.cursor_ms != after)
            abort();
        for (const char *s = err; *s; s++)
            if ((unsigned char)*s < 0x20)
                abort();
    }

    char line[64];
    size_t n = 0;
    while (n < size && n < sizeof line - 1 && data[n] != '\n') {
        line[n] = (char)data[n];
        n++;
    }
    line[n] = '\0';
    long long ms;
    if (history_parse_time(line, &ms) == 0
        && (ms < -86400000LL || ms > 253402300800000LL + 86400000LL))
        abort();
    return 0;
}
