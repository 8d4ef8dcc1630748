/* admin_live.c: the dashboard's live feed, GET /events: server-sent events,
 * one per stream entry of every app (or of one user, ?user=), as
 * {"app","id","user","type","event"}. libmicrohttpd runs the feed in its
 * connection's own thread (a thread per connection), calling reader for
 * each piece of the answer; reader blocks in XREAD BLOCK on a Redis context
 * of the feed's own (a pooled one would be held for ever), at most
 * BLOCK_MS at a time so that serve's stop is seen within a second, and
 * sends a comment every KEEPALIVE_MS so a closed browser is noticed (the
 * write fails) and proxies keep the connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "admin_int.h"
#include "admin_model.h"
#include "base/log.h"
#include "redis/key_schema.h"
#include "redis/redis_sync.h"

#define BLOCK_MS 1000
#define KEEPALIVE_MS 15000
#define APPS_EVERY_MS 15000      /* apps added meanwhile join the feed this often */
#define ENTRIES_PER_READ 100
#define REDIS_TIMEOUT_S 5
#define STREAM_ID_MAX 48

struct feed_app {
    char app[ID_MAX + 1];
    char key[KEY_MAX];
    char last[STREAM_ID_MAX];    /* the last entry sent (or seen at the start) */
};

struct feed {
    struct admin *a;
    struct MHD_Connection *c;    /* the browser's connection */
    struct redis_sync *r;             /* owned: for XREAD BLOCK only */
    char user[ID_MAX + 1];       /* "" = every user */
    struct feed_app apps[ADMIN_APPS_MAX];
    int napps;
    long long apps_at, sent_at;  /* serve_now_ms of the last app list, of the last write */
    struct hbuf out;             /* what is ready to send */
    size_t off;                  /* of out, sent already */
    int warned;                  /* an XREAD error was logged */
};

/* last_id: the id of the newest entry of a stream, "0-0" when empty. */
static void last_id(struct redis_sync *r, const char *key, char *out, size_t n)
{
    redisReply *rep = redis_sync_command(r, "XREVRANGE %s + - COUNT 1", key);
    int ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
             rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 2 &&
             rep->element[0]->element[0]->type == REDIS_REPLY_STRING;
    snprintf(out, n, "%s", ok ? rep->element[0]->element[0]->str : "0-0");
    if (rep)
        freeReplyObject(rep);
}

/* stream_or_none: 1 when key is a stream or absent. Anything else (a
 * damaged record) would make the one XREAD over every app fail: that app
 * is left out until it is repaired (looked at again every APPS_EVERY_MS). */
static int stream_or_none(struct redis_sync *r, const char *key)
{
    redisReply *t = redis_sync_command(r, "TYPE %s", key);
    int ok = t && t->type == REDIS_REPLY_STATUS && (strcmp(t->str, "stream") == 0 || strcmp(t->str, "none") == 0);
    if (t)
        freeReplyObject(t);
    return ok;
}

/* refresh_apps adds the apps not followed yet: from their last entry at the
 * feed's start, from their first entry later (a new app's whole stream is
 * news). */
static void refresh_apps(struct feed *f, int first)
{
    cJSON *apps = admin_model_apps(f->r, f->a->s->cfg), *it;
    cJSON_ArrayForEach(it, apps) {
        int known = 0;
        for (int i = 0; i < f->napps && !known; i++)
            known = strcmp(f->apps[i].app, it->valuestring) == 0;
        struct app_keys k;
        keys_app(&k, f->a->s->cfg->key_prefix, it->valuestring);
        if (known || f->napps == ADMIN_APPS_MAX || !stream_or_none(f->r, k.events))
            continue;
        struct feed_app *fa = &f->apps[f->napps++];
        snprintf(fa->app, sizeof fa->app, "%s", it->valuestring);
        snprintf(fa->key, sizeof fa->key, "%s", k.events);
        if (first)
            last_id(f->r, fa->key, fa->last, sizeof fa->last);
        else
            snprintf(fa->last, sizeof fa->last, "0-0");
    }
    cJSON_Delete(apps);
    f->apps_at = serve_now_ms();
}

/* add_entry writes one entry as an event, unless the user filter drops it. */
static void add_entry(struct feed *f, const char *app, const redisReply *e)
{
    cJSON *o = admin_model_entry(e);
    if (o && (f->user[0] == '\0' || strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "user")), f->user) == 0)) {
        cJSON_AddStringToObject(o, "app", app);
        /* Unformatted: one line, as a data: field must be. */
        char *text = cJSON_PrintUnformatted(o);
        if (text)
            admin_hb_printf(&f->out, "data: %s\n\n", text);
        free(text);
    }
    cJSON_Delete(o);
}

/* xread: one XREAD of the followed streams from..to-1 (BLOCK_MS when
 * block); what came is appended to out. -1 when the link failed. */
