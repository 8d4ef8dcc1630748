/* playback_forms: the fields of a /me/player answer that only events need
 * (the item's id, uri, name, artists, album, duration, type, is_local; the
 * device's id, name, type), kept as plain strings by pb_parse, and their
 * event forms as cJSON built from them on demand.
 *
 * Most polls announce nothing, so pb_parse no longer builds the cJSON forms
 * of the track and the device (about 6,000 instructions a poll to build and
 * free): it keeps these fields in one allocation, and pb_diff builds the forms
 * only for an event (include/spotify/playback.h). */
#ifndef SPOTWATCH_SPOTIFY_PLAYBACK_FORMS_H
#define SPOTWATCH_SPOTIFY_PLAYBACK_FORMS_H

#include <cjson/cJSON.h>

/* PB_FORMS_FEW: artists held without an allocation while parsing. */
#define PB_FORMS_FEW 8

/* pb_forms: a view of the fields (strings NULL when absent or null). In a
 * copy from pb_forms_copy every string is inside the copy's allocation. */
struct pb_forms {
    int has_item;          /* an item (or a placeholder for an ad...) is loaded */
    const char *id, *uri, *name, *album, *kind;
    long long duration_ms;
    int is_local;
    const char **artists;  /* nartists names */
    int nartists;
    int has_device;        /* a device object was present (its id may be null) */
    const char *dev_id, *dev_name, *dev_type;
};

/* pb_forms_acc: a pb_forms being filled by a parse, its strings borrowed
 * from the parse's scratch; artists go in few until there are more. */
struct pb_forms_acc {
    struct pb_forms f;
    const char *few[PB_FORMS_FEW];
    int cap;
};

/* pb_forms_acc_init empties a; pb_forms_acc_free frees what it allocated
 * (not the strings). */
void pb_forms_acc_init(struct pb_forms_acc *a);
void pb_forms_acc_free(struct pb_forms_acc *a);

/* pb_forms_add_artist appends a borrowed name. 0, or -1 out of memory. */
int pb_forms_add_artist(struct pb_forms_acc *a, const char *name);

/* pb_forms_copy returns one malloc'd block holding f and copies of its
 * strings (the caller frees it with free), or NULL out of memory. */
struct pb_forms *pb_forms_copy(const struct pb_forms *f);

/* pb_forms_track returns the track's event form {"id","uri","name",
 * "artists":[..],"album","duration_ms","type","is_local"}, or NULL (no item,
 * or out of memory); pb_forms_device {"id","name","type"}, or NULL (no
 * device, or out of memory). The caller frees them with cJSON_Delete. */
cJSON *pb_forms_track(const struct pb_forms *f);
cJSON *pb_forms_device(const struct pb_forms *f);

#endif
