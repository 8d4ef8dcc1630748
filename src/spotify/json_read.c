/* json_read.c: reading text json_scan.c has validated (the contract is in
 * include/spotify/json_scan.h): member lookups, array iteration, string
 * unescaping and numbers. The text is known to be well formed, so these
 * need no checks beyond finding where each value ends. */
#include "json_scan_int.h"
#include "base/codec.h"

#include <locale.h>
#include <math.h>
#include <stdlib.h>

/* Everything below reads text js_parse accepted: every string is closed,
 * every container balanced, every escape well formed. */

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

/* js_key_eq: json_scan_int.h. */
int js_key_eq(const char *k, size_t kn, const char *want, size_t wn)
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

            if (out[i].type == JS_NONE && js_key_eq(k, (size_t)(ke - k), keys[i], wn)) {
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
