/* sim_playback.c: see sim_playback.h. */
#include "sim_playback.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPEN_URL "https://open.spotify.com/"
#define API_URL "https://api.spotify.com/v1/"

/* ---- items --------------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Adds the common id/href/uri/external_urls members for a kind ("track", ...).
 * A NULL id (local files) gives null id and href and empty external_urls. */
static void add_ids(cJSON *o, const char *kind, const char *id, const char *uri_override)
{
    char buf[512];
    cJSON *ext = cJSON_AddObjectToObject(o, "external_urls");
    if (id) {
        snprintf(buf, sizeof buf, OPEN_URL "%s/%s", kind, id);
        cJSON_AddStringToObject(ext, "spotify", buf);
        snprintf(buf, sizeof buf, API_URL "%ss/%s", kind, id);
        cJSON_AddStringToObject(o, "href", buf);
        cJSON_AddStringToObject(o, "id", id);
    } else {
        cJSON_AddNullToObject(o, "href");
        cJSON_AddNullToObject(o, "id");
    }
    if (uri_override) {
        cJSON_AddStringToObject(o, "uri", uri_override);
    } else if (id) {
        snprintf(buf, sizeof buf, "spotify:%s:%s", kind, id);
        cJSON_AddStringToObject(o, "uri", buf);
    } else {
        cJSON_AddNullToObject(o, "uri");
    }
}

/* Reads a {"id","name"} object or a plain name string. */
static void name_and_id(const cJSON *v, const char *fallback, int local, char **name, char *id,
                        int *has_id)
{
    const char *nm = fallback, *given = NULL;
    if (cJSON_IsString(v))
        nm = v->valuestring;
    else if (cJSON_IsObject(v)) {
        if (jstr(v, "name"))
            nm = jstr(v, "name");
        given = jstr(v, "id");
    }
    *name = sim_xstrdup(nm);
    *has_id = !local;
    if (given)
        snprintf(id, 64, "%s", given);
    else
        sim_id_from_name(nm, id);
}

static cJSON *artist_obj(const cJSON *v, int local)
{
    char id[64], *name;
    int has_id;
    name_and_id(v, "Unknown Artist", local, &name, id, &has_id);
    cJSON *a = cJSON_CreateObject();
    add_ids(a, "artist", has_id ? id : NULL, NULL);
    cJSON_AddStringToObject(a, "name", name);
    cJSON_AddStringToObject(a, "type", "artist");
    free(name);
    return a;
}

static cJSON *artists_arr(const cJSON *src, int local)
{
    cJSON *arr = cJSON_CreateArray();
    if (cJSON_IsArray(src)) {
        const cJSON *v;
        cJSON_ArrayForEach(v, src) cJSON_AddItemToArray(arr, artist_obj(v, local));
    } else if (src) {
        cJSON_AddItemToArray(arr, artist_obj(src, local));
    }
    if (cJSON_GetArraySize(arr) == 0)
        cJSON_AddItemToArray(arr, artist_obj(NULL, local));
    return arr;
}

static cJSON *images_arr(const char *id)
{
    cJSON *imgs = cJSON_CreateArray();
    if (!id)
        return imgs;
    static const int sizes[] = {640, 300, 64};
    for (int i = 0; i < 3; i++) {
        char url[256];
        snprintf(url, sizeof url, "https://i.scdn.co/image/%s%d", id, sizes[i]);
        cJSON *im = cJSON_CreateObject();
        cJSON_AddStringToObject(im, "url", url);
        cJSON_AddNumberToObject(im, "height", sizes[i]);
        cJSON_AddNumberToObject(im, "width", sizes[i]);
        cJSON_AddItemToArray(imgs, im);
    }
    return imgs;
}

