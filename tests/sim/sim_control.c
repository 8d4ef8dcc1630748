/* sim_control.c: see sim_control.h. */
#include "sim_control.h"
#include "sim_clock.h"
#include "sim_config.h"
#include "sim_faults.h"
#include "sim_state.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ctl_error(sim_reply *out, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    sim_reply_cjson(out, status, o);
}

static void ok_empty(sim_reply *out)
{
    sim_reply_json(out, 200, "{\"ok\":true}");
}

static int is(const sim_in *in, const char *method)
{
    return !strcmp(in->method, method);
}

/* Parses the body as JSON; an empty body is an empty object. NULL + 400 if bad. */
static cJSON *body_json(sim_in *in, sim_reply *out)
{
    const char *p = in->body;
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    if (!*p)
        return cJSON_CreateObject();
    cJSON *j = cJSON_ParseWithLength(in->body, in->body_len);
    if (!j)
        ctl_error(out, 400, "body is not valid JSON");
    return j;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static cJSON *app_json(sim_app *a, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "client_id", a->client_id);
    cJSON_AddStringToObject(o, "mode", a->development ? "development" : "extended");
    cJSON *r = cJSON_AddArrayToObject(o, "redirect_uris");
    for (int i = 0; i < a->n_redirect; i++)
        cJSON_AddItemToArray(r, cJSON_CreateString(a->redirect_uris[i]));
    cJSON *al = cJSON_AddArrayToObject(o, "allowlist");
    for (int i = 0; i < a->n_allow; i++)
        cJSON_AddItemToArray(al, cJSON_CreateString(a->allowlist[i]));
    cJSON_AddNumberToObject(o, "rate_limit", (double)sim_app_rate_limit(a));
    cJSON_AddStringToObject(o, "developer", a->dev->id);
    cJSON_AddNumberToObject(o, "max_users", (double)a->max_users);
    cJSON_AddBoolToObject(o, "grandfathered", a->grandfathered);
    int lapsed = sim_app_owner_lapsed(a, now);
    cJSON_AddBoolToObject(o, "owner_premium", !lapsed);
    cJSON_AddNumberToObject(o, "premium_lapsed_until_ms",
                            sim_lapse_active(&a->premium, now) ? (double)a->premium.until_ms : 0);
    cJSON_AddNumberToObject(o, "calls_in_window",
                            (double)sim_rl_in_window(&a->rl, sim_cfg.window_ms, now));
    int limited = a->rl.limited_first_ms >= 0 && now < a->rl.limited_end_ms;
    cJSON_AddBoolToObject(o, "limited", limited);
    cJSON_AddNumberToObject(o, "limited_until_ms", limited ? (double)a->rl.limited_end_ms : 0);
    cJSON_AddNumberToObject(o, "quota_used", (double)sim_quota_used(&a->quota, now));
    cJSON_AddNumberToObject(o, "requests", (double)a->requests);
    cJSON_AddNumberToObject(o, "calls_while_limited", (double)a->calls_while_limited);
    cJSON_AddNumberToObject(o, "calls_in_grace", (double)a->calls_in_grace);
    cJSON_AddNumberToObject(o, "rate_limited", (double)a->rate_limited);
    return o;
}

static void list_app(const char *k, void *v, void *arg)
{
    (void)k;
    cJSON_AddItemToArray(arg, app_json(v, sim_clock_now()));
}

static void list_user(const char *k, void *v, void *arg)
{
    (void)v;
    cJSON_AddItemToArray(arg, cJSON_CreateString(k));
}

/* Splits "id/action" into id (copied) and returns the action ("" if none),
 * or NULL when the id is empty or too long. */
static const char *split_id(const char *rest, char *id, size_t idcap)
{
    size_t idlen = strcspn(rest, "/");
    if (idlen == 0 || idlen >= idcap)
        return NULL;
    memcpy(id, rest, idlen);
    id[idlen] = '\0';
    const char *action = rest + idlen;
    return *action == '/' ? action + 1 : action;
}

