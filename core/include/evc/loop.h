/* evc/loop.h: the one event loop of a process (libuv underneath).
 *
 * Everything of a process -- transport, store, TCP links, timers, the role,
 * the web server -- runs on the thread that calls evc_loop_run. Only
 * evc_loop_post may be called from another thread. Callbacks run on the loop
 * thread and must not block. No function here busy-polls: an idle loop sleeps
 * in the kernel. Work that must block or burn CPU (argon2 password checks)
 * goes to libuv's thread pool through evc_loop_work.
 */
#ifndef EVC_LOOP_H
#define EVC_LOOP_H

#include "evc/api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evc_loop evc_loop;
typedef struct evc_watch evc_watch;
typedef struct evc_timer evc_timer;

enum evc_watch_events {
    EVC_WATCH_READ = 1u,
    EVC_WATCH_WRITE = 2u,
    EVC_WATCH_ERROR = 4u, /* reported only: the fd is in error or hung up */
};

/* `w` is borrowed; it stays valid until evc_watch_close. */
typedef void (*evc_watch_cb)(evc_watch *w, int fd, unsigned events, void *arg);
typedef void (*evc_timer_cb)(evc_timer *t, void *arg);
typedef void (*evc_post_cb)(void *arg);
typedef bool (*evc_cond_fn)(void *arg);

/* Creates a loop. Caller frees with evc_loop_free. EVC_EIO on failure. */
EVC_API int evc_loop_new(evc_loop **out, evc_error *err);

/* Runs until evc_loop_stop is called (from a callback or through post).
 * Returns EVC_OK. Loop thread only. */
EVC_API int evc_loop_run(evc_loop *loop);

/* Runs the loop until cond(arg) is true (checked after every loop iteration
 * and at least every 10 ms of loop time, without spinning) or until timeout_ms
 * passes. Returns EVC_OK when cond held, EVC_ETIMEDOUT otherwise. Meant for
 * tests and for bounded shutdown steps (flush with a deadline). */
EVC_API int evc_loop_run_until(evc_loop *loop, evc_cond_fn cond, void *arg, uint64_t timeout_ms);

/* Makes evc_loop_run return after the current iteration. Loop thread only;
 * from another thread, post a callback that calls it. */
EVC_API void evc_loop_stop(evc_loop *loop);

/* Closes every watch and timer still open, runs the loop until their closes
 * complete, and frees the loop. Handles registered by other libraries on the
 * native loop are not touched: close those first. NULL is a no-op. */
EVC_API void evc_loop_free(evc_loop *loop);

/* Watches fd for `events` (EVC_WATCH_READ|EVC_WATCH_WRITE). The fd stays owned
 * by the caller and must stay open until evc_watch_close. *out is owned by the
 * loop; release it with evc_watch_close. */
EVC_API int evc_loop_watch_fd(evc_loop *loop, int fd, unsigned events, evc_watch_cb cb, void *arg,
                              evc_watch **out, evc_error *err);
EVC_API int evc_watch_set_events(evc_watch *w, unsigned events);
/* Stops watching and releases w (memory freed once libuv confirms the close).
 * Safe inside w's own callback. NULL is a no-op. */
EVC_API void evc_watch_close(evc_watch *w);

/* One-shot (repeat_ms == 0) or periodic timer. First fire first_ms after
 * this call (the loop's clock is refreshed first: not after its last turn).
 * Armed (or re-armed) from a timer callback, even at 0 ms, it fires no
 * earlier than the next loop turn, after I/O was polled: a 0 ms timer is a
 * yield to the loop, whatever libuv's version.
 * *out owned by the loop; release with evc_timer_close. */
EVC_API int evc_loop_timer(evc_loop *loop, uint64_t first_ms, uint64_t repeat_ms, evc_timer_cb cb,
                           void *arg, evc_timer **out, evc_error *err);
/* Re-arms an existing timer with new delays, counted from this call (from
 * a timer callback: as evc_loop_timer, not before the next loop turn). */
EVC_API int evc_timer_restart(evc_timer *t, uint64_t first_ms, uint64_t repeat_ms);
/* Stops and releases t. Safe inside t's own callback. NULL is a no-op. */
EVC_API void evc_timer_close(evc_timer *t);

/* Queues cb(arg) to run on the loop thread. The only thread-safe call here.
 * Callbacks run in the order posted. Returns EVC_ENOMEM or EVC_ESTATE (loop
 * freed) on failure. A callback posted but not run when the loop is freed is
 * dropped. */
EVC_API int evc_loop_post(evc_loop *loop, evc_post_cb cb, void *arg);

/* ---- work on libuv's thread pool ----------------------------------------
 * work(arg) runs on a pool thread: it may block or burn CPU, and must touch
 * nothing of the loop or of any object owned by the loop thread -- only what
 * `arg` gives it exclusively (copies of inputs, a place for the result).
 * done(arg, ran) then runs on the loop thread, exactly once per accepted
 * call: ran == true after work ran; ran == false when the work was
 * cancelled before it started (evc_loop_free), and then work never runs.
 * `arg` is owned by the caller throughout; done is the place to free it.
 * done must assume that whatever the work was for (a link, a peer) may be
 * gone meanwhile: look it up again through a handle, never keep a bare
 * pointer to a loop object in `arg`.
 *
 * The pool is libuv's process-wide one: UV_THREADPOOL_SIZE threads (4 by
 * default, read once at the first use), shared with libuv's DNS and file
 * operations. At most evc_loop_work_max calls may be pending (queued or
 * running) per loop: beyond, EVC_EAGAIN is returned at once and nothing runs
 * -- the caller refuses the request (it must not queue without bound). */
typedef void (*evc_work_fn)(void *arg);
typedef void (*evc_work_done_fn)(void *arg, bool ran);
#define EVC_LOOP_WORK_MAX_DEFAULT 64

/* Queues work(arg) on the pool, done(arg, ran) afterwards on the loop.
 * Loop thread only. EVC_EAGAIN when evc_loop_work_max calls are pending,
 * EVC_ESTATE while the loop is being freed, EVC_EINVAL without work/done. */
EVC_API int evc_loop_work(evc_loop *loop, evc_work_fn work, evc_work_done_fn done, void *arg,
                          evc_error *err);
/* Sets the bound of pending calls (at least 1). Loop thread only. */
EVC_API void evc_loop_set_work_max(evc_loop *loop, size_t max);
/* Calls accepted whose done has not run yet. */
EVC_API size_t evc_loop_work_pending(const evc_loop *loop);

/* Calls cb(signum, arg) on the loop thread when the process receives signum.
 * At most 8 signal handlers per loop. */
typedef void (*evc_signal_cb)(int signum, void *arg);
EVC_API int evc_loop_on_signal(evc_loop *loop, int signum, evc_signal_cb cb, void *arg,
                               evc_error *err);

/* Monotonic milliseconds, cached per loop iteration (cheap). */
EVC_API uint64_t evc_loop_now_ms(evc_loop *loop);
/* Wall-clock milliseconds since the Unix epoch (for timestamps). */
EVC_API uint64_t evc_wall_ms(void);

/* The underlying uv_loop_t*, for core modules that put another library on the
 * same loop (libwebsockets as a foreign loop, TCP helpers). Not for plugins. */
EVC_API void *evc_loop_native(evc_loop *loop);

#ifdef __cplusplus
}
#endif
#endif
