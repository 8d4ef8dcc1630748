#ifndef SW_JSON_SCAN_INT_H
#define SW_JSON_SCAN_INT_H
/* json_scan_int.h: what the two halves of json_scan share, private to them
 * (the module's contract is include/spotify/json_scan.h): json_scan.c
 * validates a text, json_read.c reads text json_scan.c has validated. Both
 * walk bytes with the helpers below, static inline so that each half keeps
 * them in its hot loops. */
#include "spotify/json_scan.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef unsigned char uchar;

static inline int is_ws(uchar c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline int is_digit(uchar c)
{
    return c >= '0' && c <= '9';
}

static inline const uchar *skip_ws_run(const uchar *p, const uchar *end)
{
    while (p < end && is_ws(*p))
        p++;
    return p;
}

/* skip_ws: compact JSON (Spotify's) has no whitespace: one inline test for
 * the usual case, the loop only when there is some. */
static inline const uchar *skip_ws(const uchar *p, const uchar *end)
{
    return p < end && *p > ' ' ? p : skip_ws_run(p, end);
}

/* load8 reads 8 bytes at p, any alignment. */
static inline uint64_t load8(const uchar *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof v);
    return v;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

#ifdef __SSE2__
#include <emmintrin.h>

/* sse_mask: the bit i set for each byte p[i] (of 16) that is '"' or '\\',
 * or (ctrl) < 0x20 unsigned: those end a run of plain string bytes. Every
 * x86-64 has SSE2: twice the bytes of a SWAR word, and exact. */
static inline unsigned sse_mask(const uchar *p, int ctrl)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));

    /* v <= 0x1f unsigned: the max of v and 0x1f is 0x1f */
    if (ctrl)
        m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1f)), _mm_set1_epi8(0x1f)));
    return (unsigned)_mm_movemask_epi8(m);
}

/* sse_skip: p advanced 16 bytes at a time while 16 are left before end and
 * none of them is flagged by sse_mask, then to the first flagged one if
 * there is: the caller tells which by looking at the byte it returns. */
static inline const uchar *sse_skip(const uchar *p, const uchar *end, int ctrl)
{
    for (; end - p >= 16; p += 16) {
        unsigned m = sse_mask(p, ctrl);

        if (m)
            return p + __builtin_ctz(m);
    }
    return p;
}
#endif

/* SWAR_FIRST: the first flagged byte of a nonzero mask from swar_stops
 * (json_scan.c), or from the same test on other bytes (json_read.c), is the
 * one at p + SWAR_FIRST(m), where bytes load little-endian; elsewhere 0, and
 * the byte loop after finds it. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR_FIRST(m) ((size_t)__builtin_ctzll(m) / 8)
#else
#define SWAR_FIRST(m) ((size_t)0 * (m))
#endif

static inline enum js_type type_at(uchar c)
{
    switch (c) {
    case '{': return JS_OBJECT;
    case '[': return JS_ARRAY;
    case '"': return JS_STRING;
    case 't': return JS_TRUE;
    case 'f': return JS_FALSE;
    case 'n': return JS_NULL;
    default: return JS_NUMBER;
    }
}

/* js_key_eq compares the raw member name k[0..kn) (between its quotes) with
 * want (wn bytes), as cJSON would after unescaping: up to an escaped NUL.
 * 1 equal, 0 not (json_read.c). */
int js_key_eq(const char *k, size_t kn, const char *want, size_t wn);

#endif
