/* sim_control.h: the control and observation API under /sim/ (JSON in and
 * out); documented call by call in tests/sim/README.md. Control calls never
 * see latency, faults or rate limits and are not counted in statistics. */
#ifndef SIM_CONTROL_H
#define SIM_CONTROL_H

#include "sim_http.h"

/* sim_control_handle answers one /sim/... request. Called with sim_lock held. */
void sim_control_handle(sim_in *in, sim_reply *out);

#endif
