/* test_token: token-endpoint parsing (src/spotify/token.c). Web API
 * classification and Retry-After: test_webapi; form encoding: test_codec. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotify/token.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tok_ok),
        cmocka_unit_test(test_tok_bad_200),
        cmocka_unit_test(test_tok_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
