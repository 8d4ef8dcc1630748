/* sim_state.c: see sim_state.h. */
#include "sim_state.h"
#include "sim_clock.h"
#include "sim_config.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sim_world sim_w;
pthread_mutex_t sim_lock = PTHREAD_MUTEX_INITIALIZER;

#define MAX_PATHS 1000 /* distinct by_path keys; more are counted as "(other)" */

void sim_state_init(void)
{
    memset(&sim_w, 0, sizeof sim_w);
    sim_map_init(&sim_w.apps);
    sim_map_init(&sim_w.users);
    sim_map_init(&sim_w.tokens);
    sim_map_init(&sim_w.codes);
    sim_map_init(&sim_w.by_path);
    sim_map_init(&sim_w.developers);
    sim_map_init(&sim_w.quota_by_bucket);
}

static void free_strv(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void app_free(void *p)
{
    sim_app *a = p;
    free(a->client_id);
    free(a->client_secret);
    free_strv(a->redirect_uris, a->n_redirect);
    free_strv(a->allowlist, a->n_allow);
    sim_rl_free(&a->rl);
    sim_rl_free(&a->token_rl);
    free(a);
}

static void user_free(void *p)
{
    sim_user *u = p;
    free(u->id);
    free(u->account_id);
    free(u->display_name);
    free(u->country);
    free(u->product);
    free(u->email);
    sim_pb_free(&u->pb);
    sim_flaps_free(&u->flaps);
    free(u);
}

static void token_free(void *p)
{
    sim_token *t = p;
    free(t->value);
    free(t->scope);
    free(t);
}

static void code_free(void *p)
{
    sim_code *c = p;
    free(c->value);
    free(c->redirect_uri);
    free(c->scope);
    free(c->challenge);
    free(c);
}

void sim_state_free(void)
{
    sim_map_free(&sim_w.tokens, token_free);
    sim_map_free(&sim_w.codes, code_free);
    sim_map_free(&sim_w.users, user_free);
    sim_map_free(&sim_w.apps, app_free);
    sim_map_free(&sim_w.developers, sim_developer_free);
    sim_map_free(&sim_w.by_path, free);
    sim_map_free(&sim_w.quota_by_bucket, free);
}

sim_user *sim_user_get_or_create(const char *id)
{
    sim_user *u = sim_map_get(&sim_w.users, id);
    if (u)
        return u;
    u = sim_xcalloc(1, sizeof *u);
    u->id = sim_xstrdup(id);
    /* account_id: Spotify's is opaque and not the user id; derive a stable
     * 22-character one (POST /sim/users may set it). */
    char acc[23], seed[300];
    snprintf(seed, sizeof seed, "account:%s", id);
    sim_id_from_name(seed, acc);
    u->account_id = sim_xstrdup(acc);
    u->display_name = sim_xstrdup(id);
    u->country = sim_xstrdup("SE");
    u->product = sim_xstrdup("premium");
    char mail[300];
    snprintf(mail, sizeof mail, "%s@example.com", id);
    u->email = sim_xstrdup(mail);
    sim_pb_init(&u->pb);
    sim_map_put(&sim_w.users, id, u);
    return u;
}

/* Copies a JSON array of strings; returns -1 if it holds anything else. */
static int strv_from_json(const cJSON *arr, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    if (!arr || cJSON_IsNull(arr))
        return 0;
    if (!cJSON_IsArray(arr))
        return -1;
    int cnt = cJSON_GetArraySize(arr);
    char **v = sim_xcalloc((size_t)(cnt ? cnt : 1), sizeof *v);
    for (int i = 0; i < cnt; i++) {
        const cJSON *s = cJSON_GetArrayItem(arr, i);
        if (!cJSON_IsString(s)) {
            free_strv(v, i);
            return -1;
        }
        v[i] = sim_xstrdup(s->valuestring);
    }
    *out = v;
    *n = cnt;
    return 0;
}

/* Validates the optional members of a /sim/apps body. 0 or -1 + err. */
static int app_body_check(const cJSON *body, char *err, size_t errlen)
{
    const cJSON *secret = cJSON_GetObjectItemCaseSensitive(body, "client_secret");
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(body, "mode");
    const cJSON *rl = cJSON_GetObjectItemCaseSensitive(body, "rate_limit");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(body, "developer");
    const cJSON *mu = cJSON_GetObjectItemCaseSensitive(body, "max_users");
    const cJSON *gf = cJSON_GetObjectItemCaseSensitive(body, "grandfathered");
    if (secret && !cJSON_IsString(secret)) {
        snprintf(err, errlen, "client_secret must be a string");
        return -1;
    }
    if (mode && !(cJSON_IsString(mode) && (!strcmp(mode->valuestring, "development") ||
                                           !strcmp(mode->valuestring, "extended")))) {
        snprintf(err, errlen, "mode must be development or extended");
        return -1;
    }
    if (rl && !cJSON_IsNumber(rl)) {
        snprintf(err, errlen, "rate_limit must be a number");
        return -1;
    }
    if (dev && !(cJSON_IsString(dev) && dev->valuestring[0] && !strchr(dev->valuestring, '/'))) {
        snprintf(err, errlen, "developer must be a non-empty string without '/'");
        return -1;
    }
    if (mu && !(cJSON_IsNumber(mu) && mu->valuedouble >= 0 && mu->valuedouble <= 1e6)) {
        snprintf(err, errlen, "max_users must be a number 0..1000000 (0 = no cap)");
        return -1;
    }
    if (gf && !cJSON_IsBool(gf)) {
        snprintf(err, errlen, "grandfathered must be a bool");
        return -1;
    }
    return 0;
}

sim_app *sim_app_set(const cJSON *body, char *err, size_t errlen)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "client_id");
    const cJSON *secret = cJSON_GetObjectItemCaseSensitive(body, "client_secret");
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(body, "mode");
    const cJSON *rl = cJSON_GetObjectItemCaseSensitive(body, "rate_limit");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(body, "developer");
    const cJSON *mu = cJSON_GetObjectItemCaseSensitive(body, "max_users");
    if (!cJSON_IsString(id) || !id->valuestring[0]) {
        snprintf(err, errlen, "client_id (string) is required");
        return NULL;
    }
    if (app_body_check(body, err, errlen) < 0)
        return NULL;
    int development = !mode || !strcmp(mode->valuestring, "development");
    int grandfathered = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "grandfathered"));
    /* Since February 2026 a new development-mode app takes 5 users; older
     * ones keep 25. Extended mode has no cap. */
    long max_users = !development ? 0 : mu ? (long)mu->valuedouble : grandfathered ? 25 : 5;
    char **uris, **allow;
    int nu, na;
    if (strv_from_json(cJSON_GetObjectItemCaseSensitive(body, "redirect_uris"), &uris, &nu) < 0) {
        snprintf(err, errlen, "redirect_uris must be an array of strings");
        return NULL;
    }
    if (strv_from_json(cJSON_GetObjectItemCaseSensitive(body, "allowlist"), &allow, &na) < 0) {
        free_strv(uris, nu);
        snprintf(err, errlen, "allowlist must be an array of strings");
        return NULL;
    }
    if (max_users > 0 && na > max_users) {
        free_strv(uris, nu);
        free_strv(allow, na);
        snprintf(err, errlen,
                 "allowlist has %d users: a development-mode app takes at most %ld (max_users)",
                 na, max_users);
        return NULL;
    }
    sim_app *a = sim_map_get(&sim_w.apps, id->valuestring);
    if (!a) {
        a = sim_xcalloc(1, sizeof *a);
        a->client_id = sim_xstrdup(id->valuestring);
        sim_rl_init(&a->rl);
        sim_rl_init(&a->token_rl);
        sim_quota_reset(&a->quota);
        sim_map_put(&sim_w.apps, a->client_id, a);
    } else {
        free(a->client_secret);
        free_strv(a->redirect_uris, a->n_redirect);
        free_strv(a->allowlist, a->n_allow);
    }
    a->client_secret = sim_xstrdup(secret ? secret->valuestring : "");
    a->redirect_uris = uris;
    a->n_redirect = nu;
    a->allowlist = allow;
    a->n_allow = na;
    a->development = development;
    a->rate_limit = rl ? (long)rl->valuedouble : -1;
    a->dev = sim_developer_get_or_create(dev ? dev->valuestring : a->client_id);
    a->max_users = max_users;
    a->grandfathered = grandfathered;
    for (int i = 0; i < na; i++)
        sim_user_get_or_create(allow[i]);
    return a;
}

