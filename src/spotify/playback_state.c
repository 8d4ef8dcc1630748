/* playback_state.c: the stored state of a user's playback (field "state" of
 * the user hash): pb_state_encode and pb_state_decode (the contract is in
 * include/spotify/playback.h), and the flap record built around that text,
 * flap_record_encode and flap_record_decode (include/spotify/flap.h). Read and written on every poll, so neither
 * builds a tree. Pure: no I/O, no clock. */
#include "spotify/flap.h"
#include "spotify/json_scan.h"
#include "spotify/playback.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ encode/decode */

/* The stored state is written by hand, not through cJSON: it is short, its
 * shape fixed, and printing it is on every poll. The text is what
 * cJSON_PrintUnformatted made of the same object (tests/unit/test_pbcompat.c
 * holds it to golden texts recorded from the two), except that an integer of 1e15 or more in magnitude
 * keeps its digits where cJSON wrote "1e+15"; both read back the same. */

/* esc_put appends s (up to its NUL) JSON-escaped as cJSON does: \" \\ \b
 * \f \n \r \t, other bytes < 0x20 as \u00xx, everything else as is. d must
 * have room for 6 bytes per input byte. */
static char *esc_put(char *d, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    *d++ = '"';
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c >= 0x20 && c != '"' && c != '\\') {
            *d++ = (char)c;
            continue;
        }
        *d++ = '\\';
        switch (c) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '\b': *d++ = 'b'; break;
        case '\f': *d++ = 'f'; break;
        case '\n': *d++ = 'n'; break;
        case '\r': *d++ = 'r'; break;
        case '\t': *d++ = 't'; break;
        default:
            memcpy(d, "u00", 3);
            d[3] = hex[c >> 4];
            d[4] = hex[c & 15];
            d += 5;
            break;
        }
    }
    *d++ = '"';
    return d;
}

/* int_put appends v in decimal. */
static char *int_put(char *d, long long v)
{
    char tmp[24];
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    int n = 0;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *d++ = '-';
    while (n > 0)
        *d++ = tmp[--n];
    return d;
}

static char *lit_put(char *d, const char *lit)
{
    size_t n = strlen(lit);

    memcpy(d, lit, n);
    return d + n;
}

char *pb_state_encode(const struct pb_state *s)
{
    const char *key = s->item_key ? s->item_key : "";
    size_t nkey = strlen(key), nkind = strnlen(s->kind, sizeof s->kind);
    size_t ndev = s->device_id ? strlen(s->device_id) : 0;
    /* The fixed text and two 20-character numbers fit in 128; each string
     * byte takes at most 6 escaped. */
    char *text = malloc(128 + 6 * (nkey + nkind + ndev)), *d = text;

    if (text == NULL)
        return NULL;
    d = lit_put(d, "{\"v\":1");
    if (s->known) {
        d = lit_put(d, s->present ? ",\"p\":1" : ",\"p\":0");
        if (s->present) {
            d = lit_put(d, s->is_playing ? ",\"pl\":1,\"k\":" : ",\"pl\":0,\"k\":");
            d = esc_put(d, key, nkey);
            d = lit_put(d, ",\"kd\":");
            d = esc_put(d, s->kind, nkind);
        }
        if (s->device_id != NULL) {
            d = lit_put(d, ",\"d\":");
            d = esc_put(d, s->device_id, ndev);
        }
        if (s->present) {
            d = int_put(lit_put(d, ",\"pr\":"), s->progress_ms);
            d = int_put(lit_put(d, ",\"du\":"), s->duration_ms);
        }
    }
    *d++ = '}';
    *d = '\0';
    return text;
}

/* The stored state is read with json_scan too (it is read on every poll). What
 * it accepts is what the cJSON-based reader of earlier versions accepted of
 * any text an encoder wrote (their agreement is kept as golden outputs in
 * tests/fuzz/golden/, checked by tests/unit/test_pbcompat.c), data
 * after the object included: cJSON_Parse ignored it. */

/* The members of one state (S_*), then the record's own (flap_record_*:
 * "pk", and "q", the pending observation, whose members take the slots from
 * S_Q + 1 on). pb_state_decode reads with the same list and ignores what is
 * not its own. */
enum { S_V, S_P, S_PL, S_K, S_KD, S_D, S_PR, S_DU, S_T, S_ONE, S_PK = S_ONE, S_Q, S_N = S_Q + 1 + S_ONE };

#define STATE_FIELDS(o)                                                                      \
    {"v", NULL, (o) + S_V}, {"p", NULL, (o) + S_P}, {"pl", NULL, (o) + S_PL},                 \
        {"k", NULL, (o) + S_K}, {"kd", NULL, (o) + S_KD}, {"d", NULL, (o) + S_D},             \
        {"pr", NULL, (o) + S_PR}, {"du", NULL, (o) + S_DU}, {"t", NULL, (o) + S_T}
static const struct js_field pending_fields[] = {STATE_FIELDS(S_Q + 1), {NULL, NULL, 0}};
static const struct js_field state_fields[] = {
    STATE_FIELDS(0), {"pk", NULL, S_PK}, {"q", pending_fields, S_Q}, {NULL, NULL, 0},
};

/* dec_flag reads a 0/1 number; dec_ms an integral ms count in range. */
static int dec_flag(const struct js_val *v, int *out)
{
    double d;

    if (v->type != JS_NUMBER)
        return -1;
    d = js_number(v);
    if (d != 0 && d != 1)
        return -1;
    *out = d == 1;
    return 0;
}

static int dec_ms(const struct js_val *v, long long *out)
{
    double d;

    if (v->type != JS_NUMBER)
        return -1;
    d = js_number(v);
    if (!(d >= 0) || d > (double)PB_MS_MAX)
        return -1;
    *out = (long long)d;
    return (double)*out == d ? 0 : -1;
}

