#ifndef SW_REPL_INFO_H
#define SW_REPL_INFO_H
/* repl_info: the replication topology of the Redis a process talks to, as
 * its INFO replication section describes it, for `spotwatch status` and
 * serve's /healthz (README, "What a failover may lose").
 *
 * The text is the server's and treated as hostile: every field is bounded,
 * lines that do not parse are skipped, at most REPL_REPLICAS_MAX replicas
 * are kept (nreplicas still counts them all). Pure apart from
 * repl_info_fetch. */
#include <stddef.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#define REPL_REPLICAS_MAX 16
#define REPL_FIELD_MAX 64

/* repl_replica: one replica of a primary (a "slaveN:" line). */
struct repl_replica {
    char addr[REPL_FIELD_MAX];   /* "ip:port" */
    char state[REPL_FIELD_MAX];  /* online, wait_bgsave, ... */
    long long offset;            /* the replica's acknowledged offset, bytes */
    long long lag_s;             /* s since its last acknowledgement (-1 unknown) */
};

/* repl_info: the parsed section. */
struct repl_info {
    char role[REPL_FIELD_MAX];   /* "master" or "slave" as Redis says ("" unknown) */
    long long offset;            /* master_repl_offset, bytes (-1 unknown) */
    int nreplicas;               /* connected_slaves (-1 unknown) */
    int kept;                    /* entries of replicas filled (<= REPL_REPLICAS_MAX) */
    struct repl_replica replicas[REPL_REPLICAS_MAX];
    char master[REPL_FIELD_MAX]; /* a replica: its primary, "host:port" */
    char link[REPL_FIELD_MAX];   /* a replica: master_link_status (up, down) */
};

/* repl_info_parse fills *out from text (INFO replication's answer). */
void repl_info_parse(const char *text, struct repl_info *out);

/* repl_info_fetch asks INFO replication on r and parses it; 0, or -1 with
 * why filled (a refusal such as NOPERM, or the link lost). */
int repl_info_fetch(redisContext *r, struct repl_info *out, char *why, size_t n);

/* repl_info_json: {"role":"primary"|"replica"|<as given>,"offset",
 * "replicas":[{"addr","state","offset","offset_lag","lag_s"}], and for a
 * replica "primary","link"}. offset_lag is the primary's offset minus the
 * replica's (bytes not yet acknowledged). The caller owns the result. */
cJSON *repl_info_json(const struct repl_info *t);

/* repl_info_text writes one line (no newline) such as "primary, 1 replica:
 * 127.0.0.1:6380 online offset_lag=0 B lag=0 s" into buf (truncated to
 * n). Values come from Redis: ids are printed as parsed (the parser keeps
 * only printable characters). */
void repl_info_text(const struct repl_info *t, char *buf, size_t n);

#endif
