#ifndef SW_CLI_H
#define SW_CLI_H
/* cli: the operator commands, one file per command group in src/cli/ (app.c,
 * user.c and user_import.c, watch.c, status.c, tail.c, keygen.c; what they
 * share is src/cli/cli_common.c). Each talks to Redis synchronously
 * (redis/redis_sync.h), prints errors to stderr, and returns the process
 * exit status (0 on success, 1 on a failure, 2 on a usage error). argv[0]
 * is the command word. A user's tokens are written only by user_put.lua
 * (lua/lib/user_record.lua). */
#include "base/config.h"

int cli_app(const struct sw_config *c, int argc, char **argv);     /* app add|ls|unblock */
int cli_user(const struct sw_config *c, int argc, char **argv);    /* user add|show|ls|rm|import */
int cli_watch(const struct sw_config *c, int argc, char **argv);   /* watch start|stop|now */
int cli_status(const struct sw_config *c, int argc, char **argv);
/* cli_tail prints events until the Redis link is lost (then 1). */
int cli_tail(const struct sw_config *c, int argc, char **argv);
int cli_keygen(const struct sw_config *c, int argc, char **argv);
/* cli_connect_link prints a signed /connect link (include/serve/connect_link.h); it
 * reads connect-key-file and needs no Redis. */
int cli_connect_link(const struct sw_config *c, int argc, char **argv);

#endif
