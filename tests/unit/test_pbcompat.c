/* test_pbcompat: the json_scan-based pb_parse/history_parse and the hand-written
 * pb_state_encode against the cJSON-based code they replaced
 * (tests/fuzz/ref_playback.c): the stored state is byte for byte what the
 * old encoder wrote (so states already in Redis compare equal and are not
 * rewritten) and both readers read it the same, and every body of the fuzz
 * corpora parses the same. The fuzz
 * target fuzz_pbdiff does the same on generated inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spotify/recently_played.h"
#include "spotify/playback.h"
#include "../fuzz/ref_playback.h"

#define MS_MAX 1000000000000000LL

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rng(void)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

/* rand_text fills buf with n random non-NUL bytes, biased towards what
 * needs escaping: quotes, backslashes, control bytes, UTF-8. */
static void rand_text(char *buf, size_t n)
{
    static const char special[] = "\"\\/\b\f\n\r\t\x01\x1f\x7f";
    size_t i;

    for (i = 0; i < n; i++) {
        uint64_t r = rng() % 10;

        if (r < 5)
            buf[i] = (char)('a' + rng() % 26);
        else if (r < 8)
            buf[i] = special[rng() % (sizeof special - 1)];
        else
            buf[i] = (char)(1 + rng() % 255);
    }
    buf[n] = '\0';
}

static long long rand_ms(void)
{
    static const long long edge[] = {0, 1, 999, INT_MAX - 1LL, INT_MAX, INT_MAX + 1LL,
                                     4294967295LL, 4294967296LL, 99999999999999LL,
                                     999999999999999LL, MS_MAX, -1, INT_MIN, INT_MIN - 1LL,
                                     -999999999999999LL};

    switch (rng() % 4) {
    case 0:
        return edge[rng() % (sizeof edge / sizeof edge[0])];
    case 1:
        return (long long)(rng() % 600000);
    case 2:
        return (long long)(rng() % (uint64_t)MS_MAX);
    default:
        return (long long)(rng() % 2000000000000ULL) - 1000000000000LL;
    }
}

/* norm_old: the old encoder wrote 1e15 (PB_MS_MAX, the largest value a
 * parsed state holds) in exponent form; the new one writes the digits. */
static void norm_old(char *s)
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

