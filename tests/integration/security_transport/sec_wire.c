/* sec_wire.c: the proxy program, the recording relay and socket monitors of
 * the transport-security scenarios (sec_wire.h). */
#include "sec_wire.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define PROXY_BIN EVC_TEST_BINARY_DIR "/bin/evc-zmq-proxy"

static long long sec_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs argv with stdout on a pipe; returns the pid, *out the pipe's end. */
static pid_t sec_spawn(char *const argv[], int *out)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    *out = fds[0];
    return pid;
}

/* Reads one line from fd within deadline_ms; "" on EOF or timeout. */
static void sec_read_line(int fd, char *buf, size_t cap, int deadline_ms)
{
    size_t n = 0;
    long long end = sec_now_ms() + deadline_ms;
    buf[0] = '\0';
    while (n + 1 < cap) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        long long left = end - sec_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        char c;
        if (read(fd, &c, 1) != 1 || c == '\n')
            break;
        buf[n++] = c;
        buf[n] = '\0';
    }
}

static int sec_wait_pid(pid_t pid)
{
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void sec_keygen(const char *path, char *pub)
{
    char *argv[] = {PROXY_BIN, "--curve-keygen", (char *)path, NULL};
    int fd = -1;
    pid_t pid = sec_spawn(argv, &fd);
    char line[128];
    sec_read_line(fd, line, sizeof line, 10000);
    close(fd);
    cr_assert_eq(sec_wait_pid(pid), 0, "evc-zmq-proxy --curve-keygen %s failed", path);
    cr_assert_eq(strlen(line), 40, "--curve-keygen printed \"%s\", not a Z85 key", line);
    memcpy(pub, line, 41);
}

/* A port P below the ephemeral range with P and P+1 free just now. */
static int sec_port_pair(void)
{
    for (int attempt = 0; attempt < 200; attempt++) {
        unsigned short r = 0;
        cr_assert_eq(getrandom(&r, sizeof r, 0), (ssize_t)sizeof r);
        int port = 20000 + r % 12000;
        int ok = 1;
        for (int i = 0; i < 2 && ok; i++) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = {.sin_family = AF_INET,
                                    .sin_port = htons((unsigned short)(port + i)),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            ok = bind(s, (struct sockaddr *)&a, sizeof a) == 0;
            close(s);
        }
        if (ok)
            return port;
    }
    cr_assert_fail("no free port pair");
    return -1;
}

void sec_proxy_start(sec_proxy *p, const char *secret_file, const char *pub)
{
    memset(p, 0, sizeof *p);
    if (pub != NULL)
        snprintf(p->pub, sizeof p->pub, "%s", pub);
    for (int attempt = 0; attempt < 20; attempt++) {
        p->port = sec_port_pair();
        snprintf(p->endpoint, sizeof p->endpoint, "127.0.0.1:%d", p->port);
        char *argv[] = {PROXY_BIN, "--hwm", "0", p->endpoint, NULL, NULL, NULL};
        if (secret_file != NULL) {
            argv[3] = "--curve-secret-key-file";
            argv[4] = (char *)secret_file;
            argv[5] = p->endpoint;
        }
        int fd = -1;
        p->pid = sec_spawn(argv, &fd);
        char line[512];
        /* The program prints its line once both ports are bound. */
        sec_read_line(fd, line, sizeof line, 10000);
        if (strstr(line, "publishers ->") != NULL) {
            p->out = fd;
            if (secret_file != NULL)
                cr_assert(strstr(line, pub) != NULL, "proxy line lacks the public key: %s",
                          line);
            return;
        }
        close(fd);
        kill(p->pid, SIGKILL);
        sec_wait_pid(p->pid); /* port taken meanwhile: another pair */
    }
    cr_assert_fail("evc-zmq-proxy did not start");
}

void sec_proxy_stop(sec_proxy *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    int rc = sec_wait_pid(p->pid);
    close(p->out);
    cr_assert_eq(rc, 0, "evc-zmq-proxy did not exit 0 on SIGTERM (status %d)", rc);
    p->pid = 0;
}

/* ---- relay ---- */

#define SEC_RELAY_CAP (4u << 20)

struct sec_relay {
    int lfd, to_port;
    pthread_t thread;
    volatile int stop;
    pthread_mutex_t mu;
    char *seen;   /* every byte forwarded, both directions, in arrival order */
    size_t nseen;
};

static void sec_relay_record(sec_relay *r, const char *b, size_t n)
{
    pthread_mutex_lock(&r->mu);
    if (n > SEC_RELAY_CAP - r->nseen)
        n = SEC_RELAY_CAP - r->nseen;
    memcpy(r->seen + r->nseen, b, n);
    r->nseen += n;
    pthread_mutex_unlock(&r->mu);
}

/* One connection at a time per slot; ZeroMQ reconnects after a failed
 * handshake, so up to 8 pairs are served together. */
static void *sec_relay_run(void *arg)
{
    sec_relay *r = arg;
    enum { MAXC = 8 };
    int a[MAXC], b[MAXC];
    for (int i = 0; i < MAXC; i++)
        a[i] = b[i] = -1;
    while (!r->stop) {
        struct pollfd p[1 + 2 * MAXC];
        int np = 0;
        p[np++] = (struct pollfd){.fd = r->lfd, .events = POLLIN};
        for (int i = 0; i < MAXC; i++) {
            p[np++] = (struct pollfd){.fd = a[i], .events = POLLIN};
            p[np++] = (struct pollfd){.fd = b[i], .events = POLLIN};
        }
        if (poll(p, (nfds_t)np, 50) <= 0)
            continue;
        if (p[0].revents & POLLIN) {
            int c = accept(r->lfd, NULL, NULL);
            int slot = -1;
            for (int i = 0; i < MAXC && slot < 0; i++)
                if (a[i] < 0)
                    slot = i;
            int s = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in to = {.sin_family = AF_INET,
                                     .sin_port = htons((unsigned short)r->to_port),
                                     .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            if (c >= 0 && slot >= 0 && connect(s, (struct sockaddr *)&to, sizeof to) == 0) {
                a[slot] = c;
                b[slot] = s;
            } else {
                if (c >= 0)
                    close(c);
                close(s);
            }
        }
        for (int i = 0; i < MAXC; i++) {
            for (int dir = 0; dir < 2; dir++) {
                struct pollfd *q = &p[1 + 2 * i + dir];
                if (a[i] < 0 || !(q->revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                char buf[65536];
                ssize_t n = read(q->fd, buf, sizeof buf);
                int other = dir == 0 ? b[i] : a[i];
                if (n > 0) {
                    sec_relay_record(r, buf, (size_t)n);
                    for (ssize_t off = 0; off < n;) {
                        ssize_t w = write(other, buf + off, (size_t)(n - off));
                        if (w <= 0)
                            break;
                        off += w;
                    }
                } else {
                    close(a[i]);
                    close(b[i]);
                    a[i] = b[i] = -1;
                    break;
                }
            }
        }
    }
    for (int i = 0; i < MAXC; i++)
        if (a[i] >= 0) {
            close(a[i]);
            close(b[i]);
        }
    return NULL;
}

sec_relay *sec_relay_start(int to_port, char *ep)
{
    sec_relay *r = calloc(1, sizeof *r);
    cr_assert_not_null(r);
    r->seen = malloc(SEC_RELAY_CAP);
    cr_assert_not_null(r->seen);
    pthread_mutex_init(&r->mu, NULL);
    r->to_port = to_port;
    r->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(r->lfd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(r->lfd, 16), 0);
    socklen_t len = sizeof a;
    cr_assert_eq(getsockname(r->lfd, (struct sockaddr *)&a, &len), 0);
    snprintf(ep, 64, "tcp://127.0.0.1:%d", ntohs(a.sin_port));
    cr_assert_eq(pthread_create(&r->thread, NULL, sec_relay_run, r), 0);
    return r;
}

bool sec_relay_saw(sec_relay *r, const char *needle)
{
    pthread_mutex_lock(&r->mu);
    bool hit = memmem(r->seen, r->nseen, needle, strlen(needle)) != NULL;
    pthread_mutex_unlock(&r->mu);
    return hit;
}

size_t sec_relay_bytes(sec_relay *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->nseen;
    pthread_mutex_unlock(&r->mu);
    return n;
}

void sec_relay_stop(sec_relay *r)
{
    r->stop = 1;
    pthread_join(r->thread, NULL);
    close(r->lfd);
    pthread_mutex_destroy(&r->mu);
    free(r->seen);
    free(r);
}

/* ---- monitors ---- */

void *sec_monitor(void *ctx, void *sock)
{
    static int seq;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://sec-mon-%d", ++seq);
    cr_assert_eq(zmq_socket_monitor(sock, ep, ZMQ_EVENT_ALL), 0, "%s",
                 zmq_strerror(zmq_errno()));
    void *mon = zmq_socket(ctx, ZMQ_PAIR);
    cr_assert_eq(zmq_connect(mon, ep), 0);
    return mon;
}

bool sec_wait_event(void *mon, int mask, int deadline_ms, int *seen)
{
    long long end = sec_now_ms() + deadline_ms;
    for (;;) {
        long long left = end - sec_now_ms();
        if (left <= 0)
            return false;
        zmq_pollitem_t it = {.socket = mon, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, (long)left) <= 0)
            continue;
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, mon, 0) < 0) {
            zmq_msg_close(&m);
            continue;
        }
        int ev = 0;
        if (zmq_msg_size(&m) >= 2) {
            uint16_t e16; /* libzmq writes the event id in host order */
            memcpy(&e16, zmq_msg_data(&m), sizeof e16);
            ev = e16;
        }
        bool more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        if (more) { /* the endpoint frame */
            zmq_msg_init(&m);
            zmq_msg_recv(&m, mon, 0);
            zmq_msg_close(&m);
        }
        *seen |= ev;
        if (ev & mask)
            return true;
    }
}
