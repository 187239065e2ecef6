/* central_session.c: see central_session.h. */
#include "central_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "central_billing.h"
#include "central_dash.h"
#include "evc/log.h"

static void log_err(const central_supply *s, const char *what, const evc_error *err)
{
    evc_log_ids ids = {.cp = s->cp_id, .driver = s->driver_id, .correlation = s->id};
    evc_log(EVC_LOG_ERROR, "central", &ids, "%s: %s", what, err->msg);
}

/* REQUESTED (its reply lost or overtaken) or AUTHORISED -> SUPPLYING. */
static void mark_started(central *c, central_supply *s, int64_t started_at)
{
    evc_error err = {0};
    if (s->phase == CENTRAL_SUPPLY_REQUESTED) {
        if (evc_store_session_set_state(c->store, s->id, EVC_SESSION_AUTHORISED, 0, NULL, &err))
            log_err(s, "authorise session", &err);
        s->phase = CENTRAL_SUPPLY_AUTHORISED;
    }
    if (s->phase != CENTRAL_SUPPLY_AUTHORISED)
        return;
    if (evc_store_session_set_state(c->store, s->id, EVC_SESSION_SUPPLYING, started_at, NULL,
                                    &err))
        log_err(s, "start session", &err);
    s->phase = CENTRAL_SUPPLY_SUPPLYING;
    s->started_at = started_at ? started_at : (int64_t)evc_wall_ms();
    central_update(c, s->driver_id, s->cp_id, s->id, "supplying", NULL, "supplying");
    central_event(c, "supply.started", s->id, s->cp_id, s->driver_id, "supplying");
    central_say(c, "Supply %s %s @ %s started", s->id, s->driver_id, s->cp_id);
    c->panel_dirty = true;
    central_cp *cp = central_cp_find(c, s->cp_id);
    if (cp)
        central_cp_refresh(c, cp, "supply started");
}

static void send_cancel(central *c, const char *cp_id, const char *sid, const char *reason)
{
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "cp_id", cp_id);
    evc_payload_str(p, "session_id", sid);
    evc_payload_str(p, "reason", reason);
    central_publish(c, cp_id, "cp.cancel", sid, evc_payload_finish(p, NULL));
}

void central_cancel_unheld(central *c, const char *cp_id, const char *sid, const char *what)
{
    if (!evc_id_valid(cp_id) || !evc_uuid_valid(sid))
        return;
    evc_log_ids ids = {.cp = cp_id, .correlation = sid};
    evc_session se;
    int rc = evc_store_session_get(c->store, sid, &se, NULL);
    if (rc == EVC_OK && se.state == EVC_SESSION_ENDED) {
        evc_log(EVC_LOG_INFO, "central", &ids, "%s for a supply already billed: ignored", what);
        return;
    }
    evc_log(EVC_LOG_WARN, "central", &ids, "%s for no open supply of that CP: cp.cancel", what);
    central_event(c, "supply.cancel", sid, cp_id, rc == EVC_OK ? se.driver_id : NULL,
                  "%s for a supply Central does not hold open: told the CP to stop", what);
    send_cancel(c, cp_id, sid, "not_authorised");
}

static central_supply *supply_of(central *c, const evc_envelope *env)
{
    const char *sid = evc_msg_str(env, "session_id");
    central_supply *s = central_supply_find(c, sid);
    const char *cp = evc_msg_str(env, "cp_id");
    if (!s || !cp || strcmp(cp, s->cp_id) != 0) {
        central_cancel_unheld(c, cp, sid, env->type);
        return NULL;
    }
    return s;
}

void central_session_started(central *c, const evc_envelope *env)
{
    central_supply *s = supply_of(c, env);
    int64_t at = 0;
    if (s) {
        evc_msg_int(env, "started_at", &at);
        mark_started(c, s, at > 0 ? at : 0);
    }
}

/* The balance floor (docs/PROTOCOL.md M5): when the running cost would take
 * the driver's balance below central.balance_floor_cents, the CP is told to
 * stop (cp.cancel balance_floor). What it delivered until then is billed
 * in full; the cancel is repeated with every later telemetry in case one
 * was lost, the driver and the operator are told once. */
