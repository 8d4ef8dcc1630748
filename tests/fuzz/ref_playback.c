/* ref_playback.c: the cJSON-based parsers that src/spotify/playback.c and
 * src/spotify/recently_played.c used before json_scan, kept verbatim (public names prefixed
 * ref_) as the reference the differential fuzz target (fuzz_pbdiff.c) and
 * tests/unit/test_pbcompat.c compare the product against. Test code only:
 * never linked into bin/spotwatch. Do not "fix" it: it is the old
 * behaviour by definition. */
#include "base/errbuf.h"
#include "spotify/recently_played.h"
#include "spotify/playback.h"
#include "ref_playback.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PB_MS_MAX 1000000000000000LL
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

/* ------------------------------------------------------- field readers */

/* Each reader gives 0 with the value, or the default when the field is
 * absent or null, and -1 with err naming "<path><name>" on a wrong type. */

static int get_str(const cJSON *obj, const char *path, const char *name, const char **out,
                   char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    *out = NULL;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || v->valuestring == NULL) {
        errbuf_set(err, errlen, "%s%s: not a string", path, name);
        return -1;
    }
    *out = v->valuestring;
    return 0;
}

static int get_ms(const cJSON *obj, const char *path, const char *name, long long *out,
                  char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    *out = 0;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v)) {
        errbuf_set(err, errlen, "%s%s: not a number", path, name);
        return -1;
    }
    *out = ms_from_double(v->valuedouble);
    return 0;
}

static int get_bool(const cJSON *obj, const char *path, const char *name, int *out,
                    char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    *out = 0;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v)) {
        errbuf_set(err, errlen, "%s%s: not a boolean", path, name);
        return -1;
    }
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return 0;
}

static int get_obj(const cJSON *obj, const char *path, const char *name, const cJSON **out,
                   char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    *out = NULL;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsObject(v)) {
        errbuf_set(err, errlen, "%s%s: not an object", path, name);
        return -1;
    }
    *out = v;
    return 0;
}

/* add_str_or_null adds s, or JSON null when s is NULL. 0 or -1 (no memory). */
static int add_str_or_null(cJSON *obj, const char *name, const char *s)
{
    if (s == NULL)
        return cJSON_AddNullToObject(obj, name) ? 0 : -1;
    return cJSON_AddStringToObject(obj, name, s) ? 0 : -1;
}

/* --------------------------------------------------------------- parse */

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

/* track_form builds the event form of an item. The strings are borrowed;
 * artists (NULL: []) is taken over, and freed on failure too. */
static cJSON *track_form(const char *id, const char *uri, const char *name, cJSON *artists,
                         const char *album, long long duration_ms, const char *kind,
                         int is_local)
{
    cJSON *t = cJSON_CreateObject();

    if (artists == NULL)
        artists = cJSON_CreateArray();
    if (t == NULL || artists == NULL || add_str_or_null(t, "id", id) < 0
        || add_str_or_null(t, "uri", uri) < 0 || add_str_or_null(t, "name", name) < 0
        || !cJSON_AddItemToObject(t, "artists", artists)) {
        cJSON_Delete(artists);
        goto err;
    }
    if (add_str_or_null(t, "album", album) < 0
        || cJSON_AddNumberToObject(t, "duration_ms", (double)duration_ms) == NULL
        || cJSON_AddStringToObject(t, "type", kind) == NULL
        || cJSON_AddBoolToObject(t, "is_local", is_local) == NULL)
        goto err;
    return t;
err:
    cJSON_Delete(t);
    return NULL;
}

/* parse_artists reads item.artists ([{name}, ...]) into an array of names;
 * entries without a name are skipped. */
