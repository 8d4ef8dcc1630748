/* playback.c: currently-playing bodies -> pb_state -> events. Pure: no I/O,
 * no clock, no global state (the contract is in include/spotify/playback.h). */
#include "base/errbuf.h"
#include "spotify/events.h"
#include "spotify/json_scan.h"
#include "spotify/playback.h"
#include "spotify/playback_forms.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Poll this long after the expected end of a track, so the next poll sees
 * the next track rather than the last second of this one. */
#define PB_END_MARGIN_MS 500LL
/* Never poll more often than this, even at the very end of a track. */
#define PB_MIN_DELAY_MS 250LL
/* "#" + 16 hex digits appended to a cut key. */
#define PB_HASH_SUFFIX_LEN 17

static int is_blank(const char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return 0;
    return 1;
}

/* ms_from_double clamps to [0, PB_MS_MAX] before converting: converting an
 * out-of-range double to an integer is undefined behaviour. !(d > 0) also
 * catches NaN. */
static long long ms_from_double(double d)
{
    if (!(d > 0))
        return 0;
    if (d >= (double)PB_MS_MAX)
        return PB_MS_MAX;
    return (long long)d;
}

/* ---------------------------------------------------------------- keys */

/* esc_cost is the size of s once JSON-escaped, which is what it costs in the
 * stored state. */
static size_t esc_cost_byte(unsigned char c)
{
    if (c < 0x20)
        return 6; /* \u00XX */
    if (c == '"' || c == '\\')
        return 2;
    return 1;
}

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 14695981039346656037ULL;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* key_dup copies s, compacting it to PB_KEY_MAX escaped bytes (see the
 * header). Idempotent: a compacted key is short enough to be kept as is.
 * Returns NULL when out of memory. */
static char *key_dup(const char *s)
{
    size_t cost = 0, cut = 0, n;
    char *out;

    for (n = 0; s[n]; n++)
        cost += esc_cost_byte((unsigned char)s[n]);
    if (cost <= PB_KEY_MAX)
        return strdup(s);
    cost = 0;
    while (s[cut] && cost + esc_cost_byte((unsigned char)s[cut])
                         <= PB_KEY_MAX - PB_HASH_SUFFIX_LEN) {
        cost += esc_cost_byte((unsigned char)s[cut]);
        cut++;
    }
    /* Do not split a UTF-8 sequence: events carry keys to JSON consumers. */
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    out = malloc(cut + PB_HASH_SUFFIX_LEN + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, s, cut);
    snprintf(out + cut, PB_HASH_SUFFIX_LEN + 1, "#%016llx", (unsigned long long)fnv1a64(s));
    return out;
}

/* ------------------------------------------------------ string scratch */

/* pbx: the strings one parse unescapes, kept until the event form and the
 * keys have copied them. They are disjoint spans of the text, each needing
 * at most its raw length, so a heap block the size of the text (made only
 * when the small buffer runs out) always has room for the rest. */
struct pbx {
    char small[1024];
    size_t used;
    char *heap;
    size_t heap_used, heap_cap;
    size_t text_len;
};

static void pbx_init(struct pbx *x, size_t text_len)
{
    x->used = 0;
    x->heap = NULL;
    x->heap_used = x->heap_cap = 0;
    x->text_len = text_len;
}

static void pbx_free(struct pbx *x)
{
    free(x->heap);
    x->heap = NULL;
}

static char *pbx_alloc(struct pbx *x, size_t n)
{
    char *p;

    if (n <= sizeof x->small - x->used) {
        p = x->small + x->used;
        x->used += n;
        return p;
    }
    if (x->heap == NULL) {
        x->heap_cap = x->text_len + 1;
        x->heap = malloc(x->heap_cap);
        if (x->heap == NULL)
            return NULL;
    }
    if (n > x->heap_cap - x->heap_used)
        return NULL; /* not reached: see above */
    p = x->heap + x->heap_used;
    x->heap_used += n;
    return p;
}

