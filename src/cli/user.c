/* user.c: `spotwatch user add|show|ls|rm` (and the dispatch of `user
 * import`, user_import.c): the users whose playback is watched. A user's
 * tokens are written by user_put.lua only (lua/lib/user_record.lua). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include "cli/cli.h"
#include "cli_int.h"
#include "spotify/playback.h"
#include "spotify/token.h"
#include "base/crypto.h"
#include "redis/redis_sync.h"
#include "redis/scripts.h"

void cli_user_put_init(struct cli_user_put *p, const struct sw_config *c, const char *user,
                       const char *app, const char *at, const char *rt, long long expires_in_s,
                       const char *scope, int watch, long long interval_ms, long long due_in_ms)
{
    const char **arg = p->argv + USER_PUT_KEY_N;

    keys_user(p->user_key, sizeof p->user_key, c->key_prefix, app, user);
    keys_app(&p->k, c->key_prefix, app);
    snprintf(p->lifetime_ms, sizeof p->lifetime_ms, "%lld", expires_in_s * 1000);
    snprintf(p->interval_ms, sizeof p->interval_ms, "%lld", interval_ms);
    snprintf(p->due_in_ms, sizeof p->due_in_ms, "%lld", due_in_ms);
    p->argv[USER_PUT_KEY_USER] = p->user_key;
    p->argv[USER_PUT_KEY_DUE] = p->k.due;
    p->argv[USER_PUT_KEY_LEASES] = p->k.leases;
    p->argv[USER_PUT_KEY_MEMBERS] = p->k.members;
    p->argv[USER_PUT_KEY_APP] = p->k.app;
    arg[USER_PUT_ARG_USER] = user;
    arg[USER_PUT_ARG_APP] = app;
    arg[USER_PUT_ARG_ACCESS_TOKEN] = at;
    arg[USER_PUT_ARG_REFRESH_TOKEN] = rt;
    arg[USER_PUT_ARG_LIFETIME_MS] = p->lifetime_ms;
    arg[USER_PUT_ARG_SCOPE] = scope;
    arg[USER_PUT_ARG_WATCH] = watch ? "1" : "0";
    arg[USER_PUT_ARG_INTERVAL_MS] = p->interval_ms;
    arg[USER_PUT_ARG_DUE_IN_MS] = p->due_in_ms;
}

int cli_user_put_refused(redisReply *rep, const char *file, long line, const char *user, const char *app)
{
    struct user_put_reply put;
    if (sc_parse(rep, 0, sc_user_put_reply, USER_PUT_REPLY_N, &put) != 0) {
        fprintf(stderr, "spotwatch: Redis: %s\n", rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        return -1;
    }
    if (put.fence != 0)
        return 0;
    /* The CLI is the operator's: naming the owning app is fine here. */
    char e[2][CLI_ESC_MAX];
    if (file[0])
        fprintf(stderr, "spotwatch: %s:%ld: ", file, line);
    else
        fprintf(stderr, "spotwatch: ");
    if (put.max_users > 0) {
        fprintf(stderr, "app '%s' is full: it takes at most %lld users (max_users); user '%s' refused, "
                        "nothing written (`spotwatch user rm` a user, or raise the cap with `spotwatch app "
                        "add %s ... --max-users N` once Spotify allows more)\n",
                cli_esc(app, e[1], sizeof e[1]), put.max_users, cli_esc(user, e[0], sizeof e[0]),
                cli_esc(app, e[1], sizeof e[1]));
        return 1;
    }
    /* The directory is claimed before the script (cli_user_claim), which
     * leaves owner "": no other refusal remains. */
    fprintf(stderr, "user '%s' refused, nothing written\n", cli_esc(user, e[0], sizeof e[0]));
    return 1;
}

void cli_user_owned(const char *file, long line, const char *user, const char *owner)
{
    char e[2][CLI_ESC_MAX];
    /* The CLI is the operator's: naming the owning app is fine here. */
    if (file[0])
        fprintf(stderr, "spotwatch: %s:%ld: ", file, line);
    else
        fprintf(stderr, "spotwatch: ");
    fprintf(stderr, "user '%s' belongs to app '%s'; refused, nothing written (`user rm` it first)\n",
            cli_esc(user, e[0], sizeof e[0]), cli_esc(owner, e[1], sizeof e[1]));
}