int sim_app_allows(const sim_app *app, const sim_user *user)
{
    if (!app->development)
        return 1;
    for (int i = 0; i < app->n_allow; i++)
        if (!strcmp(app->allowlist[i], user->id))
            return 1;
    return 0;
}

static int strv_has(char **v, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i], s))
            return 1;
    return 0;
}

int sim_app_allowlist_edit(sim_app *app, const cJSON *body, char *err, size_t errlen)
{
    char **add, **rm;
    int nadd, nrm;
    if (strv_from_json(cJSON_GetObjectItemCaseSensitive(body, "add"), &add, &nadd) < 0) {
        snprintf(err, errlen, "add must be an array of user ids");
        return -1;
    }
    if (strv_from_json(cJSON_GetObjectItemCaseSensitive(body, "remove"), &rm, &nrm) < 0) {
        free_strv(add, nadd);
        snprintf(err, errlen, "remove must be an array of user ids");
        return -1;
    }
    /* the new list: the old one without `remove`, then `add` (no repeats) */
    char **v = sim_xcalloc((size_t)(app->n_allow + nadd + 1), sizeof *v);
    int n = 0;
    for (int i = 0; i < app->n_allow; i++)
        if (!strv_has(rm, nrm, app->allowlist[i]))
            v[n++] = app->allowlist[i];
    int kept = n;
    for (int i = 0; i < nadd; i++)
        if (!strv_has(v, n, add[i]))
            v[n++] = add[i];
    int rc = 0;
    if (app->development && app->max_users > 0 && n > app->max_users) {
        snprintf(err, errlen,
                 "allowlist is full: this development-mode app takes at most %ld users "
                 "(max_users)",
                 app->max_users);
        free(v);
        rc = -2;
    } else {
        for (int i = kept; i < n; i++) {
            v[i] = sim_xstrdup(v[i]);
            sim_user_get_or_create(v[i]);
        }
        for (int i = 0; i < app->n_allow; i++)
            if (strv_has(rm, nrm, app->allowlist[i]))
                free(app->allowlist[i]);
        free(app->allowlist);
        app->allowlist = v;
        app->n_allow = n;
    }
    free_strv(add, nadd);
    free_strv(rm, nrm);
    return rc;
}

