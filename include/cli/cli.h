#ifndef SW_CLI_H
#define SW_CLI_H
/* cli: the operator commands, one file per command group in src/cli/ (app.c,
 * user.c and user_import.c, watch.c, status.c, tail.c, keygen.c; what they
 * share is src/cli/cli_common.c). They are listed, with their options and
 * help, in the one command table (include/cli/commands.h), which parses a
 * command's line before calling it. Each talks to Redis synchronously
 * (redis/redis_sync.h), prints errors to stderr, and returns the process
 * exit status (0 on success, 1 on a failure, 2 on a usage error). A user's
 * tokens are written only by user_put.lua (lua/lib/user_record.lua). */
#include "base/config.h"
#include "cli/commands.h"

int cli_app_add(const struct sw_config *c, struct cli_args *a);
int cli_app_ls(const struct sw_config *c, struct cli_args *a);
int cli_app_show(const struct sw_config *c, struct cli_args *a);
/* cli_app_rm refuses while the app has users, unless --force (then they go too). */
int cli_app_rm(const struct sw_config *c, struct cli_args *a);
int cli_app_unblock(const struct sw_config *c, struct cli_args *a);
int cli_user_add(const struct sw_config *c, struct cli_args *a);
int cli_user_show(const struct sw_config *c, struct cli_args *a);
int cli_user_ls(const struct sw_config *c, struct cli_args *a);
int cli_user_rm(const struct sw_config *c, struct cli_args *a);
int cli_user_import(const struct sw_config *c, struct cli_args *a);
/* cli_watch: watch start|stop|now, which a->cmd->name says. */
int cli_watch(const struct sw_config *c, struct cli_args *a);
int cli_status(const struct sw_config *c, struct cli_args *a);
/* cli_tail prints events until interrupted, reconnecting when the link drops. */
int cli_tail(const struct sw_config *c, struct cli_args *a);
int cli_keygen(const struct sw_config *c, struct cli_args *a);
/* cli_connect_link prints a signed /connect link (include/serve/connect_link.h); it
 * reads connect-key-file and needs no Redis. */
int cli_connect_link(const struct sw_config *c, struct cli_args *a);

#endif
