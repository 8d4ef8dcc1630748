#ifndef SW_LOG_H
#define SW_LOG_H
/* log: level-checked logging to stderr, as text or one JSON object a line.
 * The level and format are set once at start-up, before the event loop runs.
 * Never pass a token or secret to these functions. */
#include <stdarg.h>
#include "base/config.h"

/* log_setup sets the least severe level written, the format and the
 * component name ("worker", "serve"; at most 31 bytes). Call it once, early;
 * until then records go out as INFO-and-above text from "spotwatch".
 *
 * A record is one line of at most PIPE_BUF bytes, written with one write(2)
 * so lines of processes sharing stderr never interleave; a longer message is
 * cut and ends with "...". Control characters are escaped (\n, \x01) so a
 * record is always one line.
 *   text: 2026-11-29T08:00:00.123Z worker[1234] INFO message
 *   json: {"ts":"...","level":"info","component":"worker","pid":1234,"msg":"..."}
 *         (msg JSON-escaped; bytes that are not UTF-8 become U+FFFD), then
 *         "worker" (log_set_worker) and the record's fields, if any */
void log_setup(enum log_level level, enum log_format format, const char *component);

/* log_reconfigure changes the level and format of a running process
 * (SIGHUP). Safe while other threads log: each record reads them once. */
void log_reconfigure(enum log_level level, enum log_format format);

/* log_open_file points stderr (so every record, and any library's message)
 * at path, opened for appending (created mode 0640); "" leaves stderr as it
 * is. Call it again to reopen the file after a rotation (SIGHUP). Returns 0,
 * or -1 with err naming the file (stderr then stays where it was). */
int log_open_file(const char *path, char *err, size_t errlen);

/* log_set_worker names the worker (its id) in every later record: the JSON
 * member "worker", or " worker=<id>" after a text record's fields. Call it
 * once at start, before other threads run. */
void log_set_worker(const char *id);

/* log_fields: the structured part of a record (log_write_fields). NULL
 * strings and negative numbers are left out. Never put a token here. */
struct log_fields {
    const char *app;
    const char *user;
    const char *outcome;
    long status;          /* HTTP status; < 0 none (0: no answer) */
    double latency_ms;    /* < 0 none */
};
#define LOG_FIELDS_NONE { NULL, NULL, NULL, -1, -1 }

/* log_enabled returns 1 when records of this level are written, else 0. */
int log_enabled(enum log_level level);

/* log_write formats and writes one record (use the log_* macros, which skip
 * the formatting for disabled levels). It preserves errno. */
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* log_write_fields is log_write with fields: JSON members ("app", "user",
 * "outcome", "status", "latency_ms", after "msg"), or " app=x user=y ..."
 * after a text message (values escaped like the message). */
void log_write_fields(enum log_level level, const struct log_fields *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* log_vwrite: log_write_fields with a va_list (f may be NULL). */
void log_vwrite(enum log_level level, const struct log_fields *f, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_write(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  do { if (log_enabled(LOG_INFO))  log_write(LOG_INFO, __VA_ARGS__); } while (0)
#define log_warn(...)  do { if (log_enabled(LOG_WARN))  log_write(LOG_WARN, __VA_ARGS__); } while (0)
#define log_error(...) do { if (log_enabled(LOG_ERROR)) log_write(LOG_ERROR, __VA_ARGS__); } while (0)
#define log_debug_f(f, ...) do { if (log_enabled(LOG_DEBUG)) log_write_fields(LOG_DEBUG, f, __VA_ARGS__); } while (0)
#define log_info_f(f, ...)  do { if (log_enabled(LOG_INFO))  log_write_fields(LOG_INFO, f, __VA_ARGS__); } while (0)
#define log_warn_f(f, ...)  do { if (log_enabled(LOG_WARN))  log_write_fields(LOG_WARN, f, __VA_ARGS__); } while (0)
#define log_error_f(f, ...) do { if (log_enabled(LOG_ERROR)) log_write_fields(LOG_ERROR, f, __VA_ARGS__); } while (0)

#endif
