/* tail.c: `spotwatch tail [USER...] [--since ID|TIME] [--follow-stream]
 * [--app APP]`: events as they arrive, one JSON a line, until interrupted.
 * Two sources: the users' channels (<p>playback:<user>; what is published
 * while the link is down is lost) or, with --since/--follow-stream, the
 * apps' event streams (<p>{<app>}:events), read from an id and resumed
 * from the last one printed after a dropped link. Either way a dropped
 * link is reconnected, with a growing pause. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include "cli/cli.h"
#include "cli_int.h"
#include "redis/redis_sync.h"

#define TAIL_PAUSE_MIN_MS 200
#define TAIL_PAUSE_MAX_MS 5000
#define TAIL_STREAMS_MAX 64      /* apps followed at once */
#define TAIL_BLOCK_MS 2000       /* one XREAD's wait: the link is checked this often */

/* tail_stream: one app's stream and the id after which to read. */
struct tail_stream {
    char key[KEY_MAX];
    char last[48];
};

static void pause_ms(long long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* print_event writes one event (from a channel or a stream), escaped: text
 * someone else PUBLISHed cannot drive the terminal (an event, JSON without
 * raw control characters, is unchanged). */
static void print_event(const char *s)
{
    cli_fputs_esc(s, stdout);
    putchar('\n');
}

/* wanted: 1 when user is among the n users named (or none were). */
static int wanted(const char *user, int n, const char **users)
{
    for (int i = 0; i < n; i++)
        if (strcmp(users[i], user) == 0)
            return 1;
    return n == 0;
}

/* warn_unknown says which named users the directory does not know. */
static void warn_unknown(struct redis_sync *r, const struct sw_config *c, int n, const char **users)
{
    char dir[KEY_MAX];
    keys_global(dir, sizeof dir, c->key_prefix, "users");
    for (int i = 0; i < n; i++) {
        redisReply *rep = redis_sync_command(r, "HEXISTS %s %s", dir, users[i]);
        if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 0)
            fprintf(stderr, "spotwatch: tail: no such user '%s' (yet); waiting for its events anyway\n", users[i]);
        if (rep)
            freeReplyObject(rep);
    }
}

/* reconnect: a new link after the old one (freed) was lost, pausing longer
 * each time; never NULL (it waits). */
static struct redis_sync *reconnect(const struct sw_config *c, struct redis_sync *old, const char *why, const char *lost)
{
    char err[512];
    long long pause = TAIL_PAUSE_MIN_MS;
    fprintf(stderr, "spotwatch: tail: Redis link lost (%s); reconnecting%s\n", why, lost);
    redis_sync_free(old);
    for (;;) {
        pause_ms(pause);
        struct redis_sync *r = redis_sync_connect(c, 5, err, sizeof err);
        if (r) {
            fprintf(stderr, "spotwatch: tail: reconnected\n");
            return r;
        }
        pause = pause * 2 > TAIL_PAUSE_MAX_MS ? TAIL_PAUSE_MAX_MS : pause * 2;
    }
}

/* subscribe sends the (P)SUBSCRIBE of the users' channels, or of all. */
static void subscribe(struct redis_sync *r, const struct sw_config *c, int n, const char **users)
{
    char ch[KEY_MAX];
    struct timeval forever = {0, 0};
    if (n == 0) {
        snprintf(ch, sizeof ch, "%splayback:*", c->key_prefix);
        redis_sync_append(r, "PSUBSCRIBE %s", ch);
    }
    for (int i = 0; i < n; i++) {
        keys_channel(ch, sizeof ch, c->key_prefix, users[i]);
        redis_sync_append(r, "SUBSCRIBE %s", ch);
    }
    redis_sync_set_timeout(r, forever);
}

static int tail_channels(const struct sw_config *c, struct redis_sync *r, int n, const char **users)
{
    subscribe(r, c, n, users);
    for (;;) {
        redisReply *m = NULL;
        if (redis_sync_get_reply(r, (void **)&m) != REDIS_OK) {
            r = reconnect(c, r, redis_sync_errstr(r), "; events published meanwhile are lost (--follow-stream resumes)");
            subscribe(r, c, n, users);
            continue;
        }
        if (m && m->type == REDIS_REPLY_ARRAY && m->elements >= 3) {
            redisReply *kind = m->element[0], *payload = m->element[m->elements - 1];
            if (kind->type == REDIS_REPLY_STRING && payload->type == REDIS_REPLY_STRING &&
                (strcmp(kind->str, "message") == 0 || strcmp(kind->str, "pmessage") == 0))
                print_event(payload->str);
        }
        if (m)
            freeReplyObject(m);
    }
    return 1;   /* not reached: tail runs until interrupted */
}