static void check_floor(central *c, central_supply *s)
{
    evc_user u;
    if (evc_store_user_get(c->store, s->driver_id, &u, NULL) != EVC_OK ||
        !central_floor_reached(u.balance_cents, c->balance_floor_cents, s->cents, s->w,
                               s->price_cents_per_kwh))
        return;
    send_cancel(c, s->cp_id, s->id, "balance_floor");
    if (s->floor_stop)
        return;
    s->floor_stop = true;
    s->interrupted = true; /* a later fault adds nothing the driver must do */
    snprintf(s->end_reason, sizeof s->end_reason, "%s", "balance_floor");
    c->floor_stops++;
    central_update(c, s->driver_id, s->cp_id, s->id, "interrupted", "balance_floor",
                   central_reason_text("balance_floor"));
    central_event(c, "supply.balance_floor", s->id, s->cp_id, s->driver_id,
                  "balance %lld cents, running cost %lld cents, floor %lld: told the CP to stop",
                  (long long)u.balance_cents, (long long)s->cents,
                  (long long)c->balance_floor_cents);
    central_say(c, "Supply %s %s @ %s stopped: balance floor reached", s->id, s->driver_id,
                s->cp_id);
    /* Interrupted: the CP no longer shows SUPPLYING for it. */
    central_cp *cp = central_cp_find(c, s->cp_id);
    if (cp)
        central_cp_refresh(c, cp, "balance floor");
}

void central_session_telemetry(central *c, const evc_envelope *env)
{
    central_supply *s = supply_of(c, env);
    int64_t w, wh, cents;
    if (!s || evc_msg_int(env, "w", &w) || evc_msg_int(env, "wh", &wh) ||
        evc_msg_int(env, "cents", &cents) || w < 0 || wh < 0 || cents < 0) {
        c->dropped += s ? 1 : 0;
        return;
    }
    /* Telemetry no CP could have sent (more power than any CP has, more
     * energy than it could deliver since the request) is not shown, stored
     * or relayed as genuine. */
    int64_t bound = central_energy_bound_wh(c->max_power_w, c->energy_tolerance_pct,
                                            (int64_t)evc_wall_ms() - s->requested_at);
    int64_t w_max = c->max_power_w * (100 + c->energy_tolerance_pct) / 100;
    if (wh > bound || (c->max_power_w > 0 && w > w_max)) {
        c->telemetry_refused++;
        evc_log_ids ids = {.cp = s->cp_id, .driver = s->driver_id, .correlation = s->id};
        evc_log(EVC_LOG_WARN, "central", &ids,
                "supply.telemetry of %lld W, %lld Wh is over the bound (%lld Wh so far): "
                "dropped", (long long)w, (long long)wh, (long long)bound);
        return;
    }
    if (s->phase != CENTRAL_SUPPLY_SUPPLYING)
        mark_started(c, s, 0);
    /* The amount shown is Central's own price of that energy, the one
     * billing will charge, not the sender's figure. */
    int64_t own = evc_bill_cents(wh, s->price_cents_per_kwh);
    cents = own >= 0 ? own : cents;
    s->w = w;
    s->wh = wh;
    s->cents = cents;
    c->panel_dirty = true;
    /* The running figures are informative (the bill is the end's report):
     * stored at most every CENTRAL_PROGRESS_SAVE_MS per supply, not at each
     * telemetry, so that 20,000 supplies at 1 Hz do not write 20,000 rows a
     * second. The final figures are written when the supply is billed. */
    uint64_t now = evc_loop_now_ms(c->loop);
    if (s->progress_saved_ms == 0 || now - s->progress_saved_ms >= CENTRAL_PROGRESS_SAVE_MS) {
        evc_error err = {0};
        if (evc_store_session_progress(c->store, s->id, wh, cents, EVC_STORE_BATCHED, &err))
            log_err(s, "session progress", &err);
        s->progress_saved_ms = now ? now : 1;
    }
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "driver_id", s->driver_id);
    evc_payload_str(p, "cp_id", s->cp_id);
    evc_payload_str(p, "session_id", s->id);
    evc_payload_int(p, "w", w);
    evc_payload_int(p, "wh", wh);
    evc_payload_int(p, "cents", cents);
    central_publish_to_driver(c, s->driver_id, "supply.telemetry", s->id,
                              evc_payload_finish(p, NULL));
    check_floor(c, s);
}

