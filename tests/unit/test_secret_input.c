/* test_secret_input: secrets from files, stdin and the environment
 * (src/base/secret_input.c): one or two a file, the file's limits, and the
 * Redis password resolved into the config once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/crypto.h"
#include "base/secret_input.h"

/* write_tmp writes n bytes of text to a fresh temp file named in path. */
static void write_tmp(const char *text, size_t n, char *path, size_t len)
{
    int fd;

    snprintf(path, len, "/tmp/sw_test_secret.XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    assert_int_equal(close(fd), 0);
}

/* read_text reads n secrets from a temp file holding text: 0 or -1. */
static int read_text(const char *text, char **out, int n, char *err, size_t errlen)
{
    char path[64];
    int rc;

    write_tmp(text, strlen(text), path, sizeof path);
    rc = secret_input_read(path, "--x-file", out, n, err, errlen);
    unlink(path);
    return rc;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("'%s' does not contain '%s'", hay, needle);
}

static void test_read_one(void **state)
{
    static const char *ok[] = { "s3cret", "s3cret\n", "s3cret\r\n", "s3cret\n\n\n", "s3cret\r\n\r\n" };
    char *out[1], err[256];
    (void)state;

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (read_text(ok[i], out, 1, err, sizeof err) != 0)
            fail_msg("case %zu: %s", i, err);
        assert_string_equal(out[0], "s3cret");
        secret_free(out[0]);
    }
    /* Spaces are part of a secret. */
    assert_int_equal(read_text(" a b \n", out, 1, err, sizeof err), 0);
    assert_string_equal(out[0], " a b ");
    secret_free(out[0]);
}

static void test_read_two(void **state)
{
    char *out[2], err[256];
    (void)state;

    assert_int_equal(read_text("at-1\nrt-2\n", out, 2, err, sizeof err), 0);
    assert_string_equal(out[0], "at-1");
    assert_string_equal(out[1], "rt-2");
    secret_free(out[0]);
    secret_free(out[1]);
    assert_int_equal(read_text("at-1\n", out, 2, err, sizeof err), -1);
    assert_contains(err, "too few lines");
    assert_null(out[0]);
    assert_null(out[1]);
    assert_int_equal(read_text("at-1\n\nrt-2\n", out, 2, err, sizeof err), -1);
    assert_contains(err, "line 3");
    assert_null(out[0]);
}

static void test_read_refused(void **state)
{
    static const struct {
        const char *text;
        size_t n;
        const char *want;
    } cases[] = {
        { "", 0, "empty" },
        { "\n\n", 2, "empty" },
        { "xa1\nxb2\n", 8, "line 2: expected 1 secret, one a line" },
        { "zq\0zr\n", 6, "contains a NUL byte" },
    };
    char *out[1], err[256], path[64];
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_tmp(cases[i].text, cases[i].n, path, sizeof path);
        assert_int_equal(secret_input_read(path, "--x-file", out, 1, err, sizeof err), -1);
        unlink(path);
        assert_null(out[0]);
        assert_contains(err, "--x-file");
        assert_contains(err, path);
        assert_contains(err, cases[i].want);
        /* The message never holds the secret. */
        assert_null(strstr(err, "xa1"));
        assert_null(strstr(err, "xb2"));
        assert_null(strstr(err, "zq"));
    }
    assert_int_equal(secret_input_read("/nonexistent/pw", "--x-file", out, 1, err, sizeof err), -1);
    assert_contains(err, "/nonexistent/pw: No such file or directory");
    assert_int_equal(secret_input_read("/dev/zero", "--x-file", out, 1, err, sizeof err), -1);
    assert_contains(err, "larger than 16384 bytes");
}

static void test_read_stdin(void **state)
{
    char *out[2], err[256], path[64];
    int saved = dup(STDIN_FILENO), fd;
    (void)state;

    write_tmp("at-1\nrt-2\n", 10, path, sizeof path);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0 && saved >= 0);
    assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
    close(fd);
    assert_int_equal(secret_input_read("-", "--x-file", out, 2, err, sizeof err), 0);
    assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    close(saved);
    unlink(path);
    assert_string_equal(out[0], "at-1");
    assert_string_equal(out[1], "rt-2");
    secret_free(out[0]);
    secret_free(out[1]);
}

static void test_config_password(void **state)
{
    struct sw_config c;
    char err[512], path[64], *argv[] = { "sw", "--redis-port", "1", "worker", NULL };
    (void)state;

    unsetenv(SECRET_INPUT_ENV_REDIS_PASSWORD);
    config_defaults(&c);
    assert_int_equal(secret_input_config(&c, 3, argv, err, sizeof err), 0);
    assert_string_equal(c.redis_password, "");

    /* The environment, when nothing else is set. */
    setenv(SECRET_INPUT_ENV_REDIS_PASSWORD, "from-env", 1);
    assert_int_equal(secret_input_config(&c, 3, argv, err, sizeof err), 0);
    assert_string_equal(c.redis_password, "from-env");
    /* A directive wins over the environment. */
    assert_int_equal(config_set(&c, "redis-password", "from-arg", err, sizeof err), 0);
    assert_int_equal(secret_input_config(&c, 3, argv, err, sizeof err), 0);
    assert_string_equal(c.redis_password, "from-arg");

    /* The file, which may not be set beside redis-password. */
    write_tmp("from-file\n", 10, path, sizeof path);
    assert_int_equal(config_set(&c, "redis-password-file", path, err, sizeof err), 0);
    assert_int_equal(secret_input_config(&c, 3, argv, err, sizeof err), -1);
    assert_contains(err, "redis-password and redis-password-file are both set");
    config_defaults(&c);
    assert_int_equal(config_set(&c, "redis-password-file", path, err, sizeof err), 0);
    assert_int_equal(secret_input_config(&c, 3, argv, err, sizeof err), 0);
    assert_string_equal(c.redis_password, "from-file");   /* the file beats the environment */
    unlink(path);

    /* Errors name the file, never the password. */
    config_defaults(&c);
    assert_int_equal(config_set(&c, "redis-password-file", path, err, sizeof err), 0);
    assert_int_equal(secret_input_config(&c, 3, argv, err, sizeof err), -1);
    assert_contains(err, "redis-password-file");
    assert_contains(err, "No such file");
    assert_string_equal(c.redis_password, "");
    assert_int_equal(config_set(&c, "redis-password-file", "-", err, sizeof err), 0);
    assert_int_equal(secret_input_config(&c, 3, argv, err, sizeof err), -1);
    assert_contains(err, "redis-password-file: name a file");

    /* Too long for the field. */
    {
        char big[CFG_STR + 2];
        memset(big, 'p', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        config_defaults(&c);
        setenv(SECRET_INPUT_ENV_REDIS_PASSWORD, big, 1);
        assert_int_equal(secret_input_config(&c, 3, argv, err, sizeof err), -1);
        assert_contains(err, SECRET_INPUT_ENV_REDIS_PASSWORD ": the Redis password is too long");
        assert_null(strstr(err, "ppp"));
    }
    unsetenv(SECRET_INPUT_ENV_REDIS_PASSWORD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_one),
        cmocka_unit_test(test_read_two),
        cmocka_unit_test(test_read_refused),
        cmocka_unit_test(test_read_stdin),
        cmocka_unit_test(test_config_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