static cJSON *album_obj(const cJSON *src, const cJSON *artists_src, int local)
{
    char id[64], *name;
    int has_id;
    name_and_id(src, "Unknown Album", local, &name, id, &has_id);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "album_type", "album");
    cJSON_AddItemToObject(a, "artists", artists_arr(artists_src, local));
    cJSON_AddItemToObject(a, "available_markets", cJSON_CreateArray());
    add_ids(a, "album", has_id ? id : NULL, NULL);
    cJSON_AddItemToObject(a, "images", images_arr(has_id ? id : NULL));
    cJSON_AddStringToObject(a, "name", name);
    const char *rd = cJSON_IsObject(src) ? jstr(src, "release_date") : NULL;
    cJSON_AddStringToObject(a, "release_date", rd ? rd : "2020-01-01");
    cJSON_AddStringToObject(a, "release_date_precision", "day");
    cJSON_AddNumberToObject(a, "total_tracks", 10);
    cJSON_AddStringToObject(a, "type", "album");
    free(name);
    return a;
}

/* Renders a TrackObject twice: *full as extended-mode apps get it, *dev in
 * the development-mode shape of February 2026 (no popularity,
 * available_markets or linked_from on the track, no available_markets on
 * its album). */
static void render_track(const cJSON *j, int local, int64_t dur, char **full, char **dev)
{
    const char *name = jstr(j, "name") ? jstr(j, "name") : "Untitled";
    const char *given_id = jstr(j, "id");
    char id[64];
    if (given_id)
        snprintf(id, sizeof id, "%s", given_id);
    else
        sim_id_from_name(name, id);
    const cJSON *artists = cJSON_GetObjectItemCaseSensitive(j, "artists");
    const cJSON *album = cJSON_GetObjectItemCaseSensitive(j, "album");

    cJSON *t = cJSON_CreateObject();
    cJSON_AddItemToObject(t, "album", album_obj(album, artists, local));
    cJSON_AddItemToObject(t, "artists", artists_arr(artists, local));
    cJSON_AddItemToObject(t, "available_markets", cJSON_CreateArray());
    cJSON_AddNumberToObject(t, "disc_number", 1);
    cJSON_AddNumberToObject(t, "duration_ms", (double)dur);
    cJSON_AddBoolToObject(t, "explicit",
                          cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "explicit")));
    cJSON *xids = cJSON_AddObjectToObject(t, "external_ids");
    char uri[512];
    const char *uri_override = jstr(j, "uri");
    if (local) {
        /* spotify:local:artist:album:title:seconds, '+' for spaces */
        const cJSON *a0 = cJSON_IsArray(artists) ? cJSON_GetArrayItem(artists, 0) : artists;
        const char *an = cJSON_IsString(a0) ? a0->valuestring
                         : (cJSON_IsObject(a0) && jstr(a0, "name")) ? jstr(a0, "name") : "";
        const char *al = cJSON_IsString(album) ? album->valuestring
                         : (cJSON_IsObject(album) && jstr(album, "name")) ? jstr(album, "name") : "";
        snprintf(uri, sizeof uri, "spotify:local:%s:%s:%s:%lld", an, al, name,
                 (long long)(dur / 1000));
        for (char *p = uri; *p; p++)
            if (*p == ' ')
                *p = '+';
        if (!uri_override)
            uri_override = uri;
    } else {
        char isrc[16];
        snprintf(isrc, sizeof isrc, "SIM%.9s", id);
        cJSON_AddStringToObject(xids, "isrc", isrc);
    }
    add_ids(t, "track", local ? NULL : id, uri_override);
    cJSON_AddBoolToObject(t, "is_local", local);
    const char *linked = jstr(j, "linked_from");
    if (linked && !local) {
        /* track relinking: the track asked for, replaced by this one */
        cJSON *lf = cJSON_CreateObject();
        add_ids(lf, "track", linked, NULL);
        cJSON_AddStringToObject(lf, "type", "track");
        cJSON_AddItemToObject(t, "linked_from", lf);
    }
    cJSON_AddStringToObject(t, "name", name);
    cJSON_AddNumberToObject(t, "popularity", local ? 0 : 50);
    cJSON_AddNullToObject(t, "preview_url");
    cJSON_AddNumberToObject(t, "track_number", 1);
    cJSON_AddStringToObject(t, "type", "track");
    *full = cJSON_PrintUnformatted(t);
    cJSON_DeleteItemFromObjectCaseSensitive(t, "popularity");
    cJSON_DeleteItemFromObjectCaseSensitive(t, "available_markets");
    cJSON_DeleteItemFromObjectCaseSensitive(t, "linked_from");
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "album"),
                                            "available_markets");
    *dev = cJSON_PrintUnformatted(t);
    cJSON_Delete(t);
}

