/* parse_bench: CPU per currently-playing answer, old vs new, in one run.
 *
 *   build/tests/parse_bench FILE...    (make parse-bench fetches the files
 *                                       from bin/spotify-sim and runs it)
 *
 * For each body file: the time of pb_parse + pb_state_decode of the stored
 * state + pb_state_encode + freeing (what the worker does with every 200
 * answer; the stored state is the body's own, as when nothing changed), with
 * the cJSON-based code this replaced (tests/fuzz/ref_playback.c) and with
 * the json_scan-based one, in alternating rounds so both see the same machine;
 * prints the best round of each in ns per body and the ratio old / new.
 * Prints figures only: nothing here passes or fails on time. Both must parse
 * the body the same (checked once before timing). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spotify/playback.h"
#include "../fuzz/ref_playback.h"

typedef int (*parse_fn)(const char *, size_t, struct pb_state *, char *, size_t);
typedef char *(*encode_fn)(const struct pb_state *);
typedef int (*decode_fn)(const char *, struct pb_state *);

struct impl {
    parse_fn parse;
    encode_fn encode;
    decode_fn decode;
};

static const struct impl old_impl = {ref_pb_parse, ref_pb_state_encode, ref_pb_state_decode};
static const struct impl new_impl = {pb_parse, pb_state_encode, pb_state_decode};

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile size_t sink; /* keeps the work from being optimised away */

/* round_ns: ns per body over iters rounds of parse, decode, encode. */
static double round_ns(const struct impl *im, const char *body, size_t len, const char *stored,
                       int iters)
{
    char err[256];
    double t0 = now_ns();

    for (int i = 0; i < iters; i++) {
        struct pb_state s, prev;
        char *enc;

        if (im->parse(body, len, &s, err, sizeof err) != 0) {
            fprintf(stderr, "parse_bench: parse failed: %s\n", err);
            exit(1);
        }
        im->decode(stored, &prev);
        enc = im->encode(&s);
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
    const char *only = getenv("ONLY");

    if (argc < 2) {
        fprintf(stderr, "usage: %s BODY_FILE...\n", argv[0]);
        return 2;
    }
    printf("pb_parse + pb_state_decode + pb_state_encode, best of %d rounds\n", rounds);
    printf("%-28s %7s %12s %12s %7s\n", "body", "bytes", "old ns/body", "new ns/body", "ratio");
    for (int a = 1; a < argc; a++) {
        size_t len;
        char *body = slurp(argv[a], &len);
        char *eo, *en;
        struct pb_state so, sn;
        char err[256];
        double best_old = 1e30, best_new = 1e30;
        int iters;
        const char *name = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];

        /* Same answer both ways, or the figures mean nothing. */
        if (ref_pb_parse(body, len, &so, err, sizeof err) != 0
            || pb_parse(body, len, &sn, err, sizeof err) != 0) {
            fprintf(stderr, "parse_bench: %s: %s\n", argv[a], err);
            return 1;
        }
        eo = ref_pb_state_encode(&so);
        en = pb_state_encode(&sn);
        if (eo == NULL || en == NULL || strcmp(eo, en) != 0) {
            fprintf(stderr, "parse_bench: %s: encodings differ:\n %s\n %s\n", argv[a],
                    eo ? eo : "NULL", en ? en : "NULL");
            return 1;
        }
        free(eo);
        pb_state_free(&so);
        pb_state_free(&sn);

        /* Rounds of ~20 ms each; warm up both first. */
        iters = (int)(20e6 / round_ns(&old_impl, body, len, en, 200)) + 1;
        round_ns(&new_impl, body, len, en, iters);
        for (int r = 0; r < rounds; r++) {
            /* ONLY=new (or old) times one side alone, for a profiler. */
            double o = only && strcmp(only, "old") != 0
                           ? 0 : round_ns(&old_impl, body, len, en, iters);
            double n = only && strcmp(only, "new") != 0
                           ? 0 : round_ns(&new_impl, body, len, en, iters);

            best_old = o < best_old ? o : best_old;
            best_new = n < best_new ? n : best_new;
        }
        printf("%-28s %7zu %12.0f %12.0f %6.2fx\n", name, len, best_old, best_new,
               best_old / best_new);
        free(en);
        free(body);
    }
    return 0;
}
