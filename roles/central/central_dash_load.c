/* central_dash_load.c: what the dashboard feed starts from, read from the
 * store once when Central starts: the drivers, the billed totals (all time
 * and today), the newest tickets, the newest events. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "central_dash.h"

int64_t central_dash_day_start(int64_t now_ms)
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return now_ms - now_ms % 86400000;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * 1000;
}

void central_dash_keep_ticket(central_dash *d, const evc_ticket *t)
{
    size_t at = 0;
    while (at < d->ntickets && d->tickets[at].ended_ms >= t->ended_ms)
        at++;
    if (at >= CENTRAL_DASH_TICKETS)
        return;
    size_t n = d->ntickets < CENTRAL_DASH_TICKETS ? d->ntickets : CENTRAL_DASH_TICKETS - 1;
    memmove(&d->tickets[at + 1], &d->tickets[at], (n - at) * sizeof d->tickets[0]);
    d->tickets[at] = *t;
    if (d->ntickets < CENTRAL_DASH_TICKETS)
        d->ntickets++;
}

typedef struct id_list {
    char (*id)[EVC_STORE_ID_MAX];
    size_t n, cap;
    bool failed;
} id_list;

static int on_user(void *arg, const evc_user *u)
{
    id_list *l = arg;
    if (u->role != EVC_ROLE_DRIVER)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        void *p = realloc(l->id, cap * sizeof *l->id);
        if (!p) {
            l->failed = true;
            return 1;
        }
        l->id = p;
        l->cap = cap;
    }
    memcpy(l->id[l->n++], u->id, EVC_STORE_ID_MAX);
    return 0;
}

void central_dash_count_ticket(central_dash *d, const evc_ticket *t)
{
    d->tickets_total++;
    d->energy_total_wh += t->energy_wh;
    d->revenue_total_cents += t->amount_cents;
    if (t->ended_ms >= d->today_start_ms) {
        d->energy_today_wh += t->energy_wh;
        d->revenue_today_cents += t->amount_cents;
    }
    central_dash_keep_ticket(d, t);
}

static int on_ticket(void *arg, const evc_ticket *t)
{
    central_dash_count_ticket(arg, t);
    return 0;
}

int central_dash_load_tickets(central_dash *d, evc_error *err)
{
    /* The store lists tickets by driver: list the drivers first (nested
     * lists would hold two statements of one connection open). */
    id_list l = {0};
    int rc = evc_store_user_list(d->c->store, on_user, &l, err);
    if (rc == EVC_OK && l.failed)
        rc = evc_error_set(err, EVC_ENOMEM, "dashboard: out of memory listing drivers");
    d->drivers = (int64_t)l.n;
    for (size_t i = 0; rc == EVC_OK && i < l.n; i++)
        rc = evc_store_ticket_list_by_driver(d->c->store, l.id[i], 0, on_ticket, d, err);
    free(l.id);
    return rc;
}

void central_dash_keep_event(central_dash *d, const evc_event *e)
{
    central_dash_rec *x = &d->events[d->ev_next];
    memset(x, 0, sizeof *x);
    x->ts = e->ts_ms;
    snprintf(x->type, sizeof x->type, "%s", e->type ? e->type : "");
    snprintf(x->corr, sizeof x->corr, "%s", e->correlation_id ? e->correlation_id : "");
    const char *dj = e->detail_json ? e->detail_json : "{}";
    size_t len = strlen(dj);
    evc_web_json_str(dj, len, "cp_id", x->cp, sizeof x->cp);
    evc_web_json_str(dj, len, "driver_id", x->driver, sizeof x->driver);
    if (!evc_web_json_str(dj, len, "text", x->text, sizeof x->text))
        snprintf(x->text, sizeof x->text, "%.199s", dj);
    d->ev_next = (d->ev_next + 1) % CENTRAL_DASH_EVENTS;
    if (d->nev < CENTRAL_DASH_EVENTS)
        d->nev++;
}

static int on_event(void *arg, const evc_event *e)
{
    central_dash_keep_event(arg, e);
    return 0;
}

static int on_probe(void *arg, const evc_event *e)
{
    *(int64_t *)arg = e->seq;
    return 0;
}

/* Whether a record with seq > after exists (its seq in *seen). */
static int probe(evc_store *s, int64_t after, bool *found, evc_error *err)
{
    int64_t seen = -1;
    int rc = evc_store_event_list(s, after, 1, on_probe, &seen, err);
    *found = rc == EVC_OK && seen > after;
    return rc;
}

int central_dash_load_events(central_dash *d, evc_error *err)
{
    /* The log is append-only and may be long: find its last seq in
     * O(log n) indexed look-ups, then read only the tail. */
    evc_store *s = d->c->store;
    bool found = false;
    int rc = probe(s, 0, &found, err);
    if (rc != EVC_OK || !found)
        return rc;
    int64_t lo = 0, hi = 1; /* a record exists after lo; none after hi (once found) */
    for (;;) {
        rc = probe(s, hi, &found, err);
        if (rc != EVC_OK)
            return rc;
        if (!found)
            break;
        lo = hi;
        if (hi > INT64_MAX / 2)
            break;
        hi *= 2;
    }
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        rc = probe(s, mid, &found, err);
        if (rc != EVC_OK)
            return rc;
        if (found)
            lo = mid;
        else
            hi = mid;
    }
    int64_t after = hi > CENTRAL_DASH_EVENTS ? hi - CENTRAL_DASH_EVENTS : 0;
    return evc_store_event_list(s, after, CENTRAL_DASH_EVENTS, on_event, d, err);
}
