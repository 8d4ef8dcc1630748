/* test_admin.c: the dashboard's pure parts: escaping (every outside string
 * goes through it) and the chart's minute bars from sampled counters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../src/serve/admin_int.h"

static void test_escape_html_and_url(void **state)
{
    (void)state;
    struct hbuf b = {0};
    admin_hb_esc(&b, "<script>a&b\"c'd</script>\x1b[31m\t");
    assert_string_equal(b.s, "&lt;script&gt;a&amp;b&quot;c&#39;d&lt;/script&gt;?[31m\t");
    b.len = 0;
    admin_hb_url(&b, "a b&c=d/é");
    assert_string_equal(b.s, "a%20b%26c%3Dd%2F%C3%A9");
    b.len = 0;
    admin_hb_esc(&b, NULL);
    assert_int_equal(b.len, 0);
    assert_false(b.oom);
    free(b.s);
}

static void test_durations(void **state)
{
    (void)state;
    struct hbuf b = {0};
    admin_hb_ms(&b, 999);
    admin_hb_ms(&b, -5000);
    admin_hb_ms(&b, 600000);
    admin_hb_ms(&b, 3 * 86400000LL);
    assert_string_equal(b.s, "999 ms-5 s10 min3 d");
    free(b.s);
}

/* total: the data-total the chart carries. */
static long total(const char *svg)
{
    const char *p = strstr(svg, "data-total=\"");
    assert_non_null(p);
    return strtol(p + strlen("data-total=\""), NULL, 10);
}

static void test_chart_counts_increases_of_the_last_hour(void **state)
{
    (void)state;
    struct admin_series *s = admin_series_new();
    struct hbuf b = {0};
    long long now = 10LL * 3600000;
    assert_non_null(s);
    admin_series_add(s, "app1", now - 2 * 3600000, 0);     /* older than the hour */
    admin_series_add(s, "app1", now - 3590000, 100);        /* +100: counted (in the hour) */
    admin_series_add(s, "app1", now - 60000, 130);          /* +30 */
    admin_series_add(s, "app1", now - 30000, 5);            /* a reset: not negative */
    admin_series_svg(s, "app1", now, 25, 60, &b);            /* now: +20 */
    assert_int_equal(total(b.s), 150);
    assert_non_null(strstr(b.s, "class=\"budget\""));
    assert_int_equal(b.oom, 0);
    b.len = 0;
    admin_series_svg(s, "other", now, 7, 0, &b);             /* never sampled: nothing yet */
    assert_int_equal(total(b.s), 0);
    assert_null(strstr(b.s, "class=\"budget\""));
    assert_null(strstr(b.s, "class=\"use\""));
    free(b.s);
    admin_series_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_html_and_url),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_chart_counts_increases_of_the_last_hour),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
