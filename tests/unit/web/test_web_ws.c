/* Unit tests of evc/web.h: static files, WebSocket channels (broadcast,
 * client messages, bounded queues), stop with clients, idle CPU. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evc/loop.h"
#include "evc/web.h"
#include "rawclient.h"

static evc_loop *loop;

static void setup(void)
{
    evc_error err;
    cr_assert_eq(evc_loop_new(&loop, &err), EVC_OK, "%s", err.msg);
}

static void teardown(void) { evc_loop_free(loop); }

TestSuite(web_ws, .init = setup, .fini = teardown, .timeout = 30);

static evc_web *start(const char *static_dir, size_t qmsgs)
{
    evc_web_opts o = {.struct_size = sizeof o, .host = "127.0.0.1",
                      .static_dir = static_dir, .ws_queue_msgs = qmsgs};
    evc_web *web = NULL;
    evc_error err;
    cr_assert_eq(evc_web_start(loop, &o, &web, &err), EVC_OK, "start: %s", err.msg);
    return web;
}

/* ---- static files ------------------------------------------------------- */

static void put_file(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
}

static void rm_dir(const char *dir, const char *const *names, size_t n)
{
    char p[512];
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void h_ok(const evc_web_request *req, evc_web_response *res, void *arg)
{
    evc_web_respond_json(res, 200, "{\"ok\":true}");
}

Test(web_ws, static_files_with_mime_types)
{
    char dir[] = "/tmp/evc_web_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    static const char *const names[] = {"index.html", "app.js", "style.css", "logo.svg",
                                        "data.json", "favicon.ico"};
    static const char *const types[] = {"text/html", "text/javascript", "text/css",
                                        "image/svg+xml", "application/json", "image/x-icon"};
    for (size_t i = 0; i < 6; i++)
        put_file(dir, names[i], names[i]); /* each file holds its own name */
    evc_web *web = start(dir, 0);
    evc_web_route(web, "GET", "/api/ok", h_ok, NULL, NULL);
    uint16_t port = evc_web_port(web);
    for (size_t i = 0; i < 6; i++) {
        char target[64];
        snprintf(target, sizeof target, "/%s", names[i]);
        rc_conn c;
        cr_assert_eq(rc_connect(&c, port, 0), 0);
        char req[256];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
        rc_http_resp r;
        cr_assert_eq(rc_http(loop, &c, req, (size_t)n, &r), 0, "%s", target);
        cr_expect_eq(r.status, 200, "%s: %d", target, r.status);
        char ct[64] = "";
        rc_header(&r, "content-type", ct, sizeof ct);
        cr_expect(strncmp(ct, types[i], strlen(types[i])) == 0, "%s: content-type %s, want %s",
                  target, ct, types[i]);
        cr_expect_str_eq(r.body, names[i]);
        free(r.body);
        rc_close(&c);
    }
    /* "/" serves index.html; /api/ still reaches the routes. */
    const char *targets[] = {"/", "/api/ok"};
    const char *bodies[] = {"index.html", "{\"ok\":true}"};
    for (size_t i = 0; i < 2; i++) {
        rc_conn c;
        cr_assert_eq(rc_connect(&c, port, 0), 0);
        char req[256];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", targets[i]);
        rc_http_resp r;
        cr_assert_eq(rc_http(loop, &c, req, (size_t)n, &r), 0);
        cr_expect_eq(r.status, 200, "%s", targets[i]);
        cr_expect_str_eq(r.body, bodies[i]);
        free(r.body);
        rc_close(&c);
    }
    /* WebSocket channels work next to the static mount. */
    evc_web_ws_channel(web, "/ws/events", NULL, NULL, NULL, NULL);
    rc_conn w;
    cr_expect_eq(rc_ws_open(loop, &w, port, "/ws/events", 0), 0);
    rc_close(&w);
    evc_web_stop(web);
    rm_dir(dir, names, 6);
}

/* ---- WebSocket ---------------------------------------------------------- */

typedef struct ws_side {
    int opened;
    int messages;
    char last[128];
    size_t last_len;
    bool last_intact; /* every byte as the big-message test sent it */
} ws_side;

static void on_open(evc_web *web, evc_web_client *c, void *arg)
{
    ws_side *s = arg;
    s->opened++;
    evc_web_ws_send(c, "welcome", 7);
}

static void on_msg(evc_web *web, evc_web_client *c, const char *data, size_t len, void *arg)
{
    ws_side *s = arg;
    s->messages++;
    snprintf(s->last, sizeof s->last, "%.*s", (int)len, data);
    s->last_len = len;
    s->last_intact = data[len] == '\0';
    for (size_t i = 0; i < len; i++)
        if (data[i] != (char)('a' + i % 26))
            s->last_intact = false;
    char reply[160];
    int n = snprintf(reply, sizeof reply, "echo:%.*s", (int)len, data);
    size_t rl = (size_t)n < sizeof reply ? (size_t)n : sizeof reply - 1;
    evc_web_ws_send(c, reply, rl);
}

