/* loop.c: evc_loop over one libuv loop.
 *
 * Every handle we create (watches, timers, the post wakeup, the run_until
 * tick, signals) is on one list so that evc_loop_free closes exactly ours and
 * nothing that another library (libwebsockets) put on the same uv_loop_t.
 * Handle memory is released only in libuv's close callback, which makes
 * closing a watch or timer from inside its own callback safe.
 */
#include "evc/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "evc/log.h"

#include "loop_internal.h"

/* ---- handle list -------------------------------------------------------- */

static void hnd_link(evc_loop *loop, evc_hnd *h, hnd_kind kind)
{
    h->loop = loop;
    h->kind = kind;
    h->closing = false;
    h->next = loop->handles.next;
    h->prev = &loop->handles;
    loop->handles.next->prev = h;
    loop->handles.next = h;
}

static void hnd_unlink(evc_hnd *h)
{
    h->prev->next = h->next;
    h->next->prev = h->prev;
    h->prev = h->next = h;
}

static void on_watch_closed(uv_handle_t *uh)
{
    evc_watch *w = uh->data;
    hnd_unlink(&w->h);
    free(w);
}

static void deferred_unlink(evc_timer *t)
{
    if (!t->deferred)
        return;
    if (t->dprev)
        t->dprev->dnext = t->dnext;
    else
        t->h.loop->deferred = t->dnext;
    if (t->dnext)
        t->dnext->dprev = t->dprev;
    t->dprev = t->dnext = NULL;
    t->deferred = false;
}

static void on_timer_closed(uv_handle_t *uh)
{
    evc_timer *t = uh->data;
    deferred_unlink(t); /* closed while it waited for on_arm */
    hnd_unlink(&t->h);
    free(t);
}

static void on_internal_closed(uv_handle_t *uh)
{
    evc_internal *in = uh->data;
    hnd_unlink(&in->h);
    free(in);
}

static void hnd_close(evc_hnd *h)
{
    if (h->closing)
        return;
    h->closing = true;
    switch (h->kind) {
    case HND_WATCH: {
        evc_watch *w = (evc_watch *)h;
        uv_close((uv_handle_t *)&w->poll, on_watch_closed);
        break;
    }
    case HND_TIMER: {
        evc_timer *t = (evc_timer *)h;
        uv_close((uv_handle_t *)&t->timer, on_timer_closed);
        break;
    }
    case HND_INTERNAL: {
        evc_internal *in = (evc_internal *)h;
        uv_close(&in->u.handle, on_internal_closed);
        break;
    }
    }
}

/* ---- post --------------------------------------------------------------- */

/* Runs the callbacks queued when this wakeup started; callbacks posted
 * meanwhile (also by these callbacks) wait for the next wakeup, which their
 * uv_async_send guarantees, so a self-reposting callback cannot starve I/O.
 * uv_async_send coalesces, which is why we drain a whole batch. */
static void on_wakeup(uv_async_t *a)
{
    evc_loop *loop = ((evc_internal *)a->data)->h.loop;
    pthread_mutex_lock(&loop->mu);
    size_t batch = loop->ring_len;
    pthread_mutex_unlock(&loop->mu);
    for (size_t i = 0; i < batch; i++) {
        pthread_mutex_lock(&loop->mu);
        if (loop->ring_len == 0 || loop->freeing) {
            pthread_mutex_unlock(&loop->mu);
            return;
        }
        post_item it = loop->ring[loop->ring_head];
        loop->ring_head = (loop->ring_head + 1) % loop->ring_cap;
        loop->ring_len--;
        pthread_mutex_unlock(&loop->mu);
        it.cb(it.arg);
    }
}

/* Called with mu held. */
static int ring_grow(evc_loop *loop)
{
    size_t ncap = loop->ring_cap ? loop->ring_cap * 2 : 64;
    post_item *n = malloc(ncap * sizeof *n);
    if (!n)
        return EVC_ENOMEM;
    for (size_t i = 0; i < loop->ring_len; i++)
        n[i] = loop->ring[(loop->ring_head + i) % loop->ring_cap];
    free(loop->ring);
    loop->ring = n;
    loop->ring_cap = ncap;
    loop->ring_head = 0;
    return EVC_OK;
}

