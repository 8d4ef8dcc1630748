/* test_events: the event builders (src/spotify/events.c): the exact text of
 * each kind (README.md, "Events"), and the type beside it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "spotify/events.h"

static const char track_json[] =
    "{\"id\":\"t1\",\"uri\":\"spotify:track:t1\",\"name\":\"Song 1\",\"artists\":[\"A\"],"
    "\"album\":\"Album 1\",\"duration_ms\":180000,\"type\":\"track\",\"is_local\":false}";

static void test_playback(void **st)
{
    cJSON *track = cJSON_Parse(track_json), *device = cJSON_Parse("{\"id\":\"d\",\"name\":\"Phone\",\"type\":\"Smartphone\"}");
    struct sw_event e;
    (void)st;

    e = sw_event_playback(SW_EVENT_TRACK_CHANGED, "user-\"1\"", 1700000000123LL, 1, 1500, track,
                          device, "old", -1, NULL);
    assert_string_equal(e.type, "track_changed");
    assert_string_equal(e.json,
                        "{\"type\":\"track_changed\",\"user\":\"user-\\\"1\\\"\",\"at\":1700000000123,"
                        "\"is_playing\":true,\"progress_ms\":1500,\"track\":{\"id\":\"t1\",\"uri\":"
                        "\"spotify:track:t1\",\"name\":\"Song 1\",\"artists\":[\"A\"],\"album\":"
                        "\"Album 1\",\"duration_ms\":180000,\"type\":\"track\",\"is_local\":false},"
                        "\"device\":{\"id\":\"d\",\"name\":\"Phone\",\"type\":\"Smartphone\"},"
                        "\"previous_track_id\":\"old\"}");
    sw_event_free(&e);
    assert_null(e.json);
    sw_event_free(&e);   /* twice is fine */

    e = sw_event_playback(SW_EVENT_PLAYBACK_STOPPED, NULL, 1700000000124LL, 0, 0, NULL, NULL, "ad", -1, NULL);
    assert_string_equal(e.type, "playback_stopped");
    assert_string_equal(e.json,
                        "{\"type\":\"playback_stopped\",\"user\":null,\"at\":1700000000124,"
                        "\"is_playing\":false,\"progress_ms\":0,\"track\":null,\"device\":null,"
                        "\"previous_track_id\":\"ad\"}");
    sw_event_free(&e);
    cJSON_Delete(track);
    cJSON_Delete(device);
}

static void test_status(void **st)
{
    struct sw_event e;
    (void)st;

    e = sw_event_status(SW_EVENT_REAUTH_REQUIRED, "u", 1700000000123LL, "revoked \"x\"\n");
    assert_string_equal(e.type, "reauth_required");
    assert_string_equal(e.json, "{\"type\":\"reauth_required\",\"user\":\"u\",\"at\":1700000000123,"
                                "\"reason\":\"revoked \\\"x\\\"\\n\"}");
    sw_event_free(&e);
    e = sw_event_status(SW_EVENT_NOT_REGISTERED, NULL, 0, NULL);
    assert_string_equal(e.type, "not_registered");
    assert_string_equal(e.json, "{\"type\":\"not_registered\",\"user\":null,\"at\":0,\"reason\":null}");
    sw_event_free(&e);
}

static void test_track_played(void **st)
{
    cJSON *track = cJSON_Parse(track_json);
    struct sw_event e;
    (void)st;

    e = sw_event_track_played("alice", 1800000000001LL, 1704164645678LL, track, 0);
    assert_string_equal(e.type, "track_played");
    assert_string_equal(e.json,
                        "{\"type\":\"track_played\",\"user\":\"alice\",\"at\":1800000000001,"
                        "\"played_at\":1704164645678,\"track\":{\"id\":\"t1\",\"uri\":"
                        "\"spotify:track:t1\",\"name\":\"Song 1\",\"artists\":[\"A\"],\"album\":"
                        "\"Album 1\",\"duration_ms\":180000,\"type\":\"track\",\"is_local\":false}}");
    sw_event_free(&e);
    e = sw_event_track_played(NULL, 1, 2, NULL, 0);
    assert_string_equal(e.json,
                        "{\"type\":\"track_played\",\"user\":null,\"at\":1,\"played_at\":2,\"track\":null}");
    sw_event_free(&e);
    cJSON_Delete(track);
}

