/* test_cluster_map: key slots as Redis computes them (the expected values
 * were asked of a cluster-enabled redis-server 7.0, CLUSTER KEYSLOT), a
 * CLUSTER SLOTS answer read into a map, redirections, seed lists, and
 * hostile answers refused whole. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>

#include "redis/cluster_map.h"

static unsigned slot_of(const char *k)
{
    return cluster_keyslot(k, strlen(k));
}

static void test_keyslot(void **state)
{
    (void)state;
    assert_int_equal(slot_of("123456789"), 12739);
    assert_int_equal(slot_of("foo"), 12182);
    assert_int_equal(slot_of("somekey"), 11058);
    assert_int_equal(slot_of("{user1000}.following"), 3443);
    assert_int_equal(slot_of("foo{}{bar}"), 8363);       /* empty tag: the whole key */
    assert_int_equal(slot_of("foo{{bar}}zap"), 4015);    /* the tag is "{bar" */
    assert_int_equal(slot_of("foo{bar}{zap}"), 5061);    /* the first tag only */
    assert_int_equal(slot_of("sw:{app1}:due"), 6469);
    assert_int_equal(slot_of("sw:users"), 15358);
    /* every key of one app shares its slot */
    assert_int_equal(slot_of("sw:{app1}:user:alice"), slot_of("sw:{app1}:due"));
}

/* A reply as hiredis would build it from RESP text. */
static redisReply *parse_resp(const char *resp)
{
    redisReader *rd = redisReaderCreate();
    void *reply = NULL;
    assert_non_null(rd);
    assert_int_equal(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
    redisReaderFree(rd);
    assert_non_null(reply);
    return reply;
}

static const char *const three_shards =
    "*3\r\n"
    "*4\r\n:0\r\n:5460\r\n"
    "*3\r\n$9\r\n127.0.0.1\r\n:7101\r\n$2\r\nid\r\n"
    "*3\r\n$9\r\n127.0.0.1\r\n:7104\r\n$2\r\nr1\r\n"
    "*3\r\n:5461\r\n:10922\r\n"
    "*3\r\n$0\r\n\r\n:7102\r\n$2\r\nid\r\n"
    "*3\r\n:10923\r\n:16383\r\n"
    "*2\r\n$9\r\n127.0.0.1\r\n:7103\r\n";

/* map_of: a fresh map read from the RESP text resp (answered by
 * fallback_host); the caller frees it. */
static struct cluster_map *map_of(const char *resp, const char *fallback_host)
{
    struct cluster_map *m = malloc(sizeof *m);
    char err[256] = "";
    assert_non_null(m);
    cluster_map_init(m);
    redisReply *r = parse_resp(resp);
    assert_int_equal(cluster_map_from_slots(m, r, fallback_host, err, sizeof err), 0);
    freeReplyObject(r);
    return m;
}

static void test_map_from_slots(void **state)
{
    (void)state;
    struct cluster_map *m = malloc(sizeof *m);
    char err[128] = "";
    assert_non_null(m);
    cluster_map_init(m);
    assert_false(cluster_map_covered(m));
    redisReply *r = parse_resp(three_shards);
    assert_int_equal(cluster_map_from_slots(m, r, "10.9.9.9", err, sizeof err), 0);
    freeReplyObject(r);
    assert_int_equal(m->nnodes, 4);
    assert_true(cluster_map_covered(m));
    int p[8];
    assert_int_equal(cluster_map_primaries(m, p, 8), 3);
    const struct cluster_node *n0 = &m->nodes[m->slot_node[0]];
    assert_string_equal(n0->host, "127.0.0.1");
    assert_int_equal(n0->port, 7101);
    /* an empty host is the address the answer came from */
    const struct cluster_node *n1 = &m->nodes[m->slot_node[6469]];
    assert_string_equal(n1->host, "10.9.9.9");
    assert_int_equal(n1->port, 7102);
    assert_int_equal(m->nodes[m->slot_node[16383]].port, 7103);
    /* the replica is known and points at its primary */
    int rep = cluster_map_node(m, "127.0.0.1", 7104);
    assert_int_equal(m->nodes[rep].primary_of, m->slot_node[0]);
    /* a MOVED may name a node the map has not seen: it is added */
    int fresh = cluster_map_node(m, "127.0.0.1", 7105);
    assert_int_equal(fresh, 4);
    assert_int_equal(cluster_map_node(m, "127.0.0.1", 7105), 4);
    assert_int_equal(cluster_map_node(m, "bad host", 7105), CLUSTER_NO_NODE);
    free(m);
}

static void test_hostile_slots_refused_whole(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "+OK\r\n",
        "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\na\r\n:1\r\n",          /* slot out of range */
        "*1\r\n*3\r\n:10\r\n:5\r\n*2\r\n$1\r\na\r\n:1\r\n",             /* last before first */
        "*1\r\n*3\r\n:0\r\n:5\r\n*2\r\n$1\r\na\r\n:70000\r\n",          /* port out of range */
        "*1\r\n*3\r\n:0\r\n:5\r\n*2\r\n$3\r\na b\r\n:1\r\n",            /* a space in the host */
        "*1\r\n*2\r\n:0\r\n:5\r\n",                                     /* no node */
        "*2\r\n*3\r\n:0\r\n:5\r\n*2\r\n$1\r\na\r\n:1\r\n*3\r\n:6\r\n:7\r\n$1\r\nx\r\n",
    };
    struct cluster_map *m = malloc(sizeof *m);
    char err[128];
    assert_non_null(m);
    cluster_map_init(m);
    redisReply *good = parse_resp(three_shards);
    assert_int_equal(cluster_map_from_slots(m, good, "h", err, sizeof err), 0);
    freeReplyObject(good);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        redisReply *r = parse_resp(bad[i]);
        err[0] = '\0';
        assert_int_equal(cluster_map_from_slots(m, r, "h", err, sizeof err), -1);
        assert_true(err[0] != '\0');
        freeReplyObject(r);
        /* the old map stays */
        assert_true(cluster_map_covered(m));
        assert_int_equal(m->nnodes, 4);
    }
    assert_int_equal(cluster_map_from_slots(m, NULL, "h", err, sizeof err), -1);
    /* port 0: a TLS-only node (port 0) without tls-cluster yes, as Redis 7.0
     * answers it (an empty host too); the error says what to set */
    redisReply *r = parse_resp("*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n$0\r\n\r\n:0\r\n$2\r\nid\r\n*0\r\n");
    assert_int_equal(cluster_map_from_slots(m, r, "h", err, sizeof err), -1);
    freeReplyObject(r);
    assert_non_null(strstr(err, "tls-cluster yes"));
    assert_int_equal(m->nnodes, 4);
    free(m);
}

