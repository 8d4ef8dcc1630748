/* test_cluster_topo: the topology status and /healthz show, from a slot map
 * read from a CLUSTER SLOTS answer: each primary's slot count and
 * replicas, each app's slot and primary; control bytes in what Redis said
 * are written as '?' in the text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>

#include "redis/cluster_topo.h"

static void map_of(struct cluster_map *m, const char *resp)
{
    redisReader *rd = redisReaderCreate();
    void *reply = NULL;
    char err[128];
    assert_non_null(rd);
    assert_int_equal(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
    redisReaderFree(rd);
    cluster_map_init(m);
    assert_int_equal(cluster_map_from_slots(m, reply, "127.0.0.1", err, sizeof err), 0);
    freeReplyObject(reply);
}

static const char *const shards =
    "*3\r\n"
    "*4\r\n:0\r\n:5460\r\n"
    "*3\r\n$9\r\n127.0.0.1\r\n:7101\r\n$2\r\na1\r\n"
    "*3\r\n$9\r\n127.0.0.1\r\n:7104\r\n$2\r\nr1\r\n"
    "*3\r\n:5461\r\n:10922\r\n"
    "*3\r\n$9\r\n127.0.0.1\r\n:7102\r\n$2\r\na2\r\n"
    "*3\r\n:10923\r\n:16383\r\n"
    "*3\r\n$8\r\n10.0.0.3\r\n:7103\r\n$2\r\na3\r\n";

static void test_json(void **state)
{
    (void)state;
    struct cluster_map *m = malloc(sizeof *m);
    map_of(m, shards);
    const char *apps[] = {"app1", "app2"};
    cJSON *t = cluster_topo_json(m, "sw:", apps, 2);
    const cJSON *p = cJSON_GetObjectItem(t, "primaries");
    assert_int_equal(cJSON_GetArraySize(p), 3);
    int total = 0, replicas = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, p) {
        total += (int)cJSON_GetNumberValue(cJSON_GetObjectItem(it, "slots"));
        replicas += cJSON_GetArraySize(cJSON_GetObjectItem(it, "replicas"));
    }
    assert_int_equal(total, 16384);
    assert_int_equal(replicas, 1);
    /* sw:{app1}:due is slot 6469: the second shard's. */
    const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "apps"), 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(a, "app")), "app1");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(a, "slot")), 6469);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(a, "node")), "127.0.0.1:7102");

    char text[2048];
    cluster_topo_text(t, text, sizeof text);
    assert_non_null(strstr(text, "cluster: 3 primaries, 1 replicas\n"));
    assert_non_null(strstr(text, "  primary 127.0.0.1:7101 slots=5461 replicas=127.0.0.1:7104\n"));
    assert_non_null(strstr(text, "  app app1 slot=6469 on 127.0.0.1:7102\n"));
    assert_non_null(strstr(text, "  primary 10.0.0.3:7103 slots=5461 replicas=none\n"));
    /* Truncated, still terminated. */
    char small[40];
    cluster_topo_text(t, small, sizeof small);
    assert_true(strlen(small) < sizeof small);
    cJSON_Delete(t);
    free(m);
}

/* The text is built from JSON that may hold anything Redis said: control
 * bytes come out as '?'. */
static void test_text_hostile(void **state)
{
    (void)state;
    cJSON *t = cJSON_Parse("{\"primaries\":[{\"addr\":\"h\\u001b[2J:1\",\"slots\":1,\"replicas\":[\"r\\n2\"]}],"
                           "\"apps\":[{\"app\":\"a\\r\",\"slot\":3,\"node\":\"\"}]}");
    char text[512];
    assert_non_null(t);
    cluster_topo_text(t, text, sizeof text);
    assert_non_null(strstr(text, "  primary h?[2J:1 slots=1 replicas=r?2\n"));
    assert_non_null(strstr(text, "  app a? slot=3 on (no node)\n"));
    for (const char *c = text; *c; c++)
        assert_true(*c == '\n' || (*c >= 0x20 && *c < 0x7f));
    cJSON_Delete(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_text_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
