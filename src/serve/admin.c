/* admin.c: the dashboard's listener (see include/serve/admin.h): HTTP Basic
 * authentication, the routes, the security headers, the embedded assets and
 * the chart's sampler. The pages are admin_pages.c's, the actions
 * admin_actions.c's, the live feed admin_live.c's (src/serve/admin_int.h). */
#include "serve/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "admin_int.h"
#include "admin_model.h"
#include "base/codec.h"
#include "base/crypto.h"
#include "base/log.h"
#include "http/http_server.h"

/* The assets, embedded at build time from src/serve/admin/ (the Makefile
 * writes build/admin_assets_gen.c). */
extern const char admin_asset_css[];
extern const char admin_asset_js[];

#define CONNECTION_LIMIT 64
#define CONNECTION_TIMEOUT_S 60   /* idle; the live feed sends a comment every 15 s */
#define CONNECTION_MEMORY (16 * 1024)
#define MAX_FORM 4096             /* a POSTed form: a few ids and the token */
#define PASSWORD_MAX 1024

/* CSP: nothing inline (scripts and styles are our own files), nothing from
 * elsewhere; forms post only here; no framing. The charts are inline SVG
 * elements drawn with classes, which needs no exception. */
static const char CSP[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                          "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/* ============================ authentication ============================== */

/* read_password: the first line of path, without its line end. */
static int read_password(const char *path, char *out, size_t n, char *err, size_t errlen)
{
    FILE *f = path[0] ? fopen(path, "r") : NULL;
    if (f == NULL) {
        snprintf(err, errlen, "admin-listen needs admin-password-file%s%s%s", path[0] ? " (" : "",
                 path[0] ? strerror(errno) : "", path[0] ? ")" : "");
        return -1;
    }
    int ok = fgets(out, (int)n, f) != NULL;
    fclose(f);
    if (ok)
        out[strcspn(out, "\r\n")] = '\0';
    if (!ok || out[0] == '\0') {
        OPENSSL_cleanse(out, n);
        snprintf(err, errlen, "admin-password-file: the first line (the password) is empty");
        return -1;
    }
    return 0;
}

/* auth_setup: the hash of the one Authorization value accepted, and the form
 * token bound to it. */
static int auth_setup(struct admin *a, const char *path, char *err, size_t errlen)
{
    char pw[PASSWORD_MAX];
    unsigned char key[32], mac[32];
    unsigned int maclen = 0;
    if (read_password(path, pw, sizeof pw, err, errlen) != 0)
        return -1;
    char *line = codec_basic_auth("admin", pw);
    OPENSSL_cleanse(pw, sizeof pw);
    if (line == NULL || RAND_bytes(key, sizeof key) != 1) {
        secret_free(line);
        snprintf(err, errlen, "out of memory or randomness");
        return -1;
    }
    const char *value = line + strlen("Authorization: ");
    SHA256((const unsigned char *)value, strlen(value), a->auth_sha);
    secret_free(line);
    HMAC(EVP_sha256(), key, sizeof key, a->auth_sha, sizeof a->auth_sha, mac, &maclen);
    OPENSSL_cleanse(key, sizeof key);
    for (unsigned i = 0; i < 32; i++)
        snprintf(a->csrf + 2 * i, 3, "%02x", mac[i]);
    return 0;
}

/* authorized: 1 when the request's Authorization is the one accepted. The
 * hashes are compared in constant time, so the time taken says nothing of
 * how much of the password matched, nor of its length. */
static int authorized(const struct admin *a, struct MHD_Connection *c)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    unsigned char h[32];
    if (v == NULL)
        return 0;
    SHA256((const unsigned char *)v, strlen(v), h);
    return CRYPTO_memcmp(h, a->auth_sha, sizeof h) == 0;
}

/* ================================ answers ================================= */

