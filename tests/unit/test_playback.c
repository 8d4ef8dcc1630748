/* test_playback: pb_parse normalisation, encode/decode, pb_diff rules and
 * smart-polling delays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotify/playback.h"

#define TRACK_BODY                                                                        \
    "{\"device\":{\"id\":\"dev1\",\"is_active\":true,\"is_private_session\":false,"      \
    "\"is_restricted\":false,\"name\":\"Kitchen\",\"type\":\"Speaker\","                 \
    "\"volume_percent\":59,\"supports_volume\":true},"                                   \
    "\"repeat_state\":\"off\",\"shuffle_state\":false,\"context\":null,"                  \
    "\"timestamp\":1700000000000,\"progress_ms\":12345,\"is_playing\":true,"              \
    "\"item\":{\"album\":{\"name\":\"Abbey Road\",\"album_type\":\"album\"},"            \
    "\"artists\":[{\"name\":\"The Beatles\",\"id\":\"a1\"},{\"name\":\"Guest\"}],"       \
    "\"duration_ms\":180000,\"explicit\":false,\"id\":\"t1\",\"is_local\":false,"        \
    "\"name\":\"Come Together\",\"popularity\":80,\"type\":\"track\","                    \
    "\"uri\":\"spotify:track:t1\"},"                                                     \
    "\"currently_playing_type\":\"track\",\"actions\":{\"disallows\":{}}}"

#define EPISODE_BODY                                                                      \
    "{\"progress_ms\":1000,\"is_playing\":true,\"currently_playing_type\":\"episode\","   \
    "\"item\":{\"id\":\"e1\",\"uri\":\"spotify:episode:e1\",\"name\":\"Ep 1\","         \
    "\"duration_ms\":3600000,\"type\":\"episode\",\"show\":{\"name\":\"The Show\","      \
    "\"publisher\":\"P\"}}}"

#define LOCAL_BODY                                                                        \
    "{\"progress_ms\":5,\"is_playing\":true,\"currently_playing_type\":\"track\","        \
    "\"item\":{\"id\":null,\"is_local\":true,\"uri\":\"spotify:local:Me:Demo:Song:200\"," \
    "\"name\":\"Song\",\"duration_ms\":200000,\"type\":\"track\","                        \
    "\"album\":{\"name\":\"Demo\"},\"artists\":[{\"name\":\"Me\",\"id\":null}]}}"

#define AD_BODY                                                                           \
    "{\"progress_ms\":3000,\"is_playing\":true,\"item\":null,"                            \
    "\"currently_playing_type\":\"ad\"}"

static int parse_ok(const char *body, struct pb_state *s)
{
    char err[256] = "x";
    int rc = pb_parse(body, strlen(body), s, err, sizeof err);

    if (rc == 0) {
        assert_string_equal(err, "");
        /* the forms only on demand (pb_state_forms; pb_diff for its events) */
        assert_null(s->track);
        assert_null(s->device);
        assert_int_equal(pb_state_forms(s), 0);
    } else
        print_error("unexpected parse error: %s\n", err);
    return rc;
}

/* parse_err parses body expecting failure and checks err and out. */
static void parse_err(const char *body, const char *want_err)
{
    struct pb_state s;
    char err[256] = "";

    memset(&s, 0x5a, sizeof s); /* pb_parse must initialise out */
    assert_int_equal(pb_parse(body, strlen(body), &s, err, sizeof err), -1);
    if (strstr(err, want_err) == NULL)
        fail_msg("body %s: err \"%s\" lacks \"%s\"", body, err, want_err);
    assert_int_equal(s.known, 0);
    assert_null(s.item_key);
    assert_null(s.device_id);
    assert_null(s.track);
    assert_null(s.device);
    assert_null(s.forms);
    pb_state_free(&s);
}

static cJSON *jparse(const char *text)
{
    cJSON *j = cJSON_Parse(text);

    assert_non_null(j);
    return j;
}

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static int jnull(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    assert_non_null(v); /* the key must be there */
    return cJSON_IsNull(v);
}

