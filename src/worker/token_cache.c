/* token_cache.c: the worker's opened access tokens (the contract is in
 * include/worker/token_cache.h). A set-associative table: a user maps to
 * one set of TOKEN_CACHE_WAYS slots, each slot one allocation holding the
 * entry and its strings, so a lookup reads at most one set. */
#include "worker/token_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define SETS (TOKEN_CACHE_SLOTS / TOKEN_CACHE_WAYS)
/* The sealed value's bytes kept as they are: a nonce's worth at its start
 * (after the format and key id bytes) and the GCM tag at its end. */
#define EDGE 16

/* tc_entry: one user's token. The strings follow it in the same block:
 * app, user and token, each NUL-terminated. */
struct tc_entry {
    uint32_t key_hash;          /* of app and user: most mismatches end here */
    size_t app_len, user_len, token_len, size;   /* size: the whole block, for the wipe */
    size_t seal_len;            /* the sealed value it was opened from: its length, */
    uint64_t seal_hash;         /* keyed hash, */
    unsigned char head[EDGE], tail[EDGE];   /* and edges (shorter values: zero-padded) */
    double used;                /* the caller's clock (s) at the last get or put */
    char s[];
};

struct token_cache {
    uint64_t seed;
    size_t n;
    struct tc_entry *slot[TOKEN_CACHE_SLOTS];
};

/* key_hash: FNV-1a of app, a separator and user. */
static uint32_t key_hash(const char *app, const char *user)
{
    uint32_t h = 2166136261u;

    for (const unsigned char *p = (const unsigned char *)app; *p; p++)
        h = (h ^ *p) * 16777619u;
    h = (h ^ 0x1f) * 16777619u;
    for (const unsigned char *p = (const unsigned char *)user; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

/* seal_hash: the n bytes of s mixed eight at a time under the seed: a
 * changed byte anywhere changes it, and without the seed nobody can make
 * two values agree on purpose. */
static uint64_t seal_hash(const char *s, size_t n, uint64_t seed)
{
    uint64_t h = seed ^ (n * 0x9E3779B97F4A7C15ULL), w;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, s + i, n - i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 29);
}

/* edges copies the first and last EDGE bytes of s (n bytes), zero-padded. */
static void edges(const char *s, size_t n, unsigned char *head, unsigned char *tail)
{
    size_t k = n < EDGE ? n : EDGE;

    memset(head, 0, EDGE);
    memset(tail, 0, EDGE);
    memcpy(head, s, k);
    memcpy(tail, s + n - k, k);
}

static void entry_free(struct tc_entry *e)
{
    if (e == NULL)
        return;
    OPENSSL_cleanse(e, e->size);
    free(e);
}

/* find: the slot of app's user in its set (kh its key hash), or NULL. */
static struct tc_entry **find(struct token_cache *c, uint32_t kh, const char *app, const char *user)
{
    struct tc_entry **set = &c->slot[(kh % SETS) * TOKEN_CACHE_WAYS];

    for (int i = 0; i < TOKEN_CACHE_WAYS; i++) {
        struct tc_entry *e = set[i];

        if (e != NULL && e->key_hash == kh && strcmp(e->s, app) == 0 && strcmp(e->s + e->app_len + 1, user) == 0)
            return &set[i];
    }
    return NULL;
}

struct token_cache *token_cache_new(unsigned long long seed)
{
    struct token_cache *c = calloc(1, sizeof *c);

    if (c != NULL)
        c->seed = seed;
    return c;
}

void token_cache_free(struct token_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < TOKEN_CACHE_SLOTS; i++)
        entry_free(c->slot[i]);
    OPENSSL_cleanse(&c->seed, sizeof c->seed);
    free(c);
}

const char *token_cache_get(struct token_cache *c, const char *app, const char *user, const char *sealed,
                            double now)
{
    unsigned char head[EDGE], tail[EDGE];
    struct tc_entry **at, *e;
    size_t n;

    if (c == NULL || app == NULL || user == NULL || sealed == NULL)
        return NULL;
    at = find(c, key_hash(app, user), app, user);
    if (at == NULL)
        return NULL;
    e = *at;
    n = strlen(sealed);
    if (n != e->seal_len)
        return NULL;
    edges(sealed, n, head, tail);
    if (memcmp(head, e->head, EDGE) != 0 || memcmp(tail, e->tail, EDGE) != 0
        || seal_hash(sealed, n, c->seed) != e->seal_hash)
        return NULL;
    e->used = now;
    return e->s + e->app_len + 1 + e->user_len + 1;
}

/* victim: where a new entry of the set starting at set goes: a free slot,
 * else the least recently used one if idle long enough, else NULL. */
static struct tc_entry **victim(struct tc_entry **set, double now)
{
    struct tc_entry **old = NULL;

    for (int i = 0; i < TOKEN_CACHE_WAYS; i++) {
        if (set[i] == NULL)
            return &set[i];
        if (old == NULL || set[i]->used < (*old)->used)
            old = &set[i];
    }
    return now - (*old)->used >= TOKEN_CACHE_IDLE_S ? old : NULL;
}

void token_cache_put(struct token_cache *c, const char *app, const char *user, const char *sealed,
                     const char *token, double now)
{
    struct tc_entry **at, *e;
    size_t al, ul, tl, n;
    uint32_t kh;

    if (c == NULL || app == NULL || user == NULL || sealed == NULL || token == NULL)
        return;
    al = strnlen(app, TOKEN_CACHE_ID_MAX + 1);
    ul = strnlen(user, TOKEN_CACHE_ID_MAX + 1);
    tl = strnlen(token, TOKEN_CACHE_TOKEN_MAX + 1);
    if (al > TOKEN_CACHE_ID_MAX || ul > TOKEN_CACHE_ID_MAX || tl > TOKEN_CACHE_TOKEN_MAX) {
        token_cache_drop(c, app, user);   /* no stale entry outlives a value we do not keep */
        return;
    }
    kh = key_hash(app, user);
    at = find(c, kh, app, user);
    if (at == NULL && (at = victim(&c->slot[(kh % SETS) * TOKEN_CACHE_WAYS], now)) == NULL)
        return;
    if (*at != NULL) {
        entry_free(*at);
        *at = NULL;
        c->n--;
    }
    e = malloc(sizeof *e + al + ul + tl + 3);
    if (e == NULL)
        return;
    n = strlen(sealed);
    e->key_hash = kh;
    e->app_len = al;
    e->user_len = ul;
    e->token_len = tl;
    e->size = sizeof *e + al + ul + tl + 3;
    e->seal_len = n;
    e->seal_hash = seal_hash(sealed, n, c->seed);
    edges(sealed, n, e->head, e->tail);
    e->used = now;
    memcpy(e->s, app, al + 1);
    memcpy(e->s + al + 1, user, ul + 1);
    memcpy(e->s + al + 1 + ul + 1, token, tl + 1);
    *at = e;
    c->n++;
}

void token_cache_drop(struct token_cache *c, const char *app, const char *user)
{
    struct tc_entry **at;

    if (c == NULL || app == NULL || user == NULL)
        return;
    at = find(c, key_hash(app, user), app, user);
    if (at == NULL)
        return;
    entry_free(*at);
    *at = NULL;
    c->n--;
}

size_t token_cache_count(const struct token_cache *c)
{
    return c != NULL ? c->n : 0;
}
