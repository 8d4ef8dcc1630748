/* sim_config.h: runtime settings of the simulator. One table (in
 * sim_config.c) holds each setting's name, type, default, bounds and help, and
 * drives the command-line options (--name-with-dashes), POST/GET /sim/config
 * and --help, so they cannot drift apart. */
#ifndef SIM_CONFIG_H
#define SIM_CONFIG_H

#include <stdio.h>

struct cJSON;

/* sim_refresh_policy: what a refresh_token grant returns. */
typedef enum {
    SIM_REFRESH_NONE,   /* no refresh_token in the response (Spotify today) */
    SIM_REFRESH_SAME,   /* the same refresh token is echoed back */
    SIM_REFRESH_ROTATE  /* a new refresh token; the old one dies at once */
} sim_refresh_policy;

/* sim_rate_body: what a rolling-window 429 of the Web API looks like. */
typedef enum {
    SIM_RATE_BODY_JSON,   /* {"error":{"status":429,"message":"API rate limit exceeded"}} */
    SIM_RATE_BODY_TEXT,   /* text/plain "Too many requests" */
    SIM_RATE_BODY_EMPTY,  /* no body and no Retry-After */
    SIM_RATE_BODY_RETRY0  /* the JSON body with Retry-After: 0 */
} sim_rate_body;

/* sim_shapes: which object shapes /v1 sends (see sim_api.c). */
typedef enum {
    SIM_SHAPES_AUTO,        /* development-mode apps get the 2026 shapes, extended the full ones */
    SIM_SHAPES_EXTENDED,    /* every app gets the full (extended-mode) shapes */
    SIM_SHAPES_DEVELOPMENT  /* every app gets the 2026 development-mode shapes */
} sim_shapes;

#define SIM_BUCKETS_MAX 16  /* quota buckets in the map */
#define SIM_BUCKET_PREFIXES_MAX 32

/* sim_bucket_map: the parsed quota_buckets setting: path prefixes, each
 * naming a bucket; the longest matching prefix decides. */
typedef struct sim_bucket_map {
    int n_buckets;
    char name[SIM_BUCKETS_MAX][32];
    int n_prefixes;
    char prefix[SIM_BUCKET_PREFIXES_MAX][64];
    int bucket_of[SIM_BUCKET_PREFIXES_MAX]; /* index into name[] */
} sim_bucket_map;

#define SIM_BUCKETS_TEXT_MAX 1024

/* sim_config: all simulated durations are in simulated ms. */
typedef struct sim_config {
    long rate_limit;           /* API calls per window per app; 0 = unlimited */
    long token_rate_limit;     /* /api/token calls per window per app; 0 = unlimited */
    long window_ms;            /* rolling rate-limit window length */
    long limited_grace_ms;     /* calls this soon after a window's first 429 are in flight */
    double escalation;         /* >1: each late call adds (escalation-1) x initial penalty */
    long quota_24h;            /* development-mode calls per rolling 24 h per app; 0 = off */
    long refresh_policy;       /* sim_refresh_policy */
    long lowercase_headers;    /* bool: send every header name in lower case */
    long omit_retry_after;     /* bool: 429s carry no Retry-After header */
    long allowlist_plain_text; /* bool: the allowlist 403 is text/plain, not JSON */
    long pause_to_204_ms;      /* paused longer than this -> 204 */
    long latency_ms;           /* real ms added to every /v1 and /api/token response */
    long token_expires_s;      /* access-token lifetime (expires_in) */
    long code_ttl_ms;          /* authorization-code lifetime */
    long refresh_lifetime_ms;  /* refresh-token lifetime from authorisation */
    long recent_min_ms;        /* play time that makes a track "recently played" */
    long developer_quota_24h;  /* calls per rolling 24 h per developer per bucket; 0 = off */
    char quota_buckets[SIM_BUCKETS_TEXT_MAX]; /* the bucket map as text */
    sim_bucket_map buckets;    /* ... parsed */
    long not_registered_text;  /* 0..2: which not-allowlisted 403 text (sim_api.c) */
    long owner_premium_plain_text; /* bool: the owner-Premium 403 is text/plain */
    long rate_limit_body;      /* sim_rate_body */
    long api_shapes;           /* sim_shapes */
    long recent_requires_end;  /* bool: only plays that reached the track's end are listed */
    double recent_offline_fraction; /* share of plays whose played_at is their start */
    long recent_delay_ms;      /* a play appears in recently-played this long after it ended */
    long recent_delay_jitter_ms; /* ... plus a random 0..this much more (out of order) */
} sim_config;

extern sim_config sim_cfg;

/* sim_config_defaults loads every default into sim_cfg. */
void sim_config_defaults(void);
/* sim_config_set_str sets one setting from text ("true"/"false"/"1"/"0" for
 * bools, names for enums). Returns 0, or -1 with a message in err. */
int sim_config_set_str(const char *name, const char *value, char *err, size_t errlen);
/* sim_config_set_json applies every member of a JSON object; all-or-nothing
 * is not attempted: members before a bad one stay applied. 0 or -1 + err. */
int sim_config_set_json(const struct cJSON *obj, char *err, size_t errlen);
/* sim_config_to_json returns a new cJSON object of all settings (caller frees). */
struct cJSON *sim_config_to_json(void);
/* sim_config_is_option reports whether --name (dashes) is a config option
 * and writes the setting name (underscores) into name. */
int sim_config_is_option(const char *opt, char *name, size_t namelen);
/* sim_config_bucket returns the quota bucket name of a request path (the
 * longest matching prefix of the map; "other" when none matches). */
const char *sim_config_bucket(const char *path);
/* sim_config_usage prints one line per setting for --help. */
void sim_config_usage(FILE *f);

#endif
