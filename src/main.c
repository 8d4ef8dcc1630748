/* main.c: `spotwatch [global options] COMMAND [ARGS]`: finds the command in
 * the command table (include/cli/commands.h), answers --help and --version
 * without starting anything or touching Redis, gathers the global options
 * wherever they stand, and runs the command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/commands.h"
#include "base/config.h"
#include "base/log.h"
#include "base/nodump.h"
#include "base/secret_input.h"

#include "build_info.h"   /* SW_BUILD_VERSION: the Makefile's VERSION */

static int is(const char *s, const char *a, const char *b)
{
    return strcmp(s, a) == 0 || (b && strcmp(s, b) == 0);
}

/* option_words: the words the option argv[i] takes: 1 for "--name=value"
 * or a "--name" followed by nothing or by another option (a missing value,
 * as config_parse_args reads it), else 2. */
static int option_words(int argc, char **argv, int i)
{
    return strchr(argv[i], '=') || i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0 ? 1 : 2;
}

/* skip_globals: the index of the first word from i on that is not a global
 * option; stops at the words main answers itself (--version, -V, --help,
 * -h, --help-*). */
static int skip_globals(int argc, char **argv, int i)
{
    while (i < argc && strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i], "--") != 0 &&
           !is(argv[i], "--version", "--help") && strncmp(argv[i], "--help-", 7) != 0)
        i += option_words(argc, argv, i);
    return i < argc ? i : argc;
}

/* wants_help: 1 when -h or --help stands among the n words (before a "--"). */
static int wants_help(int n, char **w)
{
    for (int i = 0; i < n && strcmp(w[i], "--") != 0; i++)
        if (is(w[i], "-h", "--help"))
            return 1;
    return 0;
}

/* is_global: 1 when name (len bytes, no "--") is --config or a directive. */
static int is_global(const char *name, size_t len)
{
    const char *d;
    if (len == 6 && strncmp(name, "config", 6) == 0)
        return 1;
    for (size_t i = 0; (d = config_directive_name(i)) != NULL; i++)
        if (strlen(d) == len && strncmp(d, name, len) == 0)
            return 1;
    return 0;
}

/* word_kind: how the command's word rest[i] (of n) reads: the number of
 * words it takes (1 or 2, with its value), negative when they are a global
 * option (--config or a directive) rather than one of k's own (which wins
 * over a directive of the same name). *stop is set at a bare "--". */
static int word_kind(const struct cli_command *k, char **rest, int n, int i, int *stop)
{
    const char *w = rest[i];
    if (strcmp(w, "--") == 0) {
        *stop = 1;
        return 1;
    }
    size_t len = strncmp(w, "--", 2) == 0 ? strcspn(w + 2, "=") : 0;
    if (len == 0)
        return 1;
    int width = option_words(n, rest, i);
    int opt = cli_find_opt(k, w + 2, len);
    if (opt < 0 && is_global(w + 2, len))
        return -width;
    return opt >= 0 && k->opts[opt].arg ? width : 1;
}

/* regroup writes into out (argc + 1 entries) the line with the global
 * options found among the command's words (rest, n of them) moved before
 * the command: argv[0..cmd), those options, the command's words (words of
 * them), the others, NULL. Returns the index of the command in out. */
static int regroup(const struct cli_command *k, char **argv, int cmd, int words, char **rest, int n,
                   char **out)
{
    int o = 0, stop = 0, w;

    for (int i = 0; i < cmd; i++)
        out[o++] = argv[i];
    for (int i = 0; i < n && !stop; i += w < 0 ? -w : w)
        if ((w = word_kind(k, rest, n, i, &stop)) < 0 && !stop)
            for (int j = 0; j < -w; j++)
                out[o++] = rest[i + j];
    int at = o;
    for (int i = 0; i < words; i++)
        out[o++] = argv[cmd + i];
    stop = 0;
    for (int i = 0; i < n; i += w < 0 ? -w : w) {
        w = stop ? 1 : word_kind(k, rest, n, i, &stop);
        for (int j = 0; w > 0 && j < w; j++)
            out[o++] = rest[i + j];
    }
    out[o] = NULL;
    return at;
}

/* find_command resolves the command at argv[i] (a word, or a group and a
 * subcommand): the entry and in *words how many words name it; NULL when
 * main has answered (help: *rc 0) or refused (*rc 2). */
