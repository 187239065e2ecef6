/* central_dash.c: the admin dashboard's live feed (central_dash.h,
 * docs/WEB.md). Pushes only while someone watches: the scan of CP changes
 * and the JSON of a tick cost nothing without clients. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central_dash.h"
#include "evc/log.h"

static bool watched(const central_dash *d)
{
    return evc_web_ws_clients(d->web, CENTRAL_DASH_CHANNEL) > 0;
}

static void push(central_dash *d, char *json)
{
    if (!json) {
        evc_log(EVC_LOG_WARN, "central", NULL, "dashboard: out of memory, an update is lost");
        return;
    }
    int rc = evc_web_broadcast(d->web, CENTRAL_DASH_CHANNEL, json, strlen(json));
    if (rc != EVC_OK)
        evc_log(EVC_LOG_WARN, "central", NULL, "dashboard: update not queued (%s)",
                evc_status_name(rc));
    free(json);
}

/* ---- JSON pieces ---------------------------------------------------------- */

static char *event_json(const central_dash_rec *e)
{
    evc_payload *p = evc_payload_new();
    evc_payload_int(p, "ts", e->ts);
    evc_payload_str(p, "type", e->type);
    evc_payload_str(p, "cp_id", e->cp[0] ? e->cp : NULL);
    evc_payload_str(p, "driver_id", e->driver[0] ? e->driver : NULL);
    evc_payload_str(p, "correlation_id", e->corr[0] ? e->corr : NULL);
    evc_payload_str(p, "text", e->text);
    return evc_payload_finish(p, NULL);
}

static char *ticket_json(const evc_ticket *t)
{
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "session_id", t->session_id);
    evc_payload_str(p, "correlation_id", t->session_id);
    evc_payload_str(p, "driver_id", t->driver_id);
    evc_payload_str(p, "cp_id", t->cp_id);
    evc_payload_int(p, "energy_wh", t->energy_wh);
    evc_payload_int(p, "price_cents_per_kwh", t->price_cents_per_kwh);
    evc_payload_int(p, "amount_cents", t->amount_cents);
    evc_payload_int(p, "started_at", t->started_ms);
    evc_payload_int(p, "ended_at", t->ended_ms);
    evc_payload_str(p, "end_reason", t->end_reason);
    return evc_payload_finish(p, NULL);
}

static int64_t power_now(const central *c)
{
    int64_t w = 0;
    for (size_t i = 0; i < c->nopen; i++)
        if (c->open[i].phase == CENTRAL_SUPPLY_SUPPLYING && !c->open[i].interrupted)
            w += c->open[i].w;
    return w;
}

static char *figures_json(central_dash *d)
{
    central *c = d->c;
    evc_payload *s = evc_payload_new();
    for (int st = CENTRAL_CP_ACTIVATED; st >= CENTRAL_CP_DISCONNECTED; st--)
        evc_payload_int(s, central_cp_state_name((central_cp_state)st), (int64_t)c->by_state[st]);
    char *states = evc_payload_finish(s, NULL);
    /* Drivers charging now: distinct driver ids of the open supplies. */
    int64_t charging = (int64_t)c->drivers_open;
    evc_payload *p = evc_payload_new();
    evc_payload_int(p, "cps_total", (int64_t)c->ncps);
    evc_payload_raw(p, "cps_by_state", states ? states : "{}");
    free(states);
    evc_payload_int(p, "supplies_active", (int64_t)c->nopen);
    evc_payload_int(p, "power_w", power_now(c));
    evc_payload_int(p, "energy_today_wh", d->energy_today_wh);
    evc_payload_int(p, "revenue_today_cents", d->revenue_today_cents);
    evc_payload_int(p, "energy_total_wh", d->energy_total_wh);
    evc_payload_int(p, "revenue_total_cents", d->revenue_total_cents);
    evc_payload_int(p, "tickets_total", d->tickets_total);
    evc_payload_int(p, "drivers", d->drivers);
    evc_payload_int(p, "drivers_charging", charging);
    return evc_payload_finish(p, NULL);
}

static char *supplies_json(central *c)
{
    central_jarr a = {0};
    for (size_t i = 0; i < c->nopen; i++)
        central_jarr_add(&a, central_json_supply(&c->open[i]));
    return central_jarr_finish(&a);
}

typedef struct users_ctx {
    central_jarr a;
    size_t n;
} users_ctx;

static int on_user(void *arg, const evc_user *u)
{
    users_ctx *x = arg;
    if (x->n++ >= CENTRAL_DASH_USERS)
        return 1;
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "id", u->id);
    evc_payload_str(p, "role", evc_user_role_name(u->role));
    evc_payload_int(p, "balance_cents", u->balance_cents);
    central_jarr_add(&x->a, evc_payload_finish(p, NULL));
    return 0;
}

static char *users_json(central *c)
{
    users_ctx x = {0};
    evc_error err = {0};
    int rc = evc_store_user_list(c->store, on_user, &x, &err);
    if (rc != EVC_OK)
        evc_log(EVC_LOG_WARN, "central", NULL, "dashboard: users: %s", err.msg);
    return central_jarr_finish(&x.a);
}

