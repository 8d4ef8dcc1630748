/* codec: percent-encoding, the Basic Authorization header (see
 * include/base/codec.h). */
#include "base/codec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define BASIC_PREFIX "Authorization: Basic "

/* pct_encode: both encodings; form says whether a space is '+'. */
static char *pct_encode(const char *s, int form)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n, o = 0;
    char *out;

    if (s == NULL)
        s = "";
    n = strlen(s);
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    out = malloc(3 * n + 1);
    if (out == NULL)
        return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        /* Explicit ranges: isalnum() would follow the locale. */
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else if (form && c == ' ') {
            out[o++] = '+';
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 0xf];
        }
    }
    out[o] = '\0';
    return out;
}

char *codec_pct_encode(const char *s)
{
    return pct_encode(s, 0);
}

char *codec_form_encode(const char *s)
{
    return pct_encode(s, 1);
}

char *codec_basic_auth(const char *id, const char *secret)
{
    size_t il = strlen(id), sl = strlen(secret), n = il + 1 + sl;
    char *plain = malloc(n + 1), *hdr = NULL;

    if (plain == NULL)
        return NULL;
    memcpy(plain, id, il);
    plain[il] = ':';
    memcpy(plain + il + 1, secret, sl + 1);
    /* EVP_EncodeBlock writes 4 * ceil(n / 3) characters, no newline, and a NUL. */
    hdr = malloc(sizeof BASIC_PREFIX - 1 + 4 * ((n + 2) / 3) + 1);
    if (hdr != NULL) {
        memcpy(hdr, BASIC_PREFIX, sizeof BASIC_PREFIX - 1);
        EVP_EncodeBlock((unsigned char *)hdr + sizeof BASIC_PREFIX - 1, (const unsigned char *)plain,
                        (int)n);
    }
    OPENSSL_cleanse(plain, n);
    free(plain);
    return hdr;
}

size_t codec_utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned min, cp;

    if (n == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2; min = 0x80; cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3; min = 0x800; cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4; min = 0x10000; cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

size_t codec_lltoa(long long v, char *out)
{
    char tmp[CODEC_LL_MAX];
    /* the magnitude as unsigned: -LLONG_MIN does not fit a long long */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    size_t n = 0, o = 0;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[o++] = '-';
    while (n)
        out[o++] = tmp[--n];
    out[o] = '\0';
    return o;
}