int sim_app_owner_lapsed(const sim_app *app, int64_t now)
{
    return app->development &&
           (sim_lapse_active(&app->premium, now) || sim_lapse_active(&app->dev->premium, now));
}

long sim_app_rate_limit(const sim_app *app)
{
    return app->rate_limit >= 0 ? app->rate_limit : sim_cfg.rate_limit;
}

sim_token *sim_token_new(sim_token_kind kind, sim_user *u, sim_app *a, const char *scope,
                         int64_t now)
{
    sim_token *t = sim_xcalloc(1, sizeof *t);
    char v[SIM_ACCESS_TOKEN_LEN + SIM_REFRESH_TOKEN_LEN];
    do {
        /* Spotify's tokens: BQ (access) or AQ (refresh) and base64url, as
         * long as Spotify's, since what a user costs in Redis depends on it. */
        v[0] = kind == SIM_TOKEN_ACCESS ? 'B' : 'A';
        v[1] = 'Q';
        sim_rand_token_url(v + 2, (kind == SIM_TOKEN_ACCESS ? SIM_ACCESS_TOKEN_LEN : SIM_REFRESH_TOKEN_LEN) - 2);
    } while (sim_map_get(&sim_w.tokens, v));
    t->value = sim_xstrdup(v);
    t->kind = kind;
    t->user = u;
    t->app = a;
    t->scope = sim_xstrdup(scope ? scope : "");
    t->issued_ms = now;
    t->expires_ms = now + sim_cfg.token_expires_s * 1000;
    t->auth_ms = now;
    t->next_of_user = u->tokens;
    u->tokens = t;
    sim_map_put(&sim_w.tokens, t->value, t);
    return t;
}

sim_token *sim_token_find(const char *value)
{
    return sim_map_get(&sim_w.tokens, value);
}

sim_code *sim_code_new(sim_app *a, sim_user *u, const char *redirect_uri, const char *scope,
                       const char *challenge, int64_t now)
{
    sim_code *c = sim_xcalloc(1, sizeof *c);
    char v[160];
    do {
        v[0] = 'A';
        v[1] = 'Q';
        sim_rand_token(v + 2, 120);
    } while (sim_map_get(&sim_w.codes, v));
    c->value = sim_xstrdup(v);
    c->app = a;
    c->user = u;
    c->redirect_uri = sim_xstrdup(redirect_uri);
    c->scope = sim_xstrdup(scope ? scope : "");
    c->challenge = sim_xstrdup(challenge);
    c->created_ms = now;
    sim_map_put(&sim_w.codes, c->value, c);
    return c;
}

