/* test_link_idle.c: a connection that says nothing does not hold a slot
 * (issue 11 finding 8): a server link with no first frame is closed after
 * handshake_timeout_ms, one silent after frames after idle_timeout_ms;
 * garbage bytes keep nothing alive; a peer that keeps talking is kept; out
 * of descriptors, a server pauses accepting instead of spinning. And
 * the rate-limited log (finding 9): a flood of bad frames writes at most a
 * burst of lines, then one "suppressed" summary. Real loopback sockets. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "evc/link.h"
#include "evc/log.h"
#include "link_internal.h"

typedef struct srv_seen {
    int opens, closes;
    char close_reason[200];
} srv_seen;

static void s_open(evc_link *l, void *arg)
{
    (void)l;
    ((srv_seen *)arg)->opens++;
}

static void s_close(evc_link *l, const char *reason, void *arg)
{
    srv_seen *s = arg;
    (void)l;
    s->closes++;
    snprintf(s->close_reason, sizeof s->close_reason, "%s", reason);
}

static const evc_link_handlers H = {.on_open = s_open, .on_close = s_close};

static evc_loop *loop;
static void setup(void) { cr_assert_eq(evc_loop_new(&loop, NULL), EVC_OK); }
static void teardown(void)
{
    evc_loop_free(loop);
    evc_log_set_fd(2);
    evc_log_set_level(EVC_LOG_INFO);
    evc_log_set_rate_limit(0, 0);
}
TestSuite(link_idle, .init = setup, .fini = teardown, .timeout = 60);

static int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "%s", strerror(errno));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static bool never(void *arg) { (void)arg; return false; }
static bool int_positive(void *arg) { return *(int *)arg > 0; }

static evc_link_server *listen_with(srv_seen *srv, uint64_t handshake_ms, uint64_t idle_ms)
{
    evc_link_server *server;
    evc_error err = {0};
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", 0, &H, srv, &server, &err), EVC_OK, "%s",
                 err.msg);
    evc_link_limits lim = {.handshake_timeout_ms = handshake_ms, .idle_timeout_ms = idle_ms};
    evc_link_server_set_limits(server, &lim);
    return server;
}

static void send_ping(int fd)
{
    char *frame = NULL;
    size_t flen = 0;
    cr_assert_eq(evc_frame_encode_alloc("PING", NULL, 0, &frame, &flen, NULL), EVC_OK);
    cr_assert_eq(send(fd, frame, flen, MSG_NOSIGNAL), (ssize_t)flen);
    free(frame);
}

/* Before: a connection that never sent a byte stayed open for ever (19,990
 * of them exhausted Central's descriptors). */
Test(link_idle, a_connection_without_a_first_frame_is_closed)
{
    srv_seen srv = {0};
    evc_link_server *server = listen_with(&srv, 300, 60000);
    int fd = raw_connect(evc_link_server_port(server));
    cr_assert_eq(evc_loop_run_until(loop, int_positive, &srv.opens, 5000), EVC_OK);
    cr_assert_eq(evc_loop_run_until(loop, int_positive, &srv.closes, 5000), EVC_OK,
                 "a silent connection was still open after 5 s (handshake timeout 300 ms)");
    cr_expect_str_eq(srv.close_reason, "handshake timeout");
    cr_expect_eq(evc_link_server_timed_out(server), 1);
    cr_expect_eq(evc_link_server_count(server), 0);
    close(fd);
    evc_link_server_close(server);
}

/* Garbage outside frames is skipped by the decoder: it must not count as
 * traffic, or one byte a second would hold a slot for ever. */
