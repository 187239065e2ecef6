/* monitor_central.c: the monitor's link to Central (docs/PROTOCOL.md
 * section M1), on the SDK's CP session (evc/cplink.h): AUTH, CHALLENGE and
 * PROOF (or REGISTER under open registration) with the CP's secret on every
 * connection -- argon2id on libuv's pool, the key cached per params --,
 * AUTH_OK checked for Central's own MAC, HB every heartbeat_interval_ms and
 * at once on a health change. The session reconnects with capped backoff by
 * itself, and retries a denial with a backoff of its own (deny_retry_*), so
 * that a Central that closes denied links is not hammered. This file turns
 * the session's events into the monitor's lines, alerts and dashboard
 * state; lines are printed on transitions only. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "evc/log.h"
#include "monitor.h"

#define LOGC(m, lvl, ...) evc_log((lvl), "cp_monitor", &(evc_log_ids){.cp = (m)->cfg.cp_id}, __VA_ARGS__)

/* The health word of each HB, or NULL to send none this time. Right after
 * AUTH_OK the first PONG is usually a few ms away, and at start the engine
 * may not listen yet: do not report a health we have not measured (Central
 * would flash BROKEN); the change sends the HB. Past health_timeout_ms and
 * the start's grace, UNKNOWN is reported as UNREACHABLE. */
static const char *hb_health(evc_cplink *c, void *arg)
{
    (void)c;
    monitor *m = arg;
    uint64_t now = evc_loop_now_ms(m->loop);
    if (m->health.health == MONITOR_UNKNOWN &&
        (now - m->accepted_ms < (uint64_t)m->cfg.health_timeout_ms ||
         now < m->health.grace_until))
        return NULL;
    return monitor_health_wire(m->health.health);
}

void monitor_send_hb(monitor *m)
{
    if (m->cstate != MONITOR_C_ACCEPTED || !m->central)
        return;
    evc_error err = {0};
    if (evc_cplink_heartbeat(m->central, &err) != EVC_OK)
        LOGC(m, EVC_LOG_WARN, "%s", err.msg);
}

/* A refusal, Central's (AUTH_DENIED) or ours (an AUTH_OK without a valid
 * MAC, a CHALLENGE we cannot answer): shown once per text; the session
 * sends AUTH again after its denial backoff. */
static void refused(monitor *m, const evc_cplink_info *in)
{
    const char *text = in->text;
    if (!in->by_central && strcmp(in->code, "BAD_CHALLENGE") == 0)
        text = "this monitor cannot answer the CHALLENGE"; /* the log has the why */
    m->cstate = MONITOR_C_DENIED;
    /* in->text is already cleaned of control bytes (it came from the network). */
    if (strcmp(m->denied_text, text) != 0) {
        snprintf(m->denied_text, sizeof m->denied_text, "%s", text);
        monitor_say(m, MONITOR_RED, "Denied by CENTRAL: %s", m->denied_text);
        monitor_alert(m, "refused", "central", "Denied by CENTRAL: %s", m->denied_text);
    }
    m->central_since = (int64_t)evc_wall_ms();
    monitor_web_changed(m);
}

static void accepted(monitor *m, const evc_cplink_info *in)
{
    bool again = m->ever_accepted;
    m->cstate = MONITOR_C_ACCEPTED;
    m->denied_text[0] = '\0';
    m->ever_accepted = true;
    m->accepted_ms = evc_loop_now_ms(m->loop);
    monitor_say(m, MONITOR_GREEN, "Accepted by CENTRAL as %s", m->cfg.cp_id);
    snprintf(m->central_admin, sizeof m->central_admin, "%s",
             in->admin_stopped ? "stopped" : "in_service");
    m->central_since = (int64_t)evc_wall_ms();
    monitor_alert(m, again ? "link_regained" : "link_up", "central",
                  "Accepted by CENTRAL as %s (%s)", m->cfg.cp_id,
                  in->admin_stopped ? "stopped by its operator" : "in service");
    monitor_engine_hello(m);
    /* The session sends the first HB when this returns. */
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

static void on_event(evc_cplink *c, const evc_cplink_info *in, void *arg)
{
    monitor *m = arg;
    /* Waiting out a denial's backoff: Central is there, it said no. */
    bool denied = evc_cplink_get_state(c) == EVC_CPLINK_REFUSED;
    switch (in->event) {
    case EVC_CPLINK_EV_CONNECTED:
        m->central_up = true;
        LOGC(m, EVC_LOG_INFO, "connected to Central at %s", in->peer);
        m->cstate = denied ? MONITOR_C_DENIED : MONITOR_C_AUTHENTICATING;
        monitor_web_changed(m);
        break;
    case EVC_CPLINK_EV_ACCEPTED:
        accepted(m, in);
        break;
    case EVC_CPLINK_EV_DENIED:
        refused(m, in);
        break;
    case EVC_CPLINK_EV_LOST:
        m->central_up = false;
        if (m->stopping)
            break;
        if (denied) /* a Central that closes a denied link is still there: stay quiet */
            LOGC(m, EVC_LOG_DEBUG, "Central closed the denied link: %s", in->text);
        else
            central_down(m, in->text);
        break;
    case EVC_CPLINK_EV_CONNECT_FAILED:
        LOGC(m, EVC_LOG_DEBUG, "connect to Central failed (%s); next try in %" PRIu64 " ms",
             in->text, in->retry_in_ms);
        if (!denied) /* waiting for the denial backoff: say nothing yet */
            central_down(m, in->text);
        break;
    }
}

int monitor_central_start(monitor *m, evc_error *err)
{
    evc_cplink_opts o = {.struct_size = sizeof o,
                         .cp_id = m->cfg.cp_id,
                         .location = m->cfg.location,
                         .price_cents_per_kwh = m->cfg.price_cents_per_kwh,
                         .secret = m->cfg.secret,
                         .allow_register = true,
                         .heartbeat_ms = (uint64_t)m->cfg.heartbeat_interval_ms,
                         .backoff_min_ms = (uint64_t)m->cfg.backoff_min_ms,
                         .backoff_max_ms = (uint64_t)m->cfg.backoff_max_ms,
                         .deny_retry_min_ms = (uint64_t)m->cfg.deny_retry_min_ms,
                         .deny_retry_max_ms = (uint64_t)m->cfg.deny_retry_max_ms};
    evc_cplink_handlers h = {.on_event = on_event, .health = hb_health};
    return evc_cplink_start(m->loop, m->cfg.central.host, m->cfg.central.port, &o, &h, m,
                            &m->central, err);
}

void monitor_central_stop(monitor *m)
{
    evc_cplink_close(m->central); /* no callback after this */
    m->central = NULL;
    m->central_up = false;
}
