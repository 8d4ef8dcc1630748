/* sim_faults.c: see sim_faults.h. Guarded by sim_lock like all state. */
#include "sim_faults.h"
#include "sim_util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* sim_fault: one active fault. */
typedef struct sim_fault {
    long id;
    sim_fault_kind kind;
    int status;          /* STATUS: the status to send */
    int html;            /* STATUS: HTML body instead of JSON */
    long retry_after_s;  /* STATUS: Retry-After seconds (0 = none) */
    long count;          /* remaining matches; -1 = unlimited */
    double fraction;     /* probability per matching request; 1 = always */
    char *user, *app, *path;
    int64_t ms;          /* HANG / DELAY: real ms */
    long size;           /* BIG_BODY: padding bytes */
    long hits;           /* times applied */
    /* STATUS with "body"/"body_b64": the exact body, no Content-Type unless
     * one of hdrs names it, and hdrs ("Name: value" lines, repeats allowed)
     * added as given: hostile answers for the worker's tests. */
    char *raw;           /* NULL = the usual JSON/HTML error body */
    size_t raw_len;
    char *hdrs[SIM_REPLY_MAX_HDR];
    int nhdrs;
    struct sim_fault *next;
} sim_fault;

static sim_fault *faults;
static long next_id = 1;

static const char *kind_names[] = {"none", "status", "hang", "delay", "close", "truncate",
                                   "malformed", "extra_fields", "wrong_types", "big_body", "gzip"};
#define NKINDS (sizeof kind_names / sizeof kind_names[0])

void sim_faults_init(void)
{
    faults = NULL;
}

static void fault_free(sim_fault *f)
{
    free(f->raw);
    for (int i = 0; i < f->nhdrs; i++)
        free(f->hdrs[i]);
    free(f->user);
    free(f->app);
    free(f->path);
    free(f);
}

void sim_faults_clear(void)
{
    while (faults) {
        sim_fault *n = faults->next;
        fault_free(faults);
        faults = n;
    }
}

void sim_faults_free(void)
{
    sim_faults_clear();
}

int sim_faults_del(long id)
{
    for (sim_fault **pp = &faults; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            sim_fault *f = *pp;
            *pp = f->next;
            fault_free(f);
            return 0;
        }
    }
    return -1;
}

static const char *opt_str(const cJSON *o, const char *k, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v || cJSON_IsNull(v))
        return NULL;
    if (!cJSON_IsString(v)) {
        *bad = 1;
        return NULL;
    }
    return v->valuestring;
}

/* raw_add reads the optional "body" (text), "body_b64" (bytes, e.g. gzip)
 * and "headers" (["Name: value", ...]) of a status fault. Returns 0 or -1. */
static int raw_add(sim_fault *f, const cJSON *body, char *err, size_t errlen)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "body");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(body, "body_b64");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(body, "headers");
    if ((t || b || h) && f->kind != SIM_FAULT_STATUS) {
        snprintf(err, errlen, "body, body_b64 and headers go with kind status only");
        return -1;
    }
    if (cJSON_IsString(t)) {
        f->raw = sim_xstrdup(t->valuestring);
        f->raw_len = strlen(f->raw);
    } else if (cJSON_IsString(b)) {
        size_t cap = strlen(b->valuestring) * 3 / 4 + 4;
        f->raw = sim_xmalloc(cap);
        if (sim_b64_decode(b->valuestring, (unsigned char *)f->raw, cap, &f->raw_len) != 0) {
            snprintf(err, errlen, "body_b64: not base64");
            return -1;
        }
    } else if (t || b) {
        snprintf(err, errlen, "body and body_b64 must be strings");
        return -1;
    }
    if (h) {
        const cJSON *e;
        if (!cJSON_IsArray(h) || cJSON_GetArraySize(h) > SIM_REPLY_MAX_HDR - 1) {
            snprintf(err, errlen, "headers must be an array of at most %d \"Name: value\" strings",
                     SIM_REPLY_MAX_HDR - 1);
            return -1;
        }
        cJSON_ArrayForEach(e, h) {
            const char *c = cJSON_IsString(e) ? strchr(e->valuestring, ':') : NULL;
            if (!c || c == e->valuestring || c - e->valuestring >= 32) {
                snprintf(err, errlen, "headers: each must be \"Name: value\" (name < 32 bytes)");
                return -1;
            }
            f->hdrs[f->nhdrs++] = sim_xstrdup(e->valuestring);
        }
    }
    if (f->nhdrs > 0 && !f->raw)
        f->raw = sim_xstrdup("");
    return 0;
}

