/* sim_developer.c: see sim_developer.h. */
#include "sim_developer.h"
#include "sim_config.h"
#include "sim_state.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sim_lapse_active(const sim_lapse *l, int64_t now)
{
    return l->on && (l->until_ms == 0 || now < l->until_ms);
}

int sim_lapse_set(sim_lapse *l, const cJSON *body, int64_t now, char *err, size_t errlen)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(body, "active");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(body, "for_ms");
    if (!cJSON_IsBool(a)) {
        snprintf(err, errlen, "active (bool: the owner's Premium subscription) is required");
        return -1;
    }
    if (f && (!cJSON_IsNumber(f) || f->valuedouble < 1)) {
        snprintf(err, errlen, "for_ms must be a number >= 1");
        return -1;
    }
    l->on = cJSON_IsFalse(a);
    l->until_ms = l->on && f ? now + (int64_t)f->valuedouble : 0;
    return 0;
}

sim_developer *sim_developer_get_or_create(const char *id)
{
    sim_developer *d = sim_map_get(&sim_w.developers, id);
    if (d)
        return d;
    d = sim_xcalloc(1, sizeof *d);
    d->id = sim_xstrdup(id);
    d->quota_24h = -1;
    sim_map_init(&d->bucket_quota);
    sim_map_init(&d->quota);
    sim_map_put(&sim_w.developers, id, d);
    return d;
}

static void rl_free(void *p)
{
    sim_rl_free(p);
    free(p);
}

void sim_developer_free(void *p)
{
    sim_developer *d = p;
    free(d->id);
    sim_map_free(&d->bucket_quota, free);
    sim_map_free(&d->quota, rl_free);
    free(d);
}

sim_developer *sim_developer_set(const cJSON *body, int64_t now, char *err, size_t errlen)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "id");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(body, "quota_24h");
    const cJSON *bq = cJSON_GetObjectItemCaseSensitive(body, "bucket_quota");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(body, "premium");
    if (!cJSON_IsString(id) || !id->valuestring[0] || strchr(id->valuestring, '/')) {
        snprintf(err, errlen, "id (string without '/') is required");
        return NULL;
    }
    if (q && !(cJSON_IsNumber(q) && q->valuedouble >= -1 && q->valuedouble <= 1e7)) {
        snprintf(err, errlen, "quota_24h must be a number 0..10000000 (-1 = developer_quota_24h)");
        return NULL;
    }
    if (bq && !cJSON_IsObject(bq)) {
        snprintf(err, errlen, "bucket_quota must be an object {bucket: calls}");
        return NULL;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, bq)
    {
        if (!cJSON_IsNumber(m) || m->valuedouble < 0 || m->valuedouble > 1e7) {
            snprintf(err, errlen, "bucket_quota.%s must be a number 0..10000000", m->string);
            return NULL;
        }
    }
    if (pr && !cJSON_IsBool(pr)) {
        snprintf(err, errlen, "premium must be a bool");
        return NULL;
    }
    sim_lapse lapse = {0, 0};
    if (pr) {
        cJSON *tmp = cJSON_CreateObject();
        cJSON_AddBoolToObject(tmp, "active", cJSON_IsTrue(pr));
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(body, "for_ms");
        if (f)
            cJSON_AddItemToObject(tmp, "for_ms", cJSON_Duplicate(f, 0));
        int rc = sim_lapse_set(&lapse, tmp, now, err, errlen);
        cJSON_Delete(tmp);
        if (rc < 0)
            return NULL;
    }
    sim_developer *d = sim_developer_get_or_create(id->valuestring);
    if (q)
        d->quota_24h = (long)q->valuedouble;
    if (bq) {
        sim_map_free(&d->bucket_quota, free);
        sim_map_init(&d->bucket_quota);
        cJSON_ArrayForEach(m, bq)
        {
            long *v = sim_xmalloc(sizeof *v);
            *v = (long)m->valuedouble;
            sim_map_put(&d->bucket_quota, m->string, v);
        }
    }
    if (pr)
        d->premium = lapse;
    return d;
}