static int str_eq(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static void test_encode_matches_old(void **st)
{
    static const char *const kinds[] = {"track", "episode", "ad", "unknown", ""};
    char key[400], dev[400], kind[16], buf[4096];
    int i, exact = 0;
    (void)st;

    for (i = 0; i < 100000; i++) {
        struct pb_state s, dn, dr;
        char *old, *neu;

        memset(&s, 0, sizeof s);
        s.known = rng() % 8 != 0;
        s.present = rng() % 4 != 0;
        s.is_playing = (int)(rng() % 2);
        if (rng() % 4 == 0) {
            rand_text(kind, rng() % sizeof kind);
            memcpy(s.kind, kind, sizeof s.kind);
        } else {
            snprintf(s.kind, sizeof s.kind, "%s", kinds[rng() % 5]);
        }
        rand_text(key, rng() % 2 ? rng() % 40 : rng() % 380);
        s.item_key = rng() % 16 ? key : NULL;
        rand_text(dev, rng() % 60);
        s.device_id = rng() % 3 ? dev : NULL;
        s.progress_ms = rand_ms();
        s.duration_ms = rand_ms();

        old = ref_pb_state_encode(&s);
        neu = pb_state_encode(&s);
        assert_non_null(old);
        assert_non_null(neu);
        assert_true(strlen(old) < sizeof buf);
        snprintf(buf, sizeof buf, "%s", old);
        norm_old(buf);
        if (strcmp(buf, neu) != 0)
            fail_msg("state %d:\n old %s\n new %s", i, old, neu);
        exact += strcmp(old, neu) == 0;
        /* And they read back the same, with the old reader too. */
        {
            struct pb_state o;

            assert_int_equal(ref_pb_state_decode(old, &o), pb_state_decode(old, &dn) == 0 ? 0 : -1);
            assert_true(o.known == dn.known && o.present == dn.present
                        && o.is_playing == dn.is_playing && o.progress_ms == dn.progress_ms
                        && o.duration_ms == dn.duration_ms && strcmp(o.kind, dn.kind) == 0);
            assert_true(str_eq(o.item_key, dn.item_key) && str_eq(o.device_id, dn.device_id));
            pb_state_free(&o);
            pb_state_free(&dn);
            assert_int_equal(pb_state_decode(neu, &dn), pb_state_decode(old, &dr) == 0 ? 0 : -1);
        }
        assert_int_equal(dr.known, dn.known);
        assert_int_equal(dr.present, dn.present);
        assert_int_equal(dr.is_playing, dn.is_playing);
        assert_true(dr.progress_ms == dn.progress_ms && dr.duration_ms == dn.duration_ms);
        assert_string_equal(dr.kind, dn.kind);
        assert_true((dr.item_key == NULL) == (dn.item_key == NULL));
        if (dr.item_key)
            assert_string_equal(dr.item_key, dn.item_key);
        assert_true((dr.device_id == NULL) == (dn.device_id == NULL));
        if (dr.device_id)
            assert_string_equal(dr.device_id, dn.device_id);
        pb_state_free(&dr);
        pb_state_free(&dn);
        free(old);
        free(neu);
    }
    /* Most random states hold no 1e15: those are byte for byte the same. */
    assert_true(exact > 50000);
}

static void test_encode_fixed_texts(void **st)
{
    struct pb_state s;
    char *a, *b;
    (void)st;

    memset(&s, 0, sizeof s);
    s.known = s.present = s.is_playing = 1;
    s.item_key = "k\"\\\x01\n\x7f\xc3\xa9";
    s.device_id = "d";
    snprintf(s.kind, sizeof s.kind, "track");
    s.progress_ms = 2147483648LL;
    s.duration_ms = 999999999999999LL;
    a = pb_state_encode(&s);
    b = ref_pb_state_encode(&s);
    assert_string_equal(a, "{\"v\":1,\"p\":1,\"pl\":1,\"k\":\"k\\\"\\\\\\u0001\\n\x7f\xc3\xa9\","
                           "\"kd\":\"track\",\"d\":\"d\",\"pr\":2147483648,"
                           "\"du\":999999999999999}");
    assert_string_equal(a, b);
    free(a);
    free(b);
    /* The one deliberate difference: 1e15 keeps its digits. */
    s.duration_ms = MS_MAX;
    a = pb_state_encode(&s);
    b = ref_pb_state_encode(&s);
    assert_non_null(strstr(a, "\"du\":1000000000000000}"));
    assert_non_null(strstr(b, "\"du\":1e+15}"));
    free(a);
    free(b);
}

/* ------------------------------------------------------------- parsing */


static void assert_same_json(const cJSON *a, const cJSON *b)
{
    char *x = a ? cJSON_PrintUnformatted(a) : NULL, *y = b ? cJSON_PrintUnformatted(b) : NULL;

    if (!str_eq(x, y))
        fail_msg("old %s\nnew %s", x ? x : "NULL", y ? y : "NULL");
    free(x);
    free(y);
}

/* same_parse: the body parses the same both ways (errors: the same text,
 * or both syntax errors). Returns how the new parser did (0 or -1). */
static int same_parse(const char *name, const char *body, size_t len)
{
    static struct history_page hr, hn;
    struct pb_state r, n;
    char rerr[256], nerr[256];
    int rrc = ref_pb_parse(body, len, &r, rerr, sizeof rerr);
    int nrc = pb_parse(body, len, &n, nerr, sizeof nerr);
    int hrrc, hnrc;

    if (rrc != nrc)
        fail_msg("%s: old %s, new %s", name, rrc ? rerr : "ok", nrc ? nerr : "ok");
    if (rrc != 0) {
        /* Both refused: for the same reason, or the new parser saw a syntax
         * error first ("2016-12-13": not a number, where cJSON's strtod took
         * 2016 and then found trailing data). fuzz_pbdiff checks those. */
        if (strcmp(rerr, nerr) != 0 && !strstr(nerr, "body: invalid JSON"))
            fail_msg("%s: old \"%s\", new \"%s\"", name, rerr, nerr);
    } else {
        char *a = ref_pb_state_encode(&r), *b = pb_state_encode(&n);

        norm_old(a);
        if (strcmp(a, b) != 0)
            fail_msg("%s: old %s new %s", name, a, b);
        assert_true(str_eq(r.item_key, n.item_key) && str_eq(r.device_id, n.device_id));
        assert_same_json(r.track, n.track);
        assert_same_json(r.device, n.device);
        free(a);
        free(b);
    }
    pb_state_free(&r);
    pb_state_free(&n);

    hrrc = ref_history_parse(body, len, 0, &hr, rerr, sizeof rerr);
    hnrc = history_parse(body, len, 0, &hn, nerr, sizeof nerr);
    if (hrrc != hnrc)
        fail_msg("%s: history old %s, new %s", name, hrrc ? rerr : "ok", hnrc ? nerr : "ok");
    if (hrrc == 0) {
        assert_int_equal(hr.n, hn.n);
        assert_int_equal(hr.more, hn.more);
        assert_true(hr.cursor_ms == hn.cursor_ms);
        for (int i = 0; i < hr.n; i++) {
            assert_true(hr.plays[i].played_at_ms == hn.plays[i].played_at_ms);
            assert_same_json(hr.plays[i].track, hn.plays[i].track);
        }
    }
    history_page_free(&hr);
    history_page_free(&hn);
    return nrc;
}

/* corpus_dir: tests/fuzz/corpus/<name> of this checkout, found from the
 * binary's own path (build/tests/unit_pbcompat), whatever the cwd. */
static void corpus_dir(const char *name, char *out, size_t outlen)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    int up = 3;

    assert_true(n > 0);
    exe[n] = '\0';
    while (up-- > 0) {
        char *slash = strrchr(exe, '/');

        assert_non_null(slash);
        *slash = '\0';
    }
    snprintf(out, outlen, "%s/tests/fuzz/corpus/%s", exe, name);
}

