/* keyring_file.c: the keyring the configuration asks for (see include/base/keyring_file.h). */
#include <stdio.h>
#include "base/keyring_file.h"
#include "base/log.h"

int keyring_file_load(const struct sw_config *c, struct crypto_keyring **kr, int warn, char *err,
                    size_t errlen)
{
    *kr = NULL;
    if (c->token_key_file[0]) {
        *kr = crypto_load(c->token_key_file, err, errlen);
        return *kr ? 0 : -1;
    }
    if (!c->allow_plaintext_tokens) {
        snprintf(err, errlen, "no token-key-file set: refusing to store tokens in plaintext "
                              "(run `spotwatch keygen FILE` and set token-key-file, or set "
                              "allow-plaintext-tokens yes)");
        return -1;
    }
    if (warn)
        log_warn("allow-plaintext-tokens yes: tokens and secrets are stored in Redis unencrypted");
    return 0;
}
