/* test_flap: events that do not flap (include/spotify/flap.h): which
 * changes are announced at once, which are held for the next poll, which a
 * next poll confirms or drops; the stored record's text (encode/decode); and
 * the confirmation poll's delay (decide_confirm_poll). Every step goes
 * through the record's text, as in the worker (state field -> decode ->
 * settle -> encode -> state field). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotify/flap.h"
#include "worker/decide.h"

#define T0 1796000000000LL   /* a wall clock reading (ms) */
#define MIN 60000LL
#define DUR (3 * MIN)        /* every track lasts 3 minutes */

/* user: one user's stored text and what the last poll gave. */
struct user {
    char *text;                 /* the state field; NULL = none */
    enum flap_verdict v;
    char types[256];            /* the events' types, space-separated */
    char last_event[1024];      /* the last event's JSON */
};

static struct pb_state playing(const char *key, int is_playing, long long progress_ms, const char *dev)
{
    struct pb_state s;

    memset(&s, 0, sizeof s);
    s.known = s.present = 1;
    s.is_playing = is_playing;
    s.progress_ms = progress_ms;
    s.duration_ms = DUR;
    snprintf(s.kind, sizeof s.kind, "track");
    s.item_key = strdup(key);
    if (dev != NULL) {
        s.device_id = strdup(dev);
        s.device = cJSON_CreateObject();
        cJSON_AddStringToObject(s.device, "id", dev);
    }
    return s;
}

static struct pb_state nothing(void)
{
    struct pb_state s;

    pb_nothing(&s);
    return s;
}

/* opaque: item null with currently_playing_type "unknown", as pb_parse
 * reads it. */
static struct pb_state opaque(int is_playing)
{
    struct pb_state s;
    const char *body = is_playing ? "{\"is_playing\":true,\"item\":null,\"currently_playing_type\":\"unknown\"}"
                                  : "{\"is_playing\":false,\"item\":null,\"currently_playing_type\":\"unknown\"}";
    char err[128];

    assert_int_equal(pb_parse(body, strlen(body), &s, err, sizeof err), 0);
    assert_true(s.opaque);
    return s;
}

/* poll: one poll of u seeing cur at now_ms. */
static enum flap_verdict poll_at(struct user *u, struct pb_state cur, long long now_ms, int confirm)
{
    struct flap_record rec;
    struct sw_event ev[PB_MAX_EVENTS];
    int n = -1;

    assert_int_equal(flap_record_decode(u->text, &rec), 0);
    u->v = flap_settle(&rec, &cur, now_ms, confirm, "u", ev, &n);
    assert_false(cur.known);   /* moved or freed */
    assert_null(cur.item_key);
    u->types[0] = '\0';
    for (int i = 0; i < n; i++) {
        assert_non_null(ev[i].json);
        if (i)
            strcat(u->types, " ");
        strcat(u->types, ev[i].type);
        snprintf(u->last_event, sizeof u->last_event, "%s", ev[i].json);
        sw_event_free(&ev[i]);
    }
    free(u->text);
    u->text = flap_record_encode(&rec);
    assert_non_null(u->text);
    flap_record_free(&rec);
    return u->v;
}

static enum flap_verdict poll(struct user *u, struct pb_state cur, long long now_ms)
{
    return poll_at(u, cur, now_ms, 1);
}

static int has_pending(const struct user *u)
{
    return u->text != NULL && strstr(u->text, "\"q\":") != NULL;
}

static void user_free(struct user *u)
{
    free(u->text);
    u->text = NULL;
}

/* ------------------------------------------------------ announced at once */

static void test_first_observation_and_start(void **st)
{
    struct user u = {0};
    (void)st;
    assert_int_equal(poll(&u, nothing(), T0), FLAP_SAME);        /* first of nothing: no event */
    assert_string_equal(u.types, "");
    assert_int_equal(poll(&u, playing("a", 1, 0, "d1"), T0 + 1000), FLAP_ANNOUNCED);
    assert_string_equal(u.types, "playback_started");
    assert_false(has_pending(&u));
    user_free(&u);

    /* A first observation of something playing: at once too. */
    assert_int_equal(poll(&u, playing("a", 1, 5000, "d1"), T0), FLAP_ANNOUNCED);
    assert_string_equal(u.types, "playback_started");
    user_free(&u);
}

