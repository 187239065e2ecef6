/* Unit tests of evc_loop: timers, fd watches, cross-thread post, run_until,
 * signals, freeing with open handles, and idle CPU. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "evc/loop.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#ifdef HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

static evc_loop *L;

static void setup(void)
{
    evc_error err = {0};
    cr_assert_eq(evc_loop_new(&L, &err), EVC_OK, "%s", err.msg);
}

static void teardown(void)
{
    evc_loop_free(L);
    L = NULL;
}

TestSuite(loop, .init = setup, .fini = teardown, .timeout = 20);

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool int_at_least(void *arg) { return ((int *)arg)[0] >= ((int *)arg)[1]; }

/* ---- timers ------------------------------------------------------------- */

typedef struct tstate {
    int count, want; /* int_at_least reads these two first */
    int close_at;    /* close the timer inside its callback at this count */
    evc_timer *t;
} tstate;

static void on_count(evc_timer *t, void *arg)
{
    tstate *s = arg;
    s->count++;
    if (s->close_at && s->count == s->close_at) {
        evc_timer_close(t);
        s->t = NULL;
    }
}

Test(loop, one_shot_timer_fires_once)
{
    tstate s = {.want = 1};
    cr_assert_eq(evc_loop_timer(L, 5, 0, on_count, &s, &s.t, NULL), EVC_OK);
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &s, 2000), EVC_OK);
    s.want = 2;
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &s, 60), EVC_ETIMEDOUT);
    cr_assert_eq(s.count, 1);
    evc_timer_close(s.t);
}

Test(loop, repeating_timer_closed_inside_callback)
{
    tstate s = {.want = 5, .close_at = 5};
    cr_assert_eq(evc_loop_timer(L, 1, 2, on_count, &s, &s.t, NULL), EVC_OK);
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &s, 2000), EVC_OK);
    cr_assert_null(s.t);
    s.want = 6;
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &s, 50), EVC_ETIMEDOUT);
    cr_assert_eq(s.count, 5, "timer fired after being closed in its callback");
}

Test(loop, one_shot_closed_inside_callback)
{
    tstate s = {.want = 1, .close_at = 1};
    cr_assert_eq(evc_loop_timer(L, 0, 0, on_count, &s, &s.t, NULL), EVC_OK);
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &s, 2000), EVC_OK);
    cr_assert_null(s.t);
}

Test(loop, restart_rearms_with_new_delay)
{
    tstate s = {.want = 1};
    cr_assert_eq(evc_loop_timer(L, 60000, 0, on_count, &s, &s.t, NULL), EVC_OK);
    uint64_t t0 = mono_ms();
    cr_assert_eq(evc_timer_restart(s.t, 5, 0), EVC_OK);
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &s, 5000), EVC_OK);
    cr_assert_lt(mono_ms() - t0, 2000);
    /* restarting a fired one-shot arms it again, now periodic */
    s.want = 3;
    cr_assert_eq(evc_timer_restart(s.t, 1, 1), EVC_OK);
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &s, 2000), EVC_OK);
    evc_timer_close(s.t);
    cr_assert_eq(evc_timer_restart(NULL, 1, 0), EVC_EINVAL);
}

/* ---- fd watches --------------------------------------------------------- */

typedef struct wstate {
    int count, want;
    unsigned last_events;
    unsigned all_events;
    bool close_inside;
    bool read_byte;
    evc_watch *w;
} wstate;

static void on_watch(evc_watch *w, int fd, unsigned events, void *arg)
{
    wstate *s = arg;
    s->count++;
    s->last_events = events;
    s->all_events |= events;
    if (s->read_byte && (events & EVC_WATCH_READ)) {
        char c;
        (void)read(fd, &c, 1);
    }
    if (s->close_inside) {
        evc_watch_close(w);
        s->w = NULL;
    }
}

