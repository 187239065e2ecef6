/* test_cplink.c: evc/cplink.h against a fake Central in the same process: a
 * real evc_link server on 127.0.0.1 speaking Central's side of M1 from
 * docs/PROTOCOL.md (CHALLENGE with the params of a stored string, PROOF
 * checked against its key, AUTH_OK with Central's MAC, AUTH_DENIED
 * BAD_SECRET, HBs counted). Everything is waited for by counts with a
 * deadline, never by time. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "evc/cplink.h"
#include "evc/link.h"

#define CP "CP_T01"
#define SECRET "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define OTHER "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* ---- the fake Central ----------------------------------------------------- */
typedef struct central {
    evc_link_server *srv;
    char stored[EVC_PASSWORD_HASH_MAX];
    evc_proof_params params;
    uint8_t key[EVC_PROOF_KEY_BYTES];
    uint8_t nonce_m[EVC_PROOF_NONCE_BYTES], nonce_c[EVC_PROOF_NONCE_BYTES];
    int auths, proofs, good_proofs, hbs, opens, closes;
    char last_health[16];
    evc_link *link;
    bool bad_ok_mac;   /* answer a good PROOF with an AUTH_OK that has a wrong MAC */
    bool close_after_hb; /* close the link at the first HB (then never again) */
} central;

static void send_str(evc_link *l, const char *op, const char **f, size_t n)
{
    evc_frame_field ff[4];
    for (size_t i = 0; i < n; i++)
        ff[i] = EVC_FRAME_STR(f[i]);
    cr_assert_eq(evc_link_send(l, op, ff, n, NULL), EVC_OK);
}

static void c_open(evc_link *l, void *arg)
{
    central *c = arg;
    c->opens++;
    c->link = l;
}

static void c_close(evc_link *l, const char *reason, void *arg)
{
    central *c = arg;
    c->closes++;
    if (c->link == l)
        c->link = NULL;
}

static void c_frame(evc_link *l, const evc_frame_event *ev, void *arg)
{
    central *c = arg;
    if (strcmp(ev->opcode, "AUTH") == 0) {
        c->auths++;
        cr_assert_eq(ev->nfields, 4);
        cr_expect_str_eq(ev->fields[0].data, CP);
        cr_expect_str_eq(ev->fields[1].data, "test bench");
        cr_expect_str_eq(ev->fields[2].data, "42");
        cr_assert(evc_hex_decode(ev->fields[3].data, c->nonce_m, sizeof c->nonce_m));
        evc_proof_random(c->nonce_c, sizeof c->nonce_c);
        char params[128], nonce[2 * EVC_PROOF_NONCE_BYTES + 1];
        evc_proof_params_format(&c->params, params, sizeof params);
        evc_hex_encode(c->nonce_c, sizeof c->nonce_c, nonce);
        send_str(l, "CHALLENGE", (const char *[]){CP, "PROVE", params, nonce}, 4);
    } else if (strcmp(ev->opcode, "PROOF") == 0) {
        c->proofs++;
        char want[EVC_PROOF_HEX_SIZE];
        evc_proof_nonce_mac(c->key, EVC_CPLINK_AUTH_LABEL, CP, c->nonce_m, c->nonce_c, want);
        if (ev->nfields != 2 || strcmp(ev->fields[1].data, want) != 0) {
            send_str(l, "AUTH_DENIED", (const char *[]){CP, "BAD_SECRET", "wrong\x1b secret"}, 3);
            return;
        }
        c->good_proofs++;
        char mac[EVC_PROOF_HEX_SIZE];
        evc_proof_nonce_mac(c->key, EVC_CPLINK_AUTH_OK_LABEL, CP, c->nonce_m, c->nonce_c, mac);
        if (c->bad_ok_mac)
            mac[0] = mac[0] == '0' ? '1' : '0';
        send_str(l, "AUTH_OK", (const char *[]){CP, "STOPPED", mac}, 3);
    } else if (strcmp(ev->opcode, "HB") == 0) {
        c->hbs++;
        snprintf(c->last_health, sizeof c->last_health, "%s", ev->fields[1].data);
        if (c->close_after_hb) {
            c->close_after_hb = false;
            evc_link_close(l, "test: Central closes mid-session");
        }
    }
}

static const evc_link_handlers CENTRAL = {.on_open = c_open, .on_frame = c_frame,
                                          .on_close = c_close};