static void test_resume_and_stop_while_paused_at_once(void **st)
{
    struct user u = {0};
    (void)st;
    poll(&u, playing("a", 0, 5000, "d1"), T0);
    assert_int_equal(poll(&u, playing("a", 1, 5000, "d1"), T0 + 1000), FLAP_ANNOUNCED);
    assert_string_equal(u.types, "playback_resumed");
    poll(&u, playing("a", 0, 6000, "d1"), T0 + 2000);   /* a pause: held */
    poll(&u, playing("a", 0, 6000, "d1"), T0 + 3500);   /* confirmed */
    assert_string_equal(u.types, "playback_paused");
    /* Spotify answers 204 a while after a pause: expected, not a flap. */
    assert_int_equal(poll(&u, nothing(), T0 + 60000), FLAP_ANNOUNCED);
    assert_string_equal(u.types, "playback_stopped");
    user_free(&u);
}

static void test_natural_end_at_once(void **st)
{
    struct user u = {0};
    (void)st;
    poll(&u, playing("a", 1, DUR - 5000, "d1"), T0);
    /* 5.5 s later the track is over by the clock: the next one is no skip. */
    assert_int_equal(poll(&u, playing("b", 1, 500, "d1"), T0 + 5500), FLAP_ANNOUNCED);
    assert_string_equal(u.types, "track_changed");
    assert_non_null(strstr(u.last_event, "\"previous_track_id\":\"a\""));
    /* Within FLAP_END_SLACK_MS of the end counts as the end. */
    poll(&u, playing("b", 1, DUR - 10000, "d1"), T0 + 6000);
    assert_int_equal(poll(&u, playing("c", 1, 0, "d1"), T0 + 6000 + 10000 - FLAP_END_SLACK_MS), FLAP_ANNOUNCED);
    assert_string_equal(u.types, "track_changed");
    user_free(&u);
}

/* ------------------------------------------------------------------ held */

static void test_transient_204_dropped(void **st)
{
    struct user u = {0};
    (void)st;
    poll(&u, playing("a", 1, 1000, "d1"), T0);
    assert_int_equal(poll(&u, nothing(), T0 + 2000), FLAP_HELD);
    assert_string_equal(u.types, "");
    assert_true(has_pending(&u));
    assert_int_equal(poll(&u, playing("a", 1, 4500, "d1"), T0 + 3500), FLAP_DROPPED);
    assert_string_equal(u.types, "");
    assert_false(has_pending(&u));
    user_free(&u);
}

static void test_real_stop_confirmed(void **st)
{
    struct user u = {0};
    (void)st;
    poll(&u, playing("a", 1, 1000, "d1"), T0);
    assert_int_equal(poll(&u, nothing(), T0 + 2000), FLAP_HELD);
    assert_int_equal(poll(&u, nothing(), T0 + 3500), FLAP_CONFIRMED);
    assert_string_equal(u.types, "playback_stopped");
    assert_non_null(strstr(u.last_event, "\"previous_track_id\":\"a\""));
    assert_false(has_pending(&u));
    assert_int_equal(poll(&u, nothing(), T0 + 5000), FLAP_SAME);   /* announced once */
    assert_string_equal(u.types, "");
    user_free(&u);
}

static void test_pause_held_then_confirmed_or_dropped(void **st)
{
    struct user u = {0};
    (void)st;
    poll(&u, playing("a", 1, 1000, "d1"), T0);
    assert_int_equal(poll(&u, playing("a", 0, 3000, "d1"), T0 + 2000), FLAP_HELD);
    assert_int_equal(poll(&u, playing("a", 0, 3000, "d1"), T0 + 3500), FLAP_CONFIRMED);
    assert_string_equal(u.types, "playback_paused");
    user_free(&u);

    /* end_paused: the previous track at its end, paused, after a natural
     * change: dropped, and the change announced at once. */
    poll(&u, playing("a", 1, DUR - 3000, "d1"), T0);
    assert_int_equal(poll(&u, playing("a", 0, DUR, "d1"), T0 + 3500), FLAP_HELD);
    assert_int_equal(poll(&u, playing("b", 1, 2000, "d1"), T0 + 5000), FLAP_ANNOUNCED);
    assert_string_equal(u.types, "track_changed");
    assert_false(has_pending(&u));
    user_free(&u);
}

