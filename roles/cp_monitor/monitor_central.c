/* monitor_central.c: the monitor's link to Central (docs/PROTOCOL.md
 * section M1): AUTH, CHALLENGE and PROOF (monitor_proof.c) on every
 * connection, AUTH_OK checked for Central's own MAC, HB every heartbeat_interval_ms and at
 * once on a health change. The link client reconnects with capped backoff by
 * itself; a denial is retried with a backoff of our own, so that a Central
 * that closes denied links is not hammered. Lines are printed on
 * transitions only. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "evc/log.h"
#include "monitor.h"

#define LOGC(m, lvl, ...) evc_log((lvl), "cp_monitor", &(evc_log_ids){.cp = (m)->cfg.cp_id}, __VA_ARGS__)

static void send_auth(monitor *m)
{
    if (!m->central_link)
        return;
    char price[24], nonce[2 * EVC_PROOF_NONCE_BYTES + 1];
    snprintf(price, sizeof price, "%" PRId64, m->cfg.price_cents_per_kwh);
    /* A fresh nonce per AUTH: Central's answer (AUTH_OK's MAC) is bound to
     * it, so a recorded AUTH_OK cannot be replayed to us. */
    evc_proof_random(m->nonce_m, sizeof m->nonce_m);
    evc_hex_encode(m->nonce_m, sizeof m->nonce_m, nonce);
    m->auth_gen++;
    m->have_key = false;
    evc_frame_field f[] = {EVC_FRAME_STR(m->cfg.cp_id), EVC_FRAME_STR(m->cfg.location),
                           EVC_FRAME_STR(price), EVC_FRAME_STR(nonce)};
    evc_error err = {0};
    if (evc_link_send(m->central_link, "AUTH", f, 4, &err) != EVC_OK) {
        LOGC(m, EVC_LOG_WARN, "AUTH to %s: %s", evc_link_peer(m->central_link), err.msg);
        return;
    }
    m->cstate = MONITOR_C_AUTHENTICATING;
    LOGC(m, EVC_LOG_INFO, "AUTH sent to %s", evc_link_peer(m->central_link));
}

void monitor_send_hb(monitor *m)
{
    if (m->cstate != MONITOR_C_ACCEPTED || !m->central_link)
        return;
    /* Right after AUTH_OK the first PONG is usually a few ms away, and at
     * start the engine may not listen yet: do not report a health we have
     * not measured (Central would flash BROKEN); the change sends the HB.
     * Past health_timeout_ms and the start's grace, UNKNOWN is reported as
     * UNREACHABLE. */
    uint64_t now = evc_loop_now_ms(m->loop);
    if (m->health.health == MONITOR_UNKNOWN &&
        (now - m->accepted_ms < (uint64_t)m->cfg.health_timeout_ms ||
         now < m->health.grace_until))
        return;
    evc_frame_field f[] = {EVC_FRAME_STR(m->cfg.cp_id),
                           EVC_FRAME_STR(monitor_health_wire(m->health.health))};
    evc_error err = {0};
    if (evc_link_send(m->central_link, "HB", f, 2, &err) != EVC_OK)
        LOGC(m, EVC_LOG_WARN, "HB to %s: %s", evc_link_peer(m->central_link), err.msg);
}

static void on_reauth(evc_timer *t, void *arg)
{
    monitor *m = arg;
    evc_timer_close(t);
    m->reauth = NULL;
    send_auth(m); /* no link now: on_open will send it */
}

static void on_denied(monitor *m, const evc_frame_event *ev)
{
    const char *code = ev->nfields >= 2 ? ev->fields[1].data : "";
    const char *text = ev->nfields >= 3 && ev->fields[2].len ? ev->fields[2].data : code;
    monitor_central_refused(m, code, text);
}

