/* cli_common.c: what the operator commands share (see src/cli/cli_int.h).
 * The commands use hiredis' blocking API (redis_sync): a command runs once
 * and exits, so there is no loop to keep free. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_int.h"
#include "base/codec.h"
#include "base/keyring_file.h"
#include "base/secret_input.h"
#include "redis/redis_sync.h"

int cli_parse_opts(int argc, char **argv, struct cli_opt *opts, const char **pos, int maxpos)
{
    int npos = 0, options = 1;
    for (int i = 0; i < argc; i++) {
        if (options && strcmp(argv[i], "--") == 0) {
            options = 0;   /* the rest are positional, even "-h" or "--json" */
        } else if (options && strncmp(argv[i], "--", 2) == 0) {
            const char *name = argv[i] + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            struct cli_opt *o = opts;
            for (; o && o->name; o++)
                if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
                    break;
            if (o == NULL || o->name == NULL) {
                fprintf(stderr, "spotwatch: unknown option '%.*s'\n", (int)(len + 2), argv[i]);
                return -1;
            }
            if (o->flag && eq) {
                fprintf(stderr, "spotwatch: option '--%s' takes no value\n", o->name);
                return -1;
            } else if (o->flag) {
                o->value = "1";
            } else if (eq) {
                o->value = eq + 1;
            } else if (i + 1 >= argc) {
                fprintf(stderr, "spotwatch: option '%s' needs a value\n", argv[i]);
                return -1;
            } else {
                o->value = argv[++i];
            }
        } else if (npos < maxpos) {
            pos[npos++] = argv[i];
        } else {
            fprintf(stderr, "spotwatch: unexpected argument '%s'\n", argv[i]);
            return -1;
        }
    }
    return npos;
}

