/* admin_actions.c: the dashboard's actions (admin-actions yes): watch
 * now/stop/start, app unblock, user remove. A GET never changes anything:
 * GET /confirm shows what would happen and a form; only its POST to
 * /action acts, and only with the form token (bound to the credentials,
 * src/serve/admin.c) and not from another site. Each action done or refused
 * leaves an audit line in the log. The writes are those of `spotwatch
 * watch`, `app unblock` and `user rm` (README, CLI). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>

#include "admin_int.h"
#include "base/codec.h"
#include "base/log.h"
#include "redis/user_dir.h"
#include "redis/key_schema.h"
#include "redis/redis_sync.h"

#define RESULT_MAX 256

/* action: what each verb acts on and says. */
struct action {
    const char *verb;          /* do= */
    const char *target;        /* "user" or "app" */
    const char *ask, *ask_end; /* the confirmation: ask <id> ask_end */
    int (*run)(struct redis_sync *r, const struct sw_config *c, const char *id, char *res, size_t n);
};

/* form: a POSTed /action, decoded. */
struct form {
    char verb[16];
    char id[ID_MAX + 1];
    char csrf[80];
};

/* ================================= helpers ================================ */

static int ok_reply(redisReply *rep)
{
    int ok = rep && rep->type != REDIS_REPLY_ERROR;
    if (rep)
        freeReplyObject(rep);
    return ok;
}

/* commit ends a MULTI: EXEC when every command queued (ok), else DISCARD.
 * 1 when the transaction was applied (a WATCHed key that moved makes EXEC
 * answer nil: not applied). */
static int commit(struct redis_sync *r, int ok)
{
    redisReply *ex = redis_sync_command(r, ok ? "EXEC" : "DISCARD");
    ok = ok && ex && ex->type == REDIS_REPLY_ARRAY;
    if (ex)
        freeReplyObject(ex);
    return ok;
}

/* user_app: the app of user (the directory) and the user's status; -1 + res
 * when the user is unknown. */
static int user_app(struct redis_sync *r, const struct sw_config *c, const char *user, char *app,
                    char *status, size_t n, char *res, size_t rn)
{
    char users[KEY_MAX], ukey[KEY_MAX];
    keys_global(users, sizeof users, c->key_prefix, "users");
    redisReply *a = redis_sync_command(r, "HGET %s %s", users, user);
    int ok = a && a->type == REDIS_REPLY_STRING && keys_valid_id(a->str);
    if (ok)
        snprintf(app, ID_MAX + 1, "%s", a->str);
    if (a)
        freeReplyObject(a);
    if (!ok) {
        snprintf(res, rn, "no such user");
        return -1;
    }
    keys_user(ukey, sizeof ukey, c->key_prefix, app, user);
    redisReply *s = redis_sync_command(r, "HGET %s status", ukey);
    snprintf(status, n, "%s", s && s->type == REDIS_REPLY_STRING ? s->str : "");
    if (s)
        freeReplyObject(s);
    return 0;
}

/* ================================ the verbs =============================== */

static int act_now(struct redis_sync *r, const struct sw_config *c, const char *user, char *res, size_t n)
{
    char app[ID_MAX + 1], st[32];
    struct app_keys k;
    if (user_app(r, c, user, app, st, sizeof st, res, n) != 0)
        return -1;
    if (strcmp(st, "active") != 0) {
        snprintf(res, n, "not watched (status %s): nothing scheduled", st[0] ? st : "unknown");
        return -1;
    }
    keys_app(&k, c->key_prefix, app);
    /* As `watch now`: only a scheduled user, and never later than it was. */
    redisReply *rep = redis_sync_command(r, "ZADD %s XX LT %lld %s", k.due, redis_sync_now_ms(r), user);
    if (!ok_reply(rep)) {
        snprintf(res, n, "Redis refused");
        return -1;
    }
    snprintf(res, n, "due now");
    return 0;
}

static int act_stop(struct redis_sync *r, const struct sw_config *c, const char *user, char *res, size_t n)
{
    char app[ID_MAX + 1], st[32], ukey[KEY_MAX];
    struct app_keys k;
    if (user_app(r, c, user, app, st, sizeof st, res, n) != 0)
        return -1;
    keys_app(&k, c->key_prefix, app);
    keys_user(ukey, sizeof ukey, c->key_prefix, app, user);
    /* As `watch stop`, in one transaction. */
    int ok = ok_reply(redis_sync_command(r, "MULTI")) && ok_reply(redis_sync_command(r, "HSET %s status stopped", ukey)) &&
             ok_reply(redis_sync_command(r, "ZREM %s %s", k.due, user)) &&
             ok_reply(redis_sync_command(r, "HDEL %s backfill_at backfill_cursor", ukey));
    ok = commit(r, ok);
    snprintf(res, n, ok ? "stopped watching" : "Redis refused");
    return ok ? 0 : -1;
}

