/* scripts: maps script ids to the Lua sources embedded from lua/ (see the
 * Makefile's build/scripts_gen.c) and to their SHA1 digests for EVALSHA. */
#include "redis/scripts.h"

#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

/* Defined in build/scripts_gen.c, one per lua/<name>.lua. */
extern const char script_src_claim[];
extern const char script_src_complete[];
extern const char script_src_token_store[];
extern const char script_src_refresh_begin[];
extern const char script_src_oauth_slot[];
extern const char script_src_oauth_store[];
extern const char script_src_grant[];
extern const char script_src_user_put[];
extern const char script_src_allowance[];

static const struct {
    const char *name;
    const char *src;
} script_table[SCRIPT_COUNT] = {
    [SCRIPT_CLAIM] = {"claim", script_src_claim},
    [SCRIPT_COMPLETE] = {"complete", script_src_complete},
    [SCRIPT_TOKEN_STORE] = {"token_store", script_src_token_store},
    [SCRIPT_REFRESH_BEGIN] = {"refresh_begin", script_src_refresh_begin},
    [SCRIPT_OAUTH_SLOT] = {"oauth_slot", script_src_oauth_slot},
    [SCRIPT_OAUTH_STORE] = {"oauth_store", script_src_oauth_store},
    [SCRIPT_GRANT] = {"grant", script_src_grant},
    [SCRIPT_USER_PUT] = {"user_put", script_src_user_put},
    [SCRIPT_ALLOWANCE] = {"allowance", script_src_allowance},
};

/* script_sha_cache: the hex SHA1 of each source, filled on first use. The
 * values are a pure function of constant data, so a racing second fill writes
 * the same bytes; nothing here is mutable state in the behavioural sense. */
static char script_sha_cache[SCRIPT_COUNT][41];

static int script_valid(enum script_id id)
{
    return (int)id >= 0 && id < SCRIPT_COUNT;
}

const char *script_name(enum script_id id)
{
    return script_valid(id) ? script_table[id].name : NULL;
}

const char *script_source(enum script_id id)
{
    return script_valid(id) ? script_table[id].src : NULL;
}

const char *script_sha1(enum script_id id)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA_DIGEST_LENGTH];
    char *out;
    const char *src;

    if (!script_valid(id))
        return NULL;
    out = script_sha_cache[id];
    if (out[0] != '\0')
        return out;
    /* Redis names a script by the SHA1 of its exact bytes, lower-case hex. */
    src = script_table[id].src;
    SHA1((const unsigned char *)src, strlen(src), md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }
    out[40] = '\0';
    return out;
}
