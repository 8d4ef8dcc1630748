/* test_jscan: the strict JSON scanner: what it accepts and rejects (with
 * the error and its offset), the nesting bound, unescaping (\u surrogate
 * pairs included), member lookup, array iteration and number values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spotify/json_scan.h"

static struct js_val parse_ok(const char *text)
{
    struct js_val v;
    struct js_error e;

    if (js_parse(text, strlen(text), &v, &e) != 0)
        fail_msg("rejected %s: %s at %zu", text, js_strerror(e.code), e.off);
    assert_int_equal(e.code, JS_OK);
    return v;
}

static void parse_bad(const char *text, size_t len, enum js_err code, size_t off)
{
    struct js_val v;
    struct js_error e;

    if (js_parse(text, len, &v, &e) != -1)
        fail_msg("accepted %.*s", (int)len, text);
    if (e.code != code || e.off != off)
        fail_msg("%.*s: got %s at %zu, want %s at %zu", (int)len, text, js_strerror(e.code),
                 e.off, js_strerror(code), off);
}

#define BAD(text, code, off) parse_bad(text, sizeof(text) - 1, code, off)

/* ------------------------------------------------------------ validate */

static void test_accepts(void **st)
{
    static const char *const good[] = {
        "{}", "[]", "0", "-0", "1.5", "-12.5e+3", "1E-7", "1e5", "true", "false", "null",
        "\"\"", "\"plain\"", " \t\r\n{ \"a\" : [ 1 , 2 , { } , [ ] ] , \"b\" : null } \n",
        "{\"\":\"\"}", "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\uD83D\\uDE00\"]",
        "\"caf\xc3\xa9\"", "\"\xff\xfe bytes >= 0x80 pass through\"",
        "{\"a\":{\"b\":{\"c\":[[[\"deep\"]]]}}}", "123456789012345678901234567890",
        "\xEF\xBB\xBF{}", /* a byte order mark */
    };
    struct js_val v;
    size_t i;
    (void)st;

    for (i = 0; i < sizeof good / sizeof good[0]; i++)
        parse_ok(good[i]);
    v = parse_ok("  {\"a\":1}  ");
    assert_int_equal(v.type, JS_OBJECT);
    assert_int_equal(v.n, 7);
    assert_memory_equal(v.p, "{\"a\":1}", 7);
    assert_int_equal(parse_ok("\"s\"").type, JS_STRING);
    assert_int_equal(parse_ok("[1]").type, JS_ARRAY);
    assert_int_equal(parse_ok("-1").type, JS_NUMBER);
    assert_int_equal(parse_ok("true").type, JS_TRUE);
    assert_int_equal(parse_ok("false").type, JS_FALSE);
    assert_int_equal(parse_ok("null").type, JS_NULL);
}

