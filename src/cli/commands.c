/* commands.c: the one table of spotwatch's commands (include/cli/commands.h):
 * names, synopses, options and help texts, and what runs each. The order of
 * a command's options is the order its function reads a->o[] in. The help,
 * the man page and the completion are printed from it by help.c. */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli_int.h"
#include "serve/serve.h"
#include "worker/worker.h"

static const struct cli_optdoc json_only[] = {
    {"json", NULL, "print JSON (numbers as numbers, times as ms and ISO 8601) instead of a table"},
    {NULL, NULL, NULL}};

static const struct cli_optdoc app_add_opts[] = {
    {"client-id", "ID", "the app's Spotify client id (required)"},
    {"client-secret", "SECRET", "the client secret itself (visible to other local users in the process list: "
                                "prefer --client-secret-file)"},
    {"mode", "development|extended", "the app's Spotify quota mode (default development)"},
    {"budget", "N", "calls per rolling window (0 = unlimited; unset: app-budget-30s)"},
    {"quota", "N", "calls per rolling 24 h (development mode; unset: app-quota-24h)"},
    {"window-ms", "MS", "the budget's rolling window (default 30000, Spotify's)"},
    {"client-secret-file", "FILE|-", "read the client secret from FILE, or stdin for -"},
    {"max-users", "N", "the most users the app takes (0 = no cap; a new development app gets 5, as "
                       "Spotify allows; extended: none unless given)"},
    {"developer", "ID", "the developer account whose 24 h quota the app shares (default: its client id)"},
    {"quota-window-ms", "MS", "the 24 h quota's rolling window (default 86400000; at least 24000, for tests)"},
    {NULL, NULL, NULL}};

static const struct cli_optdoc app_rm_opts[] = {
    {"force", NULL, "remove the app's users too (their tokens and state) instead of refusing"},
    {NULL, NULL, NULL}};

static const struct cli_optdoc user_add_opts[] = {
    {"app", "APP", "the app the user belongs to (required)"},
    {"access-token", "TOKEN", "the access token itself (visible in the process list: prefer the file)"},
    {"refresh-token", "TOKEN", "the refresh token itself (visible in the process list: prefer the file)"},
    {"expires-in", "S", "seconds the access token is still valid (default 3600)"},
    {"scope", "SCOPE", "the scope granted (default the product's)"},
    {"access-token-file", "FILE|-", "read the access token from FILE (- : stdin; both -: two lines, access first)"},
    {"refresh-token-file", "FILE|-", "read the refresh token from FILE (- : stdin)"},
    {NULL, NULL, NULL}};

static const struct cli_optdoc user_ls_opts[] = {
    {"json", NULL, "print JSON (numbers as numbers, times as ms and ISO 8601) instead of a table"},
    {"app", "APP", "only the users of APP"},
    {"status", "STATUS", "only the users with this status (active, stopped, reauth_required, "
                         "not_registered, broken)"},
    {NULL, NULL, NULL}};

static const struct cli_optdoc user_import_opts[] = {
    {"watch", NULL, "also schedule each user, as watch start does"},
    {"interval", "MS", "with --watch: each user's poll interval"},
    {NULL, NULL, NULL}};

static const struct cli_optdoc watch_start_opts[] = {
    {"interval", "MS", "the user's poll interval (default poll-interval-ms)"},
    {NULL, NULL, NULL}};

static const struct cli_optdoc tail_opts[] = {
    {"since", "ID|TIME", "read the app's event stream from a stream id (1733000000000-0), a time (ISO 8601 "
                         "2026-12-02T20:00:00Z, ms since the epoch, or 10m/2h/1d ago), then follow it"},
    {"follow-stream", NULL, "follow the app's event stream from now (resumes where it was after a dropped "
                            "link, where channels lose what was published meanwhile)"},
    {"app", "APP", "with --since/--follow-stream: the app whose stream to read (default every app)"},
    {NULL, NULL, NULL}};

static const struct cli_optdoc connect_link_opts[] = {
    {"app", "APP", "the app to connect to (default the only one)"},
    {"return-to", "URL", "where serve sends the browser afterwards (on connect-allowed-origins)"},
    {"ttl", "S", "seconds the link is valid (default 600, at most 900)"},
    {NULL, NULL, NULL}};

static const struct cli_optdoc help_opts[] = {
    {"list", NULL, "print every command, one a line"},
    {NULL, NULL, NULL}};

/* print_config: `spotwatch config`. */
static int print_config(const struct sw_config *c, struct cli_args *a)
{
    (void)a;
    config_write(c, stdout);
    return 0;
}

