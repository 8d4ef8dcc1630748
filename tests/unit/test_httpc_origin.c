/* test_httpc_origin: httpc's admission per origin without libcurl: how many
 * requests of an origin curl may run, over HTTP/1.1 and over HTTP/2, as
 * connections open and close; the order of the queue; the stream limit
 * learnt from connections httpc did not ask for, not from a retired one's
 * replacement; curl's cap on connections per host. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http/httpc_origin.h"

static int tag, other;   /* the request that opens a connection, another */

static void nop_cb(const struct httpc_response *r, void *ud)
{
    (void)r;
    (void)ud;
}

/* admit: how many more requests of o the admission lets through now, each
 * counted in curl as httpc_start would. */
static int admit(struct httpc_origin *o, long host_conns)
{
    int n = 0;

    while (httpc_origin_room(o, host_conns)) {
        o->in_curl++;
        n++;
    }
    return n;
}

/* h2_origin: a new list of one origin that answered over HTTP/2. */
static struct httpc_origin *h2_origin(struct httpc_origin **list)
{
    int n = 0;
    struct httpc_origin *o = httpc_origin_get(list, &n, "https://h/", 100);

    assert_non_null(o);
    o->multiplex = 1;
    return o;
}

static void test_origins_by_scheme_host_port(void **state)
{
    struct httpc_origin *list = NULL, *a, *b;
    int n = 0;

    (void)state;
    a = httpc_origin_get(&list, &n, "https://api.example:443/v1/me/player?x=1", 100);
    b = httpc_origin_get(&list, &n, "https://api.example:443/v1/other", 100);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, httpc_origin_get(&list, &n, "https://accounts.example/api/token", 100));
    assert_null(httpc_origin_get(&list, &n, "no-scheme", 100));
    assert_int_equal(n, 2);
    assert_int_equal(a->streams, 100);
    httpc_origin_free_all(list);
}

static void test_http1_one_request_per_connection(void **state)
{
    struct httpc_origin *list = NULL, *o;
    int n = 0;

    (void)state;
    o = httpc_origin_get(&list, &n, "http://h:1/", 100);
    assert_int_equal(admit(o, 32), 32);
    httpc_origin_free_all(list);
}

static void test_http2_streams_then_one_connection_at_a_time(void **state)
{
    struct httpc_origin *list = NULL, *o = h2_origin(&list);

    (void)state;
    /* none open: the one request that opens it, no more until it is up */
    assert_int_equal(admit(o, 32), 1);
    httpc_origin_opened(o, &tag);
    assert_int_equal(admit(o, 32), 0);
    o->in_curl++;
    httpc_origin_ended(o, &other);        /* another request ended */
    assert_int_equal(o->opening, 1);
    httpc_origin_ended(o, &tag);          /* its request ended */
    o->in_curl++;                         /* (admit's count: it stays) */
    /* the rest of its 100 streams, and when it is full one more, which
     * makes curl open the second; none beyond */
    assert_int_equal(admit(o, 32), 99 + 1);
    httpc_origin_opened(o, &tag);
    assert_int_equal(o->conns, 2);
    assert_int_equal(o->streams, 100);    /* asked for: nothing learnt */
    assert_int_equal(admit(o, 32), 0);
    o->opening = 0;
    /* at the cap on connections (2), no request past their streams */
    assert_int_equal(admit(o, 2), 99);
    /* a connection closes: its streams are gone with it */
    httpc_origin_closed(o);
    o->in_curl = 50;
    assert_int_equal(admit(o, 2), 51);
    httpc_origin_free_all(list);
}

