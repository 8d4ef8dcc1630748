#ifndef SW_CLI_H
#define SW_CLI_H
/* cli: the operator commands (app, user, watch, status, tail, keygen). Each
 * talks to Redis synchronously, prints errors to stderr, and returns the
 * process exit status (0 on success). argv[0] is the command word. */
#include "base/config.h"

int cli_app(const struct sw_config *c, int argc, char **argv);
int cli_user(const struct sw_config *c, int argc, char **argv);
int cli_watch(const struct sw_config *c, int argc, char **argv);
int cli_status(const struct sw_config *c, int argc, char **argv);
int cli_tail(const struct sw_config *c, int argc, char **argv);
int cli_keygen(const struct sw_config *c, int argc, char **argv);
/* cli_connect_link prints a signed /connect link (include/serve/connect_link.h); it
 * reads connect-key-file and needs no Redis. */
int cli_connect_link(const struct sw_config *c, int argc, char **argv);

#endif