static int act_start(struct redis_sync *r, const struct sw_config *c, const char *user, char *res, size_t n)
{
    char app[ID_MAX + 1], st[32], ukey[KEY_MAX];
    struct app_keys k;
    if (user_app(r, c, user, app, st, sizeof st, res, n) != 0)
        return -1;
    if (st[0] == '\0') {
        snprintf(res, n, "the user's record is missing or broken");
        return -1;
    }
    keys_app(&k, c->key_prefix, app);
    keys_user(ukey, sizeof ukey, c->key_prefix, app, user);
    redisReply *l = redis_sync_command(r, "ZSCORE %s %s", k.leases, user);
    int leased = l && l->type == REDIS_REPLY_STRING;
    if (l)
        freeReplyObject(l);
    /* No reason, fails and idle 0: absent, as `watch start` leaves them
     * (include/redis/script_contract.h SC_USER_DEFAULTS). */
    int ok = ok_reply(redis_sync_command(r, "HSET %s status active", ukey)) &&
             ok_reply(redis_sync_command(r, "HDEL %s reason fails idle", ukey));
    /* A user in flight is re-armed by its completion, not here. */
    if (ok && !leased)
        ok = ok_reply(redis_sync_command(r, "ZADD %s NX %lld %s", k.due, redis_sync_now_ms(r), user));
    snprintf(res, n, ok ? "watching" : "Redis refused");
    return ok ? 0 : -1;
}

static int act_remove(struct redis_sync *r, const struct sw_config *c, const char *user, char *res, size_t n)
{
    char app[ID_MAX + 1], st[32], err[256] = "";
    if (user_app(r, c, user, app, st, sizeof st, res, n) != 0)
        return -1;
    /* As `user rm`: the app's keys in one MULTI (deleting the hash voids
     * the fence, so a poll in flight cannot write the user back), then the
     * directory entry while it still names the app (include/redis/user_dir.h). */
    if (user_dir_remove(r, c->key_prefix, user, app, err, sizeof err) != 0) {
        log_warn("admin: remove %s: %s", user, err);
        snprintf(res, n, "changed meanwhile: nothing removed, try again");
        return -1;
    }
    snprintf(res, n, "removed");
    return 0;
}

static int act_unblock(struct redis_sync *r, const struct sw_config *c, const char *app, char *res, size_t n)
{
    char apps[KEY_MAX];
    struct app_keys k;
    keys_global(apps, sizeof apps, c->key_prefix, "apps");
    keys_app(&k, c->key_prefix, app);
    redisReply *m = redis_sync_command(r, "SISMEMBER %s %s", apps, app);
    int known = m && m->type == REDIS_REPLY_INTEGER && m->integer == 1;
    if (m)
        freeReplyObject(m);
    if (!known) {
        snprintf(res, n, "no such app");
        return -1;
    }
    /* As `app unblock`: only the block goes; the adaptive budget stays. */
    int ok = ok_reply(redis_sync_command(r, "HDEL %s blocked_until block_reason blocked_at", k.rl));
    snprintf(res, n, ok ? "unblocked" : "Redis refused");
    return ok ? 0 : -1;
}

static const struct action ACTIONS[] = {
    {"now", "user", "Poll ", " now?", act_now},
    {"stop", "user", "Stop watching ", "? (off the schedule; watch start resumes)", act_stop},
    {"start", "user", "Start watching ", "?", act_start},
    {"remove", "user", "Remove user ", "? Its record and tokens are deleted; it must connect again.", act_remove},
    {"unblock", "app", "Lift the block of app ", "? Its users' calls resume at once.", act_unblock},
};

static const struct action *find(const char *verb)
{
    for (size_t i = 0; verb && i < sizeof ACTIONS / sizeof ACTIONS[0]; i++)
        if (strcmp(ACTIONS[i].verb, verb) == 0)
            return &ACTIONS[i];
    return NULL;
}

/* ============================ confirm and act ============================= */

