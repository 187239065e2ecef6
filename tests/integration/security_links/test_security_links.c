/* test_security_links.c: the CP links under attack, over each bus (H_BUS),
 * with real processes (issue 11 finding 5 and "no secret in clear"):
 *  - a fake monitor (a raw TCP socket of this test) saying HELLO#CP_007 to
 *    the engine of CP_001 is refused, and the engine keeps speaking as CP_001;
 *  - during a supply, a fake monitor on the engine's port (HELLO for the
 *    right id, PINGs, a KO) interrupts nothing, and without the secret it
 *    cannot AUTH at Central either: the supply ends by the unplug, billed;
 *  - what a monitor sends to Central, read by a TCP relay between the two
 *    (the capture an eavesdropper would make), never contains the secret. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evc/frame.h"
#include "harness.h"
#include "supply_checks.h"

#define UP_MS 20000 /* CPs registered, engines and drivers on the bus (Kafka: group joins) */

static h_env *env;

static void teardown(void)
{
    h_env_free(env);
    env = NULL;
}

TestSuite(security_links, .fini = teardown);

/* ---- a raw TCP peer speaking frames -------------------------------------- */

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    H_ASSERT(env, fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0,
             "connect to 127.0.0.1:%d: %s", port, strerror(errno));
    return fd;
}

static void raw_send(int fd, const char *op, const char *a, const char *b)
{
    evc_frame_field f[2] = {EVC_FRAME_STR(a), EVC_FRAME_STR(b ? b : "")};
    char *frame = NULL;
    size_t len = 0;
    H_ASSERT(env, evc_frame_encode_alloc(op, f, b ? 2 : 1, &frame, &len, NULL) == EVC_OK, "%s", op);
    H_ASSERT(env, send(fd, frame, len, MSG_NOSIGNAL) == (ssize_t)len, "send %s", op);
    free(frame);
}

/* Reads from fd into buf (appending, NUL-kept) until `needle` is in it or
 * the deadline passes. */
static bool raw_wait(int fd, char *buf, size_t cap, const char *needle, int timeout_ms)
{
    int64_t end = h_now_ms() + timeout_ms;
    size_t len = strlen(buf);
    while (!memmem(buf, len, needle, strlen(needle))) {
        int left = (int)(end - h_now_ms());
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return false;
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            return memmem(buf, len, needle, strlen(needle)) != NULL;
        len += (size_t)n;
        for (size_t i = len - (size_t)n; i < len; i++)
            if (!buf[i])
                buf[i] = ' ';
        buf[len] = '\0';
    }
    return true;
}

static void wait_state(const char *cp, const char *state, int ms)
{
    h_expect_cp_state(env, cp, state, ms);
}

static h_env *up_with_cp_001(int *engine_port, h_proc **engine, int unplug_after_ms)
{
    h_opts o = h_default_opts();
    o.unattended = true;
    o.plug_after_ms = 100;
    o.unplug_after_ms = unplug_after_ms;
    env = h_env_new(&o);
    h_start_central(env);
    h_start_cp(env, "CP_001", engine, NULL, engine_port);
    wait_state("CP_001", "ACTIVATED", UP_MS);
    return env;
}

/* Finding 5: HELLO#CP_007 from anyone made the engine CP_007. */
Test(security_links, a_fake_monitor_cannot_give_the_engine_another_id)
{
    int port = 0;
    h_proc *engine = NULL;
    up_with_cp_001(&port, &engine, 8000);
    int fd = raw_connect(port);
    raw_send(fd, "HELLO", "CP_007", "00112233445566778899aabbccddeeff");
    char buf[4096] = "";
    H_ASSERT(env, raw_wait(fd, buf, sizeof buf, "WRONG_ID", 5000),
             "no HELLO_DENIED WRONG_ID; the engine said: %s", buf);
    H_ASSERT(env, strstr(buf, "HELLO_DENIED") && strstr(buf, "this engine is CP_001"),
             "the refusal names the engine's id: %s", buf);
    close(fd);
    h_expect_output(env, engine, "for CP_007 refused: this engine is CP_001", 5000);
    /* The engine still speaks as CP_001, and nobody as CP_007. */
    H_ASSERT(env, h_count(engine, "CP id CP_007") == 0, "the engine took CP_007");
    wait_state("CP_007", "DISCONNECTED", 100);
    static const char *const s1[] = {"CP_001", NULL};
    char f1[PATH_MAX];
    h_proc *d1 = h_start_driver(env, "driver1", "pass123",
                                sc_write_services(env, "s1.txt", s1, f1, sizeof f1));
    H_ASSERT(env, h_wait_output(d1, "Ticket CP_001", 1, UP_MS + 10000),
             "CP_001 no longer supplies after the fake HELLO");
    sc_check_billing(env, 1);
    H_FINISH(env);
}

/* Finding 5 during a supply, and a fake monitor at Central without the
 * secret. */
