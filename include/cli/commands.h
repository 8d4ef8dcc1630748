#ifndef SW_CLI_COMMANDS_H
#define SW_CLI_COMMANDS_H
/* commands: the one table of spotwatch's commands (src/cli/commands.c). It
 * is the single source of the dispatch (src/main.c), of every --help text,
 * of `spotwatch help --list`, of the man page spotwatch(1) (`spotwatch
 * --help-man`, written by `make` to build/man/spotwatch.1) and of the bash
 * completion (`spotwatch --help-completion`, build/completion/spotwatch.bash).
 * A command is a top-level word (worker, status) or a group and a
 * subcommand (app add). Its options are parsed from its entry before it
 * runs (cli_args_parse), so an option exists exactly when it is documented. */
#include <stddef.h>
#include <stdio.h>
#include "base/config.h"

/* CLI_OPT_MAX: the most options one command has. */
#define CLI_OPT_MAX 12

/* cli_optdoc: one `--name [ARG]` option of a command. */
struct cli_optdoc {
    const char *name;   /* without the leading "--" */
    const char *arg;    /* the value's placeholder ("MS"); NULL: a flag */
    const char *help;   /* one sentence */
};

/* cli_opt: one option as parsed: value NULL when absent, "1" for a given
 * flag, else the word after it. */
struct cli_opt {
    const char *name;
    const char *value;
    int flag;
};

struct cli_command;

/* cli_args: a command's words after its name, parsed against its entry:
 * npos positionals in pos (pointing into argv), o[i] the i-th option of
 * cmd->opts. */
struct cli_args {
    const struct cli_command *cmd;
    int npos;
    const char **pos;
    struct cli_opt o[CLI_OPT_MAX + 1];
};

/* cli_command: one command. Exactly one of run and daemon is set. */
struct cli_command {
    const char *group;      /* "app" for `app add`; NULL for a top-level word */
    const char *name;       /* "add"; "worker" */
    const char *synopsis;   /* positionals and required options: "APP --client-id ID" */
    int min_pos, max_pos;   /* positional words allowed (max_pos -1: any number) */
    const char *summary;    /* one line: what it does */
    const char *text;       /* more for --help and the man page; NULL: none */
    const struct cli_optdoc *opts;   /* ended by a NULL name; NULL: none */
    /* run: a command that returns its exit status (0 ok, 1 failed, 2 usage). */
    int (*run)(const struct sw_config *c, struct cli_args *a);
    /* daemon: a long-running process (worker, serve): 0, or -1 with err. */
    int (*daemon)(const struct sw_config *c, char *err, size_t errlen);
};

/* cli_commands: the table, ended by an entry with a NULL name. */
extern const struct cli_command cli_commands[];

/* cli_is_group: 1 when word names a group of subcommands (app, user, watch). */
int cli_is_group(const char *word);
/* cli_find: the command named by word (and sub, for a group; sub may be
 * NULL), or NULL. */
const struct cli_command *cli_find(const char *word, const char *sub);
/* cli_find_opt: the index of option name (without "--", up to len bytes)
 * in cmd's options, or -1. */
int cli_find_opt(const struct cli_command *cmd, const char *name, size_t len);

/* cli_args_parse parses argv (the words after the command's name) into a
 * (a->pos gets room for argc words: the caller's array of at least argc
 * + 1). A bare "--" ends the options. Unknown options, missing values, too
 * many or too few positionals are said on stderr with the usage: 2;
 * else 0. */
int cli_args_parse(const struct cli_command *cmd, int argc, char **argv, const char **pos,
                   struct cli_args *a);
/* cli_missing says on stderr that what (an option, "USER") is missing from
 * a's command line, with its usage; returns 2. */
int cli_missing(const struct cli_args *a, const char *what);

/* cli_help_command prints cmd's --help text to f. */
void cli_help_command(const struct cli_command *cmd, FILE *f);
/* cli_help_group prints the subcommands of group (app, user, watch) to f. */
void cli_help_group(const char *group, FILE *f);
/* cli_help_main prints the overview (every command, the global options). */
void cli_help_main(FILE *f);
/* cli_help_list prints one command a line ("app add", "worker"): what the
 * tests walk. */
void cli_help_list(FILE *f);
/* cli_help_man prints the man page spotwatch(1) in roff. */
void cli_help_man(FILE *f, const char *version);
/* cli_help_completion prints a bash completion script for spotwatch. */
void cli_help_completion(FILE *f);

#endif
