/* driver_fsm_internal.h: the FSM's state, shared by driver_fsm.c (events and
 * time) and driver_fsm_cmd.c (user commands and views). */
#ifndef DRIVER_FSM_INTERNAL_H
#define DRIVER_FSM_INTERNAL_H

#include "driver_fsm.h"

struct driver_fsm {
    driver_fsm_config cfg;
    char driver_id[DRIVER_ID_MAX + 1];
    driver_fsm_ops ops;
    uint64_t started_ms;
    bool started;

    /* CENTRAL liveness */
    bool alive, ever_seen, lost_reported;
    uint64_t last_hb_ms;
    bool bus_joining;           /* the bus does not deliver yet (driver_fsm_bus_joining) */
    uint64_t bus_live_ms;       /* when it began to; 0 = from the start */
    int64_t central_started_at; /* from the heartbeat; 0 unknown */

    /* authentication */
    bool hello_needed;    /* send driver.hello at the next chance */
    bool hello_sent;
    uint64_t hello_sent_ms;
    uint64_t hello_retry_ms;  /* CENTRAL said busy: hello again then; 0 = none */
    bool auth_answered;   /* an auth_reply since CENTRAL was last (re)found */
    bool auth_ok, ever_answered;
    char auth_reason[DRIVER_TEXT_MAX];
    uint64_t auth_answered_ms;
    int64_t balance_cents;
    bool balance_known;

    /* CPs CENTRAL listed (union of every driver.cps) */
    char (*known)[DRIVER_ID_MAX + 1];
    size_t nknown;
    bool cps_known, list_wanted;

    /* services file */
    driver_service *services;
    size_t nservices, next_service;
    char services_file[256];
    bool run_active, run_begun;
    uint64_t next_at_ms;

    /* current request */
    driver_req_state state;
    char cp_id[DRIVER_ID_MAX + 1];
    char session_id[DRIVER_SESSION_MAX];
    uint64_t deadline_ms; /* 0: none (or paused while CENTRAL is away) */
    bool from_services;
    unsigned service_line; /* its line in the services file, 0 if none */

    driver_record *records;
    size_t nrecords;
    driver_ticket *tickets; /* shown this run, in order; dedup by session */
    size_t ntickets;
};

/* Makes a request (QUEUED) with a fresh correlation id. */
void driver_fsm_request_make(driver_fsm *f, uint64_t now, const char *cp, bool services);
/* Sends what can be sent now: driver.hello, then a queued request. */
void driver_fsm_pump(driver_fsm *f, uint64_t now);
/* A CP id as lines show it: "any free CP" for "*". */
const char *driver_fsm_cp_words(const char *cp_id);
void driver_fsm_say(driver_fsm *f, driver_line_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