/* dec_str returns a malloc'd copy of the string v as a C string (cut at an
 * escaped NUL), or NULL (not a string, out of memory). */
static char *dec_str(const struct js_val *v)
{
    char *s;

    if (v->type != JS_STRING)
        return NULL;
    s = malloc(v->n - 1);
    if (s != NULL)
        js_str_unescape(v, s);
    return s;
}

/* state_from reads one state from its members v[S_V..S_DU] (what
 * pb_state_encode wrote). 0, or -1 with out empty. */
static int state_from(const struct js_val *v, struct pb_state *out)
{
    char *kd = NULL;

    memset(out, 0, sizeof *out);
    if (v[S_V].type != JS_NUMBER || js_number(&v[S_V]) != 1)
        goto fail;
    if (v[S_P].type == JS_NONE)
        return 0; /* {"v":1}: a state written before any observation */
    if (dec_flag(&v[S_P], &out->present) < 0)
        goto fail;
    if (v[S_D].type != JS_NONE) {
        out->device_id = dec_str(&v[S_D]);
        if (out->device_id == NULL || out->device_id[0] == '\0')
            goto fail;
    }
    if (out->present) {
        if (dec_flag(&v[S_PL], &out->is_playing) < 0 || v[S_K].type != JS_STRING
            || (kd = dec_str(&v[S_KD])) == NULL || strlen(kd) >= sizeof out->kind
            || dec_ms(&v[S_PR], &out->progress_ms) < 0 || dec_ms(&v[S_DU], &out->duration_ms) < 0)
            goto fail;
        memcpy(out->kind, kd, strlen(kd) + 1);
        free(kd);
        kd = NULL;
        out->item_key = dec_str(&v[S_K]);
        if (out->item_key == NULL)
            goto fail;
    }
    out->known = 1;
    return 0;
fail:
    free(kd);
    pb_state_free(out);
    return -1;
}

/* parse_state reads text's members into v[S_N]: 0, or -1 when text is no
 * JSON object. Data after the object is ignored, as cJSON_Parse did. */
static int parse_state(const char *text, struct js_val *v)
{
    struct js_val root;
    struct js_error e;
    size_t len = strlen(text);

    if (js_parse_fields(text, len, state_fields, v, S_N, &root, &e) < 0
        && (e.code != JS_E_TRAILING
            || js_parse_fields(text, e.off, state_fields, v, S_N, &root, NULL) < 0))
        return -1;
    return root.type == JS_OBJECT ? 0 : -1;
}

int pb_state_decode(const char *text, struct pb_state *out)
{
    struct js_val v[S_N];

    memset(out, 0, sizeof *out);
    if (text == NULL || text[0] == '\0')
        return 0;
    if (parse_state(text, v) < 0)
        return -1;
    return state_from(v, out);
}

/* ------------------------------------------------------- flap records */

/* The record of include/spotify/flap.h: the stable state's text with the
 * record's members added before its closing brace. */

char *flap_record_encode(const struct flap_record *r)
{
    char *st = pb_state_encode(&r->stable), *pq = NULL, *text = NULL, *d;
    size_t nst, npq = 0, npk = r->prev_key ? strlen(r->prev_key) : 0;

    if (st == NULL)
        return NULL;
    if (r->pending.known && (pq = pb_state_encode(&r->pending)) == NULL)
        goto out;
    nst = strlen(st);
    npq = pq ? strlen(pq) : 0;
    /* Two more 20-digit numbers and the member names fit in 64. */
    text = malloc(nst + 6 * npk + npq + 64);
    if (text == NULL)
        goto out;
    d = text;
    memcpy(d, st, nst - 1); /* all but the closing brace */
    d += nst - 1;
    if (r->stable.present && r->stable.is_playing && r->stable_at_ms > 0)
        d = int_put(lit_put(d, ",\"t\":"), r->stable_at_ms);
    if (r->prev_key != NULL)
        d = esc_put(lit_put(d, ",\"pk\":"), r->prev_key, npk);
    if (pq != NULL) {
        d = lit_put(d, ",\"q\":");
        memcpy(d, pq, npq - 1);
        d += npq - 1;
        if (r->pending_at_ms > 0)
            d = int_put(lit_put(d, ",\"t\":"), r->pending_at_ms);
        *d++ = '}';
    }
    *d++ = '}';
    *d = '\0';
out:
    free(st);
    free(pq);
    return text;
}

int flap_record_decode(const char *text, struct flap_record *out)
{
    struct js_val v[S_N];
    const struct js_val *q = v + S_Q + 1;

    memset(out, 0, sizeof *out);
    if (text == NULL || text[0] == '\0')
        return 0;
    if (parse_state(text, v) < 0 || state_from(v, &out->stable) < 0)
        return -1;
    /* What only steers confirmation is dropped when malformed: the stable
     * state alone is what was announced. */
    if (out->stable.present && out->stable.is_playing && v[S_T].type != JS_NONE
        && dec_ms(&v[S_T], &out->stable_at_ms) < 0)
        out->stable_at_ms = 0;
    if (v[S_PK].type != JS_NONE)
        out->prev_key = dec_str(&v[S_PK]);
    if (v[S_Q].type == JS_OBJECT && (state_from(q, &out->pending) < 0 || !out->pending.known
                                     || (q[S_T].type != JS_NONE && dec_ms(&q[S_T], &out->pending_at_ms) < 0))) {
        pb_state_free(&out->pending);
        out->pending_at_ms = 0;
    }
    return 0;
}

void flap_record_free(struct flap_record *r)
{
    pb_state_free(&r->stable);
    pb_state_free(&r->pending);
    free(r->prev_key);
    memset(r, 0, sizeof *r);
}