/* raw_reply answers with a raw fault's body and headers. */
static void raw_reply(const sim_fault *f, sim_reply *out)
{
    char *body = sim_xmalloc(f->raw_len + 1);
    memcpy(body, f->raw, f->raw_len);
    body[f->raw_len] = '\0';
    sim_reply_body(out, f->status, NULL, body, f->raw_len);
    for (int i = 0; i < f->nhdrs; i++) {
        char name[32];
        const char *c = strchr(f->hdrs[i], ':');
        snprintf(name, sizeof name, "%.*s", (int)(c - f->hdrs[i]), f->hdrs[i]);
        c++;
        while (*c == ' ')
            c++;
        sim_reply_header(out, name, c);
    }
}

long sim_faults_add(const cJSON *body, char *err, size_t errlen)
{
    if (!cJSON_IsObject(body)) {
        snprintf(err, errlen, "body must be a JSON object");
        return -1;
    }
    int bad = 0;
    const char *kind = opt_str(body, "kind", &bad);
    sim_fault_kind k = SIM_FAULT_NONE;
    for (size_t i = 1; kind && i < NKINDS; i++)
        if (!strcmp(kind, kind_names[i]))
            k = (sim_fault_kind)i;
    if (kind && !strcmp(kind, "html_status"))
        k = SIM_FAULT_STATUS;
    if (k == SIM_FAULT_NONE) {
        snprintf(err, errlen,
                 "kind must be status, html_status, hang, delay, close, truncate, malformed, "
                 "extra_fields, wrong_types, big_body or gzip");
        return -1;
    }
    sim_fault *f = sim_xcalloc(1, sizeof *f);
    f->kind = k;
    f->status = 503;
    f->html = kind && !strcmp(kind, "html_status");
    f->fraction = 1.0;
    f->count = 1;
    f->ms = k == SIM_FAULT_HANG ? 60000 : 1000;
    f->size = 2 * 1024 * 1024;
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "status"))) {
        if (!cJSON_IsNumber(v) || v->valueint < 100 || v->valueint > 599) {
            snprintf(err, errlen, "status must be 100..599");
            goto err;
        }
        f->status = v->valueint;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "html")))
        f->html = cJSON_IsTrue(v);
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "retry_after")) && cJSON_IsNumber(v))
        f->retry_after_s = (long)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "fraction"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1) {
            snprintf(err, errlen, "fraction must be between 0 and 1");
            goto err;
        }
        f->fraction = v->valuedouble;
        f->count = -1;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "count"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < -1) {
            snprintf(err, errlen, "count must be a number >= 1 (or -1 = unlimited)");
            goto err;
        }
        f->count = (long)v->valuedouble;
    }
    const char *ms_key = cJSON_GetObjectItemCaseSensitive(body, "hang_ms") ? "hang_ms"
                         : cJSON_GetObjectItemCaseSensitive(body, "delay_ms") ? "delay_ms"
                                                                              : "ms";
    if ((v = cJSON_GetObjectItemCaseSensitive(body, ms_key))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0) {
            snprintf(err, errlen, "%s must be a number >= 0", ms_key);
            goto err;
        }
        f->ms = (int64_t)v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(body, "size")) && cJSON_IsNumber(v))
        f->size = (long)v->valuedouble;
    if (raw_add(f, body, err, errlen) != 0)
        goto err;
    f->user = sim_xstrdup(opt_str(body, "user", &bad));
    f->app = sim_xstrdup(opt_str(body, "app", &bad));
    if (!f->app)
        f->app = sim_xstrdup(opt_str(body, "client_id", &bad));
    f->path = sim_xstrdup(opt_str(body, "path", &bad));
    if (bad) {
        snprintf(err, errlen, "user, app and path must be strings");
        goto err;
    }
    f->id = next_id++;
    sim_fault **pp = &faults;
    while (*pp)
        pp = &(*pp)->next;
    *pp = f;
    return f->id;