void sim_stats_count_path(const char *path)
{
    long *n = sim_map_get(&sim_w.by_path, path);
    if (!n) {
        if (sim_w.by_path.n >= MAX_PATHS) {
            path = "(other)";
            n = sim_map_get(&sim_w.by_path, path);
        }
        if (!n) {
            n = sim_xcalloc(1, sizeof *n);
            sim_map_put(&sim_w.by_path, path, n);
        }
    }
    (*n)++;
}

static void reset_app(const char *k, void *v, void *arg)
{
    (void)k;
    (void)arg;
    sim_app *a = v;
    a->requests = a->calls_while_limited = a->calls_in_grace = a->rate_limited = 0;
}

static void reset_developer(const char *k, void *v, void *arg)
{
    (void)k;
    (void)arg;
    ((sim_developer *)v)->quota_exceeded = 0;
}

static void reset_user(const char *k, void *v, void *arg)
{
    (void)k;
    (void)arg;
    sim_user *u = v;
    u->requests = u->grants = u->calls_while_limited = 0;
    u->max_inflight = u->inflight;
}

void sim_stats_reset(void)
{
    sim_w.total = 0;
    memset(sim_w.by_status, 0, sizeof sim_w.by_status);
    sim_w.hangs = 0;
    sim_map_free(&sim_w.by_path, free);
    sim_map_init(&sim_w.by_path);
    sim_w.calls_while_limited = sim_w.calls_in_grace = 0;
    sim_w.max_concurrent = 0;
    sim_w.grants_code = sim_w.grants_refresh = sim_w.grants_failed = sim_w.minted = 0;
    sim_w.rate_limited = sim_w.quota_exceeded = 0;
    sim_w.owner_premium_refused = sim_w.not_registered = sim_w.gzip_asked = 0;
    sim_map_free(&sim_w.quota_by_bucket, free);
    sim_map_init(&sim_w.quota_by_bucket);
    sim_map_each(&sim_w.developers, reset_developer, NULL);
    sim_map_each(&sim_w.apps, reset_app, NULL);
    sim_map_each(&sim_w.users, reset_user, NULL);
}

typedef struct stats_ctx {
    cJSON *by_user, *by_app, *by_path, *cwl_app, *cwl_user, *grace_app, *maxc_user,
        *grants_user, *inflight_user;
} stats_ctx;

static void stats_app(const char *k, void *v, void *arg)
{
    stats_ctx *c = arg;
    sim_app *a = v;
    if (a->requests)
        cJSON_AddNumberToObject(c->by_app, k, (double)a->requests);
    if (a->calls_while_limited)
        cJSON_AddNumberToObject(c->cwl_app, k, (double)a->calls_while_limited);
    if (a->calls_in_grace)
        cJSON_AddNumberToObject(c->grace_app, k, (double)a->calls_in_grace);
}

static void stats_user(const char *k, void *v, void *arg)
{
    stats_ctx *c = arg;
    sim_user *u = v;
    if (u->requests)
        cJSON_AddNumberToObject(c->by_user, k, (double)u->requests);
    if (u->calls_while_limited)
        cJSON_AddNumberToObject(c->cwl_user, k, (double)u->calls_while_limited);
    if (u->max_inflight)
        cJSON_AddNumberToObject(c->maxc_user, k, (double)u->max_inflight);
    if (u->grants)
        cJSON_AddNumberToObject(c->grants_user, k, (double)u->grants);
    if (u->inflight)
        cJSON_AddNumberToObject(c->inflight_user, k, (double)u->inflight);
}

static void stats_path(const char *k, void *v, void *arg)
{
    stats_ctx *c = arg;
    cJSON_AddNumberToObject(c->by_path, k, (double)*(long *)v);
}

static void stats_bucket(const char *k, void *v, void *arg)
{
    cJSON_AddNumberToObject(arg, k, (double)*(long *)v);
}

