/* central_json.c: the JSON bodies of Central's HTTP API (GET /api/cps,
 * /api/sessions, /api/health), built with the SDK's payload builder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central_int.h"
#include "central_trust.h"

void central_jarr_add(central_jarr *a, char *item)
{
    if (!item) {
        a->failed = true;
        return;
    }
    size_t n = strlen(item);
    if (a->len + n + 3 > a->cap) {
        size_t cap = (a->cap ? a->cap * 2 : 1024) + n;
        char *b = realloc(a->buf, cap);
        if (!b) {
            a->failed = true;
            free(item);
            return;
        }
        a->buf = b;
        a->cap = cap;
    }
    a->buf[a->len] = a->len == 0 ? '[' : ',';
    a->len++;
    memcpy(a->buf + a->len, item, n);
    a->len += n;
    a->buf[a->len] = '\0';
    free(item);
}

char *central_jarr_finish(central_jarr *a)
{
    if (a->failed) {
        free(a->buf);
        return NULL;
    }
    if (a->len == 0) {
        free(a->buf);
        char *e = malloc(3);
        if (e)
            memcpy(e, "[]", 3);
        return e;
    }
    a->buf[a->len++] = ']';
    a->buf[a->len] = '\0';
    return a->buf;
}

const char *central_supply_phase_name(central_supply_phase p)
{
    switch (p) {
    case CENTRAL_SUPPLY_REQUESTED: return "requested";
    case CENTRAL_SUPPLY_AUTHORISED: return "authorised";
    case CENTRAL_SUPPLY_SUPPLYING: return "supplying";
    case CENTRAL_SUPPLY_ENDED: return "ended";
    case CENTRAL_SUPPLY_DENIED: return "denied";
    }
    return "?";
}

char *central_json_cp(central *c, const central_cp *cp)
{
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "id", cp->id);
    evc_payload_str(p, "location", cp->location);
    evc_payload_int(p, "price_cents_per_kwh", cp->price_cents_per_kwh);
    evc_payload_str(p, "state", central_cp_state_name(cp->state));
    evc_payload_str(p, "state_text", central_cp_state_text(cp->state));
    evc_payload_str(p, "admin_state", cp->stopped ? "STOPPED" : "IN_SERVICE");
    evc_payload_str(p, "engine_health", cp->heard ? central_health_name(cp->health) : NULL);
    evc_payload_bool(p, "monitor_connected", cp->link != NULL);
    evc_payload_bool(p, "engine_on_bus", cp->engine_heard);
    const central_supply *s = central_cp_supply(c, cp);
    if (s && s->phase != CENTRAL_SUPPLY_REQUESTED) {
        evc_payload_int(p, "w", s->w);
        evc_payload_int(p, "wh", s->wh);
        evc_payload_int(p, "cents", s->cents);
        evc_payload_str(p, "driver_id", s->driver_id);
        evc_payload_str(p, "correlation_id", s->id);
        evc_payload_str(p, "session_state", central_supply_phase_name(s->phase));
        /* Same words as the panel (docs/OPERATIONS.md). */
        if (s->phase == CENTRAL_SUPPLY_AUTHORISED && cp->state == CENTRAL_CP_SUPPLYING)
            evc_payload_str(p, "state_detail", CENTRAL_WAITING_FOR_PLUG);
    }
    return evc_payload_finish(p, NULL);
}

char *central_json_supply(const central_supply *s)
{
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "id", s->id);
    evc_payload_str(p, "correlation_id", s->id);
    evc_payload_str(p, "driver_id", s->driver_id);
    evc_payload_str(p, "cp_id", s->cp_id);
    evc_payload_str(p, "state", central_supply_phase_name(s->phase));
    evc_payload_int(p, "w", s->w);
    evc_payload_int(p, "wh", s->wh);
    evc_payload_int(p, "cents", s->cents);
    evc_payload_int(p, "price_cents_per_kwh", s->price_cents_per_kwh);
    evc_payload_str(p, "end_reason", s->end_reason[0] ? s->end_reason : NULL);
    evc_payload_bool(p, "interrupted", s->interrupted);
    evc_payload_int(p, "requested_at", s->requested_at);
    evc_payload_int(p, "started_at", s->started_at);
    evc_payload_int(p, "ended_at", s->ended_at);
    return evc_payload_finish(p, NULL);
}

char *central_json_sessions(central *c)
{
    central_jarr active = {0}, recent = {0};
    for (size_t i = 0; i < c->nopen; i++)
        central_jarr_add(&active, central_json_supply(&c->open[i]));
    for (size_t k = 0; k < c->nrecent; k++) { /* newest first */
        size_t i = (c->recent_next + CENTRAL_RECENT_MAX - 1 - k) % CENTRAL_RECENT_MAX;
        central_jarr_add(&recent, central_json_supply(&c->recent[i]));
    }
    char *a = central_jarr_finish(&active), *r = central_jarr_finish(&recent);
    char *out = NULL;
    if (a && r) {
        evc_payload *p = evc_payload_new();
        evc_payload_raw(p, "active", a);
        evc_payload_raw(p, "recent", r);
        out = evc_payload_finish(p, NULL);
    }
    free(a);
    free(r);
    return out;
}

char *central_json_health(central *c)
{
    size_t connected = c->ncps - c->by_state[CENTRAL_CP_DISCONNECTED];
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "status", "ok");
    evc_payload_int(p, "started_at", c->started_at);
    evc_payload_int(p, "uptime_ms", (int64_t)evc_wall_ms() - c->started_at);
    evc_payload_int(p, "cps", (int64_t)c->ncps);
    evc_payload_int(p, "cps_connected", (int64_t)connected);
    evc_payload_int(p, "monitor_links", c->server ? (int64_t)evc_link_server_count(c->server) : 0);
    evc_payload_int(p, "supplies_open", (int64_t)c->nopen);
    evc_payload_int(p, "dropped_messages", (int64_t)c->dropped);
    evc_payload_int(p, "supplies_billed_late", (int64_t)c->billed_late);
    evc_payload_int(p, "energy_unbillable", (int64_t)c->unbillable);
    evc_payload_int(p, "energy_refused", (int64_t)c->energy_refused);
    evc_payload_int(p, "telemetry_refused", (int64_t)c->telemetry_refused);
    evc_payload_int(p, "balance_floor_stops", (int64_t)c->floor_stops);
    evc_payload_str(p, "registration", c->registration_open ? "open" : "closed");
    /* Bus messages the seal check refused, per reason (docs/SECURITY.md). */
    uint64_t counts[EVC_SEAL_NVERDICTS];
    central_trust_counts(c, counts);
    evc_payload *r = evc_payload_new();
    for (int v = EVC_SEAL_UNSIGNED; v < EVC_SEAL_NVERDICTS; v++)
        evc_payload_int(r, evc_seal_verdict_name((evc_seal_verdict)v), (int64_t)counts[v]);
    char *refused = evc_payload_finish(r, NULL);
    evc_payload_raw(p, "bus_refused", refused ? refused : "{}");
    free(refused);
    return evc_payload_finish(p, NULL);
}
