/* central_cps.c: the CP table -- loaded from the database at start (all
 * DISCONNECTED, F1), states re-derived on every heartbeat, link change and
 * supply change, operator stop/resume (F13), and the event log. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central_dash.h"
#include "central_int.h"
#include "evc/envelope.h"
#include "evc/log.h"

static const char *cp_key(const void *ctx, uint32_t slot)
{
    return ((const central *)ctx)->cps[slot].id;
}

central_cp *central_cp_find(central *c, const char *id)
{
    uint32_t i;
    return id && central_index_find(&c->cp_ix, id, &i) ? &c->cps[i] : NULL;
}

central_supply *central_cp_supply(central *c, const central_cp *cp)
{
    return cp->supply_id[0] && cp->supply_slot < c->nopen ? &c->open[cp->supply_slot] : NULL;
}

void central_cp_touch(central *c, central_cp *cp)
{
    if (cp->touched)
        return;
    if (c->ntouched == c->captouched) {
        /* One entry per CP at most (the flag): bounded by the table. */
        size_t cap = c->captouched ? c->captouched * 2 : 64;
        uint32_t *n = realloc(c->touched, cap * sizeof *n);
        if (!n)
            return; /* the tile is refreshed at its next change or snapshot */
        c->touched = n;
        c->captouched = cap;
    }
    cp->touched = true;
    c->touched[c->ntouched++] = (uint32_t)(cp - c->cps);
}

central_cp *central_cp_add(central *c, const evc_charging_point *row)
{
    central_cp *cp = central_cp_find(c, row->id);
    if (!cp) {
        if (c->ncps == c->capcps) {
            size_t cap = c->capcps ? c->capcps * 2 : 16;
            central_cp *n = realloc(c->cps, cap * sizeof *n);
            if (!n)
                return NULL;
            c->cps = n;
            c->capcps = cap;
        }
        if (!c->cp_ix.key_of)
            central_index_init(&c->cp_ix, cp_key, c);
        cp = &c->cps[c->ncps];
        memset(cp, 0, sizeof *cp);
        snprintf(cp->id, sizeof cp->id, "%s", row->id);
        if (central_index_add(&c->cp_ix, cp->id, (uint32_t)c->ncps) != EVC_OK)
            return NULL;
        c->ncps++;
        cp->state = CENTRAL_CP_DISCONNECTED;
        cp->health = CENTRAL_HEALTH_OK;
        cp->supply_slot = CENTRAL_NO_SLOT;
        c->by_state[CENTRAL_CP_DISCONNECTED]++;
    }
    snprintf(cp->location, sizeof cp->location, "%s", row->location);
    cp->price_cents_per_kwh = row->price_cents_per_kwh;
    cp->stopped = row->admin_state == EVC_CP_STOPPED;
    central_cp_touch(c, cp);
    return cp;
}

void central_tables_free(central *c)
{
    central_index_free(&c->cp_ix);
    central_index_free(&c->supply_ix);
    central_index_free(&c->driver_ix);
    central_deadlines_free(&c->cp_due);
    central_deadlines_free(&c->supply_due);
    free(c->touched);
    free(c->cps);
    free(c->open);
    c->touched = NULL;
    c->cps = NULL;
    c->open = NULL;
    c->ntouched = c->captouched = c->ncps = c->capcps = c->nopen = c->capopen = 0;
}

#define CENTRAL_LOAD_LINES 50

static int load_cb(void *arg, const evc_charging_point *row)
{
    return central_cp_add(arg, row) ? 0 : 1;
}

int central_cps_load(central *c, evc_error *err)
{
    int rc = evc_store_cp_list(c->store, load_cb, c, err);
    /* A line per CP for a handful; a city's worth is one line more. */
    for (size_t i = 0; rc == EVC_OK && i < c->ncps && i < CENTRAL_LOAD_LINES; i++)
        central_say(c, "CP %s %s (known, waiting for its monitor)", c->cps[i].id,
                    central_cp_state_name(c->cps[i].state));
    if (rc == EVC_OK && c->ncps > CENTRAL_LOAD_LINES)
        central_say(c, "... and %zu more CPs known, DISCONNECTED, waiting for their monitors "
                    "(%zu in all)", c->ncps - CENTRAL_LOAD_LINES, c->ncps);
    return rc;
}