Test(loop, watch_pipe_read_readiness)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    wstate s = {.want = 1, .read_byte = true};
    cr_assert_eq(evc_loop_watch_fd(L, p[0], EVC_WATCH_READ, on_watch, &s, &s.w, NULL), EVC_OK);
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &s, 30), EVC_ETIMEDOUT, "readable while empty");
    cr_assert_eq(write(p[1], "x", 1), 1);
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &s, 2000), EVC_OK);
    cr_assert_eq(s.last_events, EVC_WATCH_READ);
    evc_watch_close(s.w);
    close(p[0]);
    close(p[1]);
}

Test(loop, watch_pipe_write_readiness_and_set_events)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    wstate s = {.want = 1};
    cr_assert_eq(evc_loop_watch_fd(L, p[1], 0, on_watch, &s, &s.w, NULL), EVC_OK);
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &s, 30), EVC_ETIMEDOUT, "events 0 reported");
    cr_assert_eq(evc_watch_set_events(s.w, EVC_WATCH_WRITE), EVC_OK);
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &s, 2000), EVC_OK);
    cr_assert_eq(s.last_events, EVC_WATCH_WRITE);
    cr_assert_eq(evc_watch_set_events(s.w, 0x80), EVC_EINVAL);
    evc_watch_close(s.w);
    close(p[0]);
    close(p[1]);
}

Test(loop, watch_closed_inside_callback)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    wstate s = {.want = 1, .close_inside = true};
    cr_assert_eq(evc_loop_watch_fd(L, p[0], EVC_WATCH_READ, on_watch, &s, &s.w, NULL), EVC_OK);
    cr_assert_eq(write(p[1], "xy", 2), 2);
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &s, 2000), EVC_OK);
    cr_assert_null(s.w);
    /* data is still unread: a live watch would fire again */
    s.want = 2;
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &s, 50), EVC_ETIMEDOUT);
    cr_assert_eq(s.count, 1);
    close(p[0]);
    close(p[1]);
}

Test(loop, pipe_hangup_reported)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    wstate s = {.want = 1, .close_inside = true};
    cr_assert_eq(evc_loop_watch_fd(L, p[0], EVC_WATCH_READ, on_watch, &s, &s.w, NULL), EVC_OK);
    close(p[1]);
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &s, 2000), EVC_OK);
    cr_assert(s.last_events & (EVC_WATCH_READ | EVC_WATCH_ERROR));
    char c;
    cr_assert_eq(read(p[0], &c, 1), 0, "hang-up reported but read does not see EOF");
    close(p[0]);
}

Test(loop, socket_peer_close_reports_error)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    wstate s = {.want = 1, .close_inside = true};
    cr_assert_eq(evc_loop_watch_fd(L, sv[0], EVC_WATCH_READ, on_watch, &s, &s.w, NULL), EVC_OK);
    close(sv[1]);
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &s, 2000), EVC_OK);
    cr_assert(s.last_events & EVC_WATCH_ERROR, "events 0x%x", s.last_events);
    cr_assert(s.last_events & EVC_WATCH_READ, "events 0x%x", s.last_events);
    close(sv[0]);
}

Test(loop, write_to_pipe_without_reader_reports_error)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    close(p[0]);
    wstate s = {.want = 1, .close_inside = true};
    cr_assert_eq(evc_loop_watch_fd(L, p[1], EVC_WATCH_WRITE, on_watch, &s, &s.w, NULL), EVC_OK);
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &s, 2000), EVC_OK);
    cr_assert(s.last_events & EVC_WATCH_ERROR, "events 0x%x", s.last_events);
    close(p[1]);
}

Test(loop, watch_bad_arguments)
{
    evc_watch *w = (evc_watch *)1;
    evc_error err = {0};
    cr_assert_eq(evc_loop_watch_fd(L, -1, EVC_WATCH_READ, on_watch, NULL, &w, &err), EVC_EINVAL);
    cr_assert_null(w);
    cr_assert_str_neq(err.msg, "");
    int p[2];
    cr_assert_eq(pipe(p), 0);
    wstate s = {0};
    cr_assert_eq(evc_loop_watch_fd(L, p[0], EVC_WATCH_READ, on_watch, &s, &s.w, NULL), EVC_OK);
    /* a second watch on the same fd is refused, not silently broken */
    cr_assert_neq(evc_loop_watch_fd(L, p[0], EVC_WATCH_READ, on_watch, &s, &w, &err), EVC_OK);
    cr_assert_null(w);
    evc_watch_close(s.w);
    close(p[0]);
    close(p[1]);
}

