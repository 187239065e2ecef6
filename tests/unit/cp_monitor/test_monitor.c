/* test_monitor.c: a real monitor (all of roles/cp_monitor but main.c) between
 * a fake Central and a fake engine, both link servers of this test: AUTH,
 * HELLO, health reported at once on a change, heartbeats whatever the engine
 * does, denials and outages printed once, reconnection; the dashboard's
 * checks, supply figures (old and new PONG), alerts and HTTP guard. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/password.h"
#include "evc/proof.h"
#include "monitor.h"

static struct {
    evc_loop *loop;
    monitor *m;
    /* fake Central */
    evc_link_server *central;
    uint16_t central_port;
    bool deny;
    bool bad_ok_mac;    /* AUTH_OK with a MAC under another key: not Central */
    int auths, proofs;
    size_t auth_fields;
    char auth[4][64];
    int hbs;
    char hb[512][16];
    /* fake engine */
    evc_link_server *engine;
    uint16_t engine_port;
    int hellos, hello_proofs, pings;
    const char *engine_secret; /* the fake engine's; NULL: "s3cret" */
    const char *health; /* answered in PONG; NULL: mute */
    const char *pong_more[8]; /* fields after seq and health (the supply: M2) */
    size_t pong_more_n;
    int64_t grace_ms;   /* engine_grace_ms of the next monitor; 0: the default */
} T;

/* The fake Central holds the argon2id string of "s3cret" (MIN cost): it
 * challenges, checks the PROOF and MACs its AUTH_OK as the real one does. */
static char stored_hash[EVC_PASSWORD_HASH_MAX];

static void central_frame(evc_link *l, const evc_frame_event *ev, void *arg)
{
    (void)arg;
    static uint8_t nonce_m[EVC_PROOF_NONCE_BYTES], nonce_c[EVC_PROOF_NONCE_BYTES];
    evc_proof_params params;
    uint8_t key[EVC_PROOF_KEY_BYTES];
    cr_assert_eq(evc_proof_split(stored_hash, &params, key, NULL), EVC_OK);
    if (strcmp(ev->opcode, "AUTH") == 0) {
        T.auths++;
        T.auth_fields = ev->nfields;
        for (size_t i = 0; i < 4 && i < ev->nfields; i++)
            snprintf(T.auth[i], sizeof T.auth[i], "%s", ev->fields[i].data);
        cr_assert(evc_hex_decode(T.auth[3], nonce_m, sizeof nonce_m), "nonce %s", T.auth[3]);
        evc_proof_random(nonce_c, sizeof nonce_c);
        char text[128], nc[40];
        evc_proof_params_format(&params, text, sizeof text);
        evc_hex_encode(nonce_c, sizeof nonce_c, nc);
        evc_frame_field ch[] = {EVC_FRAME_STR("CP_001"), EVC_FRAME_STR("PROVE"),
                                EVC_FRAME_STR(text), EVC_FRAME_STR(nc)};
        evc_link_send(l, "CHALLENGE", ch, 4, NULL);
    } else if (strcmp(ev->opcode, "PROOF") == 0) {
        T.proofs++;
        char want[EVC_PROOF_HEX_SIZE], ok_mac[EVC_PROOF_HEX_SIZE];
        monitor_proof_mac(key, MONITOR_CPAUTH_LABEL, "CP_001", nonce_m, nonce_c, want);
        cr_assert_str_eq(ev->fields[1].data, want, "the PROOF is the MAC of both nonces");
        monitor_proof_mac(T.bad_ok_mac ? (uint8_t[EVC_PROOF_KEY_BYTES]){1} : key,
                          MONITOR_CPAUTH_OK_LABEL, "CP_001", nonce_m, nonce_c, ok_mac);
        evc_frame_field ok[] = {EVC_FRAME_STR("CP_001"), EVC_FRAME_STR("IN_SERVICE"),
                                EVC_FRAME_STR(ok_mac)};
        evc_frame_field no[] = {EVC_FRAME_STR("CP_001"), EVC_FRAME_STR("BAD_SECRET"),
                                EVC_FRAME_STR("wrong secret")};
        if (T.deny)
            evc_link_send(l, "AUTH_DENIED", no, 3, NULL);
        else
            evc_link_send(l, "AUTH_OK", ok, 3, NULL);
    } else if (strcmp(ev->opcode, "HB") == 0 && ev->nfields == 2) {
        cr_assert_str_eq(ev->fields[0].data, "CP_001");
        if (T.hbs < 512)
            snprintf(T.hb[T.hbs], sizeof T.hb[0], "%s", ev->fields[1].data);
        T.hbs++;
    }
}