static void do_apps(sim_in *in, sim_reply *out, const char *rest)
{
    int64_t now = sim_clock_now();
    if (!*rest && is(in, "GET")) {
        cJSON *arr = cJSON_CreateArray();
        sim_map_each(&sim_w.apps, list_app, arr);
        sim_reply_cjson(out, 200, arr);
        return;
    }
    if (!*rest && is(in, "POST")) {
        cJSON *b = body_json(in, out);
        if (!b)
            return;
        char err[256];
        sim_app *a = sim_app_set(b, err, sizeof err);
        cJSON_Delete(b);
        if (!a)
            ctl_error(out, 400, err);
        else
            sim_reply_cjson(out, 200, app_json(a, now));
        return;
    }
    if (*rest != '/') {
        ctl_error(out, 404, "no such control call");
        return;
    }
    char id[256];
    const char *action = split_id(rest + 1, id, sizeof id);
    sim_app *a = action ? sim_map_get(&sim_w.apps, id) : NULL;
    if (!a) {
        ctl_error(out, 404, "no such app");
    } else if (!*action && is(in, "GET")) {
        sim_reply_cjson(out, 200, app_json(a, now));
    } else if (!is(in, "POST") || (strcmp(action, "allowlist") && strcmp(action, "premium"))) {
        ctl_error(out, *action && strcmp(action, "allowlist") && strcmp(action, "premium")
                           ? 404 : 405,
                  *action ? "no such control call" : "method not allowed");
    } else {
        cJSON *b = body_json(in, out);
        if (!b)
            return;
        char err[256];
        int rc = !strcmp(action, "allowlist")
                     ? sim_app_allowlist_edit(a, b, err, sizeof err)
                     : sim_lapse_set(&a->premium, b, now, err, sizeof err);
        cJSON_Delete(b);
        if (rc < 0)
            ctl_error(out, rc == -2 ? 409 : 400, err);
        else
            sim_reply_cjson(out, 200, app_json(a, now));
    }
}

/* /sim/developers: GET, POST; /sim/developers/<id>: GET; .../premium: POST. */
static void list_developer(const char *k, void *v, void *arg)
{
    (void)k;
    cJSON_AddItemToArray(arg, sim_developer_to_json(v, sim_clock_now()));
}

static void do_developers(sim_in *in, sim_reply *out, const char *rest)
{
    int64_t now = sim_clock_now();
    char err[256];
    if (!*rest) {
        if (is(in, "GET")) {
            cJSON *arr = cJSON_CreateArray();
            sim_map_each(&sim_w.developers, list_developer, arr);
            sim_reply_cjson(out, 200, arr);
        } else if (is(in, "POST")) {
            cJSON *b = body_json(in, out);
            if (!b)
                return;
            sim_developer *d = sim_developer_set(b, now, err, sizeof err);
            cJSON_Delete(b);
            if (!d)
                ctl_error(out, 400, err);
            else
                sim_reply_cjson(out, 200, sim_developer_to_json(d, now));
        } else {
            ctl_error(out, 405, "method not allowed");
        }
        return;
    }
    char id[256];
    const char *action = *rest == '/' ? split_id(rest + 1, id, sizeof id) : NULL;
    sim_developer *d = action ? sim_map_get(&sim_w.developers, id) : NULL;
    if (!d) {
        ctl_error(out, 404, "no such developer");
    } else if (!*action && is(in, "GET")) {
        sim_reply_cjson(out, 200, sim_developer_to_json(d, now));
    } else if (!strcmp(action, "premium") && is(in, "POST")) {
        cJSON *b = body_json(in, out);
        if (!b)
            return;
        int rc = sim_lapse_set(&d->premium, b, now, err, sizeof err);
        cJSON_Delete(b);
        if (rc < 0)
            ctl_error(out, 400, err);
        else
            sim_reply_cjson(out, 200, sim_developer_to_json(d, now));
    } else {
        ctl_error(out, *action && strcmp(action, "premium") ? 404 : 405,
                  *action && strcmp(action, "premium") ? "no such control call"
                                                       : "method not allowed");
    }
}

