/* config: the directive table and the parsers of conf/spotwatch.conf and of
 * `--directive value` command-line options. See include/base/config.h.
 *
 * The table below is the single source of truth for each directive's name,
 * type, default and bounds: config_defaults() is built from it, and
 * tests/unit/test_config.c checks that conf/spotwatch.conf agrees with it. */
#include "base/errbuf.h"
#include "base/config.h"
#include "build_info.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ================================ The table ================================ */

enum cfg_type {
    CT_INT,     /* int field, decimal, within [min, max] */
    CT_LONG,    /* long field, decimal, within [min, max] */
    CT_STR,     /* char[size] field; the value must fit with its NUL */
    CT_BOOL,    /* int field, "yes" -> 1, "no" -> 0 */
    CT_ENUM,    /* enum field; the value is one of names[], stored as its index */
};

struct cfg_directive {
    const char *name;           /* kebab-case name, the field's with '_' -> '-' */
    enum cfg_type type;
    size_t off;                 /* offsetof(struct sw_config, field) */
    size_t size;                /* sizeof the field */
    const char *def;            /* default, as text (what the conf file says) */
    long min, max;              /* CT_INT/CT_LONG bounds, inclusive */
    int secret;                 /* never echo the value; config_write prints "(set)" */
    const char *const *names;   /* CT_ENUM: the accepted words, NULL-terminated */
    /* CT_STR: NULL, or a rule on the value: 0, or -1 with why (after the
     * directive's name) in err. */
    int (*valid)(const char *value, char *err, size_t errlen);
};

static const char *const level_names[] = { "debug", "info", "warn", "error", NULL };
static const char *const format_names[] = { "text", "json", NULL };
static const char *const dup_names[] = { "refuse", "allow", NULL };
static const char *const endpoint_names[] = { "player", "currently-playing", NULL };

/* Enum fields are written through an unsigned int; the values are small and
 * non-negative, so GCC and Clang give both enums that representation. */
_Static_assert(sizeof(enum log_level) == sizeof(unsigned), "enum log_level is not unsigned-sized");
_Static_assert(sizeof(enum log_format) == sizeof(unsigned), "enum log_format is not unsigned-sized");
_Static_assert(sizeof(enum dup_account) == sizeof(unsigned), "enum dup_account is not unsigned-sized");
_Static_assert(sizeof(enum poll_endpoint) == sizeof(unsigned), "enum poll_endpoint is not unsigned-sized");

#define F(field) offsetof(struct sw_config, field), sizeof(((struct sw_config *)0)->field)
#define STR(name, field, def)        { name, CT_STR, F(field), def, 0, 0, 0, NULL, NULL }
#define STRV(name, field, def, rule) { name, CT_STR, F(field), def, 0, 0, 0, NULL, rule }
#define SECRET(name, field, def)     { name, CT_STR, F(field), def, 0, 0, 1, NULL, NULL }
#define INT(name, field, def, lo, hi)  { name, CT_INT, F(field), def, lo, hi, 0, NULL, NULL }
#define LONG(name, field, def, lo, hi) { name, CT_LONG, F(field), def, lo, hi, 0, NULL, NULL }
#define BOOL(name, field, def)       { name, CT_BOOL, F(field), def, 0, 1, 0, NULL, NULL }
#define ENUM(name, field, def, list) { name, CT_ENUM, F(field), def, 0, 0, 0, list, NULL }

#define DAY_MS 86400000L

/* prefix_rule: key-prefix starts every key and the channel pattern
 * "<p>playback:*" that `tail` and consumers PSUBSCRIBE to. A glob character
 * ('*', '?', '[', ']', a backslash) there would make that pattern match other
 * deployments' channels or none, and a brace would move the Cluster hash
 * tag off the app's {<app>}. Control characters have no business in a key. */
static int prefix_rule(const char *v, char *err, size_t errlen)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || strchr("{}*?[]\\", *p) != NULL) {
            errbuf_set(err, errlen, "must not contain '{', '}', '*', '?', '[', ']', '\\' or "
                                    "control characters (they are glob and hash-tag characters "
                                    "in Redis keys and channel patterns)");
            return -1;
        }
    }
    return 0;
}

/* Bounds: wide enough for any sane deployment, narrow enough to catch a unit
 * mistake (seconds written as milliseconds, a missing zero) at start-up. */