/* stored: a strong secret's fast string, or argon2id at MIN cost. */
static void central_start(evc_loop *loop, central *c, bool argon)
{
    memset(c, 0, sizeof *c);
    evc_error err = {0};
    if (argon)
        cr_assert_eq(evc_password_hash("typed secret", EVC_PASSWORD_COST_MIN, c->stored, &err),
                     EVC_OK, "%s", err.msg);
    else
        cr_assert_eq(evc_proof_fast_hash(SECRET, c->stored, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_proof_split(c->stored, &c->params, c->key, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", 0, &CENTRAL, c, &c->srv, &err), EVC_OK, "%s",
                 err.msg);
}

/* ---- the client's view ---------------------------------------------------- */
typedef struct seen {
    int connected, accepted, denied, lost, failed, acks_hb, nacks;
    bool stopped, by_central, close_on_denied;
    char code[32], text[128];
    uint64_t retry[8];
    const char *health;
} seen;

static void on_event(evc_cplink *c, const evc_cplink_info *in, void *arg)
{
    seen *s = arg;
    cr_expect_str_eq(in->cp_id, CP);
    switch (in->event) {
    case EVC_CPLINK_EV_CONNECTED: s->connected++; break;
    case EVC_CPLINK_EV_ACCEPTED:
        s->accepted++;
        s->stopped = in->admin_stopped;
        break;
    case EVC_CPLINK_EV_DENIED:
        if (s->denied < 8)
            s->retry[s->denied] = in->retry_in_ms;
        s->denied++;
        s->by_central = in->by_central;
        snprintf(s->code, sizeof s->code, "%s", in->code);
        snprintf(s->text, sizeof s->text, "%s", in->text);
        if (s->close_on_denied)
            evc_cplink_close(c);
        break;
    case EVC_CPLINK_EV_LOST: s->lost++; break;
    case EVC_CPLINK_EV_CONNECT_FAILED: s->failed++; break;
    }
}

static void on_ack(evc_cplink *c, const char *op, bool nack, void *arg)
{
    seen *s = arg;
    if (nack)
        s->nacks++;
    else if (strcmp(op, "HB") == 0)
        s->acks_hb++;
}

static const char *health(evc_cplink *c, void *arg) { return ((seen *)arg)->health; }

static const evc_cplink_handlers HANDLERS = {.on_event = on_event, .on_ack = on_ack,
                                             .health = health};

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
    cr_assert_eq(evc_loop_run_until(loop, reached, &w, 10000), EVC_OK,
                 "timed out waiting for a counter to reach %d (is %d)", at_least, *value);
}

static evc_loop *loop;
static void setup(void) { cr_assert_eq(evc_loop_new(&loop, NULL), EVC_OK); }
static void teardown(void) { evc_loop_free(loop); }
TestSuite(cplink, .init = setup, .fini = teardown);

static evc_cplink *start(central *ctl, seen *s, const char *secret, uint64_t hb_ms)
{
    evc_cplink_opts o = {.struct_size = sizeof o, .cp_id = CP, .location = "test bench",
                         .price_cents_per_kwh = 42, .secret = secret, .heartbeat_ms = hb_ms,
                         .backoff_min_ms = 20, .backoff_max_ms = 40,
                         .deny_retry_min_ms = 20, .deny_retry_max_ms = 80};
    evc_cplink *c = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_cplink_start(loop, "127.0.0.1", evc_link_server_port(ctl->srv), &o,
                                  &HANDLERS, s, &c, &err),
                 EVC_OK, "%s", err.msg);
    return c;
}

