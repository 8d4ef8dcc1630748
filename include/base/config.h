#ifndef SW_CONFIG_H
#define SW_CONFIG_H
/* config: every directive of conf/spotwatch.conf, in one table (src/base/config.c)
 * that holds each name, type, default and bounds, so the shipped file and the
 * code cannot drift apart (tests/unit/test_config.c checks that they agree).
 *
 * Precedence, as redis-server does it: built-in defaults, then the file named
 * by --config, then every `--directive value` on the command line. Without
 * --config the file is $SPOTWATCH_CONF (which must exist), else
 * <sysconfdir>/spotwatch.conf when it exists (compiled in: the Makefile's
 * sysconfdir, where `make install` puts it), else none (the defaults). */
#include <stdio.h>

#define CFG_STR 512
/* CONFIG_MAX_DIRECTIVES: room for the table's rows (a static assert checks). */
#define CONFIG_MAX_DIRECTIVES 128
/* CONFIG_ENV: the environment variable naming the configuration file when
 * no --config is given. */
#define CONFIG_ENV "SPOTWATCH_CONF"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_TEXT, LOG_JSON };
/* dup_account: a Spotify account connected by a second user id (serve). */
enum dup_account { DUP_ACCOUNT_REFUSE, DUP_ACCOUNT_ALLOW };
/* poll_endpoint: what a poll asks: GET /me/player (device, shuffle, repeat)
 * or GET /me/player/currently-playing (neither). */
enum poll_endpoint { POLL_PLAYER, POLL_CURRENTLY_PLAYING };

struct sw_config {
    /* Redis */
    char redis_host[CFG_STR];
    int redis_port;
    char redis_user[CFG_STR];      /* ACL user; "" = default user */
    char redis_password[CFG_STR];  /* secret: never printed; after secret_input_config
                                      also what redis-password-file or
                                      SPOTWATCH_REDIS_PASSWORD held */
    char redis_password_file[CFG_STR]; /* a file holding the password; "" = none */
    int redis_db;
    char key_prefix[64];           /* "sw:" */
    int redis_tls;                 /* 1: every Redis link is TLS (src/redis/redis_tls.c);
                                      never a plain connection then */
    char redis_tls_ca_cert_file[CFG_STR]; /* CA bundle the server is verified with */
    char redis_tls_ca_cert_dir[CFG_STR];  /* hashed CA directory; with the file unset too:
                                             the system's CAs */
    char redis_tls_cert_file[CFG_STR];    /* client certificate (chain), PEM; "" = none */
    char redis_tls_key_file[CFG_STR];     /* its private key, PEM: a secret file (0600) */
    char redis_tls_server_name[CFG_STR];  /* name checked in the certificate and sent as
                                             SNI; "" = redis-host */
    char redis_sentinel[CFG_STR];         /* "host:port,host:port..." of Sentinels; "" = none:
                                             redis-host is the server (src/redis/redis_sentinel.c) */
    char redis_sentinel_master[CFG_STR];  /* the master name the Sentinels monitor */
    char redis_sentinel_password[CFG_STR]; /* secret: the Sentinels' requirepass; "" = none */
    int redis_cluster;                    /* 1: Redis Cluster; redis-host:redis-port is the first
                                             seed node (include/redis/cluster_map.h) */
    char redis_cluster_nodes[CFG_STR];    /* more seed nodes, "host:port,host:port..."; "" = none */

    /* Spotify */
    char api_base[CFG_STR];        /* "https://api.spotify.com/v1" */
    char accounts_base[CFG_STR];   /* "https://accounts.spotify.com" */
    char ca_file[CFG_STR];         /* "" = system CAs */
    enum poll_endpoint poll_endpoint;  /* player (default) or currently-playing */

