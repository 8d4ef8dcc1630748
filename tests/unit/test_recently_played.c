/* test_history: recently-played parsing (played_at, the cursor, order,
 * limits, wrong types), track_played events, and pb_item_track. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "spotify/events.h"
#include "spotify/recently_played.h"
#include "spotify/playback.h"

/* T(id, played_at): one item as Spotify lists it. */
#define T(id, at)                                                                          \
    "{\"track\":{\"album\":{\"name\":\"Album " id "\"},\"artists\":[{\"name\":\"Artist\"}]," \
    "\"duration_ms\":1000,\"id\":\"" id "\",\"is_local\":false,\"name\":\"Song " id "\","    \
    "\"type\":\"track\",\"uri\":\"spotify:track:" id "\"},\"played_at\":\"" at "\","         \
    "\"context\":null}"

/* 2024-01-02T03:04:05.678Z */
#define MS_A 1704164645678LL

static long long t_ms(const char *s)
{
    long long ms = -42;

    assert_int_equal(history_parse_time(s, &ms), 0);
    return ms;
}

static void t_bad(const char *s)
{
    long long ms = -42;

    assert_int_equal(history_parse_time(s, &ms), -1);
    assert_true(ms == -42);
}

static void test_time(void **st)
{
    (void)st;
    assert_true(t_ms("1970-01-01T00:00:00Z") == 0);
    assert_true(t_ms("1970-01-01T00:00:00.001Z") == 1);
    assert_true(t_ms("2024-01-02T03:04:05.678Z") == MS_A);
    assert_true(t_ms("2024-01-02T03:04:05Z") == MS_A - 678);
    /* Fractions of any length are cut to ms, not rounded. */
    assert_true(t_ms("2024-01-02T03:04:05.6789999Z") == MS_A + 0);
    assert_true(t_ms("2024-01-02T03:04:05.6Z") == MS_A - 78);
    assert_true(t_ms("2024-01-02T03:04:05.67Z") == MS_A - 8);
    /* Offsets: the same instant. */
    assert_true(t_ms("2024-01-02T05:04:05.678+02:00") == MS_A);
    assert_true(t_ms("2024-01-01T22:34:05.678-0430") == MS_A);
    assert_true(t_ms("2024-01-02t03:04:05.678z") == MS_A);
    assert_true(t_ms("2024-01-02 03:04:05.678Z") == MS_A);
    /* Calendar: leap days, month ends, the year 2000 and 2100. */
    assert_true(t_ms("2024-02-29T00:00:00Z") == 1709164800000LL);
    assert_true(t_ms("2000-02-29T00:00:00Z") == 951782400000LL);
    assert_true(t_ms("2100-03-01T00:00:00Z") == 4107542400000LL);
    assert_true(t_ms("2016-12-13T20:44:04.589Z") == 1481661844589LL);
    t_bad("2023-02-29T00:00:00Z");
    t_bad("2100-02-29T00:00:00Z");
    t_bad("2024-04-31T00:00:00Z");
    t_bad("2024-13-01T00:00:00Z");
    t_bad("2024-00-01T00:00:00Z");
    t_bad("2024-01-00T00:00:00Z");
    t_bad("2024-01-01T24:00:00Z");
    t_bad("2024-01-01T23:60:00Z");
    t_bad("2024-01-01T23:59:61Z");
    t_bad("2024-01-01T00:00:00");        /* no zone */
    t_bad("2024-01-01T00:00:00Zjunk");
    t_bad("2024-01-01T00:00:00.Z");
    t_bad("2024-01-01T00:00:00+2:00");
    t_bad("2024-01-01T00:00:00+24:00");
    t_bad("2024-1-01T00:00:00Z");
    t_bad("1969-12-31T23:59:59Z");
    t_bad("");
    t_bad("1481661844589");
    t_bad(NULL);
}