static const struct cfg_directive table[] = {
    /* Redis */
    STR("redis-host", redis_host, "127.0.0.1"),
    INT("redis-port", redis_port, "6379", 1, 65535),
    STR("redis-user", redis_user, ""),
    SECRET("redis-password", redis_password, ""),
    STR("redis-password-file", redis_password_file, ""),
    INT("redis-db", redis_db, "0", 0, 65535),
    STRV("key-prefix", key_prefix, "sw:", prefix_rule),
    BOOL("redis-tls", redis_tls, "no"),
    STR("redis-tls-ca-cert-file", redis_tls_ca_cert_file, ""),
    STR("redis-tls-ca-cert-dir", redis_tls_ca_cert_dir, ""),
    STR("redis-tls-cert-file", redis_tls_cert_file, ""),
    STR("redis-tls-key-file", redis_tls_key_file, ""),
    STR("redis-tls-server-name", redis_tls_server_name, ""),
    STR("redis-sentinel", redis_sentinel, ""),
    STR("redis-sentinel-master", redis_sentinel_master, ""),
    SECRET("redis-sentinel-password", redis_sentinel_password, ""),
    BOOL("redis-cluster", redis_cluster, "no"),
    STR("redis-cluster-nodes", redis_cluster_nodes, ""),
    INT("redis-wait-replicas", redis_wait_replicas, "0", 0, 64),
    LONG("redis-wait-timeout-ms", redis_wait_timeout_ms, "100", 1, 10000),

    /* Spotify */
    STR("api-base", api_base, "https://api.spotify.com/v1"),
    STR("accounts-base", accounts_base, "https://accounts.spotify.com"),
    STR("ca-file", ca_file, ""),
    ENUM("poll-endpoint", poll_endpoint, "player", endpoint_names),

    /* Scheduling (rows of one table look alike by design: one directive each) */
    LONG("poll-interval-ms", poll_interval_ms, "2000", 10, 3600000),
    LONG("lease-ms", lease_ms, "10000", 100, 3600000),
    INT("claim-batch", claim_batch, "32", 1, 10000),
    LONG("claim-tick-ms", claim_tick_ms, "10", 0, 1000),
    INT("max-inflight", max_inflight, "256", 1, 100000),
    LONG("http-timeout-ms", http_timeout_ms, "5000", 100, 600000),
    LONG("max-body-bytes", max_body_bytes, "1048576", 1024, 1073741824),
    BOOL("api-accept-gzip", api_accept_gzip, "no"),
    LONG("events-maxlen", events_maxlen, "10000", 1, 1000000000),
    BOOL("smart-polling", smart_polling, "yes"),
    LONG("playing-max-ms", playing_max_ms, "15000", 10, DAY_MS),
    INT("budget-target-pct", budget_target_pct, "75", 0, 100),
    LONG("paused-interval-ms", paused_interval_ms, "15000", 10, DAY_MS),
    LONG("paused-max-ms", paused_max_ms, "60000", 10, DAY_MS),
    LONG("idle-max-ms", idle_max_ms, "180000", 10, DAY_MS),
    LONG("backoff-base-ms", backoff_base_ms, "1000", 10, 3600000),
    LONG("backoff-max-ms", backoff_max_ms, "120000", 10, DAY_MS),
    LONG("backfill-interval-ms", backfill_interval_ms, "600000", 0, DAY_MS),
    LONG("history-window-ms", history_window_ms, "86400000", 60000, 30 * DAY_MS),
    LONG("flap-confirm-ms", flap_confirm_ms, "1500", 0, 60000),

    /* Rate limiting */
    LONG("retry-after-default-ms", retry_after_default_ms, "30000", 100, DAY_MS),
    LONG("retry-after-max-ms", retry_after_max_ms, "86400000", 1000, 7 * DAY_MS),
    LONG("app-budget-30s", app_budget_30s, "0", 0, 1000000),
    LONG("app-quota-24h", app_quota_24h, "0", 0, 1000000000),
    LONG("owner-premium-probe-ms", owner_premium_probe_ms, "300000", 100, DAY_MS),

    /* Tokens and secrets */
    STR("token-key-file", token_key_file, ""),
    BOOL("allow-plaintext-tokens", allow_plaintext_tokens, "no"),
    LONG("refresh-margin-ms", refresh_margin_ms, "60000", 0, 3600000),

    /* HTTP we serve */
    STR("http-listen", http_listen, "127.0.0.1:8080"),
    STR("public-url", public_url, "http://127.0.0.1:8080"),
    STR("state-key-file", state_key_file, ""),
    LONG("oauth-state-ttl-ms", oauth_state_ttl_ms, "600000", 1000, 3600000),
    STR("connect-allowed-origins", connect_allowed_origins, ""),
    ENUM("duplicate-account", duplicate_account, "refuse", dup_names),
    STR("connect-key-file", connect_key_file, ""),
    BOOL("connect-open", connect_open, "no"),
    LONG("serve-rate-per-ip", serve_rate_per_ip, "60", 0, 1000000),
    LONG("serve-burst-per-ip", serve_burst_per_ip, "20", 1, 100000),
    INT("serve-connections-per-ip", serve_connections_per_ip, "16", 0, 10000),
    LONG("serve-request-timeout-ms", serve_request_timeout_ms, "10000", 100, 600000),
    STR("metrics-listen", metrics_listen, ""),
    STR("admin-listen", admin_listen, ""),
    STR("admin-password-file", admin_password_file, ""),
    BOOL("admin-actions", admin_actions, "no"),

    /* Logging */
    ENUM("log-level", log_level, "info", level_names),
    ENUM("log-format", log_format, "text", format_names),
    STR("log-file", log_file, ""),

    /* Benchmarking */
    BOOL("bench-fake-poll", bench_fake_poll, "no"),
};

