/* test_engine_link.c: the engine's monitor port under attack (issue 11
 * finding 5). The engine of engine_fx.h is CP_001 with its secret; a second
 * client on its port plays a fake monitor that does not know the secret. */
#include <inttypes.h>

#include "engine_fx.h"

TestSuite(engine_link, .init = setup, .fini = teardown, .timeout = 30);

typedef struct fake {
    evc_link_client *client;
    evc_link *link;
    int closed;
    char op[32], f[3][80];
    int nframes;
    bool pinging;
    size_t pong_n; /* fields of the last PONG, 0 = none yet */
} fake;

static void fake_open(evc_link *l, void *arg) { ((fake *)arg)->link = l; }

static void fake_frame(evc_link *l, const evc_frame_event *ev, void *arg)
{
    (void)l;
    fake *k = arg;
    if (strcmp(ev->opcode, "PONG") == 0) {
        k->pong_n = ev->nfields;
        return;
    }
    snprintf(k->op, sizeof k->op, "%s", ev->opcode);
    for (size_t i = 0; i < 3; i++)
        snprintf(k->f[i], sizeof k->f[i], "%s", i < ev->nfields ? ev->fields[i].data : "");
    k->nframes++;
}

static void fake_close(evc_link *l, const char *reason, void *arg)
{
    (void)l;
    (void)reason;
    fake *k = arg;
    k->link = NULL;
    k->closed++;
}

static bool fake_up(void *arg) { return ((fake *)arg)->link != NULL; }
static bool fake_got(void *arg) { return ((fake *)arg)->nframes > 0; }
static bool fake_gone(void *arg) { return ((fake *)arg)->closed > 0; }

static void fake_connect(fake *k)
{
    memset(k, 0, sizeof *k);
    evc_link_handlers h = {.on_open = fake_open, .on_frame = fake_frame, .on_close = fake_close};
    evc_link_client_opts o = {.backoff_min_ms = 5000, .backoff_max_ms = 5000};
    cr_assert_eq(evc_link_connect(T.loop, "127.0.0.1", evc_link_server_port(T.e->server), &o, &h,
                                  k, &k->client, NULL),
                 EVC_OK);
    cr_assert_eq(evc_loop_run_until(T.loop, fake_up, k, 5000), EVC_OK);
}

static void fake_send(fake *k, const char *op, const char *a, const char *b)
{
    evc_frame_field f[] = {EVC_FRAME_STR(a), EVC_FRAME_STR(b)};
    k->nframes = 0;
    cr_assert_eq(evc_link_send(k->link, op, f, 2, NULL), EVC_OK);
}

static void fake_expect(fake *k, const char *op)
{
    cr_assert_eq(evc_loop_run_until(T.loop, fake_got, k, 5000), EVC_OK, "no answer");
    cr_assert_str_eq(k->op, op, "%s %s %s", k->op, k->f[1], k->f[2]);
}

Test(engine_link, a_hello_for_another_id_is_refused_and_never_adopted)
{
    start_engine(NULL);
    evc_link *real = T.e->monitor;
    fake k;
    fake_connect(&k);
    fake_send(&k, "HELLO", "CP_007", "00112233445566778899aabbccddeeff");
    fake_expect(&k, "HELLO_DENIED");
    cr_assert_str_eq(k.f[1], "WRONG_ID");
    cr_assert(strstr(k.f[2], "CP_001"), "the error names the engine's id: %s", k.f[2]);
    cr_assert_eq(evc_loop_run_until(T.loop, fake_gone, &k, 5000), EVC_OK, "and closes it");
    cr_assert_str_eq(T.e->cp_id, "CP_001");
    cr_assert_eq(T.e->monitor, real, "the real monitor keeps its link");
    engine_send_status(T.e);
    wait_for("cp.status", 1); /* on_cp_event asserts every message is CP_001's */
    evc_link_client_close(k.client);
}

Test(engine_link, a_wrong_or_replayed_proof_is_refused)
{
    start_engine(NULL);
    evc_link *real = T.e->monitor;
    /* Wrong proof: the fake knows the id, not the secret. */
    fake k;
    fake_connect(&k);
    char nm[2 * EVC_PROOF_NONCE_BYTES + 1];
    evc_hex_encode(T.nonce_m, sizeof T.nonce_m, nm);
    fake_send(&k, "HELLO", "CP_001", nm); /* the nonce it saw the real monitor send */
    fake_expect(&k, "HELLO_CHALLENGE");
    char mac[EVC_PROOF_HEX_SIZE];
    fx_link_mac("guess", "evc-link-monitor-v1", T.nonce_m, k.f[1], mac);
    fake_send(&k, "HELLO_PROOF", "CP_001", mac);
    fake_expect(&k, "HELLO_DENIED");
    cr_assert_str_eq(k.f[1], "BAD_PROOF");
    evc_link_client_close(k.client);
    /* Replay: the real monitor's proof for an earlier challenge. */
    char old_e[80];
    fake r;
    fake_connect(&r);
    fake_send(&r, "HELLO", "CP_001", nm);
    fake_expect(&r, "HELLO_CHALLENGE");
    snprintf(old_e, sizeof old_e, "%s", r.f[1]);
    evc_link_client_close(r.client);
    fake_connect(&r);
    fake_send(&r, "HELLO", "CP_001", nm);
    fake_expect(&r, "HELLO_CHALLENGE");
    cr_assert_str_neq(r.f[1], old_e, "a fresh engine nonce per HELLO");
    fx_link_mac(FX_SECRET, "evc-link-monitor-v1", T.nonce_m, old_e, mac);
    fake_send(&r, "HELLO_PROOF", "CP_001", mac); /* right secret, old challenge */
    fake_expect(&r, "HELLO_DENIED");
    cr_assert_str_eq(r.f[1], "BAD_PROOF");
    cr_assert_eq(T.e->monitor, real, "the real monitor keeps its link");
    evc_link_client_close(r.client);
}

