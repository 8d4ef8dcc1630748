#ifndef SW_SCRIPTS_H
#define SW_SCRIPTS_H
/* scripts: the Lua scripts of lua/, embedded at build time. Each is loaded
 * with SCRIPT LOAD and run with EVALSHA; redis_async and redis_sync reload it
 * on NOSCRIPT. */

enum script_id {
    SCRIPT_CLAIM,
    SCRIPT_COMPLETE,
    SCRIPT_TOKEN_STORE,
    SCRIPT_REFRESH_BEGIN,
    SCRIPT_OAUTH_SLOT,     /* serve: the OAuth callback's share of the rate limit */
    SCRIPT_OAUTH_STORE,    /* serve: store a finished login's tokens */
    SCRIPT_GRANT,          /* worker: a job's second call (poll after refresh), within the limiter */
    SCRIPT_USER_PUT,       /* cli: user add and user import store a user's tokens */
    SCRIPT_ALLOWANCE,      /* worker: a developer's quota ledger (allowances, QUOTA_EXCEEDED blocks) */
    SCRIPT_COUNT
};

const char *script_name(enum script_id id);    /* "claim" */
const char *script_source(enum script_id id);
const char *script_sha1(enum script_id id);    /* 40 hex chars, computed once at first use */

#endif
