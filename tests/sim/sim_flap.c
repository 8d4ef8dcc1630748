/* sim_flap.c: see sim_flap.h. */
#include "sim_flap.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"transient_204", "stale_track", "end_playing",
                                         "end_reset",     "end_paused",  "null_progress",
                                         "unknown_type"};
#define NKINDS (int)(sizeof kind_names / sizeof kind_names[0])

static int needs_change(sim_flap_kind k)
{
    return k == SIM_FLAP_STALE || k == SIM_FLAP_END_PLAYING || k == SIM_FLAP_END_RESET ||
           k == SIM_FLAP_END_PAUSED;
}

static void flap_free(sim_flap *f)
{
    if (f->has_from)
        sim_item_free(&f->from);
    memset(f, 0, sizeof *f);
}

void sim_flaps_free(sim_flaps *fl)
{
    for (int i = 0; i < fl->n; i++)
        flap_free(&fl->f[i]);
    fl->n = 0;
}

/* Remembers the current entry as "the previous track" if it is a track. */
static void take_from(sim_flap *f, sim_playback *pb)
{
    const sim_item *it = sim_pb_current(pb);
    if (!it || it->type != SIM_ITEM_TRACK || !it->json)
        return;
    f->from = *it;
    f->from.json = sim_xstrdup(it->json);
    f->from.json_dev = sim_xstrdup(it->json_dev);
    f->from_state_ms = pb->state_ms;
    f->has_from = 1;
}

/* Drops flaps spent by the previous answer (see sim_flaps_apply). */
static void sweep(sim_flaps *fl)
{
    for (int i = 0; i < fl->n;) {
        if (fl->f[i].left <= 0) {
            flap_free(&fl->f[i]);
            memmove(&fl->f[i], &fl->f[i + 1], (size_t)(fl->n - i - 1) * sizeof fl->f[0]);
            memset(&fl->f[fl->n - 1], 0, sizeof fl->f[0]);
            fl->n--;
        } else {
            i++;
        }
    }
}

int sim_flaps_arm(sim_flaps *fl, sim_playback *pb, const cJSON *body, int64_t now, char *err,
                  size_t errlen)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(body, "kind");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(body, "count");
    int kind = -1;
    for (int i = 0; cJSON_IsString(k) && i < NKINDS; i++)
        if (!strcmp(k->valuestring, kind_names[i]))
            kind = i;
    if (kind < 0) {
        snprintf(err, errlen,
                 "kind must be transient_204, stale_track, end_playing, end_reset, end_paused, "
                 "null_progress or unknown_type");
        return -1;
    }
    if (c && !(cJSON_IsNumber(c) && c->valuedouble >= 1 && c->valuedouble <= 1e6)) {
        snprintf(err, errlen, "count must be a number 1..1000000");
        return -1;
    }
    sweep(fl);
    if (fl->n == SIM_FLAPS_MAX) {
        snprintf(err, errlen, "at most %d flaps armed per user", SIM_FLAPS_MAX);
        return -1;
    }
    sim_flap *f = &fl->f[fl->n++];
    memset(f, 0, sizeof *f);
    f->kind = (sim_flap_kind)kind;
    f->left = c ? (long)c->valuedouble : 1;
    if (needs_change(f->kind)) {
        sim_pb_advance(pb, now);
        take_from(f, pb);
    }
    return 0;
}

static void spend(sim_flaps *fl, int i)
{
    fl->applied++;
    if (--fl->f[i].left > 0)
        return;
    flap_free(&fl->f[i]);
    memmove(&fl->f[i], &fl->f[i + 1], (size_t)(fl->n - i - 1) * sizeof fl->f[0]);
    memset(&fl->f[fl->n - 1], 0, sizeof fl->f[0]);
    fl->n--;
}

/* Is the current entry another track than f's previous one? */
static int changed(sim_flap *f, sim_playback *pb)
{
    const sim_item *it = sim_pb_current(pb);
    if (!f->has_from) {
        take_from(f, pb);
        return 0;
    }
    return !it || !it->json || strcmp(it->json, f->from.json) != 0;
}

int sim_flaps_apply(sim_flaps *fl, sim_playback *pb, int64_t now, sim_pb_view *view)
{
    int is_playing = pb->is_playing;
    sweep(fl);
    for (int i = 0; i < fl->n; i++) {
        if (fl->f[i].kind == SIM_FLAP_204 && is_playing) {
            spend(fl, i);
            return 204;
        }
    }
    /* One change-of-track flap at most per answer (the first armed); the
     * member flaps (null progress, unknown type) add to it. */
    int took_item = 0;
    for (int i = 0; i < fl->n;) {
        sim_flap *f = &fl->f[i];
        int applies = 0;
        if (needs_change(f->kind) && !took_item && changed(f, pb)) {
            took_item = applies = 1;
            view->item = &f->from;
            view->state_ms = f->from_state_ms;
            int64_t dur = f->from.duration_ms;
            if (f->kind == SIM_FLAP_STALE) {
                int64_t p = sim_pb_progress(pb, now);
                view->progress_ms = p > dur ? dur : p;
            } else {
                view->progress_ms = f->kind == SIM_FLAP_END_RESET ? 0 : dur;
                view->is_playing = f->kind != SIM_FLAP_END_PAUSED;
            }
        } else if (f->kind == SIM_FLAP_NULL_PROGRESS && !view->progress_null) {
            applies = view->progress_null = 1;
        } else if (f->kind == SIM_FLAP_UNKNOWN_TYPE && !view->unknown_type) {
            applies = view->unknown_type = 1;
        }
        if (applies && f->left == 1 && f->kind != SIM_FLAP_NULL_PROGRESS &&
            f->kind != SIM_FLAP_UNKNOWN_TYPE) {
            /* the item copy must outlive this call: keep the flap (left 0)
             * until the next answer sweeps it */
            f->left = 0;
            fl->applied++;
            i++;
            continue;
        }
        if (applies) {
            spend(fl, i);
            continue;
        }
        i++;
    }
    return 200;
}

cJSON *sim_flaps_to_json(const sim_flaps *fl)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "armed");
    for (int i = 0; i < fl->n; i++) {
        if (fl->f[i].left <= 0)
            continue;
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "kind", kind_names[fl->f[i].kind]);
        cJSON_AddNumberToObject(f, "left", (double)fl->f[i].left);
        if (needs_change(fl->f[i].kind))
            cJSON_AddBoolToObject(f, "has_previous_track", fl->f[i].has_from);
        cJSON_AddItemToArray(arr, f);
    }
    cJSON_AddNumberToObject(o, "applied", (double)fl->applied);
    return o;
}