static void test_skip_held_and_stale_track_dropped(void **st)
{
    struct user u = {0};
    (void)st;
    poll(&u, playing("a", 1, 10000, "d1"), T0);
    /* A skip mid-track: held, confirmed by the next poll. */
    assert_int_equal(poll(&u, playing("b", 1, 1000, "d1"), T0 + 2000), FLAP_HELD);
    assert_int_equal(poll(&u, playing("b", 1, 2500, "d1"), T0 + 3500), FLAP_CONFIRMED);
    assert_string_equal(u.types, "track_changed");
    assert_non_null(strstr(u.last_event, "\"previous_track_id\":\"a\""));
    /* The previous track comes back (stale): held, dropped. */
    assert_int_equal(poll(&u, playing("a", 1, 12000, "d1"), T0 + 5000), FLAP_HELD);
    assert_int_equal(poll(&u, playing("b", 1, 5500, "d1"), T0 + 6500), FLAP_DROPPED);
    assert_string_equal(u.types, "");
    /* Even when b is over by the clock, a coming back is no natural end. */
    assert_int_equal(poll(&u, playing("a", 1, 0, "d1"), T0 + 6500 + DUR), FLAP_HELD);
    /* Twice in a row: the user went back to it. */
    assert_int_equal(poll(&u, playing("a", 1, 1500, "d1"), T0 + 8000 + DUR), FLAP_CONFIRMED);
    assert_string_equal(u.types, "track_changed");
    assert_non_null(strstr(u.last_event, "\"previous_track_id\":\"b\""));
    user_free(&u);
}

static void test_held_replaced_by_another_change(void **st)
{
    struct user u = {0};
    (void)st;
    poll(&u, playing("a", 1, 10000, "d1"), T0);
    assert_int_equal(poll(&u, nothing(), T0 + 2000), FLAP_HELD);
    assert_int_equal(poll(&u, playing("b", 1, 1000, "d1"), T0 + 3500), FLAP_HELD);   /* replaced */
    assert_int_equal(poll(&u, playing("b", 1, 2500, "d1"), T0 + 5000), FLAP_CONFIRMED);
    assert_string_equal(u.types, "track_changed");
    user_free(&u);
}

static void test_device_change(void **st)
{
    struct user u = {0};
    (void)st;
    poll(&u, playing("a", 1, 1000, "d1"), T0);
    assert_int_equal(poll(&u, playing("a", 1, 3000, "d2"), T0 + 2000), FLAP_HELD);
    assert_int_equal(poll(&u, playing("a", 1, 4500, "d2"), T0 + 3500), FLAP_CONFIRMED);
    assert_string_equal(u.types, "device_changed");
    assert_non_null(strstr(u.last_event, "\"id\":\"d2\""));
    /* A device that shows for one poll only: nothing. */
    assert_int_equal(poll(&u, playing("a", 1, 6500, "d1"), T0 + 5500), FLAP_HELD);
    assert_int_equal(poll(&u, playing("a", 1, 8000, "d2"), T0 + 7000), FLAP_DROPPED);
    /* No device named: no change (pb_diff's rule), not held. */
    assert_int_equal(poll(&u, playing("a", 1, 9500, NULL), T0 + 8500), FLAP_SAME);
    user_free(&u);
}

/* --------------------------------------------------- end-of-track answers */

static void test_end_reset_and_repeat(void **st)
{
    struct user u = {0};
    (void)st;
    /* end_reset: the ended track at 0, "playing": a jump backwards, held;
     * the next poll's new track is then a natural end, at once. */
    poll(&u, playing("a", 1, DUR - 10000, "d1"), T0);
    assert_int_equal(poll(&u, playing("a", 1, 0, "d1"), T0 + 10500), FLAP_HELD);
    assert_string_equal(u.types, "");
    assert_int_equal(poll(&u, playing("b", 1, 1500, "d1"), T0 + 12000), FLAP_ANNOUNCED);
    assert_string_equal(u.types, "track_changed");
    user_free(&u);

    /* Repeat-one (or a seek back): the jump confirmed, nothing announced. */
    poll(&u, playing("a", 1, DUR - 10000, "d1"), T0);
    assert_int_equal(poll(&u, playing("a", 1, 0, "d1"), T0 + 10500), FLAP_HELD);
    assert_int_equal(poll(&u, playing("a", 1, 1500, "d1"), T0 + 12000), FLAP_CONFIRMED);
    assert_string_equal(u.types, "");
    assert_false(has_pending(&u));
    assert_non_null(strstr(u.text, "\"pr\":1500"));
    user_free(&u);
}

