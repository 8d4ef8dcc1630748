/* sim_state.h: the simulated world: apps, users, tokens, authorization codes
 * and the statistics. Everything here is guarded by sim_lock; the HTTP layer
 * takes it around each request. Nothing is ever removed while running (dead
 * tokens stay so that their reuse is answered correctly); all of it is freed
 * by sim_state_free() at shutdown. */
#ifndef SIM_STATE_H
#define SIM_STATE_H

#include <pthread.h>
#include <stdint.h>

#include "sim_developer.h"
#include "sim_flap.h"
#include "sim_playback.h"
#include "sim_rl.h"
#include "sim_util.h"

struct cJSON;

/* Token lengths as Spotify issues them (an access token seen in the wild is
 * 206 characters, refresh tokens 131), prefix included. */
#define SIM_ACCESS_TOKEN_LEN 206
#define SIM_REFRESH_TOKEN_LEN 131

/* sim_app: one registered client. */
typedef struct sim_app {
    char *client_id;
    char *client_secret;
    char **redirect_uris;
    int n_redirect;
    int development;        /* 1 = development mode: allowlist and quota apply */
    char **allowlist;       /* user ids (development mode) */
    int n_allow;
    long rate_limit;        /* per-app override of sim_cfg.rate_limit; -1 = none */
    sim_developer *dev;     /* the developer account owning the app (never NULL) */
    long max_users;         /* development mode: allowlist cap (5 new, 25 grandfathered); 0 = none */
    int grandfathered;      /* 1 = an app from before February 2026 (25 users) */
    sim_lapse premium;      /* this app's owner's Premium has lapsed (per-app switch) */
    sim_rl rl;              /* Web API rolling window */
    sim_rl token_rl;        /* /api/token rolling window */
    sim_quota quota;        /* development-mode 24 h quota (when no developer quota is on) */
    /* statistics (zeroed by /sim/stats/reset) */
    long requests;
    long calls_while_limited;
    long calls_in_grace;
    long rate_limited;      /* 429s sent (rate limit or quota) */
} sim_app;

/* sim_user: one Spotify account. */
typedef struct sim_user {
    char *id;
    char *account_id;         /* /v1/me account_id (May 2026): stable, distinct from id */
    char *display_name;
    char *country;
    char *product;
    char *email;
    sim_playback pb;
    sim_flaps flaps;          /* flapping answers armed by /sim/users/<id>/flap */
    struct sim_token *tokens; /* every token of this user (list via next_of_user) */
    /* statistics */
    long requests;            /* API requests authenticated as this user */
    long inflight;            /* requests being served now (incl. delayed) */
    long max_inflight;        /* highest inflight seen */
    long grants;              /* successful /api/token grants for this user */
    long calls_while_limited;
} sim_user;

/* sim_token_kind: access or refresh. */
typedef enum { SIM_TOKEN_ACCESS, SIM_TOKEN_REFRESH } sim_token_kind;

/* sim_token: an access or refresh token; a token identifies exactly one
 * (user, app, scope). Times are simulated Unix ms. */
typedef struct sim_token {
    char *value;
    sim_token_kind kind;
    sim_user *user;
    sim_app *app;
    char *scope;
    int64_t issued_ms;
    int64_t expires_ms;     /* access: issued + token_expires_s */
    int64_t auth_ms;        /* refresh: original authorisation (lifetime start) */
    int revoked;            /* refresh: revoked by the test hook */
    int dead;               /* refresh: replaced by rotation */
    int pkce;               /* refresh: obtained by a PKCE (secret-less) client */
    struct sim_token *next_of_user;
} sim_token;

/* sim_code: an authorization code from /authorize. */
typedef struct sim_code {
    char *value;
    sim_app *app;
    sim_user *user;
    char *redirect_uri;
    char *scope;
    char *challenge;        /* S256 code_challenge, NULL without PKCE */
    int64_t created_ms;
    int used;
} sim_code;

/* sim_world: all state plus global statistics. */
typedef struct sim_world {
    sim_map apps;           /* client_id -> sim_app */
    sim_map users;          /* id -> sim_user */
    sim_map tokens;         /* value -> sim_token */
    sim_map codes;          /* value -> sim_code */
    sim_map developers;     /* id -> sim_developer */
    long total;             /* /v1, /api/token and /authorize requests */
    long by_status[600];
    long hangs;             /* requests answered by a hang fault (no status) */
    sim_map by_path;        /* path -> long* */
    long calls_while_limited;
    long calls_in_grace;
    long max_concurrent;    /* max over users of max_inflight */
    long grants_code;       /* authorization_code grants issued */
    long grants_refresh;    /* refresh_token grants issued */
    long grants_failed;     /* /api/token requests answered with an error */
    long minted;            /* tokens minted by /sim/users/<id>/tokens */
    long rate_limited;      /* 429 responses */
    long quota_exceeded;    /* 429 QUOTA_EXCEEDED responses */
    sim_map quota_by_bucket; /* bucket -> long*: developer-quota 429s per bucket */
    long owner_premium_refused; /* owner-Premium 403s */
    long not_registered;    /* not-allowlisted 403s */
    long gzip_asked;        /* Web API answers compressed because the request asked (Accept-Encoding) */
} sim_world;

extern sim_world sim_w;
extern pthread_mutex_t sim_lock;

void sim_state_init(void);
void sim_state_free(void);

/* sim_user_get_or_create returns the user id, creating it if needed. */
sim_user *sim_user_get_or_create(const char *id);
/* sim_app_set creates or replaces an app from a /sim/apps body. Returns the
 * app, or NULL with err. */
sim_app *sim_app_set(const struct cJSON *body, char *err, size_t errlen);
/* sim_app_allows reports whether user may use app (allowlist). */
int sim_app_allows(const sim_app *app, const sim_user *user);
/* sim_app_allowlist_edit applies {"add":[ids],"remove":[ids]} to a
 * development app's allowlist. Returns 0; -1 (400) for a bad body; -2 (409)
 * when the result would exceed max_users (nothing changed). err says why. */
int sim_app_allowlist_edit(sim_app *app, const struct cJSON *body, char *err, size_t errlen);
/* sim_app_owner_lapsed reports whether app's owner has no Premium at now
 * (per-app switch or its developer's); development-mode apps only. */
int sim_app_owner_lapsed(const sim_app *app, int64_t now);
/* sim_app_rate_limit returns the effective API limit for app. */
long sim_app_rate_limit(const sim_app *app);

/* sim_token_new mints a token and registers it. */
sim_token *sim_token_new(sim_token_kind kind, sim_user *u, sim_app *a, const char *scope,
                         int64_t now);
sim_token *sim_token_find(const char *value);

/* sim_code_new creates an authorization code. */
sim_code *sim_code_new(sim_app *a, sim_user *u, const char *redirect_uri, const char *scope,
                       const char *challenge, int64_t now);

/* sim_stats_* */
void sim_stats_count_path(const char *path);
void sim_stats_reset(void);
/* sim_stats_to_json returns a new object for GET /sim/stats. */
struct cJSON *sim_stats_to_json(void);
/* sim_user_to_json returns a new object for GET /sim/users/<id>. */
struct cJSON *sim_user_to_json(sim_user *u, int64_t now);

#endif
