/* test_repl_info: INFO replication parsed (src/redis/repl_info.c): a
 * primary with replicas, a replica, and hostile text; what the Sentinels
 * say (SENTINEL MASTER, CKQUORUM), summed up. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "redis/repl_info.h"

static void test_primary(void **state)
{
    struct repl_info t;
    char line[512];
    (void)state;
    repl_info_parse("# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"
                    "slave0:ip=127.0.0.1,port=6380,state=online,offset=1000,lag=0\r\n"
                    "slave1:ip=10.0.0.2,port=6381,state=wait_bgsave,offset=0,lag=3\r\n"
                    "master_repl_offset:1042\r\n", &t);
    assert_string_equal(t.role, "master");
    assert_int_equal(t.nreplicas, 2);
    assert_int_equal(t.kept, 2);
    assert_int_equal(t.offset, 1042);
    assert_string_equal(t.replicas[0].addr, "127.0.0.1:6380");
    assert_string_equal(t.replicas[1].state, "wait_bgsave");
    assert_int_equal(t.replicas[0].offset, 1000);
    assert_int_equal(t.replicas[1].lag_s, 3);
    repl_info_text(&t, line, sizeof line);
    assert_string_equal(line, "primary, 2 replicas: 127.0.0.1:6380 online offset_lag=42 B lag=0 s;"
                              " 10.0.0.2:6381 wait_bgsave offset_lag=1042 B lag=3 s");
    cJSON *j = repl_info_json(&t);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "role")), "primary");
    cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "replicas"), 0);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(r0, "offset_lag")), 42);
    cJSON_Delete(j);
}

static void test_replica(void **state)
{
    struct repl_info t;
    char line[256];
    (void)state;
    repl_info_parse("role:slave\nmaster_host:127.0.0.1\nmaster_port:6379\nmaster_link_status:down\n"
                    "connected_slaves:0\nmaster_repl_offset:7\n", &t);
    repl_info_text(&t, line, sizeof line);
    assert_string_equal(line, "replica of 127.0.0.1:6379 (link down), 0 replicas");
}

/* Hostile: control characters dropped, long values cut, garbage skipped,
 * more replicas than kept still counted, a short buffer never overrun. */
static void test_hostile(void **state)
{
    struct repl_info t;
    char text[8192], line[16];
    size_t k = 0;
    (void)state;
    k += (size_t)snprintf(text + k, sizeof text - k, "role:mas\x1b[31mter\nconnected_slaves:40\nnonsense\n:x\n");
    for (int i = 0; i < 40; i++)
        k += (size_t)snprintf(text + k, sizeof text - k, "slave%d:ip=%0100d,port=1,state=online,offset=-5\n", i, i);
    repl_info_parse(text, &t);
    assert_string_equal(t.role, "mas[31mter");
    assert_int_equal(t.nreplicas, 40);
    assert_int_equal(t.kept, REPL_REPLICAS_MAX);
    assert_true(strlen(t.replicas[0].addr) < REPL_FIELD_MAX);
    assert_int_equal(t.replicas[0].offset, -1);
    assert_int_equal(t.offset, -1);
    repl_info_text(&t, line, sizeof line);
    assert_true(strlen(line) < sizeof line);
    repl_info_parse("", &t);
    assert_int_equal(t.nreplicas, -1);
}

/* str: a string reply element (type given), on the stack of the test. */
static redisReply str(int type, char *v)
{
    redisReply r = {0};
    r.type = type;
    r.str = v;
    r.len = strlen(v);
    return r;
}

/* master_reply: SENTINEL MASTER's flat field/value array from pairs. */
static void master_reply(redisReply *arr, redisReply *el, redisReply **ptrs, char **kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        el[i] = str(REDIS_REPLY_STRING, kv[i]);
        ptrs[i] = &el[i];
    }
    memset(arr, 0, sizeof *arr);
    arr->type = REDIS_REPLY_ARRAY;
    arr->elements = n;
    arr->element = ptrs;
}

