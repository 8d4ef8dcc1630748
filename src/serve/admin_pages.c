/* admin_pages.c: the dashboard's pages (src/serve/admin_int.h), rendered
 * here from admin_model's reads. Every string from outside (ids, display
 * names, track names, errors, whatever a Redis field holds) is escaped by
 * admin_hb_esc / admin_hb_url; nothing is inline script or style (CSP). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_int.h"
#include "admin_model.h"
#include "redis/key_schema.h"

#define USERS_SHOWN 500          /* rows on the users page (the count says how many matched) */
#define EVENTS_SHOWN 30          /* a user's recent events */

static const char *const STATUSES[] = {"active", "stopped", "reauth_required", "not_registered", "broken",
                                       NULL};

/* ================================ the frame =============================== */

void admin_page_head(struct admin_req *q, const char *title, const char *nav)
{
    static const char *const links[][2] = {{"/", "Overview"}, {"/users", "Users"}, {"/live", "Live"}};
    q->status = q->status ? q->status : 200;
    q->ctype = "text/html; charset=utf-8";
    admin_hb_printf(&q->out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                             "<meta name=\"viewport\" content=\"width=device-width\">"
                             "<title>spotwatch \xc2\xb7 ");
    admin_hb_esc(&q->out, title);
    admin_hb_printf(&q->out, "</title><link rel=\"stylesheet\" href=\"/admin.css\">"
                             "<script src=\"/admin.js\" defer></script></head>\n<body><nav>"
                             "<span class=\"brand\">spotwatch</span>");
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
        admin_hb_printf(&q->out, "<a href=\"%s\"%s>%s</a>", links[i][0],
                        nav && strcmp(nav, links[i][0]) == 0 ? " class=\"here\"" : "", links[i][1]);
    admin_hb_printf(&q->out, "</nav>\n<main><h1>");
    admin_hb_esc(&q->out, title);
    admin_hb_printf(&q->out, "</h1>\n");
}

void admin_page_tail(struct admin_req *q)
{
    admin_hb_printf(&q->out, "</main></body></html>\n");
}

void admin_page_error(struct admin_req *q, unsigned status, const char *title, const char *text)
{
    free(q->out.s);
    q->out = (struct hbuf){0};
    q->status = status;
    admin_page_head(q, title, NULL);
    admin_hb_printf(&q->out, "<p class=\"error\">");
    admin_hb_esc(&q->out, text);
    admin_hb_printf(&q->out, "</p>");
    admin_page_tail(q);
}

/* redis_or_fail: a pooled context, or the error page (503). */
static struct redis_sync *redis_or_fail(struct admin *a, struct admin_req *q)
{
    char why[256];
    struct redis_sync *r = serve_redis_get(a->s, why, sizeof why);
    if (r == NULL)
        admin_page_error(q, 503, "Redis unavailable", why);
    return r;
}

static const char *sget(const cJSON *o, const char *name)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(o, name));
    return v ? v : "";
}