void monitor_central_refused(monitor *m, const char *code, const char *text)
{
    m->cstate = MONITOR_C_DENIED;
    m->have_key = false;
    LOGC(m, EVC_LOG_WARN, "AUTH_DENIED %s: %s", code, text);
    char clean[sizeof m->denied_text];
    size_t n = 0;
    /* The text comes from the network: no control bytes on the terminal. */
    for (; text[n] && n < sizeof clean - 1; n++)
        clean[n] = (unsigned char)text[n] < 0x20 || text[n] == 0x7f ? '?' : text[n];
    clean[n] = '\0';
    if (strcmp(m->denied_text, clean) != 0) {
        memcpy(m->denied_text, clean, n + 1);
        monitor_say(m, MONITOR_RED, "Denied by CENTRAL: %s", clean);
        monitor_alert(m, "refused", "central", "Denied by CENTRAL: %s", clean);
    }
    m->central_since = (int64_t)evc_wall_ms();
    monitor_web_changed(m);
    uint64_t lo = (uint64_t)m->cfg.deny_retry_min_ms, hi = (uint64_t)m->cfg.deny_retry_max_ms;
    m->deny_backoff_ms = m->deny_backoff_ms ? m->deny_backoff_ms * 2 : lo;
    if (m->deny_backoff_ms > hi)
        m->deny_backoff_ms = hi;
    evc_timer_close(m->reauth);
    m->reauth = NULL;
    evc_error err = {0};
    if (evc_loop_timer(m->loop, m->deny_backoff_ms, 0, on_reauth, m, &m->reauth, &err) != EVC_OK)
        LOGC(m, EVC_LOG_ERROR, "re-AUTH timer: %s", err.msg);
}

static void on_accepted(monitor *m, const evc_frame_event *ev)
{
    const char *admin = ev->nfields >= 2 ? ev->fields[1].data : "?";
    const char *mac = ev->nfields >= 3 ? ev->fields[2].data : "";
    /* Only a Central holding this CP's proof key can MAC our nonce: anyone
     * else (a spoofed address) is refused, and we retry later. */
    char want[EVC_PROOF_HEX_SIZE];
    uint8_t a[EVC_PROOF_KEY_BYTES], b[EVC_PROOF_KEY_BYTES];
    bool ok = m->cstate == MONITOR_C_PROVING && m->have_key;
    if (ok) {
        monitor_proof_mac(m->key, MONITOR_CPAUTH_OK_LABEL, m->cfg.cp_id, m->nonce_m,
                          m->nonce_c, want);
        ok = evc_hex_decode(mac, a, sizeof a) && evc_hex_decode(want, b, sizeof b) &&
             evc_proof_equal(a, b);
    }
    if (!ok) {
        LOGC(m, EVC_LOG_ERROR,
             "AUTH_OK from %s without a valid proof of this CP's secret: not CENTRAL, refused",
             m->central_link ? evc_link_peer(m->central_link) : "?");
        monitor_central_refused(m, "BAD_PROOF",
                                "the peer did not prove it is CENTRAL (AUTH_OK without a "
                                "valid MAC)");
        if (m->central_link)
            evc_link_close(m->central_link, "AUTH_OK without a valid MAC");
        return;
    }
    bool again = m->ever_accepted;
    m->cstate = MONITOR_C_ACCEPTED;
    m->deny_backoff_ms = 0;
    m->denied_text[0] = '\0';
    m->ever_accepted = true;
    m->accepted_ms = evc_loop_now_ms(m->loop);
    LOGC(m, EVC_LOG_INFO, "AUTH_OK from %s (admin state %s)",
         m->central_link ? evc_link_peer(m->central_link) : "?", admin);
    monitor_say(m, MONITOR_GREEN, "Accepted by CENTRAL as %s", m->cfg.cp_id);
    snprintf(m->central_admin, sizeof m->central_admin, "%s",
             strcmp(admin, "STOPPED") == 0 ? "stopped" : "in_service");
    m->central_since = (int64_t)evc_wall_ms();
    monitor_alert(m, again ? "link_regained" : "link_up", "central",
                  "Accepted by CENTRAL as %s (%s)", m->cfg.cp_id,
                  strcmp(admin, "STOPPED") == 0 ? "stopped by its operator" : "in service");
    monitor_engine_hello(m);
    monitor_send_hb(m);
}