#define NDIRECTIVES (sizeof(table) / sizeof(table[0]))
_Static_assert(NDIRECTIVES <= CONFIG_MAX_DIRECTIVES, "raise CONFIG_MAX_DIRECTIVES");

/* runtime: the directives SIGHUP applies to a running worker or serve
 * (config_reload). Each is read where it is used, at each use, so a new
 * value takes effect on the next poll, claim or log record, and a poll in
 * flight keeps what it started with. The rest are read once at start
 * (addresses, listeners, keys, the HTTP client's limits). */
static const char *const runtime[] = {
    "log-level", "log-format", "log-file", "poll-interval-ms", "claim-batch", "claim-tick-ms",
    "max-inflight",
    "events-maxlen", "smart-polling", "playing-max-ms", "paused-interval-ms", "paused-max-ms",
    "idle-max-ms", "backoff-base-ms", "backoff-max-ms", "backfill-interval-ms",
    "retry-after-default-ms", "retry-after-max-ms", "app-budget-30s", "app-quota-24h",
    "owner-premium-probe-ms", "refresh-margin-ms",
};

/* CONFIG_FILE_MAX: the largest conf file read (bytes). The shipped one is
 * about 11 KB; anything near a megabyte is a mistake (a wrong path, a
 * device), refused before it can fill memory. */
#define CONFIG_FILE_MAX (1024 * 1024)

/* ================================ Helpers ================================== */

/* printable copies up to 64 bytes of s into buf (size n >= 68), with every
 * byte that is not printable ASCII shown as '?' and "..." when cut: error
 * messages echo what the user wrote, and a binary file must not be able to
 * put terminal escapes on the operator's screen. */
