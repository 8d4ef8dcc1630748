/* test_pbcompat: the json_scan-based pb_parse/history_parse and the
 * hand-written pb_state_encode against their golden outputs: the stored state
 * is byte for byte what the cJSON-based encoder of earlier versions wrote (so
 * states already in Redis compare equal and are not rewritten) and reads back
 * as it did, and every body of the fuzz corpora parses as it did.
 *
 * Every input, from the fuzz corpora (tests/fuzz/corpus/{playback,pbdiff,
 * history}) or built here, has a golden file tests/fuzz/golden/<set>/<name>.out
 * (format in tests/fuzz/golden/README.md): one "key value" line for each
 * output of the product, and "ref.key value" lines where the cJSON-based
 * parsers gave something else (json_scan's deliberate refusals, 1e15 in the
 * stored state, syntax-error offsets). The goldens were generated while those
 * parsers were still here to compare with (tests/fuzz/ref_playback.c, now
 * retired), so they carry their verdict. `build/tests/unit_pbcompat
 * --write-golden` runs the same checks but records what the product gives
 * instead of comparing (keeping the ref. lines): for a new corpus input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "spotify/recently_played.h"
#include "spotify/events.h"
#include "spotify/playback.h"
#include "spotify/playback_forms.h"

#define MS_MAX 1000000000000000LL
#define AT_MS 1700000000000LL     /* "at" of every event in the goldens */
#define LATE_2023 1700000000000LL /* a history cursor: only plays after it */

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

/* ------------------------------------------------------------ goldens */

static int write_mode; /* --write-golden: record the product's outputs */

struct gline {
    char *key;
    char *val;
    int used;
};

/* golden: the expected outputs of one input. In check mode the lines of its
 * file; in write mode what the product gave, written out by golden_close. */
struct golden {
    char path[PATH_MAX + 600];
    struct gline *l;   /* the product's outputs */
    int n, cap;
    struct gline *ref; /* where the retired reference differed (key without "ref.") */
    int nref, refcap;
};

/* repo_dir: the root of this checkout, found from the binary's own path
 * (build/tests/unit_pbcompat), whatever the cwd. */
static void repo_dir(char *out, size_t outlen)
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
    snprintf(out, outlen, "%s", exe);
}

static void add_line(struct gline **l, int *n, int *cap, const char *key, const char *val)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        *l = realloc(*l, (size_t)*cap * sizeof **l);
        assert_non_null(*l);
    }
    (*l)[*n].key = strdup(key);
    (*l)[*n].val = strdup(val);
    (*l)[*n].used = 0;
    assert_true((*l)[*n].key != NULL && (*l)[*n].val != NULL);
    (*n)++;
}

static struct gline *find(struct gline *l, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(l[i].key, key) == 0)
            return &l[i];
    return NULL;
}

static void golden_open(struct golden *g, const char *set, const char *name)
{
    char root[PATH_MAX], line[1 << 16];
    FILE *f;

    memset(g, 0, sizeof *g);
    repo_dir(root, sizeof root);
    snprintf(g->path, sizeof g->path, "%s/tests/fuzz/golden/%s/%s.out", root, set, name);
    f = fopen(g->path, "rb");
    if (f == NULL && write_mode)
        return; /* a new input: there is no reference verdict to keep */
    if (f == NULL)
        fail_msg("%s: no golden file (write it with build/tests/unit_pbcompat --write-golden, "
                 "then check what it says)", g->path);
    while (fgets(line, sizeof line, f) != NULL) {
        char *nl = strchr(line, '\n'), *sp = strchr(line, ' ');

        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (nl == NULL || sp == NULL)
            fail_msg("%s: bad line \"%s\"", g->path, line);
        *nl = '\0';
        *sp = '\0';
        if (strncmp(line, "ref.", 4) == 0)
            add_line(&g->ref, &g->nref, &g->refcap, line + 4, sp + 1);
        else if (!write_mode)
            add_line(&g->l, &g->n, &g->cap, line, sp + 1);
    }
    fclose(f);
}

/* put: the product gave val for key. Check mode: the golden must say the
 * same. */
