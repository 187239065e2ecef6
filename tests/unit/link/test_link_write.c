/* test_link_write.c: the write side of links after issue 14 -- replies
 * produced while a read is handled are staged and written together, in
 * stream order; a reply sent just before a close still arrives; the FIFO of
 * unACKed frames grows on demand to its bound and is released when empty.
 * Real loopback sockets; the peer is a raw blocking socket. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evc/link.h"

typedef struct srv_seen {
    evc_link *link;
    int opens, frames, closes;
    bool deny_and_close;
} srv_seen;

static void s_open(evc_link *l, void *arg)
{
    srv_seen *s = arg;
    s->opens++;
    s->link = l;
}

/* Echoes each PING's field in a PONG, or answers DENIED and closes. */
static void s_frame(evc_link *l, const evc_frame_event *ev, void *arg)
{
    srv_seen *s = arg;
    s->frames++;
    if (s->deny_and_close) {
        evc_link_send(l, "DENIED", (evc_frame_field[]){EVC_FRAME_STR("no")}, 1, NULL);
        evc_link_close(l, "denied");
        return;
    }
    evc_link_send(l, "PONG", ev->fields, ev->nfields, NULL);
}

static void s_close(evc_link *l, const char *reason, void *arg)
{
    srv_seen *s = arg;
    (void)reason;
    s->closes++;
    if (s->link == l)
        s->link = NULL;
}

static const evc_link_handlers H = {.on_open = s_open, .on_frame = s_frame, .on_close = s_close};

static evc_loop *loop;
static void setup(void) { cr_assert_eq(evc_loop_new(&loop, NULL), EVC_OK); }
static void teardown(void) { evc_loop_free(loop); }
TestSuite(link_write, .init = setup, .fini = teardown, .timeout = 30);

static int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "%s", strerror(errno));
    return fd;
}

typedef struct raw_in {
    int fd;
    char buf[4096];
    size_t len, want;
    bool eof;
} raw_in;

static bool raw_has(void *arg)
{
    raw_in *w = arg;
    ssize_t n = recv(w->fd, w->buf + w->len, sizeof w->buf - w->len, MSG_DONTWAIT);
    if (n > 0)
        w->len += (size_t)n;
    if (n == 0)
        w->eof = true;
    return w->len >= w->want || w->eof;
}

static size_t frame(char *out, size_t cap, const char *op, const char *field)
{
    size_t n = 0;
    evc_frame_field f = EVC_FRAME_STR(field);
    cr_assert_eq(evc_frame_encode(op, &f, 1, out, cap, &n, NULL), EVC_OK);
    return n;
}

static bool int_positive(void *arg) { return *(int *)arg > 0; }
static bool none_unacked(void *arg) { return evc_link_unacked(arg) == 0; }

/* Three frames in one read: the stream back is ACK, PONG 1, ACK, PONG 2,
 * ACK, PONG 3 -- each ACK before the reply its frame caused. */
Test(link_write, replies_keep_stream_order_with_their_acks)
{
    srv_seen srv = {0};
    evc_link_server *server;
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", 0, &H, &srv, &server, NULL), EVC_OK);
    int fd = raw_connect(evc_link_server_port(server));
    char out[256], want[256];
    size_t n = 0, w = 0;
    const char *ids[] = {"1", "2", "3"};
    for (int i = 0; i < 3; i++) {
        n += frame(out + n, sizeof out - n, "PING", ids[i]);
        want[w++] = EVC_FRAME_ACK;
        w += frame(want + w, sizeof want - w, "PONG", ids[i]);
    }
    cr_assert_eq(send(fd, out, n, 0), (ssize_t)n);
    raw_in in = {.fd = fd, .want = w};
    cr_assert_eq(evc_loop_run_until(loop, raw_has, &in, 5000), EVC_OK, "%zu of %zu bytes",
                 in.len, w);
    cr_assert_eq(in.len, w);
    cr_expect_eq(memcmp(in.buf, want, w), 0, "the replies came out of order");
    close(fd);
    evc_link_server_close(server);
}

/* Central answers AUTH_DENIED and closes the link in the same handler: the
 * answer must reach the peer before the end of the stream. */
Test(link_write, a_reply_sent_before_a_close_arrives_before_eof)
{
    srv_seen srv = {.deny_and_close = true};
    evc_link_server *server;
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", 0, &H, &srv, &server, NULL), EVC_OK);
    int fd = raw_connect(evc_link_server_port(server));
    char out[64], want[64];
    size_t n = frame(out, sizeof out, "AUTH", "CP_001");
    size_t w = 0;
    want[w++] = EVC_FRAME_ACK;
    w += frame(want + w, sizeof want - w, "DENIED", "no");
    cr_assert_eq(send(fd, out, n, 0), (ssize_t)n);
    raw_in in = {.fd = fd, .want = sizeof in.buf}; /* until EOF */
    cr_assert_eq(evc_loop_run_until(loop, raw_has, &in, 5000), EVC_OK);
    cr_expect(in.eof, "the link was not closed");
    cr_assert_eq(in.len, w, "%zu bytes before EOF, %zu expected", in.len, w);
    cr_expect_eq(memcmp(in.buf, want, w), 0);
    cr_expect_eq(srv.closes, 1);
    close(fd);
    evc_link_server_close(server);
}

