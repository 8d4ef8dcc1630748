/* log: one line per record on stderr, as text or JSON. See include/base/log.h.
 *
 * Each record is built whole in a stack buffer and handed to a single
 * write(2) of at most PIPE_BUF bytes, so that lines of several processes
 * sharing one stderr pipe never interleave (POSIX makes such writes atomic). */
#include "base/log.h"
#include "base/codec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The module's settings. This is the one piece of file-scope mutable state:
 * log_setup and log_set_worker write it once at start-up, before the event
 * loop (or any other thread) runs; afterwards only log_reconfigure (SIGHUP)
 * changes the level and format, which are atomics for that reason. Until
 * then the defaults below apply, so early errors are still reported. */
static struct {
    atomic_int level;
    atomic_int format;
    char component[32];
    char worker[192];
} log_conf = { LOG_INFO, LOG_TEXT, "spotwatch", "" };

#define LOG_LINE_MAX PIPE_BUF   /* one atomic write; longer messages are cut */
#define LOG_MSG_MAX 2048        /* the formatted message, before escaping */
#define TRUNC_MARK "..."

static const char *const upper_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };
static const char *const lower_names[] = { "debug", "info", "warn", "error" };

void log_setup(enum log_level level, enum log_format format, const char *component)
{
    log_reconfigure(level, format);
    snprintf(log_conf.component, sizeof log_conf.component, "%s",
             component != NULL ? component : "spotwatch");
}

void log_reconfigure(enum log_level level, enum log_format format)
{
    atomic_store(&log_conf.level, (int)level);
    atomic_store(&log_conf.format, (int)format);
}

int log_open_file(const char *path, char *err, size_t errlen)
{
    int fd;

    if (path == NULL || path[0] == '\0')
        return 0;
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0) {
        snprintf(err, errlen, "log-file %s: %s", path, strerror(errno));
        return -1;
    }
    /* dup2 swaps the descriptor in one step: no record is lost or split. */
    if (dup2(fd, STDERR_FILENO) < 0) {
        snprintf(err, errlen, "log-file %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

void log_set_worker(const char *id)
{
    snprintf(log_conf.worker, sizeof log_conf.worker, "%s", id ? id : "");
}

int log_enabled(enum log_level level)
{
    return (int)level >= atomic_load(&log_conf.level);
}

/* A bounded line under construction: appends past cap are dropped and
 * remembered in full, so the caller can mark the cut. */
struct line {
    char *buf;
    size_t len, cap;
    int full;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->full || n > l->cap - l->len) {
        l->full = 1;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* put_escaped appends msg with every control character escaped, so a record
 * stays on one line. JSON mode also escapes '"' and '\\' and replaces bytes
 * that are not UTF-8 with U+FFFD, so the object always parses. Characters
 * are appended whole or not at all. */
static void put_escaped(struct line *l, const char *msg, int json)
{
    const unsigned char *s = (const unsigned char *)msg;
    size_t n = strlen(msg);
    char esc[8];

    for (size_t i = 0; i < n && !l->full;) {
        unsigned char ch = s[i];

        if (ch == '\n') {
            put(l, "\\n", 2);
        } else if (ch == '\r') {
            put(l, "\\r", 2);
        } else if (ch == '\t') {
            put(l, json ? "\\t" : "\t", json ? 2 : 1);
        } else if (ch < 0x20 || ch == 0x7f) {
            snprintf(esc, sizeof esc, json ? "\\u%04x" : "\\x%02x", ch);
            puts_(l, esc);
        } else if (json && (ch == '"' || ch == '\\')) {
            esc[0] = '\\';
            esc[1] = (char)ch;
            put(l, esc, 2);
        } else if (json && ch >= 0x80) {
            size_t k = codec_utf8_len(s + i, n - i);
            if (k == 0) {
                put(l, "\\ufffd", 6);
                k = 1;
            } else {
                put(l, msg + i, k);
            }
            i += k;
            continue;
        } else {
            put(l, msg + i, 1);
        }
        i++;
    }
}

/* format_time writes "2026-11-29T08:00:00.123Z" (UTC, milliseconds). */
static void format_time(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    char base[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%.24s.%03dZ", base, (int)(ts.tv_nsec / 1000000L % 1000));
}

static void write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;     /* nowhere left to report a failure to log */
        }
        buf += n;
        len -= (size_t)n;
    }
}

#define LOG_FIELDS_MAX 1024     /* the fields' text, within LOG_LINE_MAX */

/* put_field appends one string field: ,"name":"value" (JSON) or " name=value". */
static void put_field(struct line *l, int json, const char *name, const char *value)
{
    if (value == NULL)
        return;
    puts_(l, json ? ",\"" : " ");
    puts_(l, name);
    puts_(l, json ? "\":\"" : "=");
    put_escaped(l, value, json);
    if (json)
        puts_(l, "\"");
}

/* put_fields builds the worker's id and the record's fields, whole or cut
 * (a cut field is dropped: they are short ids, numbers and words). */
static void put_fields(struct line *l, int json, const struct log_fields *f)
{
    char num[64];
    size_t keep;

    /* Text records carry the pid already: the id only where fields are. */
    if (log_conf.worker[0] && (json || f != NULL))
        put_field(l, json, "worker", log_conf.worker);
    if (f != NULL) {
        put_field(l, json, "app", f->app);
        put_field(l, json, "user", f->user);
        put_field(l, json, "outcome", f->outcome);
        keep = l->len;
        if (f->status >= 0) {
            snprintf(num, sizeof num, json ? ",\"status\":%ld" : " status=%ld", f->status);
            puts_(l, num);
        }
        if (f->latency_ms >= 0) {
            snprintf(num, sizeof num, json ? ",\"latency_ms\":%.1f" : " latency_ms=%.1f", f->latency_ms);
            puts_(l, num);
        }
        if (l->full)
            l->len = keep;
    }
    l->full = 0;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, NULL, fmt, ap);
    va_end(ap);
}