static char *render_episode(const cJSON *j, int64_t dur)
{
    const char *name = jstr(j, "name") ? jstr(j, "name") : "Untitled episode";
    char id[64];
    if (jstr(j, "id"))
        snprintf(id, sizeof id, "%s", jstr(j, "id"));
    else
        sim_id_from_name(name, id);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNullToObject(e, "audio_preview_url");
    cJSON_AddStringToObject(e, "description", "A simulated episode.");
    cJSON_AddStringToObject(e, "html_description", "<p>A simulated episode.</p>");
    cJSON_AddNumberToObject(e, "duration_ms", (double)dur);
    cJSON_AddBoolToObject(e, "explicit", 0);
    add_ids(e, "episode", id, jstr(j, "uri"));
    cJSON_AddItemToObject(e, "images", images_arr(id));
    cJSON_AddBoolToObject(e, "is_externally_hosted", 0);
    cJSON_AddBoolToObject(e, "is_playable", 1);
    cJSON_AddStringToObject(e, "language", "en");
    cJSON *langs = cJSON_AddArrayToObject(e, "languages");
    cJSON_AddItemToArray(langs, cJSON_CreateString("en"));
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "release_date", "2024-01-01");
    cJSON_AddStringToObject(e, "release_date_precision", "day");
    cJSON *rp = cJSON_AddObjectToObject(e, "resume_point");
    cJSON_AddBoolToObject(rp, "fully_played", 0);
    cJSON_AddNumberToObject(rp, "resume_position_ms", 0);
    cJSON_AddStringToObject(e, "type", "episode");

    char sid[64], *sname;
    int has_id;
    name_and_id(cJSON_GetObjectItemCaseSensitive(j, "show"), "Simulated Show", 0, &sname, sid,
                &has_id);
    cJSON *sh = cJSON_AddObjectToObject(e, "show");
    cJSON_AddItemToObject(sh, "available_markets", cJSON_CreateArray());
    cJSON_AddItemToObject(sh, "copyrights", cJSON_CreateArray());
    cJSON_AddStringToObject(sh, "description", "A simulated show.");
    cJSON_AddBoolToObject(sh, "explicit", 0);
    add_ids(sh, "show", sid, NULL);
    cJSON_AddStringToObject(sh, "html_description", "<p>A simulated show.</p>");
    cJSON_AddItemToObject(sh, "images", images_arr(sid));
    cJSON_AddBoolToObject(sh, "is_externally_hosted", 0);
    cJSON *sl = cJSON_AddArrayToObject(sh, "languages");
    cJSON_AddItemToArray(sl, cJSON_CreateString("en"));
    cJSON_AddStringToObject(sh, "media_type", "audio");
    cJSON_AddStringToObject(sh, "name", sname);
    cJSON_AddStringToObject(sh, "publisher", "Simulated Publisher");
    cJSON_AddNumberToObject(sh, "total_episodes", 1);
    cJSON_AddStringToObject(sh, "type", "show");
    free(sname);
    char *s = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    return s;
}

int sim_item_from_json(sim_item *it, const cJSON *j, char *err, size_t errlen)
{
    memset(it, 0, sizeof *it);
    if (!cJSON_IsObject(j)) {
        snprintf(err, errlen, "queue entries must be objects");
        return -1;
    }
    const char *type = jstr(j, "type");
    if (!type || !strcmp(type, "track"))
        it->type = SIM_ITEM_TRACK;
    else if (!strcmp(type, "episode"))
        it->type = SIM_ITEM_EPISODE;
    else if (!strcmp(type, "ad"))
        it->type = SIM_ITEM_AD;
    else {
        snprintf(err, errlen, "type must be track, episode or ad");
        return -1;
    }
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "duration_ms");
    it->duration_ms = cJSON_IsNumber(d) ? (int64_t)d->valuedouble : 180000;
    if (it->duration_ms < 1000)
        it->duration_ms = 1000; /* keeps the queue walk finite */
    it->is_local = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "is_local"));
    if (it->type == SIM_ITEM_TRACK)
        render_track(j, it->is_local, it->duration_ms, &it->json, &it->json_dev);
    else if (it->type == SIM_ITEM_EPISODE)
        it->json = render_episode(j, it->duration_ms);
    return 0;
}