err:
    fault_free(f);
    return -1;
}

cJSON *sim_faults_to_json(void)
{
    cJSON *arr = cJSON_CreateArray();
    for (sim_fault *f = faults; f; f = f->next) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)f->id);
        cJSON_AddStringToObject(o, "kind", kind_names[f->kind]);
        if (f->kind == SIM_FAULT_STATUS) {
            cJSON_AddNumberToObject(o, "status", f->status);
            cJSON_AddBoolToObject(o, "html", f->html);
            if (f->raw)
                cJSON_AddBoolToObject(o, "raw", 1);
        }
        cJSON_AddNumberToObject(o, "count", (double)f->count);
        cJSON_AddNumberToObject(o, "fraction", f->fraction);
        if (f->user)
            cJSON_AddStringToObject(o, "user", f->user);
        if (f->app)
            cJSON_AddStringToObject(o, "app", f->app);
        if (f->path)
            cJSON_AddStringToObject(o, "path", f->path);
        cJSON_AddNumberToObject(o, "ms", (double)f->ms);
        cJSON_AddNumberToObject(o, "hits", (double)f->hits);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static int matches(const sim_fault *f, const char *path, const char *user, const char *app)
{
    if (f->user && (!user || strcmp(f->user, user)))
        return 0;
    if (f->app && (!app || strcmp(f->app, app)))
        return 0;
    if (f->path && strncmp(path, f->path, strlen(f->path)))
        return 0;
    return 1;
}

static const char *reason(int status)
{
    switch (status) {
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 429: return "Too Many Requests";
    default: return "Error";
    }
}

int sim_faults_pre(const char *path, const char *user, const char *app, sim_reply *out,
                   sim_fault_hit *hit)
{
    hit->kind = SIM_FAULT_NONE;
    for (sim_fault **pp = &faults; *pp; pp = &(*pp)->next) {
        sim_fault *f = *pp;
        if (!matches(f, path, user, app))
            continue;
        if (f->fraction < 1.0 && sim_rand01() >= f->fraction)
            continue;
        f->hits++;
        hit->kind = f->kind;
        hit->ms = f->ms;
        hit->size = f->size;
        int status = f->status, html = f->html, raw = f->raw != NULL;
        long retry = f->retry_after_s;
        if (raw)
            raw_reply(f, out);   /* before the fault may be freed just below */
        if (f->count > 0 && --f->count == 0) {
            *pp = f->next;
            fault_free(f);
        }
        if (hit->kind == SIM_FAULT_STATUS) {
            if (raw) {
                /* the reply is already built */
            } else if (html) {
                sim_buf b;
                sim_buf_init(&b);
                sim_buf_printf(&b, "<html><head><title>%d %s</title></head><body><h1>%d %s"
                                   "</h1></body></html>\n",
                               status, reason(status), status, reason(status));
                size_t len;
                char *s = sim_buf_steal(&b, &len);
                sim_reply_body(out, status, "text/html; charset=utf-8", s, len);
            } else {
                sim_reply_api_error(out, status, reason(status));
            }
            if (retry > 0)
                sim_reply_retry_after(out, retry * 1000);
            hit->kind = SIM_FAULT_NONE;
            return 1;
        }
        if (hit->kind == SIM_FAULT_HANG) {
            out->status = 0;
            out->hang = 1;
            out->delay_ms = hit->ms;
            hit->kind = SIM_FAULT_NONE;
            return 1;
        }
        if (hit->kind == SIM_FAULT_DELAY) {
            out->delay_ms += hit->ms;
            hit->kind = SIM_FAULT_NONE;
        }
        return 0;
    }
    return 0;
}

static void replace_body(sim_reply *out, char *s)
{
    free(out->body);
    out->body = s;
    out->len = strlen(s);
}

