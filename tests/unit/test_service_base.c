/* test_service_base: what running as a service rests on: the config search
 * ($SPOTWATCH_CONF) and SIGHUP's config_reload, log records with fields,
 * the sd_notify datagram (path and abstract socket), /proc's process stats
 * and the exporter series of metrics_process_add. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/config.h"
#include "base/log.h"
#include "base/proc_stats.h"
#include "base/sdnotify.h"
#include "http/metrics.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* tmp_path: a fresh name under /tmp (the file is created, then removed). */
static void tmp_path(char *path, size_t n)
{
    snprintf(path, n, "/tmp/sw_test_service.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
}

/* ============================== config ===================================== */

static void test_runtime_names_are_directives(void **state)
{
    struct config_info ci;
    char words[256];
    int runtime = 0;
    (void)state;
    for (size_t i = 0; config_directive_info(i, &ci, words, sizeof words) == 0; i++)
        runtime += ci.runtime;
    /* Every name in the list is a row (else it would not be counted). */
    assert_int_equal(runtime, 22);
    assert_true(config_runtime("log-level"));
    assert_true(config_runtime("app-budget-30s"));
    assert_false(config_runtime("redis-host"));
    assert_false(config_runtime("metrics-listen"));
    assert_false(config_runtime("no-such-directive"));
}

static void test_env_names_the_file(void **state)
{
    char path[64], err[256];
    struct sw_config c;
    char *argv[] = {"spotwatch", "worker", NULL};
    int argi = 1;
    (void)state;

    tmp_path(path, sizeof path);
    write_file(path, "poll-interval-ms 1234\n");
    setenv(CONFIG_ENV, path, 1);
    config_defaults(&c);
    assert_int_equal(config_parse_args(&c, 2, argv, &argi, err, sizeof err), 0);
    assert_int_equal(c.poll_interval_ms, 1234);
    assert_string_equal(c.source, path);

    /* --config wins over the environment. */
    char *argv2[] = {"spotwatch", "--config", "/dev/null", "worker", NULL};
    argi = 1;
    config_defaults(&c);
    assert_int_equal(config_parse_args(&c, 4, argv2, &argi, err, sizeof err), 0);
    assert_int_equal(c.poll_interval_ms, 2000);

    /* A named file that is missing is an error, not the defaults. */
    unlink(path);
    argi = 1;
    config_defaults(&c);
    assert_int_equal(config_parse_args(&c, 2, argv, &argi, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    unsetenv(CONFIG_ENV);
    assert_non_null(strstr(config_default_path(), "/spotwatch.conf"));
}

static void test_reload_applies_runtime_keeps_the_rest(void **state)
{
    char path[64], err[256], changed[512], refused[512];
    struct sw_config c;
    char *argv[] = {"spotwatch", "--config", path, "--claim-batch", "7", "worker", NULL};
    int argi = 1;
    (void)state;

    tmp_path(path, sizeof path);
    write_file(path, "log-level info\npoll-interval-ms 500\nredis-port 7000\nclaim-batch 9\n");
    config_defaults(&c);
    assert_int_equal(config_parse_args(&c, 6, argv, &argi, err, sizeof err), 0);
    assert_int_equal(c.claim_batch, 7);

    /* Nothing changed: nothing reported. */
    assert_int_equal(config_reload(&c, changed, sizeof changed, refused, sizeof refused, err, sizeof err), 0);
    assert_string_equal(changed, "");
    assert_string_equal(refused, "");

    write_file(path, "log-level debug\npoll-interval-ms 800\nredis-port 7001\nclaim-batch 11\n");
    assert_int_equal(config_reload(&c, changed, sizeof changed, refused, sizeof refused, err, sizeof err), 0);
    assert_int_equal(c.log_level, LOG_DEBUG);
    assert_int_equal(c.poll_interval_ms, 800);
    assert_int_equal(c.redis_port, 7000);          /* read at start only */
    assert_int_equal(c.claim_batch, 7);            /* the command line still wins */
    assert_string_equal(changed, "poll-interval-ms log-level");
    assert_string_equal(refused, "redis-port");

    /* A broken file changes nothing. */
    write_file(path, "log-level loud\n");
    assert_int_equal(config_reload(&c, changed, sizeof changed, refused, sizeof refused, err, sizeof err), -1);
    assert_non_null(strstr(err, "log-level"));
    assert_int_equal(c.log_level, LOG_DEBUG);
    /* A file that breaks a rule between directives changes nothing either. */
    write_file(path, "backoff-base-ms 5000\nbackoff-max-ms 1000\n");
    assert_int_equal(config_reload(&c, changed, sizeof changed, refused, sizeof refused, err, sizeof err), -1);
    assert_int_equal(c.backoff_base_ms, 1000);
    unlink(path);
}

/* ================================ log ====================================== */

/* logged runs one logging call with stderr on a pipe; returns the line (static). */
static const char *logged(enum log_format fmt, const struct log_fields *f, const char *msg)
{
    static char buf[8192];
    int p[2], saved = dup(STDERR_FILENO);
    ssize_t n;

    assert_int_equal(pipe(p), 0);
    dup2(p[1], STDERR_FILENO);
    log_reconfigure(LOG_DEBUG, fmt);
    log_write_fields(LOG_DEBUG, f, "%s", msg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(p[1]);
    n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    return buf;
}

static void test_log_fields(void **state)
{
    struct log_fields f = {"app1", "u\"1", "ok", 200, 12.25};
    struct log_fields some = {NULL, "u2", NULL, -1, -1};
    (void)state;

    log_setup(LOG_DEBUG, LOG_JSON, "worker");
    log_set_worker("host:1:ab");
    cJSON *o = cJSON_Parse(logged(LOG_JSON, &f, "poll"));
    assert_non_null(o);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "msg")), "poll");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "app")), "app1");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "user")), "u\"1");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "outcome")), "ok");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "worker")), "host:1:ab");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "status")));
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "status")), 200);
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "latency_ms")) > 12.1);
    cJSON_Delete(o);

    /* Absent fields are left out; records without fields still parse. */
    o = cJSON_Parse(logged(LOG_JSON, &some, "x"));
    assert_non_null(o);
    assert_null(cJSON_GetObjectItem(o, "app"));
    assert_null(cJSON_GetObjectItem(o, "status"));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "user")), "u2");
    cJSON_Delete(o);
    o = cJSON_Parse(logged(LOG_JSON, NULL, "plain"));
    assert_non_null(o);
    cJSON_Delete(o);

    /* Text: after the message, escaped like it. */
    struct log_fields evil = {"a\nb", NULL, NULL, 0, -1};
    const char *t = logged(LOG_TEXT, &evil, "poll");
    assert_non_null(strstr(t, " DEBUG poll worker=host:1:ab app=a\\nb status=0\n"));

    /* A message at the cap still leaves the fields whole and the JSON valid. */
    static char big[6000];
    memset(big, '"', sizeof big - 1);
    o = cJSON_Parse(logged(LOG_JSON, &f, big));
    assert_non_null(o);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "outcome")), "ok");
    cJSON_Delete(o);

    /* log_reconfigure changes the level of a running process. */
    log_reconfigure(LOG_WARN, LOG_TEXT);
    assert_false(log_enabled(LOG_INFO));
    log_reconfigure(LOG_DEBUG, LOG_TEXT);
    assert_true(log_enabled(LOG_DEBUG));
    log_set_worker(NULL);
    log_setup(LOG_INFO, LOG_TEXT, "spotwatch");
}

