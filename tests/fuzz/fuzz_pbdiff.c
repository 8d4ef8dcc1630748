/* fuzz_pbdiff: libFuzzer target for the json_scan-based readers of
 * currently-playing answers, stored states and recently-played answers, on
 * the same input. It used to compare them with the cJSON-based parsers they
 * replaced; that agreement is now held by the golden outputs of its corpus
 * (tests/fuzz/golden/pbdiff/, checked by tests/unit/test_pbcompat.c in
 * `make test`: a fuzz target cannot know the golden of a new input). Here,
 * on every input, the product alone:
 *  - pb_parse: on success the stored text reads back as the same state and
 *    prints the same again, and a state compared with itself or with its
 *    stored form gives no events; on failure the state is empty, the error
 *    is printable, and a syntax error names a byte of the input that proves
 *    it where it says what it saw (a control byte in a string, a \u without
 *    four hex digits, a number outside the RFC 8259 grammar, the end);
 *  - pb_state_decode of the input as text: on success it prints and reads
 *    back the same, and gives no events against itself; on failure it is
 *    empty;
 *  - flap_record_decode of the input as text (include/spotify/flap.h): on
 *    success its text reads back as a record that prints the same again,
 *    and flap_settle of it with the input as an answer (when it parses)
 *    leaves a record that does too;
 *  - history_parse after the cursors 0 and late 2023: what the later cursor
 *    refuses the earlier one refuses too, and when the earlier page holds
 *    every play, the later page is its plays after late 2023.
 * Anything else aborts. Built and run by `make fuzz`. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "spotify/recently_played.h"
#include "spotify/events.h"
#include "spotify/flap.h"
#include "spotify/playback.h"

#define LATE_2023 1700000000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const SYNTAX = "body: invalid JSON near byte ";
static const char *const TRAILING = "body: trailing data after JSON at byte ";

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_pbdiff: %s\n  %s\n", what, detail ? detail : "(null)");
    abort();
}

static int str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* rfc_number: does the run of number characters at p (n bytes available)
 * form one RFC 8259 number? Written apart from json_scan on purpose. */
static int rfc_number(const uint8_t *p, size_t n)
{
    size_t i = 0, run = 0;

    while (run < n && (is_digit(p[run]) || strchr("+-.eE", p[run]) != NULL) && p[run] != 0)
        run++;
    if (i < run && p[i] == '-')
        i++;
    if (i < run && p[i] == '0')
        i++;
    else if (i < run && p[i] >= '1' && p[i] <= '9')
        while (i < run && is_digit(p[i]))
            i++;
    else
        return 0;
    if (i < run && p[i] == '.') {
        if (++i >= run || !is_digit(p[i]))
            return 0;
        while (i < run && is_digit(p[i]))
            i++;
    }
    if (i < run && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < run && (p[i] == '+' || p[i] == '-'))
            i++;
        if (i >= run || !is_digit(p[i]))
            return 0;
        while (i < run && is_digit(p[i]))
            i++;
    }
    return i == run;
}

/* check_error: err, from a failed parse of data, is printable, and a
 * syntax error's offset lies in the input and proves what it says. */
static void check_error(const uint8_t *data, size_t size, const char *err)
{
    size_t off;
    char why[64];

    for (const char *s = err; *s; s++)
        if ((unsigned char)*s < 0x20)
            die("error text not printable", err);
    if (strncmp(err, TRAILING, strlen(TRAILING)) == 0) {
        if (sscanf(err + strlen(TRAILING), "%zu", &off) != 1 || off >= size)
            die("trailing data outside the input", err);
        return;
    }
    if (strncmp(err, SYNTAX, strlen(SYNTAX)) != 0)
        return;
    if (sscanf(err + strlen(SYNTAX), "%zu: %63[^\n]", &off, why) != 2 || off > size)
        die("syntax error outside the input", err);
    if (strcmp(why, "control character in string") == 0) {
        if (off >= size || data[off] >= 0x20)
            die("no control byte there", err);
    } else if (strcmp(why, "bad \\u escape") == 0) {
        if (off + 1 >= size || data[off] != '\\' || data[off + 1] != 'u'
            || (off + 5 < size && is_hex(data[off + 2]) && is_hex(data[off + 3])
                && is_hex(data[off + 4]) && is_hex(data[off + 5])))
            die("no bad \\u escape there", err);
    } else if (strcmp(why, "bad number") == 0) {
        if (off >= size || rfc_number(data + off, size - off))
            die("an RFC 8259 number there", err);
    } else if (strcmp(why, "unexpected end") == 0) {
        if (off != size)
            die("not the end", err);
    }
}

/* no_events: pb_diff(prev, cur) must give nothing (the one call of pb_diff
 * in this file). */
static void no_events(const struct pb_state *prev, const struct pb_state *cur, const char *what)
{
    struct sw_event ev[PB_MAX_EVENTS];
    int n = pb_diff(prev, cur, "u", 1, ev);

    if (n != 0)
        die(what, ev[0].json);
}

static int same_state(const struct pb_state *a, const struct pb_state *b)
{
    return a->known == b->known && a->present == b->present && a->is_playing == b->is_playing
           && a->progress_ms == b->progress_ms && a->duration_ms == b->duration_ms
           && strcmp(a->kind, b->kind) == 0 && str_eq(a->item_key, b->item_key)
           && str_eq(a->device_id, b->device_id);
}

