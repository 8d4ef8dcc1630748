/* sim_clock.c: see sim_clock.h. */
#include "sim_clock.h"
#include "sim_util.h"

static int64_t base_sim_ms;   /* simulated Unix ms at base_mono_ns */
static int64_t base_mono_ns;  /* real monotonic ns of the last rebase */
static double cur_scale = 1.0;

void sim_clock_init(double scale)
{
    base_sim_ms = sim_real_ms();
    base_mono_ns = sim_mono_ns();
    cur_scale = scale < 0 ? 0 : scale;
}

int64_t sim_clock_now(void)
{
    double elapsed_ms = (double)(sim_mono_ns() - base_mono_ns) / 1e6;
    return base_sim_ms + (int64_t)(elapsed_ms * cur_scale);
}

/* Fold the elapsed time into the base so a scale change does not jump. */
static void rebase(void)
{
    base_sim_ms = sim_clock_now();
    base_mono_ns = sim_mono_ns();
}

void sim_clock_advance(int64_t ms)
{
    if (ms <= 0)
        return;
    rebase();
    base_sim_ms += ms;
}

void sim_clock_set_scale(double scale)
{
    if (scale < 0)
        scale = 0;
    if (scale > 1e6)
        scale = 1e6;
    rebase();
    cur_scale = scale;
}

double sim_clock_scale(void)
{
    return cur_scale;
}