static void on_frame(evc_link *l, const evc_frame_event *ev, void *arg)
{
    monitor *m = arg;
    if (l != m->central_link)
        return;
    if (strcmp(ev->opcode, "AUTH_OK") == 0)
        on_accepted(m, ev);
    else if (strcmp(ev->opcode, "AUTH_DENIED") == 0)
        on_denied(m, ev);
    else if (strcmp(ev->opcode, "CHALLENGE") == 0)
        monitor_proof_challenge(m, ev);
    else
        LOGC(m, EVC_LOG_DEBUG, "ignored frame %s from Central", ev->opcode);
}

static void on_open(evc_link *l, void *arg)
{
    monitor *m = arg;
    m->central_link = l;
    LOGC(m, EVC_LOG_INFO, "connected to Central at %s", evc_link_peer(l));
    monitor_web_changed(m);
    if (m->reauth) {
        m->cstate = MONITOR_C_DENIED; /* AUTH goes when the denial backoff ends */
        return;
    }
    send_auth(m);
}

static void central_down(monitor *m, const char *reason)
{
    if (m->cstate == MONITOR_C_DOWN)
        return;
    m->cstate = MONITOR_C_DOWN;
    LOGC(m, EVC_LOG_WARN, "Central at %s:%u: %s", m->cfg.central.host,
         (unsigned)m->cfg.central.port, reason);
    monitor_say(m, MONITOR_RED, "Unable to connect to CENTRAL");
    m->central_since = (int64_t)evc_wall_ms();
    monitor_alert(m, "link_lost", "central", "Unable to connect to CENTRAL at %s:%u (%s)",
                  m->cfg.central.host, (unsigned)m->cfg.central.port, reason);
}

static void on_close(evc_link *l, const char *reason, void *arg)
{
    monitor *m = arg;
    if (l != m->central_link)
        return;
    m->central_link = NULL;
    if (m->stopping)
        return;
    /* A Central that closes a denied link is still there: stay quiet. */
    if (m->cstate == MONITOR_C_DENIED && m->reauth) {
        LOGC(m, EVC_LOG_DEBUG, "Central closed the denied link: %s", reason);
        return;
    }
    central_down(m, reason);
}

static void on_connect_failed(const char *reason, uint64_t retry_in_ms, void *arg)
{
    monitor *m = arg;
    LOGC(m, EVC_LOG_DEBUG, "connect to Central failed (%s); next try in %" PRIu64 " ms", reason,
         retry_in_ms);
    if (m->cstate == MONITOR_C_DENIED && m->reauth)
        return; /* waiting for the denial backoff: say nothing yet */
    central_down(m, reason);
}

static void on_heartbeat(evc_timer *t, void *arg)
{
    (void)t;
    monitor_send_hb(arg);
}

int monitor_central_start(monitor *m, evc_error *err)
{
    evc_link_handlers h = {.on_open = on_open,
                           .on_frame = on_frame,
                           .on_close = on_close,
                           .on_connect_failed = on_connect_failed};
    evc_link_client_opts o = {.backoff_min_ms = (uint64_t)m->cfg.backoff_min_ms,
                              .backoff_max_ms = (uint64_t)m->cfg.backoff_max_ms};
    uint64_t every = (uint64_t)m->cfg.heartbeat_interval_ms;
    int rc = evc_loop_timer(m->loop, every, every, on_heartbeat, m, &m->heartbeat, err);
    if (rc == EVC_OK)
        rc = evc_link_connect(m->loop, m->cfg.central.host, m->cfg.central.port, &o, &h, m,
                              &m->central, err);
    return rc;
}

void monitor_central_stop(monitor *m)
{
    /* central_link stays set: on_close clears it (see monitor_stop). */
    evc_timer_close(m->heartbeat);
    m->heartbeat = NULL;
    evc_timer_close(m->reauth);
    m->reauth = NULL;
    monitor_proof_stop(m);
    if (m->central)
        evc_link_client_close(m->central);
    m->central = NULL;
}