/* Plain mode writes each event once: the caller's central_say line usually
 * follows at once and says it in words, so the log line goes to DEBUG. An
 * event that no say line covered is printed as its own line before the next
 * event, or at the next tick (central_cps_flush_event). */
void central_cps_flush_event(central *c)
{
    if (!c->event_unsaid[0])
        return;
    char line[sizeof c->event_unsaid];
    memcpy(line, c->event_unsaid, sizeof line);
    c->event_unsaid[0] = '\0';
    central_say(c, "%s", line);
}

void central_event(central *c, const char *type, const char *corr, const char *cp_id,
                   const char *driver_id, const char *detail_fmt, ...)
{
    char text[200];
    va_list ap;
    va_start(ap, detail_fmt);
    vsnprintf(text, sizeof text, detail_fmt, ap);
    va_end(ap);
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "cp_id", cp_id);
    evc_payload_str(p, "driver_id", driver_id);
    evc_payload_str(p, "text", text);
    evc_error err = {0};
    char *detail = evc_payload_finish(p, &err);
    char mid[EVC_UUID_STR_SIZE];
    evc_log_ids ids = {.cp = cp_id, .driver = driver_id, .correlation = corr};
    if (evc_uuid_generate(mid, &err) == EVC_OK) {
        evc_event e = {.message_id = mid, .correlation_id = corr, .type = type,
                       .source = "central", .detail_json = detail};
        if (evc_store_event_append(c->store, &e, EVC_STORE_BATCHED, NULL, &err) != EVC_OK)
            evc_log(EVC_LOG_WARN, "central", &ids, "event log: %s", err.msg);
    }
    free(detail);
    central_dash_event(c, type, corr, cp_id, driver_id, text);
    if (c->tty) {
        /* The live panel is not a record: the log is. */
        evc_log(EVC_LOG_INFO, "central", &ids, "%s: %s", type, text);
        return;
    }
    central_cps_flush_event(c);
    evc_log(EVC_LOG_DEBUG, "central", &ids, "%s: %s", type, text);
    snprintf(c->event_unsaid, sizeof c->event_unsaid, "%s%s%s%s%s: %s", type,
             cp_id ? " " : "", cp_id ? cp_id : "", driver_id ? " " : "",
             driver_id ? driver_id : "", text);
}

/* An interrupted supply no longer makes the CP SUPPLYING: its driver was
 * told it stopped, and only its bill (supply.ended) is still to come; a
 * request meanwhile is still denied cp_busy (central_supply.c). */
static bool cp_has_supply(central *c, central_cp *cp)
{
    const central_supply *s = central_cp_supply(c, cp);
    return s && !s->interrupted &&
           (s->phase == CENTRAL_SUPPLY_AUTHORISED || s->phase == CENTRAL_SUPPLY_SUPPLYING);
}

/* The engine ends a supply with reason `fault` the moment it turns KO; the
 * monitor's KO heartbeat follows up to a PING interval later. Without this
 * the CP would flash SUPPLYING -> ACTIVATED -> BROKEN: it goes BROKEN at
 * once, and the heartbeats decide again from heartbeat_timeout_ms on. */
static void note_fault_end(central *c, central_cp *cp)
{
    if (cp->supply_id[0] || cp->state != CENTRAL_CP_SUPPLYING || c->nrecent == 0)
        return;
    const central_supply *last =
        &c->recent[(c->recent_next + CENTRAL_RECENT_MAX - 1) % CENTRAL_RECENT_MAX];
    if (strcmp(last->cp_id, cp->id) == 0 && strcmp(last->end_reason, "fault") == 0 &&
        cp->health == CENTRAL_HEALTH_OK)
        cp->fault_until_ms = evc_loop_now_ms(c->loop) + c->heartbeat_timeout_ms;
}