static double jnum(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static int jbool(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    assert_true(cJSON_IsBool(v));
    return cJSON_IsTrue(v);
}

/* ------------------------------------------------------------- parse */

static void test_parse_track(void **st)
{
    struct pb_state s;
    const cJSON *a;
    (void)st;

    assert_int_equal(parse_ok(TRACK_BODY, &s), 0);
    assert_int_equal(s.known, 1);
    assert_int_equal(s.present, 1);
    assert_int_equal(s.is_playing, 1);
    assert_int_equal(s.progress_ms, 12345);
    assert_int_equal(s.duration_ms, 180000);
    assert_string_equal(s.kind, "track");
    assert_string_equal(s.item_key, "t1");
    assert_string_equal(s.device_id, "dev1");
    assert_string_equal(jstr(s.track, "id"), "t1");
    assert_string_equal(jstr(s.track, "uri"), "spotify:track:t1");
    assert_string_equal(jstr(s.track, "name"), "Come Together");
    assert_string_equal(jstr(s.track, "album"), "Abbey Road");
    assert_string_equal(jstr(s.track, "type"), "track");
    assert_int_equal(jnum(s.track, "duration_ms"), 180000);
    assert_false(jbool(s.track, "is_local"));
    a = cJSON_GetObjectItemCaseSensitive(s.track, "artists");
    assert_int_equal(cJSON_GetArraySize(a), 2);
    assert_string_equal(cJSON_GetArrayItem(a, 0)->valuestring, "The Beatles");
    assert_string_equal(cJSON_GetArrayItem(a, 1)->valuestring, "Guest");
    assert_int_equal(cJSON_GetArraySize(s.track), 8); /* exactly the event form */
    assert_string_equal(jstr(s.device, "id"), "dev1");
    assert_string_equal(jstr(s.device, "name"), "Kitchen");
    assert_string_equal(jstr(s.device, "type"), "Speaker");
    assert_int_equal(cJSON_GetArraySize(s.device), 3);
    pb_state_free(&s);
    assert_int_equal(s.known, 0);
    pb_state_free(&s); /* twice is fine */
}

/* /me/player's shuffle_state and repeat_state reach the state (and its
 * events); absent, of another type or unknown they stay unknown and never
 * fail the parse. */
static void test_parse_player_modes(void **st)
{
    struct pb_state s;
    struct sw_event ev[4];
    (void)st;

    assert_int_equal(parse_ok("{\"is_playing\":true,\"progress_ms\":1,\"currently_playing_type\":\"ad\","
                              "\"shuffle_state\":true,\"repeat_state\":\"track\"}", &s), 0);
    assert_int_equal(s.shuffle, PB_SHUFFLE_ON);
    assert_string_equal(s.repeat, "track");
    assert_int_equal(pb_diff(NULL, &s, "u", 1, ev), 1);
    assert_non_null(strstr(ev[0].json, ",\"shuffle_state\":true,\"repeat_state\":\"track\"}"));
    sw_event_free(&ev[0]);
    pb_state_free(&s);
    assert_int_equal(parse_ok("{\"is_playing\":true,\"currently_playing_type\":\"ad\","
                              "\"shuffle_state\":false,\"repeat_state\":\"sideways-and-longer-than-any\"}", &s), 0);
    assert_int_equal(s.shuffle, PB_SHUFFLE_OFF);
    assert_string_equal(s.repeat, "");
    pb_state_free(&s);
    assert_int_equal(parse_ok("{\"is_playing\":true,\"currently_playing_type\":\"ad\","
                              "\"shuffle_state\":\"yes\",\"repeat_state\":3}", &s), 0);
    assert_int_equal(s.shuffle, PB_SHUFFLE_UNKNOWN);
    assert_string_equal(s.repeat, "");
    assert_int_equal(pb_diff(NULL, &s, "u", 1, ev), 1);
    assert_null(strstr(ev[0].json, "shuffle_state"));
    assert_null(strstr(ev[0].json, "repeat_state"));
    sw_event_free(&ev[0]);
    pb_state_free(&s);
}

static void test_parse_episode(void **st)
{
    struct pb_state s;
    const cJSON *a;
    (void)st;

    assert_int_equal(parse_ok(EPISODE_BODY, &s), 0);
    assert_int_equal(s.present, 1);
    assert_string_equal(s.kind, "episode");
    assert_string_equal(s.item_key, "e1");
    assert_null(s.device_id);
    assert_null(s.device);
    a = cJSON_GetObjectItemCaseSensitive(s.track, "artists");
    assert_int_equal(cJSON_GetArraySize(a), 1);
    assert_string_equal(cJSON_GetArrayItem(a, 0)->valuestring, "The Show");
    assert_string_equal(jstr(s.track, "album"), "The Show");
    assert_string_equal(jstr(s.track, "type"), "episode");
    assert_false(jbool(s.track, "is_local"));
    pb_state_free(&s);
}

static void test_parse_local_track(void **st)
{
    struct pb_state s;
    (void)st;

    assert_int_equal(parse_ok(LOCAL_BODY, &s), 0);
    assert_int_equal(s.present, 1);
    assert_string_equal(s.item_key, "spotify:local:Me:Demo:Song:200");
    assert_true(jnull(s.track, "id"));
    assert_true(jbool(s.track, "is_local"));
    assert_string_equal(jstr(s.track, "album"), "Demo");
    pb_state_free(&s);
}

static void test_parse_null_item(void **st)
{
    struct pb_state s;
    (void)st;

    /* An ad: present, kind and key "ad", placeholder track. */
    assert_int_equal(parse_ok(AD_BODY, &s), 0);
    assert_int_equal(s.present, 1);
    assert_int_equal(s.is_playing, 1);
    assert_string_equal(s.kind, "ad");
    assert_string_equal(s.item_key, "ad");
    assert_int_equal(s.duration_ms, 0);
    assert_int_equal(s.progress_ms, 3000); /* duration unknown: kept */
    assert_non_null(s.track);
    assert_true(jnull(s.track, "id"));
    assert_true(jnull(s.track, "uri"));
    assert_true(jnull(s.track, "name"));
    assert_true(jnull(s.track, "album"));
    assert_string_equal(jstr(s.track, "type"), "ad");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s.track, "artists")), 0);
    pb_state_free(&s);

    /* An episode asked for without additional_types, paused. */
    assert_int_equal(parse_ok("{\"is_playing\":false,\"item\":null,\"progress_ms\":1,"
                              "\"currently_playing_type\":\"episode\"}", &s), 0);
    assert_int_equal(s.present, 1);
    assert_int_equal(s.is_playing, 0);
    assert_string_equal(s.item_key, "episode");
    pb_state_free(&s);

    /* A "track" without its item contradicts itself: an error, not a change. */
    parse_err("{\"is_playing\":true,\"item\":null,\"currently_playing_type\":\"track\"}",
              "item: null although");

    /* Nothing identifiable and not playing: nothing. */
    assert_int_equal(parse_ok("{\"is_playing\":false,\"item\":null,"
                              "\"currently_playing_type\":null}", &s), 0);
    assert_int_equal(s.known, 1);
    assert_int_equal(s.present, 0);
    assert_string_equal(s.kind, "");
    assert_null(s.item_key);
    assert_null(s.track);
    pb_state_free(&s);
    assert_int_equal(parse_ok("{\"is_playing\":false,\"progress_ms\":5,"
                              "\"currently_playing_type\":\"unknown\"}", &s), 0);
    assert_int_equal(s.present, 0);
    assert_int_equal(s.progress_ms, 0);
    pb_state_free(&s);
    assert_int_equal(parse_ok("{}", &s), 0);
    assert_int_equal(s.known, 1);
    assert_int_equal(s.present, 0);
    pb_state_free(&s);

    /* Playing something unidentifiable: present, "unknown". */
    assert_int_equal(parse_ok("{\"is_playing\":true,\"item\":null}", &s), 0);
    assert_int_equal(s.present, 1);
    assert_string_equal(s.kind, "unknown");
    assert_string_equal(s.item_key, "unknown");
    pb_state_free(&s);

    /* A nothing-playing answer from /me/player can still name a device. */
    assert_int_equal(parse_ok("{\"is_playing\":false,\"item\":null,"
                              "\"device\":{\"id\":\"d\",\"name\":\"n\",\"type\":\"t\"}}", &s), 0);
    assert_int_equal(s.present, 0);
    assert_string_equal(s.device_id, "d");
    pb_state_free(&s);
}