/* The fake engine proves the secret of T.engine_secret ("s3cret" unless a
 * test plays an engine that does not know it). */
static void engine_frame(evc_link *l, const evc_frame_event *ev, void *arg)
{
    (void)arg;
    static uint8_t nonce_m[EVC_PROOF_NONCE_BYTES], nonce_e[EVC_PROOF_NONCE_BYTES];
    uint8_t lk[EVC_PROOF_KEY_BYTES];
    monitor_link_key("CP_001", T.engine_secret ? T.engine_secret : "s3cret", lk);
    if (strcmp(ev->opcode, "HELLO") == 0) {
        T.hellos++;
        cr_assert_str_eq(ev->fields[0].data, "CP_001");
        cr_assert(ev->nfields == 2 && evc_hex_decode(ev->fields[1].data, nonce_m, sizeof nonce_m));
        evc_proof_random(nonce_e, sizeof nonce_e);
        char ne[40], mac[EVC_PROOF_HEX_SIZE];
        evc_hex_encode(nonce_e, sizeof nonce_e, ne);
        monitor_proof_mac(lk, MONITOR_LINK_ENGINE_LABEL, "CP_001", nonce_m, nonce_e, mac);
        evc_frame_field f[] = {EVC_FRAME_STR("CP_001"), EVC_FRAME_STR(ne), EVC_FRAME_STR(mac)};
        evc_link_send(l, "HELLO_CHALLENGE", f, 3, NULL);
    } else if (strcmp(ev->opcode, "HELLO_PROOF") == 0) {
        T.hello_proofs++;
        char want[EVC_PROOF_HEX_SIZE];
        monitor_proof_mac(lk, MONITOR_LINK_MONITOR_LABEL, "CP_001", nonce_m, nonce_e, want);
        cr_assert_str_eq(ev->fields[1].data, want);
        evc_link_send(l, "HELLO_OK", ev->fields, 1, NULL);
    } else if (strcmp(ev->opcode, "PING") == 0 && T.health) {
        T.pings++;
        evc_frame_field f[10] = {ev->fields[0], EVC_FRAME_STR(T.health)};
        for (size_t i = 0; i < T.pong_more_n; i++)
            f[2 + i] = EVC_FRAME_STR(T.pong_more[i]);
        evc_link_send(l, "PONG", f, 2 + T.pong_more_n, NULL);
    }
}

static void open_central(uint16_t port)
{
    evc_link_handlers h = {.on_frame = central_frame};
    evc_error err = {0};
    cr_assert_eq(evc_link_listen(T.loop, "127.0.0.1", port, &h, NULL, &T.central, &err), EVC_OK,
                 "%s", err.msg);
    T.central_port = evc_link_server_port(T.central);
}

static void open_engine(uint16_t port)
{
    evc_link_handlers h = {.on_frame = engine_frame};
    evc_error err = {0};
    cr_assert_eq(evc_link_listen(T.loop, "127.0.0.1", port, &h, NULL, &T.engine, &err), EVC_OK,
                 "%s", err.msg);
    T.engine_port = evc_link_server_port(T.engine);
}

static void setup(void)
{
    memset(&T, 0, sizeof T);
    signal(SIGPIPE, SIG_IGN);
    cr_assert_eq(evc_loop_new(&T.loop, NULL), EVC_OK);
    T.health = "OK";
    if (!stored_hash[0])
        cr_assert_eq(evc_password_hash("s3cret", EVC_PASSWORD_COST_MIN, stored_hash, NULL),
                     EVC_OK);
    open_central(0);
    open_engine(0);
}

