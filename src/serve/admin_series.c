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

/* rate_points: the samples of the last hour and the reading now turned into
 * (time, calls per minute) points between consecutive samples; returns how
 * many (at most ADMIN_SERIES_N). A counter that went down (a reset) starts
 * afresh rather than drawing a negative rate. */
static int rate_points(const struct ring *r, long long now, double polls_now, double *x, double *y)
{
    struct sample all[ADMIN_SERIES_N + 1];
    int n = 0, out = 0;
    for (int i = 0; r && i < r->n; i++) {
        const struct sample *p = &r->s[(r->head - r->n + i + ADMIN_SERIES_N) % ADMIN_SERIES_N];
        if (p->t_ms >= now - HOUR_MS && p->t_ms < now)
            all[n++] = *p;
    }
    all[n++] = (struct sample){now, polls_now};
    for (int i = 1; i < n; i++) {
        double dt = (double)(all[i].t_ms - all[i - 1].t_ms), d = all[i].polls - all[i - 1].polls;
        if (dt <= 0 || d < 0)
            continue;
        x[out] = (double)(all[i].t_ms - (now - HOUR_MS));
        y[out++] = d * 60000.0 / dt;
    }
    return out;
}

void admin_series_svg(struct admin_series *s, const char *app, long long now_ms, double polls_now,
                      double budget_min, struct hbuf *b)
{
    double x[ADMIN_SERIES_N + 1], y[ADMIN_SERIES_N + 1], top = budget_min > 0 ? budget_min * 1.1 : 1;
    pthread_mutex_lock(&s->lock);
    int n = rate_points(ring_of(s, app, 0), now_ms, polls_now, x, y);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < n; i++)
        if (y[i] * 1.1 > top)
            top = y[i] * 1.1;
    admin_hb_printf(b, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" "
                       "aria-label=\"calls per minute, last hour\">"
                       "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" class=\"bg\"/>",
                    SVG_W, SVG_H, SVG_W, SVG_H);
    if (budget_min > 0) {
        double by = SVG_H - budget_min / top * (SVG_H - 10);
        admin_hb_printf(b, "<line class=\"budget\" x1=\"0\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
                           "<text x=\"4\" y=\"%.1f\" class=\"label\">budget %.0f/min</text>",
                        SVG_W, by, by, by > 12 ? by - 3 : by + 12, budget_min);
    }
    admin_hb_printf(b, "<polyline class=\"use\" data-points=\"%d\" points=\"", n);
    for (int i = 0; i < n; i++)
        admin_hb_printf(b, "%s%.1f,%.1f", i ? " " : "", x[i] / (double)HOUR_MS * SVG_W,
                        SVG_H - y[i] / top * (SVG_H - 10));
    admin_hb_printf(b, "\"/><text x=\"%d\" y=\"12\" class=\"label\" text-anchor=\"end\">"
                       "now %.0f/min</text></svg>",
                    SVG_W - 4, n ? y[n - 1] : 0);
}
