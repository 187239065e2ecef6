/* central_model.h: EV_Central's pure rules -- CP state derivation, the checks
 * of a supply request, operator command parsing, the panel line. No I/O, no
 * store, no bus: unit-tested on their own (tests/unit/central). */
#ifndef CENTRAL_MODEL_H
#define CENTRAL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/ids.h"

/* SPEC section 3; docs/PROTOCOL.md section M4. */
typedef enum central_cp_state {
    CENTRAL_CP_DISCONNECTED = 0,
    CENTRAL_CP_BROKEN,
    CENTRAL_CP_STOPPED,
    CENTRAL_CP_SUPPLYING,
    CENTRAL_CP_ACTIVATED,
} central_cp_state;

typedef enum central_health {
    CENTRAL_HEALTH_OK = 0,
    CENTRAL_HEALTH_KO,
    CENTRAL_HEALTH_UNREACHABLE,
} central_health;

/* What the state derives from. */
typedef struct central_cp_facts {
    bool heard;              /* at least one HB since Central started */
    uint64_t last_hb_ms;     /* monotonic time of the last HB */
    central_health health;   /* engine health of the last HB */
    bool stopped;            /* admin state STOPPED */
    bool has_supply;         /* a session authorised or supplying on it, not interrupted */
    bool fault_reported;     /* the engine ended a supply for a fault; the monitor's
                              * KO heartbeat has not come yet */
} central_cp_facts;

/* Precedence: DISCONNECTED (never heard since start or since its monitor's
 * link closed, or no HB for timeout_ms), BROKEN (health not OK, or a fault
 * reported), STOPPED, SUPPLYING, ACTIVATED. */
central_cp_state central_derive_state(const central_cp_facts *f, uint64_t now_ms,
                                      uint64_t timeout_ms);

const char *central_cp_state_name(central_cp_state st);  /* "ACTIVATED" */
/* What panels show for the state: the name, except STOPPED, which reads
 * "Out of Order" (SPEC section 3). */
const char *central_cp_state_text(central_cp_state st);
/* Shown after SUPPLYING while the supply is authorised but not plugged. */
#define CENTRAL_WAITING_FOR_PLUG "waiting for plug"

/* ANSI SGR colour of the state (green, orange, red, grey). */
const char *central_cp_state_color(central_cp_state st);
/* "OK"/"KO"/"UNREACHABLE" -> health; -1 for anything else. */
int central_health_parse(const char *text, central_health *out);
const char *central_health_name(central_health h);

/* Everything the checks of a supply request look at. */
typedef struct central_request_facts {
    bool driver_known;
    bool check_authentication;  /* false for a request typed at the CP's menu */
    bool driver_authenticated;
    bool cp_known;
    central_cp_state cp_state;  /* meaningful when cp_known */
    bool driver_busy;           /* the driver has a supply open */
    int64_t balance_cents;
    int64_t min_balance_cents;
} central_request_facts;

/* NULL when the request passes, else the denial reason of the protocol, in
 * this order: unknown_driver, not_authenticated, unknown_cp, cp_disconnected,
 * cp_broken, cp_stopped, cp_busy, driver_busy, balance_too_low. */
const char *central_check_request(const central_request_facts *f);
/* Human text for a denial reason (for supply.update's `text`). */
const char *central_reason_text(const char *reason);

typedef enum central_cmd_kind {
    CENTRAL_CMD_EMPTY = 0,
    CENTRAL_CMD_STOP,
    CENTRAL_CMD_RESUME,
    CENTRAL_CMD_LIST,
    CENTRAL_CMD_HELP,
    CENTRAL_CMD_QUIT,
    CENTRAL_CMD_ERROR,
    CENTRAL_CMD_RESET,
} central_cmd_kind;

typedef struct central_cmd {
    central_cmd_kind kind;
    bool all;           /* stop/resume all */
    bool hard;          /* reset: Hard (default Soft) */
    char target[65];    /* stop/resume/reset one CP */
    char error[160];    /* CENTRAL_CMD_ERROR: what was wrong */
} central_cmd;

/* Parses one operator line: "stop CP_001", "stop all", "resume CP_001",
 * "resume all", "reset CP_001", "reset CP_001 hard" (or soft, the default;
 * one CP only), "list", "help", "quit" (words case-insensitive, CP ids as
 * typed; surrounding blanks ignored). */
void central_cmd_parse(const char *line, central_cmd *out);

/* One CP of the panel. */
typedef struct central_panel_cp {
    const char *id;
    const char *location;
    int64_t price_cents_per_kwh;
    central_cp_state state;
    /* while SUPPLYING with an authorised supply not plugged yet: */
    bool waiting_for_plug;
    /* while SUPPLYING with a started supply: */
    bool supplying;
    int64_t w, wh, cents;
    const char *driver_id;
} central_panel_cp;

/* Formats the panel line of a CP into buf (always NUL-terminated) and returns
 * its length. Plain:
 *   "CP_001  Alicante - Plaza de los Luceros  0.35 EUR/kWh  SUPPLYING  7.4 kW  1.23 EUR  driver1"
 * exactly: id padded to 8, location truncated/padded to 32, price, state
 * text (central_cp_state_text) padded to 12, then for a started supply
 * "%.1f kW  %.2f EUR  <driver>", for one waiting for the plug
 * "waiting for plug  <driver>".
 * With colour, the state word is wrapped in its ANSI colour. */
size_t central_panel_line(char *buf, size_t cap, const central_panel_cp *cp, bool color);

/* "12.34" from 1234 cents (negative too). */
void central_fmt_eur(char *buf, size_t cap, int64_t cents);

#endif
