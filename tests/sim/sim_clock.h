/* sim_clock.h: the simulated clock. Every simulated deadline (token expiry,
 * code expiry, pause-to-204, the rolling rate-limit window, the 24 h quota,
 * refresh-token lifetime, track progress) reads sim_clock_now().
 *
 *   now_ms = base_sim_ms + (mono_now - base_mono) * scale
 *
 * base_sim_ms starts at the real Unix time in ms, so timestamps look real.
 * Callers hold the global state lock. */
#ifndef SIM_CLOCK_H
#define SIM_CLOCK_H

#include <stdint.h>

/* sim_clock_init starts the clock at the real time with the given scale. */
void sim_clock_init(double scale);
/* sim_clock_now returns simulated Unix time in ms (never goes backwards). */
int64_t sim_clock_now(void);
/* sim_clock_advance jumps the clock forward by ms (ignored if ms < 0). */
void sim_clock_advance(int64_t ms);
/* sim_clock_set_scale changes the rate (0 freezes the clock; max 1e6). */
void sim_clock_set_scale(double scale);
double sim_clock_scale(void);

#endif
