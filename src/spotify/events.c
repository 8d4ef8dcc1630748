/* events: the events spotwatch publishes (see include/spotify/events.h). The
 * text must stay byte for byte what consumers have always read: members are
 * added in the schema's order and printed by cJSON_PrintUnformatted. */
#include "spotify/events.h"

#include <stdlib.h>

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

/* add_copy adds a deep copy of v, or JSON null when v is NULL. 0 or -1. */
static int add_copy(cJSON *obj, const char *name, const cJSON *v)
{
    cJSON *c = v != NULL ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();

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
                                  const cJSON *device, const char *prev_id)
{
    cJSON *e = head(type, user, at_ms);

    return finish(type, e,
                  e != NULL && cJSON_AddBoolToObject(e, "is_playing", is_playing) != NULL
                      && cJSON_AddNumberToObject(e, "progress_ms", (double)progress_ms) != NULL
                      && add_copy(e, "track", track) == 0 && add_copy(e, "device", device) == 0
                      && add_str_or_null(e, "previous_track_id", prev_id) == 0);
}

struct sw_event sw_event_status(const char *type, const char *user, long long at_ms,
                                const char *reason)
{
    cJSON *e = head(type, user, at_ms);

    return finish(type, e, e != NULL && add_str_or_null(e, "reason", reason) == 0);
}

struct sw_event sw_event_track_played(const char *user, long long at_ms, long long played_at_ms,
                                      const cJSON *track)
{
    cJSON *e = head(SW_EVENT_TRACK_PLAYED, user, at_ms);

    return finish(SW_EVENT_TRACK_PLAYED, e,
                  e != NULL && cJSON_AddNumberToObject(e, "played_at", (double)played_at_ms) != NULL
                      && add_copy(e, "track", track) == 0);
}

void sw_event_free(struct sw_event *e)
{
    free(e->json);
    e->json = NULL;
}