/* ---- messages ------------------------------------------------------------- */

/* Adds a raw member and frees its text; a NULL text fails the payload. */
static void raw_take(evc_payload *p, const char *key, char *json, bool *failed)
{
    if (!json)
        *failed = true;
    else
        evc_payload_raw(p, key, json);
    free(json);
}

static char *snapshot_json(central_dash *d)
{
    central *c = d->c;
    bool failed = false;
    central_jarr cps = {0}, power = {0}, tickets = {0}, events = {0};
    for (size_t i = 0; i < c->ncps; i++)
        central_jarr_add(&cps, central_json_cp(c, &c->cps[i]));
    for (size_t k = 0; k < d->npower; k++) {
        size_t i = (d->power_next + CENTRAL_DASH_POWER - d->npower + k) % CENTRAL_DASH_POWER;
        char pt[48];
        snprintf(pt, sizeof pt, "[%lld,%lld]", (long long)d->power_t[i],
                 (long long)d->power_w[i]);
        central_jarr_add(&power, strdup(pt));
    }
    for (size_t i = 0; i < d->ntickets; i++)
        central_jarr_add(&tickets, ticket_json(&d->tickets[i]));
    for (size_t k = 0; k < d->nev; k++) {
        size_t i = (d->ev_next + CENTRAL_DASH_EVENTS - d->nev + k) % CENTRAL_DASH_EVENTS;
        central_jarr_add(&events, event_json(&d->events[i]));
    }
    evc_payload *info = evc_payload_new();
    evc_payload_int(info, "started_at", c->started_at);
    evc_payload_str(info, "registration", c->registration_open ? "open" : "closed");
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "type", "snapshot");
    evc_payload_int(p, "now", (int64_t)evc_wall_ms());
    raw_take(p, "central", evc_payload_finish(info, NULL), &failed);
    raw_take(p, "cps", central_jarr_finish(&cps), &failed);
    raw_take(p, "supplies", supplies_json(c), &failed);
    raw_take(p, "figures", figures_json(d), &failed);
    raw_take(p, "power", central_jarr_finish(&power), &failed);
    raw_take(p, "tickets", central_jarr_finish(&tickets), &failed);
    raw_take(p, "events", central_jarr_finish(&events), &failed);
    raw_take(p, "users", users_json(c), &failed);
    char *out = evc_payload_finish(p, NULL);
    if (failed) {
        free(out);
        return NULL;
    }
    return out;
}

static void push_users(central_dash *d)
{
    evc_payload *p = evc_payload_new();
    bool failed = false;
    evc_payload_str(p, "type", "users");
    raw_take(p, "users", users_json(d->c), &failed);
    char *out = evc_payload_finish(p, NULL);
    if (failed) {
        free(out);
        out = NULL;
    }
    push(d, out);
}

/* ---- timers --------------------------------------------------------------- */

static void sig_of(central *c, const central_cp *cp, central_dash_sig *s)
{
    memset(s, 0, sizeof *s);
    s->state = cp->state;
    s->health = cp->health;
    s->stopped = cp->stopped;
    s->link = cp->link != NULL;
    s->heard = cp->heard;
    s->engine_heard = cp->engine_heard;
    s->price = cp->price_cents_per_kwh;
    memcpy(s->supply_id, cp->supply_id, sizeof s->supply_id);
    const central_supply *su = central_cp_supply(c, cp);
    s->phase = su ? (int)su->phase : -1;
}

/* Pushes the CPs whose tile changed since the last scan: only those touched
 * meanwhile (c->touched) are looked at. Their signatures are kept up to date
 * when nobody watches too, so that a change back to an old tile after a
 * snapshot is still a change. */
static void on_scan(evc_timer *t, void *arg)
{
    (void)t;
    central_dash *d = arg;
    central *c = d->c;
    if (d->nsigs < c->ncps) {
        central_dash_sig *n = realloc(d->sigs, c->ncps * sizeof *n);
        if (!n)
            return;
        /* A new CP's signature is all 0xff: it differs, so it is pushed. */
        memset(n + d->nsigs, 0xff, (c->ncps - d->nsigs) * sizeof *n);
        d->sigs = n;
        d->nsigs = c->ncps;
    }
    bool watching = watched(d);
    central_jarr a = {0};
    size_t changed = 0;
    for (size_t k = 0; k < c->ntouched; k++) {
        uint32_t i = c->touched[k];
        if (i >= c->ncps)
            continue;
        central_cp *cp = &c->cps[i];
        cp->touched = false;
        central_dash_sig s;
        sig_of(c, cp, &s);
        if (memcmp(&s, &d->sigs[i], sizeof s) == 0)
            continue;
        d->sigs[i] = s;
        if (watching) {
            central_jarr_add(&a, central_json_cp(c, cp));
            changed++;
        }
    }
    c->ntouched = 0;
    char *arr = central_jarr_finish(&a);
    if (changed && arr) {
        evc_payload *p = evc_payload_new();
        evc_payload_str(p, "type", "cps");
        evc_payload_raw(p, "cps", arr);
        push(d, evc_payload_finish(p, NULL));
    }
    free(arr);
}