/* The heartbeat time the timeout counts from: after a loop hold, no older
 * than the floor (central_loop_hold_check). */
static uint64_t hb_effective(const central *c, const central_cp *cp)
{
    /* Only a CP still alive when the hold began: one timed out before it
     * stays DISCONNECTED. */
    if (cp->last_hb_ms >= c->hb_floor_ms ||
        cp->last_hb_ms + c->heartbeat_timeout_ms < c->hold_from_ms)
        return cp->last_hb_ms;
    return c->hb_floor_ms;
}

/* The next moment the CP's state may change with no message: its heartbeat
 * timeout, the end of a reported fault. */
static void schedule(central *c, central_cp *cp, uint64_t now)
{
    uint64_t due = 0;
    if (cp->heard)
        due = hb_effective(c, cp) + c->heartbeat_timeout_ms + 1;
    if (due <= now)
        due = 0; /* timed out already: only a heartbeat changes that */
    if (cp->fault_until_ms > now && (!due || cp->fault_until_ms < due))
        due = cp->fault_until_ms;
    uint32_t ref = (uint32_t)(cp - c->cps);
    if (!due) {
        central_deadline_clear(&c->cp_due, ref);
    } else if (central_deadline_set(&c->cp_due, ref, due) != EVC_OK) {
        evc_log_ids ids = {.cp = cp->id};
        EVC_LOG_LIMITED(EVC_LOG_ERROR, "central", &ids,
                        "out of memory for its heartbeat deadline: its timeout is seen at its "
                        "next message only");
    }
}

void central_loop_hold_check(central *c)
{
    uint64_t now = evc_loop_now_ms(c->loop);
    if (c->last_tick_ms == 0 || now - c->last_tick_ms <= CENTRAL_HOLD_MS)
        return;
    /* The loop did not run (the process was stopped, or one callback took
     * that long): heartbeats sent meanwhile are still unread in the
     * sockets. Each heard CP gets one heartbeat period from now to speak
     * before its timeout counts: no false DISCONNECTED after a stall. */
    uint64_t grace = c->heartbeat_interval_ms > CENTRAL_HOLD_MS ? c->heartbeat_interval_ms
                                                                 : CENTRAL_HOLD_MS;
    uint64_t floor = now + grace > c->heartbeat_timeout_ms ? now + grace - c->heartbeat_timeout_ms
                                                           : 0;
    evc_log(EVC_LOG_WARN, "central", NULL,
            "the loop was held %llu ms: heartbeat timeouts wait %llu ms for the monitors",
            (unsigned long long)(now - c->last_tick_ms), (unsigned long long)grace);
    if (floor > c->hb_floor_ms) {
        c->hb_floor_ms = floor;
        c->hold_from_ms = c->last_tick_ms;
    }
    c->last_tick_ms = now;
}

void central_cp_refresh(central *c, central_cp *cp, const char *why)
{
    central_loop_hold_check(c);
    note_fault_end(c, cp);
    uint64_t now = evc_loop_now_ms(c->loop);
    if (cp->fault_until_ms && now >= cp->fault_until_ms)
        cp->fault_until_ms = 0;
    central_cp_touch(c, cp);
    central_cp_facts f = {
        .heard = cp->heard,
        .last_hb_ms = hb_effective(c, cp),
        .health = cp->health,
        .stopped = cp->stopped,
        .has_supply = cp_has_supply(c, cp),
        .fault_reported = cp->fault_until_ms != 0,
    };
    central_cp_state st = central_derive_state(&f, now, c->heartbeat_timeout_ms);
    schedule(c, cp, now);
    if (st == cp->state)
        return;
    central_cp_state old = cp->state;
    cp->state = st;
    c->by_state[old]--;
    c->by_state[st]++;
    c->panel_dirty = true;
    const char *corr = cp->supply_id[0] ? cp->supply_id : NULL;
    central_event(c, "cp.state", corr, cp->id, NULL, "%s -> %s (%s)",
                  central_cp_state_name(old), central_cp_state_name(st), why);
    central_say(c, "CP %s %s -> %s (%s)", cp->id, central_cp_state_name(old),
                central_cp_state_name(st), why);
    /* A supply in progress cannot go on: the driver hears why at once; the
     * engine's supply.ended (now or from its outbox) bills it. */
    if (corr && (st == CENTRAL_CP_BROKEN || st == CENTRAL_CP_DISCONNECTED))
        central_supply_interrupt(c, cp, st == CENTRAL_CP_BROKEN ? "fault" : "monitor_lost");
}

