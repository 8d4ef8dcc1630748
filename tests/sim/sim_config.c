/* sim_config.c: the settings table. See sim_config.h. */
#include "sim_config.h"
#include "sim_util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

sim_config sim_cfg;

/* cfg_type: how a setting is stored and spelt. CT_ENUM is a long holding
 * the index of one of the entry's names; CT_STRING is a char array of
 * SIM_BUCKETS_TEXT_MAX bytes whose default is the entry's sdef. */
typedef enum { CT_LONG, CT_BOOL, CT_DOUBLE, CT_ENUM, CT_STRING } cfg_type;

typedef struct cfg_entry {
    const char *name;
    cfg_type type;
    size_t off;
    double def;
    double min;
    double max;
    const char *help;
    const char *const *names; /* CT_ENUM: the values, index = stored number */
    const char *sdef;         /* CT_STRING: the default */
} cfg_entry;

#define F(field) offsetof(sim_config, field)

static const char *const policy_names[] = {"none", "same", "rotate", NULL};
static const char *const not_registered_names[] = {"dashboard", "check_settings", "2026", NULL};
static const char *const rate_body_names[] = {"json", "text", "empty", "retry_after_0", NULL};
static const char *const shapes_names[] = {"auto", "extended", "development", NULL};

#define DEFAULT_BUCKETS \
    "player=/v1/me/player;recent=/v1/me/player/recently-played;me=/v1/me;token=/api/token"