static void test_rejects(void **st)
{
    (void)st;

    BAD("", JS_E_END, 0);
    BAD("   ", JS_E_END, 3);
    BAD("{", JS_E_END, 1);
    BAD("{\"a\"", JS_E_END, 4);
    BAD("{\"a\":", JS_E_END, 5);
    BAD("{\"a\":1", JS_E_END, 6);
    BAD("[1,", JS_E_END, 3);
    BAD("\"abc", JS_E_END, 4);
    BAD("\"abc\\", JS_E_END, 5);
    BAD("tru", JS_E_END, 3);
    BAD("trUe", JS_E_CHAR, 0);
    BAD("nul", JS_E_END, 3);
    BAD("{,}", JS_E_CHAR, 1);
    BAD("{\"a\":1,}", JS_E_CHAR, 7);
    BAD("[1,]", JS_E_CHAR, 3);
    BAD("[1 2]", JS_E_CHAR, 3);
    BAD("{\"a\" 1}", JS_E_CHAR, 5);
    BAD("{a:1}", JS_E_CHAR, 1);
    BAD("{'a':1}", JS_E_CHAR, 1);
    BAD("[}", JS_E_CHAR, 1);
    BAD("{]", JS_E_CHAR, 1);
    BAD("+1", JS_E_CHAR, 0);
    BAD(".5", JS_E_CHAR, 0);
    BAD("NaN", JS_E_CHAR, 0);
    BAD("[Infinity]", JS_E_CHAR, 1);
    BAD("\x80", JS_E_CHAR, 0);
    /* Whitespace is space, tab, CR and LF only (cJSON took any byte <= 32). */
    BAD("{\x0b}", JS_E_CHAR, 1);
    BAD("\x0c[]", JS_E_CHAR, 0);
    BAD("[1,\x01 2]", JS_E_CHAR, 3);
    /* Raw control bytes in strings, tab and newline included. */
    BAD("\"a\tb\"", JS_E_CTRL, 2);
    BAD("\"a\nb\"", JS_E_CTRL, 2);
    parse_bad("\"a\0b\"", 5, JS_E_CTRL, 2);
    BAD("\"\x1f\"", JS_E_CTRL, 1);
    /* Numbers: RFC 8259's grammar exactly. */
    BAD("01", JS_E_NUMBER, 0);
    BAD("[-01]", JS_E_NUMBER, 1);
    BAD("1.", JS_E_END, 2);
    BAD("[1.]", JS_E_NUMBER, 1);
    BAD("[-.5]", JS_E_NUMBER, 1);
    BAD("[1.e5]", JS_E_NUMBER, 1);
    BAD("[1e]", JS_E_NUMBER, 1);
    BAD("[1e+]", JS_E_NUMBER, 1);
    BAD("[-]", JS_E_NUMBER, 1);
    BAD("[1.5.2]", JS_E_NUMBER, 1);
    BAD("[1-2]", JS_E_NUMBER, 1);
    BAD("[0x10]", JS_E_CHAR, 2);
    /* Trailing data: the offset is the end of the value. */
    BAD("{} x", JS_E_TRAILING, 2);
    BAD("{}{}", JS_E_TRAILING, 2);
    BAD("1 2", JS_E_TRAILING, 1);
    parse_bad("{}\0", 3, JS_E_TRAILING, 2);
    /* The length is what counts, not a NUL; bytes past it are not read. */
    {
        struct js_val v;

        assert_int_equal(js_parse("{}garbage", 2, &v, NULL), 0);
        assert_int_equal(v.n, 2);
        assert_int_equal(js_parse("[1,2]", 4, &v, NULL), -1);
        assert_int_equal(js_parse(NULL, 0, &v, NULL), -1);
    }
    /* A byte order mark only at the very start, and only once. */
    BAD(" \xEF\xBB\xBF{}", JS_E_CHAR, 1);
    BAD("\xEF\xBB\xBF\xEF\xBB\xBF{}", JS_E_CHAR, 3);
}

static void test_escapes_invalid(void **st)
{
    (void)st;

    BAD("\"\\x\"", JS_E_ESCAPE, 1);
    BAD("\"\\U0041\"", JS_E_ESCAPE, 1);
    BAD("\"\\'\"", JS_E_ESCAPE, 1);
    BAD("\"ab\\u00zz\"", JS_E_HEX, 3);
    BAD("\"\\uZZZZ\"", JS_E_HEX, 1);
    BAD("\"\\u12\"", JS_E_HEX, 1);
    BAD("\"\\u12", JS_E_END, 5);
    /* Surrogates: a low one alone, a high one alone or before a non-low. */
    BAD("\"\\uDC00\"", JS_E_SURROGATE, 1);
    BAD("\"\\uDFFF\"", JS_E_SURROGATE, 1);
    BAD("\"\\uD800\"", JS_E_SURROGATE, 1);
    BAD("\"x\\uD800y\"", JS_E_SURROGATE, 2);
    BAD("\"\\uD800abcdefgh\"", JS_E_SURROGATE, 1);
    BAD("\"\\uD800\\n\\u0041\"", JS_E_SURROGATE, 1);
    BAD("\"\\uD800\\u0041\"", JS_E_SURROGATE, 1);
    BAD("\"\\uD800\\uD800\"", JS_E_SURROGATE, 1);
    BAD("\"\\uD800\\uDBFF\"", JS_E_SURROGATE, 1);
    BAD("\"\\uD800\\uZZZZ\"", JS_E_SURROGATE, 1);
    BAD("\"\\uDBFF\\uE000\"", JS_E_SURROGATE, 1);
    BAD("\"\\uD800\\u", JS_E_END, 9);
}