static void send_ticket(central *c, const evc_ticket *t)
{
    evc_user u;
    int64_t balance = 0;
    if (evc_store_user_get(c->store, t->driver_id, &u, NULL) == EVC_OK)
        balance = u.balance_cents;
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "driver_id", t->driver_id);
    evc_payload_str(p, "cp_id", t->cp_id);
    evc_payload_str(p, "session_id", t->session_id);
    evc_payload_int(p, "wh", t->energy_wh);
    evc_payload_int(p, "cents", t->amount_cents);
    evc_payload_int(p, "price_cents_per_kwh", t->price_cents_per_kwh);
    evc_payload_int(p, "started_at", t->started_ms);
    evc_payload_int(p, "ended_at", t->ended_ms);
    int64_t d = t->started_ms > 0 && t->ended_ms > t->started_ms
                    ? (t->ended_ms - t->started_ms) / 1000 : 0;
    evc_payload_int(p, "duration_s", d);
    evc_payload_str(p, "reason", t->end_reason);
    evc_payload_int(p, "balance_cents", balance);
    central_publish(c, t->driver_id, "supply.ticket", t->session_id, evc_payload_finish(p, NULL));
}

/* Energy that no ticket carries: an alarm the operator sees on the panel,
 * in the event log and in /api/health (energy_unbillable). */
static void unbillable(central *c, const char *cp_id, const char *sid, int64_t wh,
                       const char *why)
{
    evc_log_ids ids = {.cp = cp_id, .correlation = sid};
    c->unbillable++;
    evc_log(EVC_LOG_ERROR, "central", &ids, "supply.ended: %lld Wh cannot be billed: %s",
            (long long)wh, why);
    central_event(c, "supply.unbillable", sid, cp_id, NULL, "%lld Wh not billed: %s",
                  (long long)wh, why);
    central_say(c, "ALARM supply %s @ %s: %lld Wh cannot be billed: %s", sid, cp_id,
                (long long)wh, why);
}

static void send_end_ack(central *c, const char *cp_id, const char *sid)
{
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "cp_id", cp_id);
    evc_payload_str(p, "session_id", sid);
    central_publish(c, cp_id, "supply.end_ack", sid, evc_payload_finish(p, NULL));
}

