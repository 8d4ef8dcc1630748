/* test_token: token-endpoint parsing, Web API classification, Retry-After.
 * (Form encoding: test_codec.) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotify/token.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* tok: parse and return the result; out is left for the caller to inspect
 * and free. */
static enum tok_result tok(long status, const char *body, struct tok_response *out, char *err,
                           size_t errlen)
{
    return tok_parse(status, body, body ? strlen(body) : 0, out, err, errlen);
}

static void expect_tok(long status, const char *body, enum tok_result want, const char *err_needle)
{
    struct tok_response r;
    char err[256] = "";
    enum tok_result got = tok(status, body, &r, err, sizeof err);

    if (got != want)
        fail_msg("status %ld body %s: got %d want %d (err %s)", status, body ? body : "(null)",
                 got, want, err);
    if (want != TOK_OK) {
        assert_null(r.access_token);
        assert_true(err[0] != '\0');
    }
    if (err_needle != NULL && strstr(err, err_needle) == NULL)
        fail_msg("err \"%s\" lacks \"%s\"", err, err_needle);
    /* Errors never carry a token. */
    assert_null(strstr(err, "SECRET"));
    tok_response_free(&r);
}

static void test_tok_ok(void **state)
{
    struct tok_response r;
    char err[256] = "";

    (void)state;
    assert_int_equal(tok(200, "{\"access_token\":\"BQ.access-SECRET\",\"token_type\":\"Bearer\","
                              "\"scope\":\"user-read-currently-playing\",\"expires_in\":3600,"
                              "\"refresh_token\":\"AQ.refresh-SECRET\"}", &r, err, sizeof err),
                     TOK_OK);
    assert_string_equal(r.access_token, "BQ.access-SECRET");
    assert_string_equal(r.refresh_token, "AQ.refresh-SECRET");
    assert_string_equal(r.scope, "user-read-currently-playing");
    assert_int_equal(r.expires_in_s, 3600);
    assert_string_equal(r.error, "");
    tok_response_free(&r);
    assert_null(r.access_token);
    tok_response_free(&r); /* idempotent */
    tok_response_free(NULL);

    /* No refresh_token: keep the old one. No scope, no token_type. */
    assert_int_equal(tok(200, "{\"access_token\":\"a\",\"expires_in\":60}", &r, err, sizeof err),
                     TOK_OK);
    assert_null(r.refresh_token);
    assert_null(r.scope);
    assert_int_equal(r.expires_in_s, 60);
    tok_response_free(&r);

    /* Empty or non-string refresh_token is ignored, not stored. */
    assert_int_equal(tok(200, "{\"access_token\":\"a\",\"expires_in\":60,\"refresh_token\":\"\"}",
                         &r, err, sizeof err), TOK_OK);
    assert_null(r.refresh_token);
    tok_response_free(&r);
    assert_int_equal(tok(200, "{\"access_token\":\"a\",\"expires_in\":60,\"refresh_token\":5}",
                         &r, err, sizeof err), TOK_OK);
    assert_null(r.refresh_token);
    tok_response_free(&r);

    /* Duplicate keys: the first wins (cJSON's lookup), consistently. */
    assert_int_equal(tok(200, "{\"access_token\":\"first\",\"access_token\":\"second\","
                              "\"expires_in\":10}", &r, err, sizeof err), TOK_OK);
    assert_string_equal(r.access_token, "first");
    tok_response_free(&r);

    /* Fractional expires_in is truncated; token_type case-insensitive. */
    assert_int_equal(tok(200, "{\"access_token\":\"a\",\"token_type\":\"bearer\",\"expires_in\":59.9}",
                         &r, err, sizeof err), TOK_OK);
    assert_int_equal(r.expires_in_s, 59);
    tok_response_free(&r);

    /* Body not NUL-terminated at len: only len bytes are read. */
    {
        const char body[] = "{\"access_token\":\"a\",\"expires_in\":7}GARBAGE";
        assert_int_equal(tok_parse(200, body, strlen(body) - 7, &r, err, sizeof err), TOK_OK);
        assert_int_equal(r.expires_in_s, 7);
        tok_response_free(&r);
    }
}

