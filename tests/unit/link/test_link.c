/* test_link.c: framed TCP links on real loopback sockets. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evc/link.h"

typedef struct seen {
    int opens, closes, frames, bad, connect_failures;
    char last_opcode[32];
    char last_field[64];
    size_t last_nfields;
    evc_link *link;
    bool close_on_frame;
    bool reply;
} seen;

static void on_open(evc_link *l, void *arg)
{
    seen *s = arg;
    s->opens++;
    s->link = l;
}

static void on_frame(evc_link *l, const evc_frame_event *ev, void *arg)
{
    seen *s = arg;
    s->frames++;
    snprintf(s->last_opcode, sizeof s->last_opcode, "%s", ev->opcode);
    s->last_nfields = ev->nfields;
    if (ev->nfields > 0)
        snprintf(s->last_field, sizeof s->last_field, "%.*s", (int)ev->fields[0].len,
                 ev->fields[0].data);
    if (s->reply)
        evc_link_send(l, "PONG", (evc_frame_field[]){EVC_FRAME_STR("1")}, 1, NULL);
    if (s->close_on_frame)
        evc_link_close(l, "test closes");
}

static void on_bad(evc_link *l, evc_frame_error_kind k, void *arg) { ((seen *)arg)->bad++; }

static void on_close(evc_link *l, const char *reason, void *arg)
{
    seen *s = arg;
    s->closes++;
    if (s->link == l)
        s->link = NULL;
}

static void on_fail(const char *reason, uint64_t retry, void *arg) { ((seen *)arg)->connect_failures++; }

static const evc_link_handlers HANDLERS = {
    .on_open = on_open, .on_frame = on_frame, .on_bad_frame = on_bad,
    .on_close = on_close, .on_connect_failed = on_fail,
};

typedef struct wait_int {
    int *value;
    int at_least;
} wait_int;

static bool reached(void *arg)
{
    wait_int *w = arg;
    return *w->value >= w->at_least;
}

static void wait_for(evc_loop *loop, int *value, int at_least)
{
    wait_int w = {value, at_least};
    cr_assert_eq(evc_loop_run_until(loop, reached, &w, 5000), EVC_OK,
                 "timed out waiting for a counter to reach %d (is %d)", at_least, *value);
}

static evc_loop *loop;

static void setup(void) { cr_assert_eq(evc_loop_new(&loop, NULL), EVC_OK); }
static void teardown(void) { evc_loop_free(loop); }

TestSuite(link, .init = setup, .fini = teardown);

Test(link, frame_round_trip_with_ack)
{
    seen srv = {.reply = true}, cli = {0};
    evc_link_server *server;
    evc_error err;
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", 0, &HANDLERS, &srv, &server, &err), EVC_OK,
                 "%s", err.msg);
    evc_link_client *client;
    cr_assert_eq(evc_link_connect(loop, "127.0.0.1", evc_link_server_port(server), NULL,
                                  &HANDLERS, &cli, &client, &err),
                 EVC_OK);
    wait_for(loop, &cli.opens, 1);
    evc_link *l = evc_link_client_link(client);
    cr_assert_not_null(l);
    cr_assert_eq(evc_link_send(l, "HELLO", (evc_frame_field[]){EVC_FRAME_STR("CP#001")}, 1, &err),
                 EVC_OK);
    wait_for(loop, &cli.frames, 1);
    cr_expect_str_eq(srv.last_opcode, "HELLO");
    cr_expect_str_eq(srv.last_field, "CP#001");
    cr_expect_str_eq(cli.last_opcode, "PONG");
    cr_expect_eq(evc_link_unacked(l), 0, "the server's ACK emptied the FIFO");
    cr_expect_eq(evc_link_server_count(server), 1);
    evc_link_client_close(client);
    wait_for(loop, &srv.closes, 1);
    cr_expect_eq(cli.closes, 1);
    evc_link_server_close(server);
}

static int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "%s", strerror(errno));
    return fd;
}

typedef struct raw_wait {
    int fd;
    char buf[256];
    size_t len, want;
} raw_wait;

static bool raw_has(void *arg)
{
    raw_wait *w = arg;
    ssize_t n = recv(w->fd, w->buf + w->len, sizeof w->buf - w->len, MSG_DONTWAIT);
    if (n > 0)
        w->len += (size_t)n;
    return w->len >= w->want;
}

Test(link, garbage_gets_nack_or_nothing_and_server_keeps_serving)
{
    seen srv = {0};
    evc_link_server *server;
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", 0, &HANDLERS, &srv, &server, NULL), EVC_OK);
    uint16_t port = evc_link_server_port(server);
    int fd = raw_connect(port);
    /* Garbage outside frames, then a frame with a bad LRC, then a good one. */
    char good[64];
    size_t glen;
    cr_assert_eq(evc_frame_encode("HB", (evc_frame_field[]){EVC_FRAME_STR("CP_1")}, 1, good,
                                  sizeof good, &glen, NULL),
                 EVC_OK);
    char bad[64];
    memcpy(bad, good, glen);
    bad[glen - 1] ^= 0x55;
    char junk[1000];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(0x41 + i % 26);
    cr_assert_eq(send(fd, junk, sizeof junk, 0), (ssize_t)sizeof junk);
    cr_assert_eq(send(fd, bad, glen, 0), (ssize_t)glen);
    cr_assert_eq(send(fd, good, glen, 0), (ssize_t)glen);
    raw_wait w = {.fd = fd, .want = 2};
    cr_assert_eq(evc_loop_run_until(loop, raw_has, &w, 5000), EVC_OK);
    cr_expect_eq(w.buf[0], EVC_FRAME_NACK, "bad LRC answered NACK");
    cr_expect_eq(w.buf[1], EVC_FRAME_ACK, "good frame answered ACK");
    cr_expect_eq(srv.bad, 1);
    cr_expect_eq(srv.frames, 1);
    cr_expect_str_eq(srv.last_opcode, "HB");
    evc_frame_stats st;
    evc_link_stats(srv.link, &st);
    cr_expect_eq(st.garbage_bytes, sizeof junk);

    /* A second peer is served while the first one stays connected. */
    int fd2 = raw_connect(port);
    cr_assert_eq(send(fd2, good, glen, 0), (ssize_t)glen);
    raw_wait w2 = {.fd = fd2, .want = 1};
    cr_assert_eq(evc_loop_run_until(loop, raw_has, &w2, 5000), EVC_OK);
    cr_expect_eq(w2.buf[0], EVC_FRAME_ACK);
    cr_expect_eq(srv.frames, 2);
    close(fd);
    close(fd2);
    wait_for(loop, &srv.closes, 2);
    evc_link_server_close(server);
}

