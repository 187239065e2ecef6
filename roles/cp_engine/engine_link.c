/* engine_link.c: the monitor's link to this engine (docs/PROTOCOL.md
 * section M2). The engine's CP id is its own (cp_engine.cp_id): HELLO for
 * another id is refused (issue 11 finding 5). HELLO -> HELLO_CHALLENGE ->
 * HELLO_PROOF proves the CP's secret both ways; only then is the link the
 * monitor's, whose PINGs keep it present. Every PING is answered with the
 * health (no secret), and on the proved link with the supply's state, power,
 * energy and session too (engine_link.h); no PING of the monitor for
 * monitor_timeout_ms means it is lost (R30). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "engine_link.h"
#include "evc/log.h"
#include "evc/proof.h"

static void send_or_log(evc_link *l, const char *op, const evc_frame_field *f, size_t n)
{
    evc_error err = {0};
    if (evc_link_send(l, op, f, n, &err) != EVC_OK)
        evc_log(EVC_LOG_WARN, "cp_engine", NULL, "%s to %s: %s", op, evc_link_peer(l), err.msg);
}

/* What the engine knows of one link; owned by the link's data, freed in
 * on_close. */
typedef struct engine_peer {
    engine *e;
    evc_link *link;      /* borrowed; valid until on_close frees this */
    bool challenged;     /* HELLO_CHALLENGE sent, its nonces unused yet */
    bool refused;        /* HELLO_DENIED sent: closed by `closer` */
    uint8_t nonce_m[EVC_PROOF_NONCE_BYTES], nonce_e[EVC_PROOF_NONCE_BYTES];
    evc_timer *closer;   /* owned; closes the link a moment after a refusal */
} engine_peer;

/* Same derivation as the monitor's monitor_link_key: a hash of the id and
 * the secret (both ends hold the secret: no argon2 needed). */
static void link_key(const char *cp_id, const char *secret, uint8_t out[EVC_PROOF_KEY_BYTES])
{
    static const uint8_t zero[EVC_PROOF_KEY_BYTES];
    const char *parts[] = {cp_id, secret};
    evc_proof_mac(zero, "evc-link-v1", parts, 2, out);
}

static void link_mac(engine *e, const char *label, const engine_peer *p,
                     char out[EVC_PROOF_HEX_SIZE])
{
    char nm[2 * EVC_PROOF_NONCE_BYTES + 1], ne[2 * EVC_PROOF_NONCE_BYTES + 1];
    evc_hex_encode(p->nonce_m, sizeof p->nonce_m, nm);
    evc_hex_encode(p->nonce_e, sizeof p->nonce_e, ne);
    const char *parts[] = {e->cfg.cp_id, nm, ne};
    uint8_t mac[EVC_PROOF_KEY_BYTES];
    evc_proof_mac(e->link_key, label, parts, 3, mac);
    evc_hex_encode(mac, sizeof mac, out);
}

static void on_closer(evc_timer *t, void *arg)
{
    engine_peer *p = arg;
    evc_timer_close(t);
    p->closer = NULL;
    evc_link_close(p->link, "HELLO refused");
}

/* HELLO_DENIED cp_id, code, text, then the link is closed a moment later (a
 * close at once could cancel the frame's write: the monitor must read why). */
static void refuse(engine *e, engine_peer *p, const char *cp_id, const char *code,
                   const char *text)
{
    evc_frame_field f[] = {EVC_FRAME_STR(cp_id), EVC_FRAME_STR(code), EVC_FRAME_STR(text)};
    send_or_log(p->link, "HELLO_DENIED", f, 3);
    p->refused = true;
    p->challenged = false;
    evc_error err = {0};
    if (!p->closer &&
        evc_loop_timer(e->loop, 200, 0, on_closer, p, &p->closer, &err) != EVC_OK)
        evc_link_close(p->link, "HELLO refused");
}

/* HELLO cp_id, nonce_m: only our own id; answered with our proof of the
 * secret and a nonce for the monitor's (HELLO_PROOF). */
