/* log: one line per record on stderr, as text or JSON. See include/base/log.h.
 *
 * Each record is built whole in a stack buffer and handed to a single
 * write(2) of at most PIPE_BUF bytes, so that lines of several processes
 * sharing one stderr pipe never interleave (POSIX makes such writes atomic). */
#include "base/log.h"
#include "base/codec.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The module's settings. This is the one piece of file-scope mutable state:
 * log_setup writes it once at start-up, before the event loop (or any other
 * thread) runs, and it is only read afterwards. Until then the defaults
 * below apply, so early errors are still reported. */
static struct {
    enum log_level level;
    enum log_format format;
    char component[32];
} log_conf = { LOG_INFO, LOG_TEXT, "spotwatch" };

#define LOG_LINE_MAX PIPE_BUF   /* one atomic write; longer messages are cut */
#define LOG_MSG_MAX 2048        /* the formatted message, before escaping */
#define TRUNC_MARK "..."

static const char *const upper_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };
static const char *const lower_names[] = { "debug", "info", "warn", "error" };

void log_setup(enum log_level level, enum log_format format, const char *component)
{
    log_conf.level = level;
    log_conf.format = format;
    snprintf(log_conf.component, sizeof log_conf.component, "%s",
             component != NULL ? component : "spotwatch");
}

int log_enabled(enum log_level level)
{
    return level >= log_conf.level;
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

void log_write(enum log_level level, const char *fmt, ...)
{
    char msg[LOG_MSG_MAX];
    char buf[LOG_LINE_MAX];
    char ts[40], head[160];
    const char *tail;
    struct line l = { buf, 0, 0, 0 };
    int json = log_conf.format == LOG_JSON;
    int saved_errno = errno;    /* callers may log and then read errno */
    int cut;
    va_list ap;

    if ((unsigned)level > LOG_ERROR)
        level = LOG_ERROR;
    va_start(ap, fmt);
    cut = vsnprintf(msg, sizeof msg, fmt, ap) >= (int)sizeof msg;
    va_end(ap);

    format_time(ts, sizeof ts);
    if (json) {
        snprintf(head, sizeof head, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"",
                 ts, lower_names[level]);
        tail = "\"}\n";
    } else {
        snprintf(head, sizeof head, "%s ", ts);
        tail = "\n";
    }
    /* Keep room for the cut mark and the closing text, so they always fit. */
    l.cap = sizeof buf - strlen(tail) - strlen(TRUNC_MARK);

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

    /* The reserve below cap is ours: the mark and the tail always fit. */
    cut |= l.full;
    l.cap = sizeof buf;
    l.full = 0;
    if (cut)
        puts_(&l, TRUNC_MARK);
    puts_(&l, tail);
    write_all(buf, l.len);
    errno = saved_errno;
}