/* since_id turns --since into the stream id after which to read (out, n):
 * a stream id as it is; a time (ms since the epoch, ISO 8601 UTC
 * "2026-12-02T20:00:00[.123]Z", or "10s"/"10m"/"2h"/"1d" before now) as the
 * last id before it. 0, or -1 (said). */
static int since_id(const char *s, long long now, char *out, size_t n)
{
    long long ms = -1;
    size_t digits = strspn(s, "0123456789");
    struct tm tm;
    char *end;
    if (digits > 0 && s[digits] == '-' && strspn(s + digits + 1, "0123456789") == strlen(s + digits + 1) &&
        s[digits + 1]) {
        snprintf(out, n, "%s", s);
        return 0;
    }
    if (digits > 0 && digits <= 15 && s[digits] == '\0') {
        ms = strtoll(s, NULL, 10);
    } else if (digits > 0 && digits <= 9 && strchr("smhd", s[digits]) && s[digits + 1] == '\0') {
        static const long long unit[] = {1000, 60000, 3600000, 86400000};
        ms = now - strtoll(s, NULL, 10) * unit[strchr("smhd", s[digits]) - "smhd"];
    } else {
        memset(&tm, 0, sizeof tm);
        end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (end) {
            ms = (long long)timegm(&tm) * 1000;
            if (*end == '.' && isdigit((unsigned char)end[1])) {
                long long frac = 0, scale = 100;
                for (end++; isdigit((unsigned char)*end); end++, scale /= 10)
                    frac += (*end - '0') * scale;
                ms += frac;
            }
            if (*end == 'Z')
                end++;
            if (*end)
                ms = -1;
        }
    }
    if (ms < 0) {
        fprintf(stderr, "spotwatch: --since: '%s' is not a stream id (1733000000000-0), a time in ms, ISO 8601 "
                        "(2026-12-02T20:00:00Z) or an age (10m, 2h, 1d)\n", s);
        return -1;
    }
    /* After the last id of the millisecond before: ms itself is included. */
    if (ms > 0)
        snprintf(out, n, "%lld-18446744073709551615", ms - 1);
    else
        snprintf(out, n, "0-0");
    return 0;
}

/* stream_last: the id of the newest entry of key ("0-0" when empty). */
static void stream_last(struct redis_sync *r, const char *key, char *out, size_t n)
{
    redisReply *rep = redis_sync_command(r, "XREVRANGE %s + - COUNT 1", key);
    snprintf(out, n, "0-0");
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 && rep->element[0]->type == REDIS_REPLY_ARRAY &&
        rep->element[0]->element[0]->str)
        snprintf(out, n, "%s", rep->element[0]->element[0]->str);
    if (rep)
        freeReplyObject(rep);
}

/* print_entries prints the entries of one stream of an XREAD reply whose
 * user is wanted, and moves s->last past them. */
static void print_entries(struct tail_stream *s, const redisReply *entries, int n, const char **users)
{
    for (size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        snprintf(s->last, sizeof s->last, "%s", e->element[0]->str);
        const redisReply *f = e->element[1];
        const char *user = "", *event = NULL;
        for (size_t j = 0; f->type == REDIS_REPLY_ARRAY && j + 1 < f->elements; j += 2) {
            if (f->element[j]->str && f->element[j + 1]->str && strcmp(f->element[j]->str, "user") == 0)
                user = f->element[j + 1]->str;
            if (f->element[j]->str && f->element[j + 1]->str && strcmp(f->element[j]->str, "event") == 0)
                event = f->element[j + 1]->str;
        }
        if (event && wanted(user, n, users))
            print_event(event);
    }
}

/* xread: one XREAD of the ns streams st (blocking TAIL_BLOCK_MS when
 * block): 0, or -1 when the link failed. *got counts the streams that
 * answered entries. */
static int xread(struct redis_sync *r, struct tail_stream *st, int ns, int block, int n, const char **users, int *got)
{
    const char *argv[6 + 2 * TAIL_STREAMS_MAX];
    int k = 0;
    argv[k++] = "XREAD";
    argv[k++] = "COUNT";
    argv[k++] = "500";
    if (block) {
        argv[k++] = "BLOCK";
        argv[k++] = "2000";
    }
    argv[k++] = "STREAMS";
    for (int i = 0; i < ns; i++)
        argv[k++] = st[i].key;
    for (int i = 0; i < ns; i++)
        argv[k++] = st[i].last;
    redisReply *rep = redis_sync_command_argv(r, k, argv, NULL);
    if (rep == NULL)
        return -1;
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        const redisReply *one = rep->element[i];
        if (one->type != REDIS_REPLY_ARRAY || one->elements != 2 || !one->element[0]->str)
            continue;
        for (int j = 0; j < ns; j++)
            if (strcmp(st[j].key, one->element[0]->str) == 0)
                print_entries(&st[j], one->element[1], n, users);
        (*got)++;
    }
    if (rep->type == REDIS_REPLY_ERROR)
        fprintf(stderr, "spotwatch: tail: Redis: %s\n", rep->str);
    int bad = rep->type == REDIS_REPLY_ERROR;
    freeReplyObject(rep);
    if (bad)
        pause_ms(TAIL_PAUSE_MAX_MS);
    return 0;
}