static void put(struct golden *g, const char *key, const char *val)
{
    struct gline *l;

    if (write_mode) {
        assert_null(strchr(val, '\n'));
        assert_null(find(g->l, g->n, key));
        add_line(&g->l, &g->n, &g->cap, key, val);
        return;
    }
    l = find(g->l, g->n, key);
    if (l == NULL)
        fail_msg("%s: no \"%s\" line; the product now gives\n  %s", g->path, key, val);
    if (strcmp(l->val, val) != 0)
        fail_msg("%s: %s\n  golden %s\n  now    %s", g->path, key, l->val, val);
    l->used = 1;
}

/* golden_ref: what the reference gave for key where it differed from the
 * product, or NULL. */
static const char *golden_ref(struct golden *g, const char *key)
{
    struct gline *l = find(g->ref, g->nref, key);

    return l ? l->val : NULL;
}

static void golden_close(struct golden *g)
{
    if (write_mode) {
        char dir[sizeof g->path];
        FILE *f;

        /* mkdir -p of the set's folder (tests/fuzz/golden/<set>) */
        snprintf(dir, sizeof dir, "%s", g->path);
        for (char *p = strstr(dir, "/tests/fuzz/golden/") + 1; (p = strchr(p, '/')) != NULL; p++) {
            *p = '\0';
            assert_true(mkdir(dir, 0777) == 0 || errno == EEXIST);
            *p = '/';
        }
        f = fopen(g->path, "wb");
        assert_non_null(f);
        fprintf(f, "# expected outputs (tests/fuzz/golden/README.md): written by "
                   "build/tests/unit_pbcompat --write-golden\n");
        for (int i = 0; i < g->n; i++)
            fprintf(f, "%s %s\n", g->l[i].key, g->l[i].val);
        if (g->nref > 0)
            fprintf(f, "# where the cJSON-based parsers of earlier versions gave otherwise\n");
        for (int i = 0; i < g->nref; i++)
            fprintf(f, "ref.%s %s\n", g->ref[i].key, g->ref[i].val);
        assert_int_equal(fclose(f), 0);
    }
    for (int i = 0; i < g->n; i++) {
        if (!write_mode && !g->l[i].used)
            fail_msg("%s: \"%s\" is no longer produced", g->path, g->l[i].key);
        free(g->l[i].key);
        free(g->l[i].val);
    }
    for (int i = 0; i < g->nref; i++) {
        free(g->ref[i].key);
        free(g->ref[i].val);
    }
    free(g->l);
    free(g->ref);
}