static void test_parse_paused(void **st)
{
    struct pb_state s;
    (void)st;

    assert_int_equal(parse_ok("{\"is_playing\":false,\"progress_ms\":10,\"item\":{\"id\":\"t1\","
                              "\"type\":\"track\",\"duration_ms\":100}}", &s), 0);
    assert_int_equal(s.present, 1);
    assert_int_equal(s.is_playing, 0);
    assert_int_equal(s.progress_ms, 10);
    pb_state_free(&s);
}

static void test_parse_item_kinds_and_keys(void **st)
{
    struct pb_state s;
    (void)st;

    /* No item.type: currently_playing_type decides. */
    assert_int_equal(parse_ok("{\"is_playing\":true,\"currently_playing_type\":\"episode\","
                              "\"item\":{\"id\":\"e\",\"show\":{\"name\":\"S\"}}}", &s), 0);
    assert_string_equal(s.kind, "episode");
    assert_string_equal(jstr(s.track, "album"), "S");
    pb_state_free(&s);
    /* A future item type: "unknown", read like a track. */
    assert_int_equal(parse_ok("{\"is_playing\":true,\"currently_playing_type\":\"track\","
                              "\"item\":{\"id\":\"c\",\"type\":\"chapter\"}}", &s), 0);
    assert_string_equal(s.kind, "unknown");
    assert_string_equal(jstr(s.track, "type"), "unknown");
    pb_state_free(&s);
    /* No id nor uri: the kind is the key; "" ids count as none. */
    assert_int_equal(parse_ok("{\"is_playing\":true,\"item\":{\"id\":\"\",\"uri\":\"\","
                              "\"type\":\"track\"}}", &s), 0);
    assert_string_equal(s.item_key, "track");
    assert_true(jnull(s.track, "uri") == 0);
    pb_state_free(&s);
    /* Episode without show: no artists, album null. */
    assert_int_equal(parse_ok("{\"is_playing\":true,\"item\":{\"id\":\"e\",\"type\":\"episode\"}}",
                              &s), 0);
    assert_true(jnull(s.track, "album"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s.track, "artists")), 0);
    pb_state_free(&s);
    /* Artists with a null name are skipped. */
    assert_int_equal(parse_ok("{\"is_playing\":true,\"item\":{\"id\":\"t\",\"artists\":"
                              "[{\"name\":null},{\"name\":\"B\"},{}]}}", &s), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s.track, "artists")), 1);
    pb_state_free(&s);
}

static void test_parse_device_forms(void **st)
{
    struct pb_state s;
    (void)st;

    /* device.id null: the device is kept, the id is not. */
    assert_int_equal(parse_ok("{\"is_playing\":true,\"item\":{\"id\":\"t\"},"
                              "\"device\":{\"id\":null,\"name\":\"N\",\"type\":\"Phone\"}}", &s), 0);
    assert_null(s.device_id);
    assert_non_null(s.device);
    assert_true(jnull(s.device, "id"));
    assert_string_equal(jstr(s.device, "name"), "N");
    pb_state_free(&s);
    assert_int_equal(parse_ok("{\"is_playing\":true,\"item\":{\"id\":\"t\"},\"device\":null}",
                              &s), 0);
    assert_null(s.device_id);
    assert_null(s.device);
    pb_state_free(&s);
}

static void test_parse_clamps(void **st)
{
    struct pb_state s;
    (void)st;

    assert_int_equal(parse_ok("{\"is_playing\":true,\"progress_ms\":-50,"
                              "\"item\":{\"id\":\"t\",\"duration_ms\":1000}}", &s), 0);
    assert_int_equal(s.progress_ms, 0);
    pb_state_free(&s);
    assert_int_equal(parse_ok("{\"is_playing\":true,\"progress_ms\":5000,"
                              "\"item\":{\"id\":\"t\",\"duration_ms\":1000}}", &s), 0);
    assert_int_equal(s.progress_ms, 1000);
    pb_state_free(&s);
    assert_int_equal(parse_ok("{\"is_playing\":true,\"progress_ms\":5000,"
                              "\"item\":{\"id\":\"t\",\"duration_ms\":-3}}", &s), 0);
    assert_int_equal(s.duration_ms, 0);
    assert_int_equal(s.progress_ms, 5000);
    pb_state_free(&s);
    /* Huge and fractional numbers: no UB, clamped to a sane range. */
    assert_int_equal(parse_ok("{\"is_playing\":true,\"progress_ms\":1e300,"
                              "\"item\":{\"id\":\"t\",\"duration_ms\":1e999}}", &s), 0);
    assert_true(s.duration_ms > 0 && s.duration_ms <= 1000000000000000LL);
    assert_int_equal(s.progress_ms, s.duration_ms);
    pb_state_free(&s);
    assert_int_equal(parse_ok("{\"is_playing\":true,\"progress_ms\":10.7,"
                              "\"item\":{\"id\":\"t\",\"duration_ms\":20.2}}", &s), 0);
    assert_int_equal(s.progress_ms, 10);
    assert_int_equal(s.duration_ms, 20);
    pb_state_free(&s);
}

