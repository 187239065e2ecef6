/* driver_fsm.h: the driver's decisions, without a bus, a loop or a terminal.
 *
 * The FSM is fed events (CENTRAL's heartbeat and replies, supply steps,
 * telemetry, tickets, user commands, the passing of time) with the current
 * monotonic time, and acts through driver_fsm_ops: messages to send, lines
 * to print, "the services file is done". driver_app.c wires it to the bus and
 * stdin; the unit tests drive it directly with a fake clock.
 *
 * One request at a time: QUEUED (made; waits for CENTRAL to be alive and to
 * have answered driver.hello) -> SENT (supply.request published; no answer
 * yet) -> ACTIVE (CENTRAL answered: received ... supplying) -> ENDING
 * (interrupted/ended seen; waits for the ticket) -> IDLE. denied ends it at
 * once; a ticket ends it; request_timeout_ms without any answer while CENTRAL
 * is alive (SENT, or QUEUED with hello unanswered), or without the ticket
 * after the end (ENDING), ends it as failed. The deadline pauses while CENTRAL
 * is away and restarts when it returns. With a services file, the next id is
 * requested wait_between_ms after the previous request ended (F12).
 *
 * Thread: one (the loop thread). Strings passed in are borrowed for the call.
 */
#ifndef DRIVER_FSM_H
#define DRIVER_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver_format.h"
#include "driver_services.h"

typedef enum driver_send {
    DRIVER_SEND_HELLO = 1, /* driver.hello */
    DRIVER_SEND_SYNC,      /* driver.sync */
    DRIVER_SEND_LIST,      /* driver.list_cps */
    DRIVER_SEND_REQUEST,   /* supply.request: cp_id, session_id */
    DRIVER_SEND_ACK,       /* supply.ticket_ack: session_id (cp_id too) */
    DRIVER_SEND_STOP,      /* supply.stop: session_id (cp_id too) */
} driver_send;

/* What a user command did (the web routes answer with it). */
typedef enum driver_cmd_rc {
    DRIVER_CMD_OK = 0,
    DRIVER_CMD_INVALID, /* bad CP id */
    DRIVER_CMD_BUSY,    /* a request is already in progress */
    DRIVER_CMD_RUNNING, /* the services file is running */
    DRIVER_CMD_NONE,    /* stop: nothing to stop */
    DRIVER_CMD_AWAY,    /* CENTRAL is not reachable now */
    DRIVER_CMD_FAILED,  /* could not be sent */
} driver_cmd_rc;

/* The cp_id of a request for any free CP (docs/PROTOCOL.md M3.3); the
 * commands also take "any". Shown as DRIVER_ANY_WORDS until CENTRAL names
 * the CP it picked. */
#define DRIVER_ANY_CP "*"
#define DRIVER_ANY_WORDS "any free CP"

typedef enum driver_line_kind {
    DRIVER_LINE_INFO = 0,
    DRIVER_LINE_GOOD, /* authorised, supplying, ticket: green on a terminal */
    DRIVER_LINE_WARN, /* waiting, skipped, interrupted: yellow */
    DRIVER_LINE_BAD,  /* denied, failed, CENTRAL unreachable: red */
} driver_line_kind;

typedef struct driver_fsm_ops {
    void *arg;
    /* Publishes a message; EVC_OK or an error (the FSM retries later where
     * it matters: hello and requests). cp_id/session_id may be NULL. */
    int (*send)(void *arg, driver_send what, const char *cp_id, const char *session_id);
    /* One stdout line (no newline). */
    void (*print)(void *arg, driver_line_kind kind, const char *line);
    /* The services file is done and exit_when_done is set. */
    void (*done)(void *arg, int exit_code);
    /* A fresh correlation id (UUIDv4) for a new request. */
    int (*new_session)(void *arg, char out[DRIVER_SESSION_MAX]);
} driver_fsm_ops;

typedef struct driver_fsm_config {
    const char *driver_id;        /* copied */
    uint64_t central_timeout_ms;  /* default 3000 */
    uint64_t request_timeout_ms;  /* default 10000 */
    uint64_t wait_between_ms;     /* default 4000 */
    bool exit_when_done;          /* default true */
    bool skip_unknown_cps;        /* default false */
} driver_fsm_config;

typedef enum driver_req_state {
    DRIVER_REQ_IDLE = 0,
    DRIVER_REQ_QUEUED,
    DRIVER_REQ_SENT,
    DRIVER_REQ_ACTIVE,
    DRIVER_REQ_ENDING,
} driver_req_state;

typedef enum driver_outcome {
    DRIVER_OUT_PENDING = 0,
    DRIVER_OUT_OK,     /* ticket shown */
    DRIVER_OUT_DENIED, /* CENTRAL said denied */
    DRIVER_OUT_FAILED, /* no answer / no ticket in time */
} driver_outcome;

