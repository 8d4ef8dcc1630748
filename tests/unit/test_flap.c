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

static int has_pending(const struct user *u)
{
    return u->text != NULL && strstr(u->text, "\"q\":") != NULL;
}

static void user_free(struct user *u)
{
    free(u->text);
    u->text = NULL;
}

/* -------------------------------------------------------------- scenarios */

/* step: one poll of a scenario: what it sees, when, and what must follow. */
struct step {
    const char *key;         /* the item; NOTHING: a 204; OPAQUE: item null, type "unknown" */
    int playing;
    long long progress_ms;   /* NULL_PR: progress_ms null */
    const char *dev;         /* the device, or NULL */
    long long at;            /* ms after T0 */
    enum flap_verdict v;
    const char *types;       /* the events announced, space-separated ("" none) */
    const char *in_event;    /* NULL, or a text the last event holds */
    const char *in_state;    /* NULL, or a text the stored state holds */
    int flags;               /* F_* */
};
#define NOTHING "-"
#define OPAQUE "?"
#define NULL_PR (-1LL)
enum {
    F_PENDING = 1,     /* an observation is pending after the poll */
    F_SETTLED = 2,     /* none is */
    F_OFF = 4,         /* confirmation off for this poll */
    F_NEW_USER = 8,    /* a user never seen before this poll */
};

static struct pb_state seen(const struct step *s)
{
    struct pb_state st;

    if (strcmp(s->key, NOTHING) == 0)
        return nothing();
    if (strcmp(s->key, OPAQUE) == 0)
        return opaque(s->playing);
    st = playing(s->key, s->playing, s->progress_ms == NULL_PR ? 0 : s->progress_ms, s->dev);
    st.progress_null = s->progress_ms == NULL_PR;
    return st;
}

static void run(const struct step *steps, size_t n)
{
    struct user u = {0};

    for (size_t i = 0; i < n; i++) {
        const struct step *s = &steps[i];

        if (s->flags & F_NEW_USER)
            user_free(&u);
        assert_int_equal(poll_at(&u, seen(s), T0 + s->at, !(s->flags & F_OFF)), s->v);
        assert_string_equal(u.types, s->types);
        if (s->in_event)
            assert_non_null(strstr(u.last_event, s->in_event));
        if (s->in_state)
            assert_non_null(strstr(u.text, s->in_state));
        if (s->flags & (F_PENDING | F_SETTLED))
            assert_int_equal(has_pending(&u), !!(s->flags & F_PENDING));
    }
    user_free(&u);
}

#define SAME FLAP_SAME, ""
#define AT_ONCE(t) FLAP_ANNOUNCED, t
#define HELD FLAP_HELD, ""
#define CONFIRMED(t) FLAP_CONFIRMED, t
#define DROPPED FLAP_DROPPED, ""

/* Announced at once: a first observation, a start, a resume, a stop while
 * paused (Spotify answers 204 a while after a pause: expected). */
static const struct step at_once[] = {
    {NOTHING, 0, 0, NULL, 0, SAME, NULL, NULL, 0},   /* a first poll of nothing: no event */
    {"a", 1, 0, "d1", 1000, AT_ONCE("playback_started"), NULL, NULL, F_SETTLED},
    {"a", 1, 5000, "d1", 0, AT_ONCE("playback_started"), NULL, NULL, F_NEW_USER},
    {"a", 0, 5000, "d1", 0, AT_ONCE("playback_started"), NULL, NULL, F_NEW_USER},
    {"a", 1, 5000, "d1", 1000, AT_ONCE("playback_resumed"), NULL, NULL, 0},
    {"a", 0, 6000, "d1", 2000, HELD, NULL, NULL, F_PENDING},   /* a pause */
    {"a", 0, 6000, "d1", 3500, CONFIRMED("playback_paused"), NULL, NULL, F_SETTLED},
    {NOTHING, 0, 0, NULL, 60000, AT_ONCE("playback_stopped"), NULL, NULL, 0},
};

/* A new track after the last one ended by the clock: no skip, at once;
 * within FLAP_END_SLACK_MS of the end counts as the end. */
static const struct step natural_end[] = {
    {"a", 1, DUR - 5000, "d1", 0, AT_ONCE("playback_started"), NULL, NULL, 0},
    {"b", 1, 500, "d1", 5500, AT_ONCE("track_changed"), "\"previous_track_id\":\"a\"", NULL, F_SETTLED},
    {"b", 1, DUR - 10000, "d1", 6000, SAME, NULL, NULL, 0},
    {"c", 1, 0, "d1", 6000 + 10000 - FLAP_END_SLACK_MS, AT_ONCE("track_changed"), NULL, NULL, 0},
};

