/* json_scan.c: a strict, non-allocating JSON scanner (the contract is in
 * include/spotify/json_scan.h), its validating half. Validation is one
 * forward pass, a goto state machine with a bit stack for the open
 * containers, that can pick out wanted members on the way
 * (js_parse_fields). Strings are crossed sixteen (SSE2) or eight (SWAR)
 * bytes at a time where no byte needs a look. Reading the validated text
 * (lookups, arrays, strings, numbers) is json_read.c's. */
#include "json_scan_int.h"
#include "base/codec.h"

/* Byte classes for the string loop: 0 plain, 1 stop ('"', '\\' or < 0x20). */
static const uchar str_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, ['\\'] = 1,
};

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
                                     const char *k, size_t kn, int plain)
{
    char k0 = kn > 0 ? k[0] : '\0';

    for (; fields->name != NULL; fields++) {
        if (!plain) {
            if (out[fields->slot].type == JS_NONE && js_key_eq(k, kn, fields->name, strlen(fields->name)))
                return fields;
        } else if (fields->name[0] == k0 && strncmp(fields->name, k, kn) == 0 && fields->name[kn] == '\0') {
            /* most keys differ in their first byte: that test first */
            if (out[fields->slot].type == JS_NONE)
                return fields;
        }
    }
    return NULL;
}

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
