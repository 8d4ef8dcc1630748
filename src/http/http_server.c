/* http_server: the libmicrohttpd prologue of serve and of the metrics
 * endpoint (see include/http/http_server.h). */
#include "http/http_server.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "base/log.h"

#define SWEEP_MAX_MS 250   /* the deadline is enforced within this */

/* conn_slot: one open connection, for the deadline. A slot is in use from
 * libmicrohttpd's STARTED notification to its CLOSED one, which comes before
 * it closes the socket: so under the lock, fd is always the connection's
 * own, never a number the kernel already gave to someone else. */
struct conn_slot {
    int fd;
    int used;
    int busy;                 /* the handler is answering: no deadline */
    int closed;               /* shut down by the sweeper (counted once) */
    long long deadline_ms;    /* monotonic */
};

struct http_server {
    struct MHD_Daemon *d;
    http_server_handler *handler;
    void *cls;
    struct http_server_counters *counters;
    size_t max_upload;             /* > 0: bodies kept for form_handler */
    http_server_form_handler *form_handler;

    /* The deadline (request_timeout_ms > 0): slots[] under lock, swept by
     * the sweeper thread until stop. */
    long request_timeout_ms;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t sweeper;
    int sweeping, stop;
    struct conn_slot *slots;
    unsigned nslots;
};

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

/* ============================== the deadline ============================== */

/* on_connection: libmicrohttpd's STARTED and CLOSED notifications, which
 * take a slot and give it back. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    struct conn_slot *slot = *socket_context;

    pthread_mutex_lock(&s->lock);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        for (unsigned i = 0; ci && i < s->nslots; i++) {
            if (!s->slots[i].used) {
                s->slots[i] = (struct conn_slot){.fd = ci->connect_fd, .used = 1,
                                                 .deadline_ms = mono_ms() + s->request_timeout_ms};
                *socket_context = &s->slots[i];
                break;
            }
        }
    } else if (slot != NULL) {
        slot->used = 0;
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&s->lock);
}

/* slot_busy marks the connection's request as being answered (busy = 1), or
 * answered (busy = 0: the next request's deadline starts now). */
static void slot_busy(struct http_server *s, struct MHD_Connection *c, int busy)
{
    const union MHD_ConnectionInfo *ci;

    if (s->request_timeout_ms <= 0 ||
        (ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT)) == NULL ||
        ci->socket_context == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    struct conn_slot *slot = ci->socket_context;
    slot->busy = busy;
    if (!busy)
        slot->deadline_ms = mono_ms() + s->request_timeout_ms;
    pthread_mutex_unlock(&s->lock);
}

/* tcp_open: 1 while the connection is established both ways. libmicrohttpd
 * reports a connection closed (CLOSED) only when its own thread next cleans
 * up, which may wait for the next connection to arrive; by then the socket
 * has long been shut down by it or by the peer, and is not a request that
 * ran out of time. */
static int tcp_open(int fd)
{
    struct tcp_info ti;
    socklen_t n = sizeof ti;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &n) != 0)
        return 0;
    return ti.tcpi_state == TCP_ESTABLISHED;
}

