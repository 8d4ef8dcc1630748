/* test_config: the directive table, the conf-file and command-line parsers,
 * and the agreement between conf/spotwatch.conf and the built-in defaults.
 *
 * Run from the repository root (tests/run.py does); SW_CONF names the
 * shipped conf file when run from elsewhere. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"

static const char *conf_path(void)
{
    const char *p = getenv("SW_CONF");
    return p != NULL && *p != '\0' ? p : "conf/spotwatch.conf";
}

/* write_tmp writes text to a fresh temp file and puts its name in path. */
static void write_tmp(const char *text, char *path, size_t len)
{
    int fd;
    FILE *f;

    snprintf(path, len, "/tmp/sw_test_config.XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* write_tmp_bytes: write_tmp for text that may hold NUL bytes (n bytes). */
static void write_tmp_bytes(const char *text, size_t n, char *path, size_t len)
{
    int fd;

    snprintf(path, len, "/tmp/sw_test_config.XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    assert_int_equal(close(fd), 0);
}

/* load_text loads text as a conf file over c; returns config_load_file's result. */
static int load_text(struct sw_config *c, const char *text, char *err, size_t errlen, char *path,
                     size_t pathlen)
{
    int rc;

    write_tmp(text, path, pathlen);
    rc = config_load_file(c, path, err, errlen);
    unlink(path);
    return rc;
}

/* written returns config_write's output as a malloc'd string. */
static char *written(const struct sw_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    config_write(c, f);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* =============================== Defaults ================================= */

static void test_defaults(void **state)
{
    struct sw_config c;
    (void)state;

    config_defaults(&c);
    assert_string_equal(c.redis_host, "127.0.0.1");
    assert_int_equal(c.redis_port, 6379);
    assert_string_equal(c.redis_password, "");
    assert_string_equal(c.redis_password_file, "");
    assert_string_equal(c.key_prefix, "sw:");
    assert_string_equal(c.api_base, "https://api.spotify.com/v1");
    assert_int_equal(c.poll_interval_ms, 2000);
    assert_int_equal(c.lease_ms, 10000);
    assert_int_equal(c.max_body_bytes, 1048576);
    assert_int_equal(c.smart_polling, 1);
    assert_int_equal(c.retry_after_max_ms, 86400000);
    assert_int_equal(c.allow_plaintext_tokens, 0);
    assert_string_equal(c.public_url, "http://127.0.0.1:8080");
    assert_int_equal(c.log_level, LOG_INFO);
    assert_int_equal(c.log_format, LOG_TEXT);
    assert_int_equal(config_check(&c, NULL, 0), 0);
}

/* Loading the shipped file over the defaults changes nothing. */
static void test_shipped_conf_is_defaults(void **state)
{
    struct sw_config def, c;
    char err[512] = "";
    char *a, *b;
    (void)state;

    config_defaults(&def);
    config_defaults(&c);
    if (config_load_file(&c, conf_path(), err, sizeof err) != 0)
        fail_msg("%s", err);
    a = written(&def);
    b = written(&c);
    assert_string_equal(a, b);      /* readable diff first ... */
    assert_memory_equal(&def, &c, sizeof c);    /* ... then every byte */
    free(a);
    free(b);
}

/* Every directive appears in the shipped file: as its live line, or, when
 * its default is empty, commented out as "# name value". */
static void test_shipped_conf_documents_every_directive(void **state)
{
    struct sw_config def;
    char *out, *line = NULL;
    size_t cap = 0;
    FILE *f;
    size_t n;
    (void)state;

    config_defaults(&def);
    {
        char *w = written(&def);
        out = malloc(strlen(w) + 2);
        assert_non_null(out);
        out[0] = '\n';
        strcpy(out + 1, w);
        free(w);
    }
    for (n = 0; config_directive_name(n) != NULL; n++) {
        const char *name = config_directive_name(n);
        size_t nl = strlen(name);
        int live = 0, commented = 0;
        char key[160];
        int empty_default;

        /* out starts with "\n", so every directive's line is "\nname value\n". */
        snprintf(key, sizeof key, "\n%s \"\"\n", name);
        empty_default = strstr(out, key) != NULL;

        f = fopen(conf_path(), "r");
        assert_non_null(f);
        while (getline(&line, &cap, f) != -1) {
            if (strncmp(line, name, nl) == 0 && (line[nl] == ' ' || line[nl] == '\t'))
                live++;
            if (strncmp(line, "# ", 2) == 0 && strncmp(line + 2, name, nl) == 0 && line[2 + nl] == ' ')
                commented++;
        }
        fclose(f);
        if (live > 1)
            fail_msg("%s: %d live lines in %s", name, live, conf_path());
        if (live == 0 && !(empty_default && commented == 1))
            fail_msg("%s: no live line in %s (only empty defaults may be commented out)",
                     name, conf_path());
    }
    assert_true(n >= 35);
    free(line);
    free(out);
}

/* ============================= config_set ================================= */

static void test_set_ok(void **state)
{
    struct sw_config c;
    char err[256];
    (void)state;

    config_defaults(&c);
    assert_int_equal(config_set(&c, "lease-ms", "100", err, sizeof err), 0);
    assert_int_equal(c.lease_ms, 100);
    assert_int_equal(config_set(&c, "redis-port", "65535", err, sizeof err), 0);
    assert_int_equal(c.redis_port, 65535);
    assert_int_equal(config_set(&c, "smart-polling", "no", err, sizeof err), 0);
    assert_int_equal(c.smart_polling, 0);
    assert_int_equal(config_set(&c, "allow-plaintext-tokens", "YES", err, sizeof err), 0);
    assert_int_equal(c.allow_plaintext_tokens, 1);
    assert_int_equal(config_set(&c, "log-level", "debug", err, sizeof err), 0);
    assert_int_equal(c.log_level, LOG_DEBUG);
    assert_int_equal(config_set(&c, "log-level", "error", err, sizeof err), 0);
    assert_int_equal(c.log_level, LOG_ERROR);
    assert_int_equal(config_set(&c, "log-format", "json", err, sizeof err), 0);
    assert_int_equal(c.log_format, LOG_JSON);
    assert_int_equal(config_set(&c, "key-prefix", "x:", err, sizeof err), 0);
    assert_string_equal(c.key_prefix, "x:");
    assert_int_equal(config_set(&c, "ca-file", "/etc/ca.pem", err, sizeof err), 0);
    assert_string_equal(c.ca_file, "/etc/ca.pem");
    assert_int_equal(config_set(&c, "app-budget-30s", "0", err, sizeof err), 0);
    assert_int_equal(c.app_budget_30s, 0);
}

static void test_set_unknown(void **state)
{
    struct sw_config c;
    char err[256];
    (void)state;

    config_defaults(&c);
    assert_int_equal(config_set(&c, "poll-interval", "5", err, sizeof err), -1);
    assert_string_equal(err, "unknown directive 'poll-interval'");
    assert_int_equal(config_set(&c, "poll_interval_ms", "5", err, sizeof err), -1);
    assert_string_equal(err, "unknown directive 'poll_interval_ms'");
}

static void test_set_wrong_type(void **state)
{
    struct sw_config c, before;
    char err[256];
    static const char *bad[] = { "abc", "", "12x", "1.5", " 12", "0x10", "1e3" };
    (void)state;

    config_defaults(&c);
    before = c;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(config_set(&c, "poll-interval-ms", bad[i], err, sizeof err), -1);
        assert_contains(err, "poll-interval-ms: must be an integer between 10 and 3600000");
    }
    assert_int_equal(config_set(&c, "claim-batch", "many", err, sizeof err), -1);
    assert_contains(err, "claim-batch: must be an integer between 1 and ");
    /* A failed set leaves the config unchanged. */
    assert_memory_equal(&before, &c, sizeof c);
}

static void test_set_out_of_range(void **state)
{
    struct sw_config c, before;
    char err[256];
    (void)state;

    config_defaults(&c);
    before = c;
    assert_int_equal(config_set(&c, "lease-ms", "99", err, sizeof err), -1);
    assert_contains(err, "lease-ms: must be an integer between 100 and 3600000 (got '99')");
    assert_int_equal(config_set(&c, "redis-port", "0", err, sizeof err), -1);
    assert_contains(err, "redis-port: must be an integer between 1 and 65535");
    assert_int_equal(config_set(&c, "redis-port", "65536", err, sizeof err), -1);
    assert_int_equal(config_set(&c, "redis-db", "-1", err, sizeof err), -1);
    /* Beyond long: strtol's ERANGE must not clamp silently into range. */
    assert_int_equal(config_set(&c, "events-maxlen", "99999999999999999999999", err, sizeof err), -1);
    assert_contains(err, "events-maxlen: must be an integer between");
    assert_int_equal(config_set(&c, "app-budget-30s", "-5", err, sizeof err), -1);
    assert_memory_equal(&before, &c, sizeof c);
}

static void test_set_bad_bool_and_enum(void **state)
{
    struct sw_config c;
    char err[256];
    (void)state;

    config_defaults(&c);
    assert_int_equal(config_set(&c, "smart-polling", "true", err, sizeof err), -1);
    assert_string_equal(err, "smart-polling: must be yes or no (got 'true')");
    assert_int_equal(config_set(&c, "smart-polling", "1", err, sizeof err), -1);
    assert_int_equal(config_set(&c, "smart-polling", "", err, sizeof err), -1);
    assert_int_equal(config_set(&c, "log-level", "loud", err, sizeof err), -1);
    assert_string_equal(err, "log-level: must be one of debug|info|warn|error (got 'loud')");
    assert_int_equal(config_set(&c, "log-format", "xml", err, sizeof err), -1);
    assert_string_equal(err, "log-format: must be one of text|json (got 'xml')");
    assert_int_equal(c.smart_polling, 1);
    assert_int_equal(c.log_level, LOG_INFO);
}

static void test_set_string_too_long(void **state)
{
    struct sw_config c;
    char err[256], v[700];
    (void)state;

    config_defaults(&c);
    memset(v, 'p', 63);
    v[63] = '\0';
    assert_int_equal(config_set(&c, "key-prefix", v, err, sizeof err), 0);
    v[63] = 'p';
    v[64] = '\0';
    assert_int_equal(config_set(&c, "key-prefix", v, err, sizeof err), -1);
    assert_contains(err, "key-prefix: value too long (64 bytes, at most 63)");

    /* A secret is never echoed, even in an error. */
    memset(v, 's', sizeof v - 1);
    v[sizeof v - 1] = '\0';
    assert_int_equal(config_set(&c, "redis-password", v, err, sizeof err), -1);
    assert_contains(err, "redis-password: value too long");
    assert_null(strstr(err, "sss"));
}

static void test_write_hides_secret(void **state)
{
    struct sw_config c;
    char err[256], *out;
    (void)state;

    config_defaults(&c);
    out = written(&c);
    assert_contains(out, "redis-password \"\"\n");
    free(out);
    assert_int_equal(config_set(&c, "redis-password", "hunter2", err, sizeof err), 0);
    assert_string_equal(c.redis_password, "hunter2");
    out = written(&c);
    assert_contains(out, "redis-password (set)\n");
    assert_null(strstr(out, "hunter2"));
    free(out);
}

/* ============================ config_load_file ============================ */

static void test_file_ok_and_quoting(void **state)
{
    struct sw_config c;
    char err[256] = "", path[64];
    (void)state;

    config_defaults(&c);
    if (load_text(&c,
                  "# a comment\n"
                  "\n"
                  "   # an indented comment\n"
                  "lease-ms 20000\n"
                  "\tpoll-interval-ms   3000   \r\n"
                  "lease-ms 25000\n"                /* the last one wins */
                  "redis-host \"my host\"\n"
                  "ca-file \"a\\\"b\\\\c\"\n"       /* "a\"b\\c" -> a"b\c */
                  "api-base \"\"\n"
                  "redis-password \"has # and spaces\"\n"
                  "LOG-LEVEL warn\n"                /* names ignore case */
                  "public-url http://x:1/#frag",     /* no final newline */
                  err, sizeof err, path, sizeof path) != 0)
        fail_msg("%s", err);
    assert_int_equal(c.lease_ms, 25000);
    assert_int_equal(c.poll_interval_ms, 3000);
    assert_string_equal(c.redis_host, "my host");
    assert_string_equal(c.ca_file, "a\"b\\c");
    assert_string_equal(c.api_base, "");
    assert_string_equal(c.redis_password, "has # and spaces");
    assert_int_equal(c.log_level, LOG_WARN);
    assert_string_equal(c.public_url, "http://x:1/#frag");
}

static void test_file_errors(void **state)
{
    static const struct {
        const char *text;
        const char *want;   /* after "path:" */
    } cases[] = {
        { "lease-ms 20000\nbogus 1\n", "2: unknown directive 'bogus'" },
        { "# c\n\nlease-ms ten\n", "3: lease-ms: must be an integer between 100 and 3600000 (got 'ten')" },
        { "lease-ms 50\n", "1: lease-ms: must be an integer between 100 and 3600000 (got '50')" },
        { "smart-polling maybe\n", "1: smart-polling: must be yes or no (got 'maybe')" },
        { "log-format yaml\n", "1: log-format: must be one of text|json (got 'yaml')" },
        { "lease-ms\n", "1: lease-ms: missing value" },
        { "redis-host \"unterminated\n", "1: redis-host: unterminated quoted value" },
        { "redis-host \"a\" b\n", "1: redis-host: unexpected text after the quoted value" },
        { "redis-host two words\n", "1: redis-host: expected one value" },
        { "nosuch\n", "1: unknown directive 'nosuch'" },
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sw_config c;
        char err[512], path[64], want[600];

        config_defaults(&c);
        assert_int_equal(load_text(&c, cases[i].text, err, sizeof err, path, sizeof path), -1);
        snprintf(want, sizeof want, "%s:%s", path, cases[i].want);
        if (strncmp(err, want, strlen(want)) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, err, want);
    }
}

/* A file is read at most 1 MiB far: bigger ones (and devices that never
 * end) are refused at once, naming the file. */
static void test_file_too_large(void **state)
{
    struct sw_config c;
    char err[512], path[64];
    size_t n = 1024 * 1024 + 1;
    char *big = malloc(n);
    (void)state;

    assert_non_null(big);
    memset(big, '#', n);           /* all one comment line */
    big[n - 1] = '\n';
    write_tmp_bytes(big, n, path, sizeof path);
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), -1);
    unlink(path);
    assert_contains(err, path);
    assert_contains(err, "larger than 1048576 bytes");
    /* Exactly at the cap is still a conf file. */
    write_tmp_bytes(big + 1, n - 1, path, sizeof path);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), 0);
    unlink(path);
    free(big);

    assert_int_equal(config_load_file(&c, "/dev/zero", err, sizeof err), -1);
    assert_contains(err, "/dev/zero: larger than");
}

