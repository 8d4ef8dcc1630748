/* parse_bench: CPU per currently-playing answer, product parsers only.
 *
 *   build/tests/parse_bench FILE...    (make parse-bench fetches the files
 *                                       from bin/spotify-sim and runs it)
 *
 * For each body file: the time of pb_parse + pb_state_decode of the stored
 * state + pb_state_encode + freeing (what the worker does with every 200
 * answer; the stored state is the body's own, as when nothing changed), with
 * the json_scan-based code of src/spotify/. Prints the best of ROUNDS rounds
 * (15) in ns per body. The cJSON-based code this replaced is retired; the
 * two were last timed side by side for tests/bench/RESULTS.md (parse + state
 * read/write, 10.0 -> 3.1 us). Prints figures only: nothing here passes or
 * fails on time. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spotify/playback.h"

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile size_t sink; /* keeps the work from being optimised away */

/* round_ns: ns per body over iters rounds of parse, decode, encode. */
static double round_ns(const char *body, size_t len, const char *stored, int iters)
{
    char err[256];
    double t0 = now_ns();

    for (int i = 0; i < iters; i++) {
        struct pb_state s, prev;
        char *enc;

        if (pb_parse(body, len, &s, err, sizeof err) != 0) {
            fprintf(stderr, "parse_bench: parse failed: %s\n", err);
            exit(1);
        }
        pb_state_decode(stored, &prev);
        enc = pb_state_encode(&s);
        sink += (enc ? strlen(enc) : 0) + (size_t)prev.known;
        free(enc);
        pb_state_free(&prev);
        pb_state_free(&s);
    }
    return (now_ns() - t0) / iters;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0) {
        perror(path);
        exit(1);
    }
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        exit(1);
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    int rounds = getenv("ROUNDS") ? atoi(getenv("ROUNDS")) : 15;

    if (argc < 2) {
        fprintf(stderr, "usage: %s BODY_FILE...\n", argv[0]);
        return 2;
    }
    printf("product parsers (json_scan): pb_parse + pb_state_decode + pb_state_encode, "
           "best of %d rounds\n", rounds);
    printf("%-28s %7s %12s\n", "body", "bytes", "ns/body");
    for (int a = 1; a < argc; a++) {
        size_t len;
        char *body = slurp(argv[a], &len);
        char *en;
        struct pb_state sn;
        char err[256];
        double best = 1e30;
        int iters;
        const char *name = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];

        /* The body must parse, or the figures mean nothing. */
        if (pb_parse(body, len, &sn, err, sizeof err) != 0) {
            fprintf(stderr, "parse_bench: %s: %s\n", argv[a], err);
            return 1;
        }
        en = pb_state_encode(&sn);
        pb_state_free(&sn);
        if (en == NULL) {
            fprintf(stderr, "parse_bench: %s: out of memory\n", argv[a]);
            return 1;
        }

        /* Rounds of ~20 ms each, after a warm-up. */
        iters = (int)(20e6 / round_ns(body, len, en, 200)) + 1;
        round_ns(body, len, en, iters);
        for (int r = 0; r < rounds; r++) {
            double n = round_ns(body, len, en, iters);

            best = n < best ? n : best;
        }
        printf("%-28s %7zu %12.0f\n", name, len, best);
        free(en);
        free(body);
    }
    return 0;
}
