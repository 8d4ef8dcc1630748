/* script_contract_lua.c: a build tool, not part of the product. Prints
 * build/lua/<script>/contract.lua, the Lua side of include/redis/script_contract.h:
 * for each script S, the tables S_KEY, S_ARG, S_GROUP_ARG (1-based positions,
 * .N the count) and the functions s_reply{...} and s_group_reply(out, {...})
 * that lay a reply out in the header's order. The Makefile splices it into a
 * script where the script says "--@include contract.lua". */
#include <stdio.h>
#include <string.h>

#include "redis/script_contract.h"

#define NAME(p, n) #n,
#define FIELD(p, n, k) {#n, SC_##k, 0},

static void positions(const char *table, const char *const *names)
{
    int n = 0;
    printf("local %s = {", table);
    for (; names[n]; n++)
        printf("%s=%d, ", names[n], n + 1);
    printf("N=%d}\n", n);
}

/* A missing value becomes 0 or "": Redis would end the array at a nil. */
/* reply_positions prints a table of the reply head's fields' positions, so
 * a script can fill a head it laid out before its groups were known. */
static void reply_positions(const char *table, const struct sc_field *f)
{
    int n = 0;
    printf("local %s = {", table);
    for (; f[n].name; n++)
        printf("%s=%d, ", f[n].name, n + 1);
    printf("N=%d}\n", n);
}

static void layout(const char *fn, int group, const struct sc_field *f)
{
    if (group)
        printf("local function %s(out, t)\n", fn);
    else
        printf("local function %s(t)\n    local out = {}\n", fn);
    for (; f->name; f++)
        printf("    out[#out + 1] = t.%s or %s\n", f->name, f->kind == SC_INT ? "0" : "''");
    printf("    return out\nend\n");
}

static void script(const char *upper, const char *lower, const char *const *keys, const char *const *args,
                   const char *const *gargs, const struct sc_field *reply, const struct sc_field *greply)
{
    char t[64];
    printf("\n-- %s.lua\n", lower);
    snprintf(t, sizeof t, "%s_KEY", upper);
    positions(t, keys);
    snprintf(t, sizeof t, "%s_ARG", upper);
    positions(t, args);
    snprintf(t, sizeof t, "%s_GROUP_ARG", upper);
    positions(t, gargs);
    snprintf(t, sizeof t, "%s_REPLY", upper);
    reply_positions(t, reply);
    snprintf(t, sizeof t, "%s_reply", lower);
    layout(t, 0, reply);
    snprintf(t, sizeof t, "%s_group_reply", lower);
    layout(t, 1, greply);
}

/* EMIT prints script s's section when it is the one asked for (only = NULL:
 * every script's). */
#define EMIT(S, s)                                                                         \
    if (only == NULL || strcmp(only, #s) == 0) {                                          \
        static const char *const keys[] = {S##_KEYS(NAME, ) NULL};                         \
        static const char *const args[] = {S##_ARGS(NAME, ) NULL};                         \
        static const char *const gargs[] = {S##_GROUP_ARGS(NAME, ) NULL};                  \
        static const struct sc_field reply[] = {S##_REPLY(FIELD, ){NULL, SC_INT, 0}};      \
        static const struct sc_field greply[] = {S##_GROUP_REPLY(FIELD, ){NULL, SC_INT, 0}}; \
        script(#S, #s, keys, args, gargs, reply, greply);                                  \
    }

/* usage: script_contract_lua [SCRIPT]: the section of SCRIPT (a lua/ name
 * without .lua) only, or of every script. Each script is given only its own
 * section: Lua builds the tables at every call, so the others would cost
 * Redis time on every run. */
int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    printf("-- contract.lua: generated from include/redis/script_contract.h by\n"
           "-- src/redis/script_contract_lua.c at build time: do not edit.\n");
    SC_SCRIPTS(EMIT)
    printf("\nlocal LIMIT_OK, LIMIT_BLOCKED, LIMIT_BUDGET, LIMIT_QUOTA, LIMIT_ALLOWANCE = %d, %d, %d, %d, %d\n",
           LIMIT_OK, LIMIT_BLOCKED, LIMIT_BUDGET, LIMIT_QUOTA, LIMIT_ALLOWANCE);
    printf("local REFRESH_BEGIN_STALE, REFRESH_BEGIN_WAIT, REFRESH_BEGIN_LOCKED, REFRESH_BEGIN_NEWER = %d, %d, %d, %d\n",
           REFRESH_BEGIN_STALE, REFRESH_BEGIN_WAIT, REFRESH_BEGIN_LOCKED, REFRESH_BEGIN_NEWER);
    printf("local TOKEN_STORE_GONE, TOKEN_STORE_LOST, TOKEN_STORE_STORED = %d, %d, %d\n", TOKEN_STORE_GONE,
           TOKEN_STORE_LOST, TOKEN_STORE_STORED);
    printf("local USER_SCOPE_BASE = '%s'\n", SC_USER_SCOPE_BASE);
    return 0;
}