static double nget(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* status_badge: a status, escaped, with a class naming a known one. */
static void status_badge(struct hbuf *b, const char *st)
{
    const char *cls = "other";
    for (size_t i = 0; STATUSES[i]; i++)
        if (strcmp(st, STATUSES[i]) == 0)
            cls = STATUSES[i];
    admin_hb_printf(b, "<span class=\"status st-%s\">", cls);
    admin_hb_esc(b, st);
    admin_hb_printf(b, "</span>");
}

static void user_link(struct hbuf *b, const char *user)
{
    admin_hb_printf(b, "<a class=\"user\" href=\"/user?id=");
    admin_hb_url(b, user);
    admin_hb_printf(b, "\">");
    admin_hb_esc(b, user);
    admin_hb_printf(b, "</a>");
}

/* ================================ overview ================================ */

static void overview_app(struct admin *a, struct admin_req *q, struct redis_sync *r, const char *app,
                         const cJSON *users, long long now)
{
    struct hbuf *b = &q->out;
    cJSON *m = admin_model_app(r, a->s->cfg, app, now), *it, *by = cJSON_CreateObject();
    cJSON_ArrayForEach(it, users) {
        if (strcmp(sget(it, "app"), app) != 0)
            continue;
        cJSON *n = cJSON_GetObjectItem(by, sget(it, "status"));
        if (n)
            cJSON_SetNumberValue(n, n->valuedouble + 1);
        else
            cJSON_AddNumberToObject(by, sget(it, "status"), 1);
    }
    admin_hb_printf(b, "<section class=\"card app\" data-app=\"");
    admin_hb_esc(b, app);
    admin_hb_printf(b, "\"><h2>");
    admin_hb_esc(b, app);
    admin_hb_printf(b, "</h2><p class=\"counts\">users:");
    cJSON_ArrayForEach(it, by) {
        admin_hb_printf(b, " <a href=\"/users?app=");
        admin_hb_url(b, app);
        admin_hb_printf(b, "&amp;status=");
        admin_hb_url(b, it->string);
        admin_hb_printf(b, "\">");
        status_badge(b, it->string);
        admin_hb_printf(b, " <b>%.0f</b></a>", it->valuedouble);
    }
    if (by->child == NULL)
        admin_hb_printf(b, " none");
    admin_hb_printf(b, "</p>");
    if (nget(m, "blocked_for_ms") > 0) {
        admin_hb_printf(b, "<p class=\"limiter blocked\">blocked: <b>");
        admin_hb_esc(b, sget(m, "block_reason"));
        admin_hb_printf(b, "</b> for ");
        admin_hb_ms(b, (long long)nget(m, "blocked_for_ms"));
        admin_hb_printf(b, " more");
        if (a->actions) {
            admin_hb_printf(b, " <a class=\"action\" href=\"/confirm?do=unblock&amp;app=");
            admin_hb_url(b, app);
            admin_hb_printf(b, "\">unblock\xe2\x80\xa6</a>");
        }
        admin_hb_printf(b, "</p>");
    } else {
        admin_hb_printf(b, "<p class=\"limiter ok\">not blocked</p>");
    }
    admin_hb_printf(b, "<p class=\"numbers\">429s <b class=\"r429\">%.0f</b> \xc2\xb7 polls <b>%.0f</b> "
                       "\xc2\xb7 errors <b>%.0f</b> \xc2\xb7 scheduled %.0f \xc2\xb7 overdue %.0f "
                       "\xc2\xb7 in flight %.0f</p>",
                    nget(m, "r429"), nget(m, "polls"), nget(m, "errors"), nget(m, "scheduled"),
                    nget(m, "overdue"), nget(m, "in_flight"));
    double budget = nget(m, "budget_30s"), window = nget(m, "window_ms");
    admin_hb_printf(b, "<p class=\"caption\">polls per minute, last hour (budget %s)</p>",
                    budget > 0 ? "line" : "unlimited");
    admin_series_svg(a->series, app, serve_now_ms(), nget(m, "polls"),
                     budget > 0 && window > 0 ? budget * 60000.0 / window : 0, b);
    admin_hb_printf(b, "</section>\n");
    cJSON_Delete(by);
    cJSON_Delete(m);
}

static void overview_workers(struct admin_req *q, const cJSON *workers)
{
    static const char *const cols[] = {"host", "pid", "polls", "inflight", "lag_p50_ms", "lag_p99_ms",
                                       "poll_p50_ms", "poll_p95_ms", "poll_p99_ms"};
    struct hbuf *b = &q->out;
    const cJSON *w;
    admin_hb_printf(b, "<h2>Workers (%d live)</h2><table class=\"workers\"><tr><th>id</th>",
                    cJSON_GetArraySize(workers));
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        admin_hb_printf(b, "<th>%s</th>", cols[i]);
    admin_hb_printf(b, "</tr>");
    cJSON_ArrayForEach(w, workers) {
        admin_hb_printf(b, "<tr><td>");
        admin_hb_esc(b, sget(w, "id"));
        for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
            admin_hb_printf(b, "</td><td>");
            admin_hb_esc(b, cJSON_GetObjectItem(w, cols[i]) ? sget(w, cols[i]) : "\xe2\x80\x94");
        }
        admin_hb_printf(b, "</td></tr>");
    }
    admin_hb_printf(b, "</table>\n");
}

/* overview_cluster: each primary (slots, replicas, the apps it holds),
 * from cluster_topo_json's object; every string is escaped (from Redis). */