void sim_item_free(sim_item *it)
{
    free(it->json);
    free(it->json_dev);
    it->json = it->json_dev = NULL;
}

/* ---- state machine --------------------------------------------------------- */

void sim_pb_init(sim_playback *pb)
{
    memset(pb, 0, sizeof *pb);
    sim_devices_init(&pb->devs);
}

static void free_queue(sim_playback *pb)
{
    for (int i = 0; i < pb->n; i++)
        sim_item_free(&pb->queue[i]);
    free(pb->queue);
    pb->queue = NULL;
    pb->n = pb->index = 0;
}

void sim_pb_free(sim_playback *pb)
{
    free_queue(pb);
    sim_devices_free(&pb->devs);
    free(pb->context_uri);
    free(pb->context_type);
    sim_history_free(&pb->hist);
    memset(pb, 0, sizeof *pb);
}

static void render_context(const sim_playback *pb, sim_buf *out);

/* Leaves the current entry at time `at`: a track played long enough (or to
 * its end: reached_end) may enter the history, by sim_history's rules. */
static void finish_item(sim_playback *pb, int64_t at, int reached_end)
{
    if (pb->n == 0)
        return;
    sim_item *it = &pb->queue[pb->index];
    if (it->type == SIM_ITEM_TRACK && it->json) {
        sim_buf ctx;
        sim_buf_init(&ctx);
        if (pb->context_uri)
            render_context(pb, &ctx);
        sim_history_record(&pb->hist, pb->started_ms, at, pb->played_ms, reached_end, it->json,
                           it->json_dev, ctx.data);
        sim_buf_free(&ctx);
    }
    pb->played_ms = 0;
}

/* Folds elapsed play time into progress_ms/played_ms at `now`. */
static void settle(sim_playback *pb, int64_t now)
{
    if (pb->is_playing && now > pb->anchor_ms) {
        pb->progress_ms += now - pb->anchor_ms;
        pb->played_ms += now - pb->anchor_ms;
    }
    pb->anchor_ms = now;
}

static void stop_at_end(sim_playback *pb, int64_t at)
{
    pb->is_playing = 0;
    pb->progress_ms = pb->queue[pb->index].duration_ms;
    pb->anchor_ms = at;
    pb->paused_ms = at;
    pb->state_ms = at;
}

void sim_pb_advance(sim_playback *pb, int64_t now)
{
    if (pb->n == 0 || !pb->is_playing)
        return;
    /* With repeat a big clock jump would walk many cycles: skip whole cycles
     * but the last (their plays are not all recorded; history is capped). */
    if (pb->repeat != SIM_REPEAT_OFF) {
        int64_t cycle = 0;
        if (pb->repeat == SIM_REPEAT_TRACK)
            cycle = pb->queue[pb->index].duration_ms;
        else
            for (int i = 0; i < pb->n; i++)
                cycle += pb->queue[i].duration_ms;
        int64_t span = now - pb->anchor_ms;
        if (cycle > 0 && span > 3 * cycle) {
            pb->anchor_ms += (span / cycle - 2) * cycle;
            pb->started_ms = pb->anchor_ms - pb->progress_ms;
        }
    }
    for (;;) {
        sim_item *cur = &pb->queue[pb->index];
        int64_t remaining = cur->duration_ms - pb->progress_ms;
        if (remaining < 0)
            remaining = 0;
        int64_t end = pb->anchor_ms + remaining;
        if (end > now)
            break;
        pb->played_ms += end - pb->anchor_ms;
        finish_item(pb, end, 1);
        if (pb->repeat == SIM_REPEAT_TRACK) {
            /* same entry again */
        } else if (pb->index + 1 < pb->n) {
            pb->index++;
        } else if (pb->repeat == SIM_REPEAT_CONTEXT) {
            pb->index = 0;
        } else {
            stop_at_end(pb, end);
            return;
        }
        pb->progress_ms = 0;
        pb->anchor_ms = end;
        pb->started_ms = end;
        pb->state_ms = end;
    }
}