/* sweeper: closes every connection past its deadline, a few times a second. */
static void *sweeper(void *arg)
{
    struct http_server *s = arg;
    long every = s->request_timeout_ms / 4 < SWEEP_MAX_MS ? s->request_timeout_ms / 4 : SWEEP_MAX_MS;

    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        long long now = mono_ms();
        for (unsigned i = 0; i < s->nslots; i++) {
            struct conn_slot *x = &s->slots[i];
            if (x->used && !x->busy && !x->closed && now >= x->deadline_ms) {
                x->closed = 1;
                if (!tcp_open(x->fd))
                    continue;   /* over already, waiting for libmicrohttpd's cleanup */
                /* libmicrohttpd's thread sees the end of the stream and
                 * closes the connection itself: the fd stays its to close. */
                shutdown(x->fd, SHUT_RDWR);
                if (s->counters)
                    atomic_fetch_add(&s->counters->deadline_closed, 1);
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (every > 10 ? every : 10) * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->wake, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* on_mhd_message: libmicrohttpd's own messages (counters set). The ones a
 * client can cause at will are counted, not logged: a flood of them must not
 * become a flood of log lines. */
__attribute__((format(printf, 2, 0)))
static void on_mhd_message(void *cls, const char *fmt, va_list ap)
{
    static const char *const by_client[] = {
        "closed by remote side", "disconnected when reading", "closed when reading",
        "Error processing request", "without `Host'", "Content-Length", "Failed to send",
        "Not enough memory in pool"};
    struct http_server_counters *n = cls;
    char msg[512];
    size_t len;

    vsnprintf(msg, sizeof msg, fmt, ap);
    len = strlen(msg);
    while (len > 0 && msg[len - 1] == '\n')
        msg[--len] = '\0';
    if (strstr(msg, "connection limit") != NULL) {
        atomic_fetch_add(&n->conn_refused, 1);
        return;
    }
    for (size_t i = 0; i < sizeof by_client / sizeof by_client[0]; i++) {
        if (strstr(msg, by_client[i]) != NULL) {
            atomic_fetch_add(&n->client_errors, 1);
            log_debug("http server: %s", msg);
            return;
        }
    }
    log_warn("http server: %s", msg);
}

/* ============================== the prologue ============================== */

/* upload: a request's body, kept whole up to max_upload (form servers). */
struct upload {
    size_t len;
    int over;                 /* more than max_upload came: 413 */
    char buf[];               /* max_upload + 1 bytes */
};

/* on_completed frees a form server's upload once its request is over. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

/* keep_upload appends a chunk to the request's upload, or marks it over. */
static void keep_upload(struct upload *u, size_t max, const char *data, size_t n)
{
    if (u->over || n > max - u->len) {
        u->over = 1;
        return;
    }
    memcpy(u->buf + u->len, data, n);
    u->len += n;
    u->buf[u->len] = '\0';
}

/* answer: the handler's turn, the request whole. */
static enum MHD_Result answer(struct http_server *s, struct MHD_Connection *c, const char *url,
                              const char *method, struct upload *u)
{
    static const char too_large[] = "request body too large\n";
    if (s->max_upload == 0)
        return s->handler(s->cls, c, url, method);
    if (u->over)
        return http_server_reply(c, 413, "text/plain; charset=utf-8", too_large,
                                 sizeof too_large - 1, NULL);
    return s->form_handler(s->cls, c, url, method, u->len ? u->buf : NULL, u->len);
}

/* on_request: the prologue. The first call brings only the headers; the
 * calls that follow bring upload chunks, dropped (serve answers GETs) or kept
 * whole for a form server (struct upload),
 * and the last one, with none left, is where the handler answers. Until
 * then the request's deadline runs. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_len, void **con_cls)
{
    struct http_server *s = cls;
    (void)version;

    if (*con_cls == NULL) {
        /* A form server keeps the body (freed by on_completed). */
        *con_cls = s->max_upload ? calloc(1, sizeof(struct upload) + s->max_upload + 1) : (void *)s;
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*upload_len) {
        if (s->max_upload)
            keep_upload(*con_cls, s->max_upload, upload, *upload_len);
        *upload_len = 0;
        return MHD_YES;
    }
    slot_busy(s, c, 1);
    enum MHD_Result ret = answer(s, c, url, method, *con_cls);
    slot_busy(s, c, 0);
    return ret;
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
    s->counters = o->counters;
    s->request_timeout_ms = o->request_timeout_ms;
    s->max_upload = o->form_handler ? o->max_upload : 0;
    s->form_handler = o->form_handler;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    if (s->request_timeout_ms > 0) {
        s->nslots = o->connection_limit;
        if ((s->slots = calloc(s->nslots, sizeof *s->slots)) == NULL ||
            pthread_create(&s->sweeper, NULL, sweeper, s) != 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        s->sweeping = 1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (o->thread_per_connection)
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The options wanted, the logger first (or some messages would still go
     * to stderr). */
    struct MHD_OptionItem opts[9];
    int n = 0;
    if (o->counters)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_message,
                                            o->counters};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, o->connection_limit, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, o->connection_timeout_s, NULL};
    if (o->per_ip_limit)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->per_ip_limit, NULL};
    if (o->memory_limit)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                            (intptr_t)o->memory_limit, NULL};
    if (s->request_timeout_ms > 0)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s};
    if (s->max_upload)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s};
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts,
                            MHD_OPTION_END);
    if (s->d == NULL) {
        snprintf(err, errlen, "cannot listen on %s%s (address in use?)", o->listen_addr,
                 o->what ? o->what : "");
        goto fail;
    }
    return s;
fail:
    http_server_stop(s);
    return NULL;
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
    if (s->sweeping) {
        pthread_mutex_lock(&s->lock);
        s->stop = 1;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->sweeper, NULL);
    }
    if (s->d)
        MHD_stop_daemon(s->d);   /* waits for the connection threads; slots stay valid */
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s->slots);
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