/* A NUL byte would end a value early without a word: the line is refused. */
static void test_file_nul_byte(void **state)
{
    static const char text[] = "lease-ms 20000\nredis-host ab\0cd\n";
    struct sw_config c;
    char err[512], path[64], want[128];
    (void)state;

    write_tmp_bytes(text, sizeof text - 1, path, sizeof path);
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, path, err, sizeof err), -1);
    unlink(path);
    snprintf(want, sizeof want, "%s:2: a NUL byte in the line", path);
    assert_contains(err, want);
    assert_string_equal(c.redis_host, "127.0.0.1");
}

/* key-prefix: no hash-tag, glob or control characters. */
static void test_key_prefix_rule(void **state)
{
    static const char *bad[] = { "{x}", "a{", "}", "sw*", "p?", "a[b", "]", "a\\b", "a\nb", "\x1b[" };
    static const char *good[] = { "sw:", "", "tenant-1:", "a.b_c@d+e=f/g:" };
    struct sw_config c;
    char err[512];
    (void)state;

    config_defaults(&c);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (config_set(&c, "key-prefix", bad[i], err, sizeof err) != -1)
            fail_msg("key-prefix '%s' accepted", bad[i]);
        assert_contains(err, "key-prefix: must not contain '{', '}', '*', '?', '[', ']'");
        assert_string_equal(c.key_prefix, "sw:");
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (config_set(&c, "key-prefix", good[i], err, sizeof err) != 0)
            fail_msg("key-prefix '%s' refused: %s", good[i], err);
        assert_string_equal(c.key_prefix, good[i]);
    }
    /* From a file: the line is named. */
    {
        char path[64], want[128];
        config_defaults(&c);
        assert_int_equal(load_text(&c, "# x\nkey-prefix \"{x}\"\n", err, sizeof err, path, sizeof path), -1);
        snprintf(want, sizeof want, "%s:2: key-prefix: must not contain", path);
        assert_contains(err, want);
        assert_contains(err, "(got '{x}')");
    }
}