static void test_server_allows_fewer_streams(void **state)
{
    struct httpc_origin *list = NULL, *o = h2_origin(&list);

    (void)state;
    o->conns = 1;
    o->in_curl = 11;
    /* curl opens a second with 11 in curl, 100 streams by httpc's count:
     * marked, not learnt (it may replace a retired one) */
    httpc_origin_opened(o, &tag);
    assert_int_equal(o->streams, 100);
    assert_int_equal(o->conns, 2);
    httpc_origin_ended(o, &tag);
    o->in_curl = 21;
    /* and a third with 21 in curl, none closed: the server allows 10 */
    httpc_origin_opened(o, &tag);
    assert_int_equal(o->streams, 10);
    assert_int_equal(o->conns, 3);
    o->opening = 0;
    assert_int_equal(admit(o, 3), 9);     /* up to 3 x 10 */
    httpc_origin_free_all(list);
}

static void test_retired_connection_replaced(void **state)
{
    struct httpc_origin *list = NULL, *o = h2_origin(&list);

    (void)state;
    o->conns = 1;
    o->in_curl = 60;
    /* a GOAWAY: curl opens a connection for the requests it refused, then
     * closes the retired one; again at the next GOAWAY: nothing learnt */
    for (int i = 0; i < 3; i++) {
        httpc_origin_opened(o, &tag);
        httpc_origin_closed(o);
        httpc_origin_ended(o, &tag);
        o->in_curl++;
    }
    assert_int_equal(o->streams, 100);
    assert_int_equal(o->conns, 1);
    httpc_origin_free_all(list);
}

static void test_host_cap(void **state)
{
    struct httpc_origin *list = NULL, *o = h2_origin(&list), *p;
    int n = 1;

    (void)state;
    /* no connection yet: room for the one that opens */
    assert_int_equal(httpc_origin_host_cap(list, 32), 1);
    o->conns = 2;
    assert_int_equal(httpc_origin_host_cap(list, 32), 3);
    o->opening = 1;                       /* none beyond the one being set up */
    assert_int_equal(httpc_origin_host_cap(list, 32), 2);
    assert_int_equal(httpc_origin_host_cap(list, 2), 2);
    /* an origin not known to multiplex: idle, it does not count; with a
     * request in curl, HTTP/1.1's one request per connection */
    p = httpc_origin_get(&list, &n, "http://plain/", 100);
    assert_non_null(p);
    assert_int_equal(httpc_origin_host_cap(list, 32), 2);
    p->in_curl = 1;
    assert_int_equal(httpc_origin_host_cap(list, 32), 32);
    httpc_origin_free_all(list);
}

static void test_queue_in_order_and_freed(void **state)
{
    struct httpc_origin *list = NULL, *o;
    const char *hdrs[] = {"Authorization: Bearer x", NULL};
    struct httpc_wait *w;
    int n = 0;

    (void)state;
    o = httpc_origin_get(&list, &n, "https://h/", 100);
    httpc_origin_push(o, httpc_wait_new("GET", "https://h/1", hdrs, NULL, nop_cb, NULL));
    httpc_origin_push(o, httpc_wait_new("POST", "https://h/2", NULL, "b=1", nop_cb, NULL));
    httpc_origin_push(o, httpc_wait_new("GET", "https://h/3", NULL, NULL, nop_cb, NULL));
    w = httpc_origin_pop(o);
    assert_string_equal(w->url, "https://h/1");
    assert_string_equal(w->headers[0], "Authorization: Bearer x");
    assert_null(w->headers[1]);
    httpc_wait_free(w);
    w = httpc_origin_pop(o);
    assert_string_equal(w->method, "POST");
    assert_string_equal(w->body, "b=1");
    httpc_wait_free(w);
    /* the third stays queued: httpc_origin_free_all frees it (ASan checks) */
    httpc_origin_free_all(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origins_by_scheme_host_port),
        cmocka_unit_test(test_http1_one_request_per_connection),
        cmocka_unit_test(test_http2_streams_then_one_connection_at_a_time),
        cmocka_unit_test(test_server_allows_fewer_streams),
        cmocka_unit_test(test_retired_connection_replaced),
        cmocka_unit_test(test_host_cap),
        cmocka_unit_test(test_queue_in_order_and_freed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
