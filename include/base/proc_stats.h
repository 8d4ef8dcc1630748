#ifndef SW_PROC_STATS_H
#define SW_PROC_STATS_H
/* proc_stats: this process' resource use, read from /proc/self, for the
 * process_* series every Prometheus exporter serves (the names and units of
 * the Go and Python clients: seconds, bytes, a Unix start time). */

struct proc_stats {
    double cpu_seconds;        /* user + system CPU time, s */
    double resident_bytes;     /* RSS */
    double virtual_bytes;      /* address space size */
    double open_fds;           /* entries of /proc/self/fd */
    double max_fds;            /* RLIMIT_NOFILE soft limit */
    double start_time_seconds; /* Unix time the process started, s */
    /* malloc's own figures (glibc's mallinfo2; 0 where there is none): a
     * leak grows heap_in_use_bytes, fragmentation heap_arena_bytes, and RSS
     * moves within the arena as pages are touched and given back. */
    double heap_in_use_bytes;  /* held by live allocations (mmapped ones included) */
    double heap_arena_bytes;   /* taken from the system (arenas and mmapped blocks) */
};

/* proc_stats_read fills st. Returns 0, or -1 when /proc cannot be read (st
 * then holds what could be read, the rest 0). */
int proc_stats_read(struct proc_stats *st);
/* proc_stats_heap fills only st's heap_* figures (what the worker's
 * heartbeat reports), leaving the rest as it is. */
void proc_stats_heap(struct proc_stats *st);

#endif