static void on_hello(engine *e, engine_peer *p, const evc_frame_event *ev)
{
    evc_link *l = p->link;
    const char *cp_id = ev->nfields >= 1 ? ev->fields[0].data : "";
    const char *nonce = ev->nfields >= 2 ? ev->fields[1].data : "";
    if (!evc_id_valid(cp_id) || !evc_hex_decode(nonce, p->nonce_m, sizeof p->nonce_m)) {
        evc_log(EVC_LOG_WARN, "cp_engine", &(evc_log_ids){.cp = e->cfg.cp_id},
                "HELLO from %s without a valid CP id and nonce: refused", evc_link_peer(l));
        refuse(e, p, evc_id_valid(cp_id) ? cp_id : "", "BAD_REQUEST",
               "HELLO needs cp_id and a 32-hex-digit nonce");
        return;
    }
    if (strcmp(cp_id, e->cfg.cp_id) != 0) {
        /* Finding 5: the id is ours, never the peer's. */
        evc_log(EVC_LOG_WARN, "cp_engine", &(evc_log_ids){.cp = e->cfg.cp_id},
                "HELLO from %s for %s refused: this engine is %s", evc_link_peer(l), cp_id,
                e->cfg.cp_id);
        engine_say(e, ENGINE_YELLOW, "Refused a monitor at %s: it says %s, this engine is %s",
                   evc_link_peer(l), cp_id, e->cfg.cp_id);
        char text[128];
        snprintf(text, sizeof text, "this engine is %s", e->cfg.cp_id);
        refuse(e, p, cp_id, "WRONG_ID", text);
        return;
    }
    evc_proof_random(p->nonce_e, sizeof p->nonce_e);
    p->challenged = true;
    char mac[EVC_PROOF_HEX_SIZE], ne[2 * EVC_PROOF_NONCE_BYTES + 1];
    link_mac(e, "evc-link-engine-v1", p, mac);
    evc_hex_encode(p->nonce_e, sizeof p->nonce_e, ne);
    evc_frame_field f[] = {EVC_FRAME_STR(e->cfg.cp_id), EVC_FRAME_STR(ne), EVC_FRAME_STR(mac)};
    send_or_log(l, "HELLO_CHALLENGE", f, 3);
}

/* HELLO_PROOF cp_id, mac_m: the monitor holds the secret; the link becomes
 * the monitor's. The nonces are used once, right or wrong. */
static void on_hello_proof(engine *e, engine_peer *p, const evc_frame_event *ev)
{
    evc_link *l = p->link;
    const char *mac_hex = ev->nfields >= 2 ? ev->fields[1].data : "";
    char want[EVC_PROOF_HEX_SIZE];
    uint8_t got[EVC_PROOF_KEY_BYTES], exp[EVC_PROOF_KEY_BYTES];
    bool was = p->challenged;
    p->challenged = false;
    if (was)
        link_mac(e, "evc-link-monitor-v1", p, want);
    if (!was || !evc_hex_decode(mac_hex, got, sizeof got) ||
        !evc_hex_decode(want, exp, sizeof exp) || !evc_proof_equal(got, exp)) {
        evc_log(EVC_LOG_WARN, "cp_engine", &(evc_log_ids){.cp = e->cfg.cp_id},
                "monitor %s did not prove %s's secret: refused", evc_link_peer(l), e->cfg.cp_id);
        engine_say(e, ENGINE_YELLOW, "Refused a monitor at %s: wrong proof of the secret",
                   evc_link_peer(l));
        refuse(e, p, e->cfg.cp_id, "BAD_PROOF",
               was ? "wrong proof of the CP's secret" : "HELLO_PROOF without a HELLO");
        return;
    }
    const evc_log_ids ids = {.cp = e->cfg.cp_id};
    bool was_present = e->monitor_present;
    bool first = !e->cp_id[0];
    snprintf(e->cp_id, sizeof e->cp_id, "%s", e->cfg.cp_id);
    if (e->monitor && e->monitor != l)
        evc_link_close(e->monitor, "replaced by a new monitor link");
    e->monitor = l;
    e->monitor_present = true;
    e->last_ping_ms = evc_loop_now_ms(e->loop);
    evc_frame_field f[] = {EVC_FRAME_STR(e->cfg.cp_id)};
    send_or_log(l, "HELLO_OK", f, 1);
    evc_log(EVC_LOG_INFO, "cp_engine", &ids, "monitor %s proved the secret", evc_link_peer(l));
    if (first)
        engine_say(e, ENGINE_GREEN, "CP id %s confirmed by the monitor at %s", e->cp_id,
                   evc_link_peer(l));
    if (!was_present)
        engine_say(e, ENGINE_GREEN, "Monitor connected");
    engine_send_hello(e);
}

static void on_ping(engine *e, evc_link *l, const evc_frame_event *ev)
{
    if (l == e->monitor) {
        e->last_ping_ms = evc_loop_now_ms(e->loop);
        if (!e->monitor_present) {
            e->monitor_present = true;
            engine_say(e, ENGINE_GREEN, "Monitor connected");
        }
    }
    /* Answer any PING, even before HELLO: the health is no secret, and a
     * monitor that lost its HELLO_OK still learns the engine is alive. The
     * supply figures (state, W, Wh, session, admin state) go only to the
     * link that proved the CP's secret: a session id is not for strangers. */
    evc_frame_field f[ENGINE_PONG_FIELDS];
    char w[24], wh[24];
    size_t n = engine_pong_fields(e, ev->nfields >= 1 ? ev->fields[0].data : "0",
                                  l == e->monitor, w, wh, f);
    send_or_log(l, "PONG", f, n);
}

