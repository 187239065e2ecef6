/* central_billing.h: ending and billing a session exactly once, and the
 * tickets a driver has not acknowledged yet. Store only (no bus, no loop
 * state): unit-tested against a real SQLite store. */
#ifndef CENTRAL_BILLING_H
#define CENTRAL_BILLING_H

#include <stdbool.h>
#include <stdint.h>

#include "evc/error.h"
#include "evc/store.h"

/* kv namespace of tickets not acknowledged by their driver: key session id,
 * value driver id. */
#define CENTRAL_KV_UNACKED "central.unacked"
/* kv namespace of drivers whose last driver.hello was good: key driver id. */
#define CENTRAL_KV_AUTH "central.auth"

/* Ends session `session_id` with `energy_wh` and `reason` and bills it, in
 * one transaction with the ticket and its "unacknowledged" mark. A session
 * already ended changes nothing: EVC_OK, *already = true, *ticket the
 * existing one. EVC_ENOTFOUND for an unknown session, EVC_ECONFLICT for one
 * that was never authorised (REQUESTED/DENIED), EVC_EINVAL for negative
 * energy; store errors (EVC_EBUSY...) leave nothing changed. `ticket` and
 * `already` must not be NULL. */
int central_bill(evc_store *store, const char *session_id, int64_t ended_ms, int64_t energy_wh,
                 const char *reason, evc_ticket *ticket, bool *already, evc_error *err);

/* The driver acknowledged the ticket of `session_id`: forget it. EVC_OK also
 * when it was already forgotten. */
int central_ticket_acked(evc_store *store, const char *session_id, evc_error *err);

/* Calls cb for each unacknowledged ticket of `driver_id`. */
typedef void (*central_ticket_fn)(void *arg, const evc_ticket *t);
int central_unacked_tickets(evc_store *store, const char *driver_id, central_ticket_fn cb,
                            void *arg, evc_error *err);

/* Energy a CP can have delivered since Central authorised its session:
 * max_w over elapsed_ms, times (100 + tolerance_pct) / 100, plus
 * CENTRAL_ENERGY_SLACK_WH (rounding, the last tick). Central bills no more
 * than this (docs/PROTOCOL.md, M5). max_w 0 means no bound (unit tests
 * only: the configuration refuses it); a huge product saturates at
 * INT64_MAX instead of overflowing. */
#define CENTRAL_ENERGY_SLACK_WH 10
int64_t central_energy_bound_wh(int64_t max_w, int64_t tolerance_pct, int64_t elapsed_ms);

/* The running cost `cents` of a supply drawing `w` at `price` has reached
 * what the driver's `balance_cents` allows above `floor_cents`, counting
 * what the CP delivers during CENTRAL_FLOOR_LEAD_MS more (the time a
 * cp.cancel takes to stop it: the next telemetry tick and the bus both
 * ways), so that the balance stays above the floor once billed. */
#define CENTRAL_FLOOR_LEAD_MS 3000
bool central_floor_reached(int64_t balance_cents, int64_t floor_cents, int64_t cents, int64_t w,
                           int64_t price_cents_per_kwh);

#endif
