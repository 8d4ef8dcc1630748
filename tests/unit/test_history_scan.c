/* test_history_scan: the memory of plays announced (its text, read or
 * refused), play keys, and a backfill's pages: what is new, when to page
 * back, the floor, the cap, late plays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "spotify/events.h"
#include "spotify/history_scan.h"

#define T0 1796000000000LL   /* ms; a whole second */

/* body: a recently-played answer listing n plays, ids "t<k>", played_at
 * T0 + ms[k] (newest first, as Spotify lists them: the caller's order). */
static char *body(const long long *ms, const int *ids, int n)
{
    size_t cap = 256 + (size_t)n * 256;
    char *b = malloc(cap), *p = b;

    p += sprintf(p, "{\"items\":[");
    for (int k = 0; k < n; k++) {
        time_t s = (time_t)((T0 + ms[k]) / 1000);
        struct tm tm;
        char ts[40];

        gmtime_r(&s, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
        p += sprintf(p, "%s{\"track\":{\"id\":\"t%d\",\"uri\":\"spotify:track:t%d\",\"name\":\"n\","
                        "\"type\":\"track\",\"duration_ms\":1000,\"artists\":[],\"album\":{\"name\":\"a\"}},"
                        "\"played_at\":\"%s.%03lldZ\"}",
                     k ? "," : "", ids[k], ids[k], ts, (T0 + ms[k]) % 1000);
    }
    sprintf(p, "]}");
    return b;
}

/* page_of: n plays at T0 + from, T0 + from - step, ... (newest first). */
static void page_of(struct history_scan *s, struct history_page *pg, long long from, long long step, int n, int id0)
{
    long long ms[HISTORY_LIMIT];
    int ids[HISTORY_LIMIT];
    char err[160];

    for (int k = 0; k < n; k++) {
        ms[k] = from - k * step;
        ids[k] = id0 + k;
    }
    char *b = body(ms, ids, n);
    assert_int_equal(history_parse(b, strlen(b), s->floor_ms, pg, err, sizeof err), 0);
    free(b);
}

static unsigned long tag_of(int id)
{
    char text[64];

    snprintf(text, sizeof text, "{\"id\":\"t%d\"}", id);
    cJSON *t = cJSON_Parse(text);
    unsigned long tag = history_play_tag(t);
    cJSON_Delete(t);
    return tag;
}

static void test_seen_parse(void **state)
{
    static struct history_seen s;   /* large: not on the stack */
    char big[HISTORY_SEEN_MAX * 32 + 64], *p = big;
    (void)state;

    assert_int_equal(history_seen_parse(NULL, 7, &s), 0);
    assert_true(s.since_ms == 7 && s.n == 0);
    assert_int_equal(history_seen_parse("", 7, &s), 0);
    assert_true(s.since_ms == 7 && s.n == 0);
    assert_int_equal(history_seen_parse("100", 7, &s), 0);
    assert_true(s.since_ms == 100 && s.n == 0);
    assert_int_equal(history_seen_parse("100,200.0000000a,300.deadbeef", 7, &s), 0);
    assert_true(s.since_ms == 100 && s.n == 2);
    assert_true(history_seen_has(&s, 200, 10) && history_seen_has(&s, 300, 0xdeadbeefUL));
    assert_false(history_seen_has(&s, 200, 11) || history_seen_has(&s, 201, 10));

    const char *bad[] = {"x", "100,", "100,200", "100,200.", "100,200.DEADBEEF", "100,200.123",
                         "100,200.0000000a0", "100;200.0000000a", "100,200.0000000a,", " 100",
                         "-1", "12345678901234567", "9007199254740992", "100,9007199254740992.00000000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(history_seen_parse(bad[i], 7, &s), -1);
        assert_true(s.since_ms == 7 && s.n == 0);   /* read as absent */
    }
    /* HISTORY_SEEN_MAX entries, then one too many */
    p += sprintf(p, "1");
    for (int i = 0; i < HISTORY_SEEN_MAX; i++)
        p += sprintf(p, ",%d.00000001", 1000 + i);
    assert_int_equal(history_seen_parse(big, 7, &s), 0);
    assert_int_equal(s.n, HISTORY_SEEN_MAX);
    sprintf(p, ",5.00000001");
    assert_int_equal(history_seen_parse(big, 7, &s), -1);
}

static void test_key_and_tag(void **state)
{
    char key[HISTORY_KEY_MAX];
    cJSON *local = cJSON_Parse("{\"id\":null,\"uri\":\"spotify:local:a:b:c:1\"}");
    cJSON *none = cJSON_Parse("{\"id\":null}");
    (void)state;

    history_play_key(1796000000123LL, 0xabcUL, key, sizeof key);
    assert_string_equal(key, "1796000000123.00000abc");
    assert_true(tag_of(1) == tag_of(1) && tag_of(1) != tag_of(2));
    assert_true(history_play_tag(local) != 0 && history_play_tag(none) == 0);
    cJSON_Delete(local);
    cJSON_Delete(none);
}

static void test_scan_pages(void **state)
{
    static struct history_page pg;
    int bad = -1;
    (void)state;

    /* memory: since T0, t1000 already announced at T0 + 500000 */
    char seen[64];
    snprintf(seen, sizeof seen, "%lld,%lld.%08lx", T0, T0 + 500000, tag_of(1000));
    struct history_scan *s = history_scan_new(seen, T0 + 600000, T0 + 1000000, 86400000, 1, &bad);
    assert_non_null(s);
    assert_int_equal(bad, 0);
    assert_true(s->floor_ms == T0);

    /* a full page, newest first, every 1 s from T0 + 900000 */
    page_of(s, &pg, 900000, 1000, HISTORY_LIMIT, 1);
    assert_int_equal(history_scan_page(s, &pg), 1);
    assert_true(s->before_ms == T0 + 900000 - 49 * 1000);
    assert_int_equal(s->n, HISTORY_LIMIT);
    assert_int_equal(pg.n, 0);   /* the plays moved */
    /* the next: 3 plays, one of them the one remembered: a short page ends it */
    long long ms[] = {700000, 500000, 400000};
    int ids[] = {2001, 1000, 2002};
    char *b = body(ms, ids, 3), err[160];
    assert_int_equal(history_parse(b, strlen(b), s->floor_ms, &pg, err, sizeof err), 0);
    free(b);
    assert_int_equal(history_scan_page(s, &pg), 0);
    assert_int_equal(s->n, HISTORY_LIMIT + 2);
    assert_int_equal(s->more, 0);
    for (int i = 1; i < s->n; i++)
        assert_true(s->plays[i - 1].played_at_ms < s->plays[i].played_at_ms);   /* oldest first */
    assert_true(s->plays[0].played_at_ms == T0 + 400000 && s->plays[0].tag == tag_of(2002));
    /* late: older than the cursor T0 + 600000 (only the play at 400 s) */
    assert_true(history_scan_late(s, 0) && !history_scan_late(s, 1) && !history_scan_late(s, s->n - 1));
    history_scan_free(s);
}

static void test_scan_floor_repeat_and_cap(void **state)
{
    static struct history_page pg;
    int bad;
    (void)state;

    /* window 100 s: floor = now - 100 s above since; a full page reaching below it ends the scan */
    struct history_scan *s = history_scan_new("", T0, T0 + 1000000, 100000, 1, &bad);
    assert_true(s->floor_ms == T0 + 900000);
    page_of(s, &pg, 990000, 2000, HISTORY_LIMIT, 1);   /* 990 s .. 892 s: the last 5 below the floor */
    assert_int_equal(history_scan_page(s, &pg), 0);
    assert_int_equal(s->n, 45);
    history_scan_free(s);

    /* a server that ignores `before` repeats the page: no progress, no duplicate */
    s = history_scan_new(NULL, T0, T0 + 1000000, 86400000, 1, &bad);
    page_of(s, &pg, 900000, 1000, HISTORY_LIMIT, 1);
    assert_int_equal(history_scan_page(s, &pg), 1);
    page_of(s, &pg, 900000, 1000, HISTORY_LIMIT, 1);
    assert_int_equal(history_scan_page(s, &pg), 0);
    assert_int_equal(s->n, HISTORY_LIMIT);
    history_scan_free(s);

    /* full pages all the way: at most HISTORY_SCAN_PAGES, HISTORY_SCAN_MAX plays, then more */
    s = history_scan_new("garbage", T0, T0 + 1000000, 86400000, 1, &bad);
    assert_int_equal(bad, 1);
    assert_true(s->floor_ms == T0);
    int pages = 0;
    for (int more = 1; more; pages++) {
        page_of(s, &pg, 900000 - pages * HISTORY_LIMIT * 1000, 1000, HISTORY_LIMIT, pages * HISTORY_LIMIT);
        more = history_scan_page(s, &pg);
    }
    assert_true(pages <= HISTORY_SCAN_PAGES);
    assert_int_equal(s->n, HISTORY_SCAN_MAX);
    assert_int_equal(s->more, 1);
    history_scan_free(s);

    /* the page cap with room left: done, and no early backfill (it would read the same pages) */
    s = history_scan_new(NULL, T0, T0 + 1000000, 86400000, 1, &bad);
    for (pages = 0; pages < HISTORY_SCAN_PAGES; pages++) {
        page_of(s, &pg, 900000 - pages * HISTORY_LIMIT * 1000, 1000, HISTORY_LIMIT / 2, pages * HISTORY_LIMIT);
        pg.nraw = HISTORY_LIMIT;   /* full, as if half its plays had no track */
        assert_int_equal(history_scan_page(s, &pg), pages < HISTORY_SCAN_PAGES - 1);
    }
    assert_int_equal(s->n, HISTORY_SCAN_PAGES * HISTORY_LIMIT / 2);
    assert_int_equal(s->more, 0);
    history_scan_free(s);
    history_scan_free(NULL);
}

static void test_scan_shallow(void **state)
{
    static struct history_page pg;
    char seen[64];
    int bad;
    (void)state;

    /* shallow: a full page whose oldest play is known ends the scan */
    snprintf(seen, sizeof seen, "%lld,%lld.%08lx", T0, T0 + 900000 - 49 * 1000, tag_of(50));
    struct history_scan *s = history_scan_new(seen, T0 + 900000, T0 + 1000000, 86400000, 0, &bad);
    page_of(s, &pg, 900000, 1000, HISTORY_LIMIT, 1);   /* ids 1..50: t50 the oldest, known */
    assert_int_equal(history_scan_page(s, &pg), 0);
    assert_int_equal(s->n, HISTORY_LIMIT - 1);
    history_scan_free(s);
    /* ... and one whose oldest play is new goes on */
    s = history_scan_new(NULL, T0, T0 + 1000000, 86400000, 0, &bad);
    page_of(s, &pg, 900000, 1000, HISTORY_LIMIT, 1);
    assert_int_equal(history_scan_page(s, &pg), 1);
    page_of(s, &pg, 800000, 1000, 10, 100);
    assert_int_equal(history_scan_page(s, &pg), 0);
    assert_int_equal(s->n, HISTORY_LIMIT + 10);
    history_scan_free(s);
}

/* The event of a late play: the usual members, then "late":true; absent
 * otherwise (the event format is unchanged for other plays). */
static void test_late_event(void **state)
{
    cJSON *t = cJSON_Parse("{\"id\":\"t1\"}");
    struct sw_event e = sw_event_track_played("u", 5, 4, t, 1);
    (void)state;

    assert_string_equal(e.json, "{\"type\":\"track_played\",\"user\":\"u\",\"at\":5,\"played_at\":4,"
                                "\"track\":{\"id\":\"t1\"},\"late\":true}");
    sw_event_free(&e);
    e = sw_event_track_played("u", 5, 4, t, 0);
    assert_null(strstr(e.json, "late"));
    sw_event_free(&e);
    cJSON_Delete(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seen_parse),
        cmocka_unit_test(test_key_and_tag),
        cmocka_unit_test(test_scan_pages),
        cmocka_unit_test(test_scan_floor_repeat_and_cap),
        cmocka_unit_test(test_scan_shallow),
        cmocka_unit_test(test_late_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