const char *engine_phase_wire(engine_phase p)
{
    switch (p) {
    case ENGINE_AUTHORISED:
        return "authorised";
    case ENGINE_SUPPLYING:
        return "supplying";
    default:
        return "idle";
    }
}

size_t engine_pong_fields(const engine *e, const char *seq, bool proved, char w[24], char wh[24],
                          evc_frame_field out[ENGINE_PONG_FIELDS])
{
    out[0] = EVC_FRAME_STR(seq);
    out[1] = EVC_FRAME_STR(e->ko ? "KO" : "OK");
    if (!proved)
        return 2;
    bool idle = e->phase == ENGINE_IDLE;
    snprintf(w, 24, "%" PRId64, idle ? INT64_C(0) : e->w);
    snprintf(wh, 24, "%" PRId64, idle ? INT64_C(0) : e->j.wh);
    out[2] = EVC_FRAME_STR(engine_phase_wire(e->phase));
    out[3] = EVC_FRAME_STR(w);
    out[4] = EVC_FRAME_STR(wh);
    out[5] = EVC_FRAME_STR(idle ? "" : e->j.session_id);
    out[6] = EVC_FRAME_STR(e->stopped ? "stopped" : "in_service");
    return ENGINE_PONG_FIELDS;
}

static void on_frame(evc_link *l, const evc_frame_event *ev, void *arg)
{
    engine *e = arg;
    engine_peer *p = evc_link_data(l);
    if (strcmp(ev->opcode, "PING") == 0) {
        on_ping(e, l, ev);
    } else if (!p || p->refused) {
        return; /* refused: only PINGs are answered until the close */
    } else if (strcmp(ev->opcode, "HELLO") == 0) {
        on_hello(e, p, ev);
    } else if (strcmp(ev->opcode, "HELLO_PROOF") == 0) {
        on_hello_proof(e, p, ev);
    } else {
        evc_log(EVC_LOG_DEBUG, "cp_engine", NULL, "ignored frame %s (%zu fields) from %s",
                ev->opcode, ev->nfields, evc_link_peer(l));
    }
}

static void on_open(evc_link *l, void *arg)
{
    engine *e = arg;
    e->nlinks++;
    engine_peer *p = calloc(1, sizeof *p);
    if (!p) {
        evc_link_close(l, "out of memory");
        return;
    }
    p->e = e;
    p->link = l;
    evc_link_set_data(l, p);
    evc_log(EVC_LOG_DEBUG, "cp_engine", NULL, "link from %s", evc_link_peer(l));
}

static void on_close(evc_link *l, const char *reason, void *arg)
{
    engine *e = arg;
    e->nlinks--;
    engine_peer *p = evc_link_data(l);
    evc_link_set_data(l, NULL);
    if (p) {
        evc_timer_close(p->closer);
        free(p);
    }
    if (l == e->monitor) {
        /* The monitor may come back within monitor_timeout_ms; only the
         * absence of PINGs declares it lost. */
        e->monitor = NULL;
        evc_log(EVC_LOG_INFO, "cp_engine", &(evc_log_ids){.cp = e->cfg.cp_id},
                "monitor link closed: %s", reason);
    }
}

int engine_link_start(engine *e, evc_error *err)
{
    link_key(e->cfg.cp_id, e->cfg.secret, e->link_key);
    evc_link_handlers h = {.on_open = on_open, .on_frame = on_frame, .on_close = on_close};
    return evc_link_listen(e->loop, e->cfg.listen.host, e->cfg.listen.port, &h, e, &e->server,
                           err);
}

static bool links_closed(void *arg) { return ((engine *)arg)->nlinks == 0; }

void engine_link_stop(engine *e)
{
    if (e->server)
        evc_link_server_close(e->server);
    e->server = NULL;
    /* on_close comes from the loop, after this call: let every one come now,
     * while the engine still exists (destroy frees it). */
    evc_loop_run_until(e->loop, links_closed, e, 1000);
    e->monitor = NULL;
}

void engine_link_check(engine *e, uint64_t now)
{
    if (!e->monitor_present || now - e->last_ping_ms < (uint64_t)e->cfg.monitor_timeout_ms)
        return;
    e->monitor_present = false;
    evc_log(EVC_LOG_WARN, "cp_engine", &(evc_log_ids){.cp = e->cp_id},
            "no PING for %" PRId64 " ms: monitor lost", e->cfg.monitor_timeout_ms);
    engine_say(e, ENGINE_RED, "Monitor lost");
    if (e->phase != ENGINE_IDLE)
        engine_supply_end(e, "monitor_lost");
}
