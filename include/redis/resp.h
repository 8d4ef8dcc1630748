/* resp: Redis commands formatted as RESP arrays of bulk strings
 * ("*N\r\n$len\r\narg\r\n..."), in one pass with the lengths known first.
 *
 * hiredis 0.14's redisAsyncCommandArgv formats each argument with sdscatfmt
 * (its own printf) and grows an sds as it goes; the worker's batched
 * complete.lua call has ~25 arguments per poll, so that was most of the cost
 * of sending it. These functions build the same bytes for
 * redisAsyncFormattedCommand. */
#ifndef SPOTWATCH_REDIS_RESP_H
#define SPOTWATCH_REDIS_RESP_H

#include <stddef.h>

/* resp_args: a run of arguments; lens NULL means each is NUL-terminated. */
struct resp_args {
    int n;
    const char *const *v;
    const size_t *lens;
};

/* resp_format formats the arguments of head then tail (either may have
 * n == 0) as one command. Returns a malloc'd buffer the caller frees (not
 * NUL-terminated) and its length in *len, or NULL (out of memory, n < 0). */
char *resp_format(const struct resp_args *head, const struct resp_args *tail, size_t *len);

/* resp_format_into is resp_format writing into buf when the command fits
 * in cap bytes: returns buf, or a malloc'd buffer when it did not fit (the
 * caller frees it when the result differs from buf), or NULL. */
char *resp_format_into(char *buf, size_t cap, const struct resp_args *head, const struct resp_args *tail,
                       size_t *len);

#endif