/* help: `spotwatch help [--list] [COMMAND [SUBCOMMAND]]`. */
static int help(const struct sw_config *c, struct cli_args *a)
{
    (void)c;
    if (a->o[0].value) {
        cli_help_list(stdout);
        return 0;
    }
    if (a->npos == 0) {
        cli_help_main(stdout);
        return 0;
    }
    const struct cli_command *k = cli_find(a->pos[0], a->npos > 1 ? a->pos[1] : NULL);
    if (k) {
        cli_help_command(k, stdout);
        return 0;
    }
    if (cli_is_group(a->pos[0]) && a->npos == 1) {
        cli_help_group(a->pos[0], stdout);
        return 0;
    }
    fprintf(stderr, "spotwatch: help: no such command '%s%s%s' (spotwatch help --list)\n", a->pos[0],
            a->npos > 1 ? " " : "", a->npos > 1 ? a->pos[1] : "");
    return 2;
}

const struct cli_command cli_commands[] = {
    {NULL, "worker", "", 0, 0, "run a worker until SIGTERM/SIGINT (any number, on any host)",
     "Claims due users from Redis, polls Spotify for each, publishes the events. On SIGTERM or "
     "SIGINT it stops claiming, finishes what is in flight and exits 0.",
     NULL, NULL, worker_run},
    {NULL, "serve", "", 0, 0, "serve /connect and /callback (users connect their Spotify accounts), "
                              "/healthz and /metrics",
     "Listens on http-listen; public-url is the address Spotify sends browsers back to.", NULL, NULL,
     serve_run},
    {"app", "add", "APP --client-id ID --client-secret-file FILE|-", 1, 1, "register or update a Spotify app",
     "Registers the app's credentials (the secret sealed with token-key-file), its mode, budget, "
     "quota and user cap. New credentials end an invalid_client block within seconds.",
     app_add_opts, cli_app_add, NULL},
    {"app", "ls", "", 0, 0, "list the apps: mode, users and their cap, scheduled, in flight, budget", NULL,
     json_only, cli_app_ls, NULL},
    {"app", "show", "APP", 1, 1, "everything about one app except its secret: settings, users, limiter, counters",
     NULL, json_only, cli_app_show, NULL},
    {"app", "rm", "APP", 1, 1, "remove an app and every key of it",
     "Refuses while the app has users (remove them with user rm, or give --force to remove them "
     "too). Its event stream goes with it.",
     app_rm_opts, cli_app_rm, NULL},
    {"app", "unblock", "APP", 1, 1, "end the app's 429 block now (operator override)",
     "For when Spotify raised a quota, say; the adaptive budget stays.", NULL, cli_app_unblock, NULL},
    {"user", "add", "USER --app APP --access-token-file FILE|- --refresh-token-file FILE|-", 1, 1,
     "store a user's tokens (migrations, tests; serve is the normal way in)",
     "A user id owned by another app is refused, and so is a user new to an app that is full "
     "(max_users).",
     user_add_opts, cli_user_add, NULL},
    {"user", "show", "USER", 1, 1, "everything about a user except the tokens",
     "Status, reason, schedule, token expiry, refresh-token age, counters, last error, and the "
     "playback last seen in the events' form.",
     json_only, cli_user_show, NULL},
    {"user", "ls", "", 0, 0, "list the users: app, status, last outcome, last poll", NULL, user_ls_opts,
     cli_user_ls, NULL},
    {"user", "rm", "USER", 1, 1, "stop watching a user and delete their tokens and state", NULL, NULL,
     cli_user_rm, NULL},
    {"user", "import", "FILE|-", 1, 1, "bulk user add: one JSON object a line",
     "Each line {\"user\",\"app\",\"access_token\",\"refresh_token\",\"expires_in\",\"scope\"}; "
     "written pipelined, 512 users per round trip.",
     user_import_opts, cli_user_import, NULL},
    {"watch", "start", "USER", 1, 1, "schedule the user (a jittered first poll)", NULL, watch_start_opts,
     cli_watch, NULL},
    {"watch", "stop", "USER", 1, 1, "take the user off the schedule (a poll in flight finishes)", NULL, NULL,
     cli_watch, NULL},
    {"watch", "now", "USER", 1, 1, "make a watched user due now, within the rate limits",
     "Fails (exit 1) for an unknown user or one not being watched.", NULL, cli_watch, NULL},
    {NULL, "status", "", 0, 0, "workers, users by status, schedule lag, limits, errors", NULL, json_only,
     cli_status, NULL},
    {NULL, "tail", "[USER...]", 0, -1, "print events as they arrive, one JSON a line (every user when none named)",
     "Follows the users' channels (or, with --since or --follow-stream, the apps' event streams) "
     "until interrupted, reconnecting when the Redis link drops. Warns about a user id it does not "
     "know.",
     tail_opts, cli_tail, NULL},
    {NULL, "keygen", "FILE", 1, 1, "add a new token key to FILE (created mode 0600)",
     "The newest key seals; every key opens.", NULL, cli_keygen, NULL},
    {NULL, "connect-link", "USER", 1, 1, "print a signed /connect link (needs connect-key-file, not Redis)",
     NULL, connect_link_opts, cli_connect_link, NULL},
    {NULL, "config", "", 0, 0, "print the effective configuration (secrets as (set))", NULL, NULL,
     print_config, NULL},
    {NULL, "help", "[COMMAND [SUBCOMMAND]]", 0, 2, "print the help of a command, or of all", NULL, help_opts,
     help, NULL},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL},
};

