#ifndef SW_KEYRING_FILE_H
#define SW_KEYRING_FILE_H
/* secrets: the keyring the configuration asks for. */
#include <stddef.h>
#include "base/config.h"
#include "base/crypto.h"

/* keyring_file_load loads token-key-file into *kr. With no key file it sets
 * *kr = NULL (plaintext mode) only when allow-plaintext-tokens is yes, and
 * warns; otherwise it fails with the reason in err. Returns 0 or -1. */
int keyring_file_load(const struct sw_config *c, struct crypto_keyring **kr, int warn, char *err,
                    size_t errlen);

#endif