void admin_action_confirm(struct admin *a, struct admin_req *q)
{
    const struct action *act = find(admin_arg(q, "do"));
    const char *id = act ? admin_arg(q, act->target) : NULL;
    if (!a->actions) {
        admin_page_error(q, 403, "Read-only", "This dashboard is read-only (admin-actions no).");
        return;
    }
    if (act == NULL || id == NULL || !keys_valid_id(id)) {
        admin_page_error(q, 400, "Bad request", "Unknown action or id.");
        return;
    }
    struct hbuf *b = &q->out;
    admin_page_head(q, "Confirm", NULL);
    admin_hb_printf(b, "<form class=\"confirm\" method=\"post\" action=\"/action\"><p id=\"question\">%s",
                    act->ask);
    admin_hb_esc(b, id);
    admin_hb_printf(b, "%s", act->ask_end);
    admin_hb_printf(b, "</p><input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                       "<input type=\"hidden\" name=\"do\" value=\"%s\"><input type=\"hidden\" name=\"id\" value=\"",
                    a->csrf, act->verb);
    admin_hb_esc(b, id);
    admin_hb_printf(b, "\"><button type=\"submit\" id=\"confirm\">Confirm</button> <a href=\"%s", 
                    strcmp(act->target, "app") == 0 ? "/" : "/user?id=");
    if (strcmp(act->target, "user") == 0)
        admin_hb_url(b, id);
    admin_hb_printf(b, "\">Cancel</a></form>");
    admin_page_tail(q);
}

/* form_value copies the decoded value of name from an urlencoded body;
 * 0, or -1 when absent, too long or badly encoded. */
static int form_value(const char *body, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (const char *p = body; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, name, nl) != 0 || p[nl] != '=')
            continue;
        size_t o = 0;
        for (p += nl + 1; *p && *p != '&'; p++) {
            int ch = (unsigned char)*p;
            if (ch == '%') {
                int hi = codec_hex_digit(p[1]), lo = hi < 0 ? -1 : codec_hex_digit(p[2]);
                if (lo < 0)
                    return -1;
                ch = hi * 16 + lo;
                p += 2;
            } else if (ch == '+') {
                ch = ' ';
            }
            if (o + 1 >= n || ch == 0)
                return -1;
            out[o++] = (char)ch;
        }
        out[o] = '\0';
        return 0;
    }
    return -1;
}

/* cross_site: a browser says the form came from another site (Sec-Fetch-Site
 * is sent by current browsers and cannot be set by a page). */
static int cross_site(struct MHD_Connection *c)
{
    const char *s = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
    return s && strcmp(s, "same-origin") != 0 && strcmp(s, "none") != 0;
}

static void client_ip(struct MHD_Connection *c, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, n, "?");
    if (ci && ci->client_addr)
        getnameinfo(ci->client_addr, ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                             : sizeof(struct sockaddr_in),
                    out, (socklen_t)n, NULL, 0, NI_NUMERICHOST);
}

void admin_action_do(struct admin *a, struct admin_req *q)
{
    struct form f = {0};
    char ip[64], res[RESULT_MAX] = "", why[256];
    const struct action *act = NULL;
    client_ip(q->c, ip, sizeof ip);
    if (!a->actions) {
        admin_page_error(q, 403, "Read-only", "This dashboard is read-only (admin-actions no).");
        return;
    }
    int formed = q->body && form_value(q->body, "csrf", f.csrf, sizeof f.csrf) == 0 &&
                 form_value(q->body, "do", f.verb, sizeof f.verb) == 0 &&
                 form_value(q->body, "id", f.id, sizeof f.id) == 0 && (act = find(f.verb)) != NULL &&
                 keys_valid_id(f.id);
    if (!formed || strlen(f.csrf) != strlen(a->csrf) || CRYPTO_memcmp(f.csrf, a->csrf, strlen(a->csrf)) != 0 ||
        cross_site(q->c)) {
        log_warn("admin: audit: action refused from %s: bad form, token or origin", ip);
        admin_page_error(q, 403, "Refused", "The form is not one of this dashboard's (stale or forged).");
        return;
    }
    struct redis_sync *r = serve_redis_get(a->s, why, sizeof why);
    if (r == NULL) {
        admin_page_error(q, 503, "Redis unavailable", why);
        return;
    }
    int rc = act->run(r, a->s->cfg, f.id, res, sizeof res);
    serve_redis_put(a->s, r);
    /* Ids are of the id alphabet (checked above): safe in a log line. */
    log_info("admin: audit: %s %s %s by admin from %s: %s%s", act->verb, act->target, f.id, ip,
             rc == 0 ? "done, " : "refused, ", res);
    q->status = rc == 0 ? 200 : 409;
    admin_page_head(q, rc == 0 ? "Done" : "Not done", NULL);
    admin_hb_printf(&q->out, "<p id=\"result\" class=\"%s\">%s %s: ", rc == 0 ? "ok" : "error", act->target, act->verb);
    admin_hb_esc(&q->out, f.id);
    admin_hb_printf(&q->out, ": ");
    admin_hb_esc(&q->out, res);
    admin_hb_printf(&q->out, "</p><p><a href=\"%s", strcmp(act->target, "app") == 0 ? "/" : "/user?id=");
    if (strcmp(act->target, "user") == 0)
        admin_hb_url(&q->out, f.id);
    admin_hb_printf(&q->out, "\">Back</a></p>");
    admin_page_tail(q);
}
