/* proc_stats: /proc/self/stat, /proc/self/fd and getrlimit (see
 * include/base/proc_stats.h). Cheap enough for every scrape: two small
 * reads and one directory listing. */
#include "base/proc_stats.h"

#include <dirent.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* boot_time_s: the btime line of /proc/stat (the Unix time of boot), or 0. */
static double boot_time_s(void)
{
    char line[256];
    double bt = 0;
    FILE *f = fopen("/proc/stat", "r");

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "btime %lf", &bt) == 1)
            break;
    fclose(f);
    return bt;
}

/* read_stat: fields 14-15 (utime, stime, ticks), 22 (starttime, ticks after
 * boot), 23 (vsize, bytes) and 24 (rss, pages) of /proc/self/stat. The
 * command name (field 2) may hold spaces and parentheses: parse after the
 * last ')'. */
static int read_stat(struct proc_stats *st)
{
    char buf[1024];
    unsigned long utime, stime, vsize;
    unsigned long long start;
    long rss;
    double hz = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n;

    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    /* After ") ": state(3) ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime(14) stime(15) cutime cstime priority nice
     * num_threads itrealvalue starttime(22) vsize(23) rss(24) */
    if (p == NULL || hz <= 0 ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d "
                      "%llu %lu %ld", &utime, &stime, &start, &vsize, &rss) != 5)
        return -1;
    st->cpu_seconds = (double)(utime + stime) / hz;
    st->virtual_bytes = (double)vsize;
    st->resident_bytes = (double)rss * page;
    st->start_time_seconds = boot_time_s() + (double)start / hz;
    return 0;
}

static double count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    double n = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0;   /* not the listing's own descriptor */
}

/* proc_stats_heap: glibc's mallinfo2 (2.33 on), which walks the free lists
 * of every arena: microseconds, fine once a second. */
void proc_stats_heap(struct proc_stats *st)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();

    st->heap_in_use_bytes = (double)(mi.uordblks + mi.hblkhd);
    st->heap_arena_bytes = (double)(mi.arena + mi.hblkhd);
#else
    (void)st;
#endif
}

int proc_stats_read(struct proc_stats *st)
{
    struct rlimit rl;

    memset(st, 0, sizeof *st);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        st->max_fds = rl.rlim_cur == RLIM_INFINITY ? 0 : (double)rl.rlim_cur;
    st->open_fds = count_fds();
    proc_stats_heap(st);
    return read_stat(st);
}
