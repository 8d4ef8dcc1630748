#ifndef SW_REDIS_TLS_H
#define SW_REDIS_TLS_H
/* redis_tls: TLS to Redis for hiredis 0.14, which has none.
 *
 * hiredis keeps speaking clear RESP, but to one end of an in-process socket;
 * a pipe (struct redis_tls_pipe) carries the bytes between the other end and
 * an OpenSSL connection to Redis, non-blockingly. This header has the two
 * halves every driver shares: the TLS settings (an SSL_CTX built once from
 * the redis-tls-* directives) and the pipe's pump, a step function that does
 * all the I/O it can without blocking and says which events it waits for.
 * redis_conn.c drives it from the worker's libev loop (async) or from a
 * small thread (sync); see README, "Redis deployments".
 *
 * Verification is always on: the server's certificate must chain to the
 * configured CAs (or the system's) and name redis-tls-server-name, else
 * redis-host (an IP address is matched against the certificate's IP
 * entries). Nothing here logs; errors come back in the caller's buffer and
 * never hold key material. */
#include <stddef.h>
#include <sys/socket.h>
#include "base/config.h"

struct redis_tls;

/* redis_tls_new builds the TLS settings of c (redis-tls must be yes): the
 * CAs, the client certificate and key (the key file read as a secret: a
 * regular file, mode 0600 or stricter, not encrypted), TLS 1.2 or later.
 * Returns the settings (redis_tls_free them), or NULL with the reason in
 * err. */
struct redis_tls *redis_tls_new(const struct sw_config *c, char *err, size_t errlen);
/* redis_tls_free frees the settings; pipes made from them keep what they
 * need (OpenSSL counts its references). NULL is ignored. */
void redis_tls_free(struct redis_tls *t);

/* redis_tls_addrs: the addresses of one host:port, in getaddrinfo's order
 * (the first REDIS_TLS_ADDRS_MAX). */
#define REDIS_TLS_ADDRS_MAX 8
struct redis_tls_addrs {
    int n;
    struct sockaddr_storage addr[REDIS_TLS_ADDRS_MAX];
    socklen_t len[REDIS_TLS_ADDRS_MAX];
};

/* redis_tls_resolve: host:port's addresses into out (getaddrinfo, blocking
 * as hiredis's own connect is). 0, or -1 with err. */
int redis_tls_resolve(const char *host, int port, struct redis_tls_addrs *out, char *err, size_t errlen);

/* redis_tls_step: what redis_tls_pipe_step says. */
enum redis_tls_step {
    REDIS_TLS_MORE,   /* call again when one of the wanted events happens */
    REDIS_TLS_DONE,   /* one side closed: close the other (no error) */
    REDIS_TLS_FAILED  /* the connect, the handshake or a transfer failed: see err */
};

/* redis_tls_want: events the pipe waits for on one descriptor (poll bits). */
struct redis_tls_want {
    short net;   /* on the TLS socket */
    short plain; /* on the plain end */
};

struct redis_tls_pipe;

/* redis_tls_pipe_new starts a non-blocking TCP connect to the first of
 * addrs (host:port's, from redis_tls_resolve) that does not fail at once and
 * makes a pipe between it and plain (the in-process end hiredis does not
 * hold; made non-blocking here). A connect that fails later moves on to the
 * next address, inside redis_tls_pipe_step, without blocking: so the TLS
 * socket's descriptor may change while connecting (read it again after each
 * step). The certificate must name redis-tls-server-name, else host. The
 * pipe owns plain from now on, even on failure. Returns NULL with err (every
 * address refused at once, or OpenSSL could not set up). */
struct redis_tls_pipe *redis_tls_pipe_new(const struct redis_tls *t, const struct redis_tls_addrs *addrs, int plain,
                                          const char *host, int port, char *err, size_t errlen);
/* redis_tls_pipe_free closes both descriptors (a close_notify is tried
 * first, never waited for) and frees the pipe. NULL is ignored. */
void redis_tls_pipe_free(struct redis_tls_pipe *p);

/* redis_tls_pipe_step finishes the TCP connect, then the handshake, then
 * moves every byte it can each way; nothing is read from hiredis before the
 * handshake has verified the server, so AUTH never leaves in clear. */
enum redis_tls_step redis_tls_pipe_step(struct redis_tls_pipe *p, struct redis_tls_want *want);
/* redis_tls_pipe_probe: once up, and before any byte of hiredis's, one
 * PING over the TLS connection, waited for (at most timeout_ms): a TLS 1.3
 * server refuses a client certificate (or its absence) only after the
 * client's handshake is done, so this is where such a refusal shows, with
 * its reason. Any one-line answer (+PONG, -NOAUTH...) will do. 0, or -1
 * with err. For blocking users; the async side learns the same from the
 * pipe's error. */
int redis_tls_pipe_probe(struct redis_tls_pipe *p, int timeout_ms, char *err, size_t errlen);
/* redis_tls_pipe_fds: the two descriptors (for watchers and poll). */
int redis_tls_pipe_net(const struct redis_tls_pipe *p);
int redis_tls_pipe_plain(const struct redis_tls_pipe *p);
/* redis_tls_pipe_error: why the pipe failed ("" when it did not). */
const char *redis_tls_pipe_error(const struct redis_tls_pipe *p);
/* redis_tls_pipe_up: the handshake is done (the server verified). */
int redis_tls_pipe_up(const struct redis_tls_pipe *p);

#endif
