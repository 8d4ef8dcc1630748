#ifndef SW_NODUMP_H
#define SW_NODUMP_H
/* nodump: keeping secrets out of core dumps. A worker holds the token
 * keyring and users' access tokens in memory, serve the keyring and the
 * apps' client secrets; a core file of either (ulimit -c unlimited, a
 * crash) would hand them to whoever can read it.
 *
 * nodump_process makes the whole process non-dumpable: no core file, and
 * no ptrace attach or /proc/PID/mem, environ, fd read by other processes of
 * the same (non-root) user. nodump_alloc gives memory that is additionally
 * left out of any dump (MADV_DONTDUMP), for key material, should the
 * process be made dumpable again or dumped by a privileged handler. */
#include <stddef.h>

/* nodump_process: prctl(PR_SET_DUMPABLE, 0) and a core size limit of 0
 * (soft and hard, so no later code can raise it). Called by `worker` and
 * `serve` at start (src/main.c). Returns 0, or -1 with err. */
int nodump_process(char *err, size_t errlen);

/* nodump_alloc returns n zeroed bytes (n > 0) on pages of their own (mmap),
 * excluded from core dumps where the kernel allows (MADV_DONTDUMP, Linux
 * 3.4+; elsewhere the memory is still fine to use), or NULL. Free with
 * nodump_free and the same n, which wipes the bytes first. */
void *nodump_alloc(size_t n);
void nodump_free(void *p, size_t n);

#endif