Test(link_idle, garbage_does_not_keep_a_connection_alive)
{
    srv_seen srv = {0};
    evc_link_server *server = listen_with(&srv, 400, 60000);
    int fd = raw_connect(evc_link_server_port(server));
    cr_assert_eq(evc_loop_run_until(loop, int_positive, &srv.opens, 5000), EVC_OK);
    for (int i = 0; i < 300 && srv.closes == 0; i++) {
        send(fd, "zz", 2, MSG_NOSIGNAL);
        evc_loop_run_until(loop, never, NULL, 10);
    }
    cr_assert_eq(srv.closes, 1, "a peer sending only garbage for 3 s was kept");
    cr_expect_str_eq(srv.close_reason, "handshake timeout");
    close(fd);
    evc_link_server_close(server);
}

/* A peer that pings every 100 ms for 2 s is kept with a 500 ms idle timeout;
 * when it stops, it is closed by the idle timeout (not the handshake one). */
Test(link_idle, a_talking_peer_is_kept_and_closed_once_silent)
{
    srv_seen srv = {0};
    evc_link_server *server = listen_with(&srv, 300, 500);
    int fd = raw_connect(evc_link_server_port(server));
    cr_assert_eq(evc_loop_run_until(loop, int_positive, &srv.opens, 5000), EVC_OK);
    for (int i = 0; i < 20; i++) {
        send_ping(fd);
        evc_loop_run_until(loop, never, NULL, 100);
        char b[64];
        while (recv(fd, b, sizeof b, MSG_DONTWAIT) > 0) /* the ACKs */
            ;
    }
    cr_assert_eq(srv.closes, 0, "a peer pinging every 100 ms was closed: %s", srv.close_reason);
    cr_assert_eq(evc_loop_run_until(loop, int_positive, &srv.closes, 5000), EVC_OK,
                 "a peer silent for 5 s was kept (idle timeout 500 ms)");
    cr_expect_str_eq(srv.close_reason, "idle timeout");
    close(fd);
    evc_link_server_close(server);
}

static size_t count_lines(FILE *f, const char *needle)
{
    rewind(f);
    char line[4096];
    size_t n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle))
            n++;
    return n;
}

/* The site logs every call until the burst; then it counts; the first call
 * after the period writes the summary. */
Test(link_idle, a_rate_limited_site_writes_a_burst_then_a_summary)
{
    FILE *f = tmpfile();
    cr_assert(f);
    evc_log_set_fd(fileno(f));
    evc_log_set_rate_limit(5, 200);
    evc_log_rate rate = EVC_LOG_RATE_INIT;
    int written = 0;
    for (int i = 0; i < 1000; i++)
        written += evc_log_limited(&rate, EVC_LOG_WARN, "test", NULL, "bad thing %d", i);
    cr_expect_eq(written, 5);
    cr_expect_eq(count_lines(f, "bad thing"), 5);
    usleep(250 * 1000);
    cr_expect_eq(evc_log_limited(&rate, EVC_LOG_WARN, "test", NULL, "bad thing %d", 1000), 1);
    cr_expect_eq(count_lines(f, "995 similar messages suppressed"), 1);
    cr_expect_eq(count_lines(f, "bad thing 1000"), 1);
    evc_log_set_fd(2);
    fclose(f);
}

/* 2000 bad frames in one burst at debug level: before, 2000 "sent a bad
 * frame" lines; now the burst of the site. */
