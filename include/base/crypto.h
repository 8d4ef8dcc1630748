#ifndef SW_CRYPTO_H
#define SW_CRYPTO_H
/* crypto: secrets at rest. Tokens and client secrets are sealed with
 * AES-256-GCM (OpenSSL EVP) under the newest key of a keyring file; the
 * owner's identity (e.g. "user:alice" or "app:app1") is bound in as
 * associated data, so a ciphertext copied into another user's hash fails to
 * open. Each ciphertext names its key id, so after a rotation old ciphertexts
 * still open and are re-sealed under the new key when next written.
 *
 * Sealed text (crypto_seal: client secrets):
 *   "v1.<kid>.<base64(nonce[12] | ciphertext | tag[16])>"
 * Sealed binary (crypto_seal_token: tokens, about 60% of the text's size):
 *   0x02, then stuffed(kid varint | nonce[12] | ciphertext | tag[16]), where
 *   stuffing writes 0x00 as 0xfe 0x01 and 0xfe as 0xfe 0x02 so the value has
 *   no NUL byte and passes every C-string path unchanged; the version byte
 *   is bound in the associated data too. The plaintext is a flag byte then
 *   the token: flag 0 as it is, flag 1 + n % 4 a base64url token of n chars
 *   packed 6 bits a character (Spotify's tokens are base64url).
 * Plaintext mode (no keyring, allow-plaintext-tokens yes): "plain.<text>"
 * crypto_open opens all three.
 *
 * Keyring file (mode 0600): one key a line, "<kid> <64 hex chars>", the last
 * line is the current key; '#' comments allowed. The keys of a loaded
 * keyring live in memory left out of core dumps (include/base/nodump.h). */
#include <stddef.h>

struct crypto_keyring;

/* crypto_keygen appends a fresh random key to path (creating it with mode
 * 0600), making it the current key; kid is the next integer. 0 or -1 + err. */
int crypto_keygen(const char *path, char *err, size_t errlen);

/* crypto_load reads a keyring file. Refuses a file readable by group/others.
 * Returns the keyring (free with crypto_free) or NULL + err. */
struct crypto_keyring *crypto_load(const char *path, char *err, size_t errlen);
void crypto_free(struct crypto_keyring *kr);

/* crypto_current_kid returns the id used for new ciphertexts (-1 if kr == NULL). */
int crypto_current_kid(const struct crypto_keyring *kr);

/* crypto_seal returns a malloc'd sealed string (caller frees with free()).
 * kr == NULL means plaintext mode. NULL + err on failure. */
char *crypto_seal(const struct crypto_keyring *kr, const char *ad, const char *plain,
                  char *err, size_t errlen);

/* crypto_seal_token: crypto_seal in the binary format (NUL-free, not
 * printable), for the users' tokens, the bulk of Redis' memory. */
char *crypto_seal_token(const struct crypto_keyring *kr, const char *ad, const char *plain,
                        char *err, size_t errlen);

/* crypto_open returns the malloc'd plaintext; free it with secret_free().
 * Fails (NULL + err, which never contains the secret) on a wrong ad, an
 * unknown kid, tampering, a sealed value when kr == NULL, and a "plain."
 * value when kr != NULL: with a key file configured plaintext values are
 * refused, never used (one written into Redis by someone else would choose
 * the token or secret we send). The caller treats the value as unreadable
 * (the worker refreshes an unreadable access token) and reports it. */
char *crypto_open(const struct crypto_keyring *kr, const char *ad, const char *sealed,
                  char *err, size_t errlen);

/* crypto_opener: crypto_open for one thread, cheaper per call: each key's
 * AES-GCM context is set up once (the key schedule) and reused, where
 * crypto_open sets one up and frees it every time. For the worker, which
 * opens a token per poll. kr (NULL: plaintext mode) must outlive it.
 * crypto_opener_new returns NULL when out of memory; crypto_opener_free
 * frees it (the contexts' key material cleansed). crypto_opener_open is
 * crypto_open(kr, ...) exactly: same answers, same errors. */
struct crypto_opener;
struct crypto_opener *crypto_opener_new(const struct crypto_keyring *kr);
void crypto_opener_free(struct crypto_opener *o);
char *crypto_opener_open(struct crypto_opener *o, const char *ad, const char *sealed, char *err, size_t errlen);

/* crypto_needs_reseal: 1 if sealed is not a binary value under the current
 * key (a v1 text token is rewritten in the binary format; a plain one
 * crypto_open then refuses). Always 0 when kr == NULL (plaintext mode
 * has nothing to reseal with). */
int crypto_needs_reseal(const struct crypto_keyring *kr, const char *sealed);

/* secret_free cleanses (OPENSSL_cleanse) and frees a NUL-terminated secret. */
void secret_free(char *s);

/* crypto_random_hex fills out with 2*nbytes hex chars of CSPRNG output + NUL. */
int crypto_random_hex(char *out, size_t nbytes);

#endif