/* ---- post --------------------------------------------------------------- */

#define POST_THREADS 10
#define POSTS_PER_THREAD 10000

static struct {
    int done, want;
    int next[POST_THREADS];
    int out_of_order;
} P;

static void on_post(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    int tid = (int)(v >> 20), seq = (int)(v & 0xfffff);
    if (P.next[tid] != seq)
        P.out_of_order++;
    P.next[tid] = seq + 1;
    P.done++;
}

static void *poster(void *arg)
{
    uintptr_t tid = (uintptr_t)arg;
    for (uintptr_t i = 0; i < POSTS_PER_THREAD; i++)
        if (evc_loop_post(L, on_post, (void *)((tid << 20) | i)) != EVC_OK)
            return (void *)1;
    return NULL;
}

Test(loop, post_from_threads_all_run_in_order)
{
    P.want = POST_THREADS * POSTS_PER_THREAD;
    pthread_t th[POST_THREADS];
    for (uintptr_t i = 0; i < POST_THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, poster, (void *)i), 0);
    cr_assert_eq(evc_loop_run_until(L, int_at_least, &P, 50000), EVC_OK, "ran %d of %d", P.done,
                 P.want);
    for (int i = 0; i < POST_THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        cr_assert_null(r, "post failed in thread %d", i);
        cr_assert_eq(P.next[i], POSTS_PER_THREAD);
    }
    cr_assert_eq(P.out_of_order, 0);
    cr_assert_eq(P.done, P.want);
    cr_assert_eq(evc_loop_post(L, NULL, NULL), EVC_EINVAL);
}

static void stop_cb(void *arg) { evc_loop_stop(arg); }

static void *post_stop(void *arg)
{
    return (void *)(intptr_t)evc_loop_post(L, stop_cb, L);
}

Test(loop, run_stops_through_post_from_other_thread)
{
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, post_stop, NULL), 0);
    cr_assert_eq(evc_loop_run(L), EVC_OK);
    void *r;
    pthread_join(th, &r);
    cr_assert_null(r);
}

/* ---- run_until and stop ------------------------------------------------- */

static int cond_calls;
static bool never_counted(void *arg)
{
    cond_calls++;
    return false;
}

Test(loop, run_until_times_out_within_bound_without_spinning)
{
    uint64_t t0 = mono_ms();
    cr_assert_eq(evc_loop_run_until(L, never_counted, NULL, 100), EVC_ETIMEDOUT);
    uint64_t dt = mono_ms() - t0;
    cr_assert_geq(dt, 95);
    cr_assert_lt(dt, 1000);
    /* one check per 10 ms tick, not a busy loop */
    cr_assert_lt(cond_calls, 60, "condition checked %d times in %llu ms", cond_calls,
                 (unsigned long long)dt);
}

static void set_flag(evc_timer *t, void *arg)
{
    *(int *)arg = 1;
    evc_timer_close(t);
}

static bool flag_set(void *arg) { return *(int *)arg != 0; }

Test(loop, run_until_ok_when_timer_sets_condition)
{
    int flag = 0;
    evc_timer *t;
    cr_assert_eq(evc_loop_timer(L, 20, 0, set_flag, &flag, &t, NULL), EVC_OK);
    uint64_t t0 = mono_ms();
    cr_assert_eq(evc_loop_run_until(L, flag_set, &flag, 5000), EVC_OK);
    cr_assert_lt(mono_ms() - t0, 2000);
}

static _Atomic int thread_flag;

static void *set_flag_later(void *arg)
{
    struct timespec ts = {0, 30 * 1000000};
    nanosleep(&ts, NULL);
    thread_flag = 1;
    return NULL;
}

static bool thread_flag_set(void *arg) { return thread_flag != 0; }