/* The calls per 24 h of one bucket; 0 = unlimited. */
static long bucket_limit(const sim_developer *d, const char *bucket)
{
    const long *v = sim_map_get(&d->bucket_quota, bucket);
    if (v)
        return *v;
    return d->quota_24h >= 0 ? d->quota_24h : sim_cfg.developer_quota_24h;
}

typedef struct any_ctx {
    int any;
} any_ctx;

static void any_positive(const char *k, void *v, void *arg)
{
    (void)k;
    if (*(long *)v > 0)
        ((any_ctx *)arg)->any = 1;
}

int sim_developer_quota_on(const sim_developer *d)
{
    if ((d->quota_24h >= 0 ? d->quota_24h : sim_cfg.developer_quota_24h) > 0)
        return 1;
    any_ctx c = {0};
    sim_map_each(&d->bucket_quota, any_positive, &c);
    return c.any;
}

static sim_rl *bucket_rl(sim_developer *d, const char *bucket)
{
    sim_rl *rl = sim_map_get(&d->quota, bucket);
    if (!rl) {
        rl = sim_xmalloc(sizeof *rl);
        sim_rl_init(rl);
        sim_map_put(&d->quota, bucket, rl);
    }
    return rl;
}

int sim_developer_quota_admit(sim_developer *d, const char *bucket, int64_t now,
                              int64_t *retry_ms)
{
    long limit = bucket_limit(d, bucket);
    if (limit <= 0)
        return 0;
    /* The rolling window of sim_rl, 24 h long and `limit` calls deep: the
     * first refusal lasts until the oldest counted call leaves the 24 h,
     * exactly what Retry-After says. */
    sim_rl_class c = sim_rl_admit(bucket_rl(d, bucket), limit, SIM_DAY_MS, 0, 1.0, now,
                                  retry_ms);
    return c == SIM_RL_ADMITTED ? 0 : -1;
}

typedef struct view_ctx {
    sim_developer *d;
    cJSON *out;
    int64_t now;
} view_ctx;

static void view_app(const char *k, void *v, void *arg)
{
    view_ctx *c = arg;
    if (((sim_app *)v)->dev == c->d)
        cJSON_AddItemToArray(c->out, cJSON_CreateString(k));
}

static void view_bucket_quota(const char *k, void *v, void *arg)
{
    cJSON_AddNumberToObject(((view_ctx *)arg)->out, k, (double)*(long *)v);
}

static void view_quota(const char *k, void *v, void *arg)
{
    view_ctx *c = arg;
    sim_rl *rl = v;
    cJSON *b = cJSON_AddObjectToObject(c->out, k);
    cJSON_AddNumberToObject(b, "used", (double)sim_rl_in_window(rl, SIM_DAY_MS, c->now));
    cJSON_AddNumberToObject(b, "limit", (double)bucket_limit(c->d, k));
    int limited = rl->limited_first_ms >= 0 && c->now < rl->limited_end_ms;
    cJSON_AddNumberToObject(b, "limited_until_ms", limited ? (double)rl->limited_end_ms : 0);
}

cJSON *sim_developer_to_json(sim_developer *d, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", d->id);
    view_ctx c = {d, cJSON_AddArrayToObject(o, "apps"), now};
    sim_map_each(&sim_w.apps, view_app, &c);
    cJSON_AddNumberToObject(o, "quota_24h",
                            (double)(d->quota_24h >= 0 ? d->quota_24h
                                                       : sim_cfg.developer_quota_24h));
    c.out = cJSON_AddObjectToObject(o, "bucket_quota");
    sim_map_each(&d->bucket_quota, view_bucket_quota, &c);
    cJSON_AddBoolToObject(o, "quota_on", sim_developer_quota_on(d));
    c.out = cJSON_AddObjectToObject(o, "quota");
    sim_map_each(&d->quota, view_quota, &c);
    int lapsed = sim_lapse_active(&d->premium, now);
    cJSON_AddBoolToObject(o, "premium", !lapsed);
    cJSON_AddNumberToObject(o, "premium_lapsed_until_ms",
                            lapsed ? (double)d->premium.until_ms : 0);
    cJSON_AddNumberToObject(o, "quota_exceeded", (double)d->quota_exceeded);
    return o;
}