static void test_file_missing(void **state)
{
    struct sw_config c;
    char err[256];
    (void)state;

    config_defaults(&c);
    assert_int_equal(config_load_file(&c, "/nonexistent/spotwatch.conf", err, sizeof err), -1);
    assert_contains(err, "/nonexistent/spotwatch.conf");
    assert_contains(err, "No such file or directory");
}

static void test_write_roundtrip(void **state)
{
    struct sw_config a, b;
    char err[256] = "", path[64], *text;
    (void)state;

    config_defaults(&a);
    assert_int_equal(config_set(&a, "redis-host", "we\"ird \\ host#", err, sizeof err), 0);
    assert_int_equal(config_set(&a, "ca-file", "\"leading-quote", err, sizeof err), 0);
    assert_int_equal(config_set(&a, "lease-ms", "12345", err, sizeof err), 0);
    assert_int_equal(config_set(&a, "smart-polling", "no", err, sizeof err), 0);
    assert_int_equal(config_set(&a, "log-format", "json", err, sizeof err), 0);
    text = written(&a);
    config_defaults(&b);
    if (load_text(&b, text, err, sizeof err, path, sizeof path) != 0)
        fail_msg("%s\n%s", err, text);
    free(text);
    assert_memory_equal(&a, &b, sizeof a);
}

