#ifndef SW_TOKEN_CACHE_H
#define SW_TOKEN_CACHE_H
/* token_cache: the worker's access tokens, opened once per seal instead of
 * once per poll. The tokens stay sealed at rest in Redis; this keeps, per
 * process and in memory only, the plaintext of the sealed value each user
 * record held when it was last opened, keyed by the app, the user and that
 * sealed value. A token refreshed anywhere (another worker, `user add`) is
 * sealed anew, with a fresh nonce and tag, so the record's sealed value no
 * longer matches and the entry is never served again: a miss opens the new
 * value and replaces it. The caller drops a user's entry when Spotify
 * refuses the token (a 401).
 *
 * The sealed value is matched by its length, its first and last bytes (the
 * nonce's and the GCM tag's) and a hash of all of it keyed with a random
 * per-cache seed, so a value changed anywhere misses (and is then opened,
 * and refused, by crypto as before). A user's entry is replaced by the next
 * value opened for that user; the table is bounded (TOKEN_CACHE_SLOTS
 * entries, about 300 bytes each: the worker's memory stays flat however
 * many users it polls) and an entry is taken over by another user only
 * when unused for TOKEN_CACHE_IDLE_S, so that polling more users than it
 * holds in a round keeps the ones it has instead of churning. Plaintexts are
 * cleansed when replaced, dropped or freed, and never logged. Pure: no I/O,
 * no clock (the caller passes now); one thread. */
#include <stddef.h>

/* The most entries, and the ways of each set (a user maps to one set). */
#define TOKEN_CACHE_SLOTS 2048
#define TOKEN_CACHE_WAYS 8
/* An entry unused this long (s) may be taken over by another user. */
#define TOKEN_CACHE_IDLE_S 60.0
/* Longer app ids, user ids or tokens are not cached (opened every time). */
#define TOKEN_CACHE_ID_MAX 64
#define TOKEN_CACHE_TOKEN_MAX 1024

struct token_cache;

/* token_cache_new: an empty cache, or NULL when out of memory. seed keys
 * its hash of the sealed values (crypto_random: not guessable from Redis). */
struct token_cache *token_cache_new(unsigned long long seed);
/* token_cache_free cleanses every token and frees the cache (NULL: no-op). */
void token_cache_free(struct token_cache *c);

/* token_cache_get: the token cached for app's user when sealed is the value
 * it was opened from, else NULL (a stale entry of the user stays until
 * token_cache_put replaces it). The pointer is the cache's: valid until the
 * next put or drop; copy it. now (s) marks the entry used. */
const char *token_cache_get(struct token_cache *c, const char *app, const char *user, const char *sealed,
                            double now);

/* token_cache_put records that sealed opened to token for app's user,
 * replacing the user's entry, or taking a free or idle one of its set;
 * when none is (or an id or the token is too long, or memory is out),
 * nothing is cached. */
void token_cache_put(struct token_cache *c, const char *app, const char *user, const char *sealed,
                     const char *token, double now);

/* token_cache_drop forgets app's user (its token was refused). */
void token_cache_drop(struct token_cache *c, const char *app, const char *user);

/* token_cache_count: the entries held (tests, metrics). */
size_t token_cache_count(const struct token_cache *c);

#endif