static void start_monitor(int64_t heartbeat_ms)
{
    monitor *m = calloc(1, sizeof *m);
    monitor_cfg_defaults(&m->cfg);
    snprintf(m->cfg.cp_id, sizeof m->cfg.cp_id, "CP_001");
    snprintf(m->cfg.secret, sizeof m->cfg.secret, "s3cret");
    snprintf(m->cfg.location, sizeof m->cfg.location, "Here #1");
    snprintf(m->cfg.engine.host, sizeof m->cfg.engine.host, "127.0.0.1");
    m->cfg.engine.port = T.engine_port;
    snprintf(m->cfg.central.host, sizeof m->cfg.central.host, "127.0.0.1");
    m->cfg.central.port = T.central_port;
    m->cfg.health_interval_ms = 100;
    m->cfg.health_timeout_ms = 300;
    m->cfg.heartbeat_interval_ms = heartbeat_ms;
    m->cfg.backoff_min_ms = 20;
    m->cfg.backoff_max_ms = 100;
    m->cfg.deny_retry_min_ms = 100;
    m->cfg.deny_retry_max_ms = 400;
    if (T.grace_ms)
        m->cfg.engine_grace_ms = T.grace_ms;
    m->loop = T.loop;
    T.m = m;
    evc_error err = {0};
    cr_assert_eq(monitor_core_start(m, &err), EVC_OK, "%s", err.msg);
}

static void teardown(void)
{
    if (T.m)
        monitor_core_stop(T.m);
    free(T.m);
    if (T.central)
        evc_link_server_close(T.central);
    if (T.engine)
        evc_link_server_close(T.engine);
    evc_loop_free(T.loop);
}

TestSuite(monitor, .init = setup, .fini = teardown, .timeout = 30);

static const char *want_hb;
static bool hb_is(void *arg)
{
    (void)arg;
    return T.hbs > 0 && strcmp(T.hb[(T.hbs - 1) % 512], want_hb) == 0;
}

