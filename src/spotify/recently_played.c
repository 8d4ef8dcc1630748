/* recently_played.c: recently-played bodies -> plays after a cursor -> track_played
 * events. Pure: no I/O, no clock, no global state (the contract is in
 * include/spotify/recently_played.h). */
#include "base/errbuf.h"
#include "spotify/recently_played.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotify/playback.h"

/* Years outside this range are not a played_at: it keeps the arithmetic far
 * from overflow and catches garbage early. */
#define HISTORY_YEAR_MIN 1970
#define HISTORY_YEAR_MAX 9999

/* ---------------------------------------------------------------- time */

/* digits reads exactly n decimal digits at *p, advancing it. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* days_from_civil: days since 1970-01-01 of a proleptic Gregorian date
 * (Howard Hinnant's algorithm); pure arithmetic, no timegm and no TZ. */
static long long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153LL * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

int history_parse_time(const char *s, long long *ms)
{
    int y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0, sign = 0;
    const char *p = s;

    if (s == NULL)
        return -1;
    if (digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 || *p++ != '-'
        || digits(&p, 2, &d) < 0)
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (digits(&p, 2, &h) < 0 || *p++ != ':' || digits(&p, 2, &mi) < 0 || *p++ != ':'
        || digits(&p, 2, &sec) < 0)
        return -1;
    if (*p == '.') {
        int n = 0;

        p++;
        if (*p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                frac = frac * 10 + (*p - '0');
        for (; n < 3; n++)
            frac *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (digits(&p, 2, &oh) < 0)
            return -1;
        if (*p == ':')
            p++;
        if (digits(&p, 2, &om) < 0 || oh > 23 || om > 59)
            return -1;
    } else {
        return -1;   /* no zone: a local time means nothing here */
    }
    if (*p != '\0')
        return -1;
    /* sec 60: a leap second, which the epoch count folds into the next one. */
    if (y < HISTORY_YEAR_MIN || y > HISTORY_YEAR_MAX || mo < 1 || mo > 12 || d < 1
        || d > month_days(y, mo) || h > 23 || mi > 59 || sec > 60)
        return -1;
    long long t = days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + sec;
    t -= sign * (oh * 3600LL + om * 60LL);
    *ms = t * 1000 + frac;
    return 0;
}

/* --------------------------------------------------------------- parse */

static int play_cmp(const void *a, const void *b)
{
    const struct history_play *x = a, *y = b;

    return x->played_at_ms < y->played_at_ms ? -1 : x->played_at_ms > y->played_at_ms;
}

void history_page_free(struct history_page *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < p->n; i++)
        cJSON_Delete(p->plays[i].track);
    p->n = 0;
}

/* played_at_ms reads items[i].played_at: a string (cut at an escaped NUL,
 * as a C string would be) holding an ISO 8601 time. */
static int played_at_ms(const struct js_val *at, int i, long long *ms, char *err, size_t errlen)
{
    char small[64], *text = small;
    int rc;

    if (at->type != JS_STRING) {
        errbuf_set(err, errlen, "items[%d].played_at: not a string", i);
        return -1;
    }
    if (at->n - 1 > sizeof small) {
        text = malloc(at->n - 1);
        if (text == NULL) {
            errbuf_set(err, errlen, "out of memory");
            return -1;
        }
    }
    js_str_unescape(at, text);
    rc = history_parse_time(text, ms);
    if (text != small)
        free(text);
    if (rc < 0)
        errbuf_set(err, errlen, "items[%d].played_at: not an ISO 8601 time", i);
    return rc;
}

int history_parse(const char *body, size_t len, long long after_ms, struct history_page *out,
                  char *err, size_t errlen)
{
    static const char *const item_keys[] = {"played_at", "track"};
    static const char *const root_keys[] = {"items"};
    struct js_val root, items, it;
    struct js_iter iter;
    struct history_play *all = NULL;
    int nall = 0, cap = 0, i = 0, nraw = 0;
    char sub[160];

    memset(out, 0, sizeof *out);
    out->cursor_ms = after_ms;
    out->oldest_ms = LLONG_MAX;
    errbuf_set(err, errlen, "%s", "");
    if (body == NULL)
        len = 0;
    switch (pb_parse_body(body, len, &root, err, errlen)) {
    case 1:
        errbuf_set(err, errlen, "body: empty");
        return -1;
    case -1:
        goto fail;
    }
    js_lookup(&root, root_keys, 1, &items);
    if (items.type != JS_NONE && items.type != JS_NULL && items.type != JS_ARRAY) {
        errbuf_set(err, errlen, "items: not an array");
        goto fail;
    }
    if (items.type != JS_ARRAY)
        goto done;

    js_iter_init(&iter, &items);
    while (js_iter_next(&iter, &it)) {
        struct js_val v[2];
        const struct js_val *track = &v[1];
        long long played;

        nraw++;
        if (it.type != JS_OBJECT) {
            errbuf_set(err, errlen, "items[%d]: not an object", i);
            goto fail;
        }
        js_lookup(&it, item_keys, 2, v);
        if (played_at_ms(&v[0], i, &played, err, errlen) < 0)
            goto fail;
        if (track->type != JS_NONE && track->type != JS_NULL && track->type != JS_OBJECT) {
            errbuf_set(err, errlen, "items[%d].track: not an object", i);
            goto fail;
        }
        i++;
        if (played < out->oldest_ms)
            out->oldest_ms = played;
        if (track->type != JS_OBJECT || played <= after_ms)
            continue;
        if (nall == cap) {
            int ncap = cap ? cap * 2 : 16;
            struct history_play *grown = realloc(all, (size_t)ncap * sizeof *grown);

            if (grown == NULL)
                goto oom;
            all = grown;
            cap = ncap;
        }
        all[nall].played_at_ms = played;
        all[nall].track = pb_item_track(track, sub, sizeof sub);
        if (all[nall].track == NULL) {
            errbuf_set(err, errlen, "items[%d].track: %s", i - 1, sub);
            goto fail;
        }
        nall++;
    }
    /* Spotify lists newest first; events go out oldest first. A stable
     * order for equal times is not needed: duplicates are dropped below. */
    if (nall > 1)
        qsort(all, (size_t)nall, sizeof *all, play_cmp);
    for (int k = 0; k < nall; k++) {
        if (out->n > 0 && out->plays[out->n - 1].played_at_ms == all[k].played_at_ms
            && cJSON_Compare(out->plays[out->n - 1].track, all[k].track, 1)) {
            cJSON_Delete(all[k].track);      /* the same play listed twice */
        } else if (out->n < HISTORY_LIMIT) {
            out->plays[out->n++] = all[k];
        } else {
            cJSON_Delete(all[k].track);      /* fetched by the next backfill */
            out->more = 1;
        }
        all[k].track = NULL;
    }
    if (out->n > 0)
        out->cursor_ms = out->plays[out->n - 1].played_at_ms;
done:
    /* A full answer with new plays may have left some out; one with none
     * (a server that ignores `after`) would only repeat itself. */
    if (nraw >= HISTORY_LIMIT && out->n > 0)
        out->more = 1;
    out->nraw = nraw;
    free(all);
    return 0;
oom:
    errbuf_set(err, errlen, "out of memory");
fail:
    for (int k = 0; k < nall; k++)
        cJSON_Delete(all[k].track);
    free(all);
    history_page_free(out);
    out->more = 0;
    out->cursor_ms = after_ms;
    out->oldest_ms = LLONG_MAX;
    return -1;
}
