/* test_metrics: the registry, the exposition text, and the publish-only
 * HTTP endpoint (fetched with libcurl from this process). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "http/metrics.h"

static char *render(struct metrics *m)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(metrics_render(m, &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("missing:\n%s\nin:\n%s", needle, hay);
}

static void test_counter_and_gauge(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metric_family *polls = metrics_counter(m, "spotwatch_polls_total", "Polls, by outcome.", "outcome");
    struct metric_family *infl = metrics_gauge(m, "spotwatch_inflight_requests", "In flight.", NULL);
    assert_non_null(polls);
    assert_non_null(infl);

    /* A labelled family with no series is left out; an unlabelled one shows 0. */
    char *t = render(m);
    assert_null(strstr(t, "spotwatch_polls_total"));
    assert_contains(t, "# HELP spotwatch_inflight_requests In flight.\n"
                       "# TYPE spotwatch_inflight_requests gauge\n"
                       "spotwatch_inflight_requests 0\n");
    free(t);

    metrics_inc(polls, "ok", 1);
    metrics_inc(polls, "ok", 2);
    metrics_inc(polls, "error", 0);
    metrics_inc(polls, "ok", -5);          /* counters never go down */
    metrics_inc(polls, NULL, 1);           /* a labelled family needs its value */
    metrics_set(infl, NULL, 7);
    metrics_inc(infl, NULL, -2);
    assert_true(metrics_value(polls, "ok") == 3);
    assert_true(metrics_value(polls, "error") == 0);
    assert_true(metrics_value(infl, NULL) == 5);
    t = render(m);
    assert_contains(t, "# HELP spotwatch_polls_total Polls, by outcome.\n"
                       "# TYPE spotwatch_polls_total counter\n"
                       "spotwatch_polls_total{outcome=\"ok\"} 3\n"
                       "spotwatch_polls_total{outcome=\"error\"} 0\n");
    assert_contains(t, "spotwatch_inflight_requests 5\n");
    /* Families render in the order they were added. */
    assert_true(strstr(t, "spotwatch_polls_total") < strstr(t, "spotwatch_inflight_requests"));
    free(t);
    metrics_free(m);
}

static void test_labels_escaped_and_multi(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metric_family *f = metrics_counter(m, "x_total", "Help with \\ and\nnewline \"q\".", "a,b");
    assert_non_null(f);
    const char *v1[] = {"q\"uote", "back\\slash\nnl"};
    const char *v2[] = {"ab", "c"};
    const char *v3[] = {"a", "bc"};
    metrics_incv(f, v1, 1);
    metrics_incv(f, v2, 1);
    metrics_incv(f, v3, 2);
    metrics_inc(f, "one", 1);   /* two labels: the single-value form does nothing */
    char *t = render(m);
    assert_contains(t, "# HELP x_total Help with \\\\ and\\nnewline \"q\".\n");
    assert_contains(t, "x_total{a=\"q\\\"uote\",b=\"back\\\\slash\\nnl\"} 1\n");
    assert_contains(t, "x_total{a=\"ab\",b=\"c\"} 1\n");
    assert_contains(t, "x_total{a=\"a\",b=\"bc\"} 2\n");
    assert_null(strstr(t, "one"));
    free(t);
    metrics_free(m);
}

static void test_histogram(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    const double b[] = {0.1, 0.5, 1};
    struct metric_family *h = metrics_histogram(m, "lat_seconds", "Latency.", "app", b, 3);
    assert_non_null(h);
    metrics_observe(h, "a", 0.05);
    metrics_observe(h, "a", 0.1);    /* le is inclusive */
    metrics_observe(h, "a", 0.7);
    metrics_observe(h, "a", 3);
    metrics_observe(h, "a", NAN);    /* ignored */
    assert_true(metrics_value(h, "a") == 4);
    char *t = render(m);
    assert_contains(t, "# TYPE lat_seconds histogram\n"
                       "lat_seconds_bucket{app=\"a\",le=\"0.1\"} 2\n"
                       "lat_seconds_bucket{app=\"a\",le=\"0.5\"} 2\n"
                       "lat_seconds_bucket{app=\"a\",le=\"1\"} 3\n"
                       "lat_seconds_bucket{app=\"a\",le=\"+Inf\"} 4\n"
                       "lat_seconds_sum{app=\"a\"} 3.85\n"
                       "lat_seconds_count{app=\"a\"} 4\n");
    free(t);

    size_t n;
    const double *lb = metrics_latency_buckets(&n);
    struct metric_family *u = metrics_histogram(m, "claim_seconds", "Claims.", NULL, lb, n);
    assert_non_null(u);
    t = render(m);
    assert_contains(t, "claim_seconds_bucket{le=\"0.005\"} 0\n");
    assert_contains(t, "claim_seconds_bucket{le=\"+Inf\"} 0\nclaim_seconds_sum 0\nclaim_seconds_count 0\n");
    free(t);
    metrics_free(m);
}

