/* test_cli_common: the CLI's option parsing and integer checks,
 * the command table (src/cli/commands.c), what the commands print
 * (src/cli/out.c), and the user_put.lua call laid out by
 * name (cli_user_put_init): every KEYS and ARGV position filled. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/cli/cli_int.h"
#include "cli/commands.h"

static void test_parse_opts(void **state)
{
    (void)state;
    struct cli_opt o[] = {{"app", NULL, 0}, {"json", NULL, 1}, {NULL, NULL, 0}};
    const char *pos[2];
    char *argv[] = {"u1", "--json", "--app", "a1", "u2"};
    assert_int_equal(cli_parse_opts(5, argv, o, pos, 2), 2);
    assert_string_equal(pos[0], "u1");
    assert_string_equal(pos[1], "u2");
    assert_string_equal(o[0].value, "a1");
    assert_string_equal(o[1].value, "1");

    struct cli_opt o2[] = {{"app", NULL, 0}, {NULL, NULL, 0}};
    char *missing[] = {"--app"}, *unknown[] = {"--wat", "1"}, *extra[] = {"a", "b"};
    assert_int_equal(cli_parse_opts(1, missing, o2, pos, 1), -1);
    assert_int_equal(cli_parse_opts(2, unknown, o2, pos, 1), -1);
    assert_int_equal(cli_parse_opts(2, extra, o2, pos, 1), -1);
    assert_int_equal(cli_parse_opts(2, unknown, NULL, pos, 1), -1);
}

static void test_parse_ll(void **state)
{
    (void)state;
    long long v = -7;
    assert_int_equal(cli_parse_ll("--n", "42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(cli_parse_ll("--n", "101", 0, 100, &v), -1);
    assert_int_equal(cli_parse_ll("--n", "-1", 0, 100, &v), -1);
    assert_int_equal(cli_parse_ll("--n", "1e3", 0, 10000, &v), -1);
    assert_int_equal(cli_parse_ll("--n", "", 0, 100, &v), -1);
    assert_int_equal(cli_parse_ll("--n", "99999999999999999999", 0, 100, &v), -1);
    assert_int_equal(v, 42);
}

/* The command table: lookup, and a line parsed against an entry. */
static void test_table_and_args(void **state)
{
    (void)state;
    const struct cli_command *k = cli_find("app", "add"), *ls = cli_find("user", "ls");
    assert_non_null(k);
    assert_non_null(ls);
    assert_null(cli_find("app", NULL));
    assert_null(cli_find("app", "bogus"));
    assert_non_null(cli_find("status", NULL));
    assert_true(cli_is_group("watch"));
    assert_false(cli_is_group("status"));
    assert_int_equal(cli_find_opt(k, "client-id", 9), 0);
    assert_int_equal(cli_find_opt(k, "client-idx", 10), -1);

    struct cli_args a;
    const char *pos[8];
    char *line[] = {"--status=active", "--json", "--app", "a1"};
    assert_int_equal(cli_args_parse(ls, 4, line, pos, &a), 0);
    assert_int_equal(a.npos, 0);
    assert_string_equal(a.o[0].value, "1");
    assert_string_equal(a.o[1].value, "a1");
    assert_string_equal(a.o[2].value, "active");
    char *stray[] = {"x"};
    assert_int_equal(cli_args_parse(ls, 1, stray, pos, &a), 2);
    char *none[] = {"--client-id", "c"};
    assert_int_equal(cli_args_parse(k, 2, none, pos, &a), 2);   /* APP missing */
    /* After "--", an option-looking word is a positional (an id "--json"). */
    char *dashed[] = {"--", "--json"};
    assert_int_equal(cli_args_parse(cli_find("user", "show"), 2, dashed, pos, &a), 0);
    assert_string_equal(a.pos[0], "--json");
    assert_null(a.o[0].value);
    /* Every entry runs something, and every group has subcommands. */
    for (const struct cli_command *c = cli_commands; c->name; c++) {
        assert_true((c->run == NULL) != (c->daemon == NULL));
        assert_non_null(c->summary);
    }
}

/* Times and numbers as the commands print them. */
static void test_output(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(cli_iso(1733170529123LL, buf, sizeof buf), "2024-12-02T20:15:29.123Z");
    assert_string_equal(cli_iso(0, buf, sizeof buf), "");
    assert_string_equal(cli_ago(1000000, 1012000, buf, sizeof buf), "12s ago");
    assert_string_equal(cli_ago(1000000 + 180000, 1000000, buf, sizeof buf), "in 3m");
    assert_string_equal(cli_ago(0, 5, buf, sizeof buf), "-");
    assert_string_equal(cli_budget(0, 30000, buf, sizeof buf), "unlimited");
    assert_string_equal(cli_budget(50, 30000, buf, sizeof buf), "50/30s");
    cJSON *o = cJSON_CreateObject();
    cli_json_field(o, "polls", "12");
    cli_json_field(o, "display_name", "1984");
    cli_json_field(o, "last_poll_at", "1733170529123");
    cli_json_field(o, "reason", "x");
    cli_json_field(o, "big", "12345678901234567890");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "polls")));
    assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "display_name")));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(o, "last_poll_at")));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "last_poll_at_iso")), "2024-12-02T20:15:29.123Z");
    assert_true(cJSON_IsString(cJSON_GetObjectItem(o, "big")));
    cJSON_Delete(o);
}

