/* driver_web.h: the driver's web page, shared by driver_web.c (server,
 * guard, login, cookies) and driver_web_feed.c (the live feed and the
 * supply routes). docs/WEB.md "The driver dashboard". Loop thread only. */
#ifndef DRIVER_WEB_H
#define DRIVER_WEB_H

#include "driver_app.h"
#include "evc/web.h"

#define DRIVER_WEB_CHANNEL "/ws/driver"
#define DRIVER_WEB_STEPS 16     /* steps of one supply kept for the page */
#define DRIVER_WEB_POINTS 600   /* power chart: 10 minutes at 1 Hz */
#define DRIVER_WEB_LINES 60     /* the app's last stdout lines */
#define DRIVER_WEB_TICKETS 20   /* this run's newest tickets in the snapshot */
#define DRIVER_WEB_REVOKED 16   /* logged-out cookies remembered (until restart) */

typedef struct driver_web_step {
    char step[24], reason[64], text[DRIVER_TEXT_MAX];
    int64_t ts;
} driver_web_step;

/* The supply the page shows: the FSM's current one, or the last one ended. */
typedef struct driver_web_supply {
    char session_id[DRIVER_SESSION_MAX];
    char cp_id[DRIVER_ID_MAX + 1];
    driver_web_step steps[DRIVER_WEB_STEPS];
    size_t nsteps;
    int64_t w, wh, cents;
    int64_t requested_at, started_at; /* wall ms; 0 = not yet */
    int64_t pt_t[DRIVER_WEB_POINTS];  /* power chart: wall ms, W */
    int64_t pt_w[DRIVER_WEB_POINTS];
    size_t npts, pt_next;
    bool ended;
    bool has_ticket;
    driver_ticket ticket;
} driver_web_supply;

typedef struct driver_web_line {
    int kind; /* driver_line_kind */
    int64_t ts;
    char text[DRIVER_LINE_MAX];
} driver_web_line;

struct web_login;

typedef struct driver_web {
    driver_app *a;
    evc_web *web;
    uint64_t ttl_s;
    char cookie_name[DRIVER_ID_MAX + 16];
    evc_web_throttle *throttle;
    struct web_login *login; /* the page login in flight, NULL when none */
    char revoked[DRIVER_WEB_REVOKED][EVC_PROOF_HEX_SIZE];
    size_t revoked_next;
    /* feed */
    bool has_sup;
    driver_web_supply sup;
    char *cps;             /* the last driver.cps list as JSON text, owned */
    driver_web_line lines[DRIVER_WEB_LINES];
    size_t nlines, line_next;
    char *status;          /* last status pushed, owned: pushed again on change */
    uint64_t next_tick_ms, next_list_ms;
} driver_web;

/* driver_web.c */
void driver_web_login_tick(driver_web *w, uint64_t now);
void driver_web_recheck(driver_web *w);

/* driver_web_feed.c */
int driver_web_feed_start(driver_web *w, evc_error *err);
void driver_web_feed_free(driver_web *w);
/* {"type":"status",...}: CENTRAL, login, balance, request (malloc'd). */
char *driver_web_status_json(driver_web *w);
void driver_web_push(driver_web *w, char *json); /* consumes json */

#endif
