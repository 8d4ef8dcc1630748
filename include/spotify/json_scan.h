#ifndef SW_JSON_SCAN_H
#define SW_JSON_SCAN_H
/* json_scan: a strict JSON scanner that allocates nothing.
 *
 * js_parse validates a whole text as exactly one JSON value (RFC 8259) and
 * hands back its span; the lookups then walk the validated text to find only
 * the members a caller reads, and js_str_unescape/js_number decode only the
 * values it uses. Nothing is built: a value is a (pointer, length, type)
 * view into the caller's buffer, which must outlive it. Nesting is tracked in
 * a fixed bit stack, so hostile input such as "[[[[..." costs no recursion.
 *
 * Accepted exactly as RFC 8259, with these deliberate choices:
 *  - a UTF-8 byte order mark at the very start of a text of 5 bytes or more
 *    is skipped (RFC 8259 section 8.1 allows ignoring it; cJSON does too);
 *  - bytes >= 0x80 inside strings are passed through unvalidated, as cJSON
 *    does (bytes >= 0x80 outside strings are an error);
 *  - a \u escape of a lone or misordered UTF-16 surrogate is an error, as in
 *    cJSON (the RFC leaves it to the implementation);
 *  - containers nest at most JS_MAX_DEPTH deep (cJSON's limit too).
 * Where cJSON 1.7 (which this replaces for hot paths) is more lenient, json_scan
 * rejects: any byte < 0x20 other than space, tab, CR, LF outside strings
 * (cJSON counts all of them as whitespace); raw bytes < 0x20 inside strings;
 * \u escapes with non-hex digits (cJSON reads them as U+0000); numbers with
 * leading zeros ("01"), a bare '.' ("1.", "-.5", "1.e5"), which cJSON takes
 * through strtod. */
#include <stddef.h>

/* JS_MAX_DEPTH: the most containers open at once ([[1]] is 2 deep). */
#define JS_MAX_DEPTH 1000

enum js_type {
    JS_NONE = 0,   /* no value: a member that is absent */
    JS_NULL,
    JS_FALSE,
    JS_TRUE,
    JS_NUMBER,
    JS_STRING,
    JS_ARRAY,
    JS_OBJECT,
};

/* js_val: a view of one value inside a validated text. p is its first byte
 * ('"' for a string, '{' for an object), n its length in bytes (quotes and
 * brackets included). Only js_parse, js_lookup and js_iter_next make them;
 * every function below assumes p points into text js_parse accepted. */
struct js_val {
    const char *p;
    size_t n;
    enum js_type type;
};

enum js_err {
    JS_OK = 0,
    JS_E_END,        /* the text ended inside a value (or held none) */
    JS_E_CHAR,       /* a byte that cannot start or continue anything here */
    JS_E_CTRL,       /* a raw byte < 0x20 inside a string */
    JS_E_ESCAPE,     /* a backslash followed by something not an escape */
    JS_E_HEX,        /* \u not followed by four hex digits */
    JS_E_SURROGATE,  /* a \u escape of an unpaired UTF-16 surrogate */
    JS_E_NUMBER,     /* a number outside the RFC 8259 grammar */
    JS_E_DEPTH,      /* more than JS_MAX_DEPTH containers open */
    JS_E_TRAILING,   /* something other than whitespace after the value */
};

/* js_error: why and where js_parse gave up. off is the byte offset of the
 * offending byte (the start of the number for JS_E_NUMBER, the backslash for
 * escape errors, the length of the text for JS_E_END, and the end of the
 * value, before any whitespace, for JS_E_TRAILING). */
struct js_error {
    enum js_err code;
    size_t off;
};

/* js_parse validates buf[0..len) as one JSON value with optional whitespace
 * (space, tab, CR, LF) around it. Returns 0 with *root set, or -1 with *e
 * filled (e may be NULL). buf need not be NUL-terminated and may hold NULs. */
int js_parse(const char *buf, size_t len, struct js_val *root, struct js_error *e);

/* js_field: a member wanted by js_parse_fields. A list of them ends with
 * a NULL name. */
struct js_field {
    const char *name;              /* the member's name, compared as js_lookup does */
    const struct js_field *sub;    /* members wanted inside it when it is an object, or NULL */
    int slot;                      /* its value goes to out[slot] (>= 0) */
};

/* JS_FIELDS_DEPTH: how deep js_field lists nest (the root's list is 1). */
#define JS_FIELDS_DEPTH 8

/* js_parse_fields is js_parse that also picks out, in the same pass, the
 * members fields names in the root object, and those their sub lists name
 * inside them, recursively: out[slot] is the value of the first member of
 * that name (as js_lookup gives it); a sub list is searched only in the
 * first such member, and only when it is an object. What is not found is
 * JS_NONE; out has nout entries, every slot < nout. On failure out holds
 * nothing useful. One pass instead of js_parse plus a js_lookup per object:
 * the values are found while the text is validated, and nothing the lists do
 * not name is looked at twice. */
int js_parse_fields(const char *buf, size_t len, const struct js_field *fields,
                    struct js_val *out, size_t nout, struct js_val *root, struct js_error *e);

/* js_strerror: a short English phrase for code ("control character in
 * string"); never NULL. */
const char *js_strerror(enum js_err code);

/* js_lookup finds, in one pass over obj, the first member named keys[i] for
 * each i < nkeys, and sets out[i] to its value (type JS_NONE when there is no
 * such member, or when obj is not an object). Keys are compared after
 * unescaping, as C strings (an escaped NUL ends the member's name), which is
 * what cJSON_GetObjectItemCaseSensitive sees. Returns how many were found. */
size_t js_lookup(const struct js_val *obj, const char *const *keys, size_t nkeys,
                 struct js_val *out);

/* js_lookup_fields does for the object obj (a value inside validated text)
 * what js_parse_fields does for a root object: out[slot] gets the first
 * member named by each field of the list (at most 16 a list), and the sub
 * lists are looked up in those that are objects; JS_NONE where none is. */
void js_lookup_fields(const struct js_val *obj, const struct js_field *fields, struct js_val *out);

/* js_iter: walks the elements of an array. */
struct js_iter {
    const char *p;     /* the next element or the closing ']' */
    const char *end;   /* the closing ']' */
};

/* js_iter_init starts it at arr's first element (an iterator over anything
 * but an array yields nothing); js_iter_next sets *out to the next element
 * and returns 1, or returns 0 at the end. */
void js_iter_init(struct js_iter *it, const struct js_val *arr);
int js_iter_next(struct js_iter *it, struct js_val *out);

/* js_str_unescape writes the decoded bytes of the string s into dst, which
 * must have room for s->n - 1 bytes (never less than needed), adds a NUL and
 * returns the decoded length. The decoded bytes may include NULs (\u0000). */
size_t js_str_unescape(const struct js_val *s, char *dst);

/* js_number returns the value of the number v as strtod reads it (in the C
 * locale whatever the current one): huge values are +-HUGE_VAL, tiny ones 0.
 * Numbers longer than 63 bytes are copied to the heap for strtod; if that
 * fails it returns NaN. */
double js_number(const struct js_val *v);

#endif