static void set_str(char **dst, const char *v)
{
    if (!v)
        return;
    free(*dst);
    *dst = sim_xstrdup(v);
}

static void do_user_tokens(sim_in *in, sim_reply *out, sim_user *u, int64_t now)
{
    cJSON *b = body_json(in, out);
    if (!b)
        return;
    const char *cid = jstr(b, "client_id");
    sim_app *a = cid ? sim_map_get(&sim_w.apps, cid) : NULL;
    if (!a) {
        cJSON_Delete(b);
        ctl_error(out, cid ? 404 : 400, cid ? "no such app" : "client_id is required");
        return;
    }
    const char *scope = jstr(b, "scope");
    if (!scope)
        scope = "user-read-currently-playing user-read-playback-state "
                "user-read-recently-played user-read-private user-read-email";
    sim_token *acc = sim_token_new(SIM_TOKEN_ACCESS, u, a, scope, now);
    sim_token *ref = sim_token_new(SIM_TOKEN_REFRESH, u, a, scope, now);
    const cJSON *ei = cJSON_GetObjectItemCaseSensitive(b, "expires_in");
    long expires_in = sim_cfg.token_expires_s;
    if (cJSON_IsNumber(ei)) {
        expires_in = (long)ei->valuedouble;
        acc->expires_ms = now + (int64_t)expires_in * 1000;
    }
    sim_w.minted++;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "access_token", acc->value);
    cJSON_AddStringToObject(o, "token_type", "Bearer");
    cJSON_AddStringToObject(o, "scope", scope);
    cJSON_AddNumberToObject(o, "expires_in", (double)expires_in);
    cJSON_AddStringToObject(o, "refresh_token", ref->value);
    cJSON_Delete(b);
    sim_reply_cjson(out, 200, o);
}

/* POST /sim/users/<id>/expire and /revoke, optionally for one client_id. */
static void do_user_tokens_kill(sim_in *in, sim_reply *out, sim_user *u, int revoke,
                                int64_t now)
{
    cJSON *b = body_json(in, out);
    if (!b)
        return;
    const char *cid = jstr(b, "client_id");
    long n = 0;
    for (sim_token *t = u->tokens; t; t = t->next_of_user) {
        if (cid && strcmp(cid, t->app->client_id))
            continue;
        if (revoke && t->kind == SIM_TOKEN_REFRESH && !t->revoked) {
            t->revoked = 1;
            n++;
        } else if (!revoke && t->kind == SIM_TOKEN_ACCESS && t->expires_ms > now) {
            t->expires_ms = now;
            n++;
        }
    }
    cJSON_Delete(b);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, revoke ? "revoked" : "expired", (double)n);
    sim_reply_cjson(out, 200, o);
}

static void playback_reply(sim_reply *out, sim_user *u, int64_t now)
{
    sim_reply_cjson(out, 200, sim_pb_to_json(&u->pb, now));
}

/* POST /sim/users/<id>/history {"items":[{track fields..., "played_at_ms"}]} */
static void do_history(sim_in *in, sim_reply *out, sim_user *u, int64_t now)
{
    cJSON *b = body_json(in, out);
    if (!b)
        return;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(b, "items");
    if (!cJSON_IsArray(items)) {
        cJSON_Delete(b);
        ctl_error(out, 400, "items must be an array");
        return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        sim_item item;
        char err[256];
        if (sim_item_from_json(&item, it, err, sizeof err) < 0) {
            cJSON_Delete(b);
            ctl_error(out, 400, err);
            return;
        }
        const cJSON *pa = cJSON_GetObjectItemCaseSensitive(it, "played_at_ms");
        const cJSON *dl = cJSON_GetObjectItemCaseSensitive(it, "delay_ms");
        const cJSON *va = cJSON_GetObjectItemCaseSensitive(it, "visible_at_ms");
        /* arrival: visible_at_ms, or delay_ms from now, or at once */
        int64_t visible = cJSON_IsNumber(va)   ? (int64_t)va->valuedouble
                          : cJSON_IsNumber(dl) ? now + (int64_t)dl->valuedouble
                                               : now;
        if (item.json)
            sim_history_add(&u->pb.hist, cJSON_IsNumber(pa) ? (int64_t)pa->valuedouble : now,
                            visible, item.json, item.json_dev, NULL);
        sim_item_free(&item);
    }
    cJSON_Delete(b);
    playback_reply(out, u, now);
}