/* ------------------------------------------------------- field readers */

/* Each reader takes a value js_parse_fields or js_lookup found and gives 0
 * with the value, or the default when the field is absent or null, and -1
 * with err naming "<path><name>" on a wrong type. Strings are C strings:
 * like cJSON's valuestring they end at an escaped NUL. */

static int is_absent(const struct js_val *v)
{
    return v->type == JS_NONE || v->type == JS_NULL;
}

static int get_str(struct pbx *x, const struct js_val *v, const char *path, const char *name,
                   const char **out, char *err, size_t errlen)
{
    char *d;

    *out = NULL;
    if (is_absent(v))
        return 0;
    if (v->type != JS_STRING) {
        errbuf_set(err, errlen, "%s%s: not a string", path, name);
        return -1;
    }
    d = pbx_alloc(x, v->n - 1);
    if (d == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    js_str_unescape(v, d);
    *out = d;
    return 0;
}

static int get_ms(const struct js_val *v, const char *path, const char *name, long long *out,
                  char *err, size_t errlen)
{
    *out = 0;
    if (is_absent(v))
        return 0;
    if (v->type != JS_NUMBER) {
        errbuf_set(err, errlen, "%s%s: not a number", path, name);
        return -1;
    }
    *out = ms_from_double(js_number(v));
    return 0;
}

static int get_bool(const struct js_val *v, const char *path, const char *name, int *out,
                    char *err, size_t errlen)
{
    *out = 0;
    if (is_absent(v))
        return 0;
    if (v->type != JS_TRUE && v->type != JS_FALSE) {
        errbuf_set(err, errlen, "%s%s: not a boolean", path, name);
        return -1;
    }
    *out = v->type == JS_TRUE;
    return 0;
}

/* get_obj leaves an absent or null field as JS_NONE. */
static int get_obj(struct js_val *v, const char *path, const char *name, char *err,
                   size_t errlen)
{
    if (is_absent(v)) {
        v->type = JS_NONE;
        return 0;
    }
    if (v->type != JS_OBJECT) {
        errbuf_set(err, errlen, "%s%s: not an object", path, name);
        return -1;
    }
    return 0;
}

/* get_member reads the string member name of the object obj (JS_NONE: no
 * object, so no member). */
static int get_member(struct pbx *x, const struct js_val *obj, const char *path,
                      const char *name, const char **out, char *err, size_t errlen)
{
    struct js_val v;

    js_lookup(obj, &name, 1, &v);
    return get_str(x, &v, path, name, out, err, errlen);
}

/* --------------------------------------------------------------- parse */

/* copy_str copies s into dst (size bytes), cut short if need be, as
 * snprintf's "%s" would, at a fraction of its cost (once a poll or more). */
static void copy_str(char *dst, size_t size, const char *s)
{
    size_t n = strnlen(s, size - 1);

    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* kind_known maps a Spotify type string to one of our kinds, or NULL. */
static const char *kind_known(const char *s)
{
    static const char *const kinds[] = {"track", "episode", "ad", "unknown"};
    size_t i;

    if (s == NULL)
        return NULL;
    for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(s, kinds[i]) == 0)
            return kinds[i];
    return NULL;
}

/* parse_artists reads item.artists ([{name}, ...]) into acc's names;
 * entries without a name are skipped. */
static int parse_artists(struct pbx *x, const struct js_val *list, struct pb_forms_acc *acc, char *err,
                         size_t errlen)
{
    struct js_iter it;
    struct js_val a;
    char path[48];
    int i = 0;

    if (!is_absent(list) && list->type != JS_ARRAY) {
        errbuf_set(err, errlen, "item.artists: not an array");
        return -1;
    }
    js_iter_init(&it, list);
    while (js_iter_next(&it, &a)) {
        const char *name;

        if (a.type != JS_OBJECT) {
            errbuf_set(err, errlen, "item.artists[%d]: not an object", i);
            return -1;
        }
        /* the path only for the message: formatting it costs more than the read */
        if (get_member(x, &a, "", "name", &name, NULL, 0) < 0) {
            snprintf(path, sizeof path, "item.artists[%d].", i);
            if (get_member(x, &a, path, "name", &name, err, errlen) == 0)
                errbuf_set(err, errlen, "out of memory");   /* the first failed for want of it */
            return -1;
        }
        if (name != NULL && pb_forms_add_artist(acc, name) < 0) {
            errbuf_set(err, errlen, "out of memory");
            return -1;
        }
        i++;
    }
    return 0;
}

/* The members pb_parse reads, found in one pass by js_parse_fields (and by
 * js_lookup_fields for a history item): F_* index the values. */
enum {
    F_PLAYING, F_PROGRESS, F_CPT, F_ITEM, F_DEVICE, F_SHUFFLE, F_REPEAT,
    F_IT_TYPE, F_IT_ID, F_IT_URI, F_IT_NAME, F_IT_DURATION, F_IT_LOCAL, F_IT_SHOW,
    F_IT_ALBUM, F_IT_ARTISTS, F_SHOW_NAME, F_ALBUM_NAME,
    F_DEV_ID, F_DEV_NAME, F_DEV_TYPE,
    F_N
};

static const struct js_field show_fields[] = {{"name", NULL, F_SHOW_NAME}, {NULL, NULL, 0}};
static const struct js_field album_fields[] = {{"name", NULL, F_ALBUM_NAME}, {NULL, NULL, 0}};
static const struct js_field item_fields[] = {
    {"type", NULL, F_IT_TYPE}, {"id", NULL, F_IT_ID}, {"uri", NULL, F_IT_URI},
    {"name", NULL, F_IT_NAME}, {"duration_ms", NULL, F_IT_DURATION},
    {"is_local", NULL, F_IT_LOCAL}, {"show", show_fields, F_IT_SHOW},
    {"album", album_fields, F_IT_ALBUM}, {"artists", NULL, F_IT_ARTISTS}, {NULL, NULL, 0},
};
static const struct js_field device_fields[] = {
    {"id", NULL, F_DEV_ID}, {"name", NULL, F_DEV_NAME}, {"type", NULL, F_DEV_TYPE},
    {NULL, NULL, 0},
};
static const struct js_field root_fields[] = {
    {"is_playing", NULL, F_PLAYING}, {"progress_ms", NULL, F_PROGRESS},
    {"currently_playing_type", NULL, F_CPT}, {"item", item_fields, F_ITEM},
    {"device", device_fields, F_DEVICE}, {"shuffle_state", NULL, F_SHUFFLE},
    {"repeat_state", NULL, F_REPEAT}, {NULL, NULL, 0},
};

/* parse_modes reads /me/player's shuffle_state and repeat_state (absent from
 * currently-playing). They only decorate events, so a value of another type
 * or an unknown repeat mode is left unknown rather than failing the poll. */
static void parse_modes(const struct js_val *v, struct pb_state *out)
{
    static const char *const repeats[] = {"off", "track", "context"};

    out->shuffle = v[F_SHUFFLE].type == JS_TRUE    ? PB_SHUFFLE_ON
                   : v[F_SHUFFLE].type == JS_FALSE ? PB_SHUFFLE_OFF
                                                   : PB_SHUFFLE_UNKNOWN;
    out->repeat[0] = '\0';
    if (v[F_REPEAT].type != JS_STRING)
        return;
    /* js_str_unescape needs room for n - 1 bytes and its NUL: a longer
     * value is no known mode anyway. */
    char buf[32];
    if (v[F_REPEAT].n + 1 > sizeof buf)
        return;
    js_str_unescape(&v[F_REPEAT], buf);
    for (size_t i = 0; i < sizeof repeats / sizeof repeats[0]; i++)
        if (strcmp(buf, repeats[i]) == 0) {
            copy_str(out->repeat, sizeof out->repeat, repeats[i]);
            return;
        }
}

/* parse_item reads the item whose members are in v[F_IT_*] (and the names
 * of its show and album in v[F_SHOW_NAME], v[F_ALBUM_NAME]); what only
 * events need goes in acc, its strings in x. */
static int parse_item(struct pbx *x, struct js_val *v, const char *cpt, struct pb_state *out,
                      struct pb_forms_acc *acc, char *err, size_t errlen)
{
    const char *type, *id, *uri, *name, *album = NULL, *kind, *key;
    long long duration;
    int is_local;

    if (get_str(x, &v[F_IT_TYPE], "item.", "type", &type, err, errlen) < 0
        || get_str(x, &v[F_IT_ID], "item.", "id", &id, err, errlen) < 0
        || get_str(x, &v[F_IT_URI], "item.", "uri", &uri, err, errlen) < 0
        || get_str(x, &v[F_IT_NAME], "item.", "name", &name, err, errlen) < 0
        || get_ms(&v[F_IT_DURATION], "item.", "duration_ms", &duration, err, errlen) < 0
        || get_bool(&v[F_IT_LOCAL], "item.", "is_local", &is_local, err, errlen) < 0)
        return -1;
    /* The item's own type wins; currently_playing_type covers items
     * without one. "chapter" and other future types are "unknown". */
    kind = kind_known(type);
    if (kind == NULL && type == NULL)
        kind = kind_known(cpt);
    if (kind == NULL)
        kind = "unknown";

    /* A sub-member's value is only looked for inside an object, so it is
     * JS_NONE whenever its parent is absent, null or of a wrong type. */
    if (strcmp(kind, "episode") == 0) {
        const char *show = NULL;

        if (get_obj(&v[F_IT_SHOW], "item.", "show", err, errlen) < 0
            || get_str(x, &v[F_SHOW_NAME], "item.show.", "name", &show, err, errlen) < 0)
            return -1;
        if (show != NULL && pb_forms_add_artist(acc, show) < 0)
            goto oom;
        album = show;
        is_local = 0;
    } else {
        if (get_obj(&v[F_IT_ALBUM], "item.", "album", err, errlen) < 0
            || get_str(x, &v[F_ALBUM_NAME], "item.album.", "name", &album, err, errlen) < 0
            || parse_artists(x, &v[F_IT_ARTISTS], acc, err, errlen) < 0)
            return -1;
    }

    out->present = 1;
    out->duration_ms = duration;
    copy_str(out->kind, sizeof out->kind, kind);
    /* Local tracks have no id but a uri naming the file; "" is no id. */
    key = (id != NULL && id[0]) ? id : (uri != NULL && uri[0]) ? uri : kind;
    out->item_key = key_dup(key);
    if (out->item_key == NULL)
        goto oom;
    acc->f.has_item = 1;
    acc->f.id = id;
    acc->f.uri = uri;
    acc->f.name = name;
    acc->f.album = album;
    acc->f.kind = kind;
    acc->f.duration_ms = duration;
    acc->f.is_local = is_local;
    return 0;
oom:
    errbuf_set(err, errlen, "out of memory");
    return -1;
}

static int parse_device(struct pbx *x, struct js_val *v, struct pb_state *out, struct pb_forms_acc *acc,
                        char *err, size_t errlen)
{
    const char *id, *name, *type;

    if (get_str(x, &v[F_DEV_ID], "device.", "id", &id, err, errlen) < 0
        || get_str(x, &v[F_DEV_NAME], "device.", "name", &name, err, errlen) < 0
        || get_str(x, &v[F_DEV_TYPE], "device.", "type", &type, err, errlen) < 0)
        return -1;
    acc->f.has_device = 1;
    acc->f.dev_id = id;
    acc->f.dev_name = name;
    acc->f.dev_type = type;
    if (id != NULL && id[0]) {
        out->device_id = key_dup(id);
        if (out->device_id == NULL)
            goto oom;
    }
    return 0;
oom:
    errbuf_set(err, errlen, "out of memory");
    return -1;
}

/* body_object is pb_parse_body that also fills v from fields (see
 * js_parse_fields; fields NULL: nothing). */
static int body_object(const char *body, size_t len, const struct js_field *fields,
                       struct js_val *v, size_t nv, struct js_val *root, char *err,
                       size_t errlen)
{
    struct js_error e;

    root->p = NULL;
    root->n = 0;
    root->type = JS_NONE;
    if (body == NULL || is_blank(body, len))
        return 1;
    if (js_parse_fields(body, len, fields, v, nv, root, &e) < 0) {
        if (e.code == JS_E_TRAILING)
            errbuf_set(err, errlen, "body: trailing data after JSON at byte %zu", e.off);
        else
            errbuf_set(err, errlen, "body: invalid JSON near byte %zu: %s", e.off,
                       js_strerror(e.code));
        root->type = JS_NONE;
        return -1;
    }
    if (root->type != JS_OBJECT) {
        errbuf_set(err, errlen, "body: not a JSON object");
        root->type = JS_NONE;
        return -1;
    }
    return 0;
}

int pb_parse_body(const char *body, size_t len, struct js_val *root, char *err, size_t errlen)
{
    return body_object(body, len, NULL, NULL, 0, root, err, errlen);
}

int pb_parse(const char *body, size_t len, struct pb_state *out, char *err, size_t errlen)
{
    struct js_val root, v[F_N];
    struct pbx x;
    struct pb_forms_acc acc;
    const char *cpt, *kind;
    long long progress;
    int is_playing;

    memset(out, 0, sizeof *out);
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (body == NULL)
        len = 0;
    /* Spotify has been seen to answer 200 with no body where 204 was meant. */
    switch (body_object(body, len, root_fields, v, F_N, &root, err, errlen)) {
    case 1:
        pb_nothing(out);
        return 0;
    case -1:
        return -1;
    }
    pbx_init(&x, len);
    pb_forms_acc_init(&acc);
    if (get_bool(&v[F_PLAYING], "", "is_playing", &is_playing, err, errlen) < 0
        || get_ms(&v[F_PROGRESS], "", "progress_ms", &progress, err, errlen) < 0
        || get_str(&x, &v[F_CPT], "", "currently_playing_type", &cpt, err, errlen) < 0
        || get_obj(&v[F_ITEM], "", "item", err, errlen) < 0
        || get_obj(&v[F_DEVICE], "", "device", err, errlen) < 0)
        goto fail;

    out->known = 1;
    out->progress_null = is_absent(&v[F_PROGRESS]);
    parse_modes(v, out);
    if (v[F_DEVICE].type != JS_NONE && parse_device(&x, v, out, &acc, err, errlen) < 0)
        goto fail;
    if (v[F_ITEM].type != JS_NONE) {
        if (parse_item(&x, v, cpt, out, &acc, err, errlen) < 0)
            goto fail;
    } else if (cpt != NULL && strcmp(cpt, "track") == 0) {
        /* Spotify nulls the item of types the client does not support; a
         * track is always supported, so this answer contradicts itself. Taken
         * at its word it would announce a track_changed to nothing, and
         * another one back on the next poll. */
        errbuf_set(err, errlen, "item: null although currently_playing_type is \"track\"");
        goto fail;
    } else if ((cpt != NULL && strcmp(cpt, "unknown") != 0) || is_playing) {
        /* Something is loaded but Spotify does not say what (ads, episodes
         * without additional_types): the kind is all we can compare. */
        kind = kind_known(cpt);
        if (kind == NULL)
            kind = "unknown";
        out->opaque = cpt == NULL || strcmp(cpt, "unknown") == 0;
        out->present = 1;
        copy_str(out->kind, sizeof out->kind, kind);
        out->item_key = strdup(kind);
        acc.f.has_item = 1;   /* the placeholder track: all null but the type */
        acc.f.kind = kind;
        if (out->item_key == NULL) {
            errbuf_set(err, errlen, "out of memory");
            goto fail;
        }
    } else {
        out->opaque = 1;   /* nothing identifiable and nothing playing */
    }
    if (out->present) {
        out->is_playing = is_playing;
        out->progress_ms = progress;
        if (out->duration_ms > 0 && out->progress_ms > out->duration_ms)
            out->progress_ms = out->duration_ms;
    }
    /* copied before x goes: the strings live there */
    if ((acc.f.has_item || acc.f.has_device) && (out->forms = pb_forms_copy(&acc.f)) == NULL) {
        errbuf_set(err, errlen, "out of memory");
        goto fail;
    }
    pb_forms_acc_free(&acc);
    pbx_free(&x);
    return 0;
fail:
    pb_forms_acc_free(&acc);
    pbx_free(&x);
    pb_state_free(out);
    return -1;
}

void pb_nothing(struct pb_state *out)
{
    memset(out, 0, sizeof *out);
    out->known = 1;
}

void pb_state_free(struct pb_state *s)
{
    if (s == NULL)
        return;
    free(s->item_key);
    free(s->device_id);
    cJSON_Delete(s->track);
    cJSON_Delete(s->device);
    free(s->forms);
    memset(s, 0, sizeof *s);
}

int pb_state_forms(struct pb_state *s)
{
    if (s->forms == NULL)
        return 0;
    if (s->track == NULL && s->forms->has_item && (s->track = pb_forms_track(s->forms)) == NULL)
        return -1;
    if (s->device == NULL && s->forms->has_device && (s->device = pb_forms_device(s->forms)) == NULL)
        return -1;
    return 0;
}

/* -------------------------------------------------------------- events */

/* put_event sets *ev to the playback event of type for cur, with the forms
 * track (only when with_track) and device; 1, or 0 when it could not be
 * built (then left out). */
static int put_event(struct sw_event *ev, const char *type, const char *user, long long at_ms,
                     const struct pb_state *cur, const cJSON *track, const cJSON *device, int with_track,
                     const char *prev_id)
{
    *ev = sw_event_playback(type, user, at_ms, cur->present && cur->is_playing, cur->progress_ms,
                            with_track && cur->present ? track : NULL, device, prev_id,
                            cur->shuffle == PB_SHUFFLE_UNKNOWN ? -1 : cur->shuffle == PB_SHUFFLE_ON,
                            cur->repeat[0] ? cur->repeat : NULL);
    return ev->json != NULL;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

int pb_diff(const struct pb_state *prev, const struct pb_state *cur, const char *user,
            long long at_ms, struct sw_event *events)
{
    static const struct pb_state unknown; /* const: no mutable global state */
    const char *type = NULL, *prev_id = NULL;
    int n = 0, with_track = 1;

    if (cur == NULL || !cur->known)
        return 0;
    if (prev == NULL)
        prev = &unknown;

    if (!prev->known || !prev->present) {
        if (cur->present)
            type = SW_EVENT_PLAYBACK_STARTED;
    } else if (!cur->present) {
        type = SW_EVENT_PLAYBACK_STOPPED;
        with_track = 0;
        prev_id = prev->item_key;
    } else if (strcmp(nz(prev->item_key), nz(cur->item_key)) != 0) {
        type = SW_EVENT_TRACK_CHANGED;
        prev_id = prev->item_key;
    } else if (prev->is_playing && !cur->is_playing) {
        type = SW_EVENT_PLAYBACK_PAUSED;
    } else if (!prev->is_playing && cur->is_playing) {
        type = SW_EVENT_PLAYBACK_RESUMED;
    }
    /* An absent device (currently-playing often omits it) is not a change. */
    int device_changed = prev->device_id != NULL && cur->device_id != NULL
                         && strcmp(prev->device_id, cur->device_id) != 0;
    if (type == NULL && !device_changed)
        return 0;   /* most polls: no forms built */
    /* the forms pb_state_forms built, else made for these events only */
    cJSON *own_track = NULL, *own_device = NULL;
    const cJSON *track = cur->track, *device = cur->device;
    if (track == NULL && cur->forms != NULL && cur->forms->has_item
        && (track = own_track = pb_forms_track(cur->forms)) == NULL)
        return 0;   /* out of memory: left out */
    if (device == NULL && cur->forms != NULL && cur->forms->has_device
        && (device = own_device = pb_forms_device(cur->forms)) == NULL)
        goto out;
    if (type != NULL)
        n += put_event(&events[n], type, user, at_ms, cur, track, device, with_track, prev_id);
    if (device_changed)
        n += put_event(&events[n], SW_EVENT_DEVICE_CHANGED, user, at_ms, cur, track, device, 1, NULL);
out:
    cJSON_Delete(own_track);
    cJSON_Delete(own_device);
    return n;
}

/* ------------------------------------------------------------- polling */

/* backoff is start * 2^n capped at cap, without overflow. */
static long long backoff(long long start, int n, long long cap)
{
    long long v = start > 0 ? start : 1;
    int i;

    for (i = 0; i < n && v < cap; i++)
        v = v > cap / 2 ? cap : v * 2;
    return v < cap ? v : cap;
}

long long pb_next_delay_ms(const struct pb_state *cur, long long base_ms, long long paused_ms,
                           long long paused_max_ms, long long idle_max_ms, int idle_polls)
{
    long long remaining, d;

    if (idle_polls < 0)
        idle_polls = 0;
    if (cur == NULL || !cur->known)
        return base_ms;
    if (!cur->present)
        return backoff(base_ms, idle_polls, idle_max_ms);
    if (!cur->is_playing)
        return backoff(paused_ms, idle_polls, paused_max_ms);
    if (cur->duration_ms <= 0)
        return base_ms;
    /* Both are clamped to [0, PB_MS_MAX] by pb_parse/decode, but a state
     * built by hand may hold anything: do the sums without overflow. */
    remaining = cur->progress_ms >= 0 && cur->progress_ms <= cur->duration_ms
                    ? cur->duration_ms - cur->progress_ms
                    : cur->progress_ms < 0 ? cur->duration_ms : 0;
    d = remaining > LLONG_MAX - PB_END_MARGIN_MS ? LLONG_MAX : remaining + PB_END_MARGIN_MS;
    if (base_ms < d)
        d = base_ms;
    return d < PB_MIN_DELAY_MS ? PB_MIN_DELAY_MS : d;
}

/* -------------------------------------------------------------- history */

cJSON *pb_item_track(const struct js_val *item, char *err, size_t errlen)
{
    struct js_val v[F_N];
    struct pb_state s;
    struct pbx x;
    struct pb_forms_acc acc;
    cJSON *track;

    memset(&s, 0, sizeof s);
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (item == NULL || item->type != JS_OBJECT) {
        errbuf_set(err, errlen, "item: not an object");
        return NULL;
    }
    js_lookup_fields(item, item_fields, v);
    pbx_init(&x, item->n);
    pb_forms_acc_init(&acc);
    track = NULL;
    if (parse_item(&x, v, NULL, &s, &acc, err, errlen) == 0 && (track = pb_forms_track(&acc.f)) == NULL)
        errbuf_set(err, errlen, "out of memory");
    pb_forms_acc_free(&acc);
    pbx_free(&x);
    pb_state_free(&s);
    return track;
}
