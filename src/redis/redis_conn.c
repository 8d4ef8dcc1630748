/* redis_conn.c: opening a Redis connection, plain or TLS (include/redis/redis_conn.h).
 *
 * Why a bridge and not TLS inside hiredis: the mandated hiredis is Debian's
 * 0.14.1, which has neither TLS nor I/O hooks (hiredis 1.0's
 * redisContextFuncs); its contexts read and write a file descriptor
 * themselves. So hiredis gets a socket whose other end stays in this
 * process, and a redis_tls pipe moves the bytes through OpenSSL.
 *
 * Sync: socketpair() and redisConnectFd(). The caller blocks inside hiredis,
 * so the pipe needs a thread of its own; it lives exactly as long as the
 * context (redisFree closes hiredis's end, the thread sees it and ends).
 *
 * Async: hiredis 0.14 has no async constructor taking a descriptor (its
 * redisAsyncInitialize is static), only TCP and unix-socket paths. So a
 * listening unix socket is made in a fresh directory of mode 0700, hiredis
 * connects to it, the connection is accepted and checked to come from this
 * very process (SO_PEERCRED), and the socket and directory are removed at
 * once: they exist for microseconds and no one else can use them. The pipe
 * then runs in the caller's libev loop, no thread. */
#include "redis/redis_conn.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/errbuf.h"

struct redis_conn_bridge {
    struct ev_loop *loop;
    struct redis_tls_pipe *pipe;   /* NULL once the TLS side ended */
    ev_io net_w, plain_w;          /* their events follow the pipe's wants */
    char err[256];
};

/* =================================== Sync ================================== */

/* conn_exit: the pump threads and process exit. The one process-wide state
 * of the module, on purpose: OpenSSL frees its globals in an atexit handler
 * (OPENSSL_cleanup), and a CLI frees its context (ending its pump thread)
 * just before it exits, so a thread could be inside OpenSSL while it is
 * torn down. conn_atexit, registered after OpenSSL's handler and so run
 * before it, marks the process exiting and waits for the threads inside
 * OpenSSL to leave; from then on a thread touches nothing of OpenSSL's and
 * parks (its pipe stays reachable on its stack; the OS reclaims all). */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t left;
    int busy;       /* pump threads inside OpenSSL now */
    int exiting;    /* conn_atexit has run */
} conn_exit = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
static pthread_once_t conn_exit_once = PTHREAD_ONCE_INIT;

static void conn_atexit(void)
{
    pthread_mutex_lock(&conn_exit.lock);
    conn_exit.exiting = 1;
    while (conn_exit.busy > 0)
        pthread_cond_wait(&conn_exit.left, &conn_exit.lock);
    pthread_mutex_unlock(&conn_exit.lock);
}

static void conn_atexit_register(void)
{
    atexit(conn_atexit);
}

/* conn_enter: a pump thread may use OpenSSL (1) until conn_leave, or the
 * process is exiting (0: park). */
static int conn_enter(void)
{
    int ok;

    pthread_mutex_lock(&conn_exit.lock);
    ok = !conn_exit.exiting;
    conn_exit.busy += ok;
    pthread_mutex_unlock(&conn_exit.lock);
    return ok;
}

static void conn_leave(void)
{
    /* This thread's OpenSSL state (its error queue) goes now, while OpenSSL
     * is surely alive: left to the thread-exit destructor it could outlive
     * OPENSSL_cleanup, or sit in a parked thread. */
    OPENSSL_thread_stop();
    pthread_mutex_lock(&conn_exit.lock);
    conn_exit.busy--;
    pthread_cond_broadcast(&conn_exit.left);
    pthread_mutex_unlock(&conn_exit.lock);
}

/* conn_park: the process is exiting; wait for it without a sound. */
static void *conn_park(struct redis_tls_pipe *p)
{
    /* in memory, so that a leak checker at exit still finds the pipe */
    struct redis_tls_pipe *volatile keep = p;

    pthread_mutex_lock(&conn_exit.lock);
    for (;;)
        pthread_cond_wait(&conn_exit.left, &conn_exit.lock);
    return keep;   /* not reached */
}

/* conn_mono_ms: a monotonic clock for the handshake deadline. */
static long long conn_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* conn_poll waits (at most ms, -1 = forever) for what the pipe wants.
 * Returns poll's count; *plain_gone when hiredis's end hung up. */
static int conn_poll(struct redis_tls_pipe *p, const struct redis_tls_want *w, int ms, int *plain_gone)
{
    struct pollfd pf[2] = {{redis_tls_pipe_net(p), w->net, 0}, {redis_tls_pipe_plain(p), w->plain, 0}};
    int n = poll(pf, 2, ms);

    *plain_gone = n > 0 && (pf[1].revents & (POLLHUP | POLLERR | POLLNVAL));
    return n;
}

/* conn_drain: Redis is gone but hiredis is not. Its socket is shut for
 * writing (its next read sees the end: "Server closed the connection", as
 * over plain TCP) and what it still writes is read and dropped until it
 * closes: closing at once would make its next write a SIGPIPE, which kills
 * a CLI without a word. */