void central_cps_refresh_due(central *c)
{
    central_loop_hold_check(c);
    uint64_t now = evc_loop_now_ms(c->loop);
    c->last_tick_ms = now;
    uint32_t ref;
    /* Each popped CP is re-derived once, and sets its next deadline, always
     * later than now (or none): the loop ends. */
    while (central_deadline_pop_due(&c->cp_due, now, &ref))
        if (ref < c->ncps)
            central_cp_refresh(c, &c->cps[ref], "heartbeat timeout");
}

static bool cp_admin_one(central *c, central_cp *cp, bool stop)
{
    if (cp->stopped == stop)
        return false;
    evc_error err = {0};
    if (evc_store_cp_set_admin_state(c->store, cp->id, stop ? EVC_CP_STOPPED : EVC_CP_IN_SERVICE,
                                     &err) != EVC_OK) {
        evc_log_ids ids = {.cp = cp->id};
        evc_log(EVC_LOG_ERROR, "central", &ids, "%s: %s", stop ? "stop" : "resume", err.msg);
        central_say(c, "CP %s: %s failed: %s", cp->id, stop ? "stop" : "resume", err.msg);
        return false;
    }
    cp->stopped = stop;
    central_event(c, stop ? "cp.stop" : "cp.resume", cp->supply_id[0] ? cp->supply_id : NULL,
                  cp->id, NULL, "operator %s", stop ? "stop" : "resume");
    central_send_command(c, cp->id, stop ? "stop" : "resume");
    if (stop && cp->supply_id[0])
        central_supply_interrupt(c, cp, "stopped");
    central_cp_refresh(c, cp, stop ? "operator stop" : "operator resume");
    return true;
}

int central_cp_admin(central *c, const char *id, bool stop)
{
    if (id) {
        central_cp *cp = central_cp_find(c, id);
        if (!cp)
            return -1;
        /* Sent again even when already in that state: an engine that missed
         * the first command gets it now. */
        if (!cp_admin_one(c, cp, stop)) {
            central_send_command(c, cp->id, stop ? "stop" : "resume");
            return 0;
        }
        return 1;
    }
    int n = 0;
    for (size_t i = 0; i < c->ncps; i++)
        n += cp_admin_one(c, &c->cps[i], stop) ? 1 : 0;
    return n;
}

central_reset_result central_cp_reset(central *c, const char *id, const char *type)
{
    central_cp *cp = central_cp_find(c, id);
    if (!cp)
        return CENTRAL_RESET_UNKNOWN;
    /* A command on the bus is not queued for a CP that comes back later: a
     * reset it would act on hours after the operator asked is worse than a
     * refusal the operator sees now. */
    if (cp->state == CENTRAL_CP_DISCONNECTED || !cp->engine_heard)
        return CENTRAL_RESET_OFFLINE;
    central_event(c, "cp.reset", cp->supply_id[0] ? cp->supply_id : NULL, cp->id, NULL,
                  "operator reset (%s)", type);
    central_send_reset(c, cp->id, type);
    return CENTRAL_RESET_SENT;
}