    /* Scheduling */
    long poll_interval_ms;         /* base (and fixed-mode) interval, 2000 */
    long lease_ms;                 /* a claim's lease; expired leases return to the schedule */
    int claim_batch;               /* users taken per claim call */
    long claim_tick_ms;            /* the claims of an app that found its due users all taken fall on this tick */
    int max_inflight;              /* HTTP requests in flight per worker */
    long http_timeout_ms;          /* whole-request timeout */
    long max_body_bytes;           /* response size cap */
    int api_accept_gzip;           /* ask Spotify for gzip (1) or for nothing (0); a gzip answer is decoded either way */
    int redis_wait_replicas;       /* WAIT for this many replicas after a completion
                                    * batch that follows a stored refresh token (0 = off) */
    long redis_wait_timeout_ms;    /* that WAIT's timeout, ms: the worker's link waits this long at most */
    long events_maxlen;            /* XADD MAXLEN ~ of each app's event stream */
    int smart_polling;             /* 1: interval follows playback; 0: fixed interval */
    long playing_max_ms;           /* smart: longest interval while a track plays */
    int budget_target_pct;         /* smart: playing users sped up towards poll_interval_ms while the
                                      app's window uses less than this % of its budget (0 = off) */
    long paused_interval_ms;       /* smart: first interval while paused */
    long paused_max_ms;            /* smart: longest interval while paused */
    long idle_max_ms;              /* smart: longest interval while nothing plays */
    long backoff_base_ms;          /* transient errors: first backoff */
    long backoff_max_ms;           /* transient errors: cap */
    long backfill_interval_ms;     /* history backfill per user every this long (0 = off) */
    long history_window_ms;        /* history backfill looks back this long for late plays */
    long flap_confirm_ms;          /* a change held for confirmation is polled again within this (0 = off) */

    /* Rate limiting */
    long retry_after_default_ms;   /* a 429 without Retry-After blocks this long */
    long retry_after_max_ms;       /* absurd Retry-After values are capped here */
    long app_budget_30s;           /* default calls per rolling 30 s per app (0 = unlimited) */
    long app_quota_24h;            /* default rolling 24 h quota, development mode (0 = none) */
    long owner_premium_probe_ms;   /* owner-Premium 403: the app blocked this long, then one probe */

    /* Tokens and secrets */
    char token_key_file[CFG_STR];  /* AES-256-GCM keyring; "" = none */
    int allow_plaintext_tokens;    /* refuse to start without a key unless set */
    long refresh_margin_ms;        /* refresh this long before expiry, 60000 */

    /* HTTP we serve */
    char http_listen[CFG_STR];     /* serve: "127.0.0.1:8080" */
    char public_url[CFG_STR];      /* serve: base of the redirect URI */
    char state_key_file[CFG_STR];  /* serve: HMAC key of the OAuth state */
    long oauth_state_ttl_ms;       /* serve: life of an OAuth state, 600000 */
    char connect_allowed_origins[CFG_STR]; /* serve: return_to origins, comma-separated;
                                              "" = the origin of public-url */
    enum dup_account duplicate_account;    /* serve: refuse (default) or allow */
    char connect_key_file[CFG_STR];        /* serve: HMAC key of signed /connect links;
                                              "" = /connect unauthenticated */
    int connect_open;              /* serve: 1 = start without connect-key-file (a trusted
                                      network); 0 = refuse to */
    long serve_rate_per_ip;        /* serve: /connect + /callback requests per minute per
                                      client address (token bucket refill); 0 = no limit */
    long serve_burst_per_ip;       /* serve: the bucket's size (requests at once) */
    int serve_connections_per_ip;  /* serve: open connections per client address; 0 = no limit */
    long serve_request_timeout_ms; /* serve: a request must arrive whole within this, however
                                      slowly its bytes trickle (absolute, not idle) */
    char metrics_listen[CFG_STR];  /* worker: "" = off */
    char admin_listen[CFG_STR];    /* serve: the dashboard's host:port; "" = off */
    char admin_password_file[CFG_STR]; /* serve: the dashboard password (user admin) */
    int admin_actions;             /* serve: 1 = the dashboard may change state */