/* POST /sim/users/<id>/flap arms one; GET lists; DELETE disarms all. */
static void do_flap(sim_in *in, sim_reply *out, sim_user *u, int64_t now)
{
    if (is(in, "POST")) {
        cJSON *b = body_json(in, out);
        if (!b)
            return;
        char err[256];
        int rc = sim_flaps_arm(&u->flaps, &u->pb, b, now, err, sizeof err);
        cJSON_Delete(b);
        if (rc < 0) {
            ctl_error(out, 400, err);
            return;
        }
    } else if (is(in, "DELETE")) {
        long applied = u->flaps.applied;
        sim_flaps_free(&u->flaps);
        u->flaps.applied = applied;
    } else if (!is(in, "GET")) {
        ctl_error(out, 405, "method not allowed");
        return;
    }
    sim_reply_cjson(out, 200, sim_flaps_to_json(&u->flaps));
}

/* POST /sim/users/<id>/shuffle {"state":bool}, /repeat {"state":"off"|...} */
static void do_mode(sim_in *in, sim_reply *out, sim_user *u, int shuffle, int64_t now)
{
    cJSON *b = body_json(in, out);
    if (!b)
        return;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(b, "state");
    int rep = shuffle ? 0 : sim_repeat_parse(cJSON_IsString(st) ? st->valuestring : NULL);
    int ok = shuffle ? cJSON_IsBool(st) : rep >= 0;
    if (ok && shuffle)
        sim_pb_set_shuffle(&u->pb, cJSON_IsTrue(st), now);
    else if (ok)
        sim_pb_set_repeat(&u->pb, (sim_repeat)rep, now);
    cJSON_Delete(b);
    if (!ok)
        ctl_error(out, 400, shuffle ? "state (bool) is required"
                                    : "state must be off, track or context");
    else
        playback_reply(out, u, now);
}