static void test_parse_unknown_fields(void **st)
{
    struct pb_state s;
    (void)st;

    assert_int_equal(parse_ok("{\"zzz\":[1,{\"a\":null}],\"is_playing\":true,\"timestamp\":\"x\","
                              "\"context\":7,\"item\":{\"id\":\"t\",\"extra\":{\"deep\":[]},"
                              "\"album\":{\"name\":\"A\",\"images\":\"not-an-array\"}},"
                              "\"device\":{\"id\":\"d\",\"volume_percent\":\"loud\"}}", &s), 0);
    assert_string_equal(s.item_key, "t");
    assert_string_equal(s.device_id, "d");
    pb_state_free(&s);
}

static void test_parse_malformed(void **st)
{
    struct pb_state s;
    char err[128];
    static const char *const truncated = TRACK_BODY;
    size_t cut;
    (void)st;

    parse_err("{", "body: invalid JSON");
    parse_err("{\"is_playing\":tru", "body: invalid JSON");
    parse_err("not json", "body: invalid JSON");
    parse_err("{\"a\":1} x", "trailing data");
    parse_err("{\"a\":1}{}", "trailing data");
    parse_err("[]", "body: not a JSON object");
    parse_err("null", "body: not a JSON object");
    parse_err("\"str\"", "body: not a JSON object");
    parse_err("42", "body: not a JSON object");
    /* Every truncation of a real body is an error, never a crash. */
    for (cut = 1; cut < strlen(truncated); cut++) {
        memset(&s, 0, sizeof s);
        assert_int_equal(pb_parse(truncated, cut, &s, err, sizeof err), -1);
        assert_int_equal(s.known, 0);
        pb_state_free(&s);
    }
    /* A small or absent err buffer is fine. */
    assert_int_equal(pb_parse("[", 1, &s, err, 4), -1);
    assert_int_equal(strlen(err), 3);
    assert_int_equal(pb_parse("[", 1, &s, NULL, 0), -1);
    /* Embedded NUL: the length is what counts. */
    assert_int_equal(pb_parse("{}\0{", 4, &s, err, sizeof err), -1);
}

static void test_parse_empty(void **st)
{
    struct pb_state s;
    char err[64];
    (void)st;

    assert_int_equal(pb_parse("", 0, &s, err, sizeof err), 0);
    assert_int_equal(s.known, 1);
    assert_int_equal(s.present, 0);
    pb_state_free(&s);
    assert_int_equal(pb_parse(" \r\n\t", 4, &s, err, sizeof err), 0);
    assert_int_equal(s.present, 0);
    pb_state_free(&s);
    assert_int_equal(pb_parse(NULL, 10, &s, err, sizeof err), 0);
    assert_int_equal(s.known, 1);
    pb_state_free(&s);
}

static void test_parse_wrong_types(void **st)
{
    static const struct {
        const char *body, *err;
    } cases[] = {
        {"{\"is_playing\":\"yes\"}", "is_playing: not a boolean"},
        {"{\"is_playing\":1}", "is_playing: not a boolean"},
        {"{\"progress_ms\":\"12\"}", "progress_ms: not a number"},
        {"{\"progress_ms\":true}", "progress_ms: not a number"},
        {"{\"currently_playing_type\":5}", "currently_playing_type: not a string"},
        {"{\"item\":\"t1\"}", "item: not an object"},
        {"{\"item\":[]}", "item: not an object"},
        {"{\"device\":\"d\"}", "device: not an object"},
        {"{\"device\":{\"id\":1}}", "device.id: not a string"},
        {"{\"device\":{\"name\":[]}}", "device.name: not a string"},
        {"{\"device\":{\"type\":{}}}", "device.type: not a string"},
        {"{\"item\":{\"id\":5}}", "item.id: not a string"},
        {"{\"item\":{\"uri\":false}}", "item.uri: not a string"},
        {"{\"item\":{\"name\":1}}", "item.name: not a string"},
        {"{\"item\":{\"type\":1}}", "item.type: not a string"},
        {"{\"item\":{\"duration_ms\":\"180000\"}}", "item.duration_ms: not a number"},
        {"{\"item\":{\"is_local\":\"false\"}}", "item.is_local: not a boolean"},
        {"{\"item\":{\"album\":\"A\"}}", "item.album: not an object"},
        {"{\"item\":{\"album\":{\"name\":2}}}", "item.album.name: not a string"},
        {"{\"item\":{\"artists\":{}}}", "item.artists: not an array"},
        {"{\"item\":{\"artists\":[\"A\"]}}", "item.artists[0]: not an object"},
        {"{\"item\":{\"artists\":[{\"name\":\"a\"},{\"name\":3}]}}",
         "item.artists[1].name: not a string"},
        {"{\"item\":{\"type\":\"episode\",\"show\":\"S\"}}", "item.show: not an object"},
        {"{\"item\":{\"type\":\"episode\",\"show\":{\"name\":true}}}",
         "item.show.name: not a string"},
    };
    size_t i;
    (void)st;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        parse_err(cases[i].body, cases[i].err);
}

