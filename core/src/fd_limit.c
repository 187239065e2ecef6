/* fd_limit.c: raising the soft open-files limit (evc/fd_limit.h). */
#include "evc/fd_limit.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

/* The most descriptors the kernel gives a process: setrlimit refuses an
 * infinite soft limit, and a finite one above fs.nr_open. */
static rlim_t kernel_max(void)
{
    FILE *f = fopen("/proc/sys/fs/nr_open", "r");
    unsigned long long nr_open = 0;
    if (!f || fscanf(f, "%llu", &nr_open) != 1 || nr_open == 0)
        nr_open = 1048576; /* the kernel's default */
    if (f)
        fclose(f);
    return (rlim_t)nr_open;
}

static unsigned as_unsigned(rlim_t v)
{
    return v == RLIM_INFINITY || v > UINT_MAX ? UINT_MAX : (unsigned)v;
}

int evc_fd_limit_raise(unsigned need, unsigned *got, evc_error *err)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        if (got)
            *got = 0;
        return evc_error_set(err, EVC_EIO, "open files: cannot read the limit: %s",
                             strerror(errno));
    }
    if (rl.rlim_cur != RLIM_INFINITY) {
        rlim_t target = rl.rlim_max == RLIM_INFINITY ? kernel_max() : rl.rlim_max;
        struct rlimit want = {target, rl.rlim_max};
        if (target > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &want) != 0) {
            /* A hard limit above fs.nr_open (lowered since): take that much. */
            rlim_t k = kernel_max();
            want.rlim_cur = target < k ? target : k;
            if (want.rlim_cur <= rl.rlim_cur || setrlimit(RLIMIT_NOFILE, &want) != 0)
                want.rlim_cur = rl.rlim_cur;
        }
        if (want.rlim_cur > rl.rlim_cur)
            rl.rlim_cur = want.rlim_cur;
    }
    if (got)
        *got = as_unsigned(rl.rlim_cur);
    if (need == 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return EVC_OK;
    char hard[48];
    if (rl.rlim_max == RLIM_INFINITY)
        snprintf(hard, sizeof hard, "unlimited (fs.nr_open caps it)");
    else
        snprintf(hard, sizeof hard, "%llu", (unsigned long long)rl.rlim_max);
    return evc_error_set(err, EVC_ETOOBIG,
                         "open files: %u descriptors needed but the limit is %llu (hard limit "
                         "%s); raise the hard limit (ulimit -Hn, systemd LimitNOFILE=, "
                         "/etc/security/limits.conf) to at least %u",
                         need, (unsigned long long)rl.rlim_cur, hard, need);
}