static const cfg_entry table[] = {
    {"rate_limit", CT_LONG, F(rate_limit), 0, 0, 1e9,
     "API calls admitted per rolling window per app (0 = unlimited)", NULL, NULL},
    {"token_rate_limit", CT_LONG, F(token_rate_limit), 0, 0, 1e9,
     "/api/token calls admitted per rolling window per app (0 = unlimited)", NULL, NULL},
    {"window_ms", CT_LONG, F(window_ms), 30000, 1, 1e10,
     "rolling rate-limit window length, simulated ms", NULL, NULL},
    {"limited_grace_ms", CT_LONG, F(limited_grace_ms), 100, 0, 1e10,
     "calls within this many simulated ms after a window's first 429 count as in flight (calls_in_grace), later ones as calls_while_limited", NULL, NULL},
    {"escalation", CT_DOUBLE, F(escalation), 1.0, 1.0, 1000,
     "penalty escalation: each late call while limited extends the window by (escalation-1) x its initial length (1 = off)", NULL, NULL},
    {"quota_24h", CT_LONG, F(quota_24h), 0, 0, 1e12,
     "development-mode app: calls per rolling 24 h (0 = unlimited); over it -> 429 QUOTA_EXCEEDED", NULL, NULL},
    {"refresh_policy", CT_ENUM, F(refresh_policy), SIM_REFRESH_NONE, 0, 2,
     "refresh_token grant: none (no refresh_token returned) | same | rotate", policy_names,
     NULL},
    {"lowercase_headers", CT_BOOL, F(lowercase_headers), 1, 0, 1,
     "send response header names in lower case as HTTP/2 does (false = capitalised HTTP/1.1 style; Content-Length and Connection are written by libmicrohttpd and keep their case)", NULL, NULL},
    {"omit_retry_after", CT_BOOL, F(omit_retry_after), 0, 0, 1,
     "send 429 responses without a Retry-After header", NULL, NULL},
    {"allowlist_plain_text", CT_BOOL, F(allowlist_plain_text), 0, 0, 1,
     "send the allowlist 403 as text/plain instead of JSON", NULL, NULL},
    {"pause_to_204_ms", CT_LONG, F(pause_to_204_ms), 120000, 0, 1e12,
     "after this many simulated ms paused, the player endpoints answer 204", NULL, NULL},
    {"latency_ms", CT_LONG, F(latency_ms), 0, 0, 600000,
     "real ms of latency added to every /v1 and /api/token response (non-blocking)", NULL, NULL},
    {"token_expires_s", CT_LONG, F(token_expires_s), 3600, 1, 1e9,
     "access-token lifetime in simulated seconds (expires_in)", NULL, NULL},
    {"code_ttl_ms", CT_LONG, F(code_ttl_ms), 600000, 1, 1e12,
     "authorization-code lifetime, simulated ms", NULL, NULL},
    {"refresh_lifetime_ms", CT_LONG, F(refresh_lifetime_ms), 15552000000.0, 1, 1e13,
     "refresh-token lifetime from the original authorisation, simulated ms (180 days); refreshing does not extend it", NULL, NULL},
    {"recent_min_ms", CT_LONG, F(recent_min_ms), 30000, 0, 1e9,
     "a track enters recently-played after this much play time, simulated ms", NULL, NULL},
    {"developer_quota_24h", CT_LONG, F(developer_quota_24h), 0, 0, 1e7,
     "development-mode calls per rolling 24 h per developer account and per quota bucket (0 = off: the per-app quota_24h applies)", NULL, NULL},
    {"quota_buckets", CT_STRING, F(quota_buckets), 0, 0, 0,
     "quota bucket map: name=/prefix[,/prefix...] separated by ';', longest prefix wins, other paths are bucket other", NULL,
     DEFAULT_BUCKETS},
    {"not_registered_text", CT_ENUM, F(not_registered_text), 0, 0, 2,
     "text of the not-allowlisted 403: dashboard | check_settings | 2026", not_registered_names,
     NULL},
    {"owner_premium_plain_text", CT_BOOL, F(owner_premium_plain_text), 0, 0, 1,
     "send the owner-Premium 403 as text/plain instead of JSON", NULL, NULL},
    {"rate_limit_body", CT_ENUM, F(rate_limit_body), SIM_RATE_BODY_JSON, 0, 3,
     "Web API rate-limit 429: json | text (Too many requests) | empty (no body, no Retry-After) | retry_after_0",
     rate_body_names, NULL},
    {"api_shapes", CT_ENUM, F(api_shapes), SIM_SHAPES_AUTO, 0, 2,
     "object shapes of /v1/me and tracks: auto (development apps get the 2026 shapes) | extended | development",
     shapes_names, NULL},
    {"recent_requires_end", CT_BOOL, F(recent_requires_end), 0, 0, 1,
     "recently-played lists only plays that reached the end of the track (else: played recent_min_ms)", NULL, NULL},
    {"recent_offline_fraction", CT_DOUBLE, F(recent_offline_fraction), 0, 0, 1,
     "share of plays listed as offline plays: played_at = the start of the play instead of its end", NULL, NULL},
    {"recent_delay_ms", CT_LONG, F(recent_delay_ms), 0, 0, 1e12,
     "a play appears in recently-played this many simulated ms after it ended", NULL, NULL},
    {"recent_delay_jitter_ms", CT_LONG, F(recent_delay_jitter_ms), 0, 0, 1e12,
     "plus a random 0..this many simulated ms per play (so plays appear out of order)", NULL, NULL},
};

#define NTABLE (sizeof table / sizeof table[0])

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

static int set_string(const cfg_entry *e, const char *v, char *err, size_t errlen);

void sim_config_defaults(void)
{
    char err[128];
    for (size_t i = 0; i < NTABLE; i++) {
        if (table[i].type == CT_STRING)
            set_string(&table[i], table[i].sdef, err, sizeof err);
        else
            store(&table[i], table[i].def);
    }
}

