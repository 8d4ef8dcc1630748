/* test_log: the text and JSON line formats, level filtering, escaping and
 * the one-write-per-line cap, with stderr captured through a pipe. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/log.h"

/* capture: a non-blocking pipe that stderr is pointed at only around each
 * logging call (CAPTURE), so cmocka's own failure messages still show. */
struct capture {
    int saved;      /* the real stderr */
    int rd, wr;     /* the pipe */
};

#define CAPTURE(state, stmt) do { \
        assert_int_equal(dup2(((struct capture *)*(state))->wr, STDERR_FILENO), STDERR_FILENO); \
        stmt; \
        dup2(((struct capture *)*(state))->saved, STDERR_FILENO); \
    } while (0)

static int cap_setup(void **state)
{
    struct capture *cap = malloc(sizeof *cap);
    int p[2];

    assert_non_null(cap);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    cap->saved = dup(STDERR_FILENO);
    assert_true(cap->saved >= 0);
    cap->rd = p[0];
    cap->wr = p[1];
    *state = cap;
    return 0;
}

static int cap_teardown(void **state)
{
    struct capture *cap = *state;

    dup2(cap->saved, STDERR_FILENO);
    close(cap->saved);
    close(cap->rd);
    close(cap->wr);
    free(cap);
    log_setup(LOG_INFO, LOG_TEXT, "spotwatch");
    return 0;
}

/* drain returns what was written to stderr since the last call (static buffer). */
static const char *drain(void **state)
{
    static char buf[65536];
    struct capture *cap = *state;
    size_t len = 0;
    ssize_t n;

    while (len < sizeof buf - 1 && (n = read(cap->rd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    return buf;
}

static void assert_matches(const char *s, const char *pattern)
{
    regex_t re;

    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    if (regexec(&re, s, 0, NULL, 0) != 0) {
        regfree(&re);
        fail_msg("'%s' does not match /%s/", s, pattern);
    }
    regfree(&re);
}

static void test_text_format(void **state)
{
    char pattern[200];

    log_setup(LOG_INFO, LOG_TEXT, "worker");
    CAPTURE(state, log_info("hello %d", 5));
    snprintf(pattern, sizeof pattern,
             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
             "worker\\[%ld\\] INFO hello 5\n$", (long)getpid());
    assert_matches(drain(state), pattern);

    CAPTURE(state, log_error("bad %s", "thing"));
    assert_matches(drain(state), "Z worker\\[[0-9]+\\] ERROR bad thing\n$");
    CAPTURE(state, log_warn("w"));
    assert_matches(drain(state), " WARN w\n$");
}

static void test_levels(void **state)
{
    log_setup(LOG_WARN, LOG_TEXT, "serve");
    assert_false(log_enabled(LOG_DEBUG));
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_WARN));
    assert_true(log_enabled(LOG_ERROR));
    CAPTURE(state, log_debug("no"));
    CAPTURE(state, log_info("no"));
    assert_string_equal(drain(state), "");
    CAPTURE(state, log_warn("yes"));
    assert_matches(drain(state), "serve\\[[0-9]+\\] WARN yes\n$");

    log_setup(LOG_DEBUG, LOG_TEXT, "serve");
    CAPTURE(state, log_debug("dbg"));
    assert_matches(drain(state), " DEBUG dbg\n$");
}

static void test_text_escapes_newlines(void **state)
{
    const char *out;

    log_setup(LOG_INFO, LOG_TEXT, "worker");
    CAPTURE(state, log_info("line1\nline2\r\x01" "end"));
    out = drain(state);
    assert_matches(out, " INFO line1\\\\nline2\\\\r\\\\x01end\n$");
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
}

static void test_json_format(void **state)
{
    cJSON *o;
    const char *out;
    char want_ts[8];

    log_setup(LOG_INFO, LOG_JSON, "worker");
    CAPTURE(state, log_warn("say \"hi\" \\ tab\there\nnext \x02 caf\xc3\xa9 bad\xff!"));
    out = drain(state);
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    o = cJSON_Parse(out);
    if (o == NULL)
        fail_msg("not JSON: %s", out);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "level")), "warn");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "component")), "worker");
    assert_int_equal((long)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "pid")), (long)getpid());
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "msg")),
                        "say \"hi\" \\ tab\there\nnext \x02 caf\xc3\xa9 bad\xef\xbf\xbd!");
    assert_matches(cJSON_GetStringValue(cJSON_GetObjectItem(o, "ts")),
                   "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$");
    snprintf(want_ts, sizeof want_ts, "{\"ts\":");
    assert_memory_equal(out, want_ts, strlen(want_ts));    /* field order as documented */
    cJSON_Delete(o);
}

static void test_long_message_is_one_capped_line(void **state)
{
    static char big[10000];
    const char *out;
    size_t len;
    cJSON *o;
    const char *msg;

    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';

    log_setup(LOG_INFO, LOG_TEXT, "worker");
    CAPTURE(state, log_info("%s", big));
    out = drain(state);
    len = strlen(out);
    assert_true(len <= PIPE_BUF);
    assert_true(len > PIPE_BUF / 2);
    assert_string_equal(out + len - 4, "...\n");
    assert_ptr_equal(strchr(out, '\n'), out + len - 1);

    /* Quotes double in JSON: the cut still leaves a whole, parseable object. */
    memset(big, '"', 3000);
    log_setup(LOG_INFO, LOG_JSON, "worker");
    CAPTURE(state, log_info("%s", big));
    out = drain(state);
    len = strlen(out);
    assert_true(len <= PIPE_BUF);
    o = cJSON_Parse(out);
    if (o == NULL)
        fail_msg("not JSON: %s", out);
    msg = cJSON_GetStringValue(cJSON_GetObjectItem(o, "msg"));
    assert_non_null(msg);
    assert_string_equal(msg + strlen(msg) - 3, "...");
    cJSON_Delete(o);
}

static void test_preserves_errno(void **state)
{
    log_setup(LOG_INFO, LOG_TEXT, "worker");
    errno = ENOENT;
    CAPTURE(state, log_info("x"));
    assert_int_equal(errno, ENOENT);
    (void)drain(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_text_format, cap_setup, cap_teardown),
        cmocka_unit_test_setup_teardown(test_levels, cap_setup, cap_teardown),
        cmocka_unit_test_setup_teardown(test_text_escapes_newlines, cap_setup, cap_teardown),
        cmocka_unit_test_setup_teardown(test_json_format, cap_setup, cap_teardown),
        cmocka_unit_test_setup_teardown(test_long_message_is_one_capped_line, cap_setup, cap_teardown),
        cmocka_unit_test_setup_teardown(test_preserves_errno, cap_setup, cap_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