/* =========================== config_parse_args ============================ */

static void test_args_precedence(void **state)
{
    struct sw_config c;
    char err[512] = "", path[64], cfgopt[80];
    int argi = 1;
    (void)state;

    write_tmp("lease-ms 20000\nlog-level warn\npoll-interval-ms 3000\n", path, sizeof path);
    snprintf(cfgopt, sizeof cfgopt, "--config=%s", path);
    {
        /* The file applies first even though --config comes after an override. */
        char *argv[] = { "spotwatch", "--lease-ms", "30000", "--config", path,
                         "--poll-interval-ms", "4000", "--poll-interval-ms", "5000",
                         "worker", "--lease-ms", "1", NULL };
        config_defaults(&c);
        if (config_parse_args(&c, 12, argv, &argi, err, sizeof err) != 0)
            fail_msg("%s", err);
        assert_int_equal(argi, 9);
        assert_string_equal(argv[argi], "worker");
        assert_int_equal(c.lease_ms, 30000);          /* arg beats file */
        assert_int_equal(c.log_level, LOG_WARN);      /* file beats default */
        assert_int_equal(c.poll_interval_ms, 5000);   /* later arg beats earlier */
        assert_int_equal(c.redis_port, 6379);         /* default stays */
    }
    {
        char *argv[] = { "spotwatch", cfgopt, "--redis-host=h", "--", "--not-an-option", NULL };
        argi = 1;
        config_defaults(&c);
        if (config_parse_args(&c, 5, argv, &argi, err, sizeof err) != 0)
            fail_msg("%s", err);
        assert_int_equal(argi, 4);                    /* "--" consumed */
        assert_int_equal(c.lease_ms, 20000);
        assert_string_equal(c.redis_host, "h");
    }
    {
        char *argv[] = { "spotwatch", NULL };
        argi = 1;
        config_defaults(&c);
        assert_int_equal(config_parse_args(&c, 1, argv, &argi, err, sizeof err), 0);
        assert_int_equal(argi, 1);
    }
    unlink(path);
}

