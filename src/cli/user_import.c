/* user_import.c: `spotwatch user import FILE|- [--watch] [--interval MS]`:
 * bulk `user add` (+ `watch start`) from JSON lines
 * {"user","app","access_token","refresh_token","expires_in","scope"}, sealed
 * the same way and written by the same script (user_put.lua), pipelined,
 * IMPORT_BATCH users per round trip. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include "cli_int.h"
#include "spotify/token.h"
#include "base/crypto.h"
#include "redis/redis_sync.h"
#include "redis/scripts.h"

#define IMPORT_BATCH 512

struct import_row {
    char user[ID_MAX + 1];
    char app[ID_MAX + 1];
    char *at, *rt;              /* sealed */
    long long expires_in;       /* s */
    char *scope;
    long line;
};

/* import_free frees the rows' allocations (and forgets them: freed once). */
static void import_free(struct import_row *rows, int n)
{
    for (int i = 0; i < n; i++) {
        free(rows[i].at);
        free(rows[i].rt);
        free(rows[i].scope);
        rows[i].at = rows[i].rt = rows[i].scope = NULL;
    }
}

/* import_parse fills row from one line; -1 (reported) when the line is bad. */
static int import_parse(const struct crypto_keyring *kr, const char *file, long lineno, char *line,
                        struct import_row *row)
{
    char err[256], ad[ID_MAX + 8];
    cJSON *j = cJSON_Parse(line);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "user");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "app");
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "access_token");
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(j, "refresh_token");
    const cJSON *ei = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "scope");
    int rc = -1;

    memset(row, 0, sizeof *row);
    row->line = lineno;
    if (!cJSON_IsString(u) || !cJSON_IsString(a) || !cJSON_IsString(at) || !cJSON_IsString(rt) ||
        (ei && !cJSON_IsNumber(ei)) || (sc && !cJSON_IsString(sc))) {
        fprintf(stderr, "spotwatch: %s:%ld: want {\"user\",\"app\",\"access_token\",\"refresh_token\""
                        "[,\"expires_in\"][,\"scope\"]}\n", file, lineno);
        goto out;
    }
    if (cli_check_id("user", u->valuestring) != 0 || cli_check_id("app", a->valuestring) != 0)
        goto out;
    row->expires_in = ei ? (long long)ei->valuedouble : 3600;
    if (row->expires_in < 0 || row->expires_in > 100000000) {
        fprintf(stderr, "spotwatch: %s:%ld: expires_in out of range\n", file, lineno);
        goto out;
    }
    snprintf(row->user, sizeof row->user, "%s", u->valuestring);
    snprintf(row->app, sizeof row->app, "%s", a->valuestring);
    snprintf(ad, sizeof ad, "user:%s", row->user);
    row->at = crypto_seal_token(kr, ad, at->valuestring, err, sizeof err);
    row->rt = row->at ? crypto_seal_token(kr, ad, rt->valuestring, err, sizeof err) : NULL;
    row->scope = strdup(sc ? sc->valuestring : TOK_SCOPES);
    if (row->rt == NULL || row->scope == NULL) {
        fprintf(stderr, "spotwatch: %s:%ld: %s\n", file, lineno, row->rt ? "out of memory" : err);
        goto out;
    }
    rc = 0;
out:
    if (cJSON_IsString(at))
        cli_wipe(at->valuestring);
    if (cJSON_IsString(rt))
        cli_wipe(rt->valuestring);
    cJSON_Delete(j);
    if (rc != 0)
        import_free(row, 1);
    return rc;
}

/* import_read: the replies of the rows flagged in want (one each), into
 * rep (freed by the caller). 0, or -1 (said). */
static int import_read(struct redis_sync *r, int n, const int *want, redisReply **rep)
{
    for (int i = 0; i < n; i++) {
        if (want[i] && redis_sync_get_reply(r, (void **)&rep[i]) != REDIS_OK) {
            fprintf(stderr, "spotwatch: Redis: %s\n", redis_sync_errstr(r));
            return -1;
        }
    }
    return 0;
}

