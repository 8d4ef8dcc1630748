/* sim_faults.h: injected faults (POST/GET/DELETE /sim/faults).
 *
 * A fault has a kind, filters (user id, client id, path prefix: all optional)
 * and a budget: `count` matching requests, or each matching request with
 * probability `fraction` (unlimited unless count is also given). The first
 * matching fault in creation order applies to a request of /v1/... or
 * /api/token, and its budget is then spent. */
#ifndef SIM_FAULTS_H
#define SIM_FAULTS_H

#include <stdint.h>

#include "sim_http.h"

struct cJSON;

/* sim_fault_kind: what the fault does to the response. */
typedef enum {
    SIM_FAULT_NONE,
    SIM_FAULT_STATUS,       /* answer `status` (JSON, or HTML with html:true) */
    SIM_FAULT_HANG,         /* answer nothing; close the connection after ms */
    SIM_FAULT_DELAY,        /* answer normally, ms later */
    SIM_FAULT_CLOSE,        /* send headers and half the body, then drop */
    SIM_FAULT_TRUNCATE,     /* a valid HTTP response whose JSON body is cut short */
    SIM_FAULT_MALFORMED,    /* a JSON body with a syntax error */
    SIM_FAULT_EXTRA_FIELDS, /* unexpected extra members of assorted types */
    SIM_FAULT_WRONG_TYPES,  /* known members with unexpected types */
    SIM_FAULT_BIG_BODY,     /* the body padded with `size` bytes */
    SIM_FAULT_GZIP          /* the body gzip-compressed with Content-Encoding: gzip, asked or not */
} sim_fault_kind;

/* sim_fault_hit: the part of a matched fault applied after the handler. */
typedef struct sim_fault_hit {
    sim_fault_kind kind;
    int64_t ms;
    long size;
} sim_fault_hit;

void sim_faults_init(void);
void sim_faults_free(void);
/* sim_faults_add parses a /sim/faults body; returns the new id or -1 + err. */
long sim_faults_add(const struct cJSON *body, char *err, size_t errlen);
void sim_faults_clear(void);
/* sim_faults_del removes one fault; returns 0 or -1 if unknown. */
int sim_faults_del(long id);
/* sim_faults_to_json returns a new array describing the active faults. */
struct cJSON *sim_faults_to_json(void);

/* sim_faults_pre looks for a fault matching the request. Returns 1 if the
 * reply is fully decided (status, hang), else 0 with hit set for
 * sim_faults_post (kind NONE if nothing matched). */
int sim_faults_pre(const char *path, const char *user, const char *app, sim_reply *out,
                   sim_fault_hit *hit);
/* sim_faults_post mangles the handler's reply according to hit. */
void sim_faults_post(const sim_fault_hit *hit, sim_reply *out);

#endif
