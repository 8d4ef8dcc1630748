/* redis_tls.c: the TLS settings and the pipe's pump (include/redis/redis_tls.h).
 *
 * The pump holds one buffer each way and fills a buffer only when it is
 * empty, so a slow side stops the other instead of growing memory: hiredis
 * waits on its socket, Redis on TCP. Partial SSL_writes are allowed (and a
 * retried write may come from a moved buffer), so an SSL_write never blocks
 * the pump on a full buffer. */
#include "redis/redis_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/errbuf.h"

/* REDIS_TLS_KEY_MAX: the largest key file read. A 4096-bit RSA key in PEM
 * is about 3.3 KB; anything near this is not a key. */
#define REDIS_TLS_KEY_MAX 65536
#define REDIS_TLS_BUF 16384

struct redis_tls {
    SSL_CTX *ctx;
    char server_name[CFG_STR]; /* "" = each connection's host */
};

/* redis_tls_pipe: one TLS connection and the plain socket end beside it. */
struct redis_tls_pipe {
    SSL *ssl;
    int net;                       /* TCP socket to Redis, TLS on it; -1 before the first connect */
    struct redis_tls_addrs addrs;  /* where to connect, in order */
    int next_addr;                 /* the address the next connect attempt takes */
    int plain;                     /* our end of hiredis's socket (clear RESP) */
    int connecting;                /* the TCP connect is still under way */
    int up;                        /* the handshake is done: the server is verified */
    int plain_eof;                 /* hiredis closed its end */
    int net_eof;                   /* Redis closed the connection */
    char where[CFG_STR + 16];      /* host:port, for messages */
    unsigned char out[REDIS_TLS_BUF]; /* hiredis -> Redis: [out_off, out_len) pending */
    size_t out_off, out_len;
    unsigned char in[REDIS_TLS_BUF];  /* Redis -> hiredis: [in_off, in_len) pending */
    size_t in_off, in_len;
    char err[256];
};

/* ================================ Settings ================================ */

/* tls_ssl_error: OpenSSL's first queued reason, or dflt. Clears the queue. */
static const char *tls_ssl_error(char *buf, size_t n, const char *dflt)
{
    unsigned long e = ERR_get_error();

    if (e == 0)
        snprintf(buf, n, "%s", dflt);
    else
        ERR_error_string_n(e, buf, n);
    ERR_clear_error();
    return buf;
}