static void expect(struct golden *g, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void expect(struct golden *g, const char *key, const char *fmt, ...)
{
    va_list ap;
    char *v;
    int rc;

    va_start(ap, fmt);
    rc = vasprintf(&v, fmt, ap);
    va_end(ap);
    assert_true(rc >= 0);
    put(g, key, v);
    free(v);
}

/* quote: s as a JSON string (so a golden line holds any byte but NUL on
 * one line), or null; malloc'd. */
static char *quote(const char *s)
{
    cJSON *j = s ? cJSON_CreateString(s) : cJSON_CreateNull();
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;

    assert_non_null(text);
    cJSON_Delete(j);
    return text;
}

static char *print_json(const cJSON *v)
{
    char *text = v ? cJSON_PrintUnformatted(v) : strdup("null");

    assert_non_null(text);
    return text;
}

static void expect_str(struct golden *g, const char *key, const char *s)
{
    char *q = quote(s);

    put(g, key, q);
    free(q);
}

static void expect_json(struct golden *g, const char *key, const cJSON *v)
{
    char *text = print_json(v);

    put(g, key, text);
    free(text);
}

/* state_fields: every field of s that a stored state holds, on one line
 * (malloc'd). */
static char *state_fields(const struct pb_state *s)
{
    char *kind = quote(s->kind), *key = quote(s->item_key), *dev = quote(s->device_id), *text;

    assert_true(asprintf(&text, "known=%d present=%d is_playing=%d progress_ms=%lld "
                                "duration_ms=%lld kind=%s item_key=%s device_id=%s",
                         s->known, s->present, s->is_playing, s->progress_ms, s->duration_ms,
                         kind, key, dev) >= 0);
    free(kind);
    free(key);
    free(dev);
    return text;
}

/* events_json: the events pb_diff gives for prev -> cur, as one JSON array
 * of their texts, byte for byte ("[]" for none). The one call of pb_diff in
 * this file. */
static char *events_json(const struct pb_state *prev, const struct pb_state *cur)
{
    struct sw_event ev[PB_MAX_EVENTS];
    char *out = strdup("["), *grown;
    int n = pb_diff(prev, cur, "u", AT_MS, ev);

    assert_non_null(out);
    for (int i = 0; i < n; i++) {
        assert_non_null(ev[i].json);
        assert_true(asprintf(&grown, "%s%s%s", out, i ? "," : "", ev[i].json) >= 0);
        free(out);
        sw_event_free(&ev[i]);
        out = grown;
    }
    assert_true(asprintf(&grown, "%s]", out) >= 0);
    free(out);
    return grown;
}

static void expect_events(struct golden *g, const char *key, const struct pb_state *prev,
                          const struct pb_state *cur)
{
    char *text = events_json(prev, cur);

    put(g, key, text);
    free(text);
}

/* play_event: the track_played event of play p (history_event). */
static void expect_play_event(struct golden *g, const char *key, const struct history_play *p)
{
    struct sw_event ev = sw_event_track_played("u", AT_MS, p->played_at_ms, p->track, 0);

    assert_non_null(ev.json);
    put(g, key, ev.json);
    sw_event_free(&ev);
}

/* -------------------------------------------------------- the inputs */

/* check_playback: pb_parse of body: the result or the error, the stored
 * text, the identities, the event forms of the track and the device, and
 * the events of three changes: first sight of it, nothing -> it, it ->
 * nothing. Returns how pb_parse did (0 or -1). */
static int check_playback(struct golden *g, const char *body, size_t len)
{
    struct pb_state n, nothing;
    char nerr[256];
    int nrc = pb_parse(body, len, &n, nerr, sizeof nerr);

    pb_nothing(&nothing);
    expect(g, "pb_parse", "%d", nrc);
    if (nrc != 0) {
        /* The same reason as before, or a syntax error found first or at
         * another byte ("2016-12-13": not a number, where cJSON's strtod
         * took 2016 and then found trailing data): see the ref. lines. */
        expect(g, "pb_parse.error", "%s", nerr);
    } else {
        char *b = pb_state_encode(&n);

        assert_non_null(b);
        expect(g, "pb_parse.state", "%s", b);
        expect_str(g, "pb_parse.item_key", n.item_key);
        expect_str(g, "pb_parse.device_id", n.device_id);
        /* n's forms stay unbuilt: the events below build their own */
        cJSON *track = pb_forms_track(n.forms), *device = pb_forms_device(n.forms);
        expect_json(g, "pb_parse.track", track);
        expect_json(g, "pb_parse.device", device);
        cJSON_Delete(track);
        cJSON_Delete(device);
        assert_null(n.track);
        expect_events(g, "pb_diff(unknown,it)", NULL, &n);
        expect_events(g, "pb_diff(nothing,it)", &nothing, &n);
        expect_events(g, "pb_diff(it,nothing)", &n, &nothing);
        free(b);
    }
    pb_state_free(&n);
    return nrc;
}

/* check_decode: pb_state_decode of body read as a stored state (a C
 * string: up to its first NUL). */
static void check_decode(struct golden *g, const char *body, size_t len)
{
    struct pb_state n;
    char *text = malloc(len + 1), *f;
    int rc;

    assert_non_null(text);
    memcpy(text, body, len);
    text[len] = '\0';
    rc = pb_state_decode(text, &n);
    expect(g, "pb_state_decode", "%d", rc);
    if (rc == 0) {
        f = state_fields(&n);
        expect(g, "pb_state_decode.state", "%s", f);
        free(f);
    }
    pb_state_free(&n);
    free(text);
}

/* check_history: history_parse of body after the cursor after: the result
 * or the error, the page and each play with its track_played event. */
static void check_history(struct golden *g, const char *body, size_t len, long long after)
{
    static struct history_page hn; /* large: not on the stack */
    char nerr[256], pre[48], k[96];
    int hnrc = history_parse(body, len, after, &hn, nerr, sizeof nerr);

    snprintf(pre, sizeof pre, "history_parse(%lld)", after);
    expect(g, pre, "%d", hnrc);
    snprintf(k, sizeof k, "%s.error", pre);
    if (hnrc != 0) {
        expect(g, k, "%s", nerr);
        return; /* hn is empty: nothing to free */
    }
    snprintf(k, sizeof k, "%s.n", pre);
    expect(g, k, "%d", hn.n);
    snprintf(k, sizeof k, "%s.more", pre);
    expect(g, k, "%d", hn.more);
    snprintf(k, sizeof k, "%s.cursor", pre);
    expect(g, k, "%lld", hn.cursor_ms);
    for (int i = 0; i < hn.n; i++) {
        snprintf(k, sizeof k, "%s.play[%d].played_at", pre, i);
        expect(g, k, "%lld", hn.plays[i].played_at_ms);
        snprintf(k, sizeof k, "%s.play[%d].track", pre, i);
        expect_json(g, k, hn.plays[i].track);
        snprintf(k, sizeof k, "%s.play[%d].event", pre, i);
        expect_play_event(g, k, &hn.plays[i]);
    }
    history_page_free(&hn);
}

/* check_body: everything the product makes of one body: as a
 * currently-playing answer, as a stored state, and as a recently-played
 * answer after two cursors (everything is new; only plays after late
 * 2023). Returns how pb_parse did (0 or -1). */
static int check_body(struct golden *g, const char *body, size_t len)
{
    int rc = check_playback(g, body, len);

    check_decode(g, body, len);
    check_history(g, body, len, 0);
    check_history(g, body, len, LATE_2023);
    return rc;
}

/* corpus_body: an input of the playback or pbdiff corpus (a body). The
 * lenient-* ones are json_scan's deliberate refusals
 * (include/spotify/json_scan.h): ref.pb_parse says cJSON took them. */
static int corpus_body(struct golden *g, const char *data, size_t len)
{
    return check_body(g, data, len);
}

/* corpus_history: an input of the history corpus, as fuzz_history reads it:
 * 8 bytes of cursor (little-endian, masked), then the body; and
 * history_parse_time of the body's first line. */
static int corpus_history(struct golden *g, const char *data, size_t size)
{
    uint64_t raw;
    long long ms = 0;
    char line[64];
    size_t n = 0;
    int rc;

    if (size < 8) {
        expect(g, "input", "%s", "shorter than its 8-byte cursor: not run");
        return -1;
    }
    memcpy(&raw, data, 8);
    check_history(g, data + 8, size - 8, (long long)(raw & 0x1ffffffffffULL));
    while (n < size - 8 && n < sizeof line - 1 && data[8 + n] != '\n') {
        line[n] = data[8 + n];
        n++;
    }
    line[n] = '\0';
    rc = history_parse_time(line, &ms);
    expect(g, "history_parse_time(first_line)", "%d %lld", rc, rc == 0 ? ms : 0);
    return 0;
}

typedef int (*check_fn)(struct golden *g, const char *data, size_t len);

/* check_corpus: fn on every input of tests/fuzz/corpus/<set> against its
 * golden, tests/fuzz/golden/<set>/<input>.out; a golden file whose input is
 * gone fails too. Returns the number of inputs; *ok counts those fn
 * returned 0 for. */
static int check_corpus(const char *set, check_fn fn, int *ok)
{
    static char body[1 << 20];
    char root[PATH_MAX], dir[PATH_MAX + 64], path[PATH_MAX + 400];
    DIR *dp;
    struct dirent *de;
    int files = 0;

    repo_dir(root, sizeof root);
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", root, set);
    dp = opendir(dir);
    assert_non_null(dp);
    while ((de = readdir(dp)) != NULL) {
        struct golden g;
        size_t len;
        FILE *f;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        f = fopen(path, "rb");
        assert_non_null(f);
        len = fread(body, 1, sizeof body, f);
        fclose(f);
        golden_open(&g, set, de->d_name);
        *ok += fn(&g, body, len) == 0;
        golden_close(&g);
        files++;
    }
    closedir(dp);

    snprintf(dir, sizeof dir, "%s/tests/fuzz/golden/%s", root, set);
    dp = opendir(dir);
    assert_non_null(dp);
    while ((de = readdir(dp)) != NULL) {
        size_t n = strlen(de->d_name);

        if (n < 4 || strcmp(de->d_name + n - 4, ".out") != 0)
            continue;
        snprintf(path, sizeof path, "%s/tests/fuzz/corpus/%s/%.*s", root, set, (int)(n - 4),
                 de->d_name);
        if (access(path, F_OK) != 0)
            fail_msg("%s/%s: its input %s is gone", dir, de->d_name, path);
    }
    closedir(dp);
    return files;
}

/* ------------------------------------------------------ stored state */

/* old_form: the text the cJSON-based encoder of earlier versions wrote for
 * the state neu encodes: the same but for 1e15, which it printed "1e+15"
 * (include/spotify/playback.h). */
static void old_form(const char *neu, char *out, size_t outlen)
{
    static const char *const fields[] = {",\"pr\":1000000000000000", ",\"du\":1000000000000000"};

    snprintf(out, outlen, "%s", neu);
    for (size_t i = 0; i < 2; i++) {
        char *p = strstr(out, fields[i]), *tail;

        if (p == NULL)
            continue;
        tail = p + strlen(fields[i]);
        if (*tail != ',' && *tail != '}')
            continue;
        memmove(p + 6 + 5, tail, strlen(tail) + 1);
        memcpy(p + 6, "1e+15", 5);
    }
}

/* digest_hex: the first 8 bytes of the SHA-256 of what md saw, in hex;
 * md is reset for the next block. */
static void digest_hex(EVP_MD_CTX *md, char hex[17])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n;

    assert_int_equal(EVP_DigestFinal_ex(md, d, &n), 1);
    for (int i = 0; i < 8; i++)
        sprintf(hex + 2 * i, "%02x", d[i]);
    assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
}