static const struct cli_command *find_command(int argc, char **argv, int i, int *words, int *rc)
{
    const struct cli_command *k;
    /* Global options between a group and its subcommand: the subcommand is
     * moved up to the group (the options, after it, are gathered later). */
    int j = cli_is_group(argv[i]) ? skip_globals(argc, argv, i + 1) : i + 1;
    if (j < argc && j > i + 1 && strncmp(argv[j], "-", 1) != 0) {
        char *sub_word = argv[j];
        memmove(argv + i + 2, argv + i + 1, (size_t)(j - i - 1) * sizeof *argv);
        argv[i + 1] = sub_word;
    }
    const char *w = argv[i], *sub = i + 1 < argc ? argv[i + 1] : NULL;

    *words = 1;
    if (!cli_is_group(w)) {
        if ((k = cli_find(w, NULL)) != NULL)
            return k;
        fprintf(stderr, "spotwatch: unknown command '%s'\n\n", w);
        cli_help_main(stderr);
        *rc = 2;
        return NULL;
    }
    if (sub && (k = cli_find(w, sub)) != NULL) {
        *words = 2;
        return k;
    }
    if (wants_help(argc - i - 1, argv + i + 1)) {
        cli_help_group(w, stdout);
        *rc = 0;
        return NULL;
    }
    if (sub && sub[0] != '-')
        fprintf(stderr, "spotwatch %s: unknown subcommand '%s'\n", w, sub);
    else
        fprintf(stderr, "spotwatch %s: missing the subcommand\n", w);
    cli_help_group(w, stderr);
    *rc = 2;
    return NULL;
}

/* load_config reads the global options at the head of argv into cfg (the
 * defaults, then --config, then the directives), leaving *argi on the first
 * other word: 0, or 2 (said). */
static int load_config(struct sw_config *cfg, int argc, char **argv, int *argi)
{
    char err[512];
    *argi = 1;
    config_defaults(cfg);
    if (config_parse_args(cfg, argc, argv, argi, err, sizeof err) != 0) {
        fprintf(stderr, "spotwatch: %s\n", err);
        return 2;
    }
    return 0;
}

/* run_command: the configuration from the regrouped line, then the command. */
static int run_command(const struct cli_command *k, int argc, char **argv, int at, int words)
{
    struct sw_config cfg;
    char err[512];
    int argi;

    if (load_config(&cfg, argc, argv, &argi) != 0)
        return 2;
    if (argi != at) {   /* a "--" before the command, say */
        fprintf(stderr, "spotwatch: unexpected '%s' before the command\n", argv[argi]);
        return 2;
    }
    log_setup(cfg.log_level, cfg.log_format, k->group ? k->group : k->name);
    /* After log_setup, so its warnings follow log-format. */
    if (secret_input_config(&cfg, argi, argv, err, sizeof err) != 0) {
        fprintf(stderr, "spotwatch: %s\n", err);
        return 2;
    }
    int n = 0;
    char **rest = argv + at + words;
    while (rest[n])
        n++;
    if (k->daemon) {
        if (n > 0) {
            fprintf(stderr, "spotwatch %s: unexpected argument '%s' (spotwatch %s --help)\n", k->name, rest[0],
                    k->name);
            return 2;
        }
        /* It holds keys and tokens: not dumpable (include/base/nodump.h). */
        if (nodump_process(err, sizeof err) != 0 || k->daemon(&cfg, err, sizeof err) != 0) {
            log_error("%s", err);
            return 1;
        }
        return 0;
    }
    const char **pos = calloc((size_t)n + 1, sizeof *pos);
    struct cli_args a;
    if (pos == NULL) {
        fprintf(stderr, "spotwatch: out of memory\n");
        return 1;
    }
    int rc = cli_args_parse(k, n, rest, pos, &a);
    if (rc == 0)
        rc = k->run(&cfg, &a);
    free(pos);
    return rc;
}

int main(int argc, char **argv)
{
    int i = skip_globals(argc, argv, 1), words = 1, rc = 2;

    if (i < argc && is(argv[i], "--version", "-V")) {
        printf("spotwatch %s\n", SW_BUILD_VERSION);
        return 0;
    }
    if (i < argc && strcmp(argv[i], "--help-man") == 0) {
        cli_help_man(stdout, SW_BUILD_VERSION);
        return 0;
    }
    if (i < argc && strcmp(argv[i], "--help-completion") == 0) {
        cli_help_completion(stdout);
        return 0;
    }
    if (i < argc && is(argv[i], "-h", "--help")) {
        cli_help_main(stdout);
        return 0;
    }
    if (i >= argc) {
        /* The options' own errors first: they are what is wrong. */
        struct sw_config cfg;
        int argi;
        if (load_config(&cfg, argc, argv, &argi) != 0)
            return 2;
        fprintf(stderr, "spotwatch: missing the command\n\n");
        cli_help_main(stderr);
        return 2;
    }
    const struct cli_command *k = find_command(argc, argv, i, &words, &rc);
    if (k == NULL)
        return rc;
    if (wants_help(argc - i - words, argv + i + words)) {
        cli_help_command(k, stdout);
        return 0;
    }
    char **line = calloc((size_t)argc + 1, sizeof *line);
    if (line == NULL) {
        fprintf(stderr, "spotwatch: out of memory\n");
        return 1;
    }
    int at = regroup(k, argv, i, words, argv + i + words, argc - i - words, line);
    rc = run_command(k, argc, line, at, words);
    free(line);
    return rc;
}