static const char *printable(const char *s, char *buf, size_t n)
{
    size_t o = 0;

    for (; *s != '\0' && o + 4 < n && o < 64; s++)
        buf[o++] = (*s >= 0x20 && *s <= 0x7e) ? *s : '?';
    if (*s != '\0' && o + 3 < n) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* Names match case-insensitively, as redis.conf directives do. */
static const struct cfg_directive *find_directive(const char *name)
{
    for (size_t i = 0; i < NDIRECTIVES; i++)
        if (strcasecmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

/* parse_long accepts an optionally signed decimal integer and nothing else
 * (no hex, no trailing text, no leading blanks). Returns 0 or -1. */
static int parse_long(const char *s, long *out)
{
    char *end;
    long v;

    if (*s != '-' && *s != '+' && (*s < '0' || *s > '9'))
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* The enum's words joined as "a|b|c", for error messages. */
static void enum_words(const char *const *names, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; names[i] != NULL && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? "|" : "", names[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static int set_directive(struct sw_config *c, const struct cfg_directive *d, const char *value,
                         char *err, size_t errlen)
{
    char *field = (char *)c + d->off;
    char pbuf[72];
    /* A secret value is never echoed back, even when it is malformed. */
    const char *shown = d->secret ? "(hidden)" : printable(value, pbuf, sizeof pbuf);

    switch (d->type) {
    case CT_INT:
    case CT_LONG: {
        long v;
        if (parse_long(value, &v) != 0 || v < d->min || v > d->max) {
            errbuf_set(err, errlen, "%s: must be an integer between %ld and %ld (got '%s')",
                    d->name, d->min, d->max, shown);
            return -1;
        }
        if (d->type == CT_INT) {
            int iv = (int)v;
            memcpy(field, &iv, sizeof iv);
        } else {
            memcpy(field, &v, sizeof v);
        }
        return 0;
    }
    case CT_STR: {
        size_t n = strlen(value);
        char why[256];
        if (n >= d->size) {
            errbuf_set(err, errlen, "%s: value too long (%zu bytes, at most %zu)",
                    d->name, n, d->size - 1);
            return -1;
        }
        if (d->valid != NULL && d->valid(value, why, sizeof why) != 0) {
            errbuf_set(err, errlen, "%s: %s (got '%s')", d->name, why, shown);
            return -1;
        }
        /* Zero the whole field so equal configs are byte-for-byte equal. */
        memset(field, 0, d->size);
        memcpy(field, value, n);
        return 0;
    }
    case CT_BOOL: {
        int b;
        if (strcasecmp(value, "yes") == 0) {
            b = 1;
        } else if (strcasecmp(value, "no") == 0) {
            b = 0;
        } else {
            errbuf_set(err, errlen, "%s: must be yes or no (got '%s')", d->name, shown);
            return -1;
        }
        memcpy(field, &b, sizeof b);
        return 0;
    }
    case CT_ENUM:
        for (unsigned i = 0; d->names[i] != NULL; i++) {
            if (strcasecmp(value, d->names[i]) == 0) {
                memcpy(field, &i, sizeof i);
                return 0;
            }
        }
        {
            char words[128];
            enum_words(d->names, words, sizeof words);
            errbuf_set(err, errlen, "%s: must be one of %s (got '%s')", d->name, words, shown);
        }
        return -1;
    }
    errbuf_set(err, errlen, "%s: bad directive type", d->name);
    return -1;
}

/* ================================ The API ================================== */

void config_defaults(struct sw_config *c)
{
    char err[256];

    /* Zero first so that padding and string tails compare equal (memcmp). */
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NDIRECTIVES; i++) {
        if (set_directive(c, &table[i], table[i].def, err, sizeof err) != 0) {
            /* A bad default is a bug in the table above, caught by any test run. */
            fprintf(stderr, "config: bad built-in default: %s\n", err);
            abort();
        }
    }
}

int config_set(struct sw_config *c, const char *name, const char *value, char *err, size_t errlen)
{
    const struct cfg_directive *d = find_directive(name);
    char pbuf[72];

    if (d == NULL) {
        errbuf_set(err, errlen, "unknown directive '%s'", printable(name, pbuf, sizeof pbuf));
        return -1;
    }
    if (value == NULL) {
        errbuf_set(err, errlen, "%s: missing value", d->name);
        return -1;
    }
    return set_directive(c, d, value, err, errlen);
}

/* http_url: 1 if s starts like an absolute http(s) URL. */
static int http_url(const char *s)
{
    return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;
}

int config_check(const struct sw_config *c, char *err, size_t errlen)
{
    char pbuf[72];

    if (!http_url(c->api_base) || !http_url(c->accounts_base)) {
        const char *bad = http_url(c->api_base) ? "accounts-base" : "api-base";
        errbuf_set(err, errlen, "%s: must be an http:// or https:// URL (got '%s')", bad,
                printable(http_url(c->api_base) ? c->accounts_base : c->api_base, pbuf, sizeof pbuf));
        return -1;
    }
    if (c->paused_max_ms < c->paused_interval_ms) {
        errbuf_set(err, errlen, "paused-max-ms (%ld) must not be below paused-interval-ms (%ld)",
                c->paused_max_ms, c->paused_interval_ms);
        return -1;
    }
    if (c->backoff_max_ms < c->backoff_base_ms) {
        errbuf_set(err, errlen, "backoff-max-ms (%ld) must not be below backoff-base-ms (%ld)",
                c->backoff_max_ms, c->backoff_base_ms);
        return -1;
    }
    if (c->retry_after_max_ms < c->retry_after_default_ms) {
        errbuf_set(err, errlen,
                "retry-after-max-ms (%ld) must not be below retry-after-default-ms (%ld)",
                c->retry_after_max_ms, c->retry_after_default_ms);
        return -1;
    }
    return 0;
}

/* split_line parses one line of a conf file in place. On return *name is
 * NULL for a blank or comment line; otherwise *name and *value point into
 * line (*value is NULL when the directive has no value). A value is either
 * one bare word or a double-quoted string in which \" and \\ are escapes.
 * Returns 0, or -1 with a message (without the path:line: prefix). */
static int split_line(char *line, char **name, char **value, char *err, size_t errlen)
{
    char *p = line, *end, pbuf[72];

    *name = *value = NULL;
    while (*p == ' ' || *p == '\t')
        p++;
    /* Trim the right end, including the newline and any CR of a DOS file. */
    end = p + strlen(p);
    while (end > p && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    if (*p == '\0' || *p == '#')
        return 0;

    *name = p;
    while (*p != '\0' && *p != ' ' && *p != '\t')
        p++;
    if (*p == '\0')
        return 0;
    *p++ = '\0';
    while (*p == ' ' || *p == '\t')
        p++;

    if (*p == '"') {
        char *out = ++p;
        *value = out;
        for (;;) {
            if (*p == '\0') {
                errbuf_set(err, errlen, "%s: unterminated quoted value",
                        printable(*name, pbuf, sizeof pbuf));
                return -1;
            }
            if (*p == '"')
                break;
            if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                p++;
            *out++ = *p++;
        }
        p++;            /* past the closing quote */
        *out = '\0';    /* out <= p - 1, so this never clobbers unread text */
        if (*p != '\0') {
            errbuf_set(err, errlen, "%s: unexpected text after the quoted value",
                    printable(*name, pbuf, sizeof pbuf));
            return -1;
        }
        return 0;
    }

    *value = p;
    while (*p != '\0' && *p != ' ' && *p != '\t')
        p++;
    if (*p != '\0') {
        errbuf_set(err, errlen, "%s: expected one value (quote a value that contains spaces)",
                printable(*name, pbuf, sizeof pbuf));
        return -1;
    }
    return 0;
}

/* read_capped reads all of f into a malloc'd NUL-terminated buffer (*len
 * bytes before the NUL). A file is read at most CONFIG_FILE_MAX + 1 bytes
 * far, so /dev/zero or a runaway pipe fails at once instead of filling
 * memory. Returns 0, or -1 with err naming path. */
static int read_capped(FILE *f, const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);

    *out = NULL;
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n > CONFIG_FILE_MAX) {
            errbuf_set(err, errlen, "%s: larger than %d bytes: not a configuration file", path,
                    CONFIG_FILE_MAX);
            goto fail;
        }
        if (got == 0 || n < cap) {
            if (ferror(f)) {
                errbuf_set(err, errlen, "%s: read error: %s", path, strerror(errno));
                goto fail;
            }
            if (feof(f))
                break;
            continue;
        }
        /* Full: grow, never past the cap plus the byte that proves it. */
        size_t ncap = cap * 2 > CONFIG_FILE_MAX + 1 ? CONFIG_FILE_MAX + 1 : cap * 2;
        char *nb = malloc(ncap + 1);
        if (nb != NULL)
            memcpy(nb, buf, n);
        /* The file may hold redis-password: no copy of it is left behind. */
        explicit_bzero(buf, n);
        free(buf);
        buf = nb;
        cap = ncap;
    }
    if (buf == NULL) {
        errbuf_set(err, errlen, "%s: out of memory", path);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
fail:
    explicit_bzero(buf, n);
    free(buf);
    return -1;
}

int config_load_file(struct sw_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f;
    char *buf = NULL, *line;
    size_t len = 0;
    unsigned lineno = 0;
    int rc = -1;
    char msg[512];

    f = fopen(path, "r");
    if (f == NULL) {
        errbuf_set(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (read_capped(f, path, &buf, &len, err, errlen) != 0)
        goto cleanup;
    for (line = buf; line < buf + len;) {
        char *nl = memchr(line, '\n', (size_t)(buf + len - line));
        char *end = nl != NULL ? nl : buf + len;
        char *name, *value;

        lineno++;
        /* A NUL would end the value early, silently: refuse the line. */
        if (memchr(line, '\0', (size_t)(end - line)) != NULL) {
            snprintf(msg, sizeof msg, "a NUL byte in the line (a binary file?)");
            goto fail;
        }
        *end = '\0';
        if (split_line(line, &name, &value, msg, sizeof msg) != 0)
            goto fail;
        if (name != NULL && config_set(c, name, value, msg, sizeof msg) != 0)
            goto fail;
        line = end + 1;
    }
    rc = 0;
    goto cleanup;

fail:
    errbuf_set(err, errlen, "%s:%u: %s", path, lineno, msg);
cleanup:
    if (buf != NULL) {
        explicit_bzero(buf, len);
        free(buf);
    }
    fclose(f);
    return rc;
}

/* option_value splits argv[i] ("--name" or "--name=value") into its name
 * (copied into name) and value (from "=" or the next word). Returns the
 * number of words used (1 or 2), or -1 with err set. */
static int option_value(int argc, char **argv, int i, char *name, size_t namelen,
                        const char **value, char *err, size_t errlen)
{
    const char *opt = argv[i] + 2;
    const char *eq = strchr(opt, '=');
    size_t n = eq ? (size_t)(eq - opt) : strlen(opt);

    if (n == 0 || n >= namelen) {
        errbuf_set(err, errlen, "bad option '%.*s'", (int)(n < 64 ? n + 2 : 66), argv[i]);
        return -1;
    }
    memcpy(name, opt, n);
    name[n] = '\0';
    if (eq != NULL) {
        *value = eq + 1;
        return 1;
    }
    /* A following "--option" is taken as a forgotten value, not as one. */
    if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0) {
        errbuf_set(err, errlen, "--%s: missing value", name);
        return -1;
    }
    *value = argv[i + 1];
    return 2;
}

int config_parse_args(struct sw_config *c, int argc, char **argv, int *argi, char *err, size_t errlen)
{
    const char *file = NULL;
    char name[128];
    const char *value;
    int i, end, used;

    /* Pass 1: find where the options end, and the file, so that the file is
     * applied first wherever --config stands. */
    for (i = *argi; i < argc && strncmp(argv[i], "--", 2) == 0; i += used) {
        if (strcmp(argv[i], "--") == 0)
            break;
        used = option_value(argc, argv, i, name, sizeof name, &value, err, errlen);
        if (used < 0)
            return -1;
        if (strcmp(name, "config") == 0) {
            if (file != NULL) {
                errbuf_set(err, errlen, "--config: given more than once");
                return -1;
            }
            file = value;
        }
    }
    end = i;

    /* No --config: $SPOTWATCH_CONF (named, so it must be there), else the
     * installed file when there is one. */
    if (file == NULL && getenv(CONFIG_ENV) != NULL && getenv(CONFIG_ENV)[0] != '\0')
        file = getenv(CONFIG_ENV);
    if (file == NULL && access(config_default_path(), F_OK) == 0)
        file = config_default_path();
    if (file != NULL && config_load_file(c, file, err, errlen) != 0)
        return -1;
    if (file != NULL)
        snprintf(c->source, sizeof c->source, "%s", file);

    /* Pass 2: the command-line directives, in order (a later one wins). */
    for (i = *argi; i < end; i += used) {
        used = option_value(argc, argv, i, name, sizeof name, &value, err, errlen);
        if (used < 0)
            return -1;
        if (strcmp(name, "config") == 0)
            continue;
        if (config_set(c, name, value, err, errlen) != 0)
            return -1;
        c->from_cli[find_directive(name) - table] = 1;
    }

    /* A bare "--" ends the options and is consumed. */
    if (end < argc && strcmp(argv[end], "--") == 0)
        end++;
    *argi = end;
    return config_check(c, err, errlen);
}

/* write_string prints s so that config_load_file reads it back unchanged:
 * bare when it is one plain word, otherwise quoted with \" and \\ escaped. */
static void write_string(const char *s, FILE *f)
{
    if (*s != '\0' && strpbrk(s, " \t\"\\#") == NULL && s[0] != '"') {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void config_write(const struct sw_config *c, FILE *f)
{
    for (size_t i = 0; i < NDIRECTIVES; i++) {
        const struct cfg_directive *d = &table[i];
        const char *field = (const char *)c + d->off;

        fprintf(f, "%s ", d->name);
        switch (d->type) {
        case CT_INT: {
            int v;
            memcpy(&v, field, sizeof v);
            fprintf(f, "%d", v);
            break;
        }
        case CT_LONG: {
            long v;
            memcpy(&v, field, sizeof v);
            fprintf(f, "%ld", v);
            break;
        }
        case CT_STR:
            if (d->secret && field[0] != '\0')
                fputs("(set)", f);
            else
                write_string(field, f);
            break;
        case CT_BOOL: {
            int v;
            memcpy(&v, field, sizeof v);
            fputs(v ? "yes" : "no", f);
            break;
        }
        case CT_ENUM: {
            unsigned v, n = 0;
            memcpy(&v, field, sizeof v);
            while (d->names[n] != NULL)
                n++;
            fputs(v < n ? d->names[v] : "?", f);
            break;
        }
        }
        fputc('\n', f);
    }
}

const char *config_directive_name(size_t i)
{
    return i < NDIRECTIVES ? table[i].name : NULL;
}

const char *config_default_path(void)
{
    return SW_BUILD_SYSCONFDIR "/spotwatch.conf";
}

int config_runtime(const char *name)
{
    for (size_t i = 0; i < sizeof runtime / sizeof runtime[0]; i++)
        if (strcmp(runtime[i], name) == 0)
            return 1;
    return 0;
}

/* add_name appends " name" (the first without the blank) to list. */
static void add_name(char *list, size_t len, const char *name)
{
    size_t used = strlen(list);
    if (used < len)
        snprintf(list + used, len - used, "%s%s", used ? " " : "", name);
}

int config_reload(struct sw_config *cur, char *changed, size_t changedlen, char *refused,
                  size_t refusedlen, char *err, size_t errlen)
{
    struct sw_config *next = malloc(sizeof *next);
    int rc = -1;

    changed[0] = refused[0] = '\0';
    if (next == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    config_defaults(next);
    if (cur->source[0] && config_load_file(next, cur->source, err, errlen) != 0)
        goto out;
    /* The command line wins, as it did at start. */
    for (size_t i = 0; i < NDIRECTIVES; i++)
        if (cur->from_cli[i])
            memcpy((char *)next + table[i].off, (const char *)cur + table[i].off, table[i].size);
    if (config_check(next, err, errlen) != 0)
        goto out;
    for (size_t i = 0; i < NDIRECTIVES; i++) {
        const struct cfg_directive *d = &table[i];
        char *to = (char *)cur + d->off;
        const char *from = (const char *)next + d->off;
        if (d->secret || memcmp(to, from, d->size) == 0)
            continue;
        if (!config_runtime(d->name)) {
            add_name(refused, refusedlen, d->name);
            continue;
        }
        memcpy(to, from, d->size);
        add_name(changed, changedlen, d->name);
    }
    rc = 0;
out:
    explicit_bzero(next, sizeof *next);   /* it may hold redis-password */
    free(next);
    return rc;
}

int config_directive_info(size_t i, struct config_info *out, char *words, size_t wordslen)
{
    static const char *const type_names[] = {
        [CT_INT] = "integer", [CT_LONG] = "integer", [CT_STR] = "string", [CT_BOOL] = "yes|no",
        [CT_ENUM] = "",
    };
    const struct cfg_directive *d;

    if (i >= NDIRECTIVES)
        return -1;
    d = &table[i];
    memset(out, 0, sizeof *out);
    out->name = d->name;
    out->def = d->def;
    out->min = d->min;
    out->max = d->max;
    out->is_int = d->type == CT_INT || d->type == CT_LONG;
    out->secret = d->secret;
    out->runtime = config_runtime(d->name);
    out->type = type_names[d->type];
    if (d->type == CT_ENUM) {
        enum_words(d->names, words, wordslen);
        out->type = words;
    }
    return 0;
}
