/* test_webapi: Web API classification and Retry-After
 * (src/spotify/webapi.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotify/webapi.h"

#define S(lit) (lit), (sizeof(lit) - 1)

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
    /* The 2026 text, JSON and plain text; a reworded one by its meaning. */
    expect_api(403, "{\"error\":{\"status\":403,\"message\":\"The user is not registered for this application. "
               "Please check your settings on https://developer.spotify.com/dashboard.\"}}",
               API_NOT_REGISTERED, NULL);
    expect_api(403, "The user is not registered for this application. Please check your settings on "
               "https://developer.spotify.com/dashboard.", API_NOT_REGISTERED, NULL);
    expect_api(403, "Check settings on developer.spotify.com/dashboard, the user may not be registered.",
               API_NOT_REGISTERED, NULL);
    expect_api(403, "{\"error\":{\"status\":403,\"message\":\"This account is not registered with the app "
               "in the Dashboard\"}}", API_NOT_REGISTERED, NULL);
    expect_api(403, "User is not registered as a tester of this application", API_NOT_REGISTERED, NULL);
    expect_api(403, "Device not registered", API_FORBIDDEN, "Device not registered");
    /* The owner-Premium refusal, JSON and plain text. */
    expect_api(403, "{\"error\":{\"status\":403,\"message\":\"Active premium subscription required for the owner "
               "of the app. When the subscription status changes, it can take a few hours before requests are "
               "allowed again.\"}}", API_OWNER_PREMIUM, NULL);
    expect_api(403, "Active premium subscription required for the owner of the app. When the subscription status "
               "changes, it can take a few hours before requests are allowed again.", API_OWNER_PREMIUM, NULL);
    expect_api(403, "Active premium subscription required for the owner of the app", API_OWNER_PREMIUM,
               "Active premium subscription required for the owner of the app");
    expect_api(403, "{\"error\":{\"status\":403,\"message\":\"Player command failed: Restriction violated\"}}",
               API_FORBIDDEN, "Player command failed: Restriction violated");
    expect_api(403, "", API_FORBIDDEN, "HTTP 403");
    expect_api(429, "", API_RATE_LIMITED, "HTTP 429");
    expect_api(429, "Too many requests", API_RATE_LIMITED, "Too many requests");
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
    /* Retry-After: 0 never shortens a block below the default. */
    assert_int_equal(retry_after_ms("0", NOW, 5000, 3600000, &capped), 5000);
    assert_int_equal(retry_after_ms("000", NOW, 5000, 3600000, &capped), 5000);
    assert_int_equal(retry_after_ms("1", NOW, 5000, 3600000, &capped), 1000);
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
        cmocka_unit_test(test_api_classes),
        cmocka_unit_test(test_api_corners),
        cmocka_unit_test(test_retry_after),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