static void test_tok_bad_200(void **state)
{
    (void)state;
    expect_tok(200, "{\"token_type\":\"Bearer\",\"expires_in\":3600}", TOK_TRANSIENT, "access_token");
    expect_tok(200, "{\"access_token\":\"\",\"expires_in\":3600}", TOK_TRANSIENT, "access_token");
    expect_tok(200, "{\"access_token\":42,\"expires_in\":3600}", TOK_TRANSIENT, "access_token");
    expect_tok(200, "{\"access_token\":null,\"expires_in\":3600}", TOK_TRANSIENT, "access_token");
    expect_tok(200, "{\"access_token\":\"a b\",\"expires_in\":3600}", TOK_TRANSIENT, "access_token");
    expect_tok(200, "{\"access_token\":\"a\\r\\nX-Evil: 1\",\"expires_in\":3600}", TOK_TRANSIENT,
               "access_token");
    expect_tok(200, "{\"access_token\":\"SECRET\"}", TOK_TRANSIENT, "expires_in");
    expect_tok(200, "{\"access_token\":\"SECRET\",\"expires_in\":\"3600\"}", TOK_TRANSIENT,
               "expires_in");
    expect_tok(200, "{\"access_token\":\"SECRET\",\"expires_in\":null}", TOK_TRANSIENT, "expires_in");
    expect_tok(200, "{\"access_token\":\"SECRET\",\"expires_in\":0}", TOK_TRANSIENT, "expires_in");
    expect_tok(200, "{\"access_token\":\"SECRET\",\"expires_in\":-5}", TOK_TRANSIENT, "expires_in");
    expect_tok(200, "{\"access_token\":\"SECRET\",\"expires_in\":1e300}", TOK_TRANSIENT, "expires_in");
    expect_tok(200, "{\"access_token\":\"SECRET\",\"expires_in\":99999999999999999999999}",
               TOK_TRANSIENT, "expires_in");
    expect_tok(200, "{\"access_token\":\"SECRET\",\"token_type\":\"MAC\",\"expires_in\":3600}",
               TOK_TRANSIENT, "token_type");
    expect_tok(200, "[1,2]", TOK_TRANSIENT, "not a JSON object");
    expect_tok(200, "", TOK_TRANSIENT, NULL);
    expect_tok(200, NULL, TOK_TRANSIENT, NULL);
    expect_tok(200, "{\"access_token\":\"SECRET\",\"expires_in\":36", TOK_TRANSIENT, NULL);
    expect_tok(200, "<html>oops</html>", TOK_TRANSIENT, NULL);
}

static void test_tok_errors(void **state)
{
    struct tok_response r;
    char err[256] = "";

    (void)state;
    assert_int_equal(tok(400, "{\"error\":\"invalid_grant\",\"error_description\":\"Refresh token revoked\"}",
                         &r, err, sizeof err), TOK_INVALID_GRANT);
    assert_string_equal(r.error, "invalid_grant");
    assert_string_equal(r.error_description, "Refresh token revoked");
    assert_non_null(strstr(err, "Refresh token revoked"));
    tok_response_free(&r);

    expect_tok(400, "{\"error\":\"invalid_grant\"}", TOK_INVALID_GRANT, "invalid_grant");
    expect_tok(400, "{\"error\":\"invalid_client\",\"error_description\":\"Invalid client secret\"}",
               TOK_INVALID_CLIENT, "Invalid client secret");
    expect_tok(401, "{\"error\":\"invalid_client\"}", TOK_INVALID_CLIENT, "invalid_client");
    expect_tok(429, "", TOK_RATE_LIMITED, "429");
    expect_tok(429, "{\"error\":\"invalid_grant\"}", TOK_RATE_LIMITED, NULL);
    expect_tok(500, "{\"error\":\"server_error\"}", TOK_TRANSIENT, "500");
    expect_tok(502, "<html>Bad Gateway</html>", TOK_TRANSIENT, "non-JSON");
    expect_tok(503, "", TOK_TRANSIENT, "503");
    expect_tok(0, NULL, TOK_TRANSIENT, "transport");
    /* A 5xx that claims invalid_grant does not destroy the grant. */
    expect_tok(503, "{\"error\":\"invalid_grant\"}", TOK_TRANSIENT, NULL);
    /* Other 4xx: transient (only the explicit errors are trusted). */
    expect_tok(400, "{\"error\":\"invalid_request\",\"error_description\":\"bad\"}", TOK_TRANSIENT,
               "invalid_request");
    expect_tok(400, "{\"error\":\"unsupported_grant_type\"}", TOK_TRANSIENT, NULL);
    expect_tok(403, "Forbidden", TOK_TRANSIENT, "non-JSON");
    expect_tok(404, "{}", TOK_TRANSIENT, "404");
    expect_tok(400, "{\"error\":{\"status\":400,\"message\":\"x\"}}", TOK_TRANSIENT, NULL);
    expect_tok(400, "{\"error\":\"invalid_gr", TOK_TRANSIENT, NULL);
    expect_tok(400, "{\"error\":\"INVALID_GRANT\"}", TOK_TRANSIENT, NULL);
    expect_tok(302, "", TOK_TRANSIENT, NULL);
    expect_tok(201, "{\"access_token\":\"SECRET\",\"expires_in\":3600}", TOK_TRANSIENT, NULL);

    /* A hostile description is sanitised and truncated. */
    {
        char body[2048];
        memset(&r, 0, sizeof r);
        snprintf(body, sizeof body, "{\"error\":\"invalid_grant\",\"error_description\":\"a\\nb\\u001b[31m%0600d\"}", 0);
        assert_int_equal(tok(400, body, &r, err, sizeof err), TOK_INVALID_GRANT);
        assert_null(strchr(r.error_description, '\n'));
        assert_null(strchr(r.error_description, 0x1b));
        assert_true(strlen(r.error_description) < sizeof r.error_description);
        assert_non_null(strstr(r.error_description, "..."));
        assert_true(strncmp(r.error_description, "a b?[31m", 8) == 0);
        tok_response_free(&r);
    }
}