int sim_repeat_parse(const char *s)
{
    if (!s)
        return -1;
    if (!strcmp(s, "off"))
        return SIM_REPEAT_OFF;
    if (!strcmp(s, "track"))
        return SIM_REPEAT_TRACK;
    if (!strcmp(s, "context"))
        return SIM_REPEAT_CONTEXT;
    return -1;
}

static void items_free(sim_item *items, int n)
{
    for (int k = 0; k < n; k++)
        sim_item_free(&items[k]);
    free(items);
}

/* Checks a PUT body's shape before anything changes. 0 or -1 + err. */
static int set_check(const cJSON *body, char *err, size_t errlen)
{
    if (!cJSON_IsObject(body)) {
        snprintf(err, errlen, "body must be a JSON object");
        return -1;
    }
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(body, "queue");
    if (q && !cJSON_IsArray(q)) {
        snprintf(err, errlen, "queue must be an array");
        return -1;
    }
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(body, "device");
    if (dev && !cJSON_IsObject(dev) && !cJSON_IsNull(dev)) {
        snprintf(err, errlen, "device must be an object or null");
        return -1;
    }
    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(body, "devices");
    if (devs && (!cJSON_IsArray(devs) || cJSON_GetArraySize(devs) > SIM_DEVICES_MAX)) {
        snprintf(err, errlen, "devices must be an array of at most %d device objects",
                 SIM_DEVICES_MAX);
        return -1;
    }
    const char *rep = jstr(body, "repeat_state");
    if (rep && sim_repeat_parse(rep) < 0) {
        snprintf(err, errlen, "repeat_state must be off, track or context");
        return -1;
    }
    return 0;
}

int sim_pb_set(sim_playback *pb, const cJSON *body, int64_t now, char *err, size_t errlen)
{
    if (set_check(body, err, errlen) < 0)
        return -1;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(body, "queue");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(body, "device");
    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(body, "devices");
    int n = q ? cJSON_GetArraySize(q) : 0;
    sim_item *items = sim_xcalloc((size_t)(n ? n : 1), sizeof *items);
    for (int i = 0; i < n; i++) {
        if (sim_item_from_json(&items[i], cJSON_GetArrayItem(q, i), err, errlen) < 0) {
            items_free(items, i);
            return -1;
        }
    }
    const cJSON *v;
    int index = 0;
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(body, "index")))
        index = v->valueint;
    if (n > 0 && (index < 0 || index >= n)) {
        items_free(items, n);
        snprintf(err, errlen, "index out of range");
        return -1;
    }
    if (devs && sim_devices_set_list(&pb->devs, devs, err, errlen) < 0) {
        items_free(items, n);
        return -1;
    }

    sim_pb_advance(pb, now);
    settle(pb, now);
    finish_item(pb, now, 0);
    free_queue(pb);
    pb->queue = items;
    pb->n = n;
    pb->index = n ? index : 0;
    pb->progress_ms = 0;
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(body, "progress_ms")))
        pb->progress_ms = (int64_t)v->valuedouble;
    if (n && pb->progress_ms > items[pb->index].duration_ms)
        pb->progress_ms = items[pb->index].duration_ms;
    if (pb->progress_ms < 0)
        pb->progress_ms = 0;
    v = cJSON_GetObjectItemCaseSensitive(body, "is_playing");
    pb->is_playing = n > 0 && (v ? cJSON_IsTrue(v) : 1);
    pb->anchor_ms = now;
    pb->played_ms = 0;
    pb->started_ms = now - pb->progress_ms;
    pb->state_ms = now;
    pb->paused_ms = now;
    if (dev || pb->devs.active < 0) {
        /* device omitted: keep the active one (a default device if none) */
        cJSON *tmp = dev ? NULL : cJSON_CreateObject();
        sim_devices_activate(&pb->devs, dev ? dev : tmp);
        cJSON_Delete(tmp);
    }
    pb->private_session =
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "private_session"));
    int rep = sim_repeat_parse(jstr(body, "repeat_state"));
    pb->repeat = rep < 0 ? SIM_REPEAT_OFF : (sim_repeat)rep;
    pb->shuffle = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "shuffle_state"));
    free(pb->context_uri);
    free(pb->context_type);
    pb->context_uri = pb->context_type = NULL;
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(body, "context");
    if (cJSON_IsObject(ctx) && jstr(ctx, "uri")) {
        pb->context_uri = sim_xstrdup(jstr(ctx, "uri"));
        pb->context_type = sim_xstrdup(jstr(ctx, "type") ? jstr(ctx, "type") : "playlist");
    }
    return 0;
}