int cli_parse_ll(const char *what, const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "spotwatch: %s must be an integer between %lld and %lld, not '%s'\n", what,
                min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_check_id(const char *what, const char *id)
{
    if (keys_valid_id(id))
        return 0;
    char e[CLI_ESC_MAX];
    fprintf(stderr, "spotwatch: invalid %s id '%s' (1-%d characters of A-Z a-z 0-9 . _ : @ + = -)\n",
            what, cli_esc(id, e, sizeof e), ID_MAX);
    return -1;
}

int cli_secrets(const struct cli_secret *s, int n, char **out)
{
    char err[512], what[96];
    int i;

    for (i = 0; i < n; i++)
        out[i] = NULL;
    if (n == 2 && !s[0].arg->value && !s[1].arg->value && strcmp(s[0].file->value, "-") == 0 &&
        strcmp(s[1].file->value, "-") == 0) {
        snprintf(what, sizeof what, "--%s and --%s", s[0].file->name, s[1].file->name);
        if (secret_input_read("-", what, out, 2, err, sizeof err) == 0)
            return 0;
        fprintf(stderr, "spotwatch: %s\n", err);
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (s[i].arg->value != NULL) {
            snprintf(what, sizeof what, "--%s", s[i].arg->name);
            secret_input_warn_arg(what);
            if ((out[i] = strdup(s[i].arg->value)) == NULL) {
                snprintf(err, sizeof err, "out of memory");
                goto fail;
            }
            /* Gone from /proc/PID/cmdline from now on (it was readable
             * until here: hence the warning). */
            cli_wipe((char *)s[i].arg->value);
        } else {
            snprintf(what, sizeof what, "--%s", s[i].file->name);
            if (secret_input_read(s[i].file->value, what, &out[i], 1, err, sizeof err) != 0)
                goto fail;
        }
    }
    return 0;
fail:
    fprintf(stderr, "spotwatch: %s\n", err);
    for (i = 0; i < n; i++) {
        secret_free(out[i]);
        out[i] = NULL;
    }
    return -1;
}

int cli_print_json(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    int rc = s ? 0 : 1;
    if (s)
        printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
    return rc;
}

struct redis_sync *cli_connect(const struct sw_config *c)
{
    char err[512];
    struct redis_sync *r = redis_sync_connect(c, 5, err, sizeof err);
    if (r == NULL)
        fprintf(stderr, "spotwatch: %s\n", err);
    return r;
}

redisReply *cli_cmd(struct redis_sync *r, int argc, const char **argv)
{
    char err[512];
    redisReply *rep = redis_sync_cmd(r, argc, argv, err, sizeof err);
    if (rep == NULL)
        fprintf(stderr, "spotwatch: Redis: %s\n", err);
    return rep;
}

int cli_cmd_ok(struct redis_sync *r, int argc, const char **argv)
{
    redisReply *rep = cli_cmd(r, argc, argv);
    if (rep == NULL)
        return -1;
    freeReplyObject(rep);
    return 0;
}

redisReply *cli_eval(struct redis_sync *r, enum script_id id, int nkeys, int nargs, const char **argv)
{
    char err[512];
    redisReply *rep = redis_sync_eval(r, id, nkeys, nargs, argv, err, sizeof err);
    if (rep == NULL)
        fprintf(stderr, "spotwatch: Redis: %s\n", err);
    return rep;
}

/* user_app looks user up in the directory: 0 with its app in app, or -1
 * (reported). */
static int user_app(const struct sw_config *c, struct redis_sync *r, const char *user, char *app, size_t n)
{
    char users[KEY_MAX];
    keys_global(users, sizeof users, c->key_prefix, "users");
    const char *argv[] = {"HGET", users, user};
    redisReply *rep = cli_cmd(r, 3, argv);
    if (rep == NULL)
        return -1;
    int found = rep->type == REDIS_REPLY_STRING;
    if (found)
        snprintf(app, n, "%s", rep->str);
    freeReplyObject(rep);
    if (!found) {
        fprintf(stderr, "spotwatch: no such user '%s'\n", user);
        return -1;
    }
    return 0;
}

struct redis_sync *cli_connect_user(const struct sw_config *c, const char *user, char *app, size_t n)
{
    struct redis_sync *r = cli_connect(c);
    if (r && user_app(c, r, user, app, n) != 0) {
        redis_sync_free(r);
        r = NULL;
    }
    return r;
}

struct redis_sync *cli_connect_read(const struct sw_config *c, const char *cmd, const char *name, redisReply **rep)
{
    char key[KEY_MAX];
    struct redis_sync *r = cli_connect(c);
    if (r == NULL)
        return NULL;
    keys_global(key, sizeof key, c->key_prefix, name);
    const char *argv[] = {cmd, key};
    if ((*rep = cli_cmd(r, 2, argv)) == NULL) {
        redis_sync_free(r);
        return NULL;
    }
    return r;
}

int cli_load_keyring(const struct sw_config *c, struct crypto_keyring **kr)
{
    char err[256];
    if (keyring_file_load(c, kr, 1, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "spotwatch: %s\n", err);
    return -1;
}

int cli_list_end(struct cli_table *t, cJSON *arr, int json)
{
    if (json) {
        cli_table_free(t);
        return cli_print_json(arr);
    }
    cli_table_print(t, stdout);
    cJSON_Delete(arr);
    return 0;
}

long long cli_jitter_ms(const struct sw_config *c, long long interval_ms)
{
    long long span = (interval_ms > 0 ? interval_ms : c->poll_interval_ms) / 4;
    return span > 0 ? rand() % span : 0;
}

void cli_wipe(char *s)
{
    for (volatile char *p = s; p && *p; p++)
        *p = 0;
}

/* esc_next writes the terminal form of the character at s (n > 0 bytes
 * left) into out (8 bytes) and returns its length; *used gets how many
 * bytes of s it stands for. */
static size_t esc_next(const unsigned char *s, size_t n, char *out, size_t *used)
{
    size_t k = codec_utf8_len(s, n);

    *used = k ? k : 1;
    if (k == 0)
        return (size_t)snprintf(out, 8, "\\x%02x", s[0]);
    if (k == 1 && (s[0] == '\n' || s[0] == '\r' || s[0] == '\t')) {
        out[0] = '\\';
        out[1] = s[0] == '\n' ? 'n' : s[0] == '\r' ? 'r' : 't';
        return 2;
    }
    if (k == 1 && (s[0] < 0x20 || s[0] == 0x7f))
        return (size_t)snprintf(out, 8, "\\u%04x", s[0]);
    /* U+0080-U+009F (C2 80-C2 9F): C1 controls; U+009B is CSI to some terminals. */
    if (k == 2 && s[0] == 0xc2 && s[1] < 0xa0)
        return (size_t)snprintf(out, 8, "\\u%04x", s[1]);
    memcpy(out, s, k);
    return k;
}

const char *cli_esc(const char *s, char *buf, size_t n)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t len = strlen((const char *)p), o = 0, used;
    char e[8];

    for (size_t i = 0; i < len; i += used) {
        size_t k = esc_next(p + i, len - i, e, &used);
        if (o + k + sizeof "..." > n) {
            memcpy(buf + o, "...", sizeof "...");
            return buf;
        }
        memcpy(buf + o, e, k);
        o += k;
    }
    buf[o] = '\0';
    return buf;
}

void cli_fputs_esc(const char *s, FILE *f)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t len = strlen((const char *)p), used;
    char e[8];

    for (size_t i = 0; i < len; i += used)
        fwrite(e, 1, esc_next(p + i, len - i, e, &used), f);
}