static void expect_api(long status, const char *body, enum api_class want, const char *msg)
{
    char m[128] = "junk";
    enum api_class got = api_classify(status, body, body ? strlen(body) : 0, m, sizeof m);

    if (got != want)
        fail_msg("status %ld body %s: got %d want %d", status, body ? body : "(null)", got, want);
    if (msg != NULL && strcmp(m, msg) != 0)
        fail_msg("status %ld: message \"%s\" want \"%s\"", status, m, msg);
}

static void test_api_classes(void **state)
{
    (void)state;
    expect_api(200, "{\"is_playing\":true}", API_OK, "");
    expect_api(204, "", API_NOTHING, "");
    expect_api(401, "{\"error\":{\"status\":401,\"message\":\"The access token expired\"}}",
               API_TOKEN_EXPIRED, "The access token expired");
    expect_api(401, "{\"error\":{\"status\":401,\"message\":\"Invalid access token\"}}",
               API_TOKEN_EXPIRED, "Invalid access token");
    expect_api(401, "{\"error\":{\"status\":401,\"message\":\"No token provided\"}}",
               API_TOKEN_EXPIRED, "No token provided");
    expect_api(401, "", API_TOKEN_EXPIRED, "HTTP 401");
    expect_api(401, "{\"error\":{\"status\":401,\"message\":\"Permissions missing\"}}", API_REAUTH,
               "Permissions missing");
    expect_api(403, "{\"error\":{\"status\":403,\"message\":\"User not registered in the Developer Dashboard\"}}",
               API_NOT_REGISTERED, "User not registered in the Developer Dashboard");
    expect_api(403, "User not registered in the Developer Dashboard", API_NOT_REGISTERED,
               "User not registered in the Developer Dashboard");
    expect_api(403, "User not registered in the Developer Dashboard\n", API_NOT_REGISTERED, NULL);
    expect_api(403, "{\"error\":{\"status\":403,\"message\":\"Check settings on developer.spotify.com/dashboard, the user may not be registered.\"}}",
               API_NOT_REGISTERED, NULL);
    expect_api(403, "{\"error\":{\"status\":403,\"message\":\"Player command failed: Restriction violated\"}}",
               API_FORBIDDEN, "Player command failed: Restriction violated");
    expect_api(403, "", API_FORBIDDEN, "HTTP 403");
    expect_api(429, "", API_RATE_LIMITED, "HTTP 429");
    expect_api(429, "{\"error\":{\"status\":429,\"message\":\"API rate limit exceeded\"}}",
               API_RATE_LIMITED, "API rate limit exceeded");
    expect_api(429, "{\"error\":{\"status\":429,\"message\":\"Quota\",\"reason\":\"QUOTA_EXCEEDED\"}}",
               API_QUOTA, "Quota");
    expect_api(429, "{\"reason\":\"QUOTA_EXCEEDED\"}", API_QUOTA, "HTTP 429 QUOTA_EXCEEDED");
    expect_api(429, "{\"error\":{\"reason\":7}}", API_RATE_LIMITED, NULL);
    expect_api(500, "", API_TRANSIENT, "HTTP 500");
    expect_api(502, "<html><body>Bad Gateway</body></html>", API_TRANSIENT,
               "<html><body>Bad Gateway</body></html>");
    expect_api(599, NULL, API_TRANSIENT, NULL);
    expect_api(408, "", API_TRANSIENT, NULL);
    expect_api(0, NULL, API_TRANSIENT, "transport error");
    expect_api(404, "{\"error\":{\"status\":404,\"message\":\"Not found.\"}}", API_UNEXPECTED,
               "Not found.");
    expect_api(400, "{\"error\":\"invalid_request\",\"error_description\":\"bad thing\"}",
               API_UNEXPECTED, "bad thing");
    expect_api(202, "", API_UNEXPECTED, NULL);
    expect_api(302, "", API_UNEXPECTED, NULL);
    expect_api(600, "", API_UNEXPECTED, NULL);
}

