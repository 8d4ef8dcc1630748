/* reply_arena: hiredis reply trees built in one arena per reply.
 *
 * hiredis 0.14's reader makes every reply object with calloc, and every
 * string and element vector with its own malloc, then frees them one by
 * one: for the worker's claim and complete.lua replies that was most of the
 * ~11,000 instructions per poll spent reading Redis. These functions build
 * the same redisReply trees (same types, fields, NUL-terminated copies) from
 * one allocation per reply, plus one per 4 KiB more, and free them at once.
 *
 * The trees are ordinary redisReply to their readers. Only the reader that
 * built a tree may free it (through its fn->freeObject, as hiredis does
 * after each callback); freeReplyObject on it, or on any node below its
 * root, is a bug. */
#ifndef SPOTWATCH_REDIS_REPLY_ARENA_H
#define SPOTWATCH_REDIS_REPLY_ARENA_H

#include <hiredis/hiredis.h>

/* reply_arena_functions: the object functions to put in a redisReader's fn
 * (redis_async does so for each context it connects). Never NULL. */
redisReplyObjectFunctions *reply_arena_functions(void);

#endif
