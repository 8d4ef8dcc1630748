#ifndef SW_SEAL_PACK_H
#define SW_SEAL_PACK_H
/* seal_pack: the byte layouts of crypto's binary sealed format (see
 * include/base/crypto.h): a token packed before sealing, the stuffing that
 * keeps NUL out of the stored value, and the key id as a varint. No
 * cryptography here; every reader refuses what its writer never writes, so
 * each value has one spelling. */
#include <stddef.h>

/* SEAL_MAX_KID: the largest key id (crypto's keyring ids stay below). */
#define SEAL_MAX_KID 999999999L
/* SEAL_PACK_RAW: the plaintext flag of a token stored as it is. */
#define SEAL_PACK_RAW 0x00

/* seal_pack_token writes the plaintext to seal for token s (n chars) into
 * out (room for n + 1 bytes): a flag byte, then the token. A base64url token
 * goes 6 bits a character (flag 1 + n % 4); anything else as it is (flag
 * SEAL_PACK_RAW). Returns the bytes written. */
size_t seal_pack_token(const char *s, size_t n, unsigned char *out);

/* seal_unpack_token is its inverse: a malloc'd NUL-terminated token (free
 * with secret_free), NULL when p (len bytes) is malformed. */
char *seal_unpack_token(const unsigned char *p, size_t len);

/* seal_stuff escapes in (n bytes) into out (room for 2n) so the result has
 * no NUL byte: 0x00 -> 0xfe 0x01, 0xfe -> 0xfe 0x02. Returns its length. */
size_t seal_stuff(const unsigned char *in, size_t n, unsigned char *out);

/* seal_unstuff undoes it on the NUL-terminated s: a malloc'd buffer in *out
 * (free()) and its length, or -1 (out of memory or an escape seal_stuff
 * never writes). */
long seal_unstuff(const char *s, unsigned char **out);

/* seal_kid_put writes kid (0..SEAL_MAX_KID) as a little-endian base-128
 * varint (1-5 bytes); returns its length. */
size_t seal_kid_put(long kid, unsigned char *out);

/* seal_kid_get reads one from p (len bytes): the id and its length in
 * *used, or -1 if truncated, too large or not in its shortest form. */
long seal_kid_get(const unsigned char *p, size_t len, size_t *used);

#endif
