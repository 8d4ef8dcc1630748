/* playback_forms: the event-only fields of an answer, and their cJSON forms
 * on demand (include/spotify/playback_forms.h). */
#include "spotify/playback_forms.h"

#include <stdlib.h>
#include <string.h>

void pb_forms_acc_init(struct pb_forms_acc *a)
{
    memset(a, 0, sizeof *a);
    a->f.artists = a->few;
    a->cap = PB_FORMS_FEW;
}

void pb_forms_acc_free(struct pb_forms_acc *a)
{
    if (a->f.artists != a->few)
        free((void *)a->f.artists);
    pb_forms_acc_init(a);
}

int pb_forms_add_artist(struct pb_forms_acc *a, const char *name)
{
    if (a->f.nartists == a->cap) {
        size_t cap = (size_t)a->cap * 2;
        const char **n = malloc(cap * sizeof *n);

        if (n == NULL)
            return -1;
        memcpy(n, a->f.artists, (size_t)a->f.nartists * sizeof *n);
        if (a->f.artists != a->few)
            free((void *)a->f.artists);
        a->f.artists = n;
        a->cap = (int)cap;
    }
    a->f.artists[a->f.nartists++] = name;
    return 0;
}

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* put copies s (NULL stays NULL) at *p and moves *p past it. */
static const char *put(char **p, const char *s)
{
    char *d = *p;
    size_t n;

    if (s == NULL)
        return NULL;
    n = strlen(s) + 1;
    memcpy(d, s, n);
    *p = d + n;
    return d;
}

struct pb_forms *pb_forms_copy(const struct pb_forms *f)
{
    const char *const *strs[] = {&f->id, &f->uri, &f->name, &f->album, &f->kind,
                                 &f->dev_id, &f->dev_name, &f->dev_type};
    size_t n = sizeof(struct pb_forms) + (size_t)f->nartists * sizeof(char *);
    struct pb_forms *c;
    char *p;

    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        n += str_size(*strs[i]);
    for (int i = 0; i < f->nartists; i++)
        n += str_size(f->artists[i]);
    c = malloc(n);
    if (c == NULL)
        return NULL;
    *c = *f;
    /* the pointer array right after the struct (aligned), then the bytes */
    c->artists = (const char **)(c + 1);
    p = (char *)(c->artists + f->nartists);
    c->id = put(&p, f->id);
    c->uri = put(&p, f->uri);
    c->name = put(&p, f->name);
    c->album = put(&p, f->album);
    c->kind = put(&p, f->kind);
    c->dev_id = put(&p, f->dev_id);
    c->dev_name = put(&p, f->dev_name);
    c->dev_type = put(&p, f->dev_type);
    for (int i = 0; i < f->nartists; i++)
        c->artists[i] = put(&p, f->artists[i]);
    return c;
}

/* The event forms have constant member names: cJSON keeps a pointer to
 * them instead of a copy (they are all string literals). */
static int add_item(cJSON *obj, const char *name, cJSON *v)
{
    if (v == NULL || !cJSON_AddItemToObjectCS(obj, name, v)) {
        cJSON_Delete(v);
        return -1;
    }
    return 0;
}

/* add_str_or_null adds s, or JSON null when s is NULL. 0 or -1 (no memory). */
static int add_str_or_null(cJSON *obj, const char *name, const char *s)
{
    return add_item(obj, name, s == NULL ? cJSON_CreateNull() : cJSON_CreateString(s));
}

static cJSON *artists_form(const struct pb_forms *f)
{
    cJSON *names = cJSON_CreateArray();

    for (int i = 0; names != NULL && i < f->nartists; i++) {
        cJSON *v = cJSON_CreateString(f->artists[i]);

        if (v == NULL || !cJSON_AddItemToArray(names, v)) {
            cJSON_Delete(v);
            cJSON_Delete(names);
            return NULL;
        }
    }
    return names;
}

cJSON *pb_forms_track(const struct pb_forms *f)
{
    cJSON *t;

    if (f == NULL || !f->has_item)
        return NULL;
    t = cJSON_CreateObject();
    if (t == NULL || add_str_or_null(t, "id", f->id) < 0 || add_str_or_null(t, "uri", f->uri) < 0
        || add_str_or_null(t, "name", f->name) < 0 || add_item(t, "artists", artists_form(f)) < 0
        || add_str_or_null(t, "album", f->album) < 0
        || add_item(t, "duration_ms", cJSON_CreateNumber((double)f->duration_ms)) < 0
        || add_item(t, "type", cJSON_CreateString(f->kind ? f->kind : "unknown")) < 0
        || add_item(t, "is_local", cJSON_CreateBool(f->is_local)) < 0) {
        cJSON_Delete(t);
        return NULL;
    }
    return t;
}

cJSON *pb_forms_device(const struct pb_forms *f)
{
    cJSON *d;

    if (f == NULL || !f->has_device)
        return NULL;
    d = cJSON_CreateObject();
    if (d == NULL || add_str_or_null(d, "id", f->dev_id) < 0 || add_str_or_null(d, "name", f->dev_name) < 0
        || add_str_or_null(d, "type", f->dev_type) < 0) {
        cJSON_Delete(d);
        return NULL;
    }
    return d;
}
