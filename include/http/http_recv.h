#ifndef SW_HTTP_RECV_H
#define SW_HTTP_RECV_H
/* http_recv: what both HTTP clients, the asynchronous one (httpc.c) and the
 * blocking one (http_sync.c), keep of an answer as libcurl hands it over:
 * the body, capped, and the first Retry-After header. Both install these two
 * libcurl callbacks with a struct http_recv as their data; the owner
 * (the client) frees body and retry_after. */
#include <stddef.h>

struct http_recv {
    char *body;          /* NUL-terminated (may hold NULs before len); cap + 1 bytes
                          * allocated; NULL before the first byte */
    size_t len;          /* bytes of body */
    size_t cap;          /* bytes allocated for body, less the NUL */
    size_t max;          /* set by the owner: a body past max bytes fails the
                          * transfer with truncated = 1; 0 = no cap */
    int truncated;
    char *retry_after;   /* the first Retry-After value (header name in any case),
                          * blanks trimmed; NULL if absent */
};

/* http_recv_body is a CURLOPT_WRITEFUNCTION (CURLOPT_WRITEDATA: the struct
 * http_recv): it appends, and refuses (returns short, so curl fails the
 * transfer with CURLE_WRITE_ERROR) past max or when out of memory. */
size_t http_recv_body(char *ptr, size_t size, size_t nmemb, void *data);

/* http_recv_header is a CURLOPT_HEADERFUNCTION (CURLOPT_HEADERDATA: the
 * struct http_recv): it keeps the first Retry-After. */
size_t http_recv_header(char *buf, size_t size, size_t nitems, void *data);

#endif