static void fake_ping(evc_timer *t, void *arg)
{
    (void)t;
    fake *k = arg;
    if (k->link && k->pinging)
        evc_link_send(k->link, "PING", (evc_frame_field[]){EVC_FRAME_STR("1")}, 1, NULL);
}

static void short_monitor_timeout(engine_cfg *c) { c->monitor_timeout_ms = 400; }

/* Finding 5 during a supply: a fake monitor neither replaces the real one
 * nor keeps the CP alive with its PINGs once the real one is gone. */
Test(engine_link, a_fake_monitor_cannot_take_over_a_supply)
{
    start_engine(short_monitor_timeout);
    supply_until_telemetry(1);
    evc_link *real = T.e->monitor;
    fake k;
    fake_connect(&k);
    fake_send(&k, "HELLO", "CP_001", "00112233445566778899aabbccddeeff");
    fake_expect(&k, "HELLO_CHALLENGE");
    k.pinging = true;
    evc_timer *t = NULL;
    cr_assert_eq(evc_loop_timer(T.loop, 0, 100, fake_ping, &k, &t, NULL), EVC_OK);
    int tele = count("supply.telemetry");
    wait_for("supply.telemetry", tele + 3);
    cr_assert_eq(T.e->monitor, real);
    cr_assert_eq(T.e->phase, ENGINE_SUPPLYING, "the supply goes on");
    cr_assert_eq(count("supply.ended"), 0);
    /* The real monitor hangs: the fake's PINGs do not count for it. */
    T.pinging = false;
    wait_for("supply.ended", 1);
    cr_assert_str_eq(last("supply.ended")->reason, "monitor_lost");
    evc_timer_close(t);
    evc_link_client_close(k.client);
}

static bool fake_ponged(void *arg) { return ((fake *)arg)->pong_n > 0; }

static bool pong_supplying(void *arg)
{
    (void)arg;
    return strcmp(T.pong_f[2], "supplying") == 0 && atoll(T.pong_f[4]) > 0;
}

static bool pong_idle(void *arg)
{
    (void)arg;
    return strcmp(T.pong_f[2], "idle") == 0;
}

/* PONG's supply figures (engine_link.h, PROTOCOL.md M2): the proved monitor
 * gets state, W, Wh, session and admin state; any other link only seq and
 * health (a session id is not for strangers). */
Test(engine_link, pong_carries_the_supply_to_the_proved_monitor_only)
{
    start_engine(NULL);
    cr_assert_eq(T.pong_n, 7, "%zu fields", T.pong_n);
    cr_assert_str_eq(T.pong_f[0], "7");
    cr_assert_str_eq(T.pong_f[1], "OK");
    cr_assert_str_eq(T.pong_f[2], "idle");
    cr_assert_str_eq(T.pong_f[3], "0");
    cr_assert_str_eq(T.pong_f[4], "0");
    cr_assert_str_eq(T.pong_f[5], "");
    cr_assert_str_eq(T.pong_f[6], "in_service");

    supply_until_telemetry(2);
    cr_assert_eq(evc_loop_run_until(T.loop, pong_supplying, NULL, 5000), EVC_OK,
                 "state %s wh %s", T.pong_f[2], T.pong_f[4]);
    cr_assert_str_eq(T.pong_f[5], SID);
    int64_t w = atoll(T.pong_f[3]);
    cr_assert(w > T.e->cfg.power_w * 9 / 10 && w < T.e->cfg.power_w * 11 / 10, "w %" PRId64, w);

    fake k;
    fake_connect(&k);
    fake_send(&k, "PING", "9", "");
    cr_assert_eq(evc_loop_run_until(T.loop, fake_ponged, &k, 5000), EVC_OK);
    cr_assert_eq(k.pong_n, 2, "an unproved link learns the health only: %zu fields", k.pong_n);
    evc_link_client_close(k.client);

    engine_supply_unplug(T.e, true);
    cr_assert_eq(evc_loop_run_until(T.loop, pong_idle, NULL, 5000), EVC_OK);
    cr_assert_str_eq(T.pong_f[3], "0");
    cr_assert_str_eq(T.pong_f[4], "0");
    cr_assert_str_eq(T.pong_f[5], "");
}