static void test_nesting_bound(void **st)
{
    static char buf[200000];
    struct js_val v;
    struct js_error e;
    int d;
    (void)st;

    /* JS_MAX_DEPTH containers are fine, one more is not, arrays and
     * objects alike, at once (no recursion, no scan of the rest). */
    for (d = JS_MAX_DEPTH - 1; d <= JS_MAX_DEPTH + 1; d++) {
        memset(buf, '[', (size_t)d);
        memset(buf + d, ']', (size_t)d);
        assert_int_equal(js_parse(buf, 2 * (size_t)d, &v, &e), d <= JS_MAX_DEPTH ? 0 : -1);
        if (d > JS_MAX_DEPTH) {
            assert_int_equal(e.code, JS_E_DEPTH);
            assert_int_equal(e.off, JS_MAX_DEPTH);
        }
    }
    for (d = JS_MAX_DEPTH - 1; d <= JS_MAX_DEPTH + 1; d++) {
        size_t n = 0;

        for (int i = 0; i < d; i++) {
            memcpy(buf + n, "{\"k\":", 5);
            n += 5;
        }
        buf[n++] = '1';
        memset(buf + n, '}', (size_t)d);
        n += (size_t)d;
        assert_int_equal(js_parse(buf, n, &v, &e), d <= JS_MAX_DEPTH ? 0 : -1);
        if (d > JS_MAX_DEPTH)
            assert_int_equal(e.code, JS_E_DEPTH);
    }
    /* Unbalanced but deep: still a clean error. */
    memset(buf, '[', sizeof buf);
    assert_int_equal(js_parse(buf, sizeof buf, &v, &e), -1);
    assert_int_equal(e.code, JS_E_DEPTH);
    /* Depth goes back down: many shallow containers in a row are fine. */
    {
        size_t n = 0;

        buf[n++] = '[';
        for (int i = 0; i < 5000; i++) {
            memcpy(buf + n, "[[]],", 5);
            n += 5;
        }
        buf[n - 1] = ']';
        assert_int_equal(js_parse(buf, n, &v, &e), 0);
    }
}

/* ------------------------------------------------------------ unescape */

static size_t unescape(const char *json, char *out)
{
    struct js_val v = parse_ok(json);

    assert_int_equal(v.type, JS_STRING);
    return js_str_unescape(&v, out);
}

static void test_unescape(void **st)
{
    char out[256];
    size_t n;
    (void)st;

    n = unescape("\"plain text\"", out);
    assert_int_equal(n, 10);
    assert_string_equal(out, "plain text");
    n = unescape("\"\"", out);
    assert_int_equal(n, 0);
    assert_string_equal(out, "");
    n = unescape("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", out);
    assert_int_equal(n, 8);
    assert_memory_equal(out, "\"\\/\b\f\n\r\t", 9);
    /* \u: 1, 2 and 3 UTF-8 bytes; upper and lower case hex. */
    n = unescape("\"\\u0041\\u00e9\\u00E9\\u20ac\\uFFFF\"", out);
    assert_int_equal(n, 1 + 2 + 2 + 3 + 3);
    assert_memory_equal(out, "A\xc3\xa9\xc3\xa9\xe2\x82\xac\xef\xbf\xbf", n);
    /* Surrogate pairs: 4 bytes, the lowest and highest planes. */
    n = unescape("\"\\uD83D\\uDE00|\\ud800\\udc00|\\uDBFF\\uDFFF\"", out);
    assert_int_equal(n, 14);
    assert_memory_equal(out, "\xf0\x9f\x98\x80|\xf0\x90\x80\x80|\xf4\x8f\xbf\xbf", n);
    /* An escaped NUL is a byte like any other here. */
    n = unescape("\"a\\u0000b\"", out);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "a\0b", 4);
    /* Raw UTF-8 and escapes mixed. */
    n = unescape("\"caf\xc3\xa9 \\\"x\\\"\"", out);
    assert_string_equal(out, "caf\xc3\xa9 \"x\"");
    /* The worst case fits in n - 1 bytes: "\uD83D\uDE00" is 14 raw, 4 out. */
    {
        struct js_val v = parse_ok("\"\\/\"");
        char two[2];

        assert_int_equal(js_str_unescape(&v, two), 1);
        assert_string_equal(two, "/");
    }
}

/* -------------------------------------------------------------- lookup */