int evc_loop_post(evc_loop *loop, evc_post_cb cb, void *arg)
{
    if (!loop || !cb)
        return EVC_EINVAL;
    pthread_mutex_lock(&loop->mu);
    if (loop->freeing) {
        pthread_mutex_unlock(&loop->mu);
        return EVC_ESTATE;
    }
    if (loop->ring_len == loop->ring_cap && ring_grow(loop) != EVC_OK) {
        pthread_mutex_unlock(&loop->mu);
        return EVC_ENOMEM;
    }
    loop->ring[(loop->ring_head + loop->ring_len) % loop->ring_cap] = (post_item){cb, arg};
    loop->ring_len++;
    /* Sent under mu: evc_loop_free sets `freeing` under mu before closing
     * the async handle, so no send can race with its close. */
    uv_async_send(&loop->wakeup->u.async);
    pthread_mutex_unlock(&loop->mu);
    return EVC_OK;
}

/* ---- loop lifecycle ----------------------------------------------------- */

static void on_tick(uv_timer_t *t) { (void)t; /* only wakes the loop */ }

static evc_internal *internal_new(void) { return calloc(1, sizeof(evc_internal)); }

/* Links an initialised internal handle to the loop's list. */
static void internal_link(evc_loop *loop, evc_internal *in)
{
    in->u.handle.data = in;
    hnd_link(loop, &in->h, HND_INTERNAL);
}

int evc_loop_new(evc_loop **out, evc_error *err)
{
    *out = NULL;
    evc_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return evc_error_set(err, EVC_ENOMEM, "event loop: out of memory");
    loop->handles.next = loop->handles.prev = &loop->handles;
    loop->works_max = EVC_LOOP_WORK_MAX_DEFAULT;
    int rc = uv_loop_init(&loop->uv);
    if (rc != 0) {
        free(loop);
        return evc_error_set(err, EVC_EIO, "event loop: uv_loop_init: %s", uv_strerror(rc));
    }
    if (pthread_mutex_init(&loop->mu, NULL) != 0) {
        uv_loop_close(&loop->uv);
        free(loop);
        return evc_error_set(err, EVC_EIO, "event loop: pthread_mutex_init failed");
    }
    loop->wakeup = internal_new();
    loop->tick = internal_new();
    loop->arm = internal_new();
    if (!loop->wakeup || !loop->tick || !loop->arm) {
        free(loop->wakeup);
        free(loop->tick);
        free(loop->arm);
        pthread_mutex_destroy(&loop->mu);
        uv_loop_close(&loop->uv);
        free(loop);
        return evc_error_set(err, EVC_ENOMEM, "event loop: out of memory");
    }
    rc = uv_async_init(&loop->uv, &loop->wakeup->u.async, on_wakeup);
    if (rc == 0) {
        internal_link(loop, loop->wakeup);
        rc = uv_timer_init(&loop->uv, &loop->tick->u.timer);
        if (rc == 0) {
            internal_link(loop, loop->tick);
            /* The tick only bounds run_until's sleep: it must never keep
             * the loop alive by itself. */
            uv_unref(&loop->tick->u.handle);
        } else {
            free(loop->tick);
            loop->tick = NULL;
        }
    } else {
        free(loop->wakeup);
        free(loop->tick);
        loop->wakeup = loop->tick = NULL;
    }
    if (rc == 0) {
        rc = uv_prepare_init(&loop->uv, &loop->arm->u.prepare);
        if (rc == 0)
            internal_link(loop, loop->arm);
    }
    if (rc != 0 && loop->arm && !loop->arm->h.loop) {
        free(loop->arm); /* not linked: evc_loop_free would not see it */
        loop->arm = NULL;
    }
    if (rc != 0) {
        evc_loop_free(loop);
        return evc_error_set(err, EVC_EIO, "event loop: handle init: %s", uv_strerror(rc));
    }
    *out = loop;
    return EVC_OK;
}