static void test_sentinels(void **state)
{
    char *kv[] = {"name", "sw", "ip", "127.0.0.1", "port", "6379", "flags", "master", "num-slaves", "1",
                  "num-other-sentinels", "2", "quorum", "2", "odd-field"};
    redisReply el[15], *ptrs[15], arr, ok = str(REDIS_REPLY_STATUS, "OK 3 usable Sentinels. Quorum and failover "
                                                                   "authorization can be reached");
    redisReply err = str(REDIS_REPLY_ERROR, "NOQUORUM 1 usable Sentinels. Not enough available Sentinels");
    struct repl_sentinels t = {.n = 3};
    char line[1024];
    (void)state;
    snprintf(t.master, sizeof t.master, "sw");
    master_reply(&arr, el, ptrs, kv, 15);
    repl_sentinel_init(&t.node[0], "10.0.0.1:26379");
    repl_sentinel_parse_master(&arr, "", &t.node[0]);
    repl_sentinel_parse_ckquorum(&ok, &t.node[0]);
    assert_int_equal(t.node[0].up, 1);
    assert_string_equal(t.node[0].primary, "127.0.0.1:6379");
    assert_int_equal(t.node[0].quorum, 2);
    assert_int_equal(t.node[0].sentinels, 3);   /* the other two, and itself */
    assert_int_equal(t.node[0].replicas, 1);
    assert_int_equal(t.node[0].quorum_ok, 1);
    t.node[1] = t.node[0];
    snprintf(t.node[1].addr, sizeof t.node[1].addr, "10.0.0.2:26379");
    repl_sentinel_parse_ckquorum(&err, &t.node[1]);
    assert_int_equal(t.node[1].quorum_ok, 0);
    repl_sentinel_init(&t.node[2], "10.0.0.3:26379");
    repl_sentinel_parse_master(NULL, "Connection refused", &t.node[2]);
    assert_int_equal(t.node[2].up, 0);
    repl_sentinels_text(&t, line, sizeof line);
    assert_string_equal(line, "master sw: 2 of 3 Sentinels answer, primary 127.0.0.1:6379, quorum 2, "
                              "3 Sentinels known, 1 replica, CKQUORUM OK on 1; 10.0.0.3:26379 not answering: "
                              "Connection refused");

    /* they disagree: no primary named; an error reply is a reason */
    kv[3] = "10.0.0.9";
    master_reply(&arr, el, ptrs, kv, 15);
    repl_sentinel_init(&t.node[1], "10.0.0.2:26379");
    repl_sentinel_parse_master(&arr, "", &t.node[1]);
    repl_sentinel_init(&t.node[2], "10.0.0.3:26379");
    repl_sentinel_parse_master(&err, "", &t.node[2]);
    cJSON *j = repl_sentinels_json(&t);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "primary")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "agree")));
    assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "answering")), 2);
    cJSON *down = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "nodes"), 2);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(down, "up")));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(down, "why")), err.str);
    assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(j, "summary")), "disputed"));
    cJSON_Delete(j);

    /* hostile: control characters dropped, lengths bounded, a short array */
    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char *bad[] = {"ip", "1.2.3.4\r\n\033[2J", "flags", big, "quorum", "-5", "port"};
    master_reply(&arr, el, ptrs, bad, 7);
    repl_sentinel_init(&t.node[0], "h:1");
    repl_sentinel_parse_master(&arr, "", &t.node[0]);
    assert_string_equal(t.node[0].primary, "1.2.3.4[2J:");
    assert_int_equal(strlen(t.node[0].flags), REPL_FIELD_MAX - 1);
    assert_int_equal(t.node[0].quorum, -1);
    repl_sentinel_parse_ckquorum(NULL, &t.node[0]);
    assert_int_equal(t.node[0].quorum_ok, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_primary),
        cmocka_unit_test(test_replica),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_sentinels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
