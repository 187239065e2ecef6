/* test_cpauth_flood.c: a Central restart with many CPs reconnecting at once
 * (issue 14). Every monitor's AUTH, CHALLENGE, PROOF and first HB arrive
 * together; with the fast verifier of generated secrets nobody pays an
 * argon2 (Central never did; the provers did, ~120 ms each at interactive
 * cost), so every CP is ACTIVATED and none falls DISCONNECTED on the way.
 *
 * 200 monitors here; EVC_CPAUTH_FLOOD_N=2000 (by hand) for a bigger run. One
 * CP in ten keeps an old argon2id secret (MIN cost): both kinds verify side
 * by side. Times are printed, never asserted (speed belongs to tests/bench). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central_cpauth.h"
#include "central_int.h"
#include "fixture.h"

#define FLOOD_N_DEFAULT 200
#define FLOOD_N_MAX 9000     /* two fds per monitor in one process */
#define TICK_MS 50
#define REFRESH_EVERY 5      /* ticks: Central's own 250 ms refresh */
#define HB_EVERY 20          /* ticks: monitors heartbeat at 1 Hz */
#define STEADY_MS 4000       /* after all ACTIVATED: past a heartbeat timeout */

typedef struct flood flood;

typedef struct fmon {
    flood *fl;
    evc_link_client *client;
    central_cp *cp; /* borrowed from Central's model (no CP is added during the test) */
    char id[16];
    char secret[80];
    uint8_t nonce_m[EVC_PROOF_NONCE_BYTES];
    bool authed, was_active;
} fmon;

struct flood {
    fx_store f;
    central c;
    fmon *m; /* owned, n */
    int n, opened, challenged, authed, denied, closed, active, false_transitions;
    unsigned ticks;
    bool done; /* closing at the end: closes are expected */
    uint64_t t0_ms, all_open_ms, all_challenged_ms, all_authed_ms, all_active_ms, last_tick_ms, max_gap_ms;
};

static int flood_n(void)
{
    const char *s = getenv("EVC_CPAUTH_FLOOD_N");
    int n = s && *s ? atoi(s) : FLOOD_N_DEFAULT;
    return n < 1 ? FLOOD_N_DEFAULT : n > FLOOD_N_MAX ? FLOOD_N_MAX : n;
}

static void send_hb(fmon *m)
{
    evc_link *l = evc_link_client_link(m->client);
    if (!l || evc_link_unacked(l) >= 8)
        return;
    evc_frame_field f[2] = {EVC_FRAME_STR(m->id), EVC_FRAME_STR("OK")};
    evc_link_send(l, "HB", f, 2, NULL);
}

static void m_open(evc_link *link, void *arg)
{
    fmon *m = arg;
    if (++m->fl->opened == m->fl->n)
        m->fl->all_open_ms = evc_loop_now_ms(m->fl->f.loop);
    char nonce[2 * EVC_PROOF_NONCE_BYTES + 1];
    evc_proof_random(m->nonce_m, sizeof m->nonce_m);
    evc_hex_encode(m->nonce_m, sizeof m->nonce_m, nonce);
    evc_frame_field f[4] = {EVC_FRAME_STR(m->id), EVC_FRAME_STR("Flood street"),
                            EVC_FRAME_STR("30"), EVC_FRAME_STR(nonce)};
    cr_assert_eq(evc_link_send(link, "AUTH", f, 4, NULL), EVC_OK);
}

/* What the monitor does (monitor_proof.c): derive from the params (one HMAC
 * for fast params, argon2id MIN for the old ones) and answer. */
