/* test_worker_kick: worker_kick (worker_int.h) is an event fed to the
 * worker's kick watcher, not a call into worker.c. What the loop relies on:
 * kicks from inside a callback run the kick's callback once, after that
 * callback, in the same turn; a kick after the loop ended runs nothing once
 * cleared (worker_run's teardown); job_free (jobs.c) kicks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../src/worker/worker_int.h"

static int kicks;          /* runs of the kick's callback */
static int kicks_at_feed;  /* kicks seen by the callback that kicked, when it returned */

static void on_kick(struct ev_loop *loop, ev_idle *k, int revents)
{
    (void)loop;
    (void)k;
    assert_int_equal(revents, EV_CUSTOM);
    kicks++;
}

/* on_timer kicks three times, as on_complete does when it frees a batch. */
static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    (void)loop;
    (void)revents;
    worker_kick(w);
    worker_kick(w);
    worker_kick(w);
    kicks_at_feed = kicks;
}

static void worker_init(struct worker *w)
{
    memset(w, 0, sizeof *w);
    w->loop = ev_loop_new(EVFLAG_AUTO);
    ev_idle_init(&w->kick, on_kick);
    w->kick.data = w;
    kicks = 0;
}

static void test_kicks_in_a_callback_run_once_after_it(void **state)
{
    struct worker w;
    ev_timer t;
    (void)state;
    worker_init(&w);
    ev_timer_init(&t, on_timer, 0.001, 0);
    t.data = &w;
    ev_timer_start(w.loop, &t);
    ev_run(w.loop, 0);   /* ends when the timer has run: the kick watcher is never started */
    assert_int_equal(kicks_at_feed, 0);
    assert_int_equal(kicks, 1);
    assert_false(ev_is_pending(&w.kick));
    ev_loop_destroy(w.loop);
}

static void test_kick_after_the_loop_ended_runs_nothing(void **state)
{
    struct worker w;
    struct job *j;
    (void)state;
    worker_init(&w);
    ev_run(w.loop, EVRUN_NOWAIT);
    j = job_new(&w, NULL);
    assert_non_null(j);
    assert_int_equal(w.jobs, 1);
    assert_ptr_equal(w.job_list, j);
    job_free(j);   /* as in worker_run's teardown */
    assert_int_equal(w.jobs, 0);
    assert_null(w.job_list);
    assert_true(ev_is_pending(&w.kick));
    ev_clear_pending(w.loop, &w.kick);
    assert_false(ev_is_pending(&w.kick));
    ev_loop_destroy(w.loop);
    assert_int_equal(kicks, 0);
}

static void test_jitter_in_unit_interval(void **state)
{
    struct worker w;
    (void)state;
    memset(&w, 0, sizeof w);
    w.rng = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 1000; i++) {
        double x = worker_rand01(&w);
        assert_true(x >= 0.0 && x < 1.0);
    }
    assert_true(worker_now_ms() > 1500000000000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kicks_in_a_callback_run_once_after_it),
        cmocka_unit_test(test_kick_after_the_loop_ended_runs_nothing),
        cmocka_unit_test(test_jitter_in_unit_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