static void test_redirects(void **state)
{
    (void)state;
    struct cluster_redirect r;
    const char *moved = "MOVED 6469 127.0.0.1:7102";
    assert_int_equal(cluster_redirect_parse(moved, strlen(moved), "x", &r), CLUSTER_REDIRECT_MOVED);
    assert_int_equal(r.slot, 6469);
    assert_string_equal(r.host, "127.0.0.1");
    assert_int_equal(r.port, 7102);
    const char *ask = "ASK 1 ::1:7000";
    assert_int_equal(cluster_redirect_parse(ask, strlen(ask), "x", &r), CLUSTER_REDIRECT_ASK);
    assert_string_equal(r.host, "::1");
    assert_int_equal(r.port, 7000);
    const char *nohost = "MOVED 5 :7001";
    assert_int_equal(cluster_redirect_parse(nohost, strlen(nohost), "10.0.0.1", &r), CLUSTER_REDIRECT_MOVED);
    assert_string_equal(r.host, "10.0.0.1");
    static const char *const bad[] = {"ERR nope", "MOVED", "MOVED x 1.2.3.4:5", "MOVED 16384 a:1",
                                      "MOVED 1 a", "MOVED 1 a:99999", "ASK 1 a:", "MOVED 1  a:1",
                                      "MOVED 1234567 a:1", "ASK 1 a\nb:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(cluster_redirect_parse(bad[i], strlen(bad[i]), "x", &r), CLUSTER_REDIRECT_NONE);
}

static void test_seeds(void **state)
{
    (void)state;
    struct cluster_node n[4];
    char err[128];
    assert_int_equal(cluster_seeds_parse("a:1,,b:x", n, 4, err, sizeof err), -1);
    assert_int_equal(cluster_seeds_parse("a:1,b.example:6380,::1:7000", n, 4, err, sizeof err), 3);
    assert_string_equal(n[1].host, "b.example");
    assert_int_equal(n[1].port, 6380);
    assert_string_equal(n[2].host, "::1");
    assert_int_equal(cluster_seeds_parse("", n, 4, err, sizeof err), 0);
    assert_int_equal(cluster_seeds_parse("a:1,a:2,a:3,a:4,a:5", n, 4, err, sizeof err), -1);
    assert_int_equal(cluster_seeds_parse("a", n, 4, err, sizeof err), -1);
    assert_int_equal(cluster_seeds_parse(":5", n, 4, err, sizeof err), -1);
}

/* Redis 7.0 with cluster-preferred-endpoint-type hostname, as 7.0.15
 * answers: the hostname as the endpoint, then the id, then a map of the
 * other endpoints ({ip: ...}); "?" for a node with no hostname; nil with
 * unknown-endpoint. */
static void test_hostnames_and_unknown_endpoints(void **state)
{
    (void)state;
    char err[256] = "";
    struct cluster_map *m =
        map_of("*2\r\n"
               "*4\r\n:0\r\n:8191\r\n"
               "*4\r\n$9\r\nlocalhost\r\n:7101\r\n$2\r\nid\r\n*2\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n"
               "*4\r\n$14\r\nr1.example.net\r\n:7104\r\n$2\r\nr1\r\n*2\r\n$2\r\nip\r\n$8\r\n10.0.0.4\r\n"
               "*3\r\n:8192\r\n:16383\r\n"
               "*4\r\n$-1\r\n:7102\r\n$2\r\ni2\r\n*0\r\n",
               "10.9.9.9");
    assert_string_equal(m->nodes[m->slot_node[0]].host, "localhost");
    assert_int_equal(m->nodes[m->slot_node[0]].port, 7101);
    assert_string_equal(m->nodes[m->slot_node[0]].id, "id");
    assert_int_equal(m->nodes[cluster_map_node(m, "r1.example.net", 7104)].primary_of, m->slot_node[0]);
    /* nil: the address the answer came from */
    assert_string_equal(m->nodes[m->slot_node[16383]].host, "10.9.9.9");
    /* "?": refused whole, and said why */
    redisReply *r = parse_resp("*1\r\n*4\r\n:0\r\n:16383\r\n*4\r\n$1\r\n?\r\n:7101\r\n$2\r\nid\r\n*0\r\n"
                   "*4\r\n$9\r\nlocalhost\r\n:7104\r\n$2\r\nr1\r\n*0\r\n");
    assert_int_equal(cluster_map_from_slots(m, r, "10.9.9.9", err, sizeof err), -1);
    freeReplyObject(r);
    assert_non_null(strstr(err, "\"?\""));
    assert_non_null(strstr(err, "cluster-announce-hostname"));
    assert_string_equal(m->nodes[m->slot_node[0]].host, "localhost");
    /* a redirection to "?" goes nowhere */
    struct cluster_redirect rd;
    const char *moved = "MOVED 5 ?:7101";
    assert_int_equal(cluster_redirect_parse(moved, strlen(moved), "x", &rd), CLUSTER_REDIRECT_NONE);
    const char *named = "ASK 5 localhost:7101";
    assert_int_equal(cluster_redirect_parse(named, strlen(named), "x", &rd), CLUSTER_REDIRECT_ASK);
    assert_string_equal(rd.host, "localhost");
    free(m);
}

/* The node a TLS client reached, found in the map by its id: at the port
 * reached, or at another: its plain port (tls-cluster no: CLUSTER SHARDS
 * gives it no tls-port), or through a relay (it has one). */
static void test_check_reached(void **state)
{
    (void)state;
    struct cluster_map *m = map_of(three_shards, "127.0.0.1");
    char err[256] = "";
    /* "r1" is 127.0.0.1:7104, 7101's replica */
    assert_int_equal(cluster_map_check_reached(m, "r1", "127.0.0.1", 7104, 0, err, sizeof err), 0);
    assert_int_equal(cluster_map_check_reached(m, "r1", "localhost", 7104, 0, err, sizeof err), 0);
    assert_int_equal(cluster_map_check_reached(m, "unknown", "127.0.0.1", 7999, 0, err, sizeof err), 0);
    assert_int_equal(cluster_map_check_reached(m, "", "127.0.0.1", 7999, 0, err, sizeof err), 0);
    assert_int_equal(cluster_map_check_reached(m, NULL, "127.0.0.1", 7999, 0, err, sizeof err), 0);
    /* another port, and a TLS port announced (a relay), or unknown */
    assert_int_equal(cluster_map_check_reached(m, "r1", "127.0.0.1", 7902, 1, err, sizeof err), 0);
    assert_int_equal(cluster_map_check_reached(m, "r1", "127.0.0.1", 7902, -1, err, sizeof err), 0);
    err[0] = '\0';
    assert_int_equal(cluster_map_check_reached(m, "r1", "127.0.0.1", 7902, 0, err, sizeof err), -1);
    assert_string_equal(err, "the node reached at 127.0.0.1:7902 (TLS) is announced as 127.0.0.1:7104: the nodes "
                             "announce their plain ports; set tls-cluster yes on every node (README \"TLS in a "
                             "cluster\")");
    free(m);
}

/* CLUSTER SHARDS as Redis 7.0.15 answers it: with tls-cluster no the node
 * has a "port" only; with tls-cluster yes a "tls-port" too. */
static void test_shards_announces_tls(void **state)
{
    (void)state;
    static const char *const plain_only =
        "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n"
        "*1\r\n*6\r\n$2\r\nid\r\n$2\r\nn1\r\n$4\r\nport\r\n:7901\r\n$4\r\nrole\r\n$6\r\nmaster\r\n";
    static const char *const with_tls =
        "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n"
        "*2\r\n*4\r\n$2\r\nid\r\n$2\r\nn0\r\n$4\r\nport\r\n:7900\r\n"
        "*6\r\n$2\r\nid\r\n$2\r\nn1\r\n$4\r\nport\r\n:7901\r\n$8\r\ntls-port\r\n:7902\r\n";
    redisReply *a = parse_resp(plain_only), *b = parse_resp(with_tls), *e = parse_resp("-NOPERM no\r\n");
    assert_int_equal(cluster_shards_announces_tls(a, "n1"), 0);
    assert_int_equal(cluster_shards_announces_tls(b, "n1"), 1);
    assert_int_equal(cluster_shards_announces_tls(b, "n0"), 0);
    assert_int_equal(cluster_shards_announces_tls(b, "n2"), -1);
    assert_int_equal(cluster_shards_announces_tls(b, ""), -1);
    assert_int_equal(cluster_shards_announces_tls(e, "n1"), -1);
    assert_int_equal(cluster_shards_announces_tls(NULL, "n1"), -1);
    freeReplyObject(a);
    freeReplyObject(b);
    freeReplyObject(e);
}

/* The map change log line and the comparison that decides whether to log. */
static void test_same_and_describe(void **state)
{
    (void)state;
    struct cluster_map *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    char err[128] = "", line[256];
    assert_non_null(a);
    assert_non_null(b);
    redisReply *r = parse_resp(three_shards);
    assert_int_equal(cluster_map_from_slots(a, r, "127.0.0.1", err, sizeof err), 0);
    assert_int_equal(cluster_map_from_slots(b, r, "127.0.0.1", err, sizeof err), 0);
    freeReplyObject(r);
    assert_true(cluster_map_same(a, b));
    cluster_map_describe(a, line, sizeof line);
    assert_string_equal(line, "127.0.0.1:7101 5461 slots, 127.0.0.1:7102 5462 slots, 127.0.0.1:7103 5461 slots");
    /* one slot moved (a MOVED applied): a different map, told by its counts */
    b->slot_node[0] = (short)cluster_map_node(b, "127.0.0.1", 7103);
    assert_false(cluster_map_same(a, b));
    cluster_map_describe(b, line, sizeof line);
    assert_string_equal(line, "127.0.0.1:7101 5460 slots, 127.0.0.1:7102 5462 slots, 127.0.0.1:7103 5462 slots");
    /* the same owners under other node indexes are the same map */
    struct cluster_map *c = malloc(sizeof *c);
    assert_non_null(c);
    cluster_map_init(c);
    int n3 = cluster_map_node(c, "127.0.0.1", 7103), n1 = cluster_map_node(c, "127.0.0.1", 7101);
    int n2 = cluster_map_node(c, "127.0.0.1", 7102);
    for (int s = 0; s < CLUSTER_SLOTS; s++)
        c->slot_node[s] = (short)(s <= 5460 ? n1 : s <= 10922 ? n2 : n3);
    assert_true(cluster_map_same(a, c));
    c->slot_node[42] = CLUSTER_NO_NODE;
    assert_false(cluster_map_same(a, c));
    cluster_map_describe(c, line, sizeof line);
    assert_non_null(strstr(line, "1 slots unserved"));
    /* a short buffer truncates, never overflows */
    cluster_map_describe(a, line, 12);
    assert_int_equal(strlen(line), 11);
    free(a);
    free(b);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyslot),
        cmocka_unit_test(test_map_from_slots),
        cmocka_unit_test(test_hostile_slots_refused_whole),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_seeds),
        cmocka_unit_test(test_same_and_describe),
        cmocka_unit_test(test_hostnames_and_unknown_endpoints),
        cmocka_unit_test(test_check_reached),
        cmocka_unit_test(test_shards_announces_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
