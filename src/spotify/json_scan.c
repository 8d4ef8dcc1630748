/* json_scan.c: a strict, non-allocating JSON scanner (the contract is in
 * include/spotify/json_scan.h). Validation is one forward pass, a goto state machine
 * with a bit stack for the open containers, that can pick out wanted
 * members on the way (js_parse_fields); lookups re-walk text already
 * validated, so they need no checks beyond finding where each value ends.
 * Strings are crossed eight bytes at a time (SWAR) where no byte needs a
 * look. */
#include "spotify/json_scan.h"
#include "base/codec.h"

#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned char uchar;

/* Byte classes for the string loop: 0 plain, 1 stop ('"', '\\' or < 0x20). */
static const uchar str_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, ['\\'] = 1,
};

static int is_ws(uchar c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static int is_digit(uchar c)
{
    return c >= '0' && c <= '9';
}

static const uchar *skip_ws_run(const uchar *p, const uchar *end)
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

/* hex4 reads four hex digits at p (the caller checked they are there);
 * -1 if one is not a hex digit. */
static long hex4(const uchar *p)
{
    long v = 0;

    for (int i = 0; i < 4; i++) {
        int h = codec_hex_digit(p[i]);

        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* hex4_at reads four hex digits at p, before end: -1 if a byte there is not
 * one, -2 if the text ends first. */
static long hex4_at(const uchar *p, const uchar *end)
{
    long v = 0;

    for (int i = 0; i < 4; i++) {
        int h;

        if (p + i >= end)
            return -2;
        h = codec_hex_digit(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* load8 reads 8 bytes at p, any alignment. */
static uint64_t load8(const uchar *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof v);
    return v;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* swar_stops: the high bit of each byte of w that ends a run of plain
 * string bytes ('"', '\\' or < 0x20) is set, and maybe of bytes after
 * it. The classic has-zero-byte test on w ^ '"', w ^ '\\', and its
 * has-less-than-0x20 variant: exact as to whether one exists, and the
 * lowest bit set is the first such byte (a borrow only spills upward). */
static uint64_t swar_stops(uint64_t w)
{
    uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');

    return (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w)) & HIGHS;
}

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
 * (or from the same test on other bytes) is the one at p + SWAR_FIRST(m),
 * where bytes load little-endian; elsewhere 0, and the byte loop after
 * finds it. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR_FIRST(m) ((size_t)__builtin_ctzll(m) / 8)
#else
#define SWAR_FIRST(m) ((size_t)0 * (m))
#endif

/* ------------------------------------------------------------ validate */

struct scan {
    const uchar *base, *end;
    struct js_error *e;
    int escaped;     /* scan_str met a backslash since this was last cleared */
};

static const uchar *fail(struct scan *s, enum js_err code, const uchar *at)
{
    if (s->e != NULL) {
        s->e->code = code;
        s->e->off = (size_t)(at - s->base);
    }
    return NULL;
}

/* scan_str_run is scan_str's loop: every string that scan_str's first
 * look does not settle. */
static const uchar *scan_str_run(struct scan *s, const uchar *p)
{
    const uchar *end = s->end;

    for (;;) {
        /* Sixteen or eight bytes at a time while none of them needs a
         * look; then straight to the first that does. */
#ifdef __SSE2__
        p = sse_skip(p, end, 1);
        if (p < end && str_stop[*p])
            goto look;
#endif
        while (end - p >= 8) {
            uint64_t m = swar_stops(load8(p));

            if (m) {
                p += SWAR_FIRST(m);
                break;
            }
            p += 8;
        }
        while (p < end && !str_stop[*p])
            p++;
#ifdef __SSE2__
    look:
#endif
        if (p >= end)
            return fail(s, JS_E_END, end);
        if (*p == '"')
            return p + 1;
        if (*p < 0x20)
            return fail(s, JS_E_CTRL, p);
        /* a backslash */
        s->escaped = 1;
        if (end - p < 2)
            return fail(s, JS_E_END, end);
        switch (p[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            p += 2;
            continue;
        case 'u':
            break;
        default:
            return fail(s, JS_E_ESCAPE, p);
        }
        long cp = hex4_at(p + 2, end);
        if (cp == -2)
            return fail(s, JS_E_END, end);
        if (cp < 0)
            return fail(s, JS_E_HEX, p);
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail(s, JS_E_SURROGATE, p);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            /* A high surrogate must be followed by an escaped low one. */
            long lo;

            if (end - p < 8)
                return end - p == 6 || p[6] == '\\' ? fail(s, JS_E_END, end)
                                                      : fail(s, JS_E_SURROGATE, p);
            if (p[6] != '\\' || p[7] != 'u')
                return fail(s, JS_E_SURROGATE, p);
            lo = hex4_at(p + 8, end);
            if (lo == -2)
                return fail(s, JS_E_END, end);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return fail(s, JS_E_SURROGATE, p);
            p += 12;
        } else {
            p += 6;
        }
    }
}

/* scan_str checks a string whose opening quote is just before p; returns
 * the byte after its closing quote, or NULL. Most strings (member names,
 * ids) close within 16 bytes with nothing to look at: one look, inline;
 * the rest go through the loop. */
static inline const uchar *scan_str(struct scan *s, const uchar *p)
{
#ifdef __SSE2__
    if (s->end - p >= 16) {
        unsigned m = sse_mask(p, 1);

        if (m && p[__builtin_ctz(m)] == '"')
            return p + __builtin_ctz(m) + 1;
    }
#endif
    return scan_str_run(s, p);
}

/* scan_digits checks the one-or-more digits at q, of the number that
 * starts at num (for the error offset). */
static const uchar *scan_digits(struct scan *s, const uchar *q, const uchar *num)
{
    if (q >= s->end)
        return fail(s, JS_E_END, s->end);
    if (!is_digit(*q))
        return fail(s, JS_E_NUMBER, num);
    while (q < s->end && is_digit(*q))
        q++;
    return q;
}

/* scan_num checks the number starting at p (a '-' or a digit). */
static const uchar *scan_num(struct scan *s, const uchar *p)
{
    const uchar *q = p, *end = s->end;

    if (*q == '-')
        q++;
    if (q >= end)
        return fail(s, JS_E_END, end);
    if (*q == '0')
        q++;
    else if (is_digit(*q))
        while (q < end && is_digit(*q))
            q++;
    else
        return fail(s, JS_E_NUMBER, p);
    if (q < end && *q == '.' && (q = scan_digits(s, q + 1, p)) == NULL)
        return NULL;
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if ((q = scan_digits(s, q, p)) == NULL)
            return NULL;
    }
    /* "01", "1.", "1.5.2": name the number rather than the byte after it. */
    if (q < end && (is_digit(*q) || *q == '.' || *q == 'e' || *q == 'E' || *q == '+'
                    || *q == '-'))
        return fail(s, JS_E_NUMBER, p);
    return q;
}

static const uchar *scan_lit(struct scan *s, const uchar *p, const char *lit, size_t n)
{
    size_t have = (size_t)(s->end - p);

    if (have >= n && memcmp(p, lit, n) == 0)
        return p + n;
    if (have < n && memcmp(p, lit, have) == 0)
        return fail(s, JS_E_END, s->end);
    return fail(s, JS_E_CHAR, p);
}

static enum js_type type_at(uchar c)
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

/* The open containers, one bit each: 1 an object, 0 an array. */
struct nest {
    uint64_t bits[(JS_MAX_DEPTH + 63) / 64];
    int depth;
};

static int nest_push(struct nest *n, int is_obj)
{
    uint64_t bit = (uint64_t)1 << (n->depth % 64);

    if (n->depth >= JS_MAX_DEPTH)
        return -1;
    if (is_obj)
        n->bits[n->depth / 64] |= bit;
    else
        n->bits[n->depth / 64] &= ~bit;
    n->depth++;
    return 0;
}

static int nest_in_obj(const struct nest *n)
{
    return (int)(n->bits[(n->depth - 1) / 64] >> ((n->depth - 1) % 64) & 1);
}

/* fmatch is the member of the list fields named by the raw key k[0..kn)
 * (plain: it holds no escape) whose value is still to be found, or NULL. */
static const struct js_field *fmatch(const struct js_field *fields, const struct js_val *out,
                                     const char *k, size_t kn, int plain);

/* extract: js_parse_fields' bookkeeping. The objects whose members are
 * wanted are the innermost ones open, at depths 1..levels (the root is
 * depth 1); list[i] names what is wanted at depth i + 1, rec[i] is the slot
 * of a container being recorded as a member of that object (-1: none), and
 * pend the field whose value comes next. */
struct extract {
    struct js_val *out;
    const struct js_field *list[JS_FIELDS_DEPTH];
    int rec[JS_FIELDS_DEPTH];
    int levels;
    const struct js_field *pend;
};

/* ex_open: a container opens at p, becoming depth `depth`. */
static void ex_open(struct extract *x, const struct js_field *f, const uchar *p, int depth)
{
    if (f == NULL)
        return;
    if (f->slot >= 0)
        x->rec[x->levels - 1] = f->slot; /* a member of the innermost object */
    if (*p == '{' && f->sub != NULL && x->levels < JS_FIELDS_DEPTH && depth == x->levels + 1) {
        x->list[x->levels] = f->sub;
        x->rec[x->levels] = -1;
        x->levels++;
    }
}

/* ex_close: the container at depth `depth` closed; p is the byte after it. */
static void ex_close(struct extract *x, const uchar *p, int depth)
{
    if (x->levels == 0)
        return;
    if (depth == x->levels)
        x->levels--;
    if (x->levels > 0 && depth - 1 == x->levels && x->rec[x->levels - 1] >= 0) {
        struct js_val *v = &x->out[x->rec[x->levels - 1]];

        v->n = (size_t)((const char *)p - v->p);
        x->rec[x->levels - 1] = -1;
    }
}

int js_parse_fields(const char *buf, size_t len, const struct js_field *fields,
                    struct js_val *out, size_t nout, struct js_val *root, struct js_error *e)
{
    const struct js_field top = {"", fields, -1};
    const struct js_field *f;
    struct extract x;
    struct nest nest;
    struct scan s;
    const uchar *p, *end, *start, *v;
    int obj = 0;   /* the innermost open container is an object (nest_in_obj, kept at hand) */

    if (buf == NULL)
        buf = "", len = 0;
    s.base = p = (const uchar *)buf;
    s.end = end = p + len;
    s.e = e;
    s.escaped = 0;
    nest.depth = 0;
    if (e != NULL) {
        e->code = JS_OK;
        e->off = 0;
    }
    for (size_t i = 0; i < nout; i++) {
        out[i].p = NULL;
        out[i].n = 0;
        out[i].type = JS_NONE;
    }
    x.out = out;
    x.levels = 0;
    x.pend = fields != NULL ? &top : NULL;
    if (len >= 5 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    p = skip_ws(p, end);
    start = p;

    /* A goto state machine: value -> after -> (key -> value | after | done). */
value:
    if (p >= end)
        return fail(&s, JS_E_END, end), -1;
    f = x.pend;
    x.pend = NULL;
    if (f != NULL && f->slot >= 0) {
        out[f->slot].p = (const char *)p;
        out[f->slot].type = type_at(*p);
    }
    v = p;
    switch (*p) {
    case '{':
    case '[':
        obj = *p == '{';
        if (nest_push(&nest, obj) < 0)
            return fail(&s, JS_E_DEPTH, p), -1;
        ex_open(&x, f, p, nest.depth);
        p = skip_ws(p + 1, end);
        if (p < end && *p == (obj ? '}' : ']'))
            goto close;
        if (obj)
            goto key;
        goto value;
    case '"':
        p = scan_str(&s, p + 1);
        break;
    case 't':
        p = scan_lit(&s, p, "true", 4);
        break;
    case 'f':
        p = scan_lit(&s, p, "false", 5);
        break;
    case 'n':
        p = scan_lit(&s, p, "null", 4);
        break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        p = scan_num(&s, p);
        break;
    default:
        return fail(&s, JS_E_CHAR, p), -1;
    }
    if (p == NULL)
        return -1;
    if (f != NULL && f->slot >= 0)
        out[f->slot].n = (size_t)(p - v);

after:
    if (nest.depth == 0)
        goto done;
    p = skip_ws(p, end);
    if (p >= end)
        return fail(&s, JS_E_END, end), -1;
    if (*p == (obj ? '}' : ']'))
        goto close;
    if (*p != ',')
        return fail(&s, JS_E_CHAR, p), -1;
    p = skip_ws(p + 1, end);
    if (!obj)
        goto value;

key:
    if (p >= end)
        return fail(&s, JS_E_END, end), -1;
    if (*p != '"')
        return fail(&s, JS_E_CHAR, p), -1;
    v = p + 1;
    s.escaped = 0;
    p = scan_str(&s, v);
    if (p == NULL)
        return -1;
    if (x.levels > 0 && nest.depth == x.levels)
        x.pend = fmatch(x.list[x.levels - 1], out, (const char *)v, (size_t)(p - 1 - v),
                        !s.escaped);
    p = skip_ws(p, end);
    if (p >= end)
        return fail(&s, JS_E_END, end), -1;
    if (*p != ':')
        return fail(&s, JS_E_CHAR, p), -1;
    p = skip_ws(p + 1, end);
    goto value;

close:
    p++;
    ex_close(&x, p, nest.depth);
    nest.depth--;
    obj = nest.depth > 0 && nest_in_obj(&nest);
    goto after;

done:
    if (skip_ws(p, end) != end)
        return fail(&s, JS_E_TRAILING, p), -1;
    if (root != NULL) {
        root->p = (const char *)start;
        root->n = (size_t)(p - start);
        root->type = type_at(*start);
    }
    return 0;
}

int js_parse(const char *buf, size_t len, struct js_val *root, struct js_error *e)
{
    return js_parse_fields(buf, len, NULL, NULL, 0, root, e);
}

const char *js_strerror(enum js_err code)
{
    switch (code) {
    case JS_OK: return "no error";
    case JS_E_END: return "unexpected end";
    case JS_E_CHAR: return "unexpected character";
    case JS_E_CTRL: return "control character in string";
    case JS_E_ESCAPE: return "bad escape";
    case JS_E_HEX: return "bad \\u escape";
    case JS_E_SURROGATE: return "unpaired surrogate";
    case JS_E_NUMBER: return "bad number";
    case JS_E_DEPTH: return "nested too deep";
    case JS_E_TRAILING: return "trailing data";
    }
    return "unknown error";
}

/* ---------------------------------------------------- validated text */

/* Past this point the text is known to be valid: every string is closed,
 * every container balanced, every escape well formed. */

/* str_end returns the closing quote of the string whose content starts at
 * p: the first '"' not escaped. end bounds the reads: the string closes
 * before it. */
static const char *str_end(const char *p, const char *end)
{
    for (;;) {
#ifdef __SSE2__
        p = (const char *)sse_skip((const uchar *)p, (const uchar *)end, 0);
        if (p < end && (*p == '"' || *p == '\\'))
            goto look;
#endif
        while (end - p >= 8) {
            uint64_t w = load8((const uchar *)p), q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');

            uint64_t m = (((q - ONES) & ~q) | ((b - ONES) & ~b)) & HIGHS;

            if (m) {
                p += SWAR_FIRST(m);
                break;
            }
            p += 8;
        }
#ifdef __SSE2__
    look:
#endif
        if (*p == '"')
            return p;
        p += *p == '\\' ? 2 : 1;
    }
}

/* skip_val returns the byte after the value starting at p (before end). */
static const char *skip_val(const char *p, const char *end)
{
    int depth = 0;

    switch (*p) {
    case '"':
        return str_end(p + 1, end) + 1;
    case '{':
    case '[':
        break;
    case 't':
    case 'n':
        return p + 4;
    case 'f':
        return p + 5;
    default:
        p++;
        while (is_digit((uchar)*p) || *p == '.' || *p == 'e' || *p == 'E' || *p == '+'
               || *p == '-')
            p++;
        return p;
    }
    for (;;) {
        /* Eight bytes at a time while none is '"' or a bracket: '[' and '{'
         * (']' and '}') differ only in bit 5. */
        while (end - p >= 8) {
            uint64_t w = load8((const uchar *)p), y = w | (ONES * 0x20);
            uint64_t q = w ^ (ONES * '"'), o = y ^ (ONES * '{'), c = y ^ (ONES * '}');

            uint64_t m = (((q - ONES) & ~q) | ((o - ONES) & ~o) | ((c - ONES) & ~c)) & HIGHS;

            if (m) {
                p += SWAR_FIRST(m);
                break;
            }
            p += 8;
        }
        switch (*p++) {
        case '"':
            p = str_end(p, end) + 1;
            break;
        case '{':
        case '[':
            depth++;
            break;
        case '}':
        case ']':
            if (--depth == 0)
                return p;
            break;
        default:
            break;
        }
    }
}

/* put_utf8 writes code point cp (<= 0x10FFFF) and returns the bytes used. */
static size_t put_utf8(char *d, unsigned long cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | cp >> 6);
        d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | cp >> 12);
        d[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | cp >> 18);
    d[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    d[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* unescape_one decodes the escape at p (a backslash in validated text) into
 * d; sets *used to the bytes read and returns the bytes written. */
static size_t unescape_one(const char *p, char *d, size_t *used)
{
    unsigned long cp;

    *used = 2;
    switch (p[1]) {
    case 'b': *d = '\b'; return 1;
    case 'f': *d = '\f'; return 1;
    case 'n': *d = '\n'; return 1;
    case 'r': *d = '\r'; return 1;
    case 't': *d = '\t'; return 1;
    case 'u': break;
    default: *d = p[1]; return 1; /* '"', '\\', '/' */
    }
    cp = (unsigned long)hex4((const uchar *)p + 2);
    *used = 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        cp = 0x10000 + ((cp & 0x3FF) << 10 | ((unsigned long)hex4((const uchar *)p + 8) & 0x3FF));
        *used = 12;
    }
    return put_utf8(d, cp);
}

/* key_eq compares the raw member name k[0..kn) (between its quotes) with
 * want (wn bytes), as cJSON would after unescaping: up to an escaped NUL. */
static int key_eq(const char *k, size_t kn, const char *want, size_t wn)
{
    size_t i = 0, w = 0;

    if (memchr(k, '\\', kn) == NULL)
        return kn == wn && memcmp(k, want, wn) == 0;
    while (i < kn) {
        char buf[4];
        size_t n, used;

        if (k[i] != '\\') {
            if (w >= wn || k[i] != want[w])
                return 0;
            i++;
            w++;
            continue;
        }
        n = unescape_one(k + i, buf, &used);
        if (buf[0] == '\0')
            return w == wn;       /* cJSON's copy of the name ends here */
        if (n > wn - w || memcmp(want + w, buf, n) != 0)
            return 0;
        w += n;
        i += used;
    }
    return w == wn;
}

static const struct js_field *fmatch(const struct js_field *fields, const struct js_val *out,
                                     const char *k, size_t kn, int plain)
{
    char k0 = kn > 0 ? k[0] : '\0';

    for (; fields->name != NULL; fields++) {
        if (!plain) {
            if (out[fields->slot].type == JS_NONE && key_eq(k, kn, fields->name, strlen(fields->name)))
                return fields;
        } else if (fields->name[0] == k0 && strncmp(fields->name, k, kn) == 0 && fields->name[kn] == '\0') {
            /* most keys differ in their first byte: that test first */
            if (out[fields->slot].type == JS_NONE)
                return fields;
        }
    }
    return NULL;
}

size_t js_lookup(const struct js_val *obj, const char *const *keys, size_t nkeys,
                 struct js_val *out)
{
    size_t wlen[16], found = 0, i;
    const char *p, *end;

    for (i = 0; i < nkeys; i++) {
        out[i].p = NULL;
        out[i].n = 0;
        out[i].type = JS_NONE;
        if (i < sizeof wlen / sizeof wlen[0])
            wlen[i] = strlen(keys[i]);
    }
    if (obj == NULL || obj->type != JS_OBJECT || nkeys == 0)
        return 0;
    p = obj->p + 1;
    end = obj->p + obj->n - 1; /* the closing brace */
    for (;;) {
        const char *k, *ke, *v, *ve;

        p = (const char *)skip_ws((const uchar *)p, (const uchar *)end);
        if (p >= end)
            return found;
        k = p + 1;
        ke = str_end(k, end);
        p = (const char *)skip_ws((const uchar *)ke + 1, (const uchar *)end) + 1; /* ':' */
        v = (const char *)skip_ws((const uchar *)p, (const uchar *)end);
        ve = skip_val(v, end + 1);
        for (i = 0; i < nkeys; i++) {
            size_t wn = i < sizeof wlen / sizeof wlen[0] ? wlen[i] : strlen(keys[i]);

            if (out[i].type == JS_NONE && key_eq(k, (size_t)(ke - k), keys[i], wn)) {
                out[i].p = v;
                out[i].n = (size_t)(ve - v);
                out[i].type = type_at((uchar)*v);
                if (++found == nkeys)
                    return found;
                break;
            }
        }
        p = (const char *)skip_ws((const uchar *)ve, (const uchar *)end);
        if (p < end && *p == ',')
            p++;
    }
}

static void lookup_fields(const struct js_val *obj, const struct js_field *fields,
                          struct js_val *out, int level)
{
    const char *names[16] = {NULL};
    struct js_val v[16];
    size_t n = 0, i;

    for (i = 0; fields[i].name != NULL; i++) {
        out[fields[i].slot].p = NULL;
        out[fields[i].slot].n = 0;
        out[fields[i].slot].type = JS_NONE;
        if (n < 16)
            names[n++] = fields[i].name;
    }
    js_lookup(obj, names, n, v);
    for (i = 0; i < n; i++) {
        out[fields[i].slot] = v[i];
        /* As js_parse_fields: lists nest at most JS_FIELDS_DEPTH deep. */
        if (fields[i].sub != NULL && level < JS_FIELDS_DEPTH)
            lookup_fields(&v[i], fields[i].sub, out, level + 1);
    }
}

void js_lookup_fields(const struct js_val *obj, const struct js_field *fields, struct js_val *out)
{
    lookup_fields(obj, fields, out, 1);
}

void js_iter_init(struct js_iter *it, const struct js_val *arr)
{
    if (arr == NULL || arr->type != JS_ARRAY) {
        it->p = it->end = NULL;
        return;
    }
    it->p = arr->p + 1;
    it->end = arr->p + arr->n - 1;
}

int js_iter_next(struct js_iter *it, struct js_val *out)
{
    const char *p = it->p, *ve;

    if (p == NULL)
        return 0;
    p = (const char *)skip_ws((const uchar *)p, (const uchar *)it->end);
    if (p >= it->end)
        return 0;
    ve = skip_val(p, it->end + 1);
    out->p = p;
    out->n = (size_t)(ve - p);
    out->type = type_at((uchar)*p);
    p = (const char *)skip_ws((const uchar *)ve, (const uchar *)it->end);
    if (p < it->end && *p == ',')
        p++;
    it->p = p;
    return 1;
}

size_t js_str_unescape(const struct js_val *s, char *dst)
{
    const char *p = s->p + 1, *end = s->p + s->n - 1; /* between the quotes */
    char *d = dst;

    while (p < end) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        size_t plain = (size_t)((bs ? bs : end) - p), used;

        memcpy(d, p, plain);
        d += plain;
        if (bs == NULL)
            break;
        d += unescape_one(bs, d, &used);
        p = bs + used;
    }
    *d = '\0';
    return (size_t)(d - dst);
}

double js_number(const struct js_val *v)
{
    const char *p = v->p;
    size_t n = v->n, i = 0;
    char small[64], *buf = small;
    int neg = 0;
    double d;

    /* Fast path: up to 15 digits is exact in a double, as strtod gives. */
    if (n > 0 && p[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (n - i >= 1 && n - i <= 15) {
        uint64_t u = 0;
        size_t j;

        for (j = i; j < n && is_digit((uchar)p[j]); j++)
            u = u * 10 + (uint64_t)(p[j] - '0');
        if (j == n) {
            d = (double)u;
            return neg ? -d : d;
        }
    }
    if (n >= sizeof small) {
        buf = malloc(n + 1);
        if (buf == NULL)
            return NAN;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    /* strtod reads the locale's decimal point: give it that one, as cJSON
     * does, so a program that calls setlocale still reads "1.5" right. */
    {
        const char *dp = localeconv()->decimal_point;
        char *dot = memchr(buf, '.', n);

        if (dot != NULL && dp != NULL && dp[0] != '\0' && dp[1] == '\0')
            *dot = dp[0];
    }
    d = strtod(buf, NULL);
    if (buf != small)
        free(buf);
    return d;
}
