/* fuzz_pbdiff: differential libFuzzer target. The product's json_scan-based
 * pb_parse, pb_state_encode and history_parse against the cJSON-based ones
 * they replaced (tests/fuzz/ref_playback.c), on every input:
 *  - the same success or failure;
 *  - pb_state_decode against the old reader too, on the input as text;
 *  - on success the same pb_state fields, the same stored text
 *    (pb_state_encode vs the old encoder; see norm_enc for 1e15) and the
 *    same track/device JSON; for history the same plays, cursor and "more";
 *  - on failure the same error text, except that two syntax errors need
 *    only agree on being syntax errors (the byte offsets differ: cJSON's
 *    were approximate).
 * The only disagreements allowed are json_scan's deliberate ones (include/
 * json_scan.h): it rejects with a syntax error what cJSON let through, and the
 * error must say so at a byte that proves it (a control byte, a \u with
 * non-hex digits, a number outside the RFC 8259 grammar). Anything else
 * aborts. Built and run by `make fuzz`. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "spotify/recently_played.h"
#include "spotify/json_scan.h"
#include "spotify/playback.h"
#include "ref_playback.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const SYNTAX = "body: invalid JSON near byte ";

static void die(const char *what, const char *a, const char *b)
{
    fprintf(stderr, "fuzz_pbdiff: %s\n  ref: %s\n  new: %s\n", what, a ? a : "(null)",
            b ? b : "(null)");
    abort();
}

static int is_syntax(const char *err)
{
    return strncmp(err, SYNTAX, strlen(SYNTAX)) == 0;
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
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

static int is_hex(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* deliberate: the new parser's syntax error err on data is one of json_scan's
 * documented refusals of what cJSON accepts. */
static int deliberate(const uint8_t *data, size_t size, const char *err)
{
    size_t off;
    char why[64];

    if (sscanf(err + strlen(SYNTAX), "%zu: %63[^\n]", &off, why) != 2 || off > size)
        return 0;
    if (strcmp(why, "control character in string") == 0
        || strcmp(why, "unexpected character") == 0)
        return off < size && data[off] < 0x20;
    if (strcmp(why, "bad \\u escape") == 0)
        return off + 5 < size && data[off] == '\\' && data[off + 1] == 'u'
               && !(is_hex(data[off + 2]) && is_hex(data[off + 3]) && is_hex(data[off + 4])
                    && is_hex(data[off + 5]));
    if (strcmp(why, "bad number") == 0)
        return off < size && !rfc_number(data + off, size - off);
    /* A text ending inside a number ("...0e"): cJSON's strtod took the
     * start of it and went on ("trailing data", "not a JSON object"). */
    if (strcmp(why, "unexpected end") == 0 && off == size) {
        size_t start = size;

        while (start > 0 && (is_digit(data[start - 1]) || strchr("+-.eE", data[start - 1]) != NULL)
               && data[start - 1] != 0)
            start--;
        return start < size && !rfc_number(data + start, size - start);
    }
    return 0;
}

/* check_errors: both failed, or one did; abort unless that is allowed. */
static void check_errors(const uint8_t *data, size_t size, int rrc, const char *rerr, int nrc,
                         const char *nerr, const char *what)
{
    if (rrc != 0 && nrc != 0) {
        if (strcmp(rerr, nerr) == 0 || (is_syntax(rerr) && is_syntax(nerr)))
            return;
    }
    /* The new parser stopped at a syntax error where the old one went on:
     * allowed only for a documented refusal. */
    if (nrc != 0 && is_syntax(nerr) && (rrc == 0 || !is_syntax(rerr))
        && deliberate(data, size, nerr))
        return;
    die(what, rrc ? rerr : "ok", nrc ? nerr : "ok");
}

static int str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static void same_json(const cJSON *a, const cJSON *b, const char *what)
{
    char *x = a ? cJSON_PrintUnformatted(a) : NULL, *y = b ? cJSON_PrintUnformatted(b) : NULL;

    if ((a != NULL && x == NULL) || (b != NULL && y == NULL))
        abort(); /* out of memory in a fuzz run: report it */
    if (!str_eq(x, y))
        die(what, x, y);
    free(x);
    free(y);
}

/* norm_enc: the old encoder printed the one ms value >= 1e15 a state can
 * hold (PB_MS_MAX, 1e15) as "1e+15"; the new one prints its digits. */
static void norm_enc(char *s)
{
    /* ,"pr": and ,"du": cannot occur inside a string (its quotes are
     * escaped there), so these find the fields themselves. */
    static const char *const fields[] = {",\"pr\":1e+15", ",\"du\":1e+15"};

    for (size_t i = 0; i < 2; i++) {
        char *p = strstr(s, fields[i]), tail[64];

        if (p == NULL)
            continue;
        snprintf(tail, sizeof tail, "%s", p + strlen(fields[i]));
        sprintf(p + 6, "1000000000000000%s", tail);
    }
}