static void overview_cluster(struct admin_req *q, const cJSON *cl)
{
    const cJSON *p, *x, *ap;
    admin_hb_printf(&q->out, "<h3>Cluster</h3><table class=\"cluster\"><tr><th>primary</th><th>slots</th>"
                             "<th>replicas</th><th>apps</th></tr>");
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(cl, "primaries")) {
        const char *addr = sget(p, "addr");
        const char *sep = "";
        admin_hb_printf(&q->out, "<tr><td>");
        admin_hb_esc(&q->out, addr);
        admin_hb_printf(&q->out, "</td><td>%d</td><td>", (int)nget(p, "slots"));
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(p, "replicas")) {
            admin_hb_printf(&q->out, "%s", sep);
            admin_hb_esc(&q->out, cJSON_IsString(x) ? x->valuestring : "");
            sep = ", ";
        }
        admin_hb_printf(&q->out, "</td><td>");
        sep = "";
        cJSON_ArrayForEach(ap, cJSON_GetObjectItem(cl, "apps")) {
            if (strcmp(sget(ap, "node"), addr) != 0)
                continue;
            admin_hb_printf(&q->out, "%s", sep);
            admin_hb_esc(&q->out, sget(ap, "app"));
            sep = ", ";
        }
        admin_hb_printf(&q->out, "</td></tr>");
    }
    admin_hb_printf(&q->out, "</table>\n");
}

static void overview_redis(struct admin_req *q, const cJSON *rd)
{
    static const char *const rows[][2] = {{"used_memory_human", "used memory"}, {"maxmemory_human", "maxmemory"},
                                          {"role", "role"}, {"connected_slaves", "replicas"},
                                          {"cluster_enabled", "cluster"}, {"redis_version", "version"}};
    const cJSON *cl = cJSON_GetObjectItem(rd, "cluster");
    admin_hb_printf(&q->out, "<h2>Redis</h2><table class=\"redis\">");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        admin_hb_printf(&q->out, "<tr><th>%s</th><td>", rows[i][1]);
        if (cl && strcmp(rows[i][0], "used_memory_human") == 0)   /* every primary's, not one node's */
            admin_hb_printf(&q->out, "%.1fM (%d primaries)", nget(rd, "used_memory") / (1024.0 * 1024.0),
                            (int)nget(rd, "nodes"));
        else
            admin_hb_esc(&q->out, sget(rd, rows[i][0]));
        admin_hb_printf(&q->out, "</td></tr>");
    }
    admin_hb_printf(&q->out, "</table>\n");
    if (cl)
        overview_cluster(q, cl);
}

void admin_page_overview(struct admin *a, struct admin_req *q)
{
    struct redis_sync *r = redis_or_fail(a, q);
    if (r == NULL)
        return;
    long long now = serve_now_ms();
    cJSON *apps = admin_model_apps(r, a->s->cfg), *users = admin_model_users(r, a->s->cfg), *it;
    cJSON *workers = admin_model_workers(r, a->s->cfg, now), *rd = admin_model_redis(r, a->s->cfg);
    admin_page_head(q, "Overview", "/");
    cJSON_ArrayForEach(it, apps)
        overview_app(a, q, r, it->valuestring, users, now);
    if (apps == NULL || apps->child == NULL)
        admin_hb_printf(&q->out, "<p>No app yet (<code>spotwatch app add</code>).</p>");
    overview_workers(q, workers);
    overview_redis(q, rd);
    admin_page_tail(q);
    serve_redis_put(a->s, r);
    cJSON_Delete(apps);
    cJSON_Delete(users);
    cJSON_Delete(workers);
    cJSON_Delete(rd);
}

/* ================================== users ================================= */

/* select_box: a <select> of options, the current one selected. */
static void select_box(struct hbuf *b, const char *name, const char *cur, const cJSON *list,
                       const char *const *fixed)
{
    const cJSON *it;
    admin_hb_printf(b, "<select name=\"%s\"><option value=\"\">any %s</option>", name, name);
    for (size_t i = 0; fixed && fixed[i]; i++) {
        admin_hb_printf(b, "<option%s>%s</option>", cur && strcmp(cur, fixed[i]) == 0 ? " selected" : "",
                        fixed[i]);
    }
    cJSON_ArrayForEach(it, list) {
        admin_hb_printf(b, "<option%s>", cur && strcmp(cur, it->valuestring) == 0 ? " selected" : "");
        admin_hb_esc(b, it->valuestring);
        admin_hb_printf(b, "</option>");
    }
    admin_hb_printf(b, "</select>");
}

/* matches: the users page's filters (q: a part of the id or the display
 * name, any case; app and status exactly). */
static int matches(const cJSON *u, const char *text, const char *app, const char *status)
{
    if (app && app[0] && strcmp(sget(u, "app"), app) != 0)
        return 0;
    if (status && status[0] && strcmp(sget(u, "status"), status) != 0)
        return 0;
    return !text || !text[0] || strcasestr(sget(u, "user"), text) || strcasestr(sget(u, "display_name"), text);
}