int central_session_ended(central *c, const evc_envelope *env)
{
    const char *sid = evc_msg_str(env, "session_id"), *cp_id = evc_msg_str(env, "cp_id");
    const char *reason = evc_msg_str(env, "reason");
    int64_t wh = -1, ended_at = 0;
    evc_msg_int(env, "wh", &wh);
    evc_msg_int(env, "ended_at", &ended_at);
    if (!evc_uuid_valid(sid) || !evc_id_valid(cp_id) || wh < 0) {
        c->dropped++;
        evc_log(EVC_LOG_WARN, "central", NULL, "malformed supply.ended dropped");
        return EVC_OK;
    }
    if (!reason || !*reason)
        reason = "unknown";
    evc_log_ids ids = {.cp = cp_id, .correlation = sid};
    evc_error err = {0};
    evc_session se;
    int rc = evc_store_session_get(c->store, sid, &se, &err);
    if (rc == EVC_ENOTFOUND) {
        unbillable(c, cp_id, sid, wh, "no such session in the database");
        send_end_ack(c, cp_id, sid); /* re-sending cannot make it billable */
        return EVC_OK;
    }
    if (rc != EVC_OK) {
        evc_log(EVC_LOG_WARN, "central", &ids, "billing postponed: %s", err.msg);
        return rc; /* nothing acknowledged: the report comes again */
    }
    if (strcmp(se.cp_id, cp_id) != 0) {
        /* Only the CP the session was authorised at can end it; this one is
         * not acknowledged, so a true report of this CP is not lost either. */
        c->dropped++;
        evc_log(EVC_LOG_WARN, "central", &ids,
                "supply.ended for a session of %s: dropped", se.cp_id);
        return EVC_OK;
    }
    central_supply *s = central_supply_find(c, sid);
    int64_t bound = central_energy_bound_wh(c->max_power_w, c->energy_tolerance_pct,
                                            (int64_t)evc_wall_ms() - se.requested_ms);
    if (se.state != EVC_SESSION_ENDED && wh > bound) {
        /* More than the CP can have delivered since Central authorised it:
         * money moves only on a report that could be true. Not billed and
         * not acknowledged, the session stays open: the CP's true report
         * still bills it, and an honest report the bound was too tight for
         * (max_power_w below a CP's power) is billed at a re-send once the
         * elapsed time covers it. Repeated re-sends alarm each time. */
        c->energy_refused++;
        evc_log(EVC_LOG_ERROR, "central", &ids,
                "supply.ended with %lld Wh, more than %lld Wh possible since the request: "
                "refused, not billed", (long long)wh, (long long)bound);
        central_event(c, "supply.energy_refused", sid, cp_id, se.driver_id,
                      "%lld Wh reported, at most %lld Wh possible: not billed", (long long)wh,
                      (long long)bound);
        central_say(c, "ALARM supply %s @ %s: %lld Wh reported, at most %lld Wh possible: "
                    "not billed", sid, cp_id, (long long)wh, (long long)bound);
        return EVC_OK;
    }
    /* Central asked the CP to stop at the balance floor: the ticket says why
     * (the engine only knows it was cancelled). */
    if (s && s->floor_stop && strcmp(reason, "cancelled") == 0)
        reason = "balance_floor";
    /* Same for the driver's stop, should the engine predate driver_stop. */
    if (s && s->driver_stop && strcmp(reason, "cancelled") == 0)
        reason = "driver_stop";
    bool late = se.state == EVC_SESSION_DENIED;
    if (late && wh == 0) {
        /* Denied, then cancelled (or timed out) at the CP before any energy
         * flowed: nothing to bill, nothing lost. */
        evc_log(EVC_LOG_INFO, "central", &ids, "supply.ended of a denied session, 0 Wh (%s)",
                reason);
        send_end_ack(c, cp_id, sid);
        return EVC_OK;
    }
    if (se.state == EVC_SESSION_REQUESTED) {
        /* The engine's reply and start were lost, but it did supply.
         * Authorise it, then bill what it reports. */
        if (evc_store_session_set_state(c->store, sid, EVC_SESSION_AUTHORISED, 0, NULL, &err) !=
            EVC_OK) {
            evc_log(EVC_LOG_WARN, "central", &ids, "billing postponed: %s", err.msg);
            return err.code ? err.code : EVC_EIO;
        }
    }
    evc_ticket t;
    bool already = false;
    rc = central_bill(c->store, sid, ended_at > 0 ? ended_at : 0, wh, reason, &t, &already,
                      &err);
    if (rc == EVC_ENOTFOUND || rc == EVC_ECONFLICT || rc == EVC_EINVAL) {
        unbillable(c, cp_id, sid, wh, err.msg);
        send_end_ack(c, cp_id, sid);
        if (s)
            central_supply_close(c, s, CENTRAL_SUPPLY_DENIED, reason);
        return EVC_OK;
    }
    if (rc != EVC_OK) {
        evc_log(EVC_LOG_WARN, "central", &ids, "billing postponed: %s", err.msg);
        return rc; /* nothing acknowledged: the report comes again */
    }
    if (already && t.energy_wh != wh) {
        char why[160];
        snprintf(why, sizeof why, "the session was billed %lld Wh already; a second report "
                 "says %lld Wh", (long long)t.energy_wh, (long long)wh);
        unbillable(c, cp_id, sid, wh, why);
    }
    if (late && !already) {
        c->billed_late++;
        central_event(c, "supply.billed_late", sid, t.cp_id, t.driver_id,
                      "%lld Wh supplied under a session Central had denied: billed anyway",
                      (long long)t.energy_wh);
        central_say(c, "ALARM supply %s %s @ %s: %lld Wh supplied after Central denied it: "
                    "billed", sid, t.driver_id, t.cp_id, (long long)t.energy_wh);
    }
    if (!already) {
        char eur[32];
        central_fmt_eur(eur, sizeof eur, t.amount_cents);
        central_event(c, "supply.billed", sid, t.cp_id, t.driver_id,
                      "%lld Wh, %lld cents, reason %s", (long long)t.energy_wh,
                      (long long)t.amount_cents, t.end_reason);
        central_say(c, "Supply %s %s @ %s ended (%s): %lld Wh, %s EUR", sid, t.driver_id,
                    t.cp_id, t.end_reason, (long long)t.energy_wh, eur);
        central_update(c, t.driver_id, t.cp_id, sid, "ended", t.end_reason,
                       central_reason_text(t.end_reason));
        send_ticket(c, &t);
        central_dash_ticket(c, &t);
    }
    send_end_ack(c, cp_id, sid);
    if (s) {
        s->wh = t.energy_wh;
        s->cents = t.amount_cents;
        s->w = 0;
        s->ended_at = t.ended_ms;
        if (!s->started_at)
            s->started_at = t.started_ms;
        central_supply_close(c, s, CENTRAL_SUPPLY_ENDED, t.end_reason);
    }
    return EVC_OK;
}

