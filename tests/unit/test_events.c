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
                          device, "old");
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

    e = sw_event_playback(SW_EVENT_PLAYBACK_STOPPED, NULL, 1700000000124LL, 0, 0, NULL, NULL, "ad");
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

    e = sw_event_track_played("alice", 1800000000001LL, 1704164645678LL, track);
    assert_string_equal(e.type, "track_played");
    assert_string_equal(e.json,
                        "{\"type\":\"track_played\",\"user\":\"alice\",\"at\":1800000000001,"
                        "\"played_at\":1704164645678,\"track\":{\"id\":\"t1\",\"uri\":"
                        "\"spotify:track:t1\",\"name\":\"Song 1\",\"artists\":[\"A\"],\"album\":"
                        "\"Album 1\",\"duration_ms\":180000,\"type\":\"track\",\"is_local\":false}}");
    sw_event_free(&e);
    e = sw_event_track_played(NULL, 1, 2, NULL);
    assert_string_equal(e.json,
                        "{\"type\":\"track_played\",\"user\":null,\"at\":1,\"played_at\":2,\"track\":null}");
    sw_event_free(&e);
    cJSON_Delete(track);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_playback),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_track_played),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