Test(loop, run_until_sees_condition_set_by_another_thread)
{
    /* nothing on the loop changes: only the periodic check can see it */
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, set_flag_later, NULL), 0);
    uint64_t t0 = mono_ms();
    cr_assert_eq(evc_loop_run_until(L, thread_flag_set, NULL, 5000), EVC_OK);
    cr_assert_lt(mono_ms() - t0, 1000);
    pthread_join(th, NULL);
}

typedef struct nest {
    int outer_fired, inner_flag, watchdog;
} nest;

static void inner_timer(evc_timer *t, void *arg)
{
    ((nest *)arg)->inner_flag = 1;
    evc_timer_close(t);
}

static bool inner_done(void *arg) { return ((nest *)arg)->inner_flag != 0; }

static void outer_timer(evc_timer *t, void *arg)
{
    nest *n = arg;
    n->outer_fired = 1;
    evc_loop_stop(L);
    evc_timer *it;
    cr_assert_eq(evc_loop_timer(L, 5, 0, inner_timer, n, &it, NULL), EVC_OK);
    cr_assert_eq(evc_loop_run_until(L, inner_done, n, 2000), EVC_OK);
    evc_timer_close(t);
}

static void watchdog(evc_timer *t, void *arg)
{
    if (++((nest *)arg)->watchdog > 200)
        cr_assert_fail("evc_loop_run did not return after stop + nested run_until");
}

Test(loop, stop_survives_nested_run_until)
{
    nest n = {0};
    evc_timer *t, *w;
    cr_assert_eq(evc_loop_timer(L, 1, 0, outer_timer, &n, &t, NULL), EVC_OK);
    cr_assert_eq(evc_loop_timer(L, 10, 10, watchdog, &n, &w, NULL), EVC_OK);
    cr_assert_eq(evc_loop_run(L), EVC_OK);
    cr_assert(n.outer_fired && n.inner_flag);
    evc_timer_close(w);
}

/* ---- signals ------------------------------------------------------------ */

static void on_sig(int signum, void *arg)
{
    if (signum == SIGUSR1)
        (*(int *)arg)++;
}