/* long_string: one 'x' then "é" (2 bytes each) up to n bytes (n - 1 when n
 * is even), so a cut at an even byte count would split a character. */
static char *long_string(size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    s[0] = 'x';
    for (size_t i = 1; i + 1 < n; i += 2) {
        s[i] = (char)0xc3;
        s[i + 1] = (char)0xa9;
    }
    s[n - (n % 2 == 0)] = '\0';   /* keep whole characters */
    return s;
}

/* Names from Spotify are capped in the event: 1 KiB each on a UTF-8
 * boundary, 50 artists, and the object marked "truncated":true. */
static void test_capped(void **st)
{
    char *huge = long_string(300000), *at_cap = calloc(1, SW_EVENT_STR_MAX + 1);
    cJSON *track = cJSON_Parse(track_json), *device = cJSON_Parse("{\"id\":\"d\",\"name\":\"P\",\"type\":\"T\"}");
    cJSON *artists = cJSON_GetObjectItem(track, "artists");
    struct sw_event e;
    (void)st;

    /* Exactly SW_EVENT_STR_MAX bytes: kept whole, no marker. */
    assert_non_null(at_cap);
    memset(at_cap, 'a', SW_EVENT_STR_MAX);
    cJSON_ReplaceItemInObject(track, "name", cJSON_CreateString(at_cap));
    e = sw_event_track_played("u", 1, 2, track, 0);
    assert_non_null(strstr(e.json, at_cap));
    assert_null(strstr(e.json, "truncated"));
    sw_event_free(&e);

    cJSON_ReplaceItemInObject(track, "name", cJSON_CreateString(huge));
    cJSON_ReplaceItemInObject(device, "name", cJSON_CreateString(huge));
    for (int i = 0; i < 200; i++)
        cJSON_AddItemToArray(artists, cJSON_CreateString(i == 3 ? huge : "Artist"));
    e = sw_event_playback(SW_EVENT_TRACK_CHANGED, "u", 1, 1, 0, track, device, "old", -1, NULL);
    assert_non_null(e.json);
    assert_true(strlen(e.json) < 60 * 1024);
    {
        cJSON *ev = cJSON_Parse(e.json);
        cJSON *t = cJSON_GetObjectItem(ev, "track"), *d = cJSON_GetObjectItem(ev, "device");
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(t, "name"));
        assert_non_null(ev);
        /* 1 + 511 characters of 2 bytes: 1023 bytes, the 1024th would split one. */
        assert_int_equal(strlen(name), SW_EVENT_STR_MAX - 1);
        assert_memory_equal(name, huge, SW_EVENT_STR_MAX - 1);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(t, "artists")), SW_EVENT_LIST_MAX);
        assert_int_equal(strlen(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "artists"), 4))),
                         SW_EVENT_STR_MAX - 1);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(t, SW_EVENT_TRUNCATED)));
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(d, SW_EVENT_TRUNCATED)));
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(t, "album")), "Album 1");
        assert_null(cJSON_GetObjectItem(ev, SW_EVENT_TRUNCATED));
        /* The marker is the track's last member; the rest keep their order. */
        assert_string_equal(t->child->string, "id");
        assert_string_equal(cJSON_GetArrayItem(t, cJSON_GetArraySize(t) - 1)->string, SW_EVENT_TRUNCATED);
        cJSON_Delete(ev);
    }
    sw_event_free(&e);

    /* Only the list too long: marked as well. */
    cJSON_ReplaceItemInObject(track, "name", cJSON_CreateString("Song 1"));
    cJSON_ReplaceItemInArray(artists, 4, cJSON_CreateString("Artist"));
    e = sw_event_track_played("u", 1, 2, track, 0);
    assert_non_null(strstr(e.json, ",\"is_local\":false,\"truncated\":true}"));
    sw_event_free(&e);
    free(huge);
    free(at_cap);
    cJSON_Delete(track);
    cJSON_Delete(device);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_playback),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_track_played),
        cmocka_unit_test(test_capped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