Test(cplink, accepted_with_the_secret_then_heartbeats_at_the_interval)
{
    central ctl;
    central_start(loop, &ctl, false);
    seen s = {.health = "KO"};
    evc_cplink *c = start(&ctl, &s, SECRET, 20);
    wait_for(loop, &s.accepted, 1);
    cr_expect_eq(ctl.auths, 1);
    cr_expect_eq(ctl.good_proofs, 1);
    cr_expect(s.stopped, "AUTH_OK's admin_state STOPPED is reported");
    cr_expect_eq(evc_cplink_get_state(c), EVC_CPLINK_ACCEPTED);
    uint8_t k[EVC_PROOF_KEY_BYTES];
    cr_assert(evc_cplink_proof_key(c, k));
    cr_expect(evc_proof_equal(k, ctl.key), "the session's K is the stored string's HASH");
    /* One at acceptance, then one per interval: ten arrive, each ACKed. */
    wait_for(loop, &ctl.hbs, 10);
    cr_expect_str_eq(ctl.last_health, "KO", "the health callback's word is sent");
    wait_for(loop, &s.acks_hb, 10);
    cr_expect_eq(s.nacks, 0);
    cr_expect_eq(ctl.auths, 1, "no AUTH again on a healthy link");
    cr_expect_eq(s.denied + s.lost, 0);
    /* A NULL health skips the beat; an explicit one goes at once. */
    s.health = NULL;
    evc_error err = {0};
    int before = ctl.hbs;
    cr_expect_eq(evc_cplink_heartbeat(c, &err), EVC_OK, "%s", err.msg);
    s.health = "UNREACHABLE";
    cr_expect_eq(evc_cplink_heartbeat(c, &err), EVC_OK, "%s", err.msg);
    wait_for(loop, &ctl.hbs, before + 1);
    cr_expect_str_eq(ctl.last_health, "UNREACHABLE");
    evc_cplink_close(c);
    wait_for(loop, &ctl.closes, 1);
    evc_link_server_close(ctl.srv);
}

Test(cplink, argon2id_params_are_derived_off_the_loop)
{
    central ctl;
    central_start(loop, &ctl, true);
    seen s = {.health = "OK"};
    evc_cplink *c = start(&ctl, &s, "typed secret", 0);
    wait_for(loop, &s.accepted, 1);
    cr_expect_eq(ctl.good_proofs, 1);
    cr_expect_eq(ctl.hbs <= 1, true, "heartbeat_ms 0: only the HB at acceptance");
    cr_expect_eq(evc_cplink_derivations(c), 1);
    /* Central goes and comes back: the key is cached per params, so the
     * reconnection's PROOF costs no argon2id. */
    uint16_t port = evc_link_server_port(ctl.srv);
    evc_link_server_close(ctl.srv);
    wait_for(loop, &s.lost, 1);
    evc_error err = {0};
    cr_assert_eq(evc_link_listen(loop, "127.0.0.1", port, &CENTRAL, &ctl, &ctl.srv, &err), EVC_OK,
                 "%s", err.msg);
    wait_for(loop, &s.accepted, 2);
    cr_expect_eq(ctl.good_proofs, 2);
    cr_expect_eq(evc_cplink_derivations(c), 1, "the second PROOF used the cached key");
    int closes = ctl.closes;
    evc_cplink_close(c);
    wait_for(loop, &ctl.closes, closes + 1);
    evc_link_server_close(ctl.srv);
}

Test(cplink, wrong_secret_is_denied_with_the_reason_and_a_growing_backoff)
{
    central ctl;
    central_start(loop, &ctl, false);
    seen s = {.health = "OK"};
    evc_cplink *c = start(&ctl, &s, OTHER, 20);
    wait_for(loop, &s.denied, 4);
    cr_expect_str_eq(s.code, "BAD_SECRET");
    cr_expect_str_eq(s.text, "wrong? secret", "control bytes from the network are replaced");
    cr_expect(s.by_central);
    cr_expect_eq(s.accepted, 0);
    cr_expect_eq(ctl.good_proofs, 0);
    /* 20, 40, 80, then the cap: the next AUTH waits, it is not at once. */
    cr_expect_eq(s.retry[0], 20);
    cr_expect_eq(s.retry[1], 40);
    cr_expect_eq(s.retry[2], 80);
    cr_expect_eq(s.retry[3], 80);
    /* No busy loop: one AUTH per denial (plus the one being answered), on
     * the one connection, which the denial does not drop. */
    cr_expect_leq(ctl.auths, s.denied + 1);
    cr_expect_eq(ctl.opens, 1);
    cr_expect_eq(evc_cplink_connections(c), 1);
    cr_expect_eq(evc_cplink_denials(c), (uint64_t)s.denied);
    evc_error err = {0};
    cr_expect_eq(evc_cplink_heartbeat(c, &err), EVC_ESTATE, "no HB while denied");
    cr_expect(strstr(err.msg, CP) && strstr(err.msg, "127.0.0.1:"), "names CP and peer: %s",
              err.msg);
    evc_cplink_close(c);
    wait_for(loop, &ctl.closes, 1);
    evc_link_server_close(ctl.srv);
}

