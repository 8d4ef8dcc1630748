/* key_schema.c: the Redis key schema (see include/redis/key_schema.h). */
#include <stdio.h>
#include <string.h>
#include "redis/key_schema.h"

int keys_valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > ID_MAX)
        return 0;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              strchr(ID_PUNCT, *p) != NULL))
            return 0;
    return 1;
}

static void app_key(char *out, const char *prefix, const char *app, const char *suffix)
{
    snprintf(out, KEY_MAX, "%s{%s}:%s", prefix, app, suffix);
}

void keys_app(struct app_keys *k, const char *prefix, const char *app)
{
    app_key(k->due, prefix, app, "due");
    app_key(k->leases, prefix, app, "leases");
    app_key(k->rl, prefix, app, "rl");
    app_key(k->calls, prefix, app, "calls");
    app_key(k->app, prefix, app, "app");
    app_key(k->stats, prefix, app, "stats");
    app_key(k->events, prefix, app, "events");
    app_key(k->confirm, prefix, app, "confirm");
    app_key(k->broken, prefix, app, "broken");
    app_key(k->members, prefix, app, "members");
    app_key(k->user_prefix, prefix, app, "user:");
}

/* keys_cat writes the k parts one after the other into out, truncated to
 * n - 1 bytes and NUL-terminated as snprintf would: the user and channel
 * keys are built for every job of a poll, where snprintf's parsing of its
 * format cost ~1,000 instructions a key. */
static void keys_cat(char *out, size_t n, const char *const *parts, int k)
{
    size_t used = 0;

    if (n == 0)
        return;
    for (int i = 0; i < k && used < n - 1; i++) {
        size_t len = strlen(parts[i]);

        if (len > n - 1 - used)
            len = n - 1 - used;
        memcpy(out + used, parts[i], len);
        used += len;
    }
    out[used] = '\0';
}

void keys_user(char *out, size_t n, const char *prefix, const char *app, const char *user)
{
    const char *parts[] = {prefix, "{", app, "}:user:", user};

    keys_cat(out, n, parts, 5);
}

void keys_channel(char *out, size_t n, const char *prefix, const char *user)
{
    const char *parts[] = {prefix, "playback:", user};

    keys_cat(out, n, parts, 3);
}

void keys_global(char *out, size_t n, const char *prefix, const char *name)
{
    snprintf(out, n, "%s%s", prefix, name);
}

void keys_developer_quota(char *out, size_t n, const char *prefix, const char *developer)
{
    snprintf(out, n, "%s{dev:%s}:quota", prefix, developer);
}
