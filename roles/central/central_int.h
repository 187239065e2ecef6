/* central_int.h: EV_Central's state, shared by the files of the role
 * (central.c life cycle, central_links.c monitors, central_cps.c CP table,
 * central_supply.c supplies, central_panel.c terminal, central_json.c HTTP).
 * Everything runs on the loop thread. */
#ifndef CENTRAL_INT_H
#define CENTRAL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "central_deadline.h"
#include "central_index.h"
#include "central_model.h"
#include "evc/app.h"
#include "evc/link.h"
#include "evc/msg.h"
#include "evc/password.h"
#include "evc/store.h"
#include "evc/uuid.h"

#define CENTRAL_RECENT_MAX 50  /* ended/denied supplies kept for /api/sessions */
#define CENTRAL_EVENTS_MAX 8   /* last events shown under the panel */
#define CENTRAL_PROGRESS_SAVE_MS 10000 /* a supply's running energy/cost stored this often */
#define CENTRAL_LINKS_SPARE 512    /* monitor_max_links 0: CPs in the database plus this */

typedef struct central_cp {
    char id[EVC_STORE_ID_MAX];
    char location[EVC_STORE_TEXT_MAX];
    int64_t price_cents_per_kwh;
    bool stopped;                 /* admin state, persisted */
    evc_link *link;               /* authenticated monitor link, borrowed; NULL when none */
    bool heard;                   /* an HB since Central started */
    bool engine_heard;            /* a sealed message of its engine since Central started */
    uint64_t last_hb_ms;
    central_health health;
    /* The engine ended a supply for a fault: BROKEN until this monotonic
     * time or until an HB reports the health (0 = none). */
    uint64_t fault_until_ms;
    central_cp_state state;       /* last derived, for change detection */
    char supply_id[EVC_STORE_ID_MAX]; /* open supply on it, "" when none */
    uint32_t supply_slot;         /* that supply's index in c->open, CENTRAL_NO_SLOT when none */
    bool touched;                 /* on c->touched: changed since the dashboard's last scan */
} central_cp;

#define CENTRAL_NO_SLOT UINT32_MAX

typedef enum central_supply_phase {
    CENTRAL_SUPPLY_REQUESTED = 0, /* cp.authorise sent, waiting for the reply */
    CENTRAL_SUPPLY_AUTHORISED,    /* waiting for the plug */
    CENTRAL_SUPPLY_SUPPLYING,
    CENTRAL_SUPPLY_ENDED,         /* billed */
    CENTRAL_SUPPLY_DENIED,
} central_supply_phase;

typedef struct central_supply {
    char id[EVC_STORE_ID_MAX];    /* session id == correlation id */
    char driver_id[EVC_STORE_ID_MAX];
    char cp_id[EVC_STORE_ID_MAX];
    central_supply_phase phase;
    int64_t price_cents_per_kwh;
    int64_t w, wh, cents;
    int64_t requested_at, started_at, ended_at; /* wall ms, 0 = not yet */
    uint64_t deadline_ms;         /* REQUESTED: monotonic authorise deadline */
    bool interrupted;             /* driver already told `interrupted` */
    bool floor_stop;              /* cp.cancel balance_floor sent (the ticket says so) */
    bool driver_stop;             /* cp.cancel driver_stop sent (supply.stop; the ticket says so) */
    char end_reason[64];
    uint64_t progress_saved_ms;   /* monotonic time the running figures were last stored, 0 = never */
} central_supply;

typedef struct central_event_line {
    char text[200];
} central_event_line;

typedef struct central_trust central_trust;

