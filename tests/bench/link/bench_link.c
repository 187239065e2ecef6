/* bench_link: what a monitor link costs a link server (issue 14).
 *
 * Memory: bytes per idle link, from the growth of the heap (mallinfo2) and
 * of the resident set between 100 and 5,000 connected links that sent a
 * heartbeat each and were answered. 10,000 links need 20,000 descriptors in
 * one process (both ends are here); the per-link number times 10,000 is the
 * cost at 10,000.
 *
 * CPU: the server thread's CPU time per heartbeat (read one HB frame, answer
 * its ACK) through evc_link, as a ratio to a baseline in the same run on the
 * same number of TCP connections: a bare epoll loop that does one read() and
 * one write() of the ACK byte per heartbeat, the least any server must do.
 * Medians of ROUNDS. Numbers go to stderr; the asserts only check that the
 * work was done, plus a memory bound (bytes are not timings: no flakiness).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <evc/frame.h>
#include <evc/link.h>
#include <evc/loop.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define ROUNDS 7

typedef struct server_seen {
    size_t frames;
} server_seen;

static void s_frame(evc_link *l, const evc_frame_event *ev, void *arg)
{
    (void)l;
    (void)ev;
    ((server_seen *)arg)->frames++;
}

static const evc_link_handlers H = {.on_frame = s_frame};

static char hb[64];
static size_t hb_len;

static void make_hb(void)
{
    evc_frame_field f[] = {EVC_FRAME_STR("CP_000123"), EVC_FRAME_STR("OK")};
    cr_assert_eq(evc_frame_encode("HB", f, 2, hb, sizeof hb, &hb_len, NULL), EVC_OK);
}

static void raise_nofile(size_t need)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    cr_assert(rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need,
              "hard open-files limit %llu is below the %zu this bench needs (ulimit -Hn)",
              (unsigned long long)rl.rlim_max, need);
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : rl.rlim_max;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "%s", strerror(errno));
}

static int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    cr_assert(fd >= 0, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    cr_assert(rc == 0 || errno == EINPROGRESS, "connect: %s", strerror(errno));
    return fd;
}

static bool count_at_least(void *arg)
{
    void **p = arg;
    return evc_link_server_count(p[0]) >= *(size_t *)p[1];
}

static bool frames_at_least(void *arg)
{
    void **p = arg;
    return ((server_seen *)p[0])->frames >= *(size_t *)p[1];
}

/* Each client sends one heartbeat; returns when the server handled them all. */
static void heartbeat_all(evc_loop *loop, server_seen *seen, const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(send(fds[i], hb, hb_len, MSG_NOSIGNAL), (ssize_t)hb_len, "send: %s",
                     strerror(errno));
    size_t want = seen->frames + n;
    void *p[] = {seen, &want};
    cr_assert_eq(evc_loop_run_until(loop, frames_at_least, p, 30000), EVC_OK,
                 "%zu of %zu heartbeats handled", seen->frames, want);
}

/* Reads the ACK of every client: each must have exactly one byte waiting. */
static void expect_acks(evc_loop *loop, const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char b[8];
        ssize_t r = -1;
        for (int tries = 0; tries < 1000; tries++) {
            r = recv(fds[i], b, sizeof b, 0);
            if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                break;
            uv_run(evc_loop_native(loop), UV_RUN_NOWAIT); /* an ACK queued behind a write */
        }
        cr_assert_eq(r, 1, "client %zu: %zd bytes of ACK (%s)", i, r, r < 0 ? strerror(errno) : "");
        cr_assert_eq(b[0], EVC_FRAME_ACK);
    }
}

/* Connects clients up to `total` in batches the backlog takes, each sends a
 * heartbeat and reads its ACK. */
static void connect_up_to(evc_loop *loop, evc_link_server *srv, server_seen *seen, int *fds,
                          size_t *n, size_t total)
{
    uint16_t port = evc_link_server_port(srv);
    while (*n < total) {
        size_t batch = total - *n < 100 ? total - *n : 100, from = *n;
        for (size_t i = 0; i < batch; i++)
            fds[(*n)++] = connect_to(port);
        void *p[] = {srv, n};
        cr_assert_eq(evc_loop_run_until(loop, count_at_least, p, 30000), EVC_OK,
                     "%zu of %zu links accepted", evc_link_server_count(srv), *n);
        heartbeat_all(loop, seen, fds + from, batch);
        expect_acks(loop, fds + from, batch);
    }
}

static size_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (size_t)sysconf(_SC_PAGESIZE);
}

Test(bench, memory_per_idle_link, .timeout = 240)
{
    enum { FEW = 100, MANY = 5000 };
    raise_nofile(2 * MANY + 256 + 64);
    make_hb();
    evc_loop *loop;
    cr_assert_eq(evc_loop_new(&loop, NULL), EVC_OK);
    server_seen seen = {0};
    evc_link_server *srv;
    evc_error err = {0};
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", 0, &H, &seen, &srv, &err), EVC_OK, "%s",
                 err.msg);
    evc_link_limits lim = {.max_links = MANY + 10};
    evc_link_server_set_limits(srv, &lim);
    int *fds = calloc(MANY, sizeof *fds);
    size_t n = 0;
    connect_up_to(loop, srv, &seen, fds, &n, FEW);
    /* A second heartbeat from each: the steady state, not the first frame. */
    heartbeat_all(loop, &seen, fds, n);
    expect_acks(loop, fds, n);
    size_t heap0 = heap_bytes(), rss0 = rss_bytes();
    connect_up_to(loop, srv, &seen, fds, &n, MANY);
    heartbeat_all(loop, &seen, fds, n);
    expect_acks(loop, fds, n);
    size_t heap1 = heap_bytes(), rss1 = rss_bytes();
    double heap_per = ((double)heap1 - (double)heap0) / (MANY - FEW);
    double rss_per = ((double)rss1 - (double)rss0) / (MANY - FEW);
    fprintf(stderr,
            "bench_link: idle link memory: heap %.0f B/link, RSS %.0f B/link (%d -> %d links; "
            "at 10,000 links: heap %.1f MB, RSS %.1f MB)\n",
            heap_per, rss_per, FEW, MANY, heap_per * 10000 / 1048576.0,
            rss_per * 10000 / 1048576.0);
    cr_expect_eq(evc_link_server_count(srv), (size_t)MANY);
    /* Issue 14: Central under 64 MB at 10,000 CPs leaves the link layer a
     * few KB per link; 29 KB before. */
    cr_expect_lt(heap_per, 4096.0, "%.0f bytes of heap per idle link", heap_per);
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    evc_link_server_close(srv);
    evc_loop_free(loop);
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The baseline server: accepted sockets in an epoll set; per readable
 * socket one read() and, per frame's worth of bytes, one write() of ACK. */
