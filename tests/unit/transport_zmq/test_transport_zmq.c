/* test_transport_zmq.c: what only the ZeroMQ transport has -- the embedded
 * proxy, the evc-zmq-proxy program, its endpoint settings and foreign traffic
 * on its proxy. The contract shared with every transport is in
 * tests/conformance/transport/. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "evc/bus.h"
#include "evc/config.h"
#include "evc/log.h"
#include "evc/loop.h"
#include "evc/plugin.h"
#include "zmqt_proxy.h"

static evc_loop *loop;
static evc_plugin *plugin;
static evc_cfg *cfgs[32];
static size_t ncfgs;

static void init(void)
{
    evc_error err = {0};
    cr_assert_eq(evc_loop_new(&loop, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, "zmq", NULL, &plugin, NULL, &err), EVC_OK,
                 "%s", err.msg);
}

static void fini(void)
{
    for (size_t i = 0; i < ncfgs; i++)
        evc_cfg_free(cfgs[i]);
    evc_plugin_unload(plugin);
    evc_loop_free(loop);
}

TestSuite(zmq, .init = init, .fini = fini);

/* A loopback port P with P+1 free too, found by binding both and letting go.
 * Another process may take it in between; the window is short. */
static int free_port_pair(void)
{
    char err[256];
    for (int attempt = 0; attempt < 50; attempt++) {
        zmqt_proxy *p = NULL;
        cr_assert_eq(zmqt_proxy_start(NULL, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 0, &p, err,
                                      sizeof err),
                     0, "%s", err);
        int port = atoi(strrchr(zmqt_proxy_xsub(p), ':') + 1);
        zmqt_proxy_stop(p);
        char a[64], b[64];
        snprintf(a, sizeof a, "tcp://127.0.0.1:%d", port);
        snprintf(b, sizeof b, "tcp://127.0.0.1:%d", port + 1);
        if (port < 65535 && zmqt_proxy_start(NULL, a, b, 0, &p, err, sizeof err) == 0) {
            zmqt_proxy_stop(p);
            return port;
        }
    }
    cr_assert_fail("no free port pair");
    return -1;
}

/* Opens a bus with `section` (YAML lines of transport.zmq, may be "") in a
 * file named "zmq.yaml". Returns the status. */
/* Client id given to the next open_bus (proxy: owner picks by it). */
static const char *next_client_id = "unit-zmq";

static int open_bus(const char *endpoint, const char *section, evc_bus **out, evc_error *err)
{
    char yaml[2048];
    int n = snprintf(yaml, sizeof yaml, "transport:\n  plugin: zmq\n  endpoint: \"%s\"\n",
                     endpoint);
    if (section[0] != '\0') {
        n += snprintf(yaml + n, sizeof yaml - (size_t)n, "  zmq:\n");
        for (const char *s = section; *s;) {
            const char *nl = strchr(s, '\n');
            int len = nl ? (int)(nl - s) : (int)strlen(s);
            n += snprintf(yaml + n, sizeof yaml - (size_t)n, "    %.*s\n", len, s);
            s += len + (nl ? 1 : 0);
        }
    }
    evc_cfg *cfg = NULL;
    cr_assert_eq(evc_cfg_load_string("zmq.yaml", yaml, strlen(yaml), &cfg, err), EVC_OK, "%s",
                 err->msg);
    cr_assert_lt(ncfgs, sizeof cfgs / sizeof cfgs[0]);
    cfgs[ncfgs++] = cfg;
    evc_transport_params params = {
        .struct_size = sizeof params,
        .endpoint = endpoint,
        .client_id = next_client_id,
        .group_id = next_client_id,
        .config = evc_cfg_path(evc_cfg_root(cfg), "transport.zmq"),
    };
    return evc_bus_open(loop, plugin, &params, out, err);
}

typedef struct inbox {
    unsigned n;
    char last[64];
} inbox;

static int on_msg(void *arg, const evc_message *m)
{
    inbox *in = arg;
    in->n++;
    snprintf(in->last, sizeof in->last, "%.*s", (int)m->payload_len, (const char *)m->payload);
    return EVC_OK;
}