void sim_pb_clear(sim_playback *pb, int64_t now)
{
    sim_pb_advance(pb, now);
    settle(pb, now);
    finish_item(pb, now, 0);
    free_queue(pb);
    pb->is_playing = 0;
    pb->progress_ms = 0;
    pb->state_ms = now;
    pb->paused_ms = now;
}

int sim_pb_pause(sim_playback *pb, int64_t now)
{
    if (pb->n == 0)
        return -1;
    sim_pb_advance(pb, now);
    if (!pb->is_playing)
        return 0;
    settle(pb, now);
    pb->is_playing = 0;
    pb->paused_ms = now;
    pb->state_ms = now;
    return 0;
}

int sim_pb_resume(sim_playback *pb, int64_t now)
{
    if (pb->n == 0)
        return -1;
    sim_pb_advance(pb, now);
    if (pb->is_playing)
        return 0;
    if (pb->progress_ms >= pb->queue[pb->index].duration_ms) {
        pb->progress_ms = 0;
        pb->started_ms = now;
    }
    pb->anchor_ms = now;
    pb->is_playing = 1;
    pb->state_ms = now;
    return 0;
}

static void jump_to(sim_playback *pb, int index, int64_t now)
{
    pb->index = index;
    pb->progress_ms = 0;
    pb->played_ms = 0;
    pb->anchor_ms = now;
    pb->started_ms = now;
    pb->state_ms = now;
}

int sim_pb_next(sim_playback *pb, int64_t now)
{
    if (pb->n == 0)
        return -1;
    sim_pb_advance(pb, now);
    settle(pb, now);
    finish_item(pb, now, 0);
    if (pb->index + 1 < pb->n)
        jump_to(pb, pb->index + 1, now);
    else if (pb->repeat == SIM_REPEAT_CONTEXT)
        jump_to(pb, 0, now);
    else
        stop_at_end(pb, now);
    return 0;
}

int sim_pb_previous(sim_playback *pb, int64_t now)
{
    if (pb->n == 0)
        return -1;
    sim_pb_advance(pb, now);
    settle(pb, now);
    finish_item(pb, now, 0);
    jump_to(pb, pb->index > 0 ? pb->index - 1 : 0, now);
    return 0;
}

int sim_pb_seek(sim_playback *pb, int64_t position_ms, int64_t now)
{
    if (pb->n == 0)
        return -1;
    sim_pb_advance(pb, now);
    settle(pb, now);
    if (position_ms < 0)
        position_ms = 0;
    if (position_ms > pb->queue[pb->index].duration_ms)
        position_ms = pb->queue[pb->index].duration_ms;
    pb->progress_ms = position_ms;
    pb->state_ms = now;
    sim_pb_advance(pb, now);
    return 0;
}

int sim_pb_transfer(sim_playback *pb, const cJSON *device, int64_t now)
{
    sim_pb_advance(pb, now);
    settle(pb, now);
    if (sim_devices_activate(&pb->devs, device) < 0)
        return -1;
    pb->state_ms = now;
    return 0;
}