typedef struct central {
    evc_app *app;
    evc_loop *loop;
    evc_bus *bus;
    evc_store *store;
    /* config */
    int listen_port;
    bool registration_open;
    evc_password_cost password_cost;
    uint64_t heartbeat_timeout_ms, heartbeat_interval_ms, authorise_timeout_ms;
    uint64_t telemetry_log_ms;    /* plain mode: supplies' kW/kWh/EUR this often, 0 = never */
    uint64_t clock_skew_ms;       /* cp.authorise expires this long before Central gives up */
    int64_t min_balance_cents;
    /* Money checks (docs/PROTOCOL.md M5): energy above max_power_w x time
     * since the request x (100 + tolerance) % is refused; a supply whose
     * running cost would take the balance below the floor is cancelled.
     * max_power_w 0: no bound (unit tests only; the config refuses it). */
    int64_t max_power_w, energy_tolerance_pct, balance_floor_cents;
    int http_port;
    const char *http_host;        /* borrowed from the config */
    const char *t_driver, *t_cp, *t_central; /* topic names, borrowed from the app */
    /* runtime */
    evc_link_server *server;
    struct central_link_ctx *links; /* every open monitor link's context (central_links.c) */
    size_t monitor_max_links;
    size_t monitor_out_queue_max;   /* bytes of replies queued to one monitor */
    uint64_t monitor_slow_reader_ms; /* over that bound this long: the link is closed */
    evc_timer *tick, *hb_timer;
    unsigned ticks;
    int64_t started_at;
    int64_t hb_seq;
    evc_msg_dedup *dedup;
    uint64_t dropped;             /* malformed bus messages */
    uint64_t billed_late;         /* energy of a session not held open, billed anyway */
    uint64_t unbillable;          /* energy reported that no ticket could carry: alarms */
    uint64_t energy_refused;      /* supply.ended over the energy bound: not billed, alarms */
    uint64_t telemetry_refused;   /* telemetry over the power/energy bound: not shown */
    uint64_t floor_stops;         /* supplies cancelled at the balance floor */
    central_cp *cps;              /* owned; a CP keeps its index for Central's life */
    size_t ncps, capcps;
    central_supply *open;         /* owned; supplies not ended, dense (a close moves the last) */
    size_t nopen, capopen;
    /* Indexes and deadlines of the tables above (central_cps.c and
     * central_supply.c keep them in step on every add, move and close). */
    central_index cp_ix;          /* CP id -> index in cps */
    central_index supply_ix;      /* session id -> index in open */
    central_index driver_ix;      /* driver id -> index in open (a driver may have two) */
    size_t drivers_open;          /* distinct drivers with an open supply */
    size_t by_state[5];           /* CPs per central_cp_state */
    central_deadlines cp_due;     /* CP index -> next moment its state may change by itself */
    central_deadlines supply_due; /* open index -> authorise deadline (REQUESTED) */
    uint32_t *touched;            /* owned; CP indexes changed since the dashboard's scan */
    size_t ntouched, captouched;
    uint64_t last_tick_ms;        /* monotonic, of the last tick (0 = none yet) */
    uint64_t hb_floor_ms;         /* after a loop hold: heartbeats count as no older than this */
    uint64_t hold_from_ms;        /* ... for the CPs alive at this moment, when the hold began */
    central_supply recent[CENTRAL_RECENT_MAX]; /* ring of ended/denied */
    size_t nrecent, recent_next;
    central_event_line events[CENTRAL_EVENTS_MAX];
    size_t nevents, events_next;
    /* terminal */
    bool tty;
    evc_watch *stdin_watch;
    char inbuf[512];
    size_t inlen;
    bool in_discard;              /* skipping the rest of an overlong line */
    bool panel_dirty;
    char event_unsaid[240];       /* plain mode: last event no say line covered yet */
    uint64_t telemetry_logged_ms; /* monotonic time of the last telemetry lines */
    void *web;                    /* central_http.c */
    struct central_dash *dash;    /* central_dash.c: the dashboard feed, owned; NULL = none */
    struct central_trust *trust;  /* central_trust.c, owned */
    struct central_relays *relays; /* central_relay.c, owned */
    const char *signing_key_path; /* borrowed; NULL = from the config (tests set it) */
} central;

/* central_cps.c */
int central_cps_load(central *c, evc_error *err);
central_cp *central_cp_find(central *c, const char *id);
central_cp *central_cp_add(central *c, const evc_charging_point *row);
/* The open supply cp->supply_id names (O(1)); NULL when none. */
central_supply *central_cp_supply(central *c, const central_cp *cp);
/* Re-derives the state of one CP, logging and recording changes, and sets
 * the moment it may next change by itself (heartbeat timeout, fault end). */
void central_cp_refresh(central *c, central_cp *cp, const char *why);
/* Re-derives the CPs whose moment has come (the tick): O(due log n). */
void central_cps_refresh_due(central *c);
/* Notes the loop was held (a stopped process, a long stall) for more than
 * CENTRAL_HOLD_MS since the last tick: heartbeats buffered meanwhile get
 * one heartbeat period to arrive before any timeout. */
void central_loop_hold_check(central *c);
#define CENTRAL_HOLD_MS 1000
/* The CP's dashboard tile may have changed: queued for the next scan. */
void central_cp_touch(central *c, central_cp *cp);
/* Frees the tables, their indexes and deadlines (central_destroy, tests). */
void central_tables_free(central *c);
/* Operator stop/resume (F13) of one CP (id) or all (id NULL). Returns the
 * number of CPs changed, -1 for an unknown id. */
