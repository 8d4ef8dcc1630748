/* seal_pack: the byte layouts of the binary sealed format; see
 * include/base/seal_pack.h and include/base/crypto.h. */
#include "base/seal_pack.h"
#include "base/codec.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* The escape byte that keeps NUL out of binary values. */
#define STUFF_ESC 0xfe

/* PACK_BYTES: bytes for n base64url characters at 6 bits each (the spare
 * bits of the last byte zero). */
#define PACK_BYTES(n) ((6 * (n) + 7) / 8)

/* token_pack writes the plaintext sealed for token s (n chars) into out
 * (room for n + 1 bytes): a flag byte, then s. Spotify's tokens are
 * base64url, so they go 6 bits a character (flag 1 + n % 4, from which
 * with the byte count the length comes back); anything else is stored as
 * it is (flag SEAL_PACK_RAW). Returns the bytes written. */
size_t seal_pack_token(const char *s, size_t n, unsigned char *out)
{
    unsigned acc = 0;
    size_t i, o = 1;
    int bits = 0;

    for (i = 0; i < n && codec_b64url_digit((unsigned char)s[i]) >= 0; i++)
        ;
    if (n == 0 || i < n) {
        out[0] = SEAL_PACK_RAW;
        memcpy(out + 1, s, n);
        return n + 1;
    }
    out[0] = (unsigned char)(1 + n % 4);
    for (i = 0; i < n; i++) {
        acc = (acc << 6 | (unsigned)codec_b64url_digit((unsigned char)s[i])) & 0xfff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits > 0)
        out[o++] = (unsigned char)(acc << (8 - bits));
    acc = 0;
    return o;
}

/* token_unpack is token_pack's inverse: p (len bytes, flag first) into a
 * malloc'd NUL-terminated token, or NULL when malformed (a length the flag
 * does not allow, spare bits set, a NUL in a raw value). */
char *seal_unpack_token(const unsigned char *p, size_t len)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t b = len - 1, r, n, i, bit;
    char *s;

    if (len == 0 || p[0] > 4)
        return NULL;
    if (p[0] == SEAL_PACK_RAW) {
        if (memchr(p + 1, '\0', b) != NULL || (s = malloc(b + 1)) == NULL)
            return NULL;
        memcpy(s, p + 1, b);
        s[b] = '\0';
        return s;
    }
    /* n = 4q + r characters take 3q + r bytes. */
    r = (size_t)p[0] - 1;
    if (b < r || (b - r) % 3 != 0)
        return NULL;
    n = (b - r) / 3 * 4 + r;
    if (n == 0 || PACK_BYTES(n) != b || (8 * b > 6 * n && (p[len - 1] & ((1u << (8 * b - 6 * n)) - 1))))
        return NULL;
    if ((s = malloc(n + 1)) == NULL)
        return NULL;
    /* Three bytes make four characters (one per poll opens ~200 of them:
     * whole groups first, then the last partial one bit by bit). */
    for (i = 0, bit = 0; i + 4 <= n; i += 4, bit += 24) {
        const unsigned char *q = p + 1 + bit / 8;
        unsigned v = (unsigned)q[0] << 16 | (unsigned)q[1] << 8 | q[2];

        s[i] = alpha[v >> 18];
        s[i + 1] = alpha[v >> 12 & 63];
        s[i + 2] = alpha[v >> 6 & 63];
        s[i + 3] = alpha[v & 63];
    }
    for (; i < n; i++, bit += 6) {
        unsigned two = (unsigned)p[1 + bit / 8] << 8 | (bit / 8 + 1 < b ? p[2 + bit / 8] : 0);
        s[i] = alpha[(two >> (10 - bit % 8)) & 63];
    }
    s[n] = '\0';
    return s;
}

/* stuff escapes in (n bytes) into out (room for 2n) so the result holds no
 * NUL byte: a sealed value then passes through every C-string path (argv,
 * strdup, hiredis replies) unchanged. 0x00 -> ESC 1, ESC -> ESC 2; about one
 * byte in 128 grows. Returns the bytes written. */
size_t seal_stuff(const unsigned char *in, size_t n, unsigned char *out)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        if (in[i] == 0 || in[i] == STUFF_ESC) {
            out[o++] = STUFF_ESC;
            out[o++] = in[i] == 0 ? 1 : 2;
        } else {
            out[o++] = in[i];
        }
    }
    return o;
}

/* unstuff is stuff's inverse on the NUL-terminated s: a malloc'd buffer in
 * *out and its length, or -1 (out of memory, or an escape stuff never
 * writes: one spelling per value). */
long seal_unstuff(const char *s, unsigned char **out)
{
    size_t n = strlen(s), o = 0;
    unsigned char *b = malloc(n + 1);
    const char *p = s, *end = s + n;

    *out = NULL;
    if (b == NULL || n > LONG_MAX)
        goto err;
    /* Escapes are rare (about one byte in 128): copy the runs between them. */
    for (;;) {
        const char *e = memchr(p, STUFF_ESC, (size_t)(end - p));
        size_t run = (size_t)((e ? e : end) - p);

        memcpy(b + o, p, run);
        o += run;
        if (e == NULL)
            break;
        if (e[1] != 1 && e[1] != 2)   /* s[n] is the NUL: never 1 or 2 */
            goto err;
        b[o++] = e[1] == 1 ? 0 : STUFF_ESC;
        p = e + 2;
    }
    *out = b;
    return (long)o;
err:
    free(b);
    return -1;
}

/* kid_put writes kid as a little-endian base-128 varint (1-5 bytes). */
size_t seal_kid_put(long kid, unsigned char *out)
{
    size_t o = 0;

    do {
        out[o] = (unsigned char)(kid & 0x7f);
        kid >>= 7;
        if (kid)
            out[o] |= 0x80;
        o++;
    } while (kid);
    return o;
}

/* kid_get reads kid_put's varint from p (len bytes): the id, its size in
 * *used; -1 if truncated, too large or not in its shortest form. */
long seal_kid_get(const unsigned char *p, size_t len, size_t *used)
{
    long v = 0;
    size_t i;

    for (i = 0; i < len && i < 5; i++) {
        v |= (long)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (i > 0 && p[i] == 0)
                return -1;
            *used = i + 1;
            return v > SEAL_MAX_KID ? -1 : v;
        }
    }
    return -1;
}