static void m_challenge(fmon *m, evc_link *link, const evc_frame_event *ev)
{
    cr_assert_eq(ev->nfields, 4);
    cr_assert_str_eq(ev->fields[1].data, "PROVE");
    if (++m->fl->challenged == m->fl->n)
        m->fl->all_challenged_ms = evc_loop_now_ms(m->fl->f.loop);
    evc_proof_params p;
    uint8_t key[EVC_PROOF_KEY_BYTES], nonce_c[EVC_PROOF_NONCE_BYTES];
    evc_error err = {0};
    cr_assert_eq(evc_proof_params_parse(ev->fields[2].data, &p, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_proof_derive(m->secret, &p, key, &err), EVC_OK, "%s: %s", m->id, err.msg);
    cr_assert(evc_hex_decode(ev->fields[3].data, nonce_c, sizeof nonce_c));
    char mac[EVC_PROOF_HEX_SIZE];
    central_cpauth_mac(key, CENTRAL_CPAUTH_LABEL, m->id, m->nonce_m, nonce_c, mac);
    evc_frame_field f[2] = {EVC_FRAME_STR(m->id), EVC_FRAME_STR(mac)};
    cr_assert_eq(evc_link_send(link, "PROOF", f, 2, NULL), EVC_OK);
}

static void m_frame(evc_link *link, const evc_frame_event *ev, void *arg)
{
    fmon *m = arg;
    if (strcmp(ev->opcode, "CHALLENGE") == 0) {
        m_challenge(m, link, ev);
    } else if (strcmp(ev->opcode, "AUTH_OK") == 0 && !m->authed) {
        m->authed = true;
        if (++m->fl->authed == m->fl->n)
            m->fl->all_authed_ms = evc_loop_now_ms(m->fl->f.loop);
        send_hb(m);
    } else if (strcmp(ev->opcode, "AUTH_DENIED") == 0) {
        m->fl->denied++;
        fprintf(stderr, "%s denied: %s %s\n", m->id, ev->nfields > 1 ? ev->fields[1].data : "",
                ev->nfields > 2 ? ev->fields[2].data : "");
    }
}

static void m_close(evc_link *link, const char *reason, void *arg)
{
    (void)link;
    fmon *m = arg;
    if (m->fl->done)
        return;
    m->fl->closed++;
    fprintf(stderr, "%s: link closed: %s\n", m->id, reason ? reason : "");
}

/* Every TICK_MS: the loop's longest stall, Central's refresh, 1 Hz HBs and
 * every CP's state (a CP that was ACTIVATED and is not is a false
 * transition: nothing here stops or breaks a CP). */
static void tick(evc_timer *t, void *arg)
{
    (void)t;
    flood *fl = arg;
    uint64_t now = evc_loop_now_ms(fl->f.loop);
    if (fl->last_tick_ms && now - fl->last_tick_ms > fl->max_gap_ms)
        fl->max_gap_ms = now - fl->last_tick_ms;
    fl->last_tick_ms = now;
    fl->ticks++;
    if (fl->ticks % REFRESH_EVERY == 0)
        central_cps_refresh_due(&fl->c);
    bool hb = fl->ticks % HB_EVERY == 0;
    int active = 0;
    for (int i = 0; i < fl->n; i++) {
        fmon *m = &fl->m[i];
        if (hb && m->authed)
            send_hb(m);
        bool is = m->cp->state == CENTRAL_CP_ACTIVATED;
        if (m->was_active && !is) {
            fl->false_transitions++;
            fprintf(stderr, "%s: ACTIVATED -> %s\n", m->id, central_cp_state_name(m->cp->state));
        }
        m->was_active = is;
        active += is;
    }
    fl->active = active;
    if (active == fl->n && !fl->all_active_ms)
        fl->all_active_ms = now;
}

static bool all_active(void *arg) { return ((flood *)arg)->all_active_ms != 0; }
static bool never(void *arg) { (void)arg; return false; }

/* n CPs in the store: nine in ten with a generated secret (fast verifier),
 * one in ten with a typed secret under argon2id (MIN cost: a test). */
static void add_cps(flood *fl)
{
    evc_error err = {0};
    cr_assert_eq(evc_store_begin(fl->f.store, &err), EVC_OK, "%s", err.msg);
    for (int i = 0; i < fl->n; i++) {
        fmon *m = &fl->m[i];
        m->fl = fl;
        snprintf(m->id, sizeof m->id, "FL_%05d", i);
        if (i % 10 == 9) {
            snprintf(m->secret, sizeof m->secret, "typed-secret-%d", i);
        } else {
            uint8_t b[32];
            evc_proof_random(b, sizeof b);
            evc_hex_encode(b, sizeof b, m->secret);
        }
        evc_charging_point row = {.price_cents_per_kwh = 30, .max_w = 22000,
                                  .admin_state = EVC_CP_IN_SERVICE};
        snprintf(row.id, sizeof row.id, "%s", m->id);
        snprintf(row.location, sizeof row.location, "Flood street %d", i);
        cr_assert_eq(evc_proof_cp_hash(m->secret, EVC_PASSWORD_COST_MIN, row.secret_hash, &err),
                     EVC_OK, "%s", err.msg);
        cr_assert_eq(strncmp(row.secret_hash, i % 10 == 9 ? "$argon2id$" : "$evc-cpk$", 9), 0);
        cr_assert_eq(evc_store_cp_insert(fl->f.store, &row, &err), EVC_OK, "%s", err.msg);
    }
    cr_assert_eq(evc_store_commit(fl->f.store, &err), EVC_OK, "%s", err.msg);
}

Test(cpauth_flood, every_cp_reconnecting_at_once_is_activated_without_a_false_transition,
     .timeout = 300)
{
    flood *fl = calloc(1, sizeof *fl);
    cr_assert_not_null(fl);
    fl->n = flood_n();
    fl->m = calloc((size_t)fl->n, sizeof *fl->m);
    cr_assert_not_null(fl->m);
    fx_store_open(&fl->f);
    add_cps(fl);

    /* The restarted Central: model loaded from the store, links listening. */
    central *c = &fl->c;
    c->loop = fl->f.loop;
    c->store = fl->f.store;
    c->heartbeat_timeout_ms = 3000; /* the default of heartbeat_timeout_ms */
    c->registration_open = false;
    c->password_cost = EVC_PASSWORD_COST_INTERACTIVE;
    c->monitor_max_links = fl->n + 64; /* central.monitor_max_links, sized for the city */
    evc_error err = {0};
    cr_assert_eq(central_cps_load(c, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(central_links_start(c, &err), EVC_OK, "%s", err.msg);
    for (int i = 0; i < fl->n; i++)
        cr_assert_not_null(fl->m[i].cp = central_cp_find(c, fl->m[i].id));

    evc_timer *t = NULL;
    cr_assert_eq(evc_loop_timer(fl->f.loop, TICK_MS, TICK_MS, tick, fl, &t, &err), EVC_OK);
    fl->t0_ms = evc_loop_now_ms(fl->f.loop);
    evc_link_handlers h = {.on_open = m_open, .on_frame = m_frame, .on_close = m_close};
    evc_link_client_opts o = {.backoff_min_ms = 100, .backoff_max_ms = 1000};
    for (int i = 0; i < fl->n; i++)
        cr_assert_eq(evc_link_connect(fl->f.loop, "127.0.0.1", evc_link_server_port(c->server),
                                      &o, &h, &fl->m[i], &fl->m[i].client, &err),
                     EVC_OK, "%s", err.msg);
    int rc = evc_loop_run_until(fl->f.loop, all_active, fl, 120000);
    cr_assert_eq(rc, EVC_OK, "only %d of %d CPs ACTIVATED (%d authenticated, %d denied)",
                 fl->active, fl->n, fl->authed, fl->denied);
    uint64_t to_all = fl->all_active_ms - fl->t0_ms, gap_ramp = fl->max_gap_ms;
    evc_loop_run_until(fl->f.loop, never, NULL, STEADY_MS); /* heartbeats go on */
    /* Connected: every TCP connection accepted (a listen backlog smaller
     * than the burst shows here as SYN retries of 1 s and more). */
    fprintf(stderr,
            "cpauth flood: %d CPs (%d fast, %d argon2id MIN): all connected after %llu ms, "
            "challenged after %llu ms, authenticated after %llu ms, ACTIVATED after %llu ms; "
            "longest loop stall %llu ms during the reconnection, %llu ms over it and %d ms "
            "of steady heartbeats; %d false transitions\n",
            fl->n, fl->n - fl->n / 10, fl->n / 10,
            (unsigned long long)(fl->all_open_ms - fl->t0_ms),
            (unsigned long long)(fl->all_challenged_ms - fl->t0_ms),
            (unsigned long long)(fl->all_authed_ms - fl->t0_ms), (unsigned long long)to_all,
            (unsigned long long)gap_ramp, (unsigned long long)fl->max_gap_ms, STEADY_MS,
            fl->false_transitions);
    cr_expect_eq(fl->authed, fl->n, "every CP authenticated");
    cr_expect_eq(fl->denied, 0, "no CP denied");
    cr_expect_eq(fl->closed, 0, "no link closed");
    cr_expect_eq(fl->false_transitions, 0, "no CP left ACTIVATED");
    cr_expect_eq(fl->active, fl->n, "every CP still ACTIVATED after %d ms", STEADY_MS);

    evc_timer_close(t);
    fl->done = true;
    for (int i = 0; i < fl->n; i++)
        evc_link_client_close(fl->m[i].client);
    central_links_stop(c);
    central_tables_free(c);
    fx_store_close(&fl->f);
    free(fl->m);
    free(fl);
}