static int is_empty(const struct pb_state *s)
{
    return !s->known && !s->present && s->item_key == NULL && s->device_id == NULL
           && s->track == NULL && s->device == NULL && s->forms == NULL;
}

/* round_trip: s's stored text reads back as s and prints the same again. */
static void round_trip(const struct pb_state *s)
{
    struct pb_state d;
    char *enc = pb_state_encode(s), *again;

    if (enc == NULL)
        abort(); /* out of memory in a fuzz run: report it */
    if (pb_state_decode(enc, &d) != 0 || !same_state(s, &d))
        die("stored text does not read back", enc);
    again = pb_state_encode(&d);
    if (again == NULL || strcmp(enc, again) != 0)
        die("stored text prints otherwise", again);
    no_events(&d, s, "pb_diff(stored form, state) gave events");
    free(again);
    free(enc);
    pb_state_free(&d);
}

static void check_playback(const uint8_t *data, size_t size)
{
    struct pb_state s;
    char err[256];

    if (pb_parse((const char *)data, size, &s, err, sizeof err) == 0) {
        if (err[0] != '\0')
            die("error text on success", err);
        round_trip(&s);
        no_events(&s, &s, "pb_diff(state, state) gave events");
    } else {
        if (!is_empty(&s))
            die("a failed parse left a state", err);
        check_error(data, size, err);
    }
    pb_state_free(&s);
}

/* check_decode: the stored-state reader, on the input as a C string. */
static void check_decode(const uint8_t *data, size_t size)
{
    struct pb_state s;
    char *text = malloc(size + 1);

    if (text == NULL)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    if (pb_state_decode(text, &s) == 0) {
        round_trip(&s);
        no_events(&s, &s, "pb_diff(decoded, decoded) gave events");
    } else if (!is_empty(&s)) {
        die("a failed decode left a state", text);
    }
    pb_state_free(&s);
    free(text);
}

/* record_round_trip: r's text reads back as a record that prints the same
 * text again (one record, one spelling). */
static void record_round_trip(const struct flap_record *r)
{
    struct flap_record d;
    char *enc = flap_record_encode(r), *again;

    if (enc == NULL)
        abort();
    if (flap_record_decode(enc, &d) != 0 || !same_state(&r->stable, &d.stable)
        || !same_state(&r->pending, &d.pending) || !str_eq(r->prev_key, d.prev_key))
        die("record text does not read back", enc);
    again = flap_record_encode(&d);
    if (again == NULL || strcmp(enc, again) != 0)
        die("record text prints otherwise", again);
    free(again);
    free(enc);
    flap_record_free(&d);
}

/* check_record: the flap record reader on the input as a C string, then one
 * poll seeing the input as an answer settled into what it read. */
static void check_record(const uint8_t *data, size_t size)
{
    struct flap_record r;
    struct pb_state cur;
    struct sw_event ev[PB_MAX_EVENTS];
    char *text = malloc(size + 1), err[256];
    int n = -1;

    if (text == NULL)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    if (flap_record_decode(text, &r) != 0) {
        if (!is_empty(&r.stable) || !is_empty(&r.pending) || r.prev_key != NULL)
            die("a failed record decode left something", text);
        free(text);
        return;
    }
    record_round_trip(&r);
    if (pb_parse((const char *)data, size, &cur, err, sizeof err) == 0) {
        flap_settle(&r, &cur, 1796000000000LL + (long long)(size % 7) * 1000, (int)(size & 1), "u", ev, &n);
        if (n < 0 || n > PB_MAX_EVENTS || !is_empty(&cur))
            die("flap_settle: bad event count or cur kept", text);
        for (int i = 0; i < n; i++)
            sw_event_free(&ev[i]);
        record_round_trip(&r);
    }
    pb_state_free(&cur);
    flap_record_free(&r);
    free(text);
}

static void check_history(const uint8_t *data, size_t size)
{
    static struct history_page all, late; /* large: not on the stack */
    char aerr[256], lerr[256];
    int arc = history_parse((const char *)data, size, 0, &all, aerr, sizeof aerr);
    int lrc = history_parse((const char *)data, size, LATE_2023, &late, lerr, sizeof lerr);

    if (arc != 0)
        check_error(data, size, aerr);
    if (lrc != 0)
        check_error(data, size, lerr);
    /* The later cursor skips older items before reading their tracks, so
     * it may accept what the earlier one refuses, never the reverse. */
    if (lrc != 0 && arc == 0)
        die("refused after late 2023 only", lerr);
    if (arc == 0 && lrc == 0 && !all.more) {
        int k = 0;

        while (k < all.n && all.plays[k].played_at_ms <= LATE_2023)
            k++;
        if (late.more || late.n != all.n - k)
            die("the later page is not the tail of the earlier one", "");
        for (int i = 0; i < late.n; i++)
            if (late.plays[i].played_at_ms != all.plays[k + i].played_at_ms
                || !cJSON_Compare(late.plays[i].track, all.plays[k + i].track, 1))
                die("the later page is not the tail of the earlier one", "");
    }
    history_page_free(&all);
    history_page_free(&late);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_decode(data, size);
    check_record(data, size);
    check_playback(data, size);
    check_history(data, size);
    return 0;
}
