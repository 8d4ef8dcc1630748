/* resp: one-pass RESP formatting (include/redis/resp.h). */
#include "redis/resp.h"

#include <stdlib.h>
#include <string.h>

/* A command's lengths are gathered once into this many slots on the stack;
 * longer commands (a large complete.lua batch) take one allocation. */
#define RESP_STACK_ARGS 64

/* resp_digits: decimal digits of n (n >= 0). */
static size_t resp_digits(size_t n)
{
    size_t d = 1;

    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* resp_put_num writes prefix, n in decimal and CRLF at p; returns the end. */
static char *resp_put_num(char *p, char prefix, size_t n)
{
    size_t d = resp_digits(n);

    *p++ = prefix;
    for (size_t i = d; i > 0; i--) {
        p[i - 1] = (char)('0' + n % 10);
        n /= 10;
    }
    p += d;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* resp_lens fills lens[0 .. head->n + tail->n) and returns the command's size. */
static size_t resp_lens(const struct resp_args *head, const struct resp_args *tail, size_t *lens)
{
    const struct resp_args *runs[2] = {head, tail};
    size_t total = 3 + resp_digits((size_t)(head->n + tail->n)), k = 0;

    for (int r = 0; r < 2; r++)
        for (int i = 0; i < runs[r]->n; i++, k++) {
            size_t n = runs[r]->lens ? runs[r]->lens[i] : strlen(runs[r]->v[i]);

            lens[k] = n;
            total += 1 + resp_digits(n) + 2 + n + 2;   /* $n CRLF data CRLF */
        }
    return total;
}

static void resp_write(char *p, const struct resp_args *head, const struct resp_args *tail, const size_t *lens)
{
    const struct resp_args *runs[2] = {head, tail};
    size_t k = 0;

    p = resp_put_num(p, '*', (size_t)(head->n + tail->n));
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < runs[r]->n; i++, k++) {
            p = resp_put_num(p, '$', lens[k]);
            memcpy(p, runs[r]->v[i], lens[k]);
            p += lens[k];
            *p++ = '\r';
            *p++ = '\n';
        }
}

char *resp_format_into(char *buf, size_t cap, const struct resp_args *head, const struct resp_args *tail,
                       size_t *len)
{
    size_t stack[RESP_STACK_ARGS], *lens = stack, total;
    char *out = NULL;

    if (head->n < 0 || tail->n < 0)
        return NULL;
    if ((size_t)head->n + (size_t)tail->n > RESP_STACK_ARGS) {
        lens = malloc(((size_t)head->n + (size_t)tail->n) * sizeof *lens);
        if (lens == NULL)
            return NULL;
    }
    total = resp_lens(head, tail, lens);
    out = total <= cap ? buf : malloc(total);
    if (out != NULL) {
        resp_write(out, head, tail, lens);
        *len = total;
    }
    if (lens != stack)
        free(lens);
    return out;
}

char *resp_format(const struct resp_args *head, const struct resp_args *tail, size_t *len)
{
    return resp_format_into(NULL, 0, head, tail, len);
}
