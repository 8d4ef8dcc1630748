/* main.c: `spotwatch [--config FILE] [--directive value ...] COMMAND ...` */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "base/config.h"
#include "base/log.h"
#include "base/nodump.h"
#include "base/secret_input.h"
#include "serve/serve.h"
#include "worker/worker.h"

static const char usage[] =
    "usage: spotwatch [--config FILE] [--<directive> VALUE ...] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  worker                                run a worker (any number, on any host)\n"
    "  serve                                 serve /connect and /callback (users connect their\n"
    "                                        Spotify accounts), /healthz and /metrics\n"
    "  app add APP --client-id ID --client-secret-file FILE|- [--mode development|extended]\n"
    "                 [--budget CALLS_PER_WINDOW] [--quota CALLS_PER_24H] [--window-ms MS]\n"
    "                 (--client-secret SECRET works too, visible to other local users)\n"
    "  app ls [--json]\n"
    "  app unblock APP                       end the app's 429 block now (operator override)\n"
    "  user add USER --app APP --access-token-file FILE|- --refresh-token-file FILE|-\n"
    "                 [--expires-in S] [--scope S]   (both -: two lines of stdin, access first;\n"
    "                 --access-token T, --refresh-token R work too, visible to other users)\n"
    "  user show USER [--json]               (never prints a token)\n"
    "  user ls [--json]\n"
    "  user rm USER                          stop watching; delete the user's tokens and state\n"
    "  user import FILE|- [--watch] [--interval MS]  bulk add: JSON lines {user,app,access_token,\n"
    "                 refresh_token,expires_in,scope}, pipelined\n"
    "  watch start USER [--interval MS]\n"
    "  watch stop USER\n"
    "  watch now USER                        make the user due now (within the limits)\n"
    "  status [--json]                       workers, users, schedule lag, limits, errors\n"
    "  tail [USER...]                        print events as they arrive, one JSON a line\n"
    "  keygen FILE                           add a new token key to FILE (mode 0600)\n"
    "  connect-link USER [--app APP] [--return-to URL] [--ttl S]\n"
    "                                        print a signed /connect link (connect-key-file;\n"
    "                                        --ttl at most 900, default 600)\n"
    "  config                                print the effective configuration\n"
    "\n"
    "Every directive of conf/spotwatch.conf can be given as --<directive> VALUE.\n"
    "The Redis password: redis-password-file FILE, or SPOTWATCH_REDIS_PASSWORD in the environment.\n"
    "Ids (users, apps): 1-128 characters of A-Z a-z 0-9 . _ : @ + = -\n";

/* print_config: `spotwatch config`. */
static int print_config(const struct sw_config *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    config_write(c, stdout);
    return 0;
}

/* commands: each command word and what runs it: a long-running process
 * (run_until_stopped: 0, or -1 with the reason, logged here; it holds keys
 * and tokens, so it is made non-dumpable first, include/base/nodump.h) or a
 * command that returns its exit status (src/cli/, include/cli/cli.h). */
static const struct command {
    const char *name;
    int (*run_until_stopped)(const struct sw_config *c, char *err, size_t errlen);
    int (*run)(const struct sw_config *c, int argc, char **argv);
} commands[] = {
    {"worker", worker_run, NULL},
    {"serve", serve_run, NULL},
    {"app", NULL, cli_app},
    {"user", NULL, cli_user},
    {"watch", NULL, cli_watch},
    {"status", NULL, cli_status},
    {"tail", NULL, cli_tail},
    {"keygen", NULL, cli_keygen},
    {"connect-link", NULL, cli_connect_link},
    {"config", NULL, print_config},
};

int main(int argc, char **argv)
{
    struct sw_config cfg;
    char err[512];
    int argi = 1;

    config_defaults(&cfg);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
                      strcmp(argv[1], "help") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (config_parse_args(&cfg, argc, argv, &argi, err, sizeof err) != 0) {
        fprintf(stderr, "spotwatch: %s\n", err);
        return 2;
    }
    if (argi >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[argi];

    log_setup(cfg.log_level, cfg.log_format, cmd);
    /* After log_setup, so its warnings follow log-format. */
    if (secret_input_config(&cfg, argi, argv, err, sizeof err) != 0) {
        fprintf(stderr, "spotwatch: %s\n", err);
        return 2;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const struct command *k = &commands[i];
        if (strcmp(cmd, k->name) != 0)
            continue;
        if (k->run)
            return k->run(&cfg, argc - argi, argv + argi);
        if (nodump_process(err, sizeof err) != 0 || k->run_until_stopped(&cfg, err, sizeof err) != 0) {
            log_error("%s", err);
            return 1;
        }
        return 0;
    }
    fprintf(stderr, "spotwatch: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}