int evc_loop_run(evc_loop *loop)
{
    loop->stop_requested = false;
    loop->run_depth++;
    /* The wakeup handle is referenced, so uv_run only returns on stop; the
     * while covers a stop flag consumed by a nested run_until. */
    while (!loop->stop_requested)
        uv_run(&loop->uv, UV_RUN_DEFAULT);
    loop->run_depth--;
    return EVC_OK;
}

void evc_loop_stop(evc_loop *loop)
{
    loop->stop_requested = true;
    uv_stop(&loop->uv);
}

int evc_loop_run_until(evc_loop *loop, evc_cond_fn cond, void *arg, uint64_t timeout_ms)
{
    uv_update_time(&loop->uv);
    uint64_t deadline = uv_now(&loop->uv) + timeout_ms;
    if (cond(arg))
        return EVC_OK;
    if (loop->until_depth++ == 0)
        uv_timer_start(&loop->tick->u.timer, on_tick, RUN_UNTIL_TICK_MS, RUN_UNTIL_TICK_MS);
    int rc = EVC_ETIMEDOUT;
    for (;;) {
        /* UV_RUN_ONCE sleeps until I/O, a timer or the tick: never spins. */
        uv_run(&loop->uv, UV_RUN_ONCE);
        if (cond(arg)) {
            rc = EVC_OK;
            break;
        }
        uv_update_time(&loop->uv);
        if (uv_now(&loop->uv) >= deadline)
            break;
    }
    if (--loop->until_depth == 0)
        uv_timer_stop(&loop->tick->u.timer);
    /* uv_run resets libuv's stop flag on return: re-raise it for an outer
     * evc_loop_run that we are nested in. */
    if (loop->stop_requested && loop->run_depth > 0)
        uv_stop(&loop->uv);
    return rc;
}

void evc_loop_free(evc_loop *loop)
{
    if (!loop)
        return;
    pthread_mutex_lock(&loop->mu);
    loop->freeing = true;
    pthread_mutex_unlock(&loop->mu);

    /* Work not started yet is cancelled (its done sees ran == false); work
     * running on a pool thread cannot be interrupted: wait for it, which is
     * bounded by the work itself (one password check). */
    for (work_item *w = loop->works; w; w = w->next)
        uv_cancel((uv_req_t *)&w->req);
    for (evc_hnd *h = loop->handles.next; h != &loop->handles; h = h->next)
        hnd_close(h);
    /* Close callbacks run in the next iteration; NOWAIT never blocks on a
     * foreign handle that stays active. */
    while (loop->handles.next != &loop->handles)
        uv_run(&loop->uv, UV_RUN_NOWAIT);
    while (loop->works)
        uv_run(&loop->uv, UV_RUN_ONCE);

    int rc = uv_loop_close(&loop->uv);
    if (rc != 0) {
        /* A foreign handle is still open: freeing the uv_loop_t would leave
         * it dangling, so leak the loop rather than corrupt memory. */
        EVC_LOGE("loop", "evc_loop_free: handles of another library are still open (%s); "
                         "loop memory leaked on purpose",
                 uv_strerror(rc));
        return;
    }
    pthread_mutex_destroy(&loop->mu);
    free(loop->ring);
    free(loop);
}

/* ---- watches ------------------------------------------------------------ */

static int uv_events_of(unsigned events)
{
    int ev = 0;
    if (events & EVC_WATCH_READ)
        ev |= UV_READABLE | UV_DISCONNECT;
    if (events & EVC_WATCH_WRITE)
        ev |= UV_WRITABLE;
    return ev;
}

static void on_poll(uv_poll_t *p, int status, int uvev)
{
    evc_watch *w = p->data;
    unsigned ev = 0;
    if (status < 0) {
        /* libuv has stopped the poll (POLLERR): report once, the owner
         * decides (close, or set_events to try again). */
        ev = EVC_WATCH_ERROR | (w->events & (EVC_WATCH_READ | EVC_WATCH_WRITE));
    } else {
        if (uvev & UV_READABLE)
            ev |= EVC_WATCH_READ;
        if (uvev & UV_WRITABLE)
            ev |= EVC_WATCH_WRITE;
        if (uvev & UV_DISCONNECT)
            ev |= EVC_WATCH_ERROR | (w->events & EVC_WATCH_READ);
    }
    if (ev)
        w->cb(w, w->fd, ev, w->arg);
}

