/* sdnotify: sd_notify(3) in a few lines (see include/base/sdnotify.h). */
#include "base/sdnotify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sdnotify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    socklen_t salen;
    size_t n;
    int fd, rc;

    if (path == NULL || path[0] == '\0')
        return 0;
    n = strlen(path);
    /* A path must fit with its NUL; an abstract name ("@x") has none. */
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof sa.sun_path) {
        errno = EINVAL;
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';   /* the abstract namespace: the name is the bytes after the NUL */
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));

    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    rc = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0 ? -1 : 1;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int sdnotify_status(const char *prefix, const char *text)
{
    char msg[256];

    /* STATUS= is one line: a newline in text would start a new assignment. */
    snprintf(msg, sizeof msg, "%s%sSTATUS=%.200s", prefix ? prefix : "", prefix ? "\n" : "", text);
    for (char *p = strstr(msg, "STATUS=") + 7; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return sdnotify_send(msg);
}