static void digest_str(EVP_MD_CTX *md, const char *s)
{
    assert_int_equal(EVP_DigestUpdate(md, s, strlen(s) + 1), 1);
}

static void test_encode_matches_old(void **st)
{
    static const char *const kinds[] = {"track", "episode", "ad", "unknown", ""};
    char key[400], dev[400], kind[16], old[4096], first[8192] = "", hex[17], name[32];
    int i, exact = 0;
    struct golden g;
    struct gline *gl;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    (void)st;

    assert_non_null(md);
    assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
    golden_open(&g, "inline", "random-states");
    for (i = 0; i < 100000; i++) {
        struct pb_state s, dn, dr;
        char *neu, *fr, *fn;
        int rn, ro;

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

        neu = pb_state_encode(&s);
        assert_non_null(neu);
        assert_true(strlen(neu) < sizeof old);
        /* The text the old encoder wrote (the golden digest holds it). */
        old_form(neu, old, sizeof old);
        exact += strcmp(old, neu) == 0;
        /* And they read back the same; the golden digest holds what the
         * old reader made of the old text. */
        rn = pb_state_decode(neu, &dn);
        ro = pb_state_decode(old, &dr);
        assert_int_equal(rn, ro == 0 ? 0 : -1);
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
        /* The golden: per block of 100 states, a digest of each one's stored
         * text, the old encoder's text and what both read back as. When it
         * was generated, each old text was the old encoder's own, and the old
         * reader read it as pb_state_decode does. */
        fr = state_fields(&dr);
        fn = state_fields(&dn);
        digest_str(md, neu);
        digest_str(md, old);
        digest_str(md, ro == 0 ? "0" : "-1");
        digest_str(md, fr);
        digest_str(md, fn);
        if (i % 100 == 0)
            snprintf(first, sizeof first, "new %s\n  old %s\n  reads %s", neu, old, fn);
        if (i % 100 == 99) {
            digest_hex(md, hex);
            snprintf(name, sizeof name, "states[%d..%d]", i - 99, i);
            gl = find(g.l, g.n, name);
            if (!write_mode && (gl == NULL || strcmp(gl->val, hex) != 0))
                print_message("first state of %s:\n  %s\n", name, first);
            expect(&g, name, "%s", hex);
        }
        free(fr);
        free(fn);
        pb_state_free(&dr);
        pb_state_free(&dn);
        free(neu);
    }
    /* Most random states hold no 1e15: those are byte for byte the same. */
    expect(&g, "exact", "%d", exact);
    assert_true(exact > 50000);
    golden_close(&g);
    EVP_MD_CTX_free(md);
}

