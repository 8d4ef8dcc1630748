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

/* ================================ Sentinels ================================ */
/* With redis-sentinel set, the topology also says what the Sentinels see
 * (README, "Sentinel"): which answer, the primary they name, the quorum,
 * how many Sentinels and replicas each knows, and whether each finds the
 * quorum and a majority reachable (SENTINEL CKQUORUM). Their answers are
 * hostile text like INFO's: bounded, printable ASCII only. */
#define REPL_SENTINELS_MAX 16
#define REPL_WHY_MAX 160

/* repl_sentinel: one Sentinel's view of the master, or why it gave none. */
struct repl_sentinel {
    char addr[REPL_FIELD_MAX];    /* as configured in redis-sentinel: "host:port" */
    int up;                       /* 1: SENTINEL MASTER answered */
    char why[REPL_WHY_MAX];       /* up: CKQUORUM's answer; else why not (never a password) */
    char primary[REPL_FIELD_MAX]; /* "ip:port" of the primary it names */
    char flags[REPL_FIELD_MAX];   /* its flags for it: "master", "master,s_down", ... */
    int quorum;                   /* -1 unknown */
    int sentinels;                /* Sentinels it knows, itself included (-1 unknown) */
    int replicas;                 /* replicas it knows (-1 unknown) */
    int quorum_ok;                /* CKQUORUM: 1 OK, 0 refused, -1 unknown */
};

/* repl_sentinels: every configured Sentinel's view, in redis-sentinel's order. */
struct repl_sentinels {
    char master[REPL_FIELD_MAX];  /* redis-sentinel-master */
    int n;
    struct repl_sentinel node[REPL_SENTINELS_MAX];
};

/* repl_sentinel_init empties *v for the Sentinel at addr (unknowns -1). */
void repl_sentinel_init(struct repl_sentinel *v, const char *addr);
/* repl_sentinel_parse_master fills *v from SENTINEL MASTER's reply (a flat
 * field/value array; up = 1), or sets why from an error or NULL reply
 * (errstr: the link's error then). */
void repl_sentinel_parse_master(const redisReply *r, const char *errstr, struct repl_sentinel *v);
/* repl_sentinel_parse_ckquorum reads SENTINEL CKQUORUM's reply ("+OK ..."
 * or "-NOQUORUM ...") into quorum_ok and why. */
void repl_sentinel_parse_ckquorum(const redisReply *r, struct repl_sentinel *v);

/* repl_sentinels_json: {"summary" (repl_sentinels_text's line),"master","configured","answering","primary" (null
 * when none or the answering ones disagree),"agree","quorum","known",
 * "replicas","quorum_ok" (how many found it reachable),"nodes":[{"addr",
 * "up",... or "why"}]}, the summary figures from the first answering
 * Sentinel. The caller owns the result. */
cJSON *repl_sentinels_json(const struct repl_sentinels *t);

/* repl_sentinels_text writes one line (no newline) such as "master sw: 3 of
 * 3 Sentinels answer, primary 127.0.0.1:6379, quorum 2, 3 Sentinels known,
 * 1 replica, CKQUORUM OK on 3" and then each silent one ("; 10.0.0.3:26379
 * not answering: <why>"), into buf (truncated to n). */
void repl_sentinels_text(const struct repl_sentinels *t, char *buf, size_t n);

#endif