typedef struct clients_wait {
    evc_web *web;
    const char *path;
    size_t want;
} clients_wait;

static bool have_clients(void *arg)
{
    clients_wait *w = arg;
    return evc_web_ws_clients(w->web, w->path) == w->want;
}

/* Waits for the next text frame on c; returns it (caller frees) or NULL. */
typedef struct frame_wait {
    rc_conn *c;
    char *text;
    size_t len;
} frame_wait;

static bool frame_ready(void *arg)
{
    frame_wait *w = arg;
    rc_pump(w->c);
    int op;
    return rc_ws_take(w->c, &op, &w->text, &w->len) == 1;
}

static char *next_frame(rc_conn *c)
{
    frame_wait w = {.c = c};
    if (evc_loop_run_until(loop, frame_ready, &w, 5000) != EVC_OK)
        return NULL;
    return w.text;
}

Test(web_ws, broadcast_reaches_two_clients_and_client_messages_arrive)
{
    evc_web *web = start(NULL, 0);
    ws_side side = {0};
    evc_error err;
    cr_assert_eq(evc_web_ws_channel(web, "/ws/events", on_msg, on_open, &side, &err), EVC_OK);
    uint16_t port = evc_web_port(web);
    rc_conn a, b;
    cr_assert_eq(rc_ws_open(loop, &a, port, "/ws/events", 0), 0);
    cr_assert_eq(rc_ws_open(loop, &b, port, "/ws/events?x=1", 0), 0);
    clients_wait cw = {web, "/ws/events", 2};
    cr_assert_eq(evc_loop_run_until(loop, have_clients, &cw, 5000), EVC_OK);
    cr_expect_eq(side.opened, 2);
    rc_conn *both[2] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        char *t = next_frame(both[i]);
        cr_assert_not_null(t, "client %d: no welcome", i);
        cr_expect_str_eq(t, "welcome");
        free(t);
    }
    const char *ev = "{\"type\":\"cp_state\",\"cp\":\"CP1\",\"state\":\"charging\"}";
    cr_assert_eq(evc_web_broadcast(web, "/ws/events", ev, strlen(ev)), EVC_OK);
    for (int i = 0; i < 2; i++) {
        char *t = next_frame(both[i]);
        cr_assert_not_null(t, "client %d: no broadcast", i);
        cr_expect_str_eq(t, ev);
        free(t);
    }
    /* Client -> server text reaches on_message; the reply only that client. */
    cr_assert_eq(rc_ws_send_text(&a, "stop CP1", 8), 0);
    char *t = next_frame(&a);
    cr_assert_not_null(t);
    cr_expect_str_eq(t, "echo:stop CP1");
    free(t);
    cr_expect_eq(side.messages, 1);
    cr_expect_str_eq(side.last, "stop CP1");
    /* A message larger than lws's receive buffer is reassembled. */
    size_t big = 40000;
    char *bt = malloc(big);
    for (size_t i = 0; i < big; i++)
        bt[i] = (char)('a' + i % 26);
    cr_assert_eq(rc_ws_send_text(&a, bt, big), 0);
    t = next_frame(&a);
    cr_assert_not_null(t);
    free(t);
    cr_expect_eq(side.messages, 2);
    cr_expect_eq(side.last_len, big);
    cr_expect(side.last_intact, "big client message altered");
    free(bt);
    /* A disconnect is noticed. */
    rc_close(&b);
    cw.want = 1;
    cr_assert_eq(evc_loop_run_until(loop, have_clients, &cw, 5000), EVC_OK);
    rc_close(&a);
    evc_web_stop(web);
}

/* True once the server sent a close frame (status in close_status) or
 * dropped the connection. */
static int close_status;

static bool conn_closed(void *arg)
{
    rc_conn *c = arg;
    rc_pump(c);
    int op;
    char *p;
    size_t n;
    while (rc_ws_take(c, &op, &p, &n) == 1) {
        if (op == 8 && n >= 2)
            close_status = (unsigned char)p[0] << 8 | (unsigned char)p[1];
        free(p);
        if (op == 8)
            return true;
    }
    return c->eof;
}