static void test_args_errors(void **state)
{
    static const struct {
        int argc;
        const char *argv[6];
        const char *want;
    } cases[] = {
        { 2, { "sw", "--lease-ms" }, "--lease-ms: missing value" },
        { 4, { "sw", "--lease-ms", "--log-level", "debug" }, "--lease-ms: missing value" },
        { 2, { "sw", "--config" }, "--config: missing value" },
        { 3, { "sw", "--bogus", "1" }, "unknown directive 'bogus'" },
        { 3, { "sw", "--lease-ms", "soon" }, "lease-ms: must be an integer between 100 and 3600000" },
        { 3, { "sw", "--lease-ms", "5" }, "lease-ms: must be an integer between 100 and 3600000" },
        { 3, { "sw", "--smart-polling", "worker" }, "smart-polling: must be yes or no" },
        { 3, { "sw", "--log-format", "xml" }, "log-format: must be one of text|json" },
        { 3, { "sw", "--config", "/nonexistent/x.conf" }, "/nonexistent/x.conf: cannot open" },
        { 5, { "sw", "--config", "a", "--config", "b" }, "--config: given more than once" },
        { 3, { "sw", "--paused-max-ms", "100" }, "paused-max-ms (100) must not be below paused-interval-ms (15000)" },
        { 3, { "sw", "--backoff-max-ms", "10" }, "backoff-max-ms (10) must not be below backoff-base-ms" },
        { 2, { "sw", "--=x" }, "bad option" },
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sw_config c;
        char err[512] = "";
        int argi = 1;

        config_defaults(&c);
        assert_int_equal(config_parse_args(&c, cases[i].argc, (char **)cases[i].argv, &argi,
                                           err, sizeof err), -1);
        if (strstr(err, cases[i].want) == NULL)
            fail_msg("case %zu: got '%s', want '%s'", i, err, cases[i].want);
    }
}