static void add_extra(cJSON *o)
{
    cJSON_AddStringToObject(o, "sim_unexpected_string", "surprise");
    cJSON_AddNumberToObject(o, "sim_unexpected_number", 1.5);
    cJSON_AddBoolToObject(o, "sim_unexpected_bool", 1);
    cJSON_AddNullToObject(o, "sim_unexpected_null");
    cJSON *arr = cJSON_AddArrayToObject(o, "sim_unexpected_array");
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(1));
    cJSON_AddItemToArray(arr, cJSON_CreateString("two"));
    cJSON_AddItemToArray(arr, cJSON_CreateNull());
    cJSON *obj = cJSON_AddObjectToObject(o, "sim_unexpected_object");
    cJSON *deep = cJSON_AddObjectToObject(obj, "nested");
    cJSON_AddBoolToObject(deep, "deep", 1);
}

static void retype(cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v)
        return;
    cJSON *nv;
    if (cJSON_IsNumber(v)) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%.17g", v->valuedouble);
        nv = cJSON_CreateString(tmp);
    } else if (cJSON_IsBool(v)) {
        nv = cJSON_CreateString(cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsString(v)) {
        nv = cJSON_CreateNumber(42);
    } else if (cJSON_IsObject(v)) {
        nv = cJSON_CreateArray();
    } else {
        nv = cJSON_CreateObject();
    }
    cJSON_ReplaceItemInObjectCaseSensitive(o, k, nv);
}

void sim_faults_post(const sim_fault_hit *hit, sim_reply *out)
{
    if (hit->kind == SIM_FAULT_NONE)
        return;
    if (hit->kind == SIM_FAULT_CLOSE) {
        /* no body to cut: drop the connection without an answer */
        if (!out->body || out->len == 0) {
            out->hang = 1;
            out->delay_ms = 0;
        } else {
            out->cut = 1;
            out->cut_at = out->len / 2;
        }
        return;
    }
    if (!out->body || out->len == 0)
        return;
    if (hit->kind == SIM_FAULT_TRUNCATE) {
        out->len = out->len / 2;
        out->body[out->len] = '\0';
        return;
    }
    if (hit->kind == SIM_FAULT_MALFORMED) {
        sim_buf b;
        sim_buf_init(&b);
        sim_buf_add(&b, out->body, 1);
        sim_buf_puts(&b, ",,\"sim_malformed\": tru");
        sim_buf_add(&b, out->body + 1, out->len - 1);
        size_t len;
        char *s = sim_buf_steal(&b, &len);
        free(out->body);
        out->body = s;
        out->len = len;
        return;
    }
    if (hit->kind == SIM_FAULT_GZIP) {
        sim_reply_gzip(out);
        return;
    }
    cJSON *o = cJSON_ParseWithLength(out->body, out->len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return;
    }
    if (hit->kind == SIM_FAULT_EXTRA_FIELDS) {
        add_extra(o);
        cJSON *item = cJSON_GetObjectItemCaseSensitive(o, "item");
        if (cJSON_IsObject(item))
            add_extra(item);
        cJSON *dev = cJSON_GetObjectItemCaseSensitive(o, "device");
        if (cJSON_IsObject(dev))
            add_extra(dev);
    } else if (hit->kind == SIM_FAULT_WRONG_TYPES) {
        static const char *keys[] = {"progress_ms", "is_playing", "timestamp", "actions",
                                     "expires_in", "currently_playing_type", "display_name"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            retype(o, keys[i]);
        cJSON *item = cJSON_GetObjectItemCaseSensitive(o, "item");
        if (cJSON_IsObject(item)) {
            retype(item, "duration_ms");
            retype(item, "name");
            retype(item, "artists");
        }
    } else if (hit->kind == SIM_FAULT_BIG_BODY) {
        long n = hit->size > 0 ? hit->size : 1;
        char *pad = sim_xmalloc((size_t)n + 1);
        memset(pad, 'x', (size_t)n);
        pad[n] = '\0';
        cJSON_AddStringToObject(o, "sim_padding", pad);
        free(pad);
    }
    replace_body(out, cJSON_PrintUnformatted(o));
    cJSON_Delete(o);
}
