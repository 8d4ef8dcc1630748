/* fuzz_playback: libFuzzer target for src/spotify/playback.c.
 *
 *   clang -g -fsanitize=fuzzer,address -Iinclude $(pkg-config --cflags libcjson) \
 *       tests/fuzz/fuzz_playback.c src/spotify/playback.c $(pkg-config --libs libcjson)
 *   ./a.out -max_total_time=60 tests/fuzz/corpus/playback
 *
 * Besides memory safety it checks the invariants the worker relies on:
 * encode/decode round-trips what pb_diff and pb_next_delay_ms use, a state
 * compared with its stored form gives no events, the stored form fits the
 * per-user budget, and pb_state_decode survives arbitrary text. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spotify/playback.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static void free_events(struct sw_event *ev, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        if (ev[i].json == NULL)
            abort();
        sw_event_free(&ev[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pb_state cur, dec, nothing, unknown, junk;
    char err[128], *enc, *text;
    struct sw_event ev[PB_MAX_EVENTS];
    int n, idle = size > 0 ? (int)(data[0] % 70) - 3 : 0;

    memset(&unknown, 0, sizeof unknown);
    pb_nothing(&nothing);
    if (pb_parse((const char *)data, size, &cur, err, sizeof err) == 0) {
        if (err[0] != '\0')
            abort();
        enc = pb_state_encode(&cur);
        if (enc == NULL || strlen(enc) >= 1024)
            abort();
        if (pb_state_decode(enc, &dec) != 0)
            abort();
        if (dec.known != cur.known || dec.present != cur.present
            || dec.is_playing != cur.is_playing || dec.progress_ms != cur.progress_ms
            || dec.duration_ms != cur.duration_ms || strcmp(dec.kind, cur.kind) != 0
            || !str_eq(dec.item_key, cur.item_key) || !str_eq(dec.device_id, cur.device_id))
            abort();
        if (cur.present && (cur.item_key == NULL || cur.forms == NULL))
            abort();
        if (pb_diff(&dec, &cur, "u", 1, ev) != 0) /* identical: no events */
            abort();
        n = pb_diff(&unknown, &cur, "u", 1, ev);
        if (n != (cur.present ? 1 : 0))
            abort();
        free_events(ev, n);
        n = pb_diff(&nothing, &cur, "u", 1, ev);
        free_events(ev, n);
        n = pb_diff(&cur, &nothing, "u", 1, ev);
        free_events(ev, n);
        if (pb_next_delay_ms(&cur, 5000, 15000, 60000, 120000, idle) <= 0
            || pb_next_delay_ms(&dec, 5000, 15000, 60000, 120000, idle)
                   != pb_next_delay_ms(&cur, 5000, 15000, 60000, 120000, idle))
            abort();
        free(enc);
        pb_state_free(&dec);
    } else if (cur.known || cur.item_key || cur.device_id || cur.track || cur.device || cur.forms) {
        abort(); /* a failed parse leaves an empty state */
    }
    pb_state_free(&cur);

    /* The stored form comes from Redis: it must survive anything too. */
    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (pb_state_decode(text, &junk) == 0) {
        enc = pb_state_encode(&junk);
        n = pb_diff(&junk, &nothing, "u", 1, ev);
        free_events(ev, n);
        free(enc);
    } else if (junk.known || junk.item_key || junk.device_id) {
        abort();
    }
    pb_state_free(&junk);
    free(text);
    return 0;
}