typedef struct raw_server {
    int lfd, ep;
    int *fds;
    size_t n;
} raw_server;

static uint16_t raw_listen(raw_server *r, size_t cap)
{
    r->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(bind(r->lfd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(r->lfd, 4096), 0);
    socklen_t len = sizeof a;
    getsockname(r->lfd, (struct sockaddr *)&a, &len);
    r->ep = epoll_create1(0);
    r->fds = calloc(cap, sizeof *r->fds);
    return ntohs(a.sin_port);
}

static void raw_accept(raw_server *r, size_t upto)
{
    while (r->n < upto) {
        int fd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK);
        cr_assert(fd >= 0, "accept: %s", strerror(errno));
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev);
        r->fds[r->n++] = fd;
    }
}

static void raw_serve(raw_server *r, size_t frames)
{
    static char buf[65536];
    struct epoll_event evs[256];
    size_t done = 0;
    while (done < frames) {
        int k = epoll_wait(r->ep, evs, 256, 1000);
        cr_assert(k > 0, "raw server: %zu of %zu heartbeats", done, frames);
        for (int i = 0; i < k; i++) {
            ssize_t got = read(evs[i].data.fd, buf, sizeof buf);
            if (got <= 0)
                continue;
            size_t nf = (size_t)got / hb_len;
            char acks[64];
            memset(acks, EVC_FRAME_ACK, sizeof acks);
            cr_assert_eq(write(evs[i].data.fd, acks, nf), (ssize_t)nf);
            done += nf;
        }
    }
}

Test(bench, cpu_per_heartbeat_ack, .timeout = 240)
{
    enum { N = 2000 };
    raise_nofile(4 * N + 256 + 64);
    make_hb();
    evc_loop *loop;
    cr_assert_eq(evc_loop_new(&loop, NULL), EVC_OK);
    server_seen seen = {0};
    evc_link_server *srv;
    evc_error err = {0};
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", 0, &H, &seen, &srv, &err), EVC_OK, "%s",
                 err.msg);
    evc_link_limits lim = {.max_links = N + 10};
    evc_link_server_set_limits(srv, &lim);
    int *lfds = calloc(N, sizeof *lfds), *rfds = calloc(N, sizeof *rfds);
    size_t n = 0;
    connect_up_to(loop, srv, &seen, lfds, &n, N);

    raw_server raw = {0};
    uint16_t rport = raw_listen(&raw, N);
    for (size_t i = 0; i < N; i++) {
        rfds[i] = connect_to(rport);
        if (i % 100 == 99)
            raw_accept(&raw, i + 1);
    }
    raw_accept(&raw, N);

    double ours[ROUNDS], base[ROUNDS];
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t i = 0; i < N; i++)
            send(lfds[i], hb, hb_len, MSG_NOSIGNAL);
        size_t want = seen.frames + N;
        void *p[] = {&seen, &want};
        double t0 = thread_cpu_s();
        cr_assert_eq(evc_loop_run_until(loop, frames_at_least, p, 30000), EVC_OK);
        uv_run(evc_loop_native(loop), UV_RUN_NOWAIT); /* write completions, if any */
        double t1 = thread_cpu_s();
        expect_acks(loop, lfds, N);

        for (size_t i = 0; i < N; i++)
            send(rfds[i], hb, hb_len, MSG_NOSIGNAL);
        double t2 = thread_cpu_s();
        raw_serve(&raw, N);
        double t3 = thread_cpu_s();
        expect_acks(loop, rfds, N);
        ours[round] = t1 - t0;
        base[round] = t3 - t2;
    }
    qsort(ours, ROUNDS, sizeof *ours, cmpd);
    qsort(base, ROUNDS, sizeof *base, cmpd);
    double o = ours[ROUNDS / 2] / N * 1e9, b = base[ROUNDS / 2] / N * 1e9;
    fprintf(stderr,
            "bench_link: heartbeat ACK: %.0f ns CPU/heartbeat through evc_link, baseline "
            "(epoll, read, write) %.0f ns: ratio %.2f (%d links, median of %d)\n",
            o, b, o / b, N, ROUNDS);
    cr_expect_gt(seen.frames, (size_t)N * ROUNDS);
    for (size_t i = 0; i < N; i++) {
        close(lfds[i]);
        close(rfds[i]);
        close(raw.fds[i]);
    }
    close(raw.lfd);
    close(raw.ep);
    free(raw.fds);
    free(lfds);
    free(rfds);
    evc_link_server_close(srv);
    evc_loop_free(loop);
}
