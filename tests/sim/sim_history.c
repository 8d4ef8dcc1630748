/* sim_history.c: see sim_history.h. */
#include "sim_history.h"
#include "sim_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void played_free(sim_played *p)
{
    free(p->json);
    free(p->json_dev);
    free(p->context_json);
}

void sim_history_free(sim_history *h)
{
    for (int i = 0; i < h->n; i++)
        played_free(&h->items[i]);
    h->n = 0;
}

void sim_history_add(sim_history *h, int64_t played_at_ms, int64_t visible_ms,
                     const char *json, const char *json_dev, const char *context_json)
{
    if (h->n == SIM_HISTORY_MAX) {
        if (played_at_ms < h->items[0].played_at_ms)
            return; /* older than everything kept: it would be dropped at once */
        played_free(&h->items[0]);
        memmove(&h->items[0], &h->items[1], (size_t)(h->n - 1) * sizeof h->items[0]);
        h->n--;
    }
    /* after every entry with the same or an older played_at: stable */
    int at = h->n;
    while (at > 0 && h->items[at - 1].played_at_ms > played_at_ms)
        at--;
    memmove(&h->items[at + 1], &h->items[at], (size_t)(h->n - at) * sizeof h->items[0]);
    sim_played *p = &h->items[at];
    p->played_at_ms = played_at_ms;
    p->visible_ms = visible_ms;
    p->json = sim_xstrdup(json);
    p->json_dev = sim_xstrdup(json_dev);
    p->context_json = sim_xstrdup(context_json);
    h->n++;
}

void sim_history_record(sim_history *h, int64_t start_ms, int64_t end_ms, int64_t played_ms,
                        int reached_end, const char *json, const char *json_dev,
                        const char *context_json)
{
    if (sim_cfg.recent_requires_end ? !(reached_end && played_ms > 0)
                                    : played_ms < sim_cfg.recent_min_ms)
        return;
    /* Draw the random parts only when asked for, so a seed gives the same
     * tokens as before these settings existed. */
    int offline = sim_cfg.recent_offline_fraction > 0 &&
                  sim_rand01() < sim_cfg.recent_offline_fraction;
    int64_t delay = sim_cfg.recent_delay_ms;
    if (sim_cfg.recent_delay_jitter_ms > 0)
        delay += (int64_t)(sim_rand01() * (double)sim_cfg.recent_delay_jitter_ms);
    sim_history_add(h, offline ? start_ms : end_ms, end_ms + delay, json, json_dev,
                    context_json);
}

int sim_history_visible(const sim_history *h, int64_t now)
{
    int n = 0;
    for (int i = 0; i < h->n; i++)
        n += h->items[i].visible_ms <= now;
    return n;
}

void sim_history_render(const sim_history *h, int64_t now, int limit, int64_t after,
                        int64_t before, int dev_shape, const char *href_base, sim_buf *out)
{
    /* items are oldest..newest; the API lists newest first. With `after`,
     * return the `limit` oldest entries newer than after; otherwise the
     * `limit` newest entries older than before (if set). */
    int idx[SIM_HISTORY_MAX];
    int n = 0;
    if (after >= 0) {
        for (int i = 0; i < h->n && n < limit; i++)
            if (h->items[i].visible_ms <= now && h->items[i].played_at_ms > after)
                idx[n++] = i;
        for (int i = 0; i < n / 2; i++) {
            int t = idx[i];
            idx[i] = idx[n - 1 - i];
            idx[n - 1 - i] = t;
        }
    } else {
        for (int i = h->n - 1; i >= 0 && n < limit; i--)
            if (h->items[i].visible_ms <= now && (before < 0 || h->items[i].played_at_ms < before))
                idx[n++] = i;
    }
    sim_buf_puts(out, "{\"href\":");
    char href[512];
    if (after >= 0)
        snprintf(href, sizeof href, "%s?limit=%d&after=%lld", href_base, limit, (long long)after);
    else if (before >= 0)
        snprintf(href, sizeof href, "%s?limit=%d&before=%lld", href_base, limit,
                 (long long)before);
    else
        snprintf(href, sizeof href, "%s?limit=%d", href_base, limit);
    sim_buf_json_str(out, href);
    sim_buf_printf(out, ",\"limit\":%d,\"next\":", limit);
    if (n > 0) {
        snprintf(href, sizeof href, "%s?before=%lld&limit=%d", href_base,
                 (long long)h->items[idx[n - 1]].played_at_ms, limit);
        sim_buf_json_str(out, href);
        sim_buf_printf(out, ",\"cursors\":{\"after\":\"%lld\",\"before\":\"%lld\"}",
                       (long long)h->items[idx[0]].played_at_ms,
                       (long long)h->items[idx[n - 1]].played_at_ms);
    } else {
        sim_buf_puts(out, "null,\"cursors\":null");
    }
    sim_buf_printf(out, ",\"total\":%d,\"items\":[", sim_history_visible(h, now));
    for (int i = 0; i < n; i++) {
        const sim_played *p = &h->items[idx[i]];
        char ts[40];
        sim_iso8601(p->played_at_ms, ts);
        sim_buf_printf(out, "%s{\"track\":%s,\"played_at\":\"%s\",\"context\":%s}", i ? "," : "",
                       dev_shape && p->json_dev ? p->json_dev : p->json, ts,
                       p->context_json ? p->context_json : "null");
    }
    sim_buf_puts(out, "]}");
}