enum user_dir_claim cli_user_claim(struct redis_sync *r, const struct sw_config *c, const char *file, long line,
                                   const char *user, const char *app)
{
    char owner[ID_MAX + 1] = "", err[512] = "";
    enum user_dir_claim got = user_dir_claim(r, c->key_prefix, user, app, owner, sizeof owner, err, sizeof err);

    if (got == USER_DIR_ERROR)
        fprintf(stderr, "spotwatch: Redis: %s\n", err);
    else if (got == USER_DIR_OTHER)
        cli_user_owned(file, line, user, owner);
    return got;
}

void cli_user_unclaim(struct redis_sync *r, const struct sw_config *c, const char *user, const char *app)
{
    char err[512] = "";
    if (user_dir_release(r, c->key_prefix, user, app, err, sizeof err) < 0)
        fprintf(stderr, "spotwatch: Redis: %s (user '%s' stays in the directory: `spotwatch user rm` it)\n", err,
                user);
}

int cli_user_add(const struct sw_config *c, struct cli_args *a)
{
    struct cli_opt *o = a->o;
    const struct cli_secret sp[2] = {{&o[1], &o[5]}, {&o[2], &o[6]}};
    const char **pos = a->pos;
    struct crypto_keyring *kr = NULL;
    struct redis_sync *r = NULL;
    char *tok[2] = {NULL, NULL};
    char *at = NULL, *rt = NULL, err[256], ad[ID_MAX + 8], apps[KEY_MAX];
    long long expires_in = 3600;
    int rc = 1;

    if (!o[0].value)
        return cli_missing(a, "--app");
    if (!o[1].value == !o[5].value)
        return cli_missing(a, o[1].value ? "one access token (--access-token and --access-token-file both given)"
                                         : "--access-token-file (or --access-token)");
    if (!o[2].value == !o[6].value)
        return cli_missing(a, o[2].value ? "one refresh token (--refresh-token and --refresh-token-file both given)"
                                         : "--refresh-token-file (or --refresh-token)");
    if (cli_check_id("user", pos[0]) != 0 || cli_check_id("app", o[0].value) != 0)
        return 2;
    if (o[3].value && cli_parse_ll("--expires-in", o[3].value, 0, 100000000, &expires_in) != 0)
        return 2;
    if (cli_secrets(sp, 2, tok) != 0)
        return 1;
    if (cli_load_keyring(c, &kr) != 0)
        goto out;
    snprintf(ad, sizeof ad, "user:%s", pos[0]);
    at = crypto_seal_token(kr, ad, tok[0], err, sizeof err);
    rt = at ? crypto_seal_token(kr, ad, tok[1], err, sizeof err) : NULL;
    if (rt == NULL) {
        fprintf(stderr, "spotwatch: %s\n", err);
        goto out;
    }
    if ((r = cli_connect(c)) == NULL)
        goto out;
    keys_global(apps, sizeof apps, c->key_prefix, "apps");
    const char *ism[] = {"SISMEMBER", apps, o[0].value};
    redisReply *rep = cli_cmd(r, 3, ism);
    int known = rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    if (rep)
        freeReplyObject(rep);
    if (!known) {
        fprintf(stderr, "spotwatch: no such app '%s' (spotwatch app add)\n", o[0].value);
        goto out;
    }
    /* The id is claimed in the directory first (HSETNX: the loser of a
     * race of two apps is refused whole), then user_put.lua writes the
     * app's keys (include/redis/user_dir.h). */
    enum user_dir_claim claim = cli_user_claim(r, c, "", 0, pos[0], o[0].value);
    if (claim != USER_DIR_NEW && claim != USER_DIR_MINE)
        goto out;
    struct cli_user_put put;
    cli_user_put_init(&put, c, pos[0], o[0].value, at, rt, expires_in,
                      o[4].value ? o[4].value : TOK_SCOPES, 0, 0, 0);
    rep = cli_eval(r, SCRIPT_USER_PUT, USER_PUT_KEY_N, USER_PUT_KEY_N + USER_PUT_ARG_N, put.argv);
    if (rep == NULL || cli_user_put_refused(rep, "", 0, pos[0], o[0].value) != 0) {
        if (rep)
            freeReplyObject(rep);
        if (claim == USER_DIR_NEW)
            cli_user_unclaim(r, c, pos[0], o[0].value);
        goto out;
    }
    freeReplyObject(rep);
    printf("user %s: tokens stored (app %s)\n", pos[0], o[0].value);
    rc = 0;
out:
    secret_free(tok[0]);
    secret_free(tok[1]);
    free(at);
    free(rt);
    crypto_free(kr);
    if (r)
        redis_sync_free(r);
    return rc;
}

/* Fields user show never prints, whatever the format. */
static int secret_field(const char *f)
{
    return strcmp(f, "access_token") == 0 || strcmp(f, "refresh_token") == 0;
}