Test(loop, signal_delivered_on_loop)
{
    int got = 0;
    evc_error err = {0};
    cr_assert_eq(evc_loop_on_signal(L, SIGUSR1, on_sig, &got, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(raise(SIGUSR1), 0);
    cr_assert_eq(evc_loop_run_until(L, flag_set, &got, 2000), EVC_OK);
    cr_assert_eq(got, 1);
}

Test(loop, signal_handler_limit)
{
    int got = 0;
    evc_error err = {0};
    for (int i = 0; i < 8; i++)
        cr_assert_eq(evc_loop_on_signal(L, SIGUSR2, on_sig, &got, &err), EVC_OK, "%s", err.msg);
    cr_assert_neq(evc_loop_on_signal(L, SIGUSR2, on_sig, &got, &err), EVC_OK);
    cr_assert_str_neq(err.msg, "");
}

/* ---- free, clocks, idle ------------------------------------------------- */

static void nop_post(void *arg) { (void)arg; }
static void nop_timer(evc_timer *t, void *arg) { (void)t; }

/* Opens handles of every kind; noinline so that no pointer to them stays in
 * the live stack, where LeakSanitizer would count it as a reference. */
__attribute__((noinline)) static void open_all_kinds(int fd, int *got)
{
    evc_watch *w;
    evc_timer *t1, *t2;
    cr_assert_eq(evc_loop_watch_fd(L, fd, EVC_WATCH_READ, on_watch, got, &w, NULL), EVC_OK);
    cr_assert_eq(evc_loop_timer(L, 1000, 1000, nop_timer, NULL, &t1, NULL), EVC_OK);
    cr_assert_eq(evc_loop_timer(L, 1000, 0, nop_timer, NULL, &t2, NULL), EVC_OK);
    evc_timer_close(t2); /* close begun, not completed */
    cr_assert_eq(evc_loop_on_signal(L, SIGUSR2, on_sig, got, NULL), EVC_OK);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(evc_loop_post(L, nop_post, NULL), EVC_OK); /* dropped at free */
}

Test(loop, free_with_open_handles_releases_everything)
{
    /* Under -DEVC_SANITIZE=ON the leak check runs inside the test: LeakSanitizer
     * at process exit would come after Criterion has counted the test as
     * passed. */
    int p[2];
    cr_assert_eq(pipe(p), 0);
    static int got;
    open_all_kinds(p[0], &got);
    evc_loop_free(L);
    L = NULL;
    close(p[0]);
    close(p[1]);
#ifdef HAVE_LSAN
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "evc_loop_free leaked (see stderr)");
#endif
}

Test(loop, clocks)
{
    uint64_t a = evc_loop_now_ms(L);
    int flag = 0;
    evc_timer *t;
    cr_assert_eq(evc_loop_timer(L, 20, 0, set_flag, &flag, &t, NULL), EVC_OK);
    cr_assert_eq(evc_loop_run_until(L, flag_set, &flag, 2000), EVC_OK);
    cr_assert_geq(evc_loop_now_ms(L) - a, 20);
    uint64_t wall = evc_wall_ms();
    uint64_t now_s = (uint64_t)time(NULL);
    cr_assert(wall / 1000 >= now_s - 1 && wall / 1000 <= now_s + 1);
    cr_assert_not_null(evc_loop_native(L));
}

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static void stop_timer(evc_timer *t, void *arg) { evc_loop_stop(arg); }

Test(loop, idle_loop_uses_almost_no_cpu)
{
    evc_timer *slow, *stop;
    cr_assert_eq(evc_loop_timer(L, 1000, 1000, nop_timer, NULL, &slow, NULL), EVC_OK);
    cr_assert_eq(evc_loop_timer(L, 300, 0, stop_timer, L, &stop, NULL), EVC_OK);
    double c0 = cpu_ms();
    uint64_t t0 = mono_ms();
    cr_assert_eq(evc_loop_run(L), EVC_OK);
    double cpu = cpu_ms() - c0;
    uint64_t wall = mono_ms() - t0;
    cr_assert_geq(wall, 290);
    cr_assert_lt(cpu, 0.05 * (double)wall, "idle loop used %.1f ms CPU in %llu ms", cpu,
                 (unsigned long long)wall);
}

/* A timer armed long after the loop's last turn (a slow set-up, a loaded
 * machine) still waits its full delay: libuv's cached clock would have made
 * it fire early (seen: idle_loop_uses_almost_no_cpu under ASan). */
Test(loop, a_timer_counts_from_when_it_is_armed)
{
    uint64_t busy_until = mono_ms() + 200; /* work before arming, no loop turn */
    while (mono_ms() < busy_until)
        ;
    evc_timer *stop;
    uint64_t t0 = mono_ms();
    cr_assert_eq(evc_loop_timer(L, 300, 0, stop_timer, L, &stop, NULL), EVC_OK);
    cr_assert_eq(evc_loop_run(L), EVC_OK);
    uint64_t waited = mono_ms() - t0;
    cr_assert_geq(waited, 299, "a 300 ms timer fired after %llu ms",
                  (unsigned long long)waited);
}

/* ---- thread-pool work (evc_loop_work) ------------------------------------ */

typedef struct wjob {
    pthread_t loop_thread;
    pthread_t work_thread;
    bool work_ran, done_on_loop;
    int done_calls;
    bool ran;
    pthread_mutex_t *gate; /* work blocks on it while the test holds it */
    int *ndone;
} wjob;

static void job_work(void *arg)
{
    wjob *j = arg;
    j->work_thread = pthread_self();
    j->work_ran = true;
    if (j->gate) {
        pthread_mutex_lock(j->gate);
        pthread_mutex_unlock(j->gate);
    }
}

static void job_done(void *arg, bool ran)
{
    wjob *j = arg;
    j->done_on_loop = pthread_equal(pthread_self(), j->loop_thread);
    j->done_calls++;
    j->ran = ran;
    (*j->ndone)++;
}

static bool loop_idle_of_work(void *arg) { return evc_loop_work_pending(arg) == 0; }

Test(loop, work_runs_on_a_pool_thread_and_done_on_the_loop)
{
    int ndone = 0;
    wjob j = {.loop_thread = pthread_self(), .ndone = &ndone};
    evc_error err = {0};
    cr_assert_eq(evc_loop_work(L, job_work, job_done, &j, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_loop_work_pending(L), 1);
    cr_assert_eq(evc_loop_run_until(L, loop_idle_of_work, L, 10000), EVC_OK);
    cr_assert(j.work_ran);
    cr_assert(!pthread_equal(j.work_thread, j.loop_thread), "work ran on the loop thread");
    cr_assert(j.done_on_loop, "done ran off the loop thread");
    cr_assert_eq(j.done_calls, 1);
    cr_assert(j.ran);
}

/* While the work blocks, the loop keeps serving timers: nothing of the work
 * runs on it. */
static void on_tick_count(evc_timer *t, void *arg)
{
    (void)t;
    (*(int *)arg)++;
}

static bool ticks_at_least_5(void *arg) { return *(int *)arg >= 5; }

Test(loop, work_bound_refuses_at_once_and_loop_stays_live)
{
    pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&gate);
    evc_loop_set_work_max(L, 3);
    int ndone = 0;
    wjob j[4];
    evc_error err = {0};
    for (int i = 0; i < 3; i++) {
        j[i] = (wjob){.loop_thread = pthread_self(), .gate = &gate, .ndone = &ndone};
        cr_assert_eq(evc_loop_work(L, job_work, job_done, &j[i], &err), EVC_OK, "%s", err.msg);
    }
    j[3] = (wjob){.loop_thread = pthread_self(), .ndone = &ndone};
    cr_assert_eq(evc_loop_work(L, job_work, job_done, &j[3], &err), EVC_EAGAIN);
    cr_assert(strstr(err.msg, "pending") != NULL, "%s", err.msg);
    cr_assert_eq(evc_loop_work_pending(L), 3);

    int ticks = 0;
    evc_timer *t = NULL;
    cr_assert_eq(evc_loop_timer(L, 5, 5, on_tick_count, &ticks, &t, &err), EVC_OK);
    cr_assert_eq(evc_loop_run_until(L, ticks_at_least_5, &ticks, 10000), EVC_OK,
                 "the loop stalled while pool work blocked");
    cr_assert_eq(ndone, 0);
    evc_timer_close(t);

    pthread_mutex_unlock(&gate);
    cr_assert_eq(evc_loop_run_until(L, loop_idle_of_work, L, 10000), EVC_OK);
    cr_assert_eq(ndone, 3);
    /* Room again once the done callbacks ran. */
    cr_assert_eq(evc_loop_work(L, job_work, job_done, &j[3], &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_loop_run_until(L, loop_idle_of_work, L, 10000), EVC_OK);
    cr_assert_eq(ndone, 4);
    pthread_mutex_destroy(&gate);
}

/* Freeing the loop with work queued behind busy pool threads: every done
 * runs once, the queued ones with ran == false. */
Test(loop, free_cancels_queued_work_and_calls_every_done)
{
    pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&gate);
    int ndone = 0;
    enum { N = 40 }; /* more than any pool size: some stay queued */
    static wjob j[N];
    evc_error err = {0};
    for (int i = 0; i < N; i++) {
        j[i] = (wjob){.loop_thread = pthread_self(), .gate = i < 8 ? &gate : NULL,
                      .ndone = &ndone};
        cr_assert_eq(evc_loop_work(L, job_work, job_done, &j[i], &err), EVC_OK, "%s", err.msg);
    }
    pthread_mutex_unlock(&gate); /* let the running ones finish during free */
    evc_loop_free(L);
    L = NULL;
    cr_assert_eq(ndone, N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(j[i].done_calls, 1);
        cr_assert_eq(j[i].ran, j[i].work_ran, "done's ran flag must tell whether work ran");
    }
    pthread_mutex_destroy(&gate);
}
