/* driver_format.h: the driver's stdout lines, built from integers only.
 *
 * Every line the driver prints to stdout is formatted here, so that the
 * formats documented in README.md ("stdout lines") have one home and unit
 * tests. Money is integer cents, energy integer Wh, power integer W: no
 * floating point. Every function writes a NUL-terminated line (no newline)
 * into buf (cap bytes, truncated if needed) and returns buf.
 */
#ifndef DRIVER_FORMAT_H
#define DRIVER_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/ids.h"

#define DRIVER_ID_MAX 64          /* ids: [A-Za-z0-9_.-]{1,64} */
#define DRIVER_SESSION_MAX 37     /* UUID text with its NUL */
#define DRIVER_TEXT_MAX 200       /* reasons, free texts, locations (shortened) */
#define DRIVER_LINE_MAX 512

/* A ticket as received in supply.ticket (all strings NUL-terminated). */
typedef struct driver_ticket {
    char cp_id[DRIVER_ID_MAX + 1];
    char session_id[DRIVER_SESSION_MAX];
    char reason[DRIVER_TEXT_MAX];
    int64_t wh, cents, price_cents_per_kwh;
    int64_t started_at, ended_at; /* ms since the Unix epoch */
    int64_t duration_s;
    int64_t balance_cents;
    int has_balance;              /* balance_cents present */
} driver_ticket;

/* "150.00", "-0.05": cents as euros with two decimals. */
char *driver_fmt_eur(int64_t cents, char *buf, size_t cap);
/* "1.234": Wh as kWh with three decimals. */
char *driver_fmt_kwh(int64_t wh, char *buf, size_t cap);
/* "7.40": W as kW with two decimals, rounded half away from zero. */
char *driver_fmt_kw(int64_t w, char *buf, size_t cap);
/* "2026-11-26T11:00:00Z" (UTC); "-" for a negative or absurd time. */
char *driver_fmt_time(int64_t ms, char *buf, size_t cap);
/* "0:01:23" (h:mm:ss); negative durations print as "0:00:00". */
char *driver_fmt_duration(int64_t seconds, char *buf, size_t cap);

/* One supply.update step as a line, e.g. "Plug in your vehicle at CP_001" or
 * "Denied at CP_001: cp_busy (CP_001 is supplying)". `reason`/`text` may be
 * NULL or "". Unknown steps print as "Step <step> at CP_001". */
char *driver_fmt_step(const char *step, const char *cp_id, const char *reason, const char *text,
                      char *buf, size_t cap);
/* Plain words for a reason code ("engine_restart" -> "the charging point
 * restarted"); NULL for a code the driver does not know. Static text. */
const char *driver_reason_text(const char *reason);
/* A reason as people read it: "cp_busy (charging point busy with another
 * supply)". `text` (CENTRAL's sentence, may be NULL) is used when it says more
 * than the code; otherwise driver_reason_text; an unknown code with no text
 * prints alone; never the code twice. Sanitized. */
char *driver_fmt_reason(const char *reason, const char *text, char *buf, size_t cap);
/* A CP state as the driver's list shows it (SPEC section 3): "Available",
 * "Supplying", "Out of Order" (STOPPED), "Broken (fault)", "Disconnected";
 * NULL for another state. */
const char *driver_cp_state_text(const char *state);
/* True for a state in which a request can be accepted (ACTIVATED). */
bool driver_cp_usable(const char *state);
/* "1 ticket", "2 tickets": n and a noun with its plural. */
char *driver_fmt_count(size_t n, const char *one, const char *many, char *buf, size_t cap);

/* "Supplying at CP_001: 7.40 kW, 1.234 kWh, EUR 0.37" */
char *driver_fmt_telemetry(const char *cp_id, int64_t w, int64_t wh, int64_t cents, char *buf,
                           size_t cap);
/* "Ticket CP_001: 1.234 kWh, EUR 0.37 at EUR 0.30/kWh, start ..., end ...,
 *  duration 0:01:23, reason unplugged, balance EUR 149.63, session <uuid>" */
char *driver_fmt_ticket(const driver_ticket *t, char *buf, size_t cap);
/* "Summary: 8 ok, 1 denied, 1 failed, 12.345 kWh, EUR 3.70" */
char *driver_fmt_summary(unsigned ok, unsigned denied, unsigned failed, int64_t wh, int64_t cents,
                         char *buf, size_t cap);

/* Copies src into dst (cap bytes) replacing control characters (< 0x20 and
 * DEL) by '?', so that text from the bus cannot move the terminal. UTF-8
 * (validated by the envelope decoder) passes through. */
void driver_sanitize(char *dst, size_t cap, const char *src);

#endif