int sim_pb_transfer_id(sim_playback *pb, const char *id, int64_t now)
{
    int i = sim_devices_find(&pb->devs, id);
    if (i < 0)
        return -1;
    sim_pb_advance(pb, now);
    settle(pb, now);
    pb->devs.active = i;
    pb->state_ms = now;
    return 0;
}

void sim_pb_set_private(sim_playback *pb, int on, int64_t now)
{
    sim_pb_advance(pb, now);
    pb->private_session = on;
    pb->state_ms = now;
}

void sim_pb_set_shuffle(sim_playback *pb, int on, int64_t now)
{
    sim_pb_advance(pb, now);
    pb->shuffle = on;
}

void sim_pb_set_repeat(sim_playback *pb, sim_repeat r, int64_t now)
{
    sim_pb_advance(pb, now);
    pb->repeat = r;
}

/* ---- rendering ------------------------------------------------------------- */

static const char *repeat_name(sim_repeat r)
{
    return r == SIM_REPEAT_TRACK ? "track" : r == SIM_REPEAT_CONTEXT ? "context" : "off";
}

static void render_context(const sim_playback *pb, sim_buf *out)
{
    if (!pb->context_uri) {
        sim_buf_puts(out, "null");
        return;
    }
    /* spotify:playlist:ID -> kind playlist, id ID */
    const char *id = strrchr(pb->context_uri, ':');
    id = id ? id + 1 : pb->context_uri;
    sim_buf_puts(out, "{\"external_urls\":{\"spotify\":");
    char url[512];
    snprintf(url, sizeof url, OPEN_URL "%s/%s", pb->context_type, id);
    sim_buf_json_str(out, url);
    snprintf(url, sizeof url, API_URL "%ss/%s", pb->context_type, id);
    sim_buf_puts(out, "},\"href\":");
    sim_buf_json_str(out, url);
    sim_buf_puts(out, ",\"type\":");
    sim_buf_json_str(out, pb->context_type);
    sim_buf_puts(out, ",\"uri\":");
    sim_buf_json_str(out, pb->context_uri);
    sim_buf_puts(out, "}");
}

void sim_pb_view_init(sim_pb_view *v, int full, int want_episode, int dev_shape)
{
    memset(v, 0, sizeof *v);
    v->full = full;
    v->want_episode = want_episode;
    v->dev_shape = dev_shape;
    v->state_ms = -1;
    v->progress_ms = -1;
    v->is_playing = -1;
}

const sim_item *sim_pb_current(const sim_playback *pb)
{
    return pb->n ? &pb->queue[pb->index] : NULL;
}

int64_t sim_pb_progress(const sim_playback *pb, int64_t now)
{
    if (!pb->n)
        return 0;
    int64_t p = pb->progress_ms + (pb->is_playing ? now - pb->anchor_ms : 0);
    return p > pb->queue[pb->index].duration_ms ? pb->queue[pb->index].duration_ms : p;
}

int sim_pb_answers(sim_playback *pb, int64_t now, int64_t pause_to_204_ms)
{
    sim_pb_advance(pb, now);
    if (pb->n == 0 || pb->devs.active < 0 || pb->private_session)
        return 0;
    return pb->is_playing || now - pb->paused_ms < pause_to_204_ms;
}

