/* test_cli_common: the CLI's option parsing, integer checks and subcommand
 * dispatch (src/cli/cli_common.c), and the user_put.lua call laid out by
 * name (cli_user_put_init): every KEYS and ARGV position filled. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../src/cli/cli_int.h"

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

static int ran_argc = -1;
static int sub_a(const struct sw_config *c, int argc, char **argv)
{
    (void)c;
    (void)argv;
    ran_argc = argc;
    return 7;
}

static void test_dispatch(void **state)
{
    (void)state;
    static const struct cli_sub subs[] = {{"a", sub_a}, {NULL, NULL}};
    struct sw_config c;
    char *ok[] = {"cmd", "a", "x", "y"}, *bad[] = {"cmd", "b"}, *none[] = {"cmd"};
    config_defaults(&c);
    assert_int_equal(cli_dispatch(&c, 4, ok, subs, "usage\n"), 7);
    assert_int_equal(ran_argc, 2);
    assert_int_equal(cli_dispatch(&c, 2, bad, subs, "usage\n"), 2);
    assert_int_equal(cli_dispatch(&c, 1, none, subs, "usage\n"), 2);
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
    assert_string_equal(p.argv[USER_PUT_KEY_USERS], "sw:users");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_opts),
        cmocka_unit_test(test_parse_ll),
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_user_put_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