static void test_corpus_parses_the_same(void **st)
{
    static const char *const dirs[] = {"playback", "pbdiff"};
    int files = 0, ok = 0;
    (void)st;

    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
        char dir[PATH_MAX + 64];
        DIR *dp;
        struct dirent *de;

        corpus_dir(dirs[d], dir, sizeof dir);
        dp = opendir(dir);
        assert_non_null(dp);
        while ((de = readdir(dp)) != NULL) {
            char path[PATH_MAX + 400];
            static char body[1 << 20];
            size_t len;
            FILE *f;

            if (de->d_name[0] == '.')
                continue;
            /* json_scan's deliberate refusals (include/spotify/json_scan.h): new rejects. */
            if (strncmp(de->d_name, "lenient-", 8) == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            f = fopen(path, "rb");
            assert_non_null(f);
            len = fread(body, 1, sizeof body, f);
            fclose(f);
            files++;
            ok += same_parse(de->d_name, body, len) == 0;
        }
        closedir(dp);
    }
    assert_true(files > 40);
    assert_true(ok > 15);
}

static void test_deliberate_differences(void **st)
{
    static const char *const lenient[] = {
        "{\"a\":01,\"is_playing\":true}",        /* leading zero */
        "{\"a\":1.,\"is_playing\":true}",        /* bare '.' */
        "{\"a\":-.5,\"is_playing\":true}",
        "{\"a\":\"\\uZZZZ\",\"is_playing\":true}", /* non-hex \u */
        "{\"a\":\"x\ty\",\"is_playing\":true}",   /* raw control byte in a string */
        "{\x01\"is_playing\":true}",              /* cJSON's whitespace */
    };
    struct pb_state s;
    char err[256];
    (void)st;

    for (size_t i = 0; i < sizeof lenient / sizeof lenient[0]; i++) {
        assert_int_equal(ref_pb_parse(lenient[i], strlen(lenient[i]), &s, err, sizeof err), 0);
        pb_state_free(&s);
        assert_int_equal(pb_parse(lenient[i], strlen(lenient[i]), &s, err, sizeof err), -1);
        assert_non_null(strstr(err, "body: invalid JSON near byte"));
    }
    /* ...and the values read are the same where both accept: an escaped
     * NUL cuts a string, an escaped name matches. */
    const char *nul = "{\"is_playing\":true,\"item\":{\"id\":\"ab\\u0000cd\"}}";
    const char *names = "{\"is_pl\\u0061ying\":true,\"item\":{\"i\\u0064\":\"x\"},\"item\":7}";

    assert_int_equal(same_parse("nul", nul, strlen(nul)), 0);
    assert_int_equal(same_parse("names", names, strlen(names)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_matches_old),
        cmocka_unit_test(test_encode_fixed_texts),
        cmocka_unit_test(test_corpus_parses_the_same),
        cmocka_unit_test(test_deliberate_differences),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
