#ifndef SW_CLI_INT_H
#define SW_CLI_INT_H
/* cli_int: private to src/cli/, one file per command group (app.c, user.c,
 * user_import.c, watch.c, status.c, tail.c, keygen.c); what they share is
 * in cli_common.c: option parsing, id checks, JSON printing, the Redis link
 * with its errors on stderr, and the subcommand dispatch. Not a contract for
 * anything else. */
#include <stddef.h>
#include <stdio.h>
#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include "base/config.h"
#include "cli/commands.h"
#include "base/crypto.h"
#include "redis/key_schema.h"
#include "redis/script_contract.h"
#include "redis/scripts.h"
#include "redis/user_dir.h"

/* Spotify: refresh tokens die 6 months after authorisation; 180 days errs early. */
#define CLI_REFRESH_LIFETIME_MS (180LL * 24 * 3600 * 1000)
#define CLI_REFRESH_WARN_MS (14LL * 24 * 3600 * 1000)

/* cli_parse_opts splits argv (after the words already consumed) into
 * positional words (at most maxpos, into pos) and the options of opts (a
 * table ended by a NULL name; opts may be NULL: none): `--name value` or
 * `--name=value`; a bare `--` makes the rest positional. Returns the count
 * of positionals, or -1 with the reason on stderr. Commands get theirs
 * through cli_args_parse (include/cli/commands.h). */
int cli_parse_opts(int argc, char **argv, struct cli_opt *opts, const char **pos, int maxpos);
/* cli_secret: the two ways one secret may be given to a command: arg, the
 * option carrying the secret itself ("--client-secret S": others can read
 * it in /proc/PID/cmdline), and file, the option naming a file or "-" for
 * stdin ("--client-secret-file F"). */
struct cli_secret {
    struct cli_opt *arg, *file;
};
/* cli_secrets fills out[0..n) (n is 1 or 2), the i-th from s[i]: the
 * argument (copied, wiped from argv, and warned about: secret_input_warn_arg)
 * or else the file (secret_input_read); two files both "-" are read as two
 * lines of stdin, in order. The caller has checked that one of each pair is
 * set. Returns 0, or -1 with the reason on stderr (out[] all NULL). Free
 * each with secret_free. */
int cli_secrets(const struct cli_secret *s, int n, char **out);
/* cli_parse_ll reads a whole integer in [min, max] into *out: 0, or -1 with
 * the reason (naming what) on stderr. */
int cli_parse_ll(const char *what, const char *s, long long min, long long max, long long *out);
/* cli_check_id: 0 if id may name an app or a user (keys_valid_id), else -1
 * with the rule on stderr; what is "app" or "user". */
int cli_check_id(const char *what, const char *id);
/* cli_print_json prints o on one line and deletes it: 0, or 1 (out of memory). */
int cli_print_json(cJSON *o);

/* cli_connect: a blocking Redis link (redis_sync_connect), or NULL with the
 * reason on stderr. redisFree it. */
struct redis_sync *cli_connect(const struct sw_config *c);
/* cli_cmd runs one command; an error reply or a lost link is reported on
 * stderr ("spotwatch: Redis: ...") and gives NULL. cli_cmd_ok: 0 or -1,
 * the reply dropped. */
redisReply *cli_cmd(struct redis_sync *r, int argc, const char **argv);
int cli_cmd_ok(struct redis_sync *r, int argc, const char **argv);
/* cli_eval runs a script (redis_sync_eval: KEYS then ARGV, nargs in all),
 * reporting a failure as cli_cmd does. */
redisReply *cli_eval(struct redis_sync *r, enum script_id id, int nkeys, int nargs, const char **argv);
/* cli_connect_user: cli_connect, then user looked up in the directory: the
 * link with the user's app in app, or NULL ("no such user" or why not on
 * stderr). */
struct redis_sync *cli_connect_user(const struct sw_config *c, const char *user, char *app, size_t n);
/* cli_connect_read: cli_connect, then the global key <p><name> read whole
 * with cmd (SMEMBERS apps, HGETALL users): the link with the reply in *rep
 * (freeReplyObject it), or NULL (reported). */
struct redis_sync *cli_connect_read(const struct sw_config *c, const char *cmd, const char *name, redisReply **rep);
/* cli_load_keyring loads token-key-file (keyring_file_load: *kr stays NULL
 * in plaintext mode): 0, or -1 with the reason on stderr. crypto_free it. */
int cli_load_keyring(const struct sw_config *c, struct crypto_keyring **kr);
struct cli_table;
/* cli_list_end ends a listing command: arr printed as one JSON line when
 * json, else the table t (src/cli/out.c); both freed; the exit status. */
int cli_list_end(struct cli_table *t, cJSON *arr, int json);
/* cli_jitter_ms: a first poll's delay from now for a user started now, up to
 * a quarter of its interval (interval_ms, or poll-interval-ms when 0), so
 * users started together do not poll on the same tick; rand() (seed it). */
long long cli_jitter_ms(const struct sw_config *c, long long interval_ms);
/* cli_wipe overwrites a string that held a secret. */
void cli_wipe(char *s);

/* CLI_ESC_MAX: the buffer of one cli_esc'd value (longer ones are cut). */
#define CLI_ESC_MAX 2048
/* cli_esc returns s for a terminal, in buf (n bytes, n >= 16): every control
 * character escaped as JSON writes it (\n, \r, \t, \u001b; DEL and the C1
 * controls U+0080-U+009F too), a byte that is not UTF-8 as \xHH, cut with
 * "..." when longer than buf. For names and values read from Redis or
 * Spotify (display_name, ids, statuses): escape sequences in them must not
 * reach the operator's terminal, nor a newline fake a line of output. NULL
 * is read as "". */