static void on_tick(evc_timer *t, void *arg)
{
    (void)t;
    central_dash *d = arg;
    int64_t now = (int64_t)evc_wall_ms();
    int64_t day = central_dash_day_start(now);
    if (day != d->today_start_ms) { /* a new day: today's figures start again */
        d->today_start_ms = day;
        d->energy_today_wh = d->revenue_today_cents = 0;
    }
    int64_t w = power_now(d->c);
    d->power_t[d->power_next] = now;
    d->power_w[d->power_next] = w;
    d->power_next = (d->power_next + 1) % CENTRAL_DASH_POWER;
    if (d->npower < CENTRAL_DASH_POWER)
        d->npower++;
    if (!watched(d))
        return;
    /* Sessions expire and end: their feeds stop within a second. */
    evc_web_ws_recheck(d->web, CENTRAL_DASH_CHANNEL);
    bool failed = false;
    char pt[48];
    snprintf(pt, sizeof pt, "[%lld,%lld]", (long long)now, (long long)w);
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "type", "tick");
    evc_payload_int(p, "now", now);
    raw_take(p, "supplies", supplies_json(d->c), &failed);
    raw_take(p, "figures", figures_json(d), &failed);
    evc_payload_raw(p, "power", pt);
    char *out = evc_payload_finish(p, NULL);
    if (failed) {
        free(out);
        out = NULL;
    }
    push(d, out);
}

static void on_open(evc_web *web, evc_web_client *client, void *arg)
{
    (void)web;
    central_dash *d = arg;
    /* Changes already in the snapshot may come again with the next scan:
     * the page merges CPs by id, a repeat changes nothing. */
    char *snap = snapshot_json(d);
    if (!snap) {
        evc_log(EVC_LOG_WARN, "central", NULL, "dashboard: out of memory for a snapshot");
        return;
    }
    int rc = evc_web_ws_send(client, snap, strlen(snap));
    if (rc != EVC_OK)
        evc_log(EVC_LOG_WARN, "central", NULL, "dashboard: snapshot not queued (%s)",
                evc_status_name(rc));
    free(snap);
}

/* ---- hooks ---------------------------------------------------------------- */

void central_dash_event(central *c, const char *type, const char *corr, const char *cp_id,
                        const char *driver_id, const char *text)
{
    central_dash *d = c->dash;
    if (!d)
        return;
    evc_payload *dp = evc_payload_new();
    evc_payload_str(dp, "cp_id", cp_id);
    evc_payload_str(dp, "driver_id", driver_id);
    evc_payload_str(dp, "text", text);
    char *detail = evc_payload_finish(dp, NULL);
    evc_event e = {.type = type, .correlation_id = corr, .detail_json = detail,
                   .ts_ms = (int64_t)evc_wall_ms()};
    central_dash_keep_event(d, &e);
    free(detail);
    if (!watched(d))
        return;
    size_t last = (d->ev_next + CENTRAL_DASH_EVENTS - 1) % CENTRAL_DASH_EVENTS;
    char *ev = event_json(&d->events[last]);
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "type", "event");
    evc_payload_raw(p, "event", ev ? ev : "null");
    free(ev);
    push(d, evc_payload_finish(p, NULL));
}

void central_dash_ticket(central *c, const evc_ticket *t)
{
    central_dash *d = c->dash;
    if (!d)
        return;
    central_dash_count_ticket(d, t);
    if (!watched(d))
        return;
    char *tj = ticket_json(t);
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "type", "ticket");
    evc_payload_raw(p, "ticket", tj ? tj : "null");
    free(tj);
    push(d, evc_payload_finish(p, NULL));
    push_users(d); /* the driver's balance moved */
}

/* ---- life cycle ----------------------------------------------------------- */

int central_dash_start(central *c, evc_web *web, evc_error *err)
{
    central_dash *d = calloc(1, sizeof *d);
    if (!d)
        return evc_error_set(err, EVC_ENOMEM, "dashboard: out of memory");
    d->c = c;
    d->web = web;
    d->today_start_ms = central_dash_day_start((int64_t)evc_wall_ms());
    int rc = c->store ? central_dash_load_tickets(d, err) : EVC_OK;
    if (rc == EVC_OK && c->store)
        rc = central_dash_load_events(d, err);
    if (rc == EVC_OK)
        rc = evc_web_ws_channel(web, CENTRAL_DASH_CHANNEL, NULL, on_open, d, err);
    if (rc == EVC_OK)
        rc = evc_loop_timer(c->loop, 1000, 1000, on_tick, d, &d->tick, err);
    if (rc == EVC_OK)
        rc = evc_loop_timer(c->loop, CENTRAL_DASH_SCAN_MS, CENTRAL_DASH_SCAN_MS, on_scan, d,
                            &d->scan, err);
    c->dash = d;
    if (rc != EVC_OK)
        central_dash_stop(c);
    return rc;
}

void central_dash_stop(central *c)
{
    central_dash *d = c->dash;
    if (!d)
        return;
    evc_timer_close(d->tick);
    evc_timer_close(d->scan);
    free(d->sigs);
    free(d);
    c->dash = NULL;
}
