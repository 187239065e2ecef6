/* evc/fd_limit.h: the process's open-files limit (RLIMIT_NOFILE).
 *
 * A server holds one descriptor per connection: a monitor link per CP,
 * HTTP clients, the bus, the database, the logs. The soft limit is often
 * 1024 by default while the hard limit -- the administrator's ceiling, set
 * by ulimit -Hn, systemd's LimitNOFILE= or /etc/security/limits.conf -- is
 * much higher; a process may raise its soft limit up to the hard one by
 * itself, never past it. docs/OPERATIONS.md says how to size it.
 */
#ifndef EVC_FD_LIMIT_H
#define EVC_FD_LIMIT_H

#include "evc/api.h"

#include "evc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Raises the soft open-files limit to the hard limit (an infinite hard
 * limit: to what the kernel takes, fs.nr_open); never lowers it.
 * need: descriptors the program needs in all, its connections plus what
 * the rest of it uses (a link server keeps EVC_LINK_FD_RESERVE of evc/link.h
 * for that); 0 = no requirement, just raise.
 * *got (may be NULL): the soft limit in force afterwards (UINT_MAX when
 * larger), also on failure.
 * Returns EVC_OK; EVC_ETOOBIG when the limit in force stays below `need`
 * (raised as far as allowed all the same), with a message naming `need`,
 * the soft and the hard limits and how to raise the hard one; EVC_EIO when
 * the limits cannot be read. Thread: any; it changes the whole process, so
 * call it at start, before other threads open files. */
EVC_API int evc_fd_limit_raise(unsigned need, unsigned *got, evc_error *err);

#ifdef __cplusplus
}
#endif
#endif
