/* app_gauges.c: per-app gauges read from Redis (see
 * include/worker/app_gauges.h). Layer: called by worker.c only; calls
 * nothing in src/worker/ but the metrics (worker_metrics.c).
 *
 * Each reply's callback owns a small request naming the app (apps are
 * looked up by id, so an app added meanwhile changes nothing); a NULL reply
 * (the link dropped, or the worker is ending) just frees it. */
#include <stdlib.h>
#include <string.h>

#include "worker/app_gauges.h"
#include "worker_int.h"

/* The user statuses counted (README, "Redis key schema"); "broken" users
 * are those set aside in <p>{<app>}:broken, counted with HLEN. */
static const char *const statuses[] = {"active", "stopped", "reauth_required", "not_registered"};
#define NSTATUS (sizeof statuses / sizeof statuses[0])

/* app_count: one app's users by status, as the sweep in progress counts them. */
struct app_count {
    char id[ID_MAX + 1];
    double n[NSTATUS];
};

struct app_gauges {
    struct worker_metrics *wm;
    char cursor[32];           /* the sweep's HSCAN cursor ("0": start) */
    int scanning;              /* an HSCAN step (and its HGETs) is in flight */
    int step_left;             /* the step's HGETs not yet answered */
    int step_last;             /* the step in flight is the sweep's last */
    struct app_count *counts;  /* the sweep's counts so far */
    int ncounts;
};

/* What one reply is for. */
enum gauge_kind {
    G_SCHEDULED, G_OVERDUE, G_INFLIGHT, G_RL, G_BUDGET, G_BROKEN,   /* the schedule's gauges */
    G_WORKERS,      /* live workers: heartbeats not yet lapsed */
    G_HSCAN,        /* a step of the sweep: the directory's next users */
    G_STATUS,       /* one user's status */
};

struct gauge_req {
    struct app_gauges *g;
    struct worker *w;
    enum gauge_kind kind;
    long long now_ms;
    char app[ID_MAX + 1];
};

static void on_reply(struct redis_async *l, redisReply *r, void *ud);

/* gauge_send sends one command whose reply on_reply handles; 0 or -1. */
static int gauge_send(struct app_gauges *g, struct worker *w, enum gauge_kind kind, const char *app,
                      long long now_ms, int argc, const char **argv)
{
    struct gauge_req *q = calloc(1, sizeof *q);
    if (q == NULL)
        return -1;
    *q = (struct gauge_req){g, w, kind, now_ms, ""};
    snprintf(q->app, sizeof q->app, "%s", app ? app : "");
    if (redis_async_command(w->redis, on_reply, q, argc, argv, NULL) != 0) {
        free(q);
        return -1;
    }
    return 0;
}

static double reply_number(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return (double)r->integer;
    if (r->type == REDIS_REPLY_STRING && r->str != NULL)
        return atof(r->str);
    return 0;
}

static struct app_count *count_of(struct app_gauges *g, const char *app)
{
    for (int i = 0; i < g->ncounts; i++)
        if (strcmp(g->counts[i].id, app) == 0)
            return &g->counts[i];
    struct app_count *grown = realloc(g->counts, (size_t)(g->ncounts + 1) * sizeof *grown);
    if (grown == NULL)
        return NULL;
    g->counts = grown;
    memset(&grown[g->ncounts], 0, sizeof *grown);
    snprintf(grown[g->ncounts].id, sizeof grown[g->ncounts].id, "%s", app);
    return &grown[g->ncounts++];
}

/* known_app: only the apps the worker serves are counted, so entries naming
 * other apps (or garbage) cannot grow the counts. */
static int known_app(const struct worker *w, const char *app)
{
    for (int i = 0; i < w->napps; i++)
        if (strcmp(w->apps[i]->id, app) == 0)
            return 1;
    return 0;
}

static void step_done(struct app_gauges *g, struct worker *w);

/* on_scan: one HSCAN step of the directory (user -> app): ask each user's
 * status; the last of their answers ends the step. Counted rather than
 * fenced by a PING: in a cluster the users' hashes live on several nodes,
 * whose answers come in no common order. */
static void on_scan(struct gauge_req *q, redisReply *r)
{
    struct app_gauges *g = q->g;
    char key[KEY_MAX];

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
        g->scanning = 0;
        return;
    }
    snprintf(g->cursor, sizeof g->cursor, "%s", r->element[0]->str);
    redisReply *kv = r->element[1];
    for (size_t i = 0; i + 1 < kv->elements; i += 2) {
        const char *user = kv->element[i]->str, *app = kv->element[i + 1]->str;
        /* Data in Redis is hostile: an id outside the alphabet is skipped. */
        if (user == NULL || app == NULL || !keys_valid_id(user) || !keys_valid_id(app) ||
            !known_app(q->w, app))
            continue;
        keys_user(key, sizeof key, q->w->cfg->key_prefix, app, user);
        const char *hget[] = {"HGET", key, "status"};
        if (gauge_send(g, q->w, G_STATUS, app, q->now_ms, 3, hget) == 0)
            g->step_left++;
    }
    g->step_last = strcmp(g->cursor, "0") == 0;
    if (g->step_left == 0)
        step_done(g, q->w);
}

/* sweep_end: the sweep saw every user: publish its counts, start over. */
static void sweep_end(struct app_gauges *g, struct worker *w)
{
    for (int a = 0; a < w->napps; a++) {
        struct app_count *c = count_of(g, w->apps[a]->id);
        for (size_t s = 0; c != NULL && s < NSTATUS; s++)
            wm_app_users(g->wm, c->id, statuses[s], c->n[s]);
    }
    free(g->counts);
    g->counts = NULL;
    g->ncounts = 0;
}

