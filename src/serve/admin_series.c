/* admin_series.c: each app's poll counter sampled every ADMIN_SAMPLE_S
 * (by admin.c's sampler thread), drawn as the last hour's calls per minute
 * in an inline SVG (src/serve/admin_int.h). In memory, per serve process:
 * no Redis key of its own. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "admin_int.h"
#include "redis/key_schema.h"

#define SVG_W 600
#define SVG_H 120
#define HOUR_MS 3600000LL
#define MINUTES 60              /* bars: one a minute */

struct sample {
    long long t_ms;
    double polls;              /* the app's counter then (cumulative) */
};

/* ring: one app's last ADMIN_SERIES_N samples, oldest at (head - n). */
struct ring {
    char app[ID_MAX + 1];
    struct sample s[ADMIN_SERIES_N];
    int head, n;
};

struct admin_series {
    pthread_mutex_t lock;      /* guards everything below */
    struct ring rings[ADMIN_APPS_MAX];
    int nrings;
};

struct admin_series *admin_series_new(void)
{
    struct admin_series *s = calloc(1, sizeof *s);
    if (s)
        pthread_mutex_init(&s->lock, NULL);
    return s;
}

void admin_series_free(struct admin_series *s)
{
    if (s == NULL)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ring_of: app's ring, made when make is set and room is left; NULL else. */
static struct ring *ring_of(struct admin_series *s, const char *app, int make)
{
    for (int i = 0; i < s->nrings; i++)
        if (strcmp(s->rings[i].app, app) == 0)
            return &s->rings[i];
    if (!make || s->nrings == ADMIN_APPS_MAX || strlen(app) > ID_MAX)
        return NULL;
    struct ring *r = &s->rings[s->nrings++];
    strcpy(r->app, app);
    return r;
}

void admin_series_add(struct admin_series *s, const char *app, long long t_ms, double polls)
{
    pthread_mutex_lock(&s->lock);
    struct ring *r = ring_of(s, app, 1);
    if (r) {
        r->s[r->head] = (struct sample){t_ms, polls};
        r->head = (r->head + 1) % ADMIN_SERIES_N;
        if (r->n < ADMIN_SERIES_N)
            r->n++;
    }
    pthread_mutex_unlock(&s->lock);
}

/* minute_bars sums the counter's increases of the last hour into
 * MINUTES bars (the last one is the minute now, partial), each increase in
 * the minute of the sample that saw it; the reading now comes last. A
 * counter that went down (a reset) starts afresh rather than drawing a
 * negative bar. Returns the calls counted in all. */
static double minute_bars(const struct ring *r, long long now, double polls_now, double *bars)
{
    long long from = now - HOUR_MS;
    struct sample prev = {0, -1};
    double total = 0;
    for (int i = 0; i <= (r ? r->n : 0); i++) {
        struct sample cur = r && i < r->n ? r->s[(r->head - r->n + i + ADMIN_SERIES_N) % ADMIN_SERIES_N]
                                          : (struct sample){now, polls_now};
        if (cur.t_ms > now)
            continue;
        if (prev.polls >= 0 && cur.polls >= prev.polls && cur.t_ms >= from) {
            long long m = (cur.t_ms - from) * MINUTES / HOUR_MS;
            bars[m < MINUTES ? m : MINUTES - 1] += cur.polls - prev.polls;
            total += cur.polls - prev.polls;
        }
        prev = cur;
    }
    return total;
}

void admin_series_svg(struct admin_series *s, const char *app, long long now_ms, double polls_now,
                      double budget_min, struct hbuf *b)
{
    double bars[MINUTES] = {0}, top = budget_min > 0 ? budget_min * 1.1 : 1;
    pthread_mutex_lock(&s->lock);
    double total = minute_bars(ring_of(s, app, 0), now_ms, polls_now, bars);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < MINUTES; i++)
        if (bars[i] * 1.1 > top)
            top = bars[i] * 1.1;
    admin_hb_printf(b, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" data-total=\"%.0f\" "
                       "aria-label=\"polls per minute, last hour\">"
                       "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" class=\"bg\"/>",
                    SVG_W, SVG_H, total, SVG_W, SVG_H);
    for (int i = 0; i < MINUTES; i++) {
        double h = bars[i] / top * (SVG_H - 14);
        if (bars[i] > 0)
            admin_hb_printf(b, "<rect class=\"use\" x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\">"
                               "<title>%.0f polls, %d min ago</title></rect>",
                            i * SVG_W / MINUTES + 1, SVG_H - h, SVG_W / MINUTES - 2, h, bars[i],
                            MINUTES - 1 - i);
    }
    if (budget_min > 0) {
        double by = SVG_H - budget_min / top * (SVG_H - 14);
        admin_hb_printf(b, "<line class=\"budget\" x1=\"0\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
                           "<text x=\"4\" y=\"%.1f\" class=\"label\">budget %.0f/min</text>",
                        SVG_W, by, by, by > 12 ? by - 3 : by + 12, budget_min);
    }
    admin_hb_printf(b, "<text x=\"%d\" y=\"12\" class=\"label\" text-anchor=\"end\">%.0f polls in the "
                       "last hour (since serve started)</text></svg>",
                    SVG_W - 4, total);
}
