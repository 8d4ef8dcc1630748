/* test_nodump: keeping secrets out of core dumps (src/base/nodump.c): a
 * process made non-dumpable with no core limit left, and memory that is
 * usable, zeroed and wiped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/nodump.h"

/* In a child, so the test runner itself stays dumpable. */
static void test_process(void **state)
{
    int st;
    pid_t pid;
    (void)state;

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit rl;
        char err[128];
        struct rlimit up = {RLIM_INFINITY, RLIM_INFINITY};
        if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1)
            _exit(10);      /* the test needs a dumpable start */
        if (nodump_process(err, sizeof err) != 0)
            _exit(11);
        if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
            _exit(12);
        if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0 || rl.rlim_max != 0)
            _exit(13);
        /* Not raised again by later code (without CAP_SYS_RESOURCE; root
         * may, so only the soft limit is tried). */
        up.rlim_max = 0;
        up.rlim_cur = 1;
        if (setrlimit(RLIMIT_CORE, &up) == 0)
            _exit(14);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_alloc(void **state)
{
    unsigned char *p;
    size_t n = 5000;   /* more than a page, not a multiple of one */
    (void)state;

    assert_null(nodump_alloc(0));
    p = nodump_alloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(p[i], 0);
    memset(p, 0xab, n);
    assert_int_equal(p[n - 1], 0xab);
    nodump_free(p, n);
    nodump_free(NULL, 10);   /* fine */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_process),
        cmocka_unit_test(test_alloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