static void user_row(struct hbuf *b, const cJSON *u, long long now)
{
    admin_hb_printf(b, "<tr class=\"user-row\" data-user=\"");
    admin_hb_esc(b, sget(u, "user"));
    admin_hb_printf(b, "\"><td>");
    user_link(b, sget(u, "user"));
    admin_hb_printf(b, "</td><td>");
    admin_hb_esc(b, sget(u, "app"));
    admin_hb_printf(b, "</td><td class=\"name\">");
    admin_hb_esc(b, sget(u, "display_name"));
    admin_hb_printf(b, "</td><td>");
    status_badge(b, sget(u, "status"));
    admin_hb_printf(b, "</td><td class=\"playing\">%s", cJSON_IsTrue(cJSON_GetObjectItem(u, "playing")) ? "\xe2\x96\xb6 " : "");
    admin_hb_esc(b, sget(u, "track"));
    admin_hb_printf(b, "</td><td class=\"err\">");
    admin_hb_esc(b, sget(u, "last_error"));
    admin_hb_printf(b, "</td><td>");
    if (nget(u, "next_poll_at") > 0)
        admin_hb_ms(b, (long long)nget(u, "next_poll_at") - now);
    else
        admin_hb_printf(b, "not scheduled");
    admin_hb_printf(b, "</td></tr>\n");
}

void admin_page_users(struct admin *a, struct admin_req *q)
{
    const char *text = admin_arg(q, "q"), *app = admin_arg(q, "app"), *status = admin_arg(q, "status");
    struct redis_sync *r = redis_or_fail(a, q);
    if (r == NULL)
        return;
    long long now = serve_now_ms();
    cJSON *apps = admin_model_apps(r, a->s->cfg), *users = admin_model_users(r, a->s->cfg), *u;
    serve_redis_put(a->s, r);
    struct hbuf *b = &q->out;
    admin_page_head(q, "Users", "/users");
    admin_hb_printf(b, "<form class=\"filter\" method=\"get\" action=\"/users\">"
                       "<input type=\"search\" name=\"q\" placeholder=\"user or name\" value=\"");
    admin_hb_esc(b, text);
    admin_hb_printf(b, "\">");
    select_box(b, "app", app, apps, NULL);
    select_box(b, "status", status, NULL, STATUSES);
    admin_hb_printf(b, "<button type=\"submit\">Filter</button></form>\n"
                       "<table class=\"users\"><tr><th>user</th><th>app</th><th>name</th><th>status</th>"
                       "<th>now playing</th><th>last error</th><th>next poll</th></tr>\n");
    int n = 0;
    cJSON_ArrayForEach(u, users) {
        if (!matches(u, text, app, status))
            continue;
        if (n++ < USERS_SHOWN)
            user_row(b, u, now);
    }
    admin_hb_printf(b, "</table><p class=\"count\">%d user%s match%s", n, n == 1 ? "" : "s", n == 1 ? "es" : "");
    if (n > USERS_SHOWN)
        admin_hb_printf(b, " (the first %d shown: narrow the filter)", USERS_SHOWN);
    admin_hb_printf(b, ".</p>");
    admin_page_tail(q);
    cJSON_Delete(apps);
    cJSON_Delete(users);
}

/* ================================ one user ================================ */

static void kv(struct hbuf *b, const char *k, const char *v)
{
    admin_hb_printf(b, "<tr><th>");
    admin_hb_esc(b, k);
    admin_hb_printf(b, "</th><td>");
    admin_hb_esc(b, v);
    admin_hb_printf(b, "</td></tr>");
}

static void kv_in(struct hbuf *b, const char *k, double at, long long now)
{
    admin_hb_printf(b, "<tr><th>%s</th><td>", k);
    if (at > 0) {
        admin_hb_printf(b, "in ");
        admin_hb_ms(b, (long long)at - now);
    } else {
        admin_hb_printf(b, "\xe2\x80\x94");
    }
    admin_hb_printf(b, "</td></tr>");
}

static void user_actions(struct hbuf *b, const char *user)
{
    static const char *const acts[][2] = {{"now", "watch now"}, {"stop", "watch stop"},
                                          {"start", "watch start"}, {"remove", "remove user"}};
    admin_hb_printf(b, "<p class=\"actions\">");
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        admin_hb_printf(b, "<a class=\"action\" id=\"act-%s\" href=\"/confirm?do=%s&amp;user=", acts[i][0],
                        acts[i][0]);
        admin_hb_url(b, user);
        admin_hb_printf(b, "\">%s\xe2\x80\xa6</a> ", acts[i][1]);
    }
    admin_hb_printf(b, "</p>");
}

