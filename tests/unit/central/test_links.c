/* test_links.c: Central's monitor side over real framed TCP links on
 * loopback: registration policy, secrets, heartbeats and engine health, a
 * second connection replacing the first. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central_cpauth.h"
#include "central_int.h"
#include "fixture.h"

typedef struct mon {
    evc_link_client *client;
    int opened;
    int closed;
    char last_op[32];
    char fields[4][128];
    int nframes;
    int challenges;
    char challenge[4][128]; /* the last CHALLENGE's fields */
    const char *auth[4]; /* cp_id, secret, location, price: AUTH sent on open */
    bool mute;           /* answer no CHALLENGE */
    bool replay;         /* send the previous link's PROOF again */
    uint8_t nonce_m[EVC_PROOF_NONCE_BYTES];
    uint8_t key[EVC_PROOF_KEY_BYTES];
    char proof[EVC_PROOF_HEX_SIZE]; /* the last PROOF sent */
} mon;

typedef struct lx {
    fx_store f;
    central c;
} lx;

static void lx_open(lx *x, bool open_registration)
{
    memset(x, 0, sizeof *x);
    fx_store_open(&x->f);
    central *c = &x->c;
    c->loop = x->f.loop;
    c->store = x->f.store;
    c->heartbeat_timeout_ms = 60000;
    c->registration_open = open_registration;
    c->password_cost = EVC_PASSWORD_COST_MIN;
    evc_error err = {0};
    cr_assert_eq(central_cps_load(c, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(central_links_start(c, &err), EVC_OK, "%s", err.msg);
}

static void lx_close(lx *x)
{
    central_links_stop(&x->c);
    central_tables_free(&x->c);
    fx_store_close(&x->f);
}

static void m_open(evc_link *link, void *arg)
{
    mon *m = arg;
    m->opened++;
    if (!m->auth[0])
        return;
    char nonce[40];
    evc_proof_random(m->nonce_m, sizeof m->nonce_m);
    evc_hex_encode(m->nonce_m, sizeof m->nonce_m, nonce);
    evc_frame_field f[4] = {EVC_FRAME_STR(m->auth[0]), EVC_FRAME_STR(m->auth[2]),
                            EVC_FRAME_STR(m->auth[3]), EVC_FRAME_STR(nonce)};
    cr_assert_eq(evc_link_send(link, "AUTH", f, 4, NULL), EVC_OK);
}

/* What a monitor does with a CHALLENGE (the derivation on the loop: MIN
 * cost in these tests). */
static void m_challenge(mon *m, evc_link *link, const evc_frame_event *ev)
{
    m->challenges++;
    for (size_t i = 0; i < 4; i++)
        snprintf(m->challenge[i], sizeof m->challenge[i], "%s",
                 i < ev->nfields ? ev->fields[i].data : "");
    if (m->mute)
        return;
    uint8_t nonce_c[EVC_PROOF_NONCE_BYTES];
    cr_assert(evc_hex_decode(m->challenge[3], nonce_c, sizeof nonce_c));
    evc_error err = {0};
    if (strcmp(m->challenge[1], "REGISTER") == 0) {
        evc_password_cost cost;
        char hash[EVC_PASSWORD_HASH_MAX];
        evc_proof_params p;
        cr_assert_eq(evc_password_cost_parse(m->challenge[2], &cost, &err), EVC_OK, "%s", err.msg);
        cr_assert_eq(evc_password_hash(m->auth[1], cost, hash, &err), EVC_OK);
        cr_assert_eq(evc_proof_split(hash, &p, m->key, &err), EVC_OK);
        evc_frame_field f[2] = {EVC_FRAME_STR(m->auth[0]), EVC_FRAME_STR(hash)};
        cr_assert_eq(evc_link_send(link, "REGISTER", f, 2, NULL), EVC_OK);
        return;
    }
    cr_assert_str_eq(m->challenge[1], "PROVE");
    evc_proof_params p;
    cr_assert_eq(evc_proof_params_parse(m->challenge[2], &p, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_proof_derive(m->auth[1], &p, m->key, &err), EVC_OK, "%s", err.msg);
    if (!m->replay)
        central_cpauth_mac(m->key, CENTRAL_CPAUTH_LABEL, m->auth[0], m->nonce_m, nonce_c,
                           m->proof);
    evc_frame_field f[2] = {EVC_FRAME_STR(m->auth[0]), EVC_FRAME_STR(m->proof)};
    cr_assert_eq(evc_link_send(link, "PROOF", f, 2, NULL), EVC_OK);
}

static void m_frame(evc_link *link, const evc_frame_event *ev, void *arg)
{
    mon *m = arg;
    if (strcmp(ev->opcode, "CHALLENGE") == 0) {
        m_challenge(m, link, ev);
        return;
    }
    snprintf(m->last_op, sizeof m->last_op, "%s", ev->opcode);
    for (size_t i = 0; i < 4; i++)
        snprintf(m->fields[i], sizeof m->fields[i], "%s", i < ev->nfields ? ev->fields[i].data : "");
    m->nframes++;
}

static void m_close(evc_link *link, const char *reason, void *arg) { ((mon *)arg)->closed++; }

static void connect_mon(lx *x, mon *m, const char *cp, const char *secret)
{
    memset(m, 0, sizeof *m);
    m->auth[0] = cp;
    m->auth[1] = secret;
    m->auth[2] = "Test street 1";
    m->auth[3] = "41";
    evc_link_handlers h = {.on_open = m_open, .on_frame = m_frame, .on_close = m_close};
    evc_link_client_opts o = {.backoff_min_ms = 50, .backoff_max_ms = 100};
    cr_assert_eq(evc_link_connect(x->f.loop, "127.0.0.1", evc_link_server_port(x->c.server), &o,
                                  &h, m, &m->client, NULL), EVC_OK);
}

static bool closed_once(void *arg) { return ((mon *)arg)->closed > 0; }
static bool got_frame(void *arg) { return ((mon *)arg)->nframes > 0; }
static bool got_challenge(void *arg) { return ((mon *)arg)->challenges > 0; }

static void await_reply(lx *x, mon *m, const char *op)
{
    cr_assert_eq(evc_loop_run_until(x->f.loop, got_frame, m, 5000), EVC_OK, "no reply");
    cr_assert_str_eq(m->last_op, op, "%s %s %s", m->last_op, m->fields[1], m->fields[2]);
}

static void send_hb(mon *m, const char *cp, const char *health)
{
    evc_link *l = evc_link_client_link(m->client);
    cr_assert_not_null(l);
    evc_frame_field f[2] = {EVC_FRAME_STR(cp), EVC_FRAME_STR(health)};
    m->nframes = 0;
    cr_assert_eq(evc_link_send(l, "HB", f, 2, NULL), EVC_OK);
}

typedef struct state_is {
    lx *x;
    const char *cp;
    central_cp_state st;
} state_is;

static bool cp_in_state(void *arg)
{
    state_is *s = arg;
    central_cp *cp = central_cp_find(&s->x->c, s->cp);
    return cp && cp->state == s->st;
}

static void await_state(lx *x, const char *cp, central_cp_state st)
{
    state_is s = {x, cp, st};
    cr_assert_eq(evc_loop_run_until(x->f.loop, cp_in_state, &s, 5000), EVC_OK, "%s never %s", cp,
                 central_cp_state_name(st));
}

Test(links, a_known_cp_authenticates_and_follows_its_engine)
{
    lx x;
    lx_open(&x, false);
    mon m;
    connect_mon(&x, &m, "CP_001", "secret-CP_001");
    await_reply(&x, &m, "AUTH_OK");
    cr_assert_str_eq(m.fields[0], "CP_001");
    cr_assert_str_eq(m.fields[1], "IN_SERVICE");
    cr_assert_eq(central_cp_find(&x.c, "CP_001")->state, CENTRAL_CP_DISCONNECTED,
                 "DISCONNECTED until the first heartbeat");
    send_hb(&m, "CP_001", "OK");
    await_state(&x, "CP_001", CENTRAL_CP_ACTIVATED);
    send_hb(&m, "CP_001", "KO");
    await_state(&x, "CP_001", CENTRAL_CP_BROKEN);
    send_hb(&m, "CP_001", "UNREACHABLE");
    send_hb(&m, "CP_001", "OK");
    await_state(&x, "CP_001", CENTRAL_CP_ACTIVATED);
    send_hb(&m, "CP_001", "MAYBE"); /* malformed: ignored, nothing changes */
    send_hb(&m, "CP_002", "KO");    /* another CP's id on this link: ignored */
    send_hb(&m, "CP_001", "OK");
    await_state(&x, "CP_001", CENTRAL_CP_ACTIVATED);
    cr_assert_eq(central_cp_find(&x.c, "CP_002")->state, CENTRAL_CP_DISCONNECTED);
    evc_link_client_close(m.client);
    lx_close(&x);
}

Test(links, heartbeat_timeout_disconnects)
{
    lx x;
    lx_open(&x, false);
    x.c.heartbeat_timeout_ms = 200;
    mon m;
    connect_mon(&x, &m, "CP_002", "secret-CP_002");
    await_reply(&x, &m, "AUTH_OK");
    send_hb(&m, "CP_002", "OK");
    await_state(&x, "CP_002", CENTRAL_CP_ACTIVATED);
    /* No more heartbeats: the periodic refresh (central.c's tick) sees it. */
    uint64_t t0 = evc_loop_now_ms(x.f.loop);
    state_is s = {&x, "CP_002", CENTRAL_CP_DISCONNECTED};
    while (!cp_in_state(&s) && evc_loop_now_ms(x.f.loop) - t0 < 5000) {
        evc_loop_run_until(x.f.loop, cp_in_state, &s, 50);
        central_cps_refresh_due(&x.c);
    }
    cr_assert(cp_in_state(&s));
    cr_assert_geq(evc_loop_now_ms(x.f.loop) - t0, 150, "not before the timeout");
    evc_link_client_close(m.client);
    lx_close(&x);
}

Test(links, closed_registration_denies_unknown_cps_and_wrong_secrets)
{
    lx x;
    lx_open(&x, false);
    mon m;
    connect_mon(&x, &m, "CP_777", "whatever");
    await_reply(&x, &m, "AUTH_DENIED");
    /* The same answer as a wrong secret: an unknown id is not told apart. */
    cr_assert_str_eq(m.fields[1], "BAD_SECRET");
    cr_assert_eq(m.challenges, 1, "an unknown CP is challenged like a known one");
    evc_link_client_close(m.client);
    connect_mon(&x, &m, "CP_001", "secret-CP_002");
    await_reply(&x, &m, "AUTH_DENIED");
    cr_assert_str_eq(m.fields[1], "BAD_SECRET");
    /* Still denied for a heartbeat: no AUTH_OK was given on this link. */
    send_hb(&m, "CP_001", "OK");
    await_reply(&x, &m, "AUTH_DENIED");
    cr_assert_str_eq(m.fields[1], "BAD_REQUEST");
    cr_assert_eq(central_cp_find(&x.c, "CP_001")->state, CENTRAL_CP_DISCONNECTED);
    evc_link_client_close(m.client);
    lx_close(&x);
}

Test(links, open_registration_stores_the_cp_with_a_hashed_secret)
{
    lx x;
    lx_open(&x, true);
    mon m;
    connect_mon(&x, &m, "CP_NEW", "my-secret");
    await_reply(&x, &m, "AUTH_OK");
    evc_charging_point row;
    cr_assert_eq(evc_store_cp_get(x.f.store, "CP_NEW", &row, NULL), EVC_OK);
    cr_assert_str_eq(row.location, "Test street 1");
    cr_assert_eq(row.price_cents_per_kwh, 41);
    cr_assert_eq(strncmp(row.secret_hash, "$argon2id$", 10), 0, "hashed: %s", row.secret_hash);
    cr_assert_null(strstr(row.secret_hash, "my-secret"));
    cr_assert(evc_password_verify(row.secret_hash, "my-secret"));
    cr_assert_str_eq(m.challenge[1], "REGISTER");
    cr_assert_str_eq(m.challenge[2], "min", "hashed at Central's cost");
    evc_link_client_close(m.client);
    /* Registered now: the wrong secret is denied, the right one accepted. */
    connect_mon(&x, &m, "CP_NEW", "other");
    await_reply(&x, &m, "AUTH_DENIED");
    cr_assert_str_eq(m.fields[1], "BAD_SECRET");
    evc_link_client_close(m.client);
    mon bad;
    connect_mon(&x, &bad, "CP_BAD", "s");
    bad.auth[3] = "12abc"; /* read when the link opens, in the loop */
    await_reply(&x, &bad, "AUTH_DENIED");
    cr_assert_str_eq(bad.fields[1], "BAD_REQUEST");
    cr_assert_eq(evc_store_cp_get(x.f.store, "CP_BAD", &row, NULL), EVC_ENOTFOUND);
    evc_link_client_close(bad.client);
    connect_mon(&x, &bad, "CP BAD", "s"); /* not an id */
    await_reply(&x, &bad, "AUTH_DENIED");
    cr_assert_str_eq(bad.fields[1], "BAD_REQUEST");
    evc_link_client_close(bad.client);
    lx_close(&x);
}


Test(links, a_second_connection_replaces_the_first)
{
    lx x;
    lx_open(&x, false);
    mon a, b;
    connect_mon(&x, &a, "CP_003", "secret-CP_003");
    await_reply(&x, &a, "AUTH_OK");
    send_hb(&a, "CP_003", "OK");
    await_state(&x, "CP_003", CENTRAL_CP_ACTIVATED);
    connect_mon(&x, &b, "CP_003", "secret-CP_003");
    await_reply(&x, &b, "AUTH_OK");
    cr_assert_eq(evc_loop_run_until(x.f.loop, closed_once, &a, 5000), EVC_OK,
                 "the old link is closed by Central");
    evc_link_client_close(a.client); /* stop its reconnecting */
    send_hb(&b, "CP_003", "KO");
    await_state(&x, "CP_003", CENTRAL_CP_BROKEN);
    cr_assert_not_null(central_cp_find(&x.c, "CP_003")->link, "the new link is the CP's");
    evc_link_client_close(b.client);
    lx_close(&x);
}

static bool cp_disconnected(void *arg)
{
    return central_cp_find(&((lx *)arg)->c, "CP_004")->state == CENTRAL_CP_DISCONNECTED;
}

/* Issue 9 item 5: a killed monitor's closed connection is news at once, not
 * after heartbeat_timeout_ms (60 s here; nothing runs the periodic refresh). */
Test(links, a_closed_monitor_link_disconnects_at_once)
{
    lx x;
    lx_open(&x, false);
    mon m;
    connect_mon(&x, &m, "CP_004", "secret-CP_004");
    await_reply(&x, &m, "AUTH_OK");
    send_hb(&m, "CP_004", "OK");
    await_state(&x, "CP_004", CENTRAL_CP_ACTIVATED);
    evc_link_client_close(m.client);
    cr_assert_eq(evc_loop_run_until(x.f.loop, cp_disconnected, &x, 5000), EVC_OK,
                 "still %s after the link closed",
                 central_cp_state_name(central_cp_find(&x.c, "CP_004")->state));
    cr_assert_null(central_cp_find(&x.c, "CP_004")->link);
    lx_close(&x);
}

/* ---- issue 11: the secret never crosses; proofs are single use ---- */

Test(links, a_replayed_proof_is_denied)
{
    lx x;
    lx_open(&x, false);
    mon m;
    connect_mon(&x, &m, "CP_001", "secret-CP_001");
    await_reply(&x, &m, "AUTH_OK");
    char proof[EVC_PROOF_HEX_SIZE];
    snprintf(proof, sizeof proof, "%s", m.proof);
    evc_link_client_close(m.client);
    /* An eavesdropper replays the PROOF it saw on a new connection: the
     * CHALLENGE's nonce differs, so does the MAC it needs. */
    mon r;
    connect_mon(&x, &r, "CP_001", "not-known-to-the-attacker");
    r.replay = true;
    snprintf(r.proof, sizeof r.proof, "%s", proof);
    await_reply(&x, &r, "AUTH_DENIED");
    cr_assert_str_eq(r.fields[1], "BAD_SECRET");
    cr_assert_null(central_cp_find(&x.c, "CP_001")->link, "the CP has no monitor link");
    evc_link_client_close(r.client);
    lx_close(&x);
}

static void send_proof(mon *m, const char *cp, const char *mac)
{
    evc_link *l = evc_link_client_link(m->client);
    cr_assert_not_null(l);
    evc_frame_field f[2] = {EVC_FRAME_STR(cp), EVC_FRAME_STR(mac)};
    m->nframes = 0;
    cr_assert_eq(evc_link_send(l, "PROOF", f, 2, NULL), EVC_OK);
}

Test(links, a_challenge_is_answered_once_and_for_its_own_cp)
{
    lx x;
    lx_open(&x, false);
    mon m;
    connect_mon(&x, &m, "CP_001", "secret-CP_001");
    m.mute = true;
    cr_assert_eq(evc_loop_run_until(x.f.loop, got_challenge, &m, 5000), EVC_OK);
    /* A PROOF naming another CP than the AUTH did. */
    send_proof(&m, "CP_002", "00");
    await_reply(&x, &m, "AUTH_DENIED");
    cr_assert_str_eq(m.fields[1], "BAD_REQUEST");
    /* The right MAC now is still refused: the challenge was used. */
    uint8_t nonce_c[EVC_PROOF_NONCE_BYTES];
    cr_assert(evc_hex_decode(m.challenge[3], nonce_c, sizeof nonce_c));
    evc_proof_params p;
    cr_assert_eq(evc_proof_params_parse(m.challenge[2], &p, NULL), EVC_OK);
    cr_assert_eq(evc_proof_derive("secret-CP_001", &p, m.key, NULL), EVC_OK);
    char mac[EVC_PROOF_HEX_SIZE];
    central_cpauth_mac(m.key, CENTRAL_CPAUTH_LABEL, "CP_001", m.nonce_m, nonce_c, mac);
    send_proof(&m, "CP_001", "0123");
    await_reply(&x, &m, "AUTH_DENIED");
    cr_assert_str_eq(m.fields[1], "BAD_SECRET", "a wrong MAC");
    send_proof(&m, "CP_001", mac);
    await_reply(&x, &m, "AUTH_DENIED");
    cr_assert_str_eq(m.fields[1], "BAD_REQUEST", "nonces are single use");
    evc_link_client_close(m.client);
    lx_close(&x);
}

Test(links, an_unknown_cp_sees_a_challenge_like_a_known_one)
{
    lx x;
    lx_open(&x, false);
    mon a, b, u1, u2;
    connect_mon(&x, &a, "CP_001", "x");
    a.mute = true;
    connect_mon(&x, &u1, "CP_404", "x");
    u1.mute = true;
    cr_assert_eq(evc_loop_run_until(x.f.loop, got_challenge, &a, 5000), EVC_OK);
    cr_assert_eq(evc_loop_run_until(x.f.loop, got_challenge, &u1, 5000), EVC_OK);
    evc_proof_params pa, pu;
    cr_assert_eq(evc_proof_params_parse(a.challenge[2], &pa, NULL), EVC_OK);
    cr_assert_eq(evc_proof_params_parse(u1.challenge[2], &pu, NULL), EVC_OK);
    cr_assert_str_eq(u1.challenge[1], a.challenge[1], "both PROVE");
    cr_assert_eq(pu.opslimit, pa.opslimit, "same cost");
    cr_assert_eq(pu.memlimit, pa.memlimit);
    cr_assert_eq(strlen(u1.challenge[2]), strlen(a.challenge[2]));
    /* Asked again, the unknown id shows the same salt, as a real CP does. */
    connect_mon(&x, &b, "CP_001", "x");
    b.mute = true;
    connect_mon(&x, &u2, "CP_404", "x");
    u2.mute = true;
    cr_assert_eq(evc_loop_run_until(x.f.loop, got_challenge, &b, 5000), EVC_OK);
    cr_assert_eq(evc_loop_run_until(x.f.loop, got_challenge, &u2, 5000), EVC_OK);
    cr_assert_str_eq(b.challenge[2], a.challenge[2]);
    cr_assert_str_eq(u2.challenge[2], u1.challenge[2]);
    cr_assert_str_neq(u1.challenge[3], u2.challenge[3], "fresh nonces");
    evc_link_client_close(a.client);
    evc_link_client_close(b.client);
    evc_link_client_close(u1.client);
    evc_link_client_close(u2.client);
    lx_close(&x);
}

Test(links, a_challenge_left_unanswered_closes_the_link, .timeout = 30)
{
    lx x;
    lx_open(&x, false);
    mon m;
    connect_mon(&x, &m, "CP_001", "secret-CP_001");
    m.mute = true;
    cr_assert_eq(evc_loop_run_until(x.f.loop, got_challenge, &m, 5000), EVC_OK);
    uint64_t t0 = evc_loop_now_ms(x.f.loop);
    cr_assert_eq(evc_loop_run_until(x.f.loop, closed_once, &m, CENTRAL_CPAUTH_ANSWER_MS + 3000),
                 EVC_OK, "Central closes a link that does not answer");
    cr_assert_geq(evc_loop_now_ms(x.f.loop) - t0, CENTRAL_CPAUTH_ANSWER_MS - 500);
    evc_link_client_close(m.client);
    lx_close(&x);
}

/* ---- issue 11 finding 6: a flood of bad AUTHs must not freeze Central ---- */

typedef struct flood {
    lx *x;
    mon *good;
    uint64_t last_tick_ms, max_gap_ms, max_hb_age_ms;
    int raw;            /* the attacker's socket */
    char tail[16];      /* last bytes read, for a reply split across reads */
    int denied;
} flood;

/* Every 50 ms: the longest gap between two ticks is the longest time the
 * loop was stolen; the good monitor heartbeats from here, and the age of
 * Central's last HB of CP_001 is what its DISCONNECTED timeout looks at. */
static void flood_tick(evc_timer *t, void *arg)
{
    flood *f = arg;
    (void)t;
    uint64_t now = evc_loop_now_ms(f->x->f.loop);
    if (f->last_tick_ms && now - f->last_tick_ms > f->max_gap_ms)
        f->max_gap_ms = now - f->last_tick_ms;
    f->last_tick_ms = now;
    evc_link *l = evc_link_client_link(f->good->client);
    if (l && evc_link_unacked(l) < 8) {
        evc_frame_field hb[2] = {EVC_FRAME_STR("CP_001"), EVC_FRAME_STR("OK")};
        evc_link_send(l, "HB", hb, 2, NULL);
    }
    central_cp *cp = central_cp_find(&f->x->c, "CP_001");
    if (cp && now - cp->last_hb_ms > f->max_hb_age_ms)
        f->max_hb_age_ms = now - cp->last_hb_ms;
}

/* Counts AUTH_DENIED replies on the attacker's socket. */
static bool denied_40(void *arg)
{
    flood *f = arg;
    char buf[4096 + sizeof f->tail];
    size_t keep = strlen(f->tail);
    memcpy(buf, f->tail, keep);
    ssize_t n = recv(f->raw, buf + keep, 4096, MSG_DONTWAIT);
    if (n > 0) {
        size_t len = keep + (size_t)n;
        for (size_t i = 0; i + 11 <= len; i++)
            if (memcmp(buf + i, "AUTH_DENIED", 11) == 0 && i + 11 > keep)
                f->denied++;
        size_t t = len < 10 ? len : 10;
        memcpy(f->tail, buf + len - t, t);
        f->tail[t] = 0;
        for (size_t i = 0; i < t; i++)
            if (!f->tail[i])
                f->tail[i] = ' ';
    }
    return f->denied >= 40;
}

static bool never(void *arg) { (void)arg; return false; }

Test(links, forty_bad_auths_in_one_write_do_not_stall_heartbeats, .timeout = 120)
{
    lx x;
    lx_open(&x, false);
    /* CP_002 gets a production-cost hash: each check burns ~120 ms or more. */
    char hash[EVC_PASSWORD_HASH_MAX];
    evc_error err = {0};
    cr_assert_eq(evc_password_hash("the-real-secret", EVC_PASSWORD_COST_INTERACTIVE, hash, &err),
                 EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_store_cp_set_secret(x.f.store, "CP_002", hash, &err), EVC_OK, "%s",
                 err.msg);
    mon good;
    connect_mon(&x, &good, "CP_001", "secret-CP_001");
    await_reply(&x, &good, "AUTH_OK");
    send_hb(&good, "CP_001", "OK");
    await_state(&x, "CP_001", CENTRAL_CP_ACTIVATED);

    /* The attacker: 40 AUTH + wrong PROOF pairs in one write. Each PROOF
     * is checked against its CHALLENGE with one HMAC: no argon2 on Central. */
    char burst[16384];
    size_t blen = 0;
    for (int i = 0; i < 40; i++) {
        char *frame = NULL, mac[EVC_PROOF_HEX_SIZE];
        size_t flen = 0;
        uint8_t junk[EVC_PROOF_KEY_BYTES];
        evc_proof_random(junk, sizeof junk);
        evc_hex_encode(junk, sizeof junk, mac);
        evc_frame_field a[4] = {EVC_FRAME_STR("CP_002"), EVC_FRAME_STR("x"), EVC_FRAME_STR("1"),
                                EVC_FRAME_STR("00112233445566778899aabbccddeeff")};
        evc_frame_field pr[2] = {EVC_FRAME_STR("CP_002"), EVC_FRAME_STR(mac)};
        cr_assert_eq(evc_frame_encode_alloc("AUTH", a, 4, &frame, &flen, &err), EVC_OK);
        cr_assert(blen + flen <= sizeof burst);
        memcpy(burst + blen, frame, flen);
        blen += flen;
        free(frame);
        cr_assert_eq(evc_frame_encode_alloc("PROOF", pr, 2, &frame, &flen, &err), EVC_OK);
        cr_assert(blen + flen <= sizeof burst);
        memcpy(burst + blen, frame, flen);
        blen += flen;
        free(frame);
    }
    flood f = {.x = &x, .good = &good};
    f.raw = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(evc_link_server_port(x.c.server))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(connect(f.raw, (struct sockaddr *)&sa, sizeof sa), 0);
    evc_timer *t = NULL;
    cr_assert_eq(evc_loop_timer(x.f.loop, 50, 50, flood_tick, &f, &t, &err), EVC_OK);
    evc_loop_run_until(x.f.loop, never, NULL, 300); /* accepted, heartbeats flowing */
    cr_assert_eq(send(f.raw, burst, blen, 0), (ssize_t)blen);
    cr_assert_eq(evc_loop_run_until(x.f.loop, denied_40, &f, 60000), EVC_OK,
                 "only %d of 40 AUTHs answered", f.denied);
    evc_loop_run_until(x.f.loop, never, NULL, 500); /* heartbeats go on after it */
    evc_timer_close(t);
    close(f.raw);
    fprintf(stderr, "flood of 40 AUTH+PROOF: longest loop gap %llu ms, oldest HB %llu ms\n",
            (unsigned long long)f.max_gap_ms, (unsigned long long)f.max_hb_age_ms);
    /* Before the pool, the 40 checks ran back to back on the loop: 5 s and
     * more, and CP_001's last HB aged past any heartbeat timeout. */
    cr_expect(f.max_gap_ms < 1500, "the loop stalled %llu ms during the flood",
              (unsigned long long)f.max_gap_ms);
    cr_expect(f.max_hb_age_ms < 1500, "Central heard no HB of CP_001 for %llu ms",
              (unsigned long long)f.max_hb_age_ms);
    evc_link_client_close(good.client);
    lx_close(&x);
}
