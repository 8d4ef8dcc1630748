/* http_recv: the body and Retry-After of an answer, for both HTTP clients
 * (see include/http/http_recv.h). */
#include "http/http_recv.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t http_recv_body(char *ptr, size_t size, size_t nmemb, void *data)
{
    struct http_recv *r = data;
    size_t n = size * nmemb;
    size_t max = r->max;

    if (max && (r->len > max || n > max - r->len)) {
        r->truncated = 1;
        return 0;
    }
    if (r->len + n > r->cap || !r->body) {
        size_t cap = r->cap ? r->cap : 4096;
        char *nb;

        while (cap < r->len + n)
            cap *= 2;
        if (max && cap > max)
            cap = max;
        nb = realloc(r->body, cap + 1);
        if (!nb)
            return 0;
        r->body = nb;
        r->cap = cap;
    }
    memcpy(r->body + r->len, ptr, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

size_t http_recv_header(char *buf, size_t size, size_t nitems, void *data)
{
    struct http_recv *r = data;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";
    size_t nl = sizeof name - 1;

    if (r->retry_after == NULL && n > nl && strncasecmp(buf, name, nl) == 0) {
        const char *v = buf + nl;
        const char *end = buf + n;

        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
            end--;
        r->retry_after = strndup(v, (size_t)(end - v));
    }
    return n;
}