/* user_playback: the playback last seen (the stored "state",
 * pb_state_encode's compact form) in the events' terms (README, Events):
 * {"is_playing","progress_ms","track":{"id","type","duration_ms"}|null,
 * "device":{"id"}|null}; null when never seen or unreadable. The stored
 * state keeps only what comparison needs: names are in the events. */
static cJSON *user_playback(const char *text)
{
    struct pb_state st;
    if (pb_state_decode(text, &st) != 0 || !st.known) {
        pb_state_free(&st);
        return cJSON_CreateNull();
    }
    cJSON *p = cJSON_CreateObject();
    cJSON_AddBoolToObject(p, "is_playing", st.present && st.is_playing);
    cJSON_AddNumberToObject(p, "progress_ms", st.present ? (double)st.progress_ms : 0);
    if (st.present) {
        cJSON *t = cJSON_AddObjectToObject(p, "track");
        cJSON_AddStringToObject(t, "id", st.item_key ? st.item_key : "");
        cJSON_AddStringToObject(t, "type", st.kind);
        cJSON_AddNumberToObject(t, "duration_ms", (double)st.duration_ms);
    } else {
        cJSON_AddNullToObject(p, "track");
    }
    if (st.device_id) {
        cJSON *d = cJSON_AddObjectToObject(p, "device");
        cJSON_AddStringToObject(d, "id", st.device_id);
    } else {
        cJSON_AddNullToObject(p, "device");
    }
    pb_state_free(&st);
    return p;
}

int cli_user_show(const struct sw_config *c, struct cli_args *a)
{
    struct cli_opt *o = a->o;
    const char **pos = a->pos;
    char app[ID_MAX + 1], ukey[KEY_MAX];
    struct redis_sync *r;
    int rc = 1;
    if ((r = cli_connect_user(c, pos[0], app, sizeof app)) == NULL)
        return 1;
    keys_user(ukey, sizeof ukey, c->key_prefix, app, pos[0]);
    const char *hg[] = {"HGETALL", ukey};
    redisReply *h = cli_cmd(r, 2, hg);
    if (h == NULL)
        goto out;
    struct app_keys k;
    keys_app(&k, c->key_prefix, app);
    long long now = redis_sync_now_ms(r);
    redisReply *due = redis_sync_command(r, "ZSCORE %s %s", k.due, pos[0]);
    redisReply *lease = redis_sync_command(r, "ZSCORE %s %s", k.leases, pos[0]);

    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "user", pos[0]);
    long long expires_at = 0, authorized_at = 0;
    int has_at = 0, has_rt = 0;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const char *f = h->element[i]->str, *v = h->element[i + 1]->str;
        if (strcmp(f, "access_token") == 0)
            has_at = v[0] != 0;
        else if (strcmp(f, "refresh_token") == 0)
            has_rt = v[0] != 0;
        if (strcmp(f, "expires_at") == 0)
            expires_at = strtoll(v, NULL, 10);
        if (strcmp(f, "authorized_at") == 0)
            authorized_at = strtoll(v, NULL, 10);
        if (strcmp(f, "state") == 0)
            cJSON_AddItemToObject(u, "playback", user_playback(v));
        else if (!secret_field(f) && strcmp(f, "refresh_until") != 0 && strcmp(f, "refresh_fence") != 0)
            cli_json_field(u, f, v);
    }
    /* What the hash leaves out at its default, printed as before. */
    if (h->elements > 0)
        sc_user_fill(u, app, cli_json_field);
    cJSON_AddBoolToObject(u, "has_access_token", has_at);
    cJSON_AddBoolToObject(u, "has_refresh_token", has_rt);
    cJSON_AddNumberToObject(u, "access_token_expires_in_ms", (double)(expires_at - now));
    if (authorized_at > 0) {
        long long left = authorized_at + CLI_REFRESH_LIFETIME_MS - now;
        cJSON_AddNumberToObject(u, "refresh_token_expires_in_ms", (double)left);
        cJSON_AddBoolToObject(u, "refresh_token_near_expiry", left < CLI_REFRESH_WARN_MS);
    }
    if (due && due->type == REDIS_REPLY_STRING)
        cJSON_AddNumberToObject(u, "next_poll_in_ms", (double)(strtoll(due->str, NULL, 10) - now));
    cJSON_AddBoolToObject(u, "in_flight", lease && lease->type == REDIS_REPLY_STRING);
    if (due)
        freeReplyObject(due);
    if (lease)
        freeReplyObject(lease);
    freeReplyObject(h);
    if (o[0].value) {
        rc = cli_print_json(u);
    } else {
        /* Field names and values come from Redis (display_name from
         * Spotify): escaped, so neither can drive the terminal. */
        cli_print_pairs(u, "", now);
        cJSON_Delete(u);
        rc = 0;
    }