static void test_encode_fixed_texts(void **st)
{
    struct pb_state s;
    struct golden g;
    const char *b;
    char *a;
    (void)st;

    golden_open(&g, "inline", "fixed-texts");
    memset(&s, 0, sizeof s);
    s.known = s.present = s.is_playing = 1;
    s.item_key = "k\"\\\x01\n\x7f\xc3\xa9";
    s.device_id = "d";
    snprintf(s.kind, sizeof s.kind, "track");
    s.progress_ms = 2147483648LL;
    s.duration_ms = 999999999999999LL;
    a = pb_state_encode(&s);
    assert_string_equal(a, "{\"v\":1,\"p\":1,\"pl\":1,\"k\":\"k\\\"\\\\\\u0001\\n\x7f\xc3\xa9\","
                           "\"kd\":\"track\",\"d\":\"d\",\"pr\":2147483648,"
                           "\"du\":999999999999999}");
    /* ...which is the old encoder's text: no ref. line */
    assert_null(golden_ref(&g, "pb_state_encode"));
    expect(&g, "pb_state_encode", "%s", a);
    free(a);
    /* The one deliberate difference: 1e15 keeps its digits. */
    s.duration_ms = MS_MAX;
    a = pb_state_encode(&s);
    b = golden_ref(&g, "pb_state_encode(du=1e15)"); /* the old encoder's */
    assert_non_null(strstr(a, "\"du\":1000000000000000}"));
    expect(&g, "pb_state_encode(du=1e15)", "%s", a);
    assert_non_null(b);
    assert_non_null(strstr(b, "\"du\":1e+15}"));
    free(a);
    golden_close(&g);
}