/* A peer that does not ACK: the sender's FIFO takes EVC_LINK_MAX_UNACKED
 * frames, refuses the next with EVC_EAGAIN, and empties on the ACKs. */
Test(link_write, the_unacked_fifo_grows_to_its_bound_and_empties)
{
    srv_seen srv = {0};
    evc_link_server *server;
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", 0, &H, &srv, &server, NULL), EVC_OK);
    int fd = raw_connect(evc_link_server_port(server));
    cr_assert_eq(evc_loop_run_until(loop, int_positive, &srv.opens, 5000), EVC_OK);
    evc_link *l = srv.link;
    evc_error err = {0};
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < EVC_LINK_MAX_UNACKED; i++)
            cr_assert_eq(evc_link_send(l, "EVT", (evc_frame_field[]){EVC_FRAME_STR("x")}, 1,
                                       &err),
                         EVC_OK, "frame %d: %s", i, err.msg);
        cr_expect_eq(evc_link_unacked(l), EVC_LINK_MAX_UNACKED);
        cr_expect_eq(evc_link_send(l, "EVT", NULL, 0, &err), EVC_EAGAIN);
        cr_expect(strstr(err.msg, "wait for their ACK") != NULL, "%s", err.msg);
        char acks[EVC_LINK_MAX_UNACKED];
        memset(acks, EVC_FRAME_ACK, sizeof acks);
        cr_assert_eq(send(fd, acks, sizeof acks, 0), (ssize_t)sizeof acks);
        cr_assert_eq(evc_loop_run_until(loop, none_unacked, l, 5000), EVC_OK,
                     "%zu frames still wait for their ACK", evc_link_unacked(l));
        /* What the peer received: every frame, in order. */
        size_t flen = 0;
        char one[32];
        flen = frame(one, sizeof one, "EVT", "x");
        size_t total = flen * EVC_LINK_MAX_UNACKED, got = 0;
        char buf[8192];
        while (got < total) {
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            cr_assert(r > 0, "the peer got %zu of %zu bytes", got, total);
            for (ssize_t k = 0; k < r; k++)
                cr_assert_eq(buf[k], one[(got + (size_t)k) % flen], "byte %zu", got + (size_t)k);
            got += (size_t)r;
        }
    }
    close(fd);
    evc_link_server_close(server);
}

/* A handler that runs the loop (a flush with a deadline does) lets other
 * links read meanwhile: they must not read into the buffer that still
 * holds the rest of this link's read. */
typedef struct nested {
    evc_loop *loop;
    int fd_b;             /* raw peer of the second link */
    char b_frame[128];
    size_t b_len;
    int a_frames, b_frames;
    char a_last[32];
    bool nested_done;
} nested;

static bool b_seen(void *arg) { return ((nested *)arg)->b_frames > 0; }
static bool a_two(void *arg) { return ((nested *)arg)->a_frames >= 2; }

static void n_frame(evc_link *l, const evc_frame_event *ev, void *arg)
{
    nested *n = arg;
    (void)l;
    if (strcmp(ev->opcode, "B") == 0) {
        n->b_frames++;
        return;
    }
    n->a_frames++;
    snprintf(n->a_last, sizeof n->a_last, "%s", ev->nfields ? ev->fields[0].data : "");
    if (!n->nested_done) {
        n->nested_done = true;
        cr_assert_eq(send(n->fd_b, n->b_frame, n->b_len, 0), (ssize_t)n->b_len);
        cr_assert_eq(evc_loop_run_until(n->loop, b_seen, n, 5000), EVC_OK);
    }
}

Test(link_write, a_loop_run_inside_a_handler_keeps_the_rest_of_the_read)
{
    nested n = {.loop = loop};
    evc_link_handlers h = {.on_frame = n_frame};
    evc_link_server *server;
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", 0, &h, &n, &server, NULL), EVC_OK);
    int fd_a = raw_connect(evc_link_server_port(server));
    n.fd_b = raw_connect(evc_link_server_port(server));
    /* Longer than A's first frame: read into the same buffer, it would
     * overwrite A's second. */
    n.b_len = frame(n.b_frame, sizeof n.b_frame, "B",
                    "a field that covers where the second frame of A waits to be decoded");
    /* Two A frames in one send: the second waits in the read buffer while
     * the first one's handler runs the loop and link B is read. */
    char out[256];
    size_t len = frame(out, sizeof out, "A", "first");
    len += frame(out + len, sizeof out - len, "A", "second-and-intact");
    cr_assert_eq(send(fd_a, out, len, 0), (ssize_t)len);
    cr_assert_eq(evc_loop_run_until(loop, a_two, &n, 5000), EVC_OK, "%d frames of A",
                 n.a_frames);
    cr_expect_eq(n.b_frames, 1);
    cr_expect_str_eq(n.a_last, "second-and-intact");
    close(fd_a);
    close(n.fd_b);
    evc_link_server_close(server);
}
