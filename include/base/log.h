#ifndef SW_LOG_H
#define SW_LOG_H
/* log: level-checked logging to stderr, as text or one JSON object a line.
 * The level and format are set once at start-up, before the event loop runs.
 * Never pass a token or secret to these functions. */
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
 *         (msg JSON-escaped; bytes that are not UTF-8 become U+FFFD) */
void log_setup(enum log_level level, enum log_format format, const char *component);

/* log_enabled returns 1 when records of this level are written, else 0. */
int log_enabled(enum log_level level);

/* log_write formats and writes one record (use the log_* macros, which skip
 * the formatting for disabled levels). It preserves errno. */
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_write(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  do { if (log_enabled(LOG_INFO))  log_write(LOG_INFO, __VA_ARGS__); } while (0)
#define log_warn(...)  do { if (log_enabled(LOG_WARN))  log_write(LOG_WARN, __VA_ARGS__); } while (0)
#define log_error(...) do { if (log_enabled(LOG_ERROR)) log_write(LOG_ERROR, __VA_ARGS__); } while (0)

#endif
