/* sim_config.c: the settings table. See sim_config.h. */
#include "sim_config.h"
#include "sim_util.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

sim_config sim_cfg;

typedef enum { CT_LONG, CT_BOOL, CT_DOUBLE, CT_POLICY } cfg_type;

typedef struct cfg_entry {
    const char *name;
    cfg_type type;
    size_t off;
    double def;
    double min;
    double max;
    const char *help;
} cfg_entry;

#define F(field) offsetof(sim_config, field)

static const cfg_entry table[] = {
    {"rate_limit", CT_LONG, F(rate_limit), 0, 0, 1e9,
     "API calls admitted per rolling window per app (0 = unlimited)"},
    {"token_rate_limit", CT_LONG, F(token_rate_limit), 0, 0, 1e9,
     "/api/token calls admitted per rolling window per app (0 = unlimited)"},
    {"window_ms", CT_LONG, F(window_ms), 30000, 1, 1e10,
     "rolling rate-limit window length, simulated ms"},
    {"limited_grace_ms", CT_LONG, F(limited_grace_ms), 100, 0, 1e10,
     "calls within this many simulated ms after a window's first 429 count as in flight (calls_in_grace), later ones as calls_while_limited"},
    {"escalation", CT_DOUBLE, F(escalation), 1.0, 1.0, 1000,
     "penalty escalation: each late call while limited extends the window by (escalation-1) x its initial length (1 = off)"},
    {"quota_24h", CT_LONG, F(quota_24h), 0, 0, 1e12,
     "development-mode app: calls per rolling 24 h (0 = unlimited); over it -> 429 QUOTA_EXCEEDED"},
    {"refresh_policy", CT_POLICY, F(refresh_policy), SIM_REFRESH_NONE, 0, 2,
     "refresh_token grant: none (no refresh_token returned) | same | rotate"},
    {"lowercase_headers", CT_BOOL, F(lowercase_headers), 0, 0, 1,
     "send response header names in lower case (Content-Length and Connection are written by libmicrohttpd and keep their case)"},
    {"omit_retry_after", CT_BOOL, F(omit_retry_after), 0, 0, 1,
     "send 429 responses without a Retry-After header"},
    {"allowlist_plain_text", CT_BOOL, F(allowlist_plain_text), 0, 0, 1,
     "send the allowlist 403 as text/plain instead of JSON"},
    {"pause_to_204_ms", CT_LONG, F(pause_to_204_ms), 120000, 0, 1e12,
     "after this many simulated ms paused, the player endpoints answer 204"},
    {"latency_ms", CT_LONG, F(latency_ms), 0, 0, 600000,
     "real ms of latency added to every /v1 and /api/token response (non-blocking)"},
    {"token_expires_s", CT_LONG, F(token_expires_s), 3600, 1, 1e9,
     "access-token lifetime in simulated seconds (expires_in)"},
    {"code_ttl_ms", CT_LONG, F(code_ttl_ms), 600000, 1, 1e12,
     "authorization-code lifetime, simulated ms"},
    {"refresh_lifetime_ms", CT_LONG, F(refresh_lifetime_ms), 15552000000.0, 1, 1e13,
     "refresh-token lifetime from the original authorisation, simulated ms (180 days); refreshing does not extend it"},
    {"recent_min_ms", CT_LONG, F(recent_min_ms), 30000, 0, 1e9,
     "a track enters recently-played after this much play time, simulated ms"},
};

#define NTABLE (sizeof table / sizeof table[0])

static const char *policy_names[] = {"none", "same", "rotate"};

