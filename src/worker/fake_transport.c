/* fake_transport.c: bench-fake-poll's poll transport. BENCHMARKS ONLY
 * (tests/bench/bench.py, scenario 2, "scheduler ceiling"): it measures the
 * claim/complete path alone, so the poll is answered inside the worker, with
 * no HTTP. worker_run chooses it once, instead of job_http_send, when
 * bench-fake-poll is on; the poll path itself knows nothing of it.
 *
 * The answer is a canned playing track whose progress moves as a real one
 * would (so the stored state changes as it does with real polls), or an
 * empty page for a backfill. It comes at once, from inside
 * fake_transport_send (poll_transport allows that), and records no poll
 * latency (that is the HTTP request's time). Everything around the request
 * is the real path: the token check and the gate (the claim grants a job's
 * first call, so the gate adds no Redis call), the answer's decision, the
 * batch to complete.lua.
 *
 * Layer: just below worker.c (which chooses it); calls job.c
 * (job_poll_answer). */
#include <stdio.h>
#include <string.h>

#include "worker_int.h"

int fake_transport_send(struct job *j, const char *url, const char *const *headers)
{
    char body[1024];
    struct httpc_response r;
    int n;
    (void)url;
    (void)headers;

    if (j->backfill)
        n = snprintf(body, sizeof body, "{\"items\":[],\"cursors\":null,\"limit\":%d}", HISTORY_LIMIT);
    else
        n = snprintf(body, sizeof body,
                     "{\"timestamp\":1700000000000,\"context\":null,\"progress_ms\":%lld,"
                     "\"item\":{\"album\":{\"album_type\":\"album\",\"id\":\"0ETFjACtuP2ADo6LFhL6HN\","
                     "\"name\":\"Abbey Road\",\"release_date\":\"1969-09-26\",\"type\":\"album\"},"
                     "\"artists\":[{\"id\":\"3WrFJ7ztbogyGnTHbHJFl2\",\"name\":\"The Beatles\","
                     "\"type\":\"artist\",\"uri\":\"spotify:artist:3WrFJ7ztbogyGnTHbHJFl2\"}],"
                     "\"disc_number\":1,\"duration_ms\":259946,\"explicit\":false,"
                     "\"href\":\"https://api.spotify.com/v1/tracks/2EqlS6tkEnglzr7tkKAAYD\","
                     "\"id\":\"2EqlS6tkEnglzr7tkKAAYD\",\"is_local\":false,\"name\":\"Come Together\","
                     "\"popularity\":79,\"track_number\":1,\"type\":\"track\","
                     "\"uri\":\"spotify:track:2EqlS6tkEnglzr7tkKAAYD\"},"
                     "\"currently_playing_type\":\"track\",\"actions\":{\"disallows\":{\"resuming\":true}},"
                     "\"is_playing\":true}",
                     worker_now_ms() % 259946);
    memset(&r, 0, sizeof r);
    r.status = 200;
    r.error = "";
    r.body = body;
    r.len = n > 0 && (size_t)n < sizeof body ? (size_t)n : 0;
    job_poll_answer(j, &r);
    return 0;
}