/* import_claim claims each ok row's user id for its app in the directory
 * (include/redis/user_dir.h), pipelined: HSETNX for every row, then HGET
 * for those that found an entry (the app's own: adopted; another app's,
 * maybe an earlier row of this file: refused, said). claimed[i]: set here.
 * 0, or -1 when Redis failed (said). */
static int import_claim(const struct sw_config *c, struct redis_sync *r, const char *file,
                        const struct import_row *rows, int n, int *ok, int *claimed)
{
    char users[KEY_MAX];
    redisReply *rep[IMPORT_BATCH] = {0};
    int found[IMPORT_BATCH] = {0}, rc = -1;

    keys_global(users, sizeof users, c->key_prefix, "users");
    for (int i = 0; i < n; i++)
        if (ok[i])
            redis_sync_append(r, "HSETNX %s %s %s", users, rows[i].user, rows[i].app);
    if (import_read(r, n, ok, rep) != 0)
        goto out;
    for (int i = 0; i < n; i++) {
        claimed[i] = ok[i] && rep[i]->type == REDIS_REPLY_INTEGER && rep[i]->integer == 1;
        found[i] = ok[i] && !claimed[i];
        if (rep[i])
            freeReplyObject(rep[i]);
        rep[i] = NULL;
        if (found[i])
            redis_sync_append(r, "HGET %s %s", users, rows[i].user);
    }
    if (import_read(r, n, found, rep) != 0)
        goto out;
    for (int i = 0; i < n; i++) {
        if (!found[i])
            continue;
        if (rep[i]->type == REDIS_REPLY_STRING && strcmp(rep[i]->str, rows[i].app) != 0)
            cli_user_owned(file, rows[i].line, rows[i].user, rep[i]->str);
        else if (rep[i]->type != REDIS_REPLY_STRING)
            fprintf(stderr, "spotwatch: %s:%ld: user '%s' changed meanwhile; refused, try again\n", file,
                    rows[i].line, rows[i].user);
        ok[i] = rep[i]->type == REDIS_REPLY_STRING && strcmp(rep[i]->str, rows[i].app) == 0;
    }
    rc = 0;
out:
    for (int i = 0; i < n; i++)
        if (rep[i])
            freeReplyObject(rep[i]);
    return rc;
}

/* import_flush writes rows[0..n) and frees them; returns how many were stored
 * or -1 when Redis failed. Phase 1 asks, for every row, whether its app
 * exists; phase 2 claims each user id in the directory for its app
 * (include/redis/user_dir.h; refused when another app owns it); phase 3
 * runs user_put.lua for the rows that may be written, as `user add` (and
 * `watch start`) would, and releases the claims of the rows it refused. */
static int import_flush(const struct sw_config *c, struct redis_sync *r, const char *file,
                        struct import_row *rows, int n, int watch, long long interval)
{
    char apps[KEY_MAX], err[512];
    struct cli_user_put put;
    redisReply *rep;
    int stored = 0, ok[IMPORT_BATCH] = {0}, claimed[IMPORT_BATCH] = {0}, sent = 0, failed = 0;

