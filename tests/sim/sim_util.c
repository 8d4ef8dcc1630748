/* sim_util.c: see sim_util.h. */
#include "sim_util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

static void oom(void)
{
    fputs("spotify-sim: out of memory\n", stderr);
    abort();
}

void *sim_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *sim_xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        oom();
    return p;
}

void *sim_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        oom();
    return p;
}

char *sim_xstrdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *d = sim_xmalloc(n + 1);
    memcpy(d, s, n + 1);
    return d;
}

/* ---- sim_buf ----------------------------------------------------------- */

void sim_buf_init(sim_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void sim_buf_free(sim_buf *b)
{
    free(b->data);
    sim_buf_init(b);
}

static void buf_reserve(sim_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = sim_xrealloc(b->data, cap);
    b->cap = cap;
}

void sim_buf_add(sim_buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sim_buf_puts(sim_buf *b, const char *s)
{
    sim_buf_add(b, s, strlen(s));
}

void sim_buf_printf(sim_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sim_buf_json_str(sim_buf *b, const char *s)
{
    if (!s) {
        sim_buf_add(b, "null", 4);
        return;
    }
    buf_reserve(b, strlen(s) + 2);
    sim_buf_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': sim_buf_add(b, "\\\"", 2); break;
        case '\\': sim_buf_add(b, "\\\\", 2); break;
        case '\n': sim_buf_add(b, "\\n", 2); break;
        case '\r': sim_buf_add(b, "\\r", 2); break;
        case '\t': sim_buf_add(b, "\\t", 2); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                sim_buf_add(b, esc, 6);
            } else {
                sim_buf_add(b, (const char *)p, 1);
            }
        }
    }
    sim_buf_add(b, "\"", 1);
}

char *sim_buf_steal(sim_buf *b, size_t *len)
{
    if (!b->data)
        sim_buf_add(b, "", 0);
    char *d = b->data;
    if (len)
        *len = b->len;
    sim_buf_init(b);
    return d;
}

/* ---- sim_map ----------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void sim_map_init(sim_map *m)
{
    m->nb = 64;
    m->n = 0;
    m->b = sim_xcalloc(m->nb, sizeof *m->b);
}

void sim_map_free(sim_map *m, void (*free_val)(void *))
{
    for (size_t i = 0; i < m->nb; i++) {
        sim_map_ent *e = m->b[i];
        while (e) {
            sim_map_ent *next = e->next;
            if (free_val)
                free_val(e->val);
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->b);
    m->b = NULL;
    m->nb = m->n = 0;
}

void *sim_map_get(const sim_map *m, const char *key)
{
    for (sim_map_ent *e = m->b[hash_str(key) & (m->nb - 1)]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->val;
    return NULL;
}

static void map_grow(sim_map *m)
{
    size_t nb = m->nb * 2;
    sim_map_ent **b = sim_xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < m->nb; i++) {
        sim_map_ent *e = m->b[i];
        while (e) {
            sim_map_ent *next = e->next;
            size_t j = hash_str(e->key) & (nb - 1);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

void *sim_map_put(sim_map *m, const char *key, void *val)
{
    size_t i = hash_str(key) & (m->nb - 1);
    for (sim_map_ent *e = m->b[i]; e; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            void *old = e->val;
            e->val = val;
            return old;
        }
    }
    sim_map_ent *e = sim_xmalloc(sizeof *e);
    e->key = sim_xstrdup(key);
    e->val = val;
    e->next = m->b[i];
    m->b[i] = e;
    if (++m->n > m->nb)
        map_grow(m);
    return NULL;
}

void sim_map_each(const sim_map *m, void (*fn)(const char *, void *, void *), void *arg)
{
    for (size_t i = 0; i < m->nb; i++)
        for (sim_map_ent *e = m->b[i]; e; e = e->next)
            fn(e->key, e->val, arg);
}

/* ---- random and ids ---------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

void sim_rand_seed(uint64_t seed)
{
    rng_state = seed ? seed : 0x9E3779B97F4A7C15ULL;
}

uint64_t sim_rand(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

double sim_rand01(void)
{
    return (double)(sim_rand() >> 11) / (double)(1ULL << 53);
}

void sim_rand_token(char *out, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out[i] = b62[sim_rand() % 62];
    out[len] = '\0';
}

void sim_rand_token_url(char *out, size_t len)
{
    static const char b64url[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";

    for (size_t i = 0; i < len; i++)
        out[i] = b64url[sim_rand() % 64];
    out[len] = '\0';
}

void sim_id_from_name(const char *name, char out[23])
{
    uint64_t h = hash_str(name ? name : "");
    for (int i = 0; i < 22; i++) {
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
        out[i] = b62[h % 62];
    }
    out[22] = '\0';
}

/* ---- codecs ------------------------------------------------------------ */

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int sim_b64_decode(const char *in, unsigned char *out, size_t cap, size_t *outlen)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (const char *p = in; *p && *p != '='; p++) {
        int v = b64val((unsigned char)*p);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= cap)
                return -1;
            out[n++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    *outlen = n;
    return 0;
}

void sim_sha256_b64url(const char *in, char out[64])
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)in, strlen(in), d);
    size_t o = 0;
    for (size_t i = 0; i < sizeof d; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16;
        size_t left = sizeof d - i;
        if (left > 1)
            v |= (uint32_t)d[i + 1] << 8;
        if (left > 2)
            v |= d[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        if (left > 1)
            out[o++] = tbl[(v >> 6) & 63];
        if (left > 2)
            out[o++] = tbl[v & 63];
    }
    out[o] = '\0';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

char *sim_url_decode(const char *s, size_t n)
{
    char *d = sim_xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            d[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n &&
                   hexval((unsigned char)s[i + 1]) >= 0 && hexval((unsigned char)s[i + 2]) >= 0) {
            d[o++] = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            i += 2;
        } else {
            d[o++] = s[i];
        }
    }
    d[o] = '\0';
    return d;
}

void sim_buf_url_encode(sim_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            sim_buf_add(b, (const char *)p, 1);
        } else {
            char e[4];
            snprintf(e, sizeof e, "%%%02X", *p);
            sim_buf_add(b, e, 3);
        }
    }
}

void sim_form_parse(sim_form *f, const char *s, size_t n)
{
    f->n = 0;
    size_t i = 0;
    while (i < n && f->n < SIM_FORM_MAX) {
        size_t j = i;
        while (j < n && s[j] != '&')
            j++;
        if (j > i) {
            size_t eq = i;
            while (eq < j && s[eq] != '=')
                eq++;
            f->k[f->n] = sim_url_decode(s + i, eq - i);
            f->v[f->n] = eq < j ? sim_url_decode(s + eq + 1, j - eq - 1) : sim_xstrdup("");
            f->n++;
        }
        i = j + 1;
    }
}

const char *sim_form_get(const sim_form *f, const char *k)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->k[i], k) == 0)
            return f->v[i];
    return NULL;
}

void sim_form_free(sim_form *f)
{
    for (int i = 0; i < f->n; i++) {
        free(f->k[i]);
        free(f->v[i]);
    }
    f->n = 0;
}

/* ---- time -------------------------------------------------------------- */

void sim_iso8601(int64_t ms, char out[40])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char tmp[32];
    strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%03dZ", tmp, (int)(ms % 1000));
}

int64_t sim_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t sim_real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int sim_has_word(const char *list, const char *word)
{
    if (!list || !word)
        return 0;
    size_t wl = strlen(word);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ' ' && *e != ',')
            e++;
        if ((size_t)(e - p) == wl && strncmp(p, word, wl) == 0)
            return 1;
        p = e;
    }
    return 0;
}
