/* sim_api.h: the Web API under /v1: currently-playing, /me/player, /me and
 * recently-played. Checks run in Spotify's order: auth, development-mode
 * allowlist, rate limit, quota, then the playback state. */
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

#endif