out:
    redis_sync_free(r);
    return rc;
}

/* user_row: one user of user ls (s: its HMGET status last_outcome
 * last_poll_at, or an error reply for a key that is not a hash): 1 kept
 * (added to arr, or to t), 0 filtered out by --status. */
static int user_row(const struct cli_args *a, const char *user, const char *app, const redisReply *s, long long now,
                    cJSON *arr, struct cli_table *t)
{
    /* A user key that is not a hash (WRONGTYPE) is one claim.lua sets
     * aside as broken (lua/lib/guard.lua). */
    int ok = s && s->type == REDIS_REPLY_ARRAY && s->elements == 3;
    const char *status = s && s->type == REDIS_REPLY_ERROR ? "broken"
                         : ok && s->element[0]->str      ? s->element[0]->str
                                                         : "unknown";
    const char *last = ok && s->element[1]->str ? s->element[1]->str : "";
    long long polled = ok && s->element[2]->str ? strtoll(s->element[2]->str, NULL, 10) : 0;
    char ago[24];
    if (a->o[2].value && strcmp(a->o[2].value, status) != 0)
        return 0;
    if (a->o[0].value) {
        cJSON *u = cJSON_CreateObject();
        cJSON_AddStringToObject(u, "user", user);
        cJSON_AddStringToObject(u, "app", app);
        cJSON_AddStringToObject(u, "status", status);
        cJSON_AddStringToObject(u, "last_outcome", last);
        cli_json_time(u, "last_poll_at", polled);
        cJSON_AddItemToArray(arr, u);
        return 1;
    }
    /* The outcome only when it says more than the status does. */
    const char *cells[] = {user, app, status, last[0] && strcmp(last, status) != 0 ? last : NULL,
                           cli_ago(polled, now, ago, sizeof ago)};
    cli_table_row(t, cells);
    return 1;
}

int cli_user_ls(const struct sw_config *c, struct cli_args *a)
{
    static const char *const head[] = {"USER", "APP", "STATUS", "LAST_OUTCOME", "LAST_POLL"};
    const char *want_app = a->o[1].value;
    char ukey[KEY_MAX];
    struct cli_table t;
    redisReply *rep;
    struct redis_sync *r;
    if (want_app && cli_check_id("app", want_app) != 0)
        return 2;
    if ((r = cli_connect_read(c, "HGETALL", "users", &rep)) == NULL)
        return 1;
    long long now = redis_sync_now_ms(r);
    /* Pipelined: one round trip per batch, not per user. */
    size_t sent = 0;
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        if (want_app && strcmp(rep->element[i + 1]->str, want_app) != 0)
            continue;
        keys_user(ukey, sizeof ukey, c->key_prefix, rep->element[i + 1]->str, rep->element[i]->str);
        redis_sync_append(r, "HMGET %s status last_outcome last_poll_at", ukey);
        sent++;
    }
    cJSON *arr = cJSON_CreateArray();
    cli_table_init(&t, 5, head);
    for (size_t i = 0; i + 1 < rep->elements && sent > 0; i += 2) {
        if (want_app && strcmp(rep->element[i + 1]->str, want_app) != 0)
            continue;
        redisReply *s = NULL;
        if (redis_sync_get_reply(r, (void **)&s) != REDIS_OK)
            break;
        sent--;
        user_row(a, rep->element[i]->str, rep->element[i + 1]->str, s, now, arr, &t);
        if (s)
            freeReplyObject(s);
    }
    freeReplyObject(rep);
    redis_sync_free(r);
    return cli_list_end(&t, arr, a->o[0].value != NULL);
}

int cli_user_rm(const struct sw_config *c, struct cli_args *a)
{
    const char **pos = a->pos;
    char app[ID_MAX + 1], err[512] = "";
    struct redis_sync *r;
    int rc = 1;
    if ((r = cli_connect_user(c, pos[0], app, sizeof app)) == NULL)
        return 1;
    /* The app's keys in one MULTI, then the directory entry while it still
     * names the app (include/redis/user_dir.h: two slots in a cluster). */
    if (user_dir_remove(r, c->key_prefix, pos[0], app, err, sizeof err) != 0) {
        fprintf(stderr, "spotwatch: Redis: %s; user '%s' not removed, try again\n", err, pos[0]);
        goto out;
    }
    printf("user %s: removed\n", pos[0]);
    rc = 0;
out:
    redis_sync_free(r);
    return rc;
}