const char *admin_arg(const struct admin_req *q, const char *name)
{
    return MHD_lookup_connection_value(q->c, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result send_page(struct admin_req *q, const char *extra_name, const char *extra_value)
{
    const char *const headers[] = {
        "X-Content-Type-Options", "nosniff",
        "Referrer-Policy", "no-referrer",
        "X-Frame-Options", "DENY",
        "Content-Security-Policy", CSP,
        "Location", q->location,
        extra_name, extra_value,   /* last: a NULL name ends the list here */
        NULL};
    if (q->out.oom) {
        free(q->out.s);
        q->out = (struct hbuf){0};
        q->status = 500;
        q->ctype = "text/plain; charset=utf-8";
        admin_hb_printf(&q->out, "out of memory\n");
    }
    return http_server_reply(q->c, q->status ? q->status : 500,
                             q->ctype ? q->ctype : "text/html; charset=utf-8", q->out.s, q->out.len,
                             headers);
}

static void asset(struct admin_req *q, const char *ctype, const char *text)
{
    q->status = 200;
    q->ctype = ctype;
    admin_hb_printf(&q->out, "%s", text);
}

/* route: an authenticated request; returns what was queued. */
static enum MHD_Result route(struct admin *a, struct admin_req *q, const char *method)
{
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    const char *u = q->url;

    int action = strcmp(u, "/action") == 0;

    if (action && strcmp(method, "POST") == 0)
        admin_action_do(a, q);
    else if (action || !get)
        admin_page_error(q, 405, "Method not allowed", action ? "Use POST." : "Use GET.");
    else if (strcmp(u, "/") == 0)
        admin_page_overview(a, q);
    else if (strcmp(u, "/users") == 0)
        admin_page_users(a, q);
    else if (strcmp(u, "/user") == 0)
        admin_page_user(a, q);
    else if (strcmp(u, "/live") == 0)
        admin_page_live(a, q);
    else if (strcmp(u, "/confirm") == 0)
        admin_action_confirm(a, q);
    else if (strcmp(u, "/admin.css") == 0)
        asset(q, "text/css; charset=utf-8", admin_asset_css);
    else if (strcmp(u, "/admin.js") == 0)
        asset(q, "text/javascript; charset=utf-8", admin_asset_js);
    else if (strcmp(u, "/events") == 0) {
        const char *const headers[] = {"X-Content-Type-Options", "nosniff", "Referrer-Policy", "no-referrer",
                                       "Content-Security-Policy", CSP, NULL};
        return admin_live_answer(a, q, headers);
    } else
        admin_page_error(q, 404, "Not found", "There is nothing here.");
    if (q->status == 405)
        return send_page(q, "Allow", action ? "POST" : "GET, HEAD");
    return send_page(q, NULL, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *body, size_t len)
{
    struct admin *a = cls;
    struct admin_req q = {.c = c, .url = url, .body = body, .len = len};
    enum MHD_Result ret;

    if (!authorized(a, c)) {
        admin_page_error(&q, 401, "Authentication required",
                         "Sign in as admin with the password of admin-password-file.");
        ret = send_page(&q, "WWW-Authenticate", "Basic realm=\"spotwatch dashboard\", charset=\"UTF-8\"");
    } else {
        ret = route(a, &q, method);
    }
    free(q.out.s);
    free(q.location);
    return ret;
}

/* =============================== the sampler ============================== */

/* sample: every app's poll counter, now. */
static void sample(struct admin *a)
{
    char why[256];
    struct redis_sync *r = serve_redis_get(a->s, why, sizeof why);
    if (r == NULL)
        return;
    cJSON *apps = admin_model_apps(r, a->s->cfg), *it;
    long long now = serve_now_ms();
    cJSON_ArrayForEach(it, apps)
        admin_series_add(a->series, it->valuestring, now, admin_model_polls(r, a->s->cfg, it->valuestring));
    cJSON_Delete(apps);
    serve_redis_put(a->s, r);
}

static void *sampler(void *arg)
{
    struct admin *a = arg;
    pthread_mutex_lock(&a->stop_lock);
    while (!atomic_load(&a->stop)) {
        pthread_mutex_unlock(&a->stop_lock);
        sample(a);
        pthread_mutex_lock(&a->stop_lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += ADMIN_SAMPLE_S;
        if (!atomic_load(&a->stop))
            pthread_cond_timedwait(&a->stop_cv, &a->stop_lock, &ts);
    }
    pthread_mutex_unlock(&a->stop_lock);
    return NULL;
}

/* ============================= start and stop ============================= */

struct admin *admin_start(struct serve *s, char *err, size_t errlen)
{
    const struct sw_config *c = s->cfg;
    struct admin *a = calloc(1, sizeof *a);
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->s = s;
    a->actions = c->admin_actions;
    pthread_mutex_init(&a->stop_lock, NULL);
    pthread_cond_init(&a->stop_cv, NULL);
    if (auth_setup(a, c->admin_password_file, err, errlen) != 0)
        goto fail;
    if ((a->series = admin_series_new()) == NULL || pthread_create(&a->sampler, NULL, sampler, a) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    a->sampling = 1;
    /* Pages block on Redis: a thread per connection. No whole-request
     * deadline: the live feed is one long answer (the server's sweeper would
     * cut it); the idle timeout and the connection limit bound the rest. */
    struct http_server_opts so = {.listen_addr = c->admin_listen, .what = " (admin-listen)",
                                  .thread_per_connection = 1, .connection_limit = CONNECTION_LIMIT,
                                  .connection_timeout_s = CONNECTION_TIMEOUT_S,
                                  .memory_limit = CONNECTION_MEMORY, .counters = &s->net,
                                  .max_upload = MAX_FORM, .form_handler = on_request, .cls = a};
    if ((a->http = http_server_start(&so, err, errlen)) == NULL)
        goto fail;
    log_info("serve: dashboard on %s (%s)", c->admin_listen, a->actions ? "actions enabled" : "read-only");
    return a;
fail:
    admin_stop(a);
    return NULL;
}

void admin_stop(struct admin *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->stop_lock);
    atomic_store(&a->stop, 1);
    pthread_cond_broadcast(&a->stop_cv);
    pthread_mutex_unlock(&a->stop_lock);
    if (a->sampling)
        pthread_join(a->sampler, NULL);
    http_server_stop(a->http);    /* live feeds see stop within a second */
    admin_series_free(a->series);
    pthread_cond_destroy(&a->stop_cv);
    pthread_mutex_destroy(&a->stop_lock);
    OPENSSL_cleanse(a, sizeof *a);
    free(a);
}
