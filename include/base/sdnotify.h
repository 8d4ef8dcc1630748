#ifndef SW_SDNOTIFY_H
#define SW_SDNOTIFY_H
/* sdnotify: the service manager's readiness protocol (sd_notify(3)) without
 * libsystemd: one datagram of "KEY=value" lines to the AF_UNIX socket named
 * by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
 *
 * The units in conf/systemd/ are Type=notify: systemd counts a worker or
 * serve as started only once it sent READY=1, so a dependent unit (or
 * `systemctl start` itself) waits until Redis answered and the listeners are
 * bound. Without $NOTIFY_SOCKET (not under systemd) every call does nothing. */
#include <stddef.h>

/* sdnotify_send sends state ("READY=1\nSTATUS=polling 3 apps") as one
 * datagram. Returns 1 when sent, 0 when there is no $NOTIFY_SOCKET, -1 when
 * sending failed (errno set; the caller logs it once, never fatally). */
int sdnotify_send(const char *state);

/* sdnotify_status sends "STATUS=<text>" (at most 200 bytes of text) with
 * prefix (NULL, or "READY=1", "RELOADING=1", "STOPPING=1") on the line
 * before it. Same returns as sdnotify_send. */
int sdnotify_status(const char *prefix, const char *text);

#endif