static int xread(struct feed *f, int from, int to, int block)
{
    const char *argv[6 + 2 * ADMIN_APPS_MAX];
    char count[16], bl[16];
    int n = 0;
    snprintf(count, sizeof count, "%d", ENTRIES_PER_READ);
    snprintf(bl, sizeof bl, "%d", BLOCK_MS);
    argv[n++] = "XREAD";
    argv[n++] = "COUNT";
    argv[n++] = count;
    if (block) {
        argv[n++] = "BLOCK";
        argv[n++] = bl;
    }
    argv[n++] = "STREAMS";
    for (int i = from; i < to; i++)
        argv[n++] = f->apps[i].key;
    for (int i = from; i < to; i++)
        argv[n++] = f->apps[i].last;
    redisReply *rep = redis_sync_command_argv(f->r, n, argv, NULL);
    if (rep == NULL)
        return -1;
    if (rep->type == REDIS_REPLY_ERROR) {
        /* A stream key of the wrong type (a damaged record): wait as a
         * BLOCK would, rather than ask again at once, and say it once. */
        if (!f->warned)
            log_warn("admin: live feed: XREAD: %s", rep->str);
        f->warned = 1;
        freeReplyObject(rep);
        usleep(BLOCK_MS * 1000);
        return 0;
    }
    for (size_t s = 0; rep->type == REDIS_REPLY_ARRAY && s < rep->elements; s++) {
        const redisReply *st = rep->element[s];
        if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 || st->element[0]->type != REDIS_REPLY_STRING ||
            st->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        for (int i = from; i < to; i++) {
            if (strcmp(f->apps[i].key, st->element[0]->str) != 0)
                continue;
            for (size_t j = 0; j < st->element[1]->elements; j++) {
                const redisReply *e = st->element[1]->element[j];
                if (e->type == REDIS_REPLY_ARRAY && e->elements == 2 && e->element[0]->type == REDIS_REPLY_STRING)
                    snprintf(f->apps[i].last, sizeof f->apps[i].last, "%s", e->element[0]->str);
                add_entry(f, f->apps[i].app, e);
            }
        }
    }
    freeReplyObject(rep);
    return 0;
}

/* read_streams: one XREAD BLOCK over every followed stream. In a cluster
 * one XREAD may name one slot only: each app's stream is read on its node
 * without blocking, and a round that brought nothing waits CLUSTER_PAUSE_MS. */
#define CLUSTER_PAUSE_MS 200
static int read_streams(struct feed *f)
{
    size_t before = f->out.len;
    if (redis_sync_cluster_map(f->r) == NULL || f->napps <= 1)
        return xread(f, 0, f->napps, 1);
    for (int i = 0; i < f->napps; i++)
        if (xread(f, i, i + 1, 0) != 0)
            return -1;
    if (f->out.len == before)
        usleep(CLUSTER_PAUSE_MS * 1000);
    return 0;
}

/* gone: 1 when the browser has closed the connection (its end of the
 * stream is readable), so that a feed left behind frees its thread and its
 * Redis link within a second, not at the next keepalive. */
static int gone(struct feed *f)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(f->c, MHD_CONNECTION_INFO_CONNECTION_FD);
    char b;
    return ci && recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* fill waits until there is something to send (events, a keepalive) or the
 * feed must end (-1: serve stops, Redis is gone). */
static int fill(struct feed *f)
{
    while (f->out.len == f->off) {
        if (atomic_load(&f->a->stop) || f->out.oom || gone(f))
            return -1;
        free(f->out.s);
        f->out = (struct hbuf){0};
        f->off = 0;
        long long now = serve_now_ms();
        if (now - f->apps_at >= APPS_EVERY_MS)
            refresh_apps(f, 0);
        if (f->napps == 0)
            usleep(BLOCK_MS * 1000);
        else if (read_streams(f) != 0)
            return -1;   /* the browser reconnects; a new feed gets a new link */
        if (f->out.len == 0 && serve_now_ms() - f->sent_at >= KEEPALIVE_MS)
            admin_hb_printf(&f->out, ": keepalive\n\n");
    }
    return 0;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct feed *f = cls;
    (void)pos;
    if (fill(f) != 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = f->out.len - f->off < max ? f->out.len - f->off : max;
    memcpy(buf, f->out.s + f->off, n);
    f->off += n;
    f->sent_at = serve_now_ms();
    return (ssize_t)n;
}

static void feed_free(void *cls)
{
    struct feed *f = cls;
    if (f->r)
        redis_sync_free(f->r);
    free(f->out.s);
    free(f);
}

enum MHD_Result admin_live_answer(struct admin *a, struct admin_req *q, const char *const *headers)
{
    const char *user = admin_arg(q, "user");
    char err[256];
    struct feed *f = calloc(1, sizeof *f);
    struct MHD_Response *resp = NULL;
    if (f == NULL)
        return MHD_NO;
    f->a = a;
    f->c = q->c;
    if (user && keys_valid_id(user))
        snprintf(f->user, sizeof f->user, "%s", user);
    if ((f->r = redis_sync_connect(a->s->cfg, REDIS_TIMEOUT_S, err, sizeof err)) == NULL) {
        log_warn("admin: live feed: %s", err);
        feed_free(f);
        const char msg[] = "Redis unavailable\n";
        return http_server_reply(q->c, 503, "text/plain; charset=utf-8", msg, sizeof msg - 1, headers);
    }
    refresh_apps(f, 1);
    /* The browser reconnects 2 s after a lost feed; the comment makes the
     * answer start at once. */
    admin_hb_printf(&f->out, "retry: 2000\n: connected\n\n");
    f->sent_at = serve_now_ms();
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader, f, feed_free);
    if (resp == NULL) {
        feed_free(f);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");   /* nginx: do not buffer the feed */
    for (size_t i = 0; headers[i]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    enum MHD_Result ret = MHD_queue_response(q->c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}