static void user_events(struct hbuf *b, const cJSON *events)
{
    const cJSON *e;
    admin_hb_printf(b, "<h2>Recent events</h2><table class=\"events\"><tr><th>stream id</th><th>type</th>"
                       "<th>track</th></tr>");
    cJSON_ArrayForEach(e, events) {
        char t[512];
        admin_model_track(cJSON_GetObjectItem(e, "event"), t, sizeof t);
        admin_hb_printf(b, "<tr class=\"event\"><td>");
        admin_hb_esc(b, sget(e, "id"));
        admin_hb_printf(b, "</td><td>");
        admin_hb_esc(b, sget(e, "type"));
        admin_hb_printf(b, "</td><td>");
        admin_hb_esc(b, t[0] ? t : sget(cJSON_GetObjectItem(e, "event"), "reason"));
        admin_hb_printf(b, "</td></tr>");
    }
    admin_hb_printf(b, "</table>");
}

void admin_page_user(struct admin *a, struct admin_req *q)
{
    const char *id = admin_arg(q, "id");
    if (id == NULL || !keys_valid_id(id)) {
        admin_page_error(q, 404, "No such user", "That is not a user id.");
        return;
    }
    struct redis_sync *r = redis_or_fail(a, q);
    if (r == NULL)
        return;
    cJSON *u = admin_model_user(r, a->s->cfg, id, EVENTS_SHOWN), *f = cJSON_GetObjectItem(u, "fields"), *it;
    serve_redis_put(a->s, r);
    if (u == NULL) {
        admin_page_error(q, 404, "No such user", "The directory has no such user.");
        return;
    }
    long long now = serve_now_ms();
    struct hbuf *b = &q->out;
    admin_page_head(q, id, "/users");
    admin_hb_printf(b, "<p>");
    status_badge(b, sget(f, "status"));
    admin_hb_printf(b, " <span class=\"name\">");
    admin_hb_esc(b, sget(f, "display_name"));
    admin_hb_printf(b, "</span> \xc2\xb7 <a href=\"/live?user=");
    admin_hb_url(b, id);
    admin_hb_printf(b, "\">live events</a></p>");
    if (a->actions)
        user_actions(b, id);
    admin_hb_printf(b, "<table class=\"state\">");
    kv(b, "app", sget(u, "app"));
    kv(b, "reason", sget(f, "reason"));
    kv_in(b, "next poll", nget(u, "next_poll_at"), now);
    kv(b, "in flight", cJSON_IsTrue(cJSON_GetObjectItem(u, "in_flight")) ? "yes" : "no");
    kv_in(b, "access token expires", nget(u, "access_expires_at"), now);
    kv_in(b, "refresh token expires", nget(u, "refresh_expires_at"), now);
    kv(b, "last error", sget(f, "last_error"));
    kv(b, "last outcome", sget(f, "last_outcome"));
    admin_hb_printf(b, "</table>");
    user_events(b, cJSON_GetObjectItem(u, "events"));
    admin_hb_printf(b, "<h2>Record</h2><table class=\"fields\">");
    cJSON_ArrayForEach(it, f)
        kv(b, it->string, it->valuestring);
    admin_hb_printf(b, "</table>");
    admin_page_tail(q);
    cJSON_Delete(u);
}

/* ================================ live feed =============================== */

void admin_page_live(struct admin *a, struct admin_req *q)
{
    const char *user = admin_arg(q, "user");
    (void)a;
    admin_page_head(q, "Live events", "/live");
    admin_hb_printf(&q->out, "<p>Events as workers publish them (server-sent events from the apps' "
                             "streams)%s", user ? " for user " : ".");
    if (user) {
        user_link(&q->out, user);
        admin_hb_printf(&q->out, ".");
    }
    admin_hb_printf(&q->out, " <span id=\"feed-state\">connecting</span></p>"
                             "<table id=\"feed\" data-user=\"");
    admin_hb_esc(&q->out, user);
    admin_hb_printf(&q->out, "\"><thead><tr><th>time</th><th>app</th><th>user</th><th>type</th>"
                             "<th>track</th></tr></thead><tbody></tbody></table>");
    admin_page_tail(q);
}