static void do_users(sim_in *in, sim_reply *out, const char *rest)
{
    int64_t now = sim_clock_now();
    if (!*rest) {
        if (is(in, "GET")) {
            cJSON *arr = cJSON_CreateArray();
            sim_map_each(&sim_w.users, list_user, arr);
            sim_reply_cjson(out, 200, arr);
            return;
        }
        if (!is(in, "POST")) {
            ctl_error(out, 405, "method not allowed");
            return;
        }
        cJSON *b = body_json(in, out);
        if (!b)
            return;
        const char *id = jstr(b, "id");
        if (!id || !*id || strchr(id, '/')) {
            cJSON_Delete(b);
            ctl_error(out, 400, "id (string without '/') is required");
            return;
        }
        sim_user *u = sim_user_get_or_create(id);
        set_str(&u->display_name, jstr(b, "display_name"));
        set_str(&u->country, jstr(b, "country"));
        set_str(&u->product, jstr(b, "product"));
        set_str(&u->email, jstr(b, "email"));
        set_str(&u->account_id, jstr(b, "account_id"));
        cJSON_Delete(b);
        sim_reply_cjson(out, 200, sim_user_to_json(u, now));
        return;
    }
    if (*rest != '/') {
        ctl_error(out, 404, "no such control call");
        return;
    }
    char id[256];
    const char *action = split_id(rest + 1, id, sizeof id);
    if (!action) {
        ctl_error(out, 404, "no such user");
        return;
    }
    sim_user *u = sim_map_get(&sim_w.users, id);
    /* tokens and playback create the user on first use */
    if (!u && ((!strcmp(action, "tokens") && is(in, "POST")) ||
               (!strcmp(action, "playback") && is(in, "PUT"))))
        u = sim_user_get_or_create(id);
    if (!u) {
        ctl_error(out, 404, "no such user");
        return;
    }
    if (!*action) {
        if (is(in, "GET"))
            sim_reply_cjson(out, 200, sim_user_to_json(u, now));
        else
            ctl_error(out, 405, "method not allowed");
        return;
    }
    if (!strcmp(action, "tokens") && is(in, "POST")) {
        do_user_tokens(in, out, u, now);
    } else if (!strcmp(action, "playback") && is(in, "PUT")) {
        cJSON *b = body_json(in, out);
        if (!b)
            return;
        char err[256];
        int rc = sim_pb_set(&u->pb, b, now, err, sizeof err);
        cJSON_Delete(b);
        if (rc < 0)
            ctl_error(out, 400, err);
        else
            playback_reply(out, u, now);
    } else if (!strcmp(action, "playback") && is(in, "DELETE")) {
        sim_pb_clear(&u->pb, now);
        playback_reply(out, u, now);
    } else if (!strcmp(action, "flap")) {
        do_flap(in, out, u, now);
    } else if (!strcmp(action, "playback") && is(in, "GET")) {
        sim_pb_advance(&u->pb, now);
        playback_reply(out, u, now);
    } else if (!is(in, "POST")) {
        ctl_error(out, 405, "method not allowed");
    } else if (!strcmp(action, "pause") || !strcmp(action, "resume") ||
               !strcmp(action, "next") || !strcmp(action, "previous")) {
        int rc = !strcmp(action, "pause")    ? sim_pb_pause(&u->pb, now)
                 : !strcmp(action, "resume") ? sim_pb_resume(&u->pb, now)
                 : !strcmp(action, "next")   ? sim_pb_next(&u->pb, now)
                                             : sim_pb_previous(&u->pb, now);
        if (rc < 0)
            ctl_error(out, 409, "nothing is playing");
        else
            playback_reply(out, u, now);
    } else if (!strcmp(action, "seek")) {
        cJSON *b = body_json(in, out);
        if (!b)
            return;
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "position_ms");
        int rc = cJSON_IsNumber(p) ? sim_pb_seek(&u->pb, (int64_t)p->valuedouble, now) : -2;
        cJSON_Delete(b);
        if (rc == -2)
            ctl_error(out, 400, "position_ms is required");
        else if (rc < 0)
            ctl_error(out, 409, "nothing is playing");
        else
            playback_reply(out, u, now);
    } else if (!strcmp(action, "transfer")) {
        cJSON *b = body_json(in, out);
        if (!b)
            return;
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(b, "device");
        const char *did = jstr(b, "device_id");
        int rc = did ? sim_pb_transfer_id(&u->pb, did, now) : sim_pb_transfer(&u->pb, d, now);
        const cJSON *play = cJSON_GetObjectItemCaseSensitive(b, "play");
        if (rc == 0 && cJSON_IsBool(play))
            (void)(cJSON_IsTrue(play) ? sim_pb_resume(&u->pb, now)
                                      : sim_pb_pause(&u->pb, now));
        cJSON_Delete(b);
        if (rc < 0 && did)
            ctl_error(out, 404, "no such device of this user (known: PUT playback devices, or a transfer with a device object)");
        else if (rc < 0)
            ctl_error(out, 400, "device must be an object or null");
        else
            playback_reply(out, u, now);
    } else if (!strcmp(action, "private")) {
        cJSON *b = body_json(in, out);
        if (!b)
            return;
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(b, "enabled");
        sim_pb_set_private(&u->pb, e ? cJSON_IsTrue(e) : 1, now);
        cJSON_Delete(b);
        playback_reply(out, u, now);
    } else if (!strcmp(action, "shuffle") || !strcmp(action, "repeat")) {
        do_mode(in, out, u, !strcmp(action, "shuffle"), now);
    } else if (!strcmp(action, "history")) {
        do_history(in, out, u, now);
    } else if (!strcmp(action, "expire")) {
        do_user_tokens_kill(in, out, u, 0, now);
    } else if (!strcmp(action, "revoke")) {
        do_user_tokens_kill(in, out, u, 1, now);
    } else {
        ctl_error(out, 404, "no such control call");
    }
}

