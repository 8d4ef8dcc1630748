#ifndef SW_SECRET_INPUT_H
#define SW_SECRET_INPUT_H
/* secret_input: secrets that reach spotwatch from a file, stdin or the
 * environment instead of the command line, where /proc/PID/cmdline, `ps`
 * and shell history show them to others; and the warning given when one
 * still comes as an argument (those keep working: scripts and tests use
 * them).
 *
 *   redis password   redis-password-file FILE, else $SPOTWATCH_REDIS_PASSWORD
 *                    (secret_input_config, once, before any command runs)
 *   client secret    app add --client-secret-file FILE|-
 *   user tokens      user add --access-token-file FILE|- --refresh-token-file FILE|-
 *                    (both "-": one line each from stdin, access token first)
 *
 * Every secret read here is returned malloc'd and is the caller's to free
 * with secret_free (include/base/crypto.h), which wipes it; the buffers used
 * on the way are wiped too. No message ever contains a secret. */
#include <stddef.h>
#include "base/config.h"

/* SECRET_INPUT_MAX: the most bytes read from one secret file. Tokens are a
 * few hundred bytes; a larger file (or /dev/zero) is a mistake. */
#define SECRET_INPUT_MAX 16384

/* SECRET_INPUT_ENV_REDIS_PASSWORD: the environment variable holding the
 * Redis password when neither redis-password nor redis-password-file is set. */
#define SECRET_INPUT_ENV_REDIS_PASSWORD "SPOTWATCH_REDIS_PASSWORD"

/* secret_input_read reads n secrets (1 or 2) from path, "-" meaning stdin:
 * one a line, in order, into out[0..n). A final newline (and a CR before
 * it) is not part of a secret; blank lines at the end are ignored. The file
 * must hold exactly n non-empty lines, no NUL byte, and at most
 * SECRET_INPUT_MAX bytes. what names the secret in messages ("--client-
 * secret-file"). Returns 0, or -1 with err (out[] all NULL). */
int secret_input_read(const char *path, const char *what, char **out, int n, char *err,
                      size_t errlen);

/* secret_input_warn_arg warns (log_warn) that the secret option opt
 * ("--client-secret") was given as an argument, which others can read, and
 * names the safer way to pass it. */
void secret_input_warn_arg(const char *opt);

/* secret_input_config resolves c->redis_password once, before any command
 * runs, so every Redis link (redis_sync, redis_async) reads one field: the
 * content of redis-password-file when that is set (both it and
 * redis-password set is an error), else SPOTWATCH_REDIS_PASSWORD when
 * redis-password is empty and the variable is set. It also warns about each
 * secret directive given on the command line, argv[1..argi) (the options
 * config_parse_args consumed), and wipes its value there, so that it is
 * gone from /proc/PID/cmdline once the process has started. Returns 0, or
 * -1 with err. */
int secret_input_config(struct sw_config *c, int argi, char **argv, char *err, size_t errlen);

#endif
