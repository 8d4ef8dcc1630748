/* secret_input: secrets from files, stdin and the environment (see
 * include/base/secret_input.h). */
#include "base/secret_input.h"
#include "base/crypto.h"
#include "base/errbuf.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The secret options and the safer way of giving each. */
static const struct {
    const char *opt;
    const char *safer;
} safer_ways[] = {
    {"--redis-password", "redis-password-file FILE or the environment variable "
                         SECRET_INPUT_ENV_REDIS_PASSWORD},
    {"--client-secret", "--client-secret-file FILE (- reads stdin)"},
    {"--access-token", "--access-token-file FILE (- reads stdin)"},
    {"--refresh-token", "--refresh-token-file FILE (- reads stdin)"},
};

void secret_input_warn_arg(const char *opt)
{
    const char *safer = "a file";

    for (size_t i = 0; i < sizeof safer_ways / sizeof safer_ways[0]; i++)
        if (strcmp(opt, safer_ways[i].opt) == 0)
            safer = safer_ways[i].safer;
    log_warn("%s: a secret given as an argument can be read by other local users "
             "(/proc/PID/cmdline, ps) and stays in shell history; use %s", opt, safer);
}

/* read_all reads at most SECRET_INPUT_MAX + 1 bytes of fd into buf (that
 * size): the byte past the limit proves the file too large. Returns the
 * length, or -1 with errno. */
static ssize_t read_all(int fd, char *buf)
{
    size_t n = 0;

    while (n < SECRET_INPUT_MAX + 1) {
        ssize_t r = read(fd, buf + n, SECRET_INPUT_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    return (ssize_t)n;
}

/* split_lines puts the first n non-empty lines of buf (len bytes) into out,
 * malloc'd; 0, or -1 with err (what was taken is freed). */
static int split_lines(const char *buf, size_t len, const char *what, const char *path,
                       char **out, int n, char *err, size_t errlen)
{
    const char *p = buf;
    int count = 0, blank = 0, lineno = 0;

    while (p < buf + len) {
        const char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        const char *end = nl != NULL ? nl : buf + len;
        size_t l = (size_t)(end - p);

        lineno++;
        if (l > 0 && p[l - 1] == '\r')
            l--;
        if (l == 0) {
            blank = 1;
        } else if (blank || count == n) {
            errbuf_set(err, errlen, "%s %s: line %d: expected %d secret%s, one a line, and "
                                    "nothing else", what, path, lineno, n, n > 1 ? "s" : "");
            goto fail;
        } else if ((out[count++] = strndup(p, l)) == NULL) {
            errbuf_set(err, errlen, "%s %s: out of memory", what, path);
            goto fail;
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    if (count < n) {
        errbuf_set(err, errlen, "%s %s: %s (expected %d secret%s, one a line)", what, path,
                count == 0 ? "empty" : "too few lines", n, n > 1 ? "s" : "");
        goto fail;
    }
    return 0;
fail:
    for (int i = 0; i < n; i++) {
        secret_free(out[i]);
        out[i] = NULL;
    }
    return -1;
}

int secret_input_read(const char *path, const char *what, char **out, int n, char *err,
                      size_t errlen)
{
    int stdin_ = strcmp(path, "-") == 0;
    const char *shown = stdin_ ? "(stdin)" : path;
    char *buf = NULL;
    ssize_t len = -1;
    int fd, rc = -1;

    for (int i = 0; i < n; i++)
        out[i] = NULL;
    fd = stdin_ ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        errbuf_set(err, errlen, "%s %s: %s", what, shown, strerror(errno));
        return -1;
    }
    buf = malloc(SECRET_INPUT_MAX + 1);
    if (buf == NULL) {
        errbuf_set(err, errlen, "%s %s: out of memory", what, shown);
        goto out;
    }
    len = read_all(fd, buf);
    if (len < 0) {
        errbuf_set(err, errlen, "%s %s: %s", what, shown, strerror(errno));
        goto out;
    }
    if (len > SECRET_INPUT_MAX) {
        errbuf_set(err, errlen, "%s %s: larger than %d bytes: not a secret file", what, shown,
                SECRET_INPUT_MAX);
        goto out;
    }
    if (memchr(buf, '\0', (size_t)len) != NULL) {
        errbuf_set(err, errlen, "%s %s: contains a NUL byte", what, shown);
        goto out;
    }
    rc = split_lines(buf, (size_t)len, what, shown, out, n, err, errlen);
out:
    if (buf != NULL) {
        explicit_bzero(buf, len > 0 ? (size_t)len : 0);
        free(buf);
    }
    if (!stdin_)
        close(fd);
    return rc;
}

/* wipe overwrites an argument in place: /proc/PID/cmdline reads it from
 * the process's memory, so from now on it shows NUL bytes there. */
static void wipe(char *s)
{
    explicit_bzero(s, strlen(s));
}

/* warn_args warns about each secret directive among the global options
 * argv[1..argi), "--redis-password VALUE" and "--redis-password=VALUE",
 * and wipes its value (config_parse_args has copied it). A value never
 * starts with "--" (config_parse_args refuses that), so every word that
 * does is an option name. */
static void warn_args(int argi, char **argv)
{
    static const char opt[] = "--redis-password";

    for (int i = 1; i < argi; i++) {
        char *rest = argv[i] + sizeof opt - 1;
        if (strncmp(argv[i], opt, sizeof opt - 1) != 0 || (*rest != '\0' && *rest != '='))
            continue;
        secret_input_warn_arg(opt);
        if (*rest == '=')
            wipe(rest + 1);
        else if (i + 1 < argi)
            wipe(argv[++i]);
    }
}

int secret_input_config(struct sw_config *c, int argi, char **argv, char *err, size_t errlen)
{
    char *pw[1] = {NULL};
    const char *value;
    size_t n;

    warn_args(argi, argv);
    if (c->redis_password_file[0] != '\0') {
        if (c->redis_password[0] != '\0') {
            errbuf_set(err, errlen, "redis-password and redis-password-file are both set: keep one");
            return -1;
        }
        if (strcmp(c->redis_password_file, "-") == 0) {
            errbuf_set(err, errlen, "redis-password-file: name a file (stdin is left to the "
                                    "command's own input)");
            return -1;
        }
        if (secret_input_read(c->redis_password_file, "redis-password-file", pw, 1, err,
                              errlen) != 0)
            return -1;
        value = pw[0];
    } else if (c->redis_password[0] == '\0') {
        value = getenv(SECRET_INPUT_ENV_REDIS_PASSWORD);
        if (value == NULL || value[0] == '\0')
            return 0;
    } else {
        return 0;
    }
    n = strlen(value);
    if (n >= sizeof c->redis_password) {
        errbuf_set(err, errlen, "%s: the Redis password is too long (%zu bytes, at most %zu)",
                pw[0] != NULL ? "redis-password-file" : SECRET_INPUT_ENV_REDIS_PASSWORD, n,
                sizeof c->redis_password - 1);
        secret_free(pw[0]);
        return -1;
    }
    memcpy(c->redis_password, value, n + 1);
    secret_free(pw[0]);
    return 0;
}