/* tls_no_passphrase: an encrypted key is refused; no one is there to ask. */
static int tls_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* tls_open_secret opens the key file as the project opens every secret
 * file: a regular file, checked on the open descriptor (a rename cannot slip
 * another past the check), that no group or other may read, and small.
 * Returns it unbuffered (no stdio copy of the key is left behind: the bytes
 * go straight to OpenSSL's PEM reader, which wipes what it holds), or NULL
 * with err. */
static FILE *tls_open_secret(const char *path, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    FILE *f;

    if (fd < 0) {
        errbuf_set(err, errlen, "redis-tls-key-file %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        errbuf_set(err, errlen, "redis-tls-key-file %s: not a regular file", path);
    else if (st.st_mode & (S_IRWXG | S_IRWXO))
        errbuf_set(err, errlen, "redis-tls-key-file %s is readable by others (mode %04o); chmod 600 it",
                   path, (unsigned)(st.st_mode & 07777));
    else if (st.st_size > REDIS_TLS_KEY_MAX)
        errbuf_set(err, errlen, "redis-tls-key-file %s: larger than %d bytes", path, REDIS_TLS_KEY_MAX);
    else if ((f = fdopen(fd, "r")) != NULL) {
        setvbuf(f, NULL, _IONBF, 0);
        return f;
    } else
        errbuf_set(err, errlen, "redis-tls-key-file %s: %s", path, strerror(errno));
    close(fd);
    return NULL;
}

/* tls_load_key puts the client key of path into ctx. */
static int tls_load_key(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
    FILE *f = tls_open_secret(path, err, errlen);
    EVP_PKEY *key;
    char why[200];
    int rc = -1;

    if (f == NULL)
        return -1;
    key = PEM_read_PrivateKey(f, NULL, tls_no_passphrase, NULL);
    fclose(f);
    if (key == NULL) {
        /* OpenSSL's reason names no key bytes */
        errbuf_set(err, errlen, "redis-tls-key-file %s: not an unencrypted PEM private key (%s)", path,
                   tls_ssl_error(why, sizeof why, "unreadable"));
        return -1;
    }
    if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        errbuf_set(err, errlen, "redis-tls-key-file %s does not match redis-tls-cert-file (%s)", path,
                   tls_ssl_error(why, sizeof why, "mismatch"));
    else
        rc = 0;
    EVP_PKEY_free(key);
    return rc;
}

/* tls_load_trust: the CAs the server must chain to. */
static int tls_load_trust(SSL_CTX *ctx, const struct sw_config *c, char *err, size_t errlen)
{
    const char *file = c->redis_tls_ca_cert_file[0] ? c->redis_tls_ca_cert_file : NULL;
    const char *dir = c->redis_tls_ca_cert_dir[0] ? c->redis_tls_ca_cert_dir : NULL;
    char why[200];

    if (file == NULL && dir == NULL) {
        if (SSL_CTX_set_default_verify_paths(ctx) == 1)
            return 0;
        errbuf_set(err, errlen, "redis-tls: cannot load the system's CAs (%s)",
                   tls_ssl_error(why, sizeof why, "unknown"));
        return -1;
    }
    if (SSL_CTX_load_verify_locations(ctx, file, dir) == 1)
        return 0;
    errbuf_set(err, errlen, "redis-tls-ca-cert-%s %s: %s", file ? "file" : "dir", file ? file : dir,
               tls_ssl_error(why, sizeof why, "cannot be loaded"));
    return -1;
}

struct redis_tls *redis_tls_new(const struct sw_config *c, char *err, size_t errlen)
{
    struct redis_tls *t = calloc(1, sizeof *t);
    char why[200];

    if (t == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    if (!c->redis_tls_cert_file[0] != !c->redis_tls_key_file[0]) {
        errbuf_set(err, errlen, "redis-tls-cert-file and redis-tls-key-file go together: set both or neither");
        goto fail;
    }
    snprintf(t->server_name, sizeof t->server_name, "%s", c->redis_tls_server_name);
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL) {
        errbuf_set(err, errlen, "redis-tls: %s", tls_ssl_error(why, sizeof why, "cannot make a TLS context"));
        goto fail;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    /* the pump may retry a write from a buffer that moved, and take part of it */
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (tls_load_trust(t->ctx, c, err, errlen) != 0)
        goto fail;
    if (c->redis_tls_cert_file[0]) {
        if (SSL_CTX_use_certificate_chain_file(t->ctx, c->redis_tls_cert_file) != 1) {
            errbuf_set(err, errlen, "redis-tls-cert-file %s: %s", c->redis_tls_cert_file,
                       tls_ssl_error(why, sizeof why, "cannot be loaded"));
            goto fail;
        }
        if (tls_load_key(t->ctx, c->redis_tls_key_file, err, errlen) != 0)
            goto fail;
    }
    return t;
fail:
    redis_tls_free(t);
    return NULL;
}

void redis_tls_free(struct redis_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

/* ================================== TCP =================================== */

int redis_tls_resolve(const char *host, int port, struct redis_tls_addrs *out, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    char ports[16];
    int rv;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(ports, sizeof ports, "%d", port);
    out->n = 0;
    rv = getaddrinfo(host, ports, &hints, &res);
    if (rv != 0) {
        errbuf_set(err, errlen, "cannot connect to Redis at %.200s:%d: %s", host, port, gai_strerror(rv));
        return -1;
    }
    for (struct addrinfo *a = res; a && out->n < REDIS_TLS_ADDRS_MAX; a = a->ai_next) {
        if (a->ai_addrlen > sizeof out->addr[0])
            continue;
        memcpy(&out->addr[out->n], a->ai_addr, a->ai_addrlen);
        out->len[out->n++] = (socklen_t)a->ai_addrlen;
    }
    freeaddrinfo(res);
    if (out->n == 0) {
        errbuf_set(err, errlen, "cannot connect to Redis at %.200s:%d: no address", host, port);
        return -1;
    }
    return 0;
}

/* tls_connect_next starts a non-blocking connect to the pipe's next
 * address, skipping those that fail at once. 0 with p->net under way (or
 * connected), or -1 with errno when none is left. */
static int tls_connect_next(struct redis_tls_pipe *p)
{
    int saved = ECONNREFUSED;

    while (p->next_addr < p->addrs.n) {
        const struct sockaddr_storage *sa = &p->addrs.addr[p->next_addr];
        socklen_t len = p->addrs.len[p->next_addr++];
        int one = 1, fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        if (fd < 0) {
            saved = errno;
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        if (connect(fd, (const struct sockaddr *)sa, len) == 0 || errno == EINPROGRESS) {
            p->net = fd;
            return 0;
        }
        saved = errno;
        close(fd);
    }
    errno = saved;
    return -1;
}

/* ================================== Pipe ================================== */

/* tls_is_ip: name is an IPv4 or IPv6 literal (checked against IP SANs). */
static int tls_is_ip(const char *name)
{
    unsigned char a[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1;
}

struct redis_tls_pipe *redis_tls_pipe_new(const struct redis_tls *t, const struct redis_tls_addrs *addrs, int plain,
                                          const char *host, int port, char *err, size_t errlen)
{
    struct redis_tls_pipe *p = calloc(1, sizeof *p);
    const char *name = t->server_name[0] ? t->server_name : host;
    char why[200];
    int ok;

    if (p == NULL) {
        close(plain);
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    p->net = -1;
    p->plain = plain;
    p->addrs = *addrs;
    p->connecting = 1;
    snprintf(p->where, sizeof p->where, "%.200s:%d", host, port);
    fcntl(plain, F_SETFL, fcntl(plain, F_GETFL) | O_NONBLOCK);
    if (tls_connect_next(p) != 0) {
        errbuf_set(err, errlen, "cannot connect to Redis at %.200s:%d: %s", host, port, strerror(errno));
        redis_tls_pipe_free(p);
        return NULL;
    }
    p->ssl = SSL_new(t->ctx);
    if (p->ssl == NULL || SSL_set_fd(p->ssl, p->net) != 1)
        goto fail;
    /* The name check is OpenSSL's own (RFC 6125), done inside the handshake:
     * a certificate for another name fails it like one from another CA. */
    if (tls_is_ip(name)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(p->ssl), name) == 1;
    } else {
        ok = SSL_set1_host(p->ssl, name) == 1 && SSL_set_tlsext_host_name(p->ssl, name) == 1;
    }
    if (!ok)
        goto fail;
    SSL_set_connect_state(p->ssl);
    return p;
fail:
    errbuf_set(err, errlen, "redis-tls: %s", tls_ssl_error(why, sizeof why, "cannot set up the connection"));
    redis_tls_pipe_free(p);
    return NULL;
}

void redis_tls_pipe_free(struct redis_tls_pipe *p)
{
    if (p == NULL)
        return;
    if (p->ssl) {
        /* a close_notify when it fits in the socket at once; never waited for */
        if (p->up && !p->net_eof)
            SSL_shutdown(p->ssl);
        SSL_free(p->ssl);
        ERR_clear_error();
    }
    if (p->net >= 0)
        close(p->net);
    if (p->plain >= 0)
        close(p->plain);
    free(p);
}

int redis_tls_pipe_net(const struct redis_tls_pipe *p)
{
    return p->net;
}

int redis_tls_pipe_plain(const struct redis_tls_pipe *p)
{
    return p->plain;
}

const char *redis_tls_pipe_error(const struct redis_tls_pipe *p)
{
    return p->err;
}

int redis_tls_pipe_up(const struct redis_tls_pipe *p)
{
    return p->up;
}

/* pipe_fail records why (the first reason wins) and says FAILED. */
static enum redis_tls_step pipe_fail(struct redis_tls_pipe *p, const char *why)
{
    if (!p->err[0])
        errbuf_set(p->err, sizeof p->err, "Redis at %s: %s", p->where, why);
    return REDIS_TLS_FAILED;
}

/* pipe_ssl_wait turns an SSL_ get_error code into the event it waits for;
 * 0 for a real error. */
static short pipe_ssl_wait(int code)
{
    return code == SSL_ERROR_WANT_READ ? POLLIN : code == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
}

/* pipe_connected: the TCP connect has finished (1), is still under way (0),
 * or failed (-1, with err). */
static int pipe_connected(struct redis_tls_pipe *p)
{
    struct pollfd pf = {p->net, POLLOUT, 0};
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    char why[160];

    if (poll(&pf, 1, 0) == 0)
        return 0;
    if (getsockopt(p->net, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        soerr = errno;
    if (soerr != 0) {
        /* The next address of the host, as hiredis's blocking connect would
         * try it (a name giving ::1 first while Redis binds 127.0.0.1 only):
         * a new socket, its connect under way; the SSL object has sent
         * nothing yet and takes the new descriptor. Callers read the
         * descriptor afresh after every step. */
        close(p->net);
        p->net = -1;
        if (tls_connect_next(p) == 0 && SSL_set_fd(p->ssl, p->net) == 1)
            return 0;
        snprintf(why, sizeof why, "cannot connect: %s", strerror(soerr));
        pipe_fail(p, why);
        return -1;
    }
    p->connecting = 0;
    return 1;
}

/* pipe_handshake runs SSL_connect as far as it goes. */
static enum redis_tls_step pipe_handshake(struct redis_tls_pipe *p, struct redis_tls_want *want)
{
    char why[220], ssl_why[160];
    int rc, code;
    long vr;

    ERR_clear_error();
    rc = SSL_connect(p->ssl);
    if (rc == 1) {
        p->up = 1;
        return REDIS_TLS_MORE;
    }
    code = SSL_get_error(p->ssl, rc);
    if (pipe_ssl_wait(code)) {
        want->net = pipe_ssl_wait(code);
        return REDIS_TLS_MORE;
    }
    vr = SSL_get_verify_result(p->ssl);
    if (vr != X509_V_OK)
        snprintf(why, sizeof why, "TLS handshake refused: server certificate not verified: %s",
                 X509_verify_cert_error_string(vr));
    else if (code == SSL_ERROR_SYSCALL || code == SSL_ERROR_ZERO_RETURN)
        snprintf(why, sizeof why, "TLS handshake failed: connection closed (%s; is the port a TLS port?)",
                 errno ? strerror(errno) : "end of file");
    else
        snprintf(why, sizeof why, "TLS handshake failed: %s", tls_ssl_error(ssl_why, sizeof ssl_why, "error"));
    ERR_clear_error();
    return pipe_fail(p, why);
}

/* pipe_upstream moves hiredis's bytes to Redis. Returns 1 on progress, 0
 * when it waits, -1 when the pipe failed. */
static int pipe_upstream(struct redis_tls_pipe *p, struct redis_tls_want *want)
{
    if (p->out_off == p->out_len && !p->plain_eof) {
        ssize_t n = read(p->plain, p->out, sizeof p->out);

        if (n > 0) {
            p->out_off = 0;
            p->out_len = (size_t)n;
            return 1;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            want->plain |= POLLIN;
            return 0;
        }
        p->plain_eof = 1;   /* hiredis closed its end (or it broke): we are done */
        return 1;
    }
    if (p->out_off < p->out_len) {
        int n, code;

        ERR_clear_error();
        n = SSL_write(p->ssl, p->out + p->out_off, (int)(p->out_len - p->out_off));
        if (n > 0) {
            p->out_off += (size_t)n;
            return 1;
        }
        code = SSL_get_error(p->ssl, n);
        if (pipe_ssl_wait(code)) {
            want->net |= pipe_ssl_wait(code);
            return 0;
        }
        pipe_fail(p, "TLS write failed (connection lost)");
        return -1;
    }
    return 0;
}

/* pipe_downstream moves Redis's bytes to hiredis; as pipe_upstream. */
static int pipe_downstream(struct redis_tls_pipe *p, struct redis_tls_want *want)
{
    if (p->in_off == p->in_len && !p->net_eof) {
        int n, code;

        ERR_clear_error();
        n = SSL_read(p->ssl, p->in, (int)sizeof p->in);
        if (n > 0) {
            p->in_off = 0;
            p->in_len = (size_t)n;
            return 1;
        }
        code = SSL_get_error(p->ssl, n);
        if (pipe_ssl_wait(code)) {
            want->net |= pipe_ssl_wait(code);
            return 0;
        }
        /* An alert (TLS 1.3 servers refuse a client certificate only after
         * the client's handshake is done) is the reason hiredis will not
         * know: keep it. close_notify, a bare TCP close or a broken
         * connection: hiredis sees its socket close once what arrived
         * before is delivered. */
        if (code == SSL_ERROR_SSL && !p->err[0]) {
            char why[200], ssl_why[140];

            snprintf(why, sizeof why, "TLS connection refused by the server: %s",
                     tls_ssl_error(ssl_why, sizeof ssl_why, "error"));
            pipe_fail(p, why);
        }
        p->net_eof = 1;
        ERR_clear_error();
        return 1;
    }
    if (p->in_off < p->in_len) {
        /* MSG_NOSIGNAL: hiredis having gone is EPIPE here, not a SIGPIPE */
        ssize_t n = send(p->plain, p->in + p->in_off, p->in_len - p->in_off, MSG_NOSIGNAL);

        if (n > 0) {
            p->in_off += (size_t)n;
            return 1;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            want->plain |= POLLOUT;
            return 0;
        }
        p->plain_eof = 1;
        return 1;
    }
    return 0;
}

enum redis_tls_step redis_tls_pipe_step(struct redis_tls_pipe *p, struct redis_tls_want *want)
{
    want->net = want->plain = 0;
    if (p->err[0] && !p->net_eof)
        return REDIS_TLS_FAILED;
    if (p->connecting) {
        int c = pipe_connected(p);

        if (c < 0)
            return REDIS_TLS_FAILED;
        if (c == 0) {
            want->net = POLLOUT;
            return REDIS_TLS_MORE;
        }
    }
    if (!p->up) {
        enum redis_tls_step s = pipe_handshake(p, want);

        if (s != REDIS_TLS_MORE || !p->up)
            return s;
    }
    for (;;) {
        int up, down;

        want->net = want->plain = 0;
        up = pipe_upstream(p, want);
        down = pipe_downstream(p, want);
        if (up < 0 || down < 0)
            return REDIS_TLS_FAILED;
        if (p->plain_eof || (p->net_eof && p->in_off == p->in_len))
            return REDIS_TLS_DONE;
        if (up == 0 && down == 0)
            return REDIS_TLS_MORE;
    }
}

/* ================================== Probe ================================= */

/* probe_wait polls the TLS socket for what SSL asked (code) until deadline
 * (CLOCK_MONOTONIC ms). 0, or -1 on timeout. */
static int probe_wait(struct redis_tls_pipe *p, int code, long long deadline)
{
    struct pollfd pf = {p->net, pipe_ssl_wait(code), 0};
    struct timespec ts;
    long long left;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    left = deadline - ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    return left > 0 && pf.events && poll(&pf, 1, (int)left) > 0 ? 0 : -1;
}

int redis_tls_pipe_probe(struct redis_tls_pipe *p, int timeout_ms, char *err, size_t errlen)
{
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    struct timespec ts;
    long long deadline;
    size_t sent = 0, got = 0;
    char line[256], ssl_why[140];

    clock_gettime(CLOCK_MONOTONIC, &ts);
    deadline = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + timeout_ms;
    while (got == 0 || line[got - 1] != '\n') {
        int n, code;

        ERR_clear_error();
        if (sent < sizeof ping - 1)
            n = SSL_write(p->ssl, ping + sent, (int)(sizeof ping - 1 - sent));
        else if (got < sizeof line)
            n = SSL_read(p->ssl, line + got, 1);   /* one byte: the rest is hiredis's */
        else
            break;
        if (n > 0) {
            *(sent < sizeof ping - 1 ? &sent : &got) += (size_t)n;
            continue;
        }
        code = SSL_get_error(p->ssl, n);
        if (pipe_ssl_wait(code) && probe_wait(p, code, deadline) == 0)
            continue;
        if (pipe_ssl_wait(code))
            errbuf_set(err, errlen, "Redis at %s: no answer over TLS in %d ms", p->where, timeout_ms);
        else
            errbuf_set(err, errlen, "Redis at %s: TLS connection refused by the server: %s", p->where,
                       tls_ssl_error(ssl_why, sizeof ssl_why, "connection closed"));
        return -1;
    }
    if (got == 0 || (line[0] != '+' && line[0] != '-')) {
        errbuf_set(err, errlen, "Redis at %s: not a Redis answer over TLS", p->where);
        return -1;
    }
    return 0;
}