static int parse_artists(const cJSON *item, cJSON **out, char *err, size_t errlen)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(item, "artists");
    const cJSON *a;
    cJSON *names = NULL, *s;
    char path[48];
    int i = 0;

    *out = NULL;
    if (list != NULL && !cJSON_IsNull(list) && !cJSON_IsArray(list)) {
        errbuf_set(err, errlen, "item.artists: not an array");
        return -1;
    }
    names = cJSON_CreateArray();
    if (names == NULL)
        goto oom;
    if (list != NULL) {
        cJSON_ArrayForEach(a, list) {
            const char *name;

            snprintf(path, sizeof path, "item.artists[%d]", i);
            if (!cJSON_IsObject(a)) {
                errbuf_set(err, errlen, "%s: not an object", path);
                goto fail;
            }
            snprintf(path, sizeof path, "item.artists[%d].", i);
            if (get_str(a, path, "name", &name, err, errlen) < 0)
                goto fail;
            if (name != NULL) {
                s = cJSON_CreateString(name);
                if (s == NULL || !cJSON_AddItemToArray(names, s)) {
                    cJSON_Delete(s);
                    goto oom;
                }
            }
            i++;
        }
    }
    *out = names;
    return 0;
oom:
    errbuf_set(err, errlen, "out of memory");
fail:
    cJSON_Delete(names);
    return -1;
}

static int parse_item(const cJSON *item, const char *cpt, struct pb_state *out, char *err,
                      size_t errlen)
{
    const char *type, *id, *uri, *name, *album = NULL, *kind, *key;
    const cJSON *sub;
    cJSON *artists = NULL, *s;
    long long duration;
    int is_local;

    if (get_str(item, "item.", "type", &type, err, errlen) < 0
        || get_str(item, "item.", "id", &id, err, errlen) < 0
        || get_str(item, "item.", "uri", &uri, err, errlen) < 0
        || get_str(item, "item.", "name", &name, err, errlen) < 0
        || get_ms(item, "item.", "duration_ms", &duration, err, errlen) < 0
        || get_bool(item, "item.", "is_local", &is_local, err, errlen) < 0)
        return -1;
    /* The item's own type wins; currently_playing_type covers items
     * without one. "chapter" and other future types are "unknown". */
    kind = kind_known(type);
    if (kind == NULL && type == NULL)
        kind = kind_known(cpt);
    if (kind == NULL)
        kind = "unknown";

    if (strcmp(kind, "episode") == 0) {
        const char *show = NULL;

        if (get_obj(item, "item.", "show", &sub, err, errlen) < 0)
            return -1;
        if (sub != NULL && get_str(sub, "item.show.", "name", &show, err, errlen) < 0)
            return -1;
        artists = cJSON_CreateArray();
        if (artists == NULL)
            goto oom;
        if (show != NULL) {
            s = cJSON_CreateString(show);
            if (s == NULL || !cJSON_AddItemToArray(artists, s)) {
                cJSON_Delete(s);
                goto oom;
            }
        }
        album = show;
        is_local = 0;
    } else {
        if (get_obj(item, "item.", "album", &sub, err, errlen) < 0)
            return -1;
        if (sub != NULL && get_str(sub, "item.album.", "name", &album, err, errlen) < 0)
            return -1;
        if (parse_artists(item, &artists, err, errlen) < 0)
            return -1;
    }

    out->present = 1;
    out->duration_ms = duration;
    snprintf(out->kind, sizeof out->kind, "%s", kind);
    /* Local tracks have no id but a uri naming the file; "" is no id. */
    key = (id != NULL && id[0]) ? id : (uri != NULL && uri[0]) ? uri : kind;
    out->item_key = key_dup(key);
    if (out->item_key == NULL)
        goto oom;
    out->track = track_form(id, uri, name, artists, album, duration, kind, is_local);
    artists = NULL; /* owned by the track now, or freed by track_form */
    if (out->track == NULL)
        goto oom;
    return 0;
oom:
    cJSON_Delete(artists);
    errbuf_set(err, errlen, "out of memory");
    return -1;
}

