/* sim_api.h: the Web API under /v1: currently-playing, /me/player,
 * /me/player/devices, /me and recently-played. Checks run in this order:
 * auth, the owner's Premium (development mode), the development-mode
 * allowlist, rate limit, quota (the developer's bucket, or the app's
 * quota_24h), then the playback state (and the user's armed flaps). */
#ifndef SIM_API_H
#define SIM_API_H

#include "sim_http.h"

/* sim_api_handle answers one /v1 request. Called with sim_lock held. */
void sim_api_handle(sim_in *in, sim_reply *out);

/* sim_api_rate_check applies app's rolling window for the API (token = 0)
 * or the token endpoint (token = 1) and records calls made while limited
 * (user may be NULL). Returns 0 when admitted, else fills out with a 429 (a
 * Web API error body, or an OAuth error body for the token endpoint, plus
 * Retry-After) and returns -1. */
int sim_api_rate_check(struct sim_app *app, struct sim_user *user, int token, int64_t now,
                       sim_reply *out);

/* sim_api_quota_check counts a call of a development-mode app against its
 * developer's bucket for path when a developer quota is on, else (Web API
 * only, token = 0) against the app's quota_24h. Returns 0 when admitted,
 * else fills out with a 429 QUOTA_EXCEEDED + Retry-After and returns -1. */
int sim_api_quota_check(struct sim_app *app, const char *path, int token, int64_t now,
                        sim_reply *out);

#endif