void central_session_cp_status(central *c, const evc_envelope *env)
{
    const char *cp_id = evc_msg_str(env, "cp_id");
    central_cp *cp = central_cp_find(c, cp_id);
    evc_log_ids ids = {.cp = cp_id};
    if (!cp) {
        evc_log(EVC_LOG_WARN, "central", &ids, "%s from an unknown CP ignored", env->type);
        return;
    }
    const char *admin = evc_msg_str(env, "admin_state");
    const char *busy = evc_msg_str(env, "busy_session_id");
    evc_log(EVC_LOG_INFO, "central", &ids, "%s: health %s, admin %s, busy %s", env->type,
            evc_msg_str(env, "health") ? evc_msg_str(env, "health") : "?",
            admin ? admin : "?", busy ? busy : "none");
    /* An engine that restarted forgets the operator's order: repeat it. */
    if (admin && (strcasecmp(admin, "STOPPED") == 0) != cp->stopped)
        central_send_command(c, cp->id, cp->stopped ? "stop" : "resume");
    /* An engine that announces itself idle no longer holds an authorisation
     * that was waiting for the plug (its journal starts at plug-in). Only a
     * hello written after the request counts: an at-least-once bus replays
     * older ones to a restarted Central, and those say nothing about it. */
    central_supply *s = central_cp_supply(c, cp);
    if (strcmp(env->type, "cp.hello") == 0 && s && s->phase == CENTRAL_SUPPLY_AUTHORISED &&
        env->ts_ms >= s->requested_at && (!busy || strcmp(busy, s->id) != 0)) {
        evc_error err = {0};
        if (evc_store_session_set_state(c->store, s->id, EVC_SESSION_DENIED, 0, "cp_refused",
                                        &err))
            log_err(s, "deny session", &err);
        central_update(c, s->driver_id, s->cp_id, s->id, "denied", "cp_refused",
                       "the charging point restarted before the plug-in");
        central_event(c, "supply.denied", s->id, s->cp_id, s->driver_id,
                      "engine restarted before the plug-in");
        central_supply_close(c, s, CENTRAL_SUPPLY_DENIED, "cp_refused");
    }
}

static void sync_ticket(void *arg, const evc_ticket *t) { send_ticket(arg, t); }