int evc_loop_watch_fd(evc_loop *loop, int fd, unsigned events, evc_watch_cb cb, void *arg,
                      evc_watch **out, evc_error *err)
{
    *out = NULL;
    if (!cb || fd < 0 || (events & ~(unsigned)(EVC_WATCH_READ | EVC_WATCH_WRITE)))
        return evc_error_set(err, EVC_EINVAL, "watch fd %d: bad arguments (events=0x%x)", fd,
                             events);
    evc_watch *w = calloc(1, sizeof *w);
    if (!w)
        return evc_error_set(err, EVC_ENOMEM, "watch fd %d: out of memory", fd);
    int rc = uv_poll_init(&loop->uv, &w->poll, fd);
    if (rc != 0) {
        free(w);
        return evc_error_set(err, EVC_EIO, "watch fd %d: uv_poll_init: %s", fd, uv_strerror(rc));
    }
    w->poll.data = w;
    w->fd = fd;
    w->cb = cb;
    w->arg = arg;
    hnd_link(loop, &w->h, HND_WATCH);
    rc = evc_watch_set_events(w, events);
    if (rc != EVC_OK) {
        evc_watch_close(w);
        return evc_error_set(err, rc, "watch fd %d: cannot start polling", fd);
    }
    *out = w;
    return EVC_OK;
}

int evc_watch_set_events(evc_watch *w, unsigned events)
{
    if (!w || w->h.closing || (events & ~(unsigned)(EVC_WATCH_READ | EVC_WATCH_WRITE)))
        return EVC_EINVAL;
    w->events = events;
    int rc = events ? uv_poll_start(&w->poll, uv_events_of(events), on_poll)
                    : uv_poll_stop(&w->poll);
    return rc == 0 ? EVC_OK : EVC_EIO;
}

void evc_watch_close(evc_watch *w)
{
    if (w)
        hnd_close(&w->h);
}

/* ---- timers ------------------------------------------------------------- */

static void on_timer(uv_timer_t *ut)
{
    evc_timer *t = ut->data;
    evc_loop *loop = t->h.loop;
    loop->in_timers++;
    t->cb(t, t->arg);
    loop->in_timers--;
}

static uint64_t mono_ms(void) { return uv_hrtime() / 1000000u; }

/* The timer pass is over (idle and prepare run after it, before the poll):
 * the timers armed meanwhile are armed now, each with what is left of its
 * delay. Due at once, they run in the next pass, after the poll. */
static void on_arm(uv_prepare_t *p)
{
    evc_loop *loop = ((evc_internal *)p->data)->h.loop;
    uv_prepare_stop(p);
    uint64_t now = mono_ms();
    uv_update_time(&loop->uv);
    while (loop->deferred) {
        evc_timer *t = loop->deferred;
        uint64_t first = t->d_first, repeat = t->d_repeat, at = t->d_at_ms;
        deferred_unlink(t);
        if (t->h.closing)
            continue; /* its close callback is still to come */
        uint64_t gone = now > at ? now - at : 0;
        uv_timer_start(&t->timer, on_timer, first > gone ? first - gone : 0, repeat);
    }
}

/* Arms `t` first_ms from now. From inside a timer callback it waits for the
 * end of the pass: libuv before 1.48 runs a timer due at once in the pass
 * that armed it (libuv issue 4245), so a transport draining a flood in
 * batches, re-arming a 0 ms timer to yield, never reached the poll -- and
 * with the clock update below, every other due timer ran in that pass too:
 * Central ticked on while its 10,000 monitor sockets went unread (issue 14).
 * Otherwise the delay counts from this call, not from libuv's cached "now"
 * of the last loop turn (a timer armed long after it would fire early). */