Test(web_ws, oversized_messages_are_refused)
{
    evc_web_opts o = {.struct_size = sizeof o, .host = "127.0.0.1", .max_body = 1000,
                      .ws_queue_bytes = 5000};
    evc_web *web = NULL;
    cr_assert_eq(evc_web_start(loop, &o, &web, NULL), EVC_OK);
    ws_side side = {0};
    evc_web_ws_channel(web, "/ws/events", on_msg, NULL, &side, NULL);
    char big[6000];
    memset(big, 'a', sizeof big);
    cr_expect_eq(evc_web_broadcast(web, "/ws/events", big, 5001), EVC_ETOOBIG);
    rc_conn a;
    cr_assert_eq(rc_ws_open(loop, &a, evc_web_port(web), "/ws/events", 0), 0);
    /* Client -> server over max_body: the server closes that client. */
    cr_assert_eq(rc_ws_send_text(&a, big, 1001), 0);
    cr_expect_eq(evc_loop_run_until(loop, conn_closed, &a, 5000), EVC_OK);
    cr_expect_eq(close_status, 1009);
    cr_expect_eq(side.messages, 0);
    rc_close(&a); /* lws waits for our close reply; closing the socket ends it */
    clients_wait cw = {web, "/ws/events", 0};
    cr_expect_eq(evc_loop_run_until(loop, have_clients, &cw, 5000), EVC_OK);
    evc_web_stop(web);
}

Test(web_ws, unknown_channel_is_refused)
{
    evc_web *web = start(NULL, 0);
    evc_web_ws_channel(web, "/ws/events", NULL, NULL, NULL, NULL);
    rc_conn c;
    cr_expect_neq(rc_ws_open(loop, &c, evc_web_port(web), "/ws/other", 0), 0);
    rc_close(&c);
    cr_expect_eq(evc_web_ws_clients(web, "/ws/events"), 0);
    evc_web_stop(web);
}

/* Reads every complete frame of the reading client, counting them. */
typedef struct reader {
    rc_conn *c;
    int got;
    int want;
    bool in_order;
} reader;

static bool reader_done(void *arg)
{
    reader *r = arg;
    rc_pump(r->c);
    int op;
    char *t;
    size_t n;
    while (rc_ws_take(r->c, &op, &t, &n) == 1) {
        if (atoi(t) != r->got)
            r->in_order = false;
        r->got++;
        free(t);
    }
    return r->got >= r->want;
}

Test(web_ws, queue_of_a_client_that_never_reads_is_bounded)
{
    enum { QMAX = 16, MSGS = 3000, BATCH = 10, MSG_LEN = 1000 };
    evc_web *web = start(NULL, QMAX);
    evc_web_ws_channel(web, "/ws/live", NULL, NULL, NULL, NULL);
    uint16_t port = evc_web_port(web);
    rc_conn fast, stalled;
    cr_assert_eq(rc_ws_open(loop, &fast, port, "/ws/live", 0), 0);
    /* A small receive window so the kernel cannot absorb everything. */
    cr_assert_eq(rc_ws_open(loop, &stalled, port, "/ws/live", 2048), 0);
    clients_wait cw = {web, "/ws/live", 2};
    cr_assert_eq(evc_loop_run_until(loop, have_clients, &cw, 5000), EVC_OK);
    char msg[MSG_LEN + 1];
    reader rd = {.c = &fast, .in_order = true};
    size_t worst = 0;
    for (int i = 0; i < MSGS; i++) {
        int n = snprintf(msg, sizeof msg, "%d ", i);
        memset(msg + n, 'x', MSG_LEN - (size_t)n);
        cr_assert_eq(evc_web_broadcast(web, "/ws/live", msg, MSG_LEN), EVC_OK);
        if ((i + 1) % BATCH == 0) {
            rd.want = i + 1;
            cr_assert_eq(evc_loop_run_until(loop, reader_done, &rd, 5000), EVC_OK,
                         "fast reader stuck at %d of %d", rd.got, i + 1);
            evc_web_ws_stats st;
            cr_assert_eq(evc_web_ws_stats_get(web, "/ws/live", &st), EVC_OK);
            if (st.queued_max > worst)
                worst = st.queued_max;
        }
    }
    evc_web_ws_stats st;
    cr_assert_eq(evc_web_ws_stats_get(web, "/ws/live", &st), EVC_OK);
    cr_expect_eq(st.clients, 2);
    cr_expect_leq(worst, QMAX);
    /* The stalled queue reached its bound at some point; at this very instant
     * lws may just have handed one more frame to the kernel, so the final
     * snapshot is not the thing to check. */
    cr_expect_eq(worst, QMAX, "the stalled client's queue should have filled up");
    cr_expect_gt(st.dropped, 0, "3 MB to a client reading nothing must drop");
    cr_expect_eq(rd.got, MSGS);
    cr_expect(rd.in_order, "the reading client lost or reordered messages");
    /* Stop with both clients connected (one with a full queue): leak checks
     * of the sanitizer build cover this. */
    evc_web_stop(web);
    rc_close(&fast);
    rc_close(&stalled);
}

