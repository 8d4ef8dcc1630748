/* test_http_server: the libmicrohttpd prologue shared by serve and the
 * metrics endpoint: the listen address, the request prologue (an upload is
 * dropped, the handler runs once), the answer's headers (fetched with
 * libcurl from this process). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "http/http_server.h"

static void test_listen_addr(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    char err[256];
    assert_int_equal(http_server_listen_addr("127.0.0.1:8080", &ss, err, sizeof err), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(http_server_listen_addr("[::1]:8080", &ss, err, sizeof err), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(http_server_listen_addr("0.0.0.0:0", &ss, err, sizeof err), 0);
    assert_int_equal(http_server_listen_addr("127.0.0.1", &ss, err, sizeof err), -1);
    assert_int_equal(http_server_listen_addr(":80", &ss, err, sizeof err), -1);
    assert_int_equal(http_server_listen_addr("[::1]80", &ss, err, sizeof err), -1);
    assert_int_equal(http_server_listen_addr("127.0.0.1:http", &ss, err, sizeof err), -1);
    assert_int_equal(http_server_listen_addr("", &ss, err, sizeof err), -1);
}

/* ------------------------------------------------------------ the server */

struct seen {
    int calls;               /* handler calls */
    char url[64], method[16];
};

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method)
{
    struct seen *s = cls;
    static const char *const extra[] = {"X-One", "1", "X-Skipped", NULL, "X-Two", "2", NULL};

    s->calls++;
    snprintf(s->url, sizeof s->url, "%s", url);
    snprintf(s->method, sizeof s->method, "%s", method);
    if (strcmp(url, "/plain") == 0)
        return http_server_reply(c, 200, "text/plain", "hi\n", 3, NULL);
    return http_server_reply(c, 418, "text/x-test", "teapot", 6, extra);
}

struct got {
    char body[256];
    size_t len;
    char headers[2048];
    size_t hlen;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    struct got *g = ud;
    size_t k = sz * n;
    if (g->len + k >= sizeof g->body)
        return 0;
    memcpy(g->body + g->len, p, k);
    g->len += k;
    g->body[g->len] = '\0';
    return k;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct got *g = ud;
    size_t k = sz * n;
    if (g->hlen + k >= sizeof g->headers)
        return 0;
    memcpy(g->headers + g->hlen, p, k);
    g->hlen += k;
    g->headers[g->hlen] = '\0';
    return k;
}

static long fetch(int port, const char *path, const char *post, struct got *g)
{
    char url[128];
    long status = 0;
    CURL *c = curl_easy_init();
    memset(g, 0, sizeof *g);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (post)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, g);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static void test_server(void **state)
{
    (void)state;
    char err[256];
    struct seen seen = {0};
    struct got g;
    struct http_server_opts o = {.listen_addr = "127.0.0.1:0", .what = " for tests",
                                 .connection_limit = 8, .connection_timeout_s = 5,
                                 .handler = handler, .cls = &seen};

    struct http_server *s = http_server_start(&o, err, sizeof err);
    assert_non_null(s);
    int port = http_server_port(s);
    assert_true(port > 0);

    assert_int_equal(fetch(port, "/plain?x=1", NULL, &g), 200);
    assert_string_equal(g.body, "hi\n");
    assert_non_null(strstr(g.headers, "Content-Type: text/plain\r\n"));
    assert_non_null(strstr(g.headers, "Cache-Control: no-store\r\n"));
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.url, "/plain");
    assert_string_equal(seen.method, "GET");

    /* An upload is read and dropped; the handler still runs once. */
    char big[20000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(fetch(port, "/other", big, &g), 418);
    assert_int_equal(seen.calls, 2);
    assert_string_equal(seen.method, "POST");
    assert_string_equal(g.body, "teapot");
    assert_non_null(strstr(g.headers, "Content-Type: text/x-test\r\n"));
    assert_non_null(strstr(g.headers, "X-One: 1\r\n"));
    assert_non_null(strstr(g.headers, "X-Two: 2\r\n"));
    assert_null(strstr(g.headers, "X-Skipped"));

    /* The port is taken now: the error names the server. */
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    o.listen_addr = addr;
    assert_null(http_server_start(&o, err, sizeof err));
    char want[96];
    snprintf(want, sizeof want, "cannot listen on %s for tests (address in use?)", addr);
    assert_string_equal(err, want);
    o.listen_addr = "nonsense";
    assert_null(http_server_start(&o, err, sizeof err));

    http_server_stop(s);
    http_server_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_addr),
        cmocka_unit_test(test_server),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
