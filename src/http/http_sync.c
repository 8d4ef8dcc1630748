/* http_sync: a blocking HTTP client on libcurl's easy API (see
 * include/http/http_sync.h). */
#include "http/http_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "http/http_recv.h"

_Static_assert(HTTP_SYNC_ERROR_SIZE >= CURL_ERROR_SIZE, "the error buffer is curl's");

int http_sync_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void http_sync_global_cleanup(void)
{
    curl_global_cleanup();
}

void http_sync_call(const struct http_sync_opts *o, const char *method, const char *url,
                    const char *const *headers, const char *body, struct http_sync_result *res)
{
    struct http_recv rx = {.max = o->max_body};
    struct curl_slist *hl = NULL;
    CURL *c = curl_easy_init();

    memset(res, 0, sizeof *res);
    if (c == NULL) {
        snprintf(res->error, sizeof res->error, "out of memory");
        goto out;
    }
    for (const char *const *p = headers; p && *p; p++)
        hl = curl_slist_append(hl, *p);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);   /* threads: no SIGALRM timeouts */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_recv_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &rx);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_recv_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &rx);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, res->error);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (o->ca_file && o->ca_file[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
    /* POSTFIELDS makes it a POST; any other method with a body says so. */
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (strcmp(method, "GET") != 0 && (body == NULL || strcmp(method, "POST") != 0))
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
    } else {
        res->status = 0;
        if (res->error[0] == '\0')
            snprintf(res->error, sizeof res->error, "%s", curl_easy_strerror(rc));
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
out:
    res->body = rx.body ? rx.body : calloc(1, 1);
    res->len = rx.body ? rx.len : 0;
    res->truncated = rx.truncated;
    res->retry_after = rx.retry_after;
}

void http_sync_free(struct http_sync_result *res)
{
    if (res->body) {
        OPENSSL_cleanse(res->body, res->len);
        free(res->body);
    }
    free(res->retry_after);
    res->body = NULL;
    res->retry_after = NULL;
}