void log_write_fields(enum log_level level, const struct log_fields *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, f, fmt, ap);
    va_end(ap);
}

void log_vwrite(enum log_level level, const struct log_fields *f, const char *fmt, va_list ap)
{
    char msg[LOG_MSG_MAX];
    char buf[LOG_LINE_MAX];
    char fbuf[LOG_FIELDS_MAX];
    char ts[40], head[160];
    const char *tail;
    struct line l = { buf, 0, 0, 0 }, fl = { fbuf, 0, sizeof fbuf, 0 };
    int json = atomic_load(&log_conf.format) == LOG_JSON;
    int saved_errno = errno;    /* callers may log and then read errno */
    int cut;

    if ((unsigned)level > LOG_ERROR)
        level = LOG_ERROR;
    cut = vsnprintf(msg, sizeof msg, fmt, ap) >= (int)sizeof msg;
    put_fields(&fl, json, f);

    format_time(ts, sizeof ts);
    if (json) {
        snprintf(head, sizeof head, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"",
                 ts, lower_names[level]);
        tail = "}\n";
    } else {
        snprintf(head, sizeof head, "%s ", ts);
        tail = "\n";
    }
    /* Keep room for the cut mark, the closing quote, the fields and the
     * closing text, so they always fit. */
    l.cap = sizeof buf - strlen(tail) - strlen(TRUNC_MARK) - 1 - fl.len;

    puts_(&l, head);
    if (json) {
        char pid[48];
        put_escaped(&l, log_conf.component, 1);
        snprintf(pid, sizeof pid, "\",\"pid\":%ld,\"msg\":\"", (long)getpid());
        puts_(&l, pid);
    } else {
        char rest[64];
        put_escaped(&l, log_conf.component, 0);
        snprintf(rest, sizeof rest, "[%ld] %s ", (long)getpid(), upper_names[level]);
        puts_(&l, rest);
    }
    put_escaped(&l, msg, json);

    /* The reserve below cap is ours: the mark, the fields and the tail always fit. */
    cut |= l.full;
    l.cap = sizeof buf;
    l.full = 0;
    if (cut)
        puts_(&l, TRUNC_MARK);
    if (json)
        puts_(&l, "\"");
    put(&l, fbuf, fl.len);
    puts_(&l, tail);
    write_all(buf, l.len);
    errno = saved_errno;
}