static void test_api_corners(void **state)
{
    char m[16];
    char big[64];
    enum api_class c;

    (void)state;
    /* Malformed / truncated JSON: read as text. */
    expect_api(401, "{\"error\":{\"status\":401,\"message\":\"Permissions missing", API_REAUTH, NULL);
    expect_api(403, "{\"error\":{\"message\":\"User not registered in the Developer Dash",
               API_FORBIDDEN, NULL);
    /* Wrong types. */
    expect_api(401, "{\"error\":{\"status\":401,\"message\":5}}", API_TOKEN_EXPIRED, "HTTP 401");
    expect_api(403, "{\"error\":[\"User not registered in the Developer Dashboard\"]}", API_FORBIDDEN,
               NULL);
    expect_api(403, "\"User not registered in the Developer Dashboard\"", API_NOT_REGISTERED, NULL);
    expect_api(429, "[]", API_RATE_LIMITED, "[]");
    /* Top-level message. */
    expect_api(404, "{\"message\":\"nope\"}", API_UNEXPECTED, "nope");

    /* Truncation and sanitising. */
    c = api_classify(403, S("{\"error\":{\"message\":\"a very long message indeed\"}}"), m, sizeof m);
    assert_int_equal(c, API_FORBIDDEN);
    assert_string_equal(m, "a very long ...");
    c = api_classify(500, S("line1\r\nline2\x01\xff  "), m, sizeof m);
    assert_int_equal(c, API_TRANSIENT);
    assert_string_equal(m, "line1 line2??");
    /* Length honoured: the body is not NUL-terminated at len. */
    memset(big, 'x', sizeof big);
    c = api_classify(500, big, 5, m, sizeof m);
    assert_string_equal(m, "xxxxx");
    /* Plain-text 403 prefix only (len cuts the phrase). */
    c = api_classify(403, "User not registered in the Developer Dashboard", 20, NULL, 0);
    assert_int_equal(c, API_FORBIDDEN);
    /* NULL message buffer is fine; tiny buffers too. */
    assert_int_equal(api_classify(401, S("{\"error\":{\"message\":\"Permissions missing\"}}"), NULL, 0),
                     API_REAUTH);
    assert_int_equal(api_classify(401, S("{\"error\":{\"message\":\"Permissions missing\"}}"), m, 1),
                     API_REAUTH);
    assert_string_equal(m, "");
    assert_int_equal(api_classify(500, S("abcdef"), m, 3), API_TRANSIENT);
    assert_string_equal(m, "ab");
}

#define NOW 784111777000LL /* Sun, 06 Nov 1994 08:49:37 GMT in ms */