/* step_done: the step's last status came back (or there was none): the
 * next tick takes the next step, or the sweep ends. */
static void step_done(struct app_gauges *g, struct worker *w)
{
    if (g->step_last)
        sweep_end(g, w);
    g->scanning = 0;
}

static void on_reply(struct redis_async *l, redisReply *r, void *ud)
{
    struct gauge_req *q = ud;
    struct app_gauges *g = q->g;
    (void)l;
    if (r == NULL) {
        if (q->kind == G_HSCAN)
            g->scanning = 0;
        else if (q->kind == G_STATUS && --g->step_left == 0)
            step_done(g, q->w);   /* a status lost: that user is missing from this sweep's counts */
        free(q);
        return;
    }
    switch (q->kind) {
    case G_SCHEDULED:
    case G_OVERDUE:
    case G_INFLIGHT:
    case G_BROKEN:
        wm_app_gauge(g->wm, q->app, q->kind == G_SCHEDULED ? WM_APP_SCHEDULED
                                : q->kind == G_OVERDUE ? WM_APP_OVERDUE
                                : q->kind == G_INFLIGHT ? WM_APP_INFLIGHT : WM_APP_BROKEN,
                     reply_number(r));
        break;
    case G_RL:   /* HMGET rl blocked_until budget_eff */
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
            double until = reply_number(r->element[0]);
            wm_app_gauge(g->wm, q->app, WM_APP_BLOCKED_REMAINING,
                         until > (double)q->now_ms ? (until - (double)q->now_ms) / 1000.0 : 0);
            if (r->element[1]->type == REDIS_REPLY_STRING)
                wm_budget(g->wm, q->app, reply_number(r->element[1]));
        }
        break;
    case G_BUDGET:   /* HGET app budget_30s: unset = the app-budget-30s default */
        wm_app_gauge(g->wm, q->app, WM_APP_BUDGET,
                     r->type == REDIS_REPLY_STRING ? reply_number(r) : (double)q->w->cfg->app_budget_30s);
        break;
    case G_STATUS:
        if (r->type == REDIS_REPLY_STRING) {
            struct app_count *c = count_of(g, q->app);
            for (size_t s = 0; c != NULL && s < NSTATUS; s++)
                if (strcmp(r->str, statuses[s]) == 0)
                    c->n[s]++;
        }
        if (--g->step_left == 0)
            step_done(g, q->w);
        break;
    case G_WORKERS:
        wm_live_workers(g->wm, reply_number(r));
        break;
    case G_HSCAN:
        on_scan(q, r);
        break;
    }
    free(q);
}

struct app_gauges *app_gauges_new(struct worker_metrics *wm)
{
    struct app_gauges *g;
    if (wm == NULL || (g = calloc(1, sizeof *g)) == NULL)
        return NULL;
    g->wm = wm;
    snprintf(g->cursor, sizeof g->cursor, "0");
    return g;
}

void app_gauges_free(struct app_gauges *g)
{
    if (g == NULL)
        return;
    free(g->counts);
    free(g);
}

/* scan_step sends the next HSCAN of the directory. */
static void scan_step(struct app_gauges *g, struct worker *w, long long now_ms)
{
    char dir[KEY_MAX], count[16];
    keys_global(dir, sizeof dir, w->cfg->key_prefix, "users");
    snprintf(count, sizeof count, "%d", APP_GAUGES_SCAN_COUNT);
    const char *hscan[] = {"HSCAN", dir, g->cursor, "COUNT", count};
    /* The HSCAN's own reply sends the HGETs; scanning stays set until the
     * last of them (or a failure) answers. */
    g->scanning = 1;
    g->step_left = 0;
    if (gauge_send(g, w, G_HSCAN, NULL, now_ms, 5, hscan) != 0)
        g->scanning = 0;
}

void app_gauges_tick(struct app_gauges *g, struct worker *w)
{
    long long now = worker_now_ms();
    char now_s[24];

    if (g == NULL || !redis_async_up(w->redis))
        return;
    if (!g->scanning)
        scan_step(g, w, now);
    if ((w->beats - 1) % APP_GAUGES_EVERY != 0)   /* the first heartbeat reads them too */
        return;
    snprintf(now_s, sizeof now_s, "%lld", now);
    const char *live[] = {"ZCOUNT", w->workers_key, now_s, "+inf"};
    gauge_send(g, w, G_WORKERS, NULL, now, 4, live);
    for (int i = 0; i < w->napps; i++) {
        const struct app *a = w->apps[i];
        const char *zcard[] = {"ZCARD", a->k.due};
        const char *over[] = {"ZCOUNT", a->k.due, "-inf", now_s};
        const char *leases[] = {"ZCARD", a->k.leases};
        const char *rl[] = {"HMGET", a->k.rl, "blocked_until", "budget_eff"};
        const char *budget[] = {"HGET", a->k.app, "budget_30s"};
        const char *broken[] = {"HLEN", a->k.broken};
        gauge_send(g, w, G_SCHEDULED, a->id, now, 2, zcard);
        gauge_send(g, w, G_OVERDUE, a->id, now, 4, over);
        gauge_send(g, w, G_INFLIGHT, a->id, now, 2, leases);
        gauge_send(g, w, G_RL, a->id, now, 4, rl);
        gauge_send(g, w, G_BUDGET, a->id, now, 3, budget);
        gauge_send(g, w, G_BROKEN, a->id, now, 2, broken);
    }
}
