/* nodump: keeping secrets out of core dumps (see include/base/nodump.h). */
#include "base/nodump.h"
#include "base/errbuf.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>

int nodump_process(char *err, size_t errlen)
{
    struct rlimit none = {0, 0};

    /* Non-dumpable alone suffices unless fs.suid_dumpable is 2, where the
     * kernel still dumps (root-owned, or to a pipe handler such as
     * systemd-coredump, which honours the process's core limit): hence
     * both. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        errbuf_set(err, errlen, "prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
        return -1;
    }
    if (setrlimit(RLIMIT_CORE, &none) != 0) {
        errbuf_set(err, errlen, "setrlimit(RLIMIT_CORE, 0): %s", strerror(errno));
        return -1;
    }
    return 0;
}

void *nodump_alloc(size_t n)
{
    void *p;

    if (n == 0)
        return NULL;
    p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_DONTDUMP
    /* Best effort: a kernel without it still gives usable memory. */
    (void)madvise(p, n, MADV_DONTDUMP);
#endif
    return p;
}

void nodump_free(void *p, size_t n)
{
    if (p == NULL)
        return;
    explicit_bzero(p, n);
    munmap(p, n);
}
