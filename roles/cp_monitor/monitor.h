/* monitor.h: EV_CP_M's state, shared by its files:
 *   main.c             role table, config schema, options
 *   monitor_core.c     start/stop, terminal lines
 *   monitor_central.c  the link to Central (AUTH, HB, denial backoff)
 *   monitor_engine.c   the link to the engine (HELLO, PING/PONG)
 *   monitor_health.c   the engine's health state machine (pure)
 * Everything runs on the loop thread. */
#ifndef MONITOR_H
#define MONITOR_H

#include <stdbool.h>
#include <stdint.h>

#include "evc/addr.h"
#include "evc/app.h"
#include "evc/link.h"
#include "monitor_health.h"

#define MONITOR_ID_MAX 64

typedef struct monitor_cfg {
    evc_addr engine, central;
    char cp_id[MONITOR_ID_MAX + 1];
    char location[256];
    int64_t price_cents_per_kwh;
    char secret[256];
    int64_t health_interval_ms, health_timeout_ms, heartbeat_interval_ms;
    int64_t engine_grace_ms;     /* at start: an engine not reached yet is no fault */
    int64_t backoff_min_ms, backoff_max_ms;
    int64_t deny_retry_min_ms, deny_retry_max_ms;
} monitor_cfg;

typedef enum monitor_central_state {
    MONITOR_C_CONNECTING = 0, /* never connected yet */
    MONITOR_C_DOWN,           /* "Unable to connect to CENTRAL" shown */
    MONITOR_C_AUTHENTICATING, /* AUTH sent */
    MONITOR_C_DENIED,         /* AUTH_DENIED; re-AUTH after a backoff */
    MONITOR_C_ACCEPTED,
} monitor_central_state;

typedef struct monitor {
    evc_app *app;
    evc_loop *loop;
    monitor_cfg cfg;
    bool tty;
    bool stopping;
    unsigned said;               /* lines printed (tests check "once per transition") */
    char last_said[256];

    /* Central */
    evc_link_client *central;
    evc_link *central_link;
    monitor_central_state cstate;
    uint64_t accepted_ms;
    bool ever_accepted;          /* the id is confirmed: HELLO may go to the engine */
    char denied_text[256];       /* last denial shown (printed again only when it changes) */
    uint64_t deny_backoff_ms;
    evc_timer *reauth;           /* one-shot re-AUTH after a denial */
    evc_timer *heartbeat;

    /* Engine */
    evc_link_client *engine;
    evc_link *engine_link;
    bool hello_ok;
    bool engine_shown_down;      /* "Engine not answering" printed */
    uint64_t ping_seq;
    evc_timer *ping;
    evc_timer *check;            /* health timeout, every 100 ms */
    monitor_health_sm health;
} monitor;

/* monitor_core.c */
void monitor_cfg_defaults(monitor_cfg *c);
int monitor_core_start(monitor *m, evc_error *err);
/* Closes both links and waits (bounded) for their on_close. */
void monitor_core_stop(monitor *m);
/* One line on stdout (coloured on a terminal); counted in m->said. */
void monitor_say(monitor *m, const char *colour, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define MONITOR_GREEN "\033[32m"
#define MONITOR_RED "\033[31m"
#define MONITOR_YELLOW "\033[33m"

/* monitor_central.c */
int monitor_central_start(monitor *m, evc_error *err);
void monitor_central_stop(monitor *m);
/* Sends an HB now (no-op unless accepted). */
void monitor_send_hb(monitor *m);

/* monitor_engine.c */
int monitor_engine_start(monitor *m, evc_error *err);
void monitor_engine_stop(monitor *m);
/* Central confirmed the id: tell the engine (HELLO) when its link is up. */
void monitor_engine_hello(monitor *m);

#endif