Test(link, nack_makes_the_sender_resend_then_give_up)
{
    seen srv = {0};
    evc_link_server *server;
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", 0, &HANDLERS, &srv, &server, NULL), EVC_OK);
    /* A raw listener plays a peer that NACKs everything. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t alen = sizeof a;
    getsockname(lfd, (struct sockaddr *)&a, &alen);
    listen(lfd, 1);
    seen cli = {0};
    evc_link_client *client;
    cr_assert_eq(evc_link_connect(loop, "127.0.0.1", ntohs(a.sin_port),
                                  &(evc_link_client_opts){.backoff_min_ms = 5000},
                                  &HANDLERS, &cli, &client, NULL),
                 EVC_OK);
    wait_for(loop, &cli.opens, 1);
    int fd = accept(lfd, NULL, NULL);
    cr_assert_geq(fd, 0);
    cr_assert_eq(evc_link_send(cli.link, "AUTH", (evc_frame_field[]){EVC_FRAME_STR("x")}, 1, NULL),
                 EVC_OK);
    char frame[64];
    size_t flen;
    evc_frame_encode("AUTH", (evc_frame_field[]){EVC_FRAME_STR("x")}, 1, frame, sizeof frame,
                     &flen, NULL);
    /* Original + EVC_LINK_MAX_RESENDS copies, then the link closes. */
    for (int i = 0; i <= EVC_LINK_MAX_RESENDS; i++) {
        raw_wait w = {.fd = fd, .want = flen};
        cr_assert_eq(evc_loop_run_until(loop, raw_has, &w, 5000), EVC_OK, "copy %d", i);
        cr_expect_eq(memcmp(w.buf, frame, flen), 0, "copy %d is the same frame", i);
        char nack = EVC_FRAME_NACK;
        cr_assert_eq(send(fd, &nack, 1, 0), 1);
    }
    wait_for(loop, &cli.closes, 1);
    evc_link_client_close(client);
    close(fd);
    close(lfd);
    evc_link_server_close(server);
}

Test(link, client_reconnects_when_the_server_returns)
{
    seen srv = {0}, cli = {0};
    evc_link_server *server;
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", 0, &HANDLERS, &srv, &server, NULL), EVC_OK);
    uint16_t port = evc_link_server_port(server);
    evc_link_client *client;
    cr_assert_eq(evc_link_connect(loop, "127.0.0.1", port,
                                  &(evc_link_client_opts){.backoff_min_ms = 20, .backoff_max_ms = 80},
                                  &HANDLERS, &cli, &client, NULL),
                 EVC_OK);
    wait_for(loop, &cli.opens, 1);
    evc_link_server_close(server);
    wait_for(loop, &cli.closes, 1);
    cr_expect_null(evc_link_client_link(client));
    wait_for(loop, &cli.connect_failures, 2);
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", port, &HANDLERS, &srv, &server, NULL), EVC_OK);
    wait_for(loop, &cli.opens, 2);
    cr_expect_not_null(evc_link_client_link(client));
    evc_link_client_close(client);
    evc_link_server_close(server);
    /* Let the closes complete before the loop is freed. */
    wait_for(loop, &srv.closes, 1);
}

Test(link, close_inside_on_frame_is_safe)
{
    seen srv = {.close_on_frame = true}, cli = {0};
    evc_link_server *server;
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", 0, &HANDLERS, &srv, &server, NULL), EVC_OK);
    int fd = raw_connect(evc_link_server_port(server));
    char two[128];
    size_t n1, n2;
    evc_frame_encode("A", NULL, 0, two, sizeof two, &n1, NULL);
    evc_frame_encode("B", NULL, 0, two + n1, sizeof two - n1, &n2, NULL);
    cr_assert_eq(send(fd, two, n1 + n2, 0), (ssize_t)(n1 + n2));
    wait_for(loop, &srv.closes, 1);
    cr_expect_eq(srv.frames, 1, "the second frame is not delivered on a closed link");
    close(fd);
    evc_link_server_close(server);
    (void)cli;
}

Test(link, listen_on_a_busy_port_names_the_address)
{
    evc_link_server *a, *b;
    seen s = {0};
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", 0, &HANDLERS, &s, &a, NULL), EVC_OK);
    evc_error err;
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", evc_link_server_port(a), &HANDLERS, &s, &b,
                                 &err),
                 EVC_EIO);
    char want[64];
    snprintf(want, sizeof want, "cannot listen on 127.0.0.1:%u", evc_link_server_port(a));
    cr_expect(strstr(err.msg, want), "%s", err.msg);
    evc_link_server_close(a);
}
