/* script_contract.c: replies read by name (see include/redis/script_contract.h). */
#include "redis/script_contract.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

static int read_int(const redisReply *e, long long *out)
{
    char *end;

    if (e->type == REDIS_REPLY_INTEGER) {
        *out = e->integer;
        return 0;
    }
    if (e->type != REDIS_REPLY_STRING || e->len == 0)
        return -1;
    /* A bulk string is NUL-terminated by hiredis; the whole of it must be the number. */
    errno = 0;
    *out = strtoll(e->str, &end, 10);
    return errno == 0 && end == e->str + e->len ? 0 : -1;
}

static int read_str(const redisReply *e, struct sc_str *out)
{
    if (e->type == REDIS_REPLY_NIL) {
        out->s = "";
        out->len = 0;
        return 0;
    }
    if (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS)
        return -1;
    out->s = e->str;
    out->len = e->len;
    return 0;
}

int sc_parse(const redisReply *r, size_t first, const struct sc_field *spec, int n, void *out)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < first + (size_t)n)
        return -1;
    for (int i = 0; i < n; i++) {
        const redisReply *e = r->element[first + (size_t)i];
        char *field = (char *)out + spec[i].offset;
        int rc = spec[i].kind == SC_INT ? read_int(e, (long long *)(void *)field)
                                        : read_str(e, (struct sc_str *)(void *)field);
        if (rc != 0)
            return -1;
    }
    return 0;
}

size_t sc_groups(const redisReply *r, int head_n, int group_n)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || group_n <= 0 || r->elements < (size_t)head_n)
        return 0;
    return (r->elements - (size_t)head_n) / (size_t)group_n;
}

const char *sc_user_default(const char *field, const char *last_outcome)
{
#define SC_DEFAULT_OF(f, v) \
    if (strcmp(field, #f) == 0 && (v) != NULL) \
        return (v);
    SC_USER_DEFAULTS(SC_DEFAULT_OF)
#undef SC_DEFAULT_OF
    if (strcmp(field, "last_status") != 0 || last_outcome == NULL)
        return NULL;
    if (strcmp(last_outcome, "ok") == 0)
        return "200";
    return strcmp(last_outcome, "nothing") == 0 ? "204" : NULL;
}

void sc_user_fill(struct cJSON *fields, const char *app,
                  void (*add)(struct cJSON *fields, const char *name, const char *value))
{
#define SC_NAME_OF(f, v) #f,
    static const char *const names[] = {SC_USER_DEFAULTS(SC_NAME_OF) NULL};
#undef SC_NAME_OF
    const char *outcome = cJSON_GetStringValue(cJSON_GetObjectItem(fields, "last_outcome"));

    if (!cJSON_HasObjectItem(fields, "app"))
        add(fields, "app", app);
    for (int i = 0; names[i]; i++) {
        const char *v = sc_user_default(names[i], outcome);
        if (v && !cJSON_HasObjectItem(fields, names[i]))
            add(fields, names[i], v);
    }
}
