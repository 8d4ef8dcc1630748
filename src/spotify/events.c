/* events: the events spotwatch publishes (see include/spotify/events.h). The
 * text must stay byte for byte what consumers have always read: members are
 * added in the schema's order and printed by cJSON_PrintUnformatted; only a
 * value past the caps of events.h is cut (and its object marked). */
#include "spotify/events.h"

#include <stdlib.h>
#include <string.h>

/* add_str_or_null adds s, or JSON null when s is NULL. 0 or -1 (no memory). */
static int add_str_or_null(cJSON *obj, const char *name, const char *s)
{
    cJSON *v = s == NULL ? cJSON_CreateNull() : cJSON_CreateString(s);

    if (v == NULL || !cJSON_AddItemToObject(obj, name, v)) {
        cJSON_Delete(v);
        return -1;
    }
    return 0;
}

/* cut_len: the length of s cut to at most SW_EVENT_STR_MAX bytes, on a
 * UTF-8 boundary (never inside a multi-byte character). */
static size_t cut_len(const char *s, size_t len)
{
    size_t k = SW_EVENT_STR_MAX;

    if (len <= k)
        return len;
    while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
        k--;
    return k;
}

/* capped_copy returns a copy of v (NULL when out of memory) with each
 * string cut to SW_EVENT_STR_MAX bytes and each array to SW_EVENT_LIST_MAX
 * entries, and "truncated":true added to every object in which something
 * was cut (a member of its own, or inside a list or object it holds); *cut
 * is set then. Copied, not cJSON_Duplicate'd then cut: a 300 KB name is
 * never copied whole. */
static cJSON *capped_copy(const cJSON *v, int *cut)
{
    cJSON *c;
    int inner = 0, n = 0;

    if (cJSON_IsString(v)) {
        size_t len = strlen(v->valuestring), k = cut_len(v->valuestring, len);
        char *s;

        if (k == len)
            return cJSON_CreateString(v->valuestring);
        *cut = 1;
        if ((s = strndup(v->valuestring, k)) == NULL)
            return NULL;
        c = cJSON_CreateString(s);
        free(s);
        return c;
    }
    if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
        return cJSON_Duplicate(v, 0);
    c = cJSON_IsArray(v) ? cJSON_CreateArray() : cJSON_CreateObject();
    for (const cJSON *it = v->child; c != NULL && it != NULL; it = it->next) {
        cJSON *e;

        if (cJSON_IsArray(v) && n++ == SW_EVENT_LIST_MAX) {
            inner = 1;
            break;
        }
        e = capped_copy(it, &inner);
        if (e == NULL || !(cJSON_IsArray(v) ? cJSON_AddItemToArray(c, e)
                                             : cJSON_AddItemToObject(c, it->string, e))) {
            cJSON_Delete(e);
            cJSON_Delete(c);
            return NULL;
        }
    }
    if (c != NULL && inner) {
        *cut = 1;
        if (cJSON_IsObject(v) && cJSON_AddTrueToObject(c, SW_EVENT_TRUNCATED) == NULL) {
            cJSON_Delete(c);
            return NULL;
        }
    }
    return c;
}

/* add_copy adds a capped copy of v (capped_copy), or JSON null when v is
 * NULL. 0 or -1. */
static int add_copy(cJSON *obj, const char *name, const cJSON *v)
{
    int cut = 0;
    cJSON *c = v != NULL ? capped_copy(v, &cut) : cJSON_CreateNull();

    if (c == NULL || !cJSON_AddItemToObject(obj, name, c)) {
        cJSON_Delete(c);
        return -1;
    }
    return 0;
}

/* head starts an event with the members every event has: type, user, at.
 * NULL when out of memory. */
static cJSON *head(const char *type, const char *user, long long at_ms)
{
    cJSON *e = cJSON_CreateObject();

    if (e == NULL || add_str_or_null(e, "type", type) < 0 || add_str_or_null(e, "user", user) < 0
        || cJSON_AddNumberToObject(e, "at", (double)at_ms) == NULL) {
        cJSON_Delete(e);
        return NULL;
    }
    return e;
}

/* finish prints e (when ok) and frees it: the event of type. */
static struct sw_event finish(const char *type, cJSON *e, int ok)
{
    struct sw_event ev = {type, NULL};

    if (e != NULL && ok)
        ev.json = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    return ev;
}

struct sw_event sw_event_playback(const char *type, const char *user, long long at_ms,
                                  int is_playing, long long progress_ms, const cJSON *track,
                                  const cJSON *device, const char *prev_id, int shuffle,
                                  const char *repeat)
{
    cJSON *e = head(type, user, at_ms);
    int ok = e != NULL && cJSON_AddBoolToObject(e, "is_playing", is_playing) != NULL
             && cJSON_AddNumberToObject(e, "progress_ms", (double)progress_ms) != NULL
             && add_copy(e, "track", track) == 0 && add_copy(e, "device", device) == 0
             && add_str_or_null(e, "previous_track_id", prev_id) == 0;

    /* Only what /me/player said: a currently-playing event is as it was. */
    if (ok && shuffle >= 0)
        ok = cJSON_AddBoolToObject(e, "shuffle_state", shuffle) != NULL;
    if (ok && repeat != NULL)
        ok = add_str_or_null(e, "repeat_state", repeat) == 0;
    return finish(type, e, ok);
}

struct sw_event sw_event_status(const char *type, const char *user, long long at_ms,
                                const char *reason)
{
    cJSON *e = head(type, user, at_ms);

    return finish(type, e, e != NULL && add_str_or_null(e, "reason", reason) == 0);
}

struct sw_event sw_event_track_played(const char *user, long long at_ms, long long played_at_ms,
                                      const cJSON *track, int late)
{
    cJSON *e = head(SW_EVENT_TRACK_PLAYED, user, at_ms);

    return finish(SW_EVENT_TRACK_PLAYED, e,
                  e != NULL && cJSON_AddNumberToObject(e, "played_at", (double)played_at_ms) != NULL
                      && add_copy(e, "track", track) == 0
                      && (!late || cJSON_AddTrueToObject(e, "late") != NULL));
}

void sw_event_free(struct sw_event *e)
{
    free(e->json);
    e->json = NULL;
}
