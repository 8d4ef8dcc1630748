/* sim_http.h: the HTTP layer. One libmicrohttpd daemon (internal epoll
 * thread, keep-alive HTTP/1.1, optional TLS) feeds each complete request to
 * the handlers as a sim_in and sends back their sim_reply. Delayed replies
 * (latency, hang and delay faults) suspend the connection and a single timer
 * thread resumes it at the deadline, so a delay never blocks other requests. */
#ifndef SIM_HTTP_H
#define SIM_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;
struct sim_user;
struct sim_app;
struct cJSON;

/* sim_in: one complete request, valid during the handler call. */
typedef struct sim_in {
    struct MHD_Connection *conn;
    const char *method;
    const char *path;        /* URL path, no query string */
    const char *body;        /* request body (NUL-terminated), "" if none */
    size_t body_len;
    struct sim_user *user;   /* set by a handler: whom the request is for */
    struct sim_app *app;     /* set by a handler: which client made it */
    int counted;             /* counts in /sim/stats requests.* */
} sim_in;

/* sim_in_header returns a request header (case-insensitive) or NULL. */
const char *sim_in_header(const sim_in *in, const char *name);
/* sim_in_arg returns a decoded query argument or NULL. */
const char *sim_in_arg(const sim_in *in, const char *name);

#define SIM_REPLY_MAX_HDR 6

/* sim_reply: the response a handler decided on. */
typedef struct sim_reply {
    int status;              /* HTTP status; 0 with hang = never answer */
    char *body;              /* malloc'd, owned; NULL = empty */
    size_t len;
    const char *ctype;       /* static string; NULL = no Content-Type */
    int nhdr;
    char hname[SIM_REPLY_MAX_HDR][32];
    char hval[SIM_REPLY_MAX_HDR][2048];
    int64_t delay_ms;        /* real ms to hold the response back */
    int hang;                /* 1 = send nothing; close after delay_ms */
    int cut;                 /* 1 = send cut_at body bytes, then drop the connection */
    size_t cut_at;
    int gzipped;             /* the body is gzip-encoded (sim_reply_gzip) */
} sim_reply;

void sim_reply_init(sim_reply *r);
void sim_reply_free(sim_reply *r);
/* sim_reply_body sets status, content type and takes ownership of body. */
void sim_reply_body(sim_reply *r, int status, const char *ctype, char *body, size_t len);
/* sim_reply_json copies a JSON text. */
void sim_reply_json(sim_reply *r, int status, const char *json);
/* sim_reply_text copies a text/plain body. */
void sim_reply_text(sim_reply *r, int status, const char *text);
/* sim_reply_cjson prints and deletes obj. */
void sim_reply_cjson(sim_reply *r, int status, struct cJSON *obj);
/* sim_reply_api_error: Web API error {"error":{"status":N,"message":M}}. */
void sim_reply_api_error(sim_reply *r, int status, const char *message);
/* sim_reply_oauth_error: accounts error {"error":E,"error_description":D}. */
void sim_reply_oauth_error(sim_reply *r, int status, const char *error, const char *desc);
/* sim_reply_gzip replaces the body by its gzip encoding and labels it
 * (Content-Encoding: gzip); once only, and nothing for an empty body. */
void sim_reply_gzip(sim_reply *r);
/* sim_in_accepts_gzip: the request's Accept-Encoding names gzip (or "*")
 * with a q above 0, as api.spotify.com answers compressed then. */
int sim_in_accepts_gzip(const sim_in *in);
/* sim_reply_header adds a header (silently dropped past SIM_REPLY_MAX_HDR). */
void sim_reply_header(sim_reply *r, const char *name, const char *value);
/* sim_reply_retry_after adds Retry-After: ceil(ms/1000), at least 1, unless
 * omit_retry_after is on. */
void sim_reply_retry_after(sim_reply *r, int64_t ms);

/* sim_http_start starts the daemon on bind_addr:port (port 0 = any free
 * port). tls_cert/tls_key are PEM texts or NULL. threads > 1 uses a thread
 * pool. Returns 0 and the bound port, or -1 with err. */
int sim_http_start(const char *bind_addr, int port, const char *tls_cert, const char *tls_key,
                   int threads, int *bound_port, char *err, size_t errlen);
/* sim_http_stop releases delayed requests, stops the daemon and the timer. */
void sim_http_stop(void);

#endif