/* ---- shutdown and idle -------------------------------------------------- */

static void on_tick(evc_timer *t, void *arg) { (*(int *)arg)++; }

static bool ticks_reach(void *arg) { return *(int *)arg >= 3; }

Test(web_ws, stop_with_clients_leaves_other_handles_alone)
{
    int ticks = 0;
    evc_timer *t;
    evc_error err;
    cr_assert_eq(evc_loop_timer(loop, 5, 5, on_tick, &ticks, &t, &err), EVC_OK);
    evc_web *web = start(NULL, 0);
    evc_web_ws_channel(web, "/ws/events", NULL, on_open, &(ws_side){0}, NULL);
    uint16_t port = evc_web_port(web);
    rc_conn a, b, h;
    cr_assert_eq(rc_ws_open(loop, &a, port, "/ws/events", 0), 0);
    cr_assert_eq(rc_ws_open(loop, &b, port, "/ws/events", 0), 0);
    clients_wait cw = {web, "/ws/events", 2};
    cr_assert_eq(evc_loop_run_until(loop, have_clients, &cw, 5000), EVC_OK);
    evc_web_broadcast(web, "/ws/events", "pending", 7);
    /* A half-sent HTTP request in flight too. */
    cr_assert_eq(rc_connect(&h, port, 0), 0);
    const char partial[] = "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Le";
    rc_send(&h, partial, sizeof partial - 1);
    evc_loop_run_until(loop, ticks_reach, &ticks, 50);
    evc_web_stop(web);
    /* The loop's own timer survived the stop. */
    ticks = 0;
    cr_expect_eq(evc_loop_run_until(loop, ticks_reach, &ticks, 2000), EVC_OK);
    /* The clients see the server go away. */
    rc_pump(&a);
    for (int i = 0; i < 100 && !a.eof; i++) {
        usleep(1000);
        rc_pump(&a);
    }
    cr_expect(a.eof, "client still connected after stop");
    rc_close(&a);
    rc_close(&b);
    rc_close(&h);
    evc_timer_close(t);
}

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static bool never(void *arg) { return false; }

Test(web_ws, idle_server_sleeps_and_timers_keep_running)
{
    int ticks = 0;
    evc_timer *t;
    evc_error err;
    cr_assert_eq(evc_loop_timer(loop, 10, 10, on_tick, &ticks, &t, &err), EVC_OK);
    evc_web *web = start(NULL, 0);
    evc_web_ws_channel(web, "/ws/events", NULL, NULL, NULL, NULL);
    rc_conn a;
    cr_assert_eq(rc_ws_open(loop, &a, evc_web_port(web), "/ws/events", 0), 0);
    clients_wait cw = {web, "/ws/events", 1};
    cr_assert_eq(evc_loop_run_until(loop, have_clients, &cw, 5000), EVC_OK);
    ticks = 0;
    double c0 = cpu_ms();
    evc_loop_run_until(loop, never, NULL, 300);
    double used = cpu_ms() - c0;
    /* 300 ms of wall time: a busy loop would burn ~300 ms of CPU. */
    cr_expect_lt(used, 60.0, "idle web server used %.1f ms CPU in 300 ms", used);
    cr_expect_geq(ticks, 15, "timer fired %d times in 300 ms", ticks);
    rc_close(&a);
    evc_web_stop(web);
    evc_timer_close(t);
}

typedef struct stopper {
    evc_web *web;
    bool done;
} stopper;

static void stop_from_timer(evc_timer *t, void *arg)
{
    stopper *s = arg;
    evc_web_stop(s->web);
    s->done = true;
    evc_loop_stop(loop);
}

Test(web_ws, stop_from_a_timer_callback_inside_loop_run)
{
    evc_web *web = start(NULL, 0);
    evc_web_ws_channel(web, "/ws/events", NULL, NULL, NULL, NULL);
    rc_conn a;
    cr_assert_eq(rc_ws_open(loop, &a, evc_web_port(web), "/ws/events", 0), 0);
    clients_wait cw = {web, "/ws/events", 1};
    cr_assert_eq(evc_loop_run_until(loop, have_clients, &cw, 5000), EVC_OK);
    stopper s = {web, false};
    evc_timer *t;
    cr_assert_eq(evc_loop_timer(loop, 20, 0, stop_from_timer, &s, &t, NULL), EVC_OK);
    evc_loop_run(loop); /* returns once the timer stopped the web and the loop */
    cr_expect(s.done);
    rc_close(&a);
}