static void test_args_file_error_names_line(void **state)
{
    struct sw_config c;
    char err[512] = "", path[64], want[128];
    int argi = 1;
    (void)state;

    write_tmp("lease-ms 20000\n\nmax-inflight 0\n", path, sizeof path);
    {
        char *argv[] = { "sw", "--config", path, "worker", NULL };
        config_defaults(&c);
        assert_int_equal(config_parse_args(&c, 4, argv, &argi, err, sizeof err), -1);
    }
    unlink(path);
    snprintf(want, sizeof want, "%s:3: max-inflight: must be an integer between 1 and", path);
    assert_contains(err, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_shipped_conf_is_defaults),
        cmocka_unit_test(test_shipped_conf_documents_every_directive),
        cmocka_unit_test(test_set_ok),
        cmocka_unit_test(test_set_unknown),
        cmocka_unit_test(test_set_wrong_type),
        cmocka_unit_test(test_set_out_of_range),
        cmocka_unit_test(test_set_bad_bool_and_enum),
        cmocka_unit_test(test_set_string_too_long),
        cmocka_unit_test(test_write_hides_secret),
        cmocka_unit_test(test_file_ok_and_quoting),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_file_too_large),
        cmocka_unit_test(test_file_nul_byte),
        cmocka_unit_test(test_key_prefix_rule),
        cmocka_unit_test(test_file_missing),
        cmocka_unit_test(test_write_roundtrip),
        cmocka_unit_test(test_args_precedence),
        cmocka_unit_test(test_args_errors),
        cmocka_unit_test(test_args_file_error_names_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