/* A 204 for one poll while playing; a real stop, announced once. */
static const struct step stops[] = {
    {"a", 1, 1000, "d1", 0, AT_ONCE("playback_started"), NULL, NULL, 0},
    {NOTHING, 0, 0, NULL, 2000, HELD, NULL, NULL, F_PENDING},
    {"a", 1, 4500, "d1", 3500, DROPPED, NULL, NULL, F_SETTLED},
    {NOTHING, 0, 0, NULL, 5000, HELD, NULL, NULL, F_PENDING},
    {NOTHING, 0, 0, NULL, 6500, CONFIRMED("playback_stopped"), "\"previous_track_id\":\"a\"", NULL, F_SETTLED},
    {NOTHING, 0, 0, NULL, 8000, SAME, NULL, NULL, 0},
};

/* end_paused: the previous track at its end, paused, after a natural
 * change: dropped, and the change announced at once. */
static const struct step end_paused[] = {
    {"a", 1, DUR - 3000, "d1", 0, AT_ONCE("playback_started"), NULL, NULL, 0},
    {"a", 0, DUR, "d1", 3500, HELD, NULL, NULL, F_PENDING},
    {"b", 1, 2000, "d1", 5000, AT_ONCE("track_changed"), NULL, NULL, F_SETTLED},
};

/* A skip mid-track is held and confirmed; the previous track coming back
 * (stale) is held and dropped, even when the current one is over by the
 * clock; seen twice in a row, the user really went back to it. */
static const struct step skips[] = {
    {"a", 1, 10000, "d1", 0, AT_ONCE("playback_started"), NULL, NULL, 0},
    {"b", 1, 1000, "d1", 2000, HELD, NULL, NULL, F_PENDING},
    {"b", 1, 2500, "d1", 3500, CONFIRMED("track_changed"), "\"previous_track_id\":\"a\"", NULL, F_SETTLED},
    {"a", 1, 12000, "d1", 5000, HELD, NULL, NULL, 0},
    {"b", 1, 5500, "d1", 6500, DROPPED, NULL, NULL, F_SETTLED},
    {"a", 1, 0, "d1", 6500 + DUR, HELD, NULL, NULL, 0},
    {"a", 1, 1500, "d1", 8000 + DUR, CONFIRMED("track_changed"), "\"previous_track_id\":\"b\"", NULL, 0},
    /* a held change replaced by another before its confirmation */
    {NOTHING, 0, 0, NULL, 9000 + DUR, HELD, NULL, NULL, 0},
    {"c", 1, 1000, "d1", 10500 + DUR, HELD, NULL, NULL, 0},
    {"c", 1, 2500, "d1", 12000 + DUR, CONFIRMED("track_changed"), "\"previous_track_id\":\"a\"", NULL, 0},
};

/* A device move is held and confirmed; one that shows for one poll is
 * dropped; no device named is no change (pb_diff's rule). */
static const struct step devices[] = {
    {"a", 1, 1000, "d1", 0, AT_ONCE("playback_started"), NULL, NULL, 0},
    {"a", 1, 3000, "d2", 2000, HELD, NULL, NULL, F_PENDING},
    {"a", 1, 4500, "d2", 3500, CONFIRMED("device_changed"), "\"id\":\"d2\"", NULL, F_SETTLED},
    {"a", 1, 6500, "d1", 5500, HELD, NULL, NULL, 0},
    {"a", 1, 8000, "d2", 7000, DROPPED, NULL, NULL, 0},
    {"a", 1, 9500, NULL, 8500, SAME, NULL, NULL, F_SETTLED},
};

/* end_reset: the ended track at 0, "playing": a jump backwards, held; the
 * new track that follows is a natural end, at once. Repeat-one (or a seek
 * back): the jump confirmed, nothing announced. */
static const struct step end_reset[] = {
    {"a", 1, DUR - 10000, "d1", 0, AT_ONCE("playback_started"), NULL, NULL, 0},
    {"a", 1, 0, "d1", 10500, HELD, NULL, NULL, F_PENDING},
    {"b", 1, 1500, "d1", 12000, AT_ONCE("track_changed"), NULL, NULL, F_SETTLED},
    {"a", 1, DUR - 10000, "d1", 0, AT_ONCE("playback_started"), NULL, NULL, F_NEW_USER},
    {"a", 1, 0, "d1", 10500, HELD, NULL, NULL, 0},
    {"a", 1, 1500, "d1", 12000, CONFIRMED(""), NULL, "\"pr\":1500", F_SETTLED},
};

/* end_playing after a skip: the old track at its end, still "playing": a
 * jump forwards, nothing to say; the new track then follows its end. A
 * track that did not change when the clock says it should have: no event. */