int cli_is_group(const char *word)
{
    for (const struct cli_command *k = cli_commands; k->name; k++)
        if (k->group && strcmp(k->group, word) == 0)
            return 1;
    return 0;
}

const struct cli_command *cli_find(const char *word, const char *sub)
{
    for (const struct cli_command *k = cli_commands; k->name; k++) {
        if (k->group == NULL && strcmp(k->name, word) == 0)
            return k;
        if (k->group && sub && strcmp(k->group, word) == 0 && strcmp(k->name, sub) == 0)
            return k;
    }
    return NULL;
}

int cli_find_opt(const struct cli_command *cmd, const char *name, size_t len)
{
    for (int i = 0; cmd->opts && cmd->opts[i].name; i++)
        if (strlen(cmd->opts[i].name) == len && strncmp(cmd->opts[i].name, name, len) == 0)
            return i;
    return -1;
}

/* usage_line prints "usage: spotwatch <words> <synopsis> [OPTIONS]". */
static void usage_line(const struct cli_command *k, FILE *f)
{
    fprintf(f, "usage: spotwatch %s%s%s%s%s%s\n", k->group ? k->group : "", k->group ? " " : "", k->name,
            k->synopsis[0] ? " " : "", k->synopsis, k->opts ? " [OPTIONS]" : "");
}

int cli_args_parse(const struct cli_command *cmd, int argc, char **argv, const char **pos,
                   struct cli_args *a)
{
    int n = 0;
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->pos = pos;
    for (int i = 0; cmd->opts && cmd->opts[i].name && i < CLI_OPT_MAX; i++) {
        a->o[i].name = cmd->opts[i].name;
        a->o[i].flag = cmd->opts[i].arg == NULL;
    }
    int max = cmd->max_pos < 0 ? argc : cmd->max_pos;
    if ((n = cli_parse_opts(argc, argv, a->o, pos, max)) < 0) {
        fprintf(stderr, "(spotwatch %s%s%s --help lists them)\n", cmd->group ? cmd->group : "",
                cmd->group ? " " : "", cmd->name);
        usage_line(cmd, stderr);
        return 2;
    }
    a->npos = n;
    if (n < cmd->min_pos) {
        /* The synopsis' n-th word names what is missing. */
        char what[64] = "";
        const char *s = cmd->synopsis;
        for (int w = 0; w <= n && *s; w++) {
            size_t len = strcspn(s, " ");
            snprintf(what, sizeof what, "%.*s", (int)len, s);
            s += len + (s[len] == ' ');
        }
        return cli_missing(a, what);
    }
    return 0;
}

int cli_missing(const struct cli_args *a, const char *what)
{
    const struct cli_command *k = a->cmd;
    fprintf(stderr, "spotwatch %s%s%s: missing %s\n", k->group ? k->group : "", k->group ? " " : "", k->name,
            what);
    usage_line(k, stderr);
    return 2;
}

void cli_help_command(const struct cli_command *k, FILE *f)
{
    usage_line(k, f);
    fprintf(f, "\n%s.\n", k->summary);
    if (k->text)
        fprintf(f, "%s\n", k->text);
    if (k->opts) {
        fprintf(f, "\noptions:\n");
        for (const struct cli_optdoc *o = k->opts; o->name; o++) {
            char head[64];
            snprintf(head, sizeof head, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
            fprintf(f, "  %-28s %s\n", head, o->help);
        }
    }
    fprintf(f, "\nGlobal options may stand anywhere on the line: --config FILE, --<directive> VALUE\n"
               "(every directive of spotwatch.conf; spotwatch config prints them). -h, --help: this text.\n");
}