/* read_streams: one XREAD of every stream (blocking TAIL_BLOCK_MS): 0, or
 * -1 when the link failed. In a cluster the apps' streams live in other
 * slots, and one XREAD may name one slot only: each stream is read on its
 * app's node without blocking, and a round that found nothing pauses
 * TAIL_CLUSTER_PAUSE_MS. */
#define TAIL_CLUSTER_PAUSE_MS 200
static int read_streams(struct redis_sync *r, struct tail_stream *st, int ns, int n, const char **users)
{
    int got = 0;
    if (redis_sync_cluster_map(r) == NULL || ns == 1)
        return xread(r, st, ns, 1, n, users, &got);
    for (int i = 0; i < ns; i++)
        if (xread(r, st + i, 1, 0, n, users, &got) != 0)
            return -1;
    if (got == 0)
        pause_ms(TAIL_CLUSTER_PAUSE_MS);
    return 0;
}

/* tail_streams follows the streams of --app or every app, from --since (or
 * now), resuming after the last entry printed when the link comes back. */
static int tail_streams(const struct sw_config *c, struct redis_sync *r, struct cli_args *a, int n, const char **users)
{
    struct tail_stream st[TAIL_STREAMS_MAX];
    char start[48], apps[KEY_MAX];
    int ns = 0;
    if (a->o[0].value && since_id(a->o[0].value, redis_sync_now_ms(r), start, sizeof start) != 0) {
        redis_sync_free(r);
        return 2;
    }
    keys_global(apps, sizeof apps, c->key_prefix, "apps");
    redisReply *rep = a->o[2].value ? NULL : redis_sync_command(r, "SMEMBERS %s", apps);
    int napps = a->o[2].value ? 1 : rep && rep->type == REDIS_REPLY_ARRAY ? (int)rep->elements : 0;
    for (int i = 0; i < napps && ns < TAIL_STREAMS_MAX; i++) {
        struct app_keys k;
        keys_app(&k, c->key_prefix, a->o[2].value ? a->o[2].value : rep->element[i]->str);
        snprintf(st[ns].key, sizeof st[ns].key, "%s", k.events);
        if (a->o[0].value)
            snprintf(st[ns].last, sizeof st[ns].last, "%s", start);
        else
            stream_last(r, k.events, st[ns].last, sizeof st[ns].last);
        ns++;
    }
    if (rep)
        freeReplyObject(rep);
    if (napps > TAIL_STREAMS_MAX)
        fprintf(stderr, "spotwatch: tail: following the first %d apps' streams only (--app names one)\n",
                TAIL_STREAMS_MAX);
    if (ns == 0) {
        fprintf(stderr, "spotwatch: tail: no apps, so no streams to read\n");
        redis_sync_free(r);
        return 1;
    }
    struct timeval wait = {TAIL_BLOCK_MS / 1000 + 10, 0};
    redis_sync_set_timeout(r, wait);
    for (;;) {
        if (read_streams(r, st, ns, n, users) != 0) {
            r = reconnect(c, r, redis_sync_errstr(r), "; resuming after the last event printed");
            redis_sync_set_timeout(r, wait);
        }
    }
    return 1;   /* not reached: tail runs until interrupted */
}

int cli_tail(const struct sw_config *c, struct cli_args *a)
{
    for (int i = 0; i < a->npos; i++)
        if (cli_check_id("user", a->pos[i]) != 0)
            return 2;
    if (a->o[2].value && cli_check_id("app", a->o[2].value) != 0)
        return 2;
    if (a->o[2].value && !a->o[0].value && !a->o[1].value) {
        fprintf(stderr, "spotwatch tail: --app reads a stream: give --since or --follow-stream too\n");
        return 2;
    }
    struct redis_sync *r = cli_connect(c);
    if (r == NULL)
        return 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    warn_unknown(r, c, a->npos, a->pos);
    if (a->o[0].value || a->o[1].value)
        return tail_streams(c, r, a, a->npos, a->pos);
    return tail_channels(c, r, a->npos, a->pos);
}