static const struct step end_playing[] = {
    {"a", 1, 60000, "d1", 0, AT_ONCE("playback_started"), NULL, NULL, 0},
    {"a", 1, DUR, "d1", 2000, SAME, NULL, NULL, 0},
    {"b", 1, 3500, "d1", 3500, AT_ONCE("track_changed"), NULL, NULL, 0},
    {"b", 1, DUR - 1000, "d1", 4000, SAME, NULL, NULL, 0},
    {"b", 1, DUR, "d1", 9000, SAME, NULL, NULL, 0},
    {"b", 1, DUR, "d1", 9500, SAME, NULL, NULL, F_SETTLED},
};

/* progress_ms null: where the clock puts the same item (paused: where it
 * was), never a jump to 0. */
static const struct step null_progress[] = {
    {"a", 1, 100000, "d1", 0, AT_ONCE("playback_started"), NULL, NULL, 0},
    {"a", 1, NULL_PR, "d1", 2000, SAME, NULL, "\"pr\":102000", F_SETTLED},
    {"a", 0, 103000, "d1", 3000, HELD, NULL, NULL, 0},
    {"a", 0, 103000, "d1", 4000, CONFIRMED("playback_paused"), NULL, NULL, 0},
    {"a", 0, NULL_PR, "d1", 20000, SAME, NULL, "\"pr\":103000", F_SETTLED},
};

/* An answer that does not say what is loaded is never an event alone,
 * playing or not, paused or not, first poll or not; two in a row are (then
 * nothing identifiable really plays). */
static const struct step opaques[] = {
    {"a", 1, 1000, "d1", 0, AT_ONCE("playback_started"), NULL, NULL, 0},
    {OPAQUE, 1, 0, NULL, 2000, HELD, NULL, NULL, F_PENDING},
    {"a", 1, 4500, "d1", 3500, DROPPED, NULL, NULL, F_SETTLED},
    {OPAQUE, 0, 0, NULL, 5000, HELD, NULL, NULL, 0},
    {"a", 1, 7500, "d1", 6500, DROPPED, NULL, NULL, 0},
    {"a", 0, 8000, "d1", 7000, HELD, NULL, NULL, 0},
    {"a", 0, 8000, "d1", 8000, CONFIRMED("playback_paused"), NULL, NULL, 0},
    {OPAQUE, 0, 0, NULL, 9000, HELD, NULL, NULL, 0},
    {"a", 0, 8000, "d1", 10000, DROPPED, NULL, NULL, 0},
    {"a", 1, 8000, "d1", 11000, AT_ONCE("playback_resumed"), NULL, NULL, 0},
    {OPAQUE, 1, 0, NULL, 12000, HELD, NULL, NULL, 0},
    {OPAQUE, 1, 0, NULL, 13500, CONFIRMED("track_changed"), NULL, NULL, F_SETTLED},
    {OPAQUE, 1, 0, NULL, 0, HELD, NULL, NULL, F_NEW_USER | F_PENDING},
    {"a", 1, 1000, "d1", 1500, AT_ONCE("playback_started"), NULL, NULL, F_SETTLED},
};

/* Confirmation off: every change at once, a pending one left from before
 * settled, not kept. */
static const struct step confirm_off[] = {
    {"a", 1, 1000, "d1", 0, AT_ONCE("playback_started"), NULL, NULL, F_OFF},
    {NOTHING, 0, 0, NULL, 2000, AT_ONCE("playback_stopped"), NULL, NULL, F_OFF},
    {"a", 1, 4000, "d1", 3000, AT_ONCE("playback_started"), NULL, NULL, F_OFF},
    {"b", 1, 0, "d2", 4000, AT_ONCE("track_changed device_changed"), NULL, NULL, F_OFF},
    {NOTHING, 0, 0, NULL, 5000, HELD, NULL, NULL, F_PENDING},
    {"c", 1, 0, "d2", 6000, AT_ONCE("track_changed"), NULL, NULL, F_OFF | F_SETTLED},
};

#define SCENARIO(steps) {#steps, steps, sizeof steps / sizeof steps[0]}
static const struct scenario {
    const char *name;
    const struct step *steps;
    size_t n;
} scenarios[] = {
    SCENARIO(at_once), SCENARIO(natural_end), SCENARIO(stops), SCENARIO(end_paused),
    SCENARIO(skips), SCENARIO(devices), SCENARIO(end_reset), SCENARIO(end_playing),
    SCENARIO(null_progress), SCENARIO(opaques), SCENARIO(confirm_off),
};

/* test_scenarios runs each scenario with a user of its own; a failure's
 * line is the scenario's name, printed first, and the step's assert. */
static void test_scenarios(void **st)
{
    (void)st;
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        print_message("scenario %s\n", scenarios[i].name);
        run(scenarios[i].steps, scenarios[i].n);
    }
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
        cmocka_unit_test(test_scenarios),
        cmocka_unit_test(test_record_text),
        cmocka_unit_test(test_record_garbage),
        cmocka_unit_test(test_parse_marks),
        cmocka_unit_test(test_verdict_names),
        cmocka_unit_test(test_confirm_poll_delay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