static void conn_drain(int plain)
{
    char sink[4096];

    shutdown(plain, SHUT_WR);
    for (;;) {
        struct pollfd pf = {plain, POLLIN, 0};
        ssize_t n;

        if (poll(&pf, 1, -1) < 0 && errno != EINTR)
            return;
        n = read(plain, sink, sizeof sink);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return;
    }
}

/* conn_pump_thread: a sync link's pipe, until either side closes. Every
 * signal is blocked here (the creator set the mask): signals go to the
 * program's own threads, and a write to a dead peer is EPIPE, not SIGPIPE. */
static void *conn_pump_thread(void *arg)
{
    struct redis_tls_pipe *p = arg;
    struct redis_tls_want w;
    int gone = 0;

    for (;;) {
        if (!conn_enter())
            return conn_park(p);
        if (gone || redis_tls_pipe_step(p, &w) != REDIS_TLS_MORE)
            break;
        conn_leave();
        if (conn_poll(p, &w, -1, &gone) < 0 && errno != EINTR)
            gone = 1;
    }
    if (!gone) {
        conn_leave();
        conn_drain(redis_tls_pipe_plain(p));
        if (!conn_enter())
            return conn_park(p);
    }
    redis_tls_pipe_free(p);
    conn_leave();
    return NULL;
}

/* conn_handshake runs the pipe until the server is verified or the
 * deadline passes. 0, or -1 with err. */
static int conn_handshake(struct redis_tls_pipe *p, int timeout_s, char *err, size_t errlen)
{
    long long deadline = conn_mono_ms() + (long long)timeout_s * 1000;
    struct redis_tls_want w;
    int gone = 0;

    for (;;) {
        enum redis_tls_step s = redis_tls_pipe_step(p, &w);
        long long left = deadline - conn_mono_ms();

        if (s != REDIS_TLS_MORE) {
            /* DONE here is Redis closing at once, maybe with an alert */
            errbuf_set(err, errlen, "%s", redis_tls_pipe_error(p)[0] ? redis_tls_pipe_error(p)
                                                                     : "Redis closed the TLS connection at once");
            return -1;
        }
        if (redis_tls_pipe_up(p))
            return redis_tls_pipe_probe(p, left > 0 ? (int)left : 1, err, errlen);
        if (left <= 0 || conn_poll(p, &w, (int)left, &gone) == 0) {
            errbuf_set(err, errlen, "Redis TLS connect timed out after %d s", timeout_s);
            return -1;
        }
    }
}

/* conn_sync_tls: TCP, handshake, then the pump thread and hiredis's end. */
static redisContext *conn_sync_tls(const struct redis_endpoint *ep, int timeout_s, char *err, size_t errlen)
{
    struct redis_tls_pipe *p;
    struct redis_tls_addrs addrs;
    redisContext *r;
    pthread_attr_t attr;
    pthread_t tid;
    sigset_t all, old;
    int sv[2], rc;

    if (redis_tls_resolve(ep->host, ep->port, &addrs, err, errlen) != 0)
        return NULL;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        errbuf_set(err, errlen, "socketpair: %s", strerror(errno));
        return NULL;
    }
    p = redis_tls_pipe_new(ep->tls, &addrs, sv[1], ep->host, ep->port, err, errlen);
    if (p == NULL || conn_handshake(p, timeout_s, err, errlen) != 0) {
        redis_tls_pipe_free(p);
        close(sv[0]);
        return NULL;
    }
    /* after redis_tls_new: OpenSSL's own atexit handler is in, ours runs first */
    pthread_once(&conn_exit_once, conn_atexit_register);
    sigfillset(&all);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&tid, &attr, conn_pump_thread, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        errbuf_set(err, errlen, "cannot start the TLS thread: %s", strerror(rc));
        redis_tls_pipe_free(p);
        close(sv[0]);
        return NULL;
    }
    r = redisConnectFd(sv[0]);
    if (r == NULL) {
        errbuf_set(err, errlen, "out of memory");
        close(sv[0]);    /* the thread sees it and ends */
    }
    return r;
}

redisContext *redis_conn_sync(const struct redis_endpoint *ep, int timeout_s, char *err, size_t errlen)
{
    struct timeval tv = {timeout_s, 0};
    redisContext *r;

    if (ep->tls != NULL) {
        r = conn_sync_tls(ep, timeout_s, err, errlen);
    } else {
        r = redisConnectWithTimeout(ep->host, ep->port, tv);
        if (r == NULL || r->err) {
            errbuf_set(err, errlen, "cannot connect to Redis at %.200s:%d: %.100s", ep->host, ep->port,
                       r ? r->errstr : "out of memory");
            redisFree(r);
            return NULL;
        }
    }
    if (r != NULL && redisSetTimeout(r, tv) != REDIS_OK) {
        errbuf_set(err, errlen, "cannot set the Redis timeout: %.100s", r->errstr);
        redisFree(r);
        return NULL;
    }
    return r;
}

/* ================================== Async ================================== */

/* conn_unix_pair: an async context connected to a unix socket whose other
 * end (*ours) this process holds; see the top of the file. */