static int timer_arm(evc_timer *t, uint64_t first_ms, uint64_t repeat_ms)
{
    evc_loop *loop = t->h.loop;
    if (loop->in_timers && loop->arm && !loop->arm->h.closing) {
        uv_timer_stop(&t->timer);
        t->d_first = first_ms;
        t->d_repeat = repeat_ms;
        t->d_at_ms = mono_ms();
        if (!t->deferred) {
            t->deferred = true;
            t->dprev = NULL;
            t->dnext = loop->deferred;
            if (t->dnext)
                t->dnext->dprev = t;
            loop->deferred = t;
        }
        return uv_prepare_start(&loop->arm->u.prepare, on_arm);
    }
    uv_update_time(&loop->uv);
    return uv_timer_start(&t->timer, on_timer, first_ms, repeat_ms);
}

int evc_loop_timer(evc_loop *loop, uint64_t first_ms, uint64_t repeat_ms, evc_timer_cb cb,
                   void *arg, evc_timer **out, evc_error *err)
{
    *out = NULL;
    if (!cb)
        return evc_error_set(err, EVC_EINVAL, "timer: NULL callback");
    evc_timer *t = calloc(1, sizeof *t);
    if (!t)
        return evc_error_set(err, EVC_ENOMEM, "timer: out of memory");
    int rc = uv_timer_init(&loop->uv, &t->timer);
    if (rc != 0) {
        free(t);
        return evc_error_set(err, EVC_EIO, "timer: uv_timer_init: %s", uv_strerror(rc));
    }
    t->timer.data = t;
    t->cb = cb;
    t->arg = arg;
    hnd_link(loop, &t->h, HND_TIMER);
    rc = timer_arm(t, first_ms, repeat_ms);
    if (rc != 0) {
        evc_timer_close(t);
        return evc_error_set(err, EVC_EIO, "timer: uv_timer_start: %s", uv_strerror(rc));
    }
    *out = t;
    return EVC_OK;
}

int evc_timer_restart(evc_timer *t, uint64_t first_ms, uint64_t repeat_ms)
{
    if (!t || t->h.closing)
        return EVC_EINVAL;
    return timer_arm(t, first_ms, repeat_ms) == 0 ? EVC_OK : EVC_EIO;
}

void evc_timer_close(evc_timer *t)
{
    if (t)
        hnd_close(&t->h);
}

/* ---- signals ------------------------------------------------------------ */

static void on_signal(uv_signal_t *s, int signum)
{
    evc_internal *in = s->data;
    in->sig_cb(signum, in->sig_arg);
}

int evc_loop_on_signal(evc_loop *loop, int signum, evc_signal_cb cb, void *arg,
                       evc_error *err)
{
    if (!cb)
        return evc_error_set(err, EVC_EINVAL, "signal %d: NULL callback", signum);
    if (loop->nsignals >= LOOP_MAX_SIGNALS)
        return evc_error_set(err, EVC_ETOOBIG, "signal %d: at most %d signal handlers per loop",
                             signum, LOOP_MAX_SIGNALS);
    evc_internal *in = internal_new();
    if (!in)
        return evc_error_set(err, EVC_ENOMEM, "signal %d: out of memory", signum);
    int rc = uv_signal_init(&loop->uv, &in->u.signal);
    if (rc != 0) {
        free(in);
        return evc_error_set(err, EVC_EIO, "signal %d: uv_signal_init: %s", signum,
                             uv_strerror(rc));
    }
    in->sig_cb = cb;
    in->sig_arg = arg;
    internal_link(loop, in);
    rc = uv_signal_start(&in->u.signal, on_signal, signum);
    if (rc != 0) {
        hnd_close(&in->h);
        return evc_error_set(err, EVC_EINVAL, "signal %d: uv_signal_start: %s", signum,
                             uv_strerror(rc));
    }
    /* A signal handler alone must not keep evc_loop_free's drain or a
     * run-to-completion alive. */
    uv_unref(&in->u.handle);
    loop->nsignals++;
    return EVC_OK;
}

/* ---- clocks and native -------------------------------------------------- */

uint64_t evc_loop_now_ms(evc_loop *loop) { return uv_now(&loop->uv); }

uint64_t evc_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void *evc_loop_native(evc_loop *loop) { return &loop->uv; }
