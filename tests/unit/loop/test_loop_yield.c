/* Unit tests of evc_loop: a timer armed from a timer callback waits for the
 * next loop turn, so that I/O is polled in between. Transports drain a flood
 * in batches and re-arm a 0 ms timer to "yield" (the ZeroMQ and Kafka
 * plugins, the bus's held queue); libuv before 1.48 ran such a timer again in
 * the same pass, and with evc_loop_timer's clock update every other due timer
 * too, so the pass never ended while the flood lasted and no socket was read:
 * issue 14, 10,000 monitor links unread for seconds while Central's 250 ms
 * tick (a timer) went on timing their heartbeats out. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evc/loop.h"

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

TestSuite(loop_yield, .init = setup, .fini = teardown, .timeout = 30);

/* A flood that never ends by itself: `cap` runs, or until the socket was read. */
#define FLOOD_CAP 200000

typedef struct flood {
    int runs;
    int runs_at_io; /* runs when the socket was first read; -1 = never */
    bool new_timer; /* re-arm as the ZeroMQ plugin does: close, then a new timer */
    evc_timer *t;
} flood;

static void on_flood(evc_timer *t, void *arg)
{
    flood *f = arg;
    f->runs++;
    if (f->runs_at_io >= 0 || f->runs >= FLOOD_CAP)
        return;
    if (f->new_timer) {
        evc_timer_close(t);
        f->t = NULL;
        cr_assert_eq(evc_loop_timer(L, 0, 0, on_flood, f, &f->t, NULL), EVC_OK);
    } else {
        cr_assert_eq(evc_timer_restart(t, 0, 0), EVC_OK);
    }
}

static void on_readable(evc_watch *w, int fd, unsigned events, void *arg)
{
    flood *f = arg;
    char c;
    if ((events & EVC_WATCH_READ) && read(fd, &c, 1) == 1 && f->runs_at_io < 0)
        f->runs_at_io = f->runs;
}

static bool flood_over(void *arg)
{
    flood *f = arg;
    return f->runs_at_io >= 0 || f->runs >= FLOOD_CAP;
}

static void flood_vs_socket(bool new_timer)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(write(sv[1], "x", 1), 1); /* readable before the flood starts */
    flood f = {.runs_at_io = -1, .new_timer = new_timer};
    evc_watch *w;
    cr_assert_eq(evc_loop_watch_fd(L, sv[0], EVC_WATCH_READ, on_readable, &f, &w, NULL), EVC_OK);
    cr_assert_eq(evc_loop_timer(L, 0, 0, on_flood, &f, &f.t, NULL), EVC_OK);
    (void)evc_loop_run_until(L, flood_over, &f, 20000);
    cr_assert_geq(f.runs_at_io, 0, "the socket was never read in %d runs of the timer", f.runs);
    /* One pass of timers, then the poll: the socket is read after a run or
     * two of the flood, not after the flood gave up. */
    cr_assert_leq(f.runs_at_io, 3, "the socket was read only after %d runs of the timer",
                  f.runs_at_io);
    evc_timer_close(f.t);
    evc_watch_close(w);
    close(sv[0]);
    close(sv[1]);
}

Test(loop_yield, a_timer_rearmed_at_0_ms_lets_a_ready_socket_be_read)
{
    flood_vs_socket(false);
}

Test(loop_yield, a_new_0_ms_timer_from_a_timer_lets_a_ready_socket_be_read)
{
    flood_vs_socket(true);
}