static void test_parse_long_keys(void **st)
{
    char body[4096], uri[1200];
    struct pb_state a, b;
    char *enc;
    size_t i;
    (void)st;

    /* Two long local uris differing only at the end. */
    strcpy(uri, "spotify:local:");
    for (i = strlen(uri); i < 1000; i++)
        uri[i] = 'x';
    uri[i] = '\0';
    snprintf(body, sizeof body, "{\"is_playing\":true,\"item\":{\"uri\":\"%sA\"},"
             "\"device\":{\"id\":\"%s\"}}", uri, uri);
    assert_int_equal(parse_ok(body, &a), 0);
    snprintf(body, sizeof body, "{\"is_playing\":true,\"item\":{\"uri\":\"%sB\"}}", uri);
    assert_int_equal(parse_ok(body, &b), 0);
    assert_true(strlen(a.item_key) <= PB_KEY_MAX);
    assert_true(strlen(a.device_id) <= PB_KEY_MAX);
    assert_string_not_equal(a.item_key, b.item_key);
    assert_memory_equal(a.item_key, uri, 100);
    enc = pb_state_encode(&a);
    assert_true(strlen(enc) < 512); /* the Redis budget is 1 KiB per user */
    free(enc);
    pb_state_free(&a);
    pb_state_free(&b);

    /* Multi-byte UTF-8 is not cut inside a sequence; quotes count escaped. */
    body[0] = '\0';
    strcat(body, "{\"is_playing\":true,\"item\":{\"uri\":\"");
    for (i = 0; i < 200; i++)
        strcat(body, "\xc3\xa9\\\"");
    strcat(body, "\"}}");
    assert_int_equal(parse_ok(body, &a), 0);
    enc = pb_state_encode(&a);
    {
        cJSON *j = jparse(enc);
        const char *k = jstr(j, "k");
        size_t n = strchr(k, '#') - k;

        assert_true(n > 0);
        assert_true(((unsigned char)k[n - 1] & 0xC0) != 0xC0); /* no dangling lead byte */
        assert_true(strlen(enc) < 512);
        cJSON_Delete(j);
    }
    free(enc);
    pb_state_free(&a);
}

/* ------------------------------------------------------ encode/decode */

static void assert_same_state(const struct pb_state *a, const struct pb_state *b)
{
    assert_int_equal(a->known, b->known);
    assert_int_equal(a->present, b->present);
    assert_int_equal(a->is_playing, b->is_playing);
    assert_int_equal(a->progress_ms, b->progress_ms);
    assert_int_equal(a->duration_ms, b->duration_ms);
    assert_string_equal(a->kind, b->kind);
    if (a->item_key == NULL || b->item_key == NULL)
        assert_ptr_equal(a->item_key, b->item_key);
    else
        assert_string_equal(a->item_key, b->item_key);
    if (a->device_id == NULL || b->device_id == NULL)
        assert_ptr_equal(a->device_id, b->device_id);
    else
        assert_string_equal(a->device_id, b->device_id);
}

static void roundtrip(const struct pb_state *s)
{
    struct pb_state d;
    char *enc = pb_state_encode(s);
    struct sw_event ev[PB_MAX_EVENTS];

    assert_non_null(enc);
    assert_int_equal(pb_state_decode(enc, &d), 0);
    assert_same_state(s, &d);
    assert_null(d.track);
    assert_null(d.device);
    /* Decoded vs. original: nothing changed, so nothing to publish. */
    assert_int_equal(pb_diff(&d, s, "u", 1, ev), 0);
    pb_state_free(&d);
    free(enc);
}

static void test_encode_format(void **st)
{
    struct pb_state s;
    char *enc;
    (void)st;

    assert_int_equal(parse_ok(TRACK_BODY, &s), 0);
    enc = pb_state_encode(&s);
    assert_string_equal(enc, "{\"v\":1,\"p\":1,\"pl\":1,\"k\":\"t1\",\"kd\":\"track\","
                             "\"d\":\"dev1\",\"pr\":12345,\"du\":180000}");
    free(enc);
    pb_state_free(&s);
    pb_nothing(&s);
    enc = pb_state_encode(&s);
    assert_string_equal(enc, "{\"v\":1,\"p\":0}");
    free(enc);
    memset(&s, 0, sizeof s);
    enc = pb_state_encode(&s);
    assert_string_equal(enc, "{\"v\":1}");
    free(enc);
}

static void test_encode_roundtrip(void **st)
{
    static const char *const bodies[] = {
        TRACK_BODY, EPISODE_BODY, LOCAL_BODY, AD_BODY,
        "{\"is_playing\":false,\"progress_ms\":10,\"item\":{\"id\":\"t\",\"duration_ms\":99}}",
        "{\"is_playing\":false,\"device\":{\"id\":\"dv\"}}",
        ("{\"is_playing\":true,\"progress_ms\":1e300,\"item\":{\"id\":\"q\\\"\\\\\\n\","
         "\"duration_ms\":1e300}}"),
        "",
    };
    struct pb_state s;
    size_t i;
    (void)st;

    for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        assert_int_equal(parse_ok(bodies[i], &s), 0);
        roundtrip(&s);
        pb_state_free(&s);
    }
    memset(&s, 0, sizeof s);
    roundtrip(&s); /* known=0 */
}

static void test_decode_garbage(void **st)
{
    static const char *const bad[] = {
        "x", "{", "[]", "{}", "{\"v\":2,\"p\":0}", "{\"v\":\"1\",\"p\":0}",
        "{\"v\":1,\"p\":2}", "{\"v\":1,\"p\":\"1\"}",
        "{\"v\":1,\"p\":1}", /* missing fields */
        "{\"v\":1,\"p\":1,\"pl\":1,\"k\":5,\"kd\":\"track\",\"pr\":0,\"du\":0}",
        "{\"v\":1,\"p\":1,\"pl\":1,\"k\":\"a\",\"kd\":\"0123456789abcdef\",\"pr\":0,\"du\":0}",
        "{\"v\":1,\"p\":1,\"pl\":1,\"k\":\"a\",\"kd\":\"track\",\"pr\":-1,\"du\":0}",
        "{\"v\":1,\"p\":1,\"pl\":1,\"k\":\"a\",\"kd\":\"track\",\"pr\":1.5,\"du\":0}",
        "{\"v\":1,\"p\":1,\"pl\":1,\"k\":\"a\",\"kd\":\"track\",\"pr\":0,\"du\":1e300}",
        "{\"v\":1,\"p\":1,\"pl\":3,\"k\":\"a\",\"kd\":\"track\",\"pr\":0,\"du\":0}",
        "{\"v\":1,\"p\":1,\"pl\":1,\"k\":\"a\",\"kd\":\"track\",\"d\":7,\"pr\":0,\"du\":0}",
        "{\"v\":1,\"p\":0,\"d\":\"\"}",
    };
    struct pb_state s;
    size_t i;
    (void)st;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&s, 0x5a, sizeof s);
        if (pb_state_decode(bad[i], &s) != -1)
            fail_msg("decoded garbage: %s", bad[i]);
        assert_int_equal(s.known, 0);
        assert_null(s.item_key);
        assert_null(s.device_id);
    }
    assert_int_equal(pb_state_decode(NULL, &s), 0);
    assert_int_equal(s.known, 0);
    assert_int_equal(pb_state_decode("", &s), 0);
    assert_int_equal(s.known, 0);
    /* Unknown extra fields in the stored form are tolerated. */
    assert_int_equal(pb_state_decode("{\"v\":1,\"p\":0,\"future\":[1]}", &s), 0);
    assert_int_equal(s.known, 1);
    pb_state_free(&s);
}

