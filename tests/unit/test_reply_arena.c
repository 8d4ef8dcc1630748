/* test_reply_arena: replies read with reply_arena's object functions are the
 * trees hiredis's own reader makes, node for node (types, integers, string
 * bytes and NUL, element counts), fed whole or a byte at a time, for scalars,
 * nested arrays with nils, empty arrays, and strings larger than a chunk;
 * reader errors free what was built (ASan/valgrind see the rest). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "redis/reply_arena.h"

static void same_tree(const redisReply *a, const redisReply *b)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->integer, b->integer);
    assert_int_equal(a->elements, b->elements);
    if (a->type == REDIS_REPLY_STRING || a->type == REDIS_REPLY_STATUS || a->type == REDIS_REPLY_ERROR) {
        assert_int_equal(a->len, b->len);
        assert_memory_equal(a->str, b->str, a->len + 1);   /* and the NUL */
    }
    for (size_t i = 0; i < a->elements; i++)
        same_tree(a->element[i], b->element[i]);
}

/* read_all reads the one reply in text, fed in pieces of step bytes. */
static void *read_all(redisReader *r, const char *text, size_t len, size_t step)
{
    void *reply = NULL;

    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;

        assert_int_equal(redisReaderFeed(r, text + off, n), REDIS_OK);
        assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
        if (reply != NULL)
            assert_true(off + n == len);   /* complete only at the end */
    }
    assert_non_null(reply);
    return reply;
}

static void check(const char *text, size_t len)
{
    size_t steps[] = {1, 7, len};

    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        redisReader *want = redisReaderCreate(), *got = redisReaderCreateWithFunctions(reply_arena_functions());
        void *w, *g;

        assert_non_null(want);
        assert_non_null(got);
        w = read_all(want, text, len, steps[i]);
        g = read_all(got, text, len, steps[i]);
        same_tree(w, g);
        freeReplyObject(w);
        got->fn->freeObject(g);
        redisReaderFree(want);
        redisReaderFree(got);
    }
}

#define CHECK(lit) check(lit, sizeof(lit) - 1)

static void test_scalars(void **state)
{
    (void)state;
    CHECK("+OK\r\n");
    CHECK("-NOSCRIPT No matching script\r\n");
    CHECK(":-42\r\n");
    CHECK("$-1\r\n");
    CHECK("$0\r\n\r\n");
    CHECK("$5\r\na\0b\r\n\r\n");
    CHECK("*-1\r\n");
    CHECK("*0\r\n");
}

static void test_nested(void **state)
{
    (void)state;
    /* the shape of a claim: counts, then per job an array of fields */
    CHECK("*4\r\n:2\r\n*3\r\n$4\r\nuser\r\n$-1\r\n:17\r\n*0\r\n*2\r\n*1\r\n+x\r\n*2\r\n$1\r\ny\r\n-ERR z\r\n");
}

static void test_big(void **state)
{
    enum { NJOB = 300, BIG = 10000 };
    size_t cap = NJOB * 64 + 2 * BIG + 64, n = 0;
    char *text = malloc(cap);
    (void)state;

    assert_non_null(text);
    /* many elements (past the first chunk), then strings longer than a chunk */
    n += (size_t)snprintf(text + n, cap - n, "*%d\r\n", NJOB + 2);
    for (int i = 0; i < NJOB; i++)
        n += (size_t)snprintf(text + n, cap - n, "*2\r\n$%d\r\njob%06d\r\n:%d\r\n", 9, i, i);
    for (int k = 0; k < 2; k++) {
        n += (size_t)snprintf(text + n, cap - n, "$%d\r\n", BIG);
        memset(text + n, 'a' + k, BIG);
        n += BIG;
        memcpy(text + n, "\r\n", 2);
        n += 2;
    }
    check(text, n);
    free(text);
}

/* A protocol error in the middle of a tree: the reader frees the partial
 * tree through our freeObject. */
static void test_error_frees(void **state)
{
    static const char bad[] = "*3\r\n$3\r\nabc\r\n*2\r\n:1\r\n!bad\r\n";
    redisReader *r = redisReaderCreateWithFunctions(reply_arena_functions());
    void *reply = NULL;
    (void)state;

    assert_non_null(r);
    assert_int_equal(redisReaderFeed(r, bad, sizeof bad - 1), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_ERR);
    assert_null(reply);
    redisReaderFree(r);
    /* a partial reply left in the reader is freed with it */
    r = redisReaderCreateWithFunctions(reply_arena_functions());
    assert_int_equal(redisReaderFeed(r, "*2\r\n$3\r\nabc\r\n", 13), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
    assert_null(reply);
    redisReaderFree(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_big),
        cmocka_unit_test(test_error_frees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