static void parse_ok(const char *body, long long after, struct history_page *p)
{
    char err[200] = "x";
    int rc = history_parse(body, strlen(body), after, p, err, sizeof err);

    if (rc != 0)
        fail_msg("unexpected parse error: %s", err);
    assert_string_equal(err, "");
}

static void parse_err(const char *body, long long after, const char *want)
{
    struct history_page p;
    char err[200] = "";

    assert_int_equal(history_parse(body, strlen(body), after, &p, err, sizeof err), -1);
    if (strstr(err, want) == NULL)
        fail_msg("error %s does not contain %s", err, want);
    assert_int_equal(p.n, 0);
    assert_int_equal(p.more, 0);
    assert_true(p.cursor_ms == after);
    history_page_free(&p);
}

static const char *track_id(const struct history_play *p)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(p->track, "id");

    return cJSON_IsString(id) ? id->valuestring : "(null)";
}

static void test_parse_order_and_cursor(void **st)
{
    struct history_page p;
    /* Newest first, as Spotify answers. */
    const char *body = "{\"items\":[" T("c", "2024-01-02T03:10:00.000Z") ","
                       T("b", "2024-01-02T03:07:00.000Z") "," T("a", "2024-01-02T03:04:05.678Z")
                       "],\"next\":null,\"cursors\":{\"after\":\"1\",\"before\":\"2\"},\"limit\":50}";
    (void)st;

    parse_ok(body, 0, &p);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.more, 0);
    assert_string_equal(track_id(&p.plays[0]), "a");
    assert_string_equal(track_id(&p.plays[1]), "b");
    assert_string_equal(track_id(&p.plays[2]), "c");
    assert_true(p.plays[0].played_at_ms == MS_A);
    assert_true(p.cursor_ms == p.plays[2].played_at_ms);
    history_page_free(&p);
    history_page_free(&p);   /* twice is safe */

    /* Only plays strictly after the cursor: equal is already announced. */
    parse_ok(body, MS_A, &p);
    assert_int_equal(p.n, 2);
    assert_string_equal(track_id(&p.plays[0]), "b");
    history_page_free(&p);

    /* Nothing new: the cursor stays where it was, never goes back. */
    parse_ok(body, MS_A + 3600000, &p);
    assert_int_equal(p.n, 0);
    assert_true(p.cursor_ms == MS_A + 3600000);
    history_page_free(&p);
}

static void test_parse_empty_and_null(void **st)
{
    struct history_page p;
    (void)st;

    parse_ok("{\"items\":[],\"cursors\":null}", 7, &p);
    assert_int_equal(p.n, 0);
    assert_true(p.cursor_ms == 7);
    parse_ok("{\"items\":null}", 7, &p);
    assert_int_equal(p.n, 0);
    parse_ok("{}", 7, &p);
    assert_int_equal(p.n, 0);
    /* A play whose track is null (no longer available) is skipped. */
    parse_ok("{\"items\":[{\"track\":null,\"played_at\":\"2024-01-02T03:04:06Z\"},"
             T("a", "2024-01-02T03:04:05.678Z") "]}", 0, &p);
    assert_int_equal(p.n, 1);
    assert_true(p.cursor_ms == MS_A);
    history_page_free(&p);
}

static void test_parse_duplicates(void **st)
{
    struct history_page p;
    (void)st;

    /* The same play listed twice is one play; two different tracks ending in
     * the same ms are two. */
    parse_ok("{\"items\":[" T("a", "2024-01-02T03:04:05.678Z") "," T("a", "2024-01-02T03:04:05.678Z")
             "," T("b", "2024-01-02T03:04:05.678Z") "]}", 0, &p);
    assert_int_equal(p.n, 2);
    history_page_free(&p);
}

