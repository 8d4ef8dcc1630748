/* http_server: the libmicrohttpd prologue of serve and of the metrics
 * endpoint (see include/http/http_server.h). */
#include "http/http_server.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

struct http_server {
    struct MHD_Daemon *d;
    http_server_handler *handler;
    void *cls;
};

int http_server_listen_addr(const char *listen_addr, struct sockaddr_storage *ss, char *err,
                            size_t errlen)
{
    char host[256];
    const char *colon, *h = listen_addr;
    size_t hl;

    if (listen_addr == NULL || *listen_addr == '\0') {
        snprintf(err, errlen, "empty listen address");
        return -1;
    }
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(err, errlen, "bad listen address '%s' (want [ipv6]:port)", listen_addr);
            return -1;
        }
        h++;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(h, ':');
        if (colon == NULL) {
            snprintf(err, errlen, "bad listen address '%s' (want host:port)", listen_addr);
            return -1;
        }
        hl = (size_t)(colon - h);
    }
    if (hl == 0 || hl >= sizeof host) {
        snprintf(err, errlen, "bad listen address '%s' (want host:port)", listen_addr);
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 0 || port > 65535) {
        snprintf(err, errlen, "bad port in listen address '%s'", listen_addr);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%ld", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "cannot resolve listen address '%s': %s", listen_addr,
                 rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    memset(ss, 0, sizeof *ss);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* on_request: the prologue. The first call brings only the headers; the
 * calls that follow bring upload chunks, dropped (every endpoint is a GET),
 * and the last one, with none left, is where the handler answers. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_len, void **con_cls)
{
    struct http_server *s = cls;
    (void)version;
    (void)upload;

    if (*con_cls == NULL) {
        *con_cls = s;
        return MHD_YES;
    }
    if (*upload_len) {
        *upload_len = 0;
        return MHD_YES;
    }
    return s->handler(s->cls, c, url, method);
}

struct http_server *http_server_start(const struct http_server_opts *o, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    struct http_server *s;

    if (http_server_listen_addr(o->listen_addr, &ss, err, errlen) != 0)
        return NULL;
    if ((s = calloc(1, sizeof *s)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->handler = o->handler;
    s->cls = o->cls;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (o->thread_per_connection)
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_LIMIT, o->connection_limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, o->connection_timeout_s,
                            MHD_OPTION_END);
    if (s->d == NULL) {
        snprintf(err, errlen, "cannot listen on %s%s (address in use?)", o->listen_addr,
                 o->what ? o->what : "");
        free(s);
        return NULL;
    }
    return s;
}

int http_server_port(const struct http_server *s)
{
    const union MHD_DaemonInfo *info;

    if (s == NULL)
        return 0;
    info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

void http_server_stop(struct http_server *s)
{
    if (s == NULL)
        return;
    MHD_stop_daemon(s->d);   /* waits for the connection threads */
    free(s);
}

enum MHD_Result http_server_reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                                  const char *body, size_t len, const char *const *extra)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)(body ? body : ""),
                                                             MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    for (size_t i = 0; extra && extra[i]; i += 2)
        if (extra[i + 1])
            MHD_add_response_header(r, extra[i], extra[i + 1]);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}