Test(security_links, a_fake_monitor_interrupts_no_supply)
{
    int port = 0;
    up_with_cp_001(&port, NULL, 6000);
    static const char *const s1[] = {"CP_001", NULL};
    char f1[PATH_MAX];
    h_proc *d1 = h_start_driver(env, "driver1", "pass123",
                                sc_write_services(env, "s1.txt", s1, f1, sizeof f1));
    wait_state("CP_001", "SUPPLYING", UP_MS);
    /* On the engine's port: the right id, no secret, PINGs and a KO. */
    int fe = raw_connect(port);
    raw_send(fe, "HELLO", "CP_001", "00112233445566778899aabbccddeeff");
    char buf[4096] = "";
    H_ASSERT(env, raw_wait(fe, buf, sizeof buf, "HELLO_CHALLENGE", 5000), "engine: %s", buf);
    raw_send(fe, "HELLO_PROOF", "CP_001",
             "0000000000000000000000000000000000000000000000000000000000000000");
    raw_send(fe, "PING", "1", NULL);
    raw_send(fe, "HB", "CP_001", "KO");
    H_ASSERT(env, raw_wait(fe, buf, sizeof buf, "BAD_PROOF", 5000), "engine: %s", buf);
    close(fe);
    /* At Central: AUTH for CP_001, then a PROOF made without the secret. */
    int fc = raw_connect(env->central_port);
    evc_frame_field a[4] = {EVC_FRAME_STR("CP_001"), EVC_FRAME_STR("x"), EVC_FRAME_STR("1"),
                            EVC_FRAME_STR("00112233445566778899aabbccddeeff")};
    char *frame = NULL;
    size_t flen = 0;
    H_ASSERT(env, evc_frame_encode_alloc("AUTH", a, 4, &frame, &flen, NULL) == EVC_OK, "AUTH");
    H_ASSERT(env, send(fc, frame, flen, MSG_NOSIGNAL) == (ssize_t)flen, "send AUTH");
    free(frame);
    char cbuf[4096] = "";
    H_ASSERT(env, raw_wait(fc, cbuf, sizeof cbuf, "CHALLENGE", 5000), "Central: %s", cbuf);
    raw_send(fc, "PROOF", "CP_001",
             "1111111111111111111111111111111111111111111111111111111111111111");
    H_ASSERT(env, raw_wait(fc, cbuf, sizeof cbuf, "AUTH_DENIED", 5000), "Central: %s", cbuf);
    H_ASSERT(env, strstr(cbuf, "BAD_SECRET") && !strstr(cbuf, "AUTH_OK"), "Central: %s", cbuf);
    raw_send(fc, "HB", "CP_001", "KO");
    close(fc);
    /* The supply goes on to its unplug and is billed once. */
    H_ASSERT(env, h_wait_output(d1, "Ticket CP_001", 1, UP_MS), "driver1 never got its ticket");
    H_ASSERT(env, h_count(d1, "Interrupted") == 0, "the driver saw an interruption");
    sc_check_billing(env, 1);
    H_ASSERT(env, h_db_int(env, "select count(*) from sessions where end_reason='unplugged'", -1)
                      == 1,
             "the supply did not end by the unplug");
    H_FINISH(env);
}

/* ---- the capture: a relay between the monitor and Central --------------- */

typedef struct relay {
    int listen_fd, port, central_port;
    volatile int stop;
    char seen[1 << 16]; /* monitor -> Central bytes */
    size_t nseen;
    pthread_t th;
} relay;

static void *relay_run(void *arg)
{
    relay *r = arg;
    while (!r->stop) {
        struct pollfd lp = {.fd = r->listen_fd, .events = POLLIN};
        if (poll(&lp, 1, 100) <= 0)
            continue;
        int m = accept(r->listen_fd, NULL, NULL);
        if (m < 0)
            continue;
        int c = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)r->central_port)};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        if (connect(c, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(m);
            close(c);
            continue;
        }
        struct pollfd p[2] = {{.fd = m, .events = POLLIN}, {.fd = c, .events = POLLIN}};
        bool open_ = true;
        while (open_ && !r->stop) {
            if (poll(p, 2, 100) <= 0)
                continue;
            for (int i = 0; i < 2 && open_; i++) {
                if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                char b[4096];
                ssize_t n = recv(p[i].fd, b, sizeof b, 0);
                if (n <= 0 || send(p[1 - i].fd, b, (size_t)n, MSG_NOSIGNAL) != n) {
                    open_ = false;
                    break;
                }
                if (i == 0 && r->nseen + (size_t)n <= sizeof r->seen) {
                    memcpy(r->seen + r->nseen, b, (size_t)n);
                    r->nseen += (size_t)n;
                }
            }
        }
        close(m);
        close(c);
    }
    return NULL;
}

Test(security_links, no_secret_crosses_the_monitor_wire)
{
    h_opts o = h_default_opts();
    env = h_env_new(&o);
    h_start_central(env);
    static relay r;
    memset(&r, 0, sizeof r);
    r.central_port = env->central_port;
    r.port = h_free_port();
    r.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(r.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r.port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    H_ASSERT(env, bind(r.listen_fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
                      listen(r.listen_fd, 4) == 0,
             "relay on %d: %s", r.port, strerror(errno));
    H_ASSERT(env, pthread_create(&r.th, NULL, relay_run, &r) == 0, "relay thread");
    /* CP_002's monitor reaches Central through the relay only. */
    int port = h_free_port();
    h_start_engine(env, "CP_002", port);
    int central = env->central_port;
    env->central_port = r.port;
    h_start_monitor(env, "CP_002", port, "secret-CP_002");
    env->central_port = central;
    wait_state("CP_002", "ACTIVATED", UP_MS);
    r.stop = 1;
    pthread_join(r.th, NULL);
    close(r.listen_fd);
    H_ASSERT(env, memmem(r.seen, r.nseen, "secret-CP_002", 13) == NULL,
             "the secret crossed the wire");
    H_ASSERT(env, memmem(r.seen, r.nseen, "PROOF", 5) != NULL,
             "the capture has no PROOF (%zu bytes)", r.nseen);
    H_ASSERT(env, memmem(r.seen, r.nseen, "CP_002", 6) != NULL, "the capture is of CP_002");
    H_FINISH(env);
}