static void test_lookup(void **st)
{
    static const char *const keys[] = {"a", "b", "missing", "nested", "list", "é", "q\""};
    const char *doc = "{ \"b\" : \"B\", \"nested\":{\"a\":\"inner\",\"x\":[{\"a\":1}]},"
                      "\"a\":1, \"a\":2, \"list\":[1,\"]\",{\"}\":\"\\\"}\"}],"
                      "\"\\u00e9\":true, \"q\\\"\":null }";
    struct js_val root = parse_ok(doc), v[7], in;
    (void)st;

    assert_int_equal(js_lookup(&root, keys, 7, v), 6);
    assert_int_equal(v[0].type, JS_NUMBER); /* the first "a", not a nested one */
    assert_memory_equal(v[0].p, "1", 1);
    assert_int_equal(v[0].n, 1);
    assert_int_equal(v[1].type, JS_STRING);
    assert_memory_equal(v[1].p, "\"B\"", 3);
    assert_int_equal(v[2].type, JS_NONE);
    assert_null(v[2].p);
    assert_int_equal(v[3].type, JS_OBJECT);
    assert_int_equal(v[4].type, JS_ARRAY);
    assert_memory_equal(v[4].p, "[1,\"]\",{\"}\":\"\\\"}\"}]", v[4].n);
    assert_int_equal(v[5].type, JS_TRUE); /* an escaped name matches */
    assert_int_equal(v[6].type, JS_NULL);
    /* Inside the nested object. */
    js_lookup(&v[3], keys, 1, &in);
    assert_int_equal(in.type, JS_STRING);
    assert_memory_equal(in.p, "\"inner\"", 7);
    /* Not an object: nothing found. */
    assert_int_equal(js_lookup(&v[4], keys, 1, &in), 0);
    assert_int_equal(in.type, JS_NONE);
    assert_int_equal(js_lookup(NULL, keys, 1, &in), 0);
    root = parse_ok("{}");
    assert_int_equal(js_lookup(&root, keys, 2, v), 0);
    assert_int_equal(v[1].type, JS_NONE);
}

static void test_lookup_escaped_names(void **st)
{
    const char *key = "is_playing";
    struct js_val root, v;
    (void)st;

    /* Names are compared unescaped. */
    root = parse_ok("{\"is\\u005fplaying\":true}");
    js_lookup(&root, &key, 1, &v);
    assert_int_equal(v.type, JS_TRUE);
    root = parse_ok("{\"\\u0069s_playing\":1}");
    js_lookup(&root, &key, 1, &v);
    assert_int_equal(v.type, JS_NUMBER);
    /* As cJSON sees them: an escaped NUL ends the name. */
    root = parse_ok("{\"is_playing\\u0000junk\":false}");
    js_lookup(&root, &key, 1, &v);
    assert_int_equal(v.type, JS_FALSE);
    /* Near misses do not match. */
    root = parse_ok("{\"is_playin\":1,\"is_playingg\":1,\"is_playin\\u0067x\":1,"
                    "\"\\u0000is_playing\":1,\"IS_PLAYING\":1,\"is_play\\u0069n\":1}");
    assert_int_equal(js_lookup(&root, &key, 1, &v), 0);
    key = "";
    root = parse_ok("{\"\\u0000x\":7}");
    js_lookup(&root, &key, 1, &v);
    assert_int_equal(v.type, JS_NUMBER);
}

/* ------------------------------------------------------------ fields */

enum { A, B, C, C_X, C_Y, C_Y_Z, D, E, NSLOT };

static const struct js_field y_list[] = {{"z", NULL, C_Y_Z}, {NULL, NULL, 0}};
static const struct js_field c_list[] = {{"x", NULL, C_X}, {"y", y_list, C_Y}, {NULL, NULL, 0}};
static const struct js_field top_list[] = {
    {"a", NULL, A}, {"b", NULL, B}, {"c", c_list, C}, {"d", NULL, D}, {"", NULL, E},
    {NULL, NULL, 0},
};

static void want(const struct js_val *v, enum js_type type, const char *text)
{
    assert_int_equal(v->type, type);
    if (text == NULL) {
        assert_null(v->p);
        return;
    }
    if (v->n != strlen(text) || memcmp(v->p, text, v->n) != 0)
        fail_msg("got %.*s, want %s", (int)v->n, v->p, text);
}

