/* evc/host.h: the table of host functions the core hands to every plugin
 * instance. Plugins call the core only through it (plus the pure helpers of
 * the SDK: config readers, error setters), so a plugin can be unit-tested
 * against a fake host that fills the same table.
 *
 * Threads: every function is for the loop thread except `post` (any thread)
 * and `log`, `now_ms`, `wall_ms` (any thread).
 */
#ifndef EVC_HOST_H
#define EVC_HOST_H

#include "evc/api.h"

#include <stdint.h>

#include "evc/error.h"
#include "evc/log.h"
#include "evc/loop.h"
#include "evc/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evc_host evc_host; /* the core's context for one plugin instance */

typedef struct evc_host_api {
    uint32_t struct_size;
    evc_host *host; /* pass back as the first argument of every call */

    /* Logs one line with the plugin's name as component. `ids` may be NULL. */
    void (*log)(evc_host *h, evc_log_level level, const evc_log_ids *ids, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

    /* Loop integration; semantics as evc_loop_watch_fd / evc_loop_timer /
     * evc_loop_post in evc/loop.h. */
    int (*watch_fd)(evc_host *h, int fd, unsigned events, evc_watch_cb cb, void *arg,
                    evc_watch **out, evc_error *err);
    int (*watch_set_events)(evc_watch *w, unsigned events);
    void (*unwatch_fd)(evc_watch *w);
    int (*timer_start)(evc_host *h, uint64_t first_ms, uint64_t repeat_ms, evc_timer_cb cb,
                       void *arg, evc_timer **out, evc_error *err);
    void (*timer_stop)(evc_timer *t);
    int (*post)(evc_host *h, evc_post_cb cb, void *arg);
    /* Runs the loop until cond(arg) or the deadline (see evc_loop_run_until).
     * For flush/close paths that must wait for I/O without sleeping. */
    int (*run_until)(evc_host *h, evc_cond_fn cond, void *arg, uint64_t timeout_ms);

    /* Transports: the outcome of an accepted publish, exactly once per token.
     * `detail` (may be NULL) is borrowed for the call. */
    void (*deliver_outcome)(evc_host *h, uint64_t token, evc_outcome_status status,
                            const char *detail);
    /* Transports: an inbound message, borrowed for the call. Returns EVC_OK
     * when the application handled it; anything else means "not handled,
     * redeliver if you can". */
    int (*dispatch)(evc_host *h, const evc_message *msg);

    /* Clocks in milliseconds: monotonic, and wall (Unix epoch). */
    uint64_t (*now_ms)(evc_host *h);
    uint64_t (*wall_ms)(evc_host *h);
} evc_host_api;

/* ---- core side: building a host table ---------------------------------- */

/* Where a host sends what its plugin instance reports. Any op may be NULL
 * (outcomes/messages are then dropped with a debug log). */
typedef struct evc_host_sink {
    void *arg;
    void (*outcome)(void *arg, uint64_t token, evc_outcome_status status, const char *detail);
    int (*dispatch)(void *arg, const evc_message *msg);
} evc_host_sink;

/* Builds a host table bound to `loop` for one plugin instance whose log lines
 * carry `component` (copied). `sink` is copied; may be NULL. Caller frees with
 * evc_host_free after destroying the plugin instance. */
EVC_API int evc_host_new(evc_loop *loop, const char *component, const evc_host_sink *sink,
                         evc_host_api **out, evc_error *err);
EVC_API void evc_host_free(evc_host_api *api);

#ifdef __cplusplus
}
#endif
#endif
