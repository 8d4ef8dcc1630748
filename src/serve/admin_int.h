#ifndef SW_ADMIN_INT_H
#define SW_ADMIN_INT_H
/* admin_int: what the dashboard's files share, private to src/serve/admin*.
 *
 *   admin.c         the listener: authentication, routing, headers, assets
 *   admin_pages.c   the pages (HTML rendered here, every outside string escaped)
 *   admin_actions.c the confirmation pages and the POSTed actions
 *   admin_live.c    /events: server-sent events from the apps' streams
 *   admin_series.c  the per-app poll series behind the chart (inline SVG)
 *   admin_model.c   what the pages read from Redis (admin_model.h)
 *   admin_html.c    the page buffer: printf, HTML and URL escaping
 *
 * Dependencies go one way: admin.c calls pages, actions and live; those use
 * the model, the series and the buffer. */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <hiredis/hiredis.h>
#include <microhttpd.h>
#include "serve_ctx.h"

#define ADMIN_SAMPLE_S 10          /* the chart's sampling period */
#define ADMIN_SERIES_N 361         /* samples kept per app: one hour, plus one */
#define ADMIN_APPS_MAX 64          /* apps charted */

/* hbuf: a growing page. Every write after a failed allocation is dropped and
 * oom set: the caller answers 500 instead. */
struct hbuf {
    char *s;                       /* owned, NUL-terminated */
    size_t len, cap;
    int oom;
};

void admin_hb_printf(struct hbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* admin_hb_esc appends s escaped for HTML text and quoted attributes
 * (& < > " ' and every control byte but tab). NULL appends nothing. */
void admin_hb_esc(struct hbuf *b, const char *s);
/* admin_hb_url appends s percent-encoded (a query value; safe in HTML too). */
void admin_hb_url(struct hbuf *b, const char *s);
/* admin_hb_ms appends a duration in ms readably ("3 s", "4 min", "2 h", "5 d"). */
void admin_hb_ms(struct hbuf *b, long long ms);

struct admin_series;

/* admin: the dashboard's state. Written before it listens, then read-only
 * but for stop and the series (which locks itself). */
struct admin {
    struct serve *s;               /* serve's configuration and Redis pool */
    struct http_server *http;
    unsigned char auth_sha[32];    /* SHA-256 of the one Authorization value accepted */
    char csrf[65];                 /* the form token: HMAC of auth_sha under a key made at start */
    int actions;                   /* admin-actions yes */
    atomic_int stop;               /* set first by admin_stop: live feeds and the sampler end */
    struct admin_series *series;
    pthread_t sampler;
    int sampling;
    pthread_mutex_t stop_lock;     /* with stop_cv: wakes the sampler at stop */
    pthread_cond_t stop_cv;
};

/* admin_req: one authenticated request, and what it gets. */
struct admin_req {
    struct MHD_Connection *c;
    const char *url;
    const char *body;              /* a POST's form body, or NULL */
    size_t len;
    unsigned status;
    const char *ctype;
    struct hbuf out;
    char *location;                /* owned: a 303's target */
};

/* admin_arg: a query argument of the request, or NULL. */
const char *admin_arg(const struct admin_req *q, const char *name);

/* The pages: each fills q (status, body) and returns. */
void admin_page_overview(struct admin *a, struct admin_req *q);
void admin_page_users(struct admin *a, struct admin_req *q);
void admin_page_user(struct admin *a, struct admin_req *q);
void admin_page_live(struct admin *a, struct admin_req *q);
void admin_page_error(struct admin_req *q, unsigned status, const char *title, const char *text);
/* admin_page_head / admin_page_tail: the frame every page shares. */
void admin_page_head(struct admin_req *q, const char *title, const char *nav);
void admin_page_tail(struct admin_req *q);

/* admin_action_confirm (GET /confirm): the confirmation form of an action;
 * admin_action_do (POST /action): checks the form token and does it, with an
 * audit line in the log. */
void admin_action_confirm(struct admin *a, struct admin_req *q);
void admin_action_do(struct admin *a, struct admin_req *q);

/* admin_live_answer queues /events: a stream of server-sent events read by
 * XREAD BLOCK on a Redis context of its own (closed with the stream). */
enum MHD_Result admin_live_answer(struct admin *a, struct admin_req *q,
                                  const char *const *headers);

/* The series: new/free; admin_series_add records an app's poll counter at
 * t_ms; admin_series_svg draws the app's calls per minute over the last hour
 * (plus the reading now), with the budget as a line when budget_min > 0. */
struct admin_series *admin_series_new(void);
void admin_series_free(struct admin_series *s);
void admin_series_add(struct admin_series *s, const char *app, long long t_ms, double polls);
void admin_series_svg(struct admin_series *s, const char *app, long long now_ms, double polls_now,
                      double budget_min, struct hbuf *b);

#endif