/* ============================== sdnotify ==================================== */

static void notify_roundtrip(int abstract)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char env[108], got[256];
    socklen_t len;
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

    assert_true(fd >= 0);
    if (abstract) {
        snprintf(env, sizeof env, "@sw-unit-%ld-%ld", (long)getpid(), (long)time(NULL));
        memcpy(sa.sun_path, env, strlen(env));
        sa.sun_path[0] = '\0';
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(env));
    } else {
        tmp_path(env, sizeof env);
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", env);
        len = sizeof sa;
    }
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
    setenv("NOTIFY_SOCKET", env, 1);
    assert_int_equal(sdnotify_status("READY=1", "up\nEVIL=1"), 1);
    ssize_t n = recv(fd, got, sizeof got - 1, MSG_DONTWAIT);
    assert_true(n > 0);
    got[n] = '\0';
    /* A newline in the status cannot make a second assignment. */
    assert_string_equal(got, "READY=1\nSTATUS=up EVIL=1");
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(sdnotify_send("READY=1"), 0);   /* not under systemd: nothing */
    close(fd);
    if (!abstract)
        unlink(env);
}

static void test_sdnotify(void **state)
{
    (void)state;
    notify_roundtrip(0);
    notify_roundtrip(1);
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_equal(sdnotify_send("READY=1"), -1);
    unsetenv("NOTIFY_SOCKET");
}

