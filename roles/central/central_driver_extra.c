/* central_driver_extra.c: what the driver dashboard (issue 13) asks of
 * Central over the bus, docs/PROTOCOL.md M3.3:
 *
 *   supply.request at cp_id "*"   any free CP: Central picks one, then the
 *                                 request goes on as for a chosen CP;
 *   supply.stop                   the driver ends its own supply: cp.cancel
 *                                 driver_stop, billed like an unplug;
 *   driver.history                a page of the driver's tickets from the
 *                                 database, newest first.
 *
 * Every message here reached Central sealed by a login session of the
 * driver it names (on_driver_msg checked it): `driver` is proven. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central_int.h"
#include "central_session.h"
#include "evc/log.h"

#define HISTORY_LIMIT_MAX 50
#define HISTORY_LIMIT_DEFAULT 20

/* ---- any free CP ----------------------------------------------------------- */

/* A CP a request can go to now: ACTIVATED (monitor heard, engine healthy, in
 * service), its engine keyed on the bus (a request to an engine that cannot
 * hear it would only time out), and no request or supply on it. */
static bool cp_free(const central_cp *cp)
{
    return cp->state == CENTRAL_CP_ACTIVATED && cp->engine_heard && !cp->supply_id[0];
}

/* The cheapest free CP, then the smallest id; NULL when none. */
static central_cp *pick_free_cp(central *c)
{
    central_cp *best = NULL;
    for (size_t i = 0; i < c->ncps; i++) {
        central_cp *cp = &c->cps[i];
        /* States are kept by the deadlines to within a tick; only a CP that
         * would be picked is re-derived now, not every CP. */
        if (!cp_free(cp))
            continue;
        if (best && (cp->price_cents_per_kwh > best->price_cents_per_kwh ||
                     (cp->price_cents_per_kwh == best->price_cents_per_kwh &&
                      strcmp(cp->id, best->id) > 0)))
            continue;
        central_cp_refresh(c, cp, "request for any free CP");
        if (cp_free(cp))
            best = cp;
    }
    return best;
}

static void request_any(central *c, const evc_envelope *env, const char *driver)
{
    const char *corr = env->correlation_id;
    if (corr && evc_uuid_valid(corr)) {
        evc_session old;
        if (central_supply_find(c, corr) ||
            evc_store_session_get(c->store, corr, &old, NULL) == EVC_OK)
            return; /* the same request again (redelivered): already handled */
    }
    central_cp *cp = pick_free_cp(c);
    if (cp) {
        evc_log_ids ids = {.cp = cp->id, .driver = driver, .correlation = corr};
        evc_log(EVC_LOG_INFO, "central", &ids, "request for any free CP: %s picked", cp->id);
        central_supply_request(c, driver, cp->id, corr, false);
        return;
    }
    char id[EVC_UUID_STR_SIZE];
    if (corr && evc_uuid_valid(corr))
        snprintf(id, sizeof id, "%s", corr);
    else if (evc_uuid_generate(id, NULL) != EVC_OK)
        return;
    /* The steps a chosen CP's request shows, with "*" for the CP. */
    central_update(c, driver, "*", id, "received", NULL, "request received");
    central_update(c, driver, "*", id, "checking", NULL, "looking for a free charging point");
    central_update(c, driver, "*", id, "denied", "no_free_cp", central_reason_text("no_free_cp"));
    central_event(c, "supply.denied", id, NULL, driver, "denied: no_free_cp (any free CP)");
    central_say(c, "Supply %s %s @ any free CP denied: no_free_cp (%s)", id, driver,
                central_reason_text("no_free_cp"));
}

/* ---- the driver's stop ------------------------------------------------------- */

static void stop_refused(central *c, const char *driver, const char *cp, const char *sid,
                         const char *reason)
{
    central_update(c, driver, cp ? cp : "", sid, "stop_refused", reason,
                   central_reason_text(reason));
    evc_log_ids ids = {.driver = driver, .correlation = sid};
    evc_log(EVC_LOG_INFO, "central", &ids, "supply.stop refused: %s", reason);
}

