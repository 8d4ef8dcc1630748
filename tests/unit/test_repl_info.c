/* test_repl_info: INFO replication parsed (src/redis/repl_info.c): a
 * primary with replicas, a replica, and hostile text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_primary),
        cmocka_unit_test(test_replica),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
