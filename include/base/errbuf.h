#ifndef SW_ERRBUF_H
#define SW_ERRBUF_H
/* errbuf: the caller-provided error buffer every module fills on failure. */
#include <stddef.h>

/* errbuf_set formats into err (errlen bytes); a NULL or empty buffer is
 * fine and receives nothing. */
void errbuf_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