/* fields_both runs js_parse_fields and js_lookup_fields on doc: the same. */
static void fields_both(const char *doc, struct js_val *v)
{
    struct js_val root, w[NSLOT];

    assert_int_equal(js_parse_fields(doc, strlen(doc), top_list, v, NSLOT, &root, NULL), 0);
    js_lookup_fields(&root, top_list, w);
    for (int i = 0; i < NSLOT; i++) {
        assert_int_equal(v[i].type, w[i].type);
        assert_int_equal(v[i].n, w[i].n);
        assert_ptr_equal(v[i].p, w[i].p);
    }
}

static void test_fields(void **st)
{
    struct js_val v[NSLOT];
    (void)st;

    fields_both(" { \"z\":[{\"a\":9}], \"a\" : 1 , \"b\":[1,[2,{\"a\":3}]], \"c\":{\"y\":{\"q\":{},"
                "\"z\":\"deep\"},\"x\":{}}, \"a\":2, \"\":null } ", v);
    want(&v[A], JS_NUMBER, "1");  /* the first "a", not the second nor a nested one */
    want(&v[B], JS_ARRAY, "[1,[2,{\"a\":3}]]");
    want(&v[C], JS_OBJECT, "{\"y\":{\"q\":{},\"z\":\"deep\"},\"x\":{}}");
    want(&v[C_X], JS_OBJECT, "{}");
    want(&v[C_Y], JS_OBJECT, "{\"q\":{},\"z\":\"deep\"}");
    want(&v[C_Y_Z], JS_STRING, "\"deep\"");
    want(&v[D], JS_NONE, NULL);
    want(&v[E], JS_NULL, "null");

    /* A sub list is searched in the first occurrence only, and only when
     * it is an object. */
    fields_both("{\"c\":[{\"x\":1}],\"c\":{\"x\":2}}", v);
    want(&v[C], JS_ARRAY, "[{\"x\":1}]");
    want(&v[C_X], JS_NONE, NULL);
    fields_both("{\"c\":{\"x\":1},\"c\":{\"x\":2,\"y\":{\"z\":3}}}", v);
    want(&v[C_X], JS_NUMBER, "1");
    want(&v[C_Y_Z], JS_NONE, NULL);
    fields_both("{\"c\":null}", v);
    want(&v[C], JS_NULL, "null");
    want(&v[C_Y], JS_NONE, NULL);
    fields_both("{\"c\":{}}", v);
    want(&v[C], JS_OBJECT, "{}");
    want(&v[C_X], JS_NONE, NULL);

    /* Escaped names match, as in js_lookup; an escaped NUL ends one. */
    fields_both("{\"\\u0061\":true,\"b\\u0000x\":false,\"c\":{\"\\u0078\":\"x\"}}", v);
    want(&v[A], JS_TRUE, "true");
    want(&v[B], JS_FALSE, "false");
    want(&v[C_X], JS_STRING, "\"x\"");

    /* A root that is not an object: nothing found, still valid. */
    fields_both("[{\"a\":1}]", v);
    want(&v[A], JS_NONE, NULL);
    fields_both("\"a\"", v);
    want(&v[A], JS_NONE, NULL);

    /* Invalid text: an error, whatever the fields. */
    assert_int_equal(js_parse_fields("{\"a\":1,}", 8, top_list, v, NSLOT, NULL, NULL), -1);
    assert_int_equal(js_parse_fields("{\"a\":01}", 8, top_list, v, NSLOT, NULL, NULL), -1);
    /* No fields: js_parse. */
    assert_int_equal(js_parse_fields("{}", 2, NULL, NULL, 0, NULL, NULL), 0);
}

static void test_fields_depth(void **st)
{
    /* A chain of sub lists deeper than JS_FIELDS_DEPTH stops at it. */
    static struct js_field chain[JS_FIELDS_DEPTH + 2][2];
    struct js_val v[JS_FIELDS_DEPTH + 2], root;
    char doc[512] = "";
    int i;
    (void)st;

    for (i = 0; i < JS_FIELDS_DEPTH + 2; i++) {
        chain[i][0].name = "k";
        chain[i][0].sub = i + 1 < JS_FIELDS_DEPTH + 2 ? chain[i + 1] : NULL;
        chain[i][0].slot = i;
        strcat(doc, "{\"k\":");
    }
    strcat(doc, "7");
    for (i = 0; i < JS_FIELDS_DEPTH + 2; i++)
        strcat(doc, "}");
    assert_int_equal(js_parse_fields(doc, strlen(doc), chain[0], v, JS_FIELDS_DEPTH + 2, &root,
                                     NULL), 0);
    for (i = 0; i < JS_FIELDS_DEPTH; i++)
        assert_int_equal(v[i].type, JS_OBJECT);
    assert_int_equal(v[JS_FIELDS_DEPTH].type, JS_NONE);
    /* js_lookup_fields stops at the same depth (slots it never reaches are
     * left as they were). */
    for (i = 0; i < JS_FIELDS_DEPTH + 2; i++)
        v[i].type = JS_NONE;
    js_lookup_fields(&root, chain[0], v);
    for (i = 0; i < JS_FIELDS_DEPTH; i++)
        assert_int_equal(v[i].type, JS_OBJECT);
    assert_int_equal(v[JS_FIELDS_DEPTH].type, JS_NONE);
}