/* ------------------------------------------------------------- parsing */

static void test_corpus_parses_the_same(void **st)
{
    int files = 0, ok = 0;
    (void)st;

    files += check_corpus("playback", corpus_body, &ok);
    files += check_corpus("pbdiff", corpus_body, &ok);
    assert_true(files > 40);
    assert_true(ok > 15);
}

static void test_history_corpus(void **st)
{
    int ok = 0;
    (void)st;

    assert_true(check_corpus("history", corpus_history, &ok) >= 5);
    assert_true(ok >= 5);
}

static void test_deliberate_differences(void **st)
{
    static const struct {
        const char *name, *body;
    } lenient[] = {
        {"lenient-leading-zero", "{\"a\":01,\"is_playing\":true}"},
        {"lenient-bare-dot", "{\"a\":1.,\"is_playing\":true}"},
        {"lenient-bare-dot-neg", "{\"a\":-.5,\"is_playing\":true}"},
        {"lenient-non-hex-u", "{\"a\":\"\\uZZZZ\",\"is_playing\":true}"},
        {"lenient-raw-tab", "{\"a\":\"x\ty\",\"is_playing\":true}"}, /* raw control byte in a string */
        {"lenient-ctrl-blank", "{\x01\"is_playing\":true}"},         /* cJSON's whitespace */
    };
    struct pb_state s;
    struct golden g;
    char err[256];
    (void)st;

    for (size_t i = 0; i < sizeof lenient / sizeof lenient[0]; i++) {
        const char *body = lenient[i].body;

        golden_open(&g, "inline", lenient[i].name);
        /* cJSON took it */
        assert_non_null(golden_ref(&g, "pb_parse"));
        assert_string_equal(golden_ref(&g, "pb_parse"), "0");
        assert_int_equal(pb_parse(body, strlen(body), &s, err, sizeof err), -1);
        assert_non_null(strstr(err, "body: invalid JSON near byte"));
        check_body(&g, body, strlen(body));
        golden_close(&g);
    }
    /* ...and the values read are the same where both accept: an escaped
     * NUL cuts a string, an escaped name matches. */
    const char *nul = "{\"is_playing\":true,\"item\":{\"id\":\"ab\\u0000cd\"}}";
    const char *names = "{\"is_pl\\u0061ying\":true,\"item\":{\"i\\u0064\":\"x\"},\"item\":7}";

    golden_open(&g, "inline", "nul");
    assert_int_equal(check_body(&g, nul, strlen(nul)), 0);
    assert_int_equal(g.nref, 0); /* no ref. line: cJSON read the same */
    golden_close(&g);
    golden_open(&g, "inline", "names");
    assert_int_equal(check_body(&g, names, strlen(names)), 0);
    assert_int_equal(g.nref, 0);
    golden_close(&g);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_matches_old),
        cmocka_unit_test(test_encode_fixed_texts),
        cmocka_unit_test(test_corpus_parses_the_same),
        cmocka_unit_test(test_history_corpus),
        cmocka_unit_test(test_deliberate_differences),
    };

    write_mode = argc == 2 && strcmp(argv[1], "--write-golden") == 0;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