static void wait_hb(const char *health)
{
    want_hb = health;
    cr_assert_eq(evc_loop_run_until(T.loop, hb_is, NULL, 5000), EVC_OK, "waited for HB %s", health);
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

static void run_for(uint64_t ms) { evc_loop_run_until(T.loop, never, NULL, ms); }

Test(monitor, authenticates_then_tells_the_engine_and_reports_its_health)
{
    start_monitor(10000); /* no periodic HB in this test: only those sent at once */
    wait_hb("OK");
    cr_assert_eq(T.auths, 1);
    cr_assert_eq(T.proofs, 1);
    cr_assert_eq(T.auth_fields, 4);
    cr_assert_str_eq(T.auth[0], "CP_001");
    cr_assert_str_eq(T.auth[1], "Here #1", "fields are escaped on the wire");
    cr_assert_str_eq(T.auth[2], "35");
    cr_assert_eq(strlen(T.auth[3]), 32, "a 16-byte nonce in hex");
    for (int i = 0; i < 4; i++)
        cr_assert_null(strstr(T.auth[i], "s3cret"), "no secret in AUTH");
    cr_assert_eq(T.hellos, 1);
    cr_assert_eq(T.hello_proofs, 1);
    cr_assert_eq(T.hbs, 1, "the first HB waits for the first PONG (no false BROKEN)");
    cr_assert_str_eq(T.m->last_said, "Engine OK");

    T.health = "KO";
    wait_hb("KO");
    cr_assert_str_eq(T.m->last_said, "Engine KO");
    T.health = "OK";
    wait_hb("OK");
    cr_assert_eq(T.hbs, 3, "one HB per change, at once");
}

Test(monitor, a_silent_engine_is_unreachable_and_said_once)
{
    start_monitor(10000);
    wait_hb("OK");
    T.health = NULL; /* hangs: PINGs unanswered */
    wait_hb("UNREACHABLE");
    unsigned said = T.m->said;
    cr_assert_str_eq(T.m->last_said, "Engine not answering");
    run_for(800);
    cr_assert_eq(T.m->said, said, "not a line per missed PING");
    T.health = "OK";
    wait_hb("OK");
}

Test(monitor, a_dead_engine_is_unreachable_at_once_and_found_again)
{
    start_monitor(10000);
    wait_hb("OK");
    uint16_t port = T.engine_port;
    evc_link_server_close(T.engine);
    T.engine = NULL;
    wait_hb("UNREACHABLE");
    unsigned said = T.m->said;
    run_for(500); /* several failed reconnections */
    cr_assert_eq(T.m->said, said, "reconnection attempts are not printed");
    open_engine(port);
    wait_hb("OK");
    cr_assert_eq(T.hellos, 2, "HELLO again after every reconnection");
}

Test(monitor, heartbeats_go_whatever_the_engine_does)
{
    T.health = NULL;
    start_monitor(100);
    want_hb = "UNREACHABLE";
    cr_assert_eq(evc_loop_run_until(T.loop, hb_is, NULL, 5000), EVC_OK);
    int before = T.hbs;
    run_for(1000);
    cr_assert_geq(T.hbs - before, 5, "%d HBs in 1 s at 100 ms", T.hbs - before);
    cr_assert_leq(T.hbs - before, 12);
}

Test(monitor, a_denial_is_said_once_and_retried_with_backoff)
{
    T.deny = true;
    start_monitor(100);
    run_for(1500);
    cr_assert_str_eq(T.m->last_said, "Denied by CENTRAL: wrong secret");
    cr_assert(T.auths >= 3 && T.auths <= 7, "%d AUTHs in 1.5 s (backoff 100..400 ms)", T.auths);
    cr_assert_eq(T.hbs, 0, "no HB before AUTH_OK");
    cr_assert_eq(T.hellos, 0, "the engine is told only a confirmed id");
    cr_assert_eq(T.m->said, 1, "one line for the repeated denial, not one per AUTH (said %u)",
                 T.m->said);
}

static int hbs_before;
static bool reaccepted(void *arg)
{
    (void)arg;
    return T.auths == 2 && T.hbs > hbs_before;
}

Test(monitor, an_absent_central_is_said_once_and_its_return_noticed)
{
    uint16_t port = T.central_port;
    evc_link_server_close(T.central);
    T.central = NULL;
    start_monitor(100);
    run_for(800);
    cr_assert_str_eq(T.m->last_said, "Unable to connect to CENTRAL");
    unsigned said = T.m->said;
    run_for(500);
    cr_assert_eq(T.m->said, said, "not a line per retry");
    cr_assert_eq(T.hellos, 0);
    open_central(port);
    wait_hb("OK");
    cr_assert_eq(T.hellos, 1);
    /* Central goes away after having accepted us, and comes back. */
    evc_link_server_close(T.central);
    T.central = NULL;
    run_for(300);
    cr_assert_str_eq(T.m->last_said, "Unable to connect to CENTRAL");
    hbs_before = T.hbs;
    open_central(port);
    cr_assert_eq(evc_loop_run_until(T.loop, reaccepted, NULL, 5000), EVC_OK);
    cr_assert_eq(T.auths, 2);
    cr_assert_str_eq(T.hb[(T.hbs - 1) % 512], "OK");
}

static bool accepted(void *arg)
{
    (void)arg;
    return T.m && T.m->cstate == MONITOR_C_ACCEPTED;
}

/* Issue 9 item 4: engine and monitor start together, the engine a little
 * later: Central never hears UNREACHABLE (no DISCONNECTED -> BROKEN ->
 * ACTIVATED flash), and the monitor prints no "Engine not answering". */
Test(monitor, an_engine_that_starts_late_is_no_fault)
{
    uint16_t port = T.engine_port;
    evc_link_server_close(T.engine);
    T.engine = NULL;
    start_monitor(100);
    cr_assert_eq(evc_loop_run_until(T.loop, accepted, NULL, 5000), EVC_OK);
    run_for(700); /* refused connections, past health_timeout_ms (300) */
    open_engine(port);
    wait_hb("OK");
    for (int i = 0; i < T.hbs && i < 512; i++)
        cr_assert_str_neq(T.hb[i], "UNREACHABLE", "HB %d of %d", i + 1, T.hbs);
    cr_assert_str_eq(T.m->last_said, "Engine OK");
}

Test(monitor, an_engine_never_started_is_unreachable_after_the_grace)
{
    evc_link_server_close(T.engine);
    T.engine = NULL;
    T.engine_port = (uint16_t)1; /* nothing listens there */
    T.grace_ms = 800;
    uint64_t t0 = evc_loop_now_ms(T.loop);
    start_monitor(100);
    wait_hb("UNREACHABLE");
    cr_assert_geq(evc_loop_now_ms(T.loop) - t0, 800, "not before the grace");
    cr_assert_str_eq(T.m->last_said, "Engine not answering");
}

/* ---- issue 11: the monitor trusts only peers proving the CP's secret ---- */

Test(monitor, an_auth_ok_without_centrals_mac_is_refused)
{
    T.bad_ok_mac = true;
    start_monitor(100);
    run_for(1200);
    cr_assert_geq(T.proofs, 1, "the monitor answered the CHALLENGE");
    cr_assert_eq(T.hbs, 0, "no HB to a peer that did not prove it is Central");
    cr_assert_eq(T.hellos, 0, "the engine is not told an unconfirmed id");
    cr_assert(strstr(T.m->last_said, "did not prove it is CENTRAL"), "said: %s", T.m->last_said);
    cr_assert_neq(T.m->cstate, MONITOR_C_ACCEPTED);
}

Test(monitor, an_engine_without_the_secret_gets_no_proof_and_no_health)
{
    T.engine_secret = "not-the-secret";
    T.grace_ms = 100;
    start_monitor(100);
    want_hb = "UNREACHABLE";
    cr_assert_eq(evc_loop_run_until(T.loop, hb_is, NULL, 5000), EVC_OK,
                 "an engine that cannot prove the secret is not a healthy engine");
    cr_assert_geq(T.hellos, 1);
    cr_assert_eq(T.hello_proofs, 0, "our proof is not given to an unproven engine");
    cr_assert_eq(T.pings, 0, "no PING: its PONGs would not count");
    unsigned said = T.m->said;
    run_for(500); /* several reconnections, each refused */
    cr_assert_eq(T.m->said, said, "the refusal is said once, not per reconnection");
}

Test(monitor, a_reconnection_reuses_the_derived_key)
{
    start_monitor(10000);
    wait_hb("OK");
    cr_assert(T.m->central_up);
    cr_assert_eq(evc_cplink_derivations(T.m->central), 1);
    int proofs = T.proofs;
    evc_link_server_close(T.central); /* closes the link; the monitor reconnects */
    T.central = NULL;
    open_central(T.central_port);
    uint64_t t0 = evc_loop_now_ms(T.loop);
    while (T.proofs == proofs && evc_loop_now_ms(T.loop) - t0 < 5000)
        run_for(20);
    cr_assert_eq(T.proofs, proofs + 1, "a new PROOF for the new nonces");
    cr_assert_eq(T.m->cstate == MONITOR_C_ACCEPTED || T.m->cstate == MONITOR_C_AUTHENTICATING,
                 true);
    cr_assert_eq(evc_cplink_derivations(T.m->central), 1, "the key is cached by its params");
}

/* ---- the dashboard's data (monitor_track.h, monitor_web.c) --------------- */

static bool have_checks(void *arg) { return T.m->track.checks_total >= (uint64_t)(intptr_t)arg; }

static void set_pong(size_t n, const char *const *f)
{
    T.pong_more_n = n;
    for (size_t i = 0; i < n; i++)
        T.pong_more[i] = f[i];
}

Test(monitor, a_two_field_pong_counts_and_leaves_the_supply_unknown)
{
    start_monitor(10000);
    wait_hb("OK");
    cr_assert_eq(evc_loop_run_until(T.loop, have_checks, (void *)3, 5000), EVC_OK);
    const monitor_check *c = monitor_track_last_check(&T.m->track);
    cr_assert_eq(c->result, MONITOR_CHECK_OK);
    cr_assert_geq(c->rtt_us, 0);
    cr_assert_eq(T.m->track.consecutive_failures, 0);
    cr_assert_not(T.m->have_supply, "an older engine: the supply is unknown");
    cr_assert_eq(T.m->track.usage_total, 0);
}

Test(monitor, an_extended_pong_gives_the_supply_and_later_fields_are_ignored)
{
    set_pong(7, (const char *[]){"supplying", "7400", "12", "0f8fad5b-d9cb-469f-a165-70867728950e",
                                 "in_service", "a-future-field", "another"});
    start_monitor(10000);
    wait_hb("OK");
    cr_assert_eq(evc_loop_run_until(T.loop, have_checks, (void *)2, 5000), EVC_OK);
    cr_assert(T.m->have_supply);
    cr_assert_str_eq(T.m->supply_state, "supplying");
    cr_assert_eq(T.m->supply_w, 7400);
    cr_assert_eq(T.m->supply_wh, 12);
    cr_assert_str_eq(T.m->session_id, "0f8fad5b-d9cb-469f-a165-70867728950e");
    cr_assert_geq(T.m->track.usage_total, 1);
    cr_assert_eq(monitor_track_usage_at(&T.m->track, 0)->w, 7400);
    /* the operator's stop, as the engine heard it */
    set_pong(5, (const char *[]){"idle", "0", "0", "", "stopped"});
    run_for(300);
    cr_assert_str_eq(T.m->supply_state, "idle");
    cr_assert_str_eq(T.m->engine_admin, "stopped");
}

Test(monitor, a_malformed_supply_part_is_dropped_but_the_health_counts)
{
    set_pong(5, (const char *[]){"flying", "-5", "x", "bad id!", "maybe"});
    start_monitor(10000);
    wait_hb("OK");
    cr_assert_eq(evc_loop_run_until(T.loop, have_checks, (void *)2, 5000), EVC_OK);
    cr_assert_not(T.m->have_supply);
    cr_assert_eq(T.m->health.health, MONITOR_OK);
}

static bool alert_is(void *arg)
{
    const monitor_alert_rec *a = monitor_track_alert_at(&T.m->track, 0);
    return a && strcmp(a->kind, arg) == 0;
}

static bool last_none(void *arg)
{
    (void)arg;
    const monitor_check *c = monitor_track_last_check(&T.m->track);
    return c && c->result == MONITOR_CHECK_NONE && T.m->track.consecutive_failures >= 3;
}

Test(monitor, faults_recoveries_and_a_lost_engine_are_alerts_and_checks)
{
    start_monitor(10000);
    wait_hb("OK");
    cr_assert(alert_is("link_up"), "CENTRAL's acceptance is the first alert");
    T.health = "KO";
    cr_assert_eq(evc_loop_run_until(T.loop, alert_is, "fault", 5000), EVC_OK);
    cr_assert_eq(monitor_track_last_check(&T.m->track)->result, MONITOR_CHECK_KO);
    T.health = "OK";
    cr_assert_eq(evc_loop_run_until(T.loop, alert_is, "recovery", 5000), EVC_OK);
    cr_assert_eq(T.m->track.consecutive_failures, 0);
    evc_link_server_close(T.engine); /* the engine dies */
    T.engine = NULL;
    cr_assert_eq(evc_loop_run_until(T.loop, alert_is, "link_lost", 5000), EVC_OK);
    cr_assert_eq(evc_loop_run_until(T.loop, last_none, NULL, 5000), EVC_OK,
                 "every check with the engine away is a 'no answer'");
    cr_assert_str_eq(monitor_track_alert_at(&T.m->track, 0)->link, "engine");
}

/* A blocking HTTP GET on a thread while the test runs the monitor's loop. */
typedef struct http_get {
    uint16_t port;
    const char *extra; /* header lines, each ending in \r\n */
    char reply[8192];
    volatile int done;
} http_get;

static void *http_thread(void *arg)
{
    http_get *g = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    size_t n = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        char req[512];
        int len = snprintf(req, sizeof req,
                           "GET /api/monitor HTTP/1.1\r\n%sConnection: close\r\n\r\n", g->extra);
        if (write(fd, req, (size_t)len) == len) {
            ssize_t r;
            while (n < sizeof g->reply - 1 &&
                   (r = read(fd, g->reply + n, sizeof g->reply - 1 - n)) > 0)
                n += (size_t)r;
        }
    }
    g->reply[n] = '\0';
    close(fd);
    g->done = 1;
    return NULL;
}