static int parse_device(const cJSON *dev, struct pb_state *out, char *err, size_t errlen)
{
    const char *id, *name, *type;

    if (get_str(dev, "device.", "id", &id, err, errlen) < 0
        || get_str(dev, "device.", "name", &name, err, errlen) < 0
        || get_str(dev, "device.", "type", &type, err, errlen) < 0)
        return -1;
    out->device = cJSON_CreateObject();
    if (out->device == NULL || add_str_or_null(out->device, "id", id) < 0
        || add_str_or_null(out->device, "name", name) < 0
        || add_str_or_null(out->device, "type", type) < 0)
        goto oom;
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

int ref_pb_parse_object(const char *body, size_t len, cJSON **root, char *err, size_t errlen)
{
    const char *end = NULL;

    *root = NULL;
    if (body == NULL || is_blank(body, len))
        return 1;
    *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (*root == NULL) {
        errbuf_set(err, errlen, "body: invalid JSON near byte %zu",
                   end != NULL ? (size_t)(end - body) : len);
        return -1;
    }
    if (end != NULL && !is_blank(end, len - (size_t)(end - body)))
        errbuf_set(err, errlen, "body: trailing data after JSON at byte %zu", (size_t)(end - body));
    else if (!cJSON_IsObject(*root))
        errbuf_set(err, errlen, "body: not a JSON object");
    else
        return 0;
    cJSON_Delete(*root);
    *root = NULL;
    return -1;
}

int ref_pb_parse(const char *body, size_t len, struct pb_state *out, char *err, size_t errlen)
{
    cJSON *root = NULL;
    const cJSON *item, *dev;
    const char *cpt, *kind;
    long long progress;
    int is_playing;

    memset(out, 0, sizeof *out);
    errbuf_set(err, errlen, "%s", "");
    if (body == NULL)
        len = 0;
    /* Spotify has been seen to answer 200 with no body where 204 was meant. */
    switch (ref_pb_parse_object(body, len, &root, err, errlen)) {
    case 1:
        pb_nothing(out);
        return 0;
    case -1:
        goto fail;
    }
    if (get_bool(root, "", "is_playing", &is_playing, err, errlen) < 0
        || get_ms(root, "", "progress_ms", &progress, err, errlen) < 0
        || get_str(root, "", "currently_playing_type", &cpt, err, errlen) < 0
        || get_obj(root, "", "item", &item, err, errlen) < 0
        || get_obj(root, "", "device", &dev, err, errlen) < 0)
        goto fail;

    out->known = 1;
    if (dev != NULL && parse_device(dev, out, err, errlen) < 0)
        goto fail;
    if (item != NULL) {
        if (parse_item(item, cpt, out, err, errlen) < 0)
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
        out->present = 1;
        snprintf(out->kind, sizeof out->kind, "%s", kind);
        out->item_key = strdup(kind);
        out->track = track_form(NULL, NULL, NULL, NULL, NULL, 0, kind, 0);
        if (out->item_key == NULL || out->track == NULL) {
            errbuf_set(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (out->present) {
        out->is_playing = is_playing;
        out->progress_ms = progress;
        if (out->duration_ms > 0 && out->progress_ms > out->duration_ms)
            out->progress_ms = out->duration_ms;
    }
    cJSON_Delete(root);
    return 0;
fail:
    cJSON_Delete(root);
    pb_state_free(out);
    return -1;
}

char *ref_pb_state_encode(const struct pb_state *s)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;

    if (o == NULL || cJSON_AddNumberToObject(o, "v", 1) == NULL)
        goto done;
    if (!s->known)
        goto print;
    if (cJSON_AddNumberToObject(o, "p", s->present ? 1 : 0) == NULL)
        goto done;
    if (s->present
        && (cJSON_AddNumberToObject(o, "pl", s->is_playing ? 1 : 0) == NULL
            || cJSON_AddStringToObject(o, "k", s->item_key ? s->item_key : "") == NULL
            || cJSON_AddStringToObject(o, "kd", s->kind) == NULL))
        goto done;
    if (s->device_id != NULL && cJSON_AddStringToObject(o, "d", s->device_id) == NULL)
        goto done;
    if (s->present
        && (cJSON_AddNumberToObject(o, "pr", (double)s->progress_ms) == NULL
            || cJSON_AddNumberToObject(o, "du", (double)s->duration_ms) == NULL))
        goto done;
print:
    text = cJSON_PrintUnformatted(o);
done:
    cJSON_Delete(o);
    return text;
}

/* dec_flag reads a 0/1 number; dec_ms an integral ms count in range. */
static int dec_flag(const cJSON *o, const char *name, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    if (!cJSON_IsNumber(v) || (v->valuedouble != 0 && v->valuedouble != 1))
        return -1;
    *out = v->valuedouble == 1;
    return 0;
}

static int dec_ms(const cJSON *o, const char *name, long long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > (double)PB_MS_MAX)
        return -1;
    *out = (long long)v->valuedouble;
    return (double)*out == v->valuedouble ? 0 : -1;
}

int ref_pb_state_decode(const char *text, struct pb_state *out)
{
    cJSON *o = NULL;
    const cJSON *v, *k, *kd, *d;

    memset(out, 0, sizeof *out);
    if (text == NULL || text[0] == '\0')
        return 0;
    o = cJSON_Parse(text);
    if (!cJSON_IsObject(o))
        goto fail;
    v = cJSON_GetObjectItemCaseSensitive(o, "v");
    if (!cJSON_IsNumber(v) || v->valuedouble != 1)
        goto fail;
    if (cJSON_GetObjectItemCaseSensitive(o, "p") == NULL) {
        cJSON_Delete(o); /* {"v":1}: a state written before any observation */
        return 0;
    }
    if (dec_flag(o, "p", &out->present) < 0)
        goto fail;
    d = cJSON_GetObjectItemCaseSensitive(o, "d");
    if (d != NULL) {
        if (!cJSON_IsString(d) || d->valuestring == NULL || d->valuestring[0] == '\0')
            goto fail;
        out->device_id = strdup(d->valuestring);
        if (out->device_id == NULL)
            goto fail;
    }
    if (out->present) {
        k = cJSON_GetObjectItemCaseSensitive(o, "k");
        kd = cJSON_GetObjectItemCaseSensitive(o, "kd");
        if (dec_flag(o, "pl", &out->is_playing) < 0 || !cJSON_IsString(k)
            || k->valuestring == NULL || !cJSON_IsString(kd) || kd->valuestring == NULL
            || strlen(kd->valuestring) >= sizeof out->kind
            || dec_ms(o, "pr", &out->progress_ms) < 0 || dec_ms(o, "du", &out->duration_ms) < 0)
            goto fail;
        snprintf(out->kind, sizeof out->kind, "%s", kd->valuestring);
        out->item_key = strdup(k->valuestring);
        if (out->item_key == NULL)
            goto fail;
    }
    out->known = 1;
    cJSON_Delete(o);
    return 0;
fail:
    cJSON_Delete(o);
    pb_state_free(out);
    return -1;
}

cJSON *ref_pb_item_track(const cJSON *item, char *err, size_t errlen)
{
    struct pb_state s;
    cJSON *track;

    memset(&s, 0, sizeof s);
    errbuf_set(err, errlen, "%s", "");
    if (!cJSON_IsObject(item)) {
        errbuf_set(err, errlen, "item: not an object");
        return NULL;
    }
    if (parse_item(item, NULL, &s, err, errlen) < 0) {
        pb_state_free(&s);
        return NULL;
    }
    track = s.track;
    s.track = NULL;
    pb_state_free(&s);
    return track;
}

static int play_cmp(const void *a, const void *b)
{
    const struct history_play *x = a, *y = b;

    return x->played_at_ms < y->played_at_ms ? -1 : x->played_at_ms > y->played_at_ms;
}

int ref_history_parse(const char *body, size_t len, long long after_ms, struct history_page *out,
                  char *err, size_t errlen)
{
    cJSON *root = NULL;
    const cJSON *items, *it;
    struct history_play *all = NULL;
    int nall = 0, cap = 0, i = 0, nraw = 0;
    char sub[160];

    memset(out, 0, sizeof *out);
    out->cursor_ms = after_ms;
    errbuf_set(err, errlen, "%s", "");
    if (body == NULL)
        len = 0;
    switch (ref_pb_parse_object(body, len, &root, err, errlen)) {
    case 1:
        errbuf_set(err, errlen, "body: empty");
        return -1;
    case -1:
        goto fail;
    }
    items = cJSON_GetObjectItemCaseSensitive(root, "items");
    if (items != NULL && !cJSON_IsNull(items) && !cJSON_IsArray(items)) {
        errbuf_set(err, errlen, "items: not an array");
        goto fail;
    }
    if (items == NULL || cJSON_IsNull(items))
        goto done;

    cJSON_ArrayForEach(it, items) {
        const cJSON *track, *at;
        long long played;

        nraw++;
        if (!cJSON_IsObject(it)) {
            errbuf_set(err, errlen, "items[%d]: not an object", i);
            goto fail;
        }
        at = cJSON_GetObjectItemCaseSensitive(it, "played_at");
        if (!cJSON_IsString(at) || at->valuestring == NULL) {
            errbuf_set(err, errlen, "items[%d].played_at: not a string", i);
            goto fail;
        }
        if (history_parse_time(at->valuestring, &played) < 0) {
            errbuf_set(err, errlen, "items[%d].played_at: not an ISO 8601 time", i);
            goto fail;
        }
        track = cJSON_GetObjectItemCaseSensitive(it, "track");
        if (track != NULL && !cJSON_IsNull(track) && !cJSON_IsObject(track)) {
            errbuf_set(err, errlen, "items[%d].track: not an object", i);
            goto fail;
        }
        i++;
        if (track == NULL || cJSON_IsNull(track) || played <= after_ms)
            continue;
        if (nall == cap) {
            int ncap = cap ? cap * 2 : 16;
            struct history_play *grown = realloc(all, (size_t)ncap * sizeof *grown);

            if (grown == NULL)
                goto oom;
            all = grown;
            cap = ncap;
        }
        all[nall].played_at_ms = played;
        all[nall].track = ref_pb_item_track(track, sub, sizeof sub);
        if (all[nall].track == NULL) {
            errbuf_set(err, errlen, "items[%d].track: %s", i - 1, sub);
            goto fail;
        }
        nall++;
    }
    /* Spotify lists newest first; events go out oldest first. A stable
     * order for equal times is not needed: duplicates are dropped below. */
    if (nall > 1)
        qsort(all, (size_t)nall, sizeof *all, play_cmp);
    for (int k = 0; k < nall; k++) {
        if (out->n > 0 && out->plays[out->n - 1].played_at_ms == all[k].played_at_ms
            && cJSON_Compare(out->plays[out->n - 1].track, all[k].track, 1)) {
            cJSON_Delete(all[k].track);      /* the same play listed twice */
        } else if (out->n < HISTORY_LIMIT) {
            out->plays[out->n++] = all[k];
        } else {
            cJSON_Delete(all[k].track);      /* fetched by the next backfill */
            out->more = 1;
        }
        all[k].track = NULL;
    }
    if (out->n > 0)
        out->cursor_ms = out->plays[out->n - 1].played_at_ms;
done:
    /* A full answer with new plays may have left some out; one with none
     * (a server that ignores `after`) would only repeat itself. */
    if (nraw >= HISTORY_LIMIT && out->n > 0)
        out->more = 1;
    free(all);
    cJSON_Delete(root);
    return 0;
oom:
    errbuf_set(err, errlen, "out of memory");
fail:
    for (int k = 0; k < nall; k++)
        cJSON_Delete(all[k].track);
    free(all);
    history_page_free(out);
    out->more = 0;
    out->cursor_ms = after_ms;
    cJSON_Delete(root);
    return -1;
}