/* big_body: n items, one a minute, listed newest first. */
static char *big_body(int n)
{
    size_t cap = (size_t)n * 400 + 64, off = 0;
    char *b = malloc(cap);

    assert_non_null(b);
    off += (size_t)snprintf(b + off, cap - off, "{\"items\":[");
    for (int i = n - 1; i >= 0; i--) {
        char id[16], at[40];

        snprintf(id, sizeof id, "t%03d", i);
        snprintf(at, sizeof at, "2024-01-02T%02d:%02d:00.000Z", 3 + i / 60, i % 60);
        off += (size_t)snprintf(b + off, cap - off,
                                "%s{\"track\":{\"id\":\"%s\",\"name\":\"%s\",\"type\":\"track\","
                                "\"duration_ms\":1000},\"played_at\":\"%s\"}",
                                i == n - 1 ? "" : ",", id, id, at);
    }
    snprintf(b + off, cap - off, "]}");
    return b;
}

static void test_parse_limits(void **st)
{
    struct history_page p;
    char *b;
    (void)st;

    /* A full answer: more may follow. */
    b = big_body(HISTORY_LIMIT);
    parse_ok(b, 0, &p);
    assert_int_equal(p.n, HISTORY_LIMIT);
    assert_int_equal(p.more, 1);
    history_page_free(&p);
    /* ... unless none of it is new (a server ignoring `after`). */
    parse_ok(b, 9000000000000LL, &p);
    assert_int_equal(p.n, 0);
    assert_int_equal(p.more, 0);
    free(b);

    /* A longer answer than asked for: the oldest 50 are kept, and the cursor
     * stops at the 50th, so the next backfill gets the rest. */
    b = big_body(70);
    parse_ok(b, 0, &p);
    assert_int_equal(p.n, HISTORY_LIMIT);
    assert_int_equal(p.more, 1);
    assert_string_equal(track_id(&p.plays[0]), "t000");
    assert_string_equal(track_id(&p.plays[HISTORY_LIMIT - 1]), "t049");
    assert_true(p.cursor_ms == p.plays[HISTORY_LIMIT - 1].played_at_ms);
    long long cursor = p.cursor_ms;
    history_page_free(&p);
    parse_ok(b, cursor, &p);
    assert_int_equal(p.n, 20);
    assert_int_equal(p.more, 1);   /* the answer itself was full: ask once more */
    assert_string_equal(track_id(&p.plays[0]), "t050");
    history_page_free(&p);
    free(b);

    b = big_body(3);
    parse_ok(b, 0, &p);
    assert_int_equal(p.more, 0);
    history_page_free(&p);
    free(b);
}

static void test_parse_errors(void **st)
{
    (void)st;
    parse_err("", 5, "body: empty");
    parse_err("   ", 5, "body: empty");
    parse_err("{\"items\":[", 5, "invalid JSON");
    parse_err("{} x", 5, "trailing data");
    parse_err("[]", 5, "not a JSON object");
    parse_err("{\"items\":{}}", 5, "items: not an array");
    parse_err("{\"items\":[1]}", 5, "items[0]: not an object");
    parse_err("{\"items\":[" T("a", "2024-01-02T03:04:05Z") ",{\"track\":{},\"played_at\":5}]}", 5,
              "items[1].played_at: not a string");
    parse_err("{\"items\":[{\"track\":{},\"played_at\":\"yesterday\"}]}", 5,
              "items[0].played_at: not an ISO 8601 time");
    parse_err("{\"items\":[{\"track\":[],\"played_at\":\"2024-01-02T03:04:05Z\"}]}", 5,
              "items[0].track: not an object");
    parse_err("{\"items\":[" T("a", "2024-01-02T03:04:05Z") ",{\"track\":{\"duration_ms\":\"x\"},"
              "\"played_at\":\"2024-01-02T03:04:06Z\"}]}", 5,
              "items[1].track: item.duration_ms: not a number");
    /* A wrong type in an old item (before the cursor) is still an error: the
     * answer as a whole is not to be trusted. */
    parse_err("{\"items\":[{\"track\":{},\"played_at\":\"junk\"}]}", 9000000000000LL, "ISO 8601");
    /* NULL body */
    {
        struct history_page p;
        assert_int_equal(history_parse(NULL, 10, 0, &p, NULL, 0), -1);
    }
}