void sim_pb_render(sim_playback *pb, int64_t now, const sim_pb_view *v, sim_buf *out)
{
    const sim_item *it = v->item ? v->item : &pb->queue[pb->index];
    int playing = v->is_playing >= 0 ? v->is_playing : pb->is_playing;
    int64_t progress = v->progress_ms >= 0 ? v->progress_ms : sim_pb_progress(pb, now);

    sim_buf_puts(out, "{");
    if (v->full) {
        sim_buf_puts(out, "\"device\":");
        sim_devices_render(&pb->devs, pb->devs.active, pb->private_session, out);
        sim_buf_printf(out, ",\"repeat_state\":\"%s\",\"shuffle_state\":%s,"
                            "\"smart_shuffle\":false,",
                       repeat_name(pb->repeat), pb->shuffle ? "true" : "false");
    }
    sim_buf_printf(out, "\"timestamp\":%lld,\"context\":",
                   (long long)(v->state_ms >= 0 ? v->state_ms : pb->state_ms));
    render_context(pb, out);
    if (v->progress_null)
        sim_buf_puts(out, ",\"progress_ms\":null,\"item\":");
    else
        sim_buf_printf(out, ",\"progress_ms\":%lld,\"item\":", (long long)progress);
    const char *cpt = "track";
    const char *json = v->dev_shape && it->json_dev ? it->json_dev : it->json;
    if (v->unknown_type) {
        cpt = "unknown";
        sim_buf_puts(out, "null");
    } else if (it->type == SIM_ITEM_TRACK) {
        sim_buf_puts(out, json);
    } else if (it->type == SIM_ITEM_EPISODE) {
        cpt = "episode";
        sim_buf_puts(out, v->want_episode ? json : "null");
    } else {
        cpt = "ad";
        sim_buf_puts(out, "null");
    }
    sim_buf_printf(out, ",\"currently_playing_type\":\"%s\",\"actions\":{\"disallows\":{", cpt);
    int first = 1;
#define DISALLOW(cond, name)                                \
    do {                                                    \
        if (cond) {                                         \
            sim_buf_puts(out, first ? "" : ",");            \
            sim_buf_puts(out, "\"" name "\":true");         \
            first = 0;                                      \
        }                                                   \
    } while (0)
    DISALLOW(playing, "resuming");
    DISALLOW(!playing, "pausing");
    DISALLOW(pb->index == 0, "skipping_prev");
    DISALLOW(it->type == SIM_ITEM_AD, "seeking");
    DISALLOW(it->type == SIM_ITEM_AD, "skipping_next");
#undef DISALLOW
    sim_buf_printf(out, "}},\"is_playing\":%s}", playing ? "true" : "false");
}

void sim_pb_render_devices(const sim_playback *pb, sim_buf *out)
{
    sim_devices_render_list(&pb->devs, pb->private_session, out);
}

cJSON *sim_pb_to_json(sim_playback *pb, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "queue_length", pb->n);
    cJSON_AddNumberToObject(o, "index", pb->index);
    cJSON_AddBoolToObject(o, "is_playing", pb->is_playing);
    cJSON_AddNumberToObject(o, "progress_ms", (double)sim_pb_progress(pb, now));
    cJSON_AddNumberToObject(o, "timestamp", (double)pb->state_ms);
    cJSON_AddNumberToObject(o, "paused_since_ms", pb->is_playing ? -1 : (double)pb->paused_ms);
    if (pb->n && pb->queue[pb->index].json) {
        cJSON *item = cJSON_Parse(pb->queue[pb->index].json);
        cJSON_AddItemToObject(o, "item", item ? item : cJSON_CreateNull());
    } else {
        cJSON_AddNullToObject(o, "item");
    }
    static const char *types[] = {"track", "episode", "ad"};
    if (pb->n)
        cJSON_AddStringToObject(o, "item_type", types[pb->queue[pb->index].type]);
    else
        cJSON_AddNullToObject(o, "item_type");
    if (pb->devs.active >= 0) {
        const sim_device *d = &pb->devs.d[pb->devs.active];
        cJSON *dj = cJSON_AddObjectToObject(o, "device");
        cJSON_AddStringToObject(dj, "id", d->id);
        cJSON_AddStringToObject(dj, "name", d->name);
        cJSON_AddStringToObject(dj, "type", d->type);
        cJSON_AddNumberToObject(dj, "volume_percent", d->volume);
    } else {
        cJSON_AddNullToObject(o, "device");
    }
    cJSON_AddItemToObject(o, "devices", sim_devices_to_json(&pb->devs));
    cJSON_AddBoolToObject(o, "private_session", pb->private_session);
    cJSON_AddStringToObject(o, "repeat_state", repeat_name(pb->repeat));
    cJSON_AddBoolToObject(o, "shuffle_state", pb->shuffle);
    cJSON_AddNumberToObject(o, "history_length", pb->hist.n);
    cJSON_AddNumberToObject(o, "history_visible", sim_history_visible(&pb->hist, now));
    return o;
}