void central_session_sync(central *c, const char *driver)
{
    if (!evc_id_valid(driver))
        return;
    /* A driver has one open supply, two or three at most after a restore
     * of sessions opened before a check existed: by the driver index. */
    uint32_t mine[8];
    size_t n = central_index_find_all(&c->driver_ix, driver, mine, 8);
    n = n < 8 ? n : 8;
    for (size_t k = 1; k < n; k++) /* in the table's order, as before the index */
        for (size_t j = k; j > 0 && mine[j - 1] > mine[j]; j--) {
            uint32_t t = mine[j];
            mine[j] = mine[j - 1];
            mine[j - 1] = t;
        }
    for (size_t k = 0; k < n; k++) {
        central_supply *s = &c->open[mine[k]];
        if (s->phase == CENTRAL_SUPPLY_REQUESTED) {
            central_update(c, driver, s->cp_id, s->id, "checking", NULL, "checking the request");
        } else if (s->phase == CENTRAL_SUPPLY_AUTHORISED) {
            central_update(c, driver, s->cp_id, s->id, "authorised", NULL, "supply authorised");
            central_update(c, driver, s->cp_id, s->id, "plug_in", NULL,
                           "plug your vehicle in at the charging point");
        } else {
            central_update(c, driver, s->cp_id, s->id, "supplying", NULL, "supplying");
        }
        if (s->interrupted)
            central_update(c, driver, s->cp_id, s->id, "interrupted", s->end_reason,
                           central_reason_text(s->end_reason));
    }
    evc_error err = {0};
    if (central_unacked_tickets(c->store, driver, sync_ticket, c, &err) != EVC_OK) {
        evc_log_ids ids = {.driver = driver};
        evc_log(EVC_LOG_ERROR, "central", &ids, "sync: %s", err.msg);
    }
}

int central_session_ticket_ack(central *c, const char *driver, const char *session_id)
{
    evc_ticket t;
    if (!evc_uuid_valid(session_id) || !driver ||
        evc_store_ticket_get(c->store, session_id, &t, NULL) != EVC_OK ||
        strcmp(t.driver_id, driver) != 0)
        return EVC_OK; /* not this driver's ticket: nothing to do */
    evc_error err = {0};
    int rc = central_ticket_acked(c->store, session_id, &err);
    if (rc != EVC_OK) {
        evc_log_ids ids = {.driver = driver, .correlation = session_id};
        evc_log(EVC_LOG_WARN, "central", &ids, "ticket ack: %s", err.msg);
    }
    return rc;
}

static int restore_cb(void *arg, const evc_session *se)
{
    central *c = arg;
    central_supply s = {0};
    snprintf(s.id, sizeof s.id, "%s", se->id);
    snprintf(s.driver_id, sizeof s.driver_id, "%s", se->driver_id);
    snprintf(s.cp_id, sizeof s.cp_id, "%s", se->cp_id);
    s.phase = se->state == EVC_SESSION_SUPPLYING     ? CENTRAL_SUPPLY_SUPPLYING
              : se->state == EVC_SESSION_AUTHORISED ? CENTRAL_SUPPLY_AUTHORISED
                                                    : CENTRAL_SUPPLY_REQUESTED;
    central_cp *cp = central_cp_find(c, se->cp_id);
    s.price_cents_per_kwh = cp ? cp->price_cents_per_kwh : 0;
    s.wh = se->energy_wh;
    s.cents = se->amount_cents;
    s.requested_at = se->requested_ms;
    s.started_at = se->started_ms;
    /* A request still waiting for its reply gets a full timeout again. */
    s.deadline_ms = evc_loop_now_ms(c->loop) + c->authorise_timeout_ms;
    if (!central_supply_add(c, &s))
        return 1;
    central_say(c, "Supply %s %s @ %s restored (%s)", s.id, s.driver_id, s.cp_id,
                evc_session_state_name(se->state));
    return 0;
}

int central_session_restore(central *c, evc_error *err)
{
    return evc_store_session_list_open(c->store, restore_cb, c, err);
}