const char *cli_esc(const char *s, char *buf, size_t n);
/* cli_fputs_esc writes all of s to f escaped as cli_esc does, uncut (tail:
 * a JSON text stays valid JSON, since only raw control characters, which
 * JSON forbids, change). */
void cli_fputs_esc(const char *s, FILE *f);

/* cli_user_put: the arguments of one user_put.lua call (the one writer of a
 * user's tokens, lua/lib/user_record.lua) and the storage they point into. */
struct cli_user_put {
    char user_key[KEY_MAX];
    struct app_keys k;
    char lifetime_ms[24], interval_ms[24], due_in_ms[24];
    const char *argv[USER_PUT_KEY_N + USER_PUT_ARG_N];
};
/* cli_user_put_init fills p for user of app: at and rt sealed, the access
 * token valid expires_in_s from now, scope; watch: start watching too, with
 * interval_ms (0 keeps the user's) and the first poll due_in_ms from now
 * unless the user is scheduled already. The strings must outlive p.argv. */
void cli_user_put_init(struct cli_user_put *p, const struct sw_config *c, const char *user,
                       const char *app, const char *at, const char *rt, long long expires_in_s,
                       const char *scope, int watch, long long interval_ms, long long due_in_ms);

/* cli_user_put_refused reads user_put.lua's reply rep for user of app: 0
 * stored; 1 refused because app is full (its max_users reached; said),
 * with file:line when file is not ""; -1 an error reply (said). */
int cli_user_put_refused(redisReply *rep, const char *file, long line, const char *user, const char *app);

/* cli_user_claim claims user for app in the directory before user_put.lua
 * (include/redis/user_dir.h). USER_DIR_NEW or _MINE: go on;
 * USER_DIR_OTHER: said (naming the owning app, with file:line when file is
 * not ""); USER_DIR_ERROR: said. */
enum user_dir_claim cli_user_claim(struct redis_sync *r, const struct sw_config *c, const char *file, long line,
                                   const char *user, const char *app);
/* cli_user_owned says on stderr that user belongs to app owner (with
 * file:line when file is not ""): refused, nothing written. */
void cli_user_owned(const char *file, long line, const char *user, const char *owner);
/* cli_user_unclaim releases a claim made by cli_user_claim (USER_DIR_NEW)
 * after the script refused the user; a failure is said. */
void cli_user_unclaim(struct redis_sync *r, const struct sw_config *c, const char *user, const char *app);

/* ------------------------------------------------------- output (out.c) --- */
/* cli_table: rows printed aligned under a header (human formats). Each
 * cell is copied escaped (cli_esc), so a value from Redis cannot drive the
 * terminal. */
struct cli_table {
    int ncol, nrows, cap;
    const char *const *head;   /* ncol column titles */
    char **cells;              /* nrows * ncol, owned */
};
/* cli_table_init: an empty table of ncol columns titled head (which must
 * outlive it). */
void cli_table_init(struct cli_table *t, int ncol, const char *const *head);
/* cli_table_row appends a row of t->ncol cells (NULL prints "-"): 0, or -1
 * out of memory. */
int cli_table_row(struct cli_table *t, const char *const *cells);
/* cli_table_print prints the header and the rows, columns two spaces apart,
 * widths counted in characters; then frees the rows (t is empty again). */
void cli_table_print(struct cli_table *t, FILE *f);
void cli_table_free(struct cli_table *t);

/* cli_iso writes ms (since the epoch, UTC) as ISO 8601 with milliseconds
 * ("2026-12-02T20:55:29.123Z") into buf (n >= 32); 0 or less gives "". */
const char *cli_iso(long long ms, char *buf, size_t n);
/* cli_ago writes the time ms as seen from now for a person: "12s ago", "in
 * 3m", "2h ago", "5d ago"; 0 or less gives "-". buf n >= 24. */
const char *cli_ago(long long ms, long long now, char *buf, size_t n);
/* cli_is_time_field: 1 for a hash field holding a time in ms since the
 * epoch (a name ending in "_at", "started", "backfill_cursor"). */
int cli_is_time_field(const char *name);
/* cli_json_field adds name = value read from Redis to o: a number when the
 * value is a whole decimal number (up to 15 digits, exact in a double),
 * else the string; a time field (cli_is_time_field) also gets
 * name + "_iso". */
void cli_json_field(cJSON *o, const char *name, const char *value);
/* cli_json_time adds name = ms and name + "_iso" (ISO 8601) to o. */
void cli_json_time(cJSON *o, const char *name, long long ms);
/* cli_budget writes an app's budget for a person: "unlimited" for 0, else
 * "N/Ws" (W the window in seconds). buf n >= 48. */
const char *cli_budget(long long budget, long long window_ms, char *buf, size_t n);
/* cli_print_pairs prints o's members to stdout as "name  value" lines
 * (nested objects as prefix "name.member"; NAME_iso members left out, a
 * time printed as ISO 8601 and "12s ago" from now), escaped. */
void cli_print_pairs(const cJSON *o, const char *prefix, long long now);
/* cli_count_users counts the directory's users by app: an object app ->
 * count (all apps seen), or NULL when Redis failed (said). */
cJSON *cli_count_users(struct redis_sync *r, const struct sw_config *c);

#endif