int central_cp_admin(central *c, const char *id, bool stop);
/* Operator reset of one CP (type "Soft" or "Hard"): cp.command reset sent
 * and recorded. CENTRAL_RESET_SENT, CENTRAL_RESET_UNKNOWN (no such CP) or
 * CENTRAL_RESET_OFFLINE (DISCONNECTED, or its engine not heard on the bus
 * since Central started: nobody would act on it). The admin state does not
 * change; a supply in progress is billed from the CP's supply.ended. */
typedef enum central_reset_result {
    CENTRAL_RESET_SENT = 0,
    CENTRAL_RESET_UNKNOWN,
    CENTRAL_RESET_OFFLINE,
} central_reset_result;
central_reset_result central_cp_reset(central *c, const char *id, const char *type);
/* Appends one record to the event log and to the panel's last events. */
void central_event(central *c, const char *type, const char *corr, const char *cp_id,
                   const char *driver_id, const char *detail_fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Plain mode: prints the last event if no central_say line said it. */
void central_cps_flush_event(central *c);

/* central_links.c */
int central_links_start(central *c, evc_error *err);
void central_links_stop(central *c);

/* central_supply.c */
int central_supply_start(central *c, evc_error *err);
void central_supply_tick(central *c);  /* authorise deadlines */
central_supply *central_supply_find(central *c, const char *id);
/* The checks of F4 for a request of `driver` at `cp_id` and, when they pass,
 * cp.authorise. `corr` NULL or invalid: a new correlation id. */
void central_supply_request(central *c, const char *driver, const char *cp_id, const char *corr,
                            bool from_cp);

/* central_driver_extra.c: the driver's supply.request at "*" (any free CP),
 * supply.stop and driver.history (docs/PROTOCOL.md M3.3). `driver` is the
 * sender, proven by the seal. True when the message was one of those. */
bool central_driver_extra(central *c, const evc_envelope *env, const char *driver);
/* The CP became BROKEN/DISCONNECTED/STOPPED with a supply on it: tell the
 * driver `interrupted` once (the session is billed on supply.ended). */
void central_supply_interrupt(central *c, central_cp *cp, const char *reason);
/* Publishes `type` on central-events with `key`; payload consumed (freed). */
void central_publish(central *c, const char *key, const char *type, const char *corr,
                     char *payload);
/* central_publish to one driver, sealed with its relay key when one can be
 * made (central_relay_sealer): the live telemetry. Takes payload. */
void central_publish_to_driver(central *c, const char *driver_id, const char *type,
                               const char *corr, char *payload);
void central_send_command(central *c, const char *cp_id, const char *command);
/* cp.command `reset` with its type ("Soft" or "Hard", borrowed): a CP's
 * engine ends a supply in progress (reason `reset`) and is idle again; the
 * OCPP gateway sends the charger Reset of that type. */
void central_send_reset(central *c, const char *cp_id, const char *type);

/* central_panel.c */
int central_panel_start(central *c, evc_error *err);
void central_panel_stop(central *c);
void central_panel_tick(central *c);
void central_panel_print_all(central *c);
/* Plain mode: one line per supplying CP (kW, kWh, EUR) every
 * telemetry_log_ms; no-op on the live panel, which shows them already. */
void central_panel_telemetry(central *c);
/* A human line for the terminal (and the last-events list). */
void central_say(central *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* central_http.c: the HTTP server (GET /api/cps, /api/sessions, /api/health). */
int central_http_start(central *c, evc_error *err);
void central_http_stop(central *c);

/* central_json.c: JSON texts for the HTTP API and the dashboard feed;
 * malloc'd (NULL when out of memory), caller frees. */
char *central_json_cp(central *c, const central_cp *cp);     /* one /api/cps entry */
char *central_json_supply(const central_supply *s);         /* one /api/sessions entry */
const char *central_supply_phase_name(central_supply_phase p); /* "supplying" */
/* A growing "[a,b,...]" of JSON texts. add takes item (malloc'd; NULL marks
 * the array failed); finish returns the array's text (malloc'd, "[]" when
 * empty) or NULL when anything failed, and consumes a. */
typedef struct central_jarr {
    char *buf;
    size_t len, cap;
    bool failed;
} central_jarr;
void central_jarr_add(central_jarr *a, char *item);
char *central_jarr_finish(central_jarr *a);
char *central_json_sessions(central *c);
char *central_json_health(central *c);

#endif