Test(link_idle, a_flood_of_bad_frames_writes_a_bounded_log)
{
    FILE *f = tmpfile();
    cr_assert(f);
    evc_log_set_fd(fileno(f));
    evc_log_set_level(EVC_LOG_DEBUG);
    evc_log_set_rate_limit(10, 60000);
    srv_seen srv = {0};
    evc_link_server *server = listen_with(&srv, 0, 0);
    int fd = raw_connect(evc_link_server_port(server));
    cr_assert_eq(evc_loop_run_until(loop, int_positive, &srv.opens, 5000), EVC_OK);
    /* STX "PING" ETX with a wrong LRC: a bad frame, answered NACK. */
    const char bad[] = {EVC_FRAME_STX, 'P', 'I', 'N', 'G', EVC_FRAME_ETX, 0x7f};
    size_t nacks = 0;
    for (int i = 0; i < 2000; i++) {
        while (send(fd, bad, sizeof bad, MSG_NOSIGNAL) < 0 && errno == EAGAIN)
            evc_loop_run_until(loop, never, NULL, 5);
        if (i % 100 == 99)
            evc_loop_run_until(loop, never, NULL, 5);
    }
    for (int i = 0; i < 400 && nacks < 2000; i++) {
        evc_loop_run_until(loop, never, NULL, 5);
        char b[4096];
        ssize_t n;
        while ((n = recv(fd, b, sizeof b, MSG_DONTWAIT)) > 0)
            for (ssize_t k = 0; k < n; k++)
                nacks += b[k] == EVC_FRAME_NACK;
    }
    cr_assert_eq(nacks, 2000, "the server answered %zu of 2000 bad frames", nacks);
    cr_expect_eq(count_lines(f, "sent a bad frame"), 10);
    close(fd);
    evc_link_server_close(server);
    evc_loop_run_until(loop, never, NULL, 20); /* the closes, logged at debug */
    /* Back to stderr before the file's descriptor can be reused (criterion's
     * own pipe got the loop's last debug lines otherwise). */
    evc_log_set_fd(2);
    evc_log_set_level(EVC_LOG_INFO);
    fclose(f);
}

/* ---- out of descriptors ------------------------------------------------- */

static bool connect_refused(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(fd);
    return rc != 0 && e == ECONNREFUSED;
}

typedef struct accept_wait {
    evc_link_server *server;
    srv_seen *srv;
    int fd;
} accept_wait;

static bool accepted_again(void *arg)
{
    accept_wait *w = arg;
    if (w->fd < 0) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons(evc_link_server_port(w->server))};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            w->fd = fd;
        else
            close(fd);
    }
    return w->srv->opens > 0;
}

/* libuv reports EMFILE to the server only when its spare descriptor is gone
 * (another thread took it); it then calls again at once for the same
 * pending connection, without returning to the loop. The server stops
 * listening (connections refused by the kernel: no spin), then listens again
 * on the same port. The failure is reported here as libuv would. */
Test(link_idle, out_of_descriptors_pauses_accepting_then_resumes_on_the_same_port)
{
    srv_seen srv = {0};
    evc_link_server *server = listen_with(&srv, 0, 0);
    uint16_t port = evc_link_server_port(server);
    link_server_accept_failed(server, UV_EMFILE);
    link_server_accept_failed(server, UV_EMFILE); /* the same pending connection again */
    evc_loop_run_until(loop, never, NULL, 20);
    cr_expect_eq(evc_link_server_pauses(server), 1);
    cr_expect_eq(evc_link_server_accept_errors(server), 2);
    cr_expect(connect_refused(port), "the port still listened during the pause");
    accept_wait w = {server, &srv, -1};
    cr_assert_eq(evc_loop_run_until(loop, accepted_again, &w, 5000), EVC_OK,
                 "port %u did not accept again after the pause (%d ms)", port,
                 EVC_LINK_ACCEPT_PAUSE_MS);
    cr_expect_eq(evc_link_server_port(server), port);
    close(w.fd);
    evc_link_server_close(server);
    evc_loop_run_until(loop, never, NULL, 20);
}

/* Closing a server while its listener is closing or closed for a pause
 * frees it once (the sanitizer build checks for leaks and double frees). */
Test(link_idle, a_server_closed_during_a_pause_is_freed)
{
    for (int wait_ms = 0; wait_ms <= 50; wait_ms += 50) {
        srv_seen srv = {0};
        evc_link_server *server = listen_with(&srv, 0, 0);
        link_server_accept_failed(server, UV_ENFILE);
        if (wait_ms)
            evc_loop_run_until(loop, never, NULL, wait_ms);
        evc_link_server_close(server);
        evc_loop_run_until(loop, never, NULL, 20);
    }
}
