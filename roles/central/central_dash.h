/* central_dash.h: the admin dashboard's live feed, WebSocket channel
 * /ws/admin of Central's HTTP port (docs/WEB.md "WebSocket /ws/admin").
 *
 * A client gets a snapshot when it connects (CPs, open supplies, figures,
 * the power of the last 10 minutes, recent tickets, recent events, users),
 * then pushes: changed CPs within CENTRAL_DASH_SCAN_MS, a tick every second
 * (open supplies, figures, one power sample), each event and each ticket as
 * it happens, the users after a change of balance. Everything runs on the
 * loop thread; the web bridge bounds each client's queue.
 */
#ifndef CENTRAL_DASH_H
#define CENTRAL_DASH_H

#include "central_int.h"
#include "evc/web.h"

#define CENTRAL_DASH_CHANNEL "/ws/admin"
#define CENTRAL_DASH_SCAN_MS 100
#define CENTRAL_DASH_EVENTS 200   /* in a snapshot */
#define CENTRAL_DASH_TICKETS 20   /* in a snapshot */
#define CENTRAL_DASH_POWER 600    /* samples, one a second: 10 minutes */
#define CENTRAL_DASH_USERS 500    /* listed; the figure counts them all */

typedef struct central_dash_rec {
    int64_t ts;
    char type[48];
    char cp[EVC_STORE_ID_MAX], driver[EVC_STORE_ID_MAX], corr[EVC_STORE_ID_MAX];
    char text[200];
} central_dash_rec;

/* What a CP tile shows, but the live figures (those come every tick): a
 * change of any of it is pushed. Compared with memcmp: zeroed first. */
typedef struct central_dash_sig {
    central_cp_state state;
    central_health health;
    int phase;
    bool stopped, link, heard, engine_heard;
    char supply_id[EVC_STORE_ID_MAX];
    int64_t price;
} central_dash_sig;

typedef struct central_dash {
    central *c;
    evc_web *web;                 /* borrowed */
    evc_timer *tick, *scan;
    central_dash_rec events[CENTRAL_DASH_EVENTS]; /* ring, oldest at ev_next when full */
    size_t nev, ev_next;
    evc_ticket tickets[CENTRAL_DASH_TICKETS];       /* newest first */
    size_t ntickets;
    int64_t power_t[CENTRAL_DASH_POWER], power_w[CENTRAL_DASH_POWER]; /* ring */
    size_t npower, power_next;
    /* Billed, from the store at start then as tickets come. */
    int64_t energy_total_wh, revenue_total_cents, tickets_total;
    int64_t energy_today_wh, revenue_today_cents, today_start_ms;
    int64_t drivers;
    central_dash_sig *sigs;       /* one per c->cps entry, same index */
    size_t nsigs;
} central_dash;

/* Declares the channel on web (borrowed; must outlive the feed) and loads
 * the totals, recent tickets and recent events from the store. Sets c->dash.
 * Errors of the web bridge, EVC_ENOMEM. */
int central_dash_start(central *c, evc_web *web, evc_error *err);
/* Stops the timers and frees c->dash (NULL-safe); before the web server. */
void central_dash_stop(central *c);

/* Hooks (no-ops while c->dash is NULL). Strings borrowed for the call. */
void central_dash_event(central *c, const char *type, const char *corr, const char *cp_id,
                        const char *driver_id, const char *text);
void central_dash_ticket(central *c, const evc_ticket *t);

/* central_dash_load.c: what the feed starts from. */
/* Local midnight of the day of wall time now_ms. */
int64_t central_dash_day_start(int64_t now_ms);
/* Counts the drivers, adds up every ticket (total and today), keeps the
 * newest CENTRAL_DASH_TICKETS. O(tickets): once, at start. */
int central_dash_load_tickets(central_dash *d, evc_error *err);
/* The newest CENTRAL_DASH_EVENTS records of the event log. */
int central_dash_load_events(central_dash *d, evc_error *err);
/* Appends e (detail_json {"cp_id","driver_id","text"}) to the ring. */
void central_dash_keep_event(central_dash *d, const evc_event *e);
/* Adds t to the totals (today's too when it ended today) and keeps it if
 * it is among the newest. */
void central_dash_count_ticket(central_dash *d, const evc_ticket *t);
/* Keeps t if it is among the newest tickets (by ended time). */
void central_dash_keep_ticket(central_dash *d, const evc_ticket *t);

#endif