/* ---------------------------------------------------------------- diff */

struct evs {
    int n;
    struct sw_event e[PB_MAX_EVENTS];
    cJSON *j[PB_MAX_EVENTS];
};

static void diff(const struct pb_state *prev, const struct pb_state *cur, struct evs *ev)
{
    static const char *const keys[] = {"type", "user", "at", "is_playing", "progress_ms",
                                       "track", "device", "previous_track_id"};
    int i;
    size_t k;

    memset(ev, 0, sizeof *ev);
    ev->n = pb_diff(prev, cur, "user-1", 1700000000123LL, ev->e);
    assert_in_range(ev->n, 0, PB_MAX_EVENTS);
    for (i = 0; i < ev->n; i++) {
        ev->j[i] = jparse(ev->e[i].json);
        for (k = 0; k < sizeof keys / sizeof keys[0]; k++)
            assert_non_null(cJSON_GetObjectItemCaseSensitive(ev->j[i], keys[k]));
        assert_int_equal(cJSON_GetArraySize(ev->j[i]), 8);
        assert_string_equal(jstr(ev->j[i], "user"), "user-1");
        assert_true(jnum(ev->j[i], "at") == 1700000000123.0);
    }
}

static void evs_free(struct evs *ev)
{
    int i;

    for (i = 0; i < ev->n; i++) {
        sw_event_free(&ev->e[i]);
        cJSON_Delete(ev->j[i]);
    }
    ev->n = 0;
}

static void st_make(struct pb_state *s, const char *key, int playing, const char *dev)
{
    char body[512];

    if (key == NULL) {
        snprintf(body, sizeof body, "{\"is_playing\":false%s%s%s}",
                 dev ? ",\"device\":{\"id\":\"" : "", dev ? dev : "", dev ? "\"}" : "");
    } else {
        snprintf(body, sizeof body, "{\"is_playing\":%s,\"progress_ms\":7,\"item\":{\"id\":\"%s\","
                 "\"name\":\"N-%s\",\"duration_ms\":1000}%s%s%s}", playing ? "true" : "false",
                 key, key, dev ? ",\"device\":{\"id\":\"" : "", dev ? dev : "",
                 dev ? "\",\"name\":\"Dev\",\"type\":\"Phone\"}" : "");
    }
    assert_int_equal(parse_ok(body, s), 0);
}

/* st_stored gives what the worker reads back from Redis for s. */
static void st_stored(const struct pb_state *s, struct pb_state *out)
{
    char *enc = pb_state_encode(s);

    assert_int_equal(pb_state_decode(enc, out), 0);
    free(enc);
}

static void test_diff_started(void **st)
{
    struct pb_state unknown, nothing, cur;
    struct evs ev;
    const cJSON *t;
    (void)st;

    memset(&unknown, 0, sizeof unknown);
    pb_nothing(&nothing);
    st_make(&cur, "t1", 1, "d1");
    diff(&unknown, &cur, &ev);
    assert_int_equal(ev.n, 1);
    assert_string_equal(jstr(ev.j[0], "type"), "playback_started");
    assert_true(jbool(ev.j[0], "is_playing"));
    assert_int_equal(jnum(ev.j[0], "progress_ms"), 7);
    t = cJSON_GetObjectItemCaseSensitive(ev.j[0], "track");
    assert_string_equal(jstr(t, "id"), "t1");
    assert_string_equal(jstr(t, "name"), "N-t1");
    assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(ev.j[0], "device"), "id"), "d1");
    assert_true(jnull(ev.j[0], "previous_track_id"));
    evs_free(&ev);
    diff(NULL, &cur, &ev); /* NULL prev counts as unknown */
    assert_int_equal(ev.n, 1);
    evs_free(&ev);
    diff(&nothing, &cur, &ev);
    assert_int_equal(ev.n, 1);
    assert_string_equal(jstr(ev.j[0], "type"), "playback_started");
    evs_free(&ev);
    /* Started paused is still started. */
    pb_state_free(&cur);
    st_make(&cur, "t1", 0, NULL);
    diff(&nothing, &cur, &ev);
    assert_int_equal(ev.n, 1);
    assert_false(jbool(ev.j[0], "is_playing"));
    assert_true(jnull(ev.j[0], "device"));
    evs_free(&ev);
    pb_state_free(&cur);
}

static void test_diff_nothing_cases(void **st)
{
    struct pb_state unknown, nothing, nothing2, cur;
    struct evs ev;
    (void)st;

    memset(&unknown, 0, sizeof unknown);
    pb_nothing(&nothing);
    pb_nothing(&nothing2);
    diff(&unknown, &nothing, &ev); /* first observation of nothing */
    assert_int_equal(ev.n, 0);
    diff(&nothing, &nothing2, &ev);
    assert_int_equal(ev.n, 0);
    st_make(&cur, "t1", 1, NULL);
    diff(&cur, &unknown, &ev); /* cur unknown: nothing to say */
    assert_int_equal(ev.n, 0);
    diff(&cur, NULL, &ev);
    assert_int_equal(ev.n, 0);
    pb_state_free(&cur);
}