static bool got(void *arg) { return ((http_get *)arg)->done; }

static void get(http_get *g, uint16_t port, const char *extra)
{
    memset(g, 0, sizeof *g);
    g->port = port;
    g->extra = extra;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, http_thread, g), 0);
    evc_loop_run_until(T.loop, got, g, 5000);
    pthread_join(th, NULL);
}

Test(monitor, the_dashboard_serves_its_snapshot_and_refuses_other_sites)
{
    monitor *m = calloc(1, sizeof *m);
    monitor_cfg_defaults(&m->cfg);
    snprintf(m->cfg.cp_id, sizeof m->cfg.cp_id, "CP_001");
    snprintf(m->cfg.secret, sizeof m->cfg.secret, "s3cret");
    snprintf(m->cfg.engine.host, sizeof m->cfg.engine.host, "127.0.0.1");
    m->cfg.engine.port = T.engine_port;
    snprintf(m->cfg.central.host, sizeof m->cfg.central.host, "127.0.0.1");
    m->cfg.central.port = T.central_port;
    m->cfg.health_interval_ms = 100;
    m->cfg.health_timeout_ms = 300;
    m->cfg.web = true;
    m->cfg.web_port = 0; /* the OS chooses */
    m->loop = T.loop;
    T.m = m;
    evc_error err = {0};
    cr_assert_eq(monitor_core_start(m, &err), EVC_OK, "%s", err.msg);
    wait_hb("OK");
    uint16_t port = monitor_web_port(m);
    cr_assert_neq(port, 0);
    http_get g;
    get(&g, port, "Host: 127.0.0.1\r\n");
    cr_assert(strstr(g.reply, " 200 "), "%.200s", g.reply);
    cr_assert(strstr(g.reply, "\"cp_id\":\"CP_001\""), "%.400s", g.reply);
    cr_assert(strstr(g.reply, "\"state\":\"ACTIVATED\""), "%.600s", g.reply);
    get(&g, port, "Host: 127.0.0.1\r\nOrigin: http://evil.example\r\n");
    cr_assert(strstr(g.reply, " 403 ") && strstr(g.reply, "cross-origin"), "%.200s", g.reply);
    get(&g, port, "Host: evil.example:8003\r\n");
    cr_assert(strstr(g.reply, " 403 ") && strstr(g.reply, "Host"), "%.200s", g.reply);

    /* A second monitor on the same port: the start fails, naming the address. */
    monitor *m2 = calloc(1, sizeof *m2);
    m2->cfg = m->cfg;
    m2->cfg.web_port = port;
    m2->loop = T.loop;
    evc_error e2 = {0};
    cr_assert_neq(monitor_core_start(m2, &e2), EVC_OK);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%u", (unsigned)port);
    cr_assert(strstr(e2.msg, want), "%s", e2.msg);
    monitor_core_stop(m2);
    free(m2);
}

static bool two_auths(void *arg) { (void)arg; return T.auths >= 2; }

/* Anti-downgrade (issue 14): a Central announcing the fast verifier's params
 * (`<salt>:0:0`) for a typed secret gets no PROOF, which would be an offline
 * guess at HMAC speed; the monitor refuses and retries later. */
Test(monitor, fast_params_for_a_typed_secret_get_no_proof)
{
    cr_assert_eq(evc_proof_fast_hash("0123456789abcdef0123456789abcdef0123456789abcdef"
                                     "0123456789abcdef", stored_hash, NULL), EVC_OK);
    start_monitor(100);
    cr_assert_eq(evc_loop_run_until(T.loop, two_auths, NULL, 5000), EVC_OK, "retried");
    stored_hash[0] = '\0'; /* the next test's setup hashes "s3cret" again */
    cr_assert_eq(T.proofs, 0, "no PROOF under fast params of a typed secret");
    cr_assert_str_eq(T.m->last_said, "Denied by CENTRAL: this monitor cannot answer the CHALLENGE");
}