/* One request made by this process (or a supply adopted from CENTRAL's
 * sync). */
typedef struct driver_record {
    char session_id[DRIVER_SESSION_MAX];
    char cp_id[DRIVER_ID_MAX + 1];
    driver_outcome outcome;
    bool counted; /* made by this run: part of the summary */
    int64_t wh, cents;
} driver_record;

typedef struct driver_fsm driver_fsm;

/* Caller frees with driver_fsm_free. NULL on out of memory. */
driver_fsm *driver_fsm_new(const driver_fsm_config *cfg, const driver_fsm_ops *ops);
void driver_fsm_free(driver_fsm *f);

/* Copies the services file's entries and prints its problems; the run starts
 * after the first driver.auth_reply. Call before driver_fsm_start. */
int driver_fsm_set_services(driver_fsm *f, const driver_services *s);
void driver_fsm_start(driver_fsm *f, uint64_t now);
bool driver_fsm_started(const driver_fsm *f);
/* The bus does not deliver yet (a Kafka group being joined): CENTRAL's
 * silence counts only from driver_fsm_bus_live, or, should the bus never
 * deliver, after DRIVER_JOIN_FACTOR x central_timeout_ms from the start.
 * Without this call the bus delivers from the start. */
#define DRIVER_JOIN_FACTOR 4
/* A driver.auth_reply `busy` (Central's login queue full) is answered with
 * another driver.hello this much later. */
#define DRIVER_BUSY_RETRY_MS 1000
void driver_fsm_bus_joining(driver_fsm *f);
void driver_fsm_bus_live(driver_fsm *f, uint64_t now);
/* Periodic: timeouts, liveness, the next request of the services file. */
void driver_fsm_tick(driver_fsm *f, uint64_t now);

/* Inbound, already filtered to this driver and deduplicated by message id. */
void driver_fsm_heartbeat(driver_fsm *f, uint64_t now, int64_t started_at);
void driver_fsm_auth_reply(driver_fsm *f, uint64_t now, bool ok, const char *reason,
                           const int64_t *balance_cents);
typedef struct driver_cp {
    const char *cp_id, *location, *state;
    int64_t price_cents_per_kwh;
} driver_cp;
void driver_fsm_cps(driver_fsm *f, uint64_t now, const driver_cp *cps, size_t n);
void driver_fsm_update(driver_fsm *f, uint64_t now, const char *cp_id, const char *session_id,
                       const char *step, const char *reason, const char *text);
void driver_fsm_telemetry(driver_fsm *f, uint64_t now, const char *cp_id, const char *session_id,
                          int64_t w, int64_t wh, int64_t cents);
void driver_fsm_ticket(driver_fsm *f, uint64_t now, const driver_ticket *t);

/* User commands (stdin, the web page). request takes a CP id, "*" or "any"
 * (any free CP); stop asks CENTRAL to end the current supply (supply.stop). */
driver_cmd_rc driver_fsm_cmd_request(driver_fsm *f, uint64_t now, const char *cp_id);
driver_cmd_rc driver_fsm_cmd_stop(driver_fsm *f, uint64_t now);
void driver_fsm_cmd_list(driver_fsm *f, uint64_t now);
void driver_fsm_cmd_status(driver_fsm *f, uint64_t now);
void driver_fsm_cmd_history(driver_fsm *f);

/* Read-only views for tests and status. */
driver_req_state driver_fsm_state(const driver_fsm *f);
const char *driver_fsm_session(const driver_fsm *f); /* "" when idle */
const char *driver_fsm_cp(const driver_fsm *f);      /* "" when idle, "*" before CENTRAL picked */
/* Authentication: 0 not answered yet, 1 ok, -1 refused (reason in *reason). */
int driver_fsm_auth(const driver_fsm *f, const char **reason);
/* Balance from the last auth_reply or ticket; false when unknown. */
bool driver_fsm_balance(const driver_fsm *f, int64_t *cents);
/* Tickets shown in this run, oldest first. */
size_t driver_fsm_tickets(const driver_fsm *f, const driver_ticket **out);
/* A login proved elsewhere (the web page's) succeeded: authenticated now,
 * with the balance CENTRAL gave; sync and list as after driver.auth_reply. */
void driver_fsm_login_ok(driver_fsm *f, uint64_t now, const int64_t *balance_cents);
bool driver_fsm_central_alive(const driver_fsm *f);
size_t driver_fsm_records(const driver_fsm *f, const driver_record **out);
void driver_fsm_totals(const driver_fsm *f, unsigned *ok, unsigned *denied, unsigned *failed,
                       int64_t *wh, int64_t *cents);
bool driver_fsm_run_active(const driver_fsm *f);

const char *driver_req_state_name(driver_req_state s);

#endif