static void test_diff_stopped(void **st)
{
    struct pb_state prev, stored, cur;
    struct evs ev;
    (void)st;

    st_make(&prev, "t1", 1, "d1");
    st_stored(&prev, &stored);
    pb_nothing(&cur);
    diff(&stored, &cur, &ev);
    assert_int_equal(ev.n, 1);
    assert_string_equal(jstr(ev.j[0], "type"), "playback_stopped");
    assert_true(jnull(ev.j[0], "track"));
    assert_false(jbool(ev.j[0], "is_playing"));
    assert_true(jnull(ev.j[0], "device")); /* a 204 names no device */
    assert_string_equal(jstr(ev.j[0], "previous_track_id"), "t1");
    evs_free(&ev);
    /* Stopped from paused too. */
    pb_state_free(&prev);
    pb_state_free(&stored);
    st_make(&prev, "t1", 0, NULL);
    diff(&prev, &cur, &ev);
    assert_int_equal(ev.n, 1);
    assert_string_equal(jstr(ev.j[0], "type"), "playback_stopped");
    evs_free(&ev);
    pb_state_free(&prev);
}

static void test_diff_track_changed(void **st)
{
    struct pb_state prev, stored, cur;
    struct evs ev;
    const cJSON *t;
    (void)st;

    st_make(&prev, "t1", 1, "d1");
    st_stored(&prev, &stored);
    assert_null(stored.track);
    st_make(&cur, "t2", 1, "d1");
    diff(&stored, &cur, &ev);
    assert_int_equal(ev.n, 1);
    assert_string_equal(jstr(ev.j[0], "type"), "track_changed");
    assert_string_equal(jstr(ev.j[0], "previous_track_id"), "t1");
    t = cJSON_GetObjectItemCaseSensitive(ev.j[0], "track");
    assert_string_equal(jstr(t, "id"), "t2");
    evs_free(&ev);
    pb_state_free(&cur);
    /* Changing while paused, or from an ad, is still track_changed. */
    st_make(&cur, "t2", 0, NULL);
    diff(&stored, &cur, &ev);
    assert_int_equal(ev.n, 1);
    assert_string_equal(jstr(ev.j[0], "type"), "track_changed");
    evs_free(&ev);
    pb_state_free(&cur);
    pb_state_free(&prev);
    pb_state_free(&stored);
    assert_int_equal(parse_ok(AD_BODY, &prev), 0);
    st_make(&cur, "t2", 1, NULL);
    diff(&prev, &cur, &ev);
    assert_int_equal(ev.n, 1);
    assert_string_equal(jstr(ev.j[0], "type"), "track_changed");
    assert_string_equal(jstr(ev.j[0], "previous_track_id"), "ad");
    evs_free(&ev);
    pb_state_free(&cur);
    pb_state_free(&prev);
}

static void test_diff_pause_resume(void **st)
{
    struct pb_state playing, paused, stored;
    struct evs ev;
    (void)st;

    st_make(&playing, "t1", 1, "d1");
    st_make(&paused, "t1", 0, "d1");
    st_stored(&playing, &stored);
    diff(&stored, &paused, &ev);
    assert_int_equal(ev.n, 1);
    assert_string_equal(jstr(ev.j[0], "type"), "playback_paused");
    assert_false(jbool(ev.j[0], "is_playing"));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(ev.j[0], "track"));
    assert_false(jnull(ev.j[0], "track"));
    assert_true(jnull(ev.j[0], "previous_track_id"));
    evs_free(&ev);
    pb_state_free(&stored);
    st_stored(&paused, &stored);
    diff(&stored, &playing, &ev);
    assert_int_equal(ev.n, 1);
    assert_string_equal(jstr(ev.j[0], "type"), "playback_resumed");
    assert_true(jbool(ev.j[0], "is_playing"));
    evs_free(&ev);
    pb_state_free(&stored);
    pb_state_free(&playing);
    pb_state_free(&paused);
}

static void test_diff_device_changed(void **st)
{
    struct pb_state a, b, c, none, stored;
    struct evs ev;
    (void)st;

    st_make(&a, "t1", 1, "d1");
    st_make(&b, "t1", 1, "d2");
    st_make(&c, "t2", 0, "d3");
    st_make(&none, "t1", 1, NULL);
    st_stored(&a, &stored);
    diff(&stored, &b, &ev); /* device only */
    assert_int_equal(ev.n, 1);
    assert_string_equal(jstr(ev.j[0], "type"), "device_changed");
    assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(ev.j[0], "device"), "id"), "d2");
    assert_false(jnull(ev.j[0], "track"));
    evs_free(&ev);
    diff(&stored, &c, &ev); /* track and device: device_changed comes after */
    assert_int_equal(ev.n, 2);
    assert_string_equal(jstr(ev.j[0], "type"), "track_changed");
    assert_string_equal(jstr(ev.j[1], "type"), "device_changed");
    evs_free(&ev);
    /* No device on one side (currently-playing omits it): no change. */
    diff(&stored, &none, &ev);
    assert_int_equal(ev.n, 0);
    diff(&none, &b, &ev);
    assert_int_equal(ev.n, 0);
    pb_state_free(&stored);
    pb_state_free(&a);
    pb_state_free(&b);
    pb_state_free(&c);
    pb_state_free(&none);

    /* Nothing on d1 -> started on d2: both events. */
    st_make(&a, NULL, 0, "d1");
    st_make(&b, "t1", 1, "d2");
    st_stored(&a, &stored);
    diff(&stored, &b, &ev);
    assert_int_equal(ev.n, 2);
    assert_string_equal(jstr(ev.j[0], "type"), "playback_started");
    assert_string_equal(jstr(ev.j[1], "type"), "device_changed");
    evs_free(&ev);
    pb_state_free(&stored);
    pb_state_free(&a);
    pb_state_free(&b);
}

