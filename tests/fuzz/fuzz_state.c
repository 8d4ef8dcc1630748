/* fuzz_state: libFuzzer target for the OAuth state decoder of src/serve/oauth.c
 * (oauth_state_verify, with oauth_b64url_decode under it), the text every
 * visitor of /callback controls. Built and run by `make fuzz`.
 *
 * Byte 0 picks the mode; the rest is the input:
 *  - mode even: the input is the state text itself, as /callback receives
 *    it. Nearly all of it fails at the MAC, which the fuzzer cannot forge
 *    (the corpus holds a few texts signed with the fuzz key, see
 *    seed_corpus.py).
 *  - mode odd: the input is a payload, signed here with the fuzz key exactly
 *    as oauth.c signs (HMAC-SHA256 over "spotwatch-oauth-state\0" | payload),
 *    so the layout parser behind the MAC is reached with arbitrary bytes.
 * Either way a success must give valid ids, and oauth_state_make of the result
 * must give back the very same text: one state has one spelling, so no
 * altered text (a changed padding bit, a second encoding) is ever accepted.
 * Also: oauth_b64url_decode(oauth_b64url(x)) == x, and a decode never writes
 * past its buffer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "redis/key_schema.h"
#include "serve/oauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char mac_context[] = "spotwatch-oauth-state";

static void sign(const struct oauth_keys *k, const unsigned char *payload, size_t n, unsigned char mac[32])
{
    unsigned char *buf = malloc(sizeof mac_context + n);
    unsigned maclen = 32;

    if (buf == NULL)
        abort();
    memcpy(buf, mac_context, sizeof mac_context);
    memcpy(buf + sizeof mac_context, payload, n);
    HMAC(EVP_sha256(), k->key[k->n - 1], 32, buf, sizeof mac_context + n, mac, &maclen);
    free(buf);
}

/* check_accepted: what verify accepted is well-formed and canonical. */
static void check_accepted(const struct oauth_keys *k, struct oauth_state *st, const char *text)
{
    char again[OAUTH_STATE_MAX];

    if (!keys_valid_id(st->app) || !keys_valid_id(st->user) || strlen(st->nonce_b64) != 22)
        abort();
    /* make never signs a negative expiry; verify leaves that to the caller's clock */
    if (st->exp_ms >= 0 && (oauth_state_make(k, st, 0, again, sizeof again) != 0 || strcmp(again, text) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct oauth_keys keys;
    struct oauth_state st;
    char err[128], *text;
    unsigned char dec[OAUTH_STATE_MAX];

    if (keys.n == 0) {
        keys.n = 2;     /* an old key and the signing key, as after a rotation */
        memset(keys.key[0], 0x11, 32);
        memset(keys.key[1], 0x22, 32);
    }
    if (size == 0)
        return 0;
    const unsigned char *in = data + 1;
    size_t n = size - 1;

    /* Base64url round trip and bounds. */
    if (n <= 300) {
        char enc[420];
        size_t el = oauth_b64url(in, n, enc);
        if (el >= sizeof enc || oauth_b64url_decode(enc, dec, sizeof dec) != (long)n || memcmp(dec, in, n) != 0)
            abort();
        if (n > 0 && oauth_b64url_decode(enc, dec, n - 1) != -1)
            abort();   /* one byte too small must fail, not overflow */
    }

    if (data[0] % 2 == 0) {
        text = malloc(n + 1);
        if (text == NULL)
            return 0;
        memcpy(text, in, n);
        text[n] = '\0';
        if (oauth_state_verify(&keys, text, &st, err, sizeof err) == 0)
            check_accepted(&keys, &st, text);
        else if (err[0] == '\0')
            abort();
        free(text);
        return 0;
    }

    /* A signed payload of arbitrary bytes. */
    if (n > 600)
        return 0;
    unsigned char mac[32];
    size_t cap = (n + 2) / 3 * 4 + 1 + 44 + 1;
    text = malloc(cap);
    if (text == NULL)
        return 0;
    sign(&keys, in, n, mac);
    size_t o = oauth_b64url(in, n, text);
    text[o++] = '.';
    oauth_b64url(mac, sizeof mac, text + o);
    if (oauth_state_verify(&keys, text, &st, err, sizeof err) == 0) {
        check_accepted(&keys, &st, text);
    } else if (err[0] == '\0') {
        abort();
    }
    free(text);
    return 0;
}