    /* Logging */
    enum log_level log_level;
    enum log_format log_format;
    char log_file[CFG_STR];        /* worker and serve: "" = stderr; SIGHUP reopens it */

    /* Benchmarking */
    int bench_fake_poll;           /* benchmark only: answer polls inside the worker, no HTTP */

    /* Where the values came from (not directives): what config_reload
     * re-reads. source: the file read ("" = none); from_cli[i]: directive i
     * of the table was set on the command line, which wins on reload too. */
    char source[CFG_STR];
    unsigned char from_cli[CONFIG_MAX_DIRECTIVES];
};

/* config_defaults fills c with the built-in defaults (equal to conf/spotwatch.conf). */
void config_defaults(struct sw_config *c);

/* config_set sets one directive from its text value. Returns 0, or -1 with a
 * message naming the directive in err ("poll-interval-ms: must be an integer
 * between 10 and 3600000"). */
int config_set(struct sw_config *c, const char *name, const char *value, char *err, size_t errlen);

/* config_load_file reads a redis.conf-style file (`directive value`, `#`
 * comments, values may be double-quoted). Returns 0, or -1 with err naming
 * the file, the line and the directive ("/etc/x.conf:12: lease-ms: ...").
 * A file over 1 MiB (or a device such as /dev/zero) is refused before it is
 * read whole, and so is a line holding a NUL byte (with its number). */
int config_load_file(struct sw_config *c, const char *path, char *err, size_t errlen);

/* config_parse_args consumes leading `--config FILE` and `--directive value`
 * options of argv from *argi on, stopping at the first word that is not an
 * option (the subcommand) and leaving *argi on it. The file is applied before
 * every command-line directive, wherever --config stands. Returns 0 or -1.
 * c must already hold the defaults (config_defaults); `--name=value` is also
 * accepted, a bare `--` ends the options (and is consumed), and `--name`
 * followed by nothing or by another `--option` is a missing value. On success
 * it also runs config_check. */
int config_parse_args(struct sw_config *c, int argc, char **argv, int *argi, char *err, size_t errlen);

/* config_check tests the rules between directives (api-base and
 * accounts-base are http(s) URLs, paused-max-ms >=
 * paused-interval-ms, backoff-max-ms >= backoff-base-ms, retry-after-max-ms >=
 * retry-after-default-ms). Returns 0, or -1 with a message in err. */
int config_check(const struct sw_config *c, char *err, size_t errlen);

/* config_directive_name returns the name of the i-th directive of the table
 * (in conf-file order), or NULL when i is past the end. For tests and docs. */
const char *config_directive_name(size_t i);

/* config_default_path: <sysconfdir>/spotwatch.conf, compiled in. */
const char *config_default_path(void);

/* config_reload re-reads cur's sources (its file, then its command-line
 * values, over the defaults) and applies to cur the directives that may
 * change at run time (config_runtime); a directive that changed but needs a
 * restart is left as it was and named in refused. changed and refused get
 * space-separated names ("" when none). Returns 0, or -1 with err (the file
 * unreadable or invalid: nothing is applied). Secrets are never compared
 * (redis-password may come from a file read once at start). */
int config_reload(struct sw_config *cur, char *changed, size_t changedlen, char *refused,
                  size_t refusedlen, char *err, size_t errlen);

/* config_runtime: 1 when the named directive takes effect on SIGHUP. */
int config_runtime(const char *name);

/* config_info: one row of the table, for documentation (spotwatch.conf(5)). */
struct config_info {
    const char *name;
    const char *type;       /* "integer", "string", "yes|no", or the enum's words "a|b" */
    const char *def;        /* the default as text */
    long min, max;          /* integers' bounds */
    int is_int, secret, runtime;
};
/* config_directive_info fills out for the i-th directive; 0, or -1 past the end. */
int config_directive_info(size_t i, struct config_info *out, char *words, size_t wordslen);

/* config_write prints every directive as `name value`, secrets as "(set)". */
void config_write(const struct sw_config *c, FILE *f);

#endif