static void on_stop(central *c, const evc_envelope *env, const char *driver)
{
    const char *sid = evc_msg_str(env, "session_id");
    if (!evc_uuid_valid(sid)) {
        c->dropped++;
        return;
    }
    central_supply *s = central_supply_find(c, sid);
    if (!s || strcmp(s->driver_id, driver) != 0) {
        /* Another driver's session reads as unknown: a stop must not tell
         * which session ids exist. */
        evc_session se;
        bool mine_ended = !s && evc_store_session_get(c->store, sid, &se, NULL) == EVC_OK &&
                          strcmp(se.driver_id, driver) == 0;
        stop_refused(c, driver, mine_ended ? se.cp_id : NULL, sid,
                     mine_ended ? "session_ended" : "unknown_session");
        return;
    }
    /* Each stop sends the cancel again (one may be lost); the driver and the
     * operator are told once. A request still waiting for the CP's reply is
     * cancelled too: the engine hears the cancel after the authorisation on
     * the same key and ends it at once (0 Wh), or has refused it anyway. */
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "cp_id", s->cp_id);
    evc_payload_str(p, "session_id", s->id);
    evc_payload_str(p, "reason", "driver_stop");
    central_publish(c, s->cp_id, "cp.cancel", s->id, evc_payload_finish(p, NULL));
    if (s->driver_stop)
        return;
    s->driver_stop = true;
    central_update(c, driver, s->cp_id, s->id, "stopping", "driver_stop",
                   "stopping the supply at your request");
    central_event(c, "supply.driver_stop", s->id, s->cp_id, driver,
                  "the driver asked to stop: told the CP to stop");
    central_say(c, "Supply %s %s @ %s: the driver asked to stop", s->id, driver, s->cp_id);
}

/* ---- history ----------------------------------------------------------------- */

typedef struct history_ctx {
    int64_t before;          /* ended_at bound, 0 = newest */
    const char *before_sid;  /* tie-break at ended_at == before, "" = none */
    unsigned limit, n;
    bool more;
    central_jarr a;
} history_ctx;

/* Tickets come newest first (ended_ms, then session id, both descending):
 * skip those at or after the page's start, take `limit`, stop at the next. */
static int on_ticket(void *arg, const evc_ticket *t)
{
    history_ctx *h = arg;
    if (h->before > 0 && t->ended_ms >= h->before &&
        !(t->ended_ms == h->before && h->before_sid[0] &&
          strcmp(t->session_id, h->before_sid) < 0))
        return 0;
    if (h->n == h->limit) {
        h->more = true;
        return 1;
    }
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "session_id", t->session_id);
    evc_payload_str(p, "cp_id", t->cp_id);
    evc_payload_int(p, "wh", t->energy_wh);
    evc_payload_int(p, "cents", t->amount_cents);
    evc_payload_int(p, "price_cents_per_kwh", t->price_cents_per_kwh);
    evc_payload_int(p, "started_at", t->started_ms);
    evc_payload_int(p, "ended_at", t->ended_ms);
    evc_payload_str(p, "reason", t->end_reason);
    central_jarr_add(&h->a, evc_payload_finish(p, NULL));
    h->n++;
    return 0;
}

static void on_history(central *c, const evc_envelope *env, const char *driver)
{
    int64_t before = 0, limit = HISTORY_LIMIT_DEFAULT;
    evc_msg_int(env, "before", &before);
    evc_msg_int(env, "limit", &limit);
    const char *bsid = evc_msg_str(env, "before_session_id");
    history_ctx h = {.before = before > 0 ? before : 0,
                     .before_sid = bsid && evc_uuid_valid(bsid) ? bsid : "",
                     .limit = (unsigned)(limit < 1                   ? 1
                                         : limit > HISTORY_LIMIT_MAX ? HISTORY_LIMIT_MAX
                                                                     : limit)};
    evc_error err = {0};
    int rc = evc_store_ticket_list_by_driver(c->store, driver, 0, on_ticket, &h, &err);
    char *tickets = central_jarr_finish(&h.a);
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "driver_id", driver);
    evc_payload_int(p, "before", h.before);
    if (rc != EVC_OK || !tickets) {
        evc_log_ids ids = {.driver = driver};
        evc_log(EVC_LOG_ERROR, "central", &ids, "driver.history: %s",
                rc != EVC_OK ? err.msg : "out of memory");
        evc_payload_raw(p, "tickets", "[]");
        evc_payload_bool(p, "more", false);
        evc_payload_str(p, "error", "the history cannot be read now");
    } else {
        evc_payload_raw(p, "tickets", tickets);
        evc_payload_bool(p, "more", h.more);
    }
    free(tickets);
    central_publish(c, driver, "driver.history", env->correlation_id,
                    evc_payload_finish(p, NULL));
}

bool central_driver_extra(central *c, const evc_envelope *env, const char *driver)
{
    const char *t = env->type;
    if (strcmp(t, "supply.request") == 0) {
        const char *cp = evc_msg_str(env, "cp_id");
        if (!cp || strcmp(cp, "*") != 0)
            return false; /* a chosen CP: central_supply.c */
        request_any(c, env, driver);
    } else if (strcmp(t, "supply.stop") == 0) {
        on_stop(c, env, driver);
    } else if (strcmp(t, "driver.history") == 0) {
        on_history(c, env, driver);
    } else {
        return false;
    }
    return true;
}