static void test_user_put_by_name(void **state)
{
    (void)state;
    struct sw_config c;
    struct cli_user_put p;
    config_defaults(&c);
    memset(&p, 0, sizeof p);
    cli_user_put_init(&p, &c, "u1", "a1", "v1.k.AT", "v1.k.RT", 3600, "scope", 1, 500, 25);
    for (int i = 0; i < USER_PUT_KEY_N + USER_PUT_ARG_N; i++)
        assert_non_null(p.argv[i]);
    const char **arg = p.argv + USER_PUT_KEY_N;
    assert_string_equal(p.argv[USER_PUT_KEY_USER], "sw:{a1}:user:u1");
    assert_string_equal(p.argv[USER_PUT_KEY_DUE], "sw:{a1}:due");
    assert_string_equal(p.argv[USER_PUT_KEY_LEASES], "sw:{a1}:leases");
    assert_string_equal(p.argv[USER_PUT_KEY_MEMBERS], "sw:{a1}:members");
    assert_string_equal(p.argv[USER_PUT_KEY_APP], "sw:{a1}:app");
    assert_string_equal(arg[USER_PUT_ARG_USER], "u1");
    assert_string_equal(arg[USER_PUT_ARG_APP], "a1");
    assert_string_equal(arg[USER_PUT_ARG_ACCESS_TOKEN], "v1.k.AT");
    assert_string_equal(arg[USER_PUT_ARG_REFRESH_TOKEN], "v1.k.RT");
    assert_string_equal(arg[USER_PUT_ARG_LIFETIME_MS], "3600000");
    assert_string_equal(arg[USER_PUT_ARG_SCOPE], "scope");
    assert_string_equal(arg[USER_PUT_ARG_WATCH], "1");
    assert_string_equal(arg[USER_PUT_ARG_INTERVAL_MS], "500");
    assert_string_equal(arg[USER_PUT_ARG_DUE_IN_MS], "25");
    cli_user_put_init(&p, &c, "u1", "a1", "a", "r", 0, "", 0, 0, 0);
    assert_string_equal(arg[USER_PUT_ARG_WATCH], "0");
    assert_string_equal(arg[USER_PUT_ARG_LIFETIME_MS], "0");
}

/* cli_esc: what the CLI prints of names and values read from Redis. */
static void test_esc(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"alice", "alice"},
        {"", ""},
        {"Jos\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x8e\xb5", "Jos\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x8e\xb5"},  /* UTF-8 kept */
        {"evil\x1b[2J\nuser ls: fake line", "evil\\u001b[2J\\nuser ls: fake line"},
        {"a\tb\rc", "a\\tb\\rc"},
        {"\x01\x7f", "\\u0001\\u007f"},
        {"csi\xc2\x9b" "31m", "csi\\u009b31m"},       /* C1 control U+009B */
        {"nbsp\xc2\xa0", "nbsp\xc2\xa0"},              /* U+00A0 is text */
        {"bad\xff\xc3", "bad\\xff\\xc3"},           /* not UTF-8 */
        {"back\\slash \"q\"", "back\\slash \"q\""},  /* printable: unchanged */
    };
    char buf[CLI_ESC_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(cli_esc(cases[i].in, buf, sizeof buf), cases[i].out);
    assert_string_equal(cli_esc(NULL, buf, sizeof buf), "");

    /* Cut with "..." to the buffer, never inside an escape or a character. */
    char small[16];
    assert_string_equal(cli_esc("0123456789abcdefghij", small, sizeof small), "0123456789ab...");
    assert_string_equal(cli_esc("0123456789\n\n", small, sizeof small), "0123456789\\n...");
    assert_string_equal(cli_esc("0123456789\xc3\xa9\xc3\xa9", small, sizeof small), "0123456789\xc3\xa9...");
    assert_string_equal(cli_esc("01234567890", small, sizeof small), "01234567890");

    /* The stream form is uncut, and an event's JSON passes unchanged. */
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    cli_fputs_esc("{\"name\":\"a\\nb \xc3\xa9\"}", f);
    cli_fputs_esc("|x\x1b\ny", f);
    fclose(f);
    assert_string_equal(out, "{\"name\":\"a\\nb \xc3\xa9\"}|x\\u001b\\ny");
    free(out);
}

/* cli_check_id: the one id checker (keys_valid_id), its message escaped. */
static void test_check_id(void **state)
{
    (void)state;
    assert_int_equal(cli_check_id("user", "alice@example.com"), 0);
    assert_int_equal(cli_check_id("user", "p?"), -1);
    assert_int_equal(cli_check_id("app", "a[b]"), -1);
    assert_int_equal(cli_check_id("app", "x\x1b[31m"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_opts),
        cmocka_unit_test(test_parse_ll),
        cmocka_unit_test(test_table_and_args),
        cmocka_unit_test(test_output),
        cmocka_unit_test(test_user_put_by_name),
        cmocka_unit_test(test_esc),
        cmocka_unit_test(test_check_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