static void test_end_playing_then_next_at_once(void **st)
{
    struct user u = {0};
    (void)st;
    poll(&u, playing("a", 1, 60000, "d1"), T0);
    /* end_playing after a skip: the old track at its end, still "playing":
     * a jump forwards, nothing to say; the new track then follows its end. */
    assert_int_equal(poll(&u, playing("a", 1, DUR, "d1"), T0 + 2000), FLAP_SAME);
    assert_int_equal(poll(&u, playing("b", 1, 3500, "d1"), T0 + 3500), FLAP_ANNOUNCED);
    assert_string_equal(u.types, "track_changed");
    /* A track that did not change when the clock says it should have: no event. */
    poll(&u, playing("b", 1, DUR - 1000, "d1"), T0 + 4000);
    assert_int_equal(poll(&u, playing("b", 1, DUR, "d1"), T0 + 9000), FLAP_SAME);
    assert_int_equal(poll(&u, playing("b", 1, DUR, "d1"), T0 + 9500), FLAP_SAME);
    user_free(&u);
}

/* --------------------------------------------- answers that say too little */

static void test_null_progress_filled_in(void **st)
{
    struct user u = {0};
    struct pb_state s;
    (void)st;
    poll(&u, playing("a", 1, 100000, "d1"), T0);
    s = playing("a", 1, 0, "d1");
    s.progress_null = 1;
    assert_int_equal(poll(&u, s, T0 + 2000), FLAP_SAME);   /* no jump to 0 */
    assert_string_equal(u.types, "");
    assert_non_null(strstr(u.text, "\"pr\":102000"));
    /* Paused: where it was. */
    poll(&u, playing("a", 0, 103000, "d1"), T0 + 3000);
    poll(&u, playing("a", 0, 103000, "d1"), T0 + 4000);
    assert_string_equal(u.types, "playback_paused");
    s = playing("a", 0, 0, "d1");
    s.progress_null = 1;
    assert_int_equal(poll(&u, s, T0 + 20000), FLAP_SAME);
    assert_non_null(strstr(u.text, "\"pr\":103000"));
    user_free(&u);
}

static void test_opaque_never_alone(void **st)
{
    struct user u = {0};
    (void)st;
    poll(&u, playing("a", 1, 1000, "d1"), T0);
    assert_int_equal(poll(&u, opaque(1), T0 + 2000), FLAP_HELD);
    assert_int_equal(poll(&u, playing("a", 1, 4500, "d1"), T0 + 3500), FLAP_DROPPED);
    assert_int_equal(poll(&u, opaque(0), T0 + 5000), FLAP_HELD);
    assert_int_equal(poll(&u, playing("a", 1, 7500, "d1"), T0 + 6500), FLAP_DROPPED);
    assert_string_equal(u.types, "");
    /* While paused, too. */
    poll(&u, playing("a", 0, 8000, "d1"), T0 + 7000);
    poll(&u, playing("a", 0, 8000, "d1"), T0 + 8000);
    assert_int_equal(poll(&u, opaque(0), T0 + 9000), FLAP_HELD);
    assert_int_equal(poll(&u, playing("a", 0, 8000, "d1"), T0 + 10000), FLAP_DROPPED);
    /* Confirmed by a second one: the state really is unidentifiable. */
    poll(&u, playing("a", 1, 8000, "d1"), T0 + 11000);
    assert_string_equal(u.types, "playback_resumed");
    assert_int_equal(poll(&u, opaque(1), T0 + 12000), FLAP_HELD);
    assert_int_equal(poll(&u, opaque(1), T0 + 13500), FLAP_CONFIRMED);
    assert_string_equal(u.types, "track_changed");
    user_free(&u);

    /* A first observation that says nothing waits too. */
    assert_int_equal(poll(&u, opaque(1), T0), FLAP_HELD);
    assert_string_equal(u.types, "");
    assert_int_equal(poll(&u, playing("a", 1, 1000, "d1"), T0 + 1500), FLAP_ANNOUNCED);
    assert_string_equal(u.types, "playback_started");
    user_free(&u);
}

/* ------------------------------------------------------ confirmation off */

static void test_confirm_off_announces_at_once(void **st)
{
    struct user u = {0};
    (void)st;
    poll_at(&u, playing("a", 1, 1000, "d1"), T0, 0);
    assert_int_equal(poll_at(&u, nothing(), T0 + 2000, 0), FLAP_ANNOUNCED);
    assert_string_equal(u.types, "playback_stopped");
    assert_int_equal(poll_at(&u, playing("a", 1, 4000, "d1"), T0 + 3000, 0), FLAP_ANNOUNCED);
    assert_string_equal(u.types, "playback_started");
    assert_int_equal(poll_at(&u, playing("b", 1, 0, "d2"), T0 + 4000, 0), FLAP_ANNOUNCED);
    assert_string_equal(u.types, "track_changed device_changed");
    /* A pending observation left from before is settled, not kept. */
    poll_at(&u, nothing(), T0 + 5000, 1);
    assert_true(has_pending(&u));
    assert_int_equal(poll_at(&u, playing("c", 1, 0, "d2"), T0 + 6000, 0), FLAP_ANNOUNCED);
    assert_string_equal(u.types, "track_changed");
    assert_false(has_pending(&u));
    user_free(&u);
}