static const cfg_entry *find(const char *name)
{
    for (size_t i = 0; i < NTABLE; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

static void store(const cfg_entry *e, double v)
{
    char *base = (char *)&sim_cfg;
    if (e->type == CT_DOUBLE)
        *(double *)(base + e->off) = v;
    else
        *(long *)(base + e->off) = (long)v;
}

static double load(const cfg_entry *e)
{
    const char *base = (const char *)&sim_cfg;
    if (e->type == CT_DOUBLE)
        return *(const double *)(base + e->off);
    return (double)*(const long *)(base + e->off);
}

void sim_config_defaults(void)
{
    for (size_t i = 0; i < NTABLE; i++)
        store(&table[i], table[i].def);
}

static int set_num(const cfg_entry *e, double v, char *err, size_t errlen)
{
    if (v < e->min || v > e->max) {
        snprintf(err, errlen, "%s must be between %g and %g", e->name, e->min, e->max);
        return -1;
    }
    store(e, v);
    return 0;
}

int sim_config_set_str(const char *name, const char *value, char *err, size_t errlen)
{
    const cfg_entry *e = find(name);
    if (!e) {
        snprintf(err, errlen, "unknown setting %s", name);
        return -1;
    }
    if (e->type == CT_BOOL) {
        if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes"))
            return set_num(e, 1, err, errlen);
        if (!strcasecmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no"))
            return set_num(e, 0, err, errlen);
        snprintf(err, errlen, "%s must be true or false", name);
        return -1;
    }
    if (e->type == CT_POLICY) {
        for (int i = 0; i < 3; i++)
            if (!strcmp(value, policy_names[i]))
                return set_num(e, i, err, errlen);
        snprintf(err, errlen, "%s must be none, same or rotate", name);
        return -1;
    }
    char *end;
    double v = strtod(value, &end);
    if (end == value || *end) {
        snprintf(err, errlen, "%s must be a number", name);
        return -1;
    }
    if (e->type == CT_LONG && v != (double)(long)v) {
        snprintf(err, errlen, "%s must be an integer", name);
        return -1;
    }
    return set_num(e, v, err, errlen);
}

int sim_config_set_json(const cJSON *obj, char *err, size_t errlen)
{
    if (!cJSON_IsObject(obj)) {
        snprintf(err, errlen, "body must be a JSON object");
        return -1;
    }
    for (const cJSON *m = obj->child; m; m = m->next) {
        const cfg_entry *e = find(m->string);
        if (!e) {
            snprintf(err, errlen, "unknown setting %s", m->string);
            return -1;
        }
        char tmp[64];
        if (cJSON_IsBool(m))
            snprintf(tmp, sizeof tmp, "%d", cJSON_IsTrue(m) ? 1 : 0);
        else if (cJSON_IsNumber(m))
            snprintf(tmp, sizeof tmp, "%.17g", m->valuedouble);
        else if (cJSON_IsString(m))
            snprintf(tmp, sizeof tmp, "%s", m->valuestring);
        else {
            snprintf(err, errlen, "%s: bad value type", m->string);
            return -1;
        }
        if (sim_config_set_str(m->string, tmp, err, errlen) < 0)
            return -1;
    }
    return 0;
}

cJSON *sim_config_to_json(void)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < NTABLE; i++) {
        const cfg_entry *e = &table[i];
        double v = load(e);
        if (e->type == CT_BOOL)
            cJSON_AddBoolToObject(o, e->name, v != 0);
        else if (e->type == CT_POLICY)
            cJSON_AddStringToObject(o, e->name, policy_names[(int)v]);
        else
            cJSON_AddNumberToObject(o, e->name, v);
    }
    return o;
}

int sim_config_is_option(const char *opt, char *name, size_t namelen)
{
    if (strncmp(opt, "--", 2) != 0)
        return 0;
    snprintf(name, namelen, "%s", opt + 2);
    for (char *p = name; *p; p++)
        if (*p == '-')
            *p = '_';
    return find(name) != NULL;
}

void sim_config_usage(FILE *f)
{
    for (size_t i = 0; i < NTABLE; i++) {
        const cfg_entry *e = &table[i];
        char opt[64];
        snprintf(opt, sizeof opt, "--%s", e->name);
        for (char *p = opt + 2; *p; p++)
            if (*p == '_')
                *p = '-';
        const char *arg = e->type == CT_BOOL ? "BOOL" : e->type == CT_POLICY ? "POLICY" : "N";
        char def[32];
        if (e->type == CT_POLICY)
            snprintf(def, sizeof def, "%s", policy_names[(int)e->def]);
        else if (e->type == CT_BOOL)
            snprintf(def, sizeof def, "%s", e->def ? "true" : "false");
        else
            snprintf(def, sizeof def, "%.15g", e->def);
        fprintf(f, "  %s %s\n      %s (default %s)\n", opt, arg, e->help, def);
    }
}