static bool has_one(void *arg) { return ((inbox *)arg)->n > 0; }

/* Publishes `text` from `from` until `to_inbox` has something (subscriptions
 * reach publishers asynchronously). */
static void until_received(evc_bus *from, const char *topic, const char *text, inbox *in)
{
    evc_error err = {0};
    for (int i = 0; i < 500 && in->n == 0; i++) {
        cr_assert_eq(evc_bus_publish(from, topic, "k", text, strlen(text), NULL, NULL, &err),
                     EVC_OK, "%s", err.msg);
        evc_loop_run_until(loop, has_one, in, 20);
    }
    cr_assert_gt(in->n, 0, "nothing arrived on %s", topic);
    cr_assert_str_eq(in->last, text);
}

Test(zmq, embedded_proxy_serves_itself_and_others)
{
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", free_port_pair());
    evc_bus *host = NULL, *peer = NULL;
    evc_error err = {0};
    cr_assert_eq(open_bus(ep, "proxy: embedded\nlinger_ms: 0", &host, &err), EVC_OK, "%s",
                 err.msg);
    cr_assert_eq(open_bus(ep, "linger_ms: 0", &peer, &err), EVC_OK, "%s", err.msg);
    inbox at_host = {0}, at_peer = {0};
    cr_assert_eq(evc_bus_subscribe(host, "to-host", on_msg, &at_host, &err), EVC_OK);
    cr_assert_eq(evc_bus_subscribe(peer, "to-peer", on_msg, &at_peer, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(host, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(peer, &err), EVC_OK, "%s", err.msg);
    until_received(peer, "to-host", "hello host", &at_host);
    until_received(host, "to-peer", "hello peer", &at_peer);
    evc_bus_close(peer);
    evc_bus_close(host);
}

Test(zmq, proxy_owner_hosts_the_proxy_and_only_it)
{
    /* One shared section for both: only the client id "central" binds. */
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", free_port_pair());
    evc_bus *central = NULL, *other = NULL;
    evc_error err = {0};
    next_client_id = "central";
    cr_assert_eq(open_bus(ep, "proxy: owner\nlinger_ms: 0", &central, &err), EVC_OK, "%s",
                 err.msg);
    next_client_id = "driver-driver1";
    cr_assert_eq(open_bus(ep, "proxy: owner\nlinger_ms: 0", &other, &err), EVC_OK, "%s",
                 err.msg);
    inbox at_central = {0};
    cr_assert_eq(evc_bus_subscribe(central, "to-central", on_msg, &at_central, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(central, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(other, &err), EVC_OK, "a second proxy was bound: %s", err.msg);
    until_received(other, "to-central", "hello central", &at_central);
    evc_bus_close(other);
    evc_bus_close(central);
}

Test(zmq, embedded_proxy_port_in_use_names_the_address)
{
    int port = free_port_pair();
    char xsub[64], xpub[64], ep[64], perr[256];
    snprintf(xsub, sizeof xsub, "tcp://127.0.0.1:%d", port);
    snprintf(xpub, sizeof xpub, "tcp://127.0.0.1:%d", port + 1);
    snprintf(ep, sizeof ep, "127.0.0.1:%d", port);
    zmqt_proxy *squatter = NULL;
    cr_assert_eq(zmqt_proxy_start(NULL, xsub, xpub, 0, &squatter, perr, sizeof perr), 0, "%s",
                 perr);
    evc_bus *bus = NULL;
    evc_error err = {0};
    cr_assert_eq(open_bus(ep, "proxy: embedded", &bus, &err), EVC_OK, "%s", err.msg);
    int rc = evc_bus_start(bus, &err);
    cr_assert_neq(rc, EVC_OK, "two proxies bound the same port");
    cr_assert(strstr(err.msg, xsub) != NULL, "error does not name %s: %s", xsub, err.msg);
    cr_assert(strstr(err.msg, "in use") != NULL, "error does not say why: %s", err.msg);
    evc_bus_close(bus);
    zmqt_proxy_stop(squatter);
}

static void expect_config_error(const char *endpoint, const char *section, const char *needle)
{
    evc_bus *bus = NULL;
    evc_error err = {0};
    cr_assert_eq(open_bus(endpoint, section, &bus, &err), EVC_ECONFIG,
                 "accepted: endpoint %s, section \"%s\"", endpoint, section);
    cr_assert_null(bus);
    cr_assert(strstr(err.msg, needle) != NULL, "\"%s\" not in: %s", needle, err.msg);
}

Test(zmq, config_errors_name_the_setting)
{
    /* line 5 is the section's first key; column 19 the bad value */
    expect_config_error("127.0.0.1:5555", "sub_endpoint: 127.0.0.1:5556",
                        "zmq.yaml:5:19");
    expect_config_error("127.0.0.1:5555", "sub_endpoint: 127.0.0.1:5556",
                        "transport.zmq.sub_endpoint");
    expect_config_error("127.0.0.1:5555", "sndhwm: -1", "zmq.yaml:5:");
    expect_config_error("127.0.0.1:5555", "proxy: maybe", "zmq.yaml:5:");
    expect_config_error("127.0.0.1:5555", "on_hwm: block", "zmq.yaml:5:");
    expect_config_error("no-port-here", "", "transport.endpoint \"no-port-here\"");
    expect_config_error("127.0.0.1:70000", "", "transport.endpoint");
    expect_config_error("ipc:///tmp/evc-bus", "", "sub_endpoint");
    /* explicit endpoints make transport.endpoint unnecessary */
    evc_bus *bus = NULL;
    evc_error err = {0};
    cr_assert_eq(open_bus("ipc:///tmp/evc-unit-xsub",
                          "sub_endpoint: ipc:///tmp/evc-unit-xpub", &bus, &err),
                 EVC_OK, "%s", err.msg);
    evc_bus_close(bus);
}

/* Another program sharing the proxy may send anything: dropped, counted as
 * nothing, and the next good message still arrives. */
Test(zmq, foreign_traffic_on_the_proxy_is_dropped)
{
    char perr[256];
    zmqt_proxy *proxy = NULL;
    cr_assert_eq(zmqt_proxy_start(NULL, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 0, &proxy,
                                  perr, sizeof perr),
                 0, "%s", perr);
    char section[512];
    snprintf(section, sizeof section, "pub_endpoint: %s\nsub_endpoint: %s\nlinger_ms: 0",
             zmqt_proxy_xsub(proxy), zmqt_proxy_xpub(proxy));
    evc_bus *bus = NULL;
    evc_error err = {0};
    cr_assert_eq(open_bus("unused:1", section, &bus, &err), EVC_OK, "%s", err.msg);
    inbox in = {0};
    cr_assert_eq(evc_bus_subscribe(bus, "t", on_msg, &in, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(bus, &err), EVC_OK, "%s", err.msg);
    until_received(bus, "t", "warm", &in);

    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_PUB);
    cr_assert_eq(zmq_connect(pub, zmqt_proxy_xsub(proxy)), 0);
    /* Until the foreign PUB has the subscription, its sends vanish: keep
     * sending garbage while checking that good traffic still flows. */
    unsigned char v2[40] = {2}; /* unknown header version */
    unsigned char shorthdr[5] = {1};
    for (int round = 0; round < 50; round++) {
        zmq_send(pub, "t", 1, 0);                   /* one frame only */
        zmq_send(pub, "t", 1, ZMQ_SNDMORE);
        zmq_send(pub, shorthdr, sizeof shorthdr, ZMQ_SNDMORE);
        zmq_send(pub, "x", 1, 0);                   /* header too short */
        zmq_send(pub, "t", 1, ZMQ_SNDMORE);
        zmq_send(pub, v2, sizeof v2, ZMQ_SNDMORE);
        zmq_send(pub, "x", 1, 0);                   /* unknown version */
        for (int i = 0; i < 4; i++)
            zmq_send(pub, "t", 1, ZMQ_SNDMORE);
        zmq_send(pub, "t", 1, 0);                   /* five frames */
        evc_loop_run_until(loop, has_one, &(inbox){0}, 5);
    }
    in.n = 0;
    until_received(bus, "t", "still fine", &in);
    cr_assert_eq(in.n, 1, "garbage reached the handler");
    evc_transport_stats st = {.struct_size = sizeof st};
    evc_bus_stats(bus, &st);
    cr_assert_eq(st.lost, 0, "garbage miscounted as loss");

    int zero = 0;
    zmq_setsockopt(pub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(pub);
    zmq_ctx_term(ctx);
    evc_bus_close(bus);
    zmqt_proxy_stop(proxy);
}

static int count_old(void *arg, const evc_message *m)
{
    if (m->payload_len == 3 && memcmp(m->payload, "old", 3) == 0)
        (*(unsigned *)arg)++;
    return EVC_OK;
}

/* An EVCharging on framing v1 (topic alone in frame 0, key after the header)
 * on the same proxy: a subscriber of the whole topic names it in the log and
 * drops it; a subscriber by key never even receives it. */
Test(zmq, framing_v1_publisher_is_named_in_the_log)
{
    char perr[256];
    zmqt_proxy *proxy = NULL;
    cr_assert_eq(zmqt_proxy_start(NULL, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 0, &proxy,
                                  perr, sizeof perr),
                 0, "%s", perr);
    char section[512];
    snprintf(section, sizeof section, "pub_endpoint: %s\nsub_endpoint: %s\nlinger_ms: 0",
             zmqt_proxy_xsub(proxy), zmqt_proxy_xpub(proxy));
    FILE *log = tmpfile();
    cr_assert_not_null(log);
    evc_log_set_fd(fileno(log));
    evc_bus *bus = NULL, *keyed = NULL;
    evc_error err = {0};
    cr_assert_eq(open_bus("unused:1", section, &bus, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(open_bus("unused:1", section, &keyed, &err), EVC_OK, "%s", err.msg);
    inbox in = {0}, in_keyed = {0};
    unsigned old = 0, old_keyed = 0;
    const char *const k[] = {"k"};
    cr_assert_eq(evc_bus_subscribe(bus, "t", on_msg, &in, &err), EVC_OK);
    cr_assert_eq(evc_bus_subscribe(bus, "t", count_old, &old, &err), EVC_OK);
    cr_assert_eq(evc_bus_subscribe_keys(keyed, "t", k, 1, on_msg, &in_keyed, &err), EVC_OK);
    cr_assert_eq(evc_bus_subscribe_keys(keyed, "t", k, 1, count_old, &old_keyed, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(bus, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(keyed, &err), EVC_OK, "%s", err.msg);
    until_received(bus, "t", "warm", &in);
    until_received(bus, "t", "warm", &in_keyed);

    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_PUB);
    cr_assert_eq(zmq_connect(pub, zmqt_proxy_xsub(proxy)), 0);
    unsigned char v1[1 + 16 + 8 + 1] = {1, 0xC0, 0xFF, 0xEE, 0x01};
    v1[sizeof v1 - 1] = 'k';
    char buf[4096] = "";
    for (int i = 0; i < 200 && !strstr(buf, "framing v1"); i++) {
        v1[1 + 16 + 7] = (unsigned char)(i + 1);
        zmq_send(pub, "t", 1, ZMQ_SNDMORE);
        zmq_send(pub, v1, sizeof v1, ZMQ_SNDMORE);
        zmq_send(pub, "old", 3, 0);
        evc_loop_run_until(loop, has_one, &(inbox){0}, 10);
        ssize_t n = pread(fileno(log), buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
    }
    evc_log_set_fd(2);
    cr_assert(strstr(buf, "from publisher c0ffee01 in framing v1"), "log: %s", buf);
    cr_assert(strstr(buf, "upgrade every process on the bus"), "log: %s", buf);
    cr_assert_eq(old, 0, "a v1 message reached the handler");
    cr_assert_eq(old_keyed, 0, "a v1 message reached a subscriber by key");
    evc_transport_stats st = {.struct_size = sizeof st};
    evc_bus_stats(keyed, &st);
    cr_assert_eq(st.lost, 0);

    int zero = 0;
    zmq_setsockopt(pub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(pub);
    zmq_ctx_term(ctx);
    evc_bus_close(bus);
    evc_bus_close(keyed);
    zmqt_proxy_stop(proxy);
    fclose(log);
}

/* ---- the evc-zmq-proxy program ------------------------------------------ */

#define PROXY_BIN EVC_TEST_BINARY_DIR "/bin/evc-zmq-proxy"

static pid_t spawn_proxy(const char *hostport, int *errfd)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 1);
        execl(PROXY_BIN, "evc-zmq-proxy", hostport, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    *errfd = fds[0];
    return pid;
}

static int wait_exit(pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        evc_loop_run_until(loop, has_one, &(inbox){0}, 10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

Test(zmq, proxy_program_carries_traffic_and_stops_on_sigterm)
{
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", free_port_pair());
    int errfd = -1;
    pid_t pid = spawn_proxy(ep, &errfd);
    evc_bus *bus = NULL;
    evc_error err = {0};
    cr_assert_eq(open_bus(ep, "linger_ms: 0", &bus, &err), EVC_OK, "%s", err.msg);
    inbox in = {0};
    cr_assert_eq(evc_bus_subscribe(bus, "via-program", on_msg, &in, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(bus, &err), EVC_OK, "%s", err.msg);
    until_received(bus, "via-program", "through evc-zmq-proxy", &in);
    evc_bus_close(bus);
    kill(pid, SIGTERM);
    cr_assert_eq(wait_exit(pid, 5000), 0, "evc-zmq-proxy did not exit 0 on SIGTERM");
    close(errfd);

    /* with the port taken: exit 1 and a message naming the address */
    char xsub[96], xpub[96], perr[256];
    snprintf(xsub, sizeof xsub, "tcp://%s", ep);
    snprintf(xpub, sizeof xpub, "tcp://127.0.0.1:%d", atoi(strrchr(ep, ':') + 1) + 1);
    zmqt_proxy *squatter = NULL;
    cr_assert_eq(zmqt_proxy_start(NULL, xsub, xpub, 0, &squatter, perr, sizeof perr), 0, "%s",
                 perr);
    pid = spawn_proxy(ep, &errfd);
    cr_assert_eq(wait_exit(pid, 5000), 1, "evc-zmq-proxy on a busy port did not exit 1");
    char msg[1024] = "";
    ssize_t got = read(errfd, msg, sizeof msg - 1);
    msg[got > 0 ? got : 0] = '\0';
    close(errfd);
    cr_assert(strstr(msg, xsub) != NULL && strstr(msg, "in use") != NULL,
              "message does not name the address and the reason: %s", msg);
    zmqt_proxy_stop(squatter);
}

/* ---- CURVE settings (issue 11) ------------------------------------------ */

/* Writes `content` to a new file under /tmp with `mode`; path to out (128). */
static void key_file(const char *content, mode_t mode, char *out)
{
    snprintf(out, 128, "/tmp/evc-unit-zmq-key-XXXXXX");
    int fd = mkstemp(out);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

Test(zmq, curve_settings_are_checked_at_create)
{
    char pub[41], sec[41], pub2[41], sec2[41];
    do
        cr_assert_eq(zmq_curve_keypair(pub, sec), 0);
    while (strchr(pub, '$') != NULL);
    do
        cr_assert_eq(zmq_curve_keypair(pub2, sec2), 0);
    while (strchr(pub2, '$') != NULL);
    char ok[128], open_to_all[128], other[128], junk[128], section[1024];
    char line[64];
    snprintf(line, sizeof line, "%s\n", sec);
    key_file(line, 0600, ok);
    key_file(line, 0644, open_to_all);
    snprintf(line, sizeof line, "%s\n", sec2);
    key_file(line, 0400, other);
    key_file("not a key\n", 0600, junk);

    expect_config_error("127.0.0.1:5555", "curve:\n  server_secret_key_file: x",
                        "transport.zmq.curve.server_public_key: missing");
    expect_config_error("127.0.0.1:5555", "curve:\n  server_public_key: \"tooshort\"",
                        "transport.zmq.curve.server_public_key: expected 40 Z85");
    /* The proxy's host reads its secret: refused when others can read it. */
    snprintf(section, sizeof section,
             "proxy: embedded\ncurve:\n  server_public_key: \"%s\"\n  server_secret_key_file: %s",
             pub, open_to_all);
    expect_config_error("127.0.0.1:5555", section, open_to_all);
    expect_config_error("127.0.0.1:5555", section, "mode 0644");
    snprintf(section, sizeof section, "proxy: embedded\ncurve:\n  server_public_key: \"%s\"",
             pub);
    expect_config_error("127.0.0.1:5555", section, "server_secret_key_file: missing");
    snprintf(section, sizeof section,
             "proxy: embedded\ncurve:\n  server_public_key: \"%s\"\n  server_secret_key_file: %s",
             pub, other);
    expect_config_error("127.0.0.1:5555", section, "does not belong to server_public_key");
    snprintf(section, sizeof section,
             "proxy: embedded\ncurve:\n  server_public_key: \"%s\"\n  server_secret_key_file: %s",
             pub, junk);
    expect_config_error("127.0.0.1:5555", section, "expected one Z85 key");
    /* A client's own pair: both or neither, and they must match. */
    snprintf(section, sizeof section, "curve:\n  server_public_key: \"%s\"\n  public_key: \"%s\"",
             pub, pub2);
    expect_config_error("127.0.0.1:5555", section, "go together");
    snprintf(section, sizeof section,
             "curve:\n  server_public_key: \"%s\"\n  public_key: \"%s\"\n  secret_key_file: %s",
             pub, pub2, ok);
    expect_config_error("127.0.0.1:5555", section, "does not belong to public_key");

    /* Accepted: a client that does not run the proxy never reads the
     * server's secret file (CP hosts do not have it); a configured pair. */
    evc_bus *bus = NULL;
    evc_error err = {0};
    snprintf(section, sizeof section,
             "curve:\n  server_public_key: \"%s\"\n  server_secret_key_file: /nonexistent\n"
             "  public_key: \"%s\"\n  secret_key_file: %s",
             pub, pub2, other);
    cr_assert_eq(open_bus("127.0.0.1:5555", section, &bus, &err), EVC_OK, "%s", err.msg);
    evc_bus_close(bus);
    unlink(ok);
    unlink(open_to_all);
    unlink(other);
    unlink(junk);
}

Test(zmq, curve_embedded_proxy_serves_curve_clients)
{
    char pub[41], sec[41], kf[128], line[64], ep[64], section[512];
    do
        cr_assert_eq(zmq_curve_keypair(pub, sec), 0);
    while (strchr(pub, '$') != NULL);
    snprintf(line, sizeof line, "%s\n", sec);
    key_file(line, 0600, kf);
    snprintf(ep, sizeof ep, "127.0.0.1:%d", free_port_pair());
    snprintf(section, sizeof section,
             "proxy: owner\nlinger_ms: 0\ncurve:\n  server_public_key: \"%s\"\n"
             "  server_secret_key_file: %s",
             pub, kf);
    evc_bus *central = NULL, *other = NULL;
    evc_error err = {0};
    next_client_id = "central";
    cr_assert_eq(open_bus(ep, section, &central, &err), EVC_OK, "%s", err.msg);
    next_client_id = "driver-driver1";
    cr_assert_eq(open_bus(ep, section, &other, &err), EVC_OK, "%s", err.msg);
    inbox at_central = {0};
    cr_assert_eq(evc_bus_subscribe(central, "to-central", on_msg, &at_central, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(central, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(other, &err), EVC_OK, "%s", err.msg);
    until_received(other, "to-central", "hello over CURVE", &at_central);
    evc_bus_close(other);
    evc_bus_close(central);
    unlink(kf);
}
