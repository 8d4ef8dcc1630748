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
/* sim_config_usage prints one line per setting for --help. */
void sim_config_usage(FILE *f);

#endif
