/* fuzz_config: libFuzzer target for src/base/config.c: config_load_file on a file
 * holding the input, and config_set on a name/value split of it. Built and
 * run by `make fuzz`.
 *
 * Besides memory safety it checks:
 *  - a refusal always says why (err is set) and is printable (it is echoed
 *    to the operator's terminal: no escape sequences from a hostile file);
 *  - a refused file changes nothing it did not already set (the caller
 *    exits anyway, but the defaults must stay intact for the lines before);
 *  - what config_write prints loads back to the same configuration (the
 *    `spotwatch config` output is a valid conf file), secrets aside. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char in_path[64], out_path[64];

static void printable_or_die(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            abort();
}

static int temp_paths(void)
{
    int fd;

    if (in_path[0] != '\0')
        return 0;
    snprintf(in_path, sizeof in_path, "/tmp/fuzz_config_in.XXXXXX");
    snprintf(out_path, sizeof out_path, "/tmp/fuzz_config_out.XXXXXX");
    if ((fd = mkstemp(in_path)) < 0)
        return -1;
    close(fd);
    if ((fd = mkstemp(out_path)) < 0)
        return -1;
    close(fd);
    return 0;
}

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");

    if (f == NULL)
        return -1;
    if (n > 0 && fwrite(p, 1, n, f) != n) {
        fclose(f);
        return -1;
    }
    return fclose(f);
}

/* round_trip: config_write c, load it into fresh defaults: equal, secrets aside. */
static void round_trip(const struct sw_config *c)
{
    struct sw_config a = *c, b;
    char err[512];
    FILE *f = fopen(out_path, "w");

    if (f == NULL)
        return;
    config_write(c, f);
    fclose(f);
    config_defaults(&b);
    if (config_load_file(&b, out_path, err, sizeof err) != 0)
        abort();    /* `spotwatch config` printed something it cannot read */
    /* every secret directive of the table, which config_write never prints
     * (a hand-kept list missed redis-sentinel-password once) */
    struct config_info ci;
    char words[256];

    for (size_t i = 0; config_directive_info(i, &ci, words, sizeof words) == 0; i++)
        if (ci.secret && (config_set(&a, ci.name, "", err, sizeof err) != 0
                          || config_set(&b, ci.name, "", err, sizeof err) != 0))
            abort();
    if (memcmp(&a, &b, sizeof a) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sw_config c, d;
    char err[512];

    if (temp_paths() != 0 || write_file(in_path, data, size) != 0)
        return 0;

    /* The file. */
    config_defaults(&c);
    err[0] = '\0';
    if (config_load_file(&c, in_path, err, sizeof err) == 0) {
        round_trip(&c);
        err[0] = '\0';
        if (config_check(&c, err, sizeof err) != 0 && err[0] == '\0')
            abort();
    } else if (err[0] == '\0') {
        abort();
    }
    /* The path is ours and printable; the rest of err echoes the input. */
    printable_or_die(err);

    /* config_set: the first NUL or newline splits name and value. */
    if (size > 0) {
        char *buf = malloc(size + 1), *value;

        if (buf == NULL)
            return 0;
        memcpy(buf, data, size);
        buf[size] = '\0';
        value = strpbrk(buf, "\n");
        if (value != NULL)
            *value++ = '\0';
        config_defaults(&d);
        err[0] = '\0';
        if (config_set(&d, buf, value, err, sizeof err) != 0) {
            if (err[0] == '\0')
                abort();
            printable_or_die(err);
            config_defaults(&c);
            if (memcmp(&c, &d, sizeof c) != 0)
                abort();    /* a refused value changed the configuration */
        }
        free(buf);
    }
    return 0;
}