static void test_event(void **st)
{
    struct history_page p;
    (void)st;

    parse_ok("{\"items\":[" T("a", "2024-01-02T03:04:05.678Z") "]}", 0, &p);
    struct sw_event ev = sw_event_track_played("alice", 1800000000000LL, p.plays[0].played_at_ms,
                                               p.plays[0].track, 0);
    assert_non_null(ev.json);
    cJSON *e = cJSON_Parse(ev.json);
    assert_non_null(e);
    assert_string_equal(cJSON_GetObjectItem(e, "type")->valuestring, "track_played");
    assert_string_equal(cJSON_GetObjectItem(e, "user")->valuestring, "alice");
    assert_true(cJSON_GetObjectItem(e, "at")->valuedouble == 1800000000000.0);
    assert_true(cJSON_GetObjectItem(e, "played_at")->valuedouble == (double)MS_A);
    cJSON *t = cJSON_GetObjectItem(e, "track");
    assert_string_equal(cJSON_GetObjectItem(t, "id")->valuestring, "a");
    assert_string_equal(cJSON_GetObjectItem(t, "uri")->valuestring, "spotify:track:a");
    assert_string_equal(cJSON_GetObjectItem(t, "name")->valuestring, "Song a");
    assert_string_equal(cJSON_GetObjectItem(t, "album")->valuestring, "Album a");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "artists"), 0)->valuestring, "Artist");
    assert_true(cJSON_GetObjectItem(t, "duration_ms")->valuedouble == 1000);
    assert_string_equal(cJSON_GetObjectItem(t, "type")->valuestring, "track");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(t, "is_local")));
    cJSON_Delete(e);
    sw_event_free(&ev);
    history_page_free(&p);
}

/* pb_item_track gives what pb_parse puts in pb_state.track. */
static void test_item_track_matches_pb_parse(void **st)
{
    const char *item = "{\"album\":{\"name\":\"Abbey Road\"},\"artists\":[{\"name\":\"The Beatles\"}],"
                       "\"duration_ms\":180000,\"id\":\"t1\",\"is_local\":false,\"name\":\"Come Together\","
                       "\"type\":\"track\",\"uri\":\"spotify:track:t1\"}";
    char body[1024], err[128];
    struct pb_state s;
    (void)st;

    snprintf(body, sizeof body, "{\"is_playing\":true,\"progress_ms\":1,\"item\":%s}", item);
    assert_int_equal(pb_parse(body, strlen(body), &s, err, sizeof err), 0);
    assert_int_equal(pb_state_forms(&s), 0);
    struct js_val in;
    assert_int_equal(js_parse(item, strlen(item), &in, NULL), 0);
    cJSON *t = pb_item_track(&in, err, sizeof err);
    assert_non_null(t);
    assert_true(cJSON_Compare(t, s.track, 1));
    cJSON_Delete(t);
    pb_state_free(&s);

    assert_int_equal(js_parse("[]", 2, &in, NULL), 0);
    assert_null(pb_item_track(&in, err, sizeof err));
    assert_string_equal(err, "item: not an object");
    assert_null(pb_item_track(NULL, err, sizeof err));
    assert_string_equal(err, "item: not an object");
    assert_int_equal(js_parse("{\"name\":5}", 10, &in, NULL), 0);
    assert_null(pb_item_track(&in, err, sizeof err));
    assert_string_equal(err, "item.name: not a string");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_parse_order_and_cursor),
        cmocka_unit_test(test_parse_empty_and_null),
        cmocka_unit_test(test_parse_duplicates),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_event),
        cmocka_unit_test(test_item_track_matches_pb_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