Test(cplink, closed_inside_the_denied_callback)
{
    central ctl;
    central_start(loop, &ctl, false);
    seen s = {.health = "OK", .close_on_denied = true};
    start(&ctl, &s, OTHER, 20);
    wait_for(loop, &s.denied, 1);
    wait_for(loop, &ctl.closes, 1);
    cr_expect_eq(s.denied, 1, "no callback after the close");
    cr_expect_eq(s.lost, 0, "no callback after the close");
    evc_link_server_close(ctl.srv);
}

Test(cplink, central_closing_mid_session_means_reconnect_and_auth_again)
{
    central ctl;
    central_start(loop, &ctl, false);
    ctl.close_after_hb = true;
    seen s = {.health = "OK"};
    evc_cplink *c = start(&ctl, &s, SECRET, 20);
    wait_for(loop, &s.lost, 1);
    wait_for(loop, &s.accepted, 2);
    cr_expect_eq(s.connected, 2);
    cr_expect_eq(ctl.opens, 2);
    cr_expect_eq(ctl.good_proofs, 2);
    int hb = ctl.hbs;
    wait_for(loop, &ctl.hbs, hb + 3); /* heartbeats resume on the new link */
    cr_expect_eq(evc_cplink_get_state(c), EVC_CPLINK_ACCEPTED);
    evc_cplink_close(c);
    wait_for(loop, &ctl.closes, 2);
    evc_link_server_close(ctl.srv);
}

Test(cplink, auth_ok_without_centrals_mac_is_refused)
{
    central ctl;
    central_start(loop, &ctl, false);
    ctl.bad_ok_mac = true;
    seen s = {.health = "OK"};
    evc_cplink *c = start(&ctl, &s, SECRET, 20);
    wait_for(loop, &s.denied, 1);
    cr_expect_str_eq(s.code, "BAD_PROOF");
    cr_expect(!s.by_central);
    cr_expect_eq(s.accepted, 0);
    wait_for(loop, &ctl.closes, 1); /* the link to the fake is closed */
    cr_expect_eq(ctl.hbs, 0, "no HB to a peer that did not prove itself");
    evc_cplink_close(c);
    evc_link_server_close(ctl.srv);
}

Test(cplink, start_errors_name_the_cp_and_the_address)
{
    evc_cplink *c = (evc_cplink *)1;
    evc_error err = {0};
    evc_cplink_opts o = {.struct_size = sizeof o, .cp_id = CP};
    cr_expect_eq(evc_cplink_start(loop, "127.0.0.1", 7000, &o, &HANDLERS, NULL, &c, &err),
                 EVC_EINVAL);
    cr_expect_null(c);
    cr_expect(strstr(err.msg, CP) && strstr(err.msg, "127.0.0.1:7000") &&
                  strstr(err.msg, "secret"),
              "%s", err.msg);
    o.cp_id = "bad id!";
    o.secret = SECRET;
    cr_expect_eq(evc_cplink_start(loop, "127.0.0.1", 7000, &o, &HANDLERS, NULL, &c, &err),
                 EVC_EINVAL);
    cr_expect(strstr(err.msg, "bad id!"), "%s", err.msg);
    o.cp_id = CP;
    o.allow_register = false;
    o.jitter_pct = 101;
    cr_expect_eq(evc_cplink_start(loop, "127.0.0.1", 7000, &o, &HANDLERS, NULL, &c, &err),
                 EVC_EINVAL);
}

Test(cplink, central_not_listening_is_retried_with_backoff)
{
    central ctl;
    central_start(loop, &ctl, false);
    uint16_t port = evc_link_server_port(ctl.srv);
    evc_link_server_close(ctl.srv); /* nobody listens on port now */
    seen s = {.health = "OK"};
    evc_cplink_opts o = {.struct_size = sizeof o, .cp_id = CP, .secret = SECRET,
                         .backoff_min_ms = 10, .backoff_max_ms = 20};
    evc_cplink *c = NULL;
    cr_assert_eq(evc_cplink_start(loop, "127.0.0.1", port, &o, &HANDLERS, &s, &c, NULL), EVC_OK);
    wait_for(loop, &s.failed, 3);
    cr_expect_eq(s.connected, 0);
    cr_expect_eq(evc_cplink_get_state(c), EVC_CPLINK_DOWN);
    evc_cplink_close(c);
}
