/* history_scan.c: a backfill's pages against the user's memory of plays
 * announced (the contract and the memory's text are in
 * include/spotify/history_scan.h). Pure: no I/O, no clock. */
#include "spotify/history_scan.h"

#include <stdio.h>
#include <stdlib.h>

/* The largest number the memory holds: what Lua's doubles keep exactly. */
#define SEEN_NUM_MAX 9007199254740991LL

/* ------------------------------------------------------------- memory --- */

/* seen_num reads a whole decimal number at *p (1..16 digits, below 2^53),
 * advancing it. */
static int seen_num(const char **p, long long *out)
{
    long long v = 0;
    int n = 0;

    while (**p >= '0' && **p <= '9') {
        if (++n > 16)
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    if (n == 0 || v > SEEN_NUM_MAX)
        return -1;
    *out = v;
    return 0;
}

/* seen_tag reads exactly 8 lower-case hex digits at *p, advancing it. */
static int seen_tag(const char **p, unsigned long *out)
{
    unsigned long v = 0;

    for (int i = 0; i < 8; i++) {
        char c = (*p)[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

        if (d < 0)
            return -1;
        v = v << 4 | (unsigned long)d;
    }
    *p += 8;
    *out = v;
    return 0;
}

int history_seen_parse(const char *text, long long cursor_ms, struct history_seen *out)
{
    const char *p = text;

    out->since_ms = cursor_ms;
    out->n = 0;
    if (text == NULL || text[0] == '\0')
        return 0;
    if (seen_num(&p, &out->since_ms) < 0)
        goto bad;
    while (*p == ',') {
        struct history_seen_entry *e = &out->e[out->n];

        p++;
        if (out->n == HISTORY_SEEN_MAX || seen_num(&p, &e->played_at_ms) < 0 || *p++ != '.'
            || seen_tag(&p, &e->tag) < 0)
            goto bad;
        out->n++;
    }
    if (*p == '\0')
        return 0;
bad:
    out->since_ms = cursor_ms;
    out->n = 0;
    return -1;
}

int history_seen_has(const struct history_seen *s, long long played_at_ms, unsigned long tag)
{
    for (int i = 0; i < s->n; i++)
        if (s->e[i].played_at_ms == played_at_ms && s->e[i].tag == tag)
            return 1;
    return 0;
}

unsigned long history_play_tag(const cJSON *track)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(track, "id");
    unsigned long h = 2166136261UL;

    if (!cJSON_IsString(v) || v->valuestring[0] == '\0')
        v = cJSON_GetObjectItemCaseSensitive(track, "uri");
    if (!cJSON_IsString(v))
        return 0;
    for (const unsigned char *c = (const unsigned char *)v->valuestring; *c; c++)
        h = ((h ^ *c) * 16777619UL) & 0xffffffffUL;
    return h;
}

void history_play_key(long long played_at_ms, unsigned long tag, char *buf, size_t n)
{
    snprintf(buf, n, "%lld.%08lx", played_at_ms, tag & 0xffffffffUL);
}

/* --------------------------------------------------------------- scan --- */

struct history_scan *history_scan_new(const char *seen_text, long long cursor_ms, long long now_ms,
                                      long long window_ms, int deep, int *seen_bad)
{
    struct history_scan *s = calloc(1, sizeof *s);

    if (s == NULL)
        return NULL;
    s->deep = deep;
    *seen_bad = history_seen_parse(seen_text, cursor_ms, &s->seen) < 0;
    s->cursor_ms = cursor_ms;
    s->floor_ms = s->seen.since_ms;
    if (now_ms - window_ms > s->floor_ms)
        s->floor_ms = now_ms - window_ms;
    return s;
}

/* scan_has: a play already taken from an earlier page (a server that
 * ignores `before` repeats itself). */
static int scan_has(const struct history_scan *s, long long played_at_ms, unsigned long tag)
{
    for (int i = 0; i < s->n; i++)
        if (s->plays[i].played_at_ms == played_at_ms && s->plays[i].tag == tag)
            return 1;
    return 0;
}

static int scan_cmp(const void *a, const void *b)
{
    const struct history_scan_play *x = a, *y = b;

    if (x->played_at_ms != y->played_at_ms)
        return x->played_at_ms < y->played_at_ms ? -1 : 1;
    return x->tag < y->tag ? -1 : x->tag > y->tag;
}

int history_scan_page(struct history_scan *s, struct history_page *page)
{
    long long prev_before = s->before_ms;
    /* The page's oldest item is a play not announced yet: the plays below
     * it may be new too. (page->plays is oldest first; an oldest item
     * without a track, or at the floor, is not one.) */
    int bottom_new = page->n > 0 && page->plays[0].played_at_ms == page->oldest_ms
                     && !history_seen_has(&s->seen, page->plays[0].played_at_ms,
                                          history_play_tag(page->plays[0].track));

    s->pages++;
    for (int i = 0; i < page->n; i++) {
        struct history_play *p = &page->plays[i];
        unsigned long tag = history_play_tag(p->track);

        if (p->played_at_ms <= s->floor_ms || history_seen_has(&s->seen, p->played_at_ms, tag)
            || scan_has(s, p->played_at_ms, tag))
            continue;
        if (s->n == HISTORY_SCAN_MAX) {
            s->more = 1;   /* the next backfill takes the rest */
            continue;
        }
        s->plays[s->n].played_at_ms = p->played_at_ms;
        s->plays[s->n].track = p->track;
        s->plays[s->n++].tag = tag;
        p->track = NULL;   /* moved */
    }
    history_page_free(page);
    int full = page->nraw >= HISTORY_LIMIT;
    int back = prev_before == 0 || page->oldest_ms < prev_before;
    /* At the page cap, more stays 0: the next backfill would read the same
     * pages again, so it comes at its usual time. */
    if (full && back && page->oldest_ms > s->floor_ms && !s->more && s->pages < HISTORY_SCAN_PAGES
        && (s->deep || bottom_new)) {
        s->before_ms = page->oldest_ms;
        return 1;
    }
    qsort(s->plays, (size_t)s->n, sizeof s->plays[0], scan_cmp);
    return 0;
}

int history_scan_late(const struct history_scan *s, int i)
{
    return s->plays[i].played_at_ms < s->cursor_ms;
}

void history_scan_free(struct history_scan *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->n; i++)
        cJSON_Delete(s->plays[i].track);
    free(s);
}