/* Parses "name=/p1,/p2;name2=/p3" into m. Returns 0, or -1 with err. */
static int parse_buckets(const char *text, sim_bucket_map *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == ';')
            p++;
        if (!*p)
            break;
        size_t nl = strcspn(p, "=;");
        if (p[nl] != '=' || nl == 0 || nl >= sizeof m->name[0]) {
            snprintf(err, errlen, "quota_buckets: expected name=/prefix near \"%.20s\"", p);
            return -1;
        }
        if (m->n_buckets == SIM_BUCKETS_MAX) {
            snprintf(err, errlen, "quota_buckets: at most %d buckets", SIM_BUCKETS_MAX);
            return -1;
        }
        int b = m->n_buckets++;
        memcpy(m->name[b], p, nl);
        m->name[b][nl] = '\0';
        for (char *c = m->name[b]; *c; c++)
            if (!(isalnum((unsigned char)*c) || *c == '_' || *c == '-')) {
                snprintf(err, errlen, "quota_buckets: bad bucket name %s", m->name[b]);
                return -1;
            }
        p += nl + 1;
        for (;;) {
            size_t pl = strcspn(p, ",;");
            if (pl == 0 || pl >= sizeof m->prefix[0] || *p != '/') {
                snprintf(err, errlen, "quota_buckets: bucket %s: each prefix starts with /",
                         m->name[b]);
                return -1;
            }
            if (m->n_prefixes == SIM_BUCKET_PREFIXES_MAX) {
                snprintf(err, errlen, "quota_buckets: at most %d prefixes",
                         SIM_BUCKET_PREFIXES_MAX);
                return -1;
            }
            memcpy(m->prefix[m->n_prefixes], p, pl);
            m->prefix[m->n_prefixes][pl] = '\0';
            m->bucket_of[m->n_prefixes++] = b;
            p += pl;
            if (*p != ',')
                break;
            p++;
        }
    }
    return 0;
}

static int set_string(const cfg_entry *e, const char *v, char *err, size_t errlen)
{
    sim_bucket_map m;
    if (strlen(v) >= SIM_BUCKETS_TEXT_MAX) {
        snprintf(err, errlen, "%s is too long", e->name);
        return -1;
    }
    if (parse_buckets(v, &m, err, errlen) < 0)
        return -1;
    char *dst = (char *)&sim_cfg + e->off;
    snprintf(dst, SIM_BUCKETS_TEXT_MAX, "%s", v);
    sim_cfg.buckets = m;
    return 0;
}

const char *sim_config_bucket(const char *path)
{
    const sim_bucket_map *m = &sim_cfg.buckets;
    int best = -1;
    size_t best_len = 0;
    for (int i = 0; i < m->n_prefixes; i++) {
        size_t l = strlen(m->prefix[i]);
        if (l > best_len && !strncmp(path, m->prefix[i], l)) {
            best = i;
            best_len = l;
        }
    }
    return best < 0 ? "other" : m->name[m->bucket_of[best]];
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
    if (e->type == CT_STRING)
        return set_string(e, value, err, errlen);
    if (e->type == CT_ENUM) {
        char alts[128] = "";
        for (int i = 0; e->names[i]; i++) {
            if (!strcmp(value, e->names[i]))
                return set_num(e, i, err, errlen);
            snprintf(alts + strlen(alts), sizeof alts - strlen(alts), "%s%s", i ? ", " : "",
                     e->names[i]);
        }
        snprintf(err, errlen, "%s must be one of %s", name, alts);
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
        char tmp[SIM_BUCKETS_TEXT_MAX + 1];
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
        double v = e->type == CT_STRING ? 0 : load(e);
        if (e->type == CT_STRING)
            cJSON_AddStringToObject(o, e->name, (const char *)&sim_cfg + e->off);
        else if (e->type == CT_BOOL)
            cJSON_AddBoolToObject(o, e->name, v != 0);
        else if (e->type == CT_ENUM)
            cJSON_AddStringToObject(o, e->name, e->names[(int)v]);
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
        const char *arg = e->type == CT_BOOL     ? "BOOL"
                          : e->type == CT_ENUM   ? "NAME"
                          : e->type == CT_STRING ? "TEXT"
                                                 : "N";
        char def[160];
        if (e->type == CT_ENUM)
            snprintf(def, sizeof def, "%s", e->names[(int)e->def]);
        else if (e->type == CT_STRING)
            snprintf(def, sizeof def, "\"%s\"", e->sdef);
        else if (e->type == CT_BOOL)
            snprintf(def, sizeof def, "%s", e->def ? "true" : "false");
        else
            snprintf(def, sizeof def, "%.15g", e->def);
        fprintf(f, "  %s %s\n      %s (default %s)\n", opt, arg, e->help, def);
    }
}