static redisAsyncContext *conn_unix_pair(int *ours, char *err, size_t errlen)
{
    char dir[] = "/tmp/spotwatch-redis.XXXXXX", path[64];
    struct sockaddr_un sa = {0};
    struct ucred cred;
    socklen_t cl = sizeof cred;
    redisAsyncContext *ac = NULL;
    int l = -1, fd = -1;

    *ours = -1;
    if (mkdtemp(dir) == NULL) {
        errbuf_set(err, errlen, "TLS bridge: cannot make a private directory in /tmp: %s", strerror(errno));
        return NULL;
    }
    snprintf(path, sizeof path, "%s/s", dir);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(l, 1) != 0) {
        errbuf_set(err, errlen, "TLS bridge: cannot listen on %s: %s", path, strerror(errno));
        goto out;
    }
    ac = redisAsyncConnectUnix(path);
    if (ac == NULL || ac->err) {
        errbuf_set(err, errlen, "TLS bridge: hiredis cannot connect to %s: %s", path,
                   ac ? ac->errstr : "out of memory");
        goto fail;
    }
    fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 || cred.pid != getpid()) {
        errbuf_set(err, errlen, "TLS bridge: the bridge socket was not connected by this process");
        goto fail;
    }
    *ours = fd;
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    if (ac)
        redisAsyncFree(ac);
    ac = NULL;
out:
    if (l >= 0)
        close(l);
    unlink(path);
    rmdir(dir);
    return ac;
}

/* bridge_watch sets one watcher to the descriptor and events wanted
 * (libev needs a stop to change them). renew: set it again even when
 * nothing seems to change: until the server is verified the pipe may have
 * replaced its TLS socket (a connect failed, the host's next address is
 * tried), maybe under the same number, and libev only learns of a new file
 * behind a descriptor from ev_io_set. */
static void bridge_watch(struct redis_conn_bridge *b, ev_io *w, int fd, short want, int renew)
{
    int ev = (want & POLLIN ? EV_READ : 0) | (want & POLLOUT ? EV_WRITE : 0);

    if (!renew && ev_is_active(w) && w->events == ev && w->fd == fd)
        return;
    ev_io_stop(b->loop, w);
    if (ev == 0)
        return;
    ev_io_set(w, fd, ev);
    ev_io_start(b->loop, w);
}

/* bridge_end: the TLS side is over. Closing hiredis's peer makes the async
 * context disconnect through its usual path, which frees the bridge. */
static void bridge_end(struct redis_conn_bridge *b)
{
    ev_io_stop(b->loop, &b->net_w);
    ev_io_stop(b->loop, &b->plain_w);
    if (!b->err[0])
        snprintf(b->err, sizeof b->err, "%s", redis_tls_pipe_error(b->pipe));
    redis_tls_pipe_free(b->pipe);
    b->pipe = NULL;
}

/* bridge_run: one step of the pipe, then the watchers it asks for. */
static void bridge_run(struct redis_conn_bridge *b)
{
    struct redis_tls_want w;

    if (b->pipe == NULL)
        return;
    if (redis_tls_pipe_step(b->pipe, &w) != REDIS_TLS_MORE) {
        bridge_end(b);
        return;
    }
    bridge_watch(b, &b->net_w, redis_tls_pipe_net(b->pipe), w.net, !redis_tls_pipe_up(b->pipe));
    bridge_watch(b, &b->plain_w, redis_tls_pipe_plain(b->pipe), w.plain, 0);
}

static void bridge_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    bridge_run(w->data);
}

redisAsyncContext *redis_conn_async(struct ev_loop *loop, const struct redis_endpoint *ep,
                                    struct redis_conn_bridge **bridge, char *err, size_t errlen)
{
    struct redis_conn_bridge *b;
    struct redis_tls_addrs addrs;
    redisAsyncContext *ac;
    int ours;

    *bridge = NULL;
    if (ep->tls == NULL) {
        ac = redisAsyncConnect(ep->host, ep->port);
        if (ac == NULL)
            errbuf_set(err, errlen, "out of memory");
        return ac;
    }
    b = calloc(1, sizeof *b);
    if (b == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    if (redis_tls_resolve(ep->host, ep->port, &addrs, err, errlen) != 0) {
        free(b);
        return NULL;
    }
    ac = conn_unix_pair(&ours, err, errlen);
    if (ac == NULL) {
        free(b);
        return NULL;
    }
    b->loop = loop;
    b->pipe = redis_tls_pipe_new(ep->tls, &addrs, ours, ep->host, ep->port, err, errlen);
    if (b->pipe == NULL) {
        redisAsyncFree(ac);
        free(b);
        return NULL;
    }
    ev_init(&b->net_w, bridge_io_cb);
    b->net_w.data = b;
    ev_init(&b->plain_w, bridge_io_cb);
    b->plain_w.data = b;
    bridge_run(b);
    *bridge = b;
    return ac;
}

void redis_conn_bridge_free(struct redis_conn_bridge *b)
{
    if (b == NULL)
        return;
    if (b->pipe)
        bridge_end(b);
    free(b);
}

const char *redis_conn_bridge_error(const struct redis_conn_bridge *b)
{
    return b ? b->err : "";
}