/* ------------------------------------------------------------ the record */

static void test_record_text(void **st)
{
    struct flap_record r, d;
    struct pb_state s = playing("a\"b", 1, 1000, "d1");
    char *plain, *text;
    (void)st;

    /* Nothing of the record's own: byte for byte the state's text. */
    memset(&r, 0, sizeof r);
    r.stable = s;
    plain = pb_state_encode(&s);
    text = flap_record_encode(&r);
    assert_string_equal(text, plain);
    free(text);

    r.stable_at_ms = T0;
    r.prev_key = strdup("p\n");
    r.pending = playing("b", 0, 2000, "d2");
    r.pending_at_ms = T0 + 5;
    text = flap_record_encode(&r);
    assert_string_equal(text, "{\"v\":1,\"p\":1,\"pl\":1,\"k\":\"a\\\"b\",\"kd\":\"track\",\"d\":\"d1\",\"pr\":1000,"
                              "\"du\":180000,\"t\":1796000000000,\"pk\":\"p\\n\",\"q\":{\"v\":1,\"p\":1,\"pl\":0,"
                              "\"k\":\"b\",\"kd\":\"track\",\"d\":\"d2\",\"pr\":2000,\"du\":180000,"
                              "\"t\":1796000000005}}");
    assert_int_equal(flap_record_decode(text, &d), 0);
    assert_string_equal(d.stable.item_key, "a\"b");
    assert_int_equal(d.stable_at_ms, T0);
    assert_string_equal(d.prev_key, "p\n");
    assert_true(d.pending.known);
    assert_string_equal(d.pending.item_key, "b");
    assert_string_equal(d.pending.device_id, "d2");
    assert_int_equal(d.pending_at_ms, T0 + 5);
    flap_record_free(&d);
    /* pb_state_decode reads the stable part of it. */
    assert_int_equal(pb_state_decode(text, &s), 0);
    assert_string_equal(s.item_key, "a\"b");
    pb_state_free(&s);
    free(text);
    /* The states stored by earlier versions: a record with nothing else. */
    assert_int_equal(flap_record_decode(plain, &d), 0);
    assert_true(d.stable.known);
    assert_false(d.pending.known);
    assert_int_equal(d.stable_at_ms, 0);
    flap_record_free(&d);
    free(plain);
    flap_record_free(&r);
    assert_null(r.prev_key);

    /* A pending observation before any stable one (the first answer said nothing). */
    memset(&r, 0, sizeof r);
    r.pending = nothing();
    text = flap_record_encode(&r);
    assert_string_equal(text, "{\"v\":1,\"q\":{\"v\":1,\"p\":0}}");
    assert_int_equal(flap_record_decode(text, &d), 0);
    assert_false(d.stable.known);
    assert_true(d.pending.known);
    flap_record_free(&d);
    free(text);
}

static void test_record_garbage(void **st)
{
    struct flap_record d;
    (void)st;
    assert_int_equal(flap_record_decode(NULL, &d), 0);
    assert_false(d.stable.known);
    assert_int_equal(flap_record_decode("", &d), 0);
    assert_int_equal(flap_record_decode("not json", &d), -1);
    assert_false(d.stable.known);
    assert_int_equal(flap_record_decode("{\"v\":2}", &d), -1);
    /* A malformed pending part (or time) is dropped, the stable state kept. */
    static const char *const bad[] = {
        "{\"v\":1,\"p\":0,\"q\":{\"v\":1,\"p\":7}}",
        "{\"v\":1,\"p\":0,\"q\":{\"v\":1}}",
        "{\"v\":1,\"p\":0,\"q\":{\"v\":1,\"p\":0,\"t\":-5}}",
        "{\"v\":1,\"p\":0,\"q\":{\"v\":1,\"p\":1,\"pl\":1,\"k\":\"x\",\"kd\":\"track\",\"pr\":\"1\",\"du\":1}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(flap_record_decode(bad[i], &d), 0);
        assert_true(d.stable.known);
        assert_false(d.pending.known);
        assert_int_equal(d.pending_at_ms, 0);
        flap_record_free(&d);
    }
    assert_int_equal(flap_record_decode("{\"v\":1,\"p\":1,\"pl\":1,\"k\":\"x\",\"kd\":\"track\",\"pr\":1,\"du\":9,"
                                        "\"t\":1.5,\"pk\":3}", &d), 0);
    assert_int_equal(d.stable_at_ms, 0);
    assert_null(d.prev_key);
    flap_record_free(&d);
}