/* ======================== process stats, metrics ============================ */

static void test_proc_stats_and_exporter_series(void **state)
{
    struct proc_stats st;
    char *text;
    size_t len;
    (void)state;

    int extra = open("/dev/null", O_RDONLY);
    assert_int_equal(proc_stats_read(&st), 0);
    assert_true(st.resident_bytes > 0);
    assert_true(st.virtual_bytes >= st.resident_bytes);
    assert_true(st.open_fds >= 4);          /* stdin, stdout, stderr, extra */
    assert_true(st.max_fds >= st.open_fds);
    assert_true(st.start_time_seconds > 1.7e9 && st.start_time_seconds <= (double)time(NULL) + 1);
    struct proc_stats st2;
    close(extra);
    assert_int_equal(proc_stats_read(&st2), 0);
    assert_true(st2.open_fds == st.open_fds - 1);
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
    /* malloc's figures follow an allocation held and given back (ASan's
     * allocator is not glibc's: its mallinfo2 says nothing). */
    assert_true(st2.heap_in_use_bytes > 0);
    assert_true(st2.heap_arena_bytes >= st2.heap_in_use_bytes);
    {
        char *big = malloc(64 * 1024);
        struct proc_stats st3;

        assert_non_null(big);
        memset(big, 1, 64 * 1024);
        assert_int_equal(proc_stats_read(&st3), 0);
        assert_true(st3.heap_in_use_bytes >= st2.heap_in_use_bytes + 64 * 1024);
        free(big);
        assert_int_equal(proc_stats_read(&st3), 0);
        assert_true(st3.heap_in_use_bytes < st2.heap_in_use_bytes + 64 * 1024);
    }
#endif

    struct metrics *m = metrics_new();
    assert_int_equal(metrics_process_add(m, "9.9.9", "worker"), 0);
    assert_int_equal(metrics_process_add(m, "9.9.9", "worker"), -1);   /* twice: duplicate names */
    assert_int_equal(metrics_render(m, &text, &len), 0);
    assert_non_null(strstr(text, "spotwatch_build_info{version=\"9.9.9\",component=\"worker\"} 1\n"));
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(text, "\nprocess_resident_memory_bytes "));
    assert_non_null(strstr(text, "\nprocess_open_fds "));
    assert_non_null(strstr(text, "\nprocess_max_fds "));
    assert_non_null(strstr(text, "\nprocess_start_time_seconds "));
    assert_non_null(strstr(text, "# TYPE spotwatch_heap_in_use_bytes gauge\n"));
    assert_non_null(strstr(text, "\nspotwatch_heap_arena_bytes "));
    assert_null(strstr(text, "\nprocess_resident_memory_bytes 0\n"));
    free(text);

    /* metrics_touchv: a series at zero, of any type, without changing it. */
    static const double b[] = {1, 2};
    struct metric_family *h = metrics_histogram(m, "x_seconds", "x", "endpoint", b, 2);
    const char *v[] = {"token"};
    metrics_touchv(h, v);
    metrics_observev(h, v, 1.5);
    metrics_touchv(h, v);
    assert_true(metrics_value(h, "token") == 1);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runtime_names_are_directives),
        cmocka_unit_test(test_env_names_the_file),
        cmocka_unit_test(test_reload_applies_runtime_keeps_the_rest),
        cmocka_unit_test(test_log_fields),
        cmocka_unit_test(test_sdnotify),
        cmocka_unit_test(test_proc_stats_and_exporter_series),
    };
    unsetenv(CONFIG_ENV);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
