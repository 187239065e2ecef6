/* loop_internal.h: evc_loop's structures, shared by loop.c (handles, post,
 * run, timers, watches, signals) and loop_work.c (the thread pool). Internal
 * to the core. */
#ifndef EVC_LOOP_INTERNAL_H
#define EVC_LOOP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "evc/loop.h"

#define LOOP_MAX_SIGNALS 8
#define RUN_UNTIL_TICK_MS 10

typedef enum hnd_kind { HND_WATCH, HND_TIMER, HND_INTERNAL } hnd_kind;

/* Common head of every handle we own; linked into loop->handles. */
typedef struct evc_hnd {
    struct evc_hnd *prev, *next;
    evc_loop *loop;
    hnd_kind kind;
    bool closing;
} evc_hnd;

struct evc_watch {
    evc_hnd h;
    uv_poll_t poll;
    int fd;
    unsigned events;
    evc_watch_cb cb;
    void *arg;
};

struct evc_timer {
    evc_hnd h;
    uv_timer_t timer;
    evc_timer_cb cb;
    void *arg;
    /* Armed while timers run: held on loop->deferred until the pass is
     * over (timer_arm), with the delays asked and when. */
    struct evc_timer *dprev, *dnext;
    bool deferred;
    uint64_t d_first, d_repeat, d_at_ms;
};

/* Loop-internal handles (async, tick, signals) share one wrapper. */
typedef struct evc_internal {
    evc_hnd h;
    union {
        uv_handle_t handle;
        uv_async_t async;
        uv_timer_t timer;
        uv_signal_t signal;
        uv_prepare_t prepare;
    } u;
    evc_signal_cb sig_cb;
    void *sig_arg;
} evc_internal;

typedef struct post_item {
    evc_post_cb cb;
    void *arg;
} post_item;

struct evc_loop {
    uv_loop_t uv;
    evc_hnd handles; /* sentinel of the circular list of our handles */

    /* Cross-thread post queue: a ring buffer that grows, guarded by mu. */
    pthread_mutex_t mu;
    post_item *ring;
    size_t ring_cap, ring_head, ring_len;
    bool freeing; /* under mu: posts are refused from now on */
    evc_internal *wakeup;

    evc_internal *tick; /* wakes run_until every RUN_UNTIL_TICK_MS */
    /* Timers armed from a timer callback wait for the end of libuv's timer
     * pass (timer_arm); `arm` (a prepare handle, active only while some
     * wait) arms them before the poll. */
    unsigned in_timers;
    evc_timer *deferred;
    evc_internal *arm;
    unsigned until_depth;
    unsigned run_depth;
    bool stop_requested;

    size_t nsignals; /* signal handlers registered (LOOP_MAX_SIGNALS at most) */

    struct work_item *works; /* accepted evc_loop_work calls, done not run yet */
    size_t nworks, works_max;
};

/* One evc_loop_work call; freed after its done callback. */
typedef struct work_item {
    uv_work_t req;
    evc_loop *loop;
    evc_work_fn work;
    evc_work_done_fn done;
    void *arg;
    struct work_item *prev, *next; /* loop->works, for cancelling at free */
} work_item;

#endif
