/* fuzz_token: libFuzzer target for src/spotify/token.c and webapi.c: the
 * token-endpoint parser (tok_parse), the Web API classifier (api_classify),
 * Retry-After parsing (retry_after_ms) and codec_form_encode (src/base/codec.c). Built and run by `make fuzz`.
 *
 * Input: byte 0 picks the HTTP status, the rest is the body; the body's first
 * line (up to 80 bytes) doubles as a Retry-After value. Besides memory safety
 * it checks what the worker relies on:
 *  - tok_parse: TOK_OK has an access token of visible ASCII and a sane
 *    expiry, any other result has no token; err never holds a token and is
 *    printable (it reaches logs and last_error);
 *  - api_classify: the message is printable ASCII (no newline or escape
 *    injection from a hostile body); 200 is OK and 204 is NOTHING;
 *  - retry_after_ms: never 0 or negative, never above the cap (or the
 *    default), exactly the cap when it says capped;
 *  - codec_form_encode: only unreserved characters, '+' and %XX come out, and they
 *    decode back to the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "spotify/token.h"
#include "spotify/webapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const long statuses[] = {0, 200, 204, 400, 401, 403, 404, 408, 429, 500, 502, 503, 302, 418, 599, 100};

static void printable_or_die(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            abort();
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void check_form_encode(const char *in)
{
    char *out = codec_form_encode(in), *dec;
    size_t n = 0;

    if (out == NULL)
        return;
    dec = malloc(strlen(out) + 1);
    if (dec == NULL) {
        free(out);
        return;
    }
    for (const char *p = out; *p; p++) {
        if (*p == '%') {
            int hi = hexv(p[1]), lo = hi < 0 ? -1 : hexv(p[2]);
            if (hi < 0 || lo < 0)
                abort();
            dec[n++] = (char)(hi << 4 | lo);
            p += 2;
        } else if (*p == '+') {
            dec[n++] = ' ';
        } else if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                   *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            dec[n++] = *p;
        } else {
            abort();
        }
    }
    dec[n] = '\0';
    if (strcmp(dec, in) != 0)
        abort();
    free(dec);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tok_response t;
    char err[256], msg[160], ra[81];
    long status;
    const char *body;
    size_t len, ralen = 0;
    char *text;
    int capped = -1;
    long long ms;

    if (size == 0)
        return 0;
    status = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
    body = (const char *)data + 1;
    len = size - 1;

    /* The parsers get the body exactly as httpc hands it over: NUL-terminated. */
    text = malloc(len + 1);
    if (text == NULL)
        return 0;
    memcpy(text, body, len);
    text[len] = '\0';

    enum tok_result res = tok_parse(status, text, len, &t, err, sizeof err);
    printable_or_die(err);
    if (res == TOK_OK) {
        if (t.access_token == NULL || t.access_token[0] == '\0' || t.expires_in_s < 1)
            abort();
        printable_or_die(t.access_token);
        if (strchr(t.access_token, ' ') != NULL)
            abort();
        if (err[0] != '\0' && strstr(err, t.access_token) != NULL)
            abort();
    } else {
        if (t.access_token != NULL || t.refresh_token != NULL || err[0] == '\0')
            abort();
    }
    if (t.refresh_token != NULL && strstr(err, t.refresh_token) != NULL)
        abort();
    tok_response_free(&t);

    enum api_class c = api_classify(status, text, len, msg, sizeof msg);
    printable_or_die(msg);
    if ((status == 200 && c != API_OK) || (status == 204 && c != API_NOTHING) ||
        (status == 429 && c != API_RATE_LIMITED && c != API_QUOTA))
        abort();

    while (ralen < len && ralen < sizeof ra - 1 && text[ralen] != '\n' && text[ralen] != '\0') {
        ra[ralen] = text[ralen];
        ralen++;
    }
    ra[ralen] = '\0';
    ms = retry_after_ms(ra, 1700000000000LL, 30000, 86400000, &capped);
    if (ms <= 0 || ms > 86400000 || (capped != 0 && capped != 1) || (capped && ms != 86400000))
        abort();
    ms = retry_after_ms(ra, 1700000000000LL, 5000, 0, &capped);   /* no cap */
    if (ms <= 0 || capped != 0)
        abort();
    ms = retry_after_ms(ralen ? ra : NULL, 0, 1000, 2000, NULL);
    if (ms <= 0 || ms > 2000)
        abort();

    check_form_encode(text);
    free(text);
    return 0;
}