static void test_bad_definitions(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    const double up[] = {1, 2}, down[] = {2, 1}, inf[] = {1, INFINITY};
    assert_null(metrics_counter(m, "9starts_with_digit", "", NULL));
    assert_null(metrics_counter(m, "has space", "", NULL));
    assert_null(metrics_counter(m, "ok_total", "", "bad-label"));
    assert_null(metrics_counter(m, "ok_total", "", "__reserved"));
    assert_null(metrics_counter(m, "ok_total", "", "a,a"));
    assert_null(metrics_counter(m, "ok_total", "", "a,,b"));
    assert_null(metrics_counter(m, "ok_total", "", "a,b,c,d,e"));
    assert_null(metrics_histogram(m, "h", "", "le", up, 2));
    assert_null(metrics_histogram(m, "h", "", NULL, down, 2));
    assert_null(metrics_histogram(m, "h", "", NULL, inf, 2));
    assert_null(metrics_histogram(m, "h", "", NULL, NULL, 0));
    assert_non_null(metrics_counter(m, "ok_total", "", "a"));
    assert_null(metrics_gauge(m, "ok_total", "", NULL));   /* duplicate name */
    assert_non_null(metrics_histogram(m, "h", "", NULL, up, 2));
    /* Calls on NULL families are harmless. */
    metrics_inc(NULL, "x", 1);
    metrics_set(NULL, NULL, 1);
    metrics_observe(NULL, NULL, 1);
    assert_true(metrics_value(NULL, NULL) == 0);
    metrics_free(m);
    metrics_free(NULL);
}

static void test_series_cap(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metric_family *f = metrics_gauge(m, "g", "", "k");
    char v[32];
    for (int i = 0; i < METRICS_MAX_SERIES + 5; i++) {
        snprintf(v, sizeof v, "v%d", i);
        metrics_set(f, v, i);
    }
    assert_int_equal(metrics_dropped(m), 5);
    assert_true(metrics_value(f, "v0") == 0);
    assert_true(metrics_value(f, "v9999") == 9999);
    metrics_set(f, "v1", 42);     /* existing series still update */
    assert_true(metrics_value(f, "v1") == 42);
    metrics_free(m);
}

static void test_number_format(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metric_family *g = metrics_gauge(m, "g", "", "k");
    metrics_set(g, "a", 0.1);
    metrics_set(g, "b", 1e20);
    metrics_set(g, "c", -2.5);
    metrics_set(g, "d", INFINITY);
    metrics_set(g, "e", NAN);
    metrics_set(g, "f", 123456789012.0);
    char *t = render(m);
    assert_contains(t, "g{k=\"a\"} 0.1\n");
    assert_contains(t, "g{k=\"b\"} 1e+20\n");
    assert_contains(t, "g{k=\"c\"} -2.5\n");
    assert_contains(t, "g{k=\"d\"} +Inf\n");
    assert_contains(t, "g{k=\"e\"} NaN\n");
    assert_contains(t, "g{k=\"f\"} 123456789012\n");
    free(t);
    metrics_free(m);
}

/* ----------------------------------------------------------- metrics_http -- */

struct body {
    char data[8192];
    size_t len;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    struct body *b = ud;
    size_t k = sz * n;
    if (b->len + k >= sizeof b->data)
        return 0;
    memcpy(b->data + b->len, p, k);
    b->len += k;
    b->data[b->len] = '\0';
    return k;
}

static long fetch(int port, const char *method, const char *path, struct body *b)
{
    char url[128];
    long status = 0;
    CURL *c = curl_easy_init();
    memset(b, 0, sizeof *b);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static void test_http_endpoint(void **state)
{
    (void)state;
    char err[256];
    struct body b;

    assert_null(metrics_http_start("nonsense", err, sizeof err));
    assert_null(metrics_http_start("127.0.0.1:99999", err, sizeof err));
    struct metrics_http *mh = metrics_http_start("127.0.0.1:0", err, sizeof err);
    assert_non_null(mh);
    int port = metrics_http_port(mh);
    assert_true(port > 0);

    /* Nothing published or reported yet. */
    assert_int_equal(fetch(port, "GET", "/metrics", &b), 503);
    assert_int_equal(fetch(port, "GET", "/healthz", &b), 503);
    assert_string_equal(b.data, "starting\n");

    struct metrics *m = metrics_new();
    struct metric_family *f = metrics_counter(m, "spotwatch_polls_total", "Polls.", "outcome");
    metrics_inc(f, "ok", 3);
    char *text;
    size_t len;
    assert_int_equal(metrics_render(m, &text, &len), 0);
    assert_int_equal(metrics_http_publish(mh, text, len), 0);
    metrics_http_health(mh, 1, NULL);
    assert_int_equal(fetch(port, "GET", "/metrics", &b), 200);
    assert_string_equal(b.data, text);
    assert_int_equal(fetch(port, "GET", "/healthz", &b), 200);
    assert_string_equal(b.data, "ok\n");
    assert_int_equal(fetch(port, "HEAD", "/healthz", &b), 200);
    metrics_http_health(mh, 0, "Redis link down");
    assert_int_equal(fetch(port, "GET", "/healthz", &b), 503);
    assert_string_equal(b.data, "Redis link down\n");
    assert_int_equal(fetch(port, "GET", "/nope", &b), 404);
    assert_int_equal(fetch(port, "POST", "/metrics", &b), 405);
    free(text);
    metrics_free(m);
    metrics_http_stop(mh);
    metrics_http_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge),
        cmocka_unit_test(test_labels_escaped_and_multi),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_bad_definitions),
        cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_number_format),
        cmocka_unit_test(test_http_endpoint),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