/* pb_parse's two marks: what the answer left unsaid. */
static void test_parse_marks(void **st)
{
    static const char item[] = "\"item\":{\"type\":\"track\",\"id\":\"t\",\"duration_ms\":9000}";
    char body[256], err[128];
    struct pb_state s;
    (void)st;
    snprintf(body, sizeof body, "{\"is_playing\":true,\"progress_ms\":null,%s}", item);
    assert_int_equal(pb_parse(body, strlen(body), &s, err, sizeof err), 0);
    assert_true(s.progress_null);
    assert_false(s.opaque);
    assert_int_equal(s.progress_ms, 0);
    pb_state_free(&s);
    snprintf(body, sizeof body, "{\"is_playing\":true,\"progress_ms\":5,%s}", item);
    assert_int_equal(pb_parse(body, strlen(body), &s, err, sizeof err), 0);
    assert_false(s.progress_null);
    pb_state_free(&s);
    /* An ad says what it is: not opaque; no type at all is. */
    snprintf(body, sizeof body, "{\"is_playing\":true,\"item\":null,\"currently_playing_type\":\"ad\"}");
    assert_int_equal(pb_parse(body, strlen(body), &s, err, sizeof err), 0);
    assert_false(s.opaque);
    pb_state_free(&s);
    snprintf(body, sizeof body, "{\"is_playing\":false}");
    assert_int_equal(pb_parse(body, strlen(body), &s, err, sizeof err), 0);
    assert_true(s.opaque);
    assert_false(s.present);
    pb_state_free(&s);
    pb_nothing(&s);   /* a 204 says nothing plays: not opaque */
    assert_false(s.opaque);
}

static void test_verdict_names(void **st)
{
    (void)st;
    assert_string_equal(flap_verdict_name(FLAP_HELD), "held");
    assert_string_equal(flap_verdict_name(FLAP_CONFIRMED), "confirmed");
    assert_string_equal(flap_verdict_name(FLAP_DROPPED), "dropped");
    assert_string_equal(flap_verdict_name((enum flap_verdict)99), "same");
}

static void test_confirm_poll_delay(void **st)
{
    struct next_poll n = {.idle = 2, .delay_ms = 15000};
    (void)st;
    n = decide_confirm_poll(n, 1, 1500);
    assert_int_equal(n.delay_ms, 1500);
    assert_int_equal(n.idle, 2);
    n.delay_ms = 300;   /* already sooner (fixed 300 ms polling) */
    assert_int_equal(decide_confirm_poll(n, 1, 1500).delay_ms, 300);
    n.delay_ms = 15000;
    assert_int_equal(decide_confirm_poll(n, 0, 1500).delay_ms, 15000);   /* nothing pending */
    assert_int_equal(decide_confirm_poll(n, 1, 0).delay_ms, 15000);      /* confirmation off */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_observation_and_start),
        cmocka_unit_test(test_resume_and_stop_while_paused_at_once),
        cmocka_unit_test(test_natural_end_at_once),
        cmocka_unit_test(test_transient_204_dropped),
        cmocka_unit_test(test_real_stop_confirmed),
        cmocka_unit_test(test_pause_held_then_confirmed_or_dropped),
        cmocka_unit_test(test_skip_held_and_stale_track_dropped),
        cmocka_unit_test(test_held_replaced_by_another_change),
        cmocka_unit_test(test_device_change),
        cmocka_unit_test(test_end_reset_and_repeat),
        cmocka_unit_test(test_end_playing_then_next_at_once),
        cmocka_unit_test(test_null_progress_filled_in),
        cmocka_unit_test(test_opaque_never_alone),
        cmocka_unit_test(test_confirm_off_announces_at_once),
        cmocka_unit_test(test_record_text),
        cmocka_unit_test(test_record_garbage),
        cmocka_unit_test(test_parse_marks),
        cmocka_unit_test(test_verdict_names),
        cmocka_unit_test(test_confirm_poll_delay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