static void clock_reply(sim_reply *out)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "now_ms", (double)sim_clock_now());
    cJSON_AddNumberToObject(o, "scale", sim_clock_scale());
    sim_reply_cjson(out, 200, o);
}

static void do_clock(sim_in *in, sim_reply *out)
{
    if (is(in, "GET")) {
        clock_reply(out);
        return;
    }
    if (!is(in, "POST")) {
        ctl_error(out, 405, "method not allowed");
        return;
    }
    cJSON *b = body_json(in, out);
    if (!b)
        return;
    const cJSON *adv = cJSON_GetObjectItemCaseSensitive(b, "advance_ms");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(b, "scale");
    if ((adv && (!cJSON_IsNumber(adv) || adv->valuedouble < 0)) ||
        (sc && (!cJSON_IsNumber(sc) || sc->valuedouble < 0))) {
        cJSON_Delete(b);
        ctl_error(out, 400, "advance_ms and scale must be numbers >= 0");
        return;
    }
    if (sc)
        sim_clock_set_scale(sc->valuedouble);
    if (adv)
        sim_clock_advance((int64_t)adv->valuedouble);
    cJSON_Delete(b);
    clock_reply(out);
}

static void do_faults(sim_in *in, sim_reply *out, const char *rest)
{
    if (!*rest && is(in, "GET")) {
        sim_reply_cjson(out, 200, sim_faults_to_json());
    } else if (!*rest && is(in, "POST")) {
        cJSON *b = body_json(in, out);
        if (!b)
            return;
        char err[256];
        long id = sim_faults_add(b, err, sizeof err);
        cJSON_Delete(b);
        if (id < 0) {
            ctl_error(out, 400, err);
            return;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)id);
        sim_reply_cjson(out, 200, o);
    } else if (!*rest && is(in, "DELETE")) {
        sim_faults_clear();
        ok_empty(out);
    } else if (*rest == '/' && is(in, "DELETE")) {
        if (sim_faults_del(strtol(rest + 1, NULL, 10)) < 0)
            ctl_error(out, 404, "no such fault");
        else
            ok_empty(out);
    } else {
        ctl_error(out, 405, "method not allowed");
    }
}

static void do_config(sim_in *in, sim_reply *out)
{
    if (is(in, "POST") || is(in, "PUT")) {
        cJSON *b = body_json(in, out);
        if (!b)
            return;
        char err[256];
        int rc = sim_config_set_json(b, err, sizeof err);
        cJSON_Delete(b);
        if (rc < 0) {
            ctl_error(out, 400, err);
            return;
        }
    } else if (!is(in, "GET")) {
        ctl_error(out, 405, "method not allowed");
        return;
    }
    sim_reply_cjson(out, 200, sim_config_to_json());
}

void sim_control_handle(sim_in *in, sim_reply *out)
{
    const char *p = in->path + 4; /* after "/sim" */
    if (!strcmp(p, "/health")) {
        ok_empty(out);
    } else if (!strncmp(p, "/apps", 5)) {
        do_apps(in, out, p + 5);
    } else if (!strncmp(p, "/developers", 11)) {
        do_developers(in, out, p + 11);
    } else if (!strncmp(p, "/users", 6)) {
        do_users(in, out, p + 6);
    } else if (!strcmp(p, "/stats")) {
        if (is(in, "GET"))
            sim_reply_cjson(out, 200, sim_stats_to_json());
        else
            ctl_error(out, 405, "method not allowed");
    } else if (!strcmp(p, "/stats/reset")) {
        if (is(in, "POST")) {
            sim_stats_reset();
            ok_empty(out);
        } else {
            ctl_error(out, 405, "method not allowed");
        }
    } else if (!strcmp(p, "/clock")) {
        do_clock(in, out);
    } else if (!strncmp(p, "/faults", 7)) {
        do_faults(in, out, p + 7);
    } else if (!strcmp(p, "/config")) {
        do_config(in, out);
    } else {
        ctl_error(out, 404, "no such control call");
    }
}
