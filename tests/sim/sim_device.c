/* sim_device.c: see sim_device.h. */
#include "sim_device.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sim_devices_init(sim_devices *ds)
{
    memset(ds, 0, sizeof *ds);
    ds->active = -1;
}

static void dev_free(sim_device *d)
{
    free(d->id);
    free(d->name);
    free(d->type);
    memset(d, 0, sizeof *d);
}

void sim_devices_free(sim_devices *ds)
{
    for (int i = 0; i < ds->n; i++)
        dev_free(&ds->d[i]);
    sim_devices_init(ds);
}

int sim_devices_find(const sim_devices *ds, const char *id)
{
    for (int i = 0; id && i < ds->n; i++)
        if (!strcmp(ds->d[i].id, id))
            return i;
    return -1;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Replaces *dst with v when v is set (or with dflt when *dst is unset). */
static void set_or_default(char **dst, const char *v, const char *dflt)
{
    if (v) {
        free(*dst);
        *dst = sim_xstrdup(v);
    } else if (!*dst) {
        *dst = sim_xstrdup(dflt);
    }
}

/* Adds or updates a device from obj; returns its index. */
static int upsert(sim_devices *ds, const cJSON *obj)
{
    const char *id = jstr(obj, "id") ? jstr(obj, "id") : "sim-device-1";
    int i = sim_devices_find(ds, id);
    if (i < 0) {
        if (ds->n == SIM_DEVICES_MAX) {
            /* make room: drop the oldest device that is not active */
            int drop = ds->active == 0 ? 1 : 0;
            dev_free(&ds->d[drop]);
            memmove(&ds->d[drop], &ds->d[drop + 1],
                    (size_t)(ds->n - drop - 1) * sizeof ds->d[0]);
            memset(&ds->d[ds->n - 1], 0, sizeof ds->d[0]);
            ds->n--;
            if (ds->active > drop)
                ds->active--;
        }
        i = ds->n++;
        ds->d[i].volume = 50;
        ds->d[i].id = sim_xstrdup(id);
    }
    sim_device *d = &ds->d[i];
    set_or_default(&d->name, jstr(obj, "name"), "Simulated device");
    set_or_default(&d->type, jstr(obj, "type"), "Computer");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "volume_percent");
    if (cJSON_IsNumber(v))
        d->volume = v->valueint < 0 ? 0 : v->valueint > 100 ? 100 : v->valueint;
    return i;
}

int sim_devices_activate(sim_devices *ds, const cJSON *obj)
{
    if (!obj || cJSON_IsNull(obj)) {
        ds->active = -1;
        return 0;
    }
    if (!cJSON_IsObject(obj))
        return -1;
    ds->active = upsert(ds, obj);
    return 0;
}

int sim_devices_set_list(sim_devices *ds, const cJSON *arr, char *err, size_t errlen)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > SIM_DEVICES_MAX) {
        snprintf(err, errlen, "devices must be an array of at most %d device objects",
                 SIM_DEVICES_MAX);
        return -1;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (!cJSON_IsObject(e)) {
            snprintf(err, errlen, "devices must be an array of device objects");
            return -1;
        }
    }
    char *keep = ds->active >= 0 ? sim_xstrdup(ds->d[ds->active].id) : NULL;
    sim_devices_free(ds);
    cJSON_ArrayForEach(e, arr) upsert(ds, e);
    ds->active = sim_devices_find(ds, keep);
    if (ds->active < 0 && ds->n > 0)
        ds->active = 0;
    free(keep);
    return 0;
}

void sim_devices_render(const sim_devices *ds, int i, int private_session, sim_buf *out)
{
    const sim_device *d = &ds->d[i];
    int active = i == ds->active;
    sim_buf_puts(out, "{\"id\":");
    sim_buf_json_str(out, d->id);
    sim_buf_printf(out, ",\"is_active\":%s,\"is_private_session\":%s,\"is_restricted\":false,"
                        "\"name\":",
                   active ? "true" : "false", active && private_session ? "true" : "false");
    sim_buf_json_str(out, d->name);
    sim_buf_puts(out, ",\"type\":");
    sim_buf_json_str(out, d->type);
    sim_buf_printf(out, ",\"volume_percent\":%d,\"supports_volume\":true}", d->volume);
}

void sim_devices_render_list(const sim_devices *ds, int private_session, sim_buf *out)
{
    sim_buf_puts(out, "{\"devices\":[");
    for (int i = 0; i < ds->n; i++) {
        if (i)
            sim_buf_puts(out, ",");
        sim_devices_render(ds, i, private_session, out);
    }
    sim_buf_puts(out, "]}");
}

cJSON *sim_devices_to_json(const sim_devices *ds)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < ds->n; i++) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "id", ds->d[i].id);
        cJSON_AddStringToObject(d, "name", ds->d[i].name);
        cJSON_AddStringToObject(d, "type", ds->d[i].type);
        cJSON_AddNumberToObject(d, "volume_percent", ds->d[i].volume);
        cJSON_AddBoolToObject(d, "is_active", i == ds->active);
        cJSON_AddItemToArray(arr, d);
    }
    return arr;
}