    keys_global(apps, sizeof apps, c->key_prefix, "apps");
    for (int i = 0; i < n; i++) {
        const char *ism[] = {"SISMEMBER", apps, rows[i].app};
        redis_sync_append_argv(r, 3, ism, NULL);
    }
    for (int i = 0; i < n; i++) {
        redisReply *a = NULL;
        if (redis_sync_get_reply(r, (void **)&a) != REDIS_OK) {
            fprintf(stderr, "spotwatch: Redis: %s\n", redis_sync_errstr(r));
            stored = -1;
            goto out;
        }
        ok[i] = a->type == REDIS_REPLY_INTEGER && a->integer == 1;
        if (!ok[i])
            fprintf(stderr, "spotwatch: %s:%ld: no such app '%s' (spotwatch app add)\n", file,
                    rows[i].line, rows[i].app);
        freeReplyObject(a);
    }
    if (import_claim(c, r, file, rows, n, ok, claimed) != 0) {
        stored = -1;
        goto out;
    }
    /* A pipeline cannot fall back to EVAL on NOSCRIPT: the script is loaded first. */
    if (redis_sync_load_script(r, SCRIPT_USER_PUT, err, sizeof err) != 0) {
        fprintf(stderr, "spotwatch: Redis: %s\n", err);
        stored = -1;
        goto out;
    }
    srand((unsigned)(redis_sync_now_ms(r) ^ getpid()));
    for (int i = 0; i < n; i++) {
        if (!ok[i])
            continue;
        cli_user_put_init(&put, c, rows[i].user, rows[i].app, rows[i].at, rows[i].rt, rows[i].expires_in,
                          rows[i].scope, watch, interval, watch ? cli_jitter_ms(c, interval) : 0);
        if (redis_sync_eval_append(r, SCRIPT_USER_PUT, USER_PUT_KEY_N, USER_PUT_KEY_N + USER_PUT_ARG_N,
                                   put.argv, err, sizeof err) != 0) {
            fprintf(stderr, "spotwatch: Redis: %s\n", err);
            stored = -1;
            goto out;
        }
        sent++;
    }
    /* The replies come in the order of the rows sent; a row the script
     * refused (the id owned by another app, maybe by an earlier row of this
     * same file) counts as refused. */
    for (int i = 0, j = 0; j < sent; i++) {
        if (!ok[i])
            continue;
        j++;
        if (redis_sync_get_reply(r, (void **)&rep) != REDIS_OK) {
            fprintf(stderr, "spotwatch: Redis: %s\n", redis_sync_errstr(r));
            stored = -1;
            goto out;
        }
        int refused = cli_user_put_refused(rep, file, rows[i].line, rows[i].user, rows[i].app);
        if (refused < 0)
            failed = 1;
        else if (refused > 0)
            ok[i] = 0;
        freeReplyObject(rep);
    }
    for (int i = 0; i < n; i++)
        if (claimed[i] && !ok[i])
            cli_user_unclaim(r, c, rows[i].user, rows[i].app);
    for (int i = 0; i < n; i++)
        stored += ok[i];
    if (failed)
        stored = -1;
out:
    import_free(rows, n);
    return stored;
}

int cli_user_import(const struct sw_config *c, struct cli_args *a)
{
    struct cli_opt *o = a->o;
    const char **pos = a->pos;
    struct crypto_keyring *kr = NULL;
    struct redis_sync *r = NULL;
    struct import_row *rows = NULL;
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    long long interval = 0, stored = 0, bad = 0;
    long lineno = 0;
    int n = 0, rc = 1;

    if (o[1].value && cli_parse_ll("--interval", o[1].value, 100, 86400000, &interval) != 0)
        return 2;
    if (cli_load_keyring(c, &kr) != 0)
        return 1;
    f = strcmp(pos[0], "-") == 0 ? stdin : fopen(pos[0], "r");
    rows = calloc(IMPORT_BATCH, sizeof *rows);
    if (f == NULL || rows == NULL) {
        fprintf(stderr, "spotwatch: %s: %s\n", pos[0], f ? "out of memory" : strerror(errno));
        goto out;
    }
    if ((r = cli_connect(c)) == NULL)
        goto out;
    for (;;) {
        ssize_t len = getline(&line, &cap, f);
        if (len >= 0) {
            lineno++;
            if (strspn(line, " \t\r\n") == (size_t)len)
                continue;
            if (import_parse(kr, pos[0], lineno, line, &rows[n]) == 0)
                n++;
            else
                bad++;
            cli_wipe(line);
        }
        if (n == IMPORT_BATCH || (len < 0 && n > 0)) {
            int s = import_flush(c, r, pos[0], rows, n, o[0].value != NULL, interval);
            if (s < 0)
                goto out;
            bad += n - s;
            stored += s;
            n = 0;
        }
        if (len < 0)
            break;
    }
    printf("imported %lld users%s", stored, o[0].value ? " (watching)" : "");
    if (bad)
        printf(", %lld lines refused", bad);
    printf("\n");
    rc = bad ? 1 : 0;
out:
    if (rows)
        import_free(rows, n);
    free(rows);
    if (line)
        secret_free(line);
    if (f && f != stdin)
        fclose(f);
    crypto_free(kr);
    if (r)
        redis_sync_free(r);
    return rc;
}