static void test_diff_identical_states(void **st)
{
    static const char *const bodies[] = {TRACK_BODY, EPISODE_BODY, LOCAL_BODY, AD_BODY, "",
                                         "{\"is_playing\":false,\"item\":{\"id\":\"t\"}}"};
    struct pb_state a, b;
    struct evs ev;
    size_t i;
    (void)st;

    for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        assert_int_equal(parse_ok(bodies[i], &a), 0);
        assert_int_equal(parse_ok(bodies[i], &b), 0);
        diff(&a, &b, &ev);
        assert_int_equal(ev.n, 0);
        pb_state_free(&a);
        pb_state_free(&b);
    }
    /* Progress moving on is not a change. */
    st_make(&a, "t1", 1, "d1");
    st_make(&b, "t1", 1, "d1");
    b.progress_ms = 900;
    diff(&a, &b, &ev);
    assert_int_equal(ev.n, 0);
    pb_state_free(&a);
    pb_state_free(&b);
}

static void test_diff_null_user(void **st)
{
    struct pb_state cur;
    struct sw_event e[PB_MAX_EVENTS];
    cJSON *j;
    (void)st;

    st_make(&cur, "t1", 1, NULL);
    assert_int_equal(pb_diff(NULL, &cur, NULL, 5, e), 1);
    j = jparse(e[0].json);
    assert_true(jnull(j, "user"));
    cJSON_Delete(j);
    sw_event_free(&e[0]);
    pb_state_free(&cur);
}

static void test_event_simple(void **st)
{
    struct sw_event e;
    cJSON *j;
    (void)st;

    e = sw_event_status("reauth_required", "user-1", 1700000000123LL,
                        "the refresh token was revoked \"quoted\"");
    j = jparse(e.json);
    assert_string_equal(jstr(j, "type"), "reauth_required");
    assert_string_equal(jstr(j, "user"), "user-1");
    assert_true(jnum(j, "at") == 1700000000123.0);
    assert_string_equal(jstr(j, "reason"), "the refresh token was revoked \"quoted\"");
    assert_int_equal(cJSON_GetArraySize(j), 4);
    cJSON_Delete(j);
    sw_event_free(&e);
    e = sw_event_status("x", NULL, 0, NULL);
    j = jparse(e.json);
    assert_true(jnull(j, "user"));
    assert_true(jnull(j, "reason"));
    cJSON_Delete(j);
    sw_event_free(&e);
}

/* ------------------------------------------------------------- polling */

static void test_delay_playing(void **st)
{
    struct pb_state s;
    (void)st;

    memset(&s, 0, sizeof s);
    s.known = s.present = s.is_playing = 1;
    s.duration_ms = 180000;
    s.progress_ms = 0;
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, 0), 5000);
    s.progress_ms = 178000; /* 2 s left: poll just after the end */
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, 0), 2500);
    s.progress_ms = 180000; /* at the end: the floor */
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, 0), 500);
    assert_int_equal(pb_next_delay_ms(&s, 100, 15000, 60000, 120000, 0), 250);
    s.duration_ms = 0; /* unknown duration */
    s.progress_ms = 10;
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, 7), 5000);
    /* idle_polls does not matter while playing. */
    s.duration_ms = 180000;
    s.progress_ms = 0;
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, 9), 5000);
    /* Hand-built extremes: no overflow. */
    s.duration_ms = LLONG_MAX;
    s.progress_ms = -5;
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, 0), 5000);
    s.progress_ms = LLONG_MAX;
    s.duration_ms = 10;
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, 0), 500);
}

static void test_delay_paused_idle_unknown(void **st)
{
    struct pb_state s;
    (void)st;

    memset(&s, 0, sizeof s);
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, 3), 5000);
    assert_int_equal(pb_next_delay_ms(NULL, 5000, 15000, 60000, 120000, 3), 5000);
    s.known = 1; /* nothing */
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, 0), 5000);
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, 1), 10000);
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, 4), 80000);
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, 5), 120000);
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, INT_MAX), 120000);
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, LLONG_MAX, 200), LLONG_MAX);
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, -4), 5000);
    s.present = 1; /* paused */
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, 0), 15000);
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, 1), 30000);
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, 2), 60000);
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, 3), 60000);
    assert_int_equal(pb_next_delay_ms(&s, 5000, 15000, 60000, 120000, INT_MAX), 60000);
    assert_int_equal(pb_next_delay_ms(&s, 5000, LLONG_MAX / 2 + 1, LLONG_MAX, 1, 3), LLONG_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_track),
        cmocka_unit_test(test_parse_player_modes),
        cmocka_unit_test(test_parse_episode),
        cmocka_unit_test(test_parse_local_track),
        cmocka_unit_test(test_parse_null_item),
        cmocka_unit_test(test_parse_paused),
        cmocka_unit_test(test_parse_item_kinds_and_keys),
        cmocka_unit_test(test_parse_device_forms),
        cmocka_unit_test(test_parse_clamps),
        cmocka_unit_test(test_parse_unknown_fields),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_parse_empty),
        cmocka_unit_test(test_parse_wrong_types),
        cmocka_unit_test(test_parse_long_keys),
        cmocka_unit_test(test_encode_format),
        cmocka_unit_test(test_encode_roundtrip),
        cmocka_unit_test(test_decode_garbage),
        cmocka_unit_test(test_diff_started),
        cmocka_unit_test(test_diff_nothing_cases),
        cmocka_unit_test(test_diff_stopped),
        cmocka_unit_test(test_diff_track_changed),
        cmocka_unit_test(test_diff_pause_resume),
        cmocka_unit_test(test_diff_device_changed),
        cmocka_unit_test(test_diff_identical_states),
        cmocka_unit_test(test_diff_null_user),
        cmocka_unit_test(test_event_simple),
        cmocka_unit_test(test_delay_playing),
        cmocka_unit_test(test_delay_paused_idle_unknown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