static void diff_playback(const uint8_t *data, size_t size)
{
    struct pb_state r, n;
    char rerr[256], nerr[256];
    int rrc = ref_pb_parse((const char *)data, size, &r, rerr, sizeof rerr);
    int nrc = pb_parse((const char *)data, size, &n, nerr, sizeof nerr);

    if (rrc != 0 || nrc != 0) {
        check_errors(data, size, rrc, rerr, nrc, nerr, "pb_parse: results differ");
    } else {
        char *re = ref_pb_state_encode(&r), *ne = pb_state_encode(&n);
        char big[1024];

        if (re == NULL || ne == NULL || strlen(re) >= sizeof big)
            abort();
        if (r.known != n.known || r.present != n.present || r.is_playing != n.is_playing
            || r.progress_ms != n.progress_ms || r.duration_ms != n.duration_ms
            || strcmp(r.kind, n.kind) != 0 || !str_eq(r.item_key, n.item_key)
            || !str_eq(r.device_id, n.device_id))
            die("pb_parse: states differ", re, ne);
        snprintf(big, sizeof big, "%s", re);
        norm_enc(big);
        if (strcmp(big, ne) != 0)
            die("pb_state_encode: texts differ", re, ne);
        same_json(r.track, n.track, "pb_parse: tracks differ");
        same_json(r.device, n.device, "pb_parse: devices differ");
        free(re);
        free(ne);
    }
    pb_state_free(&r);
    pb_state_free(&n);
}

static void diff_history(const uint8_t *data, size_t size, long long after)
{
    static struct history_page r, n; /* large: not on the stack */
    char rerr[256], nerr[256];
    int rrc = ref_history_parse((const char *)data, size, after, &r, rerr, sizeof rerr);
    int nrc = history_parse((const char *)data, size, after, &n, nerr, sizeof nerr);

    if (rrc != 0 || nrc != 0) {
        check_errors(data, size, rrc, rerr, nrc, nerr, "history_parse: results differ");
    } else {
        char a[64], b[64];

        snprintf(a, sizeof a, "n=%d more=%d cursor=%lld", r.n, r.more, r.cursor_ms);
        snprintf(b, sizeof b, "n=%d more=%d cursor=%lld", n.n, n.more, n.cursor_ms);
        if (strcmp(a, b) != 0)
            die("history_parse: pages differ", a, b);
        for (int i = 0; i < r.n; i++) {
            if (r.plays[i].played_at_ms != n.plays[i].played_at_ms)
                die("history_parse: played_at differs", "", "");
            same_json(r.plays[i].track, n.plays[i].track, "history_parse: tracks differ");
        }
    }
    history_page_free(&r);
    history_page_free(&n);
}

/* diff_decode: the stored-state reader, on the input as a C string. */
static void diff_decode(const uint8_t *data, size_t size)
{
    struct pb_state r, n;
    char *text = malloc(size + 1);
    int rrc, nrc;

    if (text == NULL)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    rrc = ref_pb_state_decode(text, &r);
    nrc = pb_state_decode(text, &n);
    if (rrc == 0 && nrc != 0) {
        /* Only json_scan's refusals, in the object (data after it is ignored
         * by both): say why as pb_parse would, and check that. */
        struct js_error e;
        struct js_val root;
        char why[160];
        size_t len = strlen(text);

        if (js_parse(text, len, &root, &e) < 0 && e.code == JS_E_TRAILING)
            js_parse(text, e.off, &root, &e);
        snprintf(why, sizeof why, "%s%zu: %s", SYNTAX, e.off, js_strerror(e.code));
        if (e.code == JS_OK || e.code == JS_E_TRAILING
            || !deliberate((const uint8_t *)text, strlen(text), why))
            die("pb_state_decode: the old one read it", "ok", why);
    } else if (rrc != nrc) {
        die("pb_state_decode: results differ", rrc ? "fail" : "ok", nrc ? "fail" : "ok");
    } else if (rrc == 0
               && (r.known != n.known || r.present != n.present || r.is_playing != n.is_playing
                   || r.progress_ms != n.progress_ms || r.duration_ms != n.duration_ms
                   || strcmp(r.kind, n.kind) != 0 || !str_eq(r.item_key, n.item_key)
                   || !str_eq(r.device_id, n.device_id))) {
        die("pb_state_decode: states differ", r.item_key, n.item_key);
    }
    pb_state_free(&r);
    pb_state_free(&n);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    diff_decode(data, size);
    diff_playback(data, size);
    /* Two cursors: everything is new, or only plays after late 2023. */
    diff_history(data, size, size % 2 ? 0 : 1700000000000LL);
    return 0;
}