cJSON *sim_stats_to_json(void)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *req = cJSON_AddObjectToObject(o, "requests");
    cJSON_AddNumberToObject(req, "total", (double)sim_w.total);
    cJSON *bs = cJSON_AddObjectToObject(req, "by_status");
    for (int i = 0; i < 600; i++) {
        if (sim_w.by_status[i]) {
            char k[16];
            snprintf(k, sizeof k, "%d", i);
            cJSON_AddNumberToObject(bs, k, (double)sim_w.by_status[i]);
        }
    }
    if (sim_w.hangs)
        cJSON_AddNumberToObject(bs, "hang", (double)sim_w.hangs);
    stats_ctx c;
    c.by_user = cJSON_AddObjectToObject(req, "by_user");
    c.by_app = cJSON_AddObjectToObject(req, "by_app");
    c.by_path = cJSON_AddObjectToObject(req, "by_path");
    c.inflight_user = cJSON_AddObjectToObject(req, "inflight_by_user");
    cJSON_AddNumberToObject(o, "calls_while_limited", (double)sim_w.calls_while_limited);
    c.cwl_app = cJSON_AddObjectToObject(o, "calls_while_limited_by_app");
    c.cwl_user = cJSON_AddObjectToObject(o, "calls_while_limited_by_user");
    cJSON_AddNumberToObject(o, "calls_in_grace", (double)sim_w.calls_in_grace);
    c.grace_app = cJSON_AddObjectToObject(o, "calls_in_grace_by_app");
    cJSON_AddNumberToObject(o, "rate_limited", (double)sim_w.rate_limited);
    cJSON_AddNumberToObject(o, "quota_exceeded", (double)sim_w.quota_exceeded);
    sim_map_each(&sim_w.quota_by_bucket, stats_bucket,
                 cJSON_AddObjectToObject(o, "quota_exceeded_by_bucket"));
    cJSON_AddNumberToObject(o, "owner_premium_refused", (double)sim_w.owner_premium_refused);
    cJSON_AddNumberToObject(o, "not_registered", (double)sim_w.not_registered);
    cJSON_AddNumberToObject(o, "gzip_asked", (double)sim_w.gzip_asked);
    cJSON_AddNumberToObject(o, "max_concurrent_per_user", (double)sim_w.max_concurrent);
    c.maxc_user = cJSON_AddObjectToObject(o, "max_concurrent_by_user");
    cJSON *tg = cJSON_AddObjectToObject(o, "token_grants");
    cJSON_AddNumberToObject(tg, "authorization_code", (double)sim_w.grants_code);
    cJSON_AddNumberToObject(tg, "refresh_token", (double)sim_w.grants_refresh);
    cJSON_AddNumberToObject(tg, "total", (double)(sim_w.grants_code + sim_w.grants_refresh));
    cJSON_AddNumberToObject(tg, "failed", (double)sim_w.grants_failed);
    cJSON_AddNumberToObject(tg, "minted", (double)sim_w.minted);
    c.grants_user = cJSON_AddObjectToObject(tg, "by_user");
    sim_map_each(&sim_w.apps, stats_app, &c);
    sim_map_each(&sim_w.users, stats_user, &c);
    sim_map_each(&sim_w.by_path, stats_path, &c);
    cJSON_AddNumberToObject(o, "now_ms", (double)sim_clock_now());
    return o;
}

cJSON *sim_user_to_json(sim_user *u, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", u->id);
    cJSON_AddStringToObject(o, "account_id", u->account_id);
    cJSON_AddStringToObject(o, "display_name", u->display_name);
    sim_pb_advance(&u->pb, now);
    cJSON_AddItemToObject(o, "playback", sim_pb_to_json(&u->pb, now));
    long acc = 0, acc_live = 0, ref = 0, ref_live = 0;
    for (sim_token *t = u->tokens; t; t = t->next_of_user) {
        if (t->kind == SIM_TOKEN_ACCESS) {
            acc++;
            acc_live += now < t->expires_ms;
        } else {
            ref++;
            ref_live += !t->revoked && !t->dead &&
                        now < t->auth_ms + sim_cfg.refresh_lifetime_ms;
        }
    }
    cJSON *tk = cJSON_AddObjectToObject(o, "tokens");
    cJSON_AddNumberToObject(tk, "access", (double)acc);
    cJSON_AddNumberToObject(tk, "access_live", (double)acc_live);
    cJSON_AddNumberToObject(tk, "refresh", (double)ref);
    cJSON_AddNumberToObject(tk, "refresh_live", (double)ref_live);
    cJSON_AddNumberToObject(o, "requests", (double)u->requests);
    cJSON_AddNumberToObject(o, "inflight", (double)u->inflight);
    cJSON_AddNumberToObject(o, "max_concurrent", (double)u->max_inflight);
    cJSON_AddNumberToObject(o, "token_grants", (double)u->grants);
    cJSON_AddNumberToObject(o, "calls_while_limited", (double)u->calls_while_limited);
    cJSON_AddNumberToObject(o, "flaps_applied", (double)u->flaps.applied);
    return o;
}
