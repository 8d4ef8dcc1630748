/* out.c: how the operator commands print (src/cli/cli_int.h): aligned
 * tables, times for people (ISO 8601, "12s ago") and for machines (ms and
 * ISO 8601 side by side), numbers as numbers in JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli_int.h"

void cli_table_init(struct cli_table *t, int ncol, const char *const *head)
{
    memset(t, 0, sizeof *t);
    t->ncol = ncol;
    t->head = head;
}

int cli_table_row(struct cli_table *t, const char *const *cells)
{
    char e[CLI_ESC_MAX];
    if (t->nrows == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        char **p = realloc(t->cells, (size_t)cap * (size_t)t->ncol * sizeof *p);
        if (p == NULL)
            return -1;
        t->cells = p;
        t->cap = cap;
    }
    char **row = t->cells + (size_t)t->nrows * (size_t)t->ncol;
    for (int i = 0; i < t->ncol; i++) {
        row[i] = strdup(cells[i] ? cli_esc(cells[i], e, sizeof e) : "-");
        if (row[i] == NULL) {
            while (i-- > 0)
                free(row[i]);
            return -1;
        }
    }
    t->nrows++;
    return 0;
}

/* width: the characters of s (UTF-8: continuation bytes do not count). */
static int width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

void cli_table_print(struct cli_table *t, FILE *f)
{
    int *w = calloc((size_t)t->ncol, sizeof *w);
    if (w == NULL)
        return;
    for (int c = 0; c < t->ncol; c++) {
        w[c] = width(t->head[c]);
        for (int r = 0; r < t->nrows; r++) {
            int x = width(t->cells[r * t->ncol + c]);
            w[c] = x > w[c] ? x : w[c];
        }
    }
    for (int r = -1; r < t->nrows; r++) {
        for (int c = 0; c < t->ncol; c++) {
            const char *s = r < 0 ? t->head[c] : t->cells[r * t->ncol + c];
            int last = c == t->ncol - 1;
            fprintf(f, "%s%*s%s", s, last ? 0 : w[c] - width(s), "", last ? "\n" : "  ");
        }
    }
    free(w);
    cli_table_free(t);
}

void cli_table_free(struct cli_table *t)
{
    for (int i = 0; i < t->nrows * t->ncol; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}

const char *cli_iso(long long ms, char *buf, size_t n)
{
    struct tm tm;
    time_t s = (time_t)(ms / 1000);
    buf[0] = '\0';
    if (ms <= 0 || gmtime_r(&s, &tm) == NULL)
        return buf;
    size_t len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + len, n - len, ".%03lldZ", ms % 1000);
    return buf;
}

const char *cli_ago(long long ms, long long now, char *buf, size_t n)
{
    static const struct {
        long long ms;
        const char *unit;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    if (ms <= 0) {
        snprintf(buf, n, "-");
        return buf;
    }
    long long d = now - ms, a = d < 0 ? -d : d;
    size_t u = 0;
    while (u + 1 < sizeof units / sizeof units[0] && a < units[u].ms)
        u++;
    if (a < 1000)
        snprintf(buf, n, "now");
    else
        snprintf(buf, n, d >= 0 ? "%lld%s ago" : "in %lld%s", a / units[u].ms, units[u].unit);
    return buf;
}

int cli_is_time_field(const char *name)
{
    size_t n = strlen(name);
    return (n > 3 && strcmp(name + n - 3, "_at") == 0) || strcmp(name, "started") == 0 ||
           strcmp(name, "backfill_cursor") == 0;
}

/* whole: 1 when s is a whole decimal number exact in a double. */
static int whole(const char *s)
{
    const char *p = s + (*s == '-');
    size_t n = strspn(p, "0123456789");
    return n > 0 && n <= 15 && p[n] == '\0' && (n == 1 || p[0] != '0');
}

/* text_field: 1 for a field that holds text even when it looks like a
 * number (a display name "1984", a Spotify id, a status code's words). */
static int text_field(const char *name)
{
    static const char *const text[] = {"user", "app", "status", "reason", "scope", "spotify_id", "display_name",
                                       "last_outcome", "last_error", "client_id", "mode",
                                       "block_reason", "id", "host", "developer", NULL};
    for (int i = 0; text[i]; i++)
        if (strcmp(name, text[i]) == 0)
            return 1;
    return 0;
}

void cli_json_field(cJSON *o, const char *name, const char *value)
{
    if (!whole(value) || text_field(name)) {
        cJSON_AddStringToObject(o, name, value);
        return;
    }
    if (cli_is_time_field(name))
        cli_json_time(o, name, strtoll(value, NULL, 10));
    else
        cJSON_AddNumberToObject(o, name, (double)strtoll(value, NULL, 10));
}

void cli_json_time(cJSON *o, const char *name, long long ms)
{
    char key[128], iso[40];
    cJSON_AddNumberToObject(o, name, (double)ms);
    snprintf(key, sizeof key, "%s_iso", name);
    if (ms > 0)
        cJSON_AddStringToObject(o, key, cli_iso(ms, iso, sizeof iso));
    else
        cJSON_AddNullToObject(o, key);
}

const char *cli_budget(long long budget, long long window_ms, char *buf, size_t n)
{
    if (budget <= 0)
        snprintf(buf, n, "unlimited");
    else
        snprintf(buf, n, "%lld/%gs", budget, (double)window_ms / 1000);
    return buf;
}

cJSON *cli_count_users(struct redis_sync *r, const struct sw_config *c)
{
    char users[KEY_MAX];
    keys_global(users, sizeof users, c->key_prefix, "users");
    const char *hv[] = {"HVALS", users};
    redisReply *rep = cli_cmd(r, 2, hv);
    if (rep == NULL)
        return NULL;
    cJSON *by = cJSON_CreateObject();
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        const char *app = rep->element[i]->str ? rep->element[i]->str : "";
        cJSON *n = cJSON_GetObjectItemCaseSensitive(by, app);
        if (n)
            cJSON_SetNumberValue(n, n->valuedouble + 1);
        else
            cJSON_AddNumberToObject(by, app, 1);
    }
    freeReplyObject(rep);
    return by;
}

void cli_print_pairs(const cJSON *o, const char *prefix, long long now)
{
    char name[CLI_ESC_MAX], val[CLI_ESC_MAX], full[300], ago[24];
    for (const cJSON *it = o->child; it; it = it->next) {
        size_t len = strlen(it->string);
        if (len > 4 && strcmp(it->string + len - 4, "_iso") == 0)
            continue;
        snprintf(full, sizeof full, "%s%s", prefix, it->string);
        if (cJSON_IsObject(it)) {
            snprintf(full, sizeof full, "%s%s.", prefix, it->string);
            cli_print_pairs(it, full, now);
            continue;
        }
        cli_esc(full, name, sizeof name);
        if (cJSON_IsString(it))
            printf("%-28s %s\n", name, cli_esc(it->valuestring, val, sizeof val));
        else if (cJSON_IsBool(it))
            printf("%-28s %s\n", name, cJSON_IsTrue(it) ? "yes" : "no");
        else if (cJSON_IsNumber(it) && cli_is_time_field(it->string) && it->valuedouble > 0)
            printf("%-28s %s (%s)\n", name, cli_iso((long long)it->valuedouble, val, sizeof val),
                   cli_ago((long long)it->valuedouble, now, ago, sizeof ago));
        else if (cJSON_IsNumber(it))
            printf("%-28s %.0f\n", name, it->valuedouble);
        else
            printf("%-28s -\n", name);
    }
}

