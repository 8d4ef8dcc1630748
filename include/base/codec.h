#ifndef SW_CODEC_H
#define SW_CODEC_H
/* codec: the text encodings several modules share, written once: the
 * percent-encoding of query and form values, the HTTP Basic Authorization
 * header, hex digits and UTF-8 sequences. Pure: no I/O, no state. Every
 * malloc'd result is the caller's; one that may hold a secret (a token in a
 * form body, the Basic header) is wiped with secret_free
 * (include/base/crypto.h). */
#include <stddef.h>

/* codec_pct_encode returns a malloc'd RFC 3986 percent-encoding of s, for a
 * query value: every byte but the unreserved characters (A-Z a-z 0-9 - . _ ~)
 * becomes %XX (upper-case hex), a space too. s NULL is read as "". NULL when
 * out of memory. */
char *codec_pct_encode(const char *s);

/* codec_form_encode: codec_pct_encode for an application/x-www-form-urlencoded
 * value, which differs only in that a space becomes '+'. */
char *codec_form_encode(const char *s);

/* codec_basic_auth returns the malloc'd header line
 * "Authorization: Basic <base64(id ":" secret)>" (RFC 7617), or NULL when out
 * of memory. It holds the secret: free it with secret_free. */
char *codec_basic_auth(const char *id, const char *secret);

/* codec_utf8_len returns the length (1-4) of the valid UTF-8 sequence at s
 * (n bytes left), or 0 when s does not start one (n == 0, a stray or
 * truncated sequence; overlong forms and surrogates count as invalid, since
 * JSON readers reject them). The log and the CLI's escaping read text with it. */
size_t codec_utf8_len(const unsigned char *s, size_t n);

/* CODEC_LL_MAX: room codec_lltoa needs: "-9223372036854775808" and a NUL. */
#define CODEC_LL_MAX 21

/* codec_lltoa writes v in decimal, as snprintf's "%lld" does, into out
 * (CODEC_LL_MAX bytes of room), NUL-terminated; returns its length. For the
 * numbers a poll formats (a dozen each), where snprintf costs ten times as
 * much. */
size_t codec_lltoa(long long v, char *out);

/* codec_b64url_digit returns the value of the base64url (RFC 4648 section 5)
 * character c, or -1 if c is not one. */
static inline int codec_b64url_digit(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* codec_hex_digit returns the value of the hexadecimal digit c (either
 * case), or -1 if c is not one. Inline: the JSON scanner reads \u escapes
 * with it. */
static inline int codec_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
