/* reply_arena: one arena per hiredis reply (include/redis/reply_arena.h). */
#include "redis/reply_arena.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The root's first chunk holds this much besides the root; later chunks
 * at least REPLY_ARENA_CHUNK. A claim of a few jobs fits in the first. */
#define REPLY_ARENA_FIRST 2048
#define REPLY_ARENA_CHUNK 4096
#define REPLY_ARENA_ALIGN 8

/* reply_chunk: more room, chained from the arena (newest first). */
struct reply_chunk {
    struct reply_chunk *next;
};

/* reply_arena: allocated with the root; the root's address gives it back.
 * Children find their root through the read tasks' parents. */
struct reply_arena {
    struct reply_chunk *more;
    char *p, *end;          /* free room in the newest chunk */
    redisReply root;
};

static struct reply_arena *arena_of(const redisReply *root)
{
    return (struct reply_arena *)(void *)((char *)root - offsetof(struct reply_arena, root));
}

/* arena_alloc returns n bytes (aligned) from a, or NULL out of memory. */
static void *arena_alloc(struct reply_arena *a, size_t n)
{
    char *p;

    n = (n + REPLY_ARENA_ALIGN - 1) & ~(size_t)(REPLY_ARENA_ALIGN - 1);
    if ((size_t)(a->end - a->p) < n) {
        size_t room = n > REPLY_ARENA_CHUNK ? n : REPLY_ARENA_CHUNK;
        struct reply_chunk *c = malloc(sizeof(struct reply_chunk) + REPLY_ARENA_ALIGN + room);

        if (c == NULL)
            return NULL;
        c->next = a->more;
        a->more = c;
        a->p = (char *)(c + 1);
        a->p += (REPLY_ARENA_ALIGN - (size_t)(uintptr_t)a->p % REPLY_ARENA_ALIGN) % REPLY_ARENA_ALIGN;
        a->end = a->p + room;
    }
    p = a->p;
    a->p += n;
    return p;
}

/* new_object makes the task's object: the root with its arena, or a child
 * in its root's arena, hooked into its parent as hiredis does; *arena is
 * the arena. */
static redisReply *new_object(const redisReadTask *task, int type, struct reply_arena **arena)
{
    struct reply_arena *a;
    redisReply *r;

    if (task->parent == NULL) {
        a = malloc(sizeof *a + REPLY_ARENA_FIRST);
        if (a == NULL)
            return NULL;
        a->more = NULL;
        a->p = (char *)(a + 1);
        a->end = a->p + REPLY_ARENA_FIRST;
        r = &a->root;
    } else {
        const redisReadTask *t = task->parent;
        redisReply *parent = task->parent->obj;

        while (t->parent != NULL)
            t = t->parent;
        a = arena_of(t->obj);
        r = arena_alloc(a, sizeof *r);
        if (r == NULL)
            return NULL;
        parent->element[task->idx] = r;
    }
    memset(r, 0, sizeof *r);
    r->type = type;
    *arena = a;
    return r;
}

static void free_root(void *reply);

/* failed: out of memory after r was made. A child is freed with its root by
 * the reader; a root the reader never saw is freed here. */
static void *failed(const redisReadTask *task, redisReply *r)
{
    if (task->parent == NULL)
        free_root(r);
    return NULL;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    struct reply_arena *a;
    redisReply *r = new_object(task, task->type, &a);

    if (r == NULL)
        return NULL;
    r->str = arena_alloc(a, len + 1);
    if (r->str == NULL)
        return failed(task, r);
    memcpy(r->str, str, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

static void *create_array(const redisReadTask *task, int elements)
{
    struct reply_arena *a;
    redisReply *r = new_object(task, REDIS_REPLY_ARRAY, &a);

    if (r == NULL)
        return NULL;
    if (elements > 0) {
        r->element = arena_alloc(a, (size_t)elements * sizeof *r->element);
        if (r->element == NULL)
            return failed(task, r);
        memset(r->element, 0, (size_t)elements * sizeof *r->element);
        r->elements = (size_t)elements;
    }
    return r;
}

static void *create_integer(const redisReadTask *task, long long value)
{
    struct reply_arena *a;
    redisReply *r = new_object(task, REDIS_REPLY_INTEGER, &a);

    if (r != NULL)
        r->integer = value;
    return r;
}

static void *create_nil(const redisReadTask *task)
{
    struct reply_arena *a;

    return new_object(task, REDIS_REPLY_NIL, &a);
}

/* free_root frees a whole tree; hiredis calls it on roots only. */
static void free_root(void *reply)
{
    struct reply_arena *a;

    if (reply == NULL)
        return;
    a = arena_of(reply);
    while (a->more != NULL) {
        struct reply_chunk *c = a->more;

        a->more = c->next;
        free(c);
    }
    free(a);
}

redisReplyObjectFunctions *reply_arena_functions(void)
{
    /* not const only because redisReader's fn is not; never written */
    static redisReplyObjectFunctions fns = {create_string, create_array, create_integer, create_nil, free_root};

    return &fns;
}