static void test_retry_after(void **state)
{
    int capped = -1;

    (void)state;
    assert_int_equal(retry_after_ms("120", NOW, 5000, 3600000, &capped), 120000);
    assert_int_equal(capped, 0);
    assert_int_equal(retry_after_ms(" 7 ", NOW, 5000, 3600000, &capped), 7000);
    assert_int_equal(retry_after_ms("\t7\r\n", NOW, 5000, 3600000, &capped), 7000);
    assert_int_equal(retry_after_ms("0", NOW, 5000, 3600000, &capped), 1000);
    assert_int_equal(retry_after_ms("000", NOW, 5000, 3600000, &capped), 1000);
    assert_int_equal(retry_after_ms(NULL, NOW, 5000, 3600000, &capped), 5000);
    assert_int_equal(retry_after_ms("", NOW, 5000, 3600000, &capped), 5000);
    assert_int_equal(retry_after_ms("   ", NOW, 5000, 3600000, &capped), 5000);
    assert_int_equal(retry_after_ms("-5", NOW, 5000, 3600000, &capped), 5000);
    assert_int_equal(retry_after_ms("+5", NOW, 5000, 3600000, &capped), 5000);
    assert_int_equal(retry_after_ms("1.5", NOW, 5000, 3600000, &capped), 5000);
    assert_int_equal(retry_after_ms("5s", NOW, 5000, 3600000, &capped), 5000);
    assert_int_equal(retry_after_ms("5 5", NOW, 5000, 3600000, &capped), 5000);
    assert_int_equal(retry_after_ms("soon", NOW, 5000, 3600000, &capped), 5000);
    assert_int_equal(capped, 0);

    /* Cap, including values that would overflow long long. */
    assert_int_equal(retry_after_ms("3600", NOW, 5000, 3600000, &capped), 3600000);
    assert_int_equal(capped, 0);
    assert_int_equal(retry_after_ms("3601", NOW, 5000, 3600000, &capped), 3600000);
    assert_int_equal(capped, 1);
    capped = 0;
    assert_int_equal(retry_after_ms("99999999999999999999999999999", NOW, 5000, 3600000, &capped),
                     3600000);
    assert_int_equal(capped, 1);
    capped = 0;
    assert_int_equal(retry_after_ms("9223372036854775807", NOW, 5000, 3600000, &capped), 3600000);
    assert_int_equal(capped, 1);
    assert_int_equal(retry_after_ms("9223372036854775", NOW, 5000, 3600000, NULL), 3600000);

    /* HTTP dates relative to now. */
    assert_int_equal(retry_after_ms("Sun, 06 Nov 1994 08:50:37 GMT", NOW, 5000, 3600000, &capped),
                     60000);
    assert_int_equal(capped, 0);
    assert_int_equal(retry_after_ms(" Sun, 06 Nov 1994 08:50:37 GMT ", NOW, 5000, 3600000, &capped),
                     60000);
    assert_int_equal(retry_after_ms("Sunday, 06-Nov-94 08:50:37 GMT", NOW, 5000, 3600000, &capped),
                     60000);
    assert_int_equal(retry_after_ms("Sun Nov  6 08:50:37 1994", NOW, 5000, 3600000, &capped), 60000);
    assert_int_equal(retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", NOW, 5000, 3600000, &capped),
                     1000);
    assert_int_equal(retry_after_ms("Sat, 01 Jan 1994 00:00:00 GMT", NOW, 5000, 3600000, &capped),
                     1000);
    assert_int_equal(retry_after_ms("Mon, 07 Nov 1994 08:49:37 GMT", NOW, 5000, 3600000, &capped),
                     3600000);
    assert_int_equal(capped, 1);
    capped = 0;
    assert_int_equal(retry_after_ms("Fri, 31 Dec 9999 23:59:59 GMT", NOW, 5000, 3600000, &capped),
                     3600000);
    assert_int_equal(capped, 1);
    assert_int_equal(retry_after_ms("Sun, 06 Nov 1994 08:50:37 UTC", NOW, 5000, 3600000, &capped),
                     5000);
    assert_int_equal(retry_after_ms("Sun, 06 Nov 1994 08:50:37 GMT trailing", NOW, 5000, 3600000,
                                    &capped), 5000);
    assert_int_equal(retry_after_ms("Sun, 06 Nov 1994", NOW, 5000, 3600000, &capped), 5000);
    assert_int_equal(retry_after_ms("Sun, 32 Nov 1994 08:50:37 GMT", NOW, 5000, 3600000, &capped),
                     5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tok_ok),
        cmocka_unit_test(test_tok_bad_200),
        cmocka_unit_test(test_tok_errors),
        cmocka_unit_test(test_api_classes),
        cmocka_unit_test(test_api_corners),
        cmocka_unit_test(test_retry_after),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