static void test_iter(void **st)
{
    struct js_val root = parse_ok(" [ 1 , \"two\" , [3,[4]] , {\"five\":[5]} , null ] "), v;
    struct js_iter it;
    static const enum js_type want[] = {JS_NUMBER, JS_STRING, JS_ARRAY, JS_OBJECT, JS_NULL};
    static const char *const text[] = {"1", "\"two\"", "[3,[4]]", "{\"five\":[5]}", "null"};
    int i = 0;
    (void)st;

    js_iter_init(&it, &root);
    while (js_iter_next(&it, &v)) {
        assert_true(i < 5);
        assert_int_equal(v.type, want[i]);
        assert_int_equal(v.n, strlen(text[i]));
        assert_memory_equal(v.p, text[i], v.n);
        i++;
    }
    assert_int_equal(i, 5);
    assert_int_equal(js_iter_next(&it, &v), 0);
    root = parse_ok("[ ]");
    js_iter_init(&it, &root);
    assert_int_equal(js_iter_next(&it, &v), 0);
    root = parse_ok("{\"a\":1}"); /* not an array: nothing */
    js_iter_init(&it, &root);
    assert_int_equal(js_iter_next(&it, &v), 0);
    js_iter_init(&it, NULL);
    assert_int_equal(js_iter_next(&it, &v), 0);
}

/* ------------------------------------------------------------- numbers */

static double num(const char *text)
{
    struct js_val v = parse_ok(text);

    assert_int_equal(v.type, JS_NUMBER);
    return js_number(&v);
}

static void test_numbers(void **st)
{
    char big[400];
    (void)st;

    assert_true(num("0") == 0.0);
    assert_true(num("-0") == 0.0 && signbit(num("-0")));
    assert_true(num("12345") == 12345.0);
    assert_true(num("-12345") == -12345.0);
    assert_true(num("999999999999999") == 999999999999999.0);
    assert_true(num("1000000000000000") == 1e15);
    assert_true(num("9007199254740993") == strtod("9007199254740993", NULL));
    assert_true(num("10.7") == 10.7);
    assert_true(num("-0.5e3") == -500.0);
    assert_true(num("1E+2") == 100.0);
    assert_true(num("2.5e-3") == 0.0025);
    assert_true(isinf(num("1e999")) && num("1e999") > 0);
    assert_true(isinf(num("-1e999")) && num("-1e999") < 0);
    assert_true(num("1e-999") == 0.0);
    /* Longer than the stack copy: still strtod's value. */
    memset(big, '9', 300);
    big[300] = '\0';
    assert_true(num(big) == strtod(big, NULL));
    big[0] = '0';
    big[1] = '.';
    assert_true(num(big) == strtod(big, NULL));
    /* Inside a document, with its neighbours right after it. */
    {
        static const char *const k[] = {"a", "b"};
        struct js_val root = parse_ok("{\"a\":12,\"b\":-3.5e1}"), v[2];

        js_lookup(&root, k, 2, v);
        assert_true(js_number(&v[0]) == 12.0);
        assert_true(js_number(&v[1]) == -35.0);
    }
}

static void test_strerror(void **st)
{
    (void)st;

    assert_string_equal(js_strerror(JS_E_CTRL), "control character in string");
    assert_string_equal(js_strerror(JS_E_DEPTH), "nested too deep");
    assert_non_null(js_strerror((enum js_err)99));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_escapes_invalid),
        cmocka_unit_test(test_nesting_bound),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_lookup_escaped_names),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_fields_depth),
        cmocka_unit_test(test_iter),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_strerror),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
