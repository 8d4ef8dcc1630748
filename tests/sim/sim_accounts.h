/* sim_accounts.h: the accounts service: GET /authorize (with the sim_user /
 * sim_deny stand-ins for the consent page) and POST /api/token
 * (authorization_code with optional PKCE S256, refresh_token). */
#ifndef SIM_ACCOUNTS_H
#define SIM_ACCOUNTS_H

#include "sim_http.h"

/* sim_accounts_authorize answers GET /authorize. Called with sim_lock held. */
void sim_accounts_authorize(sim_in *in, sim_reply *out);
/* sim_accounts_token answers POST /api/token. Called with sim_lock held. */
void sim_accounts_token(sim_in *in, sim_reply *out);
/* sim_accounts_redirect_ok reports whether redirect_uri is acceptable for the
 * app's registered list (exact match; loopback IP literals on any port;
 * localhost and plain http elsewhere never). */
int sim_accounts_redirect_ok(const struct sim_app *app, const char *redirect_uri);

#endif
