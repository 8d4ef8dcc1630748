/* sim_util.h: small helpers shared by the simulator modules: growable buffers,
 * a string-keyed hash map, a PRNG, base62/base64/url codecs, SHA-256 for PKCE,
 * form parsing and time helpers. Allocation failures abort (test tool). */
#ifndef SIM_UTIL_H
#define SIM_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* sim_buf: a growable byte buffer. data is always NUL-terminated once
 * something was added; len does not count the NUL. */
typedef struct sim_buf {
    char *data;
    size_t len;
    size_t cap;
} sim_buf;

void sim_buf_init(sim_buf *b);
void sim_buf_free(sim_buf *b);
void sim_buf_add(sim_buf *b, const char *s, size_t n);
void sim_buf_puts(sim_buf *b, const char *s);
void sim_buf_printf(sim_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* sim_buf_json_str appends s as a JSON string literal, or `null` if s is NULL. */
void sim_buf_json_str(sim_buf *b, const char *s);
/* sim_buf_steal returns the buffer (caller frees) and resets b. Never NULL. */
char *sim_buf_steal(sim_buf *b, size_t *len);

void *sim_xmalloc(size_t n);
void *sim_xcalloc(size_t n, size_t sz);
void *sim_xrealloc(void *p, size_t n);
/* sim_xstrdup returns a copy of s, or NULL when s is NULL. */
char *sim_xstrdup(const char *s);

/* sim_map: string -> pointer hash map with chaining. Keys are copied. */
typedef struct sim_map_ent {
    char *key;
    void *val;
    struct sim_map_ent *next;
} sim_map_ent;

typedef struct sim_map {
    sim_map_ent **b;
    size_t nb;  /* number of buckets (power of two) */
    size_t n;   /* number of entries */
} sim_map;

void sim_map_init(sim_map *m);
/* sim_map_free frees keys and entries, calling free_val on values if non-NULL. */
void sim_map_free(sim_map *m, void (*free_val)(void *));
void *sim_map_get(const sim_map *m, const char *key);
/* sim_map_put inserts or replaces; returns the old value or NULL. */
void *sim_map_put(sim_map *m, const char *key, void *val);
/* sim_map_each calls fn for every entry, in unspecified order. */
void sim_map_each(const sim_map *m, void (*fn)(const char *key, void *val, void *arg),
                  void *arg);

/* PRNG (xorshift64*): not for security, only for unique ids and fractions. */
void sim_rand_seed(uint64_t seed);
uint64_t sim_rand(void);
double sim_rand01(void);
/* sim_rand_token writes len random base62 chars plus NUL into out. */
void sim_rand_token(char *out, size_t len);
/* sim_rand_token_url: the same from base64url's alphabet (A-Z a-z 0-9 - _),
 * which Spotify's tokens use. */
void sim_rand_token_url(char *out, size_t len);
/* sim_id_from_name writes a deterministic 22-char base62 id for name. */
void sim_id_from_name(const char *name, char out[23]);

/* sim_b64_decode decodes standard base64; returns 0 or -1 on bad input. */
int sim_b64_decode(const char *in, unsigned char *out, size_t cap, size_t *outlen);
/* sim_sha256_b64url writes base64url(SHA-256(in)) without padding (43 chars). */
void sim_sha256_b64url(const char *in, char out[64]);

/* sim_url_decode returns a malloc'd decoded copy of s[0..n) ('+' is a space). */
char *sim_url_decode(const char *s, size_t n);
/* sim_buf_url_encode appends s percent-encoded (RFC 3986 unreserved kept). */
void sim_buf_url_encode(sim_buf *b, const char *s);

/* sim_form: a parsed application/x-www-form-urlencoded body. */
#define SIM_FORM_MAX 32
typedef struct sim_form {
    int n;
    char *k[SIM_FORM_MAX];
    char *v[SIM_FORM_MAX];
} sim_form;

void sim_form_parse(sim_form *f, const char *s, size_t n);
/* sim_form_get returns the first value for k, or NULL. */
const char *sim_form_get(const sim_form *f, const char *k);
void sim_form_free(sim_form *f);

/* sim_iso8601 formats unix ms as 2024-01-02T03:04:05.678Z. */
void sim_iso8601(int64_t ms, char out[40]);
/* sim_mono_ns is CLOCK_MONOTONIC in ns; sim_real_ms is CLOCK_REALTIME in ms. */
int64_t sim_mono_ns(void);
int64_t sim_real_ms(void);

/* sim_has_word reports whether the space-separated list contains word. */
int sim_has_word(const char *list, const char *word);

#endif
